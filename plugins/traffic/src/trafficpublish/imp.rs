use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::subclass::prelude::*;
use serde_json::{json, Map, Value};
use traffic_meta::{Counts, Object, PixelBox};

use super::events::{line_totals, round3, zone_entries, zone_occupancy, EventSource};
use super::redis::RedisUrl;
use super::sender::{self, Sender, Stats};
use super::EventKinds;
use crate::lock;
use crate::video;

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "trafficpublish",
        gst::DebugColorFlags::empty(),
        Some("Traffic metadata as JSON lines and Redis stream events"),
    )
});

const STDOUT: &str = "-";
const DEFAULT_STREAM: &str = "traffic-events";
const DEFAULT_STREAM_MAXLEN: u64 = 100_000;
const DEFAULT_SPOOL_MAX_EVENTS: u32 = 100_000;
const DEFAULT_FLUSH_TIMEOUT_MS: u32 = 5000;
/// Connect, read and write timeout towards Redis: long enough for a loaded server, short enough
/// that a dead one is noticed quickly (the sender thread spools meanwhile, the video never waits).
const REDIS_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Clone, Debug)]
struct Settings {
    location: String,
    frames: bool,
    events: EventKinds,
    events_location: Option<String>,
    source: Option<String>,
    redis_url: Option<String>,
    stream: String,
    stream_maxlen: u64,
    spool: Option<String>,
    spool_max_events: u32,
    flush_timeout_ms: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            location: STDOUT.into(),
            frames: true,
            events: EventKinds::all(),
            events_location: None,
            source: None,
            redis_url: None,
            stream: DEFAULT_STREAM.into(),
            stream_maxlen: DEFAULT_STREAM_MAXLEN,
            spool: None,
            spool_max_events: DEFAULT_SPOOL_MAX_EVENTS,
            flush_timeout_ms: DEFAULT_FLUSH_TIMEOUT_MS,
        }
    }
}

impl Settings {
    /// The spool's file: the `spool` property, else beside the JSON lines, else in the temp dir
    /// named after the stream and the source. One pipeline owns a spool: a second one on the
    /// same file fails at start.
    fn spool_path(&self) -> PathBuf {
        if let Some(spool) = &self.spool {
            return spool.into();
        }
        if self.location != STDOUT {
            return format!("{}.spool", self.location).into();
        }
        let safe = |s: &str| -> String {
            s.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' }).collect()
        };
        let source = self.source.as_deref().map(|s| format!("-{}", safe(s))).unwrap_or_default();
        std::env::temp_dir().join(format!("trafficpublish-{}{source}.spool", safe(&self.stream)))
    }
}

/// Per-frame lines reach the file at least this often, whole lines only.
const FRAMES_FLUSH_PERIOD: Duration = Duration::from_secs(1);

/// A JSON-lines output that only ever writes whole lines and flushes them every `period`
/// (zero: every line), so `tail -f` follows it and a crash loses at most the line being
/// written.
struct Output {
    location: String,
    out: BufWriter<Box<dyn Write + Send>>,
    period: Duration,
    flushed: Instant,
}

impl Output {
    fn write_line(&mut self, line: &impl serde::Serialize) -> io::Result<()> {
        // One write of the whole line: the buffer then never holds, nor spills, half of one.
        let mut bytes = serde_json::to_vec(line).map_err(io::Error::from)?;
        bytes.push(b'\n');
        self.out.write_all(&bytes)?;
        if self.flushed.elapsed() >= self.period {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.flushed = Instant::now();
        self.out.flush()
    }
}

struct State {
    /// Per-frame lines (`location`), unless `frames` is off.
    frames_out: Option<Output>,
    /// Event lines (`events-location`).
    events_out: Option<Output>,
    redis: Option<Sender>,
    events: EventSource,
    info: Option<gst_video::VideoInfo>,
    frame_index: u64,
    /// A write failed and was posted as an error: the outputs are not written to again.
    failed: bool,
}

impl State {
    fn wants_events(&self) -> bool {
        self.events_out.is_some() || self.redis.is_some()
    }
}

#[derive(Default)]
pub struct TrafficPublish {
    settings: Mutex<Settings>,
    state: Mutex<Option<State>>,
    /// Outlives the state, so that `stats` still answers after the pipeline stopped.
    stats: Mutex<Arc<Stats>>,
}

/// The sender thread logs through the element, as long as it exists.
struct ElementLog(glib::WeakRef<super::TrafficPublish>);

impl sender::Log for ElementLog {
    fn info(&self, msg: &str) {
        match self.0.upgrade() {
            Some(obj) => gst::info!(CAT, obj = obj, "{msg}"),
            None => gst::info!(CAT, "{msg}"),
        }
    }

