//! The emulated PCI display devices of the guest and libdrm's idea of a device.
//!
//! `cargo xtask test` boots QEMU with two `bochs-display` devices and one `virtio-gpu-pci` at
//! fixed slots of the root bus (`xtask/src/vm.rs`, `PCI_GPUS`). They are found here by PCI
//! address and checked against the driver name `DRM_IOCTL_VERSION` reports, never by card
//! number: the numbers depend on probe order and change when a device is removed and found
//! again.

use std::ffi::{c_char, c_int, c_void, CStr};
use std::fs;
use std::io;
use std::os::fd::{AsFd, AsRawFd};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::{DrmNode, NodeKind, DRI_DIR};

/// Driver name of bochs (`bochs_driver.name`, drivers/gpu/drm/tiny/bochs.c).
pub const BOCHS: &str = "bochs-drm";
/// Driver name of virtio-gpu (`DRIVER_NAME`, drivers/gpu/drm/virtio/virtgpu_drv.h).
pub const VIRTIO_GPU: &str = "virtio_gpu";

/// One emulated PCI display device of the guest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PciGpu {
    /// PCI address in the guest (`/sys/bus/pci/devices/<address>`).
    pub address: &'static str,
    /// DRM driver name, as `DRM_IOCTL_VERSION` reports it.
    pub driver: &'static str,
    /// Whether the driver has a render node (`DRIVER_RENDER`): virtio-gpu yes, bochs no.
    pub render: bool,
}

/// The first bochs-display device (slot 8).
pub const BOCHS_A: PciGpu = PciGpu {
    address: "0000:00:08.0",
    driver: BOCHS,
    render: false,
};
/// The second bochs-display device (slot 9): the same driver and fops as [`BOCHS_A`], another
/// device. The hot-unplug test removes this one.
pub const BOCHS_B: PciGpu = PciGpu {
    address: "0000:00:09.0",
    driver: BOCHS,
    render: false,
};
/// The virtio-gpu-pci device (slot 10; QEMU without virgl: no 3D, no blob resources).
pub const VIRTIO: PciGpu = PciGpu {
    address: "0000:00:0a.0",
    driver: VIRTIO_GPU,
    render: true,
};
/// Every emulated PCI display device, in slot order (the same list as xtask's `PCI_GPUS`).
pub const PCI_GPUS: [PciGpu; 3] = [BOCHS_A, BOCHS_B, VIRTIO];

impl PciGpu {
    /// `/sys/bus/pci/devices/<address>`.
    pub fn sysfs(&self) -> PathBuf {
        Path::new("/sys/bus/pci/devices").join(self.address)
    }

    /// The device's DRM nodes (`/dev/dri/cardN`, `/dev/dri/renderDN`) as listed in its sysfs
    /// `drm` directory right now, card first. Panics (a test failure) when the device has none
    /// or a node's driver is not [`Self::driver`].
    pub fn nodes(&self) -> Vec<(PathBuf, NodeKind)> {
        let dir = self.sysfs().join("drm");
        let mut names: Vec<String> = fs::read_dir(&dir)
            .unwrap_or_else(|e| {
                panic!(
                    "reading {}: {e}; the guest must have QEMU's PCI display devices \
                     (xtask/src/vm.rs PCI_GPUS) with bochs and virtio_gpu bound",
                    dir.display()
                )
            })
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("card") || n.starts_with("renderD"))
            .collect();
        names.sort();
        let nodes: Vec<(PathBuf, NodeKind)> = names
            .iter()
            .map(|n| {
                let kind = if n.starts_with("card") {
                    NodeKind::Card
                } else {
                    NodeKind::Render
                };
                (Path::new(DRI_DIR).join(n), kind)
            })
            .collect();
        let cards = nodes.iter().filter(|(_, k)| *k == NodeKind::Card).count();
        let renders = nodes.len() - cards;
        assert_eq!(
            (cards, renders),
            (1, usize::from(self.render)),
            "{}: nodes {nodes:?}",
            self.address
        );
        for (p, _) in &nodes {
            let d = DrmNode::open(p)
                .and_then(|n| n.driver_name())
                .unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            assert_eq!(
                d,
                self.driver,
                "driver of {} ({})",
                p.display(),
                self.address
            );
        }
        nodes
    }

    /// The path of the device's `kind` node. Panics when it has none.
    pub fn node(&self, kind: NodeKind) -> PathBuf {
        self.nodes()
            .into_iter()
            .find(|(_, k)| *k == kind)
            .map(|(p, _)| p)
            .unwrap_or_else(|| panic!("{} has no {kind:?} node", self.address))
    }

    /// A fresh open of the device's `kind` node.
    pub fn open(&self, kind: NodeKind) -> DrmNode {
        let p = self.node(kind);
        DrmNode::open(&p).unwrap_or_else(|e| panic!("opening {}: {e}", p.display()))
    }
}

