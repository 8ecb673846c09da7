//! Attribute values and ordered attribute maps, and their construction from parsed JSON.
//!
//! The seed: "Pass numeric values as JSON numbers, not quoted strings", so numbers stay
//! numbers here; and "Nested attributes are flattened. For example: `"attrs": {"nested":
//! {"foo": "1", "bar": "2", "baz": "3"}}`. When ingested, nested has the value
//! `{"foo":"1","bar":"2","baz":"3"}`." Logferry does that flattening itself
//! ([`Flatten::JsonString`], the default), so what it sends, what it sizes and what it
//! estimates are what the server stores; [`Flatten::Dotted`] is the alternative that keeps
//! nested fields searchable one by one (`k8s.pod`).

use crate::json;
use compact_str::CompactString;
use std::fmt;

/// One attribute value. Nested JSON never appears here: it has been flattened (see
/// [`Flatten`]).
///
/// Integers that fit in `i64` are [`AttrValue::Integer`]; [`AttrValue::Unsigned`] is for
/// larger ones (the `From<u64>` conversion and the JSON readers normalise this way, and
/// equality treats `Integer(5)` and `Unsigned(5)` as equal). Non-finite floats are not JSON:
/// they are written as `null`.
#[derive(Debug, Clone)]
pub enum AttrValue {
    /// A string, written escaped. Up to 24 bytes are stored inline, without an allocation
    /// (most keys and many values of log events are that short).
    String(CompactString),
    /// A signed integer.
    Integer(i64),
    /// An unsigned integer above `i64::MAX` (smaller ones are normally `Integer`).
    Unsigned(u64),
    /// A float, written in its shortest round-trip form (`19.4`, `3.0`); NaN and the
    /// infinities are written as `null`.
    Float(f64),
    /// `true` or `false`.
    Bool(bool),
    /// A JSON number kept as written, because no other variant holds it exactly: an
    /// integer beyond 64 bits (`18446744073709551616`), a number beyond `f64`'s range
    /// (`1E400`), a decimal with more digits than an `f64` keeps
    /// (`1767225600.123456789`). The text must be a JSON number (RFC 8259, 6); the JSON
    /// readers make it only from one.
    Number(String),
    /// `null`.
    Null,
}

impl PartialEq for AttrValue {
    fn eq(&self, other: &AttrValue) -> bool {
        use AttrValue::*;
        match (self, other) {
            (String(a), String(b)) => a == b,
            (Integer(a), Integer(b)) => a == b,
            (Unsigned(a), Unsigned(b)) => a == b,
            (Integer(a), Unsigned(b)) | (Unsigned(b), Integer(a)) => {
                u64::try_from(*a).is_ok_and(|a| a == *b)
            }
            (Float(a), Float(b)) => a == b || (!a.is_finite() && !b.is_finite()),
            (Bool(a), Bool(b)) => a == b,
            (Number(a), Number(b)) => a == b,
            (Null, Null) => true,
            _ => false,
        }
    }
}

impl AttrValue {
    /// Appends the value as compact JSON.
    pub(crate) fn write_json(&self, out: &mut Vec<u8>) {
        match self {
            AttrValue::String(s) => json::write_str(out, s),
            AttrValue::Integer(v) => json::write_i64(out, *v),
            AttrValue::Unsigned(v) => json::write_u64(out, *v),
            AttrValue::Float(v) => json::write_f64(out, *v),
            AttrValue::Number(text) => out.extend_from_slice(text.as_bytes()),
            AttrValue::Bool(true) => out.extend_from_slice(b"true"),
            AttrValue::Bool(false) => out.extend_from_slice(b"false"),
            AttrValue::Null => out.extend_from_slice(b"null"),
        }
    }

    /// The string, if this is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            AttrValue::String(s) => Some(s),
            _ => None,
        }
    }
}

impl fmt::Display for AttrValue {
    /// The compact JSON form.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = Vec::new();
        self.write_json(&mut out);
        f.write_str(&String::from_utf8_lossy(&out))
    }
}

