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
