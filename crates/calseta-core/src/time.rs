//! Lenient timestamp parsing: RFC 3339, naive date-times (taken as UTC), dates, epoch seconds or
//! milliseconds — the shapes SIEMs and people send.

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};

/// Epoch values at or above this are milliseconds (year 2286 in seconds).
const MILLIS_THRESHOLD: i64 = 10_000_000_000;

/// [`parse_timestamp`] as an input field is read (REST's `expires_at`, the console's expiry):
/// the refusal quotes the text, in the same words in every front end.
pub fn parse_timestamp_field(text: &str) -> Result<DateTime<Utc>, String> {
    parse_timestamp(text).ok_or_else(|| format!("'{text}' is not a valid datetime"))
}

/// Parses a timestamp string; a value without an offset is UTC.
pub fn parse_timestamp(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    if let Ok(dt) = DateTime::parse_from_rfc3339(text) {
        return Some(dt.with_timezone(&Utc));
    }
    // RFC 3339 with a space instead of `T`, or a `+0000` style offset.
    for format in ["%Y-%m-%d %H:%M:%S%.f%:z", "%Y-%m-%dT%H:%M:%S%.f%z", "%Y-%m-%d %H:%M:%S%.f%z"] {
        if let Ok(dt) = DateTime::parse_from_str(text, format) {
            return Some(dt.with_timezone(&Utc));
        }
    }
    for format in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M"] {
        if let Ok(naive) = NaiveDateTime::parse_from_str(text, format) {
            return Some(Utc.from_utc_datetime(&naive));
        }
    }
    if let Ok(date) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return date.and_hms_opt(0, 0, 0).map(|naive| Utc.from_utc_datetime(&naive));
    }
    if let Ok(number) = text.parse::<f64>() {
        return from_epoch(number);
    }
    None
}

/// The last millisecond of year 9999, the latest time an epoch number may name.
pub const LATEST_EPOCH_MILLIS: f64 = 253_402_300_799_999.0;

/// Interprets a number as epoch seconds, or milliseconds when it is too large to be seconds.
pub fn from_epoch(value: f64) -> Option<DateTime<Utc>> {
    if !value.is_finite() || value < 0.0 {
        return None;
    }
    let millis = if value >= MILLIS_THRESHOLD as f64 { value } else { value * 1000.0 };
    // Past the end of year 9999 is no real event time (and not ISO-representable).
    if millis > LATEST_EPOCH_MILLIS {
        return None;
    }
    Utc.timestamp_millis_opt(millis as i64).single()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_numbers_end_with_year_9999() {
        assert!(from_epoch(LATEST_EPOCH_MILLIS).is_some());
        assert!(from_epoch(LATEST_EPOCH_MILLIS + 1.0).is_none());
        assert!(from_epoch(-1.0).is_none());
    }

    fn at(text: &str) -> String {
        parse_timestamp(text).map(|d| d.to_rfc3339()).unwrap_or_default()
    }

    #[test]
    fn accepts_the_common_shapes() {
        assert_eq!(at("2026-03-01T14:23:11Z"), "2026-03-01T14:23:11+00:00");
        assert_eq!(at("2026-03-01T16:23:11+02:00"), "2026-03-01T14:23:11+00:00");
        assert_eq!(at("2026-03-01T14:23:11"), "2026-03-01T14:23:11+00:00");
        assert_eq!(at("2026-03-01 14:23:11.5"), "2026-03-01T14:23:11.500+00:00");
        assert_eq!(at("2026-03-01"), "2026-03-01T00:00:00+00:00");
        assert_eq!(at("1772374991"), "2026-03-01T14:23:11+00:00");
        assert_eq!(at("1772374991000"), "2026-03-01T14:23:11+00:00");
        assert_eq!(at("yesterday"), "");
        assert_eq!(at("-5"), "");
    }

    proptest::proptest! {
        #[test]
        fn rfc3339_round_trips(secs in 0i64..4_000_000_000) {
            let dt = Utc.timestamp_opt(secs, 0).single().unwrap();
            proptest::prop_assert_eq!(parse_timestamp(&dt.to_rfc3339()), Some(dt));
        }
    }
}
