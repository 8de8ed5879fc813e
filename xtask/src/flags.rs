//! The one flag parser of every command. Each flag is declared once, in [`FLAGS`] (its name, its
//! value and its help line); each command lists the flags it takes, in [`COMMANDS`]. Parsing
//! never exits the process: a bad command line is an `Err` that `main` prints (exit status 2),
//! and `--help` is a flag like the others ([`Flags::help`]).

use crate::kernel::Flavor;
use crate::util::Result;
use std::path::PathBuf;

/// One flag: `--name` alone, or `--name VALUE`.
pub struct Flag {
    pub name: &'static str,
    /// The value's placeholder in the help (`B`, `FILE`), or None for a switch.
    pub value: Option<&'static str>,
    pub help: &'static str,
    /// Left out of the help (internal: the parent's child process).
    pub hidden: bool,
}

const fn flag(name: &'static str, value: Option<&'static str>, help: &'static str) -> Flag {
    Flag {
        name,
        value,
        help,
        hidden: false,
    }
}

/// Every flag of every command.
pub const FLAGS: &[Flag] = &[
    flag(
        "--base",
        Some("B"),
        "kernel base: 7.3 (default, newest mainline Debian carries) or 6.12 (LTS)",
    ),
    flag(
        "--flavor",
        Some("F"),
        "vm (default; alias builtin: everything under test built in), modules (DRM, vkms, \
         vgem, vim2m, bochs, virtio_gpu and the KUnit tests as modules: linux/modules.config, \
         loaded in the guest with modprobe) or debug (KASAN, lockdep, UBSAN, kmemleak, ...: linux/debug.config)",
    ),
    flag(
        "--no-build",
        None,
        "boot the kernel image(s) already built, no kernel build (quick experiments while \
         another build runs)",
    ),
    flag(
        "--refresh",
        None,
        "rebuild the sid root (debootstrap + apt) even when it is cached",
    ),
    flag(
        "--list",
        Some("FILE"),
        "test list (default tests/igt/regression.txt)",
    ),
    flag(
        "--budget",
        Some("SECS"),
        "igt_runner's overall time budget per kernel (default 900)",
    ),
    flag(
        "--per-test-timeout",
        Some("S"),
        "igt_runner's per-test timeout (default 120)",
    ),
    flag(
        "--only",
        Some("unpatched|patched"),
        "run one kernel only, no comparison (to grow or trim the list)",
    ),
    Flag {
        name: "--build-kernels",
        value: None,
        help: "the child process that builds both kernels under the build lock",
        hidden: true,
    },
    flag("--help", None, "this text (also -h)"),
];

/// A command and the flags it takes.
pub struct Cmd {
    pub name: &'static str,
    pub flags: &'static [&'static str],
    /// Whether words after `--` are taken (given to the guest command, the bench, ...).
    pub rest: bool,
}

/// The flags of the commands that build and boot a kernel.
const KERNEL_FLAGS: &[&str] = &["--base", "--flavor", "--no-build", "--help"];
/// The flags of the commands that only need the base's work tree (no flavour, no build).
const BASE_FLAGS: &[&str] = &["--base", "--help"];

/// Every command. A flag or a `--` that a command does not take is an error (exit status 2),
/// never ignored.
pub const COMMANDS: &[Cmd] = &[
    Cmd {
        name: "kernel",
        flags: KERNEL_FLAGS,
        rest: false,
    },
    Cmd {
        name: "check",
        flags: BASE_FLAGS,
        rest: false,
    },
    Cmd {
        name: "tree",
        flags: BASE_FLAGS,
        rest: false,
    },
    Cmd {
        name: "export",
        flags: BASE_FLAGS,
        rest: false,
    },
    Cmd {
        name: "vm",
        flags: KERNEL_FLAGS,
        rest: true,
    },
    Cmd {
        name: "test",
        flags: KERNEL_FLAGS,
        rest: false,
    },
    Cmd {
        name: "demo",
        flags: KERNEL_FLAGS,
        rest: false,
    },
    Cmd {
        name: "bench",
        flags: KERNEL_FLAGS,
        rest: true,
    },
    Cmd {
        name: "igt-regression",
        flags: &[
            "--base",
            "--refresh",
            "--list",
            "--budget",
            "--per-test-timeout",
            "--only",
            "--no-build",
            "--build-kernels",
            "--help",
        ],
        rest: false,
    },
    Cmd {
        name: "help",
        flags: &[],
        rest: false,
    },
];

/// `--only` of igt-regression.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Only {
    Unpatched,
    Patched,
}

impl Only {
    pub fn name(self) -> &'static str {
        match self {
            Only::Unpatched => "unpatched",
            Only::Patched => "patched",
        }
    }
}

