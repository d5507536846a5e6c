//! i386 calls (`int $0x80` from a 64-bit process) in real runc containers: each is named from
//! the i386 table, decoded from the i386 registers, and attributed to its container; an i386
//! number that is a forbidden x86_64 number (getresuid is 165, x86_64's mount) is not flagged
//! as that call; an i386 execve is an exec with its argv; each socket call made through
//! `socketcall` is judged as the i386 call it runs as (AF_VSOCK flagged through
//! `SYS_SOCKET`, a forbidden connect through `SYS_CONNECT`), and with `--exit-hook all` gets
//! its own outcome at socketcall's exit; the profile lists the i386 calls under SCMP_ARCH_X86.
#![cfg(target_arch = "x86_64")]

use std::path::Path;

use sensor_proto::v1::{Event, EventKind, OutcomeKind};
use sensor_tests::{
    cgroup::{ScratchDir, TestCgroup},
    ready,
    runc::{Container, kube_ids},
    sensor::Sensor,
    subscriber::{Subscriber, arg, exec, flagged, flagged_in, header, outcome},
};

const TRIGGER: &str = env!("CARGO_BIN_EXE_sensor-trigger");

fn container(n: u32, script: &str) -> Container {
    let (uid, id) = kube_ids(0x900 + n);
    Container::new(
        &format!("sensor-e2e-compat-{}-{n}", std::process::id()),
        &format!("/kubepods/besteffort/pod{uid}/{id}"),
        script,
    )
    .with_host_usr(Some((Path::new(TRIGGER), "/opt/trigger")))
}

fn i386(name: &'static str) -> impl Fn(&Event) -> bool {
    move |ev| flagged(ev).is_some_and(|f| f.name == name && f.arch == "i386")
}

async fn subscribe(sensor: &Sensor, c: &Container, kinds: &[EventKind]) -> Subscriber {
    Subscriber::for_cgroup(&sensor.addr, c.cgroup_id(), kinds).await
}

/// What the container runs: i386 calls through the trigger, one per line.
const SCRIPT: &str = "T=/opt/trigger
$T - int80 21 s:none s:/mnt s:tmpfs 0 0
$T - int80 165 0 0 0
$T - int80 161 0 0
$T - int80 310 0x04000000
exec 3</proc/self/ns/uts
$T - int80 346 3 0x04000000
$T - int80 61 s:/
$T - int80 102 1 w:1,1,0
$T - int80 102 2 w:40,0,0
$T - int80 102 1 w:40,1,0
$T - int80-execve /bin/true one two";

