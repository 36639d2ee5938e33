//! Which vehicles are worth a plate search, and when to search a tracked one again.

use crate::BBox;

/// Smallest character height (pixels) the recognisers read. Measured with PP-OCRv6 rec small
/// on the openalpr crops it reads at full size, shrunk: one-line EU plates read 91 % at a 12 px
/// plate (characters ~9 px), US plates 82 % at 20 px (characters ~10 px), and both fall apart
/// below ~7 px characters.
pub const MIN_TEXT_HEIGHT_PX: f64 = 8.0;
/// Plate character height over the vehicle box's shorter side: characters are 63-80 mm tall
/// (Mercosur 63, US 70, EU 79), and a car's shorter side (its height, or its width head-on) is
/// about 1.5 m.
pub const TEXT_PER_VEHICLE_SIDE: f64 = 0.070 / 1.5;

/// Shorter side (pixels) of the smallest vehicle box whose plate characters can reach
/// [`MIN_TEXT_HEIGHT_PX`]: 172 px. Larger vehicles (trucks, buses) carry plates no taller, so
/// the bound only ever lets too much through, never too little.
pub fn min_vehicle_side() -> u32 {
    (MIN_TEXT_HEIGHT_PX / TEXT_PER_VEHICLE_SIDE).ceil() as u32
}

/// Longest side (pixels, a multiple of the crop detector's stride) a vehicle is searched at by
/// default: the smallest that holds twice [`min_vehicle_side`], so that a car up to 2:1 is never
/// shrunk below the smallest one searched at full size, whose plate that bound was chosen for.
/// Nearer cars have larger plates; trucks and buses, whose plates are no larger, are shrunk
/// more. Only the search is shrunk: plateocr reads the plate from the frame at full size.
pub fn max_vehicle_input() -> u32 {
    let stride = crate::detect::crops::STRIDE as u32;
    (2 * min_vehicle_side()).div_ceil(stride) * stride
}

/// The vehicle's view changed enough since the last search to be worth another: it moved off
/// most of its old box, or came nearer (its box grew by a quarter).
pub fn view_changed(last: &BBox, now: &BBox) -> bool {
    now.iou(last) < 0.5 || now.area() > 1.25 * last.area()
}

/// Search timing of one tracked vehicle. Each search that leaves the track's read no better
/// doubles the wait before the next (from `interval` up to `max_interval` frames), so parked
/// cars whose plate cannot be read stop costing; a changed view ([`view_changed`]) or a read
/// that improved (`progress`) starts again at `interval`.
#[derive(Clone, Debug, Default)]
pub struct SearchSchedule {
    /// Frame and box of the last search.
    last: Option<(u64, BBox)>,
    /// Frames to wait after the last search.
    wait: u64,
}

impl SearchSchedule {
    /// Whether to search on frame `index` with the vehicle at `bbox`; a `true` counts as a search.
    /// `progress`: the track's read improved since the last search.
    pub fn due(&mut self, index: u64, bbox: BBox, progress: bool, interval: u64, max_interval: u64) -> bool {
        let ready = match self.last {
            None => true,
            Some((last_index, last_box)) => {
                // A changed view or a better read starts over, as at first sight.
                let fresh = progress || view_changed(&last_box, &bbox);
                let wait = if fresh { interval.max(1) } else { self.wait };
                index.saturating_sub(last_index) >= wait
            }
        };
        if ready {
            self.searched(index, bbox, progress, interval, max_interval);
        }
        ready
    }

    /// Records a search on frame `index`, due or not.
    pub fn searched(&mut self, index: u64, bbox: BBox, progress: bool, interval: u64, max_interval: u64) {
        let interval = interval.max(1);
        self.wait = match self.last {
            Some((_, last_box)) if !progress && !view_changed(&last_box, &bbox) => {
                (self.wait * 2).min(max_interval.max(interval))
            }
            _ => interval,
        };
        self.last = Some((index, bbox));
    }

