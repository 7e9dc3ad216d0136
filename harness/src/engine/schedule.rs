//! Rate profiles (issue 17, item 5): an open-loop schedule whose offered rate changes
//! over the run, for ramp and step experiments.
//!
//! `--rate-profile "0:50000,10:100000,20:20000"` gives keyframes `seconds:rate` (rate in
//! transactions per second over all shards), the first at 0 s, times strictly
//! increasing. Between two keyframes the rate moves linearly from one to the next; with
//! the prefix `step:` (`"step:0:50000,10:100000"`) it holds each keyframe's rate until
//! the next. After the last keyframe its rate holds. The driver releases a shard's
//! transaction `k` when `cumulative(t) / shards` passes `k` (transaction 0 at 0 s), and
//! that moment is its intended send time, from which latency is measured, as for a
//! constant rate (where `cumulative(t) = rate · t`).

use std::fmt::Write as _;

/// An offered rate over time (see the module doc).
#[derive(Clone, Debug, PartialEq)]
pub struct RateProfile {
    /// `(seconds, tx/s)`, the first at 0, times strictly increasing.
    keyframes: Vec<(f64, f64)>,
    /// Hold each rate until the next keyframe instead of moving linearly.
    step: bool,
}

impl RateProfile {
    /// Parses `[step:]T:R,T:R,…` (see the module doc); the error says what is wrong.
    pub fn parse(spec: &str) -> Result<RateProfile, String> {
        let (step, body) = match spec.trim().strip_prefix("step:") {
            Some(rest) => (true, rest),
            None => (false, spec.trim()),
        };
        let mut keyframes: Vec<(f64, f64)> = Vec::new();
        for part in body.split(',') {
            let (t, r) = part
                .split_once(':')
                .ok_or_else(|| format!("{part:?} is not seconds:rate"))?;
            let number = |s: &str, what: &str| {
                s.trim()
                    .parse::<f64>()
                    .ok()
                    .filter(|v| v.is_finite() && *v >= 0.0)
                    .ok_or_else(|| format!("{what} {s:?} in {part:?} is not a number of 0 or more"))
            };
            let (t, r) = (number(t, "time")?, number(r, "rate")?);
            if let Some(&(last, _)) = keyframes.last() {
                if t <= last {
                    return Err(format!("times must increase: {t} s after {last} s"));
                }
            } else if t != 0.0 {
                return Err(format!("the first keyframe must be at 0 s, not {t} s"));
            }
            keyframes.push((t, r));
        }
        if keyframes.iter().all(|&(_, r)| r == 0.0) {
            return Err("every rate is 0: nothing would be offered".into());
        }
        Ok(RateProfile { keyframes, step })
    }

    /// The profile as `parse` reads it.
    pub fn spec(&self) -> String {
        let mut out = String::from(if self.step { "step:" } else { "" });
        for (i, (t, r)) in self.keyframes.iter().enumerate() {
            let _ = write!(out, "{}{t}:{r}", if i == 0 { "" } else { "," });
        }
        out
    }

    /// The highest rate of the profile, tx/s.
    pub fn peak(&self) -> f64 {
        self.keyframes.iter().map(|&(_, r)| r).fold(0.0, f64::max)
    }

    /// The offered rate at `t` seconds.
    pub fn rate_at(&self, t: f64) -> f64 {
        let i = self.segment(t);
        let (t0, r0) = self.keyframes[i];
        match self.keyframes.get(i + 1) {
            Some(&(t1, r1)) if !self.step => r0 + (r1 - r0) * (t - t0) / (t1 - t0),
            _ => r0,
        }
    }

    /// Transactions offered (over all shards) from 0 to `t` seconds.
    pub fn cumulative(&self, t: f64) -> f64 {
        let t = t.max(0.0);
        let mut total = 0.0;
        for (i, &(t0, _)) in self.keyframes.iter().enumerate() {
            if t0 >= t {
                break;
            }
            let end = self.keyframes.get(i + 1).map_or(t, |&(t1, _)| t1.min(t));
            total += self.area(i, end);
        }
        total
    }

