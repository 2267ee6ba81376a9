//! A budget of so many events per window, and the verdict on one count.

use std::time::Duration;

use crate::Count;

/// So many events per window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    pub max: u32,
    pub window: Duration,
}

impl Quota {
    pub const fn per(max: u32, window: Duration) -> Self {
        Self { max, window }
    }

    /// `"100/15m"`, `"5/1s"`, `"1000/1h"`; `"off"` is `None`.
    pub fn parse(text: &str) -> Result<Option<Quota>, String> {
        let text = text.trim();
        if text.eq_ignore_ascii_case("off") {
            return Ok(None);
        }
        let (max, window) = text
            .split_once('/')
            .ok_or_else(|| format!("{text:?} is not of the form N/WINDOW (e.g. 100/15m) or off"))?;
        let max: u32 = max.trim().parse().map_err(|_| format!("{max:?} is not a whole number of requests"))?;
        let window = window.trim();
        let window = if window.chars().next().is_some_and(|c| c.is_ascii_digit()) {
            window.to_string()
        } else {
            format!("1{window}")
        };
        let window = humantime::parse_duration(&window).map_err(|e| format!("{window:?} is not a duration: {e}"))?;
        if max == 0 || window.is_zero() {
            return Err("the limit and window must be greater than zero".into());
        }
        Ok(Some(Quota { max, window }))
    }

    /// The verdict on a counter that has just been hit (its value counts
    /// this event too).
    pub fn judge(&self, count: Count) -> Verdict {
        Verdict {
            allowed: count.value <= u64::from(self.max),
            limit: self.max,
            remaining: u64::from(self.max).saturating_sub(count.value) as u32,
            // A counter with no expiry left (just expired) resets now; never say 0 seconds.
            resets_in: if count.ttl.is_zero() { self.window } else { count.ttl },
        }
    }

    /// Whether a counter read without hitting it has room for one more.
    pub fn has_room(&self, count: Count) -> bool {
        count.value < u64::from(self.max)
    }
}

/// Whether one event fits its budget, and what is left of the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    pub allowed: bool,
    pub limit: u32,
    pub remaining: u32,
    pub resets_in: Duration,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_quotas() {
        assert_eq!(Quota::parse("100/15m").unwrap(), Some(Quota::per(100, Duration::from_secs(900))));
        assert_eq!(Quota::parse("5/s").unwrap(), Some(Quota::per(5, Duration::from_secs(1))));
        assert_eq!(Quota::parse("off").unwrap(), None);
        for bad in ["100", "x/15m", "100/soon", "0/1m"] {
            assert!(Quota::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn judges_the_count_after_a_hit() {
        let quota = Quota::per(2, Duration::from_secs(60));
        let at = |value| Count { value, ttl: Duration::from_secs(30) };
        assert!(quota.judge(at(1)).allowed);
        assert_eq!(quota.judge(at(2)).remaining, 0);
        let refused = quota.judge(at(3));
        assert!(!refused.allowed && refused.remaining == 0 && refused.resets_in == Duration::from_secs(30));
        assert!(quota.has_room(at(1)) && !quota.has_room(at(2)));
    }
}