/// The minor number (`N` of `/dev/dri/cardN`) of a card node path.
pub fn card_index(path: &Path) -> u32 {
    path.file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.strip_prefix("card"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{} is not a card node", path.display()))
}

/// Writes `value` to a sysfs attribute (`remove`, `rescan`), naming the path on failure.
pub fn sysfs_write(path: impl AsRef<Path>, value: &str) {
    let path = path.as_ref();
    fs::write(path, value)
        .unwrap_or_else(|e| panic!("writing {value:?} to {}: {e}", path.display()));
}

// ---------------------------------------------------------------------------------------------
// libdrm (libdrm.so.2, loaded at run time)
// ---------------------------------------------------------------------------------------------

/// The three libdrm calls that make up libdrm's notion of "one device", from the system's
/// `libdrm.so.2` (xf86drm.h): `drmGetDevice2()`, `drmDevicesEqual()`, `drmFreeDevice()`.
/// `drmDevicePtr` is treated as opaque, so no libdrm struct is declared here. Loaded with
/// `dlopen()`: the tests need no libdrm at build time, and a guest without the library fails
/// the test that needs it with the reason.
pub struct Libdrm {
    get_device2: GetDevice2,
    devices_equal: DevicesEqual,
    free_device: FreeDevice,
    /// The file the library was loaded from (`dladdr()` of `drmGetDevice2`), for messages.
    pub path: String,
}

type GetDevice2 = unsafe extern "C" fn(c_int, u32, *mut *mut c_void) -> c_int;
type DevicesEqual = unsafe extern "C" fn(*mut c_void, *mut c_void) -> c_int;
type FreeDevice = unsafe extern "C" fn(*mut *mut c_void);

/// A `drmDevicePtr` from `drmGetDevice2()`, freed on drop.
pub struct LibdrmDevice {
    ptr: *mut c_void,
    lib: &'static Libdrm,
}

impl Drop for LibdrmDevice {
    fn drop(&mut self) {
        // SAFETY: `ptr` came from drmGetDevice2() and is freed once.
        unsafe { (self.lib.free_device)(&mut self.ptr) };
    }
}

impl Libdrm {
    /// The process's libdrm (loaded once). Panics with `dlerror()`'s message when
    /// `libdrm.so.2` is not installed.
    pub fn get() -> &'static Libdrm {
        static LIB: OnceLock<Libdrm> = OnceLock::new();
        LIB.get_or_init(|| {
            let soname = "libdrm.so.2";
            let name = c"libdrm.so.2";
            // SAFETY: dlopen/dlsym with NUL-terminated names; the symbols are cast to their
            // prototypes in xf86drm.h (libdrm 2.4.x), with drmDevicePtr as an opaque pointer.
            unsafe {
                let h = libc::dlopen(name.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL);
                if h.is_null() {
                    panic!("dlopen({soname}): {} (install libdrm2)", dlerror());
                }
                let sym = |s: &CStr| {
                    let p = libc::dlsym(h, s.as_ptr());
                    if p.is_null() {
                        panic!("dlsym({s:?}) in {soname}: {}", dlerror());
                    }
                    p
                };
                let get_device2 = sym(c"drmGetDevice2");
                let mut info: libc::Dl_info = std::mem::zeroed();
                let path = if libc::dladdr(get_device2, &mut info) != 0 && !info.dli_fname.is_null()
                {
                    CStr::from_ptr(info.dli_fname)
                        .to_string_lossy()
                        .into_owned()
                } else {
                    soname.to_string()
                };
                Libdrm {
                    get_device2: std::mem::transmute::<*mut c_void, GetDevice2>(get_device2),
                    devices_equal: std::mem::transmute::<*mut c_void, DevicesEqual>(sym(
                        c"drmDevicesEqual",
                    )),
                    free_device: std::mem::transmute::<*mut c_void, FreeDevice>(sym(
                        c"drmFreeDevice",
                    )),
                    path,
                }
            }
        })
    }

    /// `drmGetDevice2(fd, 0, &dev)`: libdrm's description of the device behind `fd` (bus
    /// type and bus info, read from /sys). Errors are libdrm's negative errno, as an
    /// `io::Error` whose `raw_os_error()` is the positive errno (`EINVAL` for a bus libdrm does
    /// not know, and also without /sys: `drmNodeIsDRM()` cannot stat its sysfs entry).
    pub fn device(&'static self, fd: impl AsFd) -> io::Result<LibdrmDevice> {
        let mut ptr = std::ptr::null_mut();
        // SAFETY: a valid fd and a valid out pointer.
        let r = unsafe { (self.get_device2)(fd.as_fd().as_raw_fd(), 0, &mut ptr) };
        if r < 0 {
            return Err(io::Error::from_raw_os_error(-r));
        }
        Ok(LibdrmDevice { ptr, lib: self })
    }

    /// `drmDevicesEqual(a, b)`: libdrm's "same device" (equal bus type and bus info).
    pub fn equal(&self, a: &LibdrmDevice, b: &LibdrmDevice) -> bool {
        // SAFETY: two live drmDevicePtr from drmGetDevice2().
        unsafe { (self.devices_equal)(a.ptr, b.ptr) != 0 }
    }

    /// libdrm's answer to "are `a` and `b` files of one device?": `Ok(bool)`, or the errno of
    /// the first `drmGetDevice2()` that failed.
    pub fn same_device(&'static self, a: impl AsFd, b: impl AsFd) -> io::Result<bool> {
        let da = self.device(a)?;
        let db = self.device(b)?;
        Ok(self.equal(&da, &db))
    }
}

fn dlerror() -> String {
    // SAFETY: dlerror() returns NULL or a NUL-terminated string valid until the next call.
    unsafe {
        let e: *const c_char = libc::dlerror();
        if e.is_null() {
            "unknown error".into()
        } else {
            CStr::from_ptr(e).to_string_lossy().into_owned()
        }
    }
}
