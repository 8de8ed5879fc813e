//! `cargo xtask`: the project's harness. See `cargo xtask help`.

mod check;
mod igt;
mod kernel;
mod regression;
mod results;
mod util;
mod vm;

use kernel::Flavor;
use std::path::PathBuf;
use std::process::{Command, ExitCode};
use std::time::Duration;
use util::Result;

const HELP: &str = "\
cargo xtask COMMAND [OPTIONS]

Commands:
  kernel [--base B] [--flavor F]   fetch the pinned base, apply linux/<series>, configure, build
  check [--base B]                 static checks: checkpatch --strict per patch, kernel-doc -Wall,
                                   W=1 + sparse on the touched objects (new warnings vs the base)
  tree [--base B]                  fetch the pinned base and apply the series (no build): the work tree
  export [--base B]                write the work tree's commits since `base` back to linux/<series>
  vm [--base B] [--flavor F] -- CMD...
                                   boot the patched kernel and run CMD (as root, host root read-only)
  test [--base B] [--flavor F]     the whole suite: host tests, KUnit and the Rust tests in the guest;
                                   ends with one `N passed, N failed` line, exits non-zero on any
                                   failure, kernel warning or missing device node
  demo [--base B]                  boot the patched kernel and show the CLI answering on real fds
  bench [--base B] [-- ARGS]       run crates/fdsame-bench in the guest; report, JSON and SVG chart
                                   into docs/bench/ (ARGS go to the bench, e.g. -- --quick)
  igt-regression [...]             upstream IGT (Debian sid packages) on the unpatched and the
                                   patched kernel, compared test by test (its own command: sid moves)
  help                             this text

Options:
  --base B     kernel base: 7.3 (default, newest mainline Debian carries) or 6.12 (LTS)
  --flavor F   vm (default) or debug (KASAN, lockdep, UBSAN, kmemleak, ...: linux/debug.config)
  --no-build   boot the bzImage already built (quick experiments while another build runs)

Paths: kernel work tree build/linux-source-<B> (edit the series there, on any branch, commit, then
`cargo xtask export`), objects build/kbuild-<B>[-debug], VM runs build/vm/<name>/.
";

struct Args {
    base: String,
    flavor: Flavor,
    /// Boot the bzImage already built (vm only): quick experiments while another build runs.
    no_build: bool,
    rest: Vec<String>,
}

fn parse(args: &[String]) -> Result<Args> {
    let mut a = Args {
        base: "7.3".into(),
        flavor: Flavor::Vm,
        no_build: false,
        rest: vec![],
    };
    let mut it = args.iter();
    while let Some(x) = it.next() {
        match x.as_str() {
            "--base" => a.base = it.next().ok_or("--base needs a value")?.clone(),
            "--flavor" => a.flavor = Flavor::parse(it.next().ok_or("--flavor needs a value")?)?,
            "--no-build" => a.no_build = true,
            "--" => {
                a.rest = it.cloned().collect();
                break;
            }
            other => return Err(format!("unknown argument `{other}`\n\n{HELP}")),
        }
    }
    Ok(a)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (cmd, rest) = match args.split_first() {
        Some((c, r)) => (c.as_str(), r),
        None => ("help", &[][..]),
    };
    let r = match cmd {
        "kernel" => parse(rest).and_then(|a| {
            let b = kernel::base(&a.base)?;
            let img = kernel_image(&a, b)?;
            println!("{}", img.display());
            Ok(true)
        }),
        "tree" => parse(rest).and_then(|a| {
            let tree = kernel::apply(kernel::base(&a.base)?)?;
            println!("{}", tree.display());
            Ok(true)
        }),
        "export" => parse(rest).and_then(|a| kernel::export(kernel::base(&a.base)?).map(|_| true)),
        "vm" => parse(rest).and_then(cmd_vm),
        "test" => parse(rest).and_then(cmd_test),
        "demo" => parse(rest).and_then(cmd_demo),
        "igt-regression" => regression::cmd(rest),
        "bench" => parse(rest).and_then(cmd_bench),
        "check" => parse(rest).and_then(|a| {
            let mut s = results::Summary::default();
            check::run(kernel::base(&a.base)?, &mut s)?;
            Ok(s.report())
        }),
        "help" | "--help" | "-h" => {
            print!("{HELP}");
            Ok(true)
        }
        other => Err(format!("unknown command `{other}`\n\n{HELP}")),
    };
    match r {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("xtask: error: {e}");
            ExitCode::from(2)
        }
    }
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

