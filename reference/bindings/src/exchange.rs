//! The middleware half of one SKS call over APDUs, sans I/O: splits the command payload into
//! chained APDUs, follows `61xx` with GET RESPONSE, assembles the response payload and maps the
//! final status word (`spec/apdu.md` §5-§7).
//!
//! Drive it with [`Exchange::start`], send every APDU it returns, feed each response to
//! [`Exchange::on_response`] until it returns [`Step::Done`].

use std::collections::VecDeque;

use airtight_proto::codec::Reader;
use airtight_proto::sks::{SksError, SksMethod};
use thiserror::Error;

use crate::apdu::{
    self, ApduError, CLA_CHAIN, CLA_ISO, CLA_SKS, INS_GET_RESPONSE, MAX_MESSAGE, StatusWord,
};

/// What a reader and card accept: the APDU form and the data sizes per APDU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApduLimits {
    /// Extended-length APDUs are allowed.
    pub extended: bool,
    /// The largest data field of one command APDU (Nc); longer payloads are chained.
    pub max_command_data: usize,
    /// The Ne to ask for in every command (the largest response data per APDU).
    pub max_response_data: usize,
}

impl ApduLimits {
    /// Short APDUs only: 255 data bytes per command, 256 per response.
    pub const SHORT: Self = Self {
        extended: false,
        max_command_data: 255,
        max_response_data: 256,
    };

    /// Extended APDUs sized for vsmartcard's vpcd, whose frames carry at most 65535 bytes:
    /// a case-4E command has 9 bytes around its data, a response 2 bytes of status word.
    pub const EXTENDED: Self = Self {
        extended: true,
        max_command_data: 65526,
        max_response_data: 65533,
    };

    /// Checks the limits are usable: at least 1 byte each way, within the APDU form.
    pub fn validate(&self) -> Result<(), ExchangeError> {
        let (max_nc, max_ne) = if self.extended {
            (65535, 65536)
        } else {
            (255, 256)
        };
        if self.max_command_data == 0
            || self.max_command_data > max_nc
            || self.max_response_data == 0
            || self.max_response_data > max_ne
        {
            return Err(ExchangeError::BadLimits(*self));
        }
        Ok(())
    }
}

impl Default for ApduLimits {
    fn default() -> Self {
        Self::EXTENDED
    }
}

/// A call over APDUs failed below the SKS level (or the card reported an SKS error).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ExchangeError {
    /// The card answered with an SKS error status word `91 cc` and its message.
    #[error("{0}")]
    Sks(SksError),
    /// The card answered with a status word that is not part of a successful exchange.
    #[error("card answered {sw} to the {what} of {method}")]
    Status {
        /// The status word.
        sw: StatusWord,
        /// Which APDU (chain segment, last command, GET RESPONSE).
        what: &'static str,
        /// The method.
        method: SksMethod,
    },
    /// A response APDU was malformed (no status word: the card vanished mid-command).
    #[error("malformed response APDU: {0}")]
    Apdu(#[from] ApduError),
    /// Data came with a chain segment's 9000.
    #[error("card sent {0} data bytes with a chain segment acknowledgement")]
    UnexpectedData(usize),
    /// The response payload grew over [`MAX_MESSAGE`].
    #[error("response payload over {MAX_MESSAGE} bytes")]
    ResponseTooLong,
    /// The command payload is over [`MAX_MESSAGE`].
    #[error("command payload of {0} bytes is over {MAX_MESSAGE}")]
    CommandTooLong(usize),
    /// The error data of a `91 cc` response was not `L(UTF-8 message)`.
    #[error("malformed SKS error data with status word {0}")]
    BadErrorData(StatusWord),
    /// The limits are unusable.
    #[error("unusable APDU limits {0:?}")]
    BadLimits(ApduLimits),
    /// `on_response` after the exchange finished.
    #[error("exchange already finished")]
    Finished,
}

/// What to do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Transmit this APDU and feed its response back.
    Send(Vec<u8>),
    /// The call finished with this response payload.
    Done(Vec<u8>),
}

/// Counters of one exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ExchangeCounts {
    /// Command APDUs (segments plus GET RESPONSEs).
    pub apdus: usize,
    /// Of which chained segments before the last.
    pub chained: usize,
    /// Of which GET RESPONSEs.
    pub get_responses: usize,
}

#[derive(Debug)]
enum State {
    Chaining,
    Responding,
    Finished,
}

/// One SKS call over APDUs (sans I/O).
#[derive(Debug)]
pub struct Exchange {
    method: SksMethod,
    limits: ApduLimits,
    rest: VecDeque<Vec<u8>>,
    response: Vec<u8>,
    state: State,
    counts: ExchangeCounts,
}

