use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::sync::{LazyLock, Mutex};

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::subclass::prelude::*;
use serde_json::{json, Map, Value};
use traffic_meta::{Counts, Object, PixelBox};

use crate::lock;
use crate::video;

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new("trafficpublish", gst::DebugColorFlags::empty(), Some("Traffic metadata as JSON lines"))
});

const STDOUT: &str = "-";

#[derive(Clone, Debug)]
struct Settings {
    location: String,
}

impl Default for Settings {
    fn default() -> Self {
        Settings { location: STDOUT.into() }
    }
}

struct State {
    out: BufWriter<Box<dyn Write + Send>>,
    info: Option<gst_video::VideoInfo>,
    frame_index: u64,
}

#[derive(Default)]
pub struct TrafficPublish {
    settings: Mutex<Settings>,
    state: Mutex<Option<State>>,
}

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

fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

/// Crossings of this frame, and the running totals after them: `{line: {class: {direction: n}}}`.
fn counts_json(counts: &Counts, m: &mut Map<String, Value>) {
    if counts.crossings.is_empty() {
        return;
    }
    let crossings: Vec<Value> = counts
        .crossings
        .iter()
        .map(|c| json!({"line": c.line, "direction": c.direction, "track_id": c.track_id, "class": c.class, "plate": c.plate}))
        .collect();
    let mut totals = Map::new();
    for line in &counts.lines {
        let mut per_class: Map<String, Value> = Map::new();
        for t in &line.totals {
            let entry = per_class.entry(t.class.clone()).or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(dirs) = entry {
                dirs.insert(t.direction.clone(), t.count.into());
            }
        }
        totals.insert(line.name.clone(), Value::Object(per_class));
    }
    m.insert("crossings".into(), Value::Array(crossings));
    m.insert("totals".into(), Value::Object(totals));
}

/// One JSON line for a frame: its place in the stream and every object on it. Plates are
/// nested in their vehicle; a plate without a vehicle on this frame is listed on its own.
/// Frames with line crossings also carry them and the totals.
fn frame_json(
    frame: u64,
    pts: Option<gst::ClockTime>,
    size: traffic_meta::FrameSize,
    objects: &[Object],
    counts: Option<&Counts>,
) -> Value {
    let plates: Vec<&Object> = objects.iter().filter(|o| o.is_plate()).collect();
    let ids: Vec<i32> = objects.iter().map(|o| o.roi_id).collect();
    let mut list: Vec<Value> = objects.iter().filter(|o| !o.is_plate()).map(|o| object_json(o, &plates)).collect();
    list.extend(plates.iter().filter(|p| !ids.contains(&p.parent_id)).map(|p| object_json(p, &[])));
    let mut m = Map::new();
    m.insert("frame".into(), frame.into());
    m.insert("pts".into(), pts.map(|t| t.nseconds()).into());
    m.insert("width".into(), size.width.into());
    m.insert("height".into(), size.height.into());
    m.insert("objects".into(), Value::Array(list));
    if let Some(c) = counts {
        counts_json(c, &mut m);
    }
    Value::Object(m)
}

#[glib::object_subclass]
impl ObjectSubclass for TrafficPublish {
    const NAME: &'static str = "GstTrafficPublish";
    type Type = super::TrafficPublish;
    type ParentType = gst_base::BaseTransform;
}

impl ObjectImpl for TrafficPublish {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            vec![glib::ParamSpecString::builder("location")
                .nick("Location")
                .blurb("File to write the JSON lines to ('-': standard output); one line per frame: frame, pts (ns), width, height, objects (class, class_id, confidence, box [x1,y1,x2,y2] in pixels, track_id/age/predicted/track_class and plate when present), and crossings and totals on frames where a track crossed a counting line")
                .default_value(Some(STDOUT))
                .mutable_ready()
                .build()]
        });
        PROPERTIES.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        if pspec.name() == "location" {
            lock(&self.settings).location =
                value.get::<Option<String>>().ok().flatten().unwrap_or_else(|| STDOUT.into());
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        match pspec.name() {
            "location" => lock(&self.settings).location.to_value(),
            _ => glib::Value::from_type(pspec.value_type()),
        }
    }
}

impl GstObjectImpl for TrafficPublish {}

