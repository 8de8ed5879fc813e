//! Small helpers: the one way to run a process (`run`, `output`, `capture`: each error names
//! the command), file-system calls whose errors name the path, paths, hashing.

use anyhow::{bail, Context};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};

pub use anyhow::Result;

/// The repository's top directory (the parent of `xtask/`).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the repository")
        .to_path_buf()
}

/// `build/` below the repository: everything generated lives there (git-ignored).
pub fn build_dir() -> PathBuf {
    root().join("build")
}

pub fn describe(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    s
}

/// Runs a command with inherited stdio; an error names the command.
pub fn run(cmd: &mut Command) -> Result<()> {
    let status = status(cmd)?;
    if !status.success() {
        bail!("`{}` failed: {status}", describe(cmd));
    }
    Ok(())
}

pub fn status(cmd: &mut Command) -> Result<ExitStatus> {
    cmd.status()
        .with_context(|| format!("cannot run `{}`", describe(cmd)))
}

/// Runs a command and returns its stdout; stderr is passed through.
pub fn output(cmd: &mut Command) -> Result<String> {
    let out = cmd
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("cannot run `{}`", describe(cmd)))?;
    if !out.status.success() {
        bail!("`{}` failed: {}", describe(cmd), out.status);
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Runs a command quietly and returns (success, stdout + stderr).
pub fn capture(cmd: &mut Command) -> Result<(bool, String)> {
    let out = cmd
        .output()
        .with_context(|| format!("cannot run `{}`", describe(cmd)))?;
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    Ok((out.status.success(), text))
}

pub fn sh(script: &str) -> Command {
    let mut c = Command::new("bash");
    c.arg("-euo").arg("pipefail").arg("-c").arg(script);
    c
}

// File-system calls whose errors name the path: "cannot read /x/y: No such file or directory".

/// The context of a failed file-system call: "cannot read /x/y".
pub fn cannot(what: &str, path: &Path) -> String {
    format!("cannot {what} {}", path.display())
}

pub fn write(path: &Path, text: &str) -> Result<()> {
    if let Some(p) = path.parent() {
        mkdir_p(p)?;
    }
    fs::write(path, text).with_context(|| cannot("write", path))
}

pub fn read(path: &Path) -> Result<String> {
    fs::read_to_string(path).with_context(|| cannot("read", path))
}

/// `mkdir -p`.
pub fn mkdir_p(path: &Path) -> Result<()> {
    fs::create_dir_all(path).with_context(|| cannot("create directory", path))
}

/// Copies `from` to `to`; the error names both.
pub fn copy(from: &Path, to: &Path) -> Result<()> {
    fs::copy(from, to)
        .map(|_| ())
        .with_context(|| format!("cannot copy {} to {}", from.display(), to.display()))
}

/// Renames `from` to `to`; the error names both.
pub fn rename(from: &Path, to: &Path) -> Result<()> {
    fs::rename(from, to)
        .with_context(|| format!("cannot rename {} to {}", from.display(), to.display()))
}

pub fn remove_file(path: &Path) -> Result<()> {
    fs::remove_file(path).with_context(|| cannot("remove", path))
}

pub fn canonicalize(path: &Path) -> Result<PathBuf> {
    path.canonicalize().with_context(|| cannot("resolve", path))
}

pub fn current_dir() -> Result<PathBuf> {
    std::env::current_dir().context("cannot get the current directory")
}

/// Quotes `s` for sh: `'...'`, with each `'` written as `'\''`.
pub fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The last `n` lines of `text`, joined with newlines (a failed command's tail, for errors).
pub fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// The first `n` lines of `text`, joined with newlines.
pub fn first_lines(text: &str, n: usize) -> String {
    text.lines().take(n).collect::<Vec<_>>().join("\n")
}

/// FNV-1a over the contents of files, in the order given: a cheap stamp to
/// notice that a set of inputs changed (not a security hash).
pub fn stamp(files: &[PathBuf]) -> Result<String> {
    let mut h: u64 = 0xcbf29ce484222325;
    for f in files {
        let bytes = fs::read(f).with_context(|| cannot("read", f))?;
        for b in f
            .file_name()
            .unwrap_or_default()
            .as_encoded_bytes()
            .iter()
            .chain(&bytes)
        {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x100000001b3);
        }
    }
    Ok(format!("{h:016x}"))
}

pub fn sorted_files(dir: &Path, ext: &str) -> Result<Vec<PathBuf>> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .with_context(|| cannot("read directory", dir))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == ext))
        .collect();
    v.sort();
    Ok(v)
}

pub fn which(prog: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {prog} >/dev/null"))
        .status()
        .is_ok_and(|s| s.success())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_and_lines() {
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(last_lines("a\nb\nc\n", 2), "b\nc");
        assert_eq!(last_lines("a\nb", 5), "a\nb");
        assert_eq!(first_lines("a\nb\nc", 2), "a\nb");
        assert_eq!(last_lines("", 3), "");
    }

    #[test]
    fn fs_errors_name_the_path() {
        let e = format!(
            "{:#}",
            read(Path::new("/nonexistent/xtask/file")).unwrap_err()
        );
        assert!(
            e.starts_with("cannot read /nonexistent/xtask/file: No such file or directory"),
            "{e}"
        );
        let e = format!(
            "{:#}",
            copy(Path::new("/nonexistent/a"), Path::new("/nonexistent/b")).unwrap_err()
        );
        assert!(
            e.starts_with("cannot copy /nonexistent/a to /nonexistent/b: "),
            "{e}"
        );
    }
}
