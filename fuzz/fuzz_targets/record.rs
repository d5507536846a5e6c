//! The ring-buffer record decoder (`sensor::decode::decode`) on hostile bytes: what a broken or
//! foreign eBPF object could write. It must return an error, never panic, and never allocate
//! more than the record's own size allows.
//!
//! Half the inputs go in raw. The other half are shaped: the first byte picks a record kind,
//! and the header's kind and size are made consistent with the rest, so that the fuzzer spends
//! its time inside the field decoding rather than on the size check.
#![no_main]
use core::mem::size_of;

use libfuzzer_sys::fuzz_target;
use sensor_common::{
    CgroupRecord, ExecRecord, ExitRecord, ForkRecord, Header, RecordKind, SeenRecord, SyscallRecord,
};

const KINDS: [(RecordKind, usize); 7] = [
    (RecordKind::Syscall, size_of::<SyscallRecord>()),
    (RecordKind::Exec, size_of::<ExecRecord>()),
    (RecordKind::CgroupMkdir, size_of::<CgroupRecord>()),
    (RecordKind::CgroupRmdir, size_of::<CgroupRecord>()),
    (RecordKind::Fork, size_of::<ForkRecord>()),
    (RecordKind::Exit, size_of::<ExitRecord>()),
    (RecordKind::SyscallSeen, size_of::<SeenRecord>()),
];

fuzz_target!(|data: &[u8]| {
    let Some((&choice, rest)) = data.split_first() else {
        return;
    };
    if choice & 1 == 0 {
        let _ = sensor::decode::decode(rest);
        return;
    }
    let (kind, size) = KINDS[(choice as usize >> 1) % KINDS.len()];
    let mut record = rest.to_vec();
    record.resize(size.max(size_of::<Header>()), 0);
    record[0..2].copy_from_slice(&(kind as u16).to_ne_bytes());
    record[4..8].copy_from_slice(&(size as u32).to_ne_bytes());
    let _ = sensor::decode::decode(&record);
});
