//! `profile audit` against the real kernel (root): a staged (SCMP_ACT_LOG) profile that lacks
//! some syscalls, a program that makes them in a burst, and the auditor that must find exactly
//! those.
use std::{
    collections::{BTreeMap, BTreeSet},
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, Output, Stdio},
    sync::{mpsc, Mutex, MutexGuard},
    thread,
    time::Duration,
};

use tests::*;

/// The syscalls `exerciser burst N` makes that `exerciser burst 0` does not.
const BURST_ONLY: [&str; 3] = ["getpgrp", "getppid", "times"];

/// The tests that make audit records take turns: printk's budget of 10 audit lines per 5 s is
/// shared, and the kmsg test must not see it spent by the others (their `profile record` BPF
/// loads are audited too).
static AUDIT_RECORDS: Mutex<()> = Mutex::new(());

fn one_at_a_time() -> MutexGuard<'static, ()> {
    AUDIT_RECORDS
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A copy of the exerciser under a name of its own, so that `--exe` keeps out the records of
/// other tests running at the same time.
fn private_exerciser(dir: &Path) -> String {
    let copy = dir.join(format!("audit-exerciser-{}", std::process::id()));
    std::fs::copy(exerciser(), &copy).expect("copy the exerciser");
    copy.display().to_string()
}

/// Records `exe burst 0` into a profile whose default action is SCMP_ACT_LOG.
fn staged_profile(dir: &Path, exe: &str) -> PathBuf {
    let path = dir.join("staged.json");
    let output = run(Command::new(profile_bin())
        .args(["record", "--default-action", "log", "-o"])
        .arg(&path)
        .args(["--", exe, "burst", "0"]));
    assert!(output.status.success(), "{}", describe(&output));
    let profile: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(profile["defaultAction"], "SCMP_ACT_LOG");
    for name in BURST_ONLY {
        assert!(!allowed(&profile).contains(name), "{name} in {profile:#}");
    }
    path
}

/// A running `profile audit`, started once it says it is listening.
struct Auditor {
    child: Child,
    /// stderr lines read while waiting for it to listen.
    early: Vec<String>,
    stderr: mpsc::Receiver<String>,
    stdout: thread::JoinHandle<String>,
}

impl Auditor {
    fn start(args: &[&str]) -> Auditor {
        let mut child = Command::new(profile_bin())
            .arg("audit")
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start profile audit");
        let (tx, stderr) = mpsc::channel();
        let err = child.stderr.take().unwrap();
        thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let mut out = child.stdout.take().unwrap();
        let stdout = thread::spawn(move || {
            let mut text = String::new();
            let _ = std::io::Read::read_to_string(&mut out, &mut text);
            text
        });
        let mut seen = Vec::new();
        loop {
            match stderr.recv_timeout(Duration::from_secs(10)) {
                Ok(line) => {
                    let listening = line.contains("listening on");
                    seen.push(line);
                    if listening {
                        break;
                    }
                }
                Err(_) => panic!("profile audit {args:?} never said it listens: {seen:?}"),
            }
        }
        Auditor {
            child,
            early: seen,
            stderr,
            stdout,
        }
    }

    /// SIGINT, then its exit status, stdout and stderr.
    fn stop(self) -> (std::process::ExitStatus, String, String) {
        // SAFETY: signalling our own child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGINT) };
        let mut child = self.child;
        let status = child.wait().expect("wait for profile audit");
        let stdout = self.stdout.join().unwrap();
        let mut stderr = self.early;
        stderr.extend(self.stderr.iter());
        (status, stdout, stderr.join("\n"))
    }
}

fn run_staged(profile: &Path, exe: &str, n: u32) -> Output {
    let output = run(Command::new(profile_bin())
        .arg("run")
        .arg("--profile")
        .arg(profile)
        .args(["--", exe, "burst", &n.to_string()]));
    assert!(output.status.success(), "{}", describe(&output));
    output
}

/// Rows of `--format report`: syscall → (count, action).
fn report_rows(report: &str) -> BTreeMap<String, (u64, String)> {
    let mut lines = report.lines();
    let header: Vec<&str> = lines.next().expect("header").split_whitespace().collect();
    assert_eq!(
        header,
        ["ARCH", "SYSCALL", "NR", "ACTION", "COUNT", "EXE", "CGROUP", "PIDS"],
        "{report}"
    );
    lines
        .take_while(|line| !line.contains("distinct syscalls"))
        .map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            (
                fields[1].to_owned(),
                (fields[4].parse().expect("count"), fields[3].to_owned()),
            )
        })
        .collect()
}

