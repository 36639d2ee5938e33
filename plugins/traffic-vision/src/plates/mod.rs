//! Licence plates: which vehicles to search and when (planner, schedule), reading the text (ocr)
//! and voting over a track's reads (vote).

pub mod ocr;
pub mod planner;
pub mod schedule;
pub mod vote;
