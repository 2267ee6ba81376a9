//! The success envelope: `{"statusCode", "data", "message", "success", "meta"?}`.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use emporium_domain::paging::Page;
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Envelope<T> {
    pub status_code: u16,
    pub data: T,
    pub message: String,
    pub success: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub meta: Option<ListMeta>,
}

/// Where a page sits in the whole list.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ListMeta {
    pub page: u32,
    pub limit: u32,
    pub total: u64,
    pub total_pages: u64,
    /// Product listings only: how the whole match spreads over categories
    /// and price bands.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub facets: Option<Facets>,
}

impl ListMeta {
    pub fn new(page: Page, total: u64) -> Self {
        Self { page: page.page(), limit: page.limit(), total, total_pages: page.total_pages(total), facets: None }
    }

    pub fn with_facets(mut self, facets: &emporium_service::read_model::ProductFacets) -> Self {
        self.facets = Some(Facets {
            categories: facets
                .categories
                .iter()
                .map(|(c, count)| CategoryFacet {
                    id: c.id.to_string(),
                    slug: c.slug.clone(),
                    name: c.name.clone(),
                    count: *count,
                })
                .collect(),
            price_bands: facets
                .price_bands
                .iter()
                .map(|(from, below, count)| PriceBandFacet {
                    min: from.to_major_f64(),
                    max: below.map(|b| b.to_major_f64()),
                    count: *count,
                })
                .collect(),
        });
        self
    }
}

/// Product counts of a listing's whole match, for filter sidebars.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Facets {
    /// Categories holding matches (each its own products), by name.
    pub categories: Vec<CategoryFacet>,
    /// Selling-price bands holding matches, cheapest first.
    pub price_bands: Vec<PriceBandFacet>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CategoryFacet {
    #[serde(rename = "_id")]
    pub id: String,
    pub slug: String,
    pub name: String,
    pub count: u64,
}

/// Prices from `min` up to, not including, `max` (none: no upper bound).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PriceBandFacet {
    pub min: f64,
    pub max: Option<f64>,
    pub count: u64,
}

/// A success response: the envelope with its HTTP status.
pub struct Reply<T>(StatusCode, Envelope<T>);

impl<T: Serialize> Reply<T> {
    pub fn ok(data: T, message: &str) -> Self {
        Self::with_status(StatusCode::OK, data, message)
    }
    pub fn created(data: T, message: &str) -> Self {
        Self::with_status(StatusCode::CREATED, data, message)
    }
    pub fn list(data: T, meta: ListMeta, message: &str) -> Self {
        let mut reply = Self::ok(data, message);
        reply.1.meta = Some(meta);
        reply
    }
    fn with_status(status: StatusCode, data: T, message: &str) -> Self {
        Self(
            status,
            Envelope { status_code: status.as_u16(), data, message: message.to_string(), success: true, meta: None },
        )
    }
}

impl Reply<Option<()>> {
    /// A success that carries only a message (`data` is `null`).
    pub fn message(message: &str) -> Self {
        Self::ok(None, message)
    }
}

impl<T: Serialize> Reply<T> {
    /// The body as it would be sent, for the response cache.
    pub fn to_bytes(&self) -> emporium_domain::Result<Vec<u8>> {
        serde_json::to_vec(&self.1).map_err(|e| emporium_domain::Error::internal(format!("rendering a response: {e}")))
    }
}

/// A 200 JSON response rendered earlier and kept in the read cache.
pub struct CachedJson(pub std::sync::Arc<Vec<u8>>);

impl IntoResponse for CachedJson {
    fn into_response(self) -> Response {
        ([(axum::http::header::CONTENT_TYPE, "application/json")], self.0.as_ref().clone()).into_response()
    }
}

impl<T: Serialize> IntoResponse for Reply<T> {
    fn into_response(self) -> Response {
        (self.0, Json(self.1)).into_response()
    }
}
