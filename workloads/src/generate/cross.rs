//! Cross-shard transactions (see the parent module's doc): which shards a transaction
//! takes its inputs from, how its client behaves, and the drafting of a single
//! cross-shard transaction ([`draft_cross`]) or a conflicting pair
//! ([`draft_conflicting_pair`]).

use ioschain_core::atomix::DeclaredInput;
use ioschain_core::crypto::hash::Domain;
use ioschain_core::prg::Prg;
use ioschain_core::tx::Transaction;
use ioschain_core::types::{Amount, OutPoint, ShardId, TxId};

use super::{
    ClientBehaviour, CrossExpected, Draft, Ledger, Population, SignatureKind, Stream, mature_coins,
    split,
};
use crate::spec::{ClientMix, SpecError, WorkloadSpec};

/// Draws `count` distinct shards of `shard_count`, in random order.
pub(super) fn draw_shards(prg: &mut Prg, shard_count: u32, count: usize) -> Vec<usize> {
    let mut shards: Vec<usize> = (0..shard_count as usize).collect();
    for i in 0..count {
        let j = i + prg.below((shards.len() - i) as u64) as usize;
        shards.swap(i, j);
    }
    shards.truncate(count);
    shards
}

/// Draws the behaviour of an honest cross-shard transaction's client.
pub(super) fn draw_client(prg: &mut Prg, clients: &ClientMix) -> ClientBehaviour {
    let fractions = [
        (clients.never_unlock, ClientBehaviour::NeverUnlock),
        (clients.partial_commit, ClientBehaviour::PartialCommit),
        (clients.forged_proof, ClientBehaviour::ForgedProof),
        (clients.replay_commit, ClientBehaviour::ReplayCommit),
    ];
    if fractions.iter().all(|(fraction, _)| *fraction == 0.0) {
        return ClientBehaviour::Honest;
    }
    let u = prg.unit();
    let mut bound = 0.0;
    for (fraction, behaviour) in fractions {
        bound += fraction;
        if u < bound {
            return behaviour;
        }
    }
    ClientBehaviour::Honest
}

/// An outpoint that never existed, for the refused input of the cross-shard
/// transaction at `position` of `home`'s stream.
pub(super) fn never_existing_cross_input(
    spec: &WorkloadSpec,
    home: usize,
    position: u64,
) -> OutPoint {
    OutPoint {
        tx: TxId(Domain::Prg.hash_parts(&[
            b"ioschain/unknown-cross-input",
            &spec.seed.to_le_bytes(),
            &(home as u32).to_le_bytes(),
            &position.to_le_bytes(),
        ])),
        index: 0,
    }
}

