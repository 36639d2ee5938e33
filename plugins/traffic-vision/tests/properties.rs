//! Property tests: random inputs through the post-processing, NMS, letterbox geometry, tracker
//! and line counting. Nothing may panic, and the invariants the elements rely on must hold.
//! Case counts keep the whole file within a few seconds in release builds.

use std::collections::{BTreeMap, HashSet};

use proptest::prelude::*;
use traffic_vision::counting::{Anchor, CrossingCounter, Line, TrackObservation};
use traffic_vision::frame::YuvToRgb;
use traffic_vision::{
    nms, BBox, Detection, Frame, Letterbox, OutputLayout, PixelFormat, Tracker, TrackerConfig, YuvMatrix,
};

/// `cases` random cases per test; failures are printed, not saved into the source tree.
fn config(cases: u32) -> ProptestConfig {
    ProptestConfig { cases, failure_persistence: None, ..ProptestConfig::default() }
}

/// A box with corners anywhere in (and a little around) a `w` x `h` frame, possibly empty.
fn any_box(w: f32, h: f32) -> impl Strategy<Value = BBox> {
    (-0.2f32..1.2, -0.2f32..1.2, 0.0f32..0.6, 0.0f32..0.6)
        .prop_map(move |(x, y, bw, bh)| BBox::new(x * w, y * h, (x + bw) * w, (y + bh) * h))
}

fn detections(max: usize, classes: u32) -> impl Strategy<Value = Vec<Detection>> {
    prop::collection::vec(
        (any_box(640.0, 480.0), 0.0f32..=1.0, 0..classes).prop_map(|(bbox, score, class_id)| Detection {
            bbox,
            score,
            class_id,
        }),
        0..max,
    )
}

/// A model output value: mostly ordinary, sometimes extreme or not a number.
fn output_value() -> impl Strategy<Value = f32> {
    prop_oneof![
        20 => -100.0f32..800.0,
        4 => 0.0f32..=1.0,
        1 => Just(f32::NAN),
        1 => Just(f32::INFINITY),
        1 => Just(f32::NEG_INFINITY),
        1 => Just(1e30f32),
        1 => Just(-1e30f32),
    ]
}

fn layout() -> impl Strategy<Value = (OutputLayout, [i64; 3])> {
    prop_oneof![
        (1usize..6, 1i64..40)
            .prop_map(|(c, n)| (OutputLayout::V8 { classes: c, transposed: false }, [1, 4 + c as i64, n])),
        (1usize..6, 1i64..40)
            .prop_map(|(c, n)| (OutputLayout::V8 { classes: c, transposed: true }, [1, n, 4 + c as i64])),
        (1usize..6, 1i64..40).prop_map(|(c, n)| (OutputLayout::V5 { classes: c }, [1, n, 5 + c as i64])),
        (1i64..40).prop_map(|n| (OutputLayout::EndToEnd, [1, n, 6])),
    ]
}