#[test]
fn netlink_finds_exactly_the_missing_syscalls_of_a_burst() {
    require_root();
    let _turn = one_at_a_time();
    const N: u32 = 1000;
    let dir = scratch("audit-netlink");
    let exe = private_exerciser(&dir);
    let staged = staged_profile(&dir, &exe);
    let seen = dir.join("seen.json");
    let seen_arg = seen.display().to_string();
    let as_profile = Auditor::start(&[
        "--source", "netlink", "--follow", "--exe", &exe, "-o", &seen_arg,
    ]);
    let as_report = Auditor::start(&[
        "--source", "netlink", "--follow", "--exe", &exe, "--format", "report",
    ]);
    run_staged(&staged, &exe, N);
    let (status, _, stderr) = as_profile.stop();
    assert!(status.success(), "{status:?}\n{stderr}");
    let (status, report, report_err) = as_report.stop();
    assert!(status.success(), "{status:?}\n{report_err}");

    let profile: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&seen).expect("seen.json")).unwrap();
    let found = allowed(&profile);
    let expected: BTreeSet<String> = BURST_ONLY.iter().map(|s| s.to_string()).collect();
    assert_eq!(found, expected, "{profile:#}\n{stderr}");
    assert_eq!(architectures(&profile), ["SCMP_ARCH_X86_64"]);
    assert_eq!(profile["defaultAction"], "SCMP_ACT_ERRNO");

    // Every record arrived: printk would have kept 10.
    let rows = report_rows(&report);
    let counts: BTreeMap<&str, (u64, &str)> = rows
        .iter()
        .map(|(name, (count, action))| (name.as_str(), (*count, action.as_str())))
        .collect();
    assert_eq!(
        counts,
        BTreeMap::from([
            ("getppid", (u64::from(N), "LOG")),
            ("getpgrp", (u64::from(N), "LOG")),
            ("times", (1, "LOG")),
        ]),
        "{report}\n{report_err}"
    );
    assert!(
        report.contains(&format!(
            "3 distinct syscalls, {} records from 1 processes",
            2 * N + 1
        )),
        "{report}"
    );
}

#[test]
fn enforcing_profiles_are_reported_with_their_action() {
    require_root();
    let _turn = one_at_a_time();
    let dir = scratch("audit-errno");
    let exe = private_exerciser(&dir);
    let staged = staged_profile(&dir, &exe);
    // The same allow-list, enforcing with ERRNO and asking the kernel to log it.
    let mut profile: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&staged).unwrap()).unwrap();
    profile["defaultAction"] = "SCMP_ACT_ERRNO".into();
    profile["flags"] = serde_json::json!(["SECCOMP_FILTER_FLAG_LOG"]);
    let enforcing = dir.join("errno.json");
    std::fs::write(&enforcing, profile.to_string()).unwrap();

    let auditor = Auditor::start(&["--duration", "30s", "--exe", &exe, "--format", "report"]);
    run_staged(&enforcing, &exe, 5);
    let (status, report, stderr) = auditor.stop();
    assert!(status.success(), "{status:?}\n{stderr}");
    assert!(stderr.contains("source: netlink"), "{stderr}");
    let rows = report_rows(&report);
    assert_eq!(rows["getppid"], (5, "ERRNO".to_owned()), "{report}");
    assert_eq!(rows["times"], (1, "ERRNO".to_owned()), "{report}");
    assert!(stderr.contains("an enforcing filter blocked"), "{stderr}");
}

#[test]
fn kmsg_gets_some_records_and_warns_that_some_may_be_missing() {
    require_root();
    let _turn = one_at_a_time();
    const N: u32 = 200;
    let dir = scratch("audit-kmsg");
    let exe = private_exerciser(&dir);
    let staged = staged_profile(&dir, &exe);
    // printk allows 10 audit lines per 5 s: let the current window pass.
    thread::sleep(Duration::from_millis(5200));
    let auditor = Auditor::start(&[
        "--source",
        "kmsg",
        "--new-only",
        "--follow",
        "--exe",
        &exe,
        "--format",
        "report",
    ]);
    run_staged(&staged, &exe, N);
    thread::sleep(Duration::from_millis(300));
    let (status, report, stderr) = auditor.stop();
    assert!(status.success(), "{status:?}\n{stderr}");
    assert!(stderr.contains("records may be missing"), "{stderr}");
    let rows = report_rows(&report);
    let names: BTreeSet<&str> = rows.keys().map(String::as_str).collect();
    assert!(
        !names.is_empty(),
        "no record reached the kernel log:\n{report}\n{stderr}"
    );
    assert!(names.is_subset(&BURST_ONLY.into()), "{report}");
    let total: u64 = rows.values().map(|(count, _)| count).sum();
    // Far fewer than the 2N+1 records made: the reason the netlink source exists.
    assert!(
        total <= 10,
        "printk kept {total} of {} records:\n{report}",
        2 * N + 1
    );

    // Without --follow, what is still in the kernel log is read and profile stops.
    let output = run(Command::new(profile_bin()).args([
        "audit", "--source", "kmsg", "--exe", &exe, "--format", "report",
    ]));
    assert!(output.status.success(), "{}", describe(&output));
    let again = report_rows(&String::from_utf8_lossy(&output.stdout));
    assert_eq!(again, rows, "{}", describe(&output));
}

