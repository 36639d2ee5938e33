//! How close `yolodetect` comes to a bare ONNX Runtime session, on the same frames and threads.
//!
//! ```text
//! source scripts/env.sh
//! cargo run --release -p gst-plugin-traffic --example bench_detect -- \
//!     [--video PATH] [--threads N] [--frames N] [--model PATH] [--runs N] [--block N]
//! ```
//!
//! 1. Decodes the video once into memory (I420), so decoding is timed by neither side.
//! 2. A bare ORT session built as `YoloDetector::load` builds it (same threads, Level3, no spinning, same
//!    blank warm-up run): every frame letterboxed up front (not timed), then only `session.run`
//!    timed. This is the floor.
//! 3. `appsrc ! yolodetect threads=N ! appsink sync=false` (yolodetect registered statically):
//!    wall time from the first push to the last frame out.
//! 4. The ratio of the two, and the share of the element's wall time spent outside ORT `run`.
//!    The two alternate on blocks of `--block` frames (10; 0 runs all frames through one, then
//!    the other), so that other load on the machine weighs on both alike; besides the ratio of
//!    the totals, the median of the per-block ratios shrugs off bursts of foreign load.
//! 5. `Letterbox::fill` on synthetic 1080p I420, NV12 and RGB frames (and a synthetic frame of
//!    the video's size): median of `--runs` runs. `--preprocess-only` runs this part alone.
//!
//! The machine should be otherwise idle: the table reports the load average and how many cores
//! this process kept busy during the timed parts (about `--threads` when nothing else competes).
//!
//! Prints a Markdown table for BENCHMARKS.md.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use gst::prelude::*;
use gst_video::prelude::*;
use gst_video::{VideoColorMatrix, VideoColorRange, VideoFormat, VideoFrameRef, VideoInfo};
use ort::session::builder::GraphOptimizationLevel;
use ort::session::Session;
use ort::value::TensorRef;
use traffic_vision::frame::YuvToRgb;
use traffic_vision::{Frame, Letterbox, PixelFormat, YuvMatrix};

type Error = Box<dyn std::error::Error>;

struct Args {
    video: PathBuf,
    threads: usize,
    frames: usize,
    model: PathBuf,
    runs: usize,
    block: usize,
    preprocess_only: bool,
}

fn parse_args() -> Result<Args, Error> {
    let mut args = Args {
        video: PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../../shared/data/videos/ahmetozlu_residential_street.mp4"
        )),
        threads: 2,
        frames: usize::MAX,
        model: traffic_vision::runtime::weight("yolov8n.onnx"),
        runs: 50,
        block: 10,
        preprocess_only: false,
    };
    if let Some(v) = std::env::var_os("TRAFFIC_BENCH_VIDEO") {
        args.video = PathBuf::from(v);
    }
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--video" => args.video = PathBuf::from(value()?),
            "--threads" => args.threads = value()?.parse()?,
            "--frames" => args.frames = value()?.parse()?,
            "--model" => args.model = PathBuf::from(value()?),
            "--runs" => args.runs = value()?.parse::<usize>()?.max(1),
            "--block" => args.block = value()?.parse()?,
            "--preprocess-only" => args.preprocess_only = true,
            "-h" | "--help" => {
                println!(
                    "bench_detect [--video PATH] [--threads N (2)] [--frames N (all)] [--model PATH] \
                     [--runs N (50)] [--block N (10; 0: all)] [--preprocess-only]"
                );
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    if args.threads == 0 {
        return Err("--threads must be at least 1 (0 would let ORT pick, which the two sides may not agree on)".into());
    }
    Ok(args)
}

