//! Field-level codecs shared by the APDU binding (binary, `spec/apdu.md` §4) and the shim
//! (JSON, `spec/shim.md` §4): one [`Wire`] implementation per parameter or result type, so
//! every method's encoding is the ordered list of its fields.
//!
//! Binary forms ([APDU-ENC-*]): handles and `uint` as 4 bytes big-endian, `ushort` as 2, bool
//! as 0x00/0x01, enumerations and bit sets as one byte, strings as `L()` (ushort length + UTF-8),
//! byte strings as `blob` (uint length + bytes), an optional value as a presence byte 0x00/0x01
//! followed by the value when 0x01, a list as a ushort count followed by the items.
//!
//! JSON forms ([SHIM-ENC-*]): handles and integers as JSON numbers, bools as JSON booleans,
//! enumerations as their KeyGen2 names, bit sets and `deviceType`/`subType` as numbers, byte
//! strings as unpadded Base64URL strings, an absent optional value as `null`, lists as arrays,
//! records as objects with camelCase members (every member present, no others).

use airtight_proto::codec::{ReadError, Reader, TooLong, Writer, b64url};
use airtight_proto::policy::{
    AppUsage, BiometricProtection, ByteEnum, DeleteProtection, EnumArg, ExportProtection, Grouping,
    InputMethod, PassphraseFormat, PatternRestrictions, UnknownValue,
};
use airtight_proto::sks::{
    CreateKeyEntryParams, CreatePinPolicyParams, CreateProvisioningSessionParams,
    CreatePukPolicyParams, DeviceInfo, DeviceType, EnumeratedKey, EnumeratedProvisioningSession,
    Extension, ExtensionSubType, KeyAttributes, KeyBackup, KeyData, KeyHandle, KeyProtectionInfo,
    PinPolicyHandle, PinPolicyInfo, ProtectionStatus, ProvisioningHandle,
    ProvisioningSessionResult, PukPolicyHandle, PukPolicyInfo,
};
use serde_json::{Map, Value};
use thiserror::Error;
use zeroize::Zeroizing;

/// A value could not be encoded (a string over 65535 bytes, a list over 65535 items, an
/// undefined enumeration value received by name, which has no byte form).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("field {field}: {source}")]
pub struct EncodeError {
    /// The field.
    pub field: &'static str,
    /// What could not be encoded.
    #[source]
    pub source: EncodeProblem,
}

/// Why a value could not be encoded.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum EncodeProblem {
    /// A string, byte string or list is over its length limit.
    #[error(transparent)]
    TooLong(#[from] TooLong),
    /// An undefined enumeration value known only by its JSON name has no byte form.
    #[error("{0}: no byte form")]
    NoByte(UnknownValue),
}

