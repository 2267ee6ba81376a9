//! Instants are stored as integer milliseconds since the Unix epoch (the same
//! column type and ordering on every backend) and shown as RFC 3339 UTC with
//! millisecond precision.

use chrono::{DateTime, SecondsFormat, Utc};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

impl Timestamp {
    pub fn now() -> Self {
        Self(Utc::now().timestamp_millis())
    }
    pub const fn from_millis(ms: i64) -> Self {
        Self(ms)
    }
    pub const fn millis(self) -> i64 {
        self.0
    }
    pub fn plus_secs(self, secs: i64) -> Self {
        Self(self.0.saturating_add(secs.saturating_mul(1000)))
    }
    pub fn plus_millis(self, ms: i64) -> Self {
        Self(self.0.saturating_add(ms))
    }
    pub fn minus_secs(self, secs: i64) -> Self {
        Self(self.0.saturating_sub(secs.saturating_mul(1000)))
    }
    pub fn unix_secs(self) -> i64 {
        self.0.div_euclid(1000)
    }
    pub fn to_rfc3339(self) -> String {
        DateTime::<Utc>::from_timestamp_millis(self.0).unwrap_or_default().to_rfc3339_opts(SecondsFormat::Millis, true)
    }
    /// Parses an RFC 3339 instant or a plain `YYYY-MM-DD` date (midnight UTC).
    pub fn parse(s: &str) -> Result<Self, String> {
        if let Ok(dt) = DateTime::parse_from_rfc3339(s) {
            return Ok(Self(dt.timestamp_millis()));
        }
        if let Ok(d) = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d") {
            let dt = d.and_hms_opt(0, 0, 0).map(|t| t.and_utc().timestamp_millis());
            if let Some(ms) = dt {
                return Ok(Self(ms));
            }
        }
        Err("must be an RFC 3339 date-time or a YYYY-MM-DD date".into())
    }
}

impl serde::Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_rfc3339())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_utc_with_milliseconds() {
        assert_eq!(Timestamp::from_millis(1_759_405_228_734).to_rfc3339(), "2025-10-02T11:40:28.734Z");
    }

    #[test]
    fn parses_dates_and_datetimes() {
        assert_eq!(Timestamp::parse("1970-01-02").unwrap().millis(), 86_400_000);
        assert_eq!(Timestamp::parse("1970-01-01T00:00:01Z").unwrap().millis(), 1000);
        assert!(Timestamp::parse("yesterday").is_err());
    }
}
