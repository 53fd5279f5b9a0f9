//! Plain-HTTP endpoints through an HTTP proxy, reached the way such proxies
//! expect: every request goes to the proxy in absolute form (`PUT
//! http://host:port/bucket/key HTTP/1.1`), as botocore (urllib3) sends it.
//! `https://` endpoints still go through a CONNECT tunnel (ureq's
//! `ConnectProxyConnector`), the only way to keep TLS end to end.
//!
//! Hand-written protocol code, and why: ureq 3.5 reaches every endpoint
//! through an HTTP proxy with CONNECT, which Debian's tinyproxy (`ConnectPort
//! 443` and `563` only) and squid (`http_access deny CONNECT !SSL_ports`)
//! refuse for an endpoint on another port, and ureq-proto writes every
//! request line in origin form (`PUT /bucket/key`), with no option for the
//! absolute form. So the transport below rewrites the request line of each
//! request as it goes out, and adds `Proxy-Authorization` when the proxy URL
//! has credentials. Nothing else of the request is touched; the response is
//! read by ureq as from any server.

use std::fmt;
use std::io;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use ureq::http::uri::Scheme;
use ureq::unversioned::transport::{
    Buffers, ConnectionDetails, Connector, Either, NextTimeout, RustlsConnector, Transport,
};

use super::tcp::TunedConnector;

/// Opens, for a plain-HTTP endpoint, a connection to the agent's HTTP(S)
/// proxy that carries absolute-form requests; leaves everything else
/// (no proxy, an `https://` endpoint, a host the proxy is bypassed for) to
/// the connectors after it.
#[derive(Debug)]
pub struct ForwardProxyConnector {
    tcp: TunedConnector,
    tls: RustlsConnector,
}

impl ForwardProxyConnector {
    /// Connections to the proxy opened by `tcp`, with TLS for an `https://`
    /// proxy.
    pub fn new(tcp: TunedConnector) -> Self {
        ForwardProxyConnector {
            tcp,
            tls: RustlsConnector::default(),
        }
    }
}

impl<In: Transport> Connector<In> for ForwardProxyConnector {
    type Out = Either<In, Box<dyn Transport>>;

    fn connect(
        &self,
        details: &ConnectionDetails,
        chained: Option<In>,
    ) -> Result<Option<Self::Out>, ureq::Error> {
        if let Some(transport) = chained {
            return Ok(Some(Either::A(transport)));
        }
        let Some(proxy) = details.config.proxy() else {
            return Ok(None);
        };
        let target = details.uri;
        if target.scheme() != Some(&Scheme::HTTP) || proxy.is_no_proxy(target) {
            return Ok(None);
        }
        let origin = format!(
            "http://{}",
            target.authority().ok_or(ureq::Error::HostNotFound)?
        );
        let proxy_uri = proxy.uri();
        let addrs = details
            .resolver
            .resolve(proxy_uri, details.config, details.timeout)?;
        let to_proxy = ConnectionDetails {
            uri: proxy_uri,
            addrs,
            resolver: details.resolver,
            config: details.config,
            request_level: details.request_level,
            now: details.now,
            timeout: details.timeout,
            current_time: details.current_time.clone(),
            run_connector: details.run_connector.clone(),
            register_shutdown: details.register_shutdown.clone(),
        };
        let tcp = Connector::<()>::connect(&self.tcp, &to_proxy, None)?;
        let transport = self
            .tls
            .connect(&to_proxy, tcp)?
            .ok_or(ureq::Error::ConnectionFailed)?;
        let authorization = (proxy.username().is_some() || proxy.password().is_some()).then(|| {
            let pair = format!(
                "{}:{}",
                proxy.username().unwrap_or_default(),
                proxy.password().unwrap_or_default()
            );
            format!("Basic {}", BASE64.encode(pair))
        });
        Ok(Some(Either::B(Box::new(AbsoluteForm {
            inner: Box::new(transport),
            origin,
            authorization,
            at_request: true,
        }))))
    }
}

