//! `sensor cluster profile`: every sensor's learned profile of the matching containers,
//! merged: which calls, made by how many containers on how many nodes, and which nodes did
//! not answer.
use std::{collections::BTreeMap, time::Duration};

use sensor_proto::v1::{GetProfileRequest, GetProfileResponse};
use serde_json::{Value, json};

use super::Node;
use crate::{
    client,
    profile::render::{self, Refusal},
    syscalls::Arch,
};

/// One node's answer.
pub enum Answer {
    Profile(GetProfileResponse),
    /// The sensor answered: no container there matches.
    NoMatch,
    Failed(String),
}

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Call {
    pub containers: u32,
    pub nodes: u32,
    /// Allowed because the user or the built-in set says so, not because it was seen.
    pub always_allowed: bool,
}

/// The merged view.
#[derive(Debug, Default)]
pub struct Merged {
    /// By (ABI, name).
    pub calls: BTreeMap<(String, String), Call>,
    pub containers: u32,
    pub answered: Vec<String>,
    pub without_match: Vec<String>,
    pub failed: Vec<(String, String)>,
}

pub fn merge(answers: Vec<(String, Answer)>) -> Merged {
    let mut m = Merged::default();
    for (node, answer) in answers {
        match answer {
            Answer::Profile(p) => {
                m.containers += p.containers;
                for s in p.syscalls {
                    let c = m.calls.entry((s.arch, s.name)).or_default();
                    c.containers += s.containers;
                    c.nodes += 1;
                    c.always_allowed |= s.always_allowed;
                }
                m.answered.push(node);
            }
            Answer::NoMatch => m.without_match.push(node),
            Answer::Failed(e) => m.failed.push((node, e)),
        }
    }
    m
}

impl Merged {
    /// The union as an OCI seccomp profile.
    pub fn oci(&self, refused: Refusal) -> Value {
        let arch_of = |name: &str| {
            [Arch::X86_64, Arch::X32, Arch::I386, Arch::Aarch64]
                .into_iter()
                .find(|a| a.name() == name)
        };
        let mut arches: Vec<Arch> = self.calls.keys().filter_map(|(a, _)| arch_of(a)).collect();
        arches.sort_by_key(|a| a.name());
        arches.dedup();
        let names: Vec<&str> = self
            .calls
            .keys()
            .filter(|(a, _)| arch_of(a).is_some())
            .map(|(_, n)| n.as_str())
            .collect();
        render::oci(&arches, &names, refused)
    }

    pub fn to_json(&self, refused: Refusal) -> Value {
        json!({
            "nodes": {
                "answered": self.answered,
                "without_match": self.without_match,
                "failed": self.failed.iter().map(|(n, e)| json!({"node": n, "error": e})).collect::<Vec<_>>(),
            },
            "containers": self.containers,
            "syscalls": self.calls.iter().map(|((arch, name), c)| json!({
                "name": name, "arch": arch, "containers": c.containers, "nodes": c.nodes,
                "always_allowed": c.always_allowed,
            })).collect::<Vec<_>>(),
            "oci": self.oci(refused),
        })
    }

    pub fn summary(&self) -> String {
        let mut out = format!(
            "{} syscalls from {} container(s) on {} node(s)",
            self.calls.len(),
            self.containers,
            self.answered.len()
        );
        if !self.without_match.is_empty() {
            out += &format!(
                "; no matching container on: {}",
                self.without_match.join(", ")
            );
        }
        for (node, e) in &self.failed {
            out += &format!("\nDID NOT ANSWER: {node}: {e}");
        }
        for ((arch, name), c) in &self.calls {
            let why = if c.always_allowed && c.containers == 0 {
                "always allowed (not seen)".to_owned()
            } else {
                format!("{} container(s) on {} node(s)", c.containers, c.nodes)
            };
            out += &format!("\n{name:<24} {arch:<7} {why}");
        }
        out
    }
}

/// Asks every node at once, each within `timeout`; answers in the nodes' order.
pub async fn ask_all(
    nodes: &[Node],
    request: &GetProfileRequest,
    timeout: Duration,
) -> Vec<(String, Answer)> {
    let mut set = tokio::task::JoinSet::new();
    for (i, n) in nodes.iter().cloned().enumerate() {
        let request = request.clone();
        set.spawn(async move {
            let answer = match tokio::time::timeout(timeout, ask(&n, request)).await {
                Err(_) => Answer::Failed(format!("no answer within {timeout:?}")),
                Ok(a) => a,
            };
            (i, n.name, answer)
        });
    }
    let mut out: Vec<(usize, String, Answer)> = Vec::with_capacity(nodes.len());
    while let Some(done) = set.join_next().await {
        match done {
            Ok(x) => out.push(x),
            Err(e) => tracing::error!("a profile request task failed: {e}"),
        }
    }
    out.sort_by_key(|(i, ..)| *i);
    out.into_iter().map(|(_, n, a)| (n, a)).collect()
}

async fn ask(n: &Node, request: GetProfileRequest) -> Answer {
    let mut c = match client::connect(&n.connect).await {
        Ok(c) => c,
        Err(e) => return Answer::Failed(format!("{e:#}")),
    };
    match c.get_profile(request).await {
        Ok(r) if r.get_ref().containers == 0 => Answer::NoMatch,
        Ok(r) => Answer::Profile(r.into_inner()),
        Err(s) if s.code() == tonic::Code::NotFound => Answer::NoMatch,
        Err(s) => Answer::Failed(format!("{:?}: {}", s.code(), s.message())),
    }
}

#[cfg(test)]
mod tests {
    use sensor_proto::v1::ProfileSyscall;

    use super::*;

    fn call(name: &str, containers: u32) -> ProfileSyscall {
        ProfileSyscall {
            name: name.into(),
            arch: "x86_64".into(),
            containers,
            ..Default::default()
        }
    }

    #[test]
    fn calls_are_counted_by_container_and_by_node_and_silent_nodes_are_named() {
        let p = |calls: Vec<ProfileSyscall>, containers| {
            Answer::Profile(GetProfileResponse {
                syscalls: calls,
                containers,
                ..Default::default()
            })
        };
        let m = merge(vec![
            ("a".into(), p(vec![call("read", 2), call("accept4", 2)], 2)),
            ("b".into(), p(vec![call("read", 1), call("mount", 1)], 1)),
            ("c".into(), Answer::NoMatch),
            ("d".into(), Answer::Failed("Unavailable: down".into())),
        ]);
        assert_eq!(m.containers, 3);
        let get = |n: &str| &m.calls[&("x86_64".to_owned(), n.to_owned())];
        assert_eq!((get("read").containers, get("read").nodes), (3, 2));
        assert_eq!((get("mount").containers, get("mount").nodes), (1, 1));
        assert_eq!(m.answered, vec!["a", "b"]);
        assert_eq!(m.without_match, vec!["c"]);
        assert_eq!(m.failed.len(), 1);
        assert!(m.summary().contains("DID NOT ANSWER: d: Unavailable: down"));
        let oci = m.oci(Refusal::Errno);
        assert_eq!(
            oci["syscalls"][0]["names"],
            json!(["accept4", "mount", "read"])
        );
        assert_eq!(oci["architectures"], json!(["SCMP_ARCH_X86_64"]));
    }
}