#[tokio::test]
async fn i386_calls_are_named_decoded_and_learned_as_i386() {
    if !ready() {
        return;
    }
    let sensor = Sensor::start(&["--no-cri"]).await;
    let c = container(1, SCRIPT);
    let cgroup_id = c.cgroup_id();
    let mut sub = subscribe(&sensor, &c, &[EventKind::FlaggedSyscall]).await;
    let mut all = subscribe(&sensor, &c, &[EventKind::Exec, EventKind::SyscallSeen]).await;
    let out = c.run();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    let ev = sub.expect_event("the i386 mount", i386("mount")).await;
    assert_eq!(arg(&ev, "source"), Some(("none", false)));
    assert_eq!(arg(&ev, "target"), Some(("/mnt", false)));
    assert_eq!(arg(&ev, "fstype"), Some(("tmpfs", false)));
    // The kernel's per-syscall exit tracepoints skip compat calls: no outcome, and it says so.
    assert_eq!(outcome(&ev).0, OutcomeKind::Unknown);
    assert_eq!(header(&ev).comm, b"trigger");
    let ev = sub.expect_event("the i386 unshare", i386("unshare")).await;
    assert_eq!(arg(&ev, "flags"), Some(("CLONE_NEWUTS", false)));
    let ev = sub.expect_event("the i386 setns", i386("setns")).await;
    assert_eq!(arg(&ev, "nstype"), Some(("CLONE_NEWUTS", false)));
    let ev = sub.expect_event("the i386 chroot", i386("chroot")).await;
    assert_eq!(arg(&ev, "path"), Some(("/", false)));
    // socketcall(SYS_SOCKET) is the i386 socket call it multiplexes: AF_VSOCK is flagged
    // through it, with the route it took.
    let ev = sub
        .expect_event("socket(AF_VSOCK) through socketcall", i386("socket"))
        .await;
    assert_eq!(arg(&ev, "domain"), Some(("AF_VSOCK", false)));
    let via = arg(&ev, "via").map(|v| v.0).unwrap_or_default();
    assert!(via.starts_with("socketcall(SYS_SOCKET, 0x"), "{via}");

    let ev = all
        .expect_event("the i386 execve", |ev| {
            exec(ev).is_some_and(|e| e.filename == b"/bin/true")
        })
        .await;
    let argv: Vec<&[u8]> = exec(&ev).unwrap().argv.iter().map(|a| &a[..]).collect();
    assert_eq!(argv, [&b"/bin/true"[..], b"one", b"two"]);

    // Nothing the trigger did was taken for a native call: getresuid (165) is not x86_64's
    // mount, sched_rr_get_interval (161) not chroot, unshare (310) not process_vm_readv;
    // nor was an AF_UNIX socket or a bind through socketcall flagged.
    for ev in sub.events() {
        let f = flagged(ev).unwrap();
        if header(ev).comm == b"trigger" {
            assert_eq!(f.arch, "i386", "a native name for an i386 call: {ev:?}");
            assert!(
                ["mount", "unshare", "setns", "chroot", "socket"].contains(&f.name.as_str()),
                "{ev:?}"
            );
            if f.name == "socket" {
                assert_eq!(arg(ev, "domain"), Some(("AF_VSOCK", false)), "{ev:?}");
            }
        }
    }
    let seen = |name: &str| {
        all.events().any(|ev| match &ev.body {
            Some(sensor_proto::v1::event::Body::SyscallSeen(s)) => {
                s.name == name && s.arch == "i386"
            }
            _ => false,
        })
    };
    assert!(seen("getresuid") && seen("mount"), "learned as i386 calls");

    // The profile allows them as i386 calls.
    let p = sensor.profile_of(cgroup_id).await;
    let has = |arch: &str, name: &str| p.syscalls.iter().any(|s| s.arch == arch && s.name == name);
    assert!(has("i386", "getresuid") && has("i386", "execve"), "{p:?}");
    let oci: serde_json::Value = serde_json::from_str(&p.oci_json).unwrap();
    assert_eq!(
        oci["architectures"],
        serde_json::json!(["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"])
    );
}

#[tokio::test]
async fn an_i386_mount_without_the_capability_is_flagged_too() {
    if !ready() {
        return;
    }
    let sensor = Sensor::start(&["--no-cri"]).await;
    let c =
        container(2, "/opt/trigger - int80 21 s:none s:/mnt s:tmpfs 0 0").with_caps(&["CAP_KILL"]);
    let mut sub = subscribe(&sensor, &c, &[EventKind::FlaggedSyscall]).await;
    let out = c.run();
    // The kernel refused it: -EPERM (-1) is what the trigger prints.
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "-1");
    let ev = sub
        .expect_event("the refused i386 mount", i386("mount"))
        .await;
    assert_eq!(arg(&ev, "target"), Some(("/mnt", false)));
}

#[tokio::test]
async fn socket_calls_through_socketcall_are_judged_as_the_calls_they_run_as() {
    if !ready() {
        return;
    }
    let mut rig = SocketcallRig::start("socketcall", "", &[]).await;
    let sub = &mut rig.sub;
    let trigger = |args: &[&str]| sensor_tests::trigger(TRIGGER, &rig.cg, args);
    let via = |ev: &Event| arg(ev, "via").map(|v| v.0.to_owned()).unwrap_or_default();
    // fd 99 is no socket: each call fails in the kernel, after its entry was judged.
    let connect = trigger(&["int80", "102", "3", "w:99,0,16"]);
    let ev = sub
        .expect_event("connect through socketcall", by(connect, "connect"))
        .await;
    assert_eq!(flagged(&ev).unwrap().args, [99, 0, 16, 0, 0, 0]);
    assert!(via(&ev).starts_with("socketcall(SYS_CONNECT, 0x"), "{ev:?}");
    // No hook runs at an i386 call's exit unless every exit is hooked (below).
    assert_eq!(outcome(&ev).0, OutcomeKind::Unknown, "{ev:?}");
    // SYS_ACCEPT runs as accept4 (flags 0), and is named so.
    let accept = trigger(&["int80", "102", "5", "w:99,0,0"]);
    let ev = sub
        .expect_event("accept through socketcall", by(accept, "accept4"))
        .await;
    assert!(via(&ev).starts_with("socketcall(SYS_ACCEPT, 0x"), "{ev:?}");
    // bind is not forbidden here: nothing. Then sendto's six words, all of them.
    let bind = trigger(&["int80", "102", "2", "w:99,0,16"]);
    let sendto = trigger(&["int80", "102", "11", "w:99,0,7,64,0,16"]);
    let ev = sub
        .expect_event("sendto through socketcall", by(sendto, "sendto"))
        .await;
    assert_eq!(flagged(&ev).unwrap().args, [99, 0, 7, 64, 0, 16]);
    assert!(
        !sub.events().any(|ev| header(ev).pid == bind),
        "a bind is not forbidden by this policy"
    );
}

