//! The configuration sipjet runs with when given none: loopback only,
//! UDP and TCP on 127.0.0.1:5060, and two demo users who can register two
//! softphones on the same machine and send each other messages.

/// The built-in default, in pjsip.conf format.
pub const DEFAULT_CONFIG: &str = "\
; sipjet's built-in default: loopback only, two demo users.
[global]
type = global
user_agent = sipjet
default_realm = sipjet
endpoint_identifier_order = ip,username,auth_username

[transport-udp]
type = transport
protocol = udp
bind = 127.0.0.1:5060

[transport-tcp]
type = transport
protocol = tcp
bind = 127.0.0.1:5060

[demo-phone](!)
type = endpoint
identify_by = username,auth_username

[demo-auth](!)
type = auth
auth_type = userpass
; MD5 alone: Debian's baresip gives up on a 401 that also offers another
; algorithm, and SIPp answers the first challenge whatever it names. Offer
; SHA-256 in your own configuration when your phones all know it.
supported_algorithms_uas = MD5

[demo-aor](!)
type = aor
max_contacts = 5
default_expiration = 3600

[alice](demo-phone)
auth = alice
aors = alice
[alice](demo-auth)
username = alice
password = alice-pass
[alice](demo-aor)

[bob](demo-phone)
auth = bob
aors = bob
[bob](demo-auth)
username = bob
password = bob-pass
[bob](demo-aor)
";

#[cfg(test)]
mod tests {
    #[test]
    fn the_default_loads_cleanly() {
        let r = crate::config::pjsip::from_str("<built-in>", super::DEFAULT_CONFIG);
        assert!(r.is_ok(), "{:?}", r.errors);
        assert!(r.warnings.is_empty(), "{:?}", r.warnings);
        assert_eq!(r.config.endpoints.len(), 2);
        assert_eq!(r.config.transports.len(), 2);
    }
}
