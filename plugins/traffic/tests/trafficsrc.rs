//! trafficsrc: files end with EOS; a live RTSP camera (examples/rtsp/serve.py on the shared
//! video) is reconnected after its server dies and comes back, with counts and track IDs
//! carrying on; an unreachable camera gives up with a clear error; a slow consumer makes the
//! source drop frames instead of falling behind.

mod common;

use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use gst::prelude::*;
use traffic_test_support::{free_port, RtspServer};

/// The RTSP tests each run an H.264 encoder and a live pipeline: one at a time on small machines.
static RTSP_TESTS: Mutex<()> = Mutex::new(());

const VIDEO: &str = "videos/ahmetozlu_residential_street.mp4";
const MOUNT: &str = "/street";

/// What the tail of the pipeline saw, frame by frame.
#[derive(Default)]
struct Seen {
    frames: u64,
    /// Sum of every line's totals, per frame in order.
    totals: Vec<u64>,
    max_track_id: u64,
    ids: Vec<u64>,
    last_pts: Option<gst::ClockTime>,
    pts_went_back: bool,
}

fn watch(pad: &gst::Pad) -> Arc<Mutex<Seen>> {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let sink = seen.clone();
    pad.add_probe(gst::PadProbeType::BUFFER, move |pad, info| {
        let (Some(buffer), Some(caps)) = (info.buffer(), pad.current_caps()) else { return gst::PadProbeReturn::Ok };
        let Ok(video) = gst_video::VideoInfo::from_caps(&caps) else { return gst::PadProbeReturn::Ok };
        let mut s = sink.lock().unwrap();
        s.frames += 1;
        if let Some(counts) = traffic_meta::counts(buffer) {
            s.totals.push(counts.lines.iter().flat_map(|l| &l.totals).map(|t| t.count).sum());
        }
        let size = FrameSize { width: video.width(), height: video.height() };
        for id in traffic_meta::objects(buffer, size).iter().filter_map(|o| o.track.as_ref().map(|t| t.id)) {
            s.max_track_id = s.max_track_id.max(id);
            s.ids.push(id);
        }
        if let (Some(last), Some(pts)) = (s.last_pts, buffer.pts()) {
            s.pts_went_back |= pts < last;
        }
        s.last_pts = buffer.pts().or(s.last_pts);
        gst::PadProbeReturn::Ok
    });
    seen
}

/// Pops bus messages until `done` says so or `timeout` passes; any error fails the test.
fn wait_on_bus(bus: &gst::Bus, timeout: Duration, what: &str, mut done: impl FnMut(Option<&gst::Message>) -> bool) {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        let msg = bus.timed_pop(gst::ClockTime::from_mseconds(100));
        if let Some(gst::MessageView::Error(e)) = msg.as_ref().map(|m| m.view()) {
            panic!("error while waiting for {what}: {} ({:?})", e.error(), e.debug());
        }
        if done(msg.as_ref()) {
            return;
        }
    }
    panic!("timed out after {timeout:?} waiting for {what}");
}

/// The `state` of a `traffic-source` message.
fn source_state(msg: Option<&gst::Message>) -> Option<String> {
    let m = traffic_meta::read_source(msg?.structure()?)?;
    Some(m.state.as_str().to_string())
}

fn total(seen: &Mutex<Seen>) -> u64 {
    seen.lock().unwrap().totals.last().copied().unwrap_or(0)
}

