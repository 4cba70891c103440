//! Asterisk's configuration file format, as `pjsip.conf` uses it: sections,
//! templates and inheritance, comments, includes. This module knows the
//! format only; what the sections mean is [`super::pjsip`]'s business.
//!
//! ```text
//! [endpoint-basic](!)        ; a template
//! type = endpoint
//! context = default
//!
//! [alice](endpoint-basic)    ; inherits the template's options first
//! auth = alice-auth
//! #include "more.conf"
//! ```

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Where something was written: file and 1-based line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Location {
    /// The file, as it was named (relative includes are resolved against
    /// the including file's directory).
    pub file: Arc<PathBuf>,
    /// 1-based line number.
    pub line: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file.display(), self.line)
    }
}

/// One `key = value` line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawOption {
    /// The option name, as written.
    pub key: String,
    /// The value, trimmed, with `\;` unescaped.
    pub value: String,
    /// Where it was written.
    pub at: Location,
}

/// A section with its own options (not yet merged with its templates).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawSection {
    /// The name between the brackets.
    pub name: String,
    /// Where the `[name]` line is.
    pub at: Location,
    /// `(!)`: a template, used only through inheritance.
    pub is_template: bool,
    /// Templates (or sections) it inherits from, in order.
    pub inherits: Vec<String>,
    /// Its own options, in order.
    pub options: Vec<RawOption>,
}

/// A fault in the file format itself.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{at}: {message}")]
pub struct FormatError {
    /// Where.
    pub at: Location,
    /// What.
    pub message: String,
}

/// A loaded configuration: every section of the file and its includes, in
/// order, plus warnings about what the format allowed but sipjet ignores.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConfigFile {
    /// Sections in file order.
    pub sections: Vec<RawSection>,
    /// Things worth telling the user that are not errors.
    pub warnings: Vec<(Location, String)>,
}

/// Includes deeper than this are taken for a loop.
const MAX_INCLUDE_DEPTH: usize = 16;

impl ConfigFile {
    /// Reads a file and everything it includes.
    pub fn load(path: &Path) -> Result<ConfigFile, FormatError> {
        let mut cfg = ConfigFile::default();
        cfg.read_file(path, 0, None)?;
        Ok(cfg)
    }

    /// Parses text (as if it were the file `name`); includes are resolved
    /// against the current directory.
    pub fn parse_str(name: &str, text: &str) -> Result<ConfigFile, FormatError> {
        let mut cfg = ConfigFile::default();
        cfg.parse_text(Arc::new(PathBuf::from(name)), text, 0)?;
        Ok(cfg)
    }

    fn read_file(
        &mut self,
        path: &Path,
        depth: usize,
        from: Option<&Location>,
    ) -> Result<(), FormatError> {
        let file = Arc::new(path.to_path_buf());
        let text = std::fs::read_to_string(path).map_err(|e| FormatError {
            at: from.cloned().unwrap_or(Location {
                file: Arc::clone(&file),
                line: 0,
            }),
            message: format!("cannot read {}: {e}", path.display()),
        })?;
        self.parse_text(file, &text, depth)
    }

    fn parse_text(
        &mut self,
        file: Arc<PathBuf>,
        text: &str,
        depth: usize,
    ) -> Result<(), FormatError> {
        let mut in_block_comment = false;
        for (i, raw_line) in text.lines().enumerate() {
            let at = Location {
                file: Arc::clone(&file),
                line: i + 1,
            };
            let line = strip_comments(raw_line, &mut in_block_comment);
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            if let Some(directive) = line.strip_prefix('#') {
                self.directive(directive, &at, depth)?;
            } else if line.starts_with('[') {
                self.sections.push(parse_section_header(line, &at)?);
            } else {
                let option = parse_option(line, &at)?;
                match self.sections.last_mut() {
                    Some(section) => section.options.push(option),
                    None => {
                        return Err(FormatError {
                            at,
                            message: format!("option {:?} comes before any [section]", option.key),
                        });
                    }
                }
            }
        }
        if in_block_comment {
            let at = Location {
                file,
                line: text.lines().count(),
            };
            return Err(FormatError {
                at,
                message: "a ;-- comment is never closed with --;".into(),
            });
        }
        Ok(())
    }

