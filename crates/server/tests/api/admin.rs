//! Admin routes: users, roles, deletion, the last-admin rule, the audit log.

use reqwest::StatusCode;
use serde_json::json;

use crate::harness::{Backend, PASSWORD, TestApp};

crate::on_both_backends!(
    admin_routes_refuse_users_and_strangers,
    admin_lists_users_with_search_role_and_pages,
    admin_changes_roles,
    last_admin_cannot_be_demoted_or_deleted,
    admin_deletes_a_user_and_their_sessions,
    audit_log_records_who_did_what,
);

async fn admin_routes_refuse_users_and_strangers(app: &TestApp) {
    let user = app.user_token("john").await;
    let id = app.get("/api/v1/users/current-user", Some(&user)).await.body["data"]["_id"].as_str().unwrap().to_string();
    for (method, path, body) in [
        (reqwest::Method::GET, "/api/v1/admin/users".to_string(), None),
        (reqwest::Method::PUT, format!("/api/v1/admin/users/{id}"), Some(json!({ "role": "admin" }))),
        (reqwest::Method::DELETE, format!("/api/v1/admin/users/{id}"), None),
        (reqwest::Method::GET, "/api/v1/admin/audit-log".to_string(), None),
    ] {
        app.call(method.clone(), &path, None, body.clone())
            .await
            .assert_error(StatusCode::UNAUTHORIZED, "AUTHENTICATION_ERROR");
        app.call(method, &path, Some(&user), body).await.assert_error(StatusCode::FORBIDDEN, "AUTHORIZATION_ERROR");
    }
    assert_eq!(
        app.get("/api/v1/users/current-user", Some(&user)).await.body["data"]["role"],
        "user",
        "self-promotion failed"
    );
}

async fn admin_lists_users_with_search_role_and_pages(app: &TestApp) {
    let admin = app.admin_token("boss").await;
    for name in ["alice", "bob", "carol", "dave"] {
        app.register(name).await;
    }
    let all = app.get("/api/v1/admin/users?limit=2", Some(&admin)).await;
    assert_eq!(all.status, StatusCode::OK, "{}", all.body);
    assert_eq!(all.body["message"], "Users fetched successfully");
    assert_eq!(all.body["meta"], json!({ "page": 1, "limit": 2, "total": 5, "totalPages": 3 }));
    assert_eq!(all.body["data"].as_array().unwrap().len(), 2);

    let last = app.get("/api/v1/admin/users?limit=2&page=3", Some(&admin)).await;
    assert_eq!(last.body["data"].as_array().unwrap().len(), 1);
    let past = app.get("/api/v1/admin/users?limit=2&page=9", Some(&admin)).await;
    assert_eq!(past.status, StatusCode::OK);
    assert_eq!(past.body["data"], json!([]));

    let search = app.get("/api/v1/admin/users?search=CAR", Some(&admin)).await;
    assert_eq!(search.body["meta"]["total"], 1);
    assert_eq!(search.body["data"][0]["username"], "carol");
    let literal = app.get("/api/v1/admin/users?search=%25", Some(&admin)).await;
    assert_eq!(literal.body["meta"]["total"], 0, "% is matched literally");

    let admins = app.get("/api/v1/admin/users?role=admin", Some(&admin)).await;
    assert_eq!(admins.body["meta"]["total"], 1);
    assert_eq!(admins.body["data"][0]["username"], "boss");

    for bad in ["role=owner", "limit=0", "limit=101", "page=0", "page=-1", "page=abc", "sort=name"] {
        let reply = app.get(&format!("/api/v1/admin/users?{bad}"), Some(&admin)).await;
        reply.assert_error(StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    }
}

async fn admin_changes_roles(app: &TestApp) {
    let admin = app.admin_token("boss").await;
    let john = app.register("john").await;
    let id = john["_id"].as_str().unwrap();
    let path = format!("/api/v1/admin/users/{id}");

    let reply = app.put(&path, Some(&admin), json!({ "role": "admin" })).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["message"], "User role updated successfully");
    assert_eq!(reply.body["data"]["role"], "admin");
    assert_eq!(reply.body["data"]["userId"], id);
    assert_eq!(reply.body["data"]["name"], "john Tester");

    // The new role applies at once, to tokens issued before the change too.
    let (john_token, _) = app.login("john").await;
    assert_eq!(app.get("/api/v1/admin/users", Some(&john_token)).await.status, StatusCode::OK);
    app.put(&path, Some(&admin), json!({ "role": "user" })).await;
    app.get("/api/v1/admin/users", Some(&john_token)).await.assert_error(StatusCode::FORBIDDEN, "AUTHORIZATION_ERROR");

    let bad = app.put(&path, Some(&admin), json!({ "role": "superuser" })).await;
    bad.assert_error(StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    assert_eq!(bad.error_fields(), ["role"]);
    app.put(&path, Some(&admin), json!({})).await.assert_error(StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    app.put("/api/v1/admin/users/999999", Some(&admin), json!({ "role": "admin" }))
        .await
        .assert_error(StatusCode::NOT_FOUND, "NOT_FOUND");
    app.put("/api/v1/admin/users/not-an-id", Some(&admin), json!({ "role": "admin" }))
        .await
        .assert_error(StatusCode::NOT_FOUND, "NOT_FOUND");
}

async fn last_admin_cannot_be_demoted_or_deleted(app: &TestApp) {
    let admin = app.admin_token("boss").await;
    let me =
        app.get("/api/v1/users/current-user", Some(&admin)).await.body["data"]["_id"].as_str().unwrap().to_string();
    let path = format!("/api/v1/admin/users/{me}");
    app.put(&path, Some(&admin), json!({ "role": "user" })).await.assert_error(StatusCode::CONFLICT, "CONFLICT");
    app.delete(&path, Some(&admin), None).await.assert_error(StatusCode::CONFLICT, "CONFLICT");
    app.delete("/api/v1/users/current-user", Some(&admin), Some(json!({ "password": PASSWORD })))
        .await
        .assert_error(StatusCode::CONFLICT, "CONFLICT");
    assert_eq!(app.get("/api/v1/users/current-user", Some(&admin)).await.body["data"]["role"], "admin");

    // With a second admin, the first may step down.
    let second = app.register("deputy").await;
    app.put(
        &format!("/api/v1/admin/users/{}", second["_id"].as_str().unwrap()),
        Some(&admin),
        json!({ "role": "admin" }),
    )
    .await;
    let reply = app.put(&path, Some(&admin), json!({ "role": "user" })).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let deputy = app.login("deputy").await.0;
    let deputy_id = second["_id"].as_str().unwrap();
    app.delete(&format!("/api/v1/admin/users/{deputy_id}"), Some(&deputy), None)
        .await
        .assert_error(StatusCode::CONFLICT, "CONFLICT");
}

async fn admin_deletes_a_user_and_their_sessions(app: &TestApp) {
    let admin = app.admin_token("boss").await;
    let john = app.register("john").await;
    let (john_token, john_refresh) = app.login("john").await;
    let path = format!("/api/v1/admin/users/{}", john["_id"].as_str().unwrap());
    let reply = app.delete(&path, Some(&admin), None).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["message"], "User deleted successfully");
    app.get("/api/v1/users/current-user", Some(&john_token))
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "AUTHENTICATION_ERROR");
    app.post("/api/v1/users/refresh-token", None, json!({ "refreshToken": john_refresh }))
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "AUTHENTICATION_ERROR");
    app.delete(&path, Some(&admin), None).await.assert_error(StatusCode::NOT_FOUND, "NOT_FOUND");
}

