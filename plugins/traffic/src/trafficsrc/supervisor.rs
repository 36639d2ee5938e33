//! The reconnect supervisor of a live source, in the spirit of gst-plugins-rs `fallbacksrc`:
//! an error, an end of stream or a stall (no buffer for `stall-timeout`) retires the decoder,
//! and a thread of its own builds a new `uridecodebin` after an exponential backoff, or gives
//! up with an error after `retry-timeout`. Decoders are taken down on that thread, never on a
//! streaming thread.

use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;

use super::backoff::retry_delay;
use super::forward::Forwarding;
use super::imp::{Settings, TrafficSrc, CAT};
use crate::lock;

fn millis(ms: u32) -> Duration {
    Duration::from_millis(ms.into())
}

/// Where the source stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Link {
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
pub(super) struct Lost {
    attempt: u32,
    delay: Duration,
    reason: String,
}

pub(super) struct State {
    pub(super) settings: Settings,
    pub(super) live: bool,
    /// Live from its URI scheme, before starting: every decoder is driven by the element.
    pub(super) live_from_start: bool,
    pub(super) playing: bool,
    /// The state a live source's decoders are driven to: the element's own.
    target: gst::State,
    /// The element began the stream itself, its camera having failed before any frame.
    began_stream: bool,
    /// An EOS was sent to the element: the stream is ending, nothing is rebuilt.
    pub(super) eos: bool,
    /// The supervisor thread should exit.
    stop: bool,
    link: Link,
    pub(super) decoder: Option<gst::Element>,
    /// Decoders to take down on the supervisor thread (never on a streaming thread).
    pub(super) retired: Vec<gst::Element>,
    generation: u32,
    /// Failed attempts since the source was last connected.
    attempt: u32,
    ever_connected: bool,
    /// The last sign of life: a buffer, a new decoder, or the start of PLAYING.
    pub(super) activity: Instant,
    lost_at: Option<Instant>,
    rebuild_at: Option<Instant>,
    pub(super) forwarding: Forwarding,
    buffers: u64,
    pub(super) dropped: u64,
    pub(super) reconnects: u32,
    pub(super) last_error: Option<String>,
}

impl State {
    pub(super) fn new(settings: Settings, live: bool) -> Self {
        State {
            settings,
            live,
            live_from_start: live,
            playing: false,
            target: gst::State::Null,
            began_stream: false,
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
            forwarding: Forwarding::default(),
            buffers: 0,
            dropped: 0,
            reconnects: 0,
            last_error: None,
        }
    }

    pub(super) fn uri(&self) -> &str {
        self.settings.uri.as_deref().unwrap_or("")
    }

