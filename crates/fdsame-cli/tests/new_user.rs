//! The `fdsame` binary against the kinds of input of the second round of new-user checks:
//! pid namespaces, thread ids, names the kernel rejects, files with a subcommand, `ps` of a
//! thread or a pid twice, a file named like a dma-buf, the exit status with and without
//! `--json`, the documented JSON, names with newlines and bytes that are not UTF-8.
//!
//! The pid-namespace tests need root and unshare(1) (util-linux); without them they say
//! `SKIPPED` in their output.

use std::ffi::OsStr;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};

use serde_json::Value;

fn fdsame() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_fdsame"));
    // SAFETY: close_range between fork and exec (std has set up 0, 1, 2 already).
    unsafe {
        cmd.pre_exec(|| {
            libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32);
            Ok(())
        });
    }
    cmd
}

fn run(cmd: &mut Command) -> (i32, String, String) {
    let out = cmd.output().unwrap();
    (
        out.status.code().expect("killed by a signal"),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn json(out: &str) -> Value {
    serde_json::from_str(out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
}

fn pipe() -> (OwnedFd, OwnedFd) {
    rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).unwrap()
}

fn tmpfile(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("fdsame-new-user-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, b"x").unwrap();
    p
}

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// Whether `unshare --pid --fork` works here (root, util-linux, no sandbox forbidding it).
fn can_unshare() -> bool {
    is_root()
        && Command::new("unshare")
            .args(["--pid", "--fork", "--mount-proc", "true"])
            .status()
            .is_ok_and(|s| s.success())
}

/// The children of `pid`, waiting (bounded by a number of tries, not by a clock) for one.
fn child_of(pid: u32) -> i32 {
    for _ in 0..500 {
        let text =
            std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap_or_default();
        if let Some(c) = text.split_whitespace().next() {
            return c.parse().unwrap();
        }
        std::thread::yield_now();
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    panic!("{pid} has no child");
}

fn kill(mut c: Child) {
    let _ = c.kill();
    let _ = c.wait();
}

/// A `/proc` of another pid namespace, reached through `/proc/PID/root/proc`, holds that
/// namespace's pids: `1` there is the namespace's init, not the caller's. Read with the
/// caller's pids it named another process (init: a confident wrong answer, or a refusal).
#[test]
fn a_proc_of_another_pid_namespace_is_read_with_its_pids() {
    if !can_unshare() {
        println!("SKIPPED: needs root and unshare --pid");
        return;
    }
    let (r, _w) = pipe();
    let (other, _w2) = pipe();
    let unshare = Command::new("unshare")
        .args(["--pid", "--fork", "--mount-proc", "sleep", "60"])
        .stdin(Stdio::from(r))
        .spawn()
        .unwrap();
    let inner = child_of(unshare.id()); // `sleep`, pid 1 in its namespace
                                        // unshare mounts the namespace's /proc before it executes sleep: wait for sleep
                                        // (bounded tries, not a clock).
    let execed = (0..500).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(10));
        std::fs::read_to_string(format!("/proc/{inner}/comm")).is_ok_and(|c| c.trim() == "sleep")
    });
    assert!(execed, "unshare's child did not execute sleep");
    let theirs = format!("/proc/{inner}/root/proc/1/fd/0");
    let direct = format!("/proc/{inner}/fd/0");
    let (code, out, err) = run(fdsame().args(["--json", &theirs, &direct]));
    assert_eq!(code, 0, "{out}{err}");
    let v = json(&out);
    assert_eq!(v["a"]["pid"], inner, "{v}");
    assert_eq!(v["levels"]["file"], "same");
    // Against a different file: different, never "same" (and never the caller's pid 1).
    let (code, out, err) = run(fdsame()
        .args(["--json", &theirs, "/dev/stdin"])
        .stdin(Stdio::from(other)));
    assert_eq!(code, 1, "{out}{err}");
    assert_eq!(json(&out)["a"]["pid"], inner);
    kill(unshare);
}

/// Inside a pid namespace that kept its parent's `/proc`, `/proc/self` is this process's
/// pid in the parent's namespace: `/proc/self/fd/N` is still the caller's own descriptor.
#[test]
fn own_descriptors_in_a_pid_namespace_with_the_parents_proc() {
    if !can_unshare() {
        println!("SKIPPED: needs root and unshare --pid");
        return;
    }
    let (r, _w) = pipe();
    let (code, out, err) = run(Command::new("unshare")
        .args(["--pid", "--fork", env!("CARGO_BIN_EXE_fdsame"), "--json"])
        .args(["/proc/self/fd/0", "/dev/stdin"])
        .stdin(Stdio::from(r)));
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(json(&out)["a"]["obtained_by"], "the caller's descriptor");
    // `ps` there would read the parent's processes for its pids: refused, said why.
    let (code, out, err) = run(Command::new("unshare").args([
        "--pid",
        "--fork",
        env!("CARGO_BIN_EXE_fdsame"),
        "ps",
        "1",
    ]));
    assert_eq!(code, 3, "{out}{err}");
    assert!(
        err.contains("/proc is not the procfs of fdsame's pid namespace"),
        "{err}"
    );
}

/// `/proc/TID/fd/N` and `ps TID` name the thread's process; a pid given twice is one.
#[test]
fn thread_ids_name_their_process() {
    let (r, _w) = pipe();
    let me = std::process::id();
    let tid = rustix::thread::gettid().as_raw_nonzero().get() as u32;
    let (tx, rx) = std::sync::mpsc::channel();
    let (stop, stopped) = std::sync::mpsc::channel::<()>();
    let t = std::thread::spawn(move || {
        tx.send(rustix::thread::gettid().as_raw_nonzero().get())
            .unwrap();
        let _ = stopped.recv();
    });
    let other_tid = rx.recv().unwrap();
    let n = r.as_raw_fd();
    for a in [
        format!("/proc/{other_tid}/fd/{n}"),
        format!("/proc/{me}/task/{other_tid}/fd/{n}"),
        format!("/proc/{tid}/fd/{n}"),
    ] {
        let (code, out, err) = run(fdsame().args(["--json", &a, &format!("/proc/{me}/fd/{n}")]));
        assert_eq!(code, 0, "{a}: {out}{err}");
        assert_eq!(json(&out)["a"]["pid"], me, "{a}");
    }
    let (code, out, err) = run(fdsame().args([
        "--json",
        "ps",
        &other_tid.to_string(),
        &me.to_string(),
        &me.to_string(),
    ]));
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(json(&out)["totals"]["processes_inspected"], 1, "{out}");
    stop.send(()).unwrap();
    t.join().unwrap();
}

/// Descriptor names the kernel does not resolve are not descriptor names: `00`, `0/.`.
#[test]
fn names_the_kernel_rejects_are_not_descriptors() {
    let p = tmpfile("rejected");
    let p = p.to_str().unwrap();
    for name in ["/proc/self/fd/00", "/proc/self/fd/01", "/proc/self/fd/0/."] {
        let (r, _w) = pipe();
        let (code, out, err) = run(fdsame().args([name, p]).stdin(Stdio::from(r)));
        assert_eq!(code, 3, "{name}: {out}{err}");
        assert!(err.contains("cannot look it up"), "{name}: {err}");
    }
}

/// `fdsame A B ps` ran ps and dropped A and B: a usage error, under --json too.
#[test]
fn files_and_a_subcommand_together_are_a_usage_error() {
    let p = tmpfile("with-ps");
    let p = p.to_str().unwrap();
    let (code, out, err) = run(fdsame().args([p, p, "ps"]));
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains("subcommand"), "{err}");
    assert!(out.is_empty(), "{out}");
    let (code, out, _) = run(fdsame().args(["--json", p, p, "ps"]));
    assert_eq!(code, 2);
    assert_eq!(json(&out)["exit"], 2);
}

