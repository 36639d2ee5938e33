//! The output layouts of YOLO exports, told apart by their shapes.

use crate::{BBox, Detection, VisionError};

/// How a YOLO model lays out its single output tensor `[1, a, b]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputLayout {
    /// YOLOv8/YOLO11: `[1, 4 + nc, anchors]`, cx cy w h then one score per class (no objectness).
    /// `transposed` is `[1, anchors, 4 + nc]`, as some third-party exports write it.
    V8 { classes: usize, transposed: bool },
    /// YOLOv5: `[1, anchors, 5 + nc]`, cx cy w h, objectness, class scores.
    V5 { classes: usize },
    /// End-to-end (NMS inside the model: YOLOv10, YOLO26, `nms=True` exports):
    /// `[1, max_det, 6]`, x1 y1 x2 y2 score class.
    EndToEnd,
}

/// End-to-end models keep at most a few hundred boxes; YOLOv5 outputs thousands of anchors.
const MAX_END_TO_END_ROWS: i64 = 1000;
/// Mask coefficients per box in YOLOv8/11 segmentation outputs.
const SEG_MASK_COEFFICIENTS: i64 = 32;

impl OutputLayout {
    /// Recognises the layout from the output shape and, when the model names them, the class count.
    pub fn from_shape(shape: &[i64], known_classes: Option<usize>) -> Result<Self, VisionError> {
        let (a, b) = match shape {
            [1, a, b] if *a > 0 && *b > 0 => (*a, *b),
            _ => {
                return Err(VisionError::Model(format!(
                    "output shape {shape:?} is none of YOLOv5 [1,N,5+nc], YOLOv8/11 [1,4+nc,N] or end-to-end [1,N,6]"
                )))
            }
        };
        let nc = known_classes.map(|n| n as i64);
        // Channels first when the model's class count says so, or (unknown) when there are
        // fewer channels than boxes; a tiny input (32 px: 21 boxes) has more channels than boxes.
        let channels_first = match nc {
            Some(n) if a == 4 + n || a == 4 + n + SEG_MASK_COEFFICIENTS => true,
            Some(n) if b == 4 + n => false,
            _ => a < b,
        };
        let layout = if channels_first && a > 4 {
            // Channels first: only YOLOv8/11 does that. Segmentation exports append 32 mask
            // coefficients after the class scores; the boxes do not need them.
            let classes = match nc {
                Some(n) if a == 4 + n + SEG_MASK_COEFFICIENTS => n,
                _ => a - 4,
            };
            OutputLayout::V8 { classes: classes as usize, transposed: false }
        } else if b == 6 && a <= MAX_END_TO_END_ROWS {
            OutputLayout::EndToEnd
        } else if nc.is_some_and(|n| b == 4 + n) {
            OutputLayout::V8 { classes: (b - 4) as usize, transposed: true }
        } else if b > 5 {
            OutputLayout::V5 { classes: (b - 5) as usize }
        } else {
            return Err(VisionError::Model(format!("cannot tell the YOLO layout of output shape {shape:?}")));
        };
        match (layout.classes(), known_classes) {
            (Some(c), Some(n)) if c != n => {
                Err(VisionError::Model(format!("output shape {shape:?} implies {c} classes but the model names {n}")))
            }
            _ => Ok(layout),
        }
    }

    /// Number of classes the layout carries (end-to-end outputs carry class indices, not scores).
    pub fn classes(&self) -> Option<usize> {
        match self {
            OutputLayout::V8 { classes, .. } | OutputLayout::V5 { classes } => Some(*classes),
            OutputLayout::EndToEnd => None,
        }
    }

    /// Whether `boxes` is what a YOLO head gives for a `width` x `height` input: one box per
    /// grid cell of strides 8/16/32 (YOLOv5: three per cell), also with a P2 (stride 4) or
    /// P6 (stride 64) level; end-to-end heads keep at most a few hundred.
    pub fn box_count_fits(&self, boxes: i64, width: usize, height: usize) -> bool {
        let cells = |s: usize| (width / s * (height / s)) as i64;
        let (p2, p3, p4, p5, p6) = (cells(4), cells(8), cells(16), cells(32), cells(64));
        let per_cell = if matches!(self, OutputLayout::V5 { .. }) { 3 } else { 1 };
        match self {
            OutputLayout::EndToEnd => boxes <= MAX_END_TO_END_ROWS,
            _ => [p3 + p4 + p5, p2 + p3 + p4 + p5, p3 + p4 + p5 + p6].iter().any(|&n| boxes == n * per_cell),
        }
    }

