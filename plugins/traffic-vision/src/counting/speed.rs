//! Speed of a track from its anchor's path on the ground plane (metres, through a
//! [`Homography`](super::calibration::Homography)): a least-squares line through the positions
//! of the last second against stream time, refitted once without the gross outliers, so box
//! jitter averages out and one bad box does not make a wild speed. A track seen for less than
//! most of the window has no speed.

use std::collections::{HashMap, VecDeque};

use super::lines::Point;

/// Seconds of path a speed is fitted over.
pub const DEFAULT_WINDOW_S: f64 = 1.0;
/// Share of the window a path must span before it has a speed.
const MIN_SPAN_SHARE: f64 = 0.5;
const MIN_SAMPLES: usize = 6;
/// Faster than this is a tracking error, not a vehicle: no speed.
const MAX_PLAUSIBLE_KMH: f64 = 250.0;
/// A residual (metres) below this is never an outlier, however tight the others are.
const MIN_OUTLIER_M: f64 = 0.5;

/// A track's ground positions over the latest window, and the speed they give.
#[derive(Default)]
struct Path {
    /// (stream seconds, ground point).
    samples: VecDeque<(f64, Point)>,
    speed_kmh: Option<f64>,
}

/// The ground paths of a stream's tracks, and their speeds.
pub struct SpeedEstimator {
    window: f64,
    paths: HashMap<u64, Path>,
    /// Residuals of the latest fit (kept to spare an allocation per track and frame).
    residuals: Vec<f64>,
}

/// Velocity (metres per second along x and y) of the least-squares line through the samples
/// whose residual to `previous` (a fit's mean point, mean time and velocity) is within `limit`
/// (all of them without a previous fit).
fn fit(samples: &VecDeque<(f64, Point)>, previous: Option<(Fit, f64)>) -> Option<Fit> {
    let used = || samples.iter().filter(|s| previous.as_ref().is_none_or(|(f, limit)| f.residual(s) <= *limit));
    let n = used().count();
    if n < MIN_SAMPLES {
        return None;
    }
    let n = n as f64;
    let (mt, mx, my) = used().fold((0.0, 0.0, 0.0), |a, (t, (x, y))| (a.0 + t / n, a.1 + x / n, a.2 + y / n));
    let (mut stt, mut stx, mut sty) = (0.0, 0.0, 0.0);
    for (t, (x, y)) in used() {
        let dt = t - mt;
        stt += dt * dt;
        stx += dt * (x - mx);
        sty += dt * (y - my);
    }
    (stt > 0.0).then(|| Fit { mean_t: mt, mean: (mx, my), velocity: (stx / stt, sty / stt) })
}

/// A least-squares line through positions against time.
#[derive(Clone, Copy)]
struct Fit {
    mean_t: f64,
    mean: Point,
    velocity: (f64, f64),
}

impl Fit {
    fn residual(&self, &(t, (x, y)): &(f64, Point)) -> f64 {
        let dt = t - self.mean_t;
        (x - self.mean.0 - self.velocity.0 * dt).hypot(y - self.mean.1 - self.velocity.1 * dt)
    }
}

impl SpeedEstimator {
    pub fn new(window: f64) -> Self {
        SpeedEstimator { window, paths: HashMap::new(), residuals: Vec::new() }
    }

    /// Adds where a track's anchor touched the ground at stream time `t` (seconds), and fits its
    /// speed. A time that goes back (a seek) starts the track's path over.
    pub fn observe(&mut self, track_id: u64, t: f64, ground: Point) {
        let path = self.paths.entry(track_id).or_default();
        if path.samples.back().is_some_and(|(last, _)| *last >= t) {
            path.samples.clear();
        }
        path.samples.push_back((t, ground));
        while path.samples.front().is_some_and(|(first, _)| *first < t - self.window - 1e-9) {
            path.samples.pop_front();
        }
        path.speed_kmh = estimate(&path.samples, self.window, &mut self.residuals);
    }

    /// The track's speed over its latest window, in km/h; None while its path is too short, or
    /// when the fit gives an implausible speed.
    pub fn speed_kmh(&self, track_id: u64) -> Option<f64> {
        self.paths.get(&track_id)?.speed_kmh
    }

