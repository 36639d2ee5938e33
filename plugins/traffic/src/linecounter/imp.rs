use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::prelude::*;
use gst_base::subclass::prelude::*;
use traffic_meta::{ClassTotal, Counts, Crossing, LineTotals, ZoneEvent, ZoneEventKind, ZoneOccupant, ZoneState};
use traffic_vision::counting::bins::{parse_duration, ClosedBin};
use traffic_vision::counting::calibration::CalibrationSpec;
use traffic_vision::counting::survey::Survey;
use traffic_vision::counting::zones::{self, Zone, ZoneCounter, ZoneSpec, DEFAULT_LOST_AFTER};
use traffic_vision::counting::{first_repeated, Anchor, CrossingCounter, Line, LineSpec, TrackObservation};
use traffic_vision::BBox;

use super::config;
use super::AnchorChoice;
use crate::lock;
use crate::video;

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new("linecounter", gst::DebugColorFlags::empty(), Some("Line crossing counter"))
});

impl AnchorChoice {
    fn anchor(self) -> Anchor {
        match self {
            AnchorChoice::BottomCenter => Anchor::BottomCenter,
            AnchorChoice::Center => Anchor::Center,
            AnchorChoice::TopCenter => Anchor::TopCenter,
        }
    }

    fn from_nick(nick: &str) -> Option<Self> {
        match nick {
            "bottom-center" => Some(AnchorChoice::BottomCenter),
            "center" => Some(AnchorChoice::Center),
            "top-center" => Some(AnchorChoice::TopCenter),
            _ => None,
        }
    }
}

const DEFAULT_MIN_FRAMES: u32 = 2;
/// Plates are remembered this many frames after their track was last seen.
const PLATE_MEMORY_FRAMES: u64 = 300;

#[derive(Clone, Debug)]
struct Settings {
    lines: String,
    zones: String,
    config: String,
    anchor: AnchorChoice,
    min_frames: Option<u32>,
    lost_after: u32,
    calibration: String,
    bin: String,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            lines: String::new(),
            zones: String::new(),
            config: String::new(),
            anchor: AnchorChoice::default(),
            min_frames: None,
            lost_after: DEFAULT_LOST_AFTER as u32,
            calibration: String::new(),
            bin: String::new(),
        }
    }
}

struct State {
    counter: CrossingCounter,
    zones: ZoneCounter,
    info: gst_video::VideoInfo,
    /// Latest plate text per track, for crossing events on frames without a plate read.
    plates: HashMap<u64, (String, u64)>,
    frame: u64,
    /// Stream time of the latest frame, seconds (zone dwell times).
    now: f64,
    /// Speeds, headways and bins.
    survey: Survey,
}

#[derive(Default)]
pub struct LineCounter {
    settings: Mutex<Settings>,
    /// Locked after `state` where both are.
    plan: Mutex<Option<Plan>>,
    state: Mutex<Option<State>>,
}

/// The lines and zones, anchor and hysteresis of the properties and the config file, parsed
/// once at start; a frame size only converts them to pixels.
struct Plan {
    lines: Vec<LineSpec>,
    zones: Vec<ZoneSpec>,
    anchor: Anchor,
    min_frames: u32,
    lost_after: u64,
    calibration: Option<CalibrationSpec>,
    /// Bin width, seconds.
    bin: Option<f64>,
}

impl Plan {
    fn lines(&self, width: u32, height: u32) -> Vec<Line> {
        self.lines.iter().map(|spec| spec.line(width, height)).collect()
    }

    fn zones(&self, width: u32, height: u32) -> Vec<Zone> {
        self.zones.iter().map(|z| z.in_pixels(width, height)).collect()
    }

    fn counters(&self, width: u32, height: u32) -> (CrossingCounter, ZoneCounter) {
        (
            CrossingCounter::new(self.lines(width, height), self.anchor, self.min_frames),
            ZoneCounter::new(self.zones(width, height), self.anchor, self.min_frames, self.lost_after),
        )
    }
}

