//! The `trafficsrc` bin: `uridecodebin ! videoconvert ! queue` behind an always src pad.
//!
//! `uridecodebin` (decodebin2), not `uridecodebin3`: on GStreamer 1.22 it is the long-proven
//! path for `rtspsrc` (as DeepStream's `nvurisrcbin` uses it), it exposes each decoded stream
//! as soon as it is known, and nothing here needs decodebin3's stream selection or gapless
//! switching.
//!
//! Live sources (network schemes such as `rtsp://`, or any source that is live at PAUSED) are
//! supervised, in the spirit of gst-plugins-rs `fallbacksrc`: an error, an end of stream or a
//! stall (no buffer for `stall-timeout`) retires the decoder, and a supervisor thread builds a
//! new one after an exponential backoff. The `videoconvert ! queue` tail stays, so downstream
//! keeps its pads and its state (tracks, counts). The new decoder's stream-start and segment
//! are held back, flushes never pass, and buffers are re-timestamped to running time, so
//! downstream sees one continuous stream; new caps (a changed resolution) do pass.
//! Files are not supervised: their errors and EOS pass as from any source.

use std::sync::{Arc, Condvar, LazyLock, Mutex, MutexGuard, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;

use super::backoff::retry_delay;
use crate::lock;

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new("trafficsrc", gst::DebugColorFlags::empty(), Some("Live video source with reconnect"))
});

/// URI schemes of network streams: supervised from the start, before the source reports
/// itself live (its first connection may already fail).
const LIVE_SCHEMES: [&str; 10] = ["rtsp", "rtsps", "rtspt", "rtspu", "rtsph", "rtmp", "rtmps", "srt", "udp", "rtp"];

#[derive(Clone, Debug)]
struct Settings {
    uri: Option<String>,
    latency_ms: u32,
    retry_initial_ms: u32,
    retry_max_ms: u32,
    retry_timeout_ms: u32,
    stall_timeout_ms: u32,
    max_size_buffers: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            uri: None,
            latency_ms: 200,
            retry_initial_ms: 500,
            retry_max_ms: 10_000,
            retry_timeout_ms: 0,
            stall_timeout_ms: 5_000,
            max_size_buffers: 2,
        }
    }
}

fn millis(ms: u32) -> Duration {
    Duration::from_millis(ms.into())
}

/// Where the source stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Link {
    Idle,
    /// A decoder is being set up; no buffer from it yet.
    Connecting,
    Connected,
    /// The source was lost; a new decoder comes at `rebuild_at`.
    Waiting,
    /// `retry-timeout` ran out; an error was posted.
    Failed,
}

impl Link {
    fn name(self) -> &'static str {
        match self {
            Link::Idle => "idle",
            Link::Connecting => "connecting",
            Link::Connected => "connected",
            Link::Waiting => "reconnecting",
            Link::Failed => "failed",
        }
    }
}

/// A source just lost: what the `traffic-source` message tells.
struct Lost {
    attempt: u32,
    delay: Duration,
    reason: String,
}

struct State {
    settings: Settings,
    live: bool,
    playing: bool,
    /// An EOS was sent to the element: the stream is ending, nothing is rebuilt.
    eos: bool,
    /// The supervisor thread should exit.
    stop: bool,
    link: Link,
    decoder: Option<gst::Element>,
    /// Decoders to take down on the supervisor thread (never on a streaming thread).
    retired: Vec<gst::Element>,
    generation: u32,
    /// Failed attempts since the source was last connected.
    attempt: u32,
    ever_connected: bool,
    /// The last sign of life: a buffer, a new decoder, or the start of PLAYING.
    activity: Instant,
    lost_at: Option<Instant>,
    rebuild_at: Option<Instant>,
    /// The segment of the current decoder, to turn its timestamps into running time.
    segment: Option<gst::FormattedSegment<gst::ClockTime>>,
    sent_stream_start: bool,
    sent_segment: bool,
    buffers: u64,
    dropped: u64,
    reconnects: u32,
    last_error: Option<String>,
}

