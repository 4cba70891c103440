//! Stateless nonces (as Asterisk issues them): the nonce carries its own
//! issue time and a keyed hash of that time, the client's source address
//! and the realm, under a secret made when the process starts. Any nonce
//! can be checked without remembering it; a nonce minted for another
//! address or realm, or by another process, does not verify; an old one is
//! stale (RFC 7616 §3.3: the client retries with the same credentials and
//! the fresh nonce, without asking its user).
//!
//! What must be remembered is the highest nonce-count seen per nonce, to
//! refuse a replayed request (RFC 7616 §3.4); that memory only lasts as
//! long as the nonce is fresh.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use super::digest::hex;

type HmacSha256 = Hmac<Sha256>;

/// Bytes of the keyed hash kept in a nonce (128 bits).
const MAC_LEN: usize = 16;

/// What a received nonce turned out to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NonceCheck {
    /// Issued here, for this address and realm, and still fresh.
    Fresh,
    /// Issued here for this address and realm, but older than the lifetime.
    Stale,
    /// Not a nonce of this process for this address and realm.
    Invalid,
}

/// Issues and checks nonces; tracks nonce-counts.
pub struct Nonces {
    secret: [u8; 32],
    counts: Mutex<NonceCounts>,
}

struct NonceCounts {
    /// nonce → (highest nc seen, issue time in seconds)
    seen: HashMap<String, (u32, u64)>,
    /// Issue times older than this are pruned at the next sweep.
    horizon: Duration,
    last_sweep: u64,
}