impl LineCounter {
    /// Reads the properties and the config file.
    fn plan(&self) -> Result<Plan, String> {
        let s = lock(&self.settings).clone();
        let mut specs = LineSpec::parse_list(&s.lines).map_err(|e| e.to_string())?;
        let mut zone_specs = ZoneSpec::parse_list(&s.zones).map_err(|e| e.to_string())?;
        let (mut file_min_frames, mut file_anchor, mut file_calibration, mut file_bin) = (None, None, None, None);
        if !s.config.is_empty() {
            let c = config::load(&s.config)?;
            specs.extend(c.lines);
            zone_specs.extend(c.zones);
            (file_min_frames, file_anchor, file_calibration, file_bin) = (c.min_frames, c.anchor, c.calibration, c.bin);
        }
        // The properties win over the file, as min-frames does.
        let calibration = match s.calibration.trim() {
            "" => file_calibration,
            spec => Some(CalibrationSpec::parse(spec).map_err(|e| e.to_string())?),
        };
        let bin = match s.bin.trim() {
            "" => file_bin,
            text => Some(parse_duration(text).map_err(|e| e.to_string())?),
        };
        if specs.is_empty() && zone_specs.is_empty() {
            return Err("no counting line or zone: set the 'lines' property (name:x1,y1,x2,y2[:in/out];...), 'zones' or 'config'".into());
        }
        if let Some(name) = first_repeated(specs.iter().map(|l| l.name.as_str())) {
            return Err(format!("line name '{name}' is both in 'lines' and in {}", s.config));
        }
        if let Some(name) = first_repeated(zone_specs.iter().map(|z| z.name.as_str())) {
            return Err(format!("zone name '{name}' is both in 'zones' and in {}", s.config));
        }
        let anchor = match file_anchor {
            Some(nick) => AnchorChoice::from_nick(&nick)
                .ok_or_else(|| format!("{}: anchor '{nick}' is none of bottom-center, center, top-center", s.config))?,
            None => s.anchor,
        };
        Ok(Plan {
            lines: specs,
            zones: zone_specs,
            anchor: anchor.anchor(),
            min_frames: s.min_frames.or(file_min_frames).unwrap_or(DEFAULT_MIN_FRAMES),
            lost_after: s.lost_after.into(),
            calibration,
            bin,
        })
    }

    fn post(&self, body: gst::Structure) {
        let _ = self.obj().post_message(gst::message::Element::builder(body).src(&*self.obj()).build());
    }

    fn reset(&self) {
        if let Some(state) = lock(&self.state).as_mut() {
            state.counter.reset();
            state.zones.reset();
            gst::info!(CAT, imp = self, "counters reset");
        }
    }
}

/// A tracked object's box as the counters see it (None for an untracked one).
fn observation(o: &traffic_meta::Object) -> Option<TrackObservation> {
    let t = o.track.as_ref()?;
    let b = &o.bbox;
    Some(TrackObservation {
        track_id: t.id,
        bbox: BBox::new(b.x1 as f32, b.y1 as f32, b.x2 as f32, b.y2 as f32),
        class: t.label.clone(),
    })
}

/// The zone events of a frame in metadata form, with the track's plate when known.
fn zone_events_of(
    counter: &ZoneCounter,
    events: Vec<zones::ZoneEvent>,
    plates: &HashMap<u64, (String, u64)>,
) -> Vec<ZoneEvent> {
    events
        .into_iter()
        .filter_map(|e| {
            Some(ZoneEvent {
                zone: counter.zones().get(e.zone)?.name.clone(),
                kind: match e.kind {
                    zones::ZoneEventKind::Enter => ZoneEventKind::Enter,
                    zones::ZoneEventKind::Exit => ZoneEventKind::Exit,
                },
                track_id: e.track_id,
                plate: plates.get(&e.track_id).map(|(p, _)| p.clone()),
                class: e.class,
                dwell: e.dwell,
                mean_speed_kmh: e.mean_speed_kmh,
            })
        })
        .collect()
}

/// Each zone's occupants at stream time `now` and its entries so far, in metadata form.
fn zones_of(zones: &ZoneCounter, now: f64) -> Vec<ZoneState> {
    zones
        .zones()
        .iter()
        .enumerate()
        .map(|(i, zone)| {
            let mut entries: Vec<(String, u64)> = zones.entries(i).iter().map(|(c, n)| (c.clone(), *n)).collect();
            entries.sort();
            ZoneState {
                name: zone.name.clone(),
                points: zone.polygon.clone(),
                occupants: zones
                    .occupants(i, now)
                    .into_iter()
                    .map(|o| ZoneOccupant { track_id: o.track_id, class: o.class, dwell: o.dwell })
                    .collect(),
                entries,
            }
        })
        .collect()
}