#[test]
fn netlink_needs_follow_or_duration() {
    let output = run(Command::new(profile_bin()).args(["audit", "--source", "netlink"]));
    assert_refused(&output, "--follow or --duration");
}

#[test]
fn auditd_log_file_with_malformed_lines() {
    let dir = scratch("audit-file");
    let log = dir.join("audit.log");
    let line = |serial: u32, nr: u32, code: &str| {
        format!(
            "type=SECCOMP msg=audit(1795379407.866:{serial}): auid=4294967295 uid=0 gid=0 \
             ses=4294967295 pid=29110 comm=\"python3\" exe=\"/usr/bin/python3.11\" sig=0 \
             arch=c000003e syscall={nr} compat=0 ip=0x7f6dc2b71829 code={code}\
             \x1dAUID=\"unset\" UID=\"root\" GID=\"root\" ARCH=x86_64 SYSCALL=x\n"
        )
    };
    let text = [
        line(1, 39, "0x7ffc0000"),
        "type=SYSCALL msg=audit(1795379407.866:2): arch=c000003e syscall=59 success=yes\n".into(),
        line(3, 39, "0x7ffc0000"),
        line(4, 110, "0x80000000"),
        "type=SECCOMP msg=audit(1795379407.866:5): auid=4294967295 uid=0 gid=0 ses=42\n".into(),
        "\u{1}\u{2} not a log line\n".into(),
        // The same record twice: counted once.
        line(4, 110, "0x80000000"),
    ]
    .concat();
    std::fs::write(&log, text).unwrap();
    let source = format!("file:{}", log.display());
    let output =
        run(Command::new(profile_bin()).args(["audit", "--source", &source, "--format", "report"]));
    assert!(output.status.success(), "{}", describe(&output));
    let report = String::from_utf8_lossy(&output.stdout);
    let rows = report_rows(&report);
    assert_eq!(rows["getpid"], (2, "LOG".to_owned()), "{report}");
    assert_eq!(rows["getppid"], (1, "KILL_PROCESS".to_owned()), "{report}");
    assert!(
        report.contains("1 duplicates dropped, 2 malformed lines skipped"),
        "{report}"
    );
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("2 malformed record lines skipped"),
        "{}",
        describe(&output)
    );

    let seen = dir.join("seen.json");
    let output = run(Command::new(profile_bin())
        .args(["audit", "--source", &source, "-o"])
        .arg(&seen));
    assert!(output.status.success(), "{}", describe(&output));
    let profile: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&seen).unwrap()).unwrap();
    assert_eq!(
        allowed(&profile),
        BTreeSet::from(["getpid".to_owned(), "getppid".to_owned()])
    );
}

/// An executable whose name carries a newline and an escape sequence (the kernel hex-encodes
/// it in the record) cannot forge a row of the report or clear the terminal.
#[test]
fn hostile_names_are_escaped_in_reports() {
    let dir = scratch("audit-hostile");
    let log = dir.join("audit.log");
    let exe: String = "/tmp/x\ngetppid 999 LOG\x1b[2J"
        .bytes()
        .map(|b| format!("{b:02X}"))
        .collect();
    std::fs::write(
        &log,
        format!(
            "type=SECCOMP msg=audit(1795379407.866:1): auid=4294967295 uid=0 gid=0 \
             ses=4294967295 pid=29110 comm=\"x\" exe={exe} sig=0 arch=c000003e syscall=39 \
             compat=0 ip=0x7f6dc2b71829 code=0x7ffc0000\n"
        ),
    )
    .unwrap();
    let source = format!("file:{}", log.display());
    let output =
        run(Command::new(profile_bin()).args(["audit", "--source", &source, "--format", "report"]));
    assert!(output.status.success(), "{}", describe(&output));
    let report = stdout(&output);
    assert!(!report.contains('\u{1b}'), "{report:?}");
    assert!(
        report.contains("/tmp/x\\ngetppid 999 LOG\\u{1b}[2J"),
        "{report}"
    );
    assert!(
        report.lines().all(|line| !line.starts_with("getppid")),
        "{report}"
    );
}

