//! `profile merge`, `diff`, `stage` and `promote` run as the built binary (no root needed):
//! exit statuses, messages, order independence and all-or-nothing output files.
use std::{
    path::Path,
    process::{Command, Output},
};

use tests::*;

fn profile(args: &[&str]) -> Output {
    run(Command::new(profile_bin()).args(args))
}

fn s(path: &Path) -> &str {
    path.to_str().unwrap()
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|err| panic!("{}: {err}", path.display()))
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|err| panic!("bad JSON ({err}):\n{text}"))
}

/// Only `keep` in the directory: no temp file left behind.
fn only(dir: &Path, keep: &[&str]) {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let mut keep: Vec<String> = keep.iter().map(|k| k.to_string()).collect();
    keep.sort();
    assert_eq!(names, keep);
}

/// As `profile record` writes them: x86_64, names allowed, clone3 ENOSYS unless seen.
fn recorded(names: &[&str]) -> String {
    let mut rules = vec![serde_json::json!({ "names": names, "action": "SCMP_ACT_ALLOW" })];
    if !names.contains(&"clone3") {
        rules.push(
            serde_json::json!({ "names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38 }),
        );
    }
    serde_json::to_string_pretty(&serde_json::json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": 1,
        "architectures": ["SCMP_ARCH_X86_64"],
        "syscalls": rules,
    }))
    .unwrap()
}

/// The x86_64 target, fixed so results do not depend on the machine.
const X86_64: [&str; 4] = ["--arch", "x86_64", "--kernel", "6.18"];

#[test]
fn merge_is_the_same_in_any_order_and_warns_about_conflicts() {
    let dir = scratch("ops-merge-order");
    let a = write(&dir, "a.json", &recorded(&["read", "write", "exit_group"]));
    let b = write(&dir, "b.json", &recorded(&["read", "clone3", "openat"]));
    // podman's dialect (string errno), with a conflicting rule for write.
    let c = write(
        &dir,
        "c.json",
        r#"{"defaultAction": "SCMP_ACT_ERRNO", "defaultErrno": "EPERM",
            "syscalls": [{"names": ["write"], "action": "SCMP_ACT_ERRNO", "errno": "EACCES"},
                         {"names": ["uname"], "action": "SCMP_ACT_ALLOW"}]}"#,
    );
    let files = [&a, &b, &c];
    let orders = [
        [0, 1, 2],
        [0, 2, 1],
        [1, 0, 2],
        [1, 2, 0],
        [2, 0, 1],
        [2, 1, 0],
    ];
    let mut first: Option<(String, String)> = None;
    for (i, order) in orders.iter().enumerate() {
        let out = dir.join(format!("m{i}.json"));
        let mut args = vec!["merge"];
        args.extend(order.iter().map(|&k| s(files[k])));
        args.extend(["-o", s(&out)]);
        let output = profile(&args);
        assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
        let result = (read(&out), stderr(&output));
        match &first {
            None => first = Some(result),
            Some(first) => {
                assert_eq!(first.0, result.0, "order {order:?}");
                assert_eq!(first.1, result.1, "order {order:?}");
            }
        }
    }
    let (merged, warnings) = first.unwrap();
    let merged = json(&merged);
    assert_eq!(
        allowed(&merged).into_iter().collect::<Vec<_>>(),
        ["clone3", "exit_group", "openat", "read", "uname", "write"]
    );
    assert_eq!(
        merged["syscalls"].as_array().unwrap().len(),
        1,
        "{merged:#}"
    );
    assert_eq!(merged["defaultErrnoRet"], 1);
    assert_eq!(
        warnings,
        format!(
            "profile: warn: write: {} has SCMP_ACT_ERRNO(13); {} has SCMP_ACT_ALLOW: kept SCMP_ACT_ALLOW (an unconditional allow wins)\n",
            c.display(),
            a.display()
        )
    );
}