/// The counter's totals (and this frame's crossings and zone events) in metadata form.
fn counts_of(
    counter: &CrossingCounter,
    crossings: Vec<Crossing>,
    zones: Vec<ZoneState>,
    zone_events: Vec<ZoneEvent>,
) -> Counts {
    let lines = counter
        .lines()
        .iter()
        .zip(counter.totals())
        .map(|(line, totals)| {
            let mut totals: Vec<ClassTotal> = totals
                .iter()
                .map(|((class, inward), count)| ClassTotal {
                    class: class.clone(),
                    direction: if *inward { line.in_name.clone() } else { line.out_name.clone() },
                    count: *count,
                })
                .collect();
            totals.sort_by(|a, b| (&a.class, &a.direction).cmp(&(&b.class, &b.direction)));
            LineTotals {
                name: line.name.clone(),
                start: line.start,
                end: line.end,
                in_name: line.in_name.clone(),
                out_name: line.out_name.clone(),
                totals,
            }
        })
        .collect();
    Counts { lines, crossings, zones, zone_events }
}

/// A closed bin in metadata form: line and direction names for the counter's indices.
fn bin_of(counter: &CrossingCounter, bin: &ClosedBin) -> traffic_meta::Bin {
    traffic_meta::Bin {
        start: bin.start,
        end: bin.end,
        counts: bin
            .tallies
            .iter()
            .filter_map(|((line, class, inward), tally)| {
                let line = counter.lines().get(*line)?;
                Some(traffic_meta::BinCount {
                    line: line.name.clone(),
                    class: class.clone(),
                    direction: if *inward { line.in_name.clone() } else { line.out_name.clone() },
                    count: tally.count,
                    mean_speed_kmh: tally.mean_speed_kmh(),
                    mean_headway_s: tally.mean_headway_s(),
                })
            })
            .collect(),
    }
}

#[glib::object_subclass]
impl ObjectSubclass for LineCounter {
    const NAME: &'static str = "GstLineCounter";
    type Type = super::LineCounter;
    type ParentType = gst_base::BaseTransform;
}

