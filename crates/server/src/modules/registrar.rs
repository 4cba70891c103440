//! The registrar (RFC 3261 §10.3), for the configured AORs: adds,
//! refreshes and removes bindings in the location store, which keeps them
//! across restarts. Only an endpoint authenticated in the REGISTER itself
//! may register, and only to its own AORs. For AORs with `support_path`,
//! the Path (RFC 3327) is stored with each binding and the requests sent
//! to the contact are routed by it. The instance-id and reg-id of RFC 5626
//! are stored for display; outbound itself is not implemented, so a
//! REGISTER that requires it is refused with 420.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use sipjet_core::{
    Handled, HeaderName, IncomingRequest, Message, Method, ServerTransaction, Service,
    message::{Contact, Uri},
};

use super::extensions::unsupported;
use crate::config::pjsip::AorConf;
use crate::date::rfc1123;
use crate::location::{AorUpdate, Binding, LocationStore, StoreError};
use crate::model::Model;
use crate::security::{SecurityEvent, SecurityEventKind};

/// The registrar service.
pub struct Registrar {
    model: Arc<Model>,
    store: Arc<dyn LocationStore>,
    /// This node's id, recorded with each binding: the flow a REGISTER
    /// came over is held here.
    node_id: Arc<str>,
}

/// The range of seconds a `503` asks a user agent to wait before it
/// registers again while the location database is unreachable: spread,
/// so that the phones refused together do not all come back together.
const RETRY_AFTER: std::ops::RangeInclusive<u32> = 4..=8;

/// A contact of the REGISTER, read and checked.
struct Requested {
    contact: String,
    expires: u32,
    q: Option<u16>,
    instance_id: Option<String>,
    reg_id: Option<u32>,
}

/// Why a REGISTER is refused: status, reason, extra header.
struct Refusal(u16, &'static str, Option<(&'static str, String)>);

impl Refusal {
    fn of_store(e: StoreError, aor: &str) -> Refusal {
        match e {
            StoreError::StaleCSeq { .. } => Refusal(500, "CSeq out of order", None),
            // Not stored, and the database is expected back: RFC 3261
            // §21.5.4, a temporary condition, with when to try again.
            unavailable if unavailable.is_unavailable() => {
                // The store logs the database's going and coming back; one
                // line per REGISTER refused meanwhile would flood the log.
                tracing::debug!(error = %unavailable, %aor, "registration not stored");
                Refusal(
                    503,
                    "Location Database Unavailable",
                    Some(("Retry-After", rand::random_range(RETRY_AFTER).to_string())),
                )
            }
            other => {
                tracing::error!(error = %other, %aor, "cannot store a registration");
                Refusal(500, "Server Internal Error", None)
            }
        }
    }
}

/// A REGISTER checked and turned into a change of its AOR, and what the
/// 200 will need once the change is stored.
struct Accepted {
    aor: String,
    /// `None` for a REGISTER that only asks for the current bindings.
    update: Option<AorUpdate>,
    /// The interval granted to each contact of this request, as asked
    /// (capped at the maximum), for the 200 without rounding.
    granted: Vec<(String, u32)>,
    path: Vec<String>,
}

impl Accepted {
    /// The 200: every current binding with its expiry, Path, Date.
    fn ok(&self, store: &dyn LocationStore, mut ok: Message) -> Message {
        for b in store.bindings(&self.aor, SystemTime::now()) {
            let remaining = self
                .granted
                .iter()
                .find(|(c, _)| *c == b.contact)
                .map(|(_, e)| *e)
                .unwrap_or_else(|| remaining_seconds(b.expires_at));
            let _ = ok.add_header("Contact", &format!("<{}>;expires={remaining}", b.contact));
        }
        if !self.path.is_empty() {
            let _ = ok.add_header("Path", &self.path.join(", "));
            let _ = ok.add_header("Supported", "path");
        }
        let _ = ok.add_header("Date", &rfc1123(SystemTime::now()));
        ok
    }
}

impl Registrar {
    /// A registrar over `store` for the model's AORs, on the node named
    /// `node_id`.
    pub fn new(model: Arc<Model>, store: Arc<dyn LocationStore>, node_id: Arc<str>) -> Registrar {
        Registrar {
            model,
            store,
            node_id,
        }
    }