/// A byte string or JSON value does not decode to the expected type. Names the field.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DecodeError {
    /// The bytes ended early ([APDU-ENC-010]).
    #[error("field {field}: {source}")]
    Read {
        /// The field.
        field: &'static str,
        /// The reader's error.
        #[source]
        source: ReadError,
    },
    /// Bytes were left after the last field ([APDU-ENC-010]).
    #[error("{0} trailing bytes after the last field")]
    Trailing(usize),
    /// A string was not UTF-8.
    #[error("field {field}: not valid UTF-8")]
    Utf8 {
        /// The field.
        field: &'static str,
    },
    /// A bool or presence byte was neither 0x00 nor 0x01.
    #[error("field {field}: byte 0x{value:02x} is neither 0x00 nor 0x01")]
    BadFlag {
        /// The field.
        field: &'static str,
        /// The byte.
        value: u8,
    },
    /// A result's value is well-formed but names no value of its enumeration. (Call
    /// arguments never fail this way: they decode as `EnumArg`, and the SKS rejects an
    /// undefined one, [APDU-ERR-004], [SHIM-ERR-004].)
    #[error("field {field}: {source}")]
    Value {
        /// The field.
        field: &'static str,
        /// The unknown value.
        #[source]
        source: UnknownValue,
    },
    /// A JSON value has the wrong type or range.
    #[error("member {field}: {reason}")]
    Json {
        /// The member.
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// A JSON object lacks a member.
    #[error("missing member {0:?}")]
    Missing(&'static str),
    /// A JSON object has a member the encoding does not define.
    #[error("unknown member {0:?}")]
    UnknownMember(String),
    /// A method number or name is not defined.
    #[error("unknown method {0}")]
    UnknownMethod(String),
}

impl DecodeError {
    pub(crate) fn read(field: &'static str) -> impl FnOnce(ReadError) -> DecodeError {
        move |source| DecodeError::Read { field, source }
    }

    fn json(field: &'static str, reason: impl Into<String>) -> DecodeError {
        DecodeError::Json {
            field,
            reason: reason.into(),
        }
    }
}

/// One parameter or result type, in both encodings.
pub trait Wire: Sized {
    /// Appends the binary form.
    fn put(&self, w: &mut Writer, field: &'static str) -> Result<(), EncodeError>;
    /// Reads the binary form.
    fn get(r: &mut Reader<'_>, field: &'static str) -> Result<Self, DecodeError>;
    /// The JSON form.
    fn to_json(&self) -> Value;
    /// From the JSON form (strict).
    fn from_json(v: &Value, field: &'static str) -> Result<Self, DecodeError>;

    /// Puts this value into a call's `params` object under `key`. Parameter records (the
    /// `create*` parameter structs) are flattened into the object instead ([SHIM-ENC-003]).
    fn json_put(&self, key: &'static str, obj: &mut Map<String, Value>) {
        obj.insert(key.to_owned(), self.to_json());
    }

    /// Takes this value out of a call's `params` object (the counterpart of
    /// [`Wire::json_put`]); the caller rejects members left over.
    fn json_take(obj: &mut Map<String, Value>, key: &'static str) -> Result<Self, DecodeError> {
        let v = obj.remove(key).ok_or(DecodeError::Missing(key))?;
        Self::from_json(&v, key)
    }
}

/// Deterministic sample values of every wire type, for property tests and benchmarks (not for
/// production use: the generator is not cryptographic).
#[doc(hidden)]
pub mod sample {
    /// A splitmix64 generator.
    #[derive(Debug, Clone)]
    pub struct SampleRng(u64);

    impl SampleRng {
        /// From a seed.
        pub fn new(seed: u64) -> Self {
            Self(seed)
        }
        /// The next 64 bits.
        pub fn next_u64(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }
        /// A value in `0..n` (`n` > 0).
        pub fn below(&mut self, n: usize) -> usize {
            (self.next_u64() % n.max(1) as u64) as usize
        }
        /// Up to `max` random bytes; sometimes long (up to `4 * max`) to exercise chaining.
        pub fn bytes(&mut self, max: usize) -> Vec<u8> {
            let n = if self.below(8) == 0 {
                self.below(4 * max + 1)
            } else {
                self.below(max + 1)
            };
            (0..n).map(|_| self.next_u64() as u8).collect()
        }
        /// A short string with some non-ASCII characters.
        pub fn string(&mut self) -> String {
            const CHARS: &[char] = &['a', 'Z', '0', '#', '/', ':', 'é', '€', '𝄞', '"', '\\', ' '];
            let n = self.below(24);
            (0..n).map(|_| CHARS[self.below(CHARS.len())]).collect()
        }
    }

    /// A type with sample values.
    pub trait Sample {
        /// A sample value.
        fn sample(r: &mut SampleRng) -> Self;
    }
}

use sample::{Sample, SampleRng};

impl Sample for bool {
    fn sample(r: &mut SampleRng) -> Self {
        r.below(2) == 1
    }
}
impl Sample for u16 {
    fn sample(r: &mut SampleRng) -> Self {
        r.next_u64() as u16
    }
}
impl Sample for u32 {
    fn sample(r: &mut SampleRng) -> Self {
        r.next_u64() as u32
    }
}
impl Sample for () {
    fn sample(_: &mut SampleRng) -> Self {}
}
impl Sample for String {
    fn sample(r: &mut SampleRng) -> Self {
        r.string()
    }
}
impl Sample for Vec<u8> {
    fn sample(r: &mut SampleRng) -> Self {
        r.bytes(300)
    }
}
impl Sample for Zeroizing<Vec<u8>> {
    fn sample(r: &mut SampleRng) -> Self {
        Zeroizing::new(r.bytes(300))
    }
}
impl<T: Sample> Sample for Option<T> {
    fn sample(r: &mut SampleRng) -> Self {
        if r.below(2) == 0 {
            None
        } else {
            Some(T::sample(r))
        }
    }
}
impl Sample for Vec<String> {
    fn sample(r: &mut SampleRng) -> Self {
        let n = r.below(4);
        (0..n).map(|_| r.string()).collect()
    }
}
impl Sample for Vec<Vec<u8>> {
    fn sample(r: &mut SampleRng) -> Self {
        let n = r.below(4);
        (0..n).map(|_| r.bytes(600)).collect()
    }
}
macro_rules! sample_handle {
    ($($t:ident),+) => {$(
        impl Sample for $t {
            fn sample(r: &mut SampleRng) -> Self { $t(u32::sample(r)) }
        }
    )+};
}
sample_handle!(
    ProvisioningHandle,
    KeyHandle,
    PinPolicyHandle,
    PukPolicyHandle
);
macro_rules! sample_all {
    ($($t:ident),+) => {$(
        impl Sample for $t {
            fn sample(r: &mut SampleRng) -> Self { $t::ALL[r.below($t::ALL.len())] }
        }
    )+};
}
sample_all!(
    PassphraseFormat,
    Grouping,
    InputMethod,
    BiometricProtection,
    ExportProtection,
    DeleteProtection,
    AppUsage,
    ExtensionSubType
);
/// One call argument in four is an undefined byte (a byte `T` does not define).
impl<T: ByteEnum + Sample> Sample for EnumArg<T> {
    fn sample(r: &mut SampleRng) -> Self {
        if r.below(4) == 0 {
            loop {
                let b = r.next_u64() as u8;
                if T::from_byte(b).is_err() {
                    return EnumArg::from_byte(b);
                }
            }
        }
        EnumArg::Defined(T::sample(r))
    }
}
macro_rules! sample_masked {
    ($($t:ident = $mask:expr),+) => {$(
        impl Sample for $t {
            fn sample(r: &mut SampleRng) -> Self {
                let b = (r.next_u64() as u8) & $mask;
                $t::from_byte(b).unwrap_or_else(|_| $t::sample(r))
            }
        }
    )+};
}
sample_masked!(
    PatternRestrictions = PatternRestrictions::MASK,
    DeviceType = DeviceType::MASK,
    ProtectionStatus = ProtectionStatus::MASK,
    KeyBackup = KeyBackup::MASK
);

fn put_l(w: &mut Writer, field: &'static str, bytes: &[u8]) -> Result<(), EncodeError> {
    w.l(bytes).map(|_| ()).map_err(|source| EncodeError {
        field,
        source: source.into(),
    })
}

fn put_count(w: &mut Writer, field: &'static str, n: usize) -> Result<(), EncodeError> {
    let n = u16::try_from(n).map_err(|_| EncodeError {
        field,
        source: TooLong {
            what: "list",
            len: n,
            max: u16::MAX as usize,
        }
        .into(),
    })?;
    w.ushort(n);
    Ok(())
}

fn json_u64(v: &Value, field: &'static str, max: u64) -> Result<u64, DecodeError> {
    let n = v
        .as_u64()
        .ok_or_else(|| DecodeError::json(field, "expected a non-negative integer"))?;
    if n > max {
        return Err(DecodeError::json(field, format!("{n} is over {max}")));
    }
    Ok(n)
}

fn json_str<'a>(v: &'a Value, field: &'static str) -> Result<&'a str, DecodeError> {
    v.as_str()
        .ok_or_else(|| DecodeError::json(field, "expected a string"))
}

impl Wire for bool {
    fn put(&self, w: &mut Writer, _: &'static str) -> Result<(), EncodeError> {
        w.bool(*self);
        Ok(())
    }
    fn get(r: &mut Reader<'_>, field: &'static str) -> Result<Self, DecodeError> {
        match r.byte().map_err(DecodeError::read(field))? {
            0 => Ok(false),
            1 => Ok(true),
            value => Err(DecodeError::BadFlag { field, value }),
        }
    }
    fn to_json(&self) -> Value {
        Value::Bool(*self)
    }
    fn from_json(v: &Value, field: &'static str) -> Result<Self, DecodeError> {
        v.as_bool()
            .ok_or_else(|| DecodeError::json(field, "expected true or false"))
    }
}

impl Wire for u16 {
    fn put(&self, w: &mut Writer, _: &'static str) -> Result<(), EncodeError> {
        w.ushort(*self);
        Ok(())
    }
    fn get(r: &mut Reader<'_>, field: &'static str) -> Result<Self, DecodeError> {
        r.ushort().map_err(DecodeError::read(field))
    }
    fn to_json(&self) -> Value {
        Value::from(*self)
    }
    fn from_json(v: &Value, field: &'static str) -> Result<Self, DecodeError> {
        Ok(json_u64(v, field, u64::from(u16::MAX))? as u16)
    }
}

impl Wire for u32 {
    fn put(&self, w: &mut Writer, _: &'static str) -> Result<(), EncodeError> {
        w.uint(*self);
        Ok(())
    }
    fn get(r: &mut Reader<'_>, field: &'static str) -> Result<Self, DecodeError> {
        r.uint().map_err(DecodeError::read(field))
    }
    fn to_json(&self) -> Value {
        Value::from(*self)
    }
    fn from_json(v: &Value, field: &'static str) -> Result<Self, DecodeError> {
        Ok(json_u64(v, field, u64::from(u32::MAX))? as u32)
    }
}

/// Unit results (`()`): no bytes, JSON `null`.
impl Wire for () {
    fn put(&self, _: &mut Writer, _: &'static str) -> Result<(), EncodeError> {
        Ok(())
    }
    fn get(_: &mut Reader<'_>, _: &'static str) -> Result<Self, DecodeError> {
        Ok(())
    }
    fn to_json(&self) -> Value {
        Value::Null
    }
    fn from_json(v: &Value, field: &'static str) -> Result<Self, DecodeError> {
        if v.is_null() {
            Ok(())
        } else {
            Err(DecodeError::json(field, "expected null"))
        }
    }
}

impl Wire for String {
    fn put(&self, w: &mut Writer, field: &'static str) -> Result<(), EncodeError> {
        put_l(w, field, self.as_bytes())
    }
    fn get(r: &mut Reader<'_>, field: &'static str) -> Result<Self, DecodeError> {
        let b = r.l().map_err(DecodeError::read(field))?;
        std::str::from_utf8(b)
            .map(str::to_owned)
            .map_err(|_| DecodeError::Utf8 { field })
    }
    fn to_json(&self) -> Value {
        Value::String(self.clone())
    }
    fn from_json(v: &Value, field: &'static str) -> Result<Self, DecodeError> {
        let s = json_str(v, field)?;
        if s.len() > u16::MAX as usize {
            return Err(DecodeError::json(field, "string over 65535 bytes"));
        }
        Ok(s.to_owned())
    }
}

impl Wire for Vec<u8> {
    fn put(&self, w: &mut Writer, field: &'static str) -> Result<(), EncodeError> {
        w.blob(self).map(|_| ()).map_err(|source| EncodeError {
            field,
            source: source.into(),
        })
    }
    fn get(r: &mut Reader<'_>, field: &'static str) -> Result<Self, DecodeError> {
        Ok(r.blob().map_err(DecodeError::read(field))?.to_vec())
    }
    fn to_json(&self) -> Value {
        Value::String(b64url::encode(self))
    }
    fn from_json(v: &Value, field: &'static str) -> Result<Self, DecodeError> {
        b64url::decode(json_str(v, field)?)
            .map_err(|_| DecodeError::json(field, "not unpadded Base64URL"))
    }
}

impl Wire for Zeroizing<Vec<u8>> {
    fn put(&self, w: &mut Writer, field: &'static str) -> Result<(), EncodeError> {
        (**self).put(w, field)
    }
    fn get(r: &mut Reader<'_>, field: &'static str) -> Result<Self, DecodeError> {
        Ok(Zeroizing::new(Vec::<u8>::get(r, field)?))
    }
    fn to_json(&self) -> Value {
        (**self).to_json()
    }
    fn from_json(v: &Value, field: &'static str) -> Result<Self, DecodeError> {
        Ok(Zeroizing::new(Vec::<u8>::from_json(v, field)?))
    }
}

impl<T: Wire> Wire for Option<T> {
    fn put(&self, w: &mut Writer, field: &'static str) -> Result<(), EncodeError> {
        match self {
            None => {
                w.byte(0);
                Ok(())
            }
            Some(v) => {
                w.byte(1);
                v.put(w, field)
            }
        }
    }
    fn get(r: &mut Reader<'_>, field: &'static str) -> Result<Self, DecodeError> {
        match r.byte().map_err(DecodeError::read(field))? {
            0 => Ok(None),
            1 => Ok(Some(T::get(r, field)?)),
            value => Err(DecodeError::BadFlag { field, value }),
        }
    }
    fn to_json(&self) -> Value {
        match self {
            None => Value::Null,
            Some(v) => v.to_json(),
        }
    }
    fn from_json(v: &Value, field: &'static str) -> Result<Self, DecodeError> {
        if v.is_null() {
            Ok(None)
        } else {
            Ok(Some(T::from_json(v, field)?))
        }
    }
}

macro_rules! list_wire {
    ($($t:ty),+) => {$(
        impl Wire for Vec<$t> {
            fn put(&self, w: &mut Writer, field: &'static str) -> Result<(), EncodeError> {
                put_count(w, field, self.len())?;
                for item in self {
                    item.put(w, field)?;
                }
                Ok(())
            }
            fn get(r: &mut Reader<'_>, field: &'static str) -> Result<Self, DecodeError> {
                let n = r.ushort().map_err(DecodeError::read(field))?;
                // No preallocation from the count: every item is bounds-checked as it is read.
                let mut out = Vec::new();
                for _ in 0..n {
                    out.push(<$t>::get(r, field)?);
                }
                Ok(out)
            }
            fn to_json(&self) -> Value {
                Value::Array(self.iter().map(Wire::to_json).collect())
            }
            fn from_json(v: &Value, field: &'static str) -> Result<Self, DecodeError> {
                let a = v
                    .as_array()
                    .ok_or_else(|| DecodeError::json(field, "expected an array"))?;
                if a.len() > u16::MAX as usize {
                    return Err(DecodeError::json(field, "more than 65535 items"));
                }
                a.iter().map(|x| <$t>::from_json(x, field)).collect()
            }
        }
    )+};
}
list_wire!(String, Vec<u8>);

macro_rules! handle_wire {
    ($($t:ident),+) => {$(
        impl Wire for $t {
            fn put(&self, w: &mut Writer, f: &'static str) -> Result<(), EncodeError> {
                self.0.put(w, f)
            }
            fn get(r: &mut Reader<'_>, f: &'static str) -> Result<Self, DecodeError> {
                Ok($t(u32::get(r, f)?))
            }
            fn to_json(&self) -> Value {
                self.0.to_json()
            }
            fn from_json(v: &Value, f: &'static str) -> Result<Self, DecodeError> {
                Ok($t(u32::from_json(v, f)?))
            }
        }
    )+};
}
handle_wire!(
    ProvisioningHandle,
    KeyHandle,
    PinPolicyHandle,
    PukPolicyHandle
);

/// Enumerations with KeyGen2 names: one byte; JSON the name.
macro_rules! named_enum_wire {
    ($($t:ident),+) => {$(
        impl Wire for $t {
            fn put(&self, w: &mut Writer, _: &'static str) -> Result<(), EncodeError> {
                w.byte(self.to_byte());
                Ok(())
            }
            fn get(r: &mut Reader<'_>, field: &'static str) -> Result<Self, DecodeError> {
                let b = r.byte().map_err(DecodeError::read(field))?;
                $t::from_byte(b).map_err(|source| DecodeError::Value { field, source })
            }
            fn to_json(&self) -> Value {
                Value::String(self.as_str().to_owned())
            }
            fn from_json(v: &Value, field: &'static str) -> Result<Self, DecodeError> {
                $t::from_name(json_str(v, field)?)
                    .map_err(|source| DecodeError::Value { field, source })
            }
        }
    )+};
}
named_enum_wire!(
    PassphraseFormat,
    Grouping,
    InputMethod,
    BiometricProtection,
    ExportProtection,
    DeleteProtection,
    AppUsage
);

/// An enumeration argument of a call ([APDU-ERR-004], [SHIM-ERR-004]): the byte, defined or
/// not, in the binary form; in JSON the name of a defined value ([`ByteEnum::name`]) or,
/// for enumerations without names and for an undefined byte, the number 0..=255. A JSON
/// string that names no value decodes as an undefined value too. Decoding never rejects a
/// well-formed value: the SKS does, after its session lookup ([SKS-TXN-002]).
impl<T: ByteEnum> Wire for EnumArg<T> {
    fn put(&self, w: &mut Writer, field: &'static str) -> Result<(), EncodeError> {
        match (self.to_byte(), self) {
            (Some(b), _) => {
                w.byte(b);
                Ok(())
            }
            (None, EnumArg::Undefined(u)) => Err(EncodeError {
                field,
                source: EncodeProblem::NoByte(u.clone()),
            }),
            (None, EnumArg::Defined(v)) => {
                w.byte(v.to_byte());
                Ok(())
            }
        }
    }
    fn get(r: &mut Reader<'_>, field: &'static str) -> Result<Self, DecodeError> {
        Ok(EnumArg::from_byte(
            r.byte().map_err(DecodeError::read(field))?,
        ))
    }
    fn to_json(&self) -> Value {
        match self {
            EnumArg::Defined(v) => match v.name() {
                Some(n) => Value::String(n.to_owned()),
                None => Value::from(v.to_byte()),
            },
            EnumArg::Undefined(UnknownValue::Byte { value, .. }) => Value::from(*value),
            EnumArg::Undefined(UnknownValue::Name { name, .. }) => Value::String(name.clone()),
        }
    }
    fn from_json(v: &Value, field: &'static str) -> Result<Self, DecodeError> {
        match v {
            Value::String(name) if T::NAMED => Ok(EnumArg::undefined_name(name)),
            Value::Number(_) => Ok(EnumArg::from_byte(json_u64(v, field, 255)? as u8)),
            _ => Err(DecodeError::json(
                field,
                if T::NAMED {
                    "expected a name or a number 0..=255"
                } else {
                    "expected a number 0..=255"
                },
            )),
        }
    }
}

/// Byte-valued types without names (bit sets, `deviceType`, `subType`): JSON a number 0..=255.
macro_rules! byte_wire {
    ($($t:ident),+) => {$(
        impl Wire for $t {
            fn put(&self, w: &mut Writer, _: &'static str) -> Result<(), EncodeError> {
                w.byte(self.to_byte());
                Ok(())
            }
            fn get(r: &mut Reader<'_>, field: &'static str) -> Result<Self, DecodeError> {
                let b = r.byte().map_err(DecodeError::read(field))?;
                $t::from_byte(b).map_err(|source| DecodeError::Value { field, source })
            }
            fn to_json(&self) -> Value {
                Value::from(self.to_byte())
            }
            fn from_json(v: &Value, field: &'static str) -> Result<Self, DecodeError> {
                let b = json_u64(v, field, 255)? as u8;
                $t::from_byte(b).map_err(|source| DecodeError::Value { field, source })
            }
        }
    )+};
}
byte_wire!(
    PatternRestrictions,
    DeviceType,
    ExtensionSubType,
    ProtectionStatus,
    KeyBackup
);

/// Records: the fields in order (binary), an object with exactly these members (JSON).
/// `flatten` records (the parameter structs) merge their members into a call's `params`.
macro_rules! record_wire {
    ($flatten:ident $t:ident { $($f:ident $json:literal: $ft:ty),+ $(,)? }) => {
        impl Wire for $t {
            fn put(&self, w: &mut Writer, _: &'static str) -> Result<(), EncodeError> {
                $( self.$f.put(w, $json)?; )+
                Ok(())
            }
            fn get(r: &mut Reader<'_>, _: &'static str) -> Result<Self, DecodeError> {
                Ok($t { $( $f: <$ft>::get(r, $json)?, )+ })
            }
            fn to_json(&self) -> Value {
                let mut m = Map::new();
                $( m.insert($json.to_owned(), self.$f.to_json()); )+
                Value::Object(m)
            }
            fn from_json(v: &Value, field: &'static str) -> Result<Self, DecodeError> {
                let mut m = v
                    .as_object()
                    .ok_or_else(|| DecodeError::json(field, "expected an object"))?
                    .clone();
                let out = $t { $( $f: <$ft>::json_take(&mut m, $json)?, )+ };
                match m.keys().next() {
                    Some(k) => Err(DecodeError::UnknownMember(k.clone())),
                    None => Ok(out),
                }
            }
            record_wire!(@flatten $flatten $t { $($f $json: $ft),+ });
        }
        impl Sample for $t {
            fn sample(r: &mut SampleRng) -> Self {
                $t { $( $f: <$ft>::sample(r), )+ }
            }
        }
    };
    (@flatten nested $t:ident { $($f:ident $json:literal: $ft:ty),+ }) => {};
    (@flatten flatten $t:ident { $($f:ident $json:literal: $ft:ty),+ }) => {
        fn json_put(&self, _: &'static str, obj: &mut Map<String, Value>) {
            $( obj.insert($json.to_owned(), self.$f.to_json()); )+
        }
        fn json_take(obj: &mut Map<String, Value>, _: &'static str) -> Result<Self, DecodeError> {
            Ok($t { $( $f: <$ft>::json_take(obj, $json)?, )+ })
        }
    };
}

record_wire!(nested DeviceInfo {
    api_level "apiLevel": u16,
    device_type "deviceType": DeviceType,
    update_url "updateUrl": Option<String>,
    vendor_name "vendorName": String,
    vendor_description "vendorDescription": String,
    certificate_path "certificatePath": Vec<Vec<u8>>,
    supported_algorithms "supportedAlgorithms": Vec<String>,
    crypto_data_size "cryptoDataSize": u32,
    extension_data_size "extensionDataSize": u32,
    device_pin_support "devicePinSupport": bool,
    biometric_support "biometricSupport": bool,
});

record_wire!(nested ProvisioningSessionResult {
    provisioning_handle "provisioningHandle": ProvisioningHandle,
    client_session_id "clientSessionId": String,
    attestation "attestation": Vec<u8>,
    client_ephemeral_key "clientEphemeralKey": Vec<u8>,
});

record_wire!(nested EnumeratedProvisioningSession {
    provisioning_handle "provisioningHandle": ProvisioningHandle,
    session_key_algorithm "sessionKeyAlgorithm": String,
    privacy_enabled "privacyEnabled": bool,
    key_management_key "keyManagementKey": Option<Vec<u8>>,
    client_time "clientTime": u32,
    session_life_time "sessionLifeTime": u16,
    server_session_id "serverSessionId": String,
    client_session_id "clientSessionId": String,
    issuer_uri "issuerUri": String,
});

record_wire!(nested KeyData {
    key_handle "keyHandle": KeyHandle,
    public_key "publicKey": Vec<u8>,
    attestation "attestation": Vec<u8>,
});

record_wire!(nested EnumeratedKey {
    key_handle "keyHandle": KeyHandle,
    provisioning_handle "provisioningHandle": ProvisioningHandle,
});

record_wire!(nested KeyAttributes {
    symmetric_key_length "symmetricKeyLength": u16,
    certificate_path "certificatePath": Vec<Vec<u8>>,
    app_usage "appUsage": AppUsage,
    friendly_name "friendlyName": Option<String>,
    endorsed_algorithms "endorsedAlgorithms": Vec<String>,
    extension_types "extensionTypes": Vec<String>,
});

record_wire!(nested PukPolicyInfo {
    format "format": PassphraseFormat,
    retry_limit "retryLimit": u16,
    error_count "errorCount": u16,
});

record_wire!(nested PinPolicyInfo {
    format "format": PassphraseFormat,
    retry_limit "retryLimit": u16,
    grouping "grouping": Grouping,
    user_defined "userDefined": bool,
    user_modifiable "userModifiable": bool,
    pattern_restrictions "patternRestrictions": PatternRestrictions,
    min_length "minLength": u16,
    max_length "maxLength": u16,
    input_method "inputMethod": InputMethod,
    error_count "errorCount": u16,
});

record_wire!(nested KeyProtectionInfo {
    protection_status "protectionStatus": ProtectionStatus,
    puk "puk": Option<PukPolicyInfo>,
    pin "pin": Option<PinPolicyInfo>,
    enable_pin_caching "enablePinCaching": bool,
    biometric_protection "biometricProtection": BiometricProtection,
    export_protection "exportProtection": ExportProtection,
    delete_protection "deleteProtection": DeleteProtection,
    key_backup "keyBackup": KeyBackup,
});

record_wire!(nested Extension {
    sub_type "subType": ExtensionSubType,
    qualifier "qualifier": String,
    extension_data "extensionData": Vec<u8>,
});

record_wire!(flatten CreateProvisioningSessionParams {
    session_key_algorithm "sessionKeyAlgorithm": String,
    privacy_enabled "privacyEnabled": bool,
    server_session_id "serverSessionId": String,
    server_ephemeral_key "serverEphemeralKey": Vec<u8>,
    issuer_uri "issuerUri": String,
    key_management_key "keyManagementKey": Option<Vec<u8>>,
    client_time "clientTime": u32,
    session_life_time "sessionLifeTime": u16,
    session_key_limit "sessionKeyLimit": u16,
    server_certificate "serverCertificate": Vec<u8>,
});

record_wire!(flatten CreatePukPolicyParams {
    provisioning_handle "provisioningHandle": ProvisioningHandle,
    id "id": String,
    encrypted_puk "encryptedPuk": Vec<u8>,
    format "format": EnumArg<PassphraseFormat>,
    retry_limit "retryLimit": u16,
    mac "mac": Vec<u8>,
});

record_wire!(flatten CreatePinPolicyParams {
    provisioning_handle "provisioningHandle": ProvisioningHandle,
    id "id": String,
    puk_policy_handle "pukPolicyHandle": PukPolicyHandle,
    user_defined "userDefined": bool,
    user_modifiable "userModifiable": bool,
    format "format": EnumArg<PassphraseFormat>,
    retry_limit "retryLimit": u16,
    grouping "grouping": EnumArg<Grouping>,
    pattern_restrictions "patternRestrictions": EnumArg<PatternRestrictions>,
    min_length "minLength": u16,
    max_length "maxLength": u16,
    input_method "inputMethod": EnumArg<InputMethod>,
    mac "mac": Vec<u8>,
});

record_wire!(flatten CreateKeyEntryParams {
    provisioning_handle "provisioningHandle": ProvisioningHandle,
    id "id": String,
    key_entry_algorithm "keyEntryAlgorithm": String,
    server_seed "serverSeed": Option<Vec<u8>>,
    device_pin_protection "devicePinProtection": bool,
    pin_policy_handle "pinPolicyHandle": PinPolicyHandle,
    pin_value "pinValue": Option<Zeroizing<Vec<u8>>>,
    enable_pin_caching "enablePinCaching": bool,
    biometric_protection "biometricProtection": EnumArg<BiometricProtection>,
    export_protection "exportProtection": EnumArg<ExportProtection>,
    delete_protection "deleteProtection": EnumArg<DeleteProtection>,
    app_usage "appUsage": EnumArg<AppUsage>,
    friendly_name "friendlyName": Option<String>,
    key_algorithm "keyAlgorithm": String,
    key_parameters "keyParameters": Option<Vec<u8>>,
    endorsed_algorithms "endorsedAlgorithms": Vec<String>,
    mac "mac": Vec<u8>,
});
