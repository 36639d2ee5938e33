//! Vehicle and plate detection: letterboxing a frame, running a YOLO model and decoding its output.

pub mod crops;
pub mod detector;
pub mod letterbox;
pub mod raw_head;
pub mod yolo;

pub use crops::{CropDetector, CropDetectorConfig};
pub use detector::{ClassFilter, DetectorConfig, StageTimes, YoloDetector};
pub use letterbox::Letterbox;
pub use yolo::OutputLayout;
