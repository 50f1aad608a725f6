//! The daemon's end-to-end tests (tests/daemon.rs, tests/faults.rs): cgroups making chosen
//! syscalls, a running `profile daemon` with pins of its own, what it wrote.
use std::{
    collections::{BTreeMap, BTreeSet},
    fs,
    os::unix::{fs::MetadataExt as _, process::CommandExt as _},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::mpsc,
    time::{Duration, Instant},
};

use crate::*;

/// Harmless syscalls (no pointer, or a null one is fine) that the exerciser's own start-up does
/// not make: a cgroup's distinct set is a subset chosen by the bits of a number.
pub const POOL: [(i64, &str); 12] = [
    (110, "getppid"),
    (102, "getuid"),
    (107, "geteuid"),
    (104, "getgid"),
    (108, "getegid"),
    (111, "getpgrp"),
    (124, "getsid"),
    (121, "getpgid"),
    (140, "getpriority"),
    (145, "sched_getscheduler"),
    (100, "times"),
    (36, "getitimer"),
];

pub fn subset(bits: u64) -> Vec<(i64, &'static str)> {
    POOL.iter()
        .enumerate()
        .filter(|(i, _)| bits >> i & 1 == 1)
        .map(|(_, call)| *call)
        .collect()
}

/// Runs the exerciser inside cgroup `dir`, making `calls`, and waits for it.
pub fn run_in(dir: &Path, calls: &[(i64, &str)]) {
    let numbers: Vec<String> = calls.iter().map(|(nr, _)| nr.to_string()).collect();
    let status = spawn_in_cgroup(
        dir,
        &format!("exec {} calls {}", exerciser().display(), numbers.join(" ")),
    )
    .wait()
    .expect("waiting for the exerciser");
    assert!(status.success(), "exerciser in {}: {status}", dir.display());
}

pub fn names(calls: &[(i64, &str)]) -> BTreeSet<String> {
    calls.iter().map(|(_, name)| (*name).to_owned()).collect()
}

pub fn id_of(dir: &Path) -> u64 {
    fs::metadata(dir).expect("cgroup directory").ino()
}

/// A pin directory of its own per test (the default one is the node's), unpinned on drop.
pub struct Pins(pub PathBuf);

impl Pins {
    pub fn new(name: &str) -> Pins {
        Pins(PathBuf::from(format!(
            "/sys/fs/bpf/profile-e2e-{}-{name}",
            std::process::id()
        )))
    }

    pub fn arg(&self) -> String {
        self.0.display().to_string()
    }
}

impl Drop for Pins {
    fn drop(&mut self) {
        let _ = Command::new(profile_bin())
            .args(["daemon", "--unpin", "--pin-dir", &self.arg()])
            .output();
    }
}

/// A running `profile daemon -v`.
pub struct Daemon {
    pub child: Child,
    lines: mpsc::Receiver<String>,
    log: Vec<String>,
}

impl Daemon {
    /// Starts it and returns once its programs count.
    pub fn start(args: &[String]) -> Daemon {
        Daemon::start_with(args, &[])
    }

    /// The same with `env` set (`PROFILE_BPF_VARIANT`).
    pub fn start_with(args: &[String], env: &[(&str, &str)]) -> Daemon {
        let mut daemon = Daemon::spawn_with(args, None, env);
        daemon.wait_ready();
        daemon
    }

    /// Starts it and returns at once.
    pub fn spawn(args: &[String]) -> Daemon {
        Daemon::spawn_with(args, None, &[])
    }

    /// Starts it with at most `nofile` descriptors (RLIMIT_NOFILE), and returns at once.
    pub fn spawn_limited(args: &[String], nofile: Option<u64>) -> Daemon {
        Daemon::spawn_with(args, nofile, &[])
    }

