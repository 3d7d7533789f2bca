//! The property-bag blob of `addExtension` subType 2 (facts §3.9):
//! `L(name) ‖ bool(writable) ‖ L(value)` per property, no delimiter.

use thiserror::Error;

use crate::codec::{ReadError, Reader, Writer};

use super::Session1Error;

/// One property.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Property {
    /// The name.
    pub name: String,
    /// True if the user API may change it (`setProperty`).
    pub writable: bool,
    /// The value.
    pub value: String,
}

/// A property-bag blob that the SKS must reject.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PropertyBagError {
    /// No property at all.
    #[error("empty property bag")]
    Empty,
    /// Truncated data, a bad bool, or trailing bytes.
    #[error("malformed property bag: {0}")]
    Malformed(#[from] ReadError),
    /// A name or value is not UTF-8.
    #[error("property {0} is not UTF-8")]
    NotUtf8(&'static str),
    /// The same name twice.
    #[error("duplicate property {0:?}")]
    Duplicate(String),
}

/// Encodes properties. Fails on an empty list or a name or value over 65535 bytes.
pub fn encode_property_bag(properties: &[Property]) -> Result<Vec<u8>, Session1Error> {
    if properties.is_empty() {
        return Err(Session1Error::PropertyBag(PropertyBagError::Empty));
    }
    let mut w = Writer::new();
    for p in properties {
        w.l_str(&p.name)?.bool(p.writable).l_str(&p.value)?;
    }
    Ok(w.into_bytes())
}

/// Parses strictly: at least one property, every item complete, bools 0 or 1, UTF-8 strings,
/// unique names.
pub fn parse_property_bag(blob: &[u8]) -> Result<Vec<Property>, PropertyBagError> {
    if blob.is_empty() {
        return Err(PropertyBagError::Empty);
    }
    let mut r = Reader::new(blob);
    let mut out: Vec<Property> = Vec::new();
    while !r.is_empty() {
        let name = std::str::from_utf8(r.l()?)
            .map_err(|_| PropertyBagError::NotUtf8("name"))?
            .to_owned();
        let writable = r.bool()?;
        let value = std::str::from_utf8(r.l()?)
            .map_err(|_| PropertyBagError::NotUtf8("value"))?
            .to_owned();
        if out.iter().any(|p| p.name == name) {
            return Err(PropertyBagError::Duplicate(name));
        }
        out.push(Property {
            name,
            writable,
            value,
        });
    }
    r.finish()?;
    Ok(out)
}
