//! Reading every seccomp profile dialect into the one model:
//!
//! - OCI runtime-spec `linux.seccomp` (runc, crun, the kubelet's Localhost profiles), as a bare
//!   object or inside a whole `config.json`;
//! - Docker/moby JSON: `archMap`, per-rule `includes`/`excludes` (`caps`, `arches`, `minKernel`),
//!   `comment`, and the deprecated singular `name`;
//! - containers/common (podman, CRI-O): string `defaultErrno` and per-rule `errno` ("ENOSYS",
//!   "EPERM"), mapped to numbers.
//!
//! Errors say where: syntax errors with `file:line:column`, schema errors with the JSON path
//! (`app.json: syscalls[3].args[0].op: unknown operator "SCMP_CMP_FOO"`). Unknown fields are
//! ignored, as runc, crun, moby and podman ignore them, but each one is reported as a warning.
use std::fmt;

use serde::{de, Deserialize, Deserializer};

use super::errno::{errno_name, errno_number};
use super::{
    caps, kernel, Action, ArchMapEntry, ArgCondition, ArgOp, Condition, Profile, SyscallRule,
    ERRNO_RANGE, TRACE_DATA_RANGE,
};
use crate::syscalls::{self, Arch};

/// Which dialect a file was written in, judged by the fields it uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    /// Only runtime-spec fields.
    Oci,
    /// moby's fields: `archMap`, `includes`/`excludes`, `comment`, or singular `name`.
    Docker,
    /// containers/common's string `defaultErrno`/`errno` (possibly with moby's fields too).
    Containers,
}

impl fmt::Display for Dialect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Dialect::Oci => "oci",
            Dialect::Docker => "docker",
            Dialect::Containers => "containers",
        })
    }
}

/// A profile as read, with what was odd about it.
#[derive(Clone, Debug)]
pub struct Parsed {
    pub profile: Profile,
    /// Each names the file and, where it applies, the JSON path.
    pub warnings: Vec<String>,
    pub dialect: Dialect,
    /// Where the profile sat when it was part of a larger document: the `linux.seccomp` object
    /// of an OCI `config.json`, or the `spec` of a Security Profiles Operator `SeccompProfile`.
    pub embedded: Option<&'static str>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ParseError {
    /// Not JSON at all.
    #[error("{file}:{line}:{column}: {message}")]
    Syntax {
        file: String,
        line: usize,
        column: usize,
        message: String,
    },
    /// JSON, but not a seccomp profile. `path` is `syscalls[3].args[0].op`-style, `.` for the
    /// top level; `line`/`column` are 0 when not known (e.g. a check across fields).
    #[error("{file}: {}{message}{}", path_prefix(path), position(*line, *column))]
    Schema {
        file: String,
        path: String,
        message: String,
        line: usize,
        column: usize,
    },
}

fn path_prefix(path: &str) -> String {
    if path.is_empty() || path == "." {
        String::new()
    } else {
        format!("{path}: ")
    }
}

fn position(line: usize, column: usize) -> String {
    if line == 0 {
        String::new()
    } else {
        format!(" (line {line}, column {column})")
    }
}

impl ParseError {
    fn schema(file: &str, path: impl Into<String>, message: impl Into<String>) -> Self {
        ParseError::Schema {
            file: file.to_owned(),
            path: path.into(),
            message: message.into(),
            line: 0,
            column: 0,
        }
    }
}

/// Reads a profile in any dialect. `source` names the input in messages (a file name).
pub fn parse(text: &str, source: &str) -> Result<Parsed, ParseError> {
    // A first pass as plain JSON gives syntax errors their line and column whatever the shape,
    // and shows whether this is a whole config.json.
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|err| json_error(source, "", &err, None))?;
    let mut ignored = Vec::new();
    let (raw, prefix, embedded) = match embedded_seccomp(&value) {
        Some(Embedded::Found { inner, path, what }) => (
            deserialize(inner.clone(), source, path, &mut ignored)?,
            path,
            Some(what),
        ),
        Some(Embedded::Missing { path, message }) => {
            return Err(ParseError::schema(source, path, message))
        }
        None => {
            let mut de = serde_json::Deserializer::from_str(text);
            (deserialize(&mut de, source, "", &mut ignored)?, "", None)
        }
    };
    let mut warnings: Vec<String> = ignored
        .into_iter()
        .map(|path| {
            format!(
                "{source}: {}: unknown field, ignored (runc and crun ignore it too)",
                join(prefix, &path)
            )
        })
        .collect();
    let (profile, dialect) = convert(raw, source, prefix, &mut warnings)?;
    Ok(Parsed {
        profile,
        warnings,
        dialect,
        embedded,
    })
}

