//! How events look to a person: one readable line each, or one JSON object a line.
//! Works on wire types, so `sensor run` and `sensor events` print the same thing.
use std::time::{Duration, UNIX_EPOCH};

use sensor_proto::v1::{self as pb, event::Body, get_events_response::Item};
use serde_json::{Value, json};

fn time(ns: u64) -> String {
    humantime::format_rfc3339_micros(UNIX_EPOCH + Duration::from_nanos(ns)).to_string()
}

/// Bytes shown as text; anything that is not printable UTF-8 is escaped, never dropped.
pub(crate) fn text(bytes: &[u8]) -> String {
    bytes.escape_ascii().to_string()
}

/// A call of another ABI than a 64-bit node's own says so: `mount[i386](...)` (an io_uring
/// operation's name says it: `io_uring:socket`).
fn abi_tag(arch: &str) -> String {
    match arch {
        "" | "x86_64" | "aarch64" | "io_uring" => String::new(),
        abi => format!("[{abi}]"),
    }
}

/// A phase as users read it: runtime, filtered (the runtime under its own filter), workload.
pub fn phase_name(p: i32) -> &'static str {
    match pb::Phase::try_from(p) {
        Ok(pb::Phase::Runtime) => "runtime",
        Ok(pb::Phase::Filtered) => "filtered",
        Ok(pb::Phase::Workload) => "workload",
        Ok(pb::Phase::Steady) => "steady",
        _ => "?",
    }
}

fn severity_tag(s: i32) -> &'static str {
    match pb::Severity::try_from(s) {
        Ok(pb::Severity::Low) => "[low]",
        Ok(pb::Severity::Medium) => "[medium]",
        Ok(pb::Severity::High) => "[high]",
        Ok(pb::Severity::Critical) => "[critical]",
        _ => "",
    }
}

/// An argument as a shell would need it: quoted when empty or holding spaces or quotes.
pub(crate) fn quoted(bytes: &[u8]) -> String {
    let t = text(bytes);
    if t.is_empty() || t.contains([' ', '\t', '\'', '"']) {
        format!("'{}'", t.replace('\'', "'\\''"))
    } else {
        t
    }
}

/// The column titles of [`container_line`].
pub const CONTAINER_HEADER: &str = "CONTAINER     RUNTIME     NAMESPACE/POD                  CONTAINER-NAME   IMAGE                          EVENTS  STATE";

pub fn container_line(s: &pb::SeenContainer) -> String {
    let c = s.container.clone().unwrap_or_default();
    let pod = match (c.pod_namespace.is_empty(), c.pod_name.is_empty()) {
        (false, false) => format!("{}/{}", c.pod_namespace, c.pod_name),
        _ if !c.pod_uid.is_empty() => format!("uid:{}", c.pod_uid),
        _ => "-".to_owned(),
    };
    let dash = |s: &str| {
        if s.is_empty() {
            "-".to_owned()
        } else {
            s.to_owned()
        }
    };
    format!(
        "{:<13} {:<11} {:<30} {:<16} {:<30} {:>6}  {}",
        c.id.get(..12).unwrap_or(&c.id),
        c.runtime,
        pod,
        dash(&c.container_name),
        dash(&c.image),
        s.events,
        state(s)
    )
}

/// running or gone, and what the kernel dropped of it, if anything.
fn state(s: &pb::SeenContainer) -> String {
    let run = if s.running { "running" } else { "gone" };
    let l = s.lost_in_kernel.unwrap_or_default();
    let parts: Vec<String> = [
        (l.flagged_syscalls, "flagged"),
        (l.execs, "execs"),
        (l.forks, "forks"),
        (l.exits, "exits"),
    ]
    .iter()
    .filter(|(n, _)| *n > 0)
    .map(|(n, what)| format!("{n} {what}"))
    .collect();
    if parts.is_empty() {
        run.to_owned()
    } else {
        format!("{run}, lost in the kernel: {}", parts.join(", "))
    }
}

