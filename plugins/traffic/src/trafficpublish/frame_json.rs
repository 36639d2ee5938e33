//! The per-frame JSON line: a frame's place in the stream, every object on it (plates nested in
//! their vehicle), its zones, and its crossings with the totals after them.

use serde_json::{json, Map, Value};
use traffic_meta::{Counts, FrameSize, Object, PixelBox};

use super::events::{line_totals, round3, zone_entries, zone_occupancy};

/// Two decimals are finer than any detector; more digits only bloat the lines.
fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

fn box_json(b: &PixelBox) -> Value {
    json!([round2(b.x1), round2(b.y1), round2(b.x2), round2(b.y2)])
}

fn object_json(o: &Object, plates: &[&Object]) -> Value {
    let mut m = Map::new();
    m.insert("class".into(), o.label().into());
    if let Some(d) = &o.detection {
        m.insert("class_id".into(), d.label_id.into());
        m.insert("confidence".into(), round3(d.confidence).into());
    }
    m.insert("box".into(), box_json(&o.bbox));
    if let Some(t) = &o.track {
        m.insert("track_id".into(), t.id.into());
        m.insert("age".into(), t.age.into());
        m.insert("predicted".into(), t.predicted.into());
        m.insert("track_class".into(), t.label.as_str().into());
        if let Some(v) = t.speed_kmh {
            m.insert("speed_kmh".into(), round3(v).into());
        }
    }
    if let Some(p) = plates.iter().find(|p| p.parent_id == o.roi_id) {
        m.insert("plate".into(), plate_json(p));
    } else if o.is_plate() && o.plate.is_some() {
        // A plate without a vehicle on this frame (platedetect mode=frame): its text on itself.
        m.insert("plate".into(), plate_json(o));
    }
    Value::Object(m)
}

fn plate_json(p: &Object) -> Value {
    let mut m = Map::new();
    m.insert("box".into(), box_json(&p.bbox));
    if let Some(d) = &p.detection {
        m.insert("confidence".into(), round3(d.confidence).into());
    }
    if let Some(t) = &p.plate {
        m.insert("text".into(), t.text.as_str().into());
        m.insert("text_confidence".into(), round3(t.confidence).into());
        m.insert("track_text".into(), t.track_text.as_str().into());
        m.insert("track_confidence".into(), round3(t.track_confidence).into());
    }
    Value::Object(m)
}

/// Zones on every frame (`{zone: {occupancy: {class: n}, occupants: [...], entries: {class: n}}}`)
/// and the entries and exits of this frame (`zone_events`); crossings of this frame, and the
/// running totals after them: `{line: {class: {direction: n}}}`.
fn counts_json(counts: &Counts, m: &mut Map<String, Value>) {
    if !counts.zones.is_empty() {
        let zones: Map<String, Value> = counts
            .zones
            .iter()
            .map(|z| {
                let occupants: Vec<Value> = z
                    .occupants
                    .iter()
                    .map(|o| json!({"track_id": o.track_id, "class": o.class, "dwell": round3(o.dwell)}))
                    .collect();
                let body = json!({"occupancy": zone_occupancy(z), "occupants": occupants, "entries": zone_entries(z)});
                (z.name.clone(), body)
            })
            .collect();
        m.insert("zones".into(), Value::Object(zones));
    }
    if !counts.zone_events.is_empty() {
        let events: Vec<Value> = counts
            .zone_events
            .iter()
            .map(|e| {
                json!({"zone": e.zone, "event": e.kind.as_str(), "track_id": e.track_id, "class": e.class,
                    "dwell": round3(e.dwell), "plate": e.plate})
            })
            .collect();
        m.insert("zone_events".into(), Value::Array(events));
    }
    if counts.crossings.is_empty() {
        return;
    }
    let crossings: Vec<Value> = counts
        .crossings
        .iter()
        .map(|c| {
            json!({"line": c.line, "direction": c.direction, "track_id": c.track_id, "class": c.class, "plate": c.plate,
                   "speed_kmh": c.speed_kmh.map(round3), "headway_s": c.headway_s.map(round3), "wrong_way": c.wrong_way})
        })
        .collect();
    let totals: Map<String, Value> = counts.lines.iter().map(|l| (l.name.clone(), line_totals(l))).collect();
    m.insert("crossings".into(), Value::Array(crossings));
    m.insert("totals".into(), Value::Object(totals));
}

