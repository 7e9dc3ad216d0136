//! OptBlocks, equivocation proofs and bad-signature fraud proofs (PROTOCOL.md §6.5).
//!
//! Flow: believable validator `b` orders the transactions routed to it, checks them in
//! full, and signs an [`OptBlockHeader`] (ed25519 over its domain-separated hash) — the
//! provisional confirmation. Normal validators check every transaction cheaply and a VRF
//! sample in full; a failed signature check becomes a [`BadSignatureProof`] that anyone can
//! verify without state (the signed header, the transaction and its Merkle path); two
//! signed headers from one validator for the same `(shard, epoch, league index, seq)`
//! with different contents become an [`EquivocationProof`]. Either names exactly one
//! culprit, the key that signed; a proof against an honest validator does not verify.
//!
//! Invariants (tested): a fraud proof verifies only if the header is signed by the
//! culprit, the transaction is in that header's body, and one of its witnesses fails
//! verification; an equivocation proof verifies only for two distinct, validly signed
//! headers in the same slot from the same key.

use ed25519_dalek::{Signer, SigningKey};
use rustc_hash::FxHashMap;

use crate::codec::{Decode, DecodeError, Encode, Reader};
use crate::crypto::hash::Domain;
use crate::crypto::sig::verify_encoded;
use crate::merkle::MerkleProof;
use crate::tx::Transaction;
use crate::types::{Epoch, Hash, ShardId};

/// The header of an OptBlock. Fixed 122-byte encoding:
/// `shard u32, epoch u64, league_index u16, seq u64, prev_opt 32, prev_final 32,
/// tx_root 32, tx_count u32`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OptBlockHeader {
    /// The shard.
    pub shard: ShardId,
    /// The epoch.
    pub epoch: Epoch,
    /// The signer's index `b` in the believable league.
    pub league_index: u16,
    /// Sequence number in `b`'s own chain of OptBlocks.
    pub seq: u64,
    /// Hash of `b`'s previous OptBlock header.
    pub prev_opt: Hash,
    /// Hash of the latest FinalBlock header `b` had seen.
    pub prev_final: Hash,
    /// Merkle root of the transactions' witnessed hashes
    /// ([`Transaction::witnessed_hash`]): the signer answers for the signatures it
    /// included, so the commitment covers them (the id alone would let anyone swap in a
    /// corrupted signature and blame an honest signer).
    pub tx_root: Hash,
    /// Number of transactions.
    pub tx_count: u32,
}

impl OptBlockHeader {
    /// Encoded size.
    pub const ENCODED_LEN: usize = 4 + 8 + 2 + 8 + 32 + 32 + 32 + 4;

    /// `H(OptBlockHeader ‖ encoding)`: what the believable validator signs.
    pub fn hash(&self) -> Hash {
        let mut bytes = Vec::with_capacity(Self::ENCODED_LEN);
        self.encode(&mut bytes);
        Domain::OptBlockHeader.hash(&bytes)
    }

    /// Whether two headers occupy the same slot of the same signer's chain.
    pub fn same_slot(&self, other: &OptBlockHeader) -> bool {
        (self.shard, self.epoch, self.league_index, self.seq)
            == (other.shard, other.epoch, other.league_index, other.seq)
    }
}

impl Encode for OptBlockHeader {
    fn encode(&self, out: &mut Vec<u8>) {
        self.shard.encode(out);
        self.epoch.encode(out);
        out.extend_from_slice(&self.league_index.to_le_bytes());
        out.extend_from_slice(&self.seq.to_le_bytes());
        self.prev_opt.encode(out);
        self.prev_final.encode(out);
        self.tx_root.encode(out);
        out.extend_from_slice(&self.tx_count.to_le_bytes());
    }
}

impl Decode for OptBlockHeader {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(OptBlockHeader {
            shard: ShardId::decode(reader)?,
            epoch: Epoch::decode(reader)?,
            league_index: reader.u16("league index")?,
            seq: reader.u64("seq")?,
            prev_opt: Hash::decode(reader)?,
            prev_final: Hash::decode(reader)?,
            tx_root: Hash::decode(reader)?,
            tx_count: reader.u32("tx count")?,
        })
    }
}

