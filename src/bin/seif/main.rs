//! `seif`: the export pipelines' and the host's tool. It seals with public
//! material only, opens with an identity a ceremony granted, and inspects
//! without any key.

mod browse;
mod demo;
mod open;
mod prune;
mod seal;
mod sealer;
mod snapshot;
mod sync;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
// What both binaries share, under the names this one has always used
// (`crate::files`, `crate::progress`).
use seif_cli::report::{self, EXIT_CODES_HELP};
use seif_cli::{files, progress};

const TOOL: &str = "seif";

#[derive(Parser)]
#[command(name = "seif", version, about = "seif: a data-embassy vault. Seal data with public material, store it abroad, open it only with a key a ceremony granted.", after_help = EXIT_CODES_HELP)]
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

    /// Show which snapshots the vault's retention policy expires, and what
    /// a prune would free; change nothing (`seif prune --dry-run`).
    #[command(after_help = prune::PRUNE_AFTER_HELP)]
    Forget(prune::ForgetArgs),
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
    };
    report::finish(TOOL, outcome)
}
