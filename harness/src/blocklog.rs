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
/// hands each to `visit`, in order. The file is read a record at a time (buffered), so
/// memory holds one record, not the log.
pub fn read_log(
    path: &Path,
    roster_len: usize,
    mut visit: impl FnMut(Record),
) -> Result<usize, LogError> {
    let io_err = |source| LogError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io_err)?;
    let mut reader = std::io::BufReader::with_capacity(1 << 20, file);
    let mut payload = Vec::new();
    let mut offset = 0;
    let mut index = 0;
    loop {
        let damaged = |detail: String| LogError::Damaged {
            path: path.to_path_buf(),
            index,
            offset,
            detail,
        };
        let mut head = [0u8; 8];
        match read_up_to(&mut reader, &mut head).map_err(io_err)? {
            0 => break,
            8 if head[..4] == RECORD_MAGIC => {}
            _ => return Err(damaged("missing record header".into())),
        }
        let payload_len = u32::from_le_bytes(head[4..8].try_into().expect("4 bytes")) as usize;
        payload.resize(payload_len, 0);
        if read_up_to(&mut reader, &mut payload).map_err(io_err)? < payload_len {
            return Err(damaged("truncated payload".into()));
        }
        let mut checksum = [0u8; CHECKSUM_LEN];
        if read_up_to(&mut reader, &mut checksum).map_err(io_err)? < CHECKSUM_LEN {
            return Err(damaged("truncated checksum".into()));
        }
        if blake3::hash(&payload).as_bytes() != &checksum {
            return Err(damaged("checksum mismatch".into()));
        }
        let record = decode_payload(&payload, roster_len)
            .map_err(|e| damaged(format!("undecodable: {e}")))?;
        visit(record);
        offset += 8 + payload_len + CHECKSUM_LEN;
        index += 1;
    }
    Ok(index)
}

/// Fills `buf` from `reader` as far as the file goes; returns the bytes read (less than
/// `buf.len()` only at the end of the file).
fn read_up_to(reader: &mut impl std::io::Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}
