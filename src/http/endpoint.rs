//! Where the server is and how to reach it: the endpoint URL, the TLS roots,
//! the proxy, and the pooled HTTP agent built from them.

use std::path::Path;
use std::time::Duration;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use ureq::tls::{parse_pem, PemItem, RootCerts, TlsConfig};
use ureq::unversioned::transport::{ConnectProxyConnector, Connector, RustlsConnector};
use ureq::{Agent, Proxy, ProxyProtocol};

use super::errors::proxy_error;
use super::proxy::ForwardProxyConnector;
use super::resolve::CachingResolver;
use super::tcp::TunedConnector;
use crate::error::CoreError;

/// The S3 endpoint: `scheme://authority/base_path`.
#[derive(Debug, PartialEq, Eq)]
pub struct Endpoint {
    pub scheme: String,
    /// `host[:port]` as sent in `Host` (default ports left out, as botocore does).
    pub authority: String,
    /// A path the endpoint URL itself carries, without a trailing `/`.
    pub base_path: String,
}

impl Endpoint {
    /// Splits `scheme://authority/path` without pulling in a URL parser.
    pub fn parse(endpoint: &str) -> PyResult<Self> {
        let invalid = || PyValueError::new_err("endpoint must be an http(s) URL");
        let (scheme, rest) = endpoint.split_once("://").ok_or_else(invalid)?;
        let scheme = scheme.to_ascii_lowercase();
        let default_port = match scheme.as_str() {
            "http" => ":80",
            "https" => ":443",
            _ => return Err(invalid()),
        };
        let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        if authority.is_empty() || authority.contains('@') {
            return Err(invalid());
        }
        let authority = authority
            .strip_suffix(default_port)
            .unwrap_or(authority)
            .to_ascii_lowercase();
        Ok(Endpoint {
            scheme,
            authority,
            base_path: path.trim_end_matches('/').to_owned(),
        })
    }

    /// `scheme://authority`, for messages.
    pub fn origin(&self) -> String {
        format!("{}://{}", self.scheme, self.authority)
    }
}

/// The certificates of a PEM bundle, to trust instead of the default roots.
fn load_roots(path: &Path) -> PyResult<RootCerts> {
    let pem = std::fs::read(path).map_err(|e| CoreError::io("read CA bundle", path, e))?;
    let certificates = parse_pem(&pem)
        .filter_map(|item| match item {
            Ok(PemItem::Certificate(certificate)) => Some(Ok(certificate)),
            Ok(_) => None,
            Err(e) => Some(Err(e)),
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| PyValueError::new_err(format!("{}: {e}", path.display())))?;
    if certificates.is_empty() {
        return Err(PyValueError::new_err(format!(
            "{}: no certificate in the CA bundle",
            path.display()
        )));
    }
    Ok(RootCerts::new_with_certs(&certificates))
}

/// The proxy at `url` (`http://[user:pass@]host:port`, or `https://`, which
/// is reached over TLS, checked against the same roots as the endpoint):
/// requests to a plain-HTTP endpoint go to it in absolute form (`proxy.rs`),
/// those to an `https://` endpoint through a CONNECT tunnel. Other schemes
/// (SOCKS needs a ureq feature we leave out) are a `ConfigError`; no message
/// names the user or the password.
fn parse_proxy(url: &str) -> PyResult<Proxy> {
    let scheme = url.split_once("://").map_or("http", |(scheme, _)| scheme);
    let proxy = Proxy::new(url)
        .map_err(|_| proxy_error(format!("invalid {scheme} proxy URL for the native plane")))?;
    match proxy.protocol() {
        ProxyProtocol::Http | ProxyProtocol::Https => Ok(proxy),
        _ => Err(proxy_error(format!(
            "the native plane cannot use a {scheme} proxy (http and https proxies only)"
        ))),
    }
}

/// Settings of the agent every request of an `Engine` goes through.
pub struct AgentSettings<'a> {
    pub connect_timeout: f64,
    pub read_timeout: f64,
    pub max_connections: usize,
    pub ca_bundle: Option<&'a Path>,
    pub proxy: Option<&'a str>,
    pub socket_tuning: bool,
    /// SO_RCVBUF of each connection, under a bandwidth limit.
    pub receive_buffer: Option<usize>,
}

/// A pooled agent: at most `max_connections` idle connections kept, TLS
/// certificates checked against Mozilla's roots (as botocore's certifi
/// does) or against the PEM file `ca_bundle` only, through `proxy` if set.
pub fn build_agent(settings: AgentSettings<'_>) -> PyResult<Agent> {
    let proxy = settings.proxy.map(parse_proxy).transpose()?;
    let mut tls = TlsConfig::builder();
    if let Some(path) = settings.ca_bundle {
        tls = tls.root_certs(load_roots(path)?);
    }
    let connect = Some(Duration::from_secs_f64(settings.connect_timeout));
    let read = Some(Duration::from_secs_f64(settings.read_timeout));
    // Batched reads need to see every byte the socket delivers, and wait for
    // bytes of the body only: not through a proxy.
    let batch_reads = settings.socket_tuning && proxy.is_none();
    let config = Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        // Python chooses the proxy (as botocore would); ureq never reads
        // the environment itself.
        .proxy(proxy)
        .timeout_resolve(connect)
        .timeout_connect(connect)
        .timeout_per_read(read)
        .timeout_per_write(read)
        .max_idle_connections(settings.max_connections)
        .max_idle_connections_per_host(settings.max_connections)
        .user_agent(concat!("cdn-manager/", env!("CARGO_PKG_VERSION")))
        .tls_config(tls.build())
        .build();
    // Through a proxy, a plain-HTTP endpoint's connection to the proxy, or a
    // CONNECT tunnel (which opens its own connection through the rest of this
    // chain) for an https one; else a direct connection; then TLS for https.
    let connector = ()
        .chain(ForwardProxyConnector::new(
            TunedConnector::new(settings.socket_tuning, false)
                .receive_buffer(settings.receive_buffer),
        ))
        .chain(ConnectProxyConnector::default())
        .chain(
            TunedConnector::new(settings.socket_tuning, batch_reads)
                .receive_buffer(settings.receive_buffer),
        )
        .chain(RustlsConnector::default());
    Ok(Agent::with_parts(
        config,
        connector,
        CachingResolver::default(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_split_into_scheme_authority_and_path() {
        let split = |e| Endpoint::parse(e).unwrap();
        assert_eq!(
            split("http://127.0.0.1:9000"),
            Endpoint {
                scheme: "http".into(),
                authority: "127.0.0.1:9000".into(),
                base_path: String::new()
            }
        );
        assert_eq!(
            split("HTTPS://S3.Example.com:443/base/"),
            Endpoint {
                scheme: "https".into(),
                authority: "s3.example.com".into(),
                base_path: "/base".into()
            }
        );
        for bad in ["ftp://x", "127.0.0.1:9000", "http://", "http://user@host"] {
            assert!(Endpoint::parse(bad).is_err(), "{bad}");
        }
    }
}
