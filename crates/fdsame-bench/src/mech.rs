//! The mechanisms: one call answers "are fds `a` and `b` the same thing?" (`Ok(true)` = same).
//! Errors come back as raw errno values. No allocation on the timed paths except where the
//! mechanism itself is a userspace procedure that a real tool would run (none allocate here:
//! fdinfo and sysfs use stack buffers, which only makes them look cheaper than real tools).

use std::os::fd::{AsRawFd, BorrowedFd};

use fdsame::{Answer, Mechanism};
use rustix::ioctl::{ioctl, Updater};

use crate::sys::{self, errno, os_err};

/// Row 1: `DRM_IOCTL_FILE_SAME` on DRM fd `a` with `fd = b`: `Ok(true)` when the result is
/// exactly `expect` (every bit, so a changed or partial answer never counts as timed).
pub fn drm_file_same(a: BorrowedFd<'_>, b: BorrowedFd<'_>, expect: u64) -> Result<bool, i32> {
    Ok(drm_file_same_bits(a, b)? == expect)
}

/// The full result mask of `DRM_IOCTL_FILE_SAME` (the crate's raw wrapper,
/// `fdsame::ioctl::drm_file_same`).
pub fn drm_file_same_bits(a: BorrowedFd<'_>, b: BorrowedFd<'_>) -> Result<u64, i32> {
    fdsame::ioctl::drm_file_same(a, b).map_err(os_err)
}

/// Row 2 and the STORAGE rows: `DMA_BUF_IOCTL_SAME_OBJECT` on dma-buf `a` with `fd = b`:
/// `Ok(true)` when the result is exactly `expect` (all four bits).
pub fn dma_buf_same(a: BorrowedFd<'_>, b: BorrowedFd<'_>, expect: u64) -> Result<bool, i32> {
    Ok(dma_buf_same_bits(a, b)? == expect)
}

/// The full result mask of `DMA_BUF_IOCTL_SAME_OBJECT` (the crate's raw wrapper,
/// `fdsame::ioctl::dma_buf_same_object`).
pub fn dma_buf_same_bits(a: BorrowedFd<'_>, b: BorrowedFd<'_>) -> Result<u64, i32> {
    fdsame::ioctl::dma_buf_same_object(a, b).map_err(os_err)
}

/// The answer the library must give, level by level, and the mechanism of its file level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LibExpect {
    pub file: Answer,
    pub drm_client: Answer,
    pub drm_device: Answer,
    pub dma_buf_object: Answer,
    pub dma_buf_storage: Answer,
    pub mechanism: Option<Mechanism>,
}

impl LibExpect {
    /// A DRM file and its dup, answered by `DRM_IOCTL_FILE_SAME`.
    pub const DRM_DUP: LibExpect = LibExpect {
        file: Answer::Same,
        drm_client: Answer::Same,
        drm_device: Answer::Same,
        dma_buf_object: Answer::Different,
        dma_buf_storage: Answer::Different,
        mechanism: Some(Mechanism::DrmFileSameIoctl),
    };
    /// A dma-buf and its dup, answered by `DMA_BUF_IOCTL_SAME_OBJECT`.
    pub const DMA_BUF_DUP: LibExpect = LibExpect {
        file: Answer::Same,
        drm_client: Answer::Different,
        drm_device: Answer::Different,
        dma_buf_object: Answer::Same,
        dma_buf_storage: Answer::Same,
        mechanism: Some(Mechanism::DmaBufSameObjectIoctl),
    };
}

/// What `fdsame::compare(a, b)` answered, in the shape of [`LibExpect`].
pub fn fdsame_compare_answer(a: BorrowedFd<'_>, b: BorrowedFd<'_>) -> Result<LibExpect, i32> {
    let s = fdsame::compare(a, b).map_err(|e| e.raw_os_error().unwrap_or(libc::EIO))?;
    Ok(LibExpect {
        file: s.file,
        drm_client: s.drm_client,
        drm_device: s.drm_device,
        dma_buf_object: s.dma_buf_object,
        dma_buf_storage: s.dma_buf_storage,
        mechanism: s.mechanism,
    })
}

