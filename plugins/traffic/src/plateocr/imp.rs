use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant};

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::subclass::prelude::*;
use traffic_meta::{Plate, NO_PARENT};
use traffic_vision::plates::ocr::{MaskMode, OcrConfig, TextRecognizer, DEFAULT_CHARSET};
use traffic_vision::plates::vote::PlateVote;
use traffic_vision::Frame;

use super::CharsetMode;
use crate::{lock, start_error, stats, video};

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new("plateocr", gst::DebugColorFlags::empty(), Some("Licence-plate text recogniser"))
});

const DEFAULT_MODEL: &str = "PP-OCRv6_rec_small.onnx";
const DEFAULT_CHARSET_SPEC: &str = "A-Z0-9";
/// Tracks unseen for this many frames are forgotten.
const FORGET_AFTER: u64 = 600;

#[derive(Clone, Debug)]
struct Settings {
    model: String,
    charset: String,
    charset_mode: CharsetMode,
    pattern: String,
    margin: f64,
    threads: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            model: String::new(),
            charset: DEFAULT_CHARSET_SPEC.into(),
            charset_mode: CharsetMode::ArgmaxDrop,
            pattern: String::new(),
            // The detector's box is the plate's outline: a margin adds the frame, the dealer's
            // or state's lettering and shrinks the characters in the recogniser's 48 px rows
            // (openalpr, same boxes: 178 exact reads with none, 151 with 0.08).
            margin: 0.0,
            threads: 0,
        }
    }
}

/// Running totals for the `stats` property.
#[derive(Default)]
struct Stats {
    frames: u64,
    batches: u64,
    plates: u64,
    time: Duration,
}

impl Stats {
    fn structure(&self) -> gst::Structure {
        stats::structure(
            "plateocr-stats",
            &[("frames", self.frames), ("batches", self.batches), ("plates", self.plates)],
            &[("ms-per-plate", self.time, self.plates)],
        )
    }
}

struct State {
    recognizer: TextRecognizer,
    info: Option<gst_video::VideoInfo>,
    frame_index: u64,
    votes: HashMap<u64, (PlateVote, u64)>,
}

#[derive(Default)]
pub struct PlateOcr {
    settings: Mutex<Settings>,
    state: Mutex<Option<State>>,
    /// Apart from `state`, so that reading `stats` never waits for an inference.
    stats: Mutex<Stats>,
}

#[glib::object_subclass]
impl ObjectSubclass for PlateOcr {
    const NAME: &'static str = "GstPlateOcr";
    type Type = super::PlateOcr;
    type ParentType = gst_base::BaseTransform;
}

impl ObjectImpl for PlateOcr {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            let d = Settings::default();
            vec![
                glib::ParamSpecString::builder("model")
                    .nick("Model")
                    .blurb("CTC text recogniser (PaddleOCR rec ONNX with a 'character' dictionary in its metadata); empty: PP-OCRv6_rec_small.onnx in $TRAFFIC_WEIGHTS_DIR (the checkout's weights/)")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("charset")
                    .nick("Charset")
                    .blurb("Characters a plate may hold, with ranges (A-Z0-9); the model's lower-case letters read as upper case")
                    .default_value(Some(DEFAULT_CHARSET_SPEC))
                    .mutable_ready()
                    .build(),
                glib::ParamSpecEnum::builder_with_default("charset-mode", d.charset_mode)
                    .nick("Charset mode")
                    .blurb("How the charset restricts decoding")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("pattern")
                    .nick("Pattern")
                    .blurb("Plate formats, '|'-separated: A a letter, 9 a digit, ? any, other characters themselves (e.g. AAA9999|AAA9A99); reads that fit none do not vote; empty: any")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecDouble::builder("margin")
                    .nick("Margin")
                    .blurb("Crop this fraction of the plate box's height around it before reading (0: the box itself, which reads best: context shrinks the characters and adds stray text)")
                    .minimum(0.0)
                    .maximum(1.0)
                    .default_value(d.margin)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt::builder("threads")
                    .nick("Threads")
                    .blurb("ONNX Runtime intra-op threads; 0: one per core")
                    .maximum(256)
                    .default_value(d.threads)
                    .mutable_ready()
                    .build(),
                stats::property("frames, batches, plates, and mean milliseconds per plate (crop, resize, model, decode)"),
            ]
        });
        PROPERTIES.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        if !crate::settable(self.obj().upcast_ref(), *CAT, pspec) {
            return;
        }
        let mut s = lock(&self.settings);
        match pspec.name() {
            "model" => s.model = value.get::<Option<String>>().ok().flatten().unwrap_or_default(),
            "charset" => {
                s.charset = value.get::<Option<String>>().ok().flatten().unwrap_or_else(|| DEFAULT_CHARSET_SPEC.into())
            }
            "charset-mode" => s.charset_mode = value.get().unwrap_or(s.charset_mode),
            "pattern" => s.pattern = value.get::<Option<String>>().ok().flatten().unwrap_or_default(),
            "margin" => s.margin = value.get().unwrap_or(s.margin),
            "threads" => s.threads = value.get().unwrap_or(s.threads),
            name => gst::warning!(CAT, imp = self, "unknown property {name}"),
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        let s = lock(&self.settings);
        match pspec.name() {
            "model" => crate::model_path(&s.model, DEFAULT_MODEL).to_string_lossy().to_value(),
            "charset" => s.charset.to_value(),
            "charset-mode" => s.charset_mode.to_value(),
            "pattern" => s.pattern.to_value(),
            "margin" => s.margin.to_value(),
            "threads" => s.threads.to_value(),
            "stats" => lock(&self.stats).structure().to_value(),
            _ => glib::Value::from_type(pspec.value_type()),
        }
    }
}

