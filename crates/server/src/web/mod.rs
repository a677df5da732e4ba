//! The situation centre: the operators' single-page web app, and the few
//! read-only endpoints it needs beyond the event API.
//!
//! The app is plain ES modules and CSS under `crates/server/assets/`, compiled
//! into the binary with `include_bytes!`: no build step, no CDN, works offline
//! (see `docs/webapp.md`). It talks to the server only through the public HTTP
//! API.
//!
//! | Route | Answer |
//! |---|---|
//! | `GET /` | the app (`index.html`) |
//! | `GET /assets/{path}` | app files with their content type, `Cache-Control: no-cache` and an `ETag` |
//! | `GET /api/cameras/{id}/snapshot` | JPEG of the camera's latest analysed frame; 404 when there is none yet |
//! | `GET /api/cameras/{id}/overlay` | latest tracked boxes and the configured zones/lines, normalised 0..1 |
//! | `GET /api/map/cameras` | cameras with a configured location, as a GeoJSON `FeatureCollection` |

pub(crate) mod assets;
pub(crate) mod live;

pub(crate) use assets::{asset, index, transparency_page};
pub(crate) use live::{map_cameras, overlay, snapshot};
pub use live::{OverlayObject, SnapshotFn, SnapshotFrame};

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

/// A camera's last encoded snapshot: (frame time in epoch ms, JPEG bytes).
pub(crate) type CachedJpeg = (i64, Arc<Vec<u8>>);

/// The web app's share of the server state.
#[derive(Default)]
pub(crate) struct WebState {
    /// Latest analysed frame per camera, set by [`crate::AppState::with_snapshots`].
    pub snapshots: OnceLock<SnapshotFn>,
    /// The last JPEG encoded per camera, keyed by frame time, so many viewers
    /// of one camera cost one encode per frame.
    pub jpeg_cache: Mutex<HashMap<String, CachedJpeg>>,
}
