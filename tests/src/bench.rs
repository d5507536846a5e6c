//! Measurements for `cargo xtask bench`: each returns figures; the binary prints them.
use std::{
    path::Path,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use sensor_proto::v1::{EventKind, GetEventsRequest, LossReason, Lost};

use crate::cgroup::cgroup2_mount;

/// HTTP/2 receive window of the benchmark's subscribers, in bytes.
const WINDOW: u32 = 8 << 20;
/// The largest HTTP/2 frame the benchmark's subscribers accept.
const MAX_FRAME: u32 = 1 << 20;

/// ns per call of `getppid`, over `n` calls.
pub fn getppid_ns(n: u64) -> f64 {
    let t = Instant::now();
    for _ in 0..n {
        // SAFETY: getppid has no arguments and cannot fail.
        unsafe { libc::syscall(libc::SYS_getppid) };
    }
    t.elapsed().as_nanos() as f64 / n as f64
}

/// Moves this process into the cgroup2 directory `rel` (relative to the cgroup2 root) and
/// back to where it was when dropped.
pub struct InCgroup {
    back: std::path::PathBuf,
}

fn own_cgroup2() -> std::path::PathBuf {
    let text = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    let rel = text
        .lines()
        .find_map(|l| l.strip_prefix("0::"))
        .unwrap_or("/")
        .to_owned();
    cgroup2_mount()
        .expect("cgroup2")
        .join(rel.trim_start_matches('/'))
}

impl InCgroup {
    pub fn enter(dir: &Path) -> Self {
        let back = own_cgroup2();
        std::fs::write(dir.join("cgroup.procs"), "0").expect("join the bench cgroup");
        Self { back }
    }
}

impl Drop for InCgroup {
    fn drop(&mut self) {
        let _ = std::fs::write(self.back.join("cgroup.procs"), "0");
    }
}

/// Turns the kernel's BPF run-time statistics on until the returned fd is closed
/// (`bpf(BPF_ENABLE_STATS)`: no sysctl is changed).
pub fn enable_stats() -> std::os::fd::OwnedFd {
    use std::os::fd::FromRawFd as _;
    const BPF_ENABLE_STATS: libc::c_long = 32;
    const BPF_STATS_RUN_TIME: u32 = 0;
    let attr = [BPF_STATS_RUN_TIME, 0, 0, 0];
    // SAFETY: a bpf() call with a valid attribute buffer of the size given.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            BPF_ENABLE_STATS,
            attr.as_ptr(),
            std::mem::size_of_val(&attr),
        )
    };
    assert!(
        fd >= 0,
        "BPF_ENABLE_STATS: {}",
        std::io::Error::last_os_error()
    );
    // SAFETY: a new fd that nothing else owns.
    unsafe { std::os::fd::OwnedFd::from_raw_fd(fd as i32) }
}

/// The floor's empty programs, attached for one measurement and detached on drop: the empty
/// raw_tp on sys_enter (the floor any sys_enter hook costs), or the variants below (an exit
/// hook, one call's own tracepoints).
pub struct Floor {
    ebpf: aya::Ebpf,
    program: &'static str,
}

impl Floor {
    pub fn attach(object: &Path) -> Self {
        Self::attach_program(object, "floor")
    }

    /// Program `program` of the floor object (`floor`, or `floor_task`: the floor plus the
    /// helper call that gives the running task).
    pub fn attach_program(object: &Path, program: &'static str) -> Self {
        let mut floor = Self::load(object, program);
        let prog: &mut aya::programs::RawTracePoint = floor
            .ebpf
            .program_mut(program)
            .unwrap_or_else(|| panic!("program {program}"))
            .try_into()
            .expect("raw_tp");
        prog.load().expect("load the floor program");
        prog.attach("sys_enter").expect("attach the floor program");
        floor
    }

    fn load(object: &Path, program: &'static str) -> Self {
        let bytes = std::fs::read(object).expect("read the floor object");
        let ebpf = aya::Ebpf::load(&bytes).expect("load the floor object");
        Self { ebpf, program }
    }

    /// Attaches the object's classic tracepoint program `program` to `syscalls:<event>`.
    fn attach_syscall_event(&mut self, program: &str, event: &str) {
        let prog: &mut aya::programs::TracePoint = self
            .ebpf
            .program_mut(program)
            .unwrap_or_else(|| panic!("program {program}"))
            .try_into()
            .expect("tracepoint");
        prog.load().expect("load a floor tracepoint program");
        // Attached, it stays so without tracefs.
        let _tracefs = Tracefs::ensure();
        prog.attach("syscalls", event)
            .unwrap_or_else(|e| panic!("attach {program} to syscalls:{event}: {e}"));
    }

