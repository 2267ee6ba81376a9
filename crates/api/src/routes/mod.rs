//! One module per resource; handlers are named for what they do.

pub mod accounts;
pub mod admin;
pub mod carts;
pub mod catalog;
pub mod emails;
pub mod orders;
pub mod password_reset;
pub mod payments;
pub mod system;
