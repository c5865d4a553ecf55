//! What Linux reports about a broker process: resident memory from `/proc/PID/status` and CPU
//! time from `/proc/PID/stat`.

use anyhow::{bail, Context};

/// Resident memory of a process, in bytes.
#[derive(Debug, Clone, Copy)]
pub struct Memory {
    /// `VmRSS`: resident now.
    pub rss: u64,
    /// `VmHWM`: the most it has been resident since it started. Counts pages of mapped files
    /// too: a broker that serves reads from memory-mapped segments has every page it read here.
    pub peak: u64,
    /// `RssAnon`: resident memory not backed by a file (heap, stacks), now.
    pub anon: u64,
}

/// Reads `VmRSS`, `VmHWM` and `RssAnon` of `pid`.
pub fn memory(pid: u32) -> anyhow::Result<Memory> {
    let path = format!("/proc/{pid}/status");
    let status = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    let field = |name: &str| -> anyhow::Result<u64> {
        let line = status
            .lines()
            .find(|l| l.starts_with(name))
            .with_context(|| format!("{name} missing from {path}"))?;
        // "VmRSS:	  391000 kB"
        let kib: u64 = line[name.len()..]
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .with_context(|| format!("parsing {line:?}"))?;
        Ok(kib * 1024)
    };
    Ok(Memory {
        rss: field("VmRSS:")?,
        peak: field("VmHWM:")?,
        anon: field("RssAnon:")?,
    })
}

/// CPU time `pid` has used, user plus system, in seconds (its threads included, its waited-for
/// children not).
pub fn cpu_seconds(pid: u32) -> anyhow::Result<f64> {
    let path = format!("/proc/{pid}/stat");
    let stat = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    // The command name (field 2) is in parentheses and may hold spaces: count from after it.
    let Some((_, rest)) = stat.rsplit_once(')') else {
        bail!("unexpected {path}: {stat:?}");
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3 (state); utime and stime are fields 14 and 15.
    let ticks = |i: usize| -> anyhow::Result<u64> {
        fields
            .get(i - 3)
            .with_context(|| format!("field {i} missing from {path}"))?
            .parse()
            .with_context(|| format!("field {i} of {path}"))
    };
    Ok((ticks(14)? + ticks(15)?) as f64 / clock_ticks_per_second())
}

fn clock_ticks_per_second() -> f64 {
    // SAFETY: sysconf only reads a configuration value.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 {
        ticks as f64
    } else {
        100.0
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_this_process() {
        let me = std::process::id();
        let mem = super::memory(me).unwrap();
        assert!(mem.rss > 0 && mem.peak >= mem.rss && mem.anon <= mem.rss);
        assert!(super::cpu_seconds(me).unwrap() >= 0.0);
    }
}
