//! One timed run of the full pipeline on a video; prints one JSON object (the input of
//! `scripts/bench`).
//!
//! ```text
//! source scripts/env.sh
//! cargo run --release -p gst-plugin-traffic --example bench_pipeline -- --video PATH \
//!     [--frames N (0: all)] [--interval N (1)] [--threads N (2)] [--no-plates] [--queues]
//!     [--yolodetect "PROP=VALUE ..." (more yolodetect properties, e.g. allow-spinning=true)]
//!     [--output FILE.mp4 (none: the encoder's output goes to fakesink)] [--decode-only]
//!     [--publish FILE.jsonl (the analysis only: trafficpublish instead of overlay and encoder)]
//! ```
//!
//! The pipeline, with our plugin registered statically:
//! `filesrc ! decodebin ! yolodetect ! mottracker ! platedetect ! plateocr ! linecounter !
//!  overlay ! videoconvert ! x264enc ! mp4mux ! filesink` (`--queues` puts a `queue` after the
//! decoder and before the overlay, so decode, analysis and drawing/encoding run on three threads).
//! With `--publish` the chain ends `linecounter ! trafficpublish location=FILE ! fakesink`, the
//! counting chain of a camera that only reports.
//!
//! How each stage is timed:
//! - yolodetect preprocess / inference / postprocess, the plate stages' model times: the
//!   elements' own `stats` property.
//! - Every element of ours, and encoding (videoconvert sink to x264enc source, `tune=zerolatency`
//!   so one frame in gives one frame out): a pad probe on the element's sink pad notes the time a
//!   buffer enters, one on its source pad the time it leaves. Both run on the element's
//!   streaming thread, so the difference is the element's own processing of that buffer.
//! - Decoding cannot be timed that way (a decoder holds frames back to reorder them): with
//!   `--decode-only` the run is `filesrc ! decodebin ! fakesink` over the same frames, and its
//!   wall time per frame is the decoding cost.
//! - Wall time runs from the first decoded frame entering the analysis to EOS at the sink, so
//!   loading the models (in the state change) is not counted.
//!
//! `--frames N` stops after N frames: the probe that counts them sends EOS instead of frame N+1.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use gst::prelude::*;
use serde_json::{json, Map, Value};

type Error = Box<dyn std::error::Error>;

struct Args {
    video: PathBuf,
    frames: u64,
    interval: u32,
    threads: u32,
    plates: bool,
    queues: bool,
    output: Option<PathBuf>,
    /// Ends the chain with trafficpublish writing here, instead of drawing and encoding.
    publish: Option<PathBuf>,
    lines: String,
    /// Extra yolodetect properties, as gst-launch writes them.
    detect_props: String,
    decode_only: bool,
}

impl Default for Args {
    fn default() -> Self {
        Args {
            video: PathBuf::new(),
            frames: 0,
            interval: 1,
            threads: 2,
            plates: true,
            queues: false,
            output: None,
            publish: None,
            lines: "street:0,0.6,1,0.6:down/up".into(),
            detect_props: String::new(),
            decode_only: false,
        }
    }
}

