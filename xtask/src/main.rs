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
use std::time::{Duration, Instant};
use util::Result;

const HELP: &str = "\
cargo xtask COMMAND [OPTIONS]

Commands:
  kernel [--base B] [--flavor F]   fetch the pinned base, apply linux/<series>, configure, build
                                   (the modules flavour also builds and installs the modules)
  check [--base B]                 static checks: checkpatch --strict per patch, kernel-doc -Wall,
                                   W=1 + sparse on the touched objects (new warnings vs the base)
  tree [--base B]                  fetch the pinned base and apply the series (no build): the work tree
  export [--base B]                write the work tree's commits since `base` back to linux/<series>
  vm [--base B] [--flavor F] -- CMD...
                                   boot the patched kernel and run CMD (as root, host root read-only)
  test [--base B] [--flavor F]     the whole suite: host tests and static checks once, then for the
                                   built-in AND the modular kernel (two builds, two boots; one of
                                   them with --flavor vm|modules, the debug kernel alone with
                                   --flavor debug): KUnit and the Rust tests in the guest; ends with
                                   one `total: N passed, N failed, N skipped` line, exits non-zero
                                   on any failure, test that did not run, module that did not load,
                                   kernel warning or missing device node
  demo [--base B]                  boot the patched kernel and show the CLI answering on real fds
  bench [--base B] [-- ARGS]       run crates/fdsame-bench in the guest; report, JSON and SVG chart
                                   into docs/bench/ (ARGS go to the bench, e.g. -- --quick)
  igt-regression [...]             upstream IGT (Debian sid packages) on the unpatched and the
                                   patched kernel, compared test by test (its own command: sid moves)
  help                             this text

Options:
  --base B     kernel base: 7.3 (default, newest mainline Debian carries) or 6.12 (LTS)
  --flavor F   vm (default; alias builtin: everything under test built in), modules (DRM, vkms,
               vgem, vim2m and the KUnit tests as modules: linux/modules.config, loaded in the
               guest with modprobe) or debug (KASAN, lockdep, UBSAN, kmemleak, ...:
               linux/debug.config)
  --no-build   boot the bzImage already built (quick experiments while another build runs)

Paths: kernel work tree build/linux-source-<B> (edit the series there, on any branch, commit, then
`cargo xtask export`), objects build/kbuild-<B>[-modules|-debug] (modules installed into its
modroot/), VM runs build/vm/<name>/.
";

struct Args {
    base: String,
    /// None: the command's default (`test`: built-in and modular; the others: vm).
    flavor: Option<Flavor>,
    /// Boot the bzImage already built (vm only): quick experiments while another build runs.
    no_build: bool,
    rest: Vec<String>,
}

