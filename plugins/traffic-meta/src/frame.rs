//! Frame-level metadata, as custom metas (`gst_meta_register_custom`, GStreamer 1.20+):
//!
//! - [`FRAME_META`], structure `traffic-frame`: `detected` (bool), a detector ran on this
//!   frame, so a tracker can tell a frame the detector skipped (`interval` > 1) from a frame
//!   on which it found nothing; `models` (array of str), the models that detected on it, so
//!   a second detector with the same model can tell it would only add every object again.
//! - [`COUNTS_META`], structure `traffic-counts`: `lines`, an array of `line` structures
//!   (`name`, `x1 y1 x2 y2` in pixels, `in` and `out` direction names, `totals`: an array of
//!   `total` structures `class`, `direction`, `count` (uint64)), and `crossings`, an array of
//!   `crossing` structures on this frame (`line`, `direction`, `track_id` (uint64), `class`,
//!   `plate`, empty when unknown, `wrong_way` (bool: against a one-way line's direction), and
//!   with a calibration `speed_kmh` (double), and `headway_s` (double, seconds since the previous
//!   crossing of the line in that direction), each left out when unknown), `zones`, an array of `zone` structures (`name`, `points`
//!   `[x1, y1, x2, y2, ...]` in pixels, `occupants`: `occupant` structures `track_id`, `class`,
//!   `dwell` (seconds), `entries`: `entry` structures `class`, `count`), and `zone_events`,
//!   the entries and exits on this frame: `zone_event` structures (`zone`, `event` `enter` or
//!   `exit`, `track_id`, `class`, `dwell` (seconds inside: 0 on entering), `plate`, and on an exit
//!   with a calibration `mean_speed_kmh` (double, the track's mean speed inside)); and with a
//!   `bin` set, `bins`: the bins this frame closed, `bin` structures as in the `traffic-bin`
//!   message (see [`crate::messages`]).
//!
//! Both are registered by name once per process, so two copies of this library in one
//! process share them, and buffer copies (e.g. `make_writable` after a `tee`) keep them.

use gst::meta::CustomMeta;
use gst::prelude::*;

pub const FRAME_META: &str = "TrafficFrameMeta";
const FRAME_STRUCTURE: &str = "traffic-frame";
pub const COUNTS_META: &str = "TrafficCountsMeta";
const COUNTS_STRUCTURE: &str = "traffic-counts";

fn register(name: &'static str) {
    if CustomMeta::is_registered(name) {
        return;
    }
    CustomMeta::register_with_transform(name, &[], move |dest, meta, _src, _kind| match CustomMeta::add(dest, name) {
        Ok(mut copy) => {
            copy_structure(meta.structure(), copy.mut_structure());
            true
        }
        Err(_) => false,
    });
}

fn copy_structure(from: &gst::StructureRef, to: &mut gst::StructureRef) {
    to.set_name(from.name());
    for (field, value) in from.iter() {
        to.set_value(field, value.clone());
    }
}

fn register_all() {
    static REGISTER: std::sync::Once = std::sync::Once::new();
    REGISTER.call_once(|| {
        register(FRAME_META);
        register(COUNTS_META);
    });
}

/// The custom meta `name` of the buffer, added if missing (one of each kind per buffer; the
/// caller overwrites its fields).
fn meta_structure<'a>(
    buffer: &'a mut gst::BufferRef,
    name: &'static str,
    structure: &str,
) -> Option<gst::MetaRefMut<'a, CustomMeta, gst::meta::Standalone>> {
    register_all();
    let mut meta = if CustomMeta::from_buffer(buffer, name).is_ok() {
        CustomMeta::from_mut_buffer(buffer, name).ok()?
    } else {
        CustomMeta::add(buffer, name).ok()?
    };
    meta.mut_structure().set_name(structure);
    Some(meta)
}

fn structure_of<'a>(buffer: &'a gst::BufferRef, name: &str) -> Option<gst::MetaRef<'a, CustomMeta>> {
    if !CustomMeta::is_registered(name) {
        return None;
    }
    CustomMeta::from_buffer(buffer, name).ok()
}

