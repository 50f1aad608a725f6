//! The daemon part of `cargo xtask bench`: `profile daemon` tracking 1,000, 10,000 and 100,000
//! cgroups, each with calls made in it: its RSS, its CPU time to learn and write them all, its
//! CPU per second afterwards (while nothing changes), and the kernel memory of its map of
//! cgroups. Then what its programs cost an enforced workload per call: a getppid loop under
//! `profile run`, allowed and denied, with no daemon, outside the daemon's root and below it.
use std::{
    path::Path,
    process::{Command, Stdio},
    thread,
    time::{Duration, Instant},
};

use anyhow::{bail, Context as _, Result};
use serde_json::{json, Value};

use crate::output;

const FLUSH: Duration = Duration::from_secs(5);

/// A number field of `profile status --json`.
fn field(status: &Value, key: &str) -> Option<u64> {
    status[key].as_u64()
}

/// utime + stime of `pid`, in seconds.
fn cpu_seconds(pid: u32) -> Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let after = &stat[stat.rfind(')').context("stat format")? + 2..];
    let fields: Vec<&str> = after.split(' ').collect();
    let ticks: f64 = fields[11].parse::<f64>()? + fields[12].parse::<f64>()?;
    Ok(ticks / unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64)
}

fn rss_kib(pid: u32) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .context("VmRSS")
}

/// One row per size: cgroups tracked, RSS, CPU to learn and write, CPU afterwards, map memory.
pub fn measure(profile: &Path) -> Result<Vec<Value>> {
    [1_000u32, 10_000, 100_000]
        .into_iter()
        .map(|n| one(profile, n))
        .collect()
}

/// The cgroup v2 mount: `/sys/fs/cgroup/unified` on a hybrid host.
fn v2_mount() -> &'static Path {
    let unified = Path::new("/sys/fs/cgroup/unified");
    if unified.join("cgroup.procs").exists() {
        unified
    } else {
        Path::new("/sys/fs/cgroup")
    }
}

/// Where a per-call row's loop runs.
#[derive(Clone, Copy)]
enum Place {
    /// No daemon loaded.
    NoDaemon,
    /// In a cgroup outside the daemon's root: its programs return at the root check.
    Outside,
    /// Below the root: the entry program finds the bit set, the exit program looks it up.
    Below,
}

/// Per-call rows: (what, place, getppid denied).
const CALL_ROWS: [(&str, Place, bool); 6] = [
    ("allowed, no daemon", Place::NoDaemon, false),
    ("allowed, outside the root", Place::Outside, false),
    ("allowed, below the root", Place::Below, false),
    ("denied, no daemon", Place::NoDaemon, true),
    ("denied, outside the root", Place::Outside, true),
    ("denied, below the root (counted)", Place::Below, true),
];

