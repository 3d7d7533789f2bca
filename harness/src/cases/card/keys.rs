//! Card cases: `createKeyEntry` (algorithms, parameters, endorsed algorithms, protection
//! attributes, PIN arguments) and `getKeyHandle`.

use airtight_proto::keys::{Curve, KeyType, PublicKey};
use airtight_proto::policy::{BiometricProtection, DeleteProtection, ExportProtection};
use airtight_proto::sks::{PinPolicyHandle, ProtectionStatus, SecureKeyStore as _, SksErrorCode};
use airtight_testkit::emulator::{KeySpec, PinSpec, uri};

use super::{fatal, fatal_any, open};
use crate::case::{Case, Step, Stop};
use crate::ctx::Ctx;
use crate::verify::{Snapshot, ensure, expect_code, ok};

/// A key of `alg` is generated with the right type, attested, certified and closes.
fn keygen(ctx: &mut Ctx<'_>, alg: &'static str, check: fn(&PublicKey) -> bool) -> Step {
    let mut is = open(ctx)?;
    let k = ok(
        is.provision_key(ctx.sks, &KeySpec::new("Key.1", alg)),
        "provision",
    )?;
    let pk = PublicKey::from_spki_der(&k.public_key)
        .map_err(|e| Stop::Fail(format!("public key: {e}")))?;
    ensure(check(&pk), || {
        format!("{alg}: generated {:?}", pk.key_type())
    })?;
    ensure(
        pk.to_spki_der().ok().as_deref() == Some(k.public_key.as_slice()),
        || "the public key is not canonical SPKI DER".into(),
    )?;
    ok(is.close(ctx.sks), "close").map(|_| ())
}

/// `createKeyEntry` with spec altered by `f` must be refused with `code`.
fn key_refused(
    ctx: &mut Ctx<'_>,
    code: Option<SksErrorCode>,
    f: impl FnOnce(&mut KeySpec),
) -> Step {
    let before = Snapshot::take(ctx.sks)?;
    let mut is = open(ctx)?;
    let mut k = KeySpec::p256("Key.1");
    f(&mut k);
    let r = is.create_key(ctx.sks, &k);
    match code {
        Some(c) => fatal(ctx, &before, is.handle, r, c, "createKeyEntry"),
        None => fatal_any(ctx, &before, is.handle, r, "createKeyEntry"),
    }
}

/// `createKeyEntry` with a PIN policy and spec altered by `f` must be refused with `code`.
fn pin_key_refused(
    ctx: &mut Ctx<'_>,
    code: SksErrorCode,
    f: impl FnOnce(&mut KeySpec, PinPolicyHandle),
) -> Step {
    let before = Snapshot::take(ctx.sks)?;
    let mut is = open(ctx)?;
    let ph = ok(
        is.create_pin(ctx.sks, &PinSpec::new("PIN.1")),
        "createPinPolicy",
    )?;
    let mut k = KeySpec::p256("Key.1").with_pin(ph, "PIN.1", b"1357");
    f(&mut k, ph);
    let r = is.create_key(ctx.sks, &k);
    fatal(ctx, &before, is.handle, r, code, "createKeyEntry")
}

/// An endorsed-algorithm list that is refused at createKeyEntry or at close.
fn endorsed_unfit(ctx: &mut Ctx<'_>, key_alg: &'static str, endorsed: &'static str) -> Step {
    let before = Snapshot::take(ctx.sks)?;
    let mut is = open(ctx)?;
    let r = is.provision_key(
        ctx.sks,
        &KeySpec::new("Key.1", key_alg).endorse(&[endorsed]),
    );
    match r {
        Err(e) => {
            let what = "createKeyEntry endorsing an algorithm that does not fit the key";
            crate::verify::expect_refused::<(), _>(Err(e), what)?;
            crate::verify::expect_session_gone(ctx.sks, is.handle, what)?;
            before.expect_unchanged(ctx.sks, what)
        }
        Ok(_) => {
            let r = is.close(ctx.sks);
            fatal_any(
                ctx,
                &before,
                is.handle,
                r,
                "close with an endorsed algorithm that does not fit the key",
            )
        }
    }
}

