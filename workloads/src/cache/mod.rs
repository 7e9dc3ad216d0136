//! The on-disk workload cache, written and read a chunk of stream positions at a time.
//!
//! Generating and signing millions of transactions takes a while (ed25519 signing runs
//! at ~80k/s per core), so generated workloads are stored under a cache directory, one
//! file per spec, named by the spec's key (a hash of every parameter and the seed):
//! `<key>.v4.wl`. A workload of any length is generated into it with bounded memory
//! ([`generate_to_cache`]), and a run can read it back one shard's stream at a time
//! ([`ShardReader`]) instead of holding it whole ([`load`]).
//!
//! # Layout (`IOSWL004`)
//!
//! Integers are little-endian; a *frame* is a section's length `u64` and its blake3.
//!
//! | part | bytes |
//! |---|---|
//! | header | magic `IOSWL004`, spec key (32), shard count `u32`, stream length `u64`, chunk length `L` in positions `u32`, blake3 of those 56 bytes |
//! | genesis, per shard in order | frame, then the section: count `u64`, per output its outpoint (36), owner (32), amount `u64` |
//! | chunk `c` = 0, 1, … | table: `c` as `u32`, positions `u32` (`L`, fewer in the last chunk), per shard the frame of its section, blake3 of the table; then each shard's section in shard order |
//!
//! Chunk `c` covers stream positions `[c·L, (c+1)·L)` of every shard (the last chunk
//! ends with the streams). A shard's section holds one record per position: the
//! expected-outcome code (0 valid, `1 + position in RejectReason::ALL` invalid, `0xff`
//! cross-shard; bit `0x40` set for a client that signed with an edge case, `0x20` for a
//! canary), for a cross-shard transaction the number `k` of its [`CrossItem`](crate::CrossItem) in the
//! stream and the item (its position `u32`, its declaration — `u16` count, then per
//! input the shard `u32` and amount `u64` —, a client code, an outcome code followed by
//! the partner's position `u32` for a conflicting pair), then the signed transaction.
//! The table's frames give each section's offset in the chunk, so a reader of one shard
//! skips the others' sections.
//!
//! `L` is [`CHUNK_POSITIONS`] = 16,384: a section is about 4 MB (≈ 250 bytes a record
//! on the default mix), which is what a [`ShardReader`] buffers and what the generator
//! holds per shard while it signs a chunk.
//!
//! # Integrity
//!
//! Every section is checked against the blake3 in its frame, and every chunk table
//! against its own, when it is read: a damaged chunk is reported as
//! [`CacheError::Damaged`] naming the chunk (and the shard whose section fails)
//! ([`Place::Chunk`]), without any of its transactions having been handed out. The
//! table's hash covers the sections' hashes, so it is the chunk's hash over all its
//! bytes, checkable one shard at a time. Records that do not decode to a consistent
//! stream (bad codes, cross items out of order or not matching their transaction, pairs
//! that do not name each other, a transaction whose id is a genesis outpoint's), a
//! truncated file and bytes after the last chunk are damage too. A damaged file is never
//! used.
//!
//! # Writing
//!
//! [`generate_to_cache`] writes `<key>.v4.wl.part` a chunk at a time (drafted, signed in
//! parallel, appended, dropped), holding an exclusive lock on it so a second writer of
//! the same file fails with [`GenerateError::Busy`] instead of interleaving. If a
//! generation is interrupted, the next one for the same spec keeps the `.part` file's
//! complete chunks (those whose checksums hold; a truncated or damaged chunk and all
//! after it are cut off), re-drafts their positions without signing to restore the
//! generator's state, and signs from the first missing chunk. The complete file is
//! synced and renamed to `<key>.v4.wl`. The result is byte-identical whether or not the
//! generation was interrupted, and holds exactly [`crate::generate`]'s transactions.
//!
//! Files of the previous format (`IOSWL003`, one checksum over one body) were named
//! `<key>.wl`: this version never reads nor overwrites them (the name carries the format
//! version, `v4`), so a cache directory from before regenerates each workload once;
//! the old files can be deleted.
//!
//! # Reading
//!
//! [`load`] reads the whole workload into memory. [`WorkloadFile`] opens a file and gives
//! each shard's genesis, a [`ShardReader`] per shard (what the engine may see: the
//! transaction, its id, its cross item) and an [`AnswerKeyReader`] per shard (the same
//! with each position's [`AnswerKey`]: expected outcome, edge-signature and canary flags
//! — for the validity oracle only, DESIGN.md §2: the engine never reads the answer key).
//!
//! # Cost
//!
//! Measured on the 2-core machine with `cargo run --release -p ioschain-workloads
//! --example generate -- --shards 2 --txs-per-shard 500000` (the harness's default mix:
//! 100,000 accounts, 2 inputs and 2 outputs, 10% cross-shard), 7 December 2026:
//!
//! - **rate**: 1,000,000 transactions in 9.6 s, **104,000 tx/s**, with both cores free
//!   (37,000–58,000 tx/s while other processes held a core); 16 CPU-seconds per million
//!   transactions, as much as `generate` + `store` spend. Signing dominates; drafting
//!   (~3 µs a position, one thread) overlaps the signing of the previous chunk.
//! - **disk**: 263 bytes a transaction in the streams, plus the genesis (76 bytes an
//!   output: 30 MB for 400,000 outputs): 293.8 bytes/tx over the 1-million file,
//!   269.5 over 2 × 2,500,000. A 60-million-transaction workload takes about 15.8 GB.
//! - **memory**: peak resident 186–217 MB for 1 million and for 5 million transactions
//!   (the accounts' keys, the wallets, two chunks), against 701 MB for `generate` +
//!   `store` of 1 million.
//! - **resuming** re-drafts and re-checks about 200,000 kept positions a second.

