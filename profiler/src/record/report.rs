//! `--format report`: a recording as a table, most frequent first within each ABI.
use std::fmt::Write as _;

use super::recording::Recording;

struct Row {
    abi: &'static str,
    name: &'static str,
    nr: String,
    count: u64,
}

pub fn render(recording: &Recording) -> String {
    let mut rows: Vec<(crate::syscalls::Arch, Row)> = recording
        .counts
        .iter()
        .map(|(&(abi, nr), &count)| {
            let name = abi.name(nr).unwrap_or("(unknown)");
            (
                abi,
                Row {
                    abi: abi.short_name(),
                    name,
                    nr: nr.to_string(),
                    count,
                },
            )
        })
        .collect();
    // ABIs in table order, then the busiest syscalls first.
    rows.sort_by(|(abi_a, a), (abi_b, b)| {
        abi_a
            .cmp(abi_b)
            .then(b.count.cmp(&a.count))
            .then(a.name.cmp(b.name))
    });
    let rows: Vec<Row> = rows.into_iter().map(|(_, row)| row).collect();

    let width = |header: &str, cell: fn(&Row) -> usize| {
        rows.iter().map(cell).max().unwrap_or(0).max(header.len())
    };
    let abi_w = width("ABI", |r| r.abi.len());
    let name_w = width("SYSCALL", |r| r.name.len());
    let nr_w = width("NR", |r| r.nr.len());
    let count_w = width("COUNT", |r| r.count.to_string().len());

    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<abi_w$}  {:<name_w$}  {:>nr_w$}  {:>count_w$}",
        "ABI", "SYSCALL", "NR", "COUNT"
    );
    for Row {
        abi,
        name,
        nr,
        count,
    } in &rows
    {
        let _ = writeln!(
            out,
            "{abi:<abi_w$}  {name:<name_w$}  {nr:>nr_w$}  {count:>count_w$}"
        );
    }
    let total: u64 = rows.iter().map(|r| r.count).sum();
    let _ = write!(out, "{} distinct syscalls, {} calls", rows.len(), total);
    let unknown = recording.unknown().len();
    if unknown > 0 {
        let _ = write!(out, ", {unknown} with no name in their ABI's table");
    }
    out.push('\n');
    out
}
#[cfg(test)]
mod tests {
    use super::*;
    use crate::syscalls::Arch;

    #[test]
    fn table_is_aligned_and_sorted() {
        let mut r = Recording::default();
        r.add(Arch::X86_64, 0, 5);
        r.add(Arch::X86_64, 59, 1);
        r.add(Arch::X86_64, 999, 2);
        r.add(Arch::X86, 64, 1000);
        assert_eq!(
            render(&r),
            "\
ABI     SYSCALL     NR  COUNT
x86_64  read         0      5
x86_64  (unknown)  999      2
x86_64  execve      59      1
i386    getppid     64   1000
4 distinct syscalls, 1008 calls, 1 with no name in their ABI's table
"
        );
    }
}
