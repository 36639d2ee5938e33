//! The `trafficsrc` bin: `uridecodebin ! videoconvert ! queue` behind an always src pad; the
//! element's properties and state changes. The reconnecting of live sources is in
//! `supervisor`, what downstream sees of them in `forward`, the state they share in `state`.
//!
//! `uridecodebin` (decodebin2), not `uridecodebin3`: on GStreamer 1.22 it is the long-proven
//! path for `rtspsrc` (as DeepStream's `nvurisrcbin` uses it), it exposes each decoded stream
//! as soon as it is known, and nothing here needs decodebin3's stream selection or gapless
//! switching.
//!
//! Live sources (network schemes such as `rtsp://`, or any source that is live at PAUSED) are
//! supervised: a lost decoder is replaced while the `videoconvert ! queue` tail stays, so
//! downstream keeps its pads and its state (tracks, counts) and sees one continuous stream.
//! Files are not supervised: their errors and EOS pass as from any source.
//!
//! A live source behaves as one towards the pipeline whether its camera answers or not: the
//! element is always flagged SOURCE (the bin would drop the flag with its last decoder, and the
//! pipeline's EOS would no longer reach it), it returns NO_PREROLL on the way to PAUSED, and
//! its decoders are kept out of the bin's state changes and async bookkeeping, driven by the
//! element instead (`supervisor`).

use std::sync::{LazyLock, Mutex, MutexGuard, OnceLock};
use std::time::Instant;

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;

use super::state::{Settings, State, Supervisor};
use crate::lock;

pub(super) static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new("trafficsrc", gst::DebugColorFlags::empty(), Some("Live video source with reconnect"))
});

/// URI schemes of network streams and capture devices: supervised from the start, before the
/// source reports itself live (its first connection may already fail, a camera be unplugged).
const LIVE_SCHEMES: [&str; 11] =
    ["rtsp", "rtsps", "rtspt", "rtspu", "rtsph", "rtmp", "rtmps", "srt", "udp", "rtp", "v4l2"];

/// The permanent tail of the bin.
pub(super) struct Chain {
    pub(super) convert: gst::Element,
    pub(super) queue: gst::Element,
}

#[derive(Default)]
pub struct TrafficSrc {
    settings: Mutex<Settings>,
    pub(super) supervisor: Supervisor,
    pub(super) chain: OnceLock<Chain>,
    /// Held while a live decoder is added, has its state set or is taken down: the element
    /// (state changes) and the supervisor (rebuilds) both do so, and a decoder must end in
    /// the latest state asked for, never restarted once taken down.
    pub(super) drive: Mutex<()>,
}

