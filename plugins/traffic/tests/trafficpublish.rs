//! trafficpublish writes one JSON line per frame with every object's metadata.

mod common;

use common::*;
use gst::prelude::*;
use gst_check::Harness;
use traffic_meta::{Detection, PixelBox, Track, NO_PARENT};

fn temp_path(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("{name}-{}.jsonl", std::process::id()))
}

#[test]
fn writes_one_line_per_frame_with_objects() {
    init();
    let path = temp_path("publish");
    let mut h = Harness::new_parse(&format!("trafficpublish location={}", path.display()));
    h.set_src_caps_str("video/x-raw,format=RGB,width=320,height=240,framerate=25/1");
    h.play();
    let size = FrameSize { width: 320, height: 240 };
    for i in 0..3u64 {
        let mut buffer = gst::Buffer::with_size(320 * 240 * 3).unwrap();
        {
            let b = buffer.get_mut().unwrap();
            b.set_pts(gst::ClockTime::from_mseconds(40 * i));
            if i == 1 {
                let det = Detection {
                    label: "car".into(),
                    label_id: 2,
                    confidence: 0.9,
                    bbox: PixelBox { x1: 10.0, y1: 20.0, x2: 110.5, y2: 80.0 },
                };
                let id = traffic_meta::add_detection(b, size, &det, NO_PARENT);
                traffic_meta::set_track(
                    b,
                    id,
                    &Track { id: 12, age: 5, predicted: false, label: "car".into(), label_id: 2, speed_kmh: None },
                );
            }
        }
        h.push_and_pull(buffer).expect("passes the frame through");
    }
    h.push_event(gst::event::Eos::new());
    let text = std::fs::read_to_string(&path).expect("jsonl written at EOS");
    std::fs::remove_file(&path).ok();
    let lines: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).expect("valid JSON")).collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0]["objects"].as_array().unwrap().len(), 0);
    assert_eq!(lines[1]["frame"], 1);
    assert_eq!(lines[1]["pts"], 40_000_000u64);
    assert_eq!((lines[1]["width"].as_u64(), lines[1]["height"].as_u64()), (Some(320), Some(240)));
    let car = &lines[1]["objects"][0];
    assert_eq!(car["class"], "car");
    assert_eq!(car["class_id"], 2);
    assert_eq!(car["confidence"], 0.9);
    assert_eq!(car["box"], serde_json::json!([10.0, 20.0, 110.5, 80.0]));
    assert_eq!(car["track_id"], 12);
    assert_eq!(car["predicted"], false);
}

#[test]
fn unwritable_location_is_an_error_naming_it() {
    init();
    let err = run_to_eos("videotestsrc num-buffers=1 ! trafficpublish location=/nonexistent-dir/out.jsonl ! fakesink")
        .expect_err("must fail");
    assert!(err.contains("/nonexistent-dir/out.jsonl"), "{err}");
}

