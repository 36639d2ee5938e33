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
                traffic_meta::set_track(b, id, &Track { id: 12, age: 5, predicted: false, label: "car".into(), label_id: 2 });
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
