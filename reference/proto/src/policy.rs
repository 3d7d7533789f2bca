//! The enumerations shared by KeyGen2 (as JSON strings) and the SKS API (as bytes): PIN/PUK
//! formats, grouping, input methods, pattern restrictions, protections and appUsage.
//!
//! Spec: `spec/policies.md`. Values: facts §4.

use thiserror::Error;

/// A KeyGen2 name or SKS byte that names no value of the enumeration.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum UnknownValue {
    /// The JSON string is not a known name.
    #[error("{kind}: unknown name {name:?}")]
    Name {
        /// The enumeration.
        kind: &'static str,
        /// What was given.
        name: String,
    },
    /// The byte is not a known value.
    #[error("{kind}: unknown value 0x{value:02x}")]
    Byte {
        /// The enumeration.
        kind: &'static str,
        /// What was given.
        value: u8,
    },
}

/// A byte-valued SKS enumeration or bit set: what [`EnumArg`] needs to carry it.
pub trait ByteEnum: Copy + Sized {
    /// The enumeration's name in errors (the SKS parameter name).
    const KIND: &'static str;
    /// True if the enumeration has KeyGen2 names (its JSON form is a name).
    const NAMED: bool = false;
    /// The SKS byte.
    fn to_byte(self) -> u8;
    /// From the SKS byte; a byte the enumeration does not define is an error.
    fn from_byte(value: u8) -> Result<Self, UnknownValue>;
    /// From the KeyGen2 name, for enumerations that have names (`None` for bit sets and
    /// byte-only values).
    fn from_name(name: &str) -> Option<Result<Self, UnknownValue>> {
        let _ = name;
        None
    }
    /// The KeyGen2 name, for enumerations that have names.
    fn name(self) -> Option<&'static str> {
        None
    }
}

/// An enumeration argument of an SKS call as it travels to the SKS: a defined value, or a
/// value the enumeration does not define, kept as it was received.
///
/// Bindings decode an undefined value without error and hand it to the SKS, which looks up
/// the session or key first and then answers `ERROR_OPTION`, tearing the provisioning session
/// down ([SKS-TXN-002], [SHIM-ERR-004], [APDU-ERR-004]). The issuer and the middleware build
/// calls from the strict enumerations of the KeyGen2 messages through `From<T>`, so they can
/// only send defined values; [`EnumArg::from_byte`] and [`EnumArg::undefined_name`] exist for
/// decoders and for test tools that probe a card with undefined values on purpose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnumArg<T> {
    /// A value the enumeration defines.
    Defined(T),
    /// A byte or name the enumeration does not define.
    Undefined(UnknownValue),
}

impl<T: ByteEnum> EnumArg<T> {
    /// From the SKS byte: [`EnumArg::Defined`] if the enumeration defines it, otherwise
    /// [`EnumArg::Undefined`] holding the byte. Never fails.
    pub fn from_byte(value: u8) -> Self {
        match T::from_byte(value) {
            Ok(v) => EnumArg::Defined(v),
            Err(e) => EnumArg::Undefined(e),
        }
    }

    /// An undefined value received by name (a JSON string that names no value); a name that
    /// the enumeration does define gives that value.
    pub fn undefined_name(name: &str) -> Self {
        match T::from_name(name) {
            Some(Ok(v)) => EnumArg::Defined(v),
            _ => EnumArg::Undefined(UnknownValue::Name {
                kind: T::KIND,
                name: name.to_owned(),
            }),
        }
    }

    /// The defined value, or the [`UnknownValue`] that names what was received.
    pub fn defined(&self) -> Result<T, &UnknownValue> {
        match self {
            EnumArg::Defined(v) => Ok(*v),
            EnumArg::Undefined(e) => Err(e),
        }
    }

    /// The SKS byte: the defined value's, or the undefined byte; `None` for an undefined value
    /// received by name (it has no byte form).
    pub fn to_byte(&self) -> Option<u8> {
        match self {
            EnumArg::Defined(v) => Some(v.to_byte()),
            EnumArg::Undefined(UnknownValue::Byte { value, .. }) => Some(*value),
            EnumArg::Undefined(UnknownValue::Name { .. }) => None,
        }
    }

    /// True for a defined value.
    pub fn is_defined(&self) -> bool {
        matches!(self, EnumArg::Defined(_))
    }
}

impl<T> From<T> for EnumArg<T> {
    fn from(v: T) -> Self {
        EnumArg::Defined(v)
    }
}

/// A defined value by its name (or `0x..` for a bit set), an undefined one as `undefined 0x..`
/// or `undefined "name"`.
impl<T: ByteEnum> std::fmt::Display for EnumArg<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EnumArg::Defined(v) => match v.name() {
                Some(n) => f.write_str(n),
                None => write!(f, "0x{:02x}", v.to_byte()),
            },
            EnumArg::Undefined(UnknownValue::Byte { value, .. }) => {
                write!(f, "undefined 0x{value:02x}")
            }
            EnumArg::Undefined(UnknownValue::Name { name, .. }) => {
                write!(f, "undefined {name:?}")
            }
        }
    }
}

