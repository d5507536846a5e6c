//! A bare io_uring ring for the tests (no liburing): set up, fill submission entries, submit,
//! wait for their completions. Enough to make the kernel run chosen operations, which is what
//! the sensor must see without any syscall naming them.
use std::io::Error;

const SYS_IO_URING_SETUP: libc::c_long = 425;
const SYS_IO_URING_ENTER: libc::c_long = 426;
const IORING_OFF_SQ_RING: i64 = 0;
const IORING_OFF_SQES: i64 = 0x1000_0000;
const IORING_ENTER_GETEVENTS: u32 = 1;
const SQE_SIZE: usize = 64;

#[repr(C)]
#[derive(Default)]
struct SqringOffsets {
    head: u32,
    tail: u32,
    ring_mask: u32,
    ring_entries: u32,
    flags: u32,
    dropped: u32,
    array: u32,
    resv1: u32,
    user_addr: u64,
}

#[repr(C)]
#[derive(Default)]
struct CqringOffsets {
    head: u32,
    tail: u32,
    ring_mask: u32,
    ring_entries: u32,
    overflow: u32,
    cqes: u32,
    flags: u32,
    resv1: u32,
    user_addr: u64,
}

#[repr(C)]
#[derive(Default)]
struct Params {
    sq_entries: u32,
    cq_entries: u32,
    flags: u32,
    sq_thread_cpu: u32,
    sq_thread_idle: u32,
    features: u32,
    wq_fd: u32,
    resv: [u32; 3],
    sq_off: SqringOffsets,
    cq_off: CqringOffsets,
}

const _: () = assert!(std::mem::size_of::<Params>() == 120);

/// One operation: opcode, and the entry's `fd`, `off`, `addr` and `len` fields.
#[derive(Clone, Copy, Debug, Default)]
pub struct Op {
    pub opcode: u8,
    pub fd: i32,
    pub off: u64,
    pub addr: u64,
    pub len: u32,
}

fn mmap(fd: i32, len: usize, offset: i64) -> Result<*mut u8, Error> {
    // SAFETY: a fresh shared mapping of the ring's fd.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED | libc::MAP_POPULATE,
            fd,
            offset,
        )
    };
    if p == libc::MAP_FAILED {
        return Err(Error::last_os_error());
    }
    Ok(p.cast())
}

/// Submits `ops` through a new ring in one `io_uring_enter` and waits for them all. Returns
/// how many the kernel took.
pub fn submit(ops: &[Op]) -> Result<u32, Error> {
    let entries = ops.len().next_power_of_two().max(1) as u32;
    let mut p = Params::default();
    // SAFETY: `p` is a valid io_uring_params the kernel fills in.
    let fd = unsafe { libc::syscall(SYS_IO_URING_SETUP, entries, &mut p as *mut Params) };
    if fd < 0 {
        return Err(Error::last_os_error());
    }
    let fd = fd as i32;
    let ring_len = p.sq_off.array as usize + p.sq_entries as usize * 4;
    let ring = mmap(fd, ring_len, IORING_OFF_SQ_RING)?;
    let sqes = mmap(fd, p.sq_entries as usize * SQE_SIZE, IORING_OFF_SQES)?;
    // SAFETY: offsets inside the mappings, as the kernel gave them; entries are zeroed first.
    unsafe {
        let array = ring.add(p.sq_off.array as usize).cast::<u32>();
        for (i, op) in ops.iter().enumerate() {
            let sqe = sqes.add(i * SQE_SIZE);
            std::ptr::write_bytes(sqe, 0, SQE_SIZE);
            *sqe = op.opcode;
            sqe.add(4).cast::<i32>().write(op.fd);
            sqe.add(8).cast::<u64>().write(op.off);
            sqe.add(16).cast::<u64>().write(op.addr);
            sqe.add(24).cast::<u32>().write(op.len);
            sqe.add(32).cast::<u64>().write(i as u64 + 1); // user_data
            array.add(i).write(i as u32);
        }
        let tail = ring.add(p.sq_off.tail as usize).cast::<u32>();
        std::sync::atomic::fence(std::sync::atomic::Ordering::Release);
        tail.write_volatile(tail.read_volatile().wrapping_add(ops.len() as u32));
    }
    let n = ops.len() as u32;
    // SAFETY: the ring's fd; no signal mask.
    let ret = unsafe {
        libc::syscall(
            SYS_IO_URING_ENTER,
            fd,
            n,
            n,
            IORING_ENTER_GETEVENTS,
            std::ptr::null::<u8>(),
            0usize,
        )
    };
    let result = if ret < 0 {
        Err(Error::last_os_error())
    } else {
        Ok(ret as u32)
    };
    // SAFETY: our own fd.
    unsafe { libc::close(fd) };
    result
}
