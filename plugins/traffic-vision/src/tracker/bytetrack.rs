//! ByteTrack, step for step as BoxMOT's `bytetrack.py` (itself ifzhang/ByteTrack's
//! `byte_tracker.py` with `det_thresh = track_thresh`):
//!
//! 1. Split detections: high (`score > track_thresh`), low (`min_conf < score <
//!    track_thresh`); a score equal to `track_thresh` is in neither, as in BoxMOT.
//! 2. Predict the confirmed tracks and the lost ones (a lost track's height velocity is
//!    zeroed first); unconfirmed tracks are not predicted.
//! 3. Match them to the high detections on `1 − IoU·score` with gate `match_thresh`.
//!    Lost tracks matched here are found again.
//! 4. Match the still-unmatched *tracked* tracks to the low detections on `1 − IoU`, gate
//!    0.5. Tracked tracks left over become lost.
//! 5. Match the unconfirmed tracks to the remaining high detections on `1 − IoU·score`, gate
//!    0.7; an unconfirmed track left over is removed. A match confirms the track.
//! 6. Start a track from every remaining high detection scoring at least `high_thresh`;
//!    it is confirmed at once only on the first frame of the stream.
//! 7. Remove lost tracks not matched for more than `track_buffer` frames, then drop the
//!    younger of any tracked/lost pair overlapping with IoU > 0.85.
//!
//! Kept BoxMOT quirks, for parity: a lost track that times out is only marked removed and
//! stays in the lost list one more frame, where it can still be found again; a track found
//! again after being marked removed is dropped at once the next time it is lost (its ID is
//! in BoxMOT's removed list). Track lists keep BoxMOT's order, so outputs come in BoxMOT's
//! order.
//!
//! Deliberate differences: see the module docs of `tracker` (public IDs, majority class,
//! class gating, unfit detections, `predict_only`). With class gating (no class flicker) the
//! duplicate removal of step 7 only compares tracks of one class, as BoxMOT's per-class mode
//! does. `min_hits` is not used, as in BoxMOT.

use super::assignment::{gated_assignment, CostMatrix};
use super::class_vote::ClassVote;
use super::geometry::{candidates, iou, to_bbox, xyxy_to_xyah, Candidate, Xyxy};
use super::kalman::XyahKalman;
use super::{age_frames, class_key, IdAllocator, TrackedObject, TrackerConfig};
use crate::Detection;

/// Gate of the second association (low-score detections), fixed in ByteTrack.
const LOW_SCORE_MATCH_THRESH: f64 = 0.5;
/// Gate of the unconfirmed-track association, fixed in ByteTrack.
const UNCONFIRMED_MATCH_THRESH: f64 = 0.7;
/// Tracked and lost tracks closer than this IoU distance are duplicates.
const DUPLICATE_IOU_DISTANCE: f64 = 0.15;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Tracked,
    Lost,
}

#[derive(Clone, Debug)]
struct STrack {
    kalman: XyahKalman,
    state: State,
    /// Confirmed (BoxMOT's `is_activated`).
    activated: bool,
    public_id: Option<u64>,
    class_key: u32,
    votes: ClassVote,
    score: f32,
    det_index: Option<usize>,
    start_frame: u64,
    /// Last frame the track was matched (BoxMOT's `frame_id`, `end_frame`).
    last_frame: u64,
    /// Frame on which a lost track timed out (BoxMOT's `mark_removed`).
    removed_at: Option<u64>,
}

impl STrack {
    fn new(det: &Candidate, frame: u64, activated: bool, class_flicker: bool) -> Self {
        STrack {
            kalman: XyahKalman::initiate(xyxy_to_xyah(&det.xyxy)),
            state: State::Tracked,
            activated,
            public_id: None,
            class_key: class_key(class_flicker, det.class_id),
            votes: ClassVote::new(det.class_id, det.score),
            score: det.score,
            det_index: Some(det.index),
            start_frame: frame,
            last_frame: frame,
            removed_at: None,
        }
    }

    fn predict(&mut self) {
        if self.state != State::Tracked {
            self.kalman.freeze_height();
        }
        self.kalman.predict();
    }

    /// A match: BoxMOT's `update` and `re_activate` do the same to what we keep.
    fn update(&mut self, det: &Candidate, frame: u64) {
        self.kalman.update(xyxy_to_xyah(&det.xyxy));
        self.state = State::Tracked;
        self.activated = true;
        self.last_frame = frame;
        self.score = det.score;
        self.det_index = Some(det.index);
        self.votes.add(det.class_id, det.score);
    }

    fn tracked_frames(&self) -> u64 {
        self.last_frame.saturating_sub(self.start_frame)
    }

    fn output(&self, id: u64, frame: u64, predicted: bool) -> TrackedObject {
        TrackedObject {
            id,
            bbox: to_bbox(&self.kalman.xyxy()),
            score: self.score,
            class_id: self.votes.majority(),
            age: age_frames(frame, self.start_frame),
            predicted,
            det_index: if predicted { None } else { self.det_index },
        }
    }
}

