//! The ISO 8601 date-time forms KeyGen2 uses (facts §1.3, §1.4).
//!
//! - `serverTime`: `YYYY-MM-DDThh:mm:ssZ` (UTC, no subseconds);
//! - `clientTime`: `YYYY-MM-DDThh:mm:ss±hh:mm` (local time with offset, no subseconds);
//! - other times (search filter dates): `YYYY-MM-DDThh:mm:ss{.mmm}(Z|±hh:mm)`.
//!
//! An [`IsoTime`] keeps the text exactly as received (for verbatim echo checks such as the
//! `serverTime` echo in `ProvisioningInitializationResponse`) next to its Unix seconds.
//!
//! [`UnixTime`] is the one time type of the engines (seconds since the epoch, signed), with
//! checked conversions to and from the wire's forms (the SKS `uint clientTime`, the ISO texts),
//! and [`Clock`] the one clock seam: [`SystemClock`] for production, [`ManualClock`] (moves
//! only when told) for tests, golden vectors and the simulator. Nothing in this crate reads
//! the clock on its own; the engines are handed a time or a clock.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use thiserror::Error;

/// A [`UnixTime`] that does not fit the form asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum UnixTimeError {
    /// An unsigned second count beyond `i64::MAX`.
    #[error("{0} seconds since the epoch is beyond the representable range")]
    TooLarge(u64),
    /// Before 1970: no unsigned form (e.g. the SKS `uint clientTime`).
    #[error("{0} seconds since the epoch is before 1970, which the unsigned form cannot hold")]
    BeforeEpoch(i64),
    /// After 2106-02-07T06:28:15Z: beyond the SKS `uint clientTime`.
    #[error(
        "{0} seconds since the epoch is after 2106-02-07T06:28:15Z, beyond a 32-bit clientTime"
    )]
    BeyondU32(i64),
    /// Outside the years the ISO 8601 forms are written for (0001-9998).
    #[error("{0} seconds since the epoch is outside the years 0001-9998 of the ISO 8601 forms")]
    OutsideIsoYears(i64),
    /// A UTC offset of a day or more.
    #[error("UTC offset of {0} minutes is not within ±23:59")]
    BadOffset(i16),
}

/// An instant: whole seconds since 1970-01-01T00:00:00Z (negative before). Serialized as the
/// plain number.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Default,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(transparent)]
pub struct UnixTime(i64);

impl UnixTime {
    /// 1970-01-01T00:00:00Z.
    pub const EPOCH: UnixTime = UnixTime(0);

    /// The instant `secs` seconds after the epoch.
    pub const fn from_secs(secs: i64) -> Self {
        UnixTime(secs)
    }

    /// Seconds since the epoch.
    pub const fn secs(self) -> i64 {
        self.0
    }

    /// From an unsigned second count; an error beyond `i64::MAX`.
    pub fn from_unsigned(secs: u64) -> Result<Self, UnixTimeError> {
        i64::try_from(secs)
            .map(UnixTime)
            .map_err(|_| UnixTimeError::TooLarge(secs))
    }

    /// As an unsigned second count; an error before 1970.
    pub fn unsigned(self) -> Result<u64, UnixTimeError> {
        u64::try_from(self.0).map_err(|_| UnixTimeError::BeforeEpoch(self.0))
    }

    /// From the SKS `uint clientTime` (always representable).
    pub const fn from_client_time(client_time: u32) -> Self {
        UnixTime(client_time as i64)
    }

    /// As the SKS `uint clientTime`; an error before 1970 or after 2106-02-07T06:28:15Z.
    pub fn client_time_u32(self) -> Result<u32, UnixTimeError> {
        if self.0 < 0 {
            return Err(UnixTimeError::BeforeEpoch(self.0));
        }
        u32::try_from(self.0).map_err(|_| UnixTimeError::BeyondU32(self.0))
    }

    /// As a `serverTime` text (`YYYY-MM-DDThh:mm:ssZ`).
    pub fn server_time(self) -> Result<IsoTime, UnixTimeError> {
        IsoTime::server_time(self.0).ok_or(UnixTimeError::OutsideIsoYears(self.0))
    }

    /// As a `clientTime` text in the given offset (minutes east of UTC).
    pub fn client_time(self, offset_minutes: i16) -> Result<IsoTime, UnixTimeError> {
        if offset_minutes.unsigned_abs() >= 24 * 60 {
            return Err(UnixTimeError::BadOffset(offset_minutes));
        }
        IsoTime::client_time(self.0, offset_minutes).ok_or(UnixTimeError::OutsideIsoYears(self.0))
    }

