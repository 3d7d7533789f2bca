//! Device identities for the reference SKS: a device key and its certificate path (device
//! certificate first, then the device CA), issued by the test device CA or any [`Ca`].

use core::fmt;

use rand_core::CryptoRng;

use crate::ca::{Ca, CaError, Profile, Serial};
use crate::keys::{KeyError, KeyKind, SigningKey};
use crate::pem::{self, PemError};

/// Subject of the test device CA.
pub const DEVICE_CA_SUBJECT: &str = "CN=airtight Test Device CA, O=airtight test fixtures";
/// Subject template of device certificates (`{key}` and `{serial}` are filled in by the CA).
pub const DEVICE_SUBJECT_TEMPLATE: &str =
    "CN=airtight Reference SKS ({key}), SERIALNUMBER={serial}";

/// The device key types the reference SKS offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeviceKeyKind {
    /// ECDSA P-256.
    P256,
    /// RSA-2048.
    Rsa2048,
}

impl DeviceKeyKind {
    /// The key kind.
    pub fn key_kind(&self) -> KeyKind {
        match self {
            DeviceKeyKind::P256 => KeyKind::P256,
            DeviceKeyKind::Rsa2048 => KeyKind::RSA2048,
        }
    }
}

/// Errors loading a device identity.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum DeviceError {
    /// The key.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The PEM text.
    #[error(transparent)]
    Pem(#[from] PemError),
    /// The certificate path (empty, or the first certificate is not the key's).
    #[error(transparent)]
    Ca(#[from] CaError),
}

/// A device key and its certificate path (device certificate first, then the device CA).
#[derive(Clone)]
pub struct DeviceIdentity {
    /// The device (attestation) key.
    pub signing_key: SigningKey,
    /// DER certificates: the device certificate first, then its issuers.
    pub certificate_path: Vec<Vec<u8>>,
}

impl fmt::Debug for DeviceIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeviceIdentity")
            .field("signing_key", &self.signing_key)
            .field("certificates", &self.certificate_path.len())
            .finish()
    }
}

impl DeviceIdentity {
    /// A fresh device key of `kind` certified by the compiled-in test device CA
    /// ([`crate::fixtures::device_ca`]), valid from `now` for twenty years (cut at the CA's
    /// notAfter). The RNG gives the key, then the serial number.
    pub fn generate<R: CryptoRng + ?Sized>(
        kind: DeviceKeyKind,
        rng: &mut R,
        now: i64,
    ) -> Result<Self, CaError> {
        Self::generate_under(&crate::fixtures::device_ca(), kind, rng, now)
    }

    /// Same as [`DeviceIdentity::generate`] under any CA (e.g. a foreign CA for negative tests).
    pub fn generate_under<R: CryptoRng + ?Sized>(
        ca: &Ca,
        kind: DeviceKeyKind,
        rng: &mut R,
        now: i64,
    ) -> Result<Self, CaError> {
        let signing_key = SigningKey::generate(kind.key_kind(), rng)?;
        let serial = Serial::random(rng);
        let spki = signing_key.public_key_spki_der()?;
        let cert = ca.issue_at(
            &spki,
            &Profile::device(DEVICE_SUBJECT_TEMPLATE),
            &serial,
            now,
        )?;
        let mut certificate_path = vec![cert];
        certificate_path.extend(ca.certificate_path().iter().cloned());
        Ok(DeviceIdentity {
            signing_key,
            certificate_path,
        })
    }

    /// Loads a PKCS#8 PEM key and a PEM certificate path; checks that the first certificate
    /// carries the key.
    pub fn from_pem(key_pem: &str, chain_pem: &str) -> Result<Self, DeviceError> {
        let signing_key = SigningKey::from_pkcs8_pem(key_pem)?;
        let certificate_path = pem::decode_certificates(chain_pem)?;
        // Reuse the CA constructor's key/certificate check.
        let checked = Ca::from_parts(signing_key, certificate_path)?;
        Ok(DeviceIdentity {
            signing_key: checked.key().clone(),
            certificate_path: checked.certificate_path().to_vec(),
        })
    }

    /// The key as PKCS#8 PEM and the path as PEM certificates.
    pub fn to_pem(&self) -> Result<(String, String), DeviceError> {
        let key = self.signing_key.to_pkcs8_pem()?;
        let chain = pem::encode_all(pem::CERTIFICATE, &self.certificate_path)?;
        Ok((key.as_str().to_owned(), chain))
    }

    /// The device certificate (DER), i.e. the first of the path.
    pub fn device_certificate(&self) -> &[u8] {
        self.certificate_path.first().map_or(&[], Vec::as_slice)
    }
}