    /// The floor, plus an empty program on the exit of a call the loop does not make
    /// (`syscalls:sys_exit_mount`): what hooking any call's exit, as the sensor does for the
    /// outcome of forbidden calls and failed execs, adds to every syscall of the node.
    pub fn attach_with_exit(object: &Path) -> Self {
        let mut floor = Self::attach(object);
        floor.attach_syscall_event("floor_exit", "sys_exit_mount");
        floor
    }

    /// Nothing on `sys_enter`: an empty program on the entry of one call the loop does not
    /// make (`syscalls:sys_enter_mount`), the way a tool that watches a few calls by their own
    /// tracepoints hooks them. What that costs every other call.
    pub fn attach_one_call(object: &Path) -> Self {
        let mut floor = Self::load(object, "floor_call");
        floor.attach_syscall_event("floor_call", "sys_enter_mount");
        floor
    }

    /// [`Floor::attach_one_call`] plus the same call's exit (`syscalls:sys_exit_mount`): a
    /// tool that watches a few calls and their outcomes by their own tracepoints.
    pub fn attach_one_call_with_exit(object: &Path) -> Self {
        let mut floor = Self::attach_one_call(object);
        floor.attach_syscall_event("floor_exit", "sys_exit_mount");
        floor
    }

    /// The kernel's run time and run count of the floor program so far (while statistics
    /// are on).
    pub fn run_stats(&self) -> (u64, u64) {
        self.ebpf
            .program(self.program)
            .and_then(|p| p.info().ok())
            .map_or((0, 0), |i| (i.run_time().as_nanos() as u64, i.run_count()))
    }

    /// ns per run between two [`Floor::run_stats`].
    pub fn ns_per_run(before: (u64, u64), after: (u64, u64)) -> f64 {
        (after.0 - before.0) as f64 / (after.1 - before.1).max(1) as f64
    }
}

/// A bpftrace peer: counting syscalls by (cgroup, syscall) for one cgroup ([`Bpftrace::attach`],
/// the old comparison), or doing the sensor's job on every syscall of the node
/// ([`Bpftrace::same_work`]).
pub struct Bpftrace {
    child: Child,
    /// Dropped after the child is killed.
    _tracefs: Tracefs,
}

const TRACEFS: &str = "/sys/kernel/tracing";

/// tracefs, mounted for as long as this lives if the node had not mounted it.
struct Tracefs {
    mounted: bool,
}

impl Tracefs {
    fn ensure() -> Self {
        let mounted = !Path::new(TRACEFS).join("events").is_dir()
            && Command::new("mount")
                .args(["-t", "tracefs", "tracefs", TRACEFS])
                .status()
                .is_ok_and(|s| s.success());
        Self { mounted }
    }
}

impl Drop for Tracefs {
    fn drop(&mut self) {
        if self.mounted {
            let _ = Command::new("umount").arg(TRACEFS).status();
        }
    }
}

impl Bpftrace {
    pub fn attach(cgroup_id: u64) -> Option<Self> {
        // bpftrace 0.17 has no raw tracepoints: the classic one, as its users write it.
        Self::run(&format!(
            "tracepoint:raw_syscalls:sys_enter /cgroup == {cgroup_id}/ {{ @[cgroup, args->id] = count(); }}"
        ))
    }

    /// The sensor's job, as a bpftrace user would write it: on every syscall of the node, a
    /// per-cgroup learned set (written only on a first use) and a forbidden-set test (mount,
    /// umount2, pivot_root, chroot, unshare), printing a forbidden call.
    pub fn same_work() -> Option<Self> {
        Self::run(
            "BEGIN { @forbidden[165] = 1; @forbidden[166] = 1; @forbidden[155] = 1; \
             @forbidden[161] = 1; @forbidden[272] = 1; } \
             tracepoint:raw_syscalls:sys_enter { \
             if (@learned[cgroup, args->id] == 0) { @learned[cgroup, args->id] = 1; } \
             if (@forbidden[args->id] == 1) { printf(\"%d %d\\n\", pid, args->id); } }",
        )
    }

    fn run(script: &str) -> Option<Self> {
        let tracefs = Tracefs::ensure();
        let child = Command::new("bpftrace")
            .args(["-e", script])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        // It prints "Attaching 1 probe..." once attached.
        let mut bt = Self {
            child,
            _tracefs: tracefs,
        };
        let mut out = bt.child.stdout.take()?;
        let mut buf = [0u8; 256];
        let n = std::io::Read::read(&mut out, &mut buf).ok()?;
        if !String::from_utf8_lossy(&buf[..n]).contains("Attaching") {
            return None; // dropped: killed, tracefs unmounted
        }
        std::mem::forget(out); // keep the pipe open so bpftrace never blocks on a closed stdout
        Some(bt)
    }
}