#[test]
fn rtsp_camera_restart_reconnects_and_counts_carry_on() {
    init();
    weight("yolov8n.onnx");
    let Some(video) = shared_data(VIDEO) else { return };
    let _one_at_a_time = RTSP_TESTS.lock().unwrap_or_else(|p| p.into_inner());
    let port = free_port();
    let server = RtspServer::serve(&video, port, MOUNT);

    let pipeline = gst::parse::launch(&format!(
        "trafficsrc name=src uri=rtsp://127.0.0.1:{port}{MOUNT} retry-initial-ms=200 retry-max-ms=1000 stall-timeout=3000 ! \
         yolodetect interval=2 ! mottracker ! linecounter lines=street:0,0.6,1,0.6:down/up ! fakesink name=sink sync=false"
    ))
    .expect("pipeline")
    .downcast::<gst::Pipeline>()
    .unwrap();
    let bus = pipeline.bus().unwrap();
    let sink = pipeline.by_name("sink").unwrap();
    let seen = watch(&sink.static_pad("sink").unwrap());
    pipeline.set_state(gst::State::Playing).expect("to PLAYING");

    // The clip has a car crossing the line every few seconds (at 3 s, 5 s, 7 s, 10 s...).
    wait_on_bus(&bus, Duration::from_secs(40), "two seconds of video and a first count", |_| {
        total(&seen) >= 1 && seen.lock().unwrap().frames > 48
    });
    let (before, max_id_before) = {
        let s = seen.lock().unwrap();
        (s.totals.last().copied().unwrap_or(0), s.max_track_id)
    };

    server.kill();
    let killed = Instant::now();
    let mut reason = String::new();
    wait_on_bus(&bus, Duration::from_secs(15), "a reconnecting message", |m| {
        let reconnecting = source_state(m).as_deref() == Some("reconnecting");
        if reconnecting {
            reason = m.and_then(|m| m.structure()).and_then(|s| s.get::<String>("reason").ok()).unwrap_or_default();
        }
        reconnecting
    });
    eprintln!("server killed; {} ms later trafficsrc: {reason}", killed.elapsed().as_millis());
    // A few failed attempts while the camera is away.
    std::thread::sleep(Duration::from_secs(2));

    let _server = RtspServer::serve(&video, port, MOUNT);
    let restarted = Instant::now();
    wait_on_bus(&bus, Duration::from_secs(30), "a connected message", |m| {
        source_state(m).as_deref() == Some("connected")
    });
    eprintln!("server back; {} ms later trafficsrc connected", restarted.elapsed().as_millis());
    let frames_at_reconnect = seen.lock().unwrap().frames;
    // Two seconds of video at least, and one more vehicle counted.
    wait_on_bus(&bus, Duration::from_secs(40), "frames and a count after the reconnect", |_| {
        total(&seen) > before && seen.lock().unwrap().frames > frames_at_reconnect + 48
    });

    // End as an application does on Ctrl-C: EOS through the live source, then EOS on the bus.
    assert!(pipeline.send_event(gst::event::Eos::new()), "EOS accepted");
    wait_on_bus(&bus, Duration::from_secs(10), "EOS", |m| {
        matches!(m.map(|m| m.view()), Some(gst::MessageView::Eos(_)))
    });
    let stats = pipeline.by_name("src").unwrap().property::<gst::Structure>("stats");
    pipeline.set_state(gst::State::Null).expect("to NULL");

    let s = seen.lock().unwrap();
    eprintln!(
        "frames {} (at reconnect {frames_at_reconnect}), total {before} before the restart, {} at the end; track ids up to {max_id_before} before, {} at the end; {stats}",
        s.frames,
        s.totals.last().unwrap(),
        s.max_track_id
    );
    assert!(s.totals.windows(2).all(|w| w[1] >= w[0]), "the totals never go back: {:?}", s.totals);
    assert!(!s.pts_went_back, "timestamps keep increasing across the reconnect");
    assert!(s.max_track_id > max_id_before, "new vehicles get new IDs");
    assert_eq!(stats.get::<u32>("reconnects").unwrap(), 1);
    assert!(stats.get::<bool>("live").unwrap());
}