/// A regular file named like a dma-buf (`/dmabuf:...`) is no dma-buf: ps does not take it.
#[test]
fn ps_does_not_take_a_file_named_like_a_dma_buf() {
    if !is_root() {
        println!("SKIPPED: needs root to create /dmabuf:...");
        return;
    }
    let path = format!("/dmabuf:fdsame-test-{}", std::process::id());
    std::fs::write(&path, b"x").unwrap();
    let child = Command::new("sleep")
        .arg("60")
        .stdin(Stdio::from(std::fs::File::open(&path).unwrap()))
        .spawn()
        .unwrap();
    let (code, out, err) = run(fdsame().args(["--json", "ps", &child.id().to_string()]));
    kill(child);
    let _ = std::fs::remove_file(&path);
    assert_eq!(code, 0, "{out}{err}");
    let v = json(&out);
    // Every descriptor inspected (fds_inspected counts all of them), none taken.
    assert!(v["totals"]["fds_inspected"].as_u64().unwrap() >= 1, "{v}");
    assert_eq!(v["totals"]["fds_not_inspected"], 0, "{v}");
    assert_eq!(v["dma_bufs"].as_array().unwrap().len(), 0, "{v}");
    assert_eq!(v["processes"].as_array().unwrap().len(), 0, "{v}");
}

