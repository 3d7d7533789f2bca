//! Differential run of the vectors over every crypto backend (issue 14): every generated
//! vector and golden-session file is regenerated on each backend and must equal the committed
//! bytes, and every committed file passes its own checks on each backend.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use airtight_proto::crypto::CryptoProvider;
use airtight_vectors::{check, generated_files, generated_session_files};

#[test]
fn every_backend_regenerates_the_committed_files_byte_for_byte() {
    let providers = CryptoProvider::all();
    assert!(!providers.is_empty());
    for p in providers {
        p.scope(|| {
            let files: Vec<_> = generated_files()
                .into_iter()
                .chain(generated_session_files())
                .collect();
            assert!(files.len() > 40, "{}", files.len());
            for (dir, name, file) in files {
                let committed = std::fs::read_to_string(dir.join(&name)).unwrap();
                assert!(
                    file.to_canonical_string() == committed,
                    "{name} differs when generated on {}",
                    p.name()
                );
                let report = check::check_file(&file);
                assert!(
                    report.failures.is_empty(),
                    "{name} on {}: {:?}",
                    p.name(),
                    report.failures
                );
            }
        });
    }
}
