//! Bad input gets a clear element error and never a panic: missing, corrupt or foreign models,
//! out-of-range and malformed properties, damaged video, tiny and odd frame sizes, a
//! resolution change mid-stream, EOS before any frame.

mod common;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Once};

use common::*;
use gst::prelude::*;
use gst_check::Harness;

/// The analysis chain most tests push through.
const CHAIN: &str = "yolodetect ! mottracker ! linecounter lines=road:0,0.5,1,0.5 ! overlay";

/// Panics raised outside this test file (in the elements or the vision core), with their place.
static PANICS: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// `init()`, plus a panic hook recording every panic not raised by a test assertion.
fn setup() {
    init();
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let place = info.location().map(|l| l.file().to_string()).unwrap_or_default();
            if !place.contains("tests/") {
                PANICS.lock().unwrap_or_else(|p| p.into_inner()).push(format!("{info}"));
            }
            default(info);
        }));
    });
}

fn assert_no_panic(outcome: &Outcome) {
    let panics = PANICS.lock().unwrap_or_else(|p| p.into_inner()).clone();
    assert!(panics.is_empty(), "panics in the elements: {panics:#?}");
    if let Some(e) = &outcome.error {
        assert!(!e.to_lowercase().contains("panicked"), "an element panicked: {e}");
    }
}

/// How a pipeline ended, and what reached its sink.
#[derive(Debug, Default)]
struct Outcome {
    /// `message (debug)` of the first error.
    error: Option<String>,
    /// The error's domain, as `glib::Error::domain` names it.
    domain: Option<String>,
    eos: bool,
    frames: u64,
    /// Frames that carried at least one object.
    frames_with_objects: u64,
    /// Objects whose box leaves the frame it is on.
    boxes_outside: Vec<String>,
    /// Element messages (`traffic-summary`, `traffic-crossing`, ...).
    messages: Vec<gst::Structure>,
    sizes: Vec<FrameCentres>,
}

/// `(width, height, normalised box centres)` of one frame.
type FrameCentres = (u32, u32, Vec<(f64, f64)>);

type Shared = Arc<Mutex<Outcome>>;

/// Counts and checks every frame reaching `fakesink name=sink signal-handoffs=true`.
fn watch_sink(pipeline: &gst::Element, outcome: &Shared) {
    let bin = pipeline.downcast_ref::<gst::Bin>().expect("a bin");
    let sink = bin.by_name("sink").expect("a fakesink named sink");
    sink.set_property("signal-handoffs", true);
    let outcome = outcome.clone();
    sink.connect("handoff", false, move |args| {
        let buffer = args[1].get::<gst::Buffer>().ok()?;
        let pad = args[2].get::<gst::Pad>().ok()?;
        let info = pad.current_caps().and_then(|c| gst_video::VideoInfo::from_caps(&c).ok())?;
        let (w, h) = (info.width(), info.height());
        let objects = traffic_meta::objects(&buffer, FrameSize { width: w, height: h });
        let mut o = outcome.lock().unwrap_or_else(|p| p.into_inner());
        o.frames += 1;
        o.frames_with_objects += u64::from(!objects.is_empty());
        let mut centres = Vec::new();
        for obj in &objects {
            let b = obj.bbox;
            let inside = [b.x1, b.y1, b.x2, b.y2].iter().all(|v| v.is_finite())
                && b.x1 >= 0.0
                && b.y1 >= 0.0
                && b.x2 <= w as f64
                && b.y2 <= h as f64
                && b.x1 <= b.x2
                && b.y1 <= b.y2;
            if !inside {
                o.boxes_outside.push(format!("{b:?} on {w}x{h}"));
            }
            centres.push(((b.x1 + b.x2) / 2.0 / w as f64, (b.y1 + b.y2) / 2.0 / h as f64));
        }
        o.sizes.push((w, h, centres));
        None
    });
}

