//! How events look to a person: one readable line each, or one JSON object a line.
//! Works on wire types, so `sensor run` and `sensor events` print the same thing.
use std::time::{Duration, UNIX_EPOCH};

use sensor_proto::v1::{self as pb, event::Body, get_events_response::Item};
use serde_json::{Value, json};

fn time(ns: u64) -> String {
    humantime::format_rfc3339_micros(UNIX_EPOCH + Duration::from_nanos(ns)).to_string()
}

/// Bytes shown as text; anything that is not printable UTF-8 is escaped, never dropped.
fn text(bytes: &[u8]) -> String {
    bytes.escape_ascii().to_string()
}

fn reason(r: i32) -> &'static str {
    match pb::LossReason::try_from(r) {
        Ok(pb::LossReason::KernelRingBuffer) => "kernel ring buffer full",
        Ok(pb::LossReason::SubscriberQueue) => "this subscriber fell behind",
        Ok(pb::LossReason::MalformedRecord) => "malformed kernel record",
        _ => "unknown reason",
    }
}

pub fn line(resp: &pb::GetEventsResponse) -> String {
    match &resp.item {
        Some(Item::Event(ev)) => event_line(ev),
        Some(Item::Lost(l)) => format!("LOST {} events ({})", l.count, reason(l.reason)),
        None => "EMPTY message".to_owned(),
    }
}

fn event_line(ev: &pb::Event) -> String {
    let h = ev.header.clone().unwrap_or_default();
    let who = format!(
        "pid={} tid={} uid={} gid={} comm=\"{}\" cgroup={}",
        h.pid,
        h.tid,
        h.uid,
        h.gid,
        text(&h.comm),
        h.cgroup_id
    );
    let what = match &ev.body {
        Some(Body::FlaggedSyscall(s)) => {
            let name = if s.name.is_empty() { format!("syscall_{}", s.number) } else { s.name.clone() };
            let args: Vec<String> = s.args.iter().map(|a| format!("{a:#x}")).collect();
            format!("FLAGGED {name} {who} args=[{}]", args.join(", "))
        }
        Some(Body::Exec(e)) => {
            let cut = if e.filename_truncated { "...(truncated)" } else { "" };
            format!("EXEC {}{cut} {who}", text(&e.filename))
        }
        None => format!("UNKNOWN event {who}"),
    };
    format!("{} #{} {what}", time(h.time_unix_nano), h.seq)
}

pub fn json(resp: &pb::GetEventsResponse) -> Value {
    match &resp.item {
        Some(Item::Event(ev)) => event_json(ev),
        Some(Item::Lost(l)) => json!({"type": "lost", "count": l.count, "reason": reason(l.reason)}),
        None => json!({"type": "empty"}),
    }
}

fn event_json(ev: &pb::Event) -> Value {
    let h = ev.header.clone().unwrap_or_default();
    let mut v = json!({
        "seq": h.seq,
        "sensor_instance_id": h.sensor_instance_id,
        "node": h.node_name,
        "time": time(h.time_unix_nano),
        "time_unix_nano": h.time_unix_nano,
        "cgroup_id": h.cgroup_id,
        "pid": h.pid, "tid": h.tid, "uid": h.uid, "gid": h.gid,
        "comm": text(&h.comm),
    });
    let body = match &ev.body {
        Some(Body::FlaggedSyscall(s)) => json!({
            "type": "flagged_syscall", "syscall": s.name, "nr": s.number, "arch": s.arch,
            "args": s.args,
        }),
        Some(Body::Exec(e)) => json!({
            "type": "exec", "filename": text(&e.filename), "filename_truncated": e.filename_truncated,
        }),
        None => json!({"type": "unknown"}),
    };
    if let (Value::Object(v), Value::Object(b)) = (&mut v, body) {
        v.extend(b);
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flagged() -> pb::GetEventsResponse {
        pb::GetEventsResponse {
            item: Some(Item::Event(pb::Event {
                header: Some(pb::EventHeader {
                    seq: 3,
                    pid: 10,
                    comm: b"mo\xffunt".to_vec(),
                    cgroup_id: 99,
                    ..Default::default()
                }),
                body: Some(Body::FlaggedSyscall(pb::FlaggedSyscall {
                    name: "mount".into(),
                    number: 165,
                    args: vec![1, 255],
                    arch: "x86_64".into(),
                })),
            })),
        }
    }

    #[test]
    fn a_flagged_line_reads_well_and_escapes_bytes() {
        let l = line(&flagged());
        assert!(l.contains("#3 FLAGGED mount pid=10"), "{l}");
        assert!(l.contains("comm=\"mo\\xffunt\""), "{l}");
        assert!(l.contains("cgroup=99 args=[0x1, 0xff]"), "{l}");
    }

    #[test]
    fn json_has_flat_fields() {
        let v = json(&flagged());
        assert_eq!(v["type"], "flagged_syscall");
        assert_eq!(v["syscall"], "mount");
        assert_eq!(v["cgroup_id"], 99);
        assert_eq!(v["args"][1], 255);
    }

    #[test]
    fn losses_are_visible() {
        let r = pb::GetEventsResponse {
            item: Some(Item::Lost(pb::Lost { count: 4, reason: 1 })),
        };
        assert_eq!(line(&r), "LOST 4 events (kernel ring buffer full)");
    }
}
