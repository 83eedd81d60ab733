//! The worker's link to the coordinator, as one state: down (waiting to
//! reconnect, with backoff), connected (a channel but no registration) or
//! registered (RPCs flow).

use std::time::Duration;

use tokio::time::Instant;

use super::session::Session;
use crate::remote::CoordinatorClient;

/// Reconnecting backs off between these while the coordinator is unreachable.
const RECONNECT_MIN: Duration = Duration::from_millis(250);
const RECONNECT_MAX: Duration = Duration::from_secs(5);

pub enum Link {
    /// No channel; the next attempt is due at `retry_at`. `kept` is the
    /// registration a reconnect resumes: a network blip loses no reports,
    /// only the coordinator forgetting us (NotFound) makes us register again.
    Down { retry_at: Instant, backoff: Duration, failures: u32, kept: Option<Session> },
    /// A channel, not registered yet (first start, or forgotten).
    Connected { client: CoordinatorClient },
    Registered { client: CoordinatorClient, registration: Session },
}

impl Link {
    /// Down, trying at once.
    pub fn start() -> Link {
        Link::Down { retry_at: Instant::now(), backoff: RECONNECT_MIN, failures: 0, kept: None }
    }

    pub fn is_registered(&self) -> bool {
        matches!(self, Link::Registered { .. })
    }

    /// The current registration, also while down (it is resumed on reconnect).
    pub fn registration(&self) -> Option<&Session> {
        match self {
            Link::Registered { registration, .. } | Link::Down { kept: Some(registration), .. } => Some(registration),
            Link::Down { kept: None, .. } | Link::Connected { .. } => None,
        }
    }

    /// The channel and registration, when RPCs can flow.
    pub fn registered(&mut self) -> Option<(&mut CoordinatorClient, &Session)> {
        match self {
            Link::Registered { client, registration } => Some((client, registration)),
            _ => None,
        }
    }

    /// When to (re)connect or register; `None` while registered.
    pub fn connect_at(&self) -> Option<Instant> {
        match self {
            Link::Down { retry_at, .. } => Some(*retry_at),
            Link::Connected { .. } => Some(Instant::now()),
            Link::Registered { .. } => None,
        }
    }

    /// The channel broke: reconnect at once, keeping the registration.
    pub fn lost_channel(&mut self) {
        let kept = self.take_registration();
        *self = Link::Down { retry_at: Instant::now(), backoff: RECONNECT_MIN, failures: 0, kept };
    }

    /// The coordinator forgot us: register again (on the same channel).
    pub fn forgotten(&mut self) {
        *self = match std::mem::replace(self, Link::start()) {
            Link::Registered { client, .. } | Link::Connected { client } => Link::Connected { client },
            Link::Down { .. } => Link::start(),
        };
    }

    /// A connect or register attempt failed transiently: down, backing off.
    /// Returns how many attempts have failed in a row (for throttled logs).
    pub fn attempt_failed(&mut self) -> u32 {
        let (backoff, failures) = match self {
            Link::Down { backoff, failures, .. } => (*backoff, *failures),
            _ => (RECONNECT_MIN, 0),
        };
        let kept = self.take_registration();
        *self = Link::Down { retry_at: Instant::now() + backoff, backoff: (backoff * 2).min(RECONNECT_MAX), failures: failures + 1, kept };
        failures
    }

    fn take_registration(&mut self) -> Option<Session> {
        match std::mem::replace(self, Link::start()) {
            Link::Registered { registration, .. } => Some(registration),
            Link::Down { kept, .. } => kept,
            Link::Connected { .. } => None,
        }
    }
}
