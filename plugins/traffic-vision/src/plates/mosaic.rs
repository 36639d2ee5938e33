//! Several small vehicle crops in one plate-detector input.
//!
//! The plate detector has a fixed square input (640x640): a 150x100 vehicle crop would be
//! upscaled to fill it and cost a whole inference. A mosaic splits the input into a grid of
//! tiles (2x2 of 320x320) and letterboxes one crop into each, so four small vehicles cost one
//! inference. Only crops that fit a tile without being shrunk go into one: a tile then holds at
//! least every source pixel, and the plate detector sees nothing less than the crop itself.

use crate::{BBox, Detection, Frame, Letterbox, VisionError};

/// Grey of the empty tiles and of the letterbox padding, as Ultralytics pads (114).
const PAD: u8 = 114;
/// How far (input pixels) a box may reach past its tile's edge and still belong to it: boxes
/// straddling two tiles mix two vehicles and are dropped.
const EDGE_SLACK: f32 = 2.0;

/// Whether a `w` x `h` crop goes into a tile of `tile` pixels without being shrunk.
pub fn fits_tile(w: usize, h: usize, tile: usize) -> bool {
    w <= tile && h <= tile
}

/// Groups crop indices into inferences: each crop that fits a tile shares an input with up to
/// `per_input - 1` others; the rest, and a small crop left alone, take the input by themselves
/// (a lone crop gains resolution from the whole input). `sizes` are the crops' `(w, h)`.
pub fn plan(sizes: &[(usize, usize)], tile: usize, per_input: usize) -> Vec<Vec<usize>> {
    let (small, large): (Vec<usize>, Vec<usize>) =
        (0..sizes.len()).partition(|&i| per_input > 1 && fits_tile(sizes[i].0, sizes[i].1, tile));
    let mut groups: Vec<Vec<usize>> = small.chunks(per_input.max(1)).map(<[usize]>::to_vec).collect();
    groups.extend(large.into_iter().map(|i| vec![i]));
    groups
}

/// One crop placed in a tile: where the tile is in the input, where the crop is in the frame,
/// and how the crop is scaled into the tile.
struct Tile {
    left: usize,
    top: usize,
    /// Top-left of the crop in the frame.
    origin: (f32, f32),
    letterbox: Letterbox,
}

/// A square detector input of `grid` x `grid` tiles, reused from inference to inference.
pub struct Mosaic {
    size: usize,
    grid: usize,
    tiles: Vec<Tile>,
    /// Planar 0..1 values of one letterboxed tile.
    scratch: Vec<f32>,
    /// The composed input, packed RGB.
    pixels: Vec<u8>,
}

impl Mosaic {
    pub fn new(size: usize, grid: usize) -> Result<Self, VisionError> {
        if grid == 0 || size < grid {
            return Err(VisionError::Config(format!("cannot split a {size}x{size} input into {grid}x{grid} tiles")));
        }
        Ok(Mosaic { size, grid, tiles: Vec::new(), scratch: Vec::new(), pixels: Vec::new() })
    }

    pub fn tile_size(&self) -> usize {
        self.size / self.grid
    }

    pub fn capacity(&self) -> usize {
        self.grid * self.grid
    }

