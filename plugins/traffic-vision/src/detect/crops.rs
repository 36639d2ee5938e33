//! A YOLO detector whose cost follows the crop: each image is searched at its own size rounded
//! up to the stride (capped), several images run as one batch padded to the largest. It needs a
//! model with dynamic batch, height and width whose head is cut before the DFL
//! (`scripts/yolo_raw_head.py`); [`raw_head`](super::raw_head) decodes its maps.

use std::path::Path;

use ort::session::Session;
use ort::value::{TensorElementType, ValueType};

use super::detector::parse_names;
use super::raw_head::{self, RawMap};
use crate::runtime::{require_file, run_image, session, SharedSession};
use crate::{nms, Detection, Frame, Letterbox, VisionError};

/// Grey of the padding between an image and its batch slot, as the letterbox pads (114/255).
const PAD_VALUE: f32 = 114.0 / 255.0;
/// Strides of the three maps of a YOLOv8/11 head; inputs are multiples of the largest.
pub const STRIDE: usize = 32;

#[derive(Clone, Debug)]
pub struct CropDetectorConfig {
    pub conf_threshold: f32,
    pub iou_threshold: f32,
    /// Longest side of an image's input: larger images are shrunk to it (a multiple of 32).
    pub max_input: usize,
    /// Smaller images are enlarged until their longest side is this (0: never): a plate a few
    /// pixels high in a small crop is below what the model was trained to find.
    pub min_input: usize,
    pub max_det: usize,
    pub threads: usize,
}

impl Default for CropDetectorConfig {
    fn default() -> Self {
        CropDetectorConfig {
            conf_threshold: 0.25,
            iou_threshold: 0.45,
            max_input: 640,
            min_input: 0,
            max_det: 20,
            threads: 0,
        }
    }
}

pub struct CropDetector {
    session: SharedSession,
    input_name: String,
    output_names: Vec<String>,
    half_input: bool,
    names: Vec<String>,
    pub config: CropDetectorConfig,
    input: Vec<f32>,
    input_f16: Vec<half::f16>,
    crop_input: Vec<f32>,
    outputs_f32: Vec<Vec<f32>>,
    candidates: Vec<Detection>,
}

impl CropDetector {
    /// Loads `model` when it is a raw-head model (one image input with dynamic batch, height and
    /// width; three 4-D outputs); `Ok(None)` for any other model, which the caller may run otherwise.
    pub fn load(model: &Path, config: CropDetectorConfig) -> Result<Option<Self>, VisionError> {
        require_file("YOLO model", model)?;
        if config.max_input < STRIDE || !config.max_input.is_multiple_of(STRIDE) {
            return Err(VisionError::Config(format!(
                "maximum input {} is not a positive multiple of {STRIDE}",
                config.max_input
            )));
        }
        let shared = session(model, config.threads, false)?;
        let session = shared.lock()?;
        let Some((input_name, half_input)) = dynamic_image_input(&session) else {
            return Ok(None);
        };
        let output_names: Vec<String> = session
            .outputs()
            .iter()
            .filter(|o| matches!(o.dtype(), ValueType::Tensor { shape, .. } if shape.len() == 4))
            .map(|o| o.name().to_string())
            .collect();
        if output_names.len() != 3 || session.outputs().len() != 3 {
            return Ok(None);
        }
        let names = {
            let metadata = session.metadata()?;
            metadata.custom("names").map(|n| parse_names(&n)).unwrap_or_default()
        };
        if names.is_empty() {
            return Err(VisionError::Model(format!("{}: a raw-head model must name its classes", model.display())));
        }
        drop(session);
        let mut detector = CropDetector {
            session: shared,
            input_name,
            output_names,
            half_input,
            names,
            config,
            input: Vec::new(),
            input_f16: Vec::new(),
            crop_input: Vec::new(),
            outputs_f32: Vec::new(),
            candidates: Vec::new(),
        };
        // A model whose maps do not decode fails here, at start-up, not on the first frame.
        let blank = [0u8; 3 * STRIDE * STRIDE];
        detector.detect_batch(&[Frame::rgb(&blank, STRIDE, STRIDE)?]).map_err(|e| {
            VisionError::Model(format!("{}: cannot run on a {STRIDE}x{STRIDE} image: {e}", model.display()))
        })?;
        Ok(Some(detector))
    }