impl State {
    fn new(settings: Settings, live: bool) -> Self {
        State {
            settings,
            live,
            playing: false,
            eos: false,
            stop: false,
            link: Link::Idle,
            decoder: None,
            retired: Vec::new(),
            generation: 0,
            attempt: 0,
            ever_connected: false,
            activity: Instant::now(),
            lost_at: None,
            rebuild_at: None,
            segment: None,
            sent_stream_start: false,
            sent_segment: false,
            buffers: 0,
            dropped: 0,
            reconnects: 0,
            last_error: None,
        }
    }

    fn uri(&self) -> &str {
        self.settings.uri.as_deref().unwrap_or("")
    }

    /// Retires the decoder of a live source and schedules the next attempt; None where there
    /// is nothing to rebuild (not live, ending, already waiting, or given up).
    fn lose(&mut self, reason: &str) -> Option<Lost> {
        if !self.live || self.eos || self.stop || !matches!(self.link, Link::Connecting | Link::Connected) {
            return None;
        }
        self.retired.extend(self.decoder.take());
        self.attempt += 1;
        let now = Instant::now();
        self.lost_at.get_or_insert(now);
        let s = &self.settings;
        let delay = retry_delay(millis(s.retry_initial_ms), millis(s.retry_max_ms), self.attempt);
        self.rebuild_at = Some(now + delay);
        self.link = Link::Waiting;
        self.last_error = Some(reason.to_string());
        Some(Lost { attempt: self.attempt, delay, reason: reason.to_string() })
    }

    /// A buffer came: the source is connected. Returns the attempts it took when it was not.
    fn on_buffer(&mut self) -> Option<u32> {
        self.buffers += 1;
        self.activity = Instant::now();
        if self.link != Link::Connecting {
            return None;
        }
        let attempts = self.attempt;
        if self.ever_connected {
            self.reconnects += 1;
        }
        self.ever_connected = true;
        self.link = Link::Connected;
        self.attempt = 0;
        self.lost_at = None;
        Some(attempts)
    }

    /// When the source has been silent for `stall-timeout` while playing.
    fn stall_deadline(&self) -> Option<Instant> {
        let watching = self.live && self.playing && !self.eos && matches!(self.link, Link::Connecting | Link::Connected);
        (watching && self.settings.stall_timeout_ms > 0).then(|| self.activity + millis(self.settings.stall_timeout_ms))
    }

    /// When to give up on a lost source.
    fn give_up_deadline(&self) -> Option<Instant> {
        let limit = self.settings.retry_timeout_ms;
        self.lost_at.filter(|_| limit > 0 && self.link != Link::Failed).map(|t| t + millis(limit))
    }

    fn stats(&self) -> gst::Structure {
        gst::Structure::builder("traffic-source-stats")
            .field("uri", self.uri())
            .field("state", self.link.name())
            .field("live", self.live)
            .field("buffers", self.buffers)
            .field("dropped", self.dropped)
            .field("reconnects", self.reconnects)
            .field("attempt", self.attempt)
            .field("last-error", self.last_error.as_deref().unwrap_or(""))
            .build()
    }
}

/// The state, shared with the supervisor thread, and the bell that wakes it.
struct Control {
    state: Mutex<State>,
    wake: Condvar,
}

/// The permanent tail of the bin.
struct Chain {
    convert: gst::Element,
    queue: gst::Element,
}

pub struct TrafficSrc {
    settings: Mutex<Settings>,
    control: Arc<Control>,
    chain: OnceLock<Chain>,
    supervisor: Mutex<Option<JoinHandle<()>>>,
}

