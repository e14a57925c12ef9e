//! Shell completions and manual pages, generated from a binary's own clap
//! definition (`seif completions bash`, `seif man --out DIR`), so that they
//! cannot disagree with `--help`.

use std::path::Path;

use clap::{Command, ValueEnum};

use crate::report::{self, Failure};

/// The shells completions are made for.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Shell {
    /// Bash.
    Bash,
    /// Zsh.
    Zsh,
    /// Fish.
    Fish,
}

/// Prints the completion script of `cmd` for `shell` on stdout.
pub fn print_completions(mut cmd: Command, shell: Shell) -> Result<(), Failure> {
    let name = cmd.get_name().to_owned();
    let mut out = Vec::new();
    let shell = match shell {
        Shell::Bash => clap_complete::Shell::Bash,
        Shell::Zsh => clap_complete::Shell::Zsh,
        Shell::Fish => clap_complete::Shell::Fish,
    };
    clap_complete::generate(shell, &mut cmd, name, &mut out);
    report::print(&String::from_utf8_lossy(&out))
}

/// Writes one manual page per command into `dir` (`seif.1`,
/// `seif-push.1`, …), or prints the top-level page when `dir` is `None`.
pub fn man_pages(cmd: Command, dir: Option<&Path>) -> Result<(), Failure> {
    let Some(dir) = dir else {
        let mut out = Vec::new();
        clap_mangen::Man::new(cmd)
            .render(&mut out)
            .map_err(|e| Failure::error(format!("cannot render the manual page: {e}")))?;
        return report::print(&String::from_utf8_lossy(&out));
    };
    std::fs::create_dir_all(dir).map_err(|e| Failure::io(dir, "cannot create", &e))?;
    let mut written = Vec::new();
    write_pages(cmd, dir, &mut written)?;
    report::note(
        "man",
        &format!(
            "{} manual pages written to {} (man -l {}/{})",
            written.len(),
            dir.display(),
            dir.display(),
            written.first().map_or("", String::as_str)
        ),
    );
    Ok(())
}

/// One page for `cmd`, then one for each of its subcommands, named as
/// git's are (`seif-push.1`).
fn write_pages(cmd: Command, dir: &Path, written: &mut Vec<String>) -> Result<(), Failure> {
    let cmd = cmd.disable_help_subcommand(true);
    let name = format!("{}.1", cmd.get_display_name().unwrap_or(cmd.get_name()));
    let mut out = Vec::new();
    clap_mangen::Man::new(cmd.clone())
        .render(&mut out)
        .map_err(|e| Failure::error(format!("cannot render {name}: {e}")))?;
    let path = dir.join(&name);
    std::fs::write(&path, out).map_err(|e| Failure::io(&path, "cannot write", &e))?;
    written.push(name);
    let parent = cmd.get_display_name().unwrap_or(cmd.get_name()).to_owned();
    for sub in cmd.get_subcommands() {
        let display = format!("{parent}-{}", sub.get_name());
        write_pages(sub.clone().display_name(display), dir, written)?;
    }
    Ok(())
}
