//! Cart Service (API2): a signed-in user's cart by token, a guest's by
//! `cart_key` (in the body, the query string or `X-Cart-Key`), over the
//! native cart service. The key is the cart's only secret: it is made by
//! the service (256 random bits), stored hashed, and never listed.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use emporium_api::AppState;
use emporium_api::extract::input::{Int, Line};
use emporium_api::extract::{Optional, Required};
use emporium_api::request_body;
use emporium_domain::error::FieldErrors as Problems;
use emporium_domain::ids::ProductId;
use emporium_domain::orders::{MAX_QUANTITY, Quantity};
use emporium_service::carts::{Cart, CartHandle, QuantityChange};
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::catalog::percent;
use crate::error::{DrfDetail, DrfError, DrfFieldErrors, DrfResult};
use crate::extract::{DrfJson, QueryCartKey, User, cart_key};
use crate::{TAG, drf};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(drf(routes!(get_cart)))
        .routes(drf(routes!(add_item)))
        .routes(drf(routes!(remove_item)))
        .routes(drf(routes!(clear_cart)))
        .routes(drf(routes!(update_quantity)))
        .routes(drf(routes!(get_user_cart)))
        .routes(drf(routes!(clear_user_cart)))
}

/// One line, priced live.
#[derive(Serialize, ToSchema)]
pub struct DrfCartLineView {
    /// The product's id, as a string (as the document has it).
    pub product_id: String,
    pub name: String,
    /// The unit price before the discount.
    pub price: String,
    /// Percent.
    pub discount: String,
    pub quantity: i64,
    /// The product's first image, or `null`.
    pub image: Option<String>,
    /// The line's total after the discount (quantity × `price_per_item`).
    pub price_after_discount: String,
    /// One item's price after the discount.
    pub price_per_item: String,
}

#[derive(Serialize, ToSchema)]
pub struct DrfCartView {
    pub cart_details: Vec<DrfCartLineView>,
    /// The total of the lines that can be bought now.
    pub total_price: String,
    /// A guest's key (send it back as `cart_key`); `null` for a signed-in user's cart.
    pub cart_key: Option<String>,
}

/// The document's "for another service" view: the same without the key.
#[derive(Serialize, ToSchema)]
pub struct DrfServiceCartView {
    pub cart_details: Vec<DrfCartLineView>,
    pub total_price: String,
}

fn lines(cart: &Cart) -> Vec<DrfCartLineView> {
    cart.lines
        .iter()
        .map(|(line, priced, _)| DrfCartLineView {
            product_id: line.product_id.to_string(),
            name: line.product.name.clone(),
            price: priced.unit_price.to_string(),
            discount: percent(priced.discount),
            quantity: line.quantity,
            image: line.product.image.clone(),
            price_after_discount: priced.line_total().to_string(),
            price_per_item: priced.unit_sell_price().to_string(),
        })
        .collect()
}

fn view(cart: &Cart) -> DrfCartView {
    DrfCartView {
        cart_details: lines(cart),
        total_price: cart.totals.total.to_string(),
        cart_key: cart.handle.key.clone(),
    }
}

/// The caller's cart; a guest without a (known) key gets a new one.
async fn handle(state: &AppState, user: &User, key: Option<String>) -> DrfResult<CartHandle> {
    Ok(state.services.carts.resolve(user.0.as_ref(), key.as_deref()).await?)
}

/// A product id in a body: a positive integer, as a string or a number.
fn product(id: Required<ProductId>) -> ProductId {
    id.get()
}

/// The caller's cart, with live prices. A guest's first call makes one and returns its `cart_key`.
#[utoipa::path(get, path = "/api/v1/cart/get_cart/", tag = TAG, params(("cart_key" = Option<String>, Query)),
    security((), ("bearer" = [])), responses((status = 200, body = DrfCartView), (status = 401, body = DrfDetail)))]
async fn get_cart(State(state): State<AppState>, user: User, key: QueryCartKey) -> DrfResult<Response> {
    let cart = state.services.carts.view(handle(&state, &user, key.0).await?).await?;
    Ok(axum::Json(view(&cart)).into_response())
}

