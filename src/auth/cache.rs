//! The one token of a renewable credential, shared by every worker: renewed before it expires,
//! and renewed once, not once per worker, when the API rejects it.
//!
//! `azure_identity` caches tokens too, but its cache cannot be told to drop a token the API
//! refused (a 401 would be answered with the same token until it nears expiry), and its fixed
//! five-minute margin re-asks on every call for tokens shorter than that. So its credentials are
//! used uncached (see `entra.rs`) and this cache owns the policy.

use std::fmt;
use std::time::Duration;

use futures::future::BoxFuture;
use tokio::sync::Mutex;
use tokio::time::Instant;

use super::Secret;
use crate::error::Result;

/// Renew this long before expiry, so a run of many hours never sends an expired token: an hour
/// token (`expires_in` 3599) is renewed after about 55 minutes. Shorter tokens are renewed at
/// half their life.
pub const RENEW_EARLY: Duration = Duration::from_secs(300);
/// After a failed early renewal, the current token is used this long before asking again.
const RETRY_RENEWAL: Duration = Duration::from_secs(30);

/// A token fresh from the identity provider.
pub struct Token {
    pub secret: Secret,
    /// Time left when it was received.
    pub lifetime: Duration,
}

/// Asks an identity provider for a new token. Never answers from a cache: `TokenCache` is the
/// only one.
pub trait TokenSource: Send + Sync + fmt::Debug {
    fn fetch(&self) -> BoxFuture<'_, Result<Token>>;
    /// Who signs in, for messages; never a secret.
    fn describe(&self) -> String;
}

struct Cached {
    secret: Secret,
    expires_at: Instant,
    renew_at: Instant,
    /// How early the renewal was planned; a failed renewal keeps the token for part of it.
    early: Duration,
}

/// The cached token behind a mutex held across a renewal: workers that need a token while one
/// is being fetched wait for it instead of fetching their own.
pub struct TokenCache {
    source: Box<dyn TokenSource>,
    state: Mutex<Option<Cached>>,
}

impl fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The source describes itself without secrets; the token is never shown.
        f.debug_tuple("TokenCache").field(&self.source).finish()
    }
}

impl TokenCache {
    pub fn new(source: Box<dyn TokenSource>) -> TokenCache {
        TokenCache {
            source,
            state: Mutex::new(None),
        }
    }

    pub fn describe(&self) -> String {
        self.source.describe()
    }

    /// The token to send now: the cached one until its renewal time, else a new one.
    pub async fn token(&self) -> Result<Secret> {
        let mut state = self.state.lock().await;
        let now = Instant::now();
        if let Some(c) = state.as_ref()
            && now < c.renew_at
        {
            return Ok(c.secret.clone());
        }
        match self.source.fetch().await {
            Ok(token) => Ok(store(&mut state, token, now)),
            Err(e) => match state.as_mut() {
                // The provider is down but the token still has a while to live: use it, and
                // ask again a little later rather than on every request.
                Some(c) if c.expires_at.saturating_duration_since(now) > c.early / 4 => {
                    let wait = RETRY_RENEWAL.min(c.early / 8);
                    tracing::warn!("cannot renew the token yet, using the current one: {e}");
                    c.renew_at = now + wait;
                    Ok(c.secret.clone())
                }
                _ => Err(e),
            },
        }
    }

    /// A token to replace `rejected`, which the API answered with 401. If another worker has
    /// already replaced it, that replacement is returned: 64 workers refused at once cause one
    /// request to the identity provider.
    pub async fn fresh_token(&self, rejected: &Secret) -> Result<Secret> {
        let mut state = self.state.lock().await;
        let now = Instant::now();
        if let Some(c) = state.as_ref()
            && c.secret != *rejected
            && now < c.renew_at
        {
            return Ok(c.secret.clone());
        }
        tracing::info!("the API refused the token (401): asking for a new one");
        let token = self.source.fetch().await?;
        Ok(store(&mut state, token, now))
    }
}

