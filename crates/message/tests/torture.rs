//! RFC 4475 torture messages, driven by `torture/MANIFEST`: every message
//! the RFC calls valid parses and validates; every one it calls invalid is
//! refused, by the parser or by validation, with an error that names the
//! fault; none panics.

use std::path::Path;

use sipjet_message::Message;

/// What the refusal of each invalid message must say.
const EXPECTED_FAULTS: &[(&str, &str)] = &[
    ("badinv01.dat", "Via header: empty parameter"),
    ("clerr.dat", "Content-Length 9999 exceeds the"),
    (
        "ncl.dat",
        "Content-Length header: value \"-999\" is not a number",
    ),
    (
        "scalar02.dat",
        "CSeq header: sequence number 36893488147419103232 exceeds 2147483647",
    ),
    (
        "scalarlg.dat",
        "CSeq header: sequence number 9292394834772304023312 exceeds 2147483647",
    ),
    (
        "quotbal.dat",
        "To header: unterminated quoted string in display name",
    ),
    (
        "ltgtruri.dat",
        "Request-URI: \"<sip:user@example.com>\" is not a URI",
    ),
    ("lwsruri.dat", "Request-Line has more than three elements"),
    (
        "lwsstart.dat",
        "Request-Line has more than one space between elements",
    ),
    ("trws.dat", "Request-Line ends with white space"),
    ("escruri.dat", "Request-URI must not contain headers"),
    (
        "baddate.dat",
        "Date header: \"Fri, 01 Jan 2010 16:00:00 EST\" is not an RFC 1123 date in GMT",
    ),
    (
        "regbadct.dat",
        "Contact header: URI \"sip:user@example.com?Route=%3Csip:sip.example.com%3E\" has a \"?\" and must be enclosed in <>",
    ),
    (
        "badaspec.dat",
        "To header: white space inside <sip:t.watson@example.org>",
    ),
    (
        "baddn.dat",
        "From header: display name \"Bell, Alexander\" has the character ',', which requires quotes",
    ),
    ("badvers.dat", "SIP version \"SIP/7.0\" is not supported"),
    (
        "mismatch01.dat",
        "CSeq method \"INVITE\" does not match request method \"OPTIONS\"",
    ),
    (
        "mismatch02.dat",
        "CSeq method \"INVITE\" does not match request method \"NEWMETHOD\"",
    ),
    (
        "bigcode.dat",
        "status code \"4294967301\" is not a three-digit number",
    ),
    ("insuf.dat", "missing From header"),
    ("multi01.dat", "duplicate CSeq header"),
    ("mcl01.dat", "duplicate Content-Length header"),
];

fn check(data: &[u8]) -> Result<Message, String> {
    let msg = Message::parse(data.to_vec()).map_err(|e| e.to_string())?;
    msg.validate().map_err(|e| e.to_string())?;
    Ok(msg)
}

#[test]
fn rfc4475_manifest() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/torture");
    let manifest = std::fs::read_to_string(dir.join("MANIFEST")).unwrap();
    let (mut accepted, mut valid, mut refused, mut invalid) = (0, 0, 0, 0);
    let mut failures = Vec::new();
    for line in manifest
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
    {
        let cols: Vec<&str> = line.split('\t').collect();
        let (file, expected) = (cols[0], cols[1]);
        let data = std::fs::read(dir.join(file)).unwrap();
        let outcome = std::panic::catch_unwind(|| check(&data));
        let Ok(outcome) = outcome else {
            failures.push(format!("{file}: panicked"));
            continue;
        };
        match (expected, outcome) {
            ("accept", Ok(msg)) => {
                valid += 1;
                accepted += 1;
                // Unchanged, it serializes to exactly the bytes it came from.
                let bytes = msg.to_bytes();
                assert!(data.starts_with(&bytes), "{file}: serialization differs");
            }
            ("accept", Err(e)) => {
                valid += 1;
                failures.push(format!("{file}: valid but refused: {e}"));
            }
            ("reject", Ok(_)) => {
                invalid += 1;
                failures.push(format!("{file}: invalid but accepted"));
            }
            ("reject", Err(e)) => {
                invalid += 1;
                let want = EXPECTED_FAULTS
                    .iter()
                    .find(|(f, _)| *f == file)
                    .unwrap_or_else(|| panic!("no expected fault for {file}"))
                    .1;
                if e.contains(want) {
                    refused += 1;
                } else {
                    failures.push(format!("{file}: refused with {e:?}, expected {want:?}"));
                }
            }
            _ => {} // n/a: only "does not panic" applies
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!((accepted, valid), (27, 27));
    assert_eq!((refused, invalid), (22, 22));
}

#[test]
fn datagram_with_two_requests_yields_the_first() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/torture");
    let data = std::fs::read(dir.join("dblreq.dat")).unwrap();
    let msg = check(&data).unwrap();
    assert_eq!(msg.method().unwrap().as_str(), "REGISTER");
    assert!(msg.body().is_empty());
}

#[test]
fn multipart_torture_body_splits() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/torture");
    let msg = check(&std::fs::read(dir.join("mpart01.dat")).unwrap()).unwrap();
    let ct = msg.content_type().unwrap().unwrap();
    let parts = sipjet_message::multipart::decode(msg.body(), &ct.boundary().unwrap()).unwrap();
    assert_eq!(parts.len(), 2);
    assert_eq!(parts[0].header("Content-Type"), Some("text/plain"));
    assert_eq!(parts[0].body, b"Hello");
    assert_eq!(
        parts[1].header("Content-Type"),
        Some("application/octet-stream")
    );
    assert!(parts[1].body.len() > 300);
}

/// RFC 4475 §3.1.2.7 to §3.1.2.10: the Request-Line is malformed, but
/// the message parses, so that a server can answer it `400` from its Via,
/// From, To, Call-ID and CSeq; validation names the fault.
#[test]
fn malformed_request_lines_parse_and_can_be_answered() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/torture");
    for file in ["ltgtruri.dat", "lwsruri.dat", "lwsstart.dat", "trws.dat"] {
        let data = std::fs::read(dir.join(file)).unwrap();
        let msg = Message::parse(data).unwrap_or_else(|e| panic!("{file}: {e}"));
        let err = msg.validate().unwrap_err();
        assert_eq!(err.status_code(), 400, "{file}");
        let want = EXPECTED_FAULTS.iter().find(|(f, _)| *f == file).unwrap().1;
        assert!(err.to_string().contains(want), "{file}: {err}");
        let answer =
            Message::response_to_with(&msg, err.status_code(), Some(&err.reason_phrase()), None)
                .unwrap();
        assert_eq!(answer.call_id(), msg.call_id(), "{file}");
        assert_eq!(answer.reason(), Some(err.to_string().as_str()), "{file}");
    }
}
