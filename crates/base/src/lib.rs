//! Shared vocabulary of kuzet.
//!
//! Every other crate depends on this one and on nothing upstream of it, so the
//! types here are the contract between stages: a [`Frame`] leaves `media`, a
//! [`Detection`] leaves `vision`, a track leaves `track`, an [`Event`] leaves
//! `analytics` and is persisted by `store`. Keeping them in one small crate keeps
//! dependencies pointing one way.

pub mod clock;
pub mod env;
pub mod event;
pub mod frame;
pub mod geom;
pub mod labels_csv;
pub mod plate_text;
pub mod sharing;
pub mod shutdown;
pub mod status;
pub mod url;

pub use clock::{Clock, SimulatedClock, SystemClock, Timestamp};
pub use event::{Event, EventKind};
pub use frame::{Detection, Frame};
pub use geom::{BBox, Point, Polygon};
pub use shutdown::Shutdown;
pub use status::{CameraState, CameraStatus};
