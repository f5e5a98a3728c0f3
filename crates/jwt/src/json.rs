//! Strict JSON objects for JOSE headers, claims and JWKS documents.
//!
//! `serde_json::Value` silently keeps the last of two duplicate members, and parsers
//! disagree on which one wins: a token could mean `sub: alice` to us and `sub: admin` to
//! the next hop. So duplicates are an error at every depth, the text must be exactly one
//! object (first byte `{`, last byte `}`: no BOM, no surrounding whitespace, no trailing
//! bytes) and nesting is bounded.

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};
use std::fmt;

/// Nesting accepted inside a header or claims object. Real tokens use 2 or 3 levels.
pub(crate) const MAX_DEPTH: usize = 16;

#[derive(Debug)]
pub(crate) enum JsonError {
    NotAnObject,
    Syntax(String),
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotAnObject => f.write_str("not a JSON object"),
            Self::Syntax(s) => f.write_str(s),
        }
    }
}

/// Parses `bytes` as one JSON object, rejecting duplicate member names at any depth.
pub(crate) fn parse_object(bytes: &[u8], max_depth: usize) -> Result<Map<String, Value>, JsonError> {
    if bytes.first() != Some(&b'{') || bytes.last() != Some(&b'}') {
        return Err(JsonError::NotAnObject);
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = StrictSeed {
        depth_left: max_depth,
    }
    .deserialize(&mut de)
    .map_err(|e| JsonError::Syntax(describe(&e)))?;
    de.end().map_err(|e| JsonError::Syntax(describe(&e)))?;
    match value {
        Value::Object(map) => Ok(map),
        _ => Err(JsonError::NotAnObject),
    }
}

/// serde_json messages carry positions and our own bounded texts, not input bytes.
fn describe(e: &serde_json::Error) -> String {
    e.to_string()
}

struct StrictSeed {
    depth_left: usize,
}

impl<'de> DeserializeSeed<'de> for StrictSeed {
    type Value = Value;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(StrictVisitor {
            depth_left: self.depth_left,
        })
    }
}

struct StrictVisitor {
    depth_left: usize,
}

impl StrictVisitor {
    fn child<E: de::Error>(&self) -> Result<StrictSeed, E> {
        match self.depth_left.checked_sub(1) {
            Some(depth_left) => Ok(StrictSeed { depth_left }),
            None => Err(E::custom("nesting too deep")),
        }
    }
}

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        serde_json::Number::from_f64(v)
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

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let seed = self.child::<A::Error>()?;
        let mut out = Vec::new();
        while let Some(v) = seq.next_element_seed(StrictSeed {
            depth_left: seed.depth_left,
        })? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let seed = self.child::<A::Error>()?;
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if out.contains_key(&key) {
                return Err(de::Error::custom(format_args!(
                    "duplicate member {:?}",
                    crate::reject::fragment(&key, 32)
                )));
            }
            let v = map.next_value_seed(StrictSeed {
                depth_left: seed.depth_left,
            })?;
            out.insert(key, v);
        }
        Ok(Value::Object(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Result<Map<String, Value>, JsonError> {
        parse_object(s.as_bytes(), MAX_DEPTH)
    }

    #[test]
    fn accepts_plain_objects() {
        let m = p(r#"{"a":1,"b":[1,2,{"c":null}],"d":1.5,"e":18446744073709551615}"#).unwrap();
        assert_eq!(m.len(), 4);
        assert!(p(r#"{ "a" : 1 }"#).is_ok());
    }

    #[test]
    fn rejects_duplicates_at_any_depth() {
        let e = p(r#"{"sub":"alice","sub":"admin"}"#).unwrap_err();
        assert!(e.to_string().contains("duplicate member \"sub\""), "{e}");
        assert!(p(r#"{"a":{"x":1,"x":2}}"#).is_err());
        assert!(p(r#"{"a":[{"x":1,"x":2}]}"#).is_err());
    }

    #[test]
    fn rejects_non_objects_bom_trailing_and_whitespace() {
        assert!(matches!(p("[1]"), Err(JsonError::NotAnObject)));
        assert!(matches!(p("\"x\""), Err(JsonError::NotAnObject)));
        assert!(p("\u{feff}{}").is_err());
        assert!(p("{}xyz").is_err());
        assert!(p("{} ").is_err());
        assert!(p(" {}").is_err());
        assert!(p("{}{}").is_err());
        assert!(p(r#"{"a":"\ud800"}"#).is_err());
    }

    #[test]
    fn bounds_nesting() {
        let deep = format!("{{\"x\":{}1{}}}", "[".repeat(20), "]".repeat(20));
        assert!(p(&deep).is_err());
        let ok = format!("{{\"x\":{}1{}}}", "[".repeat(10), "]".repeat(10));
        assert!(p(&ok).is_ok());
        // Far beyond serde_json's own limit: still an error, never a stack overflow.
        let very = format!("{{\"x\":{}1{}}}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(parse_object(very.as_bytes(), usize::MAX).is_err());
    }
}
