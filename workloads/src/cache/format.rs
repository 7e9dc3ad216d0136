//! The bytes of a cache file (layout in the parent module's doc): the header, the
//! genesis sections, the chunk tables, and the per-transaction records of a chunk's
//! sections, with the checks a reader makes on each.

use std::borrow::Borrow;
use std::io::Read;

use ioschain_core::atomix::DeclaredInput;
use ioschain_core::codec::{Decode, DecodeError, Encode, Reader, put_count};
use ioschain_core::tx::{RejectReason, TX_INPUTS_MAX, Transaction, TxOut};
use ioschain_core::types::{Amount, OutPoint, Owner, ShardId, TxId};
use rustc_hash::{FxHashMap, FxHashSet};

use crate::generate::{ClientBehaviour, CrossExpected, CrossItem, Expected, StreamPart};
use crate::spec::WorkloadSpec;

pub(super) const MAGIC: &[u8; 8] = b"IOSWL004";
/// Stream positions per chunk: 16,384 positions of every shard. At about 250 bytes a
/// transaction that is 4 MB per shard, which a reader buffers (one section at a time)
/// and the generator holds as drafts, signs and encodes at once (per shard); large
/// enough that the chunk tables (`CHUNK_TABLE_LEN_FIXED + 40` bytes per shard) and a
/// resumed generation's re-drafting are noise, small enough that an interrupted
/// generation loses a few seconds of signing.
pub const CHUNK_POSITIONS: u32 = 16_384;
/// Header: magic, spec key (32), shard count `u32`, stream length `u64`, chunk length in
/// positions `u32`, blake3 of the preceding bytes (32).
pub(super) const HEADER_LEN: usize = 8 + 32 + 4 + 8 + 4 + 32;
/// A section's frame: its length `u64` and its blake3 (32).
pub(super) const FRAME_LEN: usize = 8 + 32;
/// A chunk table without its per-shard entries: index `u32`, positions `u32`, and the
/// table's blake3 (32).
const CHUNK_TABLE_LEN_FIXED: usize = 4 + 4 + 32;
/// Encoded length of one genesis output (outpoint 36, owner 32, amount 8).
const GENESIS_OUTPUT_LEN: usize = 76;
/// Set in the outcome code of a transaction whose client signed with an edge case.
const EDGE_FLAG: u8 = 0x40;
/// Set in the outcome code of a canary.
const CANARY_FLAG: u8 = 0x20;
/// The expected-outcome code of a cross-shard transaction (the others are 0 for valid
/// and `1 + position in RejectReason::ALL` for invalid).
pub(super) const CROSS_CODE: u8 = 0xff;
/// Encoded length of one declared input (shard `u32`, amount `u64`).
pub(super) const DECLARED_LEN: usize = 12;
/// The client behaviours, by code.
const CLIENTS: [ClientBehaviour; 5] = [
    ClientBehaviour::Honest,
    ClientBehaviour::NeverUnlock,
    ClientBehaviour::PartialCommit,
    ClientBehaviour::ForgedProof,
    ClientBehaviour::ReplayCommit,
];

/// What the header of a file says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Header {
    pub key: [u8; 32],
    pub shards: u32,
    pub txs_per_shard: u64,
    pub chunk_positions: u32,
}