fn cmd_vm(a: Args) -> Result<bool> {
    if a.rest.is_empty() {
        return Err("vm needs a command after --".into());
    }
    let b = kernel::base(&a.base)?;
    let img = kernel_image(&a, b)?;
    let cwd = std::env::current_dir().map_err(|e| e.to_string())?;
    let words: Vec<String> = a.rest.iter().map(|w| shell_quote(w)).collect();
    let script = format!(
        "cd {} || exit 125\n{}\n",
        shell_quote(&cwd.to_string_lossy()),
        words.join(" ")
    );
    let r = vm::run(
        &vm::VmOpts {
            kernel: &img,
            cmdline: "",
            timeout: Duration::from_secs(900),
            memory_mb: 2048,
            name: "adhoc",
        },
        &script,
    )?;
    print!("{}", r.output);
    Ok(r.clean())
}

/// Test executables that cargo builds for the given packages (`cargo test --no-run`).
fn test_executables(packages: &[&str], extra: &[&str]) -> Result<Vec<(String, PathBuf)>> {
    let mut c = Command::new(env!("CARGO"));
    c.current_dir(util::root())
        .args(["test", "--no-run", "--message-format=json"]);
    for p in packages {
        c.args(["-p", p]);
    }
    c.args(extra);
    let out = util::output(&mut c)?;
    let mut v = vec![];
    for line in out.lines() {
        // Only test harnesses: a binary target built for CARGO_BIN_EXE_* has an "executable" too.
        let Some(exe) = results::json_string_field(line, "executable") else {
            continue;
        };
        let profile = line
            .split("\"profile\":{")
            .nth(1)
            .and_then(|p| p.split('}').next())
            .unwrap_or("");
        if !profile.contains("\"test\":true") {
            continue;
        }
        // The first "name" of a compiler-artifact line is the target's name; the package is the
        // directory of its manifest.
        let name = results::json_string_field(line, "name").unwrap_or_default();
        let package = results::json_string_field(line, "manifest_path")
            .and_then(|m| {
                PathBuf::from(m)
                    .parent()
                    .and_then(|p| p.file_name())
                    .map(|f| f.to_string_lossy().into_owned())
            })
            .unwrap_or_default();
        v.push((format!("{package}::{name}"), PathBuf::from(exe)));
    }
    Ok(v)
}

/// Devices every guest test needs; a missing one fails the run.
const GUEST_NODES: &[&str] = &[
    "/dev/dri/card0",
    "/dev/dri/card1",
    "/dev/dri/renderD128",
    "/dev/dma_heap/system",
    "/dev/udmabuf",
];

fn guest_script(groups: &[(String, PathBuf, Vec<String>)]) -> String {
    let mut s = String::from("cd /tmp\n");
    for n in GUEST_NODES {
        s.push_str(&format!("[ -e {n} ] || echo 'XTASK-MISSING {n}'\n"));
    }
    for (label, exe, args) in groups {
        let args: Vec<String> = args.iter().map(|a| shell_quote(a)).collect();
        s.push_str(&format!(
            "echo 'XTASK-BEGIN {label}'\n{} {}\necho \"XTASK-END {label} $?\"\n",
            shell_quote(&exe.to_string_lossy()),
            args.join(" ")
        ));
    }
    s
}

