//! Simulated time: starts at a chosen instant and runs `speed` times faster
//! than the wall clock, so a 30 s Flux requeue takes 30 ms at speed 1000.
//! Every timestamp the sandbox writes comes from here.

use std::time::{Duration, Instant};

use jiff::Timestamp;

#[derive(Debug, Clone)]
pub struct Clock {
    origin_real: Instant,
    origin_sim: Timestamp,
    speed: f64,
}

impl Clock {
    pub fn new(start: Timestamp, speed: f64) -> Self {
        Clock {
            origin_real: Instant::now(),
            origin_sim: start,
            speed: if speed > 0.0 { speed } else { 1.0 },
        }
    }

    pub fn now(&self) -> Timestamp {
        let elapsed = self.origin_real.elapsed().mul_f64(self.speed);
        let span = jiff::SignedDuration::try_from(elapsed).unwrap_or(jiff::SignedDuration::MAX);
        self.origin_sim.checked_add(span).unwrap_or(self.origin_sim)
    }

    /// `2026-08-20T10:14:31Z`: the precision of `metav1.Time`.
    pub fn rfc3339(&self) -> String {
        rfc3339(self.now())
    }

    /// The wall-clock time that `simulated` takes at this speed.
    pub fn real(&self, simulated: Duration) -> Duration {
        simulated.div_f64(self.speed)
    }

    /// Sleeps for a simulated duration.
    pub async fn sleep(&self, simulated: Duration) {
        tokio::time::sleep(self.real(simulated)).await;
    }
}

pub fn rfc3339(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// kubectl's `duration.HumanDuration`: `45s`, `5m10s`, `3h`, `2d4h`, `3y`.
pub fn human_duration(d: jiff::SignedDuration) -> String {
    let secs = d.as_secs();
    if secs < -1 {
        return "<invalid>".into();
    }
    if secs < 0 {
        return "0s".into();
    }
    if secs < 60 * 2 {
        return format!("{secs}s");
    }
    let mins = secs / 60;
    if mins < 10 {
        let s = secs % 60;
        return if s == 0 {
            format!("{mins}m")
        } else {
            format!("{mins}m{s}s")
        };
    }
    if mins < 60 * 3 {
        return format!("{mins}m");
    }
    let hours = mins / 60;
    if hours < 8 {
        let m = mins % 60;
        return if m == 0 {
            format!("{hours}h")
        } else {
            format!("{hours}h{m}m")
        };
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    if hours < 24 * 8 {
        let h = hours % 24;
        return if h == 0 {
            format!("{}d", hours / 24)
        } else {
            format!("{}d{h}h", hours / 24)
        };
    }
    if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    }
    if hours < 24 * 365 * 8 {
        let dy = (hours / 24) % 365;
        return if dy == 0 {
            format!("{}y", hours / 24 / 365)
        } else {
            format!("{}y{dy}d", hours / 24 / 365)
        };
    }
    format!("{}y", hours / 24 / 365)
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::SignedDuration as D;

    #[test]
    fn human_durations_match_kubectl() {
        for (secs, want) in [
            (5, "5s"),
            (119, "119s"),
            (310, "5m10s"),
            (600, "10m"),
            (3 * 3600 + 60, "3h1m"),
            (30 * 3600, "30h"),
            (50 * 3600, "2d2h"),
            (20 * 86400, "20d"),
            (800 * 86400, "2y70d"),
        ] {
            assert_eq!(human_duration(D::from_secs(secs)), want, "{secs}");
        }
    }

    #[test]
    fn time_runs_at_the_given_speed() {
        let start: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        let c = Clock::new(start, 1000.0);
        assert_eq!(c.real(Duration::from_secs(30)), Duration::from_millis(30));
        assert!(c.now() >= start);
    }
}