impl Drop for Bpftrace {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Delivered, lost (by reason), over one subscription, until `produced` are accounted for or
/// nothing has arrived for `quiet`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Tally {
    /// Events of one call each (summaries are counted below).
    pub delivered: u64,
    /// When the last event arrived.
    pub last_event: Option<Instant>,
    /// Node-wide kernel losses told (every subscriber is told of every cgroup's).
    pub lost_kernel: u64,
    pub lost_queue: u64,
    pub lost_other: u64,
    /// What this subscription's cgroup's summaries told: its own records lost in the kernel,
    /// and its calls held back by the flood budget.
    pub lost_here: u64,
    pub suppressed: u64,
}

impl Tally {
    /// Accounted the node-wide way: deliveries and every loss notice.
    pub fn accounted(&self) -> u64 {
        self.delivered + self.lost_kernel + self.lost_queue + self.lost_other
    }

    /// Accounted per cgroup: deliveries, the cgroup's own summaries and this subscriber's
    /// queue losses. Exactly `produced` when nothing else reached this subscriber.
    pub fn accounted_here(&self) -> u64 {
        self.delivered + self.lost_here + self.suppressed + self.lost_queue
    }
}

/// The few fields of an encoded `Event` that say whether it is a summary.
#[derive(Clone, PartialEq, prost::Message)]
struct SummaryProbe {
    #[prost(message, optional, tag = "10")]
    flagged: Option<FlaggedProbe>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct FlaggedProbe {
    #[prost(uint64, tag = "9")]
    suppressed: u64,
    #[prost(uint64, tag = "11")]
    lost_in_kernel: u64,
}

/// A `GetEventsResponse` as a counting subscriber reads it: the event left encoded (a
/// collector that forwards events need not decode them), the loss notice decoded.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Counted {
    #[prost(bytes = "bytes", optional, tag = "1")]
    pub event: Option<prost::bytes::Bytes>,
    #[prost(message, optional, tag = "2")]
    pub lost: Option<Lost>,
}

/// A subscriber that counts events and losses (the same RPC, read with [`Counted`]).
pub struct Counting(tonic::Streaming<Counted>);

impl Counting {
    pub async fn connect(addr: &str, request: GetEventsRequest) -> Result<Self, tonic::Status> {
        let unavailable = |e: tonic::transport::Error| tonic::Status::unavailable(e.to_string());
        // Receive windows large enough that HTTP/2 flow control does not pace the stream, and
        // frames as large as the sensor's chunks, as `sensor events` asks for.
        let channel = tonic::transport::Endpoint::from_shared(addr.to_owned())
            .map_err(unavailable)?
            .initial_stream_window_size(Some(WINDOW))
            .initial_connection_window_size(Some(WINDOW))
            .max_frame_size(Some(MAX_FRAME))
            .connect()
            .await
            .map_err(unavailable)?;
        let mut grpc = tonic::client::Grpc::new(channel);
        grpc.ready()
            .await
            .map_err(|e| tonic::Status::unavailable(e.to_string()))?;
        let path = tonic::codegen::http::uri::PathAndQuery::from_static(
            "/sensor.v1.SensorService/GetEvents",
        );
        let codec = tonic_prost::ProstCodec::<GetEventsRequest, Counted>::default();
        let stream = grpc
            .server_streaming(tonic::Request::new(request), path, codec)
            .await?;
        Ok(Self(stream.into_inner()))
    }

    /// Counts until `produced` are accounted for or nothing has arrived for `quiet`.
    pub async fn tally(&mut self, produced: u64, quiet: Duration) -> Tally {
        let mut t = Tally::default();
        // Node-wide notices come within a poll, the cgroup's summaries within a second.
        while t.accounted() < produced || t.accounted_here() < produced {
            let Ok(Ok(Some(msg))) = tokio::time::timeout(quiet, self.0.message()).await else {
                break;
            };
            if let Some(ev) = &msg.event {
                let probe = <SummaryProbe as prost::Message>::decode(ev.clone())
                    .ok()
                    .and_then(|p| p.flagged)
                    .filter(|f| f.suppressed > 0 || f.lost_in_kernel > 0);
                match probe {
                    Some(f) => {
                        t.lost_here += f.lost_in_kernel;
                        t.suppressed += f.suppressed;
                    }
                    None => {
                        t.delivered += 1;
                        t.last_event = Some(Instant::now());
                    }
                }
            } else if let Some(l) = msg.lost {
                match LossReason::try_from(l.reason) {
                    Ok(LossReason::KernelRingBuffer) => t.lost_kernel += l.count,
                    Ok(LossReason::SubscriberQueue) => t.lost_queue += l.count,
                    _ => t.lost_other += l.count,
                }
            }
        }
        t
    }
}

