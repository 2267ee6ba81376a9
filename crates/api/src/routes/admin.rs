//! `/admin/*`: other users' accounts and the audit log. Admins only.

use axum::extract::State;
use emporium_domain::Error;
use emporium_domain::account::Role;
use emporium_domain::ids::UserId;
use emporium_domain::paging::Page;
use emporium_domain::time::Timestamp;
use emporium_store::{AuditFilter, UserFilter};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::envelope::{Envelope, ListMeta, Reply};
use crate::error::{ApiResult, ErrorEnvelope};
use crate::extract::input::{Line, PageLimit, PageNumber};
use crate::extract::{Auth, ClientIp, IdPath, Json, Optional, PathText, Query, Required};
use crate::views::{AuditView, UserView};
use crate::{request_body, request_query};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_users))
        .routes(routes!(change_user_role, delete_user))
        .routes(routes!(audit_log))
}

fn user_id(raw: &str) -> Result<UserId, Error> {
    raw.parse().map_err(|_| Error::NotFound("User not found".into()))
}

/// `page` and `limit` of a listing, with its default page size.
pub(crate) fn page(page: Optional<PageNumber>, limit: Optional<PageLimit>, default_limit: u32) -> Page {
    Page::new(page.get().map(|p| p.0), limit.get().map(|l| l.0), default_limit)
        .expect("page and limit were read within the bounds Page checks")
}

request_query! {
    pub struct UserQuery {
        /// From 1.
        "page" => page: Optional<PageNumber>,
        /// 1–100, default 10.
        "limit" => limit: Optional<PageLimit>,
        /// Matches username, e-mail and name.
        "search" => search: Optional<Line<200>>,
        "role" => role: Optional<Role>,
    }
}

/// Every account, paginated; `search` matches username, e-mail and name.
#[utoipa::path(get, path = "/admin/users", tag = "admin", security(("bearer" = [])), params(UserQuery),
    responses((status = 200, body = Envelope<Vec<UserView>>), (status = 400, body = ErrorEnvelope), (status = 401, body = ErrorEnvelope), (status = 403, body = ErrorEnvelope)))]
async fn list_users(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Query(q): Query<UserQuery>,
) -> ApiResult<Reply<Vec<UserView>>> {
    let page = page(q.page, q.limit, 10);
    let filter = UserFilter { search: q.search.get().map(|s| s.0), role: q.role.get() };
    let (users, total) = state.services.admin.list_users(&principal, &filter, page).await?;
    Ok(Reply::list(
        users.iter().map(UserView::from).collect(),
        ListMeta::new(page, total),
        "Users fetched successfully",
    ))
}

request_body! {
    /// The role to give.
    pub struct RoleRequest {
        "role" => role: Required<Role>,
    }
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
    params(IdPath),
    responses((status = 200, body = Envelope<RoleChangeView>), (status = 400, body = ErrorEnvelope), (status = 401, body = ErrorEnvelope), (status = 403, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope)))]
async fn change_user_role(
    State(state): State<AppState>,
    ip: ClientIp,
    Auth(principal): Auth,
    PathText(id): PathText,
    Json(body): Json<RoleRequest>,
) -> ApiResult<Reply<RoleChangeView>> {
    let role = body.role.get();
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
    params(IdPath),
    responses((status = 200, body = Envelope<Option<String>>), (status = 401, body = ErrorEnvelope), (status = 403, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope)))]
async fn delete_user(
    State(state): State<AppState>,
    ip: ClientIp,
    Auth(principal): Auth,
    PathText(id): PathText,
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

request_query! {
    pub struct AuditQuery {
        /// From 1.
        "page" => page: Optional<PageNumber>,
        /// 1–100, default 20.
        "limit" => limit: Optional<PageLimit>,
        /// e.g. `user.login`
        "action" => action: Optional<Line<100>>,
        "actorId" => actor_id: Optional<UserId>,
        /// e.g. `user`, `product`, `order`
        "targetType" => target_type: Optional<Line<100>>,
        "targetId" => target_id: Optional<Line<100>>,
        /// At or after.
        "since" => since: Optional<Timestamp>,
        /// Before.
        "until" => until: Optional<Timestamp>,
    }
}

/// Who did what, when, from which IP; newest first.
#[utoipa::path(get, path = "/admin/audit-log", tag = "admin", security(("bearer" = [])), params(AuditQuery),
    responses((status = 200, body = Envelope<Vec<AuditView>>), (status = 400, body = ErrorEnvelope), (status = 401, body = ErrorEnvelope), (status = 403, body = ErrorEnvelope)))]
async fn audit_log(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Query(q): Query<AuditQuery>,
) -> ApiResult<Reply<Vec<AuditView>>> {
    let page = page(q.page, q.limit, 20);
    let filter = AuditFilter {
        action: q.action.get().map(|s| s.0),
        actor_id: q.actor_id.get(),
        target_type: q.target_type.get().map(|s| s.0),
        target_id: q.target_id.get().map(|s| s.0),
        since: q.since.get(),
        until: q.until.get(),
    };
    let (entries, total) = state.services.admin.audit_log(&principal, &filter, page).await?;
    Ok(Reply::list(
        entries.iter().map(AuditView::from).collect(),
        ListMeta::new(page, total),
        "Audit log fetched successfully",
    ))
}
