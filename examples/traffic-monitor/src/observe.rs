//! What the app learns from the stream: frames and the metadata on them (a pad probe on the
//! streaming thread: plates, zone occupancy and visits), and linecounter's crossing and summary
//! messages (the bus).

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use gst::prelude::*;
use traffic_meta::{Counts, FrameSize, ZoneEventKind};

/// A plate as its track was read, over the whole run.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct PlateSeen {
    pub track_id: u64,
    /// The track's voted text (the latest), else the latest raw read.
    pub text: String,
    pub confidence: f64,
    pub first_pts: f64,
    pub last_pts: f64,
    /// Frames on which the plate was read.
    pub reads: u64,
}

/// One `traffic-crossing` message.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct CrossingEvent {
    pub line: String,
    pub direction: String,
    pub class: String,
    pub track_id: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plate: Option<String>,
    /// Stream time in seconds from the first frame (see [`Observed::since_start`]).
    pub time: f64,
    /// With a calibration, when the track was seen long enough.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub speed_kmh: Option<f64>,
    /// Seconds since the previous crossing of the line in the same direction.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub headway_s: Option<f64>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub wrong_way: bool,
    #[serde(skip)]
    pub pts: Option<gst::ClockTime>,
}

/// One zone over the run, from the counts on every frame.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ZoneTally {
    /// Most tracks inside at once, and the first stream time (seconds) it was reached.
    pub peak_occupancy: u64,
    pub peak_time: f64,
    /// Visits that ended (the track left, or was lost): how many, their dwell summed and the
    /// longest, in seconds.
    pub visits: u64,
    pub dwell_sum: f64,
    pub dwell_max: f64,
    /// The ended visits' mean speeds (a calibrated view) summed, and how many had one.
    pub speed_sum: f64,
    pub speeds: u64,
    /// Stream time of each entry, for the chart (a number per entry, as the crossings keep).
    pub entry_times: Vec<f64>,
}

#[derive(Debug, Default)]
pub struct Observed {
    pub frames: u64,
    pub size: Option<FrameSize>,
    pub first_pts: Option<gst::ClockTime>,
    pub last_pts: Option<gst::ClockTime>,
    pub first_frame_at: Option<Instant>,
    pub last_frame_at: Option<Instant>,
    /// The counts on the latest frame: the totals when the run ends without a summary.
    pub last_counts: Option<Counts>,
    pub plates: BTreeMap<u64, PlateSeen>,
    pub zones: BTreeMap<String, ZoneTally>,
    /// `(stream seconds, crossings of every line so far)` where the total changed, the latest
    /// [`CROSSING_HISTORY`]: the counts-over-time chart of a camera that runs for months.
    pub crossing_history: VecDeque<(f64, u64)>,
}

/// Changes of the crossings total kept for the dashboard's chart.
pub const CROSSING_HISTORY: usize = 2000;

fn seconds(t: gst::ClockTime) -> f64 {
    t.nseconds() as f64 / 1e9
}

impl Observed {
    /// Seconds of stream from the first frame to `pts`.
    pub fn since_start(&self, pts: Option<gst::ClockTime>) -> f64 {
        match (self.first_pts, pts) {
            (Some(first), Some(pts)) => seconds(pts.saturating_sub(first)),
            _ => 0.0,
        }
    }

    /// Seconds of wall clock from the first analysed frame to the last.
    pub fn processing_seconds(&self) -> f64 {
        match (self.first_frame_at, self.last_frame_at) {
            (Some(a), Some(b)) => (b - a).as_secs_f64(),
            _ => 0.0,
        }
    }

    fn tally_zones(&mut self, counts: &Counts, time: f64) {
        for zone in &counts.zones {
            let tally = self.zones.entry(zone.name.clone()).or_default();
            let inside = zone.occupants.len() as u64;
            if inside > tally.peak_occupancy {
                (tally.peak_occupancy, tally.peak_time) = (inside, time);
            }
        }
        for e in &counts.zone_events {
            let tally = self.zones.entry(e.zone.clone()).or_default();
            match e.kind {
                ZoneEventKind::Enter => tally.entry_times.push(time),
                ZoneEventKind::Exit => {
                    tally.visits += 1;
                    tally.dwell_sum += e.dwell;
                    tally.dwell_max = tally.dwell_max.max(e.dwell);
                    if let Some(v) = e.mean_speed_kmh {
                        tally.speed_sum += v;
                        tally.speeds += 1;
                    }
                }
            }
        }
    }

