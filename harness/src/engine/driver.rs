//! The load driver: releases each shard's pre-signed stream on schedule.
//!
//! Open loop (default): transaction `k` of a shard is due `k / rate_per_shard` seconds
//! after the start, whether or not the shard keeps up; latency is measured from that
//! intended time, so a slow engine shows up as latency, not as a slower schedule
//! (no coordinated omission). Closed loop (`inflight = N`): each shard gets at most
//! `N / shards` unfinished transactions, and latency runs from the actual release.
//!
//! The driver sends one [`Submit`] per shard per tick (a range of indices, not one
//! message per transaction). A full inbox is counted as backpressure and retried on the
//! next tick; nothing is dropped. It releases only positions already loaded (`loaded`,
//! published by the stream loader after it sent their chunks, `super::stream`): a
//! loader that falls behind delays releases, and the delay shows as latency.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use crossbeam::channel::{Sender, TrySendError};

use super::Clock;
use super::clients::{Inbox, Submit, Timing};
use super::schedule::RateProfile;
use crate::metrics::{IntervalReport, Levels, StageCounts};

/// Driver settings.
#[derive(Clone, Debug)]
pub struct DriverPlan {
    /// Offered rate, transactions per second over all shards.
    pub rate: f64,
    /// Closed loop: in-flight budget over all shards.
    pub inflight: Option<u64>,
    /// Open loop on a rate profile instead of `rate` (`None`: the constant rate).
    pub profile: Option<Arc<RateProfile>>,
    /// Stream length per shard.
    pub stream_len: Vec<u32>,
    /// End of warm-up, ns since the start.
    pub warmup_end_ns: u64,
    /// End of the schedule, ns since the start.
    pub end_ns: u64,
    /// Tick length.
    pub tick: Duration,
}

/// What the driver did.
#[derive(Clone, Debug, Default)]
pub struct DriverReport {
    /// Transactions released per shard.
    pub released: Vec<u64>,
    /// Transactions due by the schedule (open loop) over the whole run.
    pub offered: u64,
    /// Ticks on which a shard's inbox was full.
    pub backpressure: u64,
    /// Whether a closed-loop run used up a stream before the schedule ended.
    pub exhausted: bool,
    /// Offered between the end of warm-up and the end of the schedule.
    pub window_offered: u64,
    /// Submitted between the end of warm-up and the end of the schedule.
    pub window_submitted: u64,
}

