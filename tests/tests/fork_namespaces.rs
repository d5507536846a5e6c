//! What a clone's fork made, seen in the kernel, against what its caller's memory said: a
//! thread flipping clone3's `struct clone_args.flags` while another calls clone3 makes the
//! entry's read and the kernel's copy differ. Every namespace made is reported, with the
//! namespaces the fork really made; no event claims one that was not made. The same through
//! `int $0x80`, where (without `--exit-hook all`) the entry's event goes out at once and the
//! fork adds one only where the kernel made other namespaces than the entry read.
use std::collections::BTreeMap;

use sensor_tests::{
    cgroup::TestCgroup,
    ready,
    sensor::Sensor,
    subscriber::{Subscriber, flagged, flagged_by, flagged_in, header},
};

const TRIGGER: &str = env!("CARGO_BIN_EXE_sensor-trigger");
const NEWUTS_NEWIPC: u64 = (libc::CLONE_NEWUTS | libc::CLONE_NEWIPC) as u64;
const ROUNDS: u32 = 300;

/// The namespaces a flagged call's fork made, as the event says.
fn made_at_fork(ev: &sensor_proto::v1::Event) -> Option<u64> {
    flagged(ev)?.namespaces_at_fork.as_ref().map(|n| n.flags)
}

fn return_value(ev: &sensor_proto::v1::Event) -> i64 {
    flagged(ev)
        .and_then(|f| f.outcome.as_ref())
        .map_or(-1, |o| o.return_value)
}

/// Runs `clone3-race` in `cg` (`abi`: "i386" for calls through `int $0x80`, or none): each
/// call's (child pid, namespaces it got), the unraced marker last.
async fn race(cg: &TestCgroup, abi: Option<&str>) -> Vec<(i64, u64)> {
    let path = cg.path().to_owned();
    let mut args = vec![
        "clone3-race".to_owned(),
        NEWUTS_NEWIPC.to_string(),
        ROUNDS.to_string(),
    ];
    args.extend(abi.map(str::to_owned));
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(TRIGGER)
            .arg(&path)
            .args(&args)
            .output()
            .expect("spawn sensor-trigger")
    })
    .await
    .unwrap();
    assert!(out.status.success(), "clone3-race: {out:?}");
    let children: Vec<(i64, u64)> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let (pid, made) = l.split_once(' ').expect("PID MADE");
            let made = u64::from_str_radix(made.trim_start_matches("0x"), 16).unwrap();
            (pid.parse().unwrap(), made)
        })
        .collect();
    let &(_, marker_made) = children.last().expect("the unraced call");
    assert_eq!(marker_made, NEWUTS_NEWIPC, "the unraced call made both");
    let raced = &children[..children.len() - 1];
    let made = raced.iter().filter(|(_, m)| *m != 0).count();
    // The race must have gone both ways, or the test shows nothing.
    assert!(
        made > 0 && made < raced.len(),
        "{made} of {} raced calls made namespaces",
        raced.len()
    );
    children
}

