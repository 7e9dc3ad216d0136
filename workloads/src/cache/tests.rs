//! Tests of the workload cache: the chunk codec, damage and truncation, resuming a
//! generation, and the readers against `generate()`. Test code only (included under
//! `#[cfg(test)]` by the parent module).

use std::fs;

use ioschain_core::codec::{DecodeError, Reader};
use ioschain_core::tx::{RejectReason, Transaction, TxOut, Witness};
use ioschain_core::types::{Amount, Hash, OutPoint, Owner, ShardId, TxId};
use proptest::prelude::*;

use super::format::{
    AnswerKey, CROSS_CODE, ChunkTable, DECLARED_LEN, FRAME_LEN, Frame, HEADER_LEN, Header, Record,
    RecordDecoder, SectionView,
};
use super::writer::{generate_chunks, part_path, store_chunked};
use super::*;
use crate::generate::{ClientBehaviour, CrossExpected, CrossItem, Expected, generate};
use crate::spec::{ClientMix, SenderDistribution};
use ioschain_core::atomix::DeclaredInput;

/// Chunks of this many positions in most tests: every stream fills several, the last
/// one partly.
const L: u32 = 16;

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
    // Some pair straddles a chunk boundary.
    assert!(items().any(|c| { c.partner == Some(c.index + 1) && (c.index + 1).is_multiple_of(L) }));
    workload
}

/// Where each chunk of a file starts, and where each of its sections does.
struct ChunkAt {
    start: usize,
    sections: Vec<usize>,
}

fn chunks_of(bytes: &[u8], header: &Header) -> Vec<ChunkAt> {
    let mut at = HEADER_LEN;
    for _ in 0..header.shards {
        let frame = Frame::decode(bytes[at..at + FRAME_LEN].try_into().unwrap());
        at += FRAME_LEN + frame.len as usize;
    }
    (0..header.chunk_count())
        .map(|index| {
            let table_len = header.table_len();
            let table = ChunkTable::decode(&bytes[at..at + table_len], header, index).unwrap();
            let start = at;
            let mut section = at + table_len;
            let sections = table
                .sections
                .iter()
                .map(|frame| {
                    let this = section;
                    section += frame.len as usize;
                    this
                })
                .collect();
            at = section;
            ChunkAt { start, sections }
        })
        .collect()
}

fn damaged_place(err: &CacheError) -> Place {
    match err {
        CacheError::Damaged { place, .. } => *place,
        other => panic!("not damage: {other}"),
    }
}

#[test]
fn stored_workload_loads_back_identical() {
    for (spec, workload) in [
        (spec(), generate(&spec(), &|_| {}).unwrap()),
        (cross_spec(), cross_workload()),
    ] {
        // One chunk (the default length), and many.
        for chunk in [CHUNK_POSITIONS, L, 1] {
            let dir = tempfile::tempdir().unwrap();
            store_chunked(dir.path(), &workload, chunk).unwrap();
            assert_eq!(
                load(dir.path(), &spec).unwrap().as_ref(),
                Some(&workload),
                "chunks of {chunk}"
            );
        }
    }
}

#[test]
fn missing_cache_is_none() {
    let dir = tempfile::tempdir().unwrap();
    assert!(load(dir.path(), &spec()).unwrap().is_none());
    assert!(WorkloadFile::open(dir.path(), &spec()).unwrap().is_none());
}

#[test]
fn generated_file_is_the_stored_generate_output_byte_for_byte() {
    for spec in [spec(), cross_spec()] {
        let generated = tempfile::tempdir().unwrap();
        let done = generate_chunks(generated.path(), &spec, L, None)
            .unwrap()
            .unwrap();
        assert_eq!(done.resumed_txs, 0);
        assert_eq!(done.path, path_for(generated.path(), &spec));
        assert!(!part_path(&done.path).exists());
        let stored = tempfile::tempdir().unwrap();
        let workload = generate(&spec, &|_| {}).unwrap();
        let path = store_chunked(stored.path(), &workload, L).unwrap();
        assert_eq!(fs::read(&done.path).unwrap(), fs::read(&path).unwrap());
        assert_eq!(load(generated.path(), &spec).unwrap(), Some(workload));
    }
}

