//! What a profile means for one syscall, evaluated directly from the profile's JSON: the
//! reference the compiled filters are compared with. Written apart from the compiler and
//! sharing none of its code (only the syscall name tables), so that both being wrong the same
//! way takes two mistakes.
//!
//! - The filter covers the native architecture (x86_64 here) and the profile's list; a call
//!   from any other gets KILL_THREAD, and so does a number from the x32 bit (2^30) up when x32
//!   is not in the profile, except -1.
//! - A rule applies to the syscall numbers its names have on the call's ABI; on i386, rules for
//!   the socket and IPC calls also apply to `socketcall`/`ipc` with the call's number in
//!   argument 0 (their own conditions on argument 0 left out), as libseccomp does.
//! - A rule matches when all its conditions hold: 64-bit unsigned comparisons, MASKED_EQ as
//!   `(arg & mask) == value`; on i386, x32 and arm (32-bit C types) arguments and values are
//!   32-bit numbers: their low halves.
//! - No rule matches: the default. Several match with different actions: the first in the
//!   kernel's order (KILL_PROCESS, KILL_THREAD, TRAP, ERRNO, NOTIFY, TRACE, LOG, ALLOW), then
//!   the smaller errno. Such an input is "ambiguous": the profile alone does not say, and
//!   libseccomp may pick the other one.
use profiler::syscalls::Arch;
use serde_json::Value;

pub const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
pub const AUDIT_ARCH_I386: u32 = 0x4000_0003;
pub const AUDIT_ARCH_AARCH64: u32 = 0xc000_00b7;
pub const AUDIT_ARCH_ARM: u32 = 0x4000_0028;
const X32_BIT: u32 = 0x4000_0000;

/// The decision for one input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Meaning {
    pub action: u32,
    /// Rules with different actions match.
    pub ambiguous: bool,
}

fn action(name: &str, errno: Option<u64>) -> u32 {
    let data = errno.unwrap_or(1) as u32;
    match name {
        "SCMP_ACT_ALLOW" => 0x7fff_0000,
        "SCMP_ACT_LOG" => 0x7ffc_0000,
        "SCMP_ACT_TRACE" => 0x7ff0_0000 | data,
        "SCMP_ACT_ERRNO" => 0x0005_0000 | data,
        "SCMP_ACT_TRAP" => 0x0003_0000,
        "SCMP_ACT_KILL" | "SCMP_ACT_KILL_THREAD" => 0,
        "SCMP_ACT_KILL_PROCESS" => 0x8000_0000,
        other => panic!("no action {other}"),
    }
}

/// Lower is stronger.
fn strength(action: u32) -> (i32, u32) {
    ((action & 0xffff_0000) as i32, action & 0xffff)
}

const SOCKET_CALLS: [&str; 20] = [
    "socket",
    "bind",
    "connect",
    "listen",
    "accept",
    "getsockname",
    "getpeername",
    "socketpair",
    "send",
    "recv",
    "sendto",
    "recvfrom",
    "shutdown",
    "setsockopt",
    "getsockopt",
    "sendmsg",
    "recvmsg",
    "accept4",
    "recvmmsg",
    "sendmmsg",
];

/// i386's multiplexer number and the call's number in it.
fn multiplexer(name: &str) -> Option<(u32, u64)> {
    if let Some(i) = SOCKET_CALLS.iter().position(|n| *n == name) {
        return Some((102, i as u64 + 1));
    }
    let ipc = [
        ("semop", 1),
        ("semget", 2),
        ("semctl", 3),
        ("semtimedop", 4),
        ("msgsnd", 11),
        ("msgrcv", 12),
        ("msgget", 13),
        ("msgctl", 14),
        ("shmat", 21),
        ("shmdt", 22),
        ("shmget", 23),
        ("shmctl", 24),
    ];
    ipc.iter().find(|(n, _)| *n == name).map(|&(_, c)| (117, c))
}

#[derive(Clone, Copy)]
enum Op {
    Ne,
    Lt,
    Le,
    Eq,
    Ge,
    Gt,
    Masked,
}

#[derive(Clone, Copy)]
struct Cond {
    index: usize,
    op: Op,
    value: u64,
    two: u64,
}

impl Cond {
    fn holds(&self, args: &[u64; 6], narrow: bool) -> bool {
        let (mut arg, mut value, mut two) = (args[self.index], self.value, self.two);
        if narrow {
            arg = u64::from(arg as u32);
            value = u64::from(value as u32);
            two = u64::from(two as u32);
        }
        match self.op {
            Op::Ne => arg != value,
            Op::Lt => arg < value,
            Op::Le => arg <= value,
            Op::Eq => arg == value,
            Op::Ge => arg >= value,
            Op::Gt => arg > value,
            Op::Masked => arg & value == two,
        }
    }
}