impl ObjectImpl for LineCounter {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            vec![
                glib::ParamSpecString::builder("lines")
                    .nick("Lines")
                    .blurb("Counting lines 'name:x1,y1,x2,y2[:in/out];...': coordinates all within 0..1 are fractions of the frame, else pixels. 'in' is a crossing towards the side that (end - start) turned 90 degrees clockwise on screen points to: a line drawn left to right counts downward motion as 'in'")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("zones")
                    .nick("Zones")
                    .blurb("Polygon zones 'name:x1,y1,x2,y2,x3,y3[,...];...' (fractions of the frame when all coordinates are within 0..1, else pixels): occupancy per class, dwell time and entries of the tracks whose anchor is inside, with the same min-frames hysteresis; a traffic-zone message per entry and exit")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("config")
                    .nick("Config file")
                    .blurb("TOML file with [[line]] tables (name, points = [x1,y1,x2,y2], in, out), [[zone]] tables (name, points = [x1,y1,x2,y2,x3,y3,...]) and optional min-frames and anchor; its lines and zones are added to those of 'lines' and 'zones'")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecEnum::builder_with_default("anchor", AnchorChoice::default())
                    .nick("Anchor")
                    .blurb("Point of the box whose path must cross the line")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("min-frames")
                    .nick("Minimum frames")
                    .blurb("Observations a track must stay on the new side before its crossing counts (hysteresis against jitter)")
                    .minimum(1)
                    .maximum(1000)
                    .default_value(DEFAULT_MIN_FRAMES)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("calibration")
                    .nick("Calibration")
                    .blurb("The view's ground plane 'u1,v1,u2,v2,u3,v3,u4,v4:X1,Y1,X2,Y2,X3,Y3,X4,Y4': four image points in order around a quadrilateral on the road (fractions of the frame when all within 0..1, else pixels) and the same points on the ground in metres. Enables speed_kmh on tracked objects and on crossings (fitted over the last second of the anchor's ground path)")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("bin")
                    .nick("Bin")
                    .blurb("Counts per interval of stream time, e.g. '15m', '10s', '1h' (empty: off): each closed bin posts a traffic-bin message with the crossings per line, class and direction, their mean speed and headway")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("lost-after")
                    .nick("Lost after")
                    .blurb("Frames a track the tracker stops reporting (a parked car hidden by traffic) stays in its zones before it counts as gone: give mottracker's track-buffer")
                    .minimum(1)
                    .maximum(100_000)
                    .default_value(DEFAULT_LOST_AFTER as u32)
                    .mutable_ready()
                    .build(),
            ]
        });
        PROPERTIES.as_ref()
    }

    fn signals() -> &'static [glib::subclass::Signal] {
        static SIGNALS: LazyLock<Vec<glib::subclass::Signal>> = LazyLock::new(|| {
            vec![glib::subclass::Signal::builder("reset")
                .action()
                .class_handler(|args| {
                    if let Some(element) = args.first().and_then(|v| v.get::<super::LineCounter>().ok()) {
                        element.imp().reset();
                    }
                    None
                })
                .build()]
        });
        SIGNALS.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        if !crate::settable(self.obj().upcast_ref(), *CAT, pspec) {
            return;
        }
        let mut s = lock(&self.settings);
        match pspec.name() {
            "lines" => s.lines = value.get::<Option<String>>().ok().flatten().unwrap_or_default(),
            "zones" => s.zones = value.get::<Option<String>>().ok().flatten().unwrap_or_default(),
            "config" => s.config = value.get::<Option<String>>().ok().flatten().unwrap_or_default(),
            "anchor" => s.anchor = value.get().unwrap_or(s.anchor),
            "min-frames" => s.min_frames = value.get().ok(),
            "lost-after" => s.lost_after = value.get().unwrap_or(s.lost_after),
            "calibration" => s.calibration = value.get::<Option<String>>().ok().flatten().unwrap_or_default(),
            "bin" => s.bin = value.get::<Option<String>>().ok().flatten().unwrap_or_default(),
            name => gst::warning!(CAT, imp = self, "unknown property {name}"),
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        let s = lock(&self.settings);
        match pspec.name() {
            "lines" => s.lines.to_value(),
            "zones" => s.zones.to_value(),
            "config" => s.config.to_value(),
            "anchor" => s.anchor.to_value(),
            "min-frames" => s.min_frames.unwrap_or(DEFAULT_MIN_FRAMES).to_value(),
            "lost-after" => s.lost_after.to_value(),
            "calibration" => s.calibration.to_value(),
            "bin" => s.bin.to_value(),
            _ => glib::Value::from_type(pspec.value_type()),
        }
    }
}

impl GstObjectImpl for LineCounter {}

impl ElementImpl for LineCounter {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static META: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "Line counter",
                "Filter/Analyzer/Video",
                "Counts tracked objects crossing virtual lines, per class and direction, and in polygon zones; with a calibration their speed; attaches TrafficCountsMeta and posts traffic-crossing, traffic-wrong-way, traffic-zone, traffic-bin and traffic-summary messages",
                "traffic-vision developers",
            )
        });
        Some(&*META)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static TEMPLATES: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| video::pad_templates(&video::any_caps()));
        TEMPLATES.as_ref()
    }
}

impl BaseTransformImpl for LineCounter {
    const MODE: gst_base::subclass::BaseTransformMode = gst_base::subclass::BaseTransformMode::AlwaysInPlace;
    const PASSTHROUGH_ON_SAME_CAPS: bool = false;
    const TRANSFORM_IP_ON_PASSTHROUGH: bool = false;

    fn start(&self) -> Result<(), gst::ErrorMessage> {
        // Read once, here, so a typo fails at start and caps never wait on a file.
        let plan = self.plan().map_err(|e| gst::error_msg!(gst::ResourceError::Settings, ["{}", e]))?;
        *lock(&self.plan) = Some(plan);
        Ok(())
    }

    fn stop(&self) -> Result<(), gst::ErrorMessage> {
        *lock(&self.state) = None;
        *lock(&self.plan) = None;
        Ok(())
    }