fn parse(args: &[String]) -> Result<Args> {
    let mut a = Args {
        base: "7.3".into(),
        flavor: None,
        no_build: false,
        rest: vec![],
    };
    let mut it = args.iter();
    while let Some(x) = it.next() {
        match x.as_str() {
            "--base" => a.base = it.next().ok_or("--base needs a value")?.clone(),
            "--flavor" => {
                a.flavor = Some(Flavor::parse(it.next().ok_or("--flavor needs a value")?)?)
            }
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

impl Args {
    /// The one kernel flavour of commands that boot one kernel.
    fn flavor(&self) -> Flavor {
        self.flavor.unwrap_or(Flavor::Vm)
    }
}

/// The configurations `cargo xtask test` runs: built-in and modular, or the one `--flavor` names.
fn test_flavors(a: &Args) -> Vec<Flavor> {
    match a.flavor {
        Some(f) => vec![f],
        None => vec![Flavor::Vm, Flavor::Modules],
    }
}

/// The process exit status of a command's result: 0 all passed, 1 a test failed, 2 could not run.
fn exit_status(r: &Result<bool>) -> u8 {
    match r {
        Ok(true) => 0,
        Ok(false) => 1,
        Err(_) => 2,
    }
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
            let img = kernel_image(&a, b, a.flavor())?;
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
    if let Err(e) = &r {
        eprintln!("xtask: error: {e}");
    }
    ExitCode::from(exit_status(&r))
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The modules the guest loads on a modular kernel: the drivers under test (vgem before vkms, the
/// built-in link order, so that card0 is vgem's as in the built-in kernel), then the KUnit test
/// modules of the series (their suites run as they load: kunit.enable=1). bochs and virtio_gpu
/// drive the PCI display devices of [`vm::PCI_GPUS`].
const DRIVER_MODULES: &[&str] = &["vgem", "vkms", "vim2m", "bochs", "virtio_gpu"];
const KUNIT_MODULES: &[&str] = &["drm_file_same_test", "dmabuf_kunit"];

/// On a modular kernel, the start of every guest script: load `modules`, wait for the nodes.
fn modules_prelude(b: &kernel::Base, f: Flavor, modules: &[&str]) -> String {
    if f.modular() {
        vm::modprobe_script(&kernel::mod_root(b, f), modules, GUEST_NODES)
    } else {
        String::new()
    }
}

fn cmd_vm(a: Args) -> Result<bool> {
    if a.rest.is_empty() {
        return Err("vm needs a command after --".into());
    }
    let b = kernel::base(&a.base)?;
    let img = kernel_image(&a, b, a.flavor())?;
    let cwd = std::env::current_dir().map_err(|e| e.to_string())?;
    let words: Vec<String> = a.rest.iter().map(|w| shell_quote(w)).collect();
    let script = format!(
        "{}cd {} || exit 125\n{}\n",
        modules_prelude(b, a.flavor(), DRIVER_MODULES),
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
    "/dev/video0",
    // A DRM device bound to each emulated PCI display device (vm::PCI_GPUS).
    "/sys/bus/pci/devices/0000:00:08.0/drm",
    "/sys/bus/pci/devices/0000:00:09.0/drm",
    "/sys/bus/pci/devices/0000:00:0a.0/drm",
];

fn guest_script(groups: &[(String, PathBuf, Vec<String>)]) -> String {
    let mut s = String::from("cd /tmp\n");
    for n in GUEST_NODES {
        s.push_str(&format!(
            "if [ -e {n} ]; then echo 'XTASK-NODE {n}'; else echo 'XTASK-MISSING {n}'; fi\n"
        ));
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
    let flavors = test_flavors(&a);
    let mut summary = results::Summary::default();

    // 1. Host tests: the userspace crates on the host kernel (which lacks the new ioctls).
    eprintln!("xtask: host tests (cargo test on the host kernel)");
    let host = test_executables(&["fdsame", "fdsame-cli", "fdsame-bench", "xtask"], &[])?;
    // `c_header` needs the series' headers: it runs after the kernel build.
    for (label, exe) in host.iter().filter(|(l, _)| l != "fdsame::c_header") {
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
        summary.check(label, ok);
        if !ok {
            summary.detail(format!(
                "{label}:\n{}",
                text.lines().take(30).collect::<Vec<_>>().join("\n")
            ));
        }
    }

    // 2. Static checks of the series (checkpatch, kernel-doc, W=1 + sparse vs the base).
    eprintln!("xtask: static checks of the series");
    if let Err(e) = check::run(b, &mut summary) {
        summary.fail(
            "check (static checks)",
            format!("static checks could not run: {e}"),
        );
    }

    // The KUnit suites and cases the series adds: each must report every case, in each kernel.
    let patches = kernel::series_patches(b)?
        .iter()
        .map(|p| util::read(p))
        .collect::<Result<Vec<String>>>()?;
    let suites = results::kunit_suites_in_patches(&patches);
    if suites.is_empty() {
        return Err(format!(
            "no KUnit suite found in {}: nothing to expect in the kernel log",
            kernel::series_dir(b).display()
        ));
    }

    // 3. The guest tests, built on the host once for every configuration.
    let mut groups = vec![];
    for (label, exe) in test_executables(&["rust-tests"], &[])? {
        groups.push((label, exe, vec!["--test-threads=2".to_string()]));
    }
    if groups.is_empty() {
        return Err("no guest test executables were built".into());
    }
    // The hot-unplug test makes and removes vkms devices through configfs, which vkms has only
    // on newer bases (vkms_configfs.c; not in 6.12): there it cannot run, and says so as a
    // skipped row rather than a pass.
    if !kernel::tree_dir(b)
        .join("drivers/gpu/drm/vkms/vkms_configfs.c")
        .exists()
    {
        let before = groups.len();
        groups.retain(|(label, _, _)| label != "rust-tests::hotunplug");
        if groups.len() < before {
            let why = format!(
                "rust-tests::hotunplug: not run on {} (vkms has no configfs there)",
                b.name
            );
            println!("{why}");
            summary.counts(why, 0, 0, 1);
        }
    }
    // IGT, when an IGT build is given from outside (its source is never vendored here).
    let igt_build = igt_build_dir()?;

    // 4. Each configuration: its kernel build, one boot with KUnit and every guest test.
    let mut headers_checked = false;
    let mut timings = vec![];
    for f in flavors {
        let cfg = f.label();
        let t0 = Instant::now();
        let img = match kernel_image(&a, b, f) {
            Ok(img) => img,
            Err(e) => {
                summary.fail(
                    format!("kernel[{cfg}] build"),
                    format!("kernel[{cfg}]: {e}"),
                );
                continue;
            }
        };
        let build_s = t0.elapsed().as_secs_f64();
        summary.check(
            format!(
                "kernel[{cfg}] build{}",
                if f.modular() {
                    ", modpost, modules_install"
                } else {
                    ""
                }
            ),
            true,
        );

        // The Rust bindings against the C header of the series, as installed from the built tree
        // (the same headers in every configuration: checked once).
        if !headers_checked {
            headers_checked = true;
            let hdr = kernel::obj_dir(b, f).join("fdsame-headers");
            util::run(
                kernel::make(&kernel::tree_dir(b), &kernel::obj_dir(b, f))
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
        }

        let guest_s = test_in_guest(
            b,
            f,
            &img,
            &groups,
            &suites,
            igt_build.as_deref(),
            &mut summary,
        )?;
        timings.push(format!(
            "{cfg}: kernel {build_s:.0} s, guest {guest_s:.0} s"
        ));
    }
    eprintln!("xtask: {}", timings.join("; "));
    Ok(summary.report())
}

/// Boots the kernel of flavour `f` once and runs every guest test in it; adds the rows of this
/// configuration (`guest[CFG] ...`, `kunit[CFG] SUITE`, `kernel[CFG] log`) to `summary`. Returns
/// the guest's run time in seconds.
fn test_in_guest(
    b: &kernel::Base,
    f: Flavor,
    img: &std::path::Path,
    groups: &[(String, PathBuf, Vec<String>)],
    suites: &[results::KunitSuite],
    igt_build: Option<&std::path::Path>,
    summary: &mut results::Summary,
) -> Result<f64> {
    let cfg = f.label();
    let groups: Vec<(String, PathBuf, Vec<String>)> = groups
        .iter()
        .map(|(l, e, a)| (format!("guest[{cfg}] {l}"), e.clone(), a.clone()))
        .collect();
    // One run directory per base and flavour, so that such runs can go on side by side.
    let run_name = format!("test-{}{}", b.name, f.suffix());
    let run_dir = util::build_dir().join("vm").join(&run_name);
    let igt_results = run_dir.join("igt-results");

    // A modular kernel loads the drivers and the KUnit modules first (their suites run then).
    let modules: Vec<&str> = DRIVER_MODULES
        .iter()
        .chain(KUNIT_MODULES)
        .copied()
        .collect();
    let mut script = modules_prelude(b, f, &modules);
    script.push_str(&guest_script(&groups));
    if let Some(dir) = igt_build {
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
    if f == Flavor::Debug {
        script.push_str(&format!(
            "if [ -w /sys/kernel/debug/kmemleak ]; then echo scan > /sys/kernel/debug/kmemleak; sleep 6; \
             echo scan > /sys/kernel/debug/kmemleak; cat /sys/kernel/debug/kmemleak > {0}; \
             else echo 'XTASK-MISSING /sys/kernel/debug/kmemleak'; fi\n",
            shell_quote(&run_dir.join("kmemleak.txt").to_string_lossy())
        ));
    }

    // One boot: KUnit runs at boot or as its modules load (only the suites of the series), then
    // the Rust tests.
    let r = vm::run(
        &vm::VmOpts {
            kernel: img,
            cmdline: "kunit.enable=1 kunit.filter_glob=*same*",
            timeout: Duration::from_secs(if f == Flavor::Debug { 2400 } else { 900 }),
            memory_mb: 3072,
            name: &run_name,
        },
        &script,
    )?;
    eprintln!(
        "xtask: guest[{cfg}] ran {:.1} s (log {})",
        r.seconds,
        r.dir.display()
    );
    if r.status.is_none() {
        summary.fail(
            format!("guest[{cfg}] finished"),
            format!(
                "guest[{cfg}]: the guest did not finish (see {}/serial.log)",
                r.dir.display()
            ),
        );
    }
    if f.modular() {
        let loaded = vm::modprobe_results(&r.output);
        let mut row =
            results::Row::new(format!("guest[{cfg}] modprobe ({} modules)", modules.len()));
        for m in &modules {
            match loaded.iter().find(|(name, _)| name == m) {
                Some((_, Ok(()))) => row.add(results::Outcome::Passed),
                Some((_, Err(msg))) => {
                    row.add(results::Outcome::Failed);
                    summary.detail(format!("guest[{cfg}]: module {m} did not load: {msg}"));
                }
                None => {
                    row.add(results::Outcome::NotRun);
                    summary.detail(format!("guest[{cfg}]: module {m} was never loaded"));
                }
            }
        }
        summary.row(row);
    }
    let mut nodes = results::Row::new(format!("guest[{cfg}] device nodes"));
    for n in GUEST_NODES {
        if r.output.lines().any(|l| l == format!("XTASK-NODE {n}")) {
            nodes.add(results::Outcome::Passed);
        } else if r.output.lines().any(|l| l == format!("XTASK-MISSING {n}")) {
            nodes.add(results::Outcome::Failed);
            summary.detail(format!("guest[{cfg}]: missing device node {n}"));
        } else {
            nodes.add(results::Outcome::NotRun);
        }
    }
    summary.row(nodes);
    summary.add_kunit(cfg, &r.dmesg, suites);
    for (label, _, _) in &groups {
        summary.add_guest_block(label, &r.output);
    }
    match igt_build {
        Some(dir) => add_igt(summary, cfg, dir, &igt_results.join("results.json")),
        None => println!(
            "IGT[{cfg}]: not run (no IGT source: set IGT_BUILD to an IGT build with the tests of \
             tests/igt/, see tests/igt/README.md)"
        ),
    }
    let problems = vm::kernel_problems(&r.dmesg);
    summary.check(
        format!("kernel[{cfg}] log: no WARNING, BUG, Oops, KASAN, ..."),
        problems.is_empty(),
    );
    if !problems.is_empty() {
        summary.detail(format!(
            "kernel[{cfg}] log ({}):\n{}",
            r.dir.join("dmesg.txt").display(),
            problems
                .iter()
                .take(40)
                .cloned()
                .collect::<Vec<_>>()
                .join("\n")
        ));
    }
    if f == Flavor::Debug {
        let leaks = std::fs::read_to_string(r.dir.join("kmemleak.txt")).unwrap_or_default();
        let n = leaks.matches("unreferenced object").count();
        println!("kmemleak: {n} unreferenced objects after the run");
        summary.check(format!("kernel[{cfg}] kmemleak"), n == 0);
        if n > 0 {
            summary.detail(format!(
                "kmemleak reports {n} leaks:\n{}",
                leaks.lines().take(40).collect::<Vec<_>>().join("\n")
            ));
        }
    }
    Ok(r.seconds)
}

fn cmd_demo(a: Args) -> Result<bool> {
    let b = kernel::base(&a.base)?;
    let img = kernel_image(&a, b, a.flavor())?;
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
    let script = modules_prelude(b, a.flavor(), DRIVER_MODULES)
        + &util::read(&util::root().join("xtask/demo.sh"))?
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

fn add_igt(
    summary: &mut results::Summary,
    cfg: &str,
    dir: &std::path::Path,
    results_json: &std::path::Path,
) {
    let text = match util::read(results_json) {
        Ok(t) => t,
        Err(e) => {
            summary.not_run(
                format!("guest[{cfg}] igt"),
                format!("IGT[{cfg}] produced no results.json: {e}"),
            );
            return;
        }
    };
    let version = results::json_string_field(&text, "igt-version")
        .and_then(|v| v.lines().next().map(str::to_string))
        .unwrap_or_else(|| "unknown version".into());
    match igt::parse_results_json(&text) {
        Ok(s) => {
            for (name, result) in &s.tests {
                println!("  [{cfg}] {name} ... {result}");
            }
            // Explanations of the failures the row below counts.
            for (name, result) in s.problems() {
                summary.detail(format!("IGT[{cfg}] {name}: {result}"));
            }
            println!("IGT[{cfg}]: {} from {}", version, dir.display());
            summary.counts(
                format!("guest[{cfg}] igt ({version})"),
                s.pass,
                s.fail + s.other,
                s.skip,
            );
        }
        Err(e) => summary.fail(
            format!("guest[{cfg}] igt"),
            format!("IGT[{cfg}] results.json unreadable: {e}"),
        ),
    }
}

fn cmd_bench(a: Args) -> Result<bool> {
    let b = kernel::base(&a.base)?;
    let img = kernel_image(&a, b, a.flavor())?;
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
        "{}ulimit -n 65536\n{} --out {} {}\n",
        modules_prelude(b, a.flavor(), DRIVER_MODULES),
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
fn kernel_image(a: &Args, b: &kernel::Base, f: Flavor) -> Result<PathBuf> {
    if !a.no_build {
        return kernel::build(b, f);
    }
    let img = kernel::obj_dir(b, f).join("arch/x86/boot/bzImage");
    if !img.exists() {
        return Err(format!("--no-build: {} does not exist", img.display()));
    }
    eprintln!("xtask: --no-build: booting {} as it is", img.display());
    Ok(img)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_runs_both_configurations_unless_one_is_named() {
        let args =
            |v: &[&str]| parse(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
        assert_eq!(test_flavors(&args(&[])), [Flavor::Vm, Flavor::Modules]);
        assert_eq!(test_flavors(&args(&["--flavor", "debug"])), [Flavor::Debug]);
        assert_eq!(
            test_flavors(&args(&["--flavor", "modules"])),
            [Flavor::Modules]
        );
        assert_eq!(test_flavors(&args(&["--flavor", "builtin"])), [Flavor::Vm]);
        assert_eq!(args(&[]).flavor(), Flavor::Vm);
    }

    /// A kernel log that lacks a suite, and one with a failing case: the closing line counts them
    /// and the process exits 1.
    #[test]
    fn kunit_failures_reach_the_exit_status() {
        let suites = [
            results::KunitSuite {
                name: "drm_file_same".into(),
                cases: vec!["a".into(), "b".into()],
            },
            results::KunitSuite {
                name: "dma-buf-same".into(),
                cases: vec!["x".into()],
            },
        ];
        let drm = "[ 1.0]     # Subtest: drm_file_same\n[ 1.1]     ok 1 a\n[ 1.2]     ok 2 b\n[ 1.3] ok 1 drm_file_same\n";
        let dmabuf_fails = "[ 2.0]     # Subtest: dma-buf-same\n[ 2.1]     not ok 1 x\n[ 2.2] not ok 2 dma-buf-same\n";
        let dmabuf_ok =
            "[ 2.0]     # Subtest: dma-buf-same\n[ 2.1]     ok 1 x\n[ 2.2] ok 2 dma-buf-same\n";
        for (log, closing, status) in [
            (drm.to_string(), "total: 2 passed, 1 failed, 0 skipped", 1),
            (
                format!("{drm}{dmabuf_fails}"),
                "total: 2 passed, 1 failed, 0 skipped",
                1,
            ),
            (
                format!("{drm}{dmabuf_ok}"),
                "total: 3 passed, 0 failed, 0 skipped",
                0,
            ),
        ] {
            let mut s = results::Summary::default();
            s.add_kunit("modules", &log, &suites);
            assert_eq!(s.render().lines().last(), Some(closing));
            assert_eq!(exit_status(&Ok(s.ok())), status);
        }
        assert_eq!(exit_status(&Err("x".into())), 2);
    }
}