/// With stdout closed: the status of an error is its own with and without --json; an
/// answer that cannot be written is exit 5 either way.
#[test]
fn the_exit_status_does_not_depend_on_json() {
    let p = tmpfile("status");
    let p = p.to_str().unwrap();
    let cases: [(&[&str], i32); 3] = [
        (&["/nonexistent/x", p], 3),
        (&["--level", "bogus", p, p], 2),
        (&[p, p], 5),
    ];
    for (args, want) in cases {
        for with_json in [false, true] {
            let mut cmd = fdsame();
            if with_json {
                cmd.arg("--json");
            }
            cmd.args(args);
            // SAFETY: close between fork and exec.
            unsafe {
                cmd.pre_exec(|| {
                    libc::close(1);
                    Ok(())
                });
            }
            let (code, _, err) = run(&mut cmd);
            assert_eq!(code, want, "{args:?} json={with_json}: {err}");
        }
    }
}

/// Every key of every JSON output (compare, ps, error, usage error) is in `--help`'s JSON
/// section, with the schema version.
#[test]
fn the_json_is_documented_and_versioned() {
    let (_, help, _) = run(fdsame().arg("--help"));
    let section = help
        .split("JSON (--json")
        .nth(1)
        .expect("--help has a JSON section");
    let section = section.split("EXAMPLES").next().unwrap();
    assert!(section.contains("schema version 1"), "{section}");
    let p = tmpfile("schema");
    let p = p.to_str().unwrap();
    let me = std::process::id().to_string();
    let outputs = [
        run(fdsame().args(["--json", p, p])).1,
        run(fdsame().args(["--json", "ps", &me])).1,
        run(fdsame().args(["--json", "/nonexistent", p])).1,
        run(fdsame().args(["--json", "--frobnicate"])).1,
    ];
    fn keys(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                for (k, x) in m {
                    out.push(k.clone());
                    keys(x, out);
                }
            }
            Value::Array(a) => a.iter().for_each(|x| keys(x, out)),
            _ => {}
        }
    }
    for out in outputs {
        let v = json(&out);
        assert_eq!(v["version"], 1, "{v}");
        let mut all = vec![];
        keys(&v, &mut all);
        for k in all {
            assert!(
                section.contains(&k),
                "--help's JSON section lacks {k:?}: {v}"
            );
        }
    }
}

