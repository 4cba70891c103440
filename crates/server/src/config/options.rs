//! Every `pjsip.conf` option sipjet reads, by section type, and whether it
//! changes what sipjet does. This one table is what `sipjet check-config`
//! warns from: an option that is parsed (and checked, so that a wrong
//! value is still an error) but takes no effect is named in a warning
//! with the reason, and an option that is not in the table is reported as
//! unknown. Tests next to the parser hold the table to the code: every
//! option the parser handles is here, every option marked as taking
//! effect is stored and read outside the configuration. The section types
//! sipjet skips with a warning are listed here too.

use super::value;

/// What an option does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Effect {
    /// It changes what sipjet does, as Asterisk documents it (or as the
    /// README says where sipjet differs).
    Takes,
    /// It is read and checked, and changes nothing: check-config warns,
    /// giving the reason.
    Ignored(&'static str),
    /// sipjet always behaves as this value says; another value is warned
    /// about, with the reason.
    Fixed(&'static str, &'static str),
}

impl Effect {
    /// Why `value` set on this option takes no effect, if it does not.
    pub fn ignores(self, value: &str) -> Option<&'static str> {
        match self {
            Effect::Takes => None,
            Effect::Ignored(why) => Some(why),
            Effect::Fixed(always, why) => (!same_value(always, value)).then_some(why),
        }
    }
}

/// Values compare as booleans when both are, otherwise as words.
fn same_value(a: &str, b: &str) -> bool {
    match (value::boolean(a), value::boolean(b)) {
        (Ok(x), Ok(y)) => x == y,
        _ => a.trim().eq_ignore_ascii_case(b.trim()),
    }
}

/// One option of one section type.
#[derive(Clone, Copy, Debug)]
pub struct OptionSpec {
    /// The section type (`endpoint`, `transport`, ...).
    pub section: &'static str,
    /// The option's name.
    pub name: &'static str,
    /// What it does.
    pub effect: Effect,
}

const fn takes(section: &'static str, name: &'static str) -> OptionSpec {
    OptionSpec {
        section,
        name,
        effect: Effect::Takes,
    }
}

const fn ignored(section: &'static str, name: &'static str, why: &'static str) -> OptionSpec {
    OptionSpec {
        section,
        name,
        effect: Effect::Ignored(why),
    }
}

const fn fixed(
    section: &'static str,
    name: &'static str,
    always: &'static str,
    why: &'static str,
) -> OptionSpec {
    OptionSpec {
        section,
        name,
        effect: Effect::Fixed(always, why),
    }
}

const NO_MESSAGE_DIALPLAN: &str =
    "the dialplan routes calls only: messages go to the AOR the Request-URI names";
const NO_ENDPOINT_ACL: &str = "Asterisk's pjsip has no per-endpoint ACL: write permit and deny in a type=acl section, which applies to every request";