    /// Whether the model already ran NMS.
    pub fn is_end_to_end(&self) -> bool {
        matches!(self, OutputLayout::EndToEnd)
    }

    /// Appends to `out` every box whose best class is allowed by `keep` and scores at least
    /// `conf`. Boxes are in model-input pixels. As in Ultralytics, a box is judged by its best
    /// class over all classes: a person with a weak car score is not turned into a car.
    pub fn decode(
        &self,
        data: &[f32],
        shape: &[i64],
        conf: f32,
        keep: &dyn Fn(u32) -> bool,
        out: &mut Vec<Detection>,
    ) -> Result<(), VisionError> {
        self.decode_grouped(data, shape, conf, keep, &[], out)
    }

    /// [`decode`](Self::decode) where the classes flagged in `group` (by class index) count as
    /// one: their scores are added (at most 1) into the box's score for the group, labelled by
    /// the group's best class. A vehicle seen from above that is 0.2 car and 0.15 truck is one
    /// 0.35 car, while a person with weak vehicle scores stays a person. An empty `group`
    /// judges each class on its own.
    pub fn decode_grouped(
        &self,
        data: &[f32],
        shape: &[i64],
        conf: f32,
        keep: &dyn Fn(u32) -> bool,
        group: &[bool],
        out: &mut Vec<Detection>,
    ) -> Result<(), VisionError> {
        let expected: i64 = shape.iter().product();
        if expected < 0 || data.len() != expected as usize || shape.len() != 3 {
            return Err(VisionError::Model(format!("output of shape {shape:?} holds {} values", data.len())));
        }
        let (rows, cols) = (shape[1] as usize, shape[2] as usize);
        let in_group = |c: usize| group.get(c).copied().unwrap_or(false);
        let mut push = |bbox: BBox, score: f32, class_id: u32| {
            if score >= conf && keep(class_id) && bbox.x2 > bbox.x1 && bbox.y2 > bbox.y1 && score.is_finite() {
                out.push(Detection { bbox, score, class_id });
            }
        };
        match *self {
            OutputLayout::V8 { classes, transposed: false } => {
                let anchors = cols;
                let (boxes, scores) = data.split_at(4 * anchors);
                // Row by row over the classes keeps the reads sequential.
                let mut best = vec![ClassScore::default(); anchors];
                for (c, row) in scores.chunks_exact(anchors).take(classes).enumerate() {
                    let grouped = in_group(c);
                    for (b, &s) in best.iter_mut().zip(row) {
                        b.add(c as u32, s, grouped);
                    }
                }
                for (i, b) in best.iter().enumerate() {
                    let (score, class_id) = b.best();
                    if score >= conf {
                        let v = |k: usize| boxes[k * anchors + i];
                        push(BBox::from_cxcywh(v(0), v(1), v(2), v(3)), score, class_id);
                    }
                }
            }
            OutputLayout::V8 { transposed: true, .. } => {
                for row in data.chunks_exact(cols) {
                    let (score, class_id) = best_class(&row[4..], &in_group);
                    push(BBox::from_cxcywh(row[0], row[1], row[2], row[3]), score, class_id);
                }
            }
            OutputLayout::V5 { .. } => {
                for row in data.chunks_exact(cols).take(rows) {
                    let objectness = row[4];
                    if objectness < conf {
                        continue;
                    }
                    let (cls, class_id) = best_class(&row[5..], &in_group);
                    push(BBox::from_cxcywh(row[0], row[1], row[2], row[3]), objectness * cls, class_id);
                }
            }
            OutputLayout::EndToEnd => {
                for row in data.chunks_exact(cols) {
                    let class = row[5];
                    if class >= 0.0 && class.is_finite() {
                        push(BBox::new(row[0], row[1], row[2], row[3]), row[4], class as u32);
                    }
                }
            }
        }
        Ok(())
    }
}

