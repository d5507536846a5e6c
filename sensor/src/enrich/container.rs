//! cgroup path -> container: which runtime made the cgroup, the container id, and for
//! Kubernetes pods the pod uid and QoS class. Decided from the path alone, by the naming
//! schemes runtimes use. A path that matches none of them is `Unknown`, never a guess.
//!
//! Schemes (the container id is always 64 lowercase hex digits):
//! - systemd driver: `/kubepods.slice/kubepods-<qos>.slice/kubepods-<qos>-pod<uid_>.slice/`
//!   `<prefix>-<id>.scope` with prefix `cri-containerd`, `crio`, `docker`; Guaranteed pods
//!   have no `<qos>` level; Docker alone: `/system.slice/docker-<id>.scope`; podman:
//!   `/machine.slice/libpod-<id>.scope` (or under a user slice);
//! - cgroupfs driver: `/kubepods/<qos>/pod<uid>/<id>` (the runtime is not in the path),
//!   `/kubepods/<qos>/pod<uid>/crio-<id>`, `/docker/<id>`, `/libpod_parent/libpod-<id>`;
//! - containerd without systemd given a `.slice` parent:
//!   `/kubepods-<qos>-pod<uid_>.slice:cri-containerd:<id>`.
//!
//! Sub-cgroups a container makes inside its own cgroup belong to that container.

use std::sync::Arc;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Runtime {
    Containerd,
    CriO,
    Docker,
    Podman,
    /// A Kubernetes container whose cgroup path does not say which CRI runtime made it.
    Cri,
}

impl Runtime {
    pub fn name(self) -> &'static str {
        match self {
            Runtime::Containerd => "containerd",
            Runtime::CriO => "cri-o",
            Runtime::Docker => "docker",
            Runtime::Podman => "podman",
            Runtime::Cri => "cri",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Qos {
    Guaranteed,
    Burstable,
    BestEffort,
}

impl Qos {
    pub fn name(self) -> &'static str {
        match self {
            Qos::Guaranteed => "guaranteed",
            Qos::Burstable => "burstable",
            Qos::BestEffort => "besteffort",
        }
    }
}

/// A container as its cgroup path describes it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ContainerRef {
    pub runtime: Runtime,
    pub id: String,
    /// For Kubernetes pods: the pod uid (with dashes) and QoS class.
    pub pod: Option<(String, Qos)>,
}

/// Who a cgroup belongs to.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Owner {
    Container(Arc<ContainerRef>),
    /// The root cgroup, or a systemd unit of the host.
    Host,
    /// A path no known scheme explains.
    Unknown,
}

fn container(runtime: Runtime, id: &str, pod: Option<(String, Qos)>) -> Owner {
    Owner::Container(Arc::new(ContainerRef {
        runtime,
        id: id.to_owned(),
        pod,
    }))
}

