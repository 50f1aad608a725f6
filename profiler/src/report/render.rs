//! A [`Report`] as a terminal table or as JSON.
//!
//! Text: one row per allowed name (high risk first), columns aligned; then, with a comparison,
//! the names each side allows that the other denies; the summary line last. Colour (risk
//! column, summary) only when asked for: [`use_color`] says when (stdout a terminal, `NO_COLOR`
//! unset or empty).
use std::{collections::BTreeMap, fmt::Write as _, io::IsTerminal as _};

use serde::Serialize;

use super::{Added, Comparison, Report, Risk, Row};
use crate::{
    output::{
        escape,
        profile::{allowance_text, hints_text},
        table::{Align, Cell, Table, RESET},
    },
    profile::{
        ops::Allowance,
        runtimes::{self, Logging, Runtime},
        ArgCondition,
    },
};

/// Colour when stdout is a terminal and `NO_COLOR` is unset or empty (<https://no-color.org>).
pub fn use_color() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

const RED: &str = "\x1b[1;31m";
const YELLOW: &str = "\x1b[33m";
const BOLD: &str = "\x1b[1m";

/// Names lists are wrapped to this width.
const WIDTH: usize = 100;

fn added_text(added: &Added) -> String {
    match added {
        Added::Implied(reason) => format!("implied: {reason}"),
        Added::Group(group) => format!("added by --allow-group {group}"),
    }
}

fn note(row: &Row) -> String {
    [
        row.reason.to_owned(),
        allowance_text(&row.allowance),
        row.added.as_ref().map(added_text).unwrap_or_default(),
    ]
    .into_iter()
    .filter(|part| !part.is_empty())
    .collect::<Vec<_>>()
    .join("; ")
}

fn arches_text(row: &Row) -> String {
    row.arches
        .iter()
        .map(|a| a.short_name())
        .collect::<Vec<_>>()
        .join(",")
}

fn paint(color: bool, code: &str, text: &str) -> String {
    if color {
        format!("{code}{text}{RESET}")
    } else {
        text.to_owned()
    }
}