enum Embedded<'a> {
    Found {
        inner: &'a serde_json::Value,
        path: &'static str,
        what: &'static str,
    },
    Missing {
        path: &'static str,
        message: &'static str,
    },
}

/// A profile inside a larger document: a whole OCI `config.json` (it has `ociVersion` or
/// `linux` and none of a profile's fields), or an SPO `SeccompProfile` resource in JSON form,
/// whose `spec` is an OCI profile without `defaultErrnoRet`.
fn embedded_seccomp(value: &serde_json::Value) -> Option<Embedded<'_>> {
    let object = value.as_object()?;
    if object.contains_key("defaultAction") || object.contains_key("syscalls") {
        return None;
    }
    let (pointer, path, what, message) =
        if object.get("kind").and_then(|k| k.as_str()) == Some("SeccompProfile") {
            (
                "/spec",
                "spec",
                "spec of a SeccompProfile resource",
                "this SeccompProfile has no spec",
            )
        } else if object.contains_key("ociVersion") || object.contains_key("linux") {
            (
                "/linux/seccomp",
                "linux.seccomp",
                "linux.seccomp of a config.json",
                "this OCI config.json has no seccomp profile",
            )
        } else {
            return None;
        };
    Some(match value.pointer(pointer) {
        Some(inner) if !inner.is_null() => Embedded::Found { inner, path, what },
        _ => Embedded::Missing { path, message },
    })
}

fn join(prefix: &str, path: &str) -> String {
    match (prefix.is_empty(), path.is_empty() || path == ".") {
        (true, _) => path.to_owned(),
        (false, true) => prefix.to_owned(),
        (false, false) if path.starts_with('[') => format!("{prefix}{path}"),
        (false, false) => format!("{prefix}.{path}"),
    }
}

fn deserialize<'de, D>(
    de: D,
    source: &str,
    prefix: &str,
    ignored: &mut Vec<String>,
) -> Result<RawProfile, ParseError>
where
    D: Deserializer<'de, Error = serde_json::Error>,
{
    let mut track = serde_path_to_error::Track::new();
    let result = {
        let de = serde_path_to_error::Deserializer::new(de, &mut track);
        let mut note = |path: serde_ignored::Path| ignored.push(ignored_path(&path));
        let de = serde_ignored::Deserializer::new(de, &mut note);
        RawProfile::deserialize(de)
    };
    result.map_err(|err| {
        let path = track.path().to_string();
        json_error(source, &join(prefix, &path), &err, Some(()))
    })
}

/// Turns a serde_json error into ours; `schema` is `Some` once the text is known to be JSON.
fn json_error(source: &str, path: &str, err: &serde_json::Error, schema: Option<()>) -> ParseError {
    // serde_json appends " at line L column C" to its messages; we place the position ourselves.
    let text = err.to_string();
    let suffix = format!(" at line {} column {}", err.line(), err.column());
    let message = text.strip_suffix(&suffix).unwrap_or(&text).to_owned();
    match (err.classify(), schema) {
        (serde_json::error::Category::Data, Some(())) => ParseError::Schema {
            file: source.to_owned(),
            path: path.to_owned(),
            message,
            line: err.line(),
            column: err.column(),
        },
        _ => ParseError::Syntax {
            file: source.to_owned(),
            line: err.line(),
            column: err.column(),
            message,
        },
    }
}

/// serde_ignored's path in the `syscalls[3].foo` form of our messages.
fn ignored_path(path: &serde_ignored::Path) -> String {
    match path {
        serde_ignored::Path::Root => String::new(),
        serde_ignored::Path::Seq { parent, index } => format!("{}[{index}]", ignored_path(parent)),
        serde_ignored::Path::Map { parent, key } => {
            let parent = ignored_path(parent);
            if parent.is_empty() {
                key.clone()
            } else {
                format!("{parent}.{key}")
            }
        }
        serde_ignored::Path::Some { parent }
        | serde_ignored::Path::NewtypeStruct { parent }
        | serde_ignored::Path::NewtypeVariant { parent } => ignored_path(parent),
    }
}

// ---- The superset of every dialect, as written. -------------------------------------------

