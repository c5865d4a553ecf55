//! Every process and scratch folder the benchmark starts, so that none outlives it: children are
//! killed (with their whole process group) when their guard drops, when a run fails, and on
//! Ctrl-C, SIGTERM or SIGHUP, where a signal thread kills what is registered and exits.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::Context;
use std::os::unix::process::CommandExt;

/// Process groups of the children still running. Held while spawning, so a signal that arrives
/// between `spawn` and registration still finds the child.
static GROUPS: Mutex<Vec<i32>> = Mutex::new(Vec::new());

/// Scratch folders still present; removed by the signal thread, which skips destructors.
static DIRS: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// A child process in a process group of its own (so the terminal's Ctrl-C reaches only the
/// harness, which then stops it in a known order); the group is killed when this drops.
pub struct Spawned {
    child: Option<Child>,
    name: String,
}

/// Starts `cmd` in a new process group, registered for cleanup.
pub fn spawn(cmd: &mut Command, name: &str) -> anyhow::Result<Spawned> {
    cmd.process_group(0);
    let mut groups = GROUPS.lock().unwrap_or_else(|e| e.into_inner());
    let child = cmd.spawn().with_context(|| format!("starting {name}"))?;
    groups.push(child.id() as i32);
    Ok(Spawned {
        child: Some(child),
        name: name.to_string(),
    })
}

impl Spawned {
    /// A guard with no process, standing in for one being replaced.
    pub fn none() -> Spawned {
        Spawned {
            child: None,
            name: String::new(),
        }
    }

    /// Kills the process group with SIGKILL at once (a crash) and reaps the process.
    pub fn kill(mut self) -> anyhow::Result<ExitStatus> {
        let mut child = self.child.take().context("no process")?;
        signal_group(child.id() as i32, libc::SIGKILL);
        let status = child.wait()?;
        unregister(child.id() as i32);
        Ok(status)
    }

