use std::time::Duration;

use sipjet_core::{IdentifyMethod, Protocol};

use super::*;
use crate::config::value;
use crate::digest::DigestAlgorithm;

const SAMPLE: &str = "\
[global]
type = global
user_agent = sipjet test
endpoint_identifier_order = ip,username
default_realm = example.com

[system]
type = system
timer_t1 = 500
threadpool_max_size = 8

[transport-udp]
type = transport
protocol = udp
bind = 127.0.0.1:5060

[transport-tcp]
type = transport
protocol = tcp
bind = 127.0.0.1:5060
tos = cs3

[endpoint-tpl](!)
type = endpoint
context = from-internal
disallow = all
allow = ulaw,alaw
direct_media = no

[auth-tpl](!)
type = auth
auth_type = userpass

[aor-tpl](!)
type = aor
max_contacts = 2
remove_existing = yes
qualify_frequency = 30

[alice](endpoint-tpl)
auth = alice
aors = alice
identify_by = username,auth_username

[alice](auth-tpl)
username = alice
password = secret
supported_algorithms_uas = SHA-256, MD5

[alice](aor-tpl)

[gateway](endpoint-tpl)
aors = gateway

[gateway](aor-tpl)
contact = sip:gw@192.0.2.10:5060

[gateway-ip]
type = identify
endpoint = gateway
match = 192.0.2.10, 198.51.100.0/24
match = gw.example.com

[example-alias]
type = domain_alias
domain = example.com
";

#[test]
fn a_realistic_configuration_loads() {
    let report = from_str("pjsip.conf", SAMPLE);
    assert!(report.is_ok(), "{:?}", report.errors);
    let c = &report.config;
    assert_eq!(c.global.user_agent, "sipjet test");
    assert_eq!(
        c.global.endpoint_identifier_order,
        [IdentifyMethod::Ip, IdentifyMethod::Username]
    );
    assert_eq!(c.system.threadpool_max_size, 8);
    assert_eq!(c.transports.len(), 2);
    assert_eq!(c.transports[1].protocol, Protocol::Tcp);
    let alice = c.endpoint("alice").unwrap();
    assert_eq!(alice.context, "from-internal");
    assert_eq!(
        alice.identify_by,
        [IdentifyMethod::Username, IdentifyMethod::AuthUsername]
    );
    assert_eq!(alice.auth, ["alice"]);
    let auth = c.auth("alice").unwrap();
    assert_eq!(
        auth.algorithms,
        [DigestAlgorithm::Sha256, DigestAlgorithm::Md5]
    );
    assert_eq!(auth.nonce_lifetime, Duration::from_secs(32));
    let aor = c.aor("alice").unwrap();
    assert!(aor.remove_existing);
    assert_eq!(
        (
            aor.max_contacts,
            aor.qualify_frequency,
            aor.default_expiration
        ),
        (2, 30, 3600)
    );
    assert_eq!(
        c.aor("gateway").unwrap().contacts,
        ["sip:gw@192.0.2.10:5060"]
    );
    let id = &c.identifies[0];
    let matches: Vec<_> = id.matches.iter().map(|(m, _)| m.clone()).collect();
    assert_eq!(
        matches,
        ["192.0.2.10", "198.51.100.0/24", "gw.example.com"].map(|m| MatchItem::parse(m).unwrap())
    );
    assert_eq!(
        id.matches.iter().map(|(_, at)| at.line).collect::<Vec<_>>(),
        [61, 61, 62]
    );
    assert_eq!(c.domain_aliases[0].domain, "example.com");
    // Media options are named in warnings, with where they were written.
    let w: Vec<String> = report.warnings.iter().map(ToString::to_string).collect();
    assert!(
        w.iter()
            .any(|w| w.starts_with("pjsip.conf:27: [alice] endpoint option allow ")),
        "{w:?}"
    );
    assert!(
        w.iter()
            .any(|w| w.contains("[transport-tcp] transport option tos")),
        "{w:?}"
    );
}

#[test]
fn the_shipped_sample_loads_without_error() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/pjsip.conf.sample");
    let report = load(&path);
    assert!(report.is_ok(), "{:#?}", report.errors);
    assert!(!report.config.endpoints.is_empty());
}

fn errors(text: &str) -> Vec<String> {
    from_str("t.conf", text)
        .errors
        .iter()
        .map(ToString::to_string)
        .collect()
}