    /// Retires the decoder of a live source and schedules the next attempt; None where there
    /// is nothing to rebuild (not live, ending, already waiting, or given up).
    pub(super) fn lose(&mut self, reason: &str) -> Option<Lost> {
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
    pub(super) fn on_buffer(&mut self) -> Option<u32> {
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

    /// A live source lost before it ever began the stream downstream: the sinks wait for a
    /// first frame (preroll) that may not come for a long time.
    fn should_begin_stream(&self) -> bool {
        self.live && !self.eos && self.link == Link::Waiting && !self.began_stream && !self.forwarding.started()
    }

    /// When the source has been silent for `stall-timeout` while playing.
    fn stall_deadline(&self) -> Option<Instant> {
        let watching =
            self.live && self.playing && !self.eos && matches!(self.link, Link::Connecting | Link::Connected);
        (watching && self.settings.stall_timeout_ms > 0).then(|| self.activity + millis(self.settings.stall_timeout_ms))
    }

    /// When to give up on a lost source.
    fn give_up_deadline(&self) -> Option<Instant> {
        let limit = self.settings.retry_timeout_ms;
        self.lost_at.filter(|_| limit > 0 && self.link != Link::Failed).map(|t| t + millis(limit))
    }

    pub(super) fn stats(&self) -> gst::Structure {
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

/// The supervisor thread and what the element shares with it.
pub(super) struct Supervisor {
    control: Arc<Control>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Default for Supervisor {
    fn default() -> Self {
        Supervisor {
            control: Arc::new(Control {
                state: Mutex::new(State::new(Settings::default(), false)),
                wake: Condvar::new(),
            }),
            thread: Mutex::new(None),
        }
    }
}

impl Supervisor {
    pub(super) fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.control.state)
    }

    pub(super) fn start(&self, element: &super::TrafficSrc) {
        let control = self.control.clone();
        let weak = element.downgrade();
        let spawned =
            std::thread::Builder::new().name("trafficsrc-supervisor".into()).spawn(move || supervise(&control, &weak));
        match spawned {
            Ok(handle) => *lock(&self.thread) = Some(handle),
            Err(e) => gst::error!(CAT, obj = element, "cannot start the supervisor thread: {e}"),
        }
    }

    pub(super) fn stop(&self) {
        self.state().stop = true;
        self.control.wake.notify_one();
        if let Some(handle) = lock(&self.thread).take() {
            let _ = handle.join();
        }
    }
}

impl TrafficSrc {
    /// A new `uridecodebin` for the uri, in the bin. A file's follows the bin's state changes;
    /// a live source's is locked out of them (a decoder that fails to start is then a loss to
    /// retry, not a failed state change of the bin) and set to the element's state here.
    pub(super) fn add_decoder(&self) -> Result<(), glib::BoolError> {
        let (uri, latency_ms, generation, live) = {
            let mut st = self.state();
            st.generation += 1;
            (st.uri().to_string(), st.settings.latency_ms, st.generation, st.live)
        };
        let decoder = gst::ElementFactory::make("uridecodebin")
            .name(format!("decoder{generation}"))
            .property("uri", &uri)
            .build()?;
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
        decoder.set_locked_state(live);
        let _drive = lock(&self.drive);
        self.obj().add(&decoder)?;
        let target = {
            let mut st = self.state();
            st.decoder = Some(decoder.clone());
            st.link = Link::Connecting;
            st.activity = Instant::now();
            st.forwarding.new_decoder();
            st.target
        };
        gst::debug!(CAT, imp = self, "{} reads {}", decoder.name(), uri);
        // Before the element reaches PAUSED (the first decoder) the target is still NULL:
        // `drive_decoder` starts it once the tail is active.
        if live && target != gst::State::Null {
            self.set_decoder_state(&decoder, target);
        }
        Ok(())
    }

    /// Sets the current decoder of a live source to `target`, the element's new state (and
    /// the next decoders' start state). The first decoder of a source found live only at
    /// PAUSED is the bin's: the bin sets its state.
    pub(super) fn drive_decoder(&self, target: gst::State) {
        let _drive = lock(&self.drive);
        let decoder = {
            let mut st = self.state();
            st.target = target;
            st.decoder.clone().filter(|d| d.is_locked_state())
        };
        if let Some(decoder) = decoder {
            self.set_decoder_state(&decoder, target);
        }
    }

    /// Called with `drive` held. A decoder that cannot get there is lost: retried after the
    /// backoff, like one that posted an error (its error, if any, came first and is the reason).
    fn set_decoder_state(&self, decoder: &gst::Element, target: gst::State) {
        // The bin gives its children its base time only through its own state changes.
        let obj = self.obj();
        if let Some(base_time) = obj.base_time() {
            decoder.set_base_time(base_time);
        }
        decoder.set_start_time(obj.start_time());
        // Upwards one state at a time: uridecodebin commits its own async READY -> PAUSED and
        // stops there, leaving the rest of the way to its parent's GstBin, which is not
        // driving it.
        let current = decoder.current_state();
        let steps: Vec<gst::State> = if target > current {
            [gst::State::Ready, gst::State::Paused, gst::State::Playing]
                .into_iter()
                .filter(|s| *s > current && *s <= target)
                .collect()
        } else {
            vec![target]
        };
        for step in steps {
            if let Err(e) = decoder.set_state(step) {
                let lost = {
                    let mut st = self.state();
                    let current = st.decoder.as_ref() == Some(decoder);
                    let reason = format!("{} cannot go to {step:?}: {e}", decoder.name());
                    current.then(|| st.lose(&reason)).flatten()
                };
                if let Some(lost) = lost {
                    self.announce_loss(lost);
                }
                return;
            }
        }
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

    pub(super) fn source_message(&self, st: &State, state: &str, attempt: u32, lost: Option<&Lost>) -> gst::Message {
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
    pub(super) fn announce_loss(&self, lost: Lost) {
        self.supervisor.control.wake.notify_one();
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
            // Never while its state is being set: it would be started again outside the bin.
            let _drive = lock(&self.drive);
            // Removed first, so that whatever it posts while stopping reaches nobody.
            if let Err(e) = self.obj().remove(&decoder) {
                gst::warning!(CAT, imp = self, "cannot remove {}: {e}", decoder.name());
            }
            let _ = decoder.set_state(gst::State::Null);
            gst::debug!(CAT, imp = self, "{} taken down", decoder.name());
        }
    }

    /// Back to READY: every decoder out of the bin.
    pub(super) fn take_down_all(&self) {
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
        } else if st.should_begin_stream() {
            st.began_stream = true;
            drop(st);
            if let Some(obj) = element.upgrade() {
                obj.imp().begin_stream(true);
            }
        } else if st.link == Link::Waiting && !st.eos && st.rebuild_at.is_some_and(|t| now >= t) {
            st.rebuild_at = None;
            let attempt = st.attempt;
            drop(st);
            if let Some(obj) = element.upgrade() {
                gst::info!(CAT, obj = obj, "reconnecting, attempt {attempt}");
                if let Err(e) = obj.imp().add_decoder() {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn live(settings: Settings) -> State {
        let mut st = State::new(Settings { uri: Some("rtsp://camera/stream".into()), ..settings }, true);
        st.link = Link::Connecting;
        st
    }

    #[test]
    fn each_loss_backs_off_further_until_a_buffer_comes() {
        let mut st = live(Settings { retry_initial_ms: 500, retry_max_ms: 2_000, ..Settings::default() });
        assert_eq!(st.on_buffer(), Some(0), "the first connection");
        let mut delays = Vec::new();
        for _ in 0..4 {
            let lost = st.lose("gone").expect("a connected live source is lost");
            assert_eq!(st.link, Link::Waiting);
            assert!(st.lose("gone again").is_none(), "a source already waiting is not lost twice");
            delays.push(lost.delay.as_millis());
            // The supervisor builds a new decoder; it fails too.
            st.link = Link::Connecting;
        }
        assert_eq!(delays, [500, 1000, 2000, 2000]);
        assert_eq!(st.on_buffer(), Some(4), "connected after four attempts");
        assert_eq!((st.attempt, st.reconnects, st.lost_at), (0, 1, None));
        assert_eq!(st.on_buffer(), None, "already connected");
    }

    #[test]
    fn files_and_ending_streams_are_not_rebuilt() {
        let mut file = State::new(Settings::default(), false);
        file.link = Link::Connected;
        assert!(file.lose("end of stream").is_none());
        let mut ending = live(Settings::default());
        ending.eos = true;
        assert!(ending.lose("end of stream").is_none());
        assert_eq!(ending.link, Link::Connecting);
    }

    #[test]
    fn the_give_up_deadline_runs_from_the_first_loss() {
        let mut st = live(Settings { retry_timeout_ms: 3_000, ..Settings::default() });
        assert_eq!(st.give_up_deadline(), None);
        st.lose("gone");
        let first = st.lost_at.expect("lost");
        st.link = Link::Connecting;
        st.lose("still gone");
        assert_eq!(st.give_up_deadline(), Some(first + Duration::from_secs(3)));
        st.link = Link::Failed;
        assert_eq!(st.give_up_deadline(), None, "given up once");

        let mut forever = live(Settings { retry_timeout_ms: 0, ..Settings::default() });
        forever.lose("gone");
        assert_eq!(forever.give_up_deadline(), None);
    }

    #[test]
    fn a_camera_lost_before_any_frame_has_the_element_begin_the_stream() {
        gst::init().unwrap();
        let mut st = live(Settings::default());
        assert!(!st.should_begin_stream(), "still connecting");
        st.lose("connection refused");
        assert!(st.should_begin_stream(), "lost before any frame: the sinks would wait for one");
        st.began_stream = true;
        assert!(!st.should_begin_stream(), "once");

        let mut ending = live(Settings::default());
        ending.lose("connection refused");
        ending.eos = true;
        assert!(!ending.should_begin_stream(), "the EOS begins and ends the stream itself");

        // A camera lost after its stream began: the sinks prerolled on its frames.
        let mut began = live(Settings::default());
        began.forwarding.event(&gst::event::StreamStart::new("camera"));
        began.lose("server gone");
        assert!(!began.should_begin_stream());

        let mut file = State::new(Settings::default(), false);
        file.link = Link::Waiting;
        assert!(!file.should_begin_stream());
    }

    #[test]
    fn the_stall_watchdog_runs_only_while_playing_a_connected_stream() {
        let mut st = live(Settings { stall_timeout_ms: 1_500, ..Settings::default() });
        assert_eq!(st.stall_deadline(), None, "not playing yet");
        st.playing = true;
        assert_eq!(st.stall_deadline(), Some(st.activity + Duration::from_millis(1_500)));
        st.on_buffer();
        assert_eq!(st.stall_deadline(), Some(st.activity + Duration::from_millis(1_500)), "a buffer resets it");
        st.lose("gone");
        assert_eq!(st.stall_deadline(), None, "waiting for the rebuild");
        st.link = Link::Connected;
        st.settings.stall_timeout_ms = 0;
        assert_eq!(st.stall_deadline(), None, "switched off");
    }
}
