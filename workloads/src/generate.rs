//! Deterministic generation of genesis and per-shard transaction streams.
//!
//! Per shard, generation walks the stream in order with the shard's own [`Prg`]: it keeps
//! each account's unspent outputs (a wallet), draws a sender, spends the oldest of its
//! outputs, pays recipients in the same shard and returns the change. Transaction ids do
//! not depend on signatures, so the whole stream is laid out first and signed afterwards
//! in parallel.
//!
//! Invalid transactions are drawn with probability `invalid_fraction`, in four kinds,
//! each expected to be rejected for one reason: a corrupted signature, an input that
//! never existed, an input already spent earlier in the stream, and outputs above the
//! inputs. They never change a wallet, so the valid stream is unaffected by them.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};

use ed25519_dalek::{Signer, SigningKey};
use ioschain_core::crypto::hash::Domain;
use ioschain_core::prg::Prg;
use ioschain_core::tx::{RejectReason, Transaction, TxOut, Witness};
use ioschain_core::types::{Amount, OutPoint, Owner, TxId};
use rayon::prelude::*;

use crate::spec::{SenderDistribution, SpecError, WorkloadSpec};

/// Injected double spends re-spend one of this many most recent spends of the shard's
/// stream, so an engine that remembers at least this many spent outputs can tell them
/// from unknown inputs.
pub const DOUBLE_SPEND_WINDOW: usize = 1024;

/// What a correct engine must do with a transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expected {
    /// Accept it.
    Valid,
    /// Reject it for this reason.
    Invalid(RejectReason),
}

/// One shard's part of a workload.
#[derive(Clone, Debug, PartialEq)]
pub struct ShardWorkload {
    /// Outputs the shard holds at genesis.
    pub genesis: Vec<(OutPoint, TxOut)>,
    /// The stream, in submission order.
    pub txs: Vec<Transaction>,
    /// `expected[i]` is what must happen to `txs[i]`.
    pub expected: Vec<Expected>,
}

/// A generated workload.
#[derive(Clone, Debug, PartialEq)]
pub struct Workload {
    /// The spec it was generated from.
    pub spec: WorkloadSpec,
    /// Per shard, indexed by shard id.
    pub shards: Vec<ShardWorkload>,
}

impl Workload {
    /// Value created at genesis in all shards.
    pub fn genesis_value(&self) -> u128 {
        self.shards
            .iter()
            .flat_map(|s| &s.genesis)
            .map(|(_, out)| u128::from(out.amount.0))
            .sum()
    }

    /// Transactions in all streams.
    pub fn tx_count(&self) -> u64 {
        self.shards.iter().map(|s| s.txs.len() as u64).sum()
    }
}

/// The signing key of account `index`, derived from the seed.
pub(crate) fn account_key(seed: u64, index: u32) -> SigningKey {
    let secret = Domain::Prg.hash_parts(&[
        b"ioschain/account",
        &seed.to_le_bytes(),
        &index.to_le_bytes(),
    ]);
    SigningKey::from_bytes(secret.as_bytes())
}

/// A transaction laid out but not yet signed.
struct Draft {
    tx: Transaction,
    id: TxId,
    signer: u32,
    corrupt_signature: bool,
}

/// Draws ranks `0..n` with probability proportional to `1 / (rank + 1)^theta`.
struct ZipfSampler {
    cdf: Vec<f64>,
}

impl ZipfSampler {
    fn new(n: usize, theta: f64) -> Self {
        let mut cdf = Vec::with_capacity(n);
        let mut total = 0.0;
        for rank in 0..n {
            total += 1.0 / ((rank + 1) as f64).powf(theta);
            cdf.push(total);
        }
        for value in &mut cdf {
            *value /= total;
        }
        ZipfSampler { cdf }
    }

    fn sample(&self, prg: &mut Prg) -> usize {
        let u = prg.unit();
        self.cdf
            .partition_point(|&c| c <= u)
            .min(self.cdf.len() - 1)
    }
}

