//! The middleware half of the APDU binding: [`ApduSks`] implements [`SecureKeyStore`] by sending
//! every call as APDUs through a [`CardTransport`], and counts what crosses the link
//! ([`LinkMetrics`]).

use std::time::{Duration, Instant};

use airtight_proto::sks::{SecureKeyStore, SksError, SksMethod};
use thiserror::Error;

use crate::apdu::{self, SelectInfo, StatusWord};
use crate::calls::{
    CallSks, SksCall, SksReturn, impl_secure_key_store_via_call, impl_sks_via_call,
};
use crate::dispatcher::ApduDispatcher;
use crate::exchange::{ApduLimits, Exchange, ExchangeError, Step};

/// A link to a card failed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TransportError {
    /// The PC/SC service is not running.
    #[error("PC/SC service not available: {0}")]
    NoService(String),
    /// No reader is connected at all.
    #[error("no smart-card reader found")]
    NoReader,
    /// No reader has the requested name (or ATR).
    #[error("reader {wanted:?} not found; readers present: {present:?}")]
    ReaderNotFound {
        /// What was asked for.
        wanted: String,
        /// The readers that exist.
        present: Vec<String>,
    },
    /// The reader has no card.
    #[error("no card in reader {0:?}")]
    NoCard(String),
    /// The card was removed (or its connection dropped) ([APDU-TRN-002]).
    #[error("card removed: {0}")]
    CardRemoved(String),
    /// The transport did not answer in time.
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    /// Any other failure of the link.
    #[error("transport failure: {0}")]
    Other(String),
}

impl TransportError {
    /// The SKS error the middleware reports: `ERROR_NOT_AVAILABLE` when there is no card to
    /// talk to, `ERROR_EXTERNAL` for a link failure ([APDU-TRN-001]).
    pub fn to_sks_error(&self) -> SksError {
        match self {
            TransportError::NoService(_)
            | TransportError::NoReader
            | TransportError::ReaderNotFound { .. }
            | TransportError::NoCard(_)
            | TransportError::CardRemoved(_) => SksError::not_available(self.to_string()),
            TransportError::Timeout(_) | TransportError::Other(_) => {
                SksError::external(self.to_string())
            }
        }
    }
}

/// A way to exchange APDUs with one card.
pub trait CardTransport {
    /// Sends one command APDU and returns the whole response APDU (data and status word).
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, TransportError>;

    /// The APDU sizes this link supports.
    fn limits(&self) -> ApduLimits {
        ApduLimits::EXTENDED
    }

    /// Re-establishes the link after [`TransportError::CardRemoved`] (e.g. a re-inserted
    /// card). The default does nothing.
    fn reconnect(&mut self) -> Result<(), TransportError> {
        Ok(())
    }
}

impl<T: CardTransport + ?Sized> CardTransport for Box<T> {
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, TransportError> {
        (**self).transmit(apdu)
    }
    fn limits(&self) -> ApduLimits {
        (**self).limits()
    }
    fn reconnect(&mut self) -> Result<(), TransportError> {
        (**self).reconnect()
    }
}

/// The in-memory APDU loop: a transport straight into an [`ApduDispatcher`].
#[derive(Debug)]
pub struct LoopbackTransport<S> {
    /// The card.
    pub dispatcher: ApduDispatcher<S>,
    /// The limits to announce (e.g. [`ApduLimits::SHORT`] to exercise chaining).
    pub limits: ApduLimits,
}

impl<S: SecureKeyStore> LoopbackTransport<S> {
    /// A loop into a fresh dispatcher over `store` with extended APDUs.
    pub fn new(store: S) -> Self {
        Self {
            dispatcher: ApduDispatcher::new(store),
            limits: ApduLimits::EXTENDED,
        }
    }
}

impl<S: SecureKeyStore> CardTransport for LoopbackTransport<S> {
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, TransportError> {
        Ok(self.dispatcher.process(apdu))
    }
    fn limits(&self) -> ApduLimits {
        self.limits
    }
}

/// The most call durations [`LinkMetrics`] keeps (later calls are counted, not timed).
pub const MAX_CALL_TIMES: usize = 1 << 20;

