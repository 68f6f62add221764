//! The one outbound HTTP client: provider calls, agent webhooks, chat notifications and workflow
//! HTTP.
//!
//! SSRF-safe by construction: only http/https; every hostname is resolved by our resolver, which
//! drops private, loopback, link-local, CGNAT, multicast and metadata addresses and fails closed on
//! DNS errors — and because the connection uses exactly the addresses it returned, a second DNS
//! answer (rebinding) is never consulted. Literal IPs are checked before sending; redirects are
//! re-checked. `SSRF_ALLOWED_HOSTS` (a host, or `host:port` for one port) and a provider's
//! `allow_private_network` are the exceptions (link-local and metadata addresses stay blocked even
//! then). This server's own listeners and, on this machine, its database's port are never a
//! destination, whatever those exceptions say ([`OwnListeners`]).

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use reqwest::Url;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use crate::platform::addresses::{AddressClass, classify, is_this_machine};

use crate::ServiceError;

/// How long the pre-send check waits for a name to resolve (as long as a connection may take).
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(10);

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

/// The host part of an [`AllowedHost`].
#[derive(Debug, Clone, PartialEq, Eq)]
enum HostPattern {
    /// A literal address (compared as an address, so `::ffff:a` spellings do not matter).
    Ip(IpAddr),
    /// A host name, lower-case, without a trailing dot.
    Name(String),
    /// An entry that did not parse: it allows nothing (see `From<&str>`).
    Nothing,
}

/// One `SSRF_ALLOWED_HOSTS` entry: a host that may be private, on every port (`host`) or on one
/// (`host:port`, `[v6]:port`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedHost {
    host: HostPattern,
    port: Option<u16>,
}

impl AllowedHost {
    /// Parses `host`, `host:port`, a bare IPv6 address, `[v6]` or `[v6]:port`.
    pub fn parse(entry: &str) -> Result<Self, String> {
        let entry = entry.trim().to_ascii_lowercase();
        if entry.is_empty() {
            return Err("empty entry".into());
        }
        // A bare IPv6 address: its colons are not a port separator.
        if let Ok(ip) = entry.parse::<std::net::Ipv6Addr>() {
            return Ok(Self { host: HostPattern::Ip(IpAddr::V6(ip)), port: None });
        }
        let (host, port) = if let Some(rest) = entry.strip_prefix('[') {
            let (inside, after) = rest.split_once(']').ok_or("'[' without ']'")?;
            let ip = inside
                .parse::<std::net::Ipv6Addr>()
                .map_err(|_| format!("'{inside}' is not an IPv6 address"))?;
            let port = match after {
                "" => None,
                after => Some(after.strip_prefix(':').ok_or("expected ':port' after ']'")?),
            };
            (HostPattern::Ip(IpAddr::V6(ip)), port)
        } else {
            let (host, port) = match entry.rsplit_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (entry.as_str(), None),
            };
            (host_pattern(host)?, port)
        };
        let port = port
            .map(|p| p.parse::<u16>().ok().filter(|p| *p != 0).ok_or(format!("port '{p}' is not 1-65535")))
            .transpose()?;
        Ok(Self { host, port })
    }

    /// Whether this entry lets `host` be private on `port`.
    fn allows(&self, host: &HostPattern, port: u16) -> bool {
        self.names(host) && self.port.is_none_or(|p| p == port)
    }

    /// Whether this entry is about `host`, on whatever port.
    fn names(&self, host: &HostPattern) -> bool {
        match (&self.host, host) {
            (HostPattern::Ip(a), HostPattern::Ip(b)) => a.to_canonical() == b.to_canonical(),
            (HostPattern::Name(a), HostPattern::Name(b)) => a == b,
            _ => false,
        }
    }
}

/// `"host"` or `"host:port"` for tests and code; an entry that does not parse allows nothing
/// (configuration parses with [`AllowedHost::parse`] and reports it instead).
impl From<&str> for AllowedHost {
    fn from(entry: &str) -> Self {
        Self::parse(entry).unwrap_or(Self { host: HostPattern::Nothing, port: None })
    }
}

