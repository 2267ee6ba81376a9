//! Money is integer minor units (cents) inside; decimals appear only at the JSON edge.

use std::fmt;

/// The largest amount the shop accepts: 999,999,999.99 in major units.
const MAX_MINOR: i64 = 99_999_999_999;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Money(i64);

impl Money {
    pub const ZERO: Money = Money(0);
    /// The largest amount, in major units.
    pub const MAX_MAJOR: f64 = 999_999_999.99;

    pub const fn from_minor(minor: i64) -> Self {
        Self(minor)
    }
    pub const fn minor(self) -> i64 {
        self.0
    }

    /// Parses a non-negative decimal with at most two places (`"699.99"`, `"5"`, `"0.5"`).
    pub fn from_decimal_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
        if whole.is_empty() && frac.is_empty() {
            return Err("must be a decimal number".into());
        }
        if s.starts_with('-') {
            return Err("must be >= 0".into());
        }
        if !whole.bytes().all(|b| b.is_ascii_digit()) || !frac.bytes().all(|b| b.is_ascii_digit()) {
            return Err("must be a decimal number".into());
        }
        if frac.len() > 2 {
            return Err("must have at most 2 decimal places".into());
        }
        let whole = whole.trim_start_matches('0');
        if whole.len() > 9 {
            return Err("is too large".into());
        }
        let whole: i64 = if whole.is_empty() { 0 } else { whole.parse().map_err(|_| "is too large")? };
        let frac: i64 = match frac.len() {
            0 => 0,
            1 => frac.parse::<i64>().unwrap_or(0) * 10,
            _ => frac.parse().unwrap_or(0),
        };
        let minor = whole * 100 + frac;
        if minor > MAX_MINOR {
            return Err("is too large".into());
        }
        Ok(Self(minor))
    }

    /// Parses a JSON number. `f64`'s `Display` prints the shortest text that
    /// reads back as the same number, so `699.99` arrives as `"699.99"` and is
    /// then parsed exactly; `0.001` is rejected rather than rounded.
    pub fn from_json_number(n: f64) -> Result<Self, String> {
        if !n.is_finite() {
            return Err("must be a decimal number".into());
        }
        if n < 0.0 {
            return Err("must be >= 0".into());
        }
        if n.abs() >= 1e12 {
            return Err("is too large".into());
        }
        Self::from_decimal_str(&format!("{n}"))
    }

    /// The amount in major units, for JSON. Exact to the cent: `minor / 100`
    /// is correctly rounded, and the shortest printing of that float is the
    /// two-place decimal.
    pub fn to_major_f64(self) -> f64 {
        self.0 as f64 / 100.0
    }

    pub fn checked_mul(self, quantity: i64) -> Option<Money> {
        self.0.checked_mul(quantity).map(Money)
    }
    pub fn checked_add(self, other: Money) -> Option<Money> {
        self.0.checked_add(other.0).map(Money)
    }

    /// This price less a percentage discount, rounded half-up to the cent.
    pub fn discounted(self, discount: Percent) -> Money {
        let kept = i128::from(10_000 - discount.basis_points());
        let minor = (i128::from(self.0) * kept + 5_000) / 10_000;
        Money(minor as i64)
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:02}", self.0 / 100, self.0 % 100)
    }
}

impl serde::Serialize for Money {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(self.to_major_f64())
    }
}

/// A percentage from 0 to 100 with at most two decimal places, kept as basis points.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Percent(i64);

impl Percent {
    pub const ZERO: Percent = Percent(0);

    pub fn from_basis_points(bp: i64) -> Result<Self, String> {
        if (0..=10_000).contains(&bp) { Ok(Self(bp)) } else { Err("must be between 0 and 100".into()) }
    }
    pub fn from_json_number(n: f64) -> Result<Self, String> {
        if !n.is_finite() || !(0.0..=100.0).contains(&n) {
            return Err("must be between 0 and 100".into());
        }
        let money = Money::from_json_number(n).map_err(|_| "must have at most 2 decimal places".to_string())?;
        Self::from_basis_points(money.minor())
    }
    pub const fn basis_points(self) -> i64 {
        self.0
    }
    pub fn to_f64(self) -> f64 {
        self.0 as f64 / 100.0
    }
}

impl serde::Serialize for Percent {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(self.to_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_exact_decimals() {
        assert_eq!(Money::from_decimal_str("699.99").unwrap().minor(), 69_999);
        assert_eq!(Money::from_decimal_str("5").unwrap().minor(), 500);
        assert_eq!(Money::from_decimal_str("0.5").unwrap().minor(), 50);
        assert_eq!(Money::from_json_number(19.99).unwrap().minor(), 1_999);
        assert_eq!(Money::from_json_number(0.1 + 0.2).unwrap_err(), "must have at most 2 decimal places");
    }

    #[test]
    fn rejects_bad_amounts() {
        for bad in ["-1", "1.234", "abc", "", ".", "1e5", "1.2.3"] {
            assert!(Money::from_decimal_str(bad).is_err(), "{bad}");
        }
        assert!(Money::from_json_number(-0.01).is_err());
        assert!(Money::from_json_number(f64::MAX).is_err());
    }

    #[test]
    fn discount_rounds_half_up_to_the_cent() {
        let price = Money::from_minor(999);
        assert_eq!(price.discounted(Percent::from_basis_points(1_500).unwrap()).minor(), 849); // 849.15
        assert_eq!(Money::from_minor(5).discounted(Percent::from_basis_points(5_000).unwrap()).minor(), 3); // 2.5 -> 3
        assert_eq!(price.discounted(Percent::ZERO), price);
        assert_eq!(price.discounted(Percent::from_basis_points(10_000).unwrap()), Money::ZERO);
    }

    #[test]
    fn renders_two_places() {
        assert_eq!(Money::from_minor(69_999).to_string(), "699.99");
        assert_eq!(Money::from_minor(69_999).to_major_f64().to_string(), "699.99");
        assert_eq!(Money::from_minor(5).to_string(), "0.05");
    }
}
