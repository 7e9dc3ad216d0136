//! The PoB part of a FinalBlock (PROTOCOL.md §6.5 step 7): which OptBlocks it finalizes,
//! the proofs that blame cheating believable validators, and the transactions excluded
//! from finality.
//!
//! Flow: the normal-league leader collects the signed headers of OptBlocks older than
//! the challenge window (in the order the league applied them), every proof found since
//! the last FinalBlock, and the ids of the transactions those proofs (or the full
//! re-verification after a slash) excluded; [`PobBody::root`] goes into the FinalBlock
//! header (`pob_root`), so the league's CoSi over the header covers all of it. The
//! block's transactions are the referenced OptBlocks' transactions and the ones the
//! normal league ordered itself (`direct`: one-league fallback, or a client that no
//! believable validator served), in the order the league applied them, minus the
//! excluded ones.
//!
//! Samples: for each referenced OptBlock, the body carries every sampler's VRF proof of
//! its sample of that block ([`SampleProof`]: roster index and proof, 84 bytes each), so
//! anyone holding the samplers' public keys can verify the sample and recompute which
//! transactions it selected (PROTOCOL.md §6.5 step 5: "later provable"). An OptBlock
//! whose signer was already slashed when it arrived is re-verified in full, not sampled,
//! and carries none.
//!
//! Proofs: a [`FraudProof::BadSignature`] and a [`FraudProof::Equivocation`] verify without state;
//! a [`FraudProof::FailedCheck`] (an input unknown or already spent, an overspend) proves
//! statelessly only that the signer included the transaction, and whoever holds the
//! shard state re-runs the check at the OptBlock's position.

use crate::block::BLOCK_TXS_MAX;
use crate::codec::{Decode, DecodeError, Encode, Reader, put_count};
use crate::crypto::hash::Domain;
use crate::merkle::MerkleProof;
use crate::pob::optblock::{
    BadSignatureProof, EquivocationProof, ProofError, SignedOptHeader, signed_and_included,
};
use crate::pob::sample::SampleProof;
use crate::tx::{RejectReason, Transaction};
use crate::types::{Hash, TxId};

/// Most OptBlocks one FinalBlock references (bounds decoding).
pub const REFS_MAX: usize = 4096;
/// Most proofs in one FinalBlock (bounds decoding).
pub const PROOFS_MAX: usize = 1024;
/// Most sampler proofs per referenced OptBlock (bounds decoding).
pub const SAMPLERS_MAX: usize = 4096;
/// Longest Merkle path accepted (trees of up to 2^32 leaves).
const PATH_MAX: usize = 32;

/// A transaction that fails a cheap (stateful) check inside a signed OptBlock.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckProof {
    /// The signed header of the OptBlock.
    pub header: SignedOptHeader,
    /// The offending transaction.
    pub tx: Transaction,
    /// Its path to `header.tx_root`.
    pub path: MerkleProof,
    /// The check it fails against the state at its position.
    pub reason: RejectReason,
}

impl CheckProof {
    /// Verifies the stateless part (signed header, transaction included); returns the
    /// culprit's key. The holder of the state then re-runs the check.
    pub fn verify_inclusion(&self) -> Result<[u8; 32], ProofError> {
        signed_and_included(&self.header, &self.tx, &self.path)?;
        Ok(self.header.signer)
    }
}

/// A proof that blames exactly one believable validator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FraudProof {
    /// An invalid signature in a signed OptBlock.
    BadSignature(BadSignatureProof),
    /// Two different OptBlocks signed for one slot.
    Equivocation(EquivocationProof),
    /// A transaction failing a cheap check (double spend, unknown input, overspend).
    FailedCheck(CheckProof),
}

impl FraudProof {
    /// The culprit's key, if the stateless part verifies.
    pub fn culprit(&self) -> Result<[u8; 32], ProofError> {
        match self {
            FraudProof::BadSignature(p) => p.verify(),
            FraudProof::Equivocation(p) => p.verify(),
            FraudProof::FailedCheck(p) => p.verify_inclusion(),
        }
    }

    /// A stable name for counting.
    pub fn kind(&self) -> &'static str {
        match self {
            FraudProof::BadSignature(_) => "bad_signature",
            FraudProof::Equivocation(_) => "equivocation",
            FraudProof::FailedCheck(_) => "failed_check",
        }
    }
}

