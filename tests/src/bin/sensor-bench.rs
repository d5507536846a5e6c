//! `cargo xtask bench`: what the sensor costs, measured in one run, next to the floor (an
//! empty raw_tp on sys_enter) and a peer (bpftrace doing comparable work). Prints a table and
//! writes the figures as JSON. `--quick` is a smoke run (it checks that everything runs);
//! `--only SECTION` (syscall, flagged, learning, exec, footprint, reader, services, quality)
//! runs one
//! part, for a developer's loop. The quality section (six real programs under their learned
//! profiles) runs in full runs and with `--only quality`, not in `--quick`: the end-to-end
//! test `profile_quality.rs` runs the same workloads.
use std::{
    path::PathBuf,
    time::{Duration, Instant},
};

use sensor_proto::v1::{
    EventKind, ListContainersRequest, sensor_service_client::SensorServiceClient,
};
use sensor_tests::{
    bench::{self, Bpftrace, Floor, InCgroup},
    cgroup::{CgroupPathGuard, cgroup2_mount},
    runc::kube_ids,
    sensor::Sensor,
    services::{Bench as Services, Sizes, Workload},
    subscriber::Subscriber,
};
use serde_json::{Value, json};

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// A container-shaped cgroup made for the bench (removed on drop).
struct BenchCgroup {
    dir: PathBuf,
    _guard: CgroupPathGuard,
}

impl BenchCgroup {
    fn new(n: u32) -> Self {
        let (uid, id) = kube_ids(0xbe00 + n);
        let path = format!("/kubepods/besteffort/pod{uid}/{id}");
        let guard = CgroupPathGuard::new(&path);
        let dir = cgroup2_mount()
            .expect("cgroup2")
            .join(path.trim_start_matches('/'));
        std::fs::create_dir_all(&dir).expect("mkdir bench cgroup");
        Self { dir, _guard: guard }
    }

    fn id(&self) -> u64 {
        std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&self.dir).unwrap())
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let [_, mode, dir] = args.as_slice()
        && mode == "--umount-in"
    {
        sensor_tests::reader_latency::umount_in(std::path::Path::new(dir));
        return;
    }
    let quick = args.iter().any(|a| a == "--quick");
    let out_path = args
        .iter()
        .position(|a| a == "--json")
        .and_then(|i| args.get(i + 1))
        .cloned();
    let floor = PathBuf::from(
        std::env::var("SENSOR_FLOOR_OBJ").expect("SENSOR_FLOOR_OBJ (cargo xtask bench sets it)"),
    );
    let only = args
        .iter()
        .position(|a| a == "--only")
        .and_then(|i| args.get(i + 1))
        .cloned();
    let want = |section: &str| only.as_deref().is_none_or(|o| o == section);
    let (rounds, calls, storm, execs, cgroups) = if quick {
        (1, 200_000u64, 20_000u64, 200u64, 50u32)
    } else {
        (9, 1_000_000, 200_000, 2_000, 10_000)
    };
    let mut report =
        json!({"date": humantime_now(), "quick": quick, "rounds": rounds, "calls_per_loop": calls});
    if want("syscall") {
        cost_per_syscall(&mut report, &floor, rounds, calls).await;
    }
    // No flood budget: the flagged storm measures what the pipeline carries when nothing is
    // held back in the kernel.
    let sensor = Sensor::start(&["--no-cri", "--flood-budget", "0"]).await;
    if want("flagged") {
        report["flagged_throughput"] = flagged_throughput(&sensor, storm).await;
    }
    if want("learning") {
        report["learned_events_per_million"] = learning(&sensor, calls).await;
    }
    drop(sensor);
    if want("exec") {
        report["exec_storm"] = exec_storm(execs).await;
    }
    if want("footprint") {
        report["footprint"] = footprint(cgroups).await;
    }
    if want("reader") {
        let probes = if quick { 50 } else { 300 };
        let r = sensor_tests::reader_latency::reader_latency(probes).await;
        print_reader(&r);
        report["reader_latency"] = r;
    }
    if want("services") {
        let sizes = if quick {
            Sizes {
                redis_requests: 20_000,
                wrk_seconds: 1,
                c_files: 40,
                execs: 200,
            }
        } else {
            Sizes {
                redis_requests: 200_000,
                wrk_seconds: 5,
                c_files: 300,
                execs: 2_000,
            }
        };
        let service_rounds = if quick { 1 } else { 5 };
        report["services"] = real_workloads(&floor, service_rounds, sizes).await;
    }
    if (!quick && only.is_none()) || only.as_deref() == Some("quality") {
        report["profile_quality"] = profile_quality().await;
    }
    if let Some(p) = out_path {
        std::fs::write(&p, serde_json::to_vec_pretty(&report).unwrap())
            .expect("write the JSON report");
        println!("figures written to {p}");
    }
}

