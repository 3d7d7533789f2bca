//! Differential tests: every primitive on every compiled-in backend gives the same bytes, and
//! what one backend signs the other verifies.

use proptest::prelude::*;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

use super::*;
use crate::keys::{HashAlg, PrivateKey, PublicKey, SignatureAlgorithm, ecdh_z};

fn rng(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed)
}

const HASHES: [HashAlg; 3] = [HashAlg::Sha256, HashAlg::Sha384, HashAlg::Sha512];

fn randomized() -> Vec<CryptoProvider> {
    CryptoProvider::all()
        .into_iter()
        .map(|p| p.with_deterministic_ecdsa(false))
        .collect()
}

#[test]
fn backends_are_distinct_and_named() {
    let all = CryptoProvider::all();
    assert!(all.iter().all(|p| p.deterministic_ecdsa));
    let names: Vec<_> = all.iter().map(CryptoProvider::name).collect();
    assert!(names.contains(&"rustcrypto"));
    #[cfg(feature = "aws-lc")]
    assert!(names.contains(&"aws-lc-rs"));
    #[cfg(all(feature = "aws-lc", not(feature = "rustcrypto")))]
    assert_eq!(CryptoProvider::build_default().name(), "aws-lc-rs");
    #[cfg(feature = "rustcrypto")]
    assert_eq!(CryptoProvider::build_default().name(), "rustcrypto");
}

#[test]
fn scope_nests_and_restores() {
    let outer = current().name();
    let rc = CryptoProvider::rustcrypto().with_deterministic_ecdsa(false);
    rc.scope(|| {
        assert_eq!(current().name(), "rustcrypto");
        assert!(!current().deterministic_ecdsa);
        CryptoProvider::rustcrypto().scope(|| assert!(current().deterministic_ecdsa));
        assert!(!current().deterministic_ecdsa);
    });
    assert_eq!(current().name(), outer);
}

#[test]
fn deterministic_ecdsa_is_rfc6979_on_every_backend() {
    // The same key and message give the same signature on every provider in RFC 6979 mode
    // (vectors and golden sessions depend on it).
    for curve in Curve::ALL {
        let k = PrivateKey::generate_ec(curve, &mut rng(1));
        let sigs: Vec<Vec<u8>> = CryptoProvider::all()
            .into_iter()
            .map(|p| p.scope(|| k.sign(SignatureAlgorithm::ES256, b"msg").unwrap()))
            .collect();
        assert!(sigs.windows(2).all(|w| w[0] == w[1]), "{curve:?}");
    }
}

#[cfg(feature = "aws-lc")]
#[test]
fn aws_lc_randomized_ecdsa_differs_but_verifies() {
    let k = PrivateKey::generate_ec(Curve::P256, &mut rng(2));
    let p = CryptoProvider::aws_lc();
    let (a, b) = p.scope(|| {
        (
            k.sign(SignatureAlgorithm::ES256, b"m").unwrap(),
            k.sign(SignatureAlgorithm::ES256, b"m").unwrap(),
        )
    });
    assert_ne!(a, b, "aws-lc-rs nonces are random");
    for v in CryptoProvider::all() {
        v.scope(|| {
            k.public_key()
                .verify(SignatureAlgorithm::ES256, b"m", &a)
                .unwrap()
        });
    }
}

#[test]
fn public_keys_agree() {
    let mut r = rng(3);
    for curve in Curve::ALL {
        for _ in 0..4 {
            let k = PrivateKey::generate_ec(curve, &mut r);
            let pubs: Vec<PublicKey> = CryptoProvider::all()
                .into_iter()
                .map(|p| p.scope(|| k.public_key()))
                .collect();
            assert!(pubs.windows(2).all(|w| w[0] == w[1]));
        }
    }
}

#[test]
fn rsa_signatures_agree_and_cross_verify() {
    // 1024 bits (the RustCrypto fallback inside aws-lc) and 2048 bits (aws-lc-rs proper).
    for bits in [1024, 2048] {
        let k = PrivateKey::generate_rsa(bits, 65537, &mut rng(bits as u64)).unwrap();
        for h in HASHES {
            let alg = SignatureAlgorithm::RsaPkcs1(h);
            let sigs: Vec<Vec<u8>> = CryptoProvider::all()
                .into_iter()
                .map(|p| p.scope(|| k.sign(alg, b"rsa data").unwrap()))
                .collect();
            assert!(sigs.windows(2).all(|w| w[0] == w[1]), "{bits} {h:?}");
            // Through kept handles (made on the first signature, reused after): the same bytes.
            let handles = KeyHandles::default();
            for p in CryptoProvider::all() {
                for _ in 0..2 {
                    let cached = p.scope(|| k.sign_cached(&handles, alg, b"rsa data").unwrap());
                    assert_eq!(cached, sigs[0], "{bits} {h:?} {}", p.name());
                }
            }
            for p in CryptoProvider::all() {
                p.scope(|| {
                    k.public_key().verify(alg, b"rsa data", &sigs[0]).unwrap();
                    assert_eq!(
                        k.public_key().verify(alg, b"rsa datA", &sigs[0]),
                        Err(KeyError::BadSignature)
                    );
                    let mut bad = sigs[0].clone();
                    bad[5] ^= 1;
                    assert!(k.public_key().verify(alg, b"rsa data", &bad).is_err());
                });
            }
        }
    }
}

