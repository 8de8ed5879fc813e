//! The `fdsame` binary on the host kernel: every example of issue 16 with its right value,
//! exit codes, output shapes, descriptors of the caller and of other processes.
//!
//! Some examples need to run as `nobody` (a FIFO only readable, `ps 1` without permission):
//! the test switches to nobody in the child before exec when it runs as root, and says
//! `SKIPPED` in its output otherwise.

use std::ffi::OsStr;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const NOBODY: u32 = 65534;

/// The CLI with only the descriptors a test gives it: whatever the test runner inherited
/// (a `flock` lock file as fd 3, for one) is closed in the child.
fn fdsame() -> Command {
    let mut cmd = fdsame_inheriting();
    // SAFETY: close_range between fork and exec (std has set up 0, 1, 2 already).
    unsafe {
        cmd.pre_exec(|| {
            libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32);
            Ok(())
        });
    }
    cmd
}

/// The CLI inheriting every non-CLOEXEC descriptor of this process.
fn fdsame_inheriting() -> Command {
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
        String::from_utf8_lossy(&stdout).into_owned(),
        String::from_utf8_lossy(&stderr).into_owned(),
    )
}

/// Runs with a deadline: never blocking is part of the contract.
fn run_within(cmd: &mut Command, limit: Duration) -> (i32, String, String) {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let t = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if t.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("fdsame blocked for more than {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().expect("killed by a signal"),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A pipe whose ends are not inherited by the processes the tests spawn.
fn pipe() -> (OwnedFd, OwnedFd) {
    rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).unwrap()
}

fn json(out: &str) -> Value {
    serde_json::from_str(out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
}

fn tmpdir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("fdsame-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // Reachable by nobody.
    std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    dir
}

fn tmpfile(name: &str) -> String {
    let p = tmpdir().join(name);
    std::fs::write(&p, b"x").unwrap();
    p.to_str().unwrap().to_owned()
}

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// The child switches to nobody before exec.
fn as_nobody(cmd: &mut Command) -> &mut Command {
    // SAFETY: only async-signal-safe system calls between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setgroups(0, std::ptr::null()) != 0
                || libc::setgid(NOBODY) != 0
                || libc::setuid(NOBODY) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        })
    }
}

// ---------------------------------------------------------------------------------------
// Wrong answers, hangs and crashes

/// `fdsame /etc/hostname /proc/self/fd/3` with fd 3 not open in the caller used to print
/// "same" (the CLI's own open of A took number 3): now exit 3, and a held fd 3 is that one.
#[test]
fn a_descriptor_the_caller_does_not_hold_is_exit_3() {
    let p = tmpfile("hostname");
    for b in ["/proc/self/fd/3", "/dev/fd/3", "/proc/thread-self/fd/3"] {
        let (code, out, err) = run(fdsame().args([p.as_str(), b]));
        assert_eq!(code, 3, "{b}: {out}{err}");
        assert!(out.is_empty(), "{out}");
        assert!(err.contains("does not hold"), "{err}");
        // Whatever the order.
        let (code, _, _) = run(fdsame().args([b, p.as_str()]));
        assert_eq!(code, 3);
    }
    // Held: fd 3 is the caller's pipe, a different file from the path.
    let (r, _w) = pipe();
    let fd = r.as_raw_fd();
    let mut cmd = fdsame_inheriting();
    cmd.args(["--json", p.as_str(), "/proc/self/fd/3"]);
    // SAFETY: dup2 between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            // dup2 onto itself keeps FD_CLOEXEC: clear it then.
            let r = if fd == 3 {
                libc::fcntl(3, libc::F_SETFD, 0)
            } else {
                libc::dup2(fd, 3)
            };
            if r < 0 {
                return Err(std::io::Error::last_os_error());
            }
            libc::syscall(libc::SYS_close_range, 4u32, u32::MAX, 0u32);
            Ok(())
        });
    }
    let (code, out, err) = run(&mut cmd);
    assert_eq!(code, 1, "{out}{err}");
    let v = json(&out);
    assert_eq!(v["b"]["obtained_by"], "the caller's descriptor");
    assert_eq!(v["b"]["fd"], 3);
    assert!(
        v["b"]["target"].as_str().unwrap().starts_with("pipe:["),
        "{v}"
    );
    assert_eq!(v["levels"]["file"], "different");
    // A closed stdin/stdout is not held either, though Rust's runtime puts /dev/null there.
    let mut cmd = fdsame();
    cmd.args(["/dev/stdin", "/proc/self/fd/0"])
        .stdin(Stdio::null());
    let (code, out, _) = run(&mut cmd);
    assert_eq!(code, 0, "stdin held: {out}");
    let mut cmd = fdsame();
    cmd.args(["/dev/stdin", p.as_str()]);
    // SAFETY: close between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            libc::close(0);
            Ok(())
        });
    }
    let (code, _, err) = run(&mut cmd);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("descriptor 0"), "{err}");
}

