//! What downstream sees of a live source: one continuous stream, whatever the number of
//! decoders behind it.
//!
//! The first decoder's stream-start and segment pass (the segment as the identity, since
//! buffers leave in running time); a later decoder's are held back. Flushes never pass. Caps
//! do: `videoconvert` ignores caps equal to the ones it has, so only a real change (another
//! resolution) renegotiates downstream. A live source's queue is leaky, its drops counted.

use gst::prelude::*;
use gst::subclass::prelude::*;

use traffic_meta::SourceState;

use super::imp::{TrafficSrc, CAT};
use super::state::Verdict;

impl TrafficSrc {
    /// Watches what the decoders send into `videoconvert`, and counts what the queue drops.
    pub(super) fn forward(&self, convert_sink: &gst::Pad, queue: &gst::Element) {
        let weak = self.obj().downgrade();
        convert_sink.add_probe(gst::PadProbeType::BUFFER | gst::PadProbeType::EVENT_DOWNSTREAM, move |_, info| {
            weak.upgrade().map_or(gst::PadProbeReturn::Ok, |obj| obj.imp().on_decoded(info))
        });
        let weak = self.obj().downgrade();
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
    }

    /// For a live source whose stream no decoder began (the camera never answered): a
    /// stream-start, a segment and, with `gap`, a gap up to now, from the element itself. The
    /// sinks preroll on the gap, so the pipeline reaches PLAYING while the camera is away; a
    /// decoder's own stream-start and segment are then held back as for any reconnect. Its
    /// caps come after this segment, which GStreamer warns about once: hence never on a normal
    /// start, only once an attempt failed. Does nothing once the stream began.
    pub(super) fn begin_stream(&self, gap: bool) {
        let obj = self.obj();
        if self.state().forwarding.started() {
            return;
        }
        let (Some(sink), Some(src)) =
            (self.chain.get().and_then(|c| c.convert.static_pad("sink")), obj.static_pad("src"))
        else {
            return;
        };
        let stream_id = src.create_stream_id(&*obj, None::<&str>);
        let mut events = vec![
            gst::event::StreamStart::builder(&stream_id).group_id(gst::GroupId::next()).build(),
            gst::event::Segment::new(&gst::FormattedSegment::<gst::ClockTime>::new()),
        ];
        if gap {
            // Nothing until now, in the running time the frames will carry. Before PLAYING
            // there is no running time yet (a clock may be set, the base time is not).
            let playing = obj.current_state() == gst::State::Playing;
            let now = obj.current_running_time().filter(|_| playing).unwrap_or(gst::ClockTime::ZERO);
            gst::debug!(CAT, imp = self, "no frame until {now}: beginning the stream with a gap");
            events.push(gst::event::Gap::builder(now).build());
        }
        for event in events {
            let kind = event.type_();
            if !sink.send_event(event) {
                gst::debug!(CAT, imp = self, "the tail refused the element's {kind:?}");
            }
        }
    }

    /// A live source never waits for slow inference: the queue drops its oldest frame.
    /// A file is read at the pace of its consumer: nothing is dropped.
    pub(super) fn set_leaky(&self, live: bool) {
        if let Some(chain) = self.chain.get() {
            chain.queue.set_property_from_str("leaky", if live { "downstream" } else { "no" });
        }
    }

    /// Everything the decoder sends, before `videoconvert`.
    fn on_decoded(&self, info: &mut gst::PadProbeInfo) -> gst::PadProbeReturn {
        // Handled, not Drop, for what does not pass: the probe took it and drops it itself
        // (gstreamer-rs 0.25 hands the C side a NULL for Drop, which it then unrefs).
        use gst::PadProbeReturn::{Handled, Ok};
        let mut st = self.state();
        if st.live && st.eos {
            // The stream has ended where it was sent EOS: a decoder that connects only now must
            // not start it again (a stream-start clears the EOS of the pads downstream).
            let eos = matches!(&info.data, Some(gst::PadProbeData::Event(e)) if e.type_() == gst::EventType::Eos);
            return if eos { Ok } else { Handled };
        }
        match &mut info.data {
            Some(gst::PadProbeData::Buffer(buffer)) => {
                let connected = st.on_buffer();
                let keep = !st.live || st.forwarding.to_running_time(buffer);
                let message = connected.map(|attempts| st.source_message(SourceState::Connected, attempts, None));
                drop(st);
                if let Some(m) = message {
                    gst::info!(CAT, imp = self, "connected to {}", self.state().uri());
                    self.post_source_message(m);
                }
                if keep {
                    Ok
                } else {
                    Handled
                }
            }
            Some(gst::PadProbeData::Event(event)) if st.live => match st.forwarding.event(event) {
                Verdict::Pass => Ok,
                Verdict::Replace(replacement) => {
                    info.data = Some(gst::PadProbeData::Event(replacement));
                    Ok
                }
                Verdict::Hold => Handled,
                Verdict::EndOfStream => {
                    let lost = st.lose("end of stream");
                    drop(st);
                    if let Some(lost) = lost {
                        self.announce_loss(lost);
                    }
                    Handled
                }
            },
            _ => Ok,
        }
    }
}
