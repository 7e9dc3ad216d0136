//! Outcomes against the answer key: the engine never sees the workload's expectations,
//! so the oracle judges what it did. Per shard, [`ShardOutcomes`] joins the released
//! part of the stream, its answer key and the engine's recorded rejections (built once);
//! [`canaries_check`] requires every planted canary to be rejected for its reason and
//! absent from the log, [`outcomes_check`] every intra-shard transaction to have the
//! outcome the answer key gives it and the log to hold exactly the valid ones.
//! Cross-shard outcomes are judged by `atomix_invariants`.
//!
//! Shed transactions (refused at a full intake, or given up by their clients) have no
//! outcome to judge: they are exempt from both checks, and [`shed_check`] requires each
//! one given up to depend on a shed one and the refusals to be the intakes' count.

use std::collections::{BTreeMap, HashMap, HashSet};

use ioschain_core::tx::RejectReason;
use ioschain_core::types::TxId;
use ioschain_workloads::{Expected, ShardWorkload, Workload};

use super::{Check, Replay, check};
use crate::engine::clients::Shed;
use crate::engine::driver::DriverReport;
use crate::engine::host::Shard;

/// One shard's released stream, its answer key and what the engine rejected.
pub(super) struct ShardOutcomes<'a> {
    shard: &'a Shard,
    part: &'a ShardWorkload,
    /// Transactions the driver released (a prefix of the stream).
    released: usize,
    /// The engine's intra-shard rejections, by stream position.
    rejected: HashMap<u32, RejectReason>,
    /// The transactions shed, by stream position.
    shed: HashMap<u32, Shed>,
}

impl<'a> ShardOutcomes<'a> {
    /// Every shard's view, in shard order.
    pub(super) fn collect(
        workload: &'a Workload,
        shards: &'a [Shard],
        driver: &DriverReport,
    ) -> Vec<ShardOutcomes<'a>> {
        shards
            .iter()
            .map(|shard| {
                let id = shard.id.0 as usize;
                ShardOutcomes {
                    shard,
                    part: &workload.shards[id],
                    released: driver.released.get(id).copied().unwrap_or(0) as usize,
                    rejected: shard.clients.rejections.iter().copied().collect(),
                    shed: shard.clients.shed.iter().copied().collect(),
                }
            })
            .collect()
    }
}

