//! The mechanisms, what this process found out about them, and their names.

use std::fmt;
use std::os::fd::AsFd;
use std::str::FromStr;
use std::sync::atomic::{AtomicI32, AtomicU64, AtomicU8, Ordering};

use crate::sys;

/// One way of telling whether two file descriptors are the same thing.
///
/// New kernels bring new ways: match with a wildcard arm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "kebab-case"))]
#[non_exhaustive]
pub enum Mechanism {
    /// `DRM_IOCTL_FILE_SAME` on a DRM device file: file, DRM client and DRM device levels.
    /// Issued on a descriptor of the caller's own when there is one, else on another
    /// process's (see [`Options::foreign`](crate::Options::foreign)).
    #[cfg_attr(feature = "serde", serde(rename = "drm-ioctl"))]
    DrmFileSameIoctl,
    /// `DMA_BUF_IOCTL_SAME_OBJECT` on a dma-buf: file, dma-buf object and dma-buf storage
    /// levels.
    #[cfg_attr(feature = "serde", serde(rename = "dma-buf-ioctl"))]
    DmaBufSameObjectIoctl,
    /// `fcntl(a, F_DUPFD_QUERY, b)` (Linux 6.10): file level.
    #[cfg_attr(feature = "serde", serde(rename = "f-dupfd-query"))]
    FDupfdQuery,
    /// `kcmp(pid, pid, KCMP_FILE, a, b)`: file level.
    Kcmp,
    /// Mesa's epoll trick ([`sys::epoll_same_file`]): file level, pollable files only.
    Epoll,
    /// `fstat`: different inodes are different files; two dma-bufs with one inode (Linux
    /// 5.3+, where every dma-buf has its own) are one dma-buf and so one file; the same
    /// `st_rdev` of two DRM device files is the same DRM device. Always available.
    Fstat,
    /// `drm-client-id` in `/proc/self/fdinfo/N` (drivers whose file operations show DRM
    /// fdinfo, `drm_show_fdinfo()`): DRM client level.
    Fdinfo,
    /// The sysfs device behind two DRM device nodes: DRM device level.
    Sysfs,
}

/// Number of mechanisms (the size of the per-process state).
pub(crate) const COUNT: usize = 8;

