//! Latency histograms and the one-second timeline.
//!
//! Each shard owns a [`ShardMetrics`]: one HdrHistogram per stage for the measured
//! window (events completed between the end of warm-up and the end of the schedule), and
//! one per stage for the current second, shipped to the main thread when the second
//! ends. Histograms are merged, never averaged (BENCHMARKING.md rule 1). Values are
//! microseconds from a transaction's intended send time (open loop: no coordinated
//! omission).
//!
//! A shipped report does not say which shard sent it; each shard instead keeps what it
//! finalized per second ([`ShardMetrics::final_by_second`]) for the timeline's per-shard
//! columns (`final_s0`, `final_s1`, …), read from the shards after the run.

use crossbeam::channel::Sender;
use hdrhistogram::Histogram;
use serde::Serialize;

/// Largest latency recorded: one hour, in microseconds (larger values are clamped).
pub const LATENCY_US_MAX: u64 = 3_600_000_000;

/// A latency histogram: 1 µs to one hour, three significant digits.
pub fn latency_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, LATENCY_US_MAX, 3).expect("valid histogram bounds")
}

/// The measured stages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Included in a built block.
    Provisional,
    /// In a block with a roster certificate, persisted to the block log (intra-shard
    /// transactions).
    Final,
    /// A cross-shard transaction committed: the commit entry of its last output shard
    /// is final (persisted) and its client has the proof.
    CrossShard,
}

impl Stage {
    /// Every stage.
    pub const ALL: [Stage; 3] = [Stage::Provisional, Stage::Final, Stage::CrossShard];

    /// The stage's name in output.
    pub const fn name(self) -> &'static str {
        match self {
            Stage::Provisional => "provisional",
            Stage::Final => "final",
            Stage::CrossShard => "cross_shard",
        }
    }
}

/// The run's phases. An event counts for the window by when it *completed* (a
/// transaction that became final during the measured window), the usual definition of
/// throughput; its latency is from its intended send time.
#[derive(Clone, Copy, Debug)]
pub struct Window {
    /// End of warm-up, ns since the run's start.
    pub warmup_end_ns: u64,
    /// End of the measured window (and of the schedule), ns since the run's start.
    pub measure_end_ns: u64,
}

impl Window {
    /// Whether an event completed at `now_ns` counts for the measured window.
    pub fn measures(&self, now_ns: u64) -> bool {
        (self.warmup_end_ns..self.measure_end_ns).contains(&now_ns)
    }

    /// Duration of the measured window in seconds.
    pub fn seconds(&self) -> f64 {
        (self.measure_end_ns - self.warmup_end_ns) as f64 / 1e9
    }
}

/// One shard's (or the driver's) figures for one second of the run.
#[derive(Debug)]
pub struct IntervalReport {
    /// Seconds since the run's start.
    pub second: u64,
    /// Transactions that reached each stage in that second.
    pub counts: StageCounts,
    /// Transactions rejected in that second.
    pub rejected: u64,
    /// Transactions shed (given up) in that second.
    pub shed: u64,
    /// Arrivals refused at a full intake in that second.
    pub overloaded: u64,
    /// Latencies of those transactions, per stage (`None` from the driver).
    pub histograms: Option<[Histogram<u64>; 3]>,
    /// Driver only: transactions due by the schedule and actually submitted.
    pub offered: u64,
    /// Driver only: transactions submitted.
    pub submitted: u64,
    /// Sends that found a full queue.
    pub backpressure: u64,
    /// Levels at the end of the second.
    pub levels: Levels,
}

impl IntervalReport {
    /// A report of `second` with nothing in it.
    pub fn empty(second: u64) -> Self {
        IntervalReport {
            second,
            counts: StageCounts::default(),
            rejected: 0,
            shed: 0,
            overloaded: 0,
            histograms: None,
            offered: 0,
            submitted: 0,
            backpressure: 0,
            levels: Levels::default(),
        }
    }
}

/// Levels sampled at the end of a second (where things stand, not counts over the
/// second). Shards fill the queues; the host's sampler the process-wide figures.
#[derive(Clone, Copy, Debug, Default)]
pub struct Levels {
    /// Transactions the shard's clients hold (released, not yet with the validators).
    pub queued_clients: u64,
    /// Transactions with the shard's validators, not yet in a FinalBlock.
    pub queued_validators: u64,
    /// The process's resident memory, bytes (host sampler).
    pub resident_bytes: Option<u64>,
    /// Bytes of the run's block log on disk (host sampler).
    pub disk_bytes: Option<u64>,
}

