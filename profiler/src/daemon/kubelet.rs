//! Pod and container names from what the kubelet writes on every node, without the API or a CRI
//! client: `<logs>/containers/<pod>_<namespace>_<container>-<container id>.log` (a symlink per
//! container) and `<logs>/pods/<namespace>_<pod>_<pod UID>/` (a directory per pod). From a pod's
//! name alone, [`owner_of`] guesses the workload it is a replica of.
use std::{
    collections::HashMap,
    fs, io,
    path::{Path, PathBuf},
};

use serde::{Deserialize, Serialize};

use crate::cgroup;

/// Kubernetes' `rand.String` alphabet (no vowels, no 0, 1, 3): pod name suffixes and
/// pod-template hashes are made of it.
const RANDOM_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// What a container is, by name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Names {
    pub namespace: String,
    pub pod: String,
    /// `None` for a cgroup of a known pod with no log symlink: in practice its sandbox.
    pub container: Option<String>,
}

/// The kind of controller a pod's name says it belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OwnerKind {
    /// `<deployment>-<pod-template-hash>-<5 chars>`.
    Deployment,
    /// `<name>-<5 chars>`: a bare ReplicaSet's and a DaemonSet's pods look the same.
    ReplicasetOrDaemonset,
    /// `<statefulset>-<ordinal>`.
    Statefulset,
    /// No pattern fits: the pod is its own workload.
    Pod,
}

/// The workload a pod is a replica of, from its name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Owner {
    pub name: String,
    pub kind: OwnerKind,
}

/// Guesses a pod's owner from its name (labels and owner references need the API).
pub fn owner_of(pod: &str) -> Owner {
    let owner = |name: &str, kind| Owner {
        name: name.to_owned(),
        kind,
    };
    if let Some(set) = strip_random(pod, 5..=5) {
        return match strip_random(set, 6..=10) {
            Some(deployment) => owner(deployment, OwnerKind::Deployment),
            None => owner(set, OwnerKind::ReplicasetOrDaemonset),
        };
    }
    if let Some((set, ordinal)) = pod.rsplit_once('-') {
        let canonical = ordinal == "0" || !ordinal.starts_with('0');
        if !set.is_empty()
            && !ordinal.is_empty()
            && canonical
            && ordinal.bytes().all(|b| b.is_ascii_digit())
        {
            return owner(set, OwnerKind::Statefulset);
        }
    }
    owner(pod, OwnerKind::Pod)
}

/// `name` without a final `-<suffix>` whose length is in `len` and whose characters are all
/// from the random alphabet.
fn strip_random(name: &str, len: std::ops::RangeInclusive<usize>) -> Option<&str> {
    let (head, suffix) = name.rsplit_once('-')?;
    (!head.is_empty()
        && len.contains(&suffix.len())
        && suffix.bytes().all(|b| RANDOM_ALPHABET.contains(&b)))
    .then_some(head)
}

/// The file stem of a workload: its key `<namespace>/<owner>/<container>` made a file name
/// (`/` becomes `_`, which no Kubernetes name contains, so different keys get different stems).
pub fn workload_stem(namespace: &str, owner: &str, container: &str) -> String {
    cgroup::file_stem(&format!("{namespace}/{owner}/{container}"))
}

/// The container name of a cgroup of a known pod that has no log symlink (its sandbox). It
/// cannot be a container's name: those are lower case.
pub const SANDBOX: &str = "POD";

/// A DNS-1123 label (namespaces, container names): what the kubelet's file names may hold.
fn is_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// A DNS-1123 subdomain (pod names).
fn is_subdomain(s: &str) -> bool {
    s.len() <= 253 && s.split('.').all(is_label)
}

