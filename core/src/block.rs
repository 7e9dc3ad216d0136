//! Blocks: a fixed-layout header, a body of transactions, and the final-block
//! certificate (a CoSi collective signature over the header hash).
//!
//! Flow: the shard's leader orders transactions into a [`Block`] (header with the
//! Merkle root of the transaction ids), the roster cosigns the header hash, and the
//! [`FinalCertificate`] makes the block final; anyone holding the roster verifies it with
//! one signature check. Invariants: `header.tx_root` is the Merkle root of the body's
//! transaction ids in order and `header.tx_count` their number ([`Block::check_body`]);
//! a certificate is valid only with more than 2/3 of the roster signing.

use crate::codec::{Decode, DecodeError, Encode, Reader};
use crate::crypto::cosi::{CoSignature, CosiError, Roster};
use crate::crypto::hash::Domain;
use crate::merkle;
use crate::tx::Transaction;
use crate::types::{Epoch, Hash, Height, ShardId, TxId};

/// Most transactions in one block (bounds decoding).
pub const BLOCK_TXS_MAX: usize = 1 << 16;

/// A block header. Encoded as a fixed 152-byte layout:
/// `shard u32, epoch u64, height u64, prev 32, tx_root 32, tx_count u32, pob_root 32,
/// atomix_root 32`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockHeader {
    /// The shard whose chain this block extends.
    pub shard: ShardId,
    /// The epoch it belongs to.
    pub epoch: Epoch,
    /// Its height in the shard's chain.
    pub height: Height,
    /// Hash of the previous block's header ([`Hash::ZERO`] for the first block).
    pub prev: Hash,
    /// Merkle root of the transaction ids in the body, in order.
    pub tx_root: Hash,
    /// Number of transactions in the body.
    pub tx_count: u32,
    /// Commitment to the PoB part of a FinalBlock: the OptBlocks it finalizes, the
    /// fraud proofs and the excluded transactions
    /// ([`crate::pob::final_body::PobBody::root`]); [`Hash::ZERO`] for a block ordered
    /// by the normal league alone (one-league fallback).
    pub pob_root: Hash,
    /// Merkle root of the block's cross-shard (Atomix) entries — locks, rejections,
    /// commits, aborts — that proofs of acceptance and rejection point into
    /// ([`Hash::ZERO`] when there are none; PROTOCOL.md §5.3).
    pub atomix_root: Hash,
}

impl BlockHeader {
    /// Encoded size in bytes.
    pub const ENCODED_LEN: usize = 4 + 8 + 8 + 32 + 32 + 4 + 32 + 32;

    fn to_array(self) -> [u8; Self::ENCODED_LEN] {
        let mut out = [0u8; Self::ENCODED_LEN];
        out[0..4].copy_from_slice(&self.shard.0.to_le_bytes());
        out[4..12].copy_from_slice(&self.epoch.0.to_le_bytes());
        out[12..20].copy_from_slice(&self.height.0.to_le_bytes());
        out[20..52].copy_from_slice(&self.prev.0);
        out[52..84].copy_from_slice(&self.tx_root.0);
        out[84..88].copy_from_slice(&self.tx_count.to_le_bytes());
        out[88..120].copy_from_slice(&self.pob_root.0);
        out[120..152].copy_from_slice(&self.atomix_root.0);
        out
    }

    /// `H(BlockHeader ‖ encoding)`: what the roster cosigns and the next block links to.
    pub fn hash(&self) -> Hash {
        Domain::BlockHeader.hash(&self.to_array())
    }
}

impl Encode for BlockHeader {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_array());
    }
}

impl Decode for BlockHeader {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(BlockHeader {
            shard: ShardId::decode(reader)?,
            epoch: Epoch::decode(reader)?,
            height: Height::decode(reader)?,
            prev: Hash::decode(reader)?,
            tx_root: Hash::decode(reader)?,
            tx_count: reader.u32("tx count")?,
            pob_root: Hash::decode(reader)?,
            atomix_root: Hash::decode(reader)?,
        })
    }
}

/// A block: header and transactions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Block {
    /// The header.
    pub header: BlockHeader,
    /// The transactions, in order.
    pub txs: Vec<Transaction>,
}