impl From<CompactString> for AttrValue {
    fn from(v: CompactString) -> AttrValue {
        AttrValue::String(v)
    }
}
impl From<String> for AttrValue {
    fn from(v: String) -> AttrValue {
        AttrValue::String(v.into())
    }
}
impl From<&str> for AttrValue {
    fn from(v: &str) -> AttrValue {
        AttrValue::String(v.into())
    }
}
impl From<i64> for AttrValue {
    fn from(v: i64) -> AttrValue {
        AttrValue::Integer(v)
    }
}
impl From<i32> for AttrValue {
    fn from(v: i32) -> AttrValue {
        AttrValue::Integer(v.into())
    }
}
impl From<u32> for AttrValue {
    fn from(v: u32) -> AttrValue {
        AttrValue::Integer(v.into())
    }
}
impl From<u64> for AttrValue {
    /// `Integer` when the value fits in `i64`, `Unsigned` otherwise.
    fn from(v: u64) -> AttrValue {
        i64::try_from(v).map_or(AttrValue::Unsigned(v), AttrValue::Integer)
    }
}
impl From<f64> for AttrValue {
    fn from(v: f64) -> AttrValue {
        AttrValue::Float(v)
    }
}
impl From<bool> for AttrValue {
    fn from(v: bool) -> AttrValue {
        AttrValue::Bool(v)
    }
}
impl<T: Into<AttrValue>> From<Option<T>> for AttrValue {
    /// `None` is `null`.
    fn from(v: Option<T>) -> AttrValue {
        v.map_or(AttrValue::Null, Into::into)
    }
}

/// How nested JSON objects and arrays become attribute values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Flatten {
    /// The seed's own flattening: a nested object or array becomes one string attribute
    /// holding its compact JSON text (`nested` → `{"foo":"1","bar":"2","baz":"3"}`). The
    /// default, because it is exactly what the server would store.
    #[default]
    JsonString,
    /// Nested objects become one attribute per leaf with dotted keys (`k8s.pod`,
    /// `k8s.labels.app`); arrays still become their compact JSON text; an empty object
    /// becomes the string `{}`. A later key replaces an earlier equal one.
    Dotted,
}

/// The attributes of an event, a log or a session: keys in insertion order, each key once.
///
/// Keys are [`CompactString`]s: a key of up to 24 bytes (nearly every key) is stored
/// inline, so an event's attributes cost one allocation for the list plus one per long
/// string value, not one per key and value.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Attrs(Vec<(CompactString, AttrValue)>);

impl Attrs {
    /// No attributes.
    pub const fn new() -> Attrs {
        Attrs(Vec::new())
    }

    /// Room for `n` attributes.
    pub fn with_capacity(n: usize) -> Attrs {
        Attrs(Vec::with_capacity(n))
    }

    /// Sets `key` to `value`, replacing the value of an equal key in place, and returns
    /// the old value.
    pub fn insert(
        &mut self,
        key: impl Into<CompactString>,
        value: impl Into<AttrValue>,
    ) -> Option<AttrValue> {
        let key = key.into();
        let value = value.into();
        if let Some(slot) = self.0.iter_mut().find(|(k, _)| *k == key) {
            return Some(std::mem::replace(&mut slot.1, value));
        }
        self.0.push((key, value));
        None
    }

