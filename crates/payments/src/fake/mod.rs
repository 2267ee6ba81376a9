//! Contract-faithful fakes of Stripe and PayPal, for tests (feature `fake`).
//!
//! Each is a real HTTP server on `127.0.0.1:0`, started per test with
//! [`FakeStripe::start`] / [`FakePayPal::start`], that speaks the provider's
//! documented wire format: the adapters in this crate (and the server that
//! wires them) are pointed at [`FakeStripe::base_url`] instead of the
//! provider. They refuse what the real services refuse — unknown form keys
//! and JSON fields, missing or wrong credentials, a `breakdown` that does not
//! add up, a wrong number of decimals, an over-refund, an idempotency key
//! reused with other parameters — in the providers' own error shapes, so a
//! test that passes against a fake exercises the same contract as production.
//!
//! Test controls are plain methods on the handle: the buyer paying
//! ([`FakeStripe::complete_session`], [`FakePayPal::approve`]), the provider
//! expiring or declining, webhook delivery modes ([`Delivery`]), an outage
//! ([`Outage`]), and read access to everything the fake received.
//!
//! ```no_run
//! # async fn example() {
//! use emporium_payments::fake::{Delivery, FakeStripe};
//!
//! let stripe = FakeStripe::start().await;
//! // Configure the server under test with `stripe.base_url()` as its Stripe
//! // API base and `stripe.secret_key()` as its key, and tell the fake where
//! // the server's webhook is and the secret to sign with:
//! stripe.set_webhook("http://127.0.0.1:8080/api/v1/payments/stripe/webhook", "whsec_test").await;
//! stripe.set_delivery(Delivery::Duplicate(3)).await;
//! // … the test starts a checkout through the server, then the buyer pays:
//! let session = stripe.sessions().pop().expect("the server opened a session");
//! let deliveries = stripe.complete_session(&session.id).await;
//! assert!(deliveries.iter().all(|d| d.status == Some(200)));
//! # }
//! ```
//!
//! Where a fake has to pick among behaviours the provider does not document
//! precisely, it picks the stricter one and says so on the method.
//! Deliberately not modelled: Stripe's minimum charge amounts, modes other than
//! `payment`, more than one PayPal purchase unit, `intent: AUTHORIZE`.

pub mod paypal;
mod server;
pub mod stripe;

pub use paypal::{FakeCapture, FakeItem, FakeOrder, FakePayPal, FakePayPalRefund};
pub use stripe::{Delivery, FakeCheckoutSession, FakeLineItem, FakeStripe, FakeStripeRefund, WebhookDelivery};

/// How a fake answers its API while "down".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Outage {
    /// Normal service.
    #[default]
    None,
    /// Every API call is answered 503 in the provider's error shape.
    Unavailable,
    /// Every API call hangs (ten minutes, then 503): the caller's timeout is
    /// what ends it.
    Stall,
}