    /// Class names, by class index.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// The input `(width, height)` of an image of this size: its size, shrunk to fit the maximum
    /// input or enlarged to the minimum, rounded up to the stride.
    pub fn input_size_for(&self, width: usize, height: usize) -> (usize, usize) {
        input_size_for(width, height, self.config.min_input, self.config.max_input)
    }

    /// Detects objects in each image, with one inference for all of them (each padded to the
    /// largest); boxes in each image's pixels, best first.
    pub fn detect_batch(&mut self, images: &[Frame]) -> Result<Vec<Vec<Detection>>, VisionError> {
        if images.is_empty() {
            return Ok(Vec::new());
        }
        let letterboxes = images
            .iter()
            .map(|f| {
                let (w, h) = self.input_size_for(f.width, f.height);
                Letterbox::fixed(f.width, f.height, w, h)
            })
            .collect::<Result<Vec<_>, _>>()?;
        let width = letterboxes.iter().map(|lb| lb.dst_w).max().unwrap_or(STRIDE);
        let height = letterboxes.iter().map(|lb| lb.dst_h).max().unwrap_or(STRIDE);
        let slot = 3 * width * height;
        self.input.clear();
        self.input.resize(images.len() * slot, PAD_VALUE);
        for ((frame, lb), dst) in images.iter().zip(&letterboxes).zip(self.input.chunks_exact_mut(slot)) {
            self.crop_input.resize(lb.input_len(), 0.0);
            lb.fill(frame, &mut self.crop_input)?;
            // Each image at the top-left of its slot, plane by plane, row by row.
            let plane = lb.dst_w * lb.dst_h;
            for (src, dst) in self.crop_input.chunks_exact(plane).zip(dst.chunks_exact_mut(width * height)) {
                for (src_row, dst_row) in src.chunks_exact(lb.dst_w).zip(dst.chunks_exact_mut(width)) {
                    dst_row[..lb.dst_w].copy_from_slice(src_row);
                }
            }
        }

        let shape = [images.len(), 3, height, width];
        let half = self.half_input.then_some(&mut self.input_f16);
        let mut session = self.session.lock()?;
        let outputs = run_image(&mut session, &self.input_name, shape, &self.input, half)?;
        let mut shapes = Vec::with_capacity(self.output_names.len());
        self.outputs_f32.resize_with(self.output_names.len(), Vec::new);
        for (name, buf) in self.output_names.iter().zip(self.outputs_f32.iter_mut()) {
            let output = outputs.get(name).ok_or_else(|| VisionError::Model(format!("output '{name}' missing")))?;
            buf.clear();
            let shape = match output.try_extract_tensor::<f32>() {
                Ok((s, d)) => {
                    buf.extend_from_slice(d);
                    s.to_vec()
                }
                Err(_) => {
                    let (s, d) = output.try_extract_tensor::<half::f16>().map_err(|e| {
                        VisionError::Model(format!("output '{name}' is neither float32 nor float16: {e}"))
                    })?;
                    buf.extend(d.iter().map(|v| v.to_f32()));
                    s.to_vec()
                }
            };
            shapes.push(shape);
        }
        drop(outputs);
        let maps =
            self.outputs_f32.iter().zip(&shapes).map(|(d, s)| RawMap::new(d, s)).collect::<Result<Vec<_>, _>>()?;
        let mut found = Vec::with_capacity(images.len());
        for (item, lb) in letterboxes.iter().enumerate() {
            self.candidates.clear();
            let conf = self.config.conf_threshold;
            raw_head::decode(&maps, item, (width, height), self.names.len(), conf, &mut self.candidates)?;
            let mut dets: Vec<Detection> = self
                .candidates
                .iter()
                .map(|d| Detection { bbox: lb.to_frame(d.bbox), ..*d })
                .filter(|d| d.bbox.area() > 0.0)
                .collect();
            nms(&mut dets, self.config.iou_threshold, self.config.max_det, false);
            found.push(dets);
        }
        Ok(found)
    }
}

/// See [`CropDetector::input_size_for`]; an empty image gets the smallest input.
pub fn input_size_for(width: usize, height: usize, min_input: usize, max_input: usize) -> (usize, usize) {
    let long = width.max(height).max(1) as f64;
    let scale = long.clamp(min_input.min(max_input) as f64, max_input as f64) / long;
    let side = |v: usize| (((v as f64 * scale).round() as usize).max(1).div_ceil(STRIDE) * STRIDE).min(max_input);
    (side(width), side(height))
}

