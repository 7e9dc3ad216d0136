//! The parameters of a workload and their validation.

use ioschain_core::crypto::hash::Domain;
use ioschain_core::tx::{TX_INPUTS_MAX, TX_OUTPUTS_MAX};
use ioschain_core::types::Hash;

/// How senders are drawn from a shard's accounts.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum SenderDistribution {
    /// Every account equally likely.
    Uniform,
    /// Zipf with exponent `theta` over the shard's accounts (rank 1 hottest).
    Zipf {
        /// The exponent, `> 0` (0.99 is YCSB's default skew).
        theta: f64,
    },
}

/// Everything that determines a workload.
#[derive(Clone, Debug, PartialEq)]
pub struct WorkloadSpec {
    /// Seed of every random choice (and of the account keys).
    pub seed: u64,
    /// Shards; accounts are placed by the owner-keyed mapping.
    pub shards: u32,
    /// Accounts (owners) in total.
    pub accounts: u32,
    /// Outputs each account holds at genesis.
    pub utxos_per_account: u32,
    /// Amount of each genesis output.
    pub genesis_amount: u64,
    /// Inputs per transaction.
    pub inputs_per_tx: u32,
    /// Outputs per transaction (the last is the sender's change when above 1).
    pub outputs_per_tx: u32,
    /// How senders are drawn.
    pub sender: SenderDistribution,
    /// Fraction of transactions that are deliberately invalid, `0..=1`.
    pub invalid_fraction: f64,
    /// Fraction of intra-shard transactions whose client signs with an edge case
    /// ([`crate::edge::EdgeSignature`]: torsion components, non-canonical encodings,
    /// `S ≥ L`, …), `0..=1`; each is expected valid or rejected as ZIP-215 rules.
    pub client_edge_signatures: f64,
    /// Fraction of intra-shard transactions that are canaries: a bad signature, an
    /// unknown input or a double spend, `0..=1` (0 turns them off; otherwise each stream
    /// also carries one of each kind early, see `CANARY_EARLY`). A correct engine rejects
    /// every canary for its reason; the oracle checks it did.
    pub canary_rate: f64,
    /// Transactions in each shard's stream (valid and invalid).
    pub txs_per_shard: u64,
    /// Fraction of each stream's transactions that are cross-shard, `0..=1` (needs at
    /// least 2 shards when above 0).
    pub cross_shard: f64,
    /// A cross-shard transaction takes its inputs from 1 to this many shards (at most
    /// `shards` and `inputs_per_tx`).
    pub cross_input_shards: u32,
    /// Stream positions an output must age before a cross-shard transaction spends it,
    /// and before an output a cross-shard transaction created is spent.
    pub cross_maturity: u32,
    /// Fraction of cross-shard transactions drawn as conflicting pairs, `0..=1`. A pair
    /// takes one input from each of two shards (whatever `cross_input_shards` says);
    /// without at least 2 inputs per transaction no pair is drawn.
    pub cross_conflicts: f64,
    /// How the clients of cross-shard transactions misbehave.
    pub clients: ClientMix,
}

/// Fractions of cross-shard transactions whose clients misbehave, each `0..=1`, summing
/// to at most 1 (the rest are honest).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ClientMix {
    /// Never send the unlock.
    pub never_unlock: f64,
    /// Send the unlock-to-commit to one shard only.
    pub partial_commit: f64,
    /// Forge a proof of acceptance.
    pub forged_proof: f64,
    /// Replay the unlock-to-commit after the commit.
    pub replay_commit: f64,
}

/// A spec value outside its allowed range.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("workload.{key} = {value} is not allowed: {allowed}")]
pub struct SpecError {
    /// The offending key.
    pub key: &'static str,
    /// Its value.
    pub value: String,
    /// What is allowed.
    pub allowed: String,
}

fn bad(key: &'static str, value: impl ToString, allowed: impl ToString) -> SpecError {
    SpecError {
        key,
        value: value.to_string(),
        allowed: allowed.to_string(),
    }
}

/// Bumped whenever generation changes, so stale caches are never reused.
const FORMAT_VERSION: u32 = 3;

/// Slack for the sum of the client fractions (so `0.1 + 0.2 + 0.3 + 0.4` passes).
const FRACTION_SUM_SLACK: f64 = 1e-9;