#[test]
fn every_error_names_file_line_and_option() {
    for (text, want) in [
        ("[a]\nfoo=1\n", "t.conf:1: [a] has no type= option"),
        (
            "[a]\ntype=bogus\n",
            "t.conf:1: [a] type=bogus is not a pjsip.conf section type",
        ),
        (
            "[t]\ntype=transport\nprotocol=sctp\n",
            "t.conf:3: [t] option protocol: \"sctp\" is not udp, tcp, tls, ws or wss",
        ),
        (
            "[t]\ntype=transport\nbind=nowhere\n",
            "t.conf:3: [t] option bind: \"nowhere\" is not an IP address",
        ),
        (
            "[t]\ntype=transport\nprotocol=tls\n",
            "t.conf:1: [t] a Tls transport needs cert_file and priv_key_file",
        ),
        (
            "[e]\ntype=endpoint\nforce_rport=perhaps\n",
            "t.conf:3: [e] option force_rport: \"perhaps\" is not yes or no",
        ),
        (
            "[e]\ntype=endpoint\nidentify_by=username,magic\n",
            "t.conf:3: [e] option identify_by: \"magic\" is not username",
        ),
        (
            "[e]\ntype=endpoint\nauth=nobody\n",
            "t.conf:3: [e] option auth: auth nobody does not exist",
        ),
        (
            "[e]\ntype=endpoint\naors=nowhere\n",
            "t.conf:3: [e] option aors: aor nowhere does not exist",
        ),
        (
            "[e]\ntype=endpoint\ntransport=none\n",
            "t.conf:3: [e] option transport: transport none does not exist",
        ),
        (
            "[a]\ntype=auth\npassword=x\n",
            "t.conf:1: [a] auth has no username",
        ),
        (
            "[a]\ntype=auth\nusername=u\n",
            "t.conf:1: [a] auth_type needs password",
        ),
        (
            "[a]\ntype=auth\nusername=u\nauth_type=md5\nmd5_cred=xyz\n",
            "t.conf:5: [a] option md5_cred: \"xyz\" is not 32 hexadecimal digits",
        ),
        (
            "[a]\ntype=auth\nusername=u\npassword=p\nsupported_algorithms_uas=SHA-1\n",
            "t.conf:5: [a] option supported_algorithms_uas: \"SHA-1\" is not MD5",
        ),
        (
            "[a]\ntype=auth\nusername=u\nauth_type=digest\npassword_digest=SHA-256:abc\n",
            "must be 64 hexadecimal digits",
        ),
        (
            "[a]\ntype=auth\nusername=u\npassword=p\nnonce_lifetime=0\n",
            "t.conf:5: [a] option nonce_lifetime: 0 is outside 1..=86400",
        ),
        (
            "[r]\ntype=aor\nmax_contacts=-1\n",
            "t.conf:3: [r] option max_contacts: \"-1\" is not a number",
        ),
        (
            "[r]\ntype=aor\nminimum_expiration=900\nmaximum_expiration=60\n",
            "minimum_expiration 900 is above maximum_expiration 60",
        ),
        (
            "[r]\ntype=aor\nqualify_timeout=soon\n",
            "t.conf:3: [r] option qualify_timeout",
        ),
        (
            "[i]\ntype=identify\nmatch=1.2.3.4\n",
            "t.conf:1: [i] identify has no endpoint",
        ),
        (
            "[i]\ntype=identify\nendpoint=ghost\nmatch=1.2.3.4\n",
            "t.conf:1: [i] endpoint ghost does not exist",
        ),
        (
            "[d]\ntype=domain_alias\n",
            "t.conf:1: [d] domain_alias has no domain",
        ),
        (
            "[s]\ntype=system\ntimer_t1=5\n",
            "t.conf:3: [s] option timer_t1: 5 is outside 100..=60000",
        ),
        (
            "[g]\ntype=global\nmax_forwards=0\n",
            "t.conf:3: [g] option max_forwards: 0 is outside 1..=255",
        ),
        (
            "[g]\ntype=global\n[h]\ntype=global\n",
            "t.conf:3: [h] is a second type=global section",
        ),
        (
            "[e]\ntype=endpoint\n[e]\ntype=endpoint\n",
            "t.conf:3: [e] is a second endpoint of that name",
        ),
        (
            "[a]\ntype=transport\n[b]\ntype=transport\n",
            "t.conf:3: [b] binds Udp 0.0.0.0:5060 like an earlier transport",
        ),
    ] {
        let errs = errors(text);
        assert!(errs.iter().any(|e| e.contains(want)), "{text:?}: {errs:?}");
    }
}

