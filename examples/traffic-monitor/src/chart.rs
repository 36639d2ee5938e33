//! The counts-over-time chart: cumulative crossings per line and direction against stream
//! time, drawn with the overlay's canvas and embedded font, written as PNG.

use std::path::Path;

use traffic_vision::draw::{Canvas, Color, Font};

pub const WIDTH: usize = 960;
pub const HEIGHT: usize = 540;
const LEFT: f32 = 70.0;
const RIGHT: f32 = 24.0;
const TOP: f32 = 56.0;
const BOTTOM: f32 = 56.0;
const TEXT_PX: f32 = 15.0;
const AXIS: Color = Color::rgb(60, 60, 60);
const GRID: Color = Color::rgb(225, 225, 225);
/// Distinct on white, in the order series are drawn.
const PALETTE: [Color; 8] = [
    Color::rgb(31, 119, 180),
    Color::rgb(214, 39, 40),
    Color::rgb(44, 160, 44),
    Color::rgb(255, 127, 14),
    Color::rgb(148, 103, 189),
    Color::rgb(140, 86, 75),
    Color::rgb(227, 119, 194),
    Color::rgb(23, 190, 207),
];

/// One line in one direction: the stream times (seconds) of its crossings.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    pub label: String,
    pub times: Vec<f64>,
}

/// A tick step of 1, 2 or 5 times a power of ten giving about `target` ticks over `span`.
fn tick_step(span: f64, target: f64) -> f64 {
    let raw = (span / target).max(1e-9);
    let magnitude = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0].iter().map(|m| m * magnitude).find(|s| *s >= raw).unwrap_or(10.0 * magnitude)
}

fn time_label(seconds: f64) -> String {
    if seconds >= 60.0 {
        format!("{}:{:02}", (seconds / 60.0) as u64, (seconds % 60.0).round() as u64)
    } else {
        format!("{seconds}")
    }
}

/// Draws the chart over `duration` seconds of stream; returns packed RGB pixels.
pub fn render(title: &str, series: &[Series], duration: f64) -> Result<Vec<u8>, String> {
    let mut pixels = vec![255u8; WIDTH * HEIGHT * 3];
    let mut canvas = Canvas::rgb(&mut pixels, WIDTH, HEIGHT).map_err(|e| e.to_string())?;
    let mut font = Font::embedded().map_err(|e| e.to_string())?;
    let (x0, x1, y0, y1) = (LEFT, WIDTH as f32 - RIGHT, HEIGHT as f32 - BOTTOM, TOP);
    let last_time = series.iter().flat_map(|s| s.times.iter().copied()).fold(0.0, f64::max);
    let t_max = duration.max(last_time).max(1.0);
    let n_max = series.iter().map(|s| s.times.len()).max().unwrap_or(0).max(1) as f64;
    let x_of = |t: f64| x0 + (x1 - x0) * (t / t_max) as f32;
    let y_of = |n: f64| y0 - (y0 - y1) * (n / n_max) as f32;

    font.draw(&mut canvas, LEFT, 16.0, title, TEXT_PX + 3.0, AXIS);
    // Grid and tick labels.
    let y_step = tick_step(n_max, 5.0).max(1.0);
    let mut n = 0.0;
    while n <= n_max + 1e-9 {
        let y = y_of(n);
        canvas.line(x0, y, x1, y, 1.0, GRID);
        let label = format!("{n}");
        let size = font.measure(&label, TEXT_PX);
        font.draw(&mut canvas, x0 - 8.0 - size.width as f32, y - size.height as f32 / 2.0, &label, TEXT_PX, AXIS);
        n += y_step;
    }
    let x_step = tick_step(t_max, 8.0);
    let mut t = 0.0;
    while t <= t_max + 1e-9 {
        let x = x_of(t);
        canvas.line(x, y0, x, y0 + 5.0, 1.0, AXIS);
        let label = time_label((t * 1000.0).round() / 1000.0);
        let size = font.measure(&label, TEXT_PX);
        font.draw(&mut canvas, x - size.width as f32 / 2.0, y0 + 8.0, &label, TEXT_PX, AXIS);
        t += x_step;
    }
    let caption = "stream time (s)";
    let size = font.measure(caption, TEXT_PX);
    font.draw(&mut canvas, (x0 + x1 - size.width as f32) / 2.0, y0 + 30.0, caption, TEXT_PX, AXIS);
    canvas.line(x0, y0, x1, y0, 1.5, AXIS);
    canvas.line(x0, y0, x0, y1, 1.5, AXIS);

    // Each series as a staircase: flat until a crossing, one step up at it.
    for (i, s) in series.iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        let mut times = s.times.clone();
        times.sort_by(f64::total_cmp);
        let (mut t_prev, mut count) = (0.0, 0.0);
        for t in times {
            canvas.line(x_of(t_prev), y_of(count), x_of(t), y_of(count), 2.5, color);
            canvas.line(x_of(t), y_of(count), x_of(t), y_of(count + 1.0), 2.5, color);
            (t_prev, count) = (t, count + 1.0);
        }
        canvas.line(x_of(t_prev), y_of(count), x_of(t_max), y_of(count), 2.5, color);
    }

    // Legend, top-left inside the plot.
    let mut y = y1 + 8.0;
    for (i, s) in series.iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        let label = format!("{} ({})", s.label, s.times.len());
        let size = font.measure(&label, TEXT_PX);
        canvas.fill_rect(
            x0 + 8.0,
            y,
            x0 + 36.0 + size.width as f32,
            y + size.height as f32 + 4.0,
            Color::WHITE.with_alpha(220),
        );
        canvas.line(
            x0 + 12.0,
            y + size.height as f32 / 2.0 + 2.0,
            x0 + 28.0,
            y + size.height as f32 / 2.0 + 2.0,
            3.0,
            color,
        );
        font.draw(&mut canvas, x0 + 32.0, y + 2.0, &label, TEXT_PX, AXIS);
        y += size.height as f32 + 6.0;
    }
    if series.is_empty() {
        font.draw(&mut canvas, x0 + 12.0, y1 + 8.0, "no counting line", TEXT_PX, AXIS);
    }
    Ok(pixels)
}

