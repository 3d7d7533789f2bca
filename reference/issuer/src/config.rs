//! Building an [`Issuer`] from a policy file: device trust anchors, the CA and the KMKs are
//! read from the PEM files the policy names (paths relative to the policy file).

use std::path::Path;

use airtight_pki::path::{AnchorOptions, TrustAnchor};
use airtight_pki::{Ca, SigningKey};
use airtight_proto::keys::PrivateKey;

use crate::policy::{Policy, RolloverPolicy};
use crate::{Issuer, IssuerError, KmkRollover};

fn read(base: &Path, file: &str) -> Result<String, IssuerError> {
    std::fs::read_to_string(base.join(file))
        .map_err(|e| IssuerError::Policy(format!("{file}: {e}")))
}

fn pem_private_key(base: &Path, file: &str) -> Result<PrivateKey, IssuerError> {
    let text = read(base, file)?;
    let blocks = airtight_pki::pem::decode_all(&text)
        .map_err(|e| IssuerError::Policy(format!("{file}: {e}")))?;
    let der = blocks
        .iter()
        .find(|(label, _)| label == "PRIVATE KEY")
        .map(|(_, der)| der)
        .ok_or_else(|| IssuerError::Policy(format!("{file}: no PRIVATE KEY block")))?;
    PrivateKey::from_pkcs8_der(der).map_err(|e| IssuerError::Policy(format!("{file}: {e}")))
}

fn rollovers(base: &Path, list: &[RolloverPolicy]) -> Result<Vec<KmkRollover>, IssuerError> {
    list.iter()
        .map(|r| {
            Ok(KmkRollover {
                old: pem_private_key(base, &r.key_file)?,
                children: rollovers(base, &r.rollover)?,
            })
        })
        .collect()
}

impl Issuer {
    /// An issuer from a policy whose file names are relative to `base`.
    pub fn from_policy(
        issuer_uri: &str,
        server_certificate: Vec<u8>,
        policy: Policy,
        base: &Path,
    ) -> Result<Issuer, IssuerError> {
        policy.validate()?;
        let mut anchors = Vec::new();
        for a in &policy.device.trust_anchors {
            let pem = read(base, &a.certificate_file)?;
            let anchor = TrustAnchor::from_certificate_pem(&pem)
                .map_err(|e| IssuerError::Policy(format!("{}: {e}", a.certificate_file)))?
                .with_options(AnchorOptions {
                    allow_sha1: a.allow_sha1,
                    allow_ecdsa_null_parameters: a.allow_ecdsa_null_parameters,
                    allow_expired: a.allow_expired,
                });
            anchors.push(anchor);
        }
        let ca = match (&policy.ca.key_file, &policy.ca.chain_file) {
            (Some(k), Some(c)) => {
                let key = SigningKey::from_pkcs8_pem(&read(base, k)?)
                    .map_err(|e| IssuerError::Policy(format!("{k}: {e}")))?;
                let chain = airtight_pki::pem::decode_certificates(&read(base, c)?)
                    .map_err(|e| IssuerError::Policy(format!("{c}: {e}")))?;
                Some(Ca::from_parts(key, chain).map_err(|e| IssuerError::Ca(e.to_string()))?)
            }
            (None, None) => None,
            _ => {
                return Err(IssuerError::Policy(
                    "ca.key_file and ca.chain_file go together".into(),
                ));
            }
        };
        let kmk = policy
            .kmk
            .key_file
            .as_deref()
            .map(|f| pem_private_key(base, f))
            .transpose()?;
        let kmk_rollovers = rollovers(base, &policy.kmk.rollover)?;
        Ok(Issuer {
            issuer_uri: issuer_uri.into(),
            server_certificate,
            policy,
            device_anchors: anchors,
            ca,
            kmk,
            kmk_rollovers,
            faults: Default::default(),
        })
    }

    /// Reads a policy file and builds the issuer from it.
    pub fn from_policy_file(
        issuer_uri: &str,
        server_certificate: Vec<u8>,
        path: &Path,
    ) -> Result<Issuer, IssuerError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| IssuerError::Policy(format!("{}: {e}", path.display())))?;
        let policy = Policy::from_toml(&text)?;
        let base = path.parent().unwrap_or(Path::new("."));
        Self::from_policy(issuer_uri, server_certificate, policy, base)
    }
}