#[test]
fn generate_to_cache_in_default_chunks_loads_as_generate() {
    let dir = tempfile::tempdir().unwrap();
    let seen = std::sync::atomic::AtomicU64::new(0);
    let done = generate_to_cache(dir.path(), &cross_spec(), &|n| {
        seen.fetch_max(n, std::sync::atomic::Ordering::Relaxed);
    })
    .unwrap();
    assert_eq!(seen.into_inner(), 2 * cross_spec().txs_per_shard);
    assert_eq!(done.path, path_for(dir.path(), &cross_spec()));
    assert_eq!(
        load(dir.path(), &cross_spec()).unwrap(),
        Some(cross_workload())
    );
}

#[test]
fn shard_reader_yields_exactly_the_generated_stream() {
    for spec in [spec(), cross_spec()] {
        let dir = tempfile::tempdir().unwrap();
        generate_chunks(dir.path(), &spec, L, None)
            .unwrap()
            .unwrap();
        let workload = generate(&spec, &|_| {}).unwrap();
        let file = WorkloadFile::open(dir.path(), &spec).unwrap().unwrap();
        assert_eq!(
            file.chunk_count(),
            spec.txs_per_shard.div_ceil(u64::from(L))
        );
        for (s, shard) in workload.shards.iter().enumerate() {
            let s = s as u32;
            assert_eq!(file.genesis(s).unwrap(), shard.genesis);
            let items: Vec<StreamItem> = file.shard(s).unwrap().map(Result::unwrap).collect();
            let expected: Vec<StreamItem> = shard
                .txs
                .iter()
                .enumerate()
                .map(|(i, tx)| StreamItem {
                    position: i as u32,
                    id: tx.id(),
                    tx: (**tx).clone(),
                    cross: shard.cross_item(i as u32).cloned(),
                })
                .collect();
            assert_eq!(items, expected, "shard {s}");
            let keys: Vec<AnswerKey> = file.answer_key(s).unwrap().map(|r| r.unwrap().1).collect();
            let expected: Vec<AnswerKey> = (0..shard.txs.len() as u32)
                .map(|i| AnswerKey {
                    position: i,
                    expected: shard.expected[i as usize],
                    edge_signature: shard.edge_signatures.contains(&i),
                    canary: shard.canaries.contains(&i),
                })
                .collect();
            assert_eq!(keys, expected, "shard {s}");
        }
    }
}

#[test]
fn damaged_chunk_is_reported_by_its_index_when_it_is_read() {
    let spec = cross_spec();
    let dir = tempfile::tempdir().unwrap();
    let path = generate_chunks(dir.path(), &spec, L, None)
        .unwrap()
        .unwrap()
        .path;
    let clean = fs::read(&path).unwrap();
    let header = Header::new(&spec, L);
    let chunks = chunks_of(&clean, &header);
    let flip = |at: usize| {
        let mut bytes = clean.clone();
        bytes[at] ^= 0x04;
        fs::write(&path, &bytes).unwrap();
    };
    let file = WorkloadFile::open(dir.path(), &spec).unwrap().unwrap();
    file.verify().expect("a clean file verifies");
    // A byte of shard 1's section in chunk 2.
    flip(chunks[2].sections[1] + 30);
    // Found by the checksum pass (no record decoded) as by a reader.
    for err in [
        file.verify().unwrap_err(),
        load(dir.path(), &spec).unwrap_err(),
    ] {
        assert_eq!(
            damaged_place(&err),
            Place::Chunk {
                index: 2,
                shard: Some(1)
            },
            "{err}"
        );
        assert!(err.to_string().contains("chunk 2"), "{err}");
    }
    // Shard 0's reader does not read shard 1's section: its stream is whole.
    let file = WorkloadFile::open(dir.path(), &spec).unwrap().unwrap();
    assert_eq!(file.shard(0).unwrap().filter(Result::is_err).count(), 0);
    // Shard 1's reader hands out chunks 0 and 1, then the damage, then nothing.
    let read: Vec<_> = file.shard(1).unwrap().collect();
    assert_eq!(read.len(), 2 * L as usize + 1);
    assert!(read[..2 * L as usize].iter().all(Result::is_ok));
    assert!(matches!(
        read.last().unwrap(),
        Err(CacheError::Damaged {
            place: Place::Chunk { index: 2, .. },
            ..
        })
    ));
    // A byte of chunk 2's table: every shard's reader stops there.
    flip(chunks[2].start + 9);
    let file = WorkloadFile::open(dir.path(), &spec).unwrap().unwrap();
    for shard in 0..2 {
        let err = file.shard(shard).unwrap().find_map(Result::err).unwrap();
        assert_eq!(
            damaged_place(&err),
            Place::Chunk {
                index: 2,
                shard: None
            }
        );
    }
    // A byte of a genesis section, and of the header.
    flip(HEADER_LEN + FRAME_LEN + 3);
    assert_eq!(
        damaged_place(&load(dir.path(), &spec).unwrap_err()),
        Place::Genesis { shard: 0 }
    );
    flip(45);
    assert_eq!(
        damaged_place(&load(dir.path(), &spec).unwrap_err()),
        Place::Header
    );
}

