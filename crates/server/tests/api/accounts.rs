//! Registration, sign-in, tokens and the caller's own account.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::{PASSWORD, TestApp};

crate::on_both_backends!(
    register_returns_the_user_without_secrets,
    register_names_every_bad_field,
    password_policy_is_enforced_rule_by_rule,
    duplicate_email_or_username_is_a_conflict,
    nobody_registers_as_admin,
    login_by_email_or_username,
    wrong_password_and_unknown_user_look_the_same,
    current_user_needs_a_valid_token,
    access_token_works_from_the_cookie,
    tampered_forged_and_expired_tokens_are_refused,
    refresh_rotates_the_refresh_token,
    spent_refresh_token_revokes_family,
    refresh_token_from_cookie,
    logout_ends_the_session,
    change_password_revokes_other_sessions,
    profile_update_changes_only_what_is_sent,
    profile_update_cannot_change_role,
    delete_account_needs_the_password,
    verify_token_returns_claims,
);

const REGISTER: &str = "/api/v1/users/register";
const LOGIN: &str = "/api/v1/users/login";
const ME: &str = "/api/v1/users/current-user";
const REFRESH: &str = "/api/v1/users/refresh-token";

fn registration(name: &str) -> Value {
    json!({ "fullName": "John Doe", "username": name, "email": format!("{name}@example.com"), "password": PASSWORD })
}