#[test]
fn kept_ecdsa_handles_sign_for_their_key_and_hash() {
    for curve in Curve::ALL {
        let k = PrivateKey::generate_ec(curve, &mut rng(7));
        let other = PrivateKey::generate_ec(curve, &mut rng(8));
        let handles = KeyHandles::default();
        for p in randomized() {
            p.scope(|| {
                for h in HASHES {
                    let alg = SignatureAlgorithm::Ecdsa(h);
                    for _ in 0..2 {
                        let sig = k.sign_cached(&handles, alg, b"kept").unwrap();
                        k.public_key().verify(alg, b"kept", &sig).unwrap();
                        assert!(other.public_key().verify(alg, b"kept", &sig).is_err());
                    }
                }
            });
        }
        // RFC 6979 mode keeps its deterministic signatures.
        let p = CryptoProvider::build_default();
        let plain = p.scope(|| k.sign(SignatureAlgorithm::ES256, b"kept").unwrap());
        let cached = p.scope(|| {
            k.sign_cached(&handles, SignatureAlgorithm::ES256, b"kept")
                .unwrap()
        });
        assert_eq!(plain, cached);
    }
}

#[test]
fn ec_pkcs8_is_rustcryptos_bytes_on_every_backend() {
    use pkcs8::{DecodePrivateKey, EncodePrivateKey};
    for seed in 0..4 {
        for curve in Curve::ALL {
            let k = PrivateKey::generate_ec(curve, &mut rng(seed));
            let reference = match &k {
                PrivateKey::P256(s) => s.to_pkcs8_der().unwrap().as_bytes().to_vec(),
                PrivateKey::P384(s) => s.to_pkcs8_der().unwrap().as_bytes().to_vec(),
                PrivateKey::P521(s) => s.to_pkcs8_der().unwrap().as_bytes().to_vec(),
                _ => unreachable!(),
            };
            for p in CryptoProvider::all() {
                p.scope(|| {
                    let der = k.to_pkcs8_der().unwrap();
                    assert_eq!(
                        der.as_slice(),
                        reference.as_slice(),
                        "{curve:?} {}",
                        p.name()
                    );
                    let back = PrivateKey::from_pkcs8_der(&der).unwrap();
                    assert_eq!(back.ec_scalar().unwrap().1, k.ec_scalar().unwrap().1);
                    // A public point that is not the scalar's is refused.
                    let mut wrong = der.to_vec();
                    let last = wrong.len() - 1;
                    wrong[last] ^= 1;
                    assert!(PrivateKey::from_pkcs8_der(&wrong).is_err(), "{curve:?}");
                });
            }
            // RustCrypto reads the bytes back to the same scalar.
            if let PrivateKey::P256(s) = &k {
                let again = p256::SecretKey::from_pkcs8_der(&reference).unwrap();
                assert_eq!(again.to_bytes(), s.to_bytes());
            }
        }
    }
}

#[test]
fn ecdsa_edge_signatures_rejected_everywhere() {
    // r = 0, s = 0, r = s = n-ish (all 0xff), wrong length: every backend rejects.
    let k = PrivateKey::generate_ec(Curve::P256, &mut rng(4));
    let good = k.sign(SignatureAlgorithm::ES256, b"x").unwrap();
    let mut zero_r = good.clone();
    zero_r[..32].fill(0);
    let mut zero_s = good.clone();
    zero_s[32..].fill(0);
    let ff = vec![0xff; 64];
    for p in CryptoProvider::all() {
        p.scope(|| {
            let pk = k.public_key();
            for bad in [&zero_r, &zero_s, &ff, &good[1..].to_vec(), &vec![]] {
                assert!(
                    pk.verify(SignatureAlgorithm::ES256, b"x", bad).is_err(),
                    "{}",
                    p.name()
                );
            }
        });
    }
}

