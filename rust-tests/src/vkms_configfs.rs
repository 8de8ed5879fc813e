//! vkms instances made and removed through configfs (`/sys/kernel/config/vkms`, Linux 6.19+),
//! for the hot-unplug tests.
//!
//! A missing configfs or a vkms without configfs support is a failure with a message that says
//! which, never a skip.

use std::ffi::CString;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// Where configfs is mounted (and where the tests mount it when it is not).
pub const CONFIGFS: &str = "/sys/kernel/config";

/// The vkms directory in configfs.
pub fn vkms_root() -> PathBuf {
    let root = Path::new(CONFIGFS).join("vkms");
    if root.is_dir() {
        return root;
    }
    let fs_list = fs::read_to_string("/proc/filesystems").unwrap_or_default();
    if !fs_list
        .lines()
        .any(|l| l.split_whitespace().last() == Some("configfs"))
    {
        panic!(
            "configfs is not in /proc/filesystems: the guest kernel lacks CONFIG_CONFIGFS_FS=y \
             (vkms selects it in 6.19+), so no vkms device can be made or removed through \
             configfs"
        );
    }
    if !Path::new(CONFIGFS).join("vkms").exists() {
        let target = CString::new(CONFIGFS).unwrap();
        let fstype = CString::new("configfs").unwrap();
        // SAFETY: plain mount(2) with NUL-terminated strings and no data.
        let r = unsafe {
            libc::mount(
                fstype.as_ptr(),
                target.as_ptr(),
                fstype.as_ptr(),
                0,
                std::ptr::null(),
            )
        };
        if r != 0 {
            let e = io::Error::last_os_error();
            // EBUSY: already mounted (then vkms simply has no directory there).
            assert_eq!(
                e.raw_os_error(),
                Some(libc::EBUSY),
                "mount -t configfs none {CONFIGFS}: {e}"
            );
        }
    }
    assert!(
        root.is_dir(),
        "{} does not exist with configfs mounted at {CONFIGFS}: the guest's vkms has no \
         configfs support (vkms_configfs.c, Linux 6.19+; CONFIG_DRM_VKMS must be y or its \
         module loaded)",
        root.display()
    );
    root
}

fn write(path: &Path, value: &str) -> io::Result<()> {
    fs::write(path, value)
}

fn must(r: io::Result<()>, what: &str, path: &Path) {
    r.unwrap_or_else(|e| panic!("{what} {}: {e}", path.display()));
}

/// One vkms instance in configfs (one primary plane, CRTC, encoder, connector). Disabled and
/// removed on drop.
#[derive(Debug)]
pub struct VkmsInstance {
    name: String,
    dir: PathBuf,
    enabled: bool,
}

impl VkmsInstance {
    /// Creates the configfs directory `name` with a minimal pipeline, not yet enabled.
    pub fn new(name: &str) -> VkmsInstance {
        let dir = vkms_root().join(name);
        must(fs::create_dir(&dir), "mkdir", &dir);
        let inst = VkmsInstance {
            name: name.into(),
            dir,
            enabled: false,
        };
        for sub in [
            "planes/plane0",
            "crtcs/crtc0",
            "encoders/encoder0",
            "connectors/connector0",
        ] {
            let p = inst.dir.join(sub);
            must(fs::create_dir(&p), "mkdir", &p);
        }
        let t = inst.dir.join("planes/plane0/type");
        must(write(&t, "1"), "write 1 (primary) to", &t);
        for (link_dir, target) in [
            ("planes/plane0/possible_crtcs", "crtcs/crtc0"),
            ("encoders/encoder0/possible_crtcs", "crtcs/crtc0"),
            (
                "connectors/connector0/possible_encoders",
                "encoders/encoder0",
            ),
        ] {
            let link = inst
                .dir
                .join(link_dir)
                .join(Path::new(target).file_name().unwrap());
            must(
                std::os::unix::fs::symlink(inst.dir.join(target), &link),
                "symlink",
                &link,
            );
        }
        inst
    }

    /// Creates and enables an instance (the DRM device appears).
    pub fn enabled(name: &str) -> VkmsInstance {
        let mut i = Self::new(name);
        i.enable();
        i
    }

    /// The configfs name (also the faux device's name).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `enabled` ← 1: creates the faux device and registers the DRM device.
    pub fn enable(&mut self) {
        let p = self.dir.join("enabled");
        must(write(&p, "1"), "write 1 to", &p);
        self.enabled = true;
    }

    /// `enabled` ← 0: `vkms_destroy()`, i.e. `drm_dev_unregister()` and the faux device's
    /// removal, with files of the device possibly still open.
    pub fn disable(&mut self) {
        let p = self.dir.join("enabled");
        must(write(&p, "0"), "write 0 to", &p);
        self.enabled = false;
    }

    /// The primary node of this instance, found through sysfs (`/sys/class/drm/cardN/device`
    /// resolving to the faux device of this name), never by number. Waits for devtmpfs with no
    /// deadline (past 5 s a line says so; a node that never comes is left to the harness's time
    /// limit of the guest run).
    pub fn card_path(&self) -> PathBuf {
        let t0 = std::time::Instant::now();
        let mut told = false;
        loop {
            if let Some(p) = self.find_card().filter(|p| p.exists()) {
                return p;
            }
            if !told && t0.elapsed() > std::time::Duration::from_secs(5) {
                crate::report(&format!(
                    "vkms instance {:?}: still no /sys/class/drm/card* whose device is the faux \
                     device, or no /dev/dri node for it",
                    self.name
                ));
                told = true;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    fn find_card(&self) -> Option<PathBuf> {
        for e in fs::read_dir("/sys/class/drm").ok()?.filter_map(|e| e.ok()) {
            let n = e.file_name().to_string_lossy().into_owned();
            if !n.starts_with("card") || n.contains('-') {
                continue;
            }
            let Ok(dev) = fs::canonicalize(e.path().join("device")) else {
                continue;
            };
            if dev.file_name().map(|f| f.to_string_lossy() == self.name) == Some(true)
                && dev.to_string_lossy().contains("/faux/")
            {
                return Some(Path::new(crate::DRI_DIR).join(n));
            }
        }
        None
    }
}

impl Drop for VkmsInstance {
    fn drop(&mut self) {
        if self.enabled {
            let _ = write(&self.dir.join("enabled"), "0");
        }
        for l in [
            "planes/plane0/possible_crtcs/crtc0",
            "encoders/encoder0/possible_crtcs/crtc0",
            "connectors/connector0/possible_encoders/encoder0",
        ] {
            let _ = fs::remove_file(self.dir.join(l));
        }
        for d in [
            "planes/plane0",
            "crtcs/crtc0",
            "encoders/encoder0",
            "connectors/connector0",
        ] {
            let _ = fs::remove_dir(self.dir.join(d));
        }
        let _ = fs::remove_dir(&self.dir);
    }
}