/// Plays `pipeline` to EOS or error; `during` is called every 50 ms while it runs.
fn play(pipeline: &gst::Element, outcome: &Shared, mut during: impl FnMut(&gst::Element, u64)) {
    let bus = pipeline.bus().expect("bus");
    // A failed start posts its error on the bus, read below.
    let _ = pipeline.set_state(gst::State::Playing);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(300);
    loop {
        let frames = outcome.lock().unwrap().frames;
        during(pipeline, frames);
        let Some(msg) = bus.timed_pop(gst::ClockTime::from_mseconds(50)) else {
            assert!(std::time::Instant::now() < deadline, "timed out: {:?}", outcome.lock().unwrap().error);
            continue;
        };
        let mut o = outcome.lock().unwrap();
        match msg.view() {
            gst::MessageView::Eos(_) => {
                o.eos = true;
                break;
            }
            gst::MessageView::Error(e) => {
                o.error = Some(format!("{} ({:?})", e.error(), e.debug()));
                o.domain = Some(e.error().domain().as_str().to_string());
                break;
            }
            gst::MessageView::Element(e) => o.messages.extend(e.structure().map(|s| s.to_owned())),
            _ => {}
        }
    }
    pipeline.set_state(gst::State::Null).expect("to NULL");
}

fn run(launch: &str) -> Outcome {
    run_with(launch, |_, _| {})
}

