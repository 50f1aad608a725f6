//! Enforced workloads under `profile daemon` (root, real kernel, real runtimes): a workload
//! whose profile lacks a syscall it makes on a second code path is denied it; the daemon's
//! status and metrics show the workload, the syscall and the count, its proposal adds exactly
//! that syscall, and its profile never gets it. Under `profile run` and runc with the OCI
//! profile (the exit hook alone: runc 1.1 logs nothing), crun with SECCOMP_FILTER_FLAG_LOG
//! (both sources), and a million denials in a loop across a SIGKILL of the daemon.
use std::{
    fs,
    path::{Path, PathBuf},
    process::Command,
    sync::{RwLock, RwLockReadGuard},
    time::Duration,
};

use serde_json::Value;
use tests::{daemon::*, *};

/// The million denials' audit records overflow the kernel's audit backlog, which then drops
/// other tests' records: tests that expect a record hold this for reading, the flood for
/// writing.
static AUDIT_FLOOD: RwLock<()> = RwLock::new(());

fn no_audit_flood() -> RwLockReadGuard<'static, ()> {
    AUDIT_FLOOD
        .read()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The workload's denials as `profile status --json` shows them.
fn denials_of(status: &Value, workload: &str) -> Vec<Value> {
    status["workloadList"]
        .as_array()
        .expect("workloadList")
        .iter()
        .find(|w| w["name"] == workload)
        .and_then(|w| w["denials"].as_array().cloned())
        .unwrap_or_default()
}

fn denial<'a>(denials: &'a [Value], syscall: &str) -> Option<&'a Value> {
    denials.iter().find(|d| d["syscall"] == syscall)
}

/// The lines of `profile diff OLD NEW` that name a change (not its `---`/`+++` header or an
/// architecture's heading).
fn diff_changes(old: &Path, new: &Path) -> Vec<String> {
    let output = run(Command::new(profile_bin()).arg("diff").arg(old).arg(new));
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    stdout(&output)
        .lines()
        .filter(|line| line.starts_with("  ") || line.contains(": "))
        .map(str::to_owned)
        .collect()
}

/// What the daemon wrote for `workload` after a denial of `syscall`: the proposal adds exactly
/// it, the profile never has it, the proposal's meta says where it came from.
fn check_proposal(out: &Path, workload: &str, cgroup: &str, syscall: &str) -> Value {
    let profile = out.join(format!("{workload}.json"));
    let proposal = out.join(format!("{workload}.proposed.json"));
    assert!(
        !allowed_in(&profile).contains(syscall),
        "{syscall} was added to the profile itself: {}",
        fs::read_to_string(&profile).unwrap()
    );
    assert!(allowed_in(&proposal).contains(syscall));
    assert_eq!(
        diff_changes(&profile, &proposal),
        [format!("  SCMP_ACT_ALLOW: +{syscall}")]
    );
    let meta = read_json(&out.join(format!("{workload}.proposed.json.meta")));
    let added: Vec<&Value> = meta["denials"]
        .as_array()
        .expect("denials")
        .iter()
        .filter(|d| d["verdict"] == "added")
        .collect();
    assert_eq!(added.len(), 1, "{meta:#}");
    assert_eq!(added[0]["syscall"], syscall, "{meta:#}");
    let replica = &added[0]["replicas"][0];
    assert_eq!(replica["cgroup"], cgroup, "{meta:#}");
    assert!(replica["count"].as_u64().unwrap() >= 1, "{meta:#}");
    for time in ["first", "last"] {
        assert!(
            replica[time].as_str().unwrap().ends_with('Z'),
            "{time}: {meta:#}"
        );
    }
    meta
}

