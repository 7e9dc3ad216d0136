//! The on-disk workload cache.
//!
//! Generating and signing millions of transactions takes a while (ed25519 signing runs
//! at ~80k/s per core), so generated workloads are stored under a cache directory, one
//! file per spec, named by the spec's key (a hash of every parameter and the seed).
//!
//! File layout: magic `IOSWL001`, the 32-byte spec key, the body length (`u64`), the
//! blake3 hash of the body, then the body: per shard the genesis outputs, then the
//! transactions with their expected outcome. A file whose length, key or checksum does
//! not match is reported as [`CacheError::Damaged`] and never used.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use ioschain_core::codec::{Decode, DecodeError, Encode, Reader};
use ioschain_core::tx::{RejectReason, Transaction, TxOut};
use ioschain_core::types::{Amount, OutPoint, Owner};

use crate::generate::{Expected, ShardWorkload, Workload};
use crate::spec::WorkloadSpec;

const MAGIC: &[u8; 8] = b"IOSWL001";
const HEADER_LEN: usize = 8 + 32 + 8 + 32;

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
    #[error("workload cache {path} is damaged: {detail}")]
    Damaged {
        /// The file.
        path: PathBuf,
        /// What did not match.
        detail: String,
    },
}

/// The cache file for `spec` under `dir`.
pub fn path_for(dir: &Path, spec: &WorkloadSpec) -> PathBuf {
    let key = spec.key();
    dir.join(format!("{}.wl", &key.to_string()[..32]))
}

fn encode_body(workload: &Workload) -> Vec<u8> {
    let estimate: usize = workload
        .shards
        .iter()
        .map(|s| s.genesis.len() * 76 + s.txs.iter().map(|t| t.encoded_len() + 1).sum::<usize>())
        .sum();
    let mut body = Vec::with_capacity(estimate + 64);
    body.extend_from_slice(&(workload.shards.len() as u32).to_le_bytes());
    for shard in &workload.shards {
        body.extend_from_slice(&(shard.genesis.len() as u64).to_le_bytes());
        for (outpoint, out) in &shard.genesis {
            outpoint.encode(&mut body);
            out.owner.encode(&mut body);
            out.amount.encode(&mut body);
        }
        body.extend_from_slice(&(shard.txs.len() as u64).to_le_bytes());
        for (tx, expected) in shard.txs.iter().zip(&shard.expected) {
            body.push(expected_code(*expected));
            tx.encode(&mut body);
        }
    }
    body
}

fn expected_code(expected: Expected) -> u8 {
    match expected {
        Expected::Valid => 0,
        Expected::Invalid(reason) => {
            1 + RejectReason::ALL
                .iter()
                .position(|r| *r == reason)
                .expect("listed reason") as u8
        }
    }
}

fn expected_from(code: u8) -> Result<Expected, DecodeError> {
    match code {
        0 => Ok(Expected::Valid),
        n => RejectReason::ALL
            .get(usize::from(n) - 1)
            .map(|r| Expected::Invalid(*r))
            .ok_or(DecodeError::Invalid {
                what: "expected outcome",
            }),
    }
}

fn decode_body(spec: &WorkloadSpec, body: &[u8]) -> Result<Workload, DecodeError> {
    let mut reader = Reader::new(body);
    let shard_count = reader.u32("shard count")?;
    if shard_count != spec.shards {
        return Err(DecodeError::Invalid {
            what: "shard count",
        });
    }
    let mut shards = Vec::with_capacity(shard_count as usize);
    for _ in 0..shard_count {
        let genesis_len = reader.u64("genesis count")? as usize;
        let mut genesis = Vec::with_capacity(genesis_len.min(reader.remaining() / 76));
        for _ in 0..genesis_len {
            let outpoint = OutPoint::decode(&mut reader)?;
            let owner = Owner::decode(&mut reader)?;
            let amount = Amount::decode(&mut reader)?;
            genesis.push((outpoint, TxOut { owner, amount }));
        }
        let tx_len = reader.u64("tx count")? as usize;
        if tx_len as u64 != spec.txs_per_shard {
            return Err(DecodeError::Invalid {
                what: "stream length",
            });
        }
        let mut txs = Vec::with_capacity(tx_len.min(reader.remaining() / 7));
        let mut expected = Vec::with_capacity(txs.capacity());
        for _ in 0..tx_len {
            expected.push(expected_from(reader.u8("expected outcome")?)?);
            txs.push(Transaction::decode(&mut reader)?);
        }
        // Genesis outpoints must be distinct and must not collide with any output of the
        // stream (the engine relies on both; the checksum only catches accidents).
        let genesis_ids: std::collections::HashSet<OutPoint> =
            genesis.iter().map(|(o, _)| *o).collect();
        if genesis_ids.len() != genesis.len() {
            return Err(DecodeError::Invalid {
                what: "duplicate genesis outpoint",
            });
        }
        let genesis_txs: std::collections::HashSet<_> = genesis.iter().map(|(o, _)| o.tx).collect();
        if txs.iter().any(|tx| genesis_txs.contains(&tx.id())) {
            return Err(DecodeError::Invalid {
                what: "genesis outpoint equal to a stream output",
            });
        }
        shards.push(ShardWorkload {
            genesis,
            txs,
            expected,
        });
    }
    reader.finish()?;
    Ok(Workload {
        spec: spec.clone(),
        shards,
    })
}

