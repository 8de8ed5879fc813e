//! The error type of this crate.

use std::fmt;
use std::io;
use std::os::fd::RawFd;

use crate::Mechanism;

/// What went wrong, in broad strokes; see [`Error::kind`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The mechanism does not exist on this kernel, or this process may not use it
    /// (for example `kcmp(2)` answering `ENOSYS`, or `EPERM` under a seccomp sandbox).
    Unsupported,
    /// The mechanism exists but cannot compare file descriptors of these kinds (for example
    /// the DRM ioctl when neither descriptor is a DRM device file).
    NotApplicable,
    /// A system call failed; [`Error::raw_os_error`] holds the errno.
    Os,
}

/// An error that names the file descriptor, the operation and the mechanism that failed.
///
/// Every public comparison function returns [`std::io::Result`]; its [`io::Error`] carries an
/// `Error` as payload (see [`Error::from_io`]), its [`io::ErrorKind`] is the one of the errno,
/// and [`raw_os_error`] gives the raw errno back.
///
/// ```
/// use std::os::fd::AsFd;
/// let (r, _w) = rustix::pipe::pipe()?;
/// let file = std::fs::File::open("/")?;
/// // The DRM ioctl cannot compare a pipe with a directory: neither is a DRM device file.
/// let err = fdsame::compare_with(&r, &file, fdsame::Mechanism::DrmFileSameIoctl).unwrap_err();
/// let e = fdsame::Error::from_io(&err).unwrap();
/// assert_eq!(e.kind(), fdsame::ErrorKind::NotApplicable);
/// assert_eq!(e.mechanism(), Some(fdsame::Mechanism::DrmFileSameIoctl));
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
        err: io::Error,
    ) -> Self {
        Error {
            kind: ErrorKind::Os,
            mechanism,
            op,
            fd: Some(fd),
            other: None,
            errno: err.raw_os_error(),
            detail: if err.raw_os_error().is_none() {
                Some(err.to_string())
            } else {
                None
            },
        }
    }

    pub(crate) fn unsupported(
        mechanism: Mechanism,
        errno: Option<i32>,
        detail: impl Into<String>,
    ) -> Self {
        Error {
            kind: ErrorKind::Unsupported,
            mechanism: Some(mechanism),
            op: mechanism.call(),
            fd: None,
            other: None,
            errno,
            detail: Some(detail.into()),
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
    /// let err = fdsame::compare_with(&r, &file, fdsame::Mechanism::Sysfs).unwrap_err();
    /// assert_eq!(fdsame::Error::from_io(&err).unwrap().kind(), fdsame::ErrorKind::NotApplicable);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The mechanism that failed, if the failure belongs to one.
    ///
    /// ```
    /// # let (r, _w) = rustix::pipe::pipe()?;
    /// let err = fdsame::compare_with(&r, &r, fdsame::Mechanism::DmaBufSameObjectIoctl).unwrap_err();
    /// assert_eq!(
    ///     fdsame::Error::from_io(&err).unwrap().mechanism(),
    ///     Some(fdsame::Mechanism::DmaBufSameObjectIoctl)
    /// );
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn mechanism(&self) -> Option<Mechanism> {
        self.mechanism
    }

    /// The system call or operation that failed, e.g. `"kcmp(KCMP_FILE)"` or `"fstat"`.
    ///
    /// ```
    /// # let (r, _w) = rustix::pipe::pipe()?;
    /// let err = fdsame::compare_with(&r, &r, fdsame::Mechanism::DrmFileSameIoctl).unwrap_err();
    /// assert_eq!(fdsame::Error::from_io(&err).unwrap().operation(), "ioctl(DRM_IOCTL_FILE_SAME)");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn operation(&self) -> &'static str {
        self.op
    }

    /// The file descriptor the failing call was issued on, if any.
    ///
    /// ```
    /// # let (r, _w) = rustix::pipe::pipe()?;
    /// // Not a system call failure: no descriptor to blame.
    /// let err = fdsame::compare_with(&r, &r, fdsame::Mechanism::Sysfs).unwrap_err();
    /// assert_eq!(fdsame::Error::from_io(&err).unwrap().fd(), None);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn fd(&self) -> Option<RawFd> {
        self.fd
    }

    /// The other file descriptor of the comparison, if the failing call involved one.
    ///
    /// ```
    /// # let (r, w) = rustix::pipe::pipe()?;
    /// let err = fdsame::compare_with(&r, &w, fdsame::Mechanism::Sysfs).unwrap_err();
    /// let e = fdsame::Error::from_io(&err).unwrap();
    /// assert!(e.other_fd().is_none() || e.fd().is_some());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn other_fd(&self) -> Option<RawFd> {
        self.other
    }

    /// The raw errno the kernel answered, if a system call failed.
    ///
    /// ```
    /// # let (r, _w) = rustix::pipe::pipe()?;
    /// let err = fdsame::compare_with(&r, &r, fdsame::Mechanism::Sysfs).unwrap_err();
    /// assert_eq!(fdsame::Error::from_io(&err).unwrap().raw_os_error(), None);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn raw_os_error(&self) -> Option<i32> {
        self.errno
    }

    /// The `Error` inside an [`io::Error`] returned by this crate, if there is one.
    ///
    /// ```
    /// # let (r, _w) = rustix::pipe::pipe()?;
    /// let err = fdsame::compare_with(&r, &r, fdsame::Mechanism::Sysfs).unwrap_err();
    /// assert!(fdsame::Error::from_io(&err).is_some());
    /// assert!(fdsame::Error::from_io(&std::io::Error::other("x")).is_none());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn from_io(err: &io::Error) -> Option<&Error> {
        err.get_ref().and_then(|e| e.downcast_ref::<Error>())
    }

    fn io_kind(&self) -> io::ErrorKind {
        match (self.kind, self.errno) {
            (ErrorKind::Unsupported, _) => io::ErrorKind::Unsupported,
            (ErrorKind::NotApplicable, _) => io::ErrorKind::InvalidInput,
            (ErrorKind::Os, Some(errno)) => io::Error::from_raw_os_error(errno).kind(),
            (ErrorKind::Os, None) => io::ErrorKind::Other,
        }
    }
}

/// The raw errno of an [`io::Error`] returned by this crate: the one the kernel answered.
///
/// Looks at [`io::Error::raw_os_error`] first, then inside the [`Error`] payload.
///
/// ```
/// use std::os::fd::AsFd;
/// let f = std::fs::File::open("/")?;
/// // A negative "other" descriptor: the kernel answers EBADF.
/// let err = fdsame::sys::f_dupfd_query_raw(f.as_fd(), -1).unwrap_err();
/// if fdsame::Mechanism::FDupfdQuery.probe() == fdsame::Availability::Available {
///     assert_eq!(fdsame::raw_os_error(&err), Some(libc::EBADF));
/// }
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
            ErrorKind::Unsupported => write!(f, "not available on this kernel")?,
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
        }
        Ok(())
    }
}

impl std::error::Error for Error {}

impl From<Error> for io::Error {
    /// Wraps the error, with the [`io::ErrorKind`] of its errno; [`raw_os_error`] and
    /// [`Error::from_io`] get the errno and the error back.
    fn from(e: Error) -> io::Error {
        io::Error::new(e.io_kind(), e)
    }
}
