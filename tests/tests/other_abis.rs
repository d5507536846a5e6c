//! The ways in besides the native and i386 ABIs, each in a real runc container: x32 calls
//! (bit 30 of the number; this kernel refuses them all) are named from the x32 table and
//! reported as x32, and a number that is no x32 call is not taken for the x86_64 call it
//! shares bits with; io_uring operations, which pass no syscall hook, are seen at the ring:
//! learned, listed with the profile (never in it), and flagged when the policy says so.
#![cfg(target_arch = "x86_64")]

use std::path::Path;

use sensor_proto::v1::{Event, EventKind, OutcomeKind};
use sensor_tests::{
    ready,
    runc::{Container, kube_ids},
    sensor::Sensor,
    subscriber::{Subscriber, arg, flagged, header, outcome},
};

const TRIGGER: &str = env!("CARGO_BIN_EXE_sensor-trigger");

fn container(n: u32, script: &str) -> Container {
    let (uid, id) = kube_ids(0xa00 + n);
    Container::new(
        &format!("sensor-e2e-abis-{}-{n}", std::process::id()),
        &format!("/kubepods/besteffort/pod{uid}/{id}"),
        script,
    )
    .with_host_usr(Some((Path::new(TRIGGER), "/opt/trigger")))
}

fn flagged_as(arch: &'static str, name: &'static str) -> impl Fn(&Event) -> bool {
    move |ev| flagged(ev).is_some_and(|f| f.name == name && f.arch == arch)
}

async fn subscribe(sensor: &Sensor, c: &Container, kinds: &[EventKind]) -> Subscriber {
    Subscriber::for_cgroup(&sensor.addr, c.cgroup_id(), kinds).await
}

fn run_ok(c: &Container) -> String {
    let out = c.run();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// x32 numbers: 0x40000000 | nr. mount (165) and unshare (272) are common to x86_64 and x32;
/// x32's own ptrace is 521; 101 (x86_64's ptrace) is no x32 call at all.
const X32_SCRIPT: &str = "T=/opt/trigger
$T - raw 0x40000065 16 1
$T - raw 0x400000a5 0 0 0 0 0
$T - raw 0x40000110 0x04000000
$T - raw 0x40000209 16 1";

#[tokio::test]
async fn x32_calls_are_named_as_x32_and_never_as_x86_64() {
    if !ready() {
        return;
    }
    let sensor = Sensor::start(&["--no-cri"]).await;
    let c = container(1, X32_SCRIPT);
    let mut sub = subscribe(&sensor, &c, &[EventKind::FlaggedSyscall]).await;
    let stdout = run_ok(&c);
    // This kernel has no x32 ABI: every call is refused with ENOSYS (-1 from the trigger).
    assert!(stdout.lines().all(|l| l.trim() == "-1"), "{stdout}");

    let ev = sub
        .expect_event("the x32 mount", flagged_as("x32", "mount"))
        .await;
    assert_eq!(header(&ev).comm, b"trigger");
    // No exit tracepoint reports an x32 call: no outcome, and it says so.
    assert_eq!(outcome(&ev).0, OutcomeKind::Unknown);
    let ev = sub
        .expect_event("the x32 unshare", flagged_as("x32", "unshare"))
        .await;
    assert_eq!(arg(&ev, "flags"), Some(("CLONE_NEWUTS", false)));
    let ev = sub
        .expect_event("x32's own ptrace (521)", flagged_as("x32", "ptrace"))
        .await;
    assert_eq!(arg(&ev, "request"), Some(("PTRACE_ATTACH", false)));

    // 0x40000065 came first and is no x32 call: it was not taken for ptrace (x86_64's 101).
    let from_trigger: Vec<_> = sub
        .events()
        .filter(|ev| header(ev).comm == b"trigger")
        .map(|ev| flagged(ev).unwrap())
        .collect();
    assert_eq!(from_trigger.len(), 3, "{from_trigger:?}");
    for f in from_trigger {
        assert_eq!(f.arch, "x32", "{f:?}");
    }
}

/// io_uring opcodes: 0 NOP, 45 SOCKET (fd = domain AF_UNIX, off = type SOCK_STREAM).
const IOURING_SCRIPT: &str = "/opt/trigger - io-uring 0 45:1:1:0";

#[tokio::test]
async fn io_uring_operations_are_seen_at_the_ring_learned_and_flagged() {
    if !ready() {
        return;
    }
    let sensor = Sensor::start(&["--no-cri"]).await;
    let c = container(2, IOURING_SCRIPT).with_caps(&["CAP_KILL"]);
    let cgroup_id = c.cgroup_id();
    let mut sub = subscribe(&sensor, &c, &[EventKind::FlaggedSyscall]).await;
    let mut seen = subscribe(&sensor, &c, &[EventKind::SyscallSeen]).await;
    assert_eq!(run_ok(&c).trim(), "2", "both operations submitted");

    // Ring creation is flagged (a syscall); the socket made inside the ring too, by name.
    sub.expect_event("io_uring_setup", flagged_as("x86_64", "io_uring_setup"))
        .await;
    let ev = sub
        .expect_event(
            "the ring's socket",
            flagged_as("io_uring", "io_uring:socket"),
        )
        .await;
    assert_eq!(header(&ev).comm, b"trigger");
    // The NOP is learned, not flagged.
    seen.expect_event("the NOP learned", |ev| match &ev.body {
        Some(sensor_proto::v1::event::Body::SyscallSeen(s)) => {
            s.name == "io_uring:nop" && s.arch == "io_uring"
        }
        _ => false,
    })
    .await;
    assert!(
        !sub.events()
            .any(|ev| flagged(ev).is_some_and(|f| f.name == "io_uring:nop")),
        "a NOP is not flagged"
    );

    // The profile lists the operations beside the syscalls, never as syscalls.
    let p = sensor.profile_of(cgroup_id).await;
    assert!(
        p.io_uring_ops.contains(&"io_uring:nop".to_owned())
            && p.io_uring_ops.contains(&"io_uring:socket".to_owned()),
        "{p:?}"
    );
    assert!(
        p.syscalls.iter().any(|s| s.name == "io_uring_setup")
            && !p.syscalls.iter().any(|s| s.name.starts_with("io_uring:")),
        "{p:?}"
    );
    let oci: serde_json::Value = serde_json::from_str(&p.oci_json).unwrap();
    assert_eq!(
        oci["architectures"],
        serde_json::json!(["SCMP_ARCH_X86_64"])
    );
}
