//! ByteTrack-style multi-object tracking for kuzet.
//!
//! [`Tracker`] turns each analysed frame's [`Detection`](base::Detection)s into
//! stable track IDs with ByteTrack's two-stage association (high-score
//! detections first, then low-score ones to keep partially occluded objects),
//! a SORT constant-velocity Kalman filter stepped by real elapsed time, and an
//! optimal assignment solver ([`assign`]).
//!
//! Two departures from the reference implementation serve CCTV analytics:
//! - **time, not frames**: cameras are analysed at different and varying
//!   rates, so motion is in pixels per second and `max_lost` is a duration;
//! - **partial coverage**: with motion gating the detector runs only where the
//!   picture changed. [`Coverage`] tells the tracker where it looked, and tracks
//!   elsewhere are frozen rather than aged, so a static scene costs almost
//!   nothing and parked cars keep their IDs across quiet hours.
//!
//! Public IDs are handed out at confirmation, so a one-frame false positive
//! never consumes an ID and ID counts mean "objects seen".

pub mod assign;
mod kalman;
mod tracker;

pub use kalman::KalmanBox;
pub use tracker::{
    BestCrop, Coverage, Track, TrackSnapshot, TrackState, TrackUpdate, Tracker, TrackerConfig,
};
