//! Profile quality on real, unmodified Debian programs of six kinds, each in its own runc
//! container with the host's /usr (and /lib) read-only: a server answering requests (Python's
//! http.server, fetched by curl, stopped by dash's `kill; wait`), an embedded database
//! (sqlite3), an archiver (tar), a scripting language (python3), a version-control tool (git)
//! and a shell pipeline (seq, sort, awk, ...). Each is learned under a permissive filter, its
//! profile generated through the API, and run again under that profile. Shared by the
//! end-to-end test (`tests/profile_quality.rs`, which asserts) and `cargo xtask bench --only
//! quality` (which prints the table).
use std::path::Path;

use sensor_proto::v1::{GetProfileRequest, sensor_service_client::SensorServiceClient};

use crate::{
    runc::{Container, kube_ids},
    sensor::Sensor,
};

/// Moby's default profile for x86_64, as the sensor keeps it.
const MOBY: &str = include_str!("../../sensor/data/moby-default-seccomp-x86_64.txt");

/// (name, script); `PORT` is replaced by a free loopback port.
const WORKLOADS: &[(&str, &str)] = &[
    (
        "server",
        r#"exec /usr/bin/dash -c '/usr/bin/python3 -m http.server PORT --bind 127.0.0.1 --directory /usr/share/doc/dash >/dev/null 2>&1 & s=$!
i=0; until /usr/bin/curl -sf http://127.0.0.1:PORT/copyright -o /tmp/c; do i=$((i+1)); [ $i -gt 200 ] && exit 1; sleep 0.1; done
/usr/bin/md5sum < /tmp/c; kill $s; wait $s; echo served'"#,
    ),
    (
        "database",
        r#"/usr/bin/sqlite3 /tmp/db 'create table t(a, b); insert into t values (1, "x"), (2, "y"), (3, "z"); create index i on t(b); select sum(a), group_concat(b) from t;'"#,
    ),
    (
        "archiver",
        r#"cd /usr/share/doc/dash && /usr/bin/tar -czf /tmp/a.tgz . && /usr/bin/tar -tzf /tmp/a.tgz | /usr/bin/sort | /usr/bin/md5sum"#,
    ),
    (
        "script",
        r#"/usr/bin/python3 -c 'import json, hashlib, re, sqlite3; d = {"a": [1, 2, 3]}; print(hashlib.sha256(json.dumps(d).encode()).hexdigest(), re.sub("[0-9]", "-", "a1b22"))'"#,
    ),
    (
        "vcs",
        r#"export HOME=/tmp; cd /tmp && /usr/bin/git init -q r && cd r && echo hi > f && /usr/bin/git add f && /usr/bin/git -c user.name=t -c user.email=t@e commit -qm first && /usr/bin/git log --format=%s && /usr/bin/git ls-files"#,
    ),
    (
        "pipeline",
        r#"/usr/bin/seq 1 2000 | /usr/bin/awk '{s+=$1} END {print s}'; /usr/bin/seq 1 50 | /usr/bin/sort -rn | /usr/bin/head -3 | /usr/bin/tr '\n' ' '; /usr/bin/wc -l < /usr/share/doc/dash/copyright"#,
    ),
];

/// The calls Moby's default profile allows every container on x86_64.
pub fn docker_allows() -> usize {
    MOBY.lines()
        .filter_map(|l| l.strip_prefix("allow "))
        .flat_map(str::split_whitespace)
        .filter(|n| n.parse::<syscalls::x86_64::Sysno>().is_ok())
        .count()
}

fn container(n: u32, kind: &str, script: &str) -> Container {
    let (uid, id) = kube_ids(0xb00 + n);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port();
    Container::new(
        &format!("sensor-e2e-quality-{}-{kind}-{n}", std::process::id()),
        &format!("/kubepods/besteffort/pod{uid}/{id}"),
        &script.replace("PORT", &port.to_string()),
    )
    .with_host_usr(None::<(&Path, &str)>)
    .with_host_network()
}

/// One workload's figures.
#[derive(Debug)]
pub struct Row {
    pub kind: &'static str,
    /// The learning run's output (it must have succeeded with some output).
    pub learned: Result<String, String>,
    /// The run under the profile: its output, or why it failed.
    pub confined: Result<String, String>,
    pub handed_over: bool,
    /// The calls the profile allows.
    pub allowed: Vec<String>,
    pub runtime_only: Vec<String>,
}

impl Row {
    pub fn identical(&self) -> bool {
        matches!((&self.learned, &self.confined), (Ok(a), Ok(b)) if a == b)
    }

    /// A README table row, against Docker's `docker` allowed calls.
    pub fn markdown(&self, docker: usize) -> String {
        format!(
            "| {} | {} | {} | {:.0}% | {} ({}) |",
            self.kind,
            if self.identical() {
                "identical"
            } else {
                "DIFFERENT"
            },
            self.allowed.len(),
            100.0 * self.allowed.len() as f64 / docker as f64,
            self.runtime_only.len(),
            self.runtime_only.join(", ")
        )
    }
}

fn output(o: &std::process::Output) -> Result<String, String> {
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    if o.status.success() && !out.trim().is_empty() {
        Ok(out)
    } else {
        Err(format!(
            "{}: {out}{}",
            o.status,
            String::from_utf8_lossy(&o.stderr)
        ))
    }
}

/// Learns, generates and re-runs every workload with `sensor`.
pub async fn measure(sensor: &Sensor) -> Vec<Row> {
    let mut api = SensorServiceClient::connect(sensor.addr.clone())
        .await
        .expect("connect");
    let permissive = serde_json::json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64"],
        "syscalls": [{"names": ["kexec_load"], "action": "SCMP_ACT_ERRNO"}],
    });
    let mut rows = Vec::new();
    for (i, (kind, script)) in WORKLOADS.iter().enumerate() {
        let n = i as u32 * 2;
        let learn = container(n, kind, script).with_seccomp(&permissive);
        let cgroup_id = learn.cgroup_id();
        let learned = output(&learn.run());
        let p = api
            .get_profile(GetProfileRequest {
                cgroup_id,
                ..Default::default()
            })
            .await
            .expect("GetProfile")
            .into_inner();
        let oci: serde_json::Value = serde_json::from_str(&p.oci_json).expect("OCI JSON");
        let confined = output(&container(n + 1, kind, script).with_seccomp(&oci).run());
        rows.push(Row {
            kind,
            learned,
            confined,
            handed_over: p.containers_without_handover == 0,
            allowed: p.syscalls.iter().map(|s| s.name.clone()).collect(),
            runtime_only: p.runtime_only.iter().map(|s| s.name.clone()).collect(),
        });
    }
    rows
}

/// The table, as the README shows it.
pub fn print(rows: &[Row], docker: usize) {
    eprintln!("Docker's default allows {docker} calls on x86_64");
    eprintln!("| workload | output under its profile | allowed | of Docker's | runtime-only |");
    eprintln!("|---|---|---|---|---|");
    for r in rows {
        eprintln!("{}", r.markdown(docker));
    }
}
