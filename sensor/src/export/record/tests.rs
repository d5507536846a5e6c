use sensor_proto::v1::{self as pb, event::Body};

use super::*;

fn attr<'a>(a: &'a Attrs, key: &str) -> Option<&'a Value> {
    a.0.iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref()?.value.as_ref())
}

fn s(v: Option<&Value>) -> &str {
    match v {
        Some(Value::StringValue(s)) => s,
        other => panic!("not a string: {other:?}"),
    }
}

fn i(v: Option<&Value>) -> i64 {
    match v {
        Some(Value::IntValue(n)) => *n,
        other => panic!("not an int: {other:?}"),
    }
}

fn header() -> pb::EventHeader {
    pb::EventHeader {
        seq: 42,
        pid: 7,
        tid: 8,
        ppid: 1,
        uid: 0,
        comm: b"mount".to_vec(),
        cgroup_id: 99,
        argv: vec![b"mount".to_vec(), b"-t".to_vec(), b"tmpfs".to_vec()],
        attribution: Some(pb::Attribution {
            state: pb::AttributionState::Container as i32,
            container: Some(pb::Container {
                runtime: "containerd".into(),
                id: "abc123".into(),
                pod_uid: "u-1".into(),
                pod_name: "web-0".into(),
                pod_namespace: "shop".into(),
                container_name: "nginx".into(),
                image: "nginx:1.27".into(),
                ..Default::default()
            }),
        }),
        ..Default::default()
    }
}

#[test]
fn a_flagged_call_carries_the_semantic_conventions_and_the_sensor_fields() {
    let ev = pb::Event {
        header: Some(header()),
        body: Some(Body::FlaggedSyscall(pb::FlaggedSyscall {
            name: "mount".into(),
            number: 165,
            arch: "x86_64".into(),
            args: vec![1, 2, 3, 4, 5, 6],
            outcome: Some(pb::Outcome {
                kind: pb::OutcomeKind::Failed as i32,
                return_value: -1,
                errno: 1,
                errno_name: "EPERM".into(),
            }),
            decoded_args: vec![pb::Argument {
                name: "target".into(),
                value: "/mnt".into(),
                ..Default::default()
            }],
            severity: pb::Severity::High as i32,
            namespaces_at_fork: Some(pb::ForkNamespaces {
                flags: 0,
                names: String::new(),
                entry_disagreed: false,
            }),
            ..Default::default()
        })),
    };
    let (name, sev, a) = event_attrs(&ev);
    assert_eq!(name, "sensor.flagged_syscall");
    assert_eq!(s(attr(&a, "sensor.namespaces_at_fork")), "none");
    assert_eq!(severity(sev), (SeverityNumber::Error, "high"));
    assert_eq!(s(attr(&a, "k8s.pod.name")), "web-0");
    assert_eq!(s(attr(&a, "k8s.namespace.name")), "shop");
    assert_eq!(s(attr(&a, "k8s.pod.uid")), "u-1");
    assert_eq!(s(attr(&a, "container.id")), "abc123");
    assert_eq!(s(attr(&a, "container.image.name")), "nginx:1.27");
    assert_eq!(i(attr(&a, "process.pid")), 7);
    assert_eq!(s(attr(&a, "process.command_line")), "mount -t tmpfs");
    assert_eq!(s(attr(&a, "sensor.syscall")), "mount");
    assert_eq!(s(attr(&a, "sensor.outcome")), "failed");
    assert_eq!(s(attr(&a, "sensor.errno_name")), "EPERM");
    assert_eq!(s(attr(&a, "sensor.arg.target")), "/mnt");
    assert_eq!(i(attr(&a, "sensor.seq")), 42);
    assert!(
        attr(&a, "sensor.return_value").is_none(),
        "a failed call returned nothing"
    );

    let r = record(name, sev, 5, "line".into(), a, "inst", 3);
    assert_eq!(r.severity_number, SeverityNumber::Error as i32);
    assert_eq!(r.event_name, "sensor.flagged_syscall");
    let keys: Vec<&str> = r.attributes.iter().map(|kv| kv.key.as_str()).collect();
    assert!(keys.contains(&"sensor.instance_id") && keys.contains(&"sensor.export.seq"));
    let mut sorted = keys.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), keys.len(), "no key twice: {keys:?}");
}

#[test]
fn an_exec_names_its_file_and_its_own_command_line_once() {
    let ev = pb::Event {
        header: Some(header()),
        body: Some(Body::Exec(pb::Exec {
            filename: b"/usr/bin/curl".to_vec(),
            argv: vec![b"curl".to_vec(), b"http://x".to_vec()],
            findings: vec![pb::Finding {
                what: "runs as root".into(),
                severity: pb::Severity::Medium as i32,
            }],
            ..Default::default()
        })),
    };
    let (name, sev, a) = event_attrs(&ev);
    assert_eq!(name, "sensor.exec");
    assert_eq!(severity(sev).0, SeverityNumber::Warn);
    assert_eq!(s(attr(&a, "process.executable.path")), "/usr/bin/curl");
    assert_eq!(s(attr(&a, "process.command_line")), "curl http://x");
    assert_eq!(
        a.0.iter()
            .filter(|kv| kv.key == "process.command_line")
            .count(),
        1
    );
}

#[test]
fn an_unknown_call_and_an_unattributed_event_say_unknown_and_claim_no_container() {
    let mut h = header();
    h.attribution = Some(pb::Attribution {
        state: pb::AttributionState::Unknown as i32,
        container: None,
    });
    let ev = pb::Event {
        header: Some(h),
        body: Some(Body::FlaggedSyscall(pb::FlaggedSyscall {
            number: 999,
            ..Default::default()
        })),
    };
    let (_, _, a) = event_attrs(&ev);
    assert_eq!(s(attr(&a, "sensor.syscall")), "unknown");
    assert_eq!(s(attr(&a, "sensor.outcome")), "unknown");
    assert_eq!(s(attr(&a, "sensor.attribution")), "unknown");
    assert!(attr(&a, "container.id").is_none());
    assert!(attr(&a, "k8s.pod.name").is_none());
}
