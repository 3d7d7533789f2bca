//! A real reader through PC/SC (`libpcsclite` and pcscd), behind the cargo feature `pcsc`.
//!
//! Reader selection is by exact name (e.g. `Virtual PCD 00 00`), by ATR, or the first reader
//! with a card. Errors are typed [`TransportError`]s: no service, no reader, a reader name that
//! does not exist (with the list of readers present), no card, card removed.

use std::ffi::{CStr, CString};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use pcsc::{Context, Disposition, Protocols, Scope, ShareMode};

use crate::client::{CardTransport, TransportError};
use crate::exchange::ApduLimits;

/// Which reader to use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReaderSelector {
    /// The reader with exactly this name.
    Name(String),
    /// The first reader whose card has exactly this ATR.
    Atr(Vec<u8>),
    /// The first reader with a card.
    First,
}

/// The default bound on one APDU exchange ([APDU-TRN-003]).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

enum Job {
    Transmit(Vec<u8>),
    Disconnect(Disposition),
}

/// The thread that owns the card handle: `SCardTransmit` has no timeout of its own, so the
/// transport waits on this thread with a bound and abandons it if the card never answers.
struct Worker {
    jobs: mpsc::Sender<Job>,
    results: mpsc::Receiver<Result<Vec<u8>, pcsc::Error>>,
}

impl Worker {
    fn start(card: pcsc::Card) -> Result<Self, TransportError> {
        let (jobs, job_rx) = mpsc::channel::<Job>();
        let (res_tx, results) = mpsc::channel();
        thread::Builder::new()
            .name("pcsc-card".into())
            .spawn(move || {
                let mut buf = vec![0u8; pcsc::MAX_BUFFER_SIZE_EXTENDED];
                while let Ok(job) = job_rx.recv() {
                    match job {
                        Job::Transmit(apdu) => {
                            let r = card.transmit(&apdu, &mut buf).map(<[u8]>::to_vec);
                            if res_tx.send(r).is_err() {
                                return;
                            }
                        }
                        Job::Disconnect(d) => {
                            let _ = card.disconnect(d);
                            return;
                        }
                    }
                }
            })
            .map_err(|e| TransportError::Other(format!("cannot start the PC/SC thread: {e}")))?;
        Ok(Self { jobs, results })
    }
}

/// A card in a PC/SC reader.
pub struct PcscTransport {
    ctx: Context,
    worker: Option<Worker>,
    reader: CString,
    atr: Vec<u8>,
    limits: ApduLimits,
    timeout: Duration,
}

impl std::fmt::Debug for PcscTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PcscTransport")
            .field("reader", &self.reader)
            .field("connected", &self.worker.is_some())
            .field("limits", &self.limits)
            .field("timeout", &self.timeout)
            .finish()
    }
}

fn map_err(e: pcsc::Error, reader: &str) -> TransportError {
    use pcsc::Error as E;
    match e {
        E::NoService | E::ServiceStopped => TransportError::NoService(e.to_string()),
        E::NoReadersAvailable => TransportError::NoReader,
        E::UnknownReader | E::ReaderUnavailable => TransportError::ReaderNotFound {
            wanted: reader.to_owned(),
            present: Vec::new(),
        },
        E::NoSmartcard => TransportError::NoCard(reader.to_owned()),
        E::RemovedCard
        | E::ResetCard
        | E::NotTransacted
        | E::UnpoweredCard
        | E::UnresponsiveCard => TransportError::CardRemoved(format!("{reader}: {e}")),
        E::Timeout => TransportError::Timeout(Duration::ZERO),
        other => TransportError::Other(format!("{reader}: {other}")),
    }
}

/// The names of the readers present.
pub fn list_readers() -> Result<Vec<String>, TransportError> {
    let ctx = Context::establish(Scope::User).map_err(|e| map_err(e, ""))?;
    readers(&ctx)
}

fn readers(ctx: &Context) -> Result<Vec<String>, TransportError> {
    match ctx.list_readers_owned() {
        Ok(r) => Ok(r
            .into_iter()
            .map(|c| c.to_string_lossy().into_owned())
            .collect()),
        Err(pcsc::Error::NoReadersAvailable) => Ok(Vec::new()),
        Err(e) => Err(map_err(e, "")),
    }
}