/// A connection to the proxy on which each request line goes out in
/// absolute form.
struct AbsoluteForm {
    inner: Box<dyn Transport>,
    /// `http://host:port` of the endpoint, put before each request's path.
    origin: String,
    /// The `Proxy-Authorization` value, if the proxy URL has credentials.
    authorization: Option<String>,
    /// Whether the next bytes out start a request: on a new connection, and
    /// on one the pool checks (`is_open`) before lending or taking it back.
    at_request: bool,
}

// The proxy's credentials are never shown.
impl fmt::Debug for AbsoluteForm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AbsoluteForm")
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

/// `head` (a request's first bytes, as ureq wrote them) with its request
/// line in absolute form and `authorization` after it; None if `head` does
/// not start with an origin-form request line.
fn rewrite(head: &[u8], origin: &str, authorization: Option<&str>) -> Option<Vec<u8>> {
    let line_end = head.windows(2).position(|w| w == b"\r\n")?;
    let space = head[..line_end].iter().position(|&b| b == b' ')?;
    let (method, target) = (&head[..space], &head[space + 1..line_end]);
    if method.is_empty()
        || !method.iter().all(u8::is_ascii_uppercase)
        || target.first() != Some(&b'/')
    {
        return None;
    }
    let mut out = Vec::with_capacity(head.len() + origin.len() + 64);
    out.extend_from_slice(method);
    out.push(b' ');
    out.extend_from_slice(origin.as_bytes());
    out.extend_from_slice(&head[space + 1..line_end + 2]);
    if let Some(value) = authorization {
        out.extend_from_slice(b"Proxy-Authorization: ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(&head[line_end + 2..]);
    Some(out)
}

impl Transport for AbsoluteForm {
    fn buffers(&mut self) -> &mut dyn Buffers {
        self.inner.buffers()
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        if !self.at_request {
            return self.inner.transmit_output(amount, timeout);
        }
        self.at_request = false;
        let head = &self.inner.buffers().output()[..amount];
        let rewritten =
            rewrite(head, &self.origin, self.authorization.as_deref()).ok_or_else(|| {
                ureq::Error::Io(io::Error::other("no request line to send to the proxy"))
            })?;
        // Longer than what ureq wrote: sent through the same buffer, in as
        // many pieces as it takes.
        for piece in rewritten.chunks(self.inner.buffers().output().len().max(1)) {
            self.inner.buffers().output()[..piece.len()].copy_from_slice(piece);
            self.inner.transmit_output(piece.len(), timeout)?;
        }
        Ok(())
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        self.inner.await_input(timeout)
    }

    fn is_open(&mut self) -> bool {
        self.at_request = true;
        self.inner.is_open()
    }

    fn is_tls(&self) -> bool {
        self.inner.is_tls()
    }
}

#[cfg(test)]
mod tests {
    use super::rewrite;

    #[test]
    fn the_request_line_goes_in_absolute_form_with_the_proxys_credentials() {
        let head = b"PUT /b/k%20x?partNumber=1 HTTP/1.1\r\nhost: 127.0.0.1:9000\r\n\r\nbody";
        let out = rewrite(head, "http://127.0.0.1:9000", Some("Basic dTpw")).unwrap();
        assert_eq!(
            out,
            b"PUT http://127.0.0.1:9000/b/k%20x?partNumber=1 HTTP/1.1\r\n\
              Proxy-Authorization: Basic dTpw\r\nhost: 127.0.0.1:9000\r\n\r\nbody"
        );
        let out = rewrite(b"GET / HTTP/1.1\r\n\r\n", "http://h", None).unwrap();
        assert_eq!(out, b"GET http://h/ HTTP/1.1\r\n\r\n");
    }

    #[test]
    fn anything_but_a_request_line_is_refused() {
        for head in [
            &b"body bytes that are no request\r\n"[..],
            b"PUT http://h/b HTTP/1.1\r\n",
            b"PUT /b HTTP/1.1",
            b"",
        ] {
            assert!(rewrite(head, "http://h", None).is_none(), "{head:?}");
        }
    }
}