/// Drafts the cross-shard transaction (or conflicting pair) at `position` of `home`'s
/// stream.
pub(super) fn draft_cross(
    population: &Population<'_>,
    ledger: &mut Ledger,
    stream: &mut Stream,
    home: usize,
    position: u64,
) -> Result<(), SpecError> {
    let spec = population.spec;
    let pair_fits =
        spec.cross_conflicts > 0.0 && spec.inputs_per_tx >= 2 && position + 1 < spec.txs_per_shard;
    if pair_fits && stream.prg.unit() < spec.cross_conflicts {
        return draft_conflicting_pair(population, ledger, stream, position);
    }
    let prg = &mut stream.prg;
    let invalid = spec.invalid_fraction > 0.0 && prg.unit() < spec.invalid_fraction;
    let client = if invalid {
        ClientBehaviour::Honest
    } else {
        draw_client(prg, &spec.clients)
    };
    let refused = invalid || client == ClientBehaviour::ForgedProof;
    let input_shard_count = 1 + prg.below(u64::from(spec.cross_input_shards)) as usize;
    let input_shards = draw_shards(prg, spec.shards, input_shard_count);
    let need = spec.inputs_per_tx as usize;
    let mut per_shard = vec![1usize; input_shard_count];
    for _ in input_shard_count..need {
        per_shard[prg.below(input_shard_count as u64) as usize] += 1;
    }
    // The input replaced by one that never existed, if the transaction must abort.
    let refused_input = refused.then(|| prg.below(need as u64) as usize);
    let mut senders = Vec::with_capacity(input_shard_count);
    let mut inputs = Vec::with_capacity(need);
    let mut declared = Vec::with_capacity(need);
    for (&shard, &count) in input_shards.iter().zip(&per_shard) {
        let sender =
            population.mature_sender(prg, &ledger.wallets[shard], shard, count, position)?;
        senders.push(population.members[shard][sender]);
        let wallet = &mut ledger.wallets[shard][sender];
        let chosen: Vec<usize> = mature_coins(wallet, position).take(count).collect();
        let mut taken = Vec::with_capacity(count);
        for at in chosen {
            let coin = wallet[at];
            if refused_input == Some(inputs.len()) {
                // Declared with the amount of the coin it stands for; the coin stays.
                inputs.push(never_existing_cross_input(spec, home, position));
            } else {
                inputs.push(coin.outpoint);
                taken.push(at);
            }
            declared.push(DeclaredInput {
                shard: ShardId(shard as u32),
                amount: Amount(coin.amount),
            });
        }
        for &at in taken.iter().rev() {
            wallet.remove(at);
        }
    }
    let recipient = population.draw_recipient(prg, &input_shards, &senders);
    let total: u64 = declared.iter().map(|d| d.amount.0).sum();
    let tx = Transaction {
        inputs,
        outputs: split(
            total,
            spec.outputs_per_tx,
            population.owner(recipient),
            population.owner(senders[0]),
        ),
        witnesses: Vec::with_capacity(senders.len()),
    };
    let id = tx.id();
    // Outputs become spendable only if the transaction commits, and in time: an abort
    // creates none, and a client that never unlocks or unlocks in part leaves the
    // outputs to the coordinator, whose timeout a stream position does not bound.
    let committed_on_time = !refused
        && matches!(
            client,
            ClientBehaviour::Honest | ClientBehaviour::ReplayCommit
        );
    if committed_on_time {
        ledger.schedule_outputs(population, &tx, id, (recipient, senders[0]), position);
    }
    let expected = if refused {
        CrossExpected::Abort
    } else {
        CrossExpected::Commit
    };
    stream.push_cross(
        Draft {
            tx,
            id,
            signers: senders,
            signature: SignatureKind::Honest,
        },
        declared,
        client,
        expected,
    );
    Ok(())
}

/// Drafts a conflicting pair at `position` and `position + 1` of a stream: both spend
/// one input from each of two shards and pay different recipients.
pub(super) fn draft_conflicting_pair(
    population: &Population<'_>,
    ledger: &mut Ledger,
    stream: &mut Stream,
    position: u64,
) -> Result<(), SpecError> {
    debug_assert_eq!(stream.next_position(), position);
    let spec = population.spec;
    let prg = &mut stream.prg;
    let input_shards = draw_shards(prg, spec.shards, 2);
    let mut senders = Vec::with_capacity(2);
    let mut inputs = Vec::with_capacity(2);
    let mut declared = Vec::with_capacity(2);
    for &shard in &input_shards {
        let sender = population.mature_sender(prg, &ledger.wallets[shard], shard, 1, position)?;
        senders.push(population.members[shard][sender]);
        let wallet = &mut ledger.wallets[shard][sender];
        let at = mature_coins(wallet, position)
            .next()
            .expect("the sender holds a mature coin");
        let coin = wallet.remove(at).expect("an index of the wallet");
        inputs.push(coin.outpoint);
        declared.push(DeclaredInput {
            shard: ShardId(shard as u32),
            amount: Amount(coin.amount),
        });
    }
    let total: u64 = declared.iter().map(|d| d.amount.0).sum();
    let first = population.draw_recipient(prg, &input_shards, &senders);
    let mut excluded = senders.clone();
    excluded.push(first);
    let second = population.draw_recipient(prg, &input_shards, &excluded);
    let pair = [(first, position + 1), (second, position)];
    for (recipient, partner) in pair {
        let tx = Transaction {
            inputs: inputs.clone(),
            outputs: split(
                total,
                spec.outputs_per_tx,
                population.owner(recipient),
                population.owner(senders[0]),
            ),
            witnesses: Vec::with_capacity(2),
        };
        let id = tx.id();
        stream.push_cross(
            Draft {
                tx,
                id,
                signers: senders.clone(),
                signature: SignatureKind::Honest,
            },
            declared.clone(),
            ClientBehaviour::Honest,
            CrossExpected::AtMostOne {
                partner: partner as u32,
            },
        );
    }
    Ok(())
}
