//! Helpers for the end-to-end tests, which run the real `profile` binary as root against the
//! running kernel. Tests panic with context rather than return errors.
pub mod daemon;
pub mod meaning;

use std::{
    collections::BTreeSet,
    path::{Path, PathBuf},
    process::{Command, Output},
};

/// `target/<profile>/`, where cargo put both the test binary's deps and the `profile` binary.
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    // target/<profile>/deps/<test> → target/<profile>
    exe.parent()
        .and_then(Path::parent)
        .expect("test binary lives in target/<profile>/deps")
        .to_owned()
}

fn built(name: &str) -> PathBuf {
    let bin = target_dir().join(name);
    assert!(
        bin.is_file(),
        "{} is missing: run `cargo xtask test`, which builds it",
        bin.display()
    );
    bin
}

pub fn profile_bin() -> PathBuf {
    built("profile")
}

/// The test program of `src/bin/exerciser.rs`.
pub fn exerciser() -> PathBuf {
    built("exerciser")
}

/// The end-to-end tests load eBPF programs and seccomp filters: they need root.
pub fn require_root() {
    assert_eq!(
        unsafe { libc::geteuid() },
        0,
        "the end-to-end tests need root (`cargo xtask test` as root)"
    );
}

/// Where [`scratch`] puts the directory called `name`, without touching it.
pub fn scratch_path(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("profile-e2e-{}-{name}", std::process::id()))
}

/// A scratch directory unique to one test, created empty.
pub fn scratch(name: &str) -> PathBuf {
    let dir = scratch_path(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

pub fn run(cmd: &mut Command) -> Output {
    let output = cmd
        .output()
        .unwrap_or_else(|err| panic!("running {cmd:?}: {err}"));
    output
}

pub fn describe(output: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Runs `profile record -o OUT [extra…] -- command…` and returns its output and the profile.
pub fn record(name: &str, extra: &[&str], command: &[&str]) -> (Output, serde_json::Value) {
    require_root();
    let out = scratch(name).join("profile.json");
    let output = run(Command::new(profile_bin())
        .args(["record", "-o"])
        .arg(&out)
        .args(extra)
        .arg("--")
        .args(command));
    let text = std::fs::read_to_string(&out).unwrap_or_else(|err| {
        panic!(
            "no profile at {}: {err}\n{}",
            out.display(),
            describe(&output)
        )
    });
    let json =
        serde_json::from_str(&text).unwrap_or_else(|err| panic!("bad JSON ({err}):\n{text}"));
    (output, json)
}

/// Names allowed by a profile's SCMP_ACT_ALLOW rules.
pub fn allowed(profile: &serde_json::Value) -> BTreeSet<String> {
    profile["syscalls"]
        .as_array()
        .expect("syscalls array")
        .iter()
        .filter(|rule| rule["action"] == "SCMP_ACT_ALLOW")
        .flat_map(|rule| rule["names"].as_array().expect("names").iter())
        .map(|name| name.as_str().expect("name string").to_owned())
        .collect()
}

/// The rules of a profile that name `name`, whatever their action.
pub fn rules_naming<'a>(profile: &'a serde_json::Value, name: &str) -> Vec<&'a serde_json::Value> {
    profile["syscalls"]
        .as_array()
        .expect("syscalls array")
        .iter()
        .filter(|rule| {
            rule["names"]
                .as_array()
                .expect("names")
                .iter()
                .any(|n| n == name)
        })
        .collect()
}

pub fn architectures(profile: &serde_json::Value) -> Vec<String> {
    profile["architectures"]
        .as_array()
        .expect("architectures array")
        .iter()
        .map(|a| a.as_str().expect("arch string").to_owned())
        .collect()
}

/// The syscall names `strace -f` sees a command make, from its first execve on.
pub fn strace_names(name: &str, command: &[&str]) -> BTreeSet<String> {
    let log = scratch(name).join("strace.log");
    let output = run(Command::new("strace")
        .args(["-f", "-qq", "-o"])
        .arg(&log)
        .args(command));
    assert!(
        output.status.success(),
        "strace {command:?}: {}",
        describe(&output)
    );
    let text = std::fs::read_to_string(&log).expect("strace log");
    text.lines()
        .filter_map(|line| {
            // "PID name(args…" – a call, finished or not. Resumed and signal lines do not
            // start with a name followed by '('.
            let rest = line.split_once(' ')?.1.trim_start();
            let (name, _) = rest.split_once('(')?;
            name.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_')
                .then(|| name.to_owned())
        })
        .collect()
}

/// Path of the test scripts.
pub fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scripts")
        .join(name)
}

