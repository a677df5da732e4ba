//! Login, logout and "who am I"; the audit log for auditors; user management
//! for admins.

use crate::error::{ApiError, ErrorBody};
use crate::security::{session_cookie, Remote, SESSION_COOKIE};
use crate::AppState;
use auth::{LoginError, Role, User};
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::{json, Value};
use store::NewAuditEntry;

/// `POST /api/auth/login` body.
#[derive(Deserialize, utoipa::ToSchema)]
pub(crate) struct LoginBody {
    #[schema(example = "ann")]
    name: String,
    #[schema(example = "correct horse battery staple")]
    password: String,
}

fn json_error(e: JsonRejection, example: &str) -> ApiError {
    ApiError::bad_request(
        format!("invalid JSON body: {}", e.body_text()),
        format!("send Content-Type: application/json with a body like {example}"),
    )
}

fn user_json(s: &AppState, u: &User) -> Value {
    json!({
        "name": u.name,
        "role": u.role,
        "groups": u.groups,
        "owners": u.owners,
        "via": u.via,
        "biometric": s.biometric_allowed()
            && matches!(u.role, Role::Investigator | Role::Supervisor),
    })
}

/// Checks a password and starts a session (an HttpOnly, SameSite=Strict
/// cookie). Repeated failures lock the name and the address for a while.
#[utoipa::path(
    post,
    path = "/api/auth/login",
    tag = "auth",
    request_body = LoginBody,
    responses(
        (status = 200, description = "Logged in; the session cookie is set", body = crate::docs::Me,
         headers(("set-cookie" = String, description = "kuzet_session=…; HttpOnly; SameSite=Strict"))),
        (status = 400, description = "The body is not the expected JSON", body = ErrorBody),
        (status = 401, description = "Wrong user name or password", body = ErrorBody),
        (status = 429, description = "Too many failures: locked for a while (see Retry-After)", body = ErrorBody),
    )
)]
pub(crate) async fn login(
    State(s): State<AppState>,
    Extension(remote): Extension<Remote>,
    body: Result<Json<LoginBody>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(b) = body.map_err(|e| json_error(e, r#"{"name":"ann","password":"…"}"#))?;
    let auth = s.auth().clone();
    let name = b.name.clone();
    let r = tokio::task::spawn_blocking(move || auth.login(&b.name, &b.password, remote.0))
        .await
        .map_err(|e| ApiError::internal("logging in", e))?;
    let (outcome, details) = match &r {
        Ok(_) => ("ok", json!({})),
        Err(LoginError::BadCredentials) => ("failed", json!({})),
        Err(LoginError::LockedOut { retry_after }) => {
            ("locked", json!({ "retry_after_s": retry_after.as_secs() }))
        }
        Err(LoginError::Auth(e)) => ("error", json!({ "error": e.to_string() })),
    };
    s.audit(NewAuditEntry {
        actor: Some(name.clone()),
        remote: remote.text(),
        action: "auth.login".into(),
        target: Some(name),
        outcome: outcome.into(),
        details,
        ..Default::default()
    })
    .await?;
    match r {
        Ok((user, sid)) => {
            let max_age = s.auth().session_policy().absolute.as_secs();
            let secure = if s.secure_cookies() { "; Secure" } else { "" };
            let cookie = format!(
                "{SESSION_COOKIE}={sid}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}"
            );
            let mut resp = Json(user_json(&s, &user)).into_response();
            if let Ok(v) = HeaderValue::from_str(&cookie) {
                resp.headers_mut().insert(header::SET_COOKIE, v);
            }
            Ok(resp)
        }
        Err(LoginError::BadCredentials) => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "wrong user name or password",
        )
        .with_hint("an administrator can reset it with `kuzet user passwd NAME`")),
        Err(LoginError::LockedOut { retry_after }) => {
            let secs = retry_after.as_secs().max(1);
            let mut resp = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                format!("too many failed logins; try again in {secs} s"),
            )
            .with_hint("the lock doubles with every further failure, up to 15 minutes")
            .into_response();
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
            Ok(resp)
        }
        Err(LoginError::Auth(e)) => Err(ApiError::internal("logging in", e)),
    }
}

