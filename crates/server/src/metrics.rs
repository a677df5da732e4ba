//! The process-wide Prometheus recorder behind `GET /metrics`.

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;
use std::time::Duration;

/// Histogram buckets in seconds. Per-stage latencies range from sub-millisecond
/// (motion gating, tracking, rules) to around a second (CPU inference of a big
/// batch, or an fsync on a slow disk); beyond 2 s the exact value matters less
/// than the fact that the pipeline is far behind.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0,
];

/// How often histogram samples are folded into their buckets when nobody
/// scrapes: without upkeep, raw samples would accumulate without bound.
const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the global `metrics` recorder (once; later calls return the same
/// handle) and describes the metrics kuzet records, so `/metrics` carries
/// `# HELP`/`# TYPE` lines an operator can read.
///
/// If some other recorder was installed first (e.g. by an embedding program),
/// this logs a warning and returns the handle of a detached recorder: `/metrics`
/// then stays empty rather than the process failing.
pub fn install_metrics_recorder() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let builder = || {
                PrometheusBuilder::new()
                    .set_buckets(LATENCY_BUCKETS)
                    .expect("LATENCY_BUCKETS is not empty")
            };
            let handle = match builder().install_recorder() {
                Ok(h) => h,
                Err(e) => {
                    tracing::warn!(error = %e, "another metrics recorder is installed; /metrics will be empty");
                    builder().build_recorder().handle()
                }
            };
            describe();
            let upkeep = handle.clone();
            let spawned = std::thread::Builder::new()
                .name("kuzet-metrics-upkeep".into())
                .spawn(move || loop {
                    std::thread::sleep(UPKEEP_INTERVAL);
                    upkeep.run_upkeep();
                });
            if let Err(e) = spawned {
                tracing::warn!(error = %e, "cannot start metrics upkeep thread");
            }
            handle
        })
        .clone()
}

/// Descriptions of the metric names the pipeline records (see the pipeline
/// crate); describing them here keeps the documentation next to the exporter.
fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    describe_histogram!(
        "kuzet_stage_seconds",
        Unit::Seconds,
        "Time one frame (or batch) spent in a pipeline stage, by camera and stage \
         (decode, motion, preprocess, inference, postprocess, track, rules, store)."
    );
    describe_gauge!(
        "kuzet_fps",
        "Frames analysed per second over the last few seconds, by camera."
    );
    describe_gauge!(
        "kuzet_queue_depth",
        Unit::Count,
        "Frames waiting between decode and analysis, by camera; a full queue drops frames."
    );
    describe_counter!(
        "kuzet_frames_total",
        Unit::Count,
        "Frames analysed, by camera."
    );
    describe_counter!(
        "kuzet_frames_dropped_total",
        Unit::Count,
        "Frames dropped because analysis fell behind the stream, by camera."
    );
    describe_counter!(
        "kuzet_events_total",
        Unit::Count,
        "Events emitted by the rules, by camera and kind."
    );
}