    /// The AOR a REGISTER is for: the user part of To (`user@domain` if an
    /// AOR has that name, else `user`).
    fn aor_of<'a>(&'a self, request: &IncomingRequest) -> Option<&'a AorConf> {
        let to = request.message.to_header().ok()?;
        let uri = to.uri().ok()?;
        let sip = uri.as_sip()?;
        let user = String::from_utf8(sip.user_unescaped()?.into_owned()).ok()?;
        self.model
            .aor(&format!("{user}@{}", sip.host))
            .or_else(|| self.model.aor(&user))
    }

    fn requested_contacts(
        &self,
        m: &Message,
        aor: &AorConf,
    ) -> Result<(bool, Vec<Requested>), Refusal> {
        let header_expires = m.expires().map_err(|_| Refusal(400, "Bad Expires", None))?;
        let mut wildcard = false;
        let mut out = Vec::new();
        for c in m.contacts() {
            let c = c.map_err(|_| Refusal(400, "Bad Contact", None))?;
            let Contact::Addr(addr) = c else {
                wildcard = true;
                continue;
            };
            let expires = c
                .expires()
                .or(header_expires)
                .unwrap_or(aor.default_expiration);
            let params = addr.params;
            out.push(Requested {
                contact: addr.uri_str().to_string(),
                expires,
                q: c.q(),
                instance_id: params
                    .value("+sip.instance")
                    .map(|v| sipjet_core::message::unquote(v).into_owned()),
                reg_id: params.value("reg-id").and_then(|v| v.parse().ok()),
            });
        }
        if wildcard && (!out.is_empty() || header_expires != Some(0)) {
            // RFC 3261 §10.3 step 6.
            return Err(Refusal(
                400,
                "Contact * needs Expires 0 and no other contact",
                None,
            ));
        }
        for r in &out {
            if r.expires != 0 && r.expires < aor.minimum_expiration {
                return Err(Refusal(
                    423,
                    "Interval Too Brief",
                    Some(("Min-Expires", aor.minimum_expiration.to_string())),
                ));
            }
        }
        Ok((wildcard, out))
    }

    /// Checks a REGISTER and works out the change it makes.
    fn register(&self, request: &IncomingRequest) -> Result<Accepted, Refusal> {
        let m = &request.message;
        // Only to its own AORs, and only for an endpoint whose right to
        // send this REGISTER the core checked in this request: identified
        // is not authenticated. An AOR that does not exist is refused the
        // same way as someone else's, so the answer names no AOR.
        let aor = self.aor_of(request).filter(|aor| {
            request.is_authenticated()
                && request
                    .endpoint
                    .as_ref()
                    .is_some_and(|e| e.aors.contains(&aor.name))
        });
        let Some(aor) = aor else {
            let account = request
                .endpoint
                .as_ref()
                .filter(|e| !e.artificial)
                .map_or(String::new(), |e| e.name.clone());
            SecurityEvent {
                kind: SecurityEventKind::RequestNotAllowed,
                time: SystemTime::now(),
                transport: request.flow.protocol.via_name(),
                remote: request.source(),
                account: &account,
                reason: "REGISTER to an AOR that is not the endpoint's",
            }
            .log();
            return Err(Refusal(403, "Forbidden", None));
        };
        if aor.max_contacts == 0 {
            return Err(Refusal(403, "Registration not allowed for this AOR", None));
        }
        // RFC 3261 §8.2.2.3: the only extension the registrar implements
        // is Path (RFC 3327), for the AORs configured with support_path.
        let understood: &[&str] = if aor.support_path { &["path"] } else { &[] };
        let unsupported = unsupported(request, HeaderName::Require, understood);
        if !unsupported.is_empty() {
            return Err(Refusal(
                420,
                "Bad Extension",
                Some(("Unsupported", unsupported.join(", "))),
            ));
        }
        let (wildcard, requested) = self.requested_contacts(m, aor)?;
        let now = SystemTime::now();
        let call_id = m
            .call_id()
            .map_err(|_| Refusal(400, "Bad Call-ID", None))?
            .to_string();
        let cseq = m.cseq().map_err(|_| Refusal(400, "Bad CSeq", None))?.seq;
        let existing = self.store.bindings(&aor.name, now);
        let path: Vec<String> = if aor.support_path {
            m.headers(HeaderName::Path)
                .flat_map(|v| v.split(','))
                .map(|p| p.trim().to_string())
                .collect()
        } else {
            Vec::new()
        };
        let mut update = AorUpdate {
            aor: aor.name.clone(),
            remove_all: wildcard,
            removed_by: Some((call_id.clone(), cseq)),
            ..AorUpdate::default()
        };
        let mut granted: Vec<(String, u32)> = Vec::new();
        for r in &requested {
            let same = existing
                .iter()
                .find(|b| same_contact(&b.contact, &r.contact));
            let key = same.map_or(r.contact.clone(), |b| b.contact.clone());
            if r.expires == 0 {
                if same.is_some() {
                    update.removals.push(key);
                }
                continue;
            }
            let expires = r.expires.min(aor.maximum_expiration);
            granted.push((key.clone(), expires));
            update.upserts.push(Binding {
                aor: aor.name.clone(),
                contact: key,
                expires_at: now + Duration::from_secs(u64::from(expires)),
                q: r.q,
                call_id: call_id.clone(),
                cseq,
                path: path.clone(),
                instance_id: r.instance_id.clone(),
                reg_id: r.reg_id,
                received: Some(format!(
                    "{}:{}",
                    request.flow.protocol.via_name(),
                    request.source()
                )),
                user_agent: m.header(HeaderName::UserAgent).map(str::to_string),
                endpoint: request.endpoint.as_ref().map(|e| e.name.clone()),
                node: Some(self.node_id.to_string()),
            });
        }
        // max_contacts, making room by removing the bindings closest to
        // expiring when remove_existing is set.
        let kept: Vec<&Binding> = if wildcard {
            Vec::new()
        } else {
            existing
                .iter()
                .filter(|b| {
                    !update.removals.contains(&b.contact)
                        && !update.upserts.iter().any(|u| u.contact == b.contact)
                })
                .collect()
        };
        let total = kept.len() + update.upserts.len();
        let max = aor.max_contacts as usize;
        if total > max {
            if !aor.remove_existing || update.upserts.len() > max {
                return Err(Refusal(403, "Too many contacts", None));
            }
            let mut oldest = kept.clone();
            oldest.sort_by_key(|b| b.expires_at);
            for b in oldest.iter().take(total - max) {
                update.removals.push(b.contact.clone());
            }
        }
        let changes =
            !update.upserts.is_empty() || !update.removals.is_empty() || update.remove_all;
        Ok(Accepted {
            aor: aor.name.clone(),
            update: changes.then_some(update),
            granted,
            path,
        })
    }
}