fn parse_args() -> Result<Args, Error> {
    let mut args = Args::default();
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--video" => args.video = PathBuf::from(value()?),
            "--frames" => args.frames = value()?.parse()?,
            "--interval" => args.interval = value()?.parse()?,
            "--threads" => args.threads = value()?.parse()?,
            "--lines" => args.lines = value()?,
            "--yolodetect" => args.detect_props = value()?,
            "--output" => args.output = Some(PathBuf::from(value()?)),
            "--publish" => args.publish = Some(PathBuf::from(value()?)),
            "--no-plates" => args.plates = false,
            "--queues" => args.queues = true,
            "--decode-only" => args.decode_only = true,
            "-h" | "--help" => {
                println!(
                    "bench_pipeline --video PATH [--frames N] [--interval N] [--threads N] [--lines SPEC] \
                     [--yolodetect \"PROP=VALUE ...\"] [--output FILE.mp4] [--publish FILE.jsonl] [--no-plates] \
                     [--queues] [--decode-only]"
                );
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    if !args.video.is_file() {
        return Err(format!("video '{}' not found (--video PATH)", args.video.display()).into());
    }
    Ok(args)
}

fn launch_line(args: &Args) -> String {
    let source = format!("filesrc location=\"{}\" ! decodebin", args.video.display());
    if args.decode_only {
        return format!("{source} ! identity name=first ! fakesink sync=false");
    }
    let queue = if args.queues { " ! queue max-size-buffers=4 max-size-bytes=0 max-size-time=0" } else { "" };
    let t = args.threads;
    let plates = if args.plates {
        format!(" ! platedetect name=platedetect threads={t} ! plateocr name=plateocr threads={t}")
    } else {
        String::new()
    };
    let tail = match (&args.publish, &args.output) {
        (Some(jsonl), _) => {
            format!("trafficpublish name=publish location=\"{}\" ! fakesink sync=false", jsonl.display())
        }
        (None, output) => {
            let sink = match output {
                Some(path) => format!("mp4mux ! filesink location=\"{}\"", path.display()),
                None => "fakesink sync=false".into(),
            };
            format!(
                "overlay name=overlay ! videoconvert name=encode ! \
                 x264enc name=encoder speed-preset=ultrafast tune=zerolatency ! {sink}"
            )
        }
    };
    format!(
        "{source}{queue} ! yolodetect name=first threads={t} interval={interval} {detect_props} ! mottracker name=mottracker\
         {plates} ! linecounter name=linecounter lines=\"{lines}\"{queue} ! {tail}",
        interval = args.interval,
        lines = args.lines,
        detect_props = args.detect_props,
    )
}

/// Time spent between a buffer entering a sink pad and leaving a source pad, summed.
#[derive(Default)]
struct StageClock {
    entered: VecDeque<Instant>,
    total: Duration,
}

fn time_stage(sink: &gst::Pad, src: &gst::Pad) -> Arc<Mutex<StageClock>> {
    let clock = Arc::new(Mutex::new(StageClock::default()));
    let c = clock.clone();
    sink.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
        if info.buffer().is_some() {
            lock(&c).entered.push_back(Instant::now());
        }
        gst::PadProbeReturn::Ok
    });
    let c = clock.clone();
    src.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
        let now = Instant::now();
        if info.buffer().is_some() {
            // One out per one in, in order (x264enc shifts timestamps, so they cannot be matched).
            let mut clock = lock(&c);
            if let Some(t) = clock.entered.pop_front() {
                clock.total += now - t;
            }
        }
        gst::PadProbeReturn::Ok
    });
    clock
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn pad(pipeline: &gst::Bin, element: &str, pad: &str) -> Result<gst::Pad, Error> {
    pipeline.by_name(element).and_then(|e| e.static_pad(pad)).ok_or_else(|| format!("no pad {element}.{pad}").into())
}

/// Counts the frames entering the first element, notes when the first arrived, and ends the
/// stream after `limit` frames (0: never).
struct FrameGate {
    frames: u64,
    first: Option<Instant>,
}

fn gate_frames(first_sink: &gst::Pad, limit: u64) -> Arc<Mutex<FrameGate>> {
    let gate = Arc::new(Mutex::new(FrameGate { frames: 0, first: None }));
    let g = gate.clone();
    first_sink.add_probe(gst::PadProbeType::BUFFER, move |pad, info| {
        let mut gate = lock(&g);
        if limit > 0 && gate.frames >= limit {
            drop(gate);
            // The stream lock is ours already (recursive): EOS goes down behind the last frame.
            pad.send_event(gst::event::Eos::new());
            // Handled, not Drop: the bindings own and free the buffer (with Drop GStreamer 1.22
            // would unref it again); the EOS flow return stops the decoder upstream.
            info.flow_res = Err(gst::FlowError::Eos);
            return gst::PadProbeReturn::Handled;
        }
        gate.frames += 1;
        gate.first.get_or_insert_with(Instant::now);
        gst::PadProbeReturn::Ok
    });
    gate
}

