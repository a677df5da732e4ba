//! Where a panning camera points: pan–tilt–zoom reports for fire bearings.
//!
//! Fire-watch towers mostly carry PTZ cameras that patrol the horizon, so a
//! detection's bearing needs the azimuth the camera had when the frame was
//! taken, not a configured heading. Whatever drives or polls the camera (its
//! ONVIF PTZ status, a patrol controller) reports the azimuth of the image
//! centre, and the horizontal field of view when it zooms, with the time it
//! holds from (`POST /api/cameras/{id}/ptz`); the fire stage takes for each
//! alarm the latest report made at or before the time of the frame the
//! alarm's region was measured on. Reports are kept per camera, a few dozen
//! deep, so one that arrives a little late still applies to the frames after
//! its time.

use crate::PipelineError;
use base::Timestamp;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;

/// One reported position of a camera.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PtzReport {
    /// Compass azimuth of the image centre, degrees clockwise from true
    /// north, 0..360.
    pub azimuth_deg: f64,
    /// Horizontal field of view, degrees, when the report gives one.
    pub hfov_deg: Option<f64>,
    /// From when the camera pointed there.
    pub at: Timestamp,
}

impl PtzReport {
    /// A checked report: the azimuth folded into 0..360, the field of view
    /// in (0, 180).
    pub fn new(
        azimuth_deg: f64,
        hfov_deg: Option<f64>,
        at: Timestamp,
    ) -> Result<PtzReport, PipelineError> {
        if !azimuth_deg.is_finite() {
            return Err(PipelineError::Invalid(format!(
                "azimuth_deg {azimuth_deg} is not a number of degrees"
            )));
        }
        if let Some(v) = hfov_deg {
            if !(v > 0.0 && v < 180.0) {
                return Err(PipelineError::Invalid(format!(
                    "hfov_deg {v} must be in (0, 180)"
                )));
            }
        }
        Ok(PtzReport {
            azimuth_deg: azimuth_deg.rem_euclid(360.0),
            hfov_deg,
            at,
        })
    }
}

/// Reports kept per camera: enough for a patrol's stops over the minutes a
/// fire alarm takes to confirm.
const KEEP: usize = 32;

/// The latest reports of every camera, shared by the API (writer) and the
/// fire stage (reader).
#[derive(Clone, Debug, Default)]
pub struct PtzReports {
    inner: Arc<Mutex<HashMap<String, Vec<PtzReport>>>>,
}

impl PtzReports {
    /// Records a report; reports may arrive out of order.
    pub fn record(&self, camera: &str, r: PtzReport) {
        let mut all = self.inner.lock();
        let list = all.entry(camera.to_string()).or_default();
        let at = list.partition_point(|x| x.at <= r.at);
        list.insert(at, r);
        if list.len() > KEEP {
            list.remove(0);
        }
    }

    /// The position in force at `ts`: the latest report made at or before it.
    pub fn at(&self, camera: &str, ts: Timestamp) -> Option<PtzReport> {
        let all = self.inner.lock();
        let list = all.get(camera)?;
        let n = list.partition_point(|x| x.at <= ts);
        n.checked_sub(1).map(|i| list[i])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: i64) -> Timestamp {
        Timestamp::from_millis(ms)
    }

    #[test]
    fn a_frame_gets_the_position_reported_at_or_before_it() {
        let ptz = PtzReports::default();
        assert_eq!(ptz.at("tower", at(5_000)), None);
        ptz.record("tower", PtzReport::new(90.0, None, at(1_000)).unwrap());
        // A late report of an earlier move still lands in its place.
        ptz.record(
            "tower",
            PtzReport::new(200.0, Some(20.0), at(9_000)).unwrap(),
        );
        ptz.record("tower", PtzReport::new(-30.0, None, at(4_000)).unwrap());
        assert_eq!(ptz.at("tower", at(500)), None, "before the first report");
        assert_eq!(ptz.at("tower", at(1_000)).unwrap().azimuth_deg, 90.0);
        let mid = ptz.at("tower", at(8_999)).unwrap();
        assert_eq!((mid.azimuth_deg, mid.hfov_deg), (330.0, None));
        assert_eq!(ptz.at("tower", at(60_000)).unwrap().hfov_deg, Some(20.0));
        assert_eq!(ptz.at("other", at(60_000)), None);
        for k in 0..40 {
            ptz.record(
                "tower",
                PtzReport::new(k as f64, None, at(10_000 + k)).unwrap(),
            );
        }
        assert_eq!(ptz.at("tower", at(1_000)), None, "the oldest fall out");
        assert_eq!(ptz.at("tower", at(10_039)).unwrap().azimuth_deg, 39.0);
    }

    #[test]
    fn bad_reports_are_refused_with_the_reason() {
        let e = PtzReport::new(f64::NAN, None, at(0))
            .unwrap_err()
            .to_string();
        assert!(e.contains("azimuth_deg"), "{e}");
        let e = PtzReport::new(10.0, Some(0.0), at(0))
            .unwrap_err()
            .to_string();
        assert!(e.contains("hfov_deg"), "{e}");
        assert_eq!(
            PtzReport::new(370.0, None, at(0)).unwrap().azimuth_deg,
            10.0
        );
    }
}
