//! Multi-object tracking by detection: ByteTrack or OC-SORT behind one API.
//!
//! Both algorithms follow BoxMOT step for step: its single-file `trackers/bytetrack/bytetrack.py`
//! (ifzhang/ByteTrack's `byte_tracker.py` with `det_thresh = track_thresh`) and
//! `trackers/ocsort/ocsort.py` (noahcao/OC_SORT with BoxMOT's noise settings), so that a
//! frame-by-frame comparison with BoxMOT is meaningful. Newer BoxMOT releases split these into
//! `tracker.py` and `track.py` with the same association logic but other constructor defaults
//! (and reworked OC-SORT Kalman noise): compare with the same settings, and with a release
//! whose OC-SORT filter still has fixed noise. The `bytetrack` and `ocsort` modules list their
//! deliberate differences; those shared by both:
//!
//! - **Public IDs.** BoxMOT numbers a track at birth, so IDs of tentative tracks that never
//!   get reported are skipped. Here a track gets its [`TrackedObject::id`] the first time it
//!   is reported: IDs start at 1, are consecutive in order of first report, unique, and never
//!   reused, not even after [`Tracker::reset`]. Compare with BoxMOT through a one-to-one
//!   mapping of IDs, not their values.
//! - **Classes.** BoxMOT (with `per_class=False`) matches across classes and reports the
//!   class of the last detection. Here the reported class is always the confidence-weighted
//!   majority over the track's life ([`TrackedObject::class_id`]). Without
//!   [`TrackerConfig::class_flicker`] a track only matches detections of its own class, like
//!   BoxMOT's `per_class=True` (one tracker per class); with it, any class matches any, like
//!   `per_class=False` — the detector's class filter is what keeps this to vehicle classes.
//! - **Unfit detections** (non-finite coordinates or score, zero or negative width or height)
//!   are ignored; `det_index` still refers to the caller's slice.
//! - **Skipped frames.** [`Tracker::predict_only`] advances the motion model one frame for a
//!   frame the detector did not run on; BoxMOT has no such call. Every frame, detected or
//!   not, counts towards a track's age and towards the deletion of lost tracks
//!   (`track_buffer` is in video frames), so skipped frames age tracks exactly as real frames
//!   do, no faster. The rules about the start of the stream (ByteTrack confirms every track
//!   born on the first frame; OC-SORT reports every track during the first `min_hits`
//!   frames) and OC-SORT's hit streak count detector frames, i.e. [`Tracker::update`] calls.
//!   With a detection on every frame all of this is exactly BoxMOT's behaviour.
//!
//! What is returned: [`Tracker::update`] returns the confirmed tracks matched to a detection
//! on this frame (`predicted == false`, `det_index` set), in BoxMOT's output order. Lost
//! tracks are kept for `track_buffer` frames to be found again, but are not returned.
//! [`Tracker::predict_only`] returns the tracks the last `update` returned, with boxes moved
//! by the motion model (`predicted == true`, `det_index == None`).

pub mod assignment;
mod bytetrack;
mod class_vote;
mod geometry;
mod kalman;
mod ocsort;
mod sort_kalman;
#[cfg(test)]
mod tests;

use crate::{BBox, Detection};
use bytetrack::ByteTrack;
use ocsort::OcSort;

/// The association algorithm.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Algorithm {
    /// ByteTrack: IoU association of high-score detections, then of low-score ones.
    #[default]
    ByteTrack,
    /// OC-SORT: IoU plus motion-direction association with observation-centric re-update
    /// and recovery.
    OcSort,
}

/// Tracker settings. [`TrackerConfig::bytetrack`] and [`TrackerConfig::ocsort`] give the
/// defaults of BoxMOT's tracker constructors for each algorithm; fields say which algorithm
/// reads them.
#[derive(Clone, Debug, PartialEq)]
pub struct TrackerConfig {
    pub algorithm: Algorithm,
    /// ByteTrack (`track_thresh`, 0.45): detections scoring above it enter the first
    /// association. OC-SORT (`det_thresh`, 0.2): only detections scoring above it are used.
    pub track_thresh: f32,
    /// ByteTrack (`min_conf`, 0.1): detections scoring above it and below `track_thresh`
    /// enter the second association. Not read by OC-SORT (BoxMOT's `use_byte=False`).
    pub track_thresh_low: f32,
    /// New tracks start only from unmatched detections scoring at least this. BoxMOT's
    /// ByteTrack uses `det_thresh = track_thresh` (0.45; the original ByteTrack used
    /// `track_thresh + 0.1`); OC-SORT starts a track from any detection it uses (0.2).
    pub high_thresh: f32,
    /// ByteTrack (0.8): largest score-fused IoU distance `1 − IoU·score` of a first-stage
    /// match. Not read by OC-SORT.
    pub match_thresh: f32,
    /// OC-SORT (`asso_threshold`, 0.3): smallest IoU of a match. Not read by ByteTrack
    /// (its second and third stages use BoxMOT's fixed 0.5 and 0.7 distances).
    pub iou_thresh: f32,
    /// Frames a track that lost its detection is kept to be found again: ByteTrack's
    /// `track_buffer` at 30 fps (30, as BoxMOT's config and the original ByteTrack; BoxMOT's
    /// `ByteTrack()` constructor says 25), OC-SORT's `max_age` (30).
    pub track_buffer: u32,
    /// OC-SORT (3): a track is reported once it has been matched on `min_hits` consecutive
    /// detector frames after its birth frame (BoxMOT's `hit_streak`), or at once during the
    /// first `min_hits` detector frames of the stream; after a miss the streak restarts.
    /// Not read by ByteTrack, which confirms a track on its second consecutive detection (on
    /// its first, for tracks born on the first frame of the stream).
    pub min_hits: u32,
    /// OC-SORT (3): how many frames back the motion direction is measured.
    pub delta_t: u32,
    /// OC-SORT (0.2): weight of the motion-direction consistency cost.
    pub inertia: f32,
    /// Let a track match detections of any class (true, the default, as BoxMOT's
    /// `per_class=False`) or only of its own class (false). The reported class is the
    /// track's confidence-weighted majority class either way.
    pub class_flicker: bool,
}

