//! Vehicle and plate detection: letterboxing a frame, running a YOLO model and decoding its output.

pub mod detector;
pub mod letterbox;
pub mod yolo;

pub use detector::{ClassFilter, DetectorConfig, StageTimes, YoloDetector};
pub use letterbox::Letterbox;
pub use yolo::OutputLayout;
