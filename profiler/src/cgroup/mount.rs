//! Finding the cgroup v2 hierarchy: its mount in `/proc/self/mountinfo`, and where a cgroup
//! named by `/proc/PID/cgroup` is below it (cgroup namespaces and bind mounts of a sub-cgroup
//! shift both).
use std::{
    fs,
    path::{Component, Path, PathBuf},
};

use super::{io_err, TargetError};

/// Where the cgroup v2 hierarchy is mounted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct V2Mount {
    pub path: PathBuf,
    /// Depth of the mount's root below the hierarchy's root: non-zero inside a cgroup namespace
    /// or for a bind mount of a sub-cgroup. Levels the kernel sees count from the real root.
    pub root_depth: u32,
    /// The mount's root as mountinfo shows it: relative to this process's cgroup namespace,
    /// like the paths of `/proc/PID/cgroup` (`/../..` for the host's tree seen from a
    /// container's namespace).
    pub root: String,
}

impl V2Mount {
    /// The directory below the mount of the cgroup `/proc/PID/cgroup` calls `path`; `None` when
    /// the mount does not show it.
    pub fn below(&self, path: &str) -> Option<PathBuf> {
        let parts = |p: &str| -> Vec<String> {
            p.split('/')
                .filter(|c| !c.is_empty() && *c != ".")
                .map(str::to_owned)
                .collect()
        };
        let (root, path) = (parts(&self.root), parts(path));
        let rest = path.strip_prefix(root.as_slice())?;
        (!rest.iter().any(|c| c == "..")).then(|| rest.iter().collect())
    }
}

const MOUNTINFO: &str = "/proc/self/mountinfo";

/// The cgroup v2 mount of this process (`/sys/fs/cgroup` on a v2-only host,
/// `/sys/fs/cgroup/unified` on a hybrid one).
pub fn v2_mount() -> Result<V2Mount, TargetError> {
    let text =
        fs::read_to_string(MOUNTINFO).map_err(io_err("mount table", Path::new(MOUNTINFO)))?;
    parse_mountinfo(&text).ok_or(TargetError::NoV2Mount(MOUNTINFO))
}

/// The first cgroup2 mount in `/proc/self/mountinfo` text (proc(5): `ID PARENT MAJ:MIN ROOT
/// MOUNTPOINT OPTIONS [OPTIONAL…] - FSTYPE SOURCE SUPER`).
fn parse_mountinfo(text: &str) -> Option<V2Mount> {
    text.lines().find_map(|line| {
        let (before, after) = line.split_once(" - ")?;
        if after.split_whitespace().next()? != "cgroup2" {
            return None;
        }
        let mut fields = before.split_whitespace();
        let root = unescape(fields.nth(3)?);
        let mount_point = unescape(fields.next()?);
        Some(V2Mount {
            path: PathBuf::from(mount_point),
            root_depth: depth(Path::new(&root)),
            root,
        })
    })
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo`.
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && i + 4 <= bytes.len()
            && bytes[i + 1..i + 4].iter().all(u8::is_ascii_digit)
        {
            if let Ok(n) = u8::from_str_radix(&field[i + 1..i + 4], 8) {
                out.push(n);
                i += 4;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub(super) fn depth(path: &Path) -> u32 {
    path.components()
        .filter(|c| matches!(c, Component::Normal(_)))
        .count() as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID: &str = "\
25 31 0:23 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
30 25 0:26 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
31 30 0:27 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:10 - cgroup2 cgroup2 rw,nsdelegate
32 30 0:28 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:11 - cgroup cgroup rw,xattr,name=systemd
";

    /// `/proc/PID/cgroup` paths and the mount's root are both relative to the reader's cgroup
    /// namespace: the host's tree mounted into a container's namespace has root `/../..`.
    #[test]
    fn proc_paths_below_the_mount() {
        let mount = |root: &str| V2Mount {
            path: "/sys/fs/cgroup".into(),
            root_depth: 0,
            root: root.into(),
        };
        let host = mount("/");
        assert_eq!(host.below("/a/b"), Some(PathBuf::from("a/b")));
        assert_eq!(host.below("/"), Some(PathBuf::new()));
        let from_container = mount("/../..");
        assert_eq!(
            from_container.below("/../../kubepods/pod1/c1"),
            Some(PathBuf::from("kubepods/pod1/c1"))
        );
        // Its own cgroup, below the namespace's root.
        assert_eq!(from_container.below("/"), None);
        let sub = mount("/kubepods.slice/x.scope");
        assert_eq!(
            sub.below("/kubepods.slice/x.scope/y"),
            Some(PathBuf::from("y"))
        );
        assert_eq!(sub.below("/kubepods.slice/other"), None);
        assert_eq!(host.below("/../x"), None);
    }

    #[test]
    fn mountinfo_finds_the_v2_mount() {
        assert_eq!(
            parse_mountinfo(HYBRID),
            Some(V2Mount {
                path: "/sys/fs/cgroup/unified".into(),
                root_depth: 0,
                root: "/".into(),
            })
        );
        let ns = "40 30 0:27 /kubepods.slice/x.scope /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n";
        assert_eq!(
            parse_mountinfo(ns),
            Some(V2Mount {
                path: "/sys/fs/cgroup".into(),
                root_depth: 2,
                root: "/kubepods.slice/x.scope".into(),
            })
        );
        let escaped = "40 30 0:27 / /mnt/a\\040b rw - cgroup2 none rw\n";
        assert_eq!(
            parse_mountinfo(escaped).unwrap().path,
            Path::new("/mnt/a b")
        );
        assert_eq!(parse_mountinfo(&HYBRID.replace("cgroup2", "cgroup")), None);
    }
}