/// The PoB part of a FinalBlock.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PobBody {
    /// The finalized OptBlocks, in the order their transactions appear.
    pub refs: Vec<SignedOptHeader>,
    /// The samplers' proofs of their samples of each referenced OptBlock: `samples[i]`
    /// belongs to `refs[i]` (one list per reference, in the normal league's order; empty
    /// for a block that was re-verified in full).
    pub samples: Vec<Vec<SampleProof>>,
    /// Proofs found since the previous FinalBlock.
    pub proofs: Vec<FraudProof>,
    /// Transactions excluded from finality since the previous FinalBlock (by a proof or
    /// the re-check after a slash); their OptBlocks are referenced by this FinalBlock or
    /// a later one, which leaves them out.
    pub excluded: Vec<TxId>,
    /// Transactions in the block that the normal league ordered itself (no OptBlock).
    pub direct: u32,
}

impl PobBody {
    /// The commitment that goes into the FinalBlock header ([`Hash::ZERO`] for an empty
    /// body, i.e. a block ordered by the normal league alone).
    pub fn root(&self) -> Hash {
        if self.refs.is_empty()
            && self.proofs.is_empty()
            && self.excluded.is_empty()
            && self.direct == 0
        {
            return Hash::ZERO;
        }
        Domain::PobBody.hash(&self.to_bytes())
    }
}

impl Encode for MerkleProof {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.index.to_le_bytes());
        out.extend_from_slice(&self.leaf_count.to_le_bytes());
        put_count(out, self.siblings.len());
        for sibling in &self.siblings {
            sibling.encode(out);
        }
    }
}

impl Decode for MerkleProof {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let index = reader.u32("path index")?;
        let leaf_count = reader.u32("path leaf count")?;
        let n = reader.count("path siblings", PATH_MAX, 32)?;
        let siblings = (0..n)
            .map(|_| Hash::decode(reader))
            .collect::<Result<_, _>>()?;
        Ok(MerkleProof {
            index,
            leaf_count,
            siblings,
        })
    }
}

const TAG_BAD_SIGNATURE: u8 = 1;
const TAG_EQUIVOCATION: u8 = 2;
const TAG_FAILED_CHECK: u8 = 3;

impl Encode for FraudProof {
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            FraudProof::BadSignature(p) => {
                out.push(TAG_BAD_SIGNATURE);
                p.header.encode(out);
                p.tx.encode(out);
                p.path.encode(out);
            }
            FraudProof::Equivocation(p) => {
                out.push(TAG_EQUIVOCATION);
                p.first.encode(out);
                p.second.encode(out);
            }
            FraudProof::FailedCheck(p) => {
                out.push(TAG_FAILED_CHECK);
                p.header.encode(out);
                p.tx.encode(out);
                p.path.encode(out);
                let reason = RejectReason::ALL
                    .iter()
                    .position(|r| *r == p.reason)
                    .expect("every reason is listed");
                out.push(reason as u8);
            }
        }
    }
}

impl Decode for FraudProof {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        match reader.u8("proof kind")? {
            TAG_BAD_SIGNATURE => Ok(FraudProof::BadSignature(BadSignatureProof {
                header: SignedOptHeader::decode(reader)?,
                tx: Transaction::decode(reader)?,
                path: MerkleProof::decode(reader)?,
            })),
            TAG_EQUIVOCATION => Ok(FraudProof::Equivocation(EquivocationProof {
                first: SignedOptHeader::decode(reader)?,
                second: SignedOptHeader::decode(reader)?,
            })),
            TAG_FAILED_CHECK => {
                let header = SignedOptHeader::decode(reader)?;
                let tx = Transaction::decode(reader)?;
                let path = MerkleProof::decode(reader)?;
                let reason = *RejectReason::ALL
                    .get(usize::from(reader.u8("reject reason")?))
                    .ok_or(DecodeError::Invalid {
                        what: "reject reason",
                    })?;
                Ok(FraudProof::FailedCheck(CheckProof {
                    header,
                    tx,
                    path,
                    reason,
                }))
            }
            _ => Err(DecodeError::Invalid { what: "proof kind" }),
        }
    }
}

impl Encode for PobBody {
    fn encode(&self, out: &mut Vec<u8>) {
        put_count(out, self.refs.len());
        for signed in &self.refs {
            signed.encode(out);
        }
        put_count(out, self.proofs.len());
        for proof in &self.proofs {
            proof.encode(out);
        }
        out.extend_from_slice(&(self.excluded.len() as u32).to_le_bytes());
        for id in &self.excluded {
            id.0.encode(out);
        }
        out.extend_from_slice(&self.direct.to_le_bytes());
        // One list per reference, after everything else (no count: it is `refs`').
        assert_eq!(
            self.samples.len(),
            self.refs.len(),
            "one list of sample proofs per referenced OptBlock"
        );
        for list in &self.samples {
            put_count(out, list.len());
            for sample in list {
                sample.encode(out);
            }
        }
    }
}

