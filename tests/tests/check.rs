//! `profile check` and `profile export` on real and broken profiles (no root needed).
use std::{
    path::Path,
    process::{Command, Output},
};

use tests::*;

/// The x86_64 target moby resolves for on this kind of machine, fixed so results do not
/// depend on the running kernel.
const X86_64: [&str; 4] = ["--arch", "x86_64", "--kernel", "6.18"];

fn profile(args: &[&str], files: &[&Path]) -> Output {
    run(Command::new(profile_bin()).args(args).args(files))
}

#[test]
fn moby_default_is_valid_and_summarised() {
    let mut args = vec!["check"];
    args.extend(X86_64);
    let output = profile(&args, &[&reference("moby-default.json")]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let out = stdout(&output);
    assert_eq!(out.lines().count(), 1, "{out}");
    for part in [
        "valid docker profile",
        "archMap for 9 architectures",
        "33 rules",
        "for x86_64 (kernel 6.18, 14 capabilities): x86_64, i386, x32",
    ] {
        assert!(out.contains(part), "{part:?} missing from {out}");
    }
    assert!(stderr(&output).is_empty(), "{}", describe(&output));
}

#[test]
fn podmans_default_is_valid() {
    if !Path::new(PODMAN).exists() {
        eprintln!("{PODMAN} missing: skipped");
        return;
    }
    let output = profile(&["check"], &[Path::new(PODMAN)]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    assert!(
        stdout(&output).contains("valid containers profile, default SCMP_ACT_ERRNO(38)"),
        "{}",
        describe(&output)
    );
}

#[test]
fn syntax_errors_name_line_and_column() {
    let dir = scratch("check-syntax");
    let file = write(
        &dir,
        "bad.json",
        "{\n  \"defaultAction\": \"SCMP_ACT_ERRNO\",\n  \"syscalls\": [,]\n}\n",
    );
    let output = profile(&["check"], &[&file]);
    assert_refused(&output, "bad.json:3:16: expected value");
    assert!(stdout(&output).is_empty());
}

#[test]
fn schema_errors_name_the_json_path() {
    let dir = scratch("check-schema");
    let file = write(
        &dir,
        "app.json",
        r#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
            {"names": ["read"], "action": "SCMP_ACT_ALLOW"},
            {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
             "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_FOO"}]}]}"#,
    );
    let output = profile(&["check"], &[&file]);
    assert_refused(
        &output,
        "app.json: syscalls[1].args[0].op: unknown operator \"SCMP_CMP_FOO\"",
    );
}

#[test]
fn unknown_names_fail_unless_allowed() {
    let dir = scratch("check-unknown");
    let file = write(
        &dir,
        "typo.json",
        r#"{"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
            "syscalls": [{"names": ["read", "opeant", "socketcall", "frob"], "action": "SCMP_ACT_ALLOW"}]}"#,
    );
    let output = profile(&["check"], &[&file]);
    // socketcall is i386's: known, as libseccomp adds it for SCMP_ARCH_X86.
    assert_refused(
        &output,
        "unknown syscall names: frob, opeant (not in the x86_64 or i386 tables)",
    );

    let output = profile(&["check", "--allow-unknown"], &[&file]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    assert!(stderr(&output).contains("dropped (--allow-unknown)"));

    let output = profile(&["export", "--allow-unknown"], &[&file]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        json["syscalls"][0]["names"],
        serde_json::json!(["read", "socketcall"])
    );
}

#[test]
fn deprecated_name_warns_with_the_rule() {
    let dir = scratch("check-name");
    let file = write(
        &dir,
        "old.json",
        r#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
            {"names": ["read"], "action": "SCMP_ACT_ALLOW"},
            {"name": "getcwd", "action": "SCMP_ACT_ALLOW"}]}"#,
    );
    let output = profile(&["check"], &[&file]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    assert!(
        stderr(&output).contains("old.json: syscalls[1]: \"name\": \"getcwd\" is deprecated"),
        "{}",
        describe(&output)
    );
}

#[test]
fn missing_file_is_exit_2() {
    let output = profile(&["check"], &[Path::new("/nonexistent/p.json")]);
    assert_refused(&output, "/nonexistent/p.json");
}