#[test]
fn zone_entries_and_exits_from_linecounter_are_versioned_events() {
    init();
    let (frames_path, events_path) = (temp_path("publish-zone-frames"), temp_path("publish-zone-events"));
    let mut h = Harness::new_parse(&format!(
        "linecounter zones=lot:0,0.5,1,0.5,1,1,0,1 min-frames=1 ! trafficpublish location={} events-location={} source=cam1",
        frames_path.display(),
        events_path.display()
    ));
    h.set_src_caps_str("video/x-raw,format=RGB,width=320,height=240,framerate=25/1");
    h.play();
    // Car 3 drives into the lower half at frame 1 and out of it at frame 4.
    for (i, bottom) in [100.0, 200.0, 210.0, 220.0, 100.0, 100.0].into_iter().enumerate() {
        h.push_and_pull(car_frame(i as u64, bottom)).expect("passes the frame through");
    }
    h.push_event(gst::event::Eos::new());
    let read = |path: &std::path::Path| -> Vec<serde_json::Value> {
        let text = std::fs::read_to_string(path).expect("written at EOS");
        std::fs::remove_file(path).ok();
        text.lines().map(|l| serde_json::from_str(l).expect("valid JSON")).collect()
    };
    let (frames, events) = (read(&frames_path), read(&events_path));
    let kinds: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap_or("")).collect();
    assert_eq!(kinds, ["zone-enter", "zone-exit", "summary"]);
    let (enter, exit) = (&events[0], &events[1]);
    for e in [enter, exit] {
        assert_eq!((e["schema"].as_str(), e["version"].as_u64()), (Some("traffic-vision/events"), Some(1)));
        assert_eq!(
            (e["zone"].as_str(), e["track_id"].as_u64(), e["source"].as_str()),
            (Some("lot"), Some(3), Some("cam1"))
        );
    }
    assert_eq!((enter["frame"].as_u64(), enter["pts"].as_u64()), (Some(1), Some(40_000_000)));
    assert_eq!((enter["occupancy"]["car"].as_u64(), enter["entries"]["car"].as_u64()), (Some(1), Some(1)));
    assert_eq!((exit["frame"].as_u64(), exit["dwell"].as_f64()), (Some(4), Some(0.12)));
    assert_eq!(events[2]["zones"]["lot"], serde_json::json!({"entries": {"car": 1}, "occupancy": {}}));
    // The frame lines keep the zone state on every frame and list the events where they happen.
    assert_eq!(frames.len(), 6);
    assert!(frames.iter().all(|f| f["zones"]["lot"].is_object()));
    let with_events: Vec<u64> =
        frames.iter().filter(|f| f.get("zone_events").is_some()).map(|f| f["frame"].as_u64().unwrap()).collect();
    assert_eq!(with_events, [1, 4]);
    assert_eq!(frames[4]["zone_events"][0]["event"], "exit");
}

/// A frame with car 3 whose box bottom is at `bottom`, at time `i` / 25 s.
fn car_frame(i: u64, bottom: f64) -> gst::Buffer {
    let size = FrameSize { width: 320, height: 240 };
    let mut buffer = gst::Buffer::with_size(320 * 240 * 3).unwrap();
    {
        let b = buffer.get_mut().unwrap();
        b.set_pts(gst::ClockTime::from_mseconds(40 * i));
        let det = Detection {
            label: "car".into(),
            label_id: 2,
            confidence: 0.9,
            bbox: PixelBox { x1: 100.0, y1: bottom - 30.0, x2: 150.0, y2: bottom },
        };
        let id = traffic_meta::add_detection(b, size, &det, NO_PARENT);
        traffic_meta::set_track(
            b,
            id,
            &Track { id: 3, age: 5, predicted: false, label: "car".into(), label_id: 2, speed_kmh: None },
        );
    }
    buffer
}

fn json_lines(path: &std::path::Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    assert!(text.is_empty() || text.ends_with('\n'), "a torn last line: {text:?}");
    text.lines().map(|l| serde_json::from_str(l).expect("valid JSON")).collect()
}

/// Each event is in the file as soon as it happens, and the frame lines within a second, whole:
/// `tail -f` follows them, and a process killed (kill -9) mid-run loses none of them.
#[test]
fn events_and_frames_reach_the_files_while_running() {
    init();
    let (frames_path, events_path) = (temp_path("publish-live-frames"), temp_path("publish-live-events"));
    let mut h = Harness::new_parse(&format!(
        "linecounter zones=lot:0,0.5,1,0.5,1,1,0,1 min-frames=1 ! trafficpublish location={} events-location={}",
        frames_path.display(),
        events_path.display()
    ));
    h.set_src_caps_str("video/x-raw,format=RGB,width=320,height=240,framerate=25/1");
    h.play();
    h.push_and_pull(car_frame(0, 100.0)).unwrap();
    assert!(json_lines(&events_path).is_empty());
    h.push_and_pull(car_frame(1, 200.0)).unwrap();
    let events = json_lines(&events_path);
    assert_eq!(events.len(), 1, "the entry is written at once");
    assert_eq!(events[0]["type"], "zone-enter");
    std::thread::sleep(std::time::Duration::from_millis(1100));
    h.push_and_pull(car_frame(2, 210.0)).unwrap();
    let frames = json_lines(&frames_path);
    assert_eq!(frames.iter().map(|f| f["frame"].as_u64().unwrap()).collect::<Vec<_>>(), [0, 1, 2]);
    drop(h);
    std::fs::remove_file(&frames_path).ok();
    std::fs::remove_file(&events_path).ok();
}

