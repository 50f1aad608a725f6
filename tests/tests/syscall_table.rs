//! The x86_64 name table must name every syscall the running kernel has. The kernel creates a
//! `syscalls:sys_enter_*` trace event exactly for the SYSCALL_DEFINEs wired into its native
//! table, named after the definition, which differs from the table's name in a few cases.
use std::{collections::BTreeSet, path::Path, process::Command};

use tests::*;

/// Definitions whose name differs from their x86_64 table entry.
const DEFINITION_TO_TABLE: [(&str, &str); 6] = [
    ("newfstat", "fstat"),
    ("newlstat", "lstat"),
    ("newstat", "stat"),
    ("newuname", "uname"),
    ("sendfile64", "sendfile"),
    ("umount", "umount2"),
];

#[test]
fn the_table_names_every_syscall_of_this_kernel() {
    require_root();
    let events = Path::new("/sys/kernel/tracing/events/syscalls");
    if !events.exists() {
        let output =
            run(Command::new("mount").args(["-t", "tracefs", "nodev", "/sys/kernel/tracing"]));
        assert!(
            output.status.success(),
            "mounting tracefs: {}",
            describe(&output)
        );
    }
    let kernel: BTreeSet<String> = std::fs::read_dir(events)
        .expect("syscall trace events (CONFIG_FTRACE_SYSCALLS)")
        .filter_map(|entry| {
            entry
                .ok()?
                .file_name()
                .to_str()?
                .strip_prefix("sys_enter_")
                .map(str::to_owned)
        })
        .map(|name| {
            DEFINITION_TO_TABLE
                .iter()
                .find(|(definition, _)| *definition == name)
                .map_or(name, |(_, table)| (*table).to_owned())
        })
        .collect();
    assert!(kernel.len() > 300, "only {} syscall events", kernel.len());

    let report = run(Command::new(profile_bin()).args(["syscalls", "--abi", "x86_64"]));
    assert!(report.status.success(), "{}", describe(&report));
    let table: BTreeSet<String> = String::from_utf8_lossy(&report.stdout)
        .lines()
        .filter_map(|line| line.split_whitespace().nth(1).map(str::to_owned))
        .collect();
    let missing: Vec<_> = kernel.difference(&table).collect();
    assert!(
        missing.is_empty(),
        "the kernel has syscalls our table does not name: {missing:?}"
    );
}

/// The arm64 machine's tables (aarch64 and arm, the `syscalls` crate's with our corrections)
/// name what libseccomp names: every number libseccomp (2.5.4 here) resolves has that name in
/// ours, and every name of ours that libseccomp knows has our number. Only the calls newer than
/// that libseccomp are ours alone.
#[test]
fn the_arm64_tables_agree_with_libseccomp() {
    let code = r#"
import seccomp, sys
arch = getattr(seccomp.Arch, sys.argv[1])
ours = dict(line.split()[::-1] for line in sys.stdin.read().splitlines())
numbers = list(range(1024)) + list(range(0x0f0000, 0x0f0008))
for nr in numbers:
    try:
        name = seccomp.resolve_syscall(arch, nr).decode()
    except ValueError:
        continue
    if ours.get(name) != str(nr):
        print("libseccomp names %d %s, ours %s" % (nr, name, ours.get(name)))
for name, nr in ours.items():
    theirs = seccomp.resolve_syscall(arch, name)
    if theirs >= 0 and theirs != int(nr):
        print("%s: ours %s, libseccomp %d" % (name, nr, theirs))
"#;
    for (abi, arch) in [("aarch64", "AARCH64"), ("arm", "ARM")] {
        let table = run(Command::new(profile_bin()).args(["syscalls", "--abi", abi]));
        assert!(table.status.success(), "{}", describe(&table));
        let mut python = Command::new("/usr/bin/python3")
            .args(["-c", code, arch])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write as _;
        python
            .stdin
            .take()
            .unwrap()
            .write_all(&table.stdout)
            .unwrap();
        let output = python.wait_with_output().unwrap();
        assert!(output.status.success(), "{}", describe(&output));
        assert_eq!(stdout(&output), "", "{abi}");
    }
}