/// What a command line said. A flag the command does not take is an error, so a field is only
/// set for the commands that list its flag.
#[derive(Debug, Default)]
pub struct Flags {
    /// `--base` (see [`Flags::base`] for the default).
    pub base: Option<String>,
    /// `--flavor`; None: the command's default (`test`: built-in and modular; the others: vm).
    pub flavor: Option<Flavor>,
    pub no_build: bool,
    pub refresh: bool,
    pub list: Option<PathBuf>,
    pub budget: Option<u32>,
    pub per_test_timeout: Option<u32>,
    pub only: Option<Only>,
    pub build_kernels: bool,
    /// `--help`, `-h` or a bare `help`: the caller prints the command's help.
    pub help: bool,
    /// The words after `--`.
    pub rest: Vec<String>,
}

impl Flags {
    /// The kernel base: `--base`, or 7.3.
    pub fn base(&self) -> &str {
        self.base.as_deref().unwrap_or("7.3")
    }

    /// The one kernel flavour of commands that boot one kernel: `--flavor`, or vm.
    pub fn flavor(&self) -> Flavor {
        self.flavor.unwrap_or(Flavor::Vm)
    }
}

pub fn command(name: &str) -> Option<&'static Cmd> {
    COMMANDS.iter().find(|c| c.name == name)
}

fn find_flag(name: &str) -> Option<&'static Flag> {
    FLAGS.iter().find(|f| f.name == name)
}

/// Parses the arguments of command `cmd` (the words after the command's name).
pub fn parse(cmd: &str, args: &[String]) -> Result<Flags> {
    let c = command(cmd).ok_or_else(|| format!("unknown command `{cmd}`"))?;
    let mut f = Flags::default();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let word = match arg.as_str() {
            "-h" | "help" => "--help",
            "--" if c.rest => {
                f.rest = it.cloned().collect();
                break;
            }
            w => w,
        };
        let Some(flag) = find_flag(word).filter(|fl| c.flags.contains(&fl.name)) else {
            return Err(format!("{cmd}: unknown argument `{arg}`"));
        };
        let value = match flag.value {
            Some(_) => Some(
                it.next()
                    .ok_or_else(|| format!("{} needs a value", flag.name))?
                    .as_str(),
            ),
            None => None,
        };
        let seconds = |v: Option<&str>| -> Result<u32> {
            v.unwrap_or_default()
                .parse()
                .map_err(|_| format!("{} needs a number of seconds", flag.name))
        };
        match flag.name {
            "--base" => f.base = value.map(str::to_string),
            "--flavor" => f.flavor = Some(Flavor::parse(value.unwrap_or_default())?),
            "--no-build" => f.no_build = true,
            "--refresh" => f.refresh = true,
            "--list" => f.list = value.map(PathBuf::from),
            "--budget" => f.budget = Some(seconds(value)?),
            "--per-test-timeout" => f.per_test_timeout = Some(seconds(value)?),
            "--only" => {
                f.only = Some(match value.unwrap_or_default() {
                    "unpatched" => Only::Unpatched,
                    "patched" => Only::Patched,
                    k => return Err(format!("--only: `{k}` is neither unpatched nor patched")),
                })
            }
            "--build-kernels" => f.build_kernels = true,
            "--help" => f.help = true,
            other => unreachable!("flag {other} is declared but not parsed"),
        }
    }
    Ok(f)
}

/// A command's synopsis: its name, its flags (`[--base B]`, ...; not `--help`) and `-- ...` when
/// it takes words after `--`.
pub fn synopsis(cmd: &str) -> String {
    let Some(c) = command(cmd) else {
        return cmd.to_string();
    };
    let mut out = c.name.to_string();
    for fl in FLAGS
        .iter()
        .filter(|fl| !fl.hidden && fl.name != "--help" && c.flags.contains(&fl.name))
    {
        match fl.value {
            Some(v) => out.push_str(&format!(" [{} {v}]", fl.name)),
            None => out.push_str(&format!(" [{}]", fl.name)),
        }
    }
    if c.rest {
        out.push_str(match c.name {
            "vm" => " -- CMD...",
            _ => " [-- ARGS]",
        });
    }
    out
}

/// The `Options:` lines of the help of the given commands (each flag once, in [`FLAGS`] order).
pub fn options_help(cmds: &[&str]) -> String {
    let mut out = String::new();
    for fl in FLAGS.iter().filter(|fl| !fl.hidden) {
        if !cmds
            .iter()
            .filter_map(|c| command(c))
            .any(|c| c.flags.contains(&fl.name))
        {
            continue;
        }
        let head = match fl.value {
            Some(v) => format!("{} {v}", fl.name),
            None => fl.name.to_string(),
        };
        let mut lines = wrap(fl.help, 74).into_iter();
        if head.len() < 21 {
            out.push_str(&format!(
                "  {head:<21}{}\n",
                lines.next().unwrap_or_default()
            ));
        } else {
            out.push_str(&format!("  {head}\n"));
        }
        for l in lines {
            out.push_str(&format!("  {:<21}{l}\n", ""));
        }
    }
    out
}