impl Header {
    /// The header of `spec`'s file in chunks of `chunk_positions` (the writers use
    /// [`CHUNK_POSITIONS`]; tests, fewer).
    pub fn new(spec: &WorkloadSpec, chunk_positions: u32) -> Header {
        assert!(chunk_positions > 0, "a chunk holds positions");
        Header {
            key: spec.key().0,
            shards: spec.shards,
            txs_per_shard: spec.txs_per_shard,
            chunk_positions,
        }
    }

    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut out = [0u8; HEADER_LEN];
        out[..8].copy_from_slice(MAGIC);
        out[8..40].copy_from_slice(&self.key);
        out[40..44].copy_from_slice(&self.shards.to_le_bytes());
        out[44..52].copy_from_slice(&self.txs_per_shard.to_le_bytes());
        out[52..56].copy_from_slice(&self.chunk_positions.to_le_bytes());
        let checksum = blake3::hash(&out[..56]);
        out[56..].copy_from_slice(checksum.as_bytes());
        out
    }

    /// The header in `bytes`, if it is one of this version and its checksum holds.
    pub fn decode(bytes: &[u8; HEADER_LEN]) -> Result<Header, &'static str> {
        if &bytes[..8] != MAGIC {
            return Err("not a workload file of this version (magic)");
        }
        if blake3::hash(&bytes[..56]).as_bytes() != &bytes[56..] {
            return Err("header checksum mismatch");
        }
        let u32_at = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4"));
        let header = Header {
            key: bytes[8..40].try_into().expect("32 bytes"),
            shards: u32_at(40),
            txs_per_shard: u64::from_le_bytes(bytes[44..52].try_into().expect("8 bytes")),
            chunk_positions: u32_at(52),
        };
        if header.chunk_positions == 0 {
            return Err("chunk length of 0 positions");
        }
        Ok(header)
    }

    /// How many chunks the streams fill.
    pub fn chunk_count(&self) -> u64 {
        self.txs_per_shard.div_ceil(u64::from(self.chunk_positions))
    }

    /// The first stream position of chunk `index`.
    pub fn chunk_start(&self, index: u64) -> u64 {
        index * u64::from(self.chunk_positions)
    }

    /// The positions chunk `index` holds (fewer than a chunk's length only in the last).
    pub fn chunk_positions_at(&self, index: u64) -> u32 {
        let left = self.txs_per_shard - self.chunk_start(index);
        left.min(u64::from(self.chunk_positions)) as u32
    }

    /// The length of one chunk table.
    pub fn table_len(&self) -> usize {
        CHUNK_TABLE_LEN_FIXED + self.shards as usize * FRAME_LEN
    }
}

/// A section's frame: its length and checksum, written before it (genesis) or in its
/// chunk's table (stream sections).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Frame {
    pub len: u64,
    pub checksum: [u8; 32],
}

impl Frame {
    pub fn of(bytes: &[u8]) -> Frame {
        Frame {
            len: bytes.len() as u64,
            checksum: *blake3::hash(bytes).as_bytes(),
        }
    }

    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.len.to_le_bytes());
        out.extend_from_slice(&self.checksum);
    }

    pub fn decode(bytes: &[u8; FRAME_LEN]) -> Frame {
        Frame {
            len: u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes")),
            checksum: bytes[8..].try_into().expect("32 bytes"),
        }
    }

    /// Whether `bytes` are the section this frame describes.
    pub fn matches(&self, bytes: &[u8]) -> bool {
        bytes.len() as u64 == self.len && blake3::hash(bytes).as_bytes() == &self.checksum
    }
}

/// A chunk's table: which chunk it is, how many positions it holds, and per shard the
/// frame of its section (the sections follow the table in shard order).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct ChunkTable {
    pub index: u32,
    pub positions: u32,
    pub sections: Vec<Frame>,
}

impl ChunkTable {
    pub fn encode(&self, out: &mut Vec<u8>) {
        let start = out.len();
        out.extend_from_slice(&self.index.to_le_bytes());
        out.extend_from_slice(&self.positions.to_le_bytes());
        for section in &self.sections {
            section.encode(out);
        }
        let checksum = blake3::hash(&out[start..]);
        out.extend_from_slice(checksum.as_bytes());
    }

