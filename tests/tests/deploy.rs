//! The daemon as it is deployed: the image built from deploy/Containerfile (a static binary
//! FROM scratch, built offline with podman), started with the DaemonSet's capabilities and
//! mounts, answers its probe and writes a workload's profile.
use std::{
    path::{Path, PathBuf},
    process::{Command, Output},
    time::{Duration, Instant},
};

use tests::*;

fn podman(args: &[&str]) -> Output {
    run(Command::new("podman").args(args))
}

/// The static binary `cargo xtask test` builds for the image.
fn static_profile() -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../target/x86_64-unknown-linux-gnu/debug/profile");
    assert!(
        path.exists(),
        "{} is missing: `cargo xtask test` builds it",
        path.display()
    );
    path
}

struct Cleanup {
    container: String,
    image: String,
    pins: String,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = podman(&["rm", "-f", "-t", "0", &self.container]);
        let _ = podman(&["rmi", "-f", &self.image]);
        let _ = Command::new(profile_bin())
            .args(["daemon", "--unpin", "--pin-dir", &self.pins])
            .output();
    }
}

#[test]
fn the_image_runs_the_daemon_with_the_daemonsets_privileges() {
    require_root();
    let dir = scratch("deploy-image");
    let context = dir.join("context");
    std::fs::create_dir_all(&context).unwrap();
    std::fs::copy(static_profile(), context.join("profile")).unwrap();
    let pid = std::process::id();
    let cleanup = Cleanup {
        container: format!("profile-e2e-daemon-{pid}"),
        image: format!("localhost/profile-e2e:{pid}"),
        pins: format!("/sys/fs/bpf/profile-e2e-{pid}-image"),
    };
    let containerfile = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/Containerfile");
    let output = podman(&[
        "build",
        "--pull=never",
        "-q",
        "-t",
        &cleanup.image,
        "-f",
        containerfile.to_str().unwrap(),
        context.to_str().unwrap(),
    ]);
    assert!(
        output.status.success(),
        "podman build: {}",
        describe(&output)
    );

    let root = TestCgroup::create(&format!("profile-e2e-{pid}-image"));
    let work = root.child("work");
    let out = dir.join("profiles");
    let run_dir = dir.join("run");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::create_dir_all(&run_dir).unwrap();
    let port = test_port(2);
    let listen = format!("--listen=127.0.0.1:{port}");
    // The DaemonSet's securityContext and volumes (deploy/daemonset.yaml), in podman's words.
    let volume =
        |host: &Path, inside: &str, mode: &str| format!("{}:{inside}:{mode}", host.display());
    let output = podman(&[
        "--runtime",
        "runc",
        "run",
        "-d",
        "--pull=never",
        "--name",
        &cleanup.container,
        "--network=host",
        "--pid=host",
        "--read-only",
        "--cap-drop=ALL",
        "--cap-add=BPF,PERFMON,SYS_ADMIN,AUDIT_READ",
        "--security-opt=seccomp=unconfined",
        "--security-opt=no-new-privileges",
        "--ulimit=nofile=1024:1024",
        "--ulimit=nproc=4096:4096",
        "-v=/sys/fs/cgroup:/sys/fs/cgroup:ro",
        "-v=/sys/kernel/btf:/sys/kernel/btf:ro",
        "-v=/sys/fs/bpf:/sys/fs/bpf:rw",
        &format!("-v={}", volume(&out, "/var/lib/profile", "rw")),
        &format!("-v={}", volume(&run_dir, "/run/profile", "rw")),
        &cleanup.image,
        "daemon",
        &format!("--cgroup-root=/sys/fs/cgroup{}", root.name()),
        "--out-dir=/var/lib/profile",
        &format!("--pin-dir={}", cleanup.pins),
        "--flush-interval=200ms",
        "--no-after-seccomp",
        &listen,
    ]);
    assert!(output.status.success(), "podman run: {}", describe(&output));
    let logs = || stderr(&podman(&["logs", &cleanup.container]));

    // The probe the DaemonSet uses.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let answer = http_get_path(port, "/healthz");
        if answer.starts_with("HTTP/1.0 200") {
            break;
        }
        assert!(Instant::now() < deadline, "{answer}\n{}", logs());
        std::thread::sleep(Duration::from_millis(200));
    }
    let status = spawn_in_cgroup(
        &work,
        &format!("exec {} calls 110 102", exerciser().display()),
    )
    .wait()
    .unwrap();
    assert!(status.success());
    let profile = out.join("work.json");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !profile.exists() || !allowed(&read_json(&profile)).contains("getppid") {
        assert!(
            Instant::now() < deadline,
            "no profile in {}\n{}",
            out.display(),
            logs()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(http_get_path(port, "/metrics").contains("profile_daemon_workloads 1"));

    // An enforced workload denied a call: seen by the programs and, in the host's network
    // namespace with AUDIT_READ, by the audit records too.
    let enforced = write(
        &dir,
        "enforced.json",
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["getppid"],"action":"SCMP_ACT_ERRNO"}]}"#,
    );
    let output = run(Command::new("/bin/sh").arg("-c").arg(format!(
        "echo $$ > '{}/cgroup.procs' && exec {} run --profile {} -- {} syscall 110",
        root.child("enforced").display(),
        profile_bin().display(),
        enforced.display(),
        exerciser().display()
    )));
    assert_eq!(stdout(&output).trim(), "errno 1", "{}", describe(&output));
    let denied = "profile_daemon_denied_total{workload=\"enforced\",syscall=\"getppid\"} 1\n";
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let metrics = http_get_path(port, "/metrics");
        let audited = metrics
            .lines()
            .find_map(|l| l.strip_prefix("profile_daemon_audit_records_total "))
            .is_some_and(|n| n != "0");
        if metrics.contains(denied) && audited {
            break;
        }
        assert!(Instant::now() < deadline, "{metrics}\n{}", logs());
        std::thread::sleep(Duration::from_millis(200));
    }
    let stop = podman(&["stop", "-t", "20", &cleanup.container]);
    assert!(stop.status.success(), "{}", describe(&stop));
    let inspect = podman(&[
        "inspect",
        "--format",
        "{{.State.ExitCode}}",
        &cleanup.container,
    ]);
    assert_eq!(stdout(&inspect).trim(), "0", "{}", logs());
    let names = allowed(&read_json(&profile));
    assert!(names.contains("getuid"), "{names:?}");
}
