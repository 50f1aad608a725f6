//! Our seccomp compiler against the profile's meaning and against libseccomp.
//!
//! For the same profile three things run on every input that matters (every syscall number of
//! every architecture in the profile and one not in it, and argument values at and around every
//! constant of the rules): our filter, in our cBPF interpreter; the meaning, evaluated by
//! `tests::meaning` straight from the JSON; and libseccomp's filter (tests/scripts/
//! libseccomp_bpf.py drives Debian's libseccomp as runc does). Ours must equal the meaning on
//! every input. libseccomp's disagreements with the meaning are counted and listed, never
//! excused; our model of libseccomp (what `profile check` warns with) must equal libseccomp on
//! every input, and refuse exactly what it refuses. A sample of our filters also runs in forked
//! children under the real kernel.
use std::{
    collections::BTreeSet, os::unix::process::ExitStatusExt as _, path::Path, process::Command,
};

use profiler::{
    profile::Profile,
    seccomp::{
        bpf::{self, SeccompData, SockFilter},
        compile,
        libseccomp::{self, tree::Release},
    },
    syscalls::Arch,
};
use tests::{
    meaning::{Evaluator, AUDIT_ARCH_AARCH64, AUDIT_ARCH_ARM, AUDIT_ARCH_I386, AUDIT_ARCH_X86_64},
    *,
};

/// libseccomp's filter for `profile`, or None when libseccomp (or runc) rejects the profile.
fn libseccomp(profile: &serde_json::Value, dir: &Path) -> Option<Vec<SockFilter>> {
    let json = dir.join("profile.json");
    let out = dir.join("libseccomp.bpf");
    std::fs::write(&json, profile.to_string()).unwrap();
    // libseccomp never returns from adding some rule sets (see the model's TreeError::Hang).
    let output = run(Command::new("timeout")
        .args(["--signal=KILL", "20", "/usr/bin/python3"])
        .arg(script("libseccomp_bpf.py"))
        .arg(&json)
        .arg(&out));
    // `timeout` kills its whole process group, itself included.
    let hung = output.status.signal() == Some(libc::SIGKILL) || output.status.code() == Some(137);
    match output.status.code() {
        Some(0) => {}
        Some(3) => return None,
        _ if hung => {
            let parsed: Profile = serde_json::from_value(profile.clone()).unwrap();
            assert!(
                matches!(
                    libseccomp::accepts(&parsed, Arch::X86_64),
                    Err(profiler::seccomp::CompileError::Rule {
                        source: libseccomp::tree::TreeError::Hang { .. },
                        ..
                    })
                ),
                "libseccomp hangs on a profile the model does not say it hangs on: {profile}"
            );
            return None;
        }
        _ => panic!("libseccomp_bpf.py: {}", describe(&output)),
    }
    let bytes = std::fs::read(&out).unwrap();
    Some(
        bytes
            .as_chunks::<8>()
            .0
            .iter()
            .map(|c| SockFilter::from_bytes(*c))
            .collect(),
    )
}

/// Argument values worth probing: every constant of the profile's conditions, its neighbours,
/// and values that differ only in one 32-bit half.
fn probe_values(profile: &Profile) -> Vec<u64> {
    let mut values = BTreeSet::from([0, 1, u64::MAX, 0xffff_ffff, 0x1_0000_0000]);
    for rule in &profile.syscalls {
        for c in &rule.args {
            for v in [
                c.value,
                c.value_two,
                c.value & c.value_two,
                c.value | !c.value_two,
            ] {
                values.extend([
                    v,
                    v.wrapping_sub(1),
                    v.wrapping_add(1),
                    v ^ 0xffff_ffff_0000_0000,
                    v & 0xffff_ffff,
                    v ^ 0x1_0000_0000,
                ]);
            }
        }
    }
    values.into_iter().collect()
}

