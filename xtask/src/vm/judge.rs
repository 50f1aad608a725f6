//! What a guest's run of `guest-test.sh` shows, step by step: pure, over the files it left.
use std::{
    collections::BTreeSet,
    fs,
    path::{Path, PathBuf},
};

use serde_json::Value;

use super::kernels::Machine;

/// One check and how it went.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Check {
    pub name: &'static str,
    pub outcome: Outcome,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Pass,
    Fail(String),
    /// Not possible on this guest, and why (not a failure).
    Skipped(String),
}

/// What the host knows beside the guest's files: its own recordings of the same programs
/// (x86_64 guests run the host's binaries).
pub struct Reference {
    pub tree: Option<BTreeSet<String>>,
    pub args: Option<Value>,
}

/// The files of one guest's run.
pub struct Run {
    dir: PathBuf,
    machine: Machine,
}

/// Calls only the tree's main thread, second thread, child and exec'd grandchild make.
fn tree_marks(machine: Machine) -> [&'static str; 4] {
    match machine {
        Machine::X86_64 => ["sysinfo", "getcpu", "times", "getpgrp"],
        Machine::Arm64 => ["sysinfo", "getcpu", "times", "getpgid"],
    }
}

impl Run {
    pub fn new(dir: &Path, machine: Machine) -> Run {
        Run {
            dir: dir.to_owned(),
            machine,
        }
    }

    fn text(&self, name: &str) -> String {
        fs::read_to_string(self.dir.join(name)).unwrap_or_default()
    }

    fn rc(&self, step: &str) -> Option<i32> {
        self.text(&format!("{step}.rc")).trim().parse().ok()
    }

    fn json(&self, name: &str) -> Result<Value, String> {
        let text = fs::read_to_string(self.dir.join(name)).map_err(|e| format!("{name}: {e}"))?;
        serde_json::from_str(&text).map_err(|e| format!("{name}: {e}"))
    }

    /// Exit status 0, or why not.
    fn ran(&self, step: &str) -> Result<(), String> {
        match self.rc(step) {
            Some(0) => Ok(()),
            Some(rc) => Err(format!(
                "{step} exited {rc}: {}",
                last_line(&self.text(&format!("{step}.err")))
            )),
            None => Err(format!("{step} did not run (no {step}.rc)")),
        }
    }