impl WorkloadSpec {
    /// Checks every value's range.
    pub fn validate(&self) -> Result<(), SpecError> {
        if self.shards == 0 {
            return Err(bad("shards", self.shards, "at least 1"));
        }
        if self.accounts < 2 * self.shards {
            return Err(bad(
                "accounts",
                self.accounts,
                format!("at least 2 per shard ({})", 2 * self.shards),
            ));
        }
        if self.utxos_per_account == 0 {
            return Err(bad(
                "utxos_per_account",
                self.utxos_per_account,
                "at least 1",
            ));
        }
        if !(1..=TX_INPUTS_MAX as u32).contains(&self.inputs_per_tx) {
            return Err(bad(
                "inputs_per_tx",
                self.inputs_per_tx,
                format!("1..={TX_INPUTS_MAX}"),
            ));
        }
        if self.inputs_per_tx > self.utxos_per_account {
            return Err(bad(
                "inputs_per_tx",
                self.inputs_per_tx,
                format!("at most utxos_per_account ({})", self.utxos_per_account),
            ));
        }
        if !(1..=TX_OUTPUTS_MAX as u32).contains(&self.outputs_per_tx) {
            return Err(bad(
                "outputs_per_tx",
                self.outputs_per_tx,
                format!("1..={TX_OUTPUTS_MAX}"),
            ));
        }
        if self.genesis_amount < u64::from(self.outputs_per_tx) * 1000 {
            return Err(bad(
                "genesis_amount",
                self.genesis_amount,
                format!(
                    "at least 1000 × outputs_per_tx ({})",
                    u64::from(self.outputs_per_tx) * 1000
                ),
            ));
        }
        let supply = u128::from(self.accounts)
            * u128::from(self.utxos_per_account)
            * u128::from(self.genesis_amount);
        if supply > u128::from(u64::MAX / 2) {
            return Err(bad(
                "genesis_amount",
                self.genesis_amount,
                "small enough that accounts × utxos_per_account × genesis_amount stays below 2^63 (amounts are u64)",
            ));
        }
        if !(0.0..=1.0).contains(&self.invalid_fraction) {
            return Err(bad("invalid_fraction", self.invalid_fraction, "0.0..=1.0"));
        }
        if !(0.0..=1.0).contains(&self.canary_rate) {
            return Err(bad("canary_rate", self.canary_rate, "0.0..=1.0"));
        }
        if !(0.0..=1.0).contains(&self.client_edge_signatures) {
            return Err(bad(
                "client_edge_signatures",
                self.client_edge_signatures,
                "0.0..=1.0",
            ));
        }
        if let SenderDistribution::Zipf { theta } = self.sender
            && !(theta > 0.0 && theta.is_finite())
        {
            return Err(bad("zipf_theta", theta, "a finite number above 0"));
        }
        if self.txs_per_shard == 0 {
            return Err(bad("txs_per_shard", self.txs_per_shard, "at least 1"));
        }
        self.validate_cross()
    }

    /// Checks the cross-shard keys.
    fn validate_cross(&self) -> Result<(), SpecError> {
        if !(0.0..=1.0).contains(&self.cross_shard) {
            return Err(bad("cross_shard", self.cross_shard, "0.0..=1.0"));
        }
        if self.cross_shard > 0.0 && self.txs_per_shard > u64::from(u32::MAX) {
            return Err(bad(
                "txs_per_shard",
                self.txs_per_shard,
                format!(
                    "at most {} with cross-shard transactions (their positions are u32)",
                    u32::MAX
                ),
            ));
        }
        if self.cross_shard > 0.0 && self.shards < 2 {
            return Err(bad(
                "cross_shard",
                self.cross_shard,
                format!("0 with a single shard (shards = {})", self.shards),
            ));
        }
        if self.cross_input_shards == 0 {
            return Err(bad(
                "cross_input_shards",
                self.cross_input_shards,
                "at least 1",
            ));
        }
        let most_input_shards = self.shards.min(self.inputs_per_tx);
        if self.cross_shard > 0.0 && self.cross_input_shards > most_input_shards {
            return Err(bad(
                "cross_input_shards",
                self.cross_input_shards,
                format!("1..={most_input_shards} (at most shards and inputs_per_tx)"),
            ));
        }
        if self.cross_maturity == 0 {
            return Err(bad("cross_maturity", self.cross_maturity, "at least 1"));
        }
        if !(0.0..=1.0).contains(&self.cross_conflicts) {
            return Err(bad("cross_conflicts", self.cross_conflicts, "0.0..=1.0"));
        }
        let clients = &self.clients;
        let fractions = [
            ("clients.never_unlock", clients.never_unlock),
            ("clients.partial_commit", clients.partial_commit),
            ("clients.forged_proof", clients.forged_proof),
            ("clients.replay_commit", clients.replay_commit),
        ];
        for (key, fraction) in fractions {
            if !(0.0..=1.0).contains(&fraction) {
                return Err(bad(key, fraction, "0.0..=1.0"));
            }
        }
        let sum: f64 = fractions.iter().map(|(_, fraction)| fraction).sum();
        if sum > 1.0 + FRACTION_SUM_SLACK {
            return Err(bad(
                "clients",
                format!("fractions summing to {sum}"),
                "fractions summing to at most 1",
            ));
        }
        Ok(())
    }

