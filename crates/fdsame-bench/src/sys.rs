//! Thin system helpers: DRM setup through drm-ffi, the dma-heap, V4L2 and udmabuf fixtures of
//! crate `test-uapi` (shared with rust-tests) with their errno, errno names, uname, the UTC date. Every descriptor is passed as a
//! `BorrowedFd`.

use std::ffi::CStr;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use rustix::ioctl::{opcode, Opcode};
// The dma-heap, V4L2 and udmabuf fixtures, shared with rust-tests (crate test-uapi).
use test_uapi::{
    fixtures, V4L2_BUF_TYPE_VIDEO_CAPTURE, V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE,
    V4L2_CAP_DEVICE_CAPS, V4L2_CAP_VIDEO_M2M_MPLANE,
};

/// `DRM_IOCTL_VERSION`, for the single-ioctl floor row (drm-ffi's `get_version()` issues it
/// twice): drm-sys' `struct drm_version`, the number computed from it as `DRM_IOWR` does.
pub const DRM_IOCTL_VERSION: Opcode = opcode::read_write::<drm_ffi::drm_version>(b'd', 0x00);

pub const DRM_CAP_DUMB_BUFFER: u64 = drm_ffi::DRM_CAP_DUMB_BUFFER as u64;
pub const DRM_CAP_PRIME: u64 = drm_ffi::DRM_CAP_PRIME as u64;
pub const DRM_PRIME_CAP_IMPORT: u64 = drm_ffi::DRM_PRIME_CAP_IMPORT as u64;
pub const DRM_PRIME_CAP_EXPORT: u64 = drm_ffi::DRM_PRIME_CAP_EXPORT as u64;

/// The errno of an `io::Error` from a wrapper (always set for system call failures).
pub fn os_err(e: std::io::Error) -> i32 {
    e.raw_os_error().unwrap_or(libc::EIO)
}

/// Last errno as an `i32`.
pub fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// Symbolic name of an errno, for the "n/a: <errno>" cells.
pub fn errno_name(e: i32) -> String {
    let s = match e {
        libc::EPERM => "EPERM",
        libc::ENOENT => "ENOENT",
        libc::ESRCH => "ESRCH",
        libc::EINTR => "EINTR",
        libc::EIO => "EIO",
        libc::ENXIO => "ENXIO",
        libc::EBADF => "EBADF",
        libc::EAGAIN => "EAGAIN",
        libc::ENOMEM => "ENOMEM",
        libc::EACCES => "EACCES",
        libc::EFAULT => "EFAULT",
        libc::EBUSY => "EBUSY",
        libc::EEXIST => "EEXIST",
        libc::ENODEV => "ENODEV",
        libc::ENOTDIR => "ENOTDIR",
        libc::EINVAL => "EINVAL",
        libc::ENFILE => "ENFILE",
        libc::EMFILE => "EMFILE",
        libc::ENOTTY => "ENOTTY",
        libc::E2BIG => "E2BIG",
        libc::ENOSPC => "ENOSPC",
        libc::ERANGE => "ERANGE",
        libc::ENOSYS => "ENOSYS",
        libc::ENODATA => "ENODATA",
        libc::EOPNOTSUPP => "EOPNOTSUPP",
        _ => return format!("errno {e}"),
    };
    s.to_string()
}

/// `open(2)` returning an `OwnedFd` or the errno.
pub fn open(path: &CStr, flags: libc::c_int) -> Result<OwnedFd, i32> {
    // SAFETY: path is NUL-terminated; the returned fd is owned by us.
    let fd = unsafe { libc::open(path.as_ptr(), flags | libc::O_CLOEXEC) };
    if fd < 0 {
        Err(errno())
    } else {
        // SAFETY: fd was just returned by open.
        Ok(unsafe { OwnedFd::from_raw_fd(fd) })
    }
}

/// `fcntl(fd, F_DUPFD_CLOEXEC, min)`: a dup of `fd` numbered at least `min`.
pub fn dup_at_least(fd: BorrowedFd<'_>, min: RawFd) -> Result<OwnedFd, i32> {
    rustix::io::fcntl_dupfd_cloexec(fd, min).map_err(|e| e.raw_os_error())
}

