//! Helpers for the in-guest kernel tests of `DRM_IOCTL_FILE_SAME` and
//! `DMA_BUF_IOCTL_SAME_OBJECT`.
//!
//! These helpers issue the ioctls themselves (through rustix, or libc where a raw or bad
//! pointer is needed) and depend on nothing of crate `fdsame` but its raw bindings,
//! [`fdsame::uapi`]. The tests that use them run inside a QEMU guest booted with the patched
//! kernel (vkms, vgem and vim2m built in, `/dev/dma_heap/system`, `/dev/udmabuf`); see
//! README.md.
//!
//! Every helper that needs a device panics with a clear message when the device is missing:
//! a missing node is a failure of the test environment, never a reason to skip.

#![allow(non_camel_case_types)]

pub mod pci;
pub mod sync;
pub mod v4l2;
pub mod vkms_configfs;

use std::ffi::c_void;
use std::fs;
use std::io::{self, IoSlice, IoSliceMut};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

use drm::buffer::{Buffer, DrmFourcc, Handle as BufferHandle};
use drm::control::Device as _;
use drm::Device as _;
use rustix::fs::{Mode, OFlags};
use rustix::ioctl::{opcode, Opcode, Updater};
use rustix::mm::{MapFlags, MprotectFlags, ProtFlags};

pub use fdsame::uapi;
use fdsame::uapi::{
    dma_buf_same_object, drm_file_same, DMA_BUF_IOCTL_SAME_OBJECT, DRM_IOCTL_FILE_SAME,
};

/// Where the DRM nodes live.
pub const DRI_DIR: &str = "/dev/dri";
/// The system dma-heap.
pub const DMA_HEAP_SYSTEM: &str = "/dev/dma_heap/system";
/// The udmabuf misc device.
pub const UDMABUF_DEV: &str = "/dev/udmabuf";

/// Driver name of vkms as reported by `DRM_IOCTL_VERSION`.
pub const VKMS: &str = "vkms";
/// Driver name of vgem as reported by `DRM_IOCTL_VERSION`.
pub const VGEM: &str = "vgem";

/// Must be the first call of every test: these tests only make sense inside the QEMU guest
/// booted with the patched kernel. Panics loudly (instead of passing or skipping) when run
/// anywhere without `/dev/dri`.
pub fn require_guest() {
    if !Path::new(DRI_DIR).is_dir() {
        panic!(
            "{DRI_DIR} does not exist: the rust-tests binaries must run INSIDE the QEMU guest \
             booted with the patched kernel (vkms + vgem + vim2m built in, \
             /dev/dma_heap/system, /dev/udmabuf), as root. They are built on the host with \
             `cargo test -p rust-tests --no-run` and never run there. See rust-tests/README.md."
        );
    }
}

// ---------------------------------------------------------------------------------------------
// DRM nodes
// ---------------------------------------------------------------------------------------------

/// Kind of DRM minor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeKind {
    /// Primary node, `/dev/dri/cardN`.
    Card,
    /// Render node, `/dev/dri/renderDN`.
    Render,
}

impl NodeKind {
    fn prefix(self) -> &'static str {
        match self {
            NodeKind::Card => "card",
            NodeKind::Render => "renderD",
        }
    }
}

/// An open DRM node (owns its fd). Implements the drm-rs device traits.
#[derive(Debug)]
pub struct DrmNode {
    fd: OwnedFd,
    path: PathBuf,
}

impl AsFd for DrmNode {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl drm::Device for DrmNode {}
impl drm::control::Device for DrmNode {}

impl DrmNode {
    /// Opens `path` read-write, close-on-exec.
    pub fn open(path: impl AsRef<Path>) -> io::Result<Self> {
        let path = path.as_ref().to_path_buf();
        let fd = rustix::fs::open(&path, OFlags::RDWR | OFlags::CLOEXEC, Mode::empty())?;
        Ok(Self { fd, path })
    }

