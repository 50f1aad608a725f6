//! `profile report`, `profile completions` and the man pages (no root needed).
//!
//! The report's output is compared with golden files in tests/golden/report/ (regenerate them
//! with `UPDATE_GOLDEN=1 cargo xtask test --test report` and review the diff). The comparison
//! with Docker's default is checked against numbers this file computes itself from
//! the reference copy of moby's default (profiler/data/moby-default.json), without the
//! profiler's parser or resolver.
use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
    process::{Command, Output},
};

use serde_json::Value;
use tests::*;

/// Fixed target, so results do not depend on the machine's kernel.
const X86_64: [&str; 4] = ["--arch", "x86_64", "--kernel", "6.18"];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn golden_dir() -> PathBuf {
    root().join("tests/golden/report")
}

/// `profile ARGS` run in the golden directory, so file names in the output are relative.
fn profile(args: &[&str]) -> Output {
    run(Command::new(profile_bin())
        .args(args)
        .current_dir(golden_dir())
        .env_remove("NO_COLOR"))
}

/// Compares with tests/golden/report/NAME, or rewrites it under UPDATE_GOLDEN=1.
fn golden(name: &str, actual: &str) {
    let path = golden_dir().join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|err| panic!("{}: {err}; UPDATE_GOLDEN=1 writes it", path.display()));
    if expected != actual {
        let first = expected
            .lines()
            .zip(actual.lines())
            .position(|(e, a)| e != a)
            .unwrap_or(expected.lines().count().min(actual.lines().count()));
        panic!(
            "{name} differs from the golden file from line {} on (UPDATE_GOLDEN=1 rewrites it)\n\
             expected: {:?}\nactual:   {:?}\n--- actual output:\n{actual}",
            first + 1,
            expected.lines().nth(first),
            actual.lines().nth(first)
        );
    }
}

fn report(extra: &[&str]) -> Output {
    let mut args = vec!["report", "web.json"];
    args.extend(X86_64);
    args.extend(extra);
    profile(&args)
}

#[test]
fn report_table_matches_golden() {
    let output = report(&[]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    golden("web.report.txt", &stdout(&output));
    // The counts file names a syscall the profile does not allow: one warning line.
    let err = stderr(&output);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("web.json.counts: 1 counted syscall(s) the profile does not allow"),
        "{err}"
    );
}

