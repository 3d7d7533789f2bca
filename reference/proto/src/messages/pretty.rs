//! The Java library's `PRETTY_PRINT` layout (what the recorded samples hold byte for byte):
//! 2-space indentation, `"name": value`, arrays of objects written `[{ … },{ … }]`, arrays of
//! simple values on one line when short and one per line otherwise, and a trailing newline.

use serde_json::Value;

use super::jcs::write_string;

/// The sum of item text lengths above which a simple array is broken into lines.
const LINE_BREAK_LIMIT: usize = 100;

/// `v` in the Java `PRETTY_PRINT` form.
pub(crate) fn java_pretty(v: &Value) -> String {
    let mut out = String::new();
    write(v, 0, &mut out);
    out.push('\n');
    out
}

fn indent(n: usize, out: &mut String) {
    for _ in 0..n {
        out.push_str("  ");
    }
}

fn scalar(v: &Value, out: &mut String) {
    match v {
        Value::String(s) => write_string(s, out),
        other => out.push_str(&other.to_string()),
    }
}

fn write(v: &Value, level: usize, out: &mut String) {
    match v {
        Value::Object(m) => {
            out.push('{');
            if m.is_empty() {
                out.push('}');
                return;
            }
            let mut first = true;
            for (k, x) in m {
                if !first {
                    out.push(',');
                }
                first = false;
                out.push('\n');
                indent(level + 1, out);
                write_string(k, out);
                out.push_str(": ");
                write(x, level + 1, out);
            }
            out.push('\n');
            indent(level, out);
            out.push('}');
        }
        Value::Array(a) => {
            if a.is_empty() {
                out.push_str("[]");
            } else if a.iter().all(Value::is_object) {
                out.push('[');
                for (i, x) in a.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write(x, level, out);
                }
                out.push(']');
            } else if a.iter().any(|x| x.is_object() || x.is_array()) {
                out.push('[');
                for (i, x) in a.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push('\n');
                    indent(level + 1, out);
                    write(x, level + 1, out);
                }
                out.push('\n');
                indent(level, out);
                out.push(']');
            } else {
                let mut items = Vec::with_capacity(a.len());
                for x in a {
                    let mut s = String::new();
                    scalar(x, &mut s);
                    items.push(s);
                }
                let total: usize = items.iter().map(String::len).sum();
                if total > LINE_BREAK_LIMIT {
                    out.push('[');
                    for (i, s) in items.iter().enumerate() {
                        if i > 0 {
                            out.push(',');
                        }
                        out.push('\n');
                        indent(level + 1, out);
                        out.push_str(s);
                    }
                    out.push('\n');
                    indent(level, out);
                    out.push(']');
                } else {
                    out.push('[');
                    out.push_str(&items.join(", "));
                    out.push(']');
                }
            }
        }
        other => scalar(other, out),
    }
}
