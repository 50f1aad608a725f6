//! What `profile audit` prints: the table of `--format report` and the summary line.
use std::{collections::BTreeSet, fmt::Write as _};

use super::Findings;
use crate::{
    output::{
        escape,
        table::{Align, Table},
    },
    syscalls::Arch,
};

/// A table: one row per (arch, syscall, action, executable, cgroup), with counts and pids,
/// then a summary line.
pub fn report(findings: &Findings) -> String {
    struct Row {
        order: Arch,
        arch: &'static str,
        name: String,
        nr: String,
        action: String,
        count: String,
        exe: String,
        cgroup: String,
        pids: String,
    }
    let mut rows: Vec<Row> = findings
        .groups
        .iter()
        .map(|(key, group)| Row {
            order: key.arch,
            arch: key.arch.short_name(),
            name: key.arch.name(key.nr).unwrap_or("(unknown)").to_owned(),
            nr: key.nr.to_string(),
            action: key.action.to_string(),
            count: group.count.to_string(),
            exe: escape(&key.exe).into_owned(),
            cgroup: escape(&key.cgroup).into_owned(),
            pids: pid_list(&group.pids),
        })
        .collect();
    rows.sort_by(|a, b| {
        (a.order, &a.name, &a.action, &a.exe, &a.cgroup)
            .cmp(&(b.order, &b.name, &b.action, &b.exe, &b.cgroup))
    });
    let mut table = Table::new(&[
        Align::Left,
        Align::Left,
        Align::Right,
        Align::Left,
        Align::Right,
        Align::Left,
        Align::Left,
        Align::Left,
    ]);
    table.row([
        "ARCH", "SYSCALL", "NR", "ACTION", "COUNT", "EXE", "CGROUP", "PIDS",
    ]);
    for r in rows {
        table.row([
            r.arch.to_owned(),
            r.name,
            r.nr,
            r.action,
            r.count,
            r.exe,
            r.cgroup,
            r.pids,
        ]);
    }
    let mut out = table.render();
    out.push_str(&summary(findings));
    out.push('\n');
    out
}

/// One line: distinct syscalls, records, processes, records per action, and what was
/// skipped.
pub fn summary(findings: &Findings) -> String {
    let distinct: BTreeSet<(Arch, u64)> = findings
        .groups
        .keys()
        .map(|key| (key.arch, key.nr))
        .collect();
    let pids: BTreeSet<u32> = findings
        .groups
        .values()
        .flat_map(|group| group.pids.iter().copied())
        .collect();
    let mut text = format!(
        "{} distinct syscalls, {} records from {} processes",
        distinct.len(),
        findings.kept(),
        pids.len()
    );
    let actions = findings.by_action();
    if !actions.is_empty() {
        let list: Vec<String> = actions
            .iter()
            .map(|(action, count)| format!("{action} {count}"))
            .collect();
        let _ = write!(text, " ({})", list.join(", "));
    }
    if findings.filtered_out > 0 {
        let _ = write!(text, ", {} filtered out", findings.filtered_out);
    }
    if findings.duplicates > 0 {
        let _ = write!(text, ", {} duplicates dropped", findings.duplicates);
    }
    if findings.malformed > 0 {
        let _ = write!(text, ", {} malformed lines skipped", findings.malformed);
    }
    text
}

fn pid_list(pids: &BTreeSet<u32>) -> String {
    const SHOWN: usize = 8;
    let mut list: Vec<String> = pids.iter().take(SHOWN).map(u32::to_string).collect();
    if pids.len() > SHOWN {
        list.push(format!("…+{}", pids.len() - SHOWN));
    }
    list.join(",")
}
