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
use seif_cli::report::{self, EXIT_CODES_HELP};
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

#[derive(Parser)]
#[command(name = "seif", version, propagate_version = true, about = "seif: a data-embassy vault. Seal data with public material, store it abroad, open it only with a key a ceremony granted.", after_help = MAIN_AFTER_HELP)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the whole story on a temporary local store, narrated: a vault with
    /// five custodians (any three open it), a push, the host's keyless
    /// verify, a refused open with two shares, a successful one with three,
    /// and a restore compared byte for byte.
    Demo(demo::DemoArgs),

    /// Make or show an export pipeline's sealer key.
    #[command(subcommand)]
    Sealer(SealerCommand),

    /// Make or show an age identity to be granted to (a recovery team's):
    /// post-quantum (age1pq1…).
    #[command(subcommand)]
    Identity(IdentityCommand),

    /// Seal a file or stdin to a vault (public material only), signed by a sealer.
    #[command(after_help = EXIT_CODES_HELP)]
    Seal(seal::SealArgs),

    /// Open a sealed file with an age identity (from a ceremony grant).
    #[command(after_help = open::OPEN_AFTER_HELP)]
    Open(open::OpenArgs),

    /// Show what a sealed file reveals without a key, and check its signature.
    #[command(after_help = EXIT_CODES_HELP)]
    Inspect(seal::InspectArgs),

    /// Seal files and directory trees into one snapshot in one or more stores.
    #[command(after_help = snapshot::PUSH_AFTER_HELP)]
    Push(snapshot::PushArgs),

    /// List a store's snapshot records (no key needed); with --identity,
    /// a snapshot's files (names, types, sizes, modes, times).
    #[command(after_help = EXIT_CODES_HELP)]
    Ls(snapshot::LsArgs),

    /// Prove, with no key, that a store holds every snapshot intact.
    #[command(after_help = EXIT_CODES_HELP)]
    Verify(snapshot::VerifyArgs),

    /// Restore a snapshot, or some of its paths, with a granted identity.
    #[command(after_help = EXIT_CODES_HELP)]
    Restore(snapshot::RestoreArgs),

    /// The restore drill: prove, with a granted identity, that snapshots
    /// would restore (every key, manifest and reference; with --read-data,
    /// every chunk).
    #[command(after_help = EXIT_CODES_HELP)]
    Check(snapshot::CheckArgs),

    /// Find paths matching a glob in a snapshot, or in every snapshot
    /// (--all), with a granted identity.
    #[command(after_help = EXIT_CODES_HELP)]
    Find(browse::FindArgs),

    /// Show what was added, removed and changed between two snapshots,
    /// with a granted identity (no data is read: contents are compared by
    /// their chunks' hashes).
    #[command(after_help = EXIT_CODES_HELP)]
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
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: seif_cli::docs::Shell,
    },

    /// Print seif's manual page, or write one page per command into a
    /// directory (`seif man --out /usr/local/share/man/man1`).
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
    report::finish(TOOL, outcome)
}
