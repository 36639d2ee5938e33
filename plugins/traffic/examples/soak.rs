//! Soak test: the full pipeline over a looped video for many frames, watching the process's
//! resident memory (VmRSS) for growth.
//!
//! ```text
//! source scripts/env.sh
//! cargo run --release -p gst-plugin-traffic --example soak -- \
//!     [--frames 20000] [--warmup 1000] [--every 500] [--video PATH] [--encode] [--no-plates] \
//!     [--jsonl out/soak.jsonl] [--markdown FILE]
//! ```
//!
//! `filesrc ! decodebin ! yolodetect ! mottracker ! platedetect ! plateocr ! linecounter !
//! trafficpublish ! overlay ! fakesink` (`--encode`: `! videoconvert ! x264enc ! fakesink`),
//! looped without a gap by SEGMENT seeks: each `segment-done` seeks back to the start, so the
//! elements see one endless stream. RSS is sampled every `--every` frames; the verdict compares
//! the RSS at the end with the RSS after `--warmup` frames (pass: at most 5 % more). `--markdown`
//! writes the result as a BENCHMARKS.md section body (`scripts/soak.sh` does that).

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use gst::prelude::*;

type Error = Box<dyn std::error::Error>;

/// Allowed growth of RSS from the end of the warm-up to the end of the run.
const MAX_GROWTH: f64 = 0.05;

struct Args {
    frames: u64,
    warmup: u64,
    every: u64,
    video: PathBuf,
    encode: bool,
    plates: bool,
    jsonl: PathBuf,
    markdown: Option<PathBuf>,
}

fn parse_args() -> Result<Args, Error> {
    // Relative to the checkout (scripts/soak.sh runs from there), so the report shows no host paths.
    let mut args = Args {
        frames: 20_000,
        warmup: 1_000,
        every: 500,
        video: PathBuf::from("../shared/data/videos/ahmetozlu_residential_street.mp4"),
        encode: false,
        plates: true,
        jsonl: PathBuf::from("out/soak.jsonl"),
        markdown: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--frames" => args.frames = value()?.parse()?,
            "--warmup" => args.warmup = value()?.parse()?,
            "--every" => args.every = value()?.parse()?,
            "--video" => args.video = value()?.into(),
            "--jsonl" => args.jsonl = value()?.into(),
            "--markdown" => args.markdown = Some(value()?.into()),
            "--encode" => args.encode = true,
            "--no-plates" => args.plates = false,
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    if args.warmup == 0 || args.every == 0 || args.warmup >= args.frames {
        return Err("need 0 < --warmup < --frames and --every > 0".into());
    }
    Ok(args)
}

/// Resident memory of this process, KiB.
fn rss_kib() -> Result<u64, Error> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).ok_or("no VmRSS in /proc/self/status")?;
    Ok(line.split_whitespace().nth(1).ok_or("malformed VmRSS")?.parse()?)
}

fn launch_line(args: &Args) -> String {
    let plates = if args.plates { "platedetect ! plateocr ! " } else { "" };
    let tail = if args.encode {
        "videoconvert ! x264enc speed-preset=ultrafast tune=zerolatency ! fakesink name=sink sync=false"
    } else {
        "fakesink name=sink sync=false"
    };
    format!(
        "filesrc location={} ! decodebin ! yolodetect ! mottracker ! {plates}linecounter lines=road:0,0.6,1,0.6 ! \
         trafficpublish location={} ! overlay ! {tail}",
        args.video.display(),
        args.jsonl.display()
    )
}

fn seek_to_start(pipeline: &gst::Element, flush: bool) -> Result<(), Error> {
    let flags = if flush { gst::SeekFlags::FLUSH | gst::SeekFlags::SEGMENT } else { gst::SeekFlags::SEGMENT };
    pipeline.seek(1.0, flags, gst::SeekType::Set, gst::ClockTime::ZERO, gst::SeekType::None, gst::ClockTime::NONE)?;
    Ok(())
}

