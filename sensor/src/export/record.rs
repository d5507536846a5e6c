//! One event (in its wire form, the one mapping of the domain to the outside) as an OTLP log
//! record. Attributes follow the OpenTelemetry semantic conventions where they exist
//! (`k8s.*`, `container.*`, `process.*`, `host.name`); the sensor's own are under `sensor.*`.
//! Every record carries `sensor.instance_id`, `sensor.seq` (the event's number, as gRPC
//! subscribers see it) and `sensor.export.seq` (this exporter's records, consecutive), so a
//! consumer sees gaps anywhere along the pipeline.
use opentelemetry_proto::tonic::{
    common::v1::{AnyValue, ArrayValue, InstrumentationScope, KeyValue, any_value::Value},
    logs::v1::{LogRecord, SeverityNumber},
    resource::v1::Resource,
};
use sensor_proto::v1::{self as pb, event::Body};

use crate::render;

/// The attributes of one record, built in order.
#[derive(Default)]
pub struct Attrs(Vec<KeyValue>);

impl Attrs {
    fn put(&mut self, key: &str, value: Value) {
        self.0.push(KeyValue {
            key: key.to_owned(),
            value: Some(AnyValue { value: Some(value) }),
            ..Default::default()
        });
    }

    pub fn str(&mut self, key: &str, v: impl Into<String>) {
        let v = v.into();
        if !v.is_empty() {
            self.put(key, Value::StringValue(v));
        }
    }

    pub fn int(&mut self, key: &str, v: i64) {
        self.put(key, Value::IntValue(v));
    }

    fn bool(&mut self, key: &str, v: bool) {
        if v {
            self.put(key, Value::BoolValue(true));
        }
    }

    fn strings(&mut self, key: &str, v: Vec<String>) {
        if !v.is_empty() {
            let values = v
                .into_iter()
                .map(|s| AnyValue {
                    value: Some(Value::StringValue(s)),
                })
                .collect();
            self.put(key, Value::ArrayValue(ArrayValue { values }));
        }
    }
}

/// The sensor's severities on OTLP's scale: low INFO, medium WARN, high ERROR, critical FATAL.
pub fn severity(s: i32) -> (SeverityNumber, &'static str) {
    match pb::Severity::try_from(s) {
        Ok(pb::Severity::Low) => (SeverityNumber::Info, "low"),
        Ok(pb::Severity::Medium) => (SeverityNumber::Warn, "medium"),
        Ok(pb::Severity::High) => (SeverityNumber::Error, "high"),
        Ok(pb::Severity::Critical) => (SeverityNumber::Fatal, "critical"),
        _ => (SeverityNumber::Info, "info"),
    }
}

/// What every record of this sensor shares.
pub fn resource(node_name: &str, instance_id: &str) -> Resource {
    let mut a = Attrs::default();
    a.str("service.name", "sensor");
    a.str("service.version", env!("CARGO_PKG_VERSION"));
    a.str("service.instance.id", instance_id);
    a.str("host.name", node_name);
    a.str("k8s.node.name", node_name);
    a.str("sensor.instance_id", instance_id);
    Resource {
        attributes: a.0,
        ..Default::default()
    }
}