impl std::fmt::Display for AllowedHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (&self.host, self.port) {
            (HostPattern::Ip(IpAddr::V6(ip)), Some(port)) => write!(f, "[{ip}]:{port}"),
            (HostPattern::Ip(ip), Some(port)) => write!(f, "{ip}:{port}"),
            (HostPattern::Ip(ip), None) => write!(f, "{ip}"),
            (HostPattern::Name(name), Some(port)) => write!(f, "{name}:{port}"),
            (HostPattern::Name(name), None) => write!(f, "{name}"),
            (HostPattern::Nothing, _) => write!(f, "(invalid entry)"),
        }
    }
}

/// A host as written in an entry or a URL: an address, or a name (lower-case, no trailing dot).
fn host_pattern(host: &str) -> Result<HostPattern, String> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(HostPattern::Ip(ip));
    }
    let name = host.trim_end_matches('.').to_ascii_lowercase();
    let valid = !name.is_empty()
        && name.split('.').all(|label| !label.is_empty())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.');
    if valid { Ok(HostPattern::Name(name)) } else { Err(format!("'{host}' is not a host name or address")) }
}

/// A host name as the resolver and URLs give it.
fn name_pattern(name: &str) -> HostPattern {
    HostPattern::Name(name.trim_end_matches('.').to_ascii_lowercase())
}

/// Whether an entry lets `host` be private on `port`.
fn allowed_on(allowed: &[AllowedHost], host: &HostPattern, port: u16) -> bool {
    allowed.iter().any(|entry| entry.allows(host, port))
}

/// The addresses of this process's own listeners and the database's port: never an outbound
/// destination on this machine, whatever `SSRF_ALLOWED_HOSTS` or `allow_private_network` say.
/// Filled after binding (ports are known only then) and shared by every clone of the client.
#[derive(Debug, Default)]
pub struct OwnListeners {
    protected: RwLock<Protected>,
}

#[derive(Debug, Default)]
struct Protected {
    listeners: Vec<SocketAddr>,
    database_ports: Vec<u16>,
}

const OWN_LISTENER: &str = "this Calseta server's own listener";
const DATABASE_PORT: &str = "the database's port";

impl OwnListeners {
    /// Protects a listener of this process (a port 0 — not bound yet — is ignored).
    pub fn add_listener(&self, addr: SocketAddr) {
        if addr.port() != 0 {
            let mut protected = self.protected.write().unwrap_or_else(|e| e.into_inner());
            if !protected.listeners.contains(&addr) {
                protected.listeners.push(addr);
            }
        }
    }

    /// Protects the database's port on this machine's addresses.
    pub fn add_database_port(&self, port: u16) {
        if port != 0 {
            let mut protected = self.protected.write().unwrap_or_else(|e| e.into_inner());
            if !protected.database_ports.contains(&port) {
                protected.database_ports.push(port);
            }
        }
    }

    /// Whether `port` is a listener's or the database's port (on some address).
    pub fn is_protected_port(&self, port: u16) -> bool {
        let protected = self.protected.read().unwrap_or_else(|e| e.into_inner());
        protected.listeners.iter().any(|l| l.port() == port) || protected.database_ports.contains(&port)
    }

    /// What `ip:port` is when it is this process's own listener or the database's port on this
    /// machine, else `None`. The machine's addresses are looked at only when the port matches.
    pub fn refusal(&self, ip: IpAddr, port: u16) -> Option<&'static str> {
        let (listener, own_ip, database) = {
            let protected = self.protected.read().unwrap_or_else(|e| e.into_inner());
            let mut listeners = protected.listeners.iter().filter(|l| l.port() == port).peekable();
            let listener = listeners.peek().is_some();
            let own_ip = listeners.any(|l| l.ip().to_canonical() == ip.to_canonical());
            (listener, own_ip, protected.database_ports.contains(&port))
        };
        if !(listener || database) || !(own_ip || is_this_machine(ip)) {
            return None;
        }
        Some(if listener { OWN_LISTENER } else { DATABASE_PORT })
    }
}

