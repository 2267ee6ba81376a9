//! `/admin/customers`: accounts, searchable; one customer's page with their
//! orders; change their role (the shop always keeps an admin) or delete them.

use askama::Template;
use axum::Extension;
use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use axum::routing::{get, post};
use emporium_api::AppState;
use emporium_api::extract::ClientIp;
use emporium_domain::Error;
use emporium_domain::account::Role;
use emporium_domain::ids::UserId;
use emporium_domain::paging::Page;
use emporium_service::Principal;
use emporium_store::{OrderFilter, UserFilter, UserRecord};

use super::orders::OrderRow;
use super::{Pager, page_of, query, when};
use crate::form::Form;
use crate::render::{self, Layout, PageError, PageResult};
use crate::session::AdminUser;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin/customers", get(list))
        .route("/admin/customers/{id}", get(detail))
        .route("/admin/customers/{id}/role", post(change_role))
        .route("/admin/customers/{id}/delete", post(delete))
}

pub struct CustomerRow {
    pub id: UserId,
    pub username: String,
    pub full_name: String,
    pub email: String,
    pub role: &'static str,
    pub joined: String,
}

impl From<&UserRecord> for CustomerRow {
    fn from(u: &UserRecord) -> Self {
        Self {
            id: u.id,
            username: u.username.clone(),
            full_name: u.full_name.clone(),
            email: u.email.clone(),
            role: u.role.as_str(),
            joined: when(u.created_at),
        }
    }
}

#[derive(Template)]
#[template(path = "customers.html")]
struct Customers {
    layout: Layout,
    search: String,
    role: String,
    customers: Vec<CustomerRow>,
    pager: Pager,
}

async fn list(
    State(state): State<AppState>,
    Extension(AdminUser(principal)): Extension<AdminUser>,
    RawQuery(raw): RawQuery,
) -> PageResult {
    let q = query(raw);
    let search = q.text("q").trim().to_string();
    let role_raw = q.text("role").trim().to_string();
    let role = Role::parse(&role_raw).ok();
    let filter = UserFilter { search: Some(search.clone()).filter(|s| !s.is_empty()), role };
    let page = page_of(&q, 25);
    let (users, total) = state.services.admin.list_users(&principal, &filter, page).await?;
    let pager = Pager::new("/admin/customers", &[("q", search.clone()), ("role", role_raw.clone())], page, total);
    render::ok(&Customers {
        layout: Layout::new("Customers", "customers").with_notice(q.optional("notice")),
        search,
        role: role_raw,
        customers: users.iter().map(CustomerRow::from).collect(),
        pager,
    })
}

#[derive(Template)]
#[template(path = "customer.html")]
struct Customer {
    layout: Layout,
    customer: CustomerRow,
    orders: Vec<OrderRow>,
    order_count: u64,
}

fn user_id(raw: &str) -> Result<UserId, PageError> {
    raw.parse().map_err(|_| PageError::new(StatusCode::NOT_FOUND, "User not found"))
}

async fn customer_page(
    state: &AppState,
    principal: &Principal,
    id: UserId,
    status: StatusCode,
    notice: Option<&str>,
    error: Option<String>,
) -> PageResult {
    let user = state.services.admin.user(principal, id).await?;
    let filter = OrderFilter { user_id: Some(id), ..OrderFilter::default() };
    let (orders, total) =
        state.services.orders.list(principal, filter, Page::new(None, Some(50), 50).expect("valid")).await?;
    render::html(
        status,
        &Customer {
            layout: Layout::new(user.full_name.clone(), "customers").with_notice(notice).with_error(error),
            customer: CustomerRow::from(&user),
            orders: orders.iter().map(OrderRow::from).collect(),
            order_count: total,
        },
    )
}

async fn detail(
    State(state): State<AppState>,
    Extension(AdminUser(principal)): Extension<AdminUser>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> PageResult {
    let q = query(raw);
    customer_page(&state, &principal, user_id(&id)?, StatusCode::OK, q.optional("notice"), None).await
}

async fn change_role(
    State(state): State<AppState>,
    ip: ClientIp,
    Extension(AdminUser(principal)): Extension<AdminUser>,
    Path(id): Path<String>,
    form: Form,
) -> PageResult {
    let id = user_id(&id)?;
    let outcome = match Role::parse(form.text("role")) {
        Ok(role) => state.services.admin.change_role(&principal, id, role, &ip.context()).await.map(|_| ()),
        Err(e) => Err(Error::field("role", e)),
    };
    match outcome {
        Ok(()) => Ok(Redirect::to(&format!("/admin/customers/{id}?notice=role")).into_response()),
        Err(e @ (Error::Conflict(_) | Error::Validation(_))) => {
            customer_page(&state, &principal, id, render::status_of(&e), None, Some(render::message_of(&e))).await
        }
        Err(other) => Err(other.into()),
    }
}

async fn delete(
    State(state): State<AppState>,
    ip: ClientIp,
    Extension(AdminUser(principal)): Extension<AdminUser>,
    Path(id): Path<String>,
) -> PageResult {
    let id = user_id(&id)?;
    match state.services.admin.delete_user(&principal, id, &ip.context()).await {
        Ok(()) => Ok(Redirect::to("/admin/customers?notice=deleted").into_response()),
        Err(e @ Error::Conflict(_)) => {
            customer_page(&state, &principal, id, render::status_of(&e), None, Some(render::message_of(&e))).await
        }
        Err(other) => Err(other.into()),
    }
}
