//! A fault-injecting S3 proxy on loopback, between rwclip processes and
//! moto: each request draws its fate from a seeded generator — a 503
//! SlowDown or a 500 with S3's XML body, a connection reset before or in
//! the middle of the response body, a body cut short under its full
//! `Content-Length`, added latency, a stall past the client's timeout, or
//! the response dropped after moto applied the request — and an outage
//! window answers everything with 503. Every injected fault is logged.
//!
//! One request per connection: the proxy asks moto to close after its
//! response and tells the client the same, so a fault never leaks into the
//! next request.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What the proxy did to one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Fault {
    /// 503 SlowDown, not forwarded.
    SlowDown,
    /// 500 InternalError, not forwarded.
    InternalError,
    /// The connection closed before any response, not forwarded.
    ResetBefore,
    /// Forwarded; half the response body, then the connection reset.
    ResetMidBody,
    /// Forwarded; the full `Content-Length` announced, half the body sent,
    /// then the connection closed.
    Truncated,
    /// Forwarded after `latency`.
    Latency,
    /// Held for `stall` (past the client's timeout), then closed unanswered.
    Stall,
    /// Forwarded (moto applied it), then the connection closed unanswered.
    DropAfterApply,
    /// Answered 503 because an outage window is open.
    Outage,
}

impl Fault {
    /// The faults drawn by rate, in the order their rates are listed.
    pub const DRAWN: [Fault; 8] = [Fault::SlowDown, Fault::InternalError, Fault::ResetBefore, Fault::ResetMidBody, Fault::Truncated, Fault::Latency, Fault::Stall, Fault::DropAfterApply];

    pub fn name(self) -> &'static str {
        match self {
            Fault::SlowDown => "503_slow_down",
            Fault::InternalError => "500_internal_error",
            Fault::ResetBefore => "reset_before_response",
            Fault::ResetMidBody => "reset_mid_body",
            Fault::Truncated => "truncated_body",
            Fault::Latency => "latency",
            Fault::Stall => "stall",
            Fault::DropAfterApply => "dropped_after_apply",
            Fault::Outage => "outage_503",
        }
    }
}

/// Per-request probabilities of each drawn fault (their sum at most 1).
#[derive(Debug, Clone, PartialEq)]
pub struct FaultRates {
    pub seed: u64,
    pub rates: BTreeMap<Fault, f64>,
    pub latency: Duration,
    pub stall: Duration,
    /// Only requests whose `METHOD path` contains every one of these draw
    /// faults.
    pub only: Vec<String>,
    /// At most this many drawn faults in all.
    pub budget: Option<u64>,
    /// At most one drawn fault per path (its retry goes through).
    pub once_per_path: bool,
}

impl FaultRates {
    /// No faults.
    pub fn none() -> FaultRates {
        FaultRates { seed: 0, rates: BTreeMap::new(), latency: Duration::from_millis(200), stall: Duration::from_secs(10), only: Vec::new(), budget: None, once_per_path: false }
    }

    /// `total` spread evenly over every drawn fault but the stall (which
    /// costs a client its whole timeout; give it a rate of its own).
    pub fn short_faults(seed: u64, total: f64) -> FaultRates {
        let kinds: Vec<Fault> = Fault::DRAWN.into_iter().filter(|f| *f != Fault::Stall).collect();
        let each = total / kinds.len() as f64;
        FaultRates { seed, rates: kinds.into_iter().map(|f| (f, each)).collect(), ..FaultRates::none() }
    }

    pub fn with(mut self, fault: Fault, rate: f64) -> FaultRates {
        self.rates.insert(fault, rate);
        self
    }

    /// The fault of a request whose identity (method, path, byte range
    /// and which try of it this is) hashes to `n`, if any: the same
    /// requests get the same faults however they interleave.
    fn draw(&self, n: u64) -> Option<Fault> {
        let u = (splitmix64(self.seed ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15)) >> 11) as f64 / (1u64 << 53) as f64;
        let mut acc = 0.0;
        for fault in Fault::DRAWN {
            acc += self.rates.get(&fault).copied().unwrap_or(0.0);
            if u < acc {
                return Some(fault);
            }
        }
        None
    }
}

fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// One logged request: its method, path and what was done to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Injected {
    pub method: String,
    pub path: String,
    pub fault: Fault,
}

struct Shared {
    upstream: SocketAddr,
    rates: Mutex<FaultRates>,
    requests: AtomicU64,
    outage_until: Mutex<Option<Instant>>,
    log: Mutex<Vec<Injected>>,
    /// Tries of each request so far, by its identity.
    tries: Mutex<BTreeMap<String, u64>>,
    stop: AtomicBool,
}