/// `profile run`: the kernel hook sees the denial, and the audit record the filter's
/// SECCOMP_FILTER_FLAG_LOG makes names the executable; the proposal, enforced in turn, lets
/// the workload through.
fn profile_run_denial(name: &str, env: &[(&str, &str)]) {
    let _audit = no_audit_flood();
    let root = TestCgroup::create(&format!("profile-e2e-{}-{name}", std::process::id()));
    let dir = scratch(name);
    let out = dir.join("out");
    let pins = Pins::new(name);
    let port = test_port(0);
    let listen = format!("127.0.0.1:{port}");
    let daemon = Daemon::start_with(
        &daemon_args(
            &root.path,
            &out,
            &pins,
            "300ms",
            &["--after-seccomp", "--listen", &listen],
        ),
        env,
    );
    // Learned on both paths, then enforced without one call of the second.
    let (_, learned) = record(
        &format!("{name}-learn"),
        &[],
        &[exerciser().to_str().unwrap(), "paths", "full"],
    );
    let enforced = write(
        &dir,
        "enforced.json",
        &serde_json::to_string(&without(&learned, "getcpu")).unwrap(),
    );
    let app = root.child("app");
    let exe = exerciser().display().to_string();
    let script = format!(
        "exec {} run --profile {} -- {exe} paths full",
        profile_bin().display(),
        enforced.display()
    );
    let exit = spawn_in_cgroup(&app, &script).wait().unwrap();
    assert_eq!(exit.code(), Some(3), "the second path was not refused");

    wait_status(&out, "the denial", |s| {
        denial(&denials_of(s, "app"), "getcpu").is_some_and(|d| {
            d["seenBy"] == serde_json::json!(["audit", "kernel"])
                && d["count"] == 1
                && d["verdict"] == "added"
        }) && s["workloadList"][0]["written"] == true
    });
    let status = status(&out);
    let getcpu = denial(&denials_of(&status, "app"), "getcpu")
        .unwrap()
        .clone();
    assert_eq!(getcpu["comm"], "exerciser", "{status:#}");
    assert_eq!(getcpu["action"], "ERRNO(1)", "{status:#}");
    assert_eq!(status["deniedCalls"], 1, "{status:#}");
    let text = stdout(&run(Command::new(profile_bin()).args([
        "status",
        "--control-socket",
        out.with_extension("sock").to_str().unwrap(),
    ])));
    assert!(text.contains("    denied getcpu ("), "{text}");
    assert!(text.contains(") 1 calls,"), "{text}");
    let metrics = http_get_path(port, "/metrics");
    assert!(
        metrics.contains("profile_daemon_denied_total{workload=\"app\",syscall=\"getcpu\"} 1\n"),
        "{metrics}"
    );
    let (code, log) = daemon.stop();
    assert_eq!(code, Some(0), "{log}");

    let meta = check_proposal(&out, "app", &format!("{}/app", root.name()), "getcpu");
    let replica = &meta["denials"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["syscall"] == "getcpu")
        .unwrap()["replicas"][0];
    assert_eq!(replica["exe"], exe.as_str(), "{meta:#}");
    // A human promotes the proposal: the workload runs both paths.
    let output = run(Command::new(profile_bin())
        .args(["run", "--profile"])
        .arg(out.join("app.proposed.json"))
        .args(["--", &exe, "paths", "full"]));
    assert!(output.status.success(), "{}", describe(&output));
}

#[test]
fn a_denial_under_profile_run_is_seen_attributed_and_proposed() {
    profile_run_denial("deny-run", &[]);
}

/// The exit hook's build for kernels without atomic OR and the task's BTF pointer.
#[test]
fn the_5_10_build_sees_denials_too() {
    profile_run_denial("deny-run510", &[("PROFILE_BPF_VARIANT", "5.10")]);
}

/// The workload in the containers: a common path, then (with `full` as its argument) `uptime`,
/// whose sysinfo nothing else in the container calls. It lives a second, so that the daemon's
/// scans see its cgroup by path (runc removes it with the container).
const PATHS: &str = "/bin/busybox echo common; [ \"$0\" = full ] && /bin/busybox uptime; \
    /bin/busybox sleep 1; /bin/busybox echo done";

