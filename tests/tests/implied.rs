//! What one recording cannot see (issue 21): calls the kernel and the C library imply, hints,
//! learning across runs, recording as another user. Against the real kernel (root), enforced by
//! `profile run` and by libseccomp.
use std::{
    io::{BufRead, BufReader},
    os::unix::process::ExitStatusExt as _,
    process::{Command, Stdio},
    time::Duration,
};

use tests::*;

/// Installs a SIGUSR1 handler, says so, and sleeps argv[1] seconds; the handler prints "got".
const HANDLER: &str = "import signal, sys, time
signal.signal(signal.SIGUSR1, lambda *a: print('got', flush=True))
print('ready', flush=True)
time.sleep(float(sys.argv[1]))";

fn python_handler(seconds: &str) -> Vec<String> {
    ["/usr/bin/python3", "-c", HANDLER, seconds]
        .map(str::to_owned)
        .to_vec()
}

/// Starts `argv` with stdout piped and returns it once it printed "ready".
fn start_ready(argv: &[String]) -> (std::process::Child, impl BufRead) {
    let mut child = Command::new(&argv[0])
        .args(&argv[1..])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|err| panic!("{argv:?}: {err}"));
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert_eq!(line, "ready\n", "{argv:?}");
    (child, out)
}

/// The first breakage: a handler installed while recording but never run. On its first signal
/// under enforcement, returning from it needs rt_sigreturn (without it: SIGSEGV, exit 139).
#[test]
fn a_handler_never_run_while_recording_returns_under_enforcement() {
    let argv = python_handler("0.1");
    let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
    let (output, profile) = record("handler", &[], &argv);
    assert!(output.status.success(), "{}", describe(&output));
    assert!(!allowed(&profile).is_empty());
    let path = scratch("handler-enforce").join("p.json");
    write_json(&path, &profile);
    std::fs::copy(
        scratch_path("handler").join("profile.json.counts"),
        path.with_extension("json.counts"),
    )
    .unwrap();
    // The control: without the implied calls the handler cannot return.
    let sleep = python_handler("3");
    let sleep: Vec<&str> = sleep.iter().map(String::as_str).collect();
    let (mut child, _) = start_ready(&Enforcer::Ours.argv(&without_implied(&path), None, &sleep));
    signal(child.id(), libc::SIGUSR1);
    let status = wait_timeout(&mut child, Duration::from_secs(20));
    assert_eq!(status.signal(), Some(libc::SIGSEGV), "{status:?}");
    for enforcer in Enforcer::BOTH {
        let sleep = python_handler("3");
        let sleep: Vec<&str> = sleep.iter().map(String::as_str).collect();
        let (mut child, mut out) = start_ready(&enforcer.argv(&path, None, &sleep));
        signal(child.id(), libc::SIGUSR1);
        let status = wait_timeout(&mut child, Duration::from_secs(20));
        let mut rest = String::new();
        std::io::Read::read_to_string(&mut out, &mut rest).unwrap();
        assert!(
            status.success(),
            "{enforcer:?}: {status:?}, stdout {rest:?}"
        );
        assert_eq!(rest, "got\n", "{enforcer:?}");
    }
}

/// The second breakage: `sleep` stopped and continued under its own profile. The kernel resumes
/// the interrupted clock_nanosleep with restart_syscall (without it: exit 1).
#[test]
fn sleep_stopped_and_continued_under_its_profile() {
    let (output, profile) = record("sleep", &[], &["/bin/sleep", "0.1"]);
    assert!(output.status.success(), "{}", describe(&output));
    let path = scratch("sleep-enforce").join("p.json");
    write_json(&path, &profile);
    std::fs::copy(
        scratch_path("sleep").join("profile.json.counts"),
        path.with_extension("json.counts"),
    )
    .unwrap();
    let stopped_and_continued = |enforcer: Enforcer, profile: &std::path::Path| {
        let mut child = enforcer
            .command(profile, None, &["/bin/sleep", "2"])
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(700));
        signal(child.id(), libc::SIGSTOP);
        std::thread::sleep(Duration::from_millis(300));
        signal(child.id(), libc::SIGCONT);
        wait_timeout(&mut child, Duration::from_secs(20))
    };
    // The control: without restart_syscall, the resumed sleep fails.
    let control = stopped_and_continued(Enforcer::Ours, &without_implied(&path));
    assert_eq!(control.code(), Some(1), "{control:?}");
    for enforcer in Enforcer::BOTH {
        let status = stopped_and_continued(enforcer, &path);
        assert!(status.success(), "{enforcer:?}: {status:?}");
    }
}

