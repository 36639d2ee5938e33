use std::path::PathBuf;
use std::sync::{LazyLock, Mutex};

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::subclass::prelude::*;
use traffic_meta::NO_PARENT;
use traffic_vision::{ClassFilter, DetectorConfig, StageTimes, VisionError, YoloDetector};

use crate::{lock, start_error, stats, video};

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new("yolodetect", gst::DebugColorFlags::empty(), Some("YOLO object detector"))
});

const DEFAULT_MODEL: &str = "yolov8n.onnx";
const DEFAULT_CLASSES: &str = "car,motorcycle,bus,truck";
/// Seen from a high pole, a car's score splits between car and truck and both stay under
/// the threshold; added up they make one confident vehicle (BENCHMARKS.md, issue 16).
const DEFAULT_MERGED_CLASSES: &str = DEFAULT_CLASSES;

#[derive(Clone, Debug)]
struct Settings {
    /// Empty: `yolov8n.onnx` in the weights folder.
    model: String,
    labels: String,
    conf_threshold: f64,
    iou_threshold: f64,
    classes: String,
    agnostic_nms: bool,
    merged_classes: String,
    interval: u32,
    threads: u32,
    input_size: u32,
    allow_spinning: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            model: String::new(),
            labels: String::new(),
            conf_threshold: 0.25,
            iou_threshold: 0.45,
            classes: DEFAULT_CLASSES.into(),
            // Measured on NGSIM: class-aware NMS leaves a car box and a truck box on the same
            // vehicle (precision 0.92 -> 0.996 at equal recall); counting needs one box.
            agnostic_nms: true,
            merged_classes: DEFAULT_MERGED_CLASSES.into(),
            interval: 1,
            threads: 0,
            input_size: 640,
            allow_spinning: false,
        }
    }
}

impl Settings {
    fn detector_config(&self) -> Result<DetectorConfig, VisionError> {
        let labels = if self.labels.is_empty() {
            None
        } else {
            let text = std::fs::read_to_string(&self.labels).map_err(|e| VisionError::MissingFile {
                what: "labels file",
                path: PathBuf::from(&self.labels),
                hint: e.to_string(),
            })?;
            Some(text.lines().map(str::trim).filter(|l| !l.is_empty()).map(String::from).collect())
        };
        Ok(DetectorConfig {
            model: crate::model_path(&self.model, DEFAULT_MODEL),
            labels,
            conf_threshold: self.conf_threshold as f32,
            iou_threshold: self.iou_threshold as f32,
            input_size: self.input_size as usize,
            threads: self.threads as usize,
            classes: ClassFilter::parse(&self.classes),
            agnostic_nms: self.agnostic_nms,
            merged_classes: self
                .merged_classes
                .split(',')
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .map(String::from)
                .collect(),
            spinning: self.allow_spinning,
            ..DetectorConfig::default()
        })
    }
}

/// Running totals for the `stats` property.
#[derive(Default)]
struct Stats {
    frames: u64,
    inferences: u64,
    detections: u64,
    total: StageTimes,
}

impl Stats {
    fn structure(&self) -> gst::Structure {
        let n = self.inferences;
        stats::structure(
            "yolodetect-stats",
            &[("frames", self.frames), ("inferences", n), ("detections", self.detections)],
            &[
                ("preprocess-ms", self.total.preprocess, n),
                ("inference-ms", self.total.inference, n),
                ("postprocess-ms", self.total.postprocess, n),
            ],
        )
    }
}

struct State {
    detector: YoloDetector,
    /// The model file, as frames record who detected on them.
    model: String,
    info: Option<gst_video::VideoInfo>,
    frame_index: u64,
    /// Frames skipped because this model had detected on them upstream already.
    repeated: u64,
}

#[derive(Default)]
pub struct YoloDetect {
    settings: Mutex<Settings>,
    /// Held by the streaming thread for a whole inference.
    state: Mutex<Option<State>>,
    /// Apart from `state`, so that reading `stats` never waits for an inference.
    stats: Mutex<Stats>,
}

#[glib::object_subclass]
impl ObjectSubclass for YoloDetect {
    const NAME: &'static str = "GstYoloDetect";
    type Type = super::YoloDetect;
    type ParentType = gst_base::BaseTransform;
}

