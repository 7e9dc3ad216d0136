//! Unit tests of the Atomix shard side: lock admission and its bound.

use crate::atomix::DeclaredInput;
use crate::crypto::hash::Domain;
use crate::tx::TxOut;
use crate::types::{Amount, Owner};
use ed25519_dalek::SigningKey;

use super::*;

const T_UNLOCK: u64 = 3;

/// A key whose outputs shard 0 (of 2) holds.
fn key_of_shard_0() -> SigningKey {
    (0u8..)
        .map(|n| SigningKey::from_bytes(&[n; 32]))
        .find(|k| Owner(k.verifying_key().to_bytes()).shard(2) == ShardId(0))
        .expect("some key")
}

/// A lock request at shard 0 for a transaction spending `input` (declared in
/// shard 0), arriving at height 10.
fn node_with_request(input: OutPoint, key: &SigningKey) -> AtomixNode {
    let tx = crate::tx::Transaction::signed(
        vec![input],
        vec![TxOut {
            owner: Owner([9; 32]),
            amount: Amount(5),
        }],
        &[key],
    );
    let xtx = Arc::new(CrossTx {
        tx,
        declared: vec![DeclaredInput {
            shard: ShardId(0),
            amount: Amount(5),
        }],
    });
    let mut node = AtomixNode::new(
        ShardId(0),
        2,
        Arc::new(Federation::new(Vec::new())),
        T_UNLOCK,
    );
    node.deliver(
        MessageBody::Request(AtomixRequest::lock(xtx, ShardId(1))),
        10,
    );
    node.set_verdict(0, Signatures::Valid);
    node
}

fn views_with(input: Option<(OutPoint, &SigningKey)>) -> (UtxoSet, UtxoSet) {
    let mut views = (UtxoSet::new(), UtxoSet::new());
    if let Some((outpoint, key)) = input {
        let out = TxOut {
            owner: Owner(key.verifying_key().to_bytes()),
            amount: Amount(5),
        };
        views.0.create(outpoint, out).unwrap();
        views.1.create(outpoint, out).unwrap();
    }
    views
}

fn outpoint() -> OutPoint {
    OutPoint {
        tx: TxId(Domain::Prg.hash(b"an output")),
        index: 0,
    }
}

#[test]
fn a_lock_for_an_input_the_shard_knows_is_decided_at_once() {
    let key = key_of_shard_0();
    let mut node = node_with_request(outpoint(), &key);
    let (mut utxo, mut order) = views_with(Some((outpoint(), &key)));
    let entries = node.apply(&mut utxo, &mut order, 10, &FxHashSet::default());
    assert!(
        matches!(entries[0].entry, Entry::Lock { .. }),
        "{entries:?}"
    );
    assert_eq!(node.counters.lock_waits, 0);
}

#[test]
fn a_lock_for_an_unknown_input_waits_t_unlock_blocks_then_is_refused() {
    let key = key_of_shard_0();
    let mut node = node_with_request(outpoint(), &key);
    let (mut utxo, mut order) = views_with(None);
    for height in 10..10 + T_UNLOCK {
        let entries = node.apply(&mut utxo, &mut order, height, &FxHashSet::default());
        assert!(entries.is_empty(), "decided at height {height}");
    }
    assert_eq!(node.counters.lock_waits, T_UNLOCK);
    let entries = node.apply(&mut utxo, &mut order, 10 + T_UNLOCK, &FxHashSet::default());
    match entries.as_slice() {
        [
            BlockEntry {
                entry: Entry::Reject { reason, .. },
                ..
            },
        ] => assert_eq!(*reason, Refusal::UnknownInput),
        other => panic!("expected one refusal, got {other:?}"),
    }
}

#[test]
fn a_lock_whose_input_is_not_final_waits_for_it_however_long() {
    let key = key_of_shard_0();
    let mut node = node_with_request(outpoint(), &key);
    let (mut utxo, mut order) = views_with(Some((outpoint(), &key)));
    let unfinal: FxHashSet<TxId> = [outpoint().tx].into_iter().collect();
    for height in 10..10 + 4 * T_UNLOCK {
        assert!(
            node.apply(&mut utxo, &mut order, height, &unfinal)
                .is_empty()
        );
    }
    let entries = node.apply(
        &mut utxo,
        &mut order,
        10 + 4 * T_UNLOCK,
        &FxHashSet::default(),
    );
    assert!(
        matches!(entries[0].entry, Entry::Lock { .. }),
        "{entries:?}"
    );
}

// The coordinator rule (PROTOCOL.md §5.6): a named input shard acts only after
// `t_unlock` FinalBlocks without news about the transaction.

