//! Card targets: what the harness runs against. Any [`SecureKeyStore`] can be a target; the
//! [`TargetSpec`] names the transports the harness knows how to open.
//!
//! - [`TargetSpec::InProcess`]: the reference SKS in this process, a fresh card (on in-memory
//!   storage, with a controllable clock) for every case.
//! - [`TargetSpec::ApduLoopback`]: the same, behind `ApduSks` and the card-side APDU
//!   dispatcher (the codec PC/SC uses, without a reader), a fresh card per case.
//! - [`TargetSpec::Pcsc`] (feature `pcsc`) and [`TargetSpec::Shim`]: a real or virtual card
//!   through PC/SC, or a foreign SKS through the JSON-lines shim, as [`Target::Single`] (one
//!   card for the whole run, cleaned up between cases). A reader's card is used only when its
//!   ATR is on the configuration's allowlist.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use airtight_card::env::ManualClock;
use airtight_card::{CardConfig, ReferenceSks, TEST_TIME};
use airtight_proto::sks::SecureKeyStore;

/// A card clock the harness can move (session lifetime cases).
pub trait ClockControl: Send + Sync {
    /// Moves the card's clock forward.
    fn advance(&self, seconds: u64);
    /// The card's current time (Unix seconds).
    fn now(&self) -> u64;
}

impl ClockControl for ManualClock {
    fn advance(&self, seconds: u64) {
        ManualClock::advance(self, seconds);
    }
    fn now(&self) -> u64 {
        airtight_card::env::Clock::now(self).unsigned().unwrap_or(0)
    }
}

pub use crate::config::DeviceKind;
use crate::config::{ConfigError, TargetConfig};

/// How to reach a card.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetSpec {
    /// The reference SKS in this process.
    InProcess {
        /// Its device identity.
        device: DeviceKind,
    },
    /// A card behind a PC/SC reader (vpcd or a real reader).
    Pcsc {
        /// The reader name (substring match), if any.
        reader: Option<String>,
        /// ATRs (hex) the harness may touch; an empty list touches nothing.
        atr_allowlist: Vec<String>,
        /// The reader name must equal `reader` (not contain it): destructive runs, whose
        /// consent names one reader.
        exact_reader: bool,
    },
    /// A foreign SKS behind the JSON-lines shim (a child process).
    Shim {
        /// The program and its arguments.
        command: Vec<String>,
    },
    /// The reference SKS in this process behind the APDU binding (`ApduSks` over a loopback
    /// into the card-side dispatcher): the PC/SC codec without a reader.
    ApduLoopback {
        /// Its device identity.
        device: DeviceKind,
    },
}

impl TargetSpec {
    /// The transport name used in reports.
    pub fn transport(&self) -> &'static str {
        match self {
            TargetSpec::InProcess { .. } => "in-process",
            TargetSpec::Pcsc { .. } => "pcsc",
            TargetSpec::Shim { .. } => "shim",
            TargetSpec::ApduLoopback { .. } => "apdu-loopback",
        }
    }
}

impl TargetConfig {
    /// The card target this configuration names.
    pub fn card_spec(&self) -> Result<TargetSpec, ConfigError> {
        match self.target.transport.as_str() {
            "in-process" => Ok(TargetSpec::InProcess {
                device: self.target.device.unwrap_or_default(),
            }),
            "apdu-loopback" => Ok(TargetSpec::ApduLoopback {
                device: self.target.device.unwrap_or_default(),
            }),
            "pcsc" => Ok(TargetSpec::Pcsc {
                reader: self.target.reader.clone(),
                atr_allowlist: self.target.atr_allowlist.clone(),
                exact_reader: self.destructive,
            }),
            "shim" => Ok(TargetSpec::Shim {
                command: self.target.command.clone(),
            }),
            t => Err(ConfigError::Invalid(format!(
                "\"{t}\" is not a card transport"
            ))),
        }
    }
}

/// APDU counters of an APDU link (shared with the [`CountingTransport`] inside the card).
#[derive(Debug, Default)]
pub struct LinkCounters {
    /// Command APDUs sent.
    pub apdus: AtomicU64,
    /// Bytes of command APDUs.
    pub bytes_to_card: AtomicU64,
    /// Bytes of response APDUs.
    pub bytes_from_card: AtomicU64,
}

