//! trafficpublish writes one JSON line per frame with every object's metadata.

mod common;

use common::*;
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
                    &Track { id: 12, age: 5, predicted: false, label: "car".into(), label_id: 2 },
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
    let size = FrameSize { width: 320, height: 240 };
    // Car 3 drives into the lower half at frame 1 and out of it at frame 4.
    for (i, bottom) in [100.0, 200.0, 210.0, 220.0, 100.0, 100.0].into_iter().enumerate() {
        let mut buffer = gst::Buffer::with_size(320 * 240 * 3).unwrap();
        {
            let b = buffer.get_mut().unwrap();
            b.set_pts(gst::ClockTime::from_mseconds(40 * i as u64));
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
                &Track { id: 3, age: 5, predicted: false, label: "car".into(), label_id: 2 },
            );
        }
        h.push_and_pull(buffer).expect("passes the frame through");
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
