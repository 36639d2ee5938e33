//! The built `traffic-monitor` binary on the residential street video: counts, outputs, Ctrl-C,
//! and errors a user makes.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;
use traffic_test_support::{discovered_seconds, repo_root, send_signal, shared_data};

const BIN: &str = env!("CARGO_BIN_EXE_traffic-monitor");
/// 905 frames, 640x352; 8 cars cross this line towards the camera (BENCHMARKS.md).
const VIDEO: &str = "videos/ahmetozlu_residential_street.mp4";
const FRAMES: u64 = 905;

fn out_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("traffic-monitor").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn summary(dir: &Path) -> Value {
    let text = std::fs::read_to_string(dir.join("summary.json")).expect("summary.json written");
    serde_json::from_str(&text).expect("summary.json is JSON")
}

fn assert_complete(s: &Value) {
    for field in [
        "source",
        "live",
        "ending",
        "frames",
        "dropped_frames",
        "stream_seconds",
        "wall_seconds",
        "mean_fps",
        "lines",
        "zones",
        "crossings",
        "plates",
        "outputs",
        "config",
    ] {
        assert!(s.get(field).is_some(), "summary.json lacks {field}: {s}");
    }
}

#[test]
fn a_file_run_counts_like_linecounter_and_writes_every_output() {
    let Some(video) = shared_data(VIDEO) else { return };
    let dir = out_dir("file");
    std::fs::create_dir_all(&dir).unwrap();
    // The lines and the switches from a config file, as a user would write it.
    let config = dir.join("traffic.toml");
    std::fs::write(
        &config,
        "[plates]\nenabled = false\n[[line]]\nname = \"street\"\npoints = [0, 0.6, 1, 0.6]\nin = \"down\"\nout = \"up\"\n",
    )
    .unwrap();
    let status = Command::new(BIN).arg(&video).arg("--config").arg(&config).arg("--out").arg(&dir).status().unwrap();
    assert!(status.success(), "{status}");

    let s = summary(&dir);
    assert_complete(&s);
    assert_eq!(s["ending"], "end-of-stream");
    assert_eq!(s["frames"], FRAMES);
    assert_eq!(s["dropped_frames"], 0);
    let line = &s["lines"][0];
    assert_eq!(line["name"], "street");
    assert_eq!(line["totals"]["down"], 8, "{line}");
    assert_eq!(line["totals"]["up"], 0, "{line}");
    let crossings = s["crossings"].as_array().unwrap();
    assert_eq!(crossings.len(), 8);
    let times: Vec<f64> = crossings.iter().map(|c| c["time"].as_f64().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]) && times[7] < 38.0, "{times:?}");
    assert!(s["mean_fps"].as_f64().unwrap() > 0.0);
    assert!(s["plates"].as_array().unwrap().is_empty(), "plates were off");

    let frames = std::fs::read_to_string(dir.join("frames.jsonl")).unwrap().lines().count() as u64;
    assert_eq!(frames, FRAMES);
    // The versioned events: the same 8 crossings, then the summary.
    let events = events(&dir);
    let kinds: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap_or("")).collect();
    assert_eq!(kinds.iter().filter(|k| **k == "crossing").count(), 8, "{kinds:?}");
    assert_eq!(kinds.last(), Some(&"summary"), "{kinds:?}");
    let video_seconds = discovered_seconds(&dir.join("annotated.mp4"));
    assert!((video_seconds - 37.7).abs() < 1.0, "annotated.mp4 lasts {video_seconds} s");
    let decoder = png::Decoder::new(BufReader::new(std::fs::File::open(dir.join("chart.png")).unwrap()));
    let info = decoder.read_info().expect("chart.png is a PNG");
    assert_eq!((info.info().width, info.info().height), (960, 540));
}

