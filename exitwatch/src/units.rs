//! Sizes and durations as people write them (`4M`, `500ms`): pure parsers shared by the command
//! line and the output URLs.

use std::num::ParseIntError;
use std::time::Duration;

/// Bytes, or with a K/M/G suffix (powers of 1024). A value too large saturates at `u64::MAX`,
/// so a range check after it still refuses it.
pub fn parse_size(s: &str) -> Result<u64, ParseIntError> {
    let s = s.trim();
    let (digits, shift) = match s.char_indices().last() {
        Some((i, 'k' | 'K')) => (&s[..i], 10),
        Some((i, 'm' | 'M')) => (&s[..i], 20),
        Some((i, 'g' | 'G')) => (&s[..i], 30),
        _ => (s, 0),
    };
    let n: u64 = digits.parse()?;
    Ok(n.checked_shl(shift)
        .filter(|v| v >> shift == n)
        .unwrap_or(u64::MAX))
}

/// Seconds, or with a unit: `ms`, `s`, `m`, `h` (`1.5` is 1.5 s). None for anything else,
/// including negative and non-finite numbers.
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let split = s.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: f64 = num
        .trim()
        .parse()
        .ok()
        .filter(|n: &f64| n.is_finite() && *n >= 0.0)?;
    let secs = match unit {
        "" | "s" => n,
        "ms" => n / 1000.0,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return None,
    };
    Duration::try_from_secs_f64(secs).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_take_binary_suffixes_and_saturate() {
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size(" 64k "), Ok(64 << 10));
        assert_eq!(parse_size("4M"), Ok(4 << 20));
        assert_eq!(parse_size("2g"), Ok(2 << 30));
        assert_eq!(parse_size("99999999999999G"), Ok(u64::MAX));
        assert!(parse_size("").is_err());
        assert!(parse_size("4MB").is_err());
        assert!(parse_size("-1").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("5s"), Some(Duration::from_secs(5)));
        assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_duration("1.5"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2m"), Some(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h"), Some(Duration::from_secs(3600)));
        for bad in ["", "s", "-1s", "5x", "inf", "NaN", "5d"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }
}