/// One JSON line for a frame: its place in the stream and every object on it. Plates are
/// nested in their vehicle; a plate without a vehicle on this frame is listed on its own.
/// Frames with line crossings also carry them and the totals.
pub fn frame_json(
    frame: u64,
    pts_ns: Option<u64>,
    size: FrameSize,
    objects: &[Object],
    counts: Option<&Counts>,
) -> Value {
    let plates: Vec<&Object> = objects.iter().filter(|o| o.is_plate()).collect();
    let ids: Vec<i32> = objects.iter().map(|o| o.roi_id).collect();
    let mut list: Vec<Value> = objects.iter().filter(|o| !o.is_plate()).map(|o| object_json(o, &plates)).collect();
    list.extend(plates.iter().filter(|p| !ids.contains(&p.parent_id)).map(|p| object_json(p, &[])));
    let mut m = Map::new();
    m.insert("frame".into(), frame.into());
    m.insert("pts".into(), pts_ns.into());
    m.insert("width".into(), size.width.into());
    m.insert("height".into(), size.height.into());
    m.insert("objects".into(), Value::Array(list));
    if let Some(c) = counts {
        counts_json(c, &mut m);
    }
    Value::Object(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use traffic_meta::{Detection, Plate, Track};

    #[test]
    fn frame_json_nests_plates_in_their_vehicle() {
        let size = FrameSize { width: 100, height: 50 };
        let det = |label: &str| Detection {
            label: label.into(),
            label_id: 2,
            confidence: 0.876543,
            bbox: PixelBox { x1: 1.0, y1: 2.0, x2: 30.123, y2: 40.0 },
        };
        let car = Object {
            roi_id: 1,
            parent_id: -1,
            roi_type: "car".into(),
            bbox: det("car").bbox,
            detection: Some(det("car")),
            track: Some(Track {
                id: 4,
                age: 9,
                predicted: false,
                label: "car".into(),
                label_id: 2,
                speed_kmh: Some(31.23456),
            }),
            plate: None,
        };
        let plate = Object {
            roi_id: 2,
            parent_id: 1,
            roi_type: traffic_meta::PLATE_ROI_TYPE.into(),
            plate: Some(Plate {
                text: "AB1".into(),
                confidence: 0.9,
                track_text: "AB12".into(),
                track_confidence: 0.8,
            }),
            track: None,
            ..car.clone()
        };
        let counts = Counts {
            lines: vec![traffic_meta::LineTotals {
                name: "road".into(),
                start: (0.0, 30.0),
                end: (100.0, 30.0),
                in_name: "down".into(),
                out_name: "up".into(),
                totals: vec![traffic_meta::ClassTotal { class: "car".into(), direction: "down".into(), count: 2 }],
            }],
            crossings: vec![traffic_meta::Crossing {
                line: "road".into(),
                direction: "down".into(),
                track_id: 4,
                class: "car".into(),
                ..Default::default()
            }],
            zones: vec![traffic_meta::ZoneState {
                name: "lot".into(),
                points: vec![(0.0, 0.0), (50.0, 0.0), (50.0, 50.0)],
                occupants: vec![
                    traffic_meta::ZoneOccupant { track_id: 4, class: "car".into(), dwell: 12.3456 },
                    traffic_meta::ZoneOccupant { track_id: 9, class: "car".into(), dwell: 1.0 },
                ],
                entries: vec![("car".into(), 5)],
            }],
            zone_events: vec![traffic_meta::ZoneEvent {
                zone: "lot".into(),
                kind: traffic_meta::ZoneEventKind::Exit,
                track_id: 2,
                class: "truck".into(),
                dwell: 7.00049,
                plate: Some("XY9".into()),
                mean_speed_kmh: None,
            }],
        };
        let v = frame_json(3, Some(40_000_000), size, &[car, plate], Some(&counts));
        assert_eq!(v["zones"]["lot"]["occupancy"]["car"], 2);
        assert_eq!(v["zones"]["lot"]["occupants"][0], json!({"track_id": 4, "class": "car", "dwell": 12.346}));
        assert_eq!(v["zones"]["lot"]["entries"]["car"], 5);
        assert_eq!(
            v["zone_events"],
            json!([{"zone": "lot", "event": "exit", "track_id": 2, "class": "truck", "dwell": 7.0, "plate": "XY9"}])
        );
        assert_eq!(v["crossings"][0]["track_id"], 4);
        assert_eq!(v["totals"]["road"]["car"]["down"], 2);
        assert_eq!(v["frame"], 3);
        assert_eq!(v["pts"], 40_000_000u64);
        let objs = v["objects"].as_array().unwrap();
        assert_eq!(objs.len(), 1);
        assert_eq!(objs[0]["class"], "car");
        assert_eq!(objs[0]["confidence"], 0.877);
        assert_eq!(objs[0]["box"], json!([1.0, 2.0, 30.12, 40.0]));
        assert_eq!(objs[0]["track_id"], 4);
        assert_eq!(objs[0]["speed_kmh"], 31.235);
        assert_eq!(objs[0]["plate"]["track_text"], "AB12");
    }
}