#[test]
fn implied_calls_are_marked_and_can_be_left_out() {
    let argv = python_handler("0");
    let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
    let (_, profile) = record("implied", &[], &argv);
    let names = allowed(&profile);
    for name in ["restart_syscall", "rt_sigreturn", "clock_gettime", "writev"] {
        assert!(names.contains(name), "{name} missing: {names:?}");
    }
    let counts = read_json(&scratch_path("implied").join("profile.json.counts"));
    let implied = counts["implied"].as_array().expect("implied listed");
    assert!(implied.iter().any(|n| n == "rt_sigreturn"), "{counts:#}");

    let report = run(Command::new(profile_bin())
        .arg("report")
        .arg(scratch_path("implied").join("profile.json")));
    let text = stdout(&report);
    let row = text
        .lines()
        .find(|l| l.starts_with("rt_sigreturn "))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        row.contains(" - ") && row.contains("implied: a signal handler was installed"),
        "{row}"
    );
    assert!(text.contains(" implied\n"), "summary counts them: {text}");
    let json = run(Command::new(profile_bin())
        .arg("report")
        .arg("--json")
        .arg(scratch_path("implied").join("profile.json")));
    let json: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    let row = json["syscalls"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "restart_syscall")
        .unwrap();
    assert_eq!(row["added"], "implied");
    assert!(
        json["hints"].as_array().is_some_and(|h| !h.is_empty()),
        "{json:#}"
    );

    let (_, bare) = record("no-implied", &["--no-implied"], &argv);
    let bare = allowed(&bare);
    for name in ["restart_syscall", "rt_sigreturn"] {
        assert!(!bare.contains(name), "{name} with --no-implied: {bare:?}");
    }

    let table = run(Command::new(profile_bin())
        .args(["record", "--format", "report", "--"])
        .args(&argv));
    let text = stdout(&table);
    assert!(
        text.contains("implied (allowed although not seen; --no-implied leaves them out):")
            && text.contains("\nhints: ")
            && text.contains("  @basic-io "),
        "{}",
        describe(&table)
    );
}

#[test]
fn record_into_merges_runs_into_one_file() {
    require_root();
    let dir = scratch("into");
    let path = dir.join("app.json");
    let exe = exerciser().display().to_string();
    let into = |args: &[&str]| {
        run(Command::new(profile_bin())
            .arg("record")
            .arg("--into")
            .arg(&path)
            .arg("--")
            .arg(&exe)
            .args(args))
    };
    let first = into(&["exit", "0"]);
    assert!(first.status.success(), "{}", describe(&first));
    assert!(!allowed(&read_json(&path)).contains("sysinfo"));
    let second = into(&["tree"]);
    assert!(second.status.success(), "{}", describe(&second));
    let merged = read_json(&path);
    let names = allowed(&merged);
    for name in ["sysinfo", "getpgrp", "exit_group", "restart_syscall"] {
        assert!(names.contains(name), "{name}: {merged:#}");
    }
    let counts = read_json(&dir.join("app.json.counts"));
    // exit 0 and tree: three execs in all (tree's child execs the grandchild).
    assert_eq!(
        counts["counts"]["SCMP_ARCH_X86_64"]["execve"], 3,
        "{counts:#}"
    );

    // A broken profile is refused before anything runs, and left as it was.
    std::fs::write(&path, "{ not json").unwrap();
    let broken = into(&["exit", "0"]);
    assert_refused(&broken, "app.json");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "{ not json");

    let both = run(Command::new(profile_bin()).args([
        "record",
        "--into",
        "a.json",
        "-o",
        "b.json",
        "--",
        "/bin/true",
    ]));
    assert_eq!(both.status.code(), Some(2), "{}", describe(&both));
}

#[test]
fn record_user_runs_the_command_as_that_user() {
    require_root();
    let out = scratch("user").join("p.json");
    let output = run(Command::new(profile_bin())
        .arg("record")
        .arg("-o")
        .arg(&out)
        .args(["--user", "nobody", "--", "/usr/bin/id", "-u"]));
    assert!(output.status.success(), "{}", describe(&output));
    assert_eq!(stdout(&output), "65534\n");
    let names = allowed(&read_json(&out));
    // Through a wrapper these would be recorded (setpriv --reuid makes them after its exec).
    for name in ["setresuid", "setgroups", "setuid", "capset"] {
        assert!(!names.contains(name), "{name}: {names:?}");
    }
    let wrapped = scratch("user-wrapped").join("p.json");
    let output = run(Command::new(profile_bin())
        .arg("record")
        .arg("-o")
        .arg(&wrapped)
        .args([
            "--",
            "setpriv",
            "--reuid=nobody",
            "--clear-groups",
            "/usr/bin/id",
            "-u",
        ]));
    assert!(output.status.success(), "{}", describe(&output));
    let wrapped = allowed(&read_json(&wrapped));
    assert!(wrapped.contains("setgroups"), "{wrapped:?}");

    let unknown = run(Command::new(profile_bin()).args([
        "record",
        "--user",
        "no-such-user-xyz",
        "--",
        "/bin/true",
    ]));
    assert_refused(&unknown, "--user \"no-such-user-xyz\": no such user");
}

#[test]
fn the_profile_on_stdout_never_mixes_with_the_commands_output() {
    require_root();
    let output = run(Command::new(profile_bin()).args(["record", "--", "/bin/echo", "hi"]));
    assert!(output.status.success(), "{}", describe(&output));
    let profile: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|err| {
        panic!(
            "stdout is not the profile alone ({err}): {}",
            describe(&output)
        )
    });
    assert!(allowed(&profile).contains("write"));
    // The command's line, then profile's one-line notice of what it wrote.
    let said = stderr(&output);
    assert!(said.starts_with("hi\nprofile: stdout: "), "{said}");
}