impl Exchange {
    /// Starts a call of `method` with `payload`; returns the exchange and the first APDU.
    pub fn start(
        method: SksMethod,
        payload: &[u8],
        limits: ApduLimits,
    ) -> Result<(Self, Vec<u8>), ExchangeError> {
        limits.validate()?;
        if payload.len() > MAX_MESSAGE {
            return Err(ExchangeError::CommandTooLong(payload.len()));
        }
        let ins = apdu::ins_of(method);
        let p1 = method.number();
        let chunks: Vec<&[u8]> = if payload.is_empty() {
            vec![&[][..]]
        } else {
            payload.chunks(limits.max_command_data).collect()
        };
        let last = chunks.len() - 1;
        let mut rest = VecDeque::with_capacity(chunks.len());
        for (i, chunk) in chunks.into_iter().enumerate() {
            // [APDU-CHN-001] every segment but the last carries the chaining bit and no Le.
            let (cla, ne) = if i < last {
                (CLA_SKS | CLA_CHAIN, 0)
            } else {
                (CLA_SKS, limits.max_response_data)
            };
            rest.push_back(apdu::build_command(
                cla,
                ins,
                p1,
                0,
                chunk,
                ne,
                limits.extended,
            )?);
        }
        let first = rest.pop_front().ok_or(ExchangeError::Finished)?;
        let state = if rest.is_empty() {
            State::Responding
        } else {
            State::Chaining
        };
        let counts = ExchangeCounts {
            apdus: 1,
            chained: usize::from(!rest.is_empty()),
            get_responses: 0,
        };
        Ok((
            Self {
                method,
                limits,
                rest,
                response: Vec::new(),
                state,
                counts,
            },
            first,
        ))
    }

    /// The counters so far.
    pub fn counts(&self) -> ExchangeCounts {
        self.counts
    }

    /// Feeds the response to the APDU sent last.
    pub fn on_response(&mut self, rapdu: &[u8]) -> Result<Step, ExchangeError> {
        let result = self.step(rapdu);
        if !matches!(result, Ok(Step::Send(_))) {
            self.state = State::Finished;
        }
        result
    }

    fn step(&mut self, rapdu: &[u8]) -> Result<Step, ExchangeError> {
        // A finished exchange refuses every response, malformed ones included.
        if matches!(self.state, State::Finished) {
            return Err(ExchangeError::Finished);
        }
        let (data, sw) = apdu::split_response(rapdu)?;
        match self.state {
            State::Finished => Err(ExchangeError::Finished),
            State::Chaining => {
                if sw != StatusWord::OK {
                    return Err(self.fail(sw, data, "chain segment"));
                }
                if !data.is_empty() {
                    return Err(ExchangeError::UnexpectedData(data.len()));
                }
                let next = self.rest.pop_front().ok_or(ExchangeError::Finished)?;
                self.counts.apdus += 1;
                if self.rest.is_empty() {
                    self.state = State::Responding;
                } else {
                    self.counts.chained += 1;
                }
                Ok(Step::Send(next))
            }
            State::Responding => {
                if self.response.len() + data.len() > MAX_MESSAGE {
                    return Err(ExchangeError::ResponseTooLong);
                }
                self.response.extend_from_slice(data);
                if sw == StatusWord::OK {
                    return Ok(Step::Done(std::mem::take(&mut self.response)));
                }
                if sw.more_data().is_some() {
                    // [APDU-GR-002] ask for the rest with the largest Ne the reader allows.
                    self.counts.apdus += 1;
                    self.counts.get_responses += 1;
                    return Ok(Step::Send(apdu::build_command(
                        CLA_ISO,
                        INS_GET_RESPONSE,
                        0,
                        0,
                        &[],
                        self.limits.max_response_data,
                        self.limits.extended,
                    )?));
                }
                let what = if self.counts.get_responses > 0 {
                    "GET RESPONSE"
                } else {
                    "command"
                };
                let all = std::mem::take(&mut self.response);
                Err(self.fail(sw, &all, what))
            }
        }
    }

    fn fail(&self, sw: StatusWord, data: &[u8], what: &'static str) -> ExchangeError {
        match sw.sks_error() {
            Some(code) => match decode_error_text(data) {
                Some(message) => ExchangeError::Sks(SksError::new(code, message)),
                None => ExchangeError::BadErrorData(sw),
            },
            None => ExchangeError::Status {
                sw,
                what,
                method: self.method,
            },
        }
    }
}

/// The error data of a `91 cc` response: `L(UTF-8 message)` ([APDU-ERR-002]).
pub fn encode_error_text(message: &str) -> Vec<u8> {
    let bytes = message.as_bytes();
    let n = bytes.len().min(u16::MAX as usize);
    let mut out = Vec::with_capacity(n + 2);
    out.extend_from_slice(&(n as u16).to_be_bytes());
    out.extend_from_slice(&bytes[..n]);
    out
}

/// Decodes `L(UTF-8 message)` strictly.
pub fn decode_error_text(data: &[u8]) -> Option<String> {
    let mut r = Reader::new(data);
    let b = r.l().ok()?;
    r.finish().ok()?;
    String::from_utf8(b.to_vec()).ok()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// Found by the `apdu_exchange` fuzz target: after the end, a response without a status
    /// word was reported as a malformed APDU instead of "exchange already finished".
    #[test]
    fn a_finished_exchange_refuses_every_response_as_finished() {
        let (mut ex, _) =
            Exchange::start(SksMethod::GetDeviceInfo, &[], ApduLimits::SHORT).unwrap();
        assert_eq!(ex.on_response(&[0x90, 0x00]), Ok(Step::Done(Vec::new())));
        for late in [
            &[][..],
            &[0x90][..],
            &[0x90, 0x00][..],
            &[1, 2, 0x61, 0x00][..],
        ] {
            assert_eq!(
                ex.on_response(late),
                Err(ExchangeError::Finished),
                "{late:?}"
            );
        }
    }
}