/// Six real programs, each learned, profiled through the API and run again under its profile.
async fn profile_quality() -> Value {
    let sensor = Sensor::start(&["--no-cri"]).await;
    let docker = sensor_tests::quality::docker_allows();
    let rows = sensor_tests::quality::measure(&sensor).await;
    println!("\nprofile quality (six real programs, each re-run under its learned profile):");
    sensor_tests::quality::print(&rows, docker);
    let identical = rows.iter().filter(|r| r.identical()).count();
    let worst = rows.iter().map(|r| r.allowed.len()).max().unwrap_or(0);
    println!(
        "identical output: {identical} of {}; largest profile: {worst} calls = {:.0}% of Docker's {docker} (target: at most a third)",
        rows.len(),
        100.0 * worst as f64 / docker as f64
    );
    json!({
        "docker_allows": docker,
        "identical": identical,
        "workloads": rows.iter().map(|r| json!({
            "kind": r.kind,
            "identical": r.identical(),
            "allowed": r.allowed.len(),
            "runtime_only": r.runtime_only.len(),
        })).collect::<Vec<_>>(),
    })
}

/// 1. Cost per syscall, interleaved rounds (after one warm-up loop).
async fn cost_per_syscall(report: &mut Value, floor: &std::path::Path, rounds: usize, calls: u64) {
    bench::getppid_ns(calls);
    let cg = BenchCgroup::new(0);
    // ns per call, every round: the rows printed below.
    let [
        mut a,
        mut b,
        mut bx,
        mut g,
        mut gx,
        mut c,
        mut d,
        mut e,
        mut f,
        mut start,
    ]: [Vec<f64>; 10] = Default::default();
    let (mut enter_ns, mut floor_ns, mut task_ns) = (vec![], vec![], vec![]);
    let in_container = || {
        let _in = InCgroup::enter(&cg.dir);
        bench::getppid_ns(calls)
    };
    for round in 0..rounds {
        a.push(bench::getppid_ns(calls));
        {
            let _f = Floor::attach(floor);
            b.push(bench::getppid_ns(calls));
        }
        {
            let _f = Floor::attach_with_exit(floor);
            bx.push(bench::getppid_ns(calls));
        }
        {
            let _f = Floor::attach_one_call(floor);
            g.push(bench::getppid_ns(calls));
        }
        {
            let _f = Floor::attach_one_call_with_exit(floor);
            gx.push(bench::getppid_ns(calls));
        }
        // The kernel's own accounting (ns per run) of the floor plus the task helper, the one
        // helper call the sensor's sys_enter cannot do without. First on the tracepoint, as
        // the sensor's program is below: here the first program that calls a helper after a
        // syscall's entry pays some 15 ns more than one after it (measured 2026-12-01).
        {
            let _stats = bench::enable_stats();
            let ft = Floor::attach_program(floor, "floor_task");
            let before = ft.run_stats();
            in_container();
            task_ns.push(Floor::ns_per_run(before, ft.run_stats()));
        }
        let t = Instant::now();
        let sensor = Sensor::start(&["--no-cri"]).await;
        start.push(t.elapsed().as_secs_f64() * 1000.0);
        // Its start-up work (the /proc scan) would compete with the loop for the two cores.
        bench::wait_idle(sensor.pid(), Duration::from_secs(5)).await;
        // c and d take turns going first, so that drift weighs on both alike.
        if round % 2 == 0 {
            c.push(in_container());
            d.push(bench::getppid_ns(calls));
        } else {
            d.push(bench::getppid_ns(calls));
            c.push(in_container());
        }
        // The kernel's own accounting, both attached during the same loop: ns per run of the
        // sensor's sys_enter (first on the tracepoint) and of the empty floor (what any
        // sys_enter hook pays; it costs the same wherever it runs).
        {
            let _stats = bench::enable_stats();
            let fl = Floor::attach(floor);
            let (k0, f0) = (kernel_stats(&sensor), fl.run_stats());
            in_container();
            let (k1, f1) = (kernel_stats(&sensor), fl.run_stats());
            enter_ns.push(per_run(&k0, &k1).0[0]);
            floor_ns.push(Floor::ns_per_run(f0, f1));
        }
        drop(sensor);
        if let Some(_bt) = Bpftrace::attach(cg.id()) {
            let _in = InCgroup::enter(&cg.dir);
            e.push(bench::getppid_ns(calls));
        }
        if let Some(_bt) = Bpftrace::same_work() {
            let _in = InCgroup::enter(&cg.dir);
            f.push(bench::getppid_ns(calls));
        }
    }
    // Every round's figure, in the JSON report: the spread says how far to trust a median.
    report["syscall_samples_ns"] = json!({"a": a, "b": b, "b_exit": bx, "g": g, "g_exit": gx, "c": c, "d": d, "e": e, "f": f,
        "kernel_sys_enter": enter_ns, "kernel_floor": floor_ns, "kernel_floor_task": task_ns});
    let (enter, floor_run, task_run) = (
        median(&mut enter_ns),
        median(&mut floor_ns),
        median(&mut task_ns),
    );
    let (a, b, bx, g, gx, c, d) = (
        median(&mut a),
        median(&mut b),
        median(&mut bx),
        median(&mut g),
        median(&mut gx),
        median(&mut c),
        median(&mut d),
    );
    let e = (!e.is_empty()).then(|| median(&mut e));
    let f = (!f.is_empty()).then(|| median(&mut f));
    println!("cost per getppid call (median of {rounds}, ns):");
    println!("  a. nothing attached                 {a:8.1}");
    println!("  b. empty raw_tp (the floor)         {b:8.1}");
    println!(
        "  b'. floor + an empty exit hook      {bx:8.1}   b'/b = {:.2}   (any call's exit hooked)",
        bx / b
    );
    println!(
        "  g. one call's own tracepoint only   {g:8.1}   (g-a)/(b-a) = {:.2}   (sys_enter_mount, nothing on sys_enter)",
        (g - a) / (b - a)
    );
    println!(
        "  g'. g + the same call's exit        {gx:8.1}   (g'-a)/(c-a) = {:.2}   (what a sensor on its flagged calls' own tracepoints would pay)",
        (gx - a) / (c - a)
    );
    println!(
        "  c. sensor, loop in a container      {c:8.1}   c/b = {:.2}   c/a = {:.2}",
        c / b,
        c / a
    );
    println!(
        "  d. sensor, loop on the host         {d:8.1}   d/b = {:.2}   d/a = {:.2}",
        d / b,
        d / a
    );
    println!(
        "      against b' (a floor that also hooks an exit): c/b' = {:.2}   d/b' = {:.2}",
        c / bx,
        d / bx
    );
    match e {
        Some(e) => println!(
            "  e. bpftrace, map by cgroup+syscall  {e:8.1}   c/e = {:.2}",
            c / e
        ),
        None => println!("  e. bpftrace                         (not available)"),
    }
    match f {
        Some(f) => println!(
            "  f. bpftrace doing the sensor's job  {f:8.1}   c/f = {:.2}",
            c / f
        ),
        None => println!("  f. bpftrace                         (not available)"),
    }
    println!("kernel ns per run (median of {rounds}; getppid in a container):");
    println!("  empty raw_tp (the floor)            {floor_run:8.1}");
    println!(
        "  floor + the task helper, alone      {task_run:8.1}   x{:.2} the floor",
        task_run / floor_run
    );
    println!(
        "  sensor's sys_enter                  {enter:8.1}   x{:.2} the floor",
        enter / floor_run
    );
    let start_ms = median(&mut start);
    println!("start to attached (median): {start_ms:.0} ms");
    report["syscall_ns"] = json!({"nothing": a, "floor_raw_tp": b, "floor_with_exit": bx, "one_call_tracepoint": g, "one_call_over_floor_cost": (g - a) / (b - a), "one_call_with_exit": gx, "one_call_with_exit_over_sensor_cost": (gx - a) / (c - a), "c_over_b_exit": c / bx, "d_over_b_exit": d / bx, "sensor_container": c, "sensor_host": d,
        "bpftrace": e, "bpftrace_same_work": f, "c_over_b": c / b, "d_over_b": d / b,
        "c_over_a": c / a, "d_over_a": d / a, "c_over_e": e.map(|e| c / e), "c_over_f": f.map(|f| c / f),
        "kernel_sys_enter_ns_per_run": enter, "kernel_floor_ns_per_run": floor_run,
        "kernel_floor_task_ns_per_run": task_run, "kernel_enter_over_floor": enter / floor_run});
    report["start_to_attached_ms"] = json!(start_ms);
}

