//! Shared by the test crates: the shared evaluation data beside the checkout, and for those
//! that need a live camera an RTSP server process (`examples/rtsp/serve.py`, or any command
//! that prints "ready" once it serves), a free loopback port for it, and signals to the
//! processes under test.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// How long a server may take to print "ready": serve.py decodes and encodes its first frames.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// The root of this checkout.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `../shared/data/<rel>` beside this checkout. Outside CI a missing file skips the test that
/// needs it (None, with a message); CI always has the shared data, so under `CI=true` a missing
/// file fails the test instead of letting it pass without running.
pub fn shared_data(rel: &str) -> Option<PathBuf> {
    data_file(&repo_root().join("../shared/data"), rel, std::env::var("CI").as_deref() == Ok("true"))
}

fn data_file(data: &Path, rel: &str, ci: bool) -> Option<PathBuf> {
    let path = data.join(rel);
    if path.exists() {
        return Some(path);
    }
    assert!(!ci, "{} not found: under CI=true the shared data must be beside the checkout", path.display());
    eprintln!("SKIPPED: {} not found (the shared evaluation data is not beside this checkout)", path.display());
    None
}

/// The duration `gst-discoverer-1.0` reads from a media file, in seconds; a file with no
/// playable stream fails the test.
pub fn discovered_seconds(path: &Path) -> f64 {
    let out =
        Command::new("gst-discoverer-1.0").arg(path).output().expect("gst-discoverer-1.0 (make setup installs it)");
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Duration: "))
        .unwrap_or_else(|| panic!("{} has no playable stream:\n{text}", path.display()));
    line.split(':').fold(0.0, |acc, part| acc * 60.0 + part.parse::<f64>().unwrap_or(0.0))
}

/// A loopback port nothing listens on (free when asked; a server takes it soon after).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free loopback port").port()
}

/// Sends `signal` (as kill(1) takes it: "-INT", "-STOP", ...) to process `pid`.
pub fn send_signal(pid: u32, signal: &str) {
    let status = Command::new("kill").args([signal, &pid.to_string()]).status().expect("run kill");
    assert!(status.success(), "kill {signal} {pid}: {status}");
}

/// A server process, up once it printed a line starting with "ready"; killed when dropped.
pub struct RtspServer(Child);

impl RtspServer {
    /// serve.py serving `video`, looped, at `rtsp://127.0.0.1:{port}{mount}`.
    pub fn serve(video: &Path, port: u16, mount: &str) -> RtspServer {
        let mut serve = Command::new("/usr/bin/python3");
        serve.arg(repo_root().join("examples/rtsp/serve.py")).arg(video).args([
            "--port",
            &port.to_string(),
            "--mount",
            mount,
        ]);
        RtspServer::spawn(serve)
    }

    /// Any server that says "ready" on stdout (examples/rtsp/restream.sh).
    pub fn spawn(mut command: Command) -> RtspServer {
        let mut child = command
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{command:?}: {e} (/usr/bin/python3 with GStreamer bindings: make setup)"));
        let stdout = child.stdout.take().expect("server stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let ready = BufReader::new(stdout).lines().map_while(Result::ok).any(|l| l.starts_with("ready"));
            let _ = tx.send(ready);
        });
        // Owned before the wait, so that a server that never gets ready is killed all the same.
        let server = RtspServer(child);
        let ready = rx.recv_timeout(READY_TIMEOUT).unwrap_or(false);
        assert!(ready, "{command:?} did not become ready (is gir1.2-gst-rtsp-server-1.0 installed? make setup)");
        server
    }

    /// The camera vanishes: no TEARDOWN, no goodbye.
    pub fn kill(self) {
        drop(self);
    }

    /// The camera freezes (-STOP: its connections stay open, nothing comes) or thaws (-CONT).
    pub fn signal(&self, signal: &str) {
        send_signal(self.0.id(), signal);
    }
}

impl Drop for RtspServer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_data_file_skips_outside_ci_and_fails_under_ci() {
        let here = Path::new(env!("CARGO_MANIFEST_DIR"));
        assert_eq!(data_file(here, "Cargo.toml", true), Some(here.join("Cargo.toml")));
        assert_eq!(data_file(here, "no-such-file", false), None);
        let under_ci = std::panic::catch_unwind(|| data_file(here, "no-such-file", true));
        assert!(under_ci.is_err(), "CI=true: a missing shared file fails the test");
    }
}
