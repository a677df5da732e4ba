//! What travels on the bus, and the deterministic message ids.
//!
//! Subjects (all in one stream, see [`crate::NatsConfig`]): `kuzet.camera`,
//! `kuzet.evidence`, `kuzet.event`, `kuzet.track`, `kuzet.plate` (voted plate
//! reads, matched against the hotlists centrally). One stream keeps the
//! order a worker published in for the single ingest consumer, so an
//! evidence JPEG is stored before (or with) the event that names it.
//!
//! Payloads are JSON, except evidence, which is the JPEG itself (no base64
//! inflation) with its dimensions in headers.

use crate::BusError;
use base::Event;
use pipeline::{FaceObservation, PlateObservation};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use store::TrackRecord;

pub const SUBJECT_PREFIX: &str = "kuzet";
pub(crate) const SUBJECT_CAMERA: &str = "kuzet.camera";
pub(crate) const SUBJECT_EVIDENCE: &str = "kuzet.evidence";
pub(crate) const SUBJECT_EVENT: &str = "kuzet.event";
pub(crate) const SUBJECT_TRACK: &str = "kuzet.track";
pub(crate) const SUBJECT_PLATE: &str = "kuzet.plate";
pub(crate) const SUBJECT_SIGHTING: &str = "kuzet.sighting";

/// Header with the publishing engine session ("worker id/start ms").
pub(crate) const H_ORIGIN: &str = "Kuzet-Origin";
/// Header with the message id (also sent as `Nats-Msg-Id`), so the ingest
/// sees it whatever the broker does with its own header.
pub(crate) const H_MSG_ID: &str = "Kuzet-Msg-Id";
pub(crate) const H_WIDTH: &str = "Kuzet-Width";
pub(crate) const H_HEIGHT: &str = "Kuzet-Height";
pub(crate) const H_VERSION: &str = "Kuzet-Version";