/// Groups images (by their input sizes) into batches: largest first, an image joins the batch
/// while padding every image to the batch's largest costs at most `slack` more pixels than the
/// images' own inputs (inference time follows the pixels; one run saves its fixed overhead).
pub fn batches(inputs: &[(usize, usize)], slack: f64) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..inputs.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(inputs[i].0 * inputs[i].1));
    let mut groups: Vec<Vec<usize>> = Vec::new();
    let (mut own, mut max_w, mut max_h) = (0usize, 0usize, 0usize);
    for i in order {
        let (w, h) = inputs[i];
        let (mw, mh) = (max_w.max(w), max_h.max(h));
        let padded = |n: usize| (n * mw * mh) as f64;
        match groups.last_mut() {
            Some(g) if padded(g.len() + 1) <= (1.0 + slack) * (own + w * h) as f64 => {
                g.push(i);
                (own, max_w, max_h) = (own + w * h, mw, mh);
            }
            _ => {
                groups.push(vec![i]);
                (own, max_w, max_h) = (w * h, w, h);
            }
        }
    }
    groups
}

/// The name and precision of a single image input `[batch, 3, height, width]` whose height and
/// width are dynamic.
fn dynamic_image_input(session: &Session) -> Option<(String, bool)> {
    let [input] = session.inputs() else { return None };
    let ValueType::Tensor { ty, shape, .. } = input.dtype() else { return None };
    let half = match ty {
        TensorElementType::Float32 => false,
        TensorElementType::Float16 => true,
        _ => return None,
    };
    let dims: &[i64] = shape;
    matches!(dims, [b, 3, h, w] if *b <= 0 && *h <= 0 && *w <= 0).then(|| (input.name().to_string(), half))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_follow_the_image_up_to_the_cap() {
        // Rounded up to the stride; odd sizes too.
        assert_eq!(input_size_for(300, 200, 0, 640), (320, 224));
        assert_eq!(input_size_for(641, 353, 0, 1280), (672, 384));
        // Tiny images are padded to one stride; an empty one gets the smallest input.
        assert_eq!(input_size_for(7, 5, 0, 640), (32, 32));
        assert_eq!(input_size_for(0, 0, 0, 640), (32, 32));
        assert_eq!(input_size_for(0, 0, 320, 640), (32, 32));
        // Larger than the cap: shrunk to it, keeping the aspect.
        assert_eq!(input_size_for(1920, 1080, 0, 640), (640, 384));
        assert_eq!(input_size_for(5000, 20, 0, 640), (640, 32));
        assert_eq!(input_size_for(900, 1200, 0, 320), (256, 320));
    }

    #[test]
    fn small_images_are_enlarged_to_the_minimum() {
        // Long side 160 -> 320: twice the size; 7x5 -> 320x229 -> 320x256.
        assert_eq!(input_size_for(160, 100, 320, 640), (320, 224));
        assert_eq!(input_size_for(7, 5, 320, 640), (320, 256));
        // At or above the minimum: unchanged; a minimum above the cap is the cap.
        assert_eq!(input_size_for(400, 300, 320, 640), (416, 320));
        assert_eq!(input_size_for(100, 50, 1000, 640), (640, 320));
    }

    #[test]
    fn batches_join_images_of_similar_size_only() {
        // Same sizes: one batch. A small crop beside a large one: its own inference.
        assert_eq!(batches(&[(320, 224), (320, 224), (320, 224)], 0.25), vec![vec![0, 1, 2]]);
        assert_eq!(batches(&[(96, 96), (640, 640)], 0.25), vec![vec![1], vec![0]]);
        // 320x256 pads to 320x288 (12.5 % more): joins; 160x160 would more than double its cost.
        assert_eq!(batches(&[(320, 288), (320, 256), (160, 160)], 0.25), vec![vec![0, 1], vec![2]]);
        assert!(batches(&[], 0.25).is_empty());
        // No slack: only equal inputs share a run.
        assert_eq!(batches(&[(64, 64), (64, 96), (64, 64)], 0.0), vec![vec![1], vec![0, 2]]);
    }
}
