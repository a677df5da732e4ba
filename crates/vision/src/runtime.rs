//! ONNX Runtime: finding the shared library, one process-wide environment, and
//! sessions created only from manifest entries whose file hash and tensor
//! shapes have been checked, so a wrong or corrupted model fails at start-up
//! with a message rather than producing silent garbage detections.

use crate::error::VisionError;
use crate::manifest::{sha256_bytes, ModelEntry, ModelManifest};
use ort::environment::Environment;
use ort::ep::ExecutionProvider as _;
use ort::session::builder::{GraphOptimizationLevel, SessionBuilder};
use ort::session::Session;
use ort::value::{TensorElementType, ValueType};
use serde::Deserialize;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::SystemTime;
use tracing::{debug, info, warn};

/// Where inference runs. Cuda/TensorRt fall back to CPU, with a warning, when
/// the loaded libonnxruntime lacks them (the default PyPI build is CPU-only),
/// so one config works on every host.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ExecutionProvider {
    #[default]
    Cpu,
    Cuda,
    #[serde(rename = "tensorrt")]
    TensorRt,
}

impl std::str::FromStr for ExecutionProvider {
    type Err = VisionError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "cpu" => Ok(Self::Cpu),
            "cuda" => Ok(Self::Cuda),
            "tensorrt" | "trt" => Ok(Self::TensorRt),
            _ => Err(VisionError::Config(format!(
                "unknown execution provider `{s}` (cpu, cuda, tensorrt)"
            ))),
        }
    }
}

impl std::fmt::Display for ExecutionProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Cpu => "cpu",
            Self::Cuda => "cuda",
            Self::TensorRt => "tensorrt",
        })
    }
}

/// Per-session runtime settings.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct SessionConfig {
    pub provider: ExecutionProvider,
    /// GPU ordinal for Cuda/TensorRt.
    pub device_id: i32,
    /// Threads inside one operator; 0 = ONNX Runtime's default (all cores).
    /// Several cameras' detectors share the CPU, so this is worth capping.
    pub intra_threads: usize,
    /// Let idle ONNX Runtime worker threads spin-wait for the next operator.
    /// Spinning wins a little latency on an otherwise idle machine, but in a
    /// pipeline the decode and post-processing threads need those cycles, so
    /// it is off by default.
    pub spinning: bool,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            provider: ExecutionProvider::Cpu,
            device_id: 0,
            intra_threads: 0,
            spinning: false,
        }
    }
}

static ENV: OnceLock<Environment> = OnceLock::new();
static ENV_INIT: Mutex<()> = Mutex::new(());

/// Candidate locations of libonnxruntime, in search order.
fn dylib_candidates() -> Vec<PathBuf> {
    let mut c = Vec::new();
    if let Some(p) = std::env::var_os("ORT_DYLIB_PATH").filter(|p| !p.is_empty()) {
        c.push(PathBuf::from(p));
    }
    c.push(base::env::workspace_root().join(".deps/onnxruntime/libonnxruntime.so"));
    if let Some(dir) = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(Path::to_path_buf))
    {
        // target/release/kuzet -> <workspace>/.deps/...
        c.push(dir.join("../../.deps/onnxruntime/libonnxruntime.so"));
        // an installed binary shipped with the library beside it
        c.push(dir.join("libonnxruntime.so"));
    }
    c
}

/// The first existing candidate, or an error listing them all.
fn locate_dylib(candidates: &[PathBuf]) -> Result<&PathBuf, VisionError> {
    candidates.iter().find(|p| p.is_file()).ok_or_else(|| {
        let tried = candidates
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ");
        VisionError::RuntimeNotFound { tried }
    })
}

/// Loads libonnxruntime and creates the process-wide environment. Idempotent
/// and thread-safe; every session constructor calls it, so callers only need
/// it to fail early with a clear message.
///
/// Search order: `ORT_DYLIB_PATH`, `<workspace>/.deps/onnxruntime/libonnxruntime.so`,
/// `<exe dir>/../../.deps/onnxruntime/libonnxruntime.so`, `<exe dir>/libonnxruntime.so`.
pub fn init_runtime() -> Result<(), VisionError> {
    environment().map(|_| ())
}

