//! Camera owners and their data-sharing agreements (`[[owner]]`, issue #7).
//!
//! A city network is not one organisation's: police cameras sit beside a
//! transport agency's and a shopping centre's, and the private ones are
//! shared with the situation centre under an agreement that says what may be
//! done with them. The agreement is data here, checked where it can be
//! enforced best:
//!
//! * **which analytics may run** — at load: a camera that configures an
//!   analytic its owner's agreement does not list is a configuration error
//!   naming the camera, the analytic and the agreement, so nothing unlisted
//!   ever starts;
//! * **when** — `valid_from`/`valid_until`: the engine does not start a
//!   camera outside the window and stops it when the window closes;
//! * **who may see** — `viewer_roles` (the API's camera scope; users may
//!   also be limited to owners);
//! * **retention** — `retention_days` caps every data class of the owner's
//!   cameras below the installation's `[retention]`.
//!
//! Cameras without `owner` belong to the operating organisation itself and
//! are bound only by its own settings.

use super::{check_at, valid_id, CameraConfig, Seg, Violation};
use base::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;

/// What kind of body owns cameras.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OwnerKind {
    /// A public body (police, transport agency, municipality).
    PublicAgency,
    /// A private business (shopping centre, car park, bank) sharing its
    /// cameras; it must have an agreement.
    PrivateBusiness,
    Other,
}

/// `[[owner]]`: a body that owns cameras.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct OwnerConfig {
    /// Referred to by `[[camera]] owner` and by users' owner scope.
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    pub kind: OwnerKind,
    /// The data-sharing agreement. Required for private businesses; without
    /// one the owner's cameras are bound only by the installation's settings.
    #[serde(default)]
    pub agreement: Option<AgreementConfig>,
}

/// `[owner.agreement]`: the terms under which the owner's cameras are used.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AgreementConfig {
    /// The agreement's reference (number and date), shown with every camera
    /// and in the transparency report.
    pub reference: String,
    /// Analytics the agreement allows, from [`ANALYTICS`]. Detection and
    /// tracking (needed by all of them) always run. Explicit on purpose: an
    /// agreement that forgets this list allows nothing, not everything.
    pub analytics: Vec<String>,
    /// Roles that may see the cameras (their events, evidence, snapshots);
    /// absent = every role the user scopes allow.
    #[serde(default)]
    pub viewer_roles: Option<Vec<String>>,
    /// Longest the owner allows any data of its cameras to be kept (events,
    /// tracks, face sightings, plate reads; their evidence goes with them).
    /// Only shortens `[retention]`.
    #[serde(default)]
    pub retention_days: Option<f64>,
    /// RFC 3339 time or date the agreement starts; absent = in force.
    #[serde(default)]
    pub valid_from: Option<String>,
    /// RFC 3339 time or date (`2027-06-30` = the start of that day, UTC) the
    /// agreement ends; the owner's cameras stop then.
    #[serde(default)]
    pub valid_until: Option<String>,
}

/// Analytics an agreement can allow, as a camera configures them (the
/// names are `base::sharing::ANALYTICS`, checked by a test).
pub const ANALYTICS: &[(&str, &str)] = &[
    ("zones", "zone enter/exit and dwell ([[camera.zone]])"),
    ("loitering", "loitering (zone loiter_seconds)"),
    (
        "crowd",
        "people counting and crowd alerts (zone crowd, [camera.crowd_counter])",
    ),
    ("lines", "line crossing and counting ([[camera.line]])"),
    ("abandoned", "abandoned objects ([camera.abandoned])"),
    ("faces", "live face matching ([camera.faces])"),
    ("plates", "licence-plate reading ([camera.plates])"),
    ("offences", "traffic offences ([camera.offences])"),
    ("fire", "fire and smoke ([camera.fire])"),
];

pub use base::sharing::ROLE_NAMES;

/// The analytics a camera's configuration runs, as [`ANALYTICS`] names them,
/// each with the config key that turns it on (for error locations).
pub fn camera_analytics(c: &CameraConfig) -> Vec<(&'static str, &'static str)> {
    let mut out = Vec::new();
    if c.zones
        .iter()
        .any(|z| z.enter_exit || z.dwell_seconds.is_some())
    {
        out.push(("zones", "zone"));
    }
    if c.zones.iter().any(|z| z.loiter_seconds.is_some()) {
        out.push(("loitering", "zone"));
    }
    if c.zones.iter().any(|z| z.crowd.is_some()) {
        out.push(("crowd", "zone"));
    }
    if c.crowd_counter.as_ref().is_some_and(|s| s.enabled) {
        out.push(("crowd", "crowd_counter"));
    }
    if !c.lines.is_empty() {
        out.push(("lines", "line"));
    }
    if c.abandoned.is_some() {
        out.push(("abandoned", "abandoned"));
    }
    if c.faces.as_ref().is_some_and(|f| f.enabled) {
        out.push(("faces", "faces"));
    }
    if c.plates.as_ref().is_some_and(|p| p.enabled) {
        out.push(("plates", "plates"));
    }
    if !c.offences.is_empty() {
        out.push(("offences", "offences"));
    }
    if c.fire.as_ref().is_some_and(|f| f.enabled) {
        out.push(("fire", "fire"));
    }
    out
}