/// The caller's descriptors by every name, including ones handed over by the shell.
#[test]
fn caller_descriptors_by_any_name() {
    let (r, w) = pipe();
    let (code, out, err) = run(fdsame()
        .args(["--json", "/dev/stdin", "/proc/self/fd/0"])
        .stdin(Stdio::from(r.try_clone().unwrap())));
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(json(&out)["levels"]["file"], "same");
    let (code, out, _) = run(fdsame()
        .args(["--json", "/dev/stdin", "/dev/stdout"])
        .stdin(Stdio::from(r.try_clone().unwrap()))
        .stdout(Stdio::piped()));
    // stdout is the test's capture pipe: another file than stdin.
    assert_eq!(code, 1, "{out}");
    drop(w);
}

/// A FIFO the user may only read (`mkfifo -m 644` by root, run as nobody) used to block
/// forever: a path is looked up with O_PATH and never opened.
#[test]
fn a_fifo_only_readable_does_not_block() {
    let fifo = tmpdir().join("fifo");
    let _ = std::fs::remove_file(&fifo);
    rustix::fs::mkfifoat(
        rustix::fs::CWD,
        &fifo,
        rustix::fs::Mode::from_raw_mode(0o644),
    )
    .unwrap();
    let f = fifo.to_str().unwrap();
    let mut cmd = fdsame();
    cmd.args(["--json", f, f]);
    if is_root() {
        as_nobody(&mut cmd);
    } else {
        println!("SKIPPED as nobody (not root): running as this user instead");
    }
    let (code, out, err) = run_within(&mut cmd, Duration::from_secs(10));
    assert_eq!(code, 1, "{out}{err}");
    let v = json(&out);
    assert_eq!(v["a"]["obtained_by"], "O_PATH");
    assert!(
        v["a"]["kind_detail"].as_str().unwrap().contains("FIFO"),
        "{v}"
    );
    assert_eq!(v["levels"]["file"], "different");
    // As root, too (O_RDWR would succeed there, and still not be needed).
    let (code, out, _) = run_within(fdsame().args([f, f]), Duration::from_secs(10));
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("FIFO; looked up with O_PATH, not opened"),
        "{out}"
    );
}

