//! The state of a `trafficsrc`, apart from the element: its settings, where its source stands
//! and when to reconnect (`State`), what downstream has been told (`Forwarding`), and the
//! handle of the supervisor thread that shares it (`Supervisor`). The element (`imp`), its
//! decoders (`supervisor`) and what downstream sees (`forward`) all build on this module, which
//! knows none of them.

use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use traffic_meta::{Retry, SourceMessage, SourceState, SourceStats};

use super::backoff::retry_delay;
use crate::lock;

#[derive(Clone, Debug)]
pub(super) struct Settings {
    pub(super) uri: Option<String>,
    pub(super) latency_ms: u32,
    pub(super) retry_initial_ms: u32,
    pub(super) retry_max_ms: u32,
    pub(super) retry_timeout_ms: u32,
    pub(super) stall_timeout_ms: u32,
    pub(super) max_size_buffers: u32,
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

/// A source just lost: what the `traffic-source` message tells.
pub(super) struct Lost {
    pub(super) attempt: u32,
    pub(super) delay: Duration,
    pub(super) reason: String,
}

pub(super) struct State {
    pub(super) settings: Settings,
    pub(super) live: bool,
    /// Live from its URI scheme, before starting: every decoder is driven by the element.
    pub(super) live_from_start: bool,
    pub(super) playing: bool,
    /// The state a live source's decoders are driven to: the element's own.
    pub(super) target: gst::State,
    /// The element began the stream itself, its camera having failed before any frame.
    pub(super) began_stream: bool,
    /// An EOS was sent to the element: the stream is ending, nothing is rebuilt.
    pub(super) eos: bool,
    /// The supervisor thread should exit.
    pub(super) stop: bool,
    /// Where the source stands; a new decoder comes at `rebuild_at` while `Reconnecting`.
    pub(super) link: SourceState,
    pub(super) decoder: Option<gst::Element>,
    /// The bin's own decoder (a source not known live at start) posted ASYNC_START and no
    /// ASYNC_DONE yet.
    pub(super) decoder_async: bool,
    /// Decoders to take down on the supervisor thread (never on a streaming thread).
    pub(super) retired: Vec<gst::Element>,
    pub(super) generation: u32,
    /// Failed attempts since the source was last connected.
    pub(super) attempt: u32,
    pub(super) ever_connected: bool,
    /// The last sign of life: a buffer, a new decoder, or the start of PLAYING.
    pub(super) activity: Instant,
    pub(super) lost_at: Option<Instant>,
    pub(super) rebuild_at: Option<Instant>,
    pub(super) forwarding: Forwarding,
    pub(super) buffers: u64,
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
            link: SourceState::Idle,
            decoder: None,
            decoder_async: false,
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
        if !self.live || self.eos || self.stop || !matches!(self.link, SourceState::Connecting | SourceState::Connected)
        {
            return None;
        }
        self.retired.extend(self.decoder.take());
        self.attempt += 1;
        let now = Instant::now();
        self.lost_at.get_or_insert(now);
        let s = &self.settings;
        let delay = retry_delay(millis(s.retry_initial_ms), millis(s.retry_max_ms), self.attempt);
        self.rebuild_at = Some(now + delay);
        self.link = SourceState::Reconnecting;
        self.last_error = Some(reason.to_string());
        Some(Lost { attempt: self.attempt, delay, reason: reason.to_string() })
    }

    /// A buffer came: the source is connected. Returns the attempts it took when it was not.
    pub(super) fn on_buffer(&mut self) -> Option<u32> {
        self.buffers += 1;
        self.activity = Instant::now();
        if self.link != SourceState::Connecting {
            return None;
        }
        let attempts = self.attempt;
        if self.ever_connected {
            self.reconnects += 1;
        }
        self.ever_connected = true;
        self.link = SourceState::Connected;
        self.attempt = 0;
        self.lost_at = None;
        Some(attempts)
    }

    /// A live source lost before it ever began the stream downstream: the sinks wait for a
    /// first frame (preroll) that may not come for a long time.
    pub(super) fn should_begin_stream(&self) -> bool {
        self.live
            && !self.eos
            && self.link == SourceState::Reconnecting
            && !self.began_stream
            && !self.forwarding.started()
    }

    /// When the source has been silent for `stall-timeout` while playing.
    pub(super) fn stall_deadline(&self) -> Option<Instant> {
        let watching = self.live
            && self.playing
            && !self.eos
            && matches!(self.link, SourceState::Connecting | SourceState::Connected);
        (watching && self.settings.stall_timeout_ms > 0).then(|| self.activity + millis(self.settings.stall_timeout_ms))
    }

    /// When to give up on a lost source.
    pub(super) fn give_up_deadline(&self) -> Option<Instant> {
        let limit = self.settings.retry_timeout_ms;
        self.lost_at.filter(|_| limit > 0 && self.link != SourceState::Failed).map(|t| t + millis(limit))
    }