#[test]
fn truncated_file_is_damaged_at_the_chunk_it_cuts() {
    let spec = spec();
    let dir = tempfile::tempdir().unwrap();
    let path = generate_chunks(dir.path(), &spec, L, None)
        .unwrap()
        .unwrap()
        .path;
    let clean = fs::read(&path).unwrap();
    let chunks = chunks_of(&clean, &Header::new(&spec, L));
    let last = chunks.len() as u64 - 1;
    let cases = [
        (10, Place::Header),
        (HEADER_LEN + 20, Place::Genesis { shard: 0 }),
        (
            chunks[1].start + 5,
            Place::Chunk {
                index: 1,
                shard: None,
            },
        ),
        (
            chunks[2].sections[1] + 1,
            Place::Chunk {
                index: 2,
                shard: None,
            },
        ),
        (
            clean.len() - 1,
            Place::Chunk {
                index: last,
                shard: None,
            },
        ),
    ];
    for (len, place) in cases {
        fs::write(&path, &clean[..len]).unwrap();
        let err = load(dir.path(), &spec).unwrap_err();
        assert_eq!(damaged_place(&err), place, "cut at {len}: {err}");
        assert!(err.to_string().contains("truncated"), "{err}");
    }
    // And bytes after the last chunk.
    let mut longer = clean.clone();
    longer.push(0);
    fs::write(&path, &longer).unwrap();
    assert_eq!(
        damaged_place(&load(dir.path(), &spec).unwrap_err()),
        Place::End
    );
}

#[test]
fn resumed_generation_equals_an_uninterrupted_one() {
    let spec = cross_spec();
    let whole = tempfile::tempdir().unwrap();
    let path = generate_chunks(whole.path(), &spec, L, None)
        .unwrap()
        .unwrap()
        .path;
    let clean = fs::read(&path).unwrap();
    let count = spec.txs_per_shard.div_ceil(u64::from(L));
    for k in [0, 1, 2, count - 1] {
        let dir = tempfile::tempdir().unwrap();
        assert!(
            generate_chunks(dir.path(), &spec, L, Some(k))
                .unwrap()
                .is_none()
        );
        let target = path_for(dir.path(), &spec);
        assert!(!target.exists());
        let done = generate_chunks(dir.path(), &spec, L, None)
            .unwrap()
            .unwrap();
        assert_eq!(done.resumed_txs, k * u64::from(L) * 2, "after {k} chunks");
        assert_eq!(fs::read(&target).unwrap(), clean, "after {k} chunks");
        assert!(!part_path(&target).exists());
    }
}

#[test]
fn resumption_discards_a_truncated_or_damaged_last_chunk() {
    let spec = cross_spec();
    let whole = tempfile::tempdir().unwrap();
    let path = generate_chunks(whole.path(), &spec, L, None)
        .unwrap()
        .unwrap()
        .path;
    let clean = fs::read(&path).unwrap();
    let chunks = chunks_of(&clean, &Header::new(&spec, L));
    let dir = tempfile::tempdir().unwrap();
    let target = path_for(dir.path(), &spec);
    let part = part_path(&target);
    // Cut inside chunk 3's second section: chunks 0–2 are kept.
    fs::write(&part, &clean[..chunks[3].sections[1] + 7]).unwrap();
    let done = generate_chunks(dir.path(), &spec, L, None)
        .unwrap()
        .unwrap();
    assert_eq!(done.resumed_txs, 3 * u64::from(L) * 2);
    assert_eq!(fs::read(&target).unwrap(), clean);
    // A damaged chunk 4 in a whole `.part` file: chunks 0–3 are kept.
    let mut damaged = clean.clone();
    damaged[chunks[4].sections[0] + 11] ^= 1;
    fs::write(&part, &damaged).unwrap();
    let done = generate_chunks(dir.path(), &spec, L, None)
        .unwrap()
        .unwrap();
    assert_eq!(done.resumed_txs, 4 * u64::from(L) * 2);
    assert_eq!(fs::read(&target).unwrap(), clean);
    // A `.part` file of another spec (or format) is started over.
    fs::write(&part, &clean[..HEADER_LEN - 1]).unwrap();
    let mut other = spec.clone();
    other.seed += 1;
    let other_target = path_for(dir.path(), &other);
    fs::copy(&part, part_path(&other_target)).unwrap();
    let done = generate_chunks(dir.path(), &other, L, None)
        .unwrap()
        .unwrap();
    assert_eq!(done.resumed_txs, 0);
    assert_eq!(
        load(dir.path(), &other).unwrap(),
        Some(generate(&other, &|_| {}).unwrap())
    );
}

