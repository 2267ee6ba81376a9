//! Registration, sign-in, sessions and a user's own account.

use std::sync::Arc;

use emporium_domain::account::{Email, FullName, LoginName, Password, Phone, Role, Username};
use emporium_domain::address::ShippingAddress;
use emporium_domain::ids::UserId;
use emporium_domain::time::Timestamp;
use emporium_domain::{Error, Result};
use emporium_store::{
    NewAuditEntry, NewSession, NewUser, ProfileChanges, RefreshOutcome, RemovalOutcome, Store, StoreError, UserRecord,
};
use serde_json::json;

use crate::passwords::PasswordHasher;
use crate::sign_in::{AccountKey, SignInGuard, SignInPolicy};
use crate::tokens::{AuthSettings, Claims, TokenIssuer, hash_token, random_token};
use crate::{Principal, RequestContext};

/// The one message for every failed sign-in, so the response never tells
/// whether the account exists.
pub const INVALID_CREDENTIALS: &str = "Invalid credentials";

/// Why a sign-in failed, for the API documents that tell it (see
/// [`Accounts::login_reporting`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignInFailure {
    UnknownAccount,
    WrongPassword,
}

/// A registration, parsed.
#[derive(Debug)]
pub struct Registration {
    pub full_name: FullName,
    pub username: Username,
    pub email: Email,
    pub password: Password,
}

/// A profile update, parsed; `None` leaves a field as it is.
#[derive(Debug, Default)]
pub struct ProfileUpdate {
    pub full_name: Option<FullName>,
    pub username: Option<Username>,
    pub email: Option<Email>,
    pub phone: Option<Option<Phone>>,
    pub shipping_address: Option<Option<ShippingAddress>>,
}

/// Tokens handed out at sign-in and refresh.
#[derive(Debug, Clone)]
pub struct IssuedTokens {
    pub access_token: String,
    pub refresh_token: String,
    pub access_expires_in: u64,
    pub refresh_expires_in: u64,
}

/// The one answer to `forgot-password`, whether or not the account exists.
pub const RESET_REQUESTED: &str = "If an account with this email exists, a password reset link has been sent to it";

/// Which shape a reset mail's link takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResetLinkStyle {
    /// `reset-password?token=`.
    Native,
    /// Django's `reset-password/confirm/?uidb64=&token=`.
    Django,
}

impl ResetLinkStyle {
    fn link_for(self, user: UserId) -> emporium_domain::mail::ResetLink {
        match self {
            ResetLinkStyle::Native => emporium_domain::mail::ResetLink::Native,
            ResetLinkStyle::Django => emporium_domain::mail::ResetLink::Django { uidb64: uidb64(user) },
        }
    }
}

/// An account id as Django's `urlsafe_base64_encode(force_bytes(pk))` writes it.
pub fn uidb64(user: UserId) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(user.get().to_string())
}

/// The account id a `uidb64` names, if it names one.
pub fn user_from_uidb64(raw: &str) -> Option<UserId> {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(raw.trim_end_matches('=')).ok()?;
    std::str::from_utf8(&bytes).ok()?.parse().ok()
}

/// At most this many reset mails go to one address per hour, counted in the
/// database so the budget holds across servers.
pub const RESET_MAILS_PER_HOUR: u32 = 3;

#[derive(Clone)]
pub struct Accounts {
    store: Arc<dyn Store>,
    tokens: TokenIssuer,
    hasher: PasswordHasher,
    sign_in: SignInGuard,
    reset_token_ttl: std::time::Duration,
    mail_queued: Arc<tokio::sync::Notify>,
}

impl Accounts {
    /// Sign-in is guarded by the default [`SignInPolicy`], counted in this
    /// process; [`Accounts::with_sign_in`] sets another. `mail_queued` is
    /// woken after every commit that queued a mail.
    pub fn new(store: Arc<dyn Store>, auth: AuthSettings, mail_queued: Arc<tokio::sync::Notify>) -> Self {
        let sign_in = SignInGuard::new(store.clone(), SignInPolicy::default(), emporium_limits::Limits::in_process());
        Self {
            store,
            tokens: TokenIssuer::new(&auth),
            hasher: PasswordHasher::default(),
            sign_in,
            reset_token_ttl: auth.reset_token_ttl,
            mail_queued,
        }
    }

    /// Guards sign-in with `policy`, counted in `limits`.
    pub fn with_sign_in(mut self, policy: SignInPolicy, limits: emporium_limits::Limits) -> Self {
        self.sign_in = SignInGuard::new(self.store.clone(), policy, limits);
        self
    }

