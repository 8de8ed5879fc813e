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
//! Each level is an [`Answer`]: [`Same`](Answer::Same), [`Different`](Answer::Different),
//! [`Unknown`](Answer::Unknown) when nothing available on this kernel can tell — never a
//! guess, and never an ordering or a pointer value — or
//! [`NotApplicable`](Answer::NotApplicable) for a level that does not apply to one of the
//! two kinds of file: a pipe has no DRM client, a DRM file no dma-buf storage.
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
//! the one before is missing (detected on first use and remembered by a [`Comparer`]; a
//! mechanism that answers "missing" or "refused" later — a seccomp filter installed since —
//! is skipped from then on, as a fresh process would skip it):
//!
//! 1. [`Mechanism::DrmFileSameIoctl`] — `DRM_IOCTL_FILE_SAME`, when one descriptor is a DRM
//!    device file: answers the file, DRM client and DRM device levels. Missing: `EINVAL`.
//!    It is issued on the caller's own DRM device file when there is one, else on the
//!    [`foreign`](Options::foreign) one (another process's, obtained with `pidfd_getfd`):
//!    every kernel that has the ioctl marks it `DRM_NO_PID_UPDATE`, so it never makes this
//!    process the owner of the DRM client it is issued on, and a kernel without it answers
//!    `EINVAL` in `drm_ioctl()` before any owner update. Its one side effect: drivers that
//!    take a runtime-PM reference around every ioctl (amdgpu, nouveau, radeon, xe) wake a
//!    suspended GPU. A device that cannot answer — `ENODEV` (unplugged), `ECANCELED` (a
//!    wedged xe device) — is asked through the other descriptor when that one is a DRM
//!    device file too, else the steps below answer; [`Sameness::declined`] says so.
//! 2. [`Mechanism::DmaBufSameObjectIoctl`] — `DMA_BUF_IOCTL_SAME_OBJECT`, when one descriptor
//!    is a dma-buf: answers the file, dma-buf object and dma-buf storage levels (storage:
//!    `Same`/`Different` only when the kernel set `DMA_BUF_STORAGE_COMPARED`, otherwise
//!    `Unknown`; a kernel before series v2 never sets it). Missing: `ENOTTY`.
//! 3. The file level alone, by the first of [`Mechanism::FDupfdQuery`]
//!    (`fcntl(F_DUPFD_QUERY)`, Linux 6.10; missing: `EINVAL`), [`Mechanism::Kcmp`]
//!    (`kcmp(KCMP_FILE)`; missing: `ENOSYS`; refused in a sandbox: `EPERM`),
//!    [`Mechanism::Epoll`] (Mesa's epoll trick; only for pollable files) and
//!    [`Mechanism::Fstat`] (different inodes are different files; one inode of two dma-bufs
//!    is one dma-buf; otherwise the same inode tells nothing) that gives an answer. A
//!    mechanism that cannot run now (`EMFILE` at the descriptor limit: the epoll trick needs
//!    two descriptors) is skipped, not remembered as missing. When none of them can tell,
//!    [`Sameness::declined`] names the most telling one that could not answer and why
//!    ([`DeclineReason`]: a `kcmp` refused by a seccomp filter rather than the
//!    `F_DUPFD_QUERY` this kernel lacks).
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
//!    * different DRM devices ⇒ different clients and different files;
//!    * different DRM clients ⇒ different files (same file ⇒ same client);
//!    * the same dma-buf object ⇒ the same file (a dma-buf has one `struct file`).
//! 4. The DRM client level, when still unknown and both are DRM device files:
//!    [`Mechanism::Fdinfo`], the `drm-client-id` lines of `/proc/self/fdinfo` (unique among
//!    the clients of a running kernel; only drivers that show DRM fdinfo print it).
//! 5. The DRM device level, when still unknown and both are DRM device files:
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
//! those levels and the storage level are `NotApplicable` from the kinds alone, and [`compare`]
//! does not issue either ioctl when one descriptor is `O_PATH`. The file level is then
//! answered by step 3: `fcntl(F_DUPFD_QUERY)` answers for `O_PATH` descriptors on the
//! kernels whose `f_dupfd_query()` uses `fdget_raw()` (7.3 does); where it answers `EBADF`
//! instead, that is taken as "cannot tell" and `kcmp(KCMP_FILE)` (`fget_task()` accepts
//! `O_PATH` files) answers; the epoll trick cannot (an `O_PATH` descriptor cannot be
//! polled); `fstat` tells different inodes apart. [`compare_with`] one of the ioctls on an
//! `O_PATH` descriptor is an error of kind [`ErrorKind::NotApplicable`].
//!
//! [`compare_with`] forces one mechanism (plus the inferences above), for tests, benchmarks
//! and debugging; forcing a mechanism this kernel lacks (or refuses to this process) is an
//! error of kind [`ErrorKind::Unsupported`]. [`Options`] gathers both choices.
//!
//! ## Cost
//!
//! The first comparison of a descriptor number identifies what it holds (`fcntl(F_GETFL)`,
//! `fstat`, and `fstatfs` for a file that may be a dma-buf). After that, while the ioctl of
//! its kind is known to work, [`compare`] issues that ioctl directly: one system call, as the
//! raw [`ioctl`] wrappers (which of the two ioctls to try is remembered per descriptor
//! number; it is only ever a choice of what to try, never an answer: a number that now holds
//! another kind of file refuses the ioctl with `ENOTTY` or `EBADF`, and the full chain
//! answers). The fast path answers only when the ioctl's bits show the other descriptor's
//! kind (the `DEVICE` bit, a dma-buf's `SAME_OBJECT` or `STORAGE_COMPARED`); it tries the
//! first descriptor that is not [`foreign`](Options::foreign) first.
//!
//! ## Many descriptors at once
//!
//! [`Descriptors::group`] partitions a set of descriptors by a level in one call, by kernel
//! keys where they exist (a dma-buf's inode, `drm-client-id`, the sysfs device of a DRM
//! node), by `kcmp`'s order (`O(n log n)` calls) for the file level, and by pairwise
//! comparisons only where nothing else can tell. When a comparison within one inode finds
//! that nothing can tell (no `kcmp`, no `F_DUPFD_QUERY`, a file that cannot be polled), the
//! rest of that inode is left undecided without comparing: near-linear in every case.
//!
//! ## Errors
//!
//! Every comparison returns [`Result`]`<_, `[`Error`]`>`: the error names the call that
//! failed (`fcntl(F_GETFL)`, `fstat`, `kcmp(KCMP_FILE)`...), the descriptors and the
//! mechanism, and [`Error::raw_os_error`] gives the errno. `Error` converts into
//! [`std::io::Error`].
//!
//! ```
//! let (r, w) = rustix::pipe::pipe()?;
//! let dup = r.try_clone()?;
//! let s = fdsame::compare(&r, &dup)?;
//! assert_eq!(s.file, fdsame::Answer::Same);
//! let s = fdsame::compare(&r, &w)?;
//! assert_eq!(s.file, fdsame::Answer::Different);
//! assert_eq!(s.drm_client, fdsame::Answer::NotApplicable); // pipes are not DRM clients
//! println!("answered by {:?}", s.mechanism);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![warn(missing_docs)]

