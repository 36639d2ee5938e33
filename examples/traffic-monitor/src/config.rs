//! The configuration file (TOML; `traffic.example.toml` documents every section).
//!
//! Element sections hold that element's properties under their `gst-inspect-1.0` names, so
//! every property is configurable without this app repeating the elements' schemas:
//! `[detector]` yolodetect, `[tracker]` mottracker, `[plates]` platedetect (plus `enabled`),
//! `[ocr]` plateocr, `[counting]` linecounter, `[overlay]` overlay, `[publish]` trafficpublish,
//! `[source]` trafficsrc (plus `uri`, `live`, `queue-size`). `[[line]]` and `[[zone]]` tables
//! are linecounter's config-file schema, handed to it as they are.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::cli::Args;

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub source: Source,
    pub detector: toml::Table,
    pub tracker: toml::Table,
    pub plates: Plates,
    pub ocr: toml::Table,
    pub counting: toml::Table,
    pub line: Vec<toml::Table>,
    pub zone: Vec<toml::Table>,
    pub overlay: toml::Table,
    pub publish: toml::Table,
    pub output: Output,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "kebab-case")]
pub struct Source {
    pub uri: Option<String>,
    /// Live or not; by default told from the URI scheme.
    pub live: Option<bool>,
    /// Frames the leaky queue before inference holds on a live source without `trafficsrc`.
    pub queue_size: Option<u32>,
    /// `trafficsrc` properties (latency, retry-..., ...).
    #[serde(flatten)]
    pub properties: toml::Table,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(default)]
pub struct Plates {
    pub enabled: bool,
    /// `platedetect` properties.
    #[serde(flatten)]
    pub properties: toml::Table,
}

impl Default for Plates {
    fn default() -> Self {
        Plates { enabled: true, properties: toml::Table::new() }
    }
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct Output {
    pub dir: PathBuf,
    /// Annotated video, `annotated.mp4`.
    pub mp4: bool,
    /// A window with the annotated video.
    pub display: bool,
    /// trafficpublish's JSON lines: one per frame in `frames.jsonl`, and the versioned
    /// events (crossing, plate, summary; docs/events.md) in `events.jsonl`.
    pub jsonl: bool,
    /// Cumulative counts (line crossings, zone entries) over time, `chart.png`.
    pub chart: bool,
    /// x264enc `speed-preset` (ultrafast .. placebo).
    pub speed_preset: String,
}

impl Default for Output {
    fn default() -> Self {
        Output {
            dir: PathBuf::from("out/traffic-monitor"),
            mp4: true,
            display: false,
            jsonl: true,
            chart: true,
            speed_preset: "veryfast".into(),
        }
    }
}

impl Config {
    /// Reads a config file; errors name the file and what is wrong.
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read config {}: {e}", path.display()))?;
        toml::from_str(&text).map_err(|e| format!("config {}: {e}", path.display()))
    }

    /// The config file (or the defaults) with the command line on top.
    pub fn from_args(args: &Args) -> Result<Self, String> {
        let mut config = match &args.config {
            Some(path) => Config::load(path)?,
            None => Config::default(),
        };
        config.source.uri = Some(args.input.clone());
        if let Some(dir) = &args.out {
            config.output.dir = dir.clone();
        }
        if let Some(lines) = &args.lines {
            // Lines on the command line replace the file's, whichever form it used; its zones stay.
            config.line.clear();
            config.counting.remove("config");
            config.counting.insert("lines".into(), lines.clone().into());
        }
        if let Some(n) = args.interval {
            config.detector.insert("interval".into(), i64::from(n).into());
        }
        config.plates.enabled &= !args.no_plates;
        config.output.mp4 &= !args.no_mp4;
        config.output.display |= args.display;
        Ok(config)
    }

    /// Whether any counting line or zone is configured, in any of its forms.
    pub fn counting(&self) -> bool {
        !self.line.is_empty()
            || !self.zone.is_empty()
            || ["lines", "zones", "config"].iter().any(|k| self.counting.contains_key(*k))
    }