/// A newline in a path keeps the text output one line per item; bytes that are not UTF-8
/// are escaped in text and encoded reversibly in JSON; no message names fdsame's own
/// descriptor numbers.
#[test]
fn names_with_newlines_and_bad_bytes() {
    let p = tmpfile("x");
    let dir = p.parent().unwrap();
    let nl = dir.join("a\nb");
    let bad = dir.join(OsStr::from_bytes(b"caf\xe9"));
    for f in [&nl, &bad] {
        std::fs::write(f, b"x").unwrap();
    }
    let (code, out, _) = run(fdsame().arg(&nl).arg(&bad));
    assert_eq!(code, 1, "{out}");
    let a_lines: Vec<&str> = out.lines().filter(|l| l.starts_with("A: ")).collect();
    assert_eq!(a_lines.len(), 1, "{out}");
    assert!(a_lines[0].contains("a\\nb"), "{out}");
    assert!(out.contains("caf\\xe9"), "{out}");
    assert_eq!(out.lines().count(), 9, "{out}"); // A, B, five levels, by, verdict
    let (_, out, _) = run(fdsame().arg("--json").arg(&nl).arg(&bad));
    let v = json(&out);
    assert!(v["a"]["arg"].as_str().unwrap().ends_with("a\nb"));
    assert!(v["b"]["arg"]["hex"].as_str().unwrap().ends_with("636166e9"));
    // Messages: the argument, never an internal "fd N".
    let (code, _, err) = run(fdsame().args(["-m", "drm-ioctl"]).arg(&nl).arg(&nl));
    assert_eq!(code, 2, "{err}");
    assert!(!err.contains(" fd "), "{err}");
}

/// A FUSE file system whose daemon does not implement STATFS (the kernel answers ENOSYS):
/// its files made the comparison fail (exit 3, naming an internal descriptor); they compare
/// like any file. The daemon is python3-fusepy's (Debian); without it, or without root and
/// /dev/fuse, the test says SKIPPED (the library's unit test
/// `a_file_system_refusing_statfs_holds_no_dma_buf` covers the classification).
#[test]
fn files_of_a_fuse_daemon_without_statfs_compare() {
    const DAEMON: &str = r#"
import errno, stat, sys
from fusepy import FUSE, FuseOSError, Operations
class NoStatfs(Operations):
    def getattr(self, path, fh=None):
        if path == "/":
            return dict(st_mode=stat.S_IFDIR | 0o755, st_nlink=2)
        if path == "/f":
            return dict(st_mode=stat.S_IFREG | 0o644, st_nlink=1, st_size=1)
        raise FuseOSError(errno.ENOENT)
    def readdir(self, path, fh):
        return [".", "..", "f"]
    def open(self, path, flags):
        return 0
    def read(self, path, size, offset, fh):
        return b"x"[offset:offset + size]
    def statfs(self, path):
        raise FuseOSError(errno.ENOSYS)
FUSE(NoStatfs(), sys.argv[1], foreground=True, nothreads=True)
"#;
    let has_fusepy = Command::new("/usr/bin/python3")
        .args(["-c", "import fusepy"])
        .status()
        .is_ok_and(|s| s.success());
    if !is_root() || !has_fusepy || std::fs::metadata("/dev/fuse").is_err() {
        println!(
            "SKIPPED: needs root, /dev/fuse and python3-fusepy (apt-get install python3-fusepy)"
        );
        return;
    }
    let script = tmpfile("nostatfs.py");
    std::fs::write(&script, DAEMON).unwrap();
    let mnt = script.with_file_name("fuse-mnt");
    std::fs::create_dir_all(&mnt).unwrap();
    let daemon = Command::new("/usr/bin/python3")
        .arg(&script)
        .arg(&mnt)
        .spawn()
        .unwrap();
    // Mounted when statfs answers ENOSYS (bounded tries, not a clock).
    let mounted = (0..500).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(10));
        rustix::fs::statfs(&mnt).err() == Some(rustix::io::Errno::NOSYS)
    });
    let file = mnt.join("f");
    let result = mounted.then(|| {
        let f = std::fs::File::open(&file).unwrap();
        let same = run(fdsame()
            .args(["--json", "/dev/stdin", "/proc/self/fd/0"])
            .stdin(Stdio::from(f)));
        let paths = run(fdsame().arg(&file).arg(&file));
        (same, paths)
    });
    let _ = Command::new("umount").arg(&mnt).status();
    kill(daemon);
    let ((code, out, err), (pcode, pout, perr)) = result.expect("the FUSE file system mounted");
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(json(&out)["a"]["kind"], "other");
    assert_eq!(pcode, 1, "two opens of one path: {pout}{perr}");
}

