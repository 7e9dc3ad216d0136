//! A shard's intake bound: admission control (DESIGN.md §3, issue 13 item 4).
//!
//! Every transaction the driver releases to a shard arrives at its intake. The intake
//! admits it while the shard holds fewer than `bound` admitted transactions that are not
//! done yet (in flight: held for their funds, with the validators, not yet final, or a
//! cross-shard one whose client has not finished). An arrival beyond that is *refused*
//! as `overloaded` (counted in `counts.overloaded`): its client tries again, in the order
//! the transactions arrived, as soon as the shard has room, and its latency runs from
//! that admitted attempt. What the shard never admitted by one latency budget after the
//! schedule ended, its clients give up (*shed*, `counts.shed`, with what depends on it:
//! `clients::Shed`): an outcome of the run, not an error.
//!
//! Why the refused are retried rather than dropped: the workload's transactions spend
//! each other's outputs, so a dropped transaction dooms the two coins it would have
//! created and every later transaction spending them, and those doom theirs; dropping
//! mid-run at 4× overload brought the finalized rate from 73,511 tx/s in the first
//! second to 1,113 in the third (docs/results.md, fifth session). A real wallet retries
//! too.
//!
//! The bound keeps the latency of what is admitted near a budget. By Little's law a
//! shard holding `n` in flight while it finishes `r` per second keeps each one about
//! `n / r` seconds, so the bound is `latency budget × r`, with `r` measured as the shard
//! runs: the rate at which its admitted transactions are done, smoothed over 100-ms
//! windows. Before the first window it is the expected rate the run gives (the offered
//! rate, capped by the model ceiling when the run measured it). A fixed bound
//! (`--intake-max`) replaces all of this.
//!
//! Invariant: the bound is never below `floor` (two verification batches), so a shard
//! can always fill a batch however slowly it finished the last ones.

/// How a run bounds each shard's intake.
#[derive(Clone, Debug, PartialEq)]
pub struct IntakePlan {
    /// A fixed bound, in transactions per shard (`None`: derived from the budget).
    pub max: Option<u64>,
    /// Latency budget of admitted transactions, ns.
    pub budget_ns: u64,
    /// The rate each shard is expected to finish at before it is measured, tx/s.
    pub expected_rate: f64,
    /// The least bound (transactions).
    pub floor: u64,
    /// When the clients give up what was never admitted: one budget after the schedule
    /// ends, ns since the start (set when the run's window is known).
    pub give_up_at_ns: u64,
}

/// Length of one rate-measuring window.
const WINDOW_NS: u64 = 100_000_000;
/// Weight of the newest window in the smoothed rate.
const SMOOTHING: f64 = 0.25;

/// One shard's intake.
#[derive(Clone, Debug)]
pub struct Intake {
    plan: IntakePlan,
    /// Smoothed rate at which admitted transactions are done, tx/s.
    rate: f64,
    window_start_ns: u64,
    window_done: u64,
    /// Arrivals refused at a full intake (retried by their clients).
    pub refused: u64,
}

impl Intake {
    /// An intake under `plan`.
    pub fn new(plan: IntakePlan) -> Intake {
        Intake {
            rate: plan.expected_rate,
            plan,
            window_start_ns: 0,
            window_done: 0,
            refused: 0,
        }
    }

    /// The bound now: transactions in flight the shard admits.
    pub fn bound(&self) -> u64 {
        self.plan.max.unwrap_or_else(|| {
            let derived = self.rate * self.plan.budget_ns as f64 / 1e9;
            (derived as u64).max(self.plan.floor)
        })
    }

    /// How many more the shard admits while `in_flight` are.
    pub fn room(&self, in_flight: u64) -> u64 {
        self.bound().saturating_sub(in_flight)
    }

    /// Whether the clients give up what is still not admitted at `now_ns`.
    pub fn gives_up(&self, now_ns: u64) -> bool {
        now_ns >= self.plan.give_up_at_ns
    }

    /// `done` admitted transactions (in all) are done at `now_ns`: the measured rate
    /// moves once a window has passed.
    pub fn observe(&mut self, now_ns: u64, done: u64) {
        let elapsed = now_ns.saturating_sub(self.window_start_ns);
        if elapsed < WINDOW_NS {
            return;
        }
        let window_rate = done.saturating_sub(self.window_done) as f64 * 1e9 / elapsed as f64;
        self.rate += SMOOTHING * (window_rate - self.rate);
        self.window_start_ns = now_ns;
        self.window_done = done;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(max: Option<u64>) -> IntakePlan {
        IntakePlan {
            max,
            budget_ns: 250_000_000,
            expected_rate: 40_000.0,
            floor: 1_000,
            give_up_at_ns: 5_000_000_000,
        }
    }

    #[test]
    fn the_room_is_the_bound_less_what_is_in_flight() {
        let intake = Intake::new(plan(None));
        // 250 ms of 40,000 tx/s.
        assert_eq!(intake.bound(), 10_000);
        assert_eq!(intake.room(9_000), 1_000);
        assert_eq!(intake.room(12_000), 0);
        assert!(!intake.gives_up(4_999_999_999));
        assert!(intake.gives_up(5_000_000_000));
    }

    #[test]
    fn the_bound_follows_the_rate_the_shard_finishes_at() {
        let mut intake = Intake::new(plan(None));
        // 2,000 done in each 100 ms: 20,000 tx/s, approached window by window.
        for k in 1..=40u64 {
            intake.observe(k * WINDOW_NS, k * 2_000);
        }
        let bound = intake.bound();
        assert!((4_900..=5_100).contains(&bound), "bound {bound}");
        // A window not yet over changes nothing.
        intake.observe(40 * WINDOW_NS + 1, 1_000_000);
        assert_eq!(intake.bound(), bound);
    }

    #[test]
    fn a_shard_that_finishes_nothing_still_admits_a_floor() {
        let mut intake = Intake::new(plan(None));
        for k in 1..=100u64 {
            intake.observe(k * WINDOW_NS, 0);
        }
        assert_eq!(intake.bound(), 1_000);
    }

    #[test]
    fn a_fixed_bound_ignores_the_rate() {
        let mut intake = Intake::new(plan(Some(77)));
        intake.observe(WINDOW_NS, 1_000_000);
        assert_eq!(intake.bound(), 77);
        assert_eq!(intake.room(70), 7);
    }
}
