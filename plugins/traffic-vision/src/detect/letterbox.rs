use crate::frame::{Frame, PixelFormat};
use crate::{BBox, VisionError};

/// Grey of the padding, as Ultralytics pads (114/255).
const PAD_VALUE: f32 = 114.0 / 255.0;

/// One output column (or row) of a bilinear resize: `src[i0] * (1 - w1) + src[i1] * w1`.
#[derive(Clone, Copy, Debug)]
struct Tap {
    i0: usize,
    i1: usize,
    w1: f32,
}

/// Bilinear taps with OpenCV's INTER_LINEAR pixel-centre convention, so our inputs match
/// what Ultralytics feeds its models (cv2.resize).
fn taps(dst: usize, src: usize, scale: f64, chroma: bool) -> Vec<Tap> {
    let last = src.saturating_sub(1);
    (0..dst)
        .map(|d| {
            let mut f = (d as f64 + 0.5) * scale - 0.5;
            if chroma {
                // Chroma is sampled at half resolution, sited at the centre of its 2x2 luma block.
                f = (f + 0.5) / 2.0 - 0.5;
            }
            let i = f.floor();
            let (i0, w1) = if i < 0.0 {
                (0, 0.0)
            } else if i as usize >= last {
                (last, 0.0)
            } else {
                (i as usize, (f - i) as f32)
            };
            Tap { i0, i1: (i0 + 1).min(last), w1 }
        })
        .collect()
}

/// `out = row0 * (1 - w1) + row1 * w1`, as f32; the vertical half of the bilinear resize.
#[inline(always)]
fn blend_rows(row0: &[u8], row1: &[u8], w1: f32, out: &mut [f32]) {
    if w1 == 0.0 {
        for (o, &a) in out.iter_mut().zip(row0) {
            *o = a as f32;
        }
    } else {
        for ((o, &a), &b) in out.iter_mut().zip(row0).zip(row1) {
            let a = a as f32;
            *o = a + (b as f32 - a) * w1;
        }
    }
}

/// Fits a frame into a model input of `dst_w` x `dst_h`: resized keeping its aspect,
/// centred, padded with grey. Also maps boxes back from model input to frame pixels.
#[derive(Clone, Debug)]
pub struct Letterbox {
    pub src_w: usize,
    pub src_h: usize,
    pub dst_w: usize,
    pub dst_h: usize,
    /// Size of the resized picture inside the input, and its top-left corner.
    pub new_w: usize,
    pub new_h: usize,
    pub left: usize,
    pub top: usize,
    x_taps: Vec<Tap>,
    y_taps: Vec<Tap>,
    x_taps_chroma: Vec<Tap>,
    y_taps_chroma: Vec<Tap>,
}

impl Letterbox {
    /// Rectangular input, as Ultralytics' rect mode: the long side becomes `long_side`, and
    /// each side is padded up to the next multiple of `stride` only. A 640x352 video then costs
    /// a 640x352 inference, not 640x640.
    pub fn rect(src_w: usize, src_h: usize, long_side: usize, stride: usize) -> Result<Self, VisionError> {
        check_sizes(src_w, src_h, long_side, long_side)?;
        if stride == 0 || !long_side.is_multiple_of(stride) {
            return Err(VisionError::Config(format!("input size {long_side} is not a multiple of {stride}")));
        }
        let r = long_side as f64 / src_w.max(src_h) as f64;
        let (new_w, new_h) = scaled(src_w, src_h, r);
        let dst_w = new_w.div_ceil(stride) * stride;
        let dst_h = new_h.div_ceil(stride) * stride;
        Ok(Self::build(src_w, src_h, dst_w, dst_h, new_w, new_h))
    }

