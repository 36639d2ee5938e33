//! What the `overlay` element draws, as plain data ([`Scene`]), and how it is laid out and
//! sized on a frame ([`Painter::render`]). Sizes follow the frame: line widths as Ultralytics
//! draws them (0.3 % of the mean side, at least 2 px), text about 2.4 % of the short side and
//! never under 12 px, so labels stay legible from 320x240 to 3840x2160.

use std::collections::{HashMap, VecDeque};

use super::canvas::{Canvas, Color};
use super::font::{Font, TextSize};
use crate::VisionError;

/// Colours of the classes a traffic scene shows, chosen to be told apart at a glance (and
/// from the yellow counting lines); any other class gets one from [`PALETTE`] by its name.
const PINNED: [(&str, Color); 7] = [
    ("car", Color::rgb(40, 150, 255)),
    ("truck", Color::rgb(255, 70, 60)),
    ("bus", Color::rgb(255, 150, 0)),
    ("motorcycle", Color::rgb(190, 80, 255)),
    ("bicycle", Color::rgb(40, 210, 90)),
    ("person", Color::rgb(255, 100, 190)),
    ("license_plate", Color::rgb(245, 245, 245)),
];

const PALETTE: [Color; 10] = [
    Color::rgb(0, 200, 200),
    Color::rgb(255, 120, 120),
    Color::rgb(130, 200, 40),
    Color::rgb(150, 120, 255),
    Color::rgb(255, 200, 120),
    Color::rgb(0, 160, 120),
    Color::rgb(220, 60, 140),
    Color::rgb(120, 170, 220),
    Color::rgb(200, 160, 0),
    Color::rgb(170, 110, 60),
];

const LINE_COLOR: Color = Color::rgb(255, 230, 0);
const LINE_FLASH: Color = Color::rgb(60, 255, 120);
const PANEL_BG: Color = Color::rgb(0, 0, 0).with_alpha(150);

/// A stable colour per class name: fixed for the common traffic classes, else from a
/// palette by a hash of the name (FNV-1a, the same in every run and process).
pub fn class_color(class: &str) -> Color {
    if let Some((_, c)) = PINNED.iter().find(|(name, _)| *name == class) {
        return *c;
    }
    let hash = class.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ b as u64).wrapping_mul(0x100_0000_01b3));
    PALETTE[(hash % PALETTE.len() as u64) as usize]
}

/// A detected or tracked object.
#[derive(Clone, Debug, PartialEq)]
pub struct ObjectBox {
    /// x1, y1, x2, y2 in frame pixels.
    pub bbox: [f32; 4],
    pub color: Color,
    /// Draw the outline.
    pub outline: bool,
    /// The label over the box, if any.
    pub label: Option<BoxLabel>,
    /// The box comes from the motion model: dashed outline, paler label.
    pub predicted: bool,
}

/// What a box's label says: `car #12 0.87` where it fits; shortened to `car #12`, then to
/// `#12`, where the label would be much wider than a small (far away) box.
#[derive(Clone, Debug, PartialEq)]
pub struct BoxLabel {
    pub class: String,
    pub track_id: Option<u64>,
    pub confidence: Option<f32>,
    /// Shown as `37 km/h`, kept in every shortened text but the last.
    pub speed_kmh: Option<f32>,
}

impl BoxLabel {
    /// The texts from longest to shortest.
    fn texts(&self) -> Vec<String> {
        let id = self.track_id.map(|id| format!("#{id}"));
        let speed = self.speed_kmh.filter(|v| v.is_finite()).map(|v| format!(" {v:.0} km/h")).unwrap_or_default();
        let mut full = self.class.clone();
        if let Some(id) = &id {
            full = format!("{full} {id}");
        }
        let mut texts = Vec::with_capacity(4);
        if let Some(c) = self.confidence.filter(|c| c.is_finite() && *c > 0.0) {
            texts.push(format!("{full} {c:.2}{speed}"));
        }
        texts.push(format!("{full}{speed}"));
        if let Some(id) = id {
            if !speed.is_empty() {
                texts.push(format!("{id}{speed}"));
            }
            texts.push(id);
        }
        texts
    }
}

/// A plate read on a vehicle: its text in a plate-like label under the vehicle's box.
#[derive(Clone, Debug, PartialEq)]
pub struct PlateLabel {
    pub vehicle: [f32; 4],
    /// The plate's own box, outlined when given.
    pub plate_box: Option<[f32; 4]>,
    pub text: Option<String>,
}