#[derive(Deserialize)]
#[serde(
    rename_all = "camelCase",
    expecting = "a seccomp profile (a JSON object)"
)]
struct RawProfile {
    #[serde(deserialize_with = "de_action")]
    default_action: Action,
    #[serde(default)]
    default_errno_ret: Option<u32>,
    #[serde(default, deserialize_with = "de_errno_name")]
    default_errno: Option<u32>,
    #[serde(default, deserialize_with = "de_arches")]
    architectures: Vec<Arch>,
    #[serde(default, deserialize_with = "nullable")]
    arch_map: Vec<RawArchMap>,
    #[serde(default, deserialize_with = "de_flags")]
    flags: Vec<String>,
    #[serde(default)]
    listener_path: Option<String>,
    #[serde(default)]
    listener_metadata: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    syscalls: Vec<RawRule>,
}

#[derive(Deserialize)]
#[serde(
    rename_all = "camelCase",
    expecting = "an archMap entry ({\"architecture\": …, \"subArchitectures\": […]})"
)]
struct RawArchMap {
    #[serde(deserialize_with = "de_arch")]
    architecture: Arch,
    #[serde(default, deserialize_with = "de_arches")]
    sub_architectures: Vec<Arch>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", expecting = "a syscall rule (a JSON object)")]
struct RawRule {
    #[serde(default, deserialize_with = "nullable")]
    names: Vec<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(deserialize_with = "de_action")]
    action: Action,
    #[serde(default)]
    errno_ret: Option<u32>,
    #[serde(default, deserialize_with = "de_errno_name")]
    errno: Option<u32>,
    #[serde(default, deserialize_with = "nullable")]
    args: Vec<RawArg>,
    #[serde(default)]
    comment: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    includes: RawCondition,
    #[serde(default, deserialize_with = "nullable")]
    excludes: RawCondition,
}

#[derive(Deserialize)]
#[serde(
    rename_all = "camelCase",
    expecting = "an argument condition (a JSON object)"
)]
struct RawArg {
    index: u32,
    value: u64,
    #[serde(default)]
    value_two: u64,
    #[serde(deserialize_with = "de_op")]
    op: ArgOp,
}

#[derive(Default, Deserialize)]
#[serde(
    rename_all = "camelCase",
    expecting = "a condition (caps, arches, minKernel)"
)]
struct RawCondition {
    #[serde(default, deserialize_with = "nullable")]
    caps: Vec<String>,
    #[serde(default, deserialize_with = "nullable")]
    arches: Vec<String>,
    #[serde(default, deserialize_with = "de_min_kernel")]
    min_kernel: Option<String>,
}

/// `null` reads as the empty value, as Go's encoding/json reads it.
fn nullable<'de, D, T>(de: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(de)?.unwrap_or_default())
}

/// Reads a string with the model's serde names, with our own message for an unknown one.
fn by_name<'de, D, T>(de: D, what: &str) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: serde::de::DeserializeOwned,
{
    let name = String::deserialize(de)?;
    serde_json::from_value(serde_json::Value::String(name.clone()))
        .map_err(|_| de::Error::custom(format!("unknown {what} {name:?}")))
}

fn de_action<'de, D: Deserializer<'de>>(de: D) -> Result<Action, D::Error> {
    by_name(de, "action")
}

fn de_op<'de, D: Deserializer<'de>>(de: D) -> Result<ArgOp, D::Error> {
    by_name(de, "operator")
}

fn de_arch<'de, D: Deserializer<'de>>(de: D) -> Result<Arch, D::Error> {
    by_name(de, "architecture")
}

fn de_arches<'de, D: Deserializer<'de>>(de: D) -> Result<Vec<Arch>, D::Error> {
    struct Arches;
    impl<'de> de::Visitor<'de> for Arches {
        type Value = Vec<Arch>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a list of SCMP_ARCH_* names")
        }
        fn visit_unit<E>(self) -> Result<Vec<Arch>, E> {
            Ok(Vec::new())
        }
        fn visit_none<E>(self) -> Result<Vec<Arch>, E> {
            Ok(Vec::new())
        }
        fn visit_some<D: Deserializer<'de>>(self, de: D) -> Result<Vec<Arch>, D::Error> {
            de.deserialize_seq(self)
        }
        fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<Arch>, A::Error> {
            let mut arches = Vec::new();
            while let Some(ArchName(arch)) = seq.next_element()? {
                arches.push(arch);
            }
            Ok(arches)
        }
    }
    de.deserialize_option(Arches)
}

struct ArchName(Arch);

impl<'de> Deserialize<'de> for ArchName {
    fn deserialize<D: Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        de_arch(de).map(ArchName)
    }
}

/// The runtime-spec's `SeccompFlag` values.
pub const FLAGS: [&str; 4] = [
    "SECCOMP_FILTER_FLAG_TSYNC",
    "SECCOMP_FILTER_FLAG_LOG",
    "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
    "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV",
];