#[test]
fn a_second_writer_of_the_same_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let part = part_path(&path_for(dir.path(), &spec()));
    let held = fs::File::create(&part).unwrap();
    held.lock().unwrap();
    let err = generate_to_cache(dir.path(), &spec(), &|_| {}).unwrap_err();
    assert!(matches!(err, GenerateError::Busy { .. }), "{err}");
    drop(held);
    generate_to_cache(dir.path(), &spec(), &|_| {}).unwrap();
}

#[test]
fn files_of_the_previous_format_are_neither_read_nor_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let old = dir
        .path()
        .join(format!("{}.wl", &spec().key().to_string()[..32]));
    fs::write(&old, b"IOSWL003 an old cache file").unwrap();
    assert!(load(dir.path(), &spec()).unwrap().is_none());
    generate_to_cache(dir.path(), &spec(), &|_| {}).unwrap();
    assert_eq!(fs::read(&old).unwrap(), b"IOSWL003 an old cache file");
    // A file of another format under this version's name is damage, not a workload.
    fs::write(path_for(dir.path(), &spec()), fs::read(&old).unwrap()).unwrap();
    assert_eq!(
        damaged_place(&load(dir.path(), &spec()).unwrap_err()),
        Place::Header
    );
}

/// Rewrites the checksums of a file whose bytes were changed on purpose, so that the
/// records' decoder is what must notice.
fn rechecksum(bytes: &mut [u8], header: &Header) {
    let mut at = HEADER_LEN;
    for _ in 0..header.shards {
        let frame = Frame::decode(bytes[at..at + FRAME_LEN].try_into().unwrap());
        at += FRAME_LEN + frame.len as usize;
    }
    for index in 0..header.chunk_count() {
        let table_len = header.table_len();
        let mut frames = Vec::new();
        let mut section = at + table_len;
        for shard in 0..header.shards as usize {
            let entry = at + 8 + shard * FRAME_LEN;
            let len = u64::from_le_bytes(bytes[entry..entry + 8].try_into().unwrap()) as usize;
            frames.push(Frame::of(&bytes[section..section + len]));
            section += len;
        }
        let table = ChunkTable {
            index: index as u32,
            positions: header.chunk_positions_at(index),
            sections: frames,
        };
        let mut encoded = Vec::new();
        table.encode(&mut encoded);
        bytes[at..at + table_len].copy_from_slice(&encoded);
        at = section;
    }
}

#[test]
fn corrupted_cross_code_in_a_file_is_reported_as_damage() {
    let spec = cross_spec();
    let workload = cross_workload();
    let dir = tempfile::tempdir().unwrap();
    let path = store_chunked(dir.path(), &workload, L).unwrap();
    let mut bytes = fs::read(&path).unwrap();
    let header = Header::new(&spec, L);
    let chunks = chunks_of(&bytes, &header);
    // The first cross item of shard 0 and where its chunk's section has it.
    let item = &workload.shards[0].cross[0];
    let chunk = item.index / L;
    let first = (chunk * L) as usize;
    let before: usize = (first..item.index as usize)
        .map(|i| record_len(&workload, 0, i))
        .sum();
    let at = chunks[chunk as usize].sections[0] + before;
    assert_eq!(bytes[at], CROSS_CODE);
    let client_at = at + 1 + 4 + 4 + 2 + item.declared.len() * DECLARED_LEN;
    bytes[client_at] = 200;
    rechecksum(&mut bytes, &header);
    fs::write(&path, &bytes).unwrap();
    let err = load(dir.path(), &spec).unwrap_err();
    assert_eq!(
        damaged_place(&err),
        Place::Chunk {
            index: u64::from(chunk),
            shard: Some(0)
        }
    );
    assert!(err.to_string().contains("client behaviour"), "{err}");
}

