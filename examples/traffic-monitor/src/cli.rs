//! Command-line arguments, parsed by hand: a few flags do not justify an argument-parsing crate.

use std::path::PathBuf;

pub const USAGE: &str = "\
Usage: traffic-monitor <INPUT> [OPTIONS]

Detects, tracks and counts vehicles and reads their plates; writes an annotated MP4, events as
JSON lines, summary.json and a counts-over-time chart (chart.png). Ctrl-C stops cleanly.

INPUT: a video file, a URI (file://, rtsp://, http://, ...) or a V4L2 device (/dev/video0).

Options:
  -c, --config FILE    TOML configuration (see traffic.example.toml)
  -o, --out DIR        output folder (default out/traffic-monitor)
  -l, --lines SPEC     counting lines 'name:x1,y1,x2,y2[:in/out];...' (fractions of the frame or pixels)
  -i, --interval N     run the detector on every Nth frame (the tracker predicts in between)
      --no-plates      skip plate detection and reading
      --no-mp4         do not write the annotated MP4
      --display        show the annotated video in a window
  -v, --verbose        more log output (-vv: trace); RUST_LOG overrides it
  -h, --help           this text
  -V, --version        the version
";

/// What the command line asks for; `None` leaves the config file's (or the default) value.
#[derive(Debug, Default, PartialEq)]
pub struct Args {
    pub input: String,
    pub config: Option<PathBuf>,
    pub out: Option<PathBuf>,
    pub lines: Option<String>,
    pub interval: Option<u32>,
    pub no_plates: bool,
    pub no_mp4: bool,
    pub display: bool,
    pub verbose: u8,
}

/// The outcome of parsing: a run, or a request for help/version text.
#[derive(Debug, PartialEq)]
pub enum Command {
    Run(Args),
    Help,
    Version,
}

/// Parses the arguments after the program name; errors are one line, for the user.
pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Command, String> {
    let mut parsed = Args::default();
    let mut input = None;
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        // `--flag=value` and `--flag value` both work.
        let (flag, inline_value) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        let mut value =
            |name: &str| inline_value.clone().or_else(|| args.next()).ok_or_else(|| format!("{name} needs a value"));
        match flag.as_str() {
            "-h" | "--help" => return Ok(Command::Help),
            "-V" | "--version" => return Ok(Command::Version),
            "-c" | "--config" => parsed.config = Some(value(&flag)?.into()),
            "-o" | "--out" => parsed.out = Some(value(&flag)?.into()),
            "-l" | "--lines" => parsed.lines = Some(value(&flag)?),
            "-i" | "--interval" => {
                let v = value(&flag)?;
                let n = v.parse::<u32>().ok().filter(|n| *n >= 1);
                parsed.interval = Some(n.ok_or_else(|| format!("{flag}: '{v}' is not a whole number >= 1"))?);
            }
            "--no-plates" => parsed.no_plates = true,
            "--no-mp4" => parsed.no_mp4 = true,
            "--display" => parsed.display = true,
            "-v" | "--verbose" => parsed.verbose += 1,
            "-vv" => parsed.verbose += 2,
            f if f.starts_with('-') && f.len() > 1 => return Err(format!("unknown option '{f}' (see --help)")),
            _ if input.is_none() => input = Some(arg),
            _ => return Err(format!("unexpected argument '{arg}': one input only (see --help)")),
        }
    }
    parsed.input = input.ok_or("no input given (see --help)")?;
    Ok(Command::Run(parsed))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Result<Args, String> {
        match parse(args.iter().map(|s| s.to_string()))? {
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
    }

    #[test]
    fn mistakes_are_explained() {
        assert!(run(&[]).unwrap_err().contains("no input"));
        assert!(run(&["a.mp4", "b.mp4"]).unwrap_err().contains("one input"));
        assert!(run(&["a.mp4", "--bogus"]).unwrap_err().contains("--bogus"));
        assert!(run(&["a.mp4", "--interval", "0"]).unwrap_err().contains("'0'"));
        assert!(run(&["a.mp4", "--out"]).unwrap_err().contains("needs a value"));
        assert_eq!(parse(["-h".to_string()]), Ok(Command::Help));
    }
}
