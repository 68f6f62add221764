//! Deserialization helpers for request bodies.

use chrono::{DateTime, Utc};
use serde::de::{self, IntoDeserializer, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// Distinguishes an explicit `null` (`Some(None)`) from an omitted field (`None`, with
/// `#[serde(default)]`): JSON-merge-patch semantics.
pub fn double_option<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// An optional timestamp in any shape `calseta_core::time::parse_timestamp` accepts.
pub fn lenient_timestamp<'de, D>(deserializer: D) -> Result<Option<DateTime<Utc>>, D::Error>
where
    D: Deserializer<'de>,
{
    match Option::<serde_json::Value>::deserialize(deserializer)? {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::String(text)) => {
            calseta_core::time::parse_timestamp_field(&text).map(Some).map_err(serde::de::Error::custom)
        }
        Some(serde_json::Value::Number(n)) => n
            .as_f64()
            .and_then(calseta_core::time::from_epoch)
            .map(Some)
            .ok_or_else(|| serde::de::Error::custom("not a valid epoch timestamp")),
        Some(_) => Err(serde::de::Error::custom("expected a datetime string")),
    }
}

/// A request body already parsed as JSON, read into a request type as JSON Schema's `integer`
/// reads: a number with a zero fraction (`5.0`) is the integer it equals wherever an integer is
/// expected, and an integer its field's type cannot hold is refused naming that type's bound.
/// Everything else reads exactly as `serde_json::Value` reads.
pub struct LenientBody(pub serde_json::Value);

/// The whole number `n` is, when it is one (`5` or `5.0`, not `5.5`).
fn whole(n: &serde_json::Number) -> Option<i128> {
    if let Some(i) = n.as_i64() {
        return Some(i128::from(i));
    }
    if let Some(u) = n.as_u64() {
        return Some(i128::from(u));
    }
    // i128's range as f64 (2^127 exclusive): within it, a whole f64 converts exactly.
    const LIMIT: f64 = 170_141_183_460_469_231_731_687_303_715_884_105_728.0;
    n.as_f64().filter(|f| f.fract() == 0.0 && (-LIMIT..LIMIT).contains(f)).map(|f| f as i128)
}

macro_rules! lenient_integers {
    ($($method:ident => $ty:ty),* $(,)?) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
            let Value::Number(n) = &self.0 else { return self.0.$method(visitor) };
            let Some(whole) = whole(n) else { return self.0.$method(visitor) };
            match <$ty>::try_from(whole) {
                Ok(v) => IntoDeserializer::<'de, serde_json::Error>::into_deserializer(v).$method(visitor),
                Err(_) if whole > 0 => {
                    Err(de::Error::custom(format!("Input should be less than or equal to {}", <$ty>::MAX)))
                }
                Err(_) => {
                    Err(de::Error::custom(format!("Input should be greater than or equal to {}", <$ty>::MIN)))
                }
            }
        }
    )*};
}

macro_rules! delegated {
    ($($method:ident),* $(,)?) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
            self.0.$method(visitor)
        }
    )*};
}

