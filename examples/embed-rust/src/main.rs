//! `traffic-embed`: a traffic pipeline inside a Rust application.
//!
//! Builds `uridecodebin ! yolodetect ! mottracker ! linecounter ! fakesink`, reads each frame's
//! objects and line counts in a pad probe through the `traffic-meta` crate (no structure
//! parsing by hand), and prints them together with the `traffic-crossing` and
//! `traffic-summary` messages from the bus.
//!
//! ```sh
//! cargo run --release -p traffic-embed -- ../shared/data/videos/ahmetozlu_residential_street.mp4 \
//!     --lines "street:0,0.6,1,0.6:down/up" --frames 200
//! ```

use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};

use gst::prelude::*;
use traffic_meta::{Counts, FrameSize, Object};

const USAGE: &str = "usage: traffic-embed <file or URI> [--lines SPEC] [--frames N]";

struct Args {
    uri: String,
    lines: String,
    /// Stop after about this many frames (the decoder still drains the frames it holds).
    frames: Option<u32>,
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut source = None;
    let mut lines = "street:0,0.6,1,0.6:down/up".to_string();
    let mut frames = None;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--lines" => lines = args.next().ok_or("--lines needs a value")?,
            "--frames" => {
                let n = args.next().ok_or("--frames needs a value")?;
                frames = Some(n.parse().map_err(|_| format!("--frames: not a number: {n}"))?);
            }
            _ if source.is_none() && !arg.starts_with("--") => source = Some(arg),
            _ => return Err(format!("unexpected argument {arg}")),
        }
    }
    let source = source.ok_or("no source given")?;
    Ok(Args { uri: to_uri(&source)?, lines, frames })
}

fn to_uri(source: &str) -> Result<String, String> {
    if source.contains("://") {
        return Ok(source.to_string());
    }
    let path = std::fs::canonicalize(source).map_err(|e| format!("{source}: {e}"))?;
    gst::glib::filename_to_uri(&path, None).map(Into::into).map_err(|e| format!("{source}: {e}"))
}

fn make(factory: &str) -> Result<gst::Element, String> {
    gst::ElementFactory::make(factory)
        .build()
        .map_err(|_| format!("no element {factory}: is the plugin on GST_PLUGIN_PATH? (gst-inspect-1.0 {factory})"))
}

/// The pipeline, and the element whose source pad carries the finished metadata.
fn build_pipeline(args: &Args) -> Result<(gst::Pipeline, gst::Element), String> {
    let pipeline = gst::Pipeline::new();
    let source = make("uridecodebin")?;
    source.set_property("uri", &args.uri);
    let limit = make("identity")?;
    if let Some(n) = args.frames {
        limit.set_property("eos-after", i32::try_from(n).unwrap_or(i32::MAX));
    }
    let counter = make("linecounter")?;
    counter.set_property("lines", &args.lines);
    let sink = make("fakesink")?;
    sink.set_property("sync", false);
    let chain = [limit, make("yolodetect")?, make("mottracker")?, counter.clone(), sink];
    pipeline.add(&source).map_err(|e| e.to_string())?;
    pipeline.add_many(&chain).map_err(|e| e.to_string())?;
    gst::Element::link_many(&chain).map_err(|e| e.to_string())?;

    // uridecodebin adds its pads once it knows the streams: link the first video pad.
    let first = chain[0].static_pad("sink").ok_or("identity has no sink pad")?;
    source.connect_pad_added(move |_, pad| {
        let is_video = pad
            .current_caps()
            .or_else(|| Some(pad.query_caps(None)))
            .is_some_and(|caps| caps.structure(0).is_some_and(|s| s.name().starts_with("video/")));
        if is_video && !first.is_linked() {
            if let Err(e) = pad.link(&first) {
                eprintln!("traffic-embed: cannot link the decoder: {e}");
            }
        }
    });
    Ok((pipeline, counter))
}