use std::os::fd::AsFd;

mod chain;
mod error;
pub mod fdinfo;
mod group;
pub mod ioctl;
mod kind;
mod mechanism;
mod sameness;
pub mod sys;
pub mod uapi;

pub use error::{raw_os_error, Error, ErrorKind, Result};
pub use group::{Descriptors, Groups};
pub use kind::{DrmNodeType, FdKind, ANON_INODE_FS_MAGIC, DMA_BUF_MAGIC, DRM_MAJOR};
pub use mechanism::{Availability, Comparer, Mechanism, ParseMechanismError};
pub use sameness::{Answer, DeclineReason, Declined, Level, ParseError, ParseLevelError, Sameness};

/// How to compare: which mechanism, and which descriptors are another process's.
///
/// ```
/// use fdsame::{Answer, Mechanism, Options};
/// let (r, w) = rustix::pipe::pipe()?;
/// let s = Options::new().mechanism(Mechanism::Epoll).compare(&r, &w)?;
/// assert_eq!((s.file, s.mechanism), (Answer::Different, Some(Mechanism::Epoll)));
/// // `b` came from another process: the DRM ioctl prefers `a` when it is a DRM file.
/// let s = Options::new().foreign(false, true).compare(&r, &w)?;
/// assert_eq!(s.file, Answer::Different);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Options {
    pub(crate) mechanism: Option<Mechanism>,
    pub(crate) foreign: [bool; 2],
}

impl Options {
    /// The chain, every descriptor the caller's own: what [`compare`] does.
    pub const fn new() -> Options {
        Options {
            mechanism: None,
            foreign: [false, false],
        }
    }

    /// Use this mechanism only (plus the inferences of the crate documentation): what
    /// [`compare_with`] does.
    pub const fn mechanism(mut self, m: Mechanism) -> Options {
        self.mechanism = Some(m);
        self
    }

