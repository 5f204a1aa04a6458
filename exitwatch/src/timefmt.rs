//! Formats instants and durations: RFC 3339 UTC timestamps, systemtap's `XmY.Zs`, human verdicts.

const NS_PER_SEC: i128 = 1_000_000_000;

/// UTC RFC 3339 with exactly nine fractional digits: "2026-11-22T17:10:09.123456789Z".
/// Accepts u64 (kernel-style) or i64/i128 (before 1970). Years outside 0..=9999, which RFC 3339
/// cannot express, are written with a sign as ISO 8601's expanded form does ("+10000-...").
pub fn rfc3339_nanos(unix_ns: impl Into<i128>) -> String {
    Rfc3339(unix_ns.into()).to_string()
}

/// An instant (Unix ns) written as [`rfc3339_nanos`] writes it, without allocating: the
/// machine formats serialise it straight into their line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Rfc3339(pub i128);

/// The longest form: a sign, the 22 digits of the farthest year an i128 of ns reaches, and
/// "-MM-DDTHH:MM:SS.NNNNNNNNNZ".
const RFC3339_MAX: usize = 1 + 22 + 26;

impl Rfc3339 {
    /// (year, month, day, second of the day, nanoseconds). Instants from 1970 to 2554 (what a
    /// u64 of ns holds, every event's time) take u64 arithmetic; the rest i128's, which is a
    /// library call per division.
    fn parts(self) -> (i128, u32, u32, u64, u64) {
        const NS: u64 = NS_PER_SEC as u64;
        if let Ok(ns) = u64::try_from(self.0) {
            let secs = ns / NS;
            // At most 213,503 days: the era arithmetic below cannot overflow an i64.
            let (year, month, day) = civil_from_era_days((secs / 86_400) as i64);
            return (i128::from(year), month, day, secs % 86_400, ns % NS);
        }
        wide_parts(self.0)
    }

    /// Writes into `buf` from its end and returns the text.
    fn write(self, buf: &mut [u8; RFC3339_MAX]) -> &str {
        let (year, month, day, sod, frac) = self.parts();
        let mut at = buf.len();
        let mut put = |n: u64, width: usize, after: u8| {
            at -= 1;
            buf[at] = after;
            let mut n = n;
            for _ in 0..width {
                at -= 1;
                buf[at] = b'0' + (n % 10) as u8;
                n /= 10;
            }
        };
        put(frac, 9, b'Z');
        put(sod % 60, 2, b'.');
        put(sod % 3600 / 60, 2, b':');
        put(sod / 3600, 2, b':');
        put(u64::from(day), 2, b'T');
        put(u64::from(month), 2, b'-');
        // The year: four digits, or ISO 8601's expanded form with a sign outside 0..=9999.
        at -= 1;
        buf[at] = b'-';
        let mut y = year.unsigned_abs();
        let mut digits = 0;
        while digits < 4 || y > 0 {
            // u64 arithmetic once the year fits (every year a clock shows): dividing a u128 is a
            // library call.
            let digit = match u64::try_from(y) {
                Ok(small) => {
                    y = u128::from(small / 10);
                    small % 10
                }
                Err(_) => {
                    let digit = (y % 10) as u64;
                    y /= 10;
                    digit
                }
            };
            at -= 1;
            buf[at] = b'0' + digit as u8;
            digits += 1;
        }
        if !(0..=9999).contains(&year) {
            at -= 1;
            buf[at] = if year < 0 { b'-' } else { b'+' };
        }
        std::str::from_utf8(&buf[at..]).expect("ASCII digits and separators")
    }
}

impl std::fmt::Display for Rfc3339 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.write(&mut [0; RFC3339_MAX]))
    }
}

impl serde::Serialize for Rfc3339 {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.write(&mut [0; RFC3339_MAX]))
    }
}

/// [`Rfc3339::parts`] in i128 arithmetic, for any instant.
fn wide_parts(ns: i128) -> (i128, u32, u32, u64, u64) {
    let secs = ns.div_euclid(NS_PER_SEC);
    let (year, month, day) = civil_from_days(secs.div_euclid(86_400));
    (
        year,
        month,
        day,
        secs.rem_euclid(86_400) as u64,
        ns.rem_euclid(NS_PER_SEC) as u64,
    )
}

/// (year, month, day) of the proleptic Gregorian calendar for days since 1970-01-01, over the
/// whole i128 range: the calendar repeats every 400 years (146,097 days), so whole eras are
/// taken off and the rest is [`civil_from_era_days`]'s.
fn civil_from_days(days: i128) -> (i128, u32, u32) {
    const ERA_DAYS: i128 = 146_097;
    let eras = days.div_euclid(ERA_DAYS);
    let (year, month, day) = civil_from_era_days(days.rem_euclid(ERA_DAYS) as i64);
    (i128::from(year) + eras * 400, month, day)
}

