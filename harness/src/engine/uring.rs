//! The io_uring backend of the block log: a group of appends is submitted as one batch
//! of positioned writes, and a flush as an `fdatasync` operation.
//!
//! The only `unsafe` in ioschain is here: pushing a submission entry hands the kernel a
//! raw pointer to a buffer, which must stay valid until the entry completes.

#![allow(unsafe_code)]

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;

use io_uring::{IoUring, opcode, types};

use super::store::Writer;

/// The errno values a wait may be retried on (Linux, all architectures ioschain runs on).
mod libc_errno {
    pub const EINTR: i32 = 4;
    pub const EAGAIN: i32 = 11;
    pub const EBUSY: i32 = 16;
}

/// A ring for block-log writes.
pub struct UringWriter {
    ring: IoUring,
    capacity: usize,
}

impl std::fmt::Debug for UringWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UringWriter")
            .field("capacity", &self.capacity)
            .finish_non_exhaustive()
    }
}

impl UringWriter {
    /// A ring with room for `entries` operations in flight.
    pub fn new(entries: u32) -> io::Result<Self> {
        let entries = entries.clamp(8, 4096).next_power_of_two();
        Ok(UringWriter {
            ring: IoUring::new(entries)?,
            capacity: entries as usize,
        })
    }

    /// Waits until all `pushed` entries of the current chunk completed and
    /// stores their results. Interrupted waits are retried. The kernel may read the
    /// buffers until an entry completes, so this never returns before that: if waiting
    /// keeps failing for another reason the process is aborted rather than let the
    /// buffers be freed under the kernel.
    fn complete(&mut self, pushed: usize, results: &mut [i32]) {
        let mut completed = 0;
        let mut failures = 0;
        while completed < pushed {
            for cqe in self.ring.completion() {
                results[cqe.user_data() as usize] = cqe.result();
                completed += 1;
            }
            if completed == pushed {
                break;
            }
            match self.ring.submit_and_wait(1) {
                Ok(_) => {}
                Err(e)
                    if matches!(
                        e.raw_os_error(),
                        Some(libc_errno::EINTR | libc_errno::EAGAIN | libc_errno::EBUSY)
                    ) => {}
                Err(e) => {
                    failures += 1;
                    if failures > 1000 {
                        eprintln!(
                            "fatal: io_uring wait keeps failing ({e}) with {} writes in flight; aborting so the kernel never reads freed buffers",
                            pushed - completed
                        );
                        std::process::abort();
                    }
                }
            }
        }
    }

    /// Submits `ops` (each `(fd, buffer, offset)`; `None` buffer = fdatasync) and waits
    /// for all; returns per op the kernel's result.
    fn run(&mut self, ops: &[(i32, Option<&[u8]>, u64)], results: &mut Vec<i32>) -> io::Result<()> {
        results.clear();
        results.resize(ops.len(), 0);
        for (chunk_index, chunk) in ops.chunks(self.capacity).enumerate() {
            for (i, (fd, buffer, offset)) in chunk.iter().enumerate() {
                let user_data = (chunk_index * self.capacity + i) as u64;
                let entry = match buffer {
                    Some(bytes) => {
                        opcode::Write::new(types::Fd(*fd), bytes.as_ptr(), bytes.len() as u32)
                            .offset(*offset)
                            .build()
                    }
                    None => opcode::Fsync::new(types::Fd(*fd))
                        .flags(types::FsyncFlags::DATASYNC)
                        .build(),
                }
                .user_data(user_data);
                // SAFETY: each buffer is borrowed from `ops`, which outlives this call,
                // and this call waits below for every entry it pushed to complete, so the
                // kernel never reads a buffer after it is released. The chunk is no
                // larger than the ring, so the queue cannot be full.
                unsafe {
                    self.ring
                        .submission()
                        .push(&entry)
                        .map_err(|_| io::Error::other("io_uring submission queue full"))?;
                }
            }
            self.complete(chunk.len(), results);
        }
        Ok(())
    }
}

impl Writer for UringWriter {
    fn write(
        &mut self,
        files: &mut [File],
        offsets: &mut [u64],
        writes: &[(usize, &[u8])],
    ) -> io::Result<()> {
        let mut ops: Vec<(i32, Option<&[u8]>, u64)> = Vec::with_capacity(writes.len());
        // Positions are assigned in order, so the records of one file are laid out as
        // the channel delivered them.
        let mut next = offsets.to_vec();
        for (file, bytes) in writes {
            ops.push((files[*file].as_raw_fd(), Some(bytes), next[*file]));
            next[*file] += bytes.len() as u64;
        }
        let mut results = Vec::new();
        self.run(&ops, &mut results)?;
        // Short writes are rare on regular files; finish them one by one.
        for ((fd, bytes, offset), result) in ops.iter().zip(&results) {
            let bytes = bytes.expect("writes only");
            if *result < 0 {
                return Err(io::Error::from_raw_os_error(-result));
            }
            let mut done = *result as usize;
            while done < bytes.len() {
                let mut again = Vec::new();
                self.run(
                    &[(*fd, Some(&bytes[done..]), offset + done as u64)],
                    &mut again,
                )?;
                if again[0] <= 0 {
                    return Err(if again[0] < 0 {
                        io::Error::from_raw_os_error(-again[0])
                    } else {
                        io::Error::new(io::ErrorKind::WriteZero, "io_uring wrote nothing")
                    });
                }
                done += again[0] as usize;
            }
        }
        offsets.copy_from_slice(&next);
        Ok(())
    }

    fn flush(&mut self, files: &mut [File], file: usize) -> io::Result<()> {
        let mut results = Vec::new();
        self.run(&[(files[file].as_raw_fd(), None, 0)], &mut results)?;
        if results[0] < 0 {
            return Err(io::Error::from_raw_os_error(-results[0]));
        }
        Ok(())
    }
}