pub fn flagged_request(cgroup_id: u64, kind: EventKind) -> GetEventsRequest {
    GetEventsRequest {
        kinds: vec![kind as i32],
        cgroup_ids: vec![cgroup_id],
        ..Default::default()
    }
}

/// A forbidden call that fails fast: umount2 of a path that does not exist (ENOENT).
pub fn failing_umounts(n: u64) -> Duration {
    let path = c"/sensor-bench-does-not-exist";
    let t = Instant::now();
    for _ in 0..n {
        // SAFETY: a valid path; the call fails with ENOENT.
        unsafe { libc::umount2(path.as_ptr(), 0) };
    }
    t.elapsed()
}

/// CPU time (user + system) a process has used so far, in microseconds.
pub fn cpu_us(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command (which may hold spaces), from its closing parenthesis:
    // state is field 3, utime 14 and stime 15.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<u64> = rest
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|v| v.parse().ok())
        .collect();
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    f.iter().sum::<u64>() * 1_000_000 / hz
}

/// The CPU time each thread of a process had used, in ns, from the scheduler's own count
/// (`/proc/PID/task/TID/schedstat`): exact, where `/proc/PID/stat` counts clock ticks (10
/// ms, 1% of a CPU over a one-second loop).
#[derive(Clone, Debug, Default)]
pub struct ThreadCpu(std::collections::BTreeMap<u32, u64>);

impl ThreadCpu {
    pub fn of(pid: u32) -> Self {
        let mut threads = std::collections::BTreeMap::new();
        let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
            return Self(threads);
        };
        for entry in dir.flatten() {
            let Some(tid) = entry.file_name().to_str().and_then(|t| t.parse().ok()) else {
                continue;
            };
            let ns = std::fs::read_to_string(entry.path().join("schedstat"))
                .ok()
                .and_then(|s| s.split_whitespace().next()?.parse().ok());
            if let Some(ns) = ns {
                threads.insert(tid, ns);
            }
        }
        Self(threads)
    }

    /// The CPU time used since `earlier`: by the threads in both, and all of a thread new
    /// since. A thread that ended in between is missed; the daemon's threads that end are
    /// tokio's blocking threads, which end only after 10 s without work.
    pub fn since(&self, earlier: &ThreadCpu) -> Duration {
        let ns = self
            .0
            .iter()
            .map(|(tid, now)| now.saturating_sub(earlier.0.get(tid).copied().unwrap_or(0)))
            .sum();
        Duration::from_nanos(ns)
    }
}

/// Waits until `pid` has used under 1 ms of CPU in 100 ms (or `timeout` passes).
pub async fn wait_idle(pid: u32, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    let mut before = cpu_us(pid);
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let now = cpu_us(pid);
        if now - before < 1_000 {
            return;
        }
        before = now;
    }
}

/// Resident memory of a process, in KiB.
pub fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// Memory the kernel charges for the BPF maps a process holds (sum of `memlock:` in fdinfo,
/// each map once however many fds it has open on it).
pub fn bpf_map_kib(pid: u32) -> u64 {
    let mut total = 0u64;
    let mut seen = std::collections::HashSet::new();
    for e in std::fs::read_dir(format!("/proc/{pid}/fdinfo"))
        .into_iter()
        .flatten()
        .flatten()
    {
        let text = std::fs::read_to_string(e.path()).unwrap_or_default();
        let id = text.lines().find_map(|l| l.strip_prefix("map_id:"));
        if text.contains("map_type:") && id.is_none_or(|id| seen.insert(id.trim().to_owned())) {
            total += text
                .lines()
                .find_map(|l| l.strip_prefix("memlock:"))
                .and_then(|v| v.trim().parse::<u64>().ok())
                .unwrap_or(0);
        }
    }
    total / 1024
}

/// Makes `cmd`'s process join the cgroup whose `cgroup.procs` is `procs` before it execs, so
/// that the exec and everything after happen inside it.
pub fn join_on_exec(cmd: &mut Command, procs: std::path::PathBuf) {
    use std::os::unix::process::CommandExt as _;
    let path = std::ffi::CString::new(procs.as_os_str().as_encoded_bytes()).expect("no NUL");
    // SAFETY: between fork and exec the child only calls open, write and close.
    unsafe {
        cmd.pre_exec(move || {
            let fd = libc::open(path.as_ptr(), libc::O_WRONLY);
            if fd >= 0 {
                libc::write(fd, b"0".as_ptr().cast(), 1);
                libc::close(fd);
            }
            Ok(())
        });
    }
}
