use std::collections::VecDeque;
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant};

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::prelude::*;
use gst_base::subclass::prelude::*;
use gst_video::prelude::*;
use traffic_meta::{Counts, Object};
use traffic_vision::draw::{
    self, BoxLabel, Canvas, CountLine, ObjectBox, PanelRow, PlateLabel, Scene, Style, Trail, Trails,
};

use crate::lock;
use crate::video;

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new("overlay", gst::DebugColorFlags::empty(), Some("Traffic metadata overlay"))
});

#[derive(Clone, Debug)]
struct Settings {
    show_boxes: bool,
    show_labels: bool,
    show_tracks: bool,
    trail_length: u32,
    show_plates: bool,
    show_lines: bool,
    show_counts: bool,
    show_fps: bool,
    show_speed: bool,
    font_scale: f64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            show_boxes: true,
            show_labels: true,
            show_tracks: true,
            trail_length: 30,
            show_plates: true,
            show_lines: true,
            show_counts: true,
            show_fps: true,
            show_speed: true,
            font_scale: 1.0,
        }
    }
}

/// Frame times over the last second: frames per second from the first to the last of them.
struct Rate<T> {
    times: VecDeque<T>,
}

impl<T: Copy + PartialOrd> Rate<T> {
    fn new() -> Self {
        Rate { times: VecDeque::new() }
    }

    /// Adds a time; `age(newest, t)` is how long before `newest` the time `t` was.
    fn push(&mut self, t: T, age: impl Fn(T, T) -> Duration) {
        // A time going backwards (a seek, a new segment) starts over.
        if self.times.back().is_some_and(|&last| t < last) {
            self.times.clear();
        }
        self.times.push_back(t);
        while self.times.front().is_some_and(|&f| age(t, f) > Duration::from_secs(1)) {
            self.times.pop_front();
        }
    }

    fn fps(&self, age: impl Fn(T, T) -> Duration) -> Option<f64> {
        let (first, last) = (*self.times.front()?, *self.times.back()?);
        let span = age(last, first).as_secs_f64();
        (self.times.len() >= 2 && span > 0.0).then(|| (self.times.len() - 1) as f64 / span)
    }

    fn clear(&mut self) {
        self.times.clear();
    }
}

fn wall_age(newest: Instant, t: Instant) -> Duration {
    newest.saturating_duration_since(t)
}

fn stream_age(newest: gst::ClockTime, t: gst::ClockTime) -> Duration {
    Duration::from_nanos(newest.nseconds().saturating_sub(t.nseconds()))
}

struct State {
    info: Option<gst_video::VideoInfo>,
    overlay: draw::Painter,
    trails: Trails,
    wall: Rate<Instant>,
    stream: Rate<gst::ClockTime>,
}

#[derive(Default)]
pub struct Overlay {
    settings: Mutex<Settings>,
    state: Mutex<Option<State>>,
}

#[glib::object_subclass]
impl ObjectSubclass for Overlay {
    const NAME: &'static str = "GstTrafficOverlay";
    type Type = super::Overlay;
    type ParentType = gst_base::BaseTransform;
}