/// `seccomp_exec.py PROFILE` (then `--drop NAME`…, `--` and a command): the command under
/// libseccomp's filter of PROFILE. Python's C-locale coercion (PEP 538) is off: in an environment
/// without a locale it would set LC_CTYPE=C.UTF-8 for the command, which then loads the locale
/// and makes calls its recording (without that variable) never saw.
pub fn libseccomp_exec(profile: &Path) -> Command {
    let mut cmd = Command::new("/usr/bin/python3");
    cmd.env("PYTHONCOERCECLOCALE", "0")
        .arg(script("seccomp_exec.py"))
        .arg(profile);
    cmd
}

/// Asserts that the command refused its input: exit status 2 and `needle` in what it said.
#[track_caller]
pub fn assert_refused(output: &Output, needle: &str) {
    assert_eq!(output.status.code(), Some(2), "{}", describe(output));
    assert!(
        stderr(output).contains(needle),
        "{needle:?} not in: {}",
        describe(output)
    );
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Writes `text` to `dir/name` and returns the path.
pub fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// A `profile record …` running in the background (not a command target), started with `-v` so
/// that it says when its programs are attached.
pub struct Recorder {
    child: std::process::Child,
    stderr: std::sync::mpsc::Receiver<String>,
    log: Vec<String>,
}

impl Recorder {
    /// Starts `profile record -v ARGS` and returns once it records.
    pub fn start(args: &[&str]) -> Recorder {
        require_root();
        let mut child = Command::new(profile_bin())
            .args(["record", "-v"])
            .args(args)
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap_or_else(|err| panic!("starting profile record {args:?}: {err}"));
        let stderr = lines_of(child.stderr.take().expect("piped stderr"));
        let mut recorder = Recorder {
            child,
            stderr,
            log: Vec::new(),
        };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match recorder.stderr.recv_timeout(left) {
                Ok(line) => {
                    let ready = line.contains("info: recording");
                    recorder.log.push(line);
                    if ready {
                        return recorder;
                    }
                }
                Err(_) => {
                    let _ = recorder.child.kill();
                    let status = recorder.child.wait();
                    panic!(
                        "profile record {args:?} did not start recording ({status:?}):\n{}",
                        recorder.log.join("\n")
                    );
                }
            }
        }
    }

    /// Sends SIGINT (or nothing, to let it end by itself) and returns its exit code and log.
    pub fn finish(mut self, interrupt: bool) -> (Option<i32>, String) {
        if interrupt {
            unsafe { libc::kill(self.child.id() as i32, libc::SIGINT) };
        }
        let status = self.child.wait().expect("waiting for profile record");
        self.log.extend(self.stderr.iter());
        (status.code(), self.log.join("\n"))
    }
}

/// Where the cgroup v2 hierarchy is mounted.
pub fn cgroup_v2_mount() -> PathBuf {
    profiler::cgroup::v2_mount()
        .expect("a cgroup v2 mount")
        .path
}

/// A cgroup v2 directory made for a test, with its descendants killed and removed on drop.
pub struct TestCgroup {
    pub path: PathBuf,
}

impl TestCgroup {
    /// Creates `rel` (and its parents) below the v2 mount.
    pub fn create(rel: &str) -> TestCgroup {
        require_root();
        let path = cgroup_v2_mount().join(rel);
        std::fs::create_dir_all(&path)
            .unwrap_or_else(|err| panic!("mkdir {}: {err}", path.display()));
        TestCgroup { path }
    }

    /// A child cgroup, created (removed with this one).
    pub fn child(&self, rel: &str) -> PathBuf {
        let path = self.path.join(rel);
        std::fs::create_dir_all(&path)
            .unwrap_or_else(|err| panic!("mkdir {}: {err}", path.display()));
        path
    }

    /// The path below the v2 mount, `/` first.
    pub fn name(&self) -> String {
        format!(
            "/{}",
            self.path
                .strip_prefix(cgroup_v2_mount())
                .expect("below the mount")
                .display()
        )
    }
}

/// Starts `sh -c SCRIPT` inside cgroup `dir` (it moves itself in before running SCRIPT).
pub fn spawn_in_cgroup(dir: &Path, script: &str) -> std::process::Child {
    Command::new("/bin/sh")
        .arg("-c")
        .arg(format!(
            "echo $$ > '{}/cgroup.procs' && {script}",
            dir.display()
        ))
        .spawn()
        .expect("spawning sh")
}

