//! ISO 7816-4 command/response APDUs, the airtight AID, the instruction table and the status
//! words of the SKS APDU binding (`spec/apdu.md`). Pure functions, no I/O.

use airtight_proto::sks::{SksErrorCode, SksMethod};
use thiserror::Error;

/// The AID of the airtight SKS application: `F0 61 69 72 74 69 67 68 74 53 4B 53 01`
/// (`F0` proprietary, "airtightSKS", binding version 1) ([APDU-SEL-001]).
pub const AID: &[u8] = &[
    0xF0, b'a', b'i', b'r', b't', b'i', b'g', b'h', b't', b'S', b'K', b'S', 0x01,
];

/// The binding version reported in the SELECT response.
pub const BINDING_VERSION: u8 = 1;

/// CLA of an SKS method command (proprietary class, no secure messaging, channel 0).
pub const CLA_SKS: u8 = 0x80;
/// The command-chaining bit of CLA ([APDU-CHN-001]).
pub const CLA_CHAIN: u8 = 0x10;
/// CLA of SELECT and GET RESPONSE (interindustry).
pub const CLA_ISO: u8 = 0x00;
/// INS of SELECT.
pub const INS_SELECT: u8 = 0xA4;
/// INS of GET RESPONSE.
pub const INS_GET_RESPONSE: u8 = 0xC0;

/// The largest assembled command or response payload of one SKS call (1 MiB) ([APDU-LIM-001]).
pub const MAX_MESSAGE: usize = 1 << 20;

/// The INS byte of `method` ([APDU-INS-001]): an even value outside `6X`/`9X`, grouped like the
/// PDF method numbers.
pub const fn ins_of(method: SksMethod) -> u8 {
    let n = method.number();
    match n {
        1..=15 => 2 * n,
        50..=53 => 0x30 + 2 * (n - 50),
        70..=74 => 0x40 + 2 * (n - 70),
        80..=84 => 0x50 + 2 * (n - 80),
        90 => 0x5A,
        // 100..=104
        _ => 0x70 + 2 * (n - 100),
    }
}

/// The method of an INS byte, if it names one.
pub fn method_of_ins(ins: u8) -> Option<SksMethod> {
    SksMethod::ALL.iter().copied().find(|m| ins_of(*m) == ins)
}

/// A status word (SW1 SW2), keeping unknown values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StatusWord(pub u16);

impl StatusWord {
    /// 9000: success.
    pub const OK: Self = Self(0x9000);
    /// 6700: wrong length (Lc/Le encoding does not match the APDU) ([APDU-MAL-001]).
    pub const WRONG_LENGTH: Self = Self(0x6700);
    /// 6883: the last command of a chain was expected ([APDU-CHN-004]).
    pub const LAST_COMMAND_EXPECTED: Self = Self(0x6883);
    /// 6985: conditions of use not satisfied (no application selected, nothing to GET).
    pub const CONDITIONS_NOT_SATISFIED: Self = Self(0x6985);
    /// 6A80: incorrect data (the payload does not decode) ([APDU-MAL-003]).
    pub const WRONG_DATA: Self = Self(0x6A80);
    /// 6A82: application not found.
    pub const NOT_FOUND: Self = Self(0x6A82);
    /// 6A84: not enough memory (the assembled payload is over the maximum) ([APDU-LIM-002]).
    pub const TOO_LONG: Self = Self(0x6A84);
    /// 6B00: wrong P1/P2.
    pub const WRONG_P1P2: Self = Self(0x6B00);
    /// 6D00: INS not supported.
    pub const INS_NOT_SUPPORTED: Self = Self(0x6D00);
    /// 6E00: CLA not supported.
    pub const CLA_NOT_SUPPORTED: Self = Self(0x6E00);
    /// 6F00: no precise diagnosis (an internal binding failure).
    pub const UNKNOWN: Self = Self(0x6F00);
    /// SW1 of "more data available" ([APDU-GR-001]).
    pub const SW1_MORE: u8 = 0x61;
    /// SW1 of an SKS error; SW2 is the SKS error code ([APDU-ERR-001]).
    pub const SW1_SKS_ERROR: u8 = 0x91;

    /// SW1.
    pub const fn sw1(self) -> u8 {
        (self.0 >> 8) as u8
    }

    /// SW2.
    pub const fn sw2(self) -> u8 {
        self.0 as u8
    }

    /// From SW1 and SW2.
    pub const fn new(sw1: u8, sw2: u8) -> Self {
        Self(((sw1 as u16) << 8) | sw2 as u16)
    }