/// `ps` never blocks on a descriptor's target either: a process holding a FIFO (and a
/// deleted file, a socket, an eventfd) is listed at once. A stuck network mount cannot be
/// made here: ps stats targets with AT_STATX_DONT_SYNC, which NFS, FUSE, CIFS and 9p answer
/// from their cache.
#[test]
fn ps_does_not_block_on_targets() {
    let fifo = tmpdir().join("fifo-ps");
    let _ = std::fs::remove_file(&fifo);
    rustix::fs::mkfifoat(
        rustix::fs::CWD,
        &fifo,
        rustix::fs::Mode::from_raw_mode(0o600),
    )
    .unwrap();
    let held = rustix::fs::open(
        &fifo,
        rustix::fs::OFlags::RDWR | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )
    .unwrap();
    let mut child = Command::new("sleep")
        .arg("30")
        .stdin(Stdio::from(held))
        .spawn()
        .unwrap();
    let (code, out, err) = run_within(
        fdsame().args(["--json", "ps", &child.id().to_string()]),
        Duration::from_secs(10),
    );
    let _ = child.kill();
    let _ = child.wait();
    println!("note: a stuck NFS/FUSE mount cannot be set up on this machine; ps uses AT_STATX_DONT_SYNC for it");
    assert_eq!(code, 0, "{out}{err}");
    let v = json(&out);
    assert_eq!(v["totals"]["processes_inspected"], 1);
    assert_eq!(v["drm_devices"].as_array().unwrap().len(), 0);
    assert!(v["not_inspected"].as_array().unwrap().is_empty(), "{v}");
}

/// `fdsame ps 1` as nobody used to say "no DRM or dma-buf file descriptors found", exit 0:
/// a named process that cannot be inspected is reported, exit 3.
#[test]
fn ps_of_a_process_that_cannot_be_inspected_is_exit_3() {
    if !is_root() {
        println!("SKIPPED: needs root to run as nobody");
        return;
    }
    for args in [&["ps", "1"][..], &["--json", "ps", "1"]] {
        let (code, out, err) = run(as_nobody(&mut fdsame()).args(args));
        assert_eq!(code, 3, "{out}{err}");
        assert!(
            !out.contains("no DRM or dma-buf file descriptors found in 1"),
            "{out}"
        );
        if args[0] == "--json" {
            let v = json(&out);
            assert_eq!(v["not_inspected"][0]["pid"], 1);
            assert!(
                v["not_inspected"][0]["reason"]
                    .as_str()
                    .unwrap()
                    .contains("Permission denied"),
                "{v}"
            );
            assert_eq!(v["totals"]["processes_not_inspected"], 1);
        } else {
            assert!(out.contains("not inspected: 1 process,"), "{out}");
            assert!(out.contains("PTRACE_MODE_READ"), "{out}");
        }
    }
    // Every process as nobody: the others are listed as not inspected, exit 0 (none named).
    let (code, out, _) = run(as_nobody(&mut fdsame()).args(["--json", "ps"]));
    assert_eq!(code, 0);
    let v = json(&out);
    assert!(
        v["totals"]["processes_not_inspected"].as_u64().unwrap() >= 1,
        "{v}"
    );
}

/// The descriptor links themselves unreadable (the directory listable: a process of the
/// same user holding capabilities the reader lacks): each descriptor is reported, exit 3.
#[test]
fn ps_of_a_process_whose_links_cannot_be_read_is_exit_3() {
    if !is_root() {
        println!("SKIPPED: needs root to run as nobody");
        return;
    }
    let mut target = Command::new("setpriv");
    target.args([
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        "--inh-caps=+net_raw",
        "--ambient-caps=+net_raw",
        "sleep",
        "30",
    ]);
    let mut child = target
        .spawn()
        .expect("setpriv (util-linux, essential in Debian) must be installed");
    std::thread::sleep(Duration::from_millis(300));
    let pid = child.id().to_string();
    let listable = run(as_nobody(&mut Command::new("ls")).arg(format!("/proc/{pid}/fd"))).0 == 0;
    let (code, out, err) = run(as_nobody(&mut fdsame()).args(["--json", "ps", &pid]));
    let _ = child.kill();
    let _ = child.wait();
    if !listable {
        println!("SKIPPED the per-link case: /proc/{pid}/fd is not listable here; the process case is tested");
        assert_eq!(code, 3, "{out}{err}");
        return;
    }
    assert_eq!(code, 3, "{out}{err}");
    let v = json(&out);
    let missed = v["not_inspected"].as_array().unwrap();
    assert!(!missed.is_empty(), "{v}");
    assert!(
        missed
            .iter()
            .all(|m| !m["fds"].as_array().unwrap().is_empty()),
        "{v}"
    );
    assert!(
        missed[0]["reason"].as_str().unwrap().contains("readlink"),
        "{v}"
    );
}

