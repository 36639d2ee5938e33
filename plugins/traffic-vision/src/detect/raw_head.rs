//! Decoding a YOLOv8/11 head cut before its DFL (`scripts/yolo_raw_head.py`): one map per stride,
//! `[batch, 4 * reg_max + nc, H / s, W / s]`, DFL logits then class logits. With the anchors and
//! strides out of the graph, the model runs at any input size and batch.

use crate::{BBox, Detection, VisionError};

/// One output map: `[batch, channels, height, width]`, row-major.
#[derive(Clone, Copy, Debug)]
pub struct RawMap<'a> {
    pub data: &'a [f32],
    pub shape: [usize; 4],
}

impl<'a> RawMap<'a> {
    /// Checks the shape against the data.
    pub fn new(data: &'a [f32], shape: &[i64]) -> Result<Self, VisionError> {
        let dims: Vec<usize> = shape.iter().filter_map(|&d| usize::try_from(d).ok()).collect();
        match dims[..] {
            [b, c, h, w] if dims.len() == shape.len() && b * c * h * w == data.len() && h > 0 && w > 0 => {
                Ok(RawMap { data, shape: [b, c, h, w] })
            }
            _ => Err(VisionError::Model(format!(
                "raw head output {shape:?} holding {} values is not [batch, channels, H, W]",
                data.len()
            ))),
        }
    }
}

