//! A held response, packed against what is at hand when it is needed
//! again.
//!
//! A response is mostly text the server has already seen or sent: its
//! Via, From, To, Call-ID and CSeq are the request's, and its status line,
//! Date, Server and the rest repeat from one response to the next. When a
//! retransmission arrives, the request is at hand again (a retransmission
//! is the same bytes), so a held response keeps only what neither the
//! request nor a recent response (the *template*) already says: runs of
//! new bytes, and references to runs of the dictionary `template ++
//! request`. A 200 to a REGISTER packs to under a sixth of its size (its
//! new To tag, `received`/`rport` values and a few references; see the
//! tests).
//!
//! The format is a sequence of tokens: a byte `0..=0x7f` is followed by
//! that many plus one literal bytes; a byte `0x80 | (n - 4)` copies `n`
//! bytes (4 to 131) from the dictionary at the little-endian `u16` that
//! follows. Matches are found greedily through a table of the last place
//! each 4-byte sequence that starts a token hashes to, which is enough for
//! text this repetitive and costs one pass over each side.

/// The longest dictionary the 16-bit offsets reach.
const MAX_DICTIONARY: usize = u16::MAX as usize;

const MIN_COPY: usize = 4;
const MAX_COPY: usize = 0x7f + MIN_COPY;
const MAX_LITERAL: usize = 0x80;

const TABLE_BITS: u32 = 10;

/// A template, with the table of where its 4-byte sequences are, made
/// once for all the responses packed against it.
#[derive(Debug)]
pub(crate) struct Template {
    text: Box<[u8]>,
    table: Box<[u16; 1 << TABLE_BITS]>,
}

impl Template {
    /// A template of `text`, cut to what the offsets reach.
    pub(crate) fn new(text: &[u8]) -> Template {
        let text: Box<[u8]> = text[..text.len().min(MAX_DICTIONARY)].into();
        let mut table = Box::new([0; 1 << TABLE_BITS]);
        index(&mut table, &text, 0);
        Template { text, table }
    }

    pub(crate) fn text(&self) -> &[u8] {
        &self.text
    }
}

/// Packs responses; keeps its buffers from one response to the next.
#[derive(Debug)]
pub(crate) struct Packer {
    /// Per hash of four bytes: one more than the last dictionary offset
    /// they were seen at, 0 for none.
    table: Box<[u16; 1 << TABLE_BITS]>,
    dictionary: Vec<u8>,
    /// The last text packed.
    packed: Vec<u8>,
}

impl Packer {
    pub(crate) fn new() -> Packer {
        Packer {
            table: Box::new([0; 1 << TABLE_BITS]),
            dictionary: Vec::new(),
            packed: Vec::new(),
        }
    }

    /// `text` packed against `template ++ request`, valid until the next
    /// call.
    pub(crate) fn pack(&mut self, template: &Template, request: &[u8], text: &[u8]) -> &[u8] {
        let out = &mut self.packed;
        out.clear();
        dictionary(&mut self.dictionary, &template.text, request);
        let dict = &self.dictionary[..];
        self.table.copy_from_slice(&template.table[..]);
        index(&mut self.table, dict, template.text.len());
        let mut literal_from = 0;
        let mut at = 0;
        while at + MIN_COPY <= text.len() {
            if !starts_token(text, at) {
                at += 1;
                continue;
            }
            let slot = self.table[hash(&text[at..])];
            let from = usize::from(slot.wrapping_sub(1));
            let len = match slot {
                0 => 0,
                _ => common_prefix(&dict[from..], &text[at..]),
            };
            if len < MIN_COPY {
                at += 1;
                continue;
            }
            literals(out, &text[literal_from..at]);
            copies(out, from, len);
            at += len;
            literal_from = at;
        }
        literals(out, &text[literal_from..]);
        out
    }
}

/// Enters the 4-byte sequences of `dict` that start a token, from
/// `start` on, into `table`.
fn index(table: &mut [u16; 1 << TABLE_BITS], dict: &[u8], start: usize) {
    for at in start..dict.len().saturating_sub(MIN_COPY - 1) {
        if starts_token(dict, at) {
            // `dict` is at most MAX_DICTIONARY long, so `at + 1` fits.
            table[hash(&dict[at..])] = (at + 1) as u16;
        }
    }
}

/// Whether a match may start at `at`: at the start, or after a byte that
/// ends a token of SIP text (a line, a word, a parameter, a host). Runs
/// shared by a response and its request begin at such places, so looking
/// only there finds them at a fraction of the cost of looking everywhere.
fn starts_token(text: &[u8], at: usize) -> bool {
    at == 0
        || matches!(
            text[at - 1],
            b'\n' | b' ' | b';' | b':' | b'<' | b'>' | b'@' | b',' | b'='
        )
}

/// The text `packed` stands for, given the same template and request it
/// was packed against; `None` when it does not decode against them.
pub(crate) fn unpack(packed: &[u8], template: &[u8], request: &[u8]) -> Option<Vec<u8>> {
    let mut dict = Vec::new();
    dictionary(&mut dict, template, request);
    let mut text = Vec::with_capacity(packed.len() * 4);
    let mut at = 0;
    while let Some(&token) = packed.get(at) {
        at += 1;
        if usize::from(token) < MAX_LITERAL {
            let len = usize::from(token) + 1;
            text.extend_from_slice(packed.get(at..at + len)?);
            at += len;
        } else {
            let len = usize::from(token & 0x7f) + MIN_COPY;
            let from = usize::from(u16::from_le_bytes(packed.get(at..at + 2)?.try_into().ok()?));
            at += 2;
            text.extend_from_slice(dict.get(from..from + len)?);
        }
    }
    Some(text)
}

