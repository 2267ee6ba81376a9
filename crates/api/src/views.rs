//! How stored records are shown: camelCase, `_id`, RFC 3339 instants, `__v`.

use emporium_domain::address::ShippingAddress;
use emporium_store::{AuditEntry, UserRecord};
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserView {
    #[serde(rename = "_id")]
    pub id: String,
    pub username: String,
    pub full_name: String,
    pub email: String,
    /// `user` or `admin`.
    pub role: String,
    pub phone: Option<String>,
    #[schema(value_type = Option<AddressSchema>)]
    pub shipping_address: Option<ShippingAddress>,
    pub created_at: String,
    pub updated_at: String,
    #[serde(rename = "__v")]
    pub version: i64,
}

impl From<&UserRecord> for UserView {
    fn from(u: &UserRecord) -> Self {
        Self {
            id: u.id.to_string(),
            username: u.username.clone(),
            full_name: u.full_name.clone(),
            email: u.email.clone(),
            role: u.role.as_str().to_string(),
            phone: u.phone.clone(),
            shipping_address: u.shipping_address.clone(),
            created_at: u.created_at.to_rfc3339(),
            updated_at: u.updated_at.to_rfc3339(),
            version: u.version,
        }
    }
}

/// A postal address (shipping address, or a user's default one).
#[derive(Debug, Serialize, serde::Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AddressSchema {
    pub first_name: String,
    pub last_name: String,
    pub address1: String,
    pub address2: Option<String>,
    pub city: String,
    pub state: Option<String>,
    pub postcode: String,
    pub country: String,
    pub phone: String,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditView {
    #[serde(rename = "_id")]
    pub id: String,
    pub at: String,
    pub actor_id: Option<String>,
    pub action: String,
    pub target_type: Option<String>,
    pub target_id: Option<String>,
    pub ip: Option<String>,
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
}

impl From<&AuditEntry> for AuditView {
    fn from(e: &AuditEntry) -> Self {
        Self {
            id: e.id.to_string(),
            at: e.at.to_rfc3339(),
            actor_id: e.actor_id.map(|a| a.to_string()),
            action: e.action.clone(),
            target_type: e.target_type.clone(),
            target_id: e.target_id.clone(),
            ip: e.ip.clone(),
            details: e.details.clone(),
        }
    }
}

/// A category as a product shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct CategoryRef {
    #[serde(rename = "_id")]
    pub id: String,
    pub name: String,
    pub slug: String,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProductView {
    #[serde(rename = "_id")]
    pub id: String,
    pub name: String,
    pub description: String,
    /// Decimal, at most 2 places.
    pub price: f64,
    /// Percent, 0–100.
    pub discount: f64,
    /// Price less discount, rounded half-up to the cent.
    pub sell_price: f64,
    pub category: Option<CategoryRef>,
    pub images: Vec<String>,
    pub stock: i64,
    pub available: bool,
    pub keywords: Vec<String>,
    pub sku: Option<String>,
    pub created_by: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    #[serde(rename = "__v")]
    pub version: i64,
}

