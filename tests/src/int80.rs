//! i386 syscalls from a 64-bit process, through `int $0x80`: the kernel runs them as compat
//! calls with i386 numbers and the i386 register convention (ebx, ecx, edx, esi, edi, ebp).
//! Pointers are 32-bit, so what they point at is copied into memory below 4 GiB.
#![cfg(target_arch = "x86_64")]

/// A bump allocator in one `MAP_32BIT` mapping: addresses a 32-bit pointer can hold.
pub struct LowMemory {
    base: *mut u8,
    used: usize,
    len: usize,
}

impl LowMemory {
    pub fn new(len: usize) -> std::io::Result<Self> {
        // SAFETY: a fresh anonymous mapping; nothing else refers to it.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_32BIT,
                -1,
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(std::io::Error::last_os_error());
        }
        Ok(Self {
            base: base.cast(),
            used: 0,
            len,
        })
    }

    /// Copies `bytes` in and returns their 32-bit address.
    pub fn put(&mut self, bytes: &[u8]) -> u32 {
        assert!(self.used + bytes.len() <= self.len, "low memory is full");
        // SAFETY: inside the mapping, which nothing else writes.
        let at = unsafe { self.base.add(self.used) };
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), at, bytes.len()) };
        self.used = (self.used + bytes.len() + 7) & !7;
        u32::try_from(at as usize).expect("MAP_32BIT memory is below 4 GiB")
    }

    /// A NUL-terminated copy of `s`.
    pub fn string(&mut self, s: &[u8]) -> u32 {
        let mut v = s.to_vec();
        v.push(0);
        self.put(&v)
    }

    /// A NULL-terminated array of 32-bit pointers to copies of `items` (an i386 argv).
    pub fn argv(&mut self, items: &[&[u8]]) -> u32 {
        let mut ptrs: Vec<u8> = Vec::new();
        for item in items {
            ptrs.extend_from_slice(&self.string(item).to_ne_bytes());
        }
        ptrs.extend_from_slice(&0u32.to_ne_bytes());
        self.put(&ptrs)
    }
}

/// A NUL-terminated copy of `s` alone on a page below 4 GiB that this process never touches:
/// mapped from a memfd, it enters the page tables only when the kernel copies it in.
pub fn untouched_string(s: &[u8]) -> std::io::Result<u32> {
    let mut text = s.to_vec();
    text.push(0);
    // SAFETY: a NUL-terminated name; the fd is ours.
    let fd = unsafe { libc::memfd_create(c"sensor-e2e-untouched".as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 || unsafe { libc::write(fd, text.as_ptr().cast(), text.len()) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: a fresh shared mapping of our memfd, never read here.
    let page = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            4096,
            libc::PROT_READ,
            libc::MAP_SHARED | libc::MAP_32BIT,
            fd,
            0,
        )
    };
    if page == libc::MAP_FAILED {
        return Err(std::io::Error::last_os_error());
    }
    Ok(u32::try_from(page as usize).expect("MAP_32BIT memory is below 4 GiB"))
}

/// i386 syscall `nr` with `args`; returns what the kernel put in eax (a negative errno on
/// failure).
pub fn syscall(nr: u32, args: [u32; 6]) -> i32 {
    let ret: i32;
    // SAFETY: the caller chose the call; rbx and rbp are saved and restored around it (LLVM
    // reserves them), and r8-r11 are treated as clobbered.
    unsafe {
        std::arch::asm!(
            "xchg {b:r}, rbx",
            "push rbp",
            "mov ebp, {p:e}",
            "int 0x80",
            "pop rbp",
            "xchg {b:r}, rbx",
            b = inout(reg) u64::from(args[0]) => _,
            p = in(reg) args[5],
            inlateout("eax") nr => ret,
            in("ecx") args[1],
            in("edx") args[2],
            in("esi") args[3],
            in("edi") args[4],
            out("r8") _,
            out("r9") _,
            out("r10") _,
            out("r11") _,
        );
    }
    ret
}