    /// `secs` later (earlier if negative); `None` on overflow.
    pub fn checked_add_secs(self, secs: i64) -> Option<Self> {
        self.0.checked_add(secs).map(UnixTime)
    }

    /// `secs` later, stopping at the largest instant.
    pub fn saturating_add_secs(self, secs: u64) -> Self {
        UnixTime(
            self.0
                .saturating_add(i64::try_from(secs).unwrap_or(i64::MAX)),
        )
    }

    /// Seconds from `earlier` to `self` (negative if `earlier` is later), saturating.
    pub fn secs_since(self, earlier: UnixTime) -> i64 {
        self.0.saturating_sub(earlier.0)
    }

    /// The instant of a [`std::time::SystemTime`] (subseconds dropped, towards the past),
    /// saturating at the ends of the range.
    pub fn from_system_time(t: std::time::SystemTime) -> Self {
        match t.duration_since(std::time::UNIX_EPOCH) {
            Ok(d) => UnixTime(i64::try_from(d.as_secs()).unwrap_or(i64::MAX)),
            Err(e) => {
                let d = e.duration();
                let whole = i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
                let extra = i64::from(d.subsec_nanos() > 0);
                UnixTime(whole.saturating_neg().saturating_sub(extra))
            }
        }
    }
}

impl From<u32> for UnixTime {
    fn from(client_time: u32) -> Self {
        UnixTime::from_client_time(client_time)
    }
}

impl TryFrom<u64> for UnixTime {
    type Error = UnixTimeError;

    fn try_from(secs: u64) -> Result<Self, UnixTimeError> {
        UnixTime::from_unsigned(secs)
    }
}

impl std::fmt::Display for UnixTime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match IsoTime::server_time(self.0) {
            Some(t) => write!(f, "{} ({})", self.0, t.as_str()),
            None => write!(f, "{}", self.0),
        }
    }
}

/// The one clock seam: where every engine reads the current time.
pub trait Clock: std::fmt::Debug + Send + Sync {
    /// Now.
    fn now(&self) -> UnixTime;
}

impl<C: Clock + ?Sized> Clock for Arc<C> {
    fn now(&self) -> UnixTime {
        (**self).now()
    }
}

impl<C: Clock + ?Sized> Clock for Box<C> {
    fn now(&self) -> UnixTime {
        (**self).now()
    }
}

/// The machine's clock (before 1970 it reads negative).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> UnixTime {
        UnixTime::from_system_time(std::time::SystemTime::now())
    }
}

/// A clock that moves only when told. Clones share one time, so a test keeps one handle and
/// gives others to the card, the issuer and the middleware.
#[derive(Debug, Clone, Default)]
pub struct ManualClock {
    now: Arc<AtomicI64>,
}

impl ManualClock {
    /// A clock reading `t`.
    pub fn new(t: UnixTime) -> Self {
        Self {
            now: Arc::new(AtomicI64::new(t.0)),
        }
    }

    /// Sets the time (backwards too).
    pub fn set(&self, t: UnixTime) {
        self.now.store(t.0, Ordering::SeqCst);
    }

    /// Moves the time forward by `seconds`, stopping at the largest instant.
    pub fn advance(&self, seconds: u64) {
        let step = i64::try_from(seconds).unwrap_or(i64::MAX);
        let _ = self
            .now
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |t| {
                Some(t.saturating_add(step))
            });
    }
}

impl Clock for ManualClock {
    fn now(&self) -> UnixTime {
        UnixTime(self.now.load(Ordering::SeqCst))
    }
}

/// A date-time text that does not have the required form, or names no real instant.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("bad ISO 8601 time {text:?}: {reason}")]
pub struct TimeError {
    /// The text.
    pub text: String,
    /// What is wrong.
    pub reason: &'static str,
}

/// Which textual form a time must have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeForm {
    /// `YYYY-MM-DDThh:mm:ssZ`.
    Server,
    /// `YYYY-MM-DDThh:mm:ss±hh:mm`.
    Client,
    /// `YYYY-MM-DDThh:mm:ss{.mmm}(Z|±hh:mm)`.
    General,
}

/// A parsed KeyGen2 time, with its original text.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IsoTime {
    text: String,
    unix: i64,
    millis: u16,
    offset_minutes: i16,
}