    /// The OS process id (also its process group id).
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// The exit status, if the process has exited.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.as_mut()?.try_wait().ok().flatten()
    }

    /// Waits for the process to exit by itself; then kills whatever it left in its group.
    pub fn wait(mut self) -> anyhow::Result<ExitStatus> {
        let mut child = self.child.take().context("no process")?;
        let status = child.wait()?;
        signal_group(child.id() as i32, libc::SIGKILL);
        unregister(child.id() as i32);
        Ok(status)
    }

    /// Waits up to `limit` for the process to exit by itself; past it, kills its group and
    /// fails, so a child that hangs fails its row instead of stalling the run.
    pub fn wait_within(mut self, limit: Duration) -> anyhow::Result<ExitStatus> {
        let mut child = self.child.take().context("no process")?;
        let deadline = Instant::now() + limit;
        let status = loop {
            if let Some(status) = child.try_wait()? {
                break Some(status);
            }
            if Instant::now() > deadline {
                break None;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        signal_group(child.id() as i32, libc::SIGKILL);
        if status.is_none() {
            let _ = child.wait();
        }
        unregister(child.id() as i32);
        status.with_context(|| format!("{} did not finish within {limit:?}", self.name))
    }

    /// Asks the process to stop (SIGTERM), waits up to `grace`, then kills its group.
    pub fn terminate(mut self, grace: Duration) -> anyhow::Result<ExitStatus> {
        let mut child = self.child.take().context("no process to stop")?;
        signal_group(child.id() as i32, libc::SIGTERM);
        let deadline = Instant::now() + grace;
        let status = loop {
            if let Some(status) = child.try_wait()? {
                break status;
            }
            if Instant::now() > deadline {
                eprintln!(
                    "{} did not stop within {grace:?} of SIGTERM; killing it",
                    self.name
                );
                signal_group(child.id() as i32, libc::SIGKILL);
                break child.wait()?;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        // Whatever it forked goes too.
        signal_group(child.id() as i32, libc::SIGKILL);
        unregister(child.id() as i32);
        Ok(status)
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            signal_group(child.id() as i32, libc::SIGKILL);
            let _ = child.wait();
            unregister(child.id() as i32);
        }
    }
}

fn unregister(pgid: i32) {
    GROUPS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .retain(|g| *g != pgid);
}

fn signal_group(pgid: i32, signal: i32) {
    // SAFETY: kill(2) takes plain integers; a negative pid addresses the process group, which
    // is the child's own (process_group(0)), so nothing outside what we started is signalled.
    unsafe {
        libc::kill(-pgid, signal);
    }
}

/// A scratch folder (data dirs, configs, broker logs), removed when dropped or on a signal.
pub struct ScratchDir {
    dir: Option<tempfile::TempDir>,
}

impl ScratchDir {
    /// Creates an empty folder named `gregor-bench-<what>-*` in the system temp dir.
    pub fn new(what: &str) -> anyhow::Result<ScratchDir> {
        let dir = tempfile::Builder::new()
            .prefix(&format!("gregor-bench-{what}-"))
            .tempdir()?;
        DIRS.lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(dir.path().to_path_buf());
        Ok(ScratchDir { dir: Some(dir) })
    }

    /// A guard with no folder, standing in for one being moved.
    pub fn none() -> ScratchDir {
        ScratchDir { dir: None }
    }

    /// Where it is.
    pub fn path(&self) -> &Path {
        self.dir.as_ref().expect("present").path()
    }

    /// Opens a file in it for appending (created if missing), for a child's stdout or stderr
    /// that a restarted child goes on writing.
    pub fn append(&self, name: &str) -> anyhow::Result<File> {
        Ok(std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.path().join(name))?)
    }

    /// Creates (truncates) a file in it, for a child's stdout or stderr.
    pub fn file(&self, name: &str) -> anyhow::Result<File> {
        Ok(File::create(self.path().join(name))?)
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        if let Some(dir) = self.dir.take() {
            DIRS.lock()
                .unwrap_or_else(|e| e.into_inner())
                .retain(|d| d != dir.path());
            if std::env::var_os("GREGOR_BENCH_KEEP").is_some() {
                // Broker logs and data stay for a look after the run.
                eprintln!("bench: kept {}", dir.keep().display());
            } else {
                let _ = dir.close();
            }
        }
    }
}

/// Kills every registered process group and removes every scratch folder.
fn kill_everything() {
    let groups = std::mem::take(&mut *GROUPS.lock().unwrap_or_else(|e| e.into_inner()));
    for pgid in &groups {
        signal_group(*pgid, libc::SIGKILL);
    }
    for pgid in groups {
        // Reap, so the folders below are no longer in use; the group is gone after SIGKILL.
        // SAFETY: waitpid with a null status pointer is allowed and only reaps our child.
        unsafe {
            libc::waitpid(pgid, std::ptr::null_mut(), 0);
        }
    }
    for dir in std::mem::take(&mut *DIRS.lock().unwrap_or_else(|e| e.into_inner())) {
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// Starts a thread that, on SIGINT, SIGTERM or SIGHUP, kills every child, removes the scratch
/// folders and exits with 128 + the signal number, as a shell reports a signal death.
pub fn install_signal_handler() -> anyhow::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()?;
    // Registered here, before any child starts, so no signal is missed.
    let (mut int, mut term, mut hup) = runtime.block_on(async {
        anyhow::Ok((
            signal(SignalKind::interrupt())?,
            signal(SignalKind::terminate())?,
            signal(SignalKind::hangup())?,
        ))
    })?;
    std::thread::Builder::new()
        .name("bench-signals".into())
        .spawn(move || {
            let number = runtime.block_on(async {
                tokio::select! {
                    _ = int.recv() => libc::SIGINT,
                    _ = term.recv() => libc::SIGTERM,
                    _ = hup.recv() => libc::SIGHUP,
                }
            });
            // Not eprintln!: when stderr is a pipe whose reader died with the same Ctrl-C, it
            // panics, and this thread would end without stopping anything.
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr(),
                "\nbench: signal {number}: stopping every broker it started"
            );
            kill_everything();
            std::process::exit(128 + number);
        })?;
    Ok(())
}
