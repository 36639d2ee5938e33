use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant};

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::subclass::prelude::*;
use traffic_meta::{PixelBox, NO_PARENT};
use traffic_vision::plates::mosaic::{self, Mosaic};
use traffic_vision::plates::schedule::{self, SearchSchedule};
use traffic_vision::{BBox, ClassFilter, DetectorConfig, Frame, VisionError, YoloDetector};

use super::Mode;
use crate::{lock, start_error, stats, video};

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new("platedetect", gst::DebugColorFlags::empty(), Some("Licence-plate detector"))
});

const DEFAULT_MODEL: &str = "platedet.onnx";
/// Tracks unseen for this many frames are forgotten.
const FORGET_AFTER: u64 = 600;

#[derive(Clone, Debug)]
struct Settings {
    model: String,
    conf_threshold: f64,
    min_vehicle_size: u32,
    interval: u32,
    max_interval: u32,
    done_confidence: f64,
    mode: Mode,
    mosaic: bool,
    threads: u32,
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
            mosaic: true,
            threads: 0,
        }
    }
}

/// Running totals for the `stats` property.
#[derive(Default)]
struct Stats {
    frames: u64,
    inferences: u64,
    /// Vehicle crops searched (several per inference in a mosaic).
    crops: u64,
    plates: u64,
    /// Tracks remembered now (search schedules), and those with a read confidence from plateocr.
    tracks: u64,
    reads: u64,
    time: Duration,
}

impl Stats {
    fn structure(&self) -> gst::Structure {
        stats::structure(
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
        )
    }
}

struct TrackState {
    schedule: SearchSchedule,
    /// The track's read confidence (from plateocr) when it was last searched.
    read_at_search: f64,
    last_seen: u64,
}

struct State {
    detector: YoloDetector,
    mosaic: Mosaic,
    label: String,
    info: Option<gst_video::VideoInfo>,
    frame_index: u64,
    tracks: HashMap<u64, TrackState>,
    /// A tracker runs upstream (some vehicle carried a track ID on this stream).
    tracked_stream: bool,
}

#[derive(Default)]
pub struct PlateDetect {
    settings: Mutex<Settings>,
    state: Mutex<Option<State>>,
    /// Best `track_confidence` per track, as `plateocr` reports it upstream.
    read: Mutex<HashMap<u64, f64>>,
    /// Apart from `state`, so that reading `stats` never waits for an inference.
    stats: Mutex<Stats>,
}

/// A vehicle to search: its ROI id, track and box.
struct Vehicle {
    roi_id: i32,
    track: Option<u64>,
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
                    .blurb("Plate detector, a YOLO ONNX model (float32 or float16); empty: platedet.onnx in $TRAFFIC_WEIGHTS_DIR (the checkout's weights/)")
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
                glib::ParamSpecBoolean::builder("mosaic")
                    .nick("Mosaic")
                    .blurb("Pack up to four vehicle crops that fit a quarter of the detector input unshrunk into one inference (2x2 tiles)")
                    .default_value(d.mosaic)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt::builder("threads")
                    .nick("Threads")
                    .blurb("ONNX Runtime intra-op threads; 0: one per core")
                    .maximum(256)
                    .default_value(d.threads)
                    .mutable_ready()
                    .build(),
                stats::property("frames, inferences, crops (vehicles searched), plates, tracks remembered and those with a read from plateocr (reads), and mean milliseconds per inference and per crop (crop, letterbox, model, decode)"),
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
            "mosaic" => s.mosaic = value.get().unwrap_or(s.mosaic),
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
            "mosaic" => s.mosaic.to_value(),
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
        let config = DetectorConfig {
            model: crate::model_path(&settings.model, DEFAULT_MODEL),
            conf_threshold: settings.conf_threshold as f32,
            threads: settings.threads as usize,
            classes: ClassFilter::All,
            agnostic_nms: true,
            max_det: 20,
            ..DetectorConfig::default()
        };
        gst::info!(CAT, imp = self, "loading {}", config.model.display());
        let detector = YoloDetector::load(config).map_err(|e| start_error(&e))?;
        let label = detector.names().first().cloned().unwrap_or_else(|| "plate".into());
        // The mosaic is as large as the detector's (square) input: 2x2 tiles.
        let (w, h) = detector.input_size_for(1, 1).map_err(|e| start_error(&e))?;
        let mosaic = Mosaic::new(w.min(h), 2).map_err(|e| start_error(&e))?;
        *lock(&self.state) = Some(State {
            detector,
            mosaic,
            label,
            info: None,
            frame_index: 0,
            tracks: HashMap::new(),
            tracked_stream: false,
        });
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
                state.tracks.clear();
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
        state.detector.set_thresholds(settings.conf_threshold as f32, 0.45);

