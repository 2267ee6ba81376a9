//! Row shapes both backends read, and their conversion into records.
//! Column types are chosen so the same Rust types decode on SQLite and
//! PostgreSQL (integers as `i64`, instants as epoch milliseconds, JSON as text).

use emporium_domain::account::Role;
use emporium_domain::ids::{AuditId, UserId};
use emporium_domain::time::Timestamp;

use crate::{AuditEntry, StoreError, UserRecord};

#[derive(Debug, sqlx::FromRow)]
pub struct UserRow {
    pub id: i64,
    pub username: String,
    pub full_name: String,
    pub email: String,
    pub role: String,
    pub phone: Option<String>,
    pub shipping_address: Option<String>,
    pub password_hash: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub version: i64,
}

impl TryFrom<UserRow> for UserRecord {
    type Error = StoreError;
    fn try_from(r: UserRow) -> Result<Self, StoreError> {
        Ok(UserRecord {
            id: UserId::new(r.id),
            username: r.username,
            full_name: r.full_name,
            email: r.email,
            role: Role::parse(&r.role).map_err(|e| anyhow::anyhow!("stored role {:?} {e}", r.role))?,
            phone: r.phone,
            shipping_address: r.shipping_address.as_deref().map(serde_json::from_str).transpose()?,
            password_hash: r.password_hash,
            created_at: Timestamp::from_millis(r.created_at),
            updated_at: Timestamp::from_millis(r.updated_at),
            version: r.version,
        })
    }
}

#[derive(Debug, sqlx::FromRow)]
pub struct AuditRow {
    pub id: i64,
    pub at: i64,
    pub actor_id: Option<i64>,
    pub action: String,
    pub target_type: Option<String>,
    pub target_id: Option<String>,
    pub ip: Option<String>,
    pub details: String,
}

impl TryFrom<AuditRow> for AuditEntry {
    type Error = StoreError;
    fn try_from(r: AuditRow) -> Result<Self, StoreError> {
        Ok(AuditEntry {
            id: AuditId::new(r.id),
            at: Timestamp::from_millis(r.at),
            actor_id: r.actor_id.map(UserId::new),
            action: r.action,
            target_type: r.target_type,
            target_id: r.target_id,
            ip: r.ip,
            details: serde_json::from_str(&r.details)?,
        })
    }
}

#[derive(Debug, sqlx::FromRow)]
pub struct PrincipalRow {
    pub user_id: i64,
    pub role: String,
}

#[derive(Debug, sqlx::FromRow)]
pub struct CategoryRow {
    pub id: i64,
    pub name: String,
    pub slug: String,
    pub description: Option<String>,
    pub parent_id: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    pub version: i64,
}

impl From<CategoryRow> for crate::CategoryRecord {
    fn from(r: CategoryRow) -> Self {
        use emporium_domain::ids::CategoryId;
        crate::CategoryRecord {
            id: CategoryId::new(r.id),
            name: r.name,
            slug: r.slug,
            description: r.description,
            parent_id: r.parent_id.map(CategoryId::new),
            created_at: Timestamp::from_millis(r.created_at),
            updated_at: Timestamp::from_millis(r.updated_at),
            version: r.version,
        }
    }
}

#[derive(Debug, sqlx::FromRow)]
pub struct ProductRow {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub price_minor: i64,
    pub discount_bp: i64,
    pub sell_price_minor: i64,
    pub category_id: Option<i64>,
    pub category_name: Option<String>,
    pub category_slug: Option<String>,
    pub images: String,
    pub stock: i64,
    pub available: bool,
    pub keywords: String,
    pub sku: Option<String>,
    pub created_by: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    pub version: i64,
}

