//! Retention: which snapshots a store keeps.
//!
//! The policy is the vault's: it stands in `vault.json`, which only the
//! vault key signs, so only a ceremony can change it; a pipeline or a host
//! cannot. Its rules are restic's (`keep-last`, `keep-daily`, …: the newest
//! snapshot of each of the last N days, weeks, months or years that have
//! one), with two differences that make it safe against a compromised
//! pipeline (restic's append-only setups fall to exactly this: a client
//! pushes snapshots with forged times, and the trusted side's `forget`
//! deletes the real ones):
//!
//! - **Time is the host's.** A snapshot's time is when its record arrived
//!   at the store (a file's modification time, an S3 object's
//!   Last-Modified), never the time its sealer claims. A record whose
//!   claimed time is more than [`CLOCK_TOLERANCE`] from its arrival is not
//!   counted: it fills no slot of any rule, and it is kept (a migrated
//!   store, a sealer with a wrong clock, or a forgery: never evidence to
//!   delete by). A burst of pushes arrives within one day, so it fills one
//!   daily slot, however many snapshots it holds.
//! - **Nothing younger than `min_age_days` is expired**, whatever the
//!   rules: a burst can push real snapshots out of `keep-last`, but not out
//!   of the store before people notice.
//!
//! Expiry only grows with time: a snapshot expired now stays expired later
//! (new records only arrive later, so they never make an old snapshot the
//! newest of its bucket again). That is what lets `seif verify`, run after
//! a prune, tell a snapshot expired under the policy from one removed by
//! an attack.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::ids::BlobId;

/// How far a record's claimed time may lie from its arrival and still be
/// counted (a day: clocks that are wrong by hours, a record that waited in
/// a queue).
pub const CLOCK_TOLERANCE: i64 = 86_400;

/// The most any rule can count (a century of days), and the longest
/// minimum age in days.
pub const COUNT_MAX: u32 = 36_500;

/// How many snapshots a rule keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Keep {
    /// The newest of the last `n` buckets that have a snapshot (0: none).
    Count(u32),
    /// The newest of every bucket.
    Unlimited,
}

impl Keep {
    /// Parses `N` or `unlimited` (restic's spelling; `-1` too).
    pub fn parse(s: &str) -> Result<Self, String> {
        match s {
            "unlimited" | "all" | "-1" => Ok(Keep::Unlimited),
            _ => match s.parse::<u32>() {
                Ok(n) if n <= COUNT_MAX => Ok(Keep::Count(n)),
                _ => Err(format!(
                    "'{}' is not a count: give a number from 0 to {COUNT_MAX}, or 'unlimited'",
                    crate::untrusted::escape(s)
                )),
            },
        }
    }

    fn allows(self, used: u32) -> bool {
        match self {
            Keep::Count(n) => used < n,
            Keep::Unlimited => true,
        }
    }
}

impl fmt::Display for Keep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Keep::Count(n) => write!(f, "{n}"),
            Keep::Unlimited => f.write_str("unlimited"),
        }
    }
}

impl Serialize for Keep {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Keep::Count(n) => s.serialize_u32(*n),
            Keep::Unlimited => s.serialize_str("unlimited"),
        }
    }
}

impl<'de> Deserialize<'de> for Keep {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            N(u32),
            S(String),
        }
        match Raw::deserialize(d)? {
            Raw::N(n) if n <= COUNT_MAX => Ok(Keep::Count(n)),
            Raw::S(s) if s == "unlimited" => Ok(Keep::Unlimited),
            _ => Err(serde::de::Error::custom(format!(
                "a count is 0 to {COUNT_MAX} or \"unlimited\""
            ))),
        }
    }
}

