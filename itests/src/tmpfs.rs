//! A small tmpfs of the test's own, to fill up: how the tests make a disk run out of space.
//! Mounting needs root; elsewhere the caller skips its test and says why.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A mounted tmpfs, unmounted (lazily, so open files do not block it) when dropped.
pub struct Tmpfs {
    mount: PathBuf,
    /// Holds the mount point's parent folder until after the unmount.
    _dir: tempfile::TempDir,
}

impl Tmpfs {
    /// Mounts a tmpfs of `size` (as `mount -o size=`, e.g. "24m"); `Ok(None)`, with the reason
    /// printed, where this process may not mount.
    pub fn mount(size: &str) -> anyhow::Result<Option<Tmpfs>> {
        let dir = tempfile::tempdir()?;
        let mount = dir.path().join("disk");
        std::fs::create_dir(&mount)?;
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&mount)
            .output()?;
        if !out.status.success() {
            println!(
                "skipping: cannot mount a tmpfs ({})",
                String::from_utf8_lossy(&out.stderr).trim()
            );
            return Ok(None);
        }
        Ok(Some(Tmpfs { mount, _dir: dir }))
    }

    /// The mount point.
    pub fn path(&self) -> &Path {
        &self.mount
    }

    /// Writes zeros into `name` until the file system is full.
    pub fn fill(&self, name: &str) -> anyhow::Result<PathBuf> {
        let filler = self.mount.join(name);
        // dd stops with "No space left on device": that is the point, not a failure.
        Command::new("dd")
            .arg("if=/dev/zero")
            .arg(format!("of={}", filler.display()))
            .args(["bs=64k", "status=none"])
            .status()?;
        Ok(filler)
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.mount).status();
    }
}