    /// Decodes a table of `header`'s file and checks that it is chunk `index`'s.
    pub fn decode(bytes: &[u8], header: &Header, index: u64) -> Result<ChunkTable, String> {
        debug_assert_eq!(bytes.len(), header.table_len());
        let (body, checksum) = bytes.split_at(bytes.len() - 32);
        if blake3::hash(body).as_bytes() != checksum {
            return Err("chunk table checksum mismatch".into());
        }
        let table = ChunkTable {
            index: u32::from_le_bytes(body[..4].try_into().expect("4 bytes")),
            positions: u32::from_le_bytes(body[4..8].try_into().expect("4 bytes")),
            sections: body[8..]
                .chunks_exact(FRAME_LEN)
                .map(|frame| Frame::decode(frame.try_into().expect("a frame")))
                .collect(),
        };
        if u64::from(table.index) != index {
            return Err(format!(
                "table of chunk {} where chunk {index} belongs",
                table.index
            ));
        }
        let positions = header.chunk_positions_at(index);
        if table.positions != positions {
            return Err(format!(
                "chunk holds {} positions, the header implies {positions}",
                table.positions
            ));
        }
        Ok(table)
    }

    /// Bytes of the sections (the chunk's length after its table).
    pub fn sections_len(&self) -> u64 {
        self.sections.iter().map(|s| s.len).sum()
    }

    /// Where shard `shard`'s section starts, counted from the end of the table.
    pub fn section_offset(&self, shard: u32) -> u64 {
        self.sections[..shard as usize].iter().map(|s| s.len).sum()
    }
}

/// Reads and checks the table of chunk `index` from `read`.
pub(super) fn read_table(
    read: &mut impl Read,
    header: &Header,
    index: u64,
) -> Result<ChunkTable, String> {
    let mut bytes = vec![0u8; header.table_len()];
    read.read_exact(&mut bytes)
        .map_err(|e| format!("chunk table unreadable: {e}"))?;
    ChunkTable::decode(&bytes, header, index)
}

/// A shard's genesis outputs, encoded: count `u64`, then each output.
pub(super) fn encode_genesis(genesis: &[(OutPoint, TxOut)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + genesis.len() * GENESIS_OUTPUT_LEN);
    out.extend_from_slice(&(genesis.len() as u64).to_le_bytes());
    for (outpoint, output) in genesis {
        outpoint.encode(&mut out);
        output.owner.encode(&mut out);
        output.amount.encode(&mut out);
    }
    out
}

/// Decodes a shard's genesis outputs and checks that their outpoints are distinct.
pub(super) fn decode_genesis(bytes: &[u8]) -> Result<Vec<(OutPoint, TxOut)>, DecodeError> {
    let mut reader = Reader::new(bytes);
    let count = reader.u64("genesis count")? as usize;
    let mut genesis = Vec::with_capacity(count.min(reader.remaining() / GENESIS_OUTPUT_LEN));
    for _ in 0..count {
        let outpoint = OutPoint::decode(&mut reader)?;
        let owner = Owner::decode(&mut reader)?;
        let amount = Amount::decode(&mut reader)?;
        genesis.push((outpoint, TxOut { owner, amount }));
    }
    reader.finish()?;
    // The engine relies on distinct genesis outpoints (the checksum only catches
    // accidents).
    let distinct: FxHashSet<OutPoint> = genesis.iter().map(|(o, _)| *o).collect();
    if distinct.len() != genesis.len() {
        return Err(DecodeError::Invalid {
            what: "duplicate genesis outpoint",
        });
    }
    Ok(genesis)
}

/// Consecutive positions of one shard's stream, signed, as a section encodes them.
pub(super) struct SectionView<'a, T: Borrow<Transaction> = Transaction> {
    /// The stream position of `txs[0]`.
    pub start: u64,
    /// `Expected::Cross(k)` names `cross[k - cross_base]`.
    pub cross_base: u32,
    pub txs: &'a [T],
    pub expected: &'a [Expected],
    pub cross: &'a [CrossItem],
    /// Stream positions, ascending; those outside the section are ignored.
    pub edge_signatures: &'a [u32],
    pub canaries: &'a [u32],
}

