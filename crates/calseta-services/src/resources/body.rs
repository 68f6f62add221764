//! Reading a JSON object body field by field (agents, sources, provider changes), where a field
//! may be absent, `null` or set: a value of the wrong type is a located field error, never read
//! as `null` (which would clear the field).

use serde_json::Value;

use crate::FieldError;

/// A text field: `null` is `None`; anything but a string or `null` is an error.
pub fn text(field: &str, value: &Value, errors: &mut Vec<FieldError>) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Null => None,
        _ => {
            errors.push(FieldError::body(field, format!("{field} must be a string or null")));
            None
        }
    }
}

/// A boolean field: `null` is `None`; anything but `true`, `false` or `null` is an error.
pub fn flag(field: &str, value: &Value, errors: &mut Vec<FieldError>) -> Option<bool> {
    match value {
        Value::Bool(b) => Some(*b),
        Value::Null => None,
        _ => {
            errors.push(FieldError::body(field, format!("{field} must be true or false")));
            None
        }
    }
}

/// An integer field's value: a JSON integer, or a number with a zero fraction (`5.0`), as JSON
/// Schema's `integer` reads it; `None` for anything else, so that the caller names its bounds.
pub fn integer(value: &Value) -> Option<i64> {
    let Value::Number(n) = value else { return None };
    // i64's range as f64 (2^63 exclusive): within it, a whole f64 converts exactly.
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    n.as_i64()
        .or_else(|| n.as_f64().filter(|f| f.fract() == 0.0 && (-LIMIT..LIMIT).contains(f)).map(|f| f as i64))
}

/// A list of strings (errors on anything else).
pub fn strings(field: &str, value: &Value, errors: &mut Vec<FieldError>) -> Vec<String> {
    match serde_json::from_value::<Vec<String>>(value.clone()) {
        Ok(list) => list,
        Err(_) => {
            errors.push(FieldError::body(field, format!("{field} must be a list of strings")));
            Vec::new()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn wrong_types_are_errors_and_null_is_none() {
        let mut errors = Vec::new();
        assert_eq!(text("a", &json!("x"), &mut errors), Some("x".into()));
        assert_eq!(text("a", &Value::Null, &mut errors), None);
        assert!(errors.is_empty());
        assert_eq!(text("a", &json!({}), &mut errors), None);
        assert_eq!(flag("b", &json!(1), &mut errors), None);
        assert_eq!(flag("b", &json!(true), &mut errors), Some(true));
        assert_eq!(strings("c", &json!([1]), &mut errors), Vec::<String>::new());
        assert_eq!(errors.len(), 3);
    }

    #[test]
    fn integers_include_numbers_with_a_zero_fraction() {
        assert_eq!(integer(&json!(5)), Some(5));
        assert_eq!(integer(&json!(5.0)), Some(5));
        assert_eq!(integer(&json!(-3.0)), Some(-3));
        assert_eq!(integer(&json!(5.5)), None);
        assert_eq!(integer(&json!(1e300)), None);
        assert_eq!(integer(&json!(u64::MAX)), None);
        assert_eq!(integer(&json!("5")), None);
    }
}
