//! Licence plates: which vehicles to search (schedule), several crops in one inference (mosaic),
//! reading the text (ocr) and voting over a track's reads (vote).

pub mod mosaic;
pub mod ocr;
pub mod schedule;
pub mod vote;