async fn register_returns_the_user_without_secrets(app: &TestApp) {
    let reply = app
        .post(
            REGISTER,
            None,
            json!({ "fullName": "John Doe", "username": "john", "email": "John@Example.com", "password": PASSWORD }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED);
    assert_eq!(reply.body["statusCode"], 201);
    assert_eq!(reply.body["success"], true);
    assert_eq!(reply.body["message"], "User created successfully");
    let user = &reply.body["data"];
    assert!(user["_id"].is_string());
    assert_eq!(user["email"], "John@Example.com", "e-mail is kept as typed");
    assert_eq!(user["role"], "user");
    assert_eq!(user["__v"], 0);
    assert!(user["createdAt"].as_str().unwrap().ends_with('Z'));
    let text = reply.body.to_string();
    assert!(!text.contains("password") && !text.contains("argon2"), "{text}");
}

async fn register_names_every_bad_field(app: &TestApp) {
    let reply =
        app.post(REGISTER, None, json!({ "username": 12, "email": "not-an-email", "password": PASSWORD })).await;
    reply.assert_error(StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    let mut fields = reply.error_fields();
    fields.sort();
    assert_eq!(fields, ["email", "fullName", "username"]);

    for (body, field) in [
        (json!({ "fullName": "", "username": "john", "email": "j@example.com", "password": PASSWORD }), "fullName"),
        (json!({ "fullName": "J", "username": "jo", "email": "j@example.com", "password": PASSWORD }), "username"),
        (
            json!({ "fullName": "J", "username": "john doe", "email": "j@example.com", "password": PASSWORD }),
            "username",
        ),
        (json!({ "fullName": "J", "username": "john", "email": "j@example", "password": PASSWORD }), "email"),
        (json!({ "fullName": "J", "username": "john", "email": "j@example.com", "password": null }), "password"),
        (json!({ "fullName": "J", "username": "john", "email": "j@example.com", "password": ["x"] }), "password"),
    ] {
        let reply = app.post(REGISTER, None, body.clone()).await;
        reply.assert_error(StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
        assert_eq!(reply.error_fields(), [field], "{body}");
    }
    // Nothing was created by any of them.
    app.post(REGISTER, None, registration("john")).await;
}

async fn password_policy_is_enforced_rule_by_rule(app: &TestApp) {
    for weak in [
        "Sh0rt!",
        "alllowercase1!",
        "ALLUPPERCASE1!",
        "NoDigitsHere!",
        "NoSpecial123",
        &format!("Aa1!{}", "x".repeat(130)),
    ] {
        let mut body = registration("weakling");
        body["password"] = json!(weak);
        let reply = app.post(REGISTER, None, body).await;
        reply.assert_error(StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
        assert_eq!(reply.error_fields(), ["password"], "{weak}");
    }
}

async fn duplicate_email_or_username_is_a_conflict(app: &TestApp) {
    app.register("john").await;
    let mut same_email = registration("johnny");
    same_email["email"] = json!("JOHN@example.COM");
    app.post(REGISTER, None, same_email).await.assert_error(StatusCode::CONFLICT, "CONFLICT");
    let mut same_username = registration("JOHN");
    same_username["email"] = json!("other@example.com");
    app.post(REGISTER, None, same_username).await.assert_error(StatusCode::CONFLICT, "CONFLICT");
}

async fn nobody_registers_as_admin(app: &TestApp) {
    let mut body = registration("sneaky");
    body["role"] = json!("admin");
    let reply = app.post(REGISTER, None, body).await;
    reply.assert_error(StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    assert_eq!(reply.error_fields(), ["role"]);
    // The account was not created either.
    let reply = app.post(LOGIN, None, json!({ "email": "sneaky@example.com", "password": PASSWORD })).await;
    reply.assert_error(StatusCode::UNAUTHORIZED, "AUTHENTICATION_ERROR");
}

async fn login_by_email_or_username(app: &TestApp) {
    app.register("john").await;
    let by_email = app.post(LOGIN, None, json!({ "email": "JOHN@example.com", "password": PASSWORD })).await;
    assert_eq!(by_email.status, StatusCode::OK, "{}", by_email.body);
    assert_eq!(by_email.body["message"], "User logged in successfully");
    assert_eq!(by_email.body["data"]["user"]["username"], "john");
    assert!(by_email.body["data"]["accessToken"].as_str().unwrap().split('.').count() == 3);
    assert!(by_email.body["data"]["refreshToken"].as_str().unwrap().len() >= 32);
    let cookies: Vec<&str> = by_email.headers.get_all("set-cookie").iter().map(|v| v.to_str().unwrap()).collect();
    assert!(
        cookies.iter().any(|c| c.starts_with("accessToken=") && c.contains("HttpOnly") && c.contains("SameSite=Lax")),
        "{cookies:?}"
    );
    assert!(cookies.iter().any(|c| c.starts_with("refreshToken=") && c.contains("HttpOnly")), "{cookies:?}");

    let by_username = app.post(LOGIN, None, json!({ "username": "John", "password": PASSWORD })).await;
    assert_eq!(by_username.status, StatusCode::OK, "{}", by_username.body);

    let missing = app.post(LOGIN, None, json!({ "password": PASSWORD })).await;
    missing.assert_error(StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
}

async fn wrong_password_and_unknown_user_look_the_same(app: &TestApp) {
    app.register("john").await;
    let wrong = app.post(LOGIN, None, json!({ "email": "john@example.com", "password": "WrongPass123!" })).await;
    let unknown = app.post(LOGIN, None, json!({ "email": "nobody@example.com", "password": PASSWORD })).await;
    wrong.assert_error(StatusCode::UNAUTHORIZED, "AUTHENTICATION_ERROR");
    assert_eq!(wrong.status, unknown.status);
    assert_eq!(wrong.body, unknown.body);
}

async fn current_user_needs_a_valid_token(app: &TestApp) {
    app.get(ME, None).await.assert_error(StatusCode::UNAUTHORIZED, "AUTHENTICATION_ERROR");
    app.get(ME, Some("garbage")).await.assert_error(StatusCode::UNAUTHORIZED, "AUTHENTICATION_ERROR");
    let token = app.user_token("john").await;
    let me = app.get(ME, Some(&token)).await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(me.body["message"], "User fetched successfully");
    assert_eq!(me.body["data"]["username"], "john");
}

async fn access_token_works_from_the_cookie(app: &TestApp) {
    let token = app.user_token("john").await;
    let response =
        app.client.get(app.url(ME)).header("cookie", format!("theme=dark; accessToken={token}")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

fn jwt_parts(token: &str) -> (Value, Value, String) {
    let parts: Vec<&str> = token.split('.').collect();
    let decode = |p: &str| serde_json::from_slice::<Value>(&URL_SAFE_NO_PAD.decode(p).unwrap()).unwrap();
    (decode(parts[0]), decode(parts[1]), parts[2].to_string())
}

fn encode_part(v: &Value) -> String {
    URL_SAFE_NO_PAD.encode(v.to_string())
}

async fn tampered_forged_and_expired_tokens_are_refused(app: &TestApp) {
    let token = app.user_token("john").await;
    let (header, claims, signature) = jwt_parts(&token);

    let mut promoted = claims.clone();
    promoted["role"] = json!("admin");
    let changed_payload = format!("{}.{}.{}", encode_part(&header), encode_part(&promoted), signature);
    let unsigned = format!("{}.{}.", encode_part(&json!({ "alg": "none", "typ": "JWT" })), encode_part(&promoted));
    let wrong_secret = jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(b"not-the-server-secret-0123456789abcdef"),
    )
    .unwrap();
    let mut expired_claims = claims.clone();
    expired_claims["exp"] = json!(claims["iat"].as_i64().unwrap() - 60);
    let expired = jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &expired_claims,
        &jsonwebtoken::EncodingKey::from_secret(b"test-secret-test-secret-test-secret-0123"),
    )
    .unwrap();

    for (what, bad) in [
        ("changed payload", changed_payload),
        ("alg none", unsigned),
        ("wrong secret", wrong_secret),
        ("expired", expired),
    ] {
        let reply = app.get(ME, Some(&bad)).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{what}: {}", reply.body);
        reply.assert_error(StatusCode::UNAUTHORIZED, "AUTHENTICATION_ERROR");
    }
    assert_eq!(app.get(ME, Some(&token)).await.status, StatusCode::OK, "the genuine token still works");
}

async fn refresh_rotates_the_refresh_token(app: &TestApp) {
    app.register("john").await;
    let (_, refresh) = app.login("john").await;
    let reply = app.post(REFRESH, None, json!({ "refreshToken": refresh })).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let data = &reply.body["data"];
    assert_eq!(data["token"], data["accessToken"]);
    let new_refresh = data["refreshToken"].as_str().unwrap();
    assert_ne!(new_refresh, refresh);
    assert_eq!(app.get(ME, data["accessToken"].as_str()).await.status, StatusCode::OK);
    let again = app.post(REFRESH, None, json!({ "refreshToken": new_refresh })).await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.body);

    app.post(REFRESH, None, json!({ "refreshToken": "made-up" }))
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "AUTHENTICATION_ERROR");
    app.post(REFRESH, None, json!({})).await.assert_error(StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
}

async fn spent_refresh_token_revokes_family(app: &TestApp) {
    app.register("john").await;
    let (access, first) = app.login("john").await;
    let rotated = app.post(REFRESH, None, json!({ "refreshToken": first })).await;
    let second = rotated.body["data"]["refreshToken"].as_str().unwrap().to_string();
    let second_access = rotated.body["data"]["accessToken"].as_str().unwrap().to_string();

    // Someone replays the spent token: refused, and the whole family dies.
    app.post(REFRESH, None, json!({ "refreshToken": first }))
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "AUTHENTICATION_ERROR");
    app.post(REFRESH, None, json!({ "refreshToken": second }))
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "AUTHENTICATION_ERROR");
    app.get(ME, Some(&access)).await.assert_error(StatusCode::UNAUTHORIZED, "AUTHENTICATION_ERROR");
    app.get(ME, Some(&second_access)).await.assert_error(StatusCode::UNAUTHORIZED, "AUTHENTICATION_ERROR");

    // Other sessions of the same user are untouched.
    let (other, _) = app.login("john").await;
    assert_eq!(app.get(ME, Some(&other)).await.status, StatusCode::OK);
}

async fn refresh_token_from_cookie(app: &TestApp) {
    app.register("john").await;
    let (_, refresh) = app.login("john").await;
    let response =
        app.client.post(app.url(REFRESH)).header("cookie", format!("refreshToken={refresh}")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

async fn logout_ends_the_session(app: &TestApp) {
    app.register("john").await;
    let (access, refresh) = app.login("john").await;
    let reply = app.post("/api/v1/users/logout", Some(&access), json!({})).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["message"], "Logout successful");
    app.get(ME, Some(&access)).await.assert_error(StatusCode::UNAUTHORIZED, "AUTHENTICATION_ERROR");
    app.post(REFRESH, None, json!({ "refreshToken": refresh }))
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "AUTHENTICATION_ERROR");
    app.post("/api/v1/users/logout", None, json!({}))
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "AUTHENTICATION_ERROR");
}

async fn change_password_revokes_other_sessions(app: &TestApp) {
    app.register("john").await;
    let (here, _) = app.login("john").await;
    let (elsewhere, elsewhere_refresh) = app.login("john").await;
    let path = "/api/v1/users/change-password";

    let wrong = app
        .put(path, Some(&here), json!({ "currentPassword": "WrongPass123!", "newPassword": "NewSecurePass456!" }))
        .await;
    wrong.assert_error(StatusCode::UNAUTHORIZED, "AUTHENTICATION_ERROR");
    let weak = app.put(path, Some(&here), json!({ "currentPassword": PASSWORD, "newPassword": "weak" })).await;
    weak.assert_error(StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    assert_eq!(weak.error_fields(), ["newPassword"]);

    let ok =
        app.put(path, Some(&here), json!({ "currentPassword": PASSWORD, "newPassword": "NewSecurePass456!" })).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    assert_eq!(ok.body["message"], "Password changed successfully");
    assert_eq!(app.get(ME, Some(&here)).await.status, StatusCode::OK, "this session goes on");
    app.get(ME, Some(&elsewhere)).await.assert_error(StatusCode::UNAUTHORIZED, "AUTHENTICATION_ERROR");
    app.post(REFRESH, None, json!({ "refreshToken": elsewhere_refresh }))
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "AUTHENTICATION_ERROR");
    app.post(LOGIN, None, json!({ "email": "john@example.com", "password": PASSWORD }))
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "AUTHENTICATION_ERROR");
    let new = app.post(LOGIN, None, json!({ "email": "john@example.com", "password": "NewSecurePass456!" })).await;
    assert_eq!(new.status, StatusCode::OK);
}

async fn profile_update_changes_only_what_is_sent(app: &TestApp) {
    let token = app.user_token("john").await;
    app.register("jane").await;
    let address = json!({ "firstName": "John", "lastName": "Doe", "address1": "1 Main St", "city": "Springfield", "postcode": "12345", "country": "US", "phone": "+1 555 123 4567" });
    let reply = app
        .patch(
            ME,
            Some(&token),
            json!({ "fullName": "Johnny Doe", "phone": "+1 555 000 1111", "shippingAddress": address }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let user = &reply.body["data"];
    assert_eq!(user["fullName"], "Johnny Doe");
    assert_eq!(user["username"], "john");
    assert_eq!(user["shippingAddress"]["city"], "Springfield");
    assert_eq!(user["__v"], 1);

    let cleared = app.patch(ME, Some(&token), json!({ "phone": null })).await;
    assert_eq!(cleared.body["data"]["phone"], Value::Null);
    assert_eq!(cleared.body["data"]["fullName"], "Johnny Doe");

    app.patch(ME, Some(&token), json!({ "username": "JANE" })).await.assert_error(StatusCode::CONFLICT, "CONFLICT");
    app.patch(ME, Some(&token), json!({ "email": "jane@example.com" }))
        .await
        .assert_error(StatusCode::CONFLICT, "CONFLICT");
    let bad = app.patch(ME, Some(&token), json!({ "email": "nope", "shippingAddress": { "city": "" } })).await;
    bad.assert_error(StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    let fields = bad.error_fields();
    assert!(
        fields.contains(&"email".to_string())
            && fields.contains(&"shippingAddress.city".to_string())
            && fields.contains(&"shippingAddress.postcode".to_string()),
        "{fields:?}"
    );
    assert_eq!(
        app.get(ME, Some(&token)).await.body["data"]["email"],
        "john@example.com",
        "a refused update changes nothing"
    );
}

async fn profile_update_cannot_change_role(app: &TestApp) {
    let token = app.user_token("john").await;
    let reply = app.patch(ME, Some(&token), json!({ "role": "admin", "fullName": "Sneaky" })).await;
    reply.assert_error(StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    assert_eq!(reply.error_fields(), ["role"]);
    let me = app.get(ME, Some(&token)).await;
    assert_eq!(me.body["data"]["role"], "user");
    assert_eq!(me.body["data"]["fullName"], "john Tester");
    app.get("/api/v1/admin/users", Some(&token)).await.assert_error(StatusCode::FORBIDDEN, "AUTHORIZATION_ERROR");
}

async fn delete_account_needs_the_password(app: &TestApp) {
    let token = app.user_token("john").await;
    app.delete(ME, Some(&token), Some(json!({ "password": "WrongPass123!" })))
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "AUTHENTICATION_ERROR");
    app.delete(ME, Some(&token), Some(json!({}))).await.assert_error(StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    let ok = app.delete(ME, Some(&token), Some(json!({ "password": PASSWORD }))).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    app.get(ME, Some(&token)).await.assert_error(StatusCode::UNAUTHORIZED, "AUTHENTICATION_ERROR");
    app.post(LOGIN, None, json!({ "email": "john@example.com", "password": PASSWORD }))
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "AUTHENTICATION_ERROR");
    // The e-mail is free again.
    app.register("john").await;
}

async fn verify_token_returns_claims(app: &TestApp) {
    let token = app.user_token("john").await;
    let reply = app.post("/api/v1/users/verify-token", None, json!({ "token": token })).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["data"]["role"], "user");
    assert!(reply.body["data"]["exp"].as_i64().unwrap() > reply.body["data"]["iat"].as_i64().unwrap());
    app.post("/api/v1/users/verify-token", None, json!({ "token": "x.y.z" }))
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "AUTHENTICATION_ERROR");
    app.post("/api/v1/users/verify-token", None, json!({}))
        .await
        .assert_error(StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
}
