//! `profile hook`: a container recorded from its first instruction, as an OCI hook. Runtimes
//! that run hooks (podman, CRI-O; runc and crun underneath) call it at `prestart` (or
//! `createRuntime`) with the container's state on stdin, when the container's first process
//! exists in its cgroup but has not run the workload yet. It answers the annotation that
//! podman users already give oci-seccomp-bpf-hook, `io.containers.trace-syscall`, whose value
//! is `of:OUTPUT` with an optional `if:INPUT` (a profile merged into the result), separated by
//! `;`.
//!
//! Everything here is pure or reads what the runtime left for the hook (the state, the
//! process's cgroup, the bundle's config); the recording itself is `record_target`'s.
use std::{
    collections::BTreeMap,
    fs,
    path::{Path, PathBuf},
};

use serde::Deserialize;

/// The annotation oci-seccomp-bpf-hook reads.
pub const ANNOTATION: &str = "io.containers.trace-syscall";

#[derive(Debug, thiserror::Error)]
pub enum HookError {
    #[error("reading the container state from stdin: {0}")]
    State(String),
    #[error("annotation {ANNOTATION}={value:?}: {why}")]
    Annotation { value: String, why: &'static str },
    #[error("reading {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: no cgroup v2 line (0::…): the container's cgroup cannot be watched")]
    NoV2Cgroup { path: PathBuf },
    #[error("{path}: {why}")]
    Config { path: PathBuf, why: String },
}

/// The OCI state a runtime gives a hook on stdin (runtime-spec `state`).
#[derive(Debug, Deserialize)]
pub struct State {
    pub id: String,
    pub pid: u32,
    pub bundle: PathBuf,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

/// Where the profile goes, and what is merged into it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Trace {
    pub output: PathBuf,
    pub input: Option<PathBuf>,
}

/// `[if:INPUT;]of:OUTPUT`, in any order, both absolute (the hook's working directory is the
/// bundle, not the user's).
pub fn parse_annotation(value: &str) -> Result<Trace, HookError> {
    let bad = |why| HookError::Annotation {
        value: value.to_owned(),
        why,
    };
    let (mut output, mut input) = (None, None);
    for part in value.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        let (slot, path) = if let Some(path) = part.strip_prefix("of:") {
            (&mut output, path)
        } else if let Some(path) = part.strip_prefix("if:") {
            (&mut input, path)
        } else {
            return Err(bad("each part must be of:PATH or if:PATH"));
        };
        let path = PathBuf::from(path);
        if !path.is_absolute() {
            return Err(bad("paths must be absolute"));
        }
        if slot.replace(path).is_some() {
            return Err(bad("of: and if: may each be given once"));
        }
    }
    Ok(Trace {
        output: output.ok_or_else(|| bad("of:PATH, where the profile goes, is missing"))?,
        input,
    })
}

/// The cgroup v2 path of a process, from its `/proc/PID/cgroup` (the `0::` line).
pub fn v2_cgroup(proc_cgroup: &str) -> Option<PathBuf> {
    proc_cgroup
        .lines()
        .find_map(|line| line.strip_prefix("0::"))
        .map(PathBuf::from)
}

/// Whether the container's config asks its runtime for a seccomp filter.
pub fn has_seccomp(config: &str) -> Result<bool, String> {
    let config: serde_json::Value = serde_json::from_str(config).map_err(|e| e.to_string())?;
    Ok(config
        .pointer("/linux/seccomp")
        .is_some_and(|seccomp| !seccomp.is_null()))
}

/// What the hook records.
#[derive(Debug)]
pub struct Request {
    pub id: String,
    /// The container's cgroup, below the v2 mount.
    pub cgroup: PathBuf,
    pub trace: Trace,
    /// Count only calls made under the container's seccomp filter: what the runtime does
    /// once the filter is in, and the workload. A container without a filter is counted from
    /// the hook on, its runtime's set-up included.
    pub after_seccomp: bool,
}

