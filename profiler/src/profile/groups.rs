//! systemd's system call groups (`@basic-io`, `@file-system`, `@io-event`, `@signal` …), the
//! vocabulary users of `SystemCallFilter=` already know, read from
//! `profiler/data/systemd-syscall-groups.txt` (`systemd-analyze syscall-filter`'s own text; its
//! header says which systemd printed it). Two uses:
//!
//! - `--allow-group @basic-io` (`record`, `promote`) adds a group's members, see [`expand`];
//! - coverage hints: for the calls a profile allows, the unseen calls of the same family
//!   (`pwritev` beside `pwrite64`, `ppoll` beside `poll`, `statx` beside `newfstatat`), which a
//!   program is likely to make on another path, named by the systemd group they belong to
//!   ([`hints`]). The families are ours ([`FAMILIES`]); each lies within one group.
use std::{
    collections::{BTreeMap, BTreeSet},
    sync::LazyLock,
};

use crate::syscalls::Arch;

const DATA: &str = include_str!("../../data/systemd-syscall-groups.txt");

/// One group as systemd lists it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Group {
    pub description: String,
    /// Direct members: syscall names and `@group`s, as listed.
    pub members: Vec<String>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum GroupError {
    #[error("unknown syscall group {0:?}; systemd's groups are {list}", list = names().join(" "))]
    Unknown(String),
    #[error("{0:?} is not a group name: groups start with @ (e.g. @basic-io)")]
    NotAGroup(String),
}

/// Groups by name (`@default` …), parsed from `systemd-analyze syscall-filter`'s text: a line
/// `@name` starts a group, indented lines are `# description`, names and `@group`s; other
/// unindented `#` lines are comments.
pub fn parse(text: &str) -> BTreeMap<String, Group> {
    let mut groups: BTreeMap<String, Group> = BTreeMap::new();
    let mut current: Option<&mut Group> = None;
    for line in text.lines() {
        let item = line.trim();
        if item.is_empty() {
            continue;
        }
        let indented = line.starts_with(char::is_whitespace);
        if !indented {
            current = item
                .starts_with('@')
                .then(|| groups.entry(item.to_owned()).or_default());
            continue;
        }
        let Some(group) = current.as_deref_mut() else {
            continue;
        };
        match item.strip_prefix('#') {
            Some(description) => group.description = description.trim().to_owned(),
            None => group.members.push(item.to_owned()),
        }
    }
    groups
}

static GROUPS: LazyLock<BTreeMap<String, Group>> = LazyLock::new(|| parse(DATA));

/// The groups this build knows.
pub fn groups() -> &'static BTreeMap<String, Group> {
    &GROUPS
}

/// The group names, sorted.
pub fn names() -> Vec<&'static str> {
    GROUPS.keys().map(String::as_str).collect()
}

/// Every syscall name of a group, nested groups expanded.
pub fn expand(group: &str) -> Result<BTreeSet<&'static str>, GroupError> {
    if !group.starts_with('@') {
        return Err(GroupError::NotAGroup(group.to_owned()));
    }
    let mut out = BTreeSet::new();
    let mut pending = vec![group];
    let mut visited = BTreeSet::new();
    while let Some(name) = pending.pop() {
        if !visited.insert(name) {
            continue;
        }
        let found = GROUPS
            .get(name)
            .ok_or_else(|| GroupError::Unknown(name.to_owned()))?;
        for member in &found.members {
            if member.starts_with('@') {
                pending.push(member);
            } else {
                out.insert(member.as_str());
            }
        }
    }
    Ok(out)
}

