//! What downstream sees of a live source: one continuous stream, whatever the number of
//! decoders behind it.
//!
//! The first decoder's stream-start and segment pass (the segment as the identity, since
//! buffers leave in running time); a later decoder's are held back. Flushes never pass. Caps
//! do: `videoconvert` ignores caps equal to the ones it has, so only a real change (another
//! resolution) renegotiates downstream. A live source's queue is leaky, its drops counted.

use gst::prelude::*;
use gst::subclass::prelude::*;

use super::imp::{TrafficSrc, CAT};

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
                let message = connected.map(|attempts| self.source_message(&st, "connected", attempts, None));
                drop(st);
                if let Some(m) = message {
                    gst::info!(CAT, imp = self, "connected to {}", self.state().uri());
                    let _ = self.obj().post_message(m);
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

#[cfg(test)]
mod tests {
    use super::*;

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
