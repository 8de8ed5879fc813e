//! # fdsame: are these two file descriptors the same thing?
//!
//! Two file descriptors can be "the same" at several levels:
//!
//! | level | meaning | [`Sameness`] field |
//! |---|---|---|
//! | file | the same open file description (`struct file`): a `dup`, a `fork`, an `SCM_RIGHTS` copy, a `pidfd_getfd` | [`file`](Sameness::file) |
//! | DRM client | the same `struct drm_file`: GEM handles valid on one are valid on the other | [`drm_client`](Sameness::drm_client) |
//! | DRM device | the same `struct drm_device`, whatever node (card or render) and whatever open | [`drm_device`](Sameness::drm_device) |
//! | dma-buf object | the same `struct dma_buf` | [`dma_buf_object`](Sameness::dma_buf_object) |
//! | dma-buf storage | the same memory behind two dma-bufs: the same pages, at the same offset, for the same length, as their exporter knows it (one videobuf2 plane exported twice, two udmabufs over one memfd range) | [`dma_buf_storage`](Sameness::dma_buf_storage) |
//!
//! Each level is an [`Answer`]: [`Same`](Answer::Same), [`Different`](Answer::Different) or
//! [`Unknown`](Answer::Unknown) when nothing available on this kernel can tell — never a
//! guess, and never an ordering or a pointer value. Levels that do not apply are
//! `Different`: a pipe is not the same DRM client as anything, a DRM file has no dma-buf
//! storage.
//!
//! The storage level is the one most often `Unknown`: only the exporter of two dma-bufs can
//! tell whether they share their memory, and only some exporters implement the comparison
//! (`dma_buf_ops.same_storage`: udmabuf, videobuf2 vmalloc/dma-contig/dma-sg). Two dma-bufs
//! of different exporters, or of an exporter without it (GEM PRIME such as vgem, the system
//! dma-heap), are storage-`Unknown` unless they are one dma-buf. Overlapping but not
//! identical memory is `Different`.
//!
//! ## Mechanisms, and the fallback chain
//!
//! [`compare`] asks the best mechanism this kernel has, in this order, each one only when
//! the one before is missing (detected on first use and cached, see [`Mechanism::availability`]):
//!
//! 1. [`Mechanism::DrmFileSameIoctl`] — `DRM_IOCTL_FILE_SAME`, when one descriptor is a DRM
//!    device file: answers the file, DRM client and DRM device levels. Missing: `EINVAL`.
//!    It does not make this process the owner of the DRM file (series v2,
//!    `DRM_NO_PID_UPDATE`), so comparing a descriptor received from another process leaves
//!    that process's client attributed to it.
//! 2. [`Mechanism::DmaBufSameObjectIoctl`] — `DMA_BUF_IOCTL_SAME_OBJECT`, when one descriptor
//!    is a dma-buf: answers the file, dma-buf object and dma-buf storage levels (storage:
//!    `Same`/`Different` only when the kernel set `DMA_BUF_STORAGE_COMPARED`, otherwise
//!    `Unknown`; a kernel before series v2 never sets it). Missing: `ENOTTY`.
//! 3. The file level alone, by the first of [`Mechanism::FDupfdQuery`]
//!    (`fcntl(F_DUPFD_QUERY)`, Linux 6.10; missing: `EINVAL`), [`Mechanism::Kcmp`]
//!    (`kcmp(KCMP_FILE)`; missing: `ENOSYS`, or `EPERM` in a sandbox), [`Mechanism::Epoll`]
//!    (Mesa's epoll trick; only for pollable files) and [`Mechanism::Fstat`] (different
//!    inodes are different files; the same inode tells nothing) that gives an answer.
//!
//!    The other levels are then inferred from the file level — each inference is sound:
//!    * same file ⇒ same DRM client, same DRM device, same dma-buf object;
//!    * same dma-buf object ⇒ same dma-buf storage (a dma-buf is the same memory as itself);
//!    * different files ⇒ different DRM clients: today the kernel makes one `struct drm_file`
//!      per open file description (`drm_open`), so two open file descriptions are two
//!      clients. Only made when the file level is known;
//!    * different files ⇒ different dma-buf objects: every descriptor of one dma-buf refers
//!      to its one `struct file` (`dma_buf->file`, the dma-buf's own inode since 5.3);
//!      the storage stays `Unknown` (two dma-bufs may share their memory);
//!    * different DRM devices ⇒ different clients and different files.
//! 4. The DRM device level, when still unknown and both are DRM device files:
//!    [`Mechanism::Fstat`] (the same `st_rdev` is the same DRM minor, so the same device),
//!    then [`Mechanism::Sysfs`] (the canonical path of `/sys/dev/char/MAJ:MIN/device`, as
//!    libdrm's `drmDevicesEqual` and drm-rs' `DrmNode` do: a card node and a render node of
//!    one device share it).
//!
//! ## `O_PATH` descriptors
//!
//! Since series v2 both ioctls look the other descriptor up with `fdget()`, which refuses
//! `O_PATH` descriptors with `EBADF` (series v1 answered 0). An `O_PATH` descriptor opens
//! nothing: it is never a DRM client, a DRM device file or a dma-buf ([`FdKind::Path`]), so
//! those levels and the storage level are `Different` from the kinds alone, and [`compare`]
//! does not issue either ioctl when one descriptor is `O_PATH`. The file level is then
//! answered by step 3: `fcntl(F_DUPFD_QUERY)` answers for `O_PATH` descriptors on the
//! kernels whose `f_dupfd_query()` uses `fdget_raw()` (7.3 does); where it answers `EBADF`
//! instead, that is taken as "cannot tell" and `kcmp(KCMP_FILE)` (`fget_task()` accepts
//! `O_PATH` files) answers; the epoll trick cannot (an `O_PATH` descriptor cannot be
//! polled); `fstat` tells different inodes apart. [`compare_with`] one of the ioctls on an
//! `O_PATH` descriptor is an error of kind [`ErrorKind::NotApplicable`].
//!
//! [`compare_with`] forces one mechanism (plus the inferences above), for tests, benchmarks
//! and debugging; forcing a mechanism this kernel lacks is an error of kind
//! [`ErrorKind::Unsupported`].
//!
//! ```
//! use std::os::fd::AsFd;
//! let (r, w) = rustix::pipe::pipe()?;
//! let dup = r.try_clone()?;
//! let s = fdsame::compare(&r, &dup)?;
//! assert_eq!(s.file, fdsame::Answer::Same);
//! let s = fdsame::compare(&r, &w)?;
//! assert_eq!(s.file, fdsame::Answer::Different);
//! assert_eq!(s.drm_client, fdsame::Answer::Different); // pipes are not DRM clients
//! println!("answered by {:?}", s.mechanism);
//! # Ok::<(), std::io::Error>(())
//! ```

