//! `seif-ceremony`: the custodians' tool, run on an offline, air-gapped
//! laptop. It makes the vault secret and splits it (`init`), lets a
//! custodian check their share alone (`verify-share`), brings the key back
//! only when a threshold of shares is presented, checks it, and then opens,
//! grants, reshares, rotates, changes the accepted sealers or sets the
//! retention policy, logging every
//! step in a signed, hash-chained log.
//!
//! This binary contains no network code: `cargo tree -p seif-ceremony -e
//! normal` shows no HTTP, TLS or async runtime crate (a test checks it).

mod card;
mod context;
mod init;
mod log_cmd;
mod open;
mod prompt;
mod rekey;
mod retention;
mod screen;
mod sealers;
mod show;
mod verify_share;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use seif::ceremony::evidence::Attendance;
use seif_cli::report::{self, EXIT_CODES_HELP, Failure};

const TOOL: &str = "seif-ceremony";

#[derive(Parser)]
#[command(
    name = "seif-ceremony",
    version,
    propagate_version = true,
    about = "seif-ceremony: the custodians' tool. Run it on an offline, air-gapped laptop.",
    after_help = EXIT_CODES_HELP
)]
struct Cli {
    /// Refuse to run while a network interface other than loopback is up
    /// (otherwise seif-ceremony only warns).
    #[arg(long, global = true)]
    require_airgap: bool,
    /// A witness present at this step (repeat for each): recorded in the
    /// ceremony log entry and on its printout. A name by the label rule:
    /// A-Z a-z 0-9 . _ - (e.g. anu.tamm).
    #[arg(long = "witness", value_name = "NAME", global = true)]
    witnesses: Vec<String>,
    /// An exception the Ceremony Administrator notes for this step (a
    /// deviation from the script, a repeated step): recorded in the log
    /// entry and on its printout.
    #[arg(long, value_name = "TEXT", global = true)]
    note: Option<String>,
    /// Print a JSON summary of the step on stdout (vault, revision,
    /// participants, witnesses, the binary's hash, files read and written
    /// with their hashes, log entries and head); the usual lines then go to
    /// stderr, so the screen shows them still.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

/// What every step that writes the log takes from the command line.
pub struct Session {
    /// The witnesses and the note, recorded in every entry.
    pub attendance: Attendance,
}

#[derive(Subcommand)]
enum Command {
    /// Make a new vault: its secret, one share per custodian, vault.json and the ceremony log.
    #[command(after_help = init::AFTER_HELP)]
    Init(init::InitArgs),
    /// Show what vault.json says: the vault fingerprint, share sets, custodians, sealers.
    #[command(after_help = EXIT_CODES_HELP)]
    Show(show::ShowArgs),
    /// Check your own share against vault.json, alone; records it in the ceremony log.
    #[command(after_help = EXIT_CODES_HELP)]
    VerifyShare(verify_share::VerifyShareArgs),
    /// Reconstruct the vault key from a threshold of shares and open sealed files.
    #[command(after_help = EXIT_CODES_HELP)]
    Open(open::OpenArgs),
    /// Re-wrap the data keys of sealed files to a recovery team's age recipient.
    #[command(after_help = EXIT_CODES_HELP)]
    Grant(open::GrantArgs),
    /// Issue a new share set of the same secret (new custodians or threshold).
    #[command(after_help = EXIT_CODES_HELP)]
    Reshare(rekey::ReshareArgs),
    /// Make a new vault secret and shares, and re-wrap sealed files to it.
    #[command(after_help = EXIT_CODES_HELP)]
    Rotate(rekey::RotateArgs),
    /// Change which export pipelines (sealers) the vault accepts.
    #[command(subcommand)]
    Sealers(sealers::SealersCommand),
    /// Set the retention policy hosts prune by.
    #[command(subcommand)]
    Retention(retention::RetentionCommand),
    /// Check or print the ceremony log.
    #[command(subcommand)]
    Log(log_cmd::LogCommand),
    /// (Internal) open one card share with a card, in a child process of
    /// the step that presents it.
    #[command(hide = true)]
    CardOpen(card::CardOpenArgs),
    /// Print a shell completion script (bash, zsh or fish).
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: seif_cli::docs::Shell,
    },
    /// Print the manual page, or write one page per command into a
    /// directory (`--out DIR`).
    Man {
        /// Write every page (seif-ceremony.1, seif-ceremony-open.1, …) here.
        #[arg(long, value_name = "DIR")]
        out: Option<std::path::PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::CardOpen(a) = &cli.command {
        return card::run_child(a);
    }
    screen::set_json(cli.json);
    let step = step_name(&cli.command);
    let outcome = run(cli);
    if let Err(f) = &outcome {
        screen::print_failure(step, f);
    }
    report::finish(TOOL, outcome)
}

/// The name of a step, as its log entry names it.
fn step_name(c: &Command) -> &'static str {
    match c {
        Command::Init(_) => "init",
        Command::Show(_) => "show",
        Command::VerifyShare(_) => "verify-share",
        Command::Open(_) => "open",
        Command::Grant(_) => "grant",
        Command::Reshare(_) => "reshare",
        Command::Rotate(_) => "rotate",
        Command::Sealers(sealers::SealersCommand::Add(_)) => "sealers-add",
        Command::Sealers(sealers::SealersCommand::Remove(_)) => "sealers-remove",
        Command::Retention(_) => "retention-set",
        Command::Log(_) => "log",
        Command::CardOpen(_) => "card-open",
        Command::Completions { .. } => "completions",
        Command::Man { .. } => "man",
    }
}

