//! Extractors: where a request is parsed into domain values, or refused with
//! the envelope naming what is wrong.

mod auth;
mod body;
mod cart_key;
mod client;
mod order_token;
mod query;

pub use auth::{AdminAuth, Auth, MaybeAuth, bearer_or_cookie, cookie_value};
pub use body::{Fields, JsonObject, OptionalJsonObject};
pub use cart_key::CartKey;
pub use client::ClientIp;
pub use order_token::OrderToken;
pub use query::Params;
