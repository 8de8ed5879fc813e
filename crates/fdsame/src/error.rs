//! The error type of this crate.

use std::fmt;
use std::io;
use std::os::fd::RawFd;

use crate::Mechanism;

/// `Result<T, fdsame::Error>`: what every comparison function of this crate returns.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong, in broad strokes; see [`Error::kind`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The mechanism does not exist on this kernel (`ENOSYS`, `EINVAL` or `ENOTTY` from a
    /// kernel without it), or this process may not use it (`EPERM`/`EACCES`: a seccomp
    /// filter, a container, an LSM); [`Error::raw_os_error`] tells which.
    Unsupported,
    /// The mechanism cannot compare these descriptors: the DRM ioctl when neither is a DRM
    /// device file of this process's own, a dma-buf ioctl without a dma-buf, sysfs without
    /// two DRM device files, either ioctl on an `O_PATH` descriptor, epoll of two files
    /// neither of which can be polled.
    NotApplicable,
    /// A system call failed; [`Error::operation`] names it and [`Error::raw_os_error`] holds
    /// the errno.
    Os,
}

/// An error that names the call that failed, its file descriptors, the mechanism it belongs
/// to and the errno the kernel answered.
///
/// [`raw_os_error`](Error::raw_os_error) gives the errno, as rustix's `Errno` and
/// [`io::Error::raw_os_error`] do. `Error` converts into [`io::Error`] (for `?` in functions
/// returning `io::Result`) with the [`io::ErrorKind`] of its errno and itself as payload;
/// [`Error::from_io`] and [`raw_os_error()`](crate::raw_os_error) get both back.
///
/// ```
/// let (r, _w) = rustix::pipe::pipe()?;
/// let file = std::fs::File::open("/")?;
/// // The DRM ioctl cannot compare a pipe with a directory: neither is a DRM device file.
/// let e = fdsame::compare_with(&r, &file, fdsame::Mechanism::DrmFileSameIoctl).unwrap_err();
/// assert_eq!(e.kind(), fdsame::ErrorKind::NotApplicable);
/// assert_eq!(e.mechanism(), Some(fdsame::Mechanism::DrmFileSameIoctl));
/// assert_eq!(e.raw_os_error(), None); // no system call failed
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub(crate) kind: ErrorKind,
    pub(crate) mechanism: Option<Mechanism>,
    pub(crate) op: &'static str,
    pub(crate) fd: Option<RawFd>,
    pub(crate) other: Option<RawFd>,
    pub(crate) errno: Option<i32>,
    pub(crate) detail: Option<String>,
}

impl Error {
    pub(crate) fn os(
        op: &'static str,
        mechanism: Option<Mechanism>,
        fd: RawFd,
        errno: rustix::io::Errno,
    ) -> Self {
        Error {
            kind: ErrorKind::Os,
            mechanism,
            op,
            fd: Some(fd),
            other: None,
            errno: Some(errno.raw_os_error()),
            detail: None,
        }
    }

    pub(crate) fn unsupported(mechanism: Mechanism, errno: Option<i32>) -> Self {
        Error {
            kind: ErrorKind::Unsupported,
            mechanism: Some(mechanism),
            op: mechanism.call(),
            fd: None,
            other: None,
            errno,
            detail: None,
        }
    }

    pub(crate) fn not_applicable(mechanism: Mechanism, detail: impl Into<String>) -> Self {
        Error {
            kind: ErrorKind::NotApplicable,
            mechanism: Some(mechanism),
            op: mechanism.call(),
            fd: None,
            other: None,
            errno: None,
            detail: Some(detail.into()),
        }
    }

    pub(crate) fn with_other(mut self, other: RawFd) -> Self {
        self.other = Some(other);
        self
    }

