//! Real workloads for the bench, each run inside a container-shaped cgroup: redis-server under
//! redis-benchmark, nginx under wrk (server on CPU 0, load on CPU 1), a C build with `make
//! -j2`, and an exec-heavy shell loop. Each gives one figure (higher is better for servers,
//! lower for wall times) and, for servers, a p99 latency.
use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use crate::{bench::join_on_exec, cgroup::ScratchDir};

/// One measurement.
#[derive(Clone, Copy, Debug)]
pub struct Figure {
    /// Requests/s (servers) or seconds (build, exec loop).
    pub value: f64,
    pub p99_ms: Option<f64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Workload {
    Redis,
    Nginx,
    Build,
    ExecLoop,
}

impl Workload {
    pub const ALL: [Workload; 4] = [
        Workload::Redis,
        Workload::Nginx,
        Workload::Build,
        Workload::ExecLoop,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Workload::Redis => "redis GET/SET (requests/s)",
            Workload::Nginx => "nginx static file (requests/s)",
            Workload::Build => "make -j2, C project (s)",
            Workload::ExecLoop => "exec-heavy shell loop (s)",
        }
    }

    pub fn key(self) -> &'static str {
        match self {
            Workload::Redis => "redis",
            Workload::Nginx => "nginx",
            Workload::Build => "build",
            Workload::ExecLoop => "exec_loop",
        }
    }

    /// Throughput (more is better) or a wall time (less is better).
    pub fn higher_is_better(self) -> bool {
        matches!(self, Workload::Redis | Workload::Nginx)
    }
}

/// The size of each workload.
#[derive(Clone, Copy, Debug)]
pub struct Sizes {
    pub redis_requests: u32,
    pub wrk_seconds: u32,
    pub c_files: u32,
    pub execs: u32,
}

/// Where the workloads run, with what they need set up once.
pub struct Bench {
    procs: PathBuf,
    dir: ScratchDir,
    sizes: Sizes,
}

fn free_port() -> u16 {
    crate::sensor::free_loopback_port()
}

/// `cmd` pinned to `cpu`, in the cgroup.
fn pinned(cpu: u32, program: &str) -> Command {
    let mut c = Command::new("taskset");
    c.args(["-c", &cpu.to_string(), program]);
    c
}

