//! `s3seal completions SHELL` and `s3seal man [--dir DIR]`: shell completions (clap_complete)
//! and man pages (clap_mangen) generated from the same clap definitions the parser uses, so
//! they cannot drift from `--help`. Neither reads the config file: what they print is the same
//! on every machine.

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::Args;
use clap_complete::Shell;
use s3seal::{Error, Result};

#[derive(Args, Debug)]
pub struct CompletionsArgs {
    /// The shell to complete for
    #[arg(value_enum)]
    shell: Shell,
}

#[derive(Args, Debug)]
pub struct ManArgs {
    /// Write one page per command into DIR (s3seal.1, s3seal-put.1, ...) instead of printing
    /// s3seal.1 on stdout
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
}

/// The command line as documented: the clap definitions with the environment variables wired
/// in, and no config-file defaults (those belong to one machine).
fn documented() -> clap::Command {
    // Without clap's `help` subcommand: it has no page of its own to point at (`--help`
    // is on every command).
    let mut cmd = super::config::command(None).disable_help_subcommand(true);
    cmd.build();
    cmd
}

pub fn completions(args: &CompletionsArgs) -> Result<()> {
    let mut cmd = documented();
    let mut out = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, "s3seal", &mut out);
    std::io::stdout()
        .write_all(&out)
        .map_err(|e| Error::io("stdout", e))
}

/// One page, as clap_mangen renders it, except two things a man reader expects: the text after
/// the options is titled for what it is (the exit codes are EXIT STATUS, other notes NOTES,
/// where clap_mangen says EXTRA), and no page points at `help`, which has none of its own.
fn render(cmd: &clap::Command) -> Result<Vec<u8>> {
    let mut cmd = cmd.clone();
    cmd.build();
    let man = clap_mangen::Man::new(cmd.clone());
    let io = |e| Error::io("man page", e);
    let mut out = Vec::new();
    man.render_title(&mut out).map_err(io)?;
    man.render_name_section(&mut out).map_err(io)?;
    man.render_synopsis_section(&mut out).map_err(io)?;
    man.render_description_section(&mut out).map_err(io)?;
    if cmd.get_arguments().any(|a| !a.is_hide_set()) {
        man.render_options_section(&mut out).map_err(io)?;
    }
    if cmd.has_subcommands() {
        man.render_subcommands_section(&mut out).map_err(io)?;
    }
    if let Some(after) = cmd.get_after_long_help().or_else(|| cmd.get_after_help()) {
        let heading = if after.to_string() == super::exit::HELP {
            ".SH \"EXIT STATUS\""
        } else {
            ".SH NOTES"
        };
        let mut extra = Vec::new();
        man.render_extra_section(&mut extra).map_err(io)?;
        let extra = String::from_utf8_lossy(&extra).replacen(".SH EXTRA", heading, 1);
        out.extend_from_slice(extra.as_bytes());
    }
    if cmd.get_version().is_some() || cmd.get_long_version().is_some() {
        man.render_version_section(&mut out).map_err(io)?;
    }
    Ok(out)
}

/// Every page: `(file name, roff)`, the top command first, then each subcommand (nested ones
/// as s3seal-config-show.1).
pub fn pages() -> Result<Vec<(String, Vec<u8>)>> {
    fn walk(cmd: &clap::Command, prefix: &str, out: &mut Vec<(String, Vec<u8>)>) -> Result<()> {
        for sub in cmd.get_subcommands() {
            let name = format!("{prefix}-{}", sub.get_name());
            let page = sub
                .clone()
                .name(name.clone())
                .bin_name(name.replace('-', " "));
            out.push((format!("{name}.1"), render(&page)?));
            walk(sub, &name, out)?;
        }
        Ok(())
    }
    let top = documented();
    let mut out = vec![("s3seal.1".to_string(), render(&top)?)];
    walk(&top, "s3seal", &mut out)?;
    Ok(out)
}

fn write_pages(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir.display().to_string(), e))?;
    for (name, roff) in pages()? {
        let path = dir.join(&name);
        std::fs::write(&path, roff).map_err(|e| Error::io(path.display().to_string(), e))?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}

pub fn man(args: &ManArgs) -> Result<()> {
    match &args.dir {
        Some(dir) => write_pages(dir),
        None => {
            let top = render(&documented())?;
            std::io::stdout()
                .write_all(&top)
                .map_err(|e| Error::io("stdout", e))
        }
    }
}
