//! Adaptive batching (issue 13, item 3): how long a worker's shards let the oldest
//! pending submission wait for a full verification batch (`verify_wait`), set from how
//! busy the worker's core is.
//!
//! A shard verifies its pending submissions once `verify_batch_min` have arrived, or once
//! the oldest has waited `verify_wait`. Below that size the wait sets the provisional
//! latency (a transaction waits up to `verify_wait` before it is even verified), so a
//! short wait is what a lightly loaded shard should use; but every batch has fixed costs
//! (each believable validator signs an OptBlock, the normal league checks it and draws
//! its samples), so short waits cost CPU: at 60,000 tx/s on the default mix, a fixed 2 ms
//! wait cut provisional p50 from 9.5 to 3 ms and raised the busy time per transaction
//! from 25 to 33 µs (docs/results.md, sixth session). Whether the core can pay that
//! depends on the load and the machine, so the wait follows the core's measured
//! utilization rather than a rate threshold:
//!
//! - every 50 ms the worker's busy share of the window is read from its shards' role
//!   meters (everything but [`Role::Idle`]);
//! - below [`RELAX_BELOW`] the wait shrinks by a quarter, down to `verify_wait_min`;
//! - above [`BACK_OFF_ABOVE`] it grows by half, up to `verify_wait` (the configured
//!   bound, the latency the batches may add at most);
//! - in between it holds.
//!
//! So batches are small while the core has room and grow back as load rises; under
//! saturation the wait is at its bound and batches are as large as before. A shard that
//! is behind fills `verify_batch_min` long before either wait, so at saturation this
//! changes nothing. Any wait is protocol-correct: it decides when work is done, never
//! what. `verify_wait_min = verify_wait` turns adaptation off.

use ioschain_core::node::meter::Role;

/// Length of one utilization window.
const WINDOW_NS: u64 = 50_000_000;
/// Below this busy share the wait shrinks.
pub const RELAX_BELOW: f64 = 0.6;
/// Above this busy share the wait grows.
pub const BACK_OFF_ABOVE: f64 = 0.8;
/// The least a growing wait grows by (so a wait of 0 grows too).
const GROWTH_MIN_NS: u64 = 100_000;

/// One worker's batching wait.
#[derive(Clone, Debug)]
pub struct Batching {
    min_ns: u64,
    max_ns: u64,
    wait_ns: u64,
    window_start_ns: u64,
    busy_at_start_ns: u64,
    /// `∫ wait dt` and the time it covers, for the mean wait.
    wait_time_integral: u128,
    covered_ns: u64,
    /// The least and most wait used.
    pub least_ns: u64,
    /// (See `least_ns`.)
    pub most_ns: u64,
}

impl Batching {
    /// A worker's batching between `min_ns` and `max_ns`, starting at `max_ns` (the
    /// configured wait, as a run without adaptation).
    pub fn new(min_ns: u64, max_ns: u64) -> Self {
        let min_ns = min_ns.min(max_ns);
        Batching {
            min_ns,
            max_ns,
            wait_ns: max_ns,
            window_start_ns: 0,
            busy_at_start_ns: 0,
            wait_time_integral: 0,
            covered_ns: 0,
            least_ns: max_ns,
            most_ns: max_ns,
        }
    }

    /// The wait now.
    pub fn wait_ns(&self) -> u64 {
        self.wait_ns
    }

    /// At `now_ns`, reads how long the worker's shards have been busy in all
    /// (monotonic, ns; read only when a window closes): returns the new wait when a
    /// window closed and the wait changed.
    pub fn observe(&mut self, now_ns: u64, busy_ns: impl FnOnce() -> u64) -> Option<u64> {
        let elapsed = now_ns.saturating_sub(self.window_start_ns);
        if elapsed < WINDOW_NS {
            return None;
        }
        let busy_ns = busy_ns();
        let busy = busy_ns.saturating_sub(self.busy_at_start_ns) as f64 / elapsed as f64;
        self.wait_time_integral += u128::from(self.wait_ns) * u128::from(elapsed);
        self.covered_ns += elapsed;
        self.window_start_ns = now_ns;
        self.busy_at_start_ns = busy_ns;
        let before = self.wait_ns;
        if busy < RELAX_BELOW {
            self.wait_ns = (self.wait_ns - self.wait_ns / 4).max(self.min_ns);
        } else if busy > BACK_OFF_ABOVE {
            self.wait_ns = (self.wait_ns + self.wait_ns / 2)
                .max(self.wait_ns + GROWTH_MIN_NS)
                .min(self.max_ns);
        }
        self.least_ns = self.least_ns.min(self.wait_ns);
        self.most_ns = self.most_ns.max(self.wait_ns);
        (self.wait_ns != before).then_some(self.wait_ns)
    }

    /// The time-weighted mean wait so far, ns.
    pub fn mean_ns(&self) -> f64 {
        if self.covered_ns == 0 {
            return self.wait_ns as f64;
        }
        self.wait_time_integral as f64 / self.covered_ns as f64
    }
}

/// Busy time of a role meter: everything but idle.
pub fn busy_ns(ns: &[u64; Role::ALL.len()]) -> u64 {
    ns.iter().sum::<u64>() - ns[Role::Idle.index()]
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    /// Feeds windows at `busy` share and returns the wait after them.
    fn run(b: &mut Batching, windows: u32, busy: f64, now: &mut u64, total: &mut u64) -> u64 {
        for _ in 0..windows {
            *now += WINDOW_NS;
            *total += (WINDOW_NS as f64 * busy) as u64;
            b.observe(*now, || *total);
        }
        b.wait_ns()
    }

    #[test]
    fn the_wait_shrinks_on_an_idle_core_and_grows_back_under_load() {
        let mut b = Batching::new(MS, 10 * MS);
        let (mut now, mut busy) = (0, 0);
        assert_eq!(b.wait_ns(), 10 * MS);
        // A quarter busy: down to the floor within a second, never below it.
        assert_eq!(run(&mut b, 20, 0.25, &mut now, &mut busy), MS);
        // In the band: held.
        assert_eq!(run(&mut b, 10, 0.7, &mut now, &mut busy), MS);
        // Saturated: back to the bound within a few windows, never above it.
        assert_eq!(run(&mut b, 8, 0.95, &mut now, &mut busy), 10 * MS);
        assert_eq!((b.least_ns, b.most_ns), (MS, 10 * MS));
        let mean = b.mean_ns();
        assert!(mean > MS as f64 && mean < 10.0 * MS as f64, "{mean}");
    }

    #[test]
    fn a_window_shorter_than_50_ms_changes_nothing_and_equal_bounds_never_adapt() {
        let mut b = Batching::new(MS, 10 * MS);
        assert_eq!(b.observe(WINDOW_NS - 1, || 0), None);
        assert_eq!(b.wait_ns(), 10 * MS);
        let mut fixed = Batching::new(10 * MS, 10 * MS);
        let (mut now, mut busy) = (0, 0);
        assert_eq!(run(&mut fixed, 20, 0.0, &mut now, &mut busy), 10 * MS);
        assert_eq!(run(&mut fixed, 20, 1.0, &mut now, &mut busy), 10 * MS);
    }
}
