//! trafficpublish to a real `redis-server` on a loopback port: every crossing reaches the
//! stream, a Redis restart mid-run loses nothing, the spool outlives the process, and the
//! consumer example acknowledges everything through its consumer group.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use gst::prelude::*;
use serde_json::Value;

const REDIS_SERVER: &str = "redis-server";

/// A throw-away redis-server on a free loopback port, persisting to its own directory so that
/// a stop and restart keeps the stream (as a production server would).
struct RedisServer {
    port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

impl RedisServer {
    /// None (with a message) where redis-server is not installed.
    fn start(name: &str) -> Option<RedisServer> {
        if Command::new(REDIS_SERVER).arg("--version").output().is_err() {
            eprintln!("SKIPPED: {REDIS_SERVER} not found (make setup installs the Debian package redis-server)");
            return None;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let dir = std::env::temp_dir().join(format!("trafficpublish-redis-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mut server = RedisServer { port, dir, child: None };
        server.restart();
        Some(server)
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn restart(&mut self) {
        let child = Command::new(REDIS_SERVER)
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(&self.dir)
            .stdout(Stdio::null())
            .spawn()
            .expect("start redis-server");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.cli(&["PING"]) != "PONG" {
            assert!(Instant::now() < deadline, "redis-server did not answer on port {}", self.port);
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SHUTDOWN SAVE: the data is on disk for the restart, the port is closed on return.
    fn stop(&mut self) {
        let _ = self.cli(&["SHUTDOWN", "SAVE"]);
        if let Some(mut child) = self.child.take() {
            child.wait().expect("redis-server exits");
        }
    }

    /// A command through redis-cli: its raw output, trimmed.
    fn cli(&self, args: &[&str]) -> String {
        let out =
            Command::new("redis-cli").args(["-p", &self.port.to_string()]).args(args).output().expect("run redis-cli");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    fn cli_json(&self, args: &[&str]) -> Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let text = self.cli(&all);
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("redis-cli {args:?} gave {text:?}: {e}"))
    }

    /// The events in the stream, in stream order.
    fn events(&self, stream: &str) -> Vec<Value> {
        let entries = self.cli_json(&["XRANGE", stream, "-", "+"]);
        entries
            .as_array()
            .expect("XRANGE gives an array")
            .iter()
            .map(|entry| {
                assert_eq!(entry[1][0], "event", "the entry's field: {entry}");
                serde_json::from_str(entry[1][1].as_str().expect("event text")).expect("event JSON")
            })
            .collect()
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn residential() -> Option<PathBuf> {
    let video = shared_data("videos/ahmetozlu_residential_street.mp4")?;
    weight("yolov8n.onnx");
    Some(video)
}

/// detector → tracker → counter → trafficpublish (named `publish`) on the residential clip.
/// interval=2 halves the detector's time; the tracker carries the boxes between.
fn residential_pipeline(video: &Path, jsonl: &Path, publish_props: &str) -> gst::Pipeline {
    let launch = format!(
        "filesrc location={} ! decodebin ! videoconvert ! yolodetect interval=2 ! mottracker ! \
         linecounter name=counter lines=street:0,0.6,1,0.6:down/up ! \
         trafficpublish name=publish location={} {publish_props} ! fakesink",
        video.display(),
        jsonl.display()
    );
    gst::parse::launch(&launch).expect("pipeline").downcast().expect("a pipeline")
}

fn play_to_eos(pipeline: &gst::Pipeline) {
    pipeline.set_state(gst::State::Playing).expect("to PLAYING");
    let bus = pipeline.bus().expect("bus");
    let msg = bus
        .timed_pop_filtered(gst::ClockTime::from_seconds(600), &[gst::MessageType::Eos, gst::MessageType::Error])
        .expect("EOS within 10 minutes");
    if let gst::MessageView::Error(e) = msg.view() {
        panic!("pipeline error: {} ({:?})", e.error(), e.debug());
    }
}

fn stats(pipeline: &gst::Pipeline) -> gst::Structure {
    pipeline.by_name("publish").expect("publish").property::<gst::Structure>("stats")
}

/// The crossings in the per-frame JSON lines, as (line, direction, track id) in frame order.
fn jsonl_crossings(path: &Path) -> Vec<(String, String, u64)> {
    let text = std::fs::read_to_string(path).expect("JSON lines written");
    text.lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("valid JSON"))
        .flat_map(|frame| frame["crossings"].as_array().cloned().unwrap_or_default())
        .map(|c| crossing_key(&c))
        .collect()
}

fn crossing_key(c: &Value) -> (String, String, u64) {
    (
        c["line"].as_str().unwrap_or_default().to_string(),
        c["direction"].as_str().unwrap_or_default().to_string(),
        c["track_id"].as_u64().expect("track_id"),
    )
}

fn of_type<'a>(events: &'a [Value], kind: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["type"] == kind).collect()
}

/// The stream holds one run's events exactly once each, in order, ending with the summary.
fn assert_complete_run(events: &[Value]) {
    let seqs: Vec<u64> = events.iter().map(|e| e["seq"].as_u64().expect("seq")).collect();
    assert_eq!(seqs, (0..events.len() as u64).collect::<Vec<_>>(), "no event lost, none repeated, order kept");
    assert!(events.iter().all(|e| e["schema"] == "traffic-vision/events" && e["version"] == 1));
    assert_eq!(events.last().map(|e| &e["type"]), Some(&Value::from("summary")));
}

fn temp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("trafficpublish-redis-{name}-{}", std::process::id()))
}

#[test]
fn every_crossing_reaches_the_stream_and_the_consumer_group_acknowledges_all() {
    init();
    let Some(video) = residential() else { return };
    let Some(redis) = RedisServer::start("consumer") else { return };
    let (jsonl, spool) = (temp("consumer.jsonl"), temp("consumer.spool"));
    let stream = "cam-residential";
    let python = repo_root().join("build/pyenv/bin/python");
    assert!(python.is_file(), "{} is missing: run `make setup` first", python.display());
    // The consumer runs live beside the pipeline, and stops at the summary.
    let consumer = Command::new(&python)
        .arg(repo_root().join("examples/redis-consumer/consumer.py"))
        .args(["--url", &redis.url(), "--stream", stream, "--group", "counters", "--until-summary", "--timeout", "600"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the consumer example");

    let pipeline = residential_pipeline(
        &video,
        &jsonl,
        &format!("redis-url={} stream={stream} spool={} source=residential", redis.url(), spool.display()),
    );
    play_to_eos(&pipeline);
    let stats = stats(&pipeline);
    pipeline.set_state(gst::State::Null).unwrap();

    let crossings = jsonl_crossings(&jsonl);
    assert!(!crossings.is_empty(), "the residential clip has crossings");
    let events = redis.events(stream);
    assert_complete_run(&events);
    let in_stream: Vec<_> = of_type(&events, "crossing").into_iter().map(crossing_key).collect();
    assert_eq!(in_stream, crossings, "every crossing of the JSON lines is in the stream, in order");
    assert!(events.iter().all(|e| e["source"] == "residential"));
    let summary = events.last().unwrap();
    assert_eq!(summary["crossings"].as_u64(), Some(crossings.len() as u64));
    assert_eq!(stats.get::<u64>("sent").unwrap(), events.len() as u64, "{stats}");
    assert_eq!(stats.get::<u64>("dropped").unwrap(), 0, "{stats}");

    let output = consumer.wait_with_output().expect("consumer exits");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "consumer failed: {stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    let last = stdout.lines().last().unwrap_or_default();
    let n = crossings.len();
    assert!(last.contains(&format!("crossings={n} counted={n}")), "consumer's last line: {last}");
    let pending = redis.cli_json(&["XPENDING", stream, "counters"]);
    assert_eq!(pending[0], 0, "nothing left unacknowledged: {pending}");
    let groups = redis.cli_json(&["XINFO", "GROUPS", stream]);
    let group = groups[0].as_object().cloned().unwrap_or_else(|| {
        // RESP2 without a map type: a flat [name, value, ...] list.
        let flat = groups[0].as_array().cloned().unwrap_or_default();
        flat.chunks(2).map(|kv| (kv[0].as_str().unwrap_or_default().to_string(), kv[1].clone())).collect()
    });
    assert_eq!(group["entries-read"].as_u64(), Some(events.len() as u64), "{groups}");
    assert_eq!(group["lag"].as_u64(), Some(0), "{groups}");
    assert!(!spool.exists(), "nothing left in the spool");
    std::fs::remove_file(&jsonl).ok();
}

#[test]
fn redis_restarted_mid_run_loses_no_event() {
    init();
    let Some(video) = residential() else { return };
    let Some(redis) = RedisServer::start("restart") else { return };
    let (jsonl, spool) = (temp("restart.jsonl"), temp("restart.spool"));
    let stream = "cam-restart";
    let pipeline = residential_pipeline(
        &video,
        &jsonl,
        &format!("redis-url={} stream={stream} spool={}", redis.url(), spool.display()),
    );
    let redis = Arc::new(Mutex::new(redis));

    // Redis goes down as the first crossing reaches trafficpublish, and comes back once the
    // second has passed it (or at EOS, before trafficpublish's final flush): the events between
    // can only have gone through the spool.
    let down = Arc::new(AtomicBool::new(false));
    let crossings_seen = Arc::new(AtomicUsize::new(0));
    let counter_src = pipeline.by_name("counter").unwrap().static_pad("src").unwrap();
    let (r, d) = (redis.clone(), down.clone());
    counter_src.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
        let crossed = info.buffer().and_then(|b| traffic_meta::counts(b)).is_some_and(|c| !c.crossings.is_empty());
        if crossed && !d.swap(true, Ordering::SeqCst) {
            lock(&r).stop();
        }
        gst::PadProbeReturn::Ok
    });
    let publish = pipeline.by_name("publish").unwrap();
    let restart = {
        let (r, d) = (redis.clone(), down.clone());
        move || {
            if d.load(Ordering::SeqCst) && lock(&r).child.is_none() {
                lock(&r).restart();
            }
        }
    };
    let restart_at_eos = restart.clone();
    let seen = crossings_seen.clone();
    publish.static_pad("src").unwrap().add_probe(gst::PadProbeType::BUFFER, move |_, info| {
        let n = info.buffer().and_then(|b| traffic_meta::counts(b)).map_or(0, |c| c.crossings.len());
        if seen.fetch_add(n, Ordering::SeqCst) + n >= 2 {
            restart();
        }
        gst::PadProbeReturn::Ok
    });
    publish.static_pad("sink").unwrap().add_probe(gst::PadProbeType::EVENT_DOWNSTREAM, move |_, info| {
        if matches!(info.event().map(|e| e.type_()), Some(gst::EventType::Eos)) {
            restart_at_eos();
        }
        gst::PadProbeReturn::Ok
    });

    play_to_eos(&pipeline);
    let stats = stats(&pipeline);
    pipeline.set_state(gst::State::Null).unwrap();

    assert!(down.load(Ordering::SeqCst), "Redis was stopped");
    let redis = lock(&redis);
    let events = redis.events(stream);
    assert_complete_run(&events);
    let in_stream: Vec<_> = of_type(&events, "crossing").into_iter().map(crossing_key).collect();
    assert_eq!(in_stream, jsonl_crossings(&jsonl), "every crossing survived the outage, in order");
    assert!(stats.get::<u64>("spooled").unwrap() >= 1, "events went through the spool: {stats}");
    assert_eq!(stats.get::<u64>("dropped").unwrap(), 0, "{stats}");
    assert_eq!(stats.get::<u64>("pending").unwrap(), 0, "{stats}");
    std::fs::remove_file(&jsonl).ok();
    std::fs::remove_file(&spool).ok();
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A harness around trafficpublish sending to `url`, with a crossing on each of `frames` frames.
fn run_crossings(url: &str, spool: &Path, frames: u64, props: &str) -> gst::Structure {
    let jsonl = temp("harness.jsonl");
    let mut h = gst_check::Harness::new_parse(&format!(
        "trafficpublish location={} redis-url={url} stream=harness spool={} {props}",
        jsonl.display(),
        spool.display()
    ));
    let publish = h.find_element("trafficpublish").expect("trafficpublish in the harness");
    h.set_src_caps_str("video/x-raw,format=RGB,width=64,height=48,framerate=25/1");
    h.play();
    for i in 0..frames {
        h.push_and_pull(crossing_frame(i)).expect("passes the frame through");
    }
    h.push_event(gst::event::Eos::new());
    let stats = publish.property::<gst::Structure>("stats");
    drop(h);
    std::fs::remove_file(&jsonl).ok();
    stats
}

#[test]
fn the_spool_is_bounded_and_sent_by_the_next_run() {
    init();
    let Some(mut redis) = RedisServer::start("spool") else { return };
    redis.stop();
    let spool = temp("bounded.spool");
    std::fs::remove_file(&spool).ok();

    // Redis down for the whole first run: 5 crossings and a summary, the spool keeps 3.
    let stats = run_crossings(&redis.url(), &spool, 5, "spool-max-events=3 flush-timeout=200");
    assert_eq!(stats.get::<u64>("sent").unwrap(), 0, "{stats}");
    assert_eq!(stats.get::<u64>("dropped").unwrap(), 3, "{stats}");
    assert_eq!(stats.get::<u64>("pending").unwrap(), 3, "{stats}");
    assert_eq!(std::fs::read_to_string(&spool).unwrap().lines().count(), 3, "the spool survives the element");

    // Redis back: the next run sends the spool first, then its own events.
    redis.restart();
    let stats = run_crossings(&redis.url(), &spool, 1, "");
    assert_eq!((stats.get::<u64>("sent").unwrap(), stats.get::<u64>("dropped").unwrap()), (5, 0), "{stats}");
    let events = redis.events("harness");
    let got: Vec<(String, u64)> =
        events.iter().map(|e| (e["type"].as_str().unwrap().to_string(), e["track_id"].as_u64().unwrap_or(0))).collect();
    let want = [("crossing", 103), ("crossing", 104), ("summary", 0), ("crossing", 100), ("summary", 0)];
    assert_eq!(
        got,
        want.map(|(t, id)| (t.to_string(), id)),
        "the newest of the first run, in order, then the second run"
    );
    assert_ne!(events[2]["id"], events[4]["id"], "ids are unique across runs");
    assert!(!spool.exists(), "a spool emptied is removed");
}

#[test]
fn a_bad_redis_url_is_an_error_naming_it() {
    init();
    let err =
        run_to_eos("videotestsrc num-buffers=1 ! trafficpublish location=/dev/null redis-url=http://x ! fakesink")
            .expect_err("must fail");
    assert!(err.contains("http://x") && err.contains("redis://"), "{err}");
}

/// Runs a 5-frame pipeline publishing to `url` (the summary at EOS is its event) and returns
/// the first error posted on the bus within 10 s, if any.
fn first_redis_error(url: &str, stream: &str, spool: &Path) -> Option<String> {
    let launch = format!(
        "videotestsrc num-buffers=5 ! trafficpublish location=/dev/null redis-url={url} stream={stream} spool={} flush-timeout=2000 ! fakesink",
        spool.display()
    );
    let pipeline = gst::parse::launch(&launch).expect("launch");
    let bus = pipeline.bus().unwrap();
    pipeline.set_state(gst::State::Playing).expect("playing");
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut error = None;
    while error.is_none() && Instant::now() < deadline {
        let Some(msg) = bus.timed_pop_filtered(gst::ClockTime::from_mseconds(200), &[gst::MessageType::Error]) else {
            continue;
        };
        if let gst::MessageView::Error(e) = msg.view() {
            error = Some(format!("{} {:?}", e.error(), e.debug()));
        }
    }
    let stopped = Instant::now();
    pipeline.set_state(gst::State::Null).expect("stops");
    assert!(stopped.elapsed() < Duration::from_secs(5), "stop took {:?}", stopped.elapsed());
    error
}

/// Redis up but refusing (a stream key of another type, a password it wants and we lack) is
/// no outage to wait out in silence: the reply is posted as an error, and the events wait in
/// the spool.
#[test]
fn redis_refusals_are_errors_naming_its_reply() {
    init();
    let Some(server) = RedisServer::start("refusals") else { return };
    let spool = temp("refusals-spool");
    let _ = std::fs::remove_file(&spool);
    assert_eq!(server.cli(&["SET", "not-a-stream", "x"]), "OK");
    let err = first_redis_error(&server.url(), "not-a-stream", &spool).expect("an error for WRONGTYPE");
    assert!(err.contains("WRONGTYPE"), "{err}");
    let spooled = std::fs::read_to_string(&spool).expect("the events wait in the spool");
    assert!(spooled.contains("\"summary\""), "{spooled}");
    std::fs::remove_file(&spool).ok();

    assert_eq!(server.cli(&["CONFIG", "SET", "requirepass", "secret"]), "OK");
    let err = first_redis_error(&server.url(), "traffic-events", &spool).expect("an error for NOAUTH");
    assert!(err.contains("NOAUTH") || err.contains("AUTH"), "{err}");
    let url = format!("redis://:wrong@127.0.0.1:{}", server.port);
    let err = first_redis_error(&url, "traffic-events", &spool).expect("an error for a wrong password");
    assert!(
        ["WRONGPASS", "invalid", "authentication failed"]
            .iter()
            .any(|w| err.to_lowercase().contains(&w.to_lowercase())),
        "{err}"
    );
    std::fs::remove_file(&spool).ok();
}