#[derive(Clone)]
struct CheckedResolver {
    inner: Arc<dyn HostResolver>,
    allowed_hosts: Arc<Vec<AllowedHost>>,
    allow_private: bool,
}

impl Resolve for CheckedResolver {
    // reqwest asks for a name only, never a port: this pins the connection to addresses whose
    // class is allowed. A name with an `SSRF_ALLOWED_HOSTS` entry for any port may resolve to a
    // private address here; the port-aware checks (an entry's port, this server's own listeners
    // and database port) are made by `check_destination` before anything is sent, and for
    // redirects by the redirect policy. Names that are not allowed never get a private address.
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
            let pattern = name_pattern(&host);
            let allow_private =
                this.allow_private || this.allowed_hosts.iter().any(|entry| entry.names(&pattern));
            // A name that is not allowed never resolves to this machine either — not even to one
            // of its public addresses — so a second, rebound answer cannot lead a request back to
            // this server's listeners past the port check made before sending.
            let allowed: Vec<SocketAddr> = addrs
                .into_iter()
                .filter(|ip| blocked_reason(*ip, allow_private).is_none())
                .filter(|ip| allow_private || !is_this_machine(*ip))
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
    /// `SSRF_ALLOWED_HOSTS`: hosts (on every port, or one) that may be private.
    pub allowed_hosts: Vec<AllowedHost>,
    /// Name resolution.
    pub resolver: Arc<dyn HostResolver>,
}

/// The SSRF-safe client pair (strict, and for providers allowed on the private network).
#[derive(Clone)]
pub struct OutboundClient {
    strict: reqwest::Client,
    private: reqwest::Client,
    allowed_hosts: Arc<Vec<AllowedHost>>,
    resolver: Arc<dyn HostResolver>,
    own: Arc<OwnListeners>,
}