/// Calls that do the same kind of thing, one of which a program uses on one path and another on
/// the next: by data shape (vectored, positioned), by flags, by the C library's version, or by
/// an event loop's choice of mechanism.
pub const FAMILIES: &[&[&str]] = &[
    &["write", "writev", "pwrite64", "pwritev", "pwritev2"],
    &["read", "readv", "pread64", "preadv", "preadv2"],
    &["lseek", "_llseek"],
    &["dup", "dup2", "dup3"],
    &["close", "close_range"],
    &[
        "poll",
        "ppoll",
        "ppoll_time64",
        "select",
        "_newselect",
        "pselect6",
        "pselect6_time64",
        "epoll_wait",
        "epoll_pwait",
        "epoll_pwait2",
    ],
    &["epoll_create", "epoll_create1"],
    &["eventfd", "eventfd2"],
    &[
        "stat",
        "lstat",
        "fstat",
        "newfstatat",
        "statx",
        "stat64",
        "lstat64",
        "fstat64",
        "fstatat64",
    ],
    &["statfs", "fstatfs", "statfs64", "fstatfs64"],
    &["open", "openat", "openat2", "creat"],
    &["access", "faccessat", "faccessat2"],
    &["mkdir", "mkdirat"],
    &["mknod", "mknodat"],
    &["unlink", "unlinkat", "rmdir"],
    &["rename", "renameat", "renameat2"],
    &["link", "linkat"],
    &["symlink", "symlinkat"],
    &["readlink", "readlinkat"],
    &["chmod", "fchmod", "fchmodat", "fchmodat2"],
    &[
        "utime",
        "utimes",
        "utimensat",
        "futimesat",
        "utimensat_time64",
    ],
    &["truncate", "ftruncate", "truncate64", "ftruncate64"],
    &["getdents", "getdents64"],
    &["fcntl", "fcntl64"],
    &["chdir", "fchdir"],
    &["inotify_init", "inotify_init1"],
    &[
        "chown", "fchown", "lchown", "fchownat", "chown32", "fchown32", "lchown32",
    ],
    &["fsync", "fdatasync", "sync_file_range", "syncfs"],
    &["rt_sigaction", "sigaction", "signal"],
    &["rt_sigprocmask", "sigprocmask"],
    &["rt_sigsuspend", "sigsuspend"],
    &["rt_sigtimedwait", "rt_sigtimedwait_time64"],
    &["rt_sigpending", "sigpending"],
    &["signalfd", "signalfd4"],
    &["sendto", "sendmsg", "sendmmsg"],
    &["recvfrom", "recvmsg", "recvmmsg", "recvmmsg_time64"],
    &["accept", "accept4"],
    &["pipe", "pipe2"],
    &["wait4", "waitid", "waitpid"],
    &["fork", "vfork", "clone", "clone3"],
    &["kill", "tkill", "tgkill"],
    &["nanosleep", "clock_nanosleep", "clock_nanosleep_time64"],
    &["alarm", "setitimer", "getitimer"],
];

/// The smallest group holding every member of `family` (systemd's groups overlap: `close` is in
/// `@basic-io` and `@file-system`).
fn home(family: &[&str]) -> Option<&'static str> {
    GROUPS
        .keys()
        .filter_map(|name| {
            let members = expand(name).ok()?;
            family
                .iter()
                .all(|call| members.contains(call))
                .then_some((members.len(), name.as_str()))
        })
        .min()
        .map(|(_, name)| name)
}

/// Unseen calls of one group that are likely on another path of the same program.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hint {
    /// The systemd group, for `--allow-group`.
    pub group: &'static str,
    /// Not allowed, each the sibling of an allowed call; sorted.
    pub unseen: Vec<&'static str>,
    /// The allowed calls they are siblings of; sorted.
    pub like: Vec<&'static str>,
}

