//! Runs the pipeline to its end: bus messages, Ctrl-C, progress; then the summary and chart.

use std::cell::RefCell;
use std::io::{IsTerminal, Write};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};

use gst::glib;
use gst::prelude::*;
use traffic_meta::Counts;

use crate::chart;
use crate::config::Config;
use crate::counts_csv;
use crate::observe::{self, CrossingEvent, Observer};
use crate::pipeline::Built;
use crate::summary::{self, Ending, Summary};

/// How long the outputs may take to finish after Ctrl-C before the app gives up on them.
const EOS_TIMEOUT: Duration = Duration::from_secs(30);
/// How long Ctrl-C waits for the first frame (see [`on_tick`]) before it gives up on the outputs.
const FIRST_FRAME_TIMEOUT: Duration = Duration::from_secs(10);
const SIGNAL_POLL: Duration = Duration::from_millis(100);
const PROGRESS_TICK: Duration = Duration::from_secs(1);
/// Progress as log lines (not a terminal): one every this many ticks.
const PROGRESS_LOG_TICKS: u32 = 5;
const BAR_WIDTH: usize = 30;

/// SIGINT and SIGTERM received; the handler may only touch an atomic.
static SIGNALS: AtomicU32 = AtomicU32::new(0);

extern "C" fn on_signal(_: libc::c_int) {
    SIGNALS.fetch_add(1, Ordering::SeqCst);
}

/// Counts SIGINT and SIGTERM from now on instead of dying of them: called first thing, so that
/// a Ctrl-C while the pipeline is being built still ends the run cleanly.
pub fn catch_signals() {
    let handler: extern "C" fn(libc::c_int) = on_signal;
    for signal in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: the handler is async-signal-safe: it increments an atomic and nothing else.
        unsafe { libc::signal(signal, handler as libc::sighandler_t) };
    }
}

/// What the main loop learns from the bus and the signals.
#[derive(Default)]
pub struct Session {
    pub crossings: Vec<CrossingEvent>,
    /// linecounter's `traffic-summary` at EOS.
    pub final_counts: Option<Counts>,
    /// linecounter's closed bins (`[counting] bin`), for counts.csv.
    pub bins: Vec<traffic_meta::Bin>,
    pub ending: Option<Ending>,
    pub error: Option<String>,
    interrupted_at: Option<Instant>,
    eos_sent_at: Option<Instant>,
}

/// Runs the pipeline until the source ends, an error, or Ctrl-C, then writes the summary and
/// the chart. Returns the summary.
pub fn run(built: &Built, config: &Config) -> Result<Summary, String> {
    let started = Instant::now();
    let pipeline = &built.pipeline;
    let observer = Observer::default();
    observer.attach(&built.analysed);
    let session = Rc::new(RefCell::new(Session::default()));
    let main_loop = glib::MainLoop::new(None, false);
    let bus = pipeline.bus().ok_or("the pipeline has no bus")?;

    let _bus_watch = bus
        .add_watch_local({
            let (session, main_loop, pipeline) = (session.clone(), main_loop.clone(), pipeline.clone());
            move |_, message| {
                on_message(message, &pipeline, &mut session.borrow_mut());
                if session.borrow().ending.is_some() {
                    main_loop.quit();
                }
                glib::ControlFlow::Continue
            }
        })
        .map_err(|e| format!("cannot watch the bus: {e}"))?;
    let signal_poll = glib::timeout_add_local(SIGNAL_POLL, {
        let (session, main_loop, pipeline) = (session.clone(), main_loop.clone(), pipeline.clone());
        let flowing = built.flowing.clone();
        move || {
            on_tick(&pipeline, &mut session.borrow_mut(), &flowing, interrupts());
            if session.borrow().ending.is_some() {
                main_loop.quit();
            }
            glib::ControlFlow::Continue
        }
    });
    let mut progress = Progress::new(built.live);
    let progress_tick = glib::timeout_add_local(PROGRESS_TICK, {
        let (observer, pipeline, drops) = (observer.clone(), pipeline.clone(), built.drops.clone());
        move || {
            progress.tick(&pipeline, &observer, drops.count());
            glib::ControlFlow::Continue
        }
    });

    tracing::info!(source = %built.uri, live = built.live, out = %config.output.dir.display(), "starting");
    if pipeline.set_state(gst::State::Playing).is_err() {
        // The reason is on the bus; the watch reads it and ends the loop.
        tracing::debug!("the pipeline refused to start");
    }
    main_loop.run();
    signal_poll.remove();
    progress_tick.remove();
    Progress::finish();
    let dropped_frames = built.drops.count();
    let _ = pipeline.set_state(gst::State::Null);

    let summary = summarize(built, config, session.take(), &observer, started.elapsed(), dropped_frames)?;
    write_outputs(&summary)?;
    Ok(summary)
}

