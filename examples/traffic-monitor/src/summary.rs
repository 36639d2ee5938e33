//! `summary.json`: what a run counted, read and wrote, and with which configuration.

use std::collections::BTreeMap;

use serde::Serialize;
use traffic_meta::{Bin, Counts};

use crate::chart::Series;
use crate::observe::{CrossingEvent, PlateSeen, ZoneTally};
use crate::pipeline::Outputs;

/// How the run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Ending {
    /// The source ended.
    EndOfStream,
    /// Ctrl-C or SIGTERM: EOS was sent, so the outputs are complete up to that frame.
    Interrupted,
    /// A second Ctrl-C, or EOS never arrived: outputs may be cut short.
    Aborted,
    Error,
}

#[derive(Debug, Serialize)]
pub struct LineSummary {
    pub name: String,
    #[serde(rename = "in")]
    pub in_name: String,
    #[serde(rename = "out")]
    pub out_name: String,
    /// End points in frame pixels.
    pub start: [f64; 2],
    pub end: [f64; 2],
    /// Per direction, all classes.
    pub totals: BTreeMap<String, u64>,
    /// Per class, per direction.
    pub counts: BTreeMap<String, BTreeMap<String, u64>>,
    /// Per class, per direction, over the crossings with a speed (a calibrated view); empty
    /// without one.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub speeds: BTreeMap<String, BTreeMap<String, SpeedStats>>,
}

/// The speeds of the crossings of one line, class and direction, as a speed survey reports them.
#[derive(Debug, PartialEq, Serialize)]
pub struct SpeedStats {
    /// Crossings with a speed.
    pub vehicles: u64,
    pub mean_kmh: f64,
    pub median_kmh: f64,
    /// The 85th percentile (V85), the speed 85 % of the vehicles do not exceed.
    pub v85_kmh: f64,
}

/// The `p` quantile (0..=1) of sorted values, interpolated between the nearest ranks.
fn quantile(sorted: &[f64], p: f64) -> f64 {
    let rank = p * (sorted.len() - 1) as f64;
    let (low, high) = (rank.floor() as usize, rank.ceil() as usize);
    sorted[low] + (sorted[high] - sorted[low]) * (rank - low as f64)
}

impl SpeedStats {
    fn of(mut speeds: Vec<f64>) -> Option<Self> {
        if speeds.is_empty() {
            return None;
        }
        speeds.sort_by(f64::total_cmp);
        Some(SpeedStats {
            vehicles: speeds.len() as u64,
            mean_kmh: round3(speeds.iter().sum::<f64>() / speeds.len() as f64),
            median_kmh: round3(quantile(&speeds, 0.5)),
            v85_kmh: round3(quantile(&speeds, 0.85)),
        })
    }
}

/// Adds to each line the speed statistics of its crossings per class and direction.
pub fn with_speeds(mut lines: Vec<LineSummary>, crossings: &[CrossingEvent]) -> Vec<LineSummary> {
    for line in &mut lines {
        let mut speeds: BTreeMap<(String, String), Vec<f64>> = BTreeMap::new();
        for c in crossings.iter().filter(|c| c.line == line.name) {
            if let Some(v) = c.speed_kmh {
                speeds.entry((c.class.clone(), c.direction.clone())).or_default().push(v);
            }
        }
        for ((class, direction), values) in speeds {
            if let Some(stats) = SpeedStats::of(values) {
                line.speeds.entry(class).or_default().insert(direction, stats);
            }
        }
    }
    lines
}

/// A track inside a zone when the run ended.
#[derive(Debug, PartialEq, Serialize)]
pub struct Occupant {
    pub track_id: u64,
    pub class: String,
    /// Seconds inside so far.
    pub dwell: f64,
}

#[derive(Debug, PartialEq, Serialize)]
pub struct ZoneSummary {
    pub name: String,
    /// Corners in frame pixels.
    pub points: Vec<[f64; 2]>,
    /// Per class.
    pub entries: BTreeMap<String, u64>,
    /// Most tracks inside at once, and when first (stream seconds).
    pub peak_occupancy: u64,
    pub peak_time: f64,
    /// Visits that ended (the track left or was lost), with their mean and longest dwell in
    /// seconds (null when none ended).
    pub visits_ended: u64,
    pub mean_dwell: Option<f64>,
    pub max_dwell: Option<f64>,
    /// Over the ended visits with a speed (a calibrated view): the mean of their mean speeds.
    pub mean_speed_kmh: Option<f64>,
    pub inside_at_end: Vec<Occupant>,
    /// Stream seconds of each entry (the chart's series; the events have them too).
    #[serde(skip)]
    pub entry_times: Vec<f64>,
}