impl Mechanism {
    /// Every mechanism, in the order of the fallback chain.
    pub const ALL: &'static [Mechanism] = &[
        Mechanism::DrmFileSameIoctl,
        Mechanism::DmaBufSameObjectIoctl,
        Mechanism::FDupfdQuery,
        Mechanism::Kcmp,
        Mechanism::Epoll,
        Mechanism::Fstat,
        Mechanism::Fdinfo,
        Mechanism::Sysfs,
    ];

    /// The short name, as [`FromStr`] and the command line take it: `drm-ioctl`,
    /// `dma-buf-ioctl`, `f-dupfd-query`, `kcmp`, `epoll`, `fstat`, `fdinfo`, `sysfs`.
    ///
    /// ```
    /// use fdsame::Mechanism;
    /// assert_eq!(Mechanism::Kcmp.name(), "kcmp");
    /// // Parsing takes the name or the variant, in any case, with `-` or `_`.
    /// for s in ["f-dupfd-query", "F_DUPFD_QUERY", "FDupfdQuery"] {
    ///     assert_eq!(s.parse::<Mechanism>().unwrap(), Mechanism::FDupfdQuery);
    /// }
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            Mechanism::DrmFileSameIoctl => "drm-ioctl",
            Mechanism::DmaBufSameObjectIoctl => "dma-buf-ioctl",
            Mechanism::FDupfdQuery => "f-dupfd-query",
            Mechanism::Kcmp => "kcmp",
            Mechanism::Epoll => "epoll",
            Mechanism::Fstat => "fstat",
            Mechanism::Fdinfo => "fdinfo",
            Mechanism::Sysfs => "sysfs",
        }
    }

    /// Other names [`FromStr`] takes, besides [`name`](Self::name) and the variant's name.
    fn aliases(self) -> &'static [&'static str] {
        match self {
            Mechanism::DrmFileSameIoctl => &["drm-file-same", "drm-ioctl-file-same"],
            Mechanism::DmaBufSameObjectIoctl => {
                &["dma-buf-same-object", "dma-buf-ioctl-same-object"]
            }
            _ => &[],
        }
    }

    /// The call behind the mechanism, for messages.
    pub(crate) fn call(self) -> &'static str {
        match self {
            Mechanism::DrmFileSameIoctl => "ioctl(DRM_IOCTL_FILE_SAME)",
            Mechanism::DmaBufSameObjectIoctl => "ioctl(DMA_BUF_IOCTL_SAME_OBJECT)",
            Mechanism::FDupfdQuery => "fcntl(F_DUPFD_QUERY)",
            Mechanism::Kcmp => "kcmp(KCMP_FILE)",
            Mechanism::Epoll => "the epoll trick",
            Mechanism::Fstat => "fstat",
            Mechanism::Fdinfo => "read(/proc/self/fdinfo/N)",
            Mechanism::Sysfs => "realpath(/sys/dev/char/MAJ:MIN/device)",
        }
    }

    /// What this process knows about the mechanism on this kernel, without trying anything:
    /// the result of its last use by the free functions (or of [`probe`](Self::probe)); see
    /// [`Comparer`].
    ///
    /// ```
    /// use fdsame::{Availability, Mechanism};
    /// assert_eq!(Mechanism::Fstat.availability(), Availability::Available);
    /// ```
    pub fn availability(self) -> Availability {
        GLOBAL.0.availability(self)
    }

    /// Finds out whether the mechanism works on this kernel, trying it on a pipe (or, for
    /// [`Mechanism::Fdinfo`] and [`Mechanism::Sysfs`], on `/proc/self/fdinfo` and
    /// `/sys/dev/char`) if it was never used; the result is kept by [`Comparer::global`]. The two ioctls need a DRM device file or a dma-buf to be tried on: for them
    /// this is [`availability`](Self::availability), which stays [`Availability::Untested`]
    /// until they were used once. A probe that could not run (no descriptor left, `EMFILE`)
    /// leaves the mechanism untested.
    ///
    /// ```
    /// use fdsame::{Availability, Mechanism};
    /// // Every Linux kernel this crate supports has epoll.
    /// assert_eq!(Mechanism::Epoll.probe(), Availability::Available);
    /// ```
    pub fn probe(self) -> Availability {
        GLOBAL.0.probe(self)
    }

    /// The errno that showed the mechanism unavailable: `EINVAL` (`F_DUPFD_QUERY` before
    /// 6.10, `DRM_IOCTL_FILE_SAME` without the series), `ENOTTY` (`DMA_BUF_IOCTL_SAME_OBJECT`
    /// without the series), `ENOSYS` (no `kcmp`), `EPERM` (refused to this process), `ENOENT`
    /// (no `/proc` or `/sys`).
    ///
    /// ```
    /// use fdsame::Mechanism;
    /// if Mechanism::FDupfdQuery.probe() == fdsame::Availability::Unavailable {
    ///     assert_eq!(Mechanism::FDupfdQuery.unavailable_errno(), Some(libc::EINVAL));
    /// }
    /// ```
    pub fn unavailable_errno(self) -> Option<i32> {
        GLOBAL.0.errno(self)
    }
}

impl fmt::Display for Mechanism {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// `Kcmp`, `k_cmp`, `F_DUPFD_QUERY` → `kcmp`, `k-cmp`, `f-dupfd-query`; and the variant's name
/// with nothing between its words.
pub(crate) fn normalize(s: &str) -> String {
    s.trim().to_ascii_lowercase().replace('_', "-")
}

/// `FDupfdQuery` → `fdupfdquery`.
pub(crate) fn squash(s: &str) -> String {
    s.to_ascii_lowercase().replace(['-', '_'], "")
}

/// The error of parsing a [`Mechanism`] name: [`ParseError`](crate::ParseError).
pub type ParseMechanismError = crate::ParseError;

impl FromStr for Mechanism {
    type Err = ParseMechanismError;