impl Decode for PobBody {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let n = reader.count("optblock refs", REFS_MAX, SIGNED_HEADER_LEN)?;
        let refs: Vec<SignedOptHeader> = (0..n)
            .map(|_| SignedOptHeader::decode(reader))
            .collect::<Result<_, _>>()?;
        let n = reader.count("proofs", PROOFS_MAX, 1)?;
        let proofs = (0..n)
            .map(|_| FraudProof::decode(reader))
            .collect::<Result<_, _>>()?;
        let n = reader.u32("excluded")? as usize;
        if n > BLOCK_TXS_MAX {
            return Err(DecodeError::TooMany {
                what: "excluded",
                count: n,
                max: BLOCK_TXS_MAX,
            });
        }
        if n.saturating_mul(32) > reader.remaining() {
            return Err(DecodeError::UnexpectedEnd {
                what: "excluded",
                needed: n * 32,
                remaining: reader.remaining(),
            });
        }
        let excluded = (0..n)
            .map(|_| Hash::decode(reader).map(TxId))
            .collect::<Result<_, _>>()?;
        let direct = reader.u32("direct")?;
        if direct as usize > BLOCK_TXS_MAX {
            return Err(DecodeError::TooMany {
                what: "direct",
                count: direct as usize,
                max: BLOCK_TXS_MAX,
            });
        }
        let samples = (0..refs.len())
            .map(|_| {
                let n = reader.count("sample proofs", SAMPLERS_MAX, SampleProof::ENCODED_LEN)?;
                (0..n)
                    .map(|_| SampleProof::decode(reader))
                    .collect::<Result<_, _>>()
            })
            .collect::<Result<_, _>>()?;
        Ok(PobBody {
            refs,
            samples,
            proofs,
            excluded,
            direct,
        })
    }
}