/// Decodes up to `max` frames into memory. Returns the caps and the buffers.
fn decode(video: &std::path::Path, max: usize) -> Result<(gst::Caps, Vec<gst::Buffer>), Error> {
    if !video.is_file() {
        return Err(format!("video {} not found (--video PATH)", video.display()).into());
    }
    let pipeline = gst::parse::launch(&format!(
        "filesrc location=\"{}\" ! decodebin ! videoconvert ! video/x-raw,format=I420 ! appsink name=sink sync=false",
        video.display()
    ))?
    .downcast::<gst::Pipeline>()
    .map_err(|_| "not a pipeline")?;
    let sink =
        pipeline.by_name("sink").ok_or("no appsink")?.downcast::<gst_app::AppSink>().map_err(|_| "not an appsink")?;
    pipeline.set_state(gst::State::Playing)?;
    let mut caps = None;
    let mut buffers = Vec::new();
    while buffers.len() < max {
        let Ok(sample) = sink.pull_sample() else { break }; // EOS or error
        if caps.is_none() {
            caps = sample.caps_owned();
        }
        if let Some(b) = sample.buffer_owned() {
            buffers.push(b);
        }
    }
    let bus = pipeline.bus().ok_or("no bus")?;
    if let Some(msg) = bus.pop_filtered(&[gst::MessageType::Error]) {
        if let gst::MessageView::Error(e) = msg.view() {
            return Err(format!("decoding failed: {} ({:?})", e.error(), e.debug()).into());
        }
    }
    pipeline.set_state(gst::State::Null)?;
    let caps = caps.ok_or("no frames decoded")?;
    Ok((caps, buffers))
}

/// Maps a decoded frame as the element does (`plugins/traffic/src/video.rs`).
fn vision_frame<'a>(vframe: &'a VideoFrameRef<&gst::BufferRef>) -> Result<Frame<'a>, Error> {
    let info = vframe.info();
    let format = match info.format() {
        VideoFormat::I420 => PixelFormat::I420,
        VideoFormat::Nv12 => PixelFormat::Nv12,
        VideoFormat::Rgb => PixelFormat::Rgb,
        VideoFormat::Bgrx => PixelFormat::Bgrx,
        f => return Err(format!("format {f} not handled by the benchmark").into()),
    };
    let c = info.colorimetry();
    let matrix = if c.matrix() == VideoColorMatrix::Bt709 { YuvMatrix::Bt709 } else { YuvMatrix::Bt601 };
    let yuv = YuvToRgb::new(matrix, c.range() == VideoColorRange::Range0_255);
    let n = info.n_planes() as usize;
    let mut planes = Vec::with_capacity(n);
    for p in 0..n as u32 {
        planes.push(vframe.plane_data(p)?);
    }
    let strides: Vec<usize> = info.stride()[..n].iter().map(|&s| s.max(0) as usize).collect();
    Ok(Frame::new(format, info.width() as usize, info.height() as usize, &planes, &strides, yuv)?)
}

/// `appsrc ! yolodetect threads=N ! appsink sync=false`, fed block by block.
struct DetectPipeline {
    pipeline: gst::Pipeline,
    src: gst_app::AppSrc,
    sink: gst_app::AppSink,
    detect: gst::Element,
}

impl DetectPipeline {
    fn start(caps: &gst::Caps, args: &Args) -> Result<Self, Error> {
        let pipeline = gst::Pipeline::new();
        let src = gst_app::AppSrc::builder().caps(caps).format(gst::Format::Time).is_live(false).build();
        let detect = gst::ElementFactory::make("yolodetect")
            .property("threads", args.threads as u32)
            .property("model", args.model.to_string_lossy().as_ref())
            .build()?;
        let sink = gst_app::AppSink::builder().sync(false).build();
        pipeline.add_many([src.upcast_ref(), &detect, sink.upcast_ref()])?;
        gst::Element::link_many([src.upcast_ref(), &detect, sink.upcast_ref()])?;
        // The model loads (and runs once on a blank input) in yolodetect's start(), during this
        // state change: before any clock starts.
        pipeline.set_state(gst::State::Playing)?;
        let p = DetectPipeline { pipeline, src, sink, detect };
        p.check_bus()?;
        Ok(p)
    }

    fn check_bus(&self) -> Result<(), Error> {
        let bus = self.pipeline.bus().ok_or("no bus")?;
        if let Some(msg) = bus.pop_filtered(&[gst::MessageType::Error]) {
            if let gst::MessageView::Error(e) = msg.view() {
                return Err(format!("pipeline error: {} ({:?})", e.error(), e.debug()).into());
            }
        }
        Ok(())
    }