#[derive(Debug, Serialize)]
pub struct Summary {
    pub source: String,
    pub live: bool,
    pub ending: Ending,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Frames through the analysis.
    pub frames: u64,
    /// Frames a live source dropped before inference because it was busy.
    pub dropped_frames: u64,
    /// Stream time from the first analysed frame to the last.
    pub stream_seconds: f64,
    /// Wall clock of the whole run, model loading included.
    pub wall_seconds: f64,
    /// Frames per second of wall clock between the first and the last analysed frame.
    pub mean_fps: f64,
    pub lines: Vec<LineSummary>,
    pub zones: Vec<ZoneSummary>,
    pub crossings: Vec<CrossingEvent>,
    /// linecounter's closed bins, written to counts.csv.
    #[serde(skip)]
    pub bins: Vec<Bin>,
    pub plates: Vec<PlateSeen>,
    pub outputs: Outputs,
    pub config: serde_json::Value,
}

/// Per line the totals per direction and per class and direction; both directions always
/// appear, with 0 when nothing crossed that way.
pub fn lines(counts: &Counts) -> Vec<LineSummary> {
    counts
        .lines
        .iter()
        .map(|l| LineSummary {
            name: l.name.clone(),
            in_name: l.in_name.clone(),
            out_name: l.out_name.clone(),
            start: [l.start.0, l.start.1],
            end: [l.end.0, l.end.1],
            totals: l.by_direction(),
            counts: l.by_class(),
            speeds: BTreeMap::new(),
        })
        .collect()
}

/// Milliseconds are finer than any frame rate; more digits are float noise.
fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

/// Per zone the final entries and occupants (from `counts`, the end of the run) and what the
/// frames showed over the run (`tallies`).
pub fn zones(counts: &Counts, tallies: &BTreeMap<String, ZoneTally>) -> Vec<ZoneSummary> {
    counts
        .zones
        .iter()
        .map(|z| {
            let tally = tallies.get(&z.name).cloned().unwrap_or_default();
            let ended = tally.visits > 0;
            ZoneSummary {
                name: z.name.clone(),
                points: z.points.iter().map(|&(x, y)| [round3(x), round3(y)]).collect(),
                entries: z.entries.iter().cloned().collect(),
                peak_occupancy: tally.peak_occupancy,
                peak_time: round3(tally.peak_time),
                visits_ended: tally.visits,
                mean_dwell: ended.then(|| round3(tally.dwell_sum / tally.visits as f64)),
                max_dwell: ended.then(|| round3(tally.dwell_max)),
                mean_speed_kmh: (tally.speeds > 0).then(|| round3(tally.speed_sum / tally.speeds as f64)),
                inside_at_end: z
                    .occupants
                    .iter()
                    .map(|o| Occupant { track_id: o.track_id, class: o.class.clone(), dwell: round3(o.dwell) })
                    .collect(),
                entry_times: tally.entry_times,
            }
        })
        .collect()
}

