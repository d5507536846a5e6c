//! What a clone's fork made, seen in the kernel, against what its caller's memory said: a
//! thread flipping clone3's `struct clone_args.flags` while another calls clone3 makes the
//! entry's read and the kernel's copy differ. Every namespace made is reported, with the
//! namespaces the fork really made; no event claims one that was not made.
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

    let path = cg.path().to_owned();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(TRIGGER)
            .arg(&path)
            .args([
                "clone3-race",
                &NEWUTS_NEWIPC.to_string(),
                &ROUNDS.to_string(),
            ])
            .output()
            .expect("spawn sensor-trigger")
    })
    .await
    .unwrap();
    assert!(out.status.success(), "clone3-race: {out:?}");
    // Child pid -> the namespaces it got, as it saw them itself.
    let children: Vec<(i64, u64)> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let (pid, made) = l.split_once(' ').expect("PID MADE");
            let made = u64::from_str_radix(made.trim_start_matches("0x"), 16).unwrap();
            (pid.parse().unwrap(), made)
        })
        .collect();
    let truth: BTreeMap<i64, u64> = children.iter().copied().collect();
    let &(marker, marker_made) = children.last().expect("the unraced call");
    assert_eq!(marker_made, NEWUTS_NEWIPC, "the unraced call made both");
    let raced = &children[..children.len() - 1];
    let made = raced.iter().filter(|(_, m)| *m != 0).count();
    // The race must have gone both ways, or this test shows nothing.
    assert!(
        made > 0 && made < raced.len(),
        "{made} of {} raced calls made namespaces",
        raced.len()
    );

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