fn run(cli: Cli) -> Result<(), Failure> {
    // Documentation only: nothing is read, checked or logged.
    match &cli.command {
        Command::Completions { shell } => {
            return seif_cli::docs::print_completions(
                <Cli as clap::CommandFactory>::command(),
                *shell,
            );
        }
        Command::Man { out } => {
            return seif_cli::docs::man_pages(
                <Cli as clap::CommandFactory>::command(),
                out.as_deref(),
            );
        }
        _ => {}
    }
    let writes_log = !matches!(cli.command, Command::Log(_) | Command::Show(_));
    if !writes_log && (!cli.witnesses.is_empty() || cli.note.is_some() || cli.json) {
        return Err(Failure::usage(
            "--witness, --note and --json belong to the steps that write the ceremony log (not show or log)",
        ));
    }
    // Checked before anything else: a name or note that cannot be
    // recorded is a usage error, not a surprise after the shares.
    let attendance =
        Attendance::new(cli.witnesses, cli.note).map_err(|e| Failure::usage(e.to_string()))?;
    let session = Session { attendance };
    // Before anything can touch a secret: no core dumps, no ptrace by
    // other processes of this user.
    seif::hardening::disable_core_dumps().map_err(|e| {
        Failure::error(format!("cannot disable core dumps: {e}"))
            .hint("run seif-ceremony on a system that allows it")
    })?;
    let handles_secrets = !matches!(cli.command, Command::Log(_) | Command::Show(_));
    if handles_secrets {
        check_airgap(cli.require_airgap)?;
    }
    match cli.command {
        Command::Init(a) => init::run(a, &session),
        Command::Show(a) => show::run(a),
        Command::VerifyShare(a) => verify_share::run(a, &session),
        Command::Open(a) => open::run_open(a, &session),
        Command::Grant(a) => open::run_grant(a, &session),
        Command::Reshare(a) => rekey::run_reshare(a, &session),
        Command::Rotate(a) => rekey::run_rotate(a, &session),
        Command::Sealers(c) => sealers::run(c, &session),
        Command::Retention(c) => retention::run(c, &session),
        Command::Log(c) => log_cmd::run(c),
        Command::CardOpen(_) => unreachable!("handled in main"),
        Command::Completions { .. } | Command::Man { .. } => Ok(()),
    }
}

fn check_airgap(require: bool) -> Result<(), Failure> {
    use seif::ceremony::airgap::{Network, network};
    let msg = match network() {
        Network::Offline => return Ok(()),
        Network::Up(up) => format!(
            "network interface{} up: {} (the ceremony laptop should be offline)",
            if up.len() == 1 { " is" } else { "s are" },
            up.join(", ")
        ),
        Network::Unknown(why) => format!("cannot tell whether the laptop is offline: {why}"),
    };
    if require {
        return Err(Failure::refused(msg)
            .hint("disconnect the network (or disable the interfaces) and run the step again"));
    }
    report::warn(TOOL, &msg);
    Ok(())
}
