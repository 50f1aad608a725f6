//! `cargo xtask bench`: what recording and enforcing cost, next to the tools we are compared
//! with. Every figure is a median of alternating runs in one invocation, and the report gives
//! ratios, because absolute times drift on a shared VM while ratios measured side by side do not.
mod daemon;
mod kernel;

use std::{
    io::{BufRead, BufReader, Write as _},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    thread,
    time::{Duration, Instant},
};

use anyhow::{bail, Context as _, Result};
use clap::Args;
use serde_json::{json, Value};

use crate::{output, workspace_root};

#[derive(Args)]
pub struct BenchArgs {
    /// Alternating rounds; each configuration runs once per round.
    #[arg(long, default_value_t = 7)]
    rounds: usize,
    /// getppid calls per thread in each run (strace gets 1/100 of them).
    #[arg(long, default_value_t = 2_000_000)]
    calls: u64,
    /// Print the results as one JSON document instead of tables.
    #[arg(long)]
    json: bool,
    /// Only the daemon part (cgroups tracked: RSS, CPU, kernel map memory).
    #[arg(long)]
    daemon_only: bool,
}

/// What runs beside the measured command.
#[derive(Clone, Copy, PartialEq)]
enum Beside {
    Nothing,
    /// An empty program on the raw `sys_enter` tracepoint: the cost of any recorder built on it.
    Floor,
    /// `profile record`, watching another process.
    Recorder,
    /// bpftrace counting every syscall per pid.
    Bpftrace,
}

/// What the measured command runs under.
#[derive(Clone, Copy, PartialEq)]
enum Under {
    Nothing,
    Record,
    /// `profile record --args`.
    RecordArgs,
    Strace,
    /// `profile run` with a profile that allows everything: the cost of having any filter.
    AllowAllFilter,
    /// `profile run` with a profile that refuses clone whatever its arguments: what refusing a
    /// call costs without an argument check.
    DenyCloneFilter,
    /// `profile run` with Docker's default profile.
    OurFilter,
    /// libseccomp's filter of the same profile, built as runc builds it.
    LibseccompFilter,
}

struct LoopConfig {
    name: &'static str,
    beside: Beside,
    under: Under,
    threads: u64,
}

const fn config(name: &'static str, beside: Beside, under: Under, threads: u64) -> LoopConfig {
    LoopConfig {
        name,
        beside,
        under,
        threads,
    }
}

const LOOP: [LoopConfig; 11] = [
    config("untraced, 1 thread", Beside::Nothing, Under::Nothing, 1),
    config("untraced, 2 threads", Beside::Nothing, Under::Nothing, 2),
    config(
        "floor: empty sys_enter program",
        Beside::Floor,
        Under::Nothing,
        1,
    ),
    config(
        "recorder loaded, not watching",
        Beside::Recorder,
        Under::Nothing,
        1,
    ),
    config("recorded, 1 thread", Beside::Nothing, Under::Record, 1),
    config("recorded, 2 threads", Beside::Nothing, Under::Record, 2),
    config(
        "bpftrace @[pid]=count()",
        Beside::Bpftrace,
        Under::Nothing,
        1,
    ),
    config("strace -f", Beside::Nothing, Under::Strace, 1),
    config(
        "allow-all filter",
        Beside::Nothing,
        Under::AllowAllFilter,
        1,
    ),
    config(
        "moby default, our filter",
        Beside::Nothing,
        Under::OurFilter,
        1,
    ),
    config(
        "moby default, libseccomp's",
        Beside::Nothing,
        Under::LibseccompFilter,
        1,
    ),
];
const UNTRACED: usize = 0;
const UNTRACED_2: usize = 1;
const FLOOR: usize = 2;
const NOT_WATCHING: usize = 3;
const RECORDED: usize = 4;
const RECORDED_2: usize = 5;
const BPFTRACE: usize = 6;
const ALLOW_ALL: usize = 8;
const OUR_MOBY: usize = 9;
const LIBSECCOMP_MOBY: usize = 10;

