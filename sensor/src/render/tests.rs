use super::*;

fn flagged() -> pb::GetEventsResponse {
    pb::GetEventsResponse {
        item: Some(Item::Event(pb::Event {
            header: Some(pb::EventHeader {
                seq: 3,
                pid: 10,
                comm: b"mo\xffunt".to_vec(),
                cgroup_id: 99,
                ..Default::default()
            }),
            body: Some(Body::FlaggedSyscall(pb::FlaggedSyscall {
                name: "mount".into(),
                number: 165,
                args: vec![1, 255],
                arch: "x86_64".into(),
                ..Default::default()
            })),
        })),
    }
}

#[test]
fn a_flagged_line_reads_well_and_escapes_bytes() {
    let l = line(&flagged());
    assert!(l.contains("#3 FLAGGED mount(0x1, 0xff) = ? pid=10"), "{l}");
    assert!(l.contains("comm=\"mo\\xffunt\""), "{l}");
    assert!(l.ends_with("cgroup=99"), "{l}");
}

#[test]
fn decoded_calls_read_like_strace() {
    let mut msg = flagged();
    let Some(Item::Event(ev)) = &mut msg.item else {
        unreachable!()
    };
    let Some(Body::FlaggedSyscall(s)) = &mut ev.body else {
        unreachable!()
    };
    s.decoded_args = vec![
        pb::Argument {
            name: "target".into(),
            value: "/mnt".into(),
            raw: b"/mnt".to_vec(),
            truncated: true,
        },
        pb::Argument {
            name: "flags".into(),
            value: "MS_BIND".into(),
            raw: vec![],
            truncated: false,
        },
    ];
    s.outcome = Some(pb::Outcome {
        kind: pb::OutcomeKind::BlockedBeforeEntry as i32,
        return_value: -1,
        errno: 1,
        errno_name: "EPERM".into(),
    });
    let l = line(&msg);
    assert!(
        l.contains(
            "FLAGGED mount(target=\"/mnt\"..., flags=MS_BIND) = -1 EPERM BLOCKED-BEFORE-ENTRY"
        ),
        "{l}"
    );
    assert_eq!(json(&msg)["outcome"]["result"], "blocked_before_entry");
    assert_eq!(json(&msg)["decoded"]["flags"]["value"], "MS_BIND");
}

#[test]
fn a_clone_says_what_its_fork_made_and_none_is_said() {
    for (flags, names, disagreed, shown) in [
        (
            0x0400_0000,
            "CLONE_NEWUTS",
            true,
            "CLONE_NEWUTS; its entry read other flags",
        ),
        (0, "", false, "none"),
    ] {
        let mut msg = flagged();
        let Some(Item::Event(ev)) = &mut msg.item else {
            unreachable!()
        };
        let Some(Body::FlaggedSyscall(s)) = &mut ev.body else {
            unreachable!()
        };
        s.namespaces_at_fork = Some(pb::ForkNamespaces {
            flags,
            names: names.into(),
            entry_disagreed: disagreed,
        });
        let l = line(&msg);
        assert!(
            l.contains(&format!("[namespaces made at fork: {shown}]")),
            "{l}"
        );
        assert_eq!(json(&msg)["namespaces_at_fork"]["flags"], flags);
    }
    // No fork seen: nothing said.
    assert!(!line(&flagged()).contains("namespaces"));
    assert!(json(&flagged())["namespaces_at_fork"].is_null());
}

#[test]
fn json_has_flat_fields() {
    let v = json(&flagged());
    assert_eq!(v["type"], "flagged_syscall");
    assert_eq!(v["syscall"], "mount");
    assert_eq!(v["cgroup_id"], 99);
    assert_eq!(v["args"][1], 255);
}

#[test]
fn losses_are_visible() {
    let r = pb::GetEventsResponse {
        item: Some(Item::Lost(pb::Lost {
            count: 4,
            reason: 1,
            kind: pb::EventKind::FlaggedSyscall as i32,
        })),
    };
    assert_eq!(
        line(&r),
        "LOST 4 flagged-syscall events (kernel ring buffer full)"
    );
}
