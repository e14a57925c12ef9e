//! `seif`: the export pipelines' and the host's tool. It seals with public
//! material only, opens with an identity a ceremony granted, and inspects
//! without any key.

mod browse;
mod demo;
mod identity;
mod open;
mod prune;
mod seal;
mod sealer;
mod snapshot;
mod sync;
mod upgrade;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
// What both binaries share, under the names this one has always used
// (`crate::files`, `crate::progress`).
use seif_cli::report;
use seif_cli::{files, progress};

const TOOL: &str = "seif";

const MAIN_AFTER_HELP: &str = concat!(
    "\
Examples:
  seif push --vault vault.json --sealer rr.key --store /srv/seif --store s3://embassy/rr /data/registry
  pg_dump registry | seif push --vault vault.json --sealer rr.key --store s3://embassy/rr --stdin-name registry.sql
  seif verify --vault vault.json --store s3://embassy/rr --read-data-subset 1/30
  seif restore --identity team.key --grant grant.json --store s3://embassy/rr --out /restore latest
  seif sync --vault vault.json --from /srv/seif --to s3://embassy/rr

Environment: SEIF_VAULT, SEIF_STORE, SEIF_SEALER and SEIF_IDENTITY stand for
--vault, --store, --sealer and --identity where a command takes them (a flag
given on the command line wins); S3 settings and credentials come from
AWS_ENDPOINT_URL, AWS_REGION, AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY.
Shell completions: `seif completions bash|zsh|fish`; manual pages:
`seif man --out DIR`.

",
    seif_cli::exit_codes_help!()
);

/// A subcommand's closing help: its examples (each line a real command
/// line: `every_example_parses` checks them against the definitions
/// below), then the exit codes.
macro_rules! examples {
    ($($line:literal),+ $(,)?) => {
        concat!("Examples:\n", $("  ", $line, "\n",)+ "\n", seif_cli::exit_codes_help!())
    };
}

#[derive(Parser)]
#[command(name = "seif", version, propagate_version = true, about = "seif: a data-embassy vault. Seal data with public material, store it abroad, open it only with a key a ceremony granted.", after_help = MAIN_AFTER_HELP)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Say only what was asked for (a listing, --json), warnings and
    /// errors: no progress, notes or closing summary; the exit code says
    /// how it went.
    #[arg(short, long, global = true, conflicts_with_all = ["verbose", "progress"])]
    quiet: bool,
    /// Also say what the command is doing and decided: the vault and
    /// stores it uses, what a push reused, how long it took.
    #[arg(short, long, global = true)]
    verbose: bool,
    /// Show progress even when stderr is not a terminal: a plain line
    /// every 10 seconds and one at the end, for logs (on a terminal, a bar
    /// is drawn anyway).
    #[arg(long, global = true)]
    progress: bool,
}

#[derive(Subcommand)]
enum Command {
    /// Run the whole story on a temporary local store, narrated: a vault with
    /// five custodians (any three open it), a push, the host's keyless
    /// verify, a refused open with two shares, a successful one with three,
    /// and a restore compared byte for byte.
    #[command(after_help = examples!("seif demo", "seif demo --keep /tmp/seif-demo"))]
    Demo(demo::DemoArgs),

    /// Make or show an export pipeline's sealer key.
    #[command(subcommand, after_help = examples!("seif sealer new --out /etc/seif/rr.key", "seif sealer public /etc/seif/rr.key"))]
    Sealer(SealerCommand),

    /// Make or show an age identity to be granted to (a recovery team's):
    /// post-quantum (age1pq1…).
    #[command(subcommand, after_help = examples!("seif identity new --out team.key", "seif identity public team.key"))]
    Identity(IdentityCommand),