impl<T: PartialEq> PartialEq<T> for EnumArg<T> {
    fn eq(&self, other: &T) -> bool {
        matches!(self, EnumArg::Defined(v) if v == other)
    }
}

macro_rules! wire_enum {
    ($(#[$m:meta])* $name:ident, $kind:literal, { $($(#[$vm:meta])* $var:ident = $byte:literal, $json:literal;)+ }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $($(#[$vm])* $var,)+
        }

        impl $name {
            /// Every value, in byte order.
            pub const ALL: &'static [$name] = &[$($name::$var,)+];

            /// The SKS byte value.
            pub const fn to_byte(self) -> u8 {
                match self { $($name::$var => $byte,)+ }
            }

            /// From the SKS byte value.
            pub fn from_byte(value: u8) -> Result<Self, UnknownValue> {
                match value {
                    $($byte => Ok($name::$var),)+
                    _ => Err(UnknownValue::Byte { kind: $kind, value }),
                }
            }

            /// The KeyGen2 JSON name.
            pub const fn as_str(self) -> &'static str {
                match self { $($name::$var => $json,)+ }
            }

            /// From the KeyGen2 JSON name (exact, case-sensitive).
            pub fn from_name(name: &str) -> Result<Self, UnknownValue> {
                match name {
                    $($json => Ok($name::$var),)+
                    _ => Err(UnknownValue::Name { kind: $kind, name: name.to_owned() }),
                }
            }
        }

        impl ByteEnum for $name {
            const KIND: &'static str = $kind;
            const NAMED: bool = true;
            fn to_byte(self) -> u8 {
                $name::to_byte(self)
            }
            fn from_byte(value: u8) -> Result<Self, UnknownValue> {
                $name::from_byte(value)
            }
            fn from_name(name: &str) -> Option<Result<Self, UnknownValue>> {
                Some($name::from_name(name))
            }
            fn name(self) -> Option<&'static str> {
                Some(self.as_str())
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

wire_enum!(
    /// PIN and PUK format.
    PassphraseFormat, "format", {
        /// Digits 0-9.
        Numeric = 0x00, "numeric";
        /// Digits and upper-case A-Z.
        Alphanumeric = 0x01, "alphanumeric";
        /// Any UTF-8.
        String = 0x02, "string";
        /// Raw bytes (hex in a GUI).
        Binary = 0x03, "binary";
    }
);

wire_enum!(
    /// PIN grouping over the keys of one PIN policy, keyed on appUsage.
    Grouping, "grouping", {
        /// Each key has its own PIN.
        None = 0x00, "none";
        /// All keys share one PIN.
        Shared = 0x01, "shared";
        /// Signature keys share one PIN, all others another.
        SignaturePlusStandard = 0x02, "signature+standard";
        /// One PIN per appUsage, different between appUsages.
        Unique = 0x03, "unique";
    }
);

wire_enum!(
    /// How a PIN may be entered.
    InputMethod, "inputMethod", {
        /// Any way.
        Any = 0x00, "any";
        /// By a program.
        Programmatic = 0x01, "programmatic";
        /// Through a trusted GUI only.
        TrustedGui = 0x02, "trusted-gui";
    }
);

wire_enum!(
    /// Biometric protection of a key.
    BiometricProtection, "biometricProtection", {
        /// No biometric.
        None = 0x00, "none";
        /// PIN or biometric.
        Alternative = 0x01, "alternative";
        /// PIN and biometric.
        Combined = 0x02, "combined";
        /// Biometric only (no PIN policy allowed).
        Exclusive = 0x03, "exclusive";
    }
);

wire_enum!(
    /// Export protection of a key.
    ExportProtection, "exportProtection", {
        /// Exportable without authorization.
        None = 0x00, "none";
        /// Exportable with the PIN.
        Pin = 0x01, "pin";
        /// Exportable with the PUK.
        Puk = 0x02, "puk";
        /// Never exportable (the KeyGen2 default).
        NonExportable = 0x03, "non-exportable";
    }
);

wire_enum!(
    /// Delete protection of a key (`postDeleteKey` ignores it).
    DeleteProtection, "deleteProtection", {
        /// Deletable without authorization (the KeyGen2 default).
        None = 0x00, "none";
        /// Deletable with the PIN.
        Pin = 0x01, "pin";
        /// Deletable with the PUK.
        Puk = 0x02, "puk";
        /// Never deletable by the user.
        NonDeletable = 0x03, "non-deletable";
    }
);

wire_enum!(
    /// The intended use of a key: a GUI and PIN-grouping hint.
    AppUsage, "appUsage", {
        /// Signatures.
        Signature = 0x00, "signature";
        /// Authentication.
        Authentication = 0x01, "authentication";
        /// Encryption.
        Encryption = 0x02, "encryption";
        /// Anything.
        Universal = 0x03, "universal";
    }
);

wire_enum!(
    /// One PIN pattern restriction; a policy holds a set of them ([`PatternRestrictions`]).
    PatternRestriction, "patternRestrictions", {
        /// Two equal bytes in a row (1124).
        TwoInARow = 0x01, "two-in-a-row";
        /// Three equal bytes in a row (1114).
        ThreeInARow = 0x02, "three-in-a-row";
        /// An ascending or descending run by 1 (1234, 9876).
        Sequence = 0x04, "sequence";
        /// Any repeated byte.
        Repeated = 0x08, "repeated";
        /// A missing character group (needs alphanumeric or string format).
        MissingGroup = 0x10, "missing-group";
    }
);

/// A set of [`PatternRestriction`]s, the SKS `patternRestrictions` byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct PatternRestrictions(u8);

impl PatternRestrictions {
    /// The empty set.
    pub const NONE: Self = Self(0);
    /// Every defined bit.
    pub const MASK: u8 = 0x1f;

    /// From the SKS byte; undefined bits are an error.
    pub fn from_byte(value: u8) -> Result<Self, UnknownValue> {
        if value & !Self::MASK != 0 {
            return Err(UnknownValue::Byte {
                kind: "patternRestrictions",
                value,
            });
        }
        Ok(Self(value))
    }

    /// The SKS byte.
    pub const fn to_byte(self) -> u8 {
        self.0
    }

    /// True if `r` is in the set.
    pub const fn contains(self, r: PatternRestriction) -> bool {
        self.0 & r.to_byte() != 0
    }

    /// The set with `r` added.
    pub const fn with(self, r: PatternRestriction) -> Self {
        Self(self.0 | r.to_byte())
    }

    /// The members, in bit order (the order KeyGen2 writes them).
    pub fn iter(self) -> impl Iterator<Item = PatternRestriction> {
        PatternRestriction::ALL
            .iter()
            .copied()
            .filter(move |r| self.contains(*r))
    }
}

impl ByteEnum for PatternRestrictions {
    const KIND: &'static str = "patternRestrictions";
    fn to_byte(self) -> u8 {
        self.0
    }
    fn from_byte(value: u8) -> Result<Self, UnknownValue> {
        PatternRestrictions::from_byte(value)
    }
}

impl FromIterator<PatternRestriction> for PatternRestrictions {
    fn from_iter<I: IntoIterator<Item = PatternRestriction>>(iter: I) -> Self {
        iter.into_iter().fold(Self::NONE, Self::with)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_and_names_round_trip() {
        for f in PassphraseFormat::ALL {
            assert_eq!(PassphraseFormat::from_byte(f.to_byte()), Ok(*f));
            assert_eq!(PassphraseFormat::from_name(f.as_str()), Ok(*f));
        }
        assert_eq!(
            Grouping::SignaturePlusStandard.as_str(),
            "signature+standard"
        );
        assert_eq!(ExportProtection::NonExportable.to_byte(), 3);
        assert_eq!(InputMethod::TrustedGui.as_str(), "trusted-gui");
        assert!(AppUsage::from_byte(4).is_err());
        assert!(AppUsage::from_name("Signature").is_err());
    }

    #[test]
    fn enum_arg_keeps_undefined_values() {
        assert_eq!(
            EnumArg::<PassphraseFormat>::from_byte(1),
            EnumArg::Defined(PassphraseFormat::Alphanumeric)
        );
        let u = EnumArg::<PassphraseFormat>::from_byte(7);
        assert_eq!(u.to_byte(), Some(7));
        assert!(!u.is_defined());
        assert_eq!(
            u.defined().map_err(ToString::to_string),
            Err("format: unknown value 0x07".to_owned())
        );
        let n = EnumArg::<Grouping>::undefined_name("hex");
        assert_eq!(n.to_byte(), None);
        assert!(n.defined().is_err());
        assert_eq!(
            EnumArg::<Grouping>::undefined_name("shared"),
            EnumArg::Defined(Grouping::Shared)
        );
        let p = EnumArg::<PatternRestrictions>::from_byte(0x20);
        assert_eq!(p.to_byte(), Some(0x20));
        assert!(!p.is_defined());
        assert_eq!(EnumArg::from(AppUsage::Encryption), AppUsage::Encryption);
    }

    #[test]
    fn pattern_set() {
        let s: PatternRestrictions = [PatternRestriction::Sequence, PatternRestriction::TwoInARow]
            .into_iter()
            .collect();
        assert_eq!(s.to_byte(), 0x05);
        assert_eq!(
            s.iter().collect::<Vec<_>>(),
            vec![PatternRestriction::TwoInARow, PatternRestriction::Sequence]
        );
        assert!(PatternRestrictions::from_byte(0x20).is_err());
        assert_eq!(
            PatternRestrictions::from_byte(0x1f).map(|p| p.iter().count()),
            Ok(5)
        );
    }
}
