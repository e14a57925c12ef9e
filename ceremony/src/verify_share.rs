//! `seif-ceremony verify-share`: one custodian, alone, checks their share
//! against vault.json. It prints the vault, the share set and the index,
//! never the share, and records an acknowledgement in the ceremony log
//! (which is how a pending share set becomes active).

use std::path::PathBuf;

use clap::Args;
use seif::ceremony::log::{Draft, Participant, effective_active_set, effective_status};
use seif::ceremony::quorum::{Presented, check_share};
use seif::custody::{Identities, open_share, read_share_bytes};
use seif::descriptor::{SetStatus, format_fingerprint};
use seif::encoding::to_hex;
use seif::untrusted::Shown;
use seif_cli::report::{self, Failure};
use serde_json::json;

use crate::TOOL;
use crate::context::{VaultArgs, load_descriptor, log_path};
use crate::prompt::Prompter;

#[derive(Args)]
pub struct VerifyShareArgs {
    #[command(flatten)]
    vault: VaultArgs,
    /// The OpenPGP secret key file or age identity file that opens the share.
    #[arg(long = "identity", value_name = "KEY")]
    identities: Vec<PathBuf>,
    /// Read a passphrase from FILE instead of a prompt (KEY: label or fingerprint).
    #[arg(long = "passphrase-file", value_name = "KEY=FILE")]
    passphrase_files: Vec<String>,
    /// Do not record the check in the ceremony log.
    #[arg(long)]
    no_log: bool,
    /// The share file; `-` reads a decrypted share from stdin.
    share: PathBuf,
}

pub fn run(args: VerifyShareArgs) -> Result<(), Failure> {
    let descriptor = load_descriptor(&args.vault.vault)?;
    // The log, when the check is to be recorded, is checked against
    // vault.json before the share is opened: an old vault.json is refused
    // before anyone types a passphrase.
    let path = log_path(&args.vault);
    let mut vault = None;
    let descriptor = if args.no_log || !path.exists() {
        descriptor
    } else {
        let v = crate::context::attach_log(&args.vault.vault, descriptor, &path)?;
        let d = v.descriptor.clone();
        vault = Some(v);
        d
    };
    let mut ids = Identities::default();
    for path in &args.identities {
        ids.add_file(path)
            .map_err(|e| Failure::error(format!("identity {}: {e}", path.display())))?;
    }
    let mut prompter = Prompter::new(&args.passphrase_files)?;
    let (source, bytes) = if args.share.as_os_str() == "-" {
        (
            "stdin".to_owned(),
            read_share_bytes(std::io::stdin().lock()),
        )
    } else {
        (
            args.share.display().to_string(),
            std::fs::File::open(&args.share).and_then(read_share_bytes),
        )
    };
    let bytes =
        bytes.map_err(|e| Failure::error(format!("share {source}: cannot be read: {e}")))?;
    let share = open_share(&bytes, &ids, &mut prompter)
        .map_err(|e| Failure::integrity(format!("share {source}: {e}")))?;
    let presented = Presented { source, share };
    let (set, custodian) = check_share(&descriptor, &presented).map_err(Failure::integrity)?;
    let b = descriptor.body();
    println!("share {} is good:", presented.source);
    println!("  vault:       '{}'", Shown(&b.name));
    println!("  fingerprint: {}", format_fingerprint(&b.vault_id));
    println!(
        "  share set:   {} ({}), key generation {}",
        set.id,
        format!("{:?}", set.status).to_lowercase(),
        set.generation
    );
    println!(
        "  index:       {} of {}, threshold {}",
        custodian.index,
        set.custodians.len(),
        set.threshold
    );
    println!("  custodian:   {}", custodian.label);
    println!("  it matches its commitment in vault.json (the share itself is not shown)");

    if args.no_log {
        return Ok(());
    }
    let Some(mut vault) = vault else {
        report::warn(
            TOOL,
            &format!(
                "no ceremony log at {}: this check was not recorded (pass --log)",
                path.display()
            ),
        );
        return Ok(());
    };
    let token = presented.share.ack_token();
    let draft = Draft {
        event: "verify-share".into(),
        participants: vec![Participant {
            set: set.id.clone(),
            index: custodian.index,
            label: custodian.label.clone(),
            key: custodian.key.clone(),
        }],
        details: json!({ "share_set": set.id, "index": custodian.index, "custodian": custodian.label, "ack_token": to_hex(&token) }),
    };
    seif::killpoint::reached("verify-share:checked");
    vault
        .record(None, draft)
        .map_err(|e| Failure::error(format!("cannot record the check: {e}")))?;
    let log = &vault.log;
    let acks = log.acks(set).len();
    println!(
        "recorded in {} (entry {}, head {})",
        path.display(),
        log.entries().len(),
        log.head().unwrap_or("-")
    );
    if set.status == SetStatus::Pending {
        if effective_status(&descriptor, log, set) == SetStatus::Active {
            println!(
                "{acks} of {} custodians of the pending set have verified their shares: it is now ACTIVE and set {} is retired for every step; vault.json records the switch at the next step that brings the key back",
                set.custodians.len(),
                descriptor.active_set().id
            );
        } else {
            println!(
                "{acks} of the {} verifications needed before this set becomes active (set {} stays active until then)",
                set.threshold,
                effective_active_set(&descriptor, log).id
            );
        }
    }
    Ok(())
}
