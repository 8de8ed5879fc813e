//! Both ioctls from 32-bit code: runs the i386 program `c32/compat32.c` (built by build.rs with
//! `gcc -m32 -static`) and checks its report: one `PASS`/`FAIL` line per check and a summary.
//! The program static_asserts that the ioctl numbers and the struct layout (size 16, offsets
//! 0/4/8) are those of 64-bit code. Runs INSIDE the QEMU guest only (see README.md).

use std::process::Command;

use rust_tests::{report, require_guest};

/// The 32-bit program, built into OUT_DIR by build.rs.
const BIN: &str = env!("FDSAME_COMPAT32_BIN");

/// Checks the program must report as passed (a subset of its lines, so that a program that
/// silently stops checking something fails here).
const REQUIRED: &[&str] = &[
    "drm vgem dup -> ALL",
    "drm vgem two opens -> DEVICE",
    "drm vkms dup -> ALL",
    "drm vkms two opens -> DEVICE",
    "drm vgem vs vkms -> 0",
    "drm vgem vs closed fd -> EBADF",
    "drm flags 1 -> EINVAL",
    "drm NULL pointer",
    "drm unmapped pointer",
    "drm read-only pointer",
    "drm read-only page unchanged",
    "drm vgem vs O_PATH -> EBADF",
    "dma-buf dup -> FILE|OBJECT|STORAGE|COMPARED",
    "dma-buf vs O_PATH -> EBADF",
    "dma-buf two buffers -> 0",
    "dma-buf vs vgem -> 0",
    "dma-buf vs closed fd -> EBADF",
    "dma-buf flags 1 -> EINVAL",
    "dma-buf NULL pointer",
    "dma-buf unmapped pointer",
    "dma-buf read-only pointer",
    "dma-buf read-only page unchanged",
];

#[test]
fn compat32_program_passes_every_check() {
    require_guest();
    let out = Command::new(BIN)
        .output()
        .unwrap_or_else(|e| panic!("running the 32-bit program {BIN}: {e}"));
    let text = String::from_utf8_lossy(&out.stdout);
    let err = String::from_utf8_lossy(&out.stderr);
    let summary = text
        .lines()
        .find(|l| l.starts_with("compat32: "))
        .unwrap_or_else(|| {
            panic!(
                "no summary line from {BIN} (status {}):\n{text}{err}",
                out.status
            )
        });
    report(summary);
    let failed: Vec<&str> = text.lines().filter(|l| l.starts_with("FAIL")).collect();
    assert!(
        failed.is_empty(),
        "32-bit checks failed:\n{}\n\nfull output:\n{text}{err}",
        failed.join("\n")
    );
    assert!(
        out.status.success(),
        "{BIN} exited with {}:\n{text}{err}",
        out.status
    );
    for name in REQUIRED {
        let line = format!("PASS {name} = ");
        assert!(
            text.lines().any(|l| l.starts_with(&line)),
            "check `{name}` missing or not passed:\n{text}"
        );
    }
    let n: usize = summary
        .trim_start_matches("compat32: ")
        .split(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .expect("check count");
    assert_eq!(
        n,
        text.lines().filter(|l| l.starts_with("PASS ")).count(),
        "summary count vs PASS lines"
    );
    assert!(n >= REQUIRED.len());
}

#[test]
fn compat32_program_is_32_bit() {
    require_guest();
    let bytes = std::fs::read(BIN).unwrap_or_else(|e| panic!("reading {BIN}: {e}"));
    assert_eq!(&bytes[..4], b"\x7fELF", "{BIN} is not ELF");
    assert_eq!(bytes[4], 1, "{BIN} is not ELFCLASS32");
    assert_eq!(
        u16::from_le_bytes([bytes[18], bytes[19]]),
        3,
        "{BIN} is not EM_386"
    );
}
