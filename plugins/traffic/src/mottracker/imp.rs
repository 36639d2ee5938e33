use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::subclass::prelude::*;
use traffic_meta::{Detection as MetaDetection, FrameSize, Track, NO_PARENT};
use traffic_vision::tracker::{TrackedObject, Tracker, TrackerConfig};
use traffic_vision::Detection;

use super::AlgorithmChoice;
use crate::lock;
use crate::video;

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new("mottracker", gst::DebugColorFlags::empty(), Some("Multi-object tracker"))
});

/// -1 in a threshold property: the chosen algorithm's own default.
const ALGORITHM_DEFAULT: f64 = -1.0;

#[derive(Clone, Debug)]
struct Settings {
    algorithm: AlgorithmChoice,
    track_thresh: f64,
    high_thresh: f64,
    match_thresh: f64,
    track_buffer: u32,
    track_buffer_ms: u32,
    min_hits: u32,
    class_flicker: bool,
}

impl Default for Settings {
    fn default() -> Self {
        let d = TrackerConfig::bytetrack();
        Settings {
            algorithm: AlgorithmChoice::ByteTrack,
            track_thresh: ALGORITHM_DEFAULT,
            high_thresh: ALGORITHM_DEFAULT,
            match_thresh: d.match_thresh as f64,
            track_buffer: d.track_buffer,
            track_buffer_ms: 0,
            min_hits: d.min_hits,
            class_flicker: d.class_flicker,
        }
    }
}

impl Settings {
    /// The tracker configuration for a stream of `fps` frames per second (when known).
    fn tracker_config(&self, fps: Option<f64>) -> TrackerConfig {
        let mut c = match self.algorithm {
            AlgorithmChoice::ByteTrack => TrackerConfig::bytetrack(),
            AlgorithmChoice::OcSort => TrackerConfig::ocsort(),
        };
        if self.track_thresh >= 0.0 {
            c.track_thresh = self.track_thresh as f32;
        }
        if self.high_thresh >= 0.0 {
            c.high_thresh = self.high_thresh as f32;
        }
        c.match_thresh = self.match_thresh as f32;
        c.track_buffer = match fps {
            Some(fps) if self.track_buffer_ms > 0 => {
                ((self.track_buffer_ms as f64 * fps / 1000.0).round() as u32).max(1)
            }
            _ => self.track_buffer,
        };
        c.min_hits = self.min_hits;
        c.class_flicker = self.class_flicker;
        c
    }
}

struct State {
    tracker: Tracker,
    info: Option<gst_video::VideoInfo>,
    /// Class names seen on detections, to label boxes of predicted frames.
    labels: HashMap<u32, String>,
}

#[derive(Default)]
pub struct MotTracker {
    settings: Mutex<Settings>,
    state: Mutex<Option<State>>,
}

fn fps_of(info: &gst_video::VideoInfo) -> Option<f64> {
    let f = info.fps();
    (f.numer() > 0 && f.denom() > 0).then(|| f.numer() as f64 / f.denom() as f64)
}

#[glib::object_subclass]
impl ObjectSubclass for MotTracker {
    const NAME: &'static str = "GstMotTracker";
    type Type = super::MotTracker;
    type ParentType = gst_base::BaseTransform;
}