    /// The status word of an SKS error code: `91 cc` ([APDU-ERR-001]).
    pub const fn for_sks_error(code: SksErrorCode) -> Self {
        Self::new(Self::SW1_SKS_ERROR, code.to_byte())
    }

    /// The SKS error code this status word carries, if it is a `91 cc` with a defined `cc`.
    pub fn sks_error(self) -> Option<SksErrorCode> {
        if self.sw1() == Self::SW1_SKS_ERROR {
            SksErrorCode::from_byte(self.sw2()).ok()
        } else {
            None
        }
    }

    /// `61 xx`: more response data; `xx` is the count, 0 meaning 256 or more.
    pub fn more_data(self) -> Option<usize> {
        if self.sw1() == Self::SW1_MORE {
            Some(if self.sw2() == 0 {
                256
            } else {
                self.sw2() as usize
            })
        } else {
            None
        }
    }

    /// A short description for error messages.
    pub fn describe(self) -> &'static str {
        match self {
            Self::OK => "success",
            Self::WRONG_LENGTH => "wrong length",
            Self::LAST_COMMAND_EXPECTED => "last command of the chain expected",
            Self::CONDITIONS_NOT_SATISFIED => "conditions of use not satisfied",
            Self::WRONG_DATA => "incorrect data field",
            Self::NOT_FOUND => "application not found",
            Self::TOO_LONG => "payload over the maximum size",
            Self::WRONG_P1P2 => "wrong P1/P2",
            Self::INS_NOT_SUPPORTED => "INS not supported",
            Self::CLA_NOT_SUPPORTED => "CLA not supported",
            _ if self.sw1() == Self::SW1_MORE => "more data available",
            _ if self.sw1() == Self::SW1_SKS_ERROR => "SKS error",
            _ => "unexpected status word",
        }
    }
}

impl std::fmt::Display for StatusWord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04X} ({})", self.0, self.describe())
    }
}

/// A command APDU does not parse ([APDU-MAL-001]).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ApduError {
    /// Fewer than 4 header bytes.
    #[error("command APDU of {0} bytes is shorter than its 4-byte header")]
    TooShort(usize),
    /// The body matches none of the ISO 7816-3 cases (truncated or extra bytes).
    #[error("command APDU body of {0} bytes matches no ISO 7816 case (truncated or over-long)")]
    BadBody(usize),
    /// An extended Lc of 0 (`00 00 00`) followed by data.
    #[error("extended Lc of zero")]
    ZeroLc,
    /// A response APDU of fewer than 2 bytes (the card is gone).
    #[error("response APDU of {0} bytes has no status word")]
    NoStatusWord(usize),
    /// The data does not fit the chosen APDU form.
    #[error("{0} data bytes do not fit a {1} APDU")]
    DataTooLong(usize, &'static str),
}

/// A parsed command APDU (ISO 7816-3 cases 1, 2S, 3S, 4S, 2E, 3E, 4E).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command<'a> {
    /// CLA.
    pub cla: u8,
    /// INS.
    pub ins: u8,
    /// P1.
    pub p1: u8,
    /// P2.
    pub p2: u8,
    /// The data field (empty if no Lc).
    pub data: &'a [u8],
    /// Ne, the maximum response data length; `None` without Le (no data expected).
    pub ne: Option<usize>,
    /// True for the extended form.
    pub extended: bool,
}

impl<'a> Command<'a> {
    /// Parses strictly: the length fields must account for every byte ([APDU-MAL-001]).
    pub fn parse(apdu: &'a [u8]) -> Result<Self, ApduError> {
        if apdu.len() < 4 {
            return Err(ApduError::TooShort(apdu.len()));
        }
        let (cla, ins, p1, p2) = (apdu[0], apdu[1], apdu[2], apdu[3]);
        let body = &apdu[4..];
        let mk = |data: &'a [u8], ne: Option<usize>, extended: bool| Command {
            cla,
            ins,
            p1,
            p2,
            data,
            ne,
            extended,
        };
        let short_ne = |b: u8| if b == 0 { 256 } else { b as usize };
        let ext_ne = |hi: u8, lo: u8| {
            let n = ((hi as usize) << 8) | lo as usize;
            if n == 0 { 65536 } else { n }
        };
        match body.len() {
            0 => return Ok(mk(&[], None, false)),
            1 => return Ok(mk(&[], Some(short_ne(body[0])), false)),
            _ => {}
        }
        if body[0] != 0 {
            // Short case 3 or 4.
            let lc = body[0] as usize;
            return match body.len() - 1 {
                n if n == lc => Ok(mk(&body[1..], None, false)),
                n if n == lc + 1 => Ok(mk(&body[1..=lc], Some(short_ne(body[lc + 1])), false)),
                _ => Err(ApduError::BadBody(body.len())),
            };
        }
        // Extended: body[0] == 0.
        if body.len() == 3 {
            return Ok(mk(&[], Some(ext_ne(body[1], body[2])), true));
        }
        if body.len() < 3 {
            return Err(ApduError::BadBody(body.len()));
        }
        let lc = ((body[1] as usize) << 8) | body[2] as usize;
        if lc == 0 {
            return Err(ApduError::ZeroLc);
        }
        match body.len() - 3 {
            n if n == lc => Ok(mk(&body[3..], None, true)),
            n if n == lc + 2 => Ok(mk(
                &body[3..3 + lc],
                Some(ext_ne(body[3 + lc], body[4 + lc])),
                true,
            )),
            _ => Err(ApduError::BadBody(body.len())),
        }
    }
}

