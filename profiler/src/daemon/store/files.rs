//! What a workload's files hold: its profile, when seccomp denied it calls the proposal and the
//! proposal's meta file (where each denial came from), and the meta file a restarted daemon
//! merges with.
use std::path::PathBuf;

use serde::Serialize;

use super::{Meta, OutputFormat, Store, Workload, PROPOSED};
use crate::{
    daemon::{
        denials::{self, Verdict, WorkloadDenial},
        identity::Identity,
    },
    output::recording::{render_profile, Format},
    profile::{
        k8s,
        learn::{Learn as _, ProfileOptions},
        Profile,
    },
    recording::Recording,
    syscalls::Arch,
};

/// A workload's profile, its denials judged against it, and the proposal.
pub struct Judged<'a> {
    pub profile: Profile,
    pub denials: Vec<WorkloadDenial<'a>>,
    pub proposal: Profile,
}

impl Judged<'_> {
    /// Whether a proposal is worth writing: some denial is not the profile's own doing.
    pub fn proposes(&self) -> bool {
        self.denials
            .iter()
            .any(|d| !matches!(d.verdict, Verdict::Expected(_)))
    }
}

/// `<name>.proposed.json.meta`: each denied syscall, what the proposal does with it, and where
/// it came from.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ProposalMeta<'a> {
    workload: &'a str,
    /// The file the proposal adds to, and the proposal.
    profile: String,
    proposal: String,
    denials: Vec<ProposalEntry<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ProposalEntry<'a> {
    syscall: String,
    arch: Arch,
    nr: u64,
    /// `added`, `expected` (the profile blocks it with a rule of its own) or `not added`.
    verdict: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    why: Option<&'a str>,
    count: u64,
    first: String,
    last: String,
    replicas: Vec<ReplicaDenial<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ReplicaDenial<'a> {
    cgroup_id: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    cgroup: Option<&'a str>,
    #[serde(flatten)]
    identity: &'a Identity,
    count: u64,
    /// `kernel` (the exit hook) and/or `audit` (seccomp's records).
    seen_by: Vec<&'static str>,
    first: String,
    last: String,
    /// The last call's process, command, executable and what the filter did.
    pid: u32,
    comm: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    exe: Option<&'a str>,
    action: &'a str,
}

/// A workload's files: each path with its contents.
type Files = Vec<(PathBuf, Vec<u8>)>;