    /// The `[[line]]` and `[[zone]]` tables as a linecounter config file (its own format, so
    /// linecounter parses and checks them). Keys and values are written as JSON, which TOML
    /// reads the same for the strings, numbers and arrays a line or a zone has.
    pub fn counter_file(&self) -> Option<String> {
        if self.line.is_empty() && self.zone.is_empty() {
            return None;
        }
        let mut text = String::new();
        for (header, tables) in [("[[line]]\n", &self.line), ("[[zone]]\n", &self.zone)] {
            for table in tables {
                text.push_str(header);
                for (key, value) in table {
                    let value = serde_json::to_string(value).unwrap_or_default();
                    text.push_str(&format!("{} = {value}\n", serde_json::Value::from(key.as_str())));
                }
            }
        }
        Some(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = include_str!("../traffic.example.toml");

    #[test]
    fn the_example_file_parses() {
        let c: Config = toml::from_str(EXAMPLE).unwrap();
        assert!(c.counting());
        assert!(c.plates.enabled);
        assert_eq!(c.output.dir, PathBuf::from("out/traffic-monitor"));
        assert!(c.detector.contains_key("conf-threshold"));
    }

    #[test]
    fn unknown_sections_and_output_keys_are_errors() {
        assert!(toml::from_str::<Config>("[detektor]\nconf-threshold = 0.3\n")
            .unwrap_err()
            .to_string()
            .contains("detektor"));
        assert!(toml::from_str::<Config>("[output]\nmp5 = true\n").is_err());
    }

    #[test]
    fn command_line_overrides_the_file() {
        let path = std::env::temp_dir().join(format!("traffic-monitor-{}.toml", std::process::id()));
        std::fs::write(
            &path,
            "[plates]\ninterval = 5\n[output]\ndir = \"a\"\n[[line]]\nname = \"x\"\npoints = [0, 0.5, 1, 0.5]\n[[zone]]\nname = \"z\"\npoints = [0, 0.5, 1, 0.5, 1, 1]\n",
        )
        .unwrap();
        let args = Args {
            input: "v.mp4".into(),
            config: Some(path.clone()),
            out: Some("b".into()),
            lines: Some("y:0,0.6,1,0.6".into()),
            interval: Some(2),
            no_plates: true,
            ..Args::default()
        };
        let c = Config::from_args(&args).unwrap();
        std::fs::remove_file(&path).ok();
        assert_eq!(c.output.dir, PathBuf::from("b"));
        assert!(c.line.is_empty(), "--lines replaces [[line]]");
        assert_eq!(c.zone.len(), 1, "and keeps [[zone]]");
        assert_eq!(c.counting["lines"].as_str(), Some("y:0,0.6,1,0.6"));
        assert_eq!(c.detector["interval"].as_integer(), Some(2));
        assert!(!c.plates.enabled);
        assert_eq!(c.plates.properties["interval"].as_integer(), Some(5));
        assert_eq!(c.source.uri.as_deref(), Some("v.mp4"));
    }

    #[test]
    fn zone_tables_alone_turn_counting_on_and_go_to_the_linecounter_file() {
        let c: Config =
            toml::from_str("[[zone]]\nname = \"road\"\npoints = [0.3, 0.65, 0.7, 0.65, 0.8, 0.95, 0.2, 0.95]\n")
                .unwrap();
        assert!(c.counting());
        let back: toml::Table = toml::from_str(&c.counter_file().unwrap()).unwrap();
        assert!(back.get("line").is_none());
        let zone = &back["zone"].as_array().unwrap()[0];
        assert_eq!(zone["name"].as_str(), Some("road"));
        assert_eq!(zone["points"].as_array().unwrap().len(), 8);
        assert!(!Config::default().counting());
        let zones_property: Config = toml::from_str("[counting]\nzones = \"lot:0,0,1,0,1,1\"\n").unwrap();
        assert!(zones_property.counting());
    }

    #[test]
    fn line_tables_become_a_linecounter_file() {
        let c: Config = toml::from_str(
            "[[line]]\nname = \"gate \\\"A\\\"\"\npoints = [0, 0.6, 1, 0.6]\nin = \"down\"\nout = \"up\"\n",
        )
        .unwrap();
        let text = c.counter_file().unwrap();
        let back: toml::Table = toml::from_str(&text).unwrap();
        let line = &back["line"].as_array().unwrap()[0];
        assert_eq!(line["name"].as_str(), Some("gate \"A\""));
        assert_eq!(line["points"].as_array().unwrap().len(), 4);
        assert_eq!(line["in"].as_str(), Some("down"));
        assert!(Config::default().counter_file().is_none());
    }
}