/// What a socketcall test runs against: a sensor (with `extra` arguments) whose policy forbids
/// connect, accept4, sendto and the `more` lines, and a subscriber to the flagged calls of a
/// fresh cgroup. Fields drop in order: the subscriber, the sensor, then what it watched.
struct SocketcallRig {
    sub: Subscriber,
    _sensor: Sensor,
    cg: TestCgroup,
    _dir: ScratchDir,
}

impl SocketcallRig {
    async fn start(name: &str, more: &str, extra: &[&str]) -> Self {
        let dir = ScratchDir::new(name);
        let policy = dir.path().join("policy.toml");
        std::fs::write(
            &policy,
            format!(
                "[syscalls]\nconnect = \"high\"\naccept4 = \"medium\"\nsendto = \"low\"\n{more}"
            ),
        )
        .unwrap();
        let cg = TestCgroup::new(name);
        let mut args = vec!["--no-cri", "--policy", policy.to_str().unwrap()];
        args.extend_from_slice(extra);
        let sensor = Sensor::start(&args).await;
        let sub = Subscriber::connect(&sensor.addr, flagged_in(cg.id()))
            .await
            .expect("subscribe");
        Self {
            sub,
            _sensor: sensor,
            cg,
            _dir: dir,
        }
    }
}

/// The i386 call `name` made by process `pid`.
fn by(pid: u32, name: &'static str) -> impl Fn(&Event) -> bool {
    move |ev| header(ev).pid == pid && i386(name)(ev)
}

#[tokio::test]
async fn a_socket_call_through_socketcall_gets_its_outcome_when_every_exit_is_hooked() {
    if !ready() {
        return;
    }
    let mut rig = SocketcallRig::start(
        "socketcall-exit",
        "socket = { severity = \"low\", arg = \"domain\", in = [\"AF_INET\"] }\n",
        &["--exit-hook", "all"],
    )
    .await;
    let sub = &mut rig.sub;
    let trigger = |args: &[&str]| sensor_tests::trigger(TRIGGER, &rig.cg, args);
    // fd 99 is no socket: the kernel refuses it after the entry (socketcall returns the
    // call's -EBADF), so the outcome is the call's own; sendto with all six words.
    for (name, call, words, args) in [
        ("connect", "3", "w:99,0,16", [99, 0, 16, 0, 0, 0]),
        ("sendto", "11", "w:99,0,7,64,0,16", [99, 0, 7, 64, 0, 16]),
    ] {
        let pid = trigger(&["int80", "102", call, words]);
        let ev = sub
            .expect_event(&format!("{name} through socketcall"), by(pid, name))
            .await;
        assert_eq!(
            outcome(&ev),
            (OutcomeKind::Failed, "EBADF".to_owned()),
            "{ev:?}"
        );
        assert_eq!(flagged(&ev).unwrap().args, args);
    }
    // A call that succeeds: socket(AF_INET, SOCK_DGRAM, 0) returns its fd.
    let socket = trigger(&["int80", "102", "1", "w:2,2,0"]);
    let ev = sub
        .expect_event("socket through socketcall", by(socket, "socket"))
        .await;
    assert_eq!(outcome(&ev).0, OutcomeKind::Succeeded, "{ev:?}");
    let fd = flagged(&ev).unwrap().outcome.as_ref().unwrap().return_value;
    assert!(fd >= 0, "{ev:?}");
}