fn dictionary(dict: &mut Vec<u8>, template: &[u8], request: &[u8]) {
    dict.clear();
    let template = &template[..template.len().min(MAX_DICTIONARY)];
    let request = &request[..request.len().min(MAX_DICTIONARY - template.len())];
    dict.extend_from_slice(template);
    dict.extend_from_slice(request);
}

/// The table slot of the four bytes `bytes` starts with.
fn hash(bytes: &[u8]) -> usize {
    let four = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    (four.wrapping_mul(0x9e37_79b1) >> (32 - TABLE_BITS)) as usize
}

fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

fn literals(out: &mut Vec<u8>, mut bytes: &[u8]) {
    while !bytes.is_empty() {
        let (run, rest) = bytes.split_at(bytes.len().min(MAX_LITERAL));
        out.push((run.len() - 1) as u8);
        out.extend_from_slice(run);
        bytes = rest;
    }
}

/// Copies of `len` (at least MIN_COPY) dictionary bytes from `from`, in
/// tokens of at most MAX_COPY, none shorter than MIN_COPY.
fn copies(out: &mut Vec<u8>, mut from: usize, mut len: usize) {
    while len > 0 {
        let mut n = len.min(MAX_COPY);
        if len - n > 0 && len - n < MIN_COPY {
            n = len - MIN_COPY;
        }
        out.push(0x80 | (n - MIN_COPY) as u8);
        // The dictionary is at most MAX_DICTIONARY long.
        out.extend_from_slice(&(from as u16).to_le_bytes());
        from += n;
        len -= n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const REQUEST: &[u8] = b"REGISTER sip:example.com SIP/2.0\r\n\
        Via: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK-2-1;rport\r\n\
        From: <sip:alice@example.com>;tag=3a1f\r\n\
        To: <sip:alice@example.com>\r\n\
        Call-ID: 1-4711@127.0.0.1\r\n\
        CSeq: 2 REGISTER\r\n\
        Contact: <sip:alice@127.0.0.1:5061>\r\n\
        Expires: 3600\r\n\
        Content-Length: 0\r\n\r\n";

    fn ok(tag: &str, port: u16) -> Vec<u8> {
        format!(
            "SIP/2.0 200 OK\r\n\
             Via: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK-2-1;rport={port};received=127.0.0.1\r\n\
             From: <sip:alice@example.com>;tag=3a1f\r\n\
             To: <sip:alice@example.com>;tag={tag}\r\n\
             Call-ID: 1-4711@127.0.0.1\r\n\
             CSeq: 2 REGISTER\r\n\
             Contact: <sip:alice@127.0.0.1:5061>;expires=3600\r\n\
             Date: Fri, 04 Dec 2026 12:00:00 GMT\r\n\
             Server: sipjet\r\n\
             Content-Length: 0\r\n\r\n"
        )
        .into_bytes()
    }

    fn packed(template: &[u8], request: &[u8], text: &[u8]) -> Vec<u8> {
        Packer::new()
            .pack(&Template::new(template), request, text)
            .to_vec()
    }

    #[test]
    fn a_response_packs_to_what_the_request_and_template_do_not_say() {
        let template = ok("b71e0c", 5062);
        let response = ok("77d2a9", 5061);
        let p = packed(&template, REQUEST, &response);
        assert_eq!(unpack(&p, &template, REQUEST).unwrap(), response);
        // The new tag and port, and a few references.
        assert!(
            p.len() < response.len() / 6,
            "{} of {}",
            p.len(),
            response.len()
        );
        // Against nothing, it is all literal, with one length per run.
        let alone = packed(b"", b"", &response);
        assert_eq!(unpack(&alone, b"", b"").unwrap(), response);
        assert!(alone.len() <= response.len() + response.len() / MAX_LITERAL + 1);
    }

    #[test]
    fn long_runs_split_into_tokens_that_each_decode() {
        let text: Vec<u8> = (0..1000u32).map(|i| (i * 7 % 251) as u8).collect();
        for len in [0, 1, 3, 4, 5, 131, 132, 134, 135, 136, 262, 263, 1000] {
            let part = &text[..len];
            let p = packed(&text, b"", part);
            assert_eq!(unpack(&p, &text, b"").unwrap(), part, "{len}");
            let lit = packed(b"", b"", part);
            assert_eq!(unpack(&lit, b"", b"").unwrap(), part, "{len}");
        }
    }

    #[test]
    fn a_reference_past_the_dictionary_does_not_decode() {
        let response = ok("77d2a9", 5061);
        let p = packed(b"", REQUEST, &response);
        assert_eq!(unpack(&p, b"", &REQUEST[..40]), None);
        assert_eq!(unpack(&[0x80, 0xff], b"", REQUEST), None);
        assert_eq!(unpack(&[0x05, b'a'], b"", REQUEST), None);
    }

    #[test]
    fn a_dictionary_past_the_offsets_reach_is_cut() {
        let big = vec![b'x'; 70_000];
        let text = b"xxxxxxxxxxyyyy";
        let p = packed(&big, &big, text);
        assert_eq!(unpack(&p, &big, &big).unwrap(), text);
    }

    proptest! {
        #[test]
        fn whatever_is_packed_unpacks_against_the_same_dictionary(
            template in proptest::collection::vec(0u8..8, 0..300),
            request in proptest::collection::vec(0u8..8, 0..300),
            text in proptest::collection::vec(0u8..8, 0..600),
        ) {
            let p = packed(&template, &request, &text);
            prop_assert_eq!(unpack(&p, &template, &request).unwrap(), text);
        }

        #[test]
        fn any_bytes_unpack_without_panicking(
            packed in proptest::collection::vec(any::<u8>(), 0..300),
        ) {
            let _ = unpack(&packed, b"template", REQUEST);
        }
    }
}