/// For a profile that allows `allowed` on `arches`: per group, the members of each family one
/// of whose members is allowed and which are neither allowed nor `blocked` on purpose (the
/// clone3 ENOSYS rule); names none of `arches` has are left out. Sorted by group.
pub fn hints(allowed: &BTreeSet<&str>, blocked: &BTreeSet<&str>, arches: &[Arch]) -> Vec<Hint> {
    let exists = |name: &str| arches.iter().any(|arch| arch.number(name).is_some());
    let mut by_group: BTreeMap<&'static str, (BTreeSet<&'static str>, BTreeSet<&'static str>)> =
        BTreeMap::new();
    for family in FAMILIES {
        let like: Vec<&'static str> = family
            .iter()
            .copied()
            .filter(|name| allowed.contains(name))
            .collect();
        let unseen: Vec<&'static str> = family
            .iter()
            .copied()
            .filter(|name| !allowed.contains(name) && !blocked.contains(name) && exists(name))
            .collect();
        if like.is_empty() || unseen.is_empty() {
            continue;
        }
        let Some(group) = home(family) else {
            continue;
        };
        let entry = by_group.entry(group).or_default();
        entry.0.extend(unseen);
        entry.1.extend(like);
    }
    by_group
        .into_iter()
        .map(|(group, (unseen, like))| Hint {
            group,
            unseen: unseen.into_iter().collect(),
            like: like.into_iter().collect(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_parse_systemds_text() {
        let text = "# header\n\n@a\n    # Things\n    read\n    @b\n\n@b\n    # More\n    write\n# Ungrouped\n#   x\n";
        let groups = parse(text);
        assert_eq!(groups.len(), 2);
        assert_eq!(groups["@a"].description, "Things");
        assert_eq!(groups["@a"].members, ["read", "@b"]);
        assert_eq!(groups["@b"].members, ["write"]);
    }

    #[test]
    fn groups_expand_nested_groups() {
        let basic = expand("@basic-io").unwrap();
        assert!(
            basic.contains("pwritev") && basic.contains("read"),
            "{basic:?}"
        );
        let service = expand("@system-service").unwrap();
        assert!(service.is_superset(&basic));
        assert!(service.contains("rt_sigreturn"), "through @default");
        assert_eq!(
            expand("@no-such")
                .unwrap_err()
                .to_string()
                .split(';')
                .next(),
            Some("unknown syscall group \"@no-such\"")
        );
        assert_eq!(
            expand("basic-io").unwrap_err(),
            GroupError::NotAGroup("basic-io".into())
        );
    }

    #[test]
    fn groups_every_family_has_a_home_and_names_that_exist() {
        for family in FAMILIES {
            assert!(home(family).is_some(), "{family:?} spans groups");
            for name in *family {
                assert!(
                    Arch::RECORDED.iter().any(|a| a.number(name).is_some()),
                    "{name} is in no table"
                );
            }
        }
        assert_eq!(home(FAMILIES[0]), Some("@basic-io"));
        assert_eq!(home(&["poll", "epoll_pwait"]), Some("@io-event"));
        assert_eq!(home(&["stat", "statx"]), Some("@file-system"));
        assert_eq!(home(&["fsync", "fdatasync"]), Some("@sync"));
    }

    #[test]
    fn groups_hints_name_unseen_siblings_by_group() {
        let allowed: BTreeSet<&str> = ["write", "poll", "newfstatat", "exit_group", "clone"].into();
        let hints = hints(&allowed, &["clone3"].into(), &[Arch::X86_64]);
        let process = hints.iter().find(|h| h.group == "@process").unwrap();
        assert_eq!(
            process.unseen,
            ["fork", "vfork"],
            "clone3 is blocked on purpose"
        );
        let basic = hints.iter().find(|h| h.group == "@basic-io").unwrap();
        assert_eq!(
            basic.unseen,
            ["pwrite64", "pwritev", "pwritev2", "writev"],
            "{hints:?}"
        );
        assert_eq!(basic.like, ["write"]);
        let events = hints.iter().find(|h| h.group == "@io-event").unwrap();
        assert!(events.unseen.contains(&"epoll_pwait"), "{events:?}");
        // i386-only names stay out of an x86_64 profile.
        assert!(!events.unseen.contains(&"_newselect"), "{events:?}");
        let files = hints.iter().find(|h| h.group == "@file-system").unwrap();
        assert!(files.unseen.contains(&"statx") && !files.unseen.contains(&"stat64"));
        assert!(hints.iter().all(|h| !h.unseen.contains(&"exit")));
    }
}