request_body! {
    /// A product to add.
    pub struct DrfAddItemRequest {
        "product_id" => product_id: Required<ProductId>,
        /// Added to what the cart already holds.
        "quantity" => quantity: Required<Quantity>,
        /// A guest's cart (also accepted in the query string or `X-Cart-Key`).
        "cart_key" => cart_key: Optional<Line<128>>,
    }
}

/// Add a product. The line's new quantity must be in stock (409 otherwise).
#[utoipa::path(post, path = "/api/v1/cart/add_item/", tag = TAG, request_body = DrfAddItemRequest, security((), ("bearer" = [])),
    responses((status = 200, body = Object, example = json!({"message": "Item added to cart", "product_id": "1", "quantity": 2,
        "name": "Widget", "price": "100.00", "discount": "10.00", "cart_key": "…"})),
        (status = 400, body = DrfFieldErrors), (status = 401, body = DrfDetail), (status = 404, body = DrfDetail), (status = 409, body = DrfDetail)))]
async fn add_item(
    State(state): State<AppState>,
    user: User,
    query: QueryCartKey,
    DrfJson(body): DrfJson<DrfAddItemRequest>,
) -> DrfResult<Response> {
    let key = cart_key(body.cart_key.get(), query);
    let product_id = product(body.product_id);
    let cart = state.services.carts.add(handle(&state, &user, key).await?, product_id, body.quantity.get()).await?;
    let (line, priced, _) =
        cart.lines.iter().find(|(l, _, _)| l.product_id == product_id).ok_or_else(DrfError::not_found)?;
    Ok(axum::Json(json!({
        "message": "Item added to cart",
        "product_id": product_id.to_string(),
        "quantity": line.quantity,
        "name": line.product.name,
        "price": priced.unit_price.to_string(),
        "discount": percent(priced.discount),
        "cart_key": cart.handle.key,
    }))
    .into_response())
}

request_body! {
    /// The line to remove.
    pub struct DrfRemoveItemRequest {
        "product_id" => product_id: Required<ProductId>,
        "cart_key" => cart_key: Optional<Line<128>>,
    }
}

/// Remove a line; one that is not in the cart is a 404.
#[utoipa::path(delete, path = "/api/v1/cart/remove_item/", tag = TAG, request_body = DrfRemoveItemRequest, security((), ("bearer" = [])),
    responses((status = 200, body = Object, example = json!({"message": "Item removed from cart", "product_id": "1"})),
        (status = 400, body = DrfFieldErrors), (status = 401, body = DrfDetail), (status = 404, body = DrfDetail)))]
async fn remove_item(
    State(state): State<AppState>,
    user: User,
    query: QueryCartKey,
    DrfJson(body): DrfJson<DrfRemoveItemRequest>,
) -> DrfResult<Response> {
    let key = cart_key(body.cart_key.get(), query);
    let product_id = product(body.product_id);
    state.services.carts.remove(handle(&state, &user, key).await?, product_id).await?;
    Ok(axum::Json(json!({ "message": "Item removed from cart", "product_id": product_id.to_string() })).into_response())
}

request_body! {
    /// Whose cart to empty (a guest's; a signed-in user's by token).
    pub struct DrfClearCartRequest {
        "cart_key" => cart_key: Optional<Line<128>>,
    }
}

/// Empty the caller's cart.
#[utoipa::path(delete, path = "/api/v1/cart/clear_cart/", tag = TAG, request_body = DrfClearCartRequest, security((), ("bearer" = [])),
    responses((status = 200, body = Object, example = json!({"message": "Cart cleared"})), (status = 401, body = DrfDetail)))]
async fn clear_cart(
    State(state): State<AppState>,
    user: User,
    query: QueryCartKey,
    DrfJson(body): DrfJson<DrfClearCartRequest>,
) -> DrfResult<Response> {
    let key = cart_key(body.cart_key.get(), query);
    state.services.carts.clear(handle(&state, &user, key).await?).await?;
    Ok(axum::Json(json!({ "message": "Cart cleared" })).into_response())
}

request_body! {
    /// `quantity` sets the line (0 removes it); `change` adds or subtracts (never 0). One of them.
    pub struct DrfUpdateQuantityRequest {
        "product_id" => product_id: Required<ProductId>,
        "quantity" => quantity: Optional<Int<0, MAX_QUANTITY>>,
        "change" => change: Optional<Int<{ -MAX_QUANTITY }, MAX_QUANTITY>>,
        "cart_key" => cart_key: Optional<Line<128>>,
    }
    check = check_update;
}