/// `record --args` costs only the syscalls it inspects: a getppid loop (not inspected) against
/// the plain recording, and an fcntl(F_GETFD) loop (inspected) with and without it.
const ARGS_LOOP: [(&str, Under, &str); 4] = [
    ("getppid, recorded --args", Under::RecordArgs, "loop"),
    ("fcntl, untraced", Under::Nothing, "fcntl"),
    ("fcntl, recorded", Under::Record, "fcntl"),
    ("fcntl, recorded --args", Under::RecordArgs, "fcntl"),
];

/// Enforcement of calls whose decision depends on their arguments (the kernel's action cache
/// cannot answer them, so the filter runs every time), under Docker's default profile:
/// `exerciser argloop NAME`, beside the same decision made without an argument check (the
/// floor: personality allowed with no filter, clone refused by a one-rule filter; an unfiltered
/// clone would go into the kernel's own checks, which cost more than a refusal).
const ARG_ENFORCE: [(&str, Under); 2] = [
    ("personality", Under::Nothing),
    ("clone", Under::DenyCloneFilter),
];

/// A syscall-heavy real program: tar of /usr/include into a pipe.
const WORKLOAD: &str = "tar -cf - -C /usr include | cat >/dev/null";
const WORKLOAD_UNDER: [(&str, Beside, Under); 4] = [
    ("untraced", Beside::Nothing, Under::Nothing),
    ("profile record", Beside::Nothing, Under::Record),
    ("bpftrace @[pid]=count()", Beside::Bpftrace, Under::Nothing),
    ("strace -f", Beside::Nothing, Under::Strace),
];

/// Runs of each start-up measurement per round.
const STARTS: usize = 4;

struct Prepared {
    profile: PathBuf,
    exerciser: PathBuf,
    /// Docker's default profile resolved for this machine (plain OCI).
    moby: PathBuf,
    allow_all: PathBuf,
    deny_clone: PathBuf,
    oracle: PathBuf,
    have_bpftrace: bool,
}