    fn set_caps(&self, incaps: &gst::Caps, _outcaps: &gst::Caps) -> Result<(), gst::LoggableError> {
        let info = video::info_from_caps(&CAT, incaps)?;
        let mut guard = lock(&self.state);
        let same_size =
            guard.as_ref().is_some_and(|s| s.info.width() == info.width() && s.info.height() == info.height());
        if same_size {
            if let Some(state) = guard.as_mut() {
                state.info = info;
            }
            return Ok(());
        }
        // Lines given in fractions move with the frame size.
        let plan = lock(&self.plan);
        let plan = plan.as_ref().ok_or_else(|| gst::loggable_error!(CAT, "caps before start"))?;
        match guard.as_mut() {
            // A new size mid-stream (a camera back at another resolution): the totals go on.
            Some(state) => {
                gst::info!(
                    CAT,
                    imp = self,
                    "frame size changed to {}x{}: lines moved, totals kept",
                    info.width(),
                    info.height()
                );
                let (w, h) = (info.width(), info.height());
                state.counter.relocate(plan.lines(w, h)).map_err(|e| gst::loggable_error!(CAT, "{e}"))?;
                state.zones.relocate(plan.zones(w, h)).map_err(|e| gst::loggable_error!(CAT, "{e}"))?;
                state.survey.relocate(plan.calibration.as_ref(), w, h).map_err(|e| gst::loggable_error!(CAT, "{e}"))?;
                state.info = info;
            }
            None => {
                let (w, h) = (info.width(), info.height());
                let (counter, zones) = plan.counters(w, h);
                let survey = Survey::new(plan.calibration.as_ref(), plan.bin, plan.anchor, w, h)
                    .map_err(|e| gst::loggable_error!(CAT, "{e}"))?;
                *guard = Some(State { counter, zones, info, plates: HashMap::new(), frame: 0, now: 0.0, survey });
            }
        }
        Ok(())
    }

    fn sink_event(&self, event: gst::Event) -> bool {
        if matches!(event.view(), gst::EventView::Eos(_) | gst::EventView::FlushStop(_)) {
            // The open bin closes where the frames stopped; a seek also ends every path and headway.
            let bin = lock(&self.state).as_mut().and_then(|s| s.survey.interrupt().map(|b| bin_of(&s.counter, &b)));
            if let Some(bin) = bin {
                self.post(traffic_meta::bin_structure(&bin));
            }
        }
        if let gst::EventView::Eos(_) = event.view() {
            let summary = match lock(&self.state).as_ref() {
                Some(s) => Some((counts_of(&s.counter, Vec::new(), zones_of(&s.zones, s.now), Vec::new()), s.frame)),
                // EOS before any caps (an empty stream): zero totals, and the lines at a 0x0
                // frame since no size is known.
                None => lock(&self.plan).as_ref().map(|plan| {
                    let (c, z) = plan.counters(0, 0);
                    (counts_of(&c, Vec::new(), zones_of(&z, 0.0), Vec::new()), 0)
                }),
            };
            if let Some((counts, frames)) = summary {
                self.post(traffic_meta::summary_structure(&traffic_meta::Summary { counts, frames }));
            }
        }
        self.parent_sink_event(event)
    }

