//! An append-only file read through a memory mapping: the building block of segments and indexes.
//!
//! The mapping spans the file's whole capacity from the start, so it never moves and slices
//! handed to readers stay valid. The file is grown ahead of the writer in chunks with
//! `posix_fallocate`, so a full disk is an error from `append` before anything is written
//! (never a SIGBUS from a store into a page with no block), and fsyncs of a preallocated file
//! are cheaper. Readers only touch bytes below `len`, which is published after the bytes are in
//! place.
//!
//! How appends reach the file depends on its [`WriteMode`]. An active `.log` keeps its
//! descriptor and writes with `pwritev`; an index keeps no descriptor and stores its entries
//! through a writable shared mapping, as Kafka's `AbstractIndex` does; a closed `.log` keeps
//! none either (it is read through the mapping, and [`MappedFile::release_descriptor`] drops
//! the descriptor of a sealed, synced one). What needs a descriptor then (growing, trimming,
//! truncating, punching, file times) opens the file briefly by its tracked path; a sync is
//! an `msync` of the mapping, which reaches the file even when its path is gone. So a
//! partition's files hold no descriptor at rest but the active `.log`'s, and the open-file
//! limit bounds active segments rather than files. Past a budget of kept descriptors
//! ([`set_descriptor_budget`], half the open-file limit in the broker) an active `.log` keeps
//! none either, and its appends open it briefly too: a broker with more partitions than the
//! limit allows descriptors still serves all of them, a little slower per append beyond it.

use std::fs::{File, OpenOptions};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use memmap2::{MmapOptions, MmapRaw};

use crate::error::{Result, StorageError};

/// The smallest step by which a file is grown ahead of the writer; steps double from there,
/// so small logs and indexes reserve little disk.
const MIN_GROWTH: u64 = 64 << 10;
/// The largest step, so a busy log does not reserve much more disk than it uses.
const MAX_GROWTH: u64 = 16 << 20;

/// Most descriptors files keep open, process-wide (unbounded until set).
static DESCRIPTOR_BUDGET: AtomicUsize = AtomicUsize::new(usize::MAX);
/// Descriptors files keep open now.
static KEPT_DESCRIPTORS: AtomicUsize = AtomicUsize::new(0);

/// Sets how many descriptors files may keep open at once; a file opened beyond it keeps none
/// and opens itself briefly for what needs one. Files already open keep theirs.
pub fn set_descriptor_budget(budget: usize) {
    DESCRIPTOR_BUDGET.store(budget, Ordering::Release);
}

/// Descriptors files keep open now (for reports and tests).
pub fn kept_descriptors() -> usize {
    KEPT_DESCRIPTORS.load(Ordering::Acquire)
}

/// Takes one descriptor of the budget, if any is left.
fn take_from_budget() -> bool {
    let budget = DESCRIPTOR_BUDGET.load(Ordering::Acquire);
    KEPT_DESCRIPTORS
        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |kept| {
            (kept < budget).then_some(kept + 1)
        })
        .is_ok()
}

/// How a [`MappedFile`]'s appends reach the file, and whether it keeps a descriptor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteMode {
    /// `pwritev` on a descriptor kept open, through a read-only mapping: the active `.log`,
    /// written in large appends (faulting fresh pages of a shared mapping costs several times
    /// more than the copy on the machines measured).
    Descriptor,
    /// Stores into a writable shared mapping, no descriptor kept: an index, written in small
    /// entries (Kafka's `AbstractIndex`).
    Mapping,
    /// No descriptor kept, read-only mapping: a closed `.log`, which gets no appends (one
    /// would open the file briefly).
    Closed,
}

