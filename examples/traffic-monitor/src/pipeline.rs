//! The pipeline, built element by element from the config:
//!
//! ```text
//! source ─ [leaky] queue ─ videoconvert ─ yolodetect ─ mottracker ─ [platedetect ─ plateocr]
//!        ─ [linecounter] ─ [trafficpublish] ─ overlay ─ tee ─ queue ─ videoscale ─ videoconvert
//!          ─ capsfilter ─ capssetter ─ x264enc ─ mp4mux ─ filesink
//!                                                          └ queue ─ autovideosink
//! ```
//!
//! Files go through `uridecodebin` and a plain queue: every frame is analysed. Live sources go
//! through `trafficsrc` (reconnects, leaky queue inside) when the plugin has it, else through
//! `uridecodebin` and a leaky queue of `queue-size` frames, so slow inference drops frames
//! instead of building latency. A file with `live = true` takes the latter path. Sinks never
//! sync to the clock. The MP4 of a live source is fragmented (a fragment a second), so it stays
//! playable if the process is killed; its encoder keeps the first frame's caps (see
//! [`keep_first_caps`]). The output folder is locked for the run ([`lock_folder`]).

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use gst::prelude::*;

use crate::config::Config;
use crate::props;

/// Frames the leaky queue before inference holds on a live source by default.
const DEFAULT_LIVE_QUEUE: u32 = 2;
/// MP4 fragment length on live sources: at most this much video is lost if the process dies.
const LIVE_FRAGMENT_MS: u32 = 1000;

/// Where the frames dropped before inference are counted.
#[derive(Clone)]
pub enum Drops {
    /// A file: nothing is dropped.
    None,
    /// `trafficsrc`'s read-only `dropped` property.
    Source(gst::Element),
    /// The leaky queue: buffers in, buffers out, and the queue itself for what it still holds.
    Queue { queue: gst::Element, entered: Arc<AtomicU64>, left: Arc<AtomicU64> },
}

impl Drops {
    pub fn count(&self) -> u64 {
        match self {
            Drops::None => 0,
            Drops::Source(src) => {
                src.property_value("dropped").transform::<u64>().ok().and_then(|v| v.get().ok()).unwrap_or(0)
            }
            Drops::Queue { queue, entered, left } => {
                let held = u64::from(queue.property::<u32>("current-level-buffers"));
                entered.load(Ordering::Relaxed).saturating_sub(left.load(Ordering::Relaxed) + held)
            }
        }
    }
}

/// The files a run writes.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Outputs {
    pub mp4: Option<PathBuf>,
    /// trafficpublish's per-frame lines, wherever `[publish] location` put them.
    pub jsonl: Option<PathBuf>,
    /// trafficpublish's events, wherever `[publish] events-location` put them.
    pub events: Option<PathBuf>,
    pub summary: PathBuf,
    pub chart: Option<PathBuf>,
}

/// The lock file in the output folder: two runs writing one folder would mix their files.
pub const LOCK_FILE: &str = ".traffic-monitor.lock";

pub struct Built {
    pub pipeline: gst::Pipeline,
    pub uri: String,
    pub live: bool,
    /// The last analysis element's src pad: every frame passes there with all its metadata.
    pub analysed: gst::Pad,
    pub drops: Drops,
    pub outputs: Outputs,
    /// Set once a decoded frame has left the source: before that, EOS would reach a source
    /// still reading the file's type and header, which fails instead of ending.
    pub flowing: Arc<AtomicBool>,
    /// Held (locked) for as long as the run: see [`lock_folder`].
    pub _lock: File,
}

/// The input as a URI: URIs pass as they are, `/dev/video*` is a V4L2 device, anything else a
/// file that must exist.
pub fn input_uri(input: &str) -> Result<String, String> {
    if let Some((scheme, _)) = input.split_once("://") {
        if scheme.eq_ignore_ascii_case("file") {
            let path = gst::glib::filename_from_uri(input).map_err(|e| format!("input {input}: {e}"))?.0;
            if !path.is_file() {
                return Err(format!("input {}: no such file", path.display()));
            }
        }
        return Ok(input.to_string());
    }
    if input.starts_with("/dev/video") {
        return Ok(format!("v4l2://{input}"));
    }
    let path = Path::new(input);
    if !path.is_file() {
        return Err(format!("input {input}: no such file"));
    }
    let absolute = std::fs::canonicalize(path).map_err(|e| format!("input {input}: {e}"))?;
    gst::glib::filename_to_uri(&absolute, None).map(|u| u.to_string()).map_err(|e| format!("input {input}: {e}"))
}

