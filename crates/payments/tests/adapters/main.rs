//! The adapters against the contract-faithful fakes, end to end over HTTP on
//! 127.0.0.1 — and the fakes, called raw, refusing what the providers refuse.

mod paypal;
mod stripe;

use emporium_domain::money::Money;
use emporium_payments::{CheckoutLine, CheckoutRequest};

pub fn money(hundredths: i64) -> Money {
    Money::from_minor(hundredths)
}

/// A request for `lines` (name, unit price in hundredths, quantity) whose
/// amount is what they add up to.
pub fn checkout(payment_id: &str, currency: &str, lines: &[(&str, i64, i64)]) -> CheckoutRequest {
    let lines: Vec<CheckoutLine> = lines
        .iter()
        .map(|(name, unit, quantity)| CheckoutLine {
            name: name.to_string(),
            unit_amount: money(*unit),
            quantity: *quantity,
        })
        .collect();
    let amount = lines.iter().map(|line| line.unit_amount.minor() * line.quantity).sum();
    CheckoutRequest {
        payment_id: payment_id.to_string(),
        order_id: format!("ord_{payment_id}"),
        amount: money(amount),
        currency: currency.to_string(),
        lines,
        customer_email: Some("buyer@example.com".into()),
        success_url: "https://shop.example/api/v1/payments/stripe/return?session_id={CHECKOUT_SESSION_ID}".into(),
        cancel_url: "https://shop.example/cart".into(),
        expires_at: unix_now() + 3600,
        created_at: unix_now(),
    }
}

pub fn unix_now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

/// A client that does not follow redirects, for calling the fakes raw.
pub fn raw_client() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}