impl ObjectImpl for MotTracker {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            let d = Settings::default();
            let threshold = |name: &str, nick: &str, blurb: &str, default: f64| {
                glib::ParamSpecDouble::builder(name)
                    .nick(nick)
                    .blurb(blurb)
                    .minimum(-1.0)
                    .maximum(1.0)
                    .default_value(default)
                    .mutable_ready()
                    .build()
            };
            vec![
                glib::ParamSpecEnum::builder_with_default("algorithm", d.algorithm)
                    .nick("Algorithm")
                    .blurb("Association algorithm")
                    .mutable_ready()
                    .build(),
                threshold(
                    "track-thresh",
                    "Track threshold",
                    "Detections above this enter the first association (bytetrack; 0.1 up to it enter the second) or are used at all (ocsort); -1: the algorithm's default (bytetrack 0.45, ocsort 0.2)",
                    ALGORITHM_DEFAULT,
                ),
                threshold(
                    "high-thresh",
                    "New track threshold",
                    "An unmatched detection starts a new track only from this confidence; -1: the algorithm's default (bytetrack 0.45, ocsort 0.2)",
                    ALGORITHM_DEFAULT,
                ),
                glib::ParamSpecDouble::builder("match-thresh")
                    .nick("Match threshold")
                    .blurb("bytetrack: largest distance 1 - IoU x confidence of a first-stage match")
                    .minimum(0.0)
                    .maximum(1.0)
                    .default_value(d.match_thresh)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("track-buffer")
                    .nick("Track buffer")
                    .blurb("Frames a track that lost its detection is kept to be found again with its ID")
                    .minimum(1)
                    .maximum(100_000)
                    .default_value(d.track_buffer)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("track-buffer-time")
                    .nick("Track buffer time")
                    .blurb("The same in milliseconds, converted with the stream's frame rate; 0: use track-buffer")
                    .maximum(3_600_000)
                    .default_value(d.track_buffer_ms)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("min-hits")
                    .nick("Minimum hits")
                    .blurb("ocsort: consecutive detections before a track gets an ID (bytetrack confirms on the second)")
                    .minimum(1)
                    .maximum(1000)
                    .default_value(d.min_hits)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecBoolean::builder("class-flicker")
                    .nick("Class flicker")
                    .blurb("Let a track match detections of another class (car seen as truck on some frames); false: a track only takes detections of its own class. The reported class is the track's majority either way")
                    .default_value(d.class_flicker)
                    .mutable_ready()
                    .build(),
            ]
        });
        PROPERTIES.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        if !crate::settable(self.obj().upcast_ref(), *CAT, pspec) {
            return;
        }
        let mut s = lock(&self.settings);
        match pspec.name() {
            "algorithm" => s.algorithm = value.get().unwrap_or(s.algorithm),
            "track-thresh" => s.track_thresh = value.get().unwrap_or(s.track_thresh),
            "high-thresh" => s.high_thresh = value.get().unwrap_or(s.high_thresh),
            "match-thresh" => s.match_thresh = value.get().unwrap_or(s.match_thresh),
            "track-buffer" => s.track_buffer = value.get().unwrap_or(s.track_buffer),
            "track-buffer-time" => s.track_buffer_ms = value.get().unwrap_or(s.track_buffer_ms),
            "min-hits" => s.min_hits = value.get().unwrap_or(s.min_hits),
            "class-flicker" => s.class_flicker = value.get().unwrap_or(s.class_flicker),
            name => gst::warning!(CAT, imp = self, "unknown property {name}"),
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        let s = lock(&self.settings);
        match pspec.name() {
            "algorithm" => s.algorithm.to_value(),
            "track-thresh" => s.track_thresh.to_value(),
            "high-thresh" => s.high_thresh.to_value(),
            "match-thresh" => s.match_thresh.to_value(),
            "track-buffer" => s.track_buffer.to_value(),
            "track-buffer-time" => s.track_buffer_ms.to_value(),
            "min-hits" => s.min_hits.to_value(),
            "class-flicker" => s.class_flicker.to_value(),
            _ => glib::Value::from_type(pspec.value_type()),
        }
    }
}

impl GstObjectImpl for MotTracker {}

impl ElementImpl for MotTracker {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static META: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "Multi-object tracker",
                "Filter/Analyzer/Video",
                "Gives each detected object a stable track ID (ByteTrack or OC-SORT) and predicts boxes on frames the detector skipped",
                "traffic-vision developers",
            )
        });
        Some(&*META)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static TEMPLATES: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| video::pad_templates(&video::any_caps()));
        TEMPLATES.as_ref()
    }
}

impl BaseTransformImpl for MotTracker {
    const MODE: gst_base::subclass::BaseTransformMode = gst_base::subclass::BaseTransformMode::AlwaysInPlace;
    const PASSTHROUGH_ON_SAME_CAPS: bool = false;
    const TRANSFORM_IP_ON_PASSTHROUGH: bool = false;

    fn start(&self) -> Result<(), gst::ErrorMessage> {
        let config = lock(&self.settings).tracker_config(None);
        *lock(&self.state) = Some(State { tracker: Tracker::new(config), info: None, labels: HashMap::new() });
        Ok(())
    }