use crate::block::{BlockHeader, FinalCertificate};
use crate::crypto::cosi::{Signers, ValidatorKey, sign_round};
use crate::types::{Hash, Height};

/// Height at which the coordinator locks its part.
const LOCKED_AT: u64 = 10;

/// A key whose outputs shard `shard` (of 2) holds.
fn key_of_shard(shard: u32) -> SigningKey {
    (0u8..)
        .map(|n| SigningKey::from_bytes(&[n; 32]))
        .find(|k| Owner(k.verifying_key().to_bytes()).shard(2) == ShardId(shard))
        .expect("some key")
}

/// Validator keys of shards 0 and 1 (4 each) and the federation their rosters form.
fn federation() -> (Vec<Vec<ValidatorKey>>, Arc<Federation>) {
    let keys: Vec<Vec<ValidatorKey>> = (0..2u8)
        .map(|shard| {
            (0..4u8)
                .map(|i| ValidatorKey::from_seed(&[16 * shard + i + 1; 32]))
                .collect()
        })
        .collect();
    let rosters = keys
        .iter()
        .map(|keys| {
            let members: Vec<_> = keys
                .iter()
                .map(|k| (k.public(), k.prove_possession()))
                .collect();
            Roster::new(&members).expect("distinct keys")
        })
        .collect();
    (keys, Arc::new(Federation::new(rosters)))
}

/// A cross-shard transaction spending one input in shard 0 and one in shard 1, shard
/// 0's the smaller (so shard 0 coordinates), with the keys owning them.
fn two_shard_tx() -> (Arc<CrossTx>, [(OutPoint, SigningKey); 2]) {
    let mut outpoints = [0u8, 1].map(|n| OutPoint {
        tx: TxId(Domain::Prg.hash(&[n])),
        index: 0,
    });
    outpoints.sort();
    let keys = [key_of_shard(0), key_of_shard(1)];
    let tx = crate::tx::Transaction::signed(
        outpoints.to_vec(),
        vec![TxOut {
            owner: Owner([9; 32]),
            amount: Amount(10),
        }],
        &[&keys[0], &keys[1]],
    );
    let declared = [0, 1].map(|shard| DeclaredInput {
        shard: ShardId(shard),
        amount: Amount(5),
    });
    let xtx = Arc::new(CrossTx {
        tx,
        declared: declared.to_vec(),
    });
    let [k0, k1] = keys;
    (xtx, [(outpoints[0], k0), (outpoints[1], k1)])
}

/// Shard `shard`'s Atomix side after it locked its part of `xtx` at `LOCKED_AT`;
/// returns its lock entry.
fn locked(
    shard: u32,
    xtx: &Arc<CrossTx>,
    input: &(OutPoint, SigningKey),
    federation: &Arc<Federation>,
) -> (AtomixNode, Entry) {
    let mut node = AtomixNode::new(ShardId(shard), 2, Arc::clone(federation), T_UNLOCK);
    node.deliver(
        MessageBody::Request(AtomixRequest::lock(Arc::clone(xtx), ShardId(1))),
        LOCKED_AT,
    );
    node.set_verdict(0, Signatures::Valid);
    let (mut utxo, mut order) = views_with(Some((input.0, &input.1)));
    let entries = node.apply(&mut utxo, &mut order, LOCKED_AT, &FxHashSet::default());
    let [BlockEntry { entry, .. }] = entries.as_slice() else {
        panic!("one entry expected, got {entries:?}");
    };
    assert!(matches!(entry, Entry::Lock { .. }), "{entry:?}");
    (node, *entry)
}

/// The published proof of `entry`: a block of `shard` holding it alone, cosigned by
/// the whole roster.
fn proof_of(entry: Entry, keys: &[ValidatorKey], federation: &Federation) -> MessageBody {
    let shard = entry.shard();
    let roster = federation
        .roster(shard, Epoch(0), Height(0))
        .expect("a federation shard");
    let header = BlockHeader {
        shard,
        epoch: Epoch(0),
        height: Height(LOCKED_AT),
        prev: Hash::ZERO,
        tx_root: Hash::ZERO,
        tx_count: 0,
        pob_root: Hash::ZERO,
        atomix_root: crate::atomix::atomix_root(&[entry]),
    };
    let header_hash = header.hash();
    let cosig = sign_round(
        roster,
        keys,
        &Signers::all(roster.len()),
        &header_hash.0,
        &[3; 32],
    );
    let certificate = FinalCertificate { header_hash, cosig };
    let proof = crate::atomix::block_proofs(&header, &certificate, &[entry]).remove(0);
    MessageBody::Proof {
        proof: Arc::new(proof),
        client: ShardId(1),
        for_client: false,
        named: true,
    }
}

