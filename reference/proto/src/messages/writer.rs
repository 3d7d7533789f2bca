//! Small helpers to build JSON objects in a fixed property order.

use serde_json::{Map, Value};

use crate::codec::b64url;

pub(crate) trait MapExt {
    fn s(&mut self, k: &str, v: &str);
    fn b(&mut self, k: &str, v: &[u8]);
    fn flag(&mut self, k: &str, v: bool);
    fn n(&mut self, k: &str, v: i64);
    fn strs(&mut self, k: &str, v: &[String]);
    fn blobs(&mut self, k: &str, v: &[Vec<u8>]);
    fn put(&mut self, k: &str, v: Value);
    fn objs<T>(&mut self, k: &str, v: &[T], f: impl Fn(&T, &mut Map<String, Value>));
}

impl MapExt for Map<String, Value> {
    fn s(&mut self, k: &str, v: &str) {
        self.insert(k.into(), Value::String(v.into()));
    }
    fn b(&mut self, k: &str, v: &[u8]) {
        self.insert(k.into(), Value::String(b64url::encode(v)));
    }
    fn flag(&mut self, k: &str, v: bool) {
        self.insert(k.into(), Value::Bool(v));
    }
    fn n(&mut self, k: &str, v: i64) {
        self.insert(k.into(), Value::Number(v.into()));
    }
    fn strs(&mut self, k: &str, v: &[String]) {
        self.insert(
            k.into(),
            Value::Array(v.iter().map(|s| Value::String(s.clone())).collect()),
        );
    }
    fn blobs(&mut self, k: &str, v: &[Vec<u8>]) {
        self.insert(
            k.into(),
            Value::Array(v.iter().map(|b| Value::String(b64url::encode(b))).collect()),
        );
    }
    fn put(&mut self, k: &str, v: Value) {
        self.insert(k.into(), v);
    }
    fn objs<T>(&mut self, k: &str, v: &[T], f: impl Fn(&T, &mut Map<String, Value>)) {
        let a = v
            .iter()
            .map(|t| {
                let mut m = Map::new();
                f(t, &mut m);
                Value::Object(m)
            })
            .collect();
        self.insert(k.into(), Value::Array(a));
    }
}

/// Builds an object.
pub(crate) fn obj(f: impl FnOnce(&mut Map<String, Value>)) -> Value {
    let mut m = Map::new();
    f(&mut m);
    Value::Object(m)
}