fn exp_key(ctx: &mut Ctx<'_>, exponent: Vec<u8>, accept: bool) -> Step {
    let before = Snapshot::take(ctx.sks)?;
    let mut is = open(ctx)?;
    let mut k = KeySpec::new("Key.1", uri::RSA1024_EXP);
    k.key_parameters = Some(exponent.clone());
    let r = is.create_key(ctx.sks, &k);
    if accept {
        let kd = ok(r, "createKeyEntry rsa1024.exp")?;
        let pk = PublicKey::from_spki_der(&kd.public_key).map_err(|e| Stop::Fail(e.to_string()))?;
        let spki = pk.to_spki_der().unwrap_or_default();
        // The exponent ends the SPKI as a minimal DER INTEGER.
        ensure(spki.ends_with(&exponent), || {
            "the generated key does not carry the requested exponent".into()
        })?;
        ok(ctx.sks.abort_provisioning_session(is.handle), "abort")
    } else {
        fatal_any(
            ctx,
            &before,
            is.handle,
            r,
            "createKeyEntry with a bad exponent",
        )
    }
}

fn get_key_handle(ctx: &mut Ctx<'_>) -> Step {
    let mut is = open(ctx)?;
    let a = ok(
        is.create_key(ctx.sks, &KeySpec::p256("Key.A")),
        "createKeyEntry",
    )?;
    let b = ok(
        is.create_key(ctx.sks, &KeySpec::p256("Key.B")),
        "createKeyEntry",
    )?;
    ensure(
        !a.key_handle.is_none() && a.key_handle != b.key_handle,
        || "key handles zero or equal".into(),
    )?;
    let ha = ok(ctx.sks.get_key_handle(is.handle, "Key.A"), "getKeyHandle")?;
    let hb = ok(ctx.sks.get_key_handle(is.handle, "Key.B"), "getKeyHandle")?;
    ensure(ha == a.key_handle && hb == b.key_handle, || {
        "getKeyHandle maps ids to the wrong handles".into()
    })?;
    ok(ctx.sks.abort_provisioning_session(is.handle), "abort")
}

fn get_key_handle_unknown(ctx: &mut Ctx<'_>) -> Step {
    // As the Java reference: ERROR_OPTION, and the session stays open and usable.
    let mut is = open(ctx)?;
    let kd = ok(
        is.create_key(ctx.sks, &KeySpec::p256("Key.A")),
        "createKeyEntry",
    )?;
    let r = ctx.sks.get_key_handle(is.handle, "Key.Z");
    crate::verify::expect_code(r, SksErrorCode::Option, "getKeyHandle with an unknown id")?;
    crate::verify::expect_session_open(ctx.sks, is.handle, "after getKeyHandle of an unknown id")?;
    let h = ok(
        ctx.sks.get_key_handle(is.handle, "Key.A"),
        "getKeyHandle of a known id",
    )?;
    ensure(h == kd.key_handle, || {
        format!("getKeyHandle returned {h}, expected {}", kd.key_handle)
    })?;
    ok(
        ctx.sks.abort_provisioning_session(is.handle),
        "abortProvisioningSession",
    )
}

fn preset_pin(ctx: &mut Ctx<'_>) -> Step {
    let mut is = open(ctx)?;
    let mut p = PinSpec::new("PIN.1");
    p.user_defined = false;
    let ph = ok(is.create_pin(ctx.sks, &p), "createPinPolicy")?;
    let mut k = KeySpec::p256("Key.1").with_pin(ph, "PIN.1", b"8642");
    k.preset_pin = true;
    let key = ok(is.provision_key(ctx.sks, &k), "provision with a preset PIN")?;
    ok(is.close(ctx.sks), "close")?;
    ok(
        ctx.sks.sign_data(
            key.handle,
            uri::ECDSA_SHA256,
            None,
            false,
            Some(b"8642"),
            b"x",
        ),
        "signData with the preset PIN",
    )?;
    expect_code(
        ctx.sks.sign_data(
            key.handle,
            uri::ECDSA_SHA256,
            None,
            false,
            Some(b"1111"),
            b"x",
        ),
        SksErrorCode::Authorization,
        "signData with another PIN",
    )
    .map(|_| ())
}

