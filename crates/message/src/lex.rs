//! Character classes and small scanners shared by every parser in this crate.
//!
//! SIP header values may be folded over several lines: a line break inside
//! a value is followed by SP or HT. The line splitter breaks lines at LF
//! only, so a value can also hold a CR that ends no line; validation
//! refuses it ([`check_controls`]), and every scanner here may then treat
//! CR and LF as plain linear white space (LWS).

use std::borrow::Cow;

use crate::error::SyntaxError;

/// Character classes, one bit each, looked up in [`CLASS`]: every scanner
/// of this crate runs once per received byte, so a table beats a chain of
/// comparisons.
pub(crate) mod class {
    /// `token` of RFC 3261 §25.1.
    pub const TOKEN: u8 = 1;
    /// Host names: alphanumerics, `-`, `.`, `_`.
    pub const HOST: u8 = 2;
    /// Unescaped in a SIP URI user part (unreserved / user-unreserved / `%`).
    pub const USER: u8 = 4;
    /// Unescaped in a SIP URI password (unreserved / `&=+$,` / `%`).
    pub const PASSWORD: u8 = 8;
    /// Unescaped in SIP URI parameters and headers (paramchar,
    /// hnv-unreserved, and the `;=&?` that separate them).
    pub const URI_PARAM: u8 = 16;
    /// Linear white space inside a framed header value.
    pub const LWS: u8 = 32;
    /// `.`
    pub const DOT: u8 = 64;
    /// Host characters other than digits and `.` (an IPv4 address has none).
    pub const NON_NUMERIC: u8 = 128;
}

const fn byte_class(b: u8) -> u8 {
    let alnum = b.is_ascii_alphanumeric();
    let mark = matches!(
        b,
        b'-' | b'_' | b'.' | b'!' | b'~' | b'*' | b'\'' | b'(' | b')'
    );
    let mut c = 0;
    if alnum
        || matches!(
            b,
            b'-' | b'.' | b'!' | b'%' | b'*' | b'_' | b'+' | b'`' | b'\'' | b'~'
        )
    {
        c |= class::TOKEN;
    }
    if alnum || matches!(b, b'-' | b'.' | b'_') {
        c |= class::HOST;
    }
    if alnum
        || mark
        || matches!(
            b,
            b'&' | b'=' | b'+' | b'$' | b',' | b';' | b'?' | b'/' | b'%'
        )
    {
        c |= class::USER;
    }
    if alnum || mark || matches!(b, b'&' | b'=' | b'+' | b'$' | b',' | b'%') {
        c |= class::PASSWORD;
    }
    if alnum
        || mark
        || matches!(
            b,
            b'[' | b']' | b'/' | b':' | b'&' | b'+' | b'$' | b'%' | b'=' | b';' | b'?'
        )
    {
        c |= class::URI_PARAM;
    }
    if matches!(b, b' ' | b'\t' | b'\r' | b'\n') {
        c |= class::LWS;
    }
    if b == b'.' {
        c |= class::DOT;
    }
    if (alnum || matches!(b, b'-' | b'_')) && !b.is_ascii_digit() {
        c |= class::NON_NUMERIC;
    }
    c
}

/// The class bits of every byte value.
pub(crate) static CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = byte_class(i as u8);
        i += 1;
    }
    t
};

/// True when byte `b` is in class `c`.
#[inline(always)]
pub(crate) fn is(b: u8, c: u8) -> bool {
    CLASS[b as usize] & c != 0
}

/// Number of leading bytes of `s` in class `c`.
#[inline]
pub(crate) fn span(s: &[u8], c: u8) -> usize {
    s.iter().position(|&b| !is(b, c)).unwrap_or(s.len())
}

/// `token` characters of RFC 3261 §25.1: alphanumerics and `-.!%*_+`'~`.
#[inline(always)]
pub(crate) fn is_token_byte(b: u8) -> bool {
    is(b, class::TOKEN)
}

