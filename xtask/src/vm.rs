//! The VM: a bzImage booted under `qemu-system-x86_64 -accel tcg` (nested KVM fails on these
//! machines) with a tiny busybox initramfs. The host's root is shared read-only over 9p and the
//! guest chroots into it, so binaries built on the host run unchanged; one directory is shared
//! read-write for the command script, its output and the guest's kernel log.
//!
//! Why not virtme-ng: it needs ACPI, udev on the host and spends ~15 s in systemd-tmpfiles and
//! udev under TCG; this runner is one init script and boots to the command in ~2 s.

use crate::util::{self, Result};
use anyhow::bail;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// The initramfs init: mounts, chroot, runs `cmd.sh` of the run directory.
const INIT: &str = include_str!("../guest/init.sh");

/// The functions the guest scripts call (sourced at the start of each: [`script`]).
const LIB: &str = include_str!("../guest/lib.sh");

/// A guest script: the functions of `guest/lib.sh`, then `calls` (lines that call them or any
/// command, their arguments quoted with [`call`]).
pub fn script(calls: &[String]) -> String {
    let mut s = String::from(LIB);
    for c in calls {
        s.push_str(c);
        s.push('\n');
    }
    s
}

/// One line of a guest script: `words` quoted for sh.
pub fn call<S: AsRef<str>>(words: &[S]) -> String {
    let w: Vec<String> = words
        .iter()
        .map(|w| util::shell_quote(w.as_ref()))
        .collect();
    w.join(" ")
}

/// Builds (once, or when the init script changed) the initramfs: busybox and the init script.
pub fn initramfs() -> Result<PathBuf> {
    let dir = util::build_dir().join("vm");
    let img = dir.join("initramfs.cpio.gz");
    let stamp = dir.join("initramfs.stamp");
    let busybox = Path::new("/bin/busybox");
    if !busybox.exists() {
        bail!("/bin/busybox is missing: apt-get install busybox-static");
    }
    if img.exists() && fs::read_to_string(&stamp).ok().as_deref() == Some(INIT) {
        return Ok(img);
    }
    let root = dir.join("initramfs");
    let _ = fs::remove_dir_all(&root);
    util::mkdir_p(&root.join("bin"))?;
    util::copy(busybox, &root.join("bin/busybox"))?;
    util::write(&root.join("init"), INIT)?;
    util::run(&mut util::sh(&format!(
        "cd {} && chmod 755 init bin/busybox && find . | cpio -o -H newc --quiet | gzip -1 > {}",
        root.display(),
        img.display()
    )))?;
    util::write(&stamp, INIT)?;
    Ok(img)
}

pub struct VmRun {
    /// The command's exit status, or None when the guest never reported one.
    pub status: Option<i32>,
    /// What the command printed.
    pub output: String,
    /// The guest kernel's log (dmesg at the end, else the serial log).
    pub dmesg: String,
    pub seconds: f64,
    pub dir: PathBuf,
}

pub struct VmOpts<'a> {
    pub kernel: &'a Path,
    /// Extra kernel command-line words (e.g. kunit.enable=1 ...).
    pub cmdline: &'a str,
    pub timeout: Duration,
    pub memory_mb: u32,
    pub name: &'a str,
}

/// The emulated PCI display devices every guest gets, at fixed slots of the root bus (QEMU's
/// `pc` machine, bus `pci.0`), as (PCI address in the guest, QEMU `-device` argument). Two
/// `bochs-display` (one driver, two devices) and one `virtio-gpu-pci` (PRIME export). `-nodefaults`
/// keeps QEMU's default VGA (a third bochs device) out. Tests find them by driver name and PCI
/// address (`rust-tests/src/pci.rs`, `PCI_GPUS` there), never by card number.
pub const PCI_GPUS: &[(&str, &str)] = &[
    ("0000:00:08.0", "bochs-display,bus=pci.0,addr=0x8"),
    ("0000:00:09.0", "bochs-display,bus=pci.0,addr=0x9"),
    ("0000:00:0a.0", "virtio-gpu-pci,bus=pci.0,addr=0xa"),
];