fn main() -> Result<(), Error> {
    let args = parse_args()?;
    gst::init()?;
    gsttraffic::plugin_register_static()?;
    if let Some(dir) = args.jsonl.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let launch = launch_line(&args);
    eprintln!("{launch}");
    let pipeline = gst::parse::launch(&launch)?;
    let frames = Arc::new(AtomicU64::new(0));
    let sink = pipeline.downcast_ref::<gst::Bin>().ok_or("not a bin")?.by_name("sink").ok_or("no sink")?;
    sink.set_property("signal-handoffs", true);
    let counter = frames.clone();
    sink.connect("handoff", false, move |_| {
        counter.fetch_add(1, Ordering::Relaxed);
        None
    });

    let bus = pipeline.bus().ok_or("no bus")?;
    pipeline.set_state(gst::State::Paused)?;
    bus.timed_pop_filtered(gst::ClockTime::from_seconds(60), &[gst::MessageType::AsyncDone])
        .ok_or("the pipeline did not preroll")?;
    seek_to_start(&pipeline, true)?;
    pipeline.set_state(gst::State::Playing)?;

    let start = Instant::now();
    let start_rss = rss_kib()?;
    let mut samples: Vec<(u64, u64)> = Vec::new();
    let mut next_sample = args.every.min(args.warmup);
    let mut loops = 0u64;
    let mut warmup_rss = None;
    let result: Result<(), Error> = loop {
        let n = frames.load(Ordering::Relaxed);
        if n >= next_sample {
            let rss = rss_kib()?;
            samples.push((n, rss));
            println!(
                "frame {n:>6}  loop {loops:>3}  rss {:.1} MiB  {:.1} fps",
                rss as f64 / 1024.0,
                n as f64 / start.elapsed().as_secs_f64()
            );
            if warmup_rss.is_none() && n >= args.warmup {
                warmup_rss = Some((n, rss));
            }
            next_sample = (n / args.every + 1) * args.every;
        }
        if n >= args.frames {
            break Ok(());
        }
        let Some(msg) = bus.timed_pop(gst::ClockTime::from_mseconds(100)) else { continue };
        match msg.view() {
            gst::MessageView::SegmentDone(_) => {
                loops += 1;
                seek_to_start(&pipeline, false)?;
            }
            gst::MessageView::Eos(_) => break Err("unexpected EOS: the loop broke".into()),
            gst::MessageView::Error(e) => break Err(format!("{} ({:?})", e.error(), e.debug()).into()),
            _ => {}
        }
    };
    let wall = start.elapsed();
    pipeline.set_state(gst::State::Null)?;
    result?;

    let n = frames.load(Ordering::Relaxed);
    let (warm_frame, warm) = warmup_rss.ok_or("no sample after the warm-up")?;
    let (end_frame, end) = *samples.last().ok_or("no sample")?;
    let peak = samples.iter().map(|s| s.1).max().unwrap_or(end);
    let ratio = end as f64 / warm as f64;
    let pass = ratio <= 1.0 + MAX_GROWTH;
    let mib = |k: u64| k as f64 / 1024.0;
    let summary = format!(
        "| frames | loops of the video | wall | frames/s | RSS at start | RSS after warm-up (frame {warm_frame}) | RSS at the end (frame {end_frame}) | peak | end / warm-up |\n\
         |---|---|---|---|---|---|---|---|---|\n\
         | {n} | {loops} | {:.0} s | {:.1} | {:.1} MiB | {:.1} MiB | {:.1} MiB | {:.1} MiB | **{ratio:.3}** ({}) |\n",
        wall.as_secs_f64(),
        n as f64 / wall.as_secs_f64(),
        mib(start_rss),
        mib(warm),
        mib(end),
        mib(peak),
        if pass { "pass: within 5 %" } else { "FAIL: more than 5 %" },
    );
    println!("\n{summary}");
    println!(
        "soak: frames={n} warmup_rss_kib={warm} end_rss_kib={end} ratio={ratio:.4} {}",
        if pass { "PASS" } else { "FAIL" }
    );
    if let Some(path) = &args.markdown {
        let samples_line: Vec<String> = samples.iter().map(|(f, r)| format!("{f}: {:.1}", mib(*r))).collect();
        let body =
            format!("Pipeline: `{launch}`\n\n{summary}\nRSS samples (frame: MiB): {}\n", samples_line.join(", "));
        std::fs::write(path, body)?;
    }
    if pass {
        Ok(())
    } else {
        Err(format!("RSS grew by {:.1} % after the warm-up", (ratio - 1.0) * 100.0).into())
    }
}
