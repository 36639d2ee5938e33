//! Events of schema `traffic-vision/events` version 1 (docs/events.md): a `crossing` per line
//! crossing (and a `wrong-way` beside it when it went against a one-way line; both selected by
//! `crossing`), a `zone-enter` and a `zone-exit` per visit of a zone, a `plate` when a track's
//! voted plate text is first read or changes, a `bin` per closed bin of linecounter's `bin` and a
//! `summary` at the end of the stream (both selected by `summary`).

use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Map, Value};
use traffic_meta::{Bin, Counts, LineTotals, Object, ZoneEventKind, ZoneState};

use super::EventKinds;

pub const SCHEMA: &str = "traffic-vision/events";
pub const VERSION: u32 = 1;

/// A track's plate is forgotten when the track is not seen for this many frames (tracks end; the
/// map must not grow for ever). Its text showing again later is then a new `plate` event.
const PLATE_FORGET_FRAMES: u64 = 9000;

struct PlateSeen {
    text: String,
    frame: u64,
}

/// Turns each frame's metadata into events, remembering what it needs across frames.
pub struct EventSource {
    kinds: EventKinds,
    source: Option<String>,
    /// Unique per run, so that `id`s stay unique across restarts and cameras.
    run: String,
    seq: u64,
    plates: HashMap<u64, PlateSeen>,
    /// The latest totals: a summary at the end repeats them.
    lines: Vec<LineTotals>,
    zones: Vec<ZoneState>,
    frames: u64,
    last_pts: Option<u64>,
}

/// `{class: {direction: n}}` for one line, both directions under each class.
pub(super) fn line_totals(line: &LineTotals) -> Value {
    json!(line.by_class())
}

/// Three decimals: milliseconds of dwell, a confidence finer than any model's.
pub(super) fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

/// `{class: n}`: who is inside a zone now.
pub(super) fn zone_occupancy(zone: &ZoneState) -> Value {
    json!(zone.occupancy_by_class())
}

/// `{class: n}`: how many entered a zone so far.
pub(super) fn zone_entries(zone: &ZoneState) -> Value {
    Value::Object(zone.entries.iter().map(|(c, n)| (c.clone(), Value::from(*n))).collect())
}

impl EventSource {
    pub fn new(kinds: EventKinds, source: Option<String>) -> EventSource {
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        EventSource {
            kinds,
            source,
            run: format!("{nanos:x}-{:x}", std::process::id()),
            seq: 0,
            plates: HashMap::new(),
            lines: Vec::new(),
            zones: Vec::new(),
            frames: 0,
            last_pts: None,
        }
    }

    fn event(&mut self, kind: &str, frame: u64, pts: Option<u64>, body: Value) -> Value {
        let mut m = Map::new();
        m.insert("schema".into(), SCHEMA.into());
        m.insert("version".into(), VERSION.into());
        m.insert("type".into(), kind.into());
        m.insert("id".into(), format!("{}-{}", self.run, self.seq).into());
        m.insert("seq".into(), self.seq.into());
        if let Some(s) = &self.source {
            m.insert("source".into(), s.as_str().into());
        }
        m.insert("frame".into(), frame.into());
        m.insert("pts".into(), pts.into());
        if let Value::Object(body) = body {
            m.extend(body);
        }
        self.seq += 1;
        Value::Object(m)
    }

    /// The events of one frame: its crossings, its zone entries and exits, then its new plate
    /// readings.
    pub fn frame(&mut self, frame: u64, pts: Option<u64>, objects: &[Object], counts: Option<&Counts>) -> Vec<Value> {
        self.frames = frame + 1;
        self.last_pts = pts.or(self.last_pts);
        let mut events = Vec::new();
        if let Some(counts) = counts {
            // The latest totals, kept for the end-of-stream summary only.
            if self.kinds.contains(EventKinds::SUMMARY) {
                self.lines.clone_from(&counts.lines);
                self.zones.clone_from(&counts.zones);
            }
            if self.kinds.contains(EventKinds::CROSSING) {
                for c in &counts.crossings {
                    let totals = counts.lines.iter().find(|l| l.name == c.line).map(line_totals);
                    let body = json!({
                        "line": c.line, "direction": c.direction, "track_id": c.track_id,
                        "class": c.class, "plate": c.plate, "totals": totals,
                        "speed_kmh": c.speed_kmh.map(round3), "headway_s": c.headway_s.map(round3),
                        "wrong_way": c.wrong_way,
                    });
                    if c.wrong_way {
                        let alarm = self.event("wrong-way", frame, pts, body.clone());
                        events.push(self.event("crossing", frame, pts, body));
                        events.push(alarm);
                    } else {
                        events.push(self.event("crossing", frame, pts, body));
                    }
                }
            }
            if self.kinds.contains(EventKinds::ZONE) {
                self.zone_events(frame, pts, counts, &mut events);
            }
        }
        if self.kinds.contains(EventKinds::PLATE) {
            self.plate_events(frame, pts, objects, &mut events);
        }
        events
    }

