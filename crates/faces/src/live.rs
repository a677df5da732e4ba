//! Live matching on person tracks: per-track voting, and grouping of
//! retrospective search hits into appearances.
//!
//! A single frame can fool a face model (motion blur, a half-turned head, a
//! look-alike at one angle), and operators stop trusting a system that cries
//! wolf. So a track alerts for a person only when several of its faces
//! (sampled at different moments) match that same person, and more of them
//! match that person than anyone else. Each (track, person) alerts once.

use crate::matching::{Candidate, Decision, SearchResult};
use base::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// How a track's faces are turned into one decision.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VoteConfig {
    /// Faces of one track that must match the same person before it alerts.
    /// 2 by default; snapshot cameras (one still per event) need 1.
    pub min_votes: u32,
}

impl Default for VoteConfig {
    fn default() -> Self {
        VoteConfig { min_votes: 2 }
    }
}

/// One matching face of a track, kept as the alert's evidence candidate.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Vote {
    pub candidate: Candidate,
    pub ts: Timestamp,
    /// Sighting id of the face, when stored.
    pub sighting: Option<i64>,
    /// Evidence hash of the face crop, when saved.
    pub crop: Option<String>,
}

/// A track's decision to alert for one person.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrackMatch {
    pub camera: String,
    pub track_id: u64,
    /// Faces of the track that matched this person.
    pub votes: u32,
    /// Faces of the track searched so far.
    pub faces: u32,
    /// The best-scoring matching face (its candidate carries score, margin,
    /// list and person).
    pub best: Vote,
    /// Sighting ids of every matching face.
    pub sightings: Vec<i64>,
}

#[derive(Default)]
struct PersonVotes {
    votes: u32,
    best: Option<Vote>,
    sightings: Vec<i64>,
}

#[derive(Default)]
struct TrackState {
    faces: u32,
    persons: HashMap<i64, PersonVotes>,
    alerted: Vec<i64>,
}

/// Votes per live track, keyed by camera and track id.
#[derive(Default)]
pub struct TrackVoter {
    cfg: VoteConfig,
    tracks: HashMap<(String, u64), TrackState>,
}

impl TrackVoter {
    pub fn new(cfg: VoteConfig) -> Self {
        TrackVoter {
            cfg,
            tracks: HashMap::new(),
        }
    }

    /// Adds one searched face of a track. Returns the alert when this face
    /// completes a person's vote.
    pub fn observe(
        &mut self,
        camera: &str,
        track_id: u64,
        ts: Timestamp,
        result: &SearchResult,
        sighting: Option<i64>,
        crop: Option<String>,
    ) -> Option<TrackMatch> {
        let st = self
            .tracks
            .entry((camera.to_owned(), track_id))
            .or_default();
        st.faces += 1;
        let Decision::Match { person_id, .. } = &result.decision else {
            return None;
        };
        let cand = result
            .candidates
            .iter()
            .find(|c| c.person_id == *person_id)?
            .clone();
        let pv = st.persons.entry(*person_id).or_default();
        pv.votes += 1;
        pv.sightings.extend(sighting);
        let vote = Vote {
            candidate: cand,
            ts,
            sighting,
            crop,
        };
        if pv
            .best
            .as_ref()
            .is_none_or(|b| vote.candidate.score > b.candidate.score)
        {
            pv.best = Some(vote);
        }
        let votes = pv.votes;
        let rival = st
            .persons
            .iter()
            .filter(|(p, _)| *p != person_id)
            .map(|(_, v)| v.votes)
            .max()
            .unwrap_or(0);
        if votes < self.cfg.min_votes.max(1) || votes <= rival || st.alerted.contains(person_id) {
            return None;
        }
        st.alerted.push(*person_id);
        let pv = &st.persons[person_id];
        Some(TrackMatch {
            camera: camera.to_owned(),
            track_id,
            votes,
            faces: st.faces,
            best: pv.best.clone()?,
            sightings: pv.sightings.clone(),
        })
    }