/// A retention policy, as `vault.json` holds it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// The newest snapshots (at least 1: the newest is always kept).
    pub keep_last: Keep,
    /// The newest of each of the last N days with a snapshot.
    pub keep_daily: Keep,
    /// … weeks (Monday to Sunday, UTC).
    pub keep_weekly: Keep,
    /// … calendar months.
    pub keep_monthly: Keep,
    /// … calendar years.
    pub keep_yearly: Keep,
    /// No snapshot that arrived less than this many days ago is expired
    /// (at least 1).
    pub min_age_days: u32,
}

impl Policy {
    /// Keep every snapshot.
    pub const EVERYTHING: Policy = Policy {
        keep_last: Keep::Unlimited,
        keep_daily: Keep::Count(0),
        keep_weekly: Keep::Count(0),
        keep_monthly: Keep::Count(0),
        keep_yearly: Keep::Count(0),
        min_age_days: 1,
    };

    /// Checks the bounds a reader enforces.
    pub fn check(&self) -> Result<(), String> {
        if self.keep_last == Keep::Count(0) {
            return Err("keep-last must be at least 1: the newest snapshot is always kept".into());
        }
        if self.min_age_days == 0 || self.min_age_days > COUNT_MAX {
            return Err(format!(
                "the minimum age must be 1 to {COUNT_MAX} days: a snapshot is never expired on the day it arrives"
            ));
        }
        Ok(())
    }

    /// Whether it keeps every snapshot.
    pub fn keeps_everything(&self) -> bool {
        self.keep_last == Keep::Unlimited
    }

    /// The rules, for people: `keep-last 7, keep-daily 30, …, min-age 7 days`.
    pub fn describe(&self) -> String {
        if self.keeps_everything() {
            return "keep every snapshot".into();
        }
        let mut parts = vec![format!("keep-last {}", self.keep_last)];
        for (name, k) in [
            ("keep-daily", self.keep_daily),
            ("keep-weekly", self.keep_weekly),
            ("keep-monthly", self.keep_monthly),
            ("keep-yearly", self.keep_yearly),
        ] {
            if k != Keep::Count(0) {
                parts.push(format!("{name} {k}"));
            }
        }
        parts.push(format!("min-age {} days", self.min_age_days));
        parts.join(", ")
    }
}

/// The retention section of `vault.json`: the policy in force, and every
/// policy before it (oldest first). A snapshot that an earlier policy
/// expired may have been pruned under it, so a verifier excuses it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Retention {
    /// The policy in force.
    pub policy: Policy,
    /// Earlier policies, oldest first (at most [`EARLIER_MAX`]).
    pub earlier: Vec<Policy>,
}

/// How many earlier policies a descriptor may carry.
pub const EARLIER_MAX: usize = 64;

impl Retention {
    /// Checks every policy.
    pub fn check(&self) -> Result<(), String> {
        if self.earlier.len() > EARLIER_MAX {
            return Err(format!(
                "more than {EARLIER_MAX} earlier retention policies"
            ));
        }
        self.policy.check()?;
        for p in &self.earlier {
            p.check()?;
        }
        Ok(())
    }

    /// The retention after a ceremony sets `policy`.
    pub fn then(current: Option<&Retention>, policy: Policy) -> Retention {
        let mut earlier = current.map(|r| r.earlier.clone()).unwrap_or_default();
        if let Some(r) = current {
            earlier.push(r.policy.clone());
        }
        let excess = earlier.len().saturating_sub(EARLIER_MAX);
        earlier.drain(..excess);
        Retention { policy, earlier }
    }
}

/// A record as retention sees it.
#[derive(Clone, Debug)]
pub struct Dated {
    /// The record's hash.
    pub record: BlobId,
    /// When it arrived at the store (seconds since the epoch), if the
    /// store says.
    pub arrived: Option<i64>,
    /// The time its sealer claims (seconds since the epoch), if it parses.
    pub claimed: Option<i64>,
}

