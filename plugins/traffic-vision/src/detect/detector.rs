//! A YOLO detector on one ONNX Runtime session: letterbox in, boxes in frame pixels out.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ort::session::Session;
use ort::value::{TensorElementType, ValueType};

use crate::runtime::{require_file, run_image, session, SharedSession};
use crate::{nms, Detection, Frame, Letterbox, OutputLayout, VisionError};

/// Which classes to report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClassFilter {
    All,
    /// Class names (as the model names them) or indices.
    Only(Vec<String>),
}

impl ClassFilter {
    /// Parses `all` or a comma-separated list of names or indices.
    pub fn parse(s: &str) -> Self {
        let s = s.trim();
        if s.eq_ignore_ascii_case("all") || s.is_empty() {
            return ClassFilter::All;
        }
        ClassFilter::Only(s.split(',').map(|c| c.trim().to_string()).filter(|c| !c.is_empty()).collect())
    }

    /// One flag per class index; unknown names are an error listing the model's classes.
    pub fn mask(&self, names: &[String]) -> Result<Vec<bool>, VisionError> {
        let ClassFilter::Only(wanted) = self else {
            return Ok(vec![true; names.len()]);
        };
        if wanted.is_empty() {
            // `,,,` would detect nothing at all, silently.
            return Err(VisionError::Config(format!(
                "the class list names no class: give names or indices ({}) or 'all'",
                names.join(",")
            )));
        }
        let mut mask = vec![false; names.len()];
        for w in wanted {
            let index =
                names.iter().position(|n| n == w).or_else(|| w.parse::<usize>().ok().filter(|&i| i < names.len()));
            match index {
                Some(i) => mask[i] = true,
                None => {
                    return Err(VisionError::Config(format!(
                        "class '{w}' is not one of the model's classes: {}",
                        names.join(",")
                    )))
                }
            }
        }
        Ok(mask)
    }
}

#[derive(Clone, Debug)]
pub struct DetectorConfig {
    pub model: PathBuf,
    /// Class names when the model does not carry them in its metadata.
    pub labels: Option<Vec<String>>,
    pub conf_threshold: f32,
    pub iou_threshold: f32,
    /// Long side of the model input (rectangular when the model's input is dynamic).
    pub input_size: usize,
    /// ONNX Runtime intra-op threads; 0 lets ONNX Runtime use every core.
    pub threads: usize,
    pub classes: ClassFilter,
    /// NMS across classes: one box per object even where the model hesitates between classes.
    pub agnostic_nms: bool,
    /// Classes (names or indices) whose scores add up into one score per box, labelled by the
    /// largest of them (see [`OutputLayout::decode_grouped`]); empty: each class on its own.
    pub merged_classes: Vec<String>,
    pub max_det: usize,
    /// Let ONNX Runtime's pool threads spin between parallel sections instead of sleeping.
    pub spinning: bool,
}

impl Default for DetectorConfig {
    fn default() -> Self {
        DetectorConfig {
            model: crate::runtime::weight("yolov8n.onnx"),
            labels: None,
            conf_threshold: 0.25,
            iou_threshold: 0.45,
            input_size: 640,
            threads: 0,
            classes: ClassFilter::All,
            agnostic_nms: false,
            merged_classes: Vec::new(),
            max_det: 300,
            // Spinning threads keep cores busy after `run` returns, taking them from the
            // decoder, the encoder and the other elements' sessions of the same pipeline.
            spinning: false,
        }
    }
}

/// Where the time of one `detect` call went.
#[derive(Clone, Copy, Debug, Default)]
pub struct StageTimes {
    pub preprocess: Duration,
    pub inference: Duration,
    pub postprocess: Duration,
}

