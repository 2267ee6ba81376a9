//! Orders: placing them (taking stock atomically), reading them, and moving
//! them through their lifecycle.

use async_trait::async_trait;
use emporium_domain::address::ShippingAddress;
use emporium_domain::ids::{CartId, OrderId, PaymentId, ProductId, UserId};
use emporium_domain::money::{Money, Percent};
use emporium_domain::orders::{OrderStatus, PaymentStatus, Totals};
use emporium_domain::paging::Page;
use emporium_domain::payments::PaymentMethod;
use emporium_domain::time::Timestamp;

use crate::{CartProduct, NewAuditEntry, StoreResult};

/// A retried `POST /orders` is recognised by (scope, key); the hash tells a
/// true retry from a different order under the same key.
#[derive(Debug, Clone)]
pub struct IdempotencyClaim {
    /// `user:<id>` or `guest:<email>`.
    pub scope: String,
    pub key: String,
    pub request_hash: String,
    /// Claims older than this are forgotten.
    pub not_before: Timestamp,
}

#[derive(Debug, Clone)]
pub struct NewOrder {
    pub user_id: Option<UserId>,
    pub email: String,
    pub currency: String,
    pub shipping_address: ShippingAddress,
    pub notes: Option<String>,
    /// A guest order's access token, as its SHA-256 hash; `None` for a user's.
    pub access_token_hash: Option<String>,
    /// The same token in plain text, for the confirmation mail's link only
    /// (that outbox row is sensitive: erased once sent); never stored otherwise.
    pub access_token: Option<String>,
    /// One per product, sorted by product id (see `merge_lines`), priced as
    /// the buyer was shown them: stock is taken only while every product
    /// still has that price and discount.
    pub items: Vec<OrderItemRecord>,
    pub totals: Totals,
    /// The cart the lines came from; it is emptied with the order.
    pub from_cart: Option<CartId>,
    pub idempotency: Option<IdempotencyClaim>,
    pub actor: String,
    pub now: Timestamp,
    /// Written with the order; its target id is filled in.
    pub audit: NewAuditEntry,
}

impl NewOrder {
    /// The order as it stands once placed, built from what was written
    /// rather than read back: a placed order's first state is fully known.
    pub fn placed_record(&self, id: OrderId) -> OrderRecord {
        OrderRecord {
            id,
            user_id: self.user_id,
            email: self.email.clone(),
            status: OrderStatus::Pending,
            payment_status: PaymentStatus::Unpaid,
            payment_method: None,
            currency: self.currency.clone(),
            totals: self.totals,
            shipping_address: self.shipping_address.clone(),
            notes: self.notes.clone(),
            access_token_hash: self.access_token_hash.clone(),
            items: self.items.clone(),
            events: vec![OrderEventRecord {
                from: None,
                to: OrderStatus::Pending,
                actor_id: self.user_id,
                actor: self.actor.clone(),
                reason: None,
                at: self.now,
            }],
            created_at: self.now,
            updated_at: self.now,
            version: 0,
        }
    }
}

impl OrderItemRecord {
    /// A line as ordered, with its price snapshot.
    pub fn snapshot(product_id: ProductId, name: String, line: &emporium_domain::orders::PricedLine) -> Self {
        Self {
            product_id,
            name,
            quantity: line.quantity,
            unit_price: line.unit_price,
            discount: line.discount,
            unit_sell_price: line.unit_sell_price(),
            line_total: line.line_total(),
        }
    }
}

/// Why a line could not be taken. Nothing was taken for any line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineProblem {
    NotFound {
        product_id: ProductId,
    },
    Unavailable {
        product_id: ProductId,
        name: String,
    },
    Insufficient {
        product_id: ProductId,
        name: String,
        requested: i64,
        available: i64,
    },
    /// The price or discount changed after the order was priced.
    PriceChanged {
        product_id: ProductId,
    },
}

/// What an `Idempotency-Key` already stands for.
#[derive(Debug, Clone)]
pub enum EarlierOrder {
    /// The same key and request were seen before: this is the first order.
    Same(Box<OrderRecord>),
    /// The key was used before for a different request.
    OtherRequest,
}