impl<'a> SectionView<'a> {
    pub fn of_part(part: &'a StreamPart<Transaction>) -> SectionView<'a> {
        SectionView {
            start: part.start,
            cross_base: part.cross_base,
            txs: &part.txs,
            expected: &part.expected,
            cross: &part.cross,
            edge_signatures: &part.edge_signatures,
            canaries: &part.canaries,
        }
    }
}

impl<'a, T: Borrow<Transaction>> SectionView<'a, T> {
    /// Encodes the section: one record per position.
    pub fn encode(&self, out: &mut Vec<u8>) {
        debug_assert_eq!(self.txs.len(), self.expected.len());
        let end = self.start + self.txs.len() as u64;
        let within = |positions: &'a [u32]| {
            positions
                .iter()
                .copied()
                .skip_while(|&p| u64::from(p) < self.start)
                .take_while(move |&p| u64::from(p) < end)
                .peekable()
        };
        let mut edge = within(self.edge_signatures);
        let mut canary = within(self.canaries);
        for (i, (tx, expected)) in self.txs.iter().zip(self.expected).enumerate() {
            let position = (self.start + i as u64) as u32;
            let mut code = expected_code(*expected);
            if edge.next_if_eq(&position).is_some() {
                code |= EDGE_FLAG;
            }
            if canary.next_if_eq(&position).is_some() {
                code |= CANARY_FLAG;
            }
            out.push(code);
            if let Expected::Cross(k) = *expected {
                out.extend_from_slice(&k.to_le_bytes());
                encode_cross_item(&self.cross[(k - self.cross_base) as usize], out);
            }
            tx.borrow().encode(out);
        }
    }
}

/// What the answer key says of one stream position: what a correct engine must do with
/// its transaction. For the validity oracle only: the engine must never read it
/// (DESIGN.md §2, "The answer key and canaries").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AnswerKey {
    /// The stream position.
    pub position: u32,
    /// The expected outcome (a cross-shard transaction's is in its [`CrossItem`]).
    pub expected: Expected,
    /// Its client signed with an edge case ([`crate::edge::EdgeSignature`]).
    pub edge_signature: bool,
    /// It is a canary.
    pub canary: bool,
}

/// One decoded position of a stream.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Record {
    pub id: TxId,
    pub tx: Transaction,
    pub cross: Option<CrossItem>,
    pub key: AnswerKey,
}

/// Decodes one shard's records in stream order and checks what holds across them:
/// cross items are numbered in order and name their position, the two transactions of
/// a conflicting pair name each other, and no transaction's id is the transaction of a
/// genesis outpoint (the engine relies on that; the checksums only catch accidents).
#[derive(Debug)]
pub(super) struct RecordDecoder {
    shards: u32,
    txs_per_shard: u64,
    /// The next position.
    position: u32,
    /// Cross items decoded so far.
    cross_count: u32,
    /// Conflicting pairs whose second transaction is still to come: its position → the
    /// first's.
    pairs_open: FxHashMap<u32, u32>,
    genesis_txs: FxHashSet<TxId>,
}

fn invalid(what: &'static str) -> DecodeError {
    DecodeError::Invalid { what }
}

impl RecordDecoder {
    /// A decoder at the start of a stream of `header`'s file whose genesis is `genesis`.
    pub fn new(header: &Header, genesis: &[(OutPoint, TxOut)]) -> RecordDecoder {
        RecordDecoder {
            shards: header.shards,
            txs_per_shard: header.txs_per_shard,
            position: 0,
            cross_count: 0,
            pairs_open: FxHashMap::default(),
            genesis_txs: genesis.iter().map(|(o, _)| o.tx).collect(),
        }
    }

    /// Moves a fresh decoder to `position`, `cross_count` cross items into the stream
    /// (tests of sections that start mid-stream).
    #[cfg(test)]
    pub fn skip_to_for_tests(&mut self, position: u32, cross_count: u32) {
        self.position = position;
        self.cross_count = cross_count;
    }

