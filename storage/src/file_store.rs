//! The file system a log dir lives on: its total and usable bytes, as Java's `FileStore`
//! reports them to Kafka's DescribeLogDirs (`getTotalSpace`, `getUsableSpace`).

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use crate::error::{Result, StorageError};

/// Sizes of a file system, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileStoreSpace {
    /// All of it (`f_blocks * f_frsize`).
    pub total_bytes: u64,
    /// What an unprivileged process may still write (`f_bavail * f_frsize`), which is what Java's
    /// `getUsableSpace` answers.
    pub usable_bytes: u64,
}

/// The sizes of the file system holding `path` (statvfs).
pub fn space(path: &Path) -> Result<FileStoreSpace> {
    let io_error = |e| StorageError::io("reading file system sizes", path)(e);
    let c_path = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io_error(std::io::ErrorKind::InvalidInput.into()))?;
    let mut stat = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: `c_path` is a NUL-terminated string that outlives the call, and `stat` is a
    // buffer of the struct's size that statvfs fills when it returns 0.
    let rc = unsafe { libc::statvfs(c_path.as_ptr(), stat.as_mut_ptr()) };
    if rc != 0 {
        return Err(io_error(std::io::Error::last_os_error()));
    }
    // SAFETY: statvfs returned 0, so it wrote the whole struct.
    let stat = unsafe { stat.assume_init() };
    // The field types are the platform's (`c_ulong`, `fsblkcnt_t`): 64 bits on 64-bit Linux,
    // 32 on some others, so the widening is a no-op here and needed there.
    #[allow(clippy::useless_conversion)]
    let (frsize, blocks, available) = (
        u64::from(stat.f_frsize),
        u64::from(stat.f_blocks),
        u64::from(stat.f_bavail),
    );
    Ok(FileStoreSpace {
        total_bytes: blocks.saturating_mul(frsize),
        usable_bytes: available.saturating_mul(frsize),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_has_a_size_and_a_missing_one_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let space = space(dir.path()).unwrap();
        assert!(space.total_bytes > 0);
        assert!(space.usable_bytes <= space.total_bytes);
        assert!(super::space(&dir.path().join("missing")).is_err());
    }
}