    /// What went wrong.
    ///
    /// ```
    /// # let (r, _w) = rustix::pipe::pipe()?;
    /// # let file = std::fs::File::open("/")?;
    /// let e = fdsame::compare_with(&r, &file, fdsame::Mechanism::Sysfs).unwrap_err();
    /// assert_eq!(e.kind(), fdsame::ErrorKind::NotApplicable);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The mechanism that failed, if the failure belongs to one.
    ///
    /// ```
    /// # let (r, _w) = rustix::pipe::pipe()?;
    /// let e = fdsame::compare_with(&r, &r, fdsame::Mechanism::DmaBufSameObjectIoctl).unwrap_err();
    /// assert_eq!(e.mechanism(), Some(fdsame::Mechanism::DmaBufSameObjectIoctl));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn mechanism(&self) -> Option<Mechanism> {
        self.mechanism
    }

    /// The system call that failed, as it is written in C: `"fcntl(F_GETFL)"`, `"fstat"`,
    /// `"fstatfs"`, `"kcmp(KCMP_FILE)"`, `"ioctl(DRM_IOCTL_FILE_SAME)"`, `"epoll_create1"`...
    ///
    /// ```
    /// # let (r, _w) = rustix::pipe::pipe()?;
    /// let e = fdsame::compare_with(&r, &r, fdsame::Mechanism::DrmFileSameIoctl).unwrap_err();
    /// assert_eq!(e.operation(), "ioctl(DRM_IOCTL_FILE_SAME)");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn operation(&self) -> &'static str {
        self.op
    }

    /// What the error says beyond the call and its errno (why a mechanism cannot compare
    /// these descriptors, for [`ErrorKind::NotApplicable`]), if anything.
    ///
    /// ```
    /// # let (r, _w) = rustix::pipe::pipe()?;
    /// let e = fdsame::compare_with(&r, &r, fdsame::Mechanism::Sysfs).unwrap_err();
    /// assert_eq!(e.detail(), Some("sysfs compares two DRM device files"));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn detail(&self) -> Option<&str> {
        self.detail.as_deref()
    }

    /// The file descriptor the failing call was issued on, if any.
    ///
    /// ```
    /// # let (r, _w) = rustix::pipe::pipe()?;
    /// // Not a system call failure: no descriptor to blame.
    /// let e = fdsame::compare_with(&r, &r, fdsame::Mechanism::Sysfs).unwrap_err();
    /// assert_eq!(e.fd(), None);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn fd(&self) -> Option<RawFd> {
        self.fd
    }

    /// The other file descriptor of the comparison, if the failing call involved one.
    ///
    /// ```
    /// # let (r, w) = rustix::pipe::pipe()?;
    /// let e = fdsame::compare_with(&r, &w, fdsame::Mechanism::Sysfs).unwrap_err();
    /// assert_eq!(e.other_fd(), None);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn other_fd(&self) -> Option<RawFd> {
        self.other
    }

    /// The raw errno the kernel answered, if a system call failed (or a mechanism was found
    /// missing by the errno it answered).
    ///
    /// ```
    /// use std::os::fd::{AsRawFd, BorrowedFd};
    /// let (r, _w) = rustix::pipe::pipe()?;
    /// let closed = (1 << 20) + 11; // certainly not open
    /// // SAFETY (of this example only): the kernel answers EBADF, nothing is touched.
    /// let bad = unsafe { BorrowedFd::borrow_raw(closed) };
    /// let e = fdsame::compare(&r, bad).unwrap_err();
    /// assert_eq!(e.raw_os_error(), Some(libc::EBADF));
    /// assert_eq!(e.operation(), "fcntl(F_GETFL)");
    /// assert_eq!(e.fd(), Some(closed));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn raw_os_error(&self) -> Option<i32> {
        self.errno
    }

    /// The `Error` inside an [`io::Error`] made from one, if there is one.
    ///
    /// ```
    /// # let (r, _w) = rustix::pipe::pipe()?;
    /// let e: std::io::Error = fdsame::compare_with(&r, &r, fdsame::Mechanism::Sysfs)
    ///     .unwrap_err()
    ///     .into();
    /// assert!(fdsame::Error::from_io(&e).is_some());
    /// assert!(fdsame::Error::from_io(&std::io::Error::other("x")).is_none());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn from_io(err: &io::Error) -> Option<&Error> {
        err.get_ref().and_then(|e| e.downcast_ref::<Error>())
    }

    /// The [`io::ErrorKind`] of this error: the one of its errno for [`ErrorKind::Os`],
    /// [`io::ErrorKind::Unsupported`] or [`io::ErrorKind::PermissionDenied`] for
    /// [`ErrorKind::Unsupported`], [`io::ErrorKind::InvalidInput`] for
    /// [`ErrorKind::NotApplicable`].
    ///
    /// ```
    /// # let (r, _w) = rustix::pipe::pipe()?;
    /// let e = fdsame::compare_with(&r, &r, fdsame::Mechanism::Sysfs).unwrap_err();
    /// assert_eq!(e.io_kind(), std::io::ErrorKind::InvalidInput);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn io_kind(&self) -> io::ErrorKind {
        match (self.kind, self.errno) {
            (ErrorKind::Unsupported, Some(libc::EPERM | libc::EACCES)) => {
                io::ErrorKind::PermissionDenied
            }
            (ErrorKind::Unsupported, _) => io::ErrorKind::Unsupported,
            (ErrorKind::NotApplicable, _) => io::ErrorKind::InvalidInput,
            (ErrorKind::Os, Some(errno)) => io::Error::from_raw_os_error(errno).kind(),
            (ErrorKind::Os, None) => io::ErrorKind::Other,
        }
    }

    /// Whether the errno says the process was refused the call (`EPERM`, `EACCES`) rather
    /// than the kernel lacking it.
    fn refused(&self) -> bool {
        matches!(self.errno, Some(libc::EPERM | libc::EACCES))
    }
}