fn structure_json(s: &gst::StructureRef) -> Value {
    let mut map = Map::new();
    for (field, value) in s.iter() {
        let v = if let Ok(x) = value.get::<f64>() {
            json!(x)
        } else if let Ok(x) = value.get::<u64>() {
            json!(x)
        } else if let Ok(x) = value.get::<u32>() {
            json!(x)
        } else {
            json!(value.serialize().map(|s| s.to_string()).unwrap_or_default())
        };
        map.insert(field.to_string(), v);
    }
    Value::Object(map)
}

/// `{line: {direction: count}}` and `{line: {direction: {class: count}}}` from `traffic-summary`.
fn counts_json(s: &gst::StructureRef) -> Value {
    let counts = traffic_meta::read_counts(s);
    let mut lines = Map::new();
    for line in &counts.lines {
        let mut directions = Map::new();
        for dir in [&line.in_name, &line.out_name] {
            let by_class: Map<String, Value> =
                line.totals.iter().filter(|t| &t.direction == dir).map(|t| (t.class.clone(), json!(t.count))).collect();
            let total = line.direction_total(dir);
            directions.insert(dir.clone(), json!({ "total": total, "by_class": by_class }));
        }
        lines.insert(line.name.clone(), Value::Object(directions));
    }
    Value::Object(lines)
}

/// GStreamer and our plugin, once per process (the tests run several pipelines).
fn init() -> Result<(), Error> {
    static INIT: OnceLock<Result<(), String>> = OnceLock::new();
    let result = INIT.get_or_init(|| {
        gst::init().map_err(|e| e.to_string())?;
        gsttraffic::plugin_register_static().map_err(|e| e.to_string())
    });
    result.clone().map_err(Into::into)
}

fn run(args: &Args) -> Result<Value, Error> {
    init()?;
    let launch = launch_line(args);
    let pipeline = gst::parse::launch(&launch)?.downcast::<gst::Pipeline>().map_err(|_| "not a pipeline")?;
    let bin = pipeline.upcast_ref::<gst::Bin>();
    let gate = gate_frames(&pad(bin, "first", "sink")?, args.frames);
    let mut stages: Vec<(&str, Arc<Mutex<StageClock>>)> = Vec::new();
    if !args.decode_only {
        let mut timed = vec![("detect", "first", "first"), ("tracker", "mottracker", "mottracker")];
        if args.plates {
            timed.extend([("plates", "platedetect", "platedetect"), ("ocr", "plateocr", "plateocr")]);
        }
        timed.push(("counting", "linecounter", "linecounter"));
        if args.publish.is_some() {
            timed.push(("publish", "publish", "publish"));
        } else {
            timed.extend([("overlay", "overlay", "overlay"), ("encode", "encode", "encoder")]);
        }
        for (stage, sink_element, src_element) in timed {
            let clock = time_stage(&pad(bin, sink_element, "sink")?, &pad(bin, src_element, "src")?);
            stages.push((stage, clock));
        }
    }

    let bus = pipeline.bus().ok_or("no bus")?;
    pipeline.set_state(gst::State::Playing)?;
    let mut summary = Value::Null;
    let mut error = None;
    for msg in bus.iter_timed(gst::ClockTime::NONE) {
        match msg.view() {
            gst::MessageView::Eos(_) => break,
            gst::MessageView::Error(e) => {
                error = Some(format!(
                    "{}: {} ({:?})",
                    msg.src().map(|s| s.path_string()).unwrap_or_default(),
                    e.error(),
                    e.debug()
                ));
                break;
            }
            gst::MessageView::Element(e) => {
                if let Some(s) = e.structure().filter(|s| s.name() == "traffic-summary") {
                    summary = counts_json(s);
                }
            }
            _ => {}
        }
    }
    let end = Instant::now();
    let with_stats: &[&str] = if args.decode_only { &[] } else { &["first", "platedetect", "plateocr"] };
    let element_stats: Map<String, Value> = with_stats
        .iter()
        .filter_map(|name| bin.by_name(name))
        .filter(|e| e.find_property("stats").is_some())
        .map(|e| {
            let stats = e.property::<gst::Structure>("stats");
            (stats.name().to_string(), structure_json(&stats))
        })
        .collect();
    pipeline.set_state(gst::State::Null)?;
    if let Some(e) = error {
        return Err(e.into());
    }

    let gate = lock(&gate);
    let frames = gate.frames;
    let wall = gate.first.map_or(Duration::ZERO, |t| end - t);
    if frames == 0 {
        return Err("no frame reached the analysis".into());
    }
    let stage_ms: Map<String, Value> = stages
        .iter()
        .map(|(name, clock)| {
            let clock = lock(clock);
            (name.to_string(), json!(clock.total.as_secs_f64() * 1e3 / frames as f64))
        })
        .collect();
    Ok(json!({
        "launch": launch,
        "frames": frames,
        "wall_s": wall.as_secs_f64(),
        "fps": frames as f64 / wall.as_secs_f64(),
        "ms_per_frame": wall.as_secs_f64() * 1e3 / frames as f64,
        "stage_ms_per_frame": stage_ms,
        "element_stats": element_stats,
        "counts": summary,
    }))
}