/// Builds a command APDU; the extended form is used when `extended` is set or the sizes need
/// it. `ne` of 0 means no Le.
pub fn build_command(
    cla: u8,
    ins: u8,
    p1: u8,
    p2: u8,
    data: &[u8],
    ne: usize,
    extended: bool,
) -> Result<Vec<u8>, ApduError> {
    let ext = extended || data.len() > 255 || ne > 256;
    let mut out = Vec::with_capacity(data.len() + 9);
    out.extend_from_slice(&[cla, ins, p1, p2]);
    if ext {
        if data.len() > 65535 {
            return Err(ApduError::DataTooLong(data.len(), "extended"));
        }
        if ne > 65536 {
            return Err(ApduError::DataTooLong(ne, "extended Le"));
        }
        if !data.is_empty() {
            out.push(0);
            out.extend_from_slice(&(data.len() as u16).to_be_bytes());
            out.extend_from_slice(data);
        }
        if ne > 0 {
            if data.is_empty() {
                out.push(0);
            }
            out.extend_from_slice(&((ne % 65536) as u16).to_be_bytes());
        }
    } else {
        if !data.is_empty() {
            out.push(data.len() as u8);
            out.extend_from_slice(data);
        }
        if ne > 0 {
            out.push((ne % 256) as u8);
        }
    }
    Ok(out)
}

/// Splits a response APDU into data and status word; fewer than 2 bytes is an error (vpcd and
/// pcscd return an empty response when the card vanished mid-command).
pub fn split_response(rapdu: &[u8]) -> Result<(&[u8], StatusWord), ApduError> {
    if rapdu.len() < 2 {
        return Err(ApduError::NoStatusWord(rapdu.len()));
    }
    let (data, sw) = rapdu.split_at(rapdu.len() - 2);
    Ok((data, StatusWord::new(sw[0], sw[1])))
}

/// A response APDU: `data ‖ SW1 SW2`.
pub fn response(data: &[u8], sw: StatusWord) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 2);
    out.extend_from_slice(data);
    out.extend_from_slice(&sw.0.to_be_bytes());
    out
}

/// The SELECT command for the airtight AID.
pub fn select_command() -> Vec<u8> {
    let mut out = vec![CLA_ISO, INS_SELECT, 0x04, 0x00, AID.len() as u8];
    out.extend_from_slice(AID);
    out.push(0x00);
    out
}

/// The SELECT response data ([APDU-SEL-003]): binding version, SKS API level, the maximum
/// assembled payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SelectInfo {
    /// Binding version ([`BINDING_VERSION`]).
    pub binding_version: u8,
    /// SKS API level.
    pub api_level: u16,
    /// The largest assembled command or response payload the card accepts.
    pub max_message: u32,
}