    /// Fixed `dst_w` x `dst_h` input (models exported with a static shape).
    pub fn fixed(src_w: usize, src_h: usize, dst_w: usize, dst_h: usize) -> Result<Self, VisionError> {
        check_sizes(src_w, src_h, dst_w, dst_h)?;
        let r = (dst_w as f64 / src_w as f64).min(dst_h as f64 / src_h as f64);
        let (new_w, new_h) = scaled(src_w, src_h, r);
        Ok(Self::build(src_w, src_h, dst_w, dst_h, new_w.min(dst_w), new_h.min(dst_h)))
    }

    /// Resizes to exactly `dst_w` x `dst_h`, ignoring the aspect (no padding): text recognisers
    /// take a crop resized to their height and a width of their own choosing.
    pub fn stretch(src_w: usize, src_h: usize, dst_w: usize, dst_h: usize) -> Result<Self, VisionError> {
        check_sizes(src_w, src_h, dst_w, dst_h)?;
        Ok(Self::build(src_w, src_h, dst_w, dst_h, dst_w, dst_h))
    }

    fn build(src_w: usize, src_h: usize, dst_w: usize, dst_h: usize, new_w: usize, new_h: usize) -> Self {
        // Ultralytics rounds the two halves of the padding with a 0.1 bias; do the same.
        let left = ((dst_w - new_w) as f64 / 2.0 - 0.1).round().max(0.0) as usize;
        let top = ((dst_h - new_h) as f64 / 2.0 - 0.1).round().max(0.0) as usize;
        let sx = src_w as f64 / new_w as f64;
        let sy = src_h as f64 / new_h as f64;
        Letterbox {
            src_w,
            src_h,
            dst_w,
            dst_h,
            new_w,
            new_h,
            left,
            top,
            x_taps: taps(new_w, src_w, sx, false),
            y_taps: taps(new_h, src_h, sy, false),
            x_taps_chroma: taps(new_w, src_w.div_ceil(2), sx, true),
            y_taps_chroma: taps(new_h, src_h.div_ceil(2), sy, true),
        }
    }

    /// Number of f32 values of the model input (3 planes).
    pub fn input_len(&self) -> usize {
        3 * self.dst_w * self.dst_h
    }

    /// Resizes, converts to RGB, normalises to 0..1 and writes planar CHW into `out`, in one pass.
    pub fn fill(&self, frame: &Frame, out: &mut [f32]) -> Result<(), VisionError> {
        if frame.width != self.src_w || frame.height != self.src_h {
            return Err(VisionError::Frame(format!(
                "frame is {}x{}, letterbox was built for {}x{}",
                frame.width, frame.height, self.src_w, self.src_h
            )));
        }
        if out.len() != self.input_len() {
            return Err(VisionError::Frame(format!(
                "input buffer has {} values, needs {}",
                out.len(),
                self.input_len()
            )));
        }
        let plane = self.dst_w * self.dst_h;
        let (r_out, rest) = out.split_at_mut(plane);
        let (g_out, b_out) = rest.split_at_mut(plane);
        self.fill_padding(r_out);
        self.fill_padding(g_out);
        self.fill_padding(b_out);
        let mut rows = RowWriter { r: r_out, g: g_out, b: b_out, stride: self.dst_w, left: self.left, top: self.top };
        match frame.format.packed_layout() {
            Some((offsets, bpp)) => self.fill_packed(frame, offsets, bpp, &mut rows),
            None => self.fill_yuv(frame, &mut rows),
        }
        Ok(())
    }

    fn fill_padding(&self, plane: &mut [f32]) {
        let w = self.dst_w;
        for (y, row) in plane.chunks_exact_mut(w).enumerate() {
            if y < self.top || y >= self.top + self.new_h {
                row.fill(PAD_VALUE);
            } else {
                row[..self.left].fill(PAD_VALUE);
                row[self.left + self.new_w..].fill(PAD_VALUE);
            }
        }
    }

