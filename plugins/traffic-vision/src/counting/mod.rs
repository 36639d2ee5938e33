//! Counting: tracks crossing lines (`lines`) and occupying polygons (`zones`).

pub mod lines;
pub mod zones;

pub use lines::{
    first_repeated, Anchor, CrossingCounter, CrossingEvent, Line, LineSpec, Point, Totals, TrackObservation,
};
pub use zones::{ZoneCounter, ZoneSpec};
