//! `/cart`: a signed-in user's cart by token, a guest's by `X-Cart-Key`.

use axum::extract::{Path, State};
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use emporium_domain::Error;
use emporium_domain::ids::ProductId;
use emporium_domain::orders::Quantity;
use emporium_service::carts::{Cart, CartHandle, QuantityChange};
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::envelope::{Envelope, Reply};
use crate::error::{ApiResult, ErrorEnvelope};
use crate::extract::{CartKey, Fields, JsonObject, MaybeAuth};
use crate::views::CartView;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_cart, clear_cart))
        .routes(routes!(add_cart_item))
        .routes(routes!(update_cart_item, remove_cart_item))
}

async fn handle(state: &AppState, auth: &MaybeAuth, key: &CartKey) -> ApiResult<CartHandle> {
    Ok(state.services.carts.resolve(auth.0.as_ref(), key.0.as_deref()).await?)
}

/// The cart envelope, with the guest's key also in `X-Cart-Key`.
fn reply(state: &AppState, cart: &Cart, message: &str) -> Response {
    let view = CartView::new(cart, state.services.orders.currency());
    let key = view.cart_key.clone();
    let mut response = Reply::ok(view, message).into_response();
    if let Some(key) = key.and_then(|k| HeaderValue::from_str(&k).ok()) {
        response.headers_mut().insert("x-cart-key", key);
    }
    response
}

/// A product id from a path or body: anything but a positive integer is not a product.
pub(crate) fn product_id(raw: &str) -> Result<ProductId, Error> {
    raw.parse().map_err(|_| Error::NotFound("Product not found".into()))
}

/// The caller's cart, with live prices. A guest's first call makes one and returns its `cartKey`.
#[utoipa::path(get, path = "/cart", tag = "cart", params(("X-Cart-Key" = Option<String>, Header, description = "a guest's cart key")),
    responses((status = 200, body = Envelope<CartView>), (status = 401, body = ErrorEnvelope)))]
async fn get_cart(State(state): State<AppState>, auth: MaybeAuth, key: CartKey) -> ApiResult<Response> {
    let cart = state.services.carts.view(handle(&state, &auth, &key).await?).await?;
    Ok(reply(&state, &cart, "Cart fetched successfully"))
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
pub struct AddItemRequest {
    product_id: String,
    /// 1 or more; added to what the cart already holds.
    quantity: i64,
}

/// Add a product. The line's new quantity must be in stock (409 INSUFFICIENT_STOCK otherwise).
#[utoipa::path(post, path = "/cart/items", tag = "cart", request_body = AddItemRequest, params(("X-Cart-Key" = Option<String>, Header)),
    responses((status = 200, body = Envelope<CartView>), (status = 400, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope)))]
async fn add_cart_item(
    State(state): State<AppState>,
    auth: MaybeAuth,
    key: CartKey,
    JsonObject(body): JsonObject,
) -> ApiResult<Response> {
    let mut f = Fields::new(body);
    let product = match f.nullable_key("productId") {
        Some(Some(raw)) => Some(raw),
        _ => {
            f.error("productId", "is required");
            None
        }
    };
    let quantity = f.required_i64("quantity");
    let quantity = quantity.and_then(|q| Quantity::new(q).map_err(|e| f.error("quantity", e)).ok());
    f.finish()?;
    let (Some(product), Some(quantity)) = (product, quantity) else {
        unreachable!("finish() fails when a field is missing")
    };
    let product = product_id(&product)?;
    let cart = state.services.carts.add(handle(&state, &auth, &key).await?, product, quantity).await?;
    Ok(reply(&state, &cart, "Item added to cart"))
}

#[derive(Deserialize, ToSchema)]
#[allow(dead_code)]
pub struct UpdateItemRequest {
    /// Set the quantity (0 removes the line). Send this or `change`.
    quantity: Option<i64>,
    /// Add or subtract; reaching 0 removes the line.
    change: Option<i64>,
}

/// Set a line's quantity, or change it by ±n.
#[utoipa::path(patch, path = "/cart/items/{productId}", tag = "cart", request_body = UpdateItemRequest,
    params(("productId" = String, Path), ("X-Cart-Key" = Option<String>, Header)),
    responses((status = 200, body = Envelope<CartView>), (status = 400, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope)))]
async fn update_cart_item(
    State(state): State<AppState>,
    auth: MaybeAuth,
    key: CartKey,
    Path(product): Path<String>,
    JsonObject(body): JsonObject,
) -> ApiResult<Response> {
    let mut f = Fields::new(body);
    let quantity = f.optional_i64("quantity");
    let change = f.optional_i64("change");
    let change = match (quantity, change) {
        (Some(q), None) if (0..=emporium_domain::orders::MAX_QUANTITY).contains(&q) => Some(QuantityChange::To(q)),
        (Some(_), None) => {
            f.error("quantity", format!("must be an integer from 0 to {}", emporium_domain::orders::MAX_QUANTITY));
            None
        }
        (None, Some(c)) if c != 0 && c.abs() <= emporium_domain::orders::MAX_QUANTITY => Some(QuantityChange::By(c)),
        (None, Some(_)) => {
            f.error(
                "change",
                format!("must be a non-zero integer from -{0} to {0}", emporium_domain::orders::MAX_QUANTITY),
            );
            None
        }
        (Some(_), Some(_)) => {
            f.error("quantity", "send quantity or change, not both");
            None
        }
        (None, None) => {
            if f.errors.is_empty() {
                f.error("quantity", "quantity or change is required");
            }
            None
        }
    };
    f.finish()?;
    let product = product_id(&product)?;
    let cart = state
        .services
        .carts
        .change(handle(&state, &auth, &key).await?, product, change.expect("checked above"))
        .await?;
    Ok(reply(&state, &cart, "Cart updated successfully"))
}

/// Remove a line.
#[utoipa::path(delete, path = "/cart/items/{productId}", tag = "cart", params(("productId" = String, Path), ("X-Cart-Key" = Option<String>, Header)),
    responses((status = 200, body = Envelope<CartView>), (status = 404, body = ErrorEnvelope)))]
async fn remove_cart_item(
    State(state): State<AppState>,
    auth: MaybeAuth,
    key: CartKey,
    Path(product): Path<String>,
) -> ApiResult<Response> {
    let product = product_id(&product)?;
    let cart = state.services.carts.remove(handle(&state, &auth, &key).await?, product).await?;
    Ok(reply(&state, &cart, "Item removed from cart"))
}

/// Empty the cart.
#[utoipa::path(delete, path = "/cart", tag = "cart", params(("X-Cart-Key" = Option<String>, Header)),
    responses((status = 200, body = Envelope<CartView>)))]
async fn clear_cart(State(state): State<AppState>, auth: MaybeAuth, key: CartKey) -> ApiResult<Response> {
    let cart = state.services.carts.clear(handle(&state, &auth, &key).await?).await?;
    Ok(reply(&state, &cart, "Cart cleared"))
}