/// A busybox bundle running [`PATHS`] with `path` as `$0`.
fn paths_bundle(dir: &Path, path: &str) -> PathBuf {
    let bundle = busybox_bundle(dir, PATHS);
    let config = bundle.join("config.json");
    let mut spec = read_json(&config);
    spec["process"]["args"] = serde_json::json!(["/bin/busybox", "sh", "-c", PATHS, path]);
    write_json(&config, &spec);
    bundle
}

/// runc 1.1 refuses `flags`, so an enforced container logs no ERRNO denial: the exit hook alone
/// sees it. The profile is the daemon's own, learned from staged runs of the whole workload in
/// other cgroups, without sysinfo.
#[test]
fn runc_enforcing_the_oci_profile_is_seen_without_audit() {
    let name = "deny-runc";
    let root = TestCgroup::create(&format!("profile-e2e-{}-{name}", std::process::id()));
    let dir = scratch(name);
    let out = dir.join("out");
    let pins = Pins::new(name);
    let daemon = Daemon::start(&daemon_args(
        &root.path,
        &out,
        &pins,
        "300ms",
        &["--after-seccomp"],
    ));
    let bundle = paths_bundle(&dir.join("bundle"), "full");
    // Staged: everything logged and let through, so the learned profile has every call.
    let staged = 5;
    for i in 0..staged {
        configure_bundle(
            &bundle,
            &log_profile(),
            Some(&format!("{}/learn-{i}", root.name())),
        );
        let output = runc(&bundle, &format!("profile-e2e-{name}-learn-{i}"));
        assert!(output.status.success(), "{}", describe(&output));
    }
    wait_status(&out, "the staged runs written", |s| {
        s["workloadList"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|w| w["written"] == true)
            .count()
            >= staged
    });
    let learned: Vec<PathBuf> = (0..staged)
        .map(|i| out.join(format!("learn-{i}.json")))
        .collect();
    let merged = dir.join("learned.json");
    let output = run(Command::new(profile_bin())
        .arg("merge")
        .args(&learned)
        .arg("-o")
        .arg(&merged));
    assert!(output.status.success(), "{}", describe(&output));
    let mut enforced = without(&read_json(&merged), "sysinfo");
    // runc's Go runtime calls futex after the filter only when its threads contend, which five
    // runs may not have seen.
    enforced["syscalls"][0]["names"]
        .as_array_mut()
        .unwrap()
        .push("futex".into());
    assert!(allowed(&read_json(&merged)).contains("sysinfo"));
    configure_bundle(&bundle, &enforced, Some(&format!("{}/web", root.name())));
    let output = runc(&bundle, &format!("profile-e2e-{name}-web"));
    let text = stdout(&output);
    assert!(
        text.contains("common") && text.contains("done"),
        "{}",
        describe(&output)
    );
    wait_status(&out, "the denial", |s| {
        denial(&denials_of(s, "web"), "sysinfo")
            .is_some_and(|d| d["seenBy"] == serde_json::json!(["kernel"]) && d["count"] == 1)
            && s["workloadList"]
                .as_array()
                .unwrap()
                .iter()
                .all(|w| w["written"] == true)
    });
    let (code, log) = daemon.stop();
    assert_eq!(code, Some(0), "{log}");
    check_proposal(&out, "web", &format!("{}/web", root.name()), "sysinfo");
    // Nothing else was denied: the staged runs have no proposal.
    for i in 0..staged {
        assert!(!out.join(format!("learn-{i}.proposed.json")).exists());
    }
}