impl Drop for TestCgroup {
    fn drop(&mut self) {
        // cgroup.kill kills every process below; the directories go deepest first.
        let _ = std::fs::write(self.path.join("cgroup.kill"), "1");
        let mut dirs = Vec::new();
        let mut pending = vec![self.path.clone()];
        while let Some(dir) = pending.pop() {
            if let Ok(entries) = std::fs::read_dir(&dir) {
                for entry in entries.flatten() {
                    if entry.file_type().is_ok_and(|t| t.is_dir()) {
                        pending.push(entry.path());
                    }
                }
            }
            dirs.push(dir);
        }
        for dir in dirs.iter().rev() {
            for _ in 0..100 {
                match std::fs::remove_dir(dir) {
                    Err(err) if err.raw_os_error() == Some(libc::EBUSY) => {
                        std::thread::sleep(std::time::Duration::from_millis(10))
                    }
                    _ => break,
                }
            }
        }
    }
}

/// A busybox-static root filesystem in `dir/rootfs`, with a page to serve in /www.
pub fn busybox_rootfs(dir: &Path) -> PathBuf {
    let rootfs = dir.join("rootfs");
    for sub in ["bin", "proc", "dev", "tmp", "sys", "etc", "www"] {
        std::fs::create_dir_all(rootfs.join(sub)).expect("rootfs dirs");
    }
    std::fs::copy("/bin/busybox", rootfs.join("bin/busybox")).expect("busybox-static is installed");
    std::fs::write(rootfs.join("www/index.html"), "served under its profile\n").unwrap();
    rootfs
}

/// The answer of the HTTP server on 127.0.0.1:`port` to `GET /`, asked until it answers (20 s).
pub fn http_get(port: u16) -> String {
    http_get_path(port, "/")
}

