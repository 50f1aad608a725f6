//! Faults and hostile neighbours (root, real kernel, real faults): the output directory removed,
//! a full disk, a read-only file system, a local client exhausting descriptors, two daemons on
//! one pin directory, each with a SIGKILL in the middle: every profile on disk ends up with
//! exactly what the workloads did. And every writer checks its destination before the work,
//! keeps what it could not write, and bounded inputs stay bounded.
use std::{
    collections::{BTreeMap, BTreeSet},
    fs,
    io::Read as _,
    os::unix::{fs::PermissionsExt as _, process::ExitStatusExt as _},
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use tests::{daemon::*, *};

/// Cgroups below a test root, each making its own subset of the pool; what each must end with.
struct Workloads {
    root: TestCgroup,
    /// Cgroup id → the pool calls it made.
    expected: BTreeMap<u64, BTreeSet<String>>,
    /// Cgroup id → its directory (removed or not).
    dirs: BTreeMap<u64, PathBuf>,
    base: Option<u64>,
    next: u64,
}

impl Workloads {
    fn new(name: &str) -> Workloads {
        Workloads {
            root: TestCgroup::create(&format!("profile-e2e-{}-{name}", std::process::id())),
            expected: BTreeMap::new(),
            dirs: BTreeMap::new(),
            base: None,
            next: 1,
        }
    }

    /// The cgroup whose profile is the exerciser's start-up alone (once a daemon counts).
    fn base(&mut self) {
        let base = self.root.child("base");
        run_in(&base, &[]);
        self.expected.insert(id_of(&base), BTreeSet::new());
        self.base = Some(id_of(&base));
        self.dirs.insert(id_of(&base), base);
    }

    /// A new cgroup `name` making a fresh subset of the pool, removed afterwards when `remove`.
    fn add(&mut self, name: &str, remove: bool) -> u64 {
        let dir = self.root.child(name);
        let calls = subset(self.next * 0x9e5 % 4095 + 1);
        self.next += 1;
        run_in(&dir, &calls);
        let id = id_of(&dir);
        self.expected.insert(id, names(&calls));
        if remove {
            fs::remove_dir(&dir).expect("rmdir");
        }
        self.dirs.insert(id, dir);
        id
    }

    /// More calls in the live cgroup `id`.
    fn more(&mut self, id: u64) {
        let calls = subset(self.next * 0x3b1 % 4095 + 1);
        self.next += 1;
        run_in(&self.dirs[&id], &calls);
        self.expected.get_mut(&id).unwrap().extend(names(&calls));
    }

    fn path(&self) -> &Path {
        &self.root.path
    }

    /// Every cgroup of `ids` has a profile in `out` allowing exactly its calls (and the start-up's).
    fn check(&self, out: &Path, ids: impl IntoIterator<Item = u64>, log: &str) {
        let by_id = profiles_by_cgroup(out);
        let base = by_id
            .get(&self.base.expect("a base cgroup"))
            .unwrap_or_else(|| panic!("no profile of base in {}:\n{log}", out.display()));
        let base = baseline(base);
        for id in ids {
            let profile = by_id
                .get(&id)
                .unwrap_or_else(|| panic!("no profile for cgroup {id}:\n{log}"));
            let want: BTreeSet<String> = base.union(&self.expected[&id]).cloned().collect();
            assert_eq!(
                allowed_in(profile),
                want,
                "cgroup {id}: {}\n{log}",
                profile.display()
            );
        }
    }

    fn all(&self) -> Vec<u64> {
        self.expected.keys().copied().collect()
    }
}

/// A test's cgroups, output directory (`out`, not created), pins and daemon arguments.
fn scene(name: &str, flush: &str, extra: &[&str]) -> (Workloads, PathBuf, Pins, Vec<String>) {
    let w = Workloads::new(name);
    let out = scratch(name).join("out");
    let pins = Pins::new(name);
    let args = daemon_args(w.path(), &out, &pins, flush, extra);
    (w, out, pins, args)
}

fn files_in(dir: &Path) -> BTreeSet<String> {
    fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Waits (at most a minute) for `done`.
fn wait_for(what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(Instant::now() < deadline, "no {what} within a minute");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The output directory removed under a running daemon: created again, and every profile (the
/// unchanged ones and those of removed cgroups, whose kernel entries were freed) written again;
/// a SIGKILL after that loses nothing.
#[test]
fn a_removed_output_dir_is_created_again_and_refilled() {
    let (mut w, out, _pins, args) = scene("faultrm", "200ms", &[]);
    let mut daemon = Daemon::start(&args);
    w.base();
    let live: Vec<u64> = (0..6).map(|i| w.add(&format!("live{i}"), false)).collect();
    for i in 0..6 {
        w.add(&format!("gone{i}"), true);
    }
    // Removed cgroups are written, then their kernel entries freed.
    wait_status(&out, "entries of removed cgroups freed", |s| {
        s["mapEntries"] == 7 && s["workloads"] == 13 && s["writeErrors"] == 0
    });
    fs::remove_dir_all(&out).unwrap();
    wait_for("the output directory refilled", || {
        files_in(&out)
            .iter()
            .filter(|f| f.ends_with(".json"))
            .count()
            == 13
            && files_in(&out)
                .iter()
                .filter(|f| f.ends_with(".meta"))
                .count()
                == 13
    });
    w.more(live[0]);
    w.check(
        &out,
        w.all().into_iter().filter(|id| *id != live[0]),
        &daemon.text(),
    );
    let log = daemon.kill9();
    assert!(log.contains("was gone: created it again"), "{log}");
    w.more(live[1]);
    let (code, log) = Daemon::start(&args).stop();
    assert_eq!(code, Some(0), "{log}");
    w.check(&out, w.all(), &log);
}

/// The output directory removed and something else put in its place: nothing can be written,
/// so SIGTERM exits 1 naming what is not on disk, and every kernel entry stays; the next daemon,
/// once the directory can be made, writes all that the kernel kept.
#[test]
fn an_output_dir_that_cannot_be_made_exits_1_and_the_kernel_keeps_the_rest() {
    let (mut w, out, _pins, args) = scene("faultblock", "200ms", &[]);
    let daemon = Daemon::start(&args);
    w.base();
    let written = w.add("written", true);
    let live = w.add("live", false);
    wait_status(&out, "the first profiles", |s| {
        s["mapEntries"] == 2 && s["workloads"] == 3 && s["writeErrors"] == 0
    });
    // Unchanged since: only what is missing from disk tells the daemon to write again.
    fs::remove_dir_all(&out).unwrap();
    fs::write(&out, "not a directory").unwrap();
    let (code, log) = daemon.stop();
    assert_eq!(code, Some(1), "{log}");
    assert!(log.contains("could not be written"), "{log}");

    // Still blocked: calls in the live cgroup, a cgroup that comes and goes; SIGKILL.
    let daemon = Daemon::start(&args);
    w.more(live);
    let transient = w.add("transient", true);
    // Seen removed (named after its id: it came and went between two scans), not written, so
    // not freed.
    wait_status(&out, "the transient cgroup seen removed", |s| {
        s["writeErrors"].as_u64() > Some(0)
            && s["workloads"] == 3
            && s["workloadList"]
                .as_array()
                .is_some_and(|list| list.iter().any(|w| w["live"] == 0))
    });
    let blocked = status(&out);
    assert!(blocked["lastError"].is_string(), "{blocked:#}");
    // The transient cgroup's entry stays in the kernel: its profile is not on disk.
    assert_eq!(blocked["mapEntries"], 3, "{blocked:#}");
    let log = daemon.kill9();

    fs::remove_file(&out).unwrap();
    let (code, log2) = Daemon::start(&args).stop();
    assert_eq!(code, Some(0), "{log}\n{log2}");
    // What the operator deleted with the directory (the removed cgroup's profile, whose entry
    // was freed once it was written) is gone; everything the kernel held is back.
    let by_id = profiles_by_cgroup(&out);
    assert!(!by_id.contains_key(&written));
    w.check(&out, [live, transient], &log2);
}

/// A fault of the output directory while cgroups come and go, repaired under the running
/// daemon (which writes everything, frees what it may and shows no error any more), then again
/// with a SIGKILL during it: the next daemon writes everything.
fn fault_then_sigkill(
    name: &str,
    tmpfs_options: &str,
    fault: impl Fn(&Tmpfs, &Path),
    repair: impl Fn(&Tmpfs, &Path),
    message: &str,
) {
    let (mut w, out, _pins, args) = scene(name, "200ms", &[]);
    let tmpfs = Tmpfs::mount(&out, tmpfs_options);
    let mut daemon = Daemon::start(&args);
    w.base();
    let live = w.add("live", false);
    w.add("before", true);
    wait_status(&out, "the first profiles", |s| {
        s["mapEntries"] == 2 && s["workloads"] == 3 && s["writeErrors"] == 0
    });
    // Everything written, removed cgroups' entries freed after that, and no error shown.
    let settled = |workloads: usize| {
        move |s: &serde_json::Value| {
            s["workloadList"].as_array().is_some_and(|list| {
                list.len() == workloads && list.iter().all(|w| w["written"] == true)
            }) && s["mapEntries"] == 2
                && s.get("lastError").is_none()
        }
    };
    let mut log = String::new();
    for (round, workloads) in [(0, 4), (1, 5)] {
        fault(&tmpfs, &out);
        w.more(live);
        w.add(&format!("during{round}"), true);
        // The error shown, and the removed cgroup's entry kept until its profile is on disk.
        wait_status(&out, message, |s| {
            s["lastError"].as_str().is_some_and(|e| e.contains(message))
                && s["mapEntries"] == 3
                && s["workloadList"]
                    .as_array()
                    .is_some_and(|list| list.len() == workloads)
        });
        if round == 1 {
            log = daemon.kill9();
            repair(&tmpfs, &out);
            daemon = Daemon::start(&args);
        } else {
            repair(&tmpfs, &out);
        }
        wait_status(&out, "everything written again", settled(workloads));
    }
    let (code, log2) = {
        let text = daemon.text();
        let (code, rest) = daemon.stop();
        (code, format!("{text}\n{rest}"))
    };
    assert_eq!(code, Some(0), "{log}\n{log2}");
    w.check(&out, w.all(), &log2);
}

#[test]
fn a_full_disk_and_a_sigkill_lose_nothing() {
    fault_then_sigkill(
        "faultfull",
        "size=256k",
        |_, out| {
            let _ = Command::new("dd")
                .args(["if=/dev/zero", "bs=4k"])
                .arg(format!("of={}", out.join("filler").display()))
                .output();
        },
        |_, out| fs::remove_file(out.join("filler")).unwrap(),
        "No space left on device",
    );
}

#[test]
fn a_read_only_file_system_and_a_sigkill_lose_nothing() {
    fault_then_sigkill(
        "faultro",
        "size=1m",
        |tmpfs, _| tmpfs.remount("ro"),
        |tmpfs, _| tmpfs.remount("rw"),
        "Read-only file system",
    );
}

/// Opens and holds as many connections to the metrics port as it can, as user nobody, forever.
const FLOOD: &str = r#"
import socket, sys, time
held = []
print("flooding", flush=True)
while True:
    try:
        held.append(socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=0.2))
    except OSError:
        for s in held[: len(held) // 2]:
            s.close()
        del held[: len(held) // 2]
        time.sleep(0.005)
"#;

/// A child killed and reaped when dropped (also when a test fails).
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn open_fds(pid: u32) -> usize {
    fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |fds| fds.count())
}

/// A local user floods the metrics port: the daemon's descriptors stay few, every profile is
/// written under its path's name, no live cgroup is taken for removed, `profile status` answers;
/// a SIGKILL and a restart under the flood lose nothing.
#[test]
fn a_hostile_local_client_cannot_exhaust_the_daemon() {
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let (mut w, out, _pins, args) = scene("faultfd", "200ms", &["--listen", &listen]);
    // A small descriptor limit, as a service manager may set: what a flood would exhaust.
    let mut daemon = Daemon::spawn_limited(&args, Some(256));
    daemon.wait_ready();
    w.base();
    let mut flood = Killed(
        Command::new("prlimit")
            .args([
                "--nofile=8192:8192",
                "setpriv",
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
            ])
            .args(["/usr/bin/python3", "-c", FLOOD, &port.to_string()])
            .stdout(Stdio::piped())
            .spawn()
            .expect("starting the flood"),
    );
    let mut said = [0u8; 8];
    flood
        .0
        .stdout
        .as_mut()
        .unwrap()
        .read_exact(&mut said)
        .unwrap();
    std::thread::sleep(Duration::from_secs(3));
    let mut most = 0;
    let mut live = Vec::new();
    for i in 0..4 {
        live.push(w.add(&format!("live{i}"), false));
        w.add(&format!("gone{i}"), true);
        most = most.max(open_fds(daemon.child.id()));
    }
    wait_status(&out, "every profile written under the flood", |s| {
        s["workloads"] == 9 && s["mapEntries"] == 5
    });
    most = most.max(open_fds(daemon.child.id()));
    assert!(most < 100, "the daemon held {most} descriptors");
    // Named by path, live ones not taken for removed.
    for id in &live {
        let profile = profiles_by_cgroup(&out)[id].clone();
        let meta = read_json(&profile.with_extension("json.meta"));
        let replica = &meta["replicas"][0];
        assert_eq!(replica["removed"], false, "{meta:#}");
        assert!(
            !profile.to_string_lossy().contains("cgroup-"),
            "{}",
            profile.display()
        );
    }
    let log = daemon.kill9();
    w.more(live[0]);
    let mut daemon = Daemon::spawn_limited(&args, Some(256));
    daemon.wait_ready();
    w.more(live[1]);
    std::thread::sleep(Duration::from_secs(1));
    let (code, log2) = daemon.stop();
    drop(flood);
    assert_eq!(code, Some(0), "{log}\n{log2}");
    assert!(!log2.contains("Too many open files"), "{log2}");
    w.check(&out, w.all(), &log2);
}

/// Two daemons on one pin directory, as an update that starts the new one first: the second
/// waits (the kernel counts meanwhile), takes over when the first is killed, and every profile
/// is complete; a third one stopped while waiting leaves the running one alone.
#[test]
fn two_daemons_on_one_pin_dir_take_turns_and_lose_nothing() {
    let (mut w, out, _pins, args) = scene("faulttwo", "100ms", &[]);
    let first = Daemon::start(&args);
    w.base();
    let mut second = Daemon::spawn(&args);
    second.wait_log("waiting", |log| log.contains("another daemon holds"));
    let live = w.add("live", false);
    for i in 0..5 {
        w.add(&format!("gone{i}"), true);
    }
    w.more(live);
    std::thread::sleep(Duration::from_millis(300));
    let log1 = first.kill9();
    w.add("between", true);
    second.wait_ready();
    w.more(live);
    w.add("after", true);

    let mut third = Daemon::spawn(&args);
    third.wait_log("waiting", |log| log.contains("another daemon holds"));
    let (code, log3) = third.stop();
    assert_eq!(code, Some(0), "{log3}");
    // The running daemon's control socket is untouched.
    status(&out);

    std::thread::sleep(Duration::from_millis(500));
    let (code, log2) = second.stop();
    assert_eq!(code, Some(0), "{log1}\n{log2}");
    assert!(log2.contains("adopted the pinned programs"), "{log2}");
    w.check(&out, w.all(), &format!("{log1}\n{log2}"));
}

/// Runs `cmd`, killed after 20 s: a daemon that should have refused to start does not hang the
/// test.
fn run_briefly(cmd: &mut Command) -> std::process::Output {
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id() as i32;
    let (done, timer) = std::sync::mpsc::channel::<()>();
    let killer = std::thread::spawn(move || {
        if timer.recv_timeout(Duration::from_secs(20)).is_err() {
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    });
    let output = child.wait_with_output().unwrap();
    let _ = done.send(());
    killer.join().unwrap();
    output
}

/// The control socket: a regular file there is refused and left alone, and so is a live
/// daemon's socket (nothing is pinned by the refused daemon); a socket a killed daemon left is
/// replaced. `profile status` into a closed pipe ends quietly.
#[test]
fn the_control_socket_is_never_taken_from_its_owner() {
    let (w, out, pins, args) = scene("faultsock", "1s", &[]);
    let socket = out.with_extension("sock");
    fs::write(&socket, "precious").unwrap();
    let output = run_briefly(Command::new(profile_bin()).arg("daemon").args(&args));
    assert_refused(&output, "is not a socket");
    assert_eq!(fs::read_to_string(&socket).unwrap(), "precious");
    assert!(!pins.0.join("v1").exists(), "nothing may be pinned");
    fs::remove_file(&socket).unwrap();

    let running = Daemon::start(&args);
    let other = Pins::new("faultsock2");
    let output = run_briefly(Command::new(profile_bin()).arg("daemon").args(daemon_args(
        w.path(),
        &out,
        &other,
        "1s",
        &[],
    )));
    assert_refused(&output, "another daemon answers there");
    assert!(!other.0.join("v1").exists(), "nothing may be pinned");
    status(&out);

    // Stdout closed before anything is written: EPIPE, a quiet exit.
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let output = run(Command::new(profile_bin())
        .args(["status", "--control-socket", &socket.display().to_string()])
        .stdout(writer));
    assert_eq!(output.status.code(), Some(141), "{}", describe(&output));
    assert!(output.stderr.is_empty(), "{}", describe(&output));

    running.kill9();
    assert!(socket.exists());
    let (code, log) = Daemon::start(&args).stop();
    assert_eq!(code, Some(0), "{log}");
    assert!(!socket.exists(), "removed on exit");
}

/// `record -o` into a place that cannot take the profile fails before the command runs: a
/// missing directory, a directory in the file's place, a read-only or full file system; with
/// --pid and --duration too.
#[test]
fn record_checks_its_destination_before_the_work() {
    require_root();
    let dir = scratch("recorddest");
    let ro = Tmpfs::mount(&dir.join("ro"), "size=1m");
    ro.remount("ro");
    let _full = Tmpfs::mount(&dir.join("full"), "size=64k");
    let _ = Command::new("dd")
        .args(["if=/dev/zero", "bs=4k"])
        .arg(format!("of={}", dir.join("full/filler").display()))
        .output();
    fs::create_dir(dir.join("taken.json")).unwrap();
    let marker = dir.join("ran");
    let cases = [
        (dir.join("no/such/dir/x.json"), "No such file or directory"),
        (dir.join("taken.json"), "Is a directory"),
        (dir.join("ro/x.json"), "Read-only file system"),
        (dir.join("full/x.json"), "No space left on device"),
    ];
    for (path, reason) in &cases {
        let output = run(Command::new(profile_bin())
            .args(["record", "-o"])
            .arg(path)
            .args(["--", "/bin/touch"])
            .arg(&marker));
        assert_refused(&output, reason);
        assert!(stderr(&output).contains(&path.display().to_string()));
        assert!(!marker.exists(), "the command ran: {}", describe(&output));
        // The OS error once, not twice.
        assert_eq!(
            stderr(&output).matches(reason).count(),
            1,
            "{}",
            describe(&output)
        );
    }
    let mut sleeper = Command::new("sleep").arg("30").spawn().unwrap();
    let started = Instant::now();
    let output = run(Command::new(profile_bin())
        .args([
            "record",
            "--duration",
            "20s",
            "--pid",
            &sleeper.id().to_string(),
            "-o",
        ])
        .arg(&cases[2].0));
    let _ = sleeper.kill();
    let _ = sleeper.wait();
    assert_refused(&output, "Read-only file system");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "it recorded first"
    );
    let leftovers: Vec<_> = files_in(&dir.join("full"))
        .into_iter()
        .filter(|f| f != "filler")
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

/// A destination that goes away while recording: the recording is kept aside and the error
/// says where; with --cgroup-root one file that cannot be written does not stop the others.
#[test]
fn record_keeps_what_it_could_not_write() {
    require_root();
    let dir = scratch("recordkeep");
    let gone = dir.join("gone");
    fs::create_dir(&gone).unwrap();
    let output = run(Command::new(profile_bin())
        .args(["record", "-o"])
        .arg(gone.join("app.json"))
        .args(["--", "/bin/rmdir"])
        .arg(&gone));
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    let text = stderr(&output);
    let kept = text
        .split("the recording is kept in ")
        .nth(1)
        .and_then(|rest| rest.split(" (move it into place)").next())
        .unwrap_or_else(|| panic!("where is it kept? {text}"));
    let profile = read_json(Path::new(kept));
    assert!(allowed(&profile).contains("rmdir"), "{profile:#}");
    fs::remove_file(kept).unwrap();

    let root = TestCgroup::create(&format!("profile-e2e-{}-recordkeep", std::process::id()));
    let out = dir.join("profiles");
    fs::create_dir_all(out.join("b.json")).unwrap();
    let recorder = Recorder::start(&[
        "--cgroup-root",
        &root.path.display().to_string(),
        "--out-dir",
        &out.display().to_string(),
        "--no-after-seccomp",
    ]);
    for name in ["a", "b", "c"] {
        run_in(&root.child(name), &[POOL[0]]);
    }
    let (code, log) = recorder.finish(true);
    assert_eq!(code, Some(2), "{log}");
    assert!(
        log.contains("1 of 3 profiles could not be written"),
        "{log}"
    );
    for name in ["a", "c"] {
        assert!(
            allowed_in(&out.join(format!("{name}.json"))).contains("getppid"),
            "{log}"
        );
    }
    let kept = log
        .split("the recording is kept in ")
        .nth(1)
        .and_then(|rest| rest.split(" (move it into place)").next())
        .unwrap_or_else(|| panic!("where is b kept? {log}"));
    assert!(allowed_in(Path::new(kept)).contains("getppid"));
    fs::remove_file(kept).unwrap();
}

/// Durations too long to add to now are refused up front, not a panic after the work.
#[test]
fn huge_durations_are_clean_errors() {
    require_root();
    let huge = "18446744073709551615s";
    for args in [
        vec!["record", "--linger", huge, "--", "/bin/true"],
        vec!["record", "--duration", huge, "--pid", "1"],
        vec!["audit", "--duration", huge, "--source", "file:/dev/null"],
    ] {
        let output = run(Command::new(profile_bin()).args(&args));
        assert_refused(&output, "longer than 100 years");
        assert!(
            !stderr(&output).contains("panicked"),
            "{}",
            describe(&output)
        );
    }
}

/// An endless audit source is read in bounded memory until a signal; a last line without its
/// newline counts.
#[test]
fn audit_reads_in_bounded_memory_and_counts_a_last_line() {
    require_root();
    let mut child = Command::new(profile_bin())
        .args(["audit", "--source", "file:/dev/zero", "--format", "report"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(3));
    let status = fs::read_to_string(format!("/proc/{}/status", child.id())).unwrap();
    let rss_kib: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap();
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let exit = child.wait().unwrap();
    let mut text = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut text)
        .unwrap();
    assert!(rss_kib < 64 * 1024, "{rss_kib} KiB after 3 s of /dev/zero");
    assert_eq!(exit.code(), Some(0), "{exit:?} {:?}: {text}", exit.signal());
    assert!(text.contains("1 malformed record lines"), "{text}");

    let dir = scratch("auditlast");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let record = |serial: u32, nr: u32| {
        format!("type=SECCOMP msg=audit({now}.100:{serial}): pid=1 comm=\"init\" exe=\"/sbin/init\" sig=0 arch=c000003e syscall={nr} compat=0 ip=0x1 code=0x7ffc0000")
    };
    let log = write(
        &dir,
        "audit.log",
        &format!("{}\n{}", record(1, 39), record(2, 110)),
    );
    let output = run(Command::new(profile_bin())
        .args(["audit", "--source"])
        .arg(format!("file:{}", log.display())));
    assert!(output.status.success(), "{}", describe(&output));
    let profile: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        allowed(&profile),
        BTreeSet::from(["getpid".to_owned(), "getppid".to_owned()])
    );
}

/// Small ones: a file name near NAME_MAX is written; `install --name` with a newline is refused.
#[test]
fn long_names_and_control_characters() {
    require_root();
    let dir = scratch("names");
    let input = write(
        &dir,
        "in.json",
        r#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW"}]}"#,
    );
    let long = dir.join(format!("{}.json", "p".repeat(245)));
    let output = run(Command::new(profile_bin())
        .args(["stage"])
        .arg(&input)
        .arg("-o")
        .arg(&long));
    assert!(output.status.success(), "{}", describe(&output));
    assert!(long.is_file());

    let kubelet = dir.join("kubelet");
    let output = run(Command::new(profile_bin())
        .args(["install"])
        .arg(&input)
        .args(["--name", "a\nb", "--kubelet-dir"])
        .arg(&kubelet));
    assert_refused(&output, "control character");
    assert!(!kubelet.join("profiles").exists() || files_in(&kubelet.join("profiles")).is_empty());
    let _ = fs::set_permissions(&dir, fs::Permissions::from_mode(0o755));
}