/// One file, mapped for its whole capacity, written only at its end.
pub struct MappedFile {
    /// Where the file is; changes only when the cleaner renames a swapped-in segment's files.
    /// Held while the file is opened briefly by it, so a rename never races such an open.
    path: Mutex<PathBuf>,
    /// The descriptor, kept only in [`WriteMode::Descriptor`] until `release_descriptor`.
    file: Mutex<Option<File>>,
    /// Shared with every `Bytes` handed out, so a slice outlives a deleted or rolled segment.
    /// Writable only in [`WriteMode::Mapping`].
    map: Arc<MmapRaw>,
    /// Whether appends store through `map` (it was mapped writable).
    writable_map: bool,
    capacity: u64,
    /// Bytes written and visible to readers.
    len: AtomicU64,
    /// Bytes of the file reserved on disk (and so inside its size); only the writer touches it.
    /// A writable-mapping store lands only below it.
    allocated: Mutex<u64>,
    /// Set while the mapping is advised `MADV_RANDOM` (see [`MappedFile::advise_random`]).
    random: AtomicBool,
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

impl Drop for MappedFile {
    fn drop(&mut self) {
        let kept = self.file.get_mut().unwrap_or_else(|e| e.into_inner());
        if kept.take().is_some() {
            KEPT_DESCRIPTORS.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl MappedFile {
    /// Opens (creating if needed) `path` with `len` valid bytes, mapped for `capacity` bytes,
    /// keeping its descriptor ([`WriteMode::Descriptor`]). Bytes of the file past `len` are
    /// ignored and overwritten by later appends.
    pub fn open(path: &Path, len: Option<u64>, capacity: u64) -> Result<MappedFile> {
        Self::open_with(path, len, capacity, WriteMode::Descriptor)
    }

    /// Opens (creating if needed) `path` as [`MappedFile::open`] does, written as `mode` says.
    pub fn open_with(
        path: &Path,
        len: Option<u64>,
        capacity: u64,
        mode: WriteMode,
    ) -> Result<MappedFile> {
        Self::open_inner(path, len, capacity, mode, true)
    }

    /// Opens `path` as [`MappedFile::open_with`] does, with all its bytes valid, but never
    /// creates it: a file that is gone is an error (a lazy segment's `.log`).
    pub fn open_existing(path: &Path, capacity: u64, mode: WriteMode) -> Result<MappedFile> {
        Self::open_inner(path, None, capacity, mode, false)
    }

    fn open_inner(
        path: &Path,
        len: Option<u64>,
        capacity: u64,
        mode: WriteMode,
        create: bool,
    ) -> Result<MappedFile> {
        // Read-write even when nothing is appended: an `msync` only reaches the file of a
        // shared mapping whose descriptor was writable.
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(create)
            .truncate(false)
            .open(path)
            .map_err(StorageError::io("opening file", path))?;
        let file_len = file
            .metadata()
            .map_err(StorageError::io("reading file size", path))?
            .len();
        let len = len.unwrap_or(file_len).min(file_len);
        let capacity = capacity.max(file_len).max(1);
        let mut options = MmapOptions::new();
        options.len(capacity as usize);
        let writable_map = mode == WriteMode::Mapping;
        let map = if writable_map {
            options.map_raw(&file)
        } else {
            options.map_raw_read_only(&file)
        }
        .map_err(StorageError::io("mapping file", path))?;
        // A store through the mapping into a hole would fault on a full disk, and a file
        // found on disk may be sparse past its valid bytes (Kafka sizes an index with
        // `setLength`): such a file counts as reserved only up to `len`, so the first append
        // reserves the rest with `posix_fallocate`, which fills holes. A `pwritev` into a
        // hole fails with an error instead, so a descriptor-written file trusts its size.
        let allocated = if writable_map { len } else { file_len };
        Ok(MappedFile {
            path: Mutex::new(path.to_path_buf()),
            file: Mutex::new((mode == WriteMode::Descriptor && take_from_budget()).then_some(file)),
            map: Arc::new(map),
            writable_map,
            capacity,
            len: AtomicU64::new(len),
            allocated: Mutex::new(allocated),
            random: AtomicBool::new(false),
        })
    }

    /// Runs `f` on the file's descriptor: the kept one, or one opened briefly by path (never
    /// creating the file: one deleted meanwhile is an error, not a new empty file).
    fn with_fd<T>(
        &self,
        what: &'static str,
        f: impl FnOnce(&File) -> std::io::Result<T>,
    ) -> Result<T> {
        let kept = lock(&self.file);
        if let Some(file) = kept.as_ref() {
            return f(file).map_err(StorageError::io(what, &self.path()));
        }
        drop(kept);
        let path = lock(&self.path);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&*path)
            .map_err(StorageError::io("reopening file", &*path))?;
        f(&file).map_err(StorageError::io(what, &*path))
    }

    /// Advises the kernel that the mapping is read at random, until [`MappedFile::advise_bulk`]:
    /// a fault in a cold page of a normal mapping reads `read_ahead_kb` around it (8 MiB on
    /// the machines measured), so reading one batch header at start-up read 4 to 8 MiB of a
    /// segment, and start-up grew with the size of the active segments. Only an advice: a
    /// failure changes nothing but the read-ahead.
    pub fn advise_random(&self) {
        if self.map.advise(memmap2::Advice::Random).is_ok() {
            self.random.store(true, Ordering::Release);
        }
    }

    /// Gives the mapping back the kernel's normal read-ahead, before bulk reads (a fetch, the
    /// scrub, the cleaner, recovery), which it speeds up. Cheap after the first call.
    pub fn advise_bulk(&self) {
        if self.random.swap(false, Ordering::AcqRel) {
            let _ = self.map.advise(memmap2::Advice::Normal);
        }
    }

    /// Closes the kept descriptor, if any: the file is then read through its mapping only (a
    /// sealed segment's `.log` once synced). What needs a descriptor later opens one briefly.
    pub fn release_descriptor(&self) {
        if lock(&self.file).take().is_some() {
            KEPT_DESCRIPTORS.fetch_sub(1, Ordering::AcqRel);
        }
    }

    /// Whether the file keeps a descriptor open.
    pub fn holds_descriptor(&self) -> bool {
        lock(&self.file).is_some()
    }

    /// The file's path.
    pub fn path(&self) -> PathBuf {
        self.path.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Renames the file to `to`; the descriptor (if kept) and the mapping stay as they are,
    /// so readers holding slices never notice, and later brief opens use the new path.
    pub fn rename(&self, to: &Path) -> Result<()> {
        let mut path = lock(&self.path);
        std::fs::rename(&*path, to).map_err(StorageError::io("renaming file", &*path))?;
        *path = to.to_path_buf();
        Ok(())
    }

    /// The file's modification time in ms since the epoch (from the descriptor if kept, else
    /// from the tracked path, which a rename updates).
    pub fn modified_ms(&self) -> Option<i64> {
        let metadata = match lock(&self.file).as_ref() {
            Some(file) => file.metadata(),
            None => std::fs::metadata(&*lock(&self.path)),
        };
        let modified = metadata.ok()?.modified().ok()?;
        let since = modified.duration_since(std::time::UNIX_EPOCH).ok()?;
        i64::try_from(since.as_millis()).ok()
    }

    /// Sets the file's modification time (a cleaned segment keeps the newest of the times of
    /// the segments it replaces, as Kafka's cleaner does, so time retention measures the same).
    pub fn set_modified_ms(&self, ms: i64) -> Result<()> {
        let time = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms.max(0) as u64);
        self.with_fd("setting file time", |file| file.set_modified(time))
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
        if self.writable_map {
            let mut at = start as usize;
            for part in parts {
                // SAFETY: [start, end) lies inside the mapping (end <= capacity) and below
                // `allocated`: the file is at least that long and has blocks there
                // (`reserve`), so the stores neither fault past the end of the file nor need
                // a block on a full disk. Readers never touch bytes at or past `len`, and
                // only one writer appends at a time, so nothing else accesses these bytes.
                unsafe {
                    std::ptr::copy_nonoverlapping(
                        part.as_ptr(),
                        self.map.as_mut_ptr().add(at),
                        part.len(),
                    )
                };
                at += part.len();
            }
        } else {
            self.with_fd("writing file", |file| write_all_at(file, parts, start))?;
        }
        self.len.store(end, Ordering::Release);
        Ok(start)
    }

    /// Appends `data`, returning its position.
    pub fn append(&self, data: &[u8]) -> Result<u64> {
        self.append_parts(&[data])
    }

    /// Makes sure the file has blocks for its first `end` bytes.
    fn reserve(&self, end: u64) -> Result<()> {
        let mut allocated = lock(&self.allocated);
        if end <= *allocated {
            return Ok(());
        }
        let growth = (*allocated).clamp(MIN_GROWTH, MAX_GROWTH);
        let new_size = (end.max(*allocated + growth)).min(self.capacity);
        let reserved = self.with_fd("preallocating file", |file| {
            let fallocate = |size: u64| {
                // SAFETY: plain syscall on a descriptor open for the call.
                unsafe { libc::posix_fallocate(file.as_raw_fd(), 0, size as libc::off_t) }
            };
            let mut reserved = new_size;
            let mut rc = fallocate(reserved);
            if rc == libc::ENOSPC && reserved > end {
                // No room for a whole chunk: take just what this append needs.
                reserved = end;
                rc = fallocate(reserved);
            }
            match rc {
                0 => Ok(reserved),
                rc => Err(std::io::Error::from_raw_os_error(rc)),
            }
        })?;
        *allocated = reserved;
        Ok(())
    }

    /// Forces written data to disk: `fdatasync` on the kept descriptor, else `msync` of the
    /// mapping (which syncs the file's data whichever way it was written, and needs no path).
    pub fn sync(&self) -> Result<()> {
        if let Some(file) = lock(&self.file).as_ref() {
            return file
                .sync_data()
                .map_err(StorageError::io("syncing file", &self.path()));
        }
        self.map
            .flush()
            .map_err(StorageError::io("syncing file", &self.path()))
    }

    /// The file's size on disk.
    fn file_len(&self) -> Result<u64> {
        self.with_fd("reading file size", |file| file.metadata().map(|m| m.len()))
    }

    /// Cuts the file to its written length, releasing the preallocated tail. A file deleted
    /// meanwhile (a distrusted index, removed so the next start rebuilds it) has nothing to cut.
    pub fn trim(&self) -> Result<()> {
        let mut allocated = lock(&self.allocated);
        let len = self.len();
        // A tail `forget_from` zeroed is still part of the file.
        let file_len = match self.file_len() {
            Err(e) if is_gone(&e) => return Ok(()),
            found => found.unwrap_or(len + 1),
        };
        if *allocated != len || file_len != len {
            match self.with_fd("trimming file", |file| file.set_len(len)) {
                Err(e) if is_gone(&e) => return Ok(()),
                done => done?,
            }
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
        let mut allocated = lock(&self.allocated);
        self.with_fd("zeroing file tail", |file| {
            let file_len = file.metadata()?.len();
            if file_len <= len {
                return Ok(());
            }
            // SAFETY: plain syscall on a descriptor open for the call.
            let rc = unsafe {
                libc::fallocate(
                    file.as_raw_fd(),
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
                    write_all_at(file, &[&zeros[..n]], at)?;
                    at += n as u64;
                }
            }
            Ok(())
        })?;
        // The hole has no blocks: the next append reserves them again.
        *allocated = len;
        Ok(())
    }

    /// Forgets every byte from `len` on. Only for recovery and index rebuilds, before readers
    /// exist: a reader holding a slice past `len` would see it rewritten.
    pub fn truncate(&self, len: u64) -> Result<()> {
        let len = len.min(self.len());
        self.len.store(len, Ordering::Release);
        let mut allocated = lock(&self.allocated);
        self.with_fd("truncating file", |file| file.set_len(len))?;
        *allocated = len;
        Ok(())
    }

    /// `sync_file_range` of `[start, end)` with `flags` (see `writeback`): starts or waits for
    /// writeback of those pages; no durability promise, unlike `sync`. A file whose descriptor
    /// was released was synced whole first: nothing to do; one opened beyond the descriptor
    /// budget leaves its writeback to the kernel. The wait
    /// runs on a duplicate of the descriptor, so appends, which take the kept one, never wait
    /// behind the disk.
    pub fn sync_range(&self, start: u64, end: u64, flags: libc::c_uint) -> std::io::Result<()> {
        let Some(file) = lock(&self.file).as_ref().map(File::try_clone).transpose()? else {
            return Ok(());
        };
        let len = end.saturating_sub(start);
        // SAFETY: plain syscall on a descriptor this function owns until it returns.
        let rc = unsafe {
            libc::sync_file_range(
                file.as_raw_fd(),
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

/// Whether `e` says the file was not found when reopened by path (it was deleted).
fn is_gone(e: &StorageError) -> bool {
    matches!(e, StorageError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound)
}

/// Writes every part at `offset` on, retrying short writes.
fn write_all_at(file: &File, parts: &[&[u8]], mut offset: u64) -> std::io::Result<()> {
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
                file.as_raw_fd(),
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

#[cfg(test)]
mod tests {
    use super::*;

    /// How many of this process's descriptors are open on `path`.
    fn fds_on(path: &Path) -> usize {
        let path = path.canonicalize().unwrap();
        std::fs::read_dir("/proc/self/fd")
            .unwrap()
            .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
            .filter(|target| *target == path)
            .count()
    }

    #[test]
    fn mapping_written_files_hold_no_descriptor_and_survive_renames() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("0.index");
        let file = MappedFile::open_with(&path, None, 1 << 20, WriteMode::Mapping).unwrap();
        assert_eq!(fds_on(&path), 0);
        file.append(b"abcd").unwrap();
        let moved = dir.path().join("0.index.swap");
        file.rename(&moved).unwrap();
        // Growing past the first reservation opens the file by its new path.
        let chunk = vec![7u8; (MIN_GROWTH * 3) as usize];
        file.append(&chunk).unwrap();
        file.sync().unwrap();
        assert_eq!(fds_on(&moved), 0);
        assert_eq!(file.bytes(0, 4), b"abcd");
        file.trim().unwrap();
        let on_disk = std::fs::read(&moved).unwrap();
        assert_eq!(on_disk.len() as u64, 4 + MIN_GROWTH * 3);
        assert_eq!(&on_disk[..4], b"abcd");
        assert!(on_disk[4..].iter().all(|b| *b == 7));
        file.truncate(2).unwrap();
        assert_eq!(std::fs::metadata(&moved).unwrap().len(), 2);
        file.append(b"xy").unwrap();
        file.trim().unwrap();
        assert_eq!(std::fs::read(&moved).unwrap(), b"abxy");
    }

    #[test]
    fn a_released_descriptor_leaves_the_file_readable() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("0.log");
        let file = MappedFile::open(&path, None, 1 << 20).unwrap();
        assert_eq!(fds_on(&path), 1);
        file.append(b"hello").unwrap();
        file.trim().unwrap();
        file.sync().unwrap();
        file.release_descriptor();
        assert_eq!(fds_on(&path), 0);
        assert_eq!(&file.slice(0, 5)[..], b"hello");
        file.set_modified_ms(1_000_000).unwrap();
        assert_eq!(file.modified_ms(), Some(1_000_000));
        let closed = MappedFile::open_with(&path, None, 0, WriteMode::Closed).unwrap();
        assert_eq!(fds_on(&path), 0);
        assert_eq!(closed.bytes(0, 5), b"hello");
    }

    /// A store through a writable mapping into a page the disk has no block for raises
    /// SIGBUS; the reservation must turn a full disk into an error first. Needs root to mount
    /// a small tmpfs; otherwise it says why and passes.
    #[test]
    fn a_full_disk_fails_index_appends_before_any_store() {
        let dir = tempfile::tempdir().unwrap();
        let mounted = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"])
            .arg(dir.path())
            .output();
        if !mounted.is_ok_and(|o| o.status.success()) {
            eprintln!("skipping: cannot mount a tmpfs");
            return;
        }
        struct Unmount<'a>(&'a Path);
        impl Drop for Unmount<'_> {
            fn drop(&mut self) {
                let _ = std::process::Command::new("umount").arg(self.0).status();
            }
        }
        let _unmount = Unmount(dir.path());
        let path = dir.path().join("0.index");
        let file = MappedFile::open_with(&path, None, 8 << 20, WriteMode::Mapping).unwrap();
        let entry = [5u8; 12];
        let mut written = 0u64;
        let err = loop {
            match file.append(&entry) {
                Ok(_) => written += 12,
                Err(e) => break e,
            }
            assert!(written < 8 << 20, "a 1 MiB file system took 8 MiB");
        };
        assert!(
            matches!(&err, StorageError::Io { source, .. } if source.raw_os_error() == Some(libc::ENOSPC)),
            "{err}"
        );
        assert_eq!(file.len(), written);
        assert!(file.bytes(0, written).iter().all(|b| *b == 5));
        file.sync().unwrap();
    }
}