/// `fdsame /proc/-1/fd/0 /dev/null` panicked in a debug build (this test runs the debug
/// build): now a message and exit 3.
#[test]
fn bad_pids_are_messages_not_panics() {
    for a in [
        "/proc/-1/fd/0",
        "/proc/0/fd/0",
        "/proc/99999999999/fd/0",
        "/proc/2147483646/fd/0",
    ] {
        let (code, out, err) = run(fdsame().args([a, "/dev/null"]));
        assert_eq!(code, 3, "{a}: {out}{err}");
        assert!(!err.contains("panicked"), "{err}");
        assert!(err.starts_with("fdsame: "), "{err}");
    }
    let (code, _, err) = run(fdsame().args(["/proc/1/fd/999999", "/dev/null"]));
    assert_eq!(code, 3, "{err}");
}

/// `fdsame /dev/null /dev/null > /dev/full` and a closed stdout pipe panicked with exit 101:
/// now a message and exit 5.
#[test]
fn unwritable_stdout_is_exit_5() {
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let (code, out, err) = run(fdsame()
        .args(["/dev/null", "/dev/null"])
        .stdout(Stdio::from(full)));
    assert_eq!(code, 5, "{out}{err}");
    assert!(err.contains("No space left on device"), "{err}");
    assert!(!err.contains("panicked"), "{err}");

    // A pipe whose reader is gone: EPIPE (SIGPIPE is ignored by Rust programs).
    let (r, w) = pipe();
    drop(r);
    let (code, _, err) = run(fdsame()
        .args(["--json", "/dev/null", "/dev/null"])
        .stdout(Stdio::from(w)));
    assert_eq!(code, 5, "{err}");
    assert!(err.contains("Broken pipe"), "{err}");

    // stdout closed altogether (Rust's runtime would have put /dev/null there).
    let mut cmd = fdsame();
    cmd.args(["/dev/null", "/dev/null"]);
    // SAFETY: close between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            libc::close(1);
            Ok(())
        });
    }
    let (code, _, err) = run(&mut cmd);
    assert_eq!(code, 5, "{err}");
    assert!(err.contains("standard output is closed"), "{err}");

    // ps and --help too.
    for args in [&["ps"][..], &["--help"]] {
        let full = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap();
        let (code, _, err) = run(fdsame().args(args).stdout(Stdio::from(full)));
        assert_eq!(code, 5, "{args:?}: {err}");
    }
}