/// `target` (a request's path and query) without what changes from run to
/// run: a shard attempt's id (`attempts/<id>/`, plain or URL-encoded) and
/// tokens the server chose (`uploadId`, `continuation-token`).
fn stable_target(target: &str) -> String {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let mut out = String::new();
    let mut rest = path;
    while let Some(at) = rest.find("attempts/") {
        out.push_str(&rest[..at + "attempts/".len()]);
        rest = &rest[at + "attempts/".len()..];
        let end = rest.find('/').unwrap_or(rest.len());
        out.push('*');
        rest = &rest[end..];
    }
    out.push_str(rest);
    if !query.is_empty() {
        let params: Vec<String> = query
            .split('&')
            .map(|kv| match kv.split_once('=') {
                Some((k, _)) if k == "uploadId" || k == "continuation-token" => format!("{k}=*"),
                Some((k, v)) => format!("{k}={}", stable_target(&v.replace("%2F", "/"))),
                None => kv.to_string(),
            })
            .collect();
        out.push('?');
        out.push_str(&params.join("&"));
    }
    out
}

impl Shared {
    /// The number a request draws its fault by: its identity (method,
    /// path without run-to-run parts, byte range) and which try of it this
    /// is. One seed gives the same faults however requests interleave and
    /// from run to run.
    fn identify(&self, method: &str, path: &str, range: &str) -> u64 {
        let identity = format!("{method} {} {range}", stable_target(path));
        let mut tries = self.tries.lock().unwrap();
        let attempt = tries.entry(identity.clone()).or_insert(0);
        *attempt += 1;
        fnv1a(&identity) ^ attempt.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

/// The proxy, serving until dropped.
pub struct FaultProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
}

impl FaultProxy {
    /// Listens on a free loopback port in front of `upstream` (moto).
    pub fn start(upstream: &str, rates: FaultRates) -> FaultProxy {
        let upstream: SocketAddr = upstream.trim_start_matches("http://").parse().expect("upstream is host:port");
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let addr = listener.local_addr().expect("bound address");
        let shared = Arc::new(Shared { upstream, rates: Mutex::new(rates), requests: AtomicU64::new(0), outage_until: Mutex::new(None), log: Mutex::new(Vec::new()), tries: Mutex::new(BTreeMap::new()), stop: AtomicBool::new(false) });
        let serving = shared.clone();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                if serving.stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(client) = client else { continue };
                let shared = serving.clone();
                std::thread::spawn(move || {
                    let _ = handle(&shared, client);
                });
            }
        });
        FaultProxy { addr, shared }
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The AWS variables of `moto_env` with the endpoint pointed here.
    pub fn env(&self, moto_env: &[(&'static str, String)]) -> Vec<(&'static str, String)> {
        moto_env.iter().map(|(k, v)| (*k, if *k == "AWS_ENDPOINT_URL" { self.endpoint() } else { v.clone() })).collect()
    }

    pub fn set_rates(&self, rates: FaultRates) {
        *self.shared.rates.lock().unwrap() = rates;
    }

    /// Answers every request with 503 for `length` from now.
    pub fn outage(&self, length: Duration) {
        *self.shared.outage_until.lock().unwrap() = Some(Instant::now() + length);
    }

    /// Requests seen so far.
    pub fn requests(&self) -> u64 {
        self.shared.requests.load(Ordering::SeqCst)
    }

    pub fn log(&self) -> Vec<Injected> {
        self.shared.log.lock().unwrap().clone()
    }

    /// Faults injected so far, by kind.
    pub fn counts(&self) -> BTreeMap<Fault, u64> {
        let mut counts = BTreeMap::new();
        for i in self.shared.log.lock().unwrap().iter() {
            *counts.entry(i.fault).or_default() += 1;
        }
        counts
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wakes the accept loop so it sees the flag.
        let _ = TcpStream::connect(self.addr);
    }
}

/// A request or response: its head (through the blank line) and body.
struct Message {
    head: String,
    body: Vec<u8>,
}

impl Message {
    fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().skip(1).find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }

    /// The head with `Connection: close` in place of any Connection header.
    fn closing_head(&self) -> String {
        let mut lines: Vec<&str> = self.head.trim_end_matches("\r\n").split("\r\n").filter(|l| !l.to_ascii_lowercase().starts_with("connection:")).collect();
        lines.push("Connection: close");
        format!("{}\r\n\r\n", lines.join("\r\n"))
    }
}

