//! Host name resolution for the native data plane, remembered for a while.
//!
//! ureq resolves the host before every request, pooled connection or not,
//! and with a resolve timeout it does so on a new thread: thousands of small
//! objects would mean thousands of lookups (and threads). The answer is kept
//! for `TTL`, as a browser or a caching stub resolver would.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use ureq::config::Config;
use ureq::http::Uri;
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::NextTimeout;

/// How long an answer is reused before the host is looked up again.
const TTL: Duration = Duration::from_secs(30);

#[derive(Debug, Default)]
pub struct CachingResolver {
    inner: DefaultResolver,
    answers: Mutex<HashMap<String, (Instant, ResolvedSocketAddrs)>>,
}

impl Resolver for CachingResolver {
    fn resolve(
        &self,
        uri: &Uri,
        config: &Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let key = uri.authority().map(|a| a.as_str().to_owned());
        if let Some(key) = &key {
            let answers = self.answers.lock().expect("resolver lock poisoned");
            if let Some((at, addrs)) = answers.get(key) {
                if at.elapsed() < TTL {
                    return Ok(addrs.clone());
                }
            }
        }
        let addrs = self.inner.resolve(uri, config, timeout)?;
        if let Some(key) = key {
            let mut answers = self.answers.lock().expect("resolver lock poisoned");
            answers.insert(key, (Instant::now(), addrs.clone()));
        }
        Ok(addrs)
    }
}