/// Boots the kernel, runs `script` (a POSIX sh script, run as root in the chroot of the host
/// root) and returns what happened. Never hangs: QEMU runs under `timeout`.
pub fn run(opts: &VmOpts, script: &str) -> Result<VmRun> {
    let initrd = initramfs()?;
    let dir = util::build_dir().join("vm").join(opts.name);
    let _ = fs::remove_dir_all(&dir);
    util::mkdir_p(&dir)?;
    let dir = util::canonicalize(&dir)?;
    util::write(&dir.join("cmd.sh"), script)?;
    // no_timer_check: on a loaded host, TCG can run the IO-APIC timer check too slowly for it,
    // and the kernel then panics ("IO-APIC + timer doesn't work!") before the test starts.
    let append = format!(
        "console=ttyS0 rdinit=/init panic=-1 no_timer_check xtask.out={} xtask.root={} {}",
        dir.display(),
        util::root().display(),
        opts.cmdline
    );
    if append.len() > 2000 {
        bail!("kernel command line too long (pass scripts, not commands)");
    }
    let serial = dir.join("serial.log");
    let mut q = Command::new("timeout");
    q.args(["--foreground", "-k", "10"])
        .arg(opts.timeout.as_secs().to_string())
        .arg("qemu-system-x86_64")
        .args([
            "-accel",
            "tcg",
            "-cpu",
            "max",
            "-smp",
            "2",
            "-nodefaults",
            "-no-reboot",
        ])
        .args(["-display", "none", "-monitor", "none"])
        .args(PCI_GPUS.iter().flat_map(|(_, device)| ["-device", device]))
        .arg("-m")
        .arg(opts.memory_mb.to_string())
        .arg("-kernel")
        .arg(opts.kernel)
        .arg("-initrd")
        .arg(&initrd)
        .arg("-append")
        .arg(&append)
        .arg("-serial")
        .arg(format!("file:{}", serial.display()))
        .arg("-virtfs")
        .arg("local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap")
        .arg("-virtfs")
        .arg(format!(
            "local,path={},mount_tag=xtaskout,security_model=none",
            dir.display()
        ));
    let t0 = Instant::now();
    let (_, qemu_text) = util::capture(&mut q)?;
    let seconds = t0.elapsed().as_secs_f64();
    let status = fs::read_to_string(dir.join("status"))
        .ok()
        .and_then(|s| s.trim().parse().ok());
    let output = fs::read_to_string(dir.join("out.txt")).unwrap_or_default();
    let serial_text = fs::read_to_string(&serial).unwrap_or_default();
    let dmesg = fs::read_to_string(dir.join("dmesg.txt")).unwrap_or(serial_text);
    if status.is_none() {
        eprintln!(
            "xtask: the guest reported no status after {seconds:.0} s (timeout {} s); serial log {}{}",
            opts.timeout.as_secs(),
            serial.display(),
            if qemu_text.trim().is_empty() { String::new() } else { format!("\nqemu: {qemu_text}") }
        );
    }
    Ok(VmRun {
        status,
        output,
        dmesg,
        seconds,
        dir,
    })
}

impl VmRun {
    /// True when the command exited 0 and the kernel log is clean; says what was not.
    pub fn clean(&self) -> bool {
        let problems = kernel_problems(&self.dmesg);
        for p in &problems {
            eprintln!("xtask: kernel log: {p}");
        }
        eprintln!(
            "xtask: guest ran {:.1} s, status {:?}, log {}",
            self.seconds,
            self.status,
            self.dir.display()
        );
        self.status == Some(0) && problems.is_empty()
    }
}

/// The calls that start a guest script on a modular kernel: `load_modules` (guest/lib.sh) with
/// the flavour's module root, then `wait_nodes` for `nodes`.
pub fn modprobe_calls(modroot: &Path, modules: &[&str], nodes: &[&str]) -> Vec<String> {
    let root = modroot.to_string_lossy();
    let load = [&["load_modules", &root][..], modules].concat();
    let wait = [&["wait_nodes"][..], nodes].concat();
    vec![call(&load), call(&wait)]
}

/// What `load_modules` ([`modprobe_calls`]) printed: each module that had its turn, with `Err(modprobe's
/// message)` when it did not load.
pub fn modprobe_results(output: &str) -> Vec<(String, std::result::Result<(), String>)> {
    output
        .lines()
        .filter_map(|l| l.strip_prefix("XTASK-MODULE "))
        .filter_map(|l| {
            if let Some(m) = l.strip_prefix("ok ") {
                Some((m.trim().to_string(), Ok(())))
            } else {
                let (m, msg) = l.strip_prefix("failed ")?.split_once(": ")?;
                Some((m.to_string(), Err(msg.trim().to_string())))
            }
        })
        .collect()
}

/// Where a host path is seen in the guest: the same path, but the guest has its own /tmp and sees
/// the host's read-only at /run/host-tmp.
pub fn guest_path(p: &Path) -> PathBuf {
    match p.strip_prefix("/tmp") {
        Ok(rest) => Path::new("/run/host-tmp").join(rest),
        Err(_) => p.to_path_buf(),
    }
}

