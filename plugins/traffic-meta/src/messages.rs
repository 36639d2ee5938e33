//! The bus messages of the counter: `traffic-crossing`, one per crossing, `traffic-zone`, one
//! per zone entry or exit, and `traffic-summary` at end of stream. Element messages whose structure is built and read
//! here only, so applications never spell the field names themselves.

use crate::frame::{counts_structure, read_counts, Counts, Crossing, ZoneEvent, ZoneEventKind};

pub const CROSSING_MESSAGE: &str = "traffic-crossing";
pub const ZONE_MESSAGE: &str = "traffic-zone";
pub const SUMMARY_MESSAGE: &str = "traffic-summary";

/// A `traffic-crossing` message: the crossing, and when it happened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CrossingMessage {
    pub crossing: Crossing,
    pub pts: Option<gst::ClockTime>,
    pub running_time: Option<gst::ClockTime>,
}

/// A `traffic-zone` message: a track entered or left a zone, and when.
#[derive(Clone, Debug, PartialEq)]
pub struct ZoneMessage {
    pub event: ZoneEvent,
    pub pts: Option<gst::ClockTime>,
    pub running_time: Option<gst::ClockTime>,
}

/// A `traffic-summary` message: the final totals and how many frames were counted.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Summary {
    pub counts: Counts,
    pub frames: u64,
}

// Times travel as plain uint64 nanoseconds (GST_CLOCK_TIME_NONE when unknown), which every
// language binding reads without GStreamer's ClockTime type.
fn nanos(t: Option<gst::ClockTime>) -> u64 {
    t.map(|t| t.nseconds()).unwrap_or(u64::MAX)
}

fn clock_time(s: &gst::StructureRef, field: &str) -> Option<gst::ClockTime> {
    s.get::<u64>(field).ok().filter(|n| *n != u64::MAX).map(gst::ClockTime::from_nseconds)
}

pub fn crossing_structure(m: &CrossingMessage) -> gst::Structure {
    let c = &m.crossing;
    gst::Structure::builder(CROSSING_MESSAGE)
        .field("line", c.line.as_str())
        .field("direction", c.direction.as_str())
        .field("track-id", c.track_id)
        .field("class", c.class.as_str())
        .field("plate", c.plate.as_deref().unwrap_or(""))
        .field("pts", nanos(m.pts))
        .field("running-time", nanos(m.running_time))
        .build()
}

/// Reads a `traffic-crossing` message's structure; None for any other structure.
pub fn read_crossing(s: &gst::StructureRef) -> Option<CrossingMessage> {
    if s.name() != CROSSING_MESSAGE {
        return None;
    }
    let text = |f: &str| s.get::<String>(f).unwrap_or_default();
    Some(CrossingMessage {
        crossing: Crossing {
            line: text("line"),
            direction: text("direction"),
            track_id: s.get::<u64>("track-id").unwrap_or(0),
            class: text("class"),
            plate: Some(text("plate")).filter(|p| !p.is_empty()),
        },
        pts: clock_time(s, "pts"),
        running_time: clock_time(s, "running-time"),
    })
}

/// `traffic-zone`: `zone`, `event` (`enter` or `exit`), `track-id`, `class`, `dwell` (seconds
/// inside: 0 on entering), `plate` (empty when unknown), `pts`, `running-time`.
pub fn zone_structure(m: &ZoneMessage) -> gst::Structure {
    let e = &m.event;
    gst::Structure::builder(ZONE_MESSAGE)
        .field("zone", e.zone.as_str())
        .field("event", e.kind.as_str())
        .field("track-id", e.track_id)
        .field("class", e.class.as_str())
        .field("dwell", e.dwell)
        .field("plate", e.plate.as_deref().unwrap_or(""))
        .field("pts", nanos(m.pts))
        .field("running-time", nanos(m.running_time))
        .build()
}

