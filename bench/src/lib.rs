//! Shared by the load generators: option parsing, CPU pinning, thread ids and the clock.

use std::collections::HashMap;
use std::io;

/// `--key value` pairs after the positional words; a key given twice keeps the last value.
pub fn options(args: &[String]) -> Result<(Vec<String>, HashMap<String, String>), String> {
    let mut positional = Vec::new();
    let mut opts = HashMap::new();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.strip_prefix("--") {
            Some(key) => {
                let value = it.next().ok_or_else(|| format!("--{key} needs a value"))?;
                opts.insert(key.to_owned(), value.clone());
            }
            None => positional.push(arg.clone()),
        }
    }
    Ok((positional, opts))
}

/// The value of `--key` parsed as a `T`, or `default` when absent.
pub fn opt<T: std::str::FromStr>(
    opts: &HashMap<String, String>,
    key: &str,
    default: Option<T>,
) -> Result<T, String> {
    match opts.get(key) {
        Some(v) => v.parse().map_err(|_| format!("--{key} {v:?} is not valid")),
        None => default.ok_or_else(|| format!("--{key} is required")),
    }
}

/// Pins the calling thread to one CPU, so the sender and the victim do not trade places.
pub fn pin_to_cpu(cpu: usize) -> io::Result<()> {
    // SAFETY: a zeroed cpu_set_t is the empty set; CPU_SET writes inside it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        if libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &set) != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

pub fn gettid() -> i32 {
    // SAFETY: gettid cannot fail.
    unsafe { libc::gettid() }
}

/// CLOCK_MONOTONIC in nanoseconds.
pub fn now_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid out-pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// How many signals a paced sender should have sent `elapsed_ns` after starting at `rate` per second.
pub fn due(rate: u64, elapsed_ns: u64) -> u64 {
    (rate as u128 * elapsed_ns as u128 / 1_000_000_000) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn options_split_positional_words_from_pairs() {
        let (pos, opts) = options(&strings(&["ignore", "10", "--cpu", "1"])).unwrap();
        assert_eq!(pos, ["ignore", "10"]);
        assert_eq!(opt::<usize>(&opts, "cpu", None), Ok(1));
        assert_eq!(opt::<usize>(&opts, "rate", Some(7)), Ok(7));
        assert!(opt::<usize>(&opts, "count", None).is_err());
        assert!(options(&strings(&["--cpu"])).is_err());
    }

    #[test]
    fn pacing_is_proportional_to_time() {
        assert_eq!(due(250_000, 0), 0);
        assert_eq!(due(250_000, 1_000_000), 250);
        assert_eq!(due(250_000, 2_000_000_000), 500_000);
    }
}
