//! The agent's clock as the SmartServer shows it: the Real Time Clock datapoint's name and the
//! conversion of a [`SystemTime`] into its `SNVT_time_stamp` value, plus the Unix-millisecond
//! form used by the persisted records.
//!
//! Pure: the time always comes in as a parameter; nothing here reads the clock.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::snvt::{DpType, DpValue, ValueError};

/// The Real Time Clock output of the SmartServer's internal device (PR p.167), present in every
/// table whatever the configuration says (SPEC §3) and kept at the agent's clock.
pub const RTC_NAME: &str = "Net/LON/iLON App/Real Time Clock/nvoRtTimeDate";

/// The `SNVT_time_stamp` value of `t` in UTC, to the second (fractions are dropped).
///
/// Fails, with the type's own range message, for a time whose year SNVT_time_stamp cannot hold
/// (before year 0 or after 3000).
pub fn utc_time_stamp(t: SystemTime) -> Result<DpValue, ValueError> {
    let secs = unix_ms(t).div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    let text = format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    );
    // Why: the text parser is the one place that validates ranges (see snvt.rs).
    DpType::TimeStamp.parse(&text)
}

/// `t` as an ISO 8601 UTC time stamp with milliseconds, e.g. `2026-11-23T10:04:05.123Z`: the
/// form of `UCPTlastUpdate` and `UCPTtimeStamp` (the SmartServer's own examples use `...Z`
/// for UTC).
pub fn iso8601_utc(t: SystemTime) -> String {
    let ms = unix_ms(t);
    let secs = ms.div_euclid(1000);
    let (year, month, day) = civil_from_days(secs.div_euclid(86_400));
    let rem = secs.rem_euclid(86_400);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        ms.rem_euclid(1000)
    )
}

/// Milliseconds since the Unix epoch, negative before it, saturating at the `i64` range.
pub fn unix_ms(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
        Err(e) => i64::try_from(e.duration().as_millis()).map_or(i64::MIN, |ms| -ms),
    }
}

/// The time `ms` milliseconds after (or before, if negative) the Unix epoch; `None` if the
/// platform's `SystemTime` cannot represent it.
pub fn from_unix_ms(ms: i64) -> Option<SystemTime> {
    let offset = Duration::from_millis(ms.unsigned_abs());
    if ms >= 0 {
        UNIX_EPOCH.checked_add(offset)
    } else {
        UNIX_EPOCH.checked_sub(offset)
    }
}

/// Proleptic Gregorian (year, month, day) of a day count since 1970-01-01 (H. Hinnant's
/// `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    fn text(t: SystemTime) -> String {
        DpType::TimeStamp.format(&utc_time_stamp(t).unwrap())
    }

    #[test]
    fn iso8601_has_millis_and_zulu() {
        let t = at(1_207_313_861) + Duration::from_millis(7);
        assert_eq!(iso8601_utc(t), "2008-04-04T12:57:41.007Z");
    }

    #[test]
    fn epoch_is_1970_01_01_midnight() {
        assert_eq!(text(UNIX_EPOCH), "1970-01-01T00:00:00");
    }

    #[test]
    fn known_instants_convert_to_utc_fields() {
        // 2008-04-04T12:57:41Z (the SI_TIME example's wall time, taken as UTC).
        assert_eq!(text(at(1_207_313_861)), "2008-04-04T12:57:41");
        // A leap day and the last second of a leap year.
        assert_eq!(text(at(951_782_400)), "2000-02-29T00:00:00");
        assert_eq!(text(at(1_735_689_599)), "2024-12-31T23:59:59");
    }

    #[test]
    fn fractions_of_a_second_are_dropped() {
        let t = at(1_207_313_861) + Duration::from_millis(999);
        assert_eq!(text(t), "2008-04-04T12:57:41");
    }

    #[test]
    fn times_before_the_epoch_convert_too() {
        assert_eq!(
            text(UNIX_EPOCH - Duration::from_secs(1)),
            "1969-12-31T23:59:59"
        );
    }

    #[test]
    fn a_year_after_3000_is_rejected_by_the_type() {
        // 3001-01-01T00:00:00Z
        let e = utc_time_stamp(at(32_535_216_000)).unwrap_err();
        assert_eq!(e.reason, "year 3001 is outside -1..=3000");
    }

    #[test]
    fn unix_ms_round_trips_both_sides_of_the_epoch() {
        for ms in [0_i64, 1, 1_207_313_861_116, -1, -86_400_001] {
            let t = from_unix_ms(ms).unwrap();
            assert_eq!(unix_ms(t), ms);
        }
    }
}
