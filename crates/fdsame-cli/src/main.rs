//! `fdsame`: are these two file descriptors the same thing? The command-line front end of
//! the `fdsame` crate. See `fdsame --help`; the README below is the crate documentation,
//! with the JSON schema.
#![doc = include_str!("../README.md")]

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::io::Write;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use fdsame::{Answer, DeclineReason, Declined, Level, Mechanism, Options, Sameness};
use serde::Serialize;

mod procfs;
mod ps;
mod resolve;
mod text;

use resolve::{Obtained, Resolved};
use text::Name;

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
  /proc/PID/fd/N and /proc/PID/task/TID/fd/N of another process are its descriptor N,
  obtained with pidfd_getfd: the same open file description, not a new open. The process
  is the one that procfs instance names: a /proc of another pid namespace (reached through
  /proc/PID/root/proc, or mounted elsewhere) is read with that namespace's pids, and a
  thread id names its process. N is what the kernel takes: decimal digits without a
  leading zero (/proc/self/fd/00 and /proc/self/fd/0/. are paths, as for the kernel).
  pidfd_getfd needs PTRACE_MODE_ATTACH_REALCREDS over the process (the same user and no
  Yama restriction, or CAP_SYS_PTRACE).
  Any other path is looked up with O_PATH and never opened (a FIFO, a tty, a watchdog is
  not opened: nothing happens to the device), except a DRM device node, which is opened
  O_RDWR|O_NONBLOCK (O_RDONLY when refused) so that the DRM ioctl can be issued on it. A
  path is a new open: never the same file, DRM client or dma-buf as anything, whatever the
  mechanism (\"answered by: the arguments\" when no mechanism could tell). fstat and
  statfs of a file on a stuck FUSE or network file system wait for its server: fdsame
  blocks as long as they do. A path named `ps` or `help` must be written ./ps or ./help
  (`ps` and `help` are the subcommands); files and a subcommand together are a usage error
  (exit 2), and so are --level and --mechanism with a subcommand. `fdsame help [ps|help]`
  prints this help or a subcommand's, as text (also with --json).

SIDE EFFECTS:
  DRM_IOCTL_FILE_SAME is issued on a DRM descriptor of fdsame's own when there is one,
  else on another process's. Every kernel that has the ioctl marks it DRM_NO_PID_UPDATE:
  it never makes fdsame the owner of the client (debugfs dri/N/clients and fdinfo keep
  naming the opener); a kernel without it answers EINVAL before any owner update. The only
  effect of the ioctl: drivers that take a runtime-PM reference on every ioctl (amdgpu,
  nouveau, radeon, xe) wake a suspended GPU. A device that cannot answer (ENODEV:
  unplugged; ECANCELED: a wedged xe device) is said so, and the side-effect-free sources
  answer instead: fstat, F_DUPFD_QUERY, kcmp, /proc/self/fdinfo (drm-client-id), sysfs,
  DMA_BUF_IOCTL_SAME_OBJECT (a dma-buf has no owner). `ps` issues no ioctl at all: it
  reads /proc/PID/fd, fdinfo and links, stats targets with AT_STATX_DONT_SYNC (a stuck
  network mount answers from its cache), and obtains only DRM and dma-buf descriptors.

LEVELS (--level, repeatable; default: file; the name or the short name in brackets, in
any case, with - or _: drm-client, client, DRM_CLIENT):
  file             the same open file description (dup, fork, SCM_RIGHTS, pidfd_getfd)
  drm-client       (client) the same DRM client (struct drm_file): GEM handles valid on
                   both
  drm-device       (device) the same DRM device, any node (card or render), any open
  dma-buf-object   (object) the same dma-buf
  dma-buf-storage  (storage) the same memory behind two dma-bufs, as their exporter
                   compares it
  Each is same, different, unknown, or not-applicable: a level that does not apply to
  one of the kinds of file (a pipe's DRM client); it does not hold (exit 1, \"verdict: not
  applicable\").

MECHANISMS (--mechanism; default: the best this kernel has, in this order):
  drm-ioctl, dma-buf-ioctl, f-dupfd-query, kcmp, epoll, fstat, fdinfo, sysfs
  A forced mechanism that cannot compare these kinds of file is a usage error (exit 2),
  whether the kinds tell beforehand or running it does: drm-ioctl without a DRM device
  file, dma-buf-ioctl without a dma-buf, either ioctl on a path (O_PATH), fdinfo and sysfs
  without two DRM device files, epoll when neither file can be polled (regular files,
  directories, paths). When no mechanism can tell, the text and `declined` say why.

EXIT STATUS (the same with and without --json):
  0  compared, and every asked level is the same (ps: printed, every named process
     inspected)
  1  compared, and an asked level is different or not-applicable
  2  usage error (also: a --mechanism that cannot compare these kinds of file, see
     MECHANISMS)
  3  a file descriptor could not be obtained: no such file, a descriptor the caller does
     not hold, no such process, pidfd_getfd refused (ps: a named process or one of its
     descriptors could not be inspected, or fdsame's descriptor limit stopped it)
  4  the kernel could not answer: an asked level is unknown, or the forced mechanism is
     unavailable on this kernel, refused to this process, or failed
  5  an answer (0, 1 or 4) could not be written to standard output (closed, full, broken
     pipe); an error keeps its own status, and why it is one goes to standard error
  70 internal error (a bug in fdsame; please report it)

JSON (--json; schema version 1, the `version` field of the top-level object; fields are
only ever added):
  Names (arg, target, comm, link, nodes, sysfs): a string when UTF-8, else
  {\"hex\": bytes in hex, \"lossy\": text} (reversible). ANSWER: \"same\" | \"different\" |
  \"unknown\" | \"not-applicable\". MECHANISM: a name above, or null.
  compare: {version, a, b, levels, mechanism, client_mechanism, device_mechanism,
    forced_mechanism, declined, asked, holds, exit}
    a, b: {arg, obtained_by, kind (drm | dma-buf | o-path | other), kind_detail, target,
      foreign, new_open, pid, fd}   (pid, fd: the process's and its descriptor's number,
      or null; new_open: a path fdsame looked up or opened itself)
    levels: {file, drm-client, drm-device, dma-buf-object, dma-buf-storage}: ANSWER
    mechanism: what answered the file level; null when nothing did, or when only the
      new-open rule did (a or b new_open: the file level is different)
    declined: null or {mechanism, errno, cause, reason}: a mechanism that could not
      answer: a device that declined (cause \"device\": ENODEV, ECANCELED), or, when
      nothing told the file level, the most telling one tried (cause \"refused\",
      \"transient\", \"cannot-tell\" or \"unavailable\", in that order); reason: in words
    asked: the levels of --level; holds: every asked level is same; exit: the status
  ps: {version, drm_devices, dma_bufs, processes, totals, not_inspected, mechanisms,
    errors, exit}
    drm_devices: [{name, driver, sysfs, nodes, clients: [{client_id, client_name,
      holders, memory}]}]; holders: [{pid, comm, fds, open_files}]
    dma_bufs: [{number, inode, size, exporter, name, processes, holders,
      same_storage_as, storage_compared}]
    processes: [{pid, comm, drm_clients, dma_bufs, dma_buf_bytes}]
    totals: {drm_devices, drm_clients, dma_bufs, dma_buf_bytes, shared_dma_bufs,
      shared_dma_buf_bytes, processes_inspected, processes_not_inspected,
      fds_inspected, fds_not_inspected}
    fds_inspected: descriptors (of every kind) whose link was read and classified, and,
      for DRM and dma-buf ones, obtained; fds_not_inspected: descriptors listed but not
      inspected (link or target unreadable, not obtained); one closed meanwhile is
      neither. processes_inspected: processes whose descriptors were listed and that
      have none, or at least one inspected; processes_not_inspected: the others
    not_inspected: [{pid, comm, fds, links, count, reason}]: a process (fds empty) or
      count descriptors of it (fds: their numbers) that could not be inspected
  error (usage errors included): {version, error, exit}

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

/// The version of the JSON output's schema (`--help` documents it).
pub(crate) const JSON_VERSION: u32 = 1;

#[derive(Parser, Debug)]
#[command(
    name = "fdsame",
    version,
    about = "Are these two file descriptors the same thing? DRM and dma-buf aware.",
    after_help = AFTER_HELP,
    subcommand_negates_reqs = true,
    disable_help_subcommand = true,
    override_usage = "fdsame [OPTIONS] <A> <B>\n       fdsame [--json] ps [PIDS]...\n       \
                      fdsame help [ps|help]"
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
        /// Process ids, as /proc names them: decimal digits, no sign, no leading zero
        /// (default: every process in /proc).
        #[arg(value_parser = parse_pid, allow_negative_numbers = true)]
        pids: Vec<i32>,
    },
    /// This help, or the help of a subcommand (help is text, also with --json).
    Help {
        /// The subcommand (ps, help); a file named `help` or `ps` is ./help, ./ps.
        subcommand: Option<OsString>,
    },
}

impl Command {
    fn name(&self) -> &'static str {
        match self {
            Command::Ps { .. } => "ps",
            Command::Help { .. } => "help",
        }
    }
}

/// `fdsame help [SUBCOMMAND]`: the help text, or a usage error naming the subcommands.
fn help_cmd(sub: Option<&OsStr>, as_json: bool) -> Outcome {
    use clap::CommandFactory;
    let mut cmd = Cli::command();
    cmd.build();
    let Some(name) = sub else {
        return Outcome::text(cmd.render_long_help().to_string());
    };
    match name.to_str().and_then(|n| cmd.find_subcommand_mut(n)) {
        Some(sc) => Outcome::text(sc.render_long_help().to_string()),
        None => failure(
            exit::USAGE,
            format!(
                "help: no subcommand {:?}: the subcommands are ps and help (help compares \
                 no files: a file named help is ./help, as in `fdsame ./help B`)",
                text::shown(name)
            ),
            as_json,
        ),
    }
}

fn parse_level(s: &str) -> Result<Level, String> {
    s.parse::<Level>().map_err(|e| e.to_string())
}

fn parse_mechanism(s: &str) -> Result<Mechanism, String> {
    s.parse::<Mechanism>().map_err(|e| e.to_string())
}

/// A process id as /proc names one (`name_to_int()` in fs/proc/base.c, as for descriptor
/// numbers): decimal digits, no sign, no leading zero (`/proc/01` does not exist), from 1 to
/// 2^31 - 1 (the kernel's pid_t; pid_max is at most 4194304).
fn parse_pid(s: &str) -> Result<i32, String> {
    let bad = || {
        format!(
            "{s:?} is not a process id: a number from 1 to {}, in decimal digits without a \
             sign or a leading zero, as /proc names it",
            i32::MAX
        )
    };
    if s.is_empty() || !s.bytes().all(|c| c.is_ascii_digit()) || s.starts_with('0') {
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

/// What a command produced: the text for stdout, the exit code, and what must reach stderr
/// when stdout cannot be written and the status is an error (the reasons for it, which
/// stdout would have carried).
pub(crate) struct Outcome {
    pub out: String,
    pub code: u8,
    pub unwritten: String,
}

/// Whether `code` is an answer, whose output is the point: a failure to write it is exit 5.
/// An error keeps its own status whether its JSON could be written or not.
fn is_answer(code: u8) -> bool {
    matches!(code, exit::SAME | exit::DIFFERENT | exit::UNKNOWN)
}

/// Writes `out` to stdout; an error (closed, full, broken pipe) is reported, and turns an
/// answer's status into exit 5; an error status stays, and `unwritten` (why it is an
/// error) goes to stderr instead.
fn emit(out: &str, code: u8, unwritten: &str) -> u8 {
    if out.is_empty() {
        return code;
    }
    let failed = if STD_OPEN.load(std::sync::atomic::Ordering::Relaxed) & 2 == 0 {
        Some("standard output is closed".to_owned())
    } else {
        let mut stdout = std::io::stdout().lock();
        stdout
            .write_all(out.as_bytes())
            .and_then(|()| stdout.flush())
            .err()
            .map(|e| e.to_string())
    };
    match failed {
        None => code,
        Some(why) if is_answer(code) => {
            warn(format_args!(
                "cannot write the answer to standard output: {why}"
            ));
            exit::OUTPUT
        }
        Some(why) => {
            if !unwritten.is_empty() {
                warn(format_args!(
                    "cannot write the output to standard output: {why}; exit {code} because:"
                ));
                let _ = std::io::stderr().write_all(unwritten.as_bytes());
            }
            code
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

/// Whether `--json` is among the raw arguments (for usage errors, which clap reports before
/// anything is parsed); after `--`, arguments are file names.
fn json_asked(args: &[OsString]) -> bool {
    args.iter()
        .skip(1)
        .take_while(|a| a.as_os_str() != "--")
        .any(|a| a.as_os_str() == "--json")
}

/// clap's message without its usage and hint: the lines before the first blank one, joined
/// (`the following required arguments were not provided: <A> <B>`).
fn usage_message(rendered: &str) -> String {
    let lines: Vec<&str> = rendered
        .lines()
        .take_while(|l| !l.trim().is_empty())
        .map(str::trim)
        .collect();
    let msg = lines.join(" ");
    let msg = msg.strip_prefix("error: ").unwrap_or(&msg);
    if msg.is_empty() {
        "usage error".to_owned()
    } else {
        msg.to_owned()
    }
}

/// A usage error: clap's message on stderr, and under `--json` the error object on stdout.
fn usage_error(e: &clap::Error, as_json: bool) -> u8 {
    let _ = e.print(); // to stderr, coloured only on a terminal; errors ignored
    if as_json {
        return emit(
            &error_json(&usage_message(&e.render().to_string()), exit::USAGE),
            exit::USAGE,
            "",
        );
    }
    exit::USAGE
}

fn run() -> u8 {
    let args: Vec<OsString> = std::env::args_os().collect();
    let as_json = json_asked(&args);
    let cli = match Cli::try_parse_from(&args) {
        Ok(cli) => cli,
        Err(e) => {
            use clap::error::ErrorKind;
            return match e.kind() {
                ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
                    emit(&e.render().to_string(), exit::SAME, "")
                }
                _ => usage_error(&e, as_json),
            };
        }
    };
    if let Some(c) = &cli.command {
        if cli.a.is_some() || cli.b.is_some() {
            let msg = format!(
                "files to compare and the subcommand {} together: give one or the other (a \
                 file named `ps` or `help` is ./ps, ./help)",
                c.name()
            );
            return failure(exit::USAGE, msg, cli.json).emit();
        }
        if !cli.levels.is_empty() || cli.mechanism.is_some() {
            let msg = format!("--level and --mechanism do not apply to {}", c.name());
            return failure(exit::USAGE, msg, cli.json).emit();
        }
    }
    let o = match cli.command {
        Some(Command::Ps { ref pids }) => ps::run(pids, cli.json),
        Some(Command::Help { ref subcommand }) => help_cmd(subcommand.as_deref(), cli.json),
        None => {
            let (Some(a), Some(b)) = (&cli.a, &cli.b) else {
                let msg = "two files to compare, or a subcommand; see --help";
                return failure(exit::USAGE, msg.into(), cli.json).emit();
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
    o.emit()
}

impl Outcome {
    /// Text for stdout, exit 0.
    fn text(out: String) -> Outcome {
        Outcome {
            out,
            code: exit::SAME,
            unwritten: String::new(),
        }
    }

    fn emit(&self) -> u8 {
        emit(&self.out, self.code, &self.unwritten)
    }
}

/// The JSON object of an error: `{version, error, exit}`.
pub(crate) fn error_json(msg: &str, code: u8) -> String {
    let v = serde_json::json!({ "version": JSON_VERSION, "error": msg, "exit": code });
    format!("{v}\n")
}

/// An error: the message on stderr, the error object on stdout when JSON is asked.
pub(crate) fn failure(code: u8, msg: String, as_json: bool) -> Outcome {
    warn(&msg);
    let out = if as_json {
        error_json(&msg, code)
    } else {
        String::new()
    };
    // The message is on stderr already.
    Outcome {
        out,
        code,
        unwritten: String::new(),
    }
}

/// One compared descriptor in the JSON output.
#[derive(Serialize)]
struct SideJson<'a> {
    arg: Name,
    obtained_by: &'static str,
    kind: &'static str,
    kind_detail: String,
    target: &'a Name,
    foreign: bool,
    new_open: bool,
    pid: Option<i32>,
    fd: Option<i32>,
}

impl<'a> SideJson<'a> {
    fn new(arg: &OsStr, o: &'a Obtained) -> SideJson<'a> {
        SideJson {
            arg: Name::new(arg),
            obtained_by: o.how,
            kind: o.kind_name(),
            kind_detail: o.kind_detail(),
            target: &o.target,
            foreign: o.foreign,
            new_open: o.new_open,
            pid: o.pid,
            fd: o.fd_number,
        }
    }
}

/// A mechanism that could not answer, in the JSON output.
#[derive(Serialize)]
struct DeclinedJson {
    mechanism: Mechanism,
    errno: i32,
    /// `device`, `unavailable`, `refused`, `cannot-tell`, `transient`.
    cause: DeclineReason,
    reason: String,
}

/// The JSON output of a comparison (schema in `--help`).
#[derive(Serialize)]
struct CompareJson<'a> {
    version: u32,
    a: SideJson<'a>,
    b: SideJson<'a>,
    levels: BTreeMap<Level, Answer>,
    mechanism: Option<Mechanism>,
    client_mechanism: Option<Mechanism>,
    device_mechanism: Option<Mechanism>,
    forced_mechanism: Option<Mechanism>,
    declined: Option<DeclinedJson>,
    asked: &'a [Level],
    holds: bool,
    exit: u8,
}

/// The rule for paths, applied here once whatever the mechanism: a path fdsame looked up or
/// opened itself is a new open, never the same file (nor, for a DRM device node, the same
/// DRM client) as anything. Returns whether the rule decided the file level (no mechanism
/// had).
fn new_open_rule(s: &mut Sameness, a: &Obtained, b: &Obtained) -> bool {
    if !(a.new_open || b.new_open) {
        return false;
    }
    let decided = s.file != Answer::Different;
    s.file = Answer::Different;
    if decided {
        s.mechanism = None;
    }
    if s.drm_client != Answer::NotApplicable {
        // One struct drm_file per open: a new open is a new DRM client.
        s.drm_client = Answer::Different;
    }
    // A path is never a dma-buf (refused when it names one): its dma-buf levels do not
    // apply already.
    decided
}

/// What the answer is for the asked levels.
fn verdict(s: &Sameness, levels: &[Level]) -> u8 {
    let answers: Vec<Answer> = levels.iter().map(|l| s.level(*l)).collect();
    if answers.iter().any(|a| a.known() == Some(false)) {
        exit::DIFFERENT
    } else if answers.iter().any(|a| *a != Answer::Same) {
        exit::UNKNOWN
    } else {
        exit::SAME
    }
}

/// An errno as `EPERM: Operation not permitted` (the symbolic name for the common ones).
fn errno_text(errno: i32) -> String {
    let name = match errno {
        libc::EPERM => "EPERM",
        libc::EACCES => "EACCES",
        libc::EINVAL => "EINVAL",
        libc::ENOSYS => "ENOSYS",
        libc::ENOTTY => "ENOTTY",
        libc::ENOENT => "ENOENT",
        libc::EBADF => "EBADF",
        libc::ENODEV => "ENODEV",
        libc::ECANCELED => "ECANCELED",
        libc::EMFILE => "EMFILE",
        libc::ENFILE => "ENFILE",
        libc::ENOMEM => "ENOMEM",
        libc::EAGAIN => "EAGAIN",
        libc::EINTR => "EINTR",
        _ => return std::io::Error::from_raw_os_error(errno).to_string(),
    };
    let text = std::io::Error::from_raw_os_error(errno).to_string();
    let text = text.split(" (os error").next().unwrap_or(&text).to_owned();
    format!("{name}: {text}")
}

/// Why a mechanism could not answer, in words: what the errno means for it.
fn declined_reason(d: &Declined) -> String {
    let e = errno_text(d.errno);
    match (d.reason, d.errno) {
        (DeclineReason::Device, libc::ENODEV) => format!("{e}: the DRM device was unplugged"),
        (DeclineReason::Device, libc::ECANCELED) => format!("{e}: the device is wedged"),
        (DeclineReason::Refused, _) => format!(
            "refused to this process ({e}): a seccomp filter, a container or a security \
             module forbids it"
        ),
        (DeclineReason::Unavailable, _) => format!("not available on this kernel ({e})"),
        (DeclineReason::CannotTell, _) if d.mechanism == Mechanism::Epoll => {
            format!("neither file can be polled ({e}), and epoll compares only pollable files")
        }
        (DeclineReason::CannotTell, _) => {
            format!("this kernel's version of it refuses an O_PATH descriptor ({e})")
        }
        (DeclineReason::Transient, _) => format!("could not run now ({e})"),
        _ => e.to_string(),
    }
}

fn compare_cmd(
    a: &OsStr,
    b: &OsStr,
    levels: &[Level],
    mech: Option<Mechanism>,
    as_json: bool,
) -> Outcome {
    // Names of the caller's descriptors first, before fdsame keeps anything open of its own.
    let named = |arg: &OsStr, r: Result<Resolved, String>| {
        r.map_err(|e| format!("{}: {e}", text::shown(arg)))
    };
    let pair = named(a, resolve::classify(a)).and_then(|ra| {
        let rb = named(b, resolve::classify(b))?;
        resolve::obtain_pair(a, ra, b, rb)
    });
    let (oa, ob) = match pair {
        Ok(pair) => pair,
        Err(msg) => return failure(exit::NO_FD, msg, as_json),
    };
    let mut opts = Options::new().foreign(oa.foreign, ob.foreign);
    if let Some(m) = mech {
        opts = opts.mechanism(m);
    }
    let mut s = match opts.compare(&oa.fd, &ob.fd) {
        Ok(s) => s,
        Err(e) => {
            let code = match e.kind() {
                fdsame::ErrorKind::NotApplicable => exit::USAGE,
                _ => exit::UNKNOWN,
            };
            return failure(code, resolve::lib_error(&e), as_json);
        }
    };
    let by_rule = new_open_rule(&mut s, &oa, &ob);
    let code = verdict(&s, levels);
    let out = if as_json {
        let v = CompareJson {
            version: JSON_VERSION,
            a: SideJson::new(a, &oa),
            b: SideJson::new(b, &ob),
            levels: Level::ALL.iter().map(|&l| (l, s.level(l))).collect(),
            mechanism: s.mechanism,
            client_mechanism: s.client_mechanism,
            device_mechanism: s.device_mechanism,
            forced_mechanism: mech,
            declined: s.declined.map(|d| DeclinedJson {
                mechanism: d.mechanism,
                errno: d.errno,
                cause: d.reason,
                reason: declined_reason(&d),
            }),
            asked: levels,
            holds: code == exit::SAME,
            exit: code,
        };
        serde_json::to_string_pretty(&v).map_or_else(|e| e.to_string(), |t| t + "\n")
    } else {
        compare_text([(a, &oa), (b, &ob)], &s, levels, mech, by_rule, code)
    };
    Outcome {
        out,
        code,
        unwritten: String::new(), // an answer: exit 5 when unwritten
    }
}

/// The text output of a comparison.
fn compare_text(
    sides: [(&OsStr, &Obtained); 2],
    s: &Sameness,
    levels: &[Level],
    mech: Option<Mechanism>,
    by_rule: bool,
    code: u8,
) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    for (label, (arg, o)) in ["A", "B"].iter().zip(sides) {
        let _ = writeln!(out, "{label}: {} ({})", text::shown(arg), o.describe());
    }
    for &l in Level::ALL {
        let mark = if levels.contains(&l) { "*" } else { " " };
        let _ = writeln!(out, "{mark} {:<16}{}", l.name(), s.level(l));
    }
    let why = |d: &Declined| format!("{} could not answer: {}", d.mechanism, declined_reason(d));
    let _ = match (s.mechanism, mech, &s.declined) {
        (Some(m), _, _) => writeln!(out, "answered by: {m}"),
        _ if by_rule => writeln!(
            out,
            "answered by: the arguments (a path is a new open: never the same file as \
             anything)"
        ),
        (None, Some(Mechanism::Fstat), None) => writeln!(
            out,
            "answered by: nothing (fstat was asked: both are one inode, and fstat cannot tell \
             two opens of one file apart)"
        ),
        (None, Some(m), None) => writeln!(
            out,
            "answered by: nothing ({m} was asked and cannot tell the file level here)"
        ),
        (None, _, Some(d)) => writeln!(
            out,
            "answered by: nothing could tell the file level: {}",
            why(d)
        ),
        (None, None, None) => writeln!(
            out,
            "answered by: nothing could tell the file level on this kernel"
        ),
    };
    if let Some(m) = s.client_mechanism {
        let _ = writeln!(out, "drm-client level by: {m}");
    }
    if let Some(m) = s.device_mechanism {
        let _ = writeln!(out, "drm-device level by: {m}");
    }
    if let (Some(d), true) = (&s.declined, s.mechanism.is_some() || by_rule) {
        let _ = writeln!(out, "{}", why(d));
    }
    let different = levels.iter().any(|l| s.level(*l) == Answer::Different);
    let verdict = match code {
        exit::SAME => "same",
        exit::DIFFERENT if different => "not the same",
        exit::DIFFERENT => "not applicable to these kinds of file",
        _ => "unknown: the kernel cannot tell",
    };
    let asked: Vec<&str> = levels.iter().map(|l| l.name()).collect();
    let _ = writeln!(out, "verdict ({}): {verdict}", asked.join(", "));
    out
}

/// A thread that waits until told to end: its thread id, the sender that ends it, its handle.
/// For the tests of thread ids.
#[cfg(test)]
fn spawn_idle_thread() -> (
    i32,
    std::sync::mpsc::Sender<()>,
    std::thread::JoinHandle<()>,
) {
    let (tx, rx) = std::sync::mpsc::channel();
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let t = std::thread::spawn(move || {
        tx.send(rustix::thread::gettid().as_raw_nonzero().get())
            .unwrap();
        let _ = done_rx.recv();
    });
    (rx.recv().unwrap(), done_tx, t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pids_parse() {
        assert_eq!(parse_pid("1"), Ok(1));
        assert_eq!(parse_pid("2147483647"), Ok(i32::MAX));
        for bad in [
            "0",
            "-1",
            "2147483648",
            "99999999999",
            "",
            "1x",
            "+1",
            "01",
            "007",
        ] {
            let e = parse_pid(bad).unwrap_err();
            assert!(e.contains("not a process id"), "{bad}: {e}");
        }
    }

    /// Under --json a usage error carries clap's whole message, the missing names too.
    #[test]
    fn usage_messages_are_whole() {
        let e = Cli::try_parse_from(["fdsame", "--json"]).unwrap_err();
        let msg = usage_message(&e.render().to_string());
        assert!(msg.contains("not provided"), "{msg}");
        assert!(msg.contains("<A>") && msg.contains("<B>"), "{msg}");
        assert!(!msg.contains("Usage") && !msg.starts_with("error"), "{msg}");
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
