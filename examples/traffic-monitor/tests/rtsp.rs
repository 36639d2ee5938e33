//! The app on a live RTSP camera (examples/rtsp/serve.py serving the shared residential clip):
//! the camera's server dies and comes back mid-run; the app reconnects, keeps counting from
//! where it was; the camera comes back once more at another resolution, and the annotated MP4
//! stays one playable stream; SIGINT stops cleanly with a complete summary.json.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use traffic_test_support::{discovered_seconds, free_port, send_signal, shared_data, RtspServer};

const MOUNT: &str = "/street";

/// Sum of all totals on each frames.jsonl line that carries them (frames with crossings).
fn totals(events: &Path) -> Vec<u64> {
    let text = std::fs::read_to_string(events).unwrap_or_default();
    text.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| {
            let lines = v.get("totals")?.as_object()?.clone();
            let per_direction = lines.values().flat_map(|c| c.as_object().cloned()).flat_map(|c| c.into_values());
            Some(
                per_direction
                    .flat_map(|d| d.as_object().cloned())
                    .flat_map(|d| d.into_values())
                    .filter_map(|n| n.as_u64())
                    .sum(),
            )
        })
        .collect()
}

fn wait_until(timeout: Duration, what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < deadline, "timed out after {timeout:?} waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn rtsp_camera_restart_mid_run_counts_carry_on_and_sigint_ends_cleanly() {
    let Some(video) = shared_data("videos/ahmetozlu_residential_street.mp4") else { return };
    // 768x432, where the residential clip is 640x352.
    let Some(other_size) = shared_data("videos/intel_car-detection.mp4") else { return };
    let port = free_port();
    let out = std::env::temp_dir().join(format!("traffic-monitor-rtsp-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let server = RtspServer::serve(&video, port, MOUNT);

    let mut app = Command::new(env!("CARGO_BIN_EXE_traffic-monitor"))
        .arg(format!("rtsp://127.0.0.1:{port}{MOUNT}"))
        .args(["--out", out.to_str().unwrap(), "--lines", "street:0,0.6,1,0.6:down/up", "--interval", "2"])
        .arg("--no-plates")
        .stderr(Stdio::piped())
        .spawn()
        .expect("traffic-monitor");
    let log = Arc::new(Mutex::new(Vec::<String>::new()));
    let stderr = app.stderr.take().unwrap();
    let sink = log.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            sink.lock().unwrap().push(line);
        }
    });
    let logged = |needle: &str| log.lock().unwrap().iter().filter(|l| l.contains(needle)).count();
    let events = out.join("frames.jsonl");

    wait_until(Duration::from_secs(60), "a first count", || totals(&events).last().is_some_and(|&t| t >= 1));
    let before = *totals(&events).last().unwrap();
    server.kill();
    wait_until(Duration::from_secs(15), "the app to log the reconnect", || logged("reconnecting") >= 1);
    std::thread::sleep(Duration::from_secs(2));
    let server = RtspServer::serve(&video, port, MOUNT);
    wait_until(Duration::from_secs(30), "the app to log the new connection", || logged("state=(string)connected") >= 2);
    wait_until(Duration::from_secs(60), "a count after the reconnect", || {
        totals(&events).last().is_some_and(|&t| t > before)
    });

    // The camera comes back at another resolution: the MP4 must stay one playable stream.
    let losses = logged("reconnecting");
    server.kill();
    wait_until(Duration::from_secs(15), "the app to log the second loss", || logged("reconnecting") > losses);
    let _server = RtspServer::serve(&other_size, port, MOUNT);
    wait_until(Duration::from_secs(60), "frames at 768x432", || {
        std::fs::read_to_string(&events).unwrap_or_default().matches("\"width\":768").count() >= 10
    });

    send_signal(app.id(), "-INT");
    let deadline = Instant::now() + Duration::from_secs(30);
    let exit = loop {
        if let Some(exit) = app.try_wait().unwrap() {
            break exit;
        }
        if Instant::now() > deadline {
            let _ = app.kill();
            panic!("the app did not stop within 30 s of SIGINT");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let log = log.lock().unwrap().join("\n");
    assert!(exit.success(), "exit {exit:?}; log:\n{log}");

    let all = totals(&events);
    assert!(all.windows(2).all(|w| w[1] >= w[0]), "totals never go back: {all:?}");
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).expect("summary.json")).unwrap();
    assert_eq!(summary["ending"], "interrupted", "{summary}");
    assert_eq!(summary["live"], true);
    let line_total: u64 = summary["lines"][0]["totals"].as_object().unwrap().values().filter_map(|v| v.as_u64()).sum();
    assert!(line_total >= *all.last().unwrap(), "summary {line_total} against events {all:?}");
    let times: Vec<f64> = summary["crossings"].as_array().unwrap().iter().filter_map(|c| c["time"].as_f64()).collect();
    assert!(times.windows(2).all(|w| w[1] >= w[0]), "crossing times in order: {times:?}");
    // Every frame of both sizes is in the MP4: it lasts as long as the run's stream time.
    let stream = summary["stream_seconds"].as_f64().unwrap();
    let video = discovered_seconds(&out.join("annotated.mp4"));
    assert!((video - stream).abs() < 2.0_f64.max(stream * 0.1), "annotated.mp4 lasts {video} s, the run {stream} s");
    let _ = std::fs::remove_dir_all(&out);
}
