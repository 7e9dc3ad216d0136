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
