//! Where settings come from: the command line, then `EXITWATCH_<FLAG>` environment variables,
//! then the `--config FILE`, then the defaults (the first one that sets a flag wins).
//!
//! The file is a subset of TOML whose keys are the long flags, so any TOML tool reads it:
//! one `key = value` per line, values being "strings", 'literal strings', numbers, true/false,
//! or one-line arrays of those for flags that repeat (`output = ["stdout", "file:///x.log"]`);
//! `#` starts a comment. Tables and multi-line values are refused with the line's number.

use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};

use clap::{parser::ValueSource, ArgAction, ArgMatches, Command, CommandFactory, FromArgMatches};

use crate::cli::Args;
use crate::sink::spec::TOKEN_ADVICE;

/// `metrics-addr` -> `EXITWATCH_METRICS_ADDR`.
pub fn env_name(long: &str) -> String {
    format!("EXITWATCH_{}", long.to_ascii_uppercase().replace('-', "_"))
}

/// Flags that never come from the environment: `--http-token` exists only to be refused, and
/// EXITWATCH_HTTP_TOKEN is the token itself, read by the http outputs.
const NO_ENV: &[&str] = &["http-token"];

/// The command line parser, every daemon flag also read from `EXITWATCH_<FLAG>`.
pub fn command() -> Command {
    Args::command().mut_args(|a| match a.get_long().map(str::to_owned) {
        Some(long) if !NO_ENV.contains(&long.as_str()) => a.env(env_name(&long)),
        _ => a,
    })
}

/// A config file value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    Str(String),
    /// A number, as written.
    Num(String),
    Bool(bool),
    List(Vec<Value>),
}

/// A config file line that cannot be used. Exit status 64.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{file}:{line}: {why}")]
pub struct ConfigError {
    pub file: String,
    pub line: usize,
    pub why: String,
}

/// Why the arguments could not be gathered.
#[derive(Debug, thiserror::Error)]
pub enum ArgsError {
    #[error("{0}")]
    Clap(#[from] clap::Error),
    #[error("{0}")]
    Config(#[from] ConfigError),
    #[error("cannot read the config file {0}: {1}")]
    Read(PathBuf, io::Error),
    /// A value from the file that the flag does not accept.
    #[error("in the config file {0}: {1}")]
    FileValue(PathBuf, String),
}

/// One `key = value` line: its number, the key as written, the value.
pub type Entry = (usize, String, Value);

/// Parses the file; an error gives the line's number and what is wrong.
pub fn parse(text: &str) -> Result<Vec<Entry>, (usize, String)> {
    let mut out: Vec<Entry> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let n = i + 1;
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if line.starts_with('[') {
            return Err((
                n,
                "tables ([section]) are not supported: write `flag = value` lines at the top level"
                    .into(),
            ));
        }
        let (key, rest) = line
            .split_once('=')
            .ok_or((n, "expected `key = value`".to_owned()))?;
        let key = key.trim();
        if key.is_empty()
            || !key
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err((
                n,
                format!("`{key}` is not a key: use a long flag's name, e.g. metrics-addr"),
            ));
        }
        if out.iter().any(|(_, k, _)| k == key) {
            return Err((
                n,
                format!("`{key}` is set twice: use an array for flags that repeat"),
            ));
        }
        let mut p = Cursor {
            s: rest.trim(),
            line: n,
        };
        let value = p.value()?;
        p.end()?;
        out.push((n, key.to_owned(), value));
    }
    Ok(out)
}

struct Cursor<'a> {
    s: &'a str,
    line: usize,
}