impl TryFrom<ProductRow> for crate::ProductRecord {
    type Error = StoreError;
    fn try_from(r: ProductRow) -> Result<Self, StoreError> {
        use emporium_domain::catalog::ProductDraft;
        use emporium_domain::ids::{CategoryId, ProductId};
        use emporium_domain::money::{Money, Percent};
        let category = match (r.category_id, r.category_name, r.category_slug) {
            (Some(id), Some(name), Some(slug)) => Some(crate::CategorySummary { id: CategoryId::new(id), name, slug }),
            _ => None,
        };
        Ok(crate::ProductRecord {
            id: ProductId::new(r.id),
            draft: ProductDraft {
                name: r.name,
                description: r.description,
                price: Money::from_minor(r.price_minor),
                discount: Percent::from_basis_points(r.discount_bp)
                    .map_err(|e| anyhow::anyhow!("stored discount {e}"))?,
                category_id: r.category_id.map(CategoryId::new),
                images: serde_json::from_str(&r.images)?,
                stock: r.stock,
                available: r.available,
                keywords: serde_json::from_str(&r.keywords)?,
                sku: r.sku,
            },
            sell_price: Money::from_minor(r.sell_price_minor),
            category,
            created_by: r.created_by.map(UserId::new),
            created_at: Timestamp::from_millis(r.created_at),
            updated_at: Timestamp::from_millis(r.updated_at),
            version: r.version,
        })
    }
}

/// A cart joined with one of its lines, or with none (all line columns NULL).
#[derive(Debug, sqlx::FromRow)]
pub struct CartWithLineRow {
    pub cart_id: i64,
    pub updated_at: i64,
    pub product_id: Option<i64>,
    pub quantity: Option<i64>,
    pub name: Option<String>,
    pub price_minor: Option<i64>,
    pub discount_bp: Option<i64>,
    pub images: Option<String>,
    pub stock: Option<i64>,
    pub available: Option<bool>,
    pub deleted: Option<bool>,
}

/// The cart's id, when it was last used, and its lines; `None` for no rows.
pub fn cart_with_lines(
    rows: Vec<CartWithLineRow>,
) -> Result<Option<(emporium_domain::ids::CartId, i64, Vec<crate::CartLine>)>, StoreError> {
    let Some(first) = rows.first() else { return Ok(None) };
    let (cart, updated_at) = (emporium_domain::ids::CartId::new(first.cart_id), first.updated_at);
    let mut lines = Vec::with_capacity(rows.len());
    for r in rows {
        let (Some(product_id), Some(quantity), Some(name), Some(price_minor), Some(discount_bp), Some(images)) =
            (r.product_id, r.quantity, r.name, r.price_minor, r.discount_bp, r.images)
        else {
            continue;
        };
        let row = CartLineRow {
            product_id,
            quantity,
            name,
            price_minor,
            discount_bp,
            images,
            stock: r.stock.unwrap_or(0),
            available: r.available.unwrap_or(false),
            deleted: r.deleted.unwrap_or(false),
        };
        lines.push(row.try_into()?);
    }
    Ok(Some((cart, updated_at, lines)))
}

/// A product as a cart line shows it, and whether the line was written.
#[derive(Debug, sqlx::FromRow)]
pub struct PutCartLineRow {
    #[sqlx(flatten)]
    pub line: CartLineRow,
    pub put: bool,
}

#[derive(Debug, sqlx::FromRow)]
pub struct CartLineRow {
    pub product_id: i64,
    pub quantity: i64,
    pub name: String,
    pub price_minor: i64,
    pub discount_bp: i64,
    pub images: String,
    pub stock: i64,
    pub available: bool,
    pub deleted: bool,
}

impl TryFrom<CartLineRow> for crate::CartLine {
    type Error = StoreError;
    fn try_from(r: CartLineRow) -> Result<Self, StoreError> {
        use emporium_domain::ids::ProductId;
        use emporium_domain::money::{Money, Percent};
        let images: Vec<String> = serde_json::from_str(&r.images)?;
        Ok(crate::CartLine {
            product_id: ProductId::new(r.product_id),
            quantity: r.quantity,
            product: crate::CartProduct {
                name: r.name,
                price: Money::from_minor(r.price_minor),
                discount: Percent::from_basis_points(r.discount_bp).map_err(anyhow::Error::msg)?,
                image: images.into_iter().next(),
                stock: r.stock,
                available: r.available,
                deleted: r.deleted,
            },
        })
    }
}

