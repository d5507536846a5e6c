//! Real workloads four ways (nothing attached, the floor, the sensor, the bpftrace peer), and
//! the quality of the profiles learned from six real programs.
use std::time::{Duration, Instant};

use sensor_tests::{
    bench::{self, Bpftrace, Floor},
    sensor::Sensor,
    services::{Bench as Services, Sizes, Workload},
    subscriber::Subscriber,
};
use serde_json::{Value, json};

use crate::{
    BenchCgroup, median,
    syscall::{kernel_stats, per_run},
};

/// The ways each real workload runs, in one run.
const WAYS: [&str; 4] = ["nothing", "floor", "sensor", "bpftrace"];

/// Real services, four ways (nothing attached, the floor, the sensor with a subscriber, the
/// bpftrace peer), the order of the ways rotating each round.
pub(crate) async fn real_workloads(floor: &std::path::Path, rounds: usize, sizes: Sizes) -> Value {
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
                            bench::ThreadCpu::of(sensor.pid()),
                            kernel_stats(&sensor),
                            Instant::now(),
                        );
                        let f = tokio::task::block_in_place(|| services.run(w));
                        let (cpu1, k1, wall) = (
                            bench::ThreadCpu::of(sensor.pid()),
                            kernel_stats(&sensor),
                            t0.elapsed(),
                        );
                        let (ns, all_ms) = per_run(&k0, &k1);
                        record(w, way, f);
                        costs
                            .daemon_cpu
                            .entry(w.key())
                            .or_default()
                            .push(100.0 * cpu1.since(&cpu0).as_secs_f64() / wall.as_secs_f64());
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

/// Six real programs, each learned, profiled through the API and run again under its profile.
pub(crate) async fn profile_quality() -> Value {
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
