//! The packaging files: Dockerfile, .dockerignore, docker-compose.yml, meson.build.
//!
//! Checked statically everywhere; built with docker (a daemon must answer) and meson (must be
//! on PATH) where they are present, skipped with a message where they are not.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::repo_root;
use serde_json::Value;

fn read(rel: &str) -> String {
    std::fs::read_to_string(repo_root().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// Dockerfile instructions: continuation lines joined, comments and blank lines dropped.
fn dockerfile_instructions(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('#') || (trimmed.is_empty() && current.is_empty()) {
            continue;
        }
        match trimmed.strip_suffix('\\') {
            Some(part) => {
                current.push_str(part);
                current.push(' ');
            }
            None => {
                current.push_str(trimmed);
                if let Some((keyword, args)) = current.split_once(char::is_whitespace) {
                    out.push((keyword.to_uppercase(), args.trim().to_string()));
                }
                current.clear();
            }
        }
    }
    out
}

/// A path the build context leaves out, by the .dockerignore patterns used here
/// (`dir/`, `dir/*` with `!file` exceptions, `**/name`).
fn ignored(path: &str, dockerignore: &str) -> bool {
    let mut result = false;
    for pattern in dockerignore.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
        let (negated, pattern) = match pattern.strip_prefix('!') {
            Some(p) => (true, p),
            None => (false, pattern),
        };
        let matches = if let Some(name) = pattern.strip_prefix("**/") {
            path.split('/').any(|part| part == name || (name.starts_with("*.") && part.ends_with(&name[1..])))
        } else if let Some(dir) = pattern.strip_suffix("/*") {
            path.strip_prefix(dir).is_some_and(|rest| rest.starts_with('/') && rest.len() > 1)
        } else {
            let p = pattern.trim_end_matches('/');
            path == p || path.starts_with(&format!("{p}/"))
        };
        if matches {
            result = !negated;
        }
    }
    result
}

#[test]
fn dockerfile_is_bookworm_based_and_copies_what_exists() {
    let instructions = dockerfile_instructions(&read("Dockerfile"));
    let dockerignore = read(".dockerignore");
    let froms: Vec<&str> = instructions.iter().filter(|(k, _)| k == "FROM").map(|(_, a)| a.as_str()).collect();
    assert!(froms.len() >= 2, "a build stage and a runtime stage: {froms:?}");
    for from in &froms {
        let image = from.split_whitespace().next().unwrap_or_default();
        assert!(image.contains("bookworm"), "{image} is not Debian 12 (bookworm) based");
    }
    assert!(froms[0].starts_with("rust:") && froms[0].contains(" AS build"), "build stage: {}", froms[0]);
    assert!(froms.last().is_some_and(|f| f.starts_with("debian:bookworm-slim")), "runtime stage: {froms:?}");

    // Every source of a COPY from the context exists and is not left out by .dockerignore.
    let mut sources = 0;
    for (_, args) in instructions.iter().filter(|(k, _)| k == "COPY") {
        let words: Vec<&str> = args.split_whitespace().collect();
        if words.iter().any(|w| w.starts_with("--from=")) {
            continue;
        }
        let paths: Vec<&str> = words.iter().copied().filter(|w| !w.starts_with("--")).collect();
        for src in &paths[..paths.len() - 1] {
            let rel = src.trim_end_matches('/');
            if rel == "." {
                continue;
            }
            assert!(repo_root().join(rel).exists(), "COPY {src}: not in the repository");
            assert!(!ignored(rel, &dockerignore), "COPY {src}: excluded by .dockerignore");
            sources += 1;
        }
    }
    assert!(sources >= 3, "scripts/ and the model checksums are copied before the sources");

    // The runtime stage gets what the build stage builds, and runs the app.
    let runs: String = instructions.iter().filter(|(k, _)| k == "RUN").map(|(_, a)| a.as_str()).collect();
    assert!(runs.contains("scripts/setup.sh"), "the models are fetched by the setup script");
    for package in ["gst-plugin-traffic", "traffic-monitor"] {
        assert!(runs.contains(&format!("-p {package}")), "cargo build -p {package}");
    }
    let copied: Vec<&str> = instructions
        .iter()
        .filter(|(k, a)| k == "COPY" && a.starts_with("--from=build"))
        .map(|(_, a)| a.as_str())
        .collect();
    for artefact in ["target/release/libgsttraffic.so", "target/release/traffic-monitor", "/weights"] {
        assert!(copied.iter().any(|c| c.contains(artefact)), "{artefact} is not copied into the runtime stage");
    }
    let entrypoint = instructions.iter().find(|(k, _)| k == "ENTRYPOINT").map(|(_, a)| a.as_str());
    assert_eq!(entrypoint, Some(r#"["traffic-monitor"]"#));

    // The context leaves out build outputs and models, and keeps the checksums.
    for (path, left_out) in [
        ("target/release/x", true),
        ("build/pyenv", true),
        ("weights/yolov8n.onnx", true),
        ("weights/models.sha256", false),
        ("scripts/setup.sh", false),
    ] {
        assert_eq!(ignored(path, &dockerignore), left_out, "{path} in .dockerignore");
    }
}

/// `services:` entries of a compose file, read by indentation (no YAML parser needed for this).
fn compose_services(text: &str) -> Vec<String> {
    let mut in_services = false;
    let mut services = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#')) {
        let indent = line.len() - line.trim_start().len();
        if indent == 0 {
            in_services = line.trim_end() == "services:";
        } else if in_services && indent == 2 {
            // `name:` or `name: &anchor` (a YAML anchor the next services merge).
            let entry = line.trim();
            if let Some((name, rest)) = entry.split_once(':') {
                if rest.is_empty() || rest.trim_start().starts_with('&') {
                    services.push(name.to_string());
                }
            }
        }
    }
    services
}

/// The compose file as JSON, through the system python's PyYAML, or None when it has none.
fn compose_as_json() -> Option<Value> {
    let script = "import json, sys, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))";
    let output = Command::new("/usr/bin/python3")
        .args(["-c", script])
        .arg(repo_root().join("docker-compose.yml"))
        .output()
        .ok()?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("No module named 'yaml'"), "docker-compose.yml is not valid YAML: {stderr}");
        eprintln!(
            "SKIPPED: YAML parse of docker-compose.yml (no PyYAML in /usr/bin/python3: apt install python3-yaml)"
        );
        return None;
    }
    Some(serde_json::from_slice(&output.stdout).expect("JSON from python"))
}