/// Marks the buffer as one a detector ran on (whether or not it found anything).
pub fn set_detected(buffer: &mut gst::BufferRef) {
    if !detected(buffer) {
        if let Some(mut meta) = meta_structure(buffer, FRAME_META, FRAME_STRUCTURE) {
            meta.mut_structure().set("detected", true);
        }
    }
}

/// Whether a detector ran on this buffer.
pub fn detected(buffer: &gst::BufferRef) -> bool {
    structure_of(buffer, FRAME_META).is_some_and(|m| m.structure().get::<bool>("detected").unwrap_or(false))
}

/// Marks the buffer as one `model` (any name that tells models apart, such as its path)
/// detected on.
pub fn set_detected_by(buffer: &mut gst::BufferRef, model: &str) {
    set_detected(buffer);
    if detected_by(buffer, model) {
        return;
    }
    if let Some(mut meta) = meta_structure(buffer, FRAME_META, FRAME_STRUCTURE) {
        let s = meta.mut_structure();
        let mut models: Vec<gst::glib::SendValue> =
            s.get::<gst::Array>("models").map(|a| a.to_vec()).unwrap_or_default();
        models.push(model.to_send_value());
        s.set("models", gst::Array::from_values(models));
    }
}

/// Whether `model` detected on this buffer already.
pub fn detected_by(buffer: &gst::BufferRef, model: &str) -> bool {
    structure_of(buffer, FRAME_META).is_some_and(|m| {
        m.structure()
            .get::<gst::Array>("models")
            .is_ok_and(|a| a.iter().any(|v| v.get::<&str>().is_ok_and(|name| name == model)))
    })
}

/// Running total of one class in one direction over one line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClassTotal {
    pub class: String,
    pub direction: String,
    pub count: u64,
}

/// One counting line: where it is and what crossed it so far.
#[derive(Clone, Debug, PartialEq)]
pub struct LineTotals {
    pub name: String,
    /// End points in frame pixels.
    pub start: (f64, f64),
    pub end: (f64, f64),
    /// Names of the two directions.
    pub in_name: String,
    pub out_name: String,
    pub totals: Vec<ClassTotal>,
}

/// A track crossing a line on this frame.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Crossing {
    pub line: String,
    pub direction: String,
    pub track_id: u64,
    pub class: String,
    pub plate: Option<String>,
    /// The track's speed when it crossed (a calibrated view and a long enough track).
    pub speed_kmh: Option<f64>,
    /// Seconds since the previous crossing of this line in this direction.
    pub headway_s: Option<f64>,
    /// Against the only direction a one-way line allows.
    pub wrong_way: bool,
}

impl Crossing {
    /// The crossing's structure (named `name`); the optional measures are left out when unknown.
    fn structure(&self, name: &str, field: impl Fn(&str) -> String) -> gst::Structure {
        let mut s = gst::Structure::builder(name)
            .field("line", self.line.as_str())
            .field("direction", self.direction.as_str())
            .field(field("track_id").as_str(), self.track_id)
            .field("class", self.class.as_str())
            .field("plate", self.plate.as_deref().unwrap_or(""))
            .field(field("wrong_way").as_str(), self.wrong_way)
            .build();
        if let Some(v) = self.speed_kmh {
            s.set(field("speed_kmh").as_str(), v);
        }
        if let Some(v) = self.headway_s {
            s.set(field("headway_s").as_str(), v);
        }
        s
    }

    fn read(s: &gst::StructureRef, field: impl Fn(&str) -> String) -> Crossing {
        let text = |f: &str| s.get::<String>(f).unwrap_or_default();
        Crossing {
            line: text("line"),
            direction: text("direction"),
            track_id: s.get::<u64>(field("track_id").as_str()).unwrap_or(0),
            class: text("class"),
            plate: Some(text("plate")).filter(|p| !p.is_empty()),
            speed_kmh: s.get::<f64>(field("speed_kmh").as_str()).ok(),
            headway_s: s.get::<f64>(field("headway_s").as_str()).ok(),
            wrong_way: s.get::<bool>(field("wrong_way").as_str()).unwrap_or(false),
        }
    }

