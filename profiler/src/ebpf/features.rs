//! What the running kernel's BPF offers, probed when the programs are loaded, and which build of
//! them (a [`Variant`]) fits. One object carries both builds; nothing is compiled per kernel.
//!
//! The floor is Linux 5.10. Above it, the [`Variant::Current`] programs use three things 5.10
//! lacks: `bpf_get_current_task_btf` (5.11), which lets them read the task with plain loads,
//! atomic OR (5.12), with which the daemon sets bits, and `bpf_get_current_ancestor_cgroup_id`
//! in tracing programs (5.14), with which cgroup targets are matched. [`Variant::Linux510`]
//! reads the task with `bpf_probe_read_kernel`, walks from it to its cgroup's ancestors as that
//! helper does, and gives the daemon a byte per syscall instead of a bit. Both count the same
//! calls. Below the floor, loading fails, and [`below_floor`] names what is missing.
use std::io;

use aya::{
    maps::MapType,
    programs::ProgramType,
    sys::{is_helper_supported, is_map_supported, BpfHelper},
};

/// Which build of the programs is loaded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Variant {
    /// The task through `bpf_get_current_task_btf` (5.11), the daemon's bits set with atomic OR
    /// (5.12).
    Current,
    /// What Linux 5.10 offers: the task's fields through `bpf_probe_read_kernel`, a byte per
    /// syscall in the daemon's table.
    Linux510,
}

/// One program in its two builds.
#[derive(Clone, Copy, Debug)]
pub struct Program {
    pub current: &'static str,
    pub linux_510: &'static str,
}

pub const SYS_ENTER: Program = Program {
    current: "sys_enter",
    linux_510: "sys_enter_510",
};
pub const SYS_ENTER_CGROUP: Program = Program {
    current: "sys_enter_cgroup",
    linux_510: "sys_enter_cgroup_510",
};
pub const SYS_ENTER_DAEMON: Program = Program {
    current: "sys_enter_daemon",
    linux_510: "sys_enter_daemon_510",
};
pub const SYS_EXIT_DAEMON: Program = Program {
    current: "sys_exit_daemon",
    linux_510: "sys_exit_daemon_510",
};
/// The same program in both builds: it only counts.
pub const CGROUP_RMDIR_DAEMON: Program = Program {
    current: "cgroup_rmdir_daemon",
    linux_510: "cgroup_rmdir_daemon",
};
pub const CGROUP_RENAME_DAEMON: Program = Program {
    current: "cgroup_rename_daemon",
    linux_510: "cgroup_rename_daemon",
};

impl Variant {
    pub fn program(self, program: Program) -> &'static str {
        match self {
            Variant::Current => program.current,
            Variant::Linux510 => program.linux_510,
        }
    }
}

/// The environment variable that selects the 5.10 build on newer kernels.
pub const FORCE_VARIANT: &str = "PROFILE_BPF_VARIANT";

/// What the kernel was found to offer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Features {
    /// `bpf_get_current_task_btf` (Linux 5.11).
    pub task_btf: bool,
    /// BPF atomic OR (Linux 5.12), as the JIT compiles it.
    pub atomic_or: bool,
    /// `bpf_get_current_ancestor_cgroup_id` in tracing programs (Linux 5.14).
    pub ancestor_cgroup: bool,
    /// BPF memory charged to the memory cgroup (Linux 5.11) rather than to `RLIMIT_MEMLOCK`.
    pub memcg_accounting: bool,
}

#[derive(Debug, thiserror::Error)]
#[error("probing the kernel's BPF features: {0}")]
pub struct ProbeError(String);

impl Features {
    /// Loads a few two-instruction programs (a fraction of a millisecond).
    pub fn probe() -> Result<Features, ProbeError> {
        let helper = |program, helper| {
            is_helper_supported(program, helper).map_err(|err| ProbeError(err.to_string()))
        };
        Ok(Features {
            task_btf: helper(
                ProgramType::RawTracePoint,
                BpfHelper::BPF_FUNC_get_current_task_btf,
            )?,
            atomic_or: atomic_or_loads().map_err(|err| ProbeError(err.to_string()))?,
            ancestor_cgroup: helper(
                ProgramType::RawTracePoint,
                BpfHelper::BPF_FUNC_get_current_ancestor_cgroup_id,
            )?,
            // libbpf's test: the helper came in the same release as the accounting.
            memcg_accounting: helper(
                ProgramType::SocketFilter,
                BpfHelper::BPF_FUNC_ktime_get_coarse_ns,
            )?,
        })
    }