/// ns per getppid of each [`CALL_ROWS`] row (median of `rounds`: those without a daemon before
/// it starts, the others alternating while it runs), under
/// `profile run` with an allow-all profile or one denying getppid (no audit record: the cost of
/// the programs alone).
pub fn call_cost(profile: &Path, exerciser: &Path, rounds: usize, calls: u64) -> Result<Value> {
    let id = std::process::id();
    let mount = v2_mount();
    let root = mount.join(format!("profile-bench-calls-{id}"));
    let outside = mount.join(format!("profile-bench-calls-{id}-outside"));
    let below = root.join("w");
    let scratch = std::env::temp_dir().join(format!("profile-bench-calls-{id}"));
    let pins = format!("/sys/fs/bpf/profile-bench-calls-{id}");
    std::fs::create_dir_all(&scratch)?;
    std::fs::create_dir_all(&below)?;
    std::fs::create_dir_all(&outside)?;
    let allow = scratch.join("allow.json");
    std::fs::write(&allow, r#"{"defaultAction":"SCMP_ACT_ALLOW"}"#)?;
    let deny = scratch.join("deny.json");
    std::fs::write(
        &deny,
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["getppid"],"action":"SCMP_ACT_ERRNO"}]}"#,
    )?;
    let one_loop = |cgroup: &Path, denied: bool| -> Result<f64> {
        let text = output(Command::new("/bin/sh").arg("-c").arg(format!(
            "echo $$ > {}/cgroup.procs && exec {} run --no-log-denials --profile {} -- {} loop {calls} 1",
            cgroup.display(),
            profile.display(),
            if denied { &deny } else { &allow }.display(),
            exerciser.display()
        )))?;
        text.lines()
            .last()
            .and_then(|l| l.trim().parse().ok())
            .with_context(|| format!("the loop printed no timing: {text:?}"))
    };
    let mut samples: Vec<Vec<f64>> = vec![Vec::new(); CALL_ROWS.len()];
    let result = (|| -> Result<()> {
        for _ in 0..rounds {
            for (i, (_, place, denied)) in CALL_ROWS.iter().enumerate() {
                if matches!(place, Place::NoDaemon) {
                    samples[i].push(one_loop(&outside, *denied)?);
                }
            }
        }
        let socket = scratch.join("sock");
        let mut daemon = Command::new(profile)
            .args(["daemon", "-q", "--audit-source", "none", "--cgroup-root"])
            .arg(&root)
            .arg("--out-dir")
            .arg(scratch.join("out"))
            .args(["--pin-dir", &pins])
            .arg("--control-socket")
            .arg(&socket)
            .stdin(Stdio::null())
            .spawn()?;
        let measured = (|| -> Result<()> {
            let deadline = Instant::now() + Duration::from_secs(60);
            while !Command::new(profile)
                .args(["status", "--json", "--control-socket"])
                .arg(&socket)
                .output()
                .is_ok_and(|o| o.status.success())
            {
                if Instant::now() > deadline {
                    bail!("the daemon did not start");
                }
                thread::sleep(Duration::from_millis(200));
            }
            for _ in 0..rounds {
                for (i, (_, place, denied)) in CALL_ROWS.iter().enumerate() {
                    match place {
                        Place::NoDaemon => {}
                        Place::Outside => samples[i].push(one_loop(&outside, *denied)?),
                        Place::Below => samples[i].push(one_loop(&below, *denied)?),
                    }
                }
            }
            Ok(())
        })();
        unsafe { libc::kill(daemon.id() as i32, libc::SIGTERM) };
        let _ = daemon.wait();
        let _ = Command::new(profile)
            .args(["daemon", "--unpin", "--pin-dir", &pins])
            .output();
        measured
    })();
    let _ = std::fs::remove_dir(&below);
    let _ = std::fs::remove_dir(&root);
    let _ = std::fs::remove_dir(&outside);
    let _ = std::fs::remove_dir_all(&scratch);
    result?;
    Ok(Value::Array(
        CALL_ROWS
            .iter()
            .zip(&samples)
            .map(|((name, ..), v)| json!({"run": name, "ns_per_call": super::median(v)}))
            .collect(),
    ))
}

/// Prints what [`call_cost`] returned.
pub fn print_calls(rows: &Value) {
    println!("profile daemon's programs, per getppid of a workload under `profile run`");
    println!("{:<34} {:>10}", "getppid", "ns/call");
    for row in rows.as_array().into_iter().flatten() {
        println!(
            "{:<34} {:>10.1}",
            row["run"].as_str().unwrap_or_default(),
            row["ns_per_call"].as_f64().unwrap_or(f64::NAN)
        );
    }
}

/// Prints what [`measure`] returned.
pub fn print(rows: &[Value]) {
    println!("profile daemon, cgroups tracked (each with calls made in it)");
    println!(
        "{:<8} {:>9} {:>14} {:>14} {:>12} {:>14}",
        "cgroups", "RSS MiB", "learn+write s", "CPU/s after", "map KiB", "map B/cgroup"
    );
    for row in rows {
        println!(
            "{:<8} {:>9.1} {:>14.2} {:>13.1}% {:>12} {:>14}",
            row["cgroups"].as_u64().unwrap_or_default(),
            row["rss_mib"].as_f64().unwrap_or(f64::NAN),
            row["learn_cpu_s"].as_f64().unwrap_or(f64::NAN),
            row["cpu_percent_after"].as_f64().unwrap_or(f64::NAN),
            row["map_kib"].as_u64().unwrap_or_default(),
            row["map_bytes_per_cgroup"].as_u64().unwrap_or_default(),
        );
    }
}