/// What crossed the link, for benchmarks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LinkMetrics {
    /// SKS calls made (including failed ones).
    pub calls: u64,
    /// Command APDUs sent (SELECTs, segments, GET RESPONSEs).
    pub apdus: u64,
    /// Command APDUs that were chain segments before the last.
    pub chained: u64,
    /// GET RESPONSE APDUs.
    pub get_responses: u64,
    /// Bytes of all command APDUs.
    pub bytes_to_card: u64,
    /// Bytes of all response APDUs.
    pub bytes_from_card: u64,
    /// Duration of each SKS call, in order (the first [`MAX_CALL_TIMES`]).
    pub call_times: Vec<(SksMethod, Duration)>,
}

impl LinkMetrics {
    /// The median and the 99th percentile of the call durations.
    pub fn latency_median_p99(&self) -> Option<(Duration, Duration)> {
        let mut t: Vec<Duration> = self.call_times.iter().map(|(_, d)| *d).collect();
        if t.is_empty() {
            return None;
        }
        t.sort();
        let pick = |q: f64| t[((t.len() - 1) as f64 * q).round() as usize];
        Some((pick(0.5), pick(0.99)))
    }
}

/// [`SecureKeyStore`] over APDUs through a [`CardTransport`].
///
/// The application is selected before the first call and again after the card was reset or
/// removed. Transport failures become `ERROR_NOT_AVAILABLE`/`ERROR_EXTERNAL`, binding errors
/// (unexpected status words, malformed responses) `ERROR_EXTERNAL`, and SKS errors from the
/// card are returned as they came ([APDU-ERR-003]).
#[derive(Debug)]
pub struct ApduSks<T> {
    transport: T,
    limits: ApduLimits,
    selected: Option<SelectInfo>,
    needs_reconnect: bool,
    metrics: LinkMetrics,
}

impl<T: CardTransport> ApduSks<T> {
    /// Wraps `transport`, using its limits.
    pub fn new(transport: T) -> Self {
        let limits = transport.limits();
        Self {
            transport,
            limits,
            selected: None,
            needs_reconnect: false,
            metrics: LinkMetrics::default(),
        }
    }

    /// Overrides the APDU limits (e.g. to force chaining).
    pub fn with_limits(mut self, limits: ApduLimits) -> Self {
        self.limits = limits;
        self
    }

    /// The transport.
    pub fn transport(&self) -> &T {
        &self.transport
    }

    /// The transport, mutably.
    pub fn transport_mut(&mut self) -> &mut T {
        &mut self.transport
    }

    /// Gives the transport back.
    pub fn into_transport(self) -> T {
        self.transport
    }

    /// The counters.
    pub fn metrics(&self) -> &LinkMetrics {
        &self.metrics
    }

    /// Clears the counters.
    pub fn reset_metrics(&mut self) {
        self.metrics = LinkMetrics::default();
    }

    /// What SELECT reported, once selected.
    pub fn select_info(&self) -> Option<SelectInfo> {
        self.selected
    }

    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, TransportError> {
        self.metrics.apdus += 1;
        self.metrics.bytes_to_card += apdu.len() as u64;
        let r = self.transport.transmit(apdu);
        match &r {
            Ok(resp) => self.metrics.bytes_from_card += resp.len() as u64,
            // A removed card, or a transport that gave up on an unanswered APDU: connect and
            // select afresh before the next call.
            Err(TransportError::CardRemoved(_) | TransportError::Timeout(_)) => {
                self.selected = None;
                self.needs_reconnect = true;
            }
            Err(_) => {}
        }
        // [APDU-TRN-002] pcscd answers "success, 0 bytes" when the card vanished mid-command.
        match r {
            Ok(resp) if resp.len() < 2 => {
                self.selected = None;
                self.needs_reconnect = true;
                Err(TransportError::CardRemoved(format!(
                    "response of {} bytes (no status word): the card is gone",
                    resp.len()
                )))
            }
            other => other,
        }
    }

