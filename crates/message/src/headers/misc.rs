//! Small headers: numbers (Expires, Min-Expires, Max-Forwards,
//! Retry-After), token lists (Allow, Supported, Require), Date and Warning.

use crate::error::{SyntaxError, excerpt};
use crate::lex::{is_lws, is_token, trim_lws};
use crate::params::Params;

/// `delta-seconds`: a 32-bit count of seconds (Expires, Min-Expires).
pub fn parse_delta_seconds(s: &str) -> Result<u32, SyntaxError> {
    crate::lex::parse_decimal(trim_lws(s), u64::from(u32::MAX), "value").map(|v| v as u32)
}

/// Call-ID: `word ["@" word]`, which is any non-empty text without white
/// space or control characters.
pub fn check_call_id(v: &str) -> Result<(), SyntaxError> {
    if v.is_empty() || v.bytes().any(|b| b <= b' ' || b == 0x7f) {
        Err(SyntaxError::new("value is empty or contains white space"))
    } else {
        Ok(())
    }
}

/// Max-Forwards: 0 to 255 (RFC 4475 §3.1.2.4 calls anything larger overlarge).
pub fn parse_max_forwards(s: &str) -> Result<u8, SyntaxError> {
    crate::lex::parse_decimal(trim_lws(s), 255, "value").map(|v| v as u8)
}

/// `Retry-After: 120 (comment);duration=60` (RFC 3261 §20.33).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryAfter<'a> {
    /// Seconds to wait.
    pub seconds: u32,
    /// The comment without its parentheses.
    pub comment: Option<&'a str>,
    /// Parameters such as `duration`.
    pub params: Params<'a>,
}

impl<'a> RetryAfter<'a> {
    /// Parses a Retry-After value.
    pub fn parse(s: &'a str) -> Result<RetryAfter<'a>, SyntaxError> {
        let s = trim_lws(s);
        let digits = s.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(SyntaxError::owned(format!(
                "{:?} is not a number of seconds",
                excerpt(s)
            )));
        }
        let seconds = crate::lex::parse_decimal(&s[..digits], u64::from(u32::MAX), "value")? as u32;
        let mut rest = trim_lws(&s[digits..]);
        let mut comment = None;
        if rest.starts_with('(') {
            let close = rest
                .find(')')
                .ok_or(SyntaxError::new("comment without a closing \")\""))?;
            comment = Some(&rest[1..close]);
            rest = trim_lws(&rest[close + 1..]);
        }
        let params = Params::new(rest);
        params.check()?;
        Ok(RetryAfter {
            seconds,
            comment,
            params,
        })
    }
}

/// Iterator over a comma-separated token list; empty elements are skipped
/// (a bare `Supported:` is valid).
pub(crate) fn check_token_list(s: &str) -> Result<(), SyntaxError> {
    for item in s.split(',').map(trim_lws).filter(|t| !t.is_empty()) {
        if !is_token(item) {
            return Err(SyntaxError::owned(format!(
                "{:?} is not a token",
                excerpt(item)
            )));
        }
    }
    Ok(())
}

/// RFC 1123 date as SIP requires it: `Sat, 13 Nov 2010 23:29:00 GMT`.
pub fn check_date(s: &str) -> Result<(), SyntaxError> {
    let s = trim_lws(s);
    let bad = || SyntaxError::owned(format!("{:?} is not an RFC 1123 date in GMT", excerpt(s)));
    let parts: Vec<&str> = s.split(' ').collect();
    let [wkday, day, month, year, time, zone] = parts.as_slice() else {
        return Err(bad());
    };
    let wk_ok = wkday
        .strip_suffix(',')
        .is_some_and(|w| ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"].contains(&w));
    let month_ok = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ]
    .contains(month);
    let digits = |t: &str, n: usize| t.len() == n && t.bytes().all(|c| c.is_ascii_digit());
    let time_ok = time.split(':').count() == 3 && time.split(':').all(|t| digits(t, 2));
    if wk_ok && digits(day, 2) && month_ok && digits(year, 4) && time_ok && *zone == "GMT" {
        Ok(())
    } else {
        Err(bad())
    }
}

/// Warning values: `warn-code SP warn-agent SP warn-text` with a
/// three-digit code (RFC 3261 §20.43).
pub fn check_warning(s: &str) -> Result<(), SyntaxError> {
    for item in crate::lex::CommaList::new(s) {
        let item = item?;
        let code_len = item.bytes().take_while(u8::is_ascii_digit).count();
        if code_len != 3 || !item[code_len..].bytes().next().is_some_and(is_lws) {
            return Err(SyntaxError::owned(format!(
                "warn-code of {:?} is not three digits",
                excerpt(item)
            )));
        }
        let rest = trim_lws(&item[3..]);
        let Some(sp) = rest.bytes().position(is_lws) else {
            return Err(SyntaxError::new("warning has no warn-text"));
        };
        let text = trim_lws(&rest[sp..]);
        if !(text.starts_with('"') && crate::lex::quoted_end(text)? == text.len()) {
            return Err(SyntaxError::new("warn-text is not a quoted string"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        assert_eq!(parse_delta_seconds(" 3600 ").unwrap(), 3600);
        assert!(parse_delta_seconds("10000000000000000000000").is_err());
        assert_eq!(parse_max_forwards("0068").unwrap(), 68);
        assert!(parse_max_forwards("300").is_err());
    }

    #[test]
    fn retry_after() {
        let r = RetryAfter::parse("18000;duration=3600").unwrap();
        assert_eq!(r.seconds, 18000);
        assert_eq!(r.params.value("duration"), Some("3600"));
        let r = RetryAfter::parse("120 (I'm in a meeting)").unwrap();
        assert_eq!(r.comment, Some("I'm in a meeting"));
        assert!(RetryAfter::parse("949302838503028349304023988").is_err());
        assert!(RetryAfter::parse("soon").is_err());
    }

    #[test]
    fn dates_and_warnings() {
        assert!(check_date("Sat, 13 Nov 2010 23:29:00 GMT").is_ok());
        assert!(check_date("Fri, 01 Jan 2010 16:00:00 EST").is_err());
        assert!(check_date("yesterday").is_err());
        assert!(check_warning("307 isi.edu \"Session parameter 'foo' not understood\"").is_ok());
        assert!(check_warning("1812 overture \"In Progress\"").is_err());
        assert!(check_token_list("100rel, timer,,path").is_ok());
        assert!(check_token_list("a b").is_err());
    }
}
