//! What the shop tells people by e-mail: the facts of each message, captured
//! when the change it announces is decided and stored with it in the outbox.
//! Rendering (templates, MIME) is the mail adapter's job; nothing here knows
//! about SMTP.

use serde::{Deserialize, Serialize};

use crate::address::ShippingAddress;

/// One message's content. Serialized into the outbox row, so a message sent
/// after a crash or an outage says what was true when it was queued.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum MailContent {
    Welcome {
        name: String,
        username: String,
    },
    /// Carries a live secret: its stored copy is erased once sent, and it is
    /// never shown to admins.
    PasswordReset {
        name: String,
        token: String,
        valid_minutes: u32,
        /// Which page the link opens; mails queued before this existed are native.
        #[serde(default, skip_serializing_if = "ResetLink::is_native")]
        link: ResetLink,
    },
    PasswordChanged {
        name: String,
    },
    /// A guest's order carries its access token, for the link that reads it
    /// (a secret like a reset token: erased once sent, never shown to admins).
    OrderPlaced {
        order: OrderFacts,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        access_token: Option<String>,
    },
    OrderPaid {
        order: OrderFacts,
    },
    OrderShipped {
        order: OrderFacts,
    },
    OrderCancelled {
        order: OrderFacts,
        reason: Option<String>,
    },
    OrderRefunded {
        order: OrderFacts,
    },
}

impl MailContent {
    /// The kind as stored and filtered on.
    pub fn kind(&self) -> &'static str {
        match self {
            MailContent::Welcome { .. } => "welcome",
            MailContent::PasswordReset { .. } => "password_reset",
            MailContent::PasswordChanged { .. } => "password_changed",
            MailContent::OrderPlaced { .. } => "order_placed",
            MailContent::OrderPaid { .. } => "order_paid",
            MailContent::OrderShipped { .. } => "order_shipped",
            MailContent::OrderCancelled { .. } => "order_cancelled",
            MailContent::OrderRefunded { .. } => "order_refunded",
        }
    }

    /// Whether the stored message holds a secret (a reset token, a guest
    /// order's access token).
    pub fn is_sensitive(&self) -> bool {
        matches!(self, MailContent::PasswordReset { .. } | MailContent::OrderPlaced { access_token: Some(_), .. })
    }
}

/// The shape of a password-reset link: the native front end's
/// `reset-password?token=`, or Django's `reset-password/confirm/?uidb64=&token=`
/// for the clients of the `microservices` dialect, which confirm with both.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "style", rename_all = "snake_case")]
pub enum ResetLink {
    #[default]
    Native,
    /// `uidb64` is the account id in unpadded URL-safe base64, as Django writes it.
    Django { uidb64: String },
}

impl ResetLink {
    pub fn is_native(&self) -> bool {
        matches!(self, ResetLink::Native)
    }
}

/// An order as its mails show it. Money in minor units of `currency`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderFacts {
    pub order_id: i64,
    pub currency: String,
    pub items: Vec<OrderLineFacts>,
    pub subtotal_minor: i64,
    pub discount_total_minor: i64,
    pub total_minor: i64,
    pub shipping_address: ShippingAddress,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderLineFacts {
    pub name: String,
    pub quantity: i64,
    pub unit_price_minor: i64,
    /// Basis points (1234 = 12.34 %).
    pub discount_bp: i64,
    pub unit_sell_price_minor: i64,
    pub line_total_minor: i64,
}

/// A message ready for the outbox: who gets it, what it says, and the key
/// that keeps one event from queuing it twice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingMail {
    /// `order:{id}:paid`, `user:{id}:welcome`, … unique across the outbox.
    pub key: String,
    pub to_address: String,
    pub to_name: Option<String>,
    pub content: MailContent,
}