impl TrafficSrc {
    pub(super) fn state(&self) -> MutexGuard<'_, State> {
        self.supervisor.state()
    }

    /// Posts a `traffic-source` message (built by `State::source_message`).
    pub(super) fn post_source_message(&self, message: gst::Structure) {
        let _ = self.obj().post_message(gst::message::Element::builder(message).src(&*self.obj()).build());
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
        self.forward(&sink, &queue);
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
        self.add_decoder().map_err(|e| {
            gst::element_imp_error!(
                self,
                gst::CoreError::MissingPlugin,
                ["Cannot create uridecodebin for {}: {}", uri, e]
            );
            gst::StateChangeError
        })
    }

    /// PAUSED <-> PLAYING of a source live from its scheme, without GstBin: the tail
    /// (`videoconvert`, `queue`) works the same in both states, and the decoders are driven
    /// here. GstBin would take a connecting decoder's ASYNC as this element's own, and lose
    /// track of its state (left in PAUSED while the pipeline plays).
    fn change_live_state(
        &self,
        transition: gst::StateChange,
    ) -> Result<gst::StateChangeSuccess, gst::StateChangeError> {
        let next = transition.next();
        let chain = self.chain()?;
        for element in [&chain.queue, &chain.convert] {
            element.set_state(next).inspect_err(|e| {
                gst::element_imp_error!(
                    self,
                    gst::CoreError::StateChange,
                    ["{} cannot go to {:?}: {}", element.name(), next, e]
                );
            })?;
        }
        self.drive_decoder(next);
        if transition == gst::StateChange::PausedToPlaying {
            let mut st = self.state();
            st.playing = true;
            st.activity = Instant::now();
            Ok(gst::StateChangeSuccess::Success)
        } else {
            Ok(gst::StateChangeSuccess::NoPreroll)
        }
    }

    /// Ends the preroll of a decoder found live, for the bin and the pipeline. uridecodebin's
    /// decodebin posts ASYNC_START on its way to PAUSED, and its ASYNC_DONE may come only
    /// after the decoder returned NO_PREROLL: GstBin 1.22 then drops it ("nothing pending";
    /// later versions post it on), the ASYNC_START stays in this bin and in the pipeline, and
    /// the pipeline waits for it for ever on its way to PLAYING. The bin is handed the
    /// ASYNC_DONE the decoder dropped; it completes this element's preroll as a child's would.
    fn settle_first_decoder(&self) {
        let decoder = {
            let mut st = self.state();
            let waiting = std::mem::take(&mut st.decoder_async);
            st.decoder.clone().filter(|_| waiting)
        };
        if let Some(decoder) = decoder {
            gst::debug!(CAT, imp = self, "{} found live with its preroll pending: ending it", decoder.name());
            self.parent_handle_message(gst::message::AsyncDone::builder().src(&decoder).build());
        }
    }

    /// Notes the preroll of the bin's own decoder (see `settle_first_decoder`).
    fn track_decoder_preroll(&self, message: &gst::Message) {
        let started = match message.view() {
            gst::MessageView::AsyncStart(_) => true,
            gst::MessageView::AsyncDone(_) => false,
            _ => return,
        };
        let mut st = self.state();
        if st.decoder.as_ref().is_some_and(|d| message.src() == Some(d.upcast_ref::<gst::Object>())) {
            st.decoder_async = started;
        }
    }

    /// Whether a message comes from a decoder this element drives itself (a live source's,
    /// locked out of the bin's state changes), or from inside one. The first decoder of a
    /// source found live only at PAUSED is the bin's: its async-done must still reach it.
    fn posted_by_driven_decoder(&self, message: &gst::Message) -> bool {
        let obj = self.obj();
        let mut object = message.src().cloned();
        while let Some(o) = object {
            let parent = o.parent();
            if parent.as_ref() == Some(obj.upcast_ref::<gst::Object>()) {
                return o.downcast_ref::<gst::Element>().is_some_and(|e| e.is_locked_state());
            }
            object = parent;
        }
        false
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
                crate::stats::property("traffic-source-stats: uri, state (idle/connecting/connected/reconnecting/failed), live, buffers, dropped, reconnects, attempt (failed attempts since last connected), last-error"),
            ]
        });
        PROPERTIES.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        // Read once at start: a later change would silently do nothing.
        if !crate::settable(self.obj().upcast_ref(), *CAT, pspec) {
            return;
        }
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
        // A source for good: GstBin sets SOURCE when a decoder is added and clears it when the
        // last one is removed, and a pipeline sends its EOS (gst-launch -e, Ctrl-C) only to
        // children flagged SOURCE, so a live source between two decoders never got it.
        let obj = self.obj();
        obj.set_suppressed_flags(gst::ElementFlags::SOURCE);
        obj.set_element_flags(gst::ElementFlags::SOURCE);
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
            gst::StateChange::PausedToReady => self.supervisor.stop(),
            _ => {}
        }
        // Known live from its scheme before starting (its decoders all driven here), or found
        // live at PAUSED before (its first decoder the bin's, any later one driven here).
        let (live, driven) = {
            let st = self.state();
            (st.live, st.live_from_start)
        };
        if driven && matches!(transition, gst::StateChange::PausedToPlaying | gst::StateChange::PlayingToPaused) {
            return self.change_live_state(transition);
        }
        let result = self.parent_change_state(transition);
        match (transition, result) {
            (gst::StateChange::ReadyToPaused, Ok(success)) => {
                if success == gst::StateChangeSuccess::NoPreroll && !live {
                    // A live source that no scheme announced (a camera device, a test source).
                    self.state().live = true;
                    self.set_leaky(true);
                    self.settle_first_decoder();
                }
                if self.state().live {
                    self.start_supervisor();
                    // The tail is active now: the first decoder can start (already started
                    // by the bin when it was found live).
                    self.drive_decoder(gst::State::Paused);
                    // Live sources do not preroll: the pipeline must not wait for a frame.
                    return Ok(gst::StateChangeSuccess::NoPreroll);
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
                if live {
                    self.drive_decoder(gst::State::Playing);
                }
                let mut st = self.state();
                st.playing = true;
                st.activity = Instant::now();
            }
            (gst::StateChange::PlayingToPaused, Ok(_)) if live => {
                self.drive_decoder(gst::State::Paused);
                return Ok(gst::StateChangeSuccess::NoPreroll);
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
                // A stream that never began (no camera yet) begins, so that the EOS ends one.
                self.begin_stream(false);
                return sink.send_event(event);
            }
        }
        self.parent_send_event(event)
    }
}

impl BinImpl for TrafficSrc {
    fn handle_message(&self, message: gst::Message) {
        let decoder_internal = matches!(
            message.view(),
            gst::MessageView::AsyncStart(_) | gst::MessageView::AsyncDone(_) | gst::MessageView::Progress(_)
        );
        if decoder_internal && self.posted_by_driven_decoder(&message) {
            // A live source does not preroll: a decoder starting (uridecodebin posts async-start
            // even for a live source) must not make the bin, and the pipeline, lose PLAYING.
            // Nor does it report each attempt's progress: gst-launch waits for every progress
            // started to complete before PLAYING, and a retired decoder's last one (rtspsrc's
            // "Open failed") can come after it left the bin. `traffic-source` tells instead.
            gst::log!(CAT, imp = self, "ignoring {:?} of a decoder driven here", message.type_());
            return;
        }
        self.track_decoder_preroll(&message);
        if let gst::MessageView::Error(err) = message.view() {
            let src = message.src();
            let from =
                |d: &gst::Element| src.is_some_and(|s| s == d.upcast_ref::<gst::Object>() || s.has_as_ancestor(d));
            let mut st = self.state();
            if st.live {
                let current = st.decoder.as_ref().is_some_and(from);
                // Neither the current decoder nor the tail: a retired decoder, listed or already
                // being taken down (its last errors can come while it leaves the bin).
                let tail = self.chain.get().is_some_and(|c| from(&c.convert) || from(&c.queue));
                if (!current && !tail) || (current && st.eos) {
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
