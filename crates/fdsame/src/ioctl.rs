//! The two ioctls of the series, one small function each, in the style of drm-ffi.
//!
//! These are raw: they return the result bits as the kernel wrote them and the errno as the
//! kernel answered it ([`std::io::Error::raw_os_error`] is always set on failure). On a kernel
//! without the series, [`drm_file_same()`] fails with `EINVAL` (an unknown DRM core ioctl) and
//! [`dma_buf_same_object()`] with `ENOTTY`. Both refuse an `O_PATH` `other` with `EBADF`
//! (series v2; v1 answered 0).
//!
//! Issue [`drm_file_same()`] only on a DRM device file of this process's own: on kernels that
//! update a DRM file's owner on DRM ioctls (Linux 6.7+, `drm_file_update_pid()`), any DRM
//! ioctl issued on another process's descriptor (obtained with `pidfd_getfd`) would make this
//! process its owner; series v2 exempts `DRM_IOCTL_FILE_SAME` (`DRM_NO_PID_UPDATE`), other
//! kernels may not. `other` may be anyone's: it is only looked up. The dma-buf ioctl has no
//! such effect (a dma-buf has no owner).

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};

use rustix::ioctl::{ioctl, Updater};

use crate::uapi::{
    dma_buf_same_object, drm_file_same, DMA_BUF_IOCTL_SAME_OBJECT, DRM_IOCTL_FILE_SAME,
};

/// `DRM_IOCTL_FILE_SAME` on the DRM file `fd`, about `other`; returns the `DRM_FILE_SAME_*`
/// bits ([`crate::uapi::DRM_FILE_SAME_FILE`] and so on).
///
/// Source: `drm_file_same_ioctl()` in drivers/gpu/drm/drm_ioctl.c and `drm_file_same()` in
/// drivers/gpu/drm/drm_file.c; uAPI in include/uapi/drm/drm.h.
///
/// Shape: `fd` a DRM device file (any node: primary, render, accel); `other` a descriptor of
/// any kind. When `other` is not an open file of the same DRM device the result is 0.
///
/// Permissions: allowed on render nodes, needs neither DRM master nor authentication. The
/// ioctl carries `DRM_NO_PID_UPDATE`: unlike every other DRM ioctl it does not make the
/// calling process the owner of the DRM file (debugfs `clients` keeps naming the opener).
///
/// Errors: `EBADF` when `other` is not open or was opened with `O_PATH` (it is looked up
/// with `fdget()`), `ENODEV` when `fd`'s device was unplugged, `ENOTTY` when `fd` is not a
/// DRM file (`EBADF` when it is an `O_PATH` descriptor), `EINVAL` on a kernel without the
/// ioctl (an unknown DRM core ioctl).
///
/// ```no_run
/// use std::os::fd::AsFd;
/// use fdsame::uapi::DRM_FILE_SAME_DEVICE;
/// let card = std::fs::File::open("/dev/dri/card0")?;
/// let render = std::fs::File::open("/dev/dri/renderD128")?;
/// let bits = fdsame::ioctl::drm_file_same(card.as_fd(), render.as_fd())?;
/// println!("same device: {}", bits & DRM_FILE_SAME_DEVICE != 0);
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn drm_file_same(fd: BorrowedFd<'_>, other: BorrowedFd<'_>) -> io::Result<u64> {
    drm_file_same_raw(fd, other.as_raw_fd(), 0)
}

/// [`drm_file_same()`] with a raw `other` descriptor and explicit `flags`, so that tests can
/// pass a closed, negative or `O_PATH` descriptor (`EBADF`) or nonzero flags (`EINVAL`,
/// checked before `other` is looked up).
///
/// Nodes and permissions: as [`drm_file_same()`] (any node, render included; no master, no
/// authentication; `DRM_NO_PID_UPDATE`). Errors: those of [`drm_file_same()`], plus `EINVAL`
/// for any nonzero `flags` (no flag is defined).
///
/// ```no_run
/// use std::os::fd::AsFd;
/// let card = std::fs::File::open("/dev/dri/card0")?;
/// let err = fdsame::ioctl::drm_file_same_raw(card.as_fd(), -1, 0).unwrap_err();
/// assert_eq!(err.raw_os_error(), Some(libc::EBADF));
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn drm_file_same_raw(fd: BorrowedFd<'_>, other: RawFd, flags: u32) -> io::Result<u64> {
    let mut arg = drm_file_same {
        fd: other,
        flags,
        result: 0,
    };
    // SAFETY: DRM_IOCTL_FILE_SAME is DRM_IOWR(0xD3, struct drm_file_same) and `arg` is a
    // `drm_file_same`, laid out as the kernel expects (checked by the uapi tests).
    unsafe {
        ioctl(
            fd,
            Updater::<{ DRM_IOCTL_FILE_SAME }, drm_file_same>::new(&mut arg),
        )?;
    }
    Ok(arg.result)
}

