//! A recording in each format `record` writes: the profile as OCI JSON, SPO resource or kubelet
//! file ([`render`]), or `--format report` ([`report`]): a table, most frequent first within each
//! ABI; then what the profile adds without having seen it, and the coverage hints.
use std::fmt::Write as _;

use crate::{
    output::{
        profile::{additions_text, allowance_text, hints_text},
        table::{Align, Table},
    },
    profile::{
        groups,
        k8s::{self, K8sError},
        learn::{Learn as _, ProfileOptions},
        ops::Allowance,
        restrict::{Outcome, Restriction},
        Profile,
    },
    recording::{Additions, Recording},
    syscalls::Arch,
};

pub fn report(recording: &Recording, additions: &Additions) -> String {
    let mut rows: Vec<(Arch, &'static str, u64, u64)> = recording
        .counts
        .iter()
        .map(|(&(abi, nr), &count)| (abi, abi.name(nr).unwrap_or("(unknown)"), nr, count))
        .collect();
    // ABIs in table order, then the busiest syscalls first.
    rows.sort_by(|(abi_a, name_a, _, count_a), (abi_b, name_b, _, count_b)| {
        abi_a
            .cmp(abi_b)
            .then(count_b.cmp(count_a))
            .then(name_a.cmp(name_b))
    });
    let mut table = Table::new(&[Align::Left, Align::Left, Align::Right, Align::Right]);
    table.row(["ABI", "SYSCALL", "NR", "COUNT"]);
    for &(abi, name, nr, count) in &rows {
        table.row([
            abi.short_name().to_owned(),
            name.to_owned(),
            nr.to_string(),
            count.to_string(),
        ]);
    }
    let mut out = table.render();
    let total: u64 = rows.iter().map(|&(.., count)| count).sum();
    let _ = write!(out, "{} distinct syscalls, {} calls", rows.len(), total);
    let unknown = recording.unknown().len();
    if unknown > 0 {
        let _ = write!(out, ", {unknown} with no name in their ABI's table");
    }
    out.push('\n');
    if let Some(restrictions) = recording.restrictions() {
        out.push_str(&restrictions_text(&restrictions));
    }
    let groups: Vec<(&str, Vec<&str>)> = additions
        .groups
        .iter()
        .map(|(group, names)| (group.as_str(), names.iter().copied().collect()))
        .collect();
    out.push_str(&additions_text(
        &additions
            .implied
            .iter()
            .map(|(n, r)| (*n, *r))
            .collect::<Vec<_>>(),
        &groups,
    ));
    let allowed = recording
        .names()
        .into_iter()
        .chain(additions.names())
        .collect();
    // clone3 is either seen or refused with ENOSYS on purpose.
    out.push_str(&hints_text(&groups::hints(
        &allowed,
        &["clone3"].into(),
        &recording.architectures(),
    )));
    out
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Format {
    /// OCI `linux.seccomp` / Docker seccomp JSON.
    Oci,
    /// A table of syscalls with counts per ABI.
    Report,
    /// A Security Profiles Operator `SeccompProfile` resource called `name`.
    Spo { name: String, yaml: bool },
    /// The kubelet's Localhost profile file (OCI JSON) for `name`; the Pod snippet that uses it
    /// goes to stderr.
    Kubelet { name: String },
}

/// A recording in the requested format.
pub fn render(
    recording: &Recording,
    format: &Format,
    options: &ProfileOptions,
) -> Result<String, K8sError> {
    match format {
        Format::Report => Ok(report(recording, &recording.additions(options))),
        _ => render_profile(&recording.to_profile(options), format),
    }
}

/// A profile in `format` (a report, which shows a recording's counts, is its JSON here).
pub fn render_profile(profile: &Profile, format: &Format) -> Result<String, K8sError> {
    Ok(match format {
        Format::Oci | Format::Kubelet { .. } | Format::Report => profile.to_json(),
        Format::Spo { name, yaml } => {
            let (resource, warnings) = k8s::spo_resource(profile, name, Default::default())?;
            for warning in warnings {
                log::warn!("{warning}");
            }
            if *yaml {
                super::yaml::to_yaml(&resource)
            } else {
                resource.to_json()
            }
        }
    })
}

/// With `--args`: what the profile allows of each listed syscall that was called.
fn restrictions_text(restrictions: &[Restriction]) -> String {
    let mut out = String::from("argument restrictions (--args; clone3 is refused with ENOSYS):\n");
    if restrictions.is_empty() {
        out.push_str("  none of the listed syscalls was called\n");
    }
    let mut table = Table::new(&[Align::Left, Align::Left]).indented(2);
    for Restriction { name, outcome } in restrictions {
        let text = match outcome {
            Outcome::Only(ways) => allowance_text(&Allowance::When(ways.clone())),
            Outcome::Unrestricted(why) => format!("unrestricted: {why}"),
        };
        table.row([name.to_string(), text]);
    }
    out.push_str(&table.render());
    out
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_aligned_and_sorted() {
        let mut r = Recording::default();
        r.add(Arch::X86_64, 0, 5);
        r.add(Arch::X86_64, 59, 1);
        r.add(Arch::X86_64, 999, 2);
        r.add(Arch::X86, 64, 1000);
        assert_eq!(
            report(&r, &Additions::default()),
            "\
ABI     SYSCALL     NR  COUNT
x86_64  read         0      5
x86_64  (unknown)  999      2
x86_64  execve      59      1
i386    getppid     64   1000
4 distinct syscalls, 1008 calls, 1 with no name in their ABI's table
hints: not allowed, but siblings of allowed calls that another path of the program may use (--allow-group GROUP adds a group):
  @basic-io  pread64 preadv preadv2 readv (like read)
"
        );
    }

    #[test]
    fn args_recordings_list_their_restrictions() {
        let mut r = Recording::default();
        r.add(Arch::X86_64, 41, 2);
        r.add(Arch::X86_64, 16, 1);
        let mut learned = crate::recording::args::LearnedArgs::default();
        learned.add_value(profiler_common::ARG_SOCKET, (1 << 32) | 1);
        learned.overflow(6);
        r.args = Some(learned);
        let text = report(&r, &Additions::default());
        assert!(
            text.ends_with(
                "\
argument restrictions (--args; clone3 is refused with ENOSYS):
  ioctl   unrestricted: more than 16 distinct values (or one could not be read)
  socket  only if arg0 == 1 && arg1 & 0xf == 0x1
"
            ),
            "{text}"
        );
    }

    #[test]
    fn report_lists_implied_calls_and_hints() {
        let mut r = Recording::default();
        r.add(Arch::X86_64, 1, 3); // write
        r.add(Arch::X86_64, 13, 1); // rt_sigaction
        let options: crate::profile::learn::ProfileOptions =
            crate::profile::learn::DefaultAction::Errno(1).into();
        let text = report(&r, &r.additions(&options));
        assert!(
            text.contains("\nimplied (allowed although not seen; --no-implied leaves them out):\n"),
            "{text}"
        );
        let line = |name: &str| {
            text.lines()
                .find(|l| l.split_whitespace().next() == Some(name))
                .unwrap_or_else(|| panic!("no {name} line:\n{text}"))
                .to_owned()
        };
        assert!(line("rt_sigreturn").contains("signal handler"), "{text}");
        assert!(line("writev").contains("vectored"), "{text}");
        assert_eq!(
            line("@basic-io").split_whitespace().collect::<Vec<_>>(),
            [
                "@basic-io",
                "pwrite64",
                "pwritev",
                "pwritev2",
                "(like",
                "write",
                "writev)"
            ],
            "{text}"
        );
    }
}
