//! `profile run --profile P -- CMD` on the real kernel (root).
use std::{os::unix::process::ExitStatusExt as _, path::Path, process::Command};

use tests::*;

fn run_under(profile: &Path, command: &[&str]) -> std::process::Output {
    require_root();
    run(Command::new(profile_bin())
        .arg("run")
        .arg("--profile")
        .arg(profile)
        .arg("--")
        .args(command))
}

fn write_profile(name: &str, profile: &serde_json::Value) -> std::path::PathBuf {
    let path = scratch(name).join("profile.json");
    std::fs::write(&path, profile.to_string()).unwrap();
    path
}

#[test]
fn dockers_default_profile_runs_ls() {
    let output = run_under(&reference("moby-default.json"), &["/bin/ls", "/"]);
    assert!(output.status.success(), "{}", describe(&output));
    assert!(
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .any(|l| l == "usr"),
        "{}",
        describe(&output)
    );
}

#[test]
fn a_recorded_profile_runs_its_command_and_not_without_what_it_needs() {
    let (_, mut profile) = record("run-ls", &[], &["/bin/ls", "/"]);
    let ok = run_under(&write_profile("run-ls-ok", &profile), &["/bin/ls", "/"]);
    assert!(ok.status.success(), "{}", describe(&ok));

    profile["syscalls"][0]["names"]
        .as_array_mut()
        .unwrap()
        .retain(|n| n != "getdents64");
    let denied = run_under(&write_profile("run-ls-denied", &profile), &["/bin/ls", "/"]);
    assert_eq!(denied.status.code(), Some(2), "{}", describe(&denied));
    assert!(
        String::from_utf8_lossy(&denied.stderr).contains("Operation not permitted"),
        "{}",
        describe(&denied)
    );

    // The profile's errno, not EPERM.
    profile["defaultErrnoRet"] = 13.into();
    let eacces = run_under(&write_profile("run-ls-eacces", &profile), &["/bin/ls", "/"]);
    assert!(
        String::from_utf8_lossy(&eacces.stderr).contains("Permission denied"),
        "{}",
        describe(&eacces)
    );
}

#[test]
fn exit_status_and_kill_action() {
    let exe = exerciser().display().to_string();
    let (_, profile) = record("run-exit", &[], &[&exe, "exit", "7"]);
    let path = write_profile("run-exit", &profile);
    assert_eq!(
        run_under(&path, &[&exe, "exit", "7"]).status.code(),
        Some(7)
    );

    // Under KILL_PROCESS a syscall the profile lacks ends the process with SIGSYS: the command
    // replaced `profile run`, so its death by signal is the status we see.
    let (_, profile) = record(
        "run-kill",
        &["--default-action", "kill"],
        &[&exe, "exit", "0"],
    );
    let output = run_under(&write_profile("run-kill", &profile), &[&exe, "tree"]);
    assert_eq!(
        output.status.signal(),
        Some(libc::SIGSYS),
        "{}",
        describe(&output)
    );
}