pub fn scope() -> InstrumentationScope {
    InstrumentationScope {
        name: "sensor".to_owned(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        ..Default::default()
    }
}

/// A record with its envelope: name, severity, time, one-line body, and the numbering.
pub fn record(
    event_name: &str,
    sev: i32,
    time_unix_nano: u64,
    body: String,
    mut a: Attrs,
    instance_id: &str,
    export_seq: u64,
) -> LogRecord {
    let (number, text) = severity(sev);
    a.str("sensor.instance_id", instance_id);
    a.int("sensor.export.seq", export_seq as i64);
    LogRecord {
        time_unix_nano,
        observed_time_unix_nano: crate::clock::wall_now_ns(),
        severity_number: number as i32,
        severity_text: text.to_owned(),
        body: Some(AnyValue {
            value: Some(Value::StringValue(body)),
        }),
        attributes: a.0,
        event_name: event_name.to_owned(),
        ..Default::default()
    }
}

/// The event's name, severity (the call's, or the worst finding's) and attributes.
pub fn event_attrs(ev: &pb::Event) -> (&'static str, i32, Attrs) {
    let mut a = Attrs::default();
    let h = ev.header.clone().unwrap_or_default();
    header(&mut a, &h, matches!(ev.body, Some(Body::Exec(_))));
    let (name, sev) = match &ev.body {
        Some(Body::FlaggedSyscall(s)) => {
            call(&mut a, s);
            ("sensor.flagged_syscall", s.severity)
        }
        Some(Body::ProfileDeviation(d)) => {
            a.str("sensor.profile", d.profile.clone());
            a.bool("sensor.flagged", d.flagged);
            let s = d.call.clone().unwrap_or_default();
            call(&mut a, &s);
            // Drift is worth a look even when the policy does not flag the call.
            (
                "sensor.profile_deviation",
                s.severity.max(pb::Severity::Medium as i32),
            )
        }
        Some(Body::Exec(e)) => ("sensor.exec", exec(&mut a, e)),
        Some(Body::Fork(f)) => {
            a.int("sensor.child_pid", i64::from(f.child_pid));
            ("sensor.fork", 0)
        }
        Some(Body::Exit(x)) => {
            a.int("process.exit.code", i64::from(x.status));
            if x.signal != 0 {
                a.int("sensor.exit.signal", i64::from(x.signal));
            }
            ("sensor.exit", 0)
        }
        Some(Body::SyscallSeen(x)) => {
            a.str("sensor.syscall", x.name.clone());
            a.int("sensor.syscall.nr", x.number as i64);
            a.str("sensor.syscall.abi", x.arch.clone());
            a.str("sensor.phase", render::phase_name(x.phase));
            ("sensor.syscall_seen", 0)
        }
        None => ("sensor.unknown", 0),
    };
    (name, sev, a)
}

/// `exec`: the command line is the exec's own, not the one the process had before.
fn header(a: &mut Attrs, h: &pb::EventHeader, exec: bool) {
    a.int("sensor.seq", h.seq as i64);
    a.int("sensor.cgroup.id", h.cgroup_id as i64);
    a.str("sensor.cgroup.path", h.cgroup_path.clone());
    if h.pid != 0 {
        a.int("process.pid", i64::from(h.pid));
        a.int("thread.id", i64::from(h.tid));
        a.int("process.real_user.id", i64::from(h.uid));
        a.int("sensor.gid", i64::from(h.gid));
        a.str("process.executable.name", render::text(&h.comm));
    }
    if h.ppid != 0 {
        a.int("process.parent_pid", i64::from(h.ppid));
    }
    if !exec && !h.argv.is_empty() {
        a.str("process.command_line", command_line(&h.argv));
    }
    a.str("sensor.parent_exe", render::text(&h.parent_exe));
    let at = h.attribution.clone().unwrap_or_default();
    a.str(
        "sensor.attribution",
        render::attribution_state_name(at.state),
    );
    if let Some(c) = at.container {
        a.str("container.id", c.id);
        a.str("container.runtime", c.runtime);
        a.str("container.image.name", c.image);
        a.str("k8s.pod.uid", c.pod_uid);
        a.str("k8s.pod.name", c.pod_name);
        a.str("k8s.namespace.name", c.pod_namespace);
        a.str("k8s.container.name", c.container_name);
        a.bool("sensor.metadata_pending", c.metadata_pending);
    }
}

fn command_line(argv: &[Vec<u8>]) -> String {
    argv.iter()
        .map(|x| render::quoted(x))
        .collect::<Vec<_>>()
        .join(" ")
}

fn call(a: &mut Attrs, s: &pb::FlaggedSyscall) {
    a.str(
        "sensor.syscall",
        if s.name.is_empty() {
            "unknown"
        } else {
            &s.name
        },
    );
    a.int("sensor.syscall.nr", s.number as i64);
    a.str("sensor.syscall.abi", s.arch.clone());
    a.str("sensor.severity", severity(s.severity).1);
    if s.suppressed > 0 || s.lost_in_kernel > 0 {
        a.int("sensor.suppressed.count", s.suppressed as i64);
        a.int("sensor.suppressed.period_ns", s.suppressed_period_ns as i64);
        a.int("sensor.lost_in_kernel", s.lost_in_kernel as i64);
        return;
    }
    let o = s.outcome.clone().unwrap_or_default();
    a.str("sensor.outcome", render::outcome_kind_name(o.kind));
    if o.kind == pb::OutcomeKind::Succeeded as i32 {
        a.int("sensor.return_value", o.return_value);
    }
    if o.errno != 0 {
        a.int("sensor.errno", i64::from(o.errno));
        a.str("sensor.errno_name", o.errno_name);
    }
    a.strings(
        "sensor.args",
        s.args.iter().map(|v| format!("{v:#x}")).collect(),
    );
    for arg in &s.decoded_args {
        a.str(&format!("sensor.arg.{}", arg.name), arg.value.clone());
    }
    a.bool("sensor.args_read_at_exit", s.args_read_at_exit);
    if let Some(n) = &s.namespaces_at_fork {
        a.str("sensor.namespaces_at_fork", render::fork_namespaces(n));
        a.bool("sensor.namespaces_entry_disagreed", n.entry_disagreed);
    }
}

/// The exec's attributes; its severity is that of its worst finding.
fn exec(a: &mut Attrs, e: &pb::Exec) -> i32 {
    a.str("process.executable.path", render::text(&e.filename));
    if !e.argv_unknown && !e.argv.is_empty() {
        a.str("process.command_line", command_line(&e.argv));
    }
    a.bool("sensor.argv_unknown", e.argv_unknown);
    if e.errno != 0 {
        a.int("sensor.errno", i64::from(e.errno));
        a.str("sensor.errno_name", e.errno_name.clone());
    }
    if e.privileges_known {
        a.int("sensor.euid", i64::from(e.euid));
        a.str("sensor.cap_effective", format!("{:#x}", e.cap_effective));
    }
    if e.exe_known {
        a.int("sensor.exe.nlink", i64::from(e.exe_nlink));
    }
    a.strings(
        "sensor.finding",
        e.findings.iter().map(|f| f.what.clone()).collect(),
    );
    e.findings.iter().map(|f| f.severity).max().unwrap_or(0)
}

#[cfg(test)]
mod tests;