#[test]
fn compose_runs_the_app_with_redis_and_the_consumer() {
    let text = read("docker-compose.yml");
    assert_eq!(compose_services(&text), ["app", "serve-a", "serve-b", "redis", "consumer"]);
    let Some(compose) = compose_as_json() else { return };
    let services = &compose["services"];
    assert_eq!(services["app"]["build"], ".", "the app is built from this Dockerfile");
    assert!(services["app"]["depends_on"].get("redis").is_some(), "the app depends on redis");
    assert!(services["consumer"]["depends_on"].get("redis").is_some(), "the consumer depends on redis");
    assert_eq!(services["redis"]["image"], "redis:7");
    assert_eq!(services["consumer"]["image"], "python:3.11-slim");
    let command = services["app"]["command"].as_array().expect("app command list");
    assert!(command[0].as_str().is_some_and(|s| s.contains("TRAFFIC_SOURCE")), "the source comes from $TRAFFIC_SOURCE");
    assert!(command.iter().any(|c| c == "--out"), "outputs go to a volume");
    let consumer_volume = services["consumer"]["volumes"][0].as_str().expect("consumer volume");
    assert!(consumer_volume.starts_with("./examples/redis-consumer:"), "{consumer_volume}");
    assert!(services["consumer"]["command"][2].as_str().is_some_and(|c| c.contains("consumer.py")));

    // The app's configuration is traffic-monitor TOML that publishes to the redis service.
    let config = compose["configs"]["traffic"]["content"].as_str().expect("inline traffic.toml");
    let config: toml::Table = toml::from_str(config).expect("traffic.toml is TOML");
    let redis_url = config["publish"]["redis-url"].as_str().expect("publish.redis-url");
    assert!(redis_url.starts_with("redis://redis:6379"), "{redis_url} must name the redis service");
    assert_eq!(config["publish"]["stream"].as_str(), services["consumer"]["environment"]["TRAFFIC_STREAM"].as_str());
    assert!(config["line"].as_array().is_some_and(|l| !l.is_empty()), "a counting line");

    // The fleet profile: two `serve` instances, each its own cameras, one Redis stream.
    let mut cameras = Vec::new();
    for (service, config) in [("serve-a", "fleet-a"), ("serve-b", "fleet-b")] {
        let s = &services[service];
        assert_eq!(s["profiles"][0], "fleet", "{service} only runs in the fleet profile");
        assert_eq!(s["command"][0], "serve", "{service} runs `traffic-monitor serve`");
        assert!(s["depends_on"].get("redis").is_some(), "{service} depends on redis");
        let config = compose["configs"][config]["content"].as_str().expect("inline fleet config");
        let config: toml::Table = toml::from_str(config).expect("fleet config is TOML");
        assert_eq!(config["publish"]["redis-url"].as_str(), Some("redis://redis:6379/0"), "{service}");
        assert_eq!(
            config["publish"]["stream"].as_str(),
            services["consumer"]["environment"]["TRAFFIC_STREAM"].as_str()
        );
        let ids = config["camera"].as_array().expect("[[camera]] entries");
        cameras.extend(ids.iter().map(|c| c["id"].as_str().expect("camera id").to_string()));
    }
    assert_eq!(cameras, ["north", "south"], "each instance has its own cameras");
}