impl<'de> Deserializer<'de> for LenientBody {
    type Error = serde_json::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        match self.0 {
            Value::Array(items) => visitor.visit_seq(LenientSeq(items.into_iter())),
            Value::Object(map) => visitor.visit_map(LenientMap { entries: map.into_iter(), value: None }),
            other => other.deserialize_any(visitor),
        }
    }

    lenient_integers!(
        deserialize_i8 => i8, deserialize_i16 => i16, deserialize_i32 => i32, deserialize_i64 => i64,
        deserialize_i128 => i128, deserialize_u8 => u8, deserialize_u16 => u16, deserialize_u32 => u32,
        deserialize_u64 => u64, deserialize_u128 => u128,
    );

    delegated!(
        deserialize_bool,
        deserialize_f32,
        deserialize_f64,
        deserialize_char,
        deserialize_str,
        deserialize_string,
        deserialize_bytes,
        deserialize_byte_buf,
        deserialize_unit,
        deserialize_identifier,
        deserialize_ignored_any,
    );

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        match self.0 {
            Value::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.0.deserialize_unit_struct(name, visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        // serde_json's own handling (e.g. `RawValue`) applies to a newtype's value as is.
        self.0.deserialize_newtype_struct(name, visitor)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        match self.0 {
            Value::Array(_) => self.deserialize_any(visitor),
            other => other.deserialize_seq(visitor),
        }
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value, Self::Error> {
        match self.0 {
            Value::Array(_) => self.deserialize_any(visitor),
            other => other.deserialize_tuple(len, visitor),
        }
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        match self.0 {
            Value::Array(_) => self.deserialize_any(visitor),
            other => other.deserialize_tuple_struct(name, len, visitor),
        }
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        match self.0 {
            Value::Object(_) => self.deserialize_any(visitor),
            other => other.deserialize_map(visitor),
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        match self.0 {
            Value::Object(_) | Value::Array(_) => self.deserialize_any(visitor),
            other => other.deserialize_struct(name, fields, visitor),
        }
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.0.deserialize_enum(name, variants, visitor)
    }
}

/// The items of an array, each read leniently.
struct LenientSeq(std::vec::IntoIter<Value>);

impl<'de> de::SeqAccess<'de> for LenientSeq {
    type Error = serde_json::Error;

    fn next_element_seed<T: de::DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Self::Error> {
        self.0.next().map(|item| seed.deserialize(LenientBody(item))).transpose()
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.0.len())
    }
}

/// The entries of an object, each value read leniently.
struct LenientMap {
    entries: <serde_json::Map<String, Value> as IntoIterator>::IntoIter,
    value: Option<Value>,
}

impl<'de> de::MapAccess<'de> for LenientMap {
    type Error = serde_json::Error;

    fn next_key_seed<K: de::DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Self::Error> {
        let Some((key, value)) = self.entries.next() else { return Ok(None) };
        self.value = Some(value);
        seed.deserialize(Value::String(key)).map(Some)
    }

    fn next_value_seed<V: de::DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Self::Error> {
        let value = self.value.take().ok_or_else(|| de::Error::custom("a value is read after its key"))?;
        seed.deserialize(LenientBody(value))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.entries.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[derive(Debug, Deserialize, PartialEq)]
    struct Inner {
        count: u8,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    struct Body {
        size: i32,
        #[serde(default)]
        limit: Option<u16>,
        #[serde(default)]
        items: Vec<i64>,
        #[serde(default)]
        inner: Option<Inner>,
        #[serde(default)]
        ratio: Option<f64>,
        #[serde(default)]
        free: Option<Value>,
    }

    fn read(value: Value) -> Result<Body, String> {
        Body::deserialize(LenientBody(value)).map_err(|e| e.to_string())
    }

    #[test]
    fn whole_numbers_with_a_zero_fraction_read_as_integers_everywhere() {
        let body = read(json!({"size": 5.0, "limit": 7.0, "items": [1.0, -2.0, 3], "inner": {"count": 4.0},
                               "ratio": 1, "free": {"x": 5.0}}));
        assert_eq!(
            body,
            Ok(Body {
                size: 5,
                limit: Some(7),
                items: vec![1, -2, 3],
                inner: Some(Inner { count: 4 }),
                ratio: Some(1.0),
                // What is kept as JSON stays as it was written.
                free: Some(json!({"x": 5.0})),
            })
        );
        assert_eq!(read(json!({"size": 5, "limit": null})).map(|b| b.limit), Ok(None));
    }

    #[test]
    fn fractions_wrong_types_and_numbers_out_of_range_are_refused_with_the_bound() {
        assert!(read(json!({"size": 5.5})).is_err_and(|e| e.contains("floating point")));
        assert!(read(json!({"size": "5"})).is_err_and(|e| e.contains("invalid type")));
        assert_eq!(
            read(json!({"size": 1e10})).map(|b| b.size),
            Err("Input should be less than or equal to 2147483647".into())
        );
        assert_eq!(
            read(json!({"size": 1, "limit": -1})).map(|b| b.limit),
            Err("Input should be greater than or equal to 0".into())
        );
        assert_eq!(
            read(json!({"size": 1, "inner": {"count": 300.0}})).map(|b| b.inner),
            Err("Input should be less than or equal to 255".into())
        );
        assert!(read(json!({"limit": 1})).is_err_and(|e| e.contains("missing field `size`")));
    }
}
