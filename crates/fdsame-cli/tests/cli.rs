//! The `fdsame` binary on the host: exit codes, output shapes, /proc/PID/fd references.

use std::os::fd::{AsRawFd, OwnedFd};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

fn fdsame() -> Command {
    Command::new(env!("CARGO_BIN_EXE_fdsame"))
}

fn run(cmd: &mut Command) -> (i32, String, String) {
    let Output {
        status,
        stdout,
        stderr,
    } = cmd.output().unwrap();
    (
        status.code().expect("killed by a signal"),
        String::from_utf8(stdout).unwrap(),
        String::from_utf8(stderr).unwrap(),
    )
}

fn json(out: &str) -> Value {
    serde_json::from_str(out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
}

fn tmpfile(name: &str) -> String {
    let dir = std::env::temp_dir().join(format!("fdsame-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, b"x").unwrap();
    p.to_str().unwrap().to_owned()
}

#[test]
fn two_paths_to_one_file_are_two_opens() {
    let p = tmpfile("same");
    let (code, out, _) = run(fdsame().args([&p, &p]));
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("* file            different"), "{out}");
    assert!(out.contains("verdict (file): not the same"), "{out}");

    let (code, out, _) = run(fdsame().args(["--json", &p, &p]));
    assert_eq!(code, 1);
    let v = json(&out);
    assert_eq!(v["levels"]["file"], "different");
    assert_eq!(v["levels"]["drm-client"], "different");
    assert_eq!(v["levels"]["drm-device"], "different");
    assert_eq!(v["levels"]["dma-buf-object"], "different");
    assert_eq!(v["a"]["arg"], p.as_str());
    assert_eq!(v["a"]["kind"], "other");
    assert_eq!(v["a"]["obtained_by"], "open O_RDWR");
    assert_eq!(v["asked"], serde_json::json!(["file"]));
    assert_eq!(v["holds"], false);
    assert_eq!(v["exit"], 1);
    assert!(v["mechanism"].is_string(), "{v}");
    assert!(v["device_mechanism"].is_null());
}

#[test]
fn proc_fd_of_the_tests_own_pipe() {
    let (r, w) = rustix::pipe::pipe().unwrap();
    let me = std::process::id();
    let theirs = |fd: &OwnedFd| format!("/proc/{me}/fd/{}", fd.as_raw_fd());
    // The child's stdin is our pipe's read end: /proc/self/fd/0 in the child is that very
    // open file description, and so is our /proc/ME/fd/R seen through pidfd_getfd.
    let child_stdin = |fd: &OwnedFd| Stdio::from(fd.try_clone().unwrap());
    let (code, out, err) = run(fdsame()
        .args(["--json", &theirs(&r), "/proc/self/fd/0"])
        .stdin(child_stdin(&r)));
    assert_eq!(code, 0, "{out}{err}");
    let v = json(&out);
    assert_eq!(v["levels"]["file"], "same");
    assert_eq!(v["a"]["obtained_by"], "pidfd_getfd");
    assert_eq!(v["holds"], true);

    let (code, out, _) = run(fdsame()
        .args(["--json", &theirs(&w), "/proc/self/fd/0"])
        .stdin(child_stdin(&r)));
    assert_eq!(code, 1, "{out}");
    assert_eq!(json(&out)["levels"]["file"], "different");

    // Forcing each file-level mechanism: the ones this host has agree, the others exit 4.
    for m in ["f-dupfd-query", "kcmp", "epoll", "fstat"] {
        let (code, out, err) = run(fdsame()
            .args(["--json", "--mechanism", m, &theirs(&r), "/proc/self/fd/0"])
            .stdin(child_stdin(&r)));
        let v = json(&out);
        match code {
            0 => {
                assert_eq!(v["mechanism"], m);
                assert_eq!(v["levels"]["file"], "same");
            }
            // fstat cannot tell a pipe end from itself: the same inode tells nothing.
            4 if m == "fstat" => assert_eq!(v["levels"]["file"], "unknown"),
            4 => assert!(err.contains("not available on this kernel"), "{m}: {err}"),
            c => panic!("{m}: exit {c}: {out}{err}"),
        }
    }
}

#[test]
fn unknown_is_exit_4() {
    // The epoll trick cannot tell about regular files.
    let p = tmpfile("unknown");
    let f = std::fs::File::open(&p).unwrap();
    let (code, out, _) = run(fdsame()
        .args([
            "--mechanism",
            "epoll",
            "--json",
            "/proc/self/fd/0",
            "/proc/self/fd/0",
        ])
        .stdin(Stdio::from(f)));
    assert_eq!(code, 4, "{out}");
    let v = json(&out);
    assert_eq!(v["levels"]["file"], "unknown");
    assert_eq!(v["mechanism"], "epoll");
}

#[test]
fn levels_decide_the_exit_code() {
    let p = tmpfile("levels");
    // Two regular files are not DRM files: the drm-device level does not hold.
    let (code, _, _) = run(fdsame().args(["--level", "drm-device", &p, &p]));
    assert_eq!(code, 1);
    let (code, out, _) =
        run(fdsame().args(["-l", "file", "-l", "dma-buf-object", "--json", &p, &p]));
    assert_eq!(code, 1);
    assert_eq!(
        json(&out)["asked"],
        serde_json::json!(["file", "dma-buf-object"])
    );
}

#[test]
fn usage_errors_are_exit_2() {
    let p = tmpfile("usage");
    for args in [
        vec![],
        vec![p.as_str()],
        vec!["--level", "bogus", p.as_str(), p.as_str()],
        vec!["--mechanism", "bogus", p.as_str(), p.as_str()],
        vec!["--frobnicate", p.as_str(), p.as_str()],
        vec![p.as_str(), p.as_str(), p.as_str()],
        // The DRM ioctl cannot compare two regular files.
        vec!["--mechanism", "drm-ioctl", p.as_str(), p.as_str()],
    ] {
        let (code, out, err) = run(fdsame().args(&args));
        assert_eq!(code, 2, "{args:?}: {out}{err}");
        assert!(!err.is_empty(), "{args:?}: no message");
    }
}

#[test]
fn unobtainable_fds_are_exit_3() {
    let p = tmpfile("three");
    let (code, _, err) = run(fdsame().args(["/nonexistent/x", &p]));
    assert_eq!(code, 3);
    assert!(err.contains("/nonexistent/x"), "{err}");
    let me = std::process::id();
    let (code, out, err) = run(fdsame().args(["--json", &format!("/proc/{me}/fd/987654"), &p]));
    assert_eq!(code, 3, "{err}");
    assert_eq!(json(&out)["exit"], 3);
    assert!(err.contains("pidfd_getfd"), "{err}");
}

#[test]
fn help_documents_exit_codes_and_examples() {
    let (code, out, _) = run(fdsame().arg("--help"));
    assert_eq!(code, 0);
    for needle in [
        "EXIT STATUS",
        "EXAMPLES",
        "fdsame ps",
        "/proc/PID/fd/N",
        "pidfd_getfd",
        "CAP_SYS_PTRACE",
    ] {
        assert!(out.contains(needle), "--help lacks {needle}");
    }
    for n in 0..=4 {
        assert!(
            out.contains(&format!("\n  {n}  ")),
            "--help lacks exit code {n}"
        );
    }
}

#[test]
fn ps_json_shape() {
    let me = std::process::id().to_string();
    let (code, out, err) = run(fdsame().args(["ps", "--json", &me]));
    assert_eq!(code, 0, "{err}");
    let v = json(&out);
    for key in ["drm_devices", "dma_bufs", "skipped", "errors", "mechanisms"] {
        assert!(v[key].is_array(), "{key}: {v}");
    }
    assert_eq!(v["skipped"].as_array().unwrap().len(), 0);
    // This host has no DRM devices: nothing to group.
    if std::fs::metadata("/dev/dri").is_err() {
        assert_eq!(v["drm_devices"].as_array().unwrap().len(), 0);
    }

    // A process that does not exist: named in the message, exit 3.
    let (code, out, err) = run(fdsame().args(["ps", "--json", "2147483646"]));
    assert_eq!(code, 3, "{out}{err}");
    let v = json(&out);
    assert_eq!(v["skipped"][0]["pid"], 2147483646);

    let (code, out, _) = run(fdsame().args(["ps"]));
    assert_eq!(code, 0);
    assert!(!out.is_empty());
}