fn unix_seconds(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl Nonces {
    /// A new secret from the operating system's generator. `horizon` bounds
    /// how long nonce-counts are remembered: the longest nonce lifetime in
    /// use.
    pub fn new(horizon: Duration) -> Nonces {
        Nonces {
            secret: rand::random(),
            counts: Mutex::new(NonceCounts {
                seen: HashMap::new(),
                horizon,
                last_sweep: 0,
            }),
        }
    }

    fn mac(&self, issued: u64, source: IpAddr, realm: &str) -> [u8; MAC_LEN] {
        let mut m = HmacSha256::new_from_slice(&self.secret).expect("HMAC takes any key length");
        m.update(&issued.to_be_bytes());
        match source {
            IpAddr::V4(a) => m.update(&a.octets()),
            IpAddr::V6(a) => m.update(&a.octets()),
        }
        m.update(realm.as_bytes());
        let full = m.finalize().into_bytes();
        let mut out = [0u8; MAC_LEN];
        out.copy_from_slice(&full[..MAC_LEN]);
        out
    }

    /// A nonce for a challenge sent to `source` in `realm`.
    pub fn issue(&self, now: SystemTime, source: IpAddr, realm: &str) -> String {
        let issued = unix_seconds(now);
        format!("{issued:x}/{}", hex(&self.mac(issued, source, realm)))
    }

    /// Checks a nonce received from `source` in `realm`.
    pub fn check(
        &self,
        nonce: &str,
        now: SystemTime,
        source: IpAddr,
        realm: &str,
        lifetime: Duration,
    ) -> NonceCheck {
        let Some((issued, mac)) = nonce.split_once('/') else {
            return NonceCheck::Invalid;
        };
        let Ok(issued) = u64::from_str_radix(issued, 16) else {
            return NonceCheck::Invalid;
        };
        let Some(mac) = unhex::<MAC_LEN>(mac) else {
            return NonceCheck::Invalid;
        };
        if !bool::from(mac.ct_eq(&self.mac(issued, source, realm))) {
            return NonceCheck::Invalid;
        }
        let now = unix_seconds(now);
        if issued > now.saturating_add(1) {
            return NonceCheck::Invalid;
        }
        if now - issued.min(now) > lifetime.as_secs() {
            NonceCheck::Stale
        } else {
            NonceCheck::Fresh
        }
    }

    /// Records nonce-count `nc` for a fresh nonce; false when a count this
    /// high was already seen for it (a replay).
    pub fn accept_count(&self, nonce: &str, nc: u32, now: SystemTime) -> bool {
        let now = unix_seconds(now);
        let mut c = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        let horizon = c.horizon.as_secs().max(1);
        if now.saturating_sub(c.last_sweep) >= horizon {
            c.seen
                .retain(|_, (_, issued)| now.saturating_sub(*issued) <= horizon * 2);
            c.last_sweep = now;
        }
        match c.seen.get_mut(nonce) {
            Some((highest, _)) if nc <= *highest => false,
            Some((highest, _)) => {
                *highest = nc;
                true
            }
            None => {
                c.seen.insert(nonce.to_string(), (nc, now));
                true
            }
        }
    }

    /// Nonces whose counts are remembered (for tests and metrics).
    pub fn tracked(&self) -> usize {
        self.counts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .seen
            .len()
    }
}

fn unhex<const N: usize>(s: &str) -> Option<[u8; N]> {
    if s.len() != N * 2 {
        return None;
    }
    let mut out = [0u8; N];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(s.get(i * 2..i * 2 + 2)?, 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIFE: Duration = Duration::from_secs(32);

    fn t(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_700_000_000 + secs)
    }

    #[test]
    fn fresh_stale_and_bound_to_address_and_realm() {
        let n = Nonces::new(LIFE);
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let nonce = n.issue(t(0), ip, "example.com");
        assert_eq!(
            n.check(&nonce, t(10), ip, "example.com", LIFE),
            NonceCheck::Fresh
        );
        assert_eq!(
            n.check(&nonce, t(32), ip, "example.com", LIFE),
            NonceCheck::Fresh
        );
        assert_eq!(
            n.check(&nonce, t(33), ip, "example.com", LIFE),
            NonceCheck::Stale
        );
        assert_eq!(
            n.check(
                &nonce,
                t(1),
                "192.0.2.2".parse().unwrap(),
                "example.com",
                LIFE
            ),
            NonceCheck::Invalid
        );
        assert_eq!(
            n.check(&nonce, t(1), ip, "other.com", LIFE),
            NonceCheck::Invalid
        );
        let other_process = Nonces::new(LIFE);
        assert_eq!(
            other_process.check(&nonce, t(1), ip, "example.com", LIFE),
            NonceCheck::Invalid
        );
    }

    #[test]
    fn forged_and_malformed_nonces_are_invalid() {
        let n = Nonces::new(LIFE);
        let ip: IpAddr = "2001:db8::1".parse().unwrap();
        let nonce = n.issue(t(0), ip, "r");
        let (ts, mac) = nonce.split_once('/').unwrap();
        // The time cannot be moved without the key.
        let later = u64::from_str_radix(ts, 16).unwrap() + 100;
        assert_eq!(
            n.check(&format!("{later:x}/{mac}"), t(100), ip, "r", LIFE),
            NonceCheck::Invalid
        );
        for bad in ["", "abc", "zz/00", "1/xyz", &format!("{ts}/{}", &mac[2..])] {
            assert_eq!(
                n.check(bad, t(0), ip, "r", LIFE),
                NonceCheck::Invalid,
                "{bad:?}"
            );
        }
        // A nonce from the future is not accepted.
        let future = n.issue(t(1000), ip, "r");
        assert_eq!(n.check(&future, t(0), ip, "r", LIFE), NonceCheck::Invalid);
    }

    #[test]
    fn nonce_counts_must_grow() {
        let n = Nonces::new(LIFE);
        assert!(n.accept_count("a", 1, t(0)));
        assert!(!n.accept_count("a", 1, t(0)));
        assert!(n.accept_count("a", 2, t(1)));
        assert!(!n.accept_count("a", 1, t(1)));
        assert!(n.accept_count("b", 1, t(1)));
        // Old counts are forgotten once their nonce cannot be fresh.
        assert!(n.accept_count("c", 1, t(200)));
        assert_eq!(n.tracked(), 1);
    }
}
