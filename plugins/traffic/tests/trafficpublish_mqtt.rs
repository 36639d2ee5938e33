//! trafficpublish to a real `mosquitto` on a loopback port: events arrive on the source's topic,
//! a broker restart mid-run loses none (they wait in the spool), and a broker that refuses us is
//! an element error saying why.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use gst::prelude::*;
use serde_json::Value;

/// Generous: the machine is loaded, and a subscriber reconnects after a broker restart in ~1 s.
const WAIT: Duration = Duration::from_secs(60);

/// A child process killed when the test ends, passing or failing.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A throw-away mosquitto on a free loopback port with its own config and persistence folder, so
/// that a restart keeps the subscriber's session (as a production broker would).
struct Broker {
    port: u16,
    dir: PathBuf,
    process: Option<Killed>,
}

impl Broker {
    /// None (with a message) where mosquitto is not installed; under CI it must be.
    fn start(name: &str, extra_config: &str) -> Option<Broker> {
        if Command::new("mosquitto").arg("-h").output().is_err() {
            assert_ne!(std::env::var("CI").as_deref(), Ok("true"), "mosquitto missing: `make setup` installs it");
            eprintln!("SKIPPED: mosquitto not found (make setup installs the Debian package mosquitto)");
            return None;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let dir = std::env::temp_dir().join(format!("trafficpublish-mqtt-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        // `user root`: when the tests run as root, stay root so that the folder stays writable.
        let config = format!(
            "listener {port} 127.0.0.1\npersistence true\npersistence_location {}/\nuser root\n{extra_config}\n",
            dir.display()
        );
        std::fs::write(dir.join("mosquitto.conf"), config).unwrap();
        let mut broker = Broker { port, dir, process: None };
        broker.restart();
        Some(broker)
    }

    fn url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.port)
    }

    fn restart(&mut self) {
        let child = Command::new("mosquitto")
            .arg("-c")
            .arg(self.dir.join("mosquitto.conf"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start mosquitto");
        self.process = Some(Killed(child));
        wait_until("mosquitto listens", || std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok());
    }

    /// SIGTERM: mosquitto saves its sessions and closes the port.
    fn stop(&mut self) {
        if let Some(mut process) = self.process.take() {
            let _ = Command::new("kill").arg(process.0.id().to_string()).status();
            let _ = process.0.wait();
        }
    }

    /// `mosquitto_sub` on `topic` at QoS 1 with a persistent session, printing "topic payload"
    /// lines to a file; returns once it is subscribed (a probe message came through).
    fn subscribe(&self, topic: &str, credentials: &[&str]) -> Subscriber {
        let out = self.dir.join("received.txt");
        let child = Command::new("mosquitto_sub")
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-q", "1", "-c", "-i", "test-subscriber", "-v"])
            .args(["-t", topic, "-t", "probe"])
            .args(credentials)
            .stdout(std::fs::File::create(&out).unwrap())
            .stderr(Stdio::null())
            .spawn()
            .expect("start mosquitto_sub");
        let subscriber = Subscriber { out, _process: Killed(child) };
        wait_until("the subscriber is subscribed", || {
            let _ = Command::new("mosquitto_pub")
                .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-t", "probe", "-m", "probe"])
                .args(credentials)
                .status();
            std::thread::sleep(Duration::from_millis(200));
            subscriber.lines().iter().any(|l| l == "probe probe")
        });
        subscriber
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.process.take();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

struct Subscriber {
    out: PathBuf,
    _process: Killed,
}

impl Subscriber {
    fn lines(&self) -> Vec<String> {
        std::fs::read_to_string(&self.out).unwrap_or_default().lines().map(str::to_string).collect()
    }

    /// The events received so far: (topic, event), probes left out.
    fn events(&self) -> Vec<(String, Value)> {
        self.lines()
            .iter()
            .filter(|l| !l.starts_with("probe "))
            .map(|l| {
                let (topic, payload) = l.split_once(' ').expect("topic and payload");
                (topic.to_string(), serde_json::from_str(payload).unwrap_or_else(|e| panic!("{payload}: {e}")))
            })
            .collect()
    }

    /// Waits until the summary event arrived, and returns every event.
    fn events_until_summary(&self) -> Vec<(String, Value)> {
        wait_until("the summary arrives", || self.events().iter().any(|(_, e)| e["type"] == "summary"));
        self.events()
    }
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn temp(name: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("trafficpublish-mqtt-{name}-{}", std::process::id()));
    let _ = std::fs::remove_file(&path);
    path
}

/// A harness around trafficpublish (`props` say where to publish), fed frames with one crossing
/// each, track ids from 100.
struct Publisher {
    h: gst_check::Harness,
    publish: gst::Element,
    frames: u64,
}

impl Publisher {
    fn new(props: &str) -> Publisher {
        let mut h = gst_check::Harness::new_parse(&format!("trafficpublish frames=false {props}"));
        let publish = h.find_element("trafficpublish").expect("trafficpublish in the harness");
        h.set_src_caps_str("video/x-raw,format=RGB,width=64,height=48,framerate=25/1");
        h.play();
        Publisher { h, publish, frames: 0 }
    }

    fn push_crossings(&mut self, n: u64) {
        for _ in 0..n {
            let i = self.frames;
            self.frames += 1;
            self.h.push_and_pull(crossing_frame(i)).expect("passes the frame through");
        }
    }

    fn stat(&self, name: &str) -> u64 {
        self.publish.property::<gst::Structure>("stats").get::<u64>(name).unwrap()
    }
}

#[test]
fn events_reach_the_topic_and_a_broker_restart_loses_none() {
    init();
    let Some(mut broker) = Broker::start("restart", "allow_anonymous true") else { return };
    let subscriber = broker.subscribe("traffic/+/events", &[]);
    let spool = temp("restart.spool");
    let mut publisher = Publisher::new(&format!(
        "mqtt-url={} source=cam-a spool={} flush-timeout=30000",
        broker.url(),
        spool.display()
    ));

    publisher.push_crossings(3);
    wait_until("3 events are acknowledged", || publisher.stat("sent") == 3);
    broker.stop();
    // Sent while the broker is down: they can only wait in the spool.
    publisher.push_crossings(3);
    wait_until("3 events wait in the spool", || publisher.stat("pending") == 3);
    assert_eq!(std::fs::read_to_string(&spool).unwrap().lines().count(), 3, "the spool holds them on disk");
    broker.restart();
    publisher.push_crossings(2);
    publisher.h.push_event(gst::event::Eos::new());
    assert_eq!(
        (publisher.stat("sent"), publisher.stat("pending"), publisher.stat("dropped")),
        (9, 0, 0),
        "8 crossings and the summary acknowledged by EOS, none left"
    );
    assert!(publisher.stat("spooled") >= 3, "went through the spool");

    let events = subscriber.events_until_summary();
    assert!(events.iter().all(|(topic, _)| topic == "traffic/cam-a/events"), "{events:?}");
    // At least once: a repeat is allowed, a loss or a reordering is not.
    let mut seqs: Vec<u64> = events.iter().map(|(_, e)| e["seq"].as_u64().expect("seq")).collect();
    seqs.dedup();
    assert_eq!(seqs, (0..9).collect::<Vec<_>>(), "every event, in order");
    let tracks: Vec<u64> = events.iter().filter_map(|(_, e)| e["track_id"].as_u64()).collect();
    assert_eq!(tracks, (100..108).collect::<Vec<_>>());
    assert_eq!(events.last().map(|(_, e)| e["crossings"].as_u64()), Some(Some(8)), "the summary counts them");
    drop(publisher);
    assert!(!spool.exists(), "an emptied spool is removed");
}

/// Runs a 5-frame pipeline publishing to `url` (the summary at EOS is its event) and returns
/// the first error posted on the bus before EOS, if any.
fn first_error(url: &str, spool: &Path) -> Option<String> {
    let launch = format!(
        "videotestsrc num-buffers=5 ! trafficpublish location=/dev/null mqtt-url={url} spool={} flush-timeout=3000 ! fakesink",
        spool.display()
    );
    let pipeline = gst::parse::launch(&launch).expect("launch");
    let bus = pipeline.bus().unwrap();
    pipeline.set_state(gst::State::Playing).expect("playing");
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut error = None;
    while error.is_none() && Instant::now() < deadline {
        let types = [gst::MessageType::Error, gst::MessageType::Eos];
        let Some(msg) = bus.timed_pop_filtered(gst::ClockTime::from_mseconds(200), &types) else { continue };
        match msg.view() {
            gst::MessageView::Error(e) => error = Some(format!("{} {:?}", e.error(), e.debug())),
            // trafficpublish posts its errors before it lets EOS go.
            _ => break,
        }
    }
    pipeline.set_state(gst::State::Null).expect("stops");
    error
}

/// A broker that wants credentials: none or wrong ones are an error naming the broker's answer
/// (the event waits in the spool); the right ones, taken from the URL, deliver.
#[test]
fn a_refused_connection_is_an_error_and_credentials_come_from_the_url() {
    init();
    let passwords = temp("passwords");
    let created =
        Command::new("mosquitto_passwd").args(["-c", "-b"]).arg(&passwords).args(["cam", "p@ss word"]).status();
    if created.is_err() {
        assert_ne!(std::env::var("CI").as_deref(), Ok("true"), "mosquitto_passwd missing: `make setup` installs it");
        eprintln!("SKIPPED: mosquitto_passwd not found");
        return;
    }
    let config = format!("allow_anonymous false\npassword_file {}", passwords.display());
    let Some(broker) = Broker::start("refused", &config) else { return };
    let spool = temp("refused.spool");

    let err = first_error(&broker.url(), &spool).expect("an error for a connection without credentials");
    assert!(err.contains("MQTT answered 'connection refused: not authorized (CONNACK code 5)'"), "{err}");
    assert!(err.contains(&format!("127.0.0.1:{}", broker.port)), "names the broker: {err}");
    let spooled = std::fs::read_to_string(&spool).expect("the event waits in the spool");
    assert!(spooled.contains("\"summary\""), "{spooled}");
    std::fs::remove_file(&spool).ok();

    let url = format!("mqtt://cam:wrong@127.0.0.1:{}", broker.port);
    let err = first_error(&url, &spool).expect("an error for a wrong password");
    assert!(err.contains("connection refused") && !err.contains("wrong@"), "no password in it: {err}");
    std::fs::remove_file(&spool).ok();

    let subscriber = broker.subscribe("traffic/+/events", &["-u", "cam", "-P", "p@ss word"]);
    let url = format!("mqtt://cam:p%40ss%20word@127.0.0.1:{}?client_id=cam-north", broker.port);
    assert_eq!(first_error(&url, &spool), None);
    let events = subscriber.events_until_summary();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].0, "traffic/default/events", "no source: the default topic's placeholder");
    assert!(!spool.exists(), "delivered, so the spool is gone");
    std::fs::remove_file(&passwords).ok();
}

#[test]
fn a_bad_mqtt_url_is_an_error_naming_it() {
    init();
    let err = run_to_eos("videotestsrc num-buffers=1 ! trafficpublish location=/dev/null mqtt-url=http://x ! fakesink")
        .expect_err("must fail");
    assert!(err.contains("http://x") && err.contains("mqtt[s]://"), "{err}");
}
