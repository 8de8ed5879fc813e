//! The mechanisms, what this process found out about them, and their names.

use std::fmt;
use std::os::fd::AsFd;
use std::str::FromStr;
use std::sync::atomic::{AtomicI32, Ordering};

use crate::sys;

/// One way of telling whether two file descriptors are the same thing.
///
/// New kernels bring new ways: match with a wildcard arm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Mechanism {
    /// `DRM_IOCTL_FILE_SAME` on a DRM device file: file, DRM client and DRM device levels.
    /// Issued only on a descriptor of the caller's own (see [`Options::foreign`](crate::Options::foreign)).
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
    /// the result of its first use (or of [`probe`](Self::probe)).
    ///
    /// ```
    /// use fdsame::{Availability, Mechanism};
    /// assert_eq!(Mechanism::Fstat.availability(), Availability::Available);
    /// ```
    pub fn availability(self) -> Availability {
        GLOBAL.availability(self)
    }

    /// Finds out whether the mechanism works on this kernel, trying it on a pipe (or, for
    /// [`Mechanism::Fdinfo`] and [`Mechanism::Sysfs`], on `/proc/self/fdinfo` and
    /// `/sys/dev/char`) if it was never used; the result is kept for the life of the
    /// process. The two ioctls need a DRM device file or a dma-buf to be tried on: for them
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
        GLOBAL.probe(self)
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
        GLOBAL.errno(self)
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
            .ok_or_else(|| ParseMechanismError(s.to_owned()))
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

/// Per mechanism: `UNTESTED`, `AVAILABLE`, or the errno that showed it unavailable.
pub(crate) struct State([AtomicI32; COUNT]);

/// The state of this process, behind every public function.
pub(crate) static GLOBAL: State = State::new();

impl State {
    pub(crate) const fn new() -> State {
        State([const { AtomicI32::new(UNTESTED) }; COUNT])
    }

    pub(crate) fn availability(&self, m: Mechanism) -> Availability {
        if m == Mechanism::Fstat {
            return Availability::Available;
        }
        match self.0[m as usize].load(Ordering::Relaxed) {
            UNTESTED => Availability::Untested,
            AVAILABLE => Availability::Available,
            _ => Availability::Unavailable,
        }
    }

    pub(crate) fn errno(&self, m: Mechanism) -> Option<i32> {
        match self.0[m as usize].load(Ordering::Relaxed) {
            e if e > 0 => Some(e),
            _ => None,
        }
    }

    pub(crate) fn set_available(&self, m: Mechanism) {
        self.0[m as usize].store(AVAILABLE, Ordering::Relaxed);
    }

    pub(crate) fn set_unavailable(&self, m: Mechanism, errno: i32) {
        debug_assert!(errno > 0);
        self.0[m as usize].store(errno, Ordering::Relaxed);
    }

    pub(crate) fn probe(&self, m: Mechanism) -> Availability {
        if self.availability(m) != Availability::Untested {
            return self.availability(m);
        }
        match m {
            Mechanism::FDupfdQuery | Mechanism::Kcmp | Mechanism::Epoll => {
                let Ok((r, w)) = rustix::pipe::pipe() else {
                    return self.availability(m);
                };
                let (r, w) = (r.as_fd(), w.as_fd());
                let errno = match m {
                    Mechanism::FDupfdQuery => sys::f_dupfd_query(r, w).err(),
                    Mechanism::Kcmp => sys::kcmp_file(r, w).err(),
                    _ => sys::epoll_same_file(r, w).err(),
                };
                match errno.and_then(|e| e.raw_os_error()) {
                    None => self.set_available(m),
                    Some(e) if crate::chain::missing(m).contains(&e) => self.set_unavailable(m, e),
                    Some(_) => {}
                }
            }
            Mechanism::Sysfs => match std::fs::metadata("/sys/dev/char") {
                Ok(_) => self.set_available(m),
                Err(e) => self.set_unavailable(m, e.raw_os_error().unwrap_or(libc::ENOENT)),
            },
            Mechanism::Fdinfo => match std::fs::metadata("/proc/self/fdinfo") {
                Ok(_) => self.set_available(m),
                Err(e) => self.set_unavailable(m, e.raw_os_error().unwrap_or(libc::ENOENT)),
            },
            _ => {}
        }
        self.availability(m)
    }
}