impl SelectInfo {
    /// The 7 data bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![self.binding_version];
        out.extend_from_slice(&self.api_level.to_be_bytes());
        out.extend_from_slice(&self.max_message.to_be_bytes());
        out
    }

    /// From the 7 data bytes.
    pub fn decode(data: &[u8]) -> Option<Self> {
        if data.len() != 7 {
            return None;
        }
        Some(Self {
            binding_version: data[0],
            api_level: u16::from_be_bytes([data[1], data[2]]),
            max_message: u32::from_be_bytes([data[3], data[4], data[5], data[6]]),
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn ins_table_is_injective_and_valid() {
        // [APDU-INS-001] [APDU-INS-002]
        let mut seen = std::collections::BTreeSet::new();
        for m in SksMethod::ALL {
            let ins = ins_of(*m);
            assert_eq!(ins % 2, 0, "{m}: odd INS");
            assert!(!(0x60..=0x6F).contains(&ins) && !(0x90..=0x9F).contains(&ins));
            assert!(ins != INS_SELECT && ins != INS_GET_RESPONSE);
            assert!(seen.insert(ins), "{m}: duplicate INS");
            assert_eq!(method_of_ins(ins), Some(*m));
        }
        assert_eq!(ins_of(SksMethod::GetDeviceInfo), 0x02);
        assert_eq!(ins_of(SksMethod::PostDeleteKey), 0x30);
        assert_eq!(ins_of(SksMethod::SymmetricKeyEncrypt), 0x78);
    }

    #[test]
    fn parse_all_cases() {
        // [APDU-APDU-001]
        let c = Command::parse(&[0x80, 2, 1, 0]).unwrap();
        assert_eq!((c.data, c.ne, c.extended), (&[][..], None, false));
        let c = Command::parse(&[0x80, 2, 1, 0, 0]).unwrap();
        assert_eq!(c.ne, Some(256));
        let c = Command::parse(&[0x80, 2, 1, 0, 2, 9, 9]).unwrap();
        assert_eq!((c.data, c.ne), (&[9, 9][..], None));
        let c = Command::parse(&[0x80, 2, 1, 0, 2, 9, 9, 7]).unwrap();
        assert_eq!(c.ne, Some(7));
        let c = Command::parse(&[0x80, 2, 1, 0, 0, 0, 0]).unwrap();
        assert_eq!((c.ne, c.extended), (Some(65536), true));
        let c = Command::parse(&[0x80, 2, 1, 0, 0, 0, 1, 5]).unwrap();
        assert_eq!((c.data, c.ne), (&[5][..], None));
        let c = Command::parse(&[0x80, 2, 1, 0, 0, 0, 1, 5, 1, 0]).unwrap();
        assert_eq!(c.ne, Some(256));
    }

    #[test]
    fn truncated_and_overlong_rejected() {
        // [APDU-MAL-001]
        assert_eq!(Command::parse(&[0x80, 2, 1]), Err(ApduError::TooShort(3)));
        assert!(Command::parse(&[0x80, 2, 1, 0, 3, 9, 9]).is_err()); // truncated
        assert!(Command::parse(&[0x80, 2, 1, 0, 1, 9, 9, 9]).is_err()); // extra
        assert!(Command::parse(&[0x80, 2, 1, 0, 0, 0, 3, 9]).is_err());
        assert!(Command::parse(&[0x80, 2, 1, 0, 0, 0]).is_err());
        assert_eq!(
            Command::parse(&[0x80, 2, 1, 0, 0, 0, 0, 1]),
            Err(ApduError::ZeroLc)
        );
    }

    #[test]
    fn build_then_parse() {
        for (len, ne, ext) in [
            (0, 0, false),
            (0, 256, false),
            (255, 256, false),
            (256, 0, false),
            (3, 65536, false),
            (65535, 65533, true),
            (0, 65536, true),
        ] {
            let data = vec![7u8; len];
            let a = build_command(0x80, 2, 1, 0, &data, ne, ext).unwrap();
            let c = Command::parse(&a).unwrap();
            assert_eq!(c.data, &data[..]);
            assert_eq!(c.ne, if ne == 0 { None } else { Some(ne) });
        }
        assert!(build_command(0x80, 2, 1, 0, &vec![0; 65536], 0, true).is_err());
    }

    #[test]
    fn status_words() {
        // [APDU-ERR-001]
        for code in SksErrorCode::ALL {
            let sw = StatusWord::for_sks_error(*code);
            assert_eq!(sw.sw1(), 0x91);
            assert_eq!(sw.sks_error(), Some(*code));
        }
        assert_eq!(StatusWord(0x9100).sks_error(), None);
        assert_eq!(StatusWord(0x6100).more_data(), Some(256));
        assert_eq!(StatusWord(0x6110).more_data(), Some(16));
        assert_eq!(split_response(&[0x90]), Err(ApduError::NoStatusWord(1)));
    }

    #[test]
    fn select_info_round_trip() {
        // [APDU-SEL-003]
        let i = SelectInfo {
            binding_version: 1,
            api_level: 106,
            max_message: MAX_MESSAGE as u32,
        };
        assert_eq!(SelectInfo::decode(&i.encode()), Some(i));
        assert_eq!(i.encode(), vec![1, 0, 106, 0, 0x10, 0, 0]);
    }
}