impl Default for TrafficSrc {
    fn default() -> Self {
        TrafficSrc {
            settings: Mutex::new(Settings::default()),
            control: Arc::new(Control { state: Mutex::new(State::new(Settings::default(), false)), wake: Condvar::new() }),
            chain: OnceLock::new(),
            supervisor: Mutex::new(None),
        }
    }
}

impl TrafficSrc {
    fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.control.state)
    }

    fn build_chain(&self) -> Result<Chain, glib::BoolError> {
        let obj = self.obj();
        // videoconvert is passthrough (no copy) when downstream takes the decoder's format; it
        // is there for the formats our elements do not read (10-bit, 4:2:2...).
        let convert = gst::ElementFactory::make("videoconvert").name("convert").build()?;
        // Counted in buffers only: `max-size-buffers` is the whole latency budget.
        let queue = gst::ElementFactory::make("queue")
            .name("queue")
            .property("max-size-bytes", 0u32)
            .property("max-size-time", 0u64)
            .build()?;
        obj.add_many([&convert, &queue])?;
        convert.link(&queue)?;
        let queue_src = queue.static_pad("src").ok_or_else(|| glib::bool_error!("queue without src pad"))?;
        let templ = obj.pad_template("src").ok_or_else(|| glib::bool_error!("no src pad template"))?;
        let ghost = gst::GhostPad::from_template_with_target(&templ, &queue_src)?;
        obj.add_pad(&ghost)?;

        let sink = convert.static_pad("sink").ok_or_else(|| glib::bool_error!("videoconvert without sink pad"))?;
        let weak = obj.downgrade();
        sink.add_probe(gst::PadProbeType::BUFFER | gst::PadProbeType::EVENT_DOWNSTREAM, move |_, info| {
            weak.upgrade().map_or(gst::PadProbeReturn::Ok, |obj| obj.imp().on_decoded(info))
        });
        let weak = obj.downgrade();
        // With leaky=downstream every overrun drops the oldest buffer: one overrun, one drop.
        queue.connect("overrun", false, move |_| {
            if let Some(obj) = weak.upgrade() {
                let mut st = obj.imp().state();
                if st.live {
                    st.dropped += 1;
                }
            }
            None
        });
        Ok(Chain { convert, queue })
    }

    fn chain(&self) -> Result<&Chain, gst::StateChangeError> {
        self.chain.get().ok_or_else(|| {
            gst::element_imp_error!(
                self,
                gst::CoreError::MissingPlugin,
                ["videoconvert or queue is missing: install gstreamer1.0-plugins-base (make setup)"]
            );
            gst::StateChangeError
        })
    }

    /// READY -> PAUSED: fresh state, the queue set for the source's kind, the first decoder.
    fn start(&self) -> Result<(), gst::StateChangeError> {
        let settings = lock(&self.settings).clone();
        let Some(uri) = settings.uri.clone() else {
            gst::element_imp_error!(self, gst::ResourceError::NotFound, ["No uri set"]);
            return Err(gst::StateChangeError);
        };
        let chain = self.chain()?;
        let scheme = uri.split_once(':').map(|(scheme, _)| scheme.to_ascii_lowercase());
        let live = scheme.is_some_and(|s| LIVE_SCHEMES.contains(&s.as_str()));
        chain.queue.set_property("max-size-buffers", settings.max_size_buffers);
        self.set_leaky(live);
        *self.state() = State::new(settings, live);
        self.add_decoder(false).map_err(|e| {
            gst::element_imp_error!(self, gst::CoreError::MissingPlugin, ["Cannot create uridecodebin for {}: {}", uri, e]);
            gst::StateChangeError
        })
    }

    /// A live source never waits for slow inference: the queue drops its oldest frame.
    /// A file is read at the pace of its consumer: nothing is dropped.
    fn set_leaky(&self, live: bool) {
        if let Some(chain) = self.chain.get() {
            chain.queue.set_property_from_str("leaky", if live { "downstream" } else { "no" });
        }
    }

    fn add_decoder(&self, sync_state: bool) -> Result<(), glib::BoolError> {
        let (uri, latency_ms, generation) = {
            let mut st = self.state();
            st.generation += 1;
            (st.uri().to_string(), st.settings.latency_ms, st.generation)
        };
        let decoder =
            gst::ElementFactory::make("uridecodebin").name(format!("decoder{generation}")).property("uri", &uri).build()?;
        decoder.connect("source-setup", false, move |args| {
            if let Some(source) = args.get(1).and_then(|v| v.get::<gst::Element>().ok()) {
                configure_source(&source, latency_ms);
            }
            None
        });
        let weak = self.obj().downgrade();
        decoder.connect_pad_added(move |_, pad| {
            if let Some(obj) = weak.upgrade() {
                obj.imp().link_decoded(pad);
            }
        });
        self.obj().add(&decoder)?;
        {
            let mut st = self.state();
            st.decoder = Some(decoder.clone());
            st.link = Link::Connecting;
            st.activity = Instant::now();
            st.segment = None;
        }
        gst::debug!(CAT, imp = self, "{} reads {}", decoder.name(), uri);
        if sync_state {
            decoder.sync_state_with_parent()?;
        }
        Ok(())
    }

    fn link_decoded(&self, pad: &gst::Pad) {
        let caps = pad.current_caps().unwrap_or_else(|| pad.query_caps(None));
        if !caps.structure(0).is_some_and(|s| s.name().starts_with("video/")) {
            gst::debug!(CAT, imp = self, "ignoring non-video stream {caps}");
            return;
        }
        let Some(sink) = self.chain.get().and_then(|c| c.convert.static_pad("sink")) else { return };
        if sink.is_linked() {
            gst::debug!(CAT, imp = self, "already reading a video stream; ignoring {}", pad.name());
            return;
        }
        if let Err(e) = pad.link(&sink) {
            gst::warning!(CAT, imp = self, "cannot link {}: {e:?}", pad.name());
        }
    }

    /// Everything the decoder sends, before `videoconvert`.
    fn on_decoded(&self, info: &mut gst::PadProbeInfo) -> gst::PadProbeReturn {
        let mut st = self.state();
        match &mut info.data {
            Some(gst::PadProbeData::Buffer(buffer)) => {
                let connected = st.on_buffer();
                let keep = !st.live || to_running_time(buffer, st.segment.as_ref());
                let message = connected.map(|attempts| self.source_message(&st, "connected", attempts, None));
                drop(st);
                if let Some(m) = message {
                    gst::info!(CAT, imp = self, "connected to {}", self.state().uri());
                    let _ = self.obj().post_message(m);
                }
                if keep {
                    gst::PadProbeReturn::Ok
                } else {
                    gst::PadProbeReturn::Handled
                }
            }
            Some(gst::PadProbeData::Event(event)) if st.live => {
                let (ret, replacement, lost) = live_event(&mut st, event);
                drop(st);
                if let Some(e) = replacement {
                    info.data = Some(gst::PadProbeData::Event(e));
                }
                if let Some(lost) = lost {
                    self.announce_loss(lost);
                }
                ret
            }
            _ => gst::PadProbeReturn::Ok,
        }
    }

    fn source_message(&self, st: &State, state: &str, attempt: u32, lost: Option<&Lost>) -> gst::Message {
        let mut s = gst::Structure::builder("traffic-source")
            .field("state", state)
            .field("uri", st.uri())
            .field("attempt", attempt)
            .field("reconnects", st.reconnects)
            .build();
        if let Some(lost) = lost {
            s.set("delay-ms", lost.delay.as_millis() as u64);
            s.set("reason", lost.reason.as_str());
        }
        gst::message::Element::builder(s).src(&*self.obj()).build()
    }

    /// Tells the application, and wakes the supervisor to take the old decoder down.
    fn announce_loss(&self, lost: Lost) {
        self.control.wake.notify_one();
        let message = {
            let st = self.state();
            gst::warning!(
                CAT,
                imp = self,
                "lost {} ({}); attempt {} in {} ms",
                st.uri(),
                lost.reason,
                lost.attempt,
                lost.delay.as_millis()
            );
            self.source_message(&st, "reconnecting", lost.attempt, Some(&lost))
        };
        let _ = self.obj().post_message(message);
    }

    fn take_down(&self, decoders: Vec<gst::Element>) {
        for decoder in decoders {
            // Removed first, so that whatever it posts while stopping reaches nobody.
            if let Err(e) = self.obj().remove(&decoder) {
                gst::warning!(CAT, imp = self, "cannot remove {}: {e}", decoder.name());
            }
            let _ = decoder.set_state(gst::State::Null);
            gst::debug!(CAT, imp = self, "{} taken down", decoder.name());
        }
    }

    fn start_supervisor(&self) {
        let control = self.control.clone();
        let weak = self.obj().downgrade();
        let spawned = std::thread::Builder::new().name("trafficsrc-supervisor".into()).spawn(move || supervise(&control, &weak));
        match spawned {
            Ok(handle) => *lock(&self.supervisor) = Some(handle),
            Err(e) => gst::error!(CAT, imp = self, "cannot start the supervisor thread: {e}"),
        }
    }

    fn stop_supervisor(&self) {
        self.state().stop = true;
        self.control.wake.notify_one();
        if let Some(handle) = lock(&self.supervisor).take() {
            let _ = handle.join();
        }
    }

    /// Back to READY: every decoder out of the bin.
    fn take_down_all(&self) {
        let decoders: Vec<gst::Element> = {
            let mut st = self.state();
            let mut all = std::mem::take(&mut st.retired);
            all.extend(st.decoder.take());
            st.link = Link::Idle;
            all
        };
        self.take_down(decoders);
    }
}

