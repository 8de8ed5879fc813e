//! Raw uAPI of the kernel series: `DRM_IOCTL_FILE_SAME` (include/uapi/drm/drm.h) and
//! `DMA_BUF_IOCTL_SAME_OBJECT` (include/uapi/linux/dma-buf.h).
//!
//! The structs mirror the C header bit for bit; the ioctl numbers are computed from their
//! components (group, number, direction, size), as the C macros compute them. The
//! `c_header` test checks every size, offset, bit and number against the series' installed
//! headers.
//!
//! Both ioctls look the other descriptor up with `fdget()` (series v2): a descriptor that is
//! not open, or was opened with `O_PATH`, gives `EBADF`. Only equality bits ever come back:
//! no ordering, no kernel pointer value.

#![allow(non_camel_case_types)]

use rustix::ioctl::{opcode, Opcode};

/// `struct drm_file_same`: argument of [`DRM_IOCTL_FILE_SAME`].
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct drm_file_same {
    /// In: the other file descriptor, of any kind: a file that is not an open file of the
    /// same DRM device gives a result of 0. Not open, or opened with `O_PATH`: `EBADF`
    /// (`drm_file_same_ioctl()` looks it up with `fdget()`).
    pub fd: i32,
    /// In: must be 0 (`EINVAL` otherwise).
    pub flags: u32,
    /// Out: `DRM_FILE_SAME_*` bits; no other bit is ever set.
    pub result: u64,
}

/// Same `struct file` (open file description).
pub const DRM_FILE_SAME_FILE: u64 = 1 << 0;
/// Same `struct drm_file`: GEM handles are valid on both.
pub const DRM_FILE_SAME_CLIENT: u64 = 1 << 1;
/// Same `struct drm_device` (any node, any open).
pub const DRM_FILE_SAME_DEVICE: u64 = 1 << 2;
/// Every bit the kernel may set in `drm_file_same::result`.
pub const DRM_FILE_SAME_ALL: u64 = DRM_FILE_SAME_FILE | DRM_FILE_SAME_CLIENT | DRM_FILE_SAME_DEVICE;

/// `DRM_IOCTL_BASE`.
pub const DRM_IOCTL_BASE: u8 = b'd';
/// The DRM core ioctl number of `DRM_IOCTL_FILE_SAME`.
pub const DRM_FILE_SAME_NR: u8 = 0xD3;
/// `DRM_IOWR(0xD3, struct drm_file_same)`.
pub const DRM_IOCTL_FILE_SAME: Opcode =
    opcode::read_write::<drm_file_same>(DRM_IOCTL_BASE, DRM_FILE_SAME_NR);

/// `struct dma_buf_same_object`: argument of [`DMA_BUF_IOCTL_SAME_OBJECT`].
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct dma_buf_same_object {
    /// In: the other file descriptor, of any kind: a file that is not a dma-buf gives a
    /// result of 0. Not open, or opened with `O_PATH`: `EBADF` (`dma_buf_same_object()` in
    /// drivers/dma-buf/dma-buf.c looks it up with `fdget()`).
    pub fd: i32,
    /// In: must be 0 (`EINVAL` otherwise).
    pub flags: u32,
    /// Out: `DMA_BUF_SAME_*` and `DMA_BUF_STORAGE_COMPARED` bits; no other bit is ever set.
    pub result: u64,
}