fn build(
    settings: &OutboundSettings,
    own: &Arc<OwnListeners>,
    allow_private: bool,
) -> Result<reqwest::Client, ServiceError> {
    let allowed_hosts = Arc::new(settings.allowed_hosts.clone());
    let redirect_hosts = allowed_hosts.clone();
    let redirect_own = own.clone();
    let policy = reqwest::redirect::Policy::custom(move |attempt| {
        if attempt.previous().len() >= 5 {
            return attempt.error("too many redirects");
        }
        match check_redirect(attempt.url(), &redirect_hosts, allow_private, &redirect_own) {
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

/// The URL's host as a pattern and its port (http and https always have one).
fn target(url: &Url) -> Result<(HostPattern, u16), String> {
    // The URL parser has already normalised the host: an address is in its canonical form (IPv6
    // in brackets), anything else is a name.
    let host = match url.host_str() {
        None | Some("") => return Err("SSRF blocked: URL has no host".into()),
        Some(host) => match host.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>() {
            Ok(ip) => HostPattern::Ip(ip),
            Err(_) => name_pattern(host),
        },
    };
    let port = url.port_or_known_default().ok_or("SSRF blocked: URL has no port")?;
    Ok((host, port))
}

/// One address on one port: never this server's own listener or database port, then by class.
fn check_address(ip: IpAddr, port: u16, allow_private: bool, own: &OwnListeners) -> Result<(), String> {
    if let Some(what) = own.refusal(ip, port) {
        return Err(format!("SSRF blocked: {} is {what}", SocketAddr::new(ip, port)));
    }
    if let Some(reason) = blocked_reason(ip, allow_private) {
        return Err(format!("SSRF blocked: {ip} is a {reason}"));
    }
    Ok(())
}

/// Scheme and literal address (with its port); host names are checked when resolved.
fn check_url(
    url: &Url,
    allowed_hosts: &[AllowedHost],
    allow_private: bool,
    own: &OwnListeners,
) -> Result<(), String> {
    if url.scheme() != "http" && url.scheme() != "https" {
        return Err(format!("SSRF blocked: scheme '{}' is not allowed", url.scheme()));
    }
    let (host, port) = target(url)?;
    match host {
        HostPattern::Ip(ip) => {
            let allow_private = allow_private || allowed_on(allowed_hosts, &host, port);
            check_address(ip, port, allow_private, own)
        }
        _ => Ok(()),
    }
}

/// A redirect, checked without resolving (the policy cannot wait for DNS): a literal address as
/// `check_url`; a name is refused on one of this server's own ports, and on a port its
/// `SSRF_ALLOWED_HOSTS` entries do not allow — the pinning resolver, which sees no port, would
/// let it reach the private address its entry allows on another port.
fn check_redirect(
    url: &Url,
    allowed_hosts: &[AllowedHost],
    allow_private: bool,
    own: &OwnListeners,
) -> Result<(), String> {
    check_url(url, allowed_hosts, allow_private, own)?;
    let (host, port) = target(url)?;
    let HostPattern::Name(name) = &host else { return Ok(()) };
    if own.is_protected_port(port) {
        return Err(format!(
            "SSRF blocked: redirect to {name}:{port}, by name, on a port of this Calseta server (its own \
             listener or the database's)"
        ));
    }
    let named = allowed_hosts.iter().any(|entry| entry.names(&host));
    if !allow_private && named && !allowed_on(allowed_hosts, &host, port) {
        return Err(format!(
            "SSRF blocked: redirect to {name}:{port}; {name} is allowed on other ports only"
        ));
    }
    Ok(())
}

impl OutboundClient {
    /// Builds both clients.
    pub fn new(settings: &OutboundSettings) -> Result<Self, ServiceError> {
        let own = Arc::new(OwnListeners::default());
        Ok(Self {
            strict: build(settings, &own, false)?,
            private: build(settings, &own, true)?,
            allowed_hosts: Arc::new(settings.allowed_hosts.clone()),
            resolver: settings.resolver.clone(),
            own,
        })
    }

    /// This process's own listeners and database port, registered once bound.
    pub fn own_listeners(&self) -> Arc<OwnListeners> {
        self.own.clone()
    }

    /// Checks a destination fully before anything is sent: scheme, literal address, and every
    /// address the name resolves to (DNS failure refuses), each with the URL's port. Used when an
    /// agent registers and before every request; the connection itself is pinned by the resolver.
    pub async fn check_destination(&self, url: &str, allow_private: bool) -> Result<Url, String> {
        let url = Url::parse(url).map_err(|e| OutboundError::InvalidUrl(e.to_string()))?;
        self.check_destination_url(&url, allow_private).await?;
        Ok(url)
    }

    /// [`Self::check_destination`] for a parsed URL.
    pub async fn check_destination_url(&self, url: &Url, allow_private: bool) -> Result<(), String> {
        check_url(url, &self.allowed_hosts, allow_private, &self.own)?;
        let (host, port) = target(url)?;
        let HostPattern::Name(name) = &host else { return Ok(()) };
        let allow_private = allow_private || allowed_on(&self.allowed_hosts, &host, port);
        let addrs = tokio::time::timeout(LOOKUP_TIMEOUT, self.resolver.lookup(name))
            .await
            .map_err(|_| format!("{name} does not resolve: timed out"))?
            .map_err(|e| format!("{name} does not resolve: {e}"))?;
        if addrs.is_empty() {
            return Err(format!("{name} does not resolve"));
        }
        for ip in addrs {
            if let Some(what) = self.own.refusal(ip, port) {
                return Err(format!(
                    "SSRF blocked: {name} resolves to {ip}, and {} is {what}",
                    SocketAddr::new(ip, port)
                ));
            }
            if let Some(reason) = blocked_reason(ip, allow_private) {
                return Err(format!("SSRF blocked: {name} resolves to {ip}, a {reason}"));
            }
        }
        Ok(())
    }

    /// [`Self::check_destination_url`] with `extra` entries allowed to be private besides
    /// `SSRF_ALLOWED_HOSTS` (a provider's narrowed private-network allowance), on their ports.
    pub async fn check_destination_allowing(&self, url: &Url, extra: &[AllowedHost]) -> Result<(), String> {
        let mut allowed = self.allowed_hosts.as_ref().clone();
        allowed.extend(extra.iter().cloned());
        let narrowed = OutboundClient { allowed_hosts: Arc::new(allowed), ..self.clone() };
        narrowed.check_destination_url(url, false).await
    }

    /// Checks a URL's scheme and literal address (host names are checked when resolved: prefer
    /// [`Self::check_destination`], which also holds names to the port rules).
    pub fn check(&self, url: &Url, allow_private: bool) -> Result<(), String> {
        check_url(url, &self.allowed_hosts, allow_private, &self.own)
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

/// Why an outbound request failed, with the texts records and logs have always shown.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OutboundError {
    /// The request or the answer took longer than allowed (with the causes, for callers that
    /// record them).
    #[error("timed out")]
    Timeout(String),
    /// The SSRF policy refused the destination (the reason starts with "SSRF blocked").
    #[error("{0}")]
    Refused(String),
    /// The connection or the transfer failed (the causes, as [`error_text`] gives them).
    #[error("{0}")]
    Connection(String),
    /// The destination answered a status the caller treats as a failure.
    #[error("HTTP {0}")]
    Status(u16),
    /// The answer was longer than the caller reads.
    #[error("response larger than {} KiB", .max / 1024)]
    TooLarge {
        /// The cap, in bytes.
        max: usize,
    },
    /// The URL does not parse.
    #[error("invalid URL: {0}")]
    InvalidUrl(String),
}

impl From<reqwest::Error> for OutboundError {
    fn from(e: reqwest::Error) -> Self {
        if e.is_timeout() { Self::Timeout(error_text(e)) } else { Self::Connection(error_text(e)) }
    }
}

impl OutboundError {
    /// The client error's causes for a timeout or a failed connection (as [`error_text`] gives
    /// them, for callers that have always recorded those), else the same as `Display`.
    pub fn causes(&self) -> String {
        match self {
            Self::Timeout(causes) | Self::Connection(causes) => causes.clone(),
            other => other.to_string(),
        }
    }
}

/// Callers that record failures as text keep using `?`.
impl From<OutboundError> for String {
    fn from(e: OutboundError) -> Self {
        e.to_string()
    }
}

/// Reads a response body of at most `max` bytes; a longer one is refused as soon as it passes the
/// cap, so a destination cannot fill this process's memory.
pub async fn read_capped(response: &mut reqwest::Response, max: usize) -> Result<Vec<u8>, OutboundError> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        if body.len() + chunk.len() > max {
            return Err(OutboundError::TooLarge { max });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The first `max` bytes of a response body and whether there was more; a transfer that fails
/// midway keeps what arrived (for answers that are recorded, not acted on).
pub async fn read_prefix(response: &mut reqwest::Response, max: usize) -> (Vec<u8>, bool) {
    let mut body = Vec::new();
    while let Ok(Some(chunk)) = response.chunk().await {
        let room = max - body.len();
        if chunk.len() > room {
            body.extend_from_slice(&chunk[..room]);
            return (body, true);
        }
        body.extend_from_slice(&chunk);
    }
    (body, false)
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
        let allowed: Vec<AllowedHost> =
            ["169.254.169.254", "fd00:ec2::254", "10.0.0.5"].into_iter().map(AllowedHost::from).collect();
        let own = OwnListeners::default();
        for url in
            ["http://169.254.169.254/latest/meta-data", "http://[fd00:ec2::254]/", "http://100.100.100.200/"]
        {
            let url = reqwest::Url::parse(url).unwrap();
            assert!(check_url(&url, &allowed, true, &own).is_err(), "{url}");
        }
        let private = reqwest::Url::parse("http://10.0.0.5/").unwrap();
        assert!(check_url(&private, &allowed, false, &own).is_ok(), "an allowed host may be private");
        let nat64 = reqwest::Url::parse("http://[64:ff9b::a9fe:a9fe]/").unwrap();
        assert!(check_url(&nat64, &[], true, &own).is_err(), "NAT64 of the metadata address");
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
            allowed_hosts: Arc::new(allowed.iter().map(|s| AllowedHost::from(*s)).collect()),
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

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    fn entries(list: &[&str]) -> Vec<AllowedHost> {
        list.iter().map(|e| AllowedHost::parse(e).unwrap()).collect()
    }

    fn client_with(allowed: &[&str], ips: &[&str]) -> OutboundClient {
        OutboundClient::new(&OutboundSettings {
            allowed_hosts: entries(allowed),
            resolver: Arc::new(Fixed(ips.iter().map(|s| s.parse().unwrap()).collect())),
        })
        .unwrap()
    }

    #[test]
    fn allowed_host_entries_are_a_host_or_a_host_and_port() {
        let parsed = |e: &str| AllowedHost::parse(e).unwrap();
        let ip = |s: &str| HostPattern::Ip(s.parse().unwrap());
        let name = |s: &str| HostPattern::Name(s.into());
        assert_eq!(parsed("10.0.0.5:8443"), AllowedHost { host: ip("10.0.0.5"), port: Some(8443) });
        assert_eq!(parsed("[fd00::5]:8443"), AllowedHost { host: ip("fd00::5"), port: Some(8443) });
        assert_eq!(parsed("[FD00:0::5]"), AllowedHost { host: ip("fd00::5"), port: None });
        assert_eq!(parsed("fd00::5"), AllowedHost { host: ip("fd00::5"), port: None }, "bare IPv6: no port");
        assert_eq!(
            parsed(" Internal.Example:9000 "),
            AllowedHost { host: name("internal.example"), port: Some(9000) }
        );
        assert_eq!(parsed("localhost."), AllowedHost { host: name("localhost"), port: None });
        assert_eq!(parsed("10.0.0.5"), AllowedHost { host: ip("10.0.0.5"), port: None });
        for (entry, shown) in [
            ("[fd00::5]:8443", "[fd00::5]:8443"),
            ("internal.example:9000", "internal.example:9000"),
            ("10.0.0.5", "10.0.0.5"),
        ] {
            assert_eq!(parsed(entry).to_string(), shown);
        }
        for bad in [
            "",
            "host:0",
            "host:65536",
            "host:x",
            "host:",
            "[fd00::5",
            "[nothost]:80",
            "[fd00::5]8443",
            "a b",
            "http://x",
            "a:b:c",
            ".:80",
            "a..b",
        ] {
            assert!(AllowedHost::parse(bad).is_err(), "{bad:?}");
        }
        // What does not parse allows nothing.
        let nothing = AllowedHost::from("host:0");
        assert!(!nothing.allows(&name("host"), 80));
    }

    #[tokio::test]
    async fn a_bare_host_allows_every_port_and_host_port_only_that_port() {
        let own = OwnListeners::default();
        let allowed = entries(&["10.0.0.5", "[fd00::5]:8443", "127.0.0.1:9000", "internal.example:9000"]);
        let check = |u: &str| check_url(&url(u), &allowed, false, &own);
        assert!(check("http://10.0.0.5/").is_ok());
        assert!(check("http://10.0.0.5:1234/").is_ok(), "a bare host: every port");
        assert!(check("http://[fd00::5]:8443/").is_ok());
        assert!(check("http://[fd00::5]:8444/").is_err());
        assert!(check("https://[fd00::5]/").is_err(), "443 is not 8443");
        assert!(check("http://127.0.0.1:9000/").is_ok());
        assert!(check("http://127.0.0.1:9001/").is_err());
        assert!(check("http://[::ffff:127.0.0.1]:9000/").is_ok(), "the same address spelled otherwise");

        // Names: resolved, then held to the entry's port.
        let client = client_with(&["internal.example:9000"], &["10.0.0.9"]);
        assert!(client.check_destination("http://internal.example:9000/x", false).await.is_ok());
        let err = client.check_destination("http://internal.example:9001/x", false).await.unwrap_err();
        assert!(err.contains("SSRF blocked: internal.example resolves to 10.0.0.9"), "{err}");
        assert!(client.check_destination("http://Internal.Example.:9000/", false).await.is_ok());
        // Redirects cannot resolve: a name allowed on another port only is refused.
        assert!(check_redirect(&url("http://internal.example:9000/"), &allowed, false, &own).is_ok());
        let err = check_redirect(&url("http://internal.example:9001/"), &allowed, false, &own).unwrap_err();
        assert!(err.contains("allowed on other ports only"), "{err}");
        assert!(check_redirect(&url("http://127.0.0.1:9001/"), &allowed, false, &own).is_err());
        assert!(check_redirect(&url("https://public.example/"), &allowed, false, &own).is_ok());
    }

    /// An address of this machine that is not loopback, when it has one (the source address of
    /// a route to a documentation address; connecting a UDP socket sends nothing).
    fn local_non_loopback() -> Option<IpAddr> {
        let socket = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
        socket.connect("192.0.2.1:9").ok()?;
        Some(socket.local_addr().ok()?.ip()).filter(|ip| !ip.is_loopback() && !ip.is_unspecified())
    }

    #[tokio::test]
    async fn own_listeners_are_refused_even_when_allowed() {
        let allowed = entries(&["127.0.0.1", "::1", "localhost", "127.0.0.2:8000"]);
        let own = OwnListeners::default();
        own.add_listener("127.0.0.1:8000".parse().unwrap());
        own.add_listener("0.0.0.0:0".parse().unwrap());
        for private in [false, true] {
            for u in [
                "http://127.0.0.1:8000/health",
                "http://127.0.0.2:8000/",
                "http://[::1]:8000/",
                "http://[::ffff:127.0.0.1]:8000/",
                "http://0.0.0.0:8000/",
            ] {
                let err = check_url(&url(u), &allowed, private, &own).unwrap_err();
                assert!(err.ends_with("is this Calseta server's own listener"), "{u}: {err}");
            }
        }
        let err = check_url(&url("http://127.0.0.1:8000/"), &allowed, false, &own).unwrap_err();
        assert_eq!(err, "SSRF blocked: 127.0.0.1:8000 is this Calseta server's own listener");
        // An address assigned to this machine, on a listener's port: refused, for a provider
        // allowed on the private network too.
        if let Some(local) = local_non_loopback() {
            let u = url(&format!("http://{}/", SocketAddr::new(local, 8000)));
            let err = check_url(&u, &entries(&[&local.to_string()]), true, &own).unwrap_err();
            assert!(err.contains("own listener"), "{err}");
        }
        // Listening on every address: any of this machine's is refused on that port.
        let every = OwnListeners::default();
        every.add_listener("[::]:8100".parse().unwrap());
        assert!(check_url(&url("http://127.0.0.1:8100/"), &allowed, false, &every).is_err());
        assert!(
            check_url(&url("http://93.184.216.34:8100/"), &allowed, false, &every).is_ok(),
            "not this machine"
        );

        // By name, on every path: the pre-send check, with or without the private network...
        let client = client_with(&["localhost"], &["127.0.0.1"]);
        client.own_listeners().add_listener("127.0.0.1:8000".parse().unwrap());
        for private in [false, true] {
            let err = client.check_destination("http://localhost:8000/health", private).await.unwrap_err();
            assert_eq!(
                err,
                "SSRF blocked: localhost resolves to 127.0.0.1, and 127.0.0.1:8000 is this Calseta server's own listener"
            );
        }
        // ...and redirects, which cannot resolve: a name on one of the server's ports is refused.
        let err = check_redirect(&url("http://localhost:8000/"), &allowed, true, &own).unwrap_err();
        assert!(err.contains("on a port of this Calseta server"), "{err}");
        let err = check_redirect(&url("http://127.0.0.1:8000/"), &allowed, true, &own).unwrap_err();
        assert!(err.contains("own listener"), "{err}");
    }

    #[tokio::test]
    async fn the_database_port_is_refused_on_this_machine() {
        let client = client_with(&["127.0.0.1", "localhost"], &["127.0.0.1"]);
        client.own_listeners().add_database_port(5432);
        let err = client.check(&url("http://127.0.0.1:5432/"), true).unwrap_err();
        assert_eq!(err, "SSRF blocked: 127.0.0.1:5432 is the database's port");
        let err = client.check_destination("http://localhost:5432/", false).await.unwrap_err();
        assert!(err.ends_with("127.0.0.1:5432 is the database's port"), "{err}");
        // Elsewhere, the port is anybody's.
        assert!(client.check(&url("http://93.184.216.34:5432/"), false).is_ok());
        assert!(client.check(&url("http://127.0.0.1:5433/"), false).is_ok());
    }

    /// Serves `answers` HTTP requests on a loopback port from a thread, each with `answer`.
    fn serve(answer: String, answers: usize) -> u16 {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for _ in 0..answers {
                let Ok((mut stream, _)) = listener.accept() else { return };
                let mut buf = [0u8; 4096];
                let _ = stream.read(&mut buf);
                let _ = stream.write_all(answer.as_bytes());
            }
        });
        port
    }

    #[tokio::test]
    async fn capped_reads_refuse_or_cut_what_is_too_long() {
        let answer = "HTTP/1.1 200 OK\r\ncontent-length: 10\r\nconnection: close\r\n\r\n0123456789";
        let port = serve(answer.into(), 4);
        let client = reqwest::Client::builder().no_proxy().build().unwrap();
        let get = || client.get(format!("http://127.0.0.1:{port}/")).send();
        assert_eq!(read_capped(&mut get().await.unwrap(), 10).await.unwrap(), b"0123456789");
        let err = read_capped(&mut get().await.unwrap(), 9).await.unwrap_err();
        assert_eq!(err, OutboundError::TooLarge { max: 9 });
        assert_eq!(read_prefix(&mut get().await.unwrap(), 4).await, (b"0123".to_vec(), true));
        assert_eq!(read_prefix(&mut get().await.unwrap(), 10).await, (b"0123456789".to_vec(), false));
    }

    #[test]
    fn outbound_errors_read_as_before() {
        assert_eq!(OutboundError::TooLarge { max: 64 * 1024 }.to_string(), "response larger than 64 KiB");
        assert_eq!(OutboundError::Timeout("operation timed out".into()).to_string(), "timed out");
        assert_eq!(OutboundError::Timeout("operation timed out".into()).causes(), "operation timed out");
        assert_eq!(OutboundError::Status(502).to_string(), "HTTP 502");
        assert_eq!(String::from(OutboundError::Refused("SSRF blocked: x".into())), "SSRF blocked: x");
    }

    #[tokio::test]
    async fn an_unrelated_port_on_an_allowed_loopback_host_still_works() {
        let ok = serve("HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok".into(), 2);
        let client = OutboundClient::new(&OutboundSettings {
            allowed_hosts: entries(&["127.0.0.1", "localhost"]),
            resolver: Arc::new(SystemResolver),
        })
        .unwrap();
        // The "server's own" listener: a port nothing here talks to.
        let own = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let own_port = own.local_addr().unwrap().port();
        client.own_listeners().add_listener(own.local_addr().unwrap());
        for target in [format!("http://127.0.0.1:{ok}/"), format!("http://localhost:{ok}/")] {
            let checked = client.check_destination(&target, false).await.unwrap();
            let response = client.client(false).get(checked).send().await.unwrap();
            assert_eq!(response.status().as_u16(), 200, "{target}");
        }
        assert!(client.check_destination(&format!("http://127.0.0.1:{own_port}/"), false).await.is_err());

        // A redirect from the allowed server toward the own listener is refused by the policy.
        let redirecting = serve(
            format!(
                "HTTP/1.1 302 Found\r\nlocation: http://127.0.0.1:{own_port}/v1/api-keys\r\n\
                 content-length: 0\r\nconnection: close\r\n\r\n"
            ),
            1,
        );
        let err =
            client.client(false).get(format!("http://127.0.0.1:{redirecting}/")).send().await.unwrap_err();
        let text = error_text(err);
        assert!(text.contains("own listener"), "{text}");
        drop(own);
    }
}