/// Why a block's body does not match its header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BlockError {
    /// `tx_count` differs from the body.
    #[error("header counts {header} transactions, body has {body}")]
    CountMismatch {
        /// The header's count.
        header: u32,
        /// The body's count.
        body: usize,
    },
    /// `tx_root` differs from the body's root.
    #[error("transaction root does not match the body")]
    RootMismatch,
}

impl Block {
    /// Builds a block over `txs` whose ids the caller already computed (`ids[i]` is
    /// `txs[i].id()`); `scratch` is reused for the Merkle levels.
    pub fn build(
        shard: ShardId,
        epoch: Epoch,
        height: Height,
        prev: Hash,
        txs: Vec<Transaction>,
        ids: &[TxId],
        scratch: &mut Vec<Hash>,
    ) -> Block {
        assert_eq!(txs.len(), ids.len(), "one id per transaction");
        assert!(txs.len() <= BLOCK_TXS_MAX, "block above BLOCK_TXS_MAX");
        Block {
            header: BlockHeader {
                shard,
                epoch,
                height,
                prev,
                tx_root: merkle::root_of(ids.iter().map(|id| id.0), scratch),
                tx_count: txs.len() as u32,
                pob_root: Hash::ZERO,
                atomix_root: Hash::ZERO,
            },
            txs,
        }
    }

    /// Recomputes the body's ids and root and compares them with the header.
    pub fn check_body(&self) -> Result<(), BlockError> {
        if self.header.tx_count as usize != self.txs.len() {
            return Err(BlockError::CountMismatch {
                header: self.header.tx_count,
                body: self.txs.len(),
            });
        }
        let ids: Vec<Hash> = self.txs.iter().map(|tx| tx.id().0).collect();
        if merkle::root(&ids) != self.header.tx_root {
            return Err(BlockError::RootMismatch);
        }
        Ok(())
    }
}

impl Encode for Block {
    /// Layout: header (152 bytes), `u32` count, then the transactions back to back (each
    /// is self-delimiting).
    fn encode(&self, out: &mut Vec<u8>) {
        self.header.encode(out);
        out.extend_from_slice(&(self.txs.len() as u32).to_le_bytes());
        for tx in &self.txs {
            tx.encode(out);
        }
    }
}

impl Decode for Block {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let header = BlockHeader::decode(reader)?;
        let count = reader.u32("block tx count")? as usize;
        if count > BLOCK_TXS_MAX {
            return Err(DecodeError::TooMany {
                what: "block transactions",
                count,
                max: BLOCK_TXS_MAX,
            });
        }
        // Each transaction needs at least three counts: bound the allocation by the bytes.
        let mut txs = Vec::with_capacity(count.min(reader.remaining() / 6));
        for _ in 0..count {
            txs.push(Transaction::decode(reader)?);
        }
        Ok(Block { header, txs })
    }
}

/// The certificate that makes a block final: the roster's collective signature over the
/// header hash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FinalCertificate {
    /// The certified header's hash.
    pub header_hash: Hash,
    /// The roster's collective signature over `header_hash`.
    pub cosig: CoSignature,
}

impl FinalCertificate {
    /// Encoded length for a roster of `roster_len` members.
    pub fn encoded_len(roster_len: usize) -> usize {
        32 + CoSignature::encoded_len(roster_len)
    }

    /// Appends `header_hash ‖ cosignature` (the cosignature's length follows from the
    /// roster size, which the reader knows).
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.header_hash.0);
        self.cosig.encode(out);
    }

    /// Reads a certificate for a roster of `roster_len` members.
    pub fn decode(reader: &mut Reader<'_>, roster_len: usize) -> Result<Self, DecodeError> {
        let header_hash = Hash::decode(reader)?;
        let bytes = reader.take(CoSignature::encoded_len(roster_len), "cosignature")?;
        let cosig =
            CoSignature::from_bytes(bytes, roster_len).map_err(|_| DecodeError::Invalid {
                what: "cosignature",
            })?;
        Ok(FinalCertificate { header_hash, cosig })
    }

    /// Verifies that this certificate finalizes `header` under `roster`.
    pub fn verify(&self, header: &BlockHeader, roster: &Roster) -> Result<(), CosiError> {
        if header.hash() != self.header_hash {
            return Err(CosiError::InvalidSignature);
        }
        self.cosig.verify(roster, &self.header_hash.0)
    }
}

