//! The sanity cases that open and close every run: if the first fails, nothing else means
//! much; if the last fails, the run damaged the target.

use airtight_proto::sks::SecureKeyStore as _;

use super::honest_session;
use crate::case::Case;
use crate::verify::{Snapshot, ok};

fn body(ctx: &mut crate::ctx::Ctx<'_>) -> crate::case::Step {
    let before = Snapshot::take(ctx.sks)?;
    let info = ok(ctx.sks.get_device_info(), "getDeviceInfo")?;
    crate::verify::ensure(!info.certificate_path.is_empty(), || {
        "getDeviceInfo: empty certificate path".into()
    })?;
    let t = ctx.client_time();
    ok(honest_session(ctx.sks, ctx.seed, t), "honest session")?;
    before.expect_unchanged(ctx.sks, "after an honest session and deleteKey")
}

/// The first case of every run.
pub(super) fn first() -> Case {
    Case::must(
        crate::runner::SANITY_FIRST,
        &[
            "SKS-SES-005",
            "SKS-SES-012",
            "CRY-KAT-002",
            "CRY-CLS-001",
            "CRY-ALG-008",
        ],
        "sanity: device info, one honest session (attested), a signature and a delete",
        body,
    )
}

/// The last case of every run.
pub(super) fn last() -> Case {
    Case::must(
        crate::runner::SANITY_LAST,
        &[
            "SKS-SES-005",
            "SKS-SES-012",
            "CRY-KAT-002",
            "CRY-CLS-001",
            "CRY-ALG-008",
        ],
        "sanity: the target still provisions, signs and deletes after the whole run",
        body,
    )
}
