//! `profile record -- CMD` against the real kernel (root).
use std::{
    collections::BTreeSet,
    io::{BufRead, BufReader},
    process::{Command, Stdio},
};

use tests::*;

fn exe() -> String {
    exerciser().display().to_string()
}

#[test]
fn every_thread_child_and_grandchild_is_recorded() {
    let (output, profile) = record("tree", &[], &[&exe(), "tree"]);
    assert!(output.status.success(), "{}", describe(&output));
    let names = allowed(&profile);
    for name in [
        "sysinfo",
        "getcpu",
        "times",
        "getpgrp",
        "execve",
        "clone3",
        "wait4",
        "exit_group",
    ] {
        assert!(names.contains(name), "{name} missing from {names:?}");
    }
    // clone3 was seen, so no ENOSYS fallback rule is added.
    assert_eq!(
        profile["syscalls"].as_array().unwrap().len(),
        1,
        "{profile:#}"
    );
    assert_eq!(architectures(&profile), ["SCMP_ARCH_X86_64"]);
    assert_eq!(profile["defaultAction"], "SCMP_ACT_ERRNO");
    assert_eq!(profile["defaultErrnoRet"], 1);

    // The counts travel beside the profile, for `profile report`.
    let counts_file = scratch_path("tree").join("profile.json.counts");
    let counts: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&counts_file).unwrap()).unwrap();
    assert_eq!(counts["format"], "profile-counts/1");
    assert_eq!(
        counts["counts"]["SCMP_ARCH_X86_64"]["sysinfo"], 1,
        "{counts:#}"
    );

    // The same program on a path that makes none of them: the set really comes from the calls.
    let (_, quiet) = record("tree-baseline", &[], &[&exe(), "exit", "0"]);
    let quiet = allowed(&quiet);
    for name in ["sysinfo", "getcpu", "times", "getpgrp"] {
        assert!(
            !quiet.contains(name),
            "{name} recorded though never called: {quiet:?}"
        );
    }
}

#[test]
fn recorded_set_equals_strace() {
    let exe = exe();
    let commands: [&[&str]; 4] = [
        &["/bin/ls", "/"],
        &["/bin/sh", "-c", "echo hi | cat"],
        &["/bin/date"],
        &[&exe, "tree"],
    ];
    for (i, command) in commands.into_iter().enumerate() {
        // Exactly what was seen: the implied calls are tested in implied.rs.
        let (output, profile) = record(&format!("strace-{i}"), &["--no-implied"], command);
        assert!(
            output.status.success(),
            "{command:?}: {}",
            describe(&output)
        );
        let ours = allowed(&profile);
        let theirs = strace_names(&format!("strace-{i}"), command);
        let only_ours: BTreeSet<_> = ours.difference(&theirs).collect();
        let only_strace: BTreeSet<_> = theirs.difference(&ours).collect();
        assert!(
            only_ours.is_empty() && only_strace.is_empty(),
            "{command:?}: only recorded: {only_ours:?}; only strace: {only_strace:?}"
        );
    }
}

#[test]
fn int80_calls_are_recorded_under_the_i386_table() {
    let (output, profile) = record("int80", &[], &[&exe(), "int80", "1000"]);
    assert!(output.status.success(), "{}", describe(&output));
    assert_eq!(
        architectures(&profile),
        ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"]
    );
    let names = allowed(&profile);
    assert!(names.contains("getppid"), "{names:?}");
    // 64 is semget in the x86_64 table: decoding i386 numbers with it is the bug to avoid.
    assert!(!names.contains("semget"), "{names:?}");

    let report = run(Command::new(profile_bin())
        .args(["record", "--format", "report", "--"])
        .args([&exe(), "int80", "1000"]));
    let text = String::from_utf8_lossy(&report.stdout);
    let row = text
        .lines()
        .find(|line| line.starts_with("i386"))
        .unwrap_or_else(|| panic!("no i386 row:\n{text}"));
    let fields: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(fields, ["i386", "getppid", "64", "1000"], "{text}");
}