/// `DRM_IOCTL_FILE_SAME` with an argument pointer of the caller's choosing, so that tests
/// can check that a bad pointer gives `EFAULT`. Returns the ioctl's return value (0).
///
/// Nodes and permissions: as [`drm_file_same()`]. Errors: `EFAULT` when `arg` cannot be read
/// or written (`drm_ioctl()` copies the struct in and out), then those of
/// [`drm_file_same_raw()`].
///
/// # Safety
///
/// `arg` is handed to the kernel as is: if it points into this process, it must point to a
/// writable `drm_file_same`.
///
/// ```no_run
/// use std::os::fd::AsFd;
/// let card = std::fs::File::open("/dev/dri/card0")?;
/// // SAFETY: the kernel refuses this pointer; nothing in this process is written.
/// let err = unsafe { fdsame::ioctl::drm_file_same_ptr(card.as_fd(), 8 as *mut _) }.unwrap_err();
/// assert_eq!(err.raw_os_error(), Some(libc::EFAULT));
/// # Ok::<(), std::io::Error>(())
/// ```
pub unsafe fn drm_file_same_ptr(fd: BorrowedFd<'_>, arg: *mut drm_file_same) -> io::Result<i32> {
    // SAFETY: forwarded to the caller.
    unsafe { ioctl(fd, RawPtr::<{ DRM_IOCTL_FILE_SAME }>(arg.cast())).map_err(Into::into) }
}

/// `DMA_BUF_IOCTL_SAME_OBJECT` on the dma-buf `fd`, about `other`; returns the
/// `DMA_BUF_SAME_*` and `DMA_BUF_STORAGE_COMPARED` bits ([`crate::uapi::DMA_BUF_SAME_OBJECT`]
/// and so on).
///
/// Source: `dma_buf_same_object()` and `dma_buf_same()` in drivers/dma-buf/dma-buf.c, the
/// exporters' `dma_buf_ops.same_storage` (include/linux/dma-buf.h; udmabuf and videobuf2
/// implement it); uAPI in include/uapi/linux/dma-buf.h.
///
/// Shape: `fd` a dma-buf; `other` a descriptor of any kind. When `other` is not a dma-buf
/// the result is 0. A dma-buf against itself or a dup of it: all four bits
/// ([`crate::uapi::DMA_BUF_SAME_ALL`]). Two different dma-bufs: `DMA_BUF_STORAGE_COMPARED`
/// only when both have the same exporter ops with a `same_storage` callback, plus
/// `DMA_BUF_SAME_STORAGE` when the exporter says the memory is the same (never when the sizes
/// differ); different exporters, or exporters without the callback (GEM PRIME, the system
/// dma-heap): 0.
///
/// Permissions: none beyond holding both descriptors; no DRM device is needed.
///
/// Errors: `EBADF` when `other` is not open or was opened with `O_PATH` (it is looked up
/// with `fdget()`), `ENOTTY` when `fd` is not a dma-buf (`EBADF` when it is an `O_PATH`
/// descriptor) or on a kernel without the ioctl.
///
/// ```no_run
/// use std::os::fd::{AsFd, OwnedFd};
/// use fdsame::uapi::DMA_BUF_SAME_OBJECT;
/// # fn get_dma_buf() -> OwnedFd { unimplemented!() }
/// let buf: OwnedFd = get_dma_buf();
/// let dup = buf.try_clone()?;
/// let bits = fdsame::ioctl::dma_buf_same_object(buf.as_fd(), dup.as_fd())?;
/// assert_ne!(bits & DMA_BUF_SAME_OBJECT, 0);
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn dma_buf_same_object(fd: BorrowedFd<'_>, other: BorrowedFd<'_>) -> io::Result<u64> {
    dma_buf_same_object_raw(fd, other.as_raw_fd(), 0)
}

