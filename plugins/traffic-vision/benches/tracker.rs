//! Per-frame cost of `Tracker::update` with 10, 50 and 200 objects moving on straight lines
//! (bouncing off the frame edges), for both algorithms: median, 90th percentile and maximum
//! over 300 measured frames after 50 warm-up frames. Deterministic: a fixed-seed xorshift.
//!
//! `cargo bench -p traffic-vision --bench tracker`

use std::hint::black_box;
use std::time::{Duration, Instant};

use traffic_vision::{Algorithm, BBox, Detection, Tracker, TrackerConfig};

const WIDTH: f32 = 1920.0;
const HEIGHT: f32 = 1080.0;
const WARM_UP_FRAMES: usize = 50;
const MEASURED_FRAMES: usize = 300;

struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// Uniform in [lo, hi).
    fn uniform(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * ((self.next_u64() >> 40) as f32 / (1u64 << 24) as f32)
    }
}

struct Vehicle {
    cx: f32,
    cy: f32,
    vx: f32,
    vy: f32,
    w: f32,
    h: f32,
    score: f32,
    class_id: u32,
}

struct Scene {
    rng: Rng,
    vehicles: Vec<Vehicle>,
}

impl Scene {
    fn new(count: usize, seed: u64) -> Self {
        let mut rng = Rng(seed);
        let vehicles = (0..count)
            .map(|_| {
                let w = rng.uniform(40.0, 160.0);
                Vehicle {
                    cx: rng.uniform(100.0, WIDTH - 100.0),
                    cy: rng.uniform(100.0, HEIGHT - 100.0),
                    vx: rng.uniform(-6.0, 6.0),
                    vy: rng.uniform(-3.0, 3.0),
                    w,
                    h: w * rng.uniform(0.5, 0.9),
                    score: rng.uniform(0.3, 0.95),
                    class_id: if rng.uniform(0.0, 1.0) < 0.8 { 2 } else { 7 },
                }
            })
            .collect();
        Scene { rng, vehicles }
    }

    /// Moves every vehicle one frame and returns this frame's detections: jittered boxes,
    /// 3 % missed, plus a little low-score clutter.
    fn next_frame(&mut self) -> Vec<Detection> {
        let mut detections = Vec::with_capacity(self.vehicles.len() + 2);
        for v in &mut self.vehicles {
            v.cx += v.vx;
            v.cy += v.vy;
            if v.cx < v.w / 2.0 || v.cx > WIDTH - v.w / 2.0 {
                v.vx = -v.vx;
            }
            if v.cy < v.h / 2.0 || v.cy > HEIGHT - v.h / 2.0 {
                v.vy = -v.vy;
            }
            if self.rng.uniform(0.0, 1.0) < 0.03 {
                continue;
            }
            let jitter = self.rng.uniform(-1.5, 1.5);
            let score = (v.score + self.rng.uniform(-0.1, 0.1)).clamp(0.05, 0.99);
            detections.push(Detection {
                bbox: BBox::from_cxcywh(v.cx + jitter, v.cy - jitter, v.w + jitter, v.h),
                score,
                class_id: v.class_id,
            });
        }
        if self.rng.uniform(0.0, 1.0) < 0.5 {
            let (x, y) = (self.rng.uniform(0.0, WIDTH - 50.0), self.rng.uniform(0.0, HEIGHT - 40.0));
            detections.push(Detection { bbox: BBox::new(x, y, x + 50.0, y + 40.0), score: 0.2, class_id: 2 });
        }
        detections
    }
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn bench(algorithm: Algorithm, count: usize) {
    let config = match algorithm {
        Algorithm::ByteTrack => TrackerConfig::bytetrack(),
        Algorithm::OcSort => TrackerConfig::ocsort(),
    };
    let mut tracker = Tracker::new(config);
    let mut scene = Scene::new(count, 0x5eed_0000 + count as u64);
    for _ in 0..WARM_UP_FRAMES {
        black_box(tracker.update(&scene.next_frame()));
    }
    let mut times = Vec::with_capacity(MEASURED_FRAMES);
    let mut reported = 0;
    for _ in 0..MEASURED_FRAMES {
        let detections = scene.next_frame();
        let start = Instant::now();
        let tracks = tracker.update(black_box(&detections));
        times.push(start.elapsed());
        reported += tracks.len();
        black_box(tracks);
    }
    times.sort_unstable();
    println!(
        "{:<10} {:>7} {:>11.1} {:>9.1} {:>9.1} {:>15.1}",
        format!("{algorithm:?}"),
        count,
        micros(times[times.len() / 2]),
        micros(times[times.len() * 9 / 10]),
        micros(times[times.len() - 1]),
        reported as f64 / MEASURED_FRAMES as f64,
    );
}

fn main() {
    println!("Tracker::update per frame, {MEASURED_FRAMES} frames after {WARM_UP_FRAMES} warm-up (µs)");
    println!("{:<10} {:>7} {:>11} {:>9} {:>9} {:>15}", "algorithm", "objects", "median", "p90", "max", "tracks/frame");
    for algorithm in [Algorithm::ByteTrack, Algorithm::OcSort] {
        for count in [10, 50, 200] {
            bench(algorithm, count);
        }
    }
}