/// The encoded length of shard `s`'s record at position `i`.
fn record_len(workload: &Workload, s: usize, i: usize) -> usize {
    let shard = &workload.shards[s];
    let item_len = match shard.expected[i] {
        Expected::Cross(k) => {
            let item = &shard.cross[k as usize];
            let partner = matches!(item.expected, CrossExpected::AtMostOne { .. });
            4 + 4 + 2 + item.declared.len() * DECLARED_LEN + 2 + if partner { 4 } else { 0 }
        }
        _ => 0,
    };
    1 + item_len + shard.txs[i].encoded_len()
}

/// Encodes shard 0's whole stream as one section.
fn section_of(workload: &Workload) -> Vec<u8> {
    let shard = &workload.shards[0];
    let mut out = Vec::new();
    SectionView {
        start: 0,
        cross_base: 0,
        txs: &shard.txs,
        expected: &shard.expected,
        cross: &shard.cross,
        edge_signatures: &shard.edge_signatures,
        canaries: &shard.canaries,
    }
    .encode(&mut out);
    out
}

/// Decodes shard 0's whole stream from one section: the first error, if any.
fn decode_section(workload: &Workload, bytes: &[u8]) -> Result<Vec<Record>, DecodeError> {
    let header = Header::new(&workload.spec, CHUNK_POSITIONS);
    let mut decoder = RecordDecoder::new(&header, &workload.shards[0].genesis);
    let mut reader = Reader::new(bytes);
    let records = (0..workload.spec.txs_per_shard)
        .map(|_| decoder.decode(&mut reader))
        .collect::<Result<Vec<_>, _>>()?;
    reader.finish()?;
    decoder.finish()?;
    Ok(records)
}

#[test]
fn corrupted_cross_codes_are_rejected() {
    let workload = cross_workload();
    let body = section_of(&workload);
    assert!(decode_section(&workload, &body).is_ok());
    let shard = &workload.shards[0];
    let offset = |i: usize| (0..i).map(|j| record_len(&workload, 0, j)).sum::<usize>();
    let at = offset(shard.cross[0].index as usize);
    assert_eq!(body[at], CROSS_CODE);
    let declared = shard.cross[0].declared.len();
    let client_at = at + 1 + 4 + 4 + 2 + declared * DECLARED_LEN;
    let invalid = |what| DecodeError::Invalid { what };
    let corrupt = |offset: usize, bytes: &[u8]| {
        let mut damaged = body.clone();
        damaged[offset..offset + bytes.len()].copy_from_slice(bytes);
        decode_section(&workload, &damaged)
    };
    assert_eq!(
        corrupt(client_at, &[9]).unwrap_err(),
        invalid("client behaviour")
    );
    assert_eq!(
        corrupt(client_at + 1, &[7]).unwrap_err(),
        invalid("cross outcome")
    );
    assert_eq!(
        corrupt(at + 1, &5u32.to_le_bytes()).unwrap_err(),
        invalid("cross item number")
    );
    assert_eq!(
        corrupt(at + 5, &u32::MAX.to_le_bytes()).unwrap_err(),
        invalid("cross item index")
    );
    assert_eq!(
        corrupt(at + 11, &7u32.to_le_bytes()).unwrap_err(),
        invalid("declared shard")
    );
    // A cross-shard transaction marked valid: its item is read as a transaction.
    assert!(corrupt(at, &[0]).is_err());
    // An intra-shard transaction marked cross-shard.
    let intra = shard
        .expected
        .iter()
        .position(|e| !matches!(e, Expected::Cross(_)))
        .unwrap();
    assert_ne!(body[offset(intra)], CROSS_CODE);
    assert!(corrupt(offset(intra), &[CROSS_CODE]).is_err());
    // The last cross item is found where the offsets say.
    let last = shard.cross.last().unwrap().index as usize;
    assert_eq!(body[offset(last)], CROSS_CODE);
}