/// The options sipjet reads, by section type.
pub const OPTIONS: &[OptionSpec] = &[
    // [transport]
    takes("transport", "type"),
    takes("transport", "protocol"),
    takes("transport", "bind"),
    takes("transport", "cert_file"),
    takes("transport", "priv_key_file"),
    takes("transport", "ca_list_file"),
    // sipjet's own: the web pages that may open a WebSocket.
    takes("transport", "allowed_origins"),
    fixed(
        "transport",
        "verify_server",
        "yes",
        "sipjet always checks the certificate and name of the servers it connects to over TLS (trust a private CA with ca_list_file)",
    ),
    // Via, Contact and Record-Route for peers outside local_net.
    takes("transport", "external_signaling_address"),
    takes("transport", "external_signaling_port"),
    takes("transport", "local_net"),
    // [endpoint]
    takes("endpoint", "type"),
    takes("endpoint", "aors"),
    takes("endpoint", "auth"),
    // Answers the challenges of calls bridged through the endpoint (a trunk).
    takes("endpoint", "outbound_auth"),
    ignored(
        "endpoint",
        "transport",
        "sipjet sends to a contact over the flow it registered from, or by its URI",
    ),
    // Routes the endpoint's calls by the dialplan, when it has the context.
    takes("endpoint", "context"),
    ignored("endpoint", "message_context", NO_MESSAGE_DIALPLAN),
    takes("endpoint", "identify_by"),
    ignored("endpoint", "acl", NO_ENDPOINT_ACL),
    ignored("endpoint", "contact_acl", NO_ENDPOINT_ACL),
    ignored("endpoint", "permit", NO_ENDPOINT_ACL),
    ignored("endpoint", "deny", NO_ENDPOINT_ACL),
    ignored("endpoint", "contact_permit", NO_ENDPOINT_ACL),
    ignored("endpoint", "contact_deny", NO_ENDPOINT_ACL),
    // Widens the From users the endpoint may send as (see SECURITY.md).
    takes("endpoint", "from_user"),
    // The identity of calls bridged through the endpoint (a trunk).
    takes("endpoint", "from_domain"),
    takes("endpoint", "callerid"),
    // Calls and messages to the endpoint's contacts go through it.
    takes("endpoint", "outbound_proxy"),
    fixed(
        "endpoint",
        "force_rport",
        "no",
        "sipjet answers as RFC 3581 says: to the source port when the request's Via has rport, otherwise to the Via's port",
    ),
    fixed(
        "endpoint",
        "rewrite_contact",
        "yes",
        "sipjet always reaches a contact over the flow its REGISTER came from",
    ),
    takes("endpoint", "allow_unauthenticated_options"),
    takes("endpoint", "trust_id_inbound"),
    // [auth]
    takes("auth", "type"),
    takes("auth", "auth_type"),
    takes("auth", "username"),
    takes("auth", "password"),
    takes("auth", "md5_cred"),
    takes("auth", "password_digest"),
    takes("auth", "realm"),
    takes("auth", "nonce_lifetime"),
    takes("auth", "supported_algorithms_uas"),
    // [aor]
    takes("aor", "type"),
    takes("aor", "contact"),
    takes("aor", "max_contacts"),
    takes("aor", "remove_existing"),
    takes("aor", "minimum_expiration"),
    takes("aor", "maximum_expiration"),
    takes("aor", "default_expiration"),
    takes("aor", "qualify_frequency"),
    takes("aor", "qualify_timeout"),
    fixed(
        "aor",
        "authenticate_qualify",
        "no",
        "sipjet does not yet answer challenges to its qualify requests",
    ),
    takes("aor", "support_path"),
    // [identify]
    takes("identify", "type"),
    takes("identify", "endpoint"),
    takes("identify", "match"),
    ignored(
        "identify",
        "match_header",
        "sipjet identifies by source address, From user and Authorization username, not by header",
    ),
    // [registration]
    takes("registration", "type"),
    takes("registration", "server_uri"),
    takes("registration", "client_uri"),
    takes("registration", "contact_user"),
    takes("registration", "contact_header_params"),
    takes("registration", "expiration"),
    takes("registration", "retry_interval"),
    takes("registration", "forbidden_retry_interval"),
    takes("registration", "fatal_retry_interval"),
    takes("registration", "auth_rejection_permanent"),
    takes("registration", "max_retries"),
    takes("registration", "max_random_initial_delay"),
    takes("registration", "outbound_auth"),
    takes("registration", "outbound_proxy"),
    takes("registration", "transport"),
    fixed(
        "registration",
        "line",
        "no",
        "sipjet does not yet identify the provider's requests by a line parameter in the Contact; use an identify section",
    ),
    ignored(
        "registration",
        "endpoint",
        "sipjet does not yet identify the provider's requests by their registration; use an identify section",
    ),
    fixed(
        "registration",
        "support_path",
        "no",
        "sipjet does not ask the registrar for Path (RFC 3327)",
    ),
    fixed(
        "registration",
        "support_outbound",
        "no",
        "sipjet does not register with RFC 5626 outbound",
    ),
    ignored(
        "registration",
        "user_agent",
        "REGISTERs carry the global user_agent",
    ),
    // [domain_alias]
    takes("domain_alias", "type"),
    takes("domain_alias", "domain"),
    // [system]
    takes("system", "type"),
    takes("system", "timer_t1"),
    takes("system", "timer_b"),
    // sipjet's own: Timer C of the calls it proxies.
    takes("system", "timer_c"),
    fixed(
        "system",
        "compact_headers",
        "no",
        "sipjet always writes headers in their full form",
    ),
    takes("system", "threadpool_initial_size"),
    takes("system", "threadpool_auto_increment"),
    takes("system", "threadpool_idle_timeout"),
    takes("system", "threadpool_max_size"),
    // [global]
    takes("global", "type"),
    takes("global", "max_forwards"),
    takes("global", "user_agent"),
    takes("global", "endpoint_identifier_order"),
    takes("global", "default_realm"),
    // sipjet's own: the extensions.conf calls are routed by.
    takes("global", "dialplan"),
    ignored(
        "aor",
        "outbound_proxy",
        "sipjet's qualify sends its OPTIONS to each contact directly",
    ),
    // [acl]
    takes("acl", "type"),
    takes("acl", "permit"),
    takes("acl", "deny"),
    takes("acl", "contact_permit"),
    takes("acl", "contact_deny"),
    // Refused with an error: acl.conf is not read.
    takes("acl", "acl"),
    takes("acl", "contact_acl"),
    takes("global", "keep_alive_interval"),
    takes("global", "unidentified_request_count"),
    takes("global", "unidentified_request_period"),
    takes("global", "unidentified_request_prune_interval"),
    takes("global", "contact_expiration_check_interval"),
    takes("global", "debug"),
    takes("global", "unauthenticated_server_options"),
    // sipjet's own: where registrations are kept (a path or a postgres:// URL).
    takes("global", "location_db"),
    // sipjet's own: this node's name among nodes sharing a location database.
    takes("global", "node_id"),
    // sipjet's own: where the other nodes reach this one.
    takes("global", "node_address"),
    // sipjet's own: how often a node says it is alive.
    takes("global", "node_heartbeat_interval"),
    // sipjet's own: the secret the nodes sharing a location database share.
    takes("global", "cluster_secret"),
    // sipjet's own: the capture ring of the console.
    takes("global", "capture_buffer_mib"),
    // sipjet's own, named as Kamailio's siptrace names them: HEP export.
    takes("global", "hep_server"),
    takes("global", "hep_capture_id"),
];

