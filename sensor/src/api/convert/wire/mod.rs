//! An event straight to its protobuf bytes (`sensor.v1.GetEventsResponse` holding a
//! `sensor.v1.Event`): the one mapping of [`Event`] to the wire. Building the generated
//! structs first cost about thirty allocations and a nested length pass per event, more than
//! everything else the sensor does with it; this writes the fields in place. Field numbers are
//! those of `proto/sensor/v1/sensor.proto`; the tests decode the bytes with the generated
//! types and check every field. `event_to_wire` decodes these bytes when a struct is wanted.
use std::cell::RefCell;

use prost::encoding::{WireType, encoded_len_varint};
use sensor_proto::v1 as pb;

use super::{errno_name, outcome_parts, phase_to_wire, severity_to_wire};
use crate::{
    api::Identity,
    enrich::{container::ContainerRef, cri::PodMeta},
    event::{Attribution, Body, DecodedArg, Event, FlaggedSyscall},
};

/// A varint, written in place. prost's `encode_varint` goes through `BufMut` a byte at a
/// time, out of line: it was the top user-space entry of the workers' profile under a flagged
/// storm (9% of their time, with this module's ~35 varints per event).
#[inline]
fn put_varint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push(v as u8 | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

/// `v` as a varint filling `slot`, which is exactly its encoded length: low seven bits
/// first, all bytes but the last saying more follow.
#[inline]
fn varint_into(slot: &mut [u8], v: u64) {
    let mut rest = v;
    for b in slot {
        *b = rest as u8 & 0x7f | if rest >= 0x80 { 0x80 } else { 0 };
        rest >>= 7;
    }
}

#[inline]
fn put_key(buf: &mut Vec<u8>, tag: u32, wire_type: WireType) {
    put_varint(buf, u64::from(tag << 3 | wire_type as u32));
}

/// A protobuf writer over one buffer. Scalars at their default value are left out (proto3).
struct W<'a>(&'a mut Vec<u8>);

impl W<'_> {
    fn varint(&mut self, tag: u32, v: u64) {
        if v != 0 {
            put_key(self.0, tag, WireType::Varint);
            put_varint(self.0, v);
        }
    }

    fn int32(&mut self, tag: u32, v: i32) {
        // Negative int32 values are sign-extended to ten bytes, as protobuf says.
        self.varint(tag, i64::from(v) as u64);
    }

    fn int64(&mut self, tag: u32, v: i64) {
        self.varint(tag, v as u64);
    }

    fn bytes(&mut self, tag: u32, v: &[u8]) {
        if !v.is_empty() {
            self.bytes_always(tag, v);
        }
    }

    /// A repeated or map element: written even when empty.
    fn bytes_always(&mut self, tag: u32, v: &[u8]) {
        put_key(self.0, tag, WireType::LengthDelimited);
        put_varint(self.0, v.len() as u64);
        self.0.extend_from_slice(v);
    }

    fn string(&mut self, tag: u32, v: &str) {
        self.bytes(tag, v.as_bytes());
    }

    /// A nested message (always written, even empty): its body goes in place after one byte
    /// kept for its length, which is enough for most; a longer one moves its body along.
    fn message(&mut self, tag: u32, body: impl FnOnce(&mut W<'_>)) {
        put_key(self.0, tag, WireType::LengthDelimited);
        let at = self.0.len();
        self.0.push(0);
        body(&mut W(self.0));
        let len = self.0.len() - at - 1;
        let n = encoded_len_varint(len as u64);
        if n > 1 {
            self.0.resize(self.0.len() + n - 1, 0);
            self.0.copy_within(at + 1..at + 1 + len, at + n);
        }
        varint_into(&mut self.0[at..at + n], len as u64);
    }
}

