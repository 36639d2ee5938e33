//! The bus messages of the counter: `traffic-crossing`, one per crossing (and a
//! `traffic-wrong-way` with the same fields when it went against a one-way line), `traffic-zone`,
//! one per zone entry or exit, `traffic-bin` per closed bin, and `traffic-summary` at end of
//! stream. Element messages whose structure is built and read
//! here only, so applications never spell the field names themselves.

use crate::frame::{counts_structure, read_counts, Bin, Counts, Crossing, ZoneEvent, ZoneEventKind};

pub const CROSSING_MESSAGE: &str = "traffic-crossing";
pub const WRONG_WAY_MESSAGE: &str = "traffic-wrong-way";
pub const BIN_MESSAGE: &str = "traffic-bin";
pub const ZONE_MESSAGE: &str = "traffic-zone";
pub const SUMMARY_MESSAGE: &str = "traffic-summary";

/// A `traffic-crossing` message: the crossing, and when it happened.
#[derive(Clone, Debug, PartialEq)]
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

fn crossing_message(name: &str, m: &CrossingMessage) -> gst::Structure {
    let mut s = m.crossing.message_structure(name);
    s.set("pts", nanos(m.pts));
    s.set("running-time", nanos(m.running_time));
    s
}

/// `traffic-crossing`: `line`, `direction`, `track-id`, `class`, `plate` (empty when unknown),
/// `wrong-way` (bool), `speed-kmh` and `headway-s` (doubles, left out when unknown), `pts`,
/// `running-time`.
pub fn crossing_structure(m: &CrossingMessage) -> gst::Structure {
    crossing_message(CROSSING_MESSAGE, m)
}

fn read_crossing_named(name: &str, s: &gst::StructureRef) -> Option<CrossingMessage> {
    (s.name() == name).then(|| CrossingMessage {
        crossing: Crossing::read_message(s),
        pts: clock_time(s, "pts"),
        running_time: clock_time(s, "running-time"),
    })
}

/// Reads a `traffic-crossing` message's structure; None for any other structure.
pub fn read_crossing(s: &gst::StructureRef) -> Option<CrossingMessage> {
    read_crossing_named(CROSSING_MESSAGE, s)
}

/// `traffic-wrong-way`: the fields of `traffic-crossing`, for a crossing against the only
/// direction a one-way line allows (posted besides its `traffic-crossing`).
pub fn wrong_way_structure(m: &CrossingMessage) -> gst::Structure {
    crossing_message(WRONG_WAY_MESSAGE, m)
}

/// Reads a `traffic-wrong-way` message's structure; None for any other structure.
pub fn read_wrong_way(s: &gst::StructureRef) -> Option<CrossingMessage> {
    read_crossing_named(WRONG_WAY_MESSAGE, s)
}

/// `traffic-bin`: `start` and `end` (doubles, stream seconds) and `counts`, an array of `count`
/// structures: `line`, `class`, `direction`, `count` (uint64), and `mean_speed_kmh` and
/// `mean_headway_s` (doubles, left out when no crossing had one).
pub fn bin_structure(bin: &Bin) -> gst::Structure {
    bin.structure(BIN_MESSAGE)
}

/// Reads a `traffic-bin` message's structure; None for any other structure.
pub fn read_bin(s: &gst::StructureRef) -> Option<Bin> {
    (s.name() == BIN_MESSAGE).then(|| Bin::read(s))
}

/// `traffic-zone`: `zone`, `event` (`enter` or `exit`), `track-id`, `class`, `dwell` (seconds
/// inside: 0 on entering), `plate` (empty when unknown), `mean-speed-kmh` (double, on an exit
/// with a calibration: the track's mean speed inside; left out when unknown), `pts`,
/// `running-time`.
pub fn zone_structure(m: &ZoneMessage) -> gst::Structure {
    let e = &m.event;
    gst::Structure::builder(ZONE_MESSAGE)
        .field("zone", e.zone.as_str())
        .field("event", e.kind.as_str())
        .field("track-id", e.track_id)
        .field("class", e.class.as_str())
        .field("dwell", e.dwell)
        .field("plate", e.plate.as_deref().unwrap_or(""))
        .field_if_some("mean-speed-kmh", e.mean_speed_kmh)
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
            mean_speed_kmh: s.get::<f64>("mean-speed-kmh").ok(),
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
        let crossing = Crossing {
            line: "north".into(),
            direction: "in".into(),
            track_id: 42,
            class: "bus".into(),
            speed_kmh: Some(42.5),
            headway_s: Some(2.0),
            ..Crossing::default()
        };
        for (pts, rt, plate) in [(Some(5), Some(3), Some("AB123")), (None, None, None)] {
            let m = CrossingMessage {
                crossing: Crossing { plate: plate.map(String::from), speed_kmh: pts.map(|_| 42.5), ..crossing.clone() },
                pts: pts.map(gst::ClockTime::from_seconds),
                running_time: rt.map(gst::ClockTime::from_seconds),
            };
            let s = crossing_structure(&m);
            assert_eq!(s.get::<u64>("track-id").unwrap(), 42, "field names are the documented ones");
            assert_eq!(s.get::<f64>("speed-kmh").ok(), pts.map(|_| 42.5));
            assert_eq!(read_crossing(&s), Some(m.clone()));
            assert_eq!(read_wrong_way(&s), None);
            let wrong = CrossingMessage { crossing: Crossing { wrong_way: true, ..m.crossing.clone() }, ..m };
            let s = wrong_way_structure(&wrong);
            assert_eq!((s.name().as_str(), s.get::<bool>("wrong-way")), (WRONG_WAY_MESSAGE, Ok(true)));
            assert_eq!(read_wrong_way(&s), Some(wrong));
        }
        assert_eq!(read_crossing(&gst::Structure::new_empty("traffic-summary")), None);
    }

    #[test]
    fn bin_round_trips() {
        gst::init().unwrap();
        let bin = Bin {
            start: 0.0,
            end: 10.0,
            counts: vec![crate::frame::BinCount {
                line: "street".into(),
                class: "car".into(),
                direction: "down".into(),
                count: 2,
                mean_speed_kmh: Some(30.0),
                mean_headway_s: None,
            }],
        };
        let s = bin_structure(&bin);
        assert_eq!(s.name(), BIN_MESSAGE);
        assert_eq!(read_bin(&s), Some(bin));
        assert_eq!(read_bin(&gst::Structure::new_empty(CROSSING_MESSAGE)), None);
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
            mean_speed_kmh: Some(21.5),
        };
        for (kind, pts, plate) in [(ZoneEventKind::Exit, Some(7), Some("AB123")), (ZoneEventKind::Enter, None, None)] {
            let m = ZoneMessage {
                event: ZoneEvent {
                    kind,
                    plate: plate.map(String::from),
                    mean_speed_kmh: pts.map(|_| 21.5),
                    ..event.clone()
                },
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
                    ..Crossing::default()
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
