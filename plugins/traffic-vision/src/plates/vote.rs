//! Per-track plate voting: many noisy reads of one plate become one stable text.
//!
//! Reads are grouped by length first (a read that lost or gained a character cannot be aligned
//! position by position); the length with the most confidence-weighted support wins, then each
//! position takes the character with the most summed confidence among reads of that length.
//!
//! `track_confidence` is, averaged over the positions, the winning character's weight divided by
//! the weight of every read (of any length) plus one read's worth of prior doubt:
//! `w_win / (w_all + 1)`. One read of confidence 0.9 gives 0.47; ten agreeing reads give 0.9;
//! disagreement pulls it down. So a threshold on it (`platedetect done-confidence`) means
//! "read often enough, consistently enough".
//!
//! Stable: the text changes only when another length or character gets strictly more weight.

use std::collections::BTreeMap;

/// Summed weight per character at one position.
type Position = BTreeMap<char, f32>;

#[derive(Clone, Debug, Default)]
pub struct PlateVote {
    /// Per text length (in characters): total weight, and per position the character weights.
    by_length: BTreeMap<usize, (f32, Vec<Position>)>,
    total: f32,
    reads: u32,
    text: String,
    confidence: f32,
}

/// Prior doubt, in reads of weight 1.
const PRIOR: f32 = 1.0;

impl PlateVote {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a read: its characters with their confidences. Empty reads are ignored.
    pub fn add(&mut self, text: &str, char_confidences: &[f32]) {
        let chars: Vec<char> = text.chars().collect();
        if chars.is_empty() || chars.len() != char_confidences.len() {
            return;
        }
        let weight = char_confidences.iter().sum::<f32>() / chars.len() as f32;
        let entry = self.by_length.entry(chars.len()).or_insert_with(|| (0.0, vec![Position::new(); chars.len()]));
        entry.0 += weight;
        for ((pos, &c), &p) in entry.1.iter_mut().zip(&chars).zip(char_confidences) {
            *pos.entry(c).or_insert(0.0) += p.max(0.0);
        }
        self.total += weight;
        self.reads += 1;
        self.update();
    }

    fn update(&mut self) {
        let current: Vec<char> = self.text.chars().collect();
        // Best length; on a tie the current text's length stays.
        let mut best: Option<(usize, f32)> = None;
        for (&len, &(w, _)) in &self.by_length {
            let better = match best {
                None => true,
                Some((bl, bw)) => w > bw || (w == bw && len == current.len() && bl != current.len()),
            };
            if better {
                best = Some((len, w));
            }
        }
        let Some((len, _)) = best else {
            return;
        };
        let positions = &self.by_length[&len].1;
        let mut text = String::with_capacity(len);
        let mut conf_sum = 0.0;
        for (i, pos) in positions.iter().enumerate() {
            let keep = if current.len() == len { current.get(i).copied() } else { None };
            let mut win: Option<(char, f32)> = keep.and_then(|c| pos.get(&c).map(|&w| (c, w)));
            for (&c, &w) in pos {
                if win.is_none_or(|(_, ww)| w > ww) {
                    win = Some((c, w));
                }
            }
            let (c, w) = win.unwrap_or((' ', 0.0));
            text.push(c);
            conf_sum += w;
        }
        self.text = text;
        self.confidence = if len == 0 { 0.0 } else { conf_sum / len as f32 / (self.total + PRIOR) };
    }

    /// The voted text (empty before the first read).
    pub fn text(&self) -> &str {
        &self.text
    }

    pub fn confidence(&self) -> f32 {
        self.confidence
    }

    pub fn reads(&self) -> u32 {
        self.reads
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn add(v: &mut PlateVote, text: &str, conf: f32) {
        v.add(text, &vec![conf; text.chars().count()]);
    }

    #[test]
    fn characters_vote_by_confidence() {
        let mut v = PlateVote::new();
        assert_eq!((v.text(), v.confidence()), ("", 0.0));
        add(&mut v, "ABC123", 0.9);
        assert_eq!(v.text(), "ABC123");
        let one = v.confidence();
        assert!((one - 0.9 / 1.9).abs() < 1e-6, "{one}");
        // Two reads each wrong in a different place: every position still has a majority.
        add(&mut v, "A8C123", 0.8);
        add(&mut v, "ABC12J", 0.8);
        assert_eq!(v.text(), "ABC123");
        assert!(v.confidence() > one);
        assert_eq!(v.reads(), 3);
    }

    #[test]
    fn length_is_voted_first() {
        let mut v = PlateVote::new();
        add(&mut v, "ABC1234", 0.6);
        add(&mut v, "ABC123", 0.9);
        assert_eq!(v.text(), "ABC123", "one confident 6-character read beats one weak 7");
        add(&mut v, "ABC1234", 0.7);
        assert_eq!(v.text(), "ABC1234", "two 7-character reads outweigh it");
        // The losing length's weight counts against the confidence.
        let mut clean = PlateVote::new();
        add(&mut clean, "ABC1234", 0.6);
        add(&mut clean, "ABC1234", 0.7);
        assert!(clean.confidence() > v.confidence());
    }

    #[test]
    fn stable_on_ties_and_grows_with_agreement() {
        let mut v = PlateVote::new();
        add(&mut v, "AB1", 0.5);
        add(&mut v, "AB7", 0.5);
        assert_eq!(v.text(), "AB1", "a tie keeps the current text");
        add(&mut v, "XY1", 0.5);
        add(&mut v, "AB7", 0.5);
        add(&mut v, "AB7", 0.2);
        assert_eq!(v.text(), "AB7");
        let mut c = PlateVote::new();
        let mut last = 0.0;
        for _ in 0..10 {
            add(&mut c, "ABC123", 0.95);
            assert!(c.confidence() > last);
            last = c.confidence();
        }
        assert!(last > 0.85 && last < 1.0, "{last}");
        // Empty or malformed reads change nothing.
        c.add("", &[]);
        c.add("AB", &[0.9]);
        assert_eq!(c.reads(), 10);
    }
}