#[test]
fn unreachable_camera_gives_up_after_retry_timeout_with_the_reason() {
    init();
    let uri = format!("rtsp://127.0.0.1:{}/nothing", free_port());
    let started = Instant::now();
    let err = run_to_eos(&format!("trafficsrc uri={uri} retry-initial-ms=100 retry-timeout=1500 ! fakesink"))
        .expect_err("nothing listens there");
    let took = started.elapsed();
    assert!(err.contains(&uri) && err.contains("gave up") && err.contains("retry-timeout"), "{err}");
    // The last error of the source itself is part of the message.
    assert!(err.contains("Could not open resource"), "{err}");
    assert!(took >= Duration::from_millis(1500) && took < Duration::from_secs(10), "gave up after {took:?}");
}

#[test]
fn a_file_ends_with_eos_and_is_not_live() {
    init();
    let image = weight("bus.jpg");
    let uri = format!("file://{}", image.canonicalize().unwrap().display());
    let pipeline = gst::parse::launch(&format!("trafficsrc name=src uri={uri} ! fakesink name=sink")).unwrap();
    let bin = pipeline.clone().downcast::<gst::Bin>().unwrap();
    let seen = watch(&bin.by_name("sink").unwrap().static_pad("sink").unwrap());
    pipeline.set_state(gst::State::Playing).unwrap();
    let bus = pipeline.bus().unwrap();
    wait_on_bus(&bus, Duration::from_secs(20), "EOS", |m| {
        matches!(m.map(|m| m.view()), Some(gst::MessageView::Eos(_)))
    });
    let stats = bin.by_name("src").unwrap().property::<gst::Structure>("stats");
    pipeline.set_state(gst::State::Null).unwrap();
    assert_eq!(seen.lock().unwrap().frames, 1, "the one picture");
    assert!(!stats.get::<bool>("live").unwrap());
    assert_eq!(stats.get::<String>("state").unwrap(), "connected");

    let err = run_to_eos("trafficsrc uri=file:///nonexistent/video.mp4 ! fakesink").expect_err("missing file");
    assert!(err.contains("/nonexistent/video.mp4") || err.contains("not found") || err.contains("No such"), "{err}");
    let err = run_to_eos("trafficsrc ! fakesink").expect_err("no uri");
    assert!(err.contains("No uri"), "{err}");
}

#[test]
fn slow_consumer_makes_a_live_source_drop_frames_not_fall_behind() {
    init();
    let Some(video) = shared_data(VIDEO) else { return };
    let _one_at_a_time = RTSP_TESTS.lock().unwrap_or_else(|p| p.into_inner());
    let port = free_port();
    let _server = RtspServer::serve(&video, port, MOUNT);
    // 100 ms per frame against a 24 fps camera: the consumer takes 10 of every 24 frames.
    let pipeline = gst::parse::launch(&format!(
        "trafficsrc name=src uri=rtsp://127.0.0.1:{port}{MOUNT} max-size-buffers=1 ! \
         identity sleep-time=100000 ! fakesink name=sink sync=false"
    ))
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    let sink = pipeline.by_name("sink").unwrap();
    let seen = watch(&sink.static_pad("sink").unwrap());
    let bus = pipeline.bus().unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    wait_on_bus(&bus, Duration::from_secs(30), "the first frames", |_| seen.lock().unwrap().frames >= 5);
    let until = Instant::now() + Duration::from_secs(6);
    wait_on_bus(&bus, Duration::from_secs(7), "six seconds of play", |_| Instant::now() >= until);

    let src = pipeline.by_name("src").unwrap();
    let dropped = src.property::<u64>("dropped");
    let running_time = pipeline.current_running_time().expect("running time");
    let last_pts = seen.lock().unwrap().last_pts.expect("timestamps");
    pipeline.set_state(gst::State::Null).unwrap();
    let lag = running_time.saturating_sub(last_pts);
    eprintln!("dropped {dropped}, {} frames through, lag {} ms", seen.lock().unwrap().frames, lag.mseconds());
    assert!(dropped >= 24, "about 14 frames a second dropped, got {dropped} in 6 s");
    // Without the leak the lag would grow by ~0.6 s per second; with it it stays about the
    // jitter buffer plus two frames of the consumer.
    assert!(lag < gst::ClockTime::from_mseconds(1500), "lag {} ms", lag.mseconds());
}

