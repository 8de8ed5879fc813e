//! What kind of file a descriptor refers to.

use std::fmt;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::path::PathBuf;

use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};

use rustix::fs::{fcntl_getfl, fstat, fstatfs, major, minor, FileType, OFlags};

use crate::Error;

/// The character major of DRM device nodes (`DRM_MAJOR`).
pub const DRM_MAJOR: u32 = 226;
/// `DMA_BUF_MAGIC`, the `f_type` of the dma-buf pseudo file system (Linux 5.3+).
pub const DMA_BUF_MAGIC: i64 = 0x444d_4142;
/// `ANON_INODE_FS_MAGIC`: before 5.3 a dma-buf was an anonymous inode named `dmabuf`.
pub const ANON_INODE_FS_MAGIC: i64 = 0x0904_1934;

/// The kind of node of a DRM device file, from its minor number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DrmNodeType {
    /// `/dev/dri/cardN` (minors 0–63).
    Primary,
    /// The legacy control node (minors 64–127).
    Control,
    /// `/dev/dri/renderDN` (minors 128–255).
    Render,
    /// Minors beyond 255 (accel or dynamic minors of newer kernels).
    Other,
}

/// What a file descriptor refers to, as far as this crate cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FdKind {
    /// A DRM device file: a character device of major 226.
    Drm {
        /// `major(st_rdev)`, always [`DRM_MAJOR`].
        major: u32,
        /// `minor(st_rdev)`.
        minor: u32,
        /// Which node, from the minor.
        node: DrmNodeType,
    },
    /// A dma-buf.
    DmaBuf,
    /// An `O_PATH` descriptor: it refers to a file but does not open it (no DRM client, no
    /// dma-buf, whatever the path).
    Path,
    /// Anything else: regular file, pipe, socket, eventfd, other character device...
    Other,
}

impl FdKind {
    /// Finds out what `fd` refers to: `fcntl(F_GETFL)` for `O_PATH`, `fstat` for DRM device
    /// files (character major 226), `fstatfs` for dma-bufs (`DMA_BUF_MAGIC`; for kernels
    /// before 5.3, an anonymous inode whose `/proc/self/fd` link reads `anon_inode:dmabuf`).
    /// Nothing else is done to the file: no ioctl, no read; safe on any descriptor, another
    /// process's included.
    ///
    /// Errors: [`Error`] naming the call that failed (`EBADF`: `fd` is not open).
    ///
    /// ```
    /// let (r, _w) = rustix::pipe::pipe()?;
    /// assert_eq!(fdsame::FdKind::of(&r)?, fdsame::FdKind::Other);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn of(fd: impl AsFd) -> Result<FdKind, Error> {
        Ok(identify(fd.as_fd())?.kind)
    }

    /// Whether this is a DRM device file.
    ///
    /// ```
    /// assert!(!fdsame::FdKind::DmaBuf.is_drm());
    /// ```
    pub fn is_drm(self) -> bool {
        matches!(self, FdKind::Drm { .. })
    }

    /// Whether this is a dma-buf.
    ///
    /// ```
    /// assert!(fdsame::FdKind::DmaBuf.is_dma_buf());
    /// ```
    pub fn is_dma_buf(self) -> bool {
        matches!(self, FdKind::DmaBuf)
    }
}

impl fmt::Display for FdKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FdKind::Drm { major, minor, node } => {
                let n = match node {
                    DrmNodeType::Primary => "primary",
                    DrmNodeType::Control => "control",
                    DrmNodeType::Render => "render",
                    DrmNodeType::Other => "other",
                };
                write!(f, "drm {n} node {major}:{minor}")
            }
            FdKind::DmaBuf => f.write_str("dma-buf"),
            FdKind::Path => f.write_str("O_PATH"),
            FdKind::Other => f.write_str("other"),
        }
    }
}

/// The kind of a descriptor plus the `fstat` identity used by the `Fstat` mechanism and the
/// grouping keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Identity {
    pub kind: FdKind,
    /// `(st_dev, st_ino)`.
    pub inode: (u64, u64),
    /// `st_size`: the size of a dma-buf (its inode's size is the buffer's).
    pub size: u64,
    /// A dma-buf on the dma-buf file system (Linux 5.3+): its inode is its own, so the
    /// inode number is a key of the dma-buf. Before 5.3 every dma-buf shared one anonymous
    /// inode.
    pub own_inode: bool,
}

/// `st_dev` of the dma-buf file system, once seen (0: not yet). The kernel mounts it once
/// (`kern_mount` in `dma_buf_init()`), so one `st_dev` for every dma-buf of its lifetime.
static DMA_BUF_DEV: AtomicU64 = AtomicU64::new(0);

/// The kind last seen at each descriptor number (modulo the table size): a hint of which
/// ioctl to try first, never an answer. See `chain::fast`.
static HINTS: [AtomicU8; 1024] = [const { AtomicU8::new(HINT_NONE) }; 1024];
pub(crate) const HINT_NONE: u8 = 0;
pub(crate) const HINT_DRM: u8 = 1;
pub(crate) const HINT_DMA_BUF: u8 = 2;
const HINT_OTHER: u8 = 3;

pub(crate) fn hint(fd: BorrowedFd<'_>) -> u8 {
    HINTS[fd.as_raw_fd() as usize % HINTS.len()].load(Ordering::Relaxed)
}

fn set_hint(fd: BorrowedFd<'_>, kind: FdKind) {
    let h = match kind {
        FdKind::Drm { .. } => HINT_DRM,
        FdKind::DmaBuf => HINT_DMA_BUF,
        _ => HINT_OTHER,
    };
    HINTS[fd.as_raw_fd() as usize % HINTS.len()].store(h, Ordering::Relaxed);
}

