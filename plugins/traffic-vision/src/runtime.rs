//! Where our files live, and the one ONNX Runtime environment of the process.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use ort::environment::Environment;
use ort::session::builder::GraphOptimizationLevel;
use ort::session::{Session, SessionOutputs};
use ort::value::TensorRef;

use crate::VisionError;

/// File name of the ONNX Runtime library that `scripts/fetch_models.sh` puts in `weights/`.
pub const ORT_LIBRARY: &str = "libonnxruntime.so.1.32.0";

const SETUP_HINT: &str = "run `make setup` (scripts/setup.sh) in the traffic-vision checkout to fetch it";

/// The models folder: `$TRAFFIC_WEIGHTS_DIR`, else the checkout's `weights/` this was built from.
pub fn weights_dir() -> PathBuf {
    match std::env::var_os("TRAFFIC_WEIGHTS_DIR") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../weights"),
    }
}

/// A file in the models folder.
pub fn weight(name: &str) -> PathBuf {
    weights_dir().join(name)
}

/// `$ORT_DYLIB_PATH`, else the library in the models folder.
pub fn ort_library_path() -> PathBuf {
    match std::env::var_os("ORT_DYLIB_PATH") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => weight(ORT_LIBRARY),
    }
}

/// Fails with a message naming the file and how to get it.
pub fn require_file(what: &'static str, path: &Path) -> Result<(), VisionError> {
    if path.is_file() {
        Ok(())
    } else {
        Err(VisionError::MissingFile { what, path: path.to_path_buf(), hint: SETUP_HINT.into() })
    }
}

static ENVIRONMENT: Mutex<Option<Environment>> = Mutex::new(None);

/// The process-wide ONNX Runtime environment, loading the library on first use. The library
/// is loaded lazily so that the plugin itself registers even where it is missing; a failure is
/// not cached, so fixing the path and restarting the element works.
pub fn environment() -> Result<Environment, VisionError> {
    let mut guard = ENVIRONMENT.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(env) = guard.as_ref() {
        return Ok(env.clone());
    }
    let lib = ort_library_path();
    require_file("ONNX Runtime library", &lib)?;
    let env = ort::init_from(&lib)
        .map_err(|e| VisionError::Runtime(format!("cannot load {}: {e}", lib.display())))?
        .with_name("traffic-vision")
        .build()?;
    *guard = Some(env.clone());
    Ok(env)
}

/// A CPU session for `model`, set up the same way for every model of the pipeline: full graph
/// optimisation, one graph at a time (no inter-op pool), `threads` intra-op threads (0: one
/// per core), and threads that sleep between operators unless `spinning`: on a 2-core machine
/// spinning ONNX Runtime threads starve the decoder, the encoder and the other models.
pub fn session(model: &Path, threads: usize, spinning: bool) -> Result<Session, VisionError> {
    let env = environment()?;
    let mut builder = Session::builder(&env)?
        .with_optimization_level(GraphOptimizationLevel::Level3)?
        .with_inter_threads(1)?
        .with_intra_op_spinning(spinning)?;
    if threads > 0 {
        builder = builder.with_intra_threads(threads)?;
    }
    builder.commit_from_file(model).map_err(|e| VisionError::Model(format!("{}: {e}", model.display())))
}

/// Runs `session` on the float32 image tensor `input` of `shape` under `input_name`; converted
/// into `half` first when given (a model whose input is float16).
pub fn run_image<'s>(
    session: &'s mut Session,
    input_name: &str,
    shape: [usize; 4],
    input: &[f32],
    half: Option<&mut Vec<half::f16>>,
) -> Result<SessionOutputs<'s>, VisionError> {
    let outputs = match half {
        Some(buf) => {
            buf.clear();
            buf.extend(input.iter().map(|&v| half::f16::from_f32(v)));
            let tensor = TensorRef::from_array_view((shape, &buf[..]))?;
            session.run(ort::inputs![input_name => tensor])?
        }
        None => {
            let tensor = TensorRef::from_array_view((shape, input))?;
            session.run(ort::inputs![input_name => tensor])?
        }
    };
    Ok(outputs)
}