fn preset_pin_bad_format(ctx: &mut Ctx<'_>) -> Step {
    let before = Snapshot::take(ctx.sks)?;
    let mut is = open(ctx)?;
    let mut p = PinSpec::new("PIN.1");
    p.user_defined = false;
    let ph = ok(is.create_pin(ctx.sks, &p), "createPinPolicy")?;
    let mut k = KeySpec::p256("Key.1").with_pin(ph, "PIN.1", b"86AB");
    k.preset_pin = true;
    let r = is.create_key(ctx.sks, &k);
    fatal(
        ctx,
        &before,
        is.handle,
        r,
        SksErrorCode::Option,
        "preset PIN violating its format",
    )
}

fn device_pin(ctx: &mut Ctx<'_>) -> Step {
    if !ctx.profile.device_pin_support {
        return key_refused(ctx, Some(SksErrorCode::Option), |k| {
            k.device_pin_protection = true
        });
    }
    let mut is = open(ctx)?;
    let mut k = KeySpec::p256("Key.1");
    k.device_pin_protection = true;
    let key = ok(is.provision_key(ctx.sks, &k), "provision with device PIN")?;
    ok(is.close(ctx.sks), "close")?;
    let info = ok(
        ctx.sks.get_key_protection_info(key.handle),
        "getKeyProtectionInfo",
    )?;
    ensure(
        info.protection_status
            .contains(ProtectionStatus::DEVICE_PIN),
        || "DEVICE_PIN not reported".into(),
    )
}