/// Every input worth deciding for `profile`.
fn inputs(profile: &Profile) -> Vec<SeccompData> {
    let mut inputs = Vec::new();
    for arch in [
        AUDIT_ARCH_X86_64,
        AUDIT_ARCH_I386,
        AUDIT_ARCH_AARCH64,
        AUDIT_ARCH_ARM,
    ] {
        let bases: &[u32] = if arch == AUDIT_ARCH_X86_64 {
            &[0, 0x4000_0000]
        } else {
            &[0]
        };
        for base in bases {
            for nr in 0..1024u32 {
                inputs.push(SeccompData {
                    nr: base | nr,
                    arch,
                    ..Default::default()
                });
            }
        }
        // Beyond the table: arm's private calls (0x0f0001 on) among them.
        for nr in [u32::MAX, 0x3fff_ffff, 0x8000_0000]
            .into_iter()
            .chain(0x0f_0000..0x0f_0008)
        {
            inputs.push(SeccompData {
                nr,
                arch,
                ..Default::default()
            });
        }
    }
    // Argument probes for the syscalls whose decision depends on them: each argument alone,
    // all at the same value, and a fixed sample of combinations.
    let values = probe_values(profile);
    let arg_syscalls: BTreeSet<&str> = profile
        .syscalls
        .iter()
        .filter(|r| !r.args.is_empty())
        .flat_map(|r| r.names.iter().map(String::as_str))
        .collect();
    let mut rng = Rng(0x5eed_0fa1_1a95);
    for name in arg_syscalls {
        for (arch, token, bit) in [
            (Arch::X86_64, AUDIT_ARCH_X86_64, 0),
            (Arch::X86, AUDIT_ARCH_I386, 0),
            (Arch::X32, AUDIT_ARCH_X86_64, 0x4000_0000),
            (Arch::Aarch64, AUDIT_ARCH_AARCH64, 0),
            (Arch::Arm, AUDIT_ARCH_ARM, 0),
        ] {
            let Some(nr) = arch.number(name) else {
                continue;
            };
            let at = |args| SeccompData {
                nr: nr as u32 | bit,
                arch: token,
                args,
                ..Default::default()
            };
            for index in 0..6 {
                for &v in &values {
                    let mut args = [0u64; 6];
                    args[index] = v;
                    inputs.push(at(args));
                }
            }
            for &v in &values {
                inputs.push(at([v; 6]));
            }
            for _ in 0..200 {
                inputs.push(at([(); 6].map(|()| *rng.pick(&values))));
            }
        }
    }
    // i386's socket calls also go through socketcall (102) with the call number in arg0.
    for call in 0..=21u64 {
        for &v in values.iter().take(12) {
            inputs.push(SeccompData {
                nr: 102,
                arch: AUDIT_ARCH_I386,
                args: [call, v, v, 0, 0, 0],
                ..Default::default()
            });
        }
    }
    inputs
}

/// What a comparison found.
#[derive(Default)]
struct Tally {
    inputs: usize,
    /// Inputs where rules with different actions match (the meaning's precedence decides).
    ambiguous: usize,
    /// Inputs where libseccomp's filter decides otherwise than the meaning, unambiguous ones
    /// and ambiguous ones.
    libseccomp_wrong: usize,
    libseccomp_other_pick: usize,
    examples: Vec<String>,
    ours_len: usize,
    libseccomp_len: usize,
}

impl Tally {
    fn add(&mut self, other: Tally) {
        self.inputs += other.inputs;
        self.ambiguous += other.ambiguous;
        self.libseccomp_wrong += other.libseccomp_wrong;
        self.libseccomp_other_pick += other.libseccomp_other_pick;
        if self.examples.len() < 10 {
            self.examples.extend(other.examples);
        }
    }
}

fn show(action: u32) -> String {
    profiler::seccomp::action_name(action)
}

