//! An append-only file read through a memory mapping: the building block of segments and indexes.
//!
//! The mapping spans the file's whole capacity from the start, so it never moves and slices handed
//! to readers stay valid. The file itself is grown ahead of the writer in chunks with
//! `posix_fallocate`: a full disk then shows up as an error from `append`, never as a SIGBUS on a
//! page of the mapping that has no block behind it. Readers only touch bytes below `len`, which is
//! published after the bytes are in place.

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
    path: PathBuf,
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
            .map_raw(&file)
            .map_err(StorageError::io("mapping file", path))?;
        Ok(MappedFile {
            path: path.to_path_buf(),
            file,
            map: Arc::new(map),
            capacity,
            len: AtomicU64::new(len),
            allocated: Mutex::new(file_len),
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
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
            self.path.display()
        );
        // SAFETY: the range is below the published length, see `MapSlice::as_ref`.
        unsafe { std::slice::from_raw_parts(self.map.as_ptr().add(start as usize), len as usize) }
    }

    /// Appends `data` and returns the position it starts at, calling `fix` on the copied bytes
    /// before they are published (the log rewrites base offsets this way). Only one writer may
    /// call this at a time.
    pub fn append_with(&self, data: &[u8], fix: impl FnOnce(&mut [u8])) -> Result<u64> {
        let start = self.len.load(Ordering::Relaxed);
        let end = start + data.len() as u64;
        if end > self.capacity {
            return Err(StorageError::io(
                "appending beyond the file's capacity",
                &self.path,
            )(std::io::Error::new(
                std::io::ErrorKind::StorageFull,
                "file capacity reached",
            )));
        }
        self.reserve(end)?;
        // SAFETY: [start, end) is reserved on disk, inside the mapping, and above the published
        // length, so no reader looks at it while we write.
        let target = unsafe {
            std::slice::from_raw_parts_mut(self.map.as_mut_ptr().add(start as usize), data.len())
        };
        target.copy_from_slice(data);
        fix(target);
        self.len.store(end, Ordering::Release);
        Ok(start)
    }

    /// Appends `data`, returning its position.
    pub fn append(&self, data: &[u8]) -> Result<u64> {
        self.append_with(data, |_| {})
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
            return Err(StorageError::io("preallocating file", &self.path)(cause));
        }
        *allocated = reserved;
        Ok(())
    }

    /// Forces written data to disk (`fdatasync`).
    pub fn sync(&self) -> Result<()> {
        self.file
            .sync_data()
            .map_err(StorageError::io("syncing file", &self.path))
    }

    /// Cuts the file to its written length, releasing the preallocated tail.
    pub fn trim(&self) -> Result<()> {
        let mut allocated = self.allocated.lock().unwrap_or_else(|e| e.into_inner());
        let len = self.len();
        if *allocated != len {
            self.file
                .set_len(len)
                .map_err(StorageError::io("trimming file", &self.path))?;
            *allocated = len;
        }
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
            .map_err(StorageError::io("truncating file", &self.path))?;
        *allocated = len;
        Ok(())
    }
}