pub fn run(args: BenchArgs) -> Result<()> {
    let root = workspace_root();
    let bins = root.join("target/release");
    if args.daemon_only {
        let rows = daemon::measure(&bins.join("profile"))?;
        let calls = daemon::call_cost(
            &bins.join("profile"),
            &bins.join("exerciser"),
            args.rounds,
            args.calls,
        )?;
        if args.json {
            println!(
                "{}",
                serde_json::to_string_pretty(&json!({"cgroups": rows, "calls": calls}))?
            );
        } else {
            daemon::print(&rows);
            daemon::print_calls(&calls);
        }
        return Ok(());
    }
    let scratch = std::env::temp_dir().join(format!("profile-bench-{}", std::process::id()));
    std::fs::create_dir_all(&scratch)?;
    let prepared = Prepared {
        profile: bins.join("profile"),
        exerciser: bins.join("exerciser"),
        moby: scratch.join("moby-oci.json"),
        allow_all: scratch.join("allow-all.json"),
        deny_clone: scratch.join("deny-clone.json"),
        oracle: root.join("tests/scripts/libseccomp_bpf.py"),
        have_bpftrace: Command::new("bpftrace")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success()),
    };
    output(
        Command::new(&prepared.profile)
            .arg("export")
            .arg(root.join("profiler/data/moby-default.json"))
            .args(["--format", "oci", "-o"])
            .arg(&prepared.moby),
    )?;

    std::fs::write(
        &prepared.allow_all,
        r#"{"defaultAction": "SCMP_ACT_ALLOW"}"#,
    )?;
    std::fs::write(
        &prepared.deny_clone,
        r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["clone"], "action": "SCMP_ACT_ERRNO"}]}"#,
    )?;
    let mut loops: Vec<Vec<f64>> = vec![Vec::new(); LOOP.len()];
    let mut starts: [Vec<f64>; 3] = Default::default();
    let mut workload: Vec<Vec<f64>> = vec![Vec::new(); WORKLOAD_UNDER.len()];
    // Once untimed, so no configuration pays for a cold page cache.
    measure_workload(Beside::Nothing, Under::Nothing, &prepared)?;
    let mut args_loops: Vec<Vec<f64>> = vec![Vec::new(); ARGS_LOOP.len()];
    // [call][floor, ours, libseccomp's] → one sample per round.
    let mut arg_enforce: Vec<[Vec<f64>; 3]> = vec![Default::default(); ARG_ENFORCE.len()];
    for round in 0..args.rounds {
        eprintln!("bench: round {}/{}", round + 1, args.rounds);
        for (i, config) in LOOP.iter().enumerate() {
            if let Some(ns) = measure_loop(config, &prepared, args.calls)? {
                loops[i].push(ns);
            }
        }
        for _ in 0..STARTS {
            for (i, under) in [Under::Nothing, Under::Record, Under::OurFilter]
                .into_iter()
                .enumerate()
            {
                let mut cmd = under_command(under, &prepared, "true", &[]);
                starts[i].push(wall_ms(cmd.stdout(Stdio::null()))?);
            }
        }
        for (i, &(_, beside, under)) in WORKLOAD_UNDER.iter().enumerate() {
            if let Some(ms) = measure_workload(beside, under, &prepared)? {
                workload[i].push(ms);
            }
        }
        for (i, &(_, under, mode)) in ARGS_LOOP.iter().enumerate() {
            args_loops[i].push(measure_args_loop(under, mode, &prepared, args.calls)?);
        }
        for (&(call, floor), samples) in ARG_ENFORCE.iter().zip(&mut arg_enforce) {
            let unders = [floor, Under::OurFilter, Under::LibseccompFilter];
            for (under, samples) in unders.into_iter().zip(samples) {
                let loop_args = ["argloop", call, &args.calls.to_string()].map(str::to_owned);
                let exerciser = prepared.exerciser.to_str().context("exerciser path")?;
                let text = output(&mut under_command(under, &prepared, exerciser, &loop_args))?;
                samples.push(
                    text.lines()
                        .last()
                        .and_then(|line| line.trim().parse().ok())
                        .with_context(|| format!("argloop {call} printed no timing: {text:?}"))?,
                );
            }
        }
    }
    eprintln!("bench: program cost and memory (kernel run-time statistics on)");
    let cost = program_cost(&prepared, args.calls)?;
    let (ours, theirs) = instruction_counts(&prepared, &scratch)?;
    eprintln!("bench: profile daemon with 1,000 and 10,000 cgroups");
    let daemon = daemon::measure(&prepared.profile)?;
    eprintln!("bench: the daemon's programs, per call of an enforced workload");
    let daemon_calls = daemon::call_cost(
        &prepared.profile,
        &prepared.exerciser,
        args.rounds,
        args.calls,
    )?;
    std::fs::remove_dir_all(&scratch)?;

    let samples = loops;
    let loops: Vec<Option<f64>> = samples.iter().map(|s| median(s)).collect();
    // Ratios are taken within each round, whose runs are side by side, and then their median:
    // the VM's drift between rounds cancels out, which a ratio of medians would keep.
    // A configuration that is not installed here has no samples: NaN, left out.
    let rounds: Vec<Vec<f64>> = (0..args.rounds)
        .map(|round| {
            let sample = |s: &Vec<f64>| s.get(round).copied().unwrap_or(f64::NAN);
            samples.iter().map(sample).collect()
        })
        .collect();
    let per_round = |f: &dyn Fn(&[f64]) -> f64| -> Option<f64> {
        let ratios: Vec<f64> = rounds
            .iter()
            .map(|r| f(r))
            .filter(|x| x.is_finite())
            .collect();
        median(&ratios)
    };
    let paired = |a: usize, b: usize| per_round(&|r: &[f64]| r[a] / r[b]);
    let starts: Vec<f64> = starts
        .iter()
        .map(|s| median(s).unwrap_or(f64::NAN))
        .collect();
    let workload: Vec<Option<f64>> = workload.iter().map(|s| median(s)).collect();
    let args_loops: Vec<Option<f64>> = args_loops.iter().map(|s| median(s)).collect();
    let report = json!({
        "rounds": args.rounds,
        "calls": args.calls,
        "getppid_loop": LOOP.iter().enumerate().map(|(i, c)| {
            let base = if c.threads == 2 { UNTRACED_2 } else { UNTRACED };
            json!({
                "name": c.name,
                "ns_per_call": loops[i],
                "ratio_untraced": paired(i, base),
                "added_ns": loops[i].zip(loops[base]).map(|(ns, b)| ns - b),
                "ratio_floor": (c.beside != Beside::Floor && c.threads == 1 && i != UNTRACED)
                    .then(|| paired(i, FLOOR)).flatten(),
            })
        }).collect::<Vec<_>>(),
        "goals": {
            "recorded_over_floor": paired(RECORDED, FLOOR),
            "not_watching_over_floor": paired(NOT_WATCHING, FLOOR),
            "two_threads_over_one": per_round(&|r: &[f64]| {
                (r[RECORDED_2] / r[UNTRACED_2]) / (r[RECORDED] / r[UNTRACED])
            }),
            "moby_over_allow_all": paired(OUR_MOBY, ALLOW_ALL),
            "our_moby_over_libseccomp": paired(OUR_MOBY, LIBSECCOMP_MOBY),
            "bpftrace_added_over_ours": per_round(&|r: &[f64]| {
                (r[BPFTRACE] - r[UNTRACED]) / (r[RECORDED] - r[UNTRACED])
            }),
        },
        "program": cost,
        "startup_ms": {
            "true": starts[0],
            "profile_record": starts[1],
            "profile_run_moby": starts[2],
            "record_over_true": starts[1] - starts[0],
            "run_over_true": starts[2] - starts[0],
        },
        "workload": {
            "command": WORKLOAD,
            "runs": WORKLOAD_UNDER.iter().zip(&workload).map(|((name, ..), ms)| json!({
                "name": name,
                "wall_ms": ms,
                "ratio_untraced": ratio_of(*ms, workload[0]),
            })).collect::<Vec<_>>(),
        },
        "moby_instructions": { "ours": ours, "libseccomp": theirs },
        // Added ns over the floor, ours / libseccomp's, per round then the median.
        "argument_checks": ARG_ENFORCE.iter().zip(&arg_enforce).map(|((call, _), s)| {
            let ratio: Vec<f64> = (0..args.rounds)
                .filter_map(|r| {
                    let [bare, ours, theirs] = [0, 1, 2].map(|u| s[u].get(r).copied());
                    Some((ours? - bare?) / (theirs? - bare?))
                })
                .collect();
            json!({
                "call": call,
                "floor_ns": median(&s[0]),
                "ours_ns": median(&s[1]),
                "libseccomp_ns": median(&s[2]),
                "ours_over_libseccomp_added": median(&ratio),
            })
        }).collect::<Vec<_>>(),
        "daemon": daemon,
        "daemon_calls": daemon_calls,
        "args": {
            "runs": ARGS_LOOP.iter().zip(&args_loops).map(|((name, ..), ns)| json!({
                "name": name,
                "ns_per_call": ns,
            })).collect::<Vec<_>>(),
            "getppid_args_over_recorded": ratio_of(args_loops[0], loops[RECORDED]),
            "fcntl_recorded_over_untraced": ratio_of(args_loops[2], args_loops[1]),
            "fcntl_args_over_recorded": ratio_of(args_loops[3], args_loops[2]),
        },
    });
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_tables(&report);
    }
    Ok(())
}

