//! Fences for the tests of the storage synchronization protocol: `sw_sync` timelines
//! (`CONFIG_SW_SYNC`, debugfs `sync/sw_sync`) and the dma-buf sync_file ioctls
//! (`DMA_BUF_IOCTL_EXPORT_SYNC_FILE`, `DMA_BUF_IOCTL_IMPORT_SYNC_FILE`). Errors are returned
//! with their errno.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, FromRawFd, OwnedFd};

use rustix::event::{poll, PollFd, PollFlags};
use rustix::fs::{Mode, OFlags};
use rustix::ioctl::{opcode, Opcode, Setter, Updater};

/// Where debugfs offers `sw_sync` timelines.
pub const SW_SYNC: &str = "/sys/kernel/debug/sync/sw_sync";

/// `struct sw_sync_create_fence_data` (drivers/dma-buf/sw_sync.c).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
struct sw_sync_create_fence_data {
    value: u32,
    name: [u8; 32],
    fence: i32,
}

const SW_SYNC_IOC_CREATE_FENCE: Opcode = opcode::read_write::<sw_sync_create_fence_data>(b'W', 0);
const SW_SYNC_IOC_INC: Opcode = opcode::write::<u32>(b'W', 1);

/// `struct dma_buf_export_sync_file` / `struct dma_buf_import_sync_file`: the same layout.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
struct dma_buf_sync_file {
    flags: u32,
    fd: i32,
}

/// `DMA_BUF_SYNC_READ`: the access reads.
pub const READ: u32 = 1;
/// `DMA_BUF_SYNC_WRITE`: the access writes.
pub const WRITE: u32 = 2;

const DMA_BUF_IOCTL_EXPORT_SYNC_FILE: Opcode = opcode::read_write::<dma_buf_sync_file>(b'b', 2);
const DMA_BUF_IOCTL_IMPORT_SYNC_FILE: Opcode = opcode::write::<dma_buf_sync_file>(b'b', 3);

/// A `sw_sync` timeline: fences on it signal when the timeline is advanced past them.
pub struct Timeline {
    fd: OwnedFd,
}

impl Timeline {
    /// Opens a new timeline at 0.
    pub fn new() -> io::Result<Self> {
        let fd = rustix::fs::open(SW_SYNC, OFlags::RDWR | OFlags::CLOEXEC, Mode::empty())?;
        Ok(Self { fd })
    }

    /// A sync_file that signals when the timeline reaches `value`.
    pub fn fence(&self, value: u32) -> io::Result<OwnedFd> {
        let mut data = sw_sync_create_fence_data {
            value,
            name: *b"rust-tests\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0",
            fence: -1,
        };
        // SAFETY: `data` has the layout the opcode encodes.
        unsafe {
            rustix::ioctl::ioctl(
                &self.fd,
                Updater::<{ SW_SYNC_IOC_CREATE_FENCE }, _>::new(&mut data),
            )
        }?;
        // SAFETY: the kernel installed a new fd for us.
        Ok(unsafe { OwnedFd::from_raw_fd(data.fence) })
    }

    /// Advances the timeline by `count`, signalling the fences it passes.
    pub fn advance(&self, count: u32) -> io::Result<()> {
        // SAFETY: SW_SYNC_IOC_INC takes a `__u32`.
        unsafe { rustix::ioctl::ioctl(&self.fd, Setter::<{ SW_SYNC_IOC_INC }, u32>::new(count)) }?;
        Ok(())
    }
}

/// The implicit fences of `dmabuf` that an access with `flags` (`READ` or `WRITE`) waits for,
/// as a sync_file (`DMA_BUF_IOCTL_EXPORT_SYNC_FILE`).
pub fn export_fences(dmabuf: impl AsFd, flags: u32) -> io::Result<OwnedFd> {
    let mut arg = dma_buf_sync_file { flags, fd: -1 };
    // SAFETY: `arg` has the layout the opcode encodes.
    unsafe {
        rustix::ioctl::ioctl(
            dmabuf,
            Updater::<{ DMA_BUF_IOCTL_EXPORT_SYNC_FILE }, _>::new(&mut arg),
        )
    }?;
    // SAFETY: the kernel installed a new fd for us.
    Ok(unsafe { OwnedFd::from_raw_fd(arg.fd) })
}

/// Attaches the sync_file `fence` to `dmabuf` as a fence of an access with `flags`
/// (`DMA_BUF_IOCTL_IMPORT_SYNC_FILE`).
pub fn attach_fence(dmabuf: impl AsFd, flags: u32, fence: BorrowedFd<'_>) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let arg = dma_buf_sync_file {
        flags,
        fd: fence.as_raw_fd(),
    };
    // SAFETY: `arg` has the layout the opcode encodes.
    unsafe {
        rustix::ioctl::ioctl(
            dmabuf,
            Setter::<{ DMA_BUF_IOCTL_IMPORT_SYNC_FILE }, _>::new(arg),
        )
    }?;
    Ok(())
}

/// Whether a sync_file has signalled, or a dma-buf has no unsignalled fence that a reader
/// (`PollFlags::IN`) or a writer (`PollFlags::OUT`) waits for: poll() without waiting.
pub fn ready(fd: impl AsFd, events: PollFlags) -> io::Result<bool> {
    let mut fds = [PollFd::new(&fd, events)];
    let n = poll(&mut fds, Some(&rustix::event::Timespec::default()))?;
    Ok(n == 1 && fds[0].revents().intersects(events))
}
