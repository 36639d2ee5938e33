//! Scenario tests through the public API, each run with both algorithms.

use std::collections::BTreeSet;

use super::{Algorithm, TrackedObject, Tracker, TrackerConfig};
use crate::{BBox, Detection};

const CAR: u32 = 2;
const TRUCK: u32 = 7;

/// A 60×40 box centred on (`cx`, `cy`).
fn vehicle(cx: f32, cy: f32, score: f32, class_id: u32) -> Detection {
    Detection { bbox: BBox::from_cxcywh(cx, cy, 60.0, 40.0), score, class_id }
}

fn both(adjust: impl Fn(&mut TrackerConfig)) -> [TrackerConfig; 2] {
    [TrackerConfig::bytetrack(), TrackerConfig::ocsort()].map(|mut c| {
        adjust(&mut c);
        c
    })
}

/// The track matched to detection `index` on this frame.
fn matched(out: &[TrackedObject], index: usize) -> Option<&TrackedObject> {
    out.iter().find(|o| o.det_index == Some(index))
}

fn assert_ids_unique(out: &[TrackedObject]) {
    let ids: BTreeSet<u64> = out.iter().map(|o| o.id).collect();
    assert_eq!(ids.len(), out.len(), "duplicate IDs on one frame: {out:?}");
}

#[test]
fn crossing_cars_keep_their_ids() {
    for config in both(|_| {}) {
        let algorithm = config.algorithm;
        let mut tracker = Tracker::new(config);
        let (mut ids_a, mut ids_b) = (BTreeSet::new(), BTreeSet::new());
        let mut overlapping_frames = 0;
        for t in 0..60u32 {
            // A drives right, B left, 12 px lower: they overlap (IoU up to 0.54) around t = 30.
            let a = vehicle(100.0 + 6.0 * t as f32, 200.0, 0.9, CAR);
            let b = vehicle(460.0 - 6.0 * t as f32, 212.0, 0.85, CAR);
            if a.bbox.iou(&b.bbox) > 0.0 {
                overlapping_frames += 1;
            }
            // Swap the order every frame so that detection order carries no identity.
            let (dets, ia, ib) = if t.is_multiple_of(2) { ([a, b], 0, 1) } else { ([b, a], 1, 0) };
            let out = tracker.update(&dets);
            assert_ids_unique(&out);
            let (ta, tb) = (matched(&out, ia), matched(&out, ib));
            assert_eq!(out.len(), 2, "{algorithm:?} frame {t}: both cars reported");
            ids_a.extend(ta.map(|o| o.id));
            ids_b.extend(tb.map(|o| o.id));
        }
        assert!(overlapping_frames >= 8, "the scenario must overlap for several frames");
        assert_eq!(ids_a.len(), 1, "{algorithm:?}: car A changed ID: {ids_a:?}");
        assert_eq!(ids_b.len(), 1, "{algorithm:?}: car B changed ID: {ids_b:?}");
        assert_ne!(ids_a, ids_b);
    }
}

#[test]
fn car_hidden_for_ten_frames_comes_back_with_its_id() {
    for buffer in [30, 5] {
        for config in both(|c| c.track_buffer = buffer) {
            let algorithm = config.algorithm;
            let mut tracker = Tracker::new(config);
            let car = |t: u32| vehicle(100.0 + 4.0 * t as f32, 300.0, 0.9, CAR);
            let mut before = BTreeSet::new();
            for t in 0..20 {
                before.extend(tracker.update(&[car(t)]).iter().map(|o| o.id));
            }
            for t in 20..30 {
                assert!(tracker.update(&[]).is_empty(), "{algorithm:?} frame {t}: hidden car reported");
            }
            let mut after = BTreeSet::new();
            for t in 30..40 {
                after.extend(tracker.update(&[car(t)]).iter().map(|o| o.id));
            }
            assert_eq!(before.len(), 1, "{algorithm:?}");
            assert_eq!(after.len(), 1, "{algorithm:?}: {after:?}");
            if buffer >= 10 {
                assert_eq!(before, after, "{algorithm:?}: the car lost its ID behind the occlusion");
            } else {
                assert!(before.is_disjoint(&after), "{algorithm:?}: a {buffer}-frame buffer cannot bridge 10 frames");
            }
        }
    }
}