    fn frame(&mut self, buffer: &gst::BufferRef) {
        let now = Instant::now();
        self.frames += 1;
        self.first_frame_at.get_or_insert(now);
        self.last_frame_at = Some(now);
        if let Some(pts) = buffer.pts() {
            self.first_pts.get_or_insert(pts);
            self.last_pts = Some(pts);
        }
        if let Some(counts) = traffic_meta::counts(buffer) {
            let time = self.since_start(buffer.pts());
            self.tally_zones(&counts, time);
            let total = counts.crossings_total();
            if self.crossing_history.back().map(|&(_, seen)| seen) != Some(total) {
                if self.crossing_history.len() == CROSSING_HISTORY {
                    self.crossing_history.pop_front();
                }
                self.crossing_history.push_back((time, total));
            }
            self.last_counts = Some(counts);
        }
        let Some(size) = self.size else { return };
        let pts = self.since_start(buffer.pts());
        let objects = traffic_meta::objects(buffer, size);
        for plate_roi in objects.iter().filter(|o| o.is_plate()) {
            let (Some(plate), Some(track)) = (
                plate_roi.plate.as_ref(),
                objects.iter().find(|v| v.roi_id == plate_roi.parent_id).and_then(|v| v.track.as_ref()),
            ) else {
                continue;
            };
            let (text, confidence) = if plate.track_text.is_empty() {
                (&plate.text, plate.confidence)
            } else {
                (&plate.track_text, plate.track_confidence)
            };
            if text.is_empty() {
                continue;
            }
            let seen = self.plates.entry(track.id).or_insert_with(|| PlateSeen {
                track_id: track.id,
                text: String::new(),
                confidence: 0.0,
                first_pts: pts,
                last_pts: pts,
                reads: 0,
            });
            if seen.text != *text {
                tracing::info!(track = track.id, text = %text, confidence = %format!("{confidence:.2}"), "plate");
            }
            seen.text = text.clone();
            seen.confidence = confidence;
            seen.last_pts = pts;
            seen.reads += 1;
        }
    }
}

/// Shared between the probe (streaming thread) and the main loop.
#[derive(Clone, Default)]
pub struct Observer(Arc<Mutex<Observed>>);

impl Observer {
    pub fn lock(&self) -> MutexGuard<'_, Observed> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Watches every buffer and caps event through `pad`.
    pub fn attach(&self, pad: &gst::Pad) {
        let this = self.clone();
        pad.add_probe(gst::PadProbeType::BUFFER | gst::PadProbeType::EVENT_DOWNSTREAM, move |_, info| {
            match &info.data {
                Some(gst::PadProbeData::Buffer(buffer)) => this.lock().frame(buffer),
                Some(gst::PadProbeData::Event(event)) => {
                    if let gst::EventView::Caps(caps) = event.view() {
                        if let Ok(v) = gst_video::VideoInfo::from_caps(caps.caps()) {
                            this.lock().size = Some(FrameSize { width: v.width(), height: v.height() });
                        }
                    }
                }
                _ => {}
            }
            gst::PadProbeReturn::Ok
        });
    }
}

