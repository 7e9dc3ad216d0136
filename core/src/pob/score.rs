//! The believability score of PROTOCOL.md §6.3 ([PROPOSAL]):
//!
//! ```text
//! B_i = w_T·T_i + w_S·S_i + w_R·R_i        (0 if ineligible)
//! T_i = ln(1 + stake_i) / ln(1 + stake_max) concave in stake: limits plutocracy
//! S_i = servi_i / max_j servi_j            Servi accrues with contributions and is reset
//!                                          to 0 when i's OptBlock is finalized
//! R_i ∈ [0, 1]: starts at 0.5, +0.01 per finalized OptBlock without fraud,
//!               −0.05 per missed duty, 0 and banned on proven fraud
//! eligible: stake ≥ min_stake, R_i ≥ min_reputation, not banned
//! ```
//!
//! Reputation is kept in integer thousandths so its updates are exact; the score itself
//! is a float used only for ranking inside one shard's league selection.

use crate::types::ValidatorId;

/// Reputation scale: 1000 = 1.0.
pub const REPUTATION_ONE: u32 = 1000;
/// Starting reputation (0.5).
pub const REPUTATION_START: u32 = 500;
/// Reputation gained per finalized OptBlock with no fraud (0.01).
pub const REPUTATION_CLEAN_BLOCK: u32 = 10;
/// Reputation lost per missed duty (0.05).
pub const REPUTATION_MISSED_DUTY: u32 = 50;

/// One validator's standing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidatorRecord {
    /// Index in the shard's roster.
    pub id: ValidatorId,
    /// Compressed public key (seeds the selection randomness).
    pub key: [u8; 32],
    /// Bonded stake.
    pub stake: u64,
    /// Servi balance (not tradable; cleared when the validator's block is finalized).
    pub servi: u64,
    /// Reputation in thousandths, `0..=REPUTATION_ONE`.
    pub reputation: u32,
    /// Banned after proven fraud (for the rest of the run).
    pub banned: bool,
}

impl ValidatorRecord {
    /// A validator with `stake` and `servi`, starting reputation, not banned.
    pub fn new(id: ValidatorId, key: [u8; 32], stake: u64, servi: u64) -> Self {
        ValidatorRecord {
            id,
            key,
            stake,
            servi,
            reputation: REPUTATION_START,
            banned: false,
        }
    }

    /// Servi minted for `units` of contribution.
    pub fn accrue_servi(&mut self, units: u64) {
        self.servi = self.servi.saturating_add(units);
    }

    /// One of the validator's OptBlocks was finalized with no fraud: Servi is spent
    /// (reset, so high scorers take turns) and reputation grows.
    pub fn on_block_finalized(&mut self) {
        self.servi = 0;
        self.reputation = (self.reputation + REPUTATION_CLEAN_BLOCK).min(REPUTATION_ONE);
    }

    /// The validator missed a duty (crash, timeout).
    pub fn on_missed_duty(&mut self) {
        self.reputation = self.reputation.saturating_sub(REPUTATION_MISSED_DUTY);
    }

    /// Proven fraud: stake slashed to zero, reputation zero, banned. Returns the slashed
    /// stake (the compensation pool).
    pub fn slash(&mut self) -> u64 {
        let slashed = self.stake;
        self.stake = 0;
        self.reputation = 0;
        self.banned = true;
        self.servi = 0;
        slashed
    }
}

/// Weights and eligibility thresholds of the score.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ScoreParams {
    /// Weight of stake, `w_T`.
    pub weight_stake: f64,
    /// Weight of Servi, `w_S`.
    pub weight_servi: f64,
    /// Weight of reputation, `w_R`.
    pub weight_reputation: f64,
    /// Least stake to be eligible.
    pub min_stake: u64,
    /// Least reputation (thousandths) to be eligible.
    pub min_reputation: u32,
}