    /// The build that fits. `PROFILE_BPF_VARIANT=5.10` takes the 5.10 build on any kernel, so
    /// that tests can compare both on one machine; nothing chooses a build the kernel lacks.
    pub fn variant(&self) -> Variant {
        let forced = std::env::var_os(FORCE_VARIANT).is_some_and(|v| v == "5.10");
        if self.complete() && !forced {
            Variant::Current
        } else {
            Variant::Linux510
        }
    }

    /// Whether the kernel has all that [`Variant::Current`] uses.
    fn complete(&self) -> bool {
        self.task_btf && self.atomic_or && self.ancestor_cgroup
    }

    /// What the kernel lacks of what [`Variant::Current`] uses, for the log.
    pub fn missing(&self) -> Vec<&'static str> {
        let mut missing = Vec::new();
        if self.complete() {
            missing.push("nothing (PROFILE_BPF_VARIANT=5.10 is set)");
        }
        if !self.task_btf {
            missing.push("bpf_get_current_task_btf (Linux 5.11)");
        }
        if !self.atomic_or {
            missing.push("BPF atomic OR (Linux 5.12)");
        }
        if !self.ancestor_cgroup {
            missing.push("bpf_get_current_ancestor_cgroup_id in tracing programs (Linux 5.14)");
        }
        missing
    }

    /// Before Linux 5.11, maps and programs are charged to `RLIMIT_MEMLOCK`, whose default
    /// (64 KiB or 8 MiB) is far below what the maps take: lift it, as libbpf does, when the
    /// kernel charges the memory cgroup instead. Only this process is affected; a recorded
    /// command was forked before.
    pub fn lift_memlock(&self) -> io::Result<()> {
        if self.memcg_accounting {
            return Ok(());
        }
        let unlimited = libc::rlimit {
            rlim_cur: libc::RLIM_INFINITY,
            rlim_max: libc::RLIM_INFINITY,
        };
        // SAFETY: a valid rlimit for a valid resource.
        if unsafe { libc::setrlimit(libc::RLIMIT_MEMLOCK, &unlimited) } != 0 {
            return Err(io::Error::last_os_error());
        }
        log::info!("kernel charges BPF memory to RLIMIT_MEMLOCK (before 5.11): lifted it");
        Ok(())
    }
}

/// Whether a socket filter with one atomic OR on its stack loads: the verifier refuses the
/// instruction before 5.12 ("BPF_STX uses reserved fields"), and a JIT that cannot compile it
/// refuses it too.
fn atomic_or_loads() -> io::Result<bool> {
    const BPF_PROG_LOAD: libc::c_long = 5;
    const BPF_PROG_TYPE_SOCKET_FILTER: u32 = 1;
    // code, dst | src << 4, off, imm
    let insn = |code: u8, regs: u8, off: i16, imm: i32| -> u64 {
        u64::from(code)
            | u64::from(regs) << 8
            | u64::from(off as u16) << 16
            | u64::from(imm as u32) << 32
    };
    let insns = [
        insn(0xb7, 1, 0, 0),               // r1 = 0
        insn(0x7b, 10 | 1 << 4, -8, 0),    // *(u64 *)(r10 - 8) = r1
        insn(0xb7, 1, 0, 1),               // r1 = 1
        insn(0xdb, 10 | 1 << 4, -8, 0x40), // lock *(u64 *)(r10 - 8) |= r1 (BPF_ATOMIC, BPF_OR)
        insn(0xb7, 0, 0, 0),               // r0 = 0
        insn(0x95, 0, 0, 0),               // exit
    ];
    // The head of `union bpf_attr` for BPF_PROG_LOAD; the kernel takes the rest as zero.
    #[repr(C)]
    struct ProgLoad {
        prog_type: u32,
        insn_cnt: u32,
        insns: u64,
        license: u64,
        log_level: u32,
        log_size: u32,
        log_buf: u64,
    }
    let attr = ProgLoad {
        prog_type: BPF_PROG_TYPE_SOCKET_FILTER,
        insn_cnt: insns.len() as u32,
        insns: insns.as_ptr() as u64,
        license: c"GPL".as_ptr() as u64,
        log_level: 0,
        log_size: 0,
        log_buf: 0,
    };
    // SAFETY: `attr` and what it points to outlive the call; its size is passed.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            BPF_PROG_LOAD,
            &attr as *const ProgLoad,
            std::mem::size_of::<ProgLoad>(),
        )
    };
    if fd >= 0 {
        // SAFETY: the kernel just returned this descriptor to us.
        unsafe { libc::close(fd as i32) };
        return Ok(true);
    }
    let err = io::Error::last_os_error();
    match err.raw_os_error() {
        // The verifier's refusal, or the JIT's (ENOTSUPP, 524).
        Some(libc::EINVAL | 524) => Ok(false),
        _ => Err(err),
    }
}

