//! The metadata contract of the traffic plugins (the README's "Metadata" section), and the only code that knows
//! its names. Objects travel as `GstVideoRegionOfInterestMeta` with plain `GstStructure`
//! params, the convention of Intel DL Streamer, readable from any language through
//! GObject introspection:
//!
//! | param       | fields |
//! |-------------|--------|
//! | `detection` | `label` str, `label_id` uint, `confidence` double, `x_min y_min x_max y_max` double (0..1) |
//! | `object_id` | `id` uint64, `age` uint (frames), `predicted` bool, `label` str and `label_id` uint (the track's majority class), `speed_kmh` double (linecounter with a calibration, once the track is long enough) |
//! | `plate`     | `text` str, `confidence` double, `track_text` str, `track_confidence` double |
//!
//! Plate boxes are child ROIs of type [`PLATE_ROI_TYPE`] whose `parent_id` is the vehicle ROI's id.
//!
//! Frame-level results travel in custom metas, see [`frame`]: whether a detector ran, and the
//! line and zone counts. The counter's bus messages are built and read in [`messages`], the
//! events between elements in [`events`], and what `trafficsrc` tells of its camera in
//! [`source`].

pub mod events;
pub mod frame;
pub mod messages;
pub mod source;
mod totals;
pub use events::{is_plate_read, plate_read_event, read_plate_read, PlateRead, PLATE_READ_EVENT};
pub use frame::{
    bins, counts, counts_structure, detected, detected_by, read_counts, set_bins, set_counts, set_detected,
    set_detected_by, Bin, BinCount, ClassTotal, Counts, Crossing, LineTotals, ZoneEvent, ZoneEventKind, ZoneOccupant,
    ZoneState,
};
pub use messages::{
    bin_structure, crossing_structure, read_bin, read_crossing, read_summary, read_wrong_way, read_zone,
    summary_structure, wrong_way_structure, zone_structure, CrossingMessage, Summary, ZoneMessage, BIN_MESSAGE,
    CROSSING_MESSAGE, SUMMARY_MESSAGE, WRONG_WAY_MESSAGE, ZONE_MESSAGE,
};
pub use source::{
    read_source, read_source_stats, source_stats_structure, source_structure, Retry, SourceMessage, SourceState,
    SourceStats, SOURCE_MESSAGE, SOURCE_STATS,
};

use gst::glib::translate::ToGlibPtr;
use gst_video::VideoRegionOfInterestMeta;

pub const DETECTION: &str = "detection";
pub const OBJECT_ID: &str = "object_id";
pub const PLATE: &str = "plate";
/// `roi_type` of a licence-plate box.
pub const PLATE_ROI_TYPE: &str = "license_plate";
/// `parent_id` of a top-level ROI.
pub const NO_PARENT: i32 = -1;

/// Size of the frame the metadata is on: the normalised coordinates are relative to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameSize {
    pub width: u32,
    pub height: u32,
}

/// A box in frame pixels.
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub struct PixelBox {
    pub x1: f64,
    pub y1: f64,
    pub x2: f64,
    pub y2: f64,
}

impl PixelBox {
    pub fn width(&self) -> f64 {
        (self.x2 - self.x1).max(0.0)
    }

    pub fn height(&self) -> f64 {
        (self.y2 - self.y1).max(0.0)
    }

    /// The integer rectangle of the ROI meta (x, y, w, h), inside the frame.
    fn rect(&self, size: FrameSize) -> (u32, u32, u32, u32) {
        let (fw, fh) = (size.width as f64, size.height as f64);
        let x = self.x1.clamp(0.0, fw).floor();
        let y = self.y1.clamp(0.0, fh).floor();
        let x2 = self.x2.clamp(0.0, fw).ceil();
        let y2 = self.y2.clamp(0.0, fh).ceil();
        (x as u32, y as u32, (x2 - x) as u32, (y2 - y) as u32)
    }
}

/// What a detector found.
#[derive(Clone, Debug, PartialEq)]
pub struct Detection {
    pub label: String,
    pub label_id: u32,
    pub confidence: f64,
    pub bbox: PixelBox,
}

