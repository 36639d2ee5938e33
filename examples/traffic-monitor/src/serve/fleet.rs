//! The fleet's config file: the single-camera sections at the top level are every camera's
//! defaults; each `[[camera]]` table names one camera and may repeat any section to override
//! them for that camera.
//!
//! ```toml
//! [plates]
//! enabled = false
//! [[camera]]
//! id = "north"
//! uri = "rtsp://camera-north.local/stream"
//! lines = "road:0,0.6,1,0.6"
//! [camera.detector]
//! interval = 3
//! ```

use std::path::{Path, PathBuf};

use crate::config::Config;

/// Keys of a `[[camera]]` table that are not sections.
const CAMERA_KEYS: [&str; 3] = ["id", "uri", "lines"];

/// The config file, kept to build the cameras added later through the API.
#[derive(Clone, Debug)]
pub struct Fleet {
    /// The top level, without the cameras.
    defaults: toml::Table,
    /// The file's folder: relative paths are relative to it.
    folder: PathBuf,
    /// The output folder; each camera writes into `<dir>/<id>`.
    dir: PathBuf,
}

/// One camera, ready to build.
#[derive(Debug)]
pub struct CameraConfig {
    pub id: String,
    pub config: Config,
}

impl Fleet {
    /// Reads the file: the defaults and the cameras, each checked as the single-camera mode
    /// checks its config.
    pub fn load(path: &Path) -> Result<(Fleet, Vec<CameraConfig>), String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read config {}: {e}", path.display()))?;
        let mut defaults: toml::Table = toml::from_str(&text).map_err(|e| format!("config {}: {e}", path.display()))?;
        let cameras = match defaults.remove("camera") {
            None => vec![],
            Some(toml::Value::Array(tables)) => tables,
            Some(_) => return Err(format!("config {}: cameras are [[camera]] tables", path.display())),
        };
        let folder = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let folder = std::fs::canonicalize(folder).map_err(|e| format!("config {}: {e}", path.display()))?;
        let dir = match defaults.get("output").and_then(|o| o.get("dir")).and_then(toml::Value::as_str) {
            Some(dir) => folder.join(dir),
            None => crate::config::Output::default().dir,
        };
        let fleet = Fleet { defaults, folder, dir };
        // The defaults alone must make a valid config, whatever the cameras override.
        fleet.merged(&toml::Table::new())?;
        let mut configs: Vec<CameraConfig> = Vec::new();
        for (i, camera) in cameras.into_iter().enumerate() {
            let toml::Value::Table(camera) = camera else {
                return Err(format!("config {}: cameras are [[camera]] tables", path.display()));
            };
            let camera = fleet.camera(&camera).map_err(|e| format!("[[camera]] #{}: {e}", i + 1))?;
            if configs.iter().any(|c| c.id == camera.id) {
                return Err(format!("[[camera]] id '{}' is used twice: cameras are told apart by id", camera.id));
            }
            configs.push(camera);
        }
        Ok((fleet, configs))
    }

    /// One camera from its table (a `[[camera]]` of the file, or the JSON body of a POST).
    pub fn camera(&self, table: &toml::Table) -> Result<CameraConfig, String> {
        let id = match table.get("id") {
            Some(toml::Value::String(id)) => id.clone(),
            Some(other) => return Err(format!("id must be a string, not {}", other.type_str())),
            None => return Err("needs an id".into()),
        };
        check_id(&id)?;
        let in_camera = |e: String| format!("camera '{id}': {e}");
        let mut config = self.merged(table).map_err(in_camera)?;
        let uri = match table.get("uri") {
            Some(toml::Value::String(uri)) if !uri.is_empty() => uri.clone(),
            Some(toml::Value::String(_)) | None => return Err(in_camera("needs a uri".into())),
            Some(other) => return Err(in_camera(format!("uri must be a string, not {}", other.type_str()))),
        };
        config.source.uri = Some(uri);
        let lines = match table.get("lines") {
            Some(toml::Value::String(lines)) => Some(lines.clone()),
            Some(other) => return Err(in_camera(format!("lines must be a string, not {}", other.type_str()))),
            None => None,
        };
        if let Some(lines) = &lines {
            // As --lines: the camera's lines replace the defaults' lines, whatever their form.
            if !table.contains_key("line") {
                config.line.clear();
            }
            config.counting.remove("config");
            config.counting.insert("lines".into(), lines.clone().into());
        }
        let own_dir = table.get("output").and_then(|o| o.get("dir")).is_some();
        config.output.dir = if own_dir { self.folder.join(&config.output.dir) } else { self.dir.join(&id) };
        // No window per camera in a service; events say which camera they come from.
        config.output.display = false;
        config.publish.entry("source").or_insert_with(|| id.clone().into());
        config.check(false).map_err(in_camera)?;
        Ok(CameraConfig { id, config })
    }

    /// The defaults with a camera's sections on top: a section's keys override the defaults'
    /// one by one; `[[camera.line]]` and `[[camera.zone]]` replace the defaults' tables.
    fn merged(&self, camera: &toml::Table) -> Result<Config, String> {
        let mut merged = self.defaults.clone();
        for (key, value) in camera {
            if CAMERA_KEYS.contains(&key.as_str()) {
                continue;
            }
            match (merged.get_mut(key), value) {
                (Some(toml::Value::Table(section)), toml::Value::Table(overrides)) => {
                    section.extend(overrides.iter().map(|(k, v)| (k.clone(), v.clone())));
                }
                _ => {
                    merged.insert(key.clone(), value.clone());
                }
            }
        }
        let mut config: Config = toml::Value::Table(merged).try_into().map_err(|e: toml::de::Error| {
            let message = e.message().to_string();
            message.lines().next().unwrap_or_default().to_string()
        })?;
        config.resolve_paths(&self.folder);
        Ok(config)
    }
}