/// A profile ready to be evaluated many times.
pub struct Evaluator {
    arches: Vec<Arch>,
    default: u32,
    /// Per ABI: (syscall number, action, conditions), one entry per name of each rule, and for
    /// i386's multiplexed calls one more with the call number check in place of argument 0's.
    rules: Vec<(Arch, u32, u32, Vec<Cond>)>,
}

impl Evaluator {
    pub fn new(profile: &Value) -> Evaluator {
        let mut arches = vec![Arch::X86_64];
        for a in profile
            .get("architectures")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let arch: Arch = serde_json::from_value(a.clone()).unwrap();
            if !arches.contains(&arch) {
                arches.push(arch);
            }
        }
        let default = action(
            profile["defaultAction"].as_str().unwrap(),
            profile.get("defaultErrnoRet").and_then(Value::as_u64),
        );
        let mut rules = Vec::new();
        for rule in profile
            .get("syscalls")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let act = action(
                rule["action"].as_str().unwrap(),
                rule.get("errnoRet").and_then(Value::as_u64),
            );
            let conds: Vec<Cond> = rule
                .get("args")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .map(|c| Cond {
                    index: c["index"].as_u64().unwrap() as usize,
                    op: match c["op"].as_str().unwrap() {
                        "SCMP_CMP_NE" => Op::Ne,
                        "SCMP_CMP_LT" => Op::Lt,
                        "SCMP_CMP_LE" => Op::Le,
                        "SCMP_CMP_EQ" => Op::Eq,
                        "SCMP_CMP_GE" => Op::Ge,
                        "SCMP_CMP_GT" => Op::Gt,
                        "SCMP_CMP_MASKED_EQ" => Op::Masked,
                        other => panic!("no operator {other}"),
                    },
                    value: c["value"].as_u64().unwrap(),
                    two: c.get("valueTwo").and_then(Value::as_u64).unwrap_or(0),
                })
                .collect();
            for name in rule["names"].as_array().unwrap() {
                let name = name.as_str().unwrap();
                for &abi in &arches {
                    if let Some(nr) = abi.number(name) {
                        rules.push((abi, nr as u32, act, conds.clone()));
                    }
                    if abi == Arch::X86 {
                        if let Some((mux, call)) = multiplexer(name) {
                            let mut muxed: Vec<Cond> =
                                conds.iter().filter(|c| c.index != 0).copied().collect();
                            muxed.push(Cond {
                                index: 0,
                                op: Op::Eq,
                                value: call,
                                two: 0,
                            });
                            rules.push((abi, mux, act, muxed));
                        }
                    }
                }
            }
        }
        Evaluator {
            arches,
            default,
            rules,
        }
    }

    /// The meaning for a call on an x86_64 kernel.
    pub fn evaluate(&self, arch_token: u32, nr: u32, args: [u64; 6]) -> Meaning {
        let has = |arch: Arch| self.arches.contains(&arch);
        const KILL_THREAD: Meaning = Meaning {
            action: 0,
            ambiguous: false,
        };
        let (abi, number) = match arch_token {
            AUDIT_ARCH_X86_64 if nr >= X32_BIT && has(Arch::X32) => (Arch::X32, nr & !X32_BIT),
            AUDIT_ARCH_X86_64 if nr >= X32_BIT && nr != u32::MAX => return KILL_THREAD,
            AUDIT_ARCH_X86_64 => (Arch::X86_64, nr),
            AUDIT_ARCH_I386 if has(Arch::X86) => (Arch::X86, nr),
            AUDIT_ARCH_AARCH64 if has(Arch::Aarch64) => (Arch::Aarch64, nr),
            AUDIT_ARCH_ARM if has(Arch::Arm) => (Arch::Arm, nr),
            _ => return KILL_THREAD,
        };
        let narrow = matches!(abi, Arch::X86 | Arch::X32 | Arch::Arm);
        let mut matched: Vec<u32> = self
            .rules
            .iter()
            .filter(|(a, n, _, conds)| {
                *a == abi && *n == number && conds.iter().all(|c| c.holds(&args, narrow))
            })
            .map(|&(_, _, act, _)| act)
            .collect();
        matched.sort_by_key(|&a| strength(a));
        matched.dedup();
        Meaning {
            action: matched.first().copied().unwrap_or(self.default),
            ambiguous: matched.len() > 1,
        }
    }
}