/// The track an object belongs to.
#[derive(Clone, Debug, PartialEq)]
pub struct Track {
    /// Unique per stream, never reused.
    pub id: u64,
    /// Frames since the track was born.
    pub age: u32,
    /// The box comes from the motion model, not from a detection on this frame.
    pub predicted: bool,
    /// The track's class: the majority over its life, steadier than one frame's detection.
    pub label: String,
    pub label_id: u32,
    /// Its speed over the ground (linecounter with a calibration, once the track is long enough).
    pub speed_kmh: Option<f64>,
}

/// The text read from a plate.
#[derive(Clone, Debug, PartialEq)]
pub struct Plate {
    /// Raw read of this frame.
    pub text: String,
    pub confidence: f64,
    /// Best text voted over the track so far.
    pub track_text: String,
    pub track_confidence: f64,
}

/// One ROI of a buffer with everything our elements attached to it.
#[derive(Clone, Debug, PartialEq)]
pub struct Object {
    pub roi_id: i32,
    pub parent_id: i32,
    pub roi_type: String,
    pub bbox: PixelBox,
    pub detection: Option<Detection>,
    pub track: Option<Track>,
    pub plate: Option<Plate>,
}

impl Object {
    /// The class label: the detection's, else the ROI type.
    pub fn label(&self) -> &str {
        self.detection.as_ref().map_or(&self.roi_type, |d| &d.label)
    }

    pub fn is_plate(&self) -> bool {
        self.roi_type == PLATE_ROI_TYPE
    }
}

fn detection_structure(det: &Detection, size: FrameSize) -> gst::Structure {
    let (w, h) = (size.width.max(1) as f64, size.height.max(1) as f64);
    gst::Structure::builder(DETECTION)
        .field("label", det.label.as_str())
        .field("label_id", det.label_id)
        .field("confidence", det.confidence)
        .field("x_min", det.bbox.x1 / w)
        .field("y_min", det.bbox.y1 / h)
        .field("x_max", det.bbox.x2 / w)
        .field("y_max", det.bbox.y2 / h)
        .build()
}

/// Attaches a detection as a new ROI; `roi_type` is the label. Returns the ROI id, unique on
/// this buffer.
pub fn add_detection(buffer: &mut gst::BufferRef, size: FrameSize, det: &Detection, parent_id: i32) -> i32 {
    add_roi(buffer, size, &det.label, det, parent_id)
}

/// Attaches a licence-plate box as a child ROI of the vehicle ROI `parent_id`.
pub fn add_plate_box(buffer: &mut gst::BufferRef, size: FrameSize, det: &Detection, parent_id: i32) -> i32 {
    add_roi(buffer, size, PLATE_ROI_TYPE, det, parent_id)
}

fn add_roi(buffer: &mut gst::BufferRef, size: FrameSize, roi_type: &str, det: &Detection, parent_id: i32) -> i32 {
    let id = buffer.iter_meta::<VideoRegionOfInterestMeta>().map(|m| m.id()).max().unwrap_or(0).max(0) + 1;
    let mut meta = VideoRegionOfInterestMeta::add(buffer, roi_type, det.bbox.rect(size));
    meta.set_id(id);
    meta.set_parent_id(parent_id);
    meta.add_param(detection_structure(det, size));
    id
}

/// Sets (or replaces) the track of ROI `roi_id`. False when there is no such ROI.
pub fn set_track(buffer: &mut gst::BufferRef, roi_id: i32, track: &Track) -> bool {
    let s = gst::Structure::builder(OBJECT_ID)
        .field("id", track.id)
        .field("age", track.age)
        .field("predicted", track.predicted)
        .field("label", track.label.as_str())
        .field("label_id", track.label_id)
        .field_if_some("speed_kmh", track.speed_kmh)
        .build();
    upsert_param(buffer, roi_id, s)
}

/// Sets the speed (km/h) of the tracked object of ROI `roi_id` in its `object_id` param. False
/// when there is no such ROI.
pub fn set_speed(buffer: &mut gst::BufferRef, roi_id: i32, speed_kmh: f64) -> bool {
    upsert_param(buffer, roi_id, gst::Structure::builder(OBJECT_ID).field("speed_kmh", speed_kmh).build())
}

