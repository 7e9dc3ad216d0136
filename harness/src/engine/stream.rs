//! Each shard's stream as the engine holds it during a run (issue 18, item 1): read a
//! chunk of positions at a time, ahead of the driver's releases, and dropped once every
//! transaction in a chunk is done, so a run's memory does not grow with its length.
//!
//! Flow:
//! 1. The [`Loader`] reads chunk `c` (positions `[c·L, (c+1)·L)`) of every shard's stream
//!    from its [`StreamSource`]: the workload cache file (`ioschain run`, through
//!    [`ioschain_workloads::cache::ShardReader`]) or a workload in memory (the simulator,
//!    tests). It derives the clients' waits those positions add with one
//!    [`DependencyTracker`] over all shards, and hands each shard a [`ShardChunk`]: the
//!    transactions, their ids and cross items, the waits of its positions and the
//!    waiters of its transactions found so far.
//! 2. Chunks reach a shard before any release of their positions: the engine loads the
//!    first ones into the shards before the clock starts, and its driver sends the rest
//!    through each shard's inbox, ahead of the releases it sends there
//!    ([`super::clients::Inbox`]).
//! 3. A shard's clients keep their chunks in a [`StreamWindow`]. When a position is done
//!    (final, rejected for good, an Atomix transaction finished, or shed) its client
//!    sends its receipts and marks it done; a chunk whose positions are all done is
//!    dropped, and the shard publishes where its window now starts
//!    ([`StreamWindow::start`], an atomic the loader reads) so the tracker forgets what
//!    lies before it.
//!
//! Invariants: the node never reads the window (a submission carries its transaction);
//! every position a client refers to is held until it is done, because a position is
//! done only once nothing of the clients' waits on it; a waiter the tracker registers
//! on a transaction that is already done gets its receipt at once (the tracker may not
//! have heard yet that it is done), and a receipt may reach a shard before the chunk of
//! the position waiting for it, which its funds keep until the chunk comes
//! ([`super::funds::Funds`]).

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use ioschain_core::tx::{Transaction, TxOut};
use ioschain_core::types::{OutPoint, TxId};
use ioschain_workloads::cache::{CHUNK_POSITIONS, CacheError, ShardReader, WorkloadFile};
use ioschain_workloads::clients::{DependencyTracker, Position, ShardDependencies};
use ioschain_workloads::{CrossItem, Workload, WorkloadSpec};

/// Where a run's streams come from.
#[derive(Clone, Debug)]
pub enum StreamSource {
    /// A workload in memory (the simulator, tests).
    Memory(Arc<Workload>),
    /// A complete workload cache file, read as the run goes.
    Cache {
        /// The file.
        path: PathBuf,
        /// Its spec (checked against the file's header when opened).
        spec: WorkloadSpec,
    },
}

impl StreamSource {
    /// The workload, if it is in memory.
    pub fn workload(&self) -> Option<&Arc<Workload>> {
        match self {
            StreamSource::Memory(workload) => Some(workload),
            StreamSource::Cache { .. } => None,
        }
    }

    /// The workload's spec.
    pub fn spec(&self) -> &WorkloadSpec {
        match self {
            StreamSource::Memory(workload) => &workload.spec,
            StreamSource::Cache { spec, .. } => spec,
        }
    }

    /// Shards (streams).
    pub fn shards(&self) -> usize {
        self.spec().shards as usize
    }

    /// Positions per stream.
    pub fn stream_len(&self) -> u32 {
        match self {
            StreamSource::Memory(workload) => workload
                .shards
                .iter()
                .map(|s| s.txs.len() as u32)
                .max()
                .unwrap_or(0),
            StreamSource::Cache { spec, .. } => spec.txs_per_shard as u32,
        }
    }

    /// What `shard` holds at genesis.
    pub fn genesis(&self, shard: usize) -> Result<Vec<(OutPoint, TxOut)>, CacheError> {
        match self {
            StreamSource::Memory(workload) => Ok(workload.shards[shard].genesis.clone()),
            StreamSource::Cache { path, spec } => {
                WorkloadFile::open_path(path, spec)?.genesis(shard as u32)
            }
        }
    }