async fn audit_log_records_who_did_what(app: &TestApp) {
    let admin = app.admin_token("boss").await;
    let john = app.register("john").await;
    let john_id = john["_id"].as_str().unwrap().to_string();
    app.post("/api/v1/users/login", None, json!({ "email": "john@example.com", "password": "WrongPass123!" })).await;
    app.login("john").await;
    app.put(&format!("/api/v1/admin/users/{john_id}"), Some(&admin), json!({ "role": "admin" })).await;
    app.put(&format!("/api/v1/admin/users/{john_id}"), Some(&admin), json!({ "role": "user" })).await;
    app.delete(&format!("/api/v1/admin/users/{john_id}"), Some(&admin), None).await;

    let (second_session, _) = app.login("boss").await;
    app.post("/api/v1/users/logout", Some(&second_session), json!({})).await;
    app.put(
        "/api/v1/users/change-password",
        Some(&admin),
        json!({ "currentPassword": PASSWORD, "newPassword": "NewSecurePass456!" }),
    )
    .await;

    let log = app.get("/api/v1/admin/audit-log?limit=100", Some(&admin)).await;
    assert_eq!(log.status, StatusCode::OK, "{}", log.body);
    let entries = log.body["data"].as_array().unwrap();
    let actions: Vec<&str> = entries.iter().map(|e| e["action"].as_str().unwrap()).collect();
    for expected in [
        "user.registered",
        "user.login",
        "user.login_failed",
        "user.logout",
        "user.password_changed",
        "user.role_changed",
        "user.deleted",
    ] {
        assert!(actions.contains(&expected), "{expected} missing from {actions:?}");
    }
    let failed = entries.iter().find(|e| e["action"] == "user.login_failed").unwrap();
    assert_eq!(failed["ip"], "127.0.0.1");
    assert_eq!(failed["targetId"], john_id.as_str());
    assert!(!failed.to_string().contains("WrongPass"), "no passwords in the log");
    let deleted = entries.iter().find(|e| e["action"] == "user.deleted").unwrap();
    assert!(deleted["actorId"].is_string());
    assert_eq!(deleted["targetId"], john_id.as_str());
    assert!(deleted["at"].as_str().unwrap().ends_with('Z'));

    let only_roles =
        app.get(&format!("/api/v1/admin/audit-log?action=user.role_changed&targetId={john_id}"), Some(&admin)).await;
    assert_eq!(only_roles.body["meta"]["total"], 2);
    let by_target = app
        .get(&format!("/api/v1/admin/audit-log?targetType=user&targetId={john_id}&since=2000-01-01"), Some(&admin))
        .await;
    assert!(by_target.body["meta"]["total"].as_u64().unwrap() >= 4);
    app.get("/api/v1/admin/audit-log?since=yesterday", Some(&admin))
        .await
        .assert_error(StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
}

/// `EMPORIUM_ADMIN_EMAIL`/`_PASSWORD` make sure the admin exists at start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configured_admin_exists_at_start_sqlite() {
    configured_admin_exists_at_start(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configured_admin_exists_at_start_postgres() {
    if crate::harness::postgres_available() {
        configured_admin_exists_at_start(Backend::Postgres).await;
    }
}

async fn configured_admin_exists_at_start(backend: Backend) {
    let app = TestApp::spawn(backend, |config| {
        config.admin = Some((
            emporium_domain::account::Email::parse("owner@shop.example").unwrap(),
            emporium_domain::account::Password::parse(PASSWORD).unwrap(),
        ));
    })
    .await;
    let login =
        app.post("/api/v1/users/login", None, json!({ "email": "owner@shop.example", "password": PASSWORD })).await;
    assert_eq!(login.status, StatusCode::OK, "{}", login.body);
    assert_eq!(login.body["data"]["user"]["role"], "admin");
    app.stop().await;
}