/// The bus messages of a launch line run until an error or EOS (at most 5 s), then stopped:
/// (errors posted, whether it stopped within 5 s).
fn run_under_fault(launch: &str) -> (Vec<String>, bool) {
    let pipeline = gst::parse::launch(launch).expect("launch");
    let bus = pipeline.bus().unwrap();
    let _ = pipeline.set_state(gst::State::Playing);
    let mut errors = Vec::new();
    let mut collect = |msg: gst::Message| {
        if let gst::MessageView::Error(e) = msg.view() {
            errors.push(format!("{} {:?}", e.error(), e.debug()));
        }
    };
    let ending = [gst::MessageType::Eos, gst::MessageType::Error];
    if let Some(msg) = bus.timed_pop_filtered(gst::ClockTime::from_seconds(5), &ending) {
        collect(msg);
    }
    // Whatever else the element posts while it winds down counts too.
    std::thread::sleep(std::time::Duration::from_millis(300));
    let started = std::time::Instant::now();
    let stopped = pipeline.set_state(gst::State::Null).is_ok();
    let in_time = stopped && started.elapsed() < std::time::Duration::from_secs(5);
    while let Some(msg) = bus.pop_filtered(&[gst::MessageType::Error]) {
        collect(msg);
    }
    (errors, in_time)
}

/// A full disk (or any write error) is one error naming the file, and the pipeline stops.
#[test]
fn a_write_error_is_posted_once_and_the_pipeline_stops() {
    init();
    for props in ["location=/dev/null events-location=/dev/full", "location=/dev/full"] {
        let (errors, stopped) =
            run_under_fault(&format!("videotestsrc num-buffers=30 ! trafficpublish {props} ! fakesink"));
        assert!(stopped, "{props}: set_state(NULL) within 5 s");
        assert_eq!(errors.len(), 1, "{props}: {errors:?}");
        assert!(errors[0].contains("/dev/full") && errors[0].contains("No space left"), "{props}: {errors:?}");
    }
}

/// Two pipelines on one spool would lose each other's events: the second fails at start and
/// says how to part them; with a source each, each camera gets its own default spool.
#[test]
fn a_spool_belongs_to_one_pipeline() {
    init();
    let stream = format!("spool-owner-{}", std::process::id());
    let launch = |source: &str| {
        let pipeline = gst::parse::launch(&format!(
            "videotestsrc is-live=true ! trafficpublish location=- frames=false redis-url=redis://127.0.0.1:1 stream={stream} {source} ! fakesink"
        ))
        .expect("launch");
        let bus = pipeline.bus().unwrap();
        let started = pipeline.set_state(gst::State::Playing).is_ok();
        let error = bus.timed_pop_filtered(gst::ClockTime::from_mseconds(500), &[gst::MessageType::Error]).map(|m| {
            match m.view() {
                gst::MessageView::Error(e) => format!("{} {:?}", e.error(), e.debug()),
                _ => String::new(),
            }
        });
        (pipeline, started && error.is_none(), error)
    };
    let (first, ok, _) = launch("");
    assert!(ok, "the first pipeline starts");
    let (second, ok, error) = launch("");
    assert!(!ok, "the second pipeline on the same spool must not start");
    let error = error.unwrap_or_default();
    assert!(error.contains("another pipeline") && error.contains("'spool'"), "{error}");
    second.set_state(gst::State::Null).unwrap();
    let (cam1, ok1, _) = launch("source=cam1");
    let (cam2, ok2, _) = launch("source=cam2");
    assert!(ok1 && ok2, "one spool per source");
    for p in [first, cam1, cam2] {
        p.set_state(gst::State::Null).unwrap();
    }
    for suffix in ["", "-cam1", "-cam2"] {
        let spool = std::env::temp_dir().join(format!("trafficpublish-{stream}{suffix}.spool"));
        std::fs::remove_file(&spool).ok();
        std::fs::remove_file(spool.with_extension("spool.lock")).ok();
    }
}
