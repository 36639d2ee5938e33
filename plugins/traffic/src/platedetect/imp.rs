use std::collections::{HashMap, VecDeque};
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant};

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::subclass::prelude::*;
use traffic_meta::{PixelBox, NO_PARENT};
use traffic_vision::detect::{crops, CropDetector, CropDetectorConfig};
use traffic_vision::plates::planner::{self, PlannerConfig, SearchPlanner};
use traffic_vision::plates::schedule;
use traffic_vision::{BBox, ClassFilter, Detection, DetectorConfig, Frame, VisionError, YoloDetector};

use super::Mode;
use crate::{lock, start_error, stats, video};

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new("platedetect", gst::DebugColorFlags::empty(), Some("Licence-plate detector"))
});

const DEFAULT_MODEL: &str = "platedet_raw.onnx";
/// Crops share an inference while padding them to the largest costs at most this much more.
const BATCH_SLACK: f64 = 0.25;
/// Searches the median per-vehicle time is taken over.
const RECENT_SEARCHES: usize = 1000;

#[derive(Clone, Debug)]
struct Settings {
    model: String,
    conf_threshold: f64,
    min_vehicle_size: u32,
    interval: u32,
    max_interval: u32,
    done_confidence: f64,
    mode: Mode,
    max_input: u32,
    frame_input: u32,
    min_input: u32,
    threads: u32,
}

impl Settings {
    fn planner(&self) -> PlannerConfig {
        PlannerConfig {
            min_vehicle_size: self.min_vehicle_size as f64,
            interval: self.interval as u64,
            max_interval: self.max_interval as u64,
            done_confidence: self.done_confidence,
        }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            model: String::new(),
            conf_threshold: 0.25,
            min_vehicle_size: schedule::min_vehicle_side(),
            interval: 5,
            max_interval: 160,
            done_confidence: 0.9,
            mode: Mode::Vehicles,
            max_input: schedule::max_vehicle_input(),
            frame_input: 640,
            min_input: 0,
            threads: 0,
        }
    }
}

/// Running totals for the `stats` property.
#[derive(Default)]
struct Stats {
    frames: u64,
    inferences: u64,
    /// Vehicle crops searched (several per inference in a batch).
    crops: u64,
    plates: u64,
    /// Tracks remembered now (search schedules), and those with a read confidence from plateocr.
    tracks: u64,
    reads: u64,
    time: Duration,
    /// Milliseconds per vehicle of the last searches (an inference's time over its crops).
    recent_crop_ms: VecDeque<f64>,
}

impl Stats {
    fn structure(&self) -> gst::Structure {
        let mut s = stats::structure(
            "platedetect-stats",
            &[
                ("frames", self.frames),
                ("inferences", self.inferences),
                ("crops", self.crops),
                ("plates", self.plates),
                ("tracks", self.tracks),
                ("reads", self.reads),
            ],
            &[("ms-per-inference", self.time, self.inferences), ("ms-per-crop", self.time, self.crops)],
        );
        s.set("median-ms-per-crop", median(&self.recent_crop_ms));
        s
    }

    fn searched(&mut self, crops: usize, time: Duration) {
        self.inferences += 1;
        self.crops += crops as u64;
        self.time += time;
        let per_crop = time.as_secs_f64() * 1e3 / crops.max(1) as f64;
        for _ in 0..crops {
            if self.recent_crop_ms.len() == RECENT_SEARCHES {
                self.recent_crop_ms.pop_front();
            }
            self.recent_crop_ms.push_back(per_crop);
        }
    }
}