    /// Forgets a track that ended.
    pub fn end(&mut self, camera: &str, track_id: u64) {
        self.tracks.remove(&(camera.to_owned(), track_id));
    }

    /// Tracks with state (for tests and metrics).
    pub fn len(&self) -> usize {
        self.tracks.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tracks.is_empty()
    }
}

/// One sighting found by a retrospective search.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SightingHit {
    pub sighting: store::Sighting,
    /// Cosine similarity to the probe.
    pub score: f32,
}

/// Consecutive sightings of one person on one camera: what an investigator
/// wants to see ("on camera X from 10:02 to 10:05"), instead of hundreds of
/// near-identical frames.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Appearance {
    pub camera: String,
    pub first_seen: Timestamp,
    pub last_seen: Timestamp,
    pub best_score: f32,
    /// The best-scoring sighting (its crop is the appearance's thumbnail).
    pub best: store::Sighting,
    pub sightings: usize,
    pub track_ids: Vec<u64>,
    /// Run of the tracks (track ids restart with each run).
    #[serde(skip)]
    run_id: Option<i64>,
}

/// Groups hits into appearances: same camera, and either the same track (of
/// the same run) or at most `max_gap` apart in time. Sorted by best score,
/// best first.
pub fn group_appearances(mut hits: Vec<SightingHit>, max_gap_ms: i64) -> Vec<Appearance> {
    hits.sort_by(|a, b| {
        a.sighting
            .camera
            .cmp(&b.sighting.camera)
            .then(a.sighting.ts.cmp(&b.sighting.ts))
            .then(a.sighting.id.cmp(&b.sighting.id))
    });
    let mut out: Vec<Appearance> = Vec::new();
    for h in hits {
        let s = &h.sighting;
        let joins = out.last().is_some_and(|a| {
            a.camera == s.camera
                && (s.ts.millis() - a.last_seen.millis() <= max_gap_ms
                    || (a.run_id == s.run_id
                        && s.track_id.is_some_and(|t| a.track_ids.contains(&t))))
        });
        if joins {
            let a = out.last_mut().expect("checked");
            a.last_seen = a.last_seen.max(s.ts);
            a.sightings += 1;
            if let Some(t) = s.track_id {
                if !a.track_ids.contains(&t) {
                    a.track_ids.push(t);
                }
            }
            if h.score > a.best_score {
                a.best_score = h.score;
                a.best = h.sighting;
            }
        } else {
            out.push(Appearance {
                camera: s.camera.clone(),
                first_seen: s.ts,
                last_seen: s.ts,
                best_score: h.score,
                track_ids: s.track_id.into_iter().collect(),
                sightings: 1,
                run_id: s.run_id,
                best: h.sighting,
            });
        }
    }
    out.sort_by(|a, b| {
        b.best_score
            .total_cmp(&a.best_score)
            .then(a.first_seen.cmp(&b.first_seen))
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use store::WatchlistCategory;

    fn result(person: Option<i64>, score: f32) -> SearchResult {
        let cand = |p: i64| Candidate {
            person_id: p,
            person_name: format!("p{p}"),
            watchlist: "w".into(),
            category: WatchlistCategory::Wanted,
            priority: 0,
            threshold: 0.45,
            score,
            template_id: p * 10,
            margin: Some(0.2),
            is_match: true,
        };
        match person {
            Some(p) => SearchResult {
                candidates: vec![cand(p)],
                decision: Decision::Match {
                    person_id: p,
                    person_name: format!("p{p}"),
                    watchlist: "w".into(),
                    score,
                },
            },
            None => SearchResult {
                candidates: vec![],
                decision: Decision::NoMatch,
            },
        }
    }

    fn ts(ms: i64) -> Timestamp {
        Timestamp::from_millis(ms)
    }

    #[test]
    fn one_matching_frame_never_alerts() {
        let mut v = TrackVoter::new(VoteConfig::default());
        assert!(v
            .observe("c", 1, ts(0), &result(Some(5), 0.9), Some(1), None)
            .is_none());
        for i in 1..10 {
            assert!(v
                .observe("c", 1, ts(i * 100), &result(None, 0.1), None, None)
                .is_none());
        }
        // Another track's match does not count for track 1.
        assert!(v
            .observe("c", 2, ts(0), &result(Some(5), 0.9), None, None)
            .is_none());
    }

    #[test]
    fn two_votes_alert_once_with_the_best_face() {
        let mut v = TrackVoter::new(VoteConfig::default());
        assert!(v
            .observe(
                "c",
                1,
                ts(0),
                &result(Some(5), 0.6),
                Some(1),
                Some("a".into())
            )
            .is_none());
        let m = v
            .observe(
                "c",
                1,
                ts(500),
                &result(Some(5), 0.8),
                Some(2),
                Some("b".into()),
            )
            .expect("second vote alerts");
        assert_eq!((m.votes, m.faces, m.track_id), (2, 2, 1));
        assert_eq!(m.best.candidate.score, 0.8);
        assert_eq!(m.best.crop.as_deref(), Some("b"));
        assert_eq!(m.sightings, vec![1, 2]);
        assert!(v
            .observe("c", 1, ts(900), &result(Some(5), 0.9), Some(3), None)
            .is_none());
        v.end("c", 1);
        assert!(v.is_empty());
    }

    #[test]
    fn conflicting_votes_need_a_majority() {
        let mut v = TrackVoter::new(VoteConfig::default());
        v.observe("c", 1, ts(0), &result(Some(5), 0.6), None, None);
        v.observe("c", 1, ts(1), &result(Some(6), 0.6), None, None);
        v.observe("c", 1, ts(2), &result(Some(6), 0.6), None, None);
        // 6 leads 2:1 and has 2 votes: alert for 6, never for the minority 5.
        assert!(v
            .observe("c", 1, ts(3), &result(Some(5), 0.6), None, None)
            .is_none());
        let mut v = TrackVoter::new(VoteConfig::default());
        v.observe("c", 1, ts(0), &result(Some(5), 0.6), None, None);
        let m = v.observe("c", 1, ts(1), &result(Some(5), 0.6), None, None);
        assert_eq!(m.unwrap().best.candidate.person_id, 5);
    }

    #[test]
    fn single_vote_mode_for_snapshot_cameras() {
        let mut v = TrackVoter::new(VoteConfig { min_votes: 1 });
        assert!(v
            .observe("c", 1, ts(0), &result(Some(5), 0.6), None, None)
            .is_some());
    }

    fn hit(id: i64, camera: &str, ms: i64, track: u64, score: f32) -> SightingHit {
        SightingHit {
            sighting: store::Sighting {
                id,
                camera: camera.into(),
                ts: ts(ms),
                run_id: Some(1),
                track_id: Some(track),
                model: "m".into(),
                bbox: base::BBox::new(0.0, 0.0, 1.0, 1.0),
                quality: 1.0,
                crop: None,
                matched_person: None,
            },
            score,
        }
    }

    #[test]
    fn appearances_group_consecutive_sightings_per_camera() {
        let a = group_appearances(
            vec![
                hit(1, "a", 0, 1, 0.5),
                hit(2, "a", 1_000, 1, 0.7),
                hit(3, "b", 500, 9, 0.9),
                hit(4, "a", 100_000, 2, 0.6),
                // Same track long after: still one appearance.
                hit(5, "a", 200_000, 2, 0.55),
            ],
            30_000,
        );
        assert_eq!(a.len(), 3);
        assert_eq!((a[0].camera.as_str(), a[0].sightings), ("b", 1));
        assert_eq!((a[1].best.id, a[1].sightings), (2, 2));
        assert_eq!(a[1].last_seen, ts(1_000));
        assert_eq!((a[2].sightings, a[2].track_ids.clone()), (2, vec![2]));
        assert_eq!(a[2].last_seen, ts(200_000));
    }
}