#[test]
fn unsupported_section_types_and_options_are_warnings() {
    let r = from_str(
        "t.conf",
        "[reg]\ntype=phoneprov\n[e]\ntype=endpoint\ncontxt=typo\n",
    );
    assert!(r.is_ok());
    let w: Vec<String> = r.warnings.iter().map(ToString::to_string).collect();
    assert!(w.contains(
        &"t.conf:1: [reg] type=phoneprov is not supported by sipjet and is ignored".to_string()
    ));
    assert!(
        w.contains(
            &"t.conf:5: [e] endpoint option contxt is not an option sipjet knows and is ignored"
                .to_string()
        )
    );
}

#[test]
fn tls_trust_options_take_effect_or_say_why_not() {
    let r = from_str(
        "t.conf",
        "[t]\ntype=transport\nprotocol=tls\ncert_file=c.pem\npriv_key_file=k.pem\n\
ca_list_file=/etc/sipjet/ca.pem\nverify_server=yes\n\
[u]\ntype=transport\nverify_server=no\n",
    );
    assert!(r.is_ok(), "{:?}", r.errors);
    assert_eq!(
        r.config.transports[0].ca_list_file.as_deref(),
        Some(std::path::Path::new("/etc/sipjet/ca.pem"))
    );
    let w: Vec<String> = r.warnings.iter().map(ToString::to_string).collect();
    assert_eq!(
        w,
        [
            "t.conf:10: [u] transport option verify_server = no takes no effect: sipjet always checks the \
certificate and name of the servers it connects to over TLS (trust a private CA with \
ca_list_file)"
        ]
    );
    assert_eq!(
        errors("[t]\ntype=transport\nverify_server=maybe\n"),
        ["t.conf:3: [t] option verify_server: \"maybe\" is not yes or no"]
    );
}

/// The sources of the section parsers, one module per section type.
const PARSER_SOURCES: [&str; 9] = [
    include_str!("transport.rs"),
    include_str!("endpoint.rs"),
    include_str!("auth.rs"),
    include_str!("aor.rs"),
    include_str!("identify.rs"),
    include_str!("domain_alias.rs"),
    include_str!("system.rs"),
    include_str!("registration.rs"),
    include_str!("acl.rs"),
];

/// The option arms of each section's parser, read from its source: the
/// `"name" =>` (or `"a" | "b" =>`) lines of the `match o.key.as_str()` of
/// the function named after the section type.
fn parser_arms() -> Vec<(String, String)> {
    let mut arms = Vec::new();
    let mut section: Option<String> = None;
    for line in PARSER_SOURCES.iter().flat_map(|s| s.lines()) {
        let signature = line.strip_prefix("pub(super) ").unwrap_or(line);
        if let Some(rest) = signature.strip_prefix("fn ") {
            let name = rest.split('(').next().unwrap_or("");
            section = [
                "transport",
                "endpoint",
                "auth",
                "aor",
                "identify",
                "domain_alias",
                "system",
                "global",
                "registration",
                "acl",
            ]
            .contains(&name)
            .then(|| name.to_string());
            continue;
        }
        let Some(kind) = &section else { continue };
        // Arms of the option match are indented by exactly 12 spaces.
        let Some(arm) = line.strip_prefix("            \"") else {
            continue;
        };
        if line.starts_with("             ") || !arm.contains("=>") {
            continue;
        }
        let names = arm.split("=>").next().unwrap_or("");
        for name in names.split('|') {
            let name = name.trim().trim_matches('"');
            if !name.is_empty() {
                arms.push((kind.clone(), name.to_string()));
            }
        }
    }
    arms
}