/// Reads a `traffic-crossing` message (through traffic-meta, which owns its field names).
pub fn crossing(s: &gst::StructureRef) -> Option<CrossingEvent> {
    let m = traffic_meta::read_crossing(s)?;
    let c = m.crossing;
    Some(CrossingEvent {
        line: c.line,
        direction: c.direction,
        class: c.class,
        track_id: c.track_id,
        plate: c.plate,
        time: 0.0,
        speed_kmh: c.speed_kmh,
        headway_s: c.headway_s,
        wrong_way: c.wrong_way,
        pts: m.pts,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use traffic_meta::{Detection, PixelBox, Plate, Track, NO_PARENT};

    #[test]
    fn plates_are_kept_per_track_with_first_and_last_time() {
        gst::init().unwrap();
        let size = FrameSize { width: 640, height: 360 };
        let mut observed = Observed { size: Some(size), ..Observed::default() };
        for (i, text) in ["AB1", "AB123"].iter().enumerate() {
            let mut buffer = gst::Buffer::new();
            let b = buffer.get_mut().unwrap();
            b.set_pts(gst::ClockTime::from_seconds(10 + i as u64));
            let bbox = PixelBox { x1: 10.0, y1: 10.0, x2: 200.0, y2: 150.0 };
            let car = Detection { label: "car".into(), label_id: 2, confidence: 0.9, bbox };
            let car_id = traffic_meta::add_detection(b, size, &car, NO_PARENT);
            traffic_meta::set_track(
                b,
                car_id,
                &Track { id: 7, age: 3, predicted: false, label: "car".into(), label_id: 2, speed_kmh: None },
            );
            let plate_box = Detection { label: "plate".into(), label_id: 0, confidence: 0.8, bbox };
            let plate_id = traffic_meta::add_plate_box(b, size, &plate_box, car_id);
            let plate =
                Plate { text: "X".into(), confidence: 0.5, track_text: text.to_string(), track_confidence: 0.7 };
            traffic_meta::set_plate(b, plate_id, &plate);
            observed.frame(b);
        }
        assert_eq!(observed.frames, 2);
        let seen = &observed.plates[&7];
        assert_eq!((seen.text.as_str(), seen.confidence, seen.reads), ("AB123", 0.7, 2));
        assert_eq!((seen.first_pts, seen.last_pts), (0.0, 1.0));
    }

    #[test]
    fn zones_keep_their_peak_and_the_dwell_of_ended_visits() {
        use traffic_meta::{ZoneEvent, ZoneOccupant, ZoneState};
        let occupant = |id| ZoneOccupant { track_id: id, class: "car".into(), dwell: 0.0 };
        let state = |inside: &[u64]| ZoneState {
            name: "road".into(),
            points: vec![(0.0, 0.0), (1.0, 0.0), (1.0, 1.0)],
            occupants: inside.iter().map(|id| occupant(*id)).collect(),
            entries: vec![],
        };
        let event = |kind, id, dwell| ZoneEvent {
            zone: "road".into(),
            kind,
            track_id: id,
            class: "car".into(),
            dwell,
            plate: None,
            mean_speed_kmh: None,
        };
        let (enter, exit) =
            (|id| event(ZoneEventKind::Enter, id, 0.0), |id, dwell| event(ZoneEventKind::Exit, id, dwell));
        let mut observed = Observed::default();
        let frames = [
            (vec![1], vec![enter(1)]),
            (vec![1, 2], vec![enter(2)]),
            (vec![2], vec![exit(1, 3.0)]),
            (vec![], vec![exit(2, 1.0)]),
        ];
        for (t, (inside, events)) in frames.into_iter().enumerate() {
            let counts = Counts { zones: vec![state(&inside)], zone_events: events, ..Counts::default() };
            observed.tally_zones(&counts, t as f64);
        }
        let tally = &observed.zones["road"];
        assert_eq!((tally.peak_occupancy, tally.peak_time), (2, 1.0));
        assert_eq!((tally.visits, tally.dwell_sum, tally.dwell_max), (2, 4.0, 3.0));
        assert_eq!(tally.entry_times, [0.0, 1.0]);
    }

    #[test]
    fn crossing_messages_are_read() {
        gst::init().unwrap();
        let sent = traffic_meta::Crossing {
            line: "street".into(),
            direction: "down".into(),
            track_id: 12,
            class: "car".into(),
            ..Default::default()
        };
        let pts = Some(gst::ClockTime::from_seconds(2));
        let s = traffic_meta::crossing_structure(&traffic_meta::CrossingMessage {
            crossing: sent,
            pts,
            running_time: None,
        });
        let c = crossing(&s).unwrap();
        assert_eq!((c.line.as_str(), c.direction.as_str(), c.track_id, c.plate), ("street", "down", 12, None));
        assert_eq!(c.pts, pts);
    }
}
