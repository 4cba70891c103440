//! The console in a real browser (headless Chromium): alice and bob
//! register, alice sends bob a MESSAGE and calls him, and the console
//! shows what a person would look for — both contacts, the flow found by
//! its Call-ID, its ladder with a column per party and the arrows in
//! order, the message behind an arrow, the call linking to its flow.
//! Screenshots are saved under `target/tmp/console/`.

mod support;

#[path = "support/browser.rs"]
mod browser;

use std::path::PathBuf;

use browser::Browser;
use serde_json::json;
use sipjet_core::{HeaderName, Message, Method};
use sipjet_server::admin::AdminOptions;
use support::{Digest, Request, Scratch, Transport, Wire, offers, start, to_tag};

const CONF: &str = "\
[global]
type = global
default_realm = console.test
endpoint_identifier_order = username

[udp]
type = transport
protocol = udp
bind = 127.0.0.1:5060

[phone](!)
type = endpoint
identify_by = username

[md5](!)
type = auth
auth_type = userpass
supported_algorithms_uas = MD5

[alice](phone)
auth = alice
aors = alice
[alice](md5)
username = alice
password = alice-pass
[alice]
type = aor
max_contacts = 1

[bob](phone)
auth = bob
aors = bob
[bob](md5)
username = bob
password = bob-pass
[bob]
type = aor
max_contacts = 1
";

fn screenshots() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("console")
}

async fn registered(server: &sipjet_server::server::Server, user: &str) -> Wire {
    let mut wire = Wire::connect(Transport::Udp, "127.0.0.1", server).await;
    let contact = format!("Contact: <sip:{user}@{}>", wire.addr);
    let register = Request::new("REGISTER", &wire.uri(Some(user)), user).with(contact);
    let (ok, _) = wire.ask_as(&register, user, &format!("{user}-pass")).await;
    assert_eq!(ok.status(), Some(200), "{ok:?}");
    wire
}

/// `request` sent again with `user`'s answer to its challenge, without
/// waiting for the answer.
async fn with_credentials(wire: &mut Wire, request: &Request, user: &str) -> Request {
    let first = wire.ask(request).await;
    assert_eq!(first.status(), Some(401), "{first:?}");
    if request.method == "INVITE" {
        // The challenge ends the INVITE transaction: it is acknowledged.
        let mut ack = request.clone().tagged(&to_tag(&first).unwrap());
        ack.method = "ACK".into();
        ack.extra.clear();
        let text = wire.text(&ack);
        wire.send_text(&text).await;
    }
    let offer = offers(&first).remove(0);
    let mut next = request.next();
    next.extra = request.extra.clone();
    let digest = Digest::answer(&offer, user, &format!("{user}-pass"), &next);
    let next = next.with(digest.header());
    let text = wire.text(&next);
    wire.send_text(&text).await;
    next
}

/// Answers as a UAS, with a To tag and, for 1xx/2xx, its Contact and the
/// Record-Route.
async fn answer(wire: &mut Wire, request: &Message, code: u16, user: &str) {
    let mut r = Message::response_to_with(request, code, None, Some("bob-tag")).unwrap();
    if (101..300).contains(&code) {
        for rr in request.headers(HeaderName::RecordRoute) {
            r.add_header("Record-Route", rr).unwrap();
        }
        r.add_header("Contact", &format!("<sip:{user}@{}>", wire.addr))
            .unwrap();
    }
    let text = String::from_utf8(r.to_bytes().to_vec()).unwrap();
    wire.send_text(&text).await;
}