/// Sources that produce frames at their own pace and never wait for us.
fn is_live_scheme(uri: &str) -> bool {
    let scheme = uri.split_once("://").map_or("", |(s, _)| s).to_ascii_lowercase();
    matches!(scheme.as_str(), "rtsp" | "rtsps" | "rtspt" | "rtspu" | "rtmp" | "rtmps" | "v4l2" | "udp" | "srt" | "rtp")
}

fn make(factory: &str) -> Result<gst::Element, String> {
    gst::ElementFactory::make(factory).build().map_err(|_| {
        let hint = match factory {
            "x264enc" => " (Debian: gstreamer1.0-plugins-ugly)",
            "mp4mux" | "autovideosink" | "capssetter" => " (Debian: gstreamer1.0-plugins-good)",
            _ => "",
        };
        format!("GStreamer element '{factory}' is not available{hint}")
    })
}

fn configured(factory: &str, section: &str, table: &toml::Table) -> Result<gst::Element, String> {
    let element = make(factory)?;
    props::apply(&element, section, table)?;
    Ok(element)
}

fn set(element: &gst::Element, key: &str, value: impl Into<toml::Value>) -> Result<(), String> {
    props::set(element, key, &value.into()).map_err(|e| format!("{key}: {e}"))
}

/// Builds the pipeline; creates the output folder and writes the counting file there.
pub fn build(config: &Config) -> Result<Built, String> {
    let uri = input_uri(config.source.uri.as_deref().unwrap_or_default())?;
    let live_scheme = is_live_scheme(&uri);
    let live = config.source.live.unwrap_or(live_scheme);
    let dir = &config.output.dir;
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create output folder {}: {e}", dir.display()))?;
    let lock = lock_folder(dir)?;
    let pipeline = gst::Pipeline::with_name("traffic-monitor");
    let add = |e: &gst::Element| pipeline.add(e).map_err(|e| e.to_string());

    let (head, drops, flowing) = source(&pipeline, &uri, live, live_scheme, config)?;
    let mut chain = vec![head, make("videoconvert")?];
    chain.push(configured("yolodetect", "detector", &config.detector)?);
    let tracker = configured("mottracker", "tracker", &config.tracker)?;
    chain.push(tracker.clone());
    if config.plates.enabled {
        chain.push(configured("platedetect", "plates", &config.plates.properties)?);
        chain.push(configured("plateocr", "ocr", &config.ocr)?);
    }
    let counting = config.counting();
    if counting {
        let counter = configured("linecounter", "counting", &config.counting)?;
        if !config.counting.contains_key("lost-after") {
            // A hidden track stays in its zones as long as the tracker keeps its ID.
            counter.set_property("lost-after", tracker.property::<u32>("track-buffer"));
        }
        if let Some(text) = config.counter_file() {
            let path = dir.join("counting.toml");
            std::fs::write(&path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            set(&counter, "config", path.to_string_lossy().as_ref())?;
        }
        chain.push(counter);
    } else {
        tracing::warn!("no counting line or zone (--lines, [[line]] or [[zone]] in the config): counting is off");
    }
    let mut outputs = Outputs { summary: dir.join("summary.json"), ..Outputs::default() };
    if config.output.jsonl || !config.publish.is_empty() {
        let publish = make("trafficpublish")?;
        if config.output.jsonl {
            set(&publish, "location", dir.join("frames.jsonl").to_string_lossy().as_ref())?;
            set(&publish, "events-location", dir.join("events.jsonl").to_string_lossy().as_ref())?;
        }
        props::apply(&publish, "publish", &config.publish)?;
        // `[publish]` may have moved the files (or turned the frames off): name where they are.
        let path_of = |key: &str| publish.property::<Option<String>>(key).filter(|p| !p.is_empty()).map(PathBuf::from);
        outputs.jsonl = path_of("location").filter(|_| publish.property::<bool>("frames"));
        outputs.events = path_of("events-location");
        chain.push(publish);
    }
    let analysed_element = chain.last().cloned().ok_or("empty pipeline")?;
    for e in &chain[1..] {
        add(e)?;
    }

    // Outputs: the annotated video to a file and/or a window, else nothing.
    let branches = [config.output.mp4, config.output.display];
    if branches.iter().any(|b| *b) {
        chain.push(configured("overlay", "overlay", &config.overlay)?);
        let tee = make("tee")?;
        chain.push(tee.clone());
        for e in &chain[chain.len() - 2..] {
            add(e)?;
        }
        if config.output.mp4 {
            let path = dir.join("annotated.mp4");
            let branch = mp4_branch(&path, &config.output.speed_preset, live)?;
            attach_branch(&pipeline, &tee, &branch)?;
            outputs.mp4 = Some(path);
        }
        if config.output.display {
            let queue = make("queue")?;
            // A slow window drops frames rather than slowing the analysis.
            queue.set_property_from_str("leaky", "downstream");
            queue.set_property("max-size-buffers", 2u32);
            let sink = make("autovideosink")?;
            sink.set_property("sync", false);
            attach_branch(&pipeline, &tee, &[queue, make("videoconvert")?, sink])?;
        }
    } else {
        let sink = make("fakesink")?;
        sink.set_property("sync", false);
        add(&sink)?;
        chain.push(sink);
    }
    gst::Element::link_many(&chain).map_err(|e| format!("cannot link the pipeline: {e}"))?;
    if counting && config.output.chart {
        outputs.chart = Some(dir.join("chart.png"));
    }
    let analysed = analysed_element.static_pad("src").ok_or("the last analysis element has no src pad")?;
    Ok(Built { pipeline, uri, live, analysed, drops, outputs, flowing, _lock: lock })
}

/// Locks `dir/.traffic-monitor.lock` (an advisory lock the system drops when the process ends,
/// however it ends); fails at once when another run holds it, naming that run's process.
pub fn lock_folder(dir: &Path) -> Result<File, String> {
    let path = dir.join(LOCK_FILE);
    // No truncation before the lock is ours: the holder's process id is in there.
    let mut file = File::options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    match file.try_lock() {
        Ok(()) => {
            let _ = file.set_len(0).and_then(|_| writeln!(file, "{}", std::process::id()));
            Ok(file)
        }
        Err(std::fs::TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = file.rewind().and_then(|_| file.read_to_string(&mut holder));
            let holder = holder.trim();
            let by = if holder.is_empty() { String::new() } else { format!(" (process {holder})") };
            Err(format!(
                "output folder {} is in use by another traffic-monitor run{by}: wait for it to end or choose another --out",
                dir.display()
            ))
        }
        Err(std::fs::TryLockError::Error(e)) => Err(format!("cannot lock {}: {e}", path.display())),
    }
}

/// The source part: frames come out of the returned element's src pad.
fn source(
    pipeline: &gst::Pipeline,
    uri: &str,
    live: bool,
    live_scheme: bool,
    config: &Config,
) -> Result<(gst::Element, Drops, Arc<AtomicBool>), String> {
    let add = |e: &gst::Element| pipeline.add(e).map_err(|e| e.to_string());
    // trafficsrc reconnects network and device sources; a file forced live (to rehearse a
    // camera) gets the leaky queue alone.
    let use_trafficsrc = live && live_scheme && gst::ElementFactory::find("trafficsrc").is_some();
    tracing::debug!(live, source = if use_trafficsrc { "trafficsrc" } else { "uridecodebin" }, "source element");
    if use_trafficsrc {
        let src = configured("trafficsrc", "source", &config.source.properties)?;
        set(&src, "uri", uri)?;
        add(&src)?;
        // trafficsrc ends the stream itself where frames always flow, connected or not.
        return Ok((src.clone(), Drops::Source(src), Arc::new(AtomicBool::new(true))));
    }
    if !config.source.properties.is_empty() {
        tracing::warn!("[source] properties are for trafficsrc, which is not used here: ignored");
    }
    let decode = make("uridecodebin")?;
    decode.set_property("uri", uri);
    decode.set_property("caps", gst::Caps::builder("video/x-raw").any_features().build());
    decode.set_property("expose-all-streams", false);
    let queue = make("queue")?;
    let drops = if live {
        queue.set_property_from_str("leaky", "downstream");
        queue.set_property("max-size-buffers", config.source.queue_size.unwrap_or(DEFAULT_LIVE_QUEUE).max(1));
        queue.set_property("max-size-bytes", 0u32);
        queue.set_property("max-size-time", 0u64);
        count_drops(&queue)
    } else {
        Drops::None
    };
    add(&decode)?;
    add(&queue)?;
    link_video_pads(&decode, &queue);
    let flowing = Arc::new(AtomicBool::new(false));
    if let Some(pad) = queue.static_pad("sink") {
        let flowing = flowing.clone();
        pad.add_probe(gst::PadProbeType::BUFFER, move |_, _| {
            flowing.store(true, Ordering::SeqCst);
            gst::PadProbeReturn::Remove
        });
    }
    Ok((queue, drops, flowing))
}

/// Encoder, muxer and file: H.264 4:2:0 in MP4, which every player reads.
fn mp4_branch(path: &Path, speed_preset: &str, live: bool) -> Result<Vec<gst::Element>, String> {
    let scale = make("videoscale")?;
    scale.set_property("add-borders", true);
    let convert = make("videoconvert")?;
    let raw = make("capsfilter")?;
    raw.set_property(
        "caps",
        gst::Caps::builder("video/x-raw").field("format", gst::List::new(["I420", "NV12"])).build(),
    );
    let rate = make("capssetter")?;
    let encoder = make("x264enc")?;
    props::set(&encoder, "speed-preset", &speed_preset.into()).map_err(|e| format!("[output] speed-preset: {e}"))?;
    keep_first_caps(&encoder, &raw, &rate);
    let mux = make("mp4mux")?;
    if live {
        encoder.set_property_from_str("tune", "zerolatency");
        mux.set_property("fragment-duration", LIVE_FRAGMENT_MS);
    }
    let sink = make("filesink")?;
    sink.set_property("location", path.to_string_lossy().as_ref());
    sink.set_property("sync", false);
    Ok(vec![make("queue")?, scale, convert, raw, rate, encoder, mux, sink])
}

/// Keeps the encoder's input caps those of the first frame. A camera that comes back at another
/// size, frame rate or chroma siting would otherwise make x264enc start a new stream, which
/// mp4mux adds as a second sample description and the whole file becomes unplayable. So `raw`
/// is fixed to the first caps but the frame rate (videoscale, with borders that keep the
/// aspect, and videoconvert upstream of it make every frame fit), and `rate` labels every
/// frame with the first frame rate: the MP4's timing comes from the timestamps, not from it.
fn keep_first_caps(encoder: &gst::Element, raw: &gst::Element, rate: &gst::Element) {
    let Some(pad) = encoder.static_pad("sink") else { return };
    let (raw, rate) = (raw.downgrade(), rate.downgrade());
    let first = OnceLock::new();
    pad.add_probe(gst::PadProbeType::EVENT_DOWNSTREAM, move |_, info| {
        let Some(gst::PadProbeData::Event(event)) = &info.data else { return gst::PadProbeReturn::Ok };
        let gst::EventView::Caps(caps) = event.view() else { return gst::PadProbeReturn::Ok };
        let Some(s) = caps.caps().structure(0) else { return gst::PadProbeReturn::Ok };
        if first.set(()).is_err() {
            return gst::PadProbeReturn::Ok;
        }
        tracing::debug!(caps = %caps.caps(), "the annotated MP4 keeps these caps");
        let mut fixed = s.to_owned();
        let framerate = fixed.get::<gst::Fraction>("framerate").ok();
        fixed.remove_fields(["framerate", "interlace-mode"]);
        if let (Some(raw), Some(rate)) = (raw.upgrade(), rate.upgrade()) {
            raw.set_property("caps", gst::Caps::builder_full().structure(fixed).build());
            if let Some(framerate) = framerate {
                rate.set_property("caps", gst::Caps::builder("video/x-raw").field("framerate", framerate).build());
            }
        }
        gst::PadProbeReturn::Ok
    });
}

fn attach_branch(pipeline: &gst::Pipeline, tee: &gst::Element, branch: &[gst::Element]) -> Result<(), String> {
    pipeline.add_many(branch).map_err(|e| e.to_string())?;
    gst::Element::link_many(branch).map_err(|e| format!("cannot link an output branch: {e}"))?;
    tee.link(&branch[0]).map_err(|e| format!("cannot link an output branch: {e}"))
}

/// Links `uridecodebin`'s video pad, when it appears, to `queue`.
fn link_video_pads(decode: &gst::Element, queue: &gst::Element) {
    let queue = queue.downgrade();
    decode.connect_pad_added(move |_, pad| {
        let is_video = pad
            .current_caps()
            .or_else(|| Some(pad.query_caps(None)))
            .and_then(|c| c.structure(0).map(|s| s.name().starts_with("video/")))
            .unwrap_or(false);
        let Some(sink) = queue.upgrade().and_then(|q| q.static_pad("sink")) else { return };
        if !is_video || sink.is_linked() {
            return;
        }
        if let Err(e) = pad.link(&sink) {
            tracing::error!("cannot link the decoded video: {e:?}");
        }
    });
}

/// Counts the buffers in and out of the leaky queue.
fn count_drops(queue: &gst::Element) -> Drops {
    let (entered, left) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    for (pad, counter) in [("sink", entered.clone()), ("src", left.clone())] {
        if let Some(pad) = queue.static_pad(pad) {
            pad.add_probe(gst::PadProbeType::BUFFER, move |_, _| {
                counter.fetch_add(1, Ordering::Relaxed);
                gst::PadProbeReturn::Ok
            });
        }
    }
    Drops::Queue { queue: queue.clone(), entered, left }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_become_uris() {
        gst::init().unwrap();
        assert_eq!(input_uri("rtsp://cam:554/stream").unwrap(), "rtsp://cam:554/stream");
        assert_eq!(input_uri("/dev/video0").unwrap(), "v4l2:///dev/video0");
        assert!(input_uri("/nonexistent/video.mp4").unwrap_err().contains("no such file"));
        assert!(input_uri("file:///nonexistent/video.mp4").unwrap_err().contains("no such file"));
        let here = input_uri("Cargo.toml").unwrap();
        assert!(here.starts_with("file:///") && here.ends_with("/traffic-monitor/Cargo.toml"), "{here}");
    }

    /// The linecounter of a pipeline built from `config` (a config file's text).
    fn counter_of(config: &str) -> gst::Element {
        static REGISTER: std::sync::Once = std::sync::Once::new();
        REGISTER.call_once(|| {
            gst::init().unwrap();
            gsttraffic::plugin_register_static().unwrap();
        });
        let mut config: Config = toml::from_str(config).unwrap();
        config.source.uri = Some("Cargo.toml".into());
        config.output.dir = std::env::temp_dir().join(format!("traffic-monitor-build-{}", std::process::id()));
        let built = build(&config).unwrap();
        std::fs::remove_dir_all(&config.output.dir).ok();
        built
            .pipeline
            .iterate_elements()
            .into_iter()
            .flatten()
            .find(|e| e.factory().is_some_and(|f| f.name() == "linecounter"))
            .unwrap()
    }

    #[test]
    fn zones_hold_hidden_tracks_as_long_as_the_tracker_does() {
        let zone = "[[zone]]\nname = \"z\"\npoints = [0, 0.5, 1, 0.5, 1, 1]\n";
        let counter = counter_of(&format!("[tracker]\ntrack-buffer = 75\n{zone}"));
        assert_eq!(counter.property::<u32>("lost-after"), 75);
        let counter = counter_of(&format!("[tracker]\ntrack-buffer = 75\n[counting]\nlost-after = 10\n{zone}"));
        assert_eq!(counter.property::<u32>("lost-after"), 10, "unless set");
    }

    #[test]
    fn the_output_folder_is_locked_while_a_run_holds_it() {
        let dir = std::env::temp_dir().join(format!("traffic-monitor-lock-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let held = lock_folder(&dir).unwrap();
        // flock locks belong to the open file: a second open in this process is refused too.
        let err = lock_folder(&dir).unwrap_err();
        let holder = format!("is in use by another traffic-monitor run (process {})", std::process::id());
        assert!(err.contains(&holder), "{err}");
        drop(held);
        lock_folder(&dir).expect("free again once the holder is gone");
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn live_is_told_from_the_scheme() {
        assert!(
            is_live_scheme("rtsp://cam/1") && is_live_scheme("RTSP://cam/1") && is_live_scheme("v4l2:///dev/video0")
        );
        assert!(!is_live_scheme("file:///a.mp4") && !is_live_scheme("https://host/a.mp4"));
    }
}
