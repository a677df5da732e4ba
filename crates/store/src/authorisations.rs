//! Legal authorisations for biometric identification (migration 0008).
//!
//! Live face matching on a camera and every retrospective face search need
//! an authorisation: the legal ground, who issued it (authority and decision
//! reference), its scope (cameras, watchlists, a time window) and its expiry.
//! The rules live here, next to the rows, so the server, the CLI and the live
//! matcher all judge an authorisation the same way:
//!
//! - A normal authorisation is requested, then approved by a *different*
//!   user; it has no effect before the approval.
//! - An **urgent** one takes effect at once, and stops taking effect when no
//!   approval is recorded within [`URGENT_LIVE_HOURS`] (live) or
//!   [`URGENT_RETROSPECTIVE_HOURS`] (retrospective only) — that is computed
//!   from the clock, so no background job has to run for it to stop.
//!   [`Store::lapse_overdue_authorisations`] then records the lapse and
//!   purges what it produced (face-match events and their evidence, lost-child
//!   entries made under it), with an audit entry in the same transaction.
//! - Missing-person lists are kept apart from the others: an authorisation
//!   has one [`ListClass`], and a list of the other class never matches under
//!   it, whatever its name.

use crate::audit::{insert_audit, NewAuditEntry};
use crate::faces::WatchlistCategory;
use crate::sightings::evidence_in_use;
use crate::{evidence, Store, StoreError};
use base::event::kinds;
use base::Timestamp;
use rusqlite::{params, Connection, OptionalExtension, Row};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Hours an urgent authorisation that covers live matching runs unapproved.
pub const URGENT_LIVE_HOURS: u64 = 24;
/// Hours an urgent retrospective-only authorisation runs unapproved.
pub const URGENT_RETROSPECTIVE_HOURS: u64 = 48;
/// Longest text field kept (ground, authority, reference, reasons).
const MAX_TEXT: usize = 1000;

/// What an authorisation allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthorisationPurpose {
    /// Live matching of camera streams against the watchlists.
    Live,
    /// Searches of recorded sightings (face search, lost-child search).
    Retrospective,
    Both,
}

impl AuthorisationPurpose {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthorisationPurpose::Live => "live",
            AuthorisationPurpose::Retrospective => "retrospective",
            AuthorisationPurpose::Both => "both",
        }
    }
    pub fn live(self) -> bool {
        matches!(
            self,
            AuthorisationPurpose::Live | AuthorisationPurpose::Both
        )
    }
    pub fn retrospective(self) -> bool {
        matches!(
            self,
            AuthorisationPurpose::Retrospective | AuthorisationPurpose::Both
        )
    }
    /// How long an urgent authorisation of this purpose runs unapproved: the
    /// shorter live limit whenever live matching is included.
    pub fn urgent_limit(self) -> Duration {
        let h = if self.live() {
            URGENT_LIVE_HOURS
        } else {
            URGENT_RETROSPECTIVE_HOURS
        };
        Duration::from_secs(h * 3600)
    }
}

impl std::str::FromStr for AuthorisationPurpose {
    type Err = StoreError;
    fn from_str(s: &str) -> Result<Self, StoreError> {
        match s.trim().to_ascii_lowercase().as_str() {
            "live" => Ok(AuthorisationPurpose::Live),
            "retrospective" | "retro" => Ok(AuthorisationPurpose::Retrospective),
            "both" => Ok(AuthorisationPurpose::Both),
            _ => Err(StoreError::Invalid(format!(
                "unknown authorisation purpose {s:?}: use live, retrospective or both"
            ))),
        }
    }
}

/// Which kind of watchlists an authorisation may use. Missing-person lists
/// (searching *for* someone's safety) and the others (suspects, debtors,
/// custom lists) never share an authorisation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ListClass {
    Missing,
    Criminal,
}

impl ListClass {
    pub fn as_str(self) -> &'static str {
        match self {
            ListClass::Missing => "missing",
            ListClass::Criminal => "criminal",
        }
    }
    /// The class a watchlist of `category` belongs to.
    pub fn of(category: WatchlistCategory) -> ListClass {
        if category == WatchlistCategory::Missing {
            ListClass::Missing
        } else {
            ListClass::Criminal
        }
    }
}