    /// The next record.
    pub fn decode(&mut self, reader: &mut Reader<'_>) -> Result<Record, DecodeError> {
        let position = self.position;
        let mut code = reader.u8("expected outcome")?;
        let (mut edge_signature, mut canary) = (false, false);
        if code != CROSS_CODE {
            edge_signature = code & EDGE_FLAG != 0;
            canary = code & CANARY_FLAG != 0;
            code &= !(EDGE_FLAG | CANARY_FLAG);
        }
        let (expected, cross) = if code == CROSS_CODE {
            let k = self.cross_count;
            let item = decode_cross_item(reader, self.shards, k, position)?;
            (Expected::Cross(k), Some(item))
        } else {
            (expected_from(code)?, None)
        };
        let tx = Transaction::decode(reader)?;
        if let Some(item) = &cross
            && item.declared.len() != tx.inputs.len()
        {
            return Err(invalid("cross declaration length"));
        }
        self.check_pair(position, cross.as_ref())?;
        let id = tx.id();
        if self.genesis_txs.contains(&id) {
            return Err(invalid("genesis outpoint equal to a stream output"));
        }
        self.position += 1;
        self.cross_count += u32::from(cross.is_some());
        Ok(Record {
            id,
            tx,
            cross,
            key: AnswerKey {
                position,
                expected,
                edge_signature,
                canary,
            },
        })
    }

    /// Checks a conflicting pair as its transactions come: the first names a later
    /// position, the second names the first back.
    fn check_pair(&mut self, position: u32, cross: Option<&CrossItem>) -> Result<(), DecodeError> {
        let partner = match cross.map(|c| c.expected) {
            Some(CrossExpected::AtMostOne { partner }) => Some(partner),
            _ => None,
        };
        if let Some(first) = self.pairs_open.remove(&position) {
            return if partner == Some(first) {
                Ok(())
            } else {
                Err(invalid("conflicting pair partner"))
            };
        }
        match partner {
            Some(partner) if partner > position && u64::from(partner) < self.txs_per_shard => {
                self.pairs_open.insert(partner, position);
                Ok(())
            }
            Some(_) => Err(invalid("conflicting pair partner")),
            None => Ok(()),
        }
    }

    /// Checks that the stream ended complete: every position decoded, every pair closed.
    pub fn finish(&self) -> Result<(), DecodeError> {
        if u64::from(self.position) != self.txs_per_shard {
            return Err(invalid("stream length"));
        }
        if !self.pairs_open.is_empty() {
            return Err(invalid("conflicting pair partner"));
        }
        Ok(())
    }
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
            .ok_or(invalid("expected outcome")),
    }
}

fn encode_cross_item(item: &CrossItem, out: &mut Vec<u8>) {
    out.extend_from_slice(&item.index.to_le_bytes());
    put_count(out, item.declared.len());
    for declared in &item.declared {
        declared.shard.encode(out);
        declared.amount.encode(out);
    }
    out.push(
        CLIENTS
            .iter()
            .position(|c| *c == item.client)
            .expect("listed client") as u8,
    );
    match item.expected {
        CrossExpected::Commit => out.push(0),
        CrossExpected::Abort => out.push(1),
        CrossExpected::AtMostOne { partner } => {
            out.push(2);
            out.extend_from_slice(&partner.to_le_bytes());
        }
    }
}

/// Decodes the cross item that the outcome code of the transaction at `position`
/// announced as the stream's `k`-th.
fn decode_cross_item(
    reader: &mut Reader<'_>,
    shards: u32,
    k: u32,
    position: u32,
) -> Result<CrossItem, DecodeError> {
    if reader.u32("cross item number")? != k {
        return Err(invalid("cross item number"));
    }
    if reader.u32("cross item index")? != position {
        return Err(invalid("cross item index"));
    }
    let count = reader.count("declared inputs", TX_INPUTS_MAX, DECLARED_LEN)?;
    let mut declared = Vec::with_capacity(count);
    for _ in 0..count {
        let shard = ShardId::decode(reader)?;
        if shard.0 >= shards {
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
        index: position,
        declared,
        client,
        partner: match expected {
            CrossExpected::AtMostOne { partner } => Some(partner),
            _ => None,
        },
        expected,
    })
}
