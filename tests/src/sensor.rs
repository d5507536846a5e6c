//! The real `sensor run`, started as a child process and stopped (or killed) on drop.
use std::{
    net::TcpListener,
    path::PathBuf,
    process::{Child, Command, ExitStatus, Stdio},
    time::{Duration, Instant},
};

/// `SENSOR_BIN`, or the release binary `cargo xtask build` makes.
pub fn sensor_bin() -> PathBuf {
    std::env::var_os("SENSOR_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/release/sensor")
        })
}

/// `sensor status --json` over the unix socket at `socket`; fails the test if it fails.
pub fn status_over_unix(socket: &std::path::Path) -> serde_json::Value {
    let out = std::process::Command::new(sensor_bin())
        .args([
            "status",
            "--addr",
            &format!("unix:{}", socket.display()),
            "--json",
        ])
        .output()
        .expect("run sensor status");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON")
}

/// A loopback port that was free a moment ago, below the kernel's ephemeral range: a port the
/// kernel hands out (bind to port 0) can be taken as the source port of an outgoing
/// connection before the sensor binds it. Each call tries a port after the last one this
/// process gave, from a start set by its pid, so that test binaries run one after another do
/// not reuse each other's.
pub fn free_loopback_port() -> u16 {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    const LOW: u32 = 10_000;
    let high = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|r| r.split_whitespace().next()?.parse::<u32>().ok())
        .unwrap_or(32_768)
        .clamp(LOW + 1_000, 65_536);
    let span = high - LOW;
    let start = std::process::id().wrapping_mul(97) % span;
    for _ in 0..span {
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let port = LOW + (start + n) % span;
        if TcpListener::bind(("127.0.0.1", port as u16)).is_ok() {
            return port as u16;
        }
    }
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind 127.0.0.1:0")
        .port()
}

pub struct Sensor {
    child: Option<Child>,
    /// The gRPC address, as a URL (`http://127.0.0.1:PORT`).
    pub addr: String,
    /// The metrics and probes address (`127.0.0.1:PORT`).
    pub metrics: String,
    /// The metrics are served over HTTPS (`--metrics-tls`).
    metrics_tls: bool,
    log: PathBuf,
}

/// `GET path` over HTTP/1.0: (status code, body).
pub fn http_get(addr: &str, path: &str) -> std::io::Result<(u16, String)> {
    use std::io::{Read as _, Write as _};
    let mut s = std::net::TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n")?;
    let mut text = String::new();
    s.read_to_string(&mut text)?;
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_owned();
    Ok((status, body))
}

impl Sensor {
    /// The learned profile of one cgroup, through the API (the built-in always-allowed set
    /// and EPERM for refused calls).
    pub async fn profile_of(&self, cgroup_id: u64) -> sensor_proto::v1::GetProfileResponse {
        let mut client = sensor_proto::v1::sensor_service_client::SensorServiceClient::connect(
            self.addr.clone(),
        )
        .await
        .expect("connect");
        client
            .get_profile(sensor_proto::v1::GetProfileRequest {
                cgroup_id,
                ..Default::default()
            })
            .await
            .expect("GetProfile")
            .into_inner()
    }

    /// Starts `sensor run` on free loopback ports and waits until it is ready (`/readyz`:
    /// every program attached and the ring buffer drained) and its gRPC port accepts.
    pub async fn start(extra_args: &[&str]) -> Self {
        Self::start_via(&[], &[], extra_args).await
    }

    /// [`Sensor::start`] with its terminal view on (in [`Sensor::log_text`], with its log).
    pub async fn start_with_terminal(extra_args: &[&str]) -> Self {
        Self::start_opts(&[], &[], extra_args, true, None).await
    }

    /// [`Sensor::start`] behind `wrapper` (e.g. `setpriv ... --`), with `env` added.
    pub async fn start_via(wrapper: &[&str], env: &[(&str, String)], extra_args: &[&str]) -> Self {
        Self::start_opts(wrapper, env, extra_args, false, None).await
    }

