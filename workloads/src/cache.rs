//! The on-disk workload cache.
//!
//! Generating and signing millions of transactions takes a while (ed25519 signing runs
//! at ~80k/s per core), so generated workloads are stored under a cache directory, one
//! file per spec, named by the spec's key (a hash of every parameter and the seed).
//!
//! File layout: magic `IOSWL003`, the 32-byte spec key, the body length (`u64`), the
//! blake3 hash of the body, then the body: per shard the genesis outputs, then the
//! transactions, each preceded by its expected outcome. The outcome is one code byte;
//! for a cross-shard transaction ([`Expected::Cross`]) the code is followed by `k` and
//! the [`CrossItem`] it names: its index, its declaration (`u16` count, then per input
//! the shard `u32` and amount `u64`), a client code and an outcome code (followed by the
//! partner's index `u32` for a conflicting pair). Items appear in stream order, so `k`
//! counts them. The code of an intra-shard transaction signed with an edge case
//! (`ShardWorkload::edge_signatures`) has bit `0x40` set, a canary's
//! (`ShardWorkload::canaries`) bit `0x20`.
//!
//! A file whose length, key or checksum does not match, or whose body does not decode
//! to a consistent workload (bad codes, cross items out of order or not matching their
//! transaction, pairs that do not name each other), is reported as
//! [`CacheError::Damaged`] and never used.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use ioschain_core::atomix::DeclaredInput;
use ioschain_core::codec::{Decode, DecodeError, Encode, Reader, put_count};
use ioschain_core::tx::{RejectReason, TX_INPUTS_MAX, Transaction, TxOut};
use ioschain_core::types::{Amount, OutPoint, Owner, ShardId};

use crate::generate::{
    ClientBehaviour, CrossExpected, CrossItem, Expected, ShardWorkload, Workload,
};
use crate::spec::WorkloadSpec;