/// A fresh eventfd.
pub fn eventfd() -> Result<OwnedFd, i32> {
    // SAFETY: plain syscall; the returned fd is owned by us.
    let r = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC) };
    if r < 0 {
        Err(errno())
    } else {
        // SAFETY: fresh fd.
        Ok(unsafe { OwnedFd::from_raw_fd(r) })
    }
}

/// DRM driver name of an open DRM fd (drm-ffi's `get_version()`: two DRM_IOCTL_VERSION calls,
/// as libdrm does).
pub fn drm_driver_name(fd: BorrowedFd<'_>) -> Result<String, i32> {
    let mut name: Vec<i8> = Vec::new();
    drm_ffi::get_version(fd, Some(&mut name), None, None).map_err(os_err)?;
    let bytes: Vec<u8> = name.iter().map(|&c| c as u8).collect();
    Ok(String::from_utf8_lossy(&bytes)
        .trim_end_matches('\0')
        .to_string())
}

/// Create a 4 KiB vgem dumb buffer and export it as a dma-buf (the GEM handle stays open):
/// drm-ffi's `dumbbuffer::create()` and `gem::handle_to_fd()`.
pub fn vgem_dumb_dmabuf(drm: BorrowedFd<'_>) -> Result<OwnedFd, i32> {
    let c = drm_ffi::mode::dumbbuffer::create(drm, 32, 32, 32, 0).map_err(os_err)?;
    let flags = (libc::O_CLOEXEC | libc::O_RDWR) as u32;
    let p = drm_ffi::gem::handle_to_fd(drm, c.handle, flags).map_err(os_err)?;
    if p.fd < 0 {
        return Err(libc::EBADF);
    }
    // SAFETY: DRM_IOCTL_PRIME_HANDLE_TO_FD succeeded: `p.fd` is a new descriptor, ours.
    Ok(unsafe { OwnedFd::from_raw_fd(p.fd) })
}

/// Allocate a dma-buf of `len` bytes from an open dma-heap.
pub fn heap_alloc(heap: BorrowedFd<'_>, len: u64) -> Result<OwnedFd, i32> {
    fixtures::heap_alloc(heap, len).map_err(os_err)
}

/// `VIDIOC_QUERYCAP`: the driver name and the capture buffer type of a V4L2 node
/// (multi-planar when the node says `V4L2_CAP_VIDEO_M2M_MPLANE`).
pub fn v4l2_driver(fd: BorrowedFd<'_>) -> Result<(String, u32), i32> {
    let cap = fixtures::v4l2_querycap(fd).map_err(os_err)?;
    let end = cap.driver.iter().position(|&b| b == 0).unwrap_or(16);
    let name = String::from_utf8_lossy(&cap.driver[..end]).into_owned();
    let caps = if cap.capabilities & V4L2_CAP_DEVICE_CAPS != 0 {
        cap.device_caps
    } else {
        cap.capabilities
    };
    let capture = if caps & V4L2_CAP_VIDEO_M2M_MPLANE != 0 {
        V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE
    } else {
        V4L2_BUF_TYPE_VIDEO_CAPTURE
    };
    Ok((name, capture))
}

/// `VIDIOC_REQBUFS` of `count` MMAP buffers on queue `type_`; how many were allocated.
pub fn v4l2_reqbufs(fd: BorrowedFd<'_>, type_: u32, count: u32) -> Result<u32, i32> {
    fixtures::v4l2_reqbufs(fd, type_, count).map_err(os_err)
}

/// `VIDIOC_EXPBUF` of plane `plane` of buffer `index` on queue `type_`: a new dma-buf on every
/// call.
pub fn v4l2_expbuf(fd: BorrowedFd<'_>, type_: u32, index: u32, plane: u32) -> Result<OwnedFd, i32> {
    fixtures::v4l2_expbuf(fd, type_, index, plane).map_err(os_err)
}

/// The page size.
pub fn page_size() -> usize {
    rustix::param::page_size()
}