impl std::str::FromStr for ListClass {
    type Err = StoreError;
    fn from_str(s: &str) -> Result<Self, StoreError> {
        match s.trim().to_ascii_lowercase().as_str() {
            "missing" => Ok(ListClass::Missing),
            "criminal" => Ok(ListClass::Criminal),
            _ => Err(StoreError::Invalid(format!(
                "unknown list class {s:?}: use missing or criminal"
            ))),
        }
    }
}

/// A request for an authorisation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NewAuthorisation {
    pub purpose: AuthorisationPurpose,
    pub legal_ground: String,
    pub authority: String,
    pub decision_ref: String,
    /// The cameras/groups as the requester named them.
    pub scope_text: String,
    /// The camera ids they resolve to (non-empty).
    pub cameras: Vec<String>,
    /// Watchlist names (non-empty).
    pub watchlists: Vec<String>,
    pub list_class: ListClass,
    pub window_start: Option<Timestamp>,
    pub window_end: Option<Timestamp>,
    pub expires: Timestamp,
    pub urgent: bool,
    pub requested_by: String,
}

/// Where an authorisation stands at a moment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthorisationStatus {
    /// Requested, not urgent, awaiting approval: no effect yet.
    Pending,
    /// Urgent and unapproved, within its limit: in effect.
    Urgent,
    /// Approved and in effect.
    Active,
    /// Urgent and not approved in time: stopped (and purged once swept).
    Lapsed,
    Revoked,
    Expired,
}

/// One authorisation record.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Authorisation {
    pub id: i64,
    pub purpose: AuthorisationPurpose,
    pub legal_ground: String,
    pub authority: String,
    pub decision_ref: String,
    pub scope_text: String,
    pub cameras: Vec<String>,
    pub watchlists: Vec<String>,
    pub list_class: ListClass,
    pub window_start: Option<Timestamp>,
    pub window_end: Option<Timestamp>,
    pub expires: Timestamp,
    pub urgent: bool,
    pub requested_by: String,
    pub requested: Timestamp,
    pub approved_by: Option<String>,
    pub approved: Option<Timestamp>,
    pub revoked_by: Option<String>,
    pub revoked: Option<Timestamp>,
    pub revoke_reason: Option<String>,
    pub lapsed: Option<Timestamp>,
    /// What the lapse purged (JSON), once swept.
    pub purge: Option<serde_json::Value>,
}

impl Authorisation {
    /// When an unapproved urgent authorisation stops taking effect.
    pub fn urgent_deadline(&self) -> Option<Timestamp> {
        (self.urgent && self.approved.is_none())
            .then(|| self.requested.plus(self.purpose.urgent_limit()))
    }

    pub fn status(&self, now: Timestamp) -> AuthorisationStatus {
        if self.revoked.is_some() {
            return AuthorisationStatus::Revoked;
        }
        if self.lapsed.is_some() || self.urgent_deadline().is_some_and(|d| now >= d) {
            return AuthorisationStatus::Lapsed;
        }
        if now >= self.expires {
            return AuthorisationStatus::Expired;
        }
        match (self.approved.is_some(), self.urgent) {
            (true, _) => AuthorisationStatus::Active,
            (false, true) => AuthorisationStatus::Urgent,
            (false, false) => AuthorisationStatus::Pending,
        }
    }

    /// Whether it takes effect at `now` (active, or urgent within its limit).
    pub fn in_effect(&self, now: Timestamp) -> bool {
        matches!(
            self.status(now),
            AuthorisationStatus::Active | AuthorisationStatus::Urgent
        )
    }

    /// Whether moment `ts` of footage lies in the window.
    pub fn window_contains(&self, ts: Timestamp) -> bool {
        self.window_start.is_none_or(|s| ts >= s) && self.window_end.is_none_or(|e| ts < e)
    }

    /// Whether a list (by name and category) is in scope.
    pub fn covers_list(&self, name: &str, category: WatchlistCategory) -> bool {
        ListClass::of(category) == self.list_class && self.watchlists.iter().any(|w| w == name)
    }

    /// Whether live matching of `camera` at footage time `ts` against list
    /// `name` is authorised at `now`.
    pub fn covers_live(
        &self,
        now: Timestamp,
        camera: &str,
        ts: Timestamp,
        list: &str,
        category: WatchlistCategory,
    ) -> bool {
        self.purpose.live()
            && self.in_effect(now)
            && self.cameras.iter().any(|c| c == camera)
            && self.window_contains(ts)
            && self.covers_list(list, category)
    }