/// A source-only pipeline on the camera at `port`, and the frames its sink sees.
fn live_source(port: u16, props: &str) -> (gst::Pipeline, Arc<Mutex<Seen>>) {
    let pipeline = gst::parse::launch(&format!(
        "trafficsrc name=src uri=rtsp://127.0.0.1:{port}{MOUNT} retry-initial-ms=200 retry-max-ms=1000 {props} ! \
         fakesink name=sink sync=false"
    ))
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    let seen = watch(&pipeline.by_name("sink").unwrap().static_pad("sink").unwrap());
    (pipeline, seen)
}

#[test]
fn a_frozen_camera_is_reconnected_by_the_stall_watchdog() {
    init();
    let Some(video) = shared_data(VIDEO) else { return };
    let _one_at_a_time = RTSP_TESTS.lock().unwrap_or_else(|p| p.into_inner());
    let port = free_port();
    let server = RtspServer::serve(&video, port, MOUNT);
    let (pipeline, seen) = live_source(port, "stall-timeout=1500");
    let bus = pipeline.bus().unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    wait_on_bus(&bus, Duration::from_secs(20), "frames", |_| seen.lock().unwrap().frames >= 24);

    server.signal("-STOP");
    let mut reason = String::new();
    wait_on_bus(&bus, Duration::from_secs(10), "a reconnecting message", |m| {
        let reconnecting = source_state(m).as_deref() == Some("reconnecting");
        if reconnecting {
            reason = m.and_then(|m| m.structure()).and_then(|s| s.get::<String>("reason").ok()).unwrap_or_default();
        }
        reconnecting
    });
    assert!(reason.contains("no data for 1500 ms"), "{reason}");
    std::thread::sleep(Duration::from_secs(2));
    server.signal("-CONT");
    wait_on_bus(&bus, Duration::from_secs(30), "a connected message", |m| {
        source_state(m).as_deref() == Some("connected")
    });
    let frames = seen.lock().unwrap().frames;
    wait_on_bus(&bus, Duration::from_secs(10), "frames again", |_| seen.lock().unwrap().frames > frames + 24);
    pipeline.set_state(gst::State::Null).unwrap();
    assert!(!seen.lock().unwrap().pts_went_back, "timestamps keep increasing across the reconnect");
}

#[test]
fn a_camera_back_with_another_resolution_renegotiates() {
    init();
    let (Some(first), Some(second)) = (shared_data(VIDEO), shared_data("videos/intel_car-detection.mp4")) else {
        return;
    };
    let _one_at_a_time = RTSP_TESTS.lock().unwrap_or_else(|p| p.into_inner());
    let port = free_port();
    let server = RtspServer::serve(&first, port, MOUNT);
    let (pipeline, seen) = live_source(port, "");
    let sink = pipeline.by_name("sink").unwrap().static_pad("sink").unwrap();
    let width = || sink.current_caps().and_then(|c| gst_video::VideoInfo::from_caps(&c).ok()).map(|i| i.width());
    let bus = pipeline.bus().unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    wait_on_bus(&bus, Duration::from_secs(20), "frames", |_| seen.lock().unwrap().frames >= 12);
    assert_eq!(width(), Some(640));

    server.kill();
    let _server = RtspServer::serve(&second, port, MOUNT);
    wait_on_bus(&bus, Duration::from_secs(30), "frames of the other video", |_| width() == Some(768));
    let frames = seen.lock().unwrap().frames;
    wait_on_bus(&bus, Duration::from_secs(10), "frames again", |_| seen.lock().unwrap().frames > frames + 12);
    pipeline.set_state(gst::State::Null).unwrap();
}