/// Asterisk options of any section that concern media or features sipjet
/// does not have: known, so that the warning says so.
pub const MEDIA_OPTIONS: &[&str] = &[
    "allow",
    "disallow",
    "direct_media",
    "dtmf_mode",
    "rtp_symmetric",
    "ice_support",
    "media_encryption",
    "webrtc",
    "use_avpf",
    "rtcp_mux",
    "dtls_auto_generate_cert",
    "one_touch_recording",
    "allow_transfer",
    "allow_subscribe",
    "sub_min_expiry",
    "subscribe_context",
    "aggregate_mwi",
    "mwi_from_user",
    "incoming_mwi_mailbox",
    "redirect_method",
    "refer_blind_progress",
    "notify_early_inuse_ringing",
    "ignore_183_without_sdp",
    "follow_early_media_fork",
    "accept_multiple_sdp_answers",
    "force_avp",
    "g726_non_standard",
    "rpid_immediate",
    "suppress_q850_reason_headers",
    "user_eq_phone",
    "srtp_tag_32",
    "stir_shaken",
    "allow_overlap",
    "overlap_context",
    "codec_prefs_incoming_offer",
    "codec_prefs_outgoing_offer",
    "codec_prefs_incoming_answer",
    "codec_prefs_outgoing_answer",
    "incoming_call_offer_pref",
    "outgoing_call_offer_pref",
    "send_history_info",
    "security_negotiation",
];

/// Section types of Asterisk's `pjsip.conf` sipjet does not have: warned
/// about and skipped, where any other unknown type is an error.
pub const UNSUPPORTED_SECTIONS: &[&str] = &[
    "contact",
    "phoneprov",
    "resource_list",
    "outbound-publish",
    "inbound-publication",
    "asterisk-publication",
];

/// The reason given for [`MEDIA_OPTIONS`].
pub const MEDIA_REASON: &str = "it concerns media or features sipjet does not have";

/// What sipjet does with option `name` of a `section` section: its entry,
/// or for a media option one that says it is ignored; `None` for an
/// option sipjet does not know.
pub fn spec(section: &str, name: &str) -> Option<OptionSpec> {
    OPTIONS
        .iter()
        .find(|o| o.section == section && o.name == name)
        .copied()
        .or_else(|| {
            MEDIA_OPTIONS.contains(&name).then_some(OptionSpec {
                section: "",
                name: "",
                effect: Effect::Ignored(MEDIA_REASON),
            })
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_values_compare_as_booleans() {
        let e = Effect::Fixed("yes", "why");
        assert_eq!(e.ignores("true"), None);
        assert_eq!(e.ignores("1"), None);
        assert_eq!(e.ignores("no"), Some("why"));
        assert_eq!(Effect::Takes.ignores("x"), None);
        assert_eq!(Effect::Ignored("w").ignores("x"), Some("w"));
    }

    #[test]
    fn each_option_is_listed_once() {
        for (i, a) in OPTIONS.iter().enumerate() {
            assert!(
                !OPTIONS[..i]
                    .iter()
                    .any(|b| (a.section, a.name) == (b.section, b.name)),
                "{a:?} twice"
            );
            assert!(
                !MEDIA_OPTIONS.contains(&a.name),
                "{a:?} is a media option too"
            );
        }
    }
}