fn cmd_test(a: Args) -> Result<bool> {
    let b = kernel::base(&a.base)?;
    let mut summary = results::Summary::default();

    // 1. Host tests: the userspace crates on the host kernel (which lacks the new ioctls).
    eprintln!("xtask: host tests (cargo test on the host kernel)");
    let host = test_executables(&["fdsame", "fdsame-cli", "fdsame-bench", "xtask"], &[])?;
    // fdsame's `vm` tests need the patched kernel: they run in the guest below; `c_header` needs
    // the series' headers: it runs after the kernel build.
    for (label, exe) in host
        .iter()
        .filter(|(l, _)| l != "fdsame::vm" && l != "fdsame::c_header")
    {
        let (ok, text) = util::capture(Command::new(exe).current_dir(util::root()))?;
        summary.add_libtest(&format!("host {label}"), &text, ok);
    }

    // Rust lints and docs: clippy with -D warnings on everything, rustdoc with -D warnings on the library.
    for (label, args, env) in [
        (
            "check cargo clippy -D warnings",
            vec![
                "clippy",
                "-q",
                "--workspace",
                "--all-targets",
                "--",
                "-D",
                "warnings",
            ],
            None,
        ),
        (
            "check cargo doc -D warnings",
            vec!["doc", "-q", "-p", "fdsame", "--no-deps"],
            Some(("RUSTDOCFLAGS", "-D warnings")),
        ),
    ] {
        let mut c = Command::new(env!("CARGO"));
        c.current_dir(util::root()).args(&args);
        if let Some((k, v)) = env {
            c.env(k, v);
        }
        let (ok, text) = util::capture(&mut c)?;
        summary
            .rows
            .push((label.into(), u32::from(ok), u32::from(!ok), 0));
        if !ok {
            summary.problem(format!(
                "{label}:\n{}",
                text.lines().take(30).collect::<Vec<_>>().join("\n")
            ));
        }
    }

    // 2. Static checks of the series (checkpatch, kernel-doc, W=1 + sparse vs the base).
    eprintln!("xtask: static checks of the series");
    if let Err(e) = check::run(b, &mut summary) {
        summary.rows.push(("check (static checks)".into(), 0, 1, 0));
        summary.problem(format!("static checks could not run: {e}"));
    }

    // 3. The kernel, and the guest tests built on the host.
    let img = kernel_image(&a, b)?;

    // The Rust bindings against the C header of the series, as installed from the built tree.
    let hdr = kernel::obj_dir(b, a.flavor).join("fdsame-headers");
    util::run(
        kernel::make(&kernel::tree_dir(b), &kernel::obj_dir(b, a.flavor))
            .arg("-s")
            .arg("headers_install")
            .arg(format!("INSTALL_HDR_PATH={}", hdr.display())),
    )?;
    for (label, exe) in host.iter().filter(|(l, _)| l == "fdsame::c_header") {
        let (ok, text) = util::capture(
            Command::new(exe)
                .arg("--ignored")
                .env("FDSAME_UAPI_INCLUDE", hdr.join("include"))
                .current_dir(util::root()),
        )?;
        summary.add_libtest(&format!("host {label} (series headers)"), &text, ok);
    }

    let mut groups = vec![];
    for (label, exe) in test_executables(&["rust-tests"], &[])? {
        groups.push((
            format!("guest {label}"),
            exe,
            vec!["--test-threads=2".to_string()],
        ));
    }
    for (label, exe) in test_executables(&["fdsame"], &["--test", "vm"])? {
        if label == "fdsame::vm" {
            groups.push((
                format!("guest {label}"),
                exe,
                vec!["--ignored".into(), "--test-threads=2".into()],
            ));
        }
    }
    if groups.is_empty() {
        return Err("no guest test executables were built".into());
    }

    // IGT, when an IGT build is given from outside (its source is never vendored here).
    let igt_build = igt_build_dir()?;
    // One run directory per base and flavour, so that such runs can go on side by side.
    let run_name = format!(
        "test-{}{}",
        b.name,
        if a.flavor == Flavor::Debug {
            "-debug"
        } else {
            ""
        }
    );
    let run_dir = util::build_dir().join("vm").join(&run_name);
    let igt_results = run_dir.join("igt-results");
    let mut script = guest_script(&groups);
    if let Some(dir) = &igt_build {
        let tests = ["igt@core_file_same", "igt@dmabuf_same_object"];
        // Results on the guest's tmpfs (igt_runner writes each test's output there), then copied
        // to the shared run directory.
        let igt = igt::guest_script(
            &vm::guest_path(dir).to_string_lossy(),
            "/tmp/igt-results",
            &tests,
        );
        script.push_str(&format!(
            "echo 'XTASK-BEGIN igt'\ncat > /tmp/igt.sh <<'XTASK_IGT_EOF'\n{igt}XTASK_IGT_EOF\nsh /tmp/igt.sh\necho \"XTASK-END igt $?\"\ncp -r /tmp/igt-results {}\n",
            shell_quote(&igt_results.to_string_lossy())
        ));
    }

    // The debug flavour: after everything ran, make kmemleak scan (twice: an object must stay
    // unreferenced over two scans to be reported) and keep its report.
    if a.flavor == Flavor::Debug {
        script.push_str(&format!(
            "if [ -w /sys/kernel/debug/kmemleak ]; then echo scan > /sys/kernel/debug/kmemleak; sleep 6; \
             echo scan > /sys/kernel/debug/kmemleak; cat /sys/kernel/debug/kmemleak > {0}; \
             else echo 'XTASK-MISSING /sys/kernel/debug/kmemleak'; fi\n",
            shell_quote(&run_dir.join("kmemleak.txt").to_string_lossy())
        ));
    }

    // 4. One boot: KUnit runs at boot (only the suites of the series), then the Rust tests.
    let r = vm::run(
        &vm::VmOpts {
            kernel: &img,
            cmdline: "kunit.enable=1 kunit.filter_glob=*same*",
            timeout: Duration::from_secs(if a.flavor == Flavor::Debug { 2400 } else { 900 }),
            memory_mb: 3072,
            name: &run_name,
        },
        &script,
    )?;
    eprintln!(
        "xtask: guest ran {:.1} s (log {})",
        r.seconds,
        r.dir.display()
    );
    summary.add_kunit(&r.dmesg, &["drm_file_same", "dma-buf-same"]);
    for (label, _, _) in &groups {
        summary.add_guest_block(label, &r.output);
    }
    for l in r.output.lines().filter(|l| l.starts_with("XTASK-MISSING ")) {
        summary.problem(format!("missing device node in the guest: {}", &l[14..]));
    }
    if r.status.is_none() {
        summary.problem("the guest did not finish (see serial.log)".into());
    }
    match &igt_build {
        Some(dir) => add_igt(&mut summary, dir, &igt_results.join("results.json")),
        None => println!(
            "IGT: not run (no IGT source: set IGT_BUILD to an IGT build with the tests of tests/igt/, \
             see tests/igt/README.md)"
        ),
    }
    for p in vm::kernel_problems(&r.dmesg) {
        summary.problem(format!("kernel log: {p}"));
    }
    if a.flavor == Flavor::Debug {
        let leaks = std::fs::read_to_string(r.dir.join("kmemleak.txt")).unwrap_or_default();
        let n = leaks.matches("unreferenced object").count();
        println!("kmemleak: {n} unreferenced objects after the run");
        if n > 0 {
            summary.problem(format!(
                "kmemleak reports {n} leaks:\n{}",
                leaks.lines().take(40).collect::<Vec<_>>().join("\n")
            ));
        }
    }
    Ok(summary.report())
}