pub struct YoloDetector {
    session: SharedSession,
    input_name: String,
    output_name: String,
    names: Vec<String>,
    keep: Vec<bool>,
    /// Classes whose scores add up (`merged_classes`), by class index; empty: none.
    merged: Vec<bool>,
    /// `(width, height)` of a model with a static input; `None` when height and width are dynamic.
    fixed_input: Option<(usize, usize)>,
    stride: usize,
    config: DetectorConfig,
    layout: Option<OutputLayout>,
    /// The model named no classes: `names` are indices.
    named_by_index: bool,
    last_output_shape: [i64; 3],
    letterbox: Option<Letterbox>,
    input: Vec<f32>,
    /// The model takes float16 (e.g. the plate detector): `input` converted, and the output
    /// widened back to float32 in `output_f32`.
    half_input: bool,
    input_f16: Vec<half::f16>,
    output_f32: Vec<f32>,
    candidates: Vec<Detection>,
    pub last_times: StageTimes,
}

impl YoloDetector {
    pub fn load(config: DetectorConfig) -> Result<Self, VisionError> {
        require_file("YOLO model", &config.model)?;
        let shared = session(&config.model, config.threads, config.spinning)?;
        let session = shared.lock()?;
        let (input_name, fixed_input, half_input) = image_input(&session, &config.model)?;
        let output_name = session
            .outputs()
            .first()
            .map(|o| o.name().to_string())
            .ok_or_else(|| VisionError::Model("the model has no output".into()))?;
        let (names, stride) = {
            let metadata = session.metadata()?;
            let names = match &config.labels {
                Some(labels) => labels.clone(),
                None => metadata.custom("names").map(|n| parse_names(&n)).unwrap_or_default(),
            };
            (names, metadata.custom("stride").and_then(|s| s.trim().parse().ok()).unwrap_or(32))
        };
        drop(session);
        let mut detector = YoloDetector {
            session: shared,
            input_name,
            output_name,
            names,
            // Every class until the dry run below has told us how many there are.
            keep: Vec::new(),
            merged: Vec::new(),
            fixed_input,
            stride,
            config,
            layout: None,
            named_by_index: false,
            last_output_shape: [0; 3],
            letterbox: None,
            input: Vec::new(),
            half_input,
            input_f16: Vec::new(),
            output_f32: Vec::new(),
            candidates: Vec::new(),
            last_times: StageTimes::default(),
        };
        detector.check_output_layout()?;
        let by_index_hint = |e: VisionError| {
            if detector.named_by_index {
                VisionError::Config(format!("{e} (the model carries no class names: set a labels file or use indices)"))
            } else {
                e
            }
        };
        let keep = detector.config.classes.mask(&detector.names).map_err(by_index_hint)?;
        let merged = match &detector.config.merged_classes {
            m if m.is_empty() => Vec::new(),
            m => ClassFilter::Only(m.clone()).mask(&detector.names).map_err(by_index_hint)?,
        };
        detector.keep = keep;
        detector.merged = merged;
        Ok(detector)
    }

    /// Changes the thresholds for the next frames (they are cheap to change while running).
    pub fn set_thresholds(&mut self, conf: f32, iou: f32) {
        self.config.conf_threshold = conf;
        self.config.iou_threshold = iou;
    }

