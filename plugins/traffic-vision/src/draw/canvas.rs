//! A mutable view of a frame's planes and the primitives drawn on it.

use crate::frame::{PixelFormat, YuvMatrix, YuvToRgb};
use crate::VisionError;

/// An sRGB colour with its opacity (`a`: 0 transparent .. 255 opaque).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Color {
    pub r: u8,
    pub g: u8,
    pub b: u8,
    pub a: u8,
}

impl Color {
    pub const BLACK: Color = Color::rgb(0, 0, 0);
    pub const WHITE: Color = Color::rgb(255, 255, 255);

    pub const fn rgb(r: u8, g: u8, b: u8) -> Self {
        Color { r, g, b, a: 255 }
    }

    pub const fn with_alpha(self, a: u8) -> Self {
        Color { a, ..self }
    }

    /// Perceived brightness, 0..255 (BT.601 weights): picks black or white text over it.
    pub fn brightness(self) -> f32 {
        0.299 * self.r as f32 + 0.587 * self.g as f32 + 0.114 * self.b as f32
    }
}

/// R'G'B' (0..255) to Y'CbCr: the exact inverse of a frame's [`YuvToRgb`], so a colour drawn
/// on a YUV frame reads back as that colour through the frame's own conversion.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RgbToYuv {
    /// Rows: Y', U' (Cb - 128), V' (Cr - 128) from R, G, B.
    m: [[f32; 3]; 3],
    y_offset: f32,
    y_gain: f32,
}

fn invert3(a: [[f32; 3]; 3]) -> Option<[[f32; 3]; 3]> {
    let c = |r: usize, k: usize| {
        let (r0, r1) = ((r + 1) % 3, (r + 2) % 3);
        let (k0, k1) = ((k + 1) % 3, (k + 2) % 3);
        a[r0][k0] * a[r1][k1] - a[r0][k1] * a[r1][k0]
    };
    let det = a[0][0] * c(0, 0) + a[0][1] * c(0, 1) + a[0][2] * c(0, 2);
    if !det.is_finite() || det.abs() < 1e-9 {
        return None;
    }
    // The inverse is the transposed cofactor matrix over the determinant.
    let mut inv = [[0.0; 3]; 3];
    for (i, row) in inv.iter_mut().enumerate() {
        for (k, v) in row.iter_mut().enumerate() {
            *v = c(k, i) / det;
        }
    }
    Some(inv)
}

impl RgbToYuv {
    pub fn inverse_of(c: &YuvToRgb) -> Self {
        // (Y', U', V') -> RGB: R = Y' + r_v V', G = Y' + g_u U' + g_v V', B = Y' + b_u U'.
        let forward = [[1.0, 0.0, c.r_v], [1.0, c.g_u, c.g_v], [1.0, c.b_u, 0.0]];
        let valid_gain = c.y_gain.is_finite() && c.y_gain.abs() > 1e-6 && c.y_offset.is_finite();
        match invert3(forward) {
            Some(m) if valid_gain => RgbToYuv { m, y_offset: c.y_offset, y_gain: c.y_gain },
            // Not a real conversion (the fields are public): fall back to full-range BT.601.
            _ => RgbToYuv::inverse_of(&YuvToRgb::new(YuvMatrix::Bt601, true)),
        }
    }

    /// `[y, u, v]` of an R'G'B' colour, rounded and clamped to 0..255.
    pub fn convert(&self, r: u8, g: u8, b: u8) -> [u8; 3] {
        let rgb = [r as f32, g as f32, b as f32];
        let dot = |row: [f32; 3]| row[0] * rgb[0] + row[1] * rgb[1] + row[2] * rgb[2];
        let y = dot(self.m[0]) / self.y_gain + self.y_offset;
        let u = dot(self.m[1]) + 128.0;
        let v = dot(self.m[2]) + 128.0;
        [y, u, v].map(|c| c.round().clamp(0.0, 255.0) as u8)
    }
}

#[derive(Clone, Copy, Debug)]
enum Layout {
    /// Byte offsets of R, G, B in a pixel, and the pixel size.
    Packed([usize; 3], usize),
    I420,
    Nv12,
}

/// A colour ready for the frame: R, G, B (packed) or Y, U, V (planar), and alpha in 0..=256.
#[derive(Clone, Copy, Debug)]
struct Paint {
    c: [u8; 3],
    a: u32,
}

/// `d` towards `s` by `a`/256.
#[inline(always)]
fn mix(d: u8, s: u8, a: u32) -> u8 {
    ((d as u32 * (256 - a) + s as u32 * a + 128) >> 8) as u8
}

/// Coverage (0..255) times a paint alpha (0..=256), in 0..=256.
#[inline(always)]
fn scale_alpha(coverage: u32, a: u32) -> u32 {
    // x / 255 rounded, exact for x < 65536, without a division.
    let x = coverage * a + 128;
    (x + (x >> 8)) >> 8
}