fn median(values: &VecDeque<f64>) -> f64 {
    let mut v: Vec<f64> = values.iter().copied().collect();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => 0.0,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// The plate model: a raw-head model searches each crop at its own size, crops batched; any
/// other YOLO model (e.g. Ultralytics' static 640x640 export) one crop per inference.
/// Boxed: the two differ in size and are built once per start.
enum PlateModel {
    Crops(Box<CropDetector>),
    Whole(Box<YoloDetector>),
}

impl PlateModel {
    fn names(&self) -> &[String] {
        match self {
            PlateModel::Crops(d) => d.names(),
            PlateModel::Whole(d) => d.names(),
        }
    }

    /// The detections in each image, in its pixels, each searched at most `max_input` on its
    /// longest side; `inference` gets each inference's crop count and time.
    fn detect(
        &mut self,
        images: &[Frame],
        max_input: u32,
        mut inference: impl FnMut(usize, Duration),
    ) -> Result<Vec<Vec<Detection>>, VisionError> {
        let mut found = vec![Vec::new(); images.len()];
        match self {
            PlateModel::Crops(d) => {
                d.config.max_input = max_input as usize;
                let sizes: Vec<(usize, usize)> = images.iter().map(|f| d.input_size_for(f.width, f.height)).collect();
                for group in crops::batches(&sizes, BATCH_SLACK) {
                    let batch: Vec<Frame> = group.iter().map(|&i| images[i]).collect();
                    let t0 = Instant::now();
                    let dets = d.detect_batch(&batch)?;
                    inference(group.len(), t0.elapsed());
                    for (i, dets) in group.into_iter().zip(dets) {
                        found[i] = dets;
                    }
                }
            }
            PlateModel::Whole(d) => {
                for (image, out) in images.iter().zip(found.iter_mut()) {
                    let t0 = Instant::now();
                    *out = d.detect(image)?;
                    inference(1, t0.elapsed());
                }
            }
        }
        Ok(found)
    }
}

struct State {
    model: PlateModel,
    label: String,
    info: Option<gst_video::VideoInfo>,
    frame_index: u64,
    planner: SearchPlanner,
}

#[derive(Default)]
pub struct PlateDetect {
    settings: Mutex<Settings>,
    state: Mutex<Option<State>>,
    /// Best `track_confidence` per track that `plateocr` reported upstream since the last frame
    /// (the planner takes them on the next frame: the streaming thread may be busy inferring).
    read: Mutex<HashMap<u64, f64>>,
    /// Apart from `state`, so that reading `stats` never waits for an inference.
    stats: Mutex<Stats>,
}

/// A vehicle on the frame: its ROI id and box.
struct Vehicle {
    roi_id: i32,
    bbox: PixelBox,
}

#[glib::object_subclass]
impl ObjectSubclass for PlateDetect {
    const NAME: &'static str = "GstPlateDetect";
    type Type = super::PlateDetect;
    type ParentType = gst_base::BaseTransform;
}

impl ObjectImpl for PlateDetect {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            let d = Settings::default();
            vec![
                glib::ParamSpecString::builder("model")
                    .nick("Model")
                    .blurb("Plate detector, a YOLO ONNX model (float32 or float16): a raw-head model (scripts/yolo_raw_head.py) searches each vehicle at its own size, any other one at its input size; empty: platedet_raw.onnx in $TRAFFIC_WEIGHTS_DIR (the checkout's weights/)")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecDouble::builder("conf-threshold")
                    .nick("Confidence threshold")
                    .blurb("Minimum confidence of a plate box")
                    .minimum(0.0)
                    .maximum(1.0)
                    .default_value(d.conf_threshold)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt::builder("min-vehicle-size")
                    .nick("Minimum vehicle size")
                    .blurb("Vehicles whose box's shorter side is below this many pixels are not searched: their plate characters would be under 8 px, too small to read (characters are ~4.7 % of a car's shorter side)")
                    .maximum(10000)
                    .default_value(d.min_vehicle_size)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt::builder("interval")
                    .nick("Interval")
                    .blurb("Search a tracked vehicle at most every Nth frame (untracked vehicles: every frame)")
                    .minimum(1)
                    .maximum(10000)
                    .default_value(d.interval)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt::builder("max-interval")
                    .nick("Maximum interval")
                    .blurb("Each search that leaves a track's read no better doubles its interval, up to this many frames, until the vehicle moves, comes nearer or reads better (parked cars stop costing); at most interval: no backoff")
                    .minimum(1)
                    .maximum(100000)
                    .default_value(d.max_interval)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecDouble::builder("done-confidence")
                    .nick("Done confidence")
                    .blurb("Stop searching a track once plateocr reports its plate's track-confidence at or above this (see plateocr); above 1: never stop")
                    .minimum(0.0)
                    .maximum(2.0)
                    .default_value(d.done_confidence)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecEnum::builder_with_default("mode", d.mode)
                    .nick("Mode")
                    .blurb("Where to search: vehicles (boxes from yolodetect), frame (whole frame), auto (vehicles, else the whole frame; for still images)")
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt::builder("max-input")
                    .nick("Maximum input")
                    .blurb("Longest side a vehicle is searched at (a multiple of 32): each at its own size rounded up to 32 pixels, larger ones shrunk to this; crops of similar size run as one batch (raw-head models only)")
                    .minimum(32)
                    .maximum(4096)
                    .default_value(d.max_input)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt::builder("frame-input")
                    .nick("Frame input")
                    .blurb("Longest side the whole frame is searched at in frame mode (a multiple of 32; raw-head models only); auto searches its frames, close-ups, like a vehicle, at max-input")
                    .minimum(32)
                    .maximum(4096)
                    .default_value(d.frame_input)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt::builder("min-input")
                    .nick("Minimum input")
                    .blurb("A vehicle whose longest side is below this is enlarged to it before the search (0: never; costs time, for views where vehicles are small: a plate a few pixels high is below what the model learnt to find) (raw-head models only)")
                    .maximum(4096)
                    .default_value(d.min_input)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt::builder("threads")
                    .nick("Threads")
                    .blurb("ONNX Runtime intra-op threads; 0: one per core")
                    .maximum(256)
                    .default_value(d.threads)
                    .mutable_ready()
                    .build(),
                stats::property("frames, inferences, crops (vehicles searched), plates, tracks remembered and those with a read from plateocr (reads), mean milliseconds per inference and per crop (letterbox, model, decode), and the median milliseconds per crop over the last 1000 searched vehicles (median-ms-per-crop)"),
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
            "conf-threshold" => s.conf_threshold = value.get().unwrap_or(s.conf_threshold),
            "min-vehicle-size" => s.min_vehicle_size = value.get().unwrap_or(s.min_vehicle_size),
            "interval" => s.interval = value.get().unwrap_or(s.interval),
            "max-interval" => s.max_interval = value.get().unwrap_or(s.max_interval),
            "done-confidence" => s.done_confidence = value.get().unwrap_or(s.done_confidence),
            "mode" => s.mode = value.get().unwrap_or(s.mode),
            "max-input" => s.max_input = stride_multiple(value.get().unwrap_or(s.max_input)),
            "frame-input" => s.frame_input = stride_multiple(value.get().unwrap_or(s.frame_input)),
            "min-input" => s.min_input = value.get().unwrap_or(s.min_input),
            "threads" => s.threads = value.get().unwrap_or(s.threads),
            name => gst::warning!(CAT, imp = self, "unknown property {name}"),
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        let s = lock(&self.settings);
        match pspec.name() {
            "model" => crate::model_path(&s.model, DEFAULT_MODEL).to_string_lossy().to_value(),
            "conf-threshold" => s.conf_threshold.to_value(),
            "min-vehicle-size" => s.min_vehicle_size.to_value(),
            "interval" => s.interval.to_value(),
            "max-interval" => s.max_interval.to_value(),
            "done-confidence" => s.done_confidence.to_value(),
            "mode" => s.mode.to_value(),
            "max-input" => s.max_input.to_value(),
            "frame-input" => s.frame_input.to_value(),
            "min-input" => s.min_input.to_value(),
            "threads" => s.threads.to_value(),
            "stats" => lock(&self.stats).structure().to_value(),
            _ => glib::Value::from_type(pspec.value_type()),
        }
    }
}

impl GstObjectImpl for PlateDetect {}

impl ElementImpl for PlateDetect {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static META: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "Licence-plate detector",
                "Filter/Analyzer/Video",
                "Finds licence plates inside vehicle boxes (YOLO ONNX model) and attaches them as child regions of interest",
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

impl BaseTransformImpl for PlateDetect {
    const MODE: gst_base::subclass::BaseTransformMode = gst_base::subclass::BaseTransformMode::AlwaysInPlace;
    const PASSTHROUGH_ON_SAME_CAPS: bool = false;
    const TRANSFORM_IP_ON_PASSTHROUGH: bool = false;

    fn start(&self) -> Result<(), gst::ErrorMessage> {
        let settings = lock(&self.settings).clone();
        let path = crate::model_path(&settings.model, DEFAULT_MODEL);
        gst::info!(CAT, imp = self, "loading {}", path.display());
        let crop_config = CropDetectorConfig {
            conf_threshold: settings.conf_threshold as f32,
            iou_threshold: 0.45,
            max_input: settings.max_input as usize,
            min_input: settings.min_input as usize,
            max_det: 20,
            threads: settings.threads as usize,
        };
        let model = match CropDetector::load(&path, crop_config).map_err(|e| start_error(&e))? {
            Some(d) => PlateModel::Crops(Box::new(d)),
            None => {
                gst::info!(CAT, imp = self, "not a raw-head model: one inference per crop at the model's input size");
                let config = DetectorConfig {
                    model: path,
                    conf_threshold: settings.conf_threshold as f32,
                    threads: settings.threads as usize,
                    classes: ClassFilter::All,
                    agnostic_nms: true,
                    max_det: 20,
                    ..DetectorConfig::default()
                };
                PlateModel::Whole(Box::new(YoloDetector::load(config).map_err(|e| start_error(&e))?))
            }
        };
        let label = model.names().first().cloned().unwrap_or_else(|| "plate".into());
        *lock(&self.state) =
            Some(State { model, label, info: None, frame_index: 0, planner: SearchPlanner::default() });
        lock(&self.read).clear();
        *lock(&self.stats) = Stats::default();
        Ok(())
    }

    fn stop(&self) -> Result<(), gst::ErrorMessage> {
        if lock(&self.state).take().is_some() {
            let summary = stats::summary(&lock(&self.stats).structure());
            gst::info!(CAT, imp = self, "platedetect-summary: {summary}");
        }
        Ok(())
    }

    fn set_caps(&self, incaps: &gst::Caps, _outcaps: &gst::Caps) -> Result<(), gst::LoggableError> {
        let info = video::info_from_caps(&CAT, incaps)?;
        if let Some(state) = lock(&self.state).as_mut() {
            state.info = Some(info);
        }
        Ok(())
    }

    fn src_event(&self, event: gst::Event) -> bool {
        if traffic_meta::is_plate_read(&event) {
            if let Some(r) = traffic_meta::read_plate_read(&event) {
                let mut read = lock(&self.read);
                let c = read.entry(r.track_id).or_insert(0.0);
                *c = c.max(r.track_confidence);
            }
            // Ours: no element upstream needs it.
            return true;
        }
        self.parent_src_event(event)
    }

    fn sink_event(&self, event: gst::Event) -> bool {
        if let gst::EventView::FlushStop(_) = event.view() {
            if let Some(state) = lock(&self.state).as_mut() {
                state.planner.clear();
            }
            lock(&self.read).clear();
        }
        self.parent_sink_event(event)
    }

    fn transform_ip(&self, buf: &mut gst::BufferRef) -> Result<gst::FlowSuccess, gst::FlowError> {
        let settings = lock(&self.settings).clone();
        let mut guard = lock(&self.state);
        let state = guard.as_mut().ok_or(gst::FlowError::Flushing)?;
        let info = state.info.clone().ok_or(gst::FlowError::NotNegotiated)?;
        let size = video::frame_size(&info);
        let index = state.frame_index;
        state.frame_index += 1;
        lock(&self.stats).frames += 1;
        match &mut state.model {
            PlateModel::Crops(d) => {
                d.config.conf_threshold = settings.conf_threshold as f32;
                d.config.min_input = settings.min_input as usize;
            }
            PlateModel::Whole(d) => d.set_thresholds(settings.conf_threshold as f32, 0.45),
        }

        let objects = traffic_meta::objects(buf, size);
        let on_frame: Vec<_> = objects.iter().filter(|o| !o.is_plate() && o.parent_id == NO_PARENT).collect();
        let vehicles: Vec<Vehicle> = on_frame.iter().map(|o| Vehicle { roi_id: o.roi_id, bbox: o.bbox }).collect();
        let candidates: Vec<planner::Vehicle> = on_frame
            .iter()
            .map(|o| planner::Vehicle {
                track: o.track.as_ref().map(|t| t.id),
                bbox: video::vision_box(&o.bbox),
                predicted: o.track.as_ref().is_some_and(|t| t.predicted),
            })
            .collect();
        let plan = settings.planner();
        let whole_frame = match settings.mode {
            Mode::Frame => true,
            // Still images: no vehicle large enough to search.
            Mode::Auto => !candidates.iter().any(|v| plan.large_enough(&v.bbox)),
            Mode::Vehicles => false,
        };
        for (track, confidence) in std::mem::take(&mut *lock(&self.read)) {
            state.planner.record_read(track, confidence);
        }
        let todo: Vec<&Vehicle> = if whole_frame {
            Vec::new()
        } else {
            state.planner.plan(index, &candidates, &plan).into_iter().map(|i| &vehicles[i]).collect()
        };
        {
            let mut stats = lock(&self.stats);
            stats.tracks = state.planner.tracks() as u64;
            stats.reads = state.planner.reads() as u64;
        }
        let searched = !todo.is_empty();
        if !whole_frame && todo.is_empty() {
            return Ok(gst::FlowSuccess::Ok);
        }

        // (plate detection, parent ROI id).
        let stats = &self.stats;
        let record = |crops: usize, time: Duration| lock(stats).searched(crops, time);
        let plates = video::read_frame(self, buf, &info, "plate detection", |frame| {
            let mut plates = Vec::new();
            if !whole_frame {
                plates = search_vehicles(&mut state.model, frame, &todo, settings.max_input, record)?;
            }
            // auto: a frame whose vehicles showed no plate is searched whole (close-ups where the
            // vehicle box is cut by the frame or misses the plate).
            if whole_frame || (settings.mode == Mode::Auto && plates.is_empty() && searched) {
                // auto's frames are close-ups, where the frame is the vehicle: searched as one.
                let cap = if settings.mode == Mode::Frame { settings.frame_input } else { settings.max_input };
                let dets = state.model.detect(&[*frame], cap, record)?.pop().unwrap_or_default();
                plates.extend(dets.into_iter().map(|d| {
                    let parent = vehicle_around(&d, &vehicles);
                    (d, parent)
                }));
            }
            Ok(plates)
        })?;
        lock(&self.stats).plates += plates.len() as u64;
        for (d, parent) in &plates {
            traffic_meta::add_plate_box(buf, size, &video::meta_detection(d, state.label.clone()), *parent);
        }
        gst::trace!(CAT, imp = self, "frame {index}: {} plates", plates.len());
        Ok(gst::FlowSuccess::Ok)
    }
}

/// `v` as an input side: a multiple of the stride, rounded down, never below it.
fn stride_multiple(v: u32) -> u32 {
    let stride = crops::STRIDE as u32;
    (v / stride).max(1) * stride
}

/// The whole pixels a box covers, `x, y, w, h`.
fn crop_extent(bbox: &PixelBox) -> [usize; 4] {
    let x1 = bbox.x1.floor().max(0.0) as usize;
    let y1 = bbox.y1.floor().max(0.0) as usize;
    let x2 = bbox.x2.ceil().max(0.0) as usize;
    let y2 = bbox.y2.ceil().max(0.0) as usize;
    [x1, y1, x2.saturating_sub(x1), y2.saturating_sub(y1)]
}

/// A vehicle box as a crop rectangle `x, y, w, h` inside the frame; `None` when degenerate.
/// On YUV frames the corner moves to even coordinates, where `Frame::crop` cuts them (their
/// chroma is subsampled by two), and the size grows to still reach the box's far edges: the
/// rectangle is the crop the detector gets, pixel for pixel.
fn crop_rect(bbox: &PixelBox, frame: &Frame) -> Option<[usize; 4]> {
    let [x1, y1, w, h] = crop_extent(bbox);
    let x2 = (x1 + w).min(frame.width);
    let y2 = (y1 + h).min(frame.height);
    let (x1, y1) = frame.crop_corner(x1, y1);
    (x2 > x1 + 1 && y2 > y1 + 1 && x1 < frame.width && y1 < frame.height).then_some([x1, y1, x2 - x1, y2 - y1])
}

/// The best plate inside each vehicle box, in frame pixels, with the vehicle's ROI id.
fn search_vehicles(
    model: &mut PlateModel,
    frame: &Frame,
    vehicles: &[&Vehicle],
    max_input: u32,
    inference: impl FnMut(usize, Duration),
) -> Result<Vec<(Detection, i32)>, VisionError> {
    let crops = vehicles
        .iter()
        .filter_map(|v| crop_rect(&v.bbox, frame).map(|r| (r, v.roi_id)))
        .map(|([x, y, w, h], roi_id)| frame.crop(x, y, w, h).map(|c| (c, roi_id)))
        .collect::<Result<Vec<_>, _>>()?;
    let images: Vec<Frame> = crops.iter().map(|((crop, _, _), _)| *crop).collect();
    let found = model.detect(&images, max_input, inference)?;
    Ok(crops
        .iter()
        .zip(found)
        .filter_map(|(((_, ox, oy), roi_id), dets)| {
            let best = dets.into_iter().max_by(|a, b| a.score.total_cmp(&b.score))?;
            let (ox, oy) = (*ox as f32, *oy as f32);
            let bbox = BBox::new(best.bbox.x1 + ox, best.bbox.y1 + oy, best.bbox.x2 + ox, best.bbox.y2 + oy);
            Some((Detection { bbox, ..best }, *roi_id))
        })
        .collect())
}

/// The ROI id of the vehicle holding a plate's centre, if any (the smallest such).
fn vehicle_around(plate: &Detection, vehicles: &[Vehicle]) -> i32 {
    let b = &plate.bbox;
    let (cx, cy) = ((b.x1 + b.x2) as f64 / 2.0, (b.y1 + b.y2) as f64 / 2.0);
    vehicles
        .iter()
        .filter(|v| cx >= v.bbox.x1 && cx <= v.bbox.x2 && cy >= v.bbox.y1 && cy <= v.bbox.y2)
        .min_by(|a, b| (a.bbox.width() * a.bbox.height()).total_cmp(&(b.bbox.width() * b.bbox.height())))
        .map_or(NO_PARENT, |v| v.roi_id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use traffic_vision::frame::YuvToRgb;
    use traffic_vision::{PixelFormat, YuvMatrix};

    /// The rectangle asked for is the crop one gets, and it covers the whole box,
    /// at odd offsets on YUV frames too.
    #[test]
    fn crop_rectangles_are_the_crops_and_cover_the_box() {
        let (w, h) = (64usize, 48usize);
        let luma = vec![0u8; w * h];
        let chroma = vec![128u8; w / 2 * h / 2];
        let yuv = YuvToRgb::new(YuvMatrix::Bt601, false);
        let i420 = Frame::new(PixelFormat::I420, w, h, &[&luma, &chroma, &chroma], &[w, w / 2, w / 2], yuv).unwrap();
        let rgb_data = vec![0u8; w * h * 3];
        let rgb = Frame::rgb(&rgb_data, w, h).unwrap();
        for frame in [&i420, &rgb] {
            for bbox in [
                PixelBox { x1: 3.2, y1: 5.7, x2: 20.1, y2: 31.0 },
                PixelBox { x1: 10.0, y1: 4.0, x2: 30.0, y2: 20.0 },
                PixelBox { x1: 41.5, y1: 27.5, x2: 64.0, y2: 48.0 },
            ] {
                let [x, y, cw, ch] = crop_rect(&bbox, frame).expect("a crop");
                let (crop, cx, cy) = frame.crop(x, y, cw, ch).unwrap();
                assert_eq!((cx, cy, crop.width, crop.height), (x, y, cw, ch), "{:?} {bbox:?}", frame.format);
                assert!(cx as f64 <= bbox.x1 && cy as f64 <= bbox.y1, "{bbox:?}");
                assert!((cx + cw) as f64 >= bbox.x2.min(w as f64) && (cy + ch) as f64 >= bbox.y2.min(h as f64));
            }
        }
    }
}