fn wait_port(port: u16, child: &mut Child, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Ok(Some(s)) = child.try_wait() {
            panic!("{what} exited at start: {s}");
        }
        assert!(Instant::now() < deadline, "{what} did not listen on {port}");
        // A server that has no readiness event to await: poll its port.
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A server process, stopped with SIGTERM (nginx's master then stops its worker) and
/// waited for; whatever is left in the bench cgroup is killed with it (`cgroup.kill`).
struct Server {
    child: Child,
    kill: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        // SAFETY: signalling our own child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::write(&self.kill, "1");
    }
}

impl Bench {
    /// `cgroup_dir`: where the workloads run (a container-shaped cgroup).
    pub fn new(cgroup_dir: &Path, sizes: Sizes) -> Self {
        let dir = ScratchDir::new("services");
        let b = Self {
            procs: cgroup_dir.join("cgroup.procs"),
            dir,
            sizes,
        };
        b.write_c_project();
        std::fs::create_dir_all(b.dir.path().join("www")).expect("www");
        std::fs::write(b.dir.path().join("www/index.html"), "x".repeat(4096)).expect("page");
        b
    }

    fn spawn(&self, mut cmd: Command, what: &str) -> Child {
        join_on_exec(&mut cmd, self.procs.clone());
        cmd.stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("start {what}: {e}"))
    }

    fn server(&self, cmd: Command, what: &str) -> Server {
        Server {
            child: self.spawn(cmd, what),
            kill: self.procs.with_file_name("cgroup.kill"),
        }
    }

    fn output(&self, mut cmd: Command, what: &str) -> String {
        join_on_exec(&mut cmd, self.procs.clone());
        let out = cmd.output().unwrap_or_else(|e| panic!("run {what}: {e}"));
        assert!(
            out.status.success(),
            "{what}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn run(&self, w: Workload) -> Figure {
        match w {
            Workload::Redis => self.redis(),
            Workload::Nginx => self.nginx(),
            Workload::Build => self.timed(w),
            Workload::ExecLoop => self.timed(w),
        }
    }

    fn redis(&self) -> Figure {
        let port = free_port();
        let mut server = pinned(0, "redis-server");
        server.args([
            "--port",
            &port.to_string(),
            "--save",
            "",
            "--appendonly",
            "no",
        ]);
        let mut s = self.server(server, "redis-server");
        wait_port(port, &mut s.child, "redis-server");
        let mut load = pinned(1, "redis-benchmark");
        load.args([
            "-p",
            &port.to_string(),
            "-t",
            "get,set",
            "-c",
            "20",
            "--csv",
        ])
        .args(["-n", &self.sizes.redis_requests.to_string()]);
        let csv = self.output(load, "redis-benchmark");
        // "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"
        let rows: Vec<Vec<f64>> = csv
            .lines()
            .skip(1)
            .map(|l| {
                l.split(',')
                    .skip(1)
                    .filter_map(|f| f.trim_matches('"').parse().ok())
                    .collect()
            })
            .filter(|r: &Vec<f64>| r.len() >= 6)
            .collect();
        assert!(!rows.is_empty(), "redis-benchmark printed {csv:?}");
        let n = rows.len() as f64;
        Figure {
            value: rows.iter().map(|r| r[0]).sum::<f64>() / n,
            p99_ms: Some(rows.iter().map(|r| r[5]).fold(0.0, f64::max)),
        }
    }

    fn nginx(&self) -> Figure {
        let port = free_port();
        let root = self.dir.path();
        let conf = root.join("nginx.conf");
        std::fs::write(
            &conf,
            format!(
                "worker_processes 1; daemon off; pid {r}/nginx.pid; error_log {r}/error.log;\n\
                 events {{ worker_connections 1024; }}\n\
                 http {{ access_log off; client_body_temp_path {r}/tmp; proxy_temp_path {r}/tmp;\n\
                 fastcgi_temp_path {r}/tmp; uwsgi_temp_path {r}/tmp; scgi_temp_path {r}/tmp;\n\
                 server {{ listen 127.0.0.1:{port}; root {r}/www; }} }}\n",
                r = root.display()
            ),
        )
        .expect("nginx.conf");
        let mut server = pinned(0, "nginx");
        server
            .arg("-c")
            .arg(&conf)
            .arg("-p")
            .arg(root)
            .args(["-e", "stderr"]);
        let mut s = self.server(server, "nginx");
        wait_port(port, &mut s.child, "nginx");
        let mut load = pinned(1, "wrk");
        load.args(["-t1", "-c20", "--latency"])
            .arg(format!("-d{}s", self.sizes.wrk_seconds))
            .arg(format!("http://127.0.0.1:{port}/index.html"));
        let text = self.output(load, "wrk");
        let rps = text
            .lines()
            .find_map(|l| l.trim().strip_prefix("Requests/sec:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("wrk printed {text}"));
        let p99 = text
            .lines()
            .find_map(|l| l.trim().strip_prefix("99%"))
            .and_then(|v| ms(v.trim()));
        Figure {
            value: rps,
            p99_ms: p99,
        }
    }

    fn timed(&self, w: Workload) -> Figure {
        let cmd = match w {
            Workload::Build => {
                let mut c = Command::new("make");
                c.args(["-s", "-j2", "-B", "-C"])
                    .arg(self.dir.path().join("c"));
                c
            }
            _ => {
                let mut c = Command::new("sh");
                c.args([
                    "-c",
                    &format!(
                        "i=0; while [ $i -lt {} ]; do /bin/true; i=$((i+1)); done",
                        self.sizes.execs
                    ),
                ]);
                c
            }
        };
        let t = Instant::now();
        self.output(cmd, w.key());
        Figure {
            value: t.elapsed().as_secs_f64(),
            p99_ms: None,
        }
    }

    /// A C project of `c_files` files (a few functions each) and its Makefile.
    fn write_c_project(&self) {
        let dir = self.dir.path().join("c");
        std::fs::create_dir_all(&dir).expect("c dir");
        let n = self.sizes.c_files;
        for i in 0..n {
            std::fs::write(
                dir.join(format!("f{i}.c")),
                format!(
                    "#include <stdio.h>\n#include <string.h>\n#include <stdlib.h>\n\
                     int f{i}_a(int x) {{ int s = 0; for (int k = 0; k < x; k++) s += k * {i}; return s; }}\n\
                     const char *f{i}_b(const char *p) {{ return strchr(p, 'a' + {i} % 26); }}\n\
                     void f{i}_c(void) {{ char *b = malloc(64); snprintf(b, 64, \"%d\", f{i}_a(10)); free(b); }}\n"
                ),
            )
            .expect("write a C file");
        }
        let objs: Vec<String> = (0..n).map(|i| format!("f{i}.o")).collect();
        std::fs::write(
            dir.join("Makefile"),
            format!(
                "CFLAGS=-O2\nlib.a: {objs}\n\tar rcs $@ $^\n%.o: %.c\n\t$(CC) $(CFLAGS) -c -o $@ $<\n",
                objs = objs.join(" ")
            ),
        )
        .expect("Makefile");
    }
}

/// `1.23ms`, `456.00us`, `1.2s` -> milliseconds.
fn ms(v: &str) -> Option<f64> {
    let (num, unit) = v.split_at(v.find(|c: char| c.is_ascii_alphabetic())?);
    let n: f64 = num.parse().ok()?;
    Some(match unit {
        "us" => n / 1000.0,
        "ms" => n,
        "s" => n * 1000.0,
        _ => return None,
    })
}
