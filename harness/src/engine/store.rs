//! The store thread: appends sealed blocks to the block log and tells each shard how far
//! its chain is persisted.
//!
//! Flow: workers send [`Append`] messages (one encoded record each) over one bounded
//! channel; the store drains up to `group_blocks_max` of them, writes them (plain
//! `write`, or io_uring), flushes each touched file once (`fsync = group`), after every
//! record (`every`) or never, and only then acknowledges them ([`Persisted`]) to the
//! worker that owns the shard, returning the buffers so they are reused by the thread
//! that allocated them. A block is final for the engine only once acknowledged here.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::time::Instant;

use crossbeam::channel::{Receiver, Sender};

use crate::blocklog::shard_path;
use crate::config::{Backend, Fsync};
pub use ioschain_reports::summary::StoreReport;

/// A record to append.
#[derive(Debug)]
pub struct Append {
    /// The shard whose log it goes to.
    pub shard: u32,
    /// The block's height.
    pub height: u64,
    /// The encoded record.
    pub bytes: Vec<u8>,
    /// The worker to acknowledge.
    pub worker: usize,
}

/// Acknowledgement: `shard`'s chain is persisted up to `height` inclusive.
#[derive(Debug)]
pub struct Persisted {
    /// The shard.
    pub shard: u32,
    /// Highest persisted height.
    pub height: u64,
    /// Buffers of the acknowledged records, for reuse.
    pub buffers: Vec<Vec<u8>>,
}

/// Writes records to per-shard files.
pub(crate) trait Writer {
    /// Appends each `(file, bytes)` in order.
    fn write(
        &mut self,
        files: &mut [File],
        offsets: &mut [u64],
        writes: &[(usize, &[u8])],
    ) -> std::io::Result<()>;
    /// Flushes the data of `file` to stable storage.
    fn flush(&mut self, files: &mut [File], file: usize) -> std::io::Result<()>;
}

struct PlainWriter;

impl Writer for PlainWriter {
    fn write(
        &mut self,
        files: &mut [File],
        offsets: &mut [u64],
        writes: &[(usize, &[u8])],
    ) -> std::io::Result<()> {
        for (file, bytes) in writes {
            files[*file].write_all(bytes)?;
            offsets[*file] += bytes.len() as u64;
        }
        Ok(())
    }

    fn flush(&mut self, files: &mut [File], file: usize) -> std::io::Result<()> {
        files[file].sync_data()
    }
}

/// Opens (creating, truncating) the log of each shard under `dir`.
pub fn open_logs(dir: &Path, shards: u32) -> std::io::Result<Vec<File>> {
    std::fs::create_dir_all(dir)?;
    (0..shards)
        .map(|shard| {
            OpenOptions::new()
                .create(true)
                .write(true)
                .truncate(true)
                .open(shard_path(dir, shard))
        })
        .collect()
}

/// Bytes the logs of `shards` shards under `dir` hold on disk now (their lengths; `None`
/// if one cannot be read).
pub fn log_bytes(dir: &Path, shards: u32) -> Option<u64> {
    (0..shards)
        .map(|shard| {
            std::fs::metadata(shard_path(dir, shard))
                .ok()
                .map(|m| m.len())
        })
        .sum()
}

/// Whether io_uring can be used here (the kernel may lack it or a sandbox may block it).
pub fn io_uring_available() -> bool {
    crate::engine::uring::UringWriter::new(8).is_ok()
}

/// Runs the store until every sender is dropped. `acks[w]` reaches worker `w`.
pub fn run_store(
    mut files: Vec<File>,
    backend: Backend,
    fsync: Fsync,
    group_blocks_max: usize,
    inbox: Receiver<Append>,
    acks: Vec<Sender<Persisted>>,
) -> std::io::Result<StoreReport> {
    let mut writer: Box<dyn Writer> = match backend {
        Backend::Write => Box::new(PlainWriter),
        Backend::IoUring => Box::new(crate::engine::uring::UringWriter::new(
            group_blocks_max as u32 * 2,
        )?),
    };
    let mut report = StoreReport {
        backend: Some(backend),
        fsync: Some(fsync),
        ..StoreReport::default()
    };
    let mut offsets = vec![0u64; files.len()];
    let mut group: Vec<Append> = Vec::with_capacity(group_blocks_max);
    let mut touched = vec![false; files.len()];
    let mut pending: Vec<(u32, usize, Persisted)> = Vec::new();
    while let Ok(first) = inbox.recv() {
        group.push(first);
        while group.len() < group_blocks_max {
            match inbox.try_recv() {
                Ok(next) => group.push(next),
                Err(_) => break,
            }
        }
        let flush = |writer: &mut Box<dyn Writer>,
                     files: &mut [File],
                     file: usize,
                     report: &mut StoreReport| {
            let start = Instant::now();
            let result = writer.flush(files, file);
            let us = start.elapsed().as_micros() as u64;
            report.flushes += 1;
            report.flush_us_total += us;
            report.flush_us_max = report.flush_us_max.max(us);
            result
        };
        if fsync == Fsync::Every {
            for append in &group {
                let file = append.shard as usize;
                writer.write(&mut files, &mut offsets, &[(file, &append.bytes)])?;
                flush(&mut writer, &mut files, file, &mut report)?;
            }
        } else {
            let writes: Vec<(usize, &[u8])> = group
                .iter()
                .map(|a| (a.shard as usize, a.bytes.as_slice()))
                .collect();
            writer.write(&mut files, &mut offsets, &writes)?;
            if fsync == Fsync::Group {
                touched.iter_mut().for_each(|t| *t = false);
                for append in &group {
                    touched[append.shard as usize] = true;
                }
                for (file, _) in touched.iter().enumerate().filter(|(_, t)| **t) {
                    flush(&mut writer, &mut files, file, &mut report)?;
                }
            }
        }
        report.groups += 1;
        // One acknowledgement per shard in the group, to the worker that owns it.
        for append in group.drain(..) {
            report.blocks += 1;
            report.bytes += append.bytes.len() as u64;
            match pending
                .iter_mut()
                .find(|(shard, _, _)| *shard == append.shard)
            {
                Some((_, worker_ack, ack)) => {
                    debug_assert_eq!(*worker_ack, append.worker);
                    ack.height = ack.height.max(append.height);
                    ack.buffers.push(append.bytes);
                }
                None => pending.push((
                    append.shard,
                    append.worker,
                    Persisted {
                        shard: append.shard,
                        height: append.height,
                        buffers: vec![append.bytes],
                    },
                )),
            }
        }
        for (_, worker, ack) in pending.drain(..) {
            // Acknowledgement channels are unbounded (at most one message per block in
            // flight), so the store never waits on a worker that waits on the store.
            let _ = acks[worker].send(ack);
        }
    }
    Ok(report)
}
