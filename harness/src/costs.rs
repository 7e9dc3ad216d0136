//! Costs by role and the projection to one validator per core (DESIGN.md §2, the cost
//! model).
//!
//! A shard's worker computes the work of all its validators: every believable
//! validator's ordering, the normal league's checks and samples, the FinalBlock leader
//! and every signer's partial signature, plus the shard's clients and the host. Each
//! shard's [`RoleMeter`](ioschain_core::node::meter::RoleMeter) splits the worker's busy
//! time into those roles (switched per batch or block, never per transaction). From it:
//!
//! - `roles.<role>`: µs per admitted transaction (submitted and not shed: a shed one
//!   costs only its client's giving up, charged to `clients`) and share of busy time,
//!   summed over shards — what the measured throughput paid for;
//! - `projected`: what one shard would sustain if each validator had a core like this
//!   one, set by its slowest validator (see [`Projection`]). It is a projection from
//!   measured costs: the network, and anything a validator does that a shard's worker
//!   does once for all of them (the UTXO view is applied once per league here), are
//!   not in it.

use std::collections::BTreeMap;

use ioschain_core::node::meter::Role;
pub use ioschain_reports::summary::{Cost, Limits, Projection, RoleCost};

use crate::engine::host::Shard;

/// The roles a run reports: all but idle.
fn reported() -> impl Iterator<Item = Role> {
    Role::ALL.into_iter().filter(|&role| role != Role::Idle)
}

/// `roles` and `projected` of a run's summary; empty and `None` when nothing was
/// metered (a simulation, or a run that submitted nothing).
pub fn role_costs(shards: &[Shard]) -> (BTreeMap<String, RoleCost>, Option<Projection>) {
    let mut ns = [0u64; Role::ALL.len()];
    let mut admitted = 0u64;
    for shard in shards {
        for (total, n) in ns.iter_mut().zip(shard.node.meter.ns) {
            *total += n;
        }
        admitted += shard.counters().submitted - shard.shed();
    }
    let busy: u64 = reported().map(|r| ns[r.index()]).sum();
    if busy == 0 || admitted == 0 {
        return (BTreeMap::new(), None);
    }
    let roles = reported()
        .map(|role| {
            let n = ns[role.index()] as f64;
            let cost = RoleCost {
                us_per_tx: n / 1e3 / admitted as f64,
                share: n / busy as f64,
            };
            (role.as_str().to_string(), cost)
        })
        .collect();
    let per_shard: Vec<Projection> = shards.iter().filter_map(project).collect();
    if per_shard.is_empty() {
        return (roles, None);
    }
    let k = per_shard.len() as f64;
    let mean = |f: fn(&Projection) -> f64| per_shard.iter().map(f).sum::<f64>() / k;
    let believable = mean(|p| p.believable_us_per_tx);
    let leader = mean(|p| p.leader_us_per_tx);
    let projection = Projection {
        node_tps: mean(|p| p.node_tps),
        federation_tps: per_shard.iter().map(|p| p.node_tps).sum(),
        believable_us_per_tx: believable,
        normal_us_per_tx: mean(|p| p.normal_us_per_tx),
        leader_us_per_tx: leader,
        slowest: slowest(believable, leader),
    };
    (roles, Some(projection))
}

/// `cost` of a run's summary from its `roles` and the ceilings measured with it: `None`
/// without role timers or without the model ceiling (`--no-limits`).
pub fn cost(roles: &BTreeMap<String, RoleCost>, limits: Option<&Limits>) -> Option<Cost> {
    let limits = limits?;
    let model = limits.model_tx_per_s?;
    if roles.is_empty() || limits.cores == 0 || model <= 0.0 {
        return None;
    }
    // One model transaction costs `cores / model` CPU-seconds on these cores.
    let in_model = |us: f64| us * 1e-6 * model / limits.cores as f64;
    let us_per_tx: f64 = roles.values().map(|c| c.us_per_tx).sum();
    Some(Cost {
        us_per_tx,
        model_txs: in_model(us_per_tx),
        roles: roles
            .iter()
            .map(|(name, c)| (name.clone(), in_model(c.us_per_tx)))
            .collect(),
    })
}

/// One shard's projection: per transaction of its traffic, a believable validator
/// carries `ordering / L`; a normal validator `checking + sampling / S + signing / K +
/// atomix` (S samplers per OptBlock, K signers per FinalBlock, each doing its own
/// share); the leader, itself a normal validator, adds `leader + coordinator`.
fn project(shard: &Shard) -> Option<Projection> {
    let txs = shard.counters().submitted - shard.shed();
    let ns = &shard.node.meter.ns;
    if txs == 0 || ns.iter().all(|&n| n == 0) {
        return None;
    }
    let us = |role: Role| ns[role.index()] as f64 / 1e3 / txs as f64;
    let pob = &shard.node.pob;
    let per = |total: u64, over: u64| {
        if over == 0 {
            1.0
        } else {
            (total as f64 / over as f64).max(1.0)
        }
    };
    let league = shard.node.pob_params().believable.max(1) as f64;
    let samplers = per(pob.vrf_proofs, pob.opt_blocks);
    let signers = per(pob.cosigners, shard.node.counters.blocks);
    let believable = us(Role::Ordering) / league;
    let normal = us(Role::Checking)
        + us(Role::Sampling) / samplers
        + us(Role::Signing) / signers
        + us(Role::Atomix);
    let leader = normal + us(Role::Leader) + us(Role::Coordinator);
    let slowest_us = believable.max(leader);
    Some(Projection {
        node_tps: 1e6 / slowest_us,
        federation_tps: 1e6 / slowest_us,
        believable_us_per_tx: believable,
        normal_us_per_tx: normal,
        leader_us_per_tx: leader,
        slowest: slowest(believable, leader),
    })
}

/// Which validator sets the projection: `believable` or `leader`.
fn slowest(believable_us: f64, leader_us: f64) -> String {
    if believable_us > leader_us {
        "believable"
    } else {
        "leader"
    }
    .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(cores: usize, model: Option<f64>) -> Limits {
        Limits {
            cores,
            model_tx_per_s: model,
            ..Limits::default()
        }
    }

    #[test]
    fn cost_is_busy_time_in_model_transactions_of_the_run_s_cores() {
        let roles: BTreeMap<String, RoleCost> = [("ordering", 15.0), ("atomix", 5.0)]
            .into_iter()
            .map(|(name, us)| {
                let cost = RoleCost {
                    us_per_tx: us,
                    share: us / 20.0,
                };
                (name.to_string(), cost)
            })
            .collect();
        // 200,000 model tx/s on 2 cores: one model transaction is 10 µs of one core.
        let cost = cost(&roles, Some(&limits(2, Some(200_000.0)))).expect("measured");
        assert!((cost.us_per_tx - 20.0).abs() < 1e-9);
        assert!((cost.model_txs - 2.0).abs() < 1e-9, "{cost:?}");
        assert!((cost.roles["ordering"] - 1.5).abs() < 1e-9);
        assert!((cost.roles["atomix"] - 0.5).abs() < 1e-9);
        // Without the model ceiling (--no-limits) or without role timers: no cost.
        assert_eq!(super::cost(&roles, None), None);
        assert_eq!(super::cost(&roles, Some(&limits(2, None))), None);
        assert_eq!(
            super::cost(&BTreeMap::new(), Some(&limits(2, Some(1.0)))),
            None
        );
    }
}
