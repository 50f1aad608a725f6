//! `profile record --args` (root, real kernel): the learned argument rules let the recorded
//! program run and refuse the values it did not use, under our filter (`profile run`) and under
//! libseccomp's (what runc and crun build).
use std::{path::Path, process::Command};

use serde_json::Value;
use tests::*;

/// The probe's output line for `what` (e.g. `socket(AF_INET): errno 1`).
fn outcome(output: &std::process::Output, what: &str) -> String {
    let text = stdout(output);
    text.lines()
        .find_map(|line| line.strip_prefix(&format!("{what}: ")))
        .unwrap_or_else(|| panic!("no {what} line: {}", describe(output)))
        .to_owned()
}

/// Runs `command` under `profile` with our filter and with libseccomp's; both outputs.
fn under(profile: &Value, name: &str, command: &[&str]) -> [std::process::Output; 2] {
    let path = write(&scratch(name), "profile.json", &profile.to_string());
    let ours = run(Command::new(profile_bin())
        .arg("run")
        .arg("--profile")
        .arg(&path)
        .arg("--")
        .args(command));
    let theirs = run(libseccomp_exec(&path).arg("--").args(command));
    for output in [&ours, &theirs] {
        assert!(output.status.success(), "{command:?}: {}", describe(output));
    }
    [ours, theirs]
}

/// The argument conditions of the allow rules naming `name`, one list per rule.
fn arg_rules(profile: &Value, name: &str) -> Vec<Value> {
    profile["syscalls"]
        .as_array()
        .expect("syscalls")
        .iter()
        .filter(|rule| {
            rule["action"] == "SCMP_ACT_ALLOW"
                && rule["names"]
                    .as_array()
                    .expect("names")
                    .iter()
                    .any(|n| n == name)
        })
        .map(|rule| rule["args"].clone())
        .collect()
}

fn exe() -> String {
    exerciser().display().to_string()
}

#[test]
fn a_unix_socket_program_gets_only_unix_sockets() {
    let exe = exe();
    let (output, profile) = record("args-unix", &["--args"], &[&exe, "unix-socket"]);
    assert!(output.status.success(), "{}", describe(&output));
    assert_eq!(
        arg_rules(&profile, "socket"),
        [serde_json::json!([
            {"index": 0, "value": libc::AF_UNIX, "op": "SCMP_CMP_EQ"},
            {"index": 1, "value": 15, "valueTwo": libc::SOCK_STREAM, "op": "SCMP_CMP_MASKED_EQ"}
        ])],
        "{profile:#}"
    );
    // Not recorded with --args: socket is allowed whatever the family.
    let (_, plain) = record("args-unix-plain", &[], &[&exe, "unix-socket"]);
    for output in under(&plain, "args-unix-plain-run", &[&exe, "inet-socket"]) {
        assert_eq!(outcome(&output, "socket(AF_INET)"), "ok");
    }

    for output in under(&profile, "args-unix-run", &[&exe, "unix-socket"]) {
        assert_eq!(outcome(&output, "socket(AF_UNIX)"), "ok");
    }
    for output in under(&profile, "args-inet-run", &[&exe, "inet-socket"]) {
        assert_eq!(
            outcome(&output, "socket(AF_INET)"),
            format!("errno {}", libc::EPERM)
        );
        // SOCK_CLOEXEC is not part of the learned type.
        assert_eq!(outcome(&output, "socket(AF_UNIX)"), "ok");
    }
}

