//! The messages storage queues with the changes they announce, built from
//! the records just written. Shared by both backends (and by the one
//! statement that places an order on PostgreSQL), so every path that writes
//! an order event or changes a password queues the same message.

use emporium_domain::mail::{MailContent, OrderFacts, OrderLineFacts, OutgoingMail, ResetLink};
use emporium_domain::orders::OrderStatus;
use emporium_domain::time::Timestamp;

use crate::{OrderRecord, UserRecord};

/// Orders whose owner was erased keep this address; nobody is written to.
const ANONYMISED: &str = "anonymised@invalid";

pub fn order_facts(order: &OrderRecord) -> OrderFacts {
    OrderFacts {
        order_id: order.id.get(),
        currency: order.currency.clone(),
        items: order
            .items
            .iter()
            .map(|i| OrderLineFacts {
                name: i.name.clone(),
                quantity: i.quantity,
                unit_price_minor: i.unit_price.minor(),
                discount_bp: i.discount.basis_points(),
                unit_sell_price_minor: i.unit_sell_price.minor(),
                line_total_minor: i.line_total.minor(),
            })
            .collect(),
        subtotal_minor: order.totals.subtotal.minor(),
        discount_total_minor: order.totals.discount_total.minor(),
        total_minor: order.totals.total.minor(),
        shipping_address: order.shipping_address.clone(),
    }
}

/// The message an order's move to `to` sends, if any: placed (awaiting
/// payment), paid, shipped, cancelled, refunded. An order reaches each
/// status at most once, so `order:{id}:{status}` names one event.
pub fn order_mail(order: &OrderRecord, to: OrderStatus, reason: Option<&str>) -> Option<OutgoingMail> {
    if order.email == ANONYMISED {
        return None;
    }
    let facts = order_facts(order);
    let content = match to {
        OrderStatus::Pending => MailContent::OrderPlaced { order: facts, access_token: None },
        OrderStatus::Paid => MailContent::OrderPaid { order: facts },
        OrderStatus::Shipped => MailContent::OrderShipped { order: facts },
        OrderStatus::Cancelled => MailContent::OrderCancelled { order: facts, reason: reason.map(String::from) },
        OrderStatus::Refunded => MailContent::OrderRefunded { order: facts },
        OrderStatus::Processing | OrderStatus::Delivered => return None,
    };
    let address = &order.shipping_address;
    let (prefix, suffix) = order_mail_key_around(to);
    Some(OutgoingMail {
        key: format!("{prefix}{}{suffix}", order.id),
        to_address: order.email.clone(),
        to_name: Some(format!("{} {}", address.first_name(), address.last_name())),
        content,
    })
}

/// The confirmation of an order just placed; a guest's carries the order's
/// access token, which exists in plain text only until this mail is sent.
pub fn placed_mail(order: &OrderRecord, access_token: Option<&str>) -> Option<OutgoingMail> {
    let mut mail = order_mail(order, OrderStatus::Pending, None)?;
    if let MailContent::OrderPlaced { access_token: token, .. } = &mut mail.content {
        *token = access_token.map(String::from);
    }
    Some(mail)
}

/// An order mail's key is `{prefix}{order id}{suffix}`; apart for the
/// PostgreSQL checkout statement, which learns the id only as it runs.
pub fn order_mail_key_around(to: OrderStatus) -> (&'static str, String) {
    ("order:", format!(":{}", to.as_str()))
}

pub fn welcome_mail(user: &UserRecord) -> OutgoingMail {
    OutgoingMail {
        key: format!("user:{}:welcome", user.id),
        to_address: user.email.clone(),
        to_name: Some(user.full_name.clone()),
        content: MailContent::Welcome { name: user.full_name.clone(), username: user.username.clone() },
    }
}

/// One per change: the key carries the instant.
pub fn password_changed_mail(user: &UserRecord, now: Timestamp) -> OutgoingMail {
    OutgoingMail {
        key: format!("user:{}:password_changed:{}", user.id, now.millis()),
        to_address: user.email.clone(),
        to_name: Some(user.full_name.clone()),
        content: MailContent::PasswordChanged { name: user.full_name.clone() },
    }
}

/// `token_id` tells requests apart (a hash prefix, never the token).
pub fn password_reset_mail(user: &UserRecord, token: &str, token_id: &str, valid_minutes: u32) -> OutgoingMail {
    password_reset_mail_linked(user, token, token_id, valid_minutes, ResetLink::Native)
}

/// A reset mail whose link has the shape `link` names (a dialect's page).
pub fn password_reset_mail_linked(
    user: &UserRecord,
    token: &str,
    token_id: &str,
    valid_minutes: u32,
    link: ResetLink,
) -> OutgoingMail {
    OutgoingMail {
        key: format!("user:{}:password_reset:{token_id}", user.id),
        to_address: user.email.clone(),
        to_name: Some(user.full_name.clone()),
        content: MailContent::PasswordReset {
            name: user.full_name.clone(),
            token: token.to_string(),
            valid_minutes,
            link,
        },
    }
}