/// Appends to `out` the boxes of batch item `item` whose best class scores at least `conf`
/// (sigmoid of the class logit), in input pixels of a `width` x `height` input. Each map's
/// stride is the input size over the map size.
pub fn decode(
    maps: &[RawMap],
    item: usize,
    (width, height): (usize, usize),
    classes: usize,
    conf: f32,
    out: &mut Vec<Detection>,
) -> Result<(), VisionError> {
    // Comparing logits skips the sigmoid and the DFL of the many cells below the threshold.
    let min_logit = if conf <= 0.0 { f32::NEG_INFINITY } else { (conf / (1.0 - conf)).ln() };
    for map in maps {
        let [batch, channels, h, w] = map.shape;
        let stride = height / h;
        let bins = channels.checked_sub(classes).map(|n| n / 4).unwrap_or(0);
        if item >= batch || classes == 0 || bins == 0 || 4 * bins + classes != channels || stride * h != height {
            return Err(VisionError::Model(format!(
                "raw head map {:?} does not fit a {width}x{height} input with {classes} classes",
                map.shape
            )));
        }
        if stride * w != width {
            return Err(VisionError::Model(format!(
                "raw head map {:?}: width {w} is not {width} / {stride}",
                map.shape
            )));
        }
        let cells = h * w;
        let image = &map.data[item * channels * cells..(item + 1) * channels * cells];
        let (dfl, scores) = image.split_at(4 * bins * cells);
        let mut probs = vec![0f32; bins];
        for cell in 0..cells {
            let (logit, class_id) = (0..classes)
                .map(|c| (scores[c * cells + cell], c))
                .fold((f32::NEG_INFINITY, 0), |best, s| if s.0 > best.0 { s } else { best });
            if logit < min_logit || !logit.is_finite() {
                continue;
            }
            // Distances to the left, top, right and bottom edges, in cells: the expectation of
            // each side's softmax over its bins.
            let mut side = [0f32; 4];
            for (k, d) in side.iter_mut().enumerate() {
                let bin = |j: usize| dfl[(k * bins + j) * cells + cell];
                let max = (0..bins).map(bin).fold(f32::NEG_INFINITY, f32::max);
                let mut sum = 0.0;
                for (j, p) in probs.iter_mut().enumerate() {
                    *p = (bin(j) - max).exp();
                    sum += *p;
                }
                *d = probs.iter().enumerate().map(|(j, p)| j as f32 * p).sum::<f32>() / sum;
            }
            let (cx, cy) = ((cell % w) as f32 + 0.5, (cell / w) as f32 + 0.5);
            let s = stride as f32;
            let bbox = BBox::new((cx - side[0]) * s, (cy - side[1]) * s, (cx + side[2]) * s, (cy + side[3]) * s);
            let score = 1.0 / (1.0 + (-logit).exp());
            if score >= conf && bbox.x2 > bbox.x1 && bbox.y2 > bbox.y1 {
                out.push(Detection { bbox, score, class_id: class_id as u32 });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A map `[batch, 4 * bins + 1, h, w]` of zeros (uniform DFL, score 0.5) with `f(item, cells, index)` applied.
    fn map(
        batch: usize,
        bins: usize,
        h: usize,
        w: usize,
        f: impl Fn(&mut [f32], usize, usize),
    ) -> (Vec<f32>, [i64; 4]) {
        let c = 4 * bins + 1;
        let mut data = vec![0.0; batch * c * h * w];
        for b in 0..batch {
            f(&mut data[b * c * h * w..(b + 1) * c * h * w], h * w, b);
        }
        (data, [batch as i64, c as i64, h as i64, w as i64])
    }

    #[test]
    fn decodes_dfl_anchors_and_sigmoid_scores() {
        // One 2x2 map at stride 16 (a 32x32 input), 4 bins. Cell (x 1, y 0) is a plate: its class
        // logit is 2 (score 0.881), left/top/right/bottom peak sharply at bins 1, 0, 2, 3.
        let (data, shape) = map(1, 4, 2, 2, |d, cells, _| {
            d.iter_mut().take(16 * cells).for_each(|v| *v = -1e4);
            for (side, bin) in [1, 0, 2, 3].into_iter().enumerate() {
                d[(side * 4 + bin) * cells + 1] = 0.0;
            }
            d[16 * cells + 1] = 2.0;
            d[16 * cells + 2] = -3.0;
        });
        let maps = [RawMap::new(&data, &shape).unwrap()];
        let mut out = vec![];
        decode(&maps, 0, (32, 32), 1, 0.6, &mut out).unwrap();
        assert_eq!(out.len(), 1, "{out:?}");
        // Anchor centre (1.5, 0.5) cells: x 1.5-1 .. 1.5+2, y 0.5-0 .. 0.5+3, times 16.
        assert_eq!(out[0].bbox, BBox::new(8.0, 8.0, 56.0, 56.0));
        assert!((out[0].score - 0.880_797).abs() < 1e-5);
        // Cells at score 0.5 (logit 0) pass a lower threshold: uniform bins give 1.5 cells a side.
        out.clear();
        decode(&maps, 0, (32, 32), 1, 0.4, &mut out).unwrap();
        assert_eq!(out.len(), 3);
        assert!(out.contains(&Detection { bbox: BBox::new(-16.0, -16.0, 32.0, 32.0), score: 0.5, class_id: 0 }));
    }

    #[test]
    fn each_batch_item_decodes_its_own_slice() {
        let (data, shape) = map(2, 2, 1, 1, |d, _, item| d[8] = if item == 0 { -5.0 } else { 0.0 });
        let maps = [RawMap::new(&data, &shape).unwrap()];
        let mut out = vec![];
        decode(&maps, 0, (32, 32), 1, 0.25, &mut out).unwrap();
        assert!(out.is_empty());
        decode(&maps, 1, (32, 32), 1, 0.25, &mut out).unwrap();
        assert_eq!(out.len(), 1);
    }

    #[test]
    fn shapes_that_do_not_fit_are_errors_not_panics() {
        let (data, shape) = map(1, 4, 2, 2, |_, _, _| {});
        assert!(RawMap::new(&data[1..], &shape).is_err());
        assert!(RawMap::new(&data, &[1, 17, 4]).is_err());
        let maps = [RawMap::new(&data, &shape).unwrap()];
        let mut out = vec![];
        assert!(decode(&maps, 1, (32, 32), 1, 0.25, &mut out).is_err(), "no item 1");
        assert!(decode(&maps, 0, (32, 32), 2, 0.25, &mut out).is_err(), "17 channels are not 4 bins + 2 classes");
        assert!(decode(&maps, 0, (48, 32), 1, 0.25, &mut out).is_err(), "2 cells are not 48 / 16");
    }
}
