//! The cost per syscall (the bench's first section): the sensor against nothing attached,
//! the floor and its variants (an exit hook, one call's own tracepoints) and the bpftrace
//! peers; and the kernel's own accounting of each program's run time.
use std::time::{Duration, Instant};

use sensor_tests::{
    bench::{self, Bpftrace, Floor, InCgroup},
    sensor::Sensor,
};
use serde_json::{Value, json};

use crate::{BenchCgroup, median};

/// 1. Cost per syscall, interleaved rounds (after one warm-up loop).
pub(crate) async fn cost_per_syscall(
    report: &mut Value,
    floor: &std::path::Path,
    rounds: usize,
    calls: u64,
) {
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

/// Each of the sensor's programs' kernel time and runs so far, from its metrics.
pub(crate) fn kernel_stats(sensor: &Sensor) -> Vec<(&'static str, u64, u64)> {
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
pub(crate) fn per_run(before: &[(&str, u64, u64)], after: &[(&str, u64, u64)]) -> ([f64; 4], f64) {
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