    /// Wall time from the first push to the last frame out of yolodetect.
    fn run_block(&self, buffers: &[gst::Buffer]) -> Result<Duration, Error> {
        let t0 = Instant::now();
        for b in buffers {
            // A new reference: yolodetect only reads the pixels, and adds its metas to a
            // shallow copy (buffer memory shared, no pixel copy).
            self.src.push_buffer(b.clone())?;
        }
        for _ in buffers {
            while self.sink.try_pull_sample(gst::ClockTime::from_seconds(1)).is_none() {
                self.check_bus()?;
                if self.sink.is_eos() {
                    return Err("pipeline ended early".into());
                }
            }
        }
        Ok(t0.elapsed())
    }

    /// Sends EOS, waits for it, and returns yolodetect's `stats`.
    fn finish(self) -> Result<gst::Structure, Error> {
        self.src.end_of_stream()?;
        let bus = self.pipeline.bus().ok_or("no bus")?;
        for msg in bus.iter_timed(gst::ClockTime::from_seconds(60)) {
            match msg.view() {
                gst::MessageView::Eos(..) => break,
                gst::MessageView::Error(e) => {
                    return Err(format!("pipeline error: {} ({:?})", e.error(), e.debug()).into())
                }
                _ => {}
            }
        }
        // Read before stopping: stop() drops the element's state with its totals.
        let stats = self.detect.property::<gst::Structure>("stats");
        self.pipeline.set_state(gst::State::Null)?;
        Ok(stats)
    }
}

/// A session built as `YoloDetector::load` builds it, on inputs letterboxed up front.
struct BareSession {
    session: Session,
    input_name: String,
    inputs: Vec<Vec<f32>>,
    shape: [usize; 4],
}

impl BareSession {
    fn load(info: &VideoInfo, buffers: &[gst::Buffer], args: &Args) -> Result<Self, Error> {
        let env = traffic_vision::runtime::environment()?;
        let mut session = Session::builder(&env)?
            .with_optimization_level(GraphOptimizationLevel::Level3)?
            .with_inter_threads(1)?
            .with_intra_op_spinning(false)?
            .with_intra_threads(args.threads)?
            .commit_from_file(&args.model)?;
        let input_name = session.inputs()[0].name().to_string();
        // The element warms up on one blank 640x640 input at load; do the same.
        {
            let blank = vec![0.0f32; 3 * 640 * 640];
            let t = TensorRef::from_array_view(([1usize, 3, 640, 640], &blank[..]))?;
            drop(session.run(ort::inputs![input_name.as_str() => t])?);
        }
        let lb = Letterbox::rect(info.width() as usize, info.height() as usize, 640, 32)?;
        let mut inputs = Vec::with_capacity(buffers.len());
        for b in buffers {
            let vframe = VideoFrameRef::from_buffer_ref_readable(b.as_ref(), info)?;
            let mut input = vec![0.0f32; lb.input_len()];
            lb.fill(&vision_frame(&vframe)?, &mut input)?;
            inputs.push(input);
        }
        Ok(BareSession { session, input_name, inputs, shape: [1, 3, lb.dst_h, lb.dst_w] })
    }

    /// `session.run` alone timed, frame by frame.
    fn run_block(&mut self, range: std::ops::Range<usize>) -> Result<Vec<Duration>, Error> {
        let mut times = Vec::with_capacity(range.len());
        for input in &self.inputs[range] {
            let tensor = TensorRef::from_array_view((self.shape, &input[..]))?;
            let t = Instant::now();
            let outputs = self.session.run(ort::inputs![self.input_name.as_str() => tensor])?;
            times.push(t.elapsed());
            drop(outputs);
        }
        Ok(times)
    }
}