#![warn(missing_docs)]

use std::fmt;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::str::FromStr;
use std::sync::atomic::{AtomicI32, Ordering};

mod error;
pub mod ioctl;
mod kind;
pub mod sys;
pub mod uapi;

pub use error::{raw_os_error, Error, ErrorKind};
pub use kind::{DrmNodeType, FdKind, ANON_INODE_FS_MAGIC, DMA_BUF_MAGIC, DRM_MAJOR};

use kind::{identify, sysfs_device, Identity};
use uapi::*;

/// One way of telling whether two file descriptors are the same thing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Mechanism {
    /// `DRM_IOCTL_FILE_SAME` on a DRM device file: file, DRM client and DRM device levels.
    DrmFileSameIoctl,
    /// `DMA_BUF_IOCTL_SAME_OBJECT` on a dma-buf: file, dma-buf object and dma-buf storage
    /// levels.
    DmaBufSameObjectIoctl,
    /// `fcntl(a, F_DUPFD_QUERY, b)` (Linux 6.10): file level.
    FDupfdQuery,
    /// `kcmp(pid, pid, KCMP_FILE, a, b)`: file level.
    Kcmp,
    /// Mesa's epoll trick ([`sys::epoll_same_file`]): file level, pollable files only.
    Epoll,
    /// `fstat`: different inodes are different files; the same `st_rdev` of two DRM device
    /// files is the same DRM device. Always available; often cannot tell.
    Fstat,
    /// The sysfs device behind two DRM device nodes: DRM device level.
    Sysfs,
}

impl Mechanism {
    /// Every mechanism, in the order of the fallback chain.
    pub const ALL: [Mechanism; 7] = [
        Mechanism::DrmFileSameIoctl,
        Mechanism::DmaBufSameObjectIoctl,
        Mechanism::FDupfdQuery,
        Mechanism::Kcmp,
        Mechanism::Epoll,
        Mechanism::Fstat,
        Mechanism::Sysfs,
    ];

