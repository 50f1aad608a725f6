//! What the benchmark asks the kernel about eBPF: attaching an empty program to `sys_enter` (the
//! floor every raw-tracepoint recorder pays; aya loads programs from an object only, so these
//! are the two `bpf(2)` calls made here), and, through aya, the run-time statistics and
//! instruction counts of the programs a `profile` process has loaded, with the map memory from
//! its fdinfo.
use std::{
    ffi::CString,
    os::fd::{AsRawFd as _, FromRawFd as _, OwnedFd},
};

use anyhow::{bail, Context as _, Result};

const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_RAW_TRACEPOINT_OPEN: libc::c_long = 17;
const BPF_PROG_TYPE_RAW_TRACEPOINT: u32 = 17;

/// `bpf(cmd, attr, size)`; `attr` is a zero-padded prefix of `union bpf_attr`, which the kernel
/// accepts as long as the bytes it does not know are zero.
fn bpf(cmd: libc::c_long, attr: &mut [u64; 16]) -> Result<i32> {
    let ret = unsafe { libc::syscall(libc::SYS_bpf, cmd, attr.as_mut_ptr(), size_of_val(attr)) };
    if ret < 0 {
        return Err(std::io::Error::last_os_error()).with_context(|| format!("bpf({cmd})"));
    }
    Ok(ret as i32)
}

fn owned(fd: i32) -> OwnedFd {
    // SAFETY: `fd` was just returned by the kernel and nothing else owns it.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

/// Name of the empty program, as the kernel reports it.
pub const FLOOR: &str = "floor";
const FLOOR_NAME: &[u8; 8] = b"floor\0\0\0";

/// An empty raw `sys_enter` program (`r0 = 0; exit`), attached while this value lives.
pub struct Floor {
    _prog: OwnedFd,
    _link: OwnedFd,
}

impl Floor {
    pub fn attach() -> Result<Floor> {
        // mov64 r0, 0; exit
        let insns: [u64; 2] = [0xb7, 0x95];
        let license = c"GPL";
        let mut attr = [0u64; 16];
        attr[0] = u64::from(BPF_PROG_TYPE_RAW_TRACEPOINT) | (insns.len() as u64) << 32;
        attr[1] = insns.as_ptr() as u64;
        attr[2] = license.as_ptr() as u64;
        // prog_name, so `program` finds it
        attr[6] = u64::from_le_bytes(*FLOOR_NAME);
        let prog = owned(bpf(BPF_PROG_LOAD, &mut attr).context("loading the empty program")?);
        let name = CString::new("sys_enter")?;
        let mut attr = [0u64; 16];
        attr[0] = name.as_ptr() as u64;
        attr[1] = prog.as_raw_fd() as u64;
        let link = owned(bpf(BPF_RAW_TRACEPOINT_OPEN, &mut attr).context("attaching it")?);
        Ok(Floor {
            _prog: prog,
            _link: link,
        })
    }
}

/// Kernel accounting of run time per program, on while this value lives.
pub struct RunTimeStats {
    _fd: OwnedFd,
}

impl RunTimeStats {
    pub fn enable() -> Result<RunTimeStats> {
        let fd = aya::sys::enable_stats(aya::sys::Stats::RunTime)
            .context("enabling BPF run-time statistics")?;
        Ok(RunTimeStats { _fd: fd })
    }
}

/// Run count and total run time of one program.
#[derive(Clone, Copy, Debug, Default)]
pub struct ProgramRuns {
    pub count: u64,
    pub ns: u64,
}

impl ProgramRuns {
    /// Mean ns per run between two readings.
    pub fn mean_since(&self, earlier: ProgramRuns) -> Option<f64> {
        let count = self.count.checked_sub(earlier.count)?;
        (count > 0).then(|| (self.ns - earlier.ns) as f64 / count as f64)
    }
}

/// `key:\tvalue` lines of every `/proc/PID/fdinfo` entry, one map per descriptor.
fn fdinfos(pid: u32) -> Result<Vec<Vec<(String, String)>>> {
    let dir = format!("/proc/{pid}/fdinfo");
    let mut all = Vec::new();
    for entry in std::fs::read_dir(&dir).with_context(|| format!("reading {dir}"))? {
        let Ok(text) = std::fs::read_to_string(entry?.path()) else {
            continue;
        };
        all.push(
            text.lines()
                .filter_map(|l| l.split_once(':'))
                .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
                .collect(),
        );
    }
    Ok(all)
}

fn field<'a>(info: &'a [(String, String)], key: &str) -> Option<&'a str> {
    info.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

/// What the kernel made of one loaded program.
#[derive(Clone, Copy, Debug)]
pub struct Program {
    pub runs: ProgramRuns,
    /// Instructions after verification and the kernel's rewrites (inlined map lookups).
    pub insns: u64,
    /// Bytes of machine code the JIT produced.
    pub jited_bytes: u64,
}

/// The program named `name` that process `pid` holds open.
pub fn program(pid: u32, name: &str) -> Result<Program> {
    let held: std::collections::BTreeSet<u32> = fdinfos(pid)?
        .iter()
        .filter_map(|fd| field(fd, "prog_id")?.parse().ok())
        .collect();
    // A program unloaded while the kernel's list is walked fails alone; the walk goes on.
    let mut failed = None;
    for info in aya::programs::loaded_programs() {
        let info = match info {
            Ok(info) => info,
            Err(err) => {
                failed = Some(err);
                continue;
            }
        };
        if held.contains(&info.id()) && info.name_as_str() == Some(name) {
            let runs = ProgramRuns {
                ns: u64::try_from(info.run_time().as_nanos()).unwrap_or(u64::MAX),
                count: info.run_count(),
            };
            return Ok(Program {
                runs,
                insns: u64::from(info.size_translated().unwrap_or(0)) / 8,
                jited_bytes: u64::from(info.size_jitted()),
            });
        }
    }
    match failed {
        Some(err) => Err(err).context(format!("reading the programs of process {pid}")),
        None => bail!("process {pid} holds no eBPF program named {name}"),
    }
}

/// Bytes of kernel memory charged to the maps process `pid` holds open.
pub fn map_memory(pid: u32) -> Result<u64> {
    let mut seen = std::collections::BTreeSet::new();
    let mut total = 0;
    for fd in fdinfos(pid)? {
        if let (Some(id), Some(memlock)) = (field(&fd, "map_id"), field(&fd, "memlock")) {
            if seen.insert(id.to_owned()) {
                total += memlock.parse::<u64>().unwrap_or(0);
            }
        }
    }
    Ok(total)
}