/// Writes packed RGB pixels of the chart's size as a PNG file.
pub fn write_png(path: &Path, rgb: &[u8]) -> Result<(), String> {
    let fail = |e: &dyn std::fmt::Display| format!("cannot write {}: {e}", path.display());
    let file = std::fs::File::create(path).map_err(|e| fail(&e))?;
    let mut encoder = png::Encoder::new(std::io::BufWriter::new(file), WIDTH as u32, HEIGHT as u32);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().map_err(|e| fail(&e))?;
    writer.write_image_data(rgb).map_err(|e| fail(&e))?;
    writer.finish().map_err(|e| fail(&e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pixel(rgb: &[u8], x: usize, y: usize) -> [u8; 3] {
        let i = (y * WIDTH + x) * 3;
        [rgb[i], rgb[i + 1], rgb[i + 2]]
    }

    #[test]
    fn ticks_are_round_numbers() {
        assert_eq!(tick_step(30.0, 8.0), 5.0);
        assert_eq!(tick_step(8.0, 5.0), 2.0);
        assert_eq!(tick_step(1.0, 5.0), 0.2);
        assert_eq!(tick_step(600.0, 8.0), 100.0);
        assert_eq!(time_label(90.0), "1:30");
    }

    #[test]
    fn series_climb_in_their_colour_and_the_png_reads_back() {
        let series = [
            Series { label: "street down".into(), times: vec![3.0, 1.0, 7.5] },
            Series { label: "street up".into(), times: vec![] },
        ];
        let rgb = render("Crossings", &series, 10.0).unwrap();
        // After the last crossing the first series is at its top (3 of 3) to the right edge.
        let y_top = TOP as usize;
        let x = WIDTH - RIGHT as usize - 4;
        assert!((y_top - 2..=y_top + 2).any(|y| pixel(&rgb, x, y) == [31, 119, 180]), "series 1 at its top");
        // The empty series runs along the bottom axis in its colour.
        let y_bottom = HEIGHT - BOTTOM as usize;
        assert!((y_bottom - 2..=y_bottom + 2).any(|y| pixel(&rgb, x, y) == [214, 39, 40]), "series 2 flat at 0");

        let path = std::env::temp_dir().join(format!("traffic-monitor-chart-{}.png", std::process::id()));
        write_png(&path, &rgb).unwrap();
        let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&path).unwrap()));
        let reader = decoder.read_info().unwrap();
        assert_eq!((reader.info().width, reader.info().height), (WIDTH as u32, HEIGHT as u32));
        std::fs::remove_file(&path).ok();
    }
}