#[derive(Debug, Clone)]
pub enum PlaceOutcome {
    Placed(Box<OrderRecord>),
    Refused(LineProblem),
    /// Stock could not be taken, yet every line can be bought as priced now:
    /// a concurrent change came and went. Worth asking again.
    Contended,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderItemRecord {
    pub product_id: ProductId,
    pub name: String,
    pub quantity: i64,
    pub unit_price: Money,
    pub discount: Percent,
    pub unit_sell_price: Money,
    pub line_total: Money,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderEventRecord {
    pub from: Option<OrderStatus>,
    pub to: OrderStatus,
    pub actor_id: Option<UserId>,
    /// `user`, `admin`, `guest` or `system`.
    pub actor: String,
    pub reason: Option<String>,
    pub at: Timestamp,
}

#[derive(Debug, Clone)]
pub struct OrderRecord {
    pub id: OrderId,
    pub user_id: Option<UserId>,
    pub email: String,
    pub status: OrderStatus,
    pub payment_status: PaymentStatus,
    /// How it is to be paid; set when its checkout starts.
    pub payment_method: Option<PaymentMethod>,
    pub currency: String,
    pub totals: Totals,
    pub shipping_address: ShippingAddress,
    pub notes: Option<String>,
    /// The SHA-256 hash of a guest order's access token (`None` for a
    /// user's order): what a guest proves the order is theirs against.
    /// Never shown.
    pub access_token_hash: Option<String>,
    pub items: Vec<OrderItemRecord>,
    /// Empty in listings; every status change on a single read.
    pub events: Vec<OrderEventRecord>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub version: i64,
}

#[derive(Debug, Clone, Default)]
pub struct OrderFilter {
    pub user_id: Option<UserId>,
    /// Only guest orders whose access token has this hash.
    pub guest_token_hash: Option<String>,
    pub status: Option<OrderStatus>,
    pub since: Option<Timestamp>,
    pub until: Option<Timestamp>,
    /// An order number (`42` or `#42`), or part of the e-mail or of the
    /// customer's name (the account's, or the shipping address's).
    pub search: Option<String>,
}

/// The figures of the admin dashboard's home page.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrderFigures {
    /// Orders placed since the start of today (UTC), and what those paid came to.
    pub orders_today: u64,
    pub sales_today: Money,
    /// The same over the last seven days.
    pub orders_week: u64,
    pub sales_week: Money,
    /// Paid or processing: waiting to be shipped.
    pub awaiting_fulfilment: u64,
    /// Payment attempts flagged for a person to look at, newest first (at most 20).
    pub payments_to_review: Vec<(PaymentId, OrderId, Option<String>)>,
    /// Live products with at most the threshold in stock, fewest first (at most 20).
    pub low_stock: Vec<ProductId>,
}

/// A checked status change, applied only if the order is still at `from`.
#[derive(Debug, Clone)]
pub struct StatusChange {
    pub from: OrderStatus,
    pub to: OrderStatus,
    pub payment_status: PaymentStatus,
    /// Put every line's quantity back in stock, in the same transaction.
    pub restock: bool,
    pub actor_id: Option<UserId>,
    pub actor: String,
    pub reason: Option<String>,
    pub now: Timestamp,
    pub audit: NewAuditEntry,
}

#[derive(Debug, Clone)]
pub enum StatusOutcome {
    Changed(Box<OrderRecord>),
    /// Someone else moved the order first; it is now at this status.
    Moved(OrderStatus),
    NotFound,
}

#[async_trait]
pub trait OrderStore {
    /// The order an idempotency claim's key already stands for, if any;
    /// forgets the key first if it is older than the claim's window.
    async fn earlier_order(&self, claim: &IdempotencyClaim) -> StoreResult<Option<EarlierOrder>>;
    /// Atomically: takes stock for every line or none (a line short of stock,
    /// or no longer at the price it was ordered at, refuses the whole order),
    /// records the order with its price snapshots, its first event, audit
    /// entry and idempotency claim, and empties the source cart. A key
    /// claimed meanwhile by a concurrent request is a `UniqueViolation`, with
    /// nothing written.
    async fn place_order(&self, order: &NewOrder) -> StoreResult<PlaceOutcome>;
    /// The products an order names, as they are now; unknown ids are left out.
    async fn products_to_order(&self, ids: &[ProductId]) -> StoreResult<Vec<(ProductId, CartProduct)>>;
    async fn order(&self, id: OrderId) -> StoreResult<Option<OrderRecord>>;
    /// Newest first, without events.
    async fn list_orders(&self, filter: &OrderFilter, page: Page) -> StoreResult<(Vec<OrderRecord>, u64)>;
    /// What the dashboard's home page shows, read in one go.
    async fn order_figures(&self, today: Timestamp, week: Timestamp, low_stock: i64) -> StoreResult<OrderFigures>;
    async fn change_order_status(&self, id: OrderId, change: &StatusChange) -> StoreResult<StatusOutcome>;
    /// Unpaid pending orders placed before `placed_before`, oldest first;
    /// never one to be paid outside the site (`manual`).
    async fn stale_pending_orders(&self, placed_before: Timestamp, limit: u32) -> StoreResult<Vec<OrderId>>;
    async fn purge_idempotency_keys(&self, older_than: Timestamp) -> StoreResult<u64>;
}