/// `--json ps` failed (`--json` before the subcommand); `--level FILE` was refused while
/// `--mechanism KCMP` was taken; `-l file -l file` printed the level twice; a pid above i32
/// gave an internal range message; non-UTF-8 paths were refused.
#[test]
fn arguments_as_a_new_user_writes_them() {
    let me = std::process::id().to_string();
    for args in [
        vec!["--json", "ps", me.as_str()],
        vec!["ps", "--json", me.as_str()],
        vec!["ps", me.as_str(), "--json"],
    ] {
        let (code, out, err) = run(fdsame().args(&args));
        assert_eq!(code, 0, "{args:?}: {err}");
        assert!(json(&out)["totals"].is_object(), "{args:?}");
    }
    let p = tmpfile("levels");
    for level in [
        "FILE",
        "File",
        "file",
        "DRM_DEVICE",
        "Device",
        "DmaBufObject",
        "dma_buf_storage",
    ] {
        let (code, out, err) = run(fdsame().args(["--json", "--level", level, &p, &p]));
        assert_eq!(code, 1, "{level}: {out}{err}");
        assert_eq!(json(&out)["asked"].as_array().unwrap().len(), 1);
    }
    for m in [
        "KCMP",
        "Kcmp",
        "F_DUPFD_QUERY",
        "FDupfdQuery",
        "f-dupfd-query",
    ] {
        let (code, out, err) = run(fdsame().args(["--json", "--mechanism", m, &p, &p]));
        assert_eq!(code, 1, "{m}: {out}{err}");
    }
    let (code, out, _) = run(fdsame().args(["-l", "file", "-l", "FILE", "-l", "file", &p, &p]));
    assert_eq!(code, 1);
    assert_eq!(out.matches("verdict (file)").count(), 1, "{out}");
    assert_eq!(
        out.lines().filter(|l| l.starts_with('*')).count(),
        1,
        "{out}"
    );

    for pid in ["99999999999", "2147483648", "0", "-5", "abc"] {
        let (code, _, err) = run(fdsame().args(["ps", pid]));
        assert_eq!(code, 2, "{pid}: {err}");
        assert!(err.contains("not a process id"), "{pid}: {err}");
        assert!(
            !err.contains("2147483648..") && !err.contains("-2147483648"),
            "{err}"
        );
    }
    // A pid that fits but names no process: exit 3.
    let (code, out, _) = run(fdsame().args(["--json", "ps", "2147483646"]));
    assert_eq!(code, 3);
    assert_eq!(
        json(&out)["not_inspected"][0]["reason"],
        "no process 2147483646"
    );

    // Non-UTF-8 paths are paths.
    let dir = tmpdir();
    let name = OsStr::from_bytes(b"caf\xe9");
    let raw = dir.join(name);
    std::fs::write(&raw, b"x").unwrap();
    let (code, out, err) = run(fdsame().arg("--json").arg(&raw).arg(&raw));
    assert_eq!(code, 1, "{out}{err}");
    // Reversibly: the bytes in hex, and a lossy rendering.
    let arg = &json(&out)["a"]["arg"];
    assert!(arg["hex"].as_str().unwrap().ends_with("636166e9"), "{arg}");
    assert!(
        arg["lossy"].as_str().unwrap().ends_with("caf\u{fffd}"),
        "{arg}"
    );
}

/// `fdsame -m epoll /dev/null /dev/null` reported `mechanism: epoll` with an unknown answer:
/// the mechanism is named only when it told. (epoll of two files that cannot be polled is
/// now a usage error, exit 2: fstat of one descriptor twice is the case that cannot tell.)
#[test]
fn a_forced_mechanism_that_cannot_tell_is_not_named() {
    let (code, out, _) = run(fdsame().args(["-m", "epoll", "--json", "/dev/null", "/dev/null"]));
    assert_eq!(code, 2, "{out}");
    assert_eq!(json(&out)["exit"], 2);
    let file = || Stdio::from(std::fs::File::open("/proc/self/exe").unwrap());
    let (code, out, _) = run(fdsame()
        .args(["-m", "fstat", "--json", "/dev/stdin", "/dev/stdin"])
        .stdin(file()));
    assert_eq!(code, 4, "{out}");
    let v = json(&out);
    assert_eq!(v["levels"]["file"], "unknown");
    assert!(v["mechanism"].is_null(), "{v}");
    assert_eq!(v["forced_mechanism"], "fstat");
    let (code, out, _) = run(fdsame()
        .args(["-m", "fstat", "/dev/stdin", "/dev/stdin"])
        .stdin(file()));
    assert_eq!(code, 4);
    assert!(
        out.contains("answered by: nothing (fstat was asked"),
        "{out}"
    );
    // Where epoll can tell, it is named.
    let (r, _w) = pipe();
    let (code, out, _) = run(fdsame()
        .args(["-m", "epoll", "--json", "/dev/stdin", "/proc/self/fd/0"])
        .stdin(Stdio::from(r)));
    assert_eq!(code, 0, "{out}");
    assert_eq!(json(&out)["mechanism"], "epoll");
}

