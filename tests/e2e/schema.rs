//! Every JSON line exitwatch prints must validate against docs/exitwatch.v1.schema.json
//! (draft 2020-12), checked inside the test binary so it works in the kernel-matrix guests too.

use std::sync::OnceLock;

use serde_json::Value;

/// The published schema, embedded at build time (the guests have no source tree).
const SCHEMA: &str = include_str!("../../docs/exitwatch.v1.schema.json");

fn validator() -> &'static jsonschema::Validator {
    static V: OnceLock<jsonschema::Validator> = OnceLock::new();
    V.get_or_init(|| {
        let schema: Value = serde_json::from_str(SCHEMA).expect("the schema is JSON");
        jsonschema::draft202012::new(&schema).expect("the schema is a valid draft 2020-12 schema")
    })
}

/// Ok(number of lines) when every line is valid, else what is wrong with which line.
pub fn validate(lines: &[String]) -> Result<usize, String> {
    let mut problems = String::new();
    for (i, line) in lines.iter().enumerate() {
        let value: Value = match serde_json::from_str(line) {
            Ok(v) => v,
            Err(e) => {
                problems.push_str(&format!("line {}: not JSON ({e}): {line}\n", i + 1));
                continue;
            }
        };
        for err in validator().iter_errors(&value) {
            problems.push_str(&format!(
                "line {}: {} at {}\n",
                i + 1,
                err,
                err.instance_path()
            ));
        }
    }
    if problems.is_empty() {
        Ok(lines.len())
    } else {
        Err(problems)
    }
}

pub fn assert_valid(lines: &[String]) {
    match validate(lines) {
        Ok(n) => assert_eq!(n, lines.len(), "the validator did not see every line"),
        Err(e) => panic!("exitwatch printed JSON that breaks its schema:\n{e}"),
    }
}