    /// Sets `key` and returns `self`, for building literals.
    pub fn with(mut self, key: impl Into<CompactString>, value: impl Into<AttrValue>) -> Attrs {
        self.insert(key, value);
        self
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&AttrValue> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// A mutable reference to the value of `key`.
    pub fn get_mut(&mut self, key: &str) -> Option<&mut AttrValue> {
        self.0.iter_mut().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// Removes `key`, keeping the order of the others.
    pub fn remove(&mut self, key: &str) -> Option<AttrValue> {
        let i = self.0.iter().position(|(k, _)| k == key)?;
        Some(self.0.remove(i).1)
    }

    /// The number of attributes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The attributes in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&str, &AttrValue)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// The attributes as a slice of pairs.
    pub fn as_slice(&self) -> &[(CompactString, AttrValue)] {
        &self.0
    }

    /// Appends the attributes as a compact JSON object.
    pub(crate) fn write_json(&self, out: &mut Vec<u8>) {
        out.push(b'{');
        for (i, (k, v)) in self.0.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            json::write_str(out, k);
            out.push(b':');
            v.write_json(out);
        }
        out.push(b'}');
    }

    /// The compact JSON object text.
    pub fn to_json(&self) -> String {
        let mut out = Vec::new();
        self.write_json(&mut out);
        String::from_utf8(out).expect("the JSON writer emits UTF-8")
    }

    /// Attributes from a `serde_json` object, nested values flattened as `flatten` says.
    pub fn from_serde_json(
        map: &serde_json::Map<String, serde_json::Value>,
        flatten: Flatten,
    ) -> Attrs {
        let mut attrs = Attrs::with_capacity(map.len());
        for (k, v) in map {
            attrs.add_node(k, v, flatten);
        }
        attrs
    }

    /// Attributes from a simd-json object, nested values flattened as `flatten` says.
    pub fn from_simd_json(map: &simd_json::borrowed::Object<'_>, flatten: Flatten) -> Attrs {
        let mut attrs = Attrs::with_capacity(map.len());
        for (k, v) in map.iter() {
            attrs.add_node(k, v, flatten);
        }
        attrs
    }

    /// Adds one JSON member, flattening nested values.
    pub(crate) fn add_node<V: JsonNode>(&mut self, key: &str, value: &V, flatten: Flatten) {
        match value.node() {
            Node::Object if flatten == Flatten::Dotted && !value.is_empty_container() => {
                value.for_each_entry(&mut |k, v| {
                    let dotted = format!("{key}.{k}");
                    self.add_node(&dotted, v, flatten);
                });
            }
            _ => {
                self.insert(key, flat_value(value));
            }
        }
    }
}

impl<K: Into<CompactString>, V: Into<AttrValue>> FromIterator<(K, V)> for Attrs {
    /// Later keys replace earlier equal ones.
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Attrs {
        let mut attrs = Attrs::new();
        for (k, v) in iter {
            attrs.insert(k, v);
        }
        attrs
    }
}

impl<'a> IntoIterator for &'a Attrs {
    type Item = &'a (CompactString, AttrValue);
    type IntoIter = std::slice::Iter<'a, (CompactString, AttrValue)>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl serde::Serialize for AttrValue {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            AttrValue::String(s) => serializer.serialize_str(s),
            AttrValue::Integer(v) => serializer.serialize_i64(*v),
            AttrValue::Unsigned(v) => serializer.serialize_u64(*v),
            AttrValue::Float(v) if v.is_finite() => serializer.serialize_f64(*v),
            AttrValue::Float(_) | AttrValue::Null => serializer.serialize_unit(),
            AttrValue::Bool(v) => serializer.serialize_bool(*v),
            // serde has no number-as-text: the nearest f64 (the request body writes the
            // text itself).
            AttrValue::Number(text) => match text.parse::<f64>() {
                Ok(f) if f.is_finite() => serializer.serialize_f64(f),
                _ => serializer.serialize_str(text),
            },
        }
    }
}

impl serde::Serialize for Attrs {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            map.serialize_entry(k.as_str(), v)?;
        }
        map.end()
    }
}

