//! A strict reader over `serde_json` objects: it records which properties were read, fails on
//! leftovers, and names the JSON path of every error.

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

use super::error::{DecodeError, ErrorKind};
use crate::codec::b64url;
use crate::time::{IsoTime, TimeForm};

/// Parses JSON bytes, rejecting duplicate properties (which `serde_json::Value` would merge).
pub(crate) fn parse_json(bytes: &[u8]) -> Result<Value, DecodeError> {
    match serde_json::from_slice::<StrictValue>(bytes) {
        Ok(v) => Ok(v.0),
        Err(e) => {
            let text = e.to_string();
            if let Some(rest) = text.strip_prefix(DUP_PREFIX) {
                let name = rest.split(DUP_SUFFIX).next().unwrap_or_default();
                Err(DecodeError::new(
                    name,
                    ErrorKind::DuplicateProperty,
                    text.clone(),
                ))
            } else {
                Err(DecodeError::new("", ErrorKind::Syntax, text))
            }
        }
    }
}

const DUP_PREFIX: &str = "duplicate property \u{1}";
const DUP_SUFFIX: &str = "\u{1}";

struct StrictValue(Value);

impl<'de> Deserialize<'de> for StrictValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StrictVisitor).map(StrictValue)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }
    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Value, E> {
        Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom("non-finite number"))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(StrictValue(v)) = seq.next_element()? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let StrictValue(v) = map.next_value()?;
            // One lookup per property: the entry either takes the value or names the duplicate.
            match out.entry(key) {
                serde_json::map::Entry::Vacant(e) => {
                    e.insert(v);
                }
                serde_json::map::Entry::Occupied(e) => {
                    return Err(serde::de::Error::custom(format!(
                        "{DUP_PREFIX}{}{DUP_SUFFIX}",
                        e.key()
                    )));
                }
            }
        }
        Ok(Value::Object(out))
    }
}

/// `path` + `.key`.
pub(crate) fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        let mut p = String::with_capacity(path.len() + 1 + key.len());
        p.push_str(path);
        p.push('.');
        p.push_str(key);
        p
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// One JSON value with its path.
#[derive(Debug, Clone, Copy)]
pub struct Val<'a, 'p> {
    pub v: &'a Value,
    pub path: &'p str,
}

/// Checks an id: 1-32 characters, each 0x21-0x7E.
pub(crate) fn check_id(s: &str, path: &str) -> Result<(), DecodeError> {
    let ok = !s.is_empty() && s.len() <= 32 && s.bytes().all(|b| (0x21..=0x7e).contains(&b));
    if ok {
        Ok(())
    } else {
        Err(DecodeError::new(
            path,
            ErrorKind::BadId,
            "an id is 1-32 characters in 0x21-0x7E",
        ))
    }
}

impl<'a> Val<'a, '_> {
    pub fn err(&self, kind: ErrorKind, detail: impl Into<String>) -> DecodeError {
        DecodeError::new(self.path, kind, detail)
    }

    fn wrong(&self, expected: &str) -> DecodeError {
        self.err(
            ErrorKind::WrongType,
            format!("expected {expected}, found {}", type_name(self.v)),
        )
    }

    pub fn string(&self) -> Result<&'a str, DecodeError> {
        self.v.as_str().ok_or_else(|| self.wrong("a string"))
    }

    /// A non-empty string of at most `max` bytes.
    pub fn text(&self, max: usize) -> Result<String, DecodeError> {
        let s = self.string()?;
        if s.is_empty() || s.len() > max {
            return Err(self.err(
                ErrorKind::BadLength,
                format!("length {} not in 1..={max}", s.len()),
            ));
        }
        Ok(s.to_owned())
    }

    /// A URI-valued string (1-1000 bytes, SKS `MAX_LENGTH_URI`).
    pub fn uri(&self) -> Result<String, DecodeError> {
        self.text(1000)
    }

    pub fn id(&self) -> Result<String, DecodeError> {
        let s = self.string()?;
        check_id(s, self.path)?;
        Ok(s.to_owned())
    }

    pub fn bool(&self) -> Result<bool, DecodeError> {
        self.v.as_bool().ok_or_else(|| self.wrong("a boolean"))
    }

    /// An integer in `min..=max`.
    pub fn int(&self, min: i64, max: i64) -> Result<i64, DecodeError> {
        let n = match self.v {
            Value::Number(n) => n,
            _ => return Err(self.wrong("an integer")),
        };
        let v = match (n.as_i64(), n.as_u64()) {
            (Some(v), _) => v,
            (None, Some(_)) => {
                return Err(self.err(ErrorKind::OutOfRange, format!("not in {min}..={max}")));
            }
            (None, None) => return Err(self.wrong("an integer")),
        };
        if v < min || v > max {
            return Err(self.err(ErrorKind::OutOfRange, format!("{v} not in {min}..={max}")));
        }
        Ok(v)
    }

    pub fn u16(&self, min: u16, max: u16) -> Result<u16, DecodeError> {
        let v = self.int(i64::from(min), i64::from(max))?;
        u16::try_from(v).map_err(|_| self.err(ErrorKind::OutOfRange, "not a ushort"))
    }

    /// Base64URL bytes whose length is in `min..=max`.
    pub fn bytes(&self, min: usize, max: usize) -> Result<Vec<u8>, DecodeError> {
        let s = self.string()?;
        let b = b64url::decode(s)
            .map_err(|_| self.err(ErrorKind::BadBase64, "not strict unpadded Base64URL"))?;
        if b.len() < min || b.len() > max {
            return Err(self.err(
                ErrorKind::BadLength,
                format!("{} bytes, expected {min}..={max}", b.len()),
            ));
        }
        Ok(b)
    }

    pub fn mac(&self) -> Result<[u8; 32], DecodeError> {
        let b = self.bytes(32, 32)?;
        <[u8; 32]>::try_from(b.as_slice())
            .map_err(|_| self.err(ErrorKind::BadLength, "a mac is 32 bytes"))
    }

    pub fn time(&self, form: TimeForm) -> Result<IsoTime, DecodeError> {
        let s = self.string()?;
        IsoTime::parse(s, form).map_err(|e| self.err(ErrorKind::BadTime, e.to_string()))
    }

    pub fn object(&self) -> Result<Obj<'a>, DecodeError> {
        match self.v {
            Value::Object(m) => Ok(Obj::new(m, self.path.to_owned())),
            _ => Err(self.wrong("an object")),
        }
    }

    /// A non-empty array, each element with its path.
    pub fn array(&self) -> Result<Vec<(&'a Value, String)>, DecodeError> {
        let a = match self.v {
            Value::Array(a) => a,
            _ => return Err(self.wrong("an array")),
        };
        if a.is_empty() {
            return Err(self.err(ErrorKind::BadLength, "an array must not be empty"));
        }
        Ok(a.iter()
            .enumerate()
            .map(|(i, v)| (v, format!("{}[{i}]", self.path)))
            .collect())
    }

    /// Maps every element of a non-empty array.
    pub fn each<T>(
        &self,
        mut f: impl FnMut(Val<'a, '_>) -> Result<T, DecodeError>,
    ) -> Result<Vec<T>, DecodeError> {
        self.array()?
            .iter()
            .map(|(v, p)| f(Val { v, path: p }))
            .collect()
    }

    /// Maps every element of a non-empty array of objects; each object must be fully read.
    pub fn objects<T>(
        &self,
        mut f: impl FnMut(&mut Obj<'a>) -> Result<T, DecodeError>,
    ) -> Result<Vec<T>, DecodeError> {
        self.each(|v| {
            let mut o = v.object()?;
            let t = f(&mut o)?;
            o.finish()?;
            Ok(t)
        })
    }
}

