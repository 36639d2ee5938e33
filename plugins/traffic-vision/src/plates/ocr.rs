//! Text recognition with a CTC model (PaddleOCR rec: PP-OCRv4/v6) on one ONNX Runtime session:
//! crops of a frame in, text with per-character confidences out.
//!
//! Preprocessing is PaddleOCR's `resize_norm_img`: each crop is resized to height 48 keeping its
//! aspect, BGR, `(x / 255 - 0.5) / 0.5`, padded with zeros on the right to the batch width.
//! Decoding is greedy CTC restricted to a charset (see [`CtcDecoder`]); a character at either
//! end of the text that the model is not sure is there at all is dropped (see [`trim_absent_ends`]).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use ort::value::TensorRef;

use crate::runtime::{require_file, session, SharedSession};
use crate::{Frame, Letterbox, VisionError};

/// Input height of PaddleOCR recognisers.
pub const REC_HEIGHT: usize = 48;
/// The recogniser's training width (PaddleOCR's `rec_image_shape` 3,48,320).
const REC_MIN_BATCH_WIDTH: usize = 320;

#[derive(Clone, Debug)]
pub struct OcrConfig {
    pub model: PathBuf,
    /// Characters that may be emitted; lower-case model symbols count as their upper case.
    pub charset: String,
    /// Optional format: see [`Pattern`].
    pub pattern: Option<String>,
    /// How the charset restricts decoding.
    pub mask: MaskMode,
    pub threads: usize,
    pub min_width: usize,
    pub max_width: usize,
    /// The first and the last character are dropped when their presence is under this;
    /// 0 keeps every character. See [`trim_absent_ends`].
    pub edge_min_presence: f32,
}

impl Default for OcrConfig {
    fn default() -> Self {
        OcrConfig {
            model: crate::runtime::weight("PP-OCRv6_rec_small.onnx"),
            charset: DEFAULT_CHARSET.into(),
            pattern: None,
            mask: MaskMode::ArgmaxDrop,
            threads: 0,
            min_width: 32,
            max_width: 480,
            edge_min_presence: EDGE_MIN_PRESENCE,
        }
    }
}

pub const DEFAULT_CHARSET: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

/// Default of [`OcrConfig::edge_min_presence`] (see [`trim_absent_ends`]).
pub const EDGE_MIN_PRESENCE: f32 = 0.8;

/// Drops the first and the last character when its [`DecodedChar::presence`] is under
/// `min_presence`, at most one at each end.
///
/// The ends of a plate crop hold what is not text: the plate's frame, bolts, a state's artwork
/// (Arizona's cactus), the EU country band. The recogniser sometimes writes one of them as a
/// character (`BRK878AC` for `RK878AC`), and whether it does flips with a one-pixel shift of the
/// crop. CTC tells "is a character here" (blank or not) apart from "which one": such a phantom
/// is unsure of the first, while a real but blurred character (O or 0, 8 or B) is sure of it and
/// unsure of the second, so presence, not confidence, is the test. Over the openalpr plates read
/// at four crop placements, an end character under 0.8 presence was an insertion 19 times in 30
/// with PP-OCRv6 and 18 in 33 with PP-OCRv4, one between 0.8 and 0.9 less often than not (8 in
/// 18, 11 in 43): 0.8 is where both recognisers cross even odds. Inside the text nothing is
/// dropped: a weak character there is mostly a real one, and dropping it shortens the plate.
pub fn trim_absent_ends(chars: &mut Vec<DecodedChar>, min_presence: f32) {
    if chars.last().is_some_and(|c| c.presence < min_presence) {
        chars.pop();
    }
    if chars.first().is_some_and(|c| c.presence < min_presence) {
        chars.remove(0);
    }
}

/// Expands `A-Z0-9`-style ranges into the characters they name.
pub fn expand_charset(spec: &str) -> Vec<char> {
    let c: Vec<char> = spec.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < c.len() {
        if i + 2 < c.len() && c[i + 1] == '-' && c[i] <= c[i + 2] {
            out.extend(c[i]..=c[i + 2]);
            i += 3;
        } else {
            out.push(c[i]);
            i += 1;
        }
    }
    out.sort_unstable();
    out.dedup();
    out
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MaskMode {
    /// Per timestep, the best of blank and the allowed classes (the others are never considered).
    BestAllowed,
    /// Per timestep, the argmax over all classes; a disallowed winner is dropped. The default:
    /// it reads better on the openalpr end-to-end benchmark (exact 0.597 vs 0.535, PP-OCRv6).
    ArgmaxDrop,
}

/// One recognised text.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TextRead {
    pub text: String,
    /// One per character of `text`.
    pub char_confidences: Vec<f32>,
    /// Mean of the character confidences (0 for an empty read).
    pub confidence: f32,
    /// Whether the text fits the pattern (true when there is none).
    pub matches_pattern: bool,
}

