//! The Rust bindings against the C header of the kernel series: sizes, alignments, offsets,
//! result bits (the four `DMA_BUF_*` bits of series v2 included) and ioctl numbers, as a C
//! compiler sees them in the installed uAPI headers. A header without a constant fails to
//! compile the probe, so an older series fails this test rather than passing it.
//!
//! It needs the series' headers (`make headers_install` of the patched tree), so it is ignored by
//! a plain `cargo test`; `cargo xtask test` installs them and runs it with
//! `FDSAME_UAPI_INCLUDE=<dir> cargo test -p fdsame --test c_header -- --ignored`.

use fdsame::uapi::*;
use std::collections::HashMap;
use std::mem::{align_of, offset_of, size_of};
use std::process::Command;

const PROBE: &str = r#"
#include <stdio.h>
#include <stddef.h>
#include <drm/drm.h>
#include <linux/dma-buf.h>
#define P(name, value) printf("%s %llu\n", name, (unsigned long long)(value))
int main(void)
{
	P("drm_file_same.size", sizeof(struct drm_file_same));
	P("drm_file_same.align", _Alignof(struct drm_file_same));
	P("drm_file_same.fd", offsetof(struct drm_file_same, fd));
	P("drm_file_same.flags", offsetof(struct drm_file_same, flags));
	P("drm_file_same.result", offsetof(struct drm_file_same, result));
	P("dma_buf_same_object.size", sizeof(struct dma_buf_same_object));
	P("dma_buf_same_object.align", _Alignof(struct dma_buf_same_object));
	P("dma_buf_same_object.fd", offsetof(struct dma_buf_same_object, fd));
	P("dma_buf_same_object.flags", offsetof(struct dma_buf_same_object, flags));
	P("dma_buf_same_object.result", offsetof(struct dma_buf_same_object, result));
	P("DRM_FILE_SAME_FILE", DRM_FILE_SAME_FILE);
	P("DRM_FILE_SAME_CLIENT", DRM_FILE_SAME_CLIENT);
	P("DRM_FILE_SAME_DEVICE", DRM_FILE_SAME_DEVICE);
	P("DMA_BUF_SAME_FILE", DMA_BUF_SAME_FILE);
	P("DMA_BUF_SAME_OBJECT", DMA_BUF_SAME_OBJECT);
	P("DMA_BUF_SAME_STORAGE", DMA_BUF_SAME_STORAGE);
	P("DMA_BUF_STORAGE_COMPARED", DMA_BUF_STORAGE_COMPARED);
	P("DRM_IOCTL_FILE_SAME", DRM_IOCTL_FILE_SAME);
	P("DMA_BUF_IOCTL_SAME_OBJECT", DMA_BUF_IOCTL_SAME_OBJECT);
	return 0;
}
"#;

fn c_values() -> HashMap<String, u64> {
    let inc = std::env::var("FDSAME_UAPI_INCLUDE")
        .expect("FDSAME_UAPI_INCLUDE must name the series' installed uAPI headers (cargo xtask test sets it)");
    let dir = std::env::temp_dir().join(format!("fdsame-c-header-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (src, exe) = (dir.join("probe.c"), dir.join("probe"));
    std::fs::write(&src, PROBE).unwrap();
    let cc = Command::new("cc")
        .args(["-std=c11", "-Wall", "-Werror", "-I"])
        .arg(&inc)
        .arg(&src)
        .arg("-o")
        .arg(&exe)
        .output()
        .expect("run cc");
    assert!(
        cc.status.success(),
        "the probe does not compile against {inc}:\n{}",
        String::from_utf8_lossy(&cc.stderr)
    );
    let out = Command::new(&exe).output().expect("run the probe");
    let _ = std::fs::remove_dir_all(&dir);
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let (k, v) = l.split_once(' ').unwrap();
            (k.to_string(), v.parse().unwrap())
        })
        .collect()
}

#[test]
#[ignore = "needs the series' installed uAPI headers: run by cargo xtask test"]
fn rust_bindings_match_the_c_header() {
    let c = c_values();
    let rust: &[(&str, u64)] = &[
        ("drm_file_same.size", size_of::<drm_file_same>() as u64),
        ("drm_file_same.align", align_of::<drm_file_same>() as u64),
        ("drm_file_same.fd", offset_of!(drm_file_same, fd) as u64),
        (
            "drm_file_same.flags",
            offset_of!(drm_file_same, flags) as u64,
        ),
        (
            "drm_file_same.result",
            offset_of!(drm_file_same, result) as u64,
        ),
        (
            "dma_buf_same_object.size",
            size_of::<dma_buf_same_object>() as u64,
        ),
        (
            "dma_buf_same_object.align",
            align_of::<dma_buf_same_object>() as u64,
        ),
        (
            "dma_buf_same_object.fd",
            offset_of!(dma_buf_same_object, fd) as u64,
        ),
        (
            "dma_buf_same_object.flags",
            offset_of!(dma_buf_same_object, flags) as u64,
        ),
        (
            "dma_buf_same_object.result",
            offset_of!(dma_buf_same_object, result) as u64,
        ),
        ("DRM_FILE_SAME_FILE", DRM_FILE_SAME_FILE),
        ("DRM_FILE_SAME_CLIENT", DRM_FILE_SAME_CLIENT),
        ("DRM_FILE_SAME_DEVICE", DRM_FILE_SAME_DEVICE),
        ("DMA_BUF_SAME_FILE", DMA_BUF_SAME_FILE),
        ("DMA_BUF_SAME_OBJECT", DMA_BUF_SAME_OBJECT),
        ("DMA_BUF_SAME_STORAGE", DMA_BUF_SAME_STORAGE),
        ("DMA_BUF_STORAGE_COMPARED", DMA_BUF_STORAGE_COMPARED),
        ("DRM_IOCTL_FILE_SAME", DRM_IOCTL_FILE_SAME as u64),
        (
            "DMA_BUF_IOCTL_SAME_OBJECT",
            DMA_BUF_IOCTL_SAME_OBJECT as u64,
        ),
    ];
    assert_eq!(c.len(), rust.len(), "the probe printed {c:?}");
    for (k, v) in rust {
        assert_eq!(
            c.get(*k),
            Some(v),
            "{k}: C says {:?}, Rust says {v}",
            c.get(*k)
        );
    }
}