    /// Checks a retrospective search of `cameras` (empty: all of the
    /// authorisation's) over `[since, until)` at `now`, and returns the
    /// query narrowed to the authorisation's scope: its cameras when none
    /// were named, its window where the request left a side open. Refused
    /// (naming what is not covered) otherwise.
    pub fn scope_search(
        &self,
        now: Timestamp,
        cameras: &[String],
        since: Option<Timestamp>,
        until: Option<Timestamp>,
    ) -> Result<ScopedSearch, StoreError> {
        let st = self.status(now);
        if !matches!(
            st,
            AuthorisationStatus::Active | AuthorisationStatus::Urgent
        ) {
            return Err(StoreError::Refused(format!(
                "authorisation {} is {st:?}, not in effect",
                self.id
            )));
        }
        if !self.purpose.retrospective() {
            return Err(StoreError::Refused(format!(
                "authorisation {} covers live matching only, not retrospective searches",
                self.id
            )));
        }
        let outside: Vec<&String> = cameras
            .iter()
            .filter(|c| !self.cameras.contains(c))
            .collect();
        if !outside.is_empty() {
            return Err(StoreError::Refused(format!(
                "authorisation {} does not cover camera(s) {outside:?}",
                self.id
            )));
        }
        let since = since.or(self.window_start);
        let until = until.or(self.window_end);
        if let Some(ws) = self.window_start {
            if since.is_some_and(|s| s < ws) {
                return Err(StoreError::Refused(format!(
                    "authorisation {} covers footage from {ws} only",
                    self.id
                )));
            }
        }
        if let Some(we) = self.window_end {
            if until.is_some_and(|u| u > we) {
                return Err(StoreError::Refused(format!(
                    "authorisation {} covers footage until {we} only",
                    self.id
                )));
            }
        }
        let cams = if cameras.is_empty() {
            self.cameras.clone()
        } else {
            cameras.to_vec()
        };
        Ok((cams, since, until))
    }
}

/// A retrospective search narrowed to an authorisation's scope: cameras,
/// since, until.
pub type ScopedSearch = (Vec<String>, Option<Timestamp>, Option<Timestamp>);

/// What one lapse removed.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AuthorisationLapse {
    pub authorisation_id: i64,
    /// Face-match events removed (ids).
    pub events: Vec<i64>,
    /// Lost-child / watchlist entries removed (person ids).
    pub persons: Vec<i64>,
    /// Evidence files deleted.
    pub evidence_files: usize,
}

const COLUMNS: &str = "id, purpose, legal_ground, authority, decision_ref, scope_text,
    cameras_json, watchlists_json, list_class, window_start, window_end, expires, urgent,
    requested_by, requested, approved_by, approved, revoked_by, revoked, revoke_reason,
    lapsed, purge_json";

fn from_row(r: &Row<'_>) -> rusqlite::Result<Authorisation> {
    let bad = |i: usize, m: String| {
        rusqlite::Error::FromSqlConversionFailure(
            i,
            rusqlite::types::Type::Text,
            Box::new(StoreError::Corrupt(m)),
        )
    };
    let purpose: String = r.get(1)?;
    let class: String = r.get(8)?;
    let cams: String = r.get(6)?;
    let lists: String = r.get(7)?;
    let purge: Option<String> = r.get(21)?;
    let ts = |i: usize| -> rusqlite::Result<Option<Timestamp>> {
        Ok(r.get::<_, Option<i64>>(i)?.map(Timestamp::from_millis))
    };
    Ok(Authorisation {
        id: r.get(0)?,
        purpose: purpose
            .parse()
            .map_err(|e: StoreError| bad(1, e.to_string()))?,
        legal_ground: r.get(2)?,
        authority: r.get(3)?,
        decision_ref: r.get(4)?,
        scope_text: r.get(5)?,
        cameras: serde_json::from_str(&cams).map_err(|e| bad(6, e.to_string()))?,
        watchlists: serde_json::from_str(&lists).map_err(|e| bad(7, e.to_string()))?,
        list_class: class
            .parse()
            .map_err(|e: StoreError| bad(8, e.to_string()))?,
        window_start: ts(9)?,
        window_end: ts(10)?,
        expires: Timestamp::from_millis(r.get(11)?),
        urgent: r.get::<_, i64>(12)? != 0,
        requested_by: r.get(13)?,
        requested: Timestamp::from_millis(r.get(14)?),
        approved_by: r.get(15)?,
        approved: ts(16)?,
        revoked_by: r.get(17)?,
        revoked: ts(18)?,
        revoke_reason: r.get(19)?,
        lapsed: ts(20)?,
        purge: purge.and_then(|p| serde_json::from_str(&p).ok()),
    })
}

