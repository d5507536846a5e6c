//! An event straight to its protobuf bytes (`sensor.v1.GetEventsResponse` holding a
//! `sensor.v1.Event`): the one mapping of [`Event`] to the wire. Building the generated
//! structs first cost about thirty allocations and a nested length pass per event, more than
//! everything else the sensor does with it; this writes the fields in place. Field numbers are
//! those of `proto/sensor/v1/sensor.proto`; the tests decode the bytes with the generated
//! types and check every field. `event_to_wire` decodes these bytes when a struct is wanted.
use prost::encoding::{WireType, encode_key, encode_varint, encoded_len_varint};
use sensor_proto::v1 as pb;

use super::{errno_name, outcome_parts, phase_to_wire, severity_to_wire};
use crate::{
    api::Identity,
    enrich::{container::ContainerRef, cri::PodMeta},
    event::{Attribution, Body, DecodedArg, Event, FlaggedSyscall},
};

/// A protobuf writer over one buffer. Scalars at their default value are left out (proto3).
struct W<'a>(&'a mut Vec<u8>);

impl W<'_> {
    fn varint(&mut self, tag: u32, v: u64) {
        if v != 0 {
            encode_key(tag, WireType::Varint, self.0);
            encode_varint(v, self.0);
        }
    }

    fn int32(&mut self, tag: u32, v: i32) {
        // Negative int32 values are sign-extended to ten bytes, as protobuf says.
        self.varint(tag, i64::from(v) as u64);
    }

    fn int64(&mut self, tag: u32, v: i64) {
        self.varint(tag, v as u64);
    }

    fn bytes(&mut self, tag: u32, v: &[u8]) {
        if !v.is_empty() {
            self.bytes_always(tag, v);
        }
    }

    /// A repeated or map element: written even when empty.
    fn bytes_always(&mut self, tag: u32, v: &[u8]) {
        encode_key(tag, WireType::LengthDelimited, self.0);
        encode_varint(v.len() as u64, self.0);
        self.0.extend_from_slice(v);
    }

    fn string(&mut self, tag: u32, v: &str) {
        self.bytes(tag, v.as_bytes());
    }

    /// A nested message (always written, even empty): its body goes in place, then its length
    /// is put in front of it.
    fn message(&mut self, tag: u32, body: impl FnOnce(&mut W<'_>)) {
        encode_key(tag, WireType::LengthDelimited, self.0);
        let start = self.0.len();
        body(&mut W(self.0));
        let len = self.0.len() - start;
        let mut prefix = [0u8; 10];
        let n = encoded_len_varint(len as u64);
        encode_varint(len as u64, &mut &mut prefix[..]);
        self.0.splice(start..start, prefix[..n].iter().copied());
    }
}

/// `GetEventsResponse { event: ev }`, encoded.
pub fn event_response(ev: &Event, id: &Identity) -> Vec<u8> {
    let mut buf = Vec::with_capacity(768);
    W(&mut buf).message(1, |w| event(w, ev, id));
    buf
}

fn event(w: &mut W<'_>, ev: &Event, id: &Identity) {
    w.message(1, |w| header(w, ev, id));
    match &ev.body {
        Body::FlaggedSyscall(s) => w.message(10, |w| flagged(w, s)),
        Body::Exec(e) => w.message(11, |w| {
            w.bytes(1, &e.filename);
            w.varint(2, u64::from(e.filename_truncated));
            for a in &e.argv {
                w.bytes_always(3, a);
            }
            w.varint(4, u64::from(e.argv_truncated));
            w.int32(5, e.errno.unwrap_or(0));
            w.string(6, e.errno.map(errno_name).unwrap_or_default());
            for f in &e.findings {
                w.message(7, |w| {
                    w.string(1, &f.what);
                    w.varint(2, severity_to_wire(Some(f.severity)) as u64);
                });
            }
            w.varint(8, u64::from(e.privileges.is_some()));
            w.varint(9, e.privileges.map_or(0, |p| u64::from(p.euid)));
            w.varint(10, e.privileges.map_or(0, |p| p.cap_effective));
        }),
        Body::Fork { child_pid } => w.message(12, |w| w.varint(1, u64::from(*child_pid))),
        Body::Exit { exit_code } => w.message(13, |w| {
            // The kernel's wait status: low 7 bits the signal, the next 8 the exit status.
            let signal = (exit_code & 0x7f) as i32;
            let status = if signal == 0 {
                ((exit_code >> 8) & 0xff) as i32
            } else {
                0
            };
            w.int32(1, status);
            w.int32(2, signal);
            w.varint(3, u64::from(*exit_code));
        }),
        Body::SyscallSeen(x) => w.message(14, |w| {
            w.string(1, x.name.unwrap_or_default());
            w.varint(2, x.nr);
            w.string(3, x.arch.name());
            w.varint(4, phase_to_wire(x.phase) as u64);
        }),
    }
}

