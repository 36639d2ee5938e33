//! `traffic-monitor`: the ready application. Builds the whole pipeline for a file, camera or
//! RTSP stream from a config file and flags, runs it with a progress display, and writes the
//! annotated MP4, per-frame events, `summary.json` and a counts-over-time chart; or, with
//! `serve`, a fleet of cameras in one process behind an HTTP API (see [`serve`]).

mod chart;
mod cli;
mod config;
mod counts_csv;
mod monitor;
mod observe;
mod pipeline;
mod props;
mod serve;
mod summary;

use std::io::IsTerminal;
use std::process::ExitCode;

use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::prelude::*;

/// Exit status for a bad command line or config: nothing ran.
const USAGE_ERROR: u8 = 2;

fn main() -> ExitCode {
    // Before anything else: a Ctrl-C in the first moments of a run must end it as cleanly as
    // a later one, not kill the process with its outputs half made.
    monitor::catch_signals();
    let args = match cli::parse() {
        cli::Command::Run(args) => args,
        cli::Command::Serve(args) => {
            init_logging(args.verbose);
            return serve::main(&args);
        }
    };
    init_logging(args.verbose);
    let config = match config::Config::from_args(&args) {
        Ok(c) => c,
        Err(e) => return fail(&e, USAGE_ERROR),
    };
    if let Err(e) = init_gstreamer() {
        return fail(&e, 1);
    }
    let built = match pipeline::build(&config) {
        Ok(b) => b,
        Err(e) => return fail(&e, USAGE_ERROR),
    };
    match monitor::run(&built, &config) {
        Ok(summary) => {
            tracing::info!(
                frames = summary.frames,
                fps = %format!("{:.1}", summary.mean_fps),
                ending = ?summary.ending,
                summary = %summary.outputs.summary.display(),
                "done"
            );
            match summary.error {
                Some(e) => fail(&e, 1),
                None => ExitCode::SUCCESS,
            }
        }
        Err(e) => fail(&e, 1),
    }
}

/// GStreamer, and our elements registered statically.
fn init_gstreamer() -> Result<(), String> {
    gst::init().map_err(|e| format!("cannot initialise GStreamer: {e}"))?;
    gsttraffic::plugin_register_static().map_err(|e| format!("cannot register the traffic elements: {e}"))
}

/// Prints a fatal error where it is always seen, whatever the log filter says.
fn fail(message: &str, code: u8) -> ExitCode {
    eprintln!("traffic-monitor: error: {message}");
    ExitCode::from(code)
}

/// Logs to stderr: info by default, debug with -v, trace with -vv; `RUST_LOG` (per target:
/// `traffic_monitor=debug,info`) overrides both.
fn init_logging(verbose: u8) {
    let level = match verbose {
        0 => LevelFilter::INFO,
        1 => LevelFilter::DEBUG,
        _ => LevelFilter::TRACE,
    };
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|v| v.parse::<Targets>().ok())
        .unwrap_or_else(|| Targets::new().with_default(level));
    let terminal = std::io::stderr().is_terminal();
    let layer = tracing_subscriber::fmt::layer().with_writer(move || LogWriter { terminal }).with_ansi(false);
    tracing_subscriber::registry().with(layer.with_filter(filter)).init();
}

/// stderr, clearing the progress bar's line first on a terminal so log lines never land in it.
struct LogWriter {
    terminal: bool,
}

impl std::io::Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut err = std::io::stderr().lock();
        if self.terminal {
            err.write_all(b"\r\x1b[2K")?;
        }
        err.write_all(buf)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}