impl TrackerConfig {
    /// ByteTrack with BoxMOT's defaults.
    pub fn bytetrack() -> Self {
        TrackerConfig {
            algorithm: Algorithm::ByteTrack,
            track_thresh: 0.45,
            track_thresh_low: 0.1,
            high_thresh: 0.45,
            match_thresh: 0.8,
            iou_thresh: 0.3,
            track_buffer: 30,
            min_hits: 3,
            delta_t: 3,
            inertia: 0.2,
            class_flicker: true,
        }
    }

    /// OC-SORT with BoxMOT's defaults.
    pub fn ocsort() -> Self {
        TrackerConfig {
            algorithm: Algorithm::OcSort,
            track_thresh: 0.2,
            high_thresh: 0.2,
            ..TrackerConfig::bytetrack()
        }
    }
}

impl Default for TrackerConfig {
    fn default() -> Self {
        TrackerConfig::bytetrack()
    }
}

/// One confirmed track on one frame.
#[derive(Clone, Debug, PartialEq)]
pub struct TrackedObject {
    /// Public ID, assigned when the track is first reported: unique, never reused, from 1.
    pub id: u64,
    /// ByteTrack: the Kalman estimate. OC-SORT: the matched detection's box (BoxMOT reports
    /// the last observation). On `predict_only` frames: the motion model's prediction.
    pub bbox: BBox,
    /// Score of the last detection matched to the track.
    pub score: f32,
    /// The confidence-weighted majority class over the track's life.
    pub class_id: u32,
    /// Frames since the track's birth frame (0 on it), counting skipped frames.
    pub age: u32,
    /// No detection was matched to the track on this frame.
    pub predicted: bool,
    /// Index of the matched detection in the slice given to `update`.
    pub det_index: Option<usize>,
}

/// Hands out public IDs: 1, 2, 3, … for the tracker's whole life.
#[derive(Debug)]
pub(crate) struct IdAllocator {
    next: u64,
}

impl IdAllocator {
    fn new() -> Self {
        IdAllocator { next: 1 }
    }

    pub(crate) fn allocate(&mut self) -> u64 {
        let id = self.next;
        self.next += 1;
        id
    }
}

enum Engine {
    ByteTrack(ByteTrack),
    OcSort(OcSort),
}

impl Engine {
    fn new(config: &TrackerConfig) -> Self {
        match config.algorithm {
            Algorithm::ByteTrack => Engine::ByteTrack(ByteTrack::new(config)),
            Algorithm::OcSort => Engine::OcSort(OcSort::new(config)),
        }
    }
}

/// A multi-object tracker over a stream of frames.
pub struct Tracker {
    config: TrackerConfig,
    engine: Engine,
    ids: IdAllocator,
}

impl Tracker {
    pub fn new(config: TrackerConfig) -> Self {
        let engine = Engine::new(&config);
        Tracker { config, engine, ids: IdAllocator::new() }
    }

    pub fn config(&self) -> &TrackerConfig {
        &self.config
    }

    /// A frame with detections (from the detector; an empty slice is a frame on which the
    /// detector found nothing). Returns the confirmed tracks matched on this frame.
    pub fn update(&mut self, detections: &[Detection]) -> Vec<TrackedObject> {
        match &mut self.engine {
            Engine::ByteTrack(t) => t.update(detections, &mut self.ids),
            Engine::OcSort(t) => t.update(detections, &mut self.ids),
        }
    }

    /// A frame the detector skipped: advances the motion model one frame and returns the
    /// tracks the last `update` returned, with predicted boxes (`predicted = true`).
    pub fn predict_only(&mut self) -> Vec<TrackedObject> {
        match &mut self.engine {
            Engine::ByteTrack(t) => t.predict_only(),
            Engine::OcSort(t) => t.predict_only(),
        }
    }

    /// Forgets every track (on a flush or a new stream). IDs continue where they were.
    pub fn reset(&mut self) {
        self.engine = Engine::new(&self.config);
    }

    /// Forgets every track and takes new settings (a frame rate known only mid-stream).
    /// IDs continue where they were: an ID is never handed out twice.
    pub fn reconfigure(&mut self, config: TrackerConfig) {
        self.config = config;
        self.reset();
    }
}

/// Groups detections and tracks that may match: the class, or one group for all classes
/// when class flicker is allowed.
pub(crate) fn class_key(class_flicker: bool, class_id: u32) -> u32 {
    if class_flicker {
        0
    } else {
        class_id
    }
}

/// Frame counts fit a `u32` age for over four years at 30 fps; saturate beyond.
pub(crate) fn age_frames(now: u64, birth: u64) -> u32 {
    u32::try_from(now.saturating_sub(birth)).unwrap_or(u32::MAX)
}