/// Whether a docker daemon answers; a client without one counts as no docker.
fn docker_daemon() -> bool {
    match Command::new("docker").args(["info", "--format", "{{.ServerVersion}}"]).output() {
        Ok(o) if o.status.success() => true,
        Ok(o) => {
            eprintln!("SKIPPED: docker build checks (no docker daemon: {})", String::from_utf8_lossy(&o.stderr).trim());
            false
        }
        Err(_) => {
            eprintln!("SKIPPED: docker build checks (no docker client)");
            false
        }
    }
}

#[test]
fn docker_checks_the_dockerfile_and_compose_file_where_a_daemon_runs() {
    if !docker_daemon() {
        return;
    }
    let root = repo_root();
    let status =
        Command::new("docker").args(["build", "--check", "."]).current_dir(&root).status().expect("docker build");
    assert!(status.success(), "docker build --check . failed");
    let status = Command::new("docker")
        .args(["compose", "config", "--quiet"])
        .env("TRAFFIC_SOURCE", "/videos/test.mp4")
        .current_dir(&root)
        .status()
        .expect("docker compose");
    assert!(status.success(), "docker compose config failed");
}

fn meson() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    let found = std::env::split_paths(&path).map(|d| d.join("meson")).find(|p| p.is_file());
    if found.is_none() {
        eprintln!("SKIPPED: meson build (meson is not on PATH; pip install meson ninja)");
    }
    found
}

#[test]
fn meson_options_name_the_plugin_and_examples() {
    let options = read("meson_options.txt");
    let names: BTreeMap<&str, &str> = options
        .lines()
        .filter_map(|l| l.strip_prefix("option('"))
        .filter_map(|l| l.split_once("'"))
        .map(|(name, rest)| (name, if rest.contains("'feature'") { "feature" } else { "other" }))
        .collect();
    assert_eq!(names, BTreeMap::from([("examples", "feature"), ("traffic", "feature")]));
    let build = read("meson.build");
    assert!(build.contains("get_option('libdir') / 'gstreamer-1.0'"), "installs where GStreamer looks");
}

#[test]
fn meson_builds_and_installs_the_plugin_where_meson_is_present() {
    let Some(meson) = meson() else { return };
    let work = std::env::temp_dir().join(format!("meson-check-{}", std::process::id()));
    let (build, dest) = (work.join("build"), work.join("dest"));
    // Share this test's cargo target dir: cargo only relinks what is already built.
    let target_dir = std::env::current_exe().ok().and_then(|e| Some(e.parent()?.parent()?.parent()?.to_path_buf()));
    let run = |args: &[&std::ffi::OsStr]| {
        let mut cmd = Command::new(&meson);
        cmd.args(args).current_dir(repo_root());
        if let Some(dir) = &target_dir {
            cmd.env("CARGO_TARGET_DIR", dir);
        }
        let status = cmd.status().expect("run meson");
        assert!(status.success(), "meson {args:?} failed");
    };
    run(&["setup".as_ref(), build.as_os_str(), "--buildtype=release".as_ref(), "--prefix=/usr".as_ref()]);
    run(&["compile".as_ref(), "-C".as_ref(), build.as_os_str()]);
    run(&["install".as_ref(), "-C".as_ref(), build.as_os_str(), "--destdir".as_ref(), dest.as_os_str()]);
    let installed = find_file(&dest, "libgsttraffic.so").expect("libgsttraffic.so installed");
    assert!(installed.parent().is_some_and(|d| d.ends_with("gstreamer-1.0")), "{}", installed.display());
    // The installed file is a loadable plugin with our elements.
    let inspect = Command::new("gst-inspect-1.0").arg(&installed).output().expect("gst-inspect-1.0");
    std::fs::remove_dir_all(&work).ok();
    let listing = String::from_utf8_lossy(&inspect.stdout);
    assert!(listing.contains("yolodetect") && listing.contains("linecounter"), "{listing}");
}

fn find_file(dir: &Path, name: &str) -> Option<PathBuf> {
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let path = entry.path();
        if path.is_dir() {
            if let Some(found) = find_file(&path, name) {
                return Some(found);
            }
        } else if path.file_name().is_some_and(|n| n == name) {
            return Some(path);
        }
    }
    None
}
