//! One camera of the fleet: the single-camera pipeline ([`pipeline::build`]) run on a thread of
//! its own, which reads its bus, keeps its status for the API and, when it ends, writes its
//! summary and chart as the single-camera mode does ([`monitor`]).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use gst::prelude::*;
use serde::Serialize;
use traffic_meta::Counts;

use crate::config::Config;
use crate::monitor::{self, Session};
use crate::observe::Observer;
use crate::pipeline::{self, Built};
use crate::summary::{self, Ending, LineSummary, ZoneSummary};

use super::stages::StageTimer;

const BUS_POLL: Duration = Duration::from_millis(100);
/// The frame rate is measured over this much wall clock.
const FPS_WINDOW: Duration = Duration::from_secs(2);
/// How long the JPEG of a snapshot may take.
const SNAPSHOT_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// Built, no frame yet (models loading, source connecting).
    Starting,
    Running,
    /// A live source lost, trafficsrc reconnecting.
    Reconnecting,
    /// The source ended or the camera was stopped: its counts stay readable.
    Ended,
    /// An error: `error` says which.
    Failed,
}

/// What the API shows of a camera.
#[derive(Clone, Debug, Serialize)]
pub struct Status {
    pub id: String,
    pub uri: String,
    pub state: State,
    pub fps: f64,
    pub frames: u64,
    pub dropped: u64,
    pub reconnects: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Events waiting in trafficpublish's spool for Redis.
    #[serde(skip)]
    pub spooled: u64,
}

/// The counts of a camera: per line, class and direction, and the zones with who is inside.
#[derive(Debug, Serialize)]
pub struct CameraCounts {
    pub id: String,
    pub frames: u64,
    pub lines: Vec<LineSummary>,
    pub zones: Vec<ZoneCounts>,
    /// Crossings of every line over stream time, for the dashboard's chart: each change, then
    /// the latest frame.
    pub history: Vec<CrossingsAt>,
}

#[derive(Debug, Serialize)]
pub struct CrossingsAt {
    /// Seconds of stream since the camera's first frame.
    pub seconds: f64,
    pub crossings: u64,
}

#[derive(Debug, Serialize)]
pub struct ZoneCounts {
    #[serde(flatten)]
    pub zone: ZoneSummary,
    /// Tracks inside now, per class.
    pub occupancy: BTreeMap<String, u64>,
}

/// What the camera's thread and the API share.
struct Shared {
    status: Mutex<Status>,
    /// Stop requests (DELETE): one is EOS and a clean end, two stop at once.
    stops: AtomicU32,
    /// linecounter's final counts, once the camera ended.
    final_counts: Mutex<Option<Counts>>,
    /// The last analysed frame, with its metadata and caps, for snapshots.
    last_frame: Mutex<Option<(gst::Buffer, gst::Caps)>>,
}