/// 2. Flagged-event throughput to 1 and 10 subscribers; delivered + lost = produced.
async fn flagged_throughput(sensor: &Sensor, storm: u64) -> Value {
    let mut throughput = Vec::new();
    for subs in [1usize, 10] {
        let fl = BenchCgroup::new(subs as u32);
        let mut readers = Vec::new();
        for _ in 0..subs {
            let sub = bench::Counting::connect(
                &sensor.addr,
                bench::flagged_request(fl.id(), EventKind::FlaggedSyscall),
            )
            .await
            .expect("subscribe");
            readers.push(sub);
        }
        let t = Instant::now();
        let cpu_before = bench::cpu_us(sensor.pid());
        let tasks: Vec<_> = readers
            .into_iter()
            .map(|mut s| tokio::spawn(async move { s.tally(storm, Duration::from_secs(3)).await }))
            .collect();
        let dir = fl.dir.clone();
        let storm_time = tokio::task::spawn_blocking(move || {
            let _in = InCgroup::enter(&dir);
            bench::failing_umounts(storm)
        })
        .await
        .unwrap();
        let produced_per_s = storm as f64 / storm_time.as_secs_f64();
        let mut tallies = Vec::new();
        for task in tasks {
            tallies.push(task.await.unwrap());
        }
        // Delivery rate: from the storm's start to the first subscriber's last event (loss
        // notices come later, with the kernel counters' next poll).
        let secs = tallies[0]
            .last_event
            .map_or(t.elapsed(), |l| l.duration_since(t))
            .as_secs_f64();
        let cpu = bench::cpu_us(sensor.pid()) - cpu_before;
        let first = tallies[0];
        let delivered: u64 = tallies.iter().map(|t| t.delivered).sum();
        // What the sensor spent per event it handed to a subscriber (all subscribers summed).
        let cpu_per_delivered = cpu as f64 / delivered.max(1) as f64;
        // Per cgroup: deliveries plus the cgroup's own losses (from its summaries) plus this
        // subscriber's queue losses. (The node-wide notices also tell of other cgroups'
        // records the full ring dropped meanwhile.) A queue-loss notice counts every event
        // the queue lost, whatever its cgroup (the hub does not know a subscriber's filter),
        // so events of other cgroups published during the storm can only add to it: short
        // would be a silent loss, over is those.
        let all_accounted = tallies.iter().all(|t| t.accounted_here() >= storm);
        let over = tallies
            .iter()
            .map(|t| t.accounted_here().saturating_sub(storm))
            .max()
            .unwrap_or(0);
        for (i, t) in tallies.iter().enumerate() {
            if t.accounted_here() < storm {
                println!(
                    "  subscriber {i}: accounted {} of {storm} ({t:?})",
                    t.accounted_here()
                );
            }
        }
        println!(
            "flagged storm, {subs} subscriber(s): produced {storm} ({produced_per_s:.0}/s), delivered {} ({:.0}/s), lost: kernel {} (this cgroup's {}) queue {} other {}; delivered + this cgroup's reported losses >= produced, for every subscriber: {all_accounted} (over by up to {over}: other cgroups' events in queue-loss notices); sensor CPU {:.2} s, {cpu_per_delivered:.1} us per delivered event",
            first.delivered,
            first.delivered as f64 / secs,
            first.lost_kernel,
            first.lost_here,
            first.lost_queue,
            first.lost_other,
            cpu as f64 / 1e6,
        );
        throughput.push(json!({"subscribers": subs, "produced": storm, "delivered_first": first.delivered,
            "events_per_s": first.delivered as f64 / secs, "lost_kernel": first.lost_kernel, "lost_kernel_this_cgroup": first.lost_here,
            "lost_queue": first.lost_queue, "lost_other": first.lost_other, "all_accounted": all_accounted, "accounted_over": over, "produced_per_s": produced_per_s,
            "sensor_cpu_s": cpu as f64 / 1e6, "sensor_cpu_us_per_delivered": cpu_per_delivered}));
    }
    json!(throughput)
}