proptest! {
    #![proptest_config(config(1024))]

    #[test]
    fn nms_keeps_a_sorted_non_overlapping_subset(
        input in detections(60, 3),
        iou in 0.05f32..0.95,
        max_det in 1usize..80,
        agnostic in any::<bool>(),
    ) {
        let mut kept = input.clone();
        nms(&mut kept, iou, max_det, agnostic);
        prop_assert!(kept.len() <= max_det);
        for k in &kept {
            prop_assert!(input.contains(k), "{k:?} was not in the input");
        }
        for pair in kept.windows(2) {
            prop_assert!(pair[0].score >= pair[1].score, "not sorted: {pair:?}");
        }
        for (i, a) in kept.iter().enumerate() {
            for b in &kept[i + 1..] {
                if agnostic || a.class_id == b.class_id {
                    prop_assert!(a.bbox.iou(&b.bbox) <= iou, "{a:?} and {b:?} overlap above {iou}");
                }
            }
        }
        // Greedy: a dropped box overlaps a kept one at least as good (unless max_det cut it).
        if kept.len() < max_det {
            for d in input.iter().filter(|d| !kept.contains(d)) {
                let covered = kept.iter().any(|k| {
                    k.score >= d.score && (agnostic || k.class_id == d.class_id) && k.bbox.iou(&d.bbox) > iou
                });
                prop_assert!(covered, "{d:?} dropped without a better overlapping box");
            }
        }
    }

    /// The detector's post-processing: decode, back to frame pixels, drop empty boxes, NMS.
    #[test]
    fn decoded_boxes_are_finite_and_inside_the_frame(
        (layout, shape) in layout(),
        values in prop::collection::vec(output_value(), 40 * 11),
        src_w in 1usize..2000,
        src_h in 1usize..2000,
        conf in 0.0f32..1.0,
        only_class in prop::option::of(0u32..6),
    ) {
        let len = shape.iter().product::<i64>() as usize;
        let data = &values[..len];
        let keep = |c: u32| only_class.is_none_or(|k| k == c);
        let mut raw = Vec::new();
        layout.decode(data, &shape, conf, &keep, &mut raw).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let lb = Letterbox::rect(src_w, src_h, 640, 32).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let mut dets: Vec<Detection> =
            raw.iter().map(|d| Detection { bbox: lb.to_frame(d.bbox), ..*d }).filter(|d| d.bbox.area() > 0.0).collect();
        nms(&mut dets, 0.45, 300, false);
        for d in &dets {
            let b = d.bbox;
            prop_assert!([b.x1, b.y1, b.x2, b.y2, d.score].iter().all(|v| v.is_finite()), "{d:?}");
            prop_assert!(0.0 <= b.x1 && b.x1 < b.x2 && b.x2 <= src_w as f32, "{d:?} outside {src_w} wide");
            prop_assert!(0.0 <= b.y1 && b.y1 < b.y2 && b.y2 <= src_h as f32, "{d:?} outside {src_h} high");
            prop_assert!(d.score >= conf && keep(d.class_id), "{d:?}");
        }
    }

    /// A wrong-sized output is an error, never a panic or an out-of-bounds read.
    #[test]
    fn decode_rejects_outputs_of_the_wrong_size(
        (layout, shape) in layout(),
        extra in 1usize..30,
        shorter in any::<bool>(),
    ) {
        let len = shape.iter().product::<i64>() as usize;
        let n = if shorter { len.saturating_sub(extra) } else { len + extra };
        let mut out = Vec::new();
        prop_assert!(layout.decode(&vec![0.5; n], &shape, 0.25, &|_| true, &mut out).is_err());
    }

    /// Any three-dimensional shape either gives a layout or an error.
    #[test]
    fn layout_from_any_shape_does_not_panic(
        shape in prop::collection::vec(-2i64..100_000, 0..5),
        classes in prop::option::of(0usize..100),
    ) {
        if let Ok(layout) = OutputLayout::from_shape(&shape, classes) {
            prop_assert_eq!(shape.len(), 3);
            if let (Some(c), Some(n)) = (layout.classes(), classes) {
                prop_assert_eq!(c, n);
            }
        }
    }

    /// A box mapped into the model input and back lands within a pixel of where it was.
    #[test]
    fn letterbox_maps_boxes_back_within_a_pixel(
        src_w in 1usize..4000,
        src_h in 1usize..4000,
        fixed in prop::option::of((1usize..41, 1usize..41)),
        long_side in 1usize..41,
        corners in (0.0f64..1.0, 0.0f64..1.0, 0.0f64..1.0, 0.0f64..1.0),
    ) {
        let lb = match fixed {
            Some((w, h)) => Letterbox::fixed(src_w, src_h, w * 32, h * 32),
            None => Letterbox::rect(src_w, src_h, long_side * 32, 32),
        }
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert!(lb.left + lb.new_w <= lb.dst_w && lb.top + lb.new_h <= lb.dst_h, "{lb:?}");
        let (w, h) = (src_w as f64, src_h as f64);
        let (x1, x2) = (corners.0.min(corners.2) * w, corners.0.max(corners.2) * w);
        let (y1, y2) = (corners.1.min(corners.3) * h, corners.1.max(corners.3) * h);
        let to_input = |x: f64, y: f64| {
            (
                (x * lb.new_w as f64 / w + lb.left as f64) as f32,
                (y * lb.new_h as f64 / h + lb.top as f64) as f32,
            )
        };
        let (ix1, iy1) = to_input(x1, y1);
        let (ix2, iy2) = to_input(x2, y2);
        let back = lb.to_frame(BBox::new(ix1, iy1, ix2, iy2));
        for (got, want) in [(back.x1, x1), (back.y1, y1), (back.x2, x2), (back.y2, y2)] {
            prop_assert!((got as f64 - want).abs() <= 1.0, "{got} vs {want} ({lb:?})");
        }
    }

    /// Letterboxing frames of any size and format, odd ones included, never reads out of bounds.
    #[test]
    fn letterbox_fills_frames_of_any_size(
        w in 1usize..50,
        h in 1usize..50,
        format in prop::sample::select(vec![
            PixelFormat::Rgb, PixelFormat::Bgrx, PixelFormat::Rgba, PixelFormat::I420, PixelFormat::Nv12,
        ]),
        pad in 0usize..8,
        dst in (1usize..5, 1usize..5),
        seed in any::<u8>(),
    ) {
        let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
        // (bytes per row, rows) per plane; rows padded to the stride, the last one not.
        let rows: Vec<(usize, usize)> = match format {
            PixelFormat::I420 => vec![(w, h), (cw, ch), (cw, ch)],
            PixelFormat::Nv12 => vec![(w, h), (2 * cw, ch)],
            PixelFormat::Rgb => vec![(3 * w, h)],
            _ => vec![(4 * w, h)],
        };
        let strides: Vec<usize> = rows.iter().map(|&(row, _)| row + pad).collect();
        let sizes: Vec<usize> = rows.iter().zip(&strides).map(|(&(row, n), s)| s * (n - 1) + row).collect();
        let planes: Vec<Vec<u8>> =
            sizes.iter().map(|&n| (0..n).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect()).collect();
        let plane_refs: Vec<&[u8]> = planes.iter().map(Vec::as_slice).collect();
        let frame = Frame::new(format, w, h, &plane_refs, &strides, YuvToRgb::new(YuvMatrix::Bt601, false))
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        let lb = Letterbox::fixed(w, h, dst.0 * 32, dst.1 * 32).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let mut input = vec![0.0; lb.input_len()];
        lb.fill(&frame, &mut input).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert!(input.iter().all(|v| v.is_finite() && (-0.01..=1.01).contains(v)));
        // A plane one byte too short is refused, not read past its end.
        let short = &planes[0][..planes[0].len() - 1];
        let mut refs = plane_refs.clone();
        refs[0] = short;
        prop_assert!(Frame::new(format, w, h, &refs, &strides, YuvToRgb::new(YuvMatrix::Bt601, false)).is_err());
    }
}

