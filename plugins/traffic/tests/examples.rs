//! The examples that run the built plugin from outside Rust:
//! - examples/python/read_metadata.py reads, through GObject introspection, the same objects
//!   trafficpublish writes: the same pipeline runs once here with trafficpublish and once in
//!   the script (the elements are deterministic on the same input), and every frame must
//!   match: tracks and crossings on the residential video, a plate on a photo;
//! - the gst-launch scripts of examples/launch parse, and file.sh runs.

mod common;

use std::path::Path;
use std::process::Command;

use common::*;
use serde_json::Value;

const LINES: &str = "street:0,0.6,1,0.6:down/up";

fn uri(path: &Path) -> String {
    let path = path.canonicalize().expect("input path");
    gst::glib::filename_to_uri(&path, None).expect("file URI").to_string()
}

/// One input through the script's pipeline, both ways.
struct Run {
    uri: String,
    /// identity eos-after: -1 for all.
    frames: i32,
    plates: bool,
}

impl Run {
    /// Frames as trafficpublish writes them.
    fn published(&self) -> Vec<Value> {
        let out = std::env::temp_dir().join(format!("python-example-{}-{}.jsonl", std::process::id(), self.plates));
        let plates = if self.plates { "platedetect ! plateocr ! " } else { "" };
        run_to_eos(&format!(
            "uridecodebin uri={} ! identity eos-after={} ! yolodetect ! mottracker ! {plates}\
             linecounter lines=\"{LINES}\" ! trafficpublish location={} ! fakesink sync=false",
            self.uri,
            self.frames,
            out.display()
        ))
        .expect("trafficpublish pipeline");
        let text = std::fs::read_to_string(&out).expect("trafficpublish output");
        std::fs::remove_file(&out).ok();
        text.lines().map(|l| serde_json::from_str(l).expect("JSON line")).collect()
    }