impl ObjectImpl for YoloDetect {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            let d = Settings::default();
            vec![
                glib::ParamSpecString::builder("model")
                    .nick("Model")
                    .blurb("YOLO ONNX model (YOLOv5, YOLOv8/11 or end-to-end layout); empty: yolov8n.onnx in $TRAFFIC_WEIGHTS_DIR (the checkout's weights/)")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("labels")
                    .nick("Labels file")
                    .blurb("Class names, one per line, for models without 'names' metadata; empty: the model's own names")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecDouble::builder("conf-threshold")
                    .nick("Confidence threshold")
                    .blurb("Minimum class confidence of a reported box")
                    .minimum(0.0)
                    .maximum(1.0)
                    .default_value(d.conf_threshold)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecDouble::builder("iou-threshold")
                    .nick("IoU threshold")
                    .blurb("Non-maximum suppression: boxes of one class overlapping more than this are merged")
                    .minimum(0.0)
                    .maximum(1.0)
                    .default_value(d.iou_threshold)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecString::builder("classes")
                    .nick("Classes")
                    .blurb("Comma-separated class names or indices to report, or 'all'")
                    .default_value(Some(DEFAULT_CLASSES))
                    .mutable_ready()
                    .build(),
                glib::ParamSpecBoolean::builder("agnostic-nms")
                    .nick("Class-agnostic NMS")
                    .blurb("Suppress overlapping boxes across classes too: one box per vehicle where the model hesitates between car and truck; false: class-aware NMS as Ultralytics does it")
                    .default_value(d.agnostic_nms)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("merged-classes")
                    .nick("Merged classes")
                    .blurb("Comma-separated classes whose scores add up into one score per box, labelled by the largest (a vehicle that is half car, half truck is one confident car); empty: each class scored on its own, as Ultralytics does")
                    .default_value(Some(DEFAULT_MERGED_CLASSES))
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("interval")
                    .nick("Interval")
                    .blurb("Run the model on every Nth frame; mottracker carries the boxes over the frames between")
                    .minimum(1)
                    .maximum(1000)
                    .default_value(d.interval)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt::builder("threads")
                    .nick("Threads")
                    .blurb("ONNX Runtime intra-op threads; 0: one per core")
                    .maximum(256)
                    .default_value(d.threads)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecBoolean::builder("allow-spinning")
                    .nick("Allow spinning")
                    .blurb("Let ONNX Runtime's threads spin waiting for work between operators: a little faster when the model has the cores to itself, slower when the decoder, the encoder or other models share them")
                    .default_value(d.allow_spinning)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("input-size")
                    .nick("Input size")
                    .blurb("Long side of the model input in pixels, a multiple of 32; rectangular (frame aspect) when the model's input is dynamic, ignored when it is fixed")
                    .minimum(32)
                    .maximum(4096)
                    .default_value(d.input_size)
                    .mutable_ready()
                    .build(),
                stats::property("frames, inferences, detections, and mean preprocess/inference/postprocess milliseconds"),
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
            "model" => s.model = value.get::<Option<String>>().ok().flatten().unwrap_or_default(),
            "labels" => s.labels = value.get::<Option<String>>().ok().flatten().unwrap_or_default(),
            "conf-threshold" => s.conf_threshold = value.get().unwrap_or(s.conf_threshold),
            "iou-threshold" => s.iou_threshold = value.get().unwrap_or(s.iou_threshold),
            "classes" => {
                s.classes = value.get::<Option<String>>().ok().flatten().unwrap_or_else(|| DEFAULT_CLASSES.into())
            }
            "agnostic-nms" => s.agnostic_nms = value.get().unwrap_or(s.agnostic_nms),
            "merged-classes" => s.merged_classes = value.get::<Option<String>>().ok().flatten().unwrap_or_default(),
            "interval" => s.interval = value.get().unwrap_or(s.interval),
            "threads" => s.threads = value.get().unwrap_or(s.threads),
            "allow-spinning" => s.allow_spinning = value.get().unwrap_or(s.allow_spinning),
            "input-size" => {
                let size: u32 = value.get().unwrap_or(s.input_size);
                // Models downsample by 32: round to the nearest multiple rather than fail later.
                let rounded = ((size + 16) / 32 * 32).max(32);
                if rounded != size {
                    gst::warning!(CAT, imp = self, "input-size {size} is not a multiple of 32, using {rounded}");
                }
                s.input_size = rounded;
            }
            name => gst::warning!(CAT, imp = self, "unknown property {name}"),
        }
        gst::debug!(CAT, imp = self, "{} set", pspec.name());
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        let s = lock(&self.settings);
        match pspec.name() {
            "model" => crate::model_path(&s.model, DEFAULT_MODEL).to_string_lossy().to_value(),
            "labels" => s.labels.to_value(),
            "conf-threshold" => s.conf_threshold.to_value(),
            "iou-threshold" => s.iou_threshold.to_value(),
            "classes" => s.classes.to_value(),
            "agnostic-nms" => s.agnostic_nms.to_value(),
            "merged-classes" => s.merged_classes.to_value(),
            "interval" => s.interval.to_value(),
            "threads" => s.threads.to_value(),
            "allow-spinning" => s.allow_spinning.to_value(),
            "input-size" => s.input_size.to_value(),
            "stats" => lock(&self.stats).structure().to_value(),
            _ => glib::Value::from_type(pspec.value_type()),
        }
    }
}