/// The summary of a finished run: linecounter's final counts, else the last frame's.
pub fn summarize(
    built: &Built,
    config: &Config,
    mut session: Session,
    observer: &Observer,
    wall: Duration,
    dropped_frames: u64,
) -> Result<Summary, String> {
    let observed = observer.lock();
    let counts = session.final_counts.take().or_else(|| observed.last_counts.clone()).unwrap_or_default();
    for c in &mut session.crossings {
        c.time = observed.since_start(c.pts);
    }
    let processing = observed.processing_seconds();
    Ok(Summary {
        source: built.uri.clone(),
        live: built.live,
        ending: session.ending.unwrap_or(Ending::Aborted),
        error: session.error,
        frames: observed.frames,
        dropped_frames,
        stream_seconds: observed.since_start(observed.last_pts),
        wall_seconds: wall.as_secs_f64(),
        // Frames after the first over the time since the first: model loading is not in it.
        mean_fps: if processing > 0.0 { observed.frames.saturating_sub(1) as f64 / processing } else { 0.0 },
        lines: summary::with_speeds(summary::lines(&counts), &session.crossings),
        zones: summary::zones(&counts, &observed.zones),
        crossings: session.crossings,
        bins: session.bins,
        plates: observed.plates.values().cloned().collect(),
        outputs: built.outputs.clone(),
        config: serde_json::to_value(config).map_err(|e| e.to_string())?,
    })
}

pub fn write_outputs(summary: &Summary) -> Result<(), String> {
    let path = &summary.outputs.summary;
    let text = serde_json::to_string_pretty(summary).map_err(|e| e.to_string())?;
    std::fs::write(path, text + "\n").map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    if !summary.bins.is_empty() {
        counts_csv::write(&path.with_file_name(counts_csv::FILE), &summary.bins)?;
    }
    if let Some(path) = &summary.outputs.chart {
        let series = summary::series(&summary.lines, &summary.crossings, &summary.zones);
        let title = if summary.zones.is_empty() {
            "Cumulative crossings per line and direction"
        } else {
            "Cumulative crossings per line and direction, and zone entries"
        };
        let rgb = chart::render(title, &series, summary.stream_seconds)?;
        chart::write_png(path, &rgb)?;
    }
    Ok(())
}

pub fn on_message(message: &gst::Message, pipeline: &gst::Pipeline, session: &mut Session) {
    use gst::MessageView;
    let source = message.src().map(|s| s.name().to_string()).unwrap_or_default();
    match message.view() {
        MessageView::Eos(_) => {
            session.ending =
                Some(if session.eos_sent_at.is_some() { Ending::Interrupted } else { Ending::EndOfStream });
        }
        MessageView::Error(e) => {
            let text = error_text(&source, &e.error().to_string(), e.debug().as_deref());
            tracing::error!(debug = ?e.debug(), "{text}");
            session.error = Some(text);
            session.ending = Some(Ending::Error);
        }
        MessageView::Warning(w) => tracing::warn!(debug = ?w.debug(), "{source}: {}", w.error()),
        MessageView::Latency(_) => {
            let _ = pipeline.recalculate_latency();
        }
        MessageView::Element(e) => {
            let Some(s) = e.structure() else { return };
            if let Some(c) = observe::crossing(s) {
                tracing::info!(line = %c.line, direction = %c.direction, class = %c.class, track = c.track_id,
                    plate = %c.plate.as_deref().unwrap_or(""), "crossing");
                session.crossings.push(c);
            } else if let Some(z) = traffic_meta::read_zone(s) {
                let e = z.event;
                tracing::info!(zone = %e.zone, event = e.kind.as_str(), class = %e.class, track = e.track_id,
                    dwell = %format!("{:.1}", e.dwell), "zone");
            } else if let Some(w) = traffic_meta::read_wrong_way(s) {
                let c = w.crossing;
                tracing::warn!(line = %c.line, direction = %c.direction, class = %c.class, track = c.track_id,
                    "wrong way");
            } else if let Some(bin) = traffic_meta::read_bin(s) {
                session.bins.push(bin);
            } else if let Some(summary) = traffic_meta::read_summary(s) {
                session.final_counts = Some(summary.counts);
            } else if s.name() == "traffic-source" {
                tracing::info!("{source}: {s}");
            } else {
                tracing::debug!("{source}: {s}");
            }
        }
        MessageView::StateChanged(sc) if message.src() == Some(pipeline.upcast_ref()) => {
            tracing::debug!("pipeline {:?} -> {:?}", sc.old(), sc.current());
        }
        _ => {}
    }
}

/// An error message for the user: GStreamer's text is generic ("Could not get/set settings
/// from/on resource"), the reason is the last line of its debug text.
fn error_text(source: &str, error: &str, debug: Option<&str>) -> String {
    let reason = debug.and_then(|d| d.rsplit_once('\n')).map(|(_, r)| r.trim()).filter(|r| !r.is_empty());
    match reason {
        Some(reason) => format!("{source}: {}: {reason}", error.trim_end_matches('.')),
        None => format!("{source}: {error}"),
    }
}

