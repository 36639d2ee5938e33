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
        let track = Track { id: track_id, age: 10, predicted, label: class.into(), label_id: 2, speed_kmh: None };
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
        (
            "lines=road:0,0.5,1,0.5 calibration=0.1,0.9,0.5,0.9,0.9,0.9,0.3,0.4:0,0,4,0,4,14,0,14",
            "image points: three of the points are on one line",
        ),
        (
            "lines=road:0,0.5,1,0.5 calibration=0.1,0.9,0.9,0.9,0.1,0.4,0.9,0.4:0,0,4,0,4,14,0,14",
            "the quadrilateral crosses itself",
        ),
        ("lines=road:0,0.5,1,0.5 calibration=0.1,0.9,0.9,0.9:0,0,4,0", "4 image points"),
        ("lines=road:0,0.5,1,0.5 bin=soon", "bin 'soon'"),
        ("lines=road:0,0.5,1,0.5:a/b:only=c", "'c' is neither 'a' nor 'b'"),
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
        traffic_meta::set_track(
            b,
            roi,
            &Track { id: 8, age: 10, predicted: false, label: "car".into(), label_id: 2, speed_kmh: None },
        );
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

/// 10 pixels a metre over the whole 640x360 frame, y (metres) growing up the image.
const FLAT_VIEW: &str = "calibration=0,0,640,0,640,360,0,360:0,36,64,36,64,0,0,0";

/// The element messages on `bus` so far, read by `read`.
fn messages<T>(bus: &gst::Bus, read: impl Fn(&gst::StructureRef) -> Option<T>) -> Vec<T> {
    std::iter::from_fn(|| bus.pop_filtered(&[gst::MessageType::Element]))
        .filter_map(|m| m.structure().and_then(&read))
        .collect()
}

/// The speed on the frame's one object's track.
fn speed_on(out: &gst::Buffer) -> Option<f64> {
    traffic_meta::objects(out, SIZE)[0].track.as_ref()?.speed_kmh
}

/// Track `id` driving down 5 px (0.5 m) a frame from y = 100 over frames `first..first + 40`:
/// 12.5 m/s at 25 fps, 45 km/h; it crosses y = 180 on its 16th frame. Returns the crossings on
/// the counts meta and the last frame out.
fn drive_down(h: &mut Harness, id: u64, first: u64) -> (Vec<traffic_meta::Crossing>, gst::Buffer) {
    let mut crossings = Vec::new();
    let mut last = None;
    for i in 0..40 {
        let out = h.push_and_pull(at(frame(id, "car", 100.0 + 5.0 * i as f64, false), first + i)).unwrap();
        let speed = speed_on(&out);
        // Too brief a track has no speed: half a second of path is needed (13 frames later).
        assert_eq!(speed.is_some(), i >= 13, "frame {i}: {speed:?}");
        crossings.extend(traffic_meta::counts(&out).unwrap().crossings);
        last = Some(out);
    }
    (crossings, last.unwrap())
}