fn digits(b: &[u8], at: usize, n: usize) -> Option<u32> {
    let s = b.get(at..at.checked_add(n)?)?;
    let mut v: u32 = 0;
    for &c in s {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + u32::from(c - b'0');
    }
    Some(v)
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(y) => 29,
        _ => 28,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian civil date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date of a day count since 1970-01-01.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Earliest and latest instants we format: years 0000 to 9999 in any offset.
const MIN_UNIX: i64 = -62_167_219_200 + 86_400;
const MAX_UNIX: i64 = 253_402_300_799 - 86_400;

impl IsoTime {
    /// Parses `text` in the given form.
    pub fn parse(text: &str, form: TimeForm) -> Result<Self, TimeError> {
        let err = |reason| TimeError {
            text: text.chars().take(64).collect(),
            reason,
        };
        let b = text.as_bytes();
        if b.len() < 20 {
            return Err(err("too short"));
        }
        let sep = |i: usize, c: u8| b.get(i) == Some(&c);
        if !(sep(4, b'-') && sep(7, b'-') && sep(10, b'T') && sep(13, b':') && sep(16, b':')) {
            return Err(err("not YYYY-MM-DDThh:mm:ss"));
        }
        let field = |at, n| digits(b, at, n).ok_or_else(|| err("non-digit in date or time"));
        let year = i64::from(field(0, 4)?);
        let month = field(5, 2)?;
        let day = field(8, 2)?;
        let hour = field(11, 2)?;
        let minute = field(14, 2)?;
        let second = field(17, 2)?;
        if !(1..=12).contains(&month) {
            return Err(err("month out of range"));
        }
        if day < 1 || day > days_in_month(year, month) {
            return Err(err("day out of range"));
        }
        if hour > 23 || minute > 59 || second > 59 {
            return Err(err("time of day out of range"));
        }
        let mut pos = 19;
        let mut millis = 0u16;
        if b.get(pos) == Some(&b'.') {
            if form != TimeForm::General {
                return Err(err("subseconds are not allowed here"));
            }
            let ms = digits(b, pos + 1, 3).ok_or_else(|| err("subseconds must be .mmm"))?;
            millis = ms as u16;
            pos += 4;
        }
        let offset_minutes: i16 = match b.get(pos) {
            Some(b'Z') => {
                if form == TimeForm::Client {
                    return Err(err("clientTime needs a ±hh:mm offset"));
                }
                pos += 1;
                0
            }
            Some(&s @ (b'+' | b'-')) => {
                if form == TimeForm::Server {
                    return Err(err("serverTime must be UTC with Z"));
                }
                if b.get(pos + 3) != Some(&b':') {
                    return Err(err("offset must be ±hh:mm"));
                }
                let oh = digits(b, pos + 1, 2).ok_or_else(|| err("offset must be ±hh:mm"))?;
                let om = digits(b, pos + 4, 2).ok_or_else(|| err("offset must be ±hh:mm"))?;
                if oh > 23 || om > 59 {
                    return Err(err("offset out of range"));
                }
                pos += 6;
                let v = (oh * 60 + om) as i16;
                if s == b'-' { -v } else { v }
            }
            _ => return Err(err("missing zone designator")),
        };
        if pos != b.len() {
            return Err(err("trailing characters"));
        }
        let local = days_from_civil(year, month, day) * 86_400
            + i64::from(hour) * 3600
            + i64::from(minute) * 60
            + i64::from(second);
        Ok(IsoTime {
            text: text.to_owned(),
            unix: local - i64::from(offset_minutes) * 60,
            millis,
            offset_minutes,
        })
    }

    /// Parses a `serverTime` (`YYYY-MM-DDThh:mm:ssZ`).
    pub fn parse_server_time(text: &str) -> Result<Self, TimeError> {
        Self::parse(text, TimeForm::Server)
    }

    /// Parses a `clientTime` (`YYYY-MM-DDThh:mm:ss±hh:mm`).
    pub fn parse_client_time(text: &str) -> Result<Self, TimeError> {
        Self::parse(text, TimeForm::Client)
    }

    /// Formats Unix seconds as a `serverTime`; `None` outside years 0001-9998.
    pub fn server_time(unix: i64) -> Option<Self> {
        Self::format(unix, 0)
    }

    /// Formats Unix seconds as a `clientTime` in the given offset (minutes east of UTC,
    /// at most ±23:59); `None` outside years 0001-9998 or for a bad offset.
    pub fn client_time(unix: i64, offset_minutes: i16) -> Option<Self> {
        if offset_minutes.unsigned_abs() >= 24 * 60 {
            return None;
        }
        Self::format(unix, offset_minutes).map(|mut t| {
            if offset_minutes == 0 {
                // `format` wrote `Z`; a clientTime always carries a numeric offset.
                t.text.truncate(19);
                t.text.push_str("+00:00");
            }
            t
        })
    }

    fn format(unix: i64, offset_minutes: i16) -> Option<Self> {
        if !(MIN_UNIX..=MAX_UNIX).contains(&unix) {
            return None;
        }
        let local = unix + i64::from(offset_minutes) * 60;
        let days = local.div_euclid(86_400);
        let secs = local.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        let mut text = format!(
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
            secs / 3600,
            secs / 60 % 60,
            secs % 60
        );
        if offset_minutes == 0 {
            text.push('Z');
        } else {
            let sign = if offset_minutes < 0 { '-' } else { '+' };
            let a = offset_minutes.unsigned_abs();
            text.push_str(&format!("{sign}{:02}:{:02}", a / 60, a % 60));
        }
        Some(IsoTime {
            text,
            unix,
            millis: 0,
            offset_minutes,
        })
    }

    /// The text exactly as received or formatted.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Unix seconds (subseconds dropped).
    pub fn unix_seconds(&self) -> i64 {
        self.unix
    }

    /// The instant (subseconds dropped).
    pub fn unix_time(&self) -> UnixTime {
        UnixTime(self.unix)
    }

    /// Unix seconds as the SKS `uint clientTime`; `None` before 1970 or after 2106.
    pub fn unix_seconds_u32(&self) -> Option<u32> {
        u32::try_from(self.unix).ok()
    }

    /// Milliseconds (0 unless a `.mmm` part was given).
    pub fn millis(&self) -> u16 {
        self.millis
    }

    /// The zone offset in minutes east of UTC (0 for `Z`).
    pub fn offset_minutes(&self) -> i16 {
        self.offset_minutes
    }
}

impl std::fmt::Display for IsoTime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn server_time_known_answer() {
        // 2026-11-22T13:16:18Z: the recorded samples' clientTimeUnixSeconds for that text.
        let t = IsoTime::parse_server_time("2026-11-22T13:16:18Z").unwrap();
        assert_eq!(t.unix_seconds(), 1_795_353_378);
        assert_eq!(
            IsoTime::server_time(1_795_353_378).unwrap().as_str(),
            "2026-11-22T13:16:18Z"
        );
        assert_eq!(
            IsoTime::parse_server_time("1970-01-01T00:00:00Z")
                .unwrap()
                .unix_seconds(),
            0
        );
    }

    #[test]
    fn client_time_offsets() {
        let a = IsoTime::parse_client_time("2026-11-22T13:16:18+00:00").unwrap();
        let b = IsoTime::parse_client_time("2026-11-22T14:46:18+01:30").unwrap();
        let c = IsoTime::parse_client_time("2026-11-22T08:16:18-05:00").unwrap();
        assert_eq!(a.unix_seconds(), b.unix_seconds());
        assert_eq!(a.unix_seconds(), c.unix_seconds());
        assert_eq!(b.offset_minutes(), 90);
        assert_eq!(
            IsoTime::client_time(a.unix_seconds(), 0).unwrap().as_str(),
            "2026-11-22T13:16:18+00:00"
        );
        assert_eq!(
            IsoTime::client_time(a.unix_seconds(), -300)
                .unwrap()
                .as_str(),
            "2026-11-22T08:16:18-05:00"
        );
    }

    #[test]
    fn forms_are_strict() {
        for bad in [
            "2026-11-22T13:16:18.000Z",
            "2026-11-22T13:16:18+00:00",
            "2026-11-22 13:16:18Z",
            "2026-11-22T13:16:18",
            "2026-11-22T13:16:18z",
            "2026-02-29T00:00:00Z",
            "2026-13-01T00:00:00Z",
            "2026-11-22T24:00:00Z",
            "2026-11-22T13:16:60Z",
            "2026-11-22T13:16:18Z ",
            "+026-11-22T13:16:18Z",
        ] {
            assert!(IsoTime::parse_server_time(bad).is_err(), "{bad}");
        }
        assert!(IsoTime::parse_client_time("2026-11-22T13:16:18Z").is_err());
        assert!(IsoTime::parse_client_time("2026-11-22T13:16:18.123+00:00").is_err());
        assert!(IsoTime::parse_client_time("2026-11-22T13:16:18+0000").is_err());
        assert!(IsoTime::parse_client_time("2026-11-22T13:16:18+24:00").is_err());
        let g = IsoTime::parse("2024-02-29T23:59:59.123-01:00", TimeForm::General).unwrap();
        assert_eq!(g.millis(), 123);
        assert_eq!(g.unix_seconds(), 1_709_254_799);
        assert!(IsoTime::parse("2024-02-29T23:59:59.12Z", TimeForm::General).is_err());
    }

    #[test]
    fn civil_round_trip() {
        for days in [-719_162i64, -1, 0, 1, 11_016, 20_000, 2_932_896] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }

    #[test]
    fn u32_range() {
        let t = IsoTime::parse_server_time("1969-12-31T23:59:59Z").unwrap();
        assert_eq!(t.unix_seconds_u32(), None);
        let t = IsoTime::parse_server_time("2106-02-07T06:28:15Z").unwrap();
        assert_eq!(t.unix_seconds_u32(), Some(u32::MAX));
    }

    #[test]
    fn unix_time_wire_forms_are_checked() {
        let t = UnixTime::from_secs(1_795_353_378);
        assert_eq!(t.client_time_u32(), Ok(1_795_353_378));
        assert_eq!(UnixTime::from(1_795_353_378u32), t);
        assert_eq!(t.server_time().unwrap().as_str(), "2026-11-22T13:16:18Z");
        assert_eq!(
            t.client_time(-300).unwrap().as_str(),
            "2026-11-22T08:16:18-05:00"
        );
        assert_eq!(
            UnixTime::from_secs(-1).client_time_u32(),
            Err(UnixTimeError::BeforeEpoch(-1))
        );
        assert_eq!(
            UnixTime::from_secs(-1).unsigned(),
            Err(UnixTimeError::BeforeEpoch(-1))
        );
        let late = i64::from(u32::MAX) + 1;
        assert_eq!(
            UnixTime::from_secs(late).client_time_u32(),
            Err(UnixTimeError::BeyondU32(late))
        );
        assert_eq!(
            UnixTime::from_secs(late - 1).client_time_u32(),
            Ok(u32::MAX)
        );
        assert_eq!(
            UnixTime::from_unsigned(u64::MAX),
            Err(UnixTimeError::TooLarge(u64::MAX))
        );
        assert_eq!(UnixTime::try_from(5u64), Ok(UnixTime::from_secs(5)));
        assert_eq!(
            UnixTime::from_secs(i64::MAX).server_time(),
            Err(UnixTimeError::OutsideIsoYears(i64::MAX))
        );
        assert_eq!(t.client_time(24 * 60), Err(UnixTimeError::BadOffset(1440)));
        let msg = UnixTime::from_secs(late)
            .client_time_u32()
            .unwrap_err()
            .to_string();
        assert!(msg.contains("2106"), "{msg}");
        assert_eq!(t.checked_add_secs(i64::MAX), None);
        assert_eq!(
            UnixTime::from_secs(i64::MAX - 1)
                .saturating_add_secs(u64::MAX)
                .secs(),
            i64::MAX
        );
        assert_eq!(t.secs_since(UnixTime::from_secs(1_795_353_000)), 378);
        assert_eq!(serde_json::to_string(&t).unwrap(), "1795353378");
        assert_eq!(serde_json::from_str::<UnixTime>("-7").unwrap().secs(), -7);
        assert_eq!(
            IsoTime::parse_server_time("2026-11-22T13:16:18Z")
                .unwrap()
                .unix_time(),
            t
        );
    }

    #[test]
    fn system_time_before_the_epoch_rounds_towards_the_past() {
        use std::time::{Duration, UNIX_EPOCH};
        assert_eq!(
            UnixTime::from_system_time(UNIX_EPOCH - Duration::from_millis(1500)).secs(),
            -2
        );
        assert_eq!(
            UnixTime::from_system_time(UNIX_EPOCH + Duration::from_millis(1500)).secs(),
            1
        );
        assert!(SystemClock.now() > UnixTime::from_secs(1_577_836_800));
    }

    #[test]
    fn manual_clock_is_shared_and_moves_only_when_told() {
        let c = ManualClock::new(UnixTime::from_secs(1_700_000_000));
        let view: Arc<dyn Clock> = Arc::new(c.clone());
        assert_eq!(view.now().secs(), 1_700_000_000);
        c.advance(60);
        assert_eq!(view.now().secs(), 1_700_000_060);
        c.set(UnixTime::from_secs(-5));
        assert_eq!(view.now().secs(), -5);
        c.set(UnixTime::from_secs(i64::MAX));
        c.advance(u64::MAX);
        assert_eq!(view.now().secs(), i64::MAX);
    }
}
