//! Authentication and authorisation in front of every route, camera-group
//! scoping, and the audit trail of refusals.
//!
//! One middleware (on every matched route) reads the route's rule from the
//! policy table, authenticates the caller (session cookie or bearer token),
//! refuses with a JSON 401/403 — audited — or puts the [`User`] into the
//! request's extensions, where handlers take it with `Extension<User>`.

use crate::error::ApiError;
use crate::policy::policy;
use crate::AppState;
use auth::User;
use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use store::NewAuditEntry;

/// Name of the session cookie.
pub const SESSION_COOKIE: &str = "kuzet_session";

/// The caller's network address, for handlers that audit.
#[derive(Clone, Copy, Debug, Default)]
pub struct Remote(pub Option<IpAddr>);

impl Remote {
    pub fn text(&self) -> Option<String> {
        self.0.map(|a| a.to_string())
    }
}

/// Which camera groups each configured camera belongs to.
pub type CameraGroups = HashMap<String, Vec<String>>;

/// Who may see one configured camera: its groups, its owner, and the roles
/// its owner's data-sharing agreement shares it with.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CameraScope {
    pub groups: Vec<String>,
    /// `[[owner]]` id; `None` = the organisation's own camera.
    pub owner: Option<String>,
    /// `[owner.agreement] viewer_roles`; `None` = every role.
    pub viewer_roles: Option<Vec<String>>,
}

impl CameraScope {
    fn role_excluded(&self, user: &User) -> bool {
        self.viewer_roles
            .as_ref()
            .is_some_and(|r| !r.iter().any(|x| x == user.role.as_str()))
    }

    fn admits(&self, user: &User) -> bool {
        user.may_see(&self.groups, self.owner.as_deref()) && !self.role_excluded(user)
    }
}

/// Camera id -> its scope.
pub type CameraScopes = HashMap<String, CameraScope>;

/// The credential a request carries, if any.
pub(crate) enum Credential {
    Bearer(String),
    Session(String),
}

pub(crate) fn credential(headers: &HeaderMap) -> Option<Credential> {
    if let Some(v) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        let v = v.trim();
        if let Some(t) = v
            .strip_prefix("Bearer ")
            .or_else(|| v.strip_prefix("bearer "))
        {
            return Some(Credential::Bearer(t.trim().to_owned()));
        }
    }
    session_cookie(headers).map(Credential::Session)
}

/// The session id from the `Cookie` header(s).
pub(crate) fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == SESSION_COOKIE)
        .map(|(_, v)| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

fn remote_of(req: &Request) -> Remote {
    Remote(
        req.extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip()),
    )
}

/// Repeat views of one evidence file by one user within this window are one
/// `evidence.view` entry: the web app fetches the same thumbnails on every
/// refresh, and one entry per viewer, file and ten minutes records who looked
/// at what without flooding the log.
pub(crate) const EVIDENCE_VIEW_WINDOW_MS: i64 = 10 * 60 * 1000;

/// Above this many remembered views, expired ones are dropped.
const EVIDENCE_VIEWS_KEPT: usize = 50_000;

impl AppState {
    /// Audits that `user` was shown evidence `hash` (`evidence.view`), once
    /// per [`EVIDENCE_VIEW_WINDOW_MS`] per user and file (time from the
    /// store's clock). The caller serves nothing when this fails.
    pub(crate) async fn audit_evidence_view(
        &self,
        user: &User,
        remote: &Remote,
        hash: &str,
    ) -> Result<(), ApiError> {
        let actor = user.actor();
        let key = (actor.clone(), hash.to_string());
        let now = self.inner.store.clock().now().0;
        {
            let mut seen = self
                .inner
                .evidence_views
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            if seen
                .get(&key)
                .is_some_and(|t| now - t < EVIDENCE_VIEW_WINDOW_MS)
            {
                return Ok(());
            }
            if seen.len() >= EVIDENCE_VIEWS_KEPT {
                seen.retain(|_, t| now - *t < EVIDENCE_VIEW_WINDOW_MS);
            }
            seen.insert(key.clone(), now);
        }
        let res = self
            .audit(NewAuditEntry {
                actor: Some(actor),
                remote: remote.text(),
                action: "evidence.view".into(),
                target: Some(format!("evidence {hash}")),
                reason: None,
                outcome: "ok".into(),
                details: serde_json::json!({
                    "repeat_views_coalesced_for_s": EVIDENCE_VIEW_WINDOW_MS / 1000
                }),
            })
            .await;
        if res.is_err() {
            // Not recorded, so the next view must try again.
            self.inner
                .evidence_views
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&key);
        }
        res
    }

    /// Appends to the audit log on the blocking pool. Handlers that must not
    /// act without a record (face searches) use the error; refusals only log it.
    pub(crate) async fn audit(&self, e: NewAuditEntry) -> Result<(), ApiError> {
        let action = e.action.clone();
        self.with_store("writing the audit log", move |st| st.append_audit(e))
            .await
            .map(|_| ())
            .inspect_err(|_| tracing::error!(action, "audit entry could not be written"))
    }

    /// Authenticates a credential (blocking: SQLite, on the blocking pool).
    pub(crate) async fn authenticate(&self, c: Credential) -> Result<Option<User>, ApiError> {
        let auth = self.auth().clone();
        match tokio::task::spawn_blocking(move || match c {
            Credential::Bearer(t) => auth.token(&t),
            Credential::Session(s) => auth.session(&s),
        })
        .await
        {
            Ok(Ok(u)) => Ok(u),
            Ok(Err(e)) => Err(ApiError::internal("checking credentials", e)),
            Err(e) => Err(ApiError::internal("checking credentials", e)),
        }
    }

    /// Cameras a user may see: `None` = every camera (no group or owner
    /// scope, and no agreement that leaves the user's role out). Otherwise
    /// only configured cameras that every scope admits.
    pub(crate) fn visible_cameras(&self, user: &User) -> Option<Vec<String>> {
        let scopes = self.inner.camera_scopes.get();
        // An owner may have narrowed `viewer_roles` while the server runs
        // (recorded in the store, `store::agreements`): that binds at once.
        let store = &self.inner.store;
        let excluded_now = |id: &str| {
            store
                .agreement_viewer_roles(id)
                .is_some_and(|r| !r.iter().any(|x| x == user.role.as_str()))
        };
        let role_limited = scopes.is_some_and(|m| {
            m.iter()
                .any(|(id, c)| c.role_excluded(user) || excluded_now(id))
        });
        if user.unscoped() && !role_limited {
            return None;
        }
        Some(
            scopes
                .map(|m| {
                    let mut v: Vec<String> = m
                        .iter()
                        .filter(|(id, c)| c.admits(user) && !excluded_now(id))
                        .map(|(id, _)| id.clone())
                        .collect();
                    v.sort();
                    v
                })
                .unwrap_or_default(),
        )
    }

    /// Whether `user` may see `camera`.
    pub(crate) fn may_see_camera(&self, user: &User, camera: &str) -> bool {
        match self.visible_cameras(user) {
            None => true,
            Some(v) => v.iter().any(|c| c == camera),
        }
    }

    /// Whether biometric functions may run at all here.
    pub(crate) fn biometric_allowed(&self) -> bool {
        self.law_enforcement() && self.inner.faces.get().is_some()
    }
}