impl ObjectImpl for Overlay {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            let d = Settings::default();
            let switch = |name: &str, nick: &str, blurb: &str, default: bool| {
                glib::ParamSpecBoolean::builder(name)
                    .nick(nick)
                    .blurb(blurb)
                    .default_value(default)
                    .mutable_playing()
                    .build()
            };
            vec![
                switch("show-boxes", "Show boxes", "Outline each object in its class colour (dashed: a box the tracker predicted on a frame without a detection)", d.show_boxes),
                switch("show-labels", "Show labels", "Label each box with its class, track ID when tracked, and confidence: \"car #12 0.87\"", d.show_labels),
                switch("show-tracks", "Show tracks", "Draw each track's trail: its last trail-length bottom-centre positions", d.show_tracks),
                glib::ParamSpecUInt::builder("trail-length")
                    .nick("Trail length")
                    .blurb("Positions (frames) in a track's trail")
                    .minimum(2)
                    .maximum(1000)
                    .default_value(d.trail_length)
                    .mutable_playing()
                    .build(),
                switch("show-plates", "Show plates", "Write each vehicle's plate text (the track's voted text when known, else this frame's read) under its box, and outline the plate", d.show_plates),
                switch("show-lines", "Show lines", "Draw the counting lines with their names and per-direction totals, and the zones with their occupancy", d.show_lines),
                switch("show-counts", "Show counts", "Panel in the top-left corner: per line, per class, the totals in each direction", d.show_counts),
                switch("show-fps", "Show FPS", "Top-right corner: frames per second through this element by the wall clock, and by the stream's running time, over the last second", d.show_fps),
                switch("show-speed", "Show speed", "The track's speed in its label ('car #12 0.87 37 km/h'), where linecounter has a calibration and the track is long enough to have one", d.show_speed),
                glib::ParamSpecDouble::builder("font-scale")
                    .nick("Font scale")
                    .blurb("Multiplies the text size, which follows the frame: about 2.4 % of its short side (26 px at 1080p), 12 px at least")
                    .minimum(0.1)
                    .maximum(10.0)
                    .default_value(d.font_scale)
                    .mutable_playing()
                    .build(),
            ]
        });
        PROPERTIES.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        let mut s = lock(&self.settings);
        match pspec.name() {
            "show-boxes" => s.show_boxes = value.get().unwrap_or(s.show_boxes),
            "show-labels" => s.show_labels = value.get().unwrap_or(s.show_labels),
            "show-tracks" => s.show_tracks = value.get().unwrap_or(s.show_tracks),
            "trail-length" => s.trail_length = value.get().unwrap_or(s.trail_length),
            "show-plates" => s.show_plates = value.get().unwrap_or(s.show_plates),
            "show-lines" => s.show_lines = value.get().unwrap_or(s.show_lines),
            "show-counts" => s.show_counts = value.get().unwrap_or(s.show_counts),
            "show-fps" => s.show_fps = value.get().unwrap_or(s.show_fps),
            "show-speed" => s.show_speed = value.get().unwrap_or(s.show_speed),
            "font-scale" => s.font_scale = value.get().unwrap_or(s.font_scale),
            name => gst::warning!(CAT, imp = self, "unknown property {name}"),
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        let s = lock(&self.settings);
        match pspec.name() {
            "show-boxes" => s.show_boxes.to_value(),
            "show-labels" => s.show_labels.to_value(),
            "show-tracks" => s.show_tracks.to_value(),
            "trail-length" => s.trail_length.to_value(),
            "show-plates" => s.show_plates.to_value(),
            "show-lines" => s.show_lines.to_value(),
            "show-counts" => s.show_counts.to_value(),
            "show-fps" => s.show_fps.to_value(),
            "show-speed" => s.show_speed.to_value(),
            "font-scale" => s.font_scale.to_value(),
            _ => glib::Value::from_type(pspec.value_type()),
        }
    }
}

impl GstObjectImpl for Overlay {}

impl ElementImpl for Overlay {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static META: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "Traffic overlay",
                "Filter/Effect/Video",
                "Draws the traffic metadata on the frames in place: boxes coloured per class with class, track ID and confidence, track trails, plate text, counting lines with their totals, a counts panel and FPS",
                "traffic-vision developers",
            )
        });
        Some(&*META)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static TEMPLATES: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| video::pad_templates(&video::caps()));
        TEMPLATES.as_ref()
    }
}

impl BaseTransformImpl for Overlay {
    const MODE: gst_base::subclass::BaseTransformMode = gst_base::subclass::BaseTransformMode::AlwaysInPlace;
    const PASSTHROUGH_ON_SAME_CAPS: bool = false;
    const TRANSFORM_IP_ON_PASSTHROUGH: bool = false;

    fn start(&self) -> Result<(), gst::ErrorMessage> {
        let overlay = draw::Painter::new()
            .map_err(|e| gst::error_msg!(gst::LibraryError::Init, ["cannot load the embedded font: {}", e]))?;
        *lock(&self.state) =
            Some(State { info: None, overlay, trails: Trails::new(), wall: Rate::new(), stream: Rate::new() });
        Ok(())
    }

    fn stop(&self) -> Result<(), gst::ErrorMessage> {
        *lock(&self.state) = None;
        Ok(())
    }

    fn set_caps(&self, incaps: &gst::Caps, _outcaps: &gst::Caps) -> Result<(), gst::LoggableError> {
        let info = video::info_from_caps(&CAT, incaps)?;
        if let Some(state) = lock(&self.state).as_mut() {
            let resized =
                state.info.as_ref().is_some_and(|old| (old.width(), old.height()) != (info.width(), info.height()));
            if resized {
                // Trail points are pixels of the old size.
                state.trails.clear();
            }
            state.info = Some(info);
        }
        Ok(())
    }