/// The request in `state` (the hook's stdin), or `None` when the container does not ask to be
/// traced.
pub fn request(state: &str) -> Result<Option<Request>, HookError> {
    let state: State = serde_json::from_str(state).map_err(|e| HookError::State(e.to_string()))?;
    let Some(value) = state.annotations.get(ANNOTATION) else {
        return Ok(None);
    };
    let trace = parse_annotation(value)?;
    let read = |path: PathBuf| {
        fs::read_to_string(&path).map_err(|source| HookError::Read { path, source })
    };
    let proc_cgroup = PathBuf::from(format!("/proc/{}/cgroup", state.pid));
    let cgroup = v2_cgroup(&read(proc_cgroup.clone())?)
        .ok_or(HookError::NoV2Cgroup { path: proc_cgroup })?;
    let config_path = state.bundle.join("config.json");
    let after_seccomp =
        has_seccomp(&read(config_path.clone())?).map_err(|why| HookError::Config {
            path: config_path,
            why,
        })?;
    Ok(Some(Request {
        id: state.id,
        cgroup,
        trace,
        after_seccomp,
    }))
}

/// The hooks.d file (oci-hooks(5), read by podman and CRI-O) that runs `binary` as this hook
/// for every container with the annotation.
pub fn hooks_d_entry(binary: &Path, stage: &str) -> String {
    let entry = serde_json::json!({
        "version": "1.0.0",
        "hook": {
            "path": binary,
            "args": ["profile", "hook"],
        },
        "when": {
            "annotations": {
                format!("^{}$", regex_escape(ANNOTATION)): "(^|;)of:",
            },
        },
        "stages": [stage],
    });
    let mut text = serde_json::to_string_pretty(&entry).expect("plain JSON");
    text.push('\n');
    text
}

fn regex_escape(text: &str) -> String {
    text.chars()
        .flat_map(|c| {
            let escape = c == '.';
            escape.then_some('\\').into_iter().chain([c])
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn annotations_as_oci_seccomp_bpf_hook_reads_them() {
        assert_eq!(
            parse_annotation("of:/tmp/web.json").unwrap(),
            Trace {
                output: "/tmp/web.json".into(),
                input: None
            }
        );
        assert_eq!(
            parse_annotation("if:/etc/base.json;of:/tmp/web.json").unwrap(),
            Trace {
                output: "/tmp/web.json".into(),
                input: Some("/etc/base.json".into())
            }
        );
        for (bad, why) in [
            ("if:/a.json", "of:PATH"),
            ("of:web.json", "absolute"),
            ("of:/a;of:/b", "once"),
            ("out:/a", "of:PATH or if:PATH"),
            ("", "of:PATH"),
        ] {
            let err = parse_annotation(bad).unwrap_err().to_string();
            assert!(err.contains(why), "{bad}: {err}");
        }
    }

    #[test]
    fn the_v2_line_names_the_cgroup() {
        let text = "9:name=systemd:/libpod_parent/libpod-ab\n0::/libpod_parent/libpod-ab\n";
        assert_eq!(
            v2_cgroup(text),
            Some(PathBuf::from("/libpod_parent/libpod-ab"))
        );
        assert_eq!(v2_cgroup("1:cpu:/x\n"), None);
    }

    #[test]
    fn seccomp_in_the_config() {
        assert!(
            has_seccomp(r#"{"linux": {"seccomp": {"defaultAction": "SCMP_ACT_ERRNO"}}}"#).unwrap()
        );
        assert!(!has_seccomp(r#"{"linux": {}}"#).unwrap());
        assert!(!has_seccomp(r#"{"linux": {"seccomp": null}}"#).unwrap());
        assert!(has_seccomp("{").is_err());
    }

    #[test]
    fn a_container_without_the_annotation_is_left_alone() {
        let state = r#"{"ociVersion": "1.0.2", "id": "x", "status": "creating", "pid": 1, "bundle": "/nonexistent", "annotations": {"a": "b"}}"#;
        assert!(request(state).unwrap().is_none());
        assert!(request("not json").is_err());
    }

    #[test]
    fn the_hooks_d_entry_matches_the_annotation() {
        let text = hooks_d_entry(Path::new("/usr/bin/profile"), "prestart");
        let entry: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(entry["hook"]["path"], "/usr/bin/profile");
        assert_eq!(
            entry["when"]["annotations"]["^io\\.containers\\.trace-syscall$"],
            "(^|;)of:"
        );
        assert_eq!(entry["stages"][0], "prestart");
    }
}
