//! `[name] type=auth`: the credentials an endpoint is challenged for.

use std::time::Duration;

use super::reader::Reader;
use crate::config::file::{Location, RawSection};
use crate::config::value;
use crate::digest::DigestAlgorithm;

/// `auth_type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthType {
    /// `userpass`: a plain password.
    UserPass,
    /// `md5`: a stored MD5 HA1 (`md5_cred`).
    Md5,
    /// `digest`: per-algorithm stored hashes (`password_digest`) and/or a
    /// plain password (Asterisk 22).
    Digest,
}

impl AuthType {
    const ALL: [AuthType; 3] = [AuthType::UserPass, AuthType::Md5, AuthType::Digest];

    /// How `auth_type` names it.
    pub fn name(self) -> &'static str {
        match self {
            AuthType::UserPass => "userpass",
            AuthType::Md5 => "md5",
            AuthType::Digest => "digest",
        }
    }

    fn parse(v: &str) -> Result<AuthType, String> {
        AuthType::ALL
            .into_iter()
            .find(|t| t.name().eq_ignore_ascii_case(v))
            .ok_or_else(|| {
                format!(
                    "{:?} is not userpass, md5 or digest",
                    v.to_ascii_lowercase()
                )
            })
    }
}

/// `[name] type=auth`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthConf {
    /// Section name.
    pub name: String,
    /// Where the section starts.
    pub at: Location,
    /// `auth_type` (default userpass).
    pub auth_type: AuthType,
    /// `username`.
    pub username: String,
    /// `password`.
    pub password: Option<String>,
    /// `md5_cred`: hex MD5 of `username:realm:password`.
    pub md5_cred: Option<String>,
    /// `password_digest = ALGORITHM:hexhash`, one per algorithm.
    pub password_digests: Vec<(DigestAlgorithm, String)>,
    /// `realm` (default: the global `default_realm`).
    pub realm: Option<String>,
    /// `nonce_lifetime` (default 32 s).
    pub nonce_lifetime: Duration,
    /// `supported_algorithms_uas` (default MD5): one challenge each.
    pub algorithms: Vec<DigestAlgorithm>,
}

pub(super) fn auth(r: &mut Reader, s: &RawSection) -> Option<AuthConf> {
    let mut a = AuthConf {
        name: s.name.clone(),
        at: s.at.clone(),
        auth_type: AuthType::UserPass,
        username: String::new(),
        password: None,
        md5_cred: None,
        password_digests: Vec::new(),
        realm: None,
        nonce_lifetime: Duration::from_secs(32),
        algorithms: vec![DigestAlgorithm::Md5],
    };
    for o in &s.options {
        if !r.known("auth", s, o) {
            continue;
        }
        match o.key.as_str() {
            "type" => {}
            "auth_type" => {
                if let Some(t) = r.value(s, o, AuthType::parse) {
                    a.auth_type = t;
                }
            }
            "username" => a.username = o.value.clone(),
            "password" => a.password = Some(o.value.clone()),
            "md5_cred" => {
                a.md5_cred = r.value(s, o, |v| {
                    if v.len() == 32 && v.bytes().all(|c| c.is_ascii_hexdigit()) {
                        Ok(v.to_ascii_lowercase())
                    } else {
                        Err(format!("{v:?} is not 32 hexadecimal digits"))
                    }
                });
            }
            "password_digest" => {
                let d = r.value(s, o, |v| {
                    let (alg, hash) = v
                        .split_once(':')
                        .ok_or_else(|| format!("{v:?} is not ALGORITHM:hash"))?;
                    let alg = DigestAlgorithm::parse(alg)?;
                    let want = alg.hex_len();
                    if hash.len() != want || !hash.bytes().all(|c| c.is_ascii_hexdigit()) {
                        return Err(format!(
                            "the {} hash must be {want} hexadecimal digits",
                            alg.as_str()
                        ));
                    }
                    Ok((alg, hash.to_ascii_lowercase()))
                });
                a.password_digests.extend(d);
            }
            "realm" => a.realm = Some(o.value.clone()),
            "nonce_lifetime" => {
                if let Some(d) = r.value(s, o, |v| value::seconds(v, 1, 86_400)) {
                    a.nonce_lifetime = d;
                }
            }
            "supported_algorithms_uas" => {
                let algs: Result<Vec<_>, _> = value::list(&o.value)
                    .iter()
                    .map(|v| DigestAlgorithm::parse(v))
                    .collect();
                if let Some(algs) = r.value(s, o, |_| algs) {
                    if algs.is_empty() {
                        r.error(
                            &o.at,
                            format!("[{}] option supported_algorithms_uas is empty", s.name),
                        );
                    } else {
                        a.algorithms = algs;
                    }
                }
            }
            // Known, but without anything to store (warned as such).
            _ => {}
        }
    }
    if a.username.is_empty() {
        r.error(&s.at, format!("[{}] auth has no username", s.name));
    }
    let has_secret = match a.auth_type {
        AuthType::UserPass => a.password.is_some(),
        AuthType::Md5 => a.md5_cred.is_some(),
        AuthType::Digest => a.password.is_some() || !a.password_digests.is_empty(),
    };
    if !has_secret {
        let need = match a.auth_type {
            AuthType::UserPass => "password",
            AuthType::Md5 => "md5_cred",
            AuthType::Digest => "password or password_digest",
        };
        r.error(&s.at, format!("[{}] auth_type needs {need}", s.name));
    }
    if a.auth_type == AuthType::Md5 && a.algorithms.iter().any(|&x| x != DigestAlgorithm::Md5) {
        r.error(
            &s.at,
            format!(
                "[{}] auth_type=md5 stores an MD5 hash only, so it can only offer MD5",
                s.name
            ),
        );
    }
    Some(a)
}
