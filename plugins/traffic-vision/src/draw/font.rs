//! Text in an embedded TrueType font, rasterised once per pixel size and character into
//! alpha masks; drawing a string blends the cached masks.
//!
//! The font is DejaVu Sans Bold 2.37, compiled in from the `dejavu` crate (crates.io, version
//! 2.37.0, which ships the unmodified DejaVu release). Its licence is the Bitstream Vera Fonts
//! licence (DejaVu's own changes are public domain, glyphs from Arev under the same terms):
//! free to use, embed and redistribute, including commercially; a modified font must be
//! renamed. See `assets/dejavu-fonts-ttf-2.37/LICENSE` in that crate. The rasteriser is
//! `ab_glyph` (Apache-2.0).

use std::collections::HashMap;

use ab_glyph::{point, Font as _, FontRef, GlyphId, PxScale, ScaleFont};

use super::canvas::{Canvas, Color};
use crate::VisionError;

/// Pixel sizes outside this range are clamped: below it nothing is legible, above it a
/// glyph mask would be megabytes.
const MIN_PX: u32 = 4;
const MAX_PX: u32 = 400;
/// Caches grow only with the sizes and characters actually drawn; these bounds keep a stream
/// of odd plate texts or a font-scale slider from growing them without end.
const MAX_SIZES: usize = 12;
const MAX_GLYPHS_PER_SIZE: usize = 1024;

/// The extent of a line of text: `width` from the pen start to the last advance, `height`
/// the line height (ascent + descent), both in whole pixels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct TextSize {
    pub width: u32,
    pub height: u32,
}

struct Glyph {
    id: GlyphId,
    advance: f32,
    /// Top-left of the mask relative to the pen on the line's top edge.
    left: i64,
    top: i64,
    w: usize,
    h: usize,
    mask: Vec<u8>,
}

struct SizeCache {
    scale: PxScale,
    ascent: f32,
    height: u32,
    glyphs: HashMap<char, Glyph>,
}

/// The embedded font with its per-size glyph caches.
pub struct Font {
    font: FontRef<'static>,
    sizes: HashMap<u32, SizeCache>,
}

impl std::fmt::Debug for Font {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Font").field("cached_sizes", &self.sizes.len()).finish()
    }
}

fn key(px: f32) -> u32 {
    if px.is_finite() {
        (px.round() as u32).clamp(MIN_PX, MAX_PX)
    } else {
        MIN_PX
    }
}

fn rasterise(font: &FontRef<'static>, size: &SizeCache, c: char) -> Glyph {
    let scaled = font.as_scaled(size.scale);
    let id = font.glyph_id(c);
    let advance = scaled.h_advance(id);
    let glyph = id.with_scale_and_position(size.scale, point(0.0, size.ascent));
    let Some(outlined) = font.outline_glyph(glyph) else {
        // A space, or a glyph with no outline.
        return Glyph { id, advance, left: 0, top: 0, w: 0, h: 0, mask: Vec::new() };
    };
    let b = outlined.px_bounds();
    let (w, h) = (b.width().max(0.0) as usize, b.height().max(0.0) as usize);
    let mut mask = vec![0u8; w * h];
    outlined.draw(|x, y, c| {
        if let Some(m) = mask.get_mut(y as usize * w + x as usize) {
            *m = (c.clamp(0.0, 1.0) * 255.0 + 0.5) as u8;
        }
    });
    Glyph { id, advance, left: b.min.x as i64, top: b.min.y as i64, w, h, mask }
}

impl Font {
    /// DejaVu Sans Bold, compiled in.
    pub fn embedded() -> Result<Self, VisionError> {
        let font = FontRef::try_from_slice(dejavu::sans::bold())
            .map_err(|e| VisionError::Config(format!("embedded font: {e}")))?;
        Ok(Font { font, sizes: HashMap::new() })
    }

    fn size<'s>(font: &FontRef<'static>, sizes: &'s mut HashMap<u32, SizeCache>, px: f32) -> &'s mut SizeCache {
        let k = key(px);
        if !sizes.contains_key(&k) && sizes.len() >= MAX_SIZES {
            sizes.clear();
        }
        sizes.entry(k).or_insert_with(|| {
            let scale = PxScale::from(k as f32);
            let scaled = font.as_scaled(scale);
            let ascent = scaled.ascent().round();
            let height = (ascent - scaled.descent().round()).max(1.0) as u32;
            SizeCache { scale, ascent, height, glyphs: HashMap::new() }
        })
    }

