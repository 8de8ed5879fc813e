//! The answers: [`Answer`] per [`Level`], gathered in a [`Sameness`].

use std::fmt;
use std::str::FromStr;

use crate::mechanism::{normalize, squash};
use crate::uapi::*;
use crate::{FdKind, Mechanism};

/// The answer about one level.
///
/// Match with a wildcard arm: a later version may tell more.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "kebab-case"))]
#[non_exhaustive]
pub enum Answer {
    /// The level holds.
    Same,
    /// The level applies to both descriptors and does not hold.
    Different,
    /// Nothing available on this kernel, to this process, can tell.
    Unknown,
    /// The level does not apply to one of the descriptors: a pipe has no DRM client, a DRM
    /// device file no dma-buf storage, an `O_PATH` descriptor opens nothing. It does not
    /// hold.
    NotApplicable,
}

impl Answer {
    /// Whether the level holds: `Some(true)` for `Same`, `Some(false)` for `Different` and
    /// `NotApplicable`, `None` for `Unknown`.
    ///
    /// ```
    /// assert_eq!(fdsame::Answer::Unknown.known(), None);
    /// assert_eq!(fdsame::Answer::Same.known(), Some(true));
    /// assert_eq!(fdsame::Answer::NotApplicable.known(), Some(false));
    /// ```
    pub fn known(self) -> Option<bool> {
        match self {
            Answer::Same => Some(true),
            Answer::Different | Answer::NotApplicable => Some(false),
            Answer::Unknown => None,
        }
    }

    /// From a bit of a kernel result.
    pub(crate) fn bit(bits: u64, bit: u64) -> Answer {
        Answer::from(bits & bit != 0)
    }

    /// The name used in messages and JSON: `same`, `different`, `unknown`,
    /// `not-applicable`.
    ///
    /// ```
    /// assert_eq!(fdsame::Answer::Different.name(), "different");
    /// assert_eq!(fdsame::Answer::NotApplicable.name(), "not-applicable");
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            Answer::Same => "same",
            Answer::Different => "different",
            Answer::Unknown => "unknown",
            Answer::NotApplicable => "not-applicable",
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
///
/// New kernels may compare more: match with a wildcard arm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "kebab-case"))]
#[non_exhaustive]
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
    /// Every level, from the finest to the coarsest of each family.
    pub const ALL: &'static [Level] = &[
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
    /// use fdsame::Level;
    /// assert_eq!(Level::DrmClient.name(), "drm-client");
    /// // Parsing takes the name, the short alias or the variant, in any case, `-` or `_`:
    /// for s in ["drm-client", "DRM_CLIENT", "client", "DrmClient"] {
    ///     assert_eq!(s.parse::<Level>().unwrap(), Level::DrmClient);
    /// }
    /// assert_eq!("FILE".parse::<Level>().unwrap(), Level::File);
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

    /// The short alias [`FromStr`] takes: the name without its family (`client`,
    /// `device`, `object`, `storage`; `file` is its own).
    pub fn alias(self) -> &'static str {
        match self {
            Level::File => "file",
            Level::DrmClient => "client",
            Level::DrmDevice => "device",
            Level::DmaBufObject => "object",
            Level::DmaBufStorage => "storage",
        }
    }

    /// Whether the level applies to descriptors of this kind: the file level to every kind,
    /// the DRM levels to DRM device files, the dma-buf levels to dma-bufs. Two descriptors
    /// are [`Answer::NotApplicable`] at a level that does not apply to one of them.
    ///
    /// ```
    /// use fdsame::{FdKind, Level};
    /// assert!(Level::File.applies_to(FdKind::Path));
    /// assert!(!Level::DmaBufObject.applies_to(FdKind::Other));
    /// ```
    pub fn applies_to(self, kind: FdKind) -> bool {
        match self {
            Level::File => true,
            Level::DrmClient | Level::DrmDevice => kind.is_drm(),
            Level::DmaBufObject | Level::DmaBufStorage => kind.is_dma_buf(),
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The error of parsing a [`Level`] or a [`Mechanism`] name: what was given, and the names
/// that are taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    what: &'static str,
    input: String,
    names: Vec<&'static str>,
}

/// The error of parsing a [`Level`] name (the one parse error type of this crate).
pub type ParseLevelError = ParseError;

impl ParseError {
    pub(crate) fn new(what: &'static str, input: &str, names: Vec<&'static str>) -> ParseError {
        ParseError {
            what,
            input: input.to_owned(),
            names,
        }
    }

    /// The text that did not parse.
    pub fn input(&self) -> &str {
        &self.input
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown {} {:?}; one of: {} (any case, - or _)",
            self.what,
            self.input,
            self.names.join(", ")
        )
    }
}

