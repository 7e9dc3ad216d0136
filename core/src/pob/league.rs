//! League selection per shard per epoch (PROTOCOL.md §6.3, fallback §6.5).
//!
//! Weighted sampling without replacement (Efraimidis–Spirakis): every eligible
//! validator `i` draws `u_i` uniform in (0, 1) from `PRG(rnd_e ‖ shard ‖ pk_i)` and gets
//! the key `u_i^(1/B_i)`; the `L` largest keys form the believable league, everyone else
//! is in the normal league. The draw is a pure function of the epoch randomness, the
//! shard and the records, so anyone can recheck it, and no validator can choose its
//! `u_i`. When fewer than `L_min` validators are eligible, the shard runs one league
//! (every validator normal; the normal league orders and finalizes everything).
//!
//! Keys are compared as `ln(u_i) / B_i` (same order as `u_i^(1/B_i)`, no underflow).

use crate::pob::score::{ScoreParams, ValidatorRecord, believability};
use crate::prg::Prg;
use crate::types::{Hash, ShardId, ValidatorId};

/// The leagues of one shard for one epoch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Leagues {
    /// Believable-first operation.
    Split {
        /// The believable league, in selection order (index = league index `b`).
        believable: Vec<ValidatorId>,
        /// The normal league.
        normal: Vec<ValidatorId>,
    },
    /// Fallback: too few eligible validators; one league does everything.
    Single {
        /// Every validator.
        normal: Vec<ValidatorId>,
    },
}

impl Leagues {
    /// The believable league (empty in the fallback).
    pub fn believable(&self) -> &[ValidatorId] {
        match self {
            Leagues::Split { believable, .. } => believable,
            Leagues::Single { .. } => &[],
        }
    }

    /// The normal league.
    pub fn normal(&self) -> &[ValidatorId] {
        match self {
            Leagues::Split { normal, .. } | Leagues::Single { normal } => normal,
        }
    }
}

/// Selects `league_size` believable validators from `records` (see the module doc).
pub fn select_leagues(
    records: &[ValidatorRecord],
    params: &ScoreParams,
    randomness: &Hash,
    shard: ShardId,
    league_size: usize,
    league_min: usize,
) -> Leagues {
    let scores = believability(records, params);
    let mut keyed: Vec<(f64, ValidatorId)> = records
        .iter()
        .zip(&scores)
        .filter(|(_, score)| **score > 0.0)
        .map(|(record, score)| {
            let mut prg = Prg::new(&[
                b"ioschain/league",
                &randomness.0,
                &shard.0.to_le_bytes(),
                &record.key,
            ]);
            // (0, 1]: never ln(0).
            let u = 1.0 - prg.unit();
            (u.ln() / score, record.id)
        })
        .collect();
    if keyed.len() < league_min.max(1) {
        return Leagues::Single {
            normal: records.iter().map(|r| r.id).collect(),
        };
    }
    // Largest key first; ties (practically impossible) broken by validator id.
    keyed.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    let believable: Vec<ValidatorId> = keyed.iter().take(league_size).map(|(_, id)| *id).collect();
    let normal = records
        .iter()
        .map(|r| r.id)
        .filter(|id| !believable.contains(id))
        .collect();
    Leagues::Split { believable, normal }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::hash::Domain;

    fn records(n: u32) -> Vec<ValidatorRecord> {
        (0..n)
            .map(|i| {
                let mut key = [0u8; 32];
                key[..4].copy_from_slice(&i.to_le_bytes());
                ValidatorRecord::new(ValidatorId(i), key, 1000 + u64::from(i) * 10, 100)
            })
            .collect()
    }

    fn epoch(e: u64) -> Hash {
        Domain::Prg.hash(&e.to_le_bytes())
    }

    #[test]
    fn selection_is_deterministic_and_partitions_the_roster() {
        let rs = records(20);
        let a = select_leagues(&rs, &ScoreParams::default(), &epoch(1), ShardId(0), 4, 2);
        assert_eq!(
            a,
            select_leagues(&rs, &ScoreParams::default(), &epoch(1), ShardId(0), 4, 2)
        );
        assert_eq!(a.believable().len(), 4);
        assert_eq!(a.normal().len(), 16);
        let mut all: Vec<_> = a.believable().iter().chain(a.normal()).copied().collect();
        all.sort();
        assert_eq!(all, (0..20).map(ValidatorId).collect::<Vec<_>>());
    }

    #[test]
    fn randomness_and_shard_change_the_selection() {
        let rs = records(40);
        let p = ScoreParams::default();
        let base = select_leagues(&rs, &p, &epoch(1), ShardId(0), 4, 2);
        assert_ne!(base, select_leagues(&rs, &p, &epoch(2), ShardId(0), 4, 2));
        assert_ne!(base, select_leagues(&rs, &p, &epoch(1), ShardId(1), 4, 2));
    }

    #[test]
    fn banned_and_low_reputation_validators_are_never_believable() {
        let mut rs = records(10);
        rs[3].slash();
        rs[5].reputation = 100;
        for e in 0..50 {
            let leagues = select_leagues(&rs, &ScoreParams::default(), &epoch(e), ShardId(0), 4, 2);
            assert!(!leagues.believable().contains(&ValidatorId(3)));
            assert!(!leagues.believable().contains(&ValidatorId(5)));
        }
    }

    #[test]
    fn too_few_eligible_validators_fall_back_to_one_league() {
        let mut rs = records(6);
        for r in rs.iter_mut().skip(1) {
            r.banned = true;
        }
        let leagues = select_leagues(&rs, &ScoreParams::default(), &epoch(0), ShardId(0), 4, 2);
        assert!(matches!(leagues, Leagues::Single { .. }));
        assert!(leagues.believable().is_empty());
        assert_eq!(leagues.normal().len(), 6);
    }

    #[test]
    fn selection_probability_is_proportional_to_score() {
        let mut rs = records(20);
        for r in &mut rs {
            r.servi = 0;
        }
        rs[0].servi = 1000; // the only Servi holder: +0.4 on its score
        let scores = believability(&rs, &ScoreParams::default());
        // With one seat, Efraimidis–Spirakis picks i with probability B_i / Σ B.
        let expected = scores[0] / scores.iter().sum::<f64>();
        let trials = 2000;
        let picked = (0..trials)
            .filter(|e| {
                select_leagues(&rs, &ScoreParams::default(), &epoch(*e), ShardId(0), 1, 1)
                    .believable()
                    == [ValidatorId(0)]
            })
            .count() as f64;
        let sd = (trials as f64 * expected * (1.0 - expected)).sqrt();
        // Within four standard deviations of the exact probability (≈8.7% here; a uniform
        // draw would give 5%).
        assert!(
            (picked - trials as f64 * expected).abs() < 4.0 * sd,
            "{picked} of {trials}, expected {expected}"
        );
    }

    #[test]
    fn servi_reset_rotates_the_believable_league_over_epochs() {
        let mut rs = records(16);
        let mut ever = std::collections::BTreeSet::new();
        let mut first = None;
        for e in 0..30 {
            let leagues = select_leagues(&rs, &ScoreParams::default(), &epoch(e), ShardId(0), 4, 2);
            first.get_or_insert_with(|| leagues.believable().to_vec());
            for id in leagues.believable() {
                ever.insert(*id);
                rs[id.0 as usize].on_block_finalized();
            }
            for r in rs.iter_mut() {
                r.accrue_servi(10);
            }
        }
        assert!(
            ever.len() >= 12,
            "only {} of 16 validators ever believable",
            ever.len()
        );
    }
}