fn de_flags<'de, D: Deserializer<'de>>(de: D) -> Result<Vec<String>, D::Error> {
    let flags: Vec<String> = nullable(de)?;
    match flags.iter().find(|flag| !FLAGS.contains(&flag.as_str())) {
        Some(flag) => Err(de::Error::custom(format!(
            "unknown flag {flag:?} (known: {})",
            FLAGS.join(", ")
        ))),
        None => Ok(flags),
    }
}

fn de_errno_name<'de, D: Deserializer<'de>>(de: D) -> Result<Option<u32>, D::Error> {
    let Some(name) = Option::<String>::deserialize(de)? else {
        return Ok(None);
    };
    if name.is_empty() {
        return Ok(None);
    }
    errno_number(&name)
        .map(Some)
        .ok_or_else(|| de::Error::custom(format!("unknown errno name {name:?}")))
}

/// moby's `minKernel`: `"<kernel>.<major>"`, each part below 256, not `0.0`; `""` means none.
fn de_min_kernel<'de, D: Deserializer<'de>>(de: D) -> Result<Option<String>, D::Error> {
    let Some(text) = Option::<String>::deserialize(de)? else {
        return Ok(None);
    };
    if text.is_empty() {
        return Ok(None);
    }
    match kernel::parse_min_kernel(&text) {
        Some(_) => Ok(Some(text)),
        None => Err(de::Error::custom(format!(
            "invalid kernel version {text:?}, expected \"<kernel>.<major>\" such as \"4.8\""
        ))),
    }
}

// ---- Converting to the model, with the checks that span fields. ---------------------------

fn convert(
    raw: RawProfile,
    source: &str,
    prefix: &str,
    warnings: &mut Vec<String>,
) -> Result<(Profile, Dialect), ParseError> {
    let at = |path: &str| join(prefix, path);
    let mut docker = !raw.arch_map.is_empty();
    let mut containers = raw.default_errno.is_some();

    if !raw.architectures.is_empty() && !raw.arch_map.is_empty() {
        return Err(ParseError::schema(
            source,
            at("archMap"),
            "both \"architectures\" and \"archMap\" are set; moby and podman refuse that: use one",
        ));
    }
    let default_errno_ret = merge_errno(
        raw.default_errno_ret,
        raw.default_errno,
        source,
        &at("defaultErrno"),
    )?;
    if default_errno_ret.is_some() && !matches!(raw.default_action, Action::Errno | Action::Trace) {
        warnings.push(format!(
            "{source}: {}: ignored: it applies only to SCMP_ACT_ERRNO and SCMP_ACT_TRACE",
            at("defaultErrnoRet")
        ));
    }
    errno_in_range(
        raw.default_action,
        default_errno_ret,
        source,
        &at("defaultErrnoRet"),
    )?;
    if raw.default_action == Action::Notify {
        return Err(ParseError::schema(
            source,
            at("defaultAction"),
            "SCMP_ACT_NOTIFY cannot be the default action (runc refuses it)",
        ));
    }

    let mut syscalls = Vec::with_capacity(raw.syscalls.len());
    let mut notify = false;
    for (i, rule) in raw.syscalls.into_iter().enumerate() {
        let here = at(&format!("syscalls[{i}]"));
        let mut names = rule.names;
        if let Some(name) = rule.name {
            docker = true;
            if !names.is_empty() {
                return Err(ParseError::schema(
                    source,
                    here,
                    "both \"name\" and \"names\" are set; use \"names\"",
                ));
            }
            warnings.push(format!(
                "{source}: {here}: \"name\": {name:?} is deprecated; use \"names\": [{name:?}]"
            ));
            names.push(name);
        }
        if names.is_empty() {
            return Err(ParseError::schema(
                source,
                format!("{here}.names"),
                "a rule must name at least one syscall",
            ));
        }
        if let Some(j) = names.iter().position(|name| name.trim().is_empty()) {
            return Err(ParseError::schema(
                source,
                format!("{here}.names[{j}]"),
                "empty syscall name",
            ));
        }
        containers |= rule.errno.is_some();
        let errno_ret = merge_errno(rule.errno_ret, rule.errno, source, &format!("{here}.errno"))?;
        if errno_ret.is_some() && !matches!(rule.action, Action::Errno | Action::Trace) {
            warnings.push(format!(
                "{source}: {here}.errnoRet: ignored: it applies only to SCMP_ACT_ERRNO and SCMP_ACT_TRACE"
            ));
        }
        errno_in_range(rule.action, errno_ret, source, &format!("{here}.errnoRet"))?;
        notify |= rule.action == Action::Notify;
        let mut args = Vec::with_capacity(rule.args.len());
        let mut seen = [false; 6];
        let mut repeated = Vec::new();
        for (j, arg) in rule.args.into_iter().enumerate() {
            let Some(slot) = seen.get_mut(arg.index as usize) else {
                return Err(ParseError::schema(
                    source,
                    format!("{here}.args[{j}].index"),
                    format!(
                        "{} is out of range: syscalls have arguments 0 to 5",
                        arg.index
                    ),
                ));
            };
            if std::mem::replace(slot, true) && !repeated.contains(&arg.index) {
                repeated.push(arg.index);
            }
            args.push(ArgCondition {
                index: arg.index,
                value: arg.value,
                value_two: arg.value_two,
                op: arg.op,
            });
        }
        for index in repeated {
            warnings.push(format!(
                "{source}: {here}.args: several conditions on argument {index}: runc then \
                 matches if ANY condition holds (one rule per condition), not all"
            ));
        }
        let comment = rule.comment.filter(|c| !c.is_empty());
        let includes = condition(rule.includes, source, &format!("{here}.includes"), warnings);
        let excludes = condition(rule.excludes, source, &format!("{here}.excludes"), warnings);
        docker |= comment.is_some() || !includes.is_empty() || !excludes.is_empty();
        syscalls.push(SyscallRule {
            names,
            action: rule.action,
            errno_ret,
            args,
            comment,
            includes,
            excludes,
        });
    }
    if notify && raw.listener_path.is_none() {
        warnings.push(format!(
            "{source}: SCMP_ACT_NOTIFY is used but listenerPath is not set: runc will refuse it"
        ));
    }

    let profile = Profile {
        default_action: raw.default_action,
        default_errno_ret,
        architectures: raw.architectures,
        arch_map: raw
            .arch_map
            .into_iter()
            .map(|entry| ArchMapEntry {
                architecture: entry.architecture,
                sub_architectures: entry.sub_architectures,
            })
            .collect(),
        flags: raw.flags,
        listener_path: raw.listener_path,
        listener_metadata: raw.listener_metadata,
        syscalls,
    };
    let dialect = if containers {
        Dialect::Containers
    } else if docker {
        Dialect::Docker
    } else {
        Dialect::Oci
    };
    Ok((profile, dialect))
}