    /// The [`name`](Mechanism::name), an alias (`drm-file-same`, `dma-buf-same-object`) or
    /// the variant's name, in any case, with `-` or `_` between words.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let norm = normalize(s);
        let flat = squash(s);
        Mechanism::ALL
            .iter()
            .copied()
            .find(|m| {
                m.name() == norm
                    || m.aliases().contains(&norm.as_str())
                    || squash(&format!("{m:?}")) == flat
            })
            .ok_or_else(|| {
                crate::ParseError::new(
                    "mechanism",
                    s,
                    Mechanism::ALL.iter().map(|m| m.name()).collect(),
                )
            })
    }
}

/// Whether a mechanism works on this kernel, as far as this process found out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Availability {
    /// Not used yet.
    Untested,
    /// Used once with success.
    Available,
    /// The kernel answered that it lacks the mechanism, or refused it to this process
    /// ([`Mechanism::unavailable_errno`] tells which).
    Unavailable,
}

const UNTESTED: i32 = 0;
const AVAILABLE: i32 = -1;

/// The size of the per-descriptor-number hint table.
const HINT_SLOTS: usize = 1024;

/// What a [`Comparer`] remembers: per mechanism `UNTESTED`, `AVAILABLE` or the errno that
/// showed it unavailable; the kind last seen at each descriptor number (a hint of which
/// ioctl to try first, never an answer); the `st_dev` of the dma-buf file system.
pub(crate) struct State {
    avail: [AtomicI32; COUNT],
    pub(crate) hints: [AtomicU8; HINT_SLOTS],
    pub(crate) dma_buf_dev: AtomicU64,
}

impl State {
    pub(crate) const fn new() -> State {
        State {
            avail: [const { AtomicI32::new(UNTESTED) }; COUNT],
            hints: [const { AtomicU8::new(0) }; HINT_SLOTS],
            dma_buf_dev: AtomicU64::new(0),
        }
    }

    pub(crate) fn availability(&self, m: Mechanism) -> Availability {
        if m == Mechanism::Fstat {
            return Availability::Available;
        }
        match self.avail[m as usize].load(Ordering::Relaxed) {
            UNTESTED => Availability::Untested,
            AVAILABLE => Availability::Available,
            _ => Availability::Unavailable,
        }
    }

    pub(crate) fn errno(&self, m: Mechanism) -> Option<i32> {
        match self.avail[m as usize].load(Ordering::Relaxed) {
            e if e > 0 => Some(e),
            _ => None,
        }
    }

    pub(crate) fn set_available(&self, m: Mechanism) {
        self.avail[m as usize].store(AVAILABLE, Ordering::Relaxed);
    }

    pub(crate) fn set_unavailable(&self, m: Mechanism, errno: i32) {
        debug_assert!(errno > 0);
        self.avail[m as usize].store(errno, Ordering::Relaxed);
    }

    /// Forgets everything: as a fresh process.
    pub(crate) fn forget(&self) {
        for a in &self.avail {
            a.store(UNTESTED, Ordering::Relaxed);
        }
        for h in &self.hints {
            h.store(0, Ordering::Relaxed);
        }
        self.dma_buf_dev.store(0, Ordering::Relaxed);
    }

    pub(crate) fn probe(&self, m: Mechanism) -> Availability {
        if self.availability(m) != Availability::Untested {
            return self.availability(m);
        }
        let errno = match m {
            Mechanism::FDupfdQuery | Mechanism::Kcmp | Mechanism::Epoll => {
                let Ok((r, w)) = rustix::pipe::pipe() else {
                    return self.availability(m);
                };
                let (r, w) = (r.as_fd(), w.as_fd());
                match m {
                    Mechanism::FDupfdQuery => sys::f_dupfd_query(r, w).err(),
                    Mechanism::Kcmp => sys::kcmp_file(r, w).err(),
                    _ => sys::epoll_same_file(r, w).err(),
                }
            }
            Mechanism::Sysfs => std::fs::metadata("/sys/dev/char").err(),
            Mechanism::Fdinfo => std::fs::metadata("/proc/self/fdinfo").err(),
            _ => return self.availability(m),
        };
        match errno.map(|e| e.raw_os_error().unwrap_or(libc::ENOENT)) {
            None => self.set_available(m),
            Some(e) if crate::chain::missing(m).contains(&e) => self.set_unavailable(m, e),
            Some(_) => {}
        }
        self.availability(m)
    }
}