    /// Frames since the last search (`u64::MAX` before the first).
    pub fn since_last(&self, index: u64) -> u64 {
        self.last.map_or(u64::MAX, |(i, _)| index.saturating_sub(i))
    }

    /// Frames it waits after the last search, as things stand.
    pub fn wait(&self) -> u64 {
        self.wait
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn searches(schedule: &mut SearchSchedule, frames: std::ops::Range<u64>, at: impl Fn(u64) -> BBox) -> Vec<u64> {
        frames.filter(|&i| schedule.due(i, at(i), false, 5, 80)).collect()
    }

    #[test]
    fn min_vehicle_side_follows_the_text_height() {
        assert_eq!(min_vehicle_side(), 172);
        assert_eq!(max_vehicle_input(), 352);
    }

    #[test]
    fn parked_vehicle_backs_off_exponentially_up_to_the_cap() {
        let parked = |_| BBox::new(100.0, 100.0, 300.0, 250.0);
        let mut s = SearchSchedule::default();
        // Waits 5, 10, 20, 40, then 80 for ever.
        assert_eq!(searches(&mut s, 0..400, parked), vec![0, 5, 15, 35, 75, 155, 235, 315, 395]);
        assert_eq!(s.wait(), 80);
    }

    #[test]
    fn moving_or_approaching_vehicle_resets_the_backoff() {
        let mut s = SearchSchedule::default();
        let parked = BBox::new(100.0, 100.0, 300.0, 250.0);
        assert_eq!(searches(&mut s, 0..40, |_| parked), vec![0, 5, 15, 35]);
        assert_eq!(s.wait(), 40);
        // It drives off: 150 px to the right of where it was last searched.
        let moved = BBox::new(250.0, 100.0, 450.0, 250.0);
        assert!(s.due(40, moved, false, 5, 80), "view changed, base interval already over");
        assert_eq!(s.wait(), 5, "restarted from the base interval");
        // It comes nearer, in place: 30 % more area.
        let mut s = SearchSchedule::default();
        let near = BBox::new(100.0, 100.0, 330.0, 270.0);
        assert_eq!(searches(&mut s, 0..40, |i| if i < 36 { parked } else { near }), vec![0, 5, 15, 35]);
        let mut s = SearchSchedule::default();
        assert_eq!(searches(&mut s, 0..30, |i| if i < 20 { parked } else { near }), vec![0, 5, 15, 20, 25]);
        // Jitter of a few pixels is no change.
        assert!(!view_changed(&parked, &BBox::new(103.0, 98.0, 304.0, 251.0)));
    }

    #[test]
    fn a_search_out_of_turn_advances_the_schedule() {
        let mut s = SearchSchedule::default();
        let b = BBox::new(0.0, 0.0, 200.0, 200.0);
        assert_eq!(s.since_last(0), u64::MAX);
        assert!(s.due(0, b, false, 5, 80));
        // Searched out of turn on frame 2: the next turn is 10 frames after it.
        s.searched(2, b, false, 5, 80);
        assert_eq!((s.since_last(4), s.wait()), (2, 10));
        let v: Vec<u64> = (3..30).filter(|&i| s.due(i, b, false, 5, 80)).collect();
        assert_eq!(v, vec![12]);
    }

    #[test]
    fn a_read_that_improves_keeps_the_base_interval() {
        let mut s = SearchSchedule::default();
        let b = BBox::new(0.0, 0.0, 200.0, 200.0);
        // Reads improve after the searches of frames 0 and 5, then no more.
        let v: Vec<u64> = (0..60).filter(|&i| s.due(i, b, (1..=10).contains(&i), 5, 80)).collect();
        assert_eq!(v, vec![0, 5, 10, 15, 25, 45]);
    }

    #[test]
    fn no_backoff_when_the_cap_is_the_interval() {
        let mut s = SearchSchedule::default();
        let b = BBox::new(0.0, 0.0, 200.0, 200.0);
        let v: Vec<u64> = (0..20).filter(|&i| s.due(i, b, false, 5, 5)).collect();
        assert_eq!(v, vec![0, 5, 10, 15]);
    }
}