// ---------------------------------------------------------------------------------------
// Third round of new-user checks.

/// Inside `unshare --pid --fork` (the parent's /proc kept), a live process of the parent
/// namespace, or a kernel thread, has no pid in fdsame's namespace: fdsame says so, and
/// never that it exited.
#[test]
fn a_live_process_outside_fdsames_pid_namespace_is_not_said_to_have_exited() {
    if !can_unshare() {
        println!("SKIPPED: needs root and unshare --pid");
        return;
    }
    let sleeper = Command::new("sleep").arg("60").spawn().unwrap();
    let pid = sleeper.id();
    let arg = format!("/proc/{pid}/fd/1");
    for (target, json_too) in [
        (arg.as_str(), false),
        (arg.as_str(), true),
        ("/proc/2/fd/0", true),
    ] {
        let mut cmd = Command::new("unshare");
        cmd.args(["--pid", "--fork", env!("CARGO_BIN_EXE_fdsame")]);
        if json_too {
            cmd.arg("--json");
        }
        let (code, out, err) = run(cmd.args([target, target]));
        assert_eq!(code, 3, "{target}: {out}{err}");
        assert!(
            err.contains("running, but not visible from fdsame's pid namespace"),
            "{err}"
        );
        assert!(
            !err.contains("exited") && !out.contains("exited"),
            "{out}{err}"
        );
        if json_too {
            let v = json(&out);
            assert_eq!(v["exit"], 3);
            assert!(v["error"].as_str().unwrap().contains("not visible"), "{v}");
        }
    }
    kill(sleeper);
}

/// `help` is a subcommand like `ps`: with files, or with --level/--mechanism, a usage error
/// (exit 2, the error object under --json); alone, the help; `help X` for a subcommand X,
/// else a usage error that says how to name a file called help.
#[test]
fn help_with_files_is_a_usage_error_like_ps() {
    for args in [
        &["/dev/fd/0", "/dev/fd/1", "help"][..],
        &["/dev/fd/0", "help", "ps"],
        &["-l", "file", "help"],
        &["-m", "kcmp", "help"],
        &["/dev/fd/0", "/dev/fd/1", "ps"],
    ] {
        let (code, out, err) = run(fdsame().args(args).stdin(Stdio::null()));
        assert_eq!(code, 2, "{args:?}: {out}{err}");
        assert!(out.is_empty(), "{args:?}: {out}");
        assert!(err.contains("fdsame: "), "{args:?}: {err}");
        let (code, out, _) = run(fdsame().arg("--json").args(args).stdin(Stdio::null()));
        assert_eq!(code, 2, "{args:?}");
        assert_eq!(json(&out)["exit"], 2, "{args:?}: {out}");
    }
    let (code, out, _) = run(fdsame().args(["/dev/fd/0", "help"]).stdin(Stdio::null()));
    assert_eq!(code, 2, "{out}");
    for (args, want) in [
        (&["help"][..], "fdsame help [ps|help]"),
        (&["help", "ps"], "Usage: fdsame ps"),
        (&["help", "help"], "Usage: fdsame help"),
        (&["--json", "help"], "Usage: fdsame"),
    ] {
        let (code, out, err) = run(fdsame().args(args));
        assert_eq!(code, 0, "{args:?}: {err}");
        assert!(out.contains(want), "{args:?}: {out}");
    }
    let (code, out, err) = run(fdsame().args(["help", "./help"]));
    assert_eq!((code, out.as_str()), (2, ""), "{err}");
    assert!(
        err.contains("no subcommand") && err.contains("./help"),
        "{err}"
    );
    // The help says how a file named help or ps is written.
    let (_, out, _) = run(fdsame().arg("--help"));
    assert!(out.contains("./ps or ./help"), "{out}");
    // ./help is a file.
    let f = tmpfile("help");
    let (code, out, err) = run(fdsame()
        .current_dir(f.parent().unwrap())
        .args(["./help", "./help"]));
    assert_eq!(code, 1, "{out}{err}");
}