/// Every option the parser handles is in the table check-config warns
/// from, and every option of the table (but the media ones, which need no
/// arm) is handled by the parser.
#[test]
fn the_option_table_is_the_parsers() {
    let arms = parser_arms();
    assert!(arms.len() > 50, "the arms were found: {arms:?}");
    for (kind, name) in &arms {
        assert!(
            crate::config::options::OPTIONS
                .iter()
                .any(|o| o.section == kind && o.name == name),
            "[{kind}] {name} is parsed but not in the option table"
        );
    }
    for o in crate::config::options::OPTIONS {
        assert!(
            arms.iter().any(|(k, n)| k == o.section && n == o.name),
            "[{}] {} is in the table but not parsed",
            o.section,
            o.name
        );
    }
}

/// The field an option that takes effect is stored in: named as the
/// option, but for these.
fn field_of(section: &str, option: &str) -> Option<String> {
    let field = match (section, option) {
        (_, "type") => return None,
        ("endpoint", "auth") => "auths",
        ("identify", "match") => "matches",
        ("aor", "contact") => "contacts",
        ("auth", "password_digest") => "password_digests",
        ("auth", "supported_algorithms_uas") => "algorithms",
        ("acl", "permit" | "deny") => "source",
        ("acl", "contact_permit" | "contact_deny") => "contact",
        // Refused with an error: nothing to store.
        ("acl", "acl" | "contact_acl") => return None,
        _ => option,
    };
    Some(field.to_string())
}

/// An option marked as taking effect is read somewhere outside the
/// configuration: its field appears in the server's other modules.
#[test]
fn options_that_take_effect_are_read_outside_the_configuration() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut code = String::new();
    let mut stack = vec![root.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                if path != root.join("config") {
                    stack.push(path);
                }
            } else if path.extension().is_some_and(|e| e == "rs") {
                code.push_str(&std::fs::read_to_string(&path).unwrap());
            }
        }
    }
    for o in crate::config::options::OPTIONS {
        if o.effect != crate::config::options::Effect::Takes {
            continue;
        }
        let Some(field) = field_of(o.section, o.name) else {
            continue;
        };
        let read = code.match_indices(&format!(".{field}")).any(|(at, m)| {
            !code[at + m.len()..]
                .chars()
                .next()
                .is_some_and(|c| c.is_alphanumeric() || c == '_')
        });
        assert!(
            read,
            "[{}] {} takes effect, yet .{field} is read nowhere outside config/",
            o.section, o.name
        );
    }
}

/// Every option that is parsed but takes no effect (with the value
/// given) is named in a warning that says so.
#[test]
fn options_without_effect_are_warned_about() {
    use crate::config::options::{Effect, OPTIONS};
    for o in OPTIONS {
        let value = match o.effect {
            Effect::Takes => continue,
            Effect::Fixed(always, _) => {
                if value::boolean(always) == Ok(true) {
                    "no"
                } else {
                    "yes"
                }
            }
            Effect::Ignored(_) if o.name.ends_with("_port") => "5060",
            Effect::Ignored(_) if o.name == "match_header" => "X-Trunk: a",
            Effect::Ignored(_) => "x",
        };
        let text = format!("[s]\ntype={}\n{}={value}\n", o.section, o.name);
        let r = from_str("t.conf", &text);
        let w: Vec<String> = r.warnings.iter().map(ToString::to_string).collect();
        assert!(
            w.iter()
                .any(|w| w.contains(&format!("{} = {value} takes no effect", o.name))),
            "[{}] {} = {value}: {w:?} {:?}",
            o.section,
            o.name,
            r.errors
        );
    }
}

#[test]
fn allowed_origins_are_origins_of_websocket_transports() {
    let r = from_str(
        "t.conf",
        "[ws]\ntype=transport\nprotocol=ws\nallowed_origins = https://Phone.example.com, http://127.0.0.1:8080\n\
[udp]\ntype=transport\nprotocol=udp\nallowed_origins = https://phone.example.com\n",
    );
    assert!(r.is_ok(), "{:?}", r.errors);
    assert_eq!(
        r.config.transports[0].allowed_origins.as_deref(),
        Some(
            &[
                "https://phone.example.com".to_string(),
                "http://127.0.0.1:8080".to_string()
            ][..]
        )
    );
    let w: Vec<String> = r.warnings.iter().map(ToString::to_string).collect();
    assert_eq!(
        w,
        [
            "t.conf:5: [udp] option allowed_origins takes no effect: only WebSocket transports (ws, wss) have origins"
        ]
    );
    for bad in [
        "phone.example.com",
        "https://phone.example.com/app",
        "https://",
        "",
    ] {
        let r = from_str(
            "t.conf",
            &format!("[ws]\ntype=transport\nprotocol=ws\nallowed_origins = {bad}\n"),
        );
        assert!(!r.is_ok(), "{bad:?} was accepted");
        assert!(
            r.errors[0].to_string().contains("allowed_origins"),
            "{:?}",
            r.errors
        );
    }
}

