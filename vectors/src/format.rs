//! The vector file format (schema: `vectors/schema/vector-file.schema.json`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use thiserror::Error;

/// The value of [`VectorFile::schema`] for this format version.
pub const FORMAT: &str = "airtight-vectors/v1";

/// One vector file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VectorFile {
    /// Always [`FORMAT`].
    pub schema: String,
    /// What the vectors exercise (a primitive or a message family).
    pub algorithm: String,
    /// The spec tags every vector of the file checks.
    pub spec_tags: Vec<String>,
    /// Free text: where the expected values come from.
    pub header: Vec<String>,
    /// Meaning of each flag used by the tests.
    pub notes: BTreeMap<String, Note>,
    /// Total number of tests, over all groups.
    pub number_of_tests: usize,
    /// The groups.
    pub test_groups: Vec<TestGroup>,
}

/// The meaning of a flag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Note {
    /// `BASIC`, `EDGE_CASE`, `MALFORMED`, `MODIFIED`, `KNOWN_ANSWER`, ...
    pub bug_type: String,
    /// What the flag means.
    pub description: String,
}

/// A group of tests sharing a type (and so a set of fields).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TestGroup {
    /// The test type: it names the fields every test of the group carries.
    #[serde(rename = "type")]
    pub kind: String,
    /// The tests.
    pub tests: Vec<TestCase>,
}

/// What the implementation must do with a test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Must be accepted and produce the expected output.
    Valid,
    /// Must be rejected (with the expected error where the test names one).
    Invalid,
    /// May be accepted or rejected.
    Acceptable,
}

/// One test: the four common fields and the fields of its group type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TestCase {
    /// Unique (per file) test number, from 1.
    pub tc_id: u32,
    /// What the test is about.
    pub comment: String,
    /// Flags, each explained in the file's notes.
    pub flags: Vec<String>,
    /// The expected verdict.
    pub result: Verdict,
    /// The type-specific fields.
    #[serde(flatten)]
    pub fields: Map<String, Value>,
}

/// A vector file broke the format's own rules (beyond its JSON Schema).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum LintError {
    /// `schema` is not [`FORMAT`].
    #[error("schema is {0:?}, expected {FORMAT:?}")]
    Format(String),
    /// `numberOfTests` does not match the tests.
    #[error("numberOfTests is {declared} but the file holds {actual}")]
    Count {
        /// Declared.
        declared: usize,
        /// Counted.
        actual: usize,
    },
    /// tcIds are not 1, 2, 3, ... in order.
    #[error("tcId {found} where {expected} was expected")]
    TcId {
        /// Expected id.
        expected: u32,
        /// Found id.
        found: u32,
    },
    /// A test uses a flag with no note.
    #[error("test {tc_id} uses flag {flag:?} which has no note")]
    Flag {
        /// The test.
        tc_id: u32,
        /// The flag.
        flag: String,
    },
    /// No tests at all.
    #[error("file holds no tests")]
    Empty,
}

/// Builds a file while numbering tests.
#[derive(Debug)]
pub struct Builder {
    file: VectorFile,
    next_id: u32,
}

impl Builder {
    /// A new file about `algorithm`, checking `spec_tags`.
    pub fn new(algorithm: &str, spec_tags: &[&str], header: &[&str]) -> Self {
        Self {
            file: VectorFile {
                schema: FORMAT.to_owned(),
                algorithm: algorithm.to_owned(),
                spec_tags: spec_tags.iter().map(|s| (*s).to_owned()).collect(),
                header: header.iter().map(|s| (*s).to_owned()).collect(),
                notes: BTreeMap::new(),
                number_of_tests: 0,
                test_groups: Vec::new(),
            },
            next_id: 1,
        }
    }

    /// Declares a flag.
    pub fn note(&mut self, flag: &str, bug_type: &str, description: &str) -> &mut Self {
        self.file.notes.insert(
            flag.to_owned(),
            Note {
                bug_type: bug_type.to_owned(),
                description: description.to_owned(),
            },
        );
        self
    }

    /// Starts a group of type `kind` (tests are added to the last group).
    pub fn group(&mut self, kind: &str) -> &mut Self {
        self.file.test_groups.push(TestGroup {
            kind: kind.to_owned(),
            tests: Vec::new(),
        });
        self
    }

    /// Adds a test to the current group; `fields` must be a JSON object.
    pub fn test(
        &mut self,
        comment: &str,
        flags: &[&str],
        result: Verdict,
        fields: Value,
    ) -> &mut Self {
        let fields = match fields {
            Value::Object(m) => m,
            other => {
                let mut m = Map::new();
                m.insert("value".to_owned(), other);
                m
            }
        };
        if self.file.test_groups.is_empty() {
            self.group("default");
        }
        let case = TestCase {
            tc_id: self.next_id,
            comment: comment.to_owned(),
            flags: flags.iter().map(|s| (*s).to_owned()).collect(),
            result,
            fields,
        };
        self.next_id += 1;
        if let Some(g) = self.file.test_groups.last_mut() {
            g.tests.push(case);
        }
        self
    }

    /// The finished file.
    pub fn finish(mut self) -> VectorFile {
        self.file.number_of_tests = (self.next_id - 1) as usize;
        self.file
    }
}

impl VectorFile {
    /// Every test with its group type.
    pub fn tests(&self) -> impl Iterator<Item = (&str, &TestCase)> {
        self.test_groups
            .iter()
            .flat_map(|g| g.tests.iter().map(move |t| (g.kind.as_str(), t)))
    }

    /// The canonical text of the file: pretty JSON, fields in declaration order, trailing
    /// newline. Regeneration compares these bytes.
    pub fn to_canonical_string(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).unwrap_or_default();
        s.push('\n');
        s
    }

    /// Checks the rules the JSON Schema cannot express.
    pub fn lint(&self) -> Result<(), LintError> {
        if self.schema != FORMAT {
            return Err(LintError::Format(self.schema.clone()));
        }
        let mut expected = 1;
        for (_, t) in self.tests() {
            if t.tc_id != expected {
                return Err(LintError::TcId {
                    expected,
                    found: t.tc_id,
                });
            }
            for f in &t.flags {
                if !self.notes.contains_key(f) {
                    return Err(LintError::Flag {
                        tc_id: t.tc_id,
                        flag: f.clone(),
                    });
                }
            }
            expected += 1;
        }
        let actual = (expected - 1) as usize;
        if actual == 0 {
            return Err(LintError::Empty);
        }
        if actual != self.number_of_tests {
            return Err(LintError::Count {
                declared: self.number_of_tests,
                actual,
            });
        }
        Ok(())
    }
}

/// Reads a field of a test as a string.
pub fn field_str<'a>(t: &'a TestCase, name: &str) -> Result<&'a str, String> {
    t.fields
        .get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("tcId {}: field {name:?} missing or not a string", t.tc_id))
}

/// Reads a hex field of a test.
pub fn field_hex(t: &TestCase, name: &str) -> Result<Vec<u8>, String> {
    let s = field_str(t, name)?;
    hex_decode(s).ok_or_else(|| format!("tcId {}: field {name:?} is not hex", t.tc_id))
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

/// Strict lower-case hex decode.
pub fn hex_decode(s: &str) -> Option<Vec<u8>> {
    fn nib(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            _ => None,
        }
    }
    let b = s.as_bytes();
    if !b.len().is_multiple_of(2) {
        return None;
    }
    b.chunks(2)
        .map(|p| Some((nib(p[0])? << 4) | nib(p[1])?))
        .collect()
}
