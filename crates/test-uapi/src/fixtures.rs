//! The fixtures the guest tests and the benchmark both make, each a fallible constructor
//! (`io::Result`): the tests `expect` what they need, the benchmark reports a row as n/a with
//! the errno. dma-heap buffers, sealed memfds and udmabufs over them, and the V4L2 calls that
//! export a videobuf2 plane.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use rustix::fs::{MemfdFlags, SealFlags};
use rustix::ioctl::{Getter, Updater};

use crate::*;

/// A `len`-byte dma-buf from the open dma-heap `heap` (`DMA_HEAP_IOCTL_ALLOC`).
pub fn heap_alloc(heap: BorrowedFd<'_>, len: u64) -> io::Result<OwnedFd> {
    let mut data = dma_heap_allocation_data {
        len,
        fd_flags: (libc::O_RDWR | libc::O_CLOEXEC) as u32,
        ..Default::default()
    };
    // SAFETY: `data` has the layout the opcode encodes (asserted in the crate root).
    unsafe { rustix::ioctl::ioctl(heap, Updater::<{ DMA_HEAP_IOCTL_ALLOC }, _>::new(&mut data)) }?;
    // SAFETY: the kernel installed a new fd for us.
    Ok(unsafe { OwnedFd::from_raw_fd(data.fd as RawFd) })
}

/// A memfd of `pages` pages sealed with `F_SEAL_SHRINK`, as `UDMABUF_CREATE` requires.
pub fn sealed_memfd(pages: usize) -> io::Result<OwnedFd> {
    let fd = rustix::fs::memfd_create(
        "fdsame-udmabuf",
        MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING,
    )?;
    rustix::fs::ftruncate(&fd, (pages * rustix::param::page_size()) as u64)?;
    rustix::fs::fcntl_add_seals(&fd, SealFlags::SHRINK)?;
    Ok(fd)
}

/// `UDMABUF_CREATE` on the open `/dev/udmabuf` `dev`: a udmabuf over pages
/// `first .. first + pages` of the sealed `memfd`.
pub fn udmabuf_range(
    dev: BorrowedFd<'_>,
    memfd: BorrowedFd<'_>,
    first: usize,
    pages: usize,
) -> io::Result<OwnedFd> {
    let page = rustix::param::page_size();
    let mut create = udmabuf_create {
        memfd: memfd.as_raw_fd() as u32,
        flags: UDMABUF_FLAGS_CLOEXEC,
        offset: (first * page) as u64,
        size: (pages * page) as u64,
    };
    // UDMABUF_CREATE returns the new fd as the ioctl's return value, which rustix's typed
    // wrappers do not give back: a raw ioctl(2).
    // SAFETY: `create` is a valid `struct udmabuf_create` for the call.
    let r = unsafe {
        libc::ioctl(
            dev.as_raw_fd(),
            UDMABUF_CREATE as _,
            &mut create as *mut udmabuf_create,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel installed a new fd for us.
    Ok(unsafe { OwnedFd::from_raw_fd(r) })
}

/// `VIDIOC_QUERYCAP` on `fd`.
pub fn v4l2_querycap(fd: BorrowedFd<'_>) -> io::Result<v4l2_capability> {
    // SAFETY: VIDIOC_QUERYCAP writes a `struct v4l2_capability` (layout asserted).
    Ok(unsafe { rustix::ioctl::ioctl(fd, Getter::<{ VIDIOC_QUERYCAP }, v4l2_capability>::new()) }?)
}

/// `VIDIOC_REQBUFS` of `count` MMAP buffers on queue `type_`: how many the driver allocated.
pub fn v4l2_reqbufs(fd: BorrowedFd<'_>, type_: u32, count: u32) -> io::Result<u32> {
    let mut rb = v4l2_requestbuffers {
        count,
        type_,
        memory: V4L2_MEMORY_MMAP,
        ..Default::default()
    };
    // SAFETY: `rb` has the layout the opcode encodes (asserted).
    unsafe { rustix::ioctl::ioctl(fd, Updater::<{ VIDIOC_REQBUFS }, _>::new(&mut rb)) }?;
    Ok(rb.count)
}

/// `VIDIOC_EXPBUF` of plane `plane` of buffer `index` on queue `type_`: a new dma-buf on every
/// call (vb2_core_expbuf() calls dma_buf_export() each time).
pub fn v4l2_expbuf(fd: BorrowedFd<'_>, type_: u32, index: u32, plane: u32) -> io::Result<OwnedFd> {
    let flags = (libc::O_RDWR | libc::O_CLOEXEC) as u32;
    let mut eb = v4l2_exportbuffer {
        type_,
        index,
        plane,
        flags,
        fd: -1,
        ..Default::default()
    };
    // SAFETY: `eb` has the layout the opcode encodes (asserted).
    unsafe { rustix::ioctl::ioctl(fd, Updater::<{ VIDIOC_EXPBUF }, _>::new(&mut eb)) }?;
    if eb.fd < 0 {
        return Err(io::Error::from_raw_os_error(libc::EBADF)); // no fd came back
    }
    // SAFETY: the kernel installed a new fd for us.
    Ok(unsafe { OwnedFd::from_raw_fd(eb.fd) })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sealed memfd refuses to shrink; a closed dma-heap fd is an error, not a panic.
    #[test]
    fn memfd_is_sealed_and_errors_are_returned() {
        let m = sealed_memfd(2).unwrap();
        assert_eq!(
            rustix::fs::fstat(&m).unwrap().st_size as usize,
            2 * rustix::param::page_size()
        );
        assert!(rustix::fs::ftruncate(&m, 0).is_err());
        let f = std::fs::File::open("/dev/null").unwrap();
        use std::os::fd::AsFd;
        assert!(heap_alloc(f.as_fd(), 4096).is_err());
        assert!(v4l2_querycap(f.as_fd()).is_err());
    }
}
