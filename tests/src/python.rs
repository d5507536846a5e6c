//! The Python side of the interop tests: the venv `cargo xtask test` makes (grpcio,
//! grpcio-tools, opentelemetry-proto), and the OTLP receiver built from it
//! (`tests/python/otlp_receiver.py`).
use std::{
    io::Write as _,
    process::{Child, ChildStdin, Command, Stdio},
    sync::mpsc,
    time::{Duration, Instant},
};

use serde_json::Value;

/// The venv's python, from `SENSOR_TEST_PYTHON`; `None` (skip) only outside CI.
pub fn python() -> Option<String> {
    match std::env::var("SENSOR_TEST_PYTHON") {
        Ok(p) if !p.is_empty() => Some(p),
        _ if std::env::var("SENSOR_E2E_REQUIRED").is_ok_and(|v| v == "1") => panic!(
            "SENSOR_TEST_PYTHON is not set (SENSOR_E2E_REQUIRED=1): `cargo xtask test` makes a \
             venv with grpcio, grpcio-tools and opentelemetry-proto and sets it"
        ),
        _ => {
            eprintln!("skipping: SENSOR_TEST_PYTHON is not set (run `cargo xtask test`)");
            None
        }
    }
}

/// A running OTLP logs receiver; killed when dropped.
pub struct Receiver {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
    pub port: u16,
    /// Every record received so far, in order.
    pub records: Vec<Value>,
}

impl Receiver {
    /// Starts the receiver on `port` (0: any) with `args` (`--hold`, `--tls ...`) and waits
    /// until it listens.
    pub fn start(python: &str, port: u16, args: &[&str]) -> Self {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/python/otlp_receiver.py");
        let mut child = Command::new(python)
            .arg(script)
            .arg(port.to_string())
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the OTLP receiver");
        let lines = crate::lines_of(child.stdout.take().expect("stdout"));
        let first = lines
            .recv_timeout(Duration::from_secs(30))
            .expect("the OTLP receiver did not start listening");
        let port = first
            .strip_prefix("LISTENING ")
            .and_then(|p| p.parse().ok())
            .filter(|&p: &u16| p != 0)
            .unwrap_or_else(|| panic!("the OTLP receiver said {first:?}"));
        Self {
            stdin: child.stdin.take(),
            child,
            lines,
            port,
            records: Vec::new(),
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Lets every held export through (`--hold`).
    pub fn release(&mut self) {
        let mut stdin = self.stdin.take().expect("released once");
        writeln!(stdin, "go").expect("write to the receiver");
    }

    /// Takes what has arrived, without waiting.
    pub fn poll(&mut self) {
        while let Ok(line) = self.lines.try_recv() {
            self.records.push(parse(&line));
        }
    }

    /// Receives until `done(records)` holds, or panics after `timeout` with `what`.
    pub fn until(&mut self, what: &str, timeout: Duration, done: impl Fn(&[Value]) -> bool) {
        let deadline = Instant::now() + timeout;
        self.poll();
        while !done(&self.records) {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => self.records.push(parse(&line)),
                Err(_) => panic!(
                    "{what}: not within {timeout:?}; received {} records: {:#?}",
                    self.records.len(),
                    self.records.iter().rev().take(5).collect::<Vec<_>>()
                ),
            }
        }
    }
}

fn parse(line: &str) -> Value {
    serde_json::from_str(line).unwrap_or_else(|e| panic!("receiver line {line:?}: {e}"))
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A record's attribute `key`.
pub fn attr<'a>(r: &'a Value, key: &str) -> &'a Value {
    &r["attributes"][key]
}
