use super::*;
use crate::{enrich::container::Runtime, event::SyscallSeen, syscalls::Arch};

/// Options that add nothing to what was seen.
fn bare() -> BuildOptions {
    BuildOptions {
        always_allowed: Vec::new(),
        refused: render::Refusal::Errno,
        steady_only: false,
    }
}

#[test]
fn calls_made_only_while_starting_up_are_marked_and_can_be_left_out() {
    let mut s = ProfileStore::default();
    // execve (59) and bind (49) only at start; read (0) at start and while serving;
    // accept4 (288) first while serving.
    for (nr, phase) in [
        (165, Phase::Runtime),
        (59, Phase::Filtered),
        (49, Phase::Workload),
        (0, Phase::Workload),
        (0, Phase::Steady),
        (288, Phase::Steady),
    ] {
        s.observe(&mut seen_in(9, nr, phase));
    }
    let sel = Selector::CgroupId(9);
    let all = build(&s.select(&sel), &sel, Arch::X86_64, &bare());
    let marked: Vec<(&str, bool)> = all
        .syscalls
        .iter()
        .map(|c| (c.name, c.startup_only))
        .collect();
    assert_eq!(
        marked,
        [
            ("read", false),
            ("bind", true),
            ("execve", true),
            ("accept4", false)
        ]
    );
    assert_eq!(all.steady, 1);
    let steady = build(
        &s.select(&sel),
        &sel,
        Arch::X86_64,
        &BuildOptions {
            steady_only: true,
            ..bare()
        },
    );
    let names: Vec<&str> = steady.syscalls.iter().map(|c| c.name).collect();
    assert_eq!(names, ["read", "accept4"]);
    let left: Vec<&str> = steady.startup_left_out.iter().map(|c| c.name).collect();
    assert_eq!(left, ["bind", "execve"]);
    let runtime: Vec<&str> = steady.runtime_only.iter().map(|c| c.name).collect();
    assert_eq!(runtime, ["mount"]);
}

#[test]
fn always_allowed_calls_are_added_and_said_to_be() {
    let mut s = ProfileStore::default();
    s.observe(&mut seen_in(11, 0, Phase::Workload)); // read
    s.observe(&mut seen_in(11, 231, Phase::Workload)); // exit_group, seen
    let sel = Selector::CgroupId(11);
    let b = build(
        &s.select(&sel),
        &sel,
        Arch::X86_64,
        &BuildOptions::default(),
    );
    let get = |n: &str| b.syscalls.iter().find(|c| c.name == n).cloned();
    assert!(get("rt_sigsuspend").is_some_and(|c| c.always && c.containers == 0));
    assert!(
        get("exit_group").is_some_and(|c| !c.always),
        "seen beats always"
    );
    assert!(
        get("sigreturn").is_none(),
        "no i386 in a 64-bit-only profile"
    );
    let names = b.oci["syscalls"][0]["names"].as_array().unwrap().clone();
    assert!(names.contains(&serde_json::json!("rt_sigsuspend")));
}

fn seen_in(cgroup: u64, nr: u64, phase: Phase) -> Event {
    let mut ev = Event::for_test(
        cgroup,
        Body::SyscallSeen(SyscallSeen {
            arch: Arch::X86_64,
            nr,
            name: None,
            phase,
        }),
    );
    ev.attribution = in_container(&cgroup.to_string());
    ev
}

/// A workload's first use, in a cgroup that is no container.
fn seen(cgroup: u64, nr: u64) -> Event {
    let mut ev = seen_in(cgroup, nr, Phase::Workload);
    ev.attribution = Attribution::default();
    ev
}