fn load(c: &Connection, id: i64) -> Result<Option<Authorisation>, StoreError> {
    Ok(c.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM authorisation WHERE id = ?1"
    ))?
    .query_row([id], from_row)
    .optional()?)
}

fn text(field: &str, v: &str) -> Result<String, StoreError> {
    let v = v.trim();
    if v.is_empty() || v.len() > MAX_TEXT {
        return Err(StoreError::Invalid(format!(
            "authorisation `{field}` must be 1 to {MAX_TEXT} bytes"
        )));
    }
    Ok(v.to_owned())
}

fn audit(
    c: &Connection,
    now: Timestamp,
    actor: &str,
    action: &str,
    id: i64,
    reason: Option<String>,
    details: serde_json::Value,
) -> Result<(), StoreError> {
    insert_audit(
        c,
        now.millis(),
        NewAuditEntry {
            actor: Some(actor.to_owned()),
            remote: None,
            action: action.to_owned(),
            target: Some(format!("authorisation {id}")),
            reason,
            outcome: "ok".into(),
            details,
        },
    )?;
    Ok(())
}

impl Store {
    /// Records a requested authorisation (audited as `authorisation.request`
    /// in the same transaction). Refused when a named watchlist exists with
    /// the other list class: missing-person and criminal lists never share
    /// an authorisation.
    pub fn request_authorisation(&self, a: NewAuthorisation) -> Result<Authorisation, StoreError> {
        let legal_ground = text("legal_ground", &a.legal_ground)?;
        let authority = text("authority", &a.authority)?;
        let decision_ref = text("decision_ref", &a.decision_ref)?;
        let requested_by = text("requested_by", &a.requested_by)?;
        let scope_text = text("cameras", &a.scope_text)?;
        if a.cameras.is_empty() {
            return Err(StoreError::Invalid(
                "an authorisation must name at least one camera or camera group".into(),
            ));
        }
        let lists: Vec<String> = a
            .watchlists
            .iter()
            .map(|w| w.trim().to_owned())
            .filter(|w| !w.is_empty())
            .collect();
        if lists.is_empty() {
            return Err(StoreError::Invalid(
                "an authorisation must name at least one watchlist".into(),
            ));
        }
        if let (Some(s), Some(e)) = (a.window_start, a.window_end) {
            if e <= s {
                return Err(StoreError::Invalid(
                    "the window's end must be after its start".into(),
                ));
            }
        }
        let now = self.clock.now();
        if a.expires <= now {
            return Err(StoreError::Invalid(
                "the authorisation's expiry is in the past".into(),
            ));
        }
        let class = a.list_class;
        self.exec("request_authorisation", move |c| {
            for name in &lists {
                let cat: Option<String> = c
                    .prepare_cached("SELECT category FROM watchlist WHERE name = ?1")?
                    .query_row([name], |r| r.get(0))
                    .optional()?;
                if let Some(cat) = cat {
                    let cat: WatchlistCategory = cat.parse()?;
                    if ListClass::of(cat) != class {
                        return Err(StoreError::Refused(format!(
                            "watchlist {name:?} is a {cat} list, which an authorisation for {} lists cannot cover: request a separate authorisation",
                            class.as_str()
                        )));
                    }
                }
            }
            c.prepare_cached(
                "INSERT INTO authorisation (purpose, legal_ground, authority, decision_ref,
                   scope_text, cameras_json, watchlists_json, list_class, window_start,
                   window_end, expires, urgent, requested_by, requested)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
            )?
            .execute(params![
                a.purpose.as_str(),
                legal_ground,
                authority,
                decision_ref,
                scope_text,
                serde_json::to_string(&a.cameras)?,
                serde_json::to_string(&lists)?,
                class.as_str(),
                a.window_start.map(|t| t.millis()),
                a.window_end.map(|t| t.millis()),
                a.expires.millis(),
                a.urgent as i64,
                requested_by,
                now.millis(),
            ])?;
            let id = c.last_insert_rowid();
            let rec = load(c, id)?.ok_or_else(|| StoreError::Corrupt("authorisation vanished".into()))?;
            audit(
                c,
                now,
                &rec.requested_by,
                "authorisation.request",
                id,
                Some(rec.decision_ref.clone()),
                serde_json::json!({
                    "purpose": rec.purpose, "urgent": rec.urgent, "cameras": rec.cameras,
                    "watchlists": rec.watchlists, "list_class": rec.list_class,
                    "authority": rec.authority, "legal_ground": rec.legal_ground,
                    "expires": rec.expires,
                }),
            )?;
            Ok(rec)
        })
    }

    /// Approves an authorisation. The approver must not be its requester
    /// (four eyes); a revoked, lapsed or expired one cannot be approved.
    pub fn approve_authorisation(&self, id: i64, by: &str) -> Result<Authorisation, StoreError> {
        let by = text("approved_by", by)?;
        let now = self.clock.now();
        self.exec("approve_authorisation", move |c| {
            let a = load(c, id)?
                .ok_or_else(|| StoreError::Refused(format!("no authorisation with id {id}")))?;
            if a.approved.is_some() {
                return Err(StoreError::Refused(format!(
                    "authorisation {id} is already approved"
                )));
            }
            let st = a.status(now);
            if matches!(
                st,
                AuthorisationStatus::Revoked
                    | AuthorisationStatus::Lapsed
                    | AuthorisationStatus::Expired
            ) {
                return Err(StoreError::Refused(format!(
                    "authorisation {id} is {st:?} and can no longer be approved: request a new one"
                )));
            }
            if a.requested_by == by {
                return Err(StoreError::Refused(format!(
                    "{by} requested authorisation {id} and cannot also approve it: another supervisor must"
                )));
            }
            c.prepare_cached(
                "UPDATE authorisation SET approved_by = ?2, approved = ?3 WHERE id = ?1",
            )?
            .execute(params![id, by, now.millis()])?;
            audit(c, now, &by, "authorisation.approve", id, None, serde_json::json!({}))?;
            load(c, id)?.ok_or_else(|| StoreError::Corrupt("authorisation vanished".into()))
        })
    }

    /// Revokes an authorisation with a reason; it stops taking effect at once.
    pub fn revoke_authorisation(
        &self,
        id: i64,
        by: &str,
        reason: &str,
    ) -> Result<Authorisation, StoreError> {
        let by = text("revoked_by", by)?;
        let reason = text("reason", reason)?;
        let now = self.clock.now();
        self.exec("revoke_authorisation", move |c| {
            let a = load(c, id)?
                .ok_or_else(|| StoreError::Refused(format!("no authorisation with id {id}")))?;
            if a.revoked.is_some() {
                return Err(StoreError::Refused(format!(
                    "authorisation {id} is already revoked"
                )));
            }
            c.prepare_cached(
                "UPDATE authorisation SET revoked_by = ?2, revoked = ?3, revoke_reason = ?4
                 WHERE id = ?1",
            )?
            .execute(params![id, by, now.millis(), reason])?;
            audit(
                c,
                now,
                &by,
                "authorisation.revoke",
                id,
                Some(reason),
                serde_json::json!({}),
            )?;
            load(c, id)?.ok_or_else(|| StoreError::Corrupt("authorisation vanished".into()))
        })
    }

    pub fn authorisation(&self, id: i64) -> Result<Option<Authorisation>, StoreError> {
        self.readers.with(|c| load(c, id))
    }

    /// Every authorisation, newest first.
    pub fn authorisations(&self) -> Result<Vec<Authorisation>, StoreError> {
        self.readers.with(|c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM authorisation ORDER BY id DESC"
            ))?;
            let v = st.query_map([], from_row)?.collect::<Result<_, _>>()?;
            Ok(v)
        })
    }

    /// Bumped by triggers on every authorisation change (also by other
    /// processes): the live matcher reloads its set when it differs.
    pub fn authorisation_generation(&self) -> Result<i64, StoreError> {
        self.readers.with(|c| {
            Ok(
                c.prepare_cached("SELECT value FROM change_counter WHERE name = 'authorisations'")?
                    .query_row([], |r| r.get(0))?,
            )
        })
    }

    /// Records a use of an authorisation (a search, a lost-child entry), so
    /// that a lapse can purge what the use produced.
    pub fn record_authorisation_use(
        &self,
        id: i64,
        actor: &str,
        action: &str,
        person_id: Option<i64>,
    ) -> Result<(), StoreError> {
        let (actor, action) = (actor.to_owned(), action.to_owned());
        let now = self.clock.now().millis();
        self.exec("record_authorisation_use", move |c| {
            c.prepare_cached(
                "INSERT INTO authorisation_use (authorisation_id, ts, actor, action, person_id)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![id, now, actor, action, person_id])?;
            Ok(())
        })
    }

    /// Stops every urgent authorisation whose approval did not come in time
    /// and purges its results, each in one transaction with its audit entry
    /// (`authorisation.lapse`, actor `system`):
    ///
    /// - face-match events on its cameras for its watchlists, from its
    ///   request until its deadline, that no approved authorisation also
    ///   covered, with their review rows and the evidence files nothing else
    ///   uses; the sightings they marked as matched are unmarked (so ordinary
    ///   retention applies to them again);
    /// - watchlist entries (lost-child) created under it.
    ///
    /// Safe to call often: it does nothing when no authorisation is overdue.
    pub fn lapse_overdue_authorisations(&self) -> Result<Vec<AuthorisationLapse>, StoreError> {
        let now = self.clock.now();
        let (lapses, files) = self.exec("lapse_authorisations", move |c| {
            let all: Vec<Authorisation> = c
                .prepare_cached(&format!(
                    "SELECT {COLUMNS} FROM authorisation
                     WHERE urgent = 1 AND approved IS NULL AND revoked IS NULL AND lapsed IS NULL"
                ))?
                .query_map([], from_row)?
                .collect::<Result<_, _>>()?;
            let overdue: Vec<Authorisation> = all
                .into_iter()
                .filter(|a| a.urgent_deadline().is_some_and(|d| now >= d))
                .collect();
            if overdue.is_empty() {
                return Ok((Vec::new(), Vec::new()));
            }
            let approved: Vec<Authorisation> = c
                .prepare_cached(&format!(
                    "SELECT {COLUMNS} FROM authorisation WHERE approved IS NOT NULL"
                ))?
                .query_map([], from_row)?
                .collect::<Result<_, _>>()?;
            let mut lapses = Vec::new();
            let mut files = Vec::new();
            for a in overdue {
                let (lapse, hashes) = purge_one(c, &a, &approved, now)?;
                files.extend(hashes);
                lapses.push(lapse);
            }
            Ok((lapses, files))
        })?;
        let mut deleted = 0;
        for h in &files {
            let p = evidence::path_for(&self.evidence_dir, h);
            match std::fs::remove_file(&p) {
                Ok(()) => deleted += 1,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(StoreError::io(&p, e)),
            }
        }
        let mut lapses = lapses;
        if let Some(l) = lapses.first_mut() {
            // Files are shared between lapses of one sweep only by accident;
            // report the total on the first.
            l.evidence_files = deleted;
        }
        for l in &lapses {
            tracing::warn!(
                authorisation = l.authorisation_id,
                events = l.events.len(),
                persons = l.persons.len(),
                "urgent authorisation not approved in time: stopped and its results purged"
            );
        }
        Ok(lapses)
    }
}