fn is_container_id(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// `<prefix>-<id>.scope` or `<prefix>-<id>` -> (runtime, id).
fn prefixed_id(component: &str) -> Option<(Runtime, &str)> {
    let body = component.strip_suffix(".scope").unwrap_or(component);
    let (prefix, id) = body.rsplit_once('-')?;
    let runtime = match prefix {
        "cri-containerd" => Runtime::Containerd,
        "crio" => Runtime::CriO,
        "docker" => Runtime::Docker,
        "libpod" => Runtime::Podman,
        _ => return None,
    };
    is_container_id(id).then_some((runtime, id))
}

/// The pod uid and QoS from a kubepods component: `pod<uid>` (cgroupfs, with its QoS parent)
/// or `kubepods[-<qos>]-pod<uid_>.slice` (systemd).
fn pod_of(component: &str, cgroupfs_qos: Option<Qos>) -> Option<(String, Qos)> {
    if let Some(uid) = component.strip_prefix("pod") {
        return valid_uid(uid).then(|| (uid.to_owned(), cgroupfs_qos.unwrap_or(Qos::Guaranteed)));
    }
    let rest = component
        .strip_prefix("kubepods-")?
        .strip_suffix(".slice")?;
    let (qos, uid) = match rest.split_once("-pod") {
        Some(("besteffort", uid)) => (Qos::BestEffort, uid),
        Some(("burstable", uid)) => (Qos::Burstable, uid),
        _ => (Qos::Guaranteed, rest.strip_prefix("pod")?),
    };
    let uid = uid.replace('_', "-");
    valid_uid(&uid).then_some((uid, qos))
}

fn valid_uid(uid: &str) -> bool {
    uid.len() == 36 && uid.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-')
}

fn qos_dir(component: &str) -> Option<Qos> {
    match component {
        "besteffort" | "kubepods-besteffort.slice" => Some(Qos::BestEffort),
        "burstable" | "kubepods-burstable.slice" => Some(Qos::Burstable),
        _ => None,
    }
}

/// Decides who owns the cgroup at `path` (relative to the cgroup2 root, starting with `/`).
pub fn classify(path: &str) -> Owner {
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    if parts.is_empty() {
        return Owner::Host;
    }
    let mut pod = None;
    let mut qos = None;
    let in_kubepods =
        matches!(parts[0], "kubepods" | "kubepods.slice") || parts[0].starts_with("kubepods-");
    for (i, part) in parts.iter().enumerate() {
        // containerd with a `.slice` parent but no systemd: `slice:prefix:id` in one name.
        if let Some((slice, prefix, id)) = split_colon_form(part) {
            let Some((runtime, _)) = prefixed_id(&format!("{prefix}-{id}")) else {
                return Owner::Unknown;
            };
            let pod = pod_of(slice, None);
            return container(runtime, id, pod);
        }
        if in_kubepods {
            if i == 0 && matches!(*part, "kubepods" | "kubepods.slice") {
                continue;
            }
            if let Some(q) = qos_dir(part) {
                qos = Some(q);
                continue;
            }
            if let Some(p) = pod_of(part, qos) {
                pod = Some(p);
                continue;
            }
        }
        if let Some((runtime, id)) = prefixed_id(part) {
            return container(runtime, id, pod);
        }
        if is_container_id(part) {
            // A bare id: cgroupfs kubepods (runtime unknown) or dockerd's `/docker/<id>`.
            let runtime = match (pod.is_some(), i.checked_sub(1).map(|j| parts[j])) {
                (true, _) => Runtime::Cri,
                (false, Some("docker")) => Runtime::Docker,
                _ => return Owner::Unknown,
            };
            return container(runtime, part, pod);
        }
        if in_kubepods {
            return Owner::Unknown;
        }
    }
    if is_host_unit(&parts) {
        Owner::Host
    } else {
        Owner::Unknown
    }
}

/// `kubepods-besteffort-pod<uid_>.slice:cri-containerd:<id>` -> its three parts.
fn split_colon_form(part: &str) -> Option<(&str, &str, &str)> {
    let mut it = part.splitn(3, ':');
    let (slice, prefix, id) = (it.next()?, it.next()?, it.next()?);
    (slice.ends_with(".slice") && is_container_id(id)).then_some((slice, prefix, id))
}

/// systemd's own units of the host: services, scopes and slices under system/user/init.
/// (Containers under them were recognised before this is asked; a unit named after an id of
/// a runtime we do not know stays unknown.)
fn is_host_unit(parts: &[&str]) -> bool {
    let carries_id = |p: &&str| {
        p.trim_end_matches(".scope")
            .rsplit(['-', ':'])
            .next()
            .is_some_and(is_container_id)
    };
    matches!(parts[0], "system.slice" | "user.slice" | "init.scope")
        && !parts.iter().any(carries_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    const UID: &str = "1c2d3e4f-0000-4111-8222-123456789abc";
    const UID_: &str = "1c2d3e4f_0000_4111_8222_123456789abc";

    fn container(runtime: Runtime, pod: Option<Qos>) -> Owner {
        super::container(runtime, ID, pod.map(|q| (UID.to_owned(), q)))
    }

    #[test]
    fn every_scheme_is_recognised() {
        use Qos::*;
        use Runtime::*;
        let table: Vec<(String, Owner)> = vec![
            // containerd, systemd driver, each QoS class
            (
                format!(
                    "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{UID_}.slice/cri-containerd-{ID}.scope"
                ),
                container(Containerd, Some(BestEffort)),
            ),
            (
                format!(
                    "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{UID_}.slice/cri-containerd-{ID}.scope"
                ),
                container(Containerd, Some(Burstable)),
            ),
            (
                format!("/kubepods.slice/kubepods-pod{UID_}.slice/cri-containerd-{ID}.scope"),
                container(Containerd, Some(Guaranteed)),
            ),
            // containerd (or any CRI runtime), cgroupfs driver
            (
                format!("/kubepods/besteffort/pod{UID}/{ID}"),
                container(Cri, Some(BestEffort)),
            ),
            (
                format!("/kubepods/burstable/pod{UID}/{ID}"),
                container(Cri, Some(Burstable)),
            ),
            (
                format!("/kubepods/pod{UID}/{ID}"),
                container(Cri, Some(Guaranteed)),
            ),
            // CRI-O, both drivers
            (
                format!(
                    "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{UID_}.slice/crio-{ID}.scope"
                ),
                container(CriO, Some(Burstable)),
            ),
            (
                format!("/kubepods/besteffort/pod{UID}/crio-{ID}"),
                container(CriO, Some(BestEffort)),
            ),
            // Docker, both drivers, and under kubelet's dockershim
            (
                format!("/system.slice/docker-{ID}.scope"),
                container(Docker, None),
            ),
            (format!("/docker/{ID}"), container(Docker, None)),
            (
                format!("/kubepods.slice/kubepods-pod{UID_}.slice/docker-{ID}.scope"),
                container(Docker, Some(Guaranteed)),
            ),
            // podman
            (
                format!("/machine.slice/libpod-{ID}.scope"),
                container(Podman, None),
            ),
            (
                format!(
                    "/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-{ID}.scope"
                ),
                container(Podman, None),
            ),
            (
                format!("/libpod_parent/libpod-{ID}"),
                container(Podman, None),
            ),
            // containerd given a .slice parent without systemd
            (
                format!("/kubepods-besteffort-pod{UID_}.slice:cri-containerd:{ID}"),
                container(Containerd, Some(BestEffort)),
            ),
            // a sub-cgroup inside a container belongs to it
            (
                format!("/kubepods/besteffort/pod{UID}/{ID}/init.scope"),
                container(Cri, Some(BestEffort)),
            ),
            // the host
            ("/".to_owned(), Owner::Host),
            ("/system.slice/sshd.service".to_owned(), Owner::Host),
            (
                "/user.slice/user-0.slice/session-1.scope".to_owned(),
                Owner::Host,
            ),
            ("/init.scope".to_owned(), Owner::Host),
        ];
        for (path, want) in table {
            assert_eq!(classify(&path), want, "{path}");
        }
    }

    #[test]
    fn near_misses_stay_unknown() {
        let short = &ID[..63];
        let upper = ID.to_uppercase();
        for path in [
            format!("/kubepods/besteffort/pod{UID}/{short}"),
            format!("/kubepods/besteffort/pod{UID}/{upper}"),
            format!("/kubepods/besteffort/pod{UID}/cri-containerd-{short}.scope"),
            format!("/kubepods/besteffort/podnot-a-uid/{ID}"),
            format!("/kubepods/besteffort/pod{UID}"),
            "/kubepods/besteffort".to_owned(),
            format!("/something/{ID}"),
            format!("/system.slice/containerd-{ID}.scope"),
            format!("/kubepods-besteffort-pod{UID_}.slice:unknown-runtime:{ID}"),
            "/sensor-e2e-1-0-flagged".to_owned(),
            "/default/my-ctr".to_owned(),
        ] {
            assert_eq!(classify(&path), Owner::Unknown, "{path}");
        }
    }
}
