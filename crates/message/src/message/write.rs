//! Writing a message back to bytes: an unchanged parsed message is its
//! received buffer; a changed one is written piece by piece, with a
//! Content-Length computed from its body.

use bytes::{Bytes, BytesMut};

use super::{HeaderName, Message, StartLine};

impl Message {
    /// The message as bytes. An unchanged parsed message returns the
    /// received bytes themselves, without copying.
    pub fn to_bytes(&self) -> Bytes {
        if !self.modified {
            return self.buf.clone();
        }
        let mut out = BytesMut::with_capacity(self.changed_len());
        self.write_to(&mut out);
        out.freeze()
    }

    /// Appends the serialized message to `out`. A changed message gets a
    /// Content-Length computed from its body, in place of any received one.
    pub fn write_to(&self, out: &mut BytesMut) {
        if !self.modified {
            out.extend_from_slice(&self.buf);
            return;
        }
        self.write_changed(|bytes| out.extend_from_slice(bytes));
    }

    /// The length a changed message serializes to, counted by the same
    /// walk that writes, so that [`Message::to_bytes`] allocates exactly
    /// that. An estimate from the received buffer over-reserved for a
    /// response built from a request (room for the whole request), and a
    /// serialized message can be held a while: over UDP a transaction
    /// keeps its last response for Timer J, 32 s.
    fn changed_len(&self) -> usize {
        let mut len = 0;
        self.write_changed(|bytes| len += bytes.len());
        len
    }

    /// Hands a changed message to `put` piece by piece, in order.
    fn write_changed(&self, mut put: impl FnMut(&[u8])) {
        match (self.start_line_end, &self.start) {
            (Some(end), _) => put(&self.buf[..end as usize]),
            (
                None,
                StartLine::Request {
                    method,
                    uri,
                    version,
                    ..
                },
            ) => {
                put(method.as_str().as_bytes());
                put(b" ");
                put(self.text(*uri).as_bytes());
                put(b" ");
                put(self.text(*version).as_bytes());
            }
            (
                None,
                StartLine::Response {
                    version,
                    code,
                    reason,
                },
            ) => {
                put(self.text(*version).as_bytes());
                put(b" ");
                put(itoa_u32(u32::from(*code)).as_bytes());
                put(b" ");
                put(self.text(*reason).as_bytes());
            }
        }
        put(b"\r\n");
        for f in &self.fields {
            if f.name == HeaderName::ContentLength {
                continue;
            }
            match f.line_end {
                Some(end) if !f.raw_name.owned => {
                    put(&self.buf[f.raw_name.start as usize..end as usize]);
                }
                _ => {
                    put(self.text(f.raw_name).as_bytes());
                    put(b": ");
                    put(self.text(f.value).as_bytes());
                }
            }
            put(b"\r\n");
        }
        put(b"Content-Length: ");
        put(itoa_u32(self.body.len() as u32).as_bytes());
        put(b"\r\n\r\n");
        put(&self.body);
    }
}

/// Formats a number without going through `fmt` (this runs for every
/// message sent).
struct Digits {
    buf: [u8; 10],
    start: usize,
}

impl Digits {
    fn as_bytes(&self) -> &[u8] {
        &self.buf[self.start..]
    }
}

fn itoa_u32(mut n: u32) -> Digits {
    let mut d = Digits {
        buf: [0; 10],
        start: 10,
    };
    loop {
        d.start -= 1;
        d.buf[d.start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    d
}

#[cfg(test)]
mod tests {
    use super::super::tests::INVITE;
    use super::*;

    #[test]
    fn a_changed_message_is_counted_as_it_is_written() {
        let request = Message::parse(INVITE.as_bytes()).unwrap();
        let mut response = Message::response_to(&request, 200).unwrap();
        response
            .add_header("Contact", "<sip:bob@192.0.2.4>")
            .unwrap();
        let mut changed = request.clone();
        changed
            .set_body("text/plain", Bytes::from_static(b"hi"))
            .unwrap();
        for m in [&response, &changed] {
            let mut written = BytesMut::new();
            m.write_to(&mut written);
            assert_eq!(m.changed_len(), written.len());
            assert_eq!(m.to_bytes(), written.freeze());
        }
    }

    #[test]
    fn unchanged_parsed_message_is_byte_identical() {
        let text = "OPTIONS sip:a@b SIP/2.0\r\nVia:   SIP/2.0/UDP h ;branch=z9hG4bKx  \r\nv: SIP/2.0/UDP g\r\nl:0\r\n\r\n";
        let m = Message::parse(text.as_bytes()).unwrap();
        assert!(!m.is_modified());
        assert_eq!(m.to_bytes().as_ref(), text.as_bytes());
    }
}