    fn directive(
        &mut self,
        directive: &str,
        at: &Location,
        depth: usize,
    ) -> Result<(), FormatError> {
        let (word, arg) = directive
            .split_once(char::is_whitespace)
            .unwrap_or((directive, ""));
        let arg = arg.trim().trim_matches('"');
        match word {
            "include" | "tryinclude" => {
                if depth >= MAX_INCLUDE_DEPTH {
                    return Err(FormatError {
                        at: at.clone(),
                        message: format!(
                            "#include nested deeper than {MAX_INCLUDE_DEPTH} (a loop?)"
                        ),
                    });
                }
                let base = at.file.parent().unwrap_or(Path::new(""));
                let path = base.join(arg);
                if word == "tryinclude" && !path.exists() {
                    return Ok(());
                }
                self.read_file(&path, depth + 1, Some(at))
            }
            "exec" => {
                self.warnings
                    .push((at.clone(), "#exec is not supported and was ignored".into()));
                Ok(())
            }
            other => Err(FormatError {
                at: at.clone(),
                message: format!("unknown directive #{other}"),
            }),
        }
    }

    /// The sections that are not templates, each with the options of what
    /// it inherits first (depth-first, in the order named) and its own
    /// after, so that its own options win where a value may appear once.
    pub fn resolved(&self) -> Result<Vec<RawSection>, FormatError> {
        self.sections
            .iter()
            .filter(|s| !s.is_template)
            .map(|s| {
                let mut options = Vec::new();
                self.collect(s, &mut options, &mut Vec::new())?;
                Ok(RawSection {
                    options,
                    ..s.clone()
                })
            })
            .collect()
    }

    fn collect<'a>(
        &'a self,
        section: &'a RawSection,
        out: &mut Vec<RawOption>,
        chain: &mut Vec<&'a str>,
    ) -> Result<(), FormatError> {
        if chain.contains(&section.name.as_str()) {
            return Err(FormatError {
                at: section.at.clone(),
                message: format!("section [{}] inherits from itself", section.name),
            });
        }
        chain.push(&section.name);
        for parent in &section.inherits {
            // The last definition before use wins, as in Asterisk.
            let Some(p) = self.sections.iter().rev().find(|s| &s.name == parent) else {
                return Err(FormatError {
                    at: section.at.clone(),
                    message: format!(
                        "[{}] inherits from [{parent}], which does not exist",
                        section.name
                    ),
                });
            };
            self.collect(p, out, chain)?;
        }
        chain.pop();
        out.extend(section.options.iter().cloned());
        Ok(())
    }
}

/// Removes `;` comments (keeping `\;` as a literal `;`) and `;-- --;`
/// block comments, which may span lines.
fn strip_comments(line: &str, in_block: &mut bool) -> String {
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    loop {
        if *in_block {
            match rest.find("--;") {
                Some(end) => {
                    *in_block = false;
                    rest = &rest[end + 3..];
                }
                None => return out,
            }
        }
        let mut chars = rest.char_indices().peekable();
        let mut cut = None;
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' if chars.peek().map(|&(_, n)| n) == Some(';') => {
                    chars.next();
                    out.push(';');
                }
                ';' => {
                    cut = Some(i);
                    break;
                }
                c => out.push(c),
            }
        }
        match cut {
            None => return out,
            Some(i) if rest[i..].starts_with(";--") => {
                *in_block = true;
                rest = &rest[i + 3..];
            }
            Some(_) => return out,
        }
    }
}

fn parse_section_header(line: &str, at: &Location) -> Result<RawSection, FormatError> {
    let bad = |message: String| FormatError {
        at: at.clone(),
        message,
    };
    let close = line
        .find(']')
        .ok_or_else(|| bad(format!("{line:?} has no closing ]")))?;
    let name = line[1..close].trim();
    if name.is_empty() {
        return Err(bad("empty section name []".into()));
    }
    let mut section = RawSection {
        name: name.to_string(),
        at: at.clone(),
        is_template: false,
        inherits: Vec::new(),
        options: Vec::new(),
    };
    let rest = line[close + 1..].trim();
    if rest.is_empty() {
        return Ok(section);
    }
    let inner = rest
        .strip_prefix('(')
        .and_then(|r| r.strip_suffix(')'))
        .ok_or_else(|| bad(format!("unexpected {rest:?} after [{name}]")))?;
    for item in inner.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        match item {
            "!" => section.is_template = true,
            "+" => {
                return Err(bad(format!(
                    "[{name}](+) (adding to an earlier section) is not supported"
                )));
            }
            parent => section.inherits.push(parent.to_string()),
        }
    }
    Ok(section)
}