/// `text` in lines of at most `width` characters (longer words alone on their line).
pub fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = vec![];
    let mut cur = String::new();
    for w in text.split_whitespace() {
        if !cur.is_empty() && cur.len() + 1 + w.len() > width {
            lines.push(std::mem::take(&mut cur));
        }
        if !cur.is_empty() {
            cur.push(' ');
        }
        cur.push_str(w);
    }
    if !cur.is_empty() {
        lines.push(cur);
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn every_listed_flag_is_declared_once() {
        for (i, fl) in FLAGS.iter().enumerate() {
            assert!(
                FLAGS[i + 1..].iter().all(|o| o.name != fl.name),
                "{} declared twice",
                fl.name
            );
        }
        for c in COMMANDS {
            for name in c.flags {
                assert!(
                    find_flag(name).is_some(),
                    "{}: {name} is not declared",
                    c.name
                );
            }
        }
        // Every declared flag is parsed (parse panics on one that is not).
        for fl in FLAGS {
            let c = COMMANDS
                .iter()
                .find(|c| c.flags.contains(&fl.name))
                .unwrap();
            let value = match fl.name {
                "--flavor" => "vm",
                "--only" => "patched",
                "--budget" | "--per-test-timeout" => "5",
                _ => "x",
            };
            let mut a = vec![fl.name];
            if fl.value.is_some() {
                a.push(value);
            }
            parse(c.name, &args(&a)).unwrap();
        }
    }

    #[test]
    fn kernel_commands() {
        let f = parse("test", &args(&[])).unwrap();
        assert_eq!((f.base(), f.flavor, f.no_build), ("7.3", None, false));
        assert_eq!(f.flavor(), Flavor::Vm);
        let f = parse(
            "vm",
            &args(&[
                "--base",
                "6.12",
                "--flavor",
                "modules",
                "--no-build",
                "--",
                "ls",
                "--base",
            ]),
        )
        .unwrap();
        assert_eq!(f.base(), "6.12");
        assert_eq!(f.flavor, Some(Flavor::Modules));
        assert!(f.no_build);
        assert_eq!(f.rest, ["ls", "--base"]);
        assert!(parse("demo", &args(&["-h"])).unwrap().help);
    }

    #[test]
    fn igt_regression_flags() {
        let f = parse(
            "igt-regression",
            &args(&[
                "--refresh",
                "--list",
                "l.txt",
                "--budget",
                "60",
                "--per-test-timeout",
                "7",
                "--only",
                "unpatched",
            ]),
        )
        .unwrap();
        assert!(f.refresh);
        assert_eq!(f.list, Some(PathBuf::from("l.txt")));
        assert_eq!((f.budget, f.per_test_timeout), (Some(60), Some(7)));
        assert_eq!(f.only, Some(Only::Unpatched));
        assert!(parse("igt-regression", &args(&["help"])).unwrap().help);
    }

    #[test]
    fn bad_command_lines_are_errors_not_exits() {
        for (cmd, a, want) in [
            ("test", &["--nope"][..], "test: unknown argument `--nope`"),
            ("test", &["--refresh"], "test: unknown argument `--refresh`"),
            (
                "igt-regression",
                &["--flavor", "vm"],
                "unknown argument `--flavor`",
            ),
            ("igt-regression", &["--", "x"], "unknown argument `--`"),
            ("vm", &["--base"], "--base needs a value"),
            ("test", &["--flavor", "tiny"], "unknown flavour `tiny`"),
            (
                "igt-regression",
                &["--budget", "soon"],
                "--budget needs a number of seconds",
            ),
            (
                "igt-regression",
                &["--only", "both"],
                "neither unpatched nor patched",
            ),
            ("frobnicate", &[], "unknown command `frobnicate`"),
            // Flags a command does not take are errors, not silently ignored.
            ("check", &["--", "x"], "check: unknown argument `--`"),
            (
                "export",
                &["--flavor", "debug"],
                "unknown argument `--flavor`",
            ),
            ("tree", &["--no-build"], "unknown argument `--no-build`"),
            ("demo", &["--", "x"], "demo: unknown argument `--`"),
            ("test", &["--", "x"], "test: unknown argument `--`"),
        ] {
            let e = parse(cmd, &args(a)).unwrap_err();
            assert!(e.contains(want), "{cmd} {a:?}: {e}");
        }
    }

    #[test]
    fn help_lists_a_commands_flags_only() {
        let h = options_help(&["igt-regression"]);
        assert!(h.contains("--per-test-timeout S"));
        assert!(!h.contains("--flavor"));
        assert!(!h.contains("--build-kernels"));
        let h = options_help(&["test"]);
        assert!(h.contains("--flavor F") && !h.contains("--refresh"));
    }

    #[test]
    fn synopses_name_the_flags_taken() {
        assert_eq!(
            synopsis("demo"),
            "demo [--base B] [--flavor F] [--no-build]"
        );
        assert_eq!(
            synopsis("bench"),
            "bench [--base B] [--flavor F] [--no-build] [-- ARGS]"
        );
        assert_eq!(
            synopsis("vm"),
            "vm [--base B] [--flavor F] [--no-build] -- CMD..."
        );
        assert_eq!(synopsis("export"), "export [--base B]");
    }
}
