//! Reads a libtest run's console output: how many tests passed or failed, and which failed.

/// What a test binary said about itself, read line by line.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Summary {
    pub passed: u32,
    pub failed: u32,
    pub ignored: u32,
    /// Left out by name filters (`--skip`).
    pub filtered: u32,
    /// Names of the tests reported `FAILED`.
    pub failures: Vec<String>,
    /// Tests under `containers::` that ran (passed or failed): the real-runtime ones.
    pub containers: u32,
    /// Whether a `test result:` line was seen (a run that crashed or hung has none).
    pub finished: bool,
}

impl Summary {
    /// Takes one line of output (a trailing `\r` from a serial console is fine).
    pub fn feed(&mut self, line: &str) {
        let line = line.trim_end();
        if let Some(rest) = line.strip_prefix("test result: ") {
            self.finished = true;
            // `ok. 12 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 3.2s`
            for part in rest.split(';') {
                // `ok. 12 passed` / ` 0 filtered out`: the number, then what it counts.
                let mut words = part
                    .split_whitespace()
                    .skip_while(|w| w.parse::<u32>().is_err());
                let (Some(n), Some(what)) = (words.next(), words.next()) else {
                    continue;
                };
                let Ok(n) = n.parse::<u32>() else { continue };
                match what {
                    "passed" => self.passed += n,
                    "failed" => self.failed += n,
                    "ignored" => self.ignored += n,
                    "filtered" => self.filtered += n,
                    _ => {}
                }
            }
        } else if let Some(test) = line.strip_prefix("test ") {
            let (name, failed) = match (
                test.strip_suffix(" ... FAILED"),
                test.strip_suffix(" ... ok"),
            ) {
                (Some(name), _) => (name, true),
                (None, Some(name)) => (name, false),
                (None, None) => return,
            };
            if name.starts_with("containers::") {
                self.containers += 1;
            }
            if failed {
                self.failures.push(name.to_string());
            }
        }
    }

    /// The tests that ran.
    pub fn ran(&self) -> u32 {
        self.passed + self.failed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_failures_come_from_the_console() {
        let mut s = Summary::default();
        for line in [
            "running 3 tests",
            "test sender::kill_via_shells ... ok\r",
            "test oom::cgroup_v2_kill ... FAILED\r",
            "test filter::all ... ignored",
            "test containers::docker::kill ... ok",
            "test result: FAILED. 1 passed; 1 failed; 1 ignored; 0 measured; 10 filtered out; finished in 9.81s\r",
        ] {
            s.feed(line);
        }
        assert_eq!(
            s,
            Summary {
                passed: 1,
                failed: 1,
                ignored: 1,
                filtered: 10,
                failures: vec!["oom::cgroup_v2_kill".into()],
                containers: 1,
                finished: true,
            }
        );
        assert_eq!(s.ran(), 2);
    }

    #[test]
    fn a_run_that_never_finished_says_so() {
        let mut s = Summary::default();
        s.feed("test sender::kill_via_shells ... ok");
        assert!(!s.finished);
    }
}
