//! Timers of the sender: the retransmission timeout estimator (RFC 6298) and the pacer.
//! Both are pure: they are told the time and never read a clock.

use std::time::{Duration, Instant};

/// Round-trip estimation and the retransmission timeout, in the manner of RFC 6298:
/// `RTO = SRTT + max(G, 4 * RTTVAR)`, doubled on every timeout until a new sample, and kept
/// between a floor and a ceiling; the ceiling never cuts the base below the measured path. Samples must be unambiguous (the ACK echoes which
/// transmission it answers), so Karn's rule is met by construction.
#[derive(Debug, Clone)]
pub struct RttEstimator {
    srtt: Option<Duration>,
    rttvar: Duration,
    min_rto: Duration,
    max_rto: Duration,
    backoff: u32,
}

/// Clock granularity term of RFC 6298: a floor on the variance term.
const GRANULARITY: Duration = Duration::from_millis(1);

impl RttEstimator {
    /// An estimator whose RTO stays within `min_rto..=max_rto`. Before the first sample the
    /// RTO is `max_rto`: nothing is known about the path yet.
    pub fn new(min_rto: Duration, max_rto: Duration) -> Self {
        RttEstimator {
            srtt: None,
            rttvar: Duration::ZERO,
            min_rto: min_rto.min(max_rto),
            max_rto,
            backoff: 0,
        }
    }

    /// Takes in one round-trip sample.
    pub fn on_sample(&mut self, r: Duration) {
        match self.srtt {
            None => {
                self.srtt = Some(r);
                self.rttvar = r / 2;
            }
            Some(s) => {
                let diff = s.abs_diff(r);
                self.rttvar = (self.rttvar * 3 + diff) / 4;
                self.srtt = Some((s * 7 + r) / 8);
            }
        }
        self.backoff = 0;
    }

    /// Notes an answer that proves the peer alive but carries no round-trip sample (a NACK):
    /// the backoff ends, as it would on a sample.
    pub fn on_answer(&mut self) {
        self.backoff = 0;
    }

    /// Notes a timeout: the RTO doubles (up to the ceiling) until the next sample.
    pub fn on_timeout(&mut self) {
        self.backoff = (self.backoff + 1).min(16);
    }

    /// The smoothed round trip, once measured.
    pub fn srtt(&self) -> Option<Duration> {
        self.srtt
    }

    /// The current retransmission timeout.
    pub fn rto(&self) -> Duration {
        let base = match self.srtt {
            None => self.max_rto,
            Some(s) => s + (self.rttvar * 4).max(GRANULARITY),
        };
        // Floor first, then double: each timeout really lengthens the wait. The ceiling bounds
        // the backoff, never the measured path: a round trip longer than the ceiling must not
        // draw a probe before its answer can arrive.
        let ceiling = self.max_rto.max(base);
        base.max(self.min_rto)
            .min(ceiling)
            .saturating_mul(1 << self.backoff.min(16))
            .min(ceiling)
    }
}

/// A rate in megabits per second as datagrams of `size` bytes per second; 0 (unpaced) stays 0.
pub fn datagrams_per_sec(mbps: f64, size: usize) -> f64 {
    if mbps > 0.0 && size > 0 {
        mbps * 1e6 / 8.0 / size as f64
    } else {
        0.0
    }
}

/// A token bucket over datagrams: up to `burst` datagrams back to back, then `rate` per
/// second. It keeps one frame's chunks from arriving as a single burst larger than the
/// viewer's receive buffer (208 KiB by default on Linux, about 92 datagrams).
#[derive(Debug, Clone)]
pub struct Pacer {
    per_sec: f64,
    burst: f64,
    tokens: f64,
    last: Option<Instant>,
}

impl Pacer {
    /// `per_sec` datagrams per second after bursts of up to `burst`; `per_sec` of 0 or less
    /// means unpaced.
    pub fn new(per_sec: f64, burst: u32) -> Self {
        let burst = burst.max(1) as f64;
        Pacer {
            per_sec,
            burst,
            tokens: burst,
            last: None,
        }
    }

    /// Changes the rate (datagrams per second; 0 or less: unpaced) from now on.
    pub fn set_rate(&mut self, per_sec: f64) {
        self.per_sec = per_sec;
    }

