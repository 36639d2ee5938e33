//! Counting: tracks crossing lines (`lines`) and occupying polygons (`zones`); with a
//! calibrated view (`calibration`) their speed (`speed`); counts per interval (`bins`).

pub mod bins;
pub mod calibration;
pub mod lines;
pub mod speed;
pub mod survey;
pub mod zones;

pub use lines::{
    first_repeated, Anchor, CrossingCounter, CrossingEvent, Line, LineSpec, Point, Totals, TrackObservation,
};
pub use zones::{ZoneCounter, ZoneSpec};