/// The best class of one box, the grouped classes counted as one.
#[derive(Clone, Copy)]
struct ClassScore {
    /// Best class outside the group.
    other: (f32, u32),
    /// Sum of the group's scores, and its best member.
    group_sum: f32,
    group_best: (f32, u32),
}

impl Default for ClassScore {
    fn default() -> Self {
        ClassScore { other: (f32::MIN, 0), group_sum: 0.0, group_best: (f32::MIN, 0) }
    }
}

impl ClassScore {
    fn add(&mut self, class: u32, score: f32, grouped: bool) {
        let best = if grouped {
            self.group_sum += score;
            &mut self.group_best
        } else {
            &mut self.other
        };
        if score > best.0 {
            *best = (score, class);
        }
    }

    fn best(&self) -> (f32, u32) {
        let group = self.group_sum.min(1.0);
        if self.group_best.0 > f32::MIN && group > self.other.0 {
            (group, self.group_best.1)
        } else {
            self.other
        }
    }
}

fn best_class(scores: &[f32], in_group: &dyn Fn(usize) -> bool) -> (f32, u32) {
    let mut best = ClassScore::default();
    for (c, &s) in scores.iter().enumerate() {
        best.add(c as u32, s, in_group(c));
    }
    best.best()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(_: u32) -> bool {
        true
    }

    #[test]
    fn layouts_by_shape() {
        assert_eq!(
            OutputLayout::from_shape(&[1, 84, 8400], Some(80)).unwrap(),
            OutputLayout::V8 { classes: 80, transposed: false }
        );
        assert_eq!(OutputLayout::from_shape(&[1, 25200, 85], Some(80)).unwrap(), OutputLayout::V5 { classes: 80 });
        assert_eq!(OutputLayout::from_shape(&[1, 25200, 85], None).unwrap(), OutputLayout::V5 { classes: 80 });
        assert_eq!(
            OutputLayout::from_shape(&[1, 8400, 84], Some(80)).unwrap(),
            OutputLayout::V8 { classes: 80, transposed: true }
        );
        assert_eq!(OutputLayout::from_shape(&[1, 300, 6], Some(80)).unwrap(), OutputLayout::EndToEnd);
        // A one-class YOLOv5 also has six columns, but thousands of rows.
        assert_eq!(OutputLayout::from_shape(&[1, 25200, 6], Some(1)).unwrap(), OutputLayout::V5 { classes: 1 });
        assert!(OutputLayout::from_shape(&[1, 84, 8400], Some(3)).is_err());
        // The plate detector is a one-class segmentation model: 4 + 1 + 32 channels.
        assert_eq!(
            OutputLayout::from_shape(&[1, 37, 8400], Some(1)).unwrap(),
            OutputLayout::V8 { classes: 1, transposed: false }
        );
        // A 32 px input has 21 boxes, fewer than its 84 channels.
        assert_eq!(
            OutputLayout::from_shape(&[1, 84, 21], Some(80)).unwrap(),
            OutputLayout::V8 { classes: 80, transposed: false }
        );
        assert!(OutputLayout::from_shape(&[2, 84, 8400], None).is_err());
        assert!(OutputLayout::from_shape(&[1, 1000], None).is_err());
    }

    #[test]
    fn box_counts_of_real_heads() {
        let v8 = OutputLayout::V8 { classes: 80, transposed: false };
        assert!(v8.box_count_fits(8400, 640, 640));
        assert!(v8.box_count_fits(6300, 480, 640));
        assert!(!v8.box_count_fits(80, 640, 640));
        assert!(OutputLayout::V5 { classes: 80 }.box_count_fits(25200, 640, 640));
        assert!(OutputLayout::EndToEnd.box_count_fits(300, 640, 640));
    }

    #[test]
    fn decodes_v8_channels_first() {
        // Two anchors, two classes: anchor 0 is class 1 at 0.9, anchor 1 scores below threshold.
        #[rustfmt::skip]
        let data = [
            50.0, 10.0,  // cx
            40.0, 10.0,  // cy
            20.0, 4.0,   // w
            10.0, 4.0,   // h
            0.1, 0.05,   // class 0
            0.9, 0.2,    // class 1
        ];
        let layout = OutputLayout::V8 { classes: 2, transposed: false };
        let mut out = vec![];
        layout.decode(&data, &[1, 6, 2], 0.25, &all, &mut out).unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].class_id, 1);
        assert_eq!(out[0].bbox, BBox::new(40.0, 35.0, 60.0, 45.0));
        // Class filter applies to the best class: class 0 is never the best, so nothing is left.
        out.clear();
        layout.decode(&data, &[1, 6, 2], 0.25, &|c| c == 0, &mut out).unwrap();
        assert!(out.is_empty());
    }

    #[test]
    fn grouped_classes_add_up_into_one_score() {
        // Three classes (person, car, truck); cars and trucks are grouped. Anchor 0: 0.2 car +
        // 0.15 truck is a 0.35 car. Anchor 1: a 0.5 person with weak vehicle scores stays a person.
        #[rustfmt::skip]
        let data = [
            50.0, 10.0, 40.0, 10.0, 20.0, 4.0, 10.0, 4.0, // cx cy w h
            0.05, 0.5,   // person
            0.2, 0.1,    // car
            0.15, 0.1,   // truck
        ];
        let layout = OutputLayout::V8 { classes: 3, transposed: false };
        let group = [false, true, true];
        let mut out = vec![];
        layout.decode_grouped(&data, &[1, 7, 2], 0.25, &all, &group, &mut out).unwrap();
        assert_eq!(out.iter().map(|d| d.class_id).collect::<Vec<_>>(), [1, 0]);
        assert!((out[0].score - 0.35).abs() < 1e-6);
        // Without the group the vehicle stays under the threshold.
        out.clear();
        layout.decode(&data, &[1, 7, 2], 0.25, &all, &mut out).unwrap();
        assert_eq!(out.iter().map(|d| d.class_id).collect::<Vec<_>>(), [0]);
        // Transposed rows decode the same way; the sum never exceeds 1.
        let row = [50.0, 40.0, 20.0, 10.0, 0.0, 0.7, 0.6];
        out.clear();
        OutputLayout::V8 { classes: 3, transposed: true }
            .decode_grouped(&row, &[1, 1, 7], 0.25, &all, &group, &mut out)
            .unwrap();
        assert_eq!((out[0].class_id, out[0].score), (1, 1.0));
    }

    #[test]
    fn decodes_v5_with_objectness() {
        let data = [50.0, 40.0, 20.0, 10.0, 0.8, 0.5, 1.0, /* second row */ 1.0, 1.0, 1.0, 1.0, 0.1, 1.0, 0.0];
        let mut out = vec![];
        OutputLayout::V5 { classes: 2 }.decode(&data, &[1, 2, 7], 0.25, &all, &mut out).unwrap();
        assert_eq!(out.len(), 1);
        assert!((out[0].score - 0.8).abs() < 1e-6);
        assert_eq!(out[0].class_id, 1);
    }

    #[test]
    fn decodes_v8_transposed_and_end_to_end() {
        let data = [50.0, 40.0, 20.0, 10.0, 0.3, 0.6];
        let mut out = vec![];
        OutputLayout::V8 { classes: 2, transposed: true }.decode(&data, &[1, 1, 6], 0.25, &all, &mut out).unwrap();
        assert_eq!((out[0].class_id, out[0].score), (1, 0.6));
        out.clear();
        let e2e = [10.0, 20.0, 30.0, 60.0, 0.7, 2.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0];
        OutputLayout::EndToEnd.decode(&e2e, &[1, 2, 6], 0.25, &all, &mut out).unwrap();
        assert_eq!(out, vec![Detection { bbox: BBox::new(10.0, 20.0, 30.0, 60.0), score: 0.7, class_id: 2 }]);
    }

    #[test]
    fn wrong_sized_output_is_an_error_not_a_panic() {
        let mut out = vec![];
        let layout = OutputLayout::V8 { classes: 2, transposed: false };
        assert!(layout.decode(&[0.0; 5], &[1, 6, 2], 0.25, &all, &mut out).is_err());
    }
}