    pub fn tokens(&self) -> &TokenIssuer {
        &self.tokens
    }

    /// Creates a `user` account. There is no way to register as an admin.
    pub async fn register(&self, reg: Registration, ctx: &RequestContext) -> Result<UserRecord> {
        self.ensure_unique(Some(&reg.email), Some(&reg.username), None).await?;
        self.insert_account(reg, Role::User, "self", ctx).await
    }

    /// Writes a new account whose e-mail and username were checked free:
    /// the password hashed, the audit entry (`user.registered`, or
    /// `user.admin_created` for an admin, `by` saying who), and the welcome
    /// mail for a customer.
    async fn insert_account(
        &self,
        reg: Registration,
        role: Role,
        by: &str,
        ctx: &RequestContext,
    ) -> Result<UserRecord> {
        let password_hash = self.hasher.hash(reg.password.expose()).await?;
        let action = if role == Role::Admin { "user.admin_created" } else { "user.registered" };
        let user = self
            .store
            .insert_user(
                &NewUser {
                    username: reg.username.as_str().to_string(),
                    username_key: reg.username.key(),
                    full_name: reg.full_name.as_str().to_string(),
                    email: reg.email.as_str().to_string(),
                    email_key: reg.email.key(),
                    password_hash,
                    role,
                    now: Timestamp::now(),
                    welcome: role == Role::User,
                },
                &ctx.audit(None, action, Some(("user", String::new())), json!({ "by": by })),
            )
            .await
            .map_err(|e| conflict_on_unique(e, "An account with this email or username already exists"))?;
        self.mail_queued.notify_one();
        Ok(user)
    }

    /// A username no account has yet, for an API document that asks for
    /// none: the e-mail's local part (`omar1@email.com` → `omar1`), then
    /// `omar1-2`, … and, past 50, a random suffix. Another sign-up may take
    /// it first; the insert's unique key then answers 409.
    async fn free_username(&self, email: &Email, short_prefix: &str) -> Result<Username> {
        let base: String = username_from(email, short_prefix).chars().take(24).collect();
        let mut candidate = base.clone();
        for n in 2..=50 {
            if self.store.user_by_username_key(&candidate.to_lowercase()).await?.is_none() {
                break;
            }
            candidate = format!("{base}-{n}");
        }
        if self.store.user_by_username_key(&candidate.to_lowercase()).await?.is_some() {
            candidate = format!("{base}-{}", random_token(6).to_lowercase().replace(['-', '_'], "0"));
        }
        Username::parse(&candidate).map_err(|e| Error::field("email", e))
    }

    /// Creates a `user` account for an API document that asks for no
    /// username (promarket, flask-orders), named as [`Self::free_username`]
    /// says. Every other rule of [`Self::register`] holds.
    pub async fn register_with_derived_username(
        &self,
        full_name: FullName,
        email: Email,
        password: Password,
        ctx: &RequestContext,
    ) -> Result<UserRecord> {
        let username = self.free_username(&email, "user").await?;
        self.register(Registration { full_name, username, email, password }, ctx).await
    }

    /// Starts a password reset for whoever owns `email`, in the background:
    /// the caller answers at once and the same way whether or not the
    /// account exists, so neither the reply nor its timing tells.
    pub fn forgot_password(&self, email: Email, ctx: RequestContext) {
        self.forgot_password_linked(email, ResetLinkStyle::Native, ctx)
    }

    /// [`Accounts::forgot_password`], with the mail's link in the shape a
    /// dialect's clients expect (the `microservices` dialect's Django-style
    /// `uidb64` and `token`).
    pub fn forgot_password_linked(&self, email: Email, style: ResetLinkStyle, ctx: RequestContext) {
        let accounts = self.clone();
        tokio::spawn(async move {
            if let Err(error) = accounts.queue_password_reset(&email, style, &ctx).await {
                tracing::warn!(%error, "password reset request failed");
            }
        });
    }