/// rtspsrc (and other jitter-buffered sources) take their buffering in milliseconds.
fn configure_source(source: &gst::Element, latency_ms: u32) {
    if source.find_property("latency").is_some_and(|p| p.value_type() == u32::static_type()) {
        source.set_property("latency", latency_ms);
    }
}

/// Sets a buffer's timestamps to running time; false when it falls outside the segment.
fn to_running_time(buffer: &mut gst::Buffer, segment: Option<&gst::FormattedSegment<gst::ClockTime>>) -> bool {
    let (Some(segment), Some(pts)) = (segment, buffer.pts()) else { return true };
    let Some(running) = segment.to_running_time(pts) else { return false };
    if running != pts {
        let dts = buffer.dts().and_then(|d| segment.to_running_time(d));
        let b = buffer.make_mut();
        b.set_pts(running);
        b.set_dts(dts);
    }
    true
}

/// A live decoder's event: whether it passes, what replaces it, and whether the source ended.
fn live_event(st: &mut State, event: &gst::Event) -> (gst::PadProbeReturn, Option<gst::Event>, Option<Lost>) {
    // Handled, not Drop, for what does not pass: the probe took it and drops it itself
    // (gstreamer-rs 0.25 hands the C side a NULL for Drop, which it then unrefs).
    use gst::PadProbeReturn::{Handled, Ok};
    match event.view() {
        // One stream for downstream, whatever the number of decoders behind it.
        gst::EventView::StreamStart(_) if st.sent_stream_start => (Handled, None, None),
        gst::EventView::StreamStart(_) => {
            st.sent_stream_start = true;
            (Ok, None, None)
        }
        gst::EventView::Segment(e) => match e.segment().downcast_ref::<gst::ClockTime>() {
            Some(segment) => {
                st.segment = Some(segment.clone());
                if st.sent_segment {
                    (Handled, None, None)
                } else {
                    // Buffers leave in running time, so downstream's segment is the identity.
                    st.sent_segment = true;
                    let identity = gst::event::Segment::new(&gst::FormattedSegment::<gst::ClockTime>::new());
                    (Ok, Some(identity), None)
                }
            }
            None => (Ok, None, None),
        },
        // A flush would make mottracker forget its tracks.
        gst::EventView::FlushStart(_) | gst::EventView::FlushStop(_) => (Handled, None, None),
        gst::EventView::Eos(_) if st.eos => (Ok, None, None),
        gst::EventView::Eos(_) => (Handled, None, st.lose("end of stream")),
        _ => (Ok, None, None),
    }
}