pub(crate) fn environment() -> Result<&'static Environment, VisionError> {
    if let Some(e) = ENV.get() {
        return Ok(e);
    }
    let _guard = ENV_INIT.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(e) = ENV.get() {
        return Ok(e);
    }
    let candidates = dylib_candidates();
    let path = locate_dylib(&candidates)?;
    if let Some(env_path) = std::env::var_os("ORT_DYLIB_PATH").filter(|p| !p.is_empty()) {
        if Path::new(&env_path) != path {
            warn!(ORT_DYLIB_PATH = ?env_path, using = %path.display(), "ORT_DYLIB_PATH does not exist; using a fallback");
        }
    }
    let load_err = |reason: String| VisionError::RuntimeLoad {
        path: path.clone(),
        reason,
    };
    let env = ort::init_from(path.as_path())
        .map_err(|e| load_err(e.to_string()))?
        .with_name("kuzet")
        .build()
        .map_err(|e| load_err(e.to_string()))?;
    info!(path = %path.display(), "ONNX Runtime loaded");
    Ok(ENV.get_or_init(|| env))
}

/// (path) -> (size, mtime, sha256) of files already hashed in this process.
type HashCache = HashMap<PathBuf, (u64, Option<SystemTime>, String)>;
static VERIFIED: OnceLock<Mutex<HashCache>> = OnceLock::new();

/// Reads a model file after checking its size and sha256 against the manifest.
/// The hash is remembered per process (keyed by path, size and mtime) so that
/// creating one session per camera does not re-hash the file each time.
pub fn verified_model_bytes(
    key: &str,
    entry: &ModelEntry,
    models_dir: &Path,
) -> Result<Vec<u8>, VisionError> {
    let path = entry.path(models_dir);
    let md = match std::fs::metadata(&path) {
        Ok(md) => md,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(VisionError::ModelFile(format!(
                "model `{key}`: {} is missing (set KUZET_MODELS to the models folder); {}",
                path.display(),
                entry.how_to_get()
            )))
        }
        Err(e) => return Err(VisionError::io(&path, e)),
    };
    if md.len() != entry.bytes {
        return Err(VisionError::ModelFile(format!(
            "model `{key}`: {} is {} bytes, the manifest says {}: refusing to load it; {}",
            path.display(),
            md.len(),
            entry.bytes,
            entry.how_to_get()
        )));
    }
    let bytes = std::fs::read(&path).map_err(|e| VisionError::io(&path, e))?;
    let mtime = md.modified().ok();
    let cache = VERIFIED.get_or_init(Default::default);
    let cached = cache
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(&path)
        .filter(|(len, t, _)| *len == md.len() && *t == mtime)
        .map(|(_, _, h)| h.clone());
    let hash = match cached {
        Some(h) => h,
        None => {
            let h = sha256_bytes(&bytes);
            cache
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(path.clone(), (md.len(), mtime, h.clone()));
            h
        }
    };
    if !hash.eq_ignore_ascii_case(&entry.sha256) {
        return Err(VisionError::ModelFile(format!(
            "model `{key}`: {} has sha256 {hash}, the manifest says {}: refusing to load it; {}",
            path.display(),
            entry.sha256,
            entry.how_to_get()
        )));
    }
    Ok(bytes)
}