/// Parses an agreement time: RFC 3339, or a bare `YYYY-MM-DD` (midnight UTC).
pub fn parse_agreement_time(s: &str) -> Option<Timestamp> {
    let s = s.trim();
    if s.len() == 10 && s.as_bytes().get(4) == Some(&b'-') {
        return Timestamp::parse(&format!("{s}T00:00:00Z"));
    }
    // Plain integers (milliseconds) are accepted by `Timestamp::parse` but
    // would be a unit trap in a contract date.
    if s.parse::<i64>().is_ok() {
        return None;
    }
    Timestamp::parse(s)
}

impl AgreementConfig {
    pub fn allows(&self, analytic: &str) -> bool {
        self.analytics.iter().any(|a| a == analytic)
    }

    pub fn valid_from_ts(&self) -> Option<Timestamp> {
        self.valid_from.as_deref().and_then(parse_agreement_time)
    }

    pub fn valid_until_ts(&self) -> Option<Timestamp> {
        self.valid_until.as_deref().and_then(parse_agreement_time)
    }

    /// Why the agreement is not in force at `now`, if it is not.
    pub fn not_in_force(&self, now: Timestamp) -> Option<String> {
        if let Some(from) = self.valid_from_ts().filter(|f| now < *f) {
            return Some(format!(
                "data-sharing agreement {} is in force only from {from}",
                self.reference
            ));
        }
        if let Some(until) = self.valid_until_ts().filter(|u| now >= *u) {
            return Some(format!(
                "data-sharing agreement {} ended at {until}",
                self.reference
            ));
        }
        None
    }

    /// Whether `role` may see the cameras under this agreement.
    pub fn role_may_see(&self, role: &str) -> bool {
        self.viewer_roles
            .as_ref()
            .is_none_or(|r| r.iter().any(|x| x == role))
    }
}