/// The raw errno of an [`io::Error`]: [`io::Error::raw_os_error`], or the one of the
/// [`Error`] inside it.
///
/// ```
/// let (r, _w) = rustix::pipe::pipe()?;
/// let err: std::io::Error = fdsame::compare_with(&r, &r, fdsame::Mechanism::Sysfs)
///     .unwrap_err()
///     .into();
/// assert_eq!(fdsame::raw_os_error(&err), None);
/// let ebadf = std::io::Error::from_raw_os_error(libc::EBADF);
/// assert_eq!(fdsame::raw_os_error(&ebadf), Some(libc::EBADF));
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn raw_os_error(err: &io::Error) -> Option<i32> {
    err.raw_os_error()
        .or_else(|| Error::from_io(err).and_then(|e| e.errno))
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(m) = self.mechanism {
            write!(f, "{m}: ")?;
        }
        match self.kind {
            ErrorKind::Unsupported if self.refused() => {
                write!(f, "{} is refused to this process", self.op)?
            }
            ErrorKind::Unsupported => write!(f, "{} is not available on this kernel", self.op)?,
            ErrorKind::NotApplicable => write!(f, "cannot compare these file descriptors")?,
            ErrorKind::Os => write!(f, "{} failed", self.op)?,
        }
        match (self.fd, self.other) {
            (Some(fd), Some(other)) => write!(f, " on fd {fd} (other fd {other})")?,
            (Some(fd), None) => write!(f, " on fd {fd}")?,
            (None, Some(other)) => write!(f, " (fd {other})")?,
            (None, None) => {}
        }
        if let Some(d) = &self.detail {
            write!(f, ": {d}")?;
        }
        if let Some(errno) = self.errno {
            write!(f, ": {}", io::Error::from_raw_os_error(errno))?;
            if self.kind == ErrorKind::Unsupported && self.refused() {
                write!(f, " (a seccomp filter, a container or an LSM forbids it)")?;
            }
        }
        Ok(())
    }
}

impl std::error::Error for Error {}

impl From<Error> for io::Error {
    /// Wraps the error, with its [`io_kind`](Error::io_kind); [`raw_os_error()`](crate::raw_os_error)
    /// and [`Error::from_io`] get the errno and the error back.
    fn from(e: Error) -> io::Error {
        io::Error::new(e.io_kind(), e)
    }
}