/// Something the programs need that every supported kernel (5.10 on) has.
struct Requirement {
    what: &'static str,
    since: &'static str,
    present: fn() -> bool,
}

const FLOOR: [Requirement; 2] = [
    Requirement {
        what: "bpf_probe_read_kernel",
        since: "5.5",
        present: || {
            is_helper_supported(
                ProgramType::RawTracePoint,
                BpfHelper::BPF_FUNC_probe_read_kernel,
            )
            .unwrap_or(false)
        },
    },
    Requirement {
        what: "BPF ring buffers",
        since: "5.8",
        present: || is_map_supported(MapType::RingBuf).unwrap_or(false),
    },
];

/// After a load failed: the one line that says what this kernel lacks of the floor, when it
/// lacks anything (`None`: the failure has another cause).
pub fn below_floor() -> Option<String> {
    let missing: Vec<(&str, &str)> = FLOOR
        .iter()
        .filter(|requirement| !(requirement.present)())
        .map(|requirement| (requirement.what, requirement.since))
        .collect();
    floor_message(&missing, &kernel_release())
}

fn floor_message(missing: &[(&str, &str)], release: &str) -> Option<String> {
    if missing.is_empty() {
        return None;
    }
    let list: Vec<String> = missing
        .iter()
        .map(|(what, since)| format!("{what} (Linux {since})"))
        .collect();
    Some(format!(
        "kernel {release} lacks {}; profile supports Linux 5.10 and later",
        list.join(", ")
    ))
}

fn kernel_release() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|release| release.trim().to_owned())
        .unwrap_or_else(|_| "(unknown release)".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_510_variant_is_loaded_unless_both_features_are_there() {
        let all = Features {
            task_btf: true,
            atomic_or: true,
            ancestor_cgroup: true,
            memcg_accounting: true,
        };
        assert_eq!(all.variant(), Variant::Current);
        for features in [
            Features {
                task_btf: false,
                ..all
            },
            Features {
                atomic_or: false,
                ..all
            },
            Features {
                ancestor_cgroup: false,
                ..all
            },
        ] {
            assert_eq!(features.variant(), Variant::Linux510);
            assert_eq!(features.missing().len(), 1);
        }
        assert_eq!(Variant::Linux510.program(SYS_ENTER), "sys_enter_510");
        assert_eq!(
            Variant::Current.program(SYS_ENTER_DAEMON),
            "sys_enter_daemon"
        );
    }

    #[test]
    fn below_the_floor_is_one_line_naming_what_and_where() {
        assert_eq!(floor_message(&[], "6.18.0"), None);
        let line = floor_message(
            &[
                ("BPF ring buffers", "5.8"),
                ("bpf_probe_read_kernel", "5.5"),
            ],
            "5.4.0-100-generic",
        )
        .unwrap();
        assert_eq!(
            line,
            "kernel 5.4.0-100-generic lacks BPF ring buffers (Linux 5.8), bpf_probe_read_kernel \
             (Linux 5.5); profile supports Linux 5.10 and later"
        );
        assert!(!line.contains('\n'));
    }
}