#[test]
fn merge_keeps_the_clone3_fallback_and_reads_docker_conditions() {
    let dir = scratch("ops-merge-docker");
    let a = write(&dir, "a.json", &recorded(&["read"]));
    let docker = write(
        &dir,
        "docker.json",
        r#"{"defaultAction": "SCMP_ACT_ERRNO",
            "archMap": [{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86"]}],
            "syscalls": [
              {"names": ["getpid"], "action": "SCMP_ACT_ALLOW"},
              {"names": ["ptrace"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_PTRACE"]}}
            ]}"#,
    );
    let mut args = vec!["merge", s(&a), s(&docker)];
    args.extend(X86_64);
    let output = profile(&args);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    assert!(stderr(&output).is_empty(), "{}", describe(&output));
    let merged = json(&stdout(&output));
    assert_eq!(
        architectures(&merged),
        ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"]
    );
    // ptrace needs CAP_SYS_PTRACE, which Docker's defaults lack.
    assert_eq!(
        allowed(&merged).into_iter().collect::<Vec<_>>(),
        ["getpid", "read"]
    );
    assert_eq!(
        merged["syscalls"][1],
        serde_json::json!({"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38})
    );
    args.extend(["--cap", "default,sys_ptrace"]);
    let output = profile(&args);
    assert!(allowed(&json(&stdout(&output))).contains("ptrace"));
}

#[test]
fn a_failed_merge_leaves_the_output_untouched() {
    let dir = scratch("ops-merge-fail");
    let a = write(&dir, "a.json", &recorded(&["read"]));
    let bad = write(
        &dir,
        "bad.json",
        r#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["raed"], "action": "SCMP_ACT_ALLOW"}]}"#,
    );
    let broken = write(&dir, "broken.json", "{\"defaultAction\": ");
    let out = write(&dir, "out.json", "precious\n");
    for (input, needle) in [
        (bad.clone(), "unknown syscall names: raed"),
        (broken.clone(), "broken.json:1:"),
        (dir.join("missing.json"), "reading "),
    ] {
        let output = profile(&["merge", s(&a), s(&input), "-o", s(&out)]);
        assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
        let err = stderr(&output);
        assert_eq!(err.lines().count(), 1, "{}", describe(&output));
        assert!(err.starts_with("profile: error: "), "{err}");
        assert!(err.contains(s(&input)), "{err}");
        assert!(err.contains(needle), "{needle:?} not in {err}");
        assert!(!err.contains("panicked"), "{err}");
        assert_eq!(read(&out), "precious\n");
        only(&dir, &["a.json", "bad.json", "broken.json", "out.json"]);
    }
    // --allow-unknown drops the name, as check does.
    let output = profile(&["merge", s(&a), s(&bad), "--allow-unknown", "-o", s(&out)]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    assert_eq!(
        allowed(&json(&read(&out))).into_iter().collect::<Vec<_>>(),
        ["read"]
    );
}

#[test]
fn diff_exit_status_text_and_json() {
    let dir = scratch("ops-diff");
    let a = write(&dir, "a.json", &recorded(&["read", "write", "mmap"]));
    // The same profile laid out differently.
    let same = write(
        &dir,
        "same.json",
        r#"{"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_X86_64"],
            "syscalls": [{"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38},
                         {"names": ["write", "mmap"], "action": "SCMP_ACT_ALLOW"},
                         {"names": ["read"], "action": "SCMP_ACT_ALLOW"}]}"#,
    );
    let b = write(
        &dir,
        "b.json",
        r#"{"defaultAction": "SCMP_ACT_LOG", "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
            "syscalls": [{"names": ["read", "write", "clone3", "getppid"], "action": "SCMP_ACT_ALLOW"}]}"#,
    );
    let output = profile(&["diff", s(&a), s(&same)]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    assert_eq!(stdout(&output), "");
    assert_eq!(stderr(&output), "");

    let output = profile(&["diff", s(&a), s(&b), "--arch", "x86_64"]);
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    assert_eq!(
        stdout(&output),
        format!(
            "\
--- {}
+++ {}
default: SCMP_ACT_ERRNO(1) -> SCMP_ACT_LOG
architectures: +i386
x86_64:
  SCMP_ACT_ALLOW: +clone3 +getppid -mmap
  SCMP_ACT_ERRNO(38): -clone3
i386:
  SCMP_ACT_ALLOW: +clone3 +getppid +read +write
",
            a.display(),
            b.display()
        )
    );

    let output = profile(&["diff", "--json", s(&a), s(&b), "--arch", "x86_64"]);
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let diff = json(&stdout(&output));
    assert_eq!(diff["equal"], false);
    assert_eq!(diff["defaultAction"]["new"]["action"], "SCMP_ACT_LOG");
    assert_eq!(
        diff["syscalls"]["SCMP_ARCH_X86_64"][0],
        serde_json::json!({"action": "SCMP_ACT_ALLOW", "added": ["clone3", "getppid"], "removed": ["mmap"]})
    );
    let output = profile(&["diff", "--json", s(&a), s(&same)]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    assert_eq!(json(&stdout(&output))["equal"], true);

    let output = profile(&["diff", s(&a), s(&dir.join("missing.json"))]);
    assert_refused(&output, "missing.json");
    assert!(stdout(&output).is_empty());
}

#[test]
fn stage_then_promote_round_trips_and_refuses_bad_input() {
    let dir = scratch("ops-stage");
    let app = write(&dir, "app.json", &recorded(&["read", "write"]));
    let staged = dir.join("app.log.json");
    let output = profile(&["stage", s(&app), "-o", s(&staged)]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let staged_json = json(&read(&staged));
    assert_eq!(staged_json["defaultAction"], "SCMP_ACT_LOG");
    assert!(
        staged_json.get("defaultErrnoRet").is_none(),
        "{staged_json:#}"
    );
    assert_eq!(staged_json["syscalls"], json(&read(&app))["syscalls"]);

    // Promoting gives back exactly what export writes for the original.
    let promoted = dir.join("app.final.json");
    let output = profile(&["promote", s(&staged), "-o", s(&promoted)]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let export = profile(&["export", s(&app)]);
    assert_eq!(read(&promoted), stdout(&export));

    let output = profile(&["promote", s(&staged), "--action", "kill"]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let killing = json(&stdout(&output));
    assert_eq!(killing["defaultAction"], "SCMP_ACT_KILL_PROCESS");
    assert!(killing.get("defaultErrnoRet").is_none());

    let output = profile(&["promote", s(&staged), "--errno", "38"]);
    assert_eq!(json(&stdout(&output))["defaultErrnoRet"], 38);

    // Refusals leave an existing output alone.
    let out = write(&dir, "out.json", "precious\n");
    let deny = write(
        &dir,
        "deny.json",
        r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["ptrace"], "action": "SCMP_ACT_ERRNO"}]}"#,
    );
    for args in [
        vec!["promote", s(&deny), "-o", s(&out)],
        vec!["promote", s(&staged), "--with", s(&deny), "-o", s(&out)],
        vec![
            "promote",
            s(&staged),
            "--action",
            "kill",
            "--errno",
            "3",
            "-o",
            s(&out),
        ],
        vec!["promote", s(&staged), "--errno", "0", "-o", s(&out)],
        vec!["stage", s(&dir.join("missing.json")), "-o", s(&out)],
    ] {
        let output = profile(&args);
        assert_eq!(
            output.status.code(),
            Some(2),
            "{args:?}\n{}",
            describe(&output)
        );
        assert!(
            !stderr(&output).contains("panicked"),
            "{}",
            describe(&output)
        );
        assert_eq!(read(&out), "precious\n", "{args:?}");
    }
    let output = profile(&["promote", s(&deny)]);
    assert!(
        stderr(&output).contains("deny.json: the default action is SCMP_ACT_ALLOW"),
        "{}",
        describe(&output)
    );
}

#[test]
fn promote_with_audit_findings_folds_them_in() {
    let dir = scratch("ops-promote-with");
    let app = write(&dir, "app.json", &recorded(&["read", "write"]));
    let staged = dir.join("app.log.json");
    let output = profile(&["stage", s(&app), "-o", s(&staged)]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let seen = write(
        &dir,
        "seen.json",
        r#"{"defaultAction": "SCMP_ACT_LOG", "architectures": ["SCMP_ARCH_X86_64"],
            "syscalls": [{"names": ["uname", "getpid"], "action": "SCMP_ACT_ALLOW"}]}"#,
    );
    let output = profile(&["promote", s(&staged), "--with", s(&seen)]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    // No warning: the defaults agree, and would not matter anyway.
    assert!(stderr(&output).is_empty(), "{}", describe(&output));
    let promoted = json(&stdout(&output));
    assert_eq!(promoted["defaultAction"], "SCMP_ACT_ERRNO");
    assert_eq!(promoted["defaultErrnoRet"], 1);
    assert_eq!(
        allowed(&promoted).into_iter().collect::<Vec<_>>(),
        ["getpid", "read", "uname", "write"]
    );

    // The same as merge then promote; and diff shows exactly the findings.
    let merged = dir.join("merged.json");
    let output = profile(&["merge", s(&app), s(&seen), "-o", s(&merged)]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    assert!(
        stderr(&output).contains("default actions differ"),
        "{}",
        describe(&output)
    );
    let output = profile(&["promote", s(&merged)]);
    assert_eq!(json(&stdout(&output)), promoted);
    let output = profile(&["diff", s(&app), s(&merged)]);
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    assert!(
        stdout(&output).ends_with("x86_64:\n  SCMP_ACT_ALLOW: +getpid +uname\n"),
        "{}",
        describe(&output)
    );
}