impl std::error::Error for ParseError {}

/// The levels as a parse error lists them: each name with its short alias.
const LEVEL_NAMES: [&str; 5] = [
    "file",
    "drm-client (client)",
    "drm-device (device)",
    "dma-buf-object (object)",
    "dma-buf-storage (storage)",
];

impl FromStr for Level {
    type Err = ParseLevelError;

    /// The [`name`](Level::name), the [`alias`](Level::alias) or the variant's name, in any
    /// case, with `-` or `_` between words: the same rules as for [`Mechanism`].
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let norm = normalize(s);
        let flat = squash(s);
        Level::ALL
            .iter()
            .copied()
            .find(|l| l.name() == norm || l.alias() == norm || squash(&format!("{l:?}")) == flat)
            .ok_or_else(|| ParseError::new("level", s, LEVEL_NAMES.to_vec()))
    }
}

/// Why a mechanism could not answer about two descriptors (see [`Declined`]).
///
/// Match with a wildcard arm: a later version may tell more.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "kebab-case"))]
#[non_exhaustive]
pub enum DeclineReason {
    /// The device cannot answer: `DRM_IOCTL_FILE_SAME` on a DRM device that was unplugged
    /// (`ENODEV`) or is wedged (`ECANCELED`, xe).
    Device,
    /// This kernel lacks the mechanism (`EINVAL`, `ENOTTY`, `ENOSYS`; `ENOENT`: no `/proc`
    /// or `/sys` mounted).
    Unavailable,
    /// The kernel has it, and refuses it to this process (`EPERM`, `EACCES`: a seccomp
    /// filter, a container, a security module).
    Refused,
    /// It ran, and cannot tell about these kinds of file: epoll when neither file can be
    /// polled (`EPERM`: regular files, directories; `EBADF`: `O_PATH`), `F_DUPFD_QUERY` of
    /// Linux 6.10 and 6.11 about an `O_PATH` descriptor (`EBADF`).
    CannotTell,
    /// It could not run now (`EMFILE`, `ENFILE`, `ENOMEM`, `EAGAIN`, `EINTR`).
    Transient,
}

impl DeclineReason {
    /// The name used in messages and JSON: `device`, `unavailable`, `refused`,
    /// `cannot-tell`, `transient`.
    pub fn name(self) -> &'static str {
        match self {
            DeclineReason::Device => "device",
            DeclineReason::Unavailable => "unavailable",
            DeclineReason::Refused => "refused",
            DeclineReason::CannotTell => "cannot-tell",
            DeclineReason::Transient => "transient",
        }
    }
}

/// A mechanism that was tried on these descriptors and could not answer about them, and
/// why. Reported when a device declined (`DRM_IOCTL_FILE_SAME`: `ENODEV`, `ECANCELED`; the
/// next mechanisms answered instead), and when nothing could tell the file level: then the
/// most telling of the mechanisms tried, refused before transient before "cannot tell"
/// before unavailable, the first in the chain's order among equals (a kernel without
/// `F_DUPFD_QUERY` and a seccomp filter refusing `kcmp`: `kcmp`, refused).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct Declined {
    /// The mechanism tried.
    pub mechanism: Mechanism,
    /// The errno it answered.
    pub errno: i32,
    /// What the errno means for this mechanism.
    pub reason: DeclineReason,
}

impl Declined {
    /// A mechanism that answered `errno`, for `reason`.
    pub fn new(mechanism: Mechanism, errno: i32, reason: DeclineReason) -> Declined {
        Declined {
            mechanism,
            errno,
            reason,
        }
    }
}

/// How two file descriptors are the same; see the [crate documentation](crate).
///
/// `Display` writes one line, `level=answer` for every level and the mechanisms that
/// answered; with the `serde` feature it serialises as an object with the field names
/// below, answers and mechanisms by their names (`"same"`, `"not-applicable"`,
/// `"f-dupfd-query"`).
///
/// ```
/// let (r, w) = rustix::pipe::pipe()?;
/// let s = fdsame::compare(&r, &w)?;
/// let line = s.to_string();
/// assert!(line.starts_with("file=different drm-client=not-applicable"), "{line}");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
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
    /// they report); `None` when nothing could tell the file level, even when a mechanism
    /// was forced.
    pub mechanism: Option<Mechanism>,
    /// The mechanism that answered the DRM client level when neither the ioctl nor an
    /// inference from the file level did ([`Mechanism::Fdinfo`]).
    pub client_mechanism: Option<Mechanism>,
    /// The mechanism that answered the DRM device level when neither the ioctl nor an
    /// inference did ([`Mechanism::Fstat`] or [`Mechanism::Sysfs`]).
    pub device_mechanism: Option<Mechanism>,
    /// A mechanism that was tried and could not answer about these descriptors (see
    /// [`Declined`]); `None` when none was.
    pub declined: Option<Declined>,
}