/// The events of `events.jsonl`.
fn events(dir: &Path) -> Vec<Value> {
    std::fs::read_to_string(dir.join("events.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).expect("an event is JSON"))
        .collect()
}

#[test]
fn a_zone_over_the_road_sees_each_car_enter_and_leave() {
    let Some(video) = shared_data(VIDEO) else { return };
    let dir = out_dir("zone");
    std::fs::create_dir_all(&dir).unwrap();
    // The near lane and the start of the far one, y = 194..317 of 352: every car driving
    // towards the camera passes through; the cars parked on the right have their bottom edge
    // above it (y < 190), so they never enter. Zones only, no line.
    let config = dir.join("zone.toml");
    std::fs::write(
        &config,
        "[plates]\nenabled = false\n[output]\nmp4 = false\n[[zone]]\nname = \"road\"\npoints = [0.33, 0.55, 0.75, 0.55, 0.9, 0.9, 0.38, 0.9]\n",
    )
    .unwrap();
    let status = Command::new(BIN).arg(&video).arg("--config").arg(&config).arg("--out").arg(&dir).status().unwrap();
    assert!(status.success(), "{status}");

    let s = summary(&dir);
    assert_complete(&s);
    assert!(s["lines"].as_array().unwrap().is_empty());
    let zone = &s["zones"][0];
    assert_eq!(zone["name"], "road");
    assert_eq!(zone["points"][0], serde_json::json!([211.2, 193.6]), "fractions in pixels of 640x352");
    let entries: u64 = zone["entries"].as_object().unwrap().values().filter_map(Value::as_u64).sum();
    // The 8 cars the line counts (BENCHMARKS.md), one at a time.
    assert_eq!(entries, 8, "{zone}");
    assert_eq!(zone["peak_occupancy"], 1, "{zone}");
    assert!(zone["inside_at_end"].as_array().unwrap().is_empty(), "no parked car inside: {zone}");

    // events.jsonl: an enter per entry, and each exit after its own track's enter.
    let events = events(&dir);
    let mut inside = std::collections::BTreeSet::new();
    let (mut enters, mut dwells) = (0, vec![]);
    for e in events.iter().filter(|e| e["zone"] == "road") {
        let track = e["track_id"].as_u64().expect("a track id");
        match e["type"].as_str() {
            Some("zone-enter") => {
                assert!(inside.insert(track), "track {track} entered twice without leaving");
                enters += 1;
            }
            Some("zone-exit") => {
                assert!(inside.remove(&track), "track {track} left without entering");
                dwells.push(e["dwell"].as_f64().expect("a dwell"));
            }
            other => panic!("{other:?} in the zone's events"),
        }
    }
    assert_eq!(enters, entries);
    assert_eq!(inside.len(), zone["inside_at_end"].as_array().unwrap().len());
    assert_eq!(dwells.len() as u64, zone["visits_ended"].as_u64().unwrap());
    // Each car takes about a second to cross the zone at 25 fps.
    assert!(dwells.iter().all(|d| (0.2..5.0).contains(d)), "{dwells:?}");
    let longest = dwells.iter().copied().fold(0.0, f64::max);
    assert!((zone["max_dwell"].as_f64().unwrap() - longest).abs() < 1e-3, "{zone} vs {dwells:?}");
    let last = events.last().unwrap();
    assert_eq!((last["type"].as_str(), last["zones"]["road"]["entries"]["car"].as_u64()), (Some("summary"), Some(8)));
    // The chart has the zone's entries even without a line.
    let decoder = png::Decoder::new(BufReader::new(std::fs::File::open(dir.join("chart.png")).unwrap()));
    assert!(decoder.read_info().is_ok(), "chart.png is a PNG");
}

#[test]
fn ctrl_c_finishes_the_mp4_and_the_summary() {
    let Some(video) = shared_data(VIDEO) else { return };
    let dir = out_dir("interrupted");
    let mut child = Command::new(BIN)
        .arg(&video)
        .args(["--lines", "street:0,0.6,1,0.6:down/up", "--no-plates", "--out"])
        .arg(&dir)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until it has analysed some frames: its progress lines say how many.
    let (tx, rx) = mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            eprintln!("{line}");
            let frames =
                line.split_whitespace().find_map(|w| w.strip_prefix("frames=")).and_then(|n| n.parse::<u64>().ok());
            if frames.is_some_and(|n| n >= 30) {
                let _ = tx.send(());
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(180)).expect("progress with 30 frames or more");
    assert!(Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap().success());
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "still running 60 s after SIGINT");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(status.success(), "{status}");

    let s = summary(&dir);
    assert_complete(&s);
    assert_eq!(s["ending"], "interrupted");
    let frames = s["frames"].as_u64().unwrap();
    assert!((30..FRAMES).contains(&frames), "{frames} frames");
    let counted = s["lines"][0]["totals"]["down"].as_u64().unwrap();
    assert_eq!(counted, s["crossings"].as_array().unwrap().len() as u64);
    assert!(discovered_seconds(&dir.join("annotated.mp4")) > 0.5, "the MP4 is finalised and playable");
}

#[test]
fn a_missing_file_is_a_clear_error() {
    let out = Command::new(BIN).args(["/nonexistent/video.mp4", "--out"]).arg(out_dir("missing")).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("/nonexistent/video.mp4: no such file"), "{stderr}");
}