    fn warning(&self, msg: &str) {
        match self.0.upgrade() {
            Some(obj) => {
                gst::warning!(CAT, obj = obj, "{msg}");
                // Said on the bus too, so that an application sees it without a debug log.
                let _ =
                    obj.post_message(gst::message::Warning::builder(gst::ResourceError::Write, msg).src(&obj).build());
            }
            None => gst::warning!(CAT, "{msg}"),
        }
    }

    fn error(&self, msg: &str) {
        match self.0.upgrade() {
            Some(obj) => {
                gst::error!(CAT, obj = obj, "{msg}");
                let _ =
                    obj.post_message(gst::message::Error::builder(gst::ResourceError::Settings, msg).src(&obj).build());
            }
            None => gst::error!(CAT, "{msg}"),
        }
    }
}

fn open_output(location: &str, period: Duration) -> Result<Output, gst::ErrorMessage> {
    let sink: Box<dyn Write + Send> = if location == STDOUT {
        Box::new(io::stdout())
    } else {
        let file = File::create(location)
            .map_err(|e| gst::error_msg!(gst::ResourceError::OpenWrite, ["cannot write {}: {}", location, e]))?;
        Box::new(file)
    };
    Ok(Output { location: location.to_string(), out: BufWriter::new(sink), period, flushed: Instant::now() })
}

/// Two decimals are finer than any detector; more digits only bloat the lines.
fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

fn box_json(b: &PixelBox) -> Value {
    json!([round2(b.x1), round2(b.y1), round2(b.x2), round2(b.y2)])
}

fn object_json(o: &Object, plates: &[&Object]) -> Value {
    let mut m = Map::new();
    m.insert("class".into(), o.label().into());
    if let Some(d) = &o.detection {
        m.insert("class_id".into(), d.label_id.into());
        m.insert("confidence".into(), round3(d.confidence).into());
    }
    m.insert("box".into(), box_json(&o.bbox));
    if let Some(t) = &o.track {
        m.insert("track_id".into(), t.id.into());
        m.insert("age".into(), t.age.into());
        m.insert("predicted".into(), t.predicted.into());
        m.insert("track_class".into(), t.label.as_str().into());
    }
    if let Some(p) = plates.iter().find(|p| p.parent_id == o.roi_id) {
        m.insert("plate".into(), plate_json(p));
    } else if o.is_plate() && o.plate.is_some() {
        // A plate without a vehicle on this frame (platedetect mode=frame): its text on itself.
        m.insert("plate".into(), plate_json(o));
    }
    Value::Object(m)
}

fn plate_json(p: &Object) -> Value {
    let mut m = Map::new();
    m.insert("box".into(), box_json(&p.bbox));
    if let Some(d) = &p.detection {
        m.insert("confidence".into(), round3(d.confidence).into());
    }
    if let Some(t) = &p.plate {
        m.insert("text".into(), t.text.as_str().into());
        m.insert("text_confidence".into(), round3(t.confidence).into());
        m.insert("track_text".into(), t.track_text.as_str().into());
        m.insert("track_confidence".into(), round3(t.track_confidence).into());
    }
    Value::Object(m)
}

/// Zones on every frame (`{zone: {occupancy: {class: n}, occupants: [...], entries: {class: n}}}`)
/// and the entries and exits of this frame (`zone_events`); crossings of this frame, and the
/// running totals after them: `{line: {class: {direction: n}}}`.
fn counts_json(counts: &Counts, m: &mut Map<String, Value>) {
    if !counts.zones.is_empty() {
        let zones: Map<String, Value> = counts
            .zones
            .iter()
            .map(|z| {
                let occupants: Vec<Value> = z
                    .occupants
                    .iter()
                    .map(|o| json!({"track_id": o.track_id, "class": o.class, "dwell": round3(o.dwell)}))
                    .collect();
                let body = json!({"occupancy": zone_occupancy(z), "occupants": occupants, "entries": zone_entries(z)});
                (z.name.clone(), body)
            })
            .collect();
        m.insert("zones".into(), Value::Object(zones));
    }
    if !counts.zone_events.is_empty() {
        let events: Vec<Value> = counts
            .zone_events
            .iter()
            .map(|e| {
                json!({"zone": e.zone, "event": e.kind.as_str(), "track_id": e.track_id, "class": e.class,
                    "dwell": round3(e.dwell), "plate": e.plate})
            })
            .collect();
        m.insert("zone_events".into(), Value::Array(events));
    }
    if counts.crossings.is_empty() {
        return;
    }
    let crossings: Vec<Value> = counts
        .crossings
        .iter()
        .map(|c| json!({"line": c.line, "direction": c.direction, "track_id": c.track_id, "class": c.class, "plate": c.plate}))
        .collect();
    let totals: Map<String, Value> = counts.lines.iter().map(|l| (l.name.clone(), line_totals(l))).collect();
    m.insert("crossings".into(), Value::Array(crossings));
    m.insert("totals".into(), Value::Object(totals));
}

/// One JSON line for a frame: its place in the stream and every object on it. Plates are
/// nested in their vehicle; a plate without a vehicle on this frame is listed on its own.
/// Frames with line crossings also carry them and the totals.
fn frame_json(
    frame: u64,
    pts: Option<gst::ClockTime>,
    size: traffic_meta::FrameSize,
    objects: &[Object],
    counts: Option<&Counts>,
) -> Value {
    let plates: Vec<&Object> = objects.iter().filter(|o| o.is_plate()).collect();
    let ids: Vec<i32> = objects.iter().map(|o| o.roi_id).collect();
    let mut list: Vec<Value> = objects.iter().filter(|o| !o.is_plate()).map(|o| object_json(o, &plates)).collect();
    list.extend(plates.iter().filter(|p| !ids.contains(&p.parent_id)).map(|p| object_json(p, &[])));
    let mut m = Map::new();
    m.insert("frame".into(), frame.into());
    m.insert("pts".into(), pts.map(|t| t.nseconds()).into());
    m.insert("width".into(), size.width.into());
    m.insert("height".into(), size.height.into());
    m.insert("objects".into(), Value::Array(list));
    if let Some(c) = counts {
        counts_json(c, &mut m);
    }
    Value::Object(m)
}

#[glib::object_subclass]
impl ObjectSubclass for TrafficPublish {
    const NAME: &'static str = "GstTrafficPublish";
    type Type = super::TrafficPublish;
    type ParentType = gst_base::BaseTransform;
}

impl ObjectImpl for TrafficPublish {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            vec![
                glib::ParamSpecString::builder("location")
                    .nick("Location")
                    .blurb("File to write the JSON lines to ('-': standard output); one line per frame: frame, pts (ns), width, height, objects (class, class_id, confidence, box [x1,y1,x2,y2] in pixels, track_id/age/predicted/track_class and plate when present), and crossings and totals on frames where a track crossed a counting line; zones (occupancy, occupants with dwell seconds, entries) on every frame when linecounter has zones, and zone_events on frames where a track entered or left one")
                    .default_value(Some(STDOUT))
                    .mutable_ready()
                    .build(),
                glib::ParamSpecBoolean::builder("frames")
                    .nick("Frames")
                    .blurb("Write the per-frame lines to location (off: only events are published)")
                    .default_value(true)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecFlags::builder::<EventKinds>("events")
                    .nick("Events")
                    .blurb("Events to publish to events-location and redis-url (schema traffic-vision/events v1, docs/events.md): crossing, zone (zone-enter, zone-exit), plate, summary")
                    .default_value(EventKinds::all())
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("events-location")
                    .nick("Events location")
                    .blurb("File to write the events to as JSON lines ('-': standard output; unset: none)")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("source")
                    .nick("Source")
                    .blurb("Name of this camera or stream, copied into every event as 'source' (unset: no field)")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("redis-url")
                    .nick("Redis URL")
                    .blurb("Publish the events to this Redis, redis://[[user]:password@]host[:port][/db] (unset: no Redis). Delivered at least once: while Redis is unreachable events wait in the spool")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("stream")
                    .nick("Stream")
                    .blurb("Redis stream key the events are added to (XADD, one field 'event' holding the JSON)")
                    .default_value(Some(DEFAULT_STREAM))
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt64::builder("stream-maxlen")
                    .nick("Stream maximum length")
                    .blurb("Trim the stream to about this many entries (XADD MAXLEN ~); 0: never trim")
                    .default_value(DEFAULT_STREAM_MAXLEN)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("spool")
                    .nick("Spool")
                    .blurb("File holding the events not yet in Redis, in order; it survives the process and is sent first by the next run (unset: location + '.spool', or trafficpublish-<stream>[-<source>].spool in the temp dir when location is stdout). One pipeline at a time: a second one on the same spool fails at start")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("spool-max-events")
                    .nick("Spool maximum events")
                    .blurb("Events the spool keeps while Redis is unreachable; beyond, the oldest are dropped, logged and counted in dropped-events")
                    .minimum(1)
                    .default_value(DEFAULT_SPOOL_MAX_EVENTS)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("flush-timeout")
                    .nick("Flush timeout")
                    .blurb("At EOS, milliseconds to wait for the spool to reach Redis; what is left stays in the spool for the next run")
                    .default_value(DEFAULT_FLUSH_TIMEOUT_MS)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt64::builder("dropped-events")
                    .nick("Dropped events")
                    .blurb("Events lost to the spool bound (or a stalled sender) since start")
                    .read_only()
                    .build(),
                crate::stats::property("Redis delivery since start: sent, spooled (went through the spool), pending (in the spool now), dropped, connected"),
            ]
        });
        PROPERTIES.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        if !crate::settable(self.obj().upcast_ref(), *CAT, pspec) {
            return;
        }
        let mut s = lock(&self.settings);
        let text = || value.get::<Option<String>>().ok().flatten().filter(|v| !v.is_empty());
        match pspec.name() {
            "location" => s.location = text().unwrap_or_else(|| STDOUT.into()),
            "frames" => s.frames = value.get().unwrap_or(true),
            "events" => s.events = value.get().unwrap_or(EventKinds::all()),
            "events-location" => s.events_location = text(),
            "source" => s.source = text(),
            "redis-url" => s.redis_url = text(),
            "stream" => s.stream = text().unwrap_or_else(|| DEFAULT_STREAM.into()),
            "stream-maxlen" => s.stream_maxlen = value.get().unwrap_or(DEFAULT_STREAM_MAXLEN),
            "spool" => s.spool = text(),
            "spool-max-events" => s.spool_max_events = value.get().unwrap_or(DEFAULT_SPOOL_MAX_EVENTS),
            "flush-timeout" => s.flush_timeout_ms = value.get().unwrap_or(DEFAULT_FLUSH_TIMEOUT_MS),
            _ => {}
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        let s = lock(&self.settings);
        match pspec.name() {
            "location" => s.location.to_value(),
            "frames" => s.frames.to_value(),
            "events" => s.events.to_value(),
            "events-location" => s.events_location.to_value(),
            "source" => s.source.to_value(),
            "redis-url" => s.redis_url.to_value(),
            "stream" => s.stream.to_value(),
            "stream-maxlen" => s.stream_maxlen.to_value(),
            "spool" => s.spool_path().to_string_lossy().into_owned().to_value(),
            "spool-max-events" => s.spool_max_events.to_value(),
            "flush-timeout" => s.flush_timeout_ms.to_value(),
            "dropped-events" => lock(&self.stats).dropped.load(Ordering::Relaxed).to_value(),
            "stats" => {
                let stats = lock(&self.stats).clone();
                gst::Structure::builder("traffic-publish-stats")
                    .field("sent", stats.sent.load(Ordering::Relaxed))
                    .field("spooled", stats.spooled.load(Ordering::Relaxed))
                    .field("pending", stats.pending.load(Ordering::Relaxed))
                    .field("dropped", stats.dropped.load(Ordering::Relaxed))
                    .field("connected", stats.connected.load(Ordering::Relaxed))
                    .build()
                    .to_value()
            }
            _ => glib::Value::from_type(pspec.value_type()),
        }
    }
}

