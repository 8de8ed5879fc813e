//! `fdsame`: are these two file descriptors the same thing? The command-line front end of
//! the `fdsame` crate. See `fdsame --help`.

use std::ffi::OsString;
use std::io::Write;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use fdsame::{Answer, Level, Mechanism, Options};
use serde_json::{json, Value};

mod ps;
mod resolve;

use resolve::{Obtained, Resolved};

/// Exit codes a script can rely on (`--help` lists them).
mod exit {
    /// Compared, and every asked level holds (`ps`: printed, every named process inspected).
    pub const SAME: u8 = 0;
    /// Compared, and an asked level does not hold.
    pub const DIFFERENT: u8 = 1;
    /// Usage error (clap's too).
    pub const USAGE: u8 = 2;
    /// A file descriptor could not be obtained (`ps`: a named process, or a descriptor of
    /// one, could not be inspected).
    pub const NO_FD: u8 = 3;
    /// The kernel could not answer: an asked level is unknown, or the forced mechanism is
    /// unavailable, refused or failed.
    pub const UNKNOWN: u8 = 4;
    /// The answer could not be written to standard output (closed, full, broken pipe).
    pub const OUTPUT: u8 = 5;
    /// A bug: fdsame panicked (reported, never a crash).
    pub const INTERNAL: u8 = 70;
}

const AFTER_HELP: &str = "\
ARGUMENTS A and B:
  /proc/self/fd/N, /dev/fd/N, /dev/stdin and every other name of a descriptor of the
  caller (fdsame's own descriptor N, inherited) is that very descriptor, whatever fdsame
  opens itself; a descriptor the caller does not hold is an error (exit 3).
  /proc/PID/fd/N of another process is its descriptor N, obtained with pidfd_open +
  pidfd_getfd: the same open file description, not a new open. That needs
  PTRACE_MODE_ATTACH_REALCREDS over PID (the same user and no Yama restriction, or
  CAP_SYS_PTRACE).
  Any other path is looked up with O_PATH and never opened (a FIFO, a tty, a watchdog is
  not opened: nothing blocks, nothing happens to the device), except a DRM device node,
  which is opened O_RDWR|O_NONBLOCK (O_RDONLY when refused) so that the DRM ioctl can be
  issued on it. A path is a new open: never the same file, DRM client or dma-buf as
  anything. A path named `ps` must be written ./ps.

SIDE EFFECTS:
  No DRM ioctl is issued on another process's descriptor (on kernels that update a DRM
  client's owner on DRM ioctls, that would attribute the client to fdsame). Such a
  descriptor is answered by side-effect-free sources: fstat, F_DUPFD_QUERY, kcmp,
  /proc/self/fdinfo (drm-client-id), sysfs, DMA_BUF_IOCTL_SAME_OBJECT (a dma-buf has no
  owner), and DRM_IOCTL_FILE_SAME issued on the other descriptor when that one is a DRM
  node of the caller's own or opened by fdsame. `ps` reads /proc/PID/fd, fdinfo and
  links, stats targets with AT_STATX_DONT_SYNC (a stuck network mount does not hang it)
  and obtains only DRM and dma-buf descriptors.

LEVELS (--level, repeatable; default: file; names, short names and case as you like):
  file             the same open file description (dup, fork, SCM_RIGHTS, pidfd_getfd)
  drm-client       the same DRM client (struct drm_file): GEM handles valid on both
  drm-device       the same DRM device, any node (card or render), any open
  dma-buf-object   the same dma-buf
  dma-buf-storage  the same memory behind two dma-bufs, as their exporter compares it
  Levels that do not apply to the kinds of file are `different`.

MECHANISMS (--mechanism; default: the best this kernel has, in this order):
  drm-ioctl, dma-buf-ioctl, f-dupfd-query, kcmp, epoll, fstat, fdinfo, sysfs

EXIT STATUS:
  0  compared, and every asked level is the same (ps: printed, every named process
     inspected)
  1  compared, and an asked level is different
  2  usage error (also: a --mechanism that cannot compare these kinds of file)
  3  a file descriptor could not be obtained: no such file, a descriptor the caller does
     not hold, no such process, pidfd_getfd refused (ps: a named process or one of its
     descriptors could not be inspected)
  4  the kernel could not answer: an asked level is unknown, or the forced mechanism is
     unavailable on this kernel, refused to this process, or failed
  5  the answer could not be written to standard output (closed, full, broken pipe)
  70 internal error (a bug in fdsame; please report it)

EXAMPLES:
  fdsame /dev/dri/card0 /dev/dri/renderD128 --level drm-device
      are these two nodes of one GPU?
  fdsame /proc/1234/fd/7 /proc/5678/fd/9 --level drm-client
      do these processes share a DRM client (GEM handles)?
  fdsame /proc/1234/fd/12 /proc/1234/fd/15 --level dma-buf-object --json
      the same dma-buf? JSON for scripts
  fdsame --mechanism kcmp /dev/stdin /dev/stdout
      is stdin the same open file as stdout? by kcmp only
  fdsame ps 1234
      the DRM devices, clients and dma-bufs of process 1234
  fdsame --json ps
      the same for every process this user may inspect";

#[derive(Parser, Debug)]
#[command(
    name = "fdsame",
    version,
    about = "Are these two file descriptors the same thing? DRM and dma-buf aware.",
    after_help = AFTER_HELP,
    subcommand_negates_reqs = true
)]
struct Cli {
    /// First file: a descriptor (/proc/PID/fd/N, /dev/fd/N) or a path.
    #[arg(required = true)]
    a: Option<OsString>,
    /// Second file: a descriptor (/proc/PID/fd/N, /dev/fd/N) or a path.
    #[arg(required = true)]
    b: Option<OsString>,
    /// A level that must hold for exit status 0 (repeatable).
    #[arg(long = "level", short = 'l', value_parser = parse_level)]
    levels: Vec<Level>,
    /// Use this mechanism only.
    #[arg(long, short = 'm', value_parser = parse_mechanism)]
    mechanism: Option<Mechanism>,
    /// Print JSON (before or after the subcommand).
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// The DRM devices with their clients and the dma-bufs with their exporter, size and
    /// holders, of every process (or of the PIDs given); never blocks.
    Ps {
        /// Process ids (default: every process in /proc).
        #[arg(value_parser = parse_pid, allow_negative_numbers = true)]
        pids: Vec<i32>,
    },
}