/// Lines of a kernel log that mean the kernel itself went wrong.
pub fn kernel_problems(dmesg: &str) -> Vec<String> {
    const BAD: &[&str] = &[
        "WARNING:",
        "BUG:",
        "Oops",
        "Kernel panic",
        "general protection fault",
        "Call Trace:",
        "KASAN:",
        "UBSAN:",
        "kmemleak:",
        "possible circular locking",
        "possible recursive locking",
        "suspicious RCU usage",
        "refcount_t:",
        "list_add corruption",
        "list_del corruption",
        "ODEBUG:",
        "INFO: task",
        "hung_task",
        "soft lockup",
        "stack-protector",
        "usercopy:",
    ];
    dmesg
        .lines()
        .filter(|l| BAD.iter().any(|b| l.contains(b)))
        .filter(|l| !l.contains("kmemleak: Kernel memory leak detector initialized"))
        .filter(|l| !l.contains("kmemleak: Automatic memory scanning thread started"))
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modprobe_lines() {
        let s = modprobe_calls(
            Path::new("/b/mod root"),
            &["vkms", "x"],
            &["/dev/dri/card0"],
        );
        assert_eq!(
            s,
            [
                "'load_modules' '/b/mod root' 'vkms' 'x'",
                "'wait_nodes' '/dev/dri/card0'"
            ]
        );
        let out = "XTASK-MODULE ok vkms\nXTASK-MODULE failed x: modprobe: FATAL: Module x not found in directory /b/lib/modules/7.3.4 \nother\n";
        assert_eq!(
            modprobe_results(out),
            [
                ("vkms".to_string(), Ok(())),
                (
                    "x".to_string(),
                    Err(
                        "modprobe: FATAL: Module x not found in directory /b/lib/modules/7.3.4"
                            .to_string()
                    )
                )
            ]
        );
    }

    /// A guest script (guest/lib.sh and the calls) parses as POSIX sh, with `dash -n` (the
    /// guest's /bin/sh).
    #[test]
    fn guest_script_parses() {
        let mut calls = modprobe_calls(Path::new("/m"), &["vgem"], &["/dev/dri/card0"]);
        calls.push(call(&["run_group", "it's", "/bin/true", "--x"]));
        let dir = std::env::temp_dir().join(format!("xtask-vm-{}", std::process::id()));
        util::write(&dir.join("cmd.sh"), &script(&calls)).unwrap();
        let out = Command::new("dash")
            .arg("-n")
            .arg(dir.join("cmd.sh"))
            .output()
            .unwrap();
        let _ = fs::remove_dir_all(&dir);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Runs guest/lib.sh's functions with `calls` under dash; (status, output).
    fn lib_sh(calls: &[String]) -> (bool, String) {
        let out = Command::new("dash")
            .arg("-c")
            .arg(script(calls))
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        (out.status.success(), text)
    }

    /// run_group frames a command's output with its exit status, as the summary reads it.
    #[test]
    fn run_group_reports_the_status() {
        let (_, out) = lib_sh(&[
            call(&[
                "run_group",
                "g ok",
                "echo",
                "test result: ok. 1 passed; 0 failed; 0 ignored",
            ]),
            call(&["run_group", "g bad", "false"]),
        ]);
        assert!(
            out.contains("XTASK-BEGIN g ok\ntest result: ok.") && out.contains("XTASK-END g ok 0")
        );
        assert!(out.contains("XTASK-END g bad 1"), "{out}");
        let mut s = crate::results::Summary::default();
        s.add_guest_block("g ok", &out);
        s.add_guest_block("g bad", &out);
        assert_eq!(
            s.render().lines().last(),
            Some("total: 1 passed, 1 failed, 0 skipped")
        );
    }

    /// check_nodes says which nodes exist; load_modules reports a module that does not load.
    #[test]
    fn check_nodes_and_a_failed_modprobe() {
        let (_, out) = lib_sh(&[
            call(&["check_nodes", "/dev/null", "/nonexistent/node"]),
            call(&["load_modules", "/nonexistent/modroot", "no_such_module"]),
        ]);
        assert!(
            out.contains("XTASK-NODE /dev/null\nXTASK-MISSING /nonexistent/node"),
            "{out}"
        );
        let r = modprobe_results(&out);
        assert_eq!(r.len(), 1, "{out}");
        assert!(r[0].0 == "no_such_module" && r[0].1.is_err(), "{r:?}");
    }
}