fn median(v: &mut [Duration]) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Median `Letterbox::fill` time of a synthetic frame of `format`, `w` x `h`.
fn preprocess_ms(format: PixelFormat, w: usize, h: usize, runs: usize) -> Result<f64, Error> {
    let pattern = |n: usize, k: usize| -> Vec<u8> { (0..n).map(|i| ((i * k + i / 7) % 251) as u8).collect() };
    let yuv = YuvToRgb::new(YuvMatrix::Bt709, false);
    let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
    let (y, uv_a, uv_b, rgb);
    let frame = match format {
        PixelFormat::I420 => {
            (y, uv_a, uv_b) = (pattern(w * h, 3), pattern(cw * ch, 5), pattern(cw * ch, 11));
            Frame::new(format, w, h, &[&y, &uv_a, &uv_b], &[w, cw, cw], yuv)?
        }
        PixelFormat::Nv12 => {
            (y, uv_a) = (pattern(w * h, 3), pattern(cw * 2 * ch, 5));
            Frame::new(format, w, h, &[&y, &uv_a], &[w, cw * 2], yuv)?
        }
        PixelFormat::Rgb => {
            rgb = pattern(w * h * 3, 3);
            Frame::rgb(&rgb, w, h)?
        }
        f => return Err(format!("{f:?} not benchmarked").into()),
    };
    let lb = Letterbox::rect(w, h, 640, 32)?;
    let mut out = vec![0.0f32; lb.input_len()];
    for _ in 0..3 {
        lb.fill(&frame, &mut out)?;
    }
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            lb.fill(&frame, &mut out).map(|_| t.elapsed())
        })
        .collect::<Result<_, _>>()?;
    std::hint::black_box(&out);
    Ok(ms(median(&mut times)))
}

/// CPU time of this process (user + system), from /proc/self/stat, in clock ticks of 10 ms.
fn cpu_time() -> Duration {
    let ticks = std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            let after_comm = s.rsplit_once(')')?.1.to_string();
            let f: Vec<u64> = after_comm.split_whitespace().skip(11).take(2).filter_map(|v| v.parse().ok()).collect();
            (f.len() == 2).then(|| f[0] + f[1])
        })
        .unwrap_or(0);
    Duration::from_millis(ticks * 10)
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into())
}