impl LinkCounters {
    /// (apdus, bytes to card, bytes from card) so far.
    pub fn read(&self) -> (u64, u64, u64) {
        (
            self.apdus.load(Ordering::Relaxed),
            self.bytes_to_card.load(Ordering::Relaxed),
            self.bytes_from_card.load(Ordering::Relaxed),
        )
    }
}

/// A [`CardTransport`](airtight_bindings::CardTransport) wrapper that counts APDUs and bytes.
#[derive(Debug)]
pub struct CountingTransport<T> {
    inner: T,
    counters: Arc<LinkCounters>,
}

impl<T> CountingTransport<T> {
    /// Wraps `inner`; the counters are shared with the caller.
    pub fn new(inner: T) -> (Self, Arc<LinkCounters>) {
        let counters = Arc::new(LinkCounters::default());
        (
            Self {
                inner,
                counters: counters.clone(),
            },
            counters,
        )
    }
}

impl<T: airtight_bindings::CardTransport> airtight_bindings::CardTransport
    for CountingTransport<T>
{
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, airtight_bindings::TransportError> {
        let r = self.inner.transmit(apdu)?;
        self.counters.apdus.fetch_add(1, Ordering::Relaxed);
        self.counters
            .bytes_to_card
            .fetch_add(apdu.len() as u64, Ordering::Relaxed);
        self.counters
            .bytes_from_card
            .fetch_add(r.len() as u64, Ordering::Relaxed);
        Ok(r)
    }
    fn limits(&self) -> airtight_bindings::ApduLimits {
        self.inner.limits()
    }
    fn reconnect(&mut self) -> Result<(), airtight_bindings::TransportError> {
        self.inner.reconnect()
    }
}

/// An opened card.
pub struct OpenedCard {
    /// The card.
    pub sks: Box<dyn SecureKeyStore>,
    /// Its clock, if the harness can move it.
    pub clock: Option<Arc<dyn ClockControl>>,
    /// APDU counters, for APDU transports.
    pub link: Option<Arc<LinkCounters>>,
}

impl std::fmt::Debug for OpenedCard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenedCard")
            .field("clock", &self.clock.is_some())
            .finish_non_exhaustive()
    }
}

/// A card factory: a fresh card per case, from a seed.
pub type CardFactory = Box<dyn FnMut(u64) -> Result<OpenedCard, TargetError>>;

/// What the runner runs against.
pub enum Target {
    /// A fresh card per case.
    Factory(CardFactory),
    /// One card for the whole run.
    Single(OpenedCard),
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Factory(_) => f.write_str("Target::Factory"),
            Target::Single(c) => f.debug_tuple("Target::Single").field(c).finish(),
        }
    }
}

/// Why a target could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    /// The transport is not built into this harness yet.
    #[error("transport {0} is not available in this build ({1})")]
    Unavailable(&'static str, &'static str),
    /// The card could not be opened.
    #[error("cannot open the card: {0}")]
    Open(String),
}

/// A fresh in-process reference card with a manual clock at [`TEST_TIME`].
pub fn reference_card(device: DeviceKind, seed: u64) -> Result<OpenedCard, TargetError> {
    reference_card_with(device, seed, |_| {})
}

/// [`reference_card`] with its configuration adjusted by `adjust` (e.g. without biometric
/// support).
pub fn reference_card_with(
    device: DeviceKind,
    seed: u64,
    adjust: impl FnOnce(&mut CardConfig),
) -> Result<OpenedCard, TargetError> {
    let clock = ManualClock::new(TEST_TIME);
    let kind = match device {
        DeviceKind::P256 => airtight_pki::DeviceKeyKind::P256,
        DeviceKind::Rsa2048 => airtight_pki::DeviceKeyKind::Rsa2048,
    };
    let mut config = CardConfig::test_device(kind, seed, Arc::new(clock.clone()));
    adjust(&mut config);
    let card = ReferenceSks::open(config).map_err(|e| TargetError::Open(e.to_string()))?;
    Ok(OpenedCard {
        sks: Box::new(card),
        clock: Some(Arc::new(clock)),
        link: None,
    })
}

/// A fresh reference card behind `ApduSks` over a loopback into the APDU dispatcher.
pub fn apdu_loopback_card(device: DeviceKind, seed: u64) -> Result<OpenedCard, TargetError> {
    let c = reference_card(device, seed)?;
    let (t, link) = CountingTransport::new(airtight_bindings::LoopbackTransport::new(c.sks));
    Ok(OpenedCard {
        sks: Box::new(airtight_bindings::ApduSks::new(t)),
        clock: c.clock,
        link: Some(link),
    })
}