/// `profile run` execs the command in its own place, as runc does: no process in between to
/// keep a pid, hold signals or outlive the command.
#[test]
fn the_command_takes_the_place_of_profile_run() {
    require_root();
    let child = Command::new(profile_bin())
        .args(["run", "--profile"])
        .arg(reference("moby-default.json"))
        .args([
            "--",
            "/bin/sh",
            "-c",
            "echo $$; grep ^Seccomp: /proc/self/status",
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{}", describe(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let mut lines = stdout.lines();
    assert_eq!(lines.next(), Some(pid.to_string().as_str()), "{stdout}");
    // The shell's own `grep` child runs under the filter (mode 2).
    assert_eq!(
        lines
            .next()
            .map(str::split_whitespace)
            .and_then(|mut w| w.nth(1)),
        Some("2"),
        "{stdout}"
    );
}

#[test]
fn every_thread_and_child_of_a_recorded_tree_runs_under_its_profile() {
    let exe = exerciser().display().to_string();
    let (_, profile) = record("run-tree", &[], &[&exe, "tree"]);
    let output = run_under(&write_profile("run-tree", &profile), &[&exe, "tree"]);
    assert!(output.status.success(), "{}", describe(&output));
}

#[test]
fn bad_profiles_are_refused_before_anything_runs() {
    let marker = scratch("run-bad").join("ran");
    let touch = ["/bin/sh", "-c", &format!("touch {}", marker.display())];
    let bad = serde_json::json!({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
        {"names": ["read"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_FOO"}]}]});
    let output = run_under(&write_profile("run-bad", &bad), &touch);
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("syscalls[0].args[0].op"),
        "{}",
        describe(&output)
    );

    let notify = serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]});
    let output = run_under(&write_profile("run-notify", &notify), &touch);
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("SCMP_ACT_NOTIFY"),
        "{}",
        describe(&output)
    );
    assert!(!marker.exists(), "the command ran");
}

#[test]
fn the_log_flag_is_accepted() {
    let profile = serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW", "flags": ["SECCOMP_FILTER_FLAG_LOG"],
        "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}]});
    let output = run_under(&write_profile("run-flag", &profile), &["/bin/true"]);
    assert!(output.status.success(), "{}", describe(&output));
}

/// Two argument rules on one syscall, enforced by their meaning in the real kernel, where
/// libseccomp (so runc) lets getppid(5) and getppid(8) through; `profile check` says so.
#[test]
fn argument_rules_are_enforced_by_their_meaning() {
    let exe = exerciser().display().to_string();
    let (_, mut profile) = record("run-meaning", &[], &[&exe, "syscall", "110", "5"]);
    for rule in profile["syscalls"].as_array_mut().unwrap() {
        rule["names"]
            .as_array_mut()
            .unwrap()
            .retain(|n| n != "getppid");
    }
    profile["defaultErrnoRet"] = 1.into();
    profile["syscalls"].as_array_mut().unwrap().extend([
        serde_json::json!({"names": ["getppid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 2,
            "args": [{"index": 0, "value": 5, "op": "SCMP_CMP_LT"}]}),
        serde_json::json!({"names": ["getppid"], "action": "SCMP_ACT_ALLOW",
            "args": [{"index": 0, "value": 0x1_0000_0003u64, "op": "SCMP_CMP_GT"}]}),
    ]);
    let path = write_profile("run-meaning", &profile);
    for (a0, want) in [
        ("4", "errno 2"),
        ("5", "errno 1"),
        ("8", "errno 1"),
        ("0x100000004", "ok"),
    ] {
        let output = run_under(&path, &[&exe, "syscall", "110", a0]);
        assert!(output.status.success(), "{}", describe(&output));
        assert_eq!(stdout(&output).trim(), want, "getppid({a0})");
    }
    let check = run(Command::new(profile_bin()).arg("check").arg(&path));
    assert!(check.status.success(), "{}", describe(&check));
    assert!(
        stderr(&check).contains("runc, crun and podman (libseccomp) allow getppid(a0=0x5) on x86_64, which this profile denies (ERRNO(1))"),
        "{}",
        describe(&check)
    );
}

/// Without execve the command could never start: refused with the reason, before anything
/// runs; and a filter for another architecture cannot be enforced here.
#[test]
fn a_profile_that_cannot_exec_or_is_for_another_machine_is_refused() {
    let marker = scratch("run-noexec").join("ran");
    let touch = ["/bin/sh", "-c", &format!("touch {}", marker.display())];
    let no_exec = serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["execve"], "action": "SCMP_ACT_ERRNO"}]});
    let output = run_under(&write_profile("run-noexec", &no_exec), &touch);
    assert_refused(&output, "does not allow execve");
    let output = run(Command::new(profile_bin())
        .args(["run", "--arch", "aarch64", "--profile"])
        .arg(reference("moby-default.json"))
        .arg("--")
        .args(touch));
    assert_refused(&output, "not on aarch64");
    assert!(!marker.exists(), "the command ran");
}