fn describe(o: &Object) -> String {
    let id = o.track.as_ref().map_or("-".to_string(), |t| format!("#{}", t.id));
    let class = o.track.as_ref().map_or(o.label(), |t| t.label.as_str());
    let confidence = o.detection.as_ref().map_or(String::new(), |d| format!(" {:.2}", d.confidence));
    let b = &o.bbox;
    let predicted = if o.track.as_ref().is_some_and(|t| t.predicted) { " predicted" } else { "" };
    let plate = o.plate.as_ref().map_or(String::new(), |p| format!(" plate {}", p.track_text));
    format!("{id} {class}{confidence} [{:.1}, {:.1}, {:.1}, {:.1}]{predicted}{plate}", b.x1, b.y1, b.x2, b.y2)
}

fn print_frame(frame: u64, pts: Option<gst::ClockTime>, objects: &[Object], counts: Option<&Counts>) {
    let crossings = counts.map_or(0, |c| c.crossings.len());
    println!("frame {frame} pts {}: objects {}, crossings {crossings}", pts.display(), objects.len());
    for o in objects {
        println!("  {}", describe(o));
    }
}

fn print_summary(counts: &Counts) {
    for line in &counts.lines {
        for t in &line.totals {
            println!("summary: {} {} {} {}", line.name, t.class, t.direction, t.count);
        }
    }
}

/// Prints our element messages; Err on an error message.
fn handle_message(msg: &gst::Message) -> Result<(), String> {
    match msg.view() {
        gst::MessageView::Error(e) => Err(format!("{} ({:?})", e.error(), e.debug())),
        gst::MessageView::Element(e) => {
            let Some(s) = e.structure() else { return Ok(()) };
            if let Some(m) = traffic_meta::read_crossing(s) {
                let c = m.crossing;
                println!(
                    "crossing: line {} {}, track #{} {}, plate {}",
                    c.line,
                    c.direction,
                    c.track_id,
                    c.class,
                    c.plate.as_deref().unwrap_or("-")
                );
            } else if let Some(summary) = traffic_meta::read_summary(s) {
                // The summary carries the same `lines` as TrafficCountsMeta.
                print_summary(&summary.counts);
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

fn run(args: &Args) -> Result<(), String> {
    gst::init().map_err(|e| e.to_string())?;
    if gst::ElementFactory::find("yolodetect").is_none() {
        gsttraffic::plugin_register_static().map_err(|e| e.to_string())?;
    }
    let (pipeline, counter) = build_pipeline(args)?;

    let frame_index = AtomicU64::new(0);
    let probe_pad = counter.static_pad("src").ok_or("linecounter has no src pad")?;
    probe_pad.add_probe(gst::PadProbeType::BUFFER, move |pad, info| {
        let Some(buffer) = info.buffer() else { return gst::PadProbeReturn::Ok };
        let frame = frame_index.fetch_add(1, Ordering::Relaxed);
        let Some(video) = pad.current_caps().and_then(|caps| gst_video::VideoInfo::from_caps(&caps).ok()) else {
            return gst::PadProbeReturn::Ok;
        };
        let size = FrameSize { width: video.width(), height: video.height() };
        let objects = traffic_meta::objects(buffer, size);
        print_frame(frame, buffer.pts(), &objects, traffic_meta::counts(buffer).as_ref());
        gst::PadProbeReturn::Ok
    });

    let bus = pipeline.bus().ok_or("pipeline without a bus")?;
    if pipeline.set_state(gst::State::Playing).is_err() {
        // An element that fails to start posts why (missing model, ONNX Runtime) on the bus.
        let reason = bus
            .timed_pop_filtered(gst::ClockTime::from_seconds(5), &[gst::MessageType::Error])
            .and_then(|msg| handle_message(&msg).err())
            .unwrap_or_else(|| "the pipeline failed to start".into());
        let _ = pipeline.set_state(gst::State::Null);
        return Err(reason);
    }
    let mut result = Ok(());
    for msg in bus.iter_timed(gst::ClockTime::NONE) {
        if let gst::MessageView::Eos(_) = msg.view() {
            break;
        }
        if let Err(e) = handle_message(&msg) {
            result = Err(e);
            break;
        }
    }
    pipeline.set_state(gst::State::Null).map_err(|e| e.to_string())?;
    result
}

fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(e) => {
            eprintln!("traffic-embed: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("traffic-embed: {e}");
            ExitCode::FAILURE
        }
    }
}
