//! mottracker through gst_check::Harness: IDs on detected frames, predicted boxes between.

mod common;

use common::*;
use gst_check::Harness;
use traffic_meta::{Detection, PixelBox, NO_PARENT};

const SIZE: FrameSize = FrameSize { width: 640, height: 360 };

/// A frame with the given car boxes, marked as detected (or skipped by the detector when None).
fn frame(index: u64, cars: Option<&[[f64; 4]]>) -> gst::Buffer {
    let mut buffer = gst::Buffer::with_size(640 * 360 * 3 / 2).unwrap();
    {
        let b = buffer.get_mut().unwrap();
        b.set_pts(gst::ClockTime::from_mseconds(40 * index));
        if let Some(cars) = cars {
            traffic_meta::set_detected(b);
            for c in cars {
                let det = Detection {
                    label: "car".into(),
                    label_id: 2,
                    confidence: 0.9,
                    bbox: PixelBox { x1: c[0], y1: c[1], x2: c[2], y2: c[3] },
                };
                traffic_meta::add_detection(b, SIZE, &det, NO_PARENT);
            }
        }
    }
    buffer
}

fn harness(launch: &str) -> Harness {
    init();
    let mut h = Harness::new_parse(launch);
    h.set_src_caps_str("video/x-raw,format=I420,width=640,height=360,framerate=25/1");
    h.play();
    h
}

/// Two cars moving right 10 px a frame; the detector runs on every third frame only.
#[test]
fn ids_on_detected_frames_and_predicted_boxes_between() {
    let mut h = harness("mottracker");
    let mut ids_per_frame = vec![];
    for i in 0..30u64 {
        let x = 20.0 + 10.0 * i as f64;
        let cars = [[x, 50.0, x + 80.0, 100.0], [x, 200.0, x + 80.0, 250.0]];
        let detected = i % 3 == 0;
        let out = h.push_and_pull(frame(i, detected.then_some(&cars[..]))).expect("frame");
        let objects = objects_of(&h, &out);
        let tracked: Vec<_> = objects.iter().filter_map(|o| o.track.clone().map(|t| (t, o.bbox))).collect();
        if i >= 6 {
            assert_eq!(tracked.len(), 2, "frame {i}: {objects:#?}");
            for (t, bbox) in &tracked {
                assert_eq!(t.predicted, !detected, "frame {i}");
                assert_eq!(t.label, "car");
                // Predicted boxes follow the motion (within a few pixels of the truth).
                assert!((bbox.x1 - x).abs() < 6.0, "frame {i}: x1 {} vs {x}", bbox.x1);
            }
        }
        let mut ids: Vec<u64> = tracked.iter().map(|(t, _)| t.id).collect();
        ids.sort();
        ids_per_frame.push(ids);
    }
    // Each car keeps one ID over the whole run, and the two IDs differ.
    let last = ids_per_frame.last().unwrap().clone();
    assert_eq!(last.len(), 2);
    assert!(ids_per_frame[6..].iter().all(|ids| *ids == last), "{ids_per_frame:?}");
}

#[test]
fn frames_without_detector_or_objects_pass_untouched() {
    let mut h = harness("mottracker");
    for i in 0..5 {
        let out = h.push_and_pull(frame(i, None)).expect("frame");
        assert!(objects_of(&h, &out).is_empty());
        let out = h.push_and_pull(frame(i, Some(&[]))).expect("frame");
        assert!(objects_of(&h, &out).is_empty());
    }
}

#[test]
fn flush_forgets_tracks_but_never_reuses_ids() {
    let mut h = harness("mottracker");
    let car = [[100.0, 100.0, 180.0, 150.0]];
    let mut first_id = None;
    for i in 0..5 {
        let out = h.push_and_pull(frame(i, Some(&car))).unwrap();
        first_id = objects_of(&h, &out)[0].track.as_ref().map(|t| t.id).or(first_id);
    }
    h.push_event(gst::event::FlushStart::new());
    h.push_event(gst::event::FlushStop::new(true));
    h.push_event(gst::event::Segment::new(&gst::FormattedSegment::<gst::ClockTime>::new()));
    let mut second_id = None;
    for i in 0..5 {
        let out = h.push_and_pull(frame(i, Some(&car))).unwrap();
        second_id = objects_of(&h, &out)[0].track.as_ref().map(|t| t.id).or(second_id);
    }
    let (a, b) = (first_id.expect("tracked before"), second_id.expect("tracked after"));
    assert!(b > a, "a new track after the flush gets a new ID: {a} then {b}");
}
