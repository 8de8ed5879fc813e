//! One module per command of `cargo xtask` (see `cargo xtask help`), and what several of them
//! share: the kernel image to boot, the guest's modules and device nodes.

mod bench;
mod check;
mod demo;
mod igt_regression;
mod kernel;
mod test;
mod vm;

use crate::flags::Flags;
use crate::kernel::{Base, Flavor};
use crate::util::Result;
use std::path::PathBuf;

/// Runs command `cmd` with its parsed flags: Ok(true) all passed, Ok(false) something failed.
pub fn run(cmd: &str, f: &Flags) -> Result<bool> {
    match cmd {
        "kernel" => kernel::kernel(f),
        "tree" => kernel::tree(f),
        "export" => kernel::export(f),
        "check" => check::run(f),
        "vm" => vm::run(f),
        "test" => test::run(f),
        "demo" => demo::run(f),
        "bench" => bench::run(f),
        "igt-regression" => igt_regression::run(f),
        other => Err(format!("unknown command `{other}`")),
    }
}

/// The help of igt-regression, which has its own page.
pub fn igt_regression_usage() -> String {
    igt_regression::usage()
}

/// The modules the guest loads on a modular kernel: the drivers under test (vgem before vkms, the
/// built-in link order, so that card0 is vgem's as in the built-in kernel), then the KUnit test
/// modules of the series (their suites run as they load: kunit.enable=1). bochs and virtio_gpu
/// drive the PCI display devices of [`crate::vm::PCI_GPUS`].
pub const DRIVER_MODULES: &[&str] = &["vgem", "vkms", "vim2m", "bochs", "virtio_gpu"];
pub const KUNIT_MODULES: &[&str] = &["drm_file_same_test", "dmabuf_kunit"];

/// On a modular kernel, the start of every guest script: load `modules`, wait for the nodes.
pub fn modules_prelude(b: &Base, f: Flavor, modules: &[&str]) -> String {
    if f.modular() {
        crate::vm::modprobe_script(&crate::kernel::mod_root(b, f), modules, GUEST_NODES)
    } else {
        String::new()
    }
}

/// Devices every guest test needs; a missing one fails the run.
pub const GUEST_NODES: &[&str] = &[
    "/dev/dri/card0",
    "/dev/dri/card1",
    "/dev/dri/renderD128",
    "/dev/dma_heap/system",
    "/dev/udmabuf",
    "/dev/video0",
    // A DRM device bound to each emulated PCI display device (vm::PCI_GPUS).
    "/sys/bus/pci/devices/0000:00:08.0/drm",
    "/sys/bus/pci/devices/0000:00:09.0/drm",
    "/sys/bus/pci/devices/0000:00:0a.0/drm",
];

/// The patched kernel: built (incrementally) unless --no-build asks for the one already there.
pub fn kernel_image(a: &Flags, b: &Base, f: Flavor) -> Result<PathBuf> {
    if !a.no_build {
        return crate::kernel::build(b, f);
    }
    let img = crate::kernel::obj_dir(b, f).join("arch/x86/boot/bzImage");
    if !img.exists() {
        return Err(format!("--no-build: {} does not exist", img.display()));
    }
    eprintln!("xtask: --no-build: booting {} as it is", img.display());
    Ok(img)
}