#[test]
fn restream_serves_the_annotated_video() {
    init();
    weight("yolov8n.onnx");
    let Some(video) = shared_data(VIDEO) else { return };
    let _one_at_a_time = RTSP_TESTS.lock().unwrap_or_else(|p| p.into_inner());
    let port = free_port();
    let uri = format!("file://{}", video.canonicalize().unwrap().display());
    let mut restream = Command::new(repo_root().join("examples/rtsp/restream.sh"));
    restream.arg(&uri).env("PORT", port.to_string()).env("LINES", "street:0,0.6,1,0.6");
    let restream = RtspServer::spawn(restream);

    let pipeline = gst::parse::launch(&format!(
        "uridecodebin uri=rtsp://127.0.0.1:{port}/traffic ! videoconvert ! video/x-raw,format=RGB ! appsink name=sink"
    ))
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    let sink = pipeline.by_name("sink").unwrap().downcast::<gst_app::AppSink>().unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    // A second in: the first frames may be black while the analysis starts.
    let mut sample = None;
    for _ in 0..24 {
        sample = sink.try_pull_sample(gst::ClockTime::from_seconds(20));
        assert!(sample.is_some(), "frames from the restream");
    }
    pipeline.set_state(gst::State::Null).unwrap();
    drop(restream);

    let sample = sample.unwrap();
    let info = gst_video::VideoInfo::from_caps(sample.caps().unwrap()).unwrap();
    assert_eq!((info.width(), info.height()), (640, 352));
    let map = sample.buffer().unwrap().map_readable().unwrap();
    let stride = info.stride()[0] as usize;
    // The overlay's counting line: a row at 60 % of the height, yellow (255, 230, 0) across.
    let yellow_share = |y: usize| {
        let row = &map[y * stride..y * stride + 3 * 640];
        row.chunks(3).filter(|p| p[0] > 180 && p[1] > 150 && p[2] < 110).count() as f64 / 640.0
    };
    let best = (200..222).map(yellow_share).fold(0.0, f64::max);
    assert!(best > 0.5, "the counting line is drawn on the restreamed video ({best:.2} of a row yellow)");
}

/// The bin of a live trafficsrc holds only its tail (videoconvert, queue): no decoder.
fn no_decoder(src: &gst::Element) -> bool {
    src.downcast_ref::<gst::Bin>().is_some_and(|b| b.children().len() == 2)
}

#[test]
fn an_unreachable_camera_plays_and_ends_on_eos_at_once() {
    init();
    let uri = format!("rtsp://127.0.0.1:{}/x", free_port());
    // A long backoff: between two attempts the source has no decoder for two seconds.
    let pipeline = gst::parse::launch(&format!("trafficsrc name=src uri={uri} retry-initial-ms=2000 ! fakesink"))
        .unwrap()
        .downcast::<gst::Pipeline>()
        .unwrap();
    let src = pipeline.by_name("src").unwrap();
    let bus = pipeline.bus().unwrap();

    // A live source does not preroll: PAUSED at once, and PLAYING without a frame. The sink's
    // own preroll (on the source's gap) may still be under way when set_state returns: ASYNC
    // is not blocking either.
    let started = Instant::now();
    assert_eq!(pipeline.set_state(gst::State::Paused), Ok(gst::StateChangeSuccess::NoPreroll));
    let playing = pipeline.set_state(gst::State::Playing).expect("to PLAYING without a camera");
    assert!(started.elapsed() < Duration::from_secs(2), "set_state took {:?}", started.elapsed());
    eprintln!("set_state(Playing): {playing:?}");
    let (reached, state, pending) = pipeline.state(gst::ClockTime::from_seconds(5));
    assert_eq!(
        (reached, state, pending),
        (Ok(gst::StateChangeSuccess::Success), gst::State::Playing, gst::State::VoidPending)
    );

    // The first attempt fails; the source waits for the next one with no decoder at all.
    wait_on_bus(&bus, Duration::from_secs(5), "a reconnecting message", |m| {
        source_state(m).as_deref() == Some("reconnecting")
    });
    wait_on_bus(&bus, Duration::from_secs(1), "the failed decoder taken down", |_| no_decoder(&src));

    // End as an application does (and gst-launch -e on Ctrl-C): EOS on the bus at once.
    let sent = Instant::now();
    assert!(pipeline.send_event(gst::event::Eos::new()), "EOS accepted");
    wait_on_bus(&bus, Duration::from_secs(5), "EOS", |m| matches!(m.map(|m| m.view()), Some(gst::MessageView::Eos(_))));
    eprintln!("EOS on the bus {} ms after it was sent", sent.elapsed().as_millis());
    assert!(no_decoder(&src), "the EOS came while reconnecting");

    let stopping = Instant::now();
    pipeline.set_state(gst::State::Null).expect("to NULL");
    assert!(stopping.elapsed() < Duration::from_secs(5), "stopped in {:?}", stopping.elapsed());
}