impl PcscTransport {
    /// Connects (shared, T=0 or T=1) to the card of the selected reader. Uses extended APDUs
    /// sized for vpcd ([`ApduLimits::EXTENDED`]); override with [`PcscTransport::with_limits`].
    pub fn connect(selector: &ReaderSelector) -> Result<Self, TransportError> {
        let ctx = Context::establish(Scope::User).map_err(|e| map_err(e, ""))?;
        let present = readers(&ctx)?;
        if present.is_empty() {
            return Err(TransportError::NoReader);
        }
        let not_found = |wanted: String| TransportError::ReaderNotFound {
            wanted,
            present: present.clone(),
        };
        let (reader, card) = match selector {
            ReaderSelector::Name(name) => {
                if !present.iter().any(|r| r == name) {
                    return Err(not_found(name.clone()));
                }
                let c = CString::new(name.as_bytes()).map_err(|_| not_found(name.clone()))?;
                let card = ctx
                    .connect(&c, ShareMode::Shared, Protocols::ANY)
                    .map_err(|e| map_err(e, name))?;
                (c, card)
            }
            ReaderSelector::Atr(atr) => {
                let mut found = None;
                for name in &present {
                    let Ok(c) = CString::new(name.as_bytes()) else {
                        continue;
                    };
                    let Ok(card) = ctx.connect(&c, ShareMode::Shared, Protocols::ANY) else {
                        continue;
                    };
                    let matches = card
                        .status2_owned()
                        .map(|s| s.atr() == atr.as_slice())
                        .unwrap_or(false);
                    if matches {
                        found = Some((c, card));
                        break;
                    }
                    let _ = card.disconnect(Disposition::LeaveCard);
                }
                found.ok_or_else(|| not_found(format!("card with ATR {}", hex(atr))))?
            }
            ReaderSelector::First => {
                let mut found = None;
                for name in &present {
                    let Ok(c) = CString::new(name.as_bytes()) else {
                        continue;
                    };
                    if let Ok(card) = ctx.connect(&c, ShareMode::Shared, Protocols::ANY) {
                        found = Some((c, card));
                        break;
                    }
                }
                found.ok_or_else(|| TransportError::NoCard(present.join(", ")))?
            }
        };
        let atr = card
            .status2_owned()
            .map(|s| s.atr().to_vec())
            .map_err(|e| map_err(e, &reader.to_string_lossy()))?;
        Ok(Self {
            ctx,
            worker: Some(Worker::start(card)?),
            reader,
            atr,
            limits: ApduLimits::EXTENDED,
            timeout: DEFAULT_TIMEOUT,
        })
    }

    /// Connects, retrying every 50 ms until `deadline` passes: a virtual card needs up to one
    /// pcscd poll (~0.4 s) to be seen.
    pub fn connect_within(
        selector: &ReaderSelector,
        deadline: Duration,
    ) -> Result<Self, TransportError> {
        let start = Instant::now();
        loop {
            match Self::connect(selector) {
                Ok(t) => return Ok(t),
                Err(e) if start.elapsed() >= deadline => return Err(e),
                Err(TransportError::ReaderNotFound { .. }) | Err(TransportError::NoReader)
                    if !matches!(selector, ReaderSelector::Atr(_) | ReaderSelector::First) =>
                {
                    // A wrong reader name stays wrong: fail at once.
                    return Self::connect(selector);
                }
                Err(_) => std::thread::sleep(Duration::from_millis(50)),
            }
        }
    }

    /// Overrides the APDU limits (e.g. [`ApduLimits::SHORT`] for a reader without extended
    /// length support).
    pub fn with_limits(mut self, limits: ApduLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Overrides the bound on one APDU exchange ([`DEFAULT_TIMEOUT`]).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The reader's name.
    pub fn reader(&self) -> &CStr {
        &self.reader
    }

    /// The card's ATR (read at connection).
    pub fn atr(&self) -> &[u8] {
        &self.atr
    }

    /// Disconnects leaving the card powered (dropping the transport resets the card instead).
    pub fn disconnect(mut self) {
        if let Some(w) = self.worker.take() {
            let _ = w.jobs.send(Job::Disconnect(Disposition::LeaveCard));
        }
    }

    fn removed(&self, why: &str) -> TransportError {
        TransportError::CardRemoved(format!("{}: {why}", self.reader.to_string_lossy()))
    }
}

impl Drop for PcscTransport {
    fn drop(&mut self) {
        if let Some(w) = self.worker.take() {
            let _ = w.jobs.send(Job::Disconnect(Disposition::ResetCard));
        }
    }
}

fn hex(b: &[u8]) -> String {
    b.iter()
        .map(|x| format!("{x:02X}"))
        .collect::<Vec<_>>()
        .join(" ")
}

impl CardTransport for PcscTransport {
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, TransportError> {
        let name = self.reader.to_string_lossy().into_owned();
        let Some(w) = self.worker.as_ref() else {
            return Err(self.removed("not connected"));
        };
        if w.jobs.send(Job::Transmit(apdu.to_vec())).is_err() {
            self.worker = None;
            return Err(self.removed("the card handle is gone"));
        }
        match w.results.recv_timeout(self.timeout) {
            Ok(Ok(r)) => Ok(r),
            Ok(Err(e)) => {
                let err = map_err(e, &name);
                if matches!(err, TransportError::CardRemoved(_)) {
                    // The handle is dead; reconnect() makes a new one.
                    if let Some(w) = self.worker.take() {
                        let _ = w.jobs.send(Job::Disconnect(Disposition::LeaveCard));
                    }
                }
                Err(err)
            }
            Err(_) => {
                // [APDU-TRN-003] the card never answered: abandon the blocked handle (its
                // thread ends when the card or pcscd gives up) and report a timeout.
                self.worker = None;
                Err(TransportError::Timeout(self.timeout))
            }
        }
    }

    fn limits(&self) -> ApduLimits {
        self.limits
    }

    fn reconnect(&mut self) -> Result<(), TransportError> {
        let name = self.reader.to_string_lossy().into_owned();
        if let Some(w) = self.worker.take() {
            let _ = w.jobs.send(Job::Disconnect(Disposition::ResetCard));
        }
        let card = self
            .ctx
            .connect(&self.reader, ShareMode::Shared, Protocols::ANY)
            .map_err(|e| map_err(e, &name))?;
        if let Ok(s) = card.status2_owned() {
            self.atr = s.atr().to_vec();
        }
        self.worker = Some(Worker::start(card)?);
        Ok(())
    }
}