fn main() -> Result<(), Error> {
    let args = parse_args()?;
    gst::init()?;
    gsttraffic::plugin_register_static()?;
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    let load_before = load_average();
    let preprocess_rows = |video_size: Option<(usize, usize)>| -> Result<Vec<(String, f64)>, Error> {
        let mut rows = Vec::new();
        for (name, f) in [("I420", PixelFormat::I420), ("NV12", PixelFormat::Nv12), ("RGB", PixelFormat::Rgb)] {
            let out = Letterbox::rect(1920, 1080, 640, 32)?;
            let label = format!("1920x1080 {name} → {}x{}", out.dst_w, out.dst_h);
            rows.push((label, preprocess_ms(f, 1920, 1080, args.runs)?));
        }
        if let Some((w, h)) = video_size {
            let out = Letterbox::rect(w, h, 640, 32)?;
            let label = format!("{w}x{h} I420 (the video's size) → {}x{}", out.dst_w, out.dst_h);
            rows.push((label, preprocess_ms(PixelFormat::I420, w, h, args.runs)?));
        }
        Ok(rows)
    };
    if args.preprocess_only {
        println!("| `Letterbox::fill` (median of {}) | ms |\n|---|---|", args.runs);
        for (label, t) in preprocess_rows(None)? {
            println!("| {label} | {t:.2} |");
        }
        return Ok(());
    }

    let t = Instant::now();
    let (caps, buffers) = decode(&args.video, args.frames)?;
    let decode_time = t.elapsed();
    let info = VideoInfo::from_caps(&caps)?;
    eprintln!(
        "decoded {} frames of {}x{} {} in {:.2} s ({:.0} fps)",
        buffers.len(),
        info.width(),
        info.height(),
        info.format(),
        decode_time.as_secs_f64(),
        buffers.len() as f64 / decode_time.as_secs_f64()
    );

    let (c0, w0) = (cpu_time(), Instant::now());
    let mut bare = BareSession::load(&info, &buffers, &args)?;
    let pipe = DetectPipeline::start(&caps, &args)?;
    // Alternate the two on the same blocks of frames, so that whatever else the machine does
    // weighs on both alike.
    let block = if args.block == 0 { buffers.len() } else { args.block };
    let (mut bare_times, mut pipe_wall, mut block_ratios) = (Vec::new(), Duration::ZERO, Vec::new());
    for start in (0..buffers.len()).step_by(block.max(1)) {
        let range = start..(start + block).min(buffers.len());
        let b: Duration = bare.run_block(range.clone()).map(|t| {
            bare_times.extend_from_slice(&t);
            t.iter().sum()
        })?;
        let p = pipe.run_block(&buffers[range])?;
        pipe_wall += p;
        block_ratios.push(b.as_secs_f64() / p.as_secs_f64());
    }
    let stats = pipe.finish()?;
    // Includes the untimed letterboxing and model loads: a rough but honest contention check.
    let busy_cores = (cpu_time() - c0).as_secs_f64() / w0.elapsed().as_secs_f64();
    let (iw, ih) = (bare.shape[3], bare.shape[2]);
    drop(bare);

    eprintln!("yolodetect stats: {stats}");
    let frames = stats.get::<u64>("frames").unwrap_or(0);
    if frames != buffers.len() as u64 {
        return Err(format!("yolodetect saw {frames} frames of {}", buffers.len()).into());
    }
    let bare_total: Duration = bare_times.iter().sum();
    let bare_fps = buffers.len() as f64 / bare_total.as_secs_f64();
    let pipe_fps = buffers.len() as f64 / pipe_wall.as_secs_f64();
    let get = |f: &str| stats.get::<f64>(f).unwrap_or(f64::NAN);
    let inferences = stats.get::<u64>("inferences").unwrap_or(0) as f64;
    let (pre, inf, post) = (get("preprocess-ms"), get("inference-ms"), get("postprocess-ms"));
    let outside = 1.0 - inf * inferences / ms(pipe_wall);
    block_ratios.sort_by(f64::total_cmp);

    let pre_rows = preprocess_rows(Some((info.width() as usize, info.height() as usize)))?;

    println!();
    println!(
        "{} ({} cores), ORT intra-op threads = {}, {} frames of {} ({}x{} {}, model input {}x{}), model {}",
        cpu_model(),
        cores,
        args.threads,
        buffers.len(),
        args.video.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
        info.width(),
        info.height(),
        info.format(),
        iw,
        ih,
        args.model.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
    );
    println!();
    println!("| Measure | Value |");
    println!("|---|---|");
    println!(
        "| Bare ORT `session.run` (pre-letterboxed inputs) | {bare_fps:.1} fps ({:.2} ms/frame mean, {:.2} ms median) |",
        ms(bare_total) / buffers.len() as f64,
        ms(median(&mut bare_times))
    );
    println!(
        "| `appsrc ! yolodetect threads={} ! appsink`, first push to last frame out | {pipe_fps:.1} fps ({:.2} ms/frame) |",
        args.threads,
        ms(pipe_wall) / buffers.len() as f64
    );
    let n = block_ratios.len();
    println!(
        "| Ratio yolodetect / bare fps: of the totals; median of {n} blocks of {block} (quartiles) | **{:.3}**; **{:.3}** ({:.3}–{:.3}) (goal ≥ 0.9) |",
        pipe_fps / bare_fps,
        block_ratios[n / 2],
        block_ratios[n / 4],
        block_ratios[(3 * n) / 4]
    );
    println!("| yolodetect stage means: preprocess / inference / postprocess | {pre:.2} / {inf:.2} / {post:.2} ms |");
    println!("| Share of yolodetect wall time outside ORT `run` | {:.1} % |", outside * 100.0);
    for (label, t) in &pre_rows {
        println!("| `Letterbox::fill` {label} (median of {}) | {t:.2} ms |", args.runs);
    }
    println!(
        "| Load average before / after; cores this process kept busy (detect phases) | {load_before} / {}; {busy_cores:.2} |",
        load_average()
    );
    Ok(())
}