fn register_provider(
    builder: SessionBuilder,
    cfg: &SessionConfig,
) -> Result<(SessionBuilder, ExecutionProvider), VisionError> {
    let mut builder = builder;
    if cfg.provider == ExecutionProvider::TensorRt {
        if ort::ep::TensorRT::is_available().unwrap_or(false) {
            let eps = [
                ort::ep::TensorRT::default()
                    .with_device_id(cfg.device_id)
                    .build()
                    .error_on_failure(),
                // Nodes TensorRT cannot take run on CUDA rather than CPU.
                ort::ep::CUDA::default()
                    .with_device_id(cfg.device_id)
                    .build(),
            ];
            match builder.with_execution_providers(eps) {
                Ok(b) => return Ok((b, ExecutionProvider::TensorRt)),
                Err(e) => {
                    warn!(error = %e, "TensorRT execution provider failed to register; trying CUDA");
                    builder = e.recover();
                }
            }
        } else {
            warn!("TensorRT execution provider not in this ONNX Runtime build; trying CUDA");
        }
    }
    if matches!(
        cfg.provider,
        ExecutionProvider::Cuda | ExecutionProvider::TensorRt
    ) {
        if ort::ep::CUDA::is_available().unwrap_or(false) {
            let ep = ort::ep::CUDA::default()
                .with_device_id(cfg.device_id)
                .build()
                .error_on_failure();
            match builder.with_execution_providers([ep]) {
                Ok(b) => return Ok((b, ExecutionProvider::Cuda)),
                Err(e) => {
                    warn!(error = %e, "CUDA execution provider failed to register; falling back to CPU");
                    builder = e.recover();
                }
            }
        } else {
            warn!("CUDA execution provider not in this ONNX Runtime build (CPU-only library?); falling back to CPU");
        }
    }
    Ok((builder, ExecutionProvider::Cpu))
}

/// Dimensions made symbolic by an in-memory patch: the manifest's fixed
/// values there are not required of the session.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DynamicDims {
    /// Indices into the input's shape.
    pub input: Vec<usize>,
    /// Indices into every output's shape.
    pub outputs: Vec<usize>,
}

impl DynamicDims {
    /// The file as shipped.
    pub fn none() -> Self {
        Self::default()
    }
    /// Leading (batch) dim of the input and every output.
    pub fn batch() -> Self {
        DynamicDims {
            input: vec![0],
            outputs: vec![0],
        }
    }
}

/// A session together with what it was checked against.
#[derive(Debug)]
pub struct ModelSession {
    pub key: String,
    pub session: Session,
    /// The provider actually in use after any fallback.
    pub provider: ExecutionProvider,
    /// Whether the batch dimension was made dynamic in memory.
    pub dynamic_batch: bool,
}

/// Creates a session from already-verified bytes and checks its tensors
/// against the manifest, except for the `dynamic` dims an in-memory patch
/// made symbolic.
pub fn session_from_bytes(
    key: &str,
    entry: &ModelEntry,
    bytes: &[u8],
    cfg: &SessionConfig,
    dynamic: &DynamicDims,
) -> Result<ModelSession, VisionError> {
    let dynamic_batch = dynamic.input.contains(&0);
    let env = environment()?;
    let mut b = Session::builder(env)?.with_optimization_level(GraphOptimizationLevel::All)?;
    if cfg.intra_threads > 0 {
        b = b.with_intra_threads(cfg.intra_threads)?;
    }
    b = b.with_intra_op_spinning(cfg.spinning)?;
    let (mut b, provider) = register_provider(b, cfg)?;
    let session = b.commit_from_memory(bytes)?;
    check_session_io(key, entry, &session, dynamic)?;
    debug!(model = key, %provider, dynamic_batch, "session created");
    Ok(ModelSession {
        key: key.to_string(),
        session,
        provider,
        dynamic_batch,
    })
}

/// Verifies the file (size + sha256) and creates a checked session, as the
/// file ships (no batch rewrite).
pub fn load_session(
    manifest: &ModelManifest,
    key: &str,
    models_dir: &Path,
    cfg: &SessionConfig,
) -> Result<ModelSession, VisionError> {
    let entry = manifest.get(key)?;
    let bytes = verified_model_bytes(key, entry, models_dir)?;
    session_from_bytes(key, entry, &bytes, cfg, &DynamicDims::none())
}

fn dims_match(actual: &[i64], expected: &[i64]) -> bool {
    actual.len() == expected.len() && actual.iter().zip(expected).all(|(&a, &e)| e < 0 || a == e)
}

fn relaxed(shape: &[i64], dims: &[usize]) -> Vec<i64> {
    let mut s = shape.to_vec();
    for &i in dims {
        if let Some(d) = s.get_mut(i) {
            *d = -1;
        }
    }
    s
}