/// The library rows: `fdsame::compare(a, b)`, the whole public call (kind cache, chain,
/// inferences): `Ok(true)` when every level and the mechanism are exactly `expect`.
pub fn fdsame_compare(
    a: BorrowedFd<'_>,
    b: BorrowedFd<'_>,
    expect: &LibExpect,
) -> Result<bool, i32> {
    Ok(fdsame_compare_answer(a, b)? == *expect)
}

/// Row 3: `fcntl(a, F_DUPFD_QUERY, b)` (`fdsame::sys`): 1 = same file description.
pub fn f_dupfd_query(a: BorrowedFd<'_>, b: BorrowedFd<'_>) -> Result<bool, i32> {
    fdsame::sys::f_dupfd_query(a, b).map_err(os_err)
}

/// Row 4: `kcmp(pid, pid, KCMP_FILE, a, b)` (`fdsame::sys`, which asks `getpid()` each time,
/// as Mesa's `os_same_file_description()` does): 0 = same.
pub fn kcmp(a: BorrowedFd<'_>, b: BorrowedFd<'_>) -> Result<bool, i32> {
    fdsame::sys::kcmp_file(a, b).map_err(os_err)
}

/// Row 5: Mesa's epoll fallback of `os_same_file_description()` (`fdsame::sys`, step for step
/// Mesa's). A file that cannot be polled is an error here (`EPERM`, as the first
/// `epoll_ctl` gives): the trick cannot answer for it.
pub fn mesa_epoll(a: BorrowedFd<'_>, b: BorrowedFd<'_>) -> Result<bool, i32> {
    fdsame::sys::epoll_same_file(a, b)
        .map_err(os_err)?
        .ok_or(libc::EPERM)
}

/// (st_dev, st_ino, st_rdev, st_mode) of an fd.
fn fstat_key(fd: BorrowedFd<'_>) -> Result<(u64, u64, u64, u32), i32> {
    let st = rustix::fs::fstat(fd).map_err(|e| e.raw_os_error())?;
    Ok((st.st_dev, st.st_ino, st.st_rdev, st.st_mode))
}

/// Row 6: `fstat(a)`, `fstat(b)`, compare st_dev/st_ino/st_rdev (same inode, not necessarily
/// same open file).
pub fn fstat_pair(a: BorrowedFd<'_>, b: BorrowedFd<'_>) -> Result<bool, i32> {
    let ka = fstat_key(a)?;
    let kb = fstat_key(b)?;
    Ok((ka.0, ka.1, ka.2) == (kb.0, kb.1, kb.2))
}

/// Read a whole small file into `buf` with open/read/close; returns the length.
fn read_small(path: &[u8], buf: &mut [u8]) -> Result<usize, i32> {
    // SAFETY: `path` is NUL-terminated by the callers; `buf` is writable for its length.
    unsafe {
        let fd = libc::open(path.as_ptr().cast(), libc::O_RDONLY | libc::O_CLOEXEC);
        if fd < 0 {
            return Err(errno());
        }
        let mut len = 0;
        loop {
            if len == buf.len() {
                break;
            }
            let r = libc::read(fd, buf[len..].as_mut_ptr().cast(), buf.len() - len);
            if r < 0 {
                let e = errno();
                libc::close(fd);
                return Err(e);
            }
            if r == 0 {
                break;
            }
            len += r as usize;
        }
        libc::close(fd);
        Ok(len)
    }
}