const SIGNED_HEADER_LEN: usize = crate::pob::optblock::OptBlockHeader::ENCODED_LEN + 32 + 64;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::vrf::VrfSecretKey;
    use crate::merkle;
    use crate::pob::optblock::OptBlockHeader;
    use crate::pob::sample::Sample;
    use crate::tx::TxOut;
    use crate::types::{Amount, Epoch, OutPoint, Owner, ShardId, ValidatorId};
    use ed25519_dalek::SigningKey;

    fn tx(n: u8) -> Transaction {
        Transaction::signed(
            vec![OutPoint {
                tx: TxId(Hash([n; 32])),
                index: 0,
            }],
            vec![TxOut {
                owner: Owner([n; 32]),
                amount: Amount(1),
            }],
            &[&SigningKey::from_bytes(&[n; 32])],
        )
    }

    fn signed_block(seq: u64, txs: &[Transaction]) -> SignedOptHeader {
        let leaves: Vec<Hash> = txs.iter().map(Transaction::witnessed_hash).collect();
        SignedOptHeader::sign(
            OptBlockHeader {
                shard: ShardId(0),
                epoch: Epoch(1),
                league_index: 2,
                seq,
                prev_opt: Hash::ZERO,
                prev_final: Hash::ZERO,
                tx_root: merkle::root(&leaves),
                tx_count: txs.len() as u32,
            },
            &SigningKey::from_bytes(&[9; 32]),
        )
    }

    fn sampler(i: u32) -> VrfSecretKey {
        VrfSecretKey::from_seed(&[i as u8 + 1; 32])
    }

    fn sample_proof(i: u32, block: &SignedOptHeader) -> SampleProof {
        SampleProof {
            sampler: ValidatorId(i),
            proof: Sample::draw(&sampler(i), &block.header.hash()).proof,
        }
    }

    fn body() -> PobBody {
        let mut txs = [tx(1), tx(2), tx(3)];
        // The signer included a transaction whose signature it corrupted.
        txs[1].witnesses[0].signature[0] ^= 1;
        let bad = txs[1].clone();
        let header = signed_block(0, &txs);
        let leaves: Vec<Hash> = txs.iter().map(Transaction::witnessed_hash).collect();
        let other = signed_block(0, &txs[..2]);
        let refs = vec![header, signed_block(1, &txs[..1])];
        PobBody {
            // Two samplers of the first block, none of the second (re-verified in full).
            samples: vec![
                vec![sample_proof(3, &refs[0]), sample_proof(5, &refs[0])],
                Vec::new(),
            ],
            refs,
            proofs: vec![
                FraudProof::BadSignature(BadSignatureProof {
                    header,
                    tx: bad,
                    path: merkle::prove(&leaves, 1).unwrap(),
                }),
                FraudProof::Equivocation(EquivocationProof {
                    first: header,
                    second: other,
                }),
                FraudProof::FailedCheck(CheckProof {
                    header,
                    tx: txs[2].clone(),
                    path: merkle::prove(&leaves, 2).unwrap(),
                    reason: RejectReason::DoubleSpend,
                }),
            ],
            excluded: vec![txs[1].id(), txs[2].id()],
            direct: 3,
        }
    }

    #[test]
    fn body_round_trips_and_its_root_covers_every_part() {
        let body = body();
        let bytes = body.to_bytes();
        assert_eq!(PobBody::from_bytes(&bytes), Ok(body.clone()));
        let mut fewer = body.clone();
        fewer.excluded.pop();
        assert_ne!(fewer.root(), body.root());
        let mut no_proof = body.clone();
        no_proof.proofs.pop();
        assert_ne!(no_proof.root(), body.root());
        let mut fewer_direct = body.clone();
        fewer_direct.direct = 2;
        assert_ne!(fewer_direct.root(), body.root());
        assert_eq!(PobBody::default().root(), Hash::ZERO);
    }

    #[test]
    fn the_root_commits_to_every_sample_proof() {
        let body = body();
        // The published samples verify under their samplers' keys over their blocks.
        for (signed, list) in body.refs.iter().zip(&body.samples) {
            for s in list {
                let public = sampler(s.sampler.0).public();
                assert!(s.verify(&public, &signed.header.hash()).is_ok());
            }
        }
        let mut missing = body.clone();
        missing.samples[0].pop();
        assert_ne!(missing.root(), body.root());
        let mut moved = body.clone();
        let first = moved.samples[0].remove(0);
        moved.samples[1].push(first);
        assert_ne!(moved.root(), body.root());
        let mut renamed = body.clone();
        renamed.samples[0][0].sampler = ValidatorId(4);
        assert_ne!(renamed.root(), body.root());
        let mut swapped = body.clone();
        swapped.samples[0].swap(0, 1);
        assert_ne!(swapped.root(), body.root());
        let mut other_proof = body.clone();
        other_proof.samples[0][0].proof = body.samples[0][1].proof;
        assert_ne!(other_proof.root(), body.root());
        assert_eq!(PobBody::from_bytes(&missing.to_bytes()), Ok(missing));
    }

    #[test]
    fn sample_proofs_cost_two_bytes_per_reference_and_84_per_sampler() {
        let body = body();
        let mut none = body.clone();
        none.samples = vec![Vec::new(); none.refs.len()];
        assert_eq!(
            body.to_bytes().len() - none.to_bytes().len(),
            2 * SampleProof::ENCODED_LEN
        );
        let mut bare = none.clone();
        bare.refs.clear();
        bare.samples.clear();
        assert_eq!(
            none.to_bytes().len() - bare.to_bytes().len(),
            2 * (SIGNED_HEADER_LEN + 2)
        );
    }

    #[test]
    fn a_body_without_one_list_per_reference_does_not_decode() {
        let body = body();
        let bytes = body.to_bytes();
        // The last list (empty: a 0 count) dropped: the decoder wants one per reference.
        assert!(PobBody::from_bytes(&bytes[..bytes.len() - 2]).is_err());
        // A list count above the bound.
        let mut too_many = bytes.clone();
        let at = bytes.len() - 2;
        too_many[at..].copy_from_slice(&(SAMPLERS_MAX as u16 + 1).to_le_bytes());
        assert!(PobBody::from_bytes(&too_many).is_err());
        // Trailing bytes after the last list.
        let mut longer = bytes;
        longer.push(0);
        assert!(PobBody::from_bytes(&longer).is_err());
    }

    #[test]
    fn truncated_or_corrupted_bodies_are_errors_not_panics() {
        let bytes = body().to_bytes();
        for cut in 0..bytes.len() {
            assert!(PobBody::from_bytes(&bytes[..cut]).is_err());
        }
        let mut flipped = bytes.clone();
        // The first proof's kind tag sits after the refs.
        flipped[2 + 2 * SIGNED_HEADER_LEN + 2] = 7;
        assert!(PobBody::from_bytes(&flipped).is_err());
    }

    #[test]
    fn proofs_name_the_signer_and_a_check_proof_needs_inclusion() {
        let body = body();
        let signer = SigningKey::from_bytes(&[9; 32]).verifying_key().to_bytes();
        for proof in &body.proofs {
            assert_eq!(proof.culprit(), Ok(signer), "{}", proof.kind());
        }
        let FraudProof::FailedCheck(mut check) = body.proofs[2].clone() else {
            unreachable!()
        };
        check.tx = tx(7);
        assert_eq!(check.verify_inclusion(), Err(ProofError::NotIncluded));
    }
}