    /// `zone-enter` with the zone's entries after it, `zone-exit` with the visit's dwell; both
    /// with the zone's occupancy after the event.
    fn zone_events(&mut self, frame: u64, pts: Option<u64>, counts: &Counts, events: &mut Vec<Value>) {
        for e in &counts.zone_events {
            let zone = counts.zones.iter().find(|z| z.name == e.zone);
            let mut body = json!({
                "zone": e.zone, "track_id": e.track_id, "class": e.class, "plate": e.plate,
                "occupancy": zone.map(zone_occupancy),
            });
            let kind = match e.kind {
                ZoneEventKind::Enter => {
                    body["entries"] = zone.map(zone_entries).into();
                    "zone-enter"
                }
                ZoneEventKind::Exit => {
                    body["dwell"] = round3(e.dwell).into();
                    body["mean_speed_kmh"] = e.mean_speed_kmh.map(round3).into();
                    "zone-exit"
                }
            };
            events.push(self.event(kind, frame, pts, body));
        }
    }

    fn plate_events(&mut self, frame: u64, pts: Option<u64>, objects: &[Object], events: &mut Vec<Value>) {
        for vehicle in objects.iter().filter(|o| !o.is_plate()) {
            let Some(track) = &vehicle.track else { continue };
            let Some(plate) = objects.iter().filter(|p| p.parent_id == vehicle.roi_id).find_map(|p| p.plate.as_ref())
            else {
                continue;
            };
            if plate.track_text.is_empty() {
                continue;
            }
            let previous = match self.plates.get_mut(&track.id) {
                Some(seen) if seen.text == plate.track_text => {
                    seen.frame = frame;
                    continue;
                }
                Some(seen) => Some(std::mem::replace(&mut seen.text, plate.track_text.clone())),
                None => None,
            };
            self.plates.insert(track.id, PlateSeen { text: plate.track_text.clone(), frame });
            let body = json!({
                "track_id": track.id, "class": track.label, "text": plate.track_text,
                "confidence": round3(plate.track_confidence), "previous": previous,
            });
            events.push(self.event("plate", frame, pts, body));
        }
        if frame.is_multiple_of(1000) {
            self.plates.retain(|_, seen| frame.saturating_sub(seen.frame) < PLATE_FORGET_FRAMES);
        }
    }

    /// A `bin` event per bin the frame closed (`start`, `end` in stream seconds, and per line,
    /// class and direction the count, mean speed and mean headway), if summaries are selected.
    pub fn bins(&mut self, frame: u64, pts: Option<u64>, bins: &[Bin]) -> Vec<Value> {
        if !self.kinds.contains(EventKinds::SUMMARY) {
            return Vec::new();
        }
        bins.iter()
            .map(|b| {
                let counts: Vec<Value> = b
                    .counts
                    .iter()
                    .map(|c| {
                        json!({
                            "line": c.line, "class": c.class, "direction": c.direction, "count": c.count,
                            "mean_speed_kmh": c.mean_speed_kmh.map(round3),
                            "mean_headway_s": c.mean_headway_s.map(round3),
                        })
                    })
                    .collect();
                let body = json!({"start": round3(b.start), "end": round3(b.end), "counts": counts});
                self.event("bin", frame, pts, body)
            })
            .collect()
    }