pub(super) fn validate(owners: &[OwnerConfig], cameras: &[CameraConfig]) -> Result<(), Violation> {
    let mut ids = HashSet::new();
    for (i, o) in owners.iter().enumerate() {
        let at = |rest: &[&'static str]| {
            let mut p = vec![Seg::Key("owner"), Seg::Index(i)];
            p.extend(rest.iter().map(|k| Seg::Key(k)));
            p
        };
        check_at(
            valid_id(&o.id),
            at(&["id"]),
            "must be 1-64 characters of letters, digits, '-', '_' or '.'",
        )?;
        check_at(
            ids.insert(o.id.as_str()),
            at(&["id"]),
            &format!("duplicate owner id {:?}", o.id),
        )?;
        check_at(
            o.kind != OwnerKind::PrivateBusiness || o.agreement.is_some(),
            at(&["kind"]),
            "a private business's cameras are used under a data-sharing agreement: add \
             [owner.agreement] with its reference and the analytics it allows",
        )?;
        let Some(a) = &o.agreement else { continue };
        let aat = |k: &'static str| at(&["agreement", k]);
        check_at(
            !a.reference.trim().is_empty() && a.reference.len() <= 200,
            aat("reference"),
            "must name the agreement (its number and date), at most 200 characters",
        )?;
        let known: Vec<&str> = ANALYTICS.iter().map(|(n, _)| *n).collect();
        for (j, name) in a.analytics.iter().enumerate() {
            check_at(
                known.contains(&name.as_str()),
                {
                    let mut p = aat("analytics");
                    p.push(Seg::Index(j));
                    p
                },
                &format!("unknown analytic {name:?}; known: {}", known.join(", ")),
            )?;
        }
        if let Some(roles) = &a.viewer_roles {
            check_at(
                !roles.is_empty(),
                aat("viewer_roles"),
                "an empty list would hide the cameras from everyone: name roles, or leave the \
                 key out to allow every role",
            )?;
            for r in roles {
                check_at(
                    ROLE_NAMES.contains(&r.as_str()),
                    aat("viewer_roles"),
                    &format!("unknown role {r:?}; roles: {}", ROLE_NAMES.join(", ")),
                )?;
            }
        }
        if let Some(d) = a.retention_days {
            check_at(
                d.is_finite() && d > 0.0 && d <= 36_500.0,
                aat("retention_days"),
                "must be > 0 and at most 36500 days",
            )?;
        }
        for (key, v) in [
            ("valid_from", &a.valid_from),
            ("valid_until", &a.valid_until),
        ] {
            if let Some(s) = v {
                check_at(
                    parse_agreement_time(s).is_some(),
                    aat(key),
                    "must be a date (2027-06-30) or an RFC 3339 time (2027-06-30T18:00:00Z)",
                )?;
            }
        }
        if let (Some(f), Some(u)) = (a.valid_from_ts(), a.valid_until_ts()) {
            check_at(f < u, aat("valid_until"), "must be after valid_from")?;
        }
    }
    for (i, c) in cameras.iter().enumerate() {
        let Some(owner_id) = &c.owner else { continue };
        let at = |k: &'static str| vec![Seg::Key("camera"), Seg::Index(i), Seg::Key(k)];
        let Some(owner) = owners.iter().find(|o| &o.id == owner_id) else {
            let known: Vec<&str> = owners.iter().map(|o| o.id.as_str()).collect();
            return Err(Violation {
                path: at("owner"),
                message: if known.is_empty() {
                    format!("owner {owner_id:?} is not defined: add an [[owner]] with this id")
                } else {
                    format!(
                        "owner {owner_id:?} is not defined; owners: {}",
                        known.join(", ")
                    )
                },
            });
        };
        let Some(a) = &owner.agreement else { continue };
        for (analytic, key) in camera_analytics(c) {
            check_at(
                a.allows(analytic),
                at(key),
                &format!(
                    "camera {:?} runs {analytic} but the data-sharing agreement {} of its owner \
                     {:?} does not allow it: remove this section, or add {analytic:?} to \
                     [owner.agreement] analytics once the agreement is amended",
                    c.id, a.reference, owner.id
                ),
            )?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::Config;
    use base::Timestamp;

    #[test]
    fn analytics_are_the_shared_names() {
        let ours: Vec<&str> = super::ANALYTICS.iter().map(|(n, _)| *n).collect();
        assert_eq!(ours, base::sharing::ANALYTICS.to_vec());
    }

    const OWNERS: &str = r#"
[[owner]]
id = "mall"
name = "Mega Mall LLP"
kind = "private_business"
[owner.agreement]
reference = "DSA-2026/014 of 2026-03-01"
analytics = ["zones", "abandoned"]
viewer_roles = ["operator", "supervisor"]
retention_days = 7
valid_until = "2027-06-30"

[[owner]]
id = "police"
kind = "public_agency"
"#;

    fn err(toml: &str) -> String {
        Config::parse(toml, "k.toml").unwrap_err().to_string()
    }

    #[test]
    fn agreement_limits_the_analytics_a_camera_may_run() {
        let ok = format!(
            "{OWNERS}\n[[camera]]\nid = \"hall\"\nurl = \"x.mp4\"\nowner = \"mall\"\n\
             [[camera.zone]]\nname = \"entry\"\npolygon = [[0,0],[1,0],[1,1]]\n\
             [camera.abandoned]\n"
        );
        let c = Config::parse(&ok, "k.toml").unwrap();
        let a = c.agreement_of(&c.cameras[0]).unwrap();
        assert!(a.allows("abandoned") && !a.allows("faces"));
        assert!(a.role_may_see("operator") && !a.role_may_see("viewer"));
        // The police's cameras have no agreement: no limits.
        let police = format!(
            "{OWNERS}\n[[camera]]\nid = \"p1\"\nurl = \"x.mp4\"\nowner = \"police\"\n[camera.plates]\n"
        );
        let c = Config::parse(&police, "k.toml").unwrap();
        assert!(c.agreement_of(&c.cameras[0]).is_none());

        // Plates are not in the mall's agreement: the error points at the
        // section that turns them on and names the agreement.
        let bad = format!(
            "{OWNERS}\n[[camera]]\nid = \"hall\"\nurl = \"x.mp4\"\nowner = \"mall\"\n[camera.plates]\n"
        );
        let e = err(&bad);
        let line = bad.lines().position(|l| l == "[camera.plates]").unwrap() + 1;
        assert!(e.starts_with(&format!("k.toml:{line}:")), "{e}");
        assert!(
            e.contains("runs plates") && e.contains("DSA-2026/014") && e.contains("\"mall\""),
            "{e}"
        );
        // Lines too (the `line` key), and the owner must exist.
        let e = err(&format!(
            "{OWNERS}\n[[camera]]\nid = \"hall\"\nurl = \"x.mp4\"\nowner = \"mall\"\n\
             [[camera.line]]\nname = \"door\"\nfrom = [0,0.5]\nto = [1,0.5]\n"
        ));
        assert!(e.contains("runs lines"), "{e}");
        let e = err(&format!(
            "{OWNERS}\n[[camera]]\nid = \"x\"\nurl = \"x.mp4\"\nowner = \"bank\"\n"
        ));
        assert!(
            e.contains("camera[0].owner") && e.contains("mall, police"),
            "{e}"
        );
    }

    /// A line drawn in the web app on a camera whose agreement allows no
    /// line counting is refused before the file is written.
    #[test]
    fn live_edits_cannot_add_an_analytic_the_agreement_lacks() {
        use crate::edit::{apply, EditError, GeometryEdit};
        let text =
            format!("{OWNERS}\n[[camera]]\nid = \"hall\"\nurl = \"x.mp4\"\nowner = \"mall\"\n");
        let zone = GeometryEdit::Zone {
            polygon: vec![[0.0, 0.0], [0.5, 0.0], [0.5, 0.5]],
        };
        assert!(apply(&text, "hall", "entry", &zone).is_ok());
        let line = GeometryEdit::Line {
            from: [0.0, 0.5],
            to: [1.0, 0.5],
        };
        match apply(&text, "hall", "door", &line) {
            Err(EditError::Invalid(e)) => assert!(e.to_string().contains("runs lines"), "{e}"),
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn agreements_are_checked_at_load() {
        let e = err("[[owner]]\nid = \"shop\"\nkind = \"private_business\"\n");
        assert!(
            e.contains("owner[0].kind") && e.contains("data-sharing agreement"),
            "{e}"
        );
        let base = "[[owner]]\nid = \"shop\"\nkind = \"private_business\"\n[owner.agreement]\nreference = \"A-1\"\n";
        // `analytics` is required: forgetting it must not allow everything.
        let e = err(base);
        assert!(e.contains("analytics"), "{e}");
        let e = err(&format!("{base}analytics = [\"face\"]\n"));
        assert!(
            e.contains("owner[0].agreement.analytics[0]") && e.contains("unknown analytic"),
            "{e}"
        );
        let e = err(&format!(
            "{base}analytics = []\nviewer_roles = [\"guard\"]\n"
        ));
        assert!(e.contains("unknown role \"guard\""), "{e}");
        let e = err(&format!("{base}analytics = []\nviewer_roles = []\n"));
        assert!(e.contains("hide the cameras from everyone"), "{e}");
        let e = err(&format!(
            "{base}analytics = []\nvalid_until = \"30.06.2027\"\n"
        ));
        assert!(e.contains("valid_until") && e.contains("RFC 3339"), "{e}");
        let e = err(&format!(
            "{base}analytics = []\nvalid_until = \"1790000000000\"\n"
        ));
        assert!(e.contains("valid_until"), "{e}");
        let e = err(&format!(
            "{base}analytics = []\nvalid_from = \"2027-01-01\"\nvalid_until = \"2026-01-01\"\n"
        ));
        assert!(e.contains("must be after valid_from"), "{e}");
        let e = err(&format!("{base}analytics = []\nretention_days = 0\n"));
        assert!(e.contains("retention_days"), "{e}");
        let e = err(
            "[[owner]]\nid = \"a\"\nkind = \"other\"\n[[owner]]\nid = \"a\"\nkind = \"other\"\n",
        );
        assert!(e.contains("duplicate owner id"), "{e}");
    }

    #[test]
    fn the_agreement_window_says_why_it_is_not_in_force() {
        let c = Config::parse(
            "[[owner]]\nid = \"s\"\nkind = \"other\"\n[owner.agreement]\nreference = \"A-7\"\n\
             analytics = []\nvalid_from = \"2026-01-01\"\nvalid_until = \"2026-12-31T18:00:00Z\"\n",
            "k.toml",
        )
        .unwrap();
        let a = c.owners[0].agreement.as_ref().unwrap();
        let at = |s: &str| Timestamp::parse(s).unwrap();
        assert!(a
            .not_in_force(at("2025-12-31T23:59:59Z"))
            .unwrap()
            .contains("only from 2026-01-01T00:00:00.000Z"));
        assert_eq!(a.not_in_force(at("2026-06-01T00:00:00Z")), None);
        assert_eq!(a.not_in_force(at("2026-12-31T17:59:59Z")), None);
        assert!(a
            .not_in_force(at("2026-12-31T18:00:00Z"))
            .unwrap()
            .contains("A-7 ended at 2026-12-31T18:00:00.000Z"));
    }
}
