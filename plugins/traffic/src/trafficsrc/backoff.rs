//! When to try a lost source again: exponential backoff, capped.

use std::time::Duration;

/// The wait before reconnect attempt `attempt` (1 for the first): `initial`, doubled after
/// each failed attempt, never more than `max`.
pub fn retry_delay(initial: Duration, max: Duration, attempt: u32) -> Duration {
    let doublings = attempt.saturating_sub(1).min(31);
    initial.saturating_mul(1 << doublings).min(max.max(initial))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_from_initial_up_to_max() {
        let ms = |n| Duration::from_millis(n);
        let delays: Vec<u64> = (1..=7).map(|a| retry_delay(ms(500), ms(10_000), a).as_millis() as u64).collect();
        assert_eq!(delays, [500, 1000, 2000, 4000, 8000, 10_000, 10_000]);
    }

    #[test]
    fn large_attempts_do_not_overflow() {
        let d = retry_delay(Duration::from_secs(1), Duration::from_secs(60), u32::MAX);
        assert_eq!(d, Duration::from_secs(60));
    }

    #[test]
    fn a_max_below_initial_keeps_initial() {
        let d = retry_delay(Duration::from_secs(2), Duration::from_secs(1), 3);
        assert_eq!(d, Duration::from_secs(2));
    }
}
