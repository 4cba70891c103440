//! Extension patterns and the order Asterisk tries them in.
//!
//! An extension is either a plain string (`100`, `s`) or, starting with
//! `_`, a pattern: `X` is any digit, `Z` 1–9, `N` 2–9, `[15-7]` one of a
//! set (ranges allowed), `.` one or more characters of anything, `!` zero
//! or more; any other character stands for itself, `-` and spaces are
//! ignored (`_555-1XXX`).
//!
//! Order, as Asterisk's `ext_cmp` sorts a context: plain extensions
//! before patterns, then patterns compared position by position by how
//! many characters each position admits (a literal 1, `N` 8, `Z` 9, `X`
//! 10, a set its size), fewer first, ties broken by the smallest character
//! admitted, then by the sets as strings (`[12]` before `[13]`); `.` ranks
//! after every set, `!` after `.`, and the end of a
//! pattern after everything, so `_1XX` comes before `_1X.` and `_NXX`
//! before `_XXX`. The first extension in this order that matches a number
//! is the one its call runs.

use std::cmp::Ordering;

/// A set of bytes, as a bitmap (bit `c % 8` of byte `c / 8`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct CharSet([u8; 32]);

impl CharSet {
    fn empty() -> CharSet {
        CharSet([0; 32])
    }

    fn insert(&mut self, c: u8) {
        self.0[usize::from(c / 8)] |= 1 << (c % 8);
    }

    fn range(from: u8, to: u8) -> CharSet {
        let mut s = CharSet::empty();
        for c in from..=to {
            s.insert(c);
        }
        s
    }

    fn contains(&self, c: u8) -> bool {
        self.0[usize::from(c / 8)] & (1 << (c % 8)) != 0
    }

    fn count(&self) -> u32 {
        self.0.iter().map(|b| b.count_ones()).sum()
    }

    fn min(&self) -> u32 {
        (0..=255u8).find(|&c| self.contains(c)).map_or(0, u32::from)
    }
}

/// One position of a pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Element {
    /// Exactly one character of the set.
    One(CharSet),
    /// `.`: one or more characters, whatever they are.
    OneOrMore,
    /// `!`: zero or more.
    ZeroOrMore,
}

impl Element {
    /// Asterisk's score of a position: lower sorts first; equal scores
    /// are told apart by the sets themselves.
    fn score(element: Option<&Element>) -> (u32, [u8; 32]) {
        match element {
            // Asterisk's bitmaps put the lowest character of each byte in
            // its highest bit, which makes the tie-break string order.
            Some(Element::One(set)) => (set.count() << 8 | set.min(), set.0.map(u8::reverse_bits)),
            Some(Element::OneOrMore) => (0x18000, [0; 32]),
            Some(Element::ZeroOrMore) => (0x28000, [0; 32]),
            None => (0x30000, [0; 32]),
        }
    }
}

/// Why a pattern is not one.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PatternError {
    /// `[` without `]`.
    #[error("a [ in {0:?} is never closed")]
    Unclosed(String),
    /// `[]`.
    #[error("{0:?} has an empty [ ] set")]
    EmptySet(String),
    /// Nothing after `_`.
    #[error("the pattern {0:?} is empty")]
    Empty(String),
    /// `.` or `!` not at the end: what follows them is never looked at.
    #[error("in {0:?} nothing may follow . or !")]
    AfterWildcard(String),
}

/// An extension: a plain name or a pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pattern {
    /// As written.
    text: String,
    /// `None` for a plain extension.
    elements: Option<Vec<Element>>,
}

