//! What a count and speed survey adds to the crossings of a [`CrossingCounter`](super::CrossingCounter):
//! each track's speed on a calibrated view, each crossing's speed and headway, and the counts
//! per bin of stream time.

use super::bins::{BinCounter, ClosedBin, Headways};
use super::calibration::{CalibrationSpec, Homography};
use super::lines::{Anchor, CrossingEvent, TrackObservation};
use super::speed::{SpeedEstimator, DEFAULT_WINDOW_S};
use crate::VisionError;

/// Paths of tracks not seen for this long (seconds) are dropped.
const FORGET_AFTER_S: f64 = 5.0;

/// Speeds, headways and bins of one stream.
pub struct Survey {
    view: Option<Homography>,
    anchor: Anchor,
    speeds: SpeedEstimator,
    headways: Headways,
    bins: Option<BinCounter>,
    /// Stream time where the latest frame ends.
    stream_end: Option<f64>,
}

impl Survey {
    /// A survey of a `width` x `height` view; speeds need a calibration, bins a width (seconds).
    pub fn new(
        calibration: Option<&CalibrationSpec>,
        bin: Option<f64>,
        anchor: Anchor,
        width: u32,
        height: u32,
    ) -> Result<Self, VisionError> {
        Ok(Survey {
            view: calibration.map(|c| c.in_pixels(width, height)).transpose()?,
            anchor,
            speeds: SpeedEstimator::new(DEFAULT_WINDOW_S),
            headways: Headways::default(),
            bins: bin.map(BinCounter::new),
            stream_end: None,
        })
    }

    /// The frame size changed: image fractions move with it. Ground paths stay (metres are
    /// metres), so speeds go on.
    pub fn relocate(
        &mut self,
        calibration: Option<&CalibrationSpec>,
        width: u32,
        height: u32,
    ) -> Result<(), VisionError> {
        self.view = calibration.map(|c| c.in_pixels(width, height)).transpose()?;
        Ok(())
    }

    /// One frame at `stream_time` lasting `frame_seconds`, at running time `now` (seconds, the
    /// clock of the speeds), with its observed confirmed tracks: returns the bins it closed.
    pub fn frame(
        &mut self,
        stream_time: f64,
        frame_seconds: f64,
        now: f64,
        observations: &[TrackObservation],
    ) -> Vec<ClosedBin> {
        if let Some(view) = &self.view {
            for obs in observations {
                if let Some(ground) = view.to_ground(self.anchor.of(&obs.bbox)) {
                    self.speeds.observe(obs.track_id, now, ground);
                }
            }
            self.speeds.forget_before(now - FORGET_AFTER_S);
        }
        self.stream_end = Some(stream_time + frame_seconds.max(0.0));
        self.bins.as_mut().map(|b| b.advance(stream_time)).unwrap_or_default()
    }

    /// A crossing on the latest frame (running time `now`): its speed and headway, counted in the
    /// open bin.
    pub fn crossing(&mut self, e: &CrossingEvent, now: f64) -> (Option<f64>, Option<f64>) {
        let speed = self.speed_kmh(e.track_id);
        let headway = self.headways.crossing(e.line, e.inward, now);
        if let Some(bins) = &mut self.bins {
            bins.record((e.line, e.class.clone(), e.inward), speed, headway);
        }
        (speed, headway)
    }

    /// A track's speed now, in km/h.
    pub fn speed_kmh(&self, track_id: u64) -> Option<f64> {
        self.view.as_ref().and(self.speeds.speed_kmh(track_id))
    }

    /// The stream stops (end of stream, or a seek): the open bin closes where the latest frame
    /// ended, and no path or headway spans the gap.
    pub fn interrupt(&mut self) -> Option<ClosedBin> {
        self.speeds.clear();
        self.headways.clear();
        let end = self.stream_end.take()?;
        self.bins.as_mut()?.finish(end)
    }
}