    /// Forgets the tracks last seen before stream time `t` (bounded memory on long runs).
    pub fn forget_before(&mut self, t: f64) {
        self.paths.retain(|_, p| p.samples.back().is_some_and(|(last, _)| *last >= t));
    }

    /// Forgets every path (a seek: positions before and after it are no path).
    pub fn clear(&mut self) {
        self.paths.clear();
    }
}

/// The speed (km/h) of a path: a fit, and a refit without the samples farther from it than
/// three robust sigmas (the median residual as one), when there are such.
fn estimate(samples: &VecDeque<(f64, Point)>, window: f64, residuals: &mut Vec<f64>) -> Option<f64> {
    let (first, last) = (samples.front()?.0, samples.back()?.0);
    if samples.len() < MIN_SAMPLES || last - first < MIN_SPAN_SHARE * window {
        return None;
    }
    let mut f = fit(samples, None)?;
    residuals.clear();
    residuals.extend(samples.iter().map(|s| f.residual(s)));
    let max = residuals.iter().copied().fold(0.0, f64::max);
    let middle = residuals.len() / 2;
    let median = *residuals.select_nth_unstable_by(middle, f64::total_cmp).1;
    let limit = (3.0 * 1.4826 * median).max(MIN_OUTLIER_M);
    if max > limit {
        f = fit(samples, Some((f, limit)))?;
    }
    let kmh = f.velocity.0.hypot(f.velocity.1) * 3.6;
    (kmh.is_finite() && kmh <= MAX_PLAUSIBLE_KMH).then_some(kmh)
}

#[cfg(test)]
mod tests {
    use super::super::calibration::{CalibrationSpec, Homography};
    use super::*;

    const FPS: f64 = 30.0;

    /// The residential calibration on a 640x352 frame: a 4 m x 14 m road rectangle seen in
    /// perspective, so a metre far away is fewer pixels than near.
    fn view() -> Homography {
        CalibrationSpec::parse("0.42,0.95,0.90,0.95,0.49,0.47,0.335,0.47:0,0,4,0,4,14,0,14")
            .unwrap()
            .in_pixels(640, 352)
            .unwrap()
    }

    /// The inverse map: where ground point `g` is in the image (solved through the forward map).
    fn to_image(h: &Homography, g: Point) -> Point {
        let inverse = Homography::from_points(
            &[(0.0, 0.0), (4.0, 0.0), (4.0, 14.0), (0.0, 14.0)],
            &[
                (0.42 * 640.0, 0.95 * 352.0),
                (0.90 * 640.0, 0.95 * 352.0),
                (0.49 * 640.0, 0.47 * 352.0),
                (0.335 * 640.0, 0.47 * 352.0),
            ],
        )
        .unwrap();
        let p = inverse.to_ground(g).unwrap();
        let back = h.to_ground(p).unwrap();
        assert!((back.0 - g.0).abs() < 1e-6 && (back.1 - g.1).abs() < 1e-6);
        p
    }

    /// Feeds a vehicle driving away from the camera along the lane (x = 2 m) with position
    /// `y(t)` in metres, seen on frames `frames`, its image anchor shaken by `jitter(frame)`
    /// pixels; returns the estimator's speed after the last frame.
    fn drive(y: impl Fn(f64) -> f64, frames: impl Iterator<Item = u64>, jitter: impl Fn(u64) -> Point) -> Option<f64> {
        let h = view();
        let mut speeds = SpeedEstimator::new(DEFAULT_WINDOW_S);
        for f in frames {
            let t = f as f64 / FPS;
            let (u, v) = to_image(&h, (2.0, y(t)));
            let (du, dv) = jitter(f);
            speeds.observe(1, t, h.to_ground((u + du, v + dv)).unwrap());
        }
        speeds.speed_kmh(1)
    }

    fn no_jitter(_: u64) -> Point {
        (0.0, 0.0)
    }