#[test]
fn raw_to_der_shapes() {
    assert_eq!(raw_ecdsa_to_der(&[]), None);
    assert_eq!(raw_ecdsa_to_der(&[1, 2, 3]), None);
    assert_eq!(
        raw_ecdsa_to_der(&[0, 1, 0x80, 0]).unwrap(),
        vec![0x30, 0x08, 0x02, 0x01, 0x01, 0x02, 0x03, 0x00, 0x80, 0x00]
    );
    assert_eq!(
        raw_ecdsa_to_der(&[0, 0, 0, 0]).unwrap(),
        vec![0x30, 0x06, 0x02, 0x01, 0x00, 0x02, 0x01, 0x00]
    );
    // P-521 lengths take the long form.
    let der = raw_ecdsa_to_der(&[0x7f; 132]).unwrap();
    assert_eq!(&der[..3], &[0x30, 0x81, 0x88]);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn ecdsa_cross_backend(seed in any::<u64>(), curve in 0usize..3, h in 0usize..3,
                           msg in proptest::collection::vec(any::<u8>(), 0..200)) {
        let curve = Curve::ALL[curve];
        let alg = SignatureAlgorithm::Ecdsa(HASHES[h]);
        let k = PrivateKey::generate_ec(curve, &mut rng(seed));
        let pk = k.public_key();
        for signer in randomized() {
            let sig = signer.scope(|| k.sign(alg, &msg)).unwrap();
            prop_assert_eq!(sig.len(), 2 * curve.field_len());
            for verifier in CryptoProvider::all() {
                verifier.scope(|| {
                    prop_assert!(pk.verify(alg, &msg, &sig).is_ok());
                    let mut other = msg.clone();
                    other.push(1);
                    prop_assert_eq!(pk.verify(alg, &other, &sig), Err(KeyError::BadSignature));
                    let mut flipped = sig.clone();
                    flipped[3] ^= 0x10;
                    prop_assert!(pk.verify(alg, &msg, &flipped).is_err());
                    Ok(())
                })?;
            }
        }
    }

    #[test]
    fn ecdh_agrees_across_backends(seed in any::<u64>(), curve in 0usize..3) {
        let curve = Curve::ALL[curve];
        let mut r = rng(seed);
        let a = PrivateKey::generate_ec(curve, &mut r);
        let b = PrivateKey::generate_ec(curve, &mut r);
        let zs: Vec<Vec<u8>> = CryptoProvider::all()
            .into_iter()
            .map(|p| p.scope(|| ecdh_z(&a, &b.public_key()).unwrap().to_vec()))
            .collect();
        let back = ecdh_z(&b, &a.public_key()).unwrap();
        prop_assert_eq!(&zs[0], &back.to_vec());
        prop_assert!(zs.windows(2).all(|w| w[0] == w[1]));
    }

    #[test]
    fn symmetric_primitives_agree(key in any::<[u8; 32]>(), iv in any::<[u8; 16]>(),
                                  data in proptest::collection::vec(any::<u8>(), 0..300)) {
        let all = CryptoProvider::all();
        let first = all[0].backend;
        for p in &all[1..] {
            let b = p.backend;
            for d in [Digest::Sha1, Digest::Sha256, Digest::Sha384, Digest::Sha512] {
                prop_assert_eq!(b.digest(d, &data), first.digest(d, &data));
            }
            prop_assert_eq!(b.hmac_sha256(&data, &key), first.hmac_sha256(&data, &key));
            let ct = b.aes256_cbc_encrypt(&key, &iv, &data);
            prop_assert_eq!(&ct, &first.aes256_cbc_encrypt(&key, &iv, &data));
            prop_assert_eq!(
                b.aes256_cbc_decrypt(&key, &iv, &ct).map(|v| v.to_vec()),
                Some(data.clone())
            );
            // Whatever garbage decrypts (or fails to) the same way everywhere.
            let garbage: Vec<u8> = data.iter().chain(key.iter()).copied()
                .take(16 * (1 + data.len() / 32)).collect();
            if garbage.len() >= 16 && garbage.len().is_multiple_of(16) {
                prop_assert_eq!(
                    b.aes256_cbc_decrypt(&key, &iv, &garbage).map(|v| v.to_vec()),
                    first.aes256_cbc_decrypt(&key, &iv, &garbage).map(|v| v.to_vec())
                );
            }
            let seed = key;
            prop_assert_eq!(b.ed25519_sign(&seed, &data), first.ed25519_sign(&seed, &data));
        }
    }
}
