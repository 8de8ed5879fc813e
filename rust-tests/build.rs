//! Builds the 32-bit (i386) test program `c32/compat32.c` with `gcc -m32 -static` into OUT_DIR
//! for `tests/compat32.rs`, which runs it in the guest (the guest kernel has IA32_EMULATION).
//! A missing 32-bit toolchain fails the build: the compat test is never silently skipped.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    let src = "c32/compat32.c";
    println!("cargo:rerun-if-changed={src}");
    println!("cargo:rerun-if-changed=build.rs");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("OUT_DIR")).join("compat32");
    let cc = std::env::var("CC32").unwrap_or_else(|_| "gcc".into());
    println!("cargo:rerun-if-env-changed=CC32");
    let result = Command::new(&cc)
        .args([
            "-m32",
            "-static",
            "-O2",
            "-std=gnu11",
            "-Wall",
            "-Wextra",
            "-Werror",
            "-o",
        ])
        .arg(&out)
        .arg(src)
        .output();
    match result {
        Ok(o) if o.status.success() => {}
        Ok(o) => panic!(
            "\n\nrust-tests/build.rs: `{cc} -m32 -static` failed to build {src} (the 32-bit compat \
             test needs a 32-bit C toolchain; on Debian: apt-get install gcc-multilib):\n{}{}\n",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        ),
        Err(e) => panic!(
            "\n\nrust-tests/build.rs: cannot run `{cc}` to build {src} with -m32: {e} \
             (on Debian: apt-get install gcc-multilib)\n"
        ),
    }
    println!("cargo:rustc-env=FDSAME_COMPAT32_BIN={}", out.display());
}
