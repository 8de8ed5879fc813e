//! What kind of file a descriptor refers to.

use std::fmt;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::path::PathBuf;

use rustix::fs::{fcntl_getfl, fstat, fstatfs, major, minor, FileType, OFlags};

/// The character major of DRM device nodes (`DRM_MAJOR`).
pub const DRM_MAJOR: u32 = 226;
/// `DMA_BUF_MAGIC`, the `f_type` of the dma-buf pseudo file system (Linux 5.3+).
pub const DMA_BUF_MAGIC: i64 = 0x444d_4142;
/// `ANON_INODE_FS_MAGIC`: before 5.3 a dma-buf was an anonymous inode named `dmabuf`.
pub const ANON_INODE_FS_MAGIC: i64 = 0x0904_1934;

/// The kind of node of a DRM device file, from its minor number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
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
    ///
    /// ```
    /// use std::os::fd::AsFd;
    /// let (r, _w) = rustix::pipe::pipe()?;
    /// assert_eq!(fdsame::FdKind::of(r.as_fd())?, fdsame::FdKind::Other);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn of(fd: BorrowedFd<'_>) -> io::Result<FdKind> {
        Ok(identify(fd)?.kind)
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

/// The kind of a descriptor plus the `fstat` identity used by the `Fstat` mechanism.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Identity {
    pub kind: FdKind,
    /// `(st_dev, st_ino)`.
    pub inode: (u64, u64),
}

pub(crate) fn identify(fd: BorrowedFd<'_>) -> io::Result<Identity> {
    let fl = fcntl_getfl(fd)?;
    let st = fstat(fd)?;
    let inode = (st.st_dev, st.st_ino);
    if fl.contains(OFlags::PATH) {
        return Ok(Identity {
            kind: FdKind::Path,
            inode,
        });
    }
    let ft = FileType::from_raw_mode(st.st_mode);
    if ft == FileType::CharacterDevice && major(st.st_rdev) == DRM_MAJOR {
        let minor = minor(st.st_rdev);
        let node = match minor {
            0..=63 => DrmNodeType::Primary,
            64..=127 => DrmNodeType::Control,
            128..=255 => DrmNodeType::Render,
            _ => DrmNodeType::Other,
        };
        return Ok(Identity {
            kind: FdKind::Drm {
                major: DRM_MAJOR,
                minor,
                node,
            },
            inode,
        });
    }
    if ft != FileType::CharacterDevice && ft != FileType::BlockDevice && ft != FileType::Directory {
        let f_type = fstatfs(fd)?.f_type as i64;
        if f_type == DMA_BUF_MAGIC
            || (f_type == ANON_INODE_FS_MAGIC && anon_inode_name(fd).as_deref() == Some("dmabuf"))
        {
            return Ok(Identity {
                kind: FdKind::DmaBuf,
                inode,
            });
        }
    }
    Ok(Identity {
        kind: FdKind::Other,
        inode,
    })
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
