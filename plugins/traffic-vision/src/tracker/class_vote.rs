//! A track's class as the confidence-weighted majority of the detections it was matched to.

/// Summed detection scores per class, in order of first appearance.
#[derive(Clone, Debug, Default)]
pub(crate) struct ClassVote {
    // Almost always one or two classes: a linear scan beats a map.
    weights: Vec<(u32, f32)>,
}

impl ClassVote {
    pub fn new(class_id: u32, score: f32) -> Self {
        let mut vote = ClassVote { weights: Vec::with_capacity(2) };
        vote.add(class_id, score);
        vote
    }

    pub fn add(&mut self, class_id: u32, score: f32) {
        // Every detection counts a little, even with a zero or odd score.
        let weight = if score.is_finite() { score.max(1e-3) } else { 1e-3 };
        match self.weights.iter_mut().find(|(c, _)| *c == class_id) {
            Some((_, w)) => *w += weight,
            None => self.weights.push((class_id, weight)),
        }
    }

    /// The class with the largest summed score; on a tie, the one seen first.
    pub fn majority(&self) -> u32 {
        let mut best: Option<(u32, f32)> = None;
        for &(class_id, weight) in &self.weights {
            if best.is_none_or(|(_, w)| weight > w) {
                best = Some((class_id, weight));
            }
        }
        best.map_or(0, |(c, _)| c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weighted_majority_with_first_seen_on_ties() {
        let mut vote = ClassVote::new(7, 0.5);
        assert_eq!(vote.majority(), 7);
        vote.add(2, 0.5);
        assert_eq!(vote.majority(), 7, "tie keeps the first class");
        vote.add(2, 0.3);
        assert_eq!(vote.majority(), 2);
        vote.add(7, 0.4);
        vote.add(7, f32::NAN);
        assert_eq!(vote.majority(), 7);
    }
}