/// Purges one overdue urgent authorisation's results inside the writer's
/// transaction; returns the lapse and the evidence hashes whose files to
/// delete after the commit.
fn purge_one(
    c: &Connection,
    a: &Authorisation,
    approved: &[Authorisation],
    now: Timestamp,
) -> Result<(AuthorisationLapse, Vec<String>), StoreError> {
    let deadline = a.urgent_deadline().unwrap_or(now);
    let mut q = c.prepare_cached(
        "SELECT id, camera, ts, rule, evidence, details_json FROM event
         WHERE kind = ?1 AND ts >= ?2 AND ts <= ?3",
    )?;
    type Row6 = (i64, String, i64, Option<String>, Option<String>, String);
    let rows: Vec<Row6> = q
        .query_map(
            params![kinds::FACE_MATCH, a.requested.millis(), deadline.millis()],
            |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                ))
            },
        )?
        .collect::<Result<_, _>>()?;
    let mut lapse = AuthorisationLapse {
        authorisation_id: a.id,
        ..Default::default()
    };
    let mut hashes: Vec<String> = Vec::new();
    for (id, camera, ts, rule, ev, details) in rows {
        let ts = Timestamp::from_millis(ts);
        let list = rule.unwrap_or_default();
        let details: serde_json::Value = serde_json::from_str(&details).unwrap_or_default();
        let category = details
            .get("category")
            .and_then(|v| v.as_str())
            .and_then(|s| s.parse::<WatchlistCategory>().ok())
            .unwrap_or(WatchlistCategory::Wanted);
        let ours = a.purpose.live()
            && a.cameras.contains(&camera)
            && a.window_contains(ts)
            && a.covers_list(&list, category);
        // Another, approved authorisation covering the same match keeps it:
        // it would have been produced anyway.
        // It covered the match if it was in effect then: approved by then,
        // or urgent and requested by then (and approved in time, as every
        // authorisation in `approved` was).
        let also_covered = approved.iter().any(|b| {
            b.id != a.id
                && (b.approved.is_some_and(|t| t <= ts) || (b.urgent && b.requested <= ts))
                && b.revoked.is_none_or(|r| r > ts)
                && ts < b.expires
                && b.purpose.live()
                && b.cameras.contains(&camera)
                && b.window_contains(ts)
                && b.covers_list(&list, category)
        });
        if !ours || also_covered {
            continue;
        }
        c.prepare_cached("DELETE FROM event_review_action WHERE event_id = ?1")?
            .execute([id])?;
        c.prepare_cached("DELETE FROM event_review WHERE event_id = ?1")?
            .execute([id])?;
        // Results of an urgent authorisation nobody approved were never
        // lawful to keep: an evidence lock does not save them (the lapse's
        // audit entry records the purge, the lock's entry who set it).
        c.prepare_cached("DELETE FROM event_lock WHERE event_id = ?1")?
            .execute([id])?;
        c.prepare_cached("DELETE FROM event WHERE id = ?1")?
            .execute([id])?;
        if let Some(s) = details.get("sightings").and_then(|v| v.as_array()) {
            for sid in s.iter().filter_map(|v| v.as_i64()) {
                c.prepare_cached("UPDATE face_sighting SET matched_person = NULL WHERE id = ?1")?
                    .execute([sid])?;
            }
        }
        hashes.extend(ev);
        if let Some(f) = details.get("frame_evidence").and_then(|v| v.as_str()) {
            hashes.push(f.to_owned());
        }
        lapse.events.push(id);
    }
    let persons: Vec<i64> = c
        .prepare_cached(
            "SELECT person_id FROM authorisation_use
             WHERE authorisation_id = ?1 AND person_id IS NOT NULL",
        )?
        .query_map([a.id], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    for p in persons {
        c.prepare_cached("DELETE FROM face_template WHERE person_id = ?1")?
            .execute([p])?;
        if c.prepare_cached("DELETE FROM person WHERE id = ?1")?
            .execute([p])?
            > 0
        {
            lapse.persons.push(p);
        }
    }
    let mut orphans = Vec::new();
    for h in hashes {
        if evidence::is_valid_hash(&h) && !orphans.contains(&h) && !evidence_in_use(c, &h)? {
            c.prepare_cached("DELETE FROM evidence WHERE hash = ?1")?
                .execute([&h])?;
            orphans.push(h);
        }
    }
    let purge = serde_json::json!({
        "events": lapse.events, "persons": lapse.persons, "evidence": orphans.len(),
    });
    c.prepare_cached("UPDATE authorisation SET lapsed = ?2, purge_json = ?3 WHERE id = ?1")?
        .execute(params![a.id, now.millis(), purge.to_string()])?;
    audit(
        c,
        now,
        "system",
        "authorisation.lapse",
        a.id,
        Some(format!(
            "urgent authorisation not approved within {} h",
            a.purpose.urgent_limit().as_secs() / 3600
        )),
        purge,
    )?;
    Ok((lapse, orphans))
}
