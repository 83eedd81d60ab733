//! Every store call of every process retried through outages, stalls and
//! throttling: a per-request timeout (the HTTP client's), then exponential
//! backoff with full jitter until a deadline, counted by operation and cause
//! for `/metrics`. The defaults ride out a store answering 503 for several
//! minutes; only a deadline passed or a permanent error (a bad key, a
//! missing object, a lost conditional put) reaches the caller.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::error::StoreError;

pub const TIMEOUT_ENV: &str = "RWCLIP_STORE_TIMEOUT_S";
pub const CONNECT_TIMEOUT_ENV: &str = "RWCLIP_STORE_CONNECT_TIMEOUT_S";
pub const RETRY_FOR_ENV: &str = "RWCLIP_STORE_RETRY_FOR_S";
pub const BACKOFF_MAX_ENV: &str = "RWCLIP_STORE_BACKOFF_MAX_S";
pub const BACKOFF_INIT_ENV: &str = "RWCLIP_STORE_BACKOFF_INIT_MS";

/// How long store calls wait and how they retry.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StoreSettings {
    /// One HTTP request, headers to last byte: a stall past it is retried.
    pub timeout: Duration,
    pub connect_timeout: Duration,
    /// How long one call keeps retrying before its error reaches the caller.
    pub retry_for: Duration,
    /// The first backoff; each next one doubles, up to `backoff_max`, and
    /// every wait is drawn uniformly below it (full jitter).
    pub backoff_init: Duration,
    pub backoff_max: Duration,
}

impl Default for StoreSettings {
    fn default() -> Self {
        StoreSettings {
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(5),
            retry_for: Duration::from_secs(600),
            backoff_init: Duration::from_millis(100),
            backoff_max: Duration::from_secs(15),
        }
    }
}

static INSTALLED: OnceLock<StoreSettings> = OnceLock::new();

impl StoreSettings {
    /// The defaults with each `RWCLIP_STORE_*` variable that is set; `Err`
    /// names a variable that is not a number.
    pub fn from_env() -> Result<StoreSettings, String> {
        StoreSettings::from_vars(|name| std::env::var(name).ok())
    }

    /// [`StoreSettings::from_env`] over any variable lookup.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<StoreSettings, String> {
        let mut s = StoreSettings::default();
        let read = |name: &str, scale: f64, into: &mut Duration| -> Result<(), String> {
            if let Some(text) = var(name) {
                let v: f64 = text.trim().parse().map_err(|_| format!("{name}={text:?} is not a number"))?;
                if !(v.is_finite() && v >= 0.0) {
                    return Err(format!("{name}={text:?} must be a non-negative number"));
                }
                *into = Duration::from_secs_f64(v * scale);
            }
            Ok(())
        };
        read(TIMEOUT_ENV, 1.0, &mut s.timeout)?;
        read(CONNECT_TIMEOUT_ENV, 1.0, &mut s.connect_timeout)?;
        read(RETRY_FOR_ENV, 1.0, &mut s.retry_for)?;
        read(BACKOFF_MAX_ENV, 1.0, &mut s.backoff_max)?;
        read(BACKOFF_INIT_ENV, 1e-3, &mut s.backoff_init)?;
        Ok(s)
    }

    /// Makes `self` this process's settings (a binary does it once, from
    /// its flags, before opening any store); `false` when already set.
    pub fn install(self) -> bool {
        INSTALLED.set(self).is_ok()
    }

    /// This process's settings: installed, else from the environment (a
    /// bad variable falls back to the defaults; binaries check it first).
    pub fn current() -> StoreSettings {
        *INSTALLED.get_or_init(|| StoreSettings::from_env().unwrap_or_default())
    }
}

pub use crate::error::{cause, met, Met};

/// Counts of retried and failed store calls in this process.
#[derive(Debug, Default)]
struct Counters {
    retries: BTreeMap<(&'static str, &'static str), u64>,
    errors: BTreeMap<(&'static str, &'static str), u64>,
    /// When a call last began to fail, while it still fails.
    failing_since: Option<Instant>,
    failing_calls: u64,
}

static COUNTERS: OnceLock<Mutex<Counters>> = OnceLock::new();

fn counters() -> std::sync::MutexGuard<'static, Counters> {
    COUNTERS.get_or_init(Default::default).lock().unwrap_or_else(|p| p.into_inner())
}

/// What the store calls of this process met so far.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoreHealth {
    /// (operation, cause) → retries.
    pub retries: Vec<((String, String), u64)>,
    /// (operation, cause) → calls that failed after retrying.
    pub errors: Vec<((String, String), u64)>,
    /// Calls retrying right now, and for how long the oldest has.
    pub failing_calls: u64,
    pub failing_for: Option<Duration>,
}

