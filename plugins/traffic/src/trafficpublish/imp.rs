use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::subclass::prelude::*;
use serde_json::Value;

use super::events::EventSource;
use super::frame_json::frame_json;
use super::mqtt::{self, Mqtt};
use super::redis::Redis;
use super::sender::{self, Sender, Stats, Transport};
use super::EventKinds;
use crate::lock;
use crate::video;

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "trafficpublish",
        gst::DebugColorFlags::empty(),
        Some("Traffic metadata as JSON lines, and events to Redis Streams and MQTT"),
    )
});

const STDOUT: &str = "-";
const DEFAULT_STREAM: &str = "traffic-events";
const DEFAULT_STREAM_MAXLEN: u64 = 100_000;
/// One topic per camera, so that a consumer picks cameras with `traffic/+/events` or one name.
const DEFAULT_MQTT_TOPIC: &str = "traffic/{source}/events";
const DEFAULT_SPOOL_MAX_EVENTS: u32 = 100_000;
const DEFAULT_FLUSH_TIMEOUT_MS: u32 = 5000;
/// Connect, read and write (or acknowledgement) timeout towards a broker: long enough for a
/// loaded server, short enough that a dead one is noticed quickly (the sender thread spools
/// meanwhile, the video never waits).
const NETWORK_TIMEOUT: Duration = Duration::from_secs(2);

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
    mqtt_url: Option<String>,
    mqtt_topic: String,
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
            mqtt_url: None,
            mqtt_topic: DEFAULT_MQTT_TOPIC.into(),
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
    /// One per broker (Redis, MQTT): every event goes to each.
    senders: Vec<Sender>,
    events: EventSource,
    info: Option<gst_video::VideoInfo>,
    frame_index: u64,
    /// A write failed and was posted as an error: the outputs are not written to again.
    failed: bool,
}

impl State {
    fn wants_events(&self) -> bool {
        self.events_out.is_some() || !self.senders.is_empty()
    }
}

