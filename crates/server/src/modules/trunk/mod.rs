//! Trunks: what sipjet does toward a SIP provider. It keeps its accounts
//! registered there ([`registrations`], deciding by [`registration`]),
//! bridges calls to the outside world through it ([`bridge`]), and
//! answers the provider's challenges with the credentials that
//! `outbound_auth` names ([`credentials`]). The dialplan hands it the
//! calls it sends to a trunk through the seam of [`dial`].

pub mod bridge;
pub mod dial;
pub mod registration;
pub mod registrations;

use sipjet_core::ClientCredential;

use crate::config::pjsip::PjsipConfig;

pub use bridge::{BridgeHandle, DialError, TrunkBridge};
pub use dial::{NoTrunks, TrunkCall, TrunkDialer};
pub use registrations::{RegistrationStatus, Registrations};

/// The credentials of the auth sections `names` (an `outbound_auth`), in
/// the core's terms. An auth's `realm`, when set, limits it to challenges
/// of that realm, as in Asterisk; a password answers any algorithm, a
/// stored hash only its own.
pub fn credentials(config: &PjsipConfig, names: &[String]) -> Vec<ClientCredential> {
    names
        .iter()
        .filter_map(|n| config.auth(n))
        .map(|a| {
            let mut ha1 = a.password_digests.clone();
            if let Some(h) = &a.md5_cred {
                ha1.push((sipjet_core::digest::DigestAlgorithm::Md5, h.clone()));
            }
            ClientCredential {
                realm: a.realm.clone(),
                username: a.username.clone(),
                password: match a.auth_type {
                    crate::config::pjsip::AuthType::Md5 => None,
                    _ => a.password.clone(),
                },
                ha1,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outbound_auth_names_become_credentials() {
        let r = crate::config::pjsip::from_str(
            "t.conf",
            "[p]\ntype=auth\nusername=office\npassword=pw\n\
[h]\ntype=auth\nauth_type=md5\nusername=u\nrealm=prov\nmd5_cred=0123456789abcdef0123456789abcdef\n",
        );
        assert!(r.is_ok(), "{:?}", r.errors);
        let c = credentials(&r.config, &["h".into(), "missing".into(), "p".into()]);
        assert_eq!(c.len(), 2);
        assert_eq!(c[0].realm.as_deref(), Some("prov"));
        assert_eq!(c[0].password, None);
        assert_eq!(c[0].ha1.len(), 1);
        assert_eq!(c[1].realm, None);
        assert_eq!(c[1].password.as_deref(), Some("pw"));
    }
}