/// The programs cache each CPU's last decision by the task's kernel stack address, which an
/// exited task's successor may get. With unwatched processes exiting and starting beside a
/// watched tree that does the same (2000 children, each calling `times` once), every call of
/// the tree is counted exactly once and none of the others'. (The precise interleaving that
/// reuses a stack within one CPU's cache window cannot be forced from a test; this is the
/// traffic in which it happens.)
#[test]
fn exact_counts_while_other_processes_come_and_go() {
    require_root();
    let churn: Vec<_> = (0..2)
        .map(|_| {
            Command::new(exe())
                .args(["children", "100000000"])
                .spawn()
                .unwrap()
        })
        .collect();
    let report = run(Command::new(profile_bin())
        .args(["record", "--format", "report", "--"])
        .args([&exe(), "children", "2000"]));
    for mut child in churn {
        child.kill().unwrap();
        child.wait().unwrap();
    }
    assert!(report.status.success(), "{}", describe(&report));
    let text = String::from_utf8_lossy(&report.stdout);
    let row = text
        .lines()
        .map(|line| line.split_whitespace().collect::<Vec<_>>())
        .find(|fields| fields.get(1) == Some(&"times"))
        .unwrap_or_else(|| panic!("no times row:\n{text}"));
    assert_eq!(row, ["x86_64", "times", "100", "2000"], "{text}");
}

#[test]
fn exit_status_is_passed_through() {
    let status = |args: &[&str]| {
        require_root();
        let out = scratch("status").join("p.json");
        let output = run(Command::new(profile_bin())
            .arg("record")
            .arg("-o")
            .arg(&out)
            .arg("--")
            .args(args));
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    assert_eq!(status(&[&exe(), "exit", "7"]).0, Some(7));
    assert_eq!(status(&[&exe(), "signal", "9"]).0, Some(128 + 9));
    let (code, stderr) = status(&["no-such-command-xyz"]);
    assert_eq!(code, Some(127));
    assert_eq!(
        stderr.trim(),
        "profile: error: no-such-command-xyz: command not found"
    );
    assert_eq!(status(&["/etc/passwd"]).0, Some(126));
}

#[test]
fn usage_errors() {
    for args in [&["record"][..], &["record", "true"], &["record", "--"]] {
        let output = run(Command::new(profile_bin()).args(args));
        assert_eq!(
            output.status.code(),
            Some(2),
            "{args:?}: {}",
            describe(&output)
        );
    }
    let output = run(Command::new(profile_bin()).args(["record", "--errno", "0", "--", "true"]));
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
}

#[test]
fn without_privileges_one_clear_line() {
    require_root();
    let output = run(Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=-all",
        ])
        .arg(profile_bin())
        .args(["record", "--", "/bin/true"]));
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        "profile: error: recording needs root, or CAP_BPF (the eBPF programs cannot be loaded without it)\n"
    );
}

#[test]
fn descendants_that_outlive_the_command_are_recorded() {
    let (output, profile) = record("orphan", &[], &[&exe(), "orphan"]);
    assert!(output.status.success(), "{}", describe(&output));
    assert!(allowed(&profile).contains("getsid"), "{profile:#}");

    // With a short --linger the orphan's late call is not waited for.
    let (output, profile) = record("orphan-linger", &["--linger", "10ms"], &[&exe(), "orphan"]);
    assert!(output.status.success(), "{}", describe(&output));
    assert!(!allowed(&profile).contains("getsid"), "{profile:#}");
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("still running"),
        "{}",
        describe(&output)
    );
}

