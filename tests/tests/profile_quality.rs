//! Profile quality on six real Debian programs (see `sensor_tests::quality`): each learned
//! under a permissive filter, its profile generated through the API, and run again under it.
//! The output must be identical, and each profile must allow at most a third of what Docker's
//! default allows. The figures are printed (the README quotes a run; `cargo xtask bench
//! --only quality` prints the same table).
use sensor_tests::{quality, ready, sensor::Sensor};

#[tokio::test]
async fn real_programs_run_identically_under_profiles_a_third_of_dockers() {
    if !ready() {
        return;
    }
    let sensor = Sensor::start(&["--no-cri"]).await;
    let docker = quality::docker_allows();
    assert!(docker > 250, "Moby's allow list was read: {docker}");
    let rows = quality::measure(&sensor).await;
    quality::print(&rows, docker);
    for r in &rows {
        let kind = r.kind;
        assert!(r.learned.is_ok(), "{kind}, learning run: {:?}", r.learned);
        assert!(r.handed_over, "{kind}: hand-over seen");
        assert!(r.identical(), "{kind} under its profile: {r:?}");
        for setup in ["mount", "pivot_root"] {
            assert!(!r.allowed.iter().any(|s| s == setup), "{kind}: {setup}");
        }
        assert!(
            r.allowed.len() * 3 <= docker,
            "{kind}: {} allowed, more than a third of Docker's {docker}",
            r.allowed.len()
        );
    }
}
