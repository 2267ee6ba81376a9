//! `/admin/categories`: the tree (one level of nesting); create, rename,
//! move and delete. A category still in use says why it stays.

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
use emporium_domain::catalog::{CategoryKey, parse_name};
use emporium_domain::ids::CategoryId;
use emporium_service::Principal;
use emporium_service::catalog::{CategoryInput, CategoryPatch};

use super::query;
use crate::form::Form;
use crate::render::{self, Layout, PageError, PageResult};
use crate::session::AdminUser;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin/categories", get(list).post(create))
        .route("/admin/categories/{id}", post(update))
        .route("/admin/categories/{id}/delete", post(delete))
}

pub struct Node {
    pub id: CategoryId,
    pub name: String,
    pub slug: String,
    pub parent: String,
    pub depth: u8,
}

#[derive(Template)]
#[template(path = "categories.html")]
struct Categories {
    layout: Layout,
    nodes: Vec<Node>,
    tops: Vec<(CategoryId, String)>,
}

async fn page(state: &AppState, status: StatusCode, notice: Option<&str>, error: Option<String>) -> PageResult {
    let all = state.services.catalog.categories().await?;
    let mut nodes = Vec::new();
    for top in all.iter().filter(|c| c.parent_id.is_none()) {
        nodes.push(Node {
            id: top.id,
            name: top.name.clone(),
            slug: top.slug.clone(),
            parent: String::new(),
            depth: 0,
        });
        for child in all.iter().filter(|c| c.parent_id == Some(top.id)) {
            nodes.push(Node {
                id: child.id,
                name: child.name.clone(),
                slug: child.slug.clone(),
                parent: top.id.to_string(),
                depth: 1,
            });
        }
    }
    let tops = all.iter().filter(|c| c.parent_id.is_none()).map(|c| (c.id, c.name.clone())).collect();
    render::html(
        status,
        &Categories {
            layout: Layout::new("Categories", "categories").with_notice(notice).with_error(error),
            nodes,
            tops,
        },
    )
}

async fn list(State(state): State<AppState>, RawQuery(raw): RawQuery) -> PageResult {
    let q = query(raw);
    page(&state, StatusCode::OK, q.optional("notice"), None).await
}

/// After an action: the tree with a notice, or with the refusal (nothing changed).
async fn after<T>(state: &AppState, outcome: Result<T, Error>, notice: &str) -> PageResult {
    match outcome {
        Ok(_) => Ok(Redirect::to(&format!("/admin/categories?notice={notice}")).into_response()),
        Err(e @ (Error::Conflict(_) | Error::Validation(_) | Error::NotFound(_))) => {
            page(state, render::status_of(&e), None, Some(render::message_of(&e))).await
        }
        Err(other) => Err(other.into()),
    }
}

fn parent_of(form: &Form) -> Option<CategoryKey> {
    form.optional("parent").and_then(|p| CategoryKey::parse(p).ok())
}

async fn create(
    State(state): State<AppState>,
    ip: ClientIp,
    Extension(AdminUser(principal)): Extension<AdminUser>,
    form: Form,
) -> PageResult {
    let outcome = match parse_name(form.text("name"), 100) {
        Ok(name) => {
            let input = CategoryInput { name, slug: None, description: None, parent: parent_of(&form) };
            state.services.catalog.create_category(&principal, input, &ip.context()).await
        }
        Err(e) => Err(Error::field("name", e)),
    };
    after(&state, outcome, "created").await
}

fn key(raw: &str) -> Result<CategoryKey, PageError> {
    raw.parse().map(CategoryKey::Id).map_err(|_| PageError::new(StatusCode::NOT_FOUND, "Category not found"))
}

/// Rename and move in one form: the name as typed, the parent as chosen
/// (blank: top level).
async fn update(
    State(state): State<AppState>,
    ip: ClientIp,
    Extension(AdminUser(principal)): Extension<AdminUser>,
    Path(id): Path<String>,
    form: Form,
) -> PageResult {
    let key = key(&id)?;
    let outcome = update_category(&state, &principal, &key, &form, &ip).await;
    after(&state, outcome, "saved").await
}

async fn update_category(
    state: &AppState,
    principal: &Principal,
    key: &CategoryKey,
    form: &Form,
    ip: &ClientIp,
) -> Result<(), Error> {
    let name = parse_name(form.text("name"), 100).map_err(|e| Error::field("name", e))?;
    let current = state.services.catalog.category(key).await?;
    let parent = parent_of(form);
    let parent_changed = parent
        .as_ref()
        .map(|p| matches!(p, CategoryKey::Id(id) if Some(*id) != current.parent_id))
        .unwrap_or(current.parent_id.is_some());
    let patch =
        CategoryPatch { name: Some(name), slug: None, description: None, parent: parent_changed.then_some(parent) };
    state.services.catalog.update_category(principal, key, patch, None, &ip.context()).await.map(|_| ())
}

async fn delete(
    State(state): State<AppState>,
    ip: ClientIp,
    Extension(AdminUser(principal)): Extension<AdminUser>,
    Path(id): Path<String>,
) -> PageResult {
    let key = key(&id)?;
    let outcome = state.services.catalog.delete_category(&principal, &key, &ip.context()).await;
    after(&state, outcome, "deleted").await
}
