//! `seif-ceremony sealers add|remove`: change which export pipelines the
//! vault accepts. vault.json is re-signed in place; the store's `verify` and
//! every `open` then judge signatures by it.

use clap::{Args, Subcommand};
use seif::ceremony::log::Draft;
use seif::ceremony::precheck::Need;
use seif::descriptor::SealerEntry;
use seif::sealer::SealerPublicKey;
use seif_cli::report::Failure;
use serde_json::json;

use crate::context::{
    ShareArgs, VaultArgs, file_read, finalize_activation, gather_shares, load_vault,
    print_log_head, reconstruct, vault_failure,
};
use crate::{Session, say, screen};

#[derive(Subcommand)]
pub enum SealersCommand {
    /// Accept a sealer's signatures from now on.
    Add(SealerArgs),
    /// Stop accepting a sealer's signatures.
    Remove(SealerArgs),
}

#[derive(Args)]
pub struct SealerArgs {
    #[command(flatten)]
    vault: VaultArgs,
    #[command(flatten)]
    shares: ShareArgs,
    /// A name for the pipeline (with add).
    #[arg(long)]
    label: Option<String>,
    /// The sealer's public key (seifsealer1…).
    #[arg(value_name = "PUBKEY")]
    pubkey: String,
}

pub fn run(cmd: SealersCommand, session: &Session) -> Result<(), Failure> {
    let (add, args) = match cmd {
        SealersCommand::Add(a) => (true, a),
        SealersCommand::Remove(a) => (false, a),
    };
    let key: SealerPublicKey = args
        .pubkey
        .parse()
        .map_err(|e| Failure::error(format!("{e}")))?;
    let key_s = key.to_string();
    let mut vault = load_vault(&args.vault, session)?;
    let since = vault.log.entries().len();
    let mut files = vec![file_read(&args.vault.vault)?];
    let present = vault.descriptor.accepts_sealer(&key);
    if add && present {
        return Err(Failure::error(format!("the vault already accepts {key_s}")));
    }
    if !add && !present {
        return Err(Failure::error(format!("the vault does not list {key_s}")));
    }
    let label = match (add, &args.label) {
        (true, Some(l)) => l.clone(),
        (true, None) => format!("sealer-{}", vault.descriptor.body().sealers.len() + 1),
        (false, _) => vault
            .descriptor
            .sealer_label(&key)
            .unwrap_or_default()
            .to_owned(),
    };
    let mut gathered = gather_shares(&args.shares, &vault, Need::Quorum)?;
    files.extend(gathered.files.clone());
    let (quorum, rejected) = reconstruct(
        &mut vault,
        &mut gathered,
        if add { "sealers-add" } else { "sealers-remove" },
        &files,
    )?;
    finalize_activation(&mut vault, &quorum)?;
    let next = vault
        .descriptor
        .revise(&quorum.keys, |b| {
            if add {
                b.sealers.push(SealerEntry {
                    key: key_s.clone(),
                    label: label.clone(),
                });
            } else {
                b.sealers.retain(|s| s.key != key_s);
            }
        })
        .map_err(|e| Failure::error(e.to_string()))?;
    let event = if add { "sealers-add" } else { "sealers-remove" };
    let mut details = json!({"sealer": key_s, "label": label});
    if !rejected.is_empty() {
        details["rejected_shares"] = json!(rejected);
    }
    let draft = Draft {
        event: event.into(),
        participants: quorum.participants.clone(),
        details,
        files,
    };
    // Logged (with the whole new vault.json) before vault.json is written.
    vault
        .revise(next, &quorum.keys, draft)
        .map_err(vault_failure)?;
    say!(
        "{} {key_s}; {} is now revision {} (revision hash {}); hand it to the pipelines and hosts",
        if add {
            "the vault now accepts"
        } else {
            "the vault no longer accepts"
        },
        vault.path.display(),
        vault.descriptor.body().revision,
        vault.descriptor.fingerprint()
    );
    print_log_head(&vault.log);
    screen::print_summary(&screen::summary(
        event,
        &vault.descriptor,
        &vault.log,
        since,
    ));
    Ok(())
}