    fn stop(&self) -> Result<(), gst::ErrorMessage> {
        *lock(&self.state) = None;
        Ok(())
    }

    fn set_caps(&self, incaps: &gst::Caps, _outcaps: &gst::Caps) -> Result<(), gst::LoggableError> {
        let info = video::info_from_caps(&CAT, incaps)?;
        let config = lock(&self.settings).tracker_config(fps_of(&info));
        if let Some(state) = lock(&self.state).as_mut() {
            // The frame rate is known only now; tracks survive a renegotiation of the same geometry.
            let resized =
                state.info.as_ref().is_some_and(|old| (old.width(), old.height()) != (info.width(), info.height()));
            if state.tracker.config() != &config {
                gst::info!(CAT, imp = self, "track buffer {} frames", config.track_buffer);
                state.tracker.reconfigure(config);
            } else if resized {
                // Track boxes are pixels of the old size: predicting them onto the new frames
                // would misplace them.
                gst::info!(CAT, imp = self, "frame size changed to {}x{}: tracks restart", info.width(), info.height());
                state.tracker.reset();
            }
            state.info = Some(info);
        }
        Ok(())
    }

    fn sink_event(&self, event: gst::Event) -> bool {
        // A flush (seek) breaks the motion: forget the tracks; IDs continue, never reused.
        if let gst::EventView::FlushStop(_) = event.view() {
            if let Some(state) = lock(&self.state).as_mut() {
                state.tracker.reset();
            }
        }
        self.parent_sink_event(event)
    }

    fn transform_ip(&self, buf: &mut gst::BufferRef) -> Result<gst::FlowSuccess, gst::FlowError> {
        let mut guard = lock(&self.state);
        let state = guard.as_mut().ok_or(gst::FlowError::Flushing)?;
        let size = video::frame_size(state.info.as_ref().ok_or(gst::FlowError::NotNegotiated)?);
        if traffic_meta::detected(buf) {
            let objects: Vec<_> = traffic_meta::objects(buf, size)
                .into_iter()
                .filter(|o| o.parent_id == NO_PARENT && !o.is_plate() && o.track.is_none())
                .filter_map(|o| o.detection.map(|d| (o.roi_id, d)))
                .collect();
            let detections: Vec<Detection> = objects
                .iter()
                .map(|(_, d)| Detection {
                    bbox: video::vision_box(&d.bbox),
                    score: d.confidence as f32,
                    class_id: d.label_id,
                })
                .collect();
            for (_, d) in &objects {
                state.labels.entry(d.label_id).or_insert_with(|| d.label.clone());
            }
            for t in state.tracker.update(&detections) {
                if let Some((roi_id, _)) = t.det_index.and_then(|i| objects.get(i)) {
                    traffic_meta::set_track(buf, *roi_id, &track_of(&t, &state.labels));
                }
            }
        } else {
            for t in state.tracker.predict_only() {
                add_predicted(buf, size, &t, &state.labels);
            }
        }
        Ok(gst::FlowSuccess::Ok)
    }
}

fn label_of(class_id: u32, labels: &HashMap<u32, String>) -> String {
    labels.get(&class_id).cloned().unwrap_or_else(|| class_id.to_string())
}

fn track_of(t: &TrackedObject, labels: &HashMap<u32, String>) -> Track {
    let label = label_of(t.class_id, labels);
    Track { id: t.id, age: t.age, predicted: t.predicted, label, label_id: t.class_id, speed_kmh: None }
}

/// A track on a frame the detector skipped: a new ROI with the motion model's box.
fn add_predicted(buf: &mut gst::BufferRef, size: FrameSize, t: &TrackedObject, labels: &HashMap<u32, String>) {
    let b = t.bbox.clamped(size.width as f32, size.height as f32);
    if b.area() <= 0.0 {
        return;
    }
    let det = MetaDetection {
        label: label_of(t.class_id, labels),
        label_id: t.class_id,
        confidence: t.score as f64,
        bbox: video::pixel_box(&b),
    };
    let roi_id = traffic_meta::add_detection(buf, size, &det, NO_PARENT);
    traffic_meta::set_track(buf, roi_id, &track_of(t, labels));
}