        let objects = traffic_meta::objects(buf, size);
        let vehicles: Vec<Vehicle> = objects
            .iter()
            .filter(|o| !o.is_plate() && o.parent_id == NO_PARENT)
            .map(|o| Vehicle { roi_id: o.roi_id, track: o.track.as_ref().map(|t| t.id), bbox: o.bbox })
            .collect();
        // Behind a tracker, a vehicle without an ID is a detection the tracker has not confirmed
        // (too weak to start a track): searching it would cost an inference on every frame, and
        // its reads could not be voted. Without a tracker every vehicle is searched.
        state.tracked_stream |= objects.iter().any(|o| o.track.is_some());
        let tracked_stream = state.tracked_stream;
        let predicted: Vec<i32> =
            objects.iter().filter(|o| o.track.as_ref().is_some_and(|t| t.predicted)).map(|o| o.roi_id).collect();
        let whole_frame = match settings.mode {
            Mode::Frame => true,
            // Still images: no vehicle large enough to search.
            Mode::Auto => {
                !vehicles.iter().any(|v| v.bbox.width().min(v.bbox.height()) >= settings.min_vehicle_size as f64)
            }
            Mode::Vehicles => false,
        };

        // Which vehicles to search on this frame.
        let mut todo: Vec<&Vehicle> = Vec::new();
        // Tracked vehicles not due yet that fit a mosaic tile: they may fill a free one.
        let mut spare: Vec<(u64, &Vehicle, f64)> = Vec::new();
        let tile = state.mosaic.tile_size();
        let fits_tile = |v: &Vehicle| {
            let [_, _, w, h] = crop_extent(&v.bbox);
            mosaic::fits_tile(w, h, tile)
        };
        let (interval, max_interval) = (settings.interval as u64, settings.max_interval as u64);
        // Every tracked vehicle seen keeps its state, searched or not: the state, and the read
        // confidence plateocr reported, go when the track has been gone FORGET_AFTER frames.
        for id in vehicles.iter().filter_map(|v| v.track) {
            let t = state.tracks.entry(id).or_insert_with(|| TrackState {
                schedule: SearchSchedule::default(),
                read_at_search: 0.0,
                last_seen: index,
            });
            t.last_seen = index;
        }
        state.tracks.retain(|_, t| index.saturating_sub(t.last_seen) <= FORGET_AFTER);
        let reads = {
            let mut read = lock(&self.read);
            read.retain(|id, _| state.tracks.contains_key(id));
            read.len()
        };
        {
            let mut stats = lock(&self.stats);
            stats.tracks = state.tracks.len() as u64;
            stats.reads = reads as u64;
        }
        if !whole_frame {
            let read = lock(&self.read);
            for v in &vehicles {
                if predicted.contains(&v.roi_id) {
                    continue;
                }
                if v.bbox.width().min(v.bbox.height()) < settings.min_vehicle_size as f64
                    || (tracked_stream && v.track.is_none())
                {
                    continue;
                }
                if let Some(id) = v.track {
                    let read_now = read.get(&id).copied().unwrap_or(0.0);
                    // plateocr's vote is an f32: 0.9 arrives as 0.899999976.
                    if read_now + 1e-6 >= settings.done_confidence {
                        continue;
                    }
                    let Some(t) = state.tracks.get_mut(&id) else { continue };
                    let progress = read_now > t.read_at_search;
                    if !t.schedule.due(index, video::vision_box(&v.bbox), progress, interval, max_interval) {
                        if settings.mosaic && fits_tile(v) {
                            spare.push((id, v, read_now));
                        }
                        continue;
                    }
                    t.read_at_search = read_now;
                }
                todo.push(v);
            }
        }
        // A mosaic that runs anyway searches the longest-waiting spare vehicles in its free
        // tiles, at no extra inference; their schedules count it as a search.
        let capacity = state.mosaic.capacity();
        let small = todo.iter().filter(|v| fits_tile(v)).count();
        if settings.mosaic && small % capacity != 0 {
            spare.sort_by_key(|(id, _, _)| {
                std::cmp::Reverse(state.tracks.get(id).map_or(0, |t| t.schedule.since_last(index)))
            });
            for (id, v, read_now) in spare.into_iter().take(capacity - small % capacity) {
                if let Some(t) = state.tracks.get_mut(&id) {
                    let progress = read_now > t.read_at_search;
                    t.schedule.searched(index, video::vision_box(&v.bbox), progress, interval, max_interval);
                    t.read_at_search = read_now;
                }
                todo.push(v);
            }
        }
        let searched = !todo.is_empty();
        if !whole_frame && todo.is_empty() {
            return Ok(gst::FlowSuccess::Ok);
        }

