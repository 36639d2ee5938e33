//! The read-only `stats` property. The elements that run a model keep their running totals in a
//! mutex of their own, apart from the streaming state, so that reading the property never waits
//! for an inference; [`structure`] builds what they report.

use std::time::Duration;

use gst::glib;
use gst::prelude::*;

/// The `stats` property's spec; `blurb` says what the structure holds.
pub fn property(blurb: &str) -> glib::ParamSpec {
    glib::ParamSpecBoxed::builder::<gst::Structure>("stats").nick("Statistics").blurb(blurb).read_only().build()
}

/// A `stats` structure named `name`: the `counters`, then each `(field, total time, count)` of
/// `means` as the mean milliseconds per count (0 while the count is 0).
pub fn structure(name: &str, counters: &[(&str, u64)], means: &[(&str, Duration, u64)]) -> gst::Structure {
    let builder = counters.iter().fold(gst::Structure::builder(name), |b, &(field, value)| b.field(field, value));
    means
        .iter()
        .fold(builder, |b, &(field, total, count)| {
            let ms = if count == 0 { 0.0 } else { total.as_secs_f64() * 1e3 / count as f64 };
            b.field(field, ms)
        })
        .build()
}

/// The fields of a [`structure`] as `name=value` words, milliseconds to two decimals: the summary
/// line an element logs when it stops (scripts grep it).
pub fn summary(stats: &gst::Structure) -> String {
    stats
        .iter()
        .map(|(field, value)| match (value.get::<u64>(), value.get::<f64>()) {
            (Ok(count), _) => format!("{field}={count}"),
            (_, Ok(ms)) => format!("{field}={ms:.2}"),
            _ => format!("{field}={value:?}"),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn means_follow_the_counters_and_summary_keeps_their_order() {
        gst::init().unwrap();
        let s = structure(
            "demo-stats",
            &[("frames", 10), ("plates", 4)],
            &[("ms-per-plate", Duration::from_millis(10), 4), ("ms-per-batch", Duration::from_millis(7), 0)],
        );
        assert_eq!(s.name(), "demo-stats");
        assert_eq!(s.get::<u64>("frames").unwrap(), 10);
        assert_eq!(s.get::<f64>("ms-per-plate").unwrap(), 2.5);
        assert_eq!(s.get::<f64>("ms-per-batch").unwrap(), 0.0, "no count: no mean");
        assert_eq!(summary(&s), "frames=10 plates=4 ms-per-plate=2.50 ms-per-batch=0.00");
    }

    #[test]
    fn the_property_is_a_read_only_structure() {
        let spec = property("frames");
        assert_eq!((spec.name(), spec.value_type()), ("stats", gst::Structure::static_type()));
        assert!(
            spec.flags().contains(glib::ParamFlags::READABLE) && !spec.flags().contains(glib::ParamFlags::WRITABLE)
        );
    }
}
