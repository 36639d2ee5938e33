//! The `config` file of `linecounter` (TOML):
//!
//! ```toml
//! min-frames = 3              # optional, overrides the property
//! anchor = "bottom-center"    # optional: bottom-center, center, top-center
//!
//! [[line]]
//! name = "north"
//! points = [0.1, 0.6, 0.9, 0.6]   # x1, y1, x2, y2: fractions of the frame (all <= 1) or pixels
//! in = "southbound"               # optional direction names (default in/out)
//! out = "northbound"
//! ```

use serde::Deserialize;
use traffic_vision::counting::LineSpec;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(rename = "min-frames")]
    min_frames: Option<u32>,
    anchor: Option<String>,
    #[serde(default)]
    line: Vec<LineEntry>,
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
}

/// What a config file says.
#[derive(Debug)]
pub struct LinesConfig {
    pub lines: Vec<LineSpec>,
    pub min_frames: Option<u32>,
    pub anchor: Option<String>,
}

/// Reads a config file; every error names the file and what is wrong.
pub fn load(path: &str) -> Result<LinesConfig, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {path}: {e}"))?;
    let file: File = toml::from_str(&text).map_err(|e| format!("{path}: {e}"))?;
    // One syntax for lines, whether from the property or a file: build the spec string.
    let specs: Vec<String> = file
        .line
        .iter()
        .map(|l| {
            let [x1, y1, x2, y2] = l.points;
            let dirs = match (&l.in_name, &l.out_name) {
                (None, None) => String::new(),
                (i, o) => format!(":{}/{}", i.as_deref().unwrap_or("in"), o.as_deref().unwrap_or("out")),
            };
            format!("{}:{x1},{y1},{x2},{y2}{dirs}", l.name)
        })
        .collect();
    let lines = LineSpec::parse_list(&specs.join(";")).map_err(|e| format!("{path}: {e}"))?;
    if lines.is_empty() {
        return Err(format!("{path}: no [[line]]"));
    }
    Ok(LinesConfig { lines, min_frames: file.min_frames, anchor: file.anchor })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_lines_and_options() {
        let path = std::env::temp_dir().join(format!("lines-{}.toml", std::process::id()));
        std::fs::write(
            &path,
            "min-frames = 4\nanchor = \"center\"\n[[line]]\nname = \"north\"\npoints = [0.1, 0.6, 0.9, 0.6]\nin = \"south\"\nout = \"north\"\n[[line]]\nname = \"gate\"\npoints = [10, 20, 300, 20]\n",
        )
        .unwrap();
        let c = load(path.to_str().unwrap()).unwrap();
        assert_eq!(c.min_frames, Some(4));
        assert_eq!(c.anchor.as_deref(), Some("center"));
        assert_eq!(c.lines.len(), 2);
        assert_eq!((c.lines[0].in_name.as_str(), c.lines[0].out_name.as_str()), ("south", "north"));
        assert!(!c.lines[1].fractional);
        std::fs::write(&path, "[[line]]\nname = \"x\"\npoints = [1, 2]\n").unwrap();
        assert!(load(path.to_str().unwrap()).unwrap_err().contains("lines-"));
        std::fs::remove_file(&path).ok();
        assert!(load("/nonexistent/lines.toml").unwrap_err().contains("/nonexistent/lines.toml"));
    }
}