#[derive(Default)]
pub struct TrafficPublish {
    settings: Mutex<Settings>,
    state: Mutex<Option<State>>,
    /// One per sender; outlives the state, so that `stats` still answers after the pipeline stopped.
    stats: Mutex<Vec<Arc<Stats>>>,
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
                    .blurb("Events to publish to events-location, redis-url and mqtt-url (schema traffic-vision/events v1, docs/events.md): crossing, zone (zone-enter, zone-exit), plate, summary")
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
                    .blurb("Publish the events to this Redis stream, redis[s]://[[user]:password@]host[:port][/db] (rediss: TLS; unset: no Redis), at least once: while Redis is unreachable events wait in the spool")
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
                glib::ParamSpecString::builder("mqtt-url")
                    .nick("MQTT URL")
                    .blurb("Publish the events to this MQTT broker at QoS 1, mqtt[s]://[user[:password]@]host[:port][?client_id=ID] (mqtts: TLS; unset: no MQTT), at least once: an event leaves the spool once the broker acknowledged it")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("mqtt-topic")
                    .nick("MQTT topic")
                    .blurb("MQTT topic of the events, one JSON event per message; {source} is replaced by the source property ('default' when unset)")
                    .default_value(Some(DEFAULT_MQTT_TOPIC))
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("spool")
                    .nick("Spool")
                    .blurb("File holding the events not yet delivered, in order; it survives the process and is sent first by the next run (unset: location + '.spool', or trafficpublish-<stream>[-<source>].spool in the temp dir when location is stdout; with both redis-url and mqtt-url, MQTT's is this + '.mqtt'). One pipeline at a time: a second one on the same spool fails at start")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("spool-max-events")
                    .nick("Spool maximum events")
                    .blurb("Events the spool keeps while the broker is unreachable; beyond, the oldest are dropped, logged and counted in dropped-events")
                    .minimum(1)
                    .default_value(DEFAULT_SPOOL_MAX_EVENTS)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("flush-timeout")
                    .nick("Flush timeout")
                    .blurb("At EOS, milliseconds to wait for the spool to reach the broker; what is left stays in the spool for the next run")
                    .default_value(DEFAULT_FLUSH_TIMEOUT_MS)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt64::builder("dropped-events")
                    .nick("Dropped events")
                    .blurb("Events lost to the spool bound (or a stalled sender) since start")
                    .read_only()
                    .build(),
                crate::stats::property("Delivery since start, summed over Redis and MQTT: sent, spooled (went through the spool), pending (in the spool now), dropped, connected (to every broker)"),
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
            "mqtt-url" => s.mqtt_url = text(),
            "mqtt-topic" => s.mqtt_topic = text().unwrap_or_else(|| DEFAULT_MQTT_TOPIC.into()),
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
            "mqtt-url" => s.mqtt_url.to_value(),
            "mqtt-topic" => s.mqtt_topic.to_value(),
            "spool" => s.spool_path().to_string_lossy().into_owned().to_value(),
            "spool-max-events" => s.spool_max_events.to_value(),
            "flush-timeout" => s.flush_timeout_ms.to_value(),
            "dropped-events" => self.sum(|s| &s.dropped).to_value(),
            "stats" => {
                let stats = lock(&self.stats);
                let connected = !stats.is_empty() && stats.iter().all(|s| s.connected.load(Ordering::Relaxed));
                drop(stats);
                gst::Structure::builder("traffic-publish-stats")
                    .field("sent", self.sum(|s| &s.sent))
                    .field("spooled", self.sum(|s| &s.spooled))
                    .field("pending", self.sum(|s| &s.pending))
                    .field("dropped", self.sum(|s| &s.dropped))
                    .field("connected", connected)
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
                "Writes every frame's detections, tracks, plates and counts as one JSON line, and crossing, zone, plate and summary events as JSON lines, to a Redis stream and to MQTT; passes the video through",
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
    /// Sum of one counter over the senders.
    fn sum(&self, counter: impl Fn(&Stats) -> &AtomicU64) -> u64 {
        lock(&self.stats).iter().map(|s| counter(s).load(Ordering::Relaxed)).sum()
    }

    /// The brokers the settings name, each with a sender thread and a spool of its own.
    fn start_senders(&self, s: &Settings) -> Result<Vec<Sender>, gst::ErrorMessage> {
        let settings_error = |e: String| gst::error_msg!(gst::ResourceError::Settings, ["{}", e]);
        let mut transports: Vec<Box<dyn Transport>> = Vec::new();
        if let Some(url) = &s.redis_url {
            let redis = Redis::new(url, &s.stream, s.stream_maxlen, NETWORK_TIMEOUT).map_err(settings_error)?;
            transports.push(Box::new(redis));
        }
        if let Some(url) = &s.mqtt_url {
            let topic = mqtt::topic(&s.mqtt_topic, s.source.as_deref());
            transports.push(Box::new(Mqtt::new(url, topic, NETWORK_TIMEOUT).map_err(settings_error)?));
        }
        let mut senders = Vec::new();
        let mut all_stats = Vec::new();
        for (i, transport) in transports.into_iter().enumerate() {
            let mut spool = s.spool_path().into_os_string();
            if i > 0 {
                spool.push(format!(".{}", transport.name().to_lowercase()));
            }
            let spool = PathBuf::from(spool);
            let config = sender::Config { spool: spool.clone(), spool_max_events: s.spool_max_events as usize };
            let stats = Arc::new(Stats::default());
            all_stats.push(stats.clone());
            let log = Arc::new(ElementLog(self.obj().downgrade()));
            let sender = Sender::start(transport, config, stats, log).map_err(|e| {
                let hint = if e.kind() == io::ErrorKind::ResourceBusy {
                    "; give each pipeline its own 'spool' (or 'source', or 'location')"
                } else {
                    ""
                };
                gst::error_msg!(
                    gst::ResourceError::OpenWrite,
                    ["cannot open the spool {}: {}{}", spool.display(), e, hint]
                )
            })?;
            senders.push(sender);
        }
        *lock(&self.stats) = all_stats;
        Ok(senders)
    }

    /// Posts a write error, once: the first one says what went wrong, and the outputs are left
    /// alone after it (so that stopping never waits on a full disk).
    fn write_failed(&self, state: &mut State, location: &str, e: io::Error) {
        if !state.failed {
            state.failed = true;
            gst::element_imp_error!(self, gst::ResourceError::Write, ["cannot write {}: {}", location, e]);
        }
    }

    /// Writes the events to events-location and queues them for every broker (brokers get them
    /// even when the file cannot be written).
    fn publish(&self, state: &mut State, events: &[Value]) -> Result<(), gst::FlowError> {
        let mut result = Ok(());
        for event in events {
            let line = event.to_string();
            for sender in &state.senders {
                sender.send(line.clone());
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

    /// End of stream: the summary, the brokers given flush-timeout to take the spools, files
    /// flushed.
    fn finish(&self, state: &mut State) {
        if state.wants_events() {
            let summary: Vec<Value> = state.events.summary().into_iter().collect();
            // A failure is posted inside.
            let _ = self.publish(state, &summary);
        }
        let timeout = Duration::from_millis(lock(&self.settings).flush_timeout_ms.into());
        let deadline = Instant::now() + timeout;
        for sender in &state.senders {
            let left = sender.flush(deadline.saturating_duration_since(Instant::now()));
            if left > 0 {
                gst::warning!(
                    CAT,
                    imp = self,
                    "{left} events not delivered to {} after {timeout:?}: they stay in the spool for the next run",
                    sender.name()
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
        let senders = self.start_senders(&s)?;
        *lock(&self.state) = Some(State {
            frames_out,
            events_out,
            senders,
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
            // Dropping a sender ends its thread once it has spooled what was queued.
            state.senders.clear();
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
        // Lines must be on disk, and events at the brokers, when the pipeline reports EOS.
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
            let line = frame_json(frame, buf.pts().map(|t| t.nseconds()), size, &objects, counts.as_ref());
            if let Err(e) = out.write_line(&line) {
                let location = out.location.clone();
                self.write_failed(state, &location, e);
                return Err(gst::FlowError::Error);
            }
        }
        if state.wants_events() {
            let pts = buf.pts().map(|t| t.nseconds());
            let mut events = state.events.frame(frame, pts, &objects, counts.as_ref());
            events.extend(state.events.bins(frame, pts, &traffic_meta::bins(buf)));
            self.publish(state, &events)?;
        }
        Ok(gst::FlowSuccess::Ok)
    }
}
