//! The command line: one camera (`traffic-monitor INPUT [OPTIONS]`) or a fleet
//! (`traffic-monitor serve --config FILE`). clap exits with 2 on a usage error, 0 after
//! `--help` and `--version`.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{ArgAction, CommandFactory, Parser, Subcommand};

/// Detects, tracks and counts vehicles and reads their plates; writes an annotated MP4, events
/// as JSON lines, summary.json and a counts-over-time chart (chart.png). Ctrl-C stops cleanly.
#[derive(Debug, Parser)]
#[command(
    name = "traffic-monitor",
    version,
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true,
    after_help = "INPUT: a video file, a URI (file://, rtsp://, http://, ...) or a V4L2 device (/dev/video0)."
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Sub>,
    #[command(flatten)]
    run: Option<Args>,
}

#[derive(Debug, Subcommand)]
enum Sub {
    /// Runs every [[camera]] of the config in one process, with an HTTP API, Prometheus metrics
    /// and a dashboard.
    Serve(ServeArgs),
}

/// One camera: what the command line asks for; `None` leaves the config file's (or the
/// default) value.
#[derive(Debug, Default, PartialEq, clap::Args)]
pub struct Args {
    /// A video file, a URI or a V4L2 device.
    #[arg(value_name = "INPUT", required = true)]
    pub input: String,
    /// TOML configuration (see traffic.example.toml).
    #[arg(short, long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Output folder (default out/traffic-monitor).
    #[arg(short, long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Counting lines 'name:x1,y1,x2,y2[:in/out];...' (fractions of the frame or pixels).
    #[arg(short, long, value_name = "SPEC")]
    pub lines: Option<String>,
    /// Run the detector on every Nth frame (the tracker predicts in between).
    #[arg(short, long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub interval: Option<u32>,
    /// Skip plate detection and reading.
    #[arg(long)]
    pub no_plates: bool,
    /// Do not write the annotated MP4.
    #[arg(long)]
    pub no_mp4: bool,
    /// Show the annotated video in a window.
    #[arg(long)]
    pub display: bool,
    /// More log output (-vv: trace); RUST_LOG overrides it.
    #[arg(short, long, action = ArgAction::Count)]
    pub verbose: u8,
}

/// The fleet service.
#[derive(Debug, PartialEq, clap::Args)]
pub struct ServeArgs {
    /// TOML configuration with one [[camera]] table per camera.
    #[arg(short, long, value_name = "FILE")]
    pub config: PathBuf,
    /// Address the HTTP API and dashboard listen on.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Threads one inference call uses, on the pool every camera's models share (0: one per
    /// core). 1 runs one call per core at once: the most frames per machine with many cameras.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub inference_threads: usize,
    /// More log output (-vv: trace); RUST_LOG overrides it.
    #[arg(short, long, action = ArgAction::Count)]
    pub verbose: u8,
}

/// What to run.
#[derive(Debug, PartialEq)]
pub enum Command {
    Run(Args),
    Serve(ServeArgs),
}

/// Parses the arguments after the program name.
pub fn try_parse(args: impl IntoIterator<Item = String>) -> Result<Command, clap::Error> {
    let program = std::iter::once("traffic-monitor".to_string());
    let cli = Cli::try_parse_from(program.chain(args))?;
    match (cli.command, cli.run) {
        (Some(Sub::Serve(serve)), _) => Ok(Command::Serve(serve)),
        (None, Some(run)) => Ok(Command::Run(run)),
        (None, None) => Err(Cli::command().error(clap::error::ErrorKind::MissingRequiredArgument, "no input given")),
    }
}

/// Parses the process's arguments; prints help, the version or a usage error and exits.
pub fn parse() -> Command {
    try_parse(std::env::args().skip(1)).unwrap_or_else(|e| e.exit())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Command, clap::Error> {
        try_parse(args.iter().map(|s| s.to_string()))
    }

    fn run(args: &[&str]) -> Result<Args, String> {
        match parse(args).map_err(|e| e.to_string())? {
            Command::Run(a) => Ok(a),
            other => Err(format!("{other:?}")),
        }
    }

    #[test]
    fn flags_in_both_forms() {
        let a = run(&["video.mp4", "--config=t.toml", "-o", "out/x", "--interval", "3", "--no-plates", "-v", "-v"])
            .unwrap();
        assert_eq!(a.input, "video.mp4");
        assert_eq!(a.config, Some("t.toml".into()));
        assert_eq!(a.out, Some("out/x".into()));
        assert_eq!(a.interval, Some(3));
        assert!(a.no_plates && !a.display && !a.no_mp4);
        assert_eq!(a.verbose, 2);
        assert_eq!(run(&["--lines", "a:0,0.5,1,0.5", "rtsp://cam/1"]).unwrap().lines.as_deref(), Some("a:0,0.5,1,0.5"));
        assert_eq!(run(&["-vv", "a.mp4"]).unwrap().verbose, 2);
    }

    #[test]
    fn serve_takes_a_config_and_an_address() {
        let Command::Serve(s) = parse(&["serve", "--config", "fleet.toml"]).unwrap() else { panic!("not serve") };
        assert_eq!(s.config, PathBuf::from("fleet.toml"));
        assert_eq!(s.listen, "127.0.0.1:8080".parse().unwrap());
        let Command::Serve(s) = parse(&["serve", "-c", "f.toml", "--listen", "0.0.0.0:9000"]).unwrap() else {
            panic!("not serve")
        };
        assert_eq!(s.listen.port(), 9000);
        assert!(parse(&["serve"]).unwrap_err().to_string().contains("--config"));
        assert!(parse(&["serve", "-c", "f.toml", "--listen", "nowhere"]).unwrap_err().to_string().contains("nowhere"));
    }

    #[test]
    fn mistakes_are_explained() {
        assert!(run(&[]).unwrap_err().contains("<INPUT>"));
        assert!(run(&["a.mp4", "b.mp4"]).unwrap_err().contains("b.mp4"));
        assert!(run(&["a.mp4", "--bogus"]).unwrap_err().contains("--bogus"));
        assert!(run(&["a.mp4", "--interval", "0"]).unwrap_err().contains("'0'"));
        assert!(run(&["a.mp4", "--out"]).unwrap_err().contains("--out"));
        for e in [parse(&[]).unwrap_err(), parse(&["a.mp4", "--bogus"]).unwrap_err()] {
            assert_eq!(e.exit_code(), 2, "{e}");
        }
        assert_eq!(parse(&["-h"]).unwrap_err().kind(), clap::error::ErrorKind::DisplayHelp);
        assert_eq!(parse(&["-V"]).unwrap_err().kind(), clap::error::ErrorKind::DisplayVersion);
    }
}