/// Compares our filter with the meaning (must agree on every input) and libseccomp's filter
/// with the meaning (counted) and with our model of it (must agree). `None` when libseccomp
/// refuses the profile, which we must then refuse too.
fn compare(name: &str, json: &serde_json::Value) -> Option<Tally> {
    let profile: Profile =
        serde_json::from_value(json.clone()).unwrap_or_else(|e| panic!("{name}: {e}"));
    let dir = scratch(&format!("compile-{name}"));
    let theirs = libseccomp(json, &dir);
    let ours = compile(&profile, Arch::X86_64);
    let (theirs, ours) = match (theirs, ours) {
        (Some(theirs), Ok(ours)) => (theirs, ours),
        (None, Err(_)) => {
            assert!(
                libseccomp::accepts(&profile, Arch::X86_64).is_err(),
                "{name}: the model accepts what libseccomp refuses\n{json}"
            );
            return None;
        }
        (Some(_), Err(err)) => panic!("{name}: we refuse what libseccomp accepts: {err}\n{json}"),
        (None, Ok(_)) => panic!("{name}: we accept what libseccomp refuses\n{json}"),
    };
    let model = libseccomp::compile(&profile, Arch::X86_64, Release::Before2_6_1)
        .unwrap_or_else(|e| panic!("{name}: the model refuses what libseccomp accepts: {e}"));
    let meaning = Evaluator::new(json);
    let mut tally = Tally {
        ours_len: ours.len(),
        libseccomp_len: theirs.len(),
        ..Tally::default()
    };
    for data in inputs(&profile) {
        let run = |p: &[SockFilter], what: &str| {
            bpf::run(p, &data).unwrap_or_else(|e| panic!("{name}: {what}: {e}"))
        };
        let want = meaning.evaluate(data.arch, data.nr, data.args);
        let (a, b, m) = (
            run(&ours, "ours"),
            run(&theirs, "libseccomp"),
            run(&model, "model"),
        );
        let input = format!(
            "arch {:#x} nr {:#x} args {:x?}",
            data.arch, data.nr, data.args
        );
        assert_eq!(
            a,
            want.action,
            "{name}: {input}: ours {}, the profile means {}\n{json}",
            show(a),
            show(want.action)
        );
        assert_eq!(
            m,
            b,
            "{name}: {input}: the model says {}, libseccomp {}\n{json}",
            show(m),
            show(b)
        );
        tally.inputs += 1;
        tally.ambiguous += usize::from(want.ambiguous);
        if b != want.action {
            if want.ambiguous {
                tally.libseccomp_other_pick += 1;
            } else {
                tally.libseccomp_wrong += 1;
                if tally.examples.len() < 3 {
                    tally.examples.push(format!(
                        "{name}: {input}: libseccomp {}, the profile means {}",
                        show(b),
                        show(want.action)
                    ));
                }
            }
        }
    }
    Some(tally)
}

/// Drops the names this machine's libseccomp (2.5.4) does not know: runc skips them, while our
/// tables know the newer syscalls. The comparison is about everything else.
fn known_to_libseccomp(mut json: serde_json::Value) -> serde_json::Value {
    let names: BTreeSet<String> = json["syscalls"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| {
            r["names"]
                .as_array()
                .unwrap()
                .iter()
                .map(|n| n.as_str().unwrap().to_owned())
        })
        .collect();
    let code = "import seccomp, sys\nfor n in sys.argv[1:]:\n    if seccomp.resolve_syscall(seccomp.Arch.NATIVE, n) == -1: print(n)";
    let output = run(Command::new("/usr/bin/python3")
        .args(["-c", code])
        .args(&names));
    assert!(output.status.success(), "{}", describe(&output));
    let unknown: BTreeSet<String> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    for rule in json["syscalls"].as_array_mut().unwrap() {
        rule["names"]
            .as_array_mut()
            .unwrap()
            .retain(|n| !unknown.contains(n.as_str().unwrap()));
    }
    json["syscalls"]
        .as_array_mut()
        .unwrap()
        .retain(|r| !r["names"].as_array().unwrap().is_empty());
    json
}