/// The supervisor thread: takes retired decoders down, builds new ones when their backoff
/// ends, watches for stalls and gives up after `retry-timeout`.
fn supervise(control: &Control, element: &glib::WeakRef<super::TrafficSrc>) {
    let mut st = lock(&control.state);
    loop {
        if st.stop {
            return;
        }
        let now = Instant::now();
        if !st.retired.is_empty() {
            let retired = std::mem::take(&mut st.retired);
            drop(st);
            if let Some(obj) = element.upgrade() {
                obj.imp().take_down(retired);
            }
        } else if st.give_up_deadline().is_some_and(|t| now >= t) {
            st.link = Link::Failed;
            st.rebuild_at = None;
            let decoder = st.decoder.take();
            st.retired.extend(decoder);
            let text = format!(
                "Could not connect to {}: gave up after {} attempts in {} ms (retry-timeout); last error: {}",
                st.uri(),
                st.attempt,
                st.settings.retry_timeout_ms,
                st.last_error.as_deref().unwrap_or("none")
            );
            drop(st);
            if let Some(obj) = element.upgrade() {
                gst::element_error!(obj, gst::ResourceError::OpenRead, ["{}", text]);
            }
        } else if st.link == Link::Waiting && !st.eos && st.rebuild_at.is_some_and(|t| now >= t) {
            st.rebuild_at = None;
            let attempt = st.attempt;
            drop(st);
            if let Some(obj) = element.upgrade() {
                gst::info!(CAT, obj = obj, "reconnecting, attempt {attempt}");
                if let Err(e) = obj.imp().add_decoder(true) {
                    let lost = obj.imp().state().lose(&format!("cannot start a new decoder: {e}"));
                    if let Some(lost) = lost {
                        obj.imp().announce_loss(lost);
                    }
                }
            }
        } else if st.stall_deadline().is_some_and(|t| now >= t) {
            let reason = format!("no data for {} ms", st.settings.stall_timeout_ms);
            let lost = st.lose(&reason);
            drop(st);
            if let (Some(obj), Some(lost)) = (element.upgrade(), lost) {
                obj.imp().announce_loss(lost);
            }
        } else {
            let next = [st.rebuild_at, st.stall_deadline(), st.give_up_deadline()].into_iter().flatten().min();
            let wait = next.map_or(Duration::from_secs(1), |t| t.saturating_duration_since(now));
            let wait = wait.clamp(Duration::from_millis(5), Duration::from_secs(1));
            st = control.wake.wait_timeout(st, wait).map_or_else(|p| p.into_inner().0, |(g, _)| g);
            continue;
        }
        st = lock(&control.state);
    }
}