/// [`dma_buf_same_object()`] with a raw `other` descriptor and explicit `flags`, for tests:
/// a closed, negative or `O_PATH` descriptor gives `EBADF`, nonzero flags `EINVAL` (checked
/// first).
///
/// Permissions: as [`dma_buf_same_object()`]: none beyond holding both descriptors.
///
/// ```no_run
/// use std::os::fd::{AsFd, OwnedFd};
/// # fn get_dma_buf() -> OwnedFd { unimplemented!() }
/// let buf: OwnedFd = get_dma_buf();
/// let err = fdsame::ioctl::dma_buf_same_object_raw(buf.as_fd(), buf.as_fd().as_raw_fd(), 1)
///     .unwrap_err();
/// assert_eq!(err.raw_os_error(), Some(libc::EINVAL));
/// # use std::os::fd::AsRawFd;
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn dma_buf_same_object_raw(fd: BorrowedFd<'_>, other: RawFd, flags: u32) -> io::Result<u64> {
    let mut arg = dma_buf_same_object {
        fd: other,
        flags,
        result: 0,
    };
    // SAFETY: DMA_BUF_IOCTL_SAME_OBJECT is _IOWR('b', 4, struct dma_buf_same_object) and `arg`
    // is a `dma_buf_same_object`, laid out as the kernel expects.
    unsafe {
        ioctl(
            fd,
            Updater::<{ DMA_BUF_IOCTL_SAME_OBJECT }, dma_buf_same_object>::new(&mut arg),
        )?;
    }
    Ok(arg.result)
}

/// `DMA_BUF_IOCTL_SAME_OBJECT` with an argument pointer of the caller's choosing (`EFAULT`
/// tests). Returns the ioctl's return value (0).
///
/// Permissions: as [`dma_buf_same_object()`]. Errors: `EFAULT` when `arg` cannot be read or
/// written, then those of [`dma_buf_same_object_raw()`].
///
/// # Safety
///
/// `arg` is handed to the kernel as is: if it points into this process, it must point to a
/// writable `dma_buf_same_object`.
///
/// ```no_run
/// use std::os::fd::{AsFd, OwnedFd};
/// # fn get_dma_buf() -> OwnedFd { unimplemented!() }
/// let buf: OwnedFd = get_dma_buf();
/// // SAFETY: the kernel refuses this pointer; nothing in this process is written.
/// let err = unsafe { fdsame::ioctl::dma_buf_same_object_ptr(buf.as_fd(), 8 as *mut _) }
///     .unwrap_err();
/// assert_eq!(err.raw_os_error(), Some(libc::EFAULT));
/// # Ok::<(), std::io::Error>(())
/// ```
pub unsafe fn dma_buf_same_object_ptr(
    fd: BorrowedFd<'_>,
    arg: *mut dma_buf_same_object,
) -> io::Result<i32> {
    // SAFETY: forwarded to the caller.
    unsafe { ioctl(fd, RawPtr::<{ DMA_BUF_IOCTL_SAME_OBJECT }>(arg.cast())).map_err(Into::into) }
}

/// An ioctl whose argument is a raw pointer passed through unchecked.
struct RawPtr<const OPCODE: rustix::ioctl::Opcode>(*mut core::ffi::c_void);

// SAFETY: the opcode is fixed by the type; the pointer is the caller's responsibility (the
// unsafe functions above say so); the output is the ioctl's return value.
unsafe impl<const OPCODE: rustix::ioctl::Opcode> rustix::ioctl::Ioctl for RawPtr<OPCODE> {
    type Output = i32;
    const IS_MUTATING: bool = true;

    fn opcode(&self) -> rustix::ioctl::Opcode {
        OPCODE
    }

    fn as_ptr(&mut self) -> *mut core::ffi::c_void {
        self.0
    }

    unsafe fn output_from_ptr(
        out: rustix::ioctl::IoctlOutput,
        _ptr: *mut core::ffi::c_void,
    ) -> rustix::io::Result<i32> {
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    /// On a non-DRM, non-dma-buf file both ioctls are refused by the VFS or the file's own
    /// ioctl handler (ENOTTY on pipes), whatever the kernel.
    #[test]
    fn refused_on_a_pipe() {
        let (r, w) = rustix::pipe::pipe().unwrap();
        let e = drm_file_same(r.as_fd(), w.as_fd()).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ENOTTY));
        let e = dma_buf_same_object(r.as_fd(), w.as_fd()).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ENOTTY));
    }
}