/// The chart's series: one per line and direction, in the lines' order, then the entries of
/// each zone.
pub fn series(lines: &[LineSummary], crossings: &[CrossingEvent], zones: &[ZoneSummary]) -> Vec<Series> {
    lines
        .iter()
        .flat_map(|l| [&l.in_name, &l.out_name].map(|dir| (l, dir)))
        .map(|(l, dir)| Series {
            label: format!("{} {dir}", l.name),
            times: crossings.iter().filter(|c| c.line == l.name && &c.direction == dir).map(|c| c.time).collect(),
        })
        .chain(zones.iter().map(|z| Series { label: format!("{} entries", z.name), times: z.entry_times.clone() }))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use traffic_meta::{ClassTotal, LineTotals};

    #[test]
    fn totals_per_direction_and_class_with_zeros() {
        let total = |class: &str, direction: &str, count| ClassTotal {
            class: class.into(),
            direction: direction.into(),
            count,
        };
        let counts = Counts {
            lines: vec![LineTotals {
                name: "street".into(),
                start: (0.0, 211.2),
                end: (640.0, 211.2),
                in_name: "down".into(),
                out_name: "up".into(),
                totals: vec![total("car", "down", 7), total("truck", "down", 1), total("car", "up", 2)],
            }],
            crossings: vec![],
            zones: vec![],
            zone_events: vec![],
        };
        let l = &lines(&counts)[0];
        assert_eq!(l.totals, BTreeMap::from([("down".into(), 8), ("up".into(), 2)]));
        assert_eq!(l.counts["truck"], BTreeMap::from([("down".into(), 1), ("up".into(), 0)]));
        let crossing = |direction: &str, time| CrossingEvent {
            line: "street".into(),
            direction: direction.into(),
            class: "car".into(),
            track_id: 1,
            plate: None,
            time,
            speed_kmh: None,
            headway_s: None,
            wrong_way: false,
            pts: None,
        };
        let s = series(&lines(&counts), &[crossing("down", 1.0), crossing("up", 2.0), crossing("down", 3.0)], &[]);
        assert_eq!(
            s.iter().map(|s| (s.label.as_str(), s.times.len())).collect::<Vec<_>>(),
            [("street down", 2), ("street up", 1)]
        );
    }

    #[test]
    fn speed_statistics_per_line_class_and_direction() {
        let crossing = |class: &str, direction: &str, speed_kmh| CrossingEvent {
            line: "street".into(),
            direction: direction.into(),
            class: class.into(),
            track_id: 1,
            plate: None,
            time: 0.0,
            speed_kmh,
            headway_s: None,
            wrong_way: false,
            pts: None,
        };
        let counts = Counts {
            lines: vec![LineTotals {
                name: "street".into(),
                start: (0.0, 1.0),
                end: (2.0, 1.0),
                in_name: "down".into(),
                out_name: "up".into(),
                totals: vec![],
            }],
            ..Counts::default()
        };
        // Ten cars down at 21..30 km/h, one without a speed; one truck up.
        let mut crossings: Vec<CrossingEvent> = (21..=30).map(|v| crossing("car", "down", Some(v as f64))).collect();
        crossings.push(crossing("car", "down", None));
        crossings.push(crossing("truck", "up", Some(40.0)));
        let l = &with_speeds(lines(&counts), &crossings)[0];
        let car = &l.speeds["car"]["down"];
        // V85 of 21..30: rank 0.85 * 9 = 7.65, between 28 and 29.
        assert_eq!((car.vehicles, car.mean_kmh, car.median_kmh, car.v85_kmh), (10, 25.5, 25.5, 28.65));
        assert_eq!(
            l.speeds["truck"]["up"],
            SpeedStats { vehicles: 1, mean_kmh: 40.0, median_kmh: 40.0, v85_kmh: 40.0 }
        );
        assert!(!l.speeds["car"].contains_key("up"), "no crossing that way, no statistics");
        assert!(with_speeds(lines(&counts), &[crossing("car", "down", None)])[0].speeds.is_empty());
    }

    #[test]
    fn zones_with_entries_dwell_and_who_is_still_inside() {
        let zone = traffic_meta::ZoneState {
            name: "road".into(),
            points: vec![(10.0, 20.0), (30.000000004, 20.0), (30.0, 40.0)],
            occupants: vec![traffic_meta::ZoneOccupant { track_id: 9, class: "bus".into(), dwell: 2.5 }],
            entries: vec![("bus".into(), 1), ("car".into(), 3)],
        };
        let counts = Counts {
            zones: vec![zone.clone(), traffic_meta::ZoneState { name: "lot".into(), ..zone }],
            ..Counts::default()
        };
        let tally = ZoneTally {
            peak_occupancy: 2,
            peak_time: 4.0,
            visits: 3,
            dwell_sum: 6.0001,
            dwell_max: 3.5,
            speed_sum: 61.0,
            speeds: 2,
            entry_times: vec![1.0, 2.0, 3.0, 5.0],
        };
        let z = zones(&counts, &BTreeMap::from([("road".to_string(), tally)]));
        assert_eq!(z[0].entries, BTreeMap::from([("bus".into(), 1), ("car".into(), 3)]));
        assert_eq!(
            (z[0].peak_occupancy, z[0].visits_ended, z[0].mean_dwell, z[0].max_dwell),
            (2, 3, Some(2.0), Some(3.5))
        );
        assert_eq!(z[0].inside_at_end, [Occupant { track_id: 9, class: "bus".into(), dwell: 2.5 }]);
        assert_eq!(z[0].points[1], [30.0, 20.0]);
        assert_eq!(z[0].mean_speed_kmh, Some(30.5), "the mean over the visits with a speed");
        assert_eq!((z[1].name.as_str(), z[1].visits_ended, z[1].mean_dwell), ("lot", 0, None), "no visit ended there");
        assert_eq!(z[1].mean_speed_kmh, None);
        let s = series(&[], &[], &z);
        assert_eq!(
            s.iter().map(|s| (s.label.as_str(), s.times.len())).collect::<Vec<_>>(),
            [("road entries", 4), ("lot entries", 0)]
        );
    }
}
