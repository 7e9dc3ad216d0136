//! Property tests of the canonical encoding: every value round-trips, every accepted
//! byte string re-encodes to itself, and arbitrary bytes never panic the decoders.

use ioschain_core::block::{Block, BlockHeader};
use ioschain_core::codec::{Decode, Encode};
use ioschain_core::tx::{TX_INPUTS_MAX, TX_OUTPUTS_MAX, Transaction, TxOut, Witness};
use ioschain_core::types::{Amount, Epoch, Hash, Height, OutPoint, Owner, ShardId, TxId};
use proptest::prelude::*;

fn hash() -> impl Strategy<Value = Hash> {
    any::<[u8; 32]>().prop_map(Hash)
}

fn outpoint() -> impl Strategy<Value = OutPoint> {
    (hash(), any::<u32>()).prop_map(|(h, index)| OutPoint { tx: TxId(h), index })
}

fn tx_out() -> impl Strategy<Value = TxOut> {
    (any::<[u8; 32]>(), any::<u64>()).prop_map(|(o, a)| TxOut {
        owner: Owner(o),
        amount: Amount(a),
    })
}

fn witness() -> impl Strategy<Value = Witness> {
    (any::<[u8; 32]>(), prop::collection::vec(any::<u8>(), 64)).prop_map(|(o, s)| Witness {
        owner: Owner(o),
        signature: s.try_into().unwrap(),
    })
}

fn transaction() -> impl Strategy<Value = Transaction> {
    (
        prop::collection::vec(outpoint(), 0..=TX_INPUTS_MAX),
        prop::collection::vec(tx_out(), 0..=TX_OUTPUTS_MAX),
        prop::collection::vec(witness(), 0..=4),
    )
        .prop_map(|(inputs, outputs, witnesses)| Transaction {
            inputs,
            outputs,
            witnesses,
        })
}

fn header() -> impl Strategy<Value = BlockHeader> {
    (
        any::<u32>(),
        any::<u64>(),
        any::<u64>(),
        hash(),
        hash(),
        any::<u32>(),
        hash(),
        hash(),
    )
        .prop_map(
            |(shard, epoch, height, prev, tx_root, tx_count, pob_root, atomix_root)| BlockHeader {
                shard: ShardId(shard),
                epoch: Epoch(epoch),
                height: Height(height),
                prev,
                tx_root,
                tx_count,
                pob_root,
                atomix_root,
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn transaction_round_trips(tx in transaction()) {
        let bytes = tx.to_bytes();
        prop_assert_eq!(bytes.len(), tx.encoded_len());
        prop_assert_eq!(Transaction::from_bytes(&bytes), Ok(tx));
    }

    #[test]
    fn header_round_trips_with_fixed_length(h in header()) {
        let bytes = h.to_bytes();
        prop_assert_eq!(bytes.len(), BlockHeader::ENCODED_LEN);
        prop_assert_eq!(BlockHeader::from_bytes(&bytes), Ok(h));
    }

    #[test]
    fn block_round_trips(h in header(), txs in prop::collection::vec(transaction(), 0..4)) {
        let block = Block { header: h, txs };
        prop_assert_eq!(Block::from_bytes(&block.to_bytes()), Ok(block));
    }

    #[test]
    fn arbitrary_bytes_never_panic_and_accepted_bytes_are_canonical(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        if let Ok(tx) = Transaction::from_bytes(&bytes) {
            prop_assert_eq!(tx.to_bytes(), bytes.clone());
        }
        if let Ok(h) = BlockHeader::from_bytes(&bytes) {
            prop_assert_eq!(h.to_bytes(), bytes.clone());
        }
        if let Ok(block) = Block::from_bytes(&bytes) {
            prop_assert_eq!(block.to_bytes(), bytes.clone());
        }
    }

    #[test]
    fn truncating_an_encoding_is_always_an_error(tx in transaction(), cut in any::<prop::sample::Index>()) {
        let bytes = tx.to_bytes();
        let cut = cut.index(bytes.len());
        prop_assert!(Transaction::from_bytes(&bytes[..cut]).is_err());
    }

    #[test]
    fn mutated_encodings_never_panic(tx in transaction(), at in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let mut bytes = tx.to_bytes();
        let at = at.index(bytes.len());
        bytes[at] = byte;
        let _ = Transaction::from_bytes(&bytes);
    }
}