const MAGIC: &[u8; 8] = b"IOSWL003";
/// Set in the outcome code of a transaction whose client signed with an edge case.
const EDGE_FLAG: u8 = 0x40;
/// Set in the outcome code of a canary.
const CANARY_FLAG: u8 = 0x20;
/// The expected-outcome code of a cross-shard transaction (the others are 0 for valid
/// and `1 + position in RejectReason::ALL` for invalid).
const CROSS_CODE: u8 = 0xff;
/// Encoded length of one declared input (shard `u32`, amount `u64`).
const DECLARED_LEN: usize = 12;
/// The client behaviours, by code.
const CLIENTS: [ClientBehaviour; 5] = [
    ClientBehaviour::Honest,
    ClientBehaviour::NeverUnlock,
    ClientBehaviour::PartialCommit,
    ClientBehaviour::ForgedProof,
    ClientBehaviour::ReplayCommit,
];
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
        let mut edge = shard.edge_signatures.iter().peekable();
        let mut canary = shard.canaries.iter().peekable();
        for (index, (tx, expected)) in shard.txs.iter().zip(&shard.expected).enumerate() {
            let flag = if edge.next_if(|&&i| i as usize == index).is_some() {
                EDGE_FLAG
            } else {
                0
            };
            let flag = flag
                | if canary.next_if(|&&i| i as usize == index).is_some() {
                    CANARY_FLAG
                } else {
                    0
                };
            body.push(expected_code(*expected) | flag);
            if let Expected::Cross(k) = *expected {
                body.extend_from_slice(&k.to_le_bytes());
                encode_cross_item(&shard.cross[k as usize], &mut body);
            }
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
        Expected::Cross(_) => CROSS_CODE,
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

fn encode_cross_item(item: &CrossItem, body: &mut Vec<u8>) {
    body.extend_from_slice(&item.index.to_le_bytes());
    put_count(body, item.declared.len());
    for declared in &item.declared {
        declared.shard.encode(body);
        declared.amount.encode(body);
    }
    body.push(
        CLIENTS
            .iter()
            .position(|c| *c == item.client)
            .expect("listed client") as u8,
    );
    match item.expected {
        CrossExpected::Commit => body.push(0),
        CrossExpected::Abort => body.push(1),
        CrossExpected::AtMostOne { partner } => {
            body.push(2);
            body.extend_from_slice(&partner.to_le_bytes());
        }
    }
}

/// Decodes the cross item that the outcome code of `txs[index]` announced as
/// `cross[k]`, `k` being the items decoded so far.
fn decode_cross_item(
    reader: &mut Reader<'_>,
    spec: &WorkloadSpec,
    k: usize,
    index: usize,
) -> Result<CrossItem, DecodeError> {
    let invalid = |what| DecodeError::Invalid { what };
    if reader.u32("cross item number")? as usize != k {
        return Err(invalid("cross item number"));
    }
    let item_index = reader.u32("cross item index")?;
    if item_index as usize != index {
        return Err(invalid("cross item index"));
    }
    let count = reader.count("declared inputs", TX_INPUTS_MAX, DECLARED_LEN)?;
    let mut declared = Vec::with_capacity(count);
    for _ in 0..count {
        let shard = ShardId::decode(reader)?;
        if shard.0 >= spec.shards {
            return Err(invalid("declared shard"));
        }
        declared.push(DeclaredInput {
            shard,
            amount: Amount::decode(reader)?,
        });
    }
    let client = *CLIENTS
        .get(usize::from(reader.u8("client behaviour")?))
        .ok_or(invalid("client behaviour"))?;
    let expected = match reader.u8("cross outcome")? {
        0 => CrossExpected::Commit,
        1 => CrossExpected::Abort,
        2 => CrossExpected::AtMostOne {
            partner: reader.u32("cross partner")?,
        },
        _ => return Err(invalid("cross outcome")),
    };
    Ok(CrossItem {
        index: item_index,
        declared,
        client,
        partner: match expected {
            CrossExpected::AtMostOne { partner } => Some(partner),
            _ => None,
        },
        expected,
    })
}

/// Checks that every conflicting pair's partners name each other.
fn check_partners(expected: &[Expected], cross: &[CrossItem]) -> Result<(), DecodeError> {
    for item in cross {
        let CrossExpected::AtMostOne { partner } = item.expected else {
            continue;
        };
        let names_back = partner != item.index
            && matches!(
                expected.get(partner as usize),
                Some(Expected::Cross(k)) if cross.get(*k as usize).is_some_and(|other| {
                    other.expected == CrossExpected::AtMostOne { partner: item.index }
                })
            );
        if !names_back {
            return Err(DecodeError::Invalid {
                what: "conflicting pair partner",
            });
        }
    }
    Ok(())
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
        let mut cross = Vec::new();
        let mut edge_signatures = Vec::new();
        let mut canaries = Vec::new();
        for index in 0..tx_len {
            let mut code = reader.u8("expected outcome")?;
            if code != CROSS_CODE && code & EDGE_FLAG != 0 {
                code &= !EDGE_FLAG;
                edge_signatures.push(index as u32);
            }
            if code != CROSS_CODE && code & CANARY_FLAG != 0 {
                code &= !CANARY_FLAG;
                canaries.push(index as u32);
            }
            let outcome = if code == CROSS_CODE {
                let k = cross.len();
                cross.push(decode_cross_item(&mut reader, spec, k, index)?);
                Expected::Cross(k as u32)
            } else {
                expected_from(code)?
            };
            let tx = Transaction::decode(&mut reader)?;
            if let Expected::Cross(k) = outcome
                && cross[k as usize].declared.len() != tx.inputs.len()
            {
                return Err(DecodeError::Invalid {
                    what: "cross declaration length",
                });
            }
            expected.push(outcome);
            txs.push(tx);
        }
        check_partners(&expected, &cross)?;
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
            cross,
            edge_signatures,
            canaries,
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
    use crate::spec::{ClientMix, SenderDistribution};

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
            client_edge_signatures: 0.1,
            canary_rate: 0.02,
            txs_per_shard: 50,
            cross_shard: 0.0,
            cross_input_shards: 2,
            cross_maturity: 256,
            cross_conflicts: 0.0,
            clients: ClientMix::default(),
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

    fn cross_spec() -> WorkloadSpec {
        WorkloadSpec {
            inputs_per_tx: 2,
            txs_per_shard: 120,
            accounts: 120,
            cross_shard: 0.4,
            cross_maturity: 4,
            cross_conflicts: 0.2,
            clients: ClientMix {
                never_unlock: 0.1,
                partial_commit: 0.1,
                forged_proof: 0.1,
                replay_commit: 0.1,
            },
            ..spec()
        }
    }

    fn cross_workload() -> Workload {
        let workload = generate(&cross_spec(), &|_| {}).unwrap();
        let items = || workload.shards.iter().flat_map(|s| &s.cross);
        assert!(items().any(|c| matches!(c.expected, CrossExpected::AtMostOne { .. })));
        assert!(items().any(|c| c.expected == CrossExpected::Abort));
        assert!(items().any(|c| c.client == ClientBehaviour::ReplayCommit));
        workload
    }

    /// Where the outcome code of shard 0's transaction `index` is in the body.
    fn outcome_offset(workload: &Workload, index: usize) -> usize {
        let shard = &workload.shards[0];
        let item_len = |expected: &Expected| match expected {
            Expected::Cross(k) => {
                let item = &shard.cross[*k as usize];
                let partner = matches!(item.expected, CrossExpected::AtMostOne { .. });
                4 + 4 + 2 + item.declared.len() * DECLARED_LEN + 2 + if partner { 4 } else { 0 }
            }
            _ => 0,
        };
        4 + 8
            + shard.genesis.len() * 76
            + 8
            + shard.txs[..index]
                .iter()
                .zip(&shard.expected)
                .map(|(tx, expected)| 1 + item_len(expected) + tx.encoded_len())
                .sum::<usize>()
    }

    /// Where `cross[0]` of shard 0 starts in the body: its outcome code.
    fn first_cross_offset(workload: &Workload) -> usize {
        outcome_offset(workload, workload.shards[0].cross[0].index as usize)
    }

    fn decode_error(spec: &WorkloadSpec, body: &[u8]) -> DecodeError {
        decode_body(spec, body).expect_err("damaged body decodes")
    }

    #[test]
    fn stored_cross_shard_workload_loads_back_identical() {
        let dir = tempfile::tempdir().unwrap();
        let workload = cross_workload();
        store(dir.path(), &workload).unwrap();
        assert_eq!(load(dir.path(), &cross_spec()).unwrap(), Some(workload));
    }

    #[test]
    fn corrupted_cross_codes_are_rejected() {
        let workload = cross_workload();
        let spec = cross_spec();
        let body = encode_body(&workload);
        let at = first_cross_offset(&workload);
        assert_eq!(body[at], CROSS_CODE);
        let declared = workload.shards[0].cross[0].declared.len();
        let client_at = at + 1 + 4 + 4 + 2 + declared * DECLARED_LEN;
        let invalid = |what| DecodeError::Invalid { what };
        let corrupt = |offset: usize, bytes: &[u8]| {
            let mut damaged = body.clone();
            damaged[offset..offset + bytes.len()].copy_from_slice(bytes);
            damaged
        };
        assert_eq!(
            decode_error(&spec, &corrupt(client_at, &[9])),
            invalid("client behaviour")
        );
        assert_eq!(
            decode_error(&spec, &corrupt(client_at + 1, &[7])),
            invalid("cross outcome")
        );
        assert_eq!(
            decode_error(&spec, &corrupt(at + 1, &5u32.to_le_bytes())),
            invalid("cross item number")
        );
        assert_eq!(
            decode_error(&spec, &corrupt(at + 5, &u32::MAX.to_le_bytes())),
            invalid("cross item index")
        );
        assert_eq!(
            decode_error(&spec, &corrupt(at + 11, &7u32.to_le_bytes())),
            invalid("declared shard")
        );
        // A cross-shard transaction marked valid: its item is read as a transaction.
        assert!(decode_body(&spec, &corrupt(at, &[0])).is_err());
        // An intra-shard transaction marked cross-shard.
        let intra = workload.shards[0]
            .expected
            .iter()
            .position(|e| !matches!(e, Expected::Cross(_)))
            .unwrap();
        let intra_at = outcome_offset(&workload, intra);
        assert_ne!(body[intra_at], CROSS_CODE);
        assert!(decode_body(&spec, &corrupt(intra_at, &[CROSS_CODE])).is_err());
        // The last cross item is found where the offsets say.
        let last = workload.shards[0].cross.last().unwrap().index as usize;
        assert_eq!(body[outcome_offset(&workload, last)], CROSS_CODE);
        assert!(decode_body(&spec, &body).is_ok());
    }

    #[test]
    fn inconsistent_cross_items_are_rejected() {
        let spec = cross_spec();
        let damaged = |change: &dyn Fn(&mut Workload)| {
            let mut workload = cross_workload();
            change(&mut workload);
            decode_error(&spec, &encode_body(&workload))
        };
        assert_eq!(
            damaged(&|w| {
                w.shards[0].cross[0].declared.pop();
            }),
            DecodeError::Invalid {
                what: "cross declaration length"
            }
        );
        // A pair whose partner is itself, or past the stream.
        for bad_partner in [None, Some(u32::MAX)] {
            assert_eq!(
                damaged(&|w| {
                    let item = w.shards[0]
                        .cross
                        .iter_mut()
                        .find(|c| matches!(c.expected, CrossExpected::AtMostOne { .. }))
                        .unwrap();
                    item.expected = CrossExpected::AtMostOne {
                        partner: bad_partner.unwrap_or(item.index),
                    };
                }),
                DecodeError::Invalid {
                    what: "conflicting pair partner"
                }
            );
        }
    }

    #[test]
    fn corrupted_cross_code_in_a_file_is_reported_as_damage() {
        let dir = tempfile::tempdir().unwrap();
        let workload = cross_workload();
        let path = store(dir.path(), &workload).unwrap();
        let mut bytes = fs::read(&path).unwrap();
        let declared = workload.shards[0].cross[0].declared.len();
        let client_at =
            HEADER_LEN + first_cross_offset(&workload) + 1 + 4 + 4 + 2 + declared * DECLARED_LEN;
        bytes[client_at] = 200;
        // A consistent checksum, so the body's decoder is what notices.
        let checksum = blake3::hash(&bytes[HEADER_LEN..]);
        bytes[48..80].copy_from_slice(checksum.as_bytes());
        fs::write(&path, &bytes).unwrap();
        let err = load(dir.path(), &cross_spec()).unwrap_err();
        assert!(
            matches!(err, CacheError::Damaged { ref detail, .. } if detail.contains("client behaviour")),
            "{err}"
        );
    }
}