/// A strict view of one JSON object.
#[derive(Debug)]
pub struct Obj<'a> {
    map: &'a Map<String, Value>,
    path: String,
    read: Vec<&'static str>,
}

impl<'a> Obj<'a> {
    pub fn new(map: &'a Map<String, Value>, path: String) -> Self {
        Obj {
            map,
            path,
            read: Vec::new(),
        }
    }

    pub fn path(&self) -> &str {
        &self.path
    }

    /// Reads an optional property; `f` gets the value and its path.
    pub fn opt<T>(
        &mut self,
        key: &'static str,
        f: impl FnOnce(Val<'a, '_>) -> Result<T, DecodeError>,
    ) -> Result<Option<T>, DecodeError> {
        self.read.push(key);
        match self.map.get(key) {
            None => Ok(None),
            Some(v) => {
                let p = join(&self.path, key);
                f(Val { v, path: &p }).map(Some)
            }
        }
    }

    /// Reads a required property.
    pub fn req<T>(
        &mut self,
        key: &'static str,
        f: impl FnOnce(Val<'a, '_>) -> Result<T, DecodeError>,
    ) -> Result<T, DecodeError> {
        self.opt(key, f)?.ok_or_else(|| {
            DecodeError::new(
                join(&self.path, key),
                ErrorKind::Missing,
                format!("`{key}` is required"),
            )
        })
    }

    /// Reads a required nested object that must be fully read by `f`.
    pub fn req_obj<T>(
        &mut self,
        key: &'static str,
        f: impl FnOnce(&mut Obj<'a>) -> Result<T, DecodeError>,
    ) -> Result<T, DecodeError> {
        self.req(key, |v| {
            let mut o = v.object()?;
            let t = f(&mut o)?;
            o.finish()?;
            Ok(t)
        })
    }

    /// Reads an optional nested object that must be fully read by `f`.
    pub fn opt_obj<T>(
        &mut self,
        key: &'static str,
        f: impl FnOnce(&mut Obj<'a>) -> Result<T, DecodeError>,
    ) -> Result<Option<T>, DecodeError> {
        self.opt(key, |v| {
            let mut o = v.object()?;
            let t = f(&mut o)?;
            o.finish()?;
            Ok(t)
        })
    }

    /// True if the property is present (does not mark it read).
    pub fn has(&self, key: &str) -> bool {
        self.map.contains_key(key)
    }

    /// Fails on the first property (in document order) that was not read.
    pub fn finish(&self) -> Result<(), DecodeError> {
        for k in self.map.keys() {
            if !self.read.contains(&k.as_str()) {
                return Err(DecodeError::new(
                    join(&self.path, k),
                    ErrorKind::UnknownProperty,
                    format!("unknown property `{k}`"),
                ));
            }
        }
        Ok(())
    }
}