    async fn queue_password_reset(&self, email: &Email, style: ResetLinkStyle, ctx: &RequestContext) -> Result<()> {
        let Some(user) = self.store.user_by_email_key(&email.key()).await? else {
            return Ok(());
        };
        let token = crate::tokens::reset_token();
        let token_hash = hash_token(&token);
        let now = Timestamp::now();
        let valid_minutes = self.reset_token_ttl.as_secs().div_ceil(60).max(1) as u32;
        let request = emporium_store::ResetRequest {
            user_id: user.id,
            mail: emporium_store::mail::password_reset_mail_linked(
                &user,
                &token,
                &token_hash[..16],
                valid_minutes,
                style.link_for(user.id),
            ),
            token_hash,
            expires_at: now.plus_secs(self.reset_token_ttl.as_secs() as i64),
            max_mails: RESET_MAILS_PER_HOUR,
            budget_since: now.minus_secs(3600),
            now,
            audit: ctx.audit(None, "user.password_reset_requested", Some(("user", user.id.to_string())), json!({})),
        };
        match self.store.request_password_reset(&request).await? {
            emporium_store::ResetRequestOutcome::Queued => self.mail_queued.notify_one(),
            emporium_store::ResetRequestOutcome::OverBudget => {
                tracing::info!(user_id = %user.id, "password reset mail budget spent for this hour; nothing sent");
                let entry = ctx.audit(
                    None,
                    "user.password_reset_throttled",
                    Some(("user", user.id.to_string())),
                    json!({ "perHour": RESET_MAILS_PER_HOUR }),
                );
                self.store.append_audit(&entry).await?;
            }
        }
        Ok(())
    }

    /// Sets a new password with a reset token, signing out every session.
    /// Any token that is not live (unknown, used, expired, malformed) gets
    /// the same 400, and changes nothing.
    pub async fn reset_password(&self, token: &str, new: Password, ctx: &RequestContext) -> Result<()> {
        let invalid = || Error::field("token", "is invalid or has expired");
        if !crate::tokens::is_reset_token_shaped(token) {
            return Err(invalid());
        }
        let password_hash = self.hasher.hash(new.expose()).await?;
        let reset = emporium_store::PasswordReset {
            token_hash: hash_token(token),
            password_hash,
            now: Timestamp::now(),
            audit: vec![
                ctx.audit(None, "user.password_reset", Some(("user", String::new())), json!({ "by": "token" })),
                ctx.audit(
                    None,
                    "user.sessions_revoked",
                    Some(("user", String::new())),
                    json!({ "reason": "password_reset" }),
                ),
            ],
        };
        self.store.reset_password(&reset).await?.ok_or_else(invalid)?;
        self.mail_queued.notify_one();
        Ok(())
    }

    /// Signs in by e-mail or username. Unknown account and wrong password
    /// fail identically, in body and in time. The sign-in policy may refuse
    /// the attempt before the password is checked (see [`crate::sign_in`]).
    pub async fn login(
        &self,
        login: &LoginName,
        password: &str,
        ctx: &RequestContext,
    ) -> Result<(UserRecord, IssuedTokens)> {
        self.login_reporting(login, password, false, ctx)
            .await?
            .map_err(|_| Error::Unauthenticated(INVALID_CREDENTIALS.into()))
    }

    /// Signs in like [`Accounts::login`], but says why a sign-in failed, for
    /// an API document that tells the two apart (geekmobile). Both failures
    /// take the same time: an unknown account is checked against a dummy
    /// hash, and both are counted by the sign-in policy. With
    /// `require_admin`, an account that is not an admin is refused as
    /// unknown (such a document keeps admins apart from users).
    pub async fn login_reporting(
        &self,
        login: &LoginName,
        password: &str,
        require_admin: bool,
        ctx: &RequestContext,
    ) -> Result<std::result::Result<(UserRecord, IssuedTokens), SignInFailure>> {
        let user = match login {
            LoginName::Email(key) => self.store.user_by_email_key(key).await?,
            LoginName::Username(key) => self.store.user_by_username_key(key).await?,
        };
        let user = user.filter(|u| !require_admin || u.role == Role::Admin);
        let account = match &user {
            Some(user) => AccountKey::user(user.id),
            None => AccountKey::name(login.key()),
        };
        self.sign_in.admit(&account, ctx).await?;
        let verified = self.hasher.verify(password, user.as_ref().map(|u| u.password_hash.as_str())).await?;
        let user = match user {
            Some(user) if verified => user,
            other => {
                let failure =
                    if other.is_some() { SignInFailure::WrongPassword } else { SignInFailure::UnknownAccount };
                let target = other.as_ref().map(|u| ("user", u.id.to_string()));
                let entry = ctx.audit(None, "user.login_failed", target, json!({ "login": login.key() }));
                self.store.append_audit(&entry).await?;
                let user_id = other.as_ref().map(|u| u.id.to_string());
                self.sign_in.failed(&account, user_id, login.key(), ctx).await;
                return Ok(Err(failure));
            }
        };
        self.sign_in.succeeded(&account, ctx).await;
        let entry = ctx.audit(Some(user.id), "user.login", Some(("user", user.id.to_string())), json!({}));
        let tokens = self.start_session(&user, &entry).await?;
        Ok(Ok((user, tokens)))
    }