/// crun 1.8.1 takes SECCOMP_FILTER_FLAG_LOG (`profile export --log-denials`): the audit record of the denial (of a process gone
/// by the time it is read) is placed in the same cgroup as the exit hook's count.
#[test]
fn crun_with_the_log_flag_is_seen_by_both() {
    let _audit = no_audit_flood();
    let name = "deny-crun";
    let root = TestCgroup::create(&format!("profile-e2e-{}-{name}", std::process::id()));
    let dir = scratch(name);
    let out = dir.join("out");
    let pins = Pins::new(name);
    let daemon = Daemon::start(&daemon_args(&root.path, &out, &pins, "300ms", &[]));
    let bundle = paths_bundle(&dir.join("bundle"), "full");
    // What a user whose runtime is crun exports: the flag asked for with --log-denials.
    let bare = write(
        &dir,
        "bare.json",
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["sysinfo"],"action":"SCMP_ACT_ERRNO"}]}"#,
    );
    let output = run(Command::new(profile_bin())
        .args(["export", "--format", "oci", "--log-denials"])
        .arg(&bare));
    assert!(output.status.success(), "{}", describe(&output));
    let profile: Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(
        profile["flags"],
        serde_json::json!(["SECCOMP_FILTER_FLAG_LOG"])
    );
    configure_bundle(&bundle, &profile, None);
    let web = root.child("web");
    // Another audit flood on the machine can overflow the daemon's socket: a record lost so is
    // counted, and the run is made again (each one is one more denial).
    let mut runs = 0;
    loop {
        runs += 1;
        let output = crun(&bundle, &format!("profile-e2e-{name}"), &web);
        assert!(stdout(&output).contains("done"), "{}", describe(&output));
        wait_status(&out, "the exit hook's count", |s| {
            denial(&denials_of(s, "web"), "sysinfo").is_some_and(|d| d["count"] == runs)
        });
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        let status = loop {
            let status = status(&out);
            let audited = denial(&denials_of(&status, "web"), "sysinfo")
                .is_some_and(|d| d["seenBy"] == serde_json::json!(["audit", "kernel"]));
            if audited || std::time::Instant::now() > deadline {
                break audited.then_some(()).ok_or(status);
            }
            std::thread::sleep(Duration::from_millis(100));
        };
        match status {
            Ok(()) => break,
            Err(status) => assert!(
                runs < 3 && status["audit"]["lost"].as_u64() > Some(0),
                "the audit record was not read, and none was lost: {status:#}"
            ),
        }
    }
    let (code, log) = daemon.stop();
    assert_eq!(code, Some(0), "{log}");
    let meta = read_json(&out.join("web.proposed.json.meta"));
    let sysinfo = meta["denials"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["syscall"] == "sysinfo")
        .unwrap();
    assert_eq!(sysinfo["replicas"][0]["exe"], "/bin/busybox", "{meta:#}");
    assert_eq!(sysinfo["count"], runs, "{meta:#}");
}

/// clone3's ENOSYS rule (which every learned profile has when clone3 was not seen) refuses
/// glibc's first try at a thread on purpose: shown, not alerted on, not proposed.
#[test]
fn what_the_profile_blocks_on_purpose_is_expected() {
    let name = "deny-expected";
    let root = TestCgroup::create(&format!("profile-e2e-{}-{name}", std::process::id()));
    let dir = scratch(name);
    let out = dir.join("out");
    let pins = Pins::new(name);
    let daemon = Daemon::start(&daemon_args(&root.path, &out, &pins, "300ms", &[]));
    let (_, learned) = record(
        &format!("{name}-learn"),
        &[],
        &[exerciser().to_str().unwrap(), "tree"],
    );
    let mut fallback = without(&learned, "clone3");
    fallback["syscalls"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!(
            {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}
        ));
    let profile = write(&dir, "fallback.json", &fallback.to_string());
    let script = format!(
        "exec {} run --profile {} -- {} tree",
        profile_bin().display(),
        profile.display(),
        exerciser().display()
    );
    let exit = spawn_in_cgroup(&root.child("app"), &script).wait().unwrap();
    assert!(exit.success());
    wait_status(&out, "clone3 expected", |s| {
        denial(&denials_of(s, "app"), "clone3").is_some_and(|d| d["verdict"] == "expected")
            && s["workloadList"][0]["written"] == true
    });
    let status = status(&out);
    assert_eq!(status["deniedCalls"], 0, "{status:#}");
    let (code, log) = daemon.stop();
    assert_eq!(code, Some(0), "{log}");
    assert!(!out.join("app.proposed.json").exists());
}