#[test]
fn export_oci_resolves_moby_for_the_target_deterministically() {
    let dir = scratch("export-oci");
    let first = dir.join("first.json");
    let again = dir.join("again.json");
    let mut args = vec!["export", "-o", first.to_str().unwrap()];
    args.extend(X86_64);
    let output = profile(&args, &[&reference("moby-default.json")]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let text = std::fs::read_to_string(&first).unwrap();
    for docker_only in ["archMap", "includes", "excludes", "comment", "minKernel"] {
        assert!(
            !text.contains(docker_only),
            "{docker_only} left in:\n{text}"
        );
    }
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        architectures(&json),
        ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]
    );
    let names = allowed(&json);
    assert!(names.contains("arch_prctl") && names.contains("chroot"));
    assert!(
        !names.contains("mount"),
        "CAP_SYS_ADMIN is not a default cap"
    );

    // Exporting the export changes nothing, to the byte; so does exporting twice.
    let mut args = vec!["export", "-o", again.to_str().unwrap()];
    args.extend(X86_64);
    let output = profile(&args, &[&first]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    assert_eq!(std::fs::read(&again).unwrap(), text.as_bytes());

    let output = profile(&["check"], &[&first]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    assert!(
        stdout(&output).contains("valid oci profile"),
        "{}",
        describe(&output)
    );

    // Capabilities change what applies.
    let mut args = vec!["export", "--cap", "default,sys_admin"];
    args.extend(X86_64);
    let output = profile(&args, &[&reference("moby-default.json")]);
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert!(allowed(&json).contains("mount"));
}

#[test]
fn export_docker_round_trips() {
    let dir = scratch("export-docker");
    let mut inputs = vec![reference("moby-default.json")];
    if Path::new(PODMAN).exists() {
        inputs.push(PODMAN.into());
    }
    for input in inputs {
        let first = dir.join("first.json");
        let again = dir.join("again.json");
        let output = profile(
            &[
                "export",
                "--format",
                "docker",
                "-o",
                first.to_str().unwrap(),
            ],
            &[&input],
        );
        assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
        let output = profile(
            &[
                "export",
                "--format",
                "docker",
                "-o",
                again.to_str().unwrap(),
            ],
            &[&first],
        );
        assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
        let text = std::fs::read_to_string(&first).unwrap();
        assert_eq!(std::fs::read_to_string(&again).unwrap(), text, "{input:?}");
        assert!(text.contains("archMap") && text.contains("includes"));
    }
}

#[test]
fn failed_export_leaves_the_output_alone() {
    let dir = scratch("export-fail");
    let out = write(&dir, "out.json", "previous\n");
    let bad = write(&dir, "bad.json", "{\"defaultAction\": 1}");
    let output = profile(&["export", "-o", out.to_str().unwrap()], &[&bad]);
    assert_refused(&output, "bad.json: defaultAction: invalid type");
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "previous\n");
}

/// `--runtime` says whether the calls a profile denies reach the audit stream there: runc 1.1
/// refuses any flags (an error), crun logs ERRNO denials only with SECCOMP_FILTER_FLAG_LOG (a
/// warning without it), `profile run` always does.
#[test]
fn check_and_report_say_which_runtime_logs_denials() {
    let dir = scratch("check-runtime");
    let bare = dir.join("bare.json");
    std::fs::write(
        &bare,
        r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW"}]}"#,
    )
    .unwrap();
    let flagged = dir.join("flagged.json");
    std::fs::write(
        &flagged,
        r#"{"defaultAction":"SCMP_ACT_ERRNO","flags":["SECCOMP_FILTER_FLAG_LOG"],"syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW"}]}"#,
    )
    .unwrap();
    let check = |runtime: &str, file: &Path| {
        let mut args = vec!["check", "--runtime", runtime];
        args.extend(X86_64);
        profile(&args, &[file])
    };
    let output = check("runc", &flagged);
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    assert!(
        stderr(&output).contains("refuses the profile"),
        "{}",
        describe(&output)
    );
    let output = check("crun", &bare);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    assert!(
        stderr(&output).contains("SCMP_ACT_ERRNO denials are not logged"),
        "{}",
        describe(&output)
    );
    for (runtime, file) in [("crun", &flagged), ("runc-1.2", &flagged), ("run", &bare)] {
        let output = check(runtime, file);
        assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
        assert!(
            !stderr(&output).contains("not logged"),
            "{runtime}: {}",
            describe(&output)
        );
    }
    // Without --runtime, a profile with flags is still flagged for runc 1.1.
    let mut args = vec!["check"];
    args.extend(X86_64);
    let output = profile(&args, &[&flagged]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    assert!(
        stderr(&output).contains("runc 1.1"),
        "{}",
        describe(&output)
    );
    let output = check("docker", &bare);
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    assert!(
        stderr(&output).contains("unknown runtime \"docker\""),
        "{}",
        describe(&output)
    );

    // The report has one line per runtime, or the asked one's only.
    let output = profile(&["report", "--no-counts", "--json"], &[&bare]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let report: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    let logged: Vec<(&str, &str)> = report["denials"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["runtime"].as_str().unwrap(),
                d["logged"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        logged,
        [
            ("run", "logged"),
            ("runc", "not logged"),
            ("runc-1.2", "not logged"),
            ("crun", "not logged")
        ]
    );
    let output = profile(&["report", "--no-counts", "--runtime", "runc"], &[&flagged]);
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    let output = profile(&["report", "--no-counts", "--runtime", "crun"], &[&flagged]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let text = stdout(&output);
    assert!(text.contains("  crun  every denial logged\n"), "{text}");
    assert!(!text.contains("runc 1.1"), "{text}");
}