/// Same `struct file` (a dup, `SCM_RIGHTS`, `pidfd_getfd`).
pub const DMA_BUF_SAME_FILE: u64 = 1 << 0;
/// Same `struct dma_buf`.
pub const DMA_BUF_SAME_OBJECT: u64 = 1 << 1;
/// Same memory behind both dma-bufs: the same pages, at the same offset, for the same
/// length, as their exporter knows it (`dma_buf_ops.same_storage`, series v2). Set for a
/// dma-buf and itself, and for two dma-bufs of one exporter over the same memory (one
/// videobuf2 plane exported twice with `VIDIOC_EXPBUF`, two udmabufs over one memfd range).
/// Memory that only overlaps is not the same storage. Only meaningful together with
/// [`DMA_BUF_STORAGE_COMPARED`].
pub const DMA_BUF_SAME_STORAGE: u64 = 1 << 2;
/// The storage was compared (series v2): both are the same dma-buf, or both come from one
/// exporter with a `same_storage` callback (udmabuf; videobuf2 vmalloc, dma-contig, dma-sg).
/// Only then does a clear [`DMA_BUF_SAME_STORAGE`] mean different memory; when this bit is
/// clear nothing is known about the storage (another kind of file, different exporters, an
/// exporter without the callback such as GEM PRIME or the system dma-heap, or a kernel
/// before series v2).
pub const DMA_BUF_STORAGE_COMPARED: u64 = 1 << 3;
/// Every bit the kernel may set in `dma_buf_same_object::result`: all four are set for a
/// dma-buf and itself or a dup of it.
pub const DMA_BUF_SAME_ALL: u64 =
    DMA_BUF_SAME_FILE | DMA_BUF_SAME_OBJECT | DMA_BUF_SAME_STORAGE | DMA_BUF_STORAGE_COMPARED;

/// `DMA_BUF_BASE`.
pub const DMA_BUF_BASE: u8 = b'b';
/// The dma-buf ioctl number of `DMA_BUF_IOCTL_SAME_OBJECT`.
pub const DMA_BUF_SAME_OBJECT_NR: u8 = 4;
/// `_IOWR(DMA_BUF_BASE, 4, struct dma_buf_same_object)`.
pub const DMA_BUF_IOCTL_SAME_OBJECT: Opcode =
    opcode::read_write::<dma_buf_same_object>(DMA_BUF_BASE, DMA_BUF_SAME_OBJECT_NR);

#[cfg(test)]
mod tests {
    use super::*;
    use core::mem::{align_of, offset_of, size_of};

    #[test]
    fn drm_file_same_layout() {
        assert_eq!(size_of::<drm_file_same>(), 16);
        assert_eq!(align_of::<drm_file_same>(), 8);
        assert_eq!(offset_of!(drm_file_same, fd), 0);
        assert_eq!(offset_of!(drm_file_same, flags), 4);
        assert_eq!(offset_of!(drm_file_same, result), 8);
    }

    #[test]
    fn dma_buf_same_object_layout() {
        assert_eq!(size_of::<dma_buf_same_object>(), 16);
        assert_eq!(align_of::<dma_buf_same_object>(), 8);
        assert_eq!(offset_of!(dma_buf_same_object, fd), 0);
        assert_eq!(offset_of!(dma_buf_same_object, flags), 4);
        assert_eq!(offset_of!(dma_buf_same_object, result), 8);
    }

    #[test]
    fn result_bits() {
        assert_eq!(
            [
                DMA_BUF_SAME_FILE,
                DMA_BUF_SAME_OBJECT,
                DMA_BUF_SAME_STORAGE,
                DMA_BUF_STORAGE_COMPARED
            ],
            [1, 2, 4, 8]
        );
        assert_eq!(DMA_BUF_SAME_ALL, 0xf);
        assert_eq!(DRM_FILE_SAME_ALL, 7);
    }

    #[test]
    fn ioctl_numbers() {
        // _IOC(dir=READ|WRITE (3), type, nr, size) on x86: dir<<30 | size<<16 | type<<8 | nr
        assert_eq!(
            DRM_IOCTL_FILE_SAME as u64,
            (3 << 30) | (16 << 16) | (0x64 << 8) | 0xD3
        );
        assert_eq!(
            DMA_BUF_IOCTL_SAME_OBJECT as u64,
            (3 << 30) | (16 << 16) | (0x62 << 8) | 4
        );
    }
}