    /// Creates an account from a name, e-mail and password alone, for API
    /// documents that have no username (named as [`Self::free_username`]
    /// says). `role` is `Admin` only for a caller the
    /// dialect has already authorized (geekmobile's static admin secret);
    /// `by` says who, in the audit log. Signs the new account in.
    pub async fn register_without_username(
        &self,
        full_name: FullName,
        email: Email,
        password: Password,
        role: Role,
        by: &str,
        ctx: &RequestContext,
    ) -> Result<(UserRecord, IssuedTokens)> {
        self.ensure_unique(Some(&email), None, None).await?;
        let short_prefix = if role == Role::Admin { "admin" } else { "user" };
        let username = self.free_username(&email, short_prefix).await?;
        let user = self.insert_account(Registration { full_name, username, email, password }, role, by, ctx).await?;
        let entry = ctx.audit(Some(user.id), "user.login", Some(("user", user.id.to_string())), json!({}));
        let tokens = self.start_session(&user, &entry).await?;
        Ok((user, tokens))
    }

    /// A fresh access token for the caller's live session (the session, and
    /// so its revocation, stays the same).
    pub async fn reissue_access(&self, principal: &Principal) -> Result<String> {
        self.tokens.issue_access(principal.user_id, principal.role, &principal.session_id, Timestamp::now())
    }

    async fn start_session(&self, user: &UserRecord, audit: &NewAuditEntry) -> Result<IssuedTokens> {
        let now = Timestamp::now();
        let session_id = random_token(24);
        let refresh_token = random_token(48);
        self.store
            .create_session(
                &NewSession {
                    id: session_id.clone(),
                    user_id: user.id,
                    refresh_token_hash: hash_token(&refresh_token),
                    created_at: now,
                    expires_at: now.plus_secs(self.tokens.refresh_ttl_secs() as i64),
                },
                audit,
            )
            .await?;
        let access_token = self.tokens.issue_access(user.id, user.role, &session_id, now)?;
        Ok(self.issued(access_token, refresh_token))
    }

    fn issued(&self, access_token: String, refresh_token: String) -> IssuedTokens {
        IssuedTokens {
            access_token,
            refresh_token,
            access_expires_in: self.tokens.access_ttl_secs(),
            refresh_expires_in: self.tokens.refresh_ttl_secs(),
        }
    }

    /// Spends a refresh token for a new pair. Presenting a spent token
    /// revokes its whole session: someone else may hold the live one.
    pub async fn refresh(&self, refresh_token: &str, ctx: &RequestContext) -> Result<IssuedTokens> {
        let invalid = || Error::Unauthenticated("Invalid or expired refresh token".into());
        if refresh_token.is_empty() || refresh_token.len() > 512 {
            return Err(invalid());
        }
        let now = Timestamp::now();
        let successor = random_token(48);
        let expires_at = now.plus_secs(self.tokens.refresh_ttl_secs() as i64);
        match self
            .store
            .rotate_refresh_token(&hash_token(refresh_token), &hash_token(&successor), now, expires_at)
            .await?
        {
            RefreshOutcome::Rotated { user_id, session_id } => {
                let principal = self.store.session_principal(&session_id, now).await?.ok_or_else(invalid)?;
                let access = self.tokens.issue_access(user_id, principal.role, &session_id, now)?;
                Ok(self.issued(access, successor))
            }
            RefreshOutcome::Reused { user_id, session_id } => {
                tracing::warn!(%user_id, "spent refresh token re-used; session revoked");
                let entry = ctx.audit(
                    None,
                    "session.refresh_token_reused",
                    Some(("user", user_id.to_string())),
                    json!({ "session": session_id }),
                );
                self.store.append_audit(&entry).await?;
                Err(invalid())
            }
            RefreshOutcome::Invalid => Err(invalid()),
        }
    }

    /// Checks an access token and that its session is still live; the role
    /// returned is the one stored now, not the one in the token.
    pub async fn authenticate(&self, access_token: &str) -> Result<Principal> {
        let claims = self.tokens.decode_access(access_token)?;
        self.principal_for(&claims).await
    }