/// One range for every command: what the compiler, runc and the kernel all accept.
fn errno_in_range(
    action: Action,
    errno: Option<u32>,
    source: &str,
    path: &str,
) -> Result<(), ParseError> {
    let (range, what) = match action {
        Action::Errno => (ERRNO_RANGE, "an errno from 1 to 4094 (0 makes a denied call look successful; libseccomp, so runc, crun and podman, refuses 4095 and up)"),
        Action::Trace => (TRACE_DATA_RANGE, "SCMP_ACT_TRACE's data, 0 to 65535"),
        _ => return Ok(()),
    };
    match errno {
        Some(errno) if !range.contains(&errno) => Err(ParseError::schema(
            source,
            path,
            format!("{errno} is out of range: it must be {what}"),
        )),
        _ => Ok(()),
    }
}

/// containers/common writes both `errnoRet: 1` and `errno: "EPERM"`; they must agree.
fn merge_errno(
    number: Option<u32>,
    name: Option<u32>,
    source: &str,
    path: &str,
) -> Result<Option<u32>, ParseError> {
    match (number, name) {
        (Some(number), Some(name)) if number != name => Err(ParseError::schema(
            source,
            path,
            format!(
                "names errno {name} ({}) but the number beside it is {number}",
                errno_name(name).unwrap_or("?")
            ),
        )),
        (number, name) => Ok(number.or(name)),
    }
}

fn condition(raw: RawCondition, source: &str, path: &str, warnings: &mut Vec<String>) -> Condition {
    for cap in &raw.caps {
        if !caps::ALL_CAPABILITIES.contains(&cap.as_str()) {
            warnings.push(format!(
                "{source}: {path}.caps: {cap:?} is not a capability name (CAP_…): it never matches"
            ));
        }
    }
    for arch in &raw.arches {
        if syscalls::arch_from_moby_name(arch).is_none() {
            warnings.push(format!(
                "{source}: {path}.arches: {arch:?} is not an architecture name moby matches \
                 (amd64, x86, arm64, arm, ppc64le, s390x, riscv64, …): it never matches"
            ));
        }
    }
    Condition {
        caps: raw.caps,
        arches: raw.arches,
        min_kernel: raw.min_kernel,
    }
}

#[cfg(test)]
mod tests;