/// `canaries`: every released canary (a bad signature, an unknown input, a double spend
/// the workload planted, DESIGN.md §2) was rejected by the engine for its reason and is
/// not in the log: proof that the checks ran.
pub(super) fn canaries_check(outcomes: &[ShardOutcomes<'_>], replays: &[Replay]) -> Check {
    let mut problems = Vec::new();
    let mut by_kind: BTreeMap<&'static str, u64> = BTreeMap::new();
    let mut shed = 0u64;
    for o in outcomes {
        let id = o.shard.id;
        for &i in o
            .part
            .canaries
            .iter()
            .filter(|i| (**i as usize) < o.released)
        {
            if o.shed.contains_key(&i) {
                shed += 1;
                continue;
            }
            let Expected::Invalid(reason) = o.part.expected[i as usize] else {
                problems.push(format!("shard {id} canary {i} is not expected rejected"));
                continue;
            };
            *by_kind.entry(reason.as_str()).or_default() += 1;
            match o.rejected.get(&i) {
                Some(r) if *r == reason => {}
                Some(r) => problems.push(format!(
                    "shard {id} canary {i} ({}) rejected as {}",
                    reason.as_str(),
                    r.as_str()
                )),
                None => problems.push(format!(
                    "shard {id} canary {i} ({}) was not rejected",
                    reason.as_str()
                )),
            }
        }
    }
    let logged: u64 = replays.iter().map(|r| r.canaries_logged).sum();
    if logged > 0 {
        problems.push(format!("{logged} canaries are in the block log"));
    }
    let released: u64 = by_kind.values().sum();
    let kinds = by_kind
        .iter()
        .map(|(k, n)| format!("{k} {n}"))
        .collect::<Vec<_>>()
        .join(", ");
    check(
        "canaries",
        problems.is_empty(),
        if problems.is_empty() {
            format!(
                "{released} canaries released and not shed ({kinds}), each rejected for its reason and absent from the log{}",
                if shed > 0 {
                    format!("; {shed} more shed")
                } else {
                    String::new()
                }
            )
        } else {
            format!(
                "{} problems of {released} canaries released, first: {}",
                problems.len(),
                problems[0]
            )
        },
    )
}

/// `outcomes_as_expected`: each released intra-shard transaction's outcome, as the engine
/// reported it (its rejections), is the answer key's; the log holds exactly the stream's
/// valid released transactions, as many as the engine counted final.
pub(super) fn outcomes_check(outcomes: &[ShardOutcomes<'_>], replays: &[Replay]) -> Check {
    let mut mismatched = 0u64;
    let mut first = None;
    for o in outcomes {
        for (index, expected) in o.part.expected.iter().enumerate().take(o.released) {
            let got = o.rejected.get(&(index as u32));
            if o.shed.contains_key(&(index as u32)) {
                // Shed, it never reached the validators: nothing may have judged it.
                if got.is_some() {
                    mismatched += 1;
                    first.get_or_insert_with(|| {
                        format!("shard {} tx {index}: shed, yet rejected", o.shard.id)
                    });
                }
                continue;
            }
            let ok = match (expected, got) {
                (Expected::Valid, got) => got.is_none(),
                (Expected::Invalid(reason), Some(got)) => reason == got,
                (Expected::Invalid(_), None) => false,
                (Expected::Cross(_), _) => true,
            };
            if !ok {
                mismatched += 1;
                first.get_or_insert_with(|| {
                    let engine = got.map_or("did not reject it".into(), |r| {
                        format!("rejected it as {}", r.as_str())
                    });
                    format!(
                        "shard {} tx {index}: expected {expected:?}, engine {engine}",
                        o.shard.id
                    )
                });
            }
        }
    }
    let mut logged_vs_expected = Vec::new();
    for (o, replay) in outcomes.iter().zip(replays) {
        let id = o.shard.id;
        if replay.out_of_stream > 0 || replay.missing_valid > 0 {
            logged_vs_expected.push(format!(
                "shard {id}: {} logged transactions are not a valid released transaction of the stream (or are logged twice), {} valid released ones are missing",
                replay.out_of_stream, replay.missing_valid
            ));
        }
        if replay.txs != o.shard.node.counters.final_ {
            logged_vs_expected.push(format!(
                "shard {id}: {} logged, engine counted {} final",
                replay.txs, o.shard.node.counters.final_
            ));
        }
    }
    check(
        "outcomes_as_expected",
        mismatched == 0 && logged_vs_expected.is_empty(),
        match (first, logged_vs_expected.first()) {
            (None, None) => {
                "every valid transaction final (the log holds exactly the stream's valid released transactions, each once, witnesses included), every invalid one rejected for the injected reason"
                    .into()
            }
            (Some(first), _) => format!("{mismatched} outcomes differ; first: {first}"),
            (None, Some(diff)) => diff.clone(),
        },
    )
}

/// `shed_justified`: every transaction a client gave up because of another depends on
/// a shed one — spends an output of a shed transaction of its stream, or waits for a
/// shed one (the waits clients know, `Workload::dependencies`, derived here again from
/// the streams) — and every shed one was released. (The rest were abandoned unadmitted
/// at the end, which the intake's bound alone decides.)
pub(super) fn shed_check(workload: &Workload, outcomes: &[ShardOutcomes<'_>]) -> Check {
    let mut problems = Vec::new();
    let (mut abandoned, mut cascaded) = (0u64, 0u64);
    for o in outcomes {
        let given_up = o.shed.values().filter(|c| **c == Shed::Abandoned).count() as u64;
        abandoned += given_up;
        cascaded += o.shed.len() as u64 - given_up;
        if let Some(index) = o.shed.keys().find(|i| **i as usize >= o.released) {
            problems.push(format!(
                "shard {} tx {index}: shed, yet never released",
                o.shard.id
            ));
        }
    }
    if cascaded > 0 {
        // Whose waits a shed transaction ends: by (shard, position).
        let dependencies = workload.dependencies();
        let mut waits_on_shed: HashSet<(u32, u32)> = HashSet::new();
        for o in outcomes {
            let waiters = &dependencies.shards[o.shard.id.0 as usize].waiters;
            for index in o.shed.keys() {
                for (shard, waiter) in waiters.get(index).into_iter().flatten() {
                    waits_on_shed.insert((shard.0, *waiter));
                }
            }
        }
        for o in outcomes {
            let shed_ids: HashSet<TxId> = o
                .shed
                .keys()
                .map(|&i| o.part.txs[i as usize].id())
                .collect();
            for (&index, _) in o.shed.iter().filter(|(_, c)| **c == Shed::Cascaded) {
                let spends_shed = o.part.txs[index as usize]
                    .inputs
                    .iter()
                    .any(|input| shed_ids.contains(&input.tx));
                if !spends_shed && !waits_on_shed.contains(&(o.shard.id.0, index)) {
                    problems.push(format!(
                        "shard {} tx {index}: given up by its client, yet it depends on no shed transaction",
                        o.shard.id
                    ));
                }
            }
        }
    }
    check(
        "shed_justified",
        problems.is_empty(),
        if problems.is_empty() {
            format!(
                "{abandoned} transactions never admitted before their clients gave up at the end, {cascaded} more given up because each depends on a shed one"
            )
        } else {
            format!("{} problems, first: {}", problems.len(), problems[0])
        },
    )
}