/// Counts per stage.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct StageCounts {
    /// Provisional.
    pub provisional: u64,
    /// Final (intra-shard).
    pub final_: u64,
    /// Cross-shard commits.
    pub cross_shard: u64,
}

impl StageCounts {
    fn add(&mut self, stage: Stage, n: u64) {
        match stage {
            Stage::Provisional => self.provisional += n,
            Stage::Final => self.final_ += n,
            Stage::CrossShard => self.cross_shard += n,
        }
    }

    /// The count of `stage`.
    pub fn get(&self, stage: Stage) -> u64 {
        match stage {
            Stage::Provisional => self.provisional,
            Stage::Final => self.final_,
            Stage::CrossShard => self.cross_shard,
        }
    }
}

/// A shard's recorder.
#[derive(Debug)]
pub struct ShardMetrics {
    window: Window,
    /// Measured-window histograms, per stage.
    pub window_histograms: [Histogram<u64>; 3],
    /// Measured-window counts, per stage.
    pub window_counts: StageCounts,
    second: u64,
    second_histograms: [Histogram<u64>; 3],
    second_counts: StageCounts,
    second_rejected: u64,
    second_shed: u64,
    second_overloaded: u64,
    second_backpressure: u64,
    /// Final plus cross-shard commits of each shipped second, indexed by second: 8
    /// bytes per second of the run (under 5 KB for a 10-minute soak), not per
    /// transaction.
    final_by_second: Vec<u64>,
    reports: Sender<IntervalReport>,
    now_ns: u64,
    /// The shard's queues, as last set (see [`ShardMetrics::set_queues`]).
    queues: (u64, u64),
}

impl ShardMetrics {
    /// A recorder that ships each finished second to `reports`.
    pub fn new(window: Window, reports: Sender<IntervalReport>) -> Self {
        ShardMetrics {
            window,
            window_histograms: [
                latency_histogram(),
                latency_histogram(),
                latency_histogram(),
            ],
            window_counts: StageCounts::default(),
            second: 0,
            second_histograms: [
                latency_histogram(),
                latency_histogram(),
                latency_histogram(),
            ],
            second_counts: StageCounts::default(),
            second_rejected: 0,
            second_shed: 0,
            second_overloaded: 0,
            second_backpressure: 0,
            final_by_second: Vec::new(),
            reports,
            now_ns: 0,
            queues: (0, 0),
        }
    }

    /// Whether moving the clock to `now_ns` ends a second (the host then samples its
    /// queues with [`ShardMetrics::set_queues`], once a second rather than every poll).
    #[inline]
    pub fn second_ends(&self, now_ns: u64) -> bool {
        now_ns / 1_000_000_000 > self.second
    }

    /// The shard's queue lengths (clients, validators), reported with the seconds that end
    /// next.
    pub fn set_queues(&mut self, clients: usize, validators: usize) {
        self.queues = (clients as u64, validators as u64);
    }

    /// Moves the recorder's clock to `now_ns`, shipping every second that ended.
    pub fn at(&mut self, now_ns: u64) {
        self.now_ns = now_ns;
        let second = now_ns / 1_000_000_000;
        while self.second < second {
            self.ship();
            self.second += 1;
        }
    }

    fn ship(&mut self) {
        let histograms = std::mem::replace(
            &mut self.second_histograms,
            [
                latency_histogram(),
                latency_histogram(),
                latency_histogram(),
            ],
        );
        let counts = std::mem::take(&mut self.second_counts);
        // Seconds are shipped once each, in order, from 0.
        assert_eq!(self.final_by_second.len() as u64, self.second);
        // Like the timeline's `final` (and `tps.final`): intra-shard and cross-shard.
        self.final_by_second
            .push(counts.final_ + counts.cross_shard);
        let report = IntervalReport {
            second: self.second,
            counts,
            rejected: std::mem::take(&mut self.second_rejected),
            shed: std::mem::take(&mut self.second_shed),
            overloaded: std::mem::take(&mut self.second_overloaded),
            histograms: Some(histograms),
            offered: 0,
            submitted: 0,
            backpressure: std::mem::take(&mut self.second_backpressure),
            levels: Levels {
                queued_clients: self.queues.0,
                queued_validators: self.queues.1,
                ..Levels::default()
            },
        };
        // The main thread outlives the workers; a closed channel means it is unwinding.
        let _ = self.reports.send(report);
    }