    /// The device node this was opened from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The raw fd number.
    pub fn raw(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// A second, independent open of the same node (new `struct file`, new `drm_file`).
    pub fn reopen(&self) -> Self {
        Self::open(&self.path).unwrap_or_else(|e| panic!("re-opening {}: {e}", self.path.display()))
    }

    /// `dup(2)` of the fd (same `struct file`).
    pub fn dup(&self) -> OwnedFd {
        dup(self.as_fd())
    }

    /// Driver name from `DRM_IOCTL_VERSION`.
    pub fn driver_name(&self) -> io::Result<String> {
        Ok(self.get_driver()?.name().to_string_lossy().into_owned())
    }
}

/// Every DRM node in `/dev/dri` with its driver name, in directory order (computed once).
pub fn dri_nodes() -> &'static [(PathBuf, NodeKind, String)] {
    static NODES: OnceLock<Vec<(PathBuf, NodeKind, String)>> = OnceLock::new();
    NODES.get_or_init(|| {
        require_guest();
        let mut out = Vec::new();
        let entries = fs::read_dir(DRI_DIR).unwrap_or_else(|e| panic!("reading {DRI_DIR}: {e}"));
        let mut names: Vec<String> = entries
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        for name in names {
            let kind = if name.starts_with(NodeKind::Render.prefix()) {
                NodeKind::Render
            } else if name.starts_with(NodeKind::Card.prefix()) {
                NodeKind::Card
            } else {
                continue;
            };
            let path = Path::new(DRI_DIR).join(&name);
            let node =
                DrmNode::open(&path).unwrap_or_else(|e| panic!("opening {}: {e}", path.display()));
            let driver = node
                .driver_name()
                .unwrap_or_else(|e| panic!("DRM_IOCTL_VERSION on {}: {e}", path.display()));
            out.push((path, kind, driver));
        }
        out
    })
}

/// Path of the `kind` node whose driver is `driver`. Panics (test failure) when missing.
pub fn find_node(driver: &str, kind: NodeKind) -> PathBuf {
    let nodes = dri_nodes();
    nodes
        .iter()
        .find(|(_, k, d)| *k == kind && d == driver)
        .map(|(p, _, _)| p.clone())
        .unwrap_or_else(|| {
            panic!(
                "no {kind:?} node of driver {driver:?} in {DRI_DIR} (found: {nodes:?}); \
                 the guest kernel must have vkms and vgem built in"
            )
        })
}

/// Opens the node of `driver`/`kind`, panicking if it is missing or cannot be opened.
pub fn open_node(driver: &str, kind: NodeKind) -> DrmNode {
    let path = find_node(driver, kind);
    DrmNode::open(&path).unwrap_or_else(|e| panic!("opening {}: {e}", path.display()))
}

/// A fresh open of the vkms primary node.
pub fn open_vkms_card() -> DrmNode {
    open_node(VKMS, NodeKind::Card)
}

/// A fresh open of the vgem primary node.
pub fn open_vgem_card() -> DrmNode {
    open_node(VGEM, NodeKind::Card)
}

/// A fresh open of the vgem render node.
pub fn open_vgem_render() -> DrmNode {
    open_node(VGEM, NodeKind::Render)
}

// ---------------------------------------------------------------------------------------------
// The two ioctls
// ---------------------------------------------------------------------------------------------

/// `DRM_IOCTL_FILE_SAME` on `fd` with a caller-built argument (the kernel writes `result`).
pub fn file_same_arg(fd: impl AsFd, arg: &mut drm_file_same) -> io::Result<()> {
    // SAFETY: `arg` is a valid `struct drm_file_same`, the layout the opcode encodes.
    unsafe {
        rustix::ioctl::ioctl(
            fd,
            Updater::<{ DRM_IOCTL_FILE_SAME }, drm_file_same>::new(arg),
        )
    }?;
    Ok(())
}

/// `DRM_IOCTL_FILE_SAME` on `fd`: is `other` the same file / client / device? Returns the
/// `DRM_FILE_SAME_*` result bits.
pub fn file_same(fd: impl AsFd, other: RawFd, flags: u32) -> io::Result<u64> {
    let mut arg = drm_file_same {
        fd: other,
        flags,
        result: 0,
    };
    file_same_arg(fd, &mut arg)?;
    Ok(arg.result)
}

/// `DMA_BUF_IOCTL_SAME_OBJECT` on `fd` with a caller-built argument.
pub fn dmabuf_same_arg(fd: impl AsFd, arg: &mut dma_buf_same_object) -> io::Result<()> {
    // SAFETY: `arg` is a valid `struct dma_buf_same_object`, the layout the opcode encodes.
    unsafe {
        rustix::ioctl::ioctl(
            fd,
            Updater::<{ DMA_BUF_IOCTL_SAME_OBJECT }, dma_buf_same_object>::new(arg),
        )
    }?;
    Ok(())
}

/// `DMA_BUF_IOCTL_SAME_OBJECT` on the dma-buf `fd`: is `other` the same file / dma_buf?
/// Returns the `DMA_BUF_SAME_*` result bits.
pub fn dmabuf_same(fd: impl AsFd, other: RawFd, flags: u32) -> io::Result<u64> {
    let mut arg = dma_buf_same_object {
        fd: other,
        flags,
        result: 0,
    };
    dmabuf_same_arg(fd, &mut arg)?;
    Ok(arg.result)
}

/// Issues `request` on `fd` with the raw (possibly bad) argument pointer `ptr` via libc.
///
/// # Safety
///
/// `ptr` must either point to memory of this process that the kernel may read and write as
/// the argument of `request`, or be a pointer the kernel cannot access at all (unmapped,
/// `PROT_NONE`, read-only, outside the user address space), so that it fails with EFAULT.
pub unsafe fn raw_ioctl(fd: impl AsFd, request: Opcode, ptr: *mut c_void) -> io::Result<i32> {
    // SAFETY: see the function's contract; the kernel validates `ptr` itself.
    let ret = unsafe { libc::ioctl(fd.as_fd().as_raw_fd(), request as _, ptr) };
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// Asserts that `res` is the error `errno`, with `what` in the message.
#[track_caller]
pub fn assert_errno<T: std::fmt::Debug>(res: io::Result<T>, errno: i32, what: &str) {
    match res {
        Ok(v) => panic!(
            "{what}: expected {} (errno {errno}), got success {v:?}",
            io::Error::from_raw_os_error(errno)
        ),
        Err(e) => assert_eq!(
            e.raw_os_error(),
            Some(errno),
            "{what}: expected {} (errno {errno}), got {e}",
            io::Error::from_raw_os_error(errno)
        ),
    }
}

// ---------------------------------------------------------------------------------------------
// Other kinds of fds
// ---------------------------------------------------------------------------------------------

/// `dup(2)` (close-on-exec).
pub fn dup(fd: BorrowedFd<'_>) -> OwnedFd {
    rustix::io::fcntl_dupfd_cloexec(fd, 0).expect("dup")
}

/// An eventfd.
pub fn eventfd() -> OwnedFd {
    rustix::event::eventfd(0, rustix::event::EventfdFlags::CLOEXEC).expect("eventfd")
}

/// A regular file in the temporary directory (unlinked right after creation).
pub fn regular_file() -> OwnedFd {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let path = std::env::temp_dir().join(format!(
        "rust-tests-fdsame-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let file = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&path)
        .unwrap_or_else(|e| panic!("creating {}: {e}", path.display()));
    let _ = fs::remove_file(&path);
    file.into()
}

/// An `O_PATH` fd of `path`.
pub fn o_path(path: impl AsRef<Path>) -> OwnedFd {
    let path = path.as_ref();
    rustix::fs::open(path, OFlags::PATH | OFlags::CLOEXEC, Mode::empty())
        .unwrap_or_else(|e| panic!("O_PATH open of {}: {e}", path.display()))
}

/// Reopens `fd` through `/proc/self/fd/N` (a new open of the same inode: a new `struct file`).
pub fn reopen_via_proc(fd: BorrowedFd<'_>) -> OwnedFd {
    let path = format!("/proc/self/fd/{}", fd.as_raw_fd());
    rustix::fs::open(&path, OFlags::RDWR | OFlags::CLOEXEC, Mode::empty())
        .unwrap_or_else(|e| panic!("opening {path}: {e}"))
}

/// Sends `fd` over an `AF_UNIX` socketpair with `SCM_RIGHTS` and returns the received fd
/// (a new fd number for the same `struct file`).
pub fn pass_over_scm_rights(fd: BorrowedFd<'_>) -> OwnedFd {
    use rustix::net::{
        recvmsg, sendmsg, socketpair, AddressFamily, RecvAncillaryBuffer, RecvAncillaryMessage,
        RecvFlags, SendAncillaryBuffer, SendAncillaryMessage, SendFlags, SocketFlags, SocketType,
    };
    let (a, b) = socketpair(
        AddressFamily::UNIX,
        SocketType::STREAM,
        SocketFlags::CLOEXEC,
        None,
    )
    .expect("socketpair");

    let fds = [fd];
    let mut send_space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut send_cmsg = SendAncillaryBuffer::new(&mut send_space);
    assert!(
        send_cmsg.push(SendAncillaryMessage::ScmRights(&fds)),
        "cmsg push"
    );
    let sent = sendmsg(
        &a,
        &[IoSlice::new(b"x")],
        &mut send_cmsg,
        SendFlags::empty(),
    )
    .expect("sendmsg SCM_RIGHTS");
    assert_eq!(sent, 1);

    let mut byte = [0u8; 1];
    let mut recv_space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut recv_cmsg = RecvAncillaryBuffer::new(&mut recv_space);
    let msg = recvmsg(
        &b,
        &mut [IoSliceMut::new(&mut byte)],
        &mut recv_cmsg,
        RecvFlags::CMSG_CLOEXEC,
    )
    .expect("recvmsg SCM_RIGHTS");
    assert_eq!(msg.bytes, 1);
    let mut received = None;
    for m in recv_cmsg.drain() {
        if let RecvAncillaryMessage::ScmRights(fds) = m {
            for fd in fds {
                assert!(received.is_none(), "more than one fd received");
                received = Some(fd);
            }
        }
    }
    received.expect("no fd received over SCM_RIGHTS")
}

/// An fd number that is certainly not open: a high number (at least `min`, if the fd limit
/// allows) that was just closed. A high number, so that the threads of the other tests, which
/// get the lowest free numbers, do not reuse it in the meantime.
pub fn closed_fd_number(min: RawFd) -> RawFd {
    let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile)
        .current
        .unwrap_or(1024);
    let min = min.min((limit / 2).min(i32::MAX as u64) as RawFd).max(3);
    let probe = eventfd();
    let high = rustix::io::fcntl_dupfd_cloexec(&probe, min).expect("F_DUPFD_CLOEXEC");
    let n = high.as_raw_fd();
    assert!(n >= min);
    drop(high);
    n
}

// ---------------------------------------------------------------------------------------------
// Bad pointers
// ---------------------------------------------------------------------------------------------

/// An anonymous private mapping, unmapped on drop.
#[derive(Debug)]
pub struct Mapping {
    ptr: *mut c_void,
    len: usize,
}

impl Mapping {
    /// Maps `pages` pages with protection `prot`.
    pub fn new(pages: usize, prot: ProtFlags) -> Self {
        let len = pages * page_size();
        // SAFETY: a fresh anonymous mapping chosen by the kernel aliases nothing.
        let ptr = unsafe {
            rustix::mm::mmap_anonymous(std::ptr::null_mut(), len, prot, MapFlags::PRIVATE)
        }
        .expect("mmap");
        Self { ptr, len }
    }

    /// Start of the mapping.
    pub fn ptr(&self) -> *mut c_void {
        self.ptr
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the mapping is empty (never).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Changes the protection of the whole mapping.
    pub fn protect(&self, prot: MprotectFlags) {
        // SAFETY: the range is our own mapping.
        unsafe { rustix::mm::mprotect(self.ptr, self.len, prot) }.expect("mprotect");
    }

    /// Unmaps the last page (which becomes a hole right after the remaining pages).
    pub fn unmap_last_page(&mut self) {
        let ps = page_size();
        assert!(self.len > ps);
        self.len -= ps;
        // SAFETY: the page is ours and nothing refers to it.
        unsafe { rustix::mm::munmap(self.ptr.cast::<u8>().add(self.len).cast(), ps) }
            .expect("munmap");
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: the range is our own mapping.
        let _ = unsafe { rustix::mm::munmap(self.ptr, self.len) };
    }
}

/// The page size.
pub fn page_size() -> usize {
    rustix::param::page_size()
}

/// An address that was mapped and has been unmapped (mmap + munmap).
pub fn unmapped_address() -> *mut c_void {
    let m = Mapping::new(1, ProtFlags::READ | ProtFlags::WRITE);
    let p = m.ptr();
    drop(m);
    p
}

/// Named bad argument pointers that must all make the ioctls fail with EFAULT before they
/// read (or after they could not write) the argument. `arg` is a valid argument of 16 bytes
/// (fd, flags = 0, result) that is copied into the read-only and straddling cases, so that
/// only the pointer, not its contents, is wrong. Returns the mappings to keep alive with them.
pub fn bad_pointers(arg: [u8; 16]) -> (Vec<(&'static str, *mut c_void)>, Vec<Mapping>) {
    let ps = page_size();
    let mut keep = Vec::new();
    let mut out: Vec<(&'static str, *mut c_void)> = vec![
        ("NULL", std::ptr::null_mut()),
        // Above the user address space (x86-64 kernel half): access_ok() refuses it.
        (
            "kernel-half address",
            0xffff_8000_0000_0000_u64 as usize as *mut c_void,
        ),
        ("low address below mmap_min_addr", 0x10 as *mut c_void),
    ];

    let none = Mapping::new(1, ProtFlags::empty());
    out.push(("PROT_NONE mapping", none.ptr()));
    keep.push(none);

    // Readable, valid contents, but not writable: the kernel can read the argument and do
    // the work, then copy_to_user() of `result` fails.
    let ro = Mapping::new(1, ProtFlags::READ | ProtFlags::WRITE);
    // SAFETY: the mapping is one page of writable memory we own.
    unsafe { std::ptr::copy_nonoverlapping(arg.as_ptr(), ro.ptr().cast::<u8>(), 16) };
    ro.protect(MprotectFlags::READ);
    out.push(("PROT_READ mapping", ro.ptr()));
    keep.push(ro);

    // The first 8 bytes (fd, flags) at the end of a mapped page, `result` on the unmapped
    // page that follows.
    let mut straddle = Mapping::new(2, ProtFlags::READ | ProtFlags::WRITE);
    straddle.unmap_last_page();
    // SAFETY: bytes ps-8 .. ps are inside the remaining page.
    let p = unsafe { straddle.ptr().cast::<u8>().add(ps - 8) };
    // SAFETY: see above.
    unsafe { std::ptr::copy_nonoverlapping(arg.as_ptr(), p, 8) };
    out.push(("straddling the end of a mapping", p.cast()));
    keep.push(straddle);

    // Last, so that none of the one-page mappings above lands in the hole it leaves.
    out.push(("unmapped (mmap + munmap)", unmapped_address()));

    (out, keep)
}

/// The 16 bytes of a `drm_file_same` / `dma_buf_same_object` with `fd`, flags 0, result 0.
pub fn arg_bytes(fd: RawFd) -> [u8; 16] {
    let mut b = [0u8; 16];
    b[..4].copy_from_slice(&fd.to_ne_bytes());
    b
}

// ---------------------------------------------------------------------------------------------
// dma-bufs
// ---------------------------------------------------------------------------------------------

/// Flags for `DRM_IOCTL_PRIME_HANDLE_TO_FD`: `DRM_CLOEXEC | DRM_RDWR`.
pub const PRIME_FLAGS: u32 = (libc::O_CLOEXEC | libc::O_RDWR) as u32;

/// Creates a 64x64 XRGB8888 dumb buffer on `dev`; returns its GEM handle.
pub fn create_dumb(dev: &DrmNode) -> BufferHandle {
    let db = dev
        .create_dumb_buffer((64, 64), DrmFourcc::Xrgb8888, 32)
        .unwrap_or_else(|e| panic!("CREATE_DUMB on {}: {e}", dev.path().display()));
    db.handle()
}

/// Exports GEM `handle` of `dev` as a dma-buf (PRIME).
pub fn export(dev: &DrmNode, handle: BufferHandle) -> OwnedFd {
    dev.buffer_to_prime_fd(handle, PRIME_FLAGS)
        .unwrap_or_else(|e| panic!("PRIME_HANDLE_TO_FD on {}: {e}", dev.path().display()))
}

/// Imports the dma-buf `fd` into `dev` (PRIME); returns the GEM handle.
pub fn import(dev: &DrmNode, fd: BorrowedFd<'_>) -> BufferHandle {
    dev.prime_fd_to_buffer(fd)
        .unwrap_or_else(|e| panic!("PRIME_FD_TO_HANDLE on {}: {e}", dev.path().display()))
}

/// A vgem dumb buffer exported as a dma-buf from `vgem` (the GEM handle is closed again; the
/// dma-buf keeps the object alive).
pub fn vgem_dmabuf(vgem: &DrmNode) -> OwnedFd {
    let h = create_dumb(vgem);
    let fd = export(vgem, h);
    vgem.close_buffer(h).expect("GEM_CLOSE");
    fd
}

/// The fixtures shared with the benchmark (crate `test-uapi`): fallible constructors that the
/// helpers below `expect`.
pub use test_uapi::{dma_heap_allocation_data, fixtures, DMA_HEAP_IOCTL_ALLOC};

/// Allocates a `len`-byte dma-buf from `/dev/dma_heap/system`.
pub fn dma_heap_alloc(len: u64) -> OwnedFd {
    let heap = rustix::fs::open(
        DMA_HEAP_SYSTEM,
        OFlags::RDWR | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .unwrap_or_else(|e| panic!("opening {DMA_HEAP_SYSTEM}: {e}"));
    fixtures::heap_alloc(heap.as_fd(), len)
        .unwrap_or_else(|e| panic!("DMA_HEAP_IOCTL_ALLOC on {DMA_HEAP_SYSTEM}: {e}"))
}

/// `struct udmabuf_create`, `UDMABUF_CREATE` and its flag, declared once in crate `test-uapi`.
pub use test_uapi::{udmabuf_create, UDMABUF_CREATE, UDMABUF_FLAGS_CLOEXEC};

/// A sealed (`F_SEAL_SHRINK`) memfd of `pages` pages, suitable for `UDMABUF_CREATE`.
pub fn sealed_memfd(pages: usize) -> OwnedFd {
    fixtures::sealed_memfd(pages).expect("a sealed memfd")
}

/// Creates a udmabuf covering the whole of the sealed `memfd` of `pages` pages.
pub fn udmabuf_from(memfd: BorrowedFd<'_>, pages: usize) -> OwnedFd {
    udmabuf_range(memfd, 0, pages)
}

/// Creates a udmabuf over pages `first .. first + pages` of the sealed `memfd`
/// (`UDMABUF_CREATE` with `offset = first * page_size`, `size = pages * page_size`).
pub fn udmabuf_range(memfd: BorrowedFd<'_>, first: usize, pages: usize) -> OwnedFd {
    let dev = rustix::fs::open(UDMABUF_DEV, OFlags::RDWR | OFlags::CLOEXEC, Mode::empty())
        .unwrap_or_else(|e| panic!("opening {UDMABUF_DEV}: {e}"));
    fixtures::udmabuf_range(dev.as_fd(), memfd, first, pages)
        .unwrap_or_else(|e| panic!("UDMABUF_CREATE on {UDMABUF_DEV}: {e}"))
}

/// A one-page udmabuf on its own sealed memfd.
pub fn udmabuf() -> OwnedFd {
    let memfd = sealed_memfd(1);
    udmabuf_from(memfd.as_fd(), 1)
}

/// A sync_file exported from the dma-buf `dmabuf` (its read fences; a signalled stub if none).
pub fn sync_file_from(dmabuf: BorrowedFd<'_>) -> OwnedFd {
    sync::export_fences(dmabuf, sync::READ)
        .unwrap_or_else(|e| panic!("DMA_BUF_IOCTL_EXPORT_SYNC_FILE: {e}"))
}

/// Describes the bits of a `DRM_FILE_SAME` result, for messages.
pub fn drm_bits(r: u64) -> String {
    bits(
        r,
        &[
            (uapi::DRM_FILE_SAME_FILE, "FILE"),
            (uapi::DRM_FILE_SAME_CLIENT, "CLIENT"),
            (uapi::DRM_FILE_SAME_DEVICE, "DEVICE"),
        ],
    )
}

/// Describes the bits of a `DMA_BUF_SAME` result, for messages.
pub fn dmabuf_bits(r: u64) -> String {
    bits(
        r,
        &[
            (uapi::DMA_BUF_SAME_FILE, "FILE"),
            (uapi::DMA_BUF_SAME_OBJECT, "OBJECT"),
            (uapi::DMA_BUF_SAME_STORAGE, "STORAGE"),
            (uapi::DMA_BUF_STORAGE_COMPARED, "COMPARED"),
        ],
    )
}

fn bits(r: u64, names: &[(u64, &str)]) -> String {
    let mut parts: Vec<String> = names
        .iter()
        .filter(|(b, _)| r & b != 0)
        .map(|(_, n)| n.to_string())
        .collect();
    let known: u64 = names.iter().map(|(b, _)| b).fold(0, |a, b| a | b);
    if r & !known != 0 {
        parts.push(format!("unknown {:#x}", r & !known));
    }
    if parts.is_empty() {
        "0".into()
    } else {
        format!("{} ({r:#x})", parts.join("|"))
    }
}

// ---------------------------------------------------------------------------------------------
// Leak accounting (debugfs), reporting and forked children (races.rs, edge.rs)
// ---------------------------------------------------------------------------------------------

/// debugfs list of every live dma-buf.
pub const DMA_BUF_BUFINFO: &str = "/sys/kernel/debug/dma_buf/bufinfo";
/// debugfs directory of DRM (one numbered entry per minor, linking to its device's directory).
pub const DRI_DEBUGFS: &str = "/sys/kernel/debug/dri";

/// Number of live dma-bufs in the whole system (the `Total N objects` line of
/// [`DMA_BUF_BUFINFO`]). Panics when debugfs is not there: a test that counts leaks must not
/// pass without counting.
pub fn dmabuf_count() -> usize {
    let text = fs::read_to_string(DMA_BUF_BUFINFO)
        .unwrap_or_else(|e| panic!("reading {DMA_BUF_BUFINFO} (debugfs must be mounted): {e}"));
    text.lines()
        .find_map(|l| {
            l.strip_prefix("Total ")
                .and_then(|r| r.strip_suffix(" bytes"))
                .and_then(|r| r.split(" objects").next())
                .and_then(|n| n.trim().parse().ok())
        })
        .unwrap_or_else(|| panic!("no `Total N objects` line in {DMA_BUF_BUFINFO}:\n{text}"))
}

/// Open DRM clients (`struct drm_file`s) per DRM minor, from `<DRI_DEBUGFS>/<minor>/clients`
/// (one line per open file of the minor's device after a header line). Panics when debugfs or
/// the files are missing, or when no minor is listed.
pub fn drm_client_counts() -> std::collections::BTreeMap<u32, usize> {
    let mut out = std::collections::BTreeMap::new();
    let dir = fs::read_dir(DRI_DEBUGFS)
        .unwrap_or_else(|e| panic!("reading {DRI_DEBUGFS} (debugfs must be mounted): {e}"));
    for e in dir.filter_map(|e| e.ok()) {
        let Ok(minor) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let path = e.path().join("clients");
        let text = fs::read_to_string(&path)
            .unwrap_or_else(|err| panic!("reading {}: {err}", path.display()));
        let n = text
            .lines()
            .skip(1)
            .filter(|l| !l.trim().is_empty())
            .count();
        out.insert(minor, n);
    }
    assert!(!out.is_empty(), "no DRM minor in {DRI_DEBUGFS}");
    out
}

/// `struct drm_set_client_name` (include/uapi/drm/drm.h).
#[repr(C)]
#[derive(Debug)]
pub struct drm_set_client_name {
    pub name_len: u64,
    pub name: u64,
}

/// `DRM_IOCTL_SET_CLIENT_NAME = DRM_IOWR(0xD1, struct drm_set_client_name)`.
pub const DRM_IOCTL_SET_CLIENT_NAME: Opcode = opcode::read_write::<drm_set_client_name>(b'd', 0xD1);
const _: () = assert!(DRM_IOCTL_SET_CLIENT_NAME as u64 == 0xc010_64d1);

/// Names the DRM client behind `fd` (`DRM_IOCTL_SET_CLIENT_NAME`: printable ASCII, no spaces,
/// at most 64 bytes), so that its row of debugfs `clients` can be found: vgem's file
/// operations have no `show_fdinfo`, so `drm-client-id` is not in `/proc/self/fdinfo`. An
/// ordinary DRM ioctl: it makes the caller the owner.
pub fn set_drm_client_name(fd: BorrowedFd<'_>, name: &str) {
    try_set_drm_client_name(fd, name)
        .unwrap_or_else(|e| panic!("DRM_IOCTL_SET_CLIENT_NAME {name:?}: {e}"));
}

/// The DRM minor of the device node `fd` was opened from (`minor(st_rdev)`): the name of its
/// entry in [`DRI_DEBUGFS`].
pub fn drm_minor(fd: BorrowedFd<'_>) -> u32 {
    let st = rustix::fs::fstat(fd).expect("fstat of a DRM fd");
    rustix::fs::minor(st.st_rdev)
}

/// Like [`set_drm_client_name`], but returns the error: kernels before 6.13 (the 6.12 base)
/// have no `DRM_IOCTL_SET_CLIENT_NAME` and answer `EINVAL`.
pub fn try_set_drm_client_name(fd: BorrowedFd<'_>, name: &str) -> rustix::io::Result<()> {
    let mut arg = drm_set_client_name {
        name_len: name.len() as u64,
        name: name.as_ptr() as u64,
    };
    // SAFETY: `arg` has the layout the opcode encodes; the kernel reads `name_len` bytes at
    // `name`, which `name` provides.
    unsafe {
        rustix::ioctl::ioctl(
            fd,
            Updater::<{ DRM_IOCTL_SET_CLIENT_NAME }, drm_set_client_name>::new(&mut arg),
        )
    }
}

/// How many rows of debugfs `dri/<minor>/clients` are owned by `tgid`. The column is found
/// from the header (6.12 prints command, tgid, dev, master, a, uid, magic; 7.x adds name and
/// id), counting from the end, since the command may contain spaces.
pub fn drm_clients_owned_by(minor: u32, tgid: i32) -> (usize, String) {
    let path = format!("{DRI_DEBUGFS}/{minor}/clients");
    let text = fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {path} (debugfs must be mounted): {e}"));
    let header: Vec<&str> = text
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let at = header
        .iter()
        .position(|h| *h == "tgid")
        .unwrap_or_else(|| panic!("{path}: no tgid column in {header:?}"));
    let from_end = header.len() - at;
    let n = text
        .lines()
        .skip(1)
        .filter(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            f.len() >= from_end && f[f.len() - from_end] == tgid.to_string()
        })
        .count();
    (n, text)
}

/// The owner of the DRM client named `name` (see [`set_drm_client_name`]) as debugfs
/// `dri/<minor>/clients` shows it: its `tgid` and `command` columns (`drm_clients_info()`:
/// command, tgid, dev, master, a, uid, magic, name, id; parsed from the end, since the
/// command may contain spaces). Panics when debugfs or the client's row is missing, or when
/// two rows have the name.
pub fn drm_client_owner(minor: u32, name: &str) -> (i32, String) {
    let path = format!("{DRI_DEBUGFS}/{minor}/clients");
    let text = fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {path} (debugfs must be mounted): {e}"));
    let rows: Vec<(i32, String)> = text
        .lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() < 9 || f[f.len() - 2] != name {
                return None;
            }
            let tgid = f[f.len() - 8]
                .parse()
                .unwrap_or_else(|e| panic!("{path}: tgid column of {line:?}: {e}"));
            Some((tgid, f[..f.len() - 8].join(" ")))
        })
        .collect();
    match &rows[..] {
        [one] => one.clone(),
        _ => panic!("{} rows for client {name:?} in {path}:\n{text}", rows.len()),
    }
}

/// `struct drm_version` (include/uapi/drm/drm.h), 64-bit layout.
#[repr(C)]
#[derive(Debug)]
pub struct drm_version {
    pub version_major: i32,
    pub version_minor: i32,
    pub version_patchlevel: i32,
    pub name_len: usize,
    pub name: *mut u8,
    pub date_len: usize,
    pub date: *mut u8,
    pub desc_len: usize,
    pub desc: *mut u8,
}

const _: () = assert!(std::mem::size_of::<drm_version>() == 64);

/// `DRM_IOCTL_VERSION = DRM_IOWR(0x00, struct drm_version)`.
pub const DRM_IOCTL_VERSION: Opcode = opcode::read_write::<drm_version>(b'd', 0x00);
const _: () = assert!(DRM_IOCTL_VERSION as u64 == 0xc040_6400);

/// `DRM_IOCTL_VERSION` on `fd` with zero-length buffers (the kernel only reports the
/// lengths): an ordinary DRM ioctl without `DRM_NO_PID_UPDATE`, so it makes the caller the
/// owner of the DRM file. Allocates nothing: usable in a forked child.
pub fn drm_version_ioctl(fd: BorrowedFd<'_>) -> io::Result<i32> {
    let mut v = drm_version {
        version_major: 0,
        version_minor: 0,
        version_patchlevel: 0,
        name_len: 0,
        name: std::ptr::null_mut(),
        date_len: 0,
        date: std::ptr::null_mut(),
        desc_len: 0,
        desc: std::ptr::null_mut(),
    };
    // SAFETY: `v` has the layout the opcode encodes; with zero lengths the kernel writes
    // through none of the pointers.
    unsafe {
        rustix::ioctl::ioctl(
            fd,
            Updater::<{ DRM_IOCTL_VERSION }, drm_version>::new(&mut v),
        )
    }?;
    Ok(v.version_major)
}

/// Waits until `now()` equals `expected` and returns it: file releases are synchronous on close,
/// but a release deferred to a worker may lag. No deadline decides the result (a loaded machine
/// only makes it slower); past 5 s a line says what is awaited, and a value that never comes is
/// left to the harness's time limit of the whole guest run.
pub fn settle<T: PartialEq + Clone + std::fmt::Debug>(
    expected: &T,
    mut now: impl FnMut() -> T,
) -> T {
    let t0 = std::time::Instant::now();
    let mut told = false;
    loop {
        let v = now();
        if &v == expected {
            return v;
        }
        if !told && t0.elapsed() > std::time::Duration::from_secs(5) {
            report(&format!(
                "settle: still waiting for {expected:?}, now {v:?}"
            ));
            told = true;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Writes one line to stderr directly (not through `eprintln!`, which libtest captures), so
/// that figures such as compare counts appear in the harness log of a passing test.
pub fn report(line: &str) {
    use std::io::Write;
    let mut e = io::stderr().lock();
    let _ = writeln!(e, "{line}");
    let _ = e.flush();
}

/// In a forked child: be killed (SIGKILL) when the thread that forked it ends, so a child never
/// outlives its test, whatever the test does, however long a loaded machine makes it take.
/// A child that waits for its parent must wait for an explicit message, not for EOF: another
/// test's concurrent fork may hold a copy of the pipe's write end.
pub fn die_with_parent() {
    // SAFETY: plain syscalls in the child.
    unsafe {
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
        if libc::getppid() == 1 {
            libc::_exit(3); // the parent ended before prctl
        }
    }
}

/// Runs `f` in a forked child and returns its verdict: `Ok` if it returned `Ok` and exited 0,
/// otherwise the child's message (or how it died). No clock bounds the child: it ends when `f`
/// returns, or dies with the thread that forked it ([`die_with_parent`]); it leaves with
/// `_exit`, never running the parent's destructors. Keep `f` simple: it runs in a fork of a
/// multi-threaded process (glibc keeps malloc usable there; avoid stdout/stderr).
pub fn run_in_child(f: impl FnOnce() -> Result<(), String>) -> Result<(), String> {
    let (rd, wr) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).expect("pipe");
    // SAFETY: the child only runs `f` and `_exit`s; see the function's documentation.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork: {}", io::Error::last_os_error());
    if pid == 0 {
        drop(rd);
        die_with_parent();
        let verdict = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
            .unwrap_or_else(|_| Err("the child panicked".into()));
        let code = match verdict {
            Ok(()) => 0,
            Err(msg) => {
                let _ = rustix::io::write(&wr, msg.as_bytes());
                1
            }
        };
        // SAFETY: leaves the child without unwinding or running atexit handlers.
        unsafe { libc::_exit(code) };
    }
    drop(wr);
    let mut msg = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match rustix::io::read(&rd, &mut buf) {
            Ok(0) => break,
            Ok(n) => msg.extend_from_slice(&buf[..n]),
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => panic!("reading the child's pipe: {e}"),
        }
    }
    let mut status = 0;
    // SAFETY: waits for our own child.
    let r = unsafe { libc::waitpid(pid, &mut status, 0) };
    assert_eq!(r, pid, "waitpid: {}", io::Error::last_os_error());
    let msg = String::from_utf8_lossy(&msg).into_owned();
    if libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0 && msg.is_empty() {
        Ok(())
    } else if libc::WIFSIGNALED(status) {
        Err(format!(
            "child killed by signal {} {msg}",
            libc::WTERMSIG(status)
        ))
    } else {
        Err(format!("child exited {}: {msg}", libc::WEXITSTATUS(status)))
    }
}

// ---------------------------------------------------------------------------------------------
// Independent sources of truth (tests/oracle.rs, tests/hotunplug.rs)
// ---------------------------------------------------------------------------------------------

/// `fcntl(a, F_DUPFD_QUERY, b)`: `Ok(true)` when both fds refer to one `struct file`. The one
/// declaration of `F_DUPFD_QUERY` is crate fdsame's; this is that single fcntl, not the
/// library's fallback chain, so it stays an independent truth.
pub use fdsame::sys::f_dupfd_query_raw as f_dupfd_query;

/// The value of `key:` in `/proc/self/fdinfo/<fd>` (e.g. `drm-client-id`), if shown.
pub fn fdinfo_field(fd: RawFd, key: &str) -> Option<String> {
    let path = format!("/proc/self/fdinfo/{fd}");
    let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {path}: {e}"));
    text.lines().find_map(|l| {
        l.strip_prefix(key)
            .and_then(|r| r.strip_prefix(':'))
            .map(|v| v.trim().to_string())
    })
}

/// `(st_dev, st_ino)` of `fd`.
pub fn dev_ino(fd: BorrowedFd<'_>) -> (u64, u64) {
    let st = rustix::fs::fstat(fd).expect("fstat");
    (st.st_dev, st.st_ino)
}

/// The sysfs device behind the character device `fd` was opened from:
/// `/sys/dev/char/MAJ:MIN/device`, resolved. `None` when `fd` is not a character device or
/// the class device has no parent device (or is gone).
pub fn sysfs_device_of(fd: BorrowedFd<'_>) -> Option<PathBuf> {
    let st = rustix::fs::fstat(fd).ok()?;
    if st.st_mode & libc::S_IFMT != libc::S_IFCHR {
        return None;
    }
    let (maj, min) = (rustix::fs::major(st.st_rdev), rustix::fs::minor(st.st_rdev));
    fs::canonicalize(format!("/sys/dev/char/{maj}:{min}/device")).ok()
}

/// The `id` column (`drm_file.client_id`) of the DRM client behind `fd` in debugfs
/// `dri/<minor>/clients`, found by naming the client `name` first
/// ([`set_drm_client_name`]): the client id for drivers whose fdinfo does not show
/// `drm-client-id` (those using `DEFINE_DRM_GEM_FOPS`, such as vkms and vgem, have no
/// `show_fdinfo`). Two fds of one client give the same row, renamed. Panics when debugfs or
/// the row is missing.
pub fn drm_client_id_via_debugfs(fd: BorrowedFd<'_>, name: &str) -> u64 {
    try_drm_client_id_via_debugfs(fd, name)
        .unwrap_or_else(|e| panic!("DRM_IOCTL_SET_CLIENT_NAME {name:?}: {e}"))
}

/// Like [`drm_client_id_via_debugfs`], but `Err` where the kernel cannot name a client
/// (`DRM_IOCTL_SET_CLIENT_NAME` is 6.13+; 6.12's debugfs `clients` has no `id` column either).
pub fn try_drm_client_id_via_debugfs(fd: BorrowedFd<'_>, name: &str) -> rustix::io::Result<u64> {
    try_set_drm_client_name(fd, name)?;
    let minor = drm_minor(fd);
    let path = format!("{DRI_DEBUGFS}/{minor}/clients");
    let text = fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {path} (debugfs must be mounted): {e}"));
    let ids: Vec<u64> = text
        .lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() < 9 || f[f.len() - 2] != name {
                return None;
            }
            Some(
                f[f.len() - 1]
                    .parse()
                    .unwrap_or_else(|e| panic!("{path}: id column of {line:?}: {e}")),
            )
        })
        .collect();
    match &ids[..] {
        [one] => Ok(*one),
        _ => panic!("{} rows for client {name:?} in {path}:\n{text}", ids.len()),
    }
}