impl Store {
    /// Workload `stem`'s profile (what the daemon writes as `<stem>.json`), its denials judged
    /// against it, and the proposal.
    pub fn judge(&self, stem: &str) -> Option<Judged<'_>> {
        let workload = self.workloads.get(stem)?;
        let mut recording = Recording::default();
        for (abi, nr) in workload.syscalls() {
            recording.add(abi, nr, 1);
        }
        let profile = recording.to_profile(&ProfileOptions::from(self.default_action));
        let (denials, proposal) = denials::judge(
            workload
                .replicas
                .iter()
                .map(|(id, r)| (*id, r.denied.as_slice())),
            &profile,
            Arch::NATIVE,
        );
        Some(Judged {
            profile,
            denials,
            proposal,
        })
    }

    /// The profile format, for the workload file stem `stem`.
    fn format(&self, stem: &str) -> Format {
        match self.format {
            OutputFormat::Oci => Format::Oci,
            OutputFormat::Kubelet => Format::Kubelet {
                name: stem.to_owned(),
            },
            OutputFormat::Spo => Format::Spo {
                name: resource_name(stem),
                yaml: false,
            },
        }
    }

    /// The files of workload `stem`, in the order they are put in place: the profile, the
    /// proposal when one is due, then the meta file; and whether there is a proposal.
    pub(super) fn files(&self, stem: &str) -> Result<(Files, bool), String> {
        let workload = &self.workloads[stem];
        let judged = self.judge(stem).expect("a known workload");
        let meta = Meta {
            workload: stem.to_owned(),
            replicas: workload.replicas.values().map(|r| (**r).clone()).collect(),
        };
        let text = |profile: &Profile, stem: &str| {
            render_profile(profile, &self.format(stem)).map_err(|e| e.to_string())
        };
        let mut files = vec![(
            self.profile_path(stem),
            text(&judged.profile, stem)?.into_bytes(),
        )];
        let proposes = judged.proposes();
        if proposes {
            let proposed = format!("{stem}{PROPOSED}");
            files.push((
                self.proposal_path(stem),
                text(&judged.proposal, &proposed)?.into_bytes(),
            ));
            files.push((
                self.proposal_meta_path(stem),
                json_text(&self.proposal_meta(stem, workload, &judged)).into_bytes(),
            ));
        }
        files.push((self.meta_path(stem), json_text(&meta).into_bytes()));
        Ok((files, proposes))
    }

    fn proposal_meta<'a>(
        &self,
        stem: &'a str,
        workload: &'a Workload,
        judged: &'a Judged<'a>,
    ) -> ProposalMeta<'a> {
        let file = |path: PathBuf| {
            path.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        };
        ProposalMeta {
            workload: stem,
            profile: file(self.profile_path(stem)),
            proposal: file(self.proposal_path(stem)),
            denials: judged
                .denials
                .iter()
                .map(|denial| {
                    let (verdict, why) = match &denial.verdict {
                        Verdict::Added => ("added", None),
                        Verdict::Expected(why) => ("expected", Some(why.as_str())),
                        Verdict::NotAdded(why) => ("not added", Some(why.as_str())),
                    };
                    ProposalEntry {
                        syscall: denial.name(),
                        arch: denial.arch,
                        nr: denial.nr,
                        verdict,
                        why,
                        count: denial.count,
                        first: denials::format_time(denial.first),
                        last: denials::format_time(denial.last),
                        replicas: denial
                            .replicas
                            .iter()
                            .map(|(id, denied)| {
                                let replica = &workload.replicas[id];
                                ReplicaDenial {
                                    cgroup_id: *id,
                                    cgroup: replica.cgroup.as_deref(),
                                    identity: &replica.identity,
                                    count: denied.count(),
                                    seen_by: denied.seen_by(),
                                    first: denials::format_time(denied.first),
                                    last: denials::format_time(denied.last),
                                    pid: denied.pid,
                                    comm: &denied.comm,
                                    exe: denied.exe.as_deref(),
                                    action: &denied.action,
                                }
                            })
                            .collect(),
                    }
                })
                .collect(),
        }
    }
}

/// Pretty JSON with a final newline.
fn json_text(value: &impl Serialize) -> String {
    let mut text = serde_json::to_string_pretty(value).expect("meta serialises");
    text.push('\n');
    text
}

/// A DNS-1123 subdomain for a SeccompProfile from a workload's file stem.
fn resource_name(stem: &str) -> String {
    let mut name: String = stem
        .chars()
        .map(|c| match c {
            'a'..='z' | '0'..='9' | '-' | '.' => c,
            'A'..='Z' => c.to_ascii_lowercase(),
            _ => '-',
        })
        .collect();
    name = name
        .split('.')
        .map(|label| label.trim_matches('-'))
        .filter(|label| !label.is_empty())
        .collect::<Vec<_>>()
        .join(".");
    if name.len() > 253 {
        name = name[name.len() - 253..]
            .trim_start_matches(['-', '.'])
            .to_owned();
    }
    if k8s::check_resource_name(&name).is_err() {
        name = format!("workload-{:x}", fnv(stem));
    }
    name
}

fn fnv(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, b| {
        (hash ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_names_are_dns_subdomains() {
        for stem in ["kubepods.slice_Pod_1", "_..", "--", "a_b"] {
            let name = resource_name(stem);
            assert!(k8s::check_resource_name(&name).is_ok(), "{stem} → {name}");
        }
        assert_eq!(resource_name("web_1"), "web-1");
    }
}
