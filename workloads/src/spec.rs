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
    /// Transactions in each shard's stream (valid and invalid).
    pub txs_per_shard: u64,
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
const FORMAT_VERSION: u32 = 1;

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
        if let SenderDistribution::Zipf { theta } = self.sender
            && !(theta > 0.0 && theta.is_finite())
        {
            return Err(bad("zipf_theta", theta, "a finite number above 0"));
        }
        if self.txs_per_shard == 0 {
            return Err(bad("txs_per_shard", self.txs_per_shard, "at least 1"));
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
            &self.txs_per_shard.to_le_bytes(),
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
            txs_per_shard: 100,
        }
    }

    #[test]
    fn every_parameter_changes_the_key() {
        let base = small();
        let mut variants = vec![];
        let mut s = base.clone();
        s.seed = 2;
        variants.push(s);
        let mut s = base.clone();
        s.invalid_fraction = 0.1;
        variants.push(s);
        let mut s = base.clone();
        s.sender = SenderDistribution::Zipf { theta: 0.99 };
        variants.push(s);
        let mut s = base.clone();
        s.txs_per_shard = 101;
        variants.push(s);
        for v in variants {
            assert_ne!(v.key(), base.key());
        }
    }

    #[test]
    fn out_of_range_values_name_the_key() {
        let mut s = small();
        s.invalid_fraction = 1.5;
        assert_eq!(s.validate().unwrap_err().key, "invalid_fraction");
        let mut s = small();
        s.inputs_per_tx = 3;
        assert_eq!(s.validate().unwrap_err().key, "inputs_per_tx");
        let mut s = small();
        s.shards = 0;
        assert_eq!(s.validate().unwrap_err().key, "shards");
        let mut s = small();
        s.sender = SenderDistribution::Zipf { theta: f64::NAN };
        assert_eq!(s.validate().unwrap_err().key, "zipf_theta");
        assert!(small().validate().is_ok());
    }
}
