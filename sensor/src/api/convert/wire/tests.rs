use std::sync::Arc;

use prost::Message as _;

use super::*;
use crate::{
    enrich::container::{Qos, Runtime},
    event::{Comm, ExeFile, Exec, Finding, Outcome, Phase, Privileges, Process, SyscallSeen},
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
            // (Not both in practice: set here to check the field's encoding.)
            meta_pending: true,
        },
        process: Process {
            pid: 1,
            tid: 2,
            uid: 3,
            gid: 4,
            comm: Comm::new(b"sh"),
            ppid: 5,
            argv: Some(vec![b"sh".to_vec(), Vec::new(), b"\xff".to_vec()].into()),
            parent_exe: Some(b"/bin/p".as_slice().into()),
            grandparent_exe: Some(b"/bin/g".as_slice().into()),
        },
        body,
    }
}

/// What a client decodes, through `event_to_wire` (which decodes the whole response and
/// would hand back an empty event if it did not decode).
fn decoded(ev: &Event) -> pb::Event {
    pb::GetEventsResponse::decode(event_response(ev, &id()).as_ref()).expect("our bytes decode");
    crate::api::convert::event_to_wire(ev, &id())
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
                metadata_pending: true,
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
        args_at_exit: true,
        suppressed: Some(crate::event::Suppressed {
            count: 184_233,
            lost: 7,
            period_ns: 1_000_000_000,
        }),
        deviation: false,
        namespaces_at_fork: None,
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
        args_read_at_exit: true,
        suppressed: 184_233,
        suppressed_period_ns: 1_000_000_000,
        lost_in_kernel: 7,
        namespaces_at_fork: None,
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
            args_at_exit: false,
            suppressed: None,
            deviation: false,
            namespaces_at_fork: None,
        };
        let Some(pb::event::Body::FlaggedSyscall(f)) = decoded(&full(Body::FlaggedSyscall(s))).body
        else {
            panic!("not flagged")
        };
        let o = f.outcome.expect("outcome");
        assert_eq!((o.kind, o.return_value, o.errno), (kind as i32, ret, 0));
        assert_eq!((f.arch.as_str(), f.args), ("aarch64", vec![0; 6]));
    }
}

#[test]
fn namespaces_made_at_fork_arrive_by_flag_and_name_and_none_is_not_absent() {
    for (made, names) in [
        (Some((0x4400_0000, true)), Some("CLONE_NEWUTS|CLONE_NEWNET")),
        (Some((0, false)), Some("")),
        (None, None),
    ] {
        let s = FlaggedSyscall {
            arch: Arch::X86_64,
            nr: 435,
            name: Some("clone3"),
            args: [0; 6],
            outcome: Outcome::Succeeded(4242),
            severity: None,
            decoded: Vec::new(),
            args_at_exit: false,
            suppressed: None,
            deviation: false,
            namespaces_at_fork: made.map(|(namespaces, entry_disagreed)| crate::event::AtFork {
                namespaces,
                entry_disagreed,
            }),
        };
        let Some(pb::event::Body::FlaggedSyscall(f)) = decoded(&full(Body::FlaggedSyscall(s))).body
        else {
            panic!("not flagged")
        };
        let got = f
            .namespaces_at_fork
            .map(|n| (n.flags, n.names, n.entry_disagreed));
        let expected = made
            .zip(names)
            .map(|((flags, disagreed), names)| (flags, names.to_owned(), disagreed));
        assert_eq!(got, expected, "{made:?}");
    }
}

#[test]
fn a_deviation_arrives_with_its_call_and_profile() {
    let call = FlaggedSyscall {
        arch: Arch::X86_64,
        nr: 162,
        name: Some("sync"),
        args: [0; 6],
        outcome: Outcome::BlockedBeforeEntry(libc::EPERM),
        severity: None,
        decoded: Vec::new(),
        args_at_exit: false,
        suppressed: None,
        deviation: true,
        namespaces_at_fork: None,
    };
    let body = Body::ProfileDeviation(Box::new(crate::event::Deviation {
        call,
        profile: Some("web".into()),
        flagged: false,
    }));
    let Some(pb::event::Body::ProfileDeviation(d)) = decoded(&full(body)).body else {
        panic!("not a deviation")
    };
    assert_eq!((d.profile.as_str(), d.flagged), ("web", false));
    let call = d.call.expect("call");
    assert_eq!((call.name.as_str(), call.number), ("sync", 162));
    assert_eq!(
        call.outcome.map(|o| (o.kind, o.errno_name)),
        Some((
            pb::OutcomeKind::BlockedBeforeEntry as i32,
            "EPERM".to_owned()
        ))
    );
}

#[test]
fn exec_exit_and_seen_bodies_arrive() {
    let exec = Exec {
        filename: b"/bin/x\xfe".as_slice().into(),
        filename_truncated: true,
        argv: vec![b"x".to_vec(), Vec::new()].into(),
        argv_truncated: true,
        argv_unknown: true,
        errno: Some(libc::ENOENT),
        privileges: Some(Privileges {
            euid: 0,
            cap_effective: 1 << 21,
        }),
        findings: vec![Finding {
            what: "root".into(),
            severity: Severity::Medium,
        }],
        exe_file: Some(ExeFile {
            nlink: 0,
            name: b"memfd:x".to_vec(),
            pid_ns_level: Some(1),
        }),
    };
    assert_eq!(
        decoded(&full(Body::Exec(exec))).body,
        Some(pb::event::Body::Exec(pb::Exec {
            filename: b"/bin/x\xfe".to_vec(),
            filename_truncated: true,
            argv: vec![b"x".to_vec(), Vec::new()],
            argv_truncated: true,
            argv_unknown: true,
            errno: libc::ENOENT,
            errno_name: "ENOENT".into(),
            findings: vec![pb::Finding {
                what: "root".into(),
                severity: pb::Severity::Medium as i32,
            }],
            privileges_known: true,
            euid: 0,
            cap_effective: 1 << 21,
            exe_known: true,
            exe_nlink: 0,
            exe_name: b"memfd:x".to_vec(),
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

#[test]
fn nested_messages_of_every_length_class_decode() {
    // 127 fits the one byte kept for the length; 128 and 16384 need the body moved along.
    for len in [0usize, 1, 127, 128, 300, 16_383, 16_384, 70_000] {
        let body: Vec<u8> = (0..len).map(|i| i as u8).collect();
        let mut buf = Vec::new();
        W(&mut buf).message(5, |w| w.0.extend_from_slice(&body));
        let mut rest = &buf[..];
        let (tag, wire) = prost::encoding::decode_key(&mut rest).unwrap();
        assert_eq!((tag, wire), (5, WireType::LengthDelimited));
        let n = prost::encoding::decode_varint(&mut rest).unwrap();
        assert_eq!(n as usize, len);
        assert_eq!(rest, &body[..], "body of length {len}");
    }
}
