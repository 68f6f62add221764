//! The one outbound HTTP client: provider calls, agent webhooks (and workflow HTTP later).
//!
//! SSRF-safe by construction: only http/https; every hostname is resolved by our resolver, which
//! drops private, loopback, link-local, CGNAT, multicast and metadata addresses and fails closed on
//! DNS errors — and because the connection uses exactly the addresses it returned, a second DNS
//! answer (rebinding) is never consulted. Literal IPs are checked before sending; redirects are
//! re-checked. `SSRF_ALLOWED_HOSTS` and a provider's `allow_private_network` are the exceptions
//! (link-local and metadata addresses stay blocked even then).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use crate::platform::addresses::{AddressClass, classify};

use crate::ServiceError;

/// Resolves host names (injectable so tests classify addresses without touching DNS).
pub trait HostResolver: Send + Sync + 'static {
    /// The addresses of `host`.
    fn lookup(
        &self,
        host: &str,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = std::io::Result<Vec<IpAddr>>> + Send>>;
}

/// The system resolver.
pub struct SystemResolver;

impl HostResolver for SystemResolver {
    fn lookup(
        &self,
        host: &str,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = std::io::Result<Vec<IpAddr>>> + Send>> {
        let host = host.to_string();
        Box::pin(
            async move { Ok(tokio::net::lookup_host((host.as_str(), 0)).await?.map(|a| a.ip()).collect()) },
        )
    }
}

/// Why an address may not be contacted, or `None` when it may: metadata and reserved addresses
/// never; private ones only with `allow_private` (an `SSRF_ALLOWED_HOSTS` host, a provider's
/// `allow_private_network`).
pub fn blocked_reason(ip: IpAddr, allow_private: bool) -> Option<&'static str> {
    match classify(ip) {
        AddressClass::Public => None,
        AddressClass::Private if allow_private => None,
        AddressClass::Private => Some("private, loopback or CGNAT address"),
        AddressClass::Metadata => Some("link-local or cloud metadata address"),
        AddressClass::Reserved => Some("reserved, tunnel or non-unicast address"),
    }
}

#[derive(Clone)]
struct CheckedResolver {
    inner: Arc<dyn HostResolver>,
    allowed_hosts: Arc<Vec<String>>,
    allow_private: bool,
}

impl Resolve for CheckedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let this = self.clone();
        let host = name.as_str().to_ascii_lowercase();
        Box::pin(async move {
            let addrs = this
                .inner
                .lookup(&host)
                .await
                .map_err(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>)?;
            // An allowed host may be private; never a metadata or reserved address.
            let allow_private = this.allow_private || this.allowed_hosts.contains(&host);
            let allowed: Vec<SocketAddr> = addrs
                .into_iter()
                .filter(|ip| blocked_reason(*ip, allow_private).is_none())
                .map(|ip| SocketAddr::new(ip, 0))
                .collect();
            if allowed.is_empty() {
                let err = std::io::Error::new(
                    std::io::ErrorKind::PermissionDenied,
                    format!("SSRF blocked: {host} resolves only to forbidden addresses"),
                );
                return Err(Box::new(err) as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(allowed.into_iter()) as Addrs)
        })
    }
}

/// Outbound settings.
#[derive(Clone)]
pub struct OutboundSettings {
    /// `SSRF_ALLOWED_HOSTS`, lower-cased.
    pub allowed_hosts: Vec<String>,
    /// Name resolution.
    pub resolver: Arc<dyn HostResolver>,
}

/// The SSRF-safe client pair (strict, and for providers allowed on the private network).
#[derive(Clone)]
pub struct OutboundClient {
    strict: reqwest::Client,
    private: reqwest::Client,
    allowed_hosts: Arc<Vec<String>>,
    resolver: Arc<dyn HostResolver>,
}

