//! Replays a detections dump through the tracker and writes what `Tracker::update` returns as
//! MOT-style CSV, for a frame-by-frame comparison with another tracker (BoxMOT: see
//! `benches/reference/boxmot_replay.py` and `scripts/compare_tracks.py`).
//!
//! Input: JSON lines as `trafficpublish` writes them, one per frame:
//! `{"frame":n,"objects":[{"class_id":2,"confidence":0.87,"box":[x1,y1,x2,y2]},…],…}`. Every
//! line is one `update` call (a detector frame), in file order.
//!
//! Output: a header, then one row per returned track: `frame,id,x1,y1,x2,y2,score,class`
//! (`frame` as in the input, `class` the track's majority class).
//!
//! ```sh
//! cargo run --release -p traffic-vision --example track_replay -- \
//!     --algorithm bytetrack build/parity/residential.c010.det.jsonl -o ours.csv
//! ```
//!
//! Every threshold has a flag (see `--help`); unset ones keep `TrackerConfig`'s defaults for
//! the algorithm.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::process::ExitCode;

use serde_json::Value;
use traffic_vision::{BBox, Detection, Tracker, TrackerConfig};

const USAGE: &str = "\
usage: track_replay [options] DETECTIONS.jsonl
  -o, --output PATH         CSV to write (default: stdout)
  --algorithm NAME          bytetrack (default) or ocsort
  --track-thresh X          ByteTrack track_thresh / OC-SORT det_thresh
  --track-thresh-low X      ByteTrack min_conf (second association)
  --high-thresh X           smallest score of a detection that starts a track
  --match-thresh X          ByteTrack first-association gate (1 - IoU*score)
  --iou-thresh X            OC-SORT asso_threshold
  --track-buffer N          ByteTrack track_buffer / OC-SORT max_age
  --min-hits N              OC-SORT min_hits
  --delta-t N               OC-SORT delta_t
  --inertia X               OC-SORT inertia
  --class-flicker BOOL      true (default): match across classes; false: per class
  --print-config            print the configuration used to stderr";

struct Args {
    input: String,
    output: Option<String>,
    config: TrackerConfig,
    print_config: bool,
}

fn parse_args() -> Result<Args, String> {
    let raw: Vec<String> = std::env::args().skip(1).collect();
    // The algorithm picks the defaults, so find it first.
    let mut config = TrackerConfig::bytetrack();
    if let Some(i) = raw.iter().position(|a| a == "--algorithm") {
        config = match raw.get(i + 1).map(String::as_str) {
            Some("bytetrack") => TrackerConfig::bytetrack(),
            Some("ocsort") => TrackerConfig::ocsort(),
            other => return Err(format!("--algorithm: expected bytetrack or ocsort, got {other:?}")),
        };
    }

    let mut input = None;
    let mut output = None;
    let mut print_config = false;
    let mut it = raw.iter();
    while let Some(arg) = it.next() {
        let mut value = |name: &str| it.next().cloned().ok_or_else(|| format!("{name} needs a value"));
        fn num<T: std::str::FromStr>(name: &str, v: String) -> Result<T, String> {
            v.parse().map_err(|_| format!("{name}: not a number: {v}"))
        }
        match arg.as_str() {
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            "-o" | "--output" => output = Some(value(arg)?),
            "--algorithm" => {
                value(arg)?;
            }
            "--track-thresh" => config.track_thresh = num(arg, value(arg)?)?,
            "--track-thresh-low" => config.track_thresh_low = num(arg, value(arg)?)?,
            "--high-thresh" => config.high_thresh = num(arg, value(arg)?)?,
            "--match-thresh" => config.match_thresh = num(arg, value(arg)?)?,
            "--iou-thresh" => config.iou_thresh = num(arg, value(arg)?)?,
            "--track-buffer" => config.track_buffer = num(arg, value(arg)?)?,
            "--min-hits" => config.min_hits = num(arg, value(arg)?)?,
            "--delta-t" => config.delta_t = num(arg, value(arg)?)?,
            "--inertia" => config.inertia = num(arg, value(arg)?)?,
            "--class-flicker" => {
                config.class_flicker = match value(arg)?.as_str() {
                    "true" | "1" => true,
                    "false" | "0" => false,
                    v => return Err(format!("--class-flicker: expected true or false, got {v}")),
                }
            }
            "--print-config" => print_config = true,
            a if a.starts_with('-') && a != "-" => return Err(format!("unknown option {a}")),
            a if input.is_none() => input = Some(a.to_string()),
            a => return Err(format!("unexpected argument {a}")),
        }
    }
    let input = input.ok_or("missing DETECTIONS.jsonl")?;
    Ok(Args { input, output, config, print_config })
}

/// One frame of the dump: its number and its detections.
fn parse_frame(line: &str) -> Result<(u64, Vec<Detection>), String> {
    let v: Value = serde_json::from_str(line).map_err(|e| e.to_string())?;
    let frame = v["frame"].as_u64().ok_or("no \"frame\"")?;
    let mut detections = Vec::new();
    for obj in v["objects"].as_array().map(Vec::as_slice).unwrap_or_default() {
        let b: Vec<f32> = obj["box"]
            .as_array()
            .ok_or("object without \"box\"")?
            .iter()
            .filter_map(|x| x.as_f64())
            .map(|x| x as f32)
            .collect();
        if b.len() != 4 {
            return Err("\"box\" is not four numbers".into());
        }
        detections.push(Detection {
            bbox: BBox::new(b[0], b[1], b[2], b[3]),
            score: obj["confidence"].as_f64().ok_or("object without \"confidence\"")? as f32,
            class_id: obj["class_id"].as_u64().ok_or("object without \"class_id\"")? as u32,
        });
    }
    Ok((frame, detections))
}

fn run(args: Args) -> Result<(), String> {
    if args.print_config {
        eprintln!("{:?}", args.config);
    }
    let reader = BufReader::new(File::open(&args.input).map_err(|e| format!("{}: {e}", args.input))?);
    let sink: Box<dyn Write> = match &args.output {
        Some(path) => Box::new(File::create(path).map_err(|e| format!("{path}: {e}"))?),
        None => Box::new(std::io::stdout().lock()),
    };
    let mut out = BufWriter::new(sink);
    let io = |e: std::io::Error| e.to_string();
    writeln!(out, "frame,id,x1,y1,x2,y2,score,class").map_err(io)?;

    let mut tracker = Tracker::new(args.config);
    for (n, line) in reader.lines().enumerate() {
        let line = line.map_err(io)?;
        if line.trim().is_empty() {
            continue;
        }
        let (frame, detections) = parse_frame(&line).map_err(|e| format!("{}:{}: {e}", args.input, n + 1))?;
        for t in tracker.update(&detections) {
            let b = t.bbox;
            writeln!(
                out,
                "{frame},{},{:.3},{:.3},{:.3},{:.3},{:.4},{}",
                t.id, b.x1, b.y1, b.x2, b.y2, t.score, t.class_id
            )
            .map_err(io)?;
        }
    }
    out.flush().map_err(io)
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("track_replay: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("track_replay: {e}");
            ExitCode::FAILURE
        }
    }
}