/// Reads a `traffic-zone` message's structure; None for any other structure.
pub fn read_zone(s: &gst::StructureRef) -> Option<ZoneMessage> {
    if s.name() != ZONE_MESSAGE {
        return None;
    }
    let text = |f: &str| s.get::<String>(f).unwrap_or_default();
    Some(ZoneMessage {
        event: ZoneEvent {
            zone: text("zone"),
            kind: ZoneEventKind::from_name(&text("event"))?,
            track_id: s.get::<u64>("track-id").unwrap_or(0),
            class: text("class"),
            dwell: s.get::<f64>("dwell").unwrap_or(0.0),
            plate: Some(text("plate")).filter(|p| !p.is_empty()),
        },
        pts: clock_time(s, "pts"),
        running_time: clock_time(s, "running-time"),
    })
}

/// The `traffic-summary` structure: the `traffic-counts` fields plus `frames`.
pub fn summary_structure(summary: &Summary) -> gst::Structure {
    let mut body = counts_structure(&summary.counts);
    body.set_name(SUMMARY_MESSAGE);
    body.set("frames", summary.frames);
    body
}

/// Reads a `traffic-summary` message's structure; None for any other structure.
pub fn read_summary(s: &gst::StructureRef) -> Option<Summary> {
    (s.name() == SUMMARY_MESSAGE)
        .then(|| Summary { counts: read_counts(s), frames: s.get::<u64>("frames").unwrap_or(0) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::{ClassTotal, LineTotals};

    #[test]
    fn crossing_round_trips_with_and_without_times_and_plate() {
        gst::init().unwrap();
        let crossing =
            Crossing { line: "north".into(), direction: "in".into(), track_id: 42, class: "bus".into(), plate: None };
        for (pts, rt, plate) in [(Some(5), Some(3), Some("AB123")), (None, None, None)] {
            let m = CrossingMessage {
                crossing: Crossing { plate: plate.map(String::from), ..crossing.clone() },
                pts: pts.map(gst::ClockTime::from_seconds),
                running_time: rt.map(gst::ClockTime::from_seconds),
            };
            let s = crossing_structure(&m);
            assert_eq!(s.get::<u64>("track-id").unwrap(), 42, "field names are the documented ones");
            assert_eq!(read_crossing(&s), Some(m));
        }
        assert_eq!(read_crossing(&gst::Structure::new_empty("traffic-summary")), None);
    }

    #[test]
    fn zone_event_round_trips() {
        gst::init().unwrap();
        let event = ZoneEvent {
            zone: "lot".into(),
            kind: ZoneEventKind::Exit,
            track_id: 9,
            class: "car".into(),
            dwell: 12.75,
            plate: Some("AB123".into()),
        };
        for (kind, pts, plate) in [(ZoneEventKind::Exit, Some(7), Some("AB123")), (ZoneEventKind::Enter, None, None)] {
            let m = ZoneMessage {
                event: ZoneEvent { kind, plate: plate.map(String::from), ..event.clone() },
                pts: pts.map(gst::ClockTime::from_seconds),
                running_time: pts.map(gst::ClockTime::from_seconds),
            };
            let s = zone_structure(&m);
            assert_eq!((s.name().as_str(), s.get::<&str>("event").unwrap()), (ZONE_MESSAGE, kind.as_str()));
            assert_eq!(s.get::<u64>("track-id").unwrap(), 9, "field names are the documented ones");
            assert_eq!(read_zone(&s), Some(m));
        }
        assert_eq!(
            read_zone(&crossing_structure(&CrossingMessage {
                crossing: Crossing {
                    line: "a".into(),
                    direction: "in".into(),
                    track_id: 1,
                    class: "car".into(),
                    plate: None
                },
                pts: None,
                running_time: None,
            })),
            None
        );
    }

    #[test]
    fn summary_round_trips() {
        gst::init().unwrap();
        let line = LineTotals {
            name: "street".into(),
            start: (0.0, 211.2),
            end: (640.0, 211.2),
            in_name: "down".into(),
            out_name: "up".into(),
            totals: vec![ClassTotal { class: "car".into(), direction: "down".into(), count: 8 }],
        };
        let summary = Summary { counts: Counts { lines: vec![line], ..Counts::default() }, frames: 905 };
        let s = summary_structure(&summary);
        assert_eq!(s.name(), SUMMARY_MESSAGE);
        assert_eq!(read_summary(&s), Some(summary));
        assert_eq!(read_summary(&gst::Structure::new_empty("traffic-crossing")), None);
    }
}
