//! Hides secrets in argv before any format shows them: `--password X`, `token=X`, `user:X@host`...

use std::borrow::Cow;

use crate::event::Event;

/// Words that make a key, flag or header secret-bearing, matched inside its name in any case.
pub const DEFAULT_WORDS: [&str; 9] = [
    "password",
    "passwd",
    "secret",
    "token",
    "apikey",
    "api_key",
    "api-key",
    "auth",
    "credential",
];

/// What a hidden value becomes.
pub const MASK: &[u8] = b"***";

/// Which argv values to hide.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Redaction {
    /// Lowercase words that make a name secret-bearing.
    words: Vec<String>,
    /// Exact flags whose value is secret.
    flags: Vec<String>,
}

impl Default for Redaction {
    fn default() -> Self {
        Redaction {
            words: DEFAULT_WORDS.map(String::from).to_vec(),
            flags: Vec::new(),
        }
    }
}

/// A `--redact` pattern that would match nothing or everything.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "--redact {0:?} names no key or flag: give a word such as `pgpass`, or a flag such as `-p`"
)]
pub struct PatternError(pub String);

impl Redaction {
    /// The built-in rules plus the user's `--redact` patterns.
    pub fn with_patterns<S: AsRef<str>>(patterns: &[S]) -> Result<Self, PatternError> {
        let mut r = Redaction::default();
        for p in patterns {
            let raw = p.as_ref();
            let p = raw.trim().trim_end_matches(['=', ':']);
            if p.trim_start_matches('-').is_empty() {
                return Err(PatternError(raw.to_owned()));
            }
            if p.starts_with('-') {
                r.flags.push(p.to_owned());
            } else {
                r.words.push(p.to_ascii_lowercase());
            }
        }
        Ok(r)
    }

    fn secret_name(&self, name: &[u8]) -> bool {
        if self.flags.iter().any(|f| f.as_bytes() == name) {
            return true;
        }
        let lower = name.to_ascii_lowercase();
        self.words.iter().any(|w| contains(&lower, w.as_bytes()))
    }

    /// `-pVALUE` for a one-letter flag given with `--redact -p`: where the value starts.
    fn attached_value(&self, word: &[u8]) -> Option<usize> {
        self.flags
            .iter()
            .map(|f| f.as_bytes())
            .find(|f| f.len() == 2 && word.len() > 2 && word.starts_with(f))
            .map(<[u8]>::len)
    }
}

/// argv with every secret value replaced by `***`.
///
/// The rules, applied to every whitespace-separated word of every argument (so `sh -c "mysql
/// --password X"` is covered too); a value found becomes `***`:
/// - `KEY=VALUE` where KEY names a secret (`PGPASSWORD=x`, `--api-key=x`); in a URL query,
///   each such parameter (`?user=bob&token=x`);
/// - `--FLAG VALUE` where FLAG names a secret: the next word, unless it is another `--flag`;
/// - `Header: VALUE` where the header names a secret (`Authorization: Bearer x`): the rest of the
///   argument;
/// - the password of a URL (`https://user:x@host`).
///
/// A key, flag or header "names a secret" when it contains, in any case, one of
/// [`DEFAULT_WORDS`] or a word given with `--redact`. A `--redact` pattern starting with `-` is
/// an exact flag instead (`-p` hides `-p X`, `-p=X` and, being one letter, `-pX`): for tools
/// such as mysql whose short flags are too ambiguous to hide by default.
pub fn redact_args(args: &[Vec<u8>], rules: &Redaction) -> Vec<Vec<u8>> {
    let mut pending = false;
    args.iter()
        .map(|arg| redact_arg(arg, rules, &mut pending))
        .collect()
}

/// Redacts the argv an event carries: the sender's (or the kernel's context task's) and the
/// OOM victim's.
pub fn redact_event(event: &mut Event, rules: &Redaction) {
    let Some(args) = event.args() else { return };
    let redacted = redact_args(args, rules);
    // Unchanged, a sender's argv stays shared with its process image (no copy per event).
    if redacted != args {
        event.set_args(redacted);
    }
}