/// A header with its signer's key and signature.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SignedOptHeader {
    /// The header.
    pub header: OptBlockHeader,
    /// The signer's ed25519 public key.
    pub signer: [u8; 32],
    /// ed25519 signature over the header hash.
    pub signature: [u8; 64],
}

impl SignedOptHeader {
    /// Signs `header` with `key`.
    pub fn sign(header: OptBlockHeader, key: &SigningKey) -> Self {
        SignedOptHeader {
            header,
            signer: key.verifying_key().to_bytes(),
            signature: key.sign(header.hash().as_bytes()).to_bytes(),
        }
    }

    /// Whether the signature is valid for `signer` (ZIP-215, as every signature).
    pub fn verify(&self) -> bool {
        verify_encoded(&self.signer, self.header.hash().as_bytes(), &self.signature)
    }
}

impl Encode for SignedOptHeader {
    fn encode(&self, out: &mut Vec<u8>) {
        self.header.encode(out);
        out.extend_from_slice(&self.signer);
        out.extend_from_slice(&self.signature);
    }
}

impl Decode for SignedOptHeader {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(SignedOptHeader {
            header: OptBlockHeader::decode(reader)?,
            signer: reader.array("signer")?,
            signature: reader.array("signature")?,
        })
    }
}

/// Why a proof does not verify.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    /// A header's signature is invalid.
    #[error("a header's signature does not verify")]
    BadHeaderSignature,
    /// The two headers are from different signers or slots, or identical.
    #[error("the headers are not two different blocks in one signer's slot")]
    NotConflicting,
    /// The Merkle path does not put the transaction in the header's body.
    #[error("the transaction is not in the block")]
    NotIncluded,
    /// Every witness of the transaction verifies: nothing to blame.
    #[error("the transaction's signatures are valid")]
    TransactionValid,
}

/// Two different OptBlocks signed for one slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EquivocationProof {
    /// One header.
    pub first: SignedOptHeader,
    /// The other.
    pub second: SignedOptHeader,
}

impl EquivocationProof {
    /// Verifies the proof; returns the culprit's key.
    pub fn verify(&self) -> Result<[u8; 32], ProofError> {
        let (a, b) = (&self.first, &self.second);
        if a.signer != b.signer || !a.header.same_slot(&b.header) || a.header == b.header {
            return Err(ProofError::NotConflicting);
        }
        if !a.verify() || !b.verify() {
            return Err(ProofError::BadHeaderSignature);
        }
        Ok(a.signer)
    }
}

/// A transaction with an invalid signature inside a signed OptBlock.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadSignatureProof {
    /// The signed header of the OptBlock.
    pub header: SignedOptHeader,
    /// The offending transaction.
    pub tx: Transaction,
    /// Its path to `header.tx_root`.
    pub path: MerkleProof,
}

/// Checks that `header` is validly signed and that `tx` (its witnessed hash) sits at
/// `path` in the header's body: the stateless part of every proof against a signer.
pub(crate) fn signed_and_included(
    header: &SignedOptHeader,
    tx: &Transaction,
    path: &MerkleProof,
) -> Result<(), ProofError> {
    if !header.verify() {
        return Err(ProofError::BadHeaderSignature);
    }
    if path.leaf_count != header.header.tx_count
        || !path.verify(&header.header.tx_root, &tx.witnessed_hash())
    {
        return Err(ProofError::NotIncluded);
    }
    Ok(())
}

impl BadSignatureProof {
    /// Verifies the proof without any state; returns the culprit's key.
    pub fn verify(&self) -> Result<[u8; 32], ProofError> {
        signed_and_included(&self.header, &self.tx, &self.path)?;
        let id = self.tx.id();
        // The rule every validator applies (ZIP-215): a witness that is valid alone is
        // valid in every batch, so no batch could have made an honest signer accept it.
        let all_valid = self
            .tx
            .witnesses
            .iter()
            .all(|w| verify_encoded(&w.owner.0, id.0.as_bytes(), &w.signature));
        if all_valid {
            return Err(ProofError::TransactionValid);
        }
        Ok(self.header.signer)
    }
}