#[test]
fn capture_and_hep_options() {
    let r = from_str(
        "t.conf",
        "[global]\ntype=global\ncapture_buffer_mib=8\nhep_server=homer.example:9060\nhep_capture_id=2001\n",
    );
    assert!(r.is_ok(), "{:?}", r.errors);
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
    let g = &r.config.global;
    assert_eq!(g.capture_buffer_mib, 8);
    assert_eq!(g.hep_server.as_deref(), Some("homer.example:9060"));
    assert_eq!(g.hep_capture_id, 2001);
    assert_eq!(GlobalConf::default().capture_buffer_mib, 64);
    assert_eq!(GlobalConf::default().hep_server, None);
    let ok = from_str("t.conf", "[global]\ntype=global\nhep_server=[::1]:9060\n");
    assert!(ok.is_ok(), "{:?}", ok.errors);
    for bad in [
        "9060",
        "homer.example",
        "homer.example:0",
        "::1:9060",
        ":9060",
    ] {
        let e = errors(&format!("[global]\ntype=global\nhep_server={bad}\n"));
        assert_eq!(e.len(), 1, "{bad}: {e:?}");
        assert!(e[0].starts_with("t.conf:3:"), "{e:?}");
    }
    assert_eq!(
        errors("[global]\ntype=global\ncapture_buffer_mib=5000\n").len(),
        1
    );
    let alone = from_str("t.conf", "[global]\ntype=global\nhep_capture_id=7\n");
    let w: Vec<String> = alone.warnings.iter().map(ToString::to_string).collect();
    assert_eq!(
        w,
        ["t.conf:3: [global] hep_capture_id takes no effect without hep_server"]
    );
}

#[test]
fn registrations_are_read_and_checked() {
    let r = from_str(
        "t.conf",
        "[t]\ntype=transport\nprotocol=tcp\nbind=127.0.0.1:5070\n\
[pa]\ntype=auth\nusername=office\npassword=pw\n\
[prov]\ntype=registration\nserver_uri=sip:sip.provider.test\nclient_uri=sip:office@provider.test\n\
contact_user=office\noutbound_auth=pa\ntransport=t\nexpiration=600\nretry_interval=30\n\
forbidden_retry_interval=300\nmax_retries=5\noutbound_proxy=sip:192.0.2.1:5060\n\
contact_header_params=x=1\nline=yes\n",
    );
    assert!(r.is_ok(), "{:?}", r.errors);
    let g = &r.config.registrations[0];
    assert_eq!(g.server_uri, "sip:sip.provider.test");
    assert_eq!(g.client_uri, "sip:office@provider.test");
    assert_eq!(g.contact_user, "office");
    assert_eq!(g.outbound_auth, ["pa"]);
    assert_eq!(g.transport.as_deref(), Some("t"));
    assert_eq!(g.expiration, 600);
    assert_eq!(g.retry_interval, Duration::from_secs(30));
    assert_eq!(g.forbidden_retry_interval, Duration::from_secs(300));
    assert_eq!(g.max_retries, 5);
    assert_eq!(g.outbound_proxy.as_deref(), Some("sip:192.0.2.1:5060"));
    assert_eq!(g.contact_header_params.as_deref(), Some("x=1"));
    // Asterisk's defaults.
    assert_eq!(g.fatal_retry_interval, Duration::ZERO);
    assert!(g.auth_rejection_permanent);
    assert_eq!(g.max_random_initial_delay, Duration::from_secs(10));
    let w: Vec<String> = r.warnings.iter().map(ToString::to_string).collect();
    assert!(
        w.iter().any(|w| w.contains("line = yes takes no effect")),
        "{w:?}"
    );

    for (text, want) in [
        (
            "[r]\ntype=registration\nclient_uri=sip:a@b\n",
            "[r] registration has no server_uri",
        ),
        (
            "[r]\ntype=registration\nserver_uri=sip:b\n",
            "[r] registration has no client_uri",
        ),
        (
            "[r]\ntype=registration\nserver_uri=tel:+1\nclient_uri=sip:a@b\n",
            "is not a sip: or sips: URI",
        ),
        (
            "[r]\ntype=registration\nserver_uri=sip:b\nclient_uri=sip:a@b\noutbound_auth=nope\n",
            "[r] option outbound_auth: auth nope does not exist",
        ),
        (
            "[r]\ntype=registration\nserver_uri=sip:b\nclient_uri=sip:a@b\ntransport=nope\n",
            "[r] option transport: transport nope does not exist",
        ),
        (
            "[r]\ntype=registration\nserver_uri=sip:b\nclient_uri=sip:a@b\nexpiration=0\n",
            "option expiration",
        ),
        (
            "[r]\ntype=registration\nserver_uri=sip:b\nclient_uri=sip:a@b\ncontact_user=a b\n",
            "is not a SIP user part",
        ),
    ] {
        let r = from_str("t.conf", text);
        let errs: Vec<String> = r.errors.iter().map(ToString::to_string).collect();
        assert!(errs.iter().any(|e| e.contains(want)), "{text:?}: {errs:?}");
    }
}