    /// The variant the tree's recording loaded, from its `-v` log.
    pub fn variant(&self) -> &'static str {
        if self
            .text("tree.err")
            .contains("loading the programs built for Linux 5.10")
        {
            "5.10"
        } else {
            "current"
        }
    }

    /// What the kernel lacks, as the tool said it.
    pub fn lacks(&self) -> Option<String> {
        let log = self.text("tree.err");
        let line = log.lines().find(|l| l.contains("the kernel lacks"))?;
        let rest = line.split("the kernel lacks ").nth(1)?;
        Some(rest.split(':').next()?.trim().to_owned())
    }

    pub fn kernel(&self) -> String {
        self.text("kernel").trim().to_owned()
    }

    pub fn checks(&self, reference: &Reference) -> Vec<Check> {
        let check = |name, result: Result<(), String>| Check {
            name,
            outcome: match result {
                Ok(()) => Outcome::Pass,
                Err(why) => Outcome::Fail(why),
            },
        };
        let mut checks = vec![
            check("record a tree", self.tree(reference)),
            check("5.10 build records the same", self.tree_510()),
        ];
        checks.push(match self.machine {
            Machine::X86_64 => check("32-bit calls", self.compat("SCMP_ARCH_X86", "getppid")),
            Machine::Arm64 if self.rc("compat").is_none() => Check {
                name: "32-bit calls",
                outcome: Outcome::Skipped(format!(
                    "this guest runs no 32-bit tasks: {}",
                    last_line(&self.text("arm32_probe.err"))
                )),
            },
            Machine::Arm64 => check(
                "32-bit calls",
                self.compat("SCMP_ARCH_ARM", "set_tls")
                    .and_then(|()| self.output_has("compat_run", "hi")),
            ),
        });
        checks.extend([
            check("record --cgroup", self.marks_in("cgroup", "cgroup.json")),
            check("record --args", self.args(reference)),
            check("daemon", self.daemon()),
            check("run enforcing", self.ran("run_ok")),
            check(
                "run refusing",
                self.ran("unix")
                    .and_then(|()| self.output_has("run_refused", "clone(CLONE_NEWNET): errno 1")),
            ),
            check("no BTF: one line", self.no_btf()),
        ]);
        checks
    }

    /// The end-to-end test files run in the guest (`vm-test --e2e`): one check, passed when
    /// every test of every file passed.
    pub fn e2e(&self, files: &[(String, PathBuf)]) -> Option<Check> {
        if files.is_empty() {
            return None;
        }
        let mut failed = Vec::new();
        for (name, _) in files {
            let step = format!("e2e_{name}");
            if let Err(why) = self.ran(&step) {
                let log = self.text(&format!("{step}.out"));
                let tests: Vec<&str> = log
                    .lines()
                    .filter_map(|l| l.strip_prefix("test ")?.strip_suffix(" ... FAILED"))
                    .collect();
                failed.push(if tests.is_empty() {
                    why
                } else {
                    format!("{name}: {}", tests.join(", "))
                });
            }
        }
        Some(Check {
            name: "e2e tests",
            outcome: if failed.is_empty() {
                Outcome::Pass
            } else {
                Outcome::Fail(failed.join("; "))
            },
        })
    }

    fn names(&self, file: &str) -> Result<BTreeSet<String>, String> {
        Ok(allowed(&self.json(file)?))
    }

    fn has_marks(&self, names: &BTreeSet<String>) -> Result<(), String> {
        let missing: Vec<&str> = tree_marks(self.machine)
            .into_iter()
            .filter(|mark| !names.contains(*mark))
            .collect();
        if missing.is_empty() {
            Ok(())
        } else {
            Err(format!("{} not recorded", missing.join(", ")))
        }
    }

    fn tree(&self, reference: &Reference) -> Result<(), String> {
        self.ran("tree")?;
        let ours = self.names("tree.json")?;
        self.has_marks(&ours)?;
        let (theirs, whose) = match &reference.tree {
            Some(host) => (host.clone(), "the host's recording"),
            None => {
                let mut names = strace_names(&self.text("tree.strace"));
                // strace's summary leaves out the calls that never return.
                names.extend(
                    ["exit", "exit_group"]
                        .into_iter()
                        .filter(|name| ours.contains(*name))
                        .map(str::to_owned),
                );
                (names, "strace")
            }
        };
        if theirs.is_empty() {
            return Err(format!("nothing to compare with ({whose} is empty)"));
        }
        same_sets(&ours, &theirs, whose)
    }

    fn tree_510(&self) -> Result<(), String> {
        self.ran("tree_510")?;
        same_sets(
            &self.names("tree_510.json")?,
            &self.names("tree.json")?,
            "the current build's",
        )
    }

    fn compat(&self, arch: &str, name: &str) -> Result<(), String> {
        self.ran("compat")?;
        let profile = self.json("compat.json")?;
        let arches: Vec<&str> = profile["architectures"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        if !arches.contains(&arch) {
            return Err(format!("architectures {arches:?} lack {arch}"));
        }
        if !allowed(&profile).contains(name) {
            return Err(format!("{name} not recorded"));
        }
        Ok(())
    }

    fn marks_in(&self, step: &str, file: &str) -> Result<(), String> {
        self.ran(step)?;
        self.has_marks(&self.names(file)?)
    }

    fn args(&self, reference: &Reference) -> Result<(), String> {
        self.ran("args")?;
        let profile = self.json("args.json")?;
        if let Some(host) = &reference.args {
            if &profile != host {
                return Err(format!(
                    "differs from the host's recording: {}",
                    serde_json::to_string(&profile).unwrap_or_default()
                ));
            }
        }
        self.ran("args_run")?;
        for line in ["socket(AF_UNIX): ok", "socket(AF_INET): errno 1"] {
            self.output_has("args_run", line)?;
        }
        Ok(())
    }

    fn daemon(&self) -> Result<(), String> {
        self.ran("daemon")?;
        self.ran("daemon_status")?;
        let dir = self.dir.join("daemon");
        let profiles: Vec<PathBuf> = fs::read_dir(&dir)
            .map_err(|e| format!("{}: {e}", dir.display()))?
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        let [profile] = profiles.as_slice() else {
            return Err(format!("{} profiles written, not 1", profiles.len()));
        };
        let text = fs::read_to_string(profile).map_err(|e| e.to_string())?;
        let json: Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
        self.has_marks(&allowed(&json))?;
        self.ran("daemon_unpin")
    }

    fn output_has(&self, step: &str, needle: &str) -> Result<(), String> {
        self.ran(step)?;
        if self.text(&format!("{step}.out")).contains(needle) {
            Ok(())
        } else {
            Err(format!("{step} did not print {needle:?}"))
        }
    }

    fn no_btf(&self) -> Result<(), String> {
        let err = self.text("nobtf.err");
        match self.rc("nobtf") {
            Some(2) if err.trim().lines().count() == 1 && err.contains("the kernel has no BTF") => {
                Ok(())
            }
            rc => Err(format!("exit {rc:?}, said: {}", err.trim())),
        }
    }
}