/// RFC 3261 §10.3 compares contacts by URI equivalence (§19.1.4).
fn same_contact(a: &str, b: &str) -> bool {
    match (Uri::parse(a), Uri::parse(b)) {
        (Ok(x), Ok(y)) => x.equivalent(&y),
        _ => a == b,
    }
}

/// Whole seconds left, rounded up, so a binding shows the time it still
/// has rather than one second less.
fn remaining_seconds(expires_at: SystemTime) -> u32 {
    let left = expires_at
        .duration_since(SystemTime::now())
        .unwrap_or_default();
    let secs = left.as_secs() + u64::from(left.subsec_nanos() > 0);
    u32::try_from(secs).unwrap_or(u32::MAX)
}

/// Sends the 200 or the refusal.
fn answer(
    transaction: &ServerTransaction,
    outcome: Result<&Accepted, Refusal>,
    store: &dyn LocationStore,
) {
    let response = match outcome {
        Ok(accepted) => accepted.ok(store, transaction.response(200)),
        Err(Refusal(code, reason, header)) => {
            let mut r = transaction.response_with_reason(code, reason);
            if let Some((name, value)) = header {
                let _ = r.add_header(name, &value);
            }
            r
        }
    };
    if let Err(e) = transaction.respond(response) {
        tracing::warn!(error = %e, "cannot answer a REGISTER");
    }
}

impl Service for Registrar {
    fn name(&self) -> &str {
        "registrar"
    }

    fn on_rx_request(&self, request: &IncomingRequest) -> Handled {
        if request.method() != &Method::Register {
            return Handled::No;
        }
        let transaction = request.server_transaction();
        let mut accepted = match self.register(request) {
            Ok(accepted) => accepted,
            Err(refusal) => {
                answer(&transaction, Err(refusal), &*self.store);
                return Handled::Yes;
            }
        };
        let Some(update) = accepted.update.take() else {
            answer(&transaction, Ok(&accepted), &*self.store);
            return Handled::Yes;
        };
        // Answered once the change is on disk, by the store's thread, so
        // that no thread sits waiting for the commit.
        let store = Arc::clone(&self.store);
        self.store.apply_then(
            update,
            Box::new(move |stored| {
                let outcome = match stored {
                    Ok(()) => Ok(&accepted),
                    Err(e) => Err(Refusal::of_store(e, &accepted.aor)),
                };
                answer(&transaction, outcome, &*store);
            }),
        );
        Handled::Yes
    }

    fn runs_inline(&self) -> bool {
        // Checks in memory; the store writes on its own thread.
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contacts_and_their_time_left() {
        assert!(!same_contact(
            "sip:alice@192.0.2.1:5060",
            "sip:alice@192.0.2.1:5060;transport=udp"
        ));
        assert!(same_contact(
            "sip:ALICE@example.com",
            "sip:ALICE@EXAMPLE.com"
        ));
        let later = SystemTime::now() + Duration::from_millis(3_599_500);
        assert_eq!(remaining_seconds(later), 3600);
    }
}
