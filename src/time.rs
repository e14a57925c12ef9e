//! UTC timestamps in RFC 3339 form (`2026-11-27T11:38:21Z`), written without a
//! date library: records only ever need "now" at one-second resolution.

use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch, now.
///
/// Debug builds (the tests') take "now" from `SEIF_TEST_NOW` (seconds
/// since the epoch) when it is set, so a test can push "last month" or
/// prune "next year"; release builds never read it.
pub fn unix_now() -> i64 {
    #[cfg(debug_assertions)]
    if let Some(t) = std::env::var("SEIF_TEST_NOW")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        return t;
    }
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_secs() as i64,
        Err(e) => -(e.duration().as_secs() as i64),
    }
}

/// Formats seconds since the Unix epoch as RFC 3339 UTC.
pub fn rfc3339(unix: i64) -> String {
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// Now, as RFC 3339 UTC.
pub fn now_rfc3339() -> String {
    rfc3339(unix_now())
}

/// Whether `s` is an RFC 3339 UTC time exactly as [`rfc3339`] writes it
/// (`2026-11-27T11:38:21Z`), with a month, day and time of day in range.
pub fn is_rfc3339_utc(s: &str) -> bool {
    let b = s.as_bytes();
    let digits = |r: std::ops::Range<usize>| -> Option<u32> {
        b.get(r.clone())?
            .iter()
            .all(u8::is_ascii_digit)
            .then(|| s[r].parse().ok())?
    };
    let shape = b.len() == 20
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && b[16] == b':'
        && b[19] == b'Z';
    shape
        && digits(0..4).is_some()
        && digits(5..7).is_some_and(|m| (1..=12).contains(&m))
        && digits(8..10).is_some_and(|d| (1..=31).contains(&d))
        && digits(11..13).is_some_and(|h| h < 24)
        && digits(14..16).is_some_and(|m| m < 60)
        && digits(17..19).is_some_and(|s| s < 60)
}

/// Parses a time as [`rfc3339`] writes it; `None` for anything else.
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    if !is_rfc3339_utc(s) {
        return None;
    }
    let n = |r: std::ops::Range<usize>| s[r].parse::<i64>().ok();
    let (y, m, d) = (n(0..4)?, n(5..7)?, n(8..10)?);
    let days = days_from_civil(y, m as u32, d as u32);
    // A day past the month's end (2026-02-30) is not a time.
    if civil_from_days(days) != (y, m as u32, d as u32) {
        return None;
    }
    Some(days * 86_400 + n(11..13)? * 3600 + n(14..16)? * 60 + n(17..19)?)
}

/// The calendar date (year, month, day) of a day counted from 1970-01-01.
pub fn civil(days: i64) -> (i64, u32, u32) {
    civil_from_days(days)
}

/// Howard Hinnant's civil-to-days algorithm (proleptic Gregorian calendar).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = i64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Howard Hinnant's days-to-civil algorithm (proleptic Gregorian calendar).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_instants() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_795_779_501), "2026-11-27T11:38:21Z");
        assert_eq!(rfc3339(-1), "1969-12-31T23:59:59Z");
    }

    #[test]
    fn parse_inverts_format() {
        for t in [0, 951_782_400, 1_795_779_501, -1, 4_102_444_799, 86_399] {
            assert_eq!(parse_rfc3339(&rfc3339(t)), Some(t), "{t}");
        }
        assert_eq!(parse_rfc3339("2026-02-30T00:00:00Z"), None);
        assert_eq!(parse_rfc3339("2026-02-28T00:00:00"), None);
    }

    #[test]
    fn only_what_rfc3339_writes_is_a_time() {
        assert!(is_rfc3339_utc(&rfc3339(1_795_779_501)));
        for bad in [
            "2026-11-27T11:38:21",
            "2026-11-27 11:38:21Z",
            "2026-13-27T11:38:21Z",
            "2026-11-27T11:38:21+00:00",
            "2026-11-27T11:38:2\u{1b}Z",
            "+026-11-27T11:38:21Z",
        ] {
            assert!(!is_rfc3339_utc(bad), "{bad}");
        }
    }
}