    /// The short name, as [`FromStr`] and the command line take it: `drm-ioctl`,
    /// `dma-buf-ioctl`, `f-dupfd-query`, `kcmp`, `epoll`, `fstat`, `sysfs`.
    ///
    /// ```
    /// use fdsame::Mechanism;
    /// assert_eq!(Mechanism::Kcmp.name(), "kcmp");
    /// assert_eq!("f-dupfd-query".parse::<Mechanism>().unwrap(), Mechanism::FDupfdQuery);
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            Mechanism::DrmFileSameIoctl => "drm-ioctl",
            Mechanism::DmaBufSameObjectIoctl => "dma-buf-ioctl",
            Mechanism::FDupfdQuery => "f-dupfd-query",
            Mechanism::Kcmp => "kcmp",
            Mechanism::Epoll => "epoll",
            Mechanism::Fstat => "fstat",
            Mechanism::Sysfs => "sysfs",
        }
    }

    /// The call behind the mechanism, for messages.
    pub(crate) fn call(self) -> &'static str {
        match self {
            Mechanism::DrmFileSameIoctl => "ioctl(DRM_IOCTL_FILE_SAME)",
            Mechanism::DmaBufSameObjectIoctl => "ioctl(DMA_BUF_IOCTL_SAME_OBJECT)",
            Mechanism::FDupfdQuery => "fcntl(F_DUPFD_QUERY)",
            Mechanism::Kcmp => "kcmp(KCMP_FILE)",
            Mechanism::Epoll => "epoll_ctl(EPOLL_CTL_ADD)",
            Mechanism::Fstat => "fstat",
            Mechanism::Sysfs => "realpath(/sys/dev/char/MAJ:MIN/device)",
        }
    }

    /// What this process knows about the mechanism on this kernel, without trying anything:
    /// the cached result of its first use (or of [`probe`](Self::probe)).
    ///
    /// ```
    /// use fdsame::{Availability, Mechanism};
    /// assert_eq!(Mechanism::Fstat.availability(), Availability::Available);
    /// ```
    pub fn availability(self) -> Availability {
        if self == Mechanism::Fstat {
            return Availability::Available;
        }
        match STATE[self as usize].load(Ordering::Relaxed) {
            UNTESTED => Availability::Untested,
            AVAILABLE => Availability::Available,
            _ => Availability::Unavailable,
        }
    }

    /// Finds out whether the mechanism works on this kernel, trying it on a pipe if it was
    /// never used (the result is cached). The two ioctls need a DRM device file or a dma-buf
    /// to be tried on: for them this is [`availability`](Self::availability), which stays
    /// [`Availability::Untested`] until they were used once.
    ///
    /// ```
    /// use fdsame::{Availability, Mechanism};
    /// // Every Linux kernel this crate supports has epoll.
    /// assert_eq!(Mechanism::Epoll.probe(), Availability::Available);
    /// ```
    pub fn probe(self) -> Availability {
        if self.availability() != Availability::Untested {
            return self.availability();
        }
        let Ok((r, w)) = rustix::pipe::pipe() else {
            return self.availability();
        };
        let (r, w) = (r.as_fd(), w.as_fd());
        let _ = match self {
            Mechanism::FDupfdQuery => {
                guarded(self, r, w, || sys::f_dupfd_query(r, w), &[libc::EINVAL]).map(drop)
            }
            Mechanism::Kcmp => guarded(
                self,
                r,
                w,
                || sys::kcmp_file(r, w),
                &[libc::ENOSYS, libc::EPERM],
            )
            .map(drop),
            Mechanism::Epoll => {
                guarded(self, r, w, || sys::epoll_same_file(r, w), &[libc::ENOSYS]).map(drop)
            }
            Mechanism::Sysfs => match std::fs::metadata("/sys/dev/char") {
                Ok(_) => {
                    set_state(self, AVAILABLE);
                    Ok(())
                }
                Err(e) => {
                    set_state(self, e.raw_os_error().unwrap_or(libc::ENOENT));
                    Ok(())
                }
            },
            _ => Ok(()),
        };
        self.availability()
    }

    /// The reason the mechanism was found unavailable: the errno it answered.
    ///
    /// ```
    /// use fdsame::Mechanism;
    /// if Mechanism::FDupfdQuery.probe() == fdsame::Availability::Unavailable {
    ///     assert_eq!(Mechanism::FDupfdQuery.unavailable_errno(), Some(libc::EINVAL));
    /// }
    /// ```
    pub fn unavailable_errno(self) -> Option<i32> {
        match STATE[self as usize].load(Ordering::Relaxed) {
            e if e > 0 => Some(e),
            _ => None,
        }
    }
}

impl fmt::Display for Mechanism {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The error of parsing a [`Mechanism`] name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseMechanismError(String);

impl fmt::Display for ParseMechanismError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown mechanism {:?}; one of:", self.0)?;
        for m in Mechanism::ALL {
            write!(f, " {m}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ParseMechanismError {}

impl FromStr for Mechanism {
    type Err = ParseMechanismError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let norm = s.to_ascii_lowercase().replace('_', "-");
        Mechanism::ALL
            .into_iter()
            .find(|m| {
                m.name() == norm || format!("{m:?}").to_ascii_lowercase() == norm.replace('-', "")
            })
            .ok_or_else(|| ParseMechanismError(s.to_owned()))
    }
}

/// Whether a mechanism works on this kernel, as far as this process found out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Availability {
    /// Not used yet.
    Untested,
    /// Used once with success.
    Available,
    /// The kernel answered that it lacks the mechanism (or forbids it to this process).
    Unavailable,
}

const UNTESTED: i32 = 0;
const AVAILABLE: i32 = -1;
/// Per mechanism: `UNTESTED`, `AVAILABLE`, or the errno that showed it unavailable.
static STATE: [AtomicI32; 7] = [const { AtomicI32::new(UNTESTED) }; 7];

/// Test hook: makes this process believe the kernel answered `errno` to `m`, so that the
/// fallback chain can be exercised on a kernel that has every mechanism. Not part of the API.
#[doc(hidden)]
pub fn __pretend_unavailable(m: Mechanism, errno: i32) {
    assert!(errno > 0);
    set_state(m, errno);
}

fn set_state(m: Mechanism, v: i32) {
    STATE[m as usize].store(v, Ordering::Relaxed);
}

/// Runs a mechanism unless it is known to be unavailable; caches the outcome.
/// `Ok(None)`: unavailable (now or before).
fn guarded<T>(
    m: Mechanism,
    fd: BorrowedFd<'_>,
    other: BorrowedFd<'_>,
    f: impl FnOnce() -> io::Result<T>,
    missing: &[i32],
) -> Result<Option<T>, Error> {
    if m.availability() == Availability::Unavailable {
        return Ok(None);
    }
    match f() {
        Ok(v) => {
            set_state(m, AVAILABLE);
            Ok(Some(v))
        }
        Err(e) => match e.raw_os_error() {
            Some(errno)
                if missing.contains(&errno) && m.availability() != Availability::Available =>
            {
                set_state(m, errno);
                Ok(None)
            }
            _ => Err(Error::os(m.call(), Some(m), fd.as_raw_fd(), e).with_other(other.as_raw_fd())),
        },
    }
}

/// The answer about one level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Answer {
    /// The level holds.
    Same,
    /// The level does not hold (or does not apply to these kinds of file).
    Different,
    /// Nothing available on this kernel can tell.
    Unknown,
}

