//! The reconnect supervisor of a live source, in the spirit of gst-plugins-rs `fallbacksrc`:
//! an error, an end of stream or a stall (no buffer for `stall-timeout`) retires the decoder,
//! and a thread of its own builds a new `uridecodebin` after an exponential backoff, or gives
//! up with an error after `retry-timeout`. Decoders are taken down on that thread, never on a
//! streaming thread.

use std::time::{Duration, Instant};

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;

use traffic_meta::SourceState;

use super::imp::{TrafficSrc, CAT};
use super::state::{Control, Lost};
use crate::lock;

impl TrafficSrc {
    /// Starts the thread that rebuilds lost decoders.
    pub(super) fn start_supervisor(&self) {
        let weak = self.obj().downgrade();
        if let Err(e) = self.supervisor.start(move |control| supervise(control, &weak)) {
            gst::error!(CAT, imp = self, "cannot start the supervisor thread: {e}");
        }
    }

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
            st.link = SourceState::Connecting;
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

    /// Tells the application, and wakes the supervisor to take the old decoder down.
    pub(super) fn announce_loss(&self, lost: Lost) {
        self.supervisor.wake();
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
            st.source_message(SourceState::Reconnecting, lost.attempt, Some(&lost))
        };
        self.post_source_message(message);
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
            st.link = SourceState::Idle;
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
            st.link = SourceState::Failed;
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
        } else if st.link == SourceState::Reconnecting && !st.eos && st.rebuild_at.is_some_and(|t| now >= t) {
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