/// `<pod>_<namespace>_<container>-<64 hex id>.log` → (names, container id).
pub fn parse_container_log(file: &str) -> Option<(Names, String)> {
    let stem = file.strip_suffix(".log")?;
    let mut parts = stem.splitn(3, '_');
    let (pod, namespace, rest) = (parts.next()?, parts.next()?, parts.next()?);
    let (container, id) = rest.rsplit_once('-')?;
    let valid = is_subdomain(pod)
        && is_label(namespace)
        && is_label(container)
        && id.len() == 64
        && id.bytes().all(|b| b.is_ascii_hexdigit());
    valid.then(|| {
        (
            Names {
                namespace: namespace.to_owned(),
                pod: pod.to_owned(),
                container: Some(container.to_owned()),
            },
            id.to_ascii_lowercase(),
        )
    })
}

/// `<namespace>_<pod>_<pod UID>` → (namespace, pod, UID).
pub fn parse_pod_dir(dir: &str) -> Option<(String, String, String)> {
    let mut parts = dir.splitn(3, '_');
    let (namespace, pod, uid) = (parts.next()?, parts.next()?, parts.next()?);
    let valid = is_label(namespace)
        && is_subdomain(pod)
        && !uid.is_empty()
        && uid.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-');
    valid.then(|| {
        (
            namespace.to_owned(),
            pod.to_owned(),
            uid.to_ascii_lowercase(),
        )
    })
}

/// What the kubelet's log directories tell, read again when a cgroup is not found in it.
pub struct KubeletLogs {
    dir: PathBuf,
    containers: HashMap<String, Names>,
    pods: HashMap<String, (String, String)>,
}