impl Answer {
    /// `Some(true)`, `Some(false)` or `None`.
    ///
    /// ```
    /// assert_eq!(fdsame::Answer::Unknown.known(), None);
    /// assert_eq!(fdsame::Answer::Same.known(), Some(true));
    /// ```
    pub fn known(self) -> Option<bool> {
        match self {
            Answer::Same => Some(true),
            Answer::Different => Some(false),
            Answer::Unknown => None,
        }
    }

    /// From a bit of a kernel result.
    fn bit(bits: u64, bit: u64) -> Answer {
        if bits & bit != 0 {
            Answer::Same
        } else {
            Answer::Different
        }
    }

    /// The name used in messages and JSON: `same`, `different`, `unknown`.
    ///
    /// ```
    /// assert_eq!(fdsame::Answer::Different.name(), "different");
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            Answer::Same => "same",
            Answer::Different => "different",
            Answer::Unknown => "unknown",
        }
    }
}

impl From<bool> for Answer {
    fn from(b: bool) -> Answer {
        if b {
            Answer::Same
        } else {
            Answer::Different
        }
    }
}

impl fmt::Display for Answer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A level of sameness; see the [crate documentation](crate).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Level {
    /// The same open file description.
    File,
    /// The same DRM client (`struct drm_file`).
    DrmClient,
    /// The same DRM device (`struct drm_device`).
    DrmDevice,
    /// The same dma-buf (`struct dma_buf`).
    DmaBufObject,
    /// The same memory behind two dma-bufs (`DMA_BUF_SAME_STORAGE`, answered only when the
    /// kernel set `DMA_BUF_STORAGE_COMPARED`).
    DmaBufStorage,
}

impl Level {
    /// Every level.
    pub const ALL: [Level; 5] = [
        Level::File,
        Level::DrmClient,
        Level::DrmDevice,
        Level::DmaBufObject,
        Level::DmaBufStorage,
    ];

    /// The name used in messages, JSON and on the command line: `file`, `drm-client`,
    /// `drm-device`, `dma-buf-object`, `dma-buf-storage`.
    ///
    /// ```
    /// assert_eq!(fdsame::Level::DrmClient.name(), "drm-client");
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            Level::File => "file",
            Level::DrmClient => "drm-client",
            Level::DrmDevice => "drm-device",
            Level::DmaBufObject => "dma-buf-object",
            Level::DmaBufStorage => "dma-buf-storage",
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How two file descriptors are the same; see the [crate documentation](crate).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Sameness {
    /// The same open file description.
    pub file: Answer,
    /// The same DRM client (`struct drm_file`): GEM handles valid on both.
    pub drm_client: Answer,
    /// The same DRM device (`struct drm_device`).
    pub drm_device: Answer,
    /// The same dma-buf (`struct dma_buf`).
    pub dma_buf_object: Answer,
    /// The same memory behind two dma-bufs: the same pages, at the same offset, for the same
    /// length, as their exporter knows it. `Same` for one dma-buf; for two different dma-bufs
    /// `Same` or `Different` only when their exporter compared the storage
    /// (`DMA_BUF_STORAGE_COMPARED`), otherwise `Unknown`. `Different` when either descriptor
    /// is not a dma-buf.
    pub dma_buf_storage: Answer,
    /// The mechanism that answered the file level (and, for the two ioctls, every level
    /// they report); `None` when nothing could tell the file level.
    pub mechanism: Option<Mechanism>,
    /// The mechanism that answered the DRM device level when it was not inferred from
    /// `mechanism`'s answer ([`Mechanism::Fstat`] or [`Mechanism::Sysfs`]).
    pub device_mechanism: Option<Mechanism>,
    /// What the two descriptors are.
    pub kinds: [FdKind; 2],
}

impl Sameness {
    /// The answer about one level.
    ///
    /// ```
    /// let (r, _w) = rustix::pipe::pipe()?;
    /// let s = fdsame::compare(&r, &r)?;
    /// assert_eq!(s.level(fdsame::Level::File), s.file);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn level(&self, level: Level) -> Answer {
        match level {
            Level::File => self.file,
            Level::DrmClient => self.drm_client,
            Level::DrmDevice => self.drm_device,
            Level::DmaBufObject => self.dma_buf_object,
            Level::DmaBufStorage => self.dma_buf_storage,
        }
    }