    /// A loader of every stream from its first position, `chunk_len` positions at a
    /// time (the cache's chunk length for a file).
    pub fn loader(&self, chunk_len: u32) -> Result<Loader, CacheError> {
        assert!(chunk_len > 0, "a chunk holds positions");
        let shards = self.shards();
        let feeds = match self {
            StreamSource::Memory(workload) => (0..shards)
                .map(|s| Feed::Memory(Arc::clone(workload), s))
                .collect(),
            StreamSource::Cache { path, spec } => {
                let file = WorkloadFile::open_path(path, spec)?;
                (0..shards)
                    .map(|s| file.shard(s as u32).map(|r| Feed::Cache(Box::new(r))))
                    .collect::<Result<_, _>>()?
            }
        };
        Ok(Loader {
            feeds,
            tracker: DependencyTracker::new(shards),
            chunk_len,
            len: self.stream_len(),
            next: 0,
            starts: (0..shards).map(|_| Arc::new(AtomicU32::new(0))).collect(),
        })
    }
}

/// One shard's stream source.
#[derive(Debug)]
enum Feed {
    Memory(Arc<Workload>, usize),
    Cache(Box<ShardReader>),
}

/// One chunk of one shard's stream, as its clients receive it.
#[derive(Debug)]
pub struct ShardChunk {
    /// The stream position of `txs[0]`.
    pub start: u32,
    /// The signed transactions.
    pub txs: Vec<Arc<Transaction>>,
    /// Their ids.
    pub ids: Vec<TxId>,
    /// The cross items of its cross-shard transactions, by position (`index`).
    pub cross: Vec<CrossItem>,
    /// Per position, its item's place in `cross`, or [`NOT_CROSS`].
    pub cross_at: Vec<u32>,
    /// The waits these positions add: `waiting` for these positions, `waiters` for
    /// positions of this stream (of this chunk or earlier ones) that they wait for.
    pub waits: ShardDependencies,
}

/// `cross_at` of a position whose transaction is intra-shard.
pub const NOT_CROSS: u32 = u32::MAX;

impl ShardChunk {
    /// Records the next position's cross item (`None`: intra-shard).
    fn push_cross(&mut self, item: Option<CrossItem>) {
        match item {
            Some(item) => {
                self.cross_at.push(self.cross.len() as u32);
                self.cross.push(item);
            }
            None => self.cross_at.push(NOT_CROSS),
        }
    }

    /// The cross item at offset `k` of the chunk.
    fn cross_item(&self, k: usize) -> Option<&CrossItem> {
        cross_at(&self.cross, &self.cross_at, k)
    }
}

/// The cross item at offset `k` of a chunk stored as `cross` and `cross_at`.
fn cross_at<'a>(cross: &'a [CrossItem], cross_at: &[u32], k: usize) -> Option<&'a CrossItem> {
    match cross_at[k] {
        NOT_CROSS => None,
        at => Some(&cross[at as usize]),
    }
}

/// Reads every shard's stream a chunk at a time and derives the clients' waits.
#[derive(Debug)]
pub struct Loader {
    feeds: Vec<Feed>,
    tracker: DependencyTracker,
    chunk_len: u32,
    len: u32,
    next: u32,
    /// Per shard, where its window starts (every position before it is done), published
    /// by the shard.
    starts: Vec<Arc<AtomicU32>>,
}

impl Loader {
    /// Positions loaded per stream so far.
    pub fn loaded_end(&self) -> u32 {
        self.next
    }

    /// Whether every position is loaded.
    pub fn is_done(&self) -> bool {
        self.next >= self.len
    }

    /// Positions per chunk.
    pub fn chunk_len(&self) -> u32 {
        self.chunk_len
    }

    /// The atomic through which `shard` publishes where its window starts.
    pub fn window_start(&self, shard: usize) -> Arc<AtomicU32> {
        Arc::clone(&self.starts[shard])
    }

