//! `cargo xtask bench`: ns per syscall of a tight getppid loop under each tracer, as medians of
//! alternating runs in one invocation and as ratios to the untraced loop (absolute times drift
//! on a shared VM; ratios measured side by side do not).
use std::{
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    thread,
    time::{Duration, Instant},
};

use anyhow::{bail, Context as _, Result};
use clap::Args;

use crate::{output, workspace_root};

#[derive(Args)]
pub struct BenchArgs {
    /// Alternating rounds; each configuration runs once per round.
    #[arg(long, default_value_t = 5)]
    rounds: usize,
    /// getppid calls per thread in each run (strace gets 1/100 of them).
    #[arg(long, default_value_t = 2_000_000)]
    calls: u64,
    /// Only the daemon part (cgroups tracked: RSS, CPU, kernel map memory).
    #[arg(long)]
    daemon_only: bool,
}

/// What surrounds the loop in one configuration.
#[derive(Clone, Copy)]
enum Setup {
    Bare,
    /// `profile record` runs, watching another process.
    RecorderNotWatching,
    /// The loop runs under `profile record`.
    Recorded,
    Strace,
    Bpftrace,
    /// The loop under `profile run` with Docker's default profile.
    OurFilter,
    /// The loop under libseccomp's filter of the same profile, built as runc builds it.
    LibseccompFilter,
}

struct Config {
    name: &'static str,
    setup: Setup,
    threads: u64,
    /// Index of the configuration the ratio is taken against.
    baseline: usize,
}

const CONFIGS: [Config; 9] = [
    Config {
        name: "untraced, 1 thread",
        setup: Setup::Bare,
        threads: 1,
        baseline: 0,
    },
    Config {
        name: "untraced, 2 threads",
        setup: Setup::Bare,
        threads: 2,
        baseline: 1,
    },
    Config {
        name: "recorder loaded, not watching",
        setup: Setup::RecorderNotWatching,
        threads: 1,
        baseline: 0,
    },
    Config {
        name: "recorded, 1 thread",
        setup: Setup::Recorded,
        threads: 1,
        baseline: 0,
    },
    Config {
        name: "recorded, 2 threads",
        setup: Setup::Recorded,
        threads: 2,
        baseline: 1,
    },
    Config {
        name: "bpftrace @[pid]=count()",
        setup: Setup::Bpftrace,
        threads: 1,
        baseline: 0,
    },
    Config {
        name: "strace -f",
        setup: Setup::Strace,
        threads: 1,
        baseline: 0,
    },
    Config {
        name: "moby default, our filter",
        setup: Setup::OurFilter,
        threads: 1,
        baseline: 0,
    },
    Config {
        name: "moby default, libseccomp's",
        setup: Setup::LibseccompFilter,
        threads: 1,
        baseline: 0,
    },
];

/// Files the configurations share.
struct Prepared {
    profile: PathBuf,
    exerciser: PathBuf,
    /// Docker's default profile resolved for this machine (plain OCI).
    moby: PathBuf,
    oracle: PathBuf,
}

pub fn run(args: BenchArgs) -> Result<()> {
    let root = workspace_root();
    let bins = root.join("target/release");
    if args.daemon_only {
        return crate::bench_daemon::run(&bins.join("profile"));
    }
    let scratch = std::env::temp_dir().join(format!("profile-bench-{}", std::process::id()));
    std::fs::create_dir_all(&scratch)?;
    let prepared = Prepared {
        profile: bins.join("profile"),
        exerciser: bins.join("exerciser"),
        moby: scratch.join("moby-oci.json"),
        oracle: root.join("tests/scripts/libseccomp_bpf.py"),
    };
    output(
        Command::new(&prepared.profile)
            .arg("export")
            .arg(root.join("../shared/reference/moby-default.json"))
            .args(["--format", "oci", "-o"])
            .arg(&prepared.moby),
    )?;
    let have_bpftrace = Command::new("bpftrace")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());

    let mut samples: Vec<Vec<f64>> = vec![Vec::new(); CONFIGS.len()];
    for round in 0..args.rounds {
        eprintln!("bench: round {}/{}", round + 1, args.rounds);
        for (i, config) in CONFIGS.iter().enumerate() {
            if matches!(config.setup, Setup::Bpftrace) && !have_bpftrace {
                continue;
            }
            samples[i].push(measure(config, &prepared, args.calls)?);
        }
    }

    let medians: Vec<Option<f64>> = samples.iter().map(|s| median(s)).collect();
    println!(
        "getppid loop, ns per call (median of {} alternating rounds)",
        args.rounds
    );
    println!("{:<32} {:>10} {:>10}", "configuration", "ns/call", "ratio");
    for (config, median) in CONFIGS.iter().zip(&medians) {
        match (median, medians[config.baseline]) {
            (Some(ns), Some(base)) => {
                println!("{:<32} {:>10.1} {:>9.2}×", config.name, ns, ns / base)
            }
            _ => println!(
                "{:<32} {:>10} {:>10}",
                config.name, "n/a", "(not installed)"
            ),
        }
    }
    let ours = scratch.join("ours.bpf");
    let theirs = scratch.join("libseccomp.bpf");
    output(
        Command::new(&prepared.profile)
            .args(["compile", "--profile"])
            .arg(&prepared.moby)
            .arg("-o")
            .arg(&ours),
    )?;
    output(
        Command::new("/usr/bin/python3")
            .arg(&prepared.oracle)
            .arg(&prepared.moby)
            .arg(&theirs),
    )?;
    let insns = |path: &Path| std::fs::metadata(path).map(|m| m.len() / 8);
    println!(
        "moby default for x86_64 (+x86, x32): {} BPF instructions ours, {} libseccomp's",
        insns(&ours)?,
        insns(&theirs)?
    );
    std::fs::remove_dir_all(&scratch)?;
    crate::bench_daemon::run(&prepared.profile)
}