    /// What the kinds alone tell: levels that do not apply to these kinds are `Different`.
    fn from_kinds(a: FdKind, b: FdKind) -> Sameness {
        let both_drm = a.is_drm() && b.is_drm();
        let both_buf = a.is_dma_buf() && b.is_dma_buf();
        let na = |applies: bool| {
            if applies {
                Answer::Unknown
            } else {
                Answer::Different
            }
        };
        Sameness {
            file: Answer::Unknown,
            drm_client: na(both_drm),
            drm_device: na(both_drm),
            dma_buf_object: na(both_buf),
            dma_buf_storage: na(both_buf),
            mechanism: None,
            device_mechanism: None,
            kinds: [a, b],
        }
    }

    /// The sound inferences listed in the crate documentation.
    fn infer(&mut self) {
        let both_drm = self.kinds[0].is_drm() && self.kinds[1].is_drm();
        let both_buf = self.kinds[0].is_dma_buf() && self.kinds[1].is_dma_buf();
        if both_drm && self.drm_device == Answer::Different {
            self.file = Answer::Different;
            self.drm_client = Answer::Different;
        }
        match self.file {
            Answer::Same => {
                if both_drm {
                    self.drm_client = Answer::Same;
                    self.drm_device = Answer::Same;
                }
                if both_buf {
                    self.dma_buf_object = Answer::Same;
                }
            }
            Answer::Different => {
                // One struct drm_file per open file description; one struct file per dma-buf.
                if both_drm {
                    self.drm_client = Answer::Different;
                }
                if both_buf {
                    self.dma_buf_object = Answer::Different;
                }
            }
            Answer::Unknown => {}
        }
        // A dma-buf is the same storage as itself; two dma-bufs may share their memory.
        if both_buf && self.dma_buf_object == Answer::Same {
            self.dma_buf_storage = Answer::Same;
        }
    }
}

/// Compares two file descriptors at every level, by the best mechanisms this kernel has
/// (see the [crate documentation](crate) for the chain and the inferences).
///
/// Errors (see [`Error`]): a descriptor that cannot be `fstat`ed, or a mechanism that fails
/// for another reason than being absent from this kernel.
///
/// ```no_run
/// use fdsame::{compare, Answer};
/// let card = std::fs::File::open("/dev/dri/card0")?;
/// let render = std::fs::File::open("/dev/dri/renderD128")?;
/// let s = compare(&card, &render)?;
/// assert_eq!(s.file, Answer::Different);
/// println!("same device: {} (by {:?})", s.drm_device, s.device_mechanism.or(s.mechanism));
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn compare(a: impl AsFd, b: impl AsFd) -> io::Result<Sameness> {
    chain(a.as_fd(), b.as_fd()).map_err(Into::into)
}

/// Compares two file descriptors with one mechanism only (plus the inferences listed in the
/// [crate documentation](crate)); the levels it cannot answer are [`Answer::Unknown`].
///
/// Errors: [`ErrorKind::Unsupported`] when this kernel lacks the mechanism,
/// [`ErrorKind::NotApplicable`] when it cannot compare these kinds of file (an ioctl needs
/// a DRM device file or a dma-buf, [`Mechanism::Sysfs`] two DRM device files).
///
/// ```
/// use fdsame::{compare_with, Answer, Mechanism};
/// let (r, w) = rustix::pipe::pipe()?;
/// let s = compare_with(&r, &w, Mechanism::Epoll)?;
/// assert_eq!(s.file, Answer::Different);
/// assert_eq!(s.mechanism, Some(Mechanism::Epoll));
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn compare_with(a: impl AsFd, b: impl AsFd, mechanism: Mechanism) -> io::Result<Sameness> {
    forced(a.as_fd(), b.as_fd(), mechanism).map_err(Into::into)
}

fn ident(fd: BorrowedFd<'_>) -> Result<Identity, Error> {
    identify(fd).map_err(|e| Error::os("fstat", None, fd.as_raw_fd(), e))
}

/// The DRM ioctl on whichever descriptor is a DRM device file. `Ok(None)`: missing.
fn drm_ioctl(a: BorrowedFd<'_>, b: BorrowedFd<'_>, ka: FdKind) -> Result<Option<u64>, Error> {
    let (x, y) = if ka.is_drm() { (a, b) } else { (b, a) };
    guarded(
        Mechanism::DrmFileSameIoctl,
        x,
        y,
        || ioctl::drm_file_same(x, y),
        &[libc::EINVAL, libc::ENOTTY],
    )
}

/// The dma-buf ioctl on whichever descriptor is a dma-buf. `Ok(None)`: missing.
fn dma_buf_ioctl(a: BorrowedFd<'_>, b: BorrowedFd<'_>, ka: FdKind) -> Result<Option<u64>, Error> {
    let (x, y) = if ka.is_dma_buf() { (a, b) } else { (b, a) };
    guarded(
        Mechanism::DmaBufSameObjectIoctl,
        x,
        y,
        || ioctl::dma_buf_same_object(x, y),
        &[libc::ENOTTY],
    )
}

fn apply_drm_bits(s: &mut Sameness, bits: u64) {
    s.file = Answer::bit(bits, DRM_FILE_SAME_FILE);
    if s.kinds[0].is_drm() && s.kinds[1].is_drm() {
        s.drm_client = Answer::bit(bits, DRM_FILE_SAME_CLIENT);
        s.drm_device = Answer::bit(bits, DRM_FILE_SAME_DEVICE);
    }
    s.mechanism = Some(Mechanism::DrmFileSameIoctl);
}