    /// Seal a file or stdin to a vault (public material only), signed by a sealer.
    #[command(after_help = examples!(
        "seif seal --vault vault.json --sealer rr.key -o registry.csv.seif registry.csv",
        "pg_dump registry | seif seal --vault vault.json --sealer rr.key --pad -o registry.sql.seif"
    ))]
    Seal(seal::SealArgs),

    /// Open a sealed file with an age identity (from a ceremony grant).
    #[command(after_help = open::OPEN_AFTER_HELP)]
    Open(open::OpenArgs),

    /// Show what a sealed file reveals without a key, and check its signature.
    #[command(after_help = examples!(
        "seif inspect registry.csv.seif",
        "seif inspect --vault vault.json registry.csv.seif"
    ))]
    Inspect(seal::InspectArgs),

    /// Seal files and directory trees into one snapshot in one or more stores.
    #[command(after_help = snapshot::PUSH_AFTER_HELP)]
    Push(snapshot::PushArgs),

    /// List a store's snapshot records (no key needed); with --identity,
    /// a snapshot's files (names, types, sizes, modes, times).
    #[command(after_help = examples!(
        "seif ls --store s3://embassy/rr",
        "seif ls --store /srv/seif --json",
        "seif ls --identity team.key --grant grant.json --store /srv/seif latest registry/harju"
    ))]
    Ls(snapshot::LsArgs),

    /// Prove, with no key, that a store holds every snapshot intact.
    #[command(after_help = examples!(
        "seif verify --vault vault.json --store /srv/seif",
        "seif verify --vault vault.json --store s3://embassy/rr --read-data-subset 1/30",
        "seif verify --vault vault.json --store s3://embassy/rr --metadata-only --head 3f2a9c0d41b7",
        "seif verify -q --vault vault.json --store /srv/seif --allow-empty"
    ))]
    Verify(snapshot::VerifyArgs),

    /// Restore a snapshot, or some of its paths, with a granted identity.
    #[command(after_help = examples!(
        "seif restore --identity team.key --grant grant.json --store /srv/seif --out /restore latest",
        "seif restore -i team.key --grant grant.json --store /srv/seif --out /restore 3f2a9c0d41b7 registry/harju",
        "seif restore -i team.key --grant grant.json --store /srv/seif --out /restore --resume latest",
        "seif restore -i team.key --grant grant.json --store /srv/seif --stdout registry.sql latest"
    ))]
    Restore(snapshot::RestoreArgs),

    /// The restore drill: prove, with a granted identity, that snapshots
    /// would restore (every key, manifest and reference; with --read-data,
    /// every chunk).
    #[command(after_help = examples!(
        "seif check --identity team.key --grant grant.json --store /srv/seif",
        "seif check -i team.key --grant grant.json --store s3://embassy/rr --all --read-data-subset 5%"
    ))]
    Check(snapshot::CheckArgs),

    /// Find paths matching a glob in a snapshot, or in every snapshot
    /// (--all), with a granted identity.
    #[command(after_help = examples!(
        "seif find --identity team.key --grant grant.json --store /srv/seif latest '*.csv'",
        "seif find -i team.key --grant grant.json --store /srv/seif --all 'registry/harju/*'"
    ))]
    Find(browse::FindArgs),

    /// Show what was added, removed and changed between two snapshots,
    /// with a granted identity (no data is read: contents are compared by
    /// their chunks' hashes).
    #[command(after_help = examples!(
        "seif diff --identity team.key --grant grant.json --store /srv/seif 3f2a9c0d41b7 latest"
    ))]
    Diff(browse::DiffArgs),

    /// Bring a lagging store up to date from another store of the same
    /// vault (no key): copy what it lacks, checked; overwrite and delete
    /// nothing.
    #[command(after_help = sync::SYNC_AFTER_HELP)]
    Sync(sync::SyncArgs),

    /// Free what the vault's retention policy expires (the host; no key).
    #[command(after_help = prune::PRUNE_AFTER_HELP)]
    Prune(prune::PruneArgs),

    /// After the post-quantum upgrade ceremony: delete the key envelopes
    /// still wrapped classic-only (X25519), each only once a signed upgrade
    /// list vouches for its post-quantum replacement (the host; no key).
    #[command(after_help = upgrade::DROP_CLASSIC_AFTER_HELP)]
    DropClassicKeys(upgrade::DropClassicArgs),

    /// Show which snapshots the vault's retention policy expires, and what
    /// a prune would free; change nothing (`seif prune --dry-run`).
    #[command(after_help = prune::PRUNE_AFTER_HELP)]
    Forget(prune::ForgetArgs),

    /// Print a shell completion script (e.g. `seif completions bash >
    /// /etc/bash_completion.d/seif`).
    #[command(after_help = examples!(
        "seif completions bash > /etc/bash_completion.d/seif",
        "seif completions zsh > /usr/local/share/zsh/site-functions/_seif",
        "seif completions fish > ~/.config/fish/completions/seif.fish"
    ))]
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: seif_cli::docs::Shell,
    },

    /// Print seif's manual page, or write one page per command into a
    /// directory (`seif man --out /usr/local/share/man/man1`).
    #[command(after_help = examples!("seif man --out /usr/local/share/man/man1", "seif man | man -l -"))]
    Man {
        /// Write every page (seif.1, seif-push.1, …) into this directory.
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum IdentityCommand {
    /// Make a new post-quantum age identity file (mode 0600) and print its
    /// public key (age1pq1…), for `seif-ceremony grant --to`.
    New {
        /// Where to write the secret identity; an existing file is never replaced.
        #[arg(long, short = 'o', value_name = "FILE")]
        out: PathBuf,
    },
    /// Print the public key of each identity in an age identity file.
    Public {
        /// The identity file.
        file: PathBuf,
    },
}

#[derive(Subcommand)]
enum SealerCommand {
    /// Make a new sealer key file (mode 0600) and print its public key.
    New {
        /// Where to write the secret key; an existing file is never replaced.
        #[arg(long, short = 'o', value_name = "FILE")]
        out: PathBuf,
    },
    /// Print the public key of a sealer key file.
    Public {
        /// The sealer key file.
        key: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let started = std::time::Instant::now();
    report::set_verbosity(if cli.quiet {
        report::Verbosity::Quiet
    } else if cli.verbose {
        report::Verbosity::Verbose
    } else {
        report::Verbosity::Normal
    });
    progress::set_mode(if cli.quiet {
        progress::Mode::Never
    } else if cli.progress {
        progress::Mode::Always
    } else {
        progress::Mode::Auto
    });
    let outcome = match cli.command {
        Command::Demo(args) => demo::demo(args),
        Command::Sealer(SealerCommand::New { out }) => sealer::new(&out),
        Command::Sealer(SealerCommand::Public { key }) => sealer::public(&key),
        Command::Identity(IdentityCommand::New { out }) => identity::new(&out),
        Command::Identity(IdentityCommand::Public { file }) => identity::public(&file),
        Command::Seal(args) => seal::seal(args),
        Command::Open(args) => open::open(args),
        Command::Inspect(args) => seal::inspect(args),
        Command::Push(args) => snapshot::push(args),
        Command::Ls(args) => snapshot::ls(args),
        Command::Verify(args) => snapshot::verify(args),
        Command::Restore(args) => snapshot::restore(args),
        Command::Check(args) => snapshot::check(args),
        Command::Find(args) => browse::find(args),
        Command::Diff(args) => browse::diff(args),
        Command::Sync(args) => sync::sync(args),
        Command::Prune(args) => prune::prune(args),
        Command::Forget(args) => prune::forget(args),
        Command::DropClassicKeys(args) => upgrade::drop_classic_keys(args),
        Command::Completions { shell } => {
            seif_cli::docs::print_completions(<Cli as clap::CommandFactory>::command(), shell)
        }
        Command::Man { out } => {
            seif_cli::docs::man_pages(<Cli as clap::CommandFactory>::command(), out.as_deref())
        }
    };
    report::detail(
        TOOL,
        &format!(
            "{} after {:.2} s",
            match &outcome {
                Ok(()) => "finished",
                Err(_) => "stopped",
            },
            started.elapsed().as_secs_f64()
        ),
    );
    report::finish(TOOL, outcome)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    /// Every example at the end of every `--help` is a command line that
    /// parses: a flag renamed or removed fails here, not in an operator's
    /// script. (The part after a `|` is what runs seif; a `>` and what
    /// follows is the shell's.)
    #[test]
    fn every_example_parses() {
        fn walk(cmd: &clap::Command, seen: &mut usize) {
            let help = cmd
                .get_after_help()
                .map(|h| h.to_string())
                .unwrap_or_default();
            let mut in_examples = false;
            for line in help.lines() {
                if line == "Examples:" {
                    in_examples = true;
                    continue;
                }
                if !in_examples || !line.starts_with("  ") {
                    in_examples = false;
                    continue;
                }
                let mut run = line.trim();
                if let Some((_, after)) = run.rsplit_once("| seif ") {
                    run = after;
                } else if let Some(rest) = run.strip_prefix("seif ") {
                    run = rest;
                } else {
                    continue;
                }
                let run = run.split(" > ").next().unwrap_or(run);
                let run = run.split(" | ").next().unwrap_or(run);
                let args = std::iter::once("seif".to_owned()).chain(
                    run.split_whitespace()
                        .map(|a| a.trim_matches('\'').to_owned()),
                );
                if let Err(e) = Cli::try_parse_from(args) {
                    panic!(
                        "the example `{line}` in `{}`'s help does not parse: {e}",
                        cmd.get_name()
                    );
                }
                *seen += 1;
            }
            for sub in cmd.get_subcommands() {
                walk(sub, seen);
            }
        }
        let mut seen = 0;
        walk(&Cli::command(), &mut seen);
        assert!(
            seen >= 40,
            "only {seen} examples found: is the Examples: heading still parsed?"
        );
    }

    /// Every command a user runs ends its help with examples, as age's do.
    #[test]
    fn every_command_has_examples() {
        let cli = Cli::command();
        let mut missing = Vec::new();
        for sub in cli.get_subcommands() {
            let help = sub
                .get_after_help()
                .map(|h| h.to_string())
                .unwrap_or_default();
            if !help.contains("Examples:\n  seif") && !help.contains("Examples:\n  pg_dump") {
                missing.push(sub.get_name().to_owned());
            }
        }
        assert!(missing.is_empty(), "no examples in the help of {missing:?}");
    }
}