pub fn container_json(s: &pb::SeenContainer) -> Value {
    let c = s.container.clone().unwrap_or_default();
    json!({
        "container_id": c.id, "runtime": c.runtime, "pod_uid": c.pod_uid, "qos_class": c.qos_class,
        "pod_name": c.pod_name, "pod_namespace": c.pod_namespace, "container_name": c.container_name,
        "image": c.image, "labels": c.labels, "cgroup_id": s.cgroup_id, "cgroup_path": s.cgroup_path,
        "events": s.events, "running": s.running, "lost_in_kernel": s.lost_in_kernel.map(|l| json!({
            "flagged_syscalls": l.flagged_syscalls, "execs": l.execs, "forks": l.forks, "exits": l.exits,
        })),
        "first_seen": time(s.first_seen_unix_nano), "last_seen": time(s.last_seen_unix_nano),
    })
}

fn reason(r: i32) -> &'static str {
    match pb::LossReason::try_from(r) {
        Ok(pb::LossReason::KernelRingBuffer) => "kernel ring buffer full",
        Ok(pb::LossReason::SubscriberQueue) => "this subscriber fell behind",
        Ok(pb::LossReason::MalformedRecord) => "malformed kernel record",
        Ok(pb::LossReason::ReplayExpired) => "no longer in the replay buffer",
        _ => "unknown reason",
    }
}

/// What kind of events were lost, when the sensor knows.
fn lost_kind(k: i32) -> &'static str {
    match pb::EventKind::try_from(k) {
        Ok(pb::EventKind::FlaggedSyscall) => " flagged-syscall",
        Ok(pb::EventKind::Exec) => " exec",
        Ok(pb::EventKind::Fork) => " fork",
        Ok(pb::EventKind::Exit) => " exit",
        Ok(pb::EventKind::SyscallSeen) => " first-use",
        Ok(pb::EventKind::ProfileDeviation) => " profile-deviation",
        _ => "",
    }
}

/// `sensor status --json`.
pub fn status_json(s: &pb::StatusResponse) -> Value {
    json!({
        "version": s.version, "sensor_instance_id": s.sensor_instance_id, "node_name": s.node_name,
        "kernel": s.kernel, "programs": s.programs, "uptime_seconds": s.uptime_seconds,
        "subscribers": s.subscribers, "last_seq": s.last_seq, "counters": s.counters,
        "gauges": s.gauges, "settings": s.settings,
    })
}

pub fn line(resp: &pb::GetEventsResponse) -> String {
    match &resp.item {
        Some(Item::Event(ev)) => event_line(ev),
        Some(Item::Lost(l)) => format!(
            "LOST {}{} events ({})",
            l.count,
            lost_kind(l.kind),
            reason(l.reason)
        ),
        None => "EMPTY message".to_owned(),
    }
}

/// Where the event came from: `container=containerd:0123456789ab pod=<uid>`, `host`, ...
fn place(h: &pb::EventHeader) -> String {
    let a = h.attribution.clone().unwrap_or_default();
    match (pb::AttributionState::try_from(a.state), a.container) {
        (Ok(pb::AttributionState::Container), Some(c)) => {
            let short = c.id.get(..12).unwrap_or(&c.id);
            let pod = match (c.pod_name.is_empty(), c.pod_uid.is_empty()) {
                (false, _) => {
                    format!(
                        " pod={}/{} name={}",
                        c.pod_namespace, c.pod_name, c.container_name
                    )
                }
                (true, false) => format!(" pod_uid={}", c.pod_uid),
                _ => String::new(),
            };
            format!("container={}:{short}{pod}", c.runtime)
        }
        (Ok(pb::AttributionState::Host), _) => "host".to_owned(),
        (Ok(pb::AttributionState::Unknown), _) => format!("cgroup_path={}", h.cgroup_path),
        _ => "container=pending".to_owned(),
    }
}