    /// A hash of every parameter and the generator's format version: the cache key.
    pub fn key(&self) -> Hash {
        let (kind, theta) = match self.sender {
            SenderDistribution::Uniform => (0u8, 0.0f64),
            SenderDistribution::Zipf { theta } => (1, theta),
        };
        Domain::Prg.hash_parts(&[
            b"ioschain/workload-spec",
            &FORMAT_VERSION.to_le_bytes(),
            &self.seed.to_le_bytes(),
            &self.shards.to_le_bytes(),
            &self.accounts.to_le_bytes(),
            &self.utxos_per_account.to_le_bytes(),
            &self.genesis_amount.to_le_bytes(),
            &self.inputs_per_tx.to_le_bytes(),
            &self.outputs_per_tx.to_le_bytes(),
            &[kind],
            &theta.to_le_bytes(),
            &self.invalid_fraction.to_le_bytes(),
            &self.client_edge_signatures.to_le_bytes(),
            &self.canary_rate.to_le_bytes(),
            &self.txs_per_shard.to_le_bytes(),
            &self.cross_shard.to_le_bytes(),
            &self.cross_input_shards.to_le_bytes(),
            &self.cross_maturity.to_le_bytes(),
            &self.cross_conflicts.to_le_bytes(),
            &self.clients.never_unlock.to_le_bytes(),
            &self.clients.partial_commit.to_le_bytes(),
            &self.clients.forged_proof.to_le_bytes(),
            &self.clients.replay_commit.to_le_bytes(),
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn small() -> WorkloadSpec {
        WorkloadSpec {
            seed: 1,
            shards: 2,
            accounts: 64,
            utxos_per_account: 2,
            genesis_amount: 1_000_000,
            inputs_per_tx: 2,
            outputs_per_tx: 2,
            sender: SenderDistribution::Uniform,
            invalid_fraction: 0.0,
            client_edge_signatures: 0.0,
            canary_rate: 0.0,
            txs_per_shard: 100,
            cross_shard: 0.1,
            cross_input_shards: 2,
            cross_maturity: 16,
            cross_conflicts: 0.1,
            clients: ClientMix {
                never_unlock: 0.1,
                partial_commit: 0.1,
                forged_proof: 0.1,
                replay_commit: 0.1,
            },
        }
    }

    /// A key and a change of the spec that concerns it.
    type Change = (&'static str, fn(&mut WorkloadSpec));

    #[test]
    fn every_parameter_changes_the_key() {
        let base = small();
        assert!(base.validate().is_ok());
        let changes: Vec<Change> = vec![
            ("seed", |s| s.seed = 2),
            ("shards", |s| s.shards = 3),
            ("accounts", |s| s.accounts = 65),
            ("utxos_per_account", |s| s.utxos_per_account = 3),
            ("genesis_amount", |s| s.genesis_amount = 1_000_001),
            ("inputs_per_tx", |s| s.inputs_per_tx = 1),
            ("outputs_per_tx", |s| s.outputs_per_tx = 3),
            ("sender", |s| {
                s.sender = SenderDistribution::Zipf { theta: 0.99 }
            }),
            ("invalid_fraction", |s| s.invalid_fraction = 0.1),
            ("client_edge_signatures", |s| s.client_edge_signatures = 0.1),
            ("canary_rate", |s| s.canary_rate = 0.001),
            ("txs_per_shard", |s| s.txs_per_shard = 101),
            ("cross_shard", |s| s.cross_shard = 0.2),
            ("cross_input_shards", |s| s.cross_input_shards = 1),
            ("cross_maturity", |s| s.cross_maturity = 17),
            ("cross_conflicts", |s| s.cross_conflicts = 0.2),
            ("clients.never_unlock", |s| s.clients.never_unlock = 0.2),
            ("clients.partial_commit", |s| s.clients.partial_commit = 0.2),
            ("clients.forged_proof", |s| s.clients.forged_proof = 0.2),
            ("clients.replay_commit", |s| s.clients.replay_commit = 0.2),
        ];
        let mut keys = std::collections::HashSet::from([base.key()]);
        for (name, change) in changes {
            let mut spec = base.clone();
            change(&mut spec);
            assert_ne!(spec, base, "{name}");
            assert!(keys.insert(spec.key()), "changing {name} leaves the key");
        }
        let mut theta = base.clone();
        theta.sender = SenderDistribution::Zipf { theta: 1.2 };
        assert!(keys.insert(theta.key()), "zipf_theta");
    }

    #[test]
    fn out_of_range_values_name_the_key() {
        let cases: Vec<Change> = vec![
            ("invalid_fraction", |s| s.invalid_fraction = 1.5),
            ("canary_rate", |s| s.canary_rate = 1.5),
            ("client_edge_signatures", |s| {
                s.client_edge_signatures = -0.1
            }),
            ("client_edge_signatures", |s| {
                s.client_edge_signatures = f64::NAN
            }),
            ("inputs_per_tx", |s| s.inputs_per_tx = 3),
            ("shards", |s| s.shards = 0),
            ("zipf_theta", |s| {
                s.sender = SenderDistribution::Zipf { theta: f64::NAN }
            }),
            ("cross_shard", |s| s.cross_shard = 1.5),
            ("cross_shard", |s| s.cross_shard = f64::NAN),
            ("cross_shard", |s| s.shards = 1),
            ("cross_input_shards", |s| s.cross_input_shards = 0),
            ("cross_input_shards", |s| s.cross_input_shards = 3),
            ("cross_input_shards", |s| {
                s.inputs_per_tx = 1;
                s.cross_input_shards = 2;
            }),
            ("cross_maturity", |s| s.cross_maturity = 0),
            ("txs_per_shard", |s| {
                s.txs_per_shard = u64::from(u32::MAX) + 1
            }),
            ("cross_conflicts", |s| s.cross_conflicts = -0.1),
            ("clients.never_unlock", |s| s.clients.never_unlock = 1.1),
            ("clients.partial_commit", |s| {
                s.clients.partial_commit = -0.5
            }),
            ("clients.forged_proof", |s| {
                s.clients.forged_proof = f64::NAN
            }),
            ("clients.replay_commit", |s| s.clients.replay_commit = 2.0),
            ("clients", |s| {
                s.clients.never_unlock = 0.5;
                s.clients.replay_commit = 0.6;
            }),
        ];
        for (key, change) in cases {
            let mut spec = small();
            change(&mut spec);
            let err = spec.validate().unwrap_err();
            assert_eq!(err.key, key, "{err}");
        }
        assert!(small().validate().is_ok());
    }

    #[test]
    fn cross_keys_are_free_without_cross_shard_transactions() {
        let mut spec = small();
        spec.cross_shard = 0.0;
        spec.shards = 1;
        spec.accounts = 64;
        // Up to shards and inputs_per_tx only matters when cross-shard transactions are
        // drawn.
        spec.cross_input_shards = 5;
        assert!(spec.validate().is_ok());
        let mut spec = small();
        spec.clients = ClientMix {
            never_unlock: 0.1,
            partial_commit: 0.2,
            forged_proof: 0.3,
            replay_commit: 0.4,
        };
        assert!(spec.validate().is_ok(), "a sum of exactly 1 passes");
    }
}