    async fn principal_for(&self, claims: &Claims) -> Result<Principal> {
        let unauthenticated = || Error::Unauthenticated("Invalid or expired token".into());
        let user_id = claims.user_id().ok_or_else(unauthenticated)?;
        let live = self.store.session_principal(&claims.sid, Timestamp::now()).await?.ok_or_else(unauthenticated)?;
        if live.user_id != user_id {
            return Err(unauthenticated());
        }
        Ok(Principal { user_id, role: live.role, session_id: claims.sid.clone() })
    }

    /// The claims of a live access token.
    pub async fn verify_token(&self, access_token: &str) -> Result<Claims> {
        let claims = self.tokens.decode_access(access_token)?;
        self.principal_for(&claims).await?;
        Ok(claims)
    }

    pub async fn logout(&self, principal: &Principal, ctx: &RequestContext) -> Result<()> {
        let entry =
            ctx.audit(Some(principal.user_id), "user.logout", Some(("user", principal.user_id.to_string())), json!({}));
        self.store.revoke_session(&principal.session_id, Timestamp::now(), &entry).await?;
        Ok(())
    }

    pub async fn current_user(&self, principal: &Principal) -> Result<UserRecord> {
        self.store.user_by_id(principal.user_id).await?.ok_or_else(|| Error::NotFound("User not found".into()))
    }

    pub async fn update_profile(&self, principal: &Principal, update: ProfileUpdate) -> Result<UserRecord> {
        self.ensure_unique(update.email.as_ref(), update.username.as_ref(), Some(principal.user_id)).await?;
        let changes = ProfileChanges {
            full_name: update.full_name.map(|n| n.as_str().to_string()),
            username: update.username.map(|u| (u.as_str().to_string(), u.key())),
            email: update.email.map(|e| (e.as_str().to_string(), e.key())),
            phone: update.phone.map(|p| p.map(|p| p.as_str().to_string())),
            shipping_address: update.shipping_address,
        };
        if changes.is_empty() {
            return self.current_user(principal).await;
        }
        self.store
            .update_profile(principal.user_id, &changes, Timestamp::now())
            .await
            .map_err(|e| conflict_on_unique(e, "An account with this email or username already exists"))?
            .ok_or_else(|| Error::NotFound("User not found".into()))
    }

    /// Changes the password and signs out every other session.
    pub async fn change_password(
        &self,
        principal: &Principal,
        current: &str,
        new: Password,
        ctx: &RequestContext,
    ) -> Result<()> {
        let user = self.current_user(principal).await?;
        if !self.hasher.verify(current, Some(&user.password_hash)).await? {
            return Err(Error::Unauthenticated("Current password is incorrect".into()));
        }
        let hash = self.hasher.hash(new.expose()).await?;
        let entry = ctx.audit(Some(user.id), "user.password_changed", Some(("user", user.id.to_string())), json!({}));
        self.store.set_password(user.id, &hash, Some(&principal.session_id), Timestamp::now(), &entry, true).await?;
        self.mail_queued.notify_one();
        Ok(())
    }

    /// Deletes the caller's own account after checking its password.
    pub async fn delete_account(&self, principal: &Principal, password: &str, ctx: &RequestContext) -> Result<()> {
        let user = self.current_user(principal).await?;
        if !self.hasher.verify(password, Some(&user.password_hash)).await? {
            return Err(Error::Unauthenticated("Password is incorrect".into()));
        }
        self.remove_own(&user, ctx).await
    }

    /// Deletes the caller's own account on the strength of their live
    /// session alone, for an API document that asks for no password (the
    /// flask-orders dialect's `DELETE /users/<id>`). The account's orders
    /// stay, anonymised, as with [`Self::delete_account`].
    pub async fn delete_signed_in_account(&self, principal: &Principal, ctx: &RequestContext) -> Result<()> {
        let user = self.current_user(principal).await?;
        self.remove_own(&user, ctx).await
    }

    async fn remove_own(&self, user: &UserRecord, ctx: &RequestContext) -> Result<()> {
        let entry =
            ctx.audit(Some(user.id), "user.deleted", Some(("user", user.id.to_string())), json!({ "by": "self" }));
        match self.store.delete_user(user.id, &entry).await? {
            RemovalOutcome::Removed => Ok(()),
            RemovalOutcome::NotFound => Err(Error::NotFound("User not found".into())),
            RemovalOutcome::WouldRemoveLastAdmin => {
                Err(Error::Conflict("The last admin account cannot be deleted".into()))
            }
        }
    }