    /// Marks `a` and/or `b` as another process's descriptor (obtained with `pidfd_getfd`, or
    /// received over `SCM_RIGHTS` from a process that did not ask for the comparison).
    /// `DRM_IOCTL_FILE_SAME` is then issued on the caller's own DRM device file when there
    /// is one, and on a foreign one only otherwise. Either is free of side effects on the
    /// client: every kernel that has the ioctl marks it `DRM_NO_PID_UPDATE` (it never
    /// re-attributes the client to this process in `/sys/kernel/debug/dri/N/clients` or
    /// fdinfo), and a kernel without it answers `EINVAL` before any owner update. The one
    /// effect of any DRM ioctl: drivers taking a runtime-PM reference per ioctl (amdgpu,
    /// nouveau, radeon, xe) wake a suspended GPU. Everything else used on a foreign
    /// descriptor (`fcntl(F_GETFL)`, `fstat`, `fstatfs`, `F_DUPFD_QUERY`, `kcmp`, the epoll
    /// trick, `/proc/self/fdinfo`, sysfs, `DMA_BUF_IOCTL_SAME_OBJECT`) has none.
    pub const fn foreign(mut self, a: bool, b: bool) -> Options {
        self.foreign = [a, b];
        self
    }

    /// Compares `a` and `b` with these options, through [`Comparer::global`].
    ///
    /// Errors: as [`compare`] and [`compare_with`].
    ///
    /// ```
    /// let (r, _w) = rustix::pipe::pipe()?;
    /// let s = fdsame::Options::new().foreign(true, true).compare(&r, &r)?;
    /// assert_eq!(s.file, fdsame::Answer::Same);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn compare(&self, a: impl AsFd, b: impl AsFd) -> Result<Sameness> {
        Comparer::global().compare_opts(a, b, self)
    }
}

/// Compares two file descriptors of the caller's own at every level, by the best mechanisms
/// this kernel has (see the [crate documentation](crate) for the chain, the inferences and
/// the cost).
///
/// Shapes: `a` and `b` are any open descriptors (`O_PATH` included). Errors ([`Error`]): a
/// descriptor that is not open (`EBADF` from `fcntl(F_GETFL)`), or a mechanism that fails
/// for another reason than being absent from this kernel or refused to this process.
///
/// ```no_run
/// use fdsame::{compare, Answer};
/// let card = std::fs::File::open("/dev/dri/card0")?;
/// let render = std::fs::File::open("/dev/dri/renderD128")?;
/// let s = compare(&card, &render)?;
/// assert_eq!(s.file, Answer::Different);
/// println!("same device: {} (by {:?})", s.drm_device, s.mechanism_of(fdsame::Level::DrmDevice));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn compare(a: impl AsFd, b: impl AsFd) -> Result<Sameness> {
    Options::new().compare(a, b)
}

/// Compares two file descriptors with one mechanism only (plus the inferences listed in the
/// [crate documentation](crate)); the levels it cannot answer are [`Answer::Unknown`], and
/// [`Sameness::mechanism`] is `None` when it could not tell the file level.
///
/// Errors: [`ErrorKind::Unsupported`] when this kernel lacks the mechanism or refuses it to
/// this process, [`ErrorKind::NotApplicable`] when it cannot compare these kinds of file (an
/// ioctl needs a DRM device file or a dma-buf and no `O_PATH` descriptor,
/// [`Mechanism::Sysfs`] and [`Mechanism::Fdinfo`] two DRM device files, [`Mechanism::Epoll`]
/// one file that can be polled), [`ErrorKind::Os`]
/// when its call failed (`EMFILE` for the epoll trick at the descriptor limit).
///
/// ```
/// use fdsame::{compare_with, Answer, Mechanism};
/// let (r, w) = rustix::pipe::pipe()?;
/// let s = compare_with(&r, &w, Mechanism::Epoll)?;
/// assert_eq!(s.file, Answer::Different);
/// assert_eq!(s.mechanism, Some(Mechanism::Epoll));
/// let f = std::fs::File::open("/")?; // a directory cannot be polled: epoll cannot compare
/// let e = compare_with(&f, &f, Mechanism::Epoll).unwrap_err();
/// assert_eq!(e.kind(), fdsame::ErrorKind::NotApplicable);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn compare_with(a: impl AsFd, b: impl AsFd, mechanism: Mechanism) -> Result<Sameness> {
    Options::new().mechanism(mechanism).compare(a, b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sysfs_without_device_link() {
        // /dev/null (1:3) is a virtual device: no `device` link, so sysfs cannot tell.
        assert_eq!(kind::sysfs_device(1, 3).unwrap(), None);
        assert_eq!(kind::sysfs_device(DRM_MAJOR, 250).unwrap(), None);
    }
}
