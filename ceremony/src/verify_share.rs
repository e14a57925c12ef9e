//! `seif-ceremony verify-share`: one custodian, alone, checks their share
//! against vault.json. It prints the vault, the share set and the index,
//! never the share, and records an acknowledgement in the ceremony log
//! (which is how a pending share set becomes active).

use std::path::PathBuf;

use clap::Args;
use seif::ceremony::log::{
    CeremonyLog, Draft, Participant, effective_active_set, effective_status,
};
use seif::ceremony::precheck::Need;
use seif::ceremony::quorum::check_share;
use seif::ceremony::vault::Vault;
use seif::descriptor::{SetStatus, format_fingerprint};
use seif::encoding::to_hex;
use seif::untrusted::Shown;
use seif_cli::report::{self, Failure};
use serde_json::json;

use crate::context::{
    VaultArgs, check_expected, expected_fingerprint, file_read, gather, load_descriptor, log_path,
    open_one, vault_failure,
};
use crate::{Session, TOOL, say, screen};

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
    #[command(flatten)]
    card: crate::card::CardArgs,
    /// Do not record the check in the ceremony log.
    #[arg(long)]
    no_log: bool,
    /// The share file; `-` reads a decrypted share from stdin.
    share: PathBuf,
}

pub fn run(args: VerifyShareArgs, session: &Session) -> Result<(), Failure> {
    expected_fingerprint(&args.vault)?;
    let descriptor = load_descriptor(&args.vault.vault)?;
    check_expected(&args.vault, &descriptor)?;
    // The log, when the check is to be recorded, is checked against
    // vault.json before the share is opened: an old vault.json is refused
    // before anyone types a passphrase.
    let path = log_path(&args.vault);
    let mut vault = None;
    let descriptor = if args.no_log || !path.exists() {
        descriptor
    } else {
        let (v, completed) =
            Vault::attach_log(&args.vault.vault, descriptor, &path).map_err(vault_failure)?;
        if let Some(c) = completed {
            report::note(
                TOOL,
                &format!(
                    "the step of log entry {} ({}) was interrupted before it wrote vault.json; vault.json revision {} was written from the log, completing it",
                    c.entry, c.event, c.revision
                ),
            );
        }
        let mut v = v;
        v.log.attend(session.attendance.clone());
        let d = v.descriptor.clone();
        vault = Some(v);
        d
    };
    let mut files = vec![file_read(&args.vault.vault)?];
    // The share, the key file and any passphrase file are read and checked
    // before the custodian is asked for anything.
    let mut gathered = gather(
        std::slice::from_ref(&args.share),
        &args.identities,
        &args.passphrase_files,
        &args.card,
        &descriptor,
        vault.as_ref().map(|v| &v.log),
        Need::One,
    )?;
    files.extend(gathered.files.clone());
    for (fingerprint, until) in gathered.identities().openpgp_expiries() {
        if let Some(until) = until {
            crate::init::warn_expires("your key", &fingerprint, until);
        }
    }
    let presented = open_one(&mut gathered)?;
    let (set, custodian) = check_share(&descriptor, &presented).map_err(Failure::integrity)?;
    let b = descriptor.body();
    say!("share {} is good:", presented.source);
    say!("  vault:       '{}'", Shown(&b.name));
    say!("  fingerprint: {}", format_fingerprint(&b.vault_id));
    say!(
        "  share set:   {} ({}), key generation {}",
        set.id,
        format!("{:?}", set.status).to_lowercase(),
        set.generation
    );
    say!(
        "  index:       {} of {}, threshold {}",
        custodian.index,
        set.custodians.len(),
        set.threshold
    );
    say!("  custodian:   {}", custodian.label);
    say!("  it matches its commitment in vault.json (the share itself is not shown)");

    if args.no_log {
        let empty = CeremonyLog::new(&path);
        screen::print_summary(&screen::summary("verify-share", &descriptor, &empty, 0));
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
        let empty = CeremonyLog::new(&path);
        screen::print_summary(&screen::summary("verify-share", &descriptor, &empty, 0));
        return Ok(());
    };
    let since = vault.log.entries().len();
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
        files,
    };
    seif::killpoint::reached("verify-share:checked");
    vault
        .record(None, draft)
        .map_err(|e| Failure::error(format!("cannot record the check: {e}")))?;
    let log = &vault.log;
    let acks = log.acks(set).len();
    say!(
        "recorded in {} (entry {}, head {})",
        path.display(),
        log.entries().len(),
        log.head().unwrap_or("-")
    );
    if set.status == SetStatus::Pending {
        if effective_status(&descriptor, log, set) == SetStatus::Active {
            say!(
                "{acks} of {} custodians of the pending set have verified their shares: it is now ACTIVE and set {} is retired for every step; vault.json records the switch at the next step that brings the key back",
                set.custodians.len(),
                descriptor.active_set().id
            );
        } else {
            say!(
                "{acks} of the {} verifications needed before this set becomes active (set {} stays active until then)",
                set.threshold,
                effective_active_set(&descriptor, log).id
            );
        }
    }
    screen::print_summary(&screen::summary("verify-share", &descriptor, log, since));
    Ok(())
}
