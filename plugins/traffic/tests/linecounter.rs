//! linecounter through gst_check::Harness: counts meta, crossings, reset, bad settings.

mod common;

use common::*;
use gst::prelude::*;
use gst_check::Harness;
use traffic_meta::{Detection, PixelBox, Track, NO_PARENT};

const SIZE: FrameSize = FrameSize { width: 640, height: 360 };

/// A frame with one tracked vehicle whose box bottom is at `bottom`.
fn frame(track_id: u64, class: &str, bottom: f64, predicted: bool) -> gst::Buffer {
    let mut buffer = gst::Buffer::with_size(640 * 360 * 3 / 2).unwrap();
    {
        let b = buffer.get_mut().unwrap();
        let det = Detection {
            label: class.into(),
            label_id: 2,
            confidence: 0.9,
            bbox: PixelBox { x1: 300.0, y1: bottom - 40.0, x2: 360.0, y2: bottom },
        };
        let roi = traffic_meta::add_detection(b, SIZE, &det, NO_PARENT);
        let track = Track { id: track_id, age: 10, predicted, label: class.into(), label_id: 2 };
        traffic_meta::set_track(b, roi, &track);
    }
    buffer
}

fn harness(props: &str) -> Harness {
    init();
    let mut h = Harness::new_parse(&format!("linecounter {props}"));
    h.set_src_caps_str("video/x-raw,format=I420,width=640,height=360,framerate=25/1");
    h.play();
    h
}

fn total(counts: &traffic_meta::Counts, class: &str, direction: &str) -> u64 {
    counts.lines[0].totals.iter().filter(|t| t.class == class && t.direction == direction).map(|t| t.count).sum()
}

#[test]
fn a_car_driving_down_across_the_line_counts_once() {
    // Line at half height (y = 180), drawn left to right: downward is 'in', here named 'south'.
    let mut h = harness("lines=road:0,0.5,1,0.5:south/north min-frames=2");
    let mut crossings = vec![];
    let mut last = None;
    for bottom in [120.0, 150.0, 175.0, 200.0, 230.0, 260.0, 290.0] {
        let out = h.push_and_pull(frame(7, "car", bottom, false)).unwrap();
        let counts = traffic_meta::counts(&out).expect("counts on every frame");
        crossings.extend(counts.crossings.clone());
        last = Some(counts);
    }
    let counts = last.unwrap();
    assert_eq!(counts.lines[0].start, (0.0, 180.0));
    assert_eq!(total(&counts, "car", "south"), 1);
    assert_eq!(total(&counts, "car", "north"), 0);
    assert_eq!(crossings.len(), 1);
    assert_eq!((crossings[0].track_id, crossings[0].direction.as_str()), (7, "south"));
}

#[test]
fn predicted_boxes_never_count_and_reset_clears() {
    let mut h = harness("lines=road:0,180,640,180 min-frames=1");
    for bottom in [120.0, 200.0, 260.0] {
        let out = h.push_and_pull(frame(1, "car", bottom, true)).unwrap();
        assert!(traffic_meta::counts(&out).unwrap().crossings.is_empty());
    }
    for bottom in [120.0, 200.0, 260.0] {
        h.push_and_pull(frame(2, "truck", bottom, false)).unwrap();
    }
    let out = h.push_and_pull(frame(2, "truck", 280.0, false)).unwrap();
    assert_eq!(total(&traffic_meta::counts(&out).unwrap(), "truck", "in"), 1);
    let bin = h.element().unwrap().downcast::<gst::Bin>().unwrap();
    let counter = bin.iterate_elements().into_iter().flatten().next().expect("linecounter in the harness bin");
    counter.emit_by_name::<()>("reset", &[]);
    let out = h.push_and_pull(frame(2, "truck", 290.0, false)).unwrap();
    assert_eq!(total(&traffic_meta::counts(&out).unwrap(), "truck", "in"), 0);
}

#[test]
fn malformed_lines_fail_at_start_with_the_reason() {
    init();
    for (props, needle) in [
        ("lines=road:0,0.5,1", "four coordinates"),
        ("", "no counting line"),
        ("zones=lot:0,0,1,1", "at least three corners"),
        ("config=/nonexistent/lines.toml", "/nonexistent/lines.toml"),
    ] {
        let err = run_to_eos(&format!("videotestsrc num-buffers=1 ! linecounter {props} ! fakesink")).expect_err(props);
        assert!(err.contains(needle), "{props}: {err}");
    }
}

