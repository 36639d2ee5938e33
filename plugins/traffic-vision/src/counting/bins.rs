//! Binned counts, as traffic count reports give them (counts per 15 minutes): crossings per
//! line, class and direction in consecutive intervals of stream time, with their mean speed and
//! mean headway; and the headway of each crossing (seconds since the previous crossing of the
//! same line and direction).
//!
//! Bins close on stream time, never wall time: a bin closes when a frame at or past its end
//! arrives; the intervals no frame fell in close empty (a report lists them with 0). A seek
//! (time going back, or a flush) and the end of the stream close the open bin where the frames
//! stopped, so a partial bin says how much it covers.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::VisionError;

/// (line index, class, inward).
pub type BinKey = (usize, String, bool);

/// What crossed one line in one direction, of one class, in one bin.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BinTally {
    pub count: u64,
    speed_sum: f64,
    speeds: u64,
    headway_sum: f64,
    headways: u64,
}

impl BinTally {
    /// Mean over the crossings that had a speed.
    pub fn mean_speed_kmh(&self) -> Option<f64> {
        (self.speeds > 0).then(|| self.speed_sum / self.speeds as f64)
    }

    /// Mean over the crossings that had a previous one on their line and direction.
    pub fn mean_headway_s(&self) -> Option<f64> {
        (self.headways > 0).then(|| self.headway_sum / self.headways as f64)
    }
}

/// A bin that closed: stream seconds `start..end`, and a tally for every line, class and
/// direction counted so far in the stream (zero where nothing crossed in this bin).
#[derive(Clone, Debug, PartialEq)]
pub struct ClosedBin {
    pub start: f64,
    pub end: f64,
    pub tallies: BTreeMap<BinKey, BinTally>,
}

/// More empty bins than this between two frames is a jump in time, not a quiet road.
const MAX_EMPTY_BINS: f64 = 100_000.0;

/// The bins of one stream.
pub struct BinCounter {
    width: f64,
    /// The open bin's start and end, and the stream time of its latest frame.
    open: Option<(f64, f64)>,
    last: Option<f64>,
    tallies: BTreeMap<BinKey, BinTally>,
    seen: BTreeSet<BinKey>,
}

impl BinCounter {
    /// Bins `width` seconds long (> 0), aligned to multiples of it in stream time.
    pub fn new(width: f64) -> Self {
        BinCounter { width, open: None, last: None, tallies: BTreeMap::new(), seen: BTreeSet::new() }
    }

    fn close(&mut self, end: f64) -> Option<ClosedBin> {
        let (start, _) = self.open.take()?;
        let mut tallies: BTreeMap<BinKey, BinTally> =
            self.seen.iter().map(|k| (k.clone(), BinTally::default())).collect();
        tallies.append(&mut self.tallies);
        (end > start).then_some(ClosedBin { start, end, tallies })
    }

    /// A frame at stream time `t` (seconds): returns the bins it closed, oldest first.
    pub fn advance(&mut self, t: f64) -> Vec<ClosedBin> {
        let mut closed = Vec::new();
        if let Some(last) = self.last {
            if t < last || (t - last) / self.width > MAX_EMPTY_BINS {
                closed.extend(self.close(last));
            }
        }
        if let Some((_, end)) = self.open {
            let mut end = end;
            while t >= end {
                closed.extend(self.close(end));
                self.open = Some((end, end + self.width));
                end += self.width;
            }
        }
        if self.open.is_none() {
            // The first bin (or the first after a jump) starts here and ends on the grid.
            self.open = Some((t, ((t / self.width).floor() + 1.0) * self.width));
        }
        self.last = Some(t);
        closed
    }

    /// Adds a crossing to the open bin.
    pub fn record(&mut self, key: BinKey, speed_kmh: Option<f64>, headway_s: Option<f64>) {
        self.seen.insert(key.clone());
        let tally = self.tallies.entry(key).or_default();
        tally.count += 1;
        if let Some(v) = speed_kmh {
            tally.speed_sum += v;
            tally.speeds += 1;
        }
        if let Some(h) = headway_s {
            tally.headway_sum += h;
            tally.headways += 1;
        }
    }

    /// The stream stops at stream time `end` (end of stream, or a seek away): closes the open
    /// bin there; the next frame opens a new one.
    pub fn finish(&mut self, end: f64) -> Option<ClosedBin> {
        self.last = None;
        self.close(end)
    }
}

/// Parses a bin width: a number of seconds, or a number with a unit `s`, `m`/`min` or `h`
/// (`"15m"`, `"10s"`, `"1h"`, `"90"`); the result is in seconds and above 0.
pub fn parse_duration(text: &str) -> Result<f64, VisionError> {
    let bad = || VisionError::Config(format!("bin '{text}': a duration above 0 such as 15m, 10s, 1h or 90 (seconds)"));
    let t = text.trim();
    let split = t.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let scale = match unit.trim() {
        "" | "s" => 1.0,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        _ => return Err(bad()),
    };
    let seconds = number.trim().parse::<f64>().map_err(|_| bad())? * scale;
    (seconds.is_finite() && seconds > 0.0).then_some(seconds).ok_or_else(bad)
}