/// The recent anchor points of one track, oldest first.
#[derive(Clone, Debug, PartialEq)]
pub struct Trail {
    pub points: Vec<(f32, f32)>,
    pub color: Color,
}

/// A counting line with its label (name and totals).
#[derive(Clone, Debug, PartialEq)]
pub struct CountLine {
    pub start: (f32, f32),
    pub end: (f32, f32),
    pub label: Option<String>,
    /// Something crossed it on this frame: drawn highlighted.
    pub flash: bool,
}

/// A row of the counts panel: one cell is a title across the panel; several are columns
/// (the first left-aligned, the others right-aligned), after a colour swatch when given.
#[derive(Clone, Debug, PartialEq)]
pub struct PanelRow {
    pub swatch: Option<Color>,
    pub cells: Vec<String>,
}

/// Everything to draw on one frame.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Scene {
    pub boxes: Vec<ObjectBox>,
    pub plates: Vec<PlateLabel>,
    pub trails: Vec<Trail>,
    pub lines: Vec<CountLine>,
    pub panel: Vec<PanelRow>,
    /// Text of the FPS box in the top-right corner.
    pub fps: Option<String>,
}

impl Scene {
    pub fn is_empty(&self) -> bool {
        self.boxes.is_empty()
            && self.plates.is_empty()
            && self.trails.iter().all(|t| t.points.len() < 2)
            && self.lines.is_empty()
            && self.panel.is_empty()
            && self.fps.is_none()
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Style {
    /// Multiplies the text size.
    pub font_scale: f32,
}

impl Default for Style {
    fn default() -> Self {
        Style { font_scale: 1.0 }
    }
}

/// Sizes of one frame's drawing.
#[derive(Clone, Copy, Debug)]
struct Metrics {
    /// Box outline width.
    line: f32,
    /// Text line height.
    px: f32,
    /// Padding around text in a label.
    pad: f32,
}

impl Metrics {
    fn of(width: usize, height: usize, style: &Style) -> Self {
        let (w, h) = (width as f32, height as f32);
        let line = ((w + h) * 0.5 * 0.003).round().max(2.0);
        let scale = if style.font_scale.is_finite() { style.font_scale.clamp(0.1, 10.0) } else { 1.0 };
        let px = (w.min(h) * 0.024).max(12.0) * scale;
        Metrics { line, px, pad: (px * 0.18).round().max(1.0) }
    }
}

#[derive(Clone, Copy, Debug)]
struct Rect {
    x0: f32,
    y0: f32,
    x1: f32,
    y1: f32,
}

impl Rect {
    fn overlaps(&self, o: &Rect) -> bool {
        self.x0 < o.x1 && o.x0 < self.x1 && self.y0 < o.y1 && o.y0 < self.y1
    }
}

fn finite_box(b: &[f32; 4]) -> bool {
    b.iter().all(|v| v.is_finite())
}

/// Draws [`Scene`]s; holds the font and its glyph caches, so keep one per stream.
#[derive(Debug)]
pub struct Painter {
    font: Font,
}

impl Painter {
    pub fn new() -> Result<Self, VisionError> {
        Ok(Painter { font: Font::embedded()? })
    }

    pub fn font(&mut self) -> &mut Font {
        &mut self.font
    }

    /// Draws `scene` on `canvas`: lines, trails and boxes first, the text over them.
    pub fn render(&mut self, canvas: &mut Canvas, scene: &Scene, style: &Style) {
        let (w, h) = (canvas.width(), canvas.height());
        if w == 0 || h == 0 {
            return;
        }
        let m = Metrics::of(w, h, style);
        // Labels placed so far: later ones avoid them.
        let mut placed: Vec<Rect> = Vec::new();

        for l in &scene.lines {
            let (color, width) = if l.flash { (LINE_FLASH, m.line * 1.6) } else { (LINE_COLOR, m.line) };
            // A dark rim keeps the line visible on a sunlit road.
            canvas.line(l.start.0, l.start.1, l.end.0, l.end.1, width + 2.0, Color::BLACK.with_alpha(110));
            canvas.line(l.start.0, l.start.1, l.end.0, l.end.1, width, color);
        }
        for t in &scene.trails {
            self.trail(canvas, t, &m);
        }
        for b in scene.boxes.iter().filter(|b| b.outline && finite_box(&b.bbox)) {
            let [x0, y0, x1, y1] = b.bbox;
            if b.predicted {
                let t = (m.line * 0.75).round().max(1.0);
                canvas.dashed_rect(x0, y0, x1, y1, t, m.line * 3.0, b.color);
            } else {
                canvas.stroke_rect(x0, y0, x1, y1, m.line, b.color);
            }
        }
        for p in &scene.plates {
            if let Some([x0, y0, x1, y1]) = p.plate_box {
                canvas.stroke_rect(x0, y0, x1, y1, (m.line * 0.5).max(1.0), class_color("license_plate"));
            }
        }
        for l in &scene.lines {
            if let Some(text) = &l.label {
                let size = self.label_size(text, &m);
                let (mx, my) = ((l.start.0 + l.end.0) * 0.5, (l.start.1 + l.end.1) * 0.5);
                let x = mx - size.0 * 0.5;
                let candidates = [(x, my - size.1 - m.line * 1.5), (x, my + m.line * 1.5)];
                let r = place(&candidates, size, w, h, &placed);
                let fg = if l.flash { LINE_FLASH } else { LINE_COLOR };
                self.label(canvas, r, text, fg, Color::BLACK.with_alpha(170), &m);
                placed.push(r);
            }
        }
        // Labels of big (near) boxes are placed first, so they get the spots above their
        // boxes, and drawn last, so they stay on top where far ones must overlap them.
        let mut order: Vec<&ObjectBox> =
            scene.boxes.iter().filter(|b| b.label.is_some() && finite_box(&b.bbox)).collect();
        let area = |b: &ObjectBox| (b.bbox[2] - b.bbox[0]).abs() * (b.bbox[3] - b.bbox[1]).abs();
        order.sort_by(|a, b| area(b).total_cmp(&area(a)));
        let mut box_labels = Vec::with_capacity(order.len());
        for b in order {
            let Some(label) = &b.label else { continue };
            let [x0, y0, x1, y1] = b.bbox;
            // The longest text not over twice the box width (and the shortest otherwise).
            let room = ((x1 - x0).abs() * 2.0).max(m.px * 3.0);
            let texts = label.texts();
            let mut chosen = None;
            for t in &texts {
                let size = self.label_size(t, &m);
                chosen = Some((t.clone(), size));
                if size.0 <= room {
                    break;
                }
            }
            let Some((text, size)) = chosen else { continue };
            let half = m.line * 0.5;
            let candidates = [(x0 - half, y0 - half - size.1), (x0 - half, y0 + half), (x0 - half, y1 + half)];
            let r = place(&candidates, size, w, h, &placed);
            placed.push(r);
            box_labels.push((r, text, b));
        }
        for (r, text, b) in box_labels.into_iter().rev() {
            let bg = b.color.with_alpha(if b.predicted { 150 } else { 225 });
            self.label(canvas, r, &text, text_color(b.color), bg, &m);
        }
        for p in &scene.plates {
            let Some(text) = p.text.as_deref().filter(|_| finite_box(&p.vehicle)) else { continue };
            let [vx0, _, vx1, vy1] = p.vehicle;
            let centre = p.plate_box.filter(finite_box).map_or((vx0 + vx1) * 0.5, |b| (b[0] + b[2]) * 0.5);
            let pm = Metrics { px: m.px * 1.1, ..m };
            let size = self.label_size(text, &pm);
            let x = centre - size.0 * 0.5;
            let candidates = [(x, vy1 + m.line), (x, vy1 - size.1 - m.line), (x, vy1 + m.line + size.1)];
            let r = place(&candidates, size, w, h, &placed);
            // Dark on white, as a plate reads; the frame keeps it apart from a white car.
            canvas.fill_rect(r.x0 - 1.0, r.y0 - 1.0, r.x1 + 1.0, r.y1 + 1.0, Color::BLACK.with_alpha(200));
            self.label(canvas, r, text, Color::BLACK, Color::rgb(250, 250, 240), &pm);
            placed.push(r);
        }
        self.panel(canvas, &scene.panel, &m);
        if let Some(text) = &scene.fps {
            let size = self.label_size(text, &m);
            let margin = m.line * 2.0;
            let r = Rect { x0: w as f32 - margin - size.0, y0: margin, x1: w as f32 - margin, y1: margin + size.1 };
            self.label(canvas, r, text, Color::WHITE, PANEL_BG, &m);
        }
    }

    /// Width and height of a label (text plus padding).
    fn label_size(&mut self, text: &str, m: &Metrics) -> (f32, f32) {
        let s = self.font.measure(text, m.px);
        (s.width as f32 + 2.0 * m.pad, s.height as f32 + 2.0 * m.pad)
    }

    fn label(&mut self, canvas: &mut Canvas, r: Rect, text: &str, fg: Color, bg: Color, m: &Metrics) -> TextSize {
        canvas.fill_rect(r.x0, r.y0, r.x1, r.y1, bg);
        self.font.draw(canvas, r.x0 + m.pad, r.y0 + m.pad, text, m.px, fg)
    }

    /// The trail as opaque segments tapering from a third of the box outline's width
    /// (oldest) to its full width (newest): opaque, so the round joints do not show.
    fn trail(&mut self, canvas: &mut Canvas, t: &Trail, m: &Metrics) {
        let n = t.points.len();
        if n < 2 {
            return;
        }
        for (i, pair) in t.points.windows(2).enumerate() {
            let (a, b) = (pair[0], pair[1]);
            let k = (i + 1) as f32 / (n - 1) as f32;
            let width = (m.line * (0.35 + 0.65 * k)).max(1.0);
            canvas.line(a.0, a.1, b.0, b.1, width, t.color.with_alpha(255));
        }
    }

    /// The counts panel in the top-left corner.
    fn panel(&mut self, canvas: &mut Canvas, rows: &[PanelRow], m: &Metrics) {
        if rows.is_empty() {
            return;
        }
        let px = m.px;
        let gap = (px * 0.7).round();
        let swatch = (px * 0.6).round();
        let row_h = (px * 1.15).round();
        let columns = rows.iter().filter(|r| r.cells.len() > 1).map(|r| r.cells.len()).max().unwrap_or(0);
        let mut col_w = vec![0f32; columns];
        let mut title_w = 0f32;
        for r in rows {
            if r.cells.len() > 1 {
                for (c, text) in r.cells.iter().enumerate() {
                    col_w[c] = col_w[c].max(self.font.measure(text, px).width as f32);
                }
            } else if let Some(text) = r.cells.first() {
                title_w = title_w.max(self.font.measure(text, px).width as f32);
            }
        }
        let indent = if rows.iter().any(|r| r.swatch.is_some()) { swatch + gap * 0.5 } else { 0.0 };
        let table_w = indent + col_w.iter().sum::<f32>() + gap * columns.saturating_sub(1) as f32;
        let margin = m.line * 2.0;
        let pad = m.pad * 2.0;
        let (x0, y0) = (margin, margin);
        let width = table_w.max(title_w) + 2.0 * pad;
        let height = rows.len() as f32 * row_h + 2.0 * pad - (row_h - px);
        canvas.fill_rect(x0, y0, x0 + width, y0 + height, PANEL_BG);
        for (i, r) in rows.iter().enumerate() {
            let y = y0 + pad + i as f32 * row_h;
            let mut x = x0 + pad;
            if r.cells.len() <= 1 {
                if let Some(text) = r.cells.first() {
                    self.font.draw(canvas, x, y, text, px, LINE_COLOR);
                }
                continue;
            }
            if let Some(c) = r.swatch {
                let sy = y + (px - swatch) * 0.5;
                canvas.fill_rect(x, sy, x + swatch, sy + swatch, c);
            }
            x += indent;
            for (c, text) in r.cells.iter().enumerate() {
                let tx = if c == 0 { x } else { x + col_w[c] - self.font.measure(text, px).width as f32 };
                self.font.draw(canvas, tx, y, text, px, Color::WHITE);
                x += col_w[c] + gap;
            }
        }
    }
}

fn text_color(bg: Color) -> Color {
    if bg.brightness() > 150.0 {
        Color::BLACK
    } else {
        Color::WHITE
    }
}

/// The first candidate position (top-left) that fits in the frame vertically and overlaps no
/// placed label; else the first that fits; always moved inside the frame.
fn place(candidates: &[(f32, f32)], size: (f32, f32), w: usize, h: usize, placed: &[Rect]) -> Rect {
    let (w, h) = (w as f32, h as f32);
    let rect = |(x, y): (f32, f32)| {
        let x = x.min(w - size.0).max(0.0);
        let y = y.min(h - size.1).max(0.0);
        Rect { x0: x, y0: y, x1: x + size.0, y1: y + size.1 }
    };
    let fits = |&(_, y): &(f32, f32)| y >= 0.0 && y + size.1 <= h;
    let free = |p: &(f32, f32)| !placed.iter().any(|q| rect(*p).overlaps(q));
    candidates
        .iter()
        .find(|p| fits(p) && free(p))
        .or_else(|| candidates.iter().find(|p| fits(p)))
        .or(candidates.first())
        .map_or(rect((0.0, 0.0)), |p| rect(*p))
}

/// The recent anchor positions of each track, for trails.
#[derive(Clone, Debug, Default)]
pub struct Trails {
    tracks: HashMap<u64, TrackTrail>,
    frame: u64,
}

#[derive(Clone, Debug)]
struct TrackTrail {
    points: VecDeque<(f32, f32)>,
    last_seen: u64,
}

impl Trails {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds this frame's anchor of each track, `(id, point, max_step)`, keeping the last
    /// `max_len` per track, and forgets tracks not seen for `max_len` frames. A point further
    /// than `max_step` from the track's last one (an ID switch, a box that jumped) starts the
    /// trail over, so no trail cuts across the frame; the box size is a fair `max_step`.
    pub fn update(&mut self, anchors: &[(u64, (f32, f32), f32)], max_len: usize) {
        self.frame += 1;
        let max_len = max_len.max(1);
        for &(id, p, max_step) in anchors {
            if !(p.0.is_finite() && p.1.is_finite()) {
                continue;
            }
            let t = self.tracks.entry(id).or_insert_with(|| TrackTrail { points: VecDeque::new(), last_seen: 0 });
            if let Some(&(x, y)) = t.points.back() {
                let step = ((p.0 - x).powi(2) + (p.1 - y).powi(2)).sqrt();
                // A NaN step (a NaN max_step) starts over too.
                let within = step.partial_cmp(&max_step).is_some_and(|o| o.is_le());
                if !within {
                    t.points.clear();
                }
            }
            t.points.push_back(p);
            t.last_seen = self.frame;
        }
        let frame = self.frame;
        self.tracks.retain(|_, t| {
            while t.points.len() > max_len {
                t.points.pop_front();
            }
            frame - t.last_seen < max_len as u64
        });
    }

    /// The points of track `id`, oldest first.
    pub fn points(&self, id: u64) -> Vec<(f32, f32)> {
        self.tracks.get(&id).map(|t| t.points.iter().copied().collect()).unwrap_or_default()
    }

    /// Tracks remembered.
    pub fn len(&self) -> usize {
        self.tracks.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tracks.is_empty()
    }

    pub fn clear(&mut self) {
        self.tracks.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn class_colours_are_stable_and_distinct_for_vehicles() {
        let vehicles = ["car", "truck", "bus", "motorcycle", "bicycle"];
        for (i, a) in vehicles.iter().enumerate() {
            assert_eq!(class_color(a), class_color(a));
            for b in &vehicles[i + 1..] {
                assert_ne!(class_color(a), class_color(b), "{a} {b}");
            }
            assert_ne!(class_color(a), LINE_COLOR);
        }
        assert_eq!(class_color("traffic light"), class_color("traffic light"));
    }

    #[test]
    fn trails_keep_the_last_points_and_forget_lost_tracks() {
        let mut t = Trails::new();
        for i in 0..10 {
            t.update(&[(1, (i as f32, 0.0), 50.0), (2, (0.0, i as f32), 50.0)], 4);
        }
        assert_eq!(t.points(1), vec![(6.0, 0.0), (7.0, 0.0), (8.0, 0.0), (9.0, 0.0)]);
        for _ in 0..3 {
            t.update(&[(1, (10.0, 0.0), 50.0)], 4);
        }
        assert_eq!(t.len(), 2, "track 2 missed 3 frames, kept");
        t.update(&[(1, (10.0, 0.0), 50.0), (3, (f32::NAN, 1.0), 50.0)], 4);
        assert_eq!(t.len(), 1, "track 2 missed 4 frames, forgotten; NaN anchors ignored");
        assert!(t.points(2).is_empty());
        // A jump further than the step starts the trail over.
        t.update(&[(1, (200.0, 0.0), 50.0)], 4);
        assert_eq!(t.points(1), vec![(200.0, 0.0)]);
    }

    #[test]
    fn labels_shorten_from_the_confidence_then_the_class() {
        let l = BoxLabel { class: "car".into(), track_id: Some(12), confidence: Some(0.871), speed_kmh: None };
        assert_eq!(l.texts(), ["car #12 0.87", "car #12", "#12"]);
        let l = BoxLabel { class: "car".into(), track_id: None, confidence: Some(f32::NAN), speed_kmh: None };
        assert_eq!(l.texts(), ["car"]);
        let l = BoxLabel { class: "car".into(), track_id: Some(12), confidence: Some(0.871), speed_kmh: Some(37.4) };
        assert_eq!(l.texts(), ["car #12 0.87 37 km/h", "car #12 37 km/h", "#12 37 km/h", "#12"]);
    }

    #[test]
    fn labels_are_placed_apart_and_inside_the_frame() {
        let size = (50.0, 20.0);
        let first = place(&[(10.0, -5.0), (10.0, 30.0)], size, 200, 100, &[]);
        assert_eq!((first.x0, first.y0), (10.0, 30.0), "the one above would leave the frame");
        let second = place(&[(20.0, 30.0), (20.0, 60.0)], size, 200, 100, &[first]);
        assert_eq!(second.y0, 60.0, "avoids the first");
        let clamped = place(&[(190.0, 10.0)], size, 200, 100, &[]);
        assert_eq!(clamped.x1, 200.0);
        let tiny = place(&[(0.0, 0.0)], size, 10, 5, &[]);
        assert!(tiny.x0.is_finite() && tiny.y0.is_finite());
    }

    fn render_rgb(w: usize, h: usize, scene: &Scene) -> Vec<u8> {
        let mut data = vec![0u8; w * h * 3];
        let mut overlay = Painter::new().unwrap();
        let mut c = Canvas::rgb(&mut data, w, h).unwrap();
        overlay.render(&mut c, scene, &Style::default());
        data
    }

    fn full_scene() -> Scene {
        let car = ObjectBox {
            bbox: [100.0, 100.0, 220.0, 180.0],
            color: class_color("car"),
            outline: true,
            label: Some(BoxLabel { class: "car".into(), track_id: Some(3), confidence: Some(0.91), speed_kmh: None }),
            predicted: false,
        };
        Scene {
            boxes: vec![car.clone(), ObjectBox { bbox: [250.0, 120.0, 300.0, 160.0], predicted: true, ..car }],
            plates: vec![PlateLabel {
                vehicle: [100.0, 100.0, 220.0, 180.0],
                plate_box: Some([140.0, 160.0, 180.0, 172.0]),
                text: Some("AB 123".into()),
            }],
            trails: vec![Trail {
                points: vec![(10.0, 300.0), (50.0, 280.0), (90.0, 250.0)],
                color: class_color("car"),
            }],
            lines: vec![CountLine {
                start: (0.0, 220.0),
                end: (400.0, 230.0),
                label: Some("north in 3 out 2".into()),
                flash: true,
            }],
            panel: vec![
                PanelRow { swatch: None, cells: vec!["north".into()] },
                PanelRow { swatch: Some(class_color("car")), cells: vec!["car".into(), "3".into(), "2".into()] },
            ],
            fps: Some("24.9 fps".into()),
        }
    }

    #[test]
    fn a_scene_draws_and_an_empty_one_does_not() {
        let (w, h) = (400, 300);
        assert!(render_rgb(w, h, &Scene::default()).iter().all(|&b| b == 0));
        assert!(Scene::default().is_empty());
        let scene = full_scene();
        assert!(!scene.is_empty());
        let data = render_rgb(w, h, &scene);
        let lit = |x: usize, y: usize| data[(y * w + x) * 3..][..3] != [0, 0, 0];
        assert!(lit(100, 140) && lit(220, 140), "box edges");
        assert!(!lit(160, 130), "box inside");
        assert!(lit(200, 225), "the counting line");
        assert!(lit(w - 20, 15), "the FPS box, top right");
    }

    #[test]
    fn rendering_survives_any_geometry() {
        let mut scene = full_scene();
        scene.boxes[0].bbox = [f32::NAN, 0.0, 1e30, -1e30];
        scene.plates[0].vehicle = [-1e9, -1e9, 1e9, 1e9];
        scene.lines[0].end = (f32::INFINITY, 3.0);
        for (w, h) in [(0, 0), (1, 1), (3, 2), (33, 17), (320, 240)] {
            render_rgb(w, h, &scene);
        }
    }
}
