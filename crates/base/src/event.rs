//! Events: what the rules conclude, the unit that is stored, streamed and audited.

use crate::clock::Timestamp;
use crate::geom::BBox;
use serde::{Deserialize, Serialize};

/// Event kinds are strings on the wire and in the database so that new
/// analytics (faces, plates, fire…) add kinds without a schema change; the
/// constants name the ones the foundation emits.
pub type EventKind = String;

pub mod kinds {
    pub const ZONE_ENTER: &str = "zone_enter";
    pub const ZONE_EXIT: &str = "zone_exit";
    pub const ZONE_DWELL: &str = "zone_dwell";
    pub const LINE_CROSS: &str = "line_cross";
    // Public safety (#5).
    pub const ABANDONED_OBJECT: &str = "abandoned_object";
    pub const ABANDONED_CLEARED: &str = "abandoned_cleared";
    pub const CROWD_DENSITY: &str = "crowd_density";
    pub const CROWD_DENSITY_CLEARED: &str = "crowd_density_cleared";
    pub const CROWD_GATHERING: &str = "crowd_gathering";
    pub const CROWD_DISPERSAL: &str = "crowd_dispersal";
    pub const LOITERING: &str = "loitering";
    /// A person track's faces matched a watchlist entry (after voting).
    pub const FACE_MATCH: &str = "face_match";
    /// A vehicle's voted plate read matched a hotlist entry (exactly or
    /// within the confusion-aware fuzzy distance).
    pub const HOTLIST_MATCH: &str = "hotlist_match";
    /// Fire or smoke confirmed over a time window, and their clearing.
    pub const FIRE: &str = "fire";
    pub const SMOKE: &str = "smoke";
    pub const FIRE_CLEARED: &str = "fire_cleared";
    pub const SMOKE_CLEARED: &str = "smoke_cleared";
    /// Bearings of two or more tower cameras crossed into a position.
    pub const FIRE_LOCATED: &str = "fire_located";
    // Traffic offences (#4): one kind per offence so the store, the API and
    // reviewers can filter by offence; `rule` names the configured rule and
    // `details` carries the record (measured values, evidence request).
    pub const OFFENCE_RED_LIGHT: &str = "offence_red_light";
    pub const OFFENCE_SPEED: &str = "offence_speed";
    pub const OFFENCE_WRONG_WAY: &str = "offence_wrong_way";
    pub const OFFENCE_NO_STOPPING: &str = "offence_no_stopping";
    pub const OFFENCE_BUS_LANE: &str = "offence_bus_lane";
    /// Common prefix of the offence kinds.
    pub const OFFENCE_PREFIX: &str = "offence_";
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Assigned by the store; `None` until persisted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<i64>,
    pub camera: String,
    pub kind: EventKind,
    pub ts: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub track_id: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// Name of the zone or line the rule belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bbox: Option<BBox>,
    #[serde(default)]
    pub score: f32,
    /// Kind-specific values (dwell seconds, direction, counts…).
    #[serde(default)]
    pub details: serde_json::Value,
    /// Content hash of the evidence JPEG, when one was saved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence: Option<String>,
}

impl Event {
    pub fn new(camera: impl Into<String>, kind: impl Into<String>, ts: Timestamp) -> Self {
        Event {
            id: None,
            camera: camera.into(),
            kind: kind.into(),
            ts,
            track_id: None,
            label: None,
            rule: None,
            bbox: None,
            score: 0.0,
            details: serde_json::Value::Null,
            evidence: None,
        }
    }
}