/// Linear white space as it appears inside an already framed header value.
#[inline(always)]
pub(crate) fn is_lws(b: u8) -> bool {
    is(b, class::LWS)
}

/// True when `s` is a non-empty `token`.
pub(crate) fn is_token(s: &str) -> bool {
    !s.is_empty() && span(s.as_bytes(), class::TOKEN) == s.len()
}

/// Removes leading and trailing LWS.
#[inline]
pub(crate) fn trim_lws(s: &str) -> &str {
    let b = s.as_bytes();
    let start = span(b, class::LWS);
    let end = b.iter().rposition(|&c| !is_lws(c)).map_or(start, |i| i + 1);
    // Both ends sit next to ASCII bytes, so on character boundaries.
    &s[start..end.max(start)]
}

/// Removes leading LWS.
#[inline]
pub(crate) fn trim_lws_start(s: &str) -> &str {
    &s[span(s.as_bytes(), class::LWS)..]
}

/// Given `s` starting with `"`, returns the index just past the closing quote.
/// Backslash escapes the next byte (RFC 3261 `quoted-pair`).
pub(crate) fn quoted_end(s: &str) -> Result<usize, SyntaxError> {
    let b = s.as_bytes();
    debug_assert_eq!(b.first(), Some(&b'"'));
    let mut i = 1;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'"' => return Ok(i + 1),
            _ => i += 1,
        }
    }
    Err(SyntaxError::new("unterminated quoted string"))
}

/// Strips the quotes of a quoted string and resolves its `quoted-pair`s.
/// A value that is not quoted is returned unchanged.
pub fn unquote(s: &str) -> Cow<'_, str> {
    let Some(inner) = s.strip_prefix('"').and_then(|r| r.strip_suffix('"')) else {
        return Cow::Borrowed(s);
    };
    if !inner.contains('\\') {
        return Cow::Borrowed(inner);
    }
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(n) = chars.next() {
                out.push(n);
            }
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// A header value on one line (RFC 3261 §7.3.1): each line break, with
/// the white space on both sides of it, becomes a single SP, which means
/// the same. A parsed message keeps a folded value as it came, line breaks
/// included, and the builders refuse line breaks in a value, so a value
/// copied from a received message into a new one goes through here.
/// White space away from a line break is kept as it is.
///
/// ```
/// use sipjet_message::unfold;
///
/// assert_eq!(unfold("Alice \r\n\t<sip:alice@atlanta.com>"), "Alice <sip:alice@atlanta.com>");
/// assert_eq!(unfold("two  spaces"), "two  spaces");
/// ```
pub fn unfold(value: &str) -> Cow<'_, str> {
    const BREAK: [char; 2] = ['\r', '\n'];
    if !value.contains(BREAK) {
        return Cow::Borrowed(value);
    }
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(at) = rest.find(BREAK) {
        out.push_str(rest[..at].trim_end_matches([' ', '\t']));
        out.push(' ');
        rest = rest[at..].trim_start_matches(['\r', '\n', ' ', '\t']);
    }
    out.push_str(rest);
    Cow::Owned(out)
}

/// Writes `s` as a quoted string, escaping `"` and `\`.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// Finds the first `delim` in `s` that is outside quoted strings and
/// outside `<...>`. Used to split header values at `,` and parameters at `;`.
pub(crate) fn find_top_level(s: &str, delim: u8) -> Result<Option<usize>, SyntaxError> {
    let b = s.as_bytes();
    let mut i = 0;
    while let Some(off) = memchr::memchr3(delim, b'"', b'<', &b[i..]) {
        i += off;
        match b[i] {
            c if c == delim => return Ok(Some(i)),
            b'"' => i += quoted_end(&s[i..])?,
            _ => match memchr::memchr(b'>', &b[i..]) {
                Some(end) => i += end + 1,
                None => return Err(SyntaxError::new("\"<\" without a matching \">\"")),
            },
        }
    }
    Ok(None)
}