/// Sets (or replaces) the plate text of plate ROI `roi_id`. False when there is no such ROI.
pub fn set_plate(buffer: &mut gst::BufferRef, roi_id: i32, plate: &Plate) -> bool {
    let s = gst::Structure::builder(PLATE)
        .field("text", plate.text.as_str())
        .field("confidence", plate.confidence)
        .field("track_text", plate.track_text.as_str())
        .field("track_confidence", plate.track_confidence)
        .build();
    upsert_param(buffer, roi_id, s)
}

/// Moves ROI `roi_id` to `bbox` and updates its detection fields.
pub fn set_detection(buffer: &mut gst::BufferRef, size: FrameSize, roi_id: i32, det: &Detection) -> bool {
    let mut found = false;
    for mut meta in buffer.iter_meta_mut::<VideoRegionOfInterestMeta>() {
        if meta.id() == roi_id {
            meta.set_rect(det.bbox.rect(size));
            found = true;
        }
    }
    found && upsert_param(buffer, roi_id, detection_structure(det, size))
}

fn upsert_param(buffer: &mut gst::BufferRef, roi_id: i32, param: gst::Structure) -> bool {
    for mut meta in buffer.iter_meta_mut::<VideoRegionOfInterestMeta>() {
        if meta.id() != roi_id {
            continue;
        }
        // The safe API can add params but not reach an existing one mutably; the C API can.
        let existing = unsafe {
            let ptr = gst_video::ffi::gst_video_region_of_interest_meta_get_param(
                meta.as_mut_ptr(),
                ToGlibPtr::<*const std::ffi::c_char>::to_glib_none(param.name().as_str()).0,
            );
            (!ptr.is_null()).then(|| gst::StructureRef::from_glib_borrow_mut(ptr))
        };
        match existing {
            Some(s) => {
                for (field, value) in param.iter() {
                    s.set_value(field, value.clone());
                }
            }
            None => meta.add_param(param),
        }
        return true;
    }
    false
}

/// Every ROI on the buffer, in the order they were attached.
pub fn objects(buffer: &gst::BufferRef, size: FrameSize) -> Vec<Object> {
    buffer.iter_meta::<VideoRegionOfInterestMeta>().map(|m| read_object(&m, size)).collect()
}

fn read_object(meta: &VideoRegionOfInterestMeta, size: FrameSize) -> Object {
    let (x, y, w, h) = meta.rect();
    let rect_box = PixelBox { x1: x as f64, y1: y as f64, x2: (x + w) as f64, y2: (y + h) as f64 };
    let detection = meta.param(DETECTION).map(|s| read_detection(s, size, rect_box, meta.roi_type()));
    let track = meta.param(OBJECT_ID).and_then(|s| {
        Some(Track {
            id: s.get::<u64>("id").ok()?,
            age: s.get::<u32>("age").unwrap_or(0),
            predicted: s.get::<bool>("predicted").unwrap_or(false),
            label: s.get::<String>("label").unwrap_or_else(|_| meta.roi_type().to_string()),
            label_id: s.get::<u32>("label_id").unwrap_or(0),
            speed_kmh: s.get::<f64>("speed_kmh").ok(),
        })
    });
    let plate = meta.param(PLATE).and_then(|s| {
        Some(Plate {
            text: s.get::<String>("text").ok()?,
            confidence: s.get::<f64>("confidence").unwrap_or(0.0),
            track_text: s.get::<String>("track_text").unwrap_or_default(),
            track_confidence: s.get::<f64>("track_confidence").unwrap_or(0.0),
        })
    });
    Object {
        roi_id: meta.id(),
        parent_id: meta.parent_id(),
        roi_type: meta.roi_type().to_string(),
        bbox: detection.as_ref().map_or(rect_box, |d| d.bbox),
        detection,
        track,
        plate,
    }
}

