//! Extractors: where a request is parsed into domain values, or refused with
//! the envelope naming what is wrong.
//!
//! # How to add an endpoint
//!
//! 1. Declare its body with [`request_body!`](crate::request_body) and its
//!    query string with [`request_query!`](crate::request_query), next to the
//!    handler. Each member is a slot ([`Required`], [`Optional`], [`Patch`])
//!    around an [`Input`]: pick one from [`input`] (or add one there — its
//!    `schema` and `from_json` sit in one `impl`, built from the constants the
//!    domain checks with). Every text type refuses control characters, so
//!    nothing new needs to think about NUL bytes.
//! 2. Take it in the handler as [`Json<T>`] (or [`OptionalJson<T>`]) and
//!    [`Query<T>`]; a path parameter as [`PathText`]. By the time the handler
//!    runs, every member is valid: `field.get()` gives the value.
//! 3. In `#[utoipa::path]`, name the same types: `request_body = T`,
//!    `params(TQuery, IdPath)`, and the responses the handler can give (the
//!    document adds 400/413/415/429 where they apply; see [`crate::openapi`]).
//!    The snapshot test (`conventions.rs`) then shows the change as a diff,
//!    and `.ci/schemathesis` checks the server answers as the document says.
//!
//! Never keep a second, hand-written schema struct beside a parser: the type
//! that parses the request is the one the document is generated from.

mod auth;
mod body;
mod cart_key;
mod client;
pub mod input;
mod order_token;
mod request;

pub use auth::{AdminAuth, Auth, MaybeAuth, bearer_or_cookie, cookie_value};
pub use body::{JsonObject, OptionalJsonObject};
pub use cart_key::CartKey;
pub use client::ClientIp;
pub use order_token::OrderToken;

pub use input::Input;
pub use request::{
    Body, IdPath, Json, Optional, OptionalJson, Params, Patch, PathText, ProductIdPath, Query, Required, Slot,
    member_name, object_schema, read_query, take_param,
};