fn parse_option(line: &str, at: &Location) -> Result<RawOption, FormatError> {
    let (key, value) = match (line.find("=>"), line.find('=')) {
        (Some(arrow), Some(eq)) if arrow <= eq => (&line[..arrow], &line[arrow + 2..]),
        (_, Some(eq)) => (&line[..eq], &line[eq + 1..]),
        _ => {
            return Err(FormatError {
                at: at.clone(),
                message: format!("{line:?} is not of the form option = value"),
            });
        }
    };
    let key = key.trim();
    if key.is_empty() {
        return Err(FormatError {
            at: at.clone(),
            message: format!("{line:?} has no option name"),
        });
    }
    Ok(RawOption {
        key: key.to_string(),
        value: value.trim().to_string(),
        at: at.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_templates_and_inheritance() {
        let cfg = ConfigFile::parse_str(
            "pjsip.conf",
            "; comment\n[tpl](!)\ntype=endpoint\ncontext = from-tpl ; trailing\n\n[other](!)\nallow=ulaw\n\n[alice](tpl,other)\ncontext=own\nallow => alaw\n",
        )
        .unwrap();
        assert_eq!(cfg.sections.len(), 3);
        let resolved = cfg.resolved().unwrap();
        assert_eq!(resolved.len(), 1);
        let alice = &resolved[0];
        let kv: Vec<_> = alice
            .options
            .iter()
            .map(|o| (o.key.as_str(), o.value.as_str()))
            .collect();
        assert_eq!(
            kv,
            [
                ("type", "endpoint"),
                ("context", "from-tpl"),
                ("allow", "ulaw"),
                ("context", "own"),
                ("allow", "alaw")
            ]
        );
        assert_eq!(alice.options[3].at.line, 10);
    }

    #[test]
    fn comments_and_escapes() {
        let cfg = ConfigFile::parse_str(
            "c.conf",
            "[s]\na = x\\;y ; real comment\n;-- block\nb = hidden\n--; c = after\nd = 1 ;-- inline --; \n",
        )
        .unwrap();
        let kv: Vec<_> = cfg.sections[0]
            .options
            .iter()
            .map(|o| (o.key.clone(), o.value.clone()))
            .collect();
        assert_eq!(
            kv,
            [
                ("a".into(), "x;y".into()),
                ("c".into(), "after".into()),
                ("d".into(), "1".into())
            ]
        );
    }

    #[test]
    fn format_errors_name_file_and_line() {
        for (text, want) in [
            ("a=1\n", "c.conf:1: option \"a\" comes before any [section]"),
            (
                "[s]\njunk\n",
                "c.conf:2: \"junk\" is not of the form option = value",
            ),
            ("[s\n", "c.conf:1: \"[s\" has no closing ]"),
            (
                "[s](tpl)\n",
                "c.conf:1: [s] inherits from [tpl], which does not exist",
            ),
            ("[a](b)\n[b](a)\n", "inherits from itself"),
            ("[s]\n#bogus x\n", "c.conf:2: unknown directive #bogus"),
            ("[s]\n;-- open\n", "never closed"),
            ("[s](+)\n", "not supported"),
        ] {
            let err = ConfigFile::parse_str("c.conf", text).and_then(|c| c.resolved().map(|_| c));
            let msg = err.unwrap_err().to_string();
            assert!(msg.contains(want), "{text:?}: {msg}");
        }
    }

    #[test]
    fn includes_resolve_relative_to_the_including_file() {
        let dir = std::env::temp_dir().join(format!("sipjet-conf-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        std::fs::write(
            dir.join("main.conf"),
            "[a]\nx=1\n#include \"sub/more.conf\"\n#tryinclude missing.conf\n",
        )
        .unwrap();
        std::fs::write(
            dir.join("sub/more.conf"),
            "[b]\ny=2\n#include deeper.conf\n",
        )
        .unwrap();
        std::fs::write(dir.join("sub/deeper.conf"), "[c]\nz=3\n").unwrap();
        let cfg = ConfigFile::load(&dir.join("main.conf")).unwrap();
        let names: Vec<_> = cfg.sections.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["a", "b", "c"]);
        assert!(cfg.sections[2].at.file.ends_with("sub/deeper.conf"));
        std::fs::write(dir.join("loop.conf"), "#include loop.conf\n").unwrap();
        assert!(
            ConfigFile::load(&dir.join("loop.conf"))
                .unwrap_err()
                .to_string()
                .contains("deeper than")
        );
        let missing = ConfigFile::load(&dir.join("nope.conf")).unwrap_err();
        assert!(missing.to_string().contains("cannot read"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
