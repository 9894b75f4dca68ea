//! `.helmignore` (`pkg/ignore`): Go `filepath.Match` patterns by base name, by path, or anchored
//! with `/`; `dir/` for directories only; `!` with Helm's own (inverted) meaning; and the default
//! rule `templates/.?*` that hides dot files among templates.

/// A `.helmignore` that Helm would refuse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// `**` is not supported by Helm.
    #[error("double-star (**) syntax is not supported")]
    DoubleStar,
    /// A pattern Go's `filepath.Match` rejects.
    #[error("syntax error in pattern")]
    BadPattern,
}

#[derive(Debug, Clone)]
struct Pattern {
    rule: String,
    kind: Kind,
    negate: bool,
    must_dir: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// `/x`: matched against the whole path.
    Anchored,
    /// `a/b`: matched against the whole path.
    Path,
    /// `x`: matched against the base name.
    Base,
}

/// Parsed `.helmignore` rules.
#[derive(Debug, Clone, Default)]
pub struct Rules {
    patterns: Vec<Pattern>,
}

impl Rules {
    /// Parses a `.helmignore` file's text.
    pub fn parse(text: &str) -> Result<Rules, Error> {
        let mut rules = Rules::default();
        let text = text.strip_prefix('\u{FEFF}').unwrap_or(text);
        for line in text.lines() {
            rules.add(line)?;
        }
        Ok(rules)
    }

    /// Adds Helm's default rule, `templates/.?*`.
    pub fn add_defaults(&mut self) {
        let _ = self.add("templates/.?*");
    }

    fn add(&mut self, rule: &str) -> Result<(), Error> {
        let rule = rule.trim();
        if rule.is_empty() || rule.starts_with('#') {
            return Ok(());
        }
        if rule.contains("**") {
            return Err(Error::DoubleStar);
        }
        glob_match(rule, "abc")?;
        let mut rule = rule;
        let negate = rule.starts_with('!');
        if negate {
            rule = &rule[1..];
        }
        let must_dir = rule.ends_with('/');
        if must_dir {
            rule = &rule[..rule.len() - 1];
        }
        let kind = if rule.starts_with('/') {
            Kind::Anchored
        } else if rule.contains('/') {
            Kind::Path
        } else {
            Kind::Base
        };
        let rule = rule.strip_prefix('/').unwrap_or(rule).to_string();
        self.patterns.push(Pattern { rule, kind, negate, must_dir });
        Ok(())
    }

    /// Whether `path` (relative, `/`-separated) is ignored.
    pub fn ignore(&self, path: &str, is_dir: bool) -> bool {
        if path.is_empty() || path == "." || path == "./" {
            return false;
        }
        for p in &self.patterns {
            let matched = || {
                let target = match p.kind {
                    Kind::Anchored | Kind::Path => path,
                    Kind::Base => path.rsplit('/').next().unwrap_or(path),
                };
                glob_match(&p.rule, target).unwrap_or(false)
            };
            if p.negate {
                if p.must_dir && !is_dir {
                    return true;
                }
                if !matched() {
                    return true;
                }
                continue;
            }
            if p.must_dir && !is_dir {
                continue;
            }
            if matched() {
                return true;
            }
        }
        false
    }
}

/// Go's `filepath.Match` on `/`-separated names.
pub fn glob_match(pattern: &str, name: &str) -> Result<bool, Error> {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    validate(&p)?;
    Ok(match_from(&p, &n))
}

fn validate(p: &[char]) -> Result<(), Error> {
    let mut i = 0;
    while i < p.len() {
        match p[i] {
            '\\' => {
                if i + 1 >= p.len() {
                    return Err(Error::BadPattern);
                }
                i += 2;
            }
            '[' => {
                let (_, next) = class(p, i, 'x').ok_or(Error::BadPattern)?;
                i = next;
            }
            _ => i += 1,
        }
    }
    Ok(())
}

/// Matches the character class starting at `p[i] == '['` against `c`; returns whether it
/// matched and the index after `]`, or None for a malformed class.
fn class(p: &[char], mut i: usize, c: char) -> Option<(bool, usize)> {
    i += 1;
    let negated = p.get(i) == Some(&'^');
    if negated {
        i += 1;
    }
    let mut matched = false;
    let mut first = true;
    loop {
        let ch = *p.get(i)?;
        if ch == ']' && !first {
            i += 1;
            break;
        }
        first = false;
        let lo = if ch == '\\' {
            i += 1;
            *p.get(i)?
        } else {
            if ch == '-' || ch == ']' && first {
                return None;
            }
            ch
        };
        i += 1;
        let mut hi = lo;
        if p.get(i) == Some(&'-') && p.get(i + 1).is_some_and(|&x| x != ']') {
            i += 1;
            let h = *p.get(i)?;
            hi = if h == '\\' {
                i += 1;
                *p.get(i)?
            } else {
                h
            };
            i += 1;
        }
        if lo <= c && c <= hi {
            matched = true;
        }
    }
    Some((matched != negated, i))
}

fn match_from(p: &[char], n: &[char]) -> bool {
    if p.is_empty() {
        return n.is_empty();
    }
    match p[0] {
        '*' => {
            let rest = &p[1..];
            for k in 0..=n.len() {
                if k > 0 && n[k - 1] == '/' {
                    break;
                }
                if match_from(rest, &n[k..]) {
                    return true;
                }
            }
            false
        }
        '?' => !n.is_empty() && n[0] != '/' && match_from(&p[1..], &n[1..]),
        '[' => {
            if n.is_empty() || n[0] == '/' {
                return false;
            }
            match class(p, 0, n[0]) {
                Some((true, next)) => match_from(&p[next..], &n[1..]),
                _ => false,
            }
        }
        '\\' => p.len() > 1 && !n.is_empty() && n[0] == p[1] && match_from(&p[2..], &n[1..]),
        c => !n.is_empty() && n[0] == c && match_from(&p[1..], &n[1..]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_match() {
        assert!(glob_match("*.txt", "a.txt").unwrap());
        assert!(!glob_match("*.txt", "d/a.txt").unwrap());
        assert!(glob_match("templates/.?*", "templates/.hidden").unwrap());
        assert!(glob_match("[a-c]?", "bz").unwrap());
        assert!(glob_match("[^a-c]?", "dz").unwrap());
        assert!(glob_match("a\\*", "a*").unwrap());
        assert!(glob_match("[", "x").is_err());
    }

    #[test]
    fn helmignore_rules() {
        let mut r = Rules::parse("# comment\n*.tmp\n/secret.txt\ndocs/\nci/*.yaml\n").unwrap();
        r.add_defaults();
        assert!(r.ignore("a/b.tmp", false));
        assert!(r.ignore("secret.txt", false));
        assert!(!r.ignore("sub/secret.txt", false));
        assert!(r.ignore("docs", true));
        assert!(!r.ignore("docs", false));
        assert!(r.ignore("ci/x.yaml", false));
        assert!(r.ignore("templates/.swp", false));
        assert!(!r.ignore("templates/a.yaml", false));
        assert_eq!(Rules::parse("a/**").unwrap_err(), Error::DoubleStar);
    }
}