/// A borrowed view of one JSON value, the common ground of `serde_json` and simd-json.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Node<'a> {
    Null,
    Bool(bool),
    I64(i64),
    U64(u64),
    F64(f64),
    /// A number kept as written (only [`crate::numbers::Raw`] makes these).
    Number(&'a str),
    Str(&'a str),
    Array,
    Object,
}

/// A parsed JSON value that logferry can read (`serde_json::Value`, simd-json's
/// borrowed value).
pub(crate) trait JsonNode {
    fn node(&self) -> Node<'_>;
    /// Calls `f` for each member of an object (nothing for other values).
    fn for_each_entry(&self, f: &mut dyn FnMut(&str, &Self));
    /// Calls `f` for each element of an array (nothing for other values).
    fn for_each_elem(&self, f: &mut dyn FnMut(&Self));
    /// The number of elements or members (0 for scalars).
    fn container_len(&self) -> usize;
    fn is_empty_container(&self) -> bool {
        self.container_len() == 0
    }
}

/// A parsed JSON tree whose members can be looked up (what request parsing needs).
pub(crate) trait JsonTree: JsonNode {
    /// The member `key` of an object.
    fn member(&self, key: &str) -> Option<&Self>;
    /// The element `i` of an array.
    fn elem(&self, i: usize) -> Option<&Self>;
}

/// A value on a simd-json tape: the nodes from it to its end. Reading an event from
/// the tape directly, rather than from a `BorrowedValue` built from it, saves building
/// (allocating) a map per object and a vector per array of every line.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TapeValue<'t, 'i>(pub(crate) &'t [simd_json::Node<'i>]);

impl<'t, 'i> TapeValue<'t, 'i> {
    /// The number of nodes of the value starting at `node` (itself included).
    fn span(node: &simd_json::Node<'_>) -> usize {
        match node {
            simd_json::Node::Object { count, .. } | simd_json::Node::Array { count, .. } => {
                count + 1
            }
            _ => 1,
        }
    }

    /// The `n` values that follow a container's header, each with its own nodes: an
    /// array's elements, or an object's names and values in turn.
    fn children(self, n: usize) -> impl Iterator<Item = TapeValue<'t, 'i>> {
        let mut rest = self.0.get(1..).unwrap_or_default();
        (0..n).map_while(move |_| {
            let (value, next) = rest.split_at(Self::span(rest.first()?));
            rest = next;
            Some(TapeValue(value))
        })
    }

    /// The members of an object, in order (duplicates kept); nothing for other values.
    pub(crate) fn entries(self) -> impl Iterator<Item = (&'i str, TapeValue<'t, 'i>)> {
        let len = match self.0.first() {
            Some(simd_json::Node::Object { len, .. }) => *len,
            _ => 0,
        };
        let mut children = self.children(2 * len);
        std::iter::from_fn(move || {
            let (name, value) = (children.next()?, children.next()?);
            match name.0.first() {
                Some(simd_json::Node::String(key)) => Some((*key, value)),
                _ => None,
            }
        })
    }

    /// The elements of an array, in order; nothing for other values.
    fn elems(self) -> impl Iterator<Item = TapeValue<'t, 'i>> {
        let len = match self.0.first() {
            Some(simd_json::Node::Array { len, .. }) => *len,
            _ => 0,
        };
        self.children(len)
    }
}

impl JsonNode for TapeValue<'_, '_> {
    fn node(&self) -> Node<'_> {
        use simd_json::{Node as T, StaticNode as S};
        match self.0.first() {
            Some(T::String(s)) => Node::Str(s),
            Some(T::Object { .. }) => Node::Object,
            Some(T::Array { .. }) => Node::Array,
            Some(T::Static(S::Bool(b))) => Node::Bool(*b),
            Some(T::Static(S::I64(i))) => Node::I64(*i),
            Some(T::Static(S::U64(u))) => match i64::try_from(*u) {
                Ok(i) => Node::I64(i),
                Err(_) => Node::U64(*u),
            },
            Some(T::Static(S::F64(f))) => Node::F64(*f),
            Some(T::Static(S::Null)) | None => Node::Null,
        }
    }
    fn for_each_entry(&self, f: &mut dyn FnMut(&str, &Self)) {
        for (k, v) in self.entries() {
            f(k, &v);
        }
    }
    fn for_each_elem(&self, f: &mut dyn FnMut(&Self)) {
        for v in self.elems() {
            f(&v);
        }
    }
    fn container_len(&self) -> usize {
        match self.0.first() {
            Some(simd_json::Node::Object { len, .. } | simd_json::Node::Array { len, .. }) => *len,
            _ => 0,
        }
    }
}

impl JsonNode for serde_json::Value {
    fn node(&self) -> Node<'_> {
        use serde_json::Value as V;
        match self {
            V::Null => Node::Null,
            V::Bool(b) => Node::Bool(*b),
            V::Number(n) => {
                if let Some(i) = n.as_i64() {
                    Node::I64(i)
                } else if let Some(u) = n.as_u64() {
                    Node::U64(u)
                } else {
                    Node::F64(n.as_f64().unwrap_or(f64::NAN))
                }
            }
            V::String(s) => Node::Str(s),
            V::Array(_) => Node::Array,
            V::Object(_) => Node::Object,
        }
    }
    fn for_each_entry(&self, f: &mut dyn FnMut(&str, &Self)) {
        if let serde_json::Value::Object(m) = self {
            for (k, v) in m {
                f(k, v);
            }
        }
    }
    fn for_each_elem(&self, f: &mut dyn FnMut(&Self)) {
        if let serde_json::Value::Array(a) = self {
            a.iter().for_each(f);
        }
    }
    fn container_len(&self) -> usize {
        match self {
            serde_json::Value::Array(a) => a.len(),
            serde_json::Value::Object(m) => m.len(),
            _ => 0,
        }
    }
}

impl JsonTree for serde_json::Value {
    fn member(&self, key: &str) -> Option<&Self> {
        self.as_object()?.get(key)
    }
    fn elem(&self, i: usize) -> Option<&Self> {
        self.as_array()?.get(i)
    }
}

