//! The generic file-level mechanisms, one small function each: `fcntl(F_DUPFD_QUERY)`,
//! `kcmp(KCMP_FILE)` and Mesa's epoll trick.
//!
//! Like [`crate::ioctl`], these are raw: the errno is the kernel's
//! ([`std::io::Error::raw_os_error`] is always set on failure), nothing is cached, and every
//! one is side-effect free on the files compared (the epoll trick creates and closes an epoll
//! instance and a descriptor of its own; polling a DRM file or a dma-buf changes nothing).

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};

use rustix::event::epoll;
use rustix::io::{dup2, fcntl_dupfd_cloexec, Errno};

/// `F_DUPFD_QUERY` (Linux 6.10): `fcntl(a, F_DUPFD_QUERY, b)` answers 1 when `b` refers to
/// the same open file description as `a`, 0 otherwise.
pub const F_DUPFD_QUERY: libc::c_int = 1027;

/// `KCMP_FILE`, the `type` argument of `kcmp(2)` comparing two file descriptors.
pub const KCMP_FILE: libc::c_int = 0;

/// `fcntl(a, F_DUPFD_QUERY, b)`: whether `a` and `b` refer to the same open file description.
///
/// Kernels before 6.10 answer `EINVAL`.
///
/// ```
/// use std::os::fd::AsFd;
/// let f = std::fs::File::open("/")?;
/// let dup = f.try_clone()?;
/// match fdsame::sys::f_dupfd_query(f.as_fd(), dup.as_fd()) {
///     Ok(same) => assert!(same),
///     Err(e) => assert_eq!(e.raw_os_error(), Some(libc::EINVAL)), // before Linux 6.10
/// }
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn f_dupfd_query(a: BorrowedFd<'_>, b: BorrowedFd<'_>) -> io::Result<bool> {
    f_dupfd_query_raw(a, b.as_raw_fd())
}

/// [`f_dupfd_query`] with a raw `b`, so that tests can pass a closed or negative descriptor.
///
/// ```
/// use std::os::fd::AsFd;
/// let f = std::fs::File::open("/")?;
/// let err = fdsame::sys::f_dupfd_query_raw(f.as_fd(), -1).unwrap_err();
/// assert!(matches!(err.raw_os_error(), Some(libc::EBADF) | Some(libc::EINVAL)));
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn f_dupfd_query_raw(a: BorrowedFd<'_>, b: RawFd) -> io::Result<bool> {
    // SAFETY: F_DUPFD_QUERY takes an int and touches no memory of ours.
    let r = unsafe { libc::fcntl(a.as_raw_fd(), F_DUPFD_QUERY, b) };
    match r {
        0 => Ok(false),
        1 => Ok(true),
        r if r < 0 => Err(io::Error::last_os_error()),
        // Not an answer F_DUPFD_QUERY gives.
        _ => Err(io::Error::from_raw_os_error(libc::EPROTO)),
    }
}

/// `kcmp(getpid(), getpid(), KCMP_FILE, a, b)`: whether `a` and `b` refer to the same open
/// file description.
///
/// Fails with `ENOSYS` when the kernel lacks `CONFIG_KCMP` (before 5.12:
/// `CONFIG_CHECKPOINT_RESTORE`), and `EPERM` under some sandboxes (seccomp, containers).
///
/// ```
/// use std::os::fd::AsFd;
/// let f = std::fs::File::open("/")?;
/// let g = std::fs::File::open("/")?;
/// match fdsame::sys::kcmp_file(f.as_fd(), g.as_fd()) {
///     Ok(same) => assert!(!same), // two opens: two open file descriptions
///     Err(e) => assert!(matches!(e.raw_os_error(), Some(libc::ENOSYS) | Some(libc::EPERM))),
/// }
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn kcmp_file(a: BorrowedFd<'_>, b: BorrowedFd<'_>) -> io::Result<bool> {
    kcmp_file_raw(a.as_raw_fd(), b.as_raw_fd())
}

/// [`kcmp_file`] with raw descriptors, for tests.
///
/// ```
/// let err = fdsame::sys::kcmp_file_raw(-1, -1).unwrap_err();
/// assert!(matches!(err.raw_os_error(), Some(libc::EBADF | libc::ENOSYS | libc::EPERM)));
/// ```
pub fn kcmp_file_raw(a: RawFd, b: RawFd) -> io::Result<bool> {
    kcmp_order_raw(a, b).map(|o| o == std::cmp::Ordering::Equal)
}

/// `kcmp(getpid(), getpid(), KCMP_FILE, a, b)` as an ordering: `Equal` when `a` and `b` are
/// the same open file description; otherwise `Less` or `Greater` by an order the kernel keeps
/// for the life of its boot (the two `struct file` pointers, obfuscated by a per-boot
/// bijection: `kcmp_ptr()` in kernel/kcmp.c). The order is total and consistent, so
/// descriptors can be sorted by it: the grouping API finds equal files in `O(n log n)` calls.
///
/// Errors: as [`kcmp_file`].
///
/// ```
/// use std::os::fd::AsFd;
/// use std::cmp::Ordering;
/// let (r, w) = rustix::pipe::pipe()?;
/// if let Ok(o) = fdsame::sys::kcmp_order(r.as_fd(), w.as_fd()) {
///     assert_ne!(o, Ordering::Equal);
///     assert_eq!(fdsame::sys::kcmp_order(w.as_fd(), r.as_fd())?, o.reverse());
///     assert_eq!(fdsame::sys::kcmp_order(r.as_fd(), r.as_fd())?, Ordering::Equal);
/// }
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn kcmp_order(a: BorrowedFd<'_>, b: BorrowedFd<'_>) -> io::Result<std::cmp::Ordering> {
    kcmp_order_raw(a.as_raw_fd(), b.as_raw_fd())
}