    fn spawn_with(args: &[String], nofile: Option<u64>, env: &[(&str, &str)]) -> Daemon {
        let mut command = Command::new(profile_bin());
        command
            .args(["daemon", "-v"])
            .args(args)
            .envs(env.iter().copied())
            .stderr(Stdio::piped());
        if let Some(limit) = nofile {
            let limit = libc::rlimit {
                rlim_cur: limit,
                rlim_max: limit,
            };
            // SAFETY: only setrlimit, which is async-signal-safe, between fork and exec.
            unsafe {
                command.pre_exec(move || {
                    if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) == 0 {
                        Ok(())
                    } else {
                        Err(std::io::Error::last_os_error())
                    }
                });
            }
        }
        let mut child = command.spawn().expect("starting profile daemon");
        let lines = lines_of(child.stderr.take().expect("piped"));
        Daemon {
            child,
            lines,
            log: Vec::new(),
        }
    }

    /// Returns once its programs count (it says so), within 30 s.
    pub fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match self
                .lines
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            {
                Ok(line) => {
                    let ready = line.contains("info: daemon: ");
                    self.log.push(line);
                    if ready {
                        return;
                    }
                }
                Err(_) => {
                    let _ = self.child.kill();
                    let status = self.child.wait();
                    panic!(
                        "profile daemon did not start ({status:?}):\n{}",
                        self.log.join("\n")
                    );
                }
            }
        }
    }

    pub fn text(&mut self) -> String {
        self.log.extend(self.lines.try_iter());
        self.log.join("\n")
    }

    /// Waits (at most a minute) until `done` holds for its log.
    pub fn wait_log(&mut self, what: &str, done: impl Fn(&str) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !done(&self.text()) {
            assert!(
                Instant::now() < deadline,
                "daemon: no {what}:\n{}",
                self.text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn kill9(mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.text()
    }

    /// SIGTERM; its exit code and log.
    pub fn stop(mut self) -> (Option<i32>, String) {
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let status = self.child.wait().expect("waiting for the daemon");
        self.log.extend(self.lines.iter());
        (status.code(), self.log.join("\n"))
    }
}

impl Drop for Daemon {
    /// A daemon a failed test left running is killed (its pins go with the test's `Pins`).
    fn drop(&mut self) {
        if self.child.try_wait().is_ok_and(|status| status.is_none()) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

pub fn daemon_args(
    root: &Path,
    out: &Path,
    pins: &Pins,
    flush: &str,
    extra: &[&str],
) -> Vec<String> {
    let socket = out.with_extension("sock");
    let mut args: Vec<String> = [
        "--cgroup-root",
        &root.display().to_string(),
        "--out-dir",
        &out.display().to_string(),
        "--flush-interval",
        flush,
        "--no-after-seccomp",
        "--pin-dir",
        &pins.arg(),
        "--control-socket",
        &socket.display().to_string(),
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    args.extend(extra.iter().map(|a| (*a).to_owned()));
    args
}

pub fn status(out: &Path) -> serde_json::Value {
    let output = run(Command::new(profile_bin()).args([
        "status",
        "--json",
        "--control-socket",
        &out.with_extension("sock").display().to_string(),
    ]));
    assert!(output.status.success(), "{}", describe(&output));
    serde_json::from_str(&stdout(&output)).expect("status JSON")
}

/// Waits (at most a minute) until the daemon's status satisfies `done`.
pub fn wait_status(out: &Path, what: &str, done: impl Fn(&serde_json::Value) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let status = status(out);
        if done(&status) {
            return;
        }
        assert!(Instant::now() < deadline, "no {what}: {status:#}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Every profile in `out` parses (as `profile check` reads it) and every meta file is JSON;
/// returns cgroup id → the profile's file.
pub fn profiles_by_cgroup(out: &Path) -> BTreeMap<u64, PathBuf> {
    let mut by_id = BTreeMap::new();
    for entry in fs::read_dir(out).expect("output dir").flatten() {
        let path = entry.path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let text = fs::read_to_string(&path).unwrap();
        if let Some(stem) = name.strip_suffix(".json.meta") {
            let meta: serde_json::Value = serde_json::from_str(&text)
                .unwrap_or_else(|err| panic!("{}: {err}", path.display()));
            for replica in meta["replicas"].as_array().expect("replicas") {
                let id = replica["cgroupId"].as_u64().expect("cgroupId");
                by_id.insert(id, out.join(format!("{stem}.json")));
            }
        } else if name.ends_with(".json") {
            profiler::profile::parse(&text, &name)
                .unwrap_or_else(|err| panic!("{}: {err}\n{text}", path.display()));
        }
    }
    by_id
}

pub fn allowed_in(path: &Path) -> BTreeSet<String> {
    allowed(&read_json(path))
}

/// What the exerciser's start-up (and the shell that moves it) makes, checked to share nothing
/// with the pool.
pub fn baseline(profile: &Path) -> BTreeSet<String> {
    let base = allowed_in(profile);
    let pool = names(&POOL);
    assert!(
        base.is_disjoint(&pool),
        "the exerciser's start-up makes pool syscalls: {:?}",
        base.intersection(&pool).collect::<Vec<_>>()
    );
    base
}

/// A tmpfs of `size` at `dir`, unmounted on drop.
pub struct Tmpfs(pub PathBuf);

impl Tmpfs {
    pub fn mount(dir: &Path, options: &str) -> Tmpfs {
        fs::create_dir_all(dir).unwrap();
        let output = run(Command::new("mount")
            .args(["-t", "tmpfs", "-o", options, "tmpfs"])
            .arg(dir));
        assert!(output.status.success(), "{}", describe(&output));
        Tmpfs(dir.to_owned())
    }

    pub fn remount(&self, options: &str) {
        let output = run(Command::new("mount")
            .args(["-o", &format!("remount,{options}")])
            .arg(&self.0));
        assert!(output.status.success(), "{}", describe(&output));
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).output();
    }
}

pub fn calls_in(profile: &Path, calls: &[(i64, &str)]) -> bool {
    names(calls).is_subset(&allowed_in(profile))
}