/// Iterator over the comma-separated elements of a header value, each
/// trimmed of LWS. Commas inside quoted strings and `<...>` do not split.
/// An unbalanced quote or angle bracket yields an error and ends iteration.
#[derive(Clone, Debug)]
pub struct CommaList<'a> {
    rest: Option<&'a str>,
}

impl<'a> CommaList<'a> {
    pub(crate) fn new(value: &'a str) -> Self {
        CommaList { rest: Some(value) }
    }
}

impl<'a> Iterator for CommaList<'a> {
    type Item = Result<&'a str, SyntaxError>;

    fn next(&mut self) -> Option<Self::Item> {
        let rest = self.rest?;
        match find_top_level(rest, b',') {
            Ok(Some(i)) => {
                self.rest = Some(&rest[i + 1..]);
                Some(Ok(trim_lws(&rest[..i])))
            }
            Ok(None) => {
                self.rest = None;
                Some(Ok(trim_lws(rest)))
            }
            Err(e) => {
                self.rest = None;
                Some(Err(e))
            }
        }
    }
}

/// Finds the empty line that ends a header section: the first line end
/// followed directly by CRLF or LF (bare LF line ends are tolerated, as many
/// stacks do). Returns the length of the header section including its last
/// line end, and the offset where the body starts.
pub(crate) fn find_blank_line(buf: &[u8]) -> Option<(usize, usize)> {
    for i in memchr::memchr_iter(b'\n', buf) {
        match buf.get(i + 1) {
            Some(b'\n') => return Some((i + 1, i + 2)),
            Some(b'\r') if buf.get(i + 2) == Some(&b'\n') => return Some((i + 1, i + 3)),
            _ => {}
        }
    }
    None
}

/// Refuses the control characters RFC 3261 §25.1 does not allow in a
/// header value or reason phrase: everything below 0x20 but HTAB, and DEL.
/// A CR or LF may only be part of a line break (a folded value keeps its
/// CRLF, and the next line starts with white space), and any other control
/// character only as a `quoted-pair` (`\` and the character; RFC 4475
/// §3.1.1.2 has a NUL so quoted).
///
/// A CR that ends no line is how a header is smuggled past this server:
/// a peer that splits lines at CR reads what follows it as a header line
/// of its own. A bare NUL ends the value early for a peer that reads C
/// strings.
pub(crate) fn check_controls(s: &str) -> Result<(), SyntaxError> {
    let b = s.as_bytes();
    let is_control = |c: u8| (c < 0x20 && c != b'\t') || c == 0x7f;
    let Some(first) = first_control_or_tab(b) else {
        return Ok(());
    };
    // Whether the byte at `i` is escaped by the backslashes before it.
    let escaped = |i: usize| b[..i].iter().rev().take_while(|&&c| c == b'\\').count() % 2 == 1;
    let mut i = first;
    while i < b.len() {
        match b[i] {
            b'\r' if b.get(i + 1) == Some(&b'\n') => i += 2,
            b'\r' => {
                return Err(SyntaxError::new("a bare CR (one not followed by LF)"));
            }
            b'\n' => i += 1,
            c if is_control(c) && !escaped(i) => {
                return Err(SyntaxError::owned(format!(
                    "the control character {} ({c:#04x}) outside a quoted pair",
                    control_name(c)
                )));
            }
            _ => i += 1,
        }
    }
    Ok(())
}