#[test]
fn car_flickering_to_truck_keeps_one_id_and_its_majority_class() {
    // Car on even frames (score 0.9), truck on odd frames (0.6): the car has the weighted
    // majority throughout, so truck frames report a car too.
    let det = |t: u32| {
        let (class_id, score) = if t.is_multiple_of(2) { (CAR, 0.9) } else { (TRUCK, 0.6) };
        vehicle(200.0 + 2.0 * t as f32, 300.0, score, class_id)
    };

    for config in both(|c| c.class_flicker = true) {
        let algorithm = config.algorithm;
        let mut tracker = Tracker::new(config);
        let mut ids = BTreeSet::new();
        for t in 0..30 {
            let out = tracker.update(&[det(t)]);
            assert_eq!(out.len(), 1, "{algorithm:?} frame {t}");
            ids.insert(out[0].id);
            assert_eq!(out[0].class_id, CAR, "{algorithm:?} frame {t}");
        }
        assert_eq!(ids.len(), 1, "{algorithm:?}: {ids:?}");
    }

    // Without flicker tolerance the object is two per-class tracks, each missing every other
    // frame. ByteTrack confirms the car track on the first frame and finds it again on each
    // car frame (the truck track never gets two consecutive hits): reported every other
    // frame, as a car. OC-SORT reports both during the first `min_hits` frames, then
    // neither, as each miss restarts the hit streak.
    for config in both(|c| c.class_flicker = false) {
        let algorithm = config.algorithm;
        let mut tracker = Tracker::new(config);
        let mut ids = BTreeSet::new();
        for t in 0..30 {
            let out = tracker.update(&[det(t)]);
            ids.extend(out.iter().map(|o| o.id));
            let reported = match algorithm {
                Algorithm::ByteTrack => t.is_multiple_of(2),
                Algorithm::OcSort => t < 3,
            };
            assert_eq!(out.len(), usize::from(reported), "{algorithm:?} frame {t}: {out:?}");
            if let Some(o) = out.first() {
                assert_eq!(o.class_id, det(t).class_id, "{algorithm:?}: classes never mix");
            }
        }
        let expected_ids = match algorithm {
            Algorithm::ByteTrack => 1,
            Algorithm::OcSort => 2,
        };
        assert_eq!(ids.len(), expected_ids, "{algorithm:?}: {ids:?}");
    }
}

#[test]
fn ids_are_unique_and_never_reused_across_reset() {
    for config in both(|_| {}) {
        let algorithm = config.algorithm;
        let mut tracker = Tracker::new(config);
        let run = |tracker: &mut Tracker| {
            let mut ids = BTreeSet::new();
            for t in 0..20 {
                let dets: Vec<Detection> = (0..4)
                    .map(|k| vehicle(100.0 + 150.0 * k as f32 + 3.0 * t as f32, 100.0 + 80.0 * k as f32, 0.8, CAR))
                    .collect();
                let out = tracker.update(&dets);
                assert_ids_unique(&out);
                ids.extend(out.iter().map(|o| o.id));
            }
            ids
        };
        let first = run(&mut tracker);
        assert_eq!(first, (1..=4).collect(), "{algorithm:?}: IDs start at 1, one per car");
        tracker.reset();
        assert!(tracker.predict_only().is_empty(), "{algorithm:?}: reset forgets the tracks");
        let second = run(&mut tracker);
        assert_eq!(second.len(), 4);
        assert!(second.iter().all(|id| *id > 4), "{algorithm:?}: IDs continue after reset: {second:?}");
    }
}

