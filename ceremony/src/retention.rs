//! `seif-ceremony retention set`: the vault's retention policy, which
//! hosts prune by. vault.json is re-signed in place (the policy before it
//! is kept in `earlier`, so that what it expired stays excused) and the
//! step is logged; no pipeline or host can change it.

use clap::{Args, Subcommand};
use seif::ceremony::log::Draft;
use seif::retention::{Keep, Policy, Retention};
use seif_cli::Failure;
use serde_json::json;

use crate::context::{
    ShareArgs, VaultArgs, file_read, finalize_activation, gather_shares, load_vault,
    print_log_head, reconstruct, vault_failure,
};
use seif::ceremony::precheck::Need;

use crate::{Session, say, screen};

#[derive(Subcommand)]
pub enum RetentionCommand {
    /// Set the retention policy hosts prune by (`seif prune`).
    Set(SetArgs),
}

/// The rules of a policy, as flags (restic's names).
#[derive(Args, Clone)]
pub struct PolicyArgs {
    /// Keep the N newest snapshots (at least 1), or `unlimited`: keep
    /// every snapshot (no pruning).
    #[arg(long, value_name = "N", value_parser = Keep::parse)]
    pub keep_last: Option<Keep>,
    /// Keep the newest snapshot of each of the last N days that have one.
    #[arg(long, value_name = "N", value_parser = Keep::parse)]
    pub keep_daily: Option<Keep>,
    /// … of each of the last N weeks (Monday to Sunday, UTC).
    #[arg(long, value_name = "N", value_parser = Keep::parse)]
    pub keep_weekly: Option<Keep>,
    /// … of each of the last N calendar months.
    #[arg(long, value_name = "N", value_parser = Keep::parse)]
    pub keep_monthly: Option<Keep>,
    /// … of each of the last N calendar years (`unlimited`: every year).
    #[arg(long, value_name = "N", value_parser = Keep::parse)]
    pub keep_yearly: Option<Keep>,
    /// Never expire a snapshot younger than DAYS days (default 7): the
    /// time people have to notice a compromised pipeline.
    #[arg(long, value_name = "DAYS")]
    pub min_age: Option<u32>,
}

impl PolicyArgs {
    /// Whether any rule was given.
    pub fn given(&self) -> bool {
        self.keep_last.is_some()
            || self.keep_daily.is_some()
            || self.keep_weekly.is_some()
            || self.keep_monthly.is_some()
            || self.keep_yearly.is_some()
            || self.min_age.is_some()
    }

    /// The policy the flags describe (rules not given keep nothing; the
    /// newest snapshot is always kept).
    pub fn policy(&self) -> Result<Policy, Failure> {
        let none = Keep::Count(0);
        let p = Policy {
            keep_last: self.keep_last.unwrap_or(Keep::Count(1)),
            keep_daily: self.keep_daily.unwrap_or(none),
            keep_weekly: self.keep_weekly.unwrap_or(none),
            keep_monthly: self.keep_monthly.unwrap_or(none),
            keep_yearly: self.keep_yearly.unwrap_or(none),
            min_age_days: self.min_age.unwrap_or(7),
        };
        p.check().map_err(Failure::usage)?;
        Ok(p)
    }
}

#[derive(Args)]
pub struct SetArgs {
    #[command(flatten)]
    vault: VaultArgs,
    #[command(flatten)]
    shares: ShareArgs,
    #[command(flatten)]
    policy: PolicyArgs,
}

pub fn run(cmd: RetentionCommand, session: &Session) -> Result<(), Failure> {
    let RetentionCommand::Set(args) = cmd;
    if !args.policy.given() {
        return Err(Failure::usage(
            "give the policy: --keep-last, --keep-daily, --keep-weekly, --keep-monthly, --keep-yearly, --min-age (--keep-last unlimited keeps everything)",
        ));
    }
    let policy = args.policy.policy()?;
    let mut vault = load_vault(&args.vault, session)?;
    let since = vault.log.entries().len();
    let mut files = vec![file_read(&args.vault.vault)?];
    let current = vault.descriptor.body().retention.clone();
    if current.as_ref().is_some_and(|r| r.policy == policy) {
        return Err(Failure::error(format!(
            "the vault's retention policy is already: {}",
            policy.describe()
        )));
    }
    let before = current
        .as_ref()
        .map_or("keep every snapshot (no policy)".into(), |r| {
            r.policy.describe()
        });
    say!("retention policy now:   {before}");
    say!("retention policy to be: {}", policy.describe());
    let mut gathered = gather_shares(&args.shares, &vault, Need::Quorum)?;
    files.extend(gathered.files.clone());
    let (quorum, rejected) = reconstruct(&mut vault, &mut gathered, "retention-set", &files)?;
    finalize_activation(&mut vault, &quorum)?;
    let retention = Retention::then(current.as_ref(), policy.clone());
    let next = vault
        .descriptor
        .revise(&quorum.keys, |b| b.retention = Some(retention.clone()))
        .map_err(|e| Failure::error(e.to_string()))?;
    let mut details = json!({"policy": policy, "before": current.map(|r| r.policy)});
    if !rejected.is_empty() {
        details["rejected_shares"] = json!(rejected);
    }
    let draft = Draft {
        event: "retention-set".into(),
        participants: quorum.participants.clone(),
        details,
        files,
    };
    // Logged (with the whole new vault.json) before vault.json is written.
    vault
        .revise(next, &quorum.keys, draft)
        .map_err(vault_failure)?;
    say!(
        "the vault's retention policy is now: {}; {} is now revision {} (revision hash {}); hand it to the hosts and pipelines (a push publishes it to its stores, and hosts then refuse older ones)",
        policy.describe(),
        vault.path.display(),
        vault.descriptor.body().revision,
        vault.descriptor.fingerprint()
    );
    print_log_head(&vault.log);
    screen::print_summary(&screen::summary(
        "retention-set",
        &vault.descriptor,
        &vault.log,
        since,
    ));
    Ok(())
}