fn is_registered(method: &axum::http::Method, path: &str) -> bool {
    static ROUTES: std::sync::OnceLock<Vec<(&'static str, &'static str)>> =
        std::sync::OnceLock::new();
    ROUTES
        .get_or_init(crate::registered_routes)
        .iter()
        .any(|(m, p)| *m == method.as_str() && *p == path)
}

/// The authorisation middleware (see the module docs).
pub(crate) async fn authorize(State(s): State<AppState>, mut req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let path = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned())
        .unwrap_or_else(|| req.uri().path().to_owned());
    let remote = remote_of(&req);
    let target = format!("{method} {path}");
    let Some(rule) = policy().get(&method, &path) else {
        if !is_registered(&method, &path) {
            // A known path with a method it does not serve: the router answers 405.
            return next.run(req).await;
        }
        tracing::error!(%target, "route has no policy row; refused");
        return ApiError::new(
            StatusCode::FORBIDDEN,
            format!("{target} has no access rule"),
        )
        .with_hint("this is a server bug: every route needs a row in the route policy")
        .into_response();
    };
    req.extensions_mut().insert(remote);
    if rule.public {
        return next.run(req).await;
    }
    let user = match credential(req.headers()) {
        None => None,
        Some(c) => match s.authenticate(c).await {
            Ok(u) => u,
            Err(e) => return e.into_response(),
        },
    };
    let refuse = |status: StatusCode, actor: Option<String>, why: String, hint: &str| {
        let s = s.clone();
        let entry = NewAuditEntry {
            actor,
            remote: remote.text(),
            action: if status == StatusCode::UNAUTHORIZED {
                "http.unauthenticated".into()
            } else {
                "http.forbidden".into()
            },
            target: Some(target.clone()),
            reason: None,
            outcome: "denied".into(),
            details: serde_json::json!({ "why": why }),
        };
        let hint = hint.to_owned();
        async move {
            let _ = s.audit(entry).await;
            ApiError::new(status, why).with_hint(hint).into_response()
        }
    };
    let Some(user) = user else {
        return refuse(
            StatusCode::UNAUTHORIZED,
            None,
            "not logged in (no valid session or token)".into(),
            "log in with POST /api/auth/login (the web app does this at /), or send \
             `Authorization: Bearer TOKEN` with a token from `kuzet token create`",
        )
        .await;
    };
    if !rule.allows(user.role) {
        let allowed: Vec<&str> = rule.roles.iter().map(|r| r.as_str()).collect();
        return refuse(
            StatusCode::FORBIDDEN,
            Some(user.actor()),
            format!("role {} may not use {target}", user.role),
            &format!("allowed roles: {}", allowed.join(", ")),
        )
        .await;
    }
    if rule.biometric && !s.biometric_allowed() {
        return refuse(
            StatusCode::FORBIDDEN,
            Some(user.actor()),
            "face functions are disabled on this server".into(),
            "they can be enabled only for a law-enforcement organisation: \
             `[organisation] law_enforcement = true` and `[faces] enabled = true` in the config",
        )
        .await;
    }
    req.extensions_mut().insert(user);
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn credentials_from_headers() {
        let mut h = HeaderMap::new();
        h.append(
            header::COOKIE,
            HeaderValue::from_static("a=1; kuzet_session=abc ; b=2"),
        );
        assert!(matches!(credential(&h), Some(Credential::Session(s)) if s == "abc"));
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer kzt_x"),
        );
        assert!(matches!(credential(&h), Some(Credential::Bearer(t)) if t == "kzt_x"));
        let mut h = HeaderMap::new();
        h.append(header::COOKIE, HeaderValue::from_static("kuzet_session="));
        assert!(credential(&h).is_none());
    }
}