pub fn health() -> StoreHealth {
    let c = counters();
    let list = |m: &BTreeMap<(&'static str, &'static str), u64>| m.iter().map(|(&(o, k), &n)| ((o.to_string(), k.to_string()), n)).collect();
    StoreHealth { retries: list(&c.retries), errors: list(&c.errors), failing_calls: c.failing_calls, failing_for: c.failing_since.map(|t| t.elapsed()) }
}

/// A uniform draw in `[0, 1)` (jitter needs no quality, only spread).
fn jitter() -> f64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(Instant::now().elapsed().as_nanos() ^ u128::from(std::process::id()));
    (h.finish() >> 11) as f64 / (1u64 << 53) as f64
}

/// One store call's retries: the deadline from its first try and the next
/// backoff. While it is failing it counts as a failing call.
pub struct Retry {
    operation: &'static str,
    settings: StoreSettings,
    started: Instant,
    backoff: Duration,
    failing: bool,
}

impl Retry {
    pub fn new(operation: &'static str, settings: StoreSettings) -> Retry {
        Retry { operation, settings, started: Instant::now(), backoff: settings.backoff_init, failing: false }
    }

    /// After `e`: waits out a backoff and returns `Ok` when the call may
    /// try again, or gives `e` back (counted) when it must not.
    pub async fn after(&mut self, e: StoreError) -> Result<(), StoreError> {
        if !e.is_retryable() {
            return Err(e);
        }
        if self.started.elapsed() + self.backoff > self.settings.retry_for {
            *counters().errors.entry((self.operation, cause(&e))).or_default() += 1;
            return Err(e);
        }
        {
            let mut c = counters();
            *c.retries.entry((self.operation, cause(&e))).or_default() += 1;
            if !self.failing {
                self.failing = true;
                c.failing_calls += 1;
                c.failing_since.get_or_insert_with(Instant::now);
            }
        }
        tokio::time::sleep(self.backoff.mul_f64(jitter())).await;
        self.backoff = (self.backoff * 2).min(self.settings.backoff_max);
        Ok(())
    }
}

impl Drop for Retry {
    fn drop(&mut self) {
        if self.failing {
            let mut c = counters();
            c.failing_calls -= 1;
            if c.failing_calls == 0 {
                c.failing_since = None;
            }
        }
    }
}