/// (year, month, day) for days since 1970-01-01, 0 up to a few million (Howard Hinnant's
/// `civil_from_days`).
fn civil_from_era_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468; // shift the epoch to 0000-03-01
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097; // day of the 400-year era, [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // day of the March-based year
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = (if mp < 10 { mp + 3 } else { mp - 9 }) as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// systemtap's task_ancestry duration: whole minutes, then seconds with nine decimals,
/// "0m0.080000000s", "19491m2.579563677s".
pub fn stap_duration(ns: u64) -> String {
    let secs = ns / 1_000_000_000;
    format!("{}m{}.{:09}s", secs / 60, secs % 60, ns % 1_000_000_000)
}

/// A short duration for verdicts, truncated to its two most useful units:
/// "850 ns", "12 µs", "250 ms", "30.0 s", "5 min 3 s", "1 h 2 min", "3 d 4 h".
pub fn human_duration(ns: u64) -> String {
    const US: u64 = 1_000;
    const MS: u64 = 1_000_000;
    const S: u64 = 1_000_000_000;
    const MIN: u64 = 60 * S;
    const H: u64 = 60 * MIN;
    const D: u64 = 24 * H;
    let pair = |big: u64, big_unit: &str, small: u64, small_unit: &str| {
        if small == 0 {
            format!("{big} {big_unit}")
        } else {
            format!("{big} {big_unit} {small} {small_unit}")
        }
    };
    match ns {
        0..US => format!("{ns} ns"),
        US..MS => format!("{} µs", ns / US),
        MS..S => format!("{} ms", ns / MS),
        S..MIN => format!("{}.{} s", ns / S, ns % S / (S / 10)),
        MIN..H => pair(ns / MIN, "min", ns % MIN / S, "s"),
        H..D => pair(ns / H, "h", ns % H / MIN, "min"),
        _ => pair(ns / D, "d", ns % D / H, "h"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i128 = 1_000_000_000;

    #[test]
    fn epoch_and_fraction_digits() {
        assert_eq!(rfc3339_nanos(0u64), "1970-01-01T00:00:00.000000000Z");
        assert_eq!(rfc3339_nanos(1u64), "1970-01-01T00:00:00.000000001Z");
        assert_eq!(
            rfc3339_nanos(123_456_789u64),
            "1970-01-01T00:00:00.123456789Z"
        );
    }

    #[test]
    fn the_u64_path_agrees_with_the_i128_one() {
        const DAY: u64 = 86_400_000_000_000;
        let mut instants = vec![0, 1, DAY - 1, DAY, u64::MAX, u64::MAX - DAY];
        // The split into days and seconds around leap days and century rules (2000-02-29,
        // 2100-03-01, 2400-02-29) and the last day a u64 reaches; the calendar itself is
        // checked by the tests below.
        for days in [11_016, 47_541, 157_113, 213_503] {
            instants.extend([days * DAY - 1, days * DAY, days * DAY + 1]);
        }
        // Every 9,973rd day from 1970 to 2554, at a varying time of day.
        instants.extend(
            (0..213_503u64)
                .step_by(9_973)
                .map(|d| d * DAY + d * 7_777_777),
        );
        for ns in instants {
            assert_eq!(
                Rfc3339(i128::from(ns)).parts(),
                wide_parts(i128::from(ns)),
                "{ns}"
            );
        }
    }

    #[test]
    fn known_instants() {
        assert_eq!(
            rfc3339_nanos(1_795_367_409 * S + 123_456_789),
            "2026-11-22T17:10:09.123456789Z"
        );
        assert_eq!(
            rfc3339_nanos(1_000_000_000 * S),
            "2001-09-09T01:46:40.000000000Z"
        );
        assert_eq!(
            rfc3339_nanos(1_234_567_890 * S),
            "2009-02-13T23:31:30.000000000Z"
        );
        assert_eq!(
            rfc3339_nanos(1_735_689_599 * S + 999_999_999),
            "2024-12-31T23:59:59.999999999Z"
        );
        assert_eq!(
            rfc3339_nanos(1_735_689_600 * S),
            "2025-01-01T00:00:00.000000000Z"
        );
    }

    #[test]
    fn leap_days() {
        assert_eq!(
            rfc3339_nanos(951_782_400 * S),
            "2000-02-29T00:00:00.000000000Z"
        );
        assert_eq!(
            rfc3339_nanos(951_868_799 * S),
            "2000-02-29T23:59:59.000000000Z"
        );
        assert_eq!(
            rfc3339_nanos(951_868_800 * S),
            "2000-03-01T00:00:00.000000000Z"
        );
        assert_eq!(
            rfc3339_nanos(1_709_164_800 * S),
            "2024-02-29T00:00:00.000000000Z"
        );
        // 2100 is not a leap year: Feb 28 is followed by Mar 1.
        assert_eq!(
            rfc3339_nanos(4_107_542_400 * S),
            "2100-03-01T00:00:00.000000000Z"
        );
        assert_eq!(
            rfc3339_nanos((4_107_542_400 - 1) * S),
            "2100-02-28T23:59:59.000000000Z"
        );
    }

    #[test]
    fn before_1970_and_extremes() {
        assert_eq!(rfc3339_nanos(-1i64), "1969-12-31T23:59:59.999999999Z");
        assert_eq!(rfc3339_nanos(-86_400 * S), "1969-12-31T00:00:00.000000000Z");
        assert_eq!(
            rfc3339_nanos(-62_135_596_800 * S),
            "0001-01-01T00:00:00.000000000Z"
        );
        assert_eq!(
            rfc3339_nanos(253_402_300_799 * S),
            "9999-12-31T23:59:59.000000000Z"
        );
        assert_eq!(
            rfc3339_nanos(253_402_300_800 * S),
            "+10000-01-01T00:00:00.000000000Z"
        );
        assert_eq!(rfc3339_nanos(u64::MAX), "2554-07-21T23:34:33.709551615Z");
        assert_eq!(rfc3339_nanos(i64::MIN), "1677-09-21T00:12:43.145224192Z");
    }

    #[test]
    fn the_newtype_writes_the_same_text_in_display_and_json() {
        for ns in [
            0,
            -1,
            i128::from(u64::MAX),
            253_402_300_800 * S,
            i128::MAX,
            i128::MIN,
        ] {
            let text = rfc3339_nanos(ns);
            assert_eq!(Rfc3339(ns).to_string(), text);
            assert_eq!(
                serde_json::to_string(&Rfc3339(ns)).unwrap(),
                format!("\"{text}\"")
            );
        }
        assert_eq!(
            rfc3339_nanos(-70_000_000_000 * S),
            "-0249-10-15T19:33:20.000000000Z"
        );
        // The farthest instants (checked against the calendar outside Rust).
        assert_eq!(
            rfc3339_nanos(i128::MAX),
            "+5391559471918239498981-03-22T13:41:55.884105727Z"
        );
        assert_eq!(
            rfc3339_nanos(i128::MIN),
            "-5391559471918239495042-10-11T10:18:04.115894272Z"
        );
    }

    #[test]
    fn every_day_of_four_centuries_is_consecutive() {
        // Walking day by day from 1970 must step month/day/year exactly like a calendar.
        let mut prev = civil_from_days(-146_097);
        for days in -146_096..146_097 {
            let (y, m, d) = civil_from_days(days);
            let (py, pm, pd) = prev;
            let leap = (py % 4 == 0 && py % 100 != 0) || py % 400 == 0;
            let month_len = [
                31,
                if leap { 29 } else { 28 },
                31,
                30,
                31,
                30,
                31,
                31,
                30,
                31,
                30,
                31,
            ];
            if pd < month_len[pm as usize - 1] {
                assert_eq!((y, m, d), (py, pm, pd + 1));
            } else if pm < 12 {
                assert_eq!((y, m, d), (py, pm + 1, 1));
            } else {
                assert_eq!((y, m, d), (py + 1, 1, 1));
            }
            prev = (y, m, d);
        }
        assert_eq!(civil_from_days(0), (1970, 1, 1));
    }

    #[test]
    fn stap_format() {
        assert_eq!(stap_duration(0), "0m0.000000000s");
        assert_eq!(stap_duration(80_000_000), "0m0.080000000s");
        assert_eq!(stap_duration(59_999_999_999), "0m59.999999999s");
        assert_eq!(stap_duration(60_000_000_000), "1m0.000000000s");
        assert_eq!(
            stap_duration((19_491 * 60 + 2) * 1_000_000_000 + 579_563_677),
            "19491m2.579563677s"
        );
    }

    #[test]
    fn human_format() {
        assert_eq!(human_duration(0), "0 ns");
        assert_eq!(human_duration(850), "850 ns");
        assert_eq!(human_duration(12_345), "12 µs");
        assert_eq!(human_duration(250_000_000), "250 ms");
        assert_eq!(human_duration(999_999_999), "999 ms");
        assert_eq!(human_duration(1_000_000_000), "1.0 s");
        assert_eq!(human_duration(30_000_000_000), "30.0 s");
        assert_eq!(human_duration(59_990_000_000), "59.9 s");
        assert_eq!(human_duration(60_000_000_000), "1 min");
        assert_eq!(human_duration(303_000_000_000), "5 min 3 s");
        assert_eq!(human_duration(3_720_000_000_000), "1 h 2 min");
        assert_eq!(human_duration(3_600_000_000_000), "1 h");
        assert_eq!(human_duration(100_800_000_000_000), "1 d 4 h");
        assert_eq!(human_duration(u64::MAX), "213503 d 23 h");
    }
}