#[glib::object_subclass]
impl ObjectSubclass for TrafficSrc {
    const NAME: &'static str = "GstTrafficSrc";
    type Type = super::TrafficSrc;
    type ParentType = gst::Bin;
}

impl ObjectImpl for TrafficSrc {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            let d = Settings::default();
            vec![
                glib::ParamSpecString::builder("uri")
                    .nick("URI")
                    .blurb("What to read: rtsp://camera/stream, file:///path/video.mp4, any URI uridecodebin plays. Network streams (rtsp, rtmp, srt, udp, rtp) and other live sources are reconnected when they drop; files end with EOS")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("latency")
                    .nick("Latency")
                    .blurb("Jitter buffer of the network source in ms (rtspsrc latency); lower is closer to live, higher rides out network jitter")
                    .maximum(60_000)
                    .default_value(d.latency_ms)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("retry-initial-ms")
                    .nick("First retry delay")
                    .blurb("Wait before the first reconnect attempt of a lost live source, in ms; doubled after each failed attempt")
                    .minimum(1)
                    .maximum(3_600_000)
                    .default_value(d.retry_initial_ms)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("retry-max-ms")
                    .nick("Longest retry delay")
                    .blurb("Cap of the reconnect backoff, in ms")
                    .minimum(1)
                    .maximum(3_600_000)
                    .default_value(d.retry_max_ms)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("retry-timeout")
                    .nick("Retry timeout")
                    .blurb("Give up and post an error when a live source stays lost this long, in ms; 0: retry for ever")
                    .default_value(d.retry_timeout_ms)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("stall-timeout")
                    .nick("Stall timeout")
                    .blurb("Reconnect a live source that sends no frame for this long while PLAYING, in ms (servers that vanish often raise no error); 0: never")
                    .default_value(d.stall_timeout_ms)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("max-size-buffers")
                    .nick("Queue size")
                    .blurb("Frames held between the source and the analysis. Live sources: the queue is leaky, a slow consumer makes it drop the oldest frame (counted in 'dropped') instead of falling behind; files: it blocks, nothing is dropped")
                    .minimum(1)
                    .maximum(1000)
                    .default_value(d.max_size_buffers)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt64::builder("dropped")
                    .nick("Dropped")
                    .blurb("Frames of a live source dropped because the analysis was slower than the source")
                    .read_only()
                    .build(),
                glib::ParamSpecUInt::builder("reconnects")
                    .nick("Reconnects")
                    .blurb("Times a lost live source was connected again")
                    .read_only()
                    .build(),
                glib::ParamSpecBoxed::builder::<gst::Structure>("stats")
                    .nick("Statistics")
                    .blurb("traffic-source-stats: uri, state (idle/connecting/connected/reconnecting/failed), live, buffers, dropped, reconnects, attempt (failed attempts since last connected), last-error")
                    .read_only()
                    .build(),
            ]
        });
        PROPERTIES.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        let mut s = lock(&self.settings);
        let uint = || value.get::<u32>().unwrap_or_default();
        match pspec.name() {
            "uri" => s.uri = value.get::<Option<String>>().ok().flatten().filter(|u| !u.is_empty()),
            "latency" => s.latency_ms = uint(),
            "retry-initial-ms" => s.retry_initial_ms = uint(),
            "retry-max-ms" => s.retry_max_ms = uint(),
            "retry-timeout" => s.retry_timeout_ms = uint(),
            "stall-timeout" => s.stall_timeout_ms = uint(),
            "max-size-buffers" => s.max_size_buffers = uint(),
            _ => {}
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        let s = lock(&self.settings);
        match pspec.name() {
            "uri" => s.uri.to_value(),
            "latency" => s.latency_ms.to_value(),
            "retry-initial-ms" => s.retry_initial_ms.to_value(),
            "retry-max-ms" => s.retry_max_ms.to_value(),
            "retry-timeout" => s.retry_timeout_ms.to_value(),
            "stall-timeout" => s.stall_timeout_ms.to_value(),
            "max-size-buffers" => s.max_size_buffers.to_value(),
            "dropped" => self.state().dropped.to_value(),
            "reconnects" => self.state().reconnects.to_value(),
            "stats" => self.state().stats().to_value(),
            _ => glib::Value::from_type(pspec.value_type()),
        }
    }

    fn constructed(&self) {
        self.parent_constructed();
        match self.build_chain() {
            Ok(chain) => {
                let _ = self.chain.set(chain);
            }
            Err(e) => gst::error!(CAT, imp = self, "cannot build the source chain: {e}"),
        }
    }
}