/// A reference profile resolved for x86_64 with Docker's default capabilities.
fn resolved(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let parsed = profiler::profile::parse(&text, &path.display().to_string()).unwrap();
    let target = profiler::profile::Platform {
        arch: Arch::X86_64,
        kernel: profiler::profile::kernel::running_kernel().unwrap(),
        capabilities: profiler::profile::caps::default_capabilities(),
    };
    serde_json::to_value(profiler::profile::resolve(&parsed.profile, &target).unwrap()).unwrap()
}

#[test]
fn reference_profiles_decide_by_meaning_in_fewer_instructions_than_libseccomp() {
    for (name, path) in [
        ("moby", reference("moby-default.json")),
        (
            "moby-before-split",
            reference("moby-moby-default-before-split-2025-07.json"),
        ),
        ("podman", PODMAN.into()),
    ] {
        let json = known_to_libseccomp(resolved(&path));
        let tally = compare(name, &json).expect("libseccomp accepts it");
        assert!(
            tally.ours_len <= tally.libseccomp_len,
            "{name}: {} instructions, libseccomp {}",
            tally.ours_len,
            tally.libseccomp_len
        );
        assert_args_loaded_only_where_needed(name, &json);
        eprintln!(
            "{name}: {} inputs as the profile means; {} instructions, libseccomp {}, which decides {} inputs otherwise: {:?}",
            tally.inputs, tally.ours_len, tally.libseccomp_len, tally.libseccomp_wrong, tally.examples
        );
    }
}

/// The kernel's action cache answers a syscall without running the filter only when no path of
/// the filter for it loads an argument.
fn assert_args_loaded_only_where_needed(name: &str, json: &serde_json::Value) {
    let profile: Profile = serde_json::from_value(json.clone()).unwrap();
    let program = compile(&profile, Arch::X86_64).unwrap();
    let with_args: BTreeSet<u64> = profile
        .syscalls
        .iter()
        .filter(|r| !r.args.is_empty())
        .flat_map(|r| r.names.iter().filter_map(|n| Arch::X86_64.number(n)))
        .collect();
    let mut args_loaded = 0;
    for nr in 0..1024u32 {
        let data = SeccompData {
            nr,
            arch: AUDIT_ARCH_X86_64,
            ..Default::default()
        };
        let loaded = bpf::run_traced(&program, &data)
            .unwrap()
            .loaded_argument(&program);
        assert_eq!(
            loaded,
            with_args.contains(&u64::from(nr)),
            "{name}: x86_64 syscall {nr}"
        );
        args_loaded += usize::from(loaded);
    }
    assert_eq!(args_loaded, with_args.len());
}

#[test]
fn small_profiles_decide_by_meaning() {
    let cases = [
        serde_json::json!({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
            {"names": ["read", "write", "getppid"], "action": "SCMP_ACT_ALLOW"}]}),
        serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"],
            "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38},
                         {"names": ["socket"], "action": "SCMP_ACT_KILL_PROCESS", "args": [{"index": 0, "value": 2, "op": "SCMP_CMP_EQ"}]}]}),
        serde_json::json!({"defaultAction": "SCMP_ACT_KILL", "syscalls": [
            {"names": ["personality"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 0xffffffffu64, "op": "SCMP_CMP_EQ"}]},
            {"names": ["clone"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 2114060288u64, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}]},
            {"names": ["mmap"], "action": "SCMP_ACT_TRAP", "args": [{"index": 2, "value": 7, "op": "SCMP_CMP_GE"}, {"index": 1, "value": 4096, "op": "SCMP_CMP_LT"}]},
            {"names": ["mprotect"], "action": "SCMP_ACT_LOG", "args": [{"index": 2, "value": 4, "op": "SCMP_CMP_GT"}, {"index": 2, "value": 0x100000000u64, "op": "SCMP_CMP_LE"}]},
            {"names": ["ioctl"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 1, "value": 0x5401, "op": "SCMP_CMP_NE"}]}]}),
        // An arm64 recording with AArch32 calls: arm's EABI numbers, its private calls
        // (set_tls is 0x0f0005), 32-bit argument compares.
        serde_json::json!({"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"],
            "syscalls": [{"names": ["read", "write", "set_tls", "cacheflush", "mmap2", "exit_group"], "action": "SCMP_ACT_ALLOW"},
                         {"names": ["socket"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"}, {"index": 1, "value": 15, "valueTwo": 1, "op": "SCMP_CMP_MASKED_EQ"}]},
                         {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}]}),
        serde_json::json!({"defaultAction": "SCMP_ACT_KILL_PROCESS", "architectures": ["SCMP_ARCH_ARM"],
            "syscalls": [{"names": ["getppid", "get_tls"], "action": "SCMP_ACT_ALLOW"},
                         {"names": ["ioctl"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 1, "value": 0x1_0000_5401u64, "op": "SCMP_CMP_NE"}]}]}),
    ];
    for (i, case) in cases.iter().enumerate() {
        let tally = compare(&format!("small-{i}"), case).expect("libseccomp accepts it");
        assert!(tally.inputs > 4000);
    }
}

