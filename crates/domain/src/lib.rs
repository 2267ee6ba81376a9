//! Emporium's domain: the values a shop deals in and the rules that govern them.
//!
//! Nothing here knows about HTTP or SQL. Every type parses its input once at the
//! edge (`Email::parse`, `Money::from_decimal_str`, …) and keeps its fields
//! private, so an invalid value cannot exist past that point.

pub mod account;
pub mod address;
pub mod catalog;
pub mod error;
pub mod ids;
pub mod mail;
pub mod money;
pub mod orders;
pub mod paging;
pub mod payments;
pub mod time;

pub use error::{Error, FieldError, Result};

/// The variant of a closed set whose name is `raw`, or a message listing the
/// names there are: the one parser behind every status enum's `parse`.
pub(crate) fn one_of<T: Copy, const N: usize>(
    all: [T; N],
    raw: &str,
    name: fn(T) -> &'static str,
) -> Result<T, String> {
    all.into_iter().find(|v| name(*v) == raw).ok_or_else(|| format!("must be one of: {}", all.map(name).join(", ")))
}
