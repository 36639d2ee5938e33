//! Delivers events to a broker (a Redis stream, an MQTT topic) from a thread of its own, so the
//! streaming thread never waits on the network. Events go through the spool whenever it is not
//! empty or the broker is unreachable, so they reach it in the order they were made, at least
//! once: an event leaves the spool only once the broker has acknowledged it.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::spool::Spool;

/// Events queued between the streaming thread and the sender. Events are a few per second; the
/// sender stalls at most one network timeout, so this is never reached in practice, and beyond
/// it events are dropped (counted) rather than stall the video.
const QUEUE_LEN: usize = 4096;
const MIN_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Why a connection or a delivery failed.
#[derive(Debug)]
pub enum Failure {
    /// The broker cannot be reached, or the connection broke: an outage, waited out.
    Unreachable(String),
    /// The broker answered and said no. `settings`: no retry can help (wrong or missing
    /// credentials, a key of another type, ...), so it is an error the application must see.
    Refused { reply: String, settings: bool },
}

/// One broker protocol. Methods block at most about one network timeout.
pub trait Transport: Send + 'static {
    /// The protocol's name ("Redis", "MQTT").
    fn name(&self) -> &'static str;
    /// Where events go, for logs and messages (never with a password).
    fn describe(&self) -> String;
    /// Opens a connection (replacing any open one) and checks the broker accepts us.
    fn connect(&mut self) -> Result<(), Failure>;
    /// Delivers one event on the open connection; Ok only once the broker has acknowledged it.
    /// On an error the connection is closed.
    fn deliver(&mut self, event: &str) -> Result<(), Failure>;
    fn is_connected(&self) -> bool;
}

pub struct Config {
    pub spool: PathBuf,
    pub spool_max_events: usize,
}

/// What the sender did so far, readable from any thread.
#[derive(Default)]
pub struct Stats {
    pub sent: AtomicU64,
    /// Events that went through the spool (the broker unreachable, or earlier events still waiting).
    pub spooled: AtomicU64,
    /// Events waiting in the spool now.
    pub pending: AtomicU64,
    pub dropped: AtomicU64,
    pub connected: AtomicBool,
}

/// How the sender reports to the element's log.
pub trait Log: Send + 'static {
    fn info(&self, msg: &str);
    fn warning(&self, msg: &str);
    /// A fault no retry can mend (the element posts it as an error).
    fn error(&self, msg: &str);
}

enum Message {
    Event(String),
    /// Deliver the spool until the deadline, then answer how many events are left in it.
    Flush {
        deadline: Instant,
        done: mpsc::Sender<usize>,
    },
}

pub struct Sender {
    /// The transport's name, for messages.
    name: &'static str,
    queue: Option<SyncSender<Message>>,
    thread: Option<JoinHandle<()>>,
    stats: Arc<Stats>,
    log: Arc<dyn Log + Sync>,
}