    /// The next chunk of every shard (`None` once the streams are loaded). A damaged
    /// cache file ends the run with the error naming the chunk.
    pub fn next_chunk(&mut self) -> Result<Option<Vec<ShardChunk>>, CacheError> {
        if self.is_done() {
            return Ok(None);
        }
        let done: Vec<u32> = self
            .starts
            .iter()
            .map(|s| s.load(Ordering::Acquire).min(self.next))
            .collect();
        self.tracker.forget_below(&done);
        let (start, end) = (self.next, self.len.min(self.next + self.chunk_len));
        let mut chunks = Vec::with_capacity(self.feeds.len());
        for feed in &mut self.feeds {
            let mut chunk = ShardChunk {
                start,
                txs: Vec::with_capacity((end - start) as usize),
                ids: Vec::with_capacity((end - start) as usize),
                cross: Vec::new(),
                cross_at: Vec::with_capacity((end - start) as usize),
                waits: ShardDependencies::default(),
            };
            match feed {
                Feed::Memory(workload, shard) => {
                    let stream = &workload.shards[*shard];
                    let stop = (end as usize).min(stream.txs.len());
                    for index in start as usize..stop {
                        let tx = &stream.txs[index];
                        chunk.ids.push(tx.id());
                        chunk.txs.push(Arc::clone(tx));
                        let item = stream.cross_item(index as u32).cloned();
                        chunk.push_cross(item);
                    }
                }
                Feed::Cache(reader) => {
                    for _ in start..end {
                        let Some(item) = reader.next() else { break };
                        let item = item?;
                        chunk.ids.push(item.id);
                        chunk.txs.push(Arc::new(item.tx));
                        chunk.push_cross(item.cross);
                    }
                }
            }
            chunks.push(chunk);
        }
        let positions: Vec<Vec<Position<'_>>> = chunks
            .iter()
            .map(|chunk| {
                (0..chunk.txs.len())
                    .map(|k| Position {
                        index: chunk.start + k as u32,
                        id: chunk.ids[k],
                        tx: &chunk.txs[k],
                        cross: chunk.cross_item(k),
                    })
                    .collect()
            })
            .collect();
        let waits = self.tracker.add(&positions);
        drop(positions);
        for (chunk, waits) in chunks.iter_mut().zip(waits.shards) {
            chunk.waits = waits;
        }
        self.next = end;
        Ok(Some(chunks))
    }
}

/// The chunk length of a run's loader: the cache's.
pub const LOADER_CHUNK: u32 = CHUNK_POSITIONS;

/// What the loader's thread did.
#[derive(Clone, Debug, Default)]
pub struct FeedReport {
    /// The cache file was damaged (the run is aborted).
    pub error: Option<String>,
}

/// The loader's thread: keeps every stream loaded `lookahead` positions ahead of the
/// furthest release (`released`, per shard), sending each shard its chunks through its
/// inbox and then publishing the loaded end through `loaded` (so the driver never
/// releases a position whose chunk is not in the inbox before it). Ends when the
/// streams are loaded or `stop` is set; a damaged cache sets `abort`.
pub fn feed(
    loader: &mut Loader,
    inboxes: &[crossbeam::channel::Sender<super::clients::Inbox>],
    released: &[Arc<std::sync::atomic::AtomicU64>],
    loaded: &AtomicU32,
    lookahead: u32,
    stop: &std::sync::atomic::AtomicBool,
    abort: &std::sync::atomic::AtomicBool,
) -> FeedReport {
    use crossbeam::channel::SendTimeoutError;
    let mut report = FeedReport::default();
    while !loader.is_done() && !stop.load(Ordering::Relaxed) {
        let ahead = released
            .iter()
            .map(|r| r.load(Ordering::Relaxed))
            .max()
            .unwrap_or(0);
        if u64::from(loader.loaded_end()) >= ahead + u64::from(lookahead) {
            std::thread::sleep(std::time::Duration::from_millis(1));
            continue;
        }
        let chunks = match loader.next_chunk() {
            Ok(Some(chunks)) => chunks,
            Ok(None) => break,
            Err(e) => {
                report.error = Some(e.to_string());
                abort.store(true, Ordering::Relaxed);
                break;
            }
        };
        for (inbox, chunk) in inboxes.iter().zip(chunks) {
            let mut message = super::clients::Inbox::Chunk(Box::new(chunk));
            loop {
                match inbox.send_timeout(message, std::time::Duration::from_millis(10)) {
                    Ok(()) => break,
                    Err(SendTimeoutError::Timeout(back)) => {
                        if stop.load(Ordering::Relaxed) || abort.load(Ordering::Relaxed) {
                            return report;
                        }
                        message = back;
                    }
                    Err(SendTimeoutError::Disconnected(_)) => return report,
                }
            }
        }
        loaded.store(loader.loaded_end(), Ordering::Release);
    }
    report
}