    /// As a `crossing` structure of the counts meta (snake_case fields).
    pub(crate) fn meta_structure(&self) -> gst::Structure {
        self.structure("crossing", str::to_string)
    }

    pub(crate) fn read_meta(s: &gst::StructureRef) -> Crossing {
        Crossing::read(s, str::to_string)
    }

    /// As a bus message body named `name` (kebab-case fields, as the messages spell them).
    pub(crate) fn message_structure(&self, name: &str) -> gst::Structure {
        self.structure(name, |f| f.replace('_', "-"))
    }

    pub(crate) fn read_message(s: &gst::StructureRef) -> Crossing {
        Crossing::read(s, |f| f.replace('_', "-"))
    }
}

/// The crossings of one line, class and direction in one bin.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct BinCount {
    pub line: String,
    pub class: String,
    pub direction: String,
    pub count: u64,
    /// Over the crossings with a speed.
    pub mean_speed_kmh: Option<f64>,
    /// Over the crossings with a previous one on their line and direction.
    pub mean_headway_s: Option<f64>,
}

/// A closed bin: stream seconds `start..end` and a count per line, class and direction seen so
/// far in the stream (0 where nothing crossed in it).
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Bin {
    pub start: f64,
    pub end: f64,
    pub counts: Vec<BinCount>,
}

impl Bin {
    /// As a structure named `name`, the optional means left out when unknown.
    pub(crate) fn structure(&self, name: &str) -> gst::Structure {
        let counts = array(self.counts.iter().map(|c| {
            let mut s = gst::Structure::builder("count")
                .field("line", c.line.as_str())
                .field("class", c.class.as_str())
                .field("direction", c.direction.as_str())
                .field("count", c.count)
                .build();
            if let Some(v) = c.mean_speed_kmh {
                s.set("mean_speed_kmh", v);
            }
            if let Some(v) = c.mean_headway_s {
                s.set("mean_headway_s", v);
            }
            s
        }));
        gst::Structure::builder(name).field("start", self.start).field("end", self.end).field("counts", counts).build()
    }

    pub(crate) fn read(s: &gst::StructureRef) -> Bin {
        let text = |s: &gst::StructureRef, f: &str| s.get::<String>(f).unwrap_or_default();
        Bin {
            start: s.get::<f64>("start").unwrap_or(0.0),
            end: s.get::<f64>("end").unwrap_or(0.0),
            counts: structures(s, "counts")
                .into_iter()
                .map(|c| BinCount {
                    line: text(&c, "line"),
                    class: text(&c, "class"),
                    direction: text(&c, "direction"),
                    count: c.get::<u64>("count").unwrap_or(0),
                    mean_speed_kmh: c.get::<f64>("mean_speed_kmh").ok(),
                    mean_headway_s: c.get::<f64>("mean_headway_s").ok(),
                })
                .collect(),
        }
    }
}

/// An object inside a zone now.
#[derive(Clone, Debug, PartialEq)]
pub struct ZoneOccupant {
    pub track_id: u64,
    pub class: String,
    /// Seconds since it entered.
    pub dwell: f64,
}

/// A zone on this frame: its polygon, who is inside, and the entries so far per class.
#[derive(Clone, Debug, PartialEq)]
pub struct ZoneState {
    pub name: String,
    /// Corners in frame pixels.
    pub points: Vec<(f64, f64)>,
    pub occupants: Vec<ZoneOccupant>,
    /// (class, entries), sorted by class.
    pub entries: Vec<(String, u64)>,
}

/// Whether a track came into a zone or left it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ZoneEventKind {
    Enter,
    Exit,
}

impl ZoneEventKind {
    /// `enter` or `exit`, as the metadata and the messages spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            ZoneEventKind::Enter => "enter",
            ZoneEventKind::Exit => "exit",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "enter" => Some(ZoneEventKind::Enter),
            "exit" => Some(ZoneEventKind::Exit),
            _ => None,
        }
    }
}