    fn transform_ip(&self, buf: &mut gst::BufferRef) -> Result<gst::FlowSuccess, gst::FlowError> {
        let mut guard = lock(&self.state);
        let state = guard.as_mut().ok_or(gst::FlowError::NotNegotiated)?;
        state.frame += 1;
        let size = video::frame_size(&state.info);
        let objects = traffic_meta::objects(buf, size);
        let frame = state.frame;
        for o in objects.iter().filter(|o| o.is_plate()) {
            let parent = objects.iter().find(|v| v.roi_id == o.parent_id).and_then(|v| v.track.as_ref());
            let text = o.plate.as_ref().map(|p| if p.track_text.is_empty() { &p.text } else { &p.track_text });
            if let (Some(track), Some(text)) = (parent, text) {
                state.plates.insert(track.id, (text.clone(), frame));
            }
        }
        state.plates.retain(|_, (_, seen)| frame - *seen <= PLATE_MEMORY_FRAMES);
        // Only confirmed tracks on a real detection count; predicted boxes never do. Presence in
        // a zone also holds through the tracker's predicted boxes (a parked car hidden for a
        // moment is still there).
        let present: Vec<TrackObservation> = objects.iter().filter_map(observation).collect();
        let observations: Vec<TrackObservation> =
            objects.iter().filter(|o| o.track.as_ref().is_some_and(|t| !t.predicted)).filter_map(observation).collect();
        let events = state.counter.update(&observations);
        let fps = state.info.fps();
        let pts = buf.pts();
        let running_time = self
            .obj()
            .segment()
            .downcast_ref::<gst::ClockTime>()
            .and_then(|seg| pts.and_then(|p| seg.to_running_time(p)));
        // Dwell is measured in running time, as crossings are: after a concat or a new segment
        // the timestamps start over, running time goes on.
        state.now = match running_time.or(pts) {
            Some(t) => t.nseconds() as f64 / 1e9,
            None if fps.numer() > 0 => frame as f64 * fps.denom() as f64 / fps.numer() as f64,
            None => frame as f64,
        };
        let zone_events = state.zones.update(state.now, &present);
        let zone_events = zone_events_of(&state.zones, zone_events, &state.plates);
        // Bins run on stream time (the position in the media, as a report is read against it).
        let stream_time = self
            .obj()
            .segment()
            .downcast_ref::<gst::ClockTime>()
            .and_then(|seg| pts.and_then(|p| seg.to_stream_time(p)))
            .map_or(state.now, |t| t.nseconds() as f64 / 1e9);
        let frame_seconds = buf.duration().map(|d| d.nseconds() as f64 / 1e9).unwrap_or_else(|| {
            if fps.numer() > 0 {
                fps.denom() as f64 / fps.numer() as f64
            } else {
                0.0
            }
        });
        let closed: Vec<traffic_meta::Bin> = state
            .survey
            .frame(stream_time, frame_seconds, state.now, &observations)
            .iter()
            .map(|b| bin_of(&state.counter, b))
            .collect();
        let survey = &state.survey;
        state.zones.add_speeds(|track_id| survey.speed_kmh(track_id));
        let crossings: Vec<Crossing> = events
            .iter()
            .map(|e| {
                let line = &state.counter.lines()[e.line];
                let (speed_kmh, headway_s) = state.survey.crossing(e, state.now);
                Crossing {
                    line: line.name.clone(),
                    direction: if e.inward { line.in_name.clone() } else { line.out_name.clone() },
                    track_id: e.track_id,
                    class: e.class.clone(),
                    plate: state.plates.get(&e.track_id).map(|(p, _)| p.clone()),
                    speed_kmh,
                    headway_s,
                    wrong_way: e.wrong_way,
                }
            })
            .collect();
        let speeds: Vec<(i32, f64)> =
            objects.iter().filter_map(|o| Some((o.roi_id, state.survey.speed_kmh(o.track.as_ref()?.id)?))).collect();
        let counts = counts_of(&state.counter, crossings, zones_of(&state.zones, state.now), zone_events);
        drop(guard);
        for bin in &closed {
            self.post(traffic_meta::bin_structure(bin));
        }
        for c in &counts.crossings {
            gst::debug!(CAT, imp = self, "track {} {} crossed {} ({})", c.track_id, c.class, c.line, c.direction);
            let m = traffic_meta::CrossingMessage { crossing: c.clone(), pts, running_time };
            self.post(traffic_meta::crossing_structure(&m));
            if c.wrong_way {
                gst::info!(
                    CAT,
                    imp = self,
                    "track {} {} crossed {} the wrong way ({})",
                    c.track_id,
                    c.class,
                    c.line,
                    c.direction
                );
                self.post(traffic_meta::wrong_way_structure(&m));
            }
        }
        for e in &counts.zone_events {
            gst::debug!(
                CAT,
                imp = self,
                "track {} {} {} {} ({:.1} s)",
                e.track_id,
                e.class,
                e.kind.as_str(),
                e.zone,
                e.dwell
            );
            self.post(traffic_meta::zone_structure(&traffic_meta::ZoneMessage { event: e.clone(), pts, running_time }));
        }
        for (roi_id, kmh) in speeds {
            traffic_meta::set_speed(buf, roi_id, kmh);
        }
        traffic_meta::set_counts(buf, &counts);
        if !closed.is_empty() {
            traffic_meta::set_bins(buf, &closed);
        }
        Ok(gst::FlowSuccess::Ok)
    }
}