fn median(samples: &[f64]) -> Option<f64> {
    if samples.is_empty() {
        return None;
    }
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    Some(sorted[sorted.len() / 2])
}

fn measure(config: &Config, prepared: &Prepared, calls: u64) -> Result<f64> {
    let (profile, exerciser) = (&prepared.profile, &prepared.exerciser);
    let loop_args = |calls: u64| {
        vec![
            "loop".to_owned(),
            calls.to_string(),
            config.threads.to_string(),
        ]
    };
    match config.setup {
        Setup::Bare => ns_per_call(Command::new(exerciser).args(loop_args(calls))),
        Setup::OurFilter => ns_per_call(
            Command::new(profile)
                .args(["run", "--profile"])
                .arg(&prepared.moby)
                .arg("--")
                .arg(exerciser)
                .args(loop_args(calls)),
        ),
        Setup::LibseccompFilter => ns_per_call(
            Command::new("/usr/bin/python3")
                .arg(&prepared.oracle)
                .arg("--exec")
                .arg(&prepared.moby)
                .arg("--")
                .arg(exerciser)
                .args(loop_args(calls)),
        ),
        Setup::Recorded => ns_per_call(
            Command::new(profile)
                .args(["record", "-q", "-o", "/dev/null", "--"])
                .arg(exerciser)
                .args(loop_args(calls)),
        ),
        Setup::Strace => ns_per_call(
            Command::new("strace")
                .args(["-f", "-qq", "-o", "/dev/null"])
                .arg(exerciser)
                .args(loop_args(calls / 100)),
        ),
        Setup::RecorderNotWatching => {
            let recorder = Command::new(profile)
                .args(["record", "-q", "-o", "/dev/null", "--", "sleep", "600"])
                .spawn()
                .context("starting profile record")?;
            let _guard = Stop(recorder);
            wait_for_exec(_guard.0.id(), Path::new("/usr/bin/sleep"))?;
            ns_per_call(Command::new(exerciser).args(loop_args(calls)))
        }
        Setup::Bpftrace => {
            let mut tracer = Command::new("bpftrace")
                .args([
                    "-e",
                    "tracepoint:raw_syscalls:sys_enter { @[pid] = count(); }",
                ])
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .context("starting bpftrace")?;
            let stdout = tracer.stdout.take().expect("piped");
            let guard = Stop(tracer);
            // bpftrace prints "Attaching N probes..." once its probes are in place.
            let mut line = String::new();
            BufReader::new(stdout).read_line(&mut line)?;
            if !line.contains("Attaching") {
                bail!("bpftrace did not attach: {line:?}");
            }
            let result = ns_per_call(Command::new(exerciser).args(loop_args(calls)));
            drop(guard);
            result
        }
    }
}

/// Stops a background tracer with SIGINT (as a user would) and reaps it.
struct Stop(Child);

impl Drop for Stop {
    fn drop(&mut self) {
        unsafe { libc::kill(self.0.id() as i32, libc::SIGINT) };
        let _ = self.0.wait();
    }
}

/// Waits until the recorder's child runs `program`, i.e. the recorder is attached.
fn wait_for_exec(recorder: u32, program: &Path) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(10);
    let children = PathBuf::from(format!("/proc/{recorder}/task/{recorder}/children"));
    while Instant::now() < deadline {
        let pids = std::fs::read_to_string(&children).unwrap_or_default();
        for pid in pids.split_whitespace() {
            if std::fs::read_link(format!("/proc/{pid}/exe")).is_ok_and(|exe| exe == program) {
                return Ok(());
            }
        }
        thread::sleep(Duration::from_millis(5));
    }
    bail!(
        "profile record did not start {} within 10 s",
        program.display()
    )
}

fn ns_per_call(cmd: &mut Command) -> Result<f64> {
    let text = output(cmd)?;
    text.lines()
        .last()
        .and_then(|line| line.trim().parse().ok())
        .with_context(|| format!("{cmd:?} printed no timing: {text:?}"))
}
