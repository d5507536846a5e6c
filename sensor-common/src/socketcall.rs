//! i386 `socketcall(call, args)`: the multiplexer old i386 code (and anything that wants to
//! dodge a rule on `connect` or `bind`) makes its socket calls through. The kernel side
//! judges each as the i386 call it stands for, on the u32 words `args` points at; this is the
//! table both sides share.

/// i386 `socketcall` (x86_64's compat table).
pub const I386_SOCKETCALL: u64 = 102;

/// The most u32 argument words a socketcall copies (sendto, recvfrom).
pub const SOCKETCALL_WORDS: usize = 6;

/// By socketcall's `call` (linux/net.h `SYS_*`, 1-20; 0 is none): the i386 syscall it runs
/// as, and how many u32 words the kernel copies from `args` for it (compat_socketcall's
/// table). `SYS_ACCEPT`, `SYS_SEND` and `SYS_RECV` have no i386 call of their own: the
/// kernel runs them as accept4 (flags 0), sendto and recvfrom (no address), and they are
/// judged and named as those.
pub const SOCKETCALLS: [(u64, u8); 21] = [
    (0, 0),
    (359, 3), // SYS_SOCKET: socket
    (361, 3), // SYS_BIND: bind
    (362, 3), // SYS_CONNECT: connect
    (363, 2), // SYS_LISTEN: listen
    (364, 3), // SYS_ACCEPT: accept4
    (367, 3), // SYS_GETSOCKNAME: getsockname
    (368, 3), // SYS_GETPEERNAME: getpeername
    (360, 4), // SYS_SOCKETPAIR: socketpair
    (369, 4), // SYS_SEND: sendto
    (371, 4), // SYS_RECV: recvfrom
    (369, 6), // SYS_SENDTO: sendto
    (371, 6), // SYS_RECVFROM: recvfrom
    (373, 2), // SYS_SHUTDOWN: shutdown
    (366, 5), // SYS_SETSOCKOPT: setsockopt
    (365, 5), // SYS_GETSOCKOPT: getsockopt
    (370, 3), // SYS_SENDMSG: sendmsg
    (372, 3), // SYS_RECVMSG: recvmsg
    (364, 4), // SYS_ACCEPT4: accept4
    (337, 5), // SYS_RECVMMSG: recvmmsg
    (345, 4), // SYS_SENDMMSG: sendmmsg
];

/// The i386 call socketcall's `call` runs as, and its word count; `None` for a `call` the
/// kernel refuses (EINVAL).
#[inline(always)]
pub fn socketcall(call: u64) -> Option<(u64, usize)> {
    if call == 0 {
        return None;
    }
    let (nr, words) = *SOCKETCALLS.get(call as usize)?;
    Some((nr, words as usize))
}

/// The argument words as a record's pointee: two to a u64, the first in the low half.
#[inline(always)]
pub fn pack(words: &[u64; SOCKETCALL_WORDS]) -> [u64; 4] {
    let half = |i: usize| words[i] & u64::from(u32::MAX);
    [
        half(0) | half(1) << 32,
        half(2) | half(3) << 32,
        half(4) | half(5) << 32,
        0,
    ]
}

/// The argument words of a pointee made by [`pack`].
pub fn unpack(pointee: &[u64; 4]) -> [u64; SOCKETCALL_WORDS] {
    core::array::from_fn(|i| (pointee[i / 2] >> (32 * (i % 2))) & u64::from(u32::MAX))
}