impl GstObjectImpl for TrafficPublish {}

impl ElementImpl for TrafficPublish {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static META: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "Traffic metadata publisher",
                "Filter/Analyzer/Video",
                "Writes every frame's detections, tracks, plates and counts as one JSON line, and crossing, zone, plate and summary events as JSON lines and to a Redis stream; passes the video through",
                "traffic-vision developers",
            )
        });
        Some(&*META)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static TEMPLATES: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| video::pad_templates(&video::any_caps()));
        TEMPLATES.as_ref()
    }
}

impl TrafficPublish {
    fn start_redis(&self, s: &Settings, url: &str, stats: Arc<Stats>) -> Result<Sender, gst::ErrorMessage> {
        let url = RedisUrl::parse(url).map_err(|e| gst::error_msg!(gst::ResourceError::Settings, ["{}", e]))?;
        let spool = s.spool_path();
        let config = sender::Config {
            url,
            stream: s.stream.clone(),
            maxlen: s.stream_maxlen,
            spool: spool.clone(),
            spool_max_events: s.spool_max_events as usize,
            timeout: REDIS_TIMEOUT,
        };
        let log = Arc::new(ElementLog(self.obj().downgrade()));
        Sender::start(config, stats, log).map_err(|e| {
            let hint = if e.kind() == io::ErrorKind::ResourceBusy {
                "; give each pipeline its own 'spool' (or 'source', or 'location')"
            } else {
                ""
            };
            gst::error_msg!(gst::ResourceError::OpenWrite, ["cannot open the spool {}: {}{}", spool.display(), e, hint])
        })
    }