/// One character of a greedy CTC decoding, with two probabilities from the timesteps it spans.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DecodedChar {
    pub ch: char,
    /// Its own best probability: which character it is.
    pub confidence: f32,
    /// The best probability that some character, whichever, is written there: `1 - p(blank)`.
    pub presence: f32,
}

/// Greedy CTC decoding with a charset mask. Class 0 is the blank; class `i + 1` is symbol `i`
/// of the dictionary.
#[derive(Clone, Debug)]
pub struct CtcDecoder {
    /// Per class, the character it emits when allowed.
    emits: Vec<Option<char>>,
    pub mode: MaskMode,
}

impl CtcDecoder {
    /// `symbols`: the dictionary (class `i + 1`); `allowed`: the charset.
    pub fn new(symbols: &[String], allowed: &[char], mode: MaskMode) -> Self {
        let mut emits = vec![None];
        for s in symbols {
            let mut chars = s.chars();
            let e = match (chars.next(), chars.next()) {
                (Some(c), None) => {
                    let up = c.to_ascii_uppercase();
                    if allowed.contains(&c) {
                        Some(c)
                    } else if allowed.contains(&up) {
                        Some(up)
                    } else {
                        None
                    }
                }
                _ => None,
            };
            emits.push(e);
        }
        CtcDecoder { emits, mode }
    }

    pub fn classes(&self) -> usize {
        self.emits.len()
    }

    /// Decodes `[steps, classes]` probabilities (rows of `classes` values).
    pub fn decode(&self, probs: &[f32], classes: usize) -> Vec<DecodedChar> {
        let mut chars: Vec<DecodedChar> = Vec::new();
        // The character emitted at the previous step (None: blank or dropped).
        let mut prev: Option<char> = None;
        for row in probs.chunks_exact(classes) {
            let (mut best, mut best_p) = (0usize, row[0]);
            match self.mode {
                MaskMode::BestAllowed => {
                    for (c, &p) in row.iter().enumerate().skip(1) {
                        if p > best_p && self.emits.get(c).copied().flatten().is_some() {
                            best = c;
                            best_p = p;
                        }
                    }
                }
                MaskMode::ArgmaxDrop => {
                    for (c, &p) in row.iter().enumerate().skip(1) {
                        if p > best_p {
                            best = c;
                            best_p = p;
                        }
                    }
                }
            }
            let ch = if best == 0 { None } else { self.emits.get(best).copied().flatten() };
            let presence = 1.0 - row[0];
            match ch {
                Some(c) if prev == Some(c) => {
                    if let Some(last) = chars.last_mut() {
                        last.confidence = last.confidence.max(best_p);
                        last.presence = last.presence.max(presence);
                    }
                }
                Some(c) => chars.push(DecodedChar { ch: c, confidence: best_p, presence }),
                None => {}
            }
            prev = ch;
        }
        chars
    }
}

/// A tiny plate-format pattern: alternatives separated by `|`, each a sequence of
/// `A` (letter), `9` (digit), `?` (any) or a literal character in quotes-free form
/// (anything else matches itself). `AAA9999|AAA9A99` accepts Brazilian plates.
#[derive(Clone, Debug, PartialEq)]
pub struct Pattern {
    alternatives: Vec<Vec<char>>,
}

impl Pattern {
    pub fn parse(s: &str) -> Option<Self> {
        let alternatives: Vec<Vec<char>> =
            s.split('|').map(|a| a.trim().chars().collect::<Vec<_>>()).filter(|a| !a.is_empty()).collect();
        (!alternatives.is_empty()).then_some(Pattern { alternatives })
    }

    pub fn matches(&self, text: &str) -> bool {
        let t: Vec<char> = text.chars().collect();
        self.alternatives.iter().any(|alt| {
            alt.len() == t.len()
                && alt.iter().zip(&t).all(|(&p, &c)| match p {
                    'A' => c.is_ascii_alphabetic(),
                    '9' => c.is_ascii_digit(),
                    '?' => true,
                    p => p == c,
                })
        })
    }
}

