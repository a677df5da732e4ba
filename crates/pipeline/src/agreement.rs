//! The time window of a camera owner's data-sharing agreement (issue #7).
//!
//! Config validation already keeps analytics the agreement does not allow
//! from being configured at all; what remains at run time is *when*: a
//! camera is not started outside its agreement's window, and a running one
//! is stopped when the window closes, with the reason in its status, so an
//! expired agreement cannot keep a private business's camera under analysis
//! until someone notices.

use base::{CameraState, Clock, Shutdown, Timestamp};
use media::SharedStatus;
use std::sync::Arc;
use std::time::Duration;

/// How often a watcher looks at the clock. An agreement ends at a date, so
/// a second of slack is immaterial, and the watcher costs nothing between.
const POLL: Duration = Duration::from_millis(500);

/// Stops one camera when its agreement ends.
pub(crate) struct AgreementWatch {
    pub until: Timestamp,
    /// The reason written into the camera's status.
    pub reason: String,
}

impl AgreementWatch {
    /// Watches on its own thread until the agreement ends (then triggers
    /// `camera`, the camera's own shutdown), the engine shuts down, or the
    /// source has ended by itself.
    pub(crate) fn spawn(
        self,
        camera_id: String,
        clock: Arc<dyn Clock>,
        engine: Shutdown,
        camera: Shutdown,
        status: SharedStatus,
    ) -> std::thread::JoinHandle<()> {
        std::thread::Builder::new()
            .name(format!("dsa-{camera_id}"))
            .spawn(move || self.run(&camera_id, clock, engine, camera, status))
            .expect("cannot start an agreement watcher thread")
    }

    fn run(
        self,
        camera_id: &str,
        clock: Arc<dyn Clock>,
        engine: Shutdown,
        camera: Shutdown,
        status: SharedStatus,
    ) {
        loop {
            if camera.is_triggered() || source_ended(&status) {
                return;
            }
            if clock.now() >= self.until {
                tracing::warn!(camera = camera_id, reason = %self.reason, "stopping the camera: its data-sharing agreement has ended");
                camera.trigger();
                // The source marks itself stopped as it leaves; the reason
                // goes in after, so it is not overwritten.
                for _ in 0..40 {
                    if source_ended(&status) {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
                let mut st = status.lock();
                st.state = CameraState::Stopped;
                st.last_error = Some(self.reason.clone());
                return;
            }
            if engine.wait_timeout(POLL) {
                camera.trigger();
                return;
            }
        }
    }
}

fn source_ended(status: &SharedStatus) -> bool {
    matches!(
        status.lock().state,
        CameraState::Finished | CameraState::Failed | CameraState::Stopped
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use base::SimulatedClock;

    fn status() -> SharedStatus {
        let spec = media::SourceSpec::parse("rtsp://10.0.0.5/stream").unwrap();
        media::new_status("shop-1", "shop-1", &spec)
    }

    #[test]
    fn stops_the_camera_when_the_agreement_ends_on_the_clock() {
        let clock = Arc::new(SimulatedClock::new(Timestamp::from_millis(1_000_000)));
        let (engine, camera, st) = (Shutdown::new(), Shutdown::new(), status());
        st.lock().state = CameraState::Online;
        let watch = AgreementWatch {
            until: Timestamp::from_millis(1_060_000),
            reason: "data-sharing agreement A-7 ended".into(),
        };
        let h = watch.spawn(
            "shop-1".into(),
            clock.clone(),
            engine.clone(),
            camera.clone(),
            st.clone(),
        );
        std::thread::sleep(Duration::from_millis(700));
        assert!(!camera.is_triggered(), "stopped before its end");
        clock.advance(Duration::from_secs(60));
        h.join().unwrap();
        assert!(camera.is_triggered());
        assert!(!engine.is_triggered(), "only this camera stops");
        let st = st.lock();
        assert_eq!(st.state, CameraState::Stopped);
        assert_eq!(
            st.last_error.as_deref(),
            Some("data-sharing agreement A-7 ended")
        );
    }

    #[test]
    fn leaves_with_the_engine_or_the_source() {
        let clock = Arc::new(SimulatedClock::new(Timestamp::from_millis(0)));
        let watch = || AgreementWatch {
            until: Timestamp::from_millis(1_000_000),
            reason: String::new(),
        };
        let (engine, camera, st) = (Shutdown::new(), Shutdown::new(), status());
        let h = watch().spawn(
            "a".into(),
            clock.clone(),
            engine.clone(),
            camera.clone(),
            st,
        );
        engine.trigger();
        h.join().unwrap();
        assert!(camera.is_triggered());

        let (engine, camera, st) = (Shutdown::new(), Shutdown::new(), status());
        let h = watch().spawn("b".into(), clock, engine, camera.clone(), st.clone());
        st.lock().state = CameraState::Finished;
        h.join().unwrap();
        assert!(!camera.is_triggered());
        assert_eq!(st.lock().last_error, None);
    }
}
