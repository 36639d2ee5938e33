//! The built `traffic-monitor` binary on the residential street video: counts, outputs, Ctrl-C,
//! and errors a user makes.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;
use traffic_test_support::shared_data;

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

/// The duration `gst-discoverer-1.0` reads from a media file, in seconds.
fn discovered_seconds(path: &Path) -> f64 {
    let out =
        Command::new("gst-discoverer-1.0").arg(path).output().expect("gst-discoverer-1.0 (make setup installs it)");
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Duration: "))
        .unwrap_or_else(|| panic!("no duration in:\n{text}"));
    line.split(':').fold(0.0, |acc, part| acc * 60.0 + part.parse::<f64>().unwrap_or(0.0))
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