    fn sink_event(&self, event: gst::Event) -> bool {
        if let gst::EventView::FlushStop(_) = event.view() {
            if let Some(state) = lock(&self.state).as_mut() {
                state.trails.clear();
                state.wall.clear();
                state.stream.clear();
            }
        }
        self.parent_sink_event(event)
    }

    fn transform_ip(&self, buf: &mut gst::BufferRef) -> Result<gst::FlowSuccess, gst::FlowError> {
        let settings = lock(&self.settings).clone();
        let running_time = buf.pts().and_then(|pts| {
            let segment = self.obj().segment();
            segment.downcast_ref::<gst::ClockTime>().and_then(|s| s.to_running_time(pts))
        });
        let mut guard = lock(&self.state);
        let state = guard.as_mut().ok_or(gst::FlowError::Flushing)?;
        let info = state.info.clone().ok_or(gst::FlowError::NotNegotiated)?;

        state.wall.push(Instant::now(), wall_age);
        if let Some(rt) = running_time {
            state.stream.push(rt, stream_age);
        }

        let wants_objects = settings.show_boxes || settings.show_labels || settings.show_tracks || settings.show_plates;
        let objects = if wants_objects { traffic_meta::objects(buf, video::frame_size(&info)) } else { Vec::new() };
        let counts = if settings.show_lines || settings.show_counts { traffic_meta::counts(buf) } else { None };
        if settings.show_tracks {
            // A step longer than the box is an ID switch or a jump, not motion.
            let anchors: Vec<(u64, (f32, f32), f32)> = objects
                .iter()
                .filter(|o| !o.is_plate())
                .filter_map(|o| o.track.as_ref().map(|t| (t.id, anchor(o), o.bbox.width().max(o.bbox.height()) as f32)))
                .collect();
            state.trails.update(&anchors, settings.trail_length as usize);
        }
        let fps = settings.show_fps.then(|| fps_text(state.wall.fps(wall_age), state.stream.fps(stream_age)));
        let scene = scene(&settings, &objects, counts.as_ref(), &state.trails, fps);
        if scene.is_empty() {
            return Ok(gst::FlowSuccess::Ok);
        }

        let mut vframe = gst_video::VideoFrameRef::from_buffer_ref_writable(buf, &info).map_err(|_| {
            gst::element_imp_error!(self, gst::StreamError::Failed, ["cannot map the video frame writable"]);
            gst::FlowError::Error
        })?;
        let format = video::format_of(&info).map_err(|e| {
            gst::element_imp_error!(self, gst::StreamError::Format, ["{}", e]);
            gst::FlowError::NotNegotiated
        })?;
        // The mapped frame's layout, not the caps': a decoder's VideoMeta may pad the rows
        // (avdec at 320x240 does), and the planes are sliced by these strides.
        let strides = video::strides(vframe.info());
        let planes = vframe.planes_data_mut();
        let mut canvas =
            Canvas::new(format, info.width() as usize, info.height() as usize, planes, &strides, video::yuv_of(&info))
                .map_err(|e| {
                    gst::element_imp_error!(self, gst::StreamError::Failed, ["cannot draw on the frame: {}", e]);
                    gst::FlowError::Error
                })?;
        let style = Style { font_scale: settings.font_scale as f32 };
        state.overlay.render(&mut canvas, &scene, &style);
        gst::trace!(CAT, imp = self, "drew {} boxes, {} lines", scene.boxes.len(), scene.lines.len());
        Ok(gst::FlowSuccess::Ok)
    }
}

fn anchor(o: &Object) -> (f32, f32) {
    (((o.bbox.x1 + o.bbox.x2) * 0.5) as f32, o.bbox.y2 as f32)
}

fn bbox(o: &Object) -> [f32; 4] {
    [o.bbox.x1 as f32, o.bbox.y1 as f32, o.bbox.x2 as f32, o.bbox.y2 as f32]
}

fn fps_text(wall: Option<f64>, stream: Option<f64>) -> String {
    let f = |v: Option<f64>| v.map_or_else(|| "-".to_string(), |v| format!("{v:.1}"));
    format!("FPS {} \u{b7} stream {}", f(wall), f(stream))
}