fn apply_dma_buf_bits(s: &mut Sameness, bits: u64) {
    s.file = Answer::bit(bits, DMA_BUF_SAME_FILE);
    if s.kinds[0].is_dma_buf() && s.kinds[1].is_dma_buf() {
        s.dma_buf_object = Answer::bit(bits, DMA_BUF_SAME_OBJECT);
        s.dma_buf_storage = if bits & DMA_BUF_STORAGE_COMPARED != 0 {
            Answer::bit(bits, DMA_BUF_SAME_STORAGE)
        } else if s.dma_buf_object == Answer::Same {
            // A kernel before series v2: one dma-buf is still the same storage.
            Answer::Same
        } else {
            Answer::Unknown
        };
    }
    s.mechanism = Some(Mechanism::DmaBufSameObjectIoctl);
}

/// One file-level mechanism. `Ok(None)`: unavailable; `Ok(Some(Unknown))`: cannot tell.
fn file_level(
    m: Mechanism,
    a: BorrowedFd<'_>,
    b: BorrowedFd<'_>,
    ia: &Identity,
    ib: &Identity,
) -> Result<Option<Answer>, Error> {
    Ok(match m {
        Mechanism::FDupfdQuery => {
            // Kernels whose f_dupfd_query() looks the other descriptor up with fdget() (6.10,
            // 6.11) refuse an O_PATH one with EBADF: cannot tell, kcmp can.
            let o_path = ia.kind == FdKind::Path || ib.kind == FdKind::Path;
            let query = || match sys::f_dupfd_query(a, b) {
                Err(e) if o_path && e.raw_os_error() == Some(libc::EBADF) => Ok(None),
                r => r.map(Some),
            };
            guarded(m, a, b, query, &[libc::EINVAL])?
                .map(|o| o.map_or(Answer::Unknown, Answer::from))
        }
        Mechanism::Kcmp => guarded(
            m,
            a,
            b,
            || sys::kcmp_file(a, b),
            &[libc::ENOSYS, libc::EPERM],
        )?
        .map(Answer::from),
        Mechanism::Epoll => guarded(m, a, b, || sys::epoll_same_file(a, b), &[libc::ENOSYS])?
            .map(|o| o.map_or(Answer::Unknown, Answer::from)),
        Mechanism::Fstat => Some(if ia.inode != ib.inode || ia.kind != ib.kind {
            Answer::Different
        } else {
            Answer::Unknown
        }),
        _ => unreachable!("not a file-level mechanism"),
    })
}

/// The DRM device level by st_rdev. Only for two DRM device files.
fn device_by_fstat(ia: &Identity, ib: &Identity) -> Answer {
    if ia.kind == ib.kind {
        Answer::Same
    } else {
        Answer::Unknown
    }
}

/// The DRM device level by sysfs. `Ok(None)`: no sysfs.
fn device_by_sysfs(
    a: BorrowedFd<'_>,
    ia: &Identity,
    ib: &Identity,
) -> Result<Option<Answer>, Error> {
    let m = Mechanism::Sysfs;
    if m.availability() == Availability::Unavailable {
        return Ok(None);
    }
    let (
        FdKind::Drm {
            major: ma,
            minor: na,
            ..
        },
        FdKind::Drm {
            major: mb,
            minor: nb,
            ..
        },
    ) = (ia.kind, ib.kind)
    else {
        unreachable!("sysfs is only asked about DRM device files")
    };
    let both = sysfs_device(ma, na).and_then(|x| Ok((x, sysfs_device(mb, nb)?)));
    match both {
        Ok((Some(x), Some(y))) => {
            set_state(m, AVAILABLE);
            Ok(Some(Answer::from(x == y)))
        }
        Ok(_) => {
            set_state(m, AVAILABLE);
            Ok(Some(Answer::Unknown))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            set_state(m, e.raw_os_error().unwrap_or(libc::ENOENT));
            Ok(None)
        }
        Err(e) => Err(Error::os(m.call(), Some(m), a.as_raw_fd(), e)),
    }
}

fn chain(a: BorrowedFd<'_>, b: BorrowedFd<'_>) -> Result<Sameness, Error> {
    let (ia, ib) = (ident(a)?, ident(b)?);
    let mut s = Sameness::from_kinds(ia.kind, ib.kind);
    // Both ioctls refuse an O_PATH descriptor with EBADF (fdget): the kinds already say it is
    // no DRM client and no dma-buf, and step 3 answers the file level.
    let o_path = ia.kind == FdKind::Path || ib.kind == FdKind::Path;

    if !o_path && (ia.kind.is_drm() || ib.kind.is_drm()) {
        if let Some(bits) = drm_ioctl(a, b, ia.kind)? {
            apply_drm_bits(&mut s, bits);
            return Ok(s);
        }
    }
    if !o_path && (ia.kind.is_dma_buf() || ib.kind.is_dma_buf()) {
        if let Some(bits) = dma_buf_ioctl(a, b, ia.kind)? {
            apply_dma_buf_bits(&mut s, bits);
            return Ok(s);
        }
    }
    for m in [
        Mechanism::FDupfdQuery,
        Mechanism::Kcmp,
        Mechanism::Epoll,
        Mechanism::Fstat,
    ] {
        match file_level(m, a, b, &ia, &ib)? {
            Some(Answer::Unknown) | None => continue,
            Some(answer) => {
                s.file = answer;
                s.mechanism = Some(m);
                break;
            }
        }
    }
    s.infer();
    if ia.kind.is_drm() && ib.kind.is_drm() && s.drm_device == Answer::Unknown {
        let by_rdev = device_by_fstat(&ia, &ib);
        if by_rdev != Answer::Unknown {
            s.drm_device = by_rdev;
            s.device_mechanism = Some(Mechanism::Fstat);
        } else if let Some(answer) = device_by_sysfs(a, &ia, &ib)? {
            s.drm_device = answer;
            s.device_mechanism = Some(Mechanism::Sysfs);
        }
        s.infer();
    }
    Ok(s)
}