impl GstObjectImpl for PlateOcr {}

impl ElementImpl for PlateOcr {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static META: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "Licence-plate reader",
                "Filter/Analyzer/Video",
                "Reads the text of licence-plate regions (CTC recogniser, ONNX Runtime) and votes it per vehicle track",
                "traffic-vision developers",
            )
        });
        Some(&*META)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static TEMPLATES: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| video::pad_templates(&video::caps()));
        TEMPLATES.as_ref()
    }
}

impl BaseTransformImpl for PlateOcr {
    const MODE: gst_base::subclass::BaseTransformMode = gst_base::subclass::BaseTransformMode::AlwaysInPlace;
    const PASSTHROUGH_ON_SAME_CAPS: bool = false;
    const TRANSFORM_IP_ON_PASSTHROUGH: bool = false;

    fn start(&self) -> Result<(), gst::ErrorMessage> {
        let s = lock(&self.settings).clone();
        let config = OcrConfig {
            model: crate::model_path(&s.model, DEFAULT_MODEL),
            charset: if s.charset.trim().is_empty() { DEFAULT_CHARSET.into() } else { s.charset.clone() },
            pattern: Some(s.pattern.clone()).filter(|p| !p.trim().is_empty()),
            mask: match s.charset_mode {
                CharsetMode::BestAllowed => MaskMode::BestAllowed,
                CharsetMode::ArgmaxDrop => MaskMode::ArgmaxDrop,
            },
            threads: s.threads as usize,
            ..OcrConfig::default()
        };
        gst::info!(CAT, imp = self, "loading {}", config.model.display());
        let recognizer = TextRecognizer::load(config).map_err(|e| start_error(&e))?;
        *lock(&self.state) = Some(State { recognizer, info: None, frame_index: 0, votes: HashMap::new() });
        *lock(&self.stats) = Stats::default();
        Ok(())
    }

    fn stop(&self) -> Result<(), gst::ErrorMessage> {
        if lock(&self.state).take().is_some() {
            let summary = stats::summary(&lock(&self.stats).structure());
            gst::info!(CAT, imp = self, "plateocr-summary: {summary}");
        }
        Ok(())
    }

    fn set_caps(&self, incaps: &gst::Caps, _outcaps: &gst::Caps) -> Result<(), gst::LoggableError> {
        let info = video::info_from_caps(&CAT, incaps)?;
        if let Some(state) = lock(&self.state).as_mut() {
            state.info = Some(info);
        }
        Ok(())
    }

    fn sink_event(&self, event: gst::Event) -> bool {
        if let gst::EventView::FlushStop(_) = event.view() {
            if let Some(state) = lock(&self.state).as_mut() {
                state.votes.clear();
            }
        }
        self.parent_sink_event(event)
    }

