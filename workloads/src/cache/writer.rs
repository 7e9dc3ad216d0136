//! Writing a cache file: [`generate_to_cache`] drafts, signs and appends one chunk of
//! positions at a time to `<name>.part`, resuming after the complete chunks an
//! interrupted generation left there, and renames the file into place when it is
//! complete; [`store`] writes a workload already in memory the same way.

use std::borrow::Borrow;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use ioschain_core::tx::Transaction;
use rayon::prelude::*;

use super::format::{ChunkTable, Frame, Header, SectionView, encode_genesis, read_table};
use super::{CHUNK_POSITIONS, CacheError, path_for};
use crate::generate::{Accounts, Drafter, Geneses, Workload};
use crate::spec::{SpecError, WorkloadSpec};

/// Why [`generate_to_cache`] failed.
#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    /// The spec cannot be generated.
    #[error(transparent)]
    Spec(#[from] SpecError),
    /// Reading or writing the file failed.
    #[error(transparent)]
    Cache(#[from] CacheError),
    /// Another process is writing the same file.
    #[error("workload cache {path} is being written by another process")]
    Busy {
        /// The file being written.
        path: PathBuf,
    },
}

/// A completed [`generate_to_cache`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Generated {
    /// The cache file.
    pub path: PathBuf,
    /// Transactions (over all shards) found complete in an interrupted generation's
    /// `.part` file and kept; 0 for a generation from scratch.
    pub resumed_txs: u64,
}

/// Generates `spec`'s workload into its cache file under `dir`, a chunk of
/// [`CHUNK_POSITIONS`](super::CHUNK_POSITIONS) positions at a time: drafts the chunk,
/// signs it in parallel, appends it to `<name>.part` and drops it, so memory holds one
/// chunk and the wallets whatever the stream length. An interrupted generation is
/// resumed: the complete chunks of the `.part` file are checked and kept, their
/// positions re-drafted without signing (restoring the walk's state), and signing goes
/// on from the first missing chunk. When every chunk is written the file is synced and
/// renamed to `<name>`, replacing any file there. `progress(done)` sees the count of
/// transactions signed or kept, as [`crate::generate`]'s does.
///
/// The file holds exactly the transactions [`crate::generate`] returns for `spec`.
pub fn generate_to_cache(
    dir: &Path,
    spec: &WorkloadSpec,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<Generated, GenerateError> {
    match write_generated(dir, spec, progress, CHUNK_POSITIONS, None)? {
        Written::Complete(generated) => Ok(generated),
        Written::Stopped => unreachable!("no chunk limit"),
    }
}

/// How far [`write_generated`] got.
#[derive(Debug)]
enum Written {
    Complete(Generated),
    /// It stopped at the chunk limit (tests of resumption).
    Stopped,
}

/// [`generate_to_cache`] in chunks of `chunk_positions`, stopping once the `.part`
/// file holds `chunk_limit` chunks if one is given (tests of resumption).
fn write_generated(
    dir: &Path,
    spec: &WorkloadSpec,
    progress: &(dyn Fn(u64) + Sync),
    chunk_positions: u32,
    chunk_limit: Option<u64>,
) -> Result<Written, GenerateError> {
    let header = Header::new(spec, chunk_positions);
    let accounts = Accounts::new(spec)?;
    let (geneses, mut drafter) = Drafter::new(spec, &accounts, header.chunk_positions as usize + 1);
    let mut part = PartFile::open(dir, spec, &header, &prefix(&header, &geneses), Resume::Yes)?;
    let kept = part.chunks;
    let count = header.chunk_count();
    let last = chunk_limit.map_or(count, |limit| limit.min(count));
    if kept < last {
        // Restore the walk's state: the kept positions again, drafted and dropped.
        let end = header.chunk_start(kept);
        for start in (0..end).step_by(header.chunk_positions as usize) {
            let next = (start + u64::from(header.chunk_positions)).min(end);
            drafter.draft_until(next)?;
            drop(drafter.take(next));
        }
    }
    let resumed_txs = header.chunk_start(kept).min(spec.txs_per_shard) * u64::from(spec.shards);
    let signed = AtomicU64::new(resumed_txs);
    progress(resumed_txs);
    let draft_chunk = |drafter: &mut Drafter<'_>, index: u64| {
        let end = header.chunk_start(index) + u64::from(header.chunk_positions_at(index));
        drafter.draft_until(end).map(|()| drafter.take(end))
    };
    let mut drafted = (kept < last)
        .then(|| draft_chunk(&mut drafter, kept))
        .transpose()?;
    for index in kept..last {
        let parts = drafted.take().expect("the chunk was drafted");
        // Drafting the next chunk on one thread while the others sign this one.
        let (sections, next) = rayon::join(
            || {
                parts
                    .into_iter()
                    .map(|p| {
                        encode_section(&SectionView::of_part(&accounts.sign(p, &signed, progress)))
                    })
                    .collect::<Vec<_>>()
            },
            || {
                (index + 1 < last)
                    .then(|| draft_chunk(&mut drafter, index + 1))
                    .transpose()
            },
        );
        drafted = next?;
        part.append_chunk(&header, index, &sections)?;
    }
    progress(signed.load(Ordering::Relaxed));
    if last < count {
        return Ok(Written::Stopped);
    }
    let path = part.finish()?;
    Ok(Written::Complete(Generated { path, resumed_txs }))
}