impl Default for ScoreParams {
    /// PROTOCOL.md §6.3 defaults: `w_T = 0.4, w_S = 0.4, w_R = 0.2`, reputation ≥ 0.3.
    fn default() -> Self {
        ScoreParams {
            weight_stake: 0.4,
            weight_servi: 0.4,
            weight_reputation: 0.2,
            min_stake: 1,
            min_reputation: 300,
        }
    }
}

impl ScoreParams {
    /// Whether `record` may be in the believable league.
    pub fn eligible(&self, record: &ValidatorRecord) -> bool {
        !record.banned && record.stake >= self.min_stake && record.reputation >= self.min_reputation
    }
}

/// The believability score of every record, in order (0 for the ineligible).
pub fn believability(records: &[ValidatorRecord], params: &ScoreParams) -> Vec<f64> {
    let stake_max = records.iter().map(|r| r.stake).max().unwrap_or(0);
    let servi_max = records.iter().map(|r| r.servi).max().unwrap_or(0);
    let stake_norm = (1.0 + stake_max as f64).ln();
    records
        .iter()
        .map(|r| {
            if !params.eligible(r) {
                return 0.0;
            }
            let t = if stake_max == 0 {
                0.0
            } else {
                (1.0 + r.stake as f64).ln() / stake_norm
            };
            let s = if servi_max == 0 {
                0.0
            } else {
                r.servi as f64 / servi_max as f64
            };
            let rep = f64::from(r.reputation) / f64::from(REPUTATION_ONE);
            params.weight_stake * t + params.weight_servi * s + params.weight_reputation * rep
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(i: u32, stake: u64, servi: u64) -> ValidatorRecord {
        ValidatorRecord::new(ValidatorId(i), [i as u8; 32], stake, servi)
    }

    #[test]
    fn scores_are_in_unit_range_and_top_record_scores_highest() {
        let records = vec![record(0, 1000, 50), record(1, 10, 5), record(2, 1000, 100)];
        let scores = believability(&records, &ScoreParams::default());
        assert!(scores.iter().all(|s| (0.0..=1.0).contains(s)), "{scores:?}");
        assert!(scores[2] > scores[0] && scores[0] > scores[1], "{scores:?}");
    }

    #[test]
    fn stake_counts_concavely() {
        let records = vec![record(0, 1_000_000, 0), record(1, 1_000, 0)];
        let scores = believability(&records, &ScoreParams::default());
        // A thousandth of the stake keeps about half of the stake term (ln scale).
        let ratio = (scores[1] - 0.1) / (scores[0] - 0.1);
        assert!((0.45..0.55).contains(&ratio), "{ratio}");
    }

    #[test]
    fn slashed_validator_is_banned_and_scores_zero() {
        let mut records = vec![record(0, 1000, 50), record(1, 500, 50)];
        assert_eq!(records[0].slash(), 1000);
        let scores = believability(&records, &ScoreParams::default());
        assert_eq!(scores[0], 0.0);
        assert!(scores[1] > 0.0);
        assert!(records[0].banned && records[0].reputation == 0);
    }

    #[test]
    fn missed_duties_make_a_validator_ineligible() {
        let mut r = record(0, 1000, 10);
        let params = ScoreParams::default();
        for _ in 0..4 {
            r.on_missed_duty();
        }
        assert_eq!(r.reputation, 300);
        assert!(params.eligible(&r));
        r.on_missed_duty();
        assert!(!params.eligible(&r));
    }

    #[test]
    fn finalization_spends_servi_and_grows_reputation_up_to_one() {
        let mut r = record(0, 1000, 99);
        r.on_block_finalized();
        assert_eq!(
            (r.servi, r.reputation),
            (0, REPUTATION_START + REPUTATION_CLEAN_BLOCK)
        );
        for _ in 0..100 {
            r.on_block_finalized();
        }
        assert_eq!(r.reputation, REPUTATION_ONE);
    }
}
