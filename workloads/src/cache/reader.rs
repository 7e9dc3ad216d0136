//! Reading a cache file: [`WorkloadFile`] checks the header and finds the genesis
//! sections; [`ShardReader`] streams one shard's transactions, a chunk section at a time,
//! through buffered reads that skip the other shards' sections; [`AnswerKeyReader`] does
//! the same with the answer key (for the validity oracle only).

use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use ioschain_core::codec::Reader;
use ioschain_core::tx::{Transaction, TxOut};
use ioschain_core::types::{OutPoint, TxId};

use super::format::{
    AnswerKey, ChunkTable, FRAME_LEN, Frame, HEADER_LEN, Header, Record, RecordDecoder,
    decode_genesis, read_table,
};
use super::{CacheError, Place, path_for};
use crate::generate::CrossItem;
use crate::spec::WorkloadSpec;

/// One position of a shard's stream, as the engine may see it: the signed transaction,
/// its id, and for a cross-shard transaction its [`CrossItem`] (its client's knowledge;
/// the item's `expected` is the answer key's and for the oracle only).
#[derive(Clone, Debug, PartialEq)]
pub struct StreamItem {
    /// The stream position.
    pub position: u32,
    /// `tx.id()`.
    pub id: TxId,
    /// The signed transaction.
    pub tx: Transaction,
    /// Set for a cross-shard transaction.
    pub cross: Option<CrossItem>,
}

/// An open cache file whose header matches its spec: where each shard's genesis and
/// stream are. Opening reads the header and the genesis frames only.
#[derive(Debug)]
pub struct WorkloadFile {
    path: PathBuf,
    header: Header,
    /// Per shard, where its genesis section starts and its frame.
    genesis: Vec<(u64, Frame)>,
    /// Where chunk 0 starts.
    chunks_at: u64,
    /// The file's length when it was opened.
    len: u64,
}

impl WorkloadFile {
    /// Opens `spec`'s cache file under `dir`: `Ok(None)` if there is none.
    pub fn open(dir: &Path, spec: &WorkloadSpec) -> Result<Option<WorkloadFile>, CacheError> {
        match Self::open_path(&path_for(dir, spec), spec) {
            Err(CacheError::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
                Ok(None)
            }
            other => other.map(Some),
        }
    }