/// The whole staged rollout of issue 4 on the real kernel: record one path, stage, run both
/// paths under the staged profile while `profile audit` listens, fold the findings in, promote,
/// and enforce.
#[test]
fn staged_rollout_learns_the_missing_path_and_enforces_it() {
    require_root();
    let _turn = one_at_a_time();
    let dir = scratch("rollout");
    let exe = private_exerciser(&dir);
    let file = |name: &str| dir.join(name).display().to_string();
    let profile = |args: &[&str]| {
        let output = run(Command::new(profile_bin()).args(args));
        assert!(
            output.status.code().is_some_and(|c| c <= 1),
            "{args:?}: {}",
            describe(&output)
        );
        output
    };
    profile(&["record", "-o", &file("web.json"), "--", &exe, "paths"]);
    profile(&["stage", &file("web.json"), "-o", &file("web.log.json")]);

    let auditor = Auditor::start(&[
        "--source",
        "netlink",
        "--follow",
        "--exe",
        &exe,
        "-o",
        &file("seen.json"),
    ]);
    let staged = profile(&[
        "run",
        "--profile",
        &file("web.log.json"),
        "--",
        &exe,
        "paths",
        "full",
    ]);
    assert!(
        staged.status.success(),
        "staging blocks nothing: {}",
        describe(&staged)
    );
    let (status, _, stderr) = auditor.stop();
    assert!(status.success(), "{stderr}");
    let seen: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(file("seen.json")).unwrap()).unwrap();
    assert_eq!(
        allowed(&seen),
        BTreeSet::from(["getcpu".to_owned(), "sysinfo".to_owned()]),
        "exactly the second path's syscalls: {seen:#}"
    );

    profile(&[
        "merge",
        &file("web.json"),
        &file("seen.json"),
        "-o",
        &file("web2.json"),
    ]);
    let diff = profile(&["diff", &file("web.json"), &file("web2.json")]);
    assert_eq!(diff.status.code(), Some(1));
    let diff_text = String::from_utf8_lossy(&diff.stdout);
    assert!(
        diff_text.contains("+getcpu") && diff_text.contains("+sysinfo"),
        "{diff_text}"
    );
    profile(&["promote", &file("web2.json"), "-o", &file("web.final.json")]);
    let enforced = profile(&[
        "run",
        "--profile",
        &file("web.final.json"),
        "--",
        &exe,
        "paths",
        "full",
    ]);
    assert!(enforced.status.success(), "{}", describe(&enforced));

    // Without the audit findings the second path is refused.
    profile(&[
        "promote",
        &file("web.log.json"),
        "-o",
        &file("web.unmerged.json"),
    ]);
    let refused = run(Command::new(profile_bin()).args([
        "run",
        "--profile",
        &file("web.unmerged.json"),
        "--",
        &exe,
        "paths",
        "full",
    ]));
    assert_eq!(refused.status.code(), Some(3), "{}", describe(&refused));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("Operation not permitted"),
        "{}",
        describe(&refused)
    );
}

/// sys_enter fires after seccomp, and SCMP_ACT_LOG lets every call through, so recording a
/// process that runs under a staged profile sees the calls the profile lacks.
#[test]
fn recording_under_a_staged_profile_sees_every_call() {
    require_root();
    let dir = scratch("record-under-staging");
    let exe = exerciser().display().to_string();
    let file = |name: &str| dir.join(name).display().to_string();
    let output = run(Command::new(profile_bin()).args([
        "record",
        "--stage",
        "log",
        "-o",
        &file("staged.json"),
        "--",
        &exe,
        "paths",
    ]));
    assert!(output.status.success(), "{}", describe(&output));
    let output = run(Command::new(profile_bin()).args([
        "run",
        "--profile",
        &file("staged.json"),
        "--",
        &profile_bin().display().to_string(),
        "record",
        "-o",
        &file("under.json"),
        "--",
        &exe,
        "paths",
        "full",
    ]));
    assert!(output.status.success(), "{}", describe(&output));
    let under: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(file("under.json")).unwrap()).unwrap();
    let names = allowed(&under);
    assert!(
        names.contains("sysinfo") && names.contains("getcpu"),
        "{names:?}"
    );
}