    /// Class names, by class index.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    pub fn layout(&self) -> Option<OutputLayout> {
        self.layout
    }

    /// The model input `(width, height)` that a frame of this size is letterboxed into.
    pub fn input_size_for(&self, width: usize, height: usize) -> Result<(usize, usize), VisionError> {
        let lb = self.make_letterbox(width, height)?;
        Ok((lb.dst_w, lb.dst_h))
    }

    /// Runs the model once on a blank input: a model whose output we cannot read fails here,
    /// at start-up, not on the first frame; and the first frame is not slowed by allocation.
    fn check_output_layout(&mut self) -> Result<(), VisionError> {
        let (w, h) = self.fixed_input.unwrap_or((self.config.input_size, self.config.input_size));
        let blank = vec![0u8; w * h * 3];
        self.detect(&Frame::rgb(&blank, w, h)?).map_err(|e| match e {
            VisionError::Runtime(m) => {
                VisionError::Model(format!("{}: cannot run on a {w}x{h} image: {m}", self.config.model.display()))
            }
            e => e,
        })?;
        let Some(layout) = self.layout else {
            return Err(VisionError::Model("no output layout".into()));
        };
        let boxes = match layout {
            OutputLayout::V8 { transposed: false, .. } => self.last_output_shape[2],
            _ => self.last_output_shape[1],
        };
        if !layout.box_count_fits(boxes, w, h) {
            return Err(VisionError::Model(format!(
                "{}: output {:?} for a {w}x{h} input is not a YOLO detection head (read as {layout:?})",
                self.config.model.display(),
                self.last_output_shape
            )));
        }
        Ok(())
    }

    fn make_letterbox(&self, width: usize, height: usize) -> Result<Letterbox, VisionError> {
        match self.fixed_input {
            Some((w, h)) => Letterbox::fixed(width, height, w, h),
            None => Letterbox::rect(width, height, self.config.input_size, self.stride),
        }
    }

    /// Detects objects in one frame; boxes in frame pixels, best first.
    pub fn detect(&mut self, frame: &Frame) -> Result<Vec<Detection>, VisionError> {
        let t0 = Instant::now();
        let stale = self.letterbox.as_ref().is_none_or(|lb| lb.src_w != frame.width || lb.src_h != frame.height);
        if stale {
            let lb = self.make_letterbox(frame.width, frame.height)?;
            self.input.resize(lb.input_len(), 0.0);
            self.letterbox = Some(lb);
        }
        let Some(lb) = self.letterbox.as_ref() else {
            return Err(VisionError::Frame("no letterbox".into()));
        };
        lb.fill(frame, &mut self.input)?;
        let t1 = Instant::now();

        let shape = [1usize, 3, lb.dst_h, lb.dst_w];
        let half = self.half_input.then_some(&mut self.input_f16);
        let mut session = self.session.lock()?;
        let outputs = run_image(&mut session, &self.input_name, shape, &self.input, half)?;
        let t2 = Instant::now();

        let output = outputs
            .get(&self.output_name)
            .ok_or_else(|| VisionError::Model(format!("output '{}' missing", self.output_name)))?;
        let (out_shape, data): (&[i64], &[f32]) = match output.try_extract_tensor::<f32>() {
            Ok((s, d)) => (s, d),
            Err(_) => {
                let (s, d) = output.try_extract_tensor::<half::f16>().map_err(|e| {
                    VisionError::Model(format!("output '{}' is neither float32 nor float16: {e}", self.output_name))
                })?;
                self.output_f32.clear();
                self.output_f32.extend(d.iter().map(|v| v.to_f32()));
                (s, &self.output_f32[..])
            }
        };
        let layout = match self.layout {
            Some(l) => l,
            None => {
                let known = (!self.names.is_empty()).then_some(self.names.len());
                let l = OutputLayout::from_shape(out_shape, known)?;
                if self.names.is_empty() {
                    // No names in the model nor a labels file: report indices.
                    self.names = (0..l.classes().unwrap_or(0)).map(|i| i.to_string()).collect();
                    self.named_by_index = true;
                }
                self.layout = Some(l);
                l
            }
        };
        self.candidates.clear();
        self.last_output_shape = [out_shape[0], out_shape[1], out_shape[2]];
        let keep = &self.keep;
        // An empty mask is the dry run at load time, before the classes are known.
        let allowed = |c: u32| keep.is_empty() || keep.get(c as usize).copied().unwrap_or(false);
        layout.decode_grouped(
            data,
            out_shape,
            self.config.conf_threshold,
            &allowed,
            &self.merged,
            &mut self.candidates,
        )?;
        drop(outputs);
        let mut dets: Vec<Detection> = self
            .candidates
            .iter()
            .map(|d| Detection { bbox: lb.to_frame(d.bbox), ..*d })
            .filter(|d| d.bbox.area() > 0.0)
            .collect();
        if layout.is_end_to_end() {
            dets.sort_by(|a, b| b.score.total_cmp(&a.score));
            dets.truncate(self.config.max_det);
        } else {
            nms(&mut dets, self.config.iou_threshold, self.config.max_det, self.config.agnostic_nms);
        }
        self.last_times = StageTimes { preprocess: t1 - t0, inference: t2 - t1, postprocess: t2.elapsed() };
        Ok(dets)
    }
}