fn header(w: &mut W<'_>, ev: &Event, id: &Identity) {
    let p = &ev.process;
    w.varint(1, ev.seq);
    w.string(2, &id.instance_id);
    w.string(3, &id.node_name);
    w.varint(4, ev.time_unix_nano);
    w.varint(5, ev.ktime_ns);
    w.varint(6, ev.cgroup_id);
    w.varint(7, u64::from(p.pid));
    w.varint(8, u64::from(p.tid));
    w.varint(9, u64::from(p.uid));
    w.varint(10, u64::from(p.gid));
    w.bytes(11, &p.comm);
    w.varint(12, u64::from(p.ppid));
    w.bytes(13, p.parent_exe.as_deref().unwrap_or_default());
    w.bytes(14, p.grandparent_exe.as_deref().unwrap_or_default());
    w.string(15, ev.cgroup_path.as_deref().unwrap_or_default());
    w.message(16, |w| attribution(w, &ev.attribution));
    for a in p.argv.iter().flat_map(|a| a.iter()) {
        w.bytes_always(17, a);
    }
}

fn attribution(w: &mut W<'_>, a: &Attribution) {
    let state = match a {
        Attribution::Pending => pb::AttributionState::Pending,
        Attribution::Host => pb::AttributionState::Host,
        Attribution::Unknown => pb::AttributionState::Unknown,
        Attribution::Container { .. } => pb::AttributionState::Container,
    };
    w.varint(1, state as u64);
    if let Attribution::Container { container, meta } = a {
        w.message(2, |w| self::container(w, container, meta.as_deref()));
    }
}

/// `sensor.v1.Container`.
fn container(w: &mut W<'_>, c: &ContainerRef, meta: Option<&PodMeta>) {
    w.string(1, c.runtime.name());
    w.string(2, &c.id);
    let pod_uid = match (&c.pod, meta) {
        (Some((uid, _)), _) => uid.as_str(),
        (None, Some(m)) => &m.pod_uid,
        (None, None) => "",
    };
    w.string(3, pod_uid);
    w.string(4, c.pod.as_ref().map(|(_, q)| q.name()).unwrap_or_default());
    if let Some(m) = meta {
        w.string(5, &m.pod_name);
        w.string(6, &m.pod_namespace);
        w.string(7, &m.container_name);
        w.string(8, &m.image);
        for (k, v) in &m.labels {
            w.message(9, |w| {
                w.string(1, k);
                w.string(2, v);
            });
        }
    }
}

pub(super) fn container_bytes(c: &ContainerRef, meta: Option<&PodMeta>) -> Vec<u8> {
    let mut buf = Vec::with_capacity(256);
    container(&mut W(&mut buf), c, meta);
    buf
}

fn flagged(w: &mut W<'_>, s: &FlaggedSyscall) {
    w.string(1, s.name.unwrap_or_default());
    w.varint(2, s.nr);
    // Packed, as proto3 repeated scalars are (the six are always sent).
    w.message(3, |w| {
        for a in s.args {
            encode_varint(a, w.0);
        }
    });
    w.string(4, s.arch.name());
    let (kind, return_value, errno) = outcome_parts(s.outcome);
    w.message(5, |w| {
        w.varint(1, kind as u64);
        w.int64(2, return_value);
        w.int32(3, errno);
        if errno != 0 {
            w.string(4, errno_name(errno));
        }
    });
    for a in &s.decoded {
        w.message(6, |w| argument(w, a));
    }
    w.varint(7, severity_to_wire(s.severity) as u64);
}

