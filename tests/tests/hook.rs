//! Containers recorded from their first instruction by `profile hook`, with real podman (runc
//! underneath): the profile starts the same image, serves, lets `podman exec` in when an exec
//! was recorded, and refuses what the container never did.
use std::{
    path::{Path, PathBuf},
    process::{Command, Output},
    time::{Duration, Instant},
};

use tests::*;

/// podman as it works on this machine kind (../shared/README.md): runc, explicit ulimits.
fn podman(args: &[&str]) -> Output {
    run(Command::new("podman").args(args))
}

fn podman_run(hooks: &Path, name: &str, extra: &[&str], command: &[&str]) -> Output {
    let mut args = vec![
        "--hooks-dir",
        hooks.to_str().unwrap(),
        "--runtime",
        "runc",
        "run",
        "-d",
        "--pull",
        "never",
        "--name",
        name,
        "--network",
        "host",
        "--ulimit",
        "nofile=1024:1024",
        "--ulimit",
        "nproc=4096:4096",
    ];
    args.extend(extra);
    args.extend(command);
    podman(&args)
}

/// A busybox image of its own, imported offline from a rootfs tarball; removed on drop.
struct Image {
    name: String,
}

impl Image {
    fn build(dir: &Path, tag: &str) -> Image {
        let rootfs = busybox_rootfs(dir);
        let tar = dir.join("rootfs.tar");
        let output = run(Command::new("tar")
            .arg("-C")
            .arg(&rootfs)
            .arg("-cf")
            .arg(&tar)
            .arg("."));
        assert!(output.status.success(), "{}", describe(&output));
        let name = format!("localhost/profile-{tag}:{}", std::process::id());
        let output = podman(&["import", "-q", tar.to_str().unwrap(), &name]);
        assert!(
            output.status.success(),
            "podman import: {}",
            describe(&output)
        );
        Image { name }
    }
}

impl Drop for Image {
    fn drop(&mut self) {
        let _ = podman(&["rmi", "-f", &self.name]);
    }
}

/// A container removed on drop.
struct Container(String);

impl Drop for Container {
    fn drop(&mut self) {
        let _ = podman(&["rm", "-f", "-t", "0", &self.0]);
    }
}

fn wait_for(path: &Path) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !path.exists() {
        assert!(
            Instant::now() < deadline,
            "{} was not written; the hook's logs:\n{}",
            path.display(),
            hook_logs()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn hook_logs() -> String {
    std::fs::read_dir("/run/profile/hooks")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
        .collect()
}

#[test]
fn a_podman_container_recorded_by_the_hook_starts_and_serves_under_its_profile() {
    require_root();
    let dir = scratch("hook-podman");
    let image = Image::build(&dir, "hook-web");
    let hooks = dir.join("hooks.d");
    let output = run(Command::new(profile_bin())
        .args(["hook", "install", "--hooks-dir"])
        .arg(&hooks));
    assert!(output.status.success(), "{}", describe(&output));
    let profile: PathBuf = dir.join("web.json");
    let port = test_port(0);
    let httpd = format!("127.0.0.1:{port}");
    let server = [
        image.name.as_str(),
        "/bin/busybox",
        "httpd",
        "-f",
        "-p",
        &httpd,
        "-h",
        "/www",
    ];

    // Learning: the hook records from prestart; the server serves once, an exec runs.
    let learning = Container(format!("profile-hook-learn-{}", std::process::id()));
    let annotation = format!("io.containers.trace-syscall=of:{}", profile.display());
    let output = podman_run(&hooks, &learning.0, &["--annotation", &annotation], &server);
    assert!(output.status.success(), "podman run: {}", describe(&output));
    assert!(http_get(port).contains("served under its profile"));
    let exec = podman(&["exec", &learning.0, "/bin/busybox", "true"]);
    assert!(exec.status.success(), "{}", describe(&exec));
    let stop = podman(&["stop", "-t", "1", &learning.0]);
    assert!(stop.status.success(), "{}", describe(&stop));
    wait_for(&profile);
    let learned = read_json(&profile);
    let names = allowed(&learned);
    // The runtime's steps after its filter is in, and the server's own calls.
    for name in [
        "capset",
        "setgroups",
        "execve",
        "socket",
        "bind",
        "listen",
        "accept",
    ] {
        assert!(names.contains(name), "{name} missing from {names:?}");
    }
    // What the runtime does before the filter is not the container's.
    for name in ["pivot_root", "mount", "sethostname"] {
        assert!(!names.contains(name), "{name} in {names:?}");
    }
    drop(learning);

    // Enforcing: the same image starts under the profile, serves, and takes an exec.
    let enforced = Container(format!("profile-hook-enforce-{}", std::process::id()));
    let seccomp = format!("seccomp={}", profile.display());
    let output = podman_run(&hooks, &enforced.0, &["--security-opt", &seccomp], &server);
    assert!(output.status.success(), "podman run: {}", describe(&output));
    assert!(http_get(port).contains("served under its profile"));
    let exec = podman(&["exec", &enforced.0, "/bin/busybox", "true"]);
    assert!(
        exec.status.success(),
        "exec under the profile: {}",
        describe(&exec)
    );
    // Something it never did is refused.
    let mkdir = podman(&["exec", &enforced.0, "/bin/busybox", "mkdir", "/tmp/never"]);
    assert!(!mkdir.status.success(), "{}", describe(&mkdir));
    assert!(
        stderr(&mkdir).contains("Operation not permitted"),
        "{}",
        describe(&mkdir)
    );
}

/// A container without the annotation is none of the hook's business; an annotation it cannot
/// follow fails the container with the reason, before anything runs.
#[test]
fn the_hook_ignores_other_containers_and_refuses_bad_annotations() {
    require_root();
    let dir = scratch("hook-bad");
    let image = Image::build(&dir, "hook-bad");
    let hooks = dir.join("hooks.d");
    let output = run(Command::new(profile_bin())
        .args(["hook", "install", "--hooks-dir"])
        .arg(&hooks));
    assert!(output.status.success(), "{}", describe(&output));
    let plain = Container(format!("profile-hook-plain-{}", std::process::id()));
    let output = podman_run(
        &hooks,
        &plain.0,
        &[],
        &[&image.name, "/bin/busybox", "true"],
    );
    assert!(output.status.success(), "{}", describe(&output));

    let bad = Container(format!("profile-hook-rel-{}", std::process::id()));
    let output = podman_run(
        &hooks,
        &bad.0,
        &[
            "--annotation",
            "io.containers.trace-syscall=of:relative.json",
        ],
        &[&image.name, "/bin/busybox", "true"],
    );
    assert!(!output.status.success(), "{}", describe(&output));
    assert!(
        stderr(&output).contains("paths must be absolute"),
        "{}",
        describe(&output)
    );
}