/// At the descriptor limit the chain answered EMFILE instead of falling back: it answers
/// with what needs no descriptor; the forced epoll trick (which needs two) names its call.
#[test]
fn at_the_descriptor_limit() {
    let (r, _w) = pipe();
    let limited = |args: &[&str]| {
        let mut cmd = fdsame();
        cmd.args(args).stdin(Stdio::from(r.try_clone().unwrap()));
        // SAFETY: setrlimit between fork and exec. 0, 1, 2 and the two duplicates of the
        // arguments (3, 4) fit; nothing more.
        unsafe {
            cmd.pre_exec(|| {
                let lim = libc::rlimit {
                    rlim_cur: 5,
                    rlim_max: 5,
                };
                if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        run(&mut cmd)
    };
    let (code, out, err) = limited(&["--json", "/dev/stdin", "/proc/self/fd/0"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(json(&out)["levels"]["file"], "same");
    let (code, _, err) = limited(&["-m", "epoll", "/dev/stdin", "/proc/self/fd/0"]);
    assert_eq!(code, 4, "{err}");
    assert!(err.contains("epoll_create1 failed"), "{err}");
    assert!(err.contains("Too many open files"), "{err}");
}

/// A kcmp refused by a seccomp filter (EPERM) is "refused to this process", not "not
/// available on this kernel"; the chain goes on without it.
#[test]
fn kcmp_refused_by_seccomp() {
    let (r, _w) = pipe();
    let filtered = |args: &[&str]| {
        let mut cmd = fdsame();
        cmd.args(args).stdin(Stdio::from(r.try_clone().unwrap()));
        let prog = seccomp_errno(libc::SYS_kcmp as u32, libc::EPERM as u32);
        // SAFETY: prctl between fork and exec; `prog` is moved into the closure and lives
        // as long as it.
        unsafe {
            cmd.pre_exec(move || {
                let fprog = libc::sock_fprog {
                    len: prog.len() as u16,
                    filter: prog.as_ptr() as *mut _,
                };
                if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0
                    || libc::prctl(libc::PR_SET_SECCOMP, libc::SECCOMP_MODE_FILTER, &fprog) != 0
                {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        run(&mut cmd)
    };
    let (code, out, err) = filtered(&["-m", "kcmp", "/dev/stdin", "/proc/self/fd/0"]);
    assert_eq!(code, 4, "{out}{err}");
    assert!(err.contains("refused to this process"), "{err}");
    assert!(err.contains("Operation not permitted"), "{err}");
    assert!(!err.contains("not available on this kernel"), "{err}");
    let (code, out, err) = filtered(&["--json", "/dev/stdin", "/proc/self/fd/0"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_ne!(json(&out)["mechanism"], "kcmp");
}

/// A seccomp program: `nr` fails with `errno`, everything else is allowed (x86-64).
fn seccomp_errno(nr: u32, errno: u32) -> Vec<libc::sock_filter> {
    let ins = |code, jt, jf, k| libc::sock_filter { code, jt, jf, k };
    vec![
        ins(0x20, 0, 0, 4),           // ld arch
        ins(0x15, 0, 3, 0xc000_003e), // x86-64, else allow
        ins(0x20, 0, 0, 0),           // ld nr
        ins(0x15, 0, 1, nr),
        ins(0x06, 0, 0, 0x0005_0000 | errno), // errno
        ins(0x06, 0, 0, 0x7fff_0000),         // allow
    ]
}

// ---------------------------------------------------------------------------------------
// Shapes and exit codes

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
    for l in [
        "drm-client",
        "drm-device",
        "dma-buf-object",
        "dma-buf-storage",
    ] {
        assert_eq!(v["levels"][l], "not-applicable", "{l}");
    }
    assert_eq!(v["a"]["arg"], p.as_str());
    assert_eq!(v["a"]["kind"], "o-path");
    assert_eq!(v["a"]["obtained_by"], "O_PATH");
    assert_eq!(v["a"]["foreign"], false);
    assert_eq!(v["asked"], serde_json::json!(["file"]));
    assert_eq!(v["holds"], false);
    assert_eq!(v["exit"], 1);
    assert!(v["mechanism"].is_string(), "{v}");
    assert!(v["device_mechanism"].is_null());
}

#[test]
fn proc_fd_of_another_process() {
    let (r, w) = pipe();
    let me = std::process::id();
    let theirs = |fd: &OwnedFd| format!("/proc/{me}/fd/{}", fd.as_raw_fd());
    let child_stdin = |fd: &OwnedFd| Stdio::from(fd.try_clone().unwrap());
    let (code, out, err) = run(fdsame()
        .args(["--json", &theirs(&r), "/proc/self/fd/0"])
        .stdin(child_stdin(&r)));
    assert_eq!(code, 0, "{out}{err}");
    let v = json(&out);
    assert_eq!(v["levels"]["file"], "same");
    assert_eq!(v["a"]["obtained_by"], "pidfd_getfd");
    assert_eq!(v["a"]["foreign"], true);
    assert_eq!(v["a"]["pid"], me);
    assert_eq!(v["b"]["foreign"], false);
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
fn usage_errors_are_exit_2() {
    let p = tmpfile("usage");
    for args in [
        vec![],
        vec![p.as_str()],
        vec!["--level", "bogus", p.as_str(), p.as_str()],
        vec!["--mechanism", "bogus", p.as_str(), p.as_str()],
        vec!["--frobnicate", p.as_str(), p.as_str()],
        vec![p.as_str(), p.as_str(), p.as_str()],
        vec!["ps", "--level", "file"],
        // The DRM ioctl cannot compare two paths that are no DRM nodes.
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
    assert!(err.contains("no descriptor 987654"), "{err}");
}

#[test]
fn help_documents_exit_codes_side_effects_and_examples() {
    let (code, out, _) = run(fdsame().arg("--help"));
    assert_eq!(code, 0);
    for needle in [
        "EXIT STATUS",
        "EXAMPLES",
        "SIDE EFFECTS",
        "DRM_NO_PID_UPDATE",
        "runtime-PM",
        "ECANCELED",
        "JSON",
        "version",
        "not-applicable",
        "AT_STATX_DONT_SYNC",
        "O_PATH",
        "fdsame ps",
        "/proc/PID/fd/N",
        "pidfd_getfd",
        "CAP_SYS_PTRACE",
    ] {
        assert!(out.contains(needle), "--help lacks {needle}");
    }
    for n in 0..=5 {
        assert!(
            out.contains(&format!("\n  {n}  ")),
            "--help lacks exit code {n}"
        );
    }
    assert!(out.contains("\n  70 "), "--help lacks exit code 70");
}

#[test]
fn ps_json_shape() {
    let me = std::process::id().to_string();
    let (code, out, err) = run(fdsame().args(["ps", "--json", &me]));
    assert_eq!(code, 0, "{err}");
    let v = json(&out);
    for key in [
        "drm_devices",
        "dma_bufs",
        "processes",
        "not_inspected",
        "errors",
        "mechanisms",
    ] {
        assert!(v[key].is_array(), "{key}: {v}");
    }
    for key in [
        "drm_devices",
        "drm_clients",
        "dma_bufs",
        "dma_buf_bytes",
        "shared_dma_bufs",
        "processes_inspected",
        "processes_not_inspected",
        "fds_not_inspected",
    ] {
        assert!(v["totals"][key].is_number(), "{key}: {v}");
    }
    assert_eq!(v["not_inspected"].as_array().unwrap().len(), 0);
    // This host has no DRM devices: nothing to group.
    if std::fs::metadata("/dev/dri").is_err() {
        assert_eq!(v["drm_devices"].as_array().unwrap().len(), 0);
    }

    let (code, out, _) = run(fdsame().args(["ps"]));
    assert_eq!(code, 0);
    assert!(out.contains("totals:"), "{out}");
}
