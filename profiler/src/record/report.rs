//! `--format report`: a recording as a table, most frequent first within each ABI.
use std::fmt::Write as _;

use super::recording::Recording;

pub fn render(recording: &Recording) -> String {
    let mut rows: Vec<(String, String, String, u64)> = recording
        .counts
        .iter()
        .map(|(&(abi, nr), &count)| {
            let name = abi.name(nr).unwrap_or("(unknown)").to_owned();
            (abi.short_name().to_owned(), name, nr.to_string(), count)
        })
        .collect();
    // Keep ABIs in table order, then the busiest syscalls first.
    rows.sort_by(|a, b| {
        let abi_rank = |s: &str| crate::syscalls::Abi::ALL.iter().position(|abi| abi.short_name() == s);
        abi_rank(&a.0)
            .cmp(&abi_rank(&b.0))
            .then(b.3.cmp(&a.3))
            .then(a.1.cmp(&b.1))
    });

    let width = |header: &str, f: &dyn Fn(&(String, String, String, u64)) -> usize| {
        rows.iter().map(f).max().unwrap_or(0).max(header.len())
    };
    let abi_w = width("ABI", &|r| r.0.len());
    let name_w = width("SYSCALL", &|r| r.1.len());
    let nr_w = width("NR", &|r| r.2.len());
    let count_w = width("COUNT", &|r| r.3.to_string().len());

    let mut out = String::new();
    let _ = writeln!(out, "{:<abi_w$}  {:<name_w$}  {:>nr_w$}  {:>count_w$}", "ABI", "SYSCALL", "NR", "COUNT");
    for (abi, name, nr, count) in &rows {
        let _ = writeln!(out, "{abi:<abi_w$}  {name:<name_w$}  {nr:>nr_w$}  {count:>count_w$}");
    }
    let total: u64 = rows.iter().map(|r| r.3).sum();
    let unknown = recording.unknown().len();
    let _ = write!(out, "{} distinct syscalls, {} calls", rows.len(), total);
    if unknown > 0 {
        let _ = write!(out, ", {unknown} with no name in their ABI's table");
    }
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::syscalls::Abi;

    #[test]
    fn table_is_aligned_and_sorted() {
        let mut r = Recording::default();
        r.add(Abi::X86_64, 0, 5);
        r.add(Abi::X86_64, 59, 1);
        r.add(Abi::X86_64, 999, 2);
        r.add(Abi::X86, 64, 1000);
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