    /// Separable bilinear: each output row first blends its two source rows into `line`
    /// (a contiguous loop the compiler vectorises), then samples `line` at the column taps.
    /// Half the gathers of interpolating each output pixel from its four neighbours.
    fn fill_packed(&self, frame: &Frame, offsets: [usize; 3], bpp: usize, rows: &mut RowWriter) {
        let data = frame.planes[0];
        let stride = frame.strides[0];
        let row_bytes = self.src_w * bpp;
        let [or, og, ob] = offsets;
        let mut line = vec![0.0f32; row_bytes];
        for (y, ty) in self.y_taps.iter().enumerate() {
            blend_rows(&data[ty.i0 * stride..][..row_bytes], &data[ty.i1 * stride..][..row_bytes], ty.w1, &mut line);
            let (r, g, b) = rows.row(y);
            for (((r, g), b), tx) in r.iter_mut().zip(g.iter_mut()).zip(b.iter_mut()).zip(&self.x_taps) {
                let (a, c) = (tx.i0 * bpp, tx.i1 * bpp);
                let sample = |o: usize| {
                    let p = line[a + o];
                    (p + (line[c + o] - p) * tx.w1) * (1.0 / 255.0)
                };
                *r = sample(or);
                *g = sample(og);
                *b = sample(ob);
            }
        }
    }

    /// Interpolates Y, U and V at their own resolutions, then converts: the conversion is
    /// affine, so this equals converting first and resizing after, at a fraction of the cost.
    /// Separable, as [`Self::fill_packed`]: vertical blend of whole rows, then the column taps
    /// into Y, U, V lines at the output width, then the conversion over those lines in a
    /// separate loop, which (unlike the gathers) the compiler vectorises.
    fn fill_yuv(&self, frame: &Frame, rows: &mut RowWriter) {
        let [py, p1, p2] = frame.planes;
        let [sy, s1, s2] = frame.strides;
        let nv12 = frame.format == PixelFormat::Nv12;
        let conv = frame.yuv;
        let (w, cw) = (self.src_w, self.src_w.div_ceil(2));
        let mut luma = vec![0.0f32; w];
        // NV12: one interleaved UV line; I420: the U line, then the V line.
        let mut chroma = vec![0.0f32; 2 * cw];
        let (u_at, v_at, step) = if nv12 { (0, 1, 2) } else { (0, cw, 1) };
        // The picture's row at the output width, before the conversion.
        let [mut line_y, mut line_u, mut line_v] = [(); 3].map(|_| vec![0.0f32; self.new_w]);
        for (y, (ty, tc)) in self.y_taps.iter().zip(&self.y_taps_chroma).enumerate() {
            blend_rows(&py[ty.i0 * sy..][..w], &py[ty.i1 * sy..][..w], ty.w1, &mut luma);
            if nv12 {
                blend_rows(&p1[tc.i0 * s1..][..2 * cw], &p1[tc.i1 * s1..][..2 * cw], tc.w1, &mut chroma);
            } else {
                let (u, v) = chroma.split_at_mut(cw);
                blend_rows(&p1[tc.i0 * s1..][..cw], &p1[tc.i1 * s1..][..cw], tc.w1, u);
                blend_rows(&p2[tc.i0 * s2..][..cw], &p2[tc.i1 * s2..][..cw], tc.w1, v);
            }
            let taps = self.x_taps.iter().zip(&self.x_taps_chroma);
            for (((l, u), v), (tx, txc)) in line_y.iter_mut().zip(line_u.iter_mut()).zip(line_v.iter_mut()).zip(taps) {
                let l0 = luma[tx.i0];
                *l = l0 + (luma[tx.i1] - l0) * tx.w1;
                let (c0, c1) = (txc.i0 * step, txc.i1 * step);
                let u0 = chroma[u_at + c0];
                *u = u0 + (chroma[u_at + c1] - u0) * txc.w1;
                let v0 = chroma[v_at + c0];
                *v = v0 + (chroma[v_at + c1] - v0) * txc.w1;
            }
            let (r, g, b) = rows.row(y);
            let yuv = line_y.iter().zip(&line_u).zip(&line_v);
            for (((r, g), b), ((&l, &u), &v)) in r.iter_mut().zip(g.iter_mut()).zip(b.iter_mut()).zip(yuv) {
                let [cr, cg, cb] = conv.convert(l, u, v);
                *r = cr * (1.0 / 255.0);
                *g = cg * (1.0 / 255.0);
                *b = cb * (1.0 / 255.0);
            }
        }
    }