impl fmt::Display for Sameness {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, &l) in Level::ALL.iter().enumerate() {
            let sep = if i == 0 { "" } else { " " };
            write!(f, "{sep}{l}={}", self.level(l))?;
        }
        match self.mechanism {
            Some(m) => write!(f, "; by {m}")?,
            None => write!(f, "; the file level by nothing")?,
        }
        if let Some(m) = self.client_mechanism {
            write!(f, ", drm-client by {m}")?;
        }
        if let Some(m) = self.device_mechanism {
            write!(f, ", drm-device by {m}")?;
        }
        if let Some(d) = self.declined {
            let e = std::io::Error::from_raw_os_error(d.errno);
            write!(f, "; {} could not answer: {e}", d.mechanism)?;
        }
        Ok(())
    }
}

impl Sameness {
    /// The answer about one level.
    ///
    /// ```
    /// let (r, _w) = rustix::pipe::pipe()?;
    /// let s = fdsame::compare(&r, &r)?;
    /// assert_eq!(s.level(fdsame::Level::File), s.file);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
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

    /// The mechanism that answered `level`, if one did (levels that do not apply to these
    /// kinds, or were inferred from another level, name the mechanism of that level).
    ///
    /// ```
    /// let (r, w) = rustix::pipe::pipe()?;
    /// let s = fdsame::compare(&r, &w)?;
    /// assert_eq!(s.mechanism_of(fdsame::Level::File), s.mechanism);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn mechanism_of(&self, level: Level) -> Option<Mechanism> {
        match level {
            Level::DrmClient => self.client_mechanism.or(self.mechanism),
            Level::DrmDevice => self.device_mechanism.or(self.mechanism),
            _ => self.mechanism,
        }
    }

    /// Nothing known: every level unknown.
    pub(crate) const UNKNOWN: Sameness = Sameness {
        file: Answer::Unknown,
        drm_client: Answer::Unknown,
        drm_device: Answer::Unknown,
        dma_buf_object: Answer::Unknown,
        dma_buf_storage: Answer::Unknown,
        mechanism: None,
        client_mechanism: None,
        device_mechanism: None,
        declined: None,
    };

    /// What the kinds alone tell: levels that do not apply to these kinds are
    /// `NotApplicable`.
    pub(crate) fn from_kinds(a: FdKind, b: FdKind) -> Sameness {
        let na = |level: Level| {
            if level.applies_to(a) && level.applies_to(b) {
                Answer::Unknown
            } else {
                Answer::NotApplicable
            }
        };
        Sameness {
            file: Answer::Unknown,
            drm_client: na(Level::DrmClient),
            drm_device: na(Level::DrmDevice),
            dma_buf_object: na(Level::DmaBufObject),
            dma_buf_storage: na(Level::DmaBufStorage),
            ..Sameness::UNKNOWN
        }
    }

    /// The answer of `DRM_IOCTL_FILE_SAME` issued on a DRM device file about a descriptor
    /// whose kind is known. The ioctl's own descriptor is no dma-buf.
    pub(crate) fn from_drm_bits(bits: u64, other_is_drm: bool) -> Sameness {
        let drm = |bit| {
            if other_is_drm {
                Answer::bit(bits, bit)
            } else {
                Answer::NotApplicable
            }
        };
        Sameness {
            file: Answer::bit(bits, DRM_FILE_SAME_FILE),
            drm_client: drm(DRM_FILE_SAME_CLIENT),
            drm_device: drm(DRM_FILE_SAME_DEVICE),
            dma_buf_object: Answer::NotApplicable,
            dma_buf_storage: Answer::NotApplicable,
            mechanism: Some(Mechanism::DrmFileSameIoctl),
            ..Sameness::UNKNOWN
        }
    }

    /// The answer of `DMA_BUF_IOCTL_SAME_OBJECT` issued on a dma-buf about a descriptor that
    /// is a dma-buf or not.
    pub(crate) fn from_dma_buf_bits(bits: u64, other_is_dma_buf: bool) -> Sameness {
        let object = Answer::bit(bits, DMA_BUF_SAME_OBJECT);
        let storage = if !other_is_dma_buf {
            Answer::NotApplicable
        } else if bits & DMA_BUF_STORAGE_COMPARED != 0 {
            Answer::bit(bits, DMA_BUF_SAME_STORAGE)
        } else if object == Answer::Same {
            // A kernel before series v2: one dma-buf is still the same storage.
            Answer::Same
        } else {
            Answer::Unknown
        };
        Sameness {
            file: Answer::bit(bits, DMA_BUF_SAME_FILE),
            drm_client: Answer::NotApplicable,
            drm_device: Answer::NotApplicable,
            dma_buf_object: if other_is_dma_buf {
                object
            } else {
                Answer::NotApplicable
            },
            dma_buf_storage: storage,
            mechanism: Some(Mechanism::DmaBufSameObjectIoctl),
            ..Sameness::UNKNOWN
        }
    }

    /// The sound inferences listed in the crate documentation.
    pub(crate) fn infer(&mut self, a: FdKind, b: FdKind) {
        let both_drm = a.is_drm() && b.is_drm();
        let both_buf = a.is_dma_buf() && b.is_dma_buf();
        if both_drm && self.drm_device == Answer::Different {
            self.file = Answer::Different;
            self.drm_client = Answer::Different;
        }
        // Same file => same client, so different clients => different files.
        if both_drm && self.drm_client == Answer::Different {
            self.file = Answer::Different;
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
            Answer::Unknown | Answer::NotApplicable => {}
        }
        if both_drm && self.drm_client == Answer::Same {
            self.drm_device = Answer::Same;
        }
        // One dma-buf is one struct file; a dma-buf is the same storage as itself.
        if both_buf && self.dma_buf_object == Answer::Same {
            self.file = Answer::Same;
            self.dma_buf_storage = Answer::Same;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{DrmNodeType, DRM_MAJOR};

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
    use Answer::{Different as D, NotApplicable as N, Same as S, Unknown as U};

    #[test]
    fn kinds_alone() {
        let s = Sameness::from_kinds(CARD, FdKind::Other);
        assert_eq!(
            (s.file, s.drm_client, s.drm_device, s.dma_buf_object),
            (U, N, N, N)
        );
        let s = Sameness::from_kinds(FdKind::DmaBuf, FdKind::DmaBuf);
        assert_eq!(
            (
                s.drm_client,
                s.drm_device,
                s.dma_buf_object,
                s.dma_buf_storage
            ),
            (N, N, U, U)
        );
        let s = Sameness::from_kinds(CARD, RENDER);
        assert_eq!((s.drm_client, s.drm_device), (U, U));
    }

    #[test]
    fn inferences() {
        let infer = |mut s: Sameness, a, b| {
            s.infer(a, b);
            s
        };
        // Same file: every applicable level holds.
        let s = infer(
            Sameness {
                file: S,
                ..Sameness::from_kinds(CARD, CARD)
            },
            CARD,
            CARD,
        );
        assert_eq!((s.drm_client, s.drm_device), (S, S));
        // Different files: different clients, the device stays unknown.
        let s = infer(
            Sameness {
                file: D,
                ..Sameness::from_kinds(CARD, RENDER)
            },
            CARD,
            RENDER,
        );
        assert_eq!((s.drm_client, s.drm_device), (D, U));
        // Unknown file: nothing inferred about the client.
        let s = infer(Sameness::from_kinds(CARD, CARD), CARD, CARD);
        assert_eq!((s.file, s.drm_client), (U, U));
        // Different devices: different files and clients.
        let s = infer(
            Sameness {
                drm_device: D,
                ..Sameness::from_kinds(CARD, RENDER)
            },
            CARD,
            RENDER,
        );
        assert_eq!((s.file, s.drm_client), (D, D));
        // Different clients (drm-client-id): different files.
        let s = infer(
            Sameness {
                drm_client: D,
                ..Sameness::from_kinds(CARD, CARD)
            },
            CARD,
            CARD,
        );
        assert_eq!((s.file, s.drm_device), (D, U));
        // Same client: same device; the file stays unknown.
        let s = infer(
            Sameness {
                drm_client: S,
                ..Sameness::from_kinds(CARD, CARD)
            },
            CARD,
            CARD,
        );
        assert_eq!((s.file, s.drm_device), (U, S));
    }

    #[test]
    fn dma_buf_inferences() {
        let infer = |mut s: Sameness, a, b| {
            s.infer(a, b);
            s
        };
        // dma-bufs: object follows the file, and the file follows the object.
        for f in [S, D] {
            let k = FdKind::DmaBuf;
            let s = infer(
                Sameness {
                    file: f,
                    ..Sameness::from_kinds(k, k)
                },
                k,
                k,
            );
            assert_eq!(s.dma_buf_object, f);
        }
        let k = FdKind::DmaBuf;
        let s = infer(
            Sameness {
                dma_buf_object: S,
                ..Sameness::from_kinds(k, k)
            },
            k,
            k,
        );
        assert_eq!((s.file, s.dma_buf_storage), (S, S));
    }

    #[test]
    fn ioctl_bits() {
        let s = Sameness::from_drm_bits(DRM_FILE_SAME_DEVICE, true);
        assert_eq!((s.file, s.drm_client, s.drm_device), (D, D, S));
        // A DRM file of another device: different; the dma-buf levels do not apply.
        let s = Sameness::from_drm_bits(0, true);
        assert_eq!(
            (s.file, s.drm_device, s.dma_buf_object, s.dma_buf_storage),
            (D, D, N, N)
        );
        // Against a file that is no DRM file: the DRM levels do not apply either.
        let s = Sameness::from_drm_bits(0, false);
        assert_eq!((s.file, s.drm_client, s.drm_device), (D, N, N));
        let s = Sameness::from_dma_buf_bits(DMA_BUF_SAME_ALL, true);
        assert_eq!((s.file, s.dma_buf_object, s.dma_buf_storage), (S, S, S));
        assert_eq!(s.mechanism, Some(Mechanism::DmaBufSameObjectIoctl));
        assert_eq!((s.drm_client, s.drm_device), (N, N));
    }

    #[test]
    fn storage_bits() {
        let both = |bits| {
            let s = Sameness::from_dma_buf_bits(bits, true);
            (s.file, s.dma_buf_object, s.dma_buf_storage)
        };
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
        let s = Sameness::from_dma_buf_bits(0, false);
        assert_eq!((s.dma_buf_object, s.dma_buf_storage), (N, N));
        let s = Sameness::from_kinds(FdKind::DmaBuf, FdKind::Path);
        assert_eq!(s.dma_buf_storage, N);
    }

    /// The error lists every name with its short alias, so that the aliases are found.
    #[test]
    fn a_bad_level_lists_names_and_short_names() {
        let e = "nope".parse::<Level>().unwrap_err().to_string();
        for l in Level::ALL {
            assert!(e.contains(l.name()), "{e}");
            assert!(
                e.contains(&format!("({})", l.alias())) || *l == Level::File,
                "{e}"
            );
            assert_eq!(l.alias().parse::<Level>().unwrap(), *l);
        }
        assert_eq!("drm_client".parse::<Level>().unwrap(), Level::DrmClient);
        assert_eq!("Storage".parse::<Level>().unwrap(), Level::DmaBufStorage);
    }

    #[test]
    fn display_names_every_level_and_what_answered() {
        let mut s = Sameness::from_drm_bits(DRM_FILE_SAME_DEVICE, true);
        s.declined = Some(Declined::new(
            Mechanism::DrmFileSameIoctl,
            libc::ENODEV,
            DeclineReason::Device,
        ));
        let line = s.to_string();
        assert!(
            line.starts_with(
                "file=different drm-client=different drm-device=same \
                 dma-buf-object=not-applicable dma-buf-storage=not-applicable; by drm-ioctl"
            ),
            "{line}"
        );
        assert!(
            line.contains("drm-ioctl could not answer: No such device"),
            "{line}"
        );
    }

    #[test]
    fn levels_have_names_aliases_and_parse_alike() {
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
        for &l in Level::ALL {
            for s in [
                l.name().to_owned(),
                l.name().to_ascii_uppercase(),
                l.name().replace('-', "_"),
                l.alias().to_owned(),
                l.alias().to_ascii_uppercase(),
                format!("{l:?}"),
                format!(" {} ", l.name()),
            ] {
                assert_eq!(s.parse::<Level>(), Ok(l), "{s:?}");
            }
        }
        for &m in Mechanism::ALL {
            for s in [
                m.name().to_owned(),
                m.name().to_ascii_uppercase(),
                m.name().replace('-', "_"),
                format!("{m:?}"),
            ] {
                assert_eq!(s.parse::<Mechanism>(), Ok(m), "{s:?}");
            }
        }
        let e = "nope".parse::<Level>().unwrap_err().to_string();
        assert!(e.contains("dma-buf-storage"), "{e}");
    }
}