fn argument(w: &mut W<'_>, a: &DecodedArg) {
    w.string(1, a.name);
    w.string(2, &a.value);
    w.bytes(3, a.raw.as_deref().unwrap_or_default());
    w.varint(4, u64::from(a.truncated));
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use prost::Message as _;

    use super::*;
    use crate::{
        enrich::container::{Qos, Runtime},
        event::{Exec, Finding, Outcome, Phase, Privileges, Process, SyscallSeen},
        policy::Severity,
        syscalls::Arch,
    };

    fn id() -> Identity {
        Identity {
            node_name: "node-1".into(),
            instance_id: "0123abcd".into(),
        }
    }

    /// An event with every header field set, in a container with pod metadata.
    fn full(body: Body) -> Event {
        let container = Arc::new(ContainerRef {
            runtime: Runtime::Containerd,
            id: "c".repeat(64),
            pod: Some(("uid-1".into(), Qos::Burstable)),
        });
        let meta = Arc::new(PodMeta {
            pod_name: "web".into(),
            pod_namespace: "prod".into(),
            pod_uid: "uid-1".into(),
            container_name: "nginx".into(),
            image: "nginx:1".into(),
            labels: [
                ("app".into(), "web".into()),
                ("empty".into(), String::new()),
            ]
            .into(),
        });
        Event {
            seq: 300,
            ktime_ns: 5,
            time_unix_nano: 6,
            cgroup_id: 7,
            cgroup_path: Some("/kubepods/x".into()),
            attribution: Attribution::Container {
                container,
                meta: Some(meta),
            },
            process: Process {
                pid: 1,
                tid: 2,
                uid: 3,
                gid: 4,
                comm: b"sh".to_vec(),
                ppid: 5,
                argv: Some(vec![b"sh".to_vec(), Vec::new(), b"\xff".to_vec()].into()),
                parent_exe: Some(b"/bin/p".as_slice().into()),
                grandparent_exe: Some(b"/bin/g".as_slice().into()),
            },
            body,
        }
    }

    fn decoded(ev: &Event) -> pb::Event {
        let msg = pb::GetEventsResponse::decode(event_response(ev, &id()).as_slice())
            .expect("our bytes decode");
        match msg.item {
            Some(pb::get_events_response::Item::Event(e)) => e,
            other => panic!("not an event: {other:?}"),
        }
    }

    #[test]
    fn every_header_and_attribution_field_arrives() {
        let got = decoded(&full(Body::Fork { child_pid: 9 }));
        let expected = pb::EventHeader {
            seq: 300,
            sensor_instance_id: "0123abcd".into(),
            node_name: "node-1".into(),
            time_unix_nano: 6,
            ktime_ns: 5,
            cgroup_id: 7,
            pid: 1,
            tid: 2,
            uid: 3,
            gid: 4,
            comm: b"sh".to_vec(),
            ppid: 5,
            parent_exe: b"/bin/p".to_vec(),
            grandparent_exe: b"/bin/g".to_vec(),
            cgroup_path: "/kubepods/x".into(),
            attribution: Some(pb::Attribution {
                state: pb::AttributionState::Container as i32,
                container: Some(pb::Container {
                    runtime: "containerd".into(),
                    id: "c".repeat(64),
                    pod_uid: "uid-1".into(),
                    qos_class: "burstable".into(),
                    pod_name: "web".into(),
                    pod_namespace: "prod".into(),
                    container_name: "nginx".into(),
                    image: "nginx:1".into(),
                    labels: [
                        ("app".into(), "web".into()),
                        ("empty".into(), String::new()),
                    ]
                    .into(),
                }),
            }),
            argv: vec![b"sh".to_vec(), Vec::new(), b"\xff".to_vec()],
        };
        assert_eq!(got.header, Some(expected));
        assert_eq!(
            got.body,
            Some(pb::event::Body::Fork(pb::Fork { child_pid: 9 }))
        );
        // Another attribution, and a header of defaults, still decode.
        let mut bare = Event::for_test(0, Body::Fork { child_pid: 0 });
        bare.attribution = Attribution::Host;
        let got = decoded(&bare);
        let h = got.header.expect("header");
        assert_eq!(
            h.attribution.map(|a| a.state),
            Some(pb::AttributionState::Host as i32)
        );
        assert_eq!(
            got.body,
            Some(pb::event::Body::Fork(pb::Fork { child_pid: 0 }))
        );
    }

    #[test]
    fn a_flagged_call_arrives_with_its_arguments_and_outcome() {
        let s = FlaggedSyscall {
            arch: Arch::X86_64,
            nr: 165,
            name: Some("mount"),
            args: [1, 0, u64::MAX, 4, 5, 6],
            outcome: Outcome::Failed(libc::EPERM),
            severity: Some(Severity::Critical),
            decoded: vec![
                DecodedArg {
                    name: "target",
                    value: "/mnt".into(),
                    raw: Some(b"/mnt".to_vec()),
                    truncated: true,
                },
                DecodedArg {
                    name: "flags",
                    value: "MS_BIND".into(),
                    raw: None,
                    truncated: false,
                },
            ],
        };
        let got = decoded(&full(Body::FlaggedSyscall(s)));
        let expected = pb::FlaggedSyscall {
            name: "mount".into(),
            number: 165,
            args: vec![1, 0, u64::MAX, 4, 5, 6],
            arch: "x86_64".into(),
            outcome: Some(pb::Outcome {
                kind: pb::OutcomeKind::Failed as i32,
                return_value: -1,
                errno: 1,
                errno_name: "EPERM".into(),
            }),
            decoded_args: vec![
                pb::Argument {
                    name: "target".into(),
                    value: "/mnt".into(),
                    raw: b"/mnt".to_vec(),
                    truncated: true,
                },
                pb::Argument {
                    name: "flags".into(),
                    value: "MS_BIND".into(),
                    raw: Vec::new(),
                    truncated: false,
                },
            ],
            severity: pb::Severity::Critical as i32,
        };
        assert_eq!(got.body, Some(pb::event::Body::FlaggedSyscall(expected)));
        // A large success value and an unknown outcome.
        for (outcome, kind, ret) in [
            (
                Outcome::Succeeded(1 << 40),
                pb::OutcomeKind::Succeeded,
                1 << 40,
            ),
            (Outcome::Unknown, pb::OutcomeKind::Unknown, 0),
        ] {
            let s = FlaggedSyscall {
                arch: Arch::Aarch64,
                nr: 40,
                name: None,
                args: [0; 6],
                outcome,
                severity: None,
                decoded: Vec::new(),
            };
            let Some(pb::event::Body::FlaggedSyscall(f)) =
                decoded(&full(Body::FlaggedSyscall(s))).body
            else {
                panic!("not flagged")
            };
            let o = f.outcome.expect("outcome");
            assert_eq!((o.kind, o.return_value, o.errno), (kind as i32, ret, 0));
            assert_eq!((f.arch.as_str(), f.args), ("aarch64", vec![0; 6]));
        }
    }

    #[test]
    fn exec_exit_and_seen_bodies_arrive() {
        let exec = Exec {
            filename: b"/bin/x\xfe".to_vec(),
            filename_truncated: true,
            argv: vec![b"x".to_vec(), Vec::new()],
            argv_truncated: true,
            errno: Some(libc::ENOENT),
            privileges: Some(Privileges {
                euid: 0,
                cap_effective: 1 << 21,
            }),
            findings: vec![Finding {
                what: "root".into(),
                severity: Severity::Medium,
            }],
        };
        assert_eq!(
            decoded(&full(Body::Exec(exec))).body,
            Some(pb::event::Body::Exec(pb::Exec {
                filename: b"/bin/x\xfe".to_vec(),
                filename_truncated: true,
                argv: vec![b"x".to_vec(), Vec::new()],
                argv_truncated: true,
                errno: libc::ENOENT,
                errno_name: "ENOENT".into(),
                findings: vec![pb::Finding {
                    what: "root".into(),
                    severity: pb::Severity::Medium as i32,
                }],
                privileges_known: true,
                euid: 0,
                cap_effective: 1 << 21,
            }))
        );
        for (raw, status, signal) in [(3 << 8, 3, 0), (9, 0, 9)] {
            assert_eq!(
                decoded(&full(Body::Exit { exit_code: raw })).body,
                Some(pb::event::Body::Exit(pb::Exit {
                    status,
                    signal,
                    raw
                }))
            );
        }
        let seen = SyscallSeen {
            arch: Arch::X86_64,
            nr: 39,
            name: Some("getpid"),
            phase: Phase::Runtime,
        };
        assert_eq!(
            decoded(&full(Body::SyscallSeen(seen))).body,
            Some(pb::event::Body::SyscallSeen(pb::SyscallSeen {
                name: "getpid".into(),
                number: 39,
                arch: "x86_64".into(),
                phase: pb::Phase::Runtime as i32,
            }))
        );
    }

    #[test]
    fn a_long_nested_message_gets_a_multi_byte_length() {
        let mut ev = full(Body::Fork { child_pid: 1 });
        ev.cgroup_path = Some("d/".repeat(20_000).into());
        let got = decoded(&ev);
        assert_eq!(got.header.unwrap().cgroup_path.len(), 40_000);
    }
}