    pub(super) fn stats(&self) -> gst::Structure {
        traffic_meta::source_stats_structure(&SourceStats {
            uri: self.uri().to_string(),
            state: self.link,
            live: self.live,
            buffers: self.buffers,
            dropped: self.dropped,
            reconnects: self.reconnects,
            attempt: self.attempt,
            last_error: self.last_error.clone().unwrap_or_default(),
        })
    }

    /// The `traffic-source` message telling the source's `state` after `attempt` attempts.
    pub(super) fn source_message(&self, state: SourceState, attempt: u32, lost: Option<&Lost>) -> gst::Structure {
        traffic_meta::source_structure(&SourceMessage {
            state,
            uri: self.uri().to_string(),
            attempt,
            reconnects: self.reconnects,
            retry: lost.map(|l| Retry { delay_ms: l.delay.as_millis() as u64, reason: l.reason.clone() }),
        })
    }
}

/// The state, shared with the supervisor thread, and the bell that wakes it.
pub(super) struct Control {
    pub(super) state: Mutex<State>,
    pub(super) wake: Condvar,
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

    /// Runs `supervise` on a thread of its own, with the state it shares with the element.
    pub(super) fn start(&self, supervise: impl FnOnce(&Control) + Send + 'static) -> std::io::Result<()> {
        let control = self.control.clone();
        let handle =
            std::thread::Builder::new().name("trafficsrc-supervisor".into()).spawn(move || supervise(&control))?;
        *lock(&self.thread) = Some(handle);
        Ok(())
    }

    /// Has the supervisor look at the state now.
    pub(super) fn wake(&self) {
        self.control.wake.notify_one();
    }

    pub(super) fn stop(&self) {
        self.state().stop = true;
        self.control.wake.notify_one();
        if let Some(handle) = lock(&self.thread).take() {
            let _ = handle.join();
        }
    }
}

/// What downstream has been told so far, and the segment of the decoder now feeding it.
#[derive(Debug, Default)]
pub(super) struct Forwarding {
    /// The segment of the current decoder, to turn its timestamps into running time.
    segment: Option<gst::FormattedSegment<gst::ClockTime>>,
    sent_stream_start: bool,
    sent_segment: bool,
}

/// What becomes of a live decoder's event.
#[derive(Debug)]
pub(super) enum Verdict {
    Pass,
    Replace(gst::Event),
    Hold,
    /// The decoder's stream ended: for the supervisor to decide.
    EndOfStream,
}

impl Forwarding {
    /// Whether downstream was told a stream began (by a decoder or by the element).
    pub(super) fn started(&self) -> bool {
        self.sent_stream_start
    }

    /// A new decoder is coming: its timestamps follow its own segment, once that arrives.
    pub(super) fn new_decoder(&mut self) {
        self.segment = None;
    }

    pub(super) fn event(&mut self, event: &gst::Event) -> Verdict {
        match event.view() {
            gst::EventView::StreamStart(_) if self.sent_stream_start => Verdict::Hold,
            gst::EventView::StreamStart(_) => {
                self.sent_stream_start = true;
                Verdict::Pass
            }
            gst::EventView::Segment(e) => match e.segment().downcast_ref::<gst::ClockTime>() {
                Some(segment) => {
                    self.segment = Some(segment.clone());
                    if self.sent_segment {
                        Verdict::Hold
                    } else {
                        self.sent_segment = true;
                        let identity = gst::FormattedSegment::<gst::ClockTime>::new();
                        Verdict::Replace(gst::event::Segment::new(&identity))
                    }
                }
                None => Verdict::Pass,
            },
            // A flush would make mottracker forget its tracks.
            gst::EventView::FlushStart(_) | gst::EventView::FlushStop(_) => Verdict::Hold,
            gst::EventView::Eos(_) => Verdict::EndOfStream,
            _ => Verdict::Pass,
        }
    }