/// `names` wrapped at [`WIDTH`], each line indented by two spaces.
fn wrapped(names: &[String]) -> String {
    let mut out = String::new();
    let mut line = String::new();
    for name in names {
        if !line.is_empty() && line.len() + 1 + name.len() > WIDTH - 2 {
            let _ = writeln!(out, "  {line}");
            line.clear();
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(&escape(name));
    }
    if !line.is_empty() {
        let _ = writeln!(out, "  {line}");
    }
    out
}

/// The terminal table, comparison and summary line.
pub fn text(report: &Report, color: bool) -> String {
    let allowed = &report.allowed;
    let with_counts = report.counts.is_some();
    let mut aligns = vec![Align::Left, Align::Left];
    if with_counts {
        aligns.push(Align::Right);
    }
    aligns.extend([Align::Left, Align::Left]);
    let mut table = Table::new(&aligns);
    let row = |cells: [Cell; 5]| -> Vec<Cell> {
        let [name, abi, count, risk, note] = cells;
        let mut row = vec![name, abi];
        if with_counts {
            row.push(count);
        }
        row.extend([risk, note]);
        row
    };
    table.row(row(
        ["SYSCALL", "ABI", "COUNT", "RISK", "NOTE"].map(Cell::from)
    ));
    for r in &allowed.rows {
        let count = match (with_counts, r.count()) {
            (false, _) => String::new(),
            (true, 0) => "-".to_owned(),
            (true, n) => n.to_string(),
        };
        let style = match r.risk {
            Risk::High => Some(RED),
            Risk::Medium => Some(YELLOW),
            _ => None,
        };
        table.row(row([
            escape(&r.name).into_owned().into(),
            arches_text(r).into(),
            count.into(),
            Cell::painted(r.risk.as_str(), style.filter(|_| color)),
            note(r).into(),
        ]));
    }
    let mut out = table.render();
    if allowed.default.passes() {
        let _ = writeln!(
            out,
            "note: the default action {} lets every syscall through that no rule blocks",
            allowed.default.action
        );
    }
    if let Some(counts) = &report.counts {
        if !counts.not_allowed.is_empty() {
            let _ = writeln!(
                out,
                "note: {} counted but not allowed (the profile changed since the recording?): {}",
                counts.source,
                counts.not_allowed.join(" ")
            );
        }
    }
    out.push_str(&hints_text(&report.hints));
    if let Some(against) = &report.against {
        out.push('\n');
        out.push_str(&comparison_text(report, against));
    }
    if !report.denials.is_empty() {
        out.push_str(&denials_text(&report.denials));
    }
    out.push('\n');
    out.push_str(&paint(color, BOLD, &summary(report)));
    out.push('\n');
    out
}

fn comparison_text(report: &Report, against: &Comparison) -> String {
    let ours = &report.source;
    let theirs = &against.name;
    let native = report.allowed.native;
    let c = against.native();
    let mut out = format!("against {theirs}: {}\n", against.description);
    let mut section = |title: String, names: &[String]| {
        if !names.is_empty() {
            let _ = writeln!(out, "{title} ({} on {native}):", names.len());
            out.push_str(&wrapped(names));
        }
    };
    section(format!("{ours} allows, {theirs} denies"), &c.only_here);
    section(format!("{theirs} allows, {ours} denies"), &c.only_there);
    let differ: Vec<String> = c
        .differ
        .iter()
        .map(|name| {
            let side = |allowed: &super::Allowed| {
                allowed
                    .get(name)
                    .map(|row| match allowance_text(&row.allowance) {
                        text if text.is_empty() => "always".to_owned(),
                        text => text,
                    })
                    .unwrap_or_default()
            };
            format!(
                "{name}: {ours} {}; {theirs} {}",
                side(&report.allowed),
                side(&against.theirs)
            )
        })
        .collect();
    if !differ.is_empty() {
        let _ = writeln!(
            out,
            "both allow, under different conditions ({} on {native}):",
            differ.len()
        );
        for line in differ {
            let _ = writeln!(out, "  {line}");
        }
    }
    let others: Vec<String> = against.arches[1..]
        .iter()
        .map(|(arch, c)| format!("{arch}: {ours} {}, {theirs} {}", c.here, c.there))
        .collect();
    if !others.is_empty() {
        let _ = writeln!(out, "other ABIs, names allowed: {}", others.join("; "));
    }
    out
}

/// `app.json: 42 syscalls allowed on x86_64 (of 373 known), 3 high-risk, 2 medium-risk; 5120
/// calls recorded; 12% of docker's 350`.
pub fn summary(report: &Report) -> String {
    let tally = report.tally();
    let native = report.allowed.native;
    let mut line = format!(
        "{}: {} syscalls allowed on {native}",
        report.source, tally.allowed
    );
    if let Some(known) = report.known {
        let _ = write!(line, " (of {known} known)");
    }
    let _ = write!(
        line,
        ", {} high-risk, {} medium-risk",
        tally.high, tally.medium
    );
    if tally.elsewhere_only > 0 {
        let others: Vec<&str> = report.allowed.arches[..]
            .iter()
            .filter(|a| **a != native)
            .map(|a| a.short_name())
            .collect();
        let _ = write!(
            line,
            ", {} more only on {}",
            tally.elsewhere_only,
            others.join("/")
        );
    }
    if let Some(counts) = &report.counts {
        let _ = write!(line, "; {} calls recorded", counts.calls);
        if counts.implied > 0 {
            let _ = write!(line, ", {} implied", counts.implied);
        }
    }
    if let Some(against) = &report.against {
        let theirs = against.theirs.tally();
        match against.ratio() {
            Some(ratio) => {
                let _ = write!(
                    line,
                    "; {:.0}% of {}'s {} ({} high-risk)",
                    ratio * 100.0,
                    against.name,
                    theirs.allowed,
                    theirs.high
                );
            }
            None => {
                let _ = write!(line, "; {} allows none", against.name);
            }
        }
    }
    line
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct JsonReport<'a> {
    file: &'a str,
    architecture: String,
    architectures: Vec<String>,
    default_action: String,
    default_errno_ret: Option<u32>,
    summary: JsonSummary,
    counts: Option<JsonCounts<'a>>,
    syscalls: Vec<JsonRow<'a>>,
    hints: Vec<JsonHint<'a>>,
    against: Option<JsonAgainst<'a>>,
    denials: Vec<JsonDenials<'a>>,
}

/// Per runtime, whether denials reach the audit stream; the advice once, below.
fn denials_text(denials: &[(Runtime, Logging, String)]) -> String {
    let width = denials
        .iter()
        .map(|(r, ..)| r.label().len())
        .max()
        .unwrap_or(0);
    let mut out = String::from(
        "\ndenials reach the audit stream (podman, containerd and the kubelet do as the runc or crun they run):\n",
    );
    for (runtime, logging, _) in denials {
        let _ = writeln!(
            out,
            "  {:width$}  {}",
            runtime.label(),
            runtimes::verdict(logging)
        );
    }
    if denials
        .iter()
        .any(|(_, logging, _)| matches!(logging, Logging::NotLogged(_)))
    {
        let _ = writeln!(
            out,
            "  (`profile export --log-denials` adds {} for crun and runc 1.2; `profile daemon` sees those of calls the workload never made all the same)",
            runtimes::FLAG_LOG
        );
    }
    out
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct JsonDenials<'a> {
    runtime: &'static str,
    /// `logged`, `not logged`, `refused` (the runtime refuses the profile) or `nothing denied`.
    logged: &'static str,
    /// `not logged`: the actions whose denials are not.
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    actions: &'a [String],
    text: &'a str,
}

fn denials_json(denials: &[(Runtime, Logging, String)]) -> Vec<JsonDenials<'_>> {
    denials
        .iter()
        .map(|(runtime, logging, text)| {
            let (logged, actions): (&str, &[String]) = match logging {
                Logging::NothingDenied => ("nothing denied", &[]),
                Logging::Logged => ("logged", &[]),
                Logging::NotLogged(actions) => ("not logged", actions),
                Logging::Refused => ("refused", &[]),
            };
            JsonDenials {
                runtime: runtime.arg(),
                logged,
                actions,
                text,
            }
        })
        .collect()
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct JsonHint<'a> {
    group: &'a str,
    unseen: &'a [&'a str],
    like: &'a [&'a str],
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct JsonSummary {
    allowed: usize,
    known: Option<usize>,
    high: usize,
    medium: usize,
    other_abis_only: usize,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct JsonCounts<'a> {
    file: &'a str,
    calls: u64,
    not_allowed: &'a [String],
    implied: usize,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct JsonRow<'a> {
    name: &'a str,
    architectures: Vec<String>,
    risk: Risk,
    reason: Option<&'a str>,
    allowed: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    conditions: Option<&'a [Vec<ArgCondition>]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    count: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    counts: Option<BTreeMap<String, u64>>,
    /// `implied` or the `@group` that added it.
    #[serde(skip_serializing_if = "Option::is_none")]
    added: Option<&'a str>,
    /// The implied rule's reason.
    #[serde(skip_serializing_if = "Option::is_none")]
    implied: Option<&'a str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct JsonAgainst<'a> {
    name: &'a str,
    description: &'a str,
    allowed: usize,
    high: usize,
    medium: usize,
    ratio: Option<f64>,
    architectures: Vec<JsonArch<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct JsonArch<'a> {
    architecture: String,
    allowed_here: usize,
    allowed_there: usize,
    only_here: &'a [String],
    only_there: &'a [String],
    conditions_differ: &'a [String],
}

fn row_json(row: &Row, with_counts: bool) -> JsonRow<'_> {
    let (allowed, conditions) = match &row.allowance {
        Allowance::Always => ("always", None),
        Allowance::When(w) => ("when", Some(w.as_slice())),
        Allowance::Unless(w) => ("unless", Some(w.as_slice())),
    };
    JsonRow {
        name: &row.name,
        architectures: row.arches.iter().map(|a| a.scmp_name()).collect(),
        risk: row.risk,
        reason: (!row.reason.is_empty()).then_some(row.reason),
        allowed,
        conditions,
        count: with_counts.then(|| row.count()),
        counts: with_counts.then(|| {
            row.counts
                .iter()
                .map(|(arch, n)| (arch.scmp_name(), *n))
                .collect()
        }),
        added: row.added.as_ref().map(|added| match added {
            Added::Implied(_) => "implied",
            Added::Group(group) => group.as_str(),
        }),
        implied: match row.added {
            Some(Added::Implied(reason)) => Some(reason),
            _ => None,
        },
    }
}