/// A handle on what comparisons learn: which mechanisms this kernel has (and this process
/// may use), and which ioctl to try first on a descriptor number. [`compare`](crate::compare)
/// and the other free functions use [`Comparer::global`]; a caller that wants its own (a
/// test, a library that must not share what it learns, a process about to enter a
/// sandbox) makes one with [`Comparer::new`] and compares through it.
///
/// What is remembered only ever chooses what to try first, never an answer: a mechanism
/// found available that later answers "missing" or "refused" (a seccomp filter installed
/// after the first comparison) is skipped on that comparison and the next step answers, as
/// in a fresh process; [`forget`](Comparer::forget) starts over.
///
/// ```
/// use fdsame::{Answer, Comparer, Mechanism};
/// let c = Comparer::new();
/// let (r, w) = rustix::pipe::pipe()?;
/// assert_eq!(c.compare(&r, &w)?.file, Answer::Different);
/// assert_eq!(c.availability(Mechanism::Epoll), fdsame::Availability::Untested); // not needed
/// c.forget();
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Comparer(pub(crate) State);

/// The comparer behind the free functions.
pub(crate) static GLOBAL: Comparer = Comparer::new();

impl Default for Comparer {
    fn default() -> Comparer {
        Comparer::new()
    }
}

impl fmt::Debug for Comparer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Comparer");
        for &m in Mechanism::ALL {
            d.field(m.name(), &self.availability(m));
        }
        d.finish_non_exhaustive()
    }
}

impl Comparer {
    /// A comparer that knows nothing yet (about 1 KiB: no allocation).
    pub const fn new() -> Comparer {
        Comparer(State::new())
    }

    /// The process-wide comparer of [`compare`](crate::compare), [`compare_with`](crate::compare_with),
    /// [`Options::compare`](crate::Options::compare), [`Descriptors::new`](crate::Descriptors::new)
    /// and [`Mechanism::availability`].
    pub fn global() -> &'static Comparer {
        &GLOBAL
    }

    /// [`crate::compare`] through this comparer. Shapes and errors: as there.
    ///
    /// ```
    /// let (r, _w) = rustix::pipe::pipe()?;
    /// let s = fdsame::Comparer::new().compare(&r, &r)?;
    /// assert_eq!(s.file, fdsame::Answer::Same);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn compare(&self, a: impl AsFd, b: impl AsFd) -> crate::Result<crate::Sameness> {
        self.compare_opts(a, b, &crate::Options::new())
    }

    /// [`Options::compare`](crate::Options::compare) through this comparer. Shapes and
    /// errors: as there.
    pub fn compare_opts(
        &self,
        a: impl AsFd,
        b: impl AsFd,
        opts: &crate::Options,
    ) -> crate::Result<crate::Sameness> {
        crate::chain::compare(a.as_fd(), b.as_fd(), opts, &self.0)
    }

    /// [`Mechanism::availability`], as this comparer found it.
    pub fn availability(&self, m: Mechanism) -> Availability {
        self.0.availability(m)
    }

    /// [`Mechanism::probe`] for this comparer.
    pub fn probe(&self, m: Mechanism) -> Availability {
        self.0.probe(m)
    }

    /// [`Mechanism::unavailable_errno`], as this comparer found it.
    pub fn unavailable_errno(&self, m: Mechanism) -> Option<i32> {
        self.0.errno(m)
    }

    /// Forgets every availability and hint: the next comparison tries everything again, as
    /// a fresh process would.
    ///
    /// ```
    /// let c = fdsame::Comparer::new();
    /// c.probe(fdsame::Mechanism::Epoll);
    /// c.forget();
    /// assert_eq!(c.availability(fdsame::Mechanism::Epoll), fdsame::Availability::Untested);
    /// ```
    pub fn forget(&self) {
        self.0.forget()
    }
}