    /// Draws the crops into the tiles, row by row (`crops`: each view with its top-left in the
    /// frame, as [`Frame::crop`] returns them), and gives the composed input as a frame.
    pub fn compose(&mut self, crops: &[(Frame, usize, usize)]) -> Result<Frame<'_>, VisionError> {
        if crops.len() > self.capacity() {
            return Err(VisionError::Config(format!("{} crops for {} tiles", crops.len(), self.capacity())));
        }
        let tile = self.tile_size();
        self.pixels.clear();
        self.pixels.resize(self.size * self.size * 3, PAD);
        self.tiles.clear();
        for (i, (crop, x, y)) in crops.iter().enumerate() {
            let letterbox = Letterbox::fixed(crop.width, crop.height, tile, tile)?;
            self.scratch.resize(letterbox.input_len(), 0.0);
            letterbox.fill(crop, &mut self.scratch)?;
            let (left, top) = ((i % self.grid) * tile, (i / self.grid) * tile);
            let plane = tile * tile;
            for row in 0..tile {
                let dst = &mut self.pixels[((top + row) * self.size + left) * 3..][..tile * 3];
                for (col, px) in dst.chunks_exact_mut(3).enumerate() {
                    for (c, v) in px.iter_mut().enumerate() {
                        *v = (self.scratch[c * plane + row * tile + col] * 255.0).round().clamp(0.0, 255.0) as u8;
                    }
                }
            }
            self.tiles.push(Tile { left, top, origin: (*x as f32, *y as f32), letterbox });
        }
        Frame::rgb(&self.pixels, self.size, self.size)
    }

    /// The best detection of each composed crop, in frame pixels (`None`: no plate in it).
    /// `detections` are in input pixels; a box is its tile's when it lies inside the tile, and
    /// dropped when it straddles two.
    pub fn best_per_crop(&self, detections: &[Detection]) -> Vec<Option<Detection>> {
        let tile = self.tile_size() as f32;
        let mut best: Vec<Option<Detection>> = vec![None; self.tiles.len()];
        for d in detections {
            let b = d.bbox;
            let Some(i) = self.tiles.iter().position(|t| {
                let (l, top) = (t.left as f32, t.top as f32);
                b.x1 >= l - EDGE_SLACK
                    && b.y1 >= top - EDGE_SLACK
                    && b.x2 <= l + tile + EDGE_SLACK
                    && b.y2 <= top + tile + EDGE_SLACK
            }) else {
                continue;
            };
            if best[i].is_some_and(|o| o.score >= d.score) {
                continue;
            }
            let t = &self.tiles[i];
            let (l, top) = (t.left as f32, t.top as f32);
            let local = t.letterbox.to_frame(BBox::new(b.x1 - l, b.y1 - top, b.x2 - l, b.y2 - top));
            if local.area() <= 0.0 {
                continue;
            }
            let (ox, oy) = t.origin;
            let bbox = BBox::new(local.x1 + ox, local.y1 + oy, local.x2 + ox, local.y2 + oy);
            best[i] = Some(Detection { bbox, ..*d });
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn det(x1: f32, y1: f32, x2: f32, y2: f32, score: f32) -> Detection {
        Detection { bbox: BBox::new(x1, y1, x2, y2), score, class_id: 0 }
    }

    #[test]
    fn plan_packs_small_crops_and_leaves_large_ones_alone() {
        let sizes = [(100, 80), (400, 300), (320, 320), (50, 60), (200, 100), (90, 321), (30, 30)];
        let groups = plan(&sizes, 320, 4);
        assert_eq!(groups, vec![vec![0, 2, 3, 4], vec![6], vec![1], vec![5]]);
        // One crop per input: nothing packed.
        assert_eq!(plan(&sizes[..2], 320, 1), vec![vec![0], vec![1]]);
        assert!(plan(&[], 320, 4).is_empty());
    }

    #[test]
    fn tiles_are_filled_in_place_and_boxes_map_back_per_tile() {
        // A 200x100 RGB frame: left half red, right half blue.
        let (w, h) = (200usize, 100usize);
        let data: Vec<u8> =
            (0..h).flat_map(|_| (0..w).flat_map(|x| if x < 100 { [200, 0, 0] } else { [0, 0, 200] })).collect();
        let frame = Frame::rgb(&data, w, h).unwrap();
        let mut m = Mosaic::new(640, 2).unwrap();
        assert_eq!((m.tile_size(), m.capacity()), (320, 4));
        // Crop 0: the red 100x100 square at (0,0), scaled 3.2x into tile (0,0).
        // Crop 1: the blue 80x40 at (110,30), scaled 4x into tile (320,0) (160 px tall, top 80).
        let crops = [frame.crop(0, 0, 100, 100).unwrap(), frame.crop(110, 30, 80, 40).unwrap()];
        let input = m.compose(&crops).unwrap();
        assert_eq!((input.width, input.height), (640, 640));
        let px = |x: usize, y: usize| {
            let i = (y * 640 + x) * 3;
            [input.planes[0][i], input.planes[0][i + 1], input.planes[0][i + 2]]
        };
        assert_eq!(px(160, 160), [200, 0, 0]);
        assert_eq!(px(480, 160), [0, 0, 200]);
        assert_eq!(px(480, 40), [PAD; 3], "letterbox padding of tile 1");
        assert_eq!(px(160, 480), [PAD; 3], "empty tile");

        let found = m.best_per_crop(&[
            // Tile 0: a plate at (32,64)-(96,96) in the tile: (10,20)-(30,30) in the crop.
            det(32.0, 64.0, 96.0, 96.0, 0.8),
            // Tile 0, weaker: ignored.
            det(0.0, 0.0, 50.0, 50.0, 0.5),
            // Tile 1: (360,120)-(440,160) -> tile (40,120)-(120,160) -> crop (10,10)-(30,20).
            det(360.0, 120.0, 440.0, 160.0, 0.7),
            // Straddles tiles 0 and 1: dropped even though it is the most confident.
            det(300.0, 100.0, 340.0, 120.0, 0.99),
            // In the empty tile 2: no crop there.
            det(100.0, 400.0, 150.0, 450.0, 0.9),
        ]);
        assert_eq!(found.len(), 2);
        let close =
            |a: BBox, b: [f32; 4]| [a.x1 - b[0], a.y1 - b[1], a.x2 - b[2], a.y2 - b[3]].iter().all(|d| d.abs() < 1e-3);
        let p0 = found[0].expect("plate in crop 0");
        assert!(close(p0.bbox, [10.0, 20.0, 30.0, 30.0]), "{p0:?}");
        assert_eq!(p0.score, 0.8);
        let p1 = found[1].expect("plate in crop 1");
        assert!(close(p1.bbox, [120.0, 40.0, 140.0, 50.0]), "{p1:?}");
    }

    #[test]
    fn boxes_in_padding_are_clamped_to_the_crop() {
        let data = vec![50u8; 80 * 40 * 3];
        let frame = Frame::rgb(&data, 80, 40).unwrap();
        let mut m = Mosaic::new(640, 2).unwrap();
        m.compose(&[frame.crop(0, 0, 80, 40).unwrap()]).unwrap();
        // The crop fills rows 80..240 of the tile; a box reaching up into the padding is cut at
        // the crop's top edge, one wholly in the padding is dropped.
        let found = m.best_per_crop(&[det(40.0, 60.0, 120.0, 100.0, 0.6)]);
        let b = found[0].expect("clamped box").bbox;
        assert!((b.y1 - 0.0).abs() < 1e-3 && (b.y2 - 5.0).abs() < 1e-3, "{b:?}");
        assert_eq!(m.best_per_crop(&[det(40.0, 10.0, 120.0, 60.0, 0.6)]), vec![None]);
        assert!(m.compose(&vec![frame.crop(0, 0, 8, 8).unwrap(); 5]).is_err());
    }
}