#[test]
fn acl_sections_keep_their_rules_in_order_and_refuse_acl_conf_references() {
    let r = from_str(
        "t.conf",
        "[a]\ntype = acl\ndeny = 0.0.0.0/0.0.0.0\npermit = 192.0.2.0/24, 198.51.100.7\n\
         contact_deny = 10.0.0.0/8\n",
    );
    assert!(r.is_ok(), "{:?}", r.errors);
    let a = &r.config.acls[0];
    let rules: Vec<(bool, String)> = a
        .source
        .iter()
        .map(|x| (x.permit, x.net.to_string()))
        .collect();
    assert_eq!(
        rules,
        [
            (false, "0.0.0.0/0".to_string()),
            (true, "192.0.2.0/24".to_string()),
            (true, "198.51.100.7/32".to_string())
        ]
    );
    assert_eq!(a.contact.len(), 1);
    assert_eq!(
        errors("[a]\ntype = acl\nacl = office\n"),
        [
            "t.conf:3: [a] acl = office: sipjet does not read acl.conf; write its permit and deny lines in this section"
        ]
    );
    let e = errors("[a]\ntype = acl\npermit = gw.example.com\n");
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(e[0].starts_with("t.conf:3:"), "{e:?}");
    // On an endpoint, as in Asterisk's pjsip, they do nothing: said so.
    let w = from_str("t.conf", "[e]\ntype = endpoint\npermit = 192.0.2.1\n").warnings;
    assert!(w[0].message.contains("type=acl"), "{w:?}");
}

#[test]
fn a_shared_location_database_without_the_cluster_secret_is_warned_about() {
    let global = "[global]\ntype=global\nlocation_db=postgres://sipjet@db.example.com/sip\n";
    let r = from_str("t.conf", global);
    assert!(r.is_ok(), "{:?}", r.errors);
    let w: Vec<String> = r.warnings.iter().map(ToString::to_string).collect();
    assert!(
        w.iter().any(
            |w| w.starts_with("t.conf:1: [global] location_db is a PostgreSQL database")
                && w.contains("cluster_secret is not set")
        ),
        "{w:?}"
    );
    let r = from_str(
        "t.conf",
        &format!(
            "{global}cluster_secret=sixteen characters at least\nnode_address=sip:192.0.2.1:5060\\;transport=tcp\n"
        ),
    );
    assert!(r.is_ok(), "{:?}", r.errors);
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
    assert_eq!(
        r.config.global.node_address.as_deref(),
        Some("sip:192.0.2.1:5060;transport=tcp")
    );
    // SQLite is one node's: nothing to share.
    let r = from_str(
        "t.conf",
        "[global]\ntype=global\nlocation_db=/var/lib/sipjet/l.db\n",
    );
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
    for bad in [
        "cluster_secret=short",
        "node_address=sip:db.example.com:5060",
        "node_address=sip:192.0.2.1",
        "node_address=sip:u@192.0.2.1:5060",
        "node_address=sip:192.0.2.1:5060\\;transport=ws",
    ] {
        let r = from_str("t.conf", &format!("[global]\ntype=global\n{bad}\n"));
        assert!(!r.is_ok(), "{bad} is refused");
    }
}
