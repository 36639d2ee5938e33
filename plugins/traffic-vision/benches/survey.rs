//! Per-frame cost of what speeds and bins add to line counting (issue 15's budget: under
//! 0.05 ms a frame at 50 tracked objects): `CrossingCounter::update` alone, against the same
//! plus `Survey` as linecounter drives it (ground points and speed fits of every track, each
//! crossing's speed and headway into 1-second bins, every object's speed read back). 50
//! vehicles drive down and up a 1920x1080 view at 20..60 km/h (a fixed-seed xorshift), crossing
//! a line at mid-height; median and 90th percentile over 3 x 1000 frames after 100 warm-up
//! frames, both variants on the same frames, alternately.
//!
//! `cargo bench -p traffic-vision --bench survey`

use std::hint::black_box;
use std::time::{Duration, Instant};

use traffic_vision::counting::calibration::CalibrationSpec;
use traffic_vision::counting::survey::Survey;
use traffic_vision::counting::{Anchor, CrossingCounter, LineSpec, TrackObservation};
use traffic_vision::BBox;

const VEHICLES: usize = 50;
const FPS: f64 = 25.0;
const WARM_UP_FRAMES: u64 = 100;
const MEASURED_FRAMES: u64 = 1000;
const ROUNDS: usize = 3;
/// 20 px a metre down the image: 1920 px = 96 m wide, 1080 px = 54 m long.
const VIEW: &str = "0,0,1920,0,1920,1080,0,1080:0,54,96,54,96,0,0,0";

struct Rng(u64);

impl Rng {
    fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        lo + (hi - lo) * ((self.0 >> 11) as f64 / (1u64 << 53) as f64)
    }
}

/// The observations of frame `f`: vehicle `i` drives along its own column, down or up, and
/// comes back as a new track each time it leaves the frame.
fn frame(f: u64, speeds_px: &[f64]) -> Vec<TrackObservation> {
    speeds_px
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            let travelled = v * f as f64 + 97.0 * i as f64;
            let lap = (travelled / 1080.0) as u64;
            let y = travelled % 1080.0;
            let y = if i % 2 == 0 { y } else { 1080.0 - y };
            let x = 20.0 + 37.0 * i as f64;
            TrackObservation {
                track_id: (lap << 8) | i as u64,
                bbox: BBox::new(x as f32, (y - 60.0) as f32, (x + 30.0) as f32, y as f32),
                class: "car".into(),
            }
        })
        .collect()
}

fn percentile(times: &mut [Duration], p: f64) -> f64 {
    times.sort();
    times[((times.len() - 1) as f64 * p) as usize].as_secs_f64() * 1e3
}

fn main() {
    let mut rng = Rng(0x5eed_1234_abcd);
    // km/h to pixels a frame: 20 px/m.
    let speeds_px: Vec<f64> = (0..VEHICLES).map(|_| rng.uniform(20.0, 60.0) / 3.6 * 20.0 / FPS).collect();
    let line = LineSpec::parse("middle:0,540,1920,540").unwrap().line(1920, 1080);
    let calibration = CalibrationSpec::parse(VIEW).unwrap();
    let mut base = Vec::new();
    let mut with_survey = Vec::new();
    let mut crossings = 0;
    let mut bins = 0;
    for _ in 0..ROUNDS {
        let mut plain = CrossingCounter::new(vec![line.clone()], Anchor::BottomCenter, 2);
        let mut counter = CrossingCounter::new(vec![line.clone()], Anchor::BottomCenter, 2);
        let mut survey = Survey::new(Some(&calibration), Some(1.0), Anchor::BottomCenter, 1920, 1080).unwrap();
        for f in 0..WARM_UP_FRAMES + MEASURED_FRAMES {
            let observations = frame(f, &speeds_px);
            let t = f as f64 / FPS;
            let started = Instant::now();
            black_box(plain.update(black_box(&observations)));
            let plain_time = started.elapsed();
            let started = Instant::now();
            let events = counter.update(black_box(&observations));
            let closed = survey.frame(t, 1.0 / FPS, t, &observations);
            for e in &events {
                black_box(survey.crossing(e, t));
            }
            for o in &observations {
                black_box(survey.speed_kmh(o.track_id));
            }
            let survey_time = started.elapsed();
            if f >= WARM_UP_FRAMES {
                base.push(plain_time);
                with_survey.push(survey_time);
                crossings += events.len();
                bins += closed.len();
            }
        }
    }
    let (base_median, survey_median) = (percentile(&mut base, 0.5), percentile(&mut with_survey, 0.5));
    println!(
        "{VEHICLES} tracks, {} frames, {crossings} crossings, {bins} bins closed",
        ROUNDS as u64 * MEASURED_FRAMES
    );
    println!("CrossingCounter::update alone: median {base_median:.4} ms, p90 {:.4} ms", percentile(&mut base, 0.9));
    println!(
        "with speeds and bins:          median {survey_median:.4} ms, p90 {:.4} ms",
        percentile(&mut with_survey, 0.9)
    );
    println!("added by speeds and bins:      median {:.4} ms a frame", survey_median - base_median);
}
