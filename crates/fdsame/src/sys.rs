//! The generic file-level mechanisms, one small function each: `fcntl(F_DUPFD_QUERY)`,
//! `kcmp(KCMP_FILE)` and Mesa's epoll trick.
//!
//! Like [`crate::ioctl`], these are raw: the errno is the kernel's
//! ([`std::io::Error::raw_os_error`] is set), and nothing is cached.

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
        r => Err(io::Error::other(format!(
            "fcntl(F_DUPFD_QUERY) answered {r}"
        ))),
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
        // 0: equal; 1, 2: ordered (less, greater); 3: not equal, order unknown.
        0 => Ok(true),
        1..=3 => Ok(false),
        r if r < 0 => Err(io::Error::last_os_error()),
        r => Err(io::Error::other(format!("kcmp answered {r}"))),
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
/// Returns `Ok(None)` when the file of `a` cannot be polled (regular files, directories,
/// most character devices: `EPERM` at step 1; `O_PATH` descriptors: `EBADF`): the trick
/// cannot tell. When `b` cannot be polled but `a` can, they are different files:
/// `Ok(Some(false))`.
///
/// ```
/// use std::os::fd::AsFd;
/// let (r, w) = rustix::pipe::pipe()?;
/// let dup = r.try_clone()?;
/// assert_eq!(fdsame::sys::epoll_same_file(r.as_fd(), dup.as_fd())?, Some(true));
/// assert_eq!(fdsame::sys::epoll_same_file(r.as_fd(), w.as_fd())?, Some(false));
/// let file = std::fs::File::open("/etc/hostname")?;
/// assert_eq!(fdsame::sys::epoll_same_file(file.as_fd(), file.as_fd())?, None);
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn epoll_same_file(a: BorrowedFd<'_>, b: BorrowedFd<'_>) -> io::Result<Option<bool>> {
    let ep = epoll::create(epoll::CreateFlags::CLOEXEC)?;
    let mut n = fcntl_dupfd_cloexec(a, 0)?;
    let data = epoll::EventData::new_u64(0);
    match epoll::add(&ep, &n, data, epoll::EventFlags::empty()) {
        Ok(()) => {}
        // Not pollable; or (EBADF, `n` being valid) an O_PATH descriptor: cannot tell.
        Err(Errno::PERM) | Err(Errno::BADF) => return Ok(None),
        Err(e) => return Err(e.into()),
    }
    dup2(b, &mut n)?;
    match epoll::add(&ep, &n, data, epoll::EventFlags::empty()) {
        Err(Errno::EXIST) => Ok(Some(true)),
        Ok(()) => Ok(Some(false)),
        // `b` cannot be polled (or is O_PATH), `a` can: not the same file.
        Err(Errno::PERM) | Err(Errno::BADF) => Ok(Some(false)),
        Err(e) => Err(e.into()),
    }
}
