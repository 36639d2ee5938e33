//! Cost of the overlay on a 1080p frame: 30 tracked vehicles with boxes, labels and
//! 30-point trails, 5 plate labels, two counting lines and the counts panel and FPS text,
//! rendered on RGBx and on I420 (`Painter::render`, what the `overlay` element calls per
//! frame). Median, 90th percentile and maximum over 300 frames after 30 warm-up frames (the
//! warm-up fills the glyph cache, as the first frames of a stream do). Goal: <= 2 ms.
//!
//! `cargo bench -p traffic-vision --bench draw`

use std::hint::black_box;
use std::time::{Duration, Instant};

use traffic_vision::draw::{
    class_color, BoxLabel, Canvas, CountLine, ObjectBox, Painter, PanelRow, PlateLabel, Scene, Style, Trail,
};
use traffic_vision::frame::YuvToRgb;
use traffic_vision::{PixelFormat, YuvMatrix};

const WIDTH: usize = 1920;
const HEIGHT: usize = 1080;
const OBJECTS: usize = 30;
const WARM_UP_FRAMES: usize = 30;
const MEASURED_FRAMES: usize = 300;

/// A scene of `OBJECTS` vehicles spread over the frame, moved by `frame` pixels.
fn scene(frame: usize) -> Scene {
    let classes = ["car", "car", "car", "truck", "bus", "motorcycle"];
    let mut s = Scene::default();
    for i in 0..OBJECTS {
        let (col, row) = (i % 6, i / 6);
        let x = 40.0 + col as f32 * 310.0 + (frame % 50) as f32;
        let y = 120.0 + row as f32 * 190.0;
        let (w, h) = (160.0 + (i % 3) as f32 * 40.0, 110.0 + (i % 2) as f32 * 30.0);
        let class = classes[i % classes.len()];
        let color = class_color(class);
        let bbox = [x, y, x + w, y + h];
        s.boxes.push(ObjectBox {
            bbox,
            color,
            outline: true,
            label: Some(BoxLabel {
                class: class.into(),
                track_id: Some(100 + i as u64),
                confidence: Some(0.5 + i as f32 / 100.0),
                speed_kmh: Some(30.0 + i as f32),
            }),
            predicted: i % 7 == 0,
        });
        let trail: Vec<(f32, f32)> =
            (0..30).map(|k| (x + w * 0.5 - (29 - k) as f32 * 3.0, y + h - (29 - k) as f32 * 1.5)).collect();
        s.trails.push(Trail { points: trail, color });
        if i % 6 == 0 {
            let plate = [x + w * 0.35, y + h * 0.75, x + w * 0.65, y + h * 0.88];
            s.plates.push(PlateLabel { vehicle: bbox, plate_box: Some(plate), text: Some(format!("AB{}CD", 100 + i)) });
        }
    }
    for (k, y) in [650.0, 900.0].into_iter().enumerate() {
        s.lines.push(CountLine {
            start: (100.0, y),
            end: (1800.0, y - 80.0),
            label: Some(format!("line{k}  in {} \u{b7} out {}", 12 + k, 7 + k)),
            flash: frame.is_multiple_of(10),
        });
        s.panel.push(PanelRow { swatch: None, cells: vec![format!("line{k}: in / out")] });
        for class in ["bus", "car", "truck"] {
            s.panel.push(PanelRow {
                swatch: Some(class_color(class)),
                cells: vec![class.into(), "12".into(), "7".into()],
            });
        }
    }
    s.fps = Some("FPS 29.9 \u{b7} stream 30.0".into());
    s
}

fn summary(mut times: Vec<Duration>) -> String {
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let p = |q: f64| times[((times.len() - 1) as f64 * q).round() as usize];
    format!("median {:.3} ms  p90 {:.3} ms  max {:.3} ms", ms(p(0.5)), ms(p(0.9)), ms(*times.last().unwrap()))
}

fn bench(format: PixelFormat) -> Vec<Duration> {
    let yuv = YuvToRgb::new(YuvMatrix::Bt709, false);
    let (mut a, mut b, mut c);
    let (planes, strides): (Vec<&mut [u8]>, Vec<usize>) = match format {
        PixelFormat::I420 => {
            let (cw, ch) = (WIDTH / 2, HEIGHT / 2);
            a = vec![90u8; WIDTH * HEIGHT];
            b = vec![128u8; cw * ch];
            c = vec![128u8; cw * ch];
            (vec![&mut a[..], &mut b[..], &mut c[..]], vec![WIDTH, cw, cw])
        }
        _ => {
            a = vec![90u8; WIDTH * HEIGHT * 4];
            (vec![&mut a[..]], vec![WIDTH * 4])
        }
    };
    let mut canvas = Canvas::new(format, WIDTH, HEIGHT, planes, &strides, yuv).expect("canvas");
    let mut overlay = Painter::new().expect("font");
    let style = Style::default();
    let mut times = Vec::with_capacity(MEASURED_FRAMES);
    for frame in 0..WARM_UP_FRAMES + MEASURED_FRAMES {
        // Building the scene is the element's part (reading metadata); only drawing is timed.
        let s = scene(frame);
        let t = Instant::now();
        overlay.render(&mut canvas, black_box(&s), &style);
        if frame >= WARM_UP_FRAMES {
            times.push(t.elapsed());
        }
    }
    times
}

fn main() {
    println!(
        "overlay on {WIDTH}x{HEIGHT}, {OBJECTS} objects with labels and 30-point trails, 5 plates, 2 lines, panel, FPS"
    );
    for format in [PixelFormat::Rgbx, PixelFormat::I420] {
        println!("{format:?}: {}", summary(bench(format)));
    }
}