impl GstObjectImpl for YoloDetect {}

impl ElementImpl for YoloDetect {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static META: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "YOLO detector",
                "Filter/Analyzer/Video",
                "Detects objects with a YOLO ONNX model (ONNX Runtime) and attaches them as region-of-interest metadata",
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

impl BaseTransformImpl for YoloDetect {
    const MODE: gst_base::subclass::BaseTransformMode = gst_base::subclass::BaseTransformMode::AlwaysInPlace;
    const PASSTHROUGH_ON_SAME_CAPS: bool = false;
    const TRANSFORM_IP_ON_PASSTHROUGH: bool = false;

    fn start(&self) -> Result<(), gst::ErrorMessage> {
        let settings = lock(&self.settings).clone();
        let config = settings.detector_config().map_err(|e| start_error(&e))?;
        gst::info!(CAT, imp = self, "loading {}", config.model.display());
        let model = std::fs::canonicalize(&config.model).unwrap_or_else(|_| config.model.clone());
        let model = model.to_string_lossy().into_owned();
        let detector = YoloDetector::load(config).map_err(|e| start_error(&e))?;
        gst::info!(CAT, imp = self, "model ready: {:?}, {} classes", detector.layout(), detector.names().len());
        *lock(&self.state) = Some(State { detector, model, info: None, frame_index: 0, repeated: 0 });
        *lock(&self.stats) = Stats::default();
        Ok(())
    }

    fn stop(&self) -> Result<(), gst::ErrorMessage> {
        *lock(&self.state) = None;
        Ok(())
    }

    fn set_caps(&self, incaps: &gst::Caps, _outcaps: &gst::Caps) -> Result<(), gst::LoggableError> {
        let info = video::info_from_caps(&CAT, incaps)?;
        if let Some(state) = lock(&self.state).as_mut() {
            state.info = Some(info);
        }
        Ok(())
    }

    fn transform_ip(&self, buf: &mut gst::BufferRef) -> Result<gst::FlowSuccess, gst::FlowError> {
        let (interval, conf, iou) = {
            let s = lock(&self.settings);
            (s.interval.max(1) as u64, s.conf_threshold as f32, s.iou_threshold as f32)
        };
        let mut guard = lock(&self.state);
        let state = guard.as_mut().ok_or(gst::FlowError::Flushing)?;
        let info = state.info.clone().ok_or(gst::FlowError::NotNegotiated)?;
        let index = state.frame_index;
        state.frame_index += 1;
        lock(&self.stats).frames += 1;
        if index % interval != 0 {
            return Ok(gst::FlowSuccess::Ok);
        }
        // The same model upstream (two yolodetect in a row) would add every vehicle again and
        // every count would double.
        if traffic_meta::detected_by(buf, &state.model) {
            if state.repeated == 0 {
                let msg = format!(
                    "{} already detected on these frames upstream: this yolodetect adds nothing (remove one of them)",
                    state.model
                );
                gst::warning!(CAT, imp = self, "{msg}");
                let obj = self.obj();
                let _ = obj
                    .post_message(gst::message::Warning::builder(gst::CoreError::Negotiation, &msg).src(&*obj).build());
            }
            state.repeated += 1;
            return Ok(gst::FlowSuccess::Ok);
        }
        state.detector.set_thresholds(conf, iou);
        let detections = video::read_frame(self, buf, &info, "detection", |frame| state.detector.detect(frame))?;
        let size = video::frame_size(&info);
        traffic_meta::set_detected_by(buf, &state.model);
        for d in &detections {
            let label =
                state.detector.names().get(d.class_id as usize).cloned().unwrap_or_else(|| d.class_id.to_string());
            traffic_meta::add_detection(buf, size, &video::meta_detection(d, label), NO_PARENT);
        }
        let t = state.detector.last_times;
        let mut totals = lock(&self.stats);
        totals.inferences += 1;
        totals.detections += detections.len() as u64;
        totals.total.preprocess += t.preprocess;
        totals.total.inference += t.inference;
        totals.total.postprocess += t.postprocess;
        gst::trace!(CAT, imp = self, "frame {index}: {} objects, {:?}", detections.len(), t);
        Ok(gst::FlowSuccess::Ok)
    }
}
