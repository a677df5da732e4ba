//! Who else is in a frame: the people and vehicles the post thread knows of,
//! carried with the frame to every thread that stores it (offence packages,
//! fire, plate reads, face matches), so each can mask the bystanders of its
//! own record without running a detector a second time.
//!
//! A stored picture is about a subject (an offending or read vehicle, a
//! matched face, a fire); everything else with an identity in it is a
//! bystander: every person's head, and the plate of every vehicle that is
//! not the subject. The subject's own plate stays readable — that is the
//! record — so a bystander region that overlaps the subject's plate box is
//! left out rather than hiding it.

use base::BBox;
use std::sync::Arc;
use store::privacy::{head_region, plate_region};

/// The people and vehicles of one frame, as boxes in frame pixels.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Bystanders {
    /// Person boxes: the detector's in this frame and the tracker's
    /// (coasting through a missed detection).
    people: Vec<BBox>,
    /// Vehicle boxes with their track id where tracked (detections have
    /// none).
    vehicles: Vec<(Option<u64>, BBox)>,
}

/// Shared with the frame: one per frame, read by several threads.
pub type SharedBystanders = Arc<Bystanders>;

/// What a stored picture is about: not masked.
#[derive(Clone, Copy, Debug, Default)]
pub enum Subject {
    /// Nothing in the picture is the record (a zone or crowd event's frame,
    /// a fire): every head and every plate is masked.
    #[default]
    Nobody,
    /// A vehicle: its track id (recognised in any frame of the track) and/or
    /// its box in this frame, and its plate box where one was read.
    Vehicle {
        track: Option<u64>,
        bbox: Option<BBox>,
        plate: Option<BBox>,
    },
    /// A matched face (frame pixels): the head that contains its centre is
    /// not masked.
    Face(BBox),
}

/// Two boxes of the same vehicle (a track and a detection of it, or two
/// class labels for one vehicle) overlap at least this much.
const SAME_VEHICLE_IOU: f32 = 0.5;

fn is_vehicle(label: &str) -> bool {
    config::PLATE_VEHICLE_LABELS.contains(&label)
}

fn overlaps(a: &BBox, b: &BBox) -> bool {
    a.x1 < b.x2 && b.x1 < a.x2 && a.y1 < b.y2 && b.y1 < a.y2
}

