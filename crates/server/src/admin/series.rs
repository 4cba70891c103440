//! The console's charts: the server's counters sampled every few seconds
//! into a ring that holds the last 15 minutes, and the rates between
//! samples. The ring has a fixed size whatever the traffic.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use super::metrics::Snapshot;

/// How often the counters are sampled.
pub const SAMPLE_EVERY: Duration = Duration::from_secs(5);
/// How far back the charts go.
pub const WINDOW: Duration = Duration::from_secs(15 * 60);
/// Samples kept: the window, and one more to take the first rate from.
pub const SAMPLES: usize = (WINDOW.as_secs() / SAMPLE_EVERY.as_secs()) as usize + 1;

/// The methods the request chart shows; the others count as `other`.
pub const METHODS: [&str; 5] = ["REGISTER", "INVITE", "MESSAGE", "OPTIONS", "other"];

/// Counters at one moment.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Sample {
    /// Seconds since the Unix epoch.
    pub at: f64,
    /// Requests received, by [`METHODS`].
    pub requests: [u64; METHODS.len()],
    /// Responses received and sent, by class (1xx to 6xx).
    pub responses: [u64; 6],
    /// Security events (failed authentication and the like).
    pub auth_failures: u64,
    /// Bindings held.
    pub registrations: usize,
    /// Calls in progress.
    pub active_calls: usize,
    /// Tasks queued on the pool.
    pub queue_depth: usize,
}

impl Sample {
    /// The counters of a snapshot taken at `at`.
    pub fn of(s: &Snapshot, at: SystemTime) -> Sample {
        let mut sample = Sample {
            at: at
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64()),
            auth_failures: s.auth_failures.iter().map(|(_, n)| n).sum(),
            registrations: s.bindings,
            active_calls: s.calls.active,
            queue_depth: s.queue_depth,
            ..Sample::default()
        };
        for c in &s.received {
            if c.status.is_none() {
                let i = METHODS
                    .iter()
                    .position(|m| *m == c.method)
                    .unwrap_or(METHODS.len() - 1);
                sample.requests[i] += c.count;
            }
        }
        for c in s.received.iter().chain(&s.sent) {
            if let Some(status) = c.status
                && (100..700).contains(&status)
            {
                sample.responses[usize::from(status / 100 - 1)] += c.count;
            }
        }
        sample
    }
}

/// One point of the charts: rates over the interval that ends at `at`,
/// gauges at `at`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Point {
    /// Seconds since the Unix epoch.
    pub at: f64,
    /// Requests received per second, by [`METHODS`].
    pub requests: Vec<f64>,
    /// Responses per second, by class (1xx to 6xx).
    pub responses: Vec<f64>,
    /// Security events per second.
    pub auth_failures: f64,
    /// Bindings held.
    pub registrations: usize,
    /// Calls in progress.
    pub active_calls: usize,
    /// Tasks queued.
    pub queue_depth: usize,
}

fn rate(now: u64, before: u64, seconds: f64) -> f64 {
    now.saturating_sub(before) as f64 / seconds
}

/// The last samples.
#[derive(Debug, Default)]
pub struct Series {
    samples: Mutex<VecDeque<Sample>>,
}

impl Series {
    /// Keeps a sample, forgetting the oldest beyond [`SAMPLES`].
    pub fn push(&self, sample: Sample) {
        let mut samples = self.samples.lock().unwrap_or_else(|e| e.into_inner());
        if samples.len() >= SAMPLES {
            samples.pop_front();
        }
        samples.push_back(sample);
    }

    /// The points between consecutive samples, oldest first.
    pub fn points(&self) -> Vec<Point> {
        let samples = self.samples.lock().unwrap_or_else(|e| e.into_inner());
        samples
            .iter()
            .zip(samples.iter().skip(1))
            .map(|(a, b)| {
                let secs = (b.at - a.at).max(0.001);
                Point {
                    at: b.at,
                    requests: (0..METHODS.len())
                        .map(|i| rate(b.requests[i], a.requests[i], secs))
                        .collect(),
                    responses: (0..6)
                        .map(|i| rate(b.responses[i], a.responses[i], secs))
                        .collect(),
                    auth_failures: rate(b.auth_failures, a.auth_failures, secs),
                    registrations: b.registrations,
                    active_calls: b.active_calls,
                    queue_depth: b.queue_depth,
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modules::calls::CallCounts;
    use crate::modules::metrics::MessageCount;

    fn snapshot(registers: u64, ok: u64) -> Snapshot {
        Snapshot {
            received: vec![
                MessageCount {
                    method: "REGISTER",
                    status: None,
                    count: registers,
                },
                MessageCount {
                    method: "PUBLISH",
                    status: None,
                    count: 1,
                },
                MessageCount {
                    method: "OPTIONS",
                    status: Some(200),
                    count: 2,
                },
            ],
            sent: vec![MessageCount {
                method: "REGISTER",
                status: Some(200),
                count: ok,
            }],
            transactions: 0,
            auth_failures: vec![("InvalidNonce", 3)],
            queue_depth: 4,
            pool_threads: 1,
            bindings: 5,
            requests_refused: 0,
            unidentified_sources: 0,
            calls: CallCounts {
                active: 6,
                ..CallCounts::default()
            },
            capture_bytes: 0,
            capture_messages: 0,
        }
    }

    #[test]
    fn rates_between_samples_and_a_bounded_ring() {
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
        let a = Sample::of(&snapshot(10, 4), t0);
        assert_eq!(a.requests, [10, 0, 0, 0, 1]);
        assert_eq!(a.responses, [0, 6, 0, 0, 0, 0]);
        let series = Series::default();
        series.push(a);
        assert!(series.points().is_empty());
        series.push(Sample::of(&snapshot(60, 14), t0 + SAMPLE_EVERY));
        let p = &series.points()[0];
        assert_eq!(p.requests, [10.0, 0.0, 0.0, 0.0, 0.0]);
        assert_eq!(p.responses[1], 2.0);
        assert_eq!(
            (
                p.registrations,
                p.active_calls,
                p.queue_depth,
                p.auth_failures
            ),
            (5, 6, 4, 0.0)
        );
        for i in 2..(SAMPLES as u32 + 10) {
            series.push(Sample::of(&snapshot(60, 14), t0 + SAMPLE_EVERY * i));
        }
        assert_eq!(series.points().len(), SAMPLES - 1);
    }
}