    /// Makes sure an admin with this e-mail exists: creates it, or promotes
    /// and re-passwords the existing account. Used by the CLI and at start.
    pub async fn ensure_admin(
        &self,
        email: Email,
        password: Password,
        username: Option<Username>,
    ) -> Result<UserRecord> {
        let hash = self.hasher.hash(password.expose()).await?;
        let now = Timestamp::now();
        let ctx = RequestContext::default();
        if let Some(user) = self.store.user_by_email_key(&email.key()).await? {
            let entry =
                ctx.audit(None, "user.password_changed", Some(("user", user.id.to_string())), json!({ "by": "cli" }));
            // Not announced: `serve` runs this at every start with EMPORIUM_ADMIN_*.
            self.store.set_password(user.id, &hash, None, now, &entry, false).await?;
            if user.role != Role::Admin {
                let entry = ctx.audit(
                    None,
                    "user.role_changed",
                    Some(("user", user.id.to_string())),
                    json!({ "from": user.role, "to": "admin", "by": "cli" }),
                );
                self.store.change_role(user.id, Role::Admin, now, &entry).await?;
            }
            return self.store.user_by_id(user.id).await?.ok_or_else(|| Error::NotFound("User not found".into()));
        }
        let username = match username {
            Some(u) => u,
            None => Username::parse(&username_from(&email, "admin")).map_err(|e| Error::field("username", e))?,
        };
        self.ensure_unique(None, Some(&username), None).await?;
        let user = self
            .store
            .insert_user(
                &NewUser {
                    username: username.as_str().to_string(),
                    username_key: username.key(),
                    full_name: "Administrator".into(),
                    email: email.as_str().to_string(),
                    email_key: email.key(),
                    password_hash: hash,
                    role: Role::Admin,
                    now,
                    welcome: false,
                },
                &ctx.audit(None, "user.admin_created", Some(("user", String::new())), json!({ "by": "cli" })),
            )
            .await
            .map_err(|e| conflict_on_unique(e, "An account with this username already exists"))?;
        Ok(user)
    }

    /// Names the taken field in a 409 where it can; a race past this check
    /// still ends in the store's unique index and a generic 409.
    async fn ensure_unique(
        &self,
        email: Option<&Email>,
        username: Option<&Username>,
        except: Option<UserId>,
    ) -> Result<()> {
        if let Some(email) = email
            && let Some(existing) = self.store.user_by_email_key(&email.key()).await?
            && Some(existing.id) != except
        {
            return Err(Error::Conflict("An account with this email already exists".into()));
        }
        if let Some(username) = username
            && let Some(existing) = self.store.user_by_username_key(&username.key()).await?
            && Some(existing.id) != except
        {
            return Err(Error::Conflict("This username is already taken".into()));
        }
        Ok(())
    }
}

fn conflict_on_unique(err: StoreError, message: &str) -> Error {
    match err {
        StoreError::UniqueViolation => Error::Conflict(message.into()),
        other => other.into(),
    }
}

/// `Jane.Doe+shop@example.com` → `jane.doeshop`: a username for an admin
/// created from the command line without one.
/// The e-mail's local part as a username, `short_prefix` put before one
/// shorter than three characters.
fn username_from(email: &Email, short_prefix: &str) -> String {
    let local = email.as_str().split('@').next().unwrap_or(short_prefix);
    let cleaned: String =
        local.chars().filter(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')).take(30).collect();
    let cleaned = cleaned.trim_start_matches(|c: char| !c.is_ascii_alphanumeric()).to_string();
    if cleaned.len() >= 3 { cleaned } else { format!("{short_prefix}{cleaned}") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uidb64_is_djangos_encoding_of_the_id_and_reads_back() {
        // Django: urlsafe_base64_encode(force_bytes(1)) == "MQ", (12) == "MTI".
        assert_eq!(uidb64(UserId::new(1)), "MQ");
        assert_eq!(uidb64(UserId::new(12)), "MTI");
        assert_eq!(user_from_uidb64("MTI"), Some(UserId::new(12)));
        assert_eq!(user_from_uidb64("MTI="), Some(UserId::new(12)));
        for bad in ["", "!!", "YWJj", "MA", "LTE"] {
            assert_eq!(user_from_uidb64(bad), None, "{bad}");
        }
    }
}