impl GstObjectImpl for TrafficSrc {}

impl ElementImpl for TrafficSrc {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static META: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "Traffic video source",
                "Source/Video/Bin",
                "Decoded video from a URI (camera or file); live sources reconnect with backoff and drop frames rather than fall behind",
                "traffic-vision developers",
            )
        });
        Some(&*META)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static TEMPLATES: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
            gst::PadTemplate::new("src", gst::PadDirection::Src, gst::PadPresence::Always, &gst::Caps::new_any())
                .into_iter()
                .collect()
        });
        TEMPLATES.as_ref()
    }

    fn change_state(&self, transition: gst::StateChange) -> Result<gst::StateChangeSuccess, gst::StateChangeError> {
        match transition {
            gst::StateChange::NullToReady => {
                self.chain()?;
            }
            gst::StateChange::ReadyToPaused => self.start()?,
            gst::StateChange::PlayingToPaused => self.state().playing = false,
            gst::StateChange::PausedToReady => self.stop_supervisor(),
            _ => {}
        }
        let result = self.parent_change_state(transition);
        match (transition, result) {
            (gst::StateChange::ReadyToPaused, Ok(success)) => {
                if success == gst::StateChangeSuccess::NoPreroll && !self.state().live {
                    // A live source that no scheme announced (a camera device, a test source).
                    self.state().live = true;
                    self.set_leaky(true);
                }
                if self.state().live {
                    self.start_supervisor();
                }
            }
            (gst::StateChange::ReadyToPaused, Err(_)) => {
                // A live decoder's error was taken as a loss to retry; starting failed all the same.
                let failure = {
                    let st = self.state();
                    st.last_error.clone().filter(|_| st.live).map(|e| (st.uri().to_string(), e))
                };
                if let Some((uri, error)) = failure {
                    gst::element_imp_error!(self, gst::ResourceError::OpenRead, ["Cannot start {}: {}", uri, error]);
                }
                self.take_down_all();
            }
            (gst::StateChange::PausedToReady, _) => self.take_down_all(),
            (gst::StateChange::PausedToPlaying, Ok(_)) => {
                let mut st = self.state();
                st.playing = true;
                st.activity = Instant::now();
            }
            _ => {}
        }
        result
    }

    fn send_event(&self, event: gst::Event) -> bool {
        if let gst::EventView::Eos(_) = event.view() {
            let live = {
                let mut st = self.state();
                st.eos = true;
                st.live
            };
            // A live decoder may be gone or reconnecting: end the stream where it always flows.
            if let Some(sink) = self.chain.get().and_then(|c| c.convert.static_pad("sink")).filter(|_| live) {
                return sink.send_event(event);
            }
        }
        self.parent_send_event(event)
    }
}

impl BinImpl for TrafficSrc {
    fn handle_message(&self, message: gst::Message) {
        if let gst::MessageView::Error(err) = message.view() {
            let src = message.src();
            let from = |d: &gst::Element| src.is_some_and(|s| s == d.upcast_ref::<gst::Object>() || s.has_as_ancestor(d));
            let mut st = self.state();
            if st.live {
                let current = st.decoder.as_ref().is_some_and(from);
                if st.retired.iter().any(from) || (current && st.eos) {
                    gst::debug!(CAT, imp = self, "ignoring an error of a retired source: {}", err.error());
                    return;
                }
                // Not-negotiated is downstream's problem: a new connection would meet it again.
                let negotiation = err.debug().is_some_and(|d| d.contains("not-negotiated"));
                if current && !negotiation {
                    let reason = match err.debug() {
                        Some(debug) => format!("{} ({})", err.error(), debug),
                        None => err.error().to_string(),
                    };
                    let lost = st.lose(&reason);
                    drop(st);
                    if let Some(lost) = lost {
                        self.announce_loss(lost);
                    }
                    return;
                }
            }
        }
        self.parent_handle_message(message)
    }
}