impl ElementImpl for TrafficPublish {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static META: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "Traffic metadata publisher",
                "Filter/Analyzer/Video",
                "Writes every frame's detections, tracks, plates and counts as one JSON line; passes the video through",
                "traffic-vision developers",
            )
        });
        Some(&*META)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static TEMPLATES: LazyLock<Vec<gst::PadTemplate>> =
            LazyLock::new(|| video::pad_templates(&video::any_caps()));
        TEMPLATES.as_ref()
    }
}

impl BaseTransformImpl for TrafficPublish {
    const MODE: gst_base::subclass::BaseTransformMode = gst_base::subclass::BaseTransformMode::AlwaysInPlace;
    const PASSTHROUGH_ON_SAME_CAPS: bool = true;
    const TRANSFORM_IP_ON_PASSTHROUGH: bool = true;

    fn start(&self) -> Result<(), gst::ErrorMessage> {
        let location = lock(&self.settings).location.clone();
        let sink: Box<dyn Write + Send> = if location == STDOUT {
            Box::new(io::stdout())
        } else {
            let file = File::create(&location).map_err(|e| {
                gst::error_msg!(gst::ResourceError::OpenWrite, ["cannot write {}: {}", location, e])
            })?;
            Box::new(file)
        };
        *lock(&self.state) = Some(State { out: BufWriter::new(sink), info: None, frame_index: 0 });
        Ok(())
    }

    fn stop(&self) -> Result<(), gst::ErrorMessage> {
        if let Some(mut state) = lock(&self.state).take() {
            state
                .out
                .flush()
                .map_err(|e| gst::error_msg!(gst::ResourceError::Write, ["cannot flush the JSON lines: {}", e]))?;
        }
        Ok(())
    }

    fn set_caps(&self, incaps: &gst::Caps, _outcaps: &gst::Caps) -> Result<(), gst::LoggableError> {
        let info = gst_video::VideoInfo::from_caps(incaps)
            .map_err(|_| gst::loggable_error!(CAT, "cannot parse caps {incaps}"))?;
        if let Some(state) = lock(&self.state).as_mut() {
            state.info = Some(info);
        }
        Ok(())
    }

    fn sink_event(&self, event: gst::Event) -> bool {
        // Lines must be on disk when the pipeline reports EOS, not only at stop.
        if let gst::EventView::Eos(_) = event.view() {
            if let Some(state) = lock(&self.state).as_mut() {
                if let Err(e) = state.out.flush() {
                    gst::element_imp_error!(self, gst::ResourceError::Write, ["cannot flush the JSON lines: {}", e]);
                }
            }
        }
        self.parent_sink_event(event)
    }

    fn transform_ip_passthrough(&self, buf: &gst::Buffer) -> Result<gst::FlowSuccess, gst::FlowError> {
        let mut guard = lock(&self.state);
        let state = guard.as_mut().ok_or(gst::FlowError::Flushing)?;
        let size = video::frame_size(state.info.as_ref().ok_or(gst::FlowError::NotNegotiated)?);
        let objects = traffic_meta::objects(buf, size);
        let counts = traffic_meta::counts(buf);
        let line = frame_json(state.frame_index, buf.pts(), size, &objects, counts.as_ref());
        state.frame_index += 1;
        serde_json::to_writer(&mut state.out, &line)
            .map_err(io::Error::from)
            .and_then(|_| state.out.write_all(b"\n"))
            .map_err(|e| {
                gst::element_imp_error!(self, gst::ResourceError::Write, ["cannot write a JSON line: {}", e]);
                gst::FlowError::Error
            })?;
        Ok(gst::FlowSuccess::Ok)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use traffic_meta::{Detection, FrameSize, Plate, Track};

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
            track: Some(Track { id: 4, age: 9, predicted: false, label: "car".into(), label_id: 2 }),
            plate: None,
        };
        let plate = Object {
            roi_id: 2,
            parent_id: 1,
            roi_type: traffic_meta::PLATE_ROI_TYPE.into(),
            plate: Some(Plate { text: "AB1".into(), confidence: 0.9, track_text: "AB12".into(), track_confidence: 0.8 }),
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
                plate: None,
            }],
        };
        let v = frame_json(3, Some(gst::ClockTime::from_mseconds(40)), size, &[car, plate], Some(&counts));
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
        assert_eq!(objs[0]["plate"]["track_text"], "AB12");
    }
}
