//! Instants and their RFC 3339 text form, as EIP-4361 writes them.
//!
//! The core reads no clock: callers pass "now" in as a [`Timestamp`].

use core::fmt;

/// An instant, in milliseconds since the Unix epoch (1970-01-01T00:00:00Z), leap seconds not
/// counted (POSIX time). Finer fractions of a second in RFC 3339 text are truncated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

/// Why text is not an RFC 3339 date-time.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TimestampError {
    /// The text is not `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)` with values in range.
    Invalid,
}

impl fmt::Display for TimestampError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "invalid date-time: expected RFC 3339, like 2026-01-31T12:00:00Z or 2026-01-31T12:00:00.000+02:00",
        )
    }
}

impl core::error::Error for TimestampError {}

impl Timestamp {
    /// The instant `millis` milliseconds after the Unix epoch.
    pub const fn from_unix_millis(millis: i64) -> Self {
        Self(millis)
    }

    /// The instant `seconds` seconds after the Unix epoch.
    pub const fn from_unix_seconds(seconds: i64) -> Self {
        Self(seconds.saturating_mul(1000))
    }

    /// Milliseconds since the Unix epoch.
    pub const fn unix_millis(&self) -> i64 {
        self.0
    }

    /// Whole seconds since the Unix epoch (rounded down).
    pub const fn unix_seconds(&self) -> i64 {
        self.0.div_euclid(1000)
    }

    /// Reads an RFC 3339 date-time (`T`/`Z` in either case; any offset).
    pub fn parse_rfc3339(text: &str) -> Result<Self, TimestampError> {
        parse(text.as_bytes()).ok_or(TimestampError::Invalid)
    }

    /// The RFC 3339 form in UTC: `YYYY-MM-DDTHH:MM:SSZ`, or `YYYY-MM-DDTHH:MM:SS.mmmZ` when the
    /// milliseconds are not zero. Years outside 0000–9999 cannot be written and are clamped.
    pub fn to_rfc3339(&self) -> String {
        let millis = self.0.clamp(MIN_MILLIS, MAX_MILLIS);
        let days = millis.div_euclid(86_400_000);
        let in_day = millis.rem_euclid(86_400_000);
        let (year, month, day) = civil_from_days(days);
        let (h, m, s, ms) = (
            in_day / 3_600_000,
            in_day / 60_000 % 60,
            in_day / 1000 % 60,
            in_day % 1000,
        );
        if ms == 0 {
            format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}Z")
        } else {
            format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}.{ms:03}Z")
        }
    }

    /// `self` plus `seconds`, saturating.
    pub fn plus_seconds(&self, seconds: i64) -> Self {
        Self(self.0.saturating_add(seconds.saturating_mul(1000)))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

/// 0000-01-01T00:00:00Z and 9999-12-31T23:59:59.999Z.
const MIN_MILLIS: i64 = -62_167_219_200_000;
const MAX_MILLIS: i64 = 253_402_300_799_999;

fn digits(bytes: &[u8]) -> Option<i64> {
    if bytes.is_empty() || !bytes.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(bytes.iter().fold(0i64, |n, d| n * 10 + i64::from(d - b'0')))
}

fn parse(t: &[u8]) -> Option<Timestamp> {
    // YYYY-MM-DDTHH:MM:SS is 19 bytes.
    let (date_time, rest) = t.split_at_checked(19)?;
    let [
        y0,
        y1,
        y2,
        y3,
        b'-',
        mo0,
        mo1,
        b'-',
        d0,
        d1,
        sep,
        h0,
        h1,
        b':',
        mi0,
        mi1,
        b':',
        s0,
        s1,
    ] = date_time
    else {
        return None;
    };
    if !matches!(sep, b'T' | b't') {
        return None;
    }
    let year = digits(&[*y0, *y1, *y2, *y3])?;
    let month = digits(&[*mo0, *mo1])?;
    let day = digits(&[*d0, *d1])?;
    let hour = digits(&[*h0, *h1])?;
    let minute = digits(&[*mi0, *mi1])?;
    let second = digits(&[*s0, *s1])?;
    if !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    // A leap second (:60) is read as :59.
    let second = second.min(59);

    let mut rest = rest;
    let mut millis = 0i64;
    if let Some(fraction) = rest.strip_prefix(b".") {
        let len = fraction.iter().take_while(|c| c.is_ascii_digit()).count();
        if len == 0 {
            return None;
        }
        let (frac, after) = fraction.split_at_checked(len)?;
        for (i, d) in frac.iter().take(3).enumerate() {
            let scale = [100, 10, 1].get(i).copied().unwrap_or(0);
            millis += i64::from(d - b'0') * scale;
        }
        rest = after;
    }
    let offset_minutes = match rest {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), oh0, oh1, b':', om0, om1] => {
            let oh = digits(&[*oh0, *oh1])?;
            let om = digits(&[*om0, *om1])?;
            if oh > 23 || om > 59 {
                return None;
            }
            let offset = oh * 60 + om;
            if *sign == b'-' { -offset } else { offset }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offset_minutes * 60;
    let millis = seconds * 1000 + millis;
    // An offset can carry 0000-01-01 or 9999-12-31 out of what RFC 3339 can write in UTC.
    (MIN_MILLIS..=MAX_MILLIS)
        .contains(&millis)
        .then_some(Timestamp(millis))
}

fn is_leap(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The proleptic Gregorian date of a day count since 1970-01-01.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}