    /// The first time at which `cumulative` reaches `n` (∞ if it never does).
    pub fn time_of(&self, n: f64) -> f64 {
        if n <= 0.0 {
            return 0.0;
        }
        let mut before = 0.0;
        for (i, &(t0, r0)) in self.keyframes.iter().enumerate() {
            let next = self.keyframes.get(i + 1).copied();
            let whole = next.map_or(f64::INFINITY, |(t1, _)| self.area(i, t1));
            if before + whole < n {
                before += whole;
                continue;
            }
            let need = n - before;
            // Within segment i: r(τ) = r0 + a·τ for τ = t − t0 (a = 0 when stepping or
            // after the last keyframe); solve r0·τ + a·τ²/2 = need.
            let a = match next {
                Some((t1, r1)) if !self.step => (r1 - r0) / (t1 - t0),
                _ => 0.0,
            };
            let tau = if a.abs() < 1e-12 {
                if r0 <= 0.0 {
                    return f64::INFINITY;
                }
                need / r0
            } else {
                let disc = (r0 * r0 + 2.0 * a * need).max(0.0);
                (disc.sqrt() - r0) / a
            };
            return t0 + tau;
        }
        f64::INFINITY
    }

    /// Index of the segment holding `t` (the last keyframe at or before it).
    fn segment(&self, t: f64) -> usize {
        self.keyframes
            .iter()
            .rposition(|&(t0, _)| t0 <= t)
            .unwrap_or(0)
    }

    /// Transactions offered in segment `i` from its start to `end` seconds.
    fn area(&self, i: usize, end: f64) -> f64 {
        let (t0, r0) = self.keyframes[i];
        let dt = (end - t0).max(0.0);
        let r_end = self.rate_at_in(i, end);
        if self.step {
            r0 * dt
        } else {
            (r0 + r_end) / 2.0 * dt
        }
    }

    /// The rate at `t` taken from segment `i`.
    fn rate_at_in(&self, i: usize, t: f64) -> f64 {
        let (t0, r0) = self.keyframes[i];
        match self.keyframes.get(i + 1) {
            Some(&(t1, r1)) if !self.step => r0 + (r1 - r0) * (t.min(t1) - t0) / (t1 - t0),
            _ => r0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_parse_and_bad_ones_say_why() {
        let p = RateProfile::parse("0:50000,10:100000,20:20000").unwrap();
        assert_eq!(p.spec(), "0:50000,10:100000,20:20000");
        assert_eq!(p.peak(), 100_000.0);
        let s = RateProfile::parse("step:0:1000, 5:3000").unwrap();
        assert_eq!(s.spec(), "step:0:1000,5:3000");
        for (bad, why) in [
            ("5:1000", "first keyframe"),
            ("0:1000,0:2000", "increase"),
            ("0:1000,x:2", "not a number"),
            ("0:-5", "0 or more"),
            ("0:0,3:0", "nothing would be offered"),
            ("0-1000", "seconds:rate"),
        ] {
            let e = RateProfile::parse(bad).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }

    #[test]
    fn a_linear_ramp_offers_its_area_and_time_of_inverts_it() {
        // 0 → 1000 tx/s over 10 s, then 1000 tx/s.
        let p = RateProfile::parse("0:0,10:1000").unwrap();
        assert_eq!(p.rate_at(5.0), 500.0);
        assert!((p.cumulative(10.0) - 5_000.0).abs() < 1e-9);
        assert!((p.cumulative(12.0) - 7_000.0).abs() < 1e-9);
        for t in [0.5, 3.0, 9.99, 10.0, 11.5, 30.0] {
            let n = p.cumulative(t);
            assert!((p.time_of(n) - t).abs() < 1e-6, "t {t}: {}", p.time_of(n));
        }
        // A falling ramp too.
        let down = RateProfile::parse("0:2000,4:0").unwrap();
        assert!((down.cumulative(4.0) - 4_000.0).abs() < 1e-9);
        assert!((down.time_of(down.cumulative(2.0)) - 2.0).abs() < 1e-6);
        assert_eq!(down.time_of(5_000.0), f64::INFINITY);
    }

    #[test]
    fn a_step_profile_holds_each_rate() {
        let p = RateProfile::parse("step:0:1000,2:3000,4:500").unwrap();
        assert_eq!(p.rate_at(1.9), 1000.0);
        assert_eq!(p.rate_at(2.0), 3000.0);
        assert!((p.cumulative(3.0) - 5_000.0).abs() < 1e-9);
        assert!((p.cumulative(6.0) - 9_000.0).abs() < 1e-9);
        assert!((p.time_of(5_000.0) - 3.0).abs() < 1e-9);
        assert!((p.time_of(9_000.0) - 6.0).abs() < 1e-9);
        // A constant rate is one keyframe.
        let c = RateProfile::parse("0:4000").unwrap();
        assert!((c.cumulative(2.5) - 10_000.0).abs() < 1e-9);
        assert!((c.time_of(10_000.0) - 2.5).abs() < 1e-9);
    }
}