/// The profiles that found libseccomp's skipped reload: getppid(5) and getppid(8) match no
/// rule, so they get the default, whatever libseccomp does with them.
#[test]
fn libseccomps_skipped_reload_is_not_ours() {
    let profile = serde_json::json!({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
        {"names": ["getppid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 2, "args": [{"index": 0, "value": 5, "op": "SCMP_CMP_LT"}]},
        {"names": ["getppid"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 0x1_0000_0003u64, "op": "SCMP_CMP_GT"}]}]});
    let tally = compare("skipped-reload", &profile).expect("libseccomp accepts it");
    assert!(
        tally.libseccomp_wrong > 0,
        "libseccomp decides it right now?"
    );
    // The same checks shared by getpid, placed where getppid's tree needs them.
    let shared = serde_json::json!({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
        {"names": ["getppid"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 5, "op": "SCMP_CMP_LT"}]},
        {"names": ["getppid", "getpid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 2, "args": [{"index": 0, "value": 0x1_0000_0003u64, "op": "SCMP_CMP_GT"}]},
        {"names": ["getpid"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 5, "op": "SCMP_CMP_EQ"}]}]});
    let tally = compare("shared-block", &shared).expect("libseccomp accepts it");
    assert!(
        tally.libseccomp_wrong > 0,
        "libseccomp decides it right now?"
    );
}