/// Watches signed headers and reports the first conflict per slot.
#[derive(Debug, Default)]
pub struct EquivocationDetector {
    seen: FxHashMap<([u8; 32], ShardId, Epoch, u16, u64), SignedOptHeader>,
}

impl EquivocationDetector {
    /// An empty detector.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records a validly signed header; returns a proof if its slot already held a
    /// different one. Headers with invalid signatures are ignored (they prove nothing).
    pub fn observe(&mut self, signed: SignedOptHeader) -> Option<EquivocationProof> {
        if !signed.verify() {
            return None;
        }
        self.observe_verified(signed)
    }

    /// [`EquivocationDetector::observe`] for a header whose signature the caller has
    /// just verified (saves the second ed25519 verification).
    pub fn observe_verified(&mut self, signed: SignedOptHeader) -> Option<EquivocationProof> {
        let h = &signed.header;
        let slot = (signed.signer, h.shard, h.epoch, h.league_index, h.seq);
        match self.seen.get(&slot) {
            Some(first) if first.header != signed.header => Some(EquivocationProof {
                first: *first,
                second: signed,
            }),
            Some(_) => None,
            None => {
                self.seen.insert(slot, signed);
                None
            }
        }
    }

    /// Forgets slots below `seq` for every signer (after they are final).
    pub fn prune_below(&mut self, seq: u64) {
        self.seen.retain(|slot, _| slot.4 >= seq);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merkle;
    use crate::tx::TxOut;
    use crate::types::{Amount, OutPoint, Owner, TxId};

    fn key(n: u8) -> SigningKey {
        SigningKey::from_bytes(&[n; 32])
    }

    fn tx(n: u8) -> Transaction {
        let k = key(100 + n);
        Transaction::signed(
            vec![OutPoint {
                tx: TxId(Hash([n; 32])),
                index: 0,
            }],
            vec![TxOut {
                owner: Owner([n; 32]),
                amount: Amount(1),
            }],
            &[&k],
        )
    }

    fn header(seq: u64, txs: &[Transaction]) -> OptBlockHeader {
        let ids: Vec<Hash> = txs.iter().map(Transaction::witnessed_hash).collect();
        OptBlockHeader {
            shard: ShardId(1),
            epoch: Epoch(2),
            league_index: 3,
            seq,
            prev_opt: Hash([4; 32]),
            prev_final: Hash([5; 32]),
            tx_root: merkle::root(&ids),
            tx_count: txs.len() as u32,
        }
    }

    fn fraud_proof(txs: &[Transaction], index: usize, signer: &SigningKey) -> BadSignatureProof {
        let ids: Vec<Hash> = txs.iter().map(Transaction::witnessed_hash).collect();
        BadSignatureProof {
            header: SignedOptHeader::sign(header(0, txs), signer),
            tx: txs[index].clone(),
            path: merkle::prove(&ids, index).unwrap(),
        }
    }

    #[test]
    fn signed_header_round_trips_and_verifies_only_untampered() {
        let signed = SignedOptHeader::sign(header(7, &[tx(1)]), &key(1));
        assert!(signed.verify());
        let bytes = signed.to_bytes();
        assert_eq!(bytes.len(), OptBlockHeader::ENCODED_LEN + 96);
        assert_eq!(SignedOptHeader::from_bytes(&bytes), Ok(signed));
        let mut tampered = signed;
        tampered.header.tx_count += 1;
        assert!(!tampered.verify());
    }

    #[test]
    fn fraud_is_detected_when_believable_signs_bad_tx() {
        let mut txs: Vec<Transaction> = (1..=5).map(tx).collect();
        txs[2].witnesses[0].signature[10] ^= 1;
        let culprit = key(9);
        let proof = fraud_proof(&txs, 2, &culprit);
        assert_eq!(proof.verify(), Ok(culprit.verifying_key().to_bytes()));
    }

    #[test]
    fn fraud_proof_against_an_honest_block_blames_no_one() {
        let txs: Vec<Transaction> = (1..=5).map(tx).collect();
        let proof = fraud_proof(&txs, 2, &key(9));
        assert_eq!(proof.verify(), Err(ProofError::TransactionValid));
    }

    #[test]
    fn honest_block_cannot_be_framed_by_corrupting_a_signature() {
        let mut txs: Vec<Transaction> = (1..=5).map(tx).collect();
        let mut proof = fraud_proof(&txs, 2, &key(9));
        // Same id, corrupted signature the validator never signed: not in its block.
        txs[2].witnesses[0].signature[10] ^= 1;
        proof.tx = txs[2].clone();
        assert_eq!(proof.verify(), Err(ProofError::NotIncluded));
    }

    #[test]
    fn fraud_proof_with_a_forged_header_signature_is_rejected() {
        let mut txs: Vec<Transaction> = (1..=3).map(tx).collect();
        txs[0].witnesses[0].signature[0] ^= 1;
        let mut proof = fraud_proof(&txs, 0, &key(9));
        proof.header.signer = key(8).verifying_key().to_bytes();
        assert_eq!(proof.verify(), Err(ProofError::BadHeaderSignature));
    }

    #[test]
    fn equivocation_is_detected_and_blames_only_the_signer() {
        let culprit = key(3);
        let honest = key(4);
        let mut detector = EquivocationDetector::new();
        assert!(
            detector
                .observe(SignedOptHeader::sign(header(0, &[tx(1)]), &culprit))
                .is_none()
        );
        // The honest validator's blocks (same seq, other signer) and the culprit's next
        // block are not conflicts.
        assert!(
            detector
                .observe(SignedOptHeader::sign(header(0, &[tx(2)]), &honest))
                .is_none()
        );
        assert!(
            detector
                .observe(SignedOptHeader::sign(header(1, &[tx(2)]), &culprit))
                .is_none()
        );
        // Seeing the same header twice is not a conflict.
        assert!(
            detector
                .observe(SignedOptHeader::sign(header(0, &[tx(1)]), &culprit))
                .is_none()
        );
        let proof = detector
            .observe(SignedOptHeader::sign(header(0, &[tx(3)]), &culprit))
            .expect("a second block for seq 0");
        assert_eq!(proof.verify(), Ok(culprit.verifying_key().to_bytes()));
    }

    #[test]
    fn an_equivocation_is_caught_whichever_header_arrives_first() {
        let culprit = key(3);
        let first = SignedOptHeader::sign(header(0, &[tx(1)]), &culprit);
        let second = SignedOptHeader::sign(header(0, &[tx(2)]), &culprit);
        for (a, b) in [(first, second), (second, first)] {
            let mut detector = EquivocationDetector::new();
            assert!(detector.observe(a).is_none());
            let proof = detector.observe(b).expect("the second header for the slot");
            assert_eq!(proof.verify(), Ok(culprit.verifying_key().to_bytes()));
        }
    }

    #[test]
    fn equivocation_proof_from_two_signers_or_two_slots_is_rejected() {
        let a = SignedOptHeader::sign(header(0, &[tx(1)]), &key(3));
        let b = SignedOptHeader::sign(header(0, &[tx(2)]), &key(4));
        assert_eq!(
            EquivocationProof {
                first: a,
                second: b
            }
            .verify(),
            Err(ProofError::NotConflicting)
        );
        let c = SignedOptHeader::sign(header(1, &[tx(2)]), &key(3));
        assert_eq!(
            EquivocationProof {
                first: a,
                second: c
            }
            .verify(),
            Err(ProofError::NotConflicting)
        );
        assert_eq!(
            EquivocationProof {
                first: a,
                second: a
            }
            .verify(),
            Err(ProofError::NotConflicting)
        );
    }

    #[test]
    fn forged_header_is_ignored_by_the_detector() {
        let mut detector = EquivocationDetector::new();
        detector.observe(SignedOptHeader::sign(header(0, &[tx(1)]), &key(3)));
        let mut forged = SignedOptHeader::sign(header(0, &[tx(2)]), &key(3));
        forged.signature[0] ^= 1;
        assert!(detector.observe(forged).is_none());
    }
}