mod format;
mod reader;
mod writer;

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use format::{AnswerKey, CHUNK_POSITIONS};
pub use reader::{AnswerKeyReader, ShardReader, StreamItem, WorkloadFile};
pub use writer::{GenerateError, Generated, generate_to_cache, store};

use crate::generate::{ShardWorkload, Workload};
use crate::spec::WorkloadSpec;

/// Why a cached workload could not be used.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    /// Reading or writing the file failed.
    #[error("workload cache {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The failure.
        source: io::Error,
    },
    /// The file exists but is not a valid workload for this spec.
    #[error("workload cache {path} is damaged at {place}: {detail}")]
    Damaged {
        /// The file.
        path: PathBuf,
        /// The part of the file that fails its checks.
        place: Place,
        /// What did not match.
        detail: String,
    },
}

impl CacheError {
    /// Reading or writing `path` failed.
    pub(crate) fn io(path: &Path, source: io::Error) -> CacheError {
        CacheError::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    /// `path` fails its checks at `place`.
    pub(crate) fn damaged(path: &Path, place: Place, detail: String) -> CacheError {
        CacheError::Damaged {
            path: path.to_path_buf(),
            place,
            detail,
        }
    }
}

/// A part of a cache file, as [`CacheError::Damaged`] names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Place {
    /// The header.
    Header,
    /// A shard's genesis section.
    Genesis {
        /// The shard.
        shard: u32,
    },
    /// A chunk: its table, or one shard's section.
    Chunk {
        /// The chunk's index (it covers positions `[index·L, (index+1)·L)`).
        index: u64,
        /// The shard whose section fails, if it is a section.
        shard: Option<u32>,
    },
    /// The end of the file or of a stream.
    End,
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Place::Header => write!(f, "the header"),
            Place::Genesis { shard } => write!(f, "shard {shard}'s genesis"),
            Place::Chunk { index, shard: None } => write!(f, "chunk {index}"),
            Place::Chunk {
                index,
                shard: Some(shard),
            } => write!(f, "chunk {index} (shard {shard}'s section)"),
            Place::End => write!(f, "the end"),
        }
    }
}

/// The cache file for `spec` under `dir`.
pub fn path_for(dir: &Path, spec: &WorkloadSpec) -> PathBuf {
    let key = spec.key();
    dir.join(format!("{}.v4.wl", &key.to_string()[..32]))
}

/// Loads `spec`'s whole workload from `dir`: `Ok(None)` if there is no cache file,
/// `Err(Damaged)` if there is one that fails its checks.
pub fn load(dir: &Path, spec: &WorkloadSpec) -> Result<Option<Workload>, CacheError> {
    let Some(file) = WorkloadFile::open(dir, spec)? else {
        return Ok(None);
    };
    let stream_len = spec.txs_per_shard as usize;
    let mut shards = Vec::with_capacity(spec.shards as usize);
    for shard in 0..spec.shards {
        let genesis = file.genesis(shard)?;
        let mut records = file.records(shard, &genesis)?;
        let mut workload = ShardWorkload {
            genesis,
            txs: Vec::with_capacity(stream_len),
            expected: Vec::with_capacity(stream_len),
            cross: Vec::new(),
            edge_signatures: Vec::new(),
            canaries: Vec::new(),
        };
        while let Some(record) = records.next_record() {
            let record = record?;
            let key = record.key;
            if key.edge_signature {
                workload.edge_signatures.push(key.position);
            }
            if key.canary {
                workload.canaries.push(key.position);
            }
            workload.cross.extend(record.cross);
            workload.expected.push(key.expected);
            workload.txs.push(Arc::new(record.tx));
        }
        shards.push(workload);
    }
    Ok(Some(Workload {
        spec: spec.clone(),
        shards,
    }))
}

#[cfg(test)]
mod tests;