/// `GetEventsResponse { event: ev }`, encoded, in a buffer of its exact size: it is kept as
/// long as the event sits in a subscriber queue or the replay buffer, so room to spare would
/// be memory held (and, under a storm, fresh pages faulted in) for nothing.
pub fn event_response(ev: &Event, id: &Identity) -> Box<[u8]> {
    thread_local! {
        static SCRATCH: RefCell<Vec<u8>> = RefCell::new(Vec::with_capacity(4096));
    }
    // The response's one field (key and length) goes in front of the event once its length
    // is known: room for the longest is kept, and the bytes start where the field's fit (so
    // the event's body, the bulk of the bytes, is not moved along as `message` would).
    const ROOM: usize = 1 + 10;
    SCRATCH.with_borrow_mut(|buf| {
        buf.clear();
        buf.resize(ROOM, 0);
        event(&mut W(buf), ev, id);
        let len = (buf.len() - ROOM) as u64;
        let start = ROOM - 1 - encoded_len_varint(len);
        buf[start] = (1 << 3 | WireType::LengthDelimited as u32) as u8;
        varint_into(&mut buf[start + 1..ROOM], len);
        buf[start..].into()
    })
}

fn event(w: &mut W<'_>, ev: &Event, id: &Identity) {
    w.message(1, |w| header(w, ev, id));
    match &ev.body {
        Body::FlaggedSyscall(s) => w.message(10, |w| flagged(w, s)),
        Body::Exec(e) => w.message(11, |w| {
            w.bytes(1, &e.filename);
            w.varint(2, u64::from(e.filename_truncated));
            for a in e.argv.iter() {
                w.bytes_always(3, a);
            }
            w.varint(4, u64::from(e.argv_truncated));
            w.int32(5, e.errno.unwrap_or(0));
            w.string(6, e.errno.map(errno_name).unwrap_or_default());
            for f in &e.findings {
                w.message(7, |w| {
                    w.string(1, &f.what);
                    w.varint(2, severity_to_wire(Some(f.severity)) as u64);
                });
            }
            w.varint(8, u64::from(e.privileges.is_some()));
            w.varint(9, e.privileges.map_or(0, |p| u64::from(p.euid)));
            w.varint(10, e.privileges.map_or(0, |p| p.cap_effective));
            if let Some(x) = &e.exe_file {
                w.varint(11, 1);
                w.varint(12, u64::from(x.nlink));
                w.bytes(13, &x.name);
            }
            w.varint(14, u64::from(e.argv_unknown));
        }),
        Body::Fork { child_pid } => w.message(12, |w| w.varint(1, u64::from(*child_pid))),
        Body::Exit { exit_code } => w.message(13, |w| {
            // The kernel's wait status: low 7 bits the signal, the next 8 the exit status.
            let signal = (exit_code & 0x7f) as i32;
            let status = if signal == 0 {
                ((exit_code >> 8) & 0xff) as i32
            } else {
                0
            };
            w.int32(1, status);
            w.int32(2, signal);
            w.varint(3, u64::from(*exit_code));
        }),
        Body::SyscallSeen(x) => w.message(14, |w| {
            w.string(1, x.name.unwrap_or_default());
            w.varint(2, x.nr);
            w.string(3, x.arch.name());
            w.varint(4, phase_to_wire(x.phase) as u64);
        }),
        Body::ProfileDeviation(d) => w.message(15, |w| {
            w.message(1, |w| flagged(w, &d.call));
            w.string(2, d.profile.as_deref().unwrap_or_default());
            w.varint(3, u64::from(d.flagged));
        }),
    }
}