    /// [`Sensor::start`] with its gRPC server on `port` (to start one again where it was).
    pub async fn start_on(port: u16, extra_args: &[&str]) -> Self {
        Self::start_opts(&[], &[], extra_args, false, Some(port)).await
    }

    async fn start_opts(
        wrapper: &[&str],
        env: &[(&str, String)],
        extra_args: &[&str],
        terminal: bool,
        port: Option<u16>,
    ) -> Self {
        let port = port.unwrap_or_else(free_loopback_port);
        let metrics = format!("127.0.0.1:{}", free_loopback_port());
        let log = std::env::temp_dir().join(crate::unique("sensor.log"));
        let log_file = std::fs::File::create(&log).expect("create sensor log");
        let mut cmd = match wrapper.split_first() {
            Some((prog, rest)) => {
                let mut c = Command::new(prog);
                c.args(rest).arg(sensor_bin());
                c
            }
            None => Command::new(sensor_bin()),
        };
        let child = cmd
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .arg("run")
            .args((!terminal).then_some("--quiet"))
            .args([
                "--grpc-addr",
                &format!("127.0.0.1:{port}"),
                "--metrics-addr",
                &metrics,
            ])
            .args(extra_args)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().expect("dup log"))
            .stderr(log_file)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", sensor_bin().display()));
        let mut sensor = Self {
            child: Some(child),
            addr: format!("http://127.0.0.1:{port}"),
            metrics,
            metrics_tls: extra_args.contains(&"--metrics-tls"),
            log,
        };
        sensor.wait_ready(Duration::from_secs(30)).await;
        sensor
    }

    async fn wait_ready(&mut self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!(
                    "the sensor exited during start-up ({status}):\n{}",
                    self.log_text()
                );
            }
            // Metrics over TLS (--metrics-tls): the test checks /readyz itself, over HTTPS.
            let ready = if self.metrics_tls {
                std::net::TcpStream::connect(&self.metrics).is_ok()
            } else {
                matches!(http_get(&self.metrics, "/readyz"), Ok((200, _)))
            };
            let grpc = self.addr.trim_start_matches("http://");
            if ready && std::net::TcpStream::connect(grpc).is_ok() {
                return;
            }
            if Instant::now() > deadline {
                panic!(
                    "the sensor was not ready within {timeout:?}:\n{}",
                    self.log_text()
                );
            }
            // Polling an HTTP endpoint that has no event to await: retry at a short interval.
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The value of the metrics sample `series` (name and labels, as printed) now.
    pub fn metric(&self, series: &str) -> u64 {
        let (_, body) = http_get(&self.metrics, "/metrics").expect("scrape /metrics");
        sample(&body, series)
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGTERM, then waits for the exit (killing it after `timeout`).
    pub fn terminate(mut self, timeout: Duration) -> ExitStatus {
        let mut child = self.child.take().expect("running");
        stop(&mut child, timeout).unwrap_or_else(|| {
            panic!(
                "the sensor ignored SIGTERM for {timeout:?}:\n{}",
                self.log_text()
            )
        })
    }
}

/// SIGTERM, then waits up to `timeout` for the exit; `None`: it had to be killed.
fn stop(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    // SAFETY: signalling our own child, not yet reaped.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) if Instant::now() <= deadline => {}
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

impl Drop for Sensor {
    /// A clean stop, so that the sensor undoes what it set up (tracefs, if it mounted it);
    /// killed if it does not stop in time.
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            stop(&mut child, Duration::from_secs(10));
        }
        if std::thread::panicking() {
            eprintln!("--- sensor log ---\n{}", self.log_text());
        }
        let _ = std::fs::remove_file(&self.log);
    }
}

/// The value of the sample `series` (name and labels, as printed) in a metrics scrape.
pub fn sample(body: &str, series: &str) -> u64 {
    body.lines()
        .find_map(|l| {
            l.strip_prefix(series)?
                .strip_prefix(' ')?
                .trim()
                .parse()
                .ok()
        })
        .unwrap_or_else(|| panic!("no {series} in:\n{body}"))
}