impl Sender {
    /// Opens the spool (its events from an earlier run are sent first) and starts the thread.
    /// The broker need not be up: the thread connects, and reconnects, on its own.
    pub fn start(
        transport: Box<dyn Transport>,
        config: Config,
        stats: Arc<Stats>,
        log: Arc<dyn Log + Sync>,
    ) -> std::io::Result<Sender> {
        let spool = Spool::open(&config.spool, config.spool_max_events)?;
        if spool.skipped() > 0 {
            log.warning(&format!(
                "{} had {} lines that are not JSON events (not UTF-8, or not JSON): left out, the others are sent",
                config.spool.display(),
                spool.skipped()
            ));
        }
        if spool.dropped() > 0 {
            log.warning(&format!(
                "{} dropped {} events of an earlier run beyond spool-max-events",
                config.spool.display(),
                spool.dropped()
            ));
        }
        if !spool.is_empty() {
            log.info(&format!(
                "{} holds {} events of an earlier run: sending them first",
                config.spool.display(),
                spool.len()
            ));
        }
        stats.dropped.fetch_add(spool.dropped(), Ordering::Relaxed);
        stats.pending.store(spool.len() as u64, Ordering::Relaxed);
        let (queue, rx) = mpsc::sync_channel(QUEUE_LEN);
        let name = transport.name();
        let thread_name = format!("trafficpublish-{}", name.to_lowercase());
        let worker = Worker {
            transport,
            config,
            spool,
            backoff: MIN_BACKOFF,
            next_try: Instant::now(),
            stats: stats.clone(),
            log: log.clone(),
            refused: None,
        };
        let thread = std::thread::Builder::new().name(thread_name).spawn(move || worker.run(rx))?;
        Ok(Sender { name, queue: Some(queue), thread: Some(thread), stats, log })
    }

    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Queues an event without waiting; false (and counted as dropped) if the queue is full.
    pub fn send(&self, event: String) -> bool {
        let Some(queue) = &self.queue else { return false };
        match queue.try_send(Message::Event(event)) {
            Ok(()) => true,
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                count_drop(&self.stats, &*self.log, &format!("the {} sender is {QUEUE_LEN} events behind", self.name));
                false
            }
        }
    }

    /// Waits until every queued and spooled event is delivered, or `timeout` passed; returns how
    /// many are left in the spool (they stay there for a later run).
    pub fn flush(&self, timeout: Duration) -> usize {
        let Some(queue) = &self.queue else { return 0 };
        let (done, answer) = mpsc::channel();
        let deadline = Instant::now() + timeout;
        if queue.send(Message::Flush { deadline, done }).is_err() {
            return self.stats.pending.load(Ordering::Relaxed) as usize;
        }
        // The worker answers by the deadline, give or take one network timeout.
        answer
            .recv_timeout(timeout + Duration::from_secs(30))
            .unwrap_or_else(|_| self.stats.pending.load(Ordering::Relaxed) as usize)
    }
}

