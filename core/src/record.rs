//! A FinalBlock record: how a shard's leader writes a final block for the block log, and
//! how anyone reads it back (pure bytes; the files are the host's).
//!
//! Layout: magic `IOSB`, payload length (`u32`), payload, blake3 of the payload.
//! The payload is the block header (152 bytes), the transaction count (`u32`), the
//! transactions, the final certificate (header hash and the league's CoSi), then the
//! PoB body (the OptBlocks the block finalizes with each sampler's VRF proof of them,
//! fraud proofs, excluded transaction ids; committed to by the header's `pob_root`), then the Atomix entries (`u32` count, each
//! entry followed by the cross-shard transaction it is about, declaration included; the
//! entries are committed to by the header's `atomix_root`), then the [`Annex`]. The
//! checksum catches torn or damaged writes; the certificate proves the league finalized
//! the block.
//!
//! The annex is what lets anyone re-derive what the shard decided, and nothing else (12
//! bytes in a block with no exclusion, no direct batch and no missed duty): where the
//! normal league's own batches sit among the referenced OptBlocks, the bodies and
//! positions of the transactions excluded from them (so every referenced OptBlock's
//! `tx_root` can be rebuilt: a forged copy or a replay is not in the stream or not in
//! the log), and the believable validators charged a missed duty (a standing change the
//! league selection of later epochs depends on). It is not covered by the certificate;
//! the validity oracle checks it against what is (rebuilt roots against signed OptBlock
//! headers, excluded ids against the certified PoB body).

use crate::atomix::{CrossTx, Entry};
use crate::block::{BlockHeader, FinalCertificate};
use crate::codec::{Decode, DecodeError, Encode, Reader};
use crate::pob::final_body::PobBody;
use crate::tx::Transaction;

/// First bytes of every record.
pub const RECORD_MAGIC: [u8; 4] = *b"IOSB";
/// Length of the checksum after each payload.
pub const CHECKSUM_LEN: usize = 32;

/// Most Atomix entries one record may hold (a bound for decoding untrusted bytes).
pub const ENTRIES_MAX: usize = 1 << 20;

/// Most items in each list of an [`Annex`] (a bound for decoding untrusted bytes).
pub const ANNEX_MAX: usize = 1 << 20;

/// A transaction excluded from a block the record finalizes: its place and its body (as
/// signed: a `bad-signature` validator's forged copy, a `double-spend` replay).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExcludedTx {
    /// Index of its block in the record's sequence of finalized blocks (the referenced
    /// OptBlocks and the normal league's own batches, in the order they were applied).
    pub block: u32,
    /// Its position in that block.
    pub position: u32,
    /// The transaction.
    pub tx: Transaction,
}

/// What the oracle needs beyond the block and its PoB body (see the module doc).
#[derive(Clone, Debug, Default)]
pub struct Annex {
    /// The normal league's own batches: (index in the sequence of finalized blocks,
    /// transactions including excluded ones). Every other index is the next referenced
    /// OptBlock.
    pub direct: Vec<(u32, u32)>,
    /// The excluded transactions of the finalized blocks, in block and position order.
    pub excluded: Vec<ExcludedTx>,
    /// Roster indices of the believable validators charged a missed duty at this block.
    pub missed: Vec<u32>,
    blocks: u32,
}

impl Annex {
    /// Appends the next finalized block (an OptBlock if `signed`, else a batch of the
    /// normal league's own) of `len` transactions.
    pub fn block(&mut self, signed: bool, len: usize) {
        if !signed {
            self.direct.push((self.blocks, len as u32));
        }
        self.blocks += 1;
    }

    /// The transaction at `position` of the last appended block was excluded.
    pub fn exclude(&mut self, position: usize, tx: &Transaction) {
        self.excluded.push(ExcludedTx {
            block: self.blocks.saturating_sub(1),
            position: position as u32,
            tx: tx.clone(),
        });
    }

    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&(self.direct.len() as u32).to_le_bytes());
        for (block, len) in &self.direct {
            out.extend_from_slice(&block.to_le_bytes());
            out.extend_from_slice(&len.to_le_bytes());
        }
        out.extend_from_slice(&(self.excluded.len() as u32).to_le_bytes());
        for e in &self.excluded {
            out.extend_from_slice(&e.block.to_le_bytes());
            out.extend_from_slice(&e.position.to_le_bytes());
            e.tx.encode(out);
        }
        out.extend_from_slice(&(self.missed.len() as u32).to_le_bytes());
        for id in &self.missed {
            out.extend_from_slice(&id.to_le_bytes());
        }
    }

    fn decode(reader: &mut Reader<'_>) -> Result<Annex, DecodeError> {
        let count = |reader: &mut Reader<'_>, what: &'static str, item: usize| {
            let n = reader.u32(what)? as usize;
            if n > ANNEX_MAX || n.saturating_mul(item) > reader.remaining() {
                return Err(DecodeError::Invalid { what });
            }
            Ok(n)
        };
        let n = count(reader, "annex direct batches", 8)?;
        let direct = (0..n)
            .map(|_| Ok((reader.u32("direct block")?, reader.u32("direct length")?)))
            .collect::<Result<_, DecodeError>>()?;
        let n = count(reader, "annex excluded", 8)?;
        let excluded = (0..n)
            .map(|_| {
                Ok(ExcludedTx {
                    block: reader.u32("excluded block")?,
                    position: reader.u32("excluded position")?,
                    tx: Transaction::decode(reader)?,
                })
            })
            .collect::<Result<_, DecodeError>>()?;
        let n = count(reader, "annex missed", 4)?;
        let missed = (0..n)
            .map(|_| reader.u32("missed validator"))
            .collect::<Result<_, _>>()?;
        Ok(Annex {
            direct,
            excluded,
            missed,
            blocks: 0,
        })
    }
}