/// A set of 3,000 values on one argument: what libseccomp compiles (3,0xx instructions), we
/// compile in no more.
#[test]
fn a_large_value_set_fits_in_no_more_instructions_than_libseccomps() {
    let mut rng = Rng(0x3000);
    let values: BTreeSet<u64> = (0..3000).map(|_| 1 + rng.below(0x7fff_ffff)).collect();
    let mut rules = vec![
        serde_json::json!({"names": ["read", "write", "exit_group"], "action": "SCMP_ACT_ALLOW"}),
    ];
    rules.extend(values.iter().map(|&v| {
        serde_json::json!({"names": ["ioctl"], "action": "SCMP_ACT_ALLOW",
            "args": [{"index": 1, "value": v, "op": "SCMP_CMP_EQ"}]})
    }));
    let profile = serde_json::json!({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": rules});
    let tally = compare("value-set", &profile).expect("libseccomp accepts it");
    assert!(
        tally.ours_len <= tally.libseccomp_len,
        "{} instructions, libseccomp {}",
        tally.ours_len,
        tally.libseccomp_len
    );
    // Every value, and its neighbours, as the profile means.
    let parsed: Profile = serde_json::from_value(profile.clone()).unwrap();
    let program = compile(&parsed, Arch::X86_64).unwrap();
    let meaning = Evaluator::new(&profile);
    for &v in &values {
        for a1 in [v - 1, v, v + 1, v | 1 << 32] {
            let args = [0, a1, 0, 0, 0, 0];
            let data = SeccompData {
                nr: 16,
                arch: AUDIT_ARCH_X86_64,
                args,
                ..Default::default()
            };
            assert_eq!(
                bpf::run(&program, &data).unwrap(),
                meaning.evaluate(AUDIT_ARCH_X86_64, 16, args).action,
                "ioctl a1 {a1:#x}"
            );
        }
    }
    eprintln!(
        "3000 values: {} instructions, libseccomp {}",
        tally.ours_len, tally.libseccomp_len
    );
}

/// A small deterministic generator (xorshift64*), so failures reproduce from the seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

const ACTIONS: [&str; 8] = [
    "SCMP_ACT_ALLOW",
    "SCMP_ACT_ERRNO",
    "SCMP_ACT_KILL_PROCESS",
    "SCMP_ACT_KILL_THREAD",
    "SCMP_ACT_KILL",
    "SCMP_ACT_TRAP",
    "SCMP_ACT_LOG",
    "SCMP_ACT_TRACE",
];

fn action_with_data(rng: &mut Rng, action: &str) -> serde_json::Value {
    let mut value = serde_json::json!({ "action": action });
    let data: &[u64] = match action {
        "SCMP_ACT_ERRNO" => &[1, 5, 38, 4094],
        "SCMP_ACT_TRACE" => &[0, 1, 5, 38, 4095],
        _ => &[],
    };
    if !data.is_empty() && rng.below(2) == 0 {
        value["errnoRet"] = (*rng.pick(data)).into();
    }
    value
}

fn random_action(rng: &mut Rng) -> serde_json::Value {
    let action = *rng.pick(&ACTIONS);
    action_with_data(rng, action)
}

const NAMES: [&str; 12] = [
    "read",
    "write",
    "socket",
    "clone",
    "mmap",
    "mprotect",
    "ioctl",
    "personality",
    "getppid",
    "prctl",
    "futex",
    "kill",
];
const OPS: [&str; 7] = [
    "SCMP_CMP_NE",
    "SCMP_CMP_LT",
    "SCMP_CMP_LE",
    "SCMP_CMP_EQ",
    "SCMP_CMP_GE",
    "SCMP_CMP_GT",
    "SCMP_CMP_MASKED_EQ",
];

fn random_condition(rng: &mut Rng, index: u64) -> serde_json::Value {
    let values = [
        0,
        1,
        2,
        5,
        0x5401,
        0xffff_ffff,
        0x1_0000_0000,
        0x1_0000_0002,
        0x1_0000_0003,
        u64::MAX,
        rng.next(),
    ];
    serde_json::json!({
        "index": index,
        "value": *rng.pick(&values),
        "valueTwo": *rng.pick(&values),
        "op": *rng.pick(&OPS),
    })
}

/// A random profile whose first syscall rules contest one argument of one syscall: two to four
/// rules with different actions each check that argument (some also another one), then a few
/// random rules more.
fn random_profile(rng: &mut Rng) -> serde_json::Value {
    let default = random_action(rng);
    let mut profile = serde_json::json!({ "defaultAction": default["action"] });
    if let Some(errno) = default.get("errnoRet") {
        profile["defaultErrnoRet"] = errno.clone();
    }
    let arches: Vec<&str> = [
        "SCMP_ARCH_X86",
        "SCMP_ARCH_X32",
        "SCMP_ARCH_X86_64",
        "SCMP_ARCH_AARCH64",
    ]
    .into_iter()
    .filter(|_| rng.below(2) == 0)
    .collect();
    profile["architectures"] = arches.into();
    let contested = *rng.pick(&NAMES);
    let index = rng.below(3);
    let mut actions: Vec<&str> = Vec::new();
    while actions.len() < 2 + rng.below(3) as usize {
        let action = *rng.pick(&ACTIONS);
        if !actions.contains(&action) {
            actions.push(action);
        }
    }
    let mut rules: Vec<serde_json::Value> = actions
        .iter()
        .map(|action| {
            let mut rule = action_with_data(rng, action);
            rule["names"] = serde_json::json!([contested]);
            let mut args = vec![random_condition(rng, index)];
            if rng.below(3) == 0 {
                let other = (index + 1 + rng.below(2)) % 3;
                args.push(random_condition(rng, other));
            }
            rule["args"] = args.into();
            rule
        })
        .collect();
    rules.extend((0..rng.below(4)).map(|_| {
        let mut rule = random_action(rng);
        let names: Vec<&str> = (0..1 + rng.below(3)).map(|_| *rng.pick(&NAMES)).collect();
        rule["names"] = names.into();
        let args: Vec<serde_json::Value> = (0..rng.below(4))
            .map(|_| {
                let index = rng.below(3) + if rng.below(4) == 0 { 3 } else { 0 };
                random_condition(rng, index)
            })
            .collect();
        if !args.is_empty() {
            rule["args"] = args.into();
        }
        rule
    }));
    profile["syscalls"] = rules.into();
    profile
}

#[test]
fn random_contested_profiles_decide_by_meaning() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let (mut compared, mut refused) = (0, 0);
    let mut total = Tally::default();
    let mut attempt = 0;
    while compared < 1000 {
        attempt += 1;
        assert!(
            attempt < 20_000,
            "libseccomp refused too many random profiles ({refused})"
        );
        let profile = random_profile(&mut rng);
        match compare(&format!("random-{attempt}"), &profile) {
            Some(tally) => {
                compared += 1;
                total.add(tally);
            }
            None => refused += 1,
        }
    }
    assert!(total.ambiguous > 0, "no input where rules contest");
    eprintln!(
        "{compared} random profiles ({refused} more refused by libseccomp and by us): {} inputs, 0 decided otherwise than the profile means by our filter; libseccomp's filter decides {} unambiguous inputs wrongly, and picks another action than the kernel's order on {} of {} inputs where rules with different actions match. Examples: {:#?}",
        total.inputs, total.libseccomp_wrong, total.libseccomp_other_pick, total.ambiguous, total.examples
    );
}

/// What the kernel did with one syscall in a child confined by a filter.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Errno(i64),
    Signal(i32),
}