fn kcmp_order_raw(a: RawFd, b: RawFd) -> io::Result<std::cmp::Ordering> {
    let pid = rustix::process::getpid().as_raw_nonzero().get();
    // SAFETY: kcmp with KCMP_FILE takes integers only and touches no memory of ours.
    let r = unsafe {
        libc::syscall(
            libc::SYS_kcmp,
            pid as libc::c_long,
            pid as libc::c_long,
            KCMP_FILE as libc::c_long,
            a as libc::c_long,
            b as libc::c_long,
        )
    };
    match r {
        // 0: equal; 1: less; 2: greater (kcmp_ptr() never answers 3 for KCMP_FILE).
        0 => Ok(std::cmp::Ordering::Equal),
        1 => Ok(std::cmp::Ordering::Less),
        2 => Ok(std::cmp::Ordering::Greater),
        r if r < 0 => Err(io::Error::last_os_error()),
        _ => Err(io::Error::from_raw_os_error(libc::EPROTO)),
    }
}

/// Mesa's epoll trick (`os_same_file_description` in Mesa's `src/util/os_file.c`): whether
/// `a` and `b` refer to the same open file description, using nothing but epoll.
///
/// An epoll instance keys its entries by the pair (open file description, descriptor
/// number). The trick:
///
/// 1. duplicate `a` into a fresh descriptor number `n`, and add `n` to a new epoll instance:
///    the entry is (file of `a`, `n`);
/// 2. `dup2(b, n)`: `n` now refers to the file of `b`. The entry stays, since `a` still
///    holds the file of `a` open (entries go away only with the file's last reference);
/// 3. add `n` again: `EEXIST` if and only if the file of `b` is the file of `a`.
///
/// Returns `Ok(None)` when neither file can be polled (regular files, directories, most
/// character devices: `EPERM`; `O_PATH` descriptors: `EBADF`): the trick cannot tell. When
/// one can be polled and the other cannot, they are different files: `Ok(Some(false))`,
/// whichever of `a` and `b` is the pollable one.
///
/// ```
/// use std::os::fd::AsFd;
/// let (r, w) = rustix::pipe::pipe()?;
/// let dup = r.try_clone()?;
/// assert_eq!(fdsame::sys::epoll_same_file(r.as_fd(), dup.as_fd())?, Some(true));
/// assert_eq!(fdsame::sys::epoll_same_file(r.as_fd(), w.as_fd())?, Some(false));
/// let file = std::fs::File::open("/etc/hostname")?;
/// assert_eq!(fdsame::sys::epoll_same_file(file.as_fd(), file.as_fd())?, None);
/// // One pollable: different, in either order.
/// assert_eq!(fdsame::sys::epoll_same_file(file.as_fd(), r.as_fd())?, Some(false));
/// assert_eq!(fdsame::sys::epoll_same_file(r.as_fd(), file.as_fd())?, Some(false));
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn epoll_same_file(a: BorrowedFd<'_>, b: BorrowedFd<'_>) -> io::Result<Option<bool>> {
    epoll_same_file_op(a, b)
        .map(Result::ok)
        .map_err(|(_, e)| e.into())
}

/// [`epoll_same_file`], with the name of the call that failed; `Ok(Err(errno))`: neither
/// file can be polled, and `errno` is why (`EPERM`, `EBADF`).
pub(crate) fn epoll_same_file_op(
    a: BorrowedFd<'_>,
    b: BorrowedFd<'_>,
) -> Result<Result<bool, Errno>, (&'static str, Errno)> {
    let ep = epoll::create(epoll::CreateFlags::CLOEXEC).map_err(|e| ("epoll_create1", e))?;
    let mut n = fcntl_dupfd_cloexec(a, 0).map_err(|e| ("fcntl(F_DUPFD_CLOEXEC)", e))?;
    let data = epoll::EventData::new_u64(0);
    match epoll::add(&ep, &n, data, epoll::EventFlags::empty()) {
        Ok(()) => {}
        // `a` cannot be polled (EPERM), or (EBADF, `n` being valid) is O_PATH: when `b`
        // can be, they are different files; otherwise the trick cannot tell.
        Err(first @ (Errno::PERM | Errno::BADF)) => {
            dup2(b, &mut n).map_err(|e| ("dup2", e))?;
            return match epoll::add(&ep, &n, data, epoll::EventFlags::empty()) {
                Ok(()) => Ok(Ok(false)),
                Err(Errno::PERM | Errno::BADF) => Ok(Err(first)),
                Err(e) => Err(("epoll_ctl(EPOLL_CTL_ADD)", e)),
            };
        }
        Err(e) => return Err(("epoll_ctl(EPOLL_CTL_ADD)", e)),
    }
    dup2(b, &mut n).map_err(|e| ("dup2", e))?;
    match epoll::add(&ep, &n, data, epoll::EventFlags::empty()) {
        Err(Errno::EXIST) => Ok(Ok(true)),
        Ok(()) => Ok(Ok(false)),
        // `b` cannot be polled (or is O_PATH), `a` can: not the same file.
        Err(Errno::PERM) | Err(Errno::BADF) => Ok(Ok(false)),
        Err(e) => Err(("epoll_ctl(EPOLL_CTL_ADD)", e)),
    }
}