fn main() {
    let result = parse_args().and_then(|args| run(&args));
    match result {
        Ok(report) => println!("{report}"),
        Err(e) => {
            eprintln!("bench_pipeline: {e}");
            std::process::exit(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn residential() -> Option<PathBuf> {
        let video = PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../../shared/data/videos/ahmetozlu_residential_street.mp4"
        ));
        if video.is_file() {
            Some(video)
        } else {
            eprintln!(
                "SKIPPED: {} not found (the shared evaluation data is not beside this checkout)",
                video.display()
            );
            None
        }
    }

    #[test]
    fn stops_after_the_frames_asked_and_times_every_stage() {
        let Some(video) = residential() else { return };
        let args = Args { video, frames: 12, interval: 3, plates: false, ..Args::default() };
        let report = run(&args).expect("pipeline runs");
        assert_eq!(report["frames"], 12, "{report}");
        let detect = &report["element_stats"]["yolodetect-stats"];
        assert_eq!(detect["frames"], 12, "{report}");
        assert_eq!(detect["inferences"], 4, "interval 3 over 12 frames: {report}");
        for stage in ["detect", "tracker", "counting", "overlay", "encode"] {
            let ms = report["stage_ms_per_frame"][stage].as_f64().unwrap_or(0.0);
            assert!(ms > 0.0, "{stage} not timed: {report}");
        }
        let wall = report["ms_per_frame"].as_f64().unwrap_or(0.0);
        let stages: f64 =
            report["stage_ms_per_frame"].as_object().map_or(0.0, |m| m.values().filter_map(Value::as_f64).sum());
        assert!(stages <= wall, "the stages ({stages} ms) run within the wall time ({wall} ms): {report}");
        assert!(report["counts"]["street"]["down"]["total"].is_u64(), "{report}");
    }

    #[test]
    fn publish_ends_the_chain_with_one_line_per_frame() {
        let Some(video) = residential() else { return };
        let jsonl = std::env::temp_dir().join(format!("bench-pipeline-publish-{}.jsonl", std::process::id()));
        let args =
            Args { video, frames: 9, interval: 3, plates: false, publish: Some(jsonl.clone()), ..Args::default() };
        let report = run(&args).expect("pipeline runs");
        assert_eq!(report["frames"], 9, "{report}");
        let lines = std::fs::read_to_string(&jsonl).expect("trafficpublish wrote its file");
        let _ = std::fs::remove_file(&jsonl);
        assert_eq!(lines.lines().count(), 9, "one line per frame: {lines}");
        let stages = report["stage_ms_per_frame"].as_object().expect("stages");
        assert!(stages.get("publish").and_then(Value::as_f64).is_some_and(|ms| ms > 0.0), "{report}");
        assert!(!stages.contains_key("encode") && !stages.contains_key("overlay"), "no drawing: {report}");
    }

    #[test]
    fn decode_only_counts_frames() {
        let Some(video) = residential() else { return };
        let report = run(&Args { video, frames: 20, decode_only: true, ..Args::default() }).expect("decoding runs");
        assert_eq!(report["frames"], 20, "{report}");
        assert!(report["ms_per_frame"].as_f64().is_some_and(|ms| ms > 0.0), "{report}");
    }
}