impl JsonNode for simd_json::BorrowedValue<'_> {
    fn node(&self) -> Node<'_> {
        use simd_json::{BorrowedValue as V, StaticNode as S};
        match self {
            V::Static(S::Null) => Node::Null,
            V::Static(S::Bool(b)) => Node::Bool(*b),
            V::Static(S::I64(i)) => Node::I64(*i),
            V::Static(S::U64(u)) => match i64::try_from(*u) {
                Ok(i) => Node::I64(i),
                Err(_) => Node::U64(*u),
            },
            V::Static(S::F64(f)) => Node::F64(*f),
            V::String(s) => Node::Str(s),
            V::Array(_) => Node::Array,
            V::Object(_) => Node::Object,
        }
    }
    fn for_each_entry(&self, f: &mut dyn FnMut(&str, &Self)) {
        if let simd_json::BorrowedValue::Object(m) = self {
            for (k, v) in m.iter() {
                f(k, v);
            }
        }
    }
    fn for_each_elem(&self, f: &mut dyn FnMut(&Self)) {
        if let simd_json::BorrowedValue::Array(a) = self {
            a.iter().for_each(f);
        }
    }
    fn container_len(&self) -> usize {
        match self {
            simd_json::BorrowedValue::Array(a) => a.len(),
            simd_json::BorrowedValue::Object(m) => m.len(),
            _ => 0,
        }
    }
}

impl JsonTree for simd_json::BorrowedValue<'_> {
    fn member(&self, key: &str) -> Option<&Self> {
        match self {
            // simd-json keeps duplicate names and `get` returns the first; serde_json keeps
            // the last, as "many implementations" do (RFC 8259 §4). Take the last here too
            // so both parsers read a request the same way.
            simd_json::BorrowedValue::Object(m) => m
                .iter()
                .filter(|(k, _)| k.as_ref() == key)
                .map(|(_, v)| v)
                .last(),
            _ => None,
        }
    }
    fn elem(&self, i: usize) -> Option<&Self> {
        match self {
            simd_json::BorrowedValue::Array(a) => a.get(i),
            _ => None,
        }
    }
}

/// A scalar as an attribute value; a container as its compact JSON text.
pub(crate) fn flat_value<V: JsonNode>(v: &V) -> AttrValue {
    match v.node() {
        Node::Null => AttrValue::Null,
        Node::Bool(b) => AttrValue::Bool(b),
        Node::I64(i) => AttrValue::Integer(i),
        Node::U64(u) => AttrValue::from(u),
        Node::F64(f) => AttrValue::Float(f),
        Node::Number(t) => AttrValue::Number(t.to_owned()),
        Node::Str(s) => AttrValue::String(s.into()),
        Node::Array | Node::Object => {
            // Written into a reused buffer, then copied once at its final size (or kept
            // inline): growing a fresh `Vec` would reallocate several times per value.
            thread_local!(static TEXT: std::cell::RefCell<Vec<u8>> = const {
                std::cell::RefCell::new(Vec::new())
            });
            TEXT.with_borrow_mut(|out| {
                out.clear();
                write_compact(v, out);
                let text = std::str::from_utf8(out).expect("the JSON writer emits UTF-8");
                let value = AttrValue::String(CompactString::from(text));
                out.truncate(0);
                out.shrink_to(64 * 1024);
                value
            })
        }
    }
}

