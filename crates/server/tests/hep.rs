//! HEP export against a real consumer: sngrep listens for HEPv3 and
//! writes what it gets to a pcap; a REGISTER flow through the server must
//! be in it, each message with its addresses, as tshark reads them.

mod support;

use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;

use sipjet_server::digest::DigestAlgorithm;
use sipjet_testkit::{PATIENCE, wait_until};
use support::{Client, Digest, Request, Scratch, offer_of, start};
use tokio::process::Command;

fn conf(hep: SocketAddr) -> String {
    format!(
        "\
[global]
type = global
default_realm = hep.test
endpoint_identifier_order = username
hep_server = {hep}
hep_capture_id = 2001

[udp]
type = transport
protocol = udp
bind = 127.0.0.1:5060

[alice]
type = endpoint
aors = alice
auth = alice-auth

[alice-auth]
type = auth
username = alice
password = alice-pass

[alice]
type = aor
max_contacts = 1
"
    )
}

/// True when a UDP socket is bound to `port` on 127.0.0.1.
fn udp_listening(port: u16) -> bool {
    let table = std::fs::read_to_string("/proc/net/udp").unwrap_or_default();
    let local = format!("0100007F:{port:04X}");
    table
        .lines()
        .skip(1)
        .any(|l| l.split_whitespace().nth(1) == Some(local.as_str()))
}

/// A port nobody uses on 127.0.0.1 now.
fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// What tshark reads of the SIP packets of a pcap, in the order of their
/// times (sngrep writes each packet with its HEP timestamp): source,
/// destination, method or status, Call-ID.
fn tshark(pcap: &Path) -> Vec<Vec<String>> {
    let out = std::process::Command::new("tshark")
        .args(["-r"])
        .arg(pcap)
        .args([
            "-Y",
            "sip",
            "-T",
            "fields",
            "-E",
            "separator=|",
            "-e",
            "frame.time_epoch",
            "-e",
            "ip.src",
            "-e",
            "udp.srcport",
            "-e",
            "ip.dst",
            "-e",
            "udp.dstport",
            "-e",
            "sip.Method",
            "-e",
            "sip.Status-Code",
            "-e",
            "sip.Call-ID",
        ])
        .stderr(Stdio::null())
        .output()
        .expect("tshark runs (apt-get install tshark)");
    let mut packets = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let (time, fields) = l.split_once('|')?;
            let time: f64 = time.parse().ok()?;
            Some((time, fields.split('|').map(str::to_string).collect()))
        })
        .collect::<Vec<(f64, Vec<String>)>>();
    // In the order they happened: the HEP timestamps sngrep wrote, not the
    // order the records reached it (a message is reported once sent, so
    // the answer to it can be reported first).
    packets.sort_by(|a, b| a.0.total_cmp(&b.0));
    packets.into_iter().map(|(_, fields)| fields).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_register_flow_reaches_sngrep() {
    let scratch = Scratch::new("hep");
    let pcap = scratch.join("hep.pcap");
    let port = free_udp_port();
    let mut sngrep = Command::new("sngrep")
        .args(["-N", "-q", "-L", &format!("udp:127.0.0.1:{port}"), "-O"])
        .arg(&pcap)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("sngrep runs (apt-get install sngrep)");
    wait_until("sngrep to listen for HEP", || udp_listening(port)).await;

    let hep: SocketAddr = ([127, 0, 0, 1], port).into();
    let (server, sip) = start(&conf(hep)).await;
    let client = Client::new(sip).await;
    let uri = client.uri(Some("alice"));
    let contact = format!("Contact: <sip:alice@{}>", client.addr);
    let first = Request::new("REGISTER", &uri, "alice").with(contact.clone());
    let offers = client.challenged(&first).await;
    let again = first.next().with(contact);
    let answer = Digest::answer(
        offer_of(&offers, DigestAlgorithm::Md5),
        "alice",
        "alice-pass",
        &again,
    );
    let ok = client.ask(&again.with(answer.header())).await;
    assert_eq!(ok.status(), Some(200));

    // sngrep writes each packet as it comes.
    let client_side = (client.addr.ip().to_string(), client.addr.port().to_string());
    let server_side = (sip.ip().to_string(), sip.port().to_string());
    let expected: Vec<Vec<String>> = [
        (&client_side, &server_side, "REGISTER", ""),
        (&server_side, &client_side, "", "401"),
        (&client_side, &server_side, "REGISTER", ""),
        (&server_side, &client_side, "", "200"),
    ]
    .iter()
    .map(|(src, dst, method, status)| {
        vec![
            src.0.clone(),
            src.1.clone(),
            dst.0.clone(),
            dst.1.clone(),
            method.to_string(),
            status.to_string(),
            first.call_id.clone(),
        ]
    })
    .collect();
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let seen = tshark(&pcap);
        if seen == expected {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the pcap holds {seen:?}, not {expected:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(server.capture.hep().unwrap().dropped(), 0);
    sngrep.start_kill().unwrap();
}