/// What the coordinator sent: (destination, request kind).
fn sent(node: &mut AtomixNode) -> Vec<(ShardId, &'static str)> {
    node.outbox
        .drain(..)
        .map(|m| {
            let kind = match m.body {
                MessageBody::Request(AtomixRequest::Lock { .. }) => "lock",
                MessageBody::Request(AtomixRequest::Commit { .. }) => "commit",
                MessageBody::Request(AtomixRequest::Abort { .. }) => "abort",
                MessageBody::Proof { .. } => "proof",
                MessageBody::Receipt { .. } => "receipt",
            };
            (m.to, kind)
        })
        .collect()
}

#[test]
fn a_coordinator_sends_nothing_before_t_unlock_blocks_of_silence_and_forwards_after() {
    let (keys, federation) = federation();
    let (xtx, inputs) = two_shard_tx();
    let (mut node, own) = locked(0, &xtx, &inputs[0], &federation);
    assert_eq!(
        node.state.role(&xtx.id()),
        Some(crate::atomix::Role::Coordinator)
    );
    // Its own lock is published (to itself, a named input shard) at the next block.
    node.coordinate(LOCKED_AT + 1);
    node.deliver(proof_of(own, &keys[0], &federation), LOCKED_AT + 1);
    let last_news = LOCKED_AT + 1;
    for height in last_news..last_news + T_UNLOCK {
        node.coordinate(height);
        assert_eq!(sent(&mut node), [], "acted at height {height}");
    }
    // Shard 1 never decided: the coordinator sends it the transaction.
    node.coordinate(last_news + T_UNLOCK);
    assert_eq!(sent(&mut node), [(ShardId(1), "lock")]);
    assert_eq!(node.counters.coordinator_forwards, 1);
}

#[test]
fn a_new_proof_restarts_the_coordinators_silence() {
    let (keys, federation) = federation();
    let (xtx, inputs) = two_shard_tx();
    let (mut node, own) = locked(0, &xtx, &inputs[0], &federation);
    let (_, other) = locked(1, &xtx, &inputs[1], &federation);
    // Its own lock is published at the next block, shard 1's one block later.
    node.coordinate(LOCKED_AT + 1);
    node.deliver(proof_of(own, &keys[0], &federation), LOCKED_AT + 1);
    node.coordinate(LOCKED_AT + 2);
    node.deliver(proof_of(other, &keys[1], &federation), LOCKED_AT + 2);
    let last_news = LOCKED_AT + 2;
    for height in LOCKED_AT + 2..last_news + T_UNLOCK {
        node.coordinate(height);
        assert_eq!(sent(&mut node), [], "acted at height {height}");
    }
    // Both shards locked and nobody unlocked: the coordinator sends the commit.
    node.coordinate(last_news + T_UNLOCK);
    let sent = sent(&mut node);
    assert!(
        !sent.is_empty() && sent.iter().all(|&(_, kind)| kind == "commit"),
        "{sent:?}"
    );
    assert_eq!(node.counters.coordinator_commits, 1);
}

#[test]
fn repeated_or_forged_proofs_do_not_hold_the_coordinator_off() {
    let (keys, federation) = federation();
    let (xtx, inputs) = two_shard_tx();
    let (mut node, own) = locked(0, &xtx, &inputs[0], &federation);
    let (_, other) = locked(1, &xtx, &inputs[1], &federation);
    node.coordinate(LOCKED_AT + 1);
    node.deliver(proof_of(own, &keys[0], &federation), LOCKED_AT + 1);
    let last_news = LOCKED_AT + 1;
    // A proof of shard 1's lock whose header is not the one its roster cosigned.
    let MessageBody::Proof { proof, .. } = proof_of(other, &keys[1], &federation) else {
        unreachable!("proof_of builds a proof")
    };
    let mut forged = (*proof).clone();
    forged.header.tx_count = 1;
    // Every block until the coordinator is due, someone sends its own proof again and
    // the forged one.
    for height in last_news..last_news + T_UNLOCK {
        node.coordinate(height);
        assert_eq!(sent(&mut node), [], "acted at height {height}");
        node.deliver(proof_of(own, &keys[0], &federation), height);
        node.deliver(
            MessageBody::Proof {
                proof: Arc::new(forged.clone()),
                client: ShardId(1),
                for_client: false,
                named: true,
            },
            height,
        );
    }
    assert_eq!(node.counters.proofs_dropped, T_UNLOCK);
    // Neither was news: the coordinator acts on time, forwarding the transaction to
    // shard 1 as if it had heard nothing from it.
    node.coordinate(last_news + T_UNLOCK);
    assert_eq!(sent(&mut node), [(ShardId(1), "lock")]);
}