    /// Selects the airtight application (done automatically before the first call).
    pub fn select(&mut self) -> Result<SelectInfo, SksError> {
        if self.needs_reconnect {
            // After a removal: a fresh connection to the (re-inserted) card first.
            self.transport.reconnect().map_err(|e| e.to_sks_error())?;
            self.needs_reconnect = false;
        }
        let resp = self
            .transmit(&apdu::select_command())
            .map_err(|e| e.to_sks_error())?;
        let (data, sw) =
            apdu::split_response(&resp).map_err(|e| SksError::external(format!("SELECT: {e}")))?;
        let data = if let Some(n) = sw.more_data() {
            // A reader that only passes short responses: fetch the 7 bytes.
            let gr = apdu::build_command(0x00, apdu::INS_GET_RESPONSE, 0, 0, &[], n, false)
                .map_err(|e| SksError::internal(e.to_string()))?;
            let resp = self.transmit(&gr).map_err(|e| e.to_sks_error())?;
            let (d, sw) = apdu::split_response(&resp)
                .map_err(|e| SksError::external(format!("SELECT: {e}")))?;
            if sw != StatusWord::OK {
                return Err(SksError::not_available(format!("SELECT answered {sw}")));
            }
            d.to_vec()
        } else if sw == StatusWord::OK {
            data.to_vec()
        } else {
            return Err(SksError::not_available(format!(
                "the card has no airtight SKS application: SELECT answered {sw}"
            )));
        };
        let info = SelectInfo::decode(&data).ok_or_else(|| {
            SksError::external(format!("SELECT returned {} bytes, not 7", data.len()))
        })?;
        self.selected = Some(info);
        Ok(info)
    }

    fn run(&mut self, call: &SksCall) -> Result<SksReturn, SksError> {
        let method = call.method();
        let payload = call
            .encode_payload()
            .map_err(|e| SksError::option(format!("{method}: {e}")))?;
        let mut retried = false;
        loop {
            if self.selected.is_none() {
                self.select()?;
            }
            match self.exchange(method, &payload) {
                // [APDU-SEL-005] the card was reset and lost the selection before it did
                // anything: select again and repeat the call once.
                Err((ExchangeError::Status { sw, .. }, apdus))
                    if sw == StatusWord::CONDITIONS_NOT_SATISFIED && apdus == 1 && !retried =>
                {
                    self.selected = None;
                    retried = true;
                }
                Err((e, _)) => return Err(exchange_error(method, e)),
                Ok(Err(e)) => return Err(e),
                Ok(Ok(result)) => {
                    return SksReturn::decode_payload(method, &result).map_err(|e| {
                        SksError::external(format!("{method}: malformed result from the card: {e}"))
                    });
                }
            }
        }
    }

    /// One exchange: `Ok(Ok(payload))`, `Ok(Err(transport failure))`, or the exchange error
    /// with the number of APDUs sent.
    #[allow(clippy::type_complexity)]
    fn exchange(
        &mut self,
        method: SksMethod,
        payload: &[u8],
    ) -> Result<Result<Vec<u8>, SksError>, (ExchangeError, usize)> {
        let (mut ex, first) = Exchange::start(method, payload, self.limits).map_err(|e| (e, 0))?;
        let mut apdu = first;
        loop {
            let resp = match self.transmit(&apdu) {
                Ok(r) => r,
                Err(e) => return Ok(Err(e.to_sks_error())),
            };
            match ex.on_response(&resp) {
                Ok(Step::Send(next)) => apdu = next,
                Ok(Step::Done(data)) => {
                    let counts = ex.counts();
                    self.metrics.chained += counts.chained as u64;
                    self.metrics.get_responses += counts.get_responses as u64;
                    return Ok(Ok(data));
                }
                Err(e) => return Err((e, ex.counts().apdus)),
            }
        }
    }
}

fn exchange_error(method: SksMethod, e: ExchangeError) -> SksError {
    match e {
        ExchangeError::Sks(s) => s,
        other => SksError::external(format!("{method}: {other}")),
    }
}

impl<T: CardTransport> CallSks for ApduSks<T> {
    fn call(&mut self, call: SksCall) -> Result<SksReturn, SksError> {
        let start = Instant::now();
        let r = self.run(&call);
        self.metrics.calls += 1;
        self.metrics
            .call_times
            .push((call.method(), start.elapsed()));
        r
    }
}

impl_secure_key_store_via_call!([<T: CardTransport>] ApduSks<T>);