/// Appends any JSON value in compact form (member order as the parser kept it).
pub(crate) fn write_compact<V: JsonNode>(v: &V, out: &mut Vec<u8>) {
    match v.node() {
        Node::Null => out.extend_from_slice(b"null"),
        Node::Bool(b) => AttrValue::Bool(b).write_json(out),
        Node::I64(i) => json::write_i64(out, i),
        Node::U64(u) => json::write_u64(out, u),
        Node::F64(f) => json::write_f64(out, f),
        Node::Number(t) => out.extend_from_slice(t.as_bytes()),
        Node::Str(s) => json::write_str(out, s),
        Node::Array => {
            out.push(b'[');
            let mut first = true;
            v.for_each_elem(&mut |e| {
                if !std::mem::take(&mut first) {
                    out.push(b',');
                }
                write_compact(e, out);
            });
            out.push(b']');
        }
        Node::Object => {
            out.push(b'{');
            let mut first = true;
            v.for_each_entry(&mut |k, e| {
                if !std::mem::take(&mut first) {
                    out.push(b',');
                }
                json::write_str(out, k);
                out.push(b':');
                write_compact(e, out);
            });
            out.push(b'}');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn simd_attrs(text: &str, flatten: Flatten) -> Attrs {
        let mut buf = text.as_bytes().to_vec();
        let v = simd_json::to_borrowed_value(&mut buf).expect("valid JSON");
        match &v {
            simd_json::BorrowedValue::Object(m) => Attrs::from_simd_json(m, flatten),
            _ => panic!("not an object"),
        }
    }

    #[test]
    fn seed_nested_example_flattens_to_its_json_text() {
        let text = r#"{"nested":{"foo":"1","bar":"2","baz":"3"},"n":39217,"f":19.4,"b":true,"z":null,"a":[1,"x",{"k":[]}]}"#;
        let attrs = simd_attrs(text, Flatten::JsonString);
        assert_eq!(
            attrs.get("nested"),
            Some(&AttrValue::from(r#"{"foo":"1","bar":"2","baz":"3"}"#))
        );
        assert_eq!(attrs.get("n"), Some(&AttrValue::Integer(39217)));
        assert_eq!(attrs.get("f"), Some(&AttrValue::Float(19.4)));
        assert_eq!(attrs.get("b"), Some(&AttrValue::Bool(true)));
        assert_eq!(attrs.get("z"), Some(&AttrValue::Null));
        assert_eq!(
            attrs.get("a"),
            Some(&AttrValue::from(r#"[1,"x",{"k":[]}]"#))
        );
        assert_eq!(
            attrs.to_json(),
            r#"{"nested":"{\"foo\":\"1\",\"bar\":\"2\",\"baz\":\"3\"}","n":39217,"f":19.4,"b":true,"z":null,"a":"[1,\"x\",{\"k\":[]}]"}"#
        );
        // serde_json's map sorts keys, so only the set of attributes is compared.
        let value: serde_json::Value = serde_json::from_str(text).expect("valid");
        let via_serde =
            Attrs::from_serde_json(value.as_object().expect("object"), Flatten::JsonString);
        assert_eq!(via_serde.len(), attrs.len());
        for (k, v) in via_serde.iter().filter(|(k, _)| *k != "nested") {
            assert_eq!(attrs.get(k), Some(v), "{k}");
        }
    }

    #[test]
    fn dotted_flattening() {
        let attrs = simd_attrs(
            r#"{"k8s":{"pod":"api-1","labels":{"app":"api"},"empty":{}},"tags":["a"],"k8s.pod":"dup"}"#,
            Flatten::Dotted,
        );
        assert_eq!(
            attrs.to_json(),
            r#"{"k8s.pod":"dup","k8s.labels.app":"api","k8s.empty":"{}","tags":"[\"a\"]"}"#
        );
    }

    #[test]
    fn integers_normalise_and_compare_across_variants() {
        assert_eq!(AttrValue::from(5u64), AttrValue::Integer(5));
        assert_eq!(AttrValue::from(u64::MAX), AttrValue::Unsigned(u64::MAX));
        assert_eq!(AttrValue::Unsigned(5), AttrValue::Integer(5));
        assert_ne!(AttrValue::Integer(-1), AttrValue::Unsigned(u64::MAX));
        assert_ne!(AttrValue::Integer(1), AttrValue::Float(1.0));
        let attrs = simd_attrs(
            r#"{"big":18446744073709551615,"neg":-3}"#,
            Flatten::JsonString,
        );
        assert_eq!(attrs.get("big"), Some(&AttrValue::Unsigned(u64::MAX)));
        assert_eq!(attrs.to_json(), r#"{"big":18446744073709551615,"neg":-3}"#);
    }

    #[test]
    fn insert_replaces_in_place() {
        let mut attrs = Attrs::new().with("a", 1).with("b", 2);
        assert_eq!(attrs.insert("a", "x"), Some(AttrValue::Integer(1)));
        assert_eq!(attrs.to_json(), r#"{"a":"x","b":2}"#);
        assert_eq!(attrs.remove("a"), Some(AttrValue::from("x")));
        assert_eq!(attrs.to_json(), r#"{"b":2}"#);
        assert_eq!(
            serde_json::to_string(&attrs.with("nan", f64::NAN)).expect("serializes"),
            r#"{"b":2,"nan":null}"#
        );
    }
}