fn forced(a: BorrowedFd<'_>, b: BorrowedFd<'_>, m: Mechanism) -> Result<Sameness, Error> {
    let (ia, ib) = (ident(a)?, ident(b)?);
    let mut s = Sameness::from_kinds(ia.kind, ib.kind);
    let unsupported = |m: Mechanism| {
        let errno = m.unavailable_errno();
        let what = match errno {
            Some(e) => format!("{} answered {}", m.call(), io::Error::from_raw_os_error(e)),
            None => format!("{} is missing", m.call()),
        };
        Error::unsupported(m, errno, what)
    };
    let o_path = ia.kind == FdKind::Path || ib.kind == FdKind::Path;
    if o_path
        && matches!(
            m,
            Mechanism::DrmFileSameIoctl | Mechanism::DmaBufSameObjectIoctl
        )
    {
        return Err(Error::not_applicable(
            m,
            "the ioctl refuses an O_PATH file descriptor (EBADF from fdget)",
        ));
    }
    match m {
        Mechanism::DrmFileSameIoctl => {
            if !(ia.kind.is_drm() || ib.kind.is_drm()) {
                return Err(Error::not_applicable(
                    m,
                    "neither file descriptor is a DRM device file",
                ));
            }
            let bits = drm_ioctl(a, b, ia.kind)?.ok_or_else(|| unsupported(m))?;
            apply_drm_bits(&mut s, bits);
            return Ok(s);
        }
        Mechanism::DmaBufSameObjectIoctl => {
            if !(ia.kind.is_dma_buf() || ib.kind.is_dma_buf()) {
                return Err(Error::not_applicable(
                    m,
                    "neither file descriptor is a dma-buf",
                ));
            }
            let bits = dma_buf_ioctl(a, b, ia.kind)?.ok_or_else(|| unsupported(m))?;
            apply_dma_buf_bits(&mut s, bits);
            return Ok(s);
        }
        Mechanism::Sysfs => {
            if !(ia.kind.is_drm() && ib.kind.is_drm()) {
                return Err(Error::not_applicable(
                    m,
                    "sysfs compares two DRM device files",
                ));
            }
            s.drm_device = device_by_sysfs(a, &ia, &ib)?.ok_or_else(|| unsupported(m))?;
            s.device_mechanism = Some(m);
        }
        Mechanism::FDupfdQuery | Mechanism::Kcmp | Mechanism::Epoll | Mechanism::Fstat => {
            s.file = file_level(m, a, b, &ia, &ib)?.ok_or_else(|| unsupported(m))?;
            s.mechanism = Some(m);
            if m == Mechanism::Fstat && ia.kind.is_drm() && ib.kind.is_drm() {
                s.drm_device = device_by_fstat(&ia, &ib);
                if s.drm_device != Answer::Unknown {
                    s.device_mechanism = Some(m);
                }
            }
        }
    }
    s.infer();
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CARD: FdKind = FdKind::Drm {
        major: DRM_MAJOR,
        minor: 0,
        node: DrmNodeType::Primary,
    };
    const RENDER: FdKind = FdKind::Drm {
        major: DRM_MAJOR,
        minor: 128,
        node: DrmNodeType::Render,
    };

    #[test]
    fn kinds_alone() {
        let s = Sameness::from_kinds(CARD, FdKind::Other);
        assert_eq!(
            (s.file, s.drm_client, s.drm_device, s.dma_buf_object),
            (
                Answer::Unknown,
                Answer::Different,
                Answer::Different,
                Answer::Different
            )
        );
        let s = Sameness::from_kinds(FdKind::DmaBuf, FdKind::DmaBuf);
        assert_eq!(
            (
                s.drm_client,
                s.drm_device,
                s.dma_buf_object,
                s.dma_buf_storage
            ),
            (
                Answer::Different,
                Answer::Different,
                Answer::Unknown,
                Answer::Unknown
            )
        );
        let s = Sameness::from_kinds(CARD, RENDER);
        assert_eq!(
            (s.drm_client, s.drm_device),
            (Answer::Unknown, Answer::Unknown)
        );
    }

    #[test]
    fn inferences() {
        // Same file: every applicable level holds.
        let mut s = Sameness::from_kinds(CARD, CARD);
        s.file = Answer::Same;
        s.infer();
        assert_eq!((s.drm_client, s.drm_device), (Answer::Same, Answer::Same));
        // Different files: different clients, the device stays unknown.
        let mut s = Sameness::from_kinds(CARD, RENDER);
        s.file = Answer::Different;
        s.infer();
        assert_eq!(
            (s.drm_client, s.drm_device),
            (Answer::Different, Answer::Unknown)
        );
        // Unknown file: nothing inferred about the client.
        let mut s = Sameness::from_kinds(CARD, CARD);
        s.infer();
        assert_eq!((s.file, s.drm_client), (Answer::Unknown, Answer::Unknown));
        // Different devices: different files and clients.
        let mut s = Sameness::from_kinds(CARD, RENDER);
        s.drm_device = Answer::Different;
        s.infer();
        assert_eq!(
            (s.file, s.drm_client),
            (Answer::Different, Answer::Different)
        );
        // dma-bufs: object follows the file.
        for f in [Answer::Same, Answer::Different] {
            let mut s = Sameness::from_kinds(FdKind::DmaBuf, FdKind::DmaBuf);
            s.file = f;
            s.infer();
            assert_eq!(s.dma_buf_object, f);
        }
    }

    #[test]
    fn ioctl_bits() {
        let mut s = Sameness::from_kinds(CARD, RENDER);
        apply_drm_bits(&mut s, DRM_FILE_SAME_DEVICE);
        assert_eq!(
            (s.file, s.drm_client, s.drm_device),
            (Answer::Different, Answer::Different, Answer::Same)
        );
        // A DRM file against a dma-buf: only the file bit means anything.
        let mut s = Sameness::from_kinds(CARD, FdKind::DmaBuf);
        apply_drm_bits(&mut s, 0);
        assert_eq!(
            (s.file, s.drm_device, s.dma_buf_object),
            (Answer::Different, Answer::Different, Answer::Different)
        );
        let mut s = Sameness::from_kinds(FdKind::DmaBuf, FdKind::DmaBuf);
        apply_dma_buf_bits(&mut s, DMA_BUF_SAME_ALL);
        assert_eq!(
            (s.file, s.dma_buf_object, s.dma_buf_storage),
            (Answer::Same, Answer::Same, Answer::Same)
        );
        assert_eq!(s.mechanism, Some(Mechanism::DmaBufSameObjectIoctl));
    }

    #[test]
    fn storage_bits() {
        let both = |bits| {
            let mut s = Sameness::from_kinds(FdKind::DmaBuf, FdKind::DmaBuf);
            apply_dma_buf_bits(&mut s, bits);
            (s.file, s.dma_buf_object, s.dma_buf_storage)
        };
        use Answer::{Different as D, Same as S, Unknown as U};
        // Two dma-bufs of one exporter over the same memory (udmabuf, videobuf2).
        assert_eq!(
            both(DMA_BUF_SAME_STORAGE | DMA_BUF_STORAGE_COMPARED),
            (D, D, S)
        );
        // Compared, different memory (or different sizes).
        assert_eq!(both(DMA_BUF_STORAGE_COMPARED), (D, D, D));
        // Not compared (different exporters, an exporter without same_storage): unknown.
        assert_eq!(both(0), (D, D, U));
        // SAME_STORAGE means nothing without COMPARED.
        assert_eq!(both(DMA_BUF_SAME_STORAGE), (D, D, U));
        // A kernel before series v2: one dma-buf is still its own storage.
        assert_eq!(both(DMA_BUF_SAME_FILE | DMA_BUF_SAME_OBJECT), (S, S, S));
        // A dma-buf against another kind of file: storage does not apply.
        let mut s = Sameness::from_kinds(FdKind::DmaBuf, FdKind::Other);
        apply_dma_buf_bits(&mut s, 0);
        assert_eq!((s.dma_buf_object, s.dma_buf_storage), (D, D));
        let s = Sameness::from_kinds(FdKind::DmaBuf, FdKind::Path);
        assert_eq!(s.dma_buf_storage, D);
        // Inferred: same file => same object => same storage; different files => unknown.
        let mut s = Sameness::from_kinds(FdKind::DmaBuf, FdKind::DmaBuf);
        s.file = S;
        s.infer();
        assert_eq!(s.dma_buf_storage, S);
        let mut s = Sameness::from_kinds(FdKind::DmaBuf, FdKind::DmaBuf);
        s.file = D;
        s.infer();
        assert_eq!((s.dma_buf_object, s.dma_buf_storage), (D, U));
    }

    #[test]
    fn levels_have_names_and_fields() {
        let mut s = Sameness::from_kinds(FdKind::DmaBuf, FdKind::DmaBuf);
        s.dma_buf_storage = Answer::Same;
        assert_eq!(s.level(Level::DmaBufStorage), Answer::Same);
        assert_eq!(Level::DmaBufStorage.name(), "dma-buf-storage");
        let names: Vec<_> = Level::ALL.iter().map(|l| l.name()).collect();
        assert_eq!(
            names,
            [
                "file",
                "drm-client",
                "drm-device",
                "dma-buf-object",
                "dma-buf-storage"
            ]
        );
    }

    #[test]
    fn sysfs_without_device_link() {
        // /dev/null (1:3) is a virtual device: no `device` link, so sysfs cannot tell.
        assert_eq!(kind::sysfs_device(1, 3).unwrap(), None);
        assert_eq!(kind::sysfs_device(DRM_MAJOR, 250).unwrap(), None);
    }
}