/// Whether strace(1) is here (for fault injection).
fn has_strace() -> bool {
    Command::new("strace")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// fdsame under strace, its fcntl(F_DUPFD_QUERY) failing EINVAL (a kernel before 6.10) and
/// kcmp EPERM (a seccomp filter), comparing two opens of one file as fds 3 and 4.
fn without_dupfd_query_and_kcmp(extra: &[&str]) -> (i32, String, String) {
    let f = tmpfile("injected");
    let open = || std::fs::File::open(&f).unwrap();
    let (a, b) = (open(), open());
    let args = ["/dev/fd/3", "/dev/fd/4"];
    let with_fds = |cmd: &mut Command| {
        let (x, y) = (a.as_raw_fd(), b.as_raw_fd());
        // SAFETY: dup2 between fork and exec, onto 3 and 4; `x < y`, so copying `x` first
        // never overwrites `y`. A descriptor already in place only loses CLOEXEC.
        unsafe {
            cmd.pre_exec(move || {
                for (from, to) in [(x, 3), (y, 4)] {
                    if from == to {
                        libc::fcntl(to, libc::F_SETFD, 0);
                    } else if libc::dup2(from, to) < 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                }
                Ok(())
            });
        }
    };
    assert!(
        a.as_raw_fd() >= 3 && a.as_raw_fd() < b.as_raw_fd(),
        "fd layout"
    );
    // Which fcntl call is F_DUPFD_QUERY (0x403): counted in a dry run.
    let mut dry = Command::new("strace");
    dry.args(["-f", "-e", "trace=fcntl", env!("CARGO_BIN_EXE_fdsame")])
        .args(extra)
        .args(args);
    with_fds(&mut dry);
    let (_, _, trace) = run(&mut dry);
    let n = trace
        .lines()
        .filter(|l| l.contains("fcntl("))
        .position(|l| l.contains("0x403") || l.contains("F_DUPFD_QUERY"))
        .expect("no F_DUPFD_QUERY in the trace")
        + 1;
    let mut cmd = Command::new("strace");
    cmd.args(["-f", "-o", "/dev/null", "-e", "trace=fcntl,kcmp"])
        .arg(format!("-einject=fcntl:error=EINVAL:when={n}"))
        .args([
            "-e",
            "inject=kcmp:error=EPERM",
            env!("CARGO_BIN_EXE_fdsame"),
        ])
        .args(extra)
        .args(args);
    with_fds(&mut cmd);
    run(&mut cmd)
}

/// With F_DUPFD_QUERY missing and kcmp refused, nothing tells the file level of two opens
/// of one regular file: `declined` names kcmp, refused, EPERM, and the text says so.
#[test]
fn when_nothing_answers_the_real_cause_is_said() {
    if !has_strace() {
        println!("SKIPPED: needs strace");
        return;
    }
    let (code, out, err) = without_dupfd_query_and_kcmp(&[]);
    assert_eq!(code, 4, "{out}{err}");
    assert!(
        out.contains("answered by: nothing could tell the file level: kcmp could not answer: refused to this process (EPERM"),
        "{out}"
    );
    let (code, out, err) = without_dupfd_query_and_kcmp(&["--json"]);
    assert_eq!(code, 4, "{out}{err}");
    let v = json(&out);
    let d = &v["declined"];
    assert_eq!(d["mechanism"], "kcmp", "{v}");
    assert_eq!(d["errno"], libc::EPERM, "{v}");
    assert_eq!(d["cause"], "refused", "{v}");
    assert!(d["reason"].as_str().unwrap().contains("EPERM"), "{v}");
}

/// A forced mechanism that cannot compare these kinds of file is exit 2 for every
/// mechanism, whether the kinds tell beforehand (sysfs, fdinfo, the ioctls) or running it
/// does (epoll of two regular files); JSON too.
#[test]
fn a_forced_mechanism_that_cannot_compare_is_exit_2_everywhere() {
    let f = tmpfile("forced");
    let open = || Stdio::from(std::fs::File::open(&f).unwrap());
    for m in ["sysfs", "fdinfo", "epoll", "drm-ioctl", "dma-buf-ioctl"] {
        for json_too in [false, true] {
            let mut cmd = fdsame();
            if json_too {
                cmd.arg("--json");
            }
            let (code, out, err) = run(cmd
                .args(["-m", m, "/dev/stdin", "/dev/stdout"])
                .stdin(open())
                .stdout(Stdio::piped()));
            // stdout is the pipe of the output: epoll can poll it, and answers.
            if m == "epoll" {
                assert_eq!(code, 1, "{m}: {out}{err}");
                continue;
            }
            assert_eq!(code, 2, "{m}: {out}{err}");
            assert!(err.contains("cannot compare these files"), "{m}: {err}");
            if json_too {
                assert_eq!(json(&out)["exit"], 2);
            }
        }
    }
    // Two regular files: epoll cannot compare them.
    let p = f.to_str().unwrap();
    let (code, out, err) = run(fdsame()
        .args(["-m", "epoll", "/dev/stdin", p])
        .stdin(open()));
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains("neither file can be polled"), "{err}");
}