    /// A deterministic ±3 px shake in both directions (no random crate needed).
    fn shake(f: u64) -> Point {
        let s = |k: u64| if (f * k + 3) % 7 < 3 { 3.0 } else { -3.0 };
        (s(5), s(3))
    }

    fn assert_within_3_percent(got: Option<f64>, want: f64) {
        let got = got.expect("a speed");
        assert!((got - want).abs() <= 0.03 * want, "{got:.2} km/h for {want:.2} km/h");
    }

    #[test]
    fn a_straight_drive_at_constant_speed() {
        // 36 km/h = 10 m/s from 0.5 m; 1.2 s of frames.
        assert_within_3_percent(drive(|t| 0.5 + 10.0 * t, 0..36, no_jitter), 36.0);
        // 18 km/h.
        assert_within_3_percent(drive(|t| 0.5 + 5.0 * t, 0..40, no_jitter), 18.0);
    }

    #[test]
    fn an_accelerating_drive_gives_the_mean_speed_of_the_last_second() {
        // 5 m/s + 4 m/s² from 0.5 m, frames over 1.5 s: over the last second (0.5 .. 1.5 s)
        // it covers 5 + 4 * 1.0 = 9 m per second on average: 32.4 km/h.
        let (first, last) = (15u64, 45u64);
        let y = |t: f64| 0.5 + 5.0 * t + 2.0 * t * t;
        let want = (y(last as f64 / FPS) - y(first as f64 / FPS)) / ((last - first) as f64 / FPS) * 3.6;
        assert!((want - 32.4).abs() < 1e-9);
        assert_within_3_percent(drive(y, 0..=last, no_jitter), want);
    }

    #[test]
    fn three_pixels_of_box_jitter_average_out() {
        assert_within_3_percent(drive(|t| 0.5 + 10.0 * t, 0..36, shake), 36.0);
        assert_within_3_percent(drive(|t| 0.5 + 8.0 * t, 0..40, shake), 28.8);
    }

    #[test]
    fn a_ten_frame_gap_in_the_track() {
        let frames = (0..12).chain(22..40);
        assert_within_3_percent(drive(|t| 0.5 + 10.0 * t, frames.clone(), no_jitter), 36.0);
        assert_within_3_percent(drive(|t| 0.5 + 10.0 * t, frames, shake), 36.0);
    }

    #[test]
    fn one_bad_box_is_left_out() {
        let bad = |f: u64| if f == 30 { (0.0, -40.0) } else { (0.0, 0.0) };
        assert_within_3_percent(drive(|t| 0.5 + 10.0 * t, 0..36, bad), 36.0);
    }

    #[test]
    fn a_track_seen_too_briefly_has_no_speed() {
        assert_eq!(drive(|t| 0.5 + 10.0 * t, 0..5, no_jitter), None, "5 frames");
        assert_eq!(drive(|t| 0.5 + 10.0 * t, 0..15, no_jitter), None, "half a second");
        assert!(drive(|t| 0.5 + 10.0 * t, 0..20, no_jitter).is_some(), "two thirds of a second");
        // A box that jumps across the road every frame is no vehicle doing 1,500 km/h.
        let mut speeds = SpeedEstimator::new(DEFAULT_WINDOW_S);
        for f in 0..30 {
            speeds.observe(2, f as f64 / FPS, (0.0, 15.0 * f as f64));
        }
        assert_eq!(speeds.speed_kmh(2), None);
        assert_eq!(speeds.speed_kmh(3), None, "an unknown track");
    }

    #[test]
    fn time_going_back_starts_the_path_over_and_old_tracks_are_forgotten() {
        let mut speeds = SpeedEstimator::new(DEFAULT_WINDOW_S);
        for f in 0..30 {
            speeds.observe(1, 10.0 + f as f64 / FPS, (0.0, f as f64 / 3.0));
        }
        assert_within_3_percent(speeds.speed_kmh(1), 36.0);
        speeds.observe(1, 2.0, (0.0, 0.0));
        assert_eq!(speeds.speed_kmh(1), None, "a seek back: one point is no path");
        speeds.forget_before(5.0);
        assert!(speeds.paths.is_empty());
    }
}