    /// Posts a write error, once: the first one says what went wrong, and the outputs are left
    /// alone after it (so that stopping never waits on a full disk).
    fn write_failed(&self, state: &mut State, location: &str, e: io::Error) {
        if !state.failed {
            state.failed = true;
            gst::element_imp_error!(self, gst::ResourceError::Write, ["cannot write {}: {}", location, e]);
        }
    }

    /// Writes the events to events-location and queues them for Redis (Redis gets them even
    /// when the file cannot be written).
    fn publish(&self, state: &mut State, events: &[Value]) -> Result<(), gst::FlowError> {
        let mut result = Ok(());
        for event in events {
            if let Some(redis) = &state.redis {
                redis.send(event.to_string());
            }
            if state.failed {
                result = Err(gst::FlowError::Error);
            } else if let Some(out) = state.events_out.as_mut() {
                if let Err(e) = out.write_line(event) {
                    let location = out.location.clone();
                    self.write_failed(state, &location, e);
                    result = Err(gst::FlowError::Error);
                }
            }
        }
        result
    }

    /// End of stream: the summary, Redis given flush-timeout to take the spool, files flushed.
    fn finish(&self, state: &mut State) {
        if state.wants_events() {
            let summary: Vec<Value> = state.events.summary().into_iter().collect();
            // A failure is posted inside.
            let _ = self.publish(state, &summary);
        }
        if let Some(redis) = &state.redis {
            let timeout = Duration::from_millis(lock(&self.settings).flush_timeout_ms.into());
            let left = redis.flush(timeout);
            if left > 0 {
                gst::warning!(
                    CAT,
                    imp = self,
                    "{left} events not in Redis after {timeout:?}: they stay in the spool for the next run"
                );
            }
        }
        self.flush_outputs(state);
    }