/// Where a track lives: BoxMOT's `active_tracks` or `lost_stracks`.
#[derive(Clone, Copy, Debug)]
enum Slot {
    Active(usize),
    Lost(usize),
}

pub(crate) struct ByteTrack {
    track_thresh: f32,
    track_thresh_low: f32,
    high_thresh: f32,
    match_thresh: f64,
    max_time_lost: u64,
    class_flicker: bool,
    /// Tracked tracks, confirmed or not (BoxMOT's `active_tracks`).
    active: Vec<STrack>,
    lost: Vec<STrack>,
    /// Every frame, detected or skipped.
    frame: u64,
    detector_frames: u64,
}

impl ByteTrack {
    pub fn new(config: &TrackerConfig) -> Self {
        ByteTrack {
            track_thresh: config.track_thresh,
            track_thresh_low: config.track_thresh_low,
            high_thresh: config.high_thresh,
            match_thresh: config.match_thresh as f64,
            max_time_lost: config.track_buffer as u64,
            class_flicker: config.class_flicker,
            active: Vec::new(),
            lost: Vec::new(),
            frame: 0,
            detector_frames: 0,
        }
    }

    fn track(&self, slot: Slot) -> &STrack {
        match slot {
            Slot::Active(i) => &self.active[i],
            Slot::Lost(i) => &self.lost[i],
        }
    }

    fn track_mut(&mut self, slot: Slot) -> &mut STrack {
        match slot {
            Slot::Active(i) => &mut self.active[i],
            Slot::Lost(i) => &mut self.lost[i],
        }
    }

    /// The tracks the motion model advances: confirmed tracked ones, then lost ones.
    fn pool(&self) -> Vec<Slot> {
        let confirmed = (0..self.active.len()).filter(|&i| self.active[i].activated).map(Slot::Active);
        confirmed.chain((0..self.lost.len()).map(Slot::Lost)).collect()
    }

    /// IoU distances (fused with the detection score when `fuse`), inadmissible across
    /// class groups.
    fn cost(&self, slots: &[Slot], dets: &[&Candidate], fuse: bool) -> CostMatrix {
        let boxes: Vec<(Xyxy, u32)> =
            slots.iter().map(|&s| (self.track(s).kalman.xyxy(), self.track(s).class_key)).collect();
        CostMatrix::from_fn(slots.len(), dets.len(), |t, d| {
            let (track_box, key) = &boxes[t];
            let det = dets[d];
            if *key != class_key(self.class_flicker, det.class_id) {
                return f64::INFINITY;
            }
            let similarity = iou(track_box, &det.xyxy);
            1.0 - if fuse { similarity * det.score as f64 } else { similarity }
        })
    }

    pub fn update(&mut self, detections: &[Detection], ids: &mut IdAllocator) -> Vec<TrackedObject> {
        self.frame += 1;
        self.detector_frames += 1;
        let frame = self.frame;

        let mut high = Vec::new();
        let mut low = Vec::new();
        for det in candidates(detections) {
            if det.score > self.track_thresh {
                high.push(det);
            } else if det.score > self.track_thresh_low && det.score < self.track_thresh {
                low.push(det);
            }
        }

        let pool = self.pool();
        for &slot in &pool {
            self.track_mut(slot).predict();
        }

        // First association: confirmed and lost tracks with high detections.
        let high_refs: Vec<&Candidate> = high.iter().collect();
        let first = gated_assignment(&self.cost(&pool, &high_refs, true), self.match_thresh);
        let mut refound = Vec::new(); // indices into `lost`, in match order
        for &(t, d) in &first.matches {
            let slot = pool[t];
            self.track_mut(slot).update(&high[d], frame);
            if let Slot::Lost(i) = slot {
                refound.push(i);
            }
        }

        // Second association: tracked tracks left over with low detections.
        let remaining_tracked: Vec<Slot> =
            first.unmatched_rows.iter().map(|&t| pool[t]).filter(|&s| self.track(s).state == State::Tracked).collect();
        let low_refs: Vec<&Candidate> = low.iter().collect();
        let second = gated_assignment(&self.cost(&remaining_tracked, &low_refs, false), LOW_SCORE_MATCH_THRESH);
        for &(t, d) in &second.matches {
            self.track_mut(remaining_tracked[t]).update(&low[d], frame);
        }
        let mut newly_lost = Vec::new(); // indices into `active`
        for &t in &second.unmatched_rows {
            if let Slot::Active(i) = remaining_tracked[t] {
                self.active[i].state = State::Lost;
                newly_lost.push(i);
            }
        }

        // Third association: unconfirmed tracks (not predicted) with high detections left.
        let unconfirmed: Vec<Slot> =
            (0..self.active.len()).filter(|&i| !self.active[i].activated).map(Slot::Active).collect();
        let left_high: Vec<&Candidate> = first.unmatched_cols.iter().map(|&d| &high[d]).collect();
        let third = gated_assignment(&self.cost(&unconfirmed, &left_high, true), UNCONFIRMED_MATCH_THRESH);
        for &(t, d) in &third.matches {
            self.track_mut(unconfirmed[t]).update(left_high[d], frame);
        }
        let mut dropped = vec![false; self.active.len()];
        for &t in &third.unmatched_rows {
            if let Slot::Active(i) = unconfirmed[t] {
                dropped[i] = true;
            }
        }

        // New tracks from what is left.
        let first_frame = self.detector_frames == 1;
        let born: Vec<STrack> = third
            .unmatched_cols
            .iter()
            .map(|&d| left_high[d])
            .filter(|det| det.score >= self.high_thresh)
            .map(|det| STrack::new(det, frame, first_frame, self.class_flicker))
            .collect();

        // Lost tracks past the buffer are marked; BoxMOT drops them from the list a frame later.
        for track in &mut self.lost {
            if frame.saturating_sub(track.last_frame) > self.max_time_lost && track.removed_at.is_none() {
                track.removed_at = Some(frame);
            }
        }

        self.rebuild_lists(&refound, &newly_lost, &dropped, born);
        self.remove_duplicates();

        let mut outputs = Vec::with_capacity(self.active.len());
        for track in self.active.iter_mut().filter(|t| t.activated) {
            let id = *track.public_id.get_or_insert_with(|| ids.allocate());
            outputs.push(track.output(id, frame, false));
        }
        outputs
    }

