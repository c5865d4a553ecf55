//! An append-only file read through a memory mapping: the building block of segments and indexes.
//!
//! The read-only mapping spans the file's whole capacity from the start, so it never moves and
//! slices handed to readers stay valid. Writes go through `pwritev` into the same page cache. The
//! file is grown ahead of the writer in chunks with `posix_fallocate`, so a full disk is an error
//! from `append` before anything is written, and fsyncs of a preallocated file are cheaper.
//! Readers only touch bytes below `len`, which is published after the bytes are in place.

use std::fs::{File, OpenOptions};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use memmap2::{MmapOptions, MmapRaw};

use crate::error::{Result, StorageError};

/// The smallest step by which a file is grown ahead of the writer; steps double from there,
/// so small logs and indexes reserve little disk.
const MIN_GROWTH: u64 = 64 << 10;
/// The largest step, so a busy log does not reserve much more disk than it uses.
const MAX_GROWTH: u64 = 16 << 20;

/// One file, mapped for its whole capacity, written only at its end.
pub struct MappedFile {
    /// Where the file is; changes only when the cleaner renames a swapped-in segment's files.
    path: Mutex<PathBuf>,
    file: File,
    /// Shared with every `Bytes` handed out, so a slice outlives a deleted or rolled segment.
    map: Arc<MmapRaw>,
    capacity: u64,
    /// Bytes written and visible to readers.
    len: AtomicU64,
    /// Bytes of the file reserved on disk; only the writer touches it.
    allocated: Mutex<u64>,
}

struct MapSlice {
    map: Arc<MmapRaw>,
    start: usize,
    len: usize,
}

impl AsRef<[u8]> for MapSlice {
    fn as_ref(&self) -> &[u8] {
        // SAFETY: start+len lies below the file's published length, which the writer never
        // rewrites (truncation happens only before readers exist), and the mapping lives as
        // long as this slice holds its Arc.
        unsafe { std::slice::from_raw_parts(self.map.as_ptr().add(self.start), self.len) }
    }
}