/// Reads one HTTP/1.1 message; `body_allowed` is false for a HEAD's
/// response. A body is `Content-Length` long, chunked, or (responses) up to
/// the end of the stream.
fn read_message(r: &mut BufReader<TcpStream>, body_allowed: bool, is_response: bool) -> std::io::Result<Option<Message>> {
    let mut head = String::new();
    loop {
        let mut line = String::new();
        if r.read_line(&mut line)? == 0 {
            return if head.is_empty() { Ok(None) } else { Err(std::io::ErrorKind::UnexpectedEof.into()) };
        }
        head.push_str(&line);
        if line == "\r\n" || line == "\n" {
            break;
        }
    }
    let mut message = Message { head, body: Vec::new() };
    if !body_allowed {
        return Ok(Some(message));
    }
    if let Some(len) = message.header("content-length").and_then(|v| v.parse::<usize>().ok()) {
        message.body = vec![0; len];
        r.read_exact(&mut message.body)?;
    } else if message.header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        loop {
            let mut size = String::new();
            r.read_line(&mut size)?;
            let n = usize::from_str_radix(size.trim().split(';').next().unwrap_or("0"), 16).unwrap_or(0);
            let mut chunk = vec![0; n + 2];
            r.read_exact(&mut chunk)?;
            message.body.extend_from_slice(&chunk[..n]);
            if n == 0 {
                break;
            }
        }
        // Re-framed with a length, so faults can cut it.
        message.head = message.head.replace("Transfer-Encoding: chunked\r\n", "").replace("transfer-encoding: chunked\r\n", "");
        let at = message.head.len() - 2;
        message.head.insert_str(at, &format!("Content-Length: {}\r\n", message.body.len()));
    } else if is_response {
        r.read_to_end(&mut message.body)?;
    }
    Ok(Some(message))
}