    /// Maps a box from model-input pixels to frame pixels, clamped to the frame.
    pub fn to_frame(&self, b: BBox) -> BBox {
        let sx = self.src_w as f32 / self.new_w as f32;
        let sy = self.src_h as f32 / self.new_h as f32;
        let (l, t) = (self.left as f32, self.top as f32);
        BBox::new((b.x1 - l) * sx, (b.y1 - t) * sy, (b.x2 - l) * sx, (b.y2 - t) * sy)
            .clamped(self.src_w as f32, self.src_h as f32)
    }
}

fn check_sizes(src_w: usize, src_h: usize, dst_w: usize, dst_h: usize) -> Result<(), VisionError> {
    if src_w == 0 || src_h == 0 || dst_w == 0 || dst_h == 0 {
        return Err(VisionError::Config(format!("cannot letterbox {src_w}x{src_h} into {dst_w}x{dst_h}")));
    }
    Ok(())
}

fn scaled(w: usize, h: usize, r: f64) -> (usize, usize) {
    (((w as f64 * r).round() as usize).max(1), ((h as f64 * r).round() as usize).max(1))
}

/// The three output planes, handing out the pixels of one letterboxed row at a time.
struct RowWriter<'a> {
    r: &'a mut [f32],
    g: &'a mut [f32],
    b: &'a mut [f32],
    stride: usize,
    left: usize,
    top: usize,
}

