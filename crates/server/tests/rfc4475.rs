//! RFC 4475 torture messages against the running server, over UDP and
//! TCP: a request whose Request-Line is malformed (§3.1.2.7 to §3.1.2.10)
//! but whose Via, From, To, Call-ID and CSeq parse is answered `400`
//! with the fault as reason phrase, not dropped in silence.

mod support;

use std::path::Path;

use support::{Transport, Wire, start};

const CONF: &str = "\
[udp]
type = transport
protocol = udp
bind = 127.0.0.1:5060

[tcp]
type = transport
protocol = tcp
bind = 127.0.0.1:5060
";

/// The four messages and the reason each is answered with.
const MALFORMED: [(&str, &str); 4] = [
    (
        "ltgtruri.dat",
        "Request-URI: \"<sip:user@example.com>\" is not a URI",
    ),
    (
        "lwsruri.dat",
        "Request-Line has more than three elements (white space in the Request-URI?)",
    ),
    (
        "lwsstart.dat",
        "Request-Line has more than one space between elements",
    ),
    ("trws.dat", "Request-Line ends with white space"),
];

/// The torture message `file` as `client` sends it: byte for byte, but
/// for a Via of the client's own, so that the answer comes back to it.
fn adapted(file: &str, client: &Wire) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../message/tests/torture")
        .join(file);
    let text = String::from_utf8(std::fs::read(path).unwrap()).unwrap();
    let via = format!(
        "Via: SIP/2.0/{} {};branch=z9hG4bK-{file};rport",
        client.transport.via_name(),
        client.addr
    );
    let lines: Vec<&str> = text.split("\r\n").collect();
    assert_eq!(
        lines.iter().filter(|l| l.starts_with("Via:")).count(),
        1,
        "{file}"
    );
    lines
        .iter()
        .map(|l| if l.starts_with("Via:") { &via } else { *l })
        .collect::<Vec<_>>()
        .join("\r\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_request_line_is_answered_400_over_udp_and_tcp() {
    let (server, _) = start(CONF).await;
    for over in [Transport::Udp, Transport::Tcp] {
        let mut client = Wire::connect(over, "127.0.0.1", &server).await;
        for (file, reason) in MALFORMED {
            let text = adapted(file, &client);
            client.send_text(&text).await;
            let answer = client.final_response().await;
            assert_eq!(answer.status(), Some(400), "{file} over {over:?}");
            assert_eq!(answer.reason(), Some(reason), "{file} over {over:?}");
            let sent = text.lines().find(|l| l.starts_with("Call-ID:")).unwrap();
            assert_eq!(
                Some(sent.trim_start_matches("Call-ID:").trim()),
                answer.call_id().ok(),
                "{file} over {over:?}"
            );
            assert!(answer.to_header().unwrap().tag().is_some());
        }
    }
}