/// Ends the session of the cookie (tokens are revoked with `kuzet token revoke`).
#[utoipa::path(
    post,
    path = "/api/auth/logout",
    tag = "auth",
    responses(
        (status = 200, description = "Logged out; the cookie is cleared", body = Object),
        (status = 401, description = "Not logged in", body = ErrorBody),
    )
)]
pub(crate) async fn logout(
    State(s): State<AppState>,
    Extension(user): Extension<User>,
    Extension(remote): Extension<Remote>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let ended = match session_cookie(&headers) {
        Some(sid) => {
            let auth = s.auth().clone();
            tokio::task::spawn_blocking(move || auth.logout(&sid))
                .await
                .map_err(|e| ApiError::internal("logging out", e))?
                .map_err(|e| ApiError::internal("logging out", e))?
        }
        None => false,
    };
    s.audit(NewAuditEntry {
        actor: Some(user.actor()),
        remote: remote.text(),
        action: "auth.logout".into(),
        outcome: "ok".into(),
        ..Default::default()
    })
    .await?;
    let mut resp = Json(json!({ "logged_out": ended })).into_response();
    resp.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static("kuzet_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"),
    );
    Ok(resp)
}

/// The caller: name, role, camera groups, and whether face functions are
/// available to them.
#[utoipa::path(
    get,
    path = "/api/auth/me",
    tag = "auth",
    responses(
        (status = 200, description = "The logged-in user", body = crate::docs::Me),
        (status = 401, description = "Not logged in", body = ErrorBody),
    )
)]
pub(crate) async fn me(State(s): State<AppState>, Extension(user): Extension<User>) -> Json<Value> {
    Json(user_json(&s, &user))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct AuditParams {
    /// Only entries with a smaller `seq`: the previous page's `next_before_seq`.
    before_seq: Option<i64>,
    /// Page size, 1 to 1000; default 100.
    limit: Option<usize>,
}

/// The audit log, newest first, with each entry's chain hashes.
#[utoipa::path(
    get,
    path = "/api/audit",
    tag = "audit",
    params(AuditParams),
    responses(
        (status = 200, description = "A page of entries and the chain head", body = crate::docs::AuditPage),
        (status = 400, description = "A parameter is malformed", body = ErrorBody),
        (status = 401, description = "Not logged in", body = ErrorBody),
        (status = 403, description = "Only the auditor role reads the audit log", body = ErrorBody),
    )
)]
pub(crate) async fn audit_log(
    State(s): State<AppState>,
    params: Result<Query<AuditParams>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(p) = params.map_err(|e| {
        ApiError::bad_request(
            format!("invalid query string: {}", e.body_text()),
            "accepted parameters: before_seq, limit (1..1000)",
        )
    })?;
    let limit = p
        .limit
        .unwrap_or(100)
        .clamp(1, store::audit::MAX_AUDIT_LIMIT);
    let (entries, head) = s
        .with_store("reading the audit log", move |st| {
            Ok::<_, store::StoreError>((st.audit_entries(p.before_seq, limit)?, st.audit_head()?))
        })
        .await?;
    let next = if entries.len() >= limit {
        entries.last().map(|e| e.seq)
    } else {
        None
    };
    Ok(Json(json!({
        "entries": entries,
        "next_before_seq": next,
        "head": head,
    })))
}

/// Every user (never their password hashes).
#[utoipa::path(
    get,
    path = "/api/users",
    tag = "users",
    responses(
        (status = 200, description = "Users by name", body = Vec<crate::docs::UserInfo>),
        (status = 401, description = "Not logged in", body = ErrorBody),
        (status = 403, description = "Only admins manage users", body = ErrorBody),
    )
)]
pub(crate) async fn users(State(s): State<AppState>) -> Result<Json<Value>, ApiError> {
    let list = s.with_store("listing users", |st| st.users()).await?;
    Ok(Json(json!(list)))
}