fn ratio_of(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    a.zip(b).map(|(a, b)| a / b)
}

fn print_tables(r: &Value) {
    let num = |v: &Value, precision: usize, suffix: &str| match v.as_f64() {
        Some(x) => format!("{x:.precision$}{suffix}"),
        None => "n/a".to_owned(),
    };
    println!(
        "getppid loop, ns per call (median of {} alternating rounds of {} calls)",
        r["rounds"], r["calls"]
    );
    println!(
        "{:<32} {:>9} {:>10} {:>9} {:>8}",
        "configuration", "ns/call", "×untraced", "added ns", "×floor"
    );
    for row in r["getppid_loop"].as_array().into_iter().flatten() {
        println!(
            "{:<32} {:>9} {:>10} {:>9} {:>8}",
            row["name"].as_str().unwrap_or_default(),
            num(&row["ns_per_call"], 1, ""),
            num(&row["ratio_untraced"], 2, "×"),
            num(&row["added_ns"], 1, ""),
            if row["ratio_floor"].is_null() {
                String::new()
            } else {
                num(&row["ratio_floor"], 2, "×")
            },
        );
    }
    let a = &r["args"];
    println!(
        "record --args: getppid {} × the plain recording; fcntl(F_GETFD) ns/call untraced {}, \
         recorded {}, recorded --args {} ({} × the plain recording)",
        num(&a["getppid_args_over_recorded"], 2, ""),
        num(&a["runs"][1]["ns_per_call"], 1, ""),
        num(&a["runs"][2]["ns_per_call"], 1, ""),
        num(&a["runs"][3]["ns_per_call"], 1, ""),
        num(&a["fcntl_args_over_recorded"], 2, ""),
    );
    let g = &r["goals"];
    println!(
        "recorded / floor {}, not watching / floor {}, 2 threads / 1 thread {}, \
         bpftrace's added ns / ours {}; moby filter / allow-all filter {}, ours / libseccomp's {}",
        num(&g["recorded_over_floor"], 2, "×"),
        num(&g["not_watching_over_floor"], 2, "×"),
        num(&g["two_threads_over_one"], 2, "×"),
        num(&g["bpftrace_added_over_ours"], 2, "×"),
        num(&g["moby_over_allow_all"], 2, "×"),
        num(&g["our_moby_over_libseccomp"], 2, "×"),
    );
    let p = &r["program"];
    println!(
        "ns per call inside sys_enter programs (kernel run-time statistics, which add their own \
         clock reads): empty program {}, ours {} unwatched, {} watched; ours has {} instructions \
         after verification, {} bytes JIT-ed",
        num(&p["floor_ns"], 1, ""),
        num(&p["unwatched_ns"], 1, ""),
        num(&p["watched_ns"], 1, ""),
        p["instructions"],
        p["jited_bytes"],
    );
    println!(
        "recorder memory: {} KiB resident (max), {} KiB of kernel maps",
        num(&p["recorder_max_rss_kib"], 0, ""),
        num(&p["kernel_map_kib"], 0, ""),
    );
    let s = &r["startup_ms"];
    println!(
        "start-up, wall ms: true {}, profile record -- true {} (+{}), profile run (moby) -- true \
         {} (+{})",
        num(&s["true"], 1, ""),
        num(&s["profile_record"], 1, ""),
        num(&s["record_over_true"], 1, ""),
        num(&s["profile_run_moby"], 1, ""),
        num(&s["run_over_true"], 1, ""),
    );
    println!(
        "workload `{}`, wall ms:",
        r["workload"]["command"].as_str().unwrap_or_default()
    );
    for row in r["workload"]["runs"].as_array().into_iter().flatten() {
        println!(
            "  {:<28} {:>9} {:>8}",
            row["name"].as_str().unwrap_or_default(),
            num(&row["wall_ms"], 0, ""),
            num(&row["ratio_untraced"], 2, "×"),
        );
    }
    println!(
        "moby default for x86_64 (+x86, x32): {} BPF instructions ours, {} libseccomp's",
        r["moby_instructions"]["ours"], r["moby_instructions"]["libseccomp"]
    );
    for row in r["argument_checks"].as_array().into_iter().flatten() {
        println!(
            "moby default, {} loop (argument check, no action cache): floor {} ns, ours {} ns, \
             libseccomp's {} ns; ours / libseccomp's added ns {}",
            row["call"].as_str().unwrap_or("?"),
            num(&row["floor_ns"], 1, ""),
            num(&row["ours_ns"], 1, ""),
            num(&row["libseccomp_ns"], 1, ""),
            num(&row["ours_over_libseccomp_added"], 2, "×"),
        );
    }
    daemon::print(
        r["daemon"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default(),
    );
    daemon::print_calls(&r["daemon_calls"]);
}

fn median(samples: &[f64]) -> Option<f64> {
    if samples.is_empty() {
        return None;
    }
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    Some(sorted[sorted.len() / 2])
}

/// `program args` wrapped as `under` says.
fn under_command(under: Under, prepared: &Prepared, program: &str, args: &[String]) -> Command {
    let mut cmd = match under {
        Under::Nothing => return command(program, args),
        Under::Record | Under::RecordArgs => {
            let mut cmd = Command::new(&prepared.profile);
            cmd.args(["record", "-q", "-o", "/dev/null"]);
            if under == Under::RecordArgs {
                cmd.arg("--args");
            }
            cmd.arg("--");
            cmd
        }
        Under::Strace => {
            let mut cmd = Command::new("strace");
            cmd.args(["-f", "-qq", "-o", "/dev/null", "--"]);
            cmd
        }
        Under::AllowAllFilter | Under::DenyCloneFilter | Under::OurFilter => {
            let profile = match under {
                Under::OurFilter => &prepared.moby,
                Under::DenyCloneFilter => &prepared.deny_clone,
                _ => &prepared.allow_all,
            };
            let mut cmd = Command::new(&prepared.profile);
            cmd.args(["run", "--profile"]).arg(profile).arg("--");
            cmd
        }
        Under::LibseccompFilter => {
            let mut cmd = Command::new("/usr/bin/python3");
            cmd.arg(&prepared.oracle)
                .arg("--exec")
                .arg(&prepared.moby)
                .arg("--");
            cmd
        }
    };
    cmd.arg(program).args(args);
    cmd
}

fn command(program: &str, args: &[String]) -> Command {
    let mut cmd = Command::new(program);
    cmd.args(args);
    cmd
}

/// What runs beside a measurement, stopped when dropped.
type Background = Option<Box<dyn std::any::Any>>;

/// Starts `beside`; `None` when it is not installed here.
fn start(beside: Beside, prepared: &Prepared) -> Result<Option<Background>> {
    Ok(Some(match beside {
        Beside::Nothing => None,
        Beside::Floor => Some(Box::new(kernel::Floor::attach()?)),
        Beside::Recorder => Some(Box::new(idle_recorder(prepared)?)),
        Beside::Bpftrace => {
            if !prepared.have_bpftrace {
                return Ok(None);
            }
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
            let tracer = Stop(tracer, libc::SIGINT);
            // bpftrace prints "Attaching N probes..." once its probes are in place.
            let mut line = String::new();
            BufReader::new(stdout).read_line(&mut line)?;
            if !line.contains("Attaching") {
                bail!("bpftrace did not attach: {line:?}");
            }
            Some(Box::new(tracer))
        }
    }))
}

fn measure_loop(config: &LoopConfig, prepared: &Prepared, calls: u64) -> Result<Option<f64>> {
    let Some(_background) = start(config.beside, prepared)? else {
        return Ok(None);
    };
    let calls = if config.under == Under::Strace {
        calls / 100
    } else {
        calls
    };
    let args = [
        "loop".to_owned(),
        calls.to_string(),
        config.threads.to_string(),
    ];
    let exerciser = prepared.exerciser.to_str().context("exerciser path")?;
    let mut cmd = under_command(config.under, prepared, exerciser, &args);
    let text = output(&mut cmd)?;
    let ns = text
        .lines()
        .last()
        .and_then(|line| line.trim().parse().ok())
        .with_context(|| format!("{cmd:?} printed no timing: {text:?}"))?;
    Ok(Some(ns))
}

/// One `ARGS_LOOP` run: `exerciser loop N 1` or `exerciser fcntl N` under `under`.
fn measure_args_loop(under: Under, mode: &str, prepared: &Prepared, calls: u64) -> Result<f64> {
    let mut args = vec![mode.to_owned(), calls.to_string()];
    if mode == "loop" {
        args.push("1".to_owned());
    }
    let exerciser = prepared.exerciser.to_str().context("exerciser path")?;
    let mut cmd = under_command(under, prepared, exerciser, &args);
    let text = output(&mut cmd)?;
    text.lines()
        .last()
        .and_then(|line| line.trim().parse().ok())
        .with_context(|| format!("{cmd:?} printed no timing: {text:?}"))
}

fn measure_workload(beside: Beside, under: Under, prepared: &Prepared) -> Result<Option<f64>> {
    let Some(_background) = start(beside, prepared)? else {
        return Ok(None);
    };
    let mut cmd = under_command(
        under,
        prepared,
        "sh",
        &["-c".to_owned(), WORKLOAD.to_owned()],
    );
    Ok(Some(wall_ms(&mut cmd)?))
}

fn wall_ms(cmd: &mut Command) -> Result<f64> {
    let start = Instant::now();
    let status = cmd.status().with_context(|| format!("running {cmd:?}"))?;
    let ms = start.elapsed().as_secs_f64() * 1e3;
    if !status.success() {
        bail!("{cmd:?} failed: {status}");
    }
    Ok(ms)
}

/// Time spent in our `sys_enter` program per call, from the kernel's own accounting (which adds
/// a clock read on each side, so these are a little above what runs without it), and the
/// recorder's memory while it records the loop.
fn program_cost(prepared: &Prepared, calls: u64) -> Result<Value> {
    let _stats = kernel::RunTimeStats::enable()?;
    let floor = {
        let _floor = kernel::Floor::attach()?;
        let me = std::process::id();
        let before = kernel::program(me, kernel::FLOOR)?.runs;
        output(Command::new(&prepared.exerciser).args(["loop", &calls.to_string(), "1"]))?;
        kernel::program(me, kernel::FLOOR)?.runs.mean_since(before)
    };
    let unwatched = {
        let recorder = idle_recorder(prepared)?;
        let before = kernel::program(recorder.0.id(), "sys_enter")?.runs;
        output(Command::new(&prepared.exerciser).args(["loop", &calls.to_string(), "1"]))?;
        kernel::program(recorder.0.id(), "sys_enter")?
            .runs
            .mean_since(before)
    };
    let mut recorder = Command::new(&prepared.profile)
        .args(["record", "-q", "-o", "/dev/null", "--"])
        .arg(&prepared.exerciser)
        .args(["loop", &calls.to_string(), "1", "hold"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .context("starting profile record")?;
    let mut line = String::new();
    BufReader::new(recorder.stdout.take().expect("piped")).read_line(&mut line)?;
    let program = kernel::program(recorder.id(), "sys_enter")?;
    let maps = kernel::map_memory(recorder.id())?;
    // Closing the exerciser's stdin ends it, and with it the recording.
    let mut stdin = recorder.stdin.take().expect("piped");
    stdin.flush()?;
    drop(stdin);
    let max_rss_kib = wait_rss(&recorder)?;
    Ok(json!({
        "floor_ns": floor,
        "unwatched_ns": unwatched,
        "watched_ns": program.runs.mean_since(kernel::ProgramRuns::default()),
        "instructions": program.insns,
        "jited_bytes": program.jited_bytes,
        "recorder_max_rss_kib": max_rss_kib,
        "kernel_map_kib": maps as f64 / 1024.0,
    }))
}

/// Reaps `child` and returns its peak resident memory in KiB.
fn wait_rss(child: &Child) -> Result<f64> {
    let mut status = 0;
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) } < 0 {
        return Err(std::io::Error::last_os_error()).context("waiting for profile record");
    }
    if !libc::WIFEXITED(status) || libc::WEXITSTATUS(status) != 0 {
        bail!("profile record failed (wait status {status:#x})");
    }
    Ok(usage.ru_maxrss as f64)
}

fn instruction_counts(prepared: &Prepared, scratch: &Path) -> Result<(u64, u64)> {
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
    Ok((insns(&ours)?, insns(&theirs)?))
}

/// A background tracer, stopped with its signal and reaped when dropped: SIGINT for bpftrace,
/// which ends on it (and in one run out of a hundred missed a SIGTERM); SIGTERM for our recorder,
/// because a bench started in the background of a script has SIGINT ignored, which the
/// recorder's `sleep` inherits and which the recorder passes on to it.
struct Stop(Child, libc::c_int);

impl Drop for Stop {
    fn drop(&mut self) {
        unsafe { libc::kill(self.0.id() as i32, self.1) };
        let _ = self.0.wait();
    }
}

/// `profile record` attached and watching a `sleep` that makes no calls.
fn idle_recorder(prepared: &Prepared) -> Result<Stop> {
    let recorder = Stop(
        Command::new(&prepared.profile)
            .args(["record", "-q", "-o", "/dev/null", "--", "sleep", "600"])
            .spawn()
            .context("starting profile record")?,
        libc::SIGTERM,
    );
    wait_for_exec(recorder.0.id(), Path::new("/usr/bin/sleep"))?;
    Ok(recorder)
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