fn check_update(body: &DrfUpdateQuantityRequest, errors: &mut Problems) {
    match (&body.quantity.0, &body.change.0) {
        (Some(_), Some(_)) => errors.push("non_field_errors", "Send quantity or change, not both."),
        (None, Some(Int(0))) => errors.push("change", "Must be a non-zero integer."),
        (None, None) if errors.is_empty() => errors.push("non_field_errors", "Send quantity or change."),
        _ => {}
    }
}

/// Set a line's quantity, or change it by ±n (reaching 0 removes the line).
#[utoipa::path(patch, path = "/api/v1/cart/update_quantity/", tag = TAG, request_body = DrfUpdateQuantityRequest,
    security((), ("bearer" = [])),
    responses((status = 200, body = Object, example = json!({"message": "Quantity updated successfully.", "product_id": "1", "new_quantity": 3})),
        (status = 400, body = DrfFieldErrors), (status = 401, body = DrfDetail), (status = 404, body = DrfDetail), (status = 409, body = DrfDetail)))]
async fn update_quantity(
    State(state): State<AppState>,
    user: User,
    query: QueryCartKey,
    DrfJson(body): DrfJson<DrfUpdateQuantityRequest>,
) -> DrfResult<Response> {
    let key = cart_key(body.cart_key.get(), query);
    let product_id = product(body.product_id);
    let change = match (body.quantity.get(), body.change.get()) {
        (Some(Int(q)), _) => QuantityChange::To(q),
        (None, Some(Int(c))) => QuantityChange::By(c),
        (None, None) => unreachable!("the request was checked to have one of them"),
    };
    let cart = state.services.carts.change(handle(&state, &user, key).await?, product_id, change).await?;
    let new_quantity = cart.lines.iter().find(|(l, _, _)| l.product_id == product_id).map_or(0, |(l, _, _)| l.quantity);
    Ok(axum::Json(json!({
        "message": "Quantity updated successfully.",
        "product_id": product_id.to_string(),
        "new_quantity": new_quantity,
    }))
    .into_response())
}

/// A guest cart named by its key, never made: an unknown key is a 404.
async fn keyed_cart(state: &AppState, key: Option<String>) -> DrfResult<CartHandle> {
    let key = key.ok_or_else(|| DrfError::field("cart_key", "This field is required."))?;
    state
        .services
        .carts
        .existing(None, Some(&key))
        .await?
        .ok_or_else(|| DrfError::detail(axum::http::StatusCode::NOT_FOUND, "Cart not found."))
}

/// A guest's cart by its key ("for another service": the key is the credential).
#[utoipa::path(get, path = "/api/v1/cart/get_user_cart/", tag = TAG, params(("cart_key" = String, Query)),
    responses((status = 200, body = DrfServiceCartView), (status = 400, body = DrfFieldErrors), (status = 404, body = DrfDetail)))]
async fn get_user_cart(State(state): State<AppState>, key: QueryCartKey) -> DrfResult<Response> {
    let cart = state.services.carts.view(keyed_cart(&state, key.0).await?).await?;
    Ok(axum::Json(DrfServiceCartView { cart_details: lines(&cart), total_price: cart.totals.total.to_string() })
        .into_response())
}

request_body! {
    /// The guest cart to empty.
    pub struct DrfClearUserCartRequest {
        "cart_key" => cart_key: Optional<Line<128>>,
    }
}

/// Empty a guest's cart by its key.
#[utoipa::path(delete, path = "/api/v1/cart/clear_user_cart/", tag = TAG, request_body = DrfClearUserCartRequest,
    responses((status = 200, body = Object, example = json!({"message": "Cart {cart_key} cleared"})),
        (status = 400, body = DrfFieldErrors), (status = 404, body = DrfDetail)))]
async fn clear_user_cart(
    State(state): State<AppState>,
    query: QueryCartKey,
    DrfJson(body): DrfJson<DrfClearUserCartRequest>,
) -> DrfResult<Response> {
    let key = cart_key(body.cart_key.get(), query);
    let cart = keyed_cart(&state, key.clone()).await?;
    state.services.carts.clear(cart).await?;
    Ok(axum::Json(json!({ "message": format!("Cart {} cleared", key.unwrap_or_default()) })).into_response())
}