fn encode_section<T: Borrow<Transaction>>(view: &SectionView<'_, T>) -> Vec<u8> {
    let estimate: usize = view
        .txs
        .iter()
        .map(|tx| tx.borrow().encoded_len() + 1)
        .sum();
    let mut out = Vec::with_capacity(estimate + 64 * view.cross.len());
    view.encode(&mut out);
    out
}

/// Writes `workload` to its cache file under `dir` (atomically: written to
/// `<name>.part`, then renamed into place).
pub fn store(dir: &Path, workload: &Workload) -> Result<PathBuf, GenerateError> {
    store_chunked(dir, workload, CHUNK_POSITIONS)
}

/// [`store`] in chunks of `chunk_positions`.
pub(super) fn store_chunked(
    dir: &Path,
    workload: &Workload,
    chunk_positions: u32,
) -> Result<PathBuf, GenerateError> {
    let spec = &workload.spec;
    let header = Header::new(spec, chunk_positions);
    let geneses: Geneses = workload.shards.iter().map(|s| s.genesis.clone()).collect();
    let mut part = PartFile::open(dir, spec, &header, &prefix(&header, &geneses), Resume::No)?;
    for index in 0..header.chunk_count() {
        let start = header.chunk_start(index) as usize;
        let end = start + header.chunk_positions_at(index) as usize;
        let sections: Vec<Vec<u8>> = workload
            .shards
            .par_iter()
            .map(|shard| {
                let before = |positions: &[u32], at: usize| {
                    positions.partition_point(|&p| (p as usize) < at)
                };
                let cross = &shard.cross;
                let (first, last) = (
                    cross.partition_point(|c| (c.index as usize) < start),
                    cross.partition_point(|c| (c.index as usize) < end),
                );
                let view = SectionView {
                    start: start as u64,
                    cross_base: first as u32,
                    txs: &shard.txs[start..end],
                    expected: &shard.expected[start..end],
                    cross: &cross[first..last],
                    edge_signatures: &shard.edge_signatures
                        [before(&shard.edge_signatures, start)..],
                    canaries: &shard.canaries[before(&shard.canaries, start)..],
                };
                encode_section(&view)
            })
            .collect();
        part.append_chunk(&header, index, &sections)?;
    }
    Ok(part.finish()?)
}

/// What comes before the chunks: the header and every shard's framed genesis.
fn prefix(header: &Header, geneses: &Geneses) -> Vec<u8> {
    let mut out = header.encode().to_vec();
    for genesis in geneses {
        let bytes = encode_genesis(genesis);
        Frame::of(&bytes).encode(&mut out);
        out.extend_from_slice(&bytes);
    }
    out
}

/// Whether [`PartFile::open`] keeps the complete chunks of a `.part` file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Resume {
    Yes,
    No,
}

/// A `.part` file being written, locked against other writers, positioned after its
/// last complete chunk.
struct PartFile {
    file: File,
    /// The `.part` file.
    part: PathBuf,
    /// Where it goes when complete.
    path: PathBuf,
    /// Complete chunks in the file.
    chunks: u64,
}