/// 3. Learning cost: events per million syscalls once a workload is learned.
async fn learning(sensor: &Sensor, calls: u64) -> Value {
    let learn = BenchCgroup::new(20);
    let mut sub = Subscriber::connect(
        &sensor.addr,
        bench::flagged_request(learn.id(), EventKind::SyscallSeen),
    )
    .await
    .expect("subscribe");
    {
        let _in = InCgroup::enter(&learn.dir);
        bench::getppid_ns(calls);
    }
    while sub.next_within(Duration::from_millis(500)).await.is_some() {}
    {
        let _in = InCgroup::enter(&learn.dir);
        bench::getppid_ns(calls);
    }
    let mut later = 0u64;
    while sub.next_within(Duration::from_millis(500)).await.is_some() {
        later += 1;
    }
    let per_million = later as f64 * 1e6 / calls as f64;
    println!(
        "learning: {later} events over {calls} syscalls of a learned loop ({per_million:.2} per million)"
    );
    json!(per_million)
}

/// 4. Exec storm: fork+exec of /bin/true, without and with the sensor.
async fn exec_storm(execs: u64) -> Value {
    let true_bin = if std::path::Path::new("/bin/true").exists() {
        "/bin/true"
    } else {
        "/usr/bin/true"
    };
    let ex = BenchCgroup::new(21);
    let run_execs = move |dir: PathBuf| {
        let t = Instant::now();
        for _ in 0..execs {
            let procs = dir.join("cgroup.procs");
            let mut cmd = std::process::Command::new(true_bin);
            bench::join_on_exec(&mut cmd, procs);
            cmd.status().expect("run true");
        }
        execs as f64 / t.elapsed().as_secs_f64()
    };
    let without = run_execs(ex.dir.clone());
    let sensor = Sensor::start(&["--no-cri"]).await;
    let mut sub = bench::Counting::connect(
        &sensor.addr,
        bench::flagged_request(ex.id(), EventKind::Exec),
    )
    .await
    .expect("subscribe");
    let dir = ex.dir.clone();
    let with = tokio::task::spawn_blocking(move || run_execs(dir))
        .await
        .unwrap();
    let got = sub.tally(execs, Duration::from_secs(3)).await;
    println!(
        "exec storm: {without:.0} execs/s without the sensor, {with:.0} with it; exec events {} of {execs} (lost: {})",
        got.delivered,
        got.accounted() - got.delivered
    );
    json!({"execs": execs, "per_s_without": without, "per_s_with": with, "delivered": got.delivered, "lost": got.accounted() - got.delivered})
}