    /// Sets a buffer's timestamps to running time; false when it falls outside the segment.
    pub(super) fn to_running_time(&self, buffer: &mut gst::Buffer) -> bool {
        let (Some(segment), Some(pts)) = (self.segment.as_ref(), buffer.pts()) else { return true };
        let Some(running) = segment.to_running_time(pts) else { return false };
        if running != pts {
            let dts = buffer.dts().and_then(|d| segment.to_running_time(d));
            let b = buffer.make_mut();
            b.set_pts(running);
            b.set_dts(dts);
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn live(settings: Settings) -> State {
        let mut st = State::new(Settings { uri: Some("rtsp://camera/stream".into()), ..settings }, true);
        st.link = SourceState::Connecting;
        st
    }

    #[test]
    fn each_loss_backs_off_further_until_a_buffer_comes() {
        let mut st = live(Settings { retry_initial_ms: 500, retry_max_ms: 2_000, ..Settings::default() });
        assert_eq!(st.on_buffer(), Some(0), "the first connection");
        let mut delays = Vec::new();
        for _ in 0..4 {
            let lost = st.lose("gone").expect("a connected live source is lost");
            assert_eq!(st.link, SourceState::Reconnecting);
            assert!(st.lose("gone again").is_none(), "a source already waiting is not lost twice");
            delays.push(lost.delay.as_millis());
            // The supervisor builds a new decoder; it fails too.
            st.link = SourceState::Connecting;
        }
        assert_eq!(delays, [500, 1000, 2000, 2000]);
        assert_eq!(st.on_buffer(), Some(4), "connected after four attempts");
        assert_eq!((st.attempt, st.reconnects, st.lost_at), (0, 1, None));
        assert_eq!(st.on_buffer(), None, "already connected");
    }

    #[test]
    fn files_and_ending_streams_are_not_rebuilt() {
        let mut file = State::new(Settings::default(), false);
        file.link = SourceState::Connected;
        assert!(file.lose("end of stream").is_none());
        let mut ending = live(Settings::default());
        ending.eos = true;
        assert!(ending.lose("end of stream").is_none());
        assert_eq!(ending.link, SourceState::Connecting);
    }

    #[test]
    fn the_give_up_deadline_runs_from_the_first_loss() {
        let mut st = live(Settings { retry_timeout_ms: 3_000, ..Settings::default() });
        assert_eq!(st.give_up_deadline(), None);
        st.lose("gone");
        let first = st.lost_at.expect("lost");
        st.link = SourceState::Connecting;
        st.lose("still gone");
        assert_eq!(st.give_up_deadline(), Some(first + Duration::from_secs(3)));
        st.link = SourceState::Failed;
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
        file.link = SourceState::Reconnecting;
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
        st.link = SourceState::Connected;
        st.settings.stall_timeout_ms = 0;
        assert_eq!(st.stall_deadline(), None, "switched off");
    }

    fn segment(start_s: u64) -> gst::FormattedSegment<gst::ClockTime> {
        let mut segment = gst::FormattedSegment::<gst::ClockTime>::new();
        segment.set_start(gst::ClockTime::from_seconds(start_s));
        segment.set_time(gst::ClockTime::from_seconds(start_s));
        segment
    }

    fn buffer(pts_ms: u64) -> gst::Buffer {
        let mut buffer = gst::Buffer::new();
        let b = buffer.get_mut().unwrap();
        b.set_pts(gst::ClockTime::from_mseconds(pts_ms));
        b.set_dts(gst::ClockTime::from_mseconds(pts_ms.saturating_sub(40)));
        buffer
    }

    #[test]
    fn one_stream_start_and_one_identity_segment_for_any_number_of_decoders() {
        gst::init().unwrap();
        let mut forwarding = Forwarding::default();
        for decoder in 0..3 {
            forwarding.new_decoder();
            let start = forwarding.event(&gst::event::StreamStart::new(&format!("decoder{decoder}")));
            let segment = forwarding.event(&gst::event::Segment::new(&segment(10 * decoder)));
            if decoder == 0 {
                assert!(matches!(start, Verdict::Pass));
                let Verdict::Replace(e) = segment else { panic!("the first segment is replaced: {segment:?}") };
                let gst::EventView::Segment(s) = e.view() else { panic!("a segment event: {e:?}") };
                assert_eq!(s.segment(), gst::FormattedSegment::<gst::ClockTime>::new().upcast_ref());
            } else {
                assert!(matches!(start, Verdict::Hold), "decoder {decoder}: {start:?}");
                assert!(matches!(segment, Verdict::Hold), "decoder {decoder}: {segment:?}");
            }
        }
    }

    #[test]
    fn flushes_are_held_caps_pass_eos_goes_to_the_supervisor() {
        gst::init().unwrap();
        let mut forwarding = Forwarding::default();
        assert!(matches!(forwarding.event(&gst::event::FlushStart::new()), Verdict::Hold));
        assert!(matches!(forwarding.event(&gst::event::FlushStop::new(true)), Verdict::Hold));
        let caps = gst::Caps::builder("video/x-raw").field("width", 640i32).build();
        assert!(matches!(forwarding.event(&gst::event::Caps::new(&caps)), Verdict::Pass));
        assert!(matches!(forwarding.event(&gst::event::Eos::new()), Verdict::EndOfStream));
    }

    #[test]
    fn buffers_leave_in_the_running_time_of_their_decoder() {
        gst::init().unwrap();
        let mut forwarding = Forwarding::default();
        // Before any segment: as they come.
        let mut b = buffer(12_000);
        assert!(forwarding.to_running_time(&mut b));
        assert_eq!(b.pts(), Some(gst::ClockTime::from_mseconds(12_000)));

        forwarding.event(&gst::event::Segment::new(&segment(10)));
        let mut b = buffer(12_000);
        assert!(forwarding.to_running_time(&mut b));
        assert_eq!(b.pts(), Some(gst::ClockTime::from_mseconds(2_000)));
        assert_eq!(b.dts(), Some(gst::ClockTime::from_mseconds(1_960)));
        // Before the segment's start: not shown.
        assert!(!forwarding.to_running_time(&mut buffer(9_000)));

        // The next decoder's segment, held back from downstream, still re-bases its buffers.
        forwarding.new_decoder();
        forwarding.event(&gst::event::Segment::new(&segment(30)));
        let mut b = buffer(30_500);
        assert!(forwarding.to_running_time(&mut b));
        assert_eq!(b.pts(), Some(gst::ClockTime::from_mseconds(500)));
    }
}