/// Where the time of one `recognize` call went.
#[derive(Clone, Copy, Debug, Default)]
pub struct OcrTimes {
    pub preprocess: Duration,
    pub inference: Duration,
    pub decode: Duration,
}

pub struct TextRecognizer {
    session: SharedSession,
    input_name: String,
    decoder: CtcDecoder,
    pattern: Option<Pattern>,
    config: OcrConfig,
    scratch: Vec<f32>,
    input: Vec<f32>,
    pub last_times: OcrTimes,
}

impl TextRecognizer {
    pub fn load(config: OcrConfig) -> Result<Self, VisionError> {
        require_file("text recognition model", &config.model)?;
        let shared = session(&config.model, config.threads, false)?;
        let session = shared.lock()?;
        let input_name = match session.inputs() {
            [input] => input.name().to_string(),
            inputs => {
                return Err(VisionError::Model(format!(
                    "{} has {} inputs; a text recogniser has one",
                    config.model.display(),
                    inputs.len()
                )))
            }
        };
        let symbols: Vec<String> = {
            let metadata = session.metadata()?;
            let dict = metadata.custom("character").ok_or_else(|| {
                VisionError::Model(format!("{}: no 'character' dictionary in the metadata", config.model.display()))
            })?;
            let mut symbols: Vec<String> = dict.lines().map(|l| l.trim_end_matches('\r').to_string()).collect();
            while symbols.last().is_some_and(|s| s.is_empty()) {
                symbols.pop();
            }
            // PaddleOCR's `use_space_char`: the last class is a space, not in the dictionary.
            symbols.push(" ".into());
            symbols
        };
        drop(session);
        let allowed = expand_charset(&config.charset);
        if allowed.is_empty() {
            return Err(VisionError::Config("the charset is empty".into()));
        }
        let decoder = CtcDecoder::new(&symbols, &allowed, config.mask);
        let pattern = match config.pattern.as_deref().map(str::trim).filter(|p| !p.is_empty()) {
            Some(p) => Some(Pattern::parse(p).ok_or_else(|| VisionError::Config(format!("bad pattern '{p}'")))?),
            None => None,
        };
        let mut rec = TextRecognizer {
            session: shared,
            input_name,
            decoder,
            pattern,
            config,
            scratch: Vec::new(),
            input: Vec::new(),
            last_times: OcrTimes::default(),
        };
        // Dry run: a model whose output we cannot read fails at start-up.
        let blank = vec![128u8; 96 * 32 * 3];
        rec.recognize(&[Frame::rgb(&blank, 96, 32)?])?;
        Ok(rec)
    }

    /// Resized width of a `w` x `h` crop at height 48.
    fn resized_width(&self, w: usize, h: usize) -> usize {
        let rw = (REC_HEIGHT as f64 * w as f64 / h.max(1) as f64).ceil() as usize;
        rw.clamp(self.config.min_width.max(8), self.config.max_width.max(16))
    }

