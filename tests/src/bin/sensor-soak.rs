//! `cargo xtask soak --minutes N`: the sensor under a mixed workload for N minutes while
//! subscribers join and leave. Every subscriber's account must add up (each sequence number of
//! its window received or announced lost); the sensor's totals must cover the workload
//! (published + kernel-lost flagged calls >= those the workload made; the rest are other
//! processes'). Prints RSS over time. Exits 1 if anything does not add up.
use std::time::{Duration, Instant};

use sensor_proto::v1::{
    GetEventsRequest, LossReason, StatusRequest, get_events_response::Item,
    sensor_service_client::SensorServiceClient,
};
use sensor_tests::{bench::rss_kib, cgroup::TestCgroup, sensor::Sensor, subscriber::Subscriber};

/// One subscriber's account of its window.
#[derive(Debug, Default)]
struct Account {
    received: u64,
    lost_queue: u64,
    lost_kernel: u64,
    first: u64,
    last: u64,
    /// A gap that no loss notice announced.
    unannounced: u64,
}

/// Reads for `for_how_long`, checking that every seq is received or announced lost.
async fn subscribe(addr: String, for_how_long: Duration) -> Account {
    let mut sub = Subscriber::connect(&addr, GetEventsRequest::default())
        .await
        .expect("subscribe");
    let mut a = Account::default();
    let mut pending_lost = 0u64;
    let deadline = Instant::now() + for_how_long;
    while Instant::now() < deadline {
        let Some(msg) = sub.next_within(Duration::from_secs(1)).await else {
            continue;
        };
        match msg.item {
            Some(Item::Event(ev)) => {
                let seq = ev.header.map_or(0, |h| h.seq);
                if a.first == 0 {
                    a.first = seq;
                } else if seq != a.last + 1 + pending_lost {
                    a.unannounced += seq.saturating_sub(a.last + 1 + pending_lost);
                }
                pending_lost = 0;
                a.last = seq;
                a.received += 1;
            }
            Some(Item::Lost(l)) if l.reason == LossReason::KernelRingBuffer as i32 => {
                a.lost_kernel += l.count;
            }
            Some(Item::Lost(l)) => {
                if a.first != 0 {
                    pending_lost += l.count;
                }
                a.lost_queue += l.count;
            }
            None => {}
        }
    }
    a
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let minutes: u64 = std::env::args()
        .skip_while(|a| a != "--minutes")
        .nth(1)
        .and_then(|m| m.parse().ok())
        .unwrap_or(10);
    let trigger =
        std::env::var("SENSOR_TRIGGER").expect("SENSOR_TRIGGER (set by cargo xtask soak)");
    let sensor = Sensor::start(&["--no-cri", "--subscriber-queue", "4096"]).await;
    let start = Instant::now();
    let end = start + Duration::from_secs(minutes * 60);
    println!("soak: {minutes} min; RSS of the sensor every 30 s (KiB)");

    // The workload: cgroups that come and go, each with forbidden calls and an exec.
    let work = tokio::task::spawn_blocking(move || {
        let parent = TestCgroup::new("soak");
        let mut produced_flagged = 0u64;
        let mut n = 0u64;
        while Instant::now() < end {
            let cg = parent.child(&format!("w{n}"));
            for args in [
                &["umount-storm", "50", "10"][..],
                &["exec", "/bin/true"][..],
            ] {
                let ok = std::process::Command::new(&trigger)
                    .arg(cg.path())
                    .args(args)
                    .status()
                    .is_ok_and(|s| s.success());
                assert!(ok, "the workload failed: {args:?}");
            }
            produced_flagged += 50;
            drop(cg);
            n += 1;
        }
        (n, produced_flagged)
    });

    // Subscribers join and leave: a new one every 20 s, each staying 10-70 s.
    let mut subs = Vec::new();
    let mut next_rss = start;
    let mut k = 0u64;
    while Instant::now() < end {
        if Instant::now() >= next_rss {
            println!(
                "  t={:>4} s  rss={}",
                start.elapsed().as_secs(),
                rss_kib(sensor.pid())
            );
            next_rss += Duration::from_secs(30);
        }
        let stay = Duration::from_secs(10 + (k * 17) % 60);
        subs.push(tokio::spawn(subscribe(sensor.addr.clone(), stay)));
        k += 1;
        tokio::time::sleep(
            Duration::from_secs(20).min(end.saturating_duration_since(Instant::now())),
        )
        .await;
    }
    let (cgroups, produced_flagged) = work.await.expect("workload");
    let mut ok = true;
    let (mut delivered, mut lost) = (0u64, 0u64);
    for (i, s) in subs.into_iter().enumerate() {
        let a = s.await.expect("subscriber");
        let window = if a.first == 0 {
            0
        } else {
            a.last - a.first + 1
        };
        let adds_up = a.unannounced == 0 && a.received + a.lost_queue >= window;
        ok &= adds_up;
        delivered += a.received;
        lost += a.lost_queue + a.lost_kernel;
        println!(
            "  subscriber {i:>2}: received {:>8}, lost {:>7} (queue) {:>6} (kernel), seq {}..{}, unannounced gaps {}: {}",
            a.received,
            a.lost_queue,
            a.lost_kernel,
            a.first,
            a.last,
            a.unannounced,
            if adds_up {
                "adds up"
            } else {
                "DOES NOT ADD UP"
            }
        );
    }
    let mut api = SensorServiceClient::connect(sensor.addr.clone())
        .await
        .expect("client");
    let status = api
        .status(StatusRequest {})
        .await
        .expect("Status")
        .into_inner();
    let c = |k: &str| status.counters.get(k).copied().unwrap_or(0);
    let published_flagged = c("sensor_events_total{kind=flagged_syscall}");
    let kernel_lost_flagged = c("sensor_kernel_total{counter=ringbuf_full_flagged}");
    // The node's other processes may make a few flagged calls of their own meanwhile.
    let seen = published_flagged + kernel_lost_flagged;
    let totals = seen >= produced_flagged;
    ok &= totals;
    println!(
        "workload: {cgroups} cgroups, {produced_flagged} flagged calls produced; sensor: {published_flagged} published + {kernel_lost_flagged} lost in the kernel ({} from other processes): {}",
        seen.saturating_sub(produced_flagged),
        if totals { "adds up" } else { "DOES NOT ADD UP" }
    );
    println!(
        "subscribers: {delivered} events delivered, {lost} reported lost; events published {}; RSS at the end {} KiB",
        status.last_seq,
        rss_kib(sensor.pid())
    );
    drop(sensor);
    std::process::exit(if ok { 0 } else { 1 });
}