fn parse_level(s: &str) -> Result<Level, String> {
    s.parse::<Level>().map_err(|e| e.to_string())
}

fn parse_mechanism(s: &str) -> Result<Mechanism, String> {
    s.parse::<Mechanism>().map_err(|e| e.to_string())
}

/// A process id: a decimal number from 1 to 2^31 - 1 (the kernel's pid_t; pid_max is at
/// most 4194304).
fn parse_pid(s: &str) -> Result<i32, String> {
    let bad = || format!("{s:?} is not a process id: a number from 1 to {}", i32::MAX);
    if s.is_empty() || !s.bytes().all(|c| c.is_ascii_digit()) {
        return Err(bad());
    }
    match s.parse::<i32>() {
        Ok(p) if p > 0 => Ok(p),
        _ => Err(bad()),
    }
}

/// Which of descriptors 0, 1, 2 were open when the process started: recorded before Rust's
/// runtime opens `/dev/null` on closed standard descriptors, so that `/proc/self/fd/1` with
/// a closed stdout is "not held", and output to a closed stdout is an error.
static STD_OPEN: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(0b111);

#[used]
#[link_section = ".init_array"]
static RECORD_STD_FDS: extern "C" fn() = record_std_fds;

extern "C" fn record_std_fds() {
    let mut bits = 0;
    for fd in 0..3 {
        // SAFETY: F_GETFD takes no argument and touches no memory.
        if unsafe { libc::fcntl(fd, libc::F_GETFD) } >= 0 {
            bits |= 1 << fd;
        }
    }
    STD_OPEN.store(bits, std::sync::atomic::Ordering::Relaxed);
}

/// Whether the caller handed this process descriptor `fd` (0, 1, 2: as recorded at start).
pub(crate) fn caller_holds(fd: i32) -> bool {
    if (0..3).contains(&fd) {
        return STD_OPEN.load(std::sync::atomic::Ordering::Relaxed) & (1 << fd) != 0;
    }
    fd >= 0 && rustix::io::fcntl_getfd(unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) }).is_ok()
}