    /// Records that a transaction intended at `intended_ns` reached `stage` now.
    #[inline]
    pub fn record(&mut self, stage: Stage, intended_ns: u64) {
        let latency_us = (self.now_ns.saturating_sub(intended_ns) / 1000).clamp(1, LATENCY_US_MAX);
        let i = stage as usize;
        self.second_histograms[i].saturating_record(latency_us);
        self.second_counts.add(stage, 1);
        if self.window.measures(self.now_ns) {
            self.window_histograms[i].saturating_record(latency_us);
            self.window_counts.add(stage, 1);
        }
    }

    /// Counts a rejection now.
    pub fn rejected(&mut self) {
        self.second_rejected += 1;
    }

    /// Counts `n` arrivals refused at a full intake now.
    pub fn overloaded(&mut self, n: u64) {
        self.second_overloaded += n;
    }

    /// Counts `n` transactions shed now.
    pub fn shed(&mut self, n: u64) {
        self.second_shed += n;
    }

    /// Counts a send that found a full queue.
    pub fn backpressure(&mut self) {
        self.second_backpressure += 1;
    }

    /// What this shard finalized (intra-shard final plus cross-shard commits) in each
    /// second shipped so far, indexed by second; the same counts its reports carried.
    pub fn final_by_second(&self) -> &[u64] {
        &self.final_by_second
    }

    /// Ships the current, partial second (at the end of the run).
    pub fn finish(&mut self) {
        self.ship();
        self.second += 1;
    }
}

pub use ioschain_reports::summary::Percentiles;

#[cfg(test)]
mod tests {
    use crossbeam::channel::unbounded;

    use super::*;

    #[test]
    fn events_are_counted_in_their_second_and_only_in_window_for_the_summary() {
        let (tx, rx) = unbounded();
        let window = Window {
            warmup_end_ns: 1_000_000_000,
            measure_end_ns: 3_000_000_000,
        };
        let mut m = ShardMetrics::new(window, tx);
        m.at(500_000_000); // warm-up
        m.record(Stage::Final, 0);
        m.at(1_500_000_000); // measured
        m.record(Stage::Final, 1_000_000_000);
        m.record(Stage::Final, 1_400_000_000);
        m.at(3_200_000_000); // drain
        m.record(Stage::Final, 3_000_000_000);
        m.finish();
        assert_eq!(m.window_counts.final_, 2);
        let p = Percentiles::of(&m.window_histograms[Stage::Final as usize]);
        assert_eq!(p.count, 2);
        // 500 ms and 100 ms latencies, within HdrHistogram's 3 significant digits.
        assert!((499_000..=501_000).contains(&p.max), "{p:?}");
        let reports: Vec<IntervalReport> = rx.try_iter().collect();
        assert_eq!(
            reports.iter().map(|r| r.second).collect::<Vec<_>>(),
            vec![0, 1, 2, 3]
        );
        assert_eq!(
            reports.iter().map(|r| r.counts.final_).collect::<Vec<_>>(),
            vec![1, 2, 0, 1]
        );
        assert_eq!(m.final_by_second(), &[1, 2, 0, 1]);
    }

    #[test]
    fn a_shards_final_per_second_counts_cross_shard_commits_like_the_timeline() {
        let (tx, rx) = unbounded();
        let window = Window {
            warmup_end_ns: 0,
            measure_end_ns: 2_000_000_000,
        };
        let mut m = ShardMetrics::new(window, tx);
        m.record(Stage::Final, 0);
        m.record(Stage::CrossShard, 0);
        m.record(Stage::Provisional, 0);
        m.at(1_100_000_000);
        m.record(Stage::CrossShard, 1_000_000_000);
        m.finish();
        assert_eq!(m.final_by_second(), &[2, 1]);
        let reports: Vec<IntervalReport> = rx.try_iter().collect();
        let shipped: Vec<u64> = reports
            .iter()
            .map(|r| r.counts.final_ + r.counts.cross_shard)
            .collect();
        assert_eq!(shipped, m.final_by_second());
    }

    #[test]
    fn percentiles_of_an_empty_histogram_are_zero() {
        assert_eq!(
            Percentiles::of(&latency_histogram()),
            Percentiles::default()
        );
    }
}