impl RowWriter<'_> {
    fn row(&mut self, y: usize) -> (&mut [f32], &mut [f32], &mut [f32]) {
        let start = (self.top + y) * self.stride + self.left;
        let end = (self.top + y + 1) * self.stride;
        (&mut self.r[start..end], &mut self.g[start..end], &mut self.b[start..end])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::{YuvMatrix, YuvToRgb};

    #[test]
    fn rect_mode_pads_to_the_next_stride_only() {
        let lb = Letterbox::rect(640, 352, 640, 32).unwrap();
        assert_eq!((lb.dst_w, lb.dst_h, lb.left, lb.top), (640, 352, 0, 0));
        let lb = Letterbox::rect(1920, 1080, 640, 32).unwrap();
        assert_eq!((lb.new_w, lb.new_h), (640, 360));
        assert_eq!((lb.dst_w, lb.dst_h, lb.top), (640, 384, 12));
        // bus.jpg: Ultralytics runs it at 480x640.
        let lb = Letterbox::rect(810, 1080, 640, 32).unwrap();
        assert_eq!((lb.dst_w, lb.dst_h), (480, 640));
    }

    #[test]
    fn fixed_mode_centres_in_a_square() {
        let lb = Letterbox::fixed(1920, 1080, 640, 640).unwrap();
        assert_eq!((lb.new_w, lb.new_h, lb.left, lb.top), (640, 360, 0, 140));
    }

    #[test]
    fn boxes_map_back_exactly() {
        let lb = Letterbox::rect(1920, 1080, 640, 32).unwrap();
        // A box in frame pixels, forward-mapped by hand, must come back to itself.
        let (sx, sy) = (640.0 / 1920.0, 360.0 / 1080.0);
        let frame_box = BBox::new(300.0, 150.0, 900.0, 750.0);
        let input_box =
            BBox::new(frame_box.x1 * sx, frame_box.y1 * sy + 12.0, frame_box.x2 * sx, frame_box.y2 * sy + 12.0);
        let back = lb.to_frame(input_box);
        for (a, b) in [(back.x1, 300.0), (back.y1, 150.0), (back.x2, 900.0), (back.y2, 750.0)] {
            assert!((a - b).abs() < 1e-3, "{a} vs {b}");
        }
        // Boxes reaching into the padding are clamped to the frame.
        let clamped = lb.to_frame(BBox::new(-5.0, 0.0, 700.0, 384.0));
        assert_eq!(clamped, BBox::new(0.0, 0.0, 1920.0, 1080.0));
    }

    fn solid_rgb(w: usize, h: usize, rgb: [u8; 3]) -> Vec<u8> {
        rgb.iter().copied().cycle().take(w * h * 3).collect()
    }

    #[test]
    fn fill_writes_colour_and_padding() {
        let data = solid_rgb(64, 32, [255, 0, 51]);
        let frame = Frame::rgb(&data, 64, 32).unwrap();
        let lb = Letterbox::fixed(64, 32, 64, 64).unwrap();
        let mut out = vec![0.0; lb.input_len()];
        lb.fill(&frame, &mut out).unwrap();
        let at = |c: usize, x: usize, y: usize| out[c * 64 * 64 + y * 64 + x];
        assert_eq!(at(0, 10, 0), PAD_VALUE); // top padding
        assert!((at(0, 10, 32) - 1.0).abs() < 1e-6);
        assert!(at(1, 10, 32).abs() < 1e-6);
        assert!((at(2, 10, 32) - 0.2).abs() < 1e-6);
    }

    #[test]
    fn packed_orders_agree() {
        // The same picture as RGB, BGRx and I420 gives the same input (YUV within rounding).
        let (w, h) = (8, 4);
        let rgb: Vec<u8> = (0..w * h * 3).map(|i| (i * 7 % 256) as u8).collect();
        let bgrx: Vec<u8> = rgb.chunks(3).flat_map(|p| [p[2], p[1], p[0], 0]).collect();
        let yuv = YuvToRgb::new(YuvMatrix::Bt601, false);
        let lb = Letterbox::fixed(w, h, 16, 16).unwrap();
        let run = |f: Frame| {
            let mut out = vec![0.0; lb.input_len()];
            lb.fill(&f, &mut out).unwrap();
            out
        };
        let a = run(Frame::rgb(&rgb, w, h).unwrap());
        let b = run(Frame::new(PixelFormat::Bgrx, w, h, &[&bgrx], &[w * 4], yuv).unwrap());
        assert_eq!(a, b);
    }

    #[test]
    fn yuv_grey_and_colour() {
        // Limited-range BT.601: Y=16 is black, Y=235 white; a flat U/V=128 frame is grey.
        let (w, h) = (4, 4);
        let y = vec![235u8; w * h];
        let uv = vec![128u8; (w / 2) * (h / 2)];
        let f = Frame::new(
            PixelFormat::I420,
            w,
            h,
            &[&y, &uv, &uv],
            &[w, w / 2, w / 2],
            YuvToRgb::new(YuvMatrix::Bt601, false),
        )
        .unwrap();
        let lb = Letterbox::fixed(w, h, 4, 4).unwrap();
        let mut out = vec![0.0; lb.input_len()];
        lb.fill(&f, &mut out).unwrap();
        assert!(out.iter().all(|v| (v - 1.0).abs() < 1e-3));
        // NV12 pure red (BT.601 limited: Y=81, Cb=90, Cr=240).
        let nv = [90u8, 240u8].repeat((w / 2) * (h / 2));
        let y = vec![81u8; w * h];
        let f =
            Frame::new(PixelFormat::Nv12, w, h, &[&y, &nv], &[w, w], YuvToRgb::new(YuvMatrix::Bt601, false)).unwrap();
        lb.fill(&f, &mut out).unwrap();
        assert!(out[0] > 0.95 && out[2 * 16] < 0.05, "r={} b={}", out[0], out[32]);
    }

    #[test]
    fn short_planes_are_rejected() {
        let data = vec![0u8; 10];
        assert!(Frame::rgb(&data, 4, 4).is_err());
        assert!(Frame::rgb(&data, 0, 4).is_err());
    }
}
