//! Demo helper, run in the guest by `cargo xtask demo`: opens a few real DRM and dma-buf file
//! descriptors at fixed numbers, without close-on-exec, and runs a command that inherits them.
//!
//! | fd | what |
//! |----|------|
//! | 10 | vgem card node, the client that exports |
//! | 11 | dma-buf: a vgem dumb buffer exported through fd 10 |
//! | 12 | dma-buf: the same GEM object exported a second time |
//! | 13 | dma-buf: another vgem buffer |
//! | 14 | dma-buf: fd 11 imported into vkms and re-exported by vkms |
//! | 15 | a dup of fd 10 |
//! | 16 | vgem render node, another client of the same device |
//! | 17 | vkms card node |

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::process::{exit, Command};

use rust_tests::{create_dumb, export, import, open_vgem_card, open_vgem_render, open_vkms_card};

fn place(fd: impl AsFd, at: i32) {
    // dup2 clears close-on-exec on the new number.
    if unsafe { libc::dup2(fd.as_fd().as_raw_fd(), at) } != at {
        eprintln!(
            "hold-dmabufs: dup2 to {at}: {}",
            std::io::Error::last_os_error()
        );
        exit(3);
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.is_empty() {
        eprintln!("usage: hold-dmabufs COMMAND [ARGS...]");
        exit(2);
    }
    let vgem = open_vgem_card();
    let vkms = open_vkms_card();
    let render = open_vgem_render();
    let a = create_dumb(&vgem);
    let first: OwnedFd = export(&vgem, a);
    let second = export(&vgem, a);
    let other = export(&vgem, create_dumb(&vgem));
    let imported = import(&vkms, first.as_fd());
    let reexported = export(&vkms, imported);
    place(&vgem, 10);
    place(&first, 11);
    place(&second, 12);
    place(&other, 13);
    place(&reexported, 14);
    place(&vgem, 15);
    place(&render, 16);
    place(&vkms, 17);
    let status = Command::new(&args[0])
        .args(&args[1..])
        .status()
        .unwrap_or_else(|e| {
            eprintln!("hold-dmabufs: cannot run {}: {e}", args[0]);
            exit(3);
        });
    exit(status.code().unwrap_or(1));
}