/// Starts a shim process (one card for the whole run).
pub fn shim_card(command: &[String]) -> Result<OpenedCard, TargetError> {
    let (program, args) = command
        .split_first()
        .ok_or_else(|| TargetError::Open("empty shim command".into()))?;
    let mut cmd = std::process::Command::new(program);
    cmd.args(args);
    let sks = airtight_bindings::shim::ShimSks::spawn(
        cmd,
        airtight_bindings::shim::ShimOptions::default(),
    )
    .map_err(|e| TargetError::Open(e.to_string()))?;
    Ok(OpenedCard {
        sks: Box::new(sks),
        clock: None,
        link: None,
    })
}

/// Parses hex (spaces and colons ignored).
fn hex(s: &str) -> Option<Vec<u8>> {
    let digits: Vec<u8> = s.bytes().filter(|b| !matches!(b, b' ' | b':')).collect();
    if !digits.len().is_multiple_of(2) {
        return None;
    }
    digits
        .chunks(2)
        .map(|p| u8::from_str_radix(std::str::from_utf8(p).ok()?, 16).ok())
        .collect()
}

/// True if `atr` is on the allowlist (hex strings). An empty list allows nothing.
pub fn atr_allowed(atr: &[u8], allowlist: &[String]) -> bool {
    allowlist.iter().any(|a| hex(a).as_deref() == Some(atr))
}

#[cfg(feature = "pcsc")]
fn pcsc_card(
    reader: Option<&str>,
    allowlist: &[String],
    exact: bool,
) -> Result<OpenedCard, TargetError> {
    use airtight_bindings::pcsc::{PcscTransport, ReaderSelector, list_readers};
    let selector = match reader {
        Some(r) => {
            let names = list_readers().map_err(|e| TargetError::Open(e.to_string()))?;
            let name = names
                .into_iter()
                .find(|n| if exact { n == r } else { n.contains(r) })
                .ok_or_else(|| TargetError::Open(format!("no reader matches \"{r}\"")))?;
            ReaderSelector::Name(name)
        }
        None if exact => {
            return Err(TargetError::Open(
                "destructive cases need the exact reader name, not the first reader".into(),
            ));
        }
        None => ReaderSelector::First,
    };
    let t = PcscTransport::connect(&selector).map_err(|e| TargetError::Open(e.to_string()))?;
    if !atr_allowed(t.atr(), allowlist) {
        let atr: String = t.atr().iter().map(|b| format!("{b:02X}")).collect();
        t.disconnect();
        return Err(TargetError::Open(format!(
            "the card's ATR {atr} is not on the configuration's atr_allowlist: not touched"
        )));
    }
    let (t, link) = CountingTransport::new(t);
    Ok(OpenedCard {
        sks: Box::new(airtight_bindings::ApduSks::new(t)),
        clock: None,
        link: Some(link),
    })
}

/// Opens a target.
pub fn open(spec: &TargetSpec) -> Result<Target, TargetError> {
    match spec {
        TargetSpec::InProcess { device } => {
            let device = *device;
            Ok(Target::Factory(Box::new(move |seed| {
                reference_card(device, seed)
            })))
        }
        TargetSpec::ApduLoopback { device } => {
            let device = *device;
            Ok(Target::Factory(Box::new(move |seed| {
                apdu_loopback_card(device, seed)
            })))
        }
        #[cfg(feature = "pcsc")]
        TargetSpec::Pcsc {
            reader,
            atr_allowlist,
            exact_reader,
        } => Ok(Target::Single(pcsc_card(
            reader.as_deref(),
            atr_allowlist,
            *exact_reader,
        )?)),
        #[cfg(not(feature = "pcsc"))]
        TargetSpec::Pcsc { .. } => Err(TargetError::Unavailable(
            "pcsc",
            "build airtight-harness with the feature pcsc",
        )),
        TargetSpec::Shim { command } => Ok(Target::Single(shim_card(command)?)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atr_allowlist() {
        let list = vec!["3B 8F 80".to_owned(), "3b:01".to_owned()];
        assert!(atr_allowed(&[0x3b, 0x8f, 0x80], &list));
        assert!(atr_allowed(&[0x3b, 0x01], &list));
        assert!(!atr_allowed(&[0x3b, 0x8f], &list));
        assert!(!atr_allowed(&[0x3b, 0x8f, 0x80], &[]));
        assert!(!atr_allowed(&[0x3b], &["3".to_owned()]));
    }
}
