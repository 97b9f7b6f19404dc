//! Retry backoff: exponential with full jitter (a random delay between zero and the
//! exponential bound), so that retries of many failed jobs spread out instead of arriving
//! together.

use std::time::Duration;

use rand::Rng;

/// The delay before retry number `attempt` (1 for the first retry): uniformly random in
/// `[base, min(max, base * 2^(attempt-1))]`.
pub fn retry_delay(attempt: u32, base: Duration, max: Duration) -> Duration {
    let factor = 2u32.saturating_pow(attempt.saturating_sub(1));
    let bound = base.saturating_mul(factor).min(max).max(base);
    let span = bound.saturating_sub(base).as_millis() as u64;
    base + Duration::from_millis(rand::rng().random_range(0..=span))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_exponentially_within_the_cap() {
        let base = Duration::from_millis(100);
        let max = Duration::from_secs(5);
        for attempt in 1..=12 {
            let bound = (base * 2u32.pow(attempt - 1)).min(max);
            for _ in 0..50 {
                let d = retry_delay(attempt, base, max);
                assert!(
                    d >= base && d <= bound,
                    "attempt {attempt}: {d:?} outside {base:?}..={bound:?}"
                );
            }
        }
        assert_eq!(
            retry_delay(1, base, max),
            base,
            "the first retry waits the base delay"
        );
    }
}
