/// An axis-aligned box in pixels, corners inclusive of the top-left, exclusive of the bottom-right.
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub struct BBox {
    pub x1: f32,
    pub y1: f32,
    pub x2: f32,
    pub y2: f32,
}

impl BBox {
    pub fn new(x1: f32, y1: f32, x2: f32, y2: f32) -> Self {
        BBox { x1, y1, x2, y2 }
    }

    pub fn from_cxcywh(cx: f32, cy: f32, w: f32, h: f32) -> Self {
        BBox::new(cx - w / 2.0, cy - h / 2.0, cx + w / 2.0, cy + h / 2.0)
    }

    pub fn width(&self) -> f32 {
        (self.x2 - self.x1).max(0.0)
    }

    pub fn height(&self) -> f32 {
        (self.y2 - self.y1).max(0.0)
    }

    pub fn area(&self) -> f32 {
        self.width() * self.height()
    }

    pub fn iou(&self, other: &BBox) -> f32 {
        let iw = (self.x2.min(other.x2) - self.x1.max(other.x1)).max(0.0);
        let ih = (self.y2.min(other.y2) - self.y1.max(other.y1)).max(0.0);
        let inter = iw * ih;
        let union = self.area() + other.area() - inter;
        if union > 0.0 {
            inter / union
        } else {
            0.0
        }
    }

    /// The box cut to a `width` x `height` frame.
    pub fn clamped(&self, width: f32, height: f32) -> BBox {
        BBox::new(
            self.x1.clamp(0.0, width),
            self.y1.clamp(0.0, height),
            self.x2.clamp(0.0, width),
            self.y2.clamp(0.0, height),
        )
    }
}

/// One detected object: box, confidence and the model's class index.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Detection {
    pub bbox: BBox,
    pub score: f32,
    pub class_id: u32,
}

/// Greedy non-maximum suppression. Class-aware, as Ultralytics and most YOLO runtimes do it,
/// boxes of different classes never suppress each other; `class_agnostic` lets the best box
/// suppress any class (one box per vehicle even where the model hesitates between car and
/// truck). Keeps at most `max_det`, best first.
pub fn nms(dets: &mut Vec<Detection>, iou_threshold: f32, max_det: usize, class_agnostic: bool) {
    dets.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut kept: Vec<Detection> = Vec::with_capacity(dets.len().min(max_det));
    for d in dets.iter() {
        if kept.len() >= max_det {
            break;
        }
        let suppressed =
            kept.iter().any(|k| (class_agnostic || k.class_id == d.class_id) && k.bbox.iou(&d.bbox) > iou_threshold);
        if !suppressed {
            kept.push(*d);
        }
    }
    *dets = kept;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn det(x1: f32, y1: f32, x2: f32, y2: f32, score: f32, class_id: u32) -> Detection {
        Detection { bbox: BBox::new(x1, y1, x2, y2), score, class_id }
    }

    #[test]
    fn iou_of_known_boxes() {
        let a = BBox::new(0.0, 0.0, 10.0, 10.0);
        let b = BBox::new(5.0, 0.0, 15.0, 10.0);
        assert!((a.iou(&b) - 50.0 / 150.0).abs() < 1e-6);
        assert_eq!(a.iou(&BBox::new(20.0, 20.0, 30.0, 30.0)), 0.0);
        assert_eq!(a.iou(&a), 1.0);
        // Degenerate boxes never divide by zero.
        assert_eq!(BBox::default().iou(&BBox::default()), 0.0);
    }

    #[test]
    fn nms_suppresses_overlaps_of_one_class_only() {
        let mut dets = vec![
            det(0.0, 0.0, 10.0, 10.0, 0.8, 2),
            det(1.0, 0.0, 11.0, 10.0, 0.9, 2), // best of the car pair
            det(1.0, 0.0, 11.0, 10.0, 0.7, 7), // a truck on the same spot survives
            det(50.0, 50.0, 60.0, 60.0, 0.3, 2),
        ];
        let mut agnostic = dets.clone();
        nms(&mut dets, 0.45, 300, false);
        assert_eq!(dets.len(), 3);
        assert_eq!(dets[0].score, 0.9);
        assert_eq!(dets[1].class_id, 7);
        assert_eq!(dets[2].score, 0.3);
        nms(&mut agnostic, 0.45, 300, true);
        assert_eq!(agnostic.iter().map(|d| d.score).collect::<Vec<_>>(), [0.9, 0.3]);
    }

    #[test]
    fn nms_keeps_at_most_max_det() {
        let mut dets: Vec<_> =
            (0..10).map(|i| det(i as f32 * 20.0, 0.0, i as f32 * 20.0 + 10.0, 10.0, 0.5, 0)).collect();
        nms(&mut dets, 0.45, 4, false);
        assert_eq!(dets.len(), 4);
    }
}
