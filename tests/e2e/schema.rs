//! Every JSON line exitwatch prints must validate against docs/exitwatch.v1.schema.json.
//!
//! The check is python3's `jsonschema` (a full draft 2020-12 validator) run on the lines;
//! `cargo xtask setup` installs it. A missing validator fails the test rather than skipping it.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

fn schema_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/exitwatch.v1.schema.json")
}

/// Ok(number of lines) when every line is valid, else the validator's complaints.
pub fn validate(lines: &[String]) -> Result<usize, String> {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("e2e/schema_check.py");
    let mut child = Command::new("python3")
        .arg(script)
        .arg(schema_path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 (with the jsonschema module) is needed to check JSON output; run `cargo xtask setup`");
    let mut input = String::new();
    for l in lines {
        input.push_str(l);
        input.push('\n');
    }
    // Written from a thread: a validator that complains a lot must not deadlock us.
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let out = child.wait_with_output().expect("run the schema validator");
    let _ = writer.join();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    match out.status.code() {
        Some(0) => Ok(stdout
            .trim()
            .strip_prefix("valid ")
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)),
        Some(3) => Err(stderr.into_owned()),
        _ => panic!(
            "the schema validator itself failed ({}):\n{stderr}",
            out.status
        ),
    }
}

pub fn assert_valid(lines: &[String]) {
    match validate(lines) {
        Ok(n) => assert_eq!(n, lines.len(), "the validator did not see every line"),
        Err(e) => panic!("exitwatch printed JSON that breaks its schema:\n{e}"),
    }
}
