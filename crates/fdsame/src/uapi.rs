//! Raw uAPI of the kernel series: `DRM_IOCTL_FILE_SAME` (include/uapi/drm/drm.h) and
//! `DMA_BUF_IOCTL_SAME_OBJECT` (include/uapi/linux/dma-buf.h).
//!
//! The structs mirror the C header bit for bit; the ioctl numbers are computed from their
//! components (group, number, direction, size), as the C macros compute them.

#![allow(non_camel_case_types)]

use rustix::ioctl::{opcode, Opcode};

/// `struct drm_file_same`: argument of [`DRM_IOCTL_FILE_SAME`].
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct drm_file_same {
    /// In: the other file descriptor, of any kind (O_PATH too).
    pub fd: i32,
    /// In: must be 0.
    pub flags: u32,
    /// Out: `DRM_FILE_SAME_*` bits.
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
pub const DRM_FILE_SAME_NR: u8 = 0xD4;
/// `DRM_IOWR(0xD4, struct drm_file_same)`.
pub const DRM_IOCTL_FILE_SAME: Opcode =
    opcode::read_write::<drm_file_same>(DRM_IOCTL_BASE, DRM_FILE_SAME_NR);

/// `struct dma_buf_same_object`: argument of [`DMA_BUF_IOCTL_SAME_OBJECT`].
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct dma_buf_same_object {
    /// In: the other file descriptor, of any kind.
    pub fd: i32,
    /// In: must be 0.
    pub flags: u32,
    /// Out: `DMA_BUF_SAME_*` bits.
    pub result: u64,
}

/// Same `struct file`.
pub const DMA_BUF_SAME_FILE: u64 = 1 << 0;
/// Same `struct dma_buf`.
pub const DMA_BUF_SAME_OBJECT: u64 = 1 << 1;
/// Every bit the kernel may set in `dma_buf_same_object::result`.
pub const DMA_BUF_SAME_ALL: u64 = DMA_BUF_SAME_FILE | DMA_BUF_SAME_OBJECT;

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
    fn ioctl_numbers() {
        // _IOC(dir=READ|WRITE (3), type, nr, size) on x86: dir<<30 | size<<16 | type<<8 | nr
        assert_eq!(
            DRM_IOCTL_FILE_SAME as u64,
            (3 << 30) | (16 << 16) | (0x64 << 8) | 0xD4
        );
        assert_eq!(
            DMA_BUF_IOCTL_SAME_OBJECT as u64,
            (3 << 30) | (16 << 16) | (0x62 << 8) | 4
        );
    }
}