/// Generates `spec`'s workload. `progress(signed)` is called from worker threads as
/// transactions are signed (for a progress bar); it must be cheap.
pub fn generate(
    spec: &WorkloadSpec,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<Workload, SpecError> {
    spec.validate()?;
    let keys: Vec<SigningKey> = (0..spec.accounts)
        .into_par_iter()
        .map(|i| account_key(spec.seed, i))
        .collect();
    let owners: Vec<Owner> = keys
        .iter()
        .map(|k| Owner(k.verifying_key().to_bytes()))
        .collect();
    let mut members: Vec<Vec<u32>> = vec![Vec::new(); spec.shards as usize];
    for (index, owner) in owners.iter().enumerate() {
        members[owner.shard(spec.shards).0 as usize].push(index as u32);
    }
    if let Some((shard, _)) = members.iter().enumerate().find(|(_, m)| m.len() < 2) {
        return Err(SpecError {
            key: "accounts",
            value: spec.accounts.to_string(),
            allowed: format!(
                "enough that every shard holds at least 2 accounts (shard {shard} holds fewer)"
            ),
        });
    }
    let drafted: Vec<Result<Drafted, SpecError>> = members
        .par_iter()
        .enumerate()
        .map(|(shard, accounts)| draft_shard(spec, shard as u32, accounts, &owners))
        .collect();
    let signed = AtomicU64::new(0);
    let mut shards = Vec::with_capacity(drafted.len());
    for result in drafted {
        let (genesis, drafts, expected) = result?;
        let txs: Vec<Transaction> = drafts
            .into_par_iter()
            .map(|draft| {
                let key = &keys[draft.signer as usize];
                let mut signature = key.sign(draft.id.0.as_bytes()).to_bytes();
                if draft.corrupt_signature {
                    signature[9] ^= 0x10;
                }
                let mut tx = draft.tx;
                tx.witnesses.push(Witness {
                    owner: owners[draft.signer as usize],
                    signature,
                });
                let done = signed.fetch_add(1, Ordering::Relaxed) + 1;
                if done.is_multiple_of(4096) {
                    progress(done);
                }
                tx
            })
            .collect();
        shards.push(ShardWorkload {
            genesis,
            txs,
            expected,
        });
    }
    progress(signed.load(Ordering::Relaxed));
    Ok(Workload {
        spec: spec.clone(),
        shards,
    })
}

type Drafted = (Vec<(OutPoint, TxOut)>, Vec<Draft>, Vec<Expected>);

fn draft_shard(
    spec: &WorkloadSpec,
    shard: u32,
    accounts: &[u32],
    owners: &[Owner],
) -> Result<Drafted, SpecError> {
    let mut prg = Prg::new(&[
        b"ioschain/workload-stream",
        &spec.seed.to_le_bytes(),
        &shard.to_le_bytes(),
    ]);
    let n = accounts.len();
    let mut genesis = Vec::with_capacity(n * spec.utxos_per_account as usize);
    let mut wallets: Vec<VecDeque<(OutPoint, u64)>> = Vec::with_capacity(n);
    for &account in accounts {
        let tx = TxId(Domain::Prg.hash_parts(&[
            b"ioschain/genesis",
            &spec.seed.to_le_bytes(),
            &account.to_le_bytes(),
        ]));
        let mut wallet = VecDeque::with_capacity(spec.utxos_per_account as usize * 2);
        for index in 0..spec.utxos_per_account {
            let outpoint = OutPoint { tx, index };
            genesis.push((
                outpoint,
                TxOut {
                    owner: owners[account as usize],
                    amount: Amount(spec.genesis_amount),
                },
            ));
            wallet.push_back((outpoint, spec.genesis_amount));
        }
        wallets.push(wallet);
    }
    // Rank → account, so the hottest Zipf ranks are spread over the shard at random.
    let mut by_rank: Vec<usize> = (0..n).collect();
    prg.shuffle(&mut by_rank);
    let zipf = match spec.sender {
        SenderDistribution::Uniform => None,
        SenderDistribution::Zipf { theta } => Some(ZipfSampler::new(n, theta)),
    };
    let need = spec.inputs_per_tx as usize;
    let mut drafts = Vec::with_capacity(spec.txs_per_shard as usize);
    let mut expected = Vec::with_capacity(spec.txs_per_shard as usize);
    // Recently spent (outpoint, local account), for double-spend injection.
    let mut spent: VecDeque<(OutPoint, usize)> = VecDeque::with_capacity(DOUBLE_SPEND_WINDOW);
    for n_tx in 0..spec.txs_per_shard {
        let drawn = match &zipf {
            None => prg.below(n as u64) as usize,
            Some(zipf) => by_rank[zipf.sample(&mut prg)],
        };
        // The drawn sender, or the next account that holds enough outputs.
        let sender = (0..n)
            .map(|k| (drawn + k) % n)
            .find(|&a| wallets[a].len() >= need)
            .ok_or_else(|| SpecError {
                key: "txs_per_shard",
                value: spec.txs_per_shard.to_string(),
                allowed: format!(
                    "a stream the shard's outputs can sustain: shard {shard} ran out after {n_tx} transactions \
                     (inputs_per_tx above outputs_per_tx shrinks the outputs; raise accounts or utxos_per_account)"
                ),
            })?;
        let recipient = prg.below(n as u64) as usize;
        let invalid = spec.invalid_fraction > 0.0 && prg.unit() < spec.invalid_fraction;
        if invalid {
            let kind = prg.below(4);
            let (draft, reason) = draft_invalid(
                kind, spec, n_tx, sender, recipient, accounts, owners, &wallets, &spent,
            );
            drafts.push(draft);
            expected.push(Expected::Invalid(reason));
            continue;
        }
        let inputs: Vec<(OutPoint, u64)> = wallets[sender].drain(..need).collect();
        let total: u64 = inputs.iter().map(|(_, amount)| amount).sum();
        let outputs = split(
            total,
            spec.outputs_per_tx,
            owners[accounts[recipient] as usize],
            owners[accounts[sender] as usize],
        );
        let tx = Transaction {
            inputs: inputs.iter().map(|(outpoint, _)| *outpoint).collect(),
            outputs,
            witnesses: Vec::with_capacity(1),
        };
        let id = tx.id();
        for (index, output) in tx.outputs.iter().enumerate() {
            // With more than one output, the last is the sender's change (see `split`).
            let change = tx.outputs.len() > 1 && index + 1 == tx.outputs.len();
            let owner_local = if change { sender } else { recipient };
            wallets[owner_local].push_back((
                OutPoint {
                    tx: id,
                    index: index as u32,
                },
                output.amount.0,
            ));
        }
        for (outpoint, _) in &inputs {
            if spent.len() == DOUBLE_SPEND_WINDOW {
                spent.pop_front();
            }
            spent.push_back((*outpoint, sender));
        }
        drafts.push(Draft {
            tx,
            id,
            signer: accounts[sender],
            corrupt_signature: false,
        });
        expected.push(Expected::Valid);
    }
    Ok((genesis, drafts, expected))
}

/// Splits `total` into `count` outputs: half to the recipient (over `count − 1`
/// outputs), the rest back to the sender as change in the last output. Falls back to
/// one output when `total` is too small for every output to be non-zero.
fn split(total: u64, count: u32, recipient: Owner, sender: Owner) -> Vec<TxOut> {
    if count == 1 || total < u64::from(count) * 2 {
        return vec![TxOut {
            owner: recipient,
            amount: Amount(total),
        }];
    }
    let paid = count as u64 - 1;
    let each = (total / 2) / paid;
    let mut outputs: Vec<TxOut> = (0..paid)
        .map(|_| TxOut {
            owner: recipient,
            amount: Amount(each),
        })
        .collect();
    outputs.push(TxOut {
        owner: sender,
        amount: Amount(total - each * paid),
    });
    outputs
}

#[allow(clippy::too_many_arguments)]
fn draft_invalid(
    kind: u64,
    spec: &WorkloadSpec,
    n_tx: u64,
    sender: usize,
    recipient: usize,
    accounts: &[u32],
    owners: &[Owner],
    wallets: &[VecDeque<(OutPoint, u64)>],
    spent: &VecDeque<(OutPoint, usize)>,
) -> (Draft, RejectReason) {
    let need = spec.inputs_per_tx as usize;
    let to = owners[accounts[recipient] as usize];
    let own: Vec<(OutPoint, u64)> = wallets[sender].iter().take(need).copied().collect();
    let own_total: u64 = own.iter().map(|(_, amount)| amount).sum();
    let draft = |inputs: Vec<OutPoint>, amount: u64, signer: usize, corrupt: bool| {
        let tx = Transaction {
            inputs,
            outputs: vec![TxOut {
                owner: to,
                amount: Amount(amount),
            }],
            witnesses: Vec::with_capacity(1),
        };
        let id = tx.id();
        Draft {
            tx,
            id,
            signer: accounts[signer],
            corrupt_signature: corrupt,
        }
    };
    let own_inputs = || {
        own.iter()
            .map(|(outpoint, _)| *outpoint)
            .collect::<Vec<_>>()
    };
    match kind {
        0 => (
            draft(own_inputs(), own_total, sender, true),
            RejectReason::BadSignature,
        ),
        1 => {
            let never = OutPoint {
                tx: TxId(Domain::Prg.hash_parts(&[
                    b"ioschain/unknown-input",
                    &spec.seed.to_le_bytes(),
                    &n_tx.to_le_bytes(),
                ])),
                index: 0,
            };
            (
                draft(vec![never], 1, sender, false),
                RejectReason::UnknownInput,
            )
        }
        2 if !spent.is_empty() => {
            let (outpoint, owner) = spent[(n_tx as usize) % spent.len()];
            (
                draft(vec![outpoint], 1, owner, false),
                RejectReason::DoubleSpend,
            )
        }
        _ => (
            draft(own_inputs(), own_total + 1, sender, false),
            RejectReason::Overspend,
        ),
    }
}

#[cfg(test)]
mod tests {
    use ioschain_core::crypto::sig::{BatchVerifier, KeyCache};
    use ioschain_core::utxo::UtxoSet;

    use super::*;

    fn spec(invalid_fraction: f64, sender: SenderDistribution) -> WorkloadSpec {
        WorkloadSpec {
            seed: 7,
            shards: 2,
            accounts: 200,
            utxos_per_account: 2,
            genesis_amount: 1_000_000,
            inputs_per_tx: 2,
            outputs_per_tx: 2,
            sender,
            invalid_fraction,
            txs_per_shard: 400,
        }
    }

    /// Replays a shard's stream against a fresh UTXO set with full checks and returns
    /// what happened to each transaction.
    fn replay(shard: &ShardWorkload) -> Vec<Expected> {
        let mut set = UtxoSet::new();
        for (outpoint, out) in &shard.genesis {
            set.create(*outpoint, *out).unwrap();
        }
        let mut keys = KeyCache::new();
        let mut verifier = BatchVerifier::with_capacity(shard.txs.len());
        let mut bad = Vec::new();
        for (i, tx) in shard.txs.iter().enumerate() {
            for w in &tx.witnesses {
                verifier.push(
                    tx.id().0.0,
                    &w.signature,
                    keys.get(&w.owner).unwrap(),
                    i as u32,
                );
            }
        }
        verifier.verify(&mut bad);
        shard
            .txs
            .iter()
            .enumerate()
            .map(|(i, tx)| {
                if bad.contains(&(i as u32)) {
                    return Expected::Invalid(RejectReason::BadSignature);
                }
                match set.apply(tx, tx.id()) {
                    Ok(_) => Expected::Valid,
                    Err(rejection) => Expected::Invalid(rejection.reason()),
                }
            })
            .collect()
    }

    #[test]
    fn valid_stream_replays_without_a_single_rejection() {
        let workload = generate(&spec(0.0, SenderDistribution::Uniform), &|_| {}).unwrap();
        for shard in &workload.shards {
            assert!(replay(shard).iter().all(|e| *e == Expected::Valid));
        }
    }

    #[test]
    fn invalid_transactions_are_rejected_for_exactly_the_expected_reason() {
        let workload = generate(
            &spec(0.2, SenderDistribution::Zipf { theta: 0.99 }),
            &|_| {},
        )
        .unwrap();
        let mut reasons = std::collections::BTreeSet::new();
        for shard in &workload.shards {
            assert_eq!(replay(shard), shard.expected);
            reasons.extend(shard.expected.iter().filter_map(|e| match e {
                Expected::Invalid(r) => Some(*r),
                Expected::Valid => None,
            }));
        }
        assert_eq!(reasons.len(), 4, "all four kinds were drawn: {reasons:?}");
    }

    #[test]
    fn generation_is_deterministic() {
        let s = spec(0.1, SenderDistribution::Uniform);
        assert_eq!(
            generate(&s, &|_| {}).unwrap(),
            generate(&s, &|_| {}).unwrap()
        );
    }

    #[test]
    fn accounts_sit_in_the_shard_their_owner_maps_to() {
        let workload = generate(&spec(0.0, SenderDistribution::Uniform), &|_| {}).unwrap();
        for (shard, part) in workload.shards.iter().enumerate() {
            for (_, out) in &part.genesis {
                assert_eq!(out.owner.shard(2).0 as usize, shard);
            }
            for tx in &part.txs {
                for out in &tx.outputs {
                    assert_eq!(out.owner.shard(2).0 as usize, shard);
                }
            }
        }
    }

    #[test]
    fn shrinking_stream_that_runs_out_is_an_error_not_a_panic() {
        let mut s = spec(0.0, SenderDistribution::Uniform);
        s.outputs_per_tx = 1;
        s.txs_per_shard = 10_000;
        let err = generate(&s, &|_| {}).unwrap_err();
        assert_eq!(err.key, "txs_per_shard");
    }

    #[test]
    fn zipf_concentrates_senders() {
        let mut prg = Prg::new(&[b"zipf"]);
        let zipf = ZipfSampler::new(1000, 1.2);
        let hits = (0..10_000).filter(|_| zipf.sample(&mut prg) == 0).count();
        // P(rank 0) = 1 / H(1000, 1.2) ≈ 0.2 for theta 1.2.
        assert!((1500..2600).contains(&hits), "{hits}");
    }
}