fn one(profile: &Path, n: u32) -> Result<Value> {
    let id = std::process::id();
    let mount = v2_mount();
    let root = mount.join(format!("profile-bench-daemon-{id}-{n}"));
    let scratch = std::env::temp_dir().join(format!("profile-bench-daemon-{id}-{n}"));
    // The profiles go to a tmpfs where there is one: what is measured is the daemon, not the
    // disk (on this VM's ext4 without a journal, creating 20,000 files right after deleting as
    // many costs 9-10 CPU s in the kernel whoever creates them).
    let shm = Path::new("/dev/shm");
    let out = if shm.is_dir() { shm } else { scratch.as_path() }
        .join(format!("profile-bench-daemon-out-{id}-{n}"));
    let pins = format!("/sys/fs/bpf/profile-bench-{id}-{n}");
    let socket = scratch.join("sock");
    std::fs::create_dir_all(&scratch)?;
    for i in 0..n {
        std::fs::create_dir_all(root.join(format!("c{i}")))?;
    }
    let mut daemon = Command::new(profile)
        .args([
            "daemon",
            "-q",
            "--no-after-seccomp",
            "--flush-interval",
            &format!("{}s", FLUSH.as_secs()),
        ])
        .arg("--cgroup-root")
        .arg(&root)
        .arg("--out-dir")
        .arg(&out)
        .args(["--max-cgroups", &n.to_string(), "--pin-dir", &pins])
        .arg("--control-socket")
        .arg(&socket)
        .stdin(Stdio::null())
        .spawn()?;
    let pid = daemon.id();
    let status = || -> Value {
        Command::new(profile)
            .args(["status", "--json", "--control-socket"])
            .arg(&socket)
            .output()
            .ok()
            .and_then(|o| serde_json::from_slice(&o.stdout).ok())
            .unwrap_or_default()
    };
    let wait = |what: &str, done: &dyn Fn(&Value) -> bool| -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(300);
        while !done(&status()) {
            if Instant::now() > deadline {
                bail!("daemon with {n} cgroups: no {what}");
            }
            thread::sleep(Duration::from_millis(200));
        }
        Ok(())
    };
    let result = (|| -> Result<Value> {
        wait("start", &|s| field(s, "scans").is_some())?;
        let cpu_start = cpu_seconds(pid)?;
        // One shell visits every cgroup: its redirections are calls made in each.
        output(Command::new("/bin/sh").arg("-c").arg(format!(
            "i=0; while [ $i -lt {n} ]; do echo $$ > {}/c$i/cgroup.procs; i=$((i+1)); done",
            root.display()
        )))?;
        wait("profiles written", &|s| {
            field(s, "profilesWritten").is_some_and(|w| w >= u64::from(n))
        })?;
        let learn = cpu_seconds(pid)? - cpu_start;
        // Past the first flush after the writes, whose check of the written files is part of
        // writing them: from then on nothing changes.
        thread::sleep(FLUSH + Duration::from_secs(1));
        let before = cpu_seconds(pid)?;
        let window = Duration::from_secs(10);
        thread::sleep(window);
        let per_second = (cpu_seconds(pid)? - before) / window.as_secs_f64();
        let s = status();
        let tracked = field(&s, "cgroupsTracked").unwrap_or(0);
        let memory = field(&s, "mapMemory").unwrap_or(0);
        Ok(json!({
            "cgroups": tracked,
            "rss_mib": rss_kib(pid)? as f64 / 1024.0,
            "learn_cpu_s": learn,
            "cpu_percent_after": per_second * 100.0,
            "map_kib": memory / 1024,
            "map_bytes_per_cgroup": memory / u64::from(n),
        }))
    })();
    unsafe { libc::kill(pid as i32, libc::SIGTERM) };
    let _ = daemon.wait();
    let _ = Command::new(profile)
        .args(["daemon", "--unpin", "--pin-dir", &pins])
        .output();
    for i in 0..n {
        let _ = std::fs::remove_dir(root.join(format!("c{i}")));
    }
    let _ = std::fs::remove_dir(&root);
    let _ = std::fs::remove_dir_all(&scratch);
    let _ = std::fs::remove_dir_all(&out);
    result
}
