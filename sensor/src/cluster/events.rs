//! `sensor cluster events`: one subscription per sensor, merged into one stream. Each node
//! is followed on its own: when its stream breaks it is announced, retried with backoff, and
//! resumed after the last event received (the sensor replays what its buffer still holds; what
//! it no longer holds comes as a loss notice). A sensor that restarted has a new instance id:
//! that is announced too, since what the old run sent after the last event received is gone.
use std::{io::Write as _, time::Duration};

use anyhow::Context as _;
use sensor_proto::v1::{GetEventsRequest, GetEventsResponse, StatusRequest, get_events_response};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::Node;
use crate::{client, render};

/// What one node's follower reports.
#[derive(Debug)]
enum Out {
    Message(Box<GetEventsResponse>),
    /// Subscribed: to `instance`, resuming after `after` (None: live).
    Connected {
        instance: String,
        after: Option<u64>,
    },
    /// Events may be missing from here on: why.
    Gap(String),
}

/// Follows every node until stdout closes or every follower ends (never, on its own).
pub async fn run(nodes: Vec<Node>, request: GetEventsRequest, json: bool) -> anyhow::Result<()> {
    let (tx, mut rx) = mpsc::channel::<(String, Out)>(4096);
    for node in nodes {
        tokio::spawn(follow(node, request.clone(), tx.clone()));
    }
    drop(tx);
    let mut out = std::io::stdout().lock();
    while let Some((node, item)) = rx.recv().await {
        let line = if json {
            to_json(&node, &item).to_string()
        } else {
            to_line(&node, &item)
        };
        if writeln!(out, "{line}").and_then(|()| out.flush()).is_err() {
            return Ok(()); // stdout closed (e.g. `| head`)
        }
    }
    Ok(())
}

fn to_json(node: &str, item: &Out) -> Value {
    match item {
        Out::Message(m) => {
            let mut v = render::json(m);
            if let Some(o) = v.as_object_mut() {
                o.insert("sensor".into(), json!(node));
            }
            v
        }
        Out::Connected { instance, after } => {
            json!({"sensor": node, "connected": {"instance": instance, "resumed_after": after}})
        }
        Out::Gap(why) => json!({"sensor": node, "gap": why}),
    }
}

fn to_line(node: &str, item: &Out) -> String {
    match item {
        Out::Message(m) => format!("[{node}] {}", render::line(m)),
        Out::Connected {
            instance,
            after: None,
        } => format!("[{node}] CONNECTED instance {instance}, live"),
        Out::Connected {
            instance,
            after: Some(n),
        } => format!("[{node}] CONNECTED instance {instance}, resuming after #{n}"),
        Out::Gap(why) => format!("[{node}] GAP {why}"),
    }
}

/// Where a node's stream got to: its run and the last event received from it.
#[derive(Default)]
struct Position {
    instance: Option<String>,
    last_seq: u64,
}

/// Follows one node for as long as the receiver is there.
async fn follow(node: Node, request: GetEventsRequest, tx: mpsc::Sender<(String, Out)>) {
    let send = |o: Out| {
        let tx = tx.clone();
        let name = node.name.clone();
        async move { tx.send((name, o)).await.is_ok() }
    };
    let mut pos = Position::default();
    let mut attempt: u32 = 0;
    loop {
        let why = match subscribe(&node, &request, &mut pos, &send).await {
            Ok(why) => {
                attempt = 0;
                Some(why)
            }
            // Announced once per outage: the first failure after a stream was up (or at start).
            Err(e) if attempt == 0 => Some(format!("{e:#}")),
            Err(_) => None,
        };
        if tx.is_closed() {
            return;
        }
        if let Some(why) = why {
            let resume = match &pos.instance {
                Some(i) => format!(
                    "resuming instance {i} after #{} when it is back",
                    pos.last_seq
                ),
                None => "not connected yet".to_owned(),
            };
            let gap = format!("{why}; retrying (0.5 s doubling to 8 s), {resume}");
            if !send(Out::Gap(gap)).await {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(500) * 2u32.pow(attempt.min(4))).await;
        attempt += 1;
    }
}

/// One subscription, until it ends: `Ok(why it ended)` once it was up, `Err` if it never was.
async fn subscribe<F, Fut>(
    node: &Node,
    request: &GetEventsRequest,
    pos: &mut Position,
    send: &F,
) -> anyhow::Result<String>
where
    F: Fn(Out) -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let mut c = client::connect(&node.connect).await?;
    let instance = c
        .status(StatusRequest {})
        .await
        .context("Status")?
        .into_inner()
        .sensor_instance_id;
    let mut req = request.clone();
    let after = match &pos.instance {
        Some(old) if *old != instance => {
            // A new run: the old one's events after the last received are gone for good.
            send(Out::Gap(format!(
                "the sensor restarted (instance {old} -> {instance}): what {old} published \
                 after #{} and was not received is lost; {instance} is read from its start",
                pos.last_seq
            )))
            .await;
            req.resume_instance_id = old.clone();
            req.resume_after_seq = pos.last_seq;
            pos.last_seq = 0;
            Some(0)
        }
        Some(old) => {
            req.resume_instance_id = old.clone();
            req.resume_after_seq = pos.last_seq;
            Some(pos.last_seq)
        }
        None => None,
    };
    let mut stream = c
        .get_events(req)
        .await
        .context("the sensor refused the subscription")?
        .into_inner();
    pos.instance = Some(instance.clone());
    send(Out::Connected { instance, after }).await;
    loop {
        match stream.message().await {
            Ok(Some(m)) => {
                if let Some(get_events_response::Item::Event(ev)) = &m.item
                    && let Some(h) = &ev.header
                {
                    pos.last_seq = h.seq;
                }
                if !send(Out::Message(Box::new(m))).await {
                    return Ok("stopped".into());
                }
            }
            Ok(None) => return Ok("the sensor ended the stream (shutting down?)".into()),
            Err(s) => {
                return Ok(format!(
                    "the stream broke ({:?}: {})",
                    s.code(),
                    s.message()
                ));
            }
        }
    }
}
