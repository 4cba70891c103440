//! The Request-URI and Route of a request inside a dialog (§12.2.1.1),
//! for loose routers (`lr`, RFC 3261) and strict ones (RFC 2543).

use sipjet_message::{NameAddr, Uri};

use super::error::DialogError;

/// Where an in-dialog request is addressed.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Destination {
    pub request_uri: String,
    /// Route values in order, each a `name-addr`.
    pub route: Vec<String>,
}

/// §12.2.1.1: with no route set, or a first route that is a loose router,
/// the request goes to the remote target with the route set as Route.
/// A strict router in front wants its own URI as Request-URI: the request
/// then carries the rest of the route set and the remote target as Route,
/// for the strict router to pop.
pub(crate) fn destination(
    remote_target: &str,
    route_set: &[String],
) -> Result<Destination, DialogError> {
    let Some(first) = route_set.first() else {
        return Ok(Destination {
            request_uri: remote_target.to_string(),
            route: Vec::new(),
        });
    };
    let first = NameAddr::parse(first)
        .and_then(|a| a.uri())
        .map_err(|problem| DialogError::BadRoute {
            route: first.clone(),
            problem,
        })?;
    match first {
        Uri::Sip(uri) if uri.is_loose_router() => Ok(Destination {
            request_uri: remote_target.to_string(),
            route: route_set.to_vec(),
        }),
        strict => {
            let mut route = route_set[1..].to_vec();
            route.push(format!("<{remote_target}>"));
            Ok(Destination {
                request_uri: as_request_uri(&strict),
                route,
            })
        }
    }
}

/// A route URI stripped of what a Request-URI may not hold (§19.1.1,
/// table 1): the `method` parameter and the headers. Rebuilt from its
/// parts, which also writes the scheme in lower case and an IPv6 host in
/// its canonical form.
fn as_request_uri(uri: &Uri<'_>) -> String {
    let Uri::Sip(sip) = uri else {
        return uri.as_str().to_string();
    };
    let mut out = String::from(if sip.secure { "sips:" } else { "sip:" });
    if let Some(user) = sip.user {
        out.push_str(user);
        if let Some(password) = sip.password {
            out.push(':');
            out.push_str(password);
        }
        out.push('@');
    }
    out.push_str(&sip.host.to_string());
    if let Some(port) = sip.port {
        out.push(':');
        out.push_str(&port.to_string());
    }
    for param in sip.params.iter() {
        if param.name.eq_ignore_ascii_case("method") {
            continue;
        }
        out.push(';');
        out.push_str(param.name);
        if let Some(value) = param.value {
            out.push('=');
            out.push_str(value);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn routes(values: &[&str]) -> Vec<String> {
        values.iter().map(|v| v.to_string()).collect()
    }

    #[test]
    fn no_route_set_sends_to_the_remote_target() {
        assert_eq!(
            destination("sip:bob@192.0.2.4", &[]).unwrap(),
            Destination {
                request_uri: "sip:bob@192.0.2.4".to_string(),
                route: Vec::new(),
            }
        );
    }

    #[test]
    fn a_loose_router_first_keeps_the_remote_target_as_request_uri() {
        let set = routes(&[
            "<sip:ss1.atlanta.example.com;lr>",
            "<sip:ss2.biloxi.example.com>",
        ]);
        assert_eq!(
            destination("sip:bob@client.biloxi.example.com", &set).unwrap(),
            Destination {
                request_uri: "sip:bob@client.biloxi.example.com".to_string(),
                route: set.clone(),
            }
        );
    }

    /// The example of §12.2.1.1.
    #[test]
    fn a_strict_router_first_becomes_the_request_uri() {
        let set = routes(&[
            "<sip:proxy1>",
            "<sip:proxy2>",
            "<sip:proxy3;lr>",
            "<sip:proxy4>",
        ]);
        assert_eq!(
            destination("sip:user@remoteua", &set).unwrap(),
            Destination {
                request_uri: "sip:proxy1".to_string(),
                route: routes(&[
                    "<sip:proxy2>",
                    "<sip:proxy3;lr>",
                    "<sip:proxy4>",
                    "<sip:user@remoteua>"
                ]),
            }
        );
    }

    #[test]
    fn a_strict_route_loses_method_and_headers_in_the_request_uri() {
        let set = routes(&[
            "\"P\" <sip:p;ab@proxy1:5070;method=INVITE;maddr=192.0.2.9;transport=tcp?Subject=x>",
        ]);
        let d = destination("sip:user@remoteua", &set).unwrap();
        assert_eq!(
            d.request_uri,
            "sip:p;ab@proxy1:5070;maddr=192.0.2.9;transport=tcp"
        );
        assert_eq!(d.route, routes(&["<sip:user@remoteua>"]));
        let set = routes(&["<SIPS:u:pw@[2001:db8:0::1]?Subject=x>"]);
        let d = destination("sip:user@remoteua", &set).unwrap();
        assert_eq!(d.request_uri, "sips:u:pw@[2001:db8::1]");
    }

    #[test]
    fn an_unreadable_route_is_named() {
        let err = destination("sip:user@remoteua", &routes(&["<sip:proxy 1>"])).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("route \"<sip:proxy 1>\" of the dialog: "),
            "{err}"
        );
    }
}