impl Dated {
    /// Why it is not counted, if it is not.
    pub fn uncounted(&self) -> Option<String> {
        match (self.arrived, self.claimed) {
            (None, _) => Some("the store does not say when it arrived".into()),
            (_, None) => Some("its claimed time does not parse".into()),
            (Some(a), Some(c)) if (a - c).abs() > CLOCK_TOLERANCE => Some(format!(
                "its sealer claims {} but it arrived {}: more than a day apart (a migrated store, a wrong clock, or a forgery)",
                crate::time::rfc3339(c),
                crate::time::rfc3339(a)
            )),
            _ => None,
        }
    }
}

/// Why a snapshot is kept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reason {
    /// One of the `keep-last` newest.
    Last,
    /// The newest of its day (week, month, year) among the kept ones.
    Daily,
    /// See [`Reason::Daily`].
    Weekly,
    /// See [`Reason::Daily`].
    Monthly,
    /// See [`Reason::Daily`].
    Yearly,
    /// Younger than the minimum age.
    Young,
    /// Not counted (why): kept.
    Uncounted(String),
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Last => f.write_str("last"),
            Reason::Daily => f.write_str("daily"),
            Reason::Weekly => f.write_str("weekly"),
            Reason::Monthly => f.write_str("monthly"),
            Reason::Yearly => f.write_str("yearly"),
            Reason::Young => f.write_str("younger than the minimum age"),
            Reason::Uncounted(why) => write!(f, "not counted: {why}"),
        }
    }
}

/// What a policy decides for a set of records at a moment.
#[derive(Debug, Default)]
pub struct Decision {
    /// Kept records, each with why.
    pub kept: BTreeMap<BlobId, Vec<Reason>>,
    /// Expired records.
    pub expired: BTreeSet<BlobId>,
}

/// The day (from 1970-01-01, UTC) of a time.
fn day(t: i64) -> i64 {
    t.div_euclid(86_400)
}

/// A rule's bucket of a record: from its arrival time and its place in
/// the newest-first order.
type Bucket = dyn Fn(i64, usize) -> i64;

/// Decides which records `policy` keeps at `now` (seconds since the epoch).
pub fn decide(policy: &Policy, records: &[Dated], now: i64) -> Decision {
    let mut d = Decision::default();
    let mut counted: Vec<(i64, BlobId)> = Vec::new();
    for r in records {
        match (r.uncounted(), r.arrived) {
            (Some(why), _) => {
                d.kept.insert(r.record, vec![Reason::Uncounted(why)]);
            }
            (None, Some(a)) => counted.push((a, r.record)),
            (None, None) => unreachable!("uncounted without an arrival"),
        }
    }
    // Newest first; ties by hash so every reader decides alike.
    counted.sort_by(|a, b| b.cmp(a));
    let rules: [(Keep, Reason, &Bucket); 5] = [
        (policy.keep_last, Reason::Last, &|_, i| i as i64),
        (policy.keep_daily, Reason::Daily, &|t, _| day(t)),
        // 1970-01-01 was a Thursday: +3 starts weeks on Mondays.
        (policy.keep_weekly, Reason::Weekly, &|t, _| {
            (day(t) + 3).div_euclid(7)
        }),
        (policy.keep_monthly, Reason::Monthly, &|t, _| {
            let (y, m, _) = crate::time::civil(day(t));
            y * 12 + i64::from(m)
        }),
        (policy.keep_yearly, Reason::Yearly, &|t, _| {
            crate::time::civil(day(t)).0
        }),
    ];
    for (keep, reason, bucket) in rules {
        let (mut last, mut used) = (None, 0u32);
        for (i, &(t, h)) in counted.iter().enumerate() {
            if !keep.allows(used) {
                break;
            }
            let b = bucket(t, i);
            if last != Some(b) {
                last = Some(b);
                used += 1;
                d.kept.entry(h).or_default().push(reason.clone());
            }
        }
    }
    let young = now - i64::from(policy.min_age_days) * 86_400;
    for &(t, h) in &counted {
        if t > young {
            d.kept.entry(h).or_default().push(Reason::Young);
        } else if !d.kept.contains_key(&h) {
            d.expired.insert(h);
        }
    }
    d
}