#[test]
fn stopping_a_source_that_never_connected_is_quick() {
    init();
    let uri = format!("rtsp://127.0.0.1:{}/x", free_port());
    let pipeline =
        gst::parse::launch(&format!("trafficsrc name=src uri={uri} retry-initial-ms=100 retry-max-ms=400 ! fakesink"))
            .unwrap()
            .downcast::<gst::Pipeline>()
            .unwrap();
    let bus = pipeline.bus().unwrap();
    let src = pipeline.by_name("src").unwrap();
    // Stopped in every phase of the retries: connecting (a decoder attached), waiting (none).
    for round in 0..6 {
        pipeline.set_state(gst::State::Playing).expect("to PLAYING");
        let mut attempts = 0;
        wait_on_bus(&bus, Duration::from_secs(10), "reconnect attempts", |m| {
            attempts += u32::from(source_state(m).as_deref() == Some("reconnecting"));
            attempts > round % 3
        });
        if round % 2 == 1 {
            wait_on_bus(&bus, Duration::from_secs(1), "no decoder", |_| no_decoder(&src));
        }
        let stopping = Instant::now();
        pipeline.set_state(gst::State::Null).expect("to NULL");
        assert!(stopping.elapsed() < Duration::from_secs(5), "round {round}: stopped in {:?}", stopping.elapsed());
        assert!(no_decoder(&src), "every decoder taken down");
        assert_eq!(src.property::<gst::Structure>("stats").get::<String>("state").unwrap(), "idle");
    }
}

#[test]
fn a_camera_that_never_answers_ends_on_eos_and_stops_at_once() {
    init();
    // Accepts the connection (the kernel does) and never says a word: the decoder stays
    // attached, waiting for the server's answer.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("a loopback listener");
    let uri = format!("rtsp://127.0.0.1:{}/x", silent.local_addr().unwrap().port());
    for end_with_eos in [true, false] {
        let pipeline = gst::parse::launch(&format!("trafficsrc name=src uri={uri} ! fakesink"))
            .unwrap()
            .downcast::<gst::Pipeline>()
            .unwrap();
        let src = pipeline.by_name("src").unwrap();
        let bus = pipeline.bus().unwrap();
        pipeline.set_state(gst::State::Playing).expect("to PLAYING");
        std::thread::sleep(Duration::from_secs(1));
        let stats = src.property::<gst::Structure>("stats");
        assert_eq!(stats.get::<String>("state").unwrap(), "connecting", "{stats}");
        assert!(!no_decoder(&src), "a decoder is attached");
        if end_with_eos {
            let sent = Instant::now();
            assert!(pipeline.send_event(gst::event::Eos::new()), "EOS accepted");
            wait_on_bus(&bus, Duration::from_secs(5), "EOS", |m| {
                matches!(m.map(|m| m.view()), Some(gst::MessageView::Eos(_)))
            });
            eprintln!("EOS on the bus {} ms after it was sent", sent.elapsed().as_millis());
        }
        let stopping = Instant::now();
        pipeline.set_state(gst::State::Null).expect("to NULL");
        assert!(stopping.elapsed() < Duration::from_secs(5), "stopped in {:?}", stopping.elapsed());
        assert!(no_decoder(&src), "every decoder taken down");
    }
}