#[test]
fn inconsistent_cross_items_are_rejected() {
    let damaged = |change: &dyn Fn(&mut Workload)| {
        let mut workload = cross_workload();
        change(&mut workload);
        decode_section(&workload, &section_of(&workload)).unwrap_err()
    };
    let invalid = |what| DecodeError::Invalid { what };
    assert_eq!(
        damaged(&|w| {
            w.shards[0].cross[0].declared.pop();
        }),
        invalid("cross declaration length")
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
            invalid("conflicting pair partner")
        );
    }
    // A pair's second transaction that does not name the first back.
    assert_eq!(
        damaged(&|w| {
            let second = w.shards[0]
                .cross
                .iter_mut()
                .find(|c| matches!(c.expected, CrossExpected::AtMostOne { partner } if partner < c.index))
                .unwrap();
            second.expected = CrossExpected::Commit;
        }),
        invalid("conflicting pair partner")
    );
}

#[test]
fn a_stream_output_named_by_a_genesis_outpoint_is_rejected() {
    let mut workload = generate(&spec(), &|_| {}).unwrap();
    let id = workload.shards[0].txs[3].id();
    workload.shards[0].genesis[0].0.tx = id;
    assert_eq!(
        decode_section(&workload, &section_of(&workload)).unwrap_err(),
        DecodeError::Invalid {
            what: "genesis outpoint equal to a stream output"
        }
    );
    let dir = tempfile::tempdir().unwrap();
    store_chunked(dir.path(), &workload, L).unwrap();
    assert!(load(dir.path(), &spec()).is_err());
}

fn arb_outpoint() -> impl Strategy<Value = OutPoint> {
    (any::<[u8; 32]>(), 0u32..8).prop_map(|(tx, index)| OutPoint {
        tx: TxId(Hash(tx)),
        index,
    })
}

fn arb_tx(inputs: usize) -> impl Strategy<Value = Transaction> {
    (
        proptest::collection::vec(arb_outpoint(), inputs),
        proptest::collection::vec((any::<[u8; 32]>(), any::<u64>()), 1..4),
        proptest::collection::vec((any::<[u8; 32]>(), any::<[u8; 32]>()), 0..3),
    )
        .prop_map(|(inputs, outputs, witnesses)| Transaction {
            inputs,
            outputs: outputs
                .into_iter()
                .map(|(owner, amount)| TxOut {
                    owner: Owner(owner),
                    amount: Amount(amount),
                })
                .collect(),
            witnesses: witnesses
                .into_iter()
                .map(|(owner, half)| {
                    let mut signature = [0u8; 64];
                    signature[..32].copy_from_slice(&half);
                    Witness {
                        owner: Owner(owner),
                        signature,
                    }
                })
                .collect(),
        })
}

/// One position as the generator would lay it out: its transaction, what is expected
/// of it (a cross item's outcome: commit or abort), its flags.
#[derive(Clone, Debug)]
enum ArbRecord {
    Intra {
        tx: Transaction,
        expected: Expected,
        edge: bool,
        canary: bool,
    },
    Cross {
        tx: Transaction,
        shards: Vec<u32>,
        client: usize,
        abort: bool,
    },
}