impl Bystanders {
    /// From the tracker's active tracks (id, label, box) and the detector's
    /// detections (label, box) of one frame. Labels other than people and
    /// plate-carrying vehicles are ignored.
    pub fn new<'a>(
        tracked: impl IntoIterator<Item = (u64, &'a str, BBox)>,
        detected: impl IntoIterator<Item = (&'a str, BBox)>,
    ) -> Self {
        let mut b = Bystanders::default();
        for (id, label, bbox) in tracked {
            b.add(Some(id), label, bbox);
        }
        for (label, bbox) in detected {
            b.add(None, label, bbox);
        }
        b
    }

    fn add(&mut self, track: Option<u64>, label: &str, bbox: BBox) {
        if !bbox.is_finite() {
            return;
        }
        if label == "person" {
            self.people.push(bbox);
        } else if is_vehicle(label) {
            // A detection of a tracked vehicle adds nothing (and must not
            // lose the track id that recognises the subject).
            if track.is_none()
                && self
                    .vehicles
                    .iter()
                    .any(|(_, v)| v.iou(&bbox) >= SAME_VEHICLE_IOU)
            {
                return;
            }
            self.vehicles.push((track, bbox));
        }
    }

    /// Whether there is nothing to mask in this frame.
    pub fn is_empty(&self) -> bool {
        self.people.is_empty() && self.vehicles.is_empty()
    }

    /// The regions to mask (frame pixels) in a picture of this frame about
    /// `subject`: every head but a matched face's, the plate band
    /// ([`plate_region`]) of every vehicle but the subject, minus any region
    /// over the subject's plate.
    pub fn regions(&self, subject: &Subject) -> Vec<BBox> {
        let mut out: Vec<BBox> = Vec::new();
        let face_centre = match subject {
            Subject::Face(f) => Some(f.center()),
            _ => None,
        };
        for p in &self.people {
            let h = head_region(*p);
            if let Some(c) = face_centre {
                if h.x1 <= c.x && c.x <= h.x2 && h.y1 <= c.y && c.y <= h.y2 {
                    continue;
                }
            }
            out.push(h);
        }
        let (track, own_box, plate) = match *subject {
            Subject::Vehicle { track, bbox, plate } => (track, bbox, plate),
            _ => (None, None, None),
        };
        // The subject's box in this frame: given, or its track's box here.
        let own: Vec<BBox> = own_box
            .into_iter()
            .chain(
                self.vehicles
                    .iter()
                    .filter(|(t, _)| t.is_some() && *t == track)
                    .map(|(_, b)| *b),
            )
            .collect();
        for (t, v) in &self.vehicles {
            let is_subject =
                (t.is_some() && *t == track) || own.iter().any(|o| o.iou(v) >= SAME_VEHICLE_IOU);
            if !is_subject {
                out.push(plate_region(*v));
            }
        }
        if let Some(p) = plate {
            out.retain(|r| !overlaps(r, &p));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(x1: f32, y1: f32, x2: f32, y2: f32) -> BBox {
        BBox::new(x1, y1, x2, y2)
    }

    #[test]
    fn subject_vehicle_keeps_its_plate_others_do_not() {
        let by = Bystanders::new(
            [
                (7, "car", b(0.0, 100.0, 200.0, 200.0)),
                (9, "truck", b(300.0, 50.0, 500.0, 250.0)),
            ],
            [
                ("car", b(2.0, 101.0, 199.0, 200.0)), // the tracked car again
                ("bus", b(600.0, 0.0, 800.0, 200.0)),
                ("person", b(250.0, 0.0, 290.0, 120.0)),
                ("dog", b(0.0, 0.0, 10.0, 10.0)),
            ],
        );
        assert_eq!(by.vehicles.len(), 3, "the duplicate detection is dropped");
        let all = by.regions(&Subject::Nobody);
        assert_eq!(all.len(), 4, "one head and three plate bands: {all:?}");
        // By track id (a frame where the box has moved) ...
        let r = by.regions(&Subject::Vehicle {
            track: Some(7),
            bbox: None,
            plate: None,
        });
        assert_eq!(r.len(), 3);
        assert!(
            r.iter().all(|x| x.x1 > 150.0),
            "car 7's band is kept: {r:?}"
        );
        // ... or by box alone (a still image has no tracks).
        let r = by.regions(&Subject::Vehicle {
            track: None,
            bbox: Some(b(610.0, 5.0, 800.0, 200.0)),
            plate: None,
        });
        assert_eq!(r.len(), 3);
        assert!(
            r.iter().all(|x| x.x2 < 600.0),
            "the bus's band is kept: {r:?}"
        );
        // A region over the subject's plate is dropped: the record wins.
        let r = by.regions(&Subject::Vehicle {
            track: Some(9),
            bbox: None,
            plate: Some(b(150.0, 170.0, 180.0, 180.0)),
        });
        assert_eq!(r.len(), 2, "{r:?}");
    }

    #[test]
    fn matched_face_is_not_masked_other_heads_are() {
        let by = Bystanders::new(
            [(1, "person", b(0.0, 0.0, 100.0, 300.0))],
            [("person", b(200.0, 0.0, 300.0, 300.0))],
        );
        let r = by.regions(&Subject::Face(b(30.0, 10.0, 70.0, 50.0)));
        assert_eq!(r.len(), 1);
        assert!(r[0].x1 > 150.0);
        assert_eq!(by.regions(&Subject::Nobody).len(), 2);
        assert!(Bystanders::new([], [("cat", b(0.0, 0.0, 1.0, 1.0))]).is_empty());
    }
}