/// One frame of a tracker run: detections, or a frame the detector skipped.
#[derive(Clone, Debug)]
enum TrackerFrame {
    Detected(Vec<Detection>),
    Skipped,
}

/// Vehicles moving on straight paths (so tracks form), plus random clutter and gaps.
fn tracker_frames() -> impl Strategy<Value = Vec<TrackerFrame>> {
    let mover = (0.0f32..640.0, 0.0f32..480.0, -15.0f32..15.0, -15.0f32..15.0, 0.3f32..1.0, 0u32..3);
    (prop::collection::vec(mover, 0..8), prop::collection::vec((detections(6, 3), 0u8..10), 10..80)).prop_map(
        |(movers, clutter)| {
            clutter
                .into_iter()
                .enumerate()
                .map(|(t, (noise, roll))| {
                    if roll == 0 {
                        return TrackerFrame::Skipped;
                    }
                    let mut dets = noise;
                    for (k, &(x, y, vx, vy, score, class_id)) in movers.iter().enumerate() {
                        // Each vehicle misses a detection now and then.
                        if (t + k) % 7 != 3 {
                            let (cx, cy) = (x + vx * t as f32, y + vy * t as f32);
                            dets.push(Detection { bbox: BBox::from_cxcywh(cx, cy, 60.0, 40.0), score, class_id });
                        }
                    }
                    TrackerFrame::Detected(dets)
                })
                .collect()
        },
    )
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn tracker_ids_are_unique_and_never_reused(
        frames in tracker_frames(),
        ocsort in any::<bool>(),
        reset_at in prop::option::of(0usize..80),
        reconfigure in any::<bool>(),
    ) {
        let config = if ocsort { TrackerConfig::ocsort() } else { TrackerConfig::bytetrack() };
        let mut tracker = Tracker::new(config);
        let mut seen: HashSet<u64> = HashSet::new();
        let mut max_id = 0u64;
        let mut last: Vec<u64> = Vec::new();
        for (t, frame) in frames.iter().enumerate() {
            if reset_at == Some(t) {
                // A flush, or new settings mid-stream: tracks go, IDs carry on.
                if reconfigure {
                    tracker.reconfigure(TrackerConfig { track_buffer: 5, ..TrackerConfig::ocsort() });
                } else {
                    tracker.reset();
                }
                last.clear();
            }
            let (out, n_dets) = match frame {
                TrackerFrame::Detected(dets) => (tracker.update(dets), dets.len()),
                TrackerFrame::Skipped => (tracker.predict_only(), 0),
            };
            let ids: HashSet<u64> = out.iter().map(|o| o.id).collect();
            prop_assert_eq!(ids.len(), out.len(), "frame {}: duplicate IDs {:?}", t, out);
            let fresh: Vec<u64> = out.iter().map(|o| o.id).filter(|id| !seen.contains(id)).collect();
            for id in fresh {
                // A new ID is above every ID handed out before: none is reused.
                prop_assert!(id > max_id, "frame {t}: ID {id} not above {max_id}");
            }
            for o in &out {
                let b = o.bbox;
                prop_assert!([b.x1, b.y1, b.x2, b.y2, o.score].iter().all(|v| v.is_finite()), "{o:?}");
                prop_assert!(o.id >= 1);
                match frame {
                    TrackerFrame::Detected(_) => prop_assert!(o.det_index.is_none_or(|i| i < n_dets), "{o:?}"),
                    TrackerFrame::Skipped => {
                        prop_assert!(o.predicted && o.det_index.is_none(), "{o:?}");
                        prop_assert!(last.contains(&o.id), "skipped frame reports a track the last frame did not");
                    }
                }
            }
            seen.extend(out.iter().map(|o| o.id));
            max_id = max_id.max(out.iter().map(|o| o.id).max().unwrap_or(0));
            if matches!(frame, TrackerFrame::Detected(_)) {
                last = out.iter().map(|o| o.id).collect();
            }
        }
    }

    #[test]
    fn line_counts_are_monotonic_and_count_once(
        lines in prop::collection::vec(
            ((0.0f64..640.0, 0.0f64..480.0), (0.0f64..640.0, 0.0f64..480.0)).prop_filter("distinct ends", |(a, b)| a != b),
            1..4,
        ),
        paths in prop::collection::vec(
            (1u64..12, prop::collection::vec((0.0f32..640.0, 0.0f32..480.0), 1..40), 0u8..3),
            1..12,
        ),
        min_frames in 0u32..4,
        anchor in prop::sample::select(vec![Anchor::BottomCenter, Anchor::Center, Anchor::TopCenter]),
    ) {
        let lines: Vec<Line> = lines
            .iter()
            .enumerate()
            .map(|(i, &(start, end))| Line {
                name: format!("l{i}"),
                start,
                end,
                in_name: "in".into(),
                out_name: "out".into(),
                only_inward: None,
            })
            .collect();
        let n_lines = lines.len();
        let mut counter = CrossingCounter::new(lines, anchor, min_frames);
        let classes = ["car", "truck", "bus"];
        // Interleave the tracks frame by frame (several tracks may share an ID's path pieces).
        let longest = paths.iter().map(|p| p.1.len()).max().unwrap_or(0);
        let mut counted: HashSet<(u64, usize, bool)> = HashSet::new();
        let mut previous: BTreeMap<(usize, String, bool), u64> = BTreeMap::new();
        let mut events_total = 0u64;
        for t in 0..longest {
            let observations: Vec<TrackObservation> = paths
                .iter()
                .filter_map(|(id, points, class)| {
                    points.get(t).map(|&(x, y)| TrackObservation {
                        track_id: *id,
                        bbox: BBox::from_cxcywh(x, y, 40.0, 30.0),
                        class: classes[*class as usize].to_string(),
                    })
                })
                // One observation per track ID and frame, as the tracker guarantees.
                .fold(Vec::new(), |mut acc: Vec<TrackObservation>, o| {
                    if !acc.iter().any(|a| a.track_id == o.track_id) {
                        acc.push(o);
                    }
                    acc
                });
            let events = counter.update(&observations);
            for e in &events {
                prop_assert!(e.line < n_lines);
                prop_assert!(counted.insert((e.track_id, e.line, e.inward)), "{e:?} counted twice");
            }
            events_total += events.len() as u64;
            let mut now: BTreeMap<(usize, String, bool), u64> = BTreeMap::new();
            for (li, totals) in counter.totals().iter().enumerate() {
                for ((class, inward), n) in totals {
                    now.insert((li, class.clone(), *inward), *n);
                }
            }
            for (key, before) in &previous {
                prop_assert!(now.get(key).copied().unwrap_or(0) >= *before, "{key:?} went down");
            }
            prop_assert_eq!(now.values().sum::<u64>(), events_total);
            previous = now;
        }
    }
}
