//! One module per command of `cargo xtask` (see `cargo xtask help`), and what several of them
//! share: the kernel image to boot, the guest's modules and device nodes.

use anyhow::bail;
mod bench;
mod check;
mod demo;
mod fuzz;
mod igt_regression;
mod kernel;
mod test;
mod userspace;
mod vm;

use crate::flags::{self, Cmd};
use crate::kernel::{Base, Flavor};
use crate::util::Result;

use std::path::PathBuf;
use std::time::Duration;

/// Runs a command: Ok(true) all passed, Ok(false) something failed.
pub fn run(cmd: &Cmd) -> Result<bool> {
    match cmd {
        Cmd::Kernel(k) => kernel::kernel(k),
        Cmd::Tree(b) => kernel::tree(b),
        Cmd::Export(b) => kernel::export(b),
        Cmd::Check(b) => check::run(b),
        Cmd::Vm(g) => vm::run(g),
        Cmd::Test(k) => test::run(k),
        Cmd::Demo(k) => demo::run(k),
        Cmd::Bench(g) => bench::run(g),
        Cmd::IgtRegression(f) => igt_regression::run(f),
        Cmd::Userspace(k) => userspace::run(k),
        Cmd::Fuzz(f) => fuzz::run(f),
    }
}

/// The drivers the guest loads on a modular kernel (vgem before vkms, the built-in link order, so
/// that card0 is vgem's as in the built-in kernel); `test` then loads the KUnit test modules of
/// `linux/kunit-suites.txt` (their suites run as they load: kunit.enable=1). bochs and
/// virtio_gpu drive the PCI display devices of [`crate::vm::PCI_GPUS`].
pub const DRIVER_MODULES: &[&str] = &["vgem", "vkms", "vim2m", "bochs", "virtio_gpu"];

/// On a modular kernel, the first calls of every guest script: load `modules`, wait for the
/// nodes.
pub fn modules_prelude(b: &Base, f: Flavor, modules: &[&str]) -> Vec<String> {
    modules_prelude_of(b, f, false, modules)
}

/// [`modules_prelude`] for the series' kernel, or the base alone when `unpatched`.
pub fn modules_prelude_of(b: &Base, f: Flavor, unpatched: bool, modules: &[&str]) -> Vec<String> {
    if f.modular() {
        let root = crate::kernel::mod_root_for(b, f, unpatched);
        crate::vm::modprobe_calls(&root, modules, GUEST_NODES)
    } else {
        vec![]
    }
}

/// What `vm`, `demo` and `bench` share: boots the patched kernel of `a` (built unless
/// --no-build), loads the drivers on a modular kernel and runs `calls` (see [`crate::vm::script`]).
pub fn boot(
    a: &flags::Kernel,
    name: &str,
    memory_mb: u32,
    calls: &[String],
) -> Result<crate::vm::VmRun> {
    boot_for(a, name, memory_mb, Duration::from_secs(900), calls)
}

/// [`boot`] with the guest's time limit `timeout`.
pub fn boot_for(
    a: &flags::Kernel,
    name: &str,
    memory_mb: u32,
    timeout: Duration,
    calls: &[String],
) -> Result<crate::vm::VmRun> {
    let b = crate::kernel::base(a.base())?;
    let img = kernel_image(a, b, a.flavor())?;
    let mut all = modules_prelude_of(b, a.flavor(), a.unpatched, DRIVER_MODULES);
    all.extend_from_slice(calls);
    let opts = crate::vm::VmOpts {
        kernel: &img,
        cmdline: a.flavor().boot_args(),
        timeout,
        memory_mb,
        name,
    };
    crate::vm::run(&opts, &crate::vm::script(&all))
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

/// The patched kernel (the base alone with --unpatched): built (incrementally) unless --no-build
/// asks for the one already there.
pub fn kernel_image(a: &flags::Kernel, b: &Base, f: Flavor) -> Result<PathBuf> {
    if !a.no_build {
        return if a.unpatched {
            crate::kernel::build_unpatched(b, f)
        } else {
            crate::kernel::build(b, f)
        };
    }
    let img = crate::kernel::obj_dir_of(b, f, a.unpatched).join("arch/x86/boot/bzImage");
    if !img.exists() {
        bail!("--no-build: {} does not exist", img.display());
    }
    eprintln!("xtask: --no-build: booting {} as it is", img.display());
    Ok(img)
}
