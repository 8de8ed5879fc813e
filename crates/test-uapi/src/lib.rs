//! The Linux uAPI structs that `rust-tests` and `fdsame-bench` both need and that no crate among
//! their dependencies provides: `struct dma_heap_allocation_data` (include/uapi/linux/dma-heap.h),
//! `struct udmabuf_create` (include/uapi/linux/udmabuf.h) and the three V4L2 structs of
//! `VIDIOC_QUERYCAP`, `VIDIOC_REQBUFS` and `VIDIOC_EXPBUF` (include/uapi/linux/videodev2.h).
//!
//! Declared once here, with their sizes, the offsets the users rely on and the ioctl numbers
//! checked at compile time against the values of the C headers (x86-64). [`fixtures`] issues
//! them: fallible constructors that rust-tests `expect` and the bench reports as n/a.

#![allow(non_camel_case_types)]

use std::mem::{offset_of, size_of};

use rustix::ioctl::{opcode, Opcode};

pub mod fixtures;

/// `struct dma_heap_allocation_data`.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct dma_heap_allocation_data {
    /// Size of the buffer to allocate.
    pub len: u64,
    /// Out: the dma-buf.
    pub fd: u32,
    /// `O_RDWR`, `O_CLOEXEC` for the new dma-buf.
    pub fd_flags: u32,
    /// Heap flags (none defined).
    pub heap_flags: u64,
}

/// `DMA_HEAP_IOCTL_ALLOC = _IOWR('H', 0x0, struct dma_heap_allocation_data)`.
pub const DMA_HEAP_IOCTL_ALLOC: Opcode = opcode::read_write::<dma_heap_allocation_data>(b'H', 0);

/// `struct udmabuf_create`.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct udmabuf_create {
    /// The sealed (`F_SEAL_SHRINK`) memfd.
    pub memfd: u32,
    /// `UDMABUF_FLAGS_CLOEXEC`.
    pub flags: u32,
    /// Page-aligned offset into the memfd.
    pub offset: u64,
    /// Page-aligned size.
    pub size: u64,
}

/// `UDMABUF_FLAGS_CLOEXEC`.
pub const UDMABUF_FLAGS_CLOEXEC: u32 = 0x01;
/// `UDMABUF_CREATE = _IOW('u', 0x42, struct udmabuf_create)`: returns the new dma-buf.
pub const UDMABUF_CREATE: Opcode = opcode::write::<udmabuf_create>(b'u', 0x42);

/// `struct v4l2_capability`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct v4l2_capability {
    /// Driver name (NUL-terminated).
    pub driver: [u8; 16],
    /// Card name.
    pub card: [u8; 32],
    /// Bus information.
    pub bus_info: [u8; 32],
    /// `KERNEL_VERSION`.
    pub version: u32,
    /// Capabilities of the physical device.
    pub capabilities: u32,
    /// Capabilities of this device node (valid with `V4L2_CAP_DEVICE_CAPS`).
    pub device_caps: u32,
    /// Zero.
    pub reserved: [u32; 3],
}

/// `struct v4l2_requestbuffers`.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct v4l2_requestbuffers {
    /// In: buffers wanted; out: buffers allocated.
    pub count: u32,
    /// `enum v4l2_buf_type`.
    pub type_: u32,
    /// `enum v4l2_memory`.
    pub memory: u32,
    /// Out: `V4L2_BUF_CAP_*`.
    pub capabilities: u32,
    /// `V4L2_MEMORY_FLAG_*`.
    pub flags: u8,
    /// Zero.
    pub reserved: [u8; 3],
}

/// `struct v4l2_exportbuffer`.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct v4l2_exportbuffer {
    /// `enum v4l2_buf_type`.
    pub type_: u32,
    /// Buffer index.
    pub index: u32,
    /// Plane index (0 for single-planar formats).
    pub plane: u32,
    /// `O_CLOEXEC` and the access mode of the new dma-buf.
    pub flags: u32,
    /// Out: the dma-buf.
    pub fd: i32,
    /// Zero.
    pub reserved: [u32; 11],
}

/// `VIDIOC_QUERYCAP = _IOR('V', 0, struct v4l2_capability)`.
pub const VIDIOC_QUERYCAP: Opcode = opcode::read::<v4l2_capability>(b'V', 0);
/// `VIDIOC_REQBUFS = _IOWR('V', 8, struct v4l2_requestbuffers)`.
pub const VIDIOC_REQBUFS: Opcode = opcode::read_write::<v4l2_requestbuffers>(b'V', 8);
/// `VIDIOC_EXPBUF = _IOWR('V', 16, struct v4l2_exportbuffer)`.
pub const VIDIOC_EXPBUF: Opcode = opcode::read_write::<v4l2_exportbuffer>(b'V', 16);

/// `V4L2_BUF_TYPE_VIDEO_CAPTURE`.
pub const V4L2_BUF_TYPE_VIDEO_CAPTURE: u32 = 1;
/// `V4L2_BUF_TYPE_VIDEO_OUTPUT`.
pub const V4L2_BUF_TYPE_VIDEO_OUTPUT: u32 = 2;
/// `V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE`.
pub const V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE: u32 = 9;
/// `V4L2_BUF_TYPE_VIDEO_OUTPUT_MPLANE`.
pub const V4L2_BUF_TYPE_VIDEO_OUTPUT_MPLANE: u32 = 10;
/// `V4L2_MEMORY_MMAP`.
pub const V4L2_MEMORY_MMAP: u32 = 1;
/// `V4L2_CAP_VIDEO_M2M_MPLANE`.
pub const V4L2_CAP_VIDEO_M2M_MPLANE: u32 = 0x0000_4000;
/// `V4L2_CAP_VIDEO_M2M`.
pub const V4L2_CAP_VIDEO_M2M: u32 = 0x0000_8000;
/// `V4L2_CAP_DEVICE_CAPS`.
pub const V4L2_CAP_DEVICE_CAPS: u32 = 0x8000_0000;

// The x86-64 layouts and numbers of the C headers.
const _: () = {
    assert!(size_of::<dma_heap_allocation_data>() == 24);
    assert!(offset_of!(dma_heap_allocation_data, fd) == 8);
    assert!(offset_of!(dma_heap_allocation_data, heap_flags) == 16);
    assert!(size_of::<udmabuf_create>() == 24);
    assert!(offset_of!(udmabuf_create, offset) == 8);
    assert!(size_of::<v4l2_capability>() == 104);
    assert!(offset_of!(v4l2_capability, capabilities) == 84);
    assert!(offset_of!(v4l2_capability, device_caps) == 88);
    assert!(size_of::<v4l2_requestbuffers>() == 20);
    assert!(offset_of!(v4l2_requestbuffers, memory) == 8);
    assert!(offset_of!(v4l2_requestbuffers, flags) == 16);
    assert!(size_of::<v4l2_exportbuffer>() == 64);
    assert!(offset_of!(v4l2_exportbuffer, flags) == 12);
    assert!(offset_of!(v4l2_exportbuffer, fd) == 16);
    assert!(DMA_HEAP_IOCTL_ALLOC as u64 == 0xc018_4800);
    assert!(UDMABUF_CREATE as u64 == 0x4018_7542);
    assert!(VIDIOC_QUERYCAP as u64 == 0x8068_5600);
    assert!(VIDIOC_REQBUFS as u64 == 0xc014_5608);
    assert!(VIDIOC_EXPBUF as u64 == 0xc040_5610);
};