pub struct Camera {
    shared: Arc<Shared>,
    observer: Observer,
    thread: Mutex<Option<JoinHandle<()>>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Camera {
    /// Builds the camera's pipeline and starts it on its own thread. A camera that cannot be
    /// built is returned failed, with the reason, when `keep_failed`; else the reason is the error.
    pub fn start(id: &str, config: Config, keep_failed: bool) -> Result<Camera, String> {
        let uri = config.source.uri.clone().unwrap_or_default();
        let status = |state, error| Status {
            id: id.to_string(),
            uri: uri.clone(),
            state,
            fps: 0.0,
            frames: 0,
            dropped: 0,
            reconnects: 0,
            error,
            spooled: 0,
        };
        let built = match pipeline::build(&config) {
            Ok(built) => built,
            Err(e) if keep_failed => {
                tracing::error!(camera = id, "{e}");
                return Ok(Camera {
                    shared: Arc::new(Shared {
                        status: Mutex::new(status(State::Failed, Some(e))),
                        stops: AtomicU32::new(0),
                        final_counts: Mutex::new(None),
                        last_frame: Mutex::new(None),
                    }),
                    observer: Observer::default(),
                    thread: Mutex::new(None),
                });
            }
            Err(e) => return Err(e),
        };
        let mut initial = status(State::Starting, None);
        initial.uri = built.uri.clone();
        let shared = Arc::new(Shared {
            status: Mutex::new(initial),
            stops: AtomicU32::new(0),
            final_counts: Mutex::new(None),
            last_frame: Mutex::new(None),
        });
        let observer = Observer::default();
        observer.attach(&built.analysed);
        built.analysed.add_probe(gst::PadProbeType::BUFFER, {
            let shared = shared.clone();
            move |pad, info| {
                if let (Some(buffer), Some(caps)) = (info.buffer(), pad.current_caps()) {
                    *lock(&shared.last_frame) = Some((buffer.to_owned(), caps));
                }
                gst::PadProbeReturn::Ok
            }
        });
        StageTimer::attach(&built.pipeline, id);
        let thread = std::thread::Builder::new()
            .name(format!("camera-{id}"))
            .spawn({
                let (shared, observer) = (shared.clone(), observer.clone());
                move || run(&shared, &observer, built, config)
            })
            .map_err(|e| format!("cannot start a thread for camera '{id}': {e}"))?;
        Ok(Camera { shared, observer, thread: Mutex::new(Some(thread)) })
    }

    pub fn status(&self) -> Status {
        lock(&self.shared.status).clone()
    }

    /// Asks the camera to end: EOS, so its outputs are complete.
    pub fn request_stop(&self) {
        self.shared.stops.fetch_add(1, Ordering::SeqCst);
    }

    /// Waits for the camera's thread: its outputs are written when this returns.
    pub fn join(&self) {
        let thread = lock(&self.thread).take();
        if let Some(thread) = thread {
            let _ = thread.join();
        }
    }

    pub fn counts(&self) -> CameraCounts {
        let observed = self.observer.lock();
        let final_counts = lock(&self.shared.final_counts);
        let counts = final_counts.as_ref().or(observed.last_counts.as_ref()).cloned().unwrap_or_default();
        let zones = summary::zones(&counts, &observed.zones)
            .into_iter()
            .map(|zone| {
                let mut occupancy = BTreeMap::new();
                for o in &zone.inside_at_end {
                    *occupancy.entry(o.class.clone()).or_insert(0) += 1;
                }
                ZoneCounts { zone, occupancy }
            })
            .collect();
        let mut history: Vec<CrossingsAt> =
            observed.crossing_history.iter().map(|&(seconds, crossings)| CrossingsAt { seconds, crossings }).collect();
        if observed.frames > 0 {
            history.push(CrossingsAt {
                seconds: observed.since_start(observed.last_pts),
                crossings: counts.crossings_total(),
            });
        }
        CameraCounts {
            id: lock(&self.shared.status).id.clone(),
            frames: observed.frames,
            lines: summary::lines(&counts),
            zones,
            history,
        }
    }

    /// The last analysed frame, annotated by overlay, as a JPEG; None before the first frame.
    pub fn snapshot(&self) -> Result<Option<Vec<u8>>, String> {
        let Some((buffer, caps)) = lock(&self.shared.last_frame).clone() else { return Ok(None) };
        jpeg(buffer, &caps).map(Some)
    }
}

/// Runs `buffer` through overlay and jpegenc: the frame as the annotated MP4 shows it.
fn jpeg(buffer: gst::Buffer, caps: &gst::Caps) -> Result<Vec<u8>, String> {
    let pipeline =
        gst::parse::launch("appsrc name=src ! overlay ! videoconvert ! jpegenc ! appsink name=sink sync=false")
            .map_err(|e| format!("snapshot: {e}"))?
            .downcast::<gst::Pipeline>()
            .map_err(|_| "snapshot: not a pipeline")?;
    let by_name = |name| pipeline.by_name(name).ok_or_else(|| format!("snapshot: no {name}"));
    let src = by_name("src")?.downcast::<gst_app::AppSrc>().map_err(|_| "snapshot: appsrc")?;
    let sink = by_name("sink")?.downcast::<gst_app::AppSink>().map_err(|_| "snapshot: appsink")?;
    src.set_caps(Some(caps));
    src.set_format(gst::Format::Time);
    pipeline.set_state(gst::State::Playing).map_err(|e| format!("snapshot: {e}"))?;
    let encoded = src
        .push_buffer(buffer)
        .map_err(|e| format!("snapshot: {e}"))
        .and_then(|_| src.end_of_stream().map_err(|e| format!("snapshot: {e}")))
        .and_then(|_| {
            let sample = sink
                .try_pull_sample(gst::ClockTime::from_mseconds(SNAPSHOT_TIMEOUT.as_millis() as u64))
                .ok_or("snapshot: the encoder gave nothing")?;
            let buffer = sample.buffer().ok_or("snapshot: empty sample")?;
            let map = buffer.map_readable().map_err(|e| format!("snapshot: {e}"))?;
            Ok(map.to_vec())
        });
    let _ = pipeline.set_state(gst::State::Null);
    encoded
}

/// The camera's thread: plays the pipeline until it ends (the source's end, an error, a stop
/// request or Ctrl-C), then writes the summary and chart.
fn run(shared: &Shared, observer: &Observer, built: Built, config: Config) {
    let started = Instant::now();
    let pipeline = &built.pipeline;
    let id = lock(&shared.status).id.clone();
    let Some(bus) = pipeline.bus() else { return };
    let source = pipeline.iterate_elements().into_iter().flatten().find(|e| factory(e) == "trafficsrc");
    let publish = pipeline.iterate_elements().into_iter().flatten().find(|e| factory(e) == "trafficpublish");
    let mut session = Session::default();
    let mut fps = FpsMeter::default();
    tracing::info!(camera = %id, source = %built.uri, out = %config.output.dir.display(), "starting");
    if pipeline.set_state(gst::State::Playing).is_err() {
        tracing::debug!(camera = %id, "the pipeline refused to start: the reason is on the bus");
    }
    while session.ending.is_none() {
        if let Some(message) = bus.timed_pop(gst::ClockTime::from_mseconds(BUS_POLL.as_millis() as u64)) {
            monitor::on_message(&message, pipeline, &mut session);
        }
        // A Ctrl-C of the service stops every camera; a DELETE this one.
        let stops = shared.stops.load(Ordering::SeqCst).max(monitor::interrupts());
        monitor::on_tick(pipeline, &mut session, &built.flowing, stops);
        let frames = observer.lock().frames;
        let mut status = lock(&shared.status);
        status.frames = frames;
        status.fps = fps.update(frames);
        status.dropped = built.drops.count();
        if let Some(src) = &source {
            let stats = src.property::<gst::Structure>("stats");
            status.reconnects =
                stats.get::<u32>("reconnects").map(u64::from).or(stats.get::<u64>("reconnects")).unwrap_or(0);
            status.state = match stats.get::<&str>("state") {
                Ok("reconnecting") => State::Reconnecting,
                _ if frames > 0 => State::Running,
                _ => State::Starting,
            };
        } else if frames > 0 {
            status.state = State::Running;
        }
        if let Some(publish) = &publish {
            status.spooled = publish.property::<gst::Structure>("stats").get::<u64>("pending").unwrap_or(0);
        }
    }
    let dropped = built.drops.count();
    let _ = pipeline.set_state(gst::State::Null);
    *lock(&shared.final_counts) = session.final_counts.clone();
    let failed = session.ending == Some(Ending::Error);
    let error = session.error.clone();
    match monitor::summarize(&built, &config, session, observer, started.elapsed(), dropped)
        .and_then(|s| monitor::write_outputs(&s).map(|_| s))
    {
        Ok(s) => tracing::info!(camera = %id, frames = s.frames, ending = ?s.ending, "ended"),
        Err(e) => tracing::error!(camera = %id, "cannot write the summary: {e}"),
    }
    let mut status = lock(&shared.status);
    status.state = if failed { State::Failed } else { State::Ended };
    status.error = error;
    status.dropped = dropped;
    status.fps = 0.0;
}

fn factory(element: &gst::Element) -> String {
    element.factory().map(|f| f.name().to_string()).unwrap_or_default()
}

/// Frames per second over the last [`FPS_WINDOW`].
#[derive(Default)]
struct FpsMeter {
    since: Option<(Instant, u64)>,
    fps: f64,
}

impl FpsMeter {
    fn update(&mut self, frames: u64) -> f64 {
        let now = Instant::now();
        match self.since {
            Some((at, count)) if now - at >= FPS_WINDOW => {
                self.fps = frames.saturating_sub(count) as f64 / (now - at).as_secs_f64();
                self.since = Some((now, frames));
            }
            Some(_) => {}
            None => self.since = Some((now, frames)),
        }
        self.fps
    }
}