/// `fcntl(F_GETFL)` for `O_PATH`, `fstat` for the inode and DRM device files, `fstatfs`
/// (only for a file that may be a dma-buf on a file system not seen yet) for dma-bufs, and
/// for kernels before 5.3 the `/proc/self/fd` link of an anonymous inode. Errors name the
/// call that failed.
pub(crate) fn identify(fd: BorrowedFd<'_>) -> Result<Identity, Error> {
    let raw = fd.as_raw_fd();
    let fl = fcntl_getfl(fd).map_err(|e| Error::os("fcntl(F_GETFL)", None, raw, e))?;
    let st = fstat(fd).map_err(|e| Error::os("fstat", None, raw, e))?;
    let id = |kind, own_inode| Identity {
        kind,
        inode: (st.st_dev, st.st_ino),
        size: st.st_size as u64,
        own_inode,
    };
    let ident = if fl.contains(OFlags::PATH) {
        id(FdKind::Path, false)
    } else {
        let ft = FileType::from_raw_mode(st.st_mode);
        if ft == FileType::CharacterDevice && major(st.st_rdev) == DRM_MAJOR {
            let minor = minor(st.st_rdev);
            let node = match minor {
                0..=63 => DrmNodeType::Primary,
                64..=127 => DrmNodeType::Control,
                128..=255 => DrmNodeType::Render,
                _ => DrmNodeType::Other,
            };
            id(
                FdKind::Drm {
                    major: DRM_MAJOR,
                    minor,
                    node,
                },
                false,
            )
        } else if ft == FileType::CharacterDevice
            || ft == FileType::BlockDevice
            || ft == FileType::Directory
            || ft == FileType::Fifo
            || ft == FileType::Socket
        {
            id(FdKind::Other, false)
        } else if st.st_dev != 0 && st.st_dev == DMA_BUF_DEV.load(Ordering::Relaxed) {
            id(FdKind::DmaBuf, true)
        } else {
            let f_type = fstatfs(fd)
                .map_err(|e| Error::os("fstatfs", None, raw, e))?
                .f_type as i64;
            if f_type == DMA_BUF_MAGIC {
                DMA_BUF_DEV.store(st.st_dev, Ordering::Relaxed);
                id(FdKind::DmaBuf, true)
            } else if f_type == ANON_INODE_FS_MAGIC
                && anon_inode_name(fd).as_deref() == Some("dmabuf")
            {
                id(FdKind::DmaBuf, false)
            } else {
                id(FdKind::Other, false)
            }
        }
    };
    set_hint(fd, ident.kind);
    Ok(ident)
}

/// `anon_inode:NAME` → `NAME`, from the `/proc/self/fd` link.
fn anon_inode_name(fd: BorrowedFd<'_>) -> Option<String> {
    let link = std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd())).ok()?;
    let link = link.to_str()?;
    let name = link.strip_prefix("anon_inode:")?;
    Some(
        name.trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned(),
    )
}

/// `drm-client-id` of a DRM device file of this process, from `/proc/self/fdinfo/N`
/// (`drm_show_fdinfo()`, drivers/gpu/drm/drm_file.c). The id is unique among every DRM
/// client of the running kernel (a global counter), so it is a key of the client.
///
/// `Ok(None)`: the driver shows no DRM fdinfo (vgem, for one). `Err`: `/proc` cannot be
/// read (not mounted: `ENOENT`; no descriptor left: `EMFILE`).
pub(crate) fn drm_client_id(fd: BorrowedFd<'_>) -> io::Result<Option<u64>> {
    let text = fdinfo_text(fd)?;
    Ok(fdinfo_field(&text, "drm-client-id").and_then(|v| v.parse().ok()))
}

/// `/proc/self/fdinfo/N` of a descriptor of this process.
pub(crate) fn fdinfo_text(fd: BorrowedFd<'_>) -> io::Result<String> {
    std::fs::read_to_string(format!("/proc/self/fdinfo/{}", fd.as_raw_fd()))
}

/// The value of `key:` in fdinfo text (`key:\tvalue`, one per line).
pub(crate) fn fdinfo_field<'t>(text: &'t str, key: &str) -> Option<&'t str> {
    text.lines().find_map(|line| {
        let (k, v) = line.split_once(':')?;
        (k == key).then(|| v.trim())
    })
}
/// The sysfs identity of a DRM device node: the canonical path of
/// `/sys/dev/char/MAJ:MIN/device`, the device the DRM device belongs to. A card node and a
/// render node of one DRM device share it (libdrm's `drmDevicesEqual` and drm-rs' `DrmNode`
/// go by the same link).
///
/// `Ok(None)`: the node has no `device` link (some virtual drivers), so sysfs cannot tell.
/// `Err`: sysfs is not mounted at `/sys` (`NotFound` on `/sys/dev/char`) or cannot be read.
pub(crate) fn sysfs_device(major: u32, minor: u32) -> io::Result<Option<PathBuf>> {
    let node = PathBuf::from(format!("/sys/dev/char/{major}:{minor}"));
    match std::fs::canonicalize(node.join("device")) {
        Ok(p) => Ok(Some(p)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            // Missing `device` link, or no sysfs at all?
            std::fs::metadata("/sys/dev/char")?;
            match std::fs::metadata(&node) {
                Ok(_) => Ok(None),
                // Node unknown to sysfs (e.g. another mount namespace's /dev): cannot tell.
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(e),
            }
        }
        Err(e) => Err(e),
    }
}