/// Blends a constant colour over a row of `N`-byte pixels: `pattern` holds the pixel's bytes
/// and `alpha` each byte's alpha (0 for a byte to keep, such as the alpha of RGBA). The loop
/// is over fixed-size chunks, so the compiler unrolls and vectorises it.
#[inline(always)]
fn blend_row<const N: usize>(row: &mut [u8], pattern: [u8; N], alpha: [u16; N]) {
    let keep = alpha.map(|a| 256 - a);
    let add = std::array::from_fn::<u16, N, _>(|k| pattern[k] as u16 * alpha[k] + 128);
    for px in row.chunks_exact_mut(N) {
        for k in 0..N {
            px[k] = ((px[k] as u16 * keep[k] + add[k]) >> 8) as u8;
        }
    }
}

/// Luma columns `[a, b)` cover this share of block column `block` (whose luma columns end at
/// `limit`): (covered, total).
fn block_share(a: usize, b: usize, block: usize, limit: usize) -> (u32, u32) {
    let (lo, hi) = (2 * block, (2 * block + 2).min(limit));
    let covered = hi.min(b).saturating_sub(lo.max(a));
    (covered as u32, (hi - lo) as u32)
}

/// A float coordinate rounded onto the pixel grid and clamped to `0..=limit`.
fn grid(v: f32, limit: usize) -> usize {
    v.round().clamp(0.0, limit as f32) as usize
}

/// A mutable frame to draw on. Built only through [`Canvas::new`], which checks that every
/// pixel the geometry promises lies inside its plane, so the primitives index without
/// panicking; every primitive clips to the frame.
pub struct Canvas<'a> {
    format: PixelFormat,
    layout: Layout,
    width: usize,
    height: usize,
    planes: [&'a mut [u8]; 3],
    strides: [usize; 3],
    to_yuv: RgbToYuv,
    /// Coverage of two luma rows, for the chroma of planar frames.
    rows: [Vec<u8>; 2],
}

