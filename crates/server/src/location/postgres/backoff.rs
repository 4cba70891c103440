//! Growing pauses between attempts to reach a database that is down, so
//! that an outage costs neither a storm of connection attempts nor a
//! wait of more than a few seconds once the database is back.

use std::time::{Duration, Instant};

/// The pause after the first failure.
const FIRST: Duration = Duration::from_millis(100);

/// The longest pause.
const LONGEST: Duration = Duration::from_secs(2);

/// Failures in a row and the time before which no new attempt is made.
#[derive(Debug, Default)]
pub(crate) struct Backoff {
    failures: u32,
    until: Option<Instant>,
}

impl Backoff {
    /// Another failure: the next attempt waits twice as long as the last
    /// pause (up to [`LONGEST`]).
    pub(crate) fn failed(&mut self) {
        self.failures = self.failures.saturating_add(1);
        self.until = Some(Instant::now() + self.delay());
    }

    /// An attempt succeeded: the next failure starts again from [`FIRST`].
    pub(crate) fn succeeded(&mut self) {
        self.failures = 0;
        self.until = None;
    }

    /// The pause the last failure set.
    pub(crate) fn delay(&self) -> Duration {
        let doublings = self.failures.saturating_sub(1).min(16);
        (FIRST * 2u32.pow(doublings)).min(LONGEST)
    }

    /// How long until the next attempt, if it is not yet time.
    pub(crate) fn remaining(&self) -> Option<Duration> {
        self.until
            .and_then(|until| until.checked_duration_since(Instant::now()))
            .filter(|left| !left.is_zero())
    }

    /// When the next attempt may be made (now, if no pause is running).
    pub(crate) fn next_attempt(&self) -> Instant {
        self.until.unwrap_or_else(Instant::now)
    }

    /// Sleeps until the next attempt may be made.
    pub(crate) async fn wait(&self) {
        if let Some(until) = self.until {
            tokio::time::sleep_until(until.into()).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_double_up_to_the_longest_and_reset_on_success() {
        let mut b = Backoff::default();
        assert!(b.remaining().is_none());
        let delays: Vec<_> = (0..8)
            .map(|_| {
                b.failed();
                b.delay()
            })
            .collect();
        assert_eq!(delays[0], FIRST);
        assert_eq!(delays[1], FIRST * 2);
        assert!(delays.windows(2).all(|w| w[0] <= w[1]));
        assert_eq!(*delays.last().unwrap(), LONGEST);
        assert!(b.remaining().is_some());
        b.succeeded();
        assert!(b.remaining().is_none());
        b.failed();
        assert_eq!(b.delay(), FIRST);
    }
}
