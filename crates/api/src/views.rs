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