    fn transform_ip(&self, buf: &mut gst::BufferRef) -> Result<gst::FlowSuccess, gst::FlowError> {
        let margin = lock(&self.settings).margin;
        let mut reports: Vec<(u64, f64)> = Vec::new();
        {
            let mut guard = lock(&self.state);
            let state = guard.as_mut().ok_or(gst::FlowError::Flushing)?;
            let info = state.info.clone().ok_or(gst::FlowError::NotNegotiated)?;
            let size = video::frame_size(&info);
            let index = state.frame_index;
            state.frame_index += 1;
            lock(&self.stats).frames += 1;

            let objects = traffic_meta::objects(buf, size);
            // (plate ROI id, its vehicle's track, crop rectangle)
            let mut plates: Vec<(i32, Option<u64>, [usize; 4])> = Vec::new();
            let (fw, fh) = (info.width() as f64, info.height() as f64);
            for p in objects.iter().filter(|o| o.is_plate()) {
                let b = p.bbox;
                let m = margin * b.height();
                let x1 = (b.x1 - m).floor().clamp(0.0, fw - 1.0) as usize;
                let y1 = (b.y1 - m).floor().clamp(0.0, fh - 1.0) as usize;
                let x2 = (b.x2 + m).ceil().clamp(0.0, fw) as usize;
                let y2 = (b.y2 + m).ceil().clamp(0.0, fh) as usize;
                if x2 < x1 + 4 || y2 < y1 + 4 {
                    continue;
                }
                let track = (p.parent_id != NO_PARENT)
                    .then(|| objects.iter().find(|o| o.roi_id == p.parent_id))
                    .flatten()
                    .and_then(|v| v.track.as_ref().map(|t| t.id));
                plates.push((p.roi_id, track, [x1, y1, x2 - x1, y2 - y1]));
            }
            if plates.is_empty() {
                return Ok(gst::FlowSuccess::Ok);
            }
            let t0 = Instant::now();
            let reads = video::read_frame(self, buf, &info, "plate reading", |frame| {
                let crops = plates
                    .iter()
                    .map(|(_, _, [x, y, w, h])| frame.crop(*x, *y, *w, *h).map(|c| c.0))
                    .collect::<Result<Vec<Frame>, _>>()?;
                state.recognizer.recognize(&crops)
            })?;
            {
                let mut totals = lock(&self.stats);
                totals.time += t0.elapsed();
                totals.batches += 1;
                totals.plates += plates.len() as u64;
            }

            for ((roi_id, track, _), read) in plates.iter().zip(&reads) {
                let (track_text, track_confidence) = match track {
                    Some(id) => {
                        let entry = state.votes.entry(*id).or_insert_with(|| (PlateVote::new(), index));
                        entry.1 = index;
                        if read.matches_pattern {
                            entry.0.add(&read.text, &read.char_confidences);
                        }
                        if entry.0.reads() > 0 {
                            reports.push((*id, entry.0.confidence() as f64));
                        }
                        (entry.0.text().to_string(), entry.0.confidence() as f64)
                    }
                    // No track: this frame's read is all there is.
                    None if read.matches_pattern => (read.text.clone(), read.confidence as f64),
                    None => (String::new(), 0.0),
                };
                let plate =
                    Plate { text: read.text.clone(), confidence: read.confidence as f64, track_text, track_confidence };
                traffic_meta::set_plate(buf, *roi_id, &plate);
                gst::debug!(
                    CAT,
                    imp = self,
                    "frame {index}: plate {roi_id} read '{}' ({:.2})",
                    read.text,
                    read.confidence
                );
            }
            state.votes.retain(|_, (_, seen)| index.saturating_sub(*seen) <= FORGET_AFTER);
        }
        // Tell platedetect upstream how well each track is read (outside our lock).
        let sink = self.obj().static_pad("sink");
        for (track_id, track_confidence) in reports {
            if let Some(pad) = &sink {
                let _ = pad
                    .push_event(traffic_meta::plate_read_event(traffic_meta::PlateRead { track_id, track_confidence }));
            }
        }
        Ok(gst::FlowSuccess::Ok)
    }
}