/// The time of the latest crossing per line and direction, for each crossing's headway.
#[derive(Default)]
pub struct Headways {
    last: HashMap<(usize, bool), f64>,
}

impl Headways {
    /// A crossing of `line` in direction `inward` at stream time `t`: seconds since the previous
    /// one of that line and direction (None for the first, or after time went back).
    pub fn crossing(&mut self, line: usize, inward: bool, t: f64) -> Option<f64> {
        self.last.insert((line, inward), t).map(|previous| t - previous).filter(|h| *h >= 0.0)
    }

    /// Forgets the previous crossings (a seek: no headway spans it).
    pub fn clear(&mut self) {
        self.last.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn car(line: usize, inward: bool) -> BinKey {
        (line, "car".to_string(), inward)
    }

    fn counts(bin: &ClosedBin) -> Vec<u64> {
        bin.tallies.values().map(|t| t.count).collect()
    }

    #[test]
    fn bins_close_on_stream_time_with_empty_ones_between() {
        let mut bins = BinCounter::new(10.0);
        assert!(bins.advance(0.0).is_empty());
        bins.record(car(0, true), Some(30.0), None);
        assert!(bins.advance(5.0).is_empty());
        bins.record(car(0, true), Some(40.0), Some(5.0));
        bins.record(car(0, false), None, None);
        // However long the wall clock waits, nothing closes until a frame reaches 10 s.
        assert!(bins.advance(9.99).is_empty());
        let closed = bins.advance(10.0);
        assert_eq!(closed.len(), 1);
        let b = &closed[0];
        assert_eq!((b.start, b.end), (0.0, 10.0));
        assert_eq!(counts(b), [1, 2]);
        let inward = &b.tallies[&car(0, true)];
        assert_eq!((inward.mean_speed_kmh(), inward.mean_headway_s()), (Some(35.0), Some(5.0)));
        assert_eq!(b.tallies[&car(0, false)].mean_speed_kmh(), None);
        // A frame at 41 s (a quiet stretch with no frames, e.g. a stalled camera) closes
        // 10..20, 20..30, 30..40: empty bins keep every key seen, at 0.
        bins.record(car(1, true), None, None);
        let closed = bins.advance(41.0);
        assert_eq!(
            closed.iter().map(|b| (b.start, b.end)).collect::<Vec<_>>(),
            [(10.0, 20.0), (20.0, 30.0), (30.0, 40.0)]
        );
        assert_eq!(counts(&closed[0]), [0, 0, 1]);
        assert_eq!(counts(&closed[1]), [0, 0, 0]);
    }

    #[test]
    fn a_seek_and_the_end_of_stream_close_the_open_bin_where_the_frames_stopped() {
        let mut bins = BinCounter::new(10.0);
        for f in 0..=120 {
            assert!(bins.advance(f as f64 / 10.0).is_empty() || f == 100);
        }
        bins.record(car(0, true), None, None);
        // A seek back to 3 s: 10..12 closes at 12, the new bin is 3..10.
        let closed = bins.advance(3.0);
        assert_eq!(closed.len(), 1);
        assert_eq!((closed[0].start, closed[0].end, counts(&closed[0])), (10.0, 12.0, vec![1]));
        bins.record(car(0, true), None, None);
        bins.record(car(0, true), None, None);
        let closed = bins.advance(10.5);
        assert_eq!((closed[0].start, closed[0].end, counts(&closed[0])), (3.0, 10.0, vec![2]));
        // A flushing seek forward reported by the element: the bin closes at the last frame.
        bins.record(car(0, true), None, None);
        let b = bins.finish(10.6).unwrap();
        assert_eq!((b.start, b.end, counts(&b)), (10.0, 10.6, vec![1]));
        assert!(bins.advance(25.0).is_empty(), "a new bin after the seek");
        // End of stream mid-bin: the partial bin closes at the end of the last frame.
        let b = bins.finish(27.7).unwrap();
        assert_eq!((b.start, b.end, counts(&b)), (25.0, 27.7, vec![0]));
        assert_eq!(bins.finish(28.0), None, "closed once");
    }

    #[test]
    fn durations() {
        for (text, seconds) in [("15m", 900.0), ("10s", 10.0), ("1h", 3600.0), ("90", 90.0), (" 2.5 min", 150.0)] {
            assert_eq!(parse_duration(text).unwrap(), seconds, "{text}");
        }
        for bad in ["", "0", "-5m", "15x", "m", "1e400"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn headway_per_line_and_direction() {
        let mut h = Headways::default();
        assert_eq!(h.crossing(0, true, 1.0), None);
        assert_eq!(h.crossing(0, false, 2.0), None, "the other direction has its own");
        assert_eq!(h.crossing(0, true, 4.5), Some(3.5));
        assert_eq!(h.crossing(1, true, 5.0), None, "another line has its own");
        assert_eq!(h.crossing(0, true, 2.0), None, "time went back");
        h.clear();
        assert_eq!(h.crossing(0, true, 9.0), None);
    }
}