/// Compares a session's inputs/outputs (names, element type, shapes) with the
/// manifest's spec: -1 in the manifest, or a dim listed in `dynamic`,
/// accepts any size.
pub fn check_session_io(
    key: &str,
    entry: &ModelEntry,
    session: &Session,
    dynamic: &DynamicDims,
) -> Result<(), VisionError> {
    let fail = |reason: String| VisionError::ModelShape {
        key: key.to_string(),
        file: entry.file.clone(),
        reason,
    };
    let spec = entry.input.as_ref().ok_or_else(|| VisionError::NoSpec {
        key: key.to_string(),
    })?;
    let inputs = session.inputs();
    if inputs.len() != 1 {
        return Err(fail(format!(
            "expected 1 input, the model has {}",
            inputs.len()
        )));
    }
    let inp = &inputs[0];
    if inp.name() != spec.name {
        return Err(fail(format!(
            "input is named `{}`, the manifest says `{}`",
            inp.name(),
            spec.name
        )));
    }
    let ValueType::Tensor { ty, shape, .. } = inp.dtype() else {
        return Err(fail("input is not a tensor".into()));
    };
    let want_ty = match spec.dtype.as_str() {
        "float32" => TensorElementType::Float32,
        "int32" => TensorElementType::Int32,
        other => return Err(fail(format!("unsupported manifest dtype `{other}`"))),
    };
    if *ty != want_ty {
        return Err(fail(format!(
            "input element type is {ty:?}, the manifest says {}",
            spec.dtype
        )));
    }
    let want = relaxed(&spec.shape, &dynamic.input);
    if !dims_match(shape, &want) {
        return Err(fail(format!(
            "input `{}` has shape {:?}, the manifest expects {:?}",
            spec.name,
            &shape[..],
            want
        )));
    }
    let outs = session.outputs();
    if outs.len() != entry.outputs.len() {
        return Err(fail(format!(
            "model has {} outputs, the manifest lists {}",
            outs.len(),
            entry.outputs.len()
        )));
    }
    for (o, w) in outs.iter().zip(&entry.outputs) {
        if o.name() != w.name {
            return Err(fail(format!(
                "output is named `{}`, the manifest says `{}`",
                o.name(),
                w.name
            )));
        }
        let shape = o
            .dtype()
            .tensor_shape()
            .map(|s| s.to_vec())
            .unwrap_or_default();
        let want = relaxed(&w.shape, &dynamic.outputs);
        if !dims_match(&shape, &want) {
            return Err(fail(format!(
                "output `{}` has shape {shape:?}, the manifest expects {want:?}",
                w.name
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_parses() {
        assert_eq!(
            "CUDA".parse::<ExecutionProvider>().unwrap(),
            ExecutionProvider::Cuda
        );
        assert_eq!(
            "trt".parse::<ExecutionProvider>().unwrap(),
            ExecutionProvider::TensorRt
        );
        assert!("npu".parse::<ExecutionProvider>().is_err());
    }

    #[test]
    fn missing_runtime_is_explained() {
        let c = [PathBuf::from("/nonexistent/libonnxruntime.so")];
        let msg = locate_dylib(&c).unwrap_err().to_string();
        assert!(
            msg.contains("ORT_DYLIB_PATH") && msg.contains("make setup"),
            "{msg}"
        );
        assert!(msg.contains("/nonexistent/libonnxruntime.so"), "{msg}");
    }

    #[test]
    fn dims_rules() {
        assert!(dims_match(&[1, 3, 416, 416], &[1, 3, 416, 416]));
        assert!(dims_match(&[-1, 3, 416, 416], &[-1, 3, 416, 416]));
        assert!(dims_match(&[1, 3, 416, 416], &[-1, 3, -1, -1]));
        assert!(!dims_match(&[1, 3, 320, 320], &[1, 3, 416, 416]));
        assert!(!dims_match(&[-1, 3, 416, 416], &[1, 3, 416, 416]));
        assert!(!dims_match(&[1, 3, 416], &[1, 3, 416, 416]));
    }
}
