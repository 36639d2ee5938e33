//! The sums every reader of [`Counts`] wants (the overlay's panel, trafficpublish's events and
//! frames, the app's summary and API): per line and direction, per class and direction, and a
//! zone's occupants per class. Here once, so the three cannot disagree.

use std::collections::BTreeMap;

use crate::frame::{Counts, LineTotals, ZoneState};

impl LineTotals {
    /// Crossings in `direction`, every class together.
    pub fn direction_total(&self, direction: &str) -> u64 {
        self.totals.iter().filter(|t| t.direction == direction).map(|t| t.count).sum()
    }

    /// Crossings in both directions, every class together.
    pub fn total(&self) -> u64 {
        self.totals.iter().map(|t| t.count).sum()
    }

    /// `{direction: n}`; both of the line's directions appear, 0 when nothing crossed that way.
    pub fn by_direction(&self) -> BTreeMap<String, u64> {
        let mut totals = self.both_directions();
        for t in &self.totals {
            *totals.entry(t.direction.clone()).or_default() += t.count;
        }
        totals
    }

    /// `{class: {direction: n}}` for every class that crossed; both of the line's directions
    /// appear under each class, 0 when it did not cross that way.
    pub fn by_class(&self) -> BTreeMap<String, BTreeMap<String, u64>> {
        let mut per_class: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
        for t in &self.totals {
            let directions = per_class.entry(t.class.clone()).or_insert_with(|| self.both_directions());
            *directions.entry(t.direction.clone()).or_default() += t.count;
        }
        per_class
    }

    fn both_directions(&self) -> BTreeMap<String, u64> {
        BTreeMap::from([(self.in_name.clone(), 0), (self.out_name.clone(), 0)])
    }
}

impl Counts {
    /// Crossings of every line, in both directions.
    pub fn crossings_total(&self) -> u64 {
        self.lines.iter().map(LineTotals::total).sum()
    }
}

impl ZoneState {
    /// `{class: n}`: who is inside now.
    pub fn occupancy_by_class(&self) -> BTreeMap<String, u64> {
        let mut per_class = BTreeMap::new();
        for o in &self.occupants {
            *per_class.entry(o.class.clone()).or_default() += 1;
        }
        per_class
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::{ClassTotal, ZoneOccupant};

    fn total(class: &str, direction: &str, count: u64) -> ClassTotal {
        ClassTotal { class: class.into(), direction: direction.into(), count }
    }

    fn road() -> LineTotals {
        LineTotals {
            name: "road".into(),
            start: (0.0, 10.0),
            end: (100.0, 10.0),
            in_name: "down".into(),
            out_name: "up".into(),
            totals: vec![total("bus", "up", 1), total("car", "down", 5), total("car", "up", 2)],
        }
    }

    fn map<const N: usize>(entries: [(&str, u64); N]) -> BTreeMap<String, u64> {
        entries.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
    }

    #[test]
    fn line_sums_per_direction_and_class_name_both_directions() {
        let l = road();
        assert_eq!((l.direction_total("down"), l.direction_total("up"), l.total()), (5, 3, 8));
        assert_eq!(l.direction_total("sideways"), 0);
        assert_eq!(l.by_direction(), map([("down", 5), ("up", 3)]));
        let by_class = l.by_class();
        assert_eq!(by_class["bus"], map([("down", 0), ("up", 1)]), "the direction nothing took is 0");
        assert_eq!(by_class["car"], map([("down", 5), ("up", 2)]));
        let empty = LineTotals { totals: vec![], ..road() };
        assert_eq!(empty.by_direction(), map([("down", 0), ("up", 0)]));
        assert!(empty.by_class().is_empty());
        let counts = Counts { lines: vec![road(), empty], ..Counts::default() };
        assert_eq!(counts.crossings_total(), 8);
    }

    #[test]
    fn zone_occupancy_counts_occupants_per_class() {
        let occupant = |track_id, class: &str| ZoneOccupant { track_id, class: class.into(), dwell: 1.0 };
        let zone = ZoneState {
            name: "lot".into(),
            points: vec![],
            occupants: vec![occupant(1, "car"), occupant(2, "truck"), occupant(3, "car")],
            entries: vec![],
        };
        assert_eq!(zone.occupancy_by_class(), map([("car", 2), ("truck", 1)]));
        assert!(ZoneState { occupants: vec![], ..zone }.occupancy_by_class().is_empty());
    }
}
