//! Payments: how an order is paid, and the life of one payment attempt.

use std::fmt;

/// How an order is to be paid, chosen when its checkout starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PaymentMethod {
    /// Paid outside the site (cash on delivery, bank transfer); an admin marks it paid.
    Manual,
    Stripe,
    PayPal,
    /// Emporium's own payment page, for trying checkout without a provider account.
    Test,
}

impl PaymentMethod {
    pub const ALL: [PaymentMethod; 4] =
        [PaymentMethod::Stripe, PaymentMethod::PayPal, PaymentMethod::Test, PaymentMethod::Manual];

    pub fn parse(raw: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|m| m.as_str() == raw)
            .ok_or_else(|| format!("must be one of: {}", Self::ALL.map(|m| m.as_str()).join(", ")))
    }

    pub fn as_str(self) -> &'static str {
        match self {
            PaymentMethod::Manual => "manual",
            PaymentMethod::Stripe => "stripe",
            PaymentMethod::PayPal => "paypal",
            PaymentMethod::Test => "test",
        }
    }

    pub fn is_manual(self) -> bool {
        self == PaymentMethod::Manual
    }
}

impl fmt::Display for PaymentMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where one payment attempt is: `pending → captured | failed | canceled | expired`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AttemptStatus {
    Pending,
    Captured,
    Failed,
    Canceled,
    Expired,
}

impl AttemptStatus {
    pub const ALL: [AttemptStatus; 5] = [
        AttemptStatus::Pending,
        AttemptStatus::Captured,
        AttemptStatus::Failed,
        AttemptStatus::Canceled,
        AttemptStatus::Expired,
    ];

    pub fn parse(raw: &str) -> Result<Self, String> {
        crate::one_of(Self::ALL, raw, Self::as_str)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            AttemptStatus::Pending => "pending",
            AttemptStatus::Captured => "captured",
            AttemptStatus::Failed => "failed",
            AttemptStatus::Canceled => "canceled",
            AttemptStatus::Expired => "expired",
        }
    }

    /// Whether the provider's news may move an attempt from here to `next`.
    /// Only a pending attempt settles; but money the provider says it
    /// captured is never ignored, even for an attempt Emporium had already
    /// given up on (its session closed as the payment went through).
    pub fn can_become(self, next: AttemptStatus) -> bool {
        use AttemptStatus::*;
        match (self, next) {
            (Captured, _) => false,
            (_, Captured) => true,
            (Pending, Failed | Canceled | Expired) => true,
            _ => false,
        }
    }
}

impl fmt::Display for AttemptStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use AttemptStatus::*;

    #[test]
    fn attempts_settle_once_and_captured_money_is_never_ignored() {
        let allowed = [
            (Pending, Captured),
            (Failed, Captured),
            (Canceled, Captured),
            (Expired, Captured),
            (Pending, Failed),
            (Pending, Canceled),
            (Pending, Expired),
        ];
        for from in AttemptStatus::ALL {
            for to in AttemptStatus::ALL {
                assert_eq!(from.can_become(to), allowed.contains(&(from, to)), "{from} -> {to}");
            }
        }
    }

    #[test]
    fn methods_parse_by_name() {
        for m in PaymentMethod::ALL {
            assert_eq!(PaymentMethod::parse(m.as_str()), Ok(m));
        }
        assert!(PaymentMethod::parse("bitcoin").unwrap_err().contains("stripe, paypal, test, manual"));
    }
}