/// `[a-z0-9_-]+`: safe in a URL path, a folder name and a metric label.
fn check_id(id: &str) -> Result<(), String> {
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-') {
        return Err(format!("id '{id}': use lower-case letters, digits, '_' and '-' only"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fleet(text: &str) -> Result<(Fleet, Vec<CameraConfig>), String> {
        let dir = std::env::temp_dir().join(format!("traffic-fleet-{}-{}", std::process::id(), text.len()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("fleet.toml");
        std::fs::write(&path, text).unwrap();
        let fleet = Fleet::load(&path);
        std::fs::remove_dir_all(&dir).ok();
        fleet
    }

    #[test]
    fn cameras_override_the_defaults_section_by_section() {
        let (fleet, cameras) = fleet(
            "[plates]\nenabled = false\n[detector]\ninterval = 2\nconf-threshold = 0.3\n[output]\ndir = \"out\"\n\
             [[line]]\nname = \"a\"\npoints = [0, 0.5, 1, 0.5]\n\
             [[camera]]\nid = \"north\"\nuri = \"rtsp://cam/1\"\n[camera.detector]\ninterval = 3\n\
             [[camera]]\nid = \"south\"\nuri = \"rtsp://cam/2\"\nlines = \"b:0,0.6,1,0.6\"\n",
        )
        .unwrap();
        assert_eq!(cameras.len(), 2);
        let north = &cameras[0].config;
        assert_eq!(north.detector["interval"].as_integer(), Some(3));
        assert_eq!(north.detector["conf-threshold"].as_float(), Some(0.3), "the other keys stay");
        assert!(!north.plates.enabled);
        assert_eq!(north.line.len(), 1);
        assert_eq!(north.source.uri.as_deref(), Some("rtsp://cam/1"));
        assert!(north.output.dir.ends_with("out/north") && north.output.dir.is_absolute());
        let south = &cameras[1].config;
        assert_eq!(south.detector["interval"].as_integer(), Some(2));
        assert!(south.line.is_empty(), "lines replace the [[line]] tables");
        assert_eq!(south.counting["lines"].as_str(), Some("b:0,0.6,1,0.6"));
        let added = fleet.camera(&toml::from_str("id = \"east\"\nuri = \"x.mp4\"").unwrap()).unwrap();
        assert!(added.config.output.dir.ends_with("out/east"));
    }

    #[test]
    fn mistakes_name_the_camera() {
        let base = "[[line]]\nname = \"a\"\npoints = [0, 0.5, 1, 0.5]\n";
        for (cameras, says) in [
            ("[[camera]]\nuri = \"a.mp4\"\n", "[[camera]] #1: needs an id"),
            ("[[camera]]\nid = \"North\"\nuri = \"a.mp4\"\n", "id 'North': use lower-case"),
            ("[[camera]]\nid = \"n\"\n", "camera 'n': needs a uri"),
            ("[[camera]]\nid = \"n\"\nuri = \"a\"\n[[camera]]\nid = \"n\"\nuri = \"b\"\n", "'n' is used twice"),
            (
                "[[camera]]\nid = \"n\"\nuri = \"a\"\nlines = \"x:nan,0,1,1\"\n",
                "camera 'n': [counting] lines: line 'x:nan",
            ),
            ("[[camera]]\nid = \"n\"\nuri = \"a\"\n[camera.detektor]\nx = 1\n", "camera 'n': unknown field `detektor`"),
        ] {
            let err = fleet(&format!("{base}{cameras}")).unwrap_err();
            assert!(err.contains(says), "{cameras}: {err}");
        }
    }
}