/// The single image input: its name, its `(width, height)` when static, and whether it is float16.
type ImageInput = (String, Option<(usize, usize)>, bool);

fn image_input(session: &Session, path: &Path) -> Result<ImageInput, VisionError> {
    let [input] = session.inputs() else {
        return Err(VisionError::Model(format!(
            "{} has {} inputs; a YOLO model has one",
            path.display(),
            session.inputs().len()
        )));
    };
    let ValueType::Tensor { ty, shape, .. } = input.dtype() else {
        return Err(VisionError::Model(format!("input '{}' is not a tensor", input.name())));
    };
    let half = match ty {
        TensorElementType::Float32 => false,
        TensorElementType::Float16 => true,
        _ => {
            return Err(VisionError::Model(format!(
                "input '{}' is {ty:?}; float32 and float16 are supported",
                input.name()
            )))
        }
    };
    let dims: &[i64] = shape;
    match dims {
        [_, 3, h, w] if *h > 0 && *w > 0 => Ok((input.name().to_string(), Some((*w as usize, *h as usize)), half)),
        [_, 3, _, _] => Ok((input.name().to_string(), None, half)),
        _ => Err(VisionError::Model(format!("input '{}' has shape {dims:?}; expected [1,3,H,W]", input.name()))),
    }
}

/// Reads Ultralytics' `names` metadata, a Python dict literal: `{0: 'person', 1: 'bicycle'}`.
pub fn parse_names(s: &str) -> Vec<String> {
    let mut names: Vec<(usize, String)> = Vec::new();
    let mut rest = s.trim().trim_start_matches('{');
    while let Some(colon) = rest.find(':') {
        let Ok(index) = rest[..colon].trim().trim_start_matches(',').trim().parse::<usize>() else {
            break;
        };
        let after = rest[colon + 1..].trim_start();
        let Some(quote) = after.chars().next().filter(|c| *c == '\'' || *c == '"') else {
            break;
        };
        let Some(end) = after[1..].find(quote) else {
            break;
        };
        names.push((index, after[1..1 + end].to_string()));
        rest = &after[end + 2..];
    }
    names.sort_by_key(|(i, _)| *i);
    // Indices must be 0..n; a gap means we misread the string.
    if names.iter().enumerate().any(|(k, (i, _))| k != *i) {
        return Vec::new();
    }
    names.into_iter().map(|(_, n)| n).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ultralytics_names() {
        let names = parse_names("{0: 'person', 1: 'bicycle', 2: \"traffic light\", 3: 'it''s'}");
        assert_eq!(names[..3], ["person", "bicycle", "traffic light"]);
        assert_eq!(parse_names("{0: 'plate'}"), ["plate"]);
        assert!(parse_names("garbage").is_empty());
        assert!(parse_names("{1: 'a'}").is_empty());
    }

    #[test]
    fn class_filter_by_name_or_index() {
        let names: Vec<String> = ["person", "bicycle", "car"].iter().map(|s| s.to_string()).collect();
        assert_eq!(ClassFilter::parse("car, 0").mask(&names).unwrap(), [true, false, true]);
        assert_eq!(ClassFilter::parse("all").mask(&names).unwrap(), [true, true, true]);
        let err = ClassFilter::parse("tank").mask(&names).unwrap_err().to_string();
        assert!(err.contains("tank") && err.contains("person,bicycle,car"), "{err}");
        let err = ClassFilter::parse(",, ,").mask(&names).unwrap_err().to_string();
        assert!(err.contains("names no class"), "{err}");
    }
}