impl PartFile {
    /// Opens (or creates) `spec`'s `.part` file under `dir`, locks it, and keeps what an
    /// earlier writer completed if `resume` says so and the file starts with `prefix`:
    /// the chunks that are whole and match their checksums, up to the first that is not
    /// (truncated after it).
    fn open(
        dir: &Path,
        spec: &WorkloadSpec,
        header: &Header,
        prefix: &[u8],
        resume: Resume,
    ) -> Result<PartFile, GenerateError> {
        let path = path_for(dir, spec);
        let part = part_path(&path);
        let io_err = |source| CacheError::io(&part, source);
        fs::create_dir_all(dir).map_err(io_err)?;
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&part)
            .map_err(io_err)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => return Err(GenerateError::Busy { path: part }),
            Err(fs::TryLockError::Error(e)) => return Err(io_err(e).into()),
        }
        if !still_named(&file, &part).map_err(io_err)? {
            // The writer that held the lock renamed it into place meanwhile.
            return Err(GenerateError::Busy { path: part });
        }
        let (chunks, end) = match resume {
            Resume::Yes => complete_chunks(&file, header, prefix).map_err(io_err)?,
            Resume::No => (0, None),
        };
        let mut file = file;
        match end {
            Some(end) => {
                file.set_len(end).map_err(io_err)?;
                file.seek(SeekFrom::Start(end)).map_err(io_err)?;
            }
            None => {
                file.set_len(0).map_err(io_err)?;
                file.seek(SeekFrom::Start(0)).map_err(io_err)?;
                file.write_all(prefix).map_err(io_err)?;
            }
        }
        Ok(PartFile {
            file,
            part,
            path,
            chunks,
        })
    }

    /// Appends chunk `index`: its table, then `sections` (one per shard, in order).
    fn append_chunk(
        &mut self,
        header: &Header,
        index: u64,
        sections: &[Vec<u8>],
    ) -> Result<(), CacheError> {
        debug_assert_eq!(index, self.chunks);
        let table = ChunkTable {
            index: index as u32,
            positions: header.chunk_positions_at(index),
            sections: sections.par_iter().map(|s| Frame::of(s)).collect(),
        };
        let mut bytes = Vec::with_capacity(header.table_len());
        table.encode(&mut bytes);
        let io_err = |source| CacheError::io(&self.part, source);
        self.file.write_all(&bytes).map_err(io_err)?;
        for section in sections {
            self.file.write_all(section).map_err(io_err)?;
        }
        self.chunks += 1;
        Ok(())
    }

    /// Syncs the complete file and renames it into place.
    fn finish(self) -> Result<PathBuf, CacheError> {
        let io_err = |source| CacheError::io(&self.part, source);
        self.file.sync_all().map_err(io_err)?;
        fs::rename(&self.part, &self.path).map_err(io_err)?;
        // The rename is durable once the directory is synced.
        if let Some(dir) = self.path.parent() {
            File::open(dir).and_then(|d| d.sync_all()).map_err(io_err)?;
        }
        Ok(self.path)
    }
}

/// The `.part` file of the cache file at `path`.
pub(super) fn part_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().expect("a file name").to_os_string();
    name.push(".part");
    path.with_file_name(name)
}

/// Whether `file` is still the file named `path` (not renamed away, nor replaced).
fn still_named(file: &File, path: &Path) -> io::Result<bool> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let (open, named) = (file.metadata()?, fs::metadata(path));
        Ok(named.is_ok_and(|named| (named.dev(), named.ino()) == (open.dev(), open.ino())))
    }
    #[cfg(not(unix))]
    {
        let _ = file;
        Ok(path.exists())
    }
}

/// The complete chunks at the start of a `.part` file and where they end: `(0, None)`
/// if the file does not start with `prefix` (nothing of it is kept).
fn complete_chunks(file: &File, header: &Header, prefix: &[u8]) -> io::Result<(u64, Option<u64>)> {
    let len = file.metadata()?.len();
    let mut read = BufReader::new(file);
    read.seek(SeekFrom::Start(0))?;
    if len < prefix.len() as u64 {
        return Ok((0, None));
    }
    let mut start = vec![0u8; prefix.len()];
    read.read_exact(&mut start)?;
    if start != prefix {
        return Ok((0, None));
    }
    let mut end = prefix.len() as u64;
    let mut section = Vec::new();
    for index in 0..header.chunk_count() {
        if end + header.table_len() as u64 > len {
            return Ok((index, Some(end)));
        }
        let Ok(table) = read_table(&mut read, header, index) else {
            return Ok((index, Some(end)));
        };
        let chunk_end = end + header.table_len() as u64 + table.sections_len();
        if chunk_end > len {
            return Ok((index, Some(end)));
        }
        for frame in &table.sections {
            section.resize(frame.len as usize, 0);
            read.read_exact(&mut section)?;
            if !frame.matches(&section) {
                return Ok((index, Some(end)));
            }
        }
        end = chunk_end;
    }
    Ok((header.chunk_count(), Some(end)))
}

/// Generates in chunks of `chunk_positions` until the `.part` file holds `chunks`
/// chunks (all if `None`): the completed generation, or `None` if it stopped before the
/// end.
#[cfg(test)]
pub(super) fn generate_chunks(
    dir: &Path,
    spec: &WorkloadSpec,
    chunk_positions: u32,
    chunks: Option<u64>,
) -> Result<Option<Generated>, GenerateError> {
    Ok(
        match write_generated(dir, spec, &|_| {}, chunk_positions, chunks)? {
            Written::Complete(generated) => Some(generated),
            Written::Stopped => None,
        },
    )
}