fn build(settings: &OutboundSettings, allow_private: bool) -> Result<reqwest::Client, ServiceError> {
    let allowed_hosts = Arc::new(settings.allowed_hosts.clone());
    let redirect_hosts = allowed_hosts.clone();
    let policy = reqwest::redirect::Policy::custom(move |attempt| {
        if attempt.previous().len() >= 5 {
            return attempt.error("too many redirects");
        }
        match check_url(attempt.url(), &redirect_hosts, allow_private) {
            Ok(()) => attempt.follow(),
            Err(reason) => attempt.error(reason),
        }
    });
    reqwest::Client::builder()
        .dns_resolver(Arc::new(CheckedResolver {
            inner: settings.resolver.clone(),
            allowed_hosts,
            allow_private,
        }))
        .redirect(policy)
        // Never through a proxy from the environment (HTTP(S)_PROXY, ALL_PROXY): the proxy would
        // resolve names itself, past the pinning resolver, and reach what the policy refuses.
        .no_proxy()
        .connect_timeout(Duration::from_secs(10))
        .user_agent(concat!("Calseta/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| ServiceError::Config(format!("cannot build the HTTP client: {e}")))
}

fn check_url(url: &reqwest::Url, allowed_hosts: &[String], allow_private: bool) -> Result<(), String> {
    if url.scheme() != "http" && url.scheme() != "https" {
        return Err(format!("SSRF blocked: scheme '{}' is not allowed", url.scheme()));
    }
    let Some(host) = url.host_str() else { return Err("SSRF blocked: URL has no host".into()) };
    let host = host.trim_start_matches('[').trim_end_matches(']').to_ascii_lowercase();
    let allow_private = allow_private || allowed_hosts.contains(&host);
    if let Ok(ip) = host.parse::<IpAddr>()
        && let Some(reason) = blocked_reason(ip, allow_private)
    {
        return Err(format!("SSRF blocked: {host} is a {reason}"));
    }
    Ok(())
}

impl OutboundClient {
    /// Builds both clients.
    pub fn new(settings: &OutboundSettings) -> Result<Self, ServiceError> {
        Ok(Self {
            strict: build(settings, false)?,
            private: build(settings, true)?,
            allowed_hosts: Arc::new(settings.allowed_hosts.clone()),
            resolver: settings.resolver.clone(),
        })
    }

    /// Checks a destination fully before anything is sent: scheme, literal address, and every
    /// address the name resolves to (DNS failure refuses). Used when an agent registers and again
    /// before each delivery; the connection itself is pinned by the resolver.
    pub async fn check_destination(&self, url: &str, allow_private: bool) -> Result<reqwest::Url, String> {
        let url = reqwest::Url::parse(url).map_err(|e| format!("invalid URL: {e}"))?;
        check_url(&url, &self.allowed_hosts, allow_private)?;
        let host = url
            .host_str()
            .unwrap_or_default()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_ascii_lowercase();
        if host.parse::<IpAddr>().is_ok() {
            return Ok(url);
        }
        let allow_private = allow_private || self.allowed_hosts.contains(&host);
        let addrs = self.resolver.lookup(&host).await.map_err(|e| format!("{host} does not resolve: {e}"))?;
        if addrs.is_empty() {
            return Err(format!("{host} does not resolve"));
        }
        if let Some((ip, reason)) =
            addrs.iter().find_map(|ip| blocked_reason(*ip, allow_private).map(|r| (ip, r)))
        {
            return Err(format!("{host} resolves to {ip}, a {reason}"));
        }
        Ok(url)
    }

    /// Checks a URL's scheme and literal address (host names are checked when resolved).
    pub fn check(&self, url: &reqwest::Url, allow_private: bool) -> Result<(), String> {
        check_url(url, &self.allowed_hosts, allow_private)
    }

    /// The client to use.
    pub fn client(&self, allow_private: bool) -> &reqwest::Client {
        if allow_private { &self.private } else { &self.strict }
    }
}

/// An HTTP client error as text for records and logs: its causes (the outermost message alone
/// rarely says what failed), without the request URL, whose query or userinfo may hold a secret.
pub fn error_text(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut message = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        message = format!("{message}: {s}");
        source = s.source();
    }
    message
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn error_text_keeps_the_cause_and_drops_the_url() {
        // Nothing listens on port 1: the connection is refused.
        let client = reqwest::Client::builder().no_proxy().build().unwrap();
        let err = client.get("http://user:pw@127.0.0.1:1/x?api_key=s3cr3t").send().await.unwrap_err();
        let text = error_text(err);
        assert!(
            !text.contains("s3cr3t") && !text.contains("pw@") && !text.contains("127.0.0.1:1/x"),
            "{text}"
        );
        assert!(text.to_lowercase().contains("connect"), "{text}");
    }

    use super::*;

    #[test]
    fn classifies_addresses() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(blocked_reason(ip("93.184.216.34"), false), None);
        assert!(blocked_reason(ip("10.0.0.1"), false).is_some());
        assert_eq!(blocked_reason(ip("10.0.0.1"), true), None);
        assert!(blocked_reason(ip("127.0.0.1"), false).is_some());
        assert!(blocked_reason(ip("169.254.169.254"), true).is_some(), "metadata stays blocked");
        assert!(blocked_reason(ip("::ffff:169.254.169.254"), true).is_some());
        assert!(blocked_reason(ip("100.64.0.1"), false).is_some());
        assert!(blocked_reason(ip("fd00::1"), false).is_some());
        assert!(blocked_reason(ip("fe80::1"), true).is_some());
        assert!(blocked_reason(ip("0.0.0.0"), true).is_some());
        assert_eq!(blocked_reason(ip("2606:4700::1111"), false), None);
    }

    #[test]
    fn allowed_hosts_and_private_providers_never_reach_metadata() {
        let allowed =
            vec!["169.254.169.254".to_string(), "fd00:ec2::254".to_string(), "10.0.0.5".to_string()];
        for url in
            ["http://169.254.169.254/latest/meta-data", "http://[fd00:ec2::254]/", "http://100.100.100.200/"]
        {
            let url = reqwest::Url::parse(url).unwrap();
            assert!(check_url(&url, &allowed, true).is_err(), "{url}");
        }
        let private = reqwest::Url::parse("http://10.0.0.5/").unwrap();
        assert!(check_url(&private, &allowed, false).is_ok(), "an allowed host may be private");
        let nat64 = reqwest::Url::parse("http://[64:ff9b::a9fe:a9fe]/").unwrap();
        assert!(check_url(&nat64, &[], true).is_err(), "NAT64 of the metadata address");
    }

    struct Fixed(Vec<IpAddr>);
    impl HostResolver for Fixed {
        fn lookup(
            &self,
            _host: &str,
        ) -> std::pin::Pin<Box<dyn std::future::Future<Output = std::io::Result<Vec<IpAddr>>> + Send>>
        {
            let ips = self.0.clone();
            Box::pin(async move { Ok(ips) })
        }
    }

    #[tokio::test]
    async fn resolver_drops_forbidden_addresses_and_fails_closed() {
        let resolver = |ips: Vec<&str>, allowed: Vec<&str>, private| CheckedResolver {
            inner: Arc::new(Fixed(ips.iter().map(|s| s.parse().unwrap()).collect())),
            allowed_hosts: Arc::new(allowed.iter().map(|s| s.to_string()).collect()),
            allow_private: private,
        };
        let name = |s: &str| s.parse::<Name>().unwrap();
        let addrs: Vec<SocketAddr> = resolver(vec!["10.0.0.1", "93.184.216.34"], vec![], false)
            .resolve(name("mixed.test"))
            .await
            .unwrap()
            .collect();
        assert_eq!(addrs, vec!["93.184.216.34:0".parse().unwrap()]);
        assert!(resolver(vec!["127.0.0.1"], vec![], false).resolve(name("rebind.test")).await.is_err());
        assert!(
            resolver(vec!["127.0.0.1"], vec!["rebind.test"], false)
                .resolve(name("rebind.test"))
                .await
                .is_ok()
        );
        assert!(resolver(vec![], vec![], false).resolve(name("nx.test")).await.is_err());
        // An allowed host that resolves to a metadata address is still refused.
        assert!(
            resolver(vec!["169.254.169.254"], vec!["imds.test"], true)
                .resolve(name("imds.test"))
                .await
                .is_err()
        );
        let client = OutboundClient::new(&OutboundSettings {
            allowed_hosts: vec![],
            resolver: Arc::new(Fixed(vec![])),
        })
        .unwrap();
        assert!(client.check(&"http://169.254.169.254/latest".parse().unwrap(), true).is_err());
        assert!(client.check(&"file:///etc/passwd".parse().unwrap(), true).is_err());
        assert!(client.check(&"https://[::1]:8443/".parse().unwrap(), false).is_err());
        assert!(client.check(&"https://93.184.216.34/".parse().unwrap(), false).is_ok());
    }
}