#[test]
fn detections_every_third_frame_with_predictions_between() {
    for config in both(|_| {}) {
        let algorithm = config.algorithm;
        let mut tracker = Tracker::new(config);
        let centre_x = |t: u32| 100.0 + 6.0 * t as f32;
        let mut ids = BTreeSet::new();
        let mut last_predicted_x = f32::MIN;
        for t in 0..90u32 {
            let out = if t.is_multiple_of(3) {
                let out = tracker.update(&[vehicle(centre_x(t), 300.0, 0.9, CAR)]);
                assert!(out.iter().all(|o| !o.predicted && o.det_index == Some(0)));
                out
            } else {
                let out = tracker.predict_only();
                assert!(out.iter().all(|o| o.predicted && o.det_index.is_none()));
                if t >= 30 {
                    let x = (out[0].bbox.x1 + out[0].bbox.x2) / 2.0;
                    assert!(x > last_predicted_x, "{algorithm:?} frame {t}: predicted box must move");
                    assert!((x - centre_x(t)).abs() < 4.0, "{algorithm:?} frame {t}: {x} vs {}", centre_x(t));
                    last_predicted_x = x;
                }
                out
            };
            assert_eq!(out.len(), 1, "{algorithm:?} frame {t}");
            assert_eq!(out[0].age, t, "{algorithm:?}: age counts every frame");
            ids.insert(out[0].id);
        }
        assert_eq!(ids.len(), 1, "{algorithm:?}: {ids:?}");
    }
}

#[test]
fn skipped_frames_age_lost_tracks_like_real_frames() {
    // Seen for 15 frames, hidden for `hidden` frames (detector on every third frame, finding
    // nothing), then seen again; the buffer is 10 frames.
    for (hidden, same_id) in [(6u32, true), (16, false)] {
        for config in both(|c| c.track_buffer = 10) {
            let algorithm = config.algorithm;
            let mut tracker = Tracker::new(config);
            let car = |t: u32| vehicle(100.0 + 3.0 * t as f32, 300.0, 0.9, CAR);
            let mut before = BTreeSet::new();
            for t in 0..15 {
                before.extend(tracker.update(&[car(t)]).iter().map(|o| o.id));
            }
            for t in 15..15 + hidden {
                if t.is_multiple_of(3) {
                    tracker.update(&[]);
                } else {
                    tracker.predict_only();
                }
            }
            let mut after = BTreeSet::new();
            for t in 15 + hidden..25 + hidden {
                after.extend(tracker.update(&[car(t)]).iter().map(|o| o.id));
            }
            assert_eq!(before == after, same_id, "{algorithm:?}, hidden {hidden}: {before:?} then {after:?}");
        }
    }
}

#[test]
fn unfit_detections_are_ignored() {
    for config in both(|_| {}) {
        let algorithm = config.algorithm;
        let mut tracker = Tracker::new(config);
        for t in 0..10 {
            let good = vehicle(300.0 + t as f32, 200.0, 0.9, CAR);
            let dets = [
                Detection { bbox: BBox::new(f32::NAN, 0.0, 10.0, 10.0), score: 0.9, class_id: CAR },
                Detection { bbox: BBox::new(5.0, 5.0, 5.0, 50.0), score: 0.9, class_id: CAR },
                good,
                Detection { bbox: BBox::new(0.0, 0.0, 50.0, 50.0), score: f32::INFINITY, class_id: CAR },
            ];
            let out = tracker.update(&dets);
            assert_eq!(out.len(), 1, "{algorithm:?} frame {t}: {out:?}");
            assert_eq!(out[0].det_index, Some(2));
            if algorithm == Algorithm::OcSort && t > 0 {
                assert_eq!(out[0].bbox, good.bbox, "OC-SORT reports the matched detection's box");
            }
            let b = out[0].bbox;
            assert!([b.x1, b.y1, b.x2, b.y2].iter().all(|v| v.is_finite()));
        }
    }
}

#[test]
fn low_score_detections_keep_a_bytetrack_track_alive() {
    // The second association: a tracked car whose score drops to 0.3 (between track_thresh_low
    // and track_thresh) stays matched; such a detection never starts a track.
    let mut tracker = Tracker::new(TrackerConfig::bytetrack());
    let car = |t: u32, score| vehicle(100.0 + 5.0 * t as f32, 300.0, score, CAR);
    let first = tracker.update(&[car(0, 0.9)]);
    for t in 1..10 {
        let out = tracker.update(&[car(t, 0.3), vehicle(800.0, 600.0, 0.3, CAR)]);
        assert_eq!(out.len(), 1, "frame {t}: {out:?}");
        assert_eq!(out[0].id, first[0].id);
        assert_eq!(out[0].det_index, Some(0));
    }
}

#[test]
fn tracker_can_move_between_threads() {
    // The element keeps it behind a mutex and calls it from streaming threads.
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Tracker>();
}