#[test]
fn a_source_found_live_only_at_paused_plays_pauses_resumes_and_ends() {
    init();
    // testsrcbin (gstreamer1.0-plugins-bad): live, though no scheme says so.
    let pipeline = gst::parse::launch(r#"trafficsrc name=src uri="testbin://video,is-live=true" ! fakesink name=sink"#)
        .unwrap()
        .downcast::<gst::Pipeline>()
        .unwrap();
    let seen = watch(&pipeline.by_name("sink").unwrap().static_pad("sink").unwrap());
    let frames = || seen.lock().unwrap().frames;
    let bus = pipeline.bus().unwrap();
    assert_eq!(pipeline.set_state(gst::State::Paused), Ok(gst::StateChangeSuccess::NoPreroll));
    pipeline.set_state(gst::State::Playing).expect("to PLAYING");
    wait_on_bus(&bus, Duration::from_secs(10), "frames", |_| frames() >= 15);
    assert_eq!(pipeline.state(gst::ClockTime::from_seconds(5)).1, gst::State::Playing);
    let stats = pipeline.by_name("src").unwrap().property::<gst::Structure>("stats");
    assert!(stats.get::<bool>("live").unwrap(), "{stats}");

    assert_eq!(pipeline.set_state(gst::State::Paused), Ok(gst::StateChangeSuccess::NoPreroll));
    pipeline.set_state(gst::State::Playing).expect("to PLAYING again");
    let before = frames();
    wait_on_bus(&bus, Duration::from_secs(10), "frames after the pause", |_| frames() >= before + 15);

    assert!(pipeline.send_event(gst::event::Eos::new()), "EOS accepted");
    wait_on_bus(&bus, Duration::from_secs(5), "EOS", |m| matches!(m.map(|m| m.view()), Some(gst::MessageView::Eos(_))));
    let stopping = Instant::now();
    pipeline.set_state(gst::State::Null).expect("to NULL");
    assert!(stopping.elapsed() < Duration::from_secs(5), "stopped in {:?}", stopping.elapsed());
}

/// The start of a source found live only at PAUSED is a race inside uridecodebin (its decodebin
/// may commit after the decoder returned NO_PREROLL, and GstBin 1.22 then dropped the ASYNC_DONE:
/// the pipeline never reached PLAYING, 1 start in 3 to 10). A hundred starts (a second) make a regression show.
#[test]
fn a_source_found_live_only_at_paused_reaches_playing_at_every_start() {
    init();
    for start in 1..=100 {
        let pipeline = gst::parse::launch(r#"trafficsrc uri="testbin://video,is-live=true" ! fakesink name=sink"#)
            .unwrap()
            .downcast::<gst::Pipeline>()
            .unwrap();
        let seen = watch(&pipeline.by_name("sink").unwrap().static_pad("sink").unwrap());
        pipeline.set_state(gst::State::Playing).expect("to PLAYING");
        let (reached, state, _) = pipeline.state(gst::ClockTime::from_seconds(5));
        let frames = seen.lock().unwrap().frames;
        pipeline.set_state(gst::State::Null).expect("to NULL");
        assert_eq!(
            (reached, state),
            (Ok(gst::StateChangeSuccess::Success), gst::State::Playing),
            "start {start}: PLAYING within 5 s ({frames} frames reached the sink)"
        );
    }
}

#[test]
fn a_camera_that_comes_up_later_flows_into_the_playing_pipeline() {
    init();
    let Some(video) = shared_data(VIDEO) else { return };
    let _one_at_a_time = RTSP_TESTS.lock().unwrap_or_else(|p| p.into_inner());
    let port = free_port();
    let (pipeline, seen) = live_source(port, "");
    let bus = pipeline.bus().unwrap();
    pipeline.set_state(gst::State::Playing).expect("to PLAYING without a camera");
    let (reached, state, _) = pipeline.state(gst::ClockTime::from_seconds(5));
    assert_eq!((reached, state), (Ok(gst::StateChangeSuccess::Success), gst::State::Playing));
    wait_on_bus(&bus, Duration::from_secs(5), "a failed attempt", |m| {
        source_state(m).as_deref() == Some("reconnecting")
    });

    let _server = RtspServer::serve(&video, port, MOUNT);
    wait_on_bus(&bus, Duration::from_secs(30), "a connected message", |m| {
        source_state(m).as_deref() == Some("connected")
    });
    wait_on_bus(&bus, Duration::from_secs(10), "frames", |_| seen.lock().unwrap().frames >= 24);
    assert!(pipeline.send_event(gst::event::Eos::new()), "EOS accepted");
    wait_on_bus(&bus, Duration::from_secs(5), "EOS", |m| matches!(m.map(|m| m.view()), Some(gst::MessageView::Eos(_))));
    let stopping = Instant::now();
    pipeline.set_state(gst::State::Null).expect("to NULL");
    assert!(stopping.elapsed() < Duration::from_secs(5), "stopped in {:?}", stopping.elapsed());
    let s = seen.lock().unwrap();
    assert!(!s.pts_went_back, "timestamps keep increasing");
}

/// A folder holding only the `libgsttraffic.so` built with this test, for GST_PLUGIN_PATH of
/// a gst-launch-1.0 process (the copy in the profile folder may be another build's).
fn plugin_dir() -> std::path::PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let built = exe.with_file_name("libgsttraffic.so");
    assert!(built.is_file(), "{} missing: cargo builds it with the tests", built.display());
    let dir = std::env::temp_dir().join(format!("gsttraffic-trafficsrc-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("plugin folder");
    std::fs::copy(&built, dir.join("libgsttraffic.so")).expect("copy the plugin");
    dir
}

/// A child process killed when dropped (a test that fails leaves nothing running).
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn gst_launch_e_ends_on_ctrl_c_while_reconnecting() {
    init();
    weight("yolov8n.onnx");
    let uri = format!("rtsp://127.0.0.1:{}/x", free_port());
    let plugins = plugin_dir();
    let registry = plugins.join("registry.bin");
    let mut launch = Command::new("gst-launch-1.0");
    launch
        .args(["-e", "trafficsrc", &format!("uri={uri}"), "!", "yolodetect", "!", "fakesink"])
        .env("GST_PLUGIN_PATH", &plugins)
        .env("GST_REGISTRY", &registry)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null());
    let mut child = Running(launch.spawn().expect("run gst-launch-1.0"));
    let stdout = child.0.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut output = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !output.iter().any(|l: &String| l.starts_with("Setting pipeline to PLAYING")) {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => output.push(line),
            Err(_) => panic!("gst-launch-1.0 did not reach PLAYING:\n{}", output.join("\n")),
        }
    }
    // A few failed attempts: the source is between two decoders or trying again.
    std::thread::sleep(Duration::from_millis(1500));
    traffic_test_support::send_signal(child.0.id(), "-INT");
    let interrupted = Instant::now();
    let status = loop {
        if let Some(status) = child.0.try_wait().expect("wait for gst-launch-1.0") {
            break status;
        }
        if interrupted.elapsed() > Duration::from_secs(10) {
            output.extend(rx.try_iter());
            panic!("gst-launch-1.0 -e still running 10 s after Ctrl-C:\n{}", output.join("\n"));
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    output.extend(rx.try_iter());
    eprintln!("gst-launch-1.0 exited {} ms after Ctrl-C: {status}", interrupted.elapsed().as_millis());
    assert!(status.success(), "{status}:\n{}", output.join("\n"));
    assert!(output.iter().any(|l| l.contains("Got EOS")), "{}", output.join("\n"));
    std::fs::remove_dir_all(&plugins).ok();
}