    /// Lays out `text` at `px` (the line height in pixels), calling `place(glyph, pen_x)` for
    /// each character; returns the size of the line.
    fn layout(&mut self, text: &str, px: f32, mut place: impl FnMut(&Glyph, i64)) -> TextSize {
        let Font { font, sizes } = self;
        let size = Font::size(font, sizes, px);
        if size.glyphs.len() >= MAX_GLYPHS_PER_SIZE {
            size.glyphs.clear();
        }
        let scaled = font.as_scaled(size.scale);
        let mut pen = 0.0f32;
        let mut prev: Option<GlyphId> = None;
        for c in text.chars().filter(|c| !c.is_control()) {
            if !size.glyphs.contains_key(&c) {
                let g = rasterise(font, size, c);
                size.glyphs.insert(c, g);
            }
            let Some(g) = size.glyphs.get(&c) else { continue };
            if let Some(p) = prev {
                pen += scaled.kern(p, g.id);
            }
            place(g, pen.round() as i64);
            pen += g.advance;
            prev = Some(g.id);
        }
        TextSize { width: pen.ceil().max(0.0) as u32, height: size.height }
    }

    /// The size `text` takes at `px`.
    pub fn measure(&mut self, text: &str, px: f32) -> TextSize {
        self.layout(text, px, |_, _| {})
    }

    /// Draws `text` at `px` with the top-left of its line box at (x, y); returns its size.
    pub fn draw(&mut self, canvas: &mut Canvas, x: f32, y: f32, text: &str, px: f32, color: Color) -> TextSize {
        if !x.is_finite() || !y.is_finite() {
            return TextSize::default();
        }
        let lim = 1e7;
        let (x, y) = (x.clamp(-lim, lim).round() as i64, y.clamp(-lim, lim).round() as i64);
        self.layout(text, px, |g, pen| {
            canvas.mask(x + pen + g.left, y + g.top, g.w, g.h, &g.mask, color);
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measures_grow_with_text_and_size() {
        let mut f = Font::embedded().unwrap();
        let a = f.measure("car #12 0.87", 20.0);
        let b = f.measure("car #12 0.87 truck", 20.0);
        let c = f.measure("car #12 0.87", 40.0);
        assert!(a.width > 60 && b.width > a.width && c.width > a.width * 19 / 10, "{a:?} {b:?} {c:?}");
        assert_eq!(a.height, 20);
        assert_eq!(f.measure("", 20.0).width, 0);
        // Sizes that are not numbers fall back to the smallest one instead of failing.
        assert_eq!(f.measure("x", f32::NAN).height, MIN_PX);
    }

    #[test]
    fn text_draws_inside_its_box_only() {
        let (w, h) = (200usize, 60usize);
        let mut data = vec![0u8; w * h * 3];
        let mut f = Font::embedded().unwrap();
        let size = {
            let mut c = Canvas::rgb(&mut data, w, h).unwrap();
            f.draw(&mut c, 20.0, 15.0, "ABC 123 gjpq", 24.0, Color::WHITE)
        };
        let (x0, y0, x1, y1) = (20, 15, 20 + size.width as usize, 15 + size.height as usize);
        let mut inside = 0;
        for y in 0..h {
            for x in 0..w {
                let lit = data[(y * w + x) * 3] > 0;
                let in_box = x >= x0 && x < x1 + 1 && y >= y0 && y < y1;
                assert!(!lit || in_box, "pixel ({x},{y}) lit outside {x0},{y0}..{x1},{y1}");
                inside += lit as usize;
            }
        }
        // Letters cover a fair share of their box: something was drawn.
        let area = (x1 - x0) * (y1 - y0);
        assert!(inside * 10 > area, "{inside} of {area} pixels lit");
    }

    #[test]
    fn glyphs_are_cached_per_size() {
        let mut f = Font::embedded().unwrap();
        f.measure("abc", 16.0);
        f.measure("abcd", 16.0);
        f.measure("ab", 30.0);
        assert_eq!(f.sizes.len(), 2);
        assert_eq!(f.sizes[&16].glyphs.len(), 4);
        for px in 0..(MAX_SIZES as u32 + 5) {
            f.measure("a", 10.0 + px as f32);
        }
        assert!(f.sizes.len() <= MAX_SIZES);
    }

    #[test]
    fn text_off_the_frame_is_clipped() {
        let mut data = vec![0u8; 30 * 10 * 3];
        let mut f = Font::embedded().unwrap();
        let mut c = Canvas::rgb(&mut data, 30, 10).unwrap();
        f.draw(&mut c, -15.0, -8.0, "Wide text here", 30.0, Color::WHITE);
        f.draw(&mut c, 1e20, f32::NAN, "x", 12.0, Color::WHITE);
        f.draw(&mut c, 25.0, 5.0, "\u{1F697}\u{0}\n", 1e9, Color::WHITE);
    }
}