/// One argument; `pending` says the previous word was a flag whose value is secret.
fn redact_arg(arg: &[u8], rules: &Redaction, pending: &mut bool) -> Vec<u8> {
    if arg.is_empty() {
        // `--password ""`: the empty argument was the value.
        *pending = false;
    }
    let mut out = Vec::with_capacity(arg.len());
    let mut i = 0;
    while i < arg.len() {
        let start = i;
        let space = arg[i].is_ascii_whitespace();
        while i < arg.len() && arg[i].is_ascii_whitespace() == space {
            i += 1;
        }
        let word = &arg[start..i];
        if space {
            out.extend_from_slice(word);
            continue;
        }
        if std::mem::take(pending) && !word.starts_with(b"--") {
            out.extend_from_slice(MASK);
            continue;
        }
        if let Some(colon) = header_name(word, rules) {
            // `Authorization: Bearer x`: the rest of the argument is the credential.
            out.extend_from_slice(&word[..=colon]);
            let rest = &arg[start + colon + 1..];
            let gap = rest.iter().take_while(|b| b.is_ascii_whitespace()).count();
            out.extend_from_slice(&rest[..gap]);
            if gap < rest.len() {
                out.extend_from_slice(MASK);
            }
            return out;
        }
        out.extend_from_slice(&redact_word(word, rules, pending));
    }
    out
}

fn redact_word<'w>(word: &'w [u8], rules: &Redaction, pending: &mut bool) -> Cow<'w, [u8]> {
    if word.starts_with(b"-") && !word.contains(&b'=') {
        if rules.secret_name(word) {
            *pending = true;
        } else if let Some(at) = rules.attached_value(word) {
            return Cow::Owned([&word[..at], MASK].concat());
        }
        return Cow::Borrowed(word);
    }
    let word = url_password(word);
    match key_values(&word, rules) {
        Some(hidden) => Cow::Owned(hidden),
        None => word,
    }
}

/// `Name:` or `Name:value` where Name is a header-like name (letters, digits, `-`, `_`) naming
/// a secret: the colon's position.
fn header_name(word: &[u8], rules: &Redaction) -> Option<usize> {
    let colon = word.iter().position(|&b| b == b':')?;
    let name = &word[..colon];
    let header_like = !name.is_empty()
        && name
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    let url = word[colon + 1..].starts_with(b"//");
    (header_like && !url && rules.secret_name(name)).then_some(colon)
}

/// `scheme://user:password@host/...` with the password hidden.
fn url_password(word: &[u8]) -> Cow<'_, [u8]> {
    let Some(scheme_end) = find(word, b"://") else {
        return Cow::Borrowed(word);
    };
    let auth_start = scheme_end + 3;
    let auth_len = word[auth_start..]
        .iter()
        .position(|b| b"/?#".contains(b))
        .unwrap_or(word.len() - auth_start);
    let authority = &word[auth_start..auth_start + auth_len];
    let Some(at) = authority.iter().rposition(|&b| b == b'@') else {
        return Cow::Borrowed(word);
    };
    let Some(colon) = authority[..at].iter().position(|&b| b == b':') else {
        return Cow::Borrowed(word);
    };
    let (pw_start, pw_end) = (auth_start + colon + 1, auth_start + at);
    Cow::Owned([&word[..pw_start], MASK, &word[pw_end..]].concat())
}

/// `KEY=VALUE` with a secret KEY, or a URL query's secret parameters, hidden; None when
/// nothing is secret.
fn key_values(word: &[u8], rules: &Redaction) -> Option<Vec<u8>> {
    let eq = word.iter().position(|&b| b == b'=')?;
    let (head, query) = match word[..eq].iter().position(|&b| b == b'?') {
        // A query string: each `&`-separated parameter on its own.
        Some(q) => (&word[..=q], &word[q + 1..]),
        // A plain KEY=VALUE: the value may hold `&` too, all of it is hidden.
        None if rules.secret_name(&word[..eq]) && eq + 1 < word.len() => {
            return Some([&word[..=eq], MASK].concat());
        }
        None => return None,
    };
    let mut out = head.to_vec();
    let mut hidden = false;
    for (n, param) in query.split(|&b| b == b'&').enumerate() {
        if n > 0 {
            out.push(b'&');
        }
        match param.iter().position(|&b| b == b'=') {
            Some(eq) if eq + 1 < param.len() && rules.secret_name(&param[..eq]) => {
                out.extend_from_slice(&param[..=eq]);
                out.extend_from_slice(MASK);
                hidden = true;
            }
            _ => out.extend_from_slice(param),
        }
    }
    hidden.then_some(out)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && find(haystack, needle).is_some()
}

#[cfg(test)]
mod tests;
