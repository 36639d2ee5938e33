//! The configuration file (TOML; `traffic.example.toml` documents every section).
//!
//! Element sections hold that element's properties under their `gst-inspect-1.0` names, so
//! every property is configurable without this app repeating the elements' schemas:
//! `[detector]` yolodetect, `[tracker]` mottracker, `[plates]` platedetect (plus `enabled`),
//! `[ocr]` plateocr, `[counting]` linecounter, `[overlay]` overlay, `[publish]` trafficpublish,
//! `[source]` trafficsrc (plus `uri`, `live`, `queue-size`). `[[line]]` and `[[zone]]` tables
//! are linecounter's config-file schema, handed to it as they are; `[calibration]` (`image`,
//! `world`: 4 points each) becomes linecounter's `calibration`, and `[counting] bin` its bins.
//!
//! Relative paths in a config file are relative to the file's folder, so a config and the
//! models beside it work from any working directory. Files the run reads and the counting lines
//! and zones are checked before anything runs, so a mistake is a usage error naming its setting.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use traffic_vision::counting::bins::parse_duration;
use traffic_vision::counting::calibration::CalibrationSpec;
use traffic_vision::counting::zones::ZoneSpec;
use traffic_vision::counting::LineSpec;
use traffic_vision::VisionError;

use crate::cli::Args;

/// Settings that name a file, as (section, key). `true`: a file the run reads, which must exist.
const PATH_KEYS: [(&str, &str, bool); 8] = [
    ("detector", "model", true),
    ("detector", "labels", true),
    ("plates", "model", true),
    ("ocr", "model", true),
    ("counting", "config", true),
    ("publish", "location", false),
    ("publish", "events-location", false),
    ("publish", "spool", false),
];

/// Characters that separate the fields (`:`) and the entries (`;`) of linecounter's `lines` and
/// `zones`: a name holding one could not be written there.
const NAME_SEPARATORS: [char; 2] = [':', ';'];

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
    pub calibration: Option<Calibration>,
    pub overlay: toml::Table,
    pub publish: toml::Table,
    pub output: Output,
}

/// The view's ground plane: 4 image points (fractions of the frame or pixels) in order around a
/// quadrilateral on the road, and the same points on the ground in metres.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Calibration {
    pub image: Vec<f64>,
    pub world: Vec<f64>,
}