/// 5. Footprint: idle, then with N watched cgroups, each with a process in it.
async fn footprint(cgroups: u32) -> Value {
    // No request rate limit: the check below asks for every cgroup's profile.
    let sensor = Sensor::start(&["--no-cri", "--max-requests-per-second", "0"]).await;
    let idle = bench::rss_kib(sensor.pid());
    let maps = bench::bpf_map_kib(sensor.pid());
    let t = Instant::now();
    let many: Vec<BenchCgroup> = (0..cgroups).map(|i| BenchCgroup::new(100 + i)).collect();
    let mut sleepers = Vec::new();
    for cg in &many {
        let procs = cg.dir.join("cgroup.procs");
        let mut cmd = std::process::Command::new("sleep");
        cmd.arg("600");
        bench::join_on_exec(&mut cmd, procs);
        sleepers.push(cmd.spawn().expect("spawn sleep"));
    }
    let started_s = t.elapsed().as_secs_f64();
    let mut api = SensorServiceClient::connect(sensor.addr.clone())
        .await
        .expect("connect");
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let n = api
            .list_containers(ListContainersRequest {})
            .await
            .map(|r| r.into_inner().containers.len())
            .unwrap_or(0);
        if n >= cgroups as usize || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let loaded = bench::rss_kib(sensor.pid());
    let maps_loaded = bench::bpf_map_kib(sensor.pid());
    // Learning is right for every one: each cgroup's profile has the sleep's own call.
    let mut learned = 0u32;
    for cg in &many {
        let p = api
            .get_profile(sensor_proto::v1::GetProfileRequest {
                cgroup_id: cg.id(),
                ..Default::default()
            })
            .await
            .map(|r| r.into_inner());
        if p.is_ok_and(|p| {
            p.syscalls
                .iter()
                .any(|s| s.containers > 0 && s.name.ends_with("nanosleep"))
        }) {
            learned += 1;
        }
    }
    println!(
        "footprint: RSS {:.1} MiB idle, {:.1} MiB with {cgroups} watched cgroups; BPF maps {:.1} MiB \
         ({:.1} MiB then); {learned} of {cgroups} profiles hold the sleep's nanosleep; \
         {cgroups} cgroups made and joined in {started_s:.1} s",
        idle as f64 / 1024.0,
        loaded as f64 / 1024.0,
        maps as f64 / 1024.0,
        maps_loaded as f64 / 1024.0,
    );
    for mut s in sleepers {
        let _ = s.kill();
        let _ = s.wait();
    }
    drop(many);
    drop(sensor);
    json!({"rss_idle_kib": idle, "rss_loaded_kib": loaded, "cgroups": cgroups, "bpf_maps_kib": maps,
           "bpf_maps_loaded_kib": maps_loaded, "profiles_learned": learned})
}