impl Drop for Sender {
    fn drop(&mut self) {
        // Closing the queue ends the worker once it has spooled what was queued.
        self.queue.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Counts a lost event; warns on the first ones and then every thousandth, so that a long
/// outage does not flood the log.
fn count_drop(stats: &Stats, log: &dyn Log, why: &str) {
    let n = stats.dropped.fetch_add(1, Ordering::Relaxed) + 1;
    if n <= 10 || n.is_multiple_of(1000) {
        log.warning(&format!("event dropped: {why} ({n} dropped in all)"));
    }
}

struct Worker {
    transport: Box<dyn Transport>,
    config: Config,
    spool: Spool,
    backoff: Duration,
    next_try: Instant,
    stats: Arc<Stats>,
    log: Arc<dyn Log + Sync>,
    /// The last reply by which the broker refused us, so that each refusal is said once.
    refused: Option<String>,
}

impl Worker {
    fn run(mut self, rx: Receiver<Message>) {
        loop {
            self.deliver_spool();
            let msg = if self.spool.is_empty() {
                rx.recv().map_err(|_| RecvTimeoutError::Disconnected)
            } else {
                rx.recv_timeout(self.next_try.saturating_duration_since(Instant::now()))
            };
            match msg {
                Ok(Message::Event(event)) => self.deliver(event),
                Ok(Message::Flush { deadline, done }) => {
                    self.flush(deadline);
                    let _ = done.send(self.spool.len());
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
        }
        if let Err(e) = self.spool.close() {
            self.log.warning(&format!("cannot rewrite the spool {}: {e}", self.config.spool.display()));
        }
    }

    /// Sends directly when nothing waits before this event, else appends it to the spool.
    fn deliver(&mut self, event: String) {
        if self.spool.is_empty() && self.connected() && self.send(&event) {
            return;
        }
        self.stats.spooled.fetch_add(1, Ordering::Relaxed);
        match self.spool.push(&event) {
            Ok(false) => {}
            Ok(true) => count_drop(
                &self.stats,
                &*self.log,
                &format!("spool full ({} events), the oldest went", self.spool.len()),
            ),
            Err(e) => count_drop(
                &self.stats,
                &*self.log,
                &format!("cannot write the spool {}: {e}", self.config.spool.display()),
            ),
        }
        self.stats.pending.store(self.spool.len() as u64, Ordering::Relaxed);
    }

    /// Sends spooled events, oldest first, while the broker takes them.
    fn deliver_spool(&mut self) {
        while let Some(event) = self.spool.front().map(str::to_string) {
            if !self.connected() || !self.send(&event) {
                break;
            }
            if let Err(e) = self.spool.pop_front() {
                self.log.warning(&format!("cannot rewrite the spool {}: {e}", self.config.spool.display()));
            }
            self.stats.pending.store(self.spool.len() as u64, Ordering::Relaxed);
        }
    }

    fn flush(&mut self, deadline: Instant) {
        loop {
            self.deliver_spool();
            let now = Instant::now();
            if self.spool.is_empty() || now >= deadline {
                return;
            }
            std::thread::sleep(self.next_try.min(deadline).saturating_duration_since(now));
        }
    }

    /// Whether a connection is open, opening one when the backoff allows a try.
    fn connected(&mut self) -> bool {
        if !self.transport.is_connected() && Instant::now() >= self.next_try {
            match self.transport.connect() {
                Ok(()) => {
                    self.log.info(&format!("connected to {}", self.transport.describe()));
                    self.backoff = MIN_BACKOFF;
                    self.refused = None;
                    self.stats.connected.store(true, Ordering::Relaxed);
                }
                Err(e) => self.failed(&format!("cannot connect to {}", self.transport.describe()), e),
            }
        }
        self.transport.is_connected()
    }

    /// Delivers one event. A connection found broken (the broker or a NAT closed it while idle)
    /// is reopened once at once: only when that fails too is it an outage.
    fn send(&mut self, event: &str) -> bool {
        let mut result = self.transport.deliver(event);
        if matches!(result, Err(Failure::Unreachable(_))) && self.transport.connect().is_ok() {
            result = self.transport.deliver(event);
        }
        match result {
            Ok(()) => {
                self.stats.sent.fetch_add(1, Ordering::Relaxed);
                true
            }
            Err(e) => {
                self.failed(&format!("sending to {} failed", self.transport.describe()), e);
                false
            }
        }
    }

    /// A connection or a delivery failed. The broker may be unreachable (an outage: warned once,
    /// retried), or up and refusing: its reply is said once, as an error where no retry can help,
    /// else as a warning. Either way the events wait in the spool and retries go on, less often
    /// each time.
    fn failed(&mut self, what: &str, failure: Failure) {
        match failure {
            Failure::Refused { reply, settings } => {
                if self.refused.as_deref() != Some(&reply) {
                    let msg = format!(
                        "{what}: {} answered '{reply}'; events wait in {} until it accepts them",
                        self.transport.name(),
                        self.config.spool.display()
                    );
                    if settings {
                        self.log.error(&msg);
                    } else {
                        self.log.warning(&msg);
                    }
                    self.refused = Some(reply);
                }
                self.stats.connected.store(false, Ordering::Relaxed);
                self.retry_later();
            }
            Failure::Unreachable(why) => self.lost(&format!("{what}: {why}")),
        }
    }

    fn retry_later(&mut self) {
        self.next_try = Instant::now() + self.backoff;
        self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
    }

    /// The broker is unreachable: warn once per outage, retry later, less often each time.
    fn lost(&mut self, why: &str) {
        if self.stats.connected.swap(false, Ordering::Relaxed) || self.backoff == MIN_BACKOFF {
            self.log.warning(&format!("{why}; spooling events to {} until it is back", self.config.spool.display()));
        }
        self.retry_later();
    }
}