/// A memfd of `pages` pages sealed with `F_SEAL_SHRINK`, as `UDMABUF_CREATE` requires.
pub fn sealed_memfd(pages: usize) -> Result<OwnedFd, i32> {
    fixtures::sealed_memfd(pages).map_err(os_err)
}

/// `UDMABUF_CREATE` on the open `/dev/udmabuf` `dev`: a udmabuf over pages
/// `first .. first + pages` of `memfd`.
pub fn udmabuf_range(
    dev: BorrowedFd<'_>,
    memfd: BorrowedFd<'_>,
    first: usize,
    pages: usize,
) -> Result<OwnedFd, i32> {
    fixtures::udmabuf_range(dev, memfd, first, pages).map_err(os_err)
}

/// The size of a dma-buf (`lseek(fd, 0, SEEK_END)`, which dma-bufs answer with their size).
pub fn dmabuf_size(fd: BorrowedFd<'_>) -> Result<u64, i32> {
    rustix::fs::seek(fd, rustix::fs::SeekFrom::End(0)).map_err(|e| e.raw_os_error())
}

/// Raise RLIMIT_NOFILE so that at least `need` fds fit; returns the new soft limit.
pub fn raise_nofile(need: u64) -> Result<u64, i32> {
    let mut rl = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain syscalls on a local struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) != 0 {
            return Err(errno());
        }
        if rl.rlim_cur >= need {
            return Ok(rl.rlim_cur);
        }
        let new = libc::rlimit {
            rlim_cur: need,
            rlim_max: rl.rlim_max.max(need),
        };
        if libc::setrlimit(libc::RLIMIT_NOFILE, &new) != 0 {
            // Without CAP_SYS_RESOURCE: at least go up to the hard limit.
            let capped = libc::rlimit {
                rlim_cur: rl.rlim_max,
                rlim_max: rl.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &capped) != 0 {
                return Err(errno());
            }
            return Ok(rl.rlim_max);
        }
        Ok(need)
    }
}

/// `uname -r` and `uname -v`.
pub fn uname() -> (String, String) {
    // SAFETY: utsname is plain data; uname fills it.
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    if unsafe { libc::uname(&mut u) } != 0 {
        return ("unknown".into(), String::new());
    }
    let field = |f: &[libc::c_char]| {
        let bytes: Vec<u8> = f
            .iter()
            .take_while(|&&c| c != 0)
            .map(|&c| c as u8)
            .collect();
        String::from_utf8_lossy(&bytes).into_owned()
    };
    (field(&u.release), field(&u.version))
}

/// First `model name` of /proc/cpuinfo.
pub fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into())
}

/// Online CPUs (nproc).
pub fn nproc() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

/// Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// `YYYY-MM-DD HH:MM:SS UTC` for seconds since the epoch.
pub fn format_utc(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    )
}

/// Current UTC date from the realtime clock.
pub fn now_utc() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    format_utc(secs)
}

/// Highest open fd number of this process (from /proc/self/fd).
pub fn highest_open_fd() -> RawFd {
    std::fs::read_dir("/proc/self/fd")
        .map(|rd| {
            rd.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<RawFd>().ok())
                .max()
                .unwrap_or(2)
        })
        .unwrap_or(2)
}

/// Convenience: raw fd number of an `OwnedFd` (for fd-number arithmetic and messages only;
/// every call takes a `BorrowedFd`).
pub fn raw(fd: &OwnedFd) -> RawFd {
    fd.as_raw_fd()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_dates() {
        assert_eq!(format_utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(format_utc(951_782_400), "2000-02-29 00:00:00 UTC");
        assert_eq!(format_utc(1_700_000_000), "2023-11-14 22:13:20 UTC");
    }

    #[test]
    fn drm_version_number() {
        // DRM_IOWR(0x00, struct drm_version) as in drm.h: 0xc0406400. (The dma-heap, V4L2 and
        // udmabuf numbers are asserted at compile time in crate test-uapi.)
        assert_eq!(DRM_IOCTL_VERSION as u64, 0xc040_6400);
    }
}