#[test]
fn report_json_matches_golden() {
    let output = report(&["--json"]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    golden("web.report.json", &stdout(&output));
}

#[test]
fn report_against_docker_matches_golden() {
    let output = report(&["--against", "docker", "--no-counts"]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    golden("web.against-docker.txt", &stdout(&output));
}

#[test]
fn report_without_counts_has_no_count_column() {
    let output = report(&["--no-counts"]);
    let out = stdout(&output);
    assert!(
        out.starts_with("SYSCALL          ABI     RISK    NOTE\n"),
        "{out}"
    );
    assert!(stderr(&output).is_empty(), "{}", describe(&output));
}

/// The names Docker's default allows for x86_64, kernel 6.18, Docker's 14 capabilities,
/// computed here from the reference file as moby resolves it: a rule applies when every
/// `includes` condition holds (caps all granted, arches naming amd64, minKernel at most 6.18)
/// and no `excludes` condition does.
fn docker_allowed_names() -> BTreeSet<String> {
    let text = std::fs::read_to_string(reference("moby-default.json")).expect("moby-default.json");
    let moby: Value = serde_json::from_str(&text).unwrap();
    let caps: BTreeSet<&str> = [
        "CAP_CHOWN",
        "CAP_DAC_OVERRIDE",
        "CAP_FSETID",
        "CAP_FOWNER",
        "CAP_MKNOD",
        "CAP_NET_RAW",
        "CAP_SETGID",
        "CAP_SETUID",
        "CAP_SETFCAP",
        "CAP_SETPCAP",
        "CAP_NET_BIND_SERVICE",
        "CAP_SYS_CHROOT",
        "CAP_KILL",
        "CAP_AUDIT_WRITE",
    ]
    .into();
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(|a| a.iter().map(|s| s.as_str().unwrap().to_owned()).collect())
            .unwrap_or_default()
    };
    let kernel_ok = |v: &Value| {
        v.as_str().is_none_or(|min| {
            let mut parts = min.split('.').map(|p| p.parse::<u32>().unwrap());
            (parts.next().unwrap(), parts.next().unwrap_or(0)) <= (6, 18)
        })
    };
    let mut names = BTreeSet::new();
    for rule in moby["syscalls"].as_array().unwrap() {
        if rule["action"] != "SCMP_ACT_ALLOW" {
            continue;
        }
        let (inc, exc) = (&rule["includes"], &rule["excludes"]);
        let included = strings(&inc["caps"])
            .iter()
            .all(|c| caps.contains(c.as_str()))
            && (strings(&inc["arches"]).is_empty()
                || strings(&inc["arches"]).iter().any(|a| a == "amd64"))
            && kernel_ok(&inc["minKernel"]);
        let excluded = strings(&exc["caps"])
            .iter()
            .any(|c| caps.contains(c.as_str()))
            || strings(&exc["arches"]).iter().any(|a| a == "amd64");
        assert!(
            exc["minKernel"].is_null(),
            "excludes.minKernel: teach this test about it"
        );
        if included && !excluded {
            names.extend(strings(&rule["names"]));
        }
    }
    names
}

/// `profile syscalls --abi ABI` as a set of names.
fn table(abi: &str) -> BTreeSet<String> {
    let output = profile(&["syscalls", "--abi", abi]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    stdout(&output)
        .lines()
        .map(|line| line.split_whitespace().nth(1).unwrap().to_owned())
        .collect()
}

fn strings(v: &Value) -> BTreeSet<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn docker_comparison_matches_an_independent_count() {
    let docker = docker_allowed_names();
    let ours: BTreeSet<String> = {
        let profile: Value =
            serde_json::from_str(&std::fs::read_to_string(golden_dir().join("web.json")).unwrap())
                .unwrap();
        profile["syscalls"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|rule| rule["action"] == "SCMP_ACT_ALLOW")
            .flat_map(|rule| strings(&rule["names"]))
            .collect()
    };
    let output = report(&["--against", "docker", "--json", "--no-counts"]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let json: Value = serde_json::from_str(&stdout(&output)).unwrap();
    let against = &json["against"];
    let arches: BTreeMap<String, &Value> = against["architectures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["architecture"].as_str().unwrap().to_owned(), a))
        .collect();
    assert_eq!(
        arches.keys().collect::<Vec<_>>(),
        ["SCMP_ARCH_X32", "SCMP_ARCH_X86", "SCMP_ARCH_X86_64"],
        "moby's archMap gives x86_64 the i386 and x32 ABIs too"
    );

    let x86_64 = table("x86_64");
    let docker_here: BTreeSet<String> = docker.intersection(&x86_64).cloned().collect();
    let native = arches["SCMP_ARCH_X86_64"];
    assert_eq!(against["allowed"], docker_here.len());
    assert_eq!(native["allowedThere"], docker_here.len());
    assert_eq!(native["allowedHere"], ours.len());
    assert_eq!(
        strings(&native["onlyThere"]),
        docker_here.difference(&ours).cloned().collect()
    );
    assert_eq!(
        strings(&native["onlyHere"]),
        ours.difference(&docker_here).cloned().collect()
    );
    let ratio = against["ratio"].as_f64().unwrap();
    let expected = ours.len() as f64 / docker_here.len() as f64;
    assert!((ratio - expected).abs() < 1e-4, "{ratio} vs {expected}");

    // The profile filters x86_64 only, so every i386 name Docker allows is denied here.
    let i386: BTreeSet<String> = docker.intersection(&table("i386")).cloned().collect();
    assert_eq!(arches["SCMP_ARCH_X86"]["allowedHere"], 0);
    assert_eq!(strings(&arches["SCMP_ARCH_X86"]["onlyThere"]), i386);
    let x32: BTreeSet<String> = docker.intersection(&table("x32")).cloned().collect();
    assert_eq!(strings(&arches["SCMP_ARCH_X32"]["onlyThere"]), x32);

    // The summary line says the same.
    let text = stdout(&report(&["--against", "docker", "--no-counts"]));
    let last = text.lines().last().unwrap();
    assert!(
        last.ends_with(&format!(
            "{:.0}% of docker's {} ({} high-risk)",
            expected * 100.0,
            docker_here.len(),
            against["high"]
        )),
        "{last}"
    );
}

#[test]
fn report_against_a_file_lists_both_directions() {
    let dir = scratch("report-against");
    let other = dir.join("other.json");
    std::fs::write(
        &other,
        r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["read","write","getpid"],"action":"SCMP_ACT_ALLOW"}]}"#,
    )
    .unwrap();
    let other = other.to_str().unwrap();
    let output = report(&["--against", other, "--json", "--no-counts"]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let json: Value = serde_json::from_str(&stdout(&output)).unwrap();
    let native = &json["against"]["architectures"][0];
    assert_eq!(native["architecture"], "SCMP_ARCH_X86_64");
    assert_eq!(strings(&native["onlyThere"]), ["getpid".to_owned()].into());
    assert_eq!(
        native["onlyHere"].as_array().unwrap().len(),
        31,
        "33 allowed, read and write shared"
    );
    assert_eq!(json["against"]["name"], other);

    // --fail-on extra: exit 1 with one warning line naming why.
    let output = report(&["--against", other, "--fail-on", "extra", "--no-counts"]);
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    assert!(
        stderr(&output).contains("31 allowed that"),
        "{}",
        describe(&output)
    );
}

#[test]
fn report_exit_codes() {
    let output = report(&["--fail-on", "high", "--no-counts"]);
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    assert!(
        stderr(&output).contains("--fail-on: 2 high-risk allowed"),
        "{}",
        describe(&output)
    );

    let output = profile(&["report", "missing.json"]);
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    let err = stderr(&output);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("profile: error: reading missing.json: "),
        "{err}"
    );

    let output = report(&["--fail-on", "extra"]);
    assert_refused(&output, "add --against docker");

    let output = report(&["--counts", "web.json"]);
    assert_refused(&output, "web.json: not a counts file");

    let output = profile(&["report", "--no-such-flag", "web.json"]);
    assert_eq!(
        output.status.code(),
        Some(2),
        "usage errors exit 2: {}",
        describe(&output)
    );
}

/// Runs `profile report` on a pseudo-terminal (util-linux `script`), to see colours.
fn report_on_a_tty(no_color: Option<&str>) -> Option<String> {
    let script = ["/usr/bin/script", "/bin/script"]
        .into_iter()
        .find(|p| Path::new(p).exists())?;
    let cmd = format!(
        "{} report web.json --no-counts --arch x86_64 --kernel 6.18",
        profile_bin().display()
    );
    let mut command = Command::new(script);
    command
        .args(["-qec", &cmd, "/dev/null"])
        .current_dir(golden_dir())
        .env_remove("NO_COLOR");
    if let Some(value) = no_color {
        command.env("NO_COLOR", value);
    }
    let output = run(&mut command);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    Some(stdout(&output))
}

#[test]
fn colour_only_on_a_terminal_and_never_with_no_color() {
    assert!(
        !stdout(&report(&[])).contains('\x1b'),
        "piped output has no colour"
    );
    let Some(tty) = report_on_a_tty(None) else {
        eprintln!("script(1) missing: terminal part skipped");
        return;
    };
    assert!(tty.contains("\x1b[1;31mhigh"), "{tty:?}");
    let plain = report_on_a_tty(Some("1")).unwrap();
    assert!(!plain.contains('\x1b'), "{plain:?}");
}

#[test]
fn completions_for_bash_zsh_and_fish() {
    let output = profile(&["completions", "bash"]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let bash = stdout(&output);
    for part in [
        "_profile()",
        "complete -F _profile",
        "report",
        "--against",
        "completions",
    ] {
        assert!(bash.contains(part), "{part:?} missing from the bash script");
    }
    assert!(
        !bash.contains("profile__man"),
        "the hidden man subcommand is not completed"
    );
    if Path::new("/bin/bash").exists() {
        let dir = scratch("completions");
        let file = dir.join("profile.bash");
        std::fs::write(&file, &bash).unwrap();
        let check = run(Command::new("/bin/bash").arg("-n").arg(&file));
        assert!(check.status.success(), "bash -n: {}", describe(&check));
    }
    let zsh = stdout(&profile(&["completions", "zsh"]));
    assert!(zsh.starts_with("#compdef profile"), "{zsh}");
    let fish = stdout(&profile(&["completions", "fish"]));
    assert!(fish.contains("complete -c profile"), "{fish}");
    assert!(fish.contains("report"), "{fish}");
}

#[test]
fn man_pages_in_docs_are_current() {
    let dir = scratch("man");
    let output = profile(&["man", dir.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let pages = |dir: &Path| -> BTreeMap<String, String> {
        std::fs::read_dir(dir)
            .unwrap_or_else(|err| panic!("{}: {err}", dir.display()))
            .map(|entry| entry.unwrap().path())
            .filter(|path| path.extension().is_some_and(|ext| ext == "1"))
            .map(|path| {
                (
                    path.file_name().unwrap().to_string_lossy().into_owned(),
                    std::fs::read_to_string(&path).unwrap(),
                )
            })
            .collect()
    };
    let fresh = pages(&dir);
    let docs = pages(&root().join("docs/man"));
    assert!(fresh.contains_key("profile.1") && fresh.contains_key("profile-report.1"));
    assert_eq!(
        fresh.keys().collect::<Vec<_>>(),
        docs.keys().collect::<Vec<_>>(),
        "docs/man has other pages than the CLI: run `cargo xtask man`"
    );
    for (name, text) in &fresh {
        assert!(
            docs[name] == *text,
            "docs/man/{name} is out of date: run `cargo xtask man`"
        );
    }
}

#[test]
fn every_subcommand_help_has_examples() {
    let help = stdout(&profile(&["--help"]));
    let commands: Vec<&str> = help
        .lines()
        .skip_while(|line| !line.starts_with("Commands:"))
        .skip(1)
        .take_while(|line| line.starts_with("  "))
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| *name != "help")
        .collect();
    assert!(
        commands.contains(&"report") && commands.len() >= 12,
        "{commands:?}"
    );
    for name in commands {
        let output = profile(&[name, "--help"]);
        assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
        let help = stdout(&output);
        assert!(
            help.contains("\nExamples:\n  profile ")
                || help.contains("\nExamples:\n  sudo profile "),
            "`profile {name} --help` has no examples"
        );
    }
}