/// VmHWM of `pid` in KiB: the most it was resident at once.
fn peak_rss_kib(pid: u32) -> u64 {
    fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .expect("VmHWM")
}

/// A million denials in a loop, logged (profile run's flag), with a SIGKILL of the daemon in
/// the middle: counted exactly, in bounded memory, each workload file rewritten at most once a
/// flush.
#[test]
fn a_million_denials_are_counted_exactly_in_bounded_memory() {
    let _flood = AUDIT_FLOOD
        .write()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let name = "deny-million";
    let root = TestCgroup::create(&format!("profile-e2e-{}-{name}", std::process::id()));
    let dir = scratch(name);
    let out = dir.join("out");
    let pins = Pins::new(name);
    let args = daemon_args(&root.path, &out, &pins, "1s", &[]);
    let daemon = Daemon::start(&args);
    let (_, learned) = record(
        &format!("{name}-learn"),
        &[],
        &[exerciser().to_str().unwrap(), "repeat", "102", "1"],
    );
    let profile = write(&dir, "profile.json", &learned.to_string());
    let calls = 1_000_000;
    let script = format!(
        "exec {} run --profile {} -- {} repeat 110 {calls}",
        profile_bin().display(),
        profile.display(),
        exerciser().display()
    );
    let mut workload = Command::new("/bin/sh")
        .arg("-c")
        .arg(format!(
            "echo $$ > '{}/cgroup.procs' && {script}",
            root.child("loop").display()
        ))
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    wait_status(&out, "denials counted", |s| {
        denial(&denials_of(s, "loop"), "getppid").is_some_and(|d| d["count"].as_u64() > Some(0))
    });
    std::thread::sleep(Duration::from_millis(1500));
    let first_peak = peak_rss_kib(daemon.child.id());
    daemon.kill9();
    let daemon = Daemon::start(&args);
    let output = wait_timeout(&mut workload, Duration::from_secs(600));
    assert!(output.success());
    let mut said = String::new();
    std::io::Read::read_to_string(&mut workload.stdout.take().unwrap(), &mut said).unwrap();
    assert_eq!(said.trim(), format!("refused {calls} of {calls}"));
    wait_status(&out, "every denial counted", |s| {
        denial(&denials_of(s, "loop"), "getppid").is_some_and(|d| d["count"] == calls)
            && s["workloadList"][0]["written"] == true
    });
    let status = status(&out);
    let getppid = denial(&denials_of(&status, "loop"), "getppid")
        .unwrap()
        .clone();
    assert_eq!(getppid["verdict"], "added", "{status:#}");
    assert_eq!(status["deniedCalls"], calls, "{status:#}");
    assert_eq!(status["denialsLost"], 0, "{status:#}");
    // Audit records of the loop were read, and what the source lost is counted, not guessed.
    let audit = &status["audit"];
    assert!(audit["records"].as_u64() > Some(0), "{status:#}");
    assert!(audit["lost"].is_u64(), "{status:#}");
    // One write of the workload per flush at most, however many calls were denied.
    assert!(
        status["profilesWritten"].as_u64() <= status["flushes"].as_u64(),
        "{status:#}"
    );
    let second_peak = peak_rss_kib(daemon.child.id());
    eprintln!(
        "peak RSS {first_peak} KiB before the SIGKILL, {second_peak} KiB after; audit {}",
        audit
    );
    for peak in [first_peak, second_peak] {
        assert!(peak < 50 * 1024, "daemon peaked at {peak} KiB");
    }
    let (code, log) = daemon.stop();
    assert_eq!(code, Some(0), "{log}");
    let meta = read_json(&out.join("loop.json.meta"));
    assert_eq!(meta["replicas"][0]["denied"][0]["kernelCount"], calls);
}