/// Writes to stderr without ever panicking (a closed or full stderr is ignored).
pub(crate) fn warn(msg: impl std::fmt::Display) {
    let _ = writeln!(std::io::stderr(), "fdsame: {msg}");
}

/// What a command produced: the text for stdout, and the exit code.
pub(crate) struct Outcome {
    pub out: String,
    pub code: u8,
}

/// Writes `out` to stdout; an error (closed, full, broken pipe) is reported, exit 5.
fn emit(out: &str, code: u8) -> u8 {
    if out.is_empty() {
        return code;
    }
    if STD_OPEN.load(std::sync::atomic::Ordering::Relaxed) & 2 == 0 {
        warn("cannot write the answer: standard output is closed");
        return exit::OUTPUT;
    }
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(out.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Ok(()) => code,
        Err(e) => {
            warn(format_args!(
                "cannot write the answer to standard output: {e}"
            ));
            exit::OUTPUT
        }
    }
}

fn main() -> ExitCode {
    // A panic is a bug: report it as one, with a documented exit code, never as a crash.
    std::panic::set_hook(Box::new(|info| {
        warn(format_args!(
            "internal error (a bug in fdsame, please report it): {info}"
        ));
    }));
    let code = std::panic::catch_unwind(run).unwrap_or(exit::INTERNAL);
    ExitCode::from(code)
}

fn run() -> u8 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            use clap::error::ErrorKind;
            let text = e.render().to_string();
            return match e.kind() {
                ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => emit(&text, exit::SAME),
                _ => {
                    let _ = e.print(); // to stderr, coloured only on a terminal; errors ignored
                    exit::USAGE
                }
            };
        }
    };
    let o = match cli.command {
        Some(Command::Ps { ref pids }) => {
            if !cli.levels.is_empty() || cli.mechanism.is_some() {
                warn("--level and --mechanism do not apply to ps");
                return exit::USAGE;
            }
            ps::run(pids, cli.json)
        }
        None => {
            let (Some(a), Some(b)) = (&cli.a, &cli.b) else {
                warn("two files to compare, or a subcommand; see --help");
                return exit::USAGE;
            };
            let mut levels: Vec<Level> = vec![];
            for l in &cli.levels {
                if !levels.contains(l) {
                    levels.push(*l);
                }
            }
            if levels.is_empty() {
                levels.push(Level::File);
            }
            compare_cmd(a, b, &levels, cli.mechanism, cli.json)
        }
    };
    emit(&o.out, o.code)
}

fn levels_json(s: &fdsame::Sameness) -> Value {
    let mut m = serde_json::Map::new();
    for &l in Level::ALL {
        m.insert(l.name().to_owned(), json!(s.level(l).name()));
    }
    Value::Object(m)
}

/// An error of the compare command: the message on stderr, JSON on stdout when asked.
fn failure(code: u8, msg: String, as_json: bool) -> Outcome {
    warn(&msg);
    let out = if as_json {
        format!("{}\n", json!({ "error": msg, "exit": code }))
    } else {
        String::new()
    };
    Outcome { out, code }
}