fn event_line(ev: &pb::Event) -> String {
    let h = ev.header.clone().unwrap_or_default();
    let cmd = if h.argv.is_empty() || matches!(ev.body, Some(Body::Exec(_))) {
        String::new()
    } else {
        let args: Vec<String> = h.argv.iter().map(|a| quoted(a)).collect();
        format!(" cmd=[{}]", args.join(" "))
    };
    let parent = if h.parent_exe.is_empty() {
        String::new()
    } else {
        format!(" parent={}", text(&h.parent_exe))
    };
    let who = format!(
        "pid={} ppid={} uid={} comm=\"{}\"{cmd}{parent} {} cgroup={}",
        h.pid,
        h.ppid,
        h.uid,
        text(&h.comm),
        place(&h),
        h.cgroup_id
    );
    let what = match &ev.body {
        Some(Body::ProfileDeviation(d)) => {
            let Some(s) = &d.call else {
                return format!("DEVIATION (no call) {who}");
            };
            let also = if d.flagged { " (also flagged)" } else { "" };
            format!(
                "DEVIATION{} {} profile={:?}{also} {who}",
                severity_tag(s.severity),
                call_line(s),
                d.profile
            )
        }
        Some(Body::FlaggedSyscall(s)) => {
            let name = call_name(s);
            let sev = severity_tag(s.severity);
            if s.suppressed > 0 || s.lost_in_kernel > 0 {
                let lost = if s.lost_in_kernel > 0 {
                    format!(", {} lost (ring buffer full)", s.lost_in_kernel)
                } else {
                    String::new()
                };
                return format!(
                    "SUPPRESSED{sev} {name} x {} in the last {:.1} s (past the flood budget){lost} {}",
                    s.suppressed,
                    s.suppressed_period_ns as f64 / 1e9,
                    place(&h)
                );
            }
            format!("FLAGGED{sev} {} {who}", call_line(s))
        }
        Some(Body::Exec(e)) => {
            let cut = |t: bool| if t { "..." } else { "" };
            let args: Vec<String> = e.argv.iter().map(|a| quoted(a)).collect();
            let argv = if e.argv_unknown {
                "[argv unknown]".to_owned()
            } else {
                format!("[{}]{}", args.join(" "), cut(e.argv_truncated))
            };
            if e.errno != 0 {
                let errno = if e.errno_name.is_empty() {
                    e.errno.to_string()
                } else {
                    e.errno_name.clone()
                };
                format!(
                    "EXEC-FAILED {}{} {argv} = -1 {errno} {who}",
                    text(&e.filename),
                    cut(e.filename_truncated)
                )
            } else {
                let findings: Vec<&str> = e.findings.iter().map(|f| f.what.as_str()).collect();
                let (tag, note) = match e.findings.iter().map(|f| f.severity).max() {
                    Some(s) => (
                        severity_tag(s),
                        format!(" findings=[{}]", findings.join("; ")),
                    ),
                    None => ("", String::new()),
                };
                format!(
                    "EXEC{tag} {}{} {argv}{note} {who}",
                    text(&e.filename),
                    cut(e.filename_truncated)
                )
            }
        }
        Some(Body::SyscallSeen(x)) => {
            let phase = phase_name(x.phase);
            let abi = abi_tag(&x.arch);
            format!("SEEN {}{abi}({}) phase={phase} {who}", x.name, x.number)
        }
        Some(Body::Fork(f)) => format!("FORK child={} {who}", f.child_pid),
        Some(Body::Exit(x)) if x.signal != 0 => format!("EXIT signal={} {who}", x.signal),
        Some(Body::Exit(x)) => format!("EXIT status={} {who}", x.status),
        None => format!("UNKNOWN event {who}"),
    };
    format!("{} #{} {what}", time(h.time_unix_nano), h.seq)
}