/// The records a verifier excuses from holding their data: expired under
/// the policy in force or any earlier one, at `now`.
pub fn excused(retention: &Retention, records: &[Dated], now: i64) -> BTreeSet<BlobId> {
    let mut out = decide(&retention.policy, records, now).expired;
    for p in &retention.earlier {
        out.extend(decide(p, records, now).expired);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400;
    /// 2026-01-05, a Monday, 12:00 UTC.
    const T0: i64 = 1_767_614_400;

    fn rec(n: u8, arrived: i64) -> Dated {
        Dated {
            record: BlobId([n; 32]),
            arrived: Some(arrived),
            claimed: Some(arrived - 5),
        }
    }

    fn policy(last: u32, daily: u32, weekly: u32, monthly: u32, yearly: Keep) -> Policy {
        Policy {
            keep_last: Keep::Count(last),
            keep_daily: Keep::Count(daily),
            keep_weekly: Keep::Count(weekly),
            keep_monthly: Keep::Count(monthly),
            keep_yearly: yearly,
            min_age_days: 1,
        }
    }

    fn kept(d: &Decision) -> Vec<u8> {
        d.kept.keys().map(|h| h.0[0]).collect()
    }

    #[test]
    fn the_rules_keep_the_newest_of_each_bucket() {
        assert_eq!(crate::time::rfc3339(T0), "2026-01-05T12:00:00Z");
        // Two snapshots a day for ten days: n = 2i (morning) and 2i + 1.
        let mut rs = Vec::new();
        for i in 0..10u8 {
            rs.push(rec(2 * i + 1, T0 + i64::from(i) * DAY - 3600));
            rs.push(rec(2 * i + 2, T0 + i64::from(i) * DAY));
        }
        let now = T0 + 30 * DAY;
        let d = decide(&policy(1, 3, 0, 0, Keep::Count(0)), &rs, now);
        // The newest; the evening snapshots of the last three days.
        assert_eq!(kept(&d), vec![16, 18, 20]);
        assert_eq!(d.kept[&BlobId([20; 32])], vec![Reason::Last, Reason::Daily]);
        assert_eq!(d.expired.len(), 17);
        // Weeks start on Monday: T0 is a Monday, days 0–6 are one week.
        let d = decide(&policy(1, 0, 2, 0, Keep::Count(0)), &rs, now);
        assert_eq!(kept(&d), vec![14, 20]);
        // Monthly and yearly: all in January 2026.
        let d = decide(&policy(1, 0, 0, 5, Keep::Unlimited), &rs, now);
        assert_eq!(kept(&d), vec![20]);
        // Unlimited keep-last keeps everything.
        assert!(decide(&Policy::EVERYTHING, &rs, now).expired.is_empty());
    }

    #[test]
    fn nothing_younger_than_the_minimum_age_expires() {
        let rs: Vec<Dated> = (0..10u8).map(|i| rec(i, T0 + i64::from(i) * DAY)).collect();
        let mut p = policy(1, 0, 0, 0, Keep::Count(0));
        p.min_age_days = 3;
        let d = decide(&p, &rs, T0 + 9 * DAY + 60);
        // Arrived within the last three days: 7, 8, 9.
        assert_eq!(kept(&d), vec![7, 8, 9]);
        assert!(d.kept[&BlobId([7; 32])].contains(&Reason::Young));
    }

    /// A compromised sealer pushes a hundred snapshots in one day, with
    /// claimed times in the future and the past: they fill one daily slot
    /// and keep-last, no more, and the real dailies stay.
    #[test]
    fn a_burst_with_forged_times_cannot_push_real_snapshots_out() {
        let mut rs: Vec<Dated> = (0..30u8).map(|i| rec(i, T0 + i64::from(i) * DAY)).collect();
        let attack = T0 + 30 * DAY;
        for j in 0..100u8 {
            let claimed = match j % 3 {
                0 => attack + 400 * DAY,
                1 => attack - 4000 * DAY,
                _ => attack + 60,
            };
            rs.push(Dated {
                record: BlobId([100 + j; 32]),
                arrived: Some(attack + i64::from(j)),
                claimed: Some(claimed),
            });
        }
        let mut p = policy(3, 7, 0, 0, Keep::Count(0));
        p.min_age_days = 2;
        let d = decide(&p, &rs, attack + DAY);
        // The real snapshots of the six days before the attack are dailies.
        for i in 24..30u8 {
            assert!(d.kept.contains_key(&BlobId([i; 32])), "day {i}");
        }
        // Forged times are not counted, and kept.
        let uncounted = d
            .kept
            .values()
            .filter(|r| matches!(r[0], Reason::Uncounted(_)))
            .count();
        assert_eq!(uncounted, 67);
        assert!(d.expired.iter().all(|h| h.0[0] < 24));
    }

    #[test]
    fn expiry_only_grows_with_time() {
        let p = Policy {
            keep_last: Keep::Count(2),
            keep_daily: Keep::Count(3),
            keep_weekly: Keep::Count(2),
            keep_monthly: Keep::Count(2),
            keep_yearly: Keep::Count(1),
            min_age_days: 2,
        };
        let mut rng = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        let mut rs = Vec::new();
        let mut before = BTreeSet::new();
        let mut t = T0;
        for n in 0..200u32 {
            t += (next() % (3 * DAY as u64)) as i64;
            let mut h = [0u8; 32];
            h[..4].copy_from_slice(&n.to_be_bytes());
            rs.push(rec(0, t));
            rs.last_mut().unwrap().record = BlobId(h);
            let now = t + (next() % DAY as u64) as i64;
            let expired = decide(&p, &rs, now).expired;
            assert!(before.is_subset(&expired), "at {n}");
            before = expired;
        }
        assert!(before.len() > 150);
    }

    #[test]
    fn policies_parse_and_refuse() {
        let json = r#"{"keep_daily":30,"keep_last":7,"keep_monthly":24,"keep_weekly":0,"keep_yearly":"unlimited","min_age_days":7}"#;
        let p: Policy = serde_json::from_str(json).unwrap();
        assert_eq!(p.keep_yearly, Keep::Unlimited);
        assert_eq!(serde_json::to_string(&p).unwrap().len(), json.len());
        assert_eq!(
            p.describe(),
            "keep-last 7, keep-daily 30, keep-monthly 24, keep-yearly unlimited, min-age 7 days"
        );
        assert!(p.check().is_ok());
        for bad in [
            r#"{"keep_daily":30,"keep_last":7,"keep_monthly":24,"keep_weekly":0,"keep_yearly":-1,"min_age_days":7}"#,
            r#"{"keep_daily":30,"keep_last":7,"keep_monthly":24,"keep_weekly":0,"keep_yearly":"all","min_age_days":7}"#,
            r#"{"keep_daily":30,"keep_last":7,"keep_monthly":24,"keep_weekly":0,"keep_yearly":1,"min_age_days":7,"x":1}"#,
            r#"{"keep_daily":30,"keep_last":7,"keep_monthly":24,"keep_weekly":0,"min_age_days":7}"#,
        ] {
            assert!(serde_json::from_str::<Policy>(bad).is_err(), "{bad}");
        }
        let mut p0 = p.clone();
        p0.keep_last = Keep::Count(0);
        assert!(p0.check().is_err());
        p0.keep_last = Keep::Count(1);
        p0.min_age_days = 0;
        assert!(p0.check().is_err());
        assert_eq!(Keep::parse("unlimited"), Ok(Keep::Unlimited));
        assert_eq!(Keep::parse("12"), Ok(Keep::Count(12)));
        assert!(Keep::parse("x").is_err());
    }
}