fn compare_cmd(
    a: &OsString,
    b: &OsString,
    levels: &[Level],
    mech: Option<Mechanism>,
    as_json: bool,
) -> Outcome {
    // Names of the caller's descriptors first, before fdsame opens anything of its own.
    let ra = resolve::classify(a);
    let rb = resolve::classify(b);
    let (oa, ob) = match resolve::obtain_pair(a, ra, b, rb) {
        Ok(pair) => pair,
        Err(msg) => return failure(exit::NO_FD, msg, as_json),
    };
    let mut opts = Options::new().foreign(oa.foreign, ob.foreign);
    if let Some(m) = mech {
        opts = opts.mechanism(m);
    }
    let s = match opts.compare(&oa.fd, &ob.fd) {
        Ok(s) => s,
        Err(e) => {
            let code = match e.kind() {
                fdsame::ErrorKind::NotApplicable => exit::USAGE,
                _ => exit::UNKNOWN,
            };
            return failure(code, e.to_string(), as_json);
        }
    };
    let answers: Vec<Answer> = levels.iter().map(|l| s.level(*l)).collect();
    let code = if answers.contains(&Answer::Different) {
        exit::DIFFERENT
    } else if answers.iter().any(|a| *a != Answer::Same) {
        exit::UNKNOWN
    } else {
        exit::SAME
    };
    let asked: Vec<&str> = levels.iter().map(|l| l.name()).collect();
    let mut out = String::new();
    if as_json {
        let side = |arg: &OsString, o: &Obtained| {
            json!({
                "arg": arg.to_string_lossy(),
                "obtained_by": o.how,
                "kind": o.kind_name(),
                "kind_detail": o.kind_detail(),
                "target": o.target,
                "foreign": o.foreign,
                "pid": o.pid,
                "fd": o.fd_number,
            })
        };
        let v = json!({
            "a": side(a, &oa),
            "b": side(b, &ob),
            "levels": levels_json(&s),
            "mechanism": s.mechanism.map(|m| m.name()),
            "client_mechanism": s.client_mechanism.map(|m| m.name()),
            "device_mechanism": s.device_mechanism.map(|m| m.name()),
            "forced_mechanism": mech.map(|m| m.name()),
            "asked": asked,
            "holds": code == exit::SAME,
            "exit": code,
        });
        out = format!("{v:#}\n");
    } else {
        use std::fmt::Write as _;
        let _ = writeln!(out, "A: {} ({})", a.to_string_lossy(), oa.describe());
        let _ = writeln!(out, "B: {} ({})", b.to_string_lossy(), ob.describe());
        for &l in Level::ALL {
            let mark = if levels.contains(&l) { "*" } else { " " };
            let _ = writeln!(out, "{mark} {:<16}{}", l.name(), s.level(l));
        }
        match (s.mechanism, mech) {
            (Some(m), _) => {
                let _ = writeln!(out, "answered by: {m}");
            }
            (None, Some(m)) => {
                let _ = writeln!(
                    out,
                    "answered by: nothing ({m} was asked and cannot tell the file level here)"
                );
            }
            (None, None) => {
                let _ = writeln!(
                    out,
                    "answered by: nothing could tell the file level on this kernel"
                );
            }
        }
        if let Some(m) = s.client_mechanism {
            let _ = writeln!(out, "drm-client level by: {m}");
        }
        if let Some(m) = s.device_mechanism {
            let _ = writeln!(out, "drm-device level by: {m}");
        }
        let verdict = match code {
            exit::SAME => "same",
            exit::DIFFERENT => "not the same",
            _ => "unknown: the kernel cannot tell",
        };
        let _ = writeln!(out, "verdict ({}): {verdict}", asked.join(", "));
    }
    Outcome { out, code }
}

/// What `Resolved` names, for messages.
impl std::fmt::Display for Resolved {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Resolved::Own(n) => write!(f, "descriptor {n} of the caller"),
            Resolved::Proc { pid, fd } => write!(f, "descriptor {fd} of process {pid}"),
            Resolved::Path(p) => write!(f, "{}", p.display()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pids_parse() {
        assert_eq!(parse_pid("1"), Ok(1));
        assert_eq!(parse_pid("2147483647"), Ok(i32::MAX));
        for bad in ["0", "-1", "2147483648", "99999999999", "", "1x", "+1"] {
            let e = parse_pid(bad).unwrap_err();
            assert!(e.contains("not a process id"), "{bad}: {e}");
        }
    }

    #[test]
    fn cli_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    #[test]
    fn json_before_or_after_the_subcommand() {
        for args in [
            &["fdsame", "--json", "ps"][..],
            &["fdsame", "ps", "--json"],
            &["fdsame", "--json", "ps", "1"],
        ] {
            let cli = Cli::try_parse_from(args).unwrap();
            assert!(cli.json, "{args:?}");
            assert!(matches!(cli.command, Some(Command::Ps { .. })), "{args:?}");
        }
        let cli = Cli::try_parse_from(["fdsame", "--json", "./ps", "x"]).unwrap();
        assert!(cli.command.is_none());
    }
}