impl From<&emporium_store::ProductRecord> for ProductView {
    fn from(p: &emporium_store::ProductRecord) -> Self {
        Self {
            id: p.id.to_string(),
            name: p.draft.name.clone(),
            description: p.draft.description.clone(),
            price: p.draft.price.to_major_f64(),
            discount: p.draft.discount.to_f64(),
            sell_price: p.sell_price.to_major_f64(),
            category: p.category.as_ref().map(|c| CategoryRef {
                id: c.id.to_string(),
                name: c.name.clone(),
                slug: c.slug.clone(),
            }),
            images: p.draft.images.clone(),
            stock: p.draft.stock,
            available: p.draft.available,
            keywords: p.draft.keywords.clone(),
            sku: p.draft.sku.clone(),
            created_by: p.created_by.map(|u| u.to_string()),
            created_at: p.created_at.to_rfc3339(),
            updated_at: p.updated_at.to_rfc3339(),
            version: p.version,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CategoryView {
    #[serde(rename = "_id")]
    pub id: String,
    pub name: String,
    pub slug: String,
    pub description: Option<String>,
    /// The parent category's id, for a sub-category.
    pub parent: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    #[serde(rename = "__v")]
    pub version: i64,
}

impl From<&emporium_store::CategoryRecord> for CategoryView {
    fn from(c: &emporium_store::CategoryRecord) -> Self {
        Self {
            id: c.id.to_string(),
            name: c.name.clone(),
            slug: c.slug.clone(),
            description: c.description.clone(),
            parent: c.parent_id.map(|p| p.to_string()),
            created_at: c.created_at.to_rfc3339(),
            updated_at: c.updated_at.to_rfc3339(),
            version: c.version,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CartItemView {
    pub product_id: String,
    pub name: String,
    pub price: f64,
    pub discount: f64,
    pub sell_price: f64,
    pub quantity: i64,
    pub line_total: f64,
    pub image: Option<String>,
    pub stock: i64,
    pub available: bool,
    /// Why the line cannot be bought as it stands: `deleted`, `unavailable`
    /// or `insufficient_stock`; `null` when it can. Flagged lines are left
    /// out of the totals.
    pub issue: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CartView {
    /// A guest's cart key: send it back as `X-Cart-Key`. `null` for a signed-in user's cart.
    pub cart_key: Option<String>,
    pub items: Vec<CartItemView>,
    pub item_count: i64,
    pub subtotal: f64,
    pub discount_total: f64,
    pub total: f64,
    pub currency: String,
}

impl CartView {
    pub fn new(cart: &emporium_service::carts::Cart, currency: &str) -> Self {
        let items: Vec<CartItemView> = cart
            .lines
            .iter()
            .map(|(line, priced, issue)| CartItemView {
                product_id: line.product_id.to_string(),
                name: line.product.name.clone(),
                price: priced.unit_price.to_major_f64(),
                discount: priced.discount.to_f64(),
                sell_price: priced.unit_sell_price().to_major_f64(),
                quantity: line.quantity,
                line_total: priced.line_total().to_major_f64(),
                image: line.product.image.clone(),
                stock: line.product.stock,
                available: line.product.available && !line.product.deleted,
                issue: issue.map(|i| i.as_str().to_string()),
            })
            .collect();
        Self {
            cart_key: cart.handle.key.clone(),
            item_count: items.iter().map(|i| i.quantity).sum(),
            items,
            subtotal: cart.totals.subtotal.to_major_f64(),
            discount_total: cart.totals.discount_total.to_major_f64(),
            total: cart.totals.total.to_major_f64(),
            currency: currency.to_string(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrderItemView {
    pub product_id: String,
    pub name: String,
    pub quantity: i64,
    /// The price when ordered, before discount.
    pub unit_price: f64,
    /// The discount (percent) when ordered.
    pub discount: f64,
    pub sell_price: f64,
    pub line_total: f64,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrderEventView {
    pub from: Option<String>,
    pub to: String,
    pub actor_id: Option<String>,
    /// `user`, `admin`, `guest` or `system`.
    pub actor: String,
    pub reason: Option<String>,
    pub at: String,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrderView {
    #[serde(rename = "_id")]
    pub id: String,
    pub user_id: Option<String>,
    pub items: Vec<OrderItemView>,
    pub subtotal: f64,
    pub discount_total: f64,
    pub total: f64,
    pub currency: String,
    /// pending, paid, processing, shipped, delivered, cancelled or refunded.
    pub status: String,
    /// unpaid, paid or refunded.
    pub payment_status: String,
    /// stripe, paypal, test or manual; null until checkout starts.
    pub payment_method: Option<String>,
    #[schema(value_type = AddressSchema)]
    pub shipping_address: ShippingAddress,
    pub email: String,
    pub notes: Option<String>,
    /// Every status change, oldest first (on single-order reads).
    pub events: Vec<OrderEventView>,
    pub created_at: String,
    pub updated_at: String,
    #[serde(rename = "__v")]
    pub version: i64,
    /// Only in the answer that places a guest order (or replays it): the
    /// order's access token, shown this once. A guest reads and cancels the
    /// order with it (`X-Order-Token` header or `?token=`); a replay gives a
    /// fresh one and the earlier stops working.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order_token: Option<String>,
}

impl From<&emporium_store::OrderRecord> for OrderView {
    fn from(o: &emporium_store::OrderRecord) -> Self {
        Self {
            id: o.id.to_string(),
            user_id: o.user_id.map(|u| u.to_string()),
            items: o
                .items
                .iter()
                .map(|i| OrderItemView {
                    product_id: i.product_id.to_string(),
                    name: i.name.clone(),
                    quantity: i.quantity,
                    unit_price: i.unit_price.to_major_f64(),
                    discount: i.discount.to_f64(),
                    sell_price: i.unit_sell_price.to_major_f64(),
                    line_total: i.line_total.to_major_f64(),
                })
                .collect(),
            subtotal: o.totals.subtotal.to_major_f64(),
            discount_total: o.totals.discount_total.to_major_f64(),
            total: o.totals.total.to_major_f64(),
            currency: o.currency.clone(),
            status: o.status.as_str().to_string(),
            payment_status: o.payment_status.as_str().to_string(),
            payment_method: o.payment_method.map(|m| m.as_str().to_string()),
            shipping_address: o.shipping_address.clone(),
            email: o.email.clone(),
            notes: o.notes.clone(),
            events: o
                .events
                .iter()
                .map(|e| OrderEventView {
                    from: e.from.map(|s| s.as_str().to_string()),
                    to: e.to.as_str().to_string(),
                    actor_id: e.actor_id.map(|a| a.to_string()),
                    actor: e.actor.clone(),
                    reason: e.reason.clone(),
                    at: e.at.to_rfc3339(),
                })
                .collect(),
            created_at: o.created_at.to_rfc3339(),
            updated_at: o.updated_at.to_rfc3339(),
            version: o.version,
            order_token: None,
        }
    }
}