/// Format `prefix{n}\0` into `out` without allocating; returns the used slice.
fn path_with_number<'a>(out: &'a mut [u8; 64], prefix: &[u8], n: u64, suffix: &[u8]) -> &'a [u8] {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    let mut v = n;
    loop {
        i -= 1;
        digits[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    let parts: [&[u8]; 4] = [prefix, &digits[i..], suffix, b"\0"];
    let mut len = 0;
    for p in parts {
        out[len..len + p.len()].copy_from_slice(p);
        len += p.len();
    }
    &out[..len]
}

/// What an fdinfo file says about the file: the `drm-client-id:` value if present, else
/// the (`mnt_id:`, `ino:`) values. Pure parsing, exposed for tests.
pub fn fdinfo_key(text: &[u8]) -> Option<(u64, u64, bool)> {
    let mut client = None;
    let mut mnt = None;
    let mut ino = None;
    for line in text.split(|&c| c == b'\n') {
        let Some(colon) = line.iter().position(|&c| c == b':') else {
            continue;
        };
        let (k, v) = (&line[..colon], &line[colon + 1..]);
        let num = || std::str::from_utf8(v).ok()?.trim().parse::<u64>().ok();
        match k {
            b"drm-client-id" => client = num(),
            b"mnt_id" => mnt = num(),
            b"ino" => ino = num(),
            _ => {}
        }
    }
    match (client, mnt, ino) {
        (Some(c), _, _) => Some((c, 0, true)),
        (None, Some(m), Some(i)) => Some((m, i, false)),
        _ => None,
    }
}

fn fdinfo_of(fd: BorrowedFd<'_>) -> Result<(u64, u64, bool), i32> {
    let mut p = [0u8; 64];
    let path = path_with_number(&mut p, b"/proc/self/fdinfo/", fd.as_raw_fd() as u64, b"");
    let mut buf = [0u8; 4096];
    let n = read_small(path, &mut buf)?;
    fdinfo_key(&buf[..n]).ok_or(libc::ENODATA)
}

/// Row 7: Open/read/parse `/proc/self/fdinfo/{a,b}` and compare their `drm-client-id` (DRM
/// files) or their (`mnt_id`, `ino`) pair (anything else, kernels >= 5.14).
pub fn fdinfo_pair(a: BorrowedFd<'_>, b: BorrowedFd<'_>) -> Result<bool, i32> {
    Ok(fdinfo_of(a)? == fdinfo_of(b)?)
}

fn sysfs_device_of(fd: BorrowedFd<'_>, out: &mut [u8; 512]) -> Result<usize, i32> {
    let (_, _, rdev, mode) = fstat_key(fd)?;
    if mode & libc::S_IFMT != libc::S_IFCHR {
        return Err(libc::ENODEV);
    }
    let (maj, min) = (libc::major(rdev) as u64, libc::minor(rdev) as u64);
    let mut p1 = [0u8; 64];
    let head = path_with_number(&mut p1, b"/sys/dev/char/", maj, b":");
    let head = &head[..head.len() - 1];
    let mut p2 = [0u8; 64];
    let path = path_with_number(&mut p2, head, min, b"/device");
    // SAFETY: path is NUL-terminated, out is writable.
    let r = unsafe { libc::readlink(path.as_ptr().cast(), out.as_mut_ptr().cast(), out.len()) };
    if r < 0 {
        Err(errno())
    } else {
        Ok(r as usize)
    }
}

/// Row 8: `fstat` → `st_rdev` → `readlink /sys/dev/char/MAJ:MIN/device` for both fds, compare
/// the link targets (same device, says nothing about the open file).
pub fn sysfs_pair(a: BorrowedFd<'_>, b: BorrowedFd<'_>) -> Result<bool, i32> {
    let mut la = [0u8; 512];
    let mut lb = [0u8; 512];
    let na = sysfs_device_of(a, &mut la)?;
    let nb = sysfs_device_of(b, &mut lb)?;
    Ok(la[..na] == lb[..nb])
}

/// Row 9a: `DRM_IOCTL_GET_CAP` of `cap` on `a` (a floor: a trivial DRM core ioctl; drm-ffi's
/// `get_capability()`, one ioctl). "Same" is meaningless here: `Ok(true)` when the cap value
/// is `expect`.
pub fn drm_get_cap(a: BorrowedFd<'_>, cap: u64, expect: u64) -> Result<bool, i32> {
    Ok(drm_ffi::get_capability(a, cap).map_err(os_err)?.value == expect)
}

/// Row 9b: `DRM_IOCTL_VERSION` with all lengths 0 (no string copied): one ioctl on drm-sys'
/// `struct drm_version` (drm-ffi's `get_version()` issues two). `Ok(true)` if it worked.
pub fn drm_version_empty(a: BorrowedFd<'_>) -> Result<bool, i32> {
    let mut arg = drm_ffi::drm_version::default();
    // SAFETY: `arg` is drm-sys' `struct drm_version`, the ioctl's argument; all lengths are
    // zero and all pointers null, so the kernel writes only the struct.
    unsafe {
        ioctl(a, Updater::<{ sys::DRM_IOCTL_VERSION }, _>::new(&mut arg))
            .map_err(|e| e.raw_os_error())?;
    }
    Ok(arg.name_len > 0)
}

/// Row 10: The no-op syscall floor: `syscall(SYS_getppid)` (not cached by libc).
pub fn getppid() -> Result<bool, i32> {
    // SAFETY: plain syscall.
    let r = unsafe { libc::syscall(libc::SYS_getppid) };
    if r < 0 {
        Err(errno())
    } else {
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fdsame::uapi;
    use std::os::fd::AsFd;

    #[test]
    fn fdinfo_parsing() {
        let drm = b"pos:\t0\nflags:\t02100002\nmnt_id:\t25\nino:\t1042\ndrm-driver:\tvgem\ndrm-client-id:\t7\n";
        assert_eq!(fdinfo_key(drm), Some((7, 0, true)));
        let pipe = b"pos:\t0\nflags:\t0100000\nmnt_id:\t24\nino:\t3\n";
        assert_eq!(fdinfo_key(pipe), Some((24, 3, false)));
        assert_eq!(fdinfo_key(b"pos:\t0\n"), None);
    }

    #[test]
    fn path_formatting() {
        let mut p = [0u8; 64];
        assert_eq!(
            path_with_number(&mut p, b"/proc/self/fdinfo/", 10_042, b""),
            b"/proc/self/fdinfo/10042\0"
        );
        assert_eq!(path_with_number(&mut p, b"/x/", 0, b"/d"), b"/x/0/d\0");
    }

    #[test]
    fn generic_mechanisms_on_an_eventfd_dup() {
        let a = sys::eventfd().unwrap();
        let b = sys::dup_at_least(a.as_fd(), 0).unwrap();
        let c = sys::eventfd().unwrap();
        let (a, b, c) = (a.as_fd(), b.as_fd(), c.as_fd());
        assert_eq!(fstat_pair(a, b), Ok(true));
        assert_eq!(fdinfo_pair(a, b), Ok(true));
        assert_eq!(mesa_epoll(a, b), Ok(true));
        assert_eq!(mesa_epoll(a, c), Ok(false));
        if let Ok(same) = f_dupfd_query(a, b) {
            assert!(same);
            assert_eq!(f_dupfd_query(a, c), Ok(false));
        }
        assert_eq!(sysfs_pair(a, b), Err(libc::ENODEV));
        assert_eq!(
            drm_file_same(a, b, uapi::DRM_FILE_SAME_ALL),
            Err(libc::ENOTTY)
        );
        assert_eq!(
            dma_buf_same(a, b, uapi::DMA_BUF_SAME_ALL),
            Err(libc::ENOTTY)
        );
        assert_eq!(getppid(), Ok(true));
        // The library on an eventfd and its dup: same file; the DRM and dma-buf levels do not apply.
        let s = fdsame_compare_answer(a, b).unwrap();
        assert_eq!(
            (s.file, s.drm_client, s.dma_buf_object),
            (Answer::Same, Answer::NotApplicable, Answer::NotApplicable)
        );
        assert_eq!(fdsame_compare(a, b, &LibExpect::DRM_DUP), Ok(false));
        assert_eq!(drm_get_cap(a, sys::DRM_CAP_PRIME, 3), Err(libc::ENOTTY));
        assert_eq!(drm_version_empty(a), Err(libc::ENOTTY));
    }
}