pub(super) fn cases() -> Vec<Case> {
    let mut v = vec![
        Case::must(
            "card.key.gen.p256",
            &[
                "SKS-KEY-006",
                "SKS-KEY-010",
                "CRY-SPK-001",
                "CRY-SPK-002",
                "CRY-KAT-002",
                "CRY-KAT-003",
            ],
            "a P-256 key is generated, attested (key.1) and returned as canonical SPKI",
            |ctx| keygen(ctx, uri::P256, |k| k.key_type() == KeyType::Ec(Curve::P256)),
        )
        .needs_alg(uri::P256),
        Case::must(
            "card.key.gen.p384",
            &["SKS-KEY-006", "CRY-SPK-003"],
            "a P-384 key is generated with the P-384 SPKI",
            |ctx| keygen(ctx, uri::P384, |k| k.key_type() == KeyType::Ec(Curve::P384)),
        )
        .needs_alg(uri::P384),
        Case::must(
            "card.key.gen.p521",
            &["SKS-KEY-006", "CRY-SPK-003"],
            "a P-521 key is generated with the P-521 SPKI",
            |ctx| keygen(ctx, uri::P521, |k| k.key_type() == KeyType::Ec(Curve::P521)),
        )
        .needs_alg(uri::P521),
        Case::must(
            "card.key.gen.rsa2048",
            &["SKS-KEY-006", "CRY-SPK-004"],
            "an RSA-2048 key is generated with a minimal-DER rsaEncryption SPKI",
            |ctx| {
                keygen(ctx, uri::RSA2048, |k| {
                    matches!(k.key_type(), KeyType::Rsa { .. })
                })
            },
        )
        .needs_alg(uri::RSA2048),
        Case::must(
            "card.key.gen.ed25519",
            &["SKS-KEY-006", "CRY-SPK-005"],
            "an Ed25519 key is generated with the Ed25519 SPKI",
            |ctx| keygen(ctx, uri::ED25519, |k| k.key_type() == KeyType::Ed25519),
        )
        .needs_alg(uri::ED25519),
        Case::must(
            "card.key.gen.rsa1024-exp-65537",
            &["CRY-ALG-004", "SKS-KEY-006"],
            "rsa1024.exp with exponent 65537 generates a key with that exponent",
            |ctx| exp_key(ctx, vec![0x01, 0x00, 0x01], true),
        )
        .needs_alg(uri::RSA1024_EXP),
        Case::must(
            "card.key.gen.rsa1024-exp-even",
            &["CRY-ALG-004"],
            "rsa1024.exp with an even exponent is refused",
            |ctx| exp_key(ctx, vec![0x01, 0x00, 0x00], false),
        )
        .needs_alg(uri::RSA1024_EXP),
        Case::must(
            "card.key.gen.rsa1024-exp-one",
            &["CRY-ALG-004"],
            "rsa1024.exp with exponent 1 is refused",
            |ctx| exp_key(ctx, vec![0x01], false),
        )
        .needs_alg(uri::RSA1024_EXP),
        Case::must(
            "card.key.gen.rsa1024-exp-9-bytes",
            &["CRY-ALG-004"],
            "rsa1024.exp with a 9-byte exponent is refused",
            |ctx| exp_key(ctx, vec![0x01; 9], false),
        )
        .needs_alg(uri::RSA1024_EXP),
        Case::must(
            "card.key.gen.parameters-for-ec",
            &["CRY-ALG-004"],
            "keyParameters with a P-256 key is refused",
            |ctx| {
                key_refused(ctx, None, |k| {
                    k.key_parameters = Some(vec![0x01, 0x00, 0x01])
                })
            },
        ),
        Case::must(
            "card.key.gen.unsupported-x25519",
            &["CRY-ALG-003", "SKS-ERR-006"],
            "an unsupported key algorithm (x25519) is refused with ERROR_OPTION",
            |ctx| {
                key_refused(ctx, Some(SksErrorCode::Option), |k| {
                    k.key_algorithm = uri::X25519.into()
                })
            },
        )
        .when(|p| !p.supports(uri::X25519)),
        Case::must(
            "card.key.gen.unsupported-rsa3072",
            &["CRY-ALG-003"],
            "an unsupported key algorithm (rsa3072) is refused with ERROR_OPTION",
            |ctx| {
                key_refused(ctx, Some(SksErrorCode::Option), |k| {
                    k.key_algorithm = uri::RSA3072.into()
                })
            },
        )
        .when(|p| !p.supports(uri::RSA3072)),
        Case::must(
            "card.key.gen.unknown-uri",
            &["CRY-ALG-003"],
            "an unknown key algorithm URI is refused with ERROR_OPTION",
            |ctx| {
                key_refused(ctx, Some(SksErrorCode::Option), |k| {
                    k.key_algorithm = "urn:airtight:no-such-algorithm".into()
                })
            },
        ),
        Case::must(
            "card.key.gen.key-entry-algorithm",
            &["CRY-ALG-002", "SKS-ERR-006"],
            "a keyEntryAlgorithm other than key.1 is refused with ERROR_ALGORITHM",
            |ctx| {
                key_refused(ctx, Some(SksErrorCode::Algorithm), |k| {
                    k.key_entry_algorithm = "https://webpki.github.io/sks/algorithm#key.2".into()
                })
            },
        ),
        Case::must(
            "card.key.server-seed-64",
            &["SKS-LIM-001", "SKS-KEY-009"],
            "a 64-byte serverSeed is accepted",
            |ctx| {
                let mut is = open(ctx)?;
                let mut k = KeySpec::p256("Key.1");
                k.server_seed = Some(vec![0x5a; 64]);
                ok(is.provision_key(ctx.sks, &k), "provision")?;
                ok(is.close(ctx.sks), "close").map(|_| ())
            },
        ),
        Case::must(
            "card.key.server-seed-65",
            &["SKS-LIM-001"],
            "a 65-byte serverSeed is refused with ERROR_OPTION",
            |ctx| {
                key_refused(ctx, Some(SksErrorCode::Option), |k| {
                    k.server_seed = Some(vec![0x5a; 65])
                })
            },
        ),
        Case::must(
            "card.key.endorsed.unsorted",
            &["SKS-KEY-007"],
            "endorsed algorithms out of order are refused with ERROR_OPTION",
            |ctx| {
                key_refused(ctx, Some(SksErrorCode::Option), |k| {
                    *k = KeySpec::p256("Key.1").endorse(&[uri::ECDSA_SHA512, uri::ECDSA_SHA256])
                })
            },
        ),
        Case::must(
            "card.key.endorsed.duplicate",
            &["SKS-KEY-007"],
            "a duplicated endorsed algorithm is refused with ERROR_OPTION",
            |ctx| {
                key_refused(ctx, Some(SksErrorCode::Option), |k| {
                    *k = KeySpec::p256("Key.1").endorse(&[uri::ECDSA_SHA256, uri::ECDSA_SHA256])
                })
            },
        ),
        Case::must(
            "card.key.endorsed.unsupported",
            &["SKS-KEY-007", "CRY-ALG-003"],
            "an unsupported endorsed algorithm is refused with ERROR_OPTION",
            |ctx| {
                key_refused(ctx, Some(SksErrorCode::Option), |k| {
                    *k = KeySpec::p256("Key.1").endorse(&["urn:airtight:no-such-algorithm"])
                })
            },
        ),
        Case::must(
            "card.key.endorsed.none-not-alone",
            &["SKS-KEY-007", "CRY-ALG-006"],
            "none with another endorsed algorithm is refused",
            |ctx| {
                key_refused(ctx, None, |k| {
                    *k = KeySpec::p256("Key.1").endorse(&[uri::NONE, uri::ECDSA_SHA256])
                })
            },
        ),
        Case::must(
            "card.key.endorsed.rsa-on-ec",
            &["CRY-ALG-007", "SKS-CLS-005"],
            "an RSA signature algorithm endorsed for an EC key is refused (at creation or close)",
            |ctx| endorsed_unfit(ctx, uri::P256, uri::RSA_SHA256),
        ),
        Case::must(
            "card.key.endorsed.hmac-on-ec",
            &["CRY-ALG-007", "SKS-CLS-005"],
            "an HMAC algorithm endorsed for a key without symmetric key is refused (at creation or close)",
            |ctx| endorsed_unfit(ctx, uri::P256, uri::HMAC_SHA256),
        ),
        Case::must(
            "card.key.endorsed.ecdsa-on-rsa",
            &["CRY-ALG-007", "SKS-CLS-005"],
            "an ECDSA algorithm endorsed for an RSA key is refused (at creation or close)",
            |ctx| endorsed_unfit(ctx, uri::RSA2048, uri::ECDSA_SHA256),
        )
        .needs_alg(uri::RSA2048),
        Case::must(
            "card.key.pin.user-defined-missing-value",
            &["SKS-KEY-003"],
            "a user-defined PIN policy without a PIN value is refused",
            |ctx| {
                let before = Snapshot::take(ctx.sks)?;
                let mut is = open(ctx)?;
                let ph = ok(
                    is.create_pin(ctx.sks, &PinSpec::new("PIN.1")),
                    "createPinPolicy",
                )?;
                let mut k = KeySpec::p256("Key.1").with_pin(ph, "PIN.1", b"1357");
                k.pin = None;
                let r = is.create_key(ctx.sks, &k);
                fatal_any(ctx, &before, is.handle, r, "createKeyEntry without its PIN")
            },
        ),
        Case::must(
            "card.key.pin.value-without-policy",
            &["SKS-KEY-003"],
            "a PIN value for a key without PIN policy is refused",
            |ctx| key_refused(ctx, None, |k| k.pin = Some(b"1357".to_vec())),
        ),
        Case::must(
            "card.key.pin.unknown-policy-handle",
            &["SKS-KEY-003"],
            "a pinPolicyHandle that names nothing is refused",
            |ctx| {
                key_refused(ctx, None, |k| {
                    k.pin_policy = Some((PinPolicyHandle(0x7fff_fe00), "PIN.9".into()));
                    k.pin = Some(b"1357".to_vec());
                })
            },
        ),
        Case::must(
            "card.key.pin.preset",
            &["SKS-KEY-003", "POL-USR-002", "CRY-ENC-002"],
            "a preset (encrypted) PIN is decrypted inside the card and works",
            preset_pin,
        ),
        Case::must(
            "card.key.pin.preset-bad-format",
            &["POL-FMT-006", "SKS-KEY-005"],
            "a preset PIN violating its numeric format is refused with ERROR_OPTION",
            preset_pin_bad_format,
        ),
        Case::must(
            "card.key.device-pin",
            &["POL-DEV-001", "POL-DEV-003"],
            "devicePinProtection is accepted only where supported and reports DEVICE_PIN",
            device_pin,
        ),
        Case::must(
            "card.key.device-pin-with-policy",
            &["POL-DEV-001", "SKS-KEY-011"],
            "devicePinProtection with a PIN policy is refused with ERROR_OPTION",
            |ctx| {
                pin_key_refused(ctx, SksErrorCode::Option, |k, _| {
                    k.device_pin_protection = true
                })
            },
        ),
        Case::must(
            "card.key.biometric.alternative-without-pin",
            &["POL-BIO-002"],
            "biometric alternative without PIN is refused with ERROR_OPTION",
            |ctx| {
                key_refused(ctx, Some(SksErrorCode::Option), |k| {
                    k.biometric_protection = BiometricProtection::Alternative
                })
            },
        )
        .when(|p| p.biometric_support),
        Case::must(
            "card.key.biometric.combined-without-pin",
            &["POL-BIO-002"],
            "biometric combined without PIN is refused with ERROR_OPTION",
            |ctx| {
                key_refused(ctx, Some(SksErrorCode::Option), |k| {
                    k.biometric_protection = BiometricProtection::Combined
                })
            },
        )
        .when(|p| p.biometric_support),
        Case::must(
            "card.key.biometric.exclusive-with-pin",
            &["POL-BIO-002"],
            "biometric exclusive with a PIN policy is refused with ERROR_OPTION",
            |ctx| {
                pin_key_refused(ctx, SksErrorCode::Option, |k, _| {
                    k.biometric_protection = BiometricProtection::Exclusive
                })
            },
        )
        .when(|p| p.biometric_support),
        Case::must(
            "card.key.biometric.unsupported",
            &["POL-BIO-001"],
            "biometric protection on a card without biometricSupport is refused",
            |ctx| {
                key_refused(ctx, None, |k| {
                    k.biometric_protection = BiometricProtection::Exclusive
                })
            },
        )
        .when(|p| !p.biometric_support),
        Case::must(
            "card.key.export-pin-without-pin",
            &["POL-PRT-002", "SKS-KEY-011"],
            "exportProtection pin without a PIN policy is refused with ERROR_OPTION",
            |ctx| {
                key_refused(ctx, Some(SksErrorCode::Option), |k| {
                    k.export_protection = ExportProtection::Pin
                })
            },
        ),
        Case::must(
            "card.key.export-puk-without-puk",
            &["POL-PRT-002"],
            "exportProtection puk without a PUK is refused with ERROR_OPTION",
            |ctx| {
                pin_key_refused(ctx, SksErrorCode::Option, |k, _| {
                    k.export_protection = ExportProtection::Puk
                })
            },
        ),
        Case::must(
            "card.key.delete-pin-without-pin",
            &["POL-PRT-002"],
            "deleteProtection pin without a PIN policy is refused with ERROR_OPTION",
            |ctx| {
                key_refused(ctx, Some(SksErrorCode::Option), |k| {
                    k.delete_protection = DeleteProtection::Pin
                })
            },
        ),
        Case::must(
            "card.key.delete-puk-without-puk",
            &["POL-PRT-002"],
            "deleteProtection puk without a PUK is refused with ERROR_OPTION",
            |ctx| {
                pin_key_refused(ctx, SksErrorCode::Option, |k, _| {
                    k.delete_protection = DeleteProtection::Puk
                })
            },
        ),
        Case::must(
            "card.key.get-key-handle",
            &["SKS-NSP-003", "SKS-NSP-005"],
            "getKeyHandle maps ids to the handles createKeyEntry returned",
            get_key_handle,
        ),
        Case::must(
            "card.key.get-key-handle-unknown",
            &["SKS-NSP-004", "SKS-TXN-002"],
            "getKeyHandle with an unknown id fails with ERROR_OPTION and leaves the session open",
            get_key_handle_unknown,
        ),
        Case::must(
            "card.key.attestation-length",
            &["CRY-KAT-002", "CRY-CTR-005"],
            "the key attestation is 32 bytes at the counter after the MAC (verified by the emulator)",
            |ctx| {
                let mut is = open(ctx)?;
                let c0 = is.next_counter();
                let kd = ok(
                    is.create_key(ctx.sks, &KeySpec::p256("Key.1")),
                    "createKeyEntry",
                )?;
                ensure(kd.attestation.len() == 32, || {
                    format!("attestation of {} bytes", kd.attestation.len())
                })?;
                ensure(is.next_counter() == c0 + 2, || {
                    "the key creation did not use exactly two counter values".into()
                })?;
                ok(ctx.sks.abort_provisioning_session(is.handle), "abort")
            },
        ),
    ];
    v.shrink_to_fit();
    v
}
