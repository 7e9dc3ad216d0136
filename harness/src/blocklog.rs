//! The block log: one append-only file per shard holding its final blocks.
//!
//! Record layout: magic `IOSB`, payload length (`u32`), payload, blake3 of the payload.
//! The payload is the block header (152 bytes), the transaction count (`u32`), the
//! transactions, the final certificate (header hash and the league's CoSi), then the
//! PoB body (the OptBlocks the block finalizes, fraud proofs, excluded transaction ids;
//! committed to by the header's `pob_root`), then the Atomix entries (`u32` count, each
//! entry followed by the cross-shard transaction it is about, declaration included; the
//! entries are committed to by the header's `atomix_root`). The checksum catches torn or
//! damaged writes; the certificate proves the league finalized the block.

use std::path::{Path, PathBuf};

use ioschain_core::atomix::{CrossTx, Entry};
use ioschain_core::block::{BlockHeader, FinalCertificate};
use ioschain_core::codec::{Decode, Encode, Reader};
use ioschain_core::pob::final_body::PobBody;
use ioschain_core::tx::Transaction;

/// First bytes of every record.
pub const RECORD_MAGIC: [u8; 4] = *b"IOSB";
const CHECKSUM_LEN: usize = 32;

/// The log file of `shard` under `dir`.
pub fn shard_path(dir: &Path, shard: u32) -> PathBuf {
    dir.join(format!("shard-{shard:04}.log"))
}

/// Most Atomix entries one record may hold (a bound for decoding untrusted bytes).
pub const ENTRIES_MAX: usize = 1 << 20;

/// Appends one record to `out`: the block made of `header` and `txs`, `certificate`,
/// the PoB `body` and the Atomix `entries` with their transactions.
pub fn encode_record<'a>(
    out: &mut Vec<u8>,
    header: &BlockHeader,
    txs: impl ExactSizeIterator<Item = &'a Transaction>,
    certificate: &FinalCertificate,
    body: &PobBody,
    entries: impl ExactSizeIterator<Item = (&'a Entry, &'a CrossTx)>,
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
}

/// Why a log could not be read.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// Reading failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A record is damaged.
    #[error("{path}: record {index} at byte {offset}: {detail}")]
    Damaged {
        /// The file.
        path: PathBuf,
        /// The record's position in the file.
        index: usize,
        /// Its byte offset.
        offset: usize,
        /// What is wrong.
        detail: String,
    },
}

/// Reads every record of the log at `path` (written for a roster of `roster_len`) and
/// hands each to `visit`, in order.
pub fn read_log(
    path: &Path,
    roster_len: usize,
    mut visit: impl FnMut(Record),
) -> Result<usize, LogError> {
    let bytes = std::fs::read(path).map_err(|source| LogError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let mut offset = 0;
    let mut index = 0;
    while offset < bytes.len() {
        let damaged = |detail: String| LogError::Damaged {
            path: path.to_path_buf(),
            index,
            offset,
            detail,
        };
        let rest = &bytes[offset..];
        if rest.len() < 8 || rest[..4] != RECORD_MAGIC {
            return Err(damaged("missing record header".into()));
        }
        let payload_len = u32::from_le_bytes(rest[4..8].try_into().expect("4 bytes")) as usize;
        let Some(payload) = rest.get(8..8 + payload_len) else {
            return Err(damaged("truncated payload".into()));
        };
        let Some(checksum) = rest.get(8 + payload_len..8 + payload_len + CHECKSUM_LEN) else {
            return Err(damaged("truncated checksum".into()));
        };
        if blake3::hash(payload).as_bytes() != checksum {
            return Err(damaged("checksum mismatch".into()));
        }
        let mut reader = Reader::new(payload);
        let record = (|| {
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
                return Err(ioschain_core::codec::DecodeError::Invalid {
                    what: "atomix entry count",
                });
            }
            let mut atomix = Vec::with_capacity(n.min(reader.remaining() / 37));
            for _ in 0..n {
                let entry = Entry::decode(&mut reader)?;
                atomix.push((entry, CrossTx::decode(&mut reader)?));
            }
            reader.finish()?;
            Ok::<_, ioschain_core::codec::DecodeError>(Record {
                header,
                txs,
                certificate,
                pob,
                atomix,
            })
        })()
        .map_err(|e| damaged(format!("undecodable: {e}")))?;
        visit(record);
        offset += 8 + payload_len + CHECKSUM_LEN;
        index += 1;
    }
    Ok(index)
}
