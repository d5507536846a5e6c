//! Argument conditions, decided in the kernel: namespace creation through clone (never its
//! exit signal's byte taken for flags), clone3 and
//! unshare is flagged, and only that (a fork, unshare(CLONE_FILES) are not); personality
//! outside Docker's allowed values, AF_VSOCK sockets (an `int` argument: its register's
//! upper half is ignored, as the kernel does) and ptrace requests that attach or
//! write (not those that read) likewise. clone3's event shows the
//! flags its `struct clone_args` held. A policy file's own
//! condition replaces the built-in one.
use sensor_tests::{
    cgroup::TestCgroup,
    ready,
    sensor::Sensor,
    subscriber::{Subscriber, arg, flagged_by, flagged_in, header},
};

const TRIGGER: &str = env!("CARGO_BIN_EXE_sensor-trigger");
const CLONE_NEWUTS: &str = "0x04000000";
const CLONE_FILES: &str = "0x400";
const SIGCHLD: u64 = 17;

fn trigger(cg: &TestCgroup, args: &[&str]) -> u32 {
    sensor_tests::trigger(TRIGGER, cg, args)
}

fn nr(name: &str) -> String {
    let n = match name {
        "clone" => libc::SYS_clone,
        "unshare" => libc::SYS_unshare,
        "personality" => libc::SYS_personality,
        "socket" => libc::SYS_socket,
        "ptrace" => libc::SYS_ptrace,
        _ => unreachable!(),
    };
    n.to_string()
}

#[tokio::test]
async fn only_calls_whose_arguments_match_are_flagged() {
    if !ready() {
        return;
    }
    let cg = TestCgroup::new("conditions");
    let sensor = Sensor::start(&["--no-cri"]).await;
    let mut sub = Subscriber::connect(&sensor.addr, flagged_in(cg.id()))
        .await
        .expect("subscribe");

    // Harmless first: none of these may be flagged.
    let quiet = [
        trigger(&cg, &["raw", &nr("clone"), &SIGCHLD.to_string()]),
        // Legacy clone's low byte is the exit signal (145 here): its 0x80 bit is not
        // CLONE_NEWTIME, and the child shares every namespace.
        trigger(&cg, &["raw", &nr("clone"), "0x91"]),
        trigger(&cg, &["clone3", "0"]),
        trigger(&cg, &["raw", &nr("unshare"), CLONE_FILES]),
        trigger(&cg, &["raw", &nr("personality"), "0xffffffff"]),
        // personality's argument is an unsigned int: the kernel sets PER_LINUX (0) here.
        trigger(&cg, &["raw", &nr("personality"), "0x100000000"]),
        trigger(&cg, &["raw", &nr("socket"), "1", "1", "0"]),
        // PTRACE_PEEKDATA of pid 1 (not traced by the trigger: ESRCH): a read.
        trigger(&cg, &["raw", &nr("ptrace"), "2", "1", "0", "0"]),
    ];
    // Then each kind that matches.
    let uts = (0x0400_0000u64 | SIGCHLD).to_string();
    let clone = trigger(&cg, &["raw", &nr("clone"), &uts]);
    let ev = sub
        .expect_event("clone(CLONE_NEWUTS)", flagged_by(clone, "clone"))
        .await;
    assert_eq!(arg(&ev, "flags"), Some(("CLONE_NEWUTS|SIGCHLD", false)));
    let clone3 = trigger(&cg, &["clone3", CLONE_NEWUTS]);
    let ev = sub
        .expect_event("clone3 with CLONE_NEWUTS", flagged_by(clone3, "clone3"))
        .await;
    // The flags read from its struct clone_args, not the pointer to it.
    assert_eq!(arg(&ev, "flags"), Some(("CLONE_NEWUTS", false)));
    let unshare = trigger(&cg, &["raw", &nr("unshare"), CLONE_NEWUTS]);
    let ev = sub
        .expect_event("unshare(CLONE_NEWUTS)", flagged_by(unshare, "unshare"))
        .await;
    assert_eq!(arg(&ev, "flags"), Some(("CLONE_NEWUTS", false)));
    // unshare's 0x80 is CLONE_NEWTIME.
    let unshare = trigger(&cg, &["raw", &nr("unshare"), "0x80"]);
    let ev = sub
        .expect_event("unshare(CLONE_NEWTIME)", flagged_by(unshare, "unshare"))
        .await;
    assert_eq!(arg(&ev, "flags"), Some(("CLONE_NEWTIME", false)));
    let persona = trigger(&cg, &["raw", &nr("personality"), "0x0400000"]);
    sub.expect_event(
        "personality(READ_IMPLIES_EXEC)",
        flagged_by(persona, "personality"),
    )
    .await;
    let vsock = trigger(&cg, &["raw", &nr("socket"), "40", "1", "0"]);
    let ev = sub
        .expect_event("socket(AF_VSOCK)", flagged_by(vsock, "socket"))
        .await;
    assert_eq!(arg(&ev, "domain"), Some(("AF_VSOCK", false)));
    // The domain is an int: with its register's upper half set, it is still AF_VSOCK.
    let high = trigger(&cg, &["raw", &nr("socket"), "0x100000028", "1", "0"]);
    let ev = sub
        .expect_event("socket(0x100000028)", flagged_by(high, "socket"))
        .await;
    assert_eq!(arg(&ev, "domain"), Some(("AF_VSOCK", false)));
    // A write of another process's registers, by the register-set request too (a tracer its
    // child asked for writes without attaching); ESRCH here, flagged all the same.
    let setregset = trigger(&cg, &["raw", &nr("ptrace"), "0x4205", "1", "1", "0"]);
    let ev = sub
        .expect_event("ptrace(PTRACE_SETREGSET)", flagged_by(setregset, "ptrace"))
        .await;
    assert_eq!(arg(&ev, "request"), Some(("PTRACE_SETREGSET", false)));
    // Or the syscall the tracee is about to make (Linux 6.16).
    let set_call = trigger(&cg, &["raw", &nr("ptrace"), "0x4212", "1", "88", "0"]);
    let ev = sub
        .expect_event(
            "ptrace(PTRACE_SET_SYSCALL_INFO)",
            flagged_by(set_call, "ptrace"),
        )
        .await;
    assert_eq!(
        arg(&ev, "request"),
        Some(("PTRACE_SET_SYSCALL_INFO", false))
    );

    // Everything before them arrived first (one ring, in order): nothing of the quiet ones.
    for ev in sub.events() {
        assert!(
            !quiet.contains(&header(ev).pid),
            "a call whose arguments do not match was flagged: {ev:?}"
        );
    }
}