#[test]
fn sigterm_to_profile_reaches_the_command() {
    require_root();
    let out = scratch("sigterm").join("p.json");
    let mut child = Command::new(profile_bin())
        .arg("record")
        .arg("-o")
        .arg(&out)
        .args(["--", &exe(), "wait-term"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn profile");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line, "ready\n");
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(42), "the command's own exit on SIGTERM");
    let profile: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert!(allowed(&profile).contains("rt_sigtimedwait"), "{profile:#}");
}

#[test]
fn unknown_numbers_are_reported_not_dropped() {
    let (output, profile) = record("unknown", &[], &[&exe(), "unknown"]);
    assert!(output.status.success(), "{}", describe(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("x86_64 syscall number 999 (called 1 times) has no name"),
        "{}",
        describe(&output)
    );
    assert!(!allowed(&profile).is_empty());
    let report = run(Command::new(profile_bin()).args([
        "record",
        "--format",
        "report",
        "--",
        &exe(),
        "unknown",
    ]));
    let text = String::from_utf8_lossy(&report.stdout);
    assert!(
        text.lines().any(
            |l| l.split_whitespace().collect::<Vec<_>>() == ["x86_64", "(unknown)", "999", "1"]
        ),
        "{text}"
    );
}

#[test]
fn libseccomp_runs_the_command_under_its_profile() {
    let command = ["/bin/ls", "/"];
    let (output, profile) = record("libseccomp", &[], &command);
    assert!(output.status.success(), "{}", describe(&output));
    let path = scratch("libseccomp-profile").join("p.json");
    std::fs::write(&path, profile.to_string()).unwrap();
    let under = |drop: &[&str]| {
        let mut cmd = libseccomp_exec(&path);
        for name in drop {
            cmd.args(["--drop", name]);
        }
        run(cmd.arg("--").args(command))
    };
    let ok = under(&[]);
    assert!(ok.status.success(), "{}", describe(&ok));
    assert_eq!(ok.stdout, output.stdout, "same listing under the profile");
    assert!(String::from_utf8_lossy(&ok.stdout).contains("usr"));

    let denied = under(&["getdents64"]);
    assert!(
        !denied.status.success(),
        "ls ran without getdents64: {}",
        describe(&denied)
    );
    assert!(
        String::from_utf8_lossy(&denied.stderr).contains("Operation not permitted"),
        "{}",
        describe(&denied)
    );
}

#[test]
fn default_action_and_errno_options() {
    let (_, profile) = record("kill", &["--default-action", "kill"], &["/bin/true"]);
    assert_eq!(profile["defaultAction"], "SCMP_ACT_KILL_PROCESS");
    assert!(profile.get("defaultErrnoRet").is_none());
    let (_, profile) = record("log", &["--default-action", "log"], &["/bin/true"]);
    assert_eq!(profile["defaultAction"], "SCMP_ACT_LOG");
    let (_, staged) = record("stage", &["--stage", "log"], &["/bin/true"]);
    assert_eq!(staged["defaultAction"], "SCMP_ACT_LOG");
    assert!(staged.get("defaultErrnoRet").is_none());
    let (_, profile) = record("errno", &["--errno", "38"], &["/bin/true"]);
    assert_eq!(profile["defaultErrnoRet"], 38);
    // /bin/true does not use clone3: glibc must be able to fall back to clone.
    let fallback = &profile["syscalls"][1];
    assert_eq!(fallback["names"][0], "clone3");
    assert_eq!(fallback["errnoRet"], 38);
}

#[test]
fn unwritable_output_is_a_clear_error() {
    require_root();
    let output = run(Command::new(profile_bin()).args([
        "record",
        "-o",
        "/nonexistent-dir/p.json",
        "--",
        "/bin/true",
    ]));
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("/nonexistent-dir/p.json"),
        "{}",
        describe(&output)
    );
}

#[test]
fn long_recordings_show_progress_on_a_terminal_only() {
    require_root();
    let out = scratch("progress").join("p.json");
    let command = format!(
        "{} record -o {} -- sleep 3",
        profile_bin().display(),
        out.display()
    );
    // `script` gives the recorder a terminal.
    let on_tty = run(Command::new("script").args(["-qc", &command, "/dev/null"]));
    let text = String::from_utf8_lossy(&on_tty.stdout);
    assert!(
        text.contains("distinct syscalls, 1 process followed"),
        "{}",
        describe(&on_tty)
    );
    let piped = run(Command::new(profile_bin())
        .arg("record")
        .arg("-o")
        .arg(&out)
        .args(["--", "sleep", "3"]));
    assert!(
        !String::from_utf8_lossy(&piped.stderr).contains("distinct syscalls"),
        "{}",
        describe(&piped)
    );
}

/// The programs' own log lines exist only at -vv (without it the verifier drops that code).
#[test]
fn kernel_log_lines_at_vv_only() {
    require_root();
    let record = |verbosity: &[&str]| {
        let output = run(Command::new(profile_bin())
            .arg("record")
            .args(verbosity)
            .args(["-o", "/dev/null", "--", "/bin/sh", "-c", "/bin/sh -c true"]));
        assert!(output.status.success(), "{}", describe(&output));
        String::from_utf8_lossy(&output.stderr).into_owned()
    };
    let loud = record(&["-vv"]);
    assert!(
        loud.contains("debug: watching") && loud.contains("debug: process"),
        "{loud}"
    );
    let quiet = record(&[]);
    assert!(!quiet.contains("watching"), "{quiet}");
}

/// The build for kernels without `bpf_get_current_task_btf` and atomic OR (5.10), forced on this
/// kernel, records exactly what the current one does, and the log says which was loaded.
#[test]
fn the_5_10_build_records_what_the_current_one_does() {
    for (name, command) in [
        ("tree", vec![exe(), "tree".to_owned()]),
        ("int80", vec![exe(), "int80".to_owned(), "10".to_owned()]),
    ] {
        let command: Vec<&str> = command.iter().map(String::as_str).collect();
        let (output, current) = record(&format!("current-{name}"), &["-v"], &command);
        assert!(output.status.success(), "{}", describe(&output));
        // On a kernel that lacks what the current build uses, both recordings are the 5.10
        // build's: the test says so and compares them all the same.
        let log = stderr(&output);
        match log.lines().find(|line| line.contains("the kernel lacks")) {
            Some(line) => eprintln!("{name}: {line}"),
            None => assert!(
                !log.contains("built for Linux 5.10"),
                "{}",
                describe(&output)
            ),
        }
        require_root();
        let out = scratch(&format!("510-{name}")).join("profile.json");
        let output = run(Command::new(profile_bin())
            .env("PROFILE_BPF_VARIANT", "5.10")
            .args(["-v", "record", "-o"])
            .arg(&out)
            .arg("--")
            .args(&command));
        assert!(output.status.success(), "{}", describe(&output));
        assert!(
            stderr(&output).contains("loading the programs built for Linux 5.10"),
            "{}",
            describe(&output)
        );
        let old: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
        assert_eq!(old, current, "{name}");
    }
}

/// Without kernel BTF the tool says so in one line and exits 2 (BTF hidden in a mount
/// namespace of its own).
#[test]
fn without_kernel_btf_one_line_says_so() {
    require_root();
    let script = format!(
        "mount -t tmpfs none /sys/kernel/btf && exec {} record -- {} exit 0",
        profile_bin().display(),
        exe()
    );
    let output = run(Command::new("unshare").args([
        "--mount",
        "--propagation",
        "private",
        "sh",
        "-c",
        &script,
    ]));
    assert_refused(
        &output,
        "the kernel has no BTF (/sys/kernel/btf/vmlinux is missing)",
    );
    assert_eq!(
        stderr(&output).trim().lines().count(),
        1,
        "{}",
        describe(&output)
    );
    assert!(stderr(&output).contains("CONFIG_DEBUG_INFO_BTF"));
}