/// Installs `program` in a forked child and makes one x86_64 syscall there. The result goes
/// through shared memory: once the filter is in, the child may not be allowed to write or even
/// to exit cleanly.
fn run_in_child(program: &[SockFilter], nr: u32, args: [u64; 6]) -> Outcome {
    // [done flag, errno]
    let shared = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            4096,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    } as *mut i64;
    assert_ne!(shared as *mut libc::c_void, libc::MAP_FAILED);
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        // Only raw syscalls from here on: the parent is multi-threaded.
        if profiler::seccomp::install::install(program, 0).is_err() {
            unsafe { libc::_exit(99) };
        }
        let r: i64 = unsafe {
            libc::syscall(
                nr as i64, args[0], args[1], args[2], args[3], args[4], args[5],
            )
        };
        unsafe {
            *shared.add(1) = if r < 0 {
                i64::from(*libc::__errno_location())
            } else {
                0
            };
            *shared = 1;
            libc::_exit(0);
        }
    }
    let mut status = 0;
    unsafe { libc::waitpid(pid, &mut status, 0) };
    let (done, errno) = unsafe { (*shared, *shared.add(1)) };
    unsafe { libc::munmap(shared.cast(), 4096) };
    if done == 1 {
        return Outcome::Errno(errno);
    }
    assert!(
        libc::WIFSIGNALED(status),
        "child failed to install the filter (status {status:#x})"
    );
    Outcome::Signal(libc::WTERMSIG(status))
}

