//! Boxes as the trackers compute with them: `[x1, y1, x2, y2]` in `f64`, like numpy in BoxMOT,
//! and the detections that are fit to track.

use crate::{BBox, Detection};

/// `[x1, y1, x2, y2]`.
pub(crate) type Xyxy = [f64; 4];

/// A detection that passed the sanity checks, with its index in the caller's slice.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Candidate {
    pub index: usize,
    pub xyxy: Xyxy,
    pub score: f32,
    pub class_id: u32,
}

/// The detections with finite coordinates and score and a positive width and height; the
/// others cannot be tracked (BoxMOT would turn them into NaN or infinite states).
pub(crate) fn candidates(detections: &[Detection]) -> impl Iterator<Item = Candidate> + '_ {
    detections.iter().enumerate().filter_map(|(index, d)| {
        let b = d.bbox;
        let finite = [b.x1, b.y1, b.x2, b.y2, d.score].iter().all(|v| v.is_finite());
        (finite && b.x2 > b.x1 && b.y2 > b.y1).then_some(Candidate {
            index,
            xyxy: [b.x1 as f64, b.y1 as f64, b.x2 as f64, b.y2 as f64],
            score: d.score,
            class_id: d.class_id,
        })
    })
}

/// Intersection over union as BoxMOT's `iou_batch` computes it (no +1 pixel convention);
/// 0 when the union is empty or not finite.
pub(crate) fn iou(a: &Xyxy, b: &Xyxy) -> f64 {
    let w = a[2].min(b[2]) - a[0].max(b[0]);
    let h = a[3].min(b[3]) - a[1].max(b[1]);
    // Most pairs in a cost matrix do not overlap: skip the division (NaN lands here too).
    if !(w > 0.0 && h > 0.0) {
        return 0.0;
    }
    let inter = w * h;
    let union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter;
    let iou = inter / union;
    if union > 0.0 && iou.is_finite() {
        iou
    } else {
        0.0
    }
}

pub(crate) fn centre(b: &Xyxy) -> (f64, f64) {
    ((b[0] + b[2]) / 2.0, (b[1] + b[3]) / 2.0)
}

/// `[x1, y1, x2, y2]` to ByteTrack's `[cx, cy, w / h, h]`.
pub(crate) fn xyxy_to_xyah(b: &Xyxy) -> [f64; 4] {
    let (w, h) = (b[2] - b[0], b[3] - b[1]);
    [b[0] + w / 2.0, b[1] + h / 2.0, w / h, h]
}

pub(crate) fn to_bbox(b: &Xyxy) -> BBox {
    BBox::new(b[0] as f32, b[1] as f32, b[2] as f32, b[3] as f32)
}

pub(crate) fn is_finite(b: &Xyxy) -> bool {
    b.iter().all(|v| v.is_finite())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unfit_detections_are_skipped_with_their_index_kept() {
        let det = |x1, y1, x2, y2, score| Detection { bbox: BBox::new(x1, y1, x2, y2), score, class_id: 2 };
        let dets = [
            det(0.0, 0.0, 10.0, 10.0, 0.9),
            det(0.0, 0.0, 0.0, 10.0, 0.9),       // no width
            det(f32::NAN, 0.0, 10.0, 10.0, 0.9), // NaN corner
            det(0.0, 0.0, 10.0, 10.0, f32::NAN), // NaN score
            det(5.0, 5.0, 10.0, 4.0, 0.9),       // inverted
            det(1.0, 1.0, 2.0, 2.0, 0.2),
        ];
        let kept: Vec<usize> = candidates(&dets).map(|c| c.index).collect();
        assert_eq!(kept, vec![0, 5]);
    }

    #[test]
    fn iou_matches_the_f32_box_iou() {
        let (a, b) = (BBox::new(0.0, 0.0, 10.0, 10.0), BBox::new(5.0, 0.0, 15.0, 10.0));
        let to = |b: BBox| [b.x1 as f64, b.y1 as f64, b.x2 as f64, b.y2 as f64];
        assert!((iou(&to(a), &to(b)) - a.iou(&b) as f64).abs() < 1e-6);
        assert_eq!(iou(&[0.0; 4], &[0.0; 4]), 0.0);
        assert_eq!(iou(&[f64::NAN, 0.0, 1.0, 1.0], &[0.0, 0.0, 1.0, 1.0]), 0.0);
    }
}