/// Writes `workload` to its cache file under `dir` (atomically: a temporary file renamed
/// into place, so a crash never leaves a half-written file under the real name).
pub fn store(dir: &Path, workload: &Workload) -> Result<PathBuf, CacheError> {
    let path = path_for(dir, &workload.spec);
    let io_err = |source| CacheError::Io {
        path: path.clone(),
        source,
    };
    fs::create_dir_all(dir).map_err(io_err)?;
    let body = encode_body(workload);
    let checksum = blake3::hash(&body);
    let tmp = path.with_extension("wl.tmp");
    let mut file = fs::File::create(&tmp).map_err(io_err)?;
    file.write_all(MAGIC).map_err(io_err)?;
    file.write_all(workload.spec.key().as_bytes())
        .map_err(io_err)?;
    file.write_all(&(body.len() as u64).to_le_bytes())
        .map_err(io_err)?;
    file.write_all(checksum.as_bytes()).map_err(io_err)?;
    file.write_all(&body).map_err(io_err)?;
    file.sync_all().map_err(io_err)?;
    fs::rename(&tmp, &path).map_err(io_err)?;
    Ok(path)
}

/// Loads `spec`'s workload from `dir`: `Ok(None)` if there is no cache file,
/// `Err(Damaged)` if there is one that fails its checks.
pub fn load(dir: &Path, spec: &WorkloadSpec) -> Result<Option<Workload>, CacheError> {
    let path = path_for(dir, spec);
    let bytes = match fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(CacheError::Io { path, source }),
    };
    let damaged = |detail: String| CacheError::Damaged {
        path: path.clone(),
        detail,
    };
    if bytes.len() < HEADER_LEN || &bytes[..8] != MAGIC {
        return Err(damaged("missing or wrong header".into()));
    }
    if bytes[8..40] != spec.key().0 {
        return Err(damaged("written for another spec".into()));
    }
    let body_len = u64::from_le_bytes(bytes[40..48].try_into().expect("8 bytes"));
    let body = &bytes[HEADER_LEN..];
    if body.len() as u64 != body_len {
        return Err(damaged(format!(
            "body is {} bytes, header says {body_len}",
            body.len()
        )));
    }
    if blake3::hash(body).as_bytes() != &bytes[48..80] {
        return Err(damaged("checksum mismatch".into()));
    }
    decode_body(spec, body)
        .map(Some)
        .map_err(|e| damaged(format!("undecodable body: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generate::generate;
    use crate::spec::SenderDistribution;

    fn spec() -> WorkloadSpec {
        WorkloadSpec {
            seed: 3,
            shards: 2,
            accounts: 40,
            utxos_per_account: 2,
            genesis_amount: 1_000_000,
            inputs_per_tx: 1,
            outputs_per_tx: 2,
            sender: SenderDistribution::Uniform,
            invalid_fraction: 0.1,
            txs_per_shard: 50,
        }
    }

    #[test]
    fn stored_workload_loads_back_identical() {
        let dir = tempfile::tempdir().unwrap();
        let workload = generate(&spec(), &|_| {}).unwrap();
        store(dir.path(), &workload).unwrap();
        assert_eq!(load(dir.path(), &spec()).unwrap(), Some(workload));
    }

    #[test]
    fn missing_cache_is_none() {
        let dir = tempfile::tempdir().unwrap();
        assert!(load(dir.path(), &spec()).unwrap().is_none());
    }

    #[test]
    fn flipped_byte_is_detected_as_damage() {
        let dir = tempfile::tempdir().unwrap();
        let path = store(dir.path(), &generate(&spec(), &|_| {}).unwrap()).unwrap();
        let mut bytes = fs::read(&path).unwrap();
        let last = bytes.len() - 10;
        bytes[last] ^= 1;
        fs::write(&path, &bytes).unwrap();
        let err = load(dir.path(), &spec()).unwrap_err();
        assert!(
            matches!(err, CacheError::Damaged { ref detail, .. } if detail.contains("checksum")),
            "{err}"
        );
    }

    #[test]
    fn truncated_file_is_detected_as_damage() {
        let dir = tempfile::tempdir().unwrap();
        let path = store(dir.path(), &generate(&spec(), &|_| {}).unwrap()).unwrap();
        let bytes = fs::read(&path).unwrap();
        fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
        assert!(matches!(
            load(dir.path(), &spec()),
            Err(CacheError::Damaged { .. })
        ));
    }
}