#[cfg(test)]
mod tests {
    use ed25519_dalek::SigningKey;

    use super::*;
    use crate::crypto::cosi::{Signers, ValidatorKey, sign_round};
    use crate::tx::TxOut;
    use crate::types::{Amount, OutPoint, Owner};

    fn txs(n: u8) -> Vec<Transaction> {
        (0..n)
            .map(|i| {
                let key = SigningKey::from_bytes(&[i; 32]);
                Transaction::signed(
                    vec![OutPoint {
                        tx: TxId(Hash([i; 32])),
                        index: 0,
                    }],
                    vec![TxOut {
                        owner: Owner([i; 32]),
                        amount: Amount(5),
                    }],
                    &[&key],
                )
            })
            .collect()
    }

    fn block(n: u8) -> Block {
        let body = txs(n);
        let ids: Vec<TxId> = body.iter().map(Transaction::id).collect();
        Block::build(
            ShardId(1),
            Epoch(2),
            Height(3),
            Hash([9; 32]),
            body,
            &ids,
            &mut Vec::new(),
        )
    }

    fn roster(n: usize) -> (Vec<ValidatorKey>, Roster) {
        let keys: Vec<ValidatorKey> = (0..n)
            .map(|i| ValidatorKey::from_seed(&[i as u8; 32]))
            .collect();
        let members: Vec<_> = keys
            .iter()
            .map(|k| (k.public(), k.prove_possession()))
            .collect();
        let roster = Roster::new(&members).unwrap();
        (keys, roster)
    }

    #[test]
    fn built_block_matches_its_body() {
        let block = block(5);
        assert_eq!(block.header.tx_count, 5);
        assert_eq!(block.check_body(), Ok(()));
        assert_eq!(Block::from_bytes(&block.to_bytes()), Ok(block));
    }

    #[test]
    fn reordered_or_dropped_transactions_break_the_root() {
        let mut reordered = block(4);
        reordered.txs.swap(0, 1);
        assert_eq!(reordered.check_body(), Err(BlockError::RootMismatch));
        let mut dropped = block(4);
        dropped.txs.pop();
        assert!(matches!(
            dropped.check_body(),
            Err(BlockError::CountMismatch { .. })
        ));
    }

    #[test]
    fn every_header_field_changes_the_hash() {
        let header = block(1).header;
        let mut variants = [header; 6];
        variants[0].shard.0 += 1;
        variants[1].epoch.0 += 1;
        variants[2].height.0 += 1;
        variants[3].prev.0[0] ^= 1;
        variants[4].tx_root.0[0] ^= 1;
        variants[5].tx_count += 1;
        for variant in variants {
            assert_ne!(variant.hash(), header.hash());
        }
    }

    #[test]
    fn certificate_finalizes_exactly_its_header() {
        let (keys, roster) = roster(7);
        let block = block(3);
        let header_hash = block.header.hash();
        let cosig = sign_round(&roster, &keys, &Signers::all(7), &header_hash.0, &[1; 32]);
        let certificate = FinalCertificate { header_hash, cosig };
        assert_eq!(certificate.verify(&block.header, &roster), Ok(()));
        let mut bytes = Vec::new();
        certificate.encode(&mut bytes);
        assert_eq!(bytes.len(), FinalCertificate::encoded_len(7));
        let mut reader = Reader::new(&bytes);
        assert_eq!(
            FinalCertificate::decode(&mut reader, 7),
            Ok(certificate.clone())
        );
        let mut other = block.header;
        other.height.0 += 1;
        assert!(certificate.verify(&other, &roster).is_err());
    }

    #[test]
    fn certificate_from_too_few_signers_is_rejected() {
        let (keys, roster) = roster(7);
        let header = block(1).header;
        let header_hash = header.hash();
        // 7 members: more than 2/3 means at least 5.
        let cosig = sign_round(
            &roster,
            &keys,
            &Signers::from_indices(7, 0..4),
            &header_hash.0,
            &[2; 32],
        );
        let certificate = FinalCertificate { header_hash, cosig };
        assert!(matches!(
            certificate.verify(&header, &roster),
            Err(CosiError::BelowThreshold { .. })
        ));
    }
}
