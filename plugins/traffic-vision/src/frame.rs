use crate::VisionError;

/// The raw layouts the elements accept without a `videoconvert` in front.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PixelFormat {
    Rgb,
    Bgr,
    Rgbx,
    Bgrx,
    Rgba,
    Bgra,
    I420,
    Nv12,
}

impl PixelFormat {
    /// Byte offsets of R, G, B and the pixel size, for the packed formats.
    pub(crate) fn packed_layout(self) -> Option<([usize; 3], usize)> {
        match self {
            PixelFormat::Rgb => Some(([0, 1, 2], 3)),
            PixelFormat::Bgr => Some(([2, 1, 0], 3)),
            PixelFormat::Rgbx | PixelFormat::Rgba => Some(([0, 1, 2], 4)),
            PixelFormat::Bgrx | PixelFormat::Bgra => Some(([2, 1, 0], 4)),
            PixelFormat::I420 | PixelFormat::Nv12 => None,
        }
    }

    fn plane_count(self) -> usize {
        match self {
            PixelFormat::I420 => 3,
            PixelFormat::Nv12 => 2,
            _ => 1,
        }
    }
}

/// The YUV → RGB matrix of a YUV frame (from the caps' colorimetry).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum YuvMatrix {
    #[default]
    Bt601,
    Bt709,
}

/// How to turn Y'CbCr into R'G'B' in 0..255: `rgb = m * (ycc - offset)`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct YuvToRgb {
    pub y_offset: f32,
    pub y_gain: f32,
    pub r_v: f32,
    pub g_u: f32,
    pub g_v: f32,
    pub b_u: f32,
}

impl YuvToRgb {
    pub fn new(matrix: YuvMatrix, full_range: bool) -> Self {
        let (kr, kb) = match matrix {
            YuvMatrix::Bt601 => (0.299, 0.114),
            YuvMatrix::Bt709 => (0.2126, 0.0722),
        };
        let kg = 1.0 - kr - kb;
        // Limited range: Y' spans 16..235, Cb/Cr 16..240.
        let (y_offset, y_gain, c_gain) =
            if full_range { (0.0, 1.0, 1.0) } else { (16.0, 255.0 / 219.0, 255.0 / 224.0) };
        YuvToRgb {
            y_offset,
            y_gain,
            r_v: 2.0 * (1.0 - kr) * c_gain,
            g_u: -2.0 * kb * (1.0 - kb) / kg * c_gain,
            g_v: -2.0 * kr * (1.0 - kr) / kg * c_gain,
            b_u: 2.0 * (1.0 - kb) * c_gain,
        }
    }

    #[inline(always)]
    pub fn convert(&self, y: f32, u: f32, v: f32) -> [f32; 3] {
        let y = (y - self.y_offset) * self.y_gain;
        let u = u - 128.0;
        let v = v - 128.0;
        [
            (y + self.r_v * v).clamp(0.0, 255.0),
            (y + self.g_u * u + self.g_v * v).clamp(0.0, 255.0),
            (y + self.b_u * u).clamp(0.0, 255.0),
        ]
    }
}

/// A borrowed video frame: planes and strides as GStreamer maps them.
/// Built only through [`Frame::new`], which checks that every pixel the geometry
/// promises lies inside its plane, so the pixel loops can index without panicking.
#[derive(Clone, Copy, Debug)]
pub struct Frame<'a> {
    pub format: PixelFormat,
    pub width: usize,
    pub height: usize,
    pub planes: [&'a [u8]; 3],
    pub strides: [usize; 3],
    pub yuv: YuvToRgb,
}