impl MappedFile {
    /// Opens (creating if needed) `path` with `len` valid bytes, mapped for `capacity` bytes.
    /// Bytes of the file past `len` are ignored and overwritten by later appends.
    pub fn open(path: &Path, len: Option<u64>, capacity: u64) -> Result<MappedFile> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(StorageError::io("opening file", path))?;
        let file_len = file
            .metadata()
            .map_err(StorageError::io("reading file size", path))?
            .len();
        let len = len.unwrap_or(file_len).min(file_len);
        let capacity = capacity.max(file_len).max(1);
        let map = MmapOptions::new()
            .len(capacity as usize)
            .map_raw_read_only(&file)
            .map_err(StorageError::io("mapping file", path))?;
        Ok(MappedFile {
            path: Mutex::new(path.to_path_buf()),
            file,
            map: Arc::new(map),
            capacity,
            len: AtomicU64::new(len),
            allocated: Mutex::new(file_len),
        })
    }

    /// The file's path.
    pub fn path(&self) -> PathBuf {
        self.path.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Renames the file to `to`; the open descriptor and the mapping stay as they are, so
    /// readers holding slices never notice.
    pub fn rename(&self, to: &Path) -> Result<()> {
        let mut path = self.path.lock().unwrap_or_else(|e| e.into_inner());
        std::fs::rename(&*path, to).map_err(StorageError::io("renaming file", &*path))?;
        *path = to.to_path_buf();
        Ok(())
    }

    /// The file's modification time in ms since the epoch (from the descriptor, so a rename
    /// does not lose it).
    pub fn modified_ms(&self) -> Option<i64> {
        let modified = self.file.metadata().ok()?.modified().ok()?;
        let since = modified.duration_since(std::time::UNIX_EPOCH).ok()?;
        i64::try_from(since.as_millis()).ok()
    }

    /// Sets the file's modification time (a cleaned segment keeps the newest of the times of
    /// the segments it replaces, as Kafka's cleaner does, so time retention measures the same).
    pub fn set_modified_ms(&self, ms: i64) -> Result<()> {
        let time = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms.max(0) as u64);
        self.file
            .set_modified(time)
            .map_err(StorageError::io("setting file time", &self.path()))
    }

    /// Bytes written so far.
    pub fn len(&self) -> u64 {
        self.len.load(Ordering::Acquire)
    }

    /// Whether nothing was written.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many bytes the file may hold.
    pub fn capacity(&self) -> u64 {
        self.capacity
    }

    /// Room left before the capacity is reached.
    pub fn remaining(&self) -> u64 {
        self.capacity - self.len()
    }

    /// A zero-copy view of `len` bytes at `start`; both must lie below `len()`.
    pub fn slice(&self, start: u64, len: u64) -> Bytes {
        debug_assert!(start + len <= self.len());
        Bytes::from_owner(MapSlice {
            map: self.map.clone(),
            start: start as usize,
            len: len as usize,
        })
    }

    /// Borrows the written bytes `[start, start+len)`.
    pub fn bytes(&self, start: u64, len: u64) -> &[u8] {
        assert!(
            start + len <= self.len(),
            "read past the written end of {}",
            self.path().display()
        );
        // SAFETY: the range is below the published length, see `MapSlice::as_ref`.
        unsafe { std::slice::from_raw_parts(self.map.as_ptr().add(start as usize), len as usize) }
    }

    /// Appends the concatenation of `parts` with one `pwritev` and returns the position it
    /// starts at. Only one writer may call this at a time.
    pub fn append_parts(&self, parts: &[&[u8]]) -> Result<u64> {
        let start = self.len.load(Ordering::Relaxed);
        let total: u64 = parts.iter().map(|p| p.len() as u64).sum();
        let end = start + total;
        if end > self.capacity {
            let full =
                std::io::Error::new(std::io::ErrorKind::StorageFull, "file capacity reached");
            return Err(StorageError::io(
                "appending beyond the file's capacity",
                &self.path(),
            )(full));
        }
        self.reserve(end)?;
        self.write_all_at(parts, start)
            .map_err(StorageError::io("writing file", &self.path()))?;
        self.len.store(end, Ordering::Release);
        Ok(start)
    }

    /// Appends `data`, returning its position.
    pub fn append(&self, data: &[u8]) -> Result<u64> {
        self.append_parts(&[data])
    }

    /// Writes every part at `offset` on, retrying short writes. Appends go through the page
    /// cache with a syscall rather than through the mapping: on the machines measured, faulting
    /// fresh pages of a shared mapping cost several times more than the copy itself.
    fn write_all_at(&self, parts: &[&[u8]], mut offset: u64) -> std::io::Result<()> {
        let mut iov: Vec<libc::iovec> = parts
            .iter()
            .filter(|p| !p.is_empty())
            .map(|p| libc::iovec {
                iov_base: p.as_ptr() as *mut libc::c_void,
                iov_len: p.len(),
            })
            .collect();
        let mut first = 0;
        while first < iov.len() {
            let chunk = &iov[first..iov.len().min(first + 1024)];
            // SAFETY: the iovecs point into `parts`, which outlive the call.
            let written = unsafe {
                libc::pwritev(
                    self.file.as_raw_fd(),
                    chunk.as_ptr(),
                    chunk.len() as libc::c_int,
                    offset as libc::off_t,
                )
            };
            if written < 0 {
                let err = std::io::Error::last_os_error();
                if err.kind() == std::io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(err);
            }
            if written == 0 {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::WriteZero,
                    "pwritev wrote nothing",
                ));
            }
            offset += written as u64;
            let mut left = written as usize;
            while left > 0 {
                let part = &mut iov[first];
                if left >= part.iov_len {
                    left -= part.iov_len;
                    first += 1;
                } else {
                    // SAFETY: advancing within the same part.
                    part.iov_base =
                        unsafe { (part.iov_base as *const u8).add(left) } as *mut libc::c_void;
                    part.iov_len -= left;
                    left = 0;
                }
            }
        }
        Ok(())
    }

    /// Makes sure the file has blocks for its first `end` bytes.
    fn reserve(&self, end: u64) -> Result<()> {
        let mut allocated = self.allocated.lock().unwrap_or_else(|e| e.into_inner());
        if end <= *allocated {
            return Ok(());
        }
        let growth = (*allocated).clamp(MIN_GROWTH, MAX_GROWTH);
        let new_size = (end.max(*allocated + growth)).min(self.capacity);
        let fallocate = |size: u64| {
            // SAFETY: plain syscall on a file descriptor we own.
            unsafe { libc::posix_fallocate(self.file.as_raw_fd(), 0, size as libc::off_t) }
        };
        let mut reserved = new_size;
        let mut rc = fallocate(reserved);
        if rc == libc::ENOSPC && reserved > end {
            // No room for a whole chunk: take just what this append needs.
            reserved = end;
            rc = fallocate(reserved);
        }
        if rc != 0 {
            let cause = std::io::Error::from_raw_os_error(rc);
            return Err(StorageError::io("preallocating file", &self.path())(cause));
        }
        *allocated = reserved;
        Ok(())
    }

    /// Forces written data to disk (`fdatasync`).
    pub fn sync(&self) -> Result<()> {
        self.file
            .sync_data()
            .map_err(StorageError::io("syncing file", &self.path()))
    }

    /// Cuts the file to its written length, releasing the preallocated tail.
    pub fn trim(&self) -> Result<()> {
        let mut allocated = self.allocated.lock().unwrap_or_else(|e| e.into_inner());
        let len = self.len();
        // A tail `forget_from` zeroed is still part of the file.
        let file_len = self.file.metadata().map_or(len + 1, |m| m.len());
        if *allocated != len || file_len != len {
            self.file
                .set_len(len)
                .map_err(StorageError::io("trimming file", &self.path()))?;
            *allocated = len;
        }
        Ok(())
    }

    /// Forgets every byte from `len` on while readers may still hold slices of this file's
    /// mappings (a damaged batch found at run time): the bytes are zeroed by punching a hole,
    /// the file keeps its size, so no mapping of it ever points past its end (which would
    /// raise SIGBUS in a reader). The next `trim` (a roll or close) shrinks the file.
    pub fn forget_from(&self, len: u64) -> Result<()> {
        let len = len.min(self.len());
        self.len.store(len, Ordering::Release);
        let mut allocated = self.allocated.lock().unwrap_or_else(|e| e.into_inner());
        let file_len = self
            .file
            .metadata()
            .map_err(StorageError::io("reading file size", &self.path()))?
            .len();
        if file_len > len {
            // SAFETY: plain syscall on a descriptor we own.
            let rc = unsafe {
                libc::fallocate(
                    self.file.as_raw_fd(),
                    libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE,
                    len as libc::off_t,
                    (file_len - len) as libc::off_t,
                )
            };
            if rc != 0 {
                // No hole punching here (an old file system): overwrite with zeros instead.
                let zeros = vec![0u8; 1 << 16];
                let mut at = len;
                while at < file_len {
                    let n = (file_len - at).min(zeros.len() as u64) as usize;
                    self.write_all_at(&[&zeros[..n]], at)
                        .map_err(StorageError::io("zeroing file tail", &self.path()))?;
                    at += n as u64;
                }
            }
        }
        // The hole has no blocks: the next append reserves them again.
        *allocated = len;
        Ok(())
    }

    /// Forgets every byte from `len` on. Only for recovery and index rebuilds, before readers
    /// exist: a reader holding a slice past `len` would see it rewritten.
    pub fn truncate(&self, len: u64) -> Result<()> {
        let len = len.min(self.len());
        self.len.store(len, Ordering::Release);
        let mut allocated = self.allocated.lock().unwrap_or_else(|e| e.into_inner());
        self.file
            .set_len(len)
            .map_err(StorageError::io("truncating file", &self.path()))?;
        *allocated = len;
        Ok(())
    }

    /// `sync_file_range` of `[start, end)` with `flags` (see `writeback`): starts or waits for
    /// writeback of those pages; no durability promise, unlike `sync`.
    pub fn sync_range(&self, start: u64, end: u64, flags: libc::c_uint) -> std::io::Result<()> {
        let len = end.saturating_sub(start);
        // SAFETY: plain syscall on a descriptor we own.
        let rc = unsafe {
            libc::sync_file_range(
                self.file.as_raw_fd(),
                start as libc::off64_t,
                len as libc::off64_t,
                flags,
            )
        };
        if rc != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(())
    }
}