#[test]
fn a_zone_reports_who_is_inside_for_how_long_without_any_line() {
    // The lower half of the frame; no counting line at all.
    let mut h = harness("zones=lot:0,0.5,1,0.5,1,1,0,1 min-frames=2");
    let mut zone = None;
    for _ in 0..10 {
        let out = h.push_and_pull(frame(5, "car", 250.0, false)).unwrap();
        zone = traffic_meta::counts(&out).expect("counts on every frame").zones.first().cloned();
    }
    let zone = zone.expect("the zone");
    assert_eq!(zone.name, "lot");
    assert_eq!(zone.points[2], (640.0, 360.0), "fractions resolved to pixels");
    assert_eq!(zone.occupants.len(), 1);
    assert_eq!((zone.occupants[0].track_id, zone.occupants[0].class.as_str()), (5, "car"));
    // Entered on its second frame inside (frame 2 of 10 at 25 fps, no PTS): 8 frames ago.
    assert!((zone.occupants[0].dwell - 8.0 / 25.0).abs() < 1e-9, "{zone:?}");
    assert_eq!(zone.entries, vec![("car".to_string(), 1)]);
    // Predicted boxes and frames without the track keep it inside; driving out empties the
    // zone after min-frames.
    h.push_and_pull(frame(5, "car", 250.0, true)).unwrap();
    for _ in 0..5 {
        h.push_and_pull(gst::Buffer::with_size(640 * 360 * 3 / 2).unwrap()).unwrap();
    }
    let out = h.push_and_pull(frame(5, "car", 250.0, false)).unwrap();
    assert_eq!(traffic_meta::counts(&out).unwrap().zones[0].occupants.len(), 1, "hidden is not gone");
    for _ in 0..2 {
        h.push_and_pull(frame(5, "car", 100.0, false)).unwrap();
    }
    let out = h.push_and_pull(frame(5, "car", 100.0, false)).unwrap();
    let zone = traffic_meta::counts(&out).unwrap().zones[0].clone();
    assert!(zone.occupants.is_empty(), "{zone:?}");
    assert_eq!(zone.entries, vec![("car".to_string(), 1)], "entries are kept");
}

/// `buffer` as frame `i` of a 25 fps stream.
fn at(mut buffer: gst::Buffer, i: u64) -> gst::Buffer {
    buffer.get_mut().unwrap().set_pts(gst::ClockTime::from_mseconds(40 * i));
    buffer
}

/// The `traffic-zone` messages on `bus` so far.
fn zone_messages(bus: &gst::Bus) -> Vec<traffic_meta::ZoneMessage> {
    std::iter::from_fn(|| bus.pop_filtered(&[gst::MessageType::Element]))
        .filter_map(|m| m.structure().and_then(traffic_meta::read_zone))
        .collect()
}

#[test]
fn zone_entries_and_exits_are_events_on_the_meta_and_the_bus() {
    use traffic_meta::ZoneEventKind::{Enter, Exit};
    let mut h = harness("zones=lot:0,0.5,1,0.5,1,1,0,1 min-frames=2 lost-after=10");
    let bus = gst::Bus::new();
    h.element().unwrap().set_bus(Some(&bus));
    // Car 5: outside, 6 frames inside (bottom at y = 250 of 360), 3 outside, back in for 3;
    // then nothing is seen for longer than a track may stay hidden (lost-after).
    let path = [100.0, 100.0, 250.0, 250.0, 250.0, 250.0, 250.0, 250.0, 100.0, 100.0, 100.0, 250.0, 250.0, 250.0];
    let mut events = vec![];
    let mut frames = 0;
    for bottom in path {
        let out = h.push_and_pull(at(frame(5, "car", bottom, false), frames)).unwrap();
        events.extend(traffic_meta::counts(&out).unwrap().zone_events.into_iter().map(|e| (frames, e)));
        frames += 1;
    }
    for _ in 0..=10 {
        let out = h.push_and_pull(at(gst::Buffer::with_size(640 * 360 * 3 / 2).unwrap(), frames)).unwrap();
        events.extend(traffic_meta::counts(&out).unwrap().zone_events.into_iter().map(|e| (frames, e)));
        frames += 1;
    }
    let seen: Vec<(u64, traffic_meta::ZoneEventKind, f64)> =
        events.iter().map(|(frame, e)| (*frame, e.kind, (e.dwell * 1000.0).round() / 1000.0)).collect();
    // In at frame 2 (confirmed at 3), out at 8 (confirmed at 9): 6 frames, 0.24 s. In again at
    // 11 (confirmed at 12), last seen at 13, lost lost-after + 1 frames later: from 12 to 13, 0.04 s.
    assert_eq!(seen, [(3, Enter, 0.0), (9, Exit, 0.24), (12, Enter, 0.0), (13 + 11, Exit, 0.04)]);
    assert!(events.iter().all(|(_, e)| e.zone == "lot" && e.track_id == 5 && e.class == "car"));
    let messages = zone_messages(&bus);
    let sent: Vec<traffic_meta::ZoneEvent> = events.into_iter().map(|(_, e)| e).collect();
    assert_eq!(messages.iter().map(|m| m.event.clone()).collect::<Vec<_>>(), sent, "a message per event");
    assert_eq!(messages[1].pts, Some(gst::ClockTime::from_mseconds(9 * 40)), "stamped with its frame");
    assert_eq!(messages[1].running_time, messages[1].pts);
}