#[test]
fn a_misspelt_property_names_its_section_and_element() {
    let dir = out_dir("bad-config");
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("bad.toml");
    std::fs::write(&config, "[detector]\nconf-treshold = 0.3\n").unwrap();
    // Any existing file will do: the config is checked before anything is read.
    let input = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml");
    let out = Command::new(BIN).arg(input).arg("--config").arg(&config).arg("--out").arg(&dir).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("[detector] conf-treshold: yolodetect has no property 'conf-treshold'"), "{stderr}");
}

#[test]
fn a_live_source_drops_frames_instead_of_waiting() {
    let Some(video) = shared_data(VIDEO) else { return };
    let dir = out_dir("live");
    std::fs::create_dir_all(&dir).unwrap();
    // The file as if it were a camera: decoded as fast as it goes, much faster than inference.
    let config = dir.join("live.toml");
    std::fs::write(&config, "[source]\nlive = true\n[plates]\nenabled = false\n").unwrap();
    let out = Command::new(BIN)
        .arg(&video)
        .args(["--lines", "street:0,0.6,1,0.6:down/up", "--config"])
        .arg(&config)
        .arg("--out")
        .arg(&dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let s = summary(&dir);
    assert_complete(&s);
    assert_eq!(s["live"], true);
    let (frames, dropped) = (s["frames"].as_u64().unwrap(), s["dropped_frames"].as_u64().unwrap());
    assert!(frames > 0 && dropped > 0 && frames + dropped <= FRAMES, "{frames} analysed, {dropped} dropped");
    // Fragmented MP4 on live sources: playable, whatever the frames it holds.
    assert!(discovered_seconds(&dir.join("annotated.mp4")) > 0.0);
}

/// Waits for `child` to exit, at most `limit`.
fn wait_exit(child: &mut std::process::Child, limit: Duration) -> std::process::ExitStatus {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            panic!("still running {limit:?} later");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn ctrl_c_in_the_first_moments_ends_as_interrupted_with_complete_outputs() {
    let Some(video) = shared_data(VIDEO) else { return };
    // Before the first frame the file's type and header are still being read: EOS sent there
    // failed with "typefind: Internal data stream error".
    for delay_ms in [100, 300] {
        let dir = out_dir(&format!("early-ctrl-c-{delay_ms}"));
        let mut child = Command::new(BIN).arg(&video).arg("--out").arg(&dir).stderr(Stdio::piped()).spawn().unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        send_signal(child.id(), "-INT");
        let stderr = child.stderr.take().unwrap();
        let log = std::thread::spawn(move || std::io::read_to_string(stderr).unwrap_or_default());
        let status = wait_exit(&mut child, Duration::from_secs(120));
        let log = log.join().unwrap();
        assert_eq!(status.code(), Some(0), "SIGINT after {delay_ms} ms: {status}\n{log}");
        let s = summary(&dir);
        assert_complete(&s);
        assert_eq!(s["ending"], "interrupted", "SIGINT after {delay_ms} ms: {s}\n{log}");
        let frames = s["frames"].as_u64().unwrap();
        let lines = std::fs::read_to_string(dir.join("frames.jsonl")).unwrap().lines().count() as u64;
        assert!(frames >= 1 && lines == frames, "{frames} frames, {lines} lines in frames.jsonl");
        assert_eq!(events(&dir).last().and_then(|e| e["type"].as_str()), Some("summary"));
        assert!(discovered_seconds(&dir.join("annotated.mp4")) > 0.0, "the MP4 is finalised and playable");
    }
}

/// Runs the binary on `input` (nothing is analysed: these stop before) and returns its exit
/// code and stderr.
fn usage_error(input: &Path, args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(BIN).arg(input).args(args).output().unwrap();
    (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn bad_counting_lines_and_names_are_usage_errors_that_say_what_is_wrong() {
    let dir = out_dir("bad-lines");
    std::fs::create_dir_all(&dir).unwrap();
    let input = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"));
    let out = dir.to_str().unwrap();
    for (lines, says) in [
        ("a:NaN,0,1,1", ["--lines: line 'a:NaN,0,1,1': ", "coordinates must be finite"]),
        ("a:inf,0,1,1", ["--lines: line 'a:inf,0,1,1': ", "coordinates must be finite"]),
        ("a;b:0,0.5,1,0.5", ["--lines: line 'a': ", "a line name cannot contain ';'"]),
        ("a:b:0,0.5,1,0.5", ["--lines: ", "line name 'a:b' contains ':'"]),
    ] {
        let (code, stderr) = usage_error(input, &["--lines", lines, "--out", out]);
        assert_eq!(code, Some(2), "--lines '{lines}': {stderr}");
        assert!(says.iter().all(|s| stderr.contains(s)), "--lines '{lines}': {stderr}");
    }
    for (table, says) in [
        ("[[line]]\nname = \"a:b\"\npoints = [0, 0.5, 1, 0.5]\n", "[[line]] 'a:b': a name cannot contain ':' or ';'"),
        ("[[zone]]\nname = \"x;y\"\npoints = [0, 0, 1, 0, 1, 1]\n", "[[zone]] 'x;y': a name cannot contain"),
        ("[[line]]\nname = \"a\"\npoints = [nan, 0.5, 1, 0.5]\n", "[[line]] 'a': points must be finite"),
    ] {
        let config = dir.join("lines.toml");
        std::fs::write(&config, table).unwrap();
        let (code, stderr) = usage_error(input, &["--config", config.to_str().unwrap(), "--out", out]);
        assert_eq!(code, Some(2), "{table}: {stderr}");
        assert!(stderr.contains(says), "{table}: {stderr}");
    }
}

/// A 10-frame 320x240 clip made with gst-launch-1.0: runs on it take seconds.
fn tiny_clip(dir: &Path) -> PathBuf {
    let path = dir.join("clip.mp4");
    let status = Command::new("gst-launch-1.0")
        .args(["-q", "videotestsrc", "num-buffers=10", "!", "video/x-raw,width=320,height=240,framerate=10/1"])
        .args(["!", "x264enc", "!", "mp4mux", "!", "filesink"])
        .arg(format!("location={}", path.display()))
        .status()
        .expect("gst-launch-1.0");
    assert!(status.success(), "cannot make {}", path.display());
    path
}

/// The detector model of this checkout (make setup), or None to skip.
fn detector_model() -> Option<PathBuf> {
    let dir = std::env::var_os("TRAFFIC_WEIGHTS_DIR").map_or_else(|| repo_root().join("weights"), PathBuf::from);
    let model = dir.join("yolov8n.onnx");
    if !model.is_file() {
        eprintln!("SKIPPED: {} not found (make setup)", model.display());
        return None;
    }
    Some(model)
}

#[test]
fn relative_paths_in_the_config_are_relative_to_its_folder() {
    let Some(model) = detector_model() else { return };
    let dir = out_dir("relative-paths");
    let (conf, elsewhere) = (dir.join("conf"), dir.join("elsewhere"));
    std::fs::create_dir_all(conf.join("models")).unwrap();
    std::fs::create_dir_all(&elsewhere).unwrap();
    std::os::unix::fs::symlink(&model, conf.join("models/yolo.onnx")).unwrap();
    let clip = tiny_clip(&dir);
    let config = conf.join("traffic.toml");
    // Run from another folder: the model is found beside the config, not in the working directory.
    let run = |model: &str| {
        std::fs::write(
            &config,
            format!("[detector]\nmodel = \"{model}\"\n[plates]\nenabled = false\n[output]\nmp4 = false\n"),
        )
        .unwrap();
        let out = Command::new(BIN)
            .arg(&clip)
            .arg("--config")
            .arg(&config)
            .args(["--out", "out"])
            .current_dir(&elsewhere)
            .output()
            .unwrap();
        (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let (code, stderr) = run("models/yolo.onnx");
    assert_eq!(code, Some(0), "{stderr}");
    let s = summary(&elsewhere.join("out"));
    let used = s["config"]["detector"]["model"].as_str().unwrap();
    assert_eq!(Path::new(used), std::fs::canonicalize(&conf).unwrap().join("models/yolo.onnx"));
    assert_eq!(s["frames"], 10);

    let (code, stderr) = run("models");
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("[detector] model: ") && stderr.contains("models is a directory"), "{stderr}");
    let (code, stderr) = run("nope.onnx");
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("conf/nope.onnx not found"), "{stderr}");
}

#[test]
fn publish_location_moves_frames_jsonl_and_the_summary_names_it() {
    if detector_model().is_none() {
        return;
    }
    let dir = out_dir("publish-location");
    std::fs::create_dir_all(dir.join("elsewhere")).unwrap();
    let clip = tiny_clip(&dir);
    let config = dir.join("traffic.toml");
    std::fs::write(
        &config,
        "[plates]\nenabled = false\n[output]\nmp4 = false\n[publish]\nlocation = \"elsewhere/frames.jsonl\"\n",
    )
    .unwrap();
    let out = dir.join("out");
    let status = Command::new(BIN).arg(&clip).arg("--config").arg(&config).arg("--out").arg(&out).status().unwrap();
    assert!(status.success(), "{status}");
    let s = summary(&out);
    let jsonl = PathBuf::from(s["outputs"]["jsonl"].as_str().expect("outputs.jsonl"));
    assert_eq!(jsonl, std::fs::canonicalize(&dir).unwrap().join("elsewhere/frames.jsonl"), "{s}");
    assert_eq!(std::fs::read_to_string(&jsonl).unwrap().lines().count(), 10);
    assert!(!out.join("frames.jsonl").exists());
    assert_eq!(PathBuf::from(s["outputs"]["events"].as_str().unwrap()), out.join("events.jsonl"));
}

#[test]
fn a_second_run_on_the_same_output_folder_fails_at_once() {
    let Some(video) = shared_data(VIDEO) else { return };
    let dir = out_dir("locked");
    let mut first = Command::new(BIN)
        .arg(&video)
        .args(["--no-plates", "--no-mp4", "--out"])
        .arg(&dir)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // The lock file names its holder once the first run holds it.
    let lock = dir.join(".traffic-monitor.lock");
    let started = Instant::now();
    while std::fs::read_to_string(&lock).map(|t| t.trim() != first.id().to_string()).unwrap_or(true) {
        assert!(started.elapsed() < Duration::from_secs(60), "the first run never locked {}", dir.display());
        std::thread::sleep(Duration::from_millis(50));
    }
    let asked = Instant::now();
    let (code, stderr) = usage_error(&video, &["--no-plates", "--out", dir.to_str().unwrap()]);
    let took = asked.elapsed();
    send_signal(first.id(), "-INT");
    let status = wait_exit(&mut first, Duration::from_secs(60));
    assert_eq!(code, Some(2), "{stderr}");
    let holder = format!("is in use by another traffic-monitor run (process {})", first.id());
    assert!(stderr.contains(&holder), "{stderr}");
    assert!(took < Duration::from_secs(10), "the second run took {took:?} to give up");
    assert!(status.success(), "{status}");
    assert_eq!(summary(&dir)["ending"], "interrupted", "the first run's summary is its own");
}