fn run_with(launch: &str, during: impl FnMut(&gst::Element, u64)) -> Outcome {
    setup();
    let pipeline = gst::parse::launch(launch).unwrap_or_else(|e| panic!("{launch}: {e}"));
    let outcome: Shared = Arc::default();
    if launch.contains("name=sink") {
        watch_sink(&pipeline, &outcome);
    }
    play(&pipeline, &outcome, during);
    let outcome = std::mem::take(&mut *outcome.lock().unwrap());
    assert_no_panic(&outcome);
    outcome
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("traffic-errors-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// The error of a pipeline that must fail, and its domain.
fn failure(launch: &str) -> (String, String) {
    let o = run(launch);
    assert!(!o.eos, "{launch}: reached EOS, expected an error");
    (o.error.expect("an error"), o.domain.expect("a domain"))
}

// ---------------------------------------------------------------------------------------------
// Models

#[test]
fn missing_model_names_the_path_and_the_fix() {
    for element in ["yolodetect", "platedetect", "plateocr"] {
        let (err, domain) = failure(&format!(
            "videotestsrc num-buffers=1 ! {element} model=/nonexistent/dir/{element}.onnx ! fakesink"
        ));
        assert!(err.contains(&format!("/nonexistent/dir/{element}.onnx")) && err.contains("not found"), "{err}");
        assert!(err.contains("make setup"), "{element}: the message says how to get the file: {err}");
        assert_eq!(domain, "gst-resource-error-quark", "{element}: {err}");
    }
}

#[test]
fn missing_labels_file_names_it() {
    let (err, _) = failure("videotestsrc num-buffers=1 ! yolodetect labels=/nonexistent/coco.names ! fakesink");
    assert!(err.contains("labels file") && err.contains("/nonexistent/coco.names"), "{err}");
}

#[test]
fn corrupt_model_files_are_a_clear_error() {
    let dir = temp_dir("corrupt");
    let model = std::fs::read(weight("yolov8n.onnx")).expect("read yolov8n.onnx");
    // A download cut short, and random bytes (a fixed xorshift sequence).
    let truncated = dir.join("truncated.onnx");
    std::fs::write(&truncated, &model[..model.len() / 2]).unwrap();
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let noise: Vec<u8> = (0..4096)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    let random = dir.join("random.onnx");
    std::fs::write(&random, noise).unwrap();
    let empty = dir.join("empty.onnx");
    std::fs::write(&empty, b"").unwrap();
    for path in [&truncated, &random, &empty] {
        let (err, domain) =
            failure(&format!("videotestsrc num-buffers=1 ! yolodetect model={} ! fakesink", path.display()));
        assert!(err.contains("unsupported model") && err.contains(&path.display().to_string()), "{err}");
        assert_eq!(domain, "gst-resource-error-quark", "{err}");
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// Protocol-buffer writer for a hand-made ONNX model (no Python, no onnx crate).
struct Proto(Vec<u8>);

impl Proto {
    fn new() -> Self {
        Proto(Vec::new())
    }
    fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.0.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.0.push(v as u8);
    }
    fn int(mut self, field: u64, v: i64) -> Self {
        self.varint(field << 3);
        self.varint(v as u64);
        self
    }
    fn bytes(mut self, field: u64, b: &[u8]) -> Self {
        self.varint((field << 3) | 2);
        self.varint(b.len() as u64);
        self.0.extend_from_slice(b);
        self
    }
    fn msg(self, field: u64, m: Proto) -> Self {
        self.bytes(field, &m.0)
    }
}

/// `ValueInfoProto` of a float tensor with static dims.
fn float_tensor(name: &str, dims: &[i64]) -> Proto {
    let shape = dims.iter().fold(Proto::new(), |s, &d| s.msg(1, Proto::new().int(1, d)));
    let tensor = Proto::new().int(1, 1).msg(2, shape);
    Proto::new().bytes(1, name.as_bytes()).msg(2, Proto::new().msg(1, tensor))
}

/// A one-node ONNX model `images [1,3,64,64] -> op -> out`: it loads and runs, but its
/// output is no YOLO head.
fn one_node_model(op: &str, attributes: Vec<Proto>, out_dims: &[i64]) -> Vec<u8> {
    let node = attributes
        .into_iter()
        .fold(Proto::new().bytes(1, b"images").bytes(2, b"out").bytes(4, op.as_bytes()), |n, a| n.msg(5, a));
    let graph = Proto::new()
        .msg(1, node)
        .bytes(2, b"not-yolo")
        .msg(11, float_tensor("images", &[1, 3, 64, 64]))
        .msg(12, float_tensor("out", out_dims));
    // ir_version 8, opset 13.
    Proto::new().int(1, 8).msg(7, graph).msg(8, Proto::new().int(2, 13)).0
}

#[test]
fn models_whose_output_is_no_yolo_layout_are_rejected() {
    let dir = temp_dir("layouts");
    // [1,3,1,1]: not three-dimensional at all.
    let pooled = dir.join("pooled.onnx");
    std::fs::write(&pooled, one_node_model("GlobalAveragePool", vec![], &[1, 3, 1, 1])).unwrap();
    // [1,3,64]: reads as YOLOv5 with 59 classes, but three rows are no detection head.
    let axes = Proto::new().bytes(1, b"axes").int(8, 3).int(20, 7);
    let keepdims = Proto::new().bytes(1, b"keepdims").int(3, 0).int(20, 2);
    let reduced = dir.join("reduced.onnx");
    std::fs::write(&reduced, one_node_model("ReduceMean", vec![axes, keepdims], &[1, 3, 64])).unwrap();
    for (path, needle) in [(&pooled, "[1, 3, 1, 1] is none of YOLOv5"), (&reduced, "is not a YOLO detection head")] {
        let (err, domain) =
            failure(&format!("videotestsrc num-buffers=1 ! yolodetect model={} ! fakesink", path.display()));
        assert!(err.contains("unsupported model") && err.contains(needle), "{}: {err}", path.display());
        assert_eq!(domain, "gst-resource-error-quark", "{err}");
    }
    std::fs::remove_dir_all(&dir).ok();
}

// ---------------------------------------------------------------------------------------------
// Properties

fn element(factory: &str) -> gst::Element {
    setup();
    gst::ElementFactory::make(factory).build().unwrap_or_else(|e| panic!("{factory}: {e}"))
}

/// Out-of-range values from a launch line (or `g_object_set` in C) are refused by the
/// GParamSpec range (GLib prints a warning) and the property keeps its previous value. (The
/// Rust bindings' `set_property` refuses them too, with a panic in the caller.)
#[test]
fn out_of_range_values_leave_the_property_unchanged() {
    for (factory, assignment) in [
        ("yolodetect", "conf-threshold=1.5"),
        ("yolodetect", "conf-threshold=-0.1"),
        ("yolodetect", "iou-threshold=2"),
        ("yolodetect", "interval=0"),
        ("yolodetect", "input-size=8"),
        ("mottracker", "track-thresh=1.5"),
        ("mottracker", "match-thresh=-0.5"),
        ("mottracker", "track-buffer=0"),
        ("linecounter", "min-frames=0"),
        ("overlay", "font-scale=0"),
        ("overlay", "font-scale=100"),
        ("overlay", "trail-length=1"),
        ("platedetect", "conf-threshold=3"),
    ] {
        let name = assignment.split('=').next().unwrap();
        let default = element(factory).property_value(name);
        let e = gst::parse::launch(&format!("{factory} {assignment}")).unwrap_or_else(|e| panic!("{assignment}: {e}"));
        assert_eq!(
            format!("{default:?}"),
            format!("{:?}", e.property_value(name)),
            "{factory} {assignment} was accepted"
        );
    }
    // In range but not a multiple of 32: rounded, not refused.
    let e = element("yolodetect");
    e.set_property("input-size", 100u32);
    assert_eq!(e.property::<u32>("input-size"), 96);
}

#[test]
fn malformed_lines_fail_at_start_with_the_reason() {
    for (lines, needle) in [
        ("road:0,0.5,1,nan", "finite"),
        ("road:0,-5,100,5", "not negative"),
        ("road:0.5,0.5,0.5,0.5", "the same"),
        ("a:0,0.5,1,0.5;a:0,0.6,1,0.6", "used twice"),
        ("road:0,0.5,1,0.5:in", "in/out"),
        ("road:0,0.5,1,0.5:in/in", "two different"),
        ("road:0,0.5,1,0.5:in/out:x", "too many"),
        ("road:a,b,c,d", "must be numbers"),
        (":0,0.5,1,0.5", "no name"),
        ("road", "no coordinates"),
    ] {
        let (err, domain) = failure(&format!("videotestsrc num-buffers=1 ! linecounter lines=\"{lines}\" ! fakesink"));
        assert!(err.contains(needle), "{lines}: {err}");
        assert_eq!(domain, "gst-resource-error-quark", "{err}");
    }
}

// ---------------------------------------------------------------------------------------------
// Damaged video

fn residential() -> Option<PathBuf> {
    shared_data("videos/ahmetozlu_residential_street.mp4")
}

/// The clip remuxed with its index (`moov`) first, as a download cut short still plays.
fn faststart_copy(video: &Path, dir: &Path) -> PathBuf {
    let out = dir.join("faststart.mp4");
    run_to_eos(&format!(
        "filesrc location={} ! qtdemux ! h264parse ! mp4mux faststart=true ! filesink location={}",
        video.display(),
        out.display()
    ))
    .expect("remux");
    out
}

/// An MP4 file through the chain. The demuxer is named, not found by decodebin: decodebin
/// (1.22) drops the errors of an element it is still trying out, and qtdemux reports a file
/// without an index from its own thread as soon as it starts, so in about one run in five the
/// "no playable streams" error was lost and the pipeline waited forever.
fn through_chain(path: &Path) -> Outcome {
    // interval=5 keeps the run short; mottracker carries the boxes between.
    let chain = CHAIN.replace("yolodetect", "yolodetect interval=5");
    run(&format!("filesrc location={} ! qtdemux ! decodebin ! {chain} ! fakesink name=sink sync=false", path.display()))
}

#[test]
fn video_cut_in_half_ends_cleanly() {
    let Some(video) = residential() else { return };
    let dir = temp_dir("cut");
    let bytes = std::fs::read(&video).unwrap();
    // As recorded, the index is at the end: half the file holds no playable stream.
    let cut = dir.join("cut.mp4");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let o = through_chain(&cut);
    let err = o.error.expect("a demuxer error");
    assert!(err.contains("no playable streams"), "{err}");
    assert_eq!(o.frames, 0);

    // With the index first, the frames before the cut play, then EOS.
    let fast = std::fs::read(faststart_copy(&video, &dir)).unwrap();
    let cut = dir.join("cut-faststart.mp4");
    std::fs::write(&cut, &fast[..fast.len() / 2]).unwrap();
    let o = through_chain(&cut);
    assert!(o.eos || o.error.is_some());
    assert!(o.frames >= 300, "only {} frames before the cut", o.frames);
    assert!(
        o.frames_with_objects * 10 >= o.frames * 9,
        "{} of {} frames with objects",
        o.frames_with_objects,
        o.frames
    );
    assert!(o.boxes_outside.is_empty(), "{:?}", o.boxes_outside);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn garbage_in_the_middle_of_the_video_is_survived() {
    let Some(video) = residential() else { return };
    let dir = temp_dir("garbage");
    let mut bytes = std::fs::read(faststart_copy(&video, &dir)).unwrap();
    let middle = bytes.len() / 2;
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    for b in &mut bytes[middle..middle + 64 * 1024] {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *b = x as u8;
    }
    let damaged = dir.join("damaged.mp4");
    std::fs::write(&damaged, &bytes).unwrap();
    let o = through_chain(&damaged);
    // The decoder may conceal the damage (EOS) or give up (a clear error); either way the
    // frames before it went through the analysis.
    assert!(o.eos || o.error.as_ref().is_some_and(|e| !e.is_empty()), "{o:?}");
    assert!(o.frames >= 300, "only {} frames", o.frames);
    assert!(
        o.frames_with_objects * 10 >= o.frames * 9,
        "{} of {} frames with objects",
        o.frames_with_objects,
        o.frames
    );
    assert!(o.boxes_outside.is_empty(), "{:?}", o.boxes_outside);
    std::fs::remove_dir_all(&dir).ok();
}

// ---------------------------------------------------------------------------------------------
// Frame sizes

#[test]
fn tiny_and_odd_frame_sizes_run_without_error() {
    for format in ["I420", "NV12", "RGB", "BGRx"] {
        for (w, h) in [(1, 1), (2, 1), (1, 3), (3, 3), (321, 241), (33, 640)] {
            let o = run(&format!(
                "videotestsrc num-buffers=3 pattern=ball ! video/x-raw,format={format},width={w},height={h} ! \
                 {CHAIN} ! fakesink name=sink"
            ));
            assert!(o.eos, "{format} {w}x{h}: {:?}", o.error);
            assert_eq!(o.frames, 3, "{format} {w}x{h}");
            assert!(o.boxes_outside.is_empty(), "{format} {w}x{h}: {:?}", o.boxes_outside);
        }
    }
}

/// GStreamer lets 0x0 caps through elements with ANY caps; ours refuse them or pass the
/// empty frame on, never crash. yolodetect cannot infer on nothing: not negotiated.
#[test]
fn zero_sized_caps_are_refused_or_passed_not_a_crash() {
    setup();
    for element in ["yolodetect", "mottracker", "linecounter lines=road:0,0.5,1,0.5", "overlay"] {
        let mut h = Harness::new_parse(element);
        h.set_src_caps_str("video/x-raw,format=I420,width=0,height=0,framerate=25/1");
        h.play();
        let pushed = h.push(gst::Buffer::new());
        eprintln!("{element}: 0x0 frame -> {pushed:?}");
        if element == "yolodetect" {
            assert_eq!(pushed, Err(gst::FlowError::NotNegotiated), "{element}");
        }
        assert_no_panic(&Outcome::default());
    }
}

/// `videotestsrc ! videoscale ! capsfilter`, the capsfilter switched from 640x352 to 960x528
/// after 10 frames: the elements renegotiate and every box is in the new frame's pixels.
#[test]
fn resolution_change_mid_stream() {
    let launch = format!(
        "videotestsrc num-buffers=40 pattern=ball ! video/x-raw,width=640,height=352 ! videoscale ! \
         capsfilter name=size caps=video/x-raw,width=640,height=352 ! {} ! fakesink name=sink",
        CHAIN.replace("yolodetect", "yolodetect interval=2 classes=all conf-threshold=0.01")
    );
    let mut switched = false;
    let o = run_with(&launch, |pipeline, frames| {
        if !switched && frames >= 10 {
            let bin = pipeline.downcast_ref::<gst::Bin>().unwrap();
            let size = bin.by_name("size").unwrap();
            size.set_property(
                "caps",
                gst::Caps::builder("video/x-raw").field("width", 960).field("height", 528).build(),
            );
            switched = true;
        }
    });
    assert!(o.eos, "{:?}", o.error);
    assert_eq!(o.frames, 40);
    assert!(o.boxes_outside.is_empty(), "{:?}", o.boxes_outside);
    let sizes: std::collections::BTreeSet<(u32, u32)> = o.sizes.iter().map(|(w, h, _)| (*w, *h)).collect();
    assert_eq!(sizes, [(640, 352), (960, 528)].into_iter().collect(), "both sizes went through");
}

/// The real video at its size, then upscaled by 1.5: objects stay where they were on the
/// picture (box centres as fractions of the frame), so the new boxes are in the new pixels.
#[test]
fn resolution_change_keeps_boxes_on_the_picture() {
    let Some(video) = residential() else { return };
    let launch = format!(
        "filesrc location={} ! decodebin ! identity eos-after=40 ! videoscale ! \
         capsfilter name=size caps=video/x-raw,width=640,height=352 ! {} ! fakesink name=sink sync=false",
        video.display(),
        CHAIN.replace("yolodetect", "yolodetect interval=3")
    );
    let switched = Arc::new(AtomicU64::new(0));
    let s = switched.clone();
    let o = run_with(&launch, move |pipeline, frames| {
        if s.load(Ordering::Relaxed) == 0 && frames >= 20 {
            let bin = pipeline.downcast_ref::<gst::Bin>().unwrap();
            let caps = gst::Caps::builder("video/x-raw").field("width", 960).field("height", 528).build();
            bin.by_name("size").unwrap().set_property("caps", caps);
            s.store(frames, Ordering::Relaxed);
        }
    });
    assert!(o.eos, "{:?}", o.error);
    assert!(o.boxes_outside.is_empty(), "{:?}", o.boxes_outside);
    let mean = |w: u32| {
        let c: Vec<(f64, f64)> = o.sizes.iter().filter(|s| s.0 == w).flat_map(|s| s.2.clone()).collect();
        assert!(!c.is_empty(), "no objects on the {w}-wide frames");
        let n = c.len() as f64;
        (c.iter().map(|p| p.0).sum::<f64>() / n, c.iter().map(|p| p.1).sum::<f64>() / n)
    };
    let (small, large) = (mean(640), mean(960));
    // Boxes in the old pixels on the new frame would shift the centres by a third towards 0.
    assert!((small.0 - large.0).abs() < 0.05 && (small.1 - large.1).abs() < 0.05, "{small:?} vs {large:?}");
}

/// mottracker: after a resize, a frame the detector skipped must not get the old tracks'
/// predicted boxes (pixels of the old size); the tracks restart, IDs carry on.
#[test]
fn mottracker_restarts_tracks_on_a_resize() {
    setup();
    let frame = |size: FrameSize, car: Option<[f64; 4]>| {
        let mut buffer = gst::Buffer::with_size((size.width * size.height * 3 / 2) as usize).unwrap();
        let b = buffer.get_mut().unwrap();
        if let Some(c) = car {
            traffic_meta::set_detected(b);
            let bbox = traffic_meta::PixelBox { x1: c[0], y1: c[1], x2: c[2], y2: c[3] };
            let det = traffic_meta::Detection { label: "car".into(), label_id: 2, confidence: 0.9, bbox };
            traffic_meta::add_detection(b, size, &det, traffic_meta::NO_PARENT);
        }
        buffer
    };
    let small = FrameSize { width: 640, height: 360 };
    let large = FrameSize { width: 1280, height: 720 };
    let mut h = Harness::new("mottracker");
    h.set_src_caps_str("video/x-raw,format=I420,width=640,height=360,framerate=25/1");
    h.play();
    let mut first_id = 0;
    for i in 0..5 {
        let x = 100.0 + 10.0 * i as f64;
        let out = h.push_and_pull(frame(small, Some([x, 100.0, x + 80.0, 150.0]))).unwrap();
        first_id = traffic_meta::objects(&out, small).iter().find_map(|o| o.track.as_ref().map(|t| t.id)).unwrap_or(0);
    }
    assert!(first_id > 0, "the car is tracked before the resize");
    h.set_src_caps_str("video/x-raw,format=I420,width=1280,height=720,framerate=25/1");
    let out = h.push_and_pull(frame(large, None)).unwrap();
    let predicted = traffic_meta::objects(&out, large);
    assert!(predicted.is_empty(), "old-size tracks predicted onto the new frame: {predicted:#?}");
    let mut ids = Vec::new();
    for i in 0..5 {
        let x = 200.0 + 20.0 * i as f64;
        let out = h.push_and_pull(frame(large, Some([x, 200.0, x + 160.0, 300.0]))).unwrap();
        ids.extend(traffic_meta::objects(&out, large).iter().filter_map(|o| o.track.as_ref().map(|t| t.id)));
    }
    assert!(!ids.is_empty() && ids.iter().all(|&id| id > first_id), "IDs after the resize: {ids:?}");
    assert_no_panic(&Outcome::default());
}

// ---------------------------------------------------------------------------------------------
// EOS with no frames

#[test]
fn eos_before_any_frame_still_summarises() {
    setup();
    let dir = temp_dir("empty");
    let jsonl = dir.join("empty.jsonl");
    let launch =
        format!("appsrc name=src ! {CHAIN} ! trafficpublish location={} ! fakesink name=sink", jsonl.display());
    let pipeline = gst::parse::launch(&launch).unwrap();
    let outcome: Shared = Arc::default();
    watch_sink(&pipeline, &outcome);
    let src = pipeline.downcast_ref::<gst::Bin>().unwrap().by_name("src").unwrap();
    let mut ended = false;
    play(&pipeline, &outcome, |_, _| {
        if !ended {
            assert_eq!(src.emit_by_name::<gst::FlowReturn>("end-of-stream", &[]), gst::FlowReturn::Ok);
            ended = true;
        }
    });
    let o = std::mem::take(&mut *outcome.lock().unwrap());
    assert_no_panic(&o);
    assert!(o.eos, "{:?}", o.error);
    assert_eq!(o.frames, 0);
    let summary = o.messages.iter().find(|s| s.name() == "traffic-summary").expect("a traffic-summary message");
    assert_eq!(summary.get::<u64>("frames").unwrap(), 0);
    let counts = traffic_meta::read_counts(summary);
    assert_eq!(counts.lines.len(), 1);
    assert_eq!(counts.lines[0].name, "road");
    assert!(counts.lines[0].totals.iter().all(|t| t.count == 0));
    // The JSON lines file exists and is valid: empty.
    let text = std::fs::read_to_string(&jsonl).expect("trafficpublish wrote its file");
    assert!(text.lines().all(|l| serde_json::from_str::<serde_json::Value>(l).is_ok()), "{text}");
    assert_eq!(text.lines().count(), 0);
    std::fs::remove_dir_all(&dir).ok();
}

/// Every value the properties advertise works or fails at start with the reason: a class list
/// naming no class would detect nothing, silently; the smallest input size runs.
#[test]
fn detector_settings_at_their_limits() {
    let (err, _) = failure("videotestsrc num-buffers=1 ! yolodetect classes=,,, ! fakesink");
    assert!(err.contains("names no class"), "{err}");
    init();
    run_to_eos("videotestsrc num-buffers=2 ! yolodetect input-size=32 ! fakesink").expect("input-size 32 runs");
}