fn print_reader(r: &Value) {
    println!("event latency, kernel to subscriber (ms), while the sensor...");
    let quiet = r["quiet"]["p99_ms"].as_f64().unwrap_or(f64::NAN);
    for (name, what) in [
        ("quiet", "does nothing else      "),
        ("policy_reloads", "reloads its policy 50/s"),
        ("cgroup_rescans", "rescans the cgroup tree"),
    ] {
        let s = &r[name];
        let p99 = s["p99_ms"].as_f64().unwrap_or(f64::NAN);
        println!(
            "  {what}  p50 {:6.2}  p99 {:6.2}  max {:6.2}  (n={}, p99 x{:.2} of quiet)",
            s["p50_ms"].as_f64().unwrap_or(f64::NAN),
            p99,
            s["max_ms"].as_f64().unwrap_or(f64::NAN),
            s["n"],
            p99 / quiet
        );
    }
    println!(
        "  ({} reloads and {} rescans happened meanwhile)",
        r["policy_reloads"]["reloads"], r["cgroup_rescans"]["rescans"]
    );
}

fn humantime_now() -> Value {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    json!(secs)
}

/// The ways each real workload runs, in one run.
const WAYS: [&str; 4] = ["nothing", "floor", "sensor", "bpftrace"];

/// Each of the sensor's programs' kernel time and runs so far, from its metrics.
fn kernel_stats(sensor: &Sensor) -> Vec<(&'static str, u64, u64)> {
    let get = |what: &str, p: &str| sensor.metric(&format!("{what}{{program=\"{p}\"}}"));
    sensor_common::PROGRAMS
        .iter()
        .map(|p| {
            (
                p.name,
                get("sensor_program_run_nanoseconds_total", p.name),
                get("sensor_program_runs_total", p.name),
            )
        })
        .collect()
}

/// The programs whose ns per run the bench prints: every syscall's, and a process's life.
const PER_RUN: [&str; 4] = [
    "sys_enter",
    "sched_process_fork",
    "sched_process_exec",
    "sched_process_exit",
];

/// ns per run of each of [`PER_RUN`] between two [`kernel_stats`], and all programs' ms.
fn per_run(before: &[(&str, u64, u64)], after: &[(&str, u64, u64)]) -> ([f64; 4], f64) {
    let diff = |name: &str| {
        let at = |s: &[(&str, u64, u64)]| {
            s.iter()
                .find(|(n, ..)| *n == name)
                .map_or((0, 0), |&(_, ns, runs)| (ns, runs))
        };
        let ((ns0, r0), (ns1, r1)) = (at(before), at(after));
        (ns1 - ns0, r1 - r0)
    };
    let ns = PER_RUN.map(|p| {
        let (ns, runs) = diff(p);
        ns as f64 / runs.max(1) as f64
    });
    let all: u64 = after.iter().map(|(n, ..)| diff(n).0).sum();
    (ns, all as f64 / 1e6)
}

