//! The OpenAPI document, assembled from the route annotations.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(title = "Emporium", description = "The native Emporium API. Every success is wrapped in `{statusCode, data, message, success}`; every error in `{success: false, error: {code, message, details}}`."),
    servers((url = "/api/v1")),
    modifiers(&BearerAuth),
    tags((name = "accounts", description = "Registration, sign-in and the caller's account"), (name = "admin", description = "Users and the audit log, for admins"), (name = "catalog", description = "Products and categories: read by anyone, written by admins"), (name = "cart", description = "A signed-in user's cart, or a guest's by X-Cart-Key"), (name = "orders", description = "Placing orders and their lifecycle"), (name = "payments", description = "Checkout through Stripe, PayPal, the test page or manual payment; provider webhooks and returns; refunds"))
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("JWT").build()),
        );
    }
}
