//! Process CPU and memory from `/proc`, CPU pinning and the open-file limit (Linux).

use std::time::Instant;

use anyhow::{Context, Result, bail};

/// One look at a process.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    pub at: Instant,
    /// utime + stime in clock ticks.
    pub cpu_ticks: u64,
    /// Resident set size (VmRSS) in KiB.
    pub rss_kb: u64,
}

/// Clock ticks per second (`_SC_CLK_TCK`, 100 on practically every Linux).
pub fn clk_tck() -> u64 {
    // SAFETY: sysconf only reads a constant.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 { t as u64 } else { 100 }
}

/// Reads `/proc/PID/stat` and `/proc/PID/status`.
pub fn sample(pid: u32) -> Result<Sample> {
    let at = Instant::now();
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("cannot read /proc/{pid}/stat (is the server running?)"))?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("cannot read /proc/{pid}/status"))?;
    Ok(Sample {
        at,
        cpu_ticks: parse_cpu_ticks(&stat)?,
        rss_kb: parse_rss_kb(&status)?,
    })
}

/// utime + stime from a `/proc/PID/stat` line. The command name may contain spaces and
/// parentheses, so fields are counted from the *last* `)`.
pub fn parse_cpu_ticks(stat: &str) -> Result<u64> {
    let rest = stat
        .rsplit_once(')')
        .map(|(_, r)| r)
        .context("malformed /proc stat: no ')'")?;
    // After ')': state(3) ppid(4) ... utime(14) stime(15) → indices 11 and 12.
    let f: Vec<&str> = rest.split_whitespace().collect();
    if f.len() < 13 {
        bail!("malformed /proc stat: {} fields after the name", f.len());
    }
    let utime: u64 = f[11].parse().context("bad utime")?;
    let stime: u64 = f[12].parse().context("bad stime")?;
    Ok(utime + stime)
}

/// `VmRSS:  1234 kB` from `/proc/PID/status`.
pub fn parse_rss_kb(status: &str) -> Result<u64> {
    let line = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .context("no VmRSS in /proc status")?;
    line.split_whitespace()
        .nth(1)
        .context("empty VmRSS line")?
        .parse()
        .context("bad VmRSS value")
}

/// Raises RLIMIT_NOFILE to the hard limit: a thousand calls need several thousand
/// sockets (caller WS, server side, provider connections). Children inherit it.
/// Returns the new soft limit.
pub fn raise_nofile() -> Result<u64> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain syscalls on a local struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            bail!("getrlimit: {}", std::io::Error::last_os_error());
        }
        if lim.rlim_cur < lim.rlim_max {
            let want = libc::rlimit {
                rlim_cur: lim.rlim_max,
                rlim_max: lim.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &want) != 0 {
                bail!("setrlimit: {}", std::io::Error::last_os_error());
            }
            lim.rlim_cur = lim.rlim_max;
        }
    }
    Ok(lim.rlim_cur)
}

/// Number of CPUs this process may run on.
pub fn cpus() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

fn cpu_set(core: usize) -> libc::cpu_set_t {
    // SAFETY: cpu_set_t is a plain bit array; all-zero is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `core` is bounds-checked by CPU_SET against the set size.
    unsafe { libc::CPU_SET(core, &mut set) };
    set
}

/// Pins the calling thread (and, after `exec`, a child) to `core`. Async-signal-safe, so
/// it can run in `pre_exec`.
pub fn pin_current_thread(core: usize) -> std::io::Result<()> {
    let set = cpu_set(core);
    // SAFETY: pid 0 = calling thread; the set lives on this stack frame.
    let rc = unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Pins every existing thread of this process to `core`. sched_setaffinity is per
/// thread, and the tokio workers already exist when the bench starts; threads created
/// later inherit the mask of their creator.
pub fn pin_this_process(core: usize) -> Result<()> {
    let set = cpu_set(core);
    let tasks = std::fs::read_dir("/proc/self/task").context("cannot list /proc/self/task")?;
    for t in tasks.flatten() {
        let Some(tid) = t.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        // SAFETY: tid is one of our own threads; the set lives on this stack frame.
        let rc =
            unsafe { libc::sched_setaffinity(tid, std::mem::size_of::<libc::cpu_set_t>(), &set) };
        if rc != 0 {
            bail!(
                "cannot pin thread {tid} to core {core}: {}",
                std::io::Error::last_os_error()
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_with_odd_names() {
        let stat = "123 (haru (x) y) S 1 2 3 4 5 6 7 8 9 10 111 222 0 0 20 0 4 0";
        assert_eq!(parse_cpu_ticks(stat).unwrap(), 333);
    }

    #[test]
    fn parses_rss() {
        let status = "Name:\tharu\nVmPeak:\t 100 kB\nVmRSS:\t   4321 kB\n";
        assert_eq!(parse_rss_kb(status).unwrap(), 4321);
    }

    #[test]
    fn samples_self() {
        let s = sample(std::process::id()).unwrap();
        assert!(s.rss_kb > 0);
    }
}
