//! A runc container's workload watched from its start to its end: a subscriber to its
//! cgroup (Exec and Exit always among the kinds), the container started, and its shell's
//! exec awaited; then [`Started::finish`] awaits the shell's exit and the container's output.
use sensor_proto::v1::{self as pb, EventKind, GetEventsRequest, event::Body};

use crate::{
    runc::Container,
    sensor::Sensor,
    subscriber::{Subscriber, exec, header},
};

pub struct Started {
    pub sub: Subscriber,
    child: std::process::Child,
    sh_pid: u32,
}

impl Started {
    /// Subscribes to `kinds` (plus Exec and Exit) of `c`'s cgroup, starts `c`, and returns once
    /// its `/bin/sh` exec has arrived (so the sensor has judged it).
    pub async fn start(sensor: &Sensor, c: &Container, kinds: &[EventKind]) -> Self {
        let mut kinds: Vec<i32> = kinds.iter().map(|k| *k as i32).collect();
        kinds.extend([EventKind::Exec as i32, EventKind::Exit as i32]);
        let mut sub = Subscriber::connect(
            &sensor.addr,
            GetEventsRequest {
                kinds,
                cgroup_ids: vec![c.cgroup_id()],
                ..Default::default()
            },
        )
        .await
        .expect("subscribe");
        let child = c.spawn_piped();
        let sh = sub
            .expect_event("the workload's exec", |ev| {
                exec(ev).is_some_and(|e| e.filename == b"/bin/sh")
            })
            .await;
        Self {
            sub,
            child,
            sh_pid: header(&sh).pid,
        }
    }

    /// Awaits the shell's exit (every event of the workload came before it) and the
    /// container's output; gives the output and every event received.
    pub async fn finish(mut self) -> (std::process::Output, Vec<pb::Event>) {
        let sh_pid = self.sh_pid;
        self.sub
            .expect_event("the workload's exit", |ev| {
                matches!(&ev.body, Some(Body::Exit(_))) && header(ev).pid == sh_pid
            })
            .await;
        let child = self.child;
        let out = tokio::task::spawn_blocking(move || child.wait_with_output())
            .await
            .unwrap()
            .expect("runc run");
        (out, self.sub.events().cloned().collect())
    }
}
