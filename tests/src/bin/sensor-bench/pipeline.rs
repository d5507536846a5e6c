//! What the sensor's own pipeline carries and holds (the bench's sections 2 to 5, and the
//! reader's): flagged events to 1 and 10 subscribers, learning, the exec storm, memory at
//! scale, and event latency.
use std::{
    path::Path,
    time::{Duration, Instant},
};

use sensor_proto::v1::{
    EventKind, ListContainersRequest, sensor_service_client::SensorServiceClient,
};
use sensor_tests::{
    bench::{self, InCgroup},
    sensor::Sensor,
    subscriber::Subscriber,
};
use serde_json::{Value, json};

use crate::{BenchCgroup, median};

/// One storm's figures, for one subscriber count.
struct StormRound {
    delivered_per_s: f64,
    cpu_us_per_delivered: f64,
    report: Value,
    all_accounted: bool,
}

/// Section 2, flagged-event throughput to 1 and 10 subscribers, `rounds` storms each, with their
/// medians and spread; in every one, what was delivered and what was lost is what was made.
pub(crate) async fn flagged_throughput(sensor: &Sensor, storm: u64, rounds: usize) -> Value {
    let mut throughput = Vec::new();
    for subs in [1usize, 10] {
        let mut runs = Vec::new();
        for _ in 0..rounds {
            runs.push(storm_round(sensor, subs, storm).await);
        }
        let mut rate: Vec<f64> = runs.iter().map(|r| r.delivered_per_s).collect();
        let mut cpu: Vec<f64> = runs.iter().map(|r| r.cpu_us_per_delivered).collect();
        let (rate_med, cpu_med) = (median(&mut rate), median(&mut cpu));
        let all_accounted = runs.iter().all(|r| r.all_accounted);
        println!(
            "flagged storm, {subs} subscriber(s), {rounds} round(s): median {rate_med:.0} events/s delivered to the first ({:.0}-{:.0}); sensor CPU median {cpu_med:.2} us per delivered event ({:.2}-{:.2}); every loss accounted in every round: {all_accounted}",
            rate[0],
            rate[rate.len() - 1],
            cpu[0],
            cpu[cpu.len() - 1],
        );
        throughput.push(json!({"subscribers": subs, "rounds": runs.iter().map(|r| r.report.clone()).collect::<Vec<_>>(),
            "events_per_s": rate_med, "sensor_cpu_us_per_delivered": cpu_med, "all_accounted": all_accounted}));
    }
    json!(throughput)
}

/// One storm of `storm` failing umount2 calls in a fresh cgroup, `subs` subscribers to it.
async fn storm_round(sensor: &Sensor, subs: usize, storm: u64) -> StormRound {
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
    let cpu_before = bench::ThreadCpu::of(sensor.pid());
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
    // The scheduler's exact sum over the daemon's threads (ticks would be 10 ms steps of
    // a ~0.15 s figure).
    let cpu = bench::ThreadCpu::of(sensor.pid()).since(&cpu_before);
    let first = tallies[0];
    let delivered: u64 = tallies.iter().map(|t| t.delivered).sum();
    // What the sensor spent per event it handed to a subscriber (all subscribers summed).
    let cpu_per_delivered = cpu.as_secs_f64() * 1e6 / delivered.max(1) as f64;
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
    let delivered_per_s = first.delivered as f64 / secs;
    println!(
        "flagged storm, {subs} subscriber(s): produced {storm} ({produced_per_s:.0}/s), delivered {} ({delivered_per_s:.0}/s), lost: kernel {} (this cgroup's {}) queue {} other {}; delivered + this cgroup's reported losses >= produced, for every subscriber: {all_accounted} (over by up to {over}: other cgroups' events in queue-loss notices); sensor CPU {:.3} s, {cpu_per_delivered:.2} us per delivered event",
        first.delivered,
        first.lost_kernel,
        first.lost_here,
        first.lost_queue,
        first.lost_other,
        cpu.as_secs_f64(),
    );
    let report = json!({"subscribers": subs, "produced": storm, "delivered_first": first.delivered,
        "events_per_s": delivered_per_s, "lost_kernel": first.lost_kernel, "lost_kernel_this_cgroup": first.lost_here,
        "lost_queue": first.lost_queue, "lost_other": first.lost_other, "all_accounted": all_accounted, "accounted_over": over, "produced_per_s": produced_per_s,
        "sensor_cpu_s": cpu.as_secs_f64(), "sensor_cpu_us_per_delivered": cpu_per_delivered});
    StormRound {
        delivered_per_s,
        cpu_us_per_delivered: cpu_per_delivered,
        report,
        all_accounted,
    }
}