/// What the kernel must do for an action value, for actions that never run the syscall.
fn expected(ret: u32) -> Option<Outcome> {
    use profiler::seccomp::*;
    match ret & 0xffff_0000 {
        RET_KILL_PROCESS | RET_KILL_THREAD | RET_TRAP => Some(Outcome::Signal(libc::SIGSYS)),
        // The kernel caps ERRNO data at MAX_ERRNO.
        RET_ERRNO => Some(Outcome::Errno(i64::from((ret & 0xffff).min(4095)))),
        // Without a tracer the call fails with ENOSYS.
        RET_TRACE => Some(Outcome::Errno(libc::ENOSYS as i64)),
        _ => None,
    }
}

#[test]
fn a_sample_of_filters_decides_as_the_profile_means_in_the_kernel() {
    require_root();
    let mut rng = Rng(0x1234_5678_9abc_def1);
    let (mut profiles, mut calls) = (0, 0);
    while profiles < 40 {
        let json = random_profile(&mut rng);
        let profile: Profile = serde_json::from_value(json.clone()).unwrap();
        let Ok(program) = compile(&profile, Arch::X86_64) else {
            continue;
        };
        profiles += 1;
        let meaning = Evaluator::new(&json);
        let values = probe_values(&profile);
        for rule in &profile.syscalls {
            for name in &rule.names {
                let Some(nr) = Arch::X86_64.number(name) else {
                    continue;
                };
                for _ in 0..8 {
                    let args = [(); 6].map(|()| *rng.pick(&values));
                    let data = SeccompData {
                        nr: nr as u32,
                        arch: AUDIT_ARCH_X86_64,
                        args,
                        ..Default::default()
                    };
                    let ret = meaning.evaluate(AUDIT_ARCH_X86_64, nr as u32, args).action;
                    assert_eq!(bpf::run(&program, &data).unwrap(), ret);
                    // Calls the filter lets through would really run: only check the others.
                    let Some(want) = expected(ret) else { continue };
                    assert_eq!(
                        run_in_child(&program, nr as u32, args),
                        want,
                        "{name}{args:x?} under {json}"
                    );
                    calls += 1;
                }
            }
        }
    }
    assert!(calls > 200, "only {calls} calls checked in the kernel");
}

#[test]
fn recorded_profiles_decide_by_meaning() {
    let exe = exerciser().display().to_string();
    let commands: [&[&str]; 3] = [&["/bin/ls", "/"], &[&exe, "tree"], &[&exe, "int80", "10"]];
    for (i, command) in commands.into_iter().enumerate() {
        let (output, recorded) = record(&format!("compile-recorded-{i}"), &[], command);
        assert!(output.status.success(), "{}", describe(&output));
        let json = known_to_libseccomp(recorded);
        let tally = compare(&format!("recorded-{i}"), &json).expect("libseccomp accepts it");
        assert!(tally.inputs > 4000);
        assert_eq!(tally.libseccomp_wrong, 0, "{:?}", tally.examples);
    }
}

#[test]
fn learned_arg_profiles_decide_by_meaning() {
    let exe = exerciser().display().to_string();
    let commands: [&[&str]; 5] = [
        &["/bin/ls", "/"],
        &[&exe, "tree"],
        &[&exe, "unix-socket"],
        &[&exe, "clone-plain"],
        &[
            "/usr/bin/python3",
            "-c",
            "import socket; socket.socket(socket.AF_INET6, socket.SOCK_DGRAM); socket.socketpair()",
        ],
    ];
    for (i, command) in commands.into_iter().enumerate() {
        let (output, recorded) = record(&format!("compile-args-{i}"), &["--args"], command);
        assert!(output.status.success(), "{}", describe(&output));
        let conditional = recorded["syscalls"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|rule| rule.get("args").is_some())
            .count();
        assert!(conditional > 0, "no argument rule learned: {recorded:#}");
        let mut json = known_to_libseccomp(recorded);
        let tally = compare(&format!("args-{i}"), &json).expect("libseccomp accepts it");
        assert!(tally.inputs > 4000);
        // The same rules on i386 too, where socket calls are also filtered through socketcall.
        json["architectures"] = serde_json::json!(["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"]);
        compare(&format!("args-{i}-x86"), &json).expect("libseccomp accepts it on x86");
    }
}