#[test]
fn a_program_without_namespaces_cannot_create_them() {
    let exe = exe();
    // Root may create namespaces: without a profile each call succeeds.
    for mode in ["clone-newnet", "unshare-user"] {
        let output = run(Command::new(&exe).arg(mode));
        assert!(!stdout(&output).contains("errno"), "{}", describe(&output));
    }
    let (output, profile) = record("args-clone", &["--args"], &[&exe, "clone-plain"]);
    assert!(output.status.success(), "{}", describe(&output));
    assert_eq!(
        arg_rules(&profile, "clone"),
        [serde_json::json!([{"index": 0, "value": 0x7E02_0000, "op": "SCMP_CMP_MASKED_EQ"}])],
        "{profile:#}"
    );
    assert_eq!(
        arg_rules(&profile, "unshare"),
        [serde_json::json!([{"index": 0, "value": 0x7E02_0080u32, "op": "SCMP_CMP_MASKED_EQ"}])],
        "{profile:#}"
    );
    assert!(
        profile["syscalls"]
            .as_array()
            .unwrap()
            .iter()
            .any(|rule| rule["names"] == serde_json::json!(["clone3"])
                && rule["action"] == "SCMP_ACT_ERRNO"
                && rule["errnoRet"] == 38),
        "{profile:#}"
    );
    let eperm = format!("errno {}", libc::EPERM);
    for output in under(&profile, "args-clone-plain", &[&exe, "clone-plain"]) {
        assert_eq!(outcome(&output, "clone"), "ok");
        assert_eq!(outcome(&output, "unshare(CLONE_FILES)"), "ok");
    }
    for output in under(&profile, "args-clone-newnet", &[&exe, "clone-newnet"]) {
        assert_eq!(outcome(&output, "clone(CLONE_NEWNET)"), eperm);
        assert_eq!(outcome(&output, "clone"), "ok");
    }
    for output in under(&profile, "args-unshare-user", &[&exe, "unshare-user"]) {
        assert_eq!(outcome(&output, "unshare(CLONE_NEWUSER)"), eperm);
    }
}

#[test]
fn glibc_threads_fall_back_from_clone3_to_the_learned_clone() {
    // The exerciser's `tree` mode starts a thread (glibc: clone3) and forks (clone).
    let exe = exe();
    let (output, profile) = record("args-tree", &["--args"], &[&exe, "tree"]);
    assert!(output.status.success(), "{}", describe(&output));
    // glibc called clone3 while recording: its flags were learned as clone's.
    let counts = read_json(&scratch_path("args-tree").join("profile.json.counts"));
    assert!(
        counts["counts"]["SCMP_ARCH_X86_64"]["clone3"].as_u64() > Some(0),
        "{counts:#}"
    );
    assert!(!allowed(&profile).contains("clone3"), "{profile:#}");
    assert_eq!(
        arg_rules(&profile, "clone"),
        [serde_json::json!([{"index": 0, "value": 0x7E02_0000, "op": "SCMP_CMP_MASKED_EQ"}])],
        "{profile:#}"
    );
    for output in under(&profile, "args-tree-run", &[&exe, "tree"]) {
        assert!(output.status.success(), "{}", describe(&output));
    }
}

#[test]
fn report_shows_the_restrictions() {
    let exe = exe();
    let dir = scratch("args-report");
    let output = run(Command::new(profile_bin())
        .args(["record", "--args", "--format", "report", "--"])
        .args([&exe, "unix-socket"]));
    assert!(output.status.success(), "{}", describe(&output));
    let text = stdout(&output);
    assert!(
        text.contains("argument restrictions (--args; clone3 is refused with ENOSYS):\n")
            && text.contains("  socket    only if arg0 == 1 && arg1 & 0xf == 0x1\n"),
        "{text}"
    );
    let path = dir.join("app.json");
    let output = run(Command::new(profile_bin())
        .args(["record", "--args", "-o"])
        .arg(&path)
        .arg("--")
        .args([&exe, "unix-socket"]));
    assert!(output.status.success(), "{}", describe(&output));
    let report = run(Command::new(profile_bin()).arg("report").arg(&path));
    let text = stdout(&report);
    let socket = text
        .lines()
        .find(|line| line.starts_with("socket "))
        .unwrap_or_else(|| panic!("{text}"));
    // Restricted to one family, socket is no longer medium risk.
    assert!(
        socket.ends_with("low   only if arg0 == 1 && arg1 & 0xf == 0x1"),
        "{socket}"
    );
    assert!(Path::new(&format!("{}.counts", path.display())).is_file());
}