/// The whole answer (status line included) to `GET path`, asked until one comes (20 s).
pub fn http_get_path(port: u16, path: &str) -> String {
    use std::io::{Read as _, Write as _};
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        if let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            let _ = stream.set_read_timeout(Some(std::time::Duration::from_secs(5)));
            let request = format!("GET {path} HTTP/1.0\r\n\r\n");
            if stream.write_all(request.as_bytes()).is_ok() {
                let mut answer = String::new();
                if stream.read_to_string(&mut answer).is_ok() && !answer.is_empty() {
                    return answer;
                }
            }
        }
        assert!(
            std::time::Instant::now() < deadline,
            "nothing answers on port {port}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// A loopback port for this test process's `n`th server.
pub fn test_port(n: u16) -> u16 {
    20_000 + (std::process::id() % 10_000) as u16 * 4 + n
}

/// A busybox-static OCI bundle in `dir` (made by `runc spec`): `sh -c SCRIPT` as the process,
/// no terminal.
pub fn busybox_bundle(dir: &Path, script: &str) -> PathBuf {
    busybox_rootfs(dir);
    let _ = std::fs::remove_file(dir.join("config.json"));
    let output = run(Command::new("runc").arg("spec").current_dir(dir));
    assert!(output.status.success(), "runc spec: {}", describe(&output));
    let mut config = read_json(&dir.join("config.json"));
    config["process"]["terminal"] = false.into();
    config["process"]["args"] = serde_json::json!(["/bin/busybox", "sh", "-c", script]);
    write_json(&dir.join("config.json"), &config);
    dir.to_owned()
}

/// `runc run` of `bundle` as container `id` (one left by an earlier run is deleted first).
pub fn runc(bundle: &Path, id: &str) -> Output {
    let _ = run(Command::new("runc").args(["delete", "-f", id]));
    run(Command::new("runc").args(["run", "-b"]).arg(bundle).arg(id))
}

/// `crun run`, which needs a private mount namespace without the v2 mount on this hybrid host.
/// It then manages v1 cgroups only, so the container stays in the v2 cgroup of whoever started
/// it: the shell moves itself into `v2_cgroup` first.
pub fn crun(bundle: &Path, id: &str, v2_cgroup: &Path) -> Output {
    let _ = run(Command::new("crun").args(["delete", "-f", id]));
    let script = format!(
        "echo $$ > '{}/cgroup.procs' && exec unshare -m --propagation private sh -c \
         'umount /sys/fs/cgroup/unified 2>/dev/null; exec crun run -b {} {id}'",
        v2_cgroup.display(),
        bundle.display()
    );
    run(Command::new("/bin/sh").arg("-c").arg(script))
}

pub fn read_json(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|err| panic!("reading {}: {err}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|err| panic!("{}: {err}", path.display()))
}

pub fn write_json(path: &Path, value: &serde_json::Value) {
    std::fs::write(path, serde_json::to_string_pretty(value).expect("json"))
        .unwrap_or_else(|err| panic!("writing {}: {err}", path.display()));
}

/// Sets a bundle's `linux.seccomp` and (when given) `linux.cgroupsPath`.
pub fn configure_bundle(bundle: &Path, seccomp: &serde_json::Value, cgroups_path: Option<&str>) {
    let path = bundle.join("config.json");
    let mut config = read_json(&path);
    config["linux"]["seccomp"] = seccomp.clone();
    match cgroups_path {
        Some(cgroups) => config["linux"]["cgroupsPath"] = cgroups.into(),
        None => {
            config["linux"]
                .as_object_mut()
                .expect("linux object")
                .remove("cgroupsPath");
        }
    }
    write_json(&path, &config);
}

/// A permissive profile for learning: everything is allowed and logged.
pub fn log_profile() -> serde_json::Value {
    serde_json::json!({
        "defaultAction": "SCMP_ACT_LOG",
        "architectures": ["SCMP_ARCH_X86_64"],
        "syscalls": [{"names": ["getpid"], "action": "SCMP_ACT_ALLOW"}]
    })
}

/// `profile` with the allow rules' names minus `name`.
pub fn without(profile: &serde_json::Value, name: &str) -> serde_json::Value {
    let mut profile = profile.clone();
    for rule in profile["syscalls"].as_array_mut().expect("syscalls") {
        if rule["action"] == "SCMP_ACT_ALLOW" {
            rule["names"]
                .as_array_mut()
                .expect("names")
                .retain(|n| n != name);
        }
    }
    profile
}

/// A real profile or schema of a project we interoperate with: the copies of
/// ../shared/reference kept in profiler/data, so that a plain checkout tests.
pub fn reference(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../profiler/data")
        .join(name)
}

/// podman's default profile (containers/common), installed by `cargo xtask setup`.
pub const PODMAN: &str = "/usr/share/containers/seccomp.json";

/// The lines a child writes to a pipe, as they come, read on a thread of their own.
pub fn lines_of(pipe: impl std::io::Read + Send + 'static) -> std::sync::mpsc::Receiver<String> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead as _;
        for line in std::io::BufReader::new(pipe).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// What enforces a profile in the end-to-end tests: our `profile run`, or libseccomp as runc
/// builds its filter (tests/scripts/libseccomp_bpf.py --exec).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Enforcer {
    Ours,
    Libseccomp,
}

impl Enforcer {
    pub const BOTH: [Enforcer; 2] = [Enforcer::Ours, Enforcer::Libseccomp];

    /// The argv that runs `command` (an absolute path first) under `profile`; with `user`, as
    /// that user (setpriv switches before the filter is installed, and sets no_new_privs, which
    /// an unprivileged filter needs).
    pub fn argv(self, profile: &Path, user: Option<&str>, command: &[&str]) -> Vec<String> {
        let mut argv: Vec<String> = Vec::new();
        if let Some(user) = user {
            argv.extend([
                "setpriv".to_owned(),
                format!("--reuid={user}"),
                format!("--regid={user}"),
                "--init-groups".to_owned(),
                "--no-new-privs".to_owned(),
            ]);
        }
        match self {
            Enforcer::Ours => argv.extend([
                profile_bin().display().to_string(),
                "run".to_owned(),
                "--profile".to_owned(),
            ]),
            Enforcer::Libseccomp => argv.extend([
                "/usr/bin/python3".to_owned(),
                script("libseccomp_bpf.py").display().to_string(),
                "--exec".to_owned(),
            ]),
        }
        argv.push(profile.display().to_string());
        argv.push("--".to_owned());
        argv.extend(command.iter().map(|a| a.to_string()));
        argv
    }

    /// [`Enforcer::argv`] as a `Command`.
    pub fn command(self, profile: &Path, user: Option<&str>, command: &[&str]) -> Command {
        let argv = self.argv(profile, user, command);
        let mut cmd = Command::new(&argv[0]);
        cmd.args(&argv[1..]);
        cmd
    }
}

/// Sends `signal` to `pid`.
pub fn signal(pid: u32, signal: i32) {
    // SAFETY: kill has no memory-safety preconditions.
    unsafe { libc::kill(pid as i32, signal) };
}

/// Waits for `child` up to `timeout`; kills it (and fails) when it takes longer.
pub fn wait_timeout(
    child: &mut std::process::Child,
    timeout: std::time::Duration,
) -> std::process::ExitStatus {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        if std::time::Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("pid {} still running after {timeout:?}", child.id());
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// A copy of the recorded profile at `profile` without the names its counts side file lists as
/// implied (what `record --no-implied` would have written), next to it as `*.no-implied.json`:
/// the control that shows what the implied calls are for.
pub fn without_implied(profile: &Path) -> PathBuf {
    let mut side = profile.as_os_str().to_owned();
    side.push(".counts");
    let counts = read_json(Path::new(&side));
    let mut bare = read_json(profile);
    for name in counts["implied"].as_array().expect("implied listed") {
        bare = without(&bare, name.as_str().expect("name"));
    }
    let path = profile.with_extension("no-implied.json");
    write_json(&path, &bare);
    path
}