/// Reads a `detection` param; a third-party producer may leave fields out, so every field
/// falls back to what the ROI itself says.
fn read_detection(s: &gst::StructureRef, size: FrameSize, rect_box: PixelBox, roi_type: &str) -> Detection {
    let (w, h) = (size.width as f64, size.height as f64);
    let norm = |f: &str| s.get::<f64>(f).ok();
    let bbox = match (norm("x_min"), norm("y_min"), norm("x_max"), norm("y_max")) {
        (Some(x1), Some(y1), Some(x2), Some(y2)) => PixelBox { x1: x1 * w, y1: y1 * h, x2: x2 * w, y2: y2 * h },
        _ => rect_box,
    };
    Detection {
        label: s.get::<String>("label").unwrap_or_else(|_| roi_type.to_string()),
        label_id: s.get::<u32>("label_id").unwrap_or(0),
        confidence: s.get::<f64>("confidence").unwrap_or(0.0),
        bbox,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIZE: FrameSize = FrameSize { width: 640, height: 360 };

    fn car() -> Detection {
        Detection {
            label: "car".into(),
            label_id: 2,
            confidence: 0.87,
            bbox: PixelBox { x1: 10.5, y1: 20.25, x2: 110.0, y2: 90.0 },
        }
    }

    #[test]
    fn detection_round_trips_with_subpixel_box() {
        gst::init().unwrap();
        let mut buffer = gst::Buffer::new();
        let b = buffer.get_mut().unwrap();
        let id = add_detection(b, SIZE, &car(), NO_PARENT);
        let objs = objects(b, SIZE);
        assert_eq!(objs.len(), 1);
        let o = &objs[0];
        assert_eq!((o.roi_id, o.parent_id, o.roi_type.as_str()), (id, NO_PARENT, "car"));
        let d = o.detection.as_ref().unwrap();
        assert_eq!((d.label.as_str(), d.label_id, d.confidence), ("car", 2, 0.87));
        assert!((d.bbox.x1 - 10.5).abs() < 1e-9 && (d.bbox.y1 - 20.25).abs() < 1e-9);
        // The integer ROI rectangle covers the box.
        let roi = b.meta::<VideoRegionOfInterestMeta>().unwrap();
        assert_eq!(roi.rect(), (10, 20, 100, 70));
    }

    #[test]
    fn track_and_plate_are_set_and_replaced() {
        gst::init().unwrap();
        let mut buffer = gst::Buffer::new();
        let b = buffer.get_mut().unwrap();
        let car_id = add_detection(b, SIZE, &car(), NO_PARENT);
        let track = |age, predicted| Track { id: 7, age, predicted, label: "car".into(), label_id: 2, speed_kmh: None };
        assert!(set_track(b, car_id, &track(3, false)));
        assert!(set_track(b, car_id, &track(4, true)));
        let plate_det = Detection { label: "plate".into(), label_id: 0, confidence: 0.6, ..car() };
        let plate_id = add_plate_box(b, SIZE, &plate_det, car_id);
        let plate = Plate { text: "AB12".into(), confidence: 0.9, track_text: "AB123".into(), track_confidence: 0.8 };
        assert!(set_plate(b, plate_id, &plate));
        assert!(!set_track(b, 99, &track(0, false)));

        let objs = objects(b, SIZE);
        assert_eq!(objs[0].track, Some(track(4, true)));
        let roi = b.iter_meta::<VideoRegionOfInterestMeta>().next().unwrap();
        assert_eq!(roi.params().filter(|p| p.name() == OBJECT_ID).count(), 1, "replaced, not duplicated");
        assert!(objs[1].is_plate());
        assert_eq!(objs[1].parent_id, car_id);
        assert_eq!(objs[1].plate.as_ref(), Some(&plate));
        assert_ne!(plate_id, car_id);
        assert_eq!(objects(b, SIZE)[0].track.as_ref().and_then(|t| t.speed_kmh), None);
        assert!(set_speed(b, car_id, 31.25));
        let with_speed = Track { speed_kmh: Some(31.25), ..track(4, true) };
        assert_eq!(objects(b, SIZE)[0].track, Some(with_speed.clone()), "the track is kept beside its speed");
        assert!(set_track(b, car_id, &with_speed));
        assert_eq!(objects(b, SIZE)[0].track, Some(with_speed), "set_track writes the speed too");
    }

    #[test]
    fn foreign_rois_without_params_are_read_from_the_rectangle() {
        gst::init().unwrap();
        let mut buffer = gst::Buffer::new();
        let b = buffer.get_mut().unwrap();
        VideoRegionOfInterestMeta::add(b, "face", (5, 6, 7, 8));
        let o = &objects(b, SIZE)[0];
        assert_eq!(o.label(), "face");
        assert_eq!(o.bbox, PixelBox { x1: 5.0, y1: 6.0, x2: 12.0, y2: 14.0 });
        assert!(o.detection.is_none());
    }
}