/// A decoded bus message.
#[derive(Clone, Debug, PartialEq)]
pub enum Record {
    Camera(CameraRecordMsg),
    Evidence {
        hash: String,
        width: u32,
        height: u32,
        jpeg: Vec<u8>,
    },
    Event {
        origin: String,
        msg_id: String,
        event: Event,
    },
    Tracks {
        origin: String,
        tracks: Vec<TrackRecord>,
    },
    /// A worker's voted plate read, to store and check against the hotlists.
    PlateRead {
        origin: String,
        msg_id: String,
        obs: Box<PlateObservation>,
    },
    /// A worker's searched-for face, to match against the watchlists.
    Sighting {
        origin: String,
        msg_id: String,
        obs: Box<FaceObservation>,
    },
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CameraRecordMsg {
    pub id: String,
    pub name: String,
    pub url: String,
    pub config: serde_json::Value,
}

/// The id of an event's message: the SHA-256 of its canonical JSON (without
/// a store id). The same event published again — a retry after a lost
/// acknowledgement, a re-run of the same frames — gets the same id, so the
/// broker and the store keep one copy; two different events never share one.
pub fn event_msg_id(event: &Event) -> String {
    let mut e = event.clone();
    e.id = None;
    // serde_json writes struct fields in declaration order and maps sorted
    // (no `preserve_order` feature), so the bytes are canonical.
    let json = serde_json::to_vec(&e).unwrap_or_default();
    let digest = Sha256::digest(&json);
    format!("e-{}", hex::encode(&digest[..16]))
}

/// The id of a plate-read message: `p-` + the first 128 bits of the SHA-256
/// of the observation's JSON (camera, track, times, text, crops… — the run is
/// not in it). A retry, or the same read published again, gets the same id;
/// the store keeps it as the read's `dedupe_key` and derives the keys of its
/// hotlist alerts from it, so neither is stored twice.
pub fn plate_msg_id(obs: &PlateObservation) -> String {
    let mut o = obs.clone();
    o.read.run_id = None;
    o.read.hotlist_hits = 0;
    let json = serde_json::to_vec(&o).unwrap_or_default();
    let digest = Sha256::digest(&json);
    format!("p-{}", hex::encode(&digest[..16]))
}

/// The id of a face-sighting message: `f-` + the first 128 bits of the
/// SHA-256 of the observation's JSON (camera, track, time, embedding, box,
/// crop…). The store keeps it as the sighting's `dedupe_key`, and the keys of
/// the alerts it completes derive from it.
pub fn sighting_msg_id(obs: &FaceObservation) -> String {
    let json = serde_json::to_vec(obs).unwrap_or_default();
    let digest = Sha256::digest(&json);
    format!("f-{}", hex::encode(&digest[..16]))
}

/// The id of an evidence message: its content hash.
pub fn evidence_msg_id(hash: &str) -> String {
    format!("x-{hash}")
}

/// Decodes a delivery's subject, headers and payload.
pub(crate) fn decode(
    subject: &str,
    header: impl Fn(&str) -> Option<String>,
    payload: &[u8],
) -> Result<Record, BusError> {
    let origin = || {
        header(H_ORIGIN).ok_or_else(|| BusError::Decode(format!("{subject}: no {H_ORIGIN} header")))
    };
    match subject {
        SUBJECT_CAMERA => Ok(Record::Camera(
            serde_json::from_slice(payload)
                .map_err(|e| BusError::Decode(format!("{subject}: {e}")))?,
        )),
        SUBJECT_EVIDENCE => {
            let num = |h: &str| -> Result<u32, BusError> {
                header(h)
                    .and_then(|v| v.parse().ok())
                    .ok_or_else(|| BusError::Decode(format!("{subject}: missing or bad {h}")))
            };
            let hash = store::sha256_hex(payload);
            Ok(Record::Evidence {
                hash,
                width: num(H_WIDTH)?,
                height: num(H_HEIGHT)?,
                jpeg: payload.to_vec(),
            })
        }
        SUBJECT_EVENT => {
            let event: Event = serde_json::from_slice(payload)
                .map_err(|e| BusError::Decode(format!("{subject}: {e}")))?;
            let msg_id = header(H_MSG_ID)
                .ok_or_else(|| BusError::Decode(format!("{subject}: no {H_MSG_ID} header")))?;
            Ok(Record::Event {
                origin: origin()?,
                msg_id,
                event,
            })
        }
        SUBJECT_TRACK => Ok(Record::Tracks {
            origin: origin()?,
            tracks: serde_json::from_slice(payload)
                .map_err(|e| BusError::Decode(format!("{subject}: {e}")))?,
        }),
        SUBJECT_PLATE => {
            let obs: PlateObservation = serde_json::from_slice(payload)
                .map_err(|e| BusError::Decode(format!("{subject}: {e}")))?;
            let msg_id = header(H_MSG_ID)
                .ok_or_else(|| BusError::Decode(format!("{subject}: no {H_MSG_ID} header")))?;
            Ok(Record::PlateRead {
                origin: origin()?,
                msg_id,
                obs: Box::new(obs),
            })
        }
        SUBJECT_SIGHTING => {
            let obs: FaceObservation = serde_json::from_slice(payload)
                .map_err(|e| BusError::Decode(format!("{subject}: {e}")))?;
            if obs.embedding.is_empty() || obs.embedding.iter().any(|v| !v.is_finite()) {
                return Err(BusError::Decode(format!(
                    "{subject}: empty or non-finite embedding"
                )));
            }
            let msg_id = header(H_MSG_ID)
                .ok_or_else(|| BusError::Decode(format!("{subject}: no {H_MSG_ID} header")))?;
            Ok(Record::Sighting {
                origin: origin()?,
                msg_id,
                obs: Box::new(obs),
            })
        }
        other => Err(BusError::Decode(format!("unknown subject {other:?}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base::Timestamp;

    #[test]
    fn event_ids_are_deterministic_and_content_bound() {
        let mut a = Event::new("c1", "line_cross", Timestamp::from_millis(1000));
        a.track_id = Some(4);
        let mut b = a.clone();
        assert_eq!(event_msg_id(&a), event_msg_id(&b));
        b.id = Some(99);
        assert_eq!(
            event_msg_id(&a),
            event_msg_id(&b),
            "the store id is not content"
        );
        b.track_id = Some(5);
        assert_ne!(event_msg_id(&a), event_msg_id(&b));
    }

    fn plate_obs() -> PlateObservation {
        PlateObservation {
            read: store::NewPlateRead {
                camera: "gate".into(),
                run_id: None,
                track_id: Some(7),
                first_seen: Timestamp::from_millis(1000),
                last_seen: Timestamp::from_millis(3000),
                plate: "AB123CD".into(),
                raw_text: "AB 123 CD".into(),
                format: Some("eu".into()),
                country: Some("eu".into()),
                confidence: 0.9,
                votes: 4,
                agreeing: 3,
                vehicle_type: Some("car".into()),
                colour: Some("white".into()),
                plate_crop: Some("aa".into()),
                vehicle_crop: Some("bb".into()),
                frame: Some("cc".into()),
                hotlist_hits: 0,
            },
            plate_box: base::BBox::new(10.0, 20.0, 110.0, 45.0),
            ts: Timestamp::from_millis(2000),
        }
    }

    #[test]
    fn plate_ids_are_deterministic_and_content_bound() {
        let a = plate_obs();
        let mut b = a.clone();
        assert_eq!(plate_msg_id(&a), plate_msg_id(&b));
        assert!(plate_msg_id(&a).starts_with("p-"));
        b.read.run_id = Some(3);
        b.read.hotlist_hits = 2;
        assert_eq!(
            plate_msg_id(&a),
            plate_msg_id(&b),
            "run and hit count are assigned centrally, not content"
        );
        b.read.plate = "AB123CE".into();
        assert_ne!(plate_msg_id(&a), plate_msg_id(&b));
        let mut c = a.clone();
        c.read.track_id = Some(8);
        assert_ne!(plate_msg_id(&a), plate_msg_id(&c));
    }

    #[test]
    fn plate_reads_round_trip_and_need_their_headers() {
        let obs = plate_obs();
        let json = serde_json::to_vec(&obs).unwrap();
        let id = plate_msg_id(&obs);
        let h = |n: &str| match n {
            H_ORIGIN => Some("w1/5".to_string()),
            H_MSG_ID => Some(id.clone()),
            _ => None,
        };
        match decode("kuzet.plate", h, &json).unwrap() {
            Record::PlateRead {
                origin,
                msg_id,
                obs: got,
            } => {
                assert_eq!(origin, "w1/5");
                assert_eq!(msg_id, id);
                assert_eq!(*got, obs);
            }
            r => panic!("{r:?}"),
        }
        let no_id = |n: &str| (n == H_ORIGIN).then(|| "w1/5".to_string());
        assert!(decode("kuzet.plate", no_id, &json).is_err());
        let no_origin = |n: &str| (n == H_MSG_ID).then(|| "p-1".to_string());
        assert!(decode("kuzet.plate", no_origin, &json).is_err());
        assert!(decode("kuzet.plate", h, b"{\"read\":1}").is_err());
    }

    #[test]
    fn decode_refuses_what_it_cannot_store() {
        let none = |_: &str| None;
        assert!(decode("kuzet.event", none, b"{}").is_err());
        assert!(decode("kuzet.other", none, b"{}").is_err());
        assert!(decode("kuzet.evidence", none, b"\xff\xd8").is_err());
        let e = Event::new("c1", "zone_enter", Timestamp::from_millis(5));
        let json = serde_json::to_vec(&e).unwrap();
        let h = |n: &str| match n {
            H_ORIGIN => Some("w/1".to_string()),
            H_MSG_ID => Some("e-1".to_string()),
            _ => None,
        };
        match decode("kuzet.event", h, &json).unwrap() {
            Record::Event {
                origin,
                msg_id,
                event,
            } => {
                assert_eq!((origin.as_str(), msg_id.as_str()), ("w/1", "e-1"));
                assert_eq!(event, e);
            }
            r => panic!("{r:?}"),
        }
    }
}
