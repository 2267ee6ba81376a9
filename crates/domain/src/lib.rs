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