/// The class a box shows: the track's majority class when tracked, else the detection's.
fn class_of(o: &Object) -> &str {
    o.track.as_ref().map_or_else(|| o.label(), |t| t.label.as_str())
}

fn label_of(o: &Object, show_speed: bool) -> BoxLabel {
    BoxLabel {
        class: class_of(o).to_string(),
        track_id: o.track.as_ref().map(|t| t.id),
        confidence: o.detection.as_ref().map(|d| d.confidence as f32),
        speed_kmh: o.track.as_ref().and_then(|t| t.speed_kmh).filter(|_| show_speed).map(|v| v as f32),
    }
}

fn scene(s: &Settings, objects: &[Object], counts: Option<&Counts>, trails: &Trails, fps: Option<String>) -> Scene {
    let mut scene = Scene { fps, ..Scene::default() };
    for o in objects.iter().filter(|o| !o.is_plate()) {
        let color = draw::class_color(class_of(o));
        if s.show_boxes || s.show_labels {
            scene.boxes.push(ObjectBox {
                bbox: bbox(o),
                color,
                outline: s.show_boxes,
                label: s.show_labels.then(|| label_of(o, s.show_speed)),
                predicted: o.track.as_ref().is_some_and(|t| t.predicted),
            });
        }
        if let (true, Some(t)) = (s.show_tracks, &o.track) {
            scene.trails.push(Trail { points: trails.points(t.id), color });
        }
    }
    if s.show_plates {
        for p in objects.iter().filter(|o| o.is_plate()) {
            let text = p.plate.as_ref().map(|p| if p.track_text.is_empty() { &p.text } else { &p.track_text });
            let text = text.filter(|t| !t.trim().is_empty()).cloned();
            if text.is_none() && !s.show_boxes {
                continue;
            }
            let vehicle = objects.iter().find(|v| v.roi_id == p.parent_id && !v.is_plate()).map_or(bbox(p), bbox);
            scene.plates.push(PlateLabel { vehicle, plate_box: s.show_boxes.then(|| bbox(p)), text });
        }
    }
    let Some(counts) = counts else { return scene };
    if s.show_lines {
        for l in &counts.lines {
            let totals = format!(
                "{}  {} {} \u{b7} {} {}",
                l.name,
                l.in_name,
                l.direction_total(&l.in_name),
                l.out_name,
                l.direction_total(&l.out_name)
            );
            scene.lines.push(CountLine {
                start: (l.start.0 as f32, l.start.1 as f32),
                end: (l.end.0 as f32, l.end.1 as f32),
                label: Some(totals),
                flash: counts.crossings.iter().any(|c| c.line == l.name),
            });
        }
        // Zones: the polygon's edges, labelled on the first with the occupancy and the
        // longest dwell.
        for z in &counts.zones {
            let n = z.points.len();
            for i in 0..n {
                let (a, b) = (z.points[i], z.points[(i + 1) % n]);
                let label = (i == 0).then(|| match z.occupants.first() {
                    Some(longest) => format!("{}  {} inside \u{b7} {:.0} s", z.name, z.occupants.len(), longest.dwell),
                    None => format!("{}  empty", z.name),
                });
                scene.lines.push(CountLine {
                    start: (a.0 as f32, a.1 as f32),
                    end: (b.0 as f32, b.1 as f32),
                    label,
                    flash: false,
                });
            }
        }
    }
    if s.show_counts {
        for l in &counts.lines {
            scene
                .panel
                .push(PanelRow { swatch: None, cells: vec![format!("{}: {} / {}", l.name, l.in_name, l.out_name)] });
            let per_class = l.by_class();
            for (class, directions) in &per_class {
                let n = |direction: &str| directions.get(direction).copied().unwrap_or(0).to_string();
                scene.panel.push(PanelRow {
                    swatch: Some(draw::class_color(class)),
                    cells: vec![class.clone(), n(&l.in_name), n(&l.out_name)],
                });
            }
            if per_class.len() != 1 {
                scene.panel.push(PanelRow {
                    swatch: None,
                    cells: vec![
                        "total".into(),
                        l.direction_total(&l.in_name).to_string(),
                        l.direction_total(&l.out_name).to_string(),
                    ],
                });
            }
        }
    }
    scene
}