/// A track entering or leaving a zone on this frame.
#[derive(Clone, Debug, PartialEq)]
pub struct ZoneEvent {
    pub zone: String,
    pub kind: ZoneEventKind,
    pub track_id: u64,
    pub class: String,
    /// Seconds inside: 0 on entering, the whole visit on leaving.
    pub dwell: f64,
    pub plate: Option<String>,
    /// On leaving, with a calibration: the mean of the track's speeds while it was inside.
    pub mean_speed_kmh: Option<f64>,
}

/// Everything a counter knows on one frame.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Counts {
    pub lines: Vec<LineTotals>,
    pub crossings: Vec<Crossing>,
    pub zones: Vec<ZoneState>,
    pub zone_events: Vec<ZoneEvent>,
}

fn array(items: impl Iterator<Item = gst::Structure>) -> gst::Array {
    gst::Array::new(items.map(|s| s.to_send_value()))
}

/// The counts as a `traffic-counts` structure (as in the meta; also the body of the
/// `traffic-summary` message).
pub fn counts_structure(counts: &Counts) -> gst::Structure {
    let lines = array(counts.lines.iter().map(|l| {
        gst::Structure::builder("line")
            .field("name", l.name.as_str())
            .field("x1", l.start.0)
            .field("y1", l.start.1)
            .field("x2", l.end.0)
            .field("y2", l.end.1)
            .field("in", l.in_name.as_str())
            .field("out", l.out_name.as_str())
            .field(
                "totals",
                array(l.totals.iter().map(|t| {
                    gst::Structure::builder("total")
                        .field("class", t.class.as_str())
                        .field("direction", t.direction.as_str())
                        .field("count", t.count)
                        .build()
                })),
            )
            .build()
    }));
    let crossings = array(counts.crossings.iter().map(Crossing::meta_structure));
    let zones = array(counts.zones.iter().map(|z| {
        let points = gst::Array::new(z.points.iter().flat_map(|&(x, y)| [x.to_send_value(), y.to_send_value()]));
        gst::Structure::builder("zone")
            .field("name", z.name.as_str())
            .field("points", points)
            .field(
                "occupants",
                array(z.occupants.iter().map(|o| {
                    gst::Structure::builder("occupant")
                        .field("track_id", o.track_id)
                        .field("class", o.class.as_str())
                        .field("dwell", o.dwell)
                        .build()
                })),
            )
            .field(
                "entries",
                array(z.entries.iter().map(|(class, count)| {
                    gst::Structure::builder("entry").field("class", class.as_str()).field("count", *count).build()
                })),
            )
            .build()
    }));
    let zone_events = array(counts.zone_events.iter().map(|e| {
        gst::Structure::builder("zone_event")
            .field("zone", e.zone.as_str())
            .field("event", e.kind.as_str())
            .field("track_id", e.track_id)
            .field("class", e.class.as_str())
            .field("dwell", e.dwell)
            .field("plate", e.plate.as_deref().unwrap_or(""))
            .field_if_some("mean_speed_kmh", e.mean_speed_kmh)
            .build()
    }));
    gst::Structure::builder(COUNTS_STRUCTURE)
        .field("lines", lines)
        .field("crossings", crossings)
        .field("zones", zones)
        .field("zone_events", zone_events)
        .build()
}

/// Attaches (or replaces) the counts of this frame.
pub fn set_counts(buffer: &mut gst::BufferRef, counts: &Counts) {
    let body = counts_structure(counts);
    if let Some(mut meta) = meta_structure(buffer, COUNTS_META, COUNTS_STRUCTURE) {
        copy_structure(&body, meta.mut_structure());
    }
}

fn structures(s: &gst::StructureRef, field: &str) -> Vec<gst::Structure> {
    s.get::<gst::Array>(field)
        .map(|a| a.iter().filter_map(|v| v.get::<gst::Structure>().ok()).collect())
        .unwrap_or_default()
}

