//! The vision core of the traffic plugins, with no GStreamer in it, grouped by stage: `detect`
//! (letterbox, YOLO decoding), `tracker`, `plates` (search planner and schedule, OCR, votes),
//! `counting` (lines, zones) and `draw`; beside them frames, boxes/NMS and the ONNX Runtime
//! sessions. The element shells in `plugins/traffic` map buffers into [`Frame`]s and call into here.

pub mod counting;
pub mod detect;
pub mod detection;
pub mod draw;
pub mod error;
pub mod frame;
pub mod plates;
pub mod runtime;
pub mod tracker;

pub use detect::{ClassFilter, DetectorConfig, Letterbox, OutputLayout, StageTimes, YoloDetector};
pub use detection::{nms, BBox, Detection};
pub use error::VisionError;
pub use frame::{Frame, PixelFormat, YuvMatrix};
pub use tracker::{Algorithm, TrackedObject, Tracker, TrackerConfig};