/// Real services, four ways (nothing attached, the floor, the sensor with a subscriber, the
/// bpftrace peer), the order of the ways rotating each round.
async fn real_workloads(floor: &std::path::Path, rounds: usize, sizes: Sizes) -> Value {
    let cg = BenchCgroup::new(2);
    let services = Services::new(&cg.dir, sizes);
    let _stats = bench::enable_stats();
    let mut values: std::collections::BTreeMap<(&str, &str), Vec<f64>> = Default::default();
    let mut p99: std::collections::BTreeMap<(&str, &str), Vec<f64>> = Default::default();
    let mut costs = SensorCosts::default();
    // The floor's ns per run.
    let mut floor_ns: std::collections::BTreeMap<&str, Vec<f64>> = Default::default();
    let mut record = |w: Workload, way: &'static str, f: sensor_tests::services::Figure| {
        values.entry((w.key(), way)).or_default().push(f.value);
        if let Some(p) = f.p99_ms {
            p99.entry((w.key(), way)).or_default().push(p);
        }
    };
    // Once each, unrecorded: the first run pays for cold caches.
    for w in Workload::ALL {
        let _ = services.run(w);
    }
    for round in 0..rounds {
        for k in 0..WAYS.len() {
            let way = WAYS[(round + k) % WAYS.len()];
            match way {
                "nothing" => Workload::ALL
                    .into_iter()
                    .for_each(|w| record(w, way, services.run(w))),
                "floor" => {
                    let fl = Floor::attach(floor);
                    for w in Workload::ALL {
                        let before = fl.run_stats();
                        record(w, way, services.run(w));
                        floor_ns
                            .entry(w.key())
                            .or_default()
                            .push(Floor::ns_per_run(before, fl.run_stats()));
                    }
                }
                "sensor" => {
                    let sensor = Sensor::start(&["--no-cri"]).await;
                    let mut sub = Subscriber::connect(&sensor.addr, Default::default())
                        .await
                        .expect("subscribe");
                    let drain = tokio::spawn(async move {
                        while sub.next_within(Duration::from_secs(3600)).await.is_some() {}
                    });
                    bench::wait_idle(sensor.pid(), Duration::from_secs(5)).await;
                    for w in Workload::ALL {
                        let (cpu0, k0, t0) = (
                            bench::cpu_us(sensor.pid()),
                            kernel_stats(&sensor),
                            Instant::now(),
                        );
                        let f = tokio::task::block_in_place(|| services.run(w));
                        let (cpu1, k1, wall) = (
                            bench::cpu_us(sensor.pid()),
                            kernel_stats(&sensor),
                            t0.elapsed(),
                        );
                        let (ns, all_ms) = per_run(&k0, &k1);
                        record(w, way, f);
                        costs
                            .daemon_cpu
                            .entry(w.key())
                            .or_default()
                            .push((cpu1 - cpu0) as f64 / wall.as_micros().max(1) as f64 * 100.0);
                        costs.enter_ns.entry(w.key()).or_default().push(ns[0]);
                        for (m, ns) in costs.process_ns.iter_mut().zip(&ns[1..]) {
                            m.entry(w.key()).or_default().push(*ns);
                        }
                        costs.kernel_ms.entry(w.key()).or_default().push(all_ms);
                    }
                    drain.abort();
                }
                _ => {
                    let Some(_bt) = Bpftrace::same_work() else {
                        continue;
                    };
                    Workload::ALL
                        .into_iter()
                        .for_each(|w| record(w, way, services.run(w)));
                }
            }
        }
    }
    print_workloads(rounds, &mut values, &mut p99, &mut costs, &mut floor_ns)
}

type Samples<'a> = std::collections::BTreeMap<&'a str, Vec<f64>>;

/// What the sensor cost in each round, by workload: its daemon's CPU (% of one CPU), its
/// `sys_enter`'s ns per run, fork's, exec's and exit's, and all its programs' ms.
#[derive(Default)]
struct SensorCosts<'a> {
    daemon_cpu: Samples<'a>,
    enter_ns: Samples<'a>,
    process_ns: [Samples<'a>; 3],
    kernel_ms: Samples<'a>,
}