/// `source="none", flags=MS_BIND` (strace-like), or the raw values when not decoded.
fn call_args(s: &pb::FlaggedSyscall) -> String {
    if s.decoded_args.is_empty() {
        return s
            .args
            .iter()
            .map(|a| format!("{a:#x}"))
            .collect::<Vec<_>>()
            .join(", ");
    }
    // String arguments carry their raw bytes (an empty string reads as a plain value).
    let show = |a: &pb::Argument| {
        if a.raw.is_empty() {
            format!("{}={}", a.name, a.value)
        } else {
            format!(
                "{}=\"{}\"{}",
                a.name,
                a.value,
                if a.truncated { "..." } else { "" }
            )
        }
    };
    s.decoded_args
        .iter()
        .map(show)
        .collect::<Vec<_>>()
        .join(", ")
}

fn outcome(o: Option<&pb::Outcome>) -> String {
    let Some(o) = o else { return "= ?".to_owned() };
    let errno = || {
        if o.errno_name.is_empty() {
            o.errno.to_string()
        } else {
            o.errno_name.clone()
        }
    };
    match pb::OutcomeKind::try_from(o.kind) {
        Ok(pb::OutcomeKind::Succeeded) => format!("= {}", o.return_value),
        Ok(pb::OutcomeKind::Failed) => format!("= -1 {}", errno()),
        Ok(pb::OutcomeKind::BlockedBeforeEntry) => {
            format!("= -1 {} BLOCKED-BEFORE-ENTRY (seccomp)", errno())
        }
        _ => "= ? (no outcome)".to_owned(),
    }
}

/// `succeeded`, `failed`, `blocked_before_entry` or `unknown`.
pub fn outcome_kind_name(kind: i32) -> &'static str {
    match pb::OutcomeKind::try_from(kind) {
        Ok(pb::OutcomeKind::Succeeded) => "succeeded",
        Ok(pb::OutcomeKind::Failed) => "failed",
        Ok(pb::OutcomeKind::BlockedBeforeEntry) => "blocked_before_entry",
        _ => "unknown",
    }
}

/// `container`, `host`, `unknown` or `pending`.
pub fn attribution_state_name(state: i32) -> &'static str {
    match pb::AttributionState::try_from(state) {
        Ok(pb::AttributionState::Container) => "container",
        Ok(pb::AttributionState::Host) => "host",
        Ok(pb::AttributionState::Unknown) => "unknown",
        _ => "pending",
    }
}

fn outcome_json(o: Option<&pb::Outcome>) -> Value {
    let Some(o) = o else { return Value::Null };
    let kind = outcome_kind_name(o.kind);
    json!({"result": kind, "return_value": o.return_value, "errno": o.errno, "errno_name": o.errno_name})
}

fn attribution_json(h: &pb::EventHeader) -> Value {
    let a = h.attribution.clone().unwrap_or_default();
    let state = attribution_state_name(a.state);
    match a.container {
        Some(c) => json!({"state": state, "runtime": c.runtime, "container_id": c.id,
                          "pod_uid": c.pod_uid, "qos_class": c.qos_class, "pod_name": c.pod_name,
                          "pod_namespace": c.pod_namespace, "container_name": c.container_name,
                          "image": c.image, "labels": c.labels}),
        None => json!({"state": state}),
    }
}