fn header(w: &mut W<'_>, ev: &Event, id: &Identity) {
    let p = &ev.process;
    w.varint(1, ev.seq);
    w.string(2, &id.instance_id);
    w.string(3, &id.node_name);
    w.varint(4, ev.time_unix_nano);
    w.varint(5, ev.ktime_ns);
    w.varint(6, ev.cgroup_id);
    w.varint(7, u64::from(p.pid));
    w.varint(8, u64::from(p.tid));
    w.varint(9, u64::from(p.uid));
    w.varint(10, u64::from(p.gid));
    w.bytes(11, &p.comm);
    w.varint(12, u64::from(p.ppid));
    w.bytes(13, p.parent_exe.as_deref().unwrap_or_default());
    w.bytes(14, p.grandparent_exe.as_deref().unwrap_or_default());
    w.string(15, ev.cgroup_path.as_deref().unwrap_or_default());
    w.message(16, |w| attribution(w, &ev.attribution));
    for a in p.argv.iter().flat_map(|a| a.iter()) {
        w.bytes_always(17, a);
    }
}

fn attribution(w: &mut W<'_>, a: &Attribution) {
    let state = match a {
        Attribution::Pending => pb::AttributionState::Pending,
        Attribution::Host => pb::AttributionState::Host,
        Attribution::Unknown => pb::AttributionState::Unknown,
        Attribution::Container { .. } => pb::AttributionState::Container,
    };
    w.varint(1, state as u64);
    if let Attribution::Container {
        container,
        meta,
        meta_pending,
    } = a
    {
        w.message(2, |w| {
            self::container(w, container, meta.as_deref());
            w.varint(10, u64::from(*meta_pending));
        });
    }
}

/// `sensor.v1.Container`.
fn container(w: &mut W<'_>, c: &ContainerRef, meta: Option<&PodMeta>) {
    w.string(1, c.runtime.name());
    w.string(2, &c.id);
    let pod_uid = match (&c.pod, meta) {
        (Some((uid, _)), _) => uid.as_str(),
        (None, Some(m)) => &m.pod_uid,
        (None, None) => "",
    };
    w.string(3, pod_uid);
    w.string(4, c.pod.as_ref().map(|(_, q)| q.name()).unwrap_or_default());
    if let Some(m) = meta {
        w.string(5, &m.pod_name);
        w.string(6, &m.pod_namespace);
        w.string(7, &m.container_name);
        w.string(8, &m.image);
        for (k, v) in &m.labels {
            w.message(9, |w| {
                w.string(1, k);
                w.string(2, v);
            });
        }
    }
}

pub(super) fn container_bytes(c: &ContainerRef, meta: Option<&PodMeta>) -> Vec<u8> {
    let mut buf = Vec::with_capacity(256);
    container(&mut W(&mut buf), c, meta);
    buf
}

fn flagged(w: &mut W<'_>, s: &FlaggedSyscall) {
    w.string(1, s.name.unwrap_or_default());
    w.varint(2, s.nr);
    // Packed, as proto3 repeated scalars are (the six are always sent).
    w.message(3, |w| {
        for a in s.args {
            put_varint(w.0, a);
        }
    });
    w.string(4, s.arch.name());
    let (kind, return_value, errno) = outcome_parts(s.outcome);
    w.message(5, |w| {
        w.varint(1, kind as u64);
        w.int64(2, return_value);
        w.int32(3, errno);
        if errno != 0 {
            w.string(4, errno_name(errno));
        }
    });
    for a in &s.decoded {
        w.message(6, |w| argument(w, a));
    }
    w.varint(7, severity_to_wire(s.severity) as u64);
    w.varint(8, u64::from(s.args_at_exit));
    if let Some(x) = s.suppressed {
        w.varint(9, x.count);
        w.varint(10, x.period_ns);
        w.varint(11, x.lost);
    }
    if let Some(at) = s.namespaces_at_fork {
        w.message(16, |w| {
            w.varint(1, at.namespaces);
            w.string(2, &crate::args::clone_flag_names(at.namespaces));
            w.varint(3, u64::from(at.entry_disagreed));
        });
    }
}

fn argument(w: &mut W<'_>, a: &DecodedArg) {
    w.string(1, a.name);
    w.string(2, &a.value);
    w.bytes(3, a.raw.as_deref().unwrap_or_default());
    w.varint(4, u64::from(a.truncated));
}

#[cfg(test)]
mod tests;
