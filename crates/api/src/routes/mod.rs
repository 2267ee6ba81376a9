//! One module per resource; handlers are named for what they do.

pub mod accounts;
pub mod admin;
pub mod carts;
pub mod catalog;
pub mod orders;
pub mod payments;
pub mod system;
