//! What machine the numbers come from, and whether something else was using it meanwhile.

use std::{fs, thread, time::Duration};

/// `2 x Intel(R) Xeon(R) ..., Linux 6.18.44, 4.0 GiB`
pub fn describe() -> String {
    let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .and_then(|l| l.split_once(':'))
        .map_or("unknown CPU", |(_, m)| m.trim());
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let kernel = fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let meminfo = fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_kib: f64 = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|l| l.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0);
    format!(
        "{cpus} x {model}, Linux {}, {:.1} GiB",
        kernel.trim(),
        mem_kib / 1024.0 / 1024.0
    )
}

/// The share of all CPUs left idle over `window` (1.0: nothing ran).
pub fn idle_share(window: Duration) -> f64 {
    let before = cpu_times();
    thread::sleep(window);
    let after = cpu_times();
    match (before, after) {
        (Some((idle0, total0)), Some((idle1, total1))) if total1 > total0 => {
            (idle1 - idle0) as f64 / (total1 - total0) as f64
        }
        _ => f64::NAN,
    }
}

/// (idle + iowait, total) jiffies from the `cpu` line of /proc/stat.
fn cpu_times() -> Option<(u64, u64)> {
    parse_stat(&fs::read_to_string("/proc/stat").ok()?)
}

fn parse_stat(stat: &str) -> Option<(u64, u64)> {
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|w| w.parse().ok())
        .collect();
    let idle = v.get(3)? + v.get(4).unwrap_or(&0);
    // guest and guest_nice (8, 9) are already counted in user and nice.
    Some((idle, v.iter().take(8).sum()))
}

#[cfg(test)]
mod tests {
    use super::parse_stat;

    #[test]
    fn stat_cpu_line() {
        let stat = "cpu  100 0 50 800 50 0 0 0 0 0\ncpu0 50 0 25 400 25 0 0 0 0 0\n";
        assert_eq!(parse_stat(stat), Some((850, 1000)));
        assert_eq!(parse_stat("intr 1\n"), None);
    }
}
