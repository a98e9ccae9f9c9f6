//! The delay policy between reconnection attempts, as a pure iterator of durations.

use std::time::Duration;

/// How long to wait before each reconnection attempt: exponential growth from `initial` by
/// `multiplier`, capped at `max`, plus a random `jitter` of up to that much, for at most
/// `max_attempts` attempts.
///
/// A policy is a value; [`delays`](Self::delays) starts a fresh sequence, which is how a
/// successful connection resets the backoff.
///
/// ```
/// use std::time::Duration;
/// use wsio_proto::Backoff;
///
/// let policy = Backoff::default().max_attempts(Some(6));
/// let delays: Vec<u64> = policy.delays().map(|d| d.as_secs()).collect();
/// assert_eq!(delays, [1, 2, 4, 8, 16, 30]);
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Backoff {
    /// The delay before the first attempt. Default 1 s.
    pub initial: Duration,
    /// What each delay is multiplied by for the next one. Default 2. Values below 1 count as 1.
    pub multiplier: f64,
    /// The longest delay, before jitter. Default 30 s.
    pub max: Duration,
    /// Up to this much is added to each delay, at random, so that many clients cut off at
    /// once do not all come back at once. Default 0.
    pub jitter: Duration,
    /// How many attempts to make; `None` (the default) for no limit.
    pub max_attempts: Option<u32>,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            initial: Duration::from_secs(1),
            multiplier: 2.0,
            max: Duration::from_secs(30),
            jitter: Duration::ZERO,
            max_attempts: None,
        }
    }
}

impl Backoff {
    /// Sets [`initial`](Backoff#structfield.initial).
    pub fn initial(mut self, delay: Duration) -> Self {
        self.initial = delay;
        self
    }

    /// Sets [`multiplier`](Backoff#structfield.multiplier).
    pub fn multiplier(mut self, multiplier: f64) -> Self {
        self.multiplier = multiplier;
        self
    }

    /// Sets [`max`](Backoff#structfield.max).
    pub fn max(mut self, delay: Duration) -> Self {
        self.max = delay;
        self
    }

    /// Sets [`jitter`](Backoff#structfield.jitter).
    pub fn jitter(mut self, jitter: Duration) -> Self {
        self.jitter = jitter;
        self
    }

    /// Sets [`max_attempts`](Backoff#structfield.max_attempts).
    pub fn max_attempts(mut self, attempts: Option<u32>) -> Self {
        self.max_attempts = attempts;
        self
    }

    /// A fresh sequence of delays, with jitter drawn from the operating system's random source.
    pub fn delays(&self) -> Delays<fn() -> f64> {
        self.delays_with(random_fraction)
    }

    /// A fresh sequence of delays whose jitter comes from `random`, which returns a number in
    /// `[0, 1)` each time it is called: for tests and simulations that need to know it.
    pub fn delays_with<R: FnMut() -> f64>(&self, random: R) -> Delays<R> {
        Delays {
            policy: self.clone(),
            attempt: 0,
            random,
        }
    }

    /// The delay before attempt `attempt` (counting from 1), without jitter.
    pub fn base_delay(&self, attempt: u32) -> Duration {
        let growth = self
            .multiplier
            .max(1.0)
            .powi(attempt.saturating_sub(1).min(1024) as i32);
        let delay = self.initial.as_secs_f64() * growth;
        // A non-finite or huge product is simply past the cap.
        if delay.is_finite() && delay < self.max.as_secs_f64() {
            Duration::from_secs_f64(delay)
        } else {
            self.max
        }
    }
}

/// The delays of one reconnection sequence; made by [`Backoff::delays`].
#[derive(Debug, Clone)]
pub struct Delays<R> {
    policy: Backoff,
    attempt: u32,
    random: R,
}

impl<R> Delays<R> {
    /// How many delays this sequence has given: the number of the attempt the last delay
    /// preceded.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }
}

impl<R: FnMut() -> f64> Iterator for Delays<R> {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        if self
            .policy
            .max_attempts
            .is_some_and(|max| self.attempt >= max)
        {
            return None;
        }
        self.attempt = self.attempt.saturating_add(1);
        let base = self.policy.base_delay(self.attempt);
        let fraction = (self.random)().clamp(0.0, 1.0);
        Some(base + self.policy.jitter.mul_f64(fraction))
    }
}

/// A number in `[0, 1)` from the operating system's random source.
fn random_fraction() -> f64 {
    let mut bytes = [0u8; 8];
    crate::random::fill(&mut bytes);
    // 53 random bits: every value a f64 in [0, 1) can hold at that spacing.
    (u64::from_le_bytes(bytes) >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(delays: impl Iterator<Item = Duration>) -> Vec<f64> {
        delays.map(|d| d.as_secs_f64()).collect()
    }

    #[test]
    fn grows_by_the_multiplier_up_to_the_cap() {
        let policy = Backoff::default();
        assert_eq!(
            secs(policy.delays().take(8)),
            [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]
        );
        let policy = Backoff::default()
            .initial(Duration::from_millis(100))
            .multiplier(3.0)
            .max(Duration::from_secs(1));
        let got = secs(policy.delays().take(4));
        let want = [0.1, 0.3, 0.9, 1.0];
        for (got, want) in got.iter().zip(want) {
            assert!((got - want).abs() < 1e-9, "{got} != {want}");
        }
    }

    #[test]
    fn stops_after_the_maximum_number_of_attempts() {
        let policy = Backoff::default().max_attempts(Some(3));
        let mut delays = policy.delays();
        assert_eq!(delays.by_ref().count(), 3);
        assert_eq!(delays.attempt(), 3);
        assert_eq!(delays.next(), None);
        assert_eq!(
            Backoff::default().max_attempts(Some(0)).delays().next(),
            None
        );
        // Unlimited means unlimited.
        assert_eq!(Backoff::default().delays().take(10_000).count(), 10_000);
    }

    #[test]
    fn jitter_adds_up_to_its_amount() {
        let policy = Backoff::default().jitter(Duration::from_secs(2));
        let mut draws = [0.0, 0.5, 0.999].into_iter().cycle();
        let got = secs(policy.delays_with(|| draws.next().unwrap()).take(3));
        assert_eq!(got, [1.0, 3.0, 4.0 + 1.998]);
        // Drawn from the OS, every delay stays within [base, base + jitter).
        for (attempt, delay) in policy.delays().take(200).enumerate() {
            let base = policy.base_delay(attempt as u32 + 1);
            assert!(
                delay >= base && delay < base + Duration::from_secs(2),
                "{delay:?}"
            );
        }
    }

    #[test]
    fn odd_policies_stay_sane() {
        // A multiplier below one does not shrink delays; a huge one saturates at the cap.
        let flat = Backoff::default().multiplier(0.5);
        assert_eq!(secs(flat.delays().take(3)), [1.0, 1.0, 1.0]);
        let wild = Backoff::default().multiplier(1e300);
        assert_eq!(secs(wild.delays().take(3)), [1.0, 30.0, 30.0]);
        assert_eq!(wild.base_delay(u32::MAX), Duration::from_secs(30));
        // A zero initial delay retries at once, forever.
        let eager = Backoff::default().initial(Duration::ZERO);
        assert!(eager.delays().take(5).all(|d| d.is_zero()));
    }

    #[test]
    fn each_sequence_starts_afresh() {
        let policy = Backoff::default();
        let mut first = policy.delays();
        first.nth(4);
        assert_eq!(policy.delays().next(), Some(Duration::from_secs(1)));
    }
}