impl Pattern {
    /// Parses an extension as written after `exten =>`.
    pub fn parse(text: &str) -> Result<Pattern, PatternError> {
        let Some(body) = text.strip_prefix('_') else {
            return Ok(Pattern {
                text: text.to_string(),
                elements: None,
            });
        };
        let err = || text.to_string();
        let mut elements = Vec::new();
        let mut bytes = body.bytes().peekable();
        while let Some(c) = bytes.next() {
            if matches!(
                elements.last(),
                Some(Element::OneOrMore | Element::ZeroOrMore)
            ) {
                return Err(PatternError::AfterWildcard(err()));
            }
            let element = match c.to_ascii_uppercase() {
                b'-' | b' ' => continue,
                b'X' => Element::One(CharSet::range(b'0', b'9')),
                b'Z' => Element::One(CharSet::range(b'1', b'9')),
                b'N' => Element::One(CharSet::range(b'2', b'9')),
                b'.' => Element::OneOrMore,
                b'!' => Element::ZeroOrMore,
                b'[' => {
                    let mut set = CharSet::empty();
                    let mut closed = false;
                    let mut prev: Option<u8> = None;
                    while let Some(c) = bytes.next() {
                        match c {
                            b']' => {
                                closed = true;
                                break;
                            }
                            b'-' if prev.is_some() && bytes.peek().is_some_and(|&n| n != b']') => {
                                let from = prev.take().unwrap_or(b'-');
                                let to = bytes.next().unwrap_or(from);
                                let (lo, hi) = if from <= to { (from, to) } else { (to, from) };
                                for c in lo..=hi {
                                    set.insert(c);
                                }
                            }
                            c => {
                                set.insert(c);
                                prev = Some(c);
                            }
                        }
                    }
                    if !closed {
                        return Err(PatternError::Unclosed(err()));
                    }
                    if set.count() == 0 {
                        return Err(PatternError::EmptySet(err()));
                    }
                    Element::One(set)
                }
                _ => {
                    let mut set = CharSet::empty();
                    set.insert(c);
                    Element::One(set)
                }
            };
            elements.push(element);
        }
        if elements.is_empty() {
            return Err(PatternError::Empty(err()));
        }
        Ok(Pattern {
            text: text.to_string(),
            elements: Some(elements),
        })
    }

    /// As written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// True for a `_` pattern.
    pub fn is_pattern(&self) -> bool {
        self.elements.is_some()
    }

    /// True when the dialled `number` runs this extension.
    pub fn matches(&self, number: &str) -> bool {
        let Some(elements) = &self.elements else {
            return plain(&self.text).eq(plain(number));
        };
        let mut rest = number.bytes().filter(|&c| c != b'-' && c != b' ');
        for element in elements {
            match element {
                Element::One(set) => match rest.next() {
                    Some(c) if set.contains(c) => {}
                    _ => return false,
                },
                Element::OneOrMore => return rest.next().is_some(),
                Element::ZeroOrMore => return true,
            }
        }
        rest.next().is_none()
    }
}

/// A plain extension's characters, `-` and spaces left out as Asterisk
/// compares them.
fn plain(s: &str) -> impl Iterator<Item = u8> + '_ {
    s.bytes().filter(|&c| c != b'-' && c != b' ')
}

impl Ord for Pattern {
    fn cmp(&self, other: &Pattern) -> Ordering {
        match (&self.elements, &other.elements) {
            (None, None) => plain(&self.text).cmp(plain(&other.text)),
            (None, Some(_)) => Ordering::Less,
            (Some(_), None) => Ordering::Greater,
            (Some(left), Some(right)) => {
                for i in 0.. {
                    let (l, lbits) = Element::score(left.get(i));
                    let (r, rbits) = Element::score(right.get(i));
                    // Equal scores: Asterisk compares the bitmaps the
                    // other way round (its memcmp of right against left).
                    let order = l.cmp(&r).then_with(|| rbits.cmp(&lbits));
                    if order != Ordering::Equal || (left.get(i).is_none() && right.get(i).is_none())
                    {
                        return order;
                    }
                }
                Ordering::Equal
            }
        }
    }
}

impl PartialOrd for Pattern {
    fn partial_cmp(&self, other: &Pattern) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Pattern {
        Pattern::parse(s).unwrap()
    }

