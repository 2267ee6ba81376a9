//! `/admin/*`: other users' accounts and the audit log. Admins only.

use axum::extract::{Path, State};
use emporium_domain::Error;
use emporium_domain::account::Role;
use emporium_domain::ids::UserId;
use emporium_domain::time::Timestamp;
use emporium_store::{AuditFilter, UserFilter};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::envelope::{Envelope, ListMeta, Reply};
use crate::error::{ApiResult, ErrorEnvelope};
use crate::extract::{Auth, ClientIp, Fields, JsonObject, Params};
use crate::views::{AuditView, UserView};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_users))
        .routes(routes!(change_user_role, delete_user))
        .routes(routes!(audit_log))
}

fn user_id(raw: &str) -> Result<UserId, Error> {
    raw.parse().map_err(|_| Error::NotFound("User not found".into()))
}

/// Every account, paginated; `search` matches username, e-mail and name.
#[utoipa::path(get, path = "/admin/users", tag = "admin", security(("bearer" = [])),
    params(("page" = Option<u32>, Query), ("limit" = Option<u32>, Query), ("search" = Option<String>, Query), ("role" = Option<String>, Query, description = "user or admin")),
    responses((status = 200, body = Envelope<Vec<UserView>>), (status = 400, body = ErrorEnvelope), (status = 401, body = ErrorEnvelope), (status = 403, body = ErrorEnvelope)))]
async fn list_users(
    State(state): State<AppState>,
    Auth(principal): Auth,
    mut q: Params,
) -> ApiResult<Reply<Vec<UserView>>> {
    let page = q.page(10);
    let search = q.str("search");
    if search.as_ref().is_some_and(|s| s.chars().count() > 200) {
        q.errors.push("search", "must be at most 200 characters");
    }
    let role = q.parse("role", Role::parse);
    q.finish()?;
    let (users, total) = state.services.admin.list_users(&principal, &UserFilter { search, role }, page).await?;
    Ok(Reply::list(
        users.iter().map(UserView::from).collect(),
        ListMeta::new(page, total),
        "Users fetched successfully",
    ))
}

#[derive(Deserialize, ToSchema)]
#[allow(dead_code)]
pub struct RoleRequest {
    /// `user` or `admin`.
    role: String,
}

/// The user after a role change, with rest-v1.md's `userId` and `name` too.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RoleChangeView {
    #[serde(flatten)]
    user: UserView,
    user_id: String,
    name: String,
}

/// Make a user an admin, or an admin a user. The last admin cannot be demoted.
#[utoipa::path(put, path = "/admin/users/{id}", tag = "admin", security(("bearer" = [])), request_body = RoleRequest,
    params(("id" = String, Path)),
    responses((status = 200, body = Envelope<RoleChangeView>), (status = 400, body = ErrorEnvelope), (status = 401, body = ErrorEnvelope), (status = 403, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope)))]
async fn change_user_role(
    State(state): State<AppState>,
    ip: ClientIp,
    Auth(principal): Auth,
    Path(id): Path<String>,
    JsonObject(body): JsonObject,
) -> ApiResult<Reply<RoleChangeView>> {
    let mut f = Fields::new(body);
    let role = f.required_str("role");
    let role = f.parse("role", role, Role::parse);
    f.finish()?;
    let role = role.expect("finish() fails when role is missing");
    let target = match user_id(&id) {
        Ok(id) => id,
        // Non-admins learn nothing about which ids exist.
        Err(e) if principal.is_admin() => return Err(e.into()),
        Err(_) => return Err(Error::Forbidden("Admin access required".into()).into()),
    };
    let ctx = ip.context();
    let user = state.services.admin.change_role(&principal, target, role, &ctx).await?;
    let view =
        RoleChangeView { user_id: user.id.to_string(), name: user.full_name.clone(), user: UserView::from(&user) };
    Ok(Reply::ok(view, "User role updated successfully"))
}

/// Delete an account. The last admin cannot be deleted.
#[utoipa::path(delete, path = "/admin/users/{id}", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = Envelope<Option<String>>), (status = 401, body = ErrorEnvelope), (status = 403, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope)))]
async fn delete_user(
    State(state): State<AppState>,
    ip: ClientIp,
    Auth(principal): Auth,
    Path(id): Path<String>,
) -> ApiResult<Reply<Option<()>>> {
    let target = match user_id(&id) {
        Ok(id) => id,
        Err(e) if principal.is_admin() => return Err(e.into()),
        Err(_) => return Err(Error::Forbidden("Admin access required".into()).into()),
    };
    let ctx = ip.context();
    state.services.admin.delete_user(&principal, target, &ctx).await?;
    Ok(Reply::message("User deleted successfully"))
}

/// Who did what, when, from which IP; newest first.
#[utoipa::path(get, path = "/admin/audit-log", tag = "admin", security(("bearer" = [])),
    params(("page" = Option<u32>, Query), ("limit" = Option<u32>, Query), ("action" = Option<String>, Query, description = "e.g. user.login"),
        ("actorId" = Option<String>, Query), ("targetType" = Option<String>, Query), ("targetId" = Option<String>, Query),
        ("since" = Option<String>, Query, description = "RFC 3339 or YYYY-MM-DD"), ("until" = Option<String>, Query)),
    responses((status = 200, body = Envelope<Vec<AuditView>>), (status = 400, body = ErrorEnvelope), (status = 401, body = ErrorEnvelope), (status = 403, body = ErrorEnvelope)))]
async fn audit_log(
    State(state): State<AppState>,
    Auth(principal): Auth,
    mut q: Params,
) -> ApiResult<Reply<Vec<AuditView>>> {
    let page = q.page(20);
    let filter = AuditFilter {
        action: q.str("action"),
        actor_id: q.parse("actorId", |s| s.parse().map_err(|_| "must be a user id".to_string())),
        target_type: q.str("targetType"),
        target_id: q.str("targetId"),
        since: q.parse("since", Timestamp::parse),
        until: q.parse("until", Timestamp::parse),
    };
    q.finish()?;
    let (entries, total) = state.services.admin.audit_log(&principal, &filter, page).await?;
    Ok(Reply::list(
        entries.iter().map(AuditView::from).collect(),
        ListMeta::new(page, total),
        "Audit log fetched successfully",
    ))
}