    /// Reads every crop, in one batch.
    pub fn recognize(&mut self, crops: &[Frame]) -> Result<Vec<TextRead>, VisionError> {
        if crops.is_empty() {
            return Ok(Vec::new());
        }
        let t0 = Instant::now();
        let widths: Vec<usize> = crops.iter().map(|c| self.resized_width(c.width, c.height)).collect();
        // PaddleOCR (and RapidOCR) never feed less than the 320 px width the model was trained
        // at: shorter crops keep their aspect and are padded to it.
        let batch_w = widths.iter().copied().max().unwrap_or(8).max(REC_MIN_BATCH_WIDTH).div_ceil(8) * 8;
        let n = crops.len();
        let plane = REC_HEIGHT * batch_w;
        self.input.clear();
        self.input.resize(n * 3 * plane, 0.0);
        for (i, (crop, &rw)) in crops.iter().zip(&widths).enumerate() {
            let lb = Letterbox::stretch(crop.width, crop.height, rw, REC_HEIGHT)?;
            self.scratch.resize(lb.input_len(), 0.0);
            lb.fill(crop, &mut self.scratch)?;
            let src_plane = rw * REC_HEIGHT;
            let dst = &mut self.input[i * 3 * plane..(i + 1) * 3 * plane];
            // PaddleOCR feeds BGR (OpenCV order): output channel c takes RGB channel 2 - c.
            for c in 0..3 {
                let src = &self.scratch[(2 - c) * src_plane..(3 - c) * src_plane];
                for y in 0..REC_HEIGHT {
                    let d = &mut dst[c * plane + y * batch_w..][..rw];
                    for (o, &v) in d.iter_mut().zip(&src[y * rw..(y + 1) * rw]) {
                        *o = v * 2.0 - 1.0;
                    }
                }
            }
        }
        let t1 = Instant::now();
        let shape = [n, 3, REC_HEIGHT, batch_w];
        let tensor = TensorRef::from_array_view((shape, &self.input[..]))?;
        let mut session = self.session.lock()?;
        let outputs = session.run(ort::inputs![self.input_name.as_str() => tensor])?;
        let t2 = Instant::now();
        let (out_shape, data) = outputs[0]
            .try_extract_tensor::<f32>()
            .map_err(|e| VisionError::Model(format!("recogniser output is not a float32 tensor: {e}")))?;
        let [bn, steps, classes] = match out_shape[..] {
            [a, b, c] if a as usize == n && b > 0 && c > 0 => [a as usize, b as usize, c as usize],
            _ => {
                return Err(VisionError::Model(format!("recogniser output {out_shape:?}; expected [{n}, T, classes]")))
            }
        };
        if classes != self.decoder.classes() {
            return Err(VisionError::Model(format!(
                "recogniser has {classes} classes but its dictionary names {} (with blank)",
                self.decoder.classes()
            )));
        }
        let mut reads = Vec::with_capacity(bn);
        for i in 0..bn {
            // Every timestep, the padding's too, as PaddleOCR decodes: the model may emit the
            // last character a step or two past the crop's own width (cutting there lost it
            // on 3 of the openalpr plates).
            let probs = &data[i * steps * classes..(i + 1) * steps * classes];
            let mut chars = self.decoder.decode(probs, classes);
            trim_absent_ends(&mut chars, self.config.edge_min_presence);
            let text = chars.iter().map(|c| c.ch).collect();
            let char_confidences = chars.iter().map(|c| c.confidence).collect();
            reads.push(finish(self.pattern.as_ref(), text, char_confidences));
        }
        self.last_times = OcrTimes { preprocess: t1 - t0, inference: t2 - t1, decode: t2.elapsed() };
        Ok(reads)
    }
}