fn cmd_demo(a: Args) -> Result<bool> {
    let b = kernel::base(&a.base)?;
    let img = kernel_image(&a, b)?;
    util::run(Command::new(env!("CARGO")).current_dir(util::root()).args([
        "build",
        "-q",
        "-p",
        "fdsame-cli",
        "-p",
        "rust-tests",
        "--bins",
    ]))?;
    let target = util::root().join("target/debug");
    let script = util::read(&util::root().join("xtask/demo.sh"))?
        .replace("@FDSAME@", &target.join("fdsame").to_string_lossy())
        .replace("@HOLD@", &target.join("hold-dmabufs").to_string_lossy());
    let r = vm::run(
        &vm::VmOpts {
            kernel: &img,
            cmdline: "",
            timeout: Duration::from_secs(600),
            memory_mb: 2048,
            name: "demo",
        },
        &script,
    )?;
    print!("{}", r.output);
    Ok(r.clean())
}

/// The IGT build to use: `IGT_BUILD`, or `IGT_SRC/build`. Given but unusable is an error, not a skip.
fn igt_build_dir() -> Result<Option<PathBuf>> {
    let dir = match (std::env::var_os("IGT_BUILD"), std::env::var_os("IGT_SRC")) {
        (Some(b), _) => PathBuf::from(b),
        (None, Some(s)) => PathBuf::from(s).join("build"),
        (None, None) => return Ok(None),
    };
    for need in [
        "runner/igt_runner",
        "tests/core_file_same",
        "tests/dmabuf_same_object",
    ] {
        if !dir.join(need).exists() {
            return Err(format!(
                "IGT build {} has no {need}: build it as tests/igt/README.md says",
                dir.display()
            ));
        }
    }
    Ok(Some(dir.canonicalize().map_err(|e| e.to_string())?))
}