impl Cursor<'_> {
    fn fail<T>(&self, why: impl Into<String>) -> Result<T, (usize, String)> {
        Err((self.line, why.into()))
    }

    fn skip_ws(&mut self) {
        self.s = self.s.trim_start();
    }

    /// Nothing but a comment left.
    fn end(&mut self) -> Result<(), (usize, String)> {
        self.skip_ws();
        match self.s.is_empty() || self.s.starts_with('#') {
            true => Ok(()),
            false => self.fail(format!("unexpected `{}` after the value", self.s)),
        }
    }

    fn value(&mut self) -> Result<Value, (usize, String)> {
        self.skip_ws();
        let Some(c) = self.s.chars().next() else {
            return self.fail("a value is missing after `=`");
        };
        match c {
            '"' => self.basic_string().map(Value::Str),
            '\'' => {
                let rest = &self.s[1..];
                let Some(end) = rest.find('\'') else {
                    return self.fail("unterminated 'string'");
                };
                let v = rest[..end].to_owned();
                self.s = &rest[end + 1..];
                Ok(Value::Str(v))
            }
            '[' => self.list(),
            _ => {
                let end = self
                    .s
                    .find(|c: char| c.is_whitespace() || c == ',' || c == ']' || c == '#')
                    .unwrap_or(self.s.len());
                let word = &self.s[..end];
                self.s = &self.s[end..];
                match word {
                    "true" => Ok(Value::Bool(true)),
                    "false" => Ok(Value::Bool(false)),
                    w if w.parse::<f64>().is_ok() || w.replace('_', "").parse::<i64>().is_ok() => {
                        Ok(Value::Num(w.replace('_', "")))
                    }
                    w => self.fail(format!(
                        "`{w}` is not a value: put text in double quotes, e.g. \"{w}\""
                    )),
                }
            }
        }
    }

    fn basic_string(&mut self) -> Result<String, (usize, String)> {
        let mut out = String::new();
        let mut chars = self.s[1..].char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '"' => {
                    self.s = &self.s[1 + i + 1..];
                    return Ok(out);
                }
                '\\' => match chars.next().map(|(_, e)| e) {
                    Some('"') => out.push('"'),
                    Some('\\') => out.push('\\'),
                    Some('n') => out.push('\n'),
                    Some('t') => out.push('\t'),
                    Some('r') => out.push('\r'),
                    Some('u') => {
                        let hex: String = chars.by_ref().take(4).map(|(_, h)| h).collect();
                        match u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32) {
                            Some(ch) if hex.len() == 4 => out.push(ch),
                            _ => return self.fail(format!("bad escape \\u{hex}")),
                        }
                    }
                    e => return self.fail(format!("unknown escape \\{}", e.unwrap_or(' '))),
                },
                c => out.push(c),
            }
        }
        self.fail("unterminated \"string\" (values end on their line)")
    }

    fn list(&mut self) -> Result<Value, (usize, String)> {
        self.s = &self.s[1..];
        let mut items = Vec::new();
        loop {
            self.skip_ws();
            if let Some(rest) = self.s.strip_prefix(']') {
                self.s = rest;
                return Ok(Value::List(items));
            }
            if self.s.is_empty() || self.s.starts_with('#') {
                return self.fail("unterminated array (arrays end on their line)");
            }
            match self.value()? {
                Value::List(_) => return self.fail("arrays of arrays are not supported"),
                v => items.push(v),
            }
            self.skip_ws();
            if let Some(rest) = self.s.strip_prefix(',') {
                self.s = rest;
            } else if !self.s.starts_with(']') {
                return self.fail("expected `,` or `]` in the array (arrays end on their line)");
            }
        }
    }
}

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::Str(s) | Value::Num(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::List(_) => None,
    }
}

/// The arguments the file adds: `--flag=value` for each key that neither the command line nor
/// the environment set. `matches` is the parse of the command line and environment alone.
pub fn file_args(
    file: &str,
    text: &str,
    cmd: &Command,
    matches: &ArgMatches,
) -> Result<Vec<OsString>, ConfigError> {
    let fail = |line: usize, why: String| ConfigError {
        file: file.to_owned(),
        line,
        why,
    };
    let entries = parse(text).map_err(|(line, why)| fail(line, why))?;
    let mut out = Vec::new();
    for (line, key, value) in entries {
        let long = key.replace('_', "-");
        if long == "http-token" {
            return Err(fail(line, format!("tokens do not go in the config file (often a ConfigMap, readable by many): {TOKEN_ADVICE}")));
        }
        if long == "config" {
            return Err(fail(line, "a config file cannot name another one".into()));
        }
        let arg = cmd
            .get_arguments()
            .find(|a| a.get_long() == Some(long.as_str()) && !a.is_hide_set())
            .ok_or_else(|| fail(line, format!("unknown key `{key}`: the keys are exitwatch's long flags (see `exitwatch --help`), e.g. format, output, metrics-addr")))?;
        if matches!(
            matches.value_source(arg.get_id().as_str()),
            Some(ValueSource::CommandLine | ValueSource::EnvVariable)
        ) {
            continue;
        }
        let repeats = matches!(arg.get_action(), ArgAction::Append);
        match (arg.get_action(), &value) {
            (ArgAction::SetTrue, Value::Bool(true)) => out.push(format!("--{long}").into()),
            (ArgAction::SetTrue, Value::Bool(false)) => {}
            (ArgAction::SetTrue, _) => {
                return Err(fail(
                    line,
                    format!("`{key}` is a switch: give true or false"),
                ))
            }
            (_, Value::List(items)) if repeats => {
                for item in items {
                    let v = scalar(item).expect("arrays hold no arrays");
                    out.push(format!("--{long}={v}").into());
                }
            }
            (_, Value::List(_)) => {
                return Err(fail(line, format!("`{key}` takes one value, not an array")))
            }
            (_, v) => out.push(format!("--{long}={}", scalar(v).expect("a scalar")).into()),
        }
    }
    Ok(out)
}

/// The arguments of this run: the command line and environment, completed from `--config`
/// (`EXITWATCH_CONFIG`) when given. `read` reads the file (a closure, for tests).
pub fn args(
    argv: Vec<OsString>,
    read: impl Fn(&Path) -> io::Result<String>,
) -> Result<Args, ArgsError> {
    let cmd = command();
    let mut matches = cmd.clone().try_get_matches_from(&argv)?;
    let config = match matches.subcommand_name() {
        None => matches.get_one::<PathBuf>("config").cloned(),
        Some(_) => None,
    };
    if let Some(path) = config {
        let text = read(&path).map_err(|e| ArgsError::Read(path.clone(), e))?;
        let extra = file_args(&path.display().to_string(), &text, &cmd, &matches)?;
        if !extra.is_empty() {
            let mut all = argv;
            all.extend(extra);
            matches = cmd.try_get_matches_from(all).map_err(|e| {
                let text = e.render().to_string();
                let first = text.lines().next().unwrap_or_default();
                ArgsError::FileValue(path.clone(), first.trim_start_matches("error: ").to_owned())
            })?;
        }
    }
    Ok(Args::from_arg_matches_mut(&mut matches)?)
}

#[cfg(test)]
mod tests;
