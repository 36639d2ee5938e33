//! The vision core of the traffic plugins, with no GStreamer in it: frames, letterbox,
//! YOLO output decoding, NMS and the ONNX Runtime sessions. The element shells in
//! `plugins/traffic` map buffers into [`Frame`]s and call into here.

pub mod counting;
pub mod detection;
pub mod detector;
pub mod draw;
pub mod error;
pub mod frame;
pub mod letterbox;
pub mod ocr;
pub mod plate_mosaic;
pub mod plate_schedule;
pub mod plate_vote;
pub mod runtime;
pub mod tracker;
pub mod yolo;
pub mod zones;

pub use detection::{nms, BBox, Detection};
pub use detector::{ClassFilter, DetectorConfig, StageTimes, YoloDetector};
pub use error::VisionError;
pub use frame::{Frame, PixelFormat, YuvMatrix};
pub use letterbox::Letterbox;
pub use tracker::{Algorithm, TrackedObject, Tracker, TrackerConfig};
pub use yolo::OutputLayout;