impl<'a> Canvas<'a> {
    /// Planes and strides as GStreamer maps them; `yuv` is the frame's YUV → RGB conversion
    /// (ignored for packed RGB). A frame of zero width or height is valid and draws nothing.
    pub fn new(
        format: PixelFormat,
        width: usize,
        height: usize,
        planes: impl IntoIterator<Item = &'a mut [u8]>,
        strides: &[usize],
        yuv: YuvToRgb,
    ) -> Result<Self, VisionError> {
        let layout = match format {
            PixelFormat::I420 => Layout::I420,
            PixelFormat::Nv12 => Layout::Nv12,
            f => {
                let (offsets, bpp) = f.packed_layout().unwrap_or(([0, 1, 2], 3));
                Layout::Packed(offsets, bpp)
            }
        };
        let (cw, ch) = (width.div_ceil(2), height.div_ceil(2));
        // (bytes per row actually touched, rows) for each plane.
        let needs: Vec<(usize, usize)> = match layout {
            Layout::I420 => vec![(width, height), (cw, ch), (cw, ch)],
            Layout::Nv12 => vec![(width, height), (cw * 2, ch)],
            Layout::Packed(_, bpp) => vec![(width * bpp, height)],
        };
        let mut given: Vec<&'a mut [u8]> = planes.into_iter().collect();
        if given.len() < needs.len() || strides.len() < needs.len() {
            return Err(VisionError::Frame(format!(
                "{format:?} needs {} planes, got {} with {} strides",
                needs.len(),
                given.len(),
                strides.len()
            )));
        }
        let mut p: [&'a mut [u8]; 3] = Default::default();
        let mut s = [0usize; 3];
        for (i, (&(row_bytes, rows), plane)) in needs.iter().zip(given.drain(..)).enumerate() {
            let need = if rows == 0 || row_bytes == 0 { 0 } else { strides[i] * (rows - 1) + row_bytes };
            if (rows > 0 && strides[i] < row_bytes) || plane.len() < need {
                return Err(VisionError::Frame(format!(
                    "plane {i} of a {width}x{height} {format:?} frame has {} bytes, stride {}; needs {need}",
                    plane.len(),
                    strides[i]
                )));
            }
            p[i] = plane;
            s[i] = strides[i];
        }
        Ok(Canvas {
            format,
            layout,
            width,
            height,
            planes: p,
            strides: s,
            to_yuv: RgbToYuv::inverse_of(&yuv),
            rows: [Vec::new(), Vec::new()],
        })
    }

    /// A tightly packed RGB frame, handy for tests and still images.
    pub fn rgb(data: &'a mut [u8], width: usize, height: usize) -> Result<Self, VisionError> {
        let yuv = YuvToRgb::new(YuvMatrix::Bt601, false);
        Canvas::new(PixelFormat::Rgb, width, height, [data], &[width * 3], yuv)
    }

    pub fn width(&self) -> usize {
        self.width
    }

    pub fn height(&self) -> usize {
        self.height
    }

    pub fn format(&self) -> PixelFormat {
        self.format
    }

    fn paint(&self, color: Color) -> Paint {
        let a = color.a as u32 + (color.a as u32 >> 7);
        match self.layout {
            Layout::Packed(..) => Paint { c: [color.r, color.g, color.b], a },
            Layout::I420 | Layout::Nv12 => Paint { c: self.to_yuv.convert(color.r, color.g, color.b), a },
        }
    }

    /// Fills `[x0, x1) x [y0, y1)` (rounded to whole pixels) with `color`, blended by its alpha.
    pub fn fill_rect(&mut self, x0: f32, y0: f32, x1: f32, y1: f32, color: Color) {
        if ![x0, y0, x1, y1].iter().all(|v| v.is_finite()) {
            return;
        }
        let (xa, xb) = (grid(x0.min(x1), self.width), grid(x0.max(x1), self.width));
        let (ya, yb) = (grid(y0.min(y1), self.height), grid(y0.max(y1), self.height));
        self.fill_span_rect(xa, ya, xb, yb, color);
    }

    /// Whole-pixel rectangle, in any coordinates (clipped here).
    fn fill_irect(&mut self, x0: i64, y0: i64, x1: i64, y1: i64, color: Color) {
        let cx = |v: i64| v.clamp(0, self.width as i64) as usize;
        let cy = |v: i64| v.clamp(0, self.height as i64) as usize;
        self.fill_span_rect(cx(x0), cy(y0), cx(x1), cy(y1), color);
    }

    /// A whole-pixel rectangle inside the frame: the common case (outlines, label
    /// backgrounds), blended row by row with a constant alpha.
    fn fill_span_rect(&mut self, xa: usize, ya: usize, xb: usize, yb: usize, color: Color) {
        let (xb, yb) = (xb.min(self.width), yb.min(self.height));
        let paint = self.paint(color);
        if xa >= xb || ya >= yb || paint.a == 0 {
            return;
        }
        let a = paint.a as u16;
        match self.layout {
            Layout::Packed(offsets, bpp) => {
                let stride = self.strides[0];
                let plane = &mut *self.planes[0];
                let mut pattern = [0u8; 4];
                let mut alpha = [0u16; 4];
                for (&o, &c) in offsets.iter().zip(&paint.c) {
                    pattern[o] = c;
                    alpha[o] = a;
                }
                for y in ya..yb {
                    let row = &mut plane[y * stride + xa * bpp..y * stride + xb * bpp];
                    if bpp == 4 {
                        blend_row::<4>(row, pattern, alpha);
                    } else {
                        blend_row::<3>(row, [pattern[0], pattern[1], pattern[2]], [alpha[0], alpha[1], alpha[2]]);
                    }
                }
            }
            Layout::I420 | Layout::Nv12 => {
                let (width, height) = (self.width, self.height);
                let nv12 = matches!(self.layout, Layout::Nv12);
                let [py, p1, p2] = &mut self.planes;
                let [sy, s1, s2] = self.strides;
                let [ycol, ucol, vcol] = paint.c;
                for y in ya..yb {
                    blend_row::<1>(&mut py[y * sy + xa..y * sy + xb], [ycol], [a]);
                }
                // Chroma: whole blocks inside get the paint's alpha, edge blocks the share of
                // their luma pixels the rectangle covers.
                let (ca, cb) = (xa / 2, xb.div_ceil(2));
                let mut inner = ca;
                while inner < cb && block_share(xa, xb, inner, width).0 < 2 {
                    inner += 1;
                }
                let mut inner_end = cb;
                while inner_end > inner && block_share(xa, xb, inner_end - 1, width).0 < 2 {
                    inner_end -= 1;
                }
                for cy in ya / 2..yb.div_ceil(2) {
                    let (ry, ny) = block_share(ya, yb, cy, height);
                    let row_a = a as u32 * ry / ny;
                    let full_rows = ry == ny;
                    let mut one = |cx: usize, a: u32| {
                        if nv12 {
                            let o = cy * s1 + 2 * cx;
                            p1[o] = mix(p1[o], ucol, a);
                            p1[o + 1] = mix(p1[o + 1], vcol, a);
                        } else {
                            p1[cy * s1 + cx] = mix(p1[cy * s1 + cx], ucol, a);
                            p2[cy * s2 + cx] = mix(p2[cy * s2 + cx], vcol, a);
                        }
                    };
                    for cx in (ca..inner).chain(inner_end.max(inner)..cb) {
                        let (rx, nx) = block_share(xa, xb, cx, width);
                        one(cx, row_a * rx / nx);
                    }
                    if !full_rows || inner >= inner_end {
                        for cx in inner..inner_end {
                            one(cx, row_a);
                        }
                    } else if nv12 {
                        blend_row::<2>(&mut p1[cy * s1 + 2 * inner..cy * s1 + 2 * inner_end], [ucol, vcol], [a, a]);
                    } else {
                        blend_row::<1>(&mut p1[cy * s1 + inner..cy * s1 + inner_end], [ucol], [a]);
                        blend_row::<1>(&mut p2[cy * s2 + inner..cy * s2 + inner_end], [vcol], [a]);
                    }
                }
            }
        }
    }

    /// The outline of a box, `thickness` pixels wide and centred on its edges.
    pub fn stroke_rect(&mut self, x0: f32, y0: f32, x1: f32, y1: f32, thickness: f32, color: Color) {
        self.outline(x0, y0, x1, y1, thickness, None, color);
    }

    /// The same, dashed (dashes of `dash` pixels, gaps of about two thirds of that).
    #[allow(clippy::too_many_arguments)]
    pub fn dashed_rect(&mut self, x0: f32, y0: f32, x1: f32, y1: f32, thickness: f32, dash: f32, color: Color) {
        self.outline(x0, y0, x1, y1, thickness, Some(dash), color);
    }

    #[allow(clippy::too_many_arguments)]
    fn outline(&mut self, x0: f32, y0: f32, x1: f32, y1: f32, thickness: f32, dash: Option<f32>, color: Color) {
        if ![x0, y0, x1, y1, thickness].iter().all(|v| v.is_finite()) {
            return;
        }
        // Far outside the frame is as good as just outside; keeps the integer math small.
        let lim = 4.0 * (self.width + self.height) as f32 + 1024.0;
        let snap = |v: f32| v.clamp(-lim, lim).round() as i64;
        let t = thickness.clamp(1.0, lim).round() as i64;
        let (ox0, oy0) = (snap(x0.min(x1)) - t / 2, snap(y0.min(y1)) - t / 2);
        let (ox1, oy1) = (snap(x0.max(x1)) + (t - t / 2), snap(y0.max(y1)) + (t - t / 2));
        if ox1 - ox0 <= 2 * t || oy1 - oy0 <= 2 * t {
            self.fill_irect(ox0, oy0, ox1, oy1, color);
            return;
        }
        match dash {
            None => {
                // An opaque colour may cover a pixel twice: the sides then run through the
                // corners, so a chroma block split between a side and the top or bottom still
                // gets the whole colour (two half-blends would leave a quarter of the old one).
                let corner = if color.a == 255 { 0 } else { t };
                self.fill_irect(ox0, oy0, ox1, oy0 + t, color);
                self.fill_irect(ox0, oy1 - t, ox1, oy1, color);
                self.fill_irect(ox0, oy0 + corner, ox0 + t, oy1 - corner, color);
                self.fill_irect(ox1 - t, oy0 + corner, ox1, oy1 - corner, color);
            }
            Some(d) => {
                let on = (d.clamp(1.0, lim).round() as i64).max(t);
                let period = on + (on * 2 / 3).max(1);
                let mut x = ox0;
                while x < ox1 {
                    let e = (x + on).min(ox1);
                    self.fill_irect(x, oy0, e, oy0 + t, color);
                    self.fill_irect(x, oy1 - t, e, oy1, color);
                    x += period;
                }
                let mut y = oy0 + period;
                while y < oy1 - t {
                    let e = (y + on).min(oy1 - t);
                    self.fill_irect(ox0, y, ox0 + t, e, color);
                    self.fill_irect(ox1 - t, y, ox1, e, color);
                    y += period;
                }
                // Close the corners so the box reads as a box.
                self.fill_irect(ox0, oy1 - on.min(oy1 - oy0), ox0 + t, oy1 - t, color);
                self.fill_irect(ox1 - t, oy1 - on.min(oy1 - oy0), ox1, oy1 - t, color);
                self.fill_irect(ox1 - on.min(ox1 - ox0), oy0, ox1, oy0 + t, color);
                self.fill_irect(ox1 - on.min(ox1 - ox0), oy1 - t, ox1, oy1, color);
            }
        }
    }

    /// A segment from (x0, y0) to (x1, y1), `thickness` wide with round caps, anti-aliased.
    pub fn line(&mut self, x0: f32, y0: f32, x1: f32, y1: f32, thickness: f32, color: Color) {
        if ![x0, y0, x1, y1, thickness].iter().all(|v| v.is_finite()) || thickness <= 0.0 {
            return;
        }
        let lim = 4.0 * (self.width + self.height) as f32 + 1024.0;
        let [x0, y0, x1, y1] = [x0, y0, x1, y1].map(|v| v.clamp(-lim, lim));
        let r = (thickness * 0.5).clamp(0.25, lim);
        let reach = r + 1.0;
        let (dx, dy) = (x1 - x0, y1 - y0);
        let len2 = dx * dx + dy * dy;
        let len = len2.sqrt();
        // Unit normal of the segment; zero for a dot.
        let (nx, ny) = if len > 1e-6 { (-dy / len, dx / len) } else { (0.0, 0.0) };
        let ya = grid((y0.min(y1) - reach).floor(), self.height);
        let yb = grid((y0.max(y1) + reach).ceil(), self.height);
        let (bx0, bx1) = ((x0.min(x1) - reach).floor(), (x0.max(x1) + reach).ceil());
        let width = self.width;
        let span = move |y: usize| {
            let (mut lo, mut hi) = (bx0, bx1);
            if nx.abs() > 1e-3 {
                // Columns where the pixel centre is within `reach` of the infinite line.
                let base = ny * (y as f32 + 0.5 - y0);
                let t1 = x0 + (-reach - base) / nx - 0.5;
                let t2 = x0 + (reach - base) / nx - 0.5;
                lo = lo.max(t1.min(t2).floor());
                hi = hi.min(t1.max(t2).ceil() + 1.0);
            }
            (grid(lo, width), grid(hi, width))
        };
        let inv_len2 = if len2 > 0.0 { 1.0 / len2 } else { 0.0 };
        // Squared distances under which a pixel is fully covered, over which not at all.
        let (inside2, outside2) = ((r - 0.5).max(0.0).powi(2), (r + 0.5).powi(2));
        let cover = move |x: usize, y: usize| {
            let (px, py) = (x as f32 + 0.5 - x0, y as f32 + 0.5 - y0);
            let t = ((px * dx + py * dy) * inv_len2).clamp(0.0, 1.0);
            let (ex, ey) = (px - t * dx, py - t * dy);
            let d2 = ex * ex + ey * ey;
            if d2 <= inside2 {
                255
            } else if d2 >= outside2 {
                0
            } else {
                let c = (r + 0.5 - d2.sqrt()).clamp(0.0, 1.0);
                (c * 255.0 + 0.5) as u8
            }
        };
        self.raster(ya, yb, color, span, cover);
    }

    /// Blends `color` through an alpha mask of `w` x `h` (row-major, 0..255) whose top-left
    /// pixel lands on (x, y).
    pub fn mask(&mut self, x: i64, y: i64, w: usize, h: usize, mask: &[u8], color: Color) {
        if w == 0 || h == 0 || mask.len() < w * h {
            return;
        }
        let (wi, hi) = (w as i64, h as i64);
        let ya = y.clamp(0, self.height as i64) as usize;
        let yb = y.saturating_add(hi).clamp(0, self.height as i64) as usize;
        let xa = x.clamp(0, self.width as i64) as usize;
        let xb = x.saturating_add(wi).clamp(0, self.width as i64) as usize;
        if xa >= xb || ya >= yb {
            return;
        }
        // Inside the clipped rectangle, (x - mx, y - my) is inside the mask.
        self.raster(
            ya,
            yb,
            color,
            |_| (xa, xb),
            |px, py| mask[(py as i64 - y) as usize * w + (px as i64 - x) as usize],
        );
    }

    /// Blends `color` over rows `y0..y1` (within the frame): on row `y` over the columns
    /// `span(y)` (clipped to the frame), with the coverage `cover(x, y)` (0..255) of each pixel.
    fn raster<S, C>(&mut self, y0: usize, y1: usize, color: Color, span: S, cover: C)
    where
        S: Fn(usize) -> (usize, usize),
        C: Fn(usize, usize) -> u8,
    {
        let y1 = y1.min(self.height);
        let paint = self.paint(color);
        if paint.a == 0 || y0 >= y1 || self.width == 0 {
            return;
        }
        let width = self.width;
        let clip = |y: usize| {
            let (a, b) = span(y);
            (a.min(width), b.min(width))
        };
        match self.layout {
            Layout::Packed(offsets, bpp) => {
                let stride = self.strides[0];
                let plane = &mut *self.planes[0];
                for y in y0..y1 {
                    let (xa, xb) = clip(y);
                    if xa >= xb {
                        continue;
                    }
                    let row = &mut plane[y * stride + xa * bpp..y * stride + xb * bpp];
                    for (x, px) in (xa..xb).zip(row.chunks_exact_mut(bpp)) {
                        let c = cover(x, y);
                        if c == 0 {
                            continue;
                        }
                        let a = scale_alpha(c as u32, paint.a);
                        for (&o, &s) in offsets.iter().zip(&paint.c) {
                            px[o] = mix(px[o], s, a);
                        }
                    }
                }
            }
            Layout::I420 | Layout::Nv12 => self.raster_yuv(y0, y1, paint, clip, cover),
        }
    }

    /// Planar YUV: luma per pixel, and chroma per 2x2 block with the block's mean coverage,
    /// so a shape's edge inside a block blends the chroma by the share of the block it covers.
    fn raster_yuv<S, C>(&mut self, y0: usize, y1: usize, paint: Paint, span: S, cover: C)
    where
        S: Fn(usize) -> (usize, usize),
        C: Fn(usize, usize) -> u8,
    {
        let (width, height) = (self.width, self.height);
        let nv12 = matches!(self.layout, Layout::Nv12);
        let [py, p1, p2] = &mut self.planes;
        let [sy, s1, s2] = self.strides;
        let [ycol, ucol, vcol] = paint.c;
        for cy in y0 / 2..y1.div_ceil(2) {
            let luma_rows = [2 * cy, 2 * cy + 1];
            let spans = luma_rows.map(|y| if y >= y0 && y < y1 { span(y) } else { (0, 0) });
            let (ua, ub) =
                spans.iter().filter(|(a, b)| a < b).fold((usize::MAX, 0), |(lo, hi), &(a, b)| (lo.min(a), hi.max(b)));
            if ua >= ub {
                continue;
            }
            let (ca, cb) = (ua / 2, ub.div_ceil(2));
            let (lx0, lx1) = (2 * ca, (2 * cb).min(width));
            for (k, (&y, &(xa, xb))) in luma_rows.iter().zip(&spans).enumerate() {
                let buf = &mut self.rows[k];
                buf.clear();
                buf.resize(lx1 - lx0, 0);
                if xa >= xb {
                    continue;
                }
                let row = &mut py[y * sy..y * sy + width];
                for x in xa..xb {
                    let c = cover(x, y);
                    buf[x - lx0] = c;
                    if c != 0 {
                        row[x] = mix(row[x], ycol, scale_alpha(c as u32, paint.a));
                    }
                }
            }
            let block_rows = if 2 * cy + 1 < height { 2 } else { 1 };
            let [r0, r1] = &self.rows;
            for cx in ca..cb {
                let i = 2 * cx - lx0;
                let at = |r: &Vec<u8>, j: usize| r.get(j).copied().unwrap_or(0) as u32;
                let mut sum = at(r0, i) + at(r0, i + 1);
                if block_rows == 2 {
                    sum += at(r1, i) + at(r1, i + 1);
                }
                if sum == 0 {
                    continue;
                }
                let n = (width - 2 * cx).min(2) * block_rows;
                let a = (sum * paint.a + 127) / (255 * n as u32);
                if nv12 {
                    let o = cy * s1 + 2 * cx;
                    p1[o] = mix(p1[o], ucol, a);
                    p1[o + 1] = mix(p1[o + 1], vcol, a);
                } else {
                    p1[cy * s1 + cx] = mix(p1[cy * s1 + cx], ucol, a);
                    p2[cy * s2 + cx] = mix(p2[cy * s2 + cx], vcol, a);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RED: Color = Color::rgb(230, 30, 40);

    fn yuv(matrix: YuvMatrix, full: bool) -> YuvToRgb {
        YuvToRgb::new(matrix, full)
    }

    /// A packed frame of `bpp` bytes a pixel filled with `fill`, with padding at row ends.
    fn packed(width: usize, height: usize, bpp: usize, fill: u8) -> (Vec<u8>, usize) {
        let stride = width * bpp + 8;
        (vec![fill; stride * height.max(1)], stride)
    }

    fn rgb_at(data: &[u8], stride: usize, x: usize, y: usize) -> [u8; 3] {
        let o = y * stride + x * 3;
        [data[o], data[o + 1], data[o + 2]]
    }

    #[test]
    fn rgb_to_yuv_inverts_the_frame_conversion() {
        for (m, full) in
            [(YuvMatrix::Bt601, false), (YuvMatrix::Bt601, true), (YuvMatrix::Bt709, false), (YuvMatrix::Bt709, true)]
        {
            let fwd = yuv(m, full);
            let inv = RgbToYuv::inverse_of(&fwd);
            for c in [[0u8, 0, 0], [255, 255, 255], [230, 30, 40], [40, 160, 255], [255, 170, 0], [90, 90, 90]] {
                let [y, u, v] = inv.convert(c[0], c[1], c[2]);
                let back = fwd.convert(y as f32, u as f32, v as f32);
                for k in 0..3 {
                    assert!(
                        (back[k] - c[k] as f32).abs() <= 3.0,
                        "{m:?} full={full} {c:?} -> {:?} -> {back:?}",
                        [y, u, v]
                    );
                }
            }
        }
        // Limited range: black and white are 16 and 235, neutral chroma.
        let inv = RgbToYuv::inverse_of(&yuv(YuvMatrix::Bt709, false));
        assert_eq!(inv.convert(0, 0, 0), [16, 128, 128]);
        assert_eq!(inv.convert(255, 255, 255), [235, 128, 128]);
    }

    #[test]
    fn filled_rect_sets_exactly_its_pixels() {
        let (mut data, stride) = packed(20, 10, 3, 7);
        let mut c =
            Canvas::new(PixelFormat::Rgb, 20, 10, [&mut data[..]], &[stride], yuv(YuvMatrix::Bt601, false)).unwrap();
        c.fill_rect(2.0, 3.0, 6.0, 5.0, RED);
        for y in 0..10 {
            for x in 0..20 {
                let inside = (2..6).contains(&x) && (3..5).contains(&y);
                let want = if inside { [230, 30, 40] } else { [7, 7, 7] };
                assert_eq!(rgb_at(&data, stride, x, y), want, "({x},{y})");
            }
        }
        // Padding bytes at row ends are never touched.
        assert!(data.chunks(stride).all(|row| row[60..].iter().all(|&b| b == 7)));
    }

    #[test]
    fn alpha_blends_halfway() {
        let mut data = vec![0u8; 4 * 4 * 3];
        let mut c = Canvas::rgb(&mut data, 4, 4).unwrap();
        c.fill_rect(0.0, 0.0, 4.0, 4.0, Color::rgb(200, 100, 50).with_alpha(128));
        let half = rgb_at(&data, 12, 1, 1);
        assert!(half.iter().zip([100, 50, 25]).all(|(&a, b)| a.abs_diff(b) <= 1), "{half:?}");
        let mut c = Canvas::rgb(&mut data, 4, 4).unwrap();
        c.fill_rect(0.0, 0.0, 4.0, 4.0, Color::WHITE.with_alpha(0));
        assert_eq!(rgb_at(&data, 12, 1, 1), half, "alpha 0 draws nothing");
    }

    #[test]
    fn packed_formats_put_channels_in_their_places() {
        for (format, bpp, want) in [
            (PixelFormat::Bgr, 3, vec![40, 30, 230]),
            (PixelFormat::Rgbx, 4, vec![230, 30, 40, 9]),
            (PixelFormat::Bgrx, 4, vec![40, 30, 230, 9]),
            (PixelFormat::Rgba, 4, vec![230, 30, 40, 9]),
            (PixelFormat::Bgra, 4, vec![40, 30, 230, 9]),
        ] {
            let (mut data, stride) = packed(5, 3, bpp, 9);
            let mut c = Canvas::new(format, 5, 3, [&mut data[..]], &[stride], yuv(YuvMatrix::Bt601, false)).unwrap();
            c.fill_rect(1.0, 1.0, 2.0, 2.0, RED);
            assert_eq!(&data[stride + bpp..stride + 2 * bpp], &want[..], "{format:?}");
            assert!(data[..stride].iter().all(|&b| b == 9), "{format:?}: row 0 untouched");
        }
    }

    #[test]
    fn everything_clips_and_nothing_panics() {
        let bad = [f32::NAN, f32::INFINITY, f32::NEG_INFINITY, -1e30, 1e30, -5.0, 0.0, 3.5, 1e9];
        for (w, h) in [(0, 0), (0, 5), (5, 0), (1, 1), (3, 3), (7, 5), (16, 9)] {
            for format in [PixelFormat::Rgb, PixelFormat::Bgrx, PixelFormat::I420, PixelFormat::Nv12] {
                let (mut a, mut b, mut cc) = (vec![0u8; 4 * w * h + 16], vec![0u8; w * h + 16], vec![0u8; w * h + 16]);
                let strides = match format {
                    PixelFormat::Rgb => [w * 3, 0, 0],
                    PixelFormat::Bgrx => [w * 4, 0, 0],
                    PixelFormat::I420 => [w, w.div_ceil(2), w.div_ceil(2)],
                    _ => [w, 2 * w.div_ceil(2), 0],
                };
                let planes: Vec<&mut [u8]> = vec![&mut a, &mut b, &mut cc];
                let mut c = Canvas::new(format, w, h, planes, &strides, yuv(YuvMatrix::Bt601, false)).unwrap();
                for &v in &bad {
                    for &u in &bad {
                        c.fill_rect(v, u, u, v, RED);
                        c.stroke_rect(v, u, 2.0, 2.0, 3.0, RED);
                        c.dashed_rect(u, 1.0, v, 4.0, v, u, RED);
                        c.line(v, u, 3.0, 2.0, 2.5, RED);
                        c.line(1.0, 1.0, u, v, v, RED);
                    }
                }
                c.mask(-3, -3, 4, 4, &[255; 16], RED);
                c.mask(i64::MAX, i64::MIN, 4, 4, &[255; 16], RED);
                c.mask(0, 0, 4, 4, &[255; 3], RED);
            }
        }
    }

    #[test]
    fn short_planes_are_refused() {
        let mut data = vec![0u8; 10];
        assert!(Canvas::rgb(&mut data, 4, 4).is_err());
        let mut y = [0u8; 16];
        let mut u = [0u8; 4];
        assert!(Canvas::new(PixelFormat::I420, 4, 4, [&mut y[..], &mut u[..]], &[4, 2], yuv(YuvMatrix::Bt601, false))
            .is_err());
    }

    #[test]
    fn outline_is_hollow_and_clipped() {
        let mut data = vec![0u8; 30 * 20 * 3];
        let mut c = Canvas::rgb(&mut data, 30, 20).unwrap();
        c.stroke_rect(5.0, 5.0, 25.0, 15.0, 2.0, RED);
        // The edge pixels are set, the inside is not.
        assert_eq!(rgb_at(&data, 90, 5, 10), [230, 30, 40]);
        assert_eq!(rgb_at(&data, 90, 4, 10), [230, 30, 40]);
        assert_eq!(rgb_at(&data, 90, 15, 5), [230, 30, 40]);
        assert_eq!(rgb_at(&data, 90, 15, 10), [0, 0, 0]);
        assert_eq!(rgb_at(&data, 90, 2, 10), [0, 0, 0]);
        // A box half outside the frame draws its visible edges only.
        let mut data = vec![0u8; 30 * 20 * 3];
        let mut c = Canvas::rgb(&mut data, 30, 20).unwrap();
        c.stroke_rect(-10.0, 5.0, 10.0, 40.0, 2.0, RED);
        assert_eq!(rgb_at(&data, 90, 5, 5), [230, 30, 40]);
        assert_eq!(rgb_at(&data, 90, 10, 12), [230, 30, 40]);
        assert_eq!(rgb_at(&data, 90, 5, 12), [0, 0, 0]);
    }

    #[test]
    fn dashed_outline_has_gaps() {
        let mut data = vec![0u8; 100 * 40 * 3];
        let mut c = Canvas::rgb(&mut data, 100, 40).unwrap();
        c.dashed_rect(10.0, 10.0, 90.0, 30.0, 2.0, 8.0, RED);
        let top: Vec<bool> = (10..90).map(|x| rgb_at(&data, 300, x, 10) == [230, 30, 40]).collect();
        let on = top.iter().filter(|&&b| b).count();
        assert!(on > 30 && on < 70, "{on} of 80 top pixels drawn");
        assert!(top[0] && top[79], "corners drawn");
    }

    #[test]
    fn line_covers_its_path_only() {
        let mut data = vec![0u8; 50 * 50 * 3];
        let mut c = Canvas::rgb(&mut data, 50, 50).unwrap();
        c.line(5.0, 5.0, 45.0, 45.0, 3.0, Color::WHITE);
        for i in 6..44 {
            assert_eq!(rgb_at(&data, 150, i, i), [255, 255, 255], "on the diagonal at {i}");
        }
        assert_eq!(rgb_at(&data, 150, 40, 10), [0, 0, 0]);
        assert_eq!(rgb_at(&data, 150, 10, 40), [0, 0, 0]);
        // Nothing beyond the round caps.
        assert_eq!(rgb_at(&data, 150, 48, 48), [0, 0, 0]);
        assert_eq!(rgb_at(&data, 150, 1, 1), [0, 0, 0]);
        // Horizontal and vertical lines take the fast spans.
        let mut c = Canvas::rgb(&mut data, 50, 50).unwrap();
        c.line(0.0, 25.0, 50.0, 25.0, 2.0, RED);
        c.line(25.0, 0.0, 25.0, 50.0, 2.0, RED);
        assert_eq!(rgb_at(&data, 150, 2, 24), [230, 30, 40]);
        assert_eq!(rgb_at(&data, 150, 24, 47), [230, 30, 40]);
        assert_eq!(rgb_at(&data, 150, 2, 21), [0, 0, 0]);
    }

    /// The interior of a rect drawn on I420 and NV12 reads back, through the frame's own
    /// conversion, as the colour drawn; chroma of blocks the rect does not touch is unchanged.
    #[test]
    fn yuv_fill_matches_the_rgb_colour() {
        for (m, full) in [(YuvMatrix::Bt601, false), (YuvMatrix::Bt709, false), (YuvMatrix::Bt709, true)] {
            for nv12 in [false, true] {
                let (w, h) = (21, 13);
                let (cw, ch) = (11, 7);
                let mut y = vec![60u8; w * h];
                let mut u = vec![128u8; if nv12 { 2 * cw * ch } else { cw * ch }];
                let mut v = vec![128u8; cw * ch];
                let conv = yuv(m, full);
                {
                    let (format, planes, strides): (_, Vec<&mut [u8]>, _) = if nv12 {
                        (PixelFormat::Nv12, vec![&mut y, &mut u], vec![w, 2 * cw])
                    } else {
                        (PixelFormat::I420, vec![&mut y, &mut u, &mut v], vec![w, cw, cw])
                    };
                    let mut c = Canvas::new(format, w, h, planes, &strides, conv).unwrap();
                    c.fill_rect(4.0, 2.0, 15.0, 11.0, RED);
                }
                let uv_at = |cx: usize, cy: usize| -> (f32, f32) {
                    if nv12 {
                        (u[cy * 2 * cw + 2 * cx] as f32, u[cy * 2 * cw + 2 * cx + 1] as f32)
                    } else {
                        (u[cy * cw + cx] as f32, v[cy * cw + cx] as f32)
                    }
                };
                // Block (3, 2) covers luma (6..8, 4..6): inside the rect.
                let (cu, cv) = uv_at(3, 2);
                let rgb = conv.convert(y[5 * w + 7] as f32, cu, cv);
                for (k, want) in [230.0, 30.0, 40.0].iter().enumerate() {
                    assert!((rgb[k] - want).abs() <= 4.0, "{m:?} full={full} nv12={nv12}: {rgb:?}");
                }
                assert_eq!(y[5 * w + 2], 60, "luma outside");
                assert_eq!(uv_at(0, 0), (128.0, 128.0), "chroma of an untouched block");
                assert_eq!(uv_at(9, 6), (128.0, 128.0), "chroma of an untouched block");
                // The rect's right edge (x = 15) splits block 7 in half: half the chroma shift.
                let full_shift = 128.0 - uv_at(3, 2).1;
                let half_shift = 128.0 - uv_at(7, 2).1;
                assert!((half_shift - full_shift / 2.0).abs() <= 2.0, "{half_shift} vs {full_shift}");
            }
        }
    }

    #[test]
    fn odd_sized_yuv_frames_draw_up_to_their_last_pixel() {
        let (w, h) = (5, 3);
        let mut y = vec![0u8; w * h];
        let mut u = [128u8; 3 * 2];
        let mut v = [128u8; 3 * 2];
        let conv = yuv(YuvMatrix::Bt601, true);
        {
            let mut c =
                Canvas::new(PixelFormat::I420, w, h, [&mut y[..], &mut u[..], &mut v[..]], &[w, 3, 3], conv).unwrap();
            c.fill_rect(0.0, 0.0, 100.0, 100.0, RED);
        }
        let want = RgbToYuv::inverse_of(&conv).convert(230, 30, 40);
        assert!(y.iter().all(|&l| l == want[0]));
        // The last column and row of blocks hold one luma column/row only, fully covered.
        assert_eq!((u[5], v[5]), (want[1], want[2]));
    }
}