    fn flush_outputs(&self, state: &mut State) {
        if state.failed {
            return;
        }
        let mut error = None;
        for out in [state.frames_out.as_mut(), state.events_out.as_mut()].into_iter().flatten() {
            if let Err(e) = out.flush() {
                error.get_or_insert((out.location.clone(), e));
            }
        }
        if let Some((location, e)) = error {
            self.write_failed(state, &location, e);
        }
    }
}

impl BaseTransformImpl for TrafficPublish {
    const MODE: gst_base::subclass::BaseTransformMode = gst_base::subclass::BaseTransformMode::AlwaysInPlace;
    const PASSTHROUGH_ON_SAME_CAPS: bool = true;
    const TRANSFORM_IP_ON_PASSTHROUGH: bool = true;

    fn start(&self) -> Result<(), gst::ErrorMessage> {
        let s = lock(&self.settings).clone();
        let frames_out = if s.frames { Some(open_output(&s.location, FRAMES_FLUSH_PERIOD)?) } else { None };
        let events_out = s.events_location.as_deref().map(|l| open_output(l, Duration::ZERO)).transpose()?;
        let stats = Arc::new(Stats::default());
        *lock(&self.stats) = stats.clone();
        let redis = s.redis_url.as_deref().map(|url| self.start_redis(&s, url, stats)).transpose()?;
        *lock(&self.state) = Some(State {
            frames_out,
            events_out,
            redis,
            events: EventSource::new(s.events, s.source.clone()),
            info: None,
            frame_index: 0,
            failed: false,
        });
        Ok(())
    }