impl Calibration {
    /// As linecounter's `calibration` property: `u1,v1,...:X1,Y1,...`.
    fn property(&self) -> String {
        let join = |v: &[f64]| v.iter().map(f64::to_string).collect::<Vec<_>>().join(",");
        format!("{}:{}", join(&self.image), join(&self.world))
    }
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
    /// Reads a config file; errors name the file and what is wrong. Relative paths in it become
    /// relative to its folder.
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read config {}: {e}", path.display()))?;
        let mut config: Config = toml::from_str(&text).map_err(|e| format!("config {}: {e}", path.display()))?;
        let folder = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let folder = std::fs::canonicalize(folder).map_err(|e| format!("config {}: {e}", path.display()))?;
        config.resolve_paths(&folder);
        if let Some(calibration) = &config.calibration {
            let spec = calibration.property();
            config.counting.entry("calibration").or_insert(spec.into());
        }
        // The default output folder is the working directory's; only one the file names is its.
        let raw: toml::Table = toml::from_str(&text).unwrap_or_default();
        if raw.get("output").and_then(|o| o.get("dir")).is_some() {
            config.output.dir = folder.join(&config.output.dir);
        }
        Ok(config)
    }

    fn section_mut(&mut self, section: &str) -> Option<&mut toml::Table> {
        match section {
            "detector" => Some(&mut self.detector),
            "plates" => Some(&mut self.plates.properties),
            "ocr" => Some(&mut self.ocr),
            "counting" => Some(&mut self.counting),
            "publish" => Some(&mut self.publish),
            _ => None,
        }
    }

    fn section(&self, section: &str) -> Option<&toml::Table> {
        match section {
            "detector" => Some(&self.detector),
            "plates" => Some(&self.plates.properties),
            "ocr" => Some(&self.ocr),
            "counting" => Some(&self.counting),
            "publish" => Some(&self.publish),
            _ => None,
        }
    }

    /// Makes the file settings relative to `folder` ("" is an element's default, "-" stdout).
    pub(crate) fn resolve_paths(&mut self, folder: &Path) {
        for (section, key, _) in PATH_KEYS {
            let Some(toml::Value::String(value)) = self.section_mut(section).and_then(|t| t.get_mut(key)) else {
                continue;
            };
            if !value.is_empty() && value != "-" && Path::new(value.as_str()).is_relative() {
                *value = folder.join(value.as_str()).to_string_lossy().into_owned();
            }
        }
    }

    /// Checks what can be checked before the run: the files it reads exist and are files, the
    /// counting lines and zones are well formed.
    pub fn check(&self, lines_from_command_line: bool) -> Result<(), String> {
        for (section, key, read) in PATH_KEYS {
            let Some(toml::Value::String(value)) = self.section(section).and_then(|t| t.get(key)) else {
                continue;
            };
            if read && !value.is_empty() {
                check_file(Path::new(value)).map_err(|why| format!("[{section}] {key}: {why}"))?;
            }
        }
        self.check_counting(lines_from_command_line)
    }

    /// Every line and zone, from `lines`/`zones` (or `--lines`), the tables and a `config`
    /// file: as linecounter would read them, and names it can tell apart.
    fn check_counting(&self, lines_from_command_line: bool) -> Result<(), String> {
        let mut lines = Vec::new();
        let mut zones = Vec::new();
        let what = if lines_from_command_line { "--lines" } else { "[counting] lines" };
        if let Some(toml::Value::String(spec)) = self.counting.get("lines") {
            lines.extend(parse_entries(spec, "line", LineSpec::parse).map_err(|e| format!("{what}: {e}"))?);
        }
        if let Some(toml::Value::String(spec)) = self.counting.get("zones") {
            zones.extend(parse_entries(spec, "zone", ZoneSpec::parse).map_err(|e| format!("[counting] zones: {e}"))?);
        }
        if let Some(c) = &self.calibration {
            CalibrationSpec::new(&c.image, &c.world).map_err(|e| format!("[calibration]: {}", reason(e)))?;
        } else if let Some(toml::Value::String(spec)) = self.counting.get("calibration") {
            CalibrationSpec::parse(spec).map_err(|e| format!("[counting] {}", reason(e)))?;
        }
        if let Some(toml::Value::String(bin)) = self.counting.get("bin") {
            parse_duration(bin).map_err(|e| format!("[counting] {}", reason(e)))?;
        }
        for table in &self.line {
            lines.push(line_table(table).map_err(|e| format!("[[line]] {e}"))?);
        }
        for table in &self.zone {
            zones.push(zone_table(table).map_err(|e| format!("[[zone]] {e}"))?);
        }
        if let Some(toml::Value::String(path)) = self.counting.get("config") {
            let (file_lines, file_zones) =
                counter_file(Path::new(path)).map_err(|e| format!("[counting] config: {e}"))?;
            lines.extend(file_lines);
            zones.extend(file_zones);
        }
        if let Some(name) = traffic_vision::counting::first_repeated(lines.iter().map(|l| l.name.as_str())) {
            return Err(format!("line name '{name}' is used twice: lines are told apart by name"));
        }
        if let Some(name) = traffic_vision::counting::first_repeated(zones.iter().map(|z| z.name.as_str())) {
            return Err(format!("zone name '{name}' is used twice: zones are told apart by name"));
        }
        if self.counting() && lines.is_empty() && zones.is_empty() {
            let what = if self.counting.contains_key("lines") { what } else { "[counting]" };
            return Err(format!("{what}: no counting line or zone given (name:x1,y1,x2,y2[:in/out];...)"));
        }
        Ok(())
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
        config.check(args.lines.is_some())?;
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

/// A file the run reads: there, and a file (a folder would be "not found" to the element).
fn check_file(path: &Path) -> Result<(), String> {
    match std::fs::metadata(path) {
        Ok(m) if m.is_dir() => Err(format!("{} is a directory, not a file", path.display())),
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(format!("{} not found", path.display())),
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

/// The message of a parse error, without the "bad setting:" the elements' errors start with.
fn reason(e: VisionError) -> String {
    match e {
        VisionError::Config(m) => m,
        other => other.to_string(),
    }
}

/// Parses `;`-separated entries; an entry that fails because its name holds a separator says so.
fn parse_entries<T>(spec: &str, kind: &str, parse: impl Fn(&str) -> Result<T, VisionError>) -> Result<Vec<T>, String> {
    let entries: Vec<&str> = spec.split(';').filter(|s| !s.trim().is_empty()).collect();
    let mut parsed = Vec::new();
    for entry in &entries {
        let why = match parse(entry) {
            Ok(t) => {
                parsed.push(t);
                continue;
            }
            Err(e) => reason(e),
        };
        let fields: Vec<&str> = entry.split(':').collect();
        let numbers = |s: &str| s.split(',').all(|c| c.trim().parse::<f64>().is_ok());
        return Err(if fields.len() == 1 && entries.len() > 1 {
            format!("{why}; ';' separates the {kind}s, so a {kind} name cannot contain ';'")
        } else if fields.len() >= 3 && !numbers(fields[1]) && fields[2..].iter().any(|f| numbers(f)) {
            let name = fields.iter().take_while(|f| !numbers(f)).copied().collect::<Vec<_>>().join(":");
            format!("{kind} name '{name}' contains ':', which separates the name from the coordinates: a {kind} name cannot contain ':' or ';'")
        } else {
            why
        });
    }
    Ok(parsed)
}

/// A `[[line]]` or `[[zone]]` table's name: a string without the separators of linecounter's
/// `lines`/`zones` syntax, which its config file reuses.
fn table_name(table: &toml::Table, keys: &[&str]) -> Result<String, String> {
    if let Some(key) = table.keys().find(|k| !keys.contains(&k.as_str())) {
        return Err(format!("'{key}' is not a key here ({})", keys.join(", ")));
    }
    let name = match table.get("name") {
        Some(toml::Value::String(n)) if !n.trim().is_empty() => n.trim(),
        Some(toml::Value::String(_)) | None => return Err("needs a name".into()),
        Some(other) => return Err(format!("name must be a string, not {}", other.type_str())),
    };
    if name.contains(NAME_SEPARATORS) {
        return Err(format!("'{name}': a name cannot contain ':' or ';'"));
    }
    Ok(name.to_string())
}

/// `points`: numbers (integers or floats), finite and not negative.
fn table_points(table: &toml::Table, name: &str) -> Result<Vec<f64>, String> {
    let points =
        table.get("points").and_then(toml::Value::as_array).ok_or(format!("'{name}': needs points = [...]"))?;
    let coords: Vec<f64> = points
        .iter()
        .map(|v| v.as_float().or_else(|| v.as_integer().map(|i| i as f64)))
        .collect::<Option<_>>()
        .ok_or(format!("'{name}': points must be numbers"))?;
    if coords.iter().any(|c| !c.is_finite() || *c < 0.0) {
        let coords: Vec<String> = coords.iter().map(f64::to_string).collect();
        return Err(format!("'{name}': points must be finite and not negative: [{}]", coords.join(", ")));
    }
    Ok(coords)
}

fn line_table(table: &toml::Table) -> Result<LineSpec, String> {
    let name = table_name(table, &["name", "points", "in", "out", "allowed"])?;
    let coords = table_points(table, &name)?;
    let points: [f64; 4] = coords[..]
        .try_into()
        .map_err(|_| format!("'{name}': points = [x1, y1, x2, y2], four numbers, not {}", coords.len()))?;
    let direction = |key: &'static str| match table.get(key) {
        None => Ok(key),
        Some(toml::Value::String(d)) => Ok(d.as_str()),
        Some(other) => Err(format!("'{name}': {key} must be a string, not {}", other.type_str())),
    };
    // As linecounter builds a line from a file: from its parts.
    let line = LineSpec::new(&name, points, direction("in")?, direction("out")?).map_err(reason)?;
    match table.get("allowed") {
        None => Ok(line),
        Some(toml::Value::String(d)) => line.only(d).map_err(reason),
        Some(other) => Err(format!("'{name}': allowed must be a string, not {}", other.type_str())),
    }
}

fn zone_table(table: &toml::Table) -> Result<ZoneSpec, String> {
    let name = table_name(table, &["name", "points"])?;
    ZoneSpec::new(&name, &table_points(table, &name)?).map_err(reason)
}

/// The lines and zones of a linecounter config file (`[counting] config`).
fn counter_file(path: &Path) -> Result<(Vec<LineSpec>, Vec<ZoneSpec>), String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let file: toml::Table = toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let tables = |key: &str| -> Result<Vec<toml::Table>, String> {
        match file.get(key) {
            None => Ok(vec![]),
            Some(toml::Value::Array(a)) => a
                .iter()
                .map(|t| t.as_table().cloned().ok_or(format!("{}: [[{key}]] must be tables", path.display())))
                .collect(),
            Some(_) => Err(format!("{}: {key} must be [[{key}]] tables", path.display())),
        }
    };
    let in_file = |e: String| format!("{}: {e}", path.display());
    let lines: Vec<LineSpec> = tables("line")?
        .iter()
        .map(|t| line_table(t).map_err(|e| in_file(format!("[[line]] {e}"))))
        .collect::<Result<_, _>>()?;
    let zones: Vec<ZoneSpec> = tables("zone")?
        .iter()
        .map(|t| zone_table(t).map_err(|e| in_file(format!("[[zone]] {e}"))))
        .collect::<Result<_, _>>()?;
    Ok((lines, zones))
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
    fn relative_paths_are_relative_to_the_config_file() {
        let dir = std::env::temp_dir().join(format!("traffic-monitor-paths-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("models")).unwrap();
        std::fs::write(dir.join("models/m.onnx"), b"").unwrap();
        let path = dir.join("t.toml");
        std::fs::write(
            &path,
            "[detector]\nmodel = \"models/m.onnx\"\n[ocr]\nmodel = \"/abs/ocr.onnx\"\n[plates]\nmodel = \"\"\n[publish]\nlocation = \"-\"\nevents-location = \"ev.jsonl\"\n[output]\ndir = \"out\"\n",
        )
        .unwrap();
        let c = Config::load(&path).unwrap();
        let here = std::fs::canonicalize(&dir).unwrap();
        assert_eq!(c.detector["model"].as_str(), here.join("models/m.onnx").to_str());
        assert_eq!(c.ocr["model"].as_str(), Some("/abs/ocr.onnx"), "absolute paths stay");
        assert_eq!(c.plates.properties["model"].as_str(), Some(""), "empty: the element's default");
        assert_eq!(c.publish["location"].as_str(), Some("-"), "stdout");
        assert_eq!(c.publish["events-location"].as_str(), here.join("ev.jsonl").to_str());
        assert_eq!(c.output.dir, here.join("out"));
        assert!(c.check(false).unwrap_err().contains("[ocr] model: /abs/ocr.onnx not found"));
        std::fs::write(&path, "[detector]\nmodel = \"models\"\n").unwrap();
        let err = Config::load(&path).unwrap().check(false).unwrap_err();
        assert!(err.contains("[detector] model: ") && err.ends_with("models is a directory, not a file"), "{err}");
        std::fs::write(&path, "[plates]\nenabled = false\n").unwrap();
        assert_eq!(Config::load(&path).unwrap().output.dir, PathBuf::from("out/traffic-monitor"), "the default stays");
        std::fs::remove_dir_all(&dir).ok();
    }

    fn check(text: &str) -> Result<(), String> {
        toml::from_str::<Config>(text).unwrap().check(false)
    }

    #[test]
    fn lines_and_zones_are_checked_before_the_run() {
        let lines = |spec: &str| {
            let c = Config { counting: toml::from_str(&format!("lines = {spec:?}")).unwrap(), ..Config::default() };
            c.check(true)
        };
        lines("a:0,0.5,1,0.5:down/up;b:0,100,640,100").unwrap();
        let nan = lines("a:NaN,0,1,1").unwrap_err();
        assert!(nan.starts_with("--lines: line 'a:NaN,0,1,1': ") && nan.contains("must be finite"), "{nan}");
        assert!(lines("a;b:0,0.5,1,0.5").unwrap_err().contains("a line name cannot contain ';'"));
        assert!(lines("a:b:0,0.5,1,0.5").unwrap_err().contains("line name 'a:b' contains ':'"));
        assert!(lines("a:0,0.5,1,0.5;a:0,0.6,1,0.6").unwrap_err().contains("'a' is used twice"));
        assert!(lines(" ").unwrap_err().contains("no counting line or zone"));

        check("[[line]]\nname = \"x\"\npoints = [0, 0.5, 1, 0.5]\nin = \"down\"\n[[zone]]\nname = \"z\"\npoints = [0, 0, 1, 0, 1, 1]\n")
            .unwrap();
        for (text, says) in [
            ("[[line]]\nname = \"a:b\"\npoints = [0, 0.5, 1, 0.5]\n", "[[line]] 'a:b': a name cannot contain"),
            ("[[zone]]\nname = \"a;b\"\npoints = [0, 0, 1, 0, 1, 1]\n", "[[zone]] 'a;b': a name cannot contain"),
            ("[[line]]\nname = \"a\"\npoints = [inf, 0.5, 1, 0.5]\n", "points must be finite and not negative: [inf"),
            ("[[line]]\nname = \"a\"\npoints = [0, 0.5, 1]\n", "four numbers, not 3"),
            ("[[line]]\nname = \"a\"\npoints = [0, 0.5, 1, 0.5]\nin = \"out\"\n", "two different direction names"),
            ("[[line]]\npoints = [0, 0.5, 1, 0.5]\n", "[[line]] needs a name"),
            ("[[zone]]\nname = \"z\"\npoints = [0, 0, 1, 1, 2, 2]\n", "zone 'z': the corners enclose no area"),
            ("[[zone]]\nname = \"z\"\npoints = [0, 0, 1, 0, 1, 1]\ncolour = 1\n", "'colour' is not a key here"),
            ("[counting]\nzones = \"z:0,0,1,0,nan,1\"\n", "[counting] zones: zone 'z': coordinates must be finite"),
            (
                "[counting]\nconfig = \"/nonexistent/lines.toml\"\n",
                "[counting] config: /nonexistent/lines.toml not found",
            ),
        ] {
            let err = check(text).unwrap_err();
            assert!(err.contains(says), "{text}: {err}");
        }
    }

    #[test]
    fn calibration_bins_and_one_way_lines_are_checked_and_reach_linecounter() {
        let line = "[[line]]\nname = \"ramp\"\npoints = [0, 0.5, 1, 0.5]\n";
        check(&format!("[counting]\nbin = \"15m\"\n[calibration]\nimage = [0.42, 0.95, 0.90, 0.95, 0.49, 0.47, 0.335, 0.47]\nworld = [0, 0, 4, 0, 4, 14, 0, 14]\n{line}allowed = \"in\"\n")).unwrap();
        for (text, says) in [
            (
                "[calibration]\nimage = [0.1, 0.9, 0.9, 0.9, 0.1, 0.4, 0.9, 0.4]\nworld = [0, 0, 4, 0, 4, 14, 0, 14]\n",
                "[calibration]: calibration: image points: the quadrilateral crosses itself",
            ),
            ("[calibration]\nimage = [0.1, 0.9]\nworld = [0, 0, 4, 0, 4, 14, 0, 14]\n", "4 image points"),
            ("[counting]\ncalibration = \"1,2,3\"\n", "[counting] calibration '1,2,3'"),
            ("[counting]\nbin = \"quarter\"\n", "[counting] bin 'quarter'"),
            ("allowed = \"north\"\n", "'north' is neither 'in' nor 'out'"),
        ] {
            let err = check(&format!("{line}{text}")).unwrap_err();
            assert!(err.contains(says), "{text}: {err}");
        }
        let dir = std::env::temp_dir().join(format!("traffic-monitor-calibration-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("traffic.toml");
        std::fs::write(&path, format!("[calibration]\nimage = [0.42, 0.95, 0.9, 0.95, 0.49, 0.47, 0.335, 0.47]\nworld = [0, 0, 4, 0, 4, 14, 0, 14]\n{line}")).unwrap();
        let c = Config::load(&path).unwrap();
        assert_eq!(
            c.counting["calibration"].as_str(),
            Some("0.42,0.95,0.9,0.95,0.49,0.47,0.335,0.47:0,0,4,0,4,14,0,14")
        );
        std::fs::remove_dir_all(&dir).ok();
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