fn last_line(text: &str) -> String {
    text.trim().lines().last().unwrap_or("").to_owned()
}

fn same_sets(
    ours: &BTreeSet<String>,
    theirs: &BTreeSet<String>,
    whose: &str,
) -> Result<(), String> {
    if ours == theirs {
        return Ok(());
    }
    let only_ours: Vec<&String> = ours.difference(theirs).collect();
    let only_theirs: Vec<&String> = theirs.difference(ours).collect();
    Err(format!(
        "differs from {whose}: only here {only_ours:?}, only there {only_theirs:?}"
    ))
}

/// Names allowed by a profile's SCMP_ACT_ALLOW rules.
pub fn allowed(profile: &Value) -> BTreeSet<String> {
    profile["syscalls"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|rule| rule["action"] == "SCMP_ACT_ALLOW")
        .flat_map(|rule| rule["names"].as_array().into_iter().flatten())
        .filter_map(|name| name.as_str().map(str::to_owned))
        .collect()
}

/// The syscall names of an `strace -f -c` summary: rows start with the share of time and end
/// with the name; the last row is the total.
pub fn strace_names(summary: &str) -> BTreeSet<String> {
    summary
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            fields.first()?.parse::<f64>().ok()?;
            let name = *fields.last()?;
            (name != "total").then(|| name.to_owned())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_with(files: &[(&str, &str)], machine: Machine) -> (Run, PathBuf) {
        let dir =
            std::env::temp_dir().join(format!("vm-judge-{}-{}", std::process::id(), files.len()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        for (name, text) in files {
            fs::write(dir.join(name), text).unwrap();
        }
        (Run::new(&dir, machine), dir)
    }

    const TREE: &str = r#"{"architectures":["SCMP_ARCH_X86_64"],"syscalls":[{"names":["execve","getcpu","getpgrp","sysinfo","times"],"action":"SCMP_ACT_ALLOW"}]}"#;

    #[test]
    fn a_tree_equal_to_the_hosts_passes_and_a_different_one_says_how() {
        let (run, dir) = run_with(
            &[
                ("tree.rc", "0\n"),
                ("tree.json", TREE),
                ("tree.err", "profile: info: the kernel lacks bpf_get_current_task_btf (Linux 5.11): loading the programs built for Linux 5.10\n"),
            ],
            Machine::X86_64,
        );
        let host: BTreeSet<String> = ["execve", "getcpu", "getpgrp", "sysinfo", "times"]
            .map(str::to_owned)
            .into();
        let reference = Reference {
            tree: Some(host.clone()),
            args: None,
        };
        assert_eq!(run.tree(&reference), Ok(()));
        assert_eq!(run.variant(), "5.10");
        assert_eq!(
            run.lacks().as_deref(),
            Some("bpf_get_current_task_btf (Linux 5.11)")
        );
        let mut more = host;
        more.insert("futex".to_owned());
        let err = run
            .tree(&Reference {
                tree: Some(more),
                args: None,
            })
            .unwrap_err();
        assert!(err.contains("only there [\"futex\"]"), "{err}");
        // A later step that never ran is a failure, not a pass.
        assert!(run.ran("run_ok").unwrap_err().contains("did not run"));
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn the_strace_summary_gives_names() {
        let summary = "% time     seconds  usecs/call     calls    errors syscall\n\
            ------ ----------- ----------- --------- --------- ----------\n \
            46.72    0.001390         695         2           execve\n  \
            0.00    0.000000           0         1         1 getpgid\n\
            ------ ----------- ----------- --------- --------- ----------\n\
            100.00    0.002975          18       157         2 total\n";
        assert_eq!(
            strace_names(summary),
            ["execve", "getpgid"].map(str::to_owned).into()
        );
    }
}
