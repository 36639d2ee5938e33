//! Where our files live, and the one ONNX Runtime environment of the process.

use std::collections::HashMap;
use std::ops::{Deref, DerefMut};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};

use ort::environment::{Environment, GlobalThreadPoolOptions};
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

/// `Some(threads)` once `use_one_thread_pool` has been called (0: one per core).
static ONE_POOL: Mutex<Option<usize>> = Mutex::new(None);

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
    let mut builder = ort::init_from(&lib)
        .map_err(|e| VisionError::Runtime(format!("cannot load {}: {e}", lib.display())))?
        .with_name("traffic-vision");
    if let Some(threads) = *ONE_POOL.lock().unwrap_or_else(|p| p.into_inner()) {
        let mut pool = GlobalThreadPoolOptions::default().with_spin_control(false)?;
        if threads > 0 {
            pool = pool.with_intra_threads(threads)?;
        }
        builder = builder.with_global_thread_pool(pool);
    }
    let env = builder.build()?;
    *guard = Some(env.clone());
    Ok(env)
}

/// Makes every session of the process run on one intra-op pool, a call on `threads` of it (0:
/// one per core), instead of a pool each: many cameras' models then share the cores rather than
/// fight over them (with 1, one call per core runs at once, each on its own). The sessions' own
/// thread settings are then ignored. Must come before the first model is loaded.
pub fn use_one_thread_pool(threads: usize) -> Result<(), VisionError> {
    let env = ENVIRONMENT.lock().unwrap_or_else(|p| p.into_inner());
    if env.is_some() {
        return Err(VisionError::Runtime(
            "ONNX Runtime is already set up: choose one thread pool before loading a model".into(),
        ));
    }
    *ONE_POOL.lock().unwrap_or_else(|p| p.into_inner()) = Some(threads);
    Ok(())
}

/// One model shared by the elements of the process that load it with the same settings. ONNX
/// Runtime runs one call per session at a time, so it holds up to one session per core (what
/// DL Streamer calls inference requests): made when calls overlap, reused after, and a call
/// waits for a free one beyond that. One camera uses one; many share a few.
pub struct SharedModel {
    key: SessionKey,
    limit: usize,
    pool: Mutex<SessionPool>,
    freed: Condvar,
}

struct SessionPool {
    idle: Vec<Session>,
    made: usize,
}

pub type SharedSession = Arc<SharedModel>;

/// A session of a [`SharedModel`] for one call; back to the model when dropped.
pub struct SessionGuard<'a> {
    model: &'a SharedModel,
    session: Option<Session>,
}

impl Deref for SessionGuard<'_> {
    type Target = Session;
    fn deref(&self) -> &Session {
        self.session.as_ref().expect("a guard holds its session until dropped")
    }
}

impl DerefMut for SessionGuard<'_> {
    fn deref_mut(&mut self) -> &mut Session {
        self.session.as_mut().expect("a guard holds its session until dropped")
    }
}

impl Drop for SessionGuard<'_> {
    fn drop(&mut self) {
        if let Some(session) = self.session.take() {
            self.model.pool().idle.push(session);
            self.model.freed.notify_one();
        }
    }
}

impl SharedModel {
    fn load(key: SessionKey, limit: usize) -> Result<Self, VisionError> {
        // The first session at once: a bad model fails the element's start, not its first frame.
        let first = new_session(&key)?;
        Ok(SharedModel {
            key,
            limit: limit.max(1),
            pool: Mutex::new(SessionPool { idle: vec![first], made: 1 }),
            freed: Condvar::new(),
        })
    }

    fn pool(&self) -> MutexGuard<'_, SessionPool> {
        self.pool.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A session for one call: an idle one, a new one while under the limit, else the next freed.
    pub fn lock(&self) -> Result<SessionGuard<'_>, VisionError> {
        let mut pool = self.pool();
        loop {
            if let Some(session) = pool.idle.pop() {
                return Ok(SessionGuard { model: self, session: Some(session) });
            }
            if pool.made < self.limit {
                pool.made += 1;
                drop(pool);
                return match new_session(&self.key) {
                    Ok(session) => Ok(SessionGuard { model: self, session: Some(session) }),
                    Err(e) => {
                        self.pool().made -= 1;
                        Err(e)
                    }
                };
            }
            pool = self.freed.wait(pool).unwrap_or_else(|p| p.into_inner());
        }
    }

    /// Sessions made so far.
    pub fn sessions(&self) -> usize {
        self.pool().made
    }
}

#[derive(Clone, PartialEq, Eq, Hash)]
struct SessionKey {
    model: PathBuf,
    threads: usize,
    spinning: bool,
}

/// The models loaded in the process, so that the cameras of one service load each once.
static MODELS: Mutex<Option<HashMap<SessionKey, Weak<SharedModel>>>> = Mutex::new(None);

/// CPU sessions for `model`, set up the same way for every model of the pipeline: full graph
/// optimisation, one graph at a time (no inter-op pool), `threads` intra-op threads (0: one
/// per core), and threads that sleep between operators unless `spinning`: on a 2-core machine
/// spinning ONNX Runtime threads starve the decoder, the encoder and the other models.
/// Elements asking for the same file with the same settings while one holds it share it.
pub fn session(model: &Path, threads: usize, spinning: bool) -> Result<SharedSession, VisionError> {
    // On the one pool the sessions' thread counts do not matter.
    let one_pool = ONE_POOL.lock().unwrap_or_else(|p| p.into_inner()).is_some();
    let threads = if one_pool { 0 } else { threads };
    let key = SessionKey { model: model.canonicalize().unwrap_or_else(|_| model.to_path_buf()), threads, spinning };
    // Held while loading, so that two elements starting at once load the model once.
    let mut models = MODELS.lock().unwrap_or_else(|p| p.into_inner());
    let models = models.get_or_insert_with(HashMap::new);
    if let Some(alive) = models.get(&key).and_then(Weak::upgrade) {
        return Ok(alive);
    }
    models.retain(|_, held| held.strong_count() > 0);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let shared = Arc::new(SharedModel::load(key.clone(), cores)?);
    models.insert(key, Arc::downgrade(&shared));
    Ok(shared)
}

/// A model loaded now: its file, its sessions and how many elements share them.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct ModelUse {
    pub model: PathBuf,
    pub sessions: usize,
    pub users: usize,
}

/// Every model loaded now, one entry per distinct settings.
pub fn models_in_use() -> Vec<ModelUse> {
    let models = MODELS.lock().unwrap_or_else(|p| p.into_inner());
    let mut used: Vec<ModelUse> = models
        .iter()
        .flatten()
        .filter_map(|(key, held)| {
            let users = held.strong_count();
            let model = held.upgrade()?;
            Some(ModelUse { model: key.model.clone(), sessions: model.sessions(), users })
        })
        .collect();
    used.sort();
    used
}

fn new_session(&SessionKey { ref model, threads, spinning }: &SessionKey) -> Result<Session, VisionError> {
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