fn finish(pattern: Option<&Pattern>, text: String, char_confidences: Vec<f32>) -> TextRead {
    {
        let confidence = if char_confidences.is_empty() {
            0.0
        } else {
            char_confidences.iter().sum::<f32>() / char_confidences.len() as f32
        };
        let matches_pattern = pattern.is_none_or(|p| p.matches(&text));
        TextRead { text, char_confidences, confidence, matches_pattern }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(chars: &[DecodedChar]) -> String {
        chars.iter().map(|c| c.ch).collect()
    }

    fn symbols() -> Vec<String> {
        // Classes: 0 blank, 1 'A', 2 'B', 3 '1', 4 'a', 5 '-', 6 ' '.
        ["A", "B", "1", "a", "-", " "].iter().map(|s| s.to_string()).collect()
    }

    /// One row per timestep: (class, probability); the rest spread evenly.
    fn matrix(steps: &[&[(usize, f32)]], classes: usize) -> Vec<f32> {
        let mut m = Vec::new();
        for step in steps {
            let used: f32 = step.iter().map(|(_, p)| p).sum();
            let rest = (1.0 - used) / (classes - step.len()) as f32;
            let mut row = vec![rest; classes];
            for &(c, p) in *step {
                row[c] = p;
            }
            m.extend(row);
        }
        m
    }

    #[test]
    fn charset_expands_ranges() {
        assert_eq!(expand_charset("A-C0-2X"), vec!['0', '1', '2', 'A', 'B', 'C', 'X']);
        assert_eq!(expand_charset(DEFAULT_CHARSET).len(), 36);
        assert_eq!(expand_charset("A-Z0-9").len(), 36);
    }

    #[test]
    fn greedy_ctc_collapses_repeats_and_blanks() {
        let d = CtcDecoder::new(&symbols(), &expand_charset("A-Z0-9"), MaskMode::BestAllowed);
        // A A _ A B B _ 1 -> "AAB1"
        let m = matrix(
            &[
                &[(1, 0.9)],
                &[(1, 0.8)],
                &[(0, 0.9)],
                &[(1, 0.7)],
                &[(2, 0.6)],
                &[(2, 0.95)],
                &[(0, 0.99)],
                &[(3, 0.85)],
            ],
            7,
        );
        let chars = d.decode(&m, 7);
        assert_eq!(text(&chars), "AAB1");
        assert_eq!(chars.iter().map(|c| c.confidence).collect::<Vec<_>>(), vec![0.9, 0.7, 0.95, 0.85]);
        // Presence: 1 - p(blank), the best over a character's steps (A: 0.9 and 0.8 spread the
        // rest over 6 classes: blank 0.1 / 6 at best).
        assert!((chars[0].presence - (1.0 - 0.1 / 6.0)).abs() < 1e-6, "{chars:?}");
    }

    #[test]
    fn charset_mask_picks_best_allowed_or_drops() {
        let allowed = expand_charset("A-Z0-9");
        // Step 2: '-' wins (0.5) over 'B' (0.3) and blank (0.1).
        let m = matrix(&[&[(1, 0.9)], &[(5, 0.5), (2, 0.3), (0, 0.1)], &[(0, 0.9)], &[(3, 0.9)]], 7);
        let best = CtcDecoder::new(&symbols(), &allowed, MaskMode::BestAllowed);
        assert_eq!(text(&best.decode(&m, 7)), "AB1");
        let drop = CtcDecoder::new(&symbols(), &allowed, MaskMode::ArgmaxDrop);
        assert_eq!(text(&drop.decode(&m, 7)), "A1");
        // Lower case folds to upper case when only the upper case is allowed; space never emits.
        let m = matrix(&[&[(4, 0.9)], &[(6, 0.9)], &[(1, 0.9)]], 7);
        assert_eq!(text(&best.decode(&m, 7)), "AA", "a, space (separator), A");
        // A charset without letters: letters are never emitted.
        let digits = CtcDecoder::new(&symbols(), &expand_charset("0-9"), MaskMode::BestAllowed);
        let m = matrix(&[&[(1, 0.6), (3, 0.3)], &[(0, 0.9)]], 7);
        assert_eq!(text(&digits.decode(&m, 7)), "1");
    }

    fn chars(text: &str, presence: &[f32]) -> Vec<DecodedChar> {
        text.chars().zip(presence).map(|(ch, &presence)| DecodedChar { ch, confidence: 0.6, presence }).collect()
    }

    #[test]
    fn ends_without_a_character_are_dropped() {
        let trim = |t: &str, presence: &[f32]| {
            let mut c = chars(t, presence);
            trim_absent_ends(&mut c, EDGE_MIN_PRESENCE);
            text(&c)
        };
        // Plate artwork read as a leading character, a bolt as a trailing one.
        assert_eq!(trim("BRK878AC", &[0.66, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]), "RK878AC");
        assert_eq!(trim("AVP24037", &[0.99, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.7]), "AVP2403");
        // Inside the text a character stays, however unsure.
        assert_eq!(trim("HB6LOZ", &[0.99, 0.99, 0.97, 1.0, 0.3, 1.0]), "HB6LOZ");
        // At most one character at each end; 0.8 or more stays.
        assert_eq!(trim("XYAB12ZW", &[0.6, 0.7, 1.0, 1.0, 1.0, 1.0, 0.7, 0.6]), "YAB12Z");
        assert_eq!(trim("AB1", &[0.8, 1.0, 0.8]), "AB1");
        assert_eq!(trim("", &[]), "");
        assert_eq!(trim("X", &[0.6]), "");
        // A threshold of 0 keeps everything.
        let mut c = chars("XAB1", &[0.6, 1.0, 1.0, 1.0]);
        trim_absent_ends(&mut c, 0.0);
        assert_eq!(text(&c), "XAB1");
    }

    #[test]
    fn patterns() {
        let p = Pattern::parse("AAA9999|AAA9A99").unwrap();
        assert!(p.matches("ABC1234") && p.matches("ABC1D23"));
        assert!(!p.matches("AB1234") && !p.matches("ABC12345") && !p.matches("1BC1234"));
        assert!(Pattern::parse("?-9").unwrap().matches("X-1"));
        assert!(Pattern::parse(" | ").is_none());
    }
}