/// Adds the bins this frame closed to its counts meta (after [`set_counts`]).
pub fn set_bins(buffer: &mut gst::BufferRef, bins: &[Bin]) {
    if let Some(mut meta) = meta_structure(buffer, COUNTS_META, COUNTS_STRUCTURE) {
        meta.mut_structure().set("bins", array(bins.iter().map(|b| b.structure("bin"))));
    }
}

/// The bins this frame closed, if a counter with bins attached them.
pub fn bins(buffer: &gst::BufferRef) -> Vec<Bin> {
    structure_of(buffer, COUNTS_META)
        .map(|meta| structures(meta.structure(), "bins").iter().map(|b| Bin::read(b)).collect())
        .unwrap_or_default()
}

/// The counts on this frame, if a counter attached them.
pub fn counts(buffer: &gst::BufferRef) -> Option<Counts> {
    structure_of(buffer, COUNTS_META).map(|meta| read_counts(meta.structure()))
}

/// Reads a `traffic-counts` structure (the meta's, or a `traffic-summary` message's).
pub fn read_counts(s: &gst::StructureRef) -> Counts {
    let text = |s: &gst::StructureRef, f: &str| s.get::<String>(f).unwrap_or_default();
    let num = |s: &gst::StructureRef, f: &str| s.get::<f64>(f).unwrap_or(0.0);
    let lines = structures(s, "lines")
        .into_iter()
        .map(|l| LineTotals {
            name: text(&l, "name"),
            start: (num(&l, "x1"), num(&l, "y1")),
            end: (num(&l, "x2"), num(&l, "y2")),
            in_name: text(&l, "in"),
            out_name: text(&l, "out"),
            totals: structures(&l, "totals")
                .into_iter()
                .map(|t| ClassTotal {
                    class: text(&t, "class"),
                    direction: text(&t, "direction"),
                    count: t.get::<u64>("count").unwrap_or(0),
                })
                .collect(),
        })
        .collect();
    let crossings = structures(s, "crossings").iter().map(|c| Crossing::read_meta(c)).collect();
    let zones = structures(s, "zones")
        .into_iter()
        .map(|z| {
            let coords: Vec<f64> = z
                .get::<gst::Array>("points")
                .map(|a| a.iter().filter_map(|v| v.get::<f64>().ok()).collect())
                .unwrap_or_default();
            ZoneState {
                name: text(&z, "name"),
                points: coords.chunks_exact(2).map(|p| (p[0], p[1])).collect(),
                occupants: structures(&z, "occupants")
                    .into_iter()
                    .map(|o| ZoneOccupant {
                        track_id: o.get::<u64>("track_id").unwrap_or(0),
                        class: text(&o, "class"),
                        dwell: num(&o, "dwell"),
                    })
                    .collect(),
                entries: structures(&z, "entries")
                    .into_iter()
                    .map(|e| (text(&e, "class"), e.get::<u64>("count").unwrap_or(0)))
                    .collect(),
            }
        })
        .collect();
    let zone_events = structures(s, "zone_events")
        .into_iter()
        .filter_map(|e| {
            Some(ZoneEvent {
                zone: text(&e, "zone"),
                kind: ZoneEventKind::from_name(&text(&e, "event"))?,
                track_id: e.get::<u64>("track_id").unwrap_or(0),
                class: text(&e, "class"),
                dwell: num(&e, "dwell"),
                plate: Some(text(&e, "plate")).filter(|p| !p.is_empty()),
                mean_speed_kmh: e.get::<f64>("mean_speed_kmh").ok(),
            })
        })
        .collect();
    Counts { lines, crossings, zones, zone_events }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detected_flag_survives_a_buffer_copy() {
        gst::init().unwrap();
        let mut buffer = gst::Buffer::new();
        assert!(!detected(&buffer));
        set_detected(buffer.get_mut().unwrap());
        set_detected(buffer.get_mut().unwrap());
        assert!(detected(&buffer));
        assert!(detected(&buffer.copy()));
        assert!(!detected_by(&buffer, "a.onnx"));
        set_detected_by(buffer.get_mut().unwrap(), "a.onnx");
        set_detected_by(buffer.get_mut().unwrap(), "b.onnx");
        set_detected_by(buffer.get_mut().unwrap(), "a.onnx");
        let copy = buffer.copy();
        assert!(detected_by(&copy, "a.onnx") && detected_by(&copy, "b.onnx") && !detected_by(&copy, "c.onnx"));
        assert_eq!(buffer.iter_meta::<gst::Meta>().count(), 1, "set twice, attached once");
    }

    #[test]
    fn counts_round_trip_and_replace() {
        gst::init().unwrap();
        let counts = Counts {
            lines: vec![LineTotals {
                name: "north".into(),
                start: (10.0, 200.5),
                end: (630.0, 200.5),
                in_name: "in".into(),
                out_name: "out".into(),
                totals: vec![
                    ClassTotal { class: "car".into(), direction: "in".into(), count: 3 },
                    ClassTotal { class: "truck".into(), direction: "out".into(), count: 1 },
                ],
            }],
            crossings: vec![
                Crossing {
                    line: "north".into(),
                    direction: "in".into(),
                    track_id: 42,
                    class: "car".into(),
                    plate: Some("AB123".into()),
                    speed_kmh: Some(31.5),
                    headway_s: Some(4.25),
                    wrong_way: true,
                },
                Crossing { line: "north".into(), direction: "out".into(), track_id: 43, ..Crossing::default() },
            ],
            zones: vec![ZoneState {
                name: "lot".into(),
                points: vec![(10.0, 10.0), (200.0, 10.0), (200.0, 150.5)],
                occupants: vec![ZoneOccupant { track_id: 7, class: "car".into(), dwell: 12.5 }],
                entries: vec![("car".into(), 3), ("truck".into(), 1)],
            }],
            zone_events: vec![
                ZoneEvent {
                    zone: "lot".into(),
                    kind: ZoneEventKind::Enter,
                    track_id: 7,
                    class: "car".into(),
                    dwell: 0.0,
                    plate: None,
                    mean_speed_kmh: None,
                },
                ZoneEvent {
                    zone: "lot".into(),
                    kind: ZoneEventKind::Exit,
                    track_id: 8,
                    class: "bus".into(),
                    dwell: 31.25,
                    plate: Some("AB123".into()),
                    mean_speed_kmh: Some(12.5),
                },
            ],
        };
        let mut buffer = gst::Buffer::new();
        assert_eq!(super::counts(&buffer), None);
        set_counts(buffer.get_mut().unwrap(), &Counts::default());
        set_counts(buffer.get_mut().unwrap(), &counts);
        assert_eq!(super::counts(&buffer), Some(counts.clone()));
        assert_eq!(super::counts(&buffer.copy()), Some(counts));
        assert_eq!(buffer.iter_meta::<gst::Meta>().count(), 1, "replaced, not stacked");
    }

    #[test]
    fn bins_ride_on_the_counts_meta() {
        gst::init().unwrap();
        let bin = Bin {
            start: 10.0,
            end: 20.0,
            counts: vec![
                BinCount {
                    line: "street".into(),
                    class: "car".into(),
                    direction: "down".into(),
                    count: 3,
                    mean_speed_kmh: Some(27.5),
                    mean_headway_s: Some(3.0),
                },
                BinCount {
                    line: "street".into(),
                    class: "bus".into(),
                    direction: "down".into(),
                    ..BinCount::default()
                },
            ],
        };
        let mut buffer = gst::Buffer::new();
        assert!(bins(&buffer).is_empty());
        set_counts(buffer.get_mut().unwrap(), &Counts::default());
        set_bins(buffer.get_mut().unwrap(), std::slice::from_ref(&bin));
        assert_eq!(bins(&buffer.copy()), [bin]);
        assert_eq!(super::counts(&buffer), Some(Counts::default()));
    }
}