    /// The rate in datagrams per second (0: unpaced).
    pub fn rate(&self) -> f64 {
        self.per_sec.max(0.0)
    }

    fn refill(&mut self, now: Instant) {
        if let Some(last) = self.last {
            let dt = now.saturating_duration_since(last).as_secs_f64();
            self.tokens = (self.tokens + dt * self.per_sec).min(self.burst);
        }
        self.last = Some(now);
    }

    /// `None` when a datagram may go now, else when the next one may.
    pub fn delay(&mut self, now: Instant) -> Option<Instant> {
        if self.per_sec <= 0.0 {
            return None;
        }
        self.refill(now);
        if self.tokens >= 1.0 {
            None
        } else {
            Some(now + Duration::from_secs_f64((1.0 - self.tokens) / self.per_sec))
        }
    }

    /// Spends one token for a datagram sent at `now`.
    pub fn on_send(&mut self, now: Instant) {
        if self.per_sec <= 0.0 {
            return;
        }
        self.refill(now);
        self.tokens -= 1.0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn rto_follows_rfc6298() {
        let mut r = RttEstimator::new(10 * MS, 1000 * MS);
        assert_eq!(r.rto(), 1000 * MS, "no sample yet: the ceiling");
        r.on_sample(100 * MS);
        // SRTT = 100, RTTVAR = 50: RTO = 100 + 200.
        assert_eq!(r.rto(), 300 * MS);
        r.on_sample(100 * MS);
        // RTTVAR = 3/4 * 50 = 37.5: RTO = 100 + 150.
        assert_eq!(r.rto(), 250 * MS);
        r.on_timeout();
        assert_eq!(r.rto(), 500 * MS);
        r.on_timeout();
        r.on_timeout();
        assert_eq!(r.rto(), 1000 * MS, "capped at the ceiling");
        r.on_sample(100 * MS);
        assert!(r.rto() < 300 * MS, "a new sample ends the backoff");
    }

    #[test]
    fn every_timeout_lengthens_the_wait_even_at_the_floor() {
        let mut r = RttEstimator::new(20 * MS, 1000 * MS);
        r.on_sample(Duration::from_micros(300));
        assert_eq!(r.rto(), 20 * MS);
        r.on_timeout();
        assert_eq!(r.rto(), 40 * MS);
        r.on_timeout();
        assert_eq!(r.rto(), 80 * MS);
        r.on_answer();
        assert_eq!(r.rto(), 20 * MS);
    }

    #[test]
    fn a_round_trip_longer_than_the_ceiling_raises_it() {
        let mut r = RttEstimator::new(20 * MS, 100 * MS);
        r.on_sample(400 * MS);
        // SRTT 400, RTTVAR 200: base 1200 ms, above the 100 ms ceiling, and kept.
        assert_eq!(r.rto(), 1200 * MS);
        r.on_timeout();
        assert_eq!(r.rto(), 1200 * MS, "backoff stops at the raised ceiling");
    }

    #[test]
    fn rto_has_a_floor() {
        let mut r = RttEstimator::new(20 * MS, 1000 * MS);
        for _ in 0..50 {
            r.on_sample(Duration::from_micros(300));
        }
        assert_eq!(r.rto(), 20 * MS);
        assert!(r.srtt().unwrap() < MS);
    }

    #[test]
    fn pacer_bursts_then_spaces() {
        let t0 = Instant::now();
        let mut p = Pacer::new(1000.0, 4);
        for _ in 0..4 {
            assert_eq!(p.delay(t0), None);
            p.on_send(t0);
        }
        let next = p.delay(t0).expect("the burst is spent");
        assert_eq!(next, t0 + MS);
        assert_eq!(p.delay(next), None);
        p.on_send(next);
        // After a long idle spell the bucket is full again, but no fuller.
        let later = next + Duration::from_secs(10);
        for _ in 0..4 {
            assert_eq!(p.delay(later), None);
            p.on_send(later);
        }
        assert!(p.delay(later).is_some());
    }

    #[test]
    fn unpaced_never_waits() {
        let t0 = Instant::now();
        let mut p = Pacer::new(0.0, 1);
        for _ in 0..1000 {
            assert_eq!(p.delay(t0), None);
            p.on_send(t0);
        }
    }
}