fn arb_record() -> impl Strategy<Value = ArbRecord> {
    let intra = (
        (1usize..4).prop_flat_map(arb_tx),
        0..=RejectReason::ALL.len(),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(tx, code, edge, canary)| ArbRecord::Intra {
            tx,
            expected: match code {
                0 => Expected::Valid,
                n => Expected::Invalid(RejectReason::ALL[n - 1]),
            },
            edge,
            canary,
        });
    let cross = (1usize..4)
        .prop_flat_map(|n| {
            (
                arb_tx(n),
                proptest::collection::vec(0u32..3, n),
                0usize..5,
                any::<bool>(),
            )
        })
        .prop_map(|(tx, shards, client, abort)| ArbRecord::Cross {
            tx,
            shards,
            client,
            abort,
        });
    prop_oneof![intra, cross]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Any section, starting anywhere in a stream, decodes back to what was encoded.
    #[test]
    fn sections_round_trip(records in proptest::collection::vec(arb_record(), 0..40), start in 0u32..1000, cross_base in 0u32..50) {
        let clients = [
            ClientBehaviour::Honest,
            ClientBehaviour::NeverUnlock,
            ClientBehaviour::PartialCommit,
            ClientBehaviour::ForgedProof,
            ClientBehaviour::ReplayCommit,
        ];
        let mut txs = Vec::new();
        let mut expected = Vec::new();
        let mut cross = Vec::new();
        let mut edge_signatures = Vec::new();
        let mut canaries = Vec::new();
        for (i, record) in records.iter().enumerate() {
            let position = start + i as u32;
            match record.clone() {
                ArbRecord::Intra { tx, expected: e, edge, canary } => {
                    txs.push(tx);
                    expected.push(e);
                    if edge { edge_signatures.push(position); }
                    if canary { canaries.push(position); }
                }
                ArbRecord::Cross { tx, shards, client, abort } => {
                    expected.push(Expected::Cross(cross_base + cross.len() as u32));
                    cross.push(CrossItem {
                        index: position,
                        declared: shards
                            .iter()
                            .zip(&tx.inputs)
                            .map(|(s, o)| DeclaredInput { shard: ShardId(*s), amount: Amount(u64::from(o.index)) })
                            .collect(),
                        client: clients[client],
                        partner: None,
                        expected: if abort { CrossExpected::Abort } else { CrossExpected::Commit },
                    });
                    txs.push(tx);
                }
            }
        }
        let view = SectionView {
            start: u64::from(start),
            cross_base,
            txs: &txs,
            expected: &expected,
            cross: &cross,
            edge_signatures: &edge_signatures,
            canaries: &canaries,
        };
        let mut bytes = Vec::new();
        view.encode(&mut bytes);
        let spec = WorkloadSpec { shards: 3, txs_per_shard: 2000, ..spec() };
        let mut decoder = RecordDecoder::new(&Header::new(&spec, 64), &[]);
        // Skip to the section's start as a reader would have.
        decoder.skip_to_for_tests(start, cross_base);
        let mut reader = Reader::new(&bytes);
        for (i, tx) in txs.iter().enumerate() {
            let record = decoder.decode(&mut reader).unwrap();
            let position = start + i as u32;
            prop_assert_eq!(&record.tx, tx);
            prop_assert_eq!(record.id, tx.id());
            prop_assert_eq!(record.key, AnswerKey {
                position,
                expected: expected[i],
                edge_signature: edge_signatures.contains(&position),
                canary: canaries.contains(&position),
            });
            prop_assert_eq!(record.cross.as_ref(), cross.iter().find(|c| c.index == position));
        }
        prop_assert_eq!(reader.remaining(), 0);
    }

    /// Chunk tables round-trip, and a table read as another chunk's is refused.
    #[test]
    fn chunk_tables_round_trip(
        frames in proptest::collection::vec((any::<u64>(), any::<[u8; 32]>()), 1..6),
        index in 0u64..100,
    ) {
        let spec = WorkloadSpec {
            shards: frames.len() as u32,
            txs_per_shard: 100 * u64::from(L),
            ..spec()
        };
        let header = Header::new(&spec, L);
        let table = ChunkTable {
            index: index as u32,
            positions: L,
            sections: frames.iter().map(|(len, checksum)| Frame { len: *len, checksum: *checksum }).collect(),
        };
        let mut bytes = Vec::new();
        table.encode(&mut bytes);
        prop_assert_eq!(bytes.len(), header.table_len());
        prop_assert_eq!(ChunkTable::decode(&bytes, &header, index).unwrap(), table);
        prop_assert!(ChunkTable::decode(&bytes, &header, index + 1).is_err());
    }

    /// No single flipped byte anywhere in a file goes unnoticed.
    #[test]
    fn every_flipped_byte_is_damage(at in any::<prop::sample::Index>(), bit in 0u8..8) {
        let dir = tempfile::tempdir().unwrap();
        let path = store_chunked(dir.path(), &generate(&spec(), &|_| {}).unwrap(), L).unwrap();
        let mut bytes = fs::read(&path).unwrap();
        let at = at.index(bytes.len());
        bytes[at] ^= 1 << bit;
        fs::write(&path, &bytes).unwrap();
        let err = load(dir.path(), &spec()).unwrap_err();
        prop_assert!(matches!(err, CacheError::Damaged { .. }), "{}", err);
    }
}

#[test]
fn readers_can_move_to_a_shard_thread() {
    fn send<T: Send>() {}
    send::<ShardReader>();
    send::<AnswerKeyReader>();
    send::<WorkloadFile>();
}