/// SIGINT and SIGTERM received so far.
pub fn interrupts() -> u32 {
    SIGNALS.load(Ordering::SeqCst)
}

/// `signals` stop requests (Ctrl-C, or `serve` removing a camera) once: EOS, so the MP4 is
/// finalised and the counts summed up. Twice, or EOS taking too long: stop now. EOS waits for
/// the first decoded frame (`flowing`): sent earlier, it reaches a file source still finding the
/// type and reading the header, which then fails ("typefind: Internal data stream error")
/// instead of ending.
pub fn on_tick(pipeline: &gst::Pipeline, session: &mut Session, flowing: &AtomicBool, signals: u32) {
    if signals == 0 {
        return;
    }
    let interrupted_at = match session.interrupted_at {
        Some(_) if signals >= 2 => {
            tracing::warn!("interrupted twice: quitting, the MP4 may be unfinished");
            session.ending = Some(Ending::Aborted);
            return;
        }
        Some(at) => at,
        None => {
            tracing::info!("interrupted: finishing the outputs (Ctrl-C again to quit at once)");
            *session.interrupted_at.insert(Instant::now())
        }
    };
    match session.eos_sent_at {
        None if flowing.load(Ordering::SeqCst) => {
            session.eos_sent_at = Some(Instant::now());
            pipeline.send_event(gst::event::Eos::new());
        }
        None if interrupted_at.elapsed() > FIRST_FRAME_TIMEOUT => {
            tracing::warn!("no frame came within {FIRST_FRAME_TIMEOUT:?} of Ctrl-C: quitting");
            session.ending = Some(Ending::Aborted);
        }
        Some(at) if at.elapsed() > EOS_TIMEOUT => {
            tracing::warn!("the pipeline did not finish within {EOS_TIMEOUT:?} of Ctrl-C: quitting");
            session.ending = Some(Ending::Aborted);
        }
        _ => {}
    }
}

/// A progress bar on a terminal, log lines otherwise.
struct Progress {
    live: bool,
    terminal: bool,
    ticks: u32,
}

impl Progress {
    fn new(live: bool) -> Self {
        Progress { live, terminal: std::io::stderr().is_terminal(), ticks: 0 }
    }

    fn tick(&mut self, pipeline: &gst::Pipeline, observer: &Observer, dropped: u64) {
        self.ticks += 1;
        if !self.terminal && !self.ticks.is_multiple_of(PROGRESS_LOG_TICKS) {
            return;
        }
        let (frames, seconds) = {
            let o = observer.lock();
            (o.frames, o.processing_seconds())
        };
        if frames == 0 {
            return;
        }
        let fps = if seconds > 0.0 { frames as f64 / seconds } else { 0.0 };
        let position = pipeline.query_position::<gst::ClockTime>();
        let duration = pipeline.query_duration::<gst::ClockTime>().filter(|d| !d.is_zero() && !self.live);
        let fraction = position.zip(duration).map(|(p, d)| (p.nseconds() as f64 / d.nseconds() as f64).clamp(0.0, 1.0));
        let eta = fraction.filter(|f| *f > 0.0).map(|f| seconds * (1.0 - f) / f);
        if self.terminal {
            let bar = fraction.map_or(String::new(), |f| {
                let done = (f * BAR_WIDTH as f64).round() as usize;
                format!("[{}{}] {:3.0}% ", "#".repeat(done), ".".repeat(BAR_WIDTH - done), f * 100.0)
            });
            let eta = eta.map_or(String::new(), |s| format!(" ETA {}", clock(s)));
            let dropped = if self.live { format!(" {dropped} dropped") } else { String::new() };
            eprint!("\r\x1b[2K{bar}{frames} frames {fps:.1} fps{eta}{dropped}");
            let _ = std::io::stderr().flush();
        } else {
            tracing::info!(
                frames,
                fps = %format!("{fps:.1}"),
                percent = %fraction.map(|f| format!("{:.0}", f * 100.0)).unwrap_or_default(),
                eta = %eta.map(clock).unwrap_or_default(),
                dropped,
                "progress"
            );
        }
    }

    /// Ends the bar's line on a terminal.
    fn finish() {
        if std::io::stderr().is_terminal() {
            eprintln!();
        }
    }
}

fn clock(seconds: f64) -> String {
    let s = seconds.round() as u64;
    format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_carry_the_reason_from_the_debug_text() {
        let debug = "imp.rs(398): start (): /GstPipeline:p/GstLineCounter:linecounter0:\nbad setting: line 'a'";
        assert_eq!(
            error_text("linecounter0", "Could not get/set settings from/on resource.", Some(debug)),
            "linecounter0: Could not get/set settings from/on resource: bad setting: line 'a'"
        );
        assert_eq!(error_text("src", "Not found.", None), "src: Not found.");
    }

    #[test]
    fn clock_reads_hours_minutes_seconds() {
        assert_eq!(clock(0.4), "0:00:00");
        assert_eq!(clock(75.0), "0:01:15");
        assert_eq!(clock(3725.0), "1:02:05");
    }
}