/// `POST /api/users` body.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewUserBody {
    #[schema(example = "ann")]
    name: String,
    /// viewer, operator, investigator, supervisor, auditor or admin.
    #[schema(example = "viewer")]
    role: String,
    /// Camera groups the user may see; empty or absent = every camera.
    #[serde(default)]
    groups: Vec<String>,
    /// Camera owners (`[[owner]]` ids) whose cameras the user may see, e.g.
    /// a shopping centre's own staff; empty or absent = any owner's.
    #[serde(default)]
    owners: Vec<String>,
    /// At least 8 characters.
    password: String,
}

/// Adds a user.
#[utoipa::path(
    post,
    path = "/api/users",
    tag = "users",
    request_body = NewUserBody,
    responses(
        (status = 200, description = "The new user", body = crate::docs::UserInfo),
        (status = 400, description = "Bad name, role, groups or password, or the name is taken", body = ErrorBody),
        (status = 401, description = "Not logged in", body = ErrorBody),
        (status = 403, description = "Only admins manage users", body = ErrorBody),
    )
)]
pub(crate) async fn add_user(
    State(s): State<AppState>,
    Extension(user): Extension<User>,
    Extension(remote): Extension<Remote>,
    body: Result<Json<NewUserBody>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let Json(b) = body.map_err(|e| {
        json_error(
            e,
            r#"{"name":"ann","role":"viewer","groups":["north"],"password":"…"}"#,
        )
    })?;
    let (name, groups, owners, role_name) = (
        b.name.clone(),
        b.groups.clone(),
        b.owners.clone(),
        b.role.clone(),
    );
    // A bad role is a failed attempt like any other: audited below.
    let r = match b.role.parse::<Role>() {
        Ok(role) => {
            let auth = s.auth().clone();
            tokio::task::spawn_blocking(move || {
                auth.add_user_scoped(&b.name, role, &b.groups, &b.owners, &b.password)
            })
            .await
            .map_err(|e| ApiError::internal("adding a user", e))?
        }
        Err(e) => Err(e),
    };
    s.audit(NewAuditEntry {
        actor: Some(user.actor()),
        remote: remote.text(),
        action: "user.add".into(),
        target: Some(name),
        outcome: if r.is_ok() { "ok" } else { "failed" }.into(),
        details: json!({ "role": role_name, "groups": groups, "owners": owners }),
        ..Default::default()
    })
    .await?;
    match r {
        Ok(u) => Ok(Json(json!(u))),
        Err(auth::AuthError::Store(e)) if !matches!(e, store::StoreError::Invalid(_)) => {
            Err(ApiError::internal("adding a user", e))
        }
        Err(e) => Err(ApiError::bad_request(
            e.to_string(),
            "fix the field named above",
        )),
    }
}

/// Removes a user with their sessions and tokens.
#[utoipa::path(
    delete,
    path = "/api/users/{name}",
    tag = "users",
    params(("name" = String, Path, description = "User name")),
    responses(
        (status = 200, description = "Removed", body = Object),
        (status = 400, description = "Admins cannot remove themselves", body = ErrorBody),
        (status = 401, description = "Not logged in", body = ErrorBody),
        (status = 403, description = "Only admins manage users", body = ErrorBody),
        (status = 404, description = "No such user", body = ErrorBody),
    )
)]
pub(crate) async fn remove_user(
    State(s): State<AppState>,
    Extension(user): Extension<User>,
    Extension(remote): Extension<Remote>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    if name == user.name {
        return Err(ApiError::bad_request(
            "you cannot remove yourself",
            "another admin can, or use `kuzet user rm` on the server",
        ));
    }
    let n = name.clone();
    let removed = s
        .with_store("removing a user", move |st| st.remove_user(&n))
        .await?;
    s.audit(NewAuditEntry {
        actor: Some(user.actor()),
        remote: remote.text(),
        action: "user.remove".into(),
        target: Some(name.clone()),
        outcome: if removed { "ok" } else { "not_found" }.into(),
        ..Default::default()
    })
    .await?;
    if removed {
        Ok(Json(json!({ "removed": name })))
    } else {
        Err(ApiError::not_found(format!("no user named {name:?}")))
    }
}