        // (plate detection, parent ROI id), and the inferences that found them.
        let (mut inferences, mut time) = (0, Duration::ZERO);
        let plates = video::read_frame(self, buf, &info, "plate detection", |frame| {
            let mut plates = Vec::new();
            if !whole_frame {
                let t0 = Instant::now();
                (plates, inferences) =
                    search_vehicles(&mut state.detector, &mut state.mosaic, frame, &todo, settings.mosaic)?;
                time += t0.elapsed();
            }
            // auto: a frame whose vehicles showed no plate is searched whole (close-ups where the
            // vehicle box is cut by the frame or misses the plate).
            if whole_frame || (settings.mode == Mode::Auto && plates.is_empty() && searched) {
                let t0 = Instant::now();
                let dets = state.detector.detect(frame)?;
                time += t0.elapsed();
                inferences += 1;
                plates.extend(dets.into_iter().map(|d| {
                    let parent = vehicle_around(&d, &vehicles);
                    (d, parent)
                }));
            }
            Ok(plates)
        })?;
        {
            let mut totals = lock(&self.stats);
            totals.inferences += inferences;
            totals.time += time;
            totals.crops += todo.len() as u64;
            totals.plates += plates.len() as u64;
        }
        for (d, parent) in &plates {
            traffic_meta::add_plate_box(buf, size, &video::meta_detection(d, state.label.clone()), *parent);
        }
        gst::trace!(CAT, imp = self, "frame {index}: {} plates", plates.len());
        Ok(gst::FlowSuccess::Ok)
    }
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
/// rectangle is the crop the mosaic plan gets, pixel for pixel.
fn crop_rect(bbox: &PixelBox, frame: &Frame) -> Option<[usize; 4]> {
    let [x1, y1, w, h] = crop_extent(bbox);
    let x2 = (x1 + w).min(frame.width);
    let y2 = (y1 + h).min(frame.height);
    let (x1, y1) = frame.crop_corner(x1, y1);
    (x2 > x1 + 1 && y2 > y1 + 1 && x1 < frame.width && y1 < frame.height).then_some([x1, y1, x2 - x1, y2 - y1])
}

/// The best plate inside each vehicle box, in frame pixels, with the vehicle's ROI id, and the
/// number of inferences run. Small crops share an inference in a mosaic (when `use_mosaic`); the
/// others take the input alone.
fn search_vehicles(
    detector: &mut YoloDetector,
    mosaic: &mut Mosaic,
    frame: &Frame,
    vehicles: &[&Vehicle],
    use_mosaic: bool,
) -> Result<(Vec<(traffic_vision::Detection, i32)>, u64), VisionError> {
    let rects: Vec<([usize; 4], i32)> =
        vehicles.iter().filter_map(|v| crop_rect(&v.bbox, frame).map(|r| (r, v.roi_id))).collect();
    let sizes: Vec<(usize, usize)> = rects.iter().map(|([_, _, w, h], _)| (*w, *h)).collect();
    let per_input = if use_mosaic { mosaic.capacity() } else { 1 };
    let groups = mosaic::plan(&sizes, mosaic.tile_size(), per_input);
    let inferences = groups.len() as u64;
    let mut plates = Vec::new();
    for group in groups {
        let crops = group
            .iter()
            .map(|&i| {
                let [x, y, w, h] = rects[i].0;
                frame.crop(x, y, w, h)
            })
            .collect::<Result<Vec<_>, _>>()?;
        let found: Vec<Option<traffic_vision::Detection>> = if let [(crop, ox, oy)] = &crops[..] {
            let best = detector.detect(crop)?.into_iter().max_by(|a, b| a.score.total_cmp(&b.score));
            let (ox, oy) = (*ox as f32, *oy as f32);
            vec![best.map(|d| traffic_vision::Detection {
                bbox: BBox::new(d.bbox.x1 + ox, d.bbox.y1 + oy, d.bbox.x2 + ox, d.bbox.y2 + oy),
                ..d
            })]
        } else {
            let input = mosaic.compose(&crops)?;
            let dets = detector.detect(&input)?;
            mosaic.best_per_crop(&dets)
        };
        for (&i, d) in group.iter().zip(found) {
            if let Some(d) = d {
                plates.push((d, rects[i].1));
            }
        }
    }
    Ok((plates, inferences))
}

/// The ROI id of the vehicle holding a plate's centre, if any (the smallest such).
fn vehicle_around(plate: &traffic_vision::Detection, vehicles: &[Vehicle]) -> i32 {
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

    /// The rectangle the mosaic plan sizes is the crop it gets, and it covers the whole box,
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