    /// Opens the cache file at `path`, which must hold `spec`'s workload.
    pub fn open_path(path: &Path, spec: &WorkloadSpec) -> Result<WorkloadFile, CacheError> {
        let io_err = |source| CacheError::io(path, source);
        let damaged = |place, detail: String| CacheError::damaged(path, place, detail);
        let file = File::open(path).map_err(io_err)?;
        let len = file.metadata().map_err(io_err)?.len();
        let mut read = BufReader::new(file);
        let mut bytes = [0u8; HEADER_LEN];
        read.read_exact(&mut bytes)
            .map_err(|e| damaged(Place::Header, read_failure(&e)))?;
        let header = Header::decode(&bytes).map_err(|e| damaged(Place::Header, e.into()))?;
        if header.key != spec.key().0 {
            return Err(damaged(Place::Header, "written for another spec".into()));
        }
        if header.shards != spec.shards || header.txs_per_shard != spec.txs_per_shard {
            return Err(damaged(
                Place::Header,
                "shard count or stream length differs from the spec's".into(),
            ));
        }
        let mut genesis = Vec::with_capacity(header.shards as usize);
        let mut at = HEADER_LEN as u64;
        for shard in 0..header.shards {
            let place = Place::Genesis { shard };
            let mut frame = [0u8; FRAME_LEN];
            read.read_exact(&mut frame)
                .map_err(|e| damaged(place, read_failure(&e)))?;
            let frame = Frame::decode(&frame);
            at += FRAME_LEN as u64;
            if at.saturating_add(frame.len) > len {
                return Err(damaged(place, "truncated".into()));
            }
            genesis.push((at, frame));
            read.seek_relative(frame.len as i64).map_err(io_err)?;
            at += frame.len;
        }
        Ok(WorkloadFile {
            path: path.to_path_buf(),
            header,
            genesis,
            chunks_at: at,
            len,
        })
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Its shard count.
    pub fn shards(&self) -> u32 {
        self.header.shards
    }

    /// The length of every stream.
    pub fn txs_per_shard(&self) -> u64 {
        self.header.txs_per_shard
    }

    /// Stream positions per chunk.
    pub fn chunk_positions(&self) -> u32 {
        self.header.chunk_positions
    }

    /// Chunks in the file.
    pub fn chunk_count(&self) -> u64 {
        self.header.chunk_count()
    }

    /// The outputs `shard` holds at genesis (checked against their section's checksum,
    /// and distinct).
    pub fn genesis(&self, shard: u32) -> Result<Vec<(OutPoint, TxOut)>, CacheError> {
        assert!(shard < self.header.shards, "shard {shard} of the file");
        let place = Place::Genesis { shard };
        let (at, frame) = self.genesis[shard as usize];
        let mut file = File::open(&self.path).map_err(|e| self.io_err(e))?;
        file.seek(SeekFrom::Start(at)).map_err(|e| self.io_err(e))?;
        let mut bytes = vec![0u8; frame.len as usize];
        file.read_exact(&mut bytes)
            .map_err(|e| self.damaged(place, read_failure(&e)))?;
        if !frame.matches(&bytes) {
            return Err(self.damaged(place, "checksum mismatch".into()));
        }
        decode_genesis(&bytes).map_err(|e| self.damaged(place, format!("undecodable: {e}")))
    }

    /// A reader of `shard`'s stream, for the engine.
    pub fn shard(&self, shard: u32) -> Result<ShardReader, CacheError> {
        let genesis = self.genesis(shard)?;
        Ok(ShardReader {
            records: self.records(shard, &genesis)?,
        })
    }

    /// A reader of `shard`'s stream with its answer key. For the validity oracle only:
    /// the engine must never read the answer key (DESIGN.md §2).
    pub fn answer_key(&self, shard: u32) -> Result<AnswerKeyReader, CacheError> {
        let genesis = self.genesis(shard)?;
        Ok(AnswerKeyReader {
            records: self.records(shard, &genesis)?,
        })
    }

    /// Checks every chunk's table and every section against its checksum, and that
    /// nothing follows the last chunk, without decoding a record: one pass over the
    /// file at the speed of the disk and of blake3. A run checks its workload this way
    /// before it starts reading it chunk by chunk, so a damaged file is regenerated
    /// instead of ending the run midway.
    pub fn verify(&self) -> Result<(), CacheError> {
        for shard in 0..self.header.shards {
            let genesis = self.genesis(shard)?;
            let mut records = self.records(shard, &genesis)?;
            while records.next_chunk < self.header.chunk_count() {
                records.read_chunk()?;
            }
            if records.at != records.len {
                let detail = format!("{} bytes after the last chunk", records.len - records.at);
                return Err(self.damaged(Place::End, detail));
            }
        }
        Ok(())
    }

    /// `shard`'s records, whose genesis is `genesis`.
    pub(super) fn records(
        &self,
        shard: u32,
        genesis: &[(OutPoint, TxOut)],
    ) -> Result<Records, CacheError> {
        assert!(shard < self.header.shards, "shard {shard} of the file");
        let mut file = File::open(&self.path).map_err(|e| self.io_err(e))?;
        file.seek(SeekFrom::Start(self.chunks_at))
            .map_err(|e| self.io_err(e))?;
        Ok(Records {
            read: BufReader::new(file),
            path: self.path.clone(),
            header: self.header,
            shard,
            len: self.len,
            next_chunk: 0,
            at: self.chunks_at,
            section: Vec::new(),
            cursor: 0,
            left: 0,
            decoder: RecordDecoder::new(&self.header, genesis),
            done: false,
        })
    }

    fn io_err(&self, source: io::Error) -> CacheError {
        CacheError::io(&self.path, source)
    }

    fn damaged(&self, place: Place, detail: String) -> CacheError {
        CacheError::damaged(&self.path, place, detail)
    }
}

/// What a failed read of a part of the file says of it.
fn read_failure(e: &io::Error) -> String {
    if e.kind() == io::ErrorKind::UnexpectedEof {
        "truncated".into()
    } else {
        format!("unreadable: {e}")
    }
}

/// One shard's stream, read a chunk section at a time; each section is checked against
/// its checksum before any of its records is decoded.
#[derive(Debug)]
pub(super) struct Records {
    read: BufReader<File>,
    path: PathBuf,
    header: Header,
    shard: u32,
    /// The file's length when it was opened.
    len: u64,
    /// The chunk whose table comes next.
    next_chunk: u64,
    /// The file offset `read` is at.
    at: u64,
    /// The current chunk's section of this shard (checked).
    section: Vec<u8>,
    /// Where the next record starts in `section`.
    cursor: usize,
    /// Records left in `section`.
    left: u32,
    decoder: RecordDecoder,
    /// Set after the last record, or after an error (nothing more is read).
    done: bool,
}

impl Records {
    /// The next record; `None` after the last or after an error.
    pub fn next_record(&mut self) -> Option<Result<Record, CacheError>> {
        if self.done {
            return None;
        }
        let next = self.advance();
        if !matches!(next, Some(Ok(_))) {
            self.done = true;
        }
        next
    }