impl<'a> Frame<'a> {
    pub fn new(
        format: PixelFormat,
        width: usize,
        height: usize,
        planes: &[&'a [u8]],
        strides: &[usize],
        yuv: YuvToRgb,
    ) -> Result<Self, VisionError> {
        if width == 0 || height == 0 {
            return Err(VisionError::Frame(format!("empty frame {width}x{height}")));
        }
        let n = format.plane_count();
        if planes.len() < n || strides.len() < n {
            return Err(VisionError::Frame(format!("{format:?} needs {n} planes, got {}", planes.len())));
        }
        let (cw, ch) = (width.div_ceil(2), height.div_ceil(2));
        // (bytes per row actually read, rows) for each plane.
        let needs: Vec<(usize, usize)> = match format {
            PixelFormat::I420 => vec![(width, height), (cw, ch), (cw, ch)],
            PixelFormat::Nv12 => vec![(width, height), (cw * 2, ch)],
            f => {
                let (_, bpp) = f.packed_layout().unwrap_or(([0, 1, 2], 3));
                vec![(width * bpp, height)]
            }
        };
        let mut p = [&[][..]; 3];
        let mut s = [0usize; 3];
        for (i, &(row_bytes, rows)) in needs.iter().enumerate() {
            let need = strides[i] * (rows - 1) + row_bytes;
            if strides[i] < row_bytes || planes[i].len() < need {
                return Err(VisionError::Frame(format!(
                    "plane {i} of a {width}x{height} {format:?} frame has {} bytes, stride {}; needs {need}",
                    planes[i].len(),
                    strides[i]
                )));
            }
            p[i] = planes[i];
            s[i] = strides[i];
        }
        Ok(Frame { format, width, height, planes: p, strides: s, yuv })
    }

    /// A view of the rectangle `x, y, w, h` (clipped to the frame), sharing the pixels. YUV
    /// frames are cropped at even offsets (their chroma is subsampled by two), so the view's
    /// top-left corner may be one pixel up/left of the one asked for: it is returned with the view.
    pub fn crop(&self, x: usize, y: usize, w: usize, h: usize) -> Result<(Frame<'a>, usize, usize), VisionError> {
        let (x, y) = self.crop_corner(x, y);
        if x >= self.width || y >= self.height {
            return Err(VisionError::Frame(format!(
                "crop at {x},{y} is outside the {}x{} frame",
                self.width, self.height
            )));
        }
        let w = w.min(self.width - x);
        let h = h.min(self.height - y);
        let [p0, p1, p2] = self.planes;
        let [s0, s1, s2] = self.strides;
        let view = match self.format {
            PixelFormat::I420 => Frame::new(
                self.format,
                w,
                h,
                &[&p0[y * s0 + x..], &p1[y / 2 * s1 + x / 2..], &p2[y / 2 * s2 + x / 2..]],
                &[s0, s1, s2],
                self.yuv,
            )?,
            PixelFormat::Nv12 => {
                Frame::new(self.format, w, h, &[&p0[y * s0 + x..], &p1[y / 2 * s1 + x..]], &[s0, s1], self.yuv)?
            }
            f => {
                let (_, bpp) = f.packed_layout().unwrap_or(([0, 1, 2], 3));
                Frame::new(f, w, h, &[&p0[y * s0 + x * bpp..]], &[s0], self.yuv)?
            }
        };
        Ok((view, x, y))
    }

    /// Where [`Frame::crop`] puts the corner of a crop asked at `x, y`: even coordinates on YUV
    /// frames, whose chroma is subsampled by two.
    pub fn crop_corner(&self, x: usize, y: usize) -> (usize, usize) {
        if self.format.packed_layout().is_none() {
            (x & !1, y & !1)
        } else {
            (x, y)
        }
    }

    /// A tightly packed RGB frame, handy for tests and still images.
    pub fn rgb(data: &'a [u8], width: usize, height: usize) -> Result<Self, VisionError> {
        Frame::new(PixelFormat::Rgb, width, height, &[data], &[width * 3], YuvToRgb::new(YuvMatrix::Bt601, false))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crop_views_share_pixels() {
        // 4x4 RGB, pixel (x, y) = [x, y, 7].
        let data: Vec<u8> = (0..4).flat_map(|y| (0..4).flat_map(move |x| [x as u8, y as u8, 7])).collect();
        let f = Frame::rgb(&data, 4, 4).unwrap();
        let (c, x, y) = f.crop(1, 2, 10, 10).unwrap();
        assert_eq!((c.width, c.height, x, y), (3, 2, 1, 2));
        assert_eq!(&c.planes[0][..3], &[1, 2, 7]);
        assert!(f.crop(4, 0, 1, 1).is_err());

        // I420 6x4: odd offsets round down to even.
        let (w, h) = (6usize, 4usize);
        let luma: Vec<u8> = (0..w * h).map(|i| i as u8).collect();
        let u: Vec<u8> = (0..9).map(|i| 100 + i as u8).collect();
        let v: Vec<u8> = (0..9).map(|i| 200 + i as u8).collect();
        let f = Frame::new(
            PixelFormat::I420,
            w,
            h,
            &[&luma, &u[..6], &v[..6]],
            &[w, 3, 3],
            YuvToRgb::new(YuvMatrix::Bt601, false),
        )
        .unwrap();
        let (c, x, y) = f.crop(3, 1, 3, 3).unwrap();
        assert_eq!((x, y, c.width, c.height), (2, 0, 3, 3));
        assert_eq!((c.planes[0][0], c.planes[1][0], c.planes[2][0]), (2, 101, 201));
    }
}
