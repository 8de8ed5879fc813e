//! What kind of file a descriptor refers to.

use std::fmt;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::path::PathBuf;

use std::sync::atomic::Ordering;

use rustix::fs::{fcntl_getfl, fstat, fstatfs, major, minor, FileType, OFlags};

use crate::mechanism::State;
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
    /// process's included. A file system that refuses `statfs` (a FUSE daemon without
    /// `STATFS`) holds no dma-buf: its files are [`FdKind::Other`]. `fstat` and `fstatfs`
    /// of a file on a stuck FUSE or network file system can block until its server answers.
    ///
    /// Errors: [`Error`] naming the call that failed (`EBADF`: `fd` is not open).
    ///
    /// ```
    /// let (r, _w) = rustix::pipe::pipe()?;
    /// assert_eq!(fdsame::FdKind::of(&r)?, fdsame::FdKind::Other);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn of(fd: impl AsFd) -> Result<FdKind, Error> {
        Ok(identify(&crate::mechanism::GLOBAL.0, fd.as_fd())?.kind)
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

// 0: nothing seen at this number yet.
pub(crate) const HINT_DRM: u8 = 1;
pub(crate) const HINT_DMA_BUF: u8 = 2;
const HINT_OTHER: u8 = 3;

/// The kind last seen at this descriptor number (modulo the table size): a hint of which
/// ioctl to try first, never an answer. See `chain::fast`.
pub(crate) fn hint(state: &State, fd: BorrowedFd<'_>) -> u8 {
    state.hints[fd.as_raw_fd() as usize % state.hints.len()].load(Ordering::Relaxed)
}

fn set_hint(state: &State, fd: BorrowedFd<'_>, kind: FdKind) {
    let h = match kind {
        FdKind::Drm { .. } => HINT_DRM,
        FdKind::DmaBuf => HINT_DMA_BUF,
        _ => HINT_OTHER,
    };
    state.hints[fd.as_raw_fd() as usize % state.hints.len()].store(h, Ordering::Relaxed);
}

/// The DRM node type of a minor.
fn node_type(minor: u32) -> DrmNodeType {
    match minor {
        0..=63 => DrmNodeType::Primary,
        64..=127 => DrmNodeType::Control,
        128..=255 => DrmNodeType::Render,
        _ => DrmNodeType::Other,
    }
}

/// What `fstatfs` says about a file that may be a dma-buf. A file system that refuses
/// statfs (a FUSE daemon without `STATFS`, any errno) holds no dma-buf: the dma-buf file
/// system and the anonymous-inode one answer statfs from memory (`simple_statfs`), always.
pub(crate) fn kind_by_statfs(
    f_type: Result<i64, rustix::io::Errno>,
    anon_is_dma_buf: impl FnOnce() -> bool,
) -> (FdKind, bool) {
    match f_type {
        Ok(DMA_BUF_MAGIC) => (FdKind::DmaBuf, true),
        Ok(ANON_INODE_FS_MAGIC) if anon_is_dma_buf() => (FdKind::DmaBuf, false),
        Ok(_) | Err(_) => (FdKind::Other, false),
    }
}

/// `fcntl(F_GETFL)` for `O_PATH`, `fstat` for the inode and DRM device files, `fstatfs`
/// (only for a file that may be a dma-buf on a file system not seen yet) for dma-bufs, and
/// for kernels before 5.3 the `/proc/self/fd` link of an anonymous inode. Errors name the
/// call that failed.
pub(crate) fn identify(state: &State, fd: BorrowedFd<'_>) -> Result<Identity, Error> {
    let raw = fd.as_raw_fd();
    let fl = fcntl_getfl(fd).map_err(|e| Error::os("fcntl(F_GETFL)", None, raw, e))?;
    let st = fstat(fd).map_err(|e| Error::os("fstat", None, raw, e))?;
    let ft = FileType::from_raw_mode(st.st_mode);
    let (kind, own_inode) = if fl.contains(OFlags::PATH) {
        (FdKind::Path, false)
    } else if ft == FileType::CharacterDevice && major(st.st_rdev) == DRM_MAJOR {
        let minor = minor(st.st_rdev);
        let node = node_type(minor);
        (
            FdKind::Drm {
                major: DRM_MAJOR,
                minor,
                node,
            },
            false,
        )
    } else if matches!(
        ft,
        FileType::CharacterDevice
            | FileType::BlockDevice
            | FileType::Directory
            | FileType::Fifo
            | FileType::Socket
    ) {
        (FdKind::Other, false)
    } else if st.st_dev != 0 && st.st_dev == state.dma_buf_dev.load(Ordering::Relaxed) {
        (FdKind::DmaBuf, true)
    } else {
        #[allow(clippy::unnecessary_cast)] // f_type is not i64 on every architecture
        let f_type = fstatfs(fd).map(|s| s.f_type as i64);
        let r = kind_by_statfs(f_type, || anon_inode_name(fd).as_deref() == Some("dmabuf"));
        if r == (FdKind::DmaBuf, true) {
            state.dma_buf_dev.store(st.st_dev, Ordering::Relaxed);
        }
        r
    };
    set_hint(state, fd, kind);
    Ok(Identity {
        kind,
        inode: (st.st_dev, st.st_ino),
        size: st.st_size as u64,
        own_inode,
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

/// `drm-client-id` of a DRM device file of this process, from `/proc/self/fdinfo/N`
/// (`drm_show_fdinfo()`, drivers/gpu/drm/drm_file.c). The id is unique among every DRM
/// client of the running kernel (a global counter), so it is a key of the client.
///
/// `Ok(None)`: the driver shows no DRM fdinfo (vgem, for one). `Err`: `/proc` cannot be
/// read (not mounted: `ENOENT`; no descriptor left: `EMFILE`).
pub(crate) fn drm_client_id(fd: BorrowedFd<'_>) -> io::Result<Option<u64>> {
    let text = fdinfo_text(fd)?;
    Ok(crate::fdinfo::field(&text, "drm-client-id").and_then(|v| v.parse().ok()))
}

/// `/proc/self/fdinfo/N` of a descriptor of this process.
pub(crate) fn fdinfo_text(fd: BorrowedFd<'_>) -> io::Result<String> {
    std::fs::read_to_string(format!("/proc/self/fdinfo/{}", fd.as_raw_fd()))
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

#[cfg(test)]
mod tests {
    use super::*;
    use rustix::io::Errno;

    /// A file system that refuses statfs (a FUSE daemon without STATFS answers ENOSYS; a
    /// stuck or dead one ENOTCONN, EIO) holds no dma-buf: its files are "other", compared by
    /// the file-level mechanisms like any file, never an error.
    #[test]
    fn a_file_system_refusing_statfs_holds_no_dma_buf() {
        for e in [
            Errno::NOSYS,
            Errno::NOTCONN,
            Errno::IO,
            Errno::ACCESS,
            Errno::INTR,
        ] {
            assert_eq!(
                kind_by_statfs(Err(e), || true),
                (FdKind::Other, false),
                "{e:?}"
            );
        }
        assert_eq!(
            kind_by_statfs(Ok(DMA_BUF_MAGIC), || false),
            (FdKind::DmaBuf, true)
        );
        assert_eq!(
            kind_by_statfs(Ok(ANON_INODE_FS_MAGIC), || true),
            (FdKind::DmaBuf, false)
        );
        assert_eq!(
            kind_by_statfs(Ok(ANON_INODE_FS_MAGIC), || false),
            (FdKind::Other, false)
        );
        assert_eq!(
            kind_by_statfs(Ok(0x6573_5546), || true),
            (FdKind::Other, false)
        ); // FUSE
    }
}