#[derive(Debug, sqlx::FromRow)]
pub struct OrderRow {
    pub id: i64,
    pub user_id: Option<i64>,
    pub email: String,
    pub status: String,
    pub payment_status: String,
    pub payment_method: Option<String>,
    pub currency: String,
    pub subtotal_minor: i64,
    pub discount_total_minor: i64,
    pub total_minor: i64,
    pub shipping_address: String,
    pub notes: Option<String>,
    pub access_token_hash: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub version: i64,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OrderItemRow {
    pub order_id: i64,
    pub product_id: i64,
    pub name: String,
    pub quantity: i64,
    pub unit_price_minor: i64,
    pub discount_bp: i64,
    pub unit_sell_price_minor: i64,
    pub line_total_minor: i64,
}

#[derive(Debug, sqlx::FromRow)]
pub struct OrderEventRow {
    pub from_status: Option<String>,
    pub to_status: String,
    pub actor_id: Option<i64>,
    pub actor: String,
    pub reason: Option<String>,
    pub at: i64,
}

fn status(raw: &str) -> Result<emporium_domain::orders::OrderStatus, StoreError> {
    emporium_domain::orders::OrderStatus::parse(raw)
        .map_err(|e| StoreError::Other(anyhow::anyhow!("stored status {raw:?} {e}")))
}

impl OrderItemRow {
    pub fn into_record(self) -> Result<crate::OrderItemRecord, StoreError> {
        use emporium_domain::ids::ProductId;
        use emporium_domain::money::{Money, Percent};
        Ok(crate::OrderItemRecord {
            product_id: ProductId::new(self.product_id),
            name: self.name,
            quantity: self.quantity,
            unit_price: Money::from_minor(self.unit_price_minor),
            discount: Percent::from_basis_points(self.discount_bp).map_err(anyhow::Error::msg)?,
            unit_sell_price: Money::from_minor(self.unit_sell_price_minor),
            line_total: Money::from_minor(self.line_total_minor),
        })
    }
}

impl TryFrom<OrderEventRow> for crate::OrderEventRecord {
    type Error = StoreError;
    fn try_from(r: OrderEventRow) -> Result<Self, StoreError> {
        Ok(crate::OrderEventRecord {
            from: r.from_status.as_deref().map(status).transpose()?,
            to: status(&r.to_status)?,
            actor_id: r.actor_id.map(UserId::new),
            actor: r.actor,
            reason: r.reason,
            at: Timestamp::from_millis(r.at),
        })
    }
}

impl OrderRow {
    /// The order with its items (and events, when given).
    pub fn into_record(
        self,
        items: Vec<crate::OrderItemRecord>,
        events: Vec<crate::OrderEventRecord>,
    ) -> Result<crate::OrderRecord, StoreError> {
        use emporium_domain::ids::OrderId;
        use emporium_domain::money::Money;
        use emporium_domain::orders::{PaymentStatus, Totals};
        Ok(crate::OrderRecord {
            id: OrderId::new(self.id),
            user_id: self.user_id.map(UserId::new),
            email: self.email,
            status: status(&self.status)?,
            payment_status: PaymentStatus::parse(&self.payment_status).map_err(anyhow::Error::msg)?,
            payment_method: self
                .payment_method
                .as_deref()
                .map(emporium_domain::payments::PaymentMethod::parse)
                .transpose()
                .map_err(anyhow::Error::msg)?,
            currency: self.currency,
            totals: Totals {
                subtotal: Money::from_minor(self.subtotal_minor),
                discount_total: Money::from_minor(self.discount_total_minor),
                total: Money::from_minor(self.total_minor),
            },
            shipping_address: serde_json::from_str(&self.shipping_address)?,
            notes: self.notes,
            access_token_hash: self.access_token_hash,
            items,
            events,
            created_at: Timestamp::from_millis(self.created_at),
            updated_at: Timestamp::from_millis(self.updated_at),
            version: self.version,
        })
    }
}