/// Where the first byte below 0x20 (HTAB, CR and LF included) or DEL is,
/// found eight bytes at a time: the parser finds line ends with it, and
/// notes any other control character on the way.
#[inline]
pub(crate) fn first_control_or_tab(b: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let mut chunks = b.chunks_exact(8);
    let mut at = 0;
    for chunk in &mut chunks {
        let x = u64::from_le_bytes(chunk.try_into().expect("eight bytes"));
        // Each byte on its own: with the high bits cleared no addition
        // carries into the next byte. y + 0x60 stays below 0x80 exactly
        // when y < 0x20, y + 1 reaches 0x80 exactly when y = 0x7f, and
        // `!x` leaves out the bytes of 0x80 and above.
        let y = x & !HIGH;
        let found = (!(y + ONES * 0x60) | (y + ONES)) & !x & HIGH;
        if found != 0 {
            return Some(at + (found.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    chunks
        .remainder()
        .iter()
        .position(|&c| c < 0x20 || c == 0x7f)
        .map(|p| at + p)
}

/// The usual name of a control character, for error messages.
fn control_name(c: u8) -> &'static str {
    const NAMES: [&str; 32] = [
        "NUL", "SOH", "STX", "ETX", "EOT", "ENQ", "ACK", "BEL", "BS", "HT", "LF", "VT", "FF", "CR",
        "SO", "SI", "DLE", "DC1", "DC2", "DC3", "DC4", "NAK", "SYN", "ETB", "CAN", "EM", "SUB",
        "ESC", "FS", "GS", "RS", "US",
    ];
    NAMES.get(usize::from(c)).copied().unwrap_or("DEL")
}

/// Parses an unsigned decimal number, refusing anything above `max`.
/// `what` names the field in the error.
pub(crate) fn parse_decimal(s: &str, max: u64, what: &str) -> Result<u64, SyntaxError> {
    if s.is_empty() {
        return Err(SyntaxError::owned(format!("{what} is empty")));
    }
    let mut v: u64 = 0;
    for b in s.bytes() {
        if !b.is_ascii_digit() {
            return Err(SyntaxError::owned(format!(
                "{what} {:?} is not a number",
                crate::error::excerpt(s)
            )));
        }
        v = match v
            .checked_mul(10)
            .and_then(|v| v.checked_add(u64::from(b - b'0')))
        {
            Some(v) if v <= max => v,
            _ => {
                return Err(SyntaxError::owned(format!(
                    "{what} {} exceeds {max}",
                    crate::error::excerpt(s)
                )));
            }
        };
    }
    Ok(v)
}

/// Decodes `%HH` escapes. Invalid escapes are kept literally; the user
/// part, password, parameters and headers of a SIP URI that
/// [`Uri::parse`](crate::Uri::parse) accepted hold none.
pub fn unescape(s: &str) -> Cow<'_, [u8]> {
    if !s.contains('%') {
        return Cow::Borrowed(s.as_bytes());
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let (Some(h), Some(l)) = (hex_val(b[i + 1]), hex_val(b[i + 2]))
        {
            out.push(h << 4 | l);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    Cow::Owned(out)
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Refuses a `%` that is not followed by two hex digits.
pub(crate) fn check_escapes(s: &str, what: &str) -> Result<(), SyntaxError> {
    let b = s.as_bytes();
    if memchr::memchr(b'%', b).is_none() {
        return Ok(());
    }
    for (i, &c) in b.iter().enumerate() {
        if c == b'%' {
            let ok = b.len() > i + 2 && hex_val(b[i + 1]).is_some() && hex_val(b[i + 2]).is_some();
            if !ok {
                return Err(SyntaxError::owned(format!(
                    "{what} has a \"%\" that is not followed by two hex digits"
                )));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unfold_puts_a_folded_value_on_one_line() {
        assert_eq!(unfold("a,\r\n b"), "a, b");
        assert_eq!(unfold("a,\r\n  b"), "a, b");
        assert_eq!(unfold("0009\r\n  INVITE"), "0009 INVITE");
        assert_eq!(unfold("a  \r\n\tb\r\n c"), "a b c");
        assert_eq!(unfold("a\t\r\n b"), "a b");
        assert_eq!(unfold("a\n b"), "a b");
        assert_eq!(unfold("\r\n b"), " b");
        assert_eq!(unfold("plain  two"), "plain  two");
        assert!(matches!(unfold("plain  two"), Cow::Borrowed(_)));
    }

    #[test]
    fn token_bytes() {
        assert!(is_token("!interesting-Method0123456789_*+`.%indeed'~"));
        assert!(!is_token("a b"));
        assert!(!is_token(""));
        assert!(!is_token("a,b"));
    }

    #[test]
    fn comma_list_respects_quotes_and_angles() {
        let v = r#""a, b" <sip:x@y;p=1,2>, sip:z@w , "q\"," <sip:q@r>"#;
        let items: Vec<_> = CommaList::new(v).map(Result::unwrap).collect();
        assert_eq!(
            items,
            vec![
                r#""a, b" <sip:x@y;p=1,2>"#,
                "sip:z@w",
                r#""q\"," <sip:q@r>"#
            ]
        );
    }

    #[test]
    fn comma_list_reports_unterminated_quote() {
        let mut it = CommaList::new("\"abc, def");
        assert!(it.next().unwrap().is_err());
        assert!(it.next().is_none());
    }

    #[test]
    fn unquote_resolves_pairs() {
        assert_eq!(unquote(r#""J Rosenberg \\\"""#), r#"J Rosenberg \""#);
        assert_eq!(unquote("plain"), "plain");
        assert_eq!(quote(r#"a"b\c"#), r#""a\"b\\c""#);
    }

    #[test]
    fn the_word_scan_finds_the_first_control_byte() {
        let mut bytes: Vec<u8> = (0x20..=0xff).filter(|&c| c != 0x7f).collect();
        assert_eq!(first_control_or_tab(&bytes), None);
        for at in 0..bytes.len() {
            for c in (0..0x20).chain([0x7f]) {
                let saved = bytes[at];
                bytes[at] = c;
                assert_eq!(first_control_or_tab(&bytes), Some(at), "{c:#x} at {at}");
                // A second one further on does not hide the first.
                if at + 3 < bytes.len() {
                    let later = bytes[at + 3];
                    bytes[at + 3] = 0;
                    assert_eq!(first_control_or_tab(&bytes), Some(at));
                    bytes[at + 3] = later;
                }
                bytes[at] = saved;
            }
        }
    }

    #[test]
    fn control_characters() {
        for ok in [
            "plain value",
            "tab\there",
            "folded,\r\n second line",
            "bare-LF fold,\n second line",
            "\"BEL:\\\u{7} NUL:\\\u{0} DEL:\\\u{7f}\" <sip:a@b>",
            "caf\u{e9}",
        ] {
            assert_eq!(check_controls(ok), Ok(()), "{ok:?}");
        }
        for (bad, want) in [
            ("hi\rP-Asserted-Identity: <sip:ceo@bank.example>", "bare CR"),
            ("ends in CR\r", "bare CR"),
            ("folded\r\n then\r bare", "bare CR"),
            ("a\u{0}b", "NUL (0x00)"),
            ("escaped\\\\\u{0}", "NUL (0x00)"),
            ("esc\u{1b}[31m", "ESC (0x1b)"),
            ("del\u{7f}", "DEL (0x7f)"),
            // A quoted pair cannot hold a CR (RFC 3261 §25.1).
            ("\"a\\\rb\"", "bare CR"),
        ] {
            let err = check_controls(bad).unwrap_err().to_string();
            assert!(err.contains(want), "{bad:?}: {err}");
        }
    }

    #[test]
    fn decimal_bounds() {
        assert_eq!(parse_decimal("0068", 255, "x").unwrap(), 68);
        assert!(
            parse_decimal("300", 255, "Max-Forwards")
                .unwrap_err()
                .to_string()
                .contains("exceeds 255")
        );
        assert!(parse_decimal("36893488147419103232", u64::from(u32::MAX), "n").is_err());
        assert!(
            parse_decimal("-1", 10, "n")
                .unwrap_err()
                .to_string()
                .contains("not a number")
        );
    }

    #[test]
    fn unescape_decodes() {
        assert_eq!(&*unescape("%61lice%2"), b"alice%2");
        assert_eq!(&*unescape("null-%00-"), b"null-\0-");
        assert!(check_escapes("a%2", "user").is_err());
        assert!(check_escapes("a%2f", "user").is_ok());
    }
}