/// "A path is never the same file as anything" holds for every mechanism that can run:
/// fstat of one inode by a descriptor and a path, fstat and kcmp of one path twice, epoll
/// of a pipe and a path (either order).
#[test]
fn a_path_is_a_new_open_for_every_mechanism() {
    let f = tmpfile("path-rule");
    let p = f.to_str().unwrap();
    let open = || Stdio::from(std::fs::File::open(&f).unwrap());
    for (m, a, b) in [
        ("fstat", "/dev/stdin", p),
        ("fstat", p, p),
        ("kcmp", p, p),
        ("kcmp", "/dev/stdin", p),
    ] {
        for json_too in [false, true] {
            let mut cmd = fdsame();
            if json_too {
                cmd.arg("--json");
            }
            let (code, out, err) = run(cmd.args(["-m", m, a, b]).stdin(open()));
            assert_eq!(code, 1, "{m} {a} {b}: {out}{err}");
            if json_too {
                let v = json(&out);
                assert_eq!(v["levels"]["file"], "different", "{v}");
                assert_eq!(v["b"]["new_open"], true, "{v}");
            } else {
                assert!(out.contains("verdict (file): not the same"), "{out}");
            }
        }
    }
    let (code, out, _) = run(fdsame().args(["-m", "fstat", p, p]));
    assert_eq!(code, 1);
    assert!(
        out.contains("answered by: the arguments (a path is a new open"),
        "{out}"
    );
    for args in [["/dev/stdin", p], [p, "/dev/stdin"]] {
        let (r, _w) = pipe();
        let (code, out, err) = run(fdsame()
            .args(["-m", "epoll"])
            .args(args)
            .stdin(Stdio::from(r)));
        assert_eq!(code, 1, "{args:?}: {out}{err}");
    }
}