#[test]
fn a_profile_leaves_out_what_only_the_runtime_did_before_its_filter() {
    let mut s = ProfileStore::default();
    // The runtime mounts and writes; under its filter it opens; the workload writes.
    for (nr, phase) in [
        (165, Phase::Runtime),
        (1, Phase::Runtime),
        (2, Phase::Filtered),
        (1, Phase::Workload),
    ] {
        s.observe(&mut seen_in(7, nr, phase));
    }
    // The kernel map holds a workload call whose event was lost.
    let mut slots = [0u8; 8];
    slots[3] = Phase::Workload.bit();
    s.cgroup_gone(7, &[(Arch::X86_64, &slots)]);
    let sel = Selector::CgroupId(7);
    let b = build(&s.select(&sel), &sel, Arch::X86_64, &bare());
    let names: Vec<&str> = b.syscalls.iter().map(|c| c.name).collect();
    assert_eq!(names, ["write", "open", "close"]);
    assert_eq!(b.syscalls[0].phase, Phase::Runtime, "earliest phase");
    let runtime: Vec<&str> = b.runtime_only.iter().map(|c| c.name).collect();
    assert_eq!(runtime, ["mount"]);
    assert_eq!(b.without_handover, 0);

    // Without a filter the hand-over is not seen: everything stays, and it says so.
    s.observe(&mut seen_in(8, 165, Phase::Runtime));
    let sel = Selector::CgroupId(8);
    let b = build(&s.select(&sel), &sel, Arch::X86_64, &bare());
    assert_eq!(b.syscalls.len(), 1);
    assert!(b.runtime_only.is_empty());
    assert_eq!(b.without_handover, 1);

    // Merged: each container's needs count.
    let both: Vec<Learned> = [7, 8]
        .iter()
        .flat_map(|c| s.select(&Selector::CgroupId(*c)))
        .collect();
    let m = merge(&both, false);
    assert_eq!(m[&165].made_by, 2);
    assert_eq!(m[&165].needed_by, 1, "needed by the unfiltered one only");
}

#[test]
fn profiles_are_per_abi() {
    let mut s = ProfileStore::default();
    let mut ev = seen(9, 165); // x86_64 mount
    ev.attribution = in_container("f");
    s.observe(&mut ev);
    let mut compat = [0u8; 64];
    compat[21] = Phase::Workload.bit(); // i386 mount
    compat[20] = Phase::Workload.bit(); // i386 getpid
    s.cgroup_gone(9, &[(Arch::I386, &compat)]);
    let b = build(
        &s.select(&Selector::CgroupId(9)),
        &Selector::CgroupId(9),
        Arch::X86_64,
        &bare(),
    );
    let calls: Vec<(Arch, u64, &str)> = b.syscalls.iter().map(|c| (c.arch, c.nr, c.name)).collect();
    assert_eq!(
        calls,
        [
            (Arch::X86_64, 165, "mount"),
            (Arch::I386, 20, "getpid"),
            (Arch::I386, 21, "mount")
        ]
    );
    assert_eq!(
        b.oci["architectures"],
        serde_json::json!(["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"])
    );
    // Without a compat call, the profile allows no i386 call at all.
    let mut s = ProfileStore::default();
    let mut ev = seen(10, 165);
    ev.attribution = in_container("g");
    s.observe(&mut ev);
    let b = build(
        &s.select(&Selector::CgroupId(10)),
        &Selector::CgroupId(10),
        Arch::X86_64,
        &bare(),
    );
    assert_eq!(
        b.oci["architectures"],
        serde_json::json!(["SCMP_ARCH_X86_64"])
    );
}

fn in_container(id: &str) -> Attribution {
    Attribution::Container {
        container: Arc::new(ContainerRef {
            runtime: Runtime::Docker,
            id: id.repeat(64),
            pod: None,
        }),
        meta: None,
        meta_pending: false,
    }
}

#[test]
fn gone_cgroups_are_forgotten_or_bounded() {
    let mut s = ProfileStore::default();
    s.observe(&mut seen(1, 5));
    s.cgroup_gone(1, &[]);
    assert_eq!(
        s.len(),
        (0, 0),
        "a cgroup that was no container is forgotten"
    );
    for cg in 0..(GONE_KEPT as u64 + 10) {
        let mut ev = seen(100 + cg, 5);
        ev.attribution = in_container("f");
        s.observe(&mut ev);
        s.cgroup_gone(100 + cg, &[]);
    }
    assert_eq!(s.len(), (GONE_KEPT, GONE_KEPT));
    assert!(
        s.select(&Selector::CgroupId(100)).is_empty(),
        "the oldest went first"
    );
    assert_eq!(
        s.select(&Selector::CgroupId(100 + GONE_KEPT as u64 + 9))
            .len(),
        1
    );
}

#[test]
fn selects_by_container() {
    let mut s = ProfileStore::default();
    let c = Arc::new(ContainerRef {
        runtime: Runtime::Docker,
        id: "d".repeat(64),
        pod: None,
    });
    let mut ev = seen(9, 5);
    ev.attribution = Attribution::Container {
        container: c.clone(),
        meta: None,
        meta_pending: false,
    };
    s.observe(&mut ev);
    assert_eq!(s.select(&Selector::ContainerId(c.id.clone())).len(), 1);
    assert!(s.select(&Selector::ContainerId("x".into())).is_empty());
}