fn print_workloads(
    rounds: usize,
    values: &mut std::collections::BTreeMap<(&str, &str), Vec<f64>>,
    p99: &mut std::collections::BTreeMap<(&str, &str), Vec<f64>>,
    costs: &mut SensorCosts<'_>,
    floor_ns: &mut Samples<'_>,
) -> Value {
    println!("real workloads (median of {rounds} rounds; loss against nothing attached, %):");
    println!(
        "  {:<32} {:>10} {:>7} {:>7} {:>7} {:>8} {:>7} {:>8} {:>9} {:>9}",
        "workload",
        "nothing",
        "floor",
        "sensor",
        "bpftr.",
        "s-f (pp)",
        "spread",
        "cpu %",
        "enter ns",
        "floor ns"
    );
    let mut out = json!({"rounds": rounds});
    for w in Workload::ALL {
        let med = |m: &mut std::collections::BTreeMap<(&str, &str), Vec<f64>>, way| {
            m.get_mut(&(w.key(), way))
                .filter(|v| !v.is_empty())
                .map(|v| median(v))
        };
        let Some(base) = med(values, "nothing") else {
            continue;
        };
        let loss = |v: Option<f64>| {
            v.map(|v| {
                if w.higher_is_better() {
                    (base - v) / base * 100.0
                } else {
                    (v - base) / base * 100.0
                }
            })
        };
        let (fl, se, bt) = (
            loss(med(values, "floor")),
            loss(med(values, "sensor")),
            loss(med(values, "bpftrace")),
        );
        // The spread of the rounds with nothing attached: the noise any difference sits in.
        let spread = values.get(&(w.key(), "nothing")).map(|v| {
            let (lo, hi) = v
                .iter()
                .fold((f64::MAX, f64::MIN), |(lo, hi), x| (lo.min(*x), hi.max(*x)));
            (hi - lo) / base * 100.0
        });
        let one = |m: &mut Samples<'_>| {
            m.get_mut(w.key())
                .filter(|v| !v.is_empty())
                .map(|v| median(v))
        };
        let (cpu, ns, kms, fns) = (
            one(&mut costs.daemon_cpu),
            one(&mut costs.enter_ns),
            one(&mut costs.kernel_ms),
            one(floor_ns),
        );
        let [fork, exec, exit] = costs.process_ns.each_mut().map(one);
        let f = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{v:.1}"));
        println!(
            "  {:<32} {:>10.1} {:>7} {:>7} {:>7} {:>8} {:>7} {:>8} {:>9} {:>9}",
            w.name(),
            base,
            f(fl),
            f(se),
            f(bt),
            f(se.zip(fl).map(|(s, f)| s - f)),
            f(spread),
            f(cpu),
            f(ns),
            f(fns)
        );
        println!(
            "  {:<32} kernel ns per run: fork {} exec {} exit {}",
            "",
            f(fork),
            f(exec),
            f(exit)
        );
        if w.higher_is_better() {
            println!(
                "  {:<32} p99 ms: nothing {} floor {} sensor {} bpftrace {}",
                "",
                f(med(p99, "nothing")),
                f(med(p99, "floor")),
                f(med(p99, "sensor")),
                f(med(p99, "bpftrace"))
            );
        }
        out[w.key()] = json!({
            "nothing": base, "loss_pct": {"floor": fl, "sensor": se, "bpftrace": bt},
            "sensor_minus_floor_pp": se.zip(fl).map(|(s, f)| s - f), "spread_pct": spread,
            "p99_ms": {"nothing": med(p99, "nothing"), "floor": med(p99, "floor"),
                       "sensor": med(p99, "sensor"), "bpftrace": med(p99, "bpftrace")},
            "daemon_cpu_pct": cpu, "sys_enter_ns_per_run": ns, "floor_ns_per_run": fns,
            "process_ns_per_run": {"fork": fork, "exec": exec, "exit": exit},
            "kernel_ms_all_programs": kms,
            "samples": {"nothing": values.get(&(w.key(), "nothing")), "floor": values.get(&(w.key(), "floor")),
                        "sensor": values.get(&(w.key(), "sensor")), "bpftrace": values.get(&(w.key(), "bpftrace"))},
        });
    }
    out
}