/// The report for machines, fields in this order: `file`, `architecture` (the native one),
/// `architectures`, `defaultAction`, `defaultErrnoRet`, `summary` {allowed, known, high,
/// medium, otherAbisOnly}, `counts` {file, calls, notAllowed, implied} or null, `syscalls`
/// [{name, architectures, risk, reason, allowed: always|when|unless, conditions?, count?,
/// counts?, added?: implied|@group, implied?: why}], `hints` [{group, unseen, like}],
/// `against` {name, description, allowed, high, medium, ratio, architectures [{architecture,
/// allowedHere, allowedThere, onlyHere, onlyThere, conditionsDiffer}]} or null, `denials`
/// [{runtime: run|runc|runc-1.2|crun, logged: logged|not logged|refused|nothing denied,
/// actions?, text}].
pub fn json(report: &Report) -> String {
    let allowed = &report.allowed;
    let tally = report.tally();
    let with_counts = report.counts.is_some();
    let value = JsonReport {
        file: &report.source,
        architecture: allowed.native.scmp_name(),
        architectures: allowed.arches.iter().map(|a| a.scmp_name()).collect(),
        default_action: allowed.default.action.to_string(),
        default_errno_ret: allowed.default.errno_ret,
        summary: JsonSummary {
            allowed: tally.allowed,
            known: report.known,
            high: tally.high,
            medium: tally.medium,
            other_abis_only: tally.elsewhere_only,
        },
        counts: report.counts.as_ref().map(|c| JsonCounts {
            file: &c.source,
            calls: c.calls,
            not_allowed: &c.not_allowed,
            implied: c.implied,
        }),
        syscalls: allowed
            .rows
            .iter()
            .map(|row| row_json(row, with_counts))
            .collect(),
        hints: report
            .hints
            .iter()
            .map(|hint| JsonHint {
                group: hint.group,
                unseen: &hint.unseen,
                like: &hint.like,
            })
            .collect(),
        against: report.against.as_ref().map(|against| {
            let theirs = against.theirs.tally();
            JsonAgainst {
                name: &against.name,
                description: &against.description,
                allowed: theirs.allowed,
                high: theirs.high,
                medium: theirs.medium,
                ratio: against.ratio().map(|r| (r * 10_000.0).round() / 10_000.0),
                architectures: against
                    .arches
                    .iter()
                    .map(|(arch, c)| JsonArch {
                        architecture: arch.scmp_name(),
                        allowed_here: c.here,
                        allowed_there: c.there,
                        only_here: &c.only_here,
                        only_there: &c.only_there,
                        conditions_differ: &c.differ,
                    })
                    .collect(),
            }
        }),
        denials: denials_json(&report.denials),
    };
    let mut text = serde_json::to_string_pretty(&value).expect("the report serialises");
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;
    use crate::{profile::parse, recording::counts::Counts, report::Report, syscalls::Arch};

    fn report() -> Report {
        let profile = parse(
            r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[
                {"names":["read","ptrace","ioctl"],"action":"SCMP_ACT_ALLOW"},
                {"names":["socket"],"action":"SCMP_ACT_ALLOW","args":[{"index":0,"value":1,"op":"SCMP_CMP_EQ"}]}]}"#,
            "p.json",
        )
        .unwrap()
        .profile;
        let counts = Counts {
            by_arch: [(Arch::X86_64, [("read".to_owned(), 12)].into())].into(),
            ..Counts::default()
        };
        Report::new(
            "p.json",
            &profile,
            Arch::X86_64,
            Some(("p.json.counts", &counts)),
        )
    }

    #[test]
    fn report_text_is_aligned_and_plain_without_color() {
        let text = text(&report(), false);
        let known = Arch::X86_64.table().len();
        assert_eq!(
            text,
            format!(
                "\
SYSCALL  ABI     COUNT  RISK    NOTE
ptrace   x86_64      -  high    reads and writes other processes' memory and registers
ioctl    x86_64      -  medium  any device request (request not restricted)
read     x86_64     12  low
socket   x86_64      -  low     only if arg0 == 1
hints: not allowed, but siblings of allowed calls that another path of the program may use (--allow-group GROUP adds a group):
  @basic-io  pread64 preadv preadv2 readv (like read)

denials reach the audit stream (podman, containerd and the kubelet do as the runc or crun they run):
  profile run  every denial logged
  runc 1.1     not logged: SCMP_ACT_ERRNO
  runc 1.2+    not logged: SCMP_ACT_ERRNO
  crun         not logged: SCMP_ACT_ERRNO
  (`profile export --log-denials` adds SECCOMP_FILTER_FLAG_LOG for crun and runc 1.2; `profile daemon` sees those of calls the workload never made all the same)

p.json: 4 syscalls allowed on x86_64 (of {known} known), 1 high-risk, 1 medium-risk; 12 calls recorded
"
            )
        );
        assert!(!text.contains('\x1b'));
    }

    #[test]
    fn report_text_colours_risk_only_when_asked() {
        let text = text(&report(), true);
        assert!(text.contains(&format!("{RED}high  {RESET}")), "{text}");
        assert!(text.contains(&format!("{YELLOW}medium{RESET}")), "{text}");
    }

    #[test]
    fn report_json_has_counts_and_conditions() {
        let value: Value = serde_json::from_str(&json(&report())).unwrap();
        assert_eq!(value["summary"]["allowed"], 4);
        assert_eq!(value["syscalls"][0]["name"], "ptrace");
        assert_eq!(value["syscalls"][0]["risk"], "high");
        assert_eq!(value["syscalls"][2]["counts"]["SCMP_ARCH_X86_64"], 12);
        assert_eq!(value["syscalls"][3]["allowed"], "when");
        assert_eq!(
            value["syscalls"][3]["conditions"][0][0]["op"],
            "SCMP_CMP_EQ"
        );
        assert_eq!(value["against"], Value::Null);
    }

    #[test]
    fn report_name_lists_wrap() {
        let names: Vec<String> = (0..40).map(|i| format!("name{i:02}")).collect();
        let text = wrapped(&names);
        assert!(text
            .lines()
            .all(|l| l.len() <= WIDTH && l.starts_with("  ")));
        assert_eq!(text.split_whitespace().count(), 40);
    }
}
