//! geekmobile's response bodies, rendered from the services' records.

use emporium_api::AppState;
use emporium_domain::ids::ProductId;
use emporium_domain::money::Money;
use emporium_domain::orders::{OrderStatus, PaymentStatus};
use emporium_service::carts::Cart;
use emporium_store::{OrderRecord, ProductRecord, UserRecord};
use serde_json::{Value, json};

/// A category as the document writes it: the slug in upper case (`COMPONENTS`).
pub fn category_name(slug: &str) -> String {
    slug.to_uppercase()
}

fn money(m: Money) -> Value {
    json!(m.to_major_f64())
}

/// A product: `value` is what a buyer pays (the price less any discount),
/// `thumbnail` its first image.
pub fn product(p: &ProductRecord) -> Value {
    json!({
        "name": p.draft.name,
        "description": p.draft.description,
        "thumbnail": p.draft.images.first().cloned().unwrap_or_default(),
        "value": money(p.sell_price),
        "category": p.category.as_ref().map(|c| category_name(&c.slug)),
        "keywords": p.draft.keywords,
        "stock": p.draft.stock,
        "id": p.id.to_string(),
    })
}

/// A search hit, as the document's Algolia records have it (no keywords).
pub fn search_hit(p: &ProductRecord) -> Value {
    json!({
        "id": p.id.to_string(),
        "name": p.draft.name,
        "description": p.draft.description,
        "thumbnail": p.draft.images.first().cloned().unwrap_or_default(),
        "value": money(p.sell_price),
        "category": p.category.as_ref().map(|c| category_name(&c.slug)),
        "stock": p.draft.stock,
    })
}

/// What the catalog says of a product now, for the lines that show it
/// (`None` once it has left the catalog).
async fn live_product(state: &AppState, id: ProductId) -> Option<std::sync::Arc<ProductRecord>> {
    state.services.catalog.product(id).await.ok()
}

/// The basket's lines. A line is one product, so its `id` is the product's.
pub async fn basket(state: &AppState, cart: &Cart) -> Vec<Value> {
    let mut lines = Vec::with_capacity(cart.lines.len());
    for (line, _, _) in &cart.lines {
        let live = live_product(state, line.product_id).await;
        lines.push(json!({
            "name": line.product.name,
            "thumbnail": line.product.image.clone().unwrap_or_default(),
            "value": money(line.product.price.discounted(line.product.discount)),
            "quantity": line.quantity,
            "stock": line.product.stock,
            "description": live.as_ref().map(|p| p.draft.description.clone()).unwrap_or_default(),
            "category": live.as_ref().and_then(|p| p.category.as_ref().map(|c| category_name(&c.slug))),
            "id_product": line.product_id.to_string(),
            "id": line.product_id.to_string(),
        }));
    }
    lines
}

/// The document's delivery states: an order paid and on its way is in PROGRESS.
fn delivery_status(status: OrderStatus) -> &'static str {
    match status {
        OrderStatus::Pending => "PENDING",
        OrderStatus::Paid | OrderStatus::Processing => "PROGRESS",
        OrderStatus::Shipped => "SHIPPED",
        OrderStatus::Delivered => "DELIVERED",
        OrderStatus::Cancelled => "CANCELLED",
        OrderStatus::Refunded => "REFUNDED",
    }
}

/// Whether an order is a purchase in the document's sense (one PayPal
/// approved and was captured): pending and cancelled unpaid orders are not.
pub fn is_purchase(order: &OrderRecord) -> bool {
    order.payment_status != PaymentStatus::Unpaid
}

/// A purchase, as `consult/order` and `pucharses` show it. The address
/// parts map back to the document's names (see [`crate::routes::address`]).
pub async fn purchase(state: &AppState, order: &OrderRecord) -> Value {
    let a = &order.shipping_address;
    let mut products = Vec::with_capacity(order.items.len());
    for item in &order.items {
        let live = live_product(state, item.product_id).await;
        products.push(json!({
            "name": item.name,
            "thumbnail": live.as_ref().and_then(|p| p.draft.images.first().cloned()).unwrap_or_default(),
            "quantity": item.quantity,
            "value": money(item.unit_sell_price),
            "description": live.as_ref().map(|p| p.draft.description.clone()).unwrap_or_default(),
            "category": live.as_ref().and_then(|p| p.category.as_ref().map(|c| category_name(&c.slug))),
            "id_product": item.product_id.to_string(),
        }));
    }
    json!({
        "address": {
            "firstName": a.first_name(),
            "lastName": a.last_name(),
            "address1": a.address1(),
            "phoneNumber": a.phone(),
            "countryRegion": a.country(),
            "zip": a.postcode(),
            "state": a.state().unwrap_or_default(),
            "locality": a.city(),
            "sublocality": a.address2().unwrap_or_default(),
        },
        "delivery": { "status": delivery_status(order.status), "date": order.updated_at.to_rfc3339() },
        "amount": money(order.totals.total),
        "dateShop": order.created_at.to_rfc3339(),
        "id": order.id.to_string(),
        "products": products,
    })
}

/// The user object of sign-up, sign-in and renew.
pub fn user(user: &UserRecord, token: &str, basket: Vec<Value>, purchases: Vec<Value>) -> Value {
    json!({
        "token": token,
        "name": user.full_name,
        "email": user.email,
        "basket": { "products": basket },
        "pucharses": purchases,
    })
}