#[test]
fn a_calibrated_view_gives_speeds_headways_and_bins_on_stream_time() {
    let mut h = harness(&format!("lines=road:0,0.5,1,0.5:south/north min-frames=2 bin=1s {FLAT_VIEW}"));
    let bus = gst::Bus::new();
    h.element().unwrap().set_bus(Some(&bus));
    let (first, out) = drive_down(&mut h, 7, 0);
    let speed = speed_on(&out).unwrap();
    assert!((speed - 45.0).abs() < 0.45, "{speed} km/h on the object");
    assert_eq!(first.len(), 1);
    let speed = first[0].speed_kmh.expect("a speed on the crossing");
    assert!((speed - 45.0).abs() < 0.45, "{speed} km/h on the crossing");
    assert_eq!(first[0].headway_s, None, "the first crossing has no headway");
    // A second car 40 frames (1.6 s) behind.
    let (second, _) = drive_down(&mut h, 8, 40);
    assert!((second[0].headway_s.unwrap() - 1.6).abs() < 1e-6, "{:?}", second[0]);
    // 80 frames of 40 ms: bins 0..1, 1..2, 2..3 closed on frames, 3..3.2 at the end of the stream.
    assert!(h.push_event(gst::event::Eos::new()));
    let posted = messages(&bus, |s| Some(s.to_owned()));
    let crossing_messages: Vec<_> = posted.iter().filter_map(|s| traffic_meta::read_crossing(s)).collect();
    assert_eq!(
        crossing_messages.iter().map(|m| m.crossing.clone()).collect::<Vec<_>>(),
        [first[0].clone(), second[0].clone()]
    );
    let bins: Vec<_> = posted.iter().filter_map(|s| traffic_meta::read_bin(s)).collect();
    let spans: Vec<(f64, f64)> = bins.iter().map(|b| (b.start, b.end)).collect();
    assert_eq!(spans.len(), 4, "{spans:?}");
    for ((start, end), want) in spans.iter().zip([(0.0, 1.0), (1.0, 2.0), (2.0, 3.0), (3.0, 3.2)]) {
        assert!((start - want.0).abs() < 1e-9 && (end - want.1).abs() < 1e-9, "{spans:?}");
    }
    let counts: Vec<u64> = bins.iter().map(|b| b.counts.iter().map(|c| c.count).sum()).collect();
    // Car 7 crossed on frame 17 (0.68 s), car 8 on frame 57 (2.28 s).
    assert_eq!(counts, [1, 0, 1, 0]);
    assert!((bins[0].counts[0].mean_speed_kmh.unwrap() - 45.0).abs() < 0.45);
    assert_eq!(
        (bins[1].counts.len(), bins[1].counts[0].direction.as_str()),
        (1, "south"),
        "an empty bin lists what was seen"
    );
    assert!((bins[2].counts[0].mean_headway_s.unwrap() - 1.6).abs() < 1e-6);
}

#[test]
fn a_crossing_against_a_one_way_line_alarms_once() {
    let mut h = harness(&format!("lines=ramp:0,0.5,1,0.5:south/north:only=north min-frames=2 {FLAT_VIEW}"));
    let bus = gst::Bus::new();
    h.element().unwrap().set_bus(Some(&bus));
    let (crossings, _) = drive_down(&mut h, 7, 0);
    assert_eq!(crossings.len(), 1);
    assert!(crossings[0].wrong_way && crossings[0].speed_kmh.is_some(), "{crossings:?}");
    let alarms = messages(&bus, traffic_meta::read_wrong_way);
    assert_eq!(alarms.len(), 1);
    assert_eq!((alarms[0].crossing.track_id, alarms[0].crossing.direction.as_str()), (7, "south"));
    // Up the allowed way: no alarm.
    for (i, bottom) in [300.0, 250.0, 200.0, 150.0, 120.0, 100.0].into_iter().enumerate() {
        h.push_and_pull(at(frame(8, "car", bottom, false), 40 + i as u64)).unwrap();
    }
    let after = messages(&bus, |s| Some(s.name().to_string()));
    assert_eq!(after, ["traffic-crossing"], "{after:?}");
}

#[test]
fn bins_close_where_the_frames_stopped_across_a_seek_and_at_the_end() {
    let mut h = harness("lines=road:0,0.5,1,0.5 bin=1s");
    let bus = gst::Bus::new();
    h.element().unwrap().set_bus(Some(&bus));
    for i in 0..30 {
        h.push_and_pull(at(frame(1, "car", 100.0, false), i)).unwrap();
    }
    // A flushing seek to 10 s: the open bin 1..2 closes where the frames stopped (1.2 s).
    assert!(h.push_event(gst::event::FlushStart::new()));
    assert!(h.push_event(gst::event::FlushStop::new(true)));
    let mut segment = gst::FormattedSegment::<gst::ClockTime>::new();
    segment.set_start(gst::ClockTime::from_seconds(10));
    segment.set_time(gst::ClockTime::from_seconds(10));
    assert!(h.push_event(gst::event::Segment::new(&segment)));
    for i in 0..13 {
        h.push_and_pull(at(frame(1, "car", 100.0, false), 250 + i)).unwrap();
    }
    // The end of the stream mid-bin closes 10..10.52.
    assert!(h.push_event(gst::event::Eos::new()));
    let spans: Vec<(f64, f64)> = messages(&bus, traffic_meta::read_bin).iter().map(|b| (b.start, b.end)).collect();
    assert_eq!(spans.len(), 3, "{spans:?}");
    for ((start, end), want) in spans.iter().zip([(0.0, 1.0), (1.0, 1.2), (10.0, 10.52)]) {
        assert!((start - want.0).abs() < 1e-9 && (end - want.1).abs() < 1e-9, "{spans:?}");
    }
}