/// Runs the driver until the schedule ends (or `abort` is set).
#[allow(clippy::too_many_arguments)]
pub fn drive(
    plan: &DriverPlan,
    clock: &Clock,
    inboxes: &[Sender<Inbox>],
    loaded: &AtomicU32,
    done: &[Arc<AtomicU64>],
    released_shared: &[Arc<AtomicU64>],
    reports: &Sender<IntervalReport>,
    abort: &AtomicBool,
) -> DriverReport {
    let shards = inboxes.len();
    let per_shard_rate = plan.rate / shards as f64;
    let spacing_ns = 1e9 / per_shard_rate;
    let budget = plan.inflight.map(|n| n.div_ceil(shards as u64).max(1));
    // Open loop: what the schedule has offered to each shard by `t_ns`, as a fraction of
    // transactions (`k` is due once this passes `k`), and how a shard's transactions know
    // their intended times.
    let offered_by = |t_ns: u64| match &plan.profile {
        None => t_ns as f64 / spacing_ns,
        Some(profile) => profile.cumulative(t_ns as f64 / 1e9) / shards as f64,
    };
    let scheduled = match &plan.profile {
        None => Timing::Scheduled { spacing_ns },
        Some(profile) => Timing::Profile {
            profile: Arc::clone(profile),
            shards: shards as u32,
        },
    };
    let mut released = vec![0u32; shards];
    let mut report = DriverReport {
        released: vec![0; shards],
        ..DriverReport::default()
    };
    let mut second = 0u64;
    let mut second_offered = 0u64;
    let mut second_submitted = 0u64;
    let mut second_backpressure = 0u64;
    let mut offered_before = vec![0u64; shards];
    let mut submitted_total = 0u64;
    let mut window_start: Option<(u64, u64)> = None;
    loop {
        let now = clock.now_ns();
        let finished = now >= plan.end_ns || abort.load(Ordering::Relaxed);
        let now_second = now / 1_000_000_000;
        while second < now_second {
            let _ = reports.send(IntervalReport {
                second,
                counts: StageCounts::default(),
                rejected: 0,
                shed: 0,
                overloaded: 0,
                histograms: None,
                offered: std::mem::take(&mut second_offered),
                submitted: std::mem::take(&mut second_submitted),
                backpressure: std::mem::take(&mut second_backpressure),
                levels: Levels::default(),
            });
            second += 1;
        }
        if window_start.is_none() && now >= plan.warmup_end_ns {
            // Open loop: the transactions due by the window's start, from the schedule
            // (not from this tick's count, which a late tick would shift).
            let offered_at_start = match budget {
                None => (0..shards)
                    .map(|shard| {
                        let due = offered_by(plan.warmup_end_ns).floor() as u64 + 1;
                        due.min(u64::from(plan.stream_len[shard]))
                    })
                    .sum(),
                Some(_) => report.offered,
            };
            window_start = Some((offered_at_start, submitted_total));
        }
        let until_ns = now.min(plan.end_ns);
        for shard in 0..shards {
            let len = plan.stream_len[shard];
            let (target, timing) = match budget {
                None => {
                    // Transaction k is due at k·spacing: released once that time has come,
                    // and only those due before the schedule's end.
                    let due = if until_ns < plan.end_ns {
                        offered_by(until_ns).floor() as u64 + 1
                    } else {
                        offered_by(plan.end_ns).ceil() as u64
                    };
                    let due = due.min(u64::from(len));
                    second_offered += due - offered_before[shard];
                    report.offered += due - offered_before[shard];
                    offered_before[shard] = due;
                    (due as u32, scheduled.clone())
                }
                Some(budget) => {
                    if finished {
                        continue;
                    }
                    let in_flight =
                        u64::from(released[shard]) - done[shard].load(Ordering::Relaxed);
                    let room = budget.saturating_sub(in_flight);
                    let target = (u64::from(released[shard]) + room).min(u64::from(len)) as u32;
                    if released[shard] == len {
                        report.exhausted = true;
                    }
                    (target, Timing::SentAt(now))
                }
            };
            let target = target.min(loaded.load(Ordering::Acquire));
            if target <= released[shard] {
                continue;
            }
            let submit = Submit {
                start: released[shard],
                end: target,
                timing,
                refused: false,
            };
            match inboxes[shard].try_send(Inbox::Release(submit)) {
                Ok(()) => {
                    if budget.is_some() {
                        // Closed loop: what is offered is what the budget let out.
                        second_offered += u64::from(target - released[shard]);
                        report.offered += u64::from(target - released[shard]);
                    }
                    submitted_total += u64::from(target - released[shard]);
                    second_submitted += u64::from(target - released[shard]);
                    released[shard] = target;
                    released_shared[shard].store(u64::from(target), Ordering::Relaxed);
                }
                Err(TrySendError::Full(_)) => {
                    second_backpressure += 1;
                    report.backpressure += 1;
                }
                Err(TrySendError::Disconnected(_)) => {
                    report.released = released.iter().map(|&r| u64::from(r)).collect();
                    return report;
                }
            }
        }
        let all_released = (0..shards).all(|s| match budget {
            None => u64::from(released[s]) == offered_before[s],
            Some(_) => true,
        });
        if finished && all_released {
            let (offered_start, submitted_start) = window_start.unwrap_or((0, 0));
            report.window_offered = report.offered - offered_start;
            report.window_submitted = submitted_total - submitted_start;
            break;
        }
        std::thread::sleep(plan.tick);
    }
    let _ = reports.send(IntervalReport {
        second,
        counts: StageCounts::default(),
        rejected: 0,
        shed: 0,
        overloaded: 0,
        histograms: None,
        offered: second_offered,
        submitted: second_submitted,
        backpressure: second_backpressure,
        levels: Levels::default(),
    });
    report.released = released.iter().map(|&r| u64::from(r)).collect();
    report
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicBool;

    use crossbeam::channel::{bounded, unbounded};

    use super::*;

    /// Runs the driver for one shard whose transactions never finish; returns its report
    /// and the inbox it filled.
    fn drive_one_shard(plan: &DriverPlan) -> (DriverReport, Vec<Submit>) {
        let (inbox, submits) = bounded(10_000);
        let (reports, _) = unbounded();
        let done = vec![Arc::new(AtomicU64::new(0))];
        let released = vec![Arc::new(AtomicU64::new(0))];
        let report = drive(
            plan,
            &Clock::start(),
            &[inbox],
            &AtomicU32::new(u32::MAX),
            &done,
            &released,
            &reports,
            &AtomicBool::new(false),
        );
        let submits = submits
            .try_iter()
            .map(|message| match message {
                Inbox::Release(submit) => submit,
                Inbox::Chunk(_) => panic!("the driver sends no chunks"),
            })
            .collect();
        (report, submits)
    }

    #[test]
    fn open_loop_releases_exactly_the_transactions_due_before_the_end() {
        // 1,000 tx/s for 50 ms: transactions 0..50 are due (at 0, 1, …, 49 ms).
        let plan = DriverPlan {
            rate: 1000.0,
            profile: None,
            inflight: None,
            stream_len: vec![10_000],
            warmup_end_ns: 10_000_000,
            end_ns: 50_000_000,
            tick: Duration::from_micros(500),
        };
        let (report, submits) = drive_one_shard(&plan);
        assert_eq!(report.released, vec![50]);
        assert_eq!(report.offered, 50);
        // Transaction 0 is due at once: the first range starts at 0 and is not late.
        let mut submits = submits.into_iter();
        let first = submits.next().unwrap();
        assert_eq!(first.start, 0);
        let Timing::Scheduled { spacing_ns } = first.timing else {
            panic!("open loop")
        };
        assert_eq!(spacing_ns, 1e6);
        let mut next = first.end;
        for submit in submits {
            assert_eq!(submit.start, next, "ranges are contiguous");
            next = submit.end;
        }
        assert_eq!(next, 50);
        // 10..50 ms is the measured window: the transactions due after 10 ms (11 are
        // due by then, at 0, 1, …, 10 ms) and before 50 ms, from the schedule, however
        // late the driver's ticks come on a loaded machine.
        assert_eq!(report.window_offered, 39);
    }

    #[test]
    fn closed_loop_keeps_the_budget_in_flight() {
        let plan = DriverPlan {
            rate: 1.0,
            profile: None,
            inflight: Some(8),
            stream_len: vec![1000],
            warmup_end_ns: 0,
            end_ns: 20_000_000,
            tick: Duration::from_micros(500),
        };
        // Nothing ever finishes: the driver must stop at the budget.
        let (report, submits) = drive_one_shard(&plan);
        assert_eq!(report.released, vec![8]);
        assert_eq!(report.offered, 8);
        assert_eq!(submits.iter().map(|s| s.end - s.start).sum::<u32>(), 8);
    }
}
