//! The block log: one append-only file per shard holding its final blocks, each a
//! record as `ioschain_core::record` lays it out (this module reads the files; the
//! records' bytes and their decoding are `core`'s).

use std::path::{Path, PathBuf};

pub use ioschain_core::record::{
    ANNEX_MAX, Annex, CHECKSUM_LEN, ENTRIES_MAX, ExcludedTx, RECORD_MAGIC, Record, decode_payload,
    encode_record,
};

/// The log file of `shard` under `dir`.
pub fn shard_path(dir: &Path, shard: u32) -> PathBuf {
    dir.join(format!("shard-{shard:04}.log"))
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
        let record = decode_payload(payload, roster_len)
            .map_err(|e| damaged(format!("undecodable: {e}")))?;
        visit(record);
        offset += 8 + payload_len + CHECKSUM_LEN;
        index += 1;
    }
    Ok(index)
}