#[tokio::test]
async fn every_namespace_a_raced_clone3_made_is_reported_as_made() {
    if !ready() {
        return;
    }
    let cg = TestCgroup::new("fork-ns");
    // A budget no burst here reaches: every call is to be seen one by one.
    let sensor = Sensor::start(&["--no-cri", "--flood-budget", "1000000"]).await;
    let mut sub = Subscriber::connect(&sensor.addr, flagged_in(cg.id()))
        .await
        .expect("subscribe");

    // Legacy clone: its flags are a register, read once; the fork agrees.
    let uts = (libc::CLONE_NEWUTS | libc::SIGCHLD) as u64;
    let clone = sensor_tests::trigger(
        TRIGGER,
        &cg,
        &["raw", &libc::SYS_clone.to_string(), &uts.to_string()],
    );
    let ev = sub
        .expect_event("clone(CLONE_NEWUTS)", flagged_by(clone, "clone"))
        .await;
    assert_eq!(
        made_at_fork(&ev),
        Some(libc::CLONE_NEWUTS as u64),
        "{ev:#?}"
    );

    // Child pid -> the namespaces it got, as it saw them itself.
    let children = race(&cg, None).await;
    let truth: BTreeMap<i64, u64> = children.iter().copied().collect();
    let &(marker, _) = children.last().unwrap();
    let raced = &children[..children.len() - 1];
    let made = raced.iter().filter(|(_, m)| *m != 0).count();

    // The unraced call is its thread's last: every raced call's event came before it.
    sub.expect_event("the unraced clone3", |ev| {
        flagged(ev).is_some_and(|f| f.name == "clone3") && return_value(ev) == marker
    })
    .await;
    let mut reported = BTreeMap::new();
    for ev in sub.events() {
        let Some(f) = flagged(ev).filter(|f| f.name == "clone3") else {
            continue;
        };
        let child = return_value(ev);
        // Every clone3 event names the namespaces its fork really made (none included).
        let Some(&truth) = truth.get(&child) else {
            panic!("a clone3 event for no child of the race: {ev:#?}")
        };
        assert_eq!(made_at_fork(ev), Some(truth), "child {child}: {ev:#?}");
        // Reported from its fork only when the fork made what the condition names.
        let at_fork = f.namespaces_at_fork.as_ref().unwrap();
        assert!(!at_fork.entry_disagreed || truth != 0, "{ev:#?}");
        assert_eq!(header(ev).cgroup_id, cg.id());
        assert!(
            f.suppressed == 0 && f.lost_in_kernel == 0,
            "no summary expected: {ev:#?}"
        );
        assert!(
            reported.insert(child, truth).is_none(),
            "child {child} twice"
        );
    }
    // And every call that made a namespace was reported.
    let missed: Vec<_> = raced
        .iter()
        .filter(|(pid, m)| *m != 0 && !reported.contains_key(pid))
        .collect();
    assert!(missed.is_empty(), "namespaces made unreported: {missed:?}");
    let from_fork = sub
        .events()
        .filter_map(flagged)
        .filter(|f| {
            f.name == "clone3"
                && f.namespaces_at_fork
                    .as_ref()
                    .is_some_and(|n| n.entry_disagreed)
        })
        .count();
    eprintln!(
        "{} raced clone3: {made} made namespaces, {} reported, {from_fork} of them from the fork",
        raced.len(),
        reported.len() - 1
    );
}

#[cfg(target_arch = "x86_64")]
#[tokio::test]
async fn an_i386_raced_clone3_s_namespaces_are_all_reported_without_its_exit() {
    if !ready() {
        return;
    }
    let cg = TestCgroup::new("fork-ns-i386");
    // The default exit hooks: none runs at an i386 call's exit, so each entry's event goes
    // out at once, without an outcome (and so without the child's pid).
    let sensor = Sensor::start(&["--no-cri", "--flood-budget", "1000000"]).await;
    let mut sub = Subscriber::connect(&sensor.addr, flagged_in(cg.id()))
        .await
        .expect("subscribe");
    let children = race(&cg, Some("i386")).await;
    let made_any = children.iter().filter(|(_, m)| *m != 0).count();
    // A last flagged call from another process: everything of the race came before it.
    let uts = (libc::CLONE_NEWUTS | libc::SIGCHLD) as u64;
    let end = sensor_tests::trigger(
        TRIGGER,
        &cg,
        &["raw", &libc::SYS_clone.to_string(), &uts.to_string()],
    );
    sub.expect_event("the clone after the race", flagged_by(end, "clone"))
        .await;
    let (mut at_entry, mut none_made, mut made_at_fork_only) = (0, 0, 0);
    for ev in sub.events() {
        let Some(f) = flagged(ev).filter(|f| f.name == "clone3") else {
            continue;
        };
        assert_eq!(f.arch, "i386", "{ev:#?}");
        match f.namespaces_at_fork.as_ref() {
            // Sent at its entry, whose record read the flags asked for (one that read 0 is
            // not flagged, whatever an earlier read saw).
            None => {
                let flags = f.decoded_args.iter().find(|a| a.name == "flags");
                assert_eq!(
                    flags.map(|a| a.value.as_str()),
                    Some("CLONE_NEWUTS|CLONE_NEWIPC"),
                    "{ev:#?}"
                );
                at_entry += 1
            }
            Some(n) => {
                assert!(n.entry_disagreed, "a record from the fork: {ev:#?}");
                match n.flags {
                    0 => none_made += 1,
                    NEWUTS_NEWIPC => made_at_fork_only += 1,
                    other => panic!("made {other:#x}, which no call asked for: {ev:#?}"),
                }
            }
        }
    }
    // Each call that made namespaces is an entry's event that the fork did not gainsay, or
    // a record from its fork alone.
    assert_eq!(
        at_entry - none_made + made_at_fork_only,
        made_any,
        "{at_entry} events at entry, {none_made} of them gainsaid by their fork, \
         {made_at_fork_only} from the fork alone; {made_any} calls made namespaces"
    );
    assert!(
        none_made + made_at_fork_only > 0,
        "the race never made the entry and the kernel disagree"
    );
    eprintln!(
        "{} i386 clone3: {made_any} made namespaces; {at_entry} events at entry, {none_made} \
         gainsaid by their fork, {made_at_fork_only} from the fork alone",
        children.len()
    );
}