    /// The script's output lines: frames and bus messages.
    fn script(&self) -> Vec<Value> {
        let script = repo_root().join("examples/python/read_metadata.py");
        // Only this build of the plugin: a second copy of it elsewhere on the path would clash.
        let plugins = plugin_dir();
        let mut cmd = Command::new("/usr/bin/python3");
        // The Debian interpreter: python3-gi is a Debian package, invisible to pyenv or a venv.
        cmd.arg(&script).args([&self.uri, "--frames", &self.frames.to_string(), "--lines", LINES]);
        if self.plates {
            cmd.arg("--plates");
        }
        let output = cmd
            .env("GST_PLUGIN_PATH", &plugins)
            .env("TRAFFIC_WEIGHTS_DIR", traffic_vision::runtime::weights_dir())
            .output()
            .expect("run /usr/bin/python3 (python3-gi comes with make setup)");
        std::fs::remove_dir_all(&plugins).ok();
        assert!(output.status.success(), "read_metadata.py failed: {}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8(output.stdout)
            .expect("UTF-8")
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
            .collect()
    }

    /// Runs both and asserts the first `n` frames match; returns trafficpublish's frames and the
    /// script's bus messages and frame count.
    fn compare(&self, n: usize) -> (Vec<Value>, Vec<Value>, usize) {
        let published = self.published();
        let (frames, messages): (Vec<Value>, Vec<Value>) =
            self.script().into_iter().partition(|l| l.get("frame").is_some());
        assert!(published.len() >= n, "{} frames published", published.len());
        assert!(frames.len() >= n, "{} frames read", frames.len());
        for (ours, theirs) in frames.iter().zip(&published).take(n) {
            let frame = theirs["frame"].as_u64().expect("frame index");
            assert_eq!(ours["frame"], theirs["frame"]);
            for key in ["pts", "width", "height", "crossings", "totals"] {
                assert_eq!(ours.get(key), theirs.get(key), "frame {frame}: {key}");
            }
            let (a, b) = (ours["objects"].as_array().expect("objects"), theirs["objects"].as_array().expect("objects"));
            assert_eq!(a.len(), b.len(), "frame {frame}: object count");
            for (o, t) in a.iter().zip(b) {
                assert_same_object(frame, o, t);
            }
        }
        let read = frames.len();
        (published.into_iter().take(n).collect(), messages, read)
    }
}

fn f64_of(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

fn assert_same_object(frame: u64, ours: &Value, theirs: &Value) {
    let ctx = format!("frame {frame}: published {theirs}\nread {ours}");
    for key in ["class", "class_id", "track_id", "age", "predicted", "track_class"] {
        assert_eq!(ours.get(key), theirs.get(key), "{key} differs, {ctx}");
    }
    assert!((f64_of(&ours["confidence"]) - f64_of(&theirs["confidence"])).abs() <= 1e-6, "confidence, {ctx}");
    assert_same_box(&ours["box"], &theirs["box"], &ctx);
    match (ours.get("plate"), theirs.get("plate")) {
        (None, None) => {}
        (Some(a), Some(b)) => {
            for key in ["text", "track_text"] {
                assert_eq!(a.get(key), b.get(key), "plate {key}, {ctx}");
            }
            for key in ["confidence", "text_confidence", "track_confidence"] {
                let (x, y) = (a.get(key).map_or(0.0, f64_of), b.get(key).map_or(0.0, f64_of));
                assert!((x - y).abs() <= 1e-6, "plate {key}, {ctx}");
            }
            assert_same_box(&a["box"], &b["box"], &ctx);
        }
        _ => panic!("plate on one side only, {ctx}"),
    }
}

fn assert_same_box(ours: &Value, theirs: &Value, ctx: &str) {
    let (a, b) = (ours.as_array().expect("box"), theirs.as_array().expect("box"));
    assert_eq!((a.len(), b.len()), (4, 4), "{ctx}");
    for (x, y) in a.iter().zip(b) {
        assert!((f64_of(x) - f64_of(y)).abs() <= 0.5, "box, {ctx}");
    }
}

#[test]
fn python_reader_prints_the_tracks_and_crossings_trafficpublish_writes() {
    init();
    let Some(video) = shared_data("videos/ahmetozlu_residential_street.mp4") else { return };
    weight("yolov8n.onnx");
    // identity eos-after stops the source; the decoder still drains the frames it holds, a
    // number that varies from run to run: compare the first 80 frames (two cars cross by then).
    let n = 80;
    let (published, messages, read) = Run { uri: uri(&video), frames: n as i32, plates: false }.compare(n);
    let tracked = published
        .iter()
        .flat_map(|f| f["objects"].as_array().into_iter().flatten())
        .filter(|o| o.get("track_id").is_some())
        .count();
    assert!(tracked > n, "tracked objects on the frames: {tracked}");

    // Bus messages: a traffic-crossing for each crossing trafficpublish wrote, then the summary.
    let published_crossings: Vec<(&Value, &Value)> = published
        .iter()
        .flat_map(|f| f["crossings"].as_array().into_iter().flatten())
        .map(|c| (&c["line"], &c["track_id"]))
        .collect();
    let last_pts = published[n - 1]["pts"].as_u64().expect("pts");
    let crossing_messages: Vec<(&Value, &Value)> = messages
        .iter()
        .filter(|m| m["message"] == "traffic-crossing" && m["pts"].as_u64().is_some_and(|pts| pts <= last_pts))
        .map(|m| (&m["line"], &m["track-id"]))
        .collect();
    assert!(!published_crossings.is_empty(), "a car crosses the street line in the first {n} frames");
    assert_eq!(crossing_messages, published_crossings);
    let summary = messages.iter().find(|m| m["message"] == "traffic-summary").expect("traffic-summary at EOS");
    assert_eq!(summary["frames"].as_u64(), Some(read as u64));
    assert_eq!(summary["lines"][0]["name"], "street");
}

#[test]
fn python_reader_prints_the_plates_trafficpublish_writes() {
    init();
    // A close-up photo whose plate platedetect finds and plateocr reads.
    let Some(photo) = shared_data("plates/openalpr_endtoend_us/0b86cecf-67d1-4fc0-87c9-b36b0ee228bb.jpg") else {
        return;
    };
    weight("platedet.onnx");
    let (published, _, _) = Run { uri: uri(&photo), frames: -1, plates: true }.compare(1);
    let plate = published[0]["objects"]
        .as_array()
        .into_iter()
        .flatten()
        .find_map(|o| o.get("plate"))
        .expect("a plate on the photo");
    assert!(plate["text"].as_str().is_some_and(|t| !t.is_empty()), "plate text read: {plate}");
}

#[test]
fn launch_scripts_parse_and_the_file_script_runs() {
    let dir = repo_root().join("examples/launch");
    for script in ["file.sh", "webcam.sh", "rtsp.sh"] {
        let status = Command::new("bash").arg("-n").arg(dir.join(script)).status().expect("run bash -n");
        assert!(status.success(), "{script} does not parse");
    }
    let Some(video) = shared_data("videos/ahmetozlu_residential_street.mp4") else { return };
    weight("yolov8n.onnx");
    // file.sh sources scripts/env.sh, as a user does: the plugin of the checkout's target/release.
    let plugin = repo_root().join("target/release/libgsttraffic.so");
    assert!(plugin.is_file(), "{} missing: cargo build --release -p gst-plugin-traffic", plugin.display());
    let out = std::env::temp_dir().join(format!("launch-file-{}", std::process::id()));
    let output =
        Command::new(dir.join("file.sh")).arg(&video).arg(&out).env("FRAMES", "15").output().expect("run file.sh");
    assert!(output.status.success(), "file.sh failed: {}", String::from_utf8_lossy(&output.stderr));
    let jsonl = std::fs::read_to_string(out.join("file.jsonl")).expect("file.jsonl");
    let mp4 = std::fs::metadata(out.join("file.mp4")).map(|m| m.len()).unwrap_or(0);
    std::fs::remove_dir_all(&out).ok();
    let frames: Vec<Value> = jsonl.lines().map(|l| serde_json::from_str(l).expect("JSON line")).collect();
    assert!(frames.len() >= 15, "{} frames", frames.len());
    assert!(frames.iter().any(|f| f["objects"].as_array().is_some_and(|o| !o.is_empty())), "cars found");
    assert!(mp4 > 10_000, "file.mp4 is {mp4} bytes");
}
