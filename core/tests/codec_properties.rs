//! Property tests of the canonical encoding: every value round-trips, every accepted
//! byte string re-encodes to itself, and arbitrary bytes never panic the decoders.

use ioschain_core::block::{Block, BlockHeader};
use ioschain_core::codec::{Decode, Encode};
use ioschain_core::crypto::vrf::{VrfProof, VrfSecretKey};
use ioschain_core::pob::final_body::PobBody;
use ioschain_core::pob::optblock::{OptBlockHeader, SignedOptHeader};
use ioschain_core::pob::sample::{Sample, SampleProof};
use ioschain_core::tx::{TX_INPUTS_MAX, TX_OUTPUTS_MAX, Transaction, TxOut, Witness};
use ioschain_core::types::{
    Amount, Epoch, Hash, Height, OutPoint, Owner, ShardId, TxId, ValidatorId,
};
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

/// A PoB body whose references each carry 0 to 3 samplers' proofs (real VRF proofs,
/// drawn by keys from small seeds over the reference's header hash), with `direct` and
/// one excluded id so every section is present.
fn pob_body() -> impl Strategy<Value = PobBody> {
    let reference = (
        header(),
        any::<[u8; 32]>(),
        prop::collection::vec(any::<(u8, u32)>(), 0..=3),
    );
    (prop::collection::vec(reference, 0..4), hash(), any::<u32>()).prop_map(
        |(refs, excluded, direct)| {
            let mut body = PobBody {
                excluded: vec![TxId(excluded)],
                direct: direct % 1000,
                ..PobBody::default()
            };
            for (h, signer, samplers) in refs {
                let signed = SignedOptHeader {
                    header: OptBlockHeader {
                        shard: h.shard,
                        epoch: h.epoch,
                        league_index: h.height.0 as u16,
                        seq: h.height.0,
                        prev_opt: h.prev,
                        prev_final: h.pob_root,
                        tx_root: h.tx_root,
                        tx_count: h.tx_count,
                    },
                    signer,
                    signature: [signer[0]; 64],
                };
                let block = signed.header.hash();
                body.samples.push(
                    samplers
                        .into_iter()
                        .map(|(seed, sampler)| SampleProof {
                            sampler: ValidatorId(sampler),
                            proof: Sample::draw(&VrfSecretKey::from_seed(&[seed; 32]), &block)
                                .proof,
                        })
                        .collect(),
                );
                body.refs.push(signed);
            }
            body
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn pob_body_with_sample_proofs_round_trips_and_every_proof_is_committed(
        body in pob_body(),
        pick in any::<prop::sample::Index>(),
        bit in 0u8..8,
    ) {
        let bytes = body.to_bytes();
        prop_assert_eq!(PobBody::from_bytes(&bytes), Ok(body.clone()));
        for cut in 0..bytes.len() {
            prop_assert!(PobBody::from_bytes(&bytes[..cut]).is_err());
        }
        let all: Vec<(usize, usize)> = (body.samples.iter().enumerate())
            .flat_map(|(i, list)| (0..list.len()).map(move |j| (i, j)))
            .collect();
        if !all.is_empty() {
            let (i, j) = all[pick.index(all.len())];
            // A missing proof and a flipped bit of `c` both change the root; the flipped
            // proof still decodes and no longer verifies under its key.
            let mut missing = body.clone();
            missing.samples[i].remove(j);
            prop_assert_ne!(missing.root(), body.root());
            let mut flipped = body.clone();
            let mut raw = flipped.samples[i][j].proof.to_bytes();
            raw[40] ^= 1 << bit;
            flipped.samples[i][j].proof = VrfProof::from_bytes(&raw).unwrap();
            prop_assert_ne!(flipped.root(), body.root());
            prop_assert_eq!(PobBody::from_bytes(&flipped.to_bytes()), Ok(flipped.clone()));
        }
    }

    #[test]
    fn mutated_pob_bodies_never_panic(body in pob_body(), at in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let mut bytes = body.to_bytes();
        let at = at.index(bytes.len());
        bytes[at] = byte;
        if let Ok(decoded) = PobBody::from_bytes(&bytes) {
            prop_assert_eq!(decoded.to_bytes(), bytes);
        }
    }
}