/// One chunk a shard's clients hold.
#[derive(Debug)]
struct Held {
    txs: Vec<Arc<Transaction>>,
    ids: Vec<TxId>,
    cross: Vec<CrossItem>,
    cross_at: Vec<u32>,
    /// One bit per position: done.
    done: Vec<u64>,
    done_count: u32,
}

/// The positions of one shard's stream its clients hold: from the first not yet done
/// chunk to the last loaded one.
#[derive(Debug)]
pub struct StreamWindow {
    /// The stream position of the first held chunk's first transaction.
    start: u32,
    /// One past the last loaded position.
    end: u32,
    /// Positions per chunk (every chunk but the stream's last has this many): a
    /// position's chunk is found by division.
    chunk_len: u32,
    chunks: VecDeque<Held>,
    /// Where the window starts, for the loader.
    published: Arc<AtomicU32>,
}

impl StreamWindow {
    /// An empty window that publishes where it starts through `published`.
    pub fn new(published: Arc<AtomicU32>) -> Self {
        StreamWindow {
            start: 0,
            end: 0,
            chunk_len: 0,
            chunks: VecDeque::new(),
            published,
        }
    }

    /// Appends the next chunk (it must start where the window ends, and hold as many
    /// positions as the first one unless it is the stream's last).
    pub fn push(&mut self, chunk: ShardChunk) {
        assert_eq!(
            chunk.start, self.end,
            "a chunk continues the stream where the window ends"
        );
        let len = chunk.txs.len();
        if self.chunk_len == 0 {
            self.chunk_len = len as u32;
        }
        assert!(
            self.end.is_multiple_of(self.chunk_len.max(1)) && len as u32 <= self.chunk_len,
            "chunks of {} positions, but one of {len} follows position {}",
            self.chunk_len,
            self.end
        );
        if self.chunks.is_empty() {
            self.start = chunk.start;
        }
        self.end += len as u32;
        self.chunks.push_back(Held {
            txs: chunk.txs,
            ids: chunk.ids,
            cross: chunk.cross,
            cross_at: chunk.cross_at,
            done: vec![0; len.div_ceil(64)],
            done_count: 0,
        });
        self.release();
    }

    /// The first position held (every position before it is done).
    pub fn start(&self) -> u32 {
        self.start
    }

    /// One past the last loaded position.
    pub fn end(&self) -> u32 {
        self.end
    }

    /// Positions held.
    pub fn held(&self) -> usize {
        (self.end - self.start) as usize
    }

    /// Where `index` is: its chunk's place in `chunks` and its offset in it; panics
    /// (an engine bug) if it is not held.
    fn place(&self, index: u32) -> (usize, usize) {
        assert!(
            index >= self.start && index < self.end,
            "stream position {index} is not held (window {}..{}): a client referred to a \
             transaction that is done or not loaded",
            self.start,
            self.end
        );
        // `start` is a chunk boundary: every chunk before the last is full.
        let offset = index - self.start;
        (
            (offset / self.chunk_len) as usize,
            (offset % self.chunk_len) as usize,
        )
    }

    /// The chunk and offset of `index` (see [`Self::place`]).
    fn slot(&self, index: u32) -> (&Held, usize) {
        let (chunk, k) = self.place(index);
        (&self.chunks[chunk], k)
    }

    /// The transaction at `index`.
    pub fn tx(&self, index: u32) -> &Arc<Transaction> {
        let (held, k) = self.slot(index);
        &held.txs[k]
    }