pub fn json(resp: &pb::GetEventsResponse) -> Value {
    match &resp.item {
        Some(Item::Event(ev)) => event_json(ev),
        Some(Item::Lost(l)) => {
            json!({"type": "lost", "count": l.count, "reason": reason(l.reason),
                   "kind": lost_kind(l.kind).trim()})
        }
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
        "ppid": h.ppid,
        "argv": h.argv.iter().map(|a| text(a)).collect::<Vec<_>>(),
        "parent_exe": text(&h.parent_exe),
        "grandparent_exe": text(&h.grandparent_exe),
        "cgroup_path": h.cgroup_path,
        "attribution": attribution_json(&h),
    });
    let body = match &ev.body {
        Some(Body::FlaggedSyscall(s)) => {
            let mut v = call_json(s);
            v["type"] = json!("flagged_syscall");
            v
        }
        Some(Body::ProfileDeviation(d)) => {
            let mut v = d.call.as_ref().map(call_json).unwrap_or_else(|| json!({}));
            v["type"] = json!("profile_deviation");
            v["profile"] = json!(d.profile);
            v["flagged"] = json!(d.flagged);
            v
        }
        Some(Body::Exec(e)) => json!({
            "type": "exec", "filename": text(&e.filename), "filename_truncated": e.filename_truncated,
            "argv": e.argv.iter().map(|a| text(a)).collect::<Vec<_>>(),
            "argv_truncated": e.argv_truncated, "argv_unknown": e.argv_unknown, "errno": e.errno, "errno_name": e.errno_name,
            "findings": e.findings.iter().map(|f| f.what.clone()).collect::<Vec<_>>(),
            "euid": e.privileges_known.then_some(e.euid),
            "cap_effective": e.privileges_known.then(|| format!("{:#x}", e.cap_effective)),
            "exe_file": e.exe_known.then(|| json!({"nlink": e.exe_nlink, "name": text(&e.exe_name)})),
        }),
        Some(Body::SyscallSeen(x)) => {
            json!({"type": "syscall_seen", "syscall": x.name, "nr": x.number,
            "arch": x.arch, "phase": pb::Phase::try_from(x.phase).map(|p| p.as_str_name()).unwrap_or("")})
        }
        Some(Body::Fork(f)) => json!({"type": "fork", "child_pid": f.child_pid}),
        Some(Body::Exit(x)) => json!({"type": "exit", "status": x.status, "signal": x.signal}),
        None => json!({"type": "unknown"}),
    };
    if let (Value::Object(v), Value::Object(b)) = (&mut v, body) {
        v.extend(b);
    }
    v
}

/// A call's name, with its ABI when it is not the native one.
fn call_name(s: &pb::FlaggedSyscall) -> String {
    let name = if s.name.is_empty() {
        format!("syscall_{}", s.number)
    } else {
        s.name.clone()
    };
    format!("{name}{}", abi_tag(&s.arch))
}

/// `name(args) outcome`, as flagged calls and deviations show a call.
fn call_line(s: &pb::FlaggedSyscall) -> String {
    let at_exit = if s.args_read_at_exit {
        " (args read at exit)"
    } else {
        ""
    };
    let forked = s
        .namespaces_at_fork
        .as_ref()
        .map(|n| {
            let disagreed = if n.entry_disagreed {
                "; its entry read other flags"
            } else {
                ""
            };
            format!(
                " [namespaces made at fork: {}{disagreed}]",
                fork_namespaces(n)
            )
        })
        .unwrap_or_default();
    format!(
        "{}({}){at_exit} {}{forked}",
        call_name(s),
        call_args(s),
        outcome(s.outcome.as_ref())
    )
}

/// The namespaces a clone's fork made, by name, or "none".
pub fn fork_namespaces(n: &pb::ForkNamespaces) -> String {
    if n.names.is_empty() {
        "none".to_owned()
    } else {
        n.names.clone()
    }
}

/// A call as JSON (flagged calls and deviations).
fn call_json(s: &pb::FlaggedSyscall) -> Value {
    let decoded: serde_json::Map<String, Value> = s
        .decoded_args
        .iter()
        .map(|a| {
            (
                a.name.clone(),
                json!({"value": a.value, "truncated": a.truncated}),
            )
        })
        .collect();
    json!({
        "syscall": s.name, "nr": s.number, "arch": s.arch,
        "args": s.args, "decoded": decoded, "outcome": outcome_json(s.outcome.as_ref()),
        "args_read_at_exit": s.args_read_at_exit,
        "namespaces_at_fork": s.namespaces_at_fork.as_ref().map(|n| json!({"flags": n.flags, "names": n.names, "entry_disagreed": n.entry_disagreed})),
        "suppressed": s.suppressed, "suppressed_period_ns": s.suppressed_period_ns,
        "lost_in_kernel": s.lost_in_kernel,
        "severity": pb::Severity::try_from(s.severity).map(|v| v.as_str_name()).unwrap_or(""),
    })
}

#[cfg(test)]
mod tests;