/// Appends one record to `out`: the block made of `header` and `txs`, `certificate`,
/// the PoB `body`, the Atomix `entries` with their transactions, and the `annex`.
pub fn encode_record<'a>(
    out: &mut Vec<u8>,
    header: &BlockHeader,
    txs: impl ExactSizeIterator<Item = &'a Transaction>,
    certificate: &FinalCertificate,
    body: &PobBody,
    entries: impl ExactSizeIterator<Item = (&'a Entry, &'a CrossTx)>,
    annex: &Annex,
) {
    let start = out.len();
    out.extend_from_slice(&RECORD_MAGIC);
    out.extend_from_slice(&[0; 4]);
    header.encode(out);
    out.extend_from_slice(&(txs.len() as u32).to_le_bytes());
    for tx in txs {
        tx.encode(out);
    }
    certificate.encode(out);
    body.encode(out);
    out.extend_from_slice(&(entries.len() as u32).to_le_bytes());
    for (entry, xtx) in entries {
        entry.encode(out);
        xtx.encode(out);
    }
    annex.encode(out);
    let payload_len = out.len() - start - 8;
    out[start + 4..start + 8].copy_from_slice(&(payload_len as u32).to_le_bytes());
    let checksum = blake3::hash(&out[start + 8..]);
    out.extend_from_slice(checksum.as_bytes());
}

/// One decoded record.
#[derive(Debug)]
pub struct Record {
    /// The header.
    pub header: BlockHeader,
    /// The body.
    pub txs: Vec<Transaction>,
    /// The certificate.
    pub certificate: FinalCertificate,
    /// The PoB body.
    pub pob: PobBody,
    /// The Atomix entries, each with its transaction.
    pub atomix: Vec<(Entry, CrossTx)>,
    /// The annex.
    pub annex: Annex,
}

/// Decodes one record's payload (between its length and its checksum), written for a
/// roster of `roster_len`.
pub fn decode_payload(payload: &[u8], roster_len: usize) -> Result<Record, DecodeError> {
    let mut reader = Reader::new(payload);
    let header = BlockHeader::decode(&mut reader)?;
    let count = reader.u32("tx count")? as usize;
    let mut txs = Vec::with_capacity(count.min(reader.remaining() / 6));
    for _ in 0..count {
        txs.push(Transaction::decode(&mut reader)?);
    }
    let certificate = FinalCertificate::decode(&mut reader, roster_len)?;
    let pob = PobBody::decode(&mut reader)?;
    let n = reader.u32("atomix entries")? as usize;
    if n > ENTRIES_MAX {
        return Err(DecodeError::Invalid {
            what: "atomix entry count",
        });
    }
    let mut atomix = Vec::with_capacity(n.min(reader.remaining() / 37));
    for _ in 0..n {
        let entry = Entry::decode(&mut reader)?;
        atomix.push((entry, CrossTx::decode(&mut reader)?));
    }
    let annex = Annex::decode(&mut reader)?;
    reader.finish()?;
    Ok(Record {
        header,
        txs,
        certificate,
        pob,
        atomix,
        annex,
    })
}

#[cfg(test)]
mod tests {
    use crate::tx::TxOut;
    use crate::types::{Amount, Hash, OutPoint, Owner, TxId};

    use super::*;

    #[test]
    fn the_annex_round_trips_and_costs_12_bytes_when_empty() {
        let mut empty = Vec::new();
        Annex::default().encode(&mut empty);
        assert_eq!(empty.len(), 12);
        let tx = Transaction {
            inputs: vec![OutPoint {
                tx: TxId(Hash([1; 32])),
                index: 0,
            }],
            outputs: vec![TxOut {
                owner: Owner([2; 32]),
                amount: Amount(3),
            }],
            witnesses: vec![],
        };
        let mut annex = Annex::default();
        annex.block(true, 4);
        annex.exclude(2, &tx);
        annex.block(false, 1);
        annex.block(true, 2);
        annex.exclude(0, &tx);
        annex.missed = vec![5];
        let mut bytes = Vec::new();
        annex.encode(&mut bytes);
        let decoded = Annex::decode(&mut Reader::new(&bytes)).unwrap();
        assert_eq!(decoded.direct, vec![(1, 1)]);
        assert_eq!(decoded.excluded, annex.excluded);
        assert_eq!(
            (decoded.excluded[0].block, decoded.excluded[1].block),
            (0, 2)
        );
        assert_eq!(decoded.missed, vec![5]);
        for cut in 0..bytes.len() {
            let mut reader = Reader::new(&bytes[..cut]);
            assert!(Annex::decode(&mut reader).is_err(), "cut at {cut}");
        }
    }
}