/// Runs `call` until it succeeds, fails for good, or `settings.retry_for`
/// has passed since the first try; `call`'s argument says whether an
/// earlier try failed (a conditional put's second try may find its own
/// first one applied).
pub async fn retrying<T, F, Fut>(operation: &'static str, settings: StoreSettings, mut call: F) -> Result<T, StoreError>
where
    F: FnMut(bool) -> Fut,
    Fut: Future<Output = Result<T, StoreError>>,
{
    let mut retry = Retry::new(operation, settings);
    let mut retried = false;
    loop {
        match call(retried).await {
            Ok(v) => return Ok(v),
            Err(e) => retry.after(e).await?,
        }
        retried = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::retryable;
    use object_store::client::{HttpError, HttpErrorKind};

    fn transient() -> StoreError {
        StoreError::Backend { operation: "get", uri: "s3://b/k".into(), source: Box::new(object_store::Error::Generic { store: "S3", source: "Server returned non-2xx status code: 503 Service Unavailable: SlowDown".into() }) }
    }

    #[tokio::test]
    async fn transient_errors_are_retried_and_counted_permanent_ones_are_not() {
        let settings = StoreSettings { backoff_init: Duration::from_millis(1), backoff_max: Duration::from_millis(4), ..StoreSettings::default() };
        let mut tries = 0;
        let got = retrying("test-get", settings, |retried| {
            tries += 1;
            assert_eq!(retried, tries > 1);
            async move { if tries < 4 { Err(transient()) } else { Ok(7) } }
        })
        .await;
        assert_eq!((got.unwrap(), tries), (7, 4));
        let h = health();
        assert!(h.retries.contains(&(("test-get".into(), "throttled_503".into()), 3)), "{h:?}");
        let mut tries = 0;
        let missing = retrying("test-head", settings, |_| {
            tries += 1;
            async { Err::<(), _>(StoreError::NotFound { uri: "x".into() }) }
        })
        .await;
        assert!(matches!(missing, Err(StoreError::NotFound { .. })) && tries == 1);
        // A refused credential or a bad request is answered at once.
        let refused = |source: object_store::Error| StoreError::Backend { operation: "get", uri: "s3://b/k".into(), source: Box::new(source) };
        assert!(!retryable(&refused(object_store::Error::PermissionDenied { path: "k".into(), source: "403 AccessDenied".into() })));
        assert!(!retryable(&refused(object_store::Error::Generic { store: "S3", source: "Server returned non-2xx status code: 400 Bad Request: InvalidArgument".into() })));
        assert!(retryable(&refused(object_store::Error::Generic { store: "S3", source: "Server returned non-2xx status code: 429 Too Many Requests: ".into() })));
        let reset = HttpError::new(HttpErrorKind::Interrupted, std::io::Error::from(std::io::ErrorKind::ConnectionReset));
        assert!(retryable(&refused(object_store::Error::Generic { store: "S3", source: Box::new(reset) })));
        // Past its deadline a call gives up with the last error, counted.
        let short = StoreSettings { retry_for: Duration::from_millis(20), ..settings };
        let gave_up = retrying("test-put", short, |_| async { Err::<(), _>(transient()) }).await;
        assert!(gave_up.is_err());
        assert!(health().errors.contains(&(("test-put".into(), "throttled_503".into()), 1)));
        assert_eq!(health().failing_calls, 0);
    }

    /// An error as object_store nests it: a provider error whose source is
    /// the request error, under text that names the URI and the time spent.
    #[derive(Debug)]
    struct Wrapped {
        text: String,
        inner: Box<dyn std::error::Error + Send + Sync>,
    }
    impl std::fmt::Display for Wrapped {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(&self.text)
        }
    }
    impl std::error::Error for Wrapped {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(self.inner.as_ref())
        }
    }

    #[test]
    fn the_cause_comes_from_the_error_types_not_from_uris_or_times() {
        let backend = |uri: &str, inner: Box<dyn std::error::Error + Send + Sync>| StoreError::Backend {
            operation: "get",
            uri: uri.into(),
            source: Box::new(object_store::Error::Generic { store: "S3", source: Box::new(Wrapped { text: format!("Error performing GET http://127.0.0.1:9000/{uri} in 503.2ms, after 5 retries, timeout 500s - reset"), inner }) }),
        };
        // A connection reset on a key that says 503, after a 503 ms wait.
        let reset = backend("s3://b/site-503/run-500.mp4", Box::new(HttpError::new(HttpErrorKind::Interrupted, std::io::Error::from(std::io::ErrorKind::ConnectionReset))));
        assert_eq!((met(&reset), cause(&reset), retryable(&reset)), (Met::Transport(HttpErrorKind::Interrupted), "connection", true));
        let timeout = backend("s3://b/k", Box::new(HttpError::new(HttpErrorKind::Timeout, std::io::Error::from(std::io::ErrorKind::TimedOut))));
        assert_eq!(cause(&timeout), "timeout");
        let throttled = backend("s3://b/connection-reset-timed-out", "Server returned non-2xx status code: 503 Service Unavailable: <Code>SlowDown</Code>".into());
        assert_eq!((met(&throttled), cause(&throttled), retryable(&throttled)), (Met::Status(503), "throttled_503", true));
        let denied = backend("s3://b/k-503", "Server returned non-2xx status code: 403 Forbidden: <Code>AccessDenied</Code> 503".into());
        assert_eq!((met(&denied), cause(&denied), retryable(&denied)), (Met::Status(403), "other", false));
        let in_body = backend("s3://b/k", "Server returned error response: <Error><Code>InternalError</Code></Error>".into());
        assert_eq!((cause(&in_body), retryable(&in_body)), ("server_error_5xx", true));
        let cut = StoreError::BodyEndedEarly { uri: "s3://b/k".into(), at: 10, size: 20 };
        assert_eq!((cause(&cut), retryable(&cut)), ("connection", true));
    }

    #[test]
    fn settings_come_from_the_environment_with_documented_defaults() {
        let d = StoreSettings::default();
        assert_eq!((d.timeout.as_secs(), d.retry_for.as_secs(), d.backoff_max.as_secs()), (30, 600, 15));
        assert!(d.retry_for > Duration::from_secs(120), "the defaults ride out a two-minute outage");
        assert_eq!(StoreSettings::from_vars(|_| None).unwrap(), d, "no variable set: the defaults");
        let vars: BTreeMap<&str, &str> = [(TIMEOUT_ENV, "2.5"), (CONNECT_TIMEOUT_ENV, "1"), (RETRY_FOR_ENV, "90"), (BACKOFF_MAX_ENV, "3"), (BACKOFF_INIT_ENV, "250")].into();
        let set = StoreSettings::from_vars(|k| vars.get(k).map(|v| v.to_string())).unwrap();
        assert_eq!(set, StoreSettings { timeout: Duration::from_millis(2500), connect_timeout: Duration::from_secs(1), retry_for: Duration::from_secs(90), backoff_max: Duration::from_secs(3), backoff_init: Duration::from_millis(250) });
        for bad in ["ten", "-1", "NaN", "inf"] {
            let err = StoreSettings::from_vars(|k| (k == RETRY_FOR_ENV).then(|| bad.to_string())).unwrap_err();
            assert!(err.contains(RETRY_FOR_ENV) && err.contains(bad), "{err}");
        }
    }
}