fn add_igt(summary: &mut results::Summary, dir: &std::path::Path, results_json: &std::path::Path) {
    let text = match util::read(results_json) {
        Ok(t) => t,
        Err(e) => {
            summary.rows.push(("guest igt".into(), 0, 1, 0));
            summary.problem(format!("IGT produced no results.json: {e}"));
            return;
        }
    };
    let version = results::json_string_field(&text, "igt-version")
        .and_then(|v| v.lines().next().map(str::to_string))
        .unwrap_or_else(|| "unknown version".into());
    match igt::parse_results_json(&text) {
        Ok(s) => {
            for (name, result) in &s.tests {
                println!("  {name} ... {result}");
            }
            for (name, result) in s.problems() {
                summary.problem(format!("IGT {name}: {result}"));
            }
            println!("IGT: {} from {}", version, dir.display());
            summary.rows.push((
                format!("guest igt ({version})"),
                s.pass,
                s.fail + s.other,
                s.skip,
            ));
        }
        Err(e) => {
            summary.rows.push(("guest igt".into(), 0, 1, 0));
            summary.problem(format!("IGT results.json unreadable: {e}"));
        }
    }
}

fn cmd_bench(a: Args) -> Result<bool> {
    let b = kernel::base(&a.base)?;
    let img = kernel_image(&a, b)?;
    util::run(Command::new(env!("CARGO")).current_dir(util::root()).args([
        "build",
        "-q",
        "--release",
        "-p",
        "fdsame-bench",
    ]))?;
    let exe = util::root().join("target/release/fdsame-bench");
    let out = util::build_dir().join("vm/bench");
    let args: Vec<String> = a.rest.iter().map(|w| shell_quote(w)).collect();
    let script = format!(
        "ulimit -n 65536\n{} --out {} {}\n",
        shell_quote(&exe.to_string_lossy()),
        shell_quote(&out.join("report").to_string_lossy()),
        args.join(" ")
    );
    let r = vm::run(
        &vm::VmOpts {
            kernel: &img,
            cmdline: "",
            timeout: Duration::from_secs(900),
            memory_mb: 3072,
            name: "bench",
        },
        &script,
    )?;
    print!("{}", r.output);
    if !r.clean() {
        return Ok(false);
    }
    let docs = util::root().join("docs/bench");
    std::fs::create_dir_all(&docs).map_err(|e| e.to_string())?;
    for f in ["bench.md", "bench.json", "bench.svg"] {
        std::fs::copy(out.join("report").join(f), docs.join(f)).map_err(|e| format!("{f}: {e}"))?;
    }
    eprintln!("xtask: report in {}", docs.display());
    Ok(true)
}

/// The patched kernel: built (incrementally) unless --no-build asks for the one already there.
fn kernel_image(a: &Args, b: &kernel::Base) -> Result<PathBuf> {
    if !a.no_build {
        return kernel::build(b, a.flavor);
    }
    let img = kernel::obj_dir(b, a.flavor).join("arch/x86/boot/bzImage");
    if !img.exists() {
        return Err(format!("--no-build: {} does not exist", img.display()));
    }
    eprintln!("xtask: --no-build: booting {} as it is", img.display());
    Ok(img)
}
