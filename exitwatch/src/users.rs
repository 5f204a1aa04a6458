//! User names for uids, from /etc/passwd (read once at start; parsing is pure).

use std::collections::HashMap;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Users {
    names: HashMap<u32, String>,
}

impl Users {
    /// Parses passwd(5) lines; malformed lines are skipped.
    pub fn parse(passwd: &str) -> Self {
        let names = passwd
            .lines()
            .filter_map(|line| {
                let mut fields = line.split(':');
                let name = fields.next()?;
                let uid = fields.nth(1)?.parse().ok()?;
                (!name.is_empty() && !name.starts_with('#')).then(|| (uid, name.to_owned()))
            })
            .collect();
        Users { names }
    }

    /// The node's users; empty when /etc/passwd cannot be read (names are only a nicety). In
    /// an image with no /etc/passwd (exitwatch's is `FROM scratch`) run by `kubectl debug node
    /// --profile=sysadmin`, the node's root is at /host: its users are the node's.
    pub fn load() -> Self {
        ["/etc/passwd", "/host/etc/passwd"]
            .iter()
            .find_map(|p| std::fs::read_to_string(p).ok())
            .map(|s| Self::parse(&s))
            .unwrap_or_default()
    }

    pub fn name(&self, uid: u32) -> Option<&str> {
        self.names.get(&uid).map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_passwd_lines_and_skips_junk() {
        let u = Users::parse("root:x:0:0:root:/root:/bin/bash\nbad line\nalice:x:1000:1000::/home/a:/bin/sh\n:x:5:5::/:/bin/sh\n");
        assert_eq!(u.name(0), Some("root"));
        assert_eq!(u.name(1000), Some("alice"));
        assert_eq!(u.name(5), None);
        assert_eq!(u.name(42), None);
    }
}