    /// The id of the transaction at `index`.
    pub fn id(&self, index: u32) -> TxId {
        let (held, k) = self.slot(index);
        held.ids[k]
    }

    /// The cross item of the transaction at `index` (set for a cross-shard one).
    pub fn cross_item(&self, index: u32) -> Option<&CrossItem> {
        let (held, k) = self.slot(index);
        cross_at(&held.cross, &held.cross_at, k)
    }

    /// Whether the transaction at `index` is done (not yet loaded: no).
    pub fn is_done(&self, index: u32) -> bool {
        if index < self.start {
            return true;
        }
        if index >= self.end {
            return false;
        }
        let (held, k) = self.slot(index);
        held.done[k / 64] & (1 << (k % 64)) != 0
    }

    /// The transaction at `index` is done; chunks all done are dropped.
    pub fn mark_done(&mut self, index: u32) {
        if index < self.start || index >= self.end {
            return;
        }
        let (chunk, k) = self.place(index);
        let held = &mut self.chunks[chunk];
        let bit = 1u64 << (k % 64);
        let word = &mut held.done[k / 64];
        if *word & bit == 0 {
            *word |= bit;
            held.done_count += 1;
            if chunk == 0 && held.done_count as usize == held.txs.len() {
                self.release();
            }
        }
    }

    /// Drops the leading chunks whose positions are all done.
    fn release(&mut self) {
        let mut moved = false;
        while let Some(front) = self.chunks.front()
            && front.done_count as usize == front.txs.len()
        {
            self.start += front.txs.len() as u32;
            self.chunks.pop_front();
            moved = true;
        }
        if moved {
            self.published.store(self.start, Ordering::Release);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(start: u32, len: u32) -> ShardChunk {
        let tx = Arc::new(Transaction {
            inputs: Vec::new(),
            outputs: Vec::new(),
            witnesses: Vec::new(),
        });
        ShardChunk {
            start,
            txs: (0..len).map(|_| Arc::clone(&tx)).collect(),
            ids: (0..len).map(|_| tx.id()).collect(),
            cross: Vec::new(),
            cross_at: vec![NOT_CROSS; len as usize],
            waits: ShardDependencies::default(),
        }
    }

    #[test]
    fn a_chunk_is_dropped_once_all_its_positions_are_done_and_the_start_is_published() {
        let published = Arc::new(AtomicU32::new(0));
        let mut w = StreamWindow::new(Arc::clone(&published));
        w.push(chunk(0, 4));
        w.push(chunk(4, 4));
        w.push(chunk(8, 4));
        assert_eq!((w.start(), w.end(), w.held()), (0, 12, 12));
        for i in [0, 1, 3] {
            w.mark_done(i);
        }
        assert_eq!(w.start(), 0, "position 2 is not done");
        assert!(w.is_done(3) && !w.is_done(2));
        // Done out of order: the second chunk first, then the first's last.
        for i in 4..8 {
            w.mark_done(i);
        }
        assert_eq!(w.start(), 0);
        w.mark_done(2);
        assert_eq!((w.start(), w.held()), (8, 4));
        assert_eq!(published.load(Ordering::Acquire), 8);
        assert!(w.is_done(5), "below the window is done");
        assert!(!w.is_done(12), "not loaded is not done");
        for i in 8..12 {
            w.mark_done(i);
        }
        assert_eq!((w.start(), w.held()), (12, 0));
        // The stream's last chunk may be shorter.
        w.push(chunk(12, 3));
        assert_eq!((w.start(), w.end()), (12, 15));
        assert_eq!(w.tx(14).inputs.len(), 0);
    }

    #[test]
    #[should_panic(expected = "stream position 3 is not held")]
    fn a_released_position_is_an_engine_bug_named_as_such() {
        let mut w = StreamWindow::new(Arc::new(AtomicU32::new(0)));
        w.push(chunk(0, 4));
        w.push(chunk(4, 4));
        for i in 0..4 {
            w.mark_done(i);
        }
        let _ = w.tx(3);
    }
}