#[tokio::test]
async fn a_policy_file_sets_its_own_condition() {
    if !ready() {
        return;
    }
    let dir = sensor_tests::cgroup::ScratchDir::new("cond-policy");
    let policy = dir.path().join("policy.toml");
    // unshare only with CLONE_FILES (the reverse of the default), to see the file's win;
    // mount_setattr only for an idmapped mount (a struct's condition tests its first field,
    // read where the argument points).
    std::fs::write(
        &policy,
        "[syscalls]\nunshare = { severity = \"low\", arg = \"flags\", any_of = [\"CLONE_FILES\"] }\n\
         mount_setattr = { severity = \"high\", arg = \"attr\", any_of = [\"MOUNT_ATTR_IDMAP\"] }\n",
    )
    .unwrap();
    let cg = TestCgroup::new("cond-policy");
    let sensor = Sensor::start(&["--no-cri", "--policy", policy.to_str().unwrap()]).await;
    let mut sub = Subscriber::connect(&sensor.addr, flagged_in(cg.id()))
        .await
        .expect("subscribe");
    let ns = trigger(&cg, &["raw", &nr("unshare"), CLONE_NEWUTS]);
    let files = trigger(&cg, &["raw", &nr("unshare"), CLONE_FILES]);
    let missing = dir.path().join("missing");
    let missing = missing.to_str().unwrap();
    let rdonly = trigger(&cg, &["setattr", missing, "0x1"]);
    let idmap = trigger(&cg, &["setattr", missing, "0x100000"]);
    sub.expect_event("unshare(CLONE_FILES)", flagged_by(files, "unshare"))
        .await;
    let ev = sub
        .expect_event("mount_setattr(IDMAP)", flagged_by(idmap, "mount_setattr"))
        .await;
    assert_eq!(
        arg(&ev, "attr"),
        Some((
            "{attr_set=MOUNT_ATTR_IDMAP, attr_clr=0, propagation=0, userns_fd=0}",
            false
        ))
    );
    for (pid, what) in [
        (ns, "unshare(CLONE_NEWUTS)"),
        (rdonly, "mount_setattr(RDONLY)"),
    ] {
        assert!(
            !sub.events().any(|ev| header(ev).pid == pid),
            "{what} does not match this policy's condition"
        );
    }
}
