"""Checks exitwatch JSON lines (stdin) against the exitwatch.v1 schema (argv[1]).

Prints `valid N` and exits 0 when every line is valid; otherwise names each bad line on stderr
and exits 3 (any other failure is the validator's own). Used by the end-to-end tests (tests/e2e/schema.rs).
"""
import json
import sys

import jsonschema

with open(sys.argv[1]) as f:
    schema = json.load(f)
cls = jsonschema.validators.validator_for(schema)
cls.check_schema(schema)
validator = cls(schema, format_checker=cls.FORMAT_CHECKER)

count = bad = 0
for number, line in enumerate(sys.stdin, 1):
    line = line.rstrip("\n")
    count += 1
    try:
        event = json.loads(line)
    except ValueError as e:
        print(f"line {number}: not JSON ({e}): {line}", file=sys.stderr)
        bad += 1
        continue
    errors = list(validator.iter_errors(event))
    for e in errors:
        path = "/".join(str(p) for p in e.absolute_path) or "(top)"
        print(f"line {number}: {path}: {e.message}\n  {line}", file=sys.stderr)
    bad += bool(errors)
print(f"valid {count - bad}")
sys.exit(3 if bad else 0)