    #[test]
    fn patterns_match_what_asterisk_documents() {
        assert!(p("_XXX").matches("123"));
        assert!(!p("_XXX").matches("12"));
        assert!(!p("_XXX").matches("1234"));
        assert!(p("_NXX").matches("200") && !p("_NXX").matches("100"));
        assert!(p("_ZX").matches("10") && !p("_ZX").matches("01"));
        assert!(p("_9.").matches("91") && !p("_9.").matches("9"));
        assert!(p("_9!").matches("9") && p("_9!").matches("9123"));
        assert!(p("_[1-35]X").matches("30") && p("_[1-35]X").matches("51"));
        assert!(!p("_[1-35]X").matches("40"));
        assert!(p("_555-1XXX").matches("5551234"));
        assert!(p("_nxx").matches("299"), "letters in either case");
        assert!(p("_+49.").matches("+4930"));
        assert!(p("100").matches("100") && !p("100").matches("1000"));
        assert!(p("555-1234").matches("5551234"));
        assert!(!p("_X.").matches(""), ". wants at least one character");
    }

    #[test]
    fn malformed_patterns_are_refused() {
        assert!(matches!(
            Pattern::parse("_[12"),
            Err(PatternError::Unclosed(_))
        ));
        assert!(matches!(
            Pattern::parse("_[]"),
            Err(PatternError::EmptySet(_))
        ));
        assert!(matches!(Pattern::parse("_"), Err(PatternError::Empty(_))));
        assert!(matches!(
            Pattern::parse("_9.1"),
            Err(PatternError::AfterWildcard(_))
        ));
    }

    #[test]
    fn the_order_is_asterisks() {
        let mut list: Vec<Pattern> = [
            "_X!", "_X.", "_XXX", "_NXX", "_1XX", "_[12]XX", "_[13]XX", "_ZXX", "200", "_2XX",
            "_XX", "100",
        ]
        .into_iter()
        .map(p)
        .collect();
        list.sort();
        let sorted: Vec<&str> = list.iter().map(Pattern::as_str).collect();
        assert_eq!(
            sorted,
            [
                // Plain extensions first, in string order.
                "100", "200", //
                // A literal first position (1 character) before sets;
                // among literals the smaller character first.
                "_1XX", "_2XX", //
                // Two-character sets: [12] and [13] have the same score
                // (2 members, smallest '1'); as strings, "12" comes first.
                "_[12]XX", "_[13]XX", //
                // N (8) before Z (9) before X (10).
                "_NXX", "_ZXX", //
                // At the third position X ranks before the end of _XX,
                // and every set before . and !.
                "_XXX", "_XX", "_X.", "_X!",
            ]
        );
    }

    #[test]
    fn the_documented_example_sorts_as_asterisk_shows() {
        // Asterisk's "Order of Pattern Matching" example.
        let mut list: Vec<Pattern> = [
            "_6XX1", "_64XX", "_640X", "_6.", "_64NX", "_6[45]NX", "_6[34]NX",
        ]
        .into_iter()
        .map(p)
        .collect();
        list.sort();
        let sorted: Vec<&str> = list.iter().map(Pattern::as_str).collect();
        assert_eq!(
            sorted,
            [
                "_640X", "_64NX", "_64XX", "_6[34]NX", "_6[45]NX", "_6XX1", "_6."
            ]
        );
        assert_eq!(
            list.iter().find(|x| x.matches("6421")).map(Pattern::as_str),
            Some("_64NX")
        );
        // Sets of one size and one smallest character, as strings; and
        // [0-4] before [4-8].
        let mut sets: Vec<Pattern> = ["_[4-8]", "_[0-4]", "_[13]", "_[12]"]
            .into_iter()
            .map(p)
            .collect();
        sets.sort();
        let sorted: Vec<&str> = sets.iter().map(Pattern::as_str).collect();
        assert_eq!(sorted, ["_[12]", "_[13]", "_[0-4]", "_[4-8]"]);
    }

    #[test]
    fn the_first_match_in_order_is_the_most_specific() {
        let mut list: Vec<Pattern> = ["_X.", "_1XX", "_NXX", "123"].into_iter().map(p).collect();
        list.sort();
        let first = |n: &str| list.iter().find(|x| x.matches(n)).map(Pattern::as_str);
        assert_eq!(first("123"), Some("123"));
        assert_eq!(first("124"), Some("_1XX"));
        assert_eq!(first("224"), Some("_NXX"));
        assert_eq!(first("0049"), Some("_X."));
        assert_eq!(first(""), None);
    }
}