    /// Always succeeds: a pipeline must be stoppable whatever the disk does. A flush that
    /// fails here is posted as an error (unless one was already).
    fn stop(&self) -> Result<(), gst::ErrorMessage> {
        let state = lock(&self.state).take();
        if let Some(mut state) = state {
            // Dropping the sender ends its thread once it has spooled what was queued.
            state.redis.take();
            self.flush_outputs(&mut state);
        }
        Ok(())
    }

    fn set_caps(&self, incaps: &gst::Caps, _outcaps: &gst::Caps) -> Result<(), gst::LoggableError> {
        let info = video::info_from_caps(&CAT, incaps)?;
        if let Some(state) = lock(&self.state).as_mut() {
            state.info = Some(info);
        }
        Ok(())
    }

    fn sink_event(&self, event: gst::Event) -> bool {
        // Lines must be on disk, and events in Redis, when the pipeline reports EOS.
        if let gst::EventView::Eos(_) = event.view() {
            if let Some(state) = lock(&self.state).as_mut() {
                self.finish(state);
            }
        }
        self.parent_sink_event(event)
    }

    fn transform_ip_passthrough(&self, buf: &gst::Buffer) -> Result<gst::FlowSuccess, gst::FlowError> {
        let mut guard = lock(&self.state);
        let state = guard.as_mut().ok_or(gst::FlowError::Flushing)?;
        let size = video::frame_size(state.info.as_ref().ok_or(gst::FlowError::NotNegotiated)?);
        let objects = traffic_meta::objects(buf, size);
        let counts = traffic_meta::counts(buf);
        let frame = state.frame_index;
        state.frame_index += 1;
        if state.failed {
            return Err(gst::FlowError::Error);
        }
        if let Some(out) = state.frames_out.as_mut() {
            let line = frame_json(frame, buf.pts(), size, &objects, counts.as_ref());
            if let Err(e) = out.write_line(&line) {
                let location = out.location.clone();
                self.write_failed(state, &location, e);
                return Err(gst::FlowError::Error);
            }
        }
        if state.wants_events() {
            let events = state.events.frame(frame, buf.pts().map(|t| t.nseconds()), &objects, counts.as_ref());
            self.publish(state, &events)?;
        }
        Ok(gst::FlowSuccess::Ok)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use traffic_meta::{Detection, FrameSize, Plate, Track};

    #[test]
    fn frame_json_nests_plates_in_their_vehicle() {
        let size = FrameSize { width: 100, height: 50 };
        let det = |label: &str| Detection {
            label: label.into(),
            label_id: 2,
            confidence: 0.876543,
            bbox: PixelBox { x1: 1.0, y1: 2.0, x2: 30.123, y2: 40.0 },
        };
        let car = Object {
            roi_id: 1,
            parent_id: -1,
            roi_type: "car".into(),
            bbox: det("car").bbox,
            detection: Some(det("car")),
            track: Some(Track { id: 4, age: 9, predicted: false, label: "car".into(), label_id: 2 }),
            plate: None,
        };
        let plate = Object {
            roi_id: 2,
            parent_id: 1,
            roi_type: traffic_meta::PLATE_ROI_TYPE.into(),
            plate: Some(Plate {
                text: "AB1".into(),
                confidence: 0.9,
                track_text: "AB12".into(),
                track_confidence: 0.8,
            }),
            track: None,
            ..car.clone()
        };
        let counts = Counts {
            lines: vec![traffic_meta::LineTotals {
                name: "road".into(),
                start: (0.0, 30.0),
                end: (100.0, 30.0),
                in_name: "down".into(),
                out_name: "up".into(),
                totals: vec![traffic_meta::ClassTotal { class: "car".into(), direction: "down".into(), count: 2 }],
            }],
            crossings: vec![traffic_meta::Crossing {
                line: "road".into(),
                direction: "down".into(),
                track_id: 4,
                class: "car".into(),
                plate: None,
            }],
            zones: vec![traffic_meta::ZoneState {
                name: "lot".into(),
                points: vec![(0.0, 0.0), (50.0, 0.0), (50.0, 50.0)],
                occupants: vec![
                    traffic_meta::ZoneOccupant { track_id: 4, class: "car".into(), dwell: 12.3456 },
                    traffic_meta::ZoneOccupant { track_id: 9, class: "car".into(), dwell: 1.0 },
                ],
                entries: vec![("car".into(), 5)],
            }],
            zone_events: vec![traffic_meta::ZoneEvent {
                zone: "lot".into(),
                kind: traffic_meta::ZoneEventKind::Exit,
                track_id: 2,
                class: "truck".into(),
                dwell: 7.00049,
                plate: Some("XY9".into()),
            }],
        };
        let v = frame_json(3, Some(gst::ClockTime::from_mseconds(40)), size, &[car, plate], Some(&counts));
        assert_eq!(v["zones"]["lot"]["occupancy"]["car"], 2);
        assert_eq!(v["zones"]["lot"]["occupants"][0], json!({"track_id": 4, "class": "car", "dwell": 12.346}));
        assert_eq!(v["zones"]["lot"]["entries"]["car"], 5);
        assert_eq!(
            v["zone_events"],
            json!([{"zone": "lot", "event": "exit", "track_id": 2, "class": "truck", "dwell": 7.0, "plate": "XY9"}])
        );
        assert_eq!(v["crossings"][0]["track_id"], 4);
        assert_eq!(v["totals"]["road"]["car"]["down"], 2);
        assert_eq!(v["frame"], 3);
        assert_eq!(v["pts"], 40_000_000u64);
        let objs = v["objects"].as_array().unwrap();
        assert_eq!(objs.len(), 1);
        assert_eq!(objs[0]["class"], "car");
        assert_eq!(objs[0]["confidence"], 0.877);
        assert_eq!(objs[0]["box"], json!([1.0, 2.0, 30.12, 40.0]));
        assert_eq!(objs[0]["track_id"], 4);
        assert_eq!(objs[0]["plate"]["track_text"], "AB12");
    }
}
