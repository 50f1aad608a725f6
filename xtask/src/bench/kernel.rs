//! The few `bpf(2)` calls the benchmark makes itself: attaching an empty program to
//! `sys_enter` (the floor every raw-tracepoint recorder pays), and reading the kernel's run-time
//! statistics and map memory of the programs a `profile` process has loaded.
use std::{
    ffi::CString,
    os::fd::{AsRawFd as _, FromRawFd as _, OwnedFd},
};

use anyhow::{bail, Context as _, Result};

const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_PROG_GET_FD_BY_ID: libc::c_long = 13;
const BPF_OBJ_GET_INFO_BY_FD: libc::c_long = 15;
const BPF_RAW_TRACEPOINT_OPEN: libc::c_long = 17;
const BPF_ENABLE_STATS: libc::c_long = 32;
const BPF_PROG_TYPE_RAW_TRACEPOINT: u32 = 17;
const BPF_STATS_RUN_TIME: u32 = 0;

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
        let mut attr = [0u64; 16];
        attr[0] = u64::from(BPF_STATS_RUN_TIME);
        let fd = bpf(BPF_ENABLE_STATS, &mut attr).context("enabling BPF run-time statistics")?;
        Ok(RunTimeStats { _fd: owned(fd) })
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

/// `struct bpf_prog_info` read into 8-byte words; the offsets are the uapi layout's.
fn prog_info(prog_id: u32) -> Result<[u64; 32]> {
    let mut attr = [0u64; 16];
    attr[0] = u64::from(prog_id);
    let fd = owned(bpf(BPF_PROG_GET_FD_BY_ID, &mut attr).context("opening program by id")?);
    let mut info = [0u64; 32];
    let mut attr = [0u64; 16];
    attr[0] = fd.as_raw_fd() as u64 | (size_of_val(&info) as u64) << 32;
    attr[1] = info.as_mut_ptr() as u64;
    bpf(BPF_OBJ_GET_INFO_BY_FD, &mut attr).context("reading program info")?;
    Ok(info)
}

fn prog_name(info: &[u64; 32]) -> String {
    let bytes: Vec<u8> = info[8..10].iter().flat_map(|w| w.to_le_bytes()).collect();
    String::from_utf8_lossy(&bytes)
        .trim_end_matches('\0')
        .to_owned()
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
    for fd in fdinfos(pid)? {
        let Some(id) = field(&fd, "prog_id").and_then(|v| v.parse().ok()) else {
            continue;
        };
        let info = prog_info(id)?;
        if prog_name(&info) == name {
            return Ok(Program {
                runs: ProgramRuns {
                    ns: info[24],
                    count: info[25],
                },
                insns: (info[2] >> 32) / 8,
                jited_bytes: info[2] & 0xffff_ffff,
            });
        }
    }
    bail!("process {pid} holds no eBPF program named {name}")
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
