//! A new user's first screen: everyday programs (ps, top, python, git, sqlite3, curl, tar)
//! are not flagged by the default policy, and the terminal's default view shows only what a
//! user acts on: here, a mount in a new mount namespace.
use std::time::Duration;

use sensor_proto::v1::GetEventsRequest;
use sensor_tests::{
    EVENT_TIMEOUT,
    cgroup::{ScratchDir, TestCgroup},
    ready,
    sensor::Sensor,
    subscriber::{Subscriber, flagged, flagged_in, header},
    wait_until,
};

const TRIGGER: &str = env!("CARGO_BIN_EXE_sensor-trigger");

/// Everyday commands, each made to do real work; `set -e` fails the test if one is missing.
fn everyday_script(dir: &str, metrics: &str) -> String {
    format!(
        "set -e; export PATH=/usr/local/bin:/usr/bin:/bin; cd {dir}
        ps aux >/dev/null
        top -b -n 1 >/dev/null
        python3 -c 'import json, sqlite3; print(json.dumps(1))' >/dev/null
        git init -q repo && git -C repo status >/dev/null
        sqlite3 db 'create table t(a); insert into t values(1); select count(*) from t;' >/dev/null
        curl -s -o /dev/null http://{metrics}/metrics
        tar czf a.tgz db && tar tzf a.tgz >/dev/null"
    )
}

fn run_in(cg: &TestCgroup, argv: &[&str]) -> u32 {
    let mut args = vec!["exec"];
    args.extend_from_slice(argv);
    sensor_tests::trigger(TRIGGER, cg, &args)
}

#[tokio::test]
async fn everyday_programs_are_not_flagged_and_the_terminal_shows_the_mount() {
    if !ready() {
        return;
    }
    let cg = TestCgroup::new("first-screen");
    let work = ScratchDir::new("everyday");
    let target = ScratchDir::new("mnt");
    let sensor = Sensor::start_with_terminal(&["--no-cri"]).await;
    // Every flagged call of the cgroup, whatever its severity.
    let mut sub = Subscriber::connect(&sensor.addr, flagged_in(cg.id()))
        .await
        .expect("subscribe");
    // And every event of the cgroup, to know the everyday commands were seen at all.
    let mut all = Subscriber::connect(
        &sensor.addr,
        GetEventsRequest {
            cgroup_ids: vec![cg.id()],
            ..Default::default()
        },
    )
    .await
    .expect("subscribe");

    let script = everyday_script(work.as_str(), &sensor.metrics);
    let everyday = run_in(&cg, &["/bin/sh", "-c", &script]);
    all.expect_event("the everyday script's exec", |ev| {
        header(ev).pid == everyday && header(ev).cgroup_id == cg.id()
    })
    .await;
    let mounted = run_in(
        &cg,
        &[
            "/usr/bin/unshare",
            "-m",
            "mount",
            "-t",
            "tmpfs",
            "none",
            target.as_str(),
        ],
    );
    let mount = sub
        .expect_event("the mount in a new namespace", |ev| {
            flagged(ev).is_some_and(|f| f.name == "mount") && header(ev).cgroup_id == cg.id()
        })
        .await;
    assert_ne!(header(&mount).pid, everyday);

    // The subscriber got the mount; anything flagged before it came from the everyday
    // commands, and must not exist.
    let names: Vec<(u32, String)> = sub
        .events()
        .filter_map(|ev| flagged(ev).map(|f| (header(ev).pid, f.name.clone())))
        .collect();
    for (pid, name) in &names {
        assert!(
            ["unshare", "mount"].contains(&name.as_str()),
            "the default policy flagged {name} by pid {pid} (everyday script: {everyday}, \
             unshare: {mounted}): {names:?}"
        );
    }

    // The terminal shows the unshare and the mounts of that cgroup, and nothing else of it.
    let ours = format!("cgroup={}", cg.id());
    let shown = |text: &str| -> Vec<String> {
        text.lines()
            .filter(|l| l.contains(" FLAGGED[") && l.contains(&ours))
            .map(str::to_owned)
            .collect()
    };
    assert!(
        wait_until(EVENT_TIMEOUT, || shown(&sensor.log_text()).iter().any(
            |l| l.contains(&format!(
                "mount(source=\"none\", target=\"{}\"",
                target.as_str()
            ))
        )),
        "the terminal never showed the mount:\n{}",
        sensor.log_text()
    );
    let lines = shown(&sensor.log_text());
    for line in &lines {
        assert!(
            line.contains("] unshare(") || line.contains("] mount("),
            "the terminal showed more than the mount: {line}"
        );
    }
    let status = sensor.terminate(Duration::from_secs(10));
    assert!(status.success(), "{status}");
}
