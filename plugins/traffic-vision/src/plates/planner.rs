//! Which vehicles `platedetect` searches on a frame: large enough to read, confirmed by the
//! tracker when one runs, not read well enough yet, and due by their track's search schedule.
//! It remembers each track's schedule and best read, and forgets both with the track.

use std::collections::HashMap;

use super::schedule::SearchSchedule;
use crate::BBox;

/// Tracks unseen for this many frames are forgotten.
pub const FORGET_AFTER: u64 = 600;

#[derive(Clone, Debug)]
pub struct PlannerConfig {
    /// Vehicles whose box's shorter side is below this (pixels) are not searched.
    pub min_vehicle_size: f64,
    /// Frames between searches of a track at first, and the most the backoff waits.
    pub interval: u64,
    pub max_interval: u64,
    /// A track whose read confidence reaches this is not searched again.
    pub done_confidence: f64,
}

impl PlannerConfig {
    /// Whether a vehicle box is large enough for its plate to be read.
    pub fn large_enough(&self, bbox: &BBox) -> bool {
        bbox.width().min(bbox.height()) as f64 >= self.min_vehicle_size
    }
}

/// A vehicle on the current frame.
#[derive(Clone, Copy, Debug)]
pub struct Vehicle {
    pub track: Option<u64>,
    pub bbox: BBox,
    /// The tracker only predicted the box (the vehicle was not detected on this frame).
    pub predicted: bool,
}

struct TrackState {
    schedule: SearchSchedule,
    /// The track's read confidence when it was last searched.
    read_at_search: f64,
    last_seen: u64,
}

#[derive(Default)]
pub struct SearchPlanner {
    tracks: HashMap<u64, TrackState>,
    /// Best read confidence per track, as the OCR reports it.
    read: HashMap<u64, f64>,
    /// A tracker runs upstream (some vehicle carried a track ID on this stream).
    tracked_stream: bool,
}

impl SearchPlanner {
    /// Records a read of `track` (kept while the track is remembered).
    pub fn record_read(&mut self, track: u64, confidence: f64) {
        let c = self.read.entry(track).or_insert(0.0);
        *c = c.max(confidence);
    }

    /// Forgets every track (a flush: what follows is another scene).
    pub fn clear(&mut self) {
        self.tracks.clear();
        self.read.clear();
    }

    /// Tracks remembered, and those with a read.
    pub fn tracks(&self) -> usize {
        self.tracks.len()
    }

    pub fn reads(&self) -> usize {
        self.read.len()
    }

    /// The indices of the vehicles to search on frame `index`; their schedules count the search.
    pub fn plan(&mut self, index: u64, vehicles: &[Vehicle], config: &PlannerConfig) -> Vec<usize> {
        // Behind a tracker, a vehicle without an ID is a detection the tracker has not confirmed
        // (too weak to start a track): searching it would cost an inference on every frame, and
        // its reads could not be voted. Without a tracker every vehicle is searched.
        self.tracked_stream |= vehicles.iter().any(|v| v.track.is_some());
        // Every tracked vehicle seen keeps its state, searched or not; it goes, with its read,
        // when the track has been gone FORGET_AFTER frames.
        for id in vehicles.iter().filter_map(|v| v.track) {
            let t = self.tracks.entry(id).or_insert_with(|| TrackState {
                schedule: SearchSchedule::default(),
                read_at_search: 0.0,
                last_seen: index,
            });
            t.last_seen = index;
        }
        self.tracks.retain(|_, t| index.saturating_sub(t.last_seen) <= FORGET_AFTER);
        let tracks = &self.tracks;
        self.read.retain(|id, _| tracks.contains_key(id));

        let mut todo = Vec::new();
        for (i, v) in vehicles.iter().enumerate() {
            if v.predicted || !config.large_enough(&v.bbox) || (self.tracked_stream && v.track.is_none()) {
                continue;
            }
            if let Some(id) = v.track {
                let read_now = self.read.get(&id).copied().unwrap_or(0.0);
                // The OCR's vote is an f32: 0.9 arrives as 0.899999976.
                if read_now + 1e-6 >= config.done_confidence {
                    continue;
                }
                let Some(t) = self.tracks.get_mut(&id) else { continue };
                let progress = read_now > t.read_at_search;
                if !t.schedule.due(index, v.bbox, progress, config.interval, config.max_interval) {
                    continue;
                }
                t.read_at_search = read_now;
            }
            todo.push(i);
        }
        todo
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: PlannerConfig =
        PlannerConfig { min_vehicle_size: 172.0, interval: 5, max_interval: 160, done_confidence: 0.9 };

    fn car(track: Option<u64>) -> Vehicle {
        Vehicle { track, bbox: BBox::new(100.0, 100.0, 400.0, 300.0), predicted: false }
    }

    #[test]
    fn small_and_predicted_vehicles_are_not_searched() {
        let mut p = SearchPlanner::default();
        let small = Vehicle { bbox: BBox::new(0.0, 0.0, 300.0, 171.0), ..car(None) };
        let predicted = Vehicle { predicted: true, ..car(None) };
        assert_eq!(p.plan(0, &[small, car(None), predicted], &CONFIG), vec![1]);
        // Untracked vehicles are searched on every frame while no tracker runs.
        assert_eq!(p.plan(1, &[car(None)], &CONFIG), vec![0]);
    }

    #[test]
    fn behind_a_tracker_unconfirmed_vehicles_wait_for_their_track() {
        let mut p = SearchPlanner::default();
        assert_eq!(p.plan(0, &[car(Some(1)), car(None)], &CONFIG), vec![0]);
        assert!(p.plan(1, &[car(None)], &CONFIG).is_empty());
    }

    #[test]
    fn a_track_is_searched_by_its_schedule_until_read_well_enough() {
        let mut p = SearchPlanner::default();
        let searched: Vec<u64> = (0..20).filter(|&i| !p.plan(i, &[car(Some(7))], &CONFIG).is_empty()).collect();
        // Parked and unread: the wait doubles (5, 10).
        assert_eq!(searched, vec![0, 5, 15]);
        // A better read brings the next search back to the base interval; a read at
        // done-confidence (as the OCR's f32 reports 0.9) ends the searches.
        p.record_read(7, 0.5);
        assert!(!p.plan(20, &[car(Some(7))], &CONFIG).is_empty(), "the read improved: due after 5 frames");
        p.record_read(7, 0.899_999_976);
        assert!((21..400).all(|i| p.plan(i, &[car(Some(7))], &CONFIG).is_empty()));
        assert_eq!((p.tracks(), p.reads()), (1, 1));
    }

    #[test]
    fn memory_stays_bounded_over_ten_thousand_tracks() {
        let mut p = SearchPlanner::default();
        for id in 0..10_000u64 {
            p.plan(id, &[car(Some(id))], &CONFIG);
            p.record_read(id, 0.5);
            assert!(p.tracks() <= FORGET_AFTER as usize + 1 && p.reads() <= FORGET_AFTER as usize + 1);
        }
        assert_eq!(p.tracks(), FORGET_AFTER as usize + 1);
        p.clear();
        assert_eq!((p.tracks(), p.reads()), (0, 0));
    }
}
