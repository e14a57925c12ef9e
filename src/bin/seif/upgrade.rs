//! `seif drop-classic-keys`: the host's step of the post-quantum upgrade,
//! with no key (the library half is `seif::snapshot::classic_keys`).

use std::path::PathBuf;

use clap::Args;
use seif::snapshot::classic_keys::{self, ClassicKeysError};
use seif::untrusted::escape;
use seif_cli::report::{self, Failure};

use crate::files::load_vault;
use crate::snapshot::{StoreArgs, store_failure};

pub const DROP_CLASSIC_AFTER_HELP: &str = concat!(
    "\
After the post-quantum upgrade ceremony (`seif-ceremony rotate
--post-quantum --store COPY … all`) and `seif sync --from COPY --to STORE`,
the store holds each snapshot's data key twice: wrapped classic-only
(X25519) and wrapped to the hybrid mlkem768x25519 recipient. This deletes
the classic-only envelopes, so that a copy of the store taken from now on
holds nothing a quantum adversary could open.

A classic envelope goes only if an upgrade list in the store (upgrades/),
signed by a post-quantum key generation of --vault, names a post-quantum
envelope of the same snapshot, and the store holds that envelope with
exactly those bytes, wrapped post-quantum only. If any classic envelope
cannot be matched so, nothing is deleted, and each is named with why.
Copies of the store made before this step are not made safe by it.

Examples:
  seif drop-classic-keys --vault NEW/vault.json --store /srv/seif --dry-run
  seif drop-classic-keys --vault NEW/vault.json --store s3://embassy/rr

",
    seif_cli::exit_codes_help!()
);

#[derive(Args)]
pub struct DropClassicArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// The vault descriptor the upgrade ceremony wrote (post-quantum).
    #[arg(long, value_name = "FILE", env = "SEIF_VAULT")]
    vault: PathBuf,
    /// Show what would be deleted and what kept; delete nothing.
    #[arg(long, short = 'n')]
    dry_run: bool,
}

pub fn drop_classic_keys(args: DropClassicArgs) -> Result<(), Failure> {
    let vault = load_vault(&args.vault)?;
    let store = args.store.open_one()?;
    let where_ = escape(&store.describe()).into_owned();
    let plan = classic_keys::plan(store.as_ref(), &vault).map_err(|e| match e {
        ClassicKeysError::Store(e) => store_failure(e),
        ClassicKeysError::Refused(why) => {
            Failure::refused(format!("{}: {why}", args.vault.display()))
        }
        other => Failure::error(other.to_string()),
    })?;
    // What is kept and removed is the report a dry run asks for; after a
    // real run it is a record, which -q leaves out (what blocks the step
    // is always said).
    let listing = args.dry_run || report::verbosity() >= report::Verbosity::Normal;
    if listing {
        for l in &plan.lists {
            seif_cli::outln!("upgrade list {}: signed by the vault, used", escape(l))?;
        }
    }
    for why in &plan.refused_lists {
        report::warn(crate::TOOL, &format!("upgrade list refused: {why}"));
    }
    let verb = if args.dry_run {
        "would remove"
    } else {
        "removed"
    };
    if listing {
        for k in &plan.kept_pq {
            seif_cli::outln!("kept    {} (post-quantum only)", escape(k))?;
        }
    }
    if !plan.blocked.is_empty() {
        for b in &plan.blocked {
            seif_cli::outln!("kept    {b}")?;
        }
        let why = if plan.lists.is_empty() {
            format!(
                "no verified upgrade list in the store ({} refused, named above)",
                plan.refused_lists.len()
            )
        } else {
            format!(
                "{} classic-only key envelope(s) cannot be matched to a post-quantum envelope that a signed upgrade list names (listed above)",
                plan.blocked.len()
            )
        };
        return Err(Failure::refused(format!(
            "{where_}: nothing was deleted: {why}"
        ))
        .hint("bring the upgrade ceremony's store copy here first (`seif sync --vault NEW/vault.json --from COPY --to STORE`), check --vault is the vault.json the ceremony wrote, and run `seif verify`; a snapshot the upgrade left out (the ceremony warned) keeps its classic key until it is pruned"));
    }
    if !args.dry_run {
        classic_keys::apply(store.as_ref(), &plan).map_err(|e| match e {
            ClassicKeysError::Store(e) => store_failure(e).hint(
                "what was deleted had a checked post-quantum replacement; run the command again to finish",
            ),
            other => Failure::refused(other.to_string()),
        })?;
    }
    // Said after the deletions, so that a store failing midway never
    // leaves "removed" on the screen for an envelope still there.
    if listing {
        for r in &plan.remove {
            seif_cli::outln!(
                "{verb} {} (classic-only, generation {}): the snapshot keeps {} (post-quantum, named by {})",
                escape(&r.key),
                r.generation,
                r.replaced_by,
                escape(&r.list)
            )?;
        }
    }
    report::summary(&format!(
        "{where_}: {verb} {} classic-only key envelope(s); {} post-quantum kept{}",
        plan.remove.len(),
        plan.kept_pq.len(),
        if args.dry_run {
            " (dry run: nothing deleted)"
        } else {
            ""
        }
    ))?;
    Ok(())
}