    /// BoxMOT's list bookkeeping at the end of a frame, in its order:
    /// active = still-tracked old active ++ new tracks ++ found-again tracks;
    /// lost = old lost not found again and not removed on an earlier frame ++ newly lost.
    fn rebuild_lists(&mut self, refound: &[usize], newly_lost: &[usize], dropped: &[bool], born: Vec<STrack>) {
        let frame = self.frame;
        let mut old_active: Vec<Option<STrack>> = std::mem::take(&mut self.active).into_iter().map(Some).collect();
        let mut old_lost: Vec<Option<STrack>> = std::mem::take(&mut self.lost).into_iter().map(Some).collect();

        let mut active = Vec::with_capacity(old_active.len() + born.len() + refound.len());
        let mut lost_now = Vec::with_capacity(newly_lost.len());
        for &i in newly_lost {
            lost_now.extend(old_active[i].take());
        }
        for (i, slot) in old_active.iter_mut().enumerate() {
            if !dropped[i] {
                active.extend(slot.take());
            }
        }
        active.extend(born);
        for &i in refound {
            active.extend(old_lost[i].take());
        }

        let removed_earlier = |t: &STrack| t.removed_at.is_some_and(|f| f < frame);
        let mut lost: Vec<STrack> = old_lost.into_iter().flatten().filter(|t| !removed_earlier(t)).collect();
        lost.extend(lost_now.into_iter().filter(|t| !removed_earlier(t)));

        self.active = active;
        self.lost = lost;
    }

    /// Of a tracked and a lost track with IoU distance under 0.15, keeps the one that was
    /// tracked for more frames; on a tie the tracked one goes, as in BoxMOT.
    fn remove_duplicates(&mut self) {
        if self.active.is_empty() || self.lost.is_empty() {
            return;
        }
        let lost_boxes: Vec<Xyxy> = self.lost.iter().map(|t| t.kalman.xyxy()).collect();
        let mut drop_active = vec![false; self.active.len()];
        let mut drop_lost = vec![false; self.lost.len()];
        for (p, a) in self.active.iter().enumerate() {
            let a_box = a.kalman.xyxy();
            for (q, l) in self.lost.iter().enumerate() {
                if a.class_key != l.class_key || 1.0 - iou(&a_box, &lost_boxes[q]) >= DUPLICATE_IOU_DISTANCE {
                    continue;
                }
                if a.tracked_frames() > l.tracked_frames() {
                    drop_lost[q] = true;
                } else {
                    drop_active[p] = true;
                }
            }
        }
        self.active = keep_unflagged(std::mem::take(&mut self.active), &drop_active);
        self.lost = keep_unflagged(std::mem::take(&mut self.lost), &drop_lost);
    }

    pub fn predict_only(&mut self) -> Vec<TrackedObject> {
        self.frame += 1;
        for slot in self.pool() {
            self.track_mut(slot).predict();
        }
        self.active
            .iter()
            .filter(|t| t.activated)
            .filter_map(|t| t.public_id.map(|id| t.output(id, self.frame, true)))
            .collect()
    }
}

fn keep_unflagged(tracks: Vec<STrack>, drop: &[bool]) -> Vec<STrack> {
    tracks.into_iter().zip(drop).filter(|(_, &d)| !d).map(|(t, _)| t).collect()
}