#[test]
fn a_config_file_adds_its_zones_and_lines_to_the_properties() {
    init();
    let path = std::env::temp_dir().join(format!("linecounter-zones-{}.toml", std::process::id()));
    std::fs::write(&path, "[[zone]]\nname = \"kerb\"\npoints = [0, 0, 640, 0, 640, 180, 0, 180]\n").unwrap();
    let mut h = harness(&format!("config={} zones=lot:0,0.5,1,0.5,1,1,0,1 lines=road:0,0.9,1,0.9", path.display()));
    let out = h.push_and_pull(frame(1, "car", 100.0, false)).unwrap();
    let counts = traffic_meta::counts(&out).unwrap();
    assert_eq!(counts.zones.iter().map(|z| z.name.as_str()).collect::<Vec<_>>(), ["lot", "kerb"]);
    assert_eq!(counts.lines.iter().map(|l| l.name.as_str()).collect::<Vec<_>>(), ["road"]);
    // A name in both is an error naming the file.
    let err = run_to_eos(&format!(
        "videotestsrc num-buffers=1 ! linecounter zones=kerb:0,0,1,0,1,1 config={} ! fakesink",
        path.display()
    ))
    .expect_err("zone 'kerb' twice");
    std::fs::remove_file(&path).ok();
    assert!(err.contains("zone name 'kerb'") && err.contains("linecounter-zones-"), "{err}");
}

/// The config file is read once, at start: a new frame size mid-stream (a camera back at
/// another resolution) converts the same lines to the new pixels, whatever the file holds now,
/// and the totals go on.
#[test]
fn a_new_frame_size_moves_the_lines_of_the_config_read_at_start() {
    init();
    let path = std::env::temp_dir().join(format!("linecounter-resize-{}.toml", std::process::id()));
    std::fs::write(&path, "[[line]]\nname = \"road\"\npoints = [0, 0.5, 1, 0.5]\n").unwrap();
    let mut h = harness(&format!("config={} min-frames=1", path.display()));
    for bottom in [150.0, 200.0] {
        h.push_and_pull(frame(7, "car", bottom, false)).unwrap();
    }
    // The file changes, then goes; the running element keeps what it read.
    std::fs::write(&path, "[[line]]\nname = \"other\"\npoints = [0, 0.1, 1, 0.1]\n").unwrap();
    std::fs::remove_file(&path).unwrap();
    h.set_src_caps_str("video/x-raw,format=I420,width=1280,height=720,framerate=25/1");
    let size = FrameSize { width: 1280, height: 720 };
    let mut counts = None;
    // Track 8 crosses the moved line (y = 360 at 1280x720).
    for bottom in [330.0, 390.0] {
        let mut buffer = gst::Buffer::with_size(1280 * 720 * 3 / 2).unwrap();
        let b = buffer.get_mut().unwrap();
        let det = Detection {
            label: "car".into(),
            label_id: 2,
            confidence: 0.9,
            bbox: PixelBox { x1: 600.0, y1: bottom - 80.0, x2: 700.0, y2: bottom },
        };
        let roi = traffic_meta::add_detection(b, size, &det, NO_PARENT);
        traffic_meta::set_track(b, roi, &Track { id: 8, age: 10, predicted: false, label: "car".into(), label_id: 2 });
        counts = traffic_meta::counts(&h.push_and_pull(buffer).unwrap());
    }
    let counts = counts.expect("counts");
    assert_eq!(counts.lines.iter().map(|l| l.name.as_str()).collect::<Vec<_>>(), ["road"]);
    assert_eq!(counts.lines[0].start, (0.0, 360.0));
    assert_eq!(total(&counts, "car", "in"), 2, "track 7 before the change, track 8 after");
}

/// Dwell is running time: a car parked through a concat of two 2 s files (the second starts
/// its timestamps at 0 again, in a segment whose base is 2 s) has been inside about 4 s.
#[test]
fn zone_dwell_goes_on_across_a_new_segment() {
    let mut h = harness("zones=lot:0,0.5,1,0.5,1,1,0,1 min-frames=1");
    let mut last = None;
    for part in 0..2u64 {
        if part == 1 {
            let mut segment = gst::FormattedSegment::<gst::ClockTime>::new();
            segment.set_base(gst::ClockTime::from_seconds(2));
            assert!(h.push_event(gst::event::Segment::new(&segment)));
        }
        for i in 0..50 {
            let out = h.push_and_pull(at(frame(5, "car", 250.0, false), i)).unwrap();
            last = traffic_meta::counts(&out).unwrap().zones.first().cloned();
        }
    }
    let zone = last.expect("the zone");
    assert_eq!(zone.occupants.len(), 1);
    let dwell = zone.occupants[0].dwell;
    assert!((dwell - 99.0 / 25.0).abs() < 0.05, "dwell {dwell} s, parked ~3.96 s");
}