impl KubeletLogs {
    pub fn new(dir: &Path) -> KubeletLogs {
        KubeletLogs {
            dir: dir.to_owned(),
            containers: HashMap::new(),
            pods: HashMap::new(),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Rereads both directories; an error when neither can be read (no kubelet on this node,
    /// or the directory is not mounted).
    pub fn reload(&mut self) -> io::Result<()> {
        let containers = fs::read_dir(self.dir.join("containers"));
        let pods = fs::read_dir(self.dir.join("pods"));
        if let (Err(err), Err(_)) = (&containers, &pods) {
            return Err(io::Error::new(err.kind(), err.to_string()));
        }
        self.containers = containers
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| parse_container_log(&e.file_name().to_string_lossy()))
            .map(|(names, id)| (id, names))
            .collect();
        self.pods = pods
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| parse_pod_dir(&e.file_name().to_string_lossy()))
            .map(|(namespace, pod, uid)| (uid, (namespace, pod)))
            .collect();
        Ok(())
    }

    /// The names of a container (by id), or of the pod (by UID) when the container has no log.
    pub fn lookup(&self, container_id: Option<&str>, pod_uid: Option<&str>) -> Option<Names> {
        if let Some(names) = container_id.and_then(|id| self.containers.get(id)) {
            return Some(names.clone());
        }
        let (namespace, pod) = self.pods.get(pod_uid?)?;
        Some(Names {
            namespace: namespace.clone(),
            pod: pod.clone(),
            container: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner(name: &str, kind: OwnerKind) -> Owner {
        Owner {
            name: name.to_owned(),
            kind,
        }
    }

    #[test]
    fn owners_from_pod_names() {
        use OwnerKind::*;
        for (pod, want) in [
            ("web-7d4b9c8f6-x2k9p", owner("web", Deployment)),
            (
                "my-web-app-5f8d7c6b9b-zq2wx",
                owner("my-web-app", Deployment),
            ),
            ("coredns-668d6bf9bc-4lnfd", owner("coredns", Deployment)),
            // A bare ReplicaSet, or a DaemonSet: the same shape.
            ("frontend-x7k2p", owner("frontend", ReplicasetOrDaemonset)),
            (
                "kube-proxy-8xvzq",
                owner("kube-proxy", ReplicasetOrDaemonset),
            ),
            // `exporter` has vowels: not a pod-template hash.
            (
                "node-exporter-fgh42",
                owner("node-exporter", ReplicasetOrDaemonset),
            ),
            ("db-0", owner("db", Statefulset)),
            ("my-db-12", owner("my-db", Statefulset)),
            ("redis-cluster-3", owner("redis-cluster", Statefulset)),
            // Fits nothing: its own workload.
            ("toolbox", owner("toolbox", Pod)),
            ("web-abcde", owner("web-abcde", Pod)),
            ("web-x2k9", owner("web-x2k9", Pod)),
            ("web-x2k9pq", owner("web-x2k9pq", Pod)),
            ("db-01", owner("db-01", Pod)),
            ("-0", owner("-0", Pod)),
            ("db-", owner("db-", Pod)),
        ] {
            assert_eq!(owner_of(pod), want, "{pod}");
        }
    }

    const CID: &str = "3f2a9c0e1b7d4a5e8f6c2b1a0d9e8f7c6b5a4d3e2f1a0b9c8d7e6f5a4b3c2d1e";

    #[test]
    fn container_log_names() {
        let (names, id) =
            parse_container_log(&format!("web-7d4b9c8f6-x2k9p_shop_app-sidecar-{CID}.log"))
                .unwrap();
        assert_eq!(
            names,
            Names {
                namespace: "shop".into(),
                pod: "web-7d4b9c8f6-x2k9p".into(),
                container: Some("app-sidecar".into()),
            }
        );
        assert_eq!(id, CID);
        for bad in [
            format!("web_shop_app-{CID}"),
            format!("web_shop_app-{}.log", &CID[1..]),
            format!("web_shop_app{CID}.log"),
            format!("web_shop_-{CID}.log"),
            format!("web_Shop_app-{CID}.log"),
            format!("web_shop_../app-{CID}.log"),
            format!("web_shop_app_x-{CID}.log"),
            "x.log".to_owned(),
        ] {
            assert_eq!(parse_container_log(&bad), None, "{bad}");
        }
    }

    #[test]
    fn pod_dir_names() {
        assert_eq!(
            parse_pod_dir("shop_db-0_0c7f5d3e-1b2a-4c9d-8e7f-6a5b4c3d2e1f"),
            Some((
                "shop".into(),
                "db-0".into(),
                "0c7f5d3e-1b2a-4c9d-8e7f-6a5b4c3d2e1f".into()
            ))
        );
        for bad in [
            "shop_db-0",
            "shop_db-0_",
            "shop_db_0_x",
            "_db_1",
            "sh op_db_1",
        ] {
            assert_eq!(parse_pod_dir(bad), None, "{bad}");
        }
    }

    #[test]
    fn stems_keep_keys_apart() {
        assert_eq!(workload_stem("shop", "web", "app"), "shop_web_app");
        assert_eq!(
            workload_stem("kube-system", "coredns.v1", SANDBOX),
            "kube-system_coredns.v1_POD"
        );
        assert_ne!(
            workload_stem("a-b", "c", "d"),
            workload_stem("a", "b-c", "d")
        );
    }

    #[test]
    fn lookup_by_container_then_pod() {
        let dir = std::env::temp_dir().join(format!("profile-kubelet-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let mut logs = KubeletLogs::new(&dir);
        assert!(logs.reload().is_err());
        let uid = "0c7f5d3e-1b2a-4c9d-8e7f-6a5b4c3d2e1f";
        fs::create_dir_all(dir.join(format!("pods/shop_db-0_{uid}/postgres"))).unwrap();
        fs::create_dir_all(dir.join("containers")).unwrap();
        std::os::unix::fs::symlink(
            format!("../pods/shop_db-0_{uid}/postgres/0.log"),
            dir.join(format!("containers/db-0_shop_postgres-{CID}.log")),
        )
        .unwrap();
        fs::write(dir.join("containers/garbage"), "").unwrap();
        logs.reload().unwrap();
        let names = |container: Option<&str>| Names {
            namespace: "shop".into(),
            pod: "db-0".into(),
            container: container.map(str::to_owned),
        };
        assert_eq!(logs.lookup(Some(CID), None), Some(names(Some("postgres"))));
        assert_eq!(logs.lookup(Some("ab"), Some(uid)), Some(names(None)));
        assert_eq!(logs.lookup(Some("ab"), Some("12")), None);
        fs::remove_dir_all(&dir).unwrap();
    }
}
