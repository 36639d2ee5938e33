//! The `config` file of `linecounter` (TOML):
//!
//! ```toml
//! min-frames = 3              # optional, overrides the property
//! anchor = "bottom-center"    # optional: bottom-center, center, top-center
//! bin = "15m"                 # optional: counts per 15 minutes of stream time
//!
//! [calibration]               # optional: speeds (4 image points around a road quadrilateral
//! image = [0.42, 0.95, 0.90, 0.95, 0.49, 0.47, 0.335, 0.47]   # and the same points on the
//! world = [0, 0, 4, 0, 4, 14, 0, 14]                           # ground, in metres)
//!
//! [[line]]
//! name = "north"
//! points = [0.1, 0.6, 0.9, 0.6]   # x1, y1, x2, y2: fractions of the frame (all <= 1) or pixels
//! in = "southbound"               # optional direction names (default in/out)
//! out = "northbound"
//! allowed = "southbound"          # optional: a one-way line; the other way is wrong-way
//!
//! [[zone]]
//! name = "lot"
//! points = [0.1, 0.7, 0.5, 0.7, 0.5, 1.0, 0.1, 1.0]   # x1, y1, x2, y2, x3, y3, ...: a polygon
//! ```
//!
//! Lines, zones or both; at least one of them.

use serde::Deserialize;
use traffic_vision::counting::bins::parse_duration;
use traffic_vision::counting::calibration::CalibrationSpec;
use traffic_vision::counting::zones::ZoneSpec;
use traffic_vision::counting::{first_repeated, LineSpec};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(rename = "min-frames")]
    min_frames: Option<u32>,
    anchor: Option<String>,
    bin: Option<String>,
    calibration: Option<CalibrationEntry>,
    #[serde(default)]
    line: Vec<LineEntry>,
    #[serde(default)]
    zone: Vec<ZoneEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LineEntry {
    name: String,
    points: [f64; 4],
    #[serde(rename = "in")]
    in_name: Option<String>,
    #[serde(rename = "out")]
    out_name: Option<String>,
    allowed: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CalibrationEntry {
    image: Vec<f64>,
    world: Vec<f64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ZoneEntry {
    name: String,
    points: Vec<f64>,
}

/// What a config file says.
#[derive(Debug)]
pub struct CounterConfig {
    pub lines: Vec<LineSpec>,
    pub zones: Vec<ZoneSpec>,
    pub min_frames: Option<u32>,
    pub anchor: Option<String>,
    pub calibration: Option<CalibrationSpec>,
    /// Bin width, seconds.
    pub bin: Option<f64>,
}

/// Reads a config file; every error names the file and what is wrong.
pub fn load(path: &str) -> Result<CounterConfig, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {path}: {e}"))?;
    let file: File = toml::from_str(&text).map_err(|e| format!("{path}: {e}"))?;
    // Parts, not a spec string: a direction name from a file may hold any character.
    let lines: Vec<LineSpec> = file
        .line
        .iter()
        .map(|l| {
            let (i, o) = (l.in_name.as_deref().unwrap_or("in"), l.out_name.as_deref().unwrap_or("out"));
            let line = LineSpec::new(&l.name, l.points, i, o)?;
            match &l.allowed {
                Some(direction) => line.only(direction),
                None => Ok(line),
            }
        })
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{path}: {e}"))?;
    if let Some(name) = first_repeated(lines.iter().map(|l| l.name.as_str())) {
        return Err(format!("{path}: line name '{name}' is used twice"));
    }
    let zones: Vec<ZoneSpec> = file
        .zone
        .iter()
        .map(|z| ZoneSpec::new(&z.name, &z.points))
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{path}: {e}"))?;
    if let Some(name) = first_repeated(zones.iter().map(|z| z.name.as_str())) {
        return Err(format!("{path}: zone name '{name}' is used twice"));
    }
    if lines.is_empty() && zones.is_empty() {
        return Err(format!("{path}: no [[line]] and no [[zone]]"));
    }
    let calibration = file
        .calibration
        .map(|c| CalibrationSpec::new(&c.image, &c.world))
        .transpose()
        .map_err(|e| format!("{path}: {e}"))?;
    let bin = file.bin.as_deref().map(parse_duration).transpose().map_err(|e| format!("{path}: {e}"))?;
    Ok(CounterConfig { lines, zones, min_frames: file.min_frames, anchor: file.anchor, calibration, bin })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Writes `text` to a file of its own and loads it.
    fn load_text(name: &str, text: &str) -> Result<CounterConfig, String> {
        let path = std::env::temp_dir().join(format!("{name}-{}.toml", std::process::id()));
        std::fs::write(&path, text).unwrap();
        let config = load(path.to_str().unwrap());
        std::fs::remove_file(&path).ok();
        config
    }

    #[test]
    fn reads_lines_and_options() {
        let c = load_text(
            "lines",
            "min-frames = 4\nanchor = \"center\"\n[[line]]\nname = \"north\"\npoints = [0.1, 0.6, 0.9, 0.6]\nin = \"south\"\nout = \"north\"\n[[line]]\nname = \"gate\"\npoints = [10, 20, 300, 20]\n",
        )
        .unwrap();
        assert_eq!(c.min_frames, Some(4));
        assert_eq!(c.anchor.as_deref(), Some("center"));
        assert_eq!(c.lines.len(), 2);
        assert!(c.zones.is_empty());
        assert_eq!((c.lines[0].in_name.as_str(), c.lines[0].out_name.as_str()), ("south", "north"));
        assert!(!c.lines[1].fractional);
        assert!(load_text("lines", "[[line]]\nname = \"x\"\npoints = [1, 2]\n").unwrap_err().contains("lines-"));
        assert!(load("/nonexistent/lines.toml").unwrap_err().contains("/nonexistent/lines.toml"));
        // Direction names from a file may hold '/'; a line name may not hold the separators.
        let c = load_text("lines", "[[line]]\nname = \"ramp\"\npoints = [0, 0.5, 1, 0.5]\nin = \"A/B\"\nout = \"C\"\n")
            .unwrap();
        assert_eq!((c.lines[0].in_name.as_str(), c.lines[0].out_name.as_str()), ("A/B", "C"));
        let err = load_text("lines", "[[line]]\nname = \"a;b\"\npoints = [0, 0.5, 1, 0.5]\n").unwrap_err();
        assert!(err.contains("may not contain"), "{err}");
    }

    #[test]
    fn reads_the_calibration_the_bin_and_one_way_lines() {
        let c = load_text(
            "survey",
            "bin = \"15m\"\n[calibration]\nimage = [0.42, 0.95, 0.90, 0.95, 0.49, 0.47, 0.335, 0.47]\nworld = [0, 0, 4, 0, 4, 14, 0, 14]\n[[line]]\nname = \"ramp\"\npoints = [0, 0.5, 1, 0.5]\nin = \"down\"\nout = \"up\"\nallowed = \"down\"\n",
        )
        .unwrap();
        assert_eq!(c.bin, Some(900.0));
        assert_eq!(c.calibration.unwrap().world[2], (4.0, 14.0));
        assert_eq!(c.lines[0].only_inward, Some(true));
        for (text, why) in [
            ("[calibration]\nimage = [0.1, 0.9, 0.5, 0.9, 0.9, 0.9, 0.3, 0.4]\nworld = [0, 0, 4, 0, 4, 14, 0, 14]\n[[line]]\nname = \"a\"\npoints = [0, 0.5, 1, 0.5]\n", "three of the points are on one line"),
            ("bin = \"soon\"\n[[line]]\nname = \"a\"\npoints = [0, 0.5, 1, 0.5]\n", "bin 'soon'"),
            ("[[line]]\nname = \"a\"\npoints = [0, 0.5, 1, 0.5]\nallowed = \"north\"\n", "'north' is neither 'in' nor 'out'"),
        ] {
            let e = load_text("bad-survey", text).unwrap_err();
            assert!(e.contains("bad-survey-") && e.contains(why), "{e}");
        }
    }

    #[test]
    fn reads_zones_beside_lines_or_alone() {
        let c = load_text(
            "zones",
            "[[line]]\nname = \"street\"\npoints = [0, 0.6, 1, 0.6]\n[[zone]]\nname = \"lot\"\npoints = [0.1, 0.7, 0.5, 0.7, 0.5, 1.0, 0.1, 1.0]\n[[zone]]\nname = \"gate\"\npoints = [10, 20, 300, 20, 300, 200]\n",
        )
        .unwrap();
        assert_eq!(c.lines.len(), 1);
        assert_eq!(c.zones.len(), 2);
        assert_eq!((c.zones[0].name.as_str(), c.zones[0].points.len(), c.zones[0].fractional), ("lot", 4, true));
        assert_eq!(c.zones[1].points[2], (300.0, 200.0));
        assert!(!c.zones[1].fractional);
        let only =
            load_text("zones", "min-frames = 3\n[[zone]]\nname = \"lot\"\npoints = [0, 0, 1, 0, 1, 1]\n").unwrap();
        assert!(only.lines.is_empty(), "a file with only zones is valid");
        assert_eq!((only.zones.len(), only.min_frames), (1, Some(3)));
    }

    #[test]
    fn bad_zones_are_errors_naming_the_file_and_the_zone() {
        for (text, why) in [
            ("[[zone]]\nname = \"lot\"\npoints = [0, 0, 1, 0]\n", "zone 'lot': an even number of coordinates, at least three corners"),
            ("[[zone]]\nname = \"lot\"\npoints = [0, 0, 1, 1, 2, 2]\n", "zone 'lot': the corners enclose no area"),
            ("[[zone]]\nname = \"lot\"\npoints = [0, 0, 1, 0, 1, 1]\n[[zone]]\nname = \"lot\"\npoints = [0, 0, 1, 0, 1, 1]\n", "zone name 'lot' is used twice"),
            ("[[zone]]\nname = \"lot\"\npoints = [0, 0, 1, 0, 1, 1]\ncolour = \"red\"\n", "unknown field `colour`"),
            ("[[zone]]\npoints = [0, 0, 1, 0, 1, 1]\n", "missing field `name`"),
            ("min-frames = 3\n", "no [[line]] and no [[zone]]"),
        ] {
            let e = load_text("bad-zone", text).unwrap_err();
            assert!(e.contains("bad-zone-") && e.contains(why), "{e}");
        }
    }
}
