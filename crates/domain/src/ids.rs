//! Typed ids, so a user id can never be passed where a product id is expected.
//!
//! Ids are integers in storage and strings (`_id`) in the native API, which is
//! what rest-v1.md shows and what lets the integer-keyed compatibility dialects
//! address the same rows.

use std::fmt;
use std::str::FromStr;

macro_rules! typed_id {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(i64);

        impl $name {
            pub const fn new(raw: i64) -> Self {
                Self(raw)
            }
            pub const fn get(self) -> i64 {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = ();
            /// Only positive decimal integers are ids; anything else is simply
            /// not found, never an error deeper down.
            fn from_str(s: &str) -> Result<Self, ()> {
                if s.is_empty() || s.len() > 18 || !s.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(());
                }
                match s.parse::<i64>() {
                    Ok(n) if n > 0 => Ok(Self(n)),
                    _ => Err(()),
                }
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(&self.0)
            }
        }
    };
}

typed_id!(
    /// A user account.
    UserId
);
typed_id!(
    /// A product in the catalog.
    ProductId
);
typed_id!(
    /// A product category.
    CategoryId
);
typed_id!(
    /// A placed order.
    OrderId
);
typed_id!(
    /// A shopping cart.
    CartId
);
typed_id!(
    /// An audit-log entry.
    AuditId
);
typed_id!(
    /// One payment attempt for an order.
    PaymentId
);
typed_id!(
    /// A refund of (part of) a captured payment.
    RefundId
);
