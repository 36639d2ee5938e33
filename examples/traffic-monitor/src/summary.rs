//! `summary.json`: what a run counted, read and wrote, and with which configuration.

use std::collections::BTreeMap;

use serde::Serialize;
use traffic_meta::Counts;

use crate::chart::Series;
use crate::observe::{CrossingEvent, PlateSeen};
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
    pub crossings: Vec<CrossingEvent>,
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
        .map(|l| {
            let zero = || BTreeMap::from([(l.in_name.clone(), 0), (l.out_name.clone(), 0)]);
            let mut totals = zero();
            let mut per_class: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
            for t in &l.totals {
                *totals.entry(t.direction.clone()).or_default() += t.count;
                *per_class.entry(t.class.clone()).or_insert_with(zero).entry(t.direction.clone()).or_default() +=
                    t.count;
            }
            LineSummary {
                name: l.name.clone(),
                in_name: l.in_name.clone(),
                out_name: l.out_name.clone(),
                start: [l.start.0, l.start.1],
                end: [l.end.0, l.end.1],
                totals,
                counts: per_class,
            }
        })
        .collect()
}

/// The chart's series: one per line and direction, in the lines' order.
pub fn series(lines: &[LineSummary], crossings: &[CrossingEvent]) -> Vec<Series> {
    lines
        .iter()
        .flat_map(|l| [&l.in_name, &l.out_name].map(|dir| (l, dir)))
        .map(|(l, dir)| Series {
            label: format!("{} {dir}", l.name),
            times: crossings.iter().filter(|c| c.line == l.name && &c.direction == dir).map(|c| c.time).collect(),
        })
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
            pts: None,
        };
        let s = series(&lines(&counts), &[crossing("down", 1.0), crossing("up", 2.0), crossing("down", 3.0)]);
        assert_eq!(
            s.iter().map(|s| (s.label.as_str(), s.times.len())).collect::<Vec<_>>(),
            [("street down", 2), ("street up", 1)]
        );
    }
}