/// A level that does not apply reads "not applicable", not "not the same".
#[test]
fn a_level_that_does_not_apply_reads_not_applicable() {
    let (r, _w) = pipe();
    let (code, out, _) = run(fdsame()
        .args(["-l", "client", "/dev/stdin", "/dev/stdin"])
        .stdin(Stdio::from(r)));
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("verdict (drm-client): not applicable"),
        "{out}"
    );
    assert!(!out.contains("not the same"), "{out}");
}

/// The short level names work, and --help and the bad-level error list them.
#[test]
fn short_level_names_are_documented() {
    let (_, help, _) = run(fdsame().arg("--help"));
    for short in ["(client)", "(device)", "(object)", "(storage)"] {
        assert!(help.contains(short), "{short}: {help}");
    }
    let (code, _, err) = run(fdsame().args(["-l", "nope", "/dev/null", "/dev/null"]));
    assert_eq!(code, 2);
    for name in ["drm-client (client)", "dma-buf-storage (storage)", "file"] {
        assert!(err.contains(name), "{name}: {err}");
    }
    for l in [
        "client",
        "device",
        "object",
        "storage",
        "drm_client",
        "FILE",
    ] {
        let (code, out, err) = run(fdsame().args(["-l", l, "/dev/null", "/dev/null"]));
        assert_eq!(code, 1, "{l}: {out}{err}");
    }
}

/// `ps` of a missing process with stdout unwritable (/dev/full): exit 3, and why reaches
/// stderr; the text of a nameless process has no empty brackets, and counts of one are
/// singular.
#[test]
fn ps_errors_reach_stderr_when_stdout_cannot_be_written() {
    let full = || {
        Stdio::from(
            std::fs::OpenOptions::new()
                .write(true)
                .open("/dev/full")
                .unwrap(),
        )
    };
    for json_too in [false, true] {
        let mut cmd = fdsame();
        if json_too {
            cmd.arg("--json");
        }
        let (code, _, err) = run(cmd.args(["ps", "999999"]).stdout(full()));
        assert_eq!(code, 3, "{err}");
        assert!(
            err.contains("cannot write the output to standard output"),
            "{err}"
        );
        assert!(err.contains("no process 999999"), "{err}");
    }
    let (code, out, _) = run(fdsame().args(["ps", "999999"]));
    assert_eq!(code, 3);
    assert!(out.contains("  pid 999999: no process 999999"), "{out}");
    assert!(!out.contains("()"), "{out}");
    assert!(
        out.contains("not inspected: 1 process, 0 descriptors"),
        "{out}"
    );
    assert!(!out.contains("1 processes"), "{out}");
}

/// Minor points of the third round: the whole usage message under --json, pids as /proc
/// names them (no sign, no leading zero), a zombie's descriptor said as such.
#[test]
fn usage_messages_pids_and_zombies_are_said_plainly() {
    let (code, out, _) = run(fdsame().arg("--json"));
    assert_eq!(code, 2);
    let msg = json(&out)["error"].as_str().unwrap().to_owned();
    assert!(msg.contains("<A>") && msg.contains("<B>"), "{msg}");
    for bad in ["01", "+1", "0", "-1"] {
        let (code, out, err) = run(fdsame().args(["ps", bad]));
        assert_eq!(code, 2, "{bad}: {out}{err}");
        assert!(
            err.contains("without a sign or a leading zero"),
            "{bad}: {err}"
        );
    }
    // A zombie: our child, exited, not reaped.
    let mut child = Command::new("true").spawn().unwrap();
    let pid = child.id();
    let zombie = (0..500).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(10));
        std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
            s.rsplit(')')
                .next()
                .is_some_and(|r| r.trim_start().starts_with('Z'))
        })
    });
    assert!(zombie, "the child did not become a zombie");
    let arg = format!("/proc/{pid}/fd/0");
    let (code, out, err) = run(fdsame().args([&arg, &arg]));
    let _ = child.wait();
    assert_eq!(code, 3, "{out}{err}");
    assert!(err.contains("the process has exited (a zombie"), "{err}");
}