    fn advance(&mut self) -> Option<Result<Record, CacheError>> {
        while self.left == 0 {
            if self.cursor != self.section.len() {
                let detail = "bytes after the section's last record".into();
                return Some(Err(self.damaged(self.chunk_place(), detail)));
            }
            if self.next_chunk == self.header.chunk_count() {
                return self.finish().err().map(Err);
            }
            if let Err(e) = self.read_chunk() {
                return Some(Err(e));
            }
        }
        let mut reader = Reader::new(&self.section[self.cursor..]);
        let record = match self.decoder.decode(&mut reader) {
            Ok(record) => record,
            Err(e) => {
                let detail = format!("undecodable record: {e}");
                return Some(Err(self.damaged(self.chunk_place(), detail)));
            }
        };
        self.cursor = self.section.len() - reader.remaining();
        self.left -= 1;
        Some(Ok(record))
    }

    /// Reads the next chunk's table and this shard's section, skipping the others.
    fn read_chunk(&mut self) -> Result<(), CacheError> {
        let index = self.next_chunk;
        let place = Place::Chunk { index, shard: None };
        let table_len = self.header.table_len() as u64;
        if self.at + table_len > self.len {
            return Err(self.damaged(place, "truncated".into()));
        }
        let table: ChunkTable = read_table(&mut self.read, &self.header, index)
            .map_err(|detail| self.damaged(place, detail))?;
        self.at += table_len;
        let end = self.at.saturating_add(table.sections_len());
        if end > self.len {
            return Err(self.damaged(place, "truncated".into()));
        }
        let skip = table.section_offset(self.shard);
        self.read
            .seek_relative(skip as i64)
            .map_err(|e| self.io_err(e))?;
        let frame = table.sections[self.shard as usize];
        self.section.resize(frame.len as usize, 0);
        let place = Place::Chunk {
            index,
            shard: Some(self.shard),
        };
        self.read
            .read_exact(&mut self.section)
            .map_err(|e| self.damaged(place, read_failure(&e)))?;
        if !frame.matches(&self.section) {
            return Err(self.damaged(place, "checksum mismatch".into()));
        }
        self.read
            .seek_relative((end - self.at - skip - frame.len) as i64)
            .map_err(|e| self.io_err(e))?;
        self.at = end;
        self.next_chunk += 1;
        self.cursor = 0;
        self.left = table.positions;
        Ok(())
    }

    /// Checks the end of the stream and of the file.
    fn finish(&self) -> Result<(), CacheError> {
        self.decoder
            .finish()
            .map_err(|e| self.damaged(Place::End, format!("stream incomplete: {e}")))?;
        if self.at != self.len {
            let detail = format!("{} bytes after the last chunk", self.len - self.at);
            return Err(self.damaged(Place::End, detail));
        }
        Ok(())
    }

    /// The chunk being decoded.
    fn chunk_place(&self) -> Place {
        Place::Chunk {
            index: self.next_chunk.saturating_sub(1),
            shard: Some(self.shard),
        }
    }

    fn io_err(&self, source: io::Error) -> CacheError {
        CacheError::io(&self.path, source)
    }

    fn damaged(&self, place: Place, detail: String) -> CacheError {
        CacheError::damaged(&self.path, place, detail)
    }
}

/// One shard's stream in order, for the engine: per position a [`StreamItem`]. Reads
/// the file a chunk section at a time (about 4 MB, see
/// [`CHUNK_POSITIONS`](super::CHUNK_POSITIONS)) and checks each section's checksum
/// before it yields any of its transactions; a damaged or truncated chunk ends the
/// stream with [`CacheError::Damaged`] naming it.
#[derive(Debug)]
pub struct ShardReader {
    records: Records,
}

impl Iterator for ShardReader {
    type Item = Result<StreamItem, CacheError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.records.next_record().map(|record| {
            record.map(|r| StreamItem {
                position: r.key.position,
                id: r.id,
                tx: r.tx,
                cross: r.cross,
            })
        })
    }
}

/// One shard's stream in order with its answer key: per position the [`StreamItem`] and
/// what a correct engine must do with it. For the validity oracle only (DESIGN.md §2:
/// the engine never reads the answer key). Reads and checks like [`ShardReader`].
#[derive(Debug)]
pub struct AnswerKeyReader {
    records: Records,
}

impl Iterator for AnswerKeyReader {
    type Item = Result<(StreamItem, AnswerKey), CacheError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.records.next_record().map(|record| {
            record.map(|r| {
                let item = StreamItem {
                    position: r.key.position,
                    id: r.id,
                    tx: r.tx,
                    cross: r.cross,
                };
                (item, r.key)
            })
        })
    }
}