    /// The end-of-stream summary: frames seen, the final totals and, with zones, each zone's
    /// entries and who is still inside; if summaries are selected.
    pub fn summary(&mut self) -> Option<Value> {
        if !self.kinds.contains(EventKinds::SUMMARY) {
            return None;
        }
        let totals: Map<String, Value> = self.lines.iter().map(|l| (l.name.clone(), line_totals(l))).collect();
        let crossings: u64 = self.lines.iter().map(LineTotals::total).sum();
        let mut body = json!({"frames": self.frames, "crossings": crossings, "totals": totals});
        if !self.zones.is_empty() {
            let zones: Map<String, Value> = self
                .zones
                .iter()
                .map(|z| (z.name.clone(), json!({"entries": zone_entries(z), "occupancy": zone_occupancy(z)})))
                .collect();
            body["zones"] = Value::Object(zones);
        }
        let (frame, pts) = (self.frames.saturating_sub(1), self.last_pts);
        Some(self.event("summary", frame, pts, body))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use traffic_meta::{ClassTotal, Crossing, PixelBox, Plate, Track, ZoneEvent, ZoneOccupant};

    fn vehicle(roi_id: i32, track_id: u64) -> Object {
        Object {
            roi_id,
            parent_id: -1,
            roi_type: "car".into(),
            bbox: PixelBox { x1: 0.0, y1: 0.0, x2: 10.0, y2: 10.0 },
            detection: None,
            track: Some(Track {
                id: track_id,
                age: 3,
                predicted: false,
                label: "car".into(),
                label_id: 2,
                speed_kmh: None,
            }),
            plate: None,
        }
    }

    fn plate(parent_id: i32, track_text: &str) -> Object {
        Object {
            roi_id: parent_id + 100,
            parent_id,
            roi_type: traffic_meta::PLATE_ROI_TYPE.into(),
            track: None,
            plate: Some(Plate {
                text: "X".into(),
                confidence: 0.5,
                track_text: track_text.into(),
                track_confidence: 0.8123,
            }),
            ..vehicle(0, 0)
        }
    }

    fn counts(crossings: Vec<Crossing>, down: u64) -> Counts {
        Counts {
            lines: vec![LineTotals {
                name: "street".into(),
                start: (0.0, 1.0),
                end: (2.0, 1.0),
                in_name: "down".into(),
                out_name: "up".into(),
                totals: vec![ClassTotal { class: "car".into(), direction: "down".into(), count: down }],
            }],
            crossings,
            zones: vec![],
            zone_events: vec![],
        }
    }

    /// The counts of a frame on which `events` happened in zone `lot`, with `inside` in it.
    fn zone_counts(events: Vec<(ZoneEventKind, u64, f64)>, inside: &[u64], entries: u64) -> Counts {
        let occupant = |id| ZoneOccupant { track_id: id, class: "car".into(), dwell: 1.0 };
        Counts {
            zones: vec![ZoneState {
                name: "lot".into(),
                points: vec![(0.0, 0.0), (10.0, 0.0), (10.0, 10.0)],
                occupants: inside.iter().map(|id| occupant(*id)).collect(),
                entries: vec![("car".into(), entries)],
            }],
            zone_events: events
                .into_iter()
                .map(|(kind, track_id, dwell)| ZoneEvent {
                    zone: "lot".into(),
                    kind,
                    track_id,
                    class: "car".into(),
                    dwell,
                    plate: None,
                    mean_speed_kmh: None,
                })
                .collect(),
            ..Counts::default()
        }
    }

    /// Track 7, a car, crossing `street` towards `direction`.
    fn car_crossing(direction: &str) -> Crossing {
        Crossing {
            line: "street".into(),
            direction: direction.into(),
            track_id: 7,
            class: "car".into(),
            ..Default::default()
        }
    }

    #[test]
    fn a_wrong_way_crossing_also_alarms_and_bins_are_events() {
        let mut src = EventSource::new(EventKinds::all(), None);
        let crossing = Crossing { speed_kmh: Some(31.23456), wrong_way: true, ..car_crossing("up") };
        let events = src.frame(1, Some(40), &[], Some(&counts(vec![crossing], 1)));
        let kinds: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
        assert_eq!(kinds, ["crossing", "wrong-way"]);
        assert_eq!((events[1]["track_id"].as_u64(), events[1]["speed_kmh"].as_f64()), (Some(7), Some(31.235)));
        assert_eq!(events[0]["headway_s"], Value::Null);
        let bin = Bin {
            start: 0.0,
            end: 10.0,
            counts: vec![traffic_meta::BinCount {
                line: "street".into(),
                class: "car".into(),
                direction: "up".into(),
                count: 1,
                mean_speed_kmh: Some(31.23456),
                mean_headway_s: None,
            }],
        };
        let events = src.bins(2, Some(80), &[bin]);
        assert_eq!(events[0]["type"], "bin");
        assert_eq!((events[0]["end"].as_f64(), events[0]["counts"][0]["count"].as_u64()), (Some(10.0), Some(1)));
        assert!(EventSource::new(EventKinds::CROSSING, None).bins(2, None, &[Bin::default()]).is_empty());
    }

    #[test]
    fn a_crossing_event_per_crossing_with_the_line_totals() {
        let mut src = EventSource::new(EventKinds::all(), Some("cam1".into()));
        let crossing = car_crossing("down");
        assert!(src.frame(0, Some(0), &[], Some(&counts(vec![], 0))).is_empty());
        let events = src.frame(1, Some(40), &[], Some(&counts(vec![crossing], 1)));
        assert_eq!(events.len(), 1);
        let e = &events[0];
        assert_eq!(
            (e["schema"].as_str(), e["version"].as_u64(), e["type"].as_str()),
            (Some(SCHEMA), Some(1), Some("crossing"))
        );
        assert_eq!(
            (e["line"].as_str(), e["direction"].as_str(), e["track_id"].as_u64()),
            (Some("street"), Some("down"), Some(7))
        );
        assert_eq!((e["frame"].as_u64(), e["pts"].as_u64(), e["source"].as_str()), (Some(1), Some(40), Some("cam1")));
        assert!(e["plate"].is_null());
        assert_eq!(e["totals"]["car"]["down"], 1);
        let summary = src.summary().unwrap();
        assert_eq!(
            (summary["type"].as_str(), summary["frames"].as_u64(), summary["crossings"].as_u64()),
            (Some("summary"), Some(2), Some(1))
        );
        assert_eq!(summary["totals"]["street"]["car"]["down"], 1);
        assert_ne!(e["id"], summary["id"]);
        assert_eq!(summary["seq"].as_u64(), Some(1));
    }

    #[test]
    fn a_plate_event_when_the_voted_text_is_first_read_or_changes() {
        let mut src = EventSource::new(EventKinds::all(), None);
        assert!(src.frame(0, None, &[vehicle(1, 5), plate(1, "")], None).is_empty(), "nothing read yet");
        let first = src.frame(1, None, &[vehicle(1, 5), plate(1, "AB12")], None);
        assert_eq!(first.len(), 1);
        assert_eq!(
            (first[0]["type"].as_str(), first[0]["text"].as_str(), first[0]["track_id"].as_u64()),
            (Some("plate"), Some("AB12"), Some(5))
        );
        assert_eq!(first[0]["confidence"], 0.812);
        assert!(first[0]["previous"].is_null());
        assert!(first[0].get("source").is_none());
        assert!(src.frame(2, None, &[vehicle(1, 5), plate(1, "AB12")], None).is_empty(), "same text: no event");
        let changed = src.frame(3, None, &[vehicle(3, 5), plate(3, "AB123")], None);
        assert_eq!((changed[0]["text"].as_str(), changed[0]["previous"].as_str()), (Some("AB123"), Some("AB12")));
        let other = src.frame(4, None, &[vehicle(1, 6), plate(1, "AB123")], None);
        assert_eq!(other.len(), 1, "another track with the same text is its own event");
    }

    #[test]
    fn zone_enter_and_exit_events_with_occupancy_entries_and_dwell() {
        let mut src = EventSource::new(EventKinds::all(), Some("cam1".into()));
        let entered = src.frame(5, Some(200), &[], Some(&zone_counts(vec![(ZoneEventKind::Enter, 3, 0.0)], &[3], 1)));
        assert_eq!(entered.len(), 1);
        let e = &entered[0];
        assert_eq!(
            (e["schema"].as_str(), e["version"].as_u64(), e["type"].as_str()),
            (Some(SCHEMA), Some(1), Some("zone-enter"))
        );
        assert_eq!(
            (e["zone"].as_str(), e["track_id"].as_u64(), e["class"].as_str()),
            (Some("lot"), Some(3), Some("car"))
        );
        assert_eq!(
            (e["occupancy"]["car"].as_u64(), e["entries"]["car"].as_u64(), e["source"].as_str()),
            (Some(1), Some(1), Some("cam1"))
        );
        assert!(e["plate"].is_null() && e.get("dwell").is_none());
        let left = src.frame(9, Some(360), &[], Some(&zone_counts(vec![(ZoneEventKind::Exit, 3, 4.12345)], &[], 1)));
        let e = &left[0];
        assert_eq!(
            (e["type"].as_str(), e["track_id"].as_u64(), e["dwell"].as_f64()),
            (Some("zone-exit"), Some(3), Some(4.123))
        );
        assert_eq!((e["frame"].as_u64(), e["pts"].as_u64(), e["seq"].as_u64()), (Some(9), Some(360), Some(1)));
        assert_eq!(e["occupancy"], json!({}), "the zone is empty after it left");
        assert!(e.get("entries").is_none());
        let summary = src.summary().unwrap();
        assert_eq!(summary["zones"]["lot"], json!({"entries": {"car": 1}, "occupancy": {}}));
        let mut no_zones = EventSource::new(EventKinds::CROSSING | EventKinds::SUMMARY, None);
        assert!(no_zones
            .frame(0, None, &[], Some(&zone_counts(vec![(ZoneEventKind::Enter, 3, 0.0)], &[3], 1)))
            .is_empty());
    }

    #[test]
    fn unselected_kinds_make_no_events() {
        let mut src = EventSource::new(EventKinds::PLATE, None);
        let crossing = car_crossing("down");
        assert!(src.frame(0, None, &[], Some(&counts(vec![crossing], 1))).is_empty());
        assert!(src.summary().is_none());
    }
}
