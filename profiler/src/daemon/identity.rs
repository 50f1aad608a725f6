//! Who a cgroup belongs to, from its path alone: Kubernetes pod UID, QoS class and container id
//! from the kubelet's cgroup layouts (systemd driver: `kubepods.slice/kubepods-burstable.slice/
//! kubepods-burstable-pod<UID with _>.slice/cri-containerd-<ID>.scope`; cgroupfs driver:
//! `kubepods/burstable/pod<UID>/<ID>`; Guaranteed pods sit directly below `kubepods`). Pure;
//! the names (namespace, pod, container, owner) come from the kubelet's logs ([`super::kubelet`]).
use serde::{Deserialize, Serialize};

use super::kubelet::{self, Names, OwnerKind};
use crate::cgroup;

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Identity {
    /// `guaranteed`, `burstable` or `besteffort`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qos: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_uid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod: Option<String>,
    /// `POD` ([`kubelet::SANDBOX`]) for a cgroup of the pod without a log symlink.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    /// The workload the pod's name says it is a replica of, and of which kind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner_kind: Option<OwnerKind>,
}

impl Identity {
    /// `path` is the cgroup's path below the v2 mount (any leading `/`).
    pub fn of_path(path: &str) -> Identity {
        let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
        let Some(top) = parts
            .iter()
            .position(|p| *p == "kubepods.slice" || *p == "kubepods")
        else {
            return Identity::default();
        };
        let mut identity = Identity::default();
        let mut rest = &parts[top + 1..];
        // QoS level (absent for Guaranteed pods).
        if let Some(first) = rest.first() {
            let qos = first
                .strip_prefix("kubepods-")
                .and_then(|q| q.strip_suffix(".slice"))
                .unwrap_or(first);
            if matches!(qos, "burstable" | "besteffort") {
                identity.qos = Some(qos.to_owned());
                rest = &rest[1..];
            }
        }
        let Some(pod) = rest.first().and_then(|p| pod_uid(p)) else {
            return identity;
        };
        identity.qos.get_or_insert_with(|| "guaranteed".to_owned());
        identity.pod_uid = Some(pod);
        identity.container_id = rest
            .get(1)
            .and_then(|c| cgroup::container_id_of(c))
            .map(|(id, _)| id.to_owned());
        identity
    }

    /// Adds the names the kubelet's logs give; returns the workload's file stem
    /// (`<namespace>_<owner>_<container>`).
    pub fn name(&mut self, names: Names) -> String {
        let owner = kubelet::owner_of(&names.pod);
        let container = names
            .container
            .unwrap_or_else(|| kubelet::SANDBOX.to_owned());
        let stem = kubelet::workload_stem(&names.namespace, &owner.name, &container);
        self.namespace = Some(names.namespace);
        self.pod = Some(names.pod);
        self.container = Some(container);
        self.owner = Some(owner.name);
        self.owner_kind = Some(owner.kind);
        stem
    }

    /// `<namespace>/<owner>/<container>`, when named.
    pub fn workload_key(&self) -> Option<String> {
        Some(format!(
            "{}/{}/{}",
            self.namespace.as_ref()?,
            self.owner.as_ref()?,
            self.container.as_ref()?
        ))
    }
}

/// The pod UID in a pod cgroup's name: `pod<UID>` (cgroupfs) or
/// `kubepods[-<qos>]-pod<UID with - as _>.slice` (systemd).
fn pod_uid(dir: &str) -> Option<String> {
    let systemd = dir
        .strip_suffix(".slice")
        .and_then(|d| d.rsplit_once("-pod"))
        .map(|(_, uid)| uid.replace('_', "-"));
    let uid = systemd.or_else(|| dir.strip_prefix("pod").map(str::to_owned))?;
    (!uid.is_empty() && uid.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-')).then_some(uid)
}

#[cfg(test)]
mod tests {
    use super::*;

    const UID: &str = "0c7f5d3e-1b2a-4c9d-8e7f-6a5b4c3d2e1f";
    const CID: &str = "3f2a9c0e1b7d4a5e8f6c2b1a0d9e8f7c6b5a4d3e2f1a0b9c8d7e6f5a4b3c2d1e";

    fn id(qos: &str, container: Option<&str>) -> Identity {
        Identity {
            qos: Some(qos.to_owned()),
            pod_uid: Some(UID.to_owned()),
            container_id: container.map(str::to_owned),
            ..Identity::default()
        }
    }

    #[test]
    fn systemd_driver_paths() {
        let uid = UID.replace('-', "_");
        assert_eq!(
            Identity::of_path(&format!(
                "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{uid}.slice/cri-containerd-{CID}.scope"
            )),
            id("burstable", Some(CID))
        );
        assert_eq!(
            Identity::of_path(&format!(
                "/kubepods.slice/kubepods-pod{uid}.slice/crio-{CID}.scope"
            )),
            id("guaranteed", Some(CID))
        );
        assert_eq!(
            Identity::of_path(&format!(
                "kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{uid}.slice"
            )),
            id("besteffort", None)
        );
    }

    #[test]
    fn cgroupfs_driver_paths() {
        assert_eq!(
            Identity::of_path(&format!("/kubepods/burstable/pod{UID}/{CID}")),
            id("burstable", Some(CID))
        );
        assert_eq!(
            Identity::of_path(&format!("/kubepods/pod{UID}/{CID}")),
            id("guaranteed", Some(CID))
        );
    }

    #[test]
    fn other_paths_have_no_identity() {
        assert_eq!(
            Identity::of_path("/system.slice/foo.service"),
            Identity::default()
        );
        assert_eq!(
            Identity::of_path("/kubepods.slice/kubepods-burstable.slice"),
            Identity {
                qos: Some("burstable".to_owned()),
                ..Identity::default()
            }
        );
        // Not a pod UID.
        assert_eq!(
            Identity::of_path("/kubepods/burstable/podzz/x").pod_uid,
            None
        );
    }

    #[test]
    fn names_make_the_workload_key() {
        let mut identity = id("burstable", Some(CID));
        let stem = identity.name(Names {
            namespace: "shop".to_owned(),
            pod: "web-7d4b9c8f6-x2k9p".to_owned(),
            container: Some("app".to_owned()),
        });
        assert_eq!(stem, "shop_web_app");
        assert_eq!(identity.workload_key().as_deref(), Some("shop/web/app"));
        assert_eq!(identity.owner_kind, Some(OwnerKind::Deployment));
        // A cgroup of the pod without a log symlink: its sandbox.
        let mut sandbox = id("burstable", None);
        let stem = sandbox.name(Names {
            namespace: "shop".to_owned(),
            pod: "db-1".to_owned(),
            container: None,
        });
        assert_eq!(stem, "shop_db_POD");
        assert_eq!(id("burstable", None).workload_key(), None);
    }
}