fn store(state: &mut Option<Cached>, token: Token, now: Instant) -> Secret {
    let early = RENEW_EARLY.min(token.lifetime / 2);
    let expires_at = now + token.lifetime;
    tracing::debug!(
        "got a token valid for {}s, renewed in {}s",
        token.lifetime.as_secs(),
        (token.lifetime - early).as_secs()
    );
    let secret = token.secret.clone();
    *state = Some(Cached {
        secret: token.secret,
        expires_at,
        renew_at: expires_at - early,
        early,
    });
    secret
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;
    use crate::error::Error;

    /// Hands out `t1`, `t2`, … with a fixed lifetime, after a short delay (so concurrent callers
    /// really overlap), or fails while `failing` is set.
    #[derive(Debug, Default)]
    struct Fake {
        fetches: Arc<AtomicU32>,
        lifetime: Duration,
        failing: Arc<std::sync::atomic::AtomicBool>,
    }

    impl TokenSource for Fake {
        fn fetch(&self) -> BoxFuture<'_, Result<Token>> {
            Box::pin(async move {
                tokio::time::sleep(Duration::from_millis(50)).await;
                if self.failing.load(Ordering::SeqCst) {
                    return Err(Error::Credential("provider down".into()));
                }
                let n = self.fetches.fetch_add(1, Ordering::SeqCst) + 1;
                Ok(Token {
                    secret: Secret::new(format!("t{n}")),
                    lifetime: self.lifetime,
                })
            })
        }

        fn describe(&self) -> String {
            "fake provider".into()
        }
    }

    fn cache(
        lifetime: Duration,
    ) -> (
        Arc<TokenCache>,
        Arc<AtomicU32>,
        Arc<std::sync::atomic::AtomicBool>,
    ) {
        let fake = Fake {
            lifetime,
            ..Fake::default()
        };
        let (n, failing) = (fake.fetches.clone(), fake.failing.clone());
        (Arc::new(TokenCache::new(Box::new(fake))), n, failing)
    }

    async fn token(c: &TokenCache) -> String {
        c.token().await.unwrap().expose().to_owned()
    }

    #[tokio::test(start_paused = true)]
    async fn an_hour_token_is_reused_then_renewed_five_minutes_early() {
        let (c, fetches, _) = cache(Duration::from_secs(3599));
        assert_eq!(token(&c).await, "t1");
        tokio::time::advance(Duration::from_secs(54 * 60)).await;
        assert_eq!(token(&c).await, "t1");
        assert_eq!(fetches.load(Ordering::SeqCst), 1);
        // 55 minutes in: less than 5 minutes left, renewed before anything is sent with it.
        tokio::time::advance(Duration::from_secs(60)).await;
        assert_eq!(token(&c).await, "t2");
        // A 6-hour run asks for one token per 55 minutes, not one per request.
        for _ in 0..360 {
            tokio::time::advance(Duration::from_secs(60)).await;
            let t = token(&c).await;
            assert!(t.starts_with('t'));
        }
        assert_eq!(fetches.load(Ordering::SeqCst), 8);
    }

    #[tokio::test(start_paused = true)]
    async fn short_tokens_are_renewed_at_half_life() {
        let (c, fetches, _) = cache(Duration::from_secs(4));
        assert_eq!(token(&c).await, "t1");
        tokio::time::advance(Duration::from_millis(1900)).await;
        assert_eq!(token(&c).await, "t1");
        tokio::time::advance(Duration::from_millis(200)).await;
        assert_eq!(token(&c).await, "t2");
        assert_eq!(fetches.load(Ordering::SeqCst), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn many_workers_refused_at_once_cause_one_renewal() {
        let (c, fetches, _) = cache(Duration::from_secs(3599));
        let rejected = c.token().await.unwrap();
        let workers: Vec<_> = (0..64)
            .map(|_| {
                let (c, rejected) = (c.clone(), rejected.clone());
                tokio::spawn(async move { c.fresh_token(&rejected).await.unwrap() })
            })
            .collect();
        for w in workers {
            assert_eq!(w.await.unwrap().expose(), "t2");
        }
        assert_eq!(fetches.load(Ordering::SeqCst), 2, "t1, then one renewal");
        // A worker still holding the old token later gets the new one without a fetch; the
        // new one, refused in turn, is replaced.
        assert_eq!(c.fresh_token(&rejected).await.unwrap().expose(), "t2");
        assert_eq!(
            c.fresh_token(&Secret::new("t2")).await.unwrap().expose(),
            "t3"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn first_token_is_awaited_by_all_and_fetched_once() {
        let (c, fetches, _) = cache(Duration::from_secs(3599));
        let all: Vec<_> = (0..64)
            .map(|_| {
                let c = c.clone();
                tokio::spawn(async move { token(&c).await })
            })
            .collect();
        for w in all {
            assert_eq!(w.await.unwrap(), "t1");
        }
        assert_eq!(fetches.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_early_renewal_keeps_the_token_while_it_is_valid() {
        let (c, fetches, failing) = cache(Duration::from_secs(3600));
        assert_eq!(token(&c).await, "t1");
        failing.store(true, Ordering::SeqCst);
        tokio::time::advance(Duration::from_secs(56 * 60)).await;
        assert_eq!(token(&c).await, "t1", "4 minutes left: still used");
        tokio::time::advance(Duration::from_secs(10)).await;
        assert_eq!(token(&c).await, "t1", "no new attempt within 30 s");
        tokio::time::advance(Duration::from_secs(165)).await;
        let e = c.token().await.unwrap_err();
        assert!(e.to_string().contains("provider down"), "{e}");
        failing.store(false, Ordering::SeqCst);
        assert_eq!(token(&c).await, "t2");
        assert_eq!(fetches.load(Ordering::SeqCst), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_first_fetch_or_renewal_after_401_is_an_error() {
        let (c, _, failing) = cache(Duration::from_secs(3600));
        failing.store(true, Ordering::SeqCst);
        assert!(c.token().await.is_err());
        failing.store(false, Ordering::SeqCst);
        let t1 = c.token().await.unwrap();
        failing.store(true, Ordering::SeqCst);
        assert!(
            c.fresh_token(&t1).await.is_err(),
            "a refused token is not kept"
        );
    }
}