/// The next message that is not a 100 Trying.
async fn next(wire: &mut Wire) -> Message {
    loop {
        let m = wire.next_message().await;
        if m.status() != Some(100) {
            return m;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_shows_contacts_flows_and_ladders() {
    let (server, sip) = start(CONF).await;
    let admin = sipjet_server::admin::start(
        &server,
        AdminOptions::new("127.0.0.1:0".parse().unwrap(), None).unwrap(),
    )
    .await
    .unwrap();
    let mut alice = registered(&server, "alice").await;
    let mut bob = registered(&server, "bob").await;

    // alice → bob: a MESSAGE.
    let message =
        Request::new("MESSAGE", &alice.uri(Some("bob")), "alice").with("Content-Type: text/plain");
    let sent = with_credentials(&mut alice, &message, "alice").await;
    let got = bob.next_request().await;
    assert_eq!(got.method(), Some(&Method::Message));
    bob.answer(&got, 200).await;
    assert_eq!(alice.final_response().await.status(), Some(200));
    let message_id = sent.call_id.clone();

    // alice calls bob; bob rings and answers; alice acknowledges.
    let invite = Request::new("INVITE", &alice.uri(Some("bob")), "alice")
        .with(format!("Contact: <sip:alice@{}>", alice.addr));
    let call = with_credentials(&mut alice, &invite, "alice").await;
    let got = next(&mut bob).await;
    assert_eq!(got.method(), Some(&Method::Invite));
    answer(&mut bob, &got, 180, "bob").await;
    assert_eq!(next(&mut alice).await.status(), Some(180));
    answer(&mut bob, &got, 200, "bob").await;
    let ok = next(&mut alice).await;
    assert_eq!(ok.status(), Some(200));

    let profile = Scratch::new("chromium");
    let mut b = Browser::start(profile.path(), 1280, 900).await;
    let console = format!("http://{}/", admin.local_addr());
    let shots = screenshots();

    // Endpoints and contacts: both registered contacts, reachable by
    // filter.
    b.open(&format!("{console}#contacts")).await;
    let rows = "document.querySelectorAll('#contacts-table tbody tr')";
    b.wait_for(
        "two contacts",
        &format!("{rows}.length === 2 && document.body.dataset.loaded === 'contacts'"),
        "document.querySelector('#contacts-table').innerText",
    )
    .await;
    let table = b.text("#contacts-table tbody").await;
    assert!(
        table.contains(&format!("sip:alice@{}", alice.addr)),
        "{table}"
    );
    assert!(table.contains(&format!("sip:bob@{}", bob.addr)), "{table}");
    b.click("#contacts-filter").await;
    b.type_text("bob").await;
    b.wait_for(
        "the filter to leave bob",
        &format!("{rows}.length === 1"),
        "document.querySelector('#contacts-table').innerText",
    )
    .await;
    assert!(b.text("#contacts-table tbody").await.starts_with("bob"));
    b.screenshot(&shots.join("contacts.png")).await;

    // Overview: the counters and the charts are there.
    b.open(&format!("{console}#overview")).await;
    b.wait_for(
        "the overview",
        "document.body.dataset.loaded === 'overview' && document.querySelectorAll('#charts .chart').length === 6",
        "document.body.innerText",
    )
    .await;
    let facts = b.text("#overview-facts").await;
    assert!(facts.contains("registrations"), "{facts}");
    assert!(b.text("#transports-table").await.contains(&sip.to_string()));
    b.screenshot(&shots.join("overview.png")).await;

    // Flows: the MESSAGE found by its Call-ID, typed into the search.
    b.open(&format!("{console}#flows")).await;
    b.wait_for(
        "the flows page",
        "document.body.dataset.loaded === 'flows'",
        "document.body.innerText",
    )
    .await;
    b.click("#flow-call-id").await;
    b.type_text(&message_id).await;
    b.click("#flow-search").await;
    let flows = "document.querySelectorAll('#flows-table tbody a.flow-link')";
    b.wait_for(
        "the MESSAGE's flow alone",
        &format!(
            "{flows}.length === 1 && {flows}[0].textContent === {}",
            json!(message_id)
        ),
        "document.querySelector('#flows-table').innerText",
    )
    .await;
    b.click("#flows-table tbody a.flow-link").await;
    // Arrows that are no retransmission: on a slow machine the server may
    // send a request again before its answer comes.
    let first =
        "[...document.querySelectorAll('#ladder .arrow:not([data-retransmission=\"true\"])')]";
    b.wait_for(
        "the ladder",
        &format!("{first}.length === 6"),
        "document.querySelector('#flow-detail').innerText",
    )
    .await;
    // One column per party: the server, alice, bob, in order of
    // appearance; the arrows in order: the challenge, the MESSAGE
    // forwarded to bob and his answer relayed back.
    let columns = b
        .eval("[...document.querySelectorAll('#ladder .column')].map(c => c.dataset.address)")
        .await;
    assert_eq!(
        columns,
        json!([
            format!("{sip}/UDP"),
            format!("{}/UDP", alice.addr),
            format!("{}/UDP", bob.addr)
        ])
    );
    let arrows = b
        .eval(&format!(
            "{first}.map(a => [a.dataset.label, a.querySelector('text:not(.time)').textContent])"
        ))
        .await;
    let labels: Vec<&str> = arrows
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a[0].as_str().unwrap())
        .collect();
    assert_eq!(
        labels,
        [
            "MESSAGE",
            "401 Unauthorized",
            "MESSAGE",
            "MESSAGE",
            "200 OK",
            "200 OK"
        ]
    );
    // Who sends each arrow to whom, read off the drawing: the x of each
    // line's ends against the columns' lines.
    let directions = b
        .eval(&format!(
            "(() => {{ const xs = [...document.querySelectorAll('#ladder .column line')].map(l => +l.getAttribute('x1'));
               return {first}.map(a => {{
                 const l = a.querySelector('line.hit');
                 return [xs.indexOf(+l.getAttribute('x1')), xs.indexOf(+l.getAttribute('x2'))]; }}); }})()"
        ))
        .await;
    assert_eq!(
        directions,
        json!([[1, 0], [0, 1], [1, 0], [0, 2], [2, 0], [0, 1]])
    );
    let to_bob = b.eval(&format!("{first}[3].dataset.seq")).await;
    b.click(&format!(
        "#ladder .arrow[data-seq=\"{}\"] line.hit",
        to_bob.as_str().unwrap()
    ))
    .await;
    b.wait_for(
        "the MESSAGE to bob shown in full",
        "document.querySelector('#message').textContent.startsWith('MESSAGE sip:bob@')",
        "document.querySelector('#message').textContent",
    )
    .await;
    let shown = b.text("#message").await;
    assert!(shown.contains(&format!("Call-ID: {message_id}")), "{shown}");
    b.screenshot(&shots.join("ladder.png")).await;

    // Calls: the call in progress, linking to its flow.
    b.open(&format!("{console}#calls")).await;
    b.wait_for(
        "the call",
        "document.querySelectorAll('#calls-table tbody a.flow-link').length === 1",
        "document.querySelector('#calls-table').innerText",
    )
    .await;
    let row = b.text("#calls-table tbody tr").await;
    assert!(
        row.contains("alice") && row.contains("bob") && row.contains("answered"),
        "{row}"
    );
    b.click("#calls-table tbody a.flow-link").await;
    b.wait_for(
        "the call's ladder",
        &format!(
            "document.querySelector('#flow-title').textContent === {} && {first}.length >= 9",
            json!(call.call_id)
        ),
        "document.querySelector('#flow-detail').innerText",
    )
    .await;
    let labels = b.eval(&format!("{first}.map(a => a.dataset.label)")).await;
    let labels: Vec<&str> = labels
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    // The challenge and its ACK, then the INVITE across, ringing and
    // answer relayed back; the server's 100 Trying comes between.
    let without_trying: Vec<&str> = labels
        .iter()
        .copied()
        .filter(|l| !l.starts_with("100"))
        .collect();
    assert_eq!(
        without_trying[..4],
        ["INVITE", "401 Unauthorized", "ACK", "INVITE"],
        "{labels:?}"
    );
    assert_eq!(
        without_trying[without_trying.len() - 4..],
        ["180 Ringing", "180 Ringing", "200 OK", "200 OK"],
        "{labels:?}"
    );
    let invite_to_bob = b.eval(&format!("{first}[4].dataset.seq")).await;
    b.click(&format!(
        "#ladder .arrow[data-seq=\"{}\"] line.hit",
        invite_to_bob.as_str().unwrap()
    ))
    .await;
    b.wait_for(
        "the INVITE to bob shown in full",
        "document.querySelector('#message').textContent.startsWith('INVITE sip:bob@')",
        "document.querySelector('#message').textContent",
    )
    .await;
    b.screenshot(&shots.join("call.png")).await;
    assert_eq!(ok.call_id().unwrap(), call.call_id);
}