fn s3_error(status: &str, code: &str, text: &str) -> Vec<u8> {
    let body = format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{text}</Message><RequestId>rwclip-fault-proxy</RequestId></Error>");
    format!("HTTP/1.1 {status}\r\nContent-Type: application/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len()).into_bytes()
}

fn forward(shared: &Shared, request: &Message) -> std::io::Result<Message> {
    let mut upstream = TcpStream::connect(shared.upstream)?;
    upstream.write_all(request.closing_head().as_bytes())?;
    upstream.write_all(&request.body)?;
    let is_head = request.head.starts_with("HEAD ");
    let mut reader = BufReader::new(upstream);
    read_message(&mut reader, !is_head, true)?.ok_or_else(|| std::io::ErrorKind::UnexpectedEof.into())
}

/// FNV-1a of `text`: a request's identity as a number.
fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

fn handle(shared: &Shared, client: TcpStream) -> std::io::Result<()> {
    let request = {
        // The clone's fd is closed here: a reset must close every fd of
        // the socket, or the kernel sends a plain close instead.
        let mut reader = BufReader::new(client.try_clone()?);
        match read_message(&mut reader, true, false)? {
            Some(request) => request,
            None => return Ok(()),
        }
    };
    let mut client = client;
    shared.requests.fetch_add(1, Ordering::SeqCst);
    let (method, path) = {
        let mut words = request.head.split_whitespace();
        (words.next().unwrap_or("").to_string(), words.next().unwrap_or("").to_string())
    };
    let n = shared.identify(&method, &path, request.header("range").unwrap_or(""));
    let in_outage = shared.outage_until.lock().unwrap().is_some_and(|until| Instant::now() < until);
    let rates = shared.rates.lock().unwrap().clone();
    let fault = {
        let mut log = shared.log.lock().unwrap();
        let drawn = log.iter().filter(|i| i.fault != Fault::Outage).count() as u64;
        let fault = if in_outage {
            Some(Fault::Outage)
        } else if rates.only.iter().any(|o| !format!("{method} {path}").contains(o.as_str()))
            || rates.budget.is_some_and(|b| drawn >= b)
            || (rates.once_per_path && log.iter().any(|i| i.path == path && i.fault != Fault::Outage))
        {
            None
        } else {
            rates.draw(n)
        };
        if let Some(fault) = fault {
            log.push(Injected { method, path, fault });
        }
        fault
    };
    match fault {
        Some(Fault::Outage) | Some(Fault::SlowDown) => client.write_all(&s3_error("503 Slow Down", "SlowDown", "Please reduce your request rate."))?,
        Some(Fault::InternalError) => client.write_all(&s3_error("500 Internal Server Error", "InternalError", "We encountered an internal error. Please try again."))?,
        Some(Fault::ResetBefore) => reset(client),
        Some(Fault::Stall) => {
            std::thread::sleep(rates.stall);
            reset(client);
        }
        Some(Fault::DropAfterApply) => {
            forward(shared, &request)?;
            reset(client);
        }
        Some(cut @ (Fault::ResetMidBody | Fault::Truncated)) => {
            let response = forward(shared, &request)?;
            let half = response.body.len() / 2;
            client.write_all(Message { head: response.head.clone(), body: Vec::new() }.closing_head().as_bytes())?;
            client.write_all(&response.body[..half])?;
            client.flush()?;
            if cut == Fault::ResetMidBody {
                reset(client);
            } else {
                let _ = client.shutdown(Shutdown::Both);
            }
        }
        Some(Fault::Latency) | None => {
            if fault == Some(Fault::Latency) {
                std::thread::sleep(rates.latency);
            }
            let response = forward(shared, &request)?;
            client.write_all(response.closing_head().as_bytes())?;
            client.write_all(&response.body)?;
        }
    }
    Ok(())
}

/// Closes with a TCP reset (linger 0), as a dropped connection looks:
/// the socket is closed, not shut down (a shutdown sends a FIN first, and
/// the client would see a clean end of stream).
fn reset(stream: TcpStream) {
    use std::os::fd::AsRawFd;
    let linger = libc::linger { l_onoff: 1, l_linger: 0 };
    // SAFETY: a valid socket fd and a correctly sized linger struct.
    unsafe {
        libc::setsockopt(stream.as_raw_fd(), libc::SOL_SOCKET, libc::SO_LINGER, (&linger as *const libc::linger).cast(), std::mem::size_of::<libc::linger>() as libc::socklen_t);
    }
    drop(stream);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_fault_is_drawn_at_its_rate() {
        let rates = FaultRates::short_faults(7, 0.35).with(Fault::Stall, 0.05);
        let n = 200_000u64;
        let mut counts: BTreeMap<Fault, u64> = BTreeMap::new();
        for i in 0..n {
            if let Some(f) = rates.draw(i) {
                *counts.entry(f).or_default() += 1;
            }
        }
        for (fault, rate) in &rates.rates {
            let got = counts.get(fault).copied().unwrap_or(0) as f64 / n as f64;
            assert!((got - rate).abs() < 0.004, "{fault:?}: {got} for a rate of {rate}");
        }
        assert_eq!(FaultRates::none().draw(3), None);
        assert_eq!(rates.draw(11), rates.draw(11), "the same seed and request draw the same fault");
    }

    /// A server that answers every request with 200 and a 64 KB body.
    fn upstream() -> String {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            for stream in listener.incoming().take(8) {
                let Ok(mut stream) = stream else { continue };
                let mut r = BufReader::new(stream.try_clone().unwrap());
                let _ = read_message(&mut r, true, false);
                let body = vec![b'x'; 64 << 10];
                let _ = stream.write_all(format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len()).as_bytes());
                let _ = stream.write_all(&body);
            }
        });
        format!("http://{addr}")
    }

    #[test]
    fn a_reset_mid_body_reaches_the_client_as_a_reset() {
        let proxy = FaultProxy::start(&upstream(), FaultRates::none().with(Fault::ResetMidBody, 1.0));
        let mut conn = TcpStream::connect(proxy.addr).unwrap();
        conn.write_all(b"GET /bucket/key HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let mut got = Vec::new();
        let err = loop {
            let mut buf = [0u8; 4096];
            match conn.read(&mut buf) {
                Ok(0) => panic!("a clean end of stream after {} bytes, not a reset", got.len()),
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e) => break e,
            }
        };
        assert_eq!(err.kind(), std::io::ErrorKind::ConnectionReset, "{err}");
        assert!(got.starts_with(b"HTTP/1.1 200"));
    }

    #[test]
    fn run_to_run_parts_of_a_request_do_not_change_its_identity() {
        assert_eq!(stable_target("/b/out/shards/score-1/attempts/a1765-3/part-0.parquet"), "/b/out/shards/score-1/attempts/*/part-0.parquet");
        assert_eq!(stable_target("/b/k?partNumber=2&uploadId=xyz"), "/b/k?partNumber=2&uploadId=*");
        assert_eq!(stable_target("/b?list-type=2&continuation-token=abc&prefix=out%2Fshards%2Fx%2Fattempts%2Fa9-1%2F"), "/b?list-type=2&continuation-token=*&prefix=out/shards/x/attempts/*/");
        assert_eq!(stable_target("/b/in/run.mp4"), "/b/in/run.mp4");
    }

    #[test]
    fn a_request_draws_the_same_fault_whatever_arrives_before_it() {
        let rates = FaultRates::short_faults(5, 0.5);
        let fates = |order: &[&str]| -> BTreeMap<String, (Option<Fault>, Option<Fault>)> {
            let proxy = FaultProxy::start(&upstream(), rates.clone());
            let mut fates = BTreeMap::new();
            for path in order {
                // Each path tried twice: its second try draws anew.
                let first = rates.draw(proxy.shared.identify("GET", path, ""));
                let second = rates.draw(proxy.shared.identify("GET", path, ""));
                fates.insert(path.to_string(), (first, second));
            }
            fates
        };
        let paths = ["/b/a", "/b/b", "/b/c", "/b/d", "/b/e", "/b/f"];
        let mut reversed = paths;
        reversed.reverse();
        assert_eq!(fates(&paths), fates(&reversed));
    }
}
