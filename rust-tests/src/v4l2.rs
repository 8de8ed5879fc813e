//! The few V4L2 ioctls the videobuf2 tests need, through rustix: `VIDIOC_QUERYCAP` (to find
//! vim2m by its driver name), `VIDIOC_REQBUFS` (MMAP buffers) and `VIDIOC_EXPBUF` (export a
//! plane as a dma-buf: vb2_core_expbuf() calls dma_buf_export() on every call, so one plane
//! exported twice is two dma-bufs over the same memory).
//!
//! The structs mirror include/uapi/linux/videodev2.h and live in crate `test-uapi`, where their
//! sizes, the offsets the tests rely on and the ioctl numbers are checked at compile time
//! against the values of the C header (x86-64).

use std::fs;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use rustix::fs::{Mode, OFlags};

/// Driver name of vim2m in `v4l2_capability::driver`.
pub const VIM2M: &str = "vim2m";

/// The structs, ioctl numbers and constants of include/uapi/linux/videodev2.h, declared once
/// (with their layouts asserted) in crate `test-uapi`, shared with the benchmark.
pub use test_uapi::{
    v4l2_capability, v4l2_exportbuffer, v4l2_requestbuffers, V4L2_BUF_TYPE_VIDEO_CAPTURE,
    V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE, V4L2_BUF_TYPE_VIDEO_OUTPUT,
    V4L2_BUF_TYPE_VIDEO_OUTPUT_MPLANE, V4L2_CAP_DEVICE_CAPS, V4L2_CAP_VIDEO_M2M,
    V4L2_CAP_VIDEO_M2M_MPLANE, V4L2_MEMORY_MMAP, VIDIOC_EXPBUF, VIDIOC_QUERYCAP, VIDIOC_REQBUFS,
};

/// `VIDIOC_QUERYCAP` on `fd`.
pub fn querycap(fd: BorrowedFd<'_>) -> io::Result<v4l2_capability> {
    test_uapi::fixtures::v4l2_querycap(fd)
}

/// The driver name of a `v4l2_capability`.
pub fn driver_name(cap: &v4l2_capability) -> String {
    let end = cap.driver.iter().position(|&b| b == 0).unwrap_or(16);
    String::from_utf8_lossy(&cap.driver[..end]).into_owned()
}

/// Every `/dev/videoN` with its driver name (computed on each call; the tests call it once).
pub fn video_nodes() -> Vec<(PathBuf, String)> {
    let mut names: Vec<String> = fs::read_dir("/dev")
        .unwrap_or_else(|e| panic!("reading /dev: {e}"))
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("video"))
        .collect();
    names.sort();
    names
        .into_iter()
        .map(|n| {
            let path = Path::new("/dev").join(n);
            let fd = rustix::fs::open(&path, OFlags::RDWR | OFlags::CLOEXEC, Mode::empty())
                .unwrap_or_else(|e| panic!("opening {}: {e}", path.display()));
            let cap = querycap(fd.as_fd())
                .unwrap_or_else(|e| panic!("VIDIOC_QUERYCAP on {}: {e}", path.display()));
            (path, driver_name(&cap))
        })
        .collect()
}

/// One open of the vim2m mem2mem device (one mem2mem context, with its own two queues).
#[derive(Debug)]
pub struct Vim2m {
    fd: OwnedFd,
    path: PathBuf,
    /// The capture queue's buffer type (single- or multi-planar, as the device says).
    pub capture: u32,
    /// The output queue's buffer type.
    pub output: u32,
}

impl AsFd for Vim2m {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl Vim2m {
    /// Opens the vim2m node, found by its `VIDIOC_QUERYCAP` driver name (never by number).
    /// Panics (a test failure, never a skip) when there is none.
    pub fn open() -> Vim2m {
        let nodes = video_nodes();
        let path = nodes
            .iter()
            .find(|(_, d)| d == VIM2M)
            .map(|(p, _)| p.clone())
            .unwrap_or_else(|| {
                panic!(
                    "no V4L2 node of driver {VIM2M:?} in /dev (found: {nodes:?}); the guest \
                     kernel must have CONFIG_VIDEO_VIM2M=y"
                )
            });
        let fd = rustix::fs::open(&path, OFlags::RDWR | OFlags::CLOEXEC, Mode::empty())
            .unwrap_or_else(|e| panic!("opening {}: {e}", path.display()));
        let cap = querycap(fd.as_fd()).expect("VIDIOC_QUERYCAP");
        let caps = if cap.capabilities & V4L2_CAP_DEVICE_CAPS != 0 {
            cap.device_caps
        } else {
            cap.capabilities
        };
        let (capture, output) = if caps & V4L2_CAP_VIDEO_M2M_MPLANE != 0 {
            (
                V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE,
                V4L2_BUF_TYPE_VIDEO_OUTPUT_MPLANE,
            )
        } else if caps & V4L2_CAP_VIDEO_M2M != 0 {
            (V4L2_BUF_TYPE_VIDEO_CAPTURE, V4L2_BUF_TYPE_VIDEO_OUTPUT)
        } else {
            panic!(
                "{}: vim2m without V4L2_CAP_VIDEO_M2M(_MPLANE): caps {caps:#x}",
                path.display()
            )
        };
        Vim2m {
            fd,
            path,
            capture,
            output,
        }
    }

    /// The device node.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `VIDIOC_REQBUFS` of `count` MMAP buffers on queue `type_`; returns how many the driver
    /// allocated (asserted to be at least `count`).
    pub fn reqbufs(&self, type_: u32, count: u32) -> u32 {
        let n = test_uapi::fixtures::v4l2_reqbufs(self.fd.as_fd(), type_, count)
            .unwrap_or_else(|e| panic!("VIDIOC_REQBUFS type {type_} count {count}: {e}"));
        assert!(
            n >= count,
            "VIDIOC_REQBUFS type {type_}: asked {count}, got {n}"
        );
        n
    }

    /// `VIDIOC_EXPBUF` of plane `plane` of buffer `index` on queue `type_`: a new dma-buf.
    pub fn expbuf(&self, type_: u32, index: u32, plane: u32) -> OwnedFd {
        test_uapi::fixtures::v4l2_expbuf(self.fd.as_fd(), type_, index, plane).unwrap_or_else(|e| {
            panic!(
                "VIDIOC_EXPBUF on {} type {type_} index {index} plane {plane}: {e}",
                self.path.display()
            )
        })
    }

    /// The raw fd number.
    pub fn raw(&self) -> i32 {
        self.fd.as_raw_fd()
    }
}