/// 3. Learning cost: events per million syscalls once a workload is learned.
pub(crate) async fn learning(sensor: &Sensor, calls: u64) -> Value {
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

/// The `--process-event-delay-ms` values the exec storm also runs with, beside the default:
/// the daemon's CPU at each shows what the delay trades.
const OTHER_DELAYS_MS: [&str; 2] = ["50", "250"];

/// Section 4, the exec storm: fork+exec of /bin/true without and with the sensor (one
/// subscriber to the exec events), in `rounds` rounds whose order rotates, `execs` each way
/// a round; with the sensor at the default process-event delay and at each of
/// `OTHER_DELAYS_MS`, for the daemon's CPU at each.
pub(crate) async fn exec_storm(execs: u64, rounds: usize) -> Value {
    let ex = BenchCgroup::new(21);
    let delays: Vec<Option<&str>> = std::iter::once(None)
        .chain(OTHER_DELAYS_MS.map(Some))
        .collect();
    let ways = delays.len() + 1;
    let mut without = vec![];
    // Per delay (as in `delays`): execs/s and the daemon's CPU, a sample a round.
    let mut rates = vec![vec![]; delays.len()];
    let mut cpus = vec![vec![]; delays.len()];
    let (mut delivered, mut lost) = (0, 0);
    for round in 0..rounds {
        for k in 0..ways {
            match (round + k) % ways {
                0 => without.push(run_execs(&ex.dir, execs)),
                i => {
                    let run = with_sensor(&ex, execs, delays[i - 1]).await;
                    delivered += run.delivered;
                    lost += run.lost;
                    rates[i - 1].push(run.rate);
                    cpus[i - 1].push(run.cpu_pct);
                }
            }
        }
    }
    let loss: Vec<f64> = (0..rounds)
        .map(|r| 100.0 * (1.0 - rates[0][r] / without[r]))
        .collect();
    let samples = json!({"without": without, "with": rates[0], "loss_pct": loss,
                         "daemon_cpu_pct": cpus[0]});
    let spread = |v: &[f64], digits: usize| {
        let (lo, hi) = v
            .iter()
            .fold((f64::MAX, f64::MIN), |(l, h), x| (l.min(*x), h.max(*x)));
        format!("{lo:.digits$}-{hi:.digits$}")
    };
    let by_delay: Vec<Value> = delays
        .iter()
        .zip(rates.iter_mut().zip(cpus.iter_mut()))
        .map(|(d, (r, c))| {
            let ms = d.map_or(sensor_common::LAZY_WAKE_NS_DEFAULT / 1_000_000, |d| {
                d.parse().unwrap()
            });
            json!({"delay_ms": ms, "default": d.is_none(), "cpu_spread": spread(c, 2),
                   "per_s_with": median(r), "daemon_cpu_pct": median(c), "cpu_samples": c})
        })
        .collect();
    let (spread_without, spread_with, spread_loss) =
        (spread(&without, 0), spread(&rates[0], 0), spread(&loss, 0));
    let (without, with, loss) = (
        median(&mut without),
        median(&mut rates[0]),
        median(&mut loss.clone()),
    );
    let total = execs * delays.len() as u64 * rounds as u64;
    println!(
        "exec storm ({rounds} rounds of {execs}, medians): {without:.0} execs/s without the sensor \
         ({spread_without}), {with:.0} with it ({spread_with}); loss {loss:.1}% (paired per \
         round, {spread_loss}%); exec events {delivered} of {total} (lost: {lost})"
    );
    for d in &by_delay {
        println!(
            "  daemon CPU at --process-event-delay-ms {}{}: {:.2}% of a CPU ({}), {:.0} execs/s",
            d["delay_ms"],
            if d["default"] == true {
                " (default)"
            } else {
                ""
            },
            d["daemon_cpu_pct"].as_f64().unwrap(),
            d["cpu_spread"].as_str().unwrap(),
            d["per_s_with"].as_f64().unwrap(),
        );
    }
    json!({"execs": execs, "rounds": rounds, "per_s_without": without, "per_s_with": with,
           "loss_pct": loss, "delivered": delivered, "lost": lost,
           "daemon_cpu_pct": by_delay[0]["daemon_cpu_pct"], "by_delay": by_delay,
           "samples": samples})
}

/// `execs` fork+execs of /bin/true in the cgroup `dir`, one after the other: execs per second.
fn run_execs(dir: &Path, execs: u64) -> f64 {
    let true_bin = if std::path::Path::new("/bin/true").exists() {
        "/bin/true"
    } else {
        "/usr/bin/true"
    };
    let t = Instant::now();
    for _ in 0..execs {
        let mut cmd = std::process::Command::new(true_bin);
        bench::join_on_exec(&mut cmd, dir.join("cgroup.procs"));
        cmd.status().expect("run true");
    }
    execs as f64 / t.elapsed().as_secs_f64()
}

/// One exec loop with a sensor (at process-event delay `delay`, else the default) and one
/// subscriber to the loop's exec events.
struct SensorRun {
    rate: f64,
    /// The daemon's CPU from the loop's start until every event was accounted for, as % of
    /// one CPU over the loop's wall time.
    cpu_pct: f64,
    delivered: u64,
    lost: u64,
}

async fn with_sensor(ex: &BenchCgroup, execs: u64, delay: Option<&str>) -> SensorRun {
    let mut args = vec!["--no-cri"];
    if let Some(ms) = delay {
        args.extend(["--process-event-delay-ms", ms]);
    }
    let sensor = Sensor::start(&args).await;
    let mut sub = bench::Counting::connect(
        &sensor.addr,
        bench::flagged_request(ex.id(), EventKind::Exec),
    )
    .await
    .expect("subscribe");
    // Its start-up work (the /proc scan) would compete with the loop for the two cores.
    bench::wait_idle(sensor.pid(), Duration::from_secs(5)).await;
    let (cpu0, t0) = (bench::ThreadCpu::of(sensor.pid()), Instant::now());
    let dir = ex.dir.clone();
    let rate = tokio::task::spawn_blocking(move || run_execs(&dir, execs))
        .await
        .unwrap();
    let wall = t0.elapsed();
    let got = sub.tally(execs, Duration::from_secs(3)).await;
    let cpu = bench::ThreadCpu::of(sensor.pid()).since(&cpu0);
    let cpu_pct = 100.0 * cpu.as_secs_f64() / wall.as_secs_f64();
    SensorRun {
        rate,
        cpu_pct,
        delivered: got.delivered,
        lost: got.accounted() - got.delivered,
    }
}

/// 5. Footprint: idle, then with N watched cgroups, each with a process in it.
pub(crate) async fn footprint(cgroups: u32) -> Value {
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

pub(crate) fn print_reader(r: &Value) {
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
