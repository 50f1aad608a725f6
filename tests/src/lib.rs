//! Helpers for the end-to-end tests, which run the real `profile` binary as root against the
//! running kernel. Tests panic with context rather than return errors.
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

/// A scratch directory unique to one test.
pub fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("profile-e2e-{}-{name}", std::process::id()));
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
