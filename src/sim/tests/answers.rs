//! Normal answers, authorisation, throttling and concurrency, as a client sees them.

use std::sync::Arc;
use std::time::Duration;

use super::{client, eventually, get, start, url};
use crate::sim::{Answer, SAMPLE_ALERT_IDS, SimConfig, Tenant};

/// The first valid ID of the sample input whose answer matches `want`.
fn sample_id(tenant: &Tenant, want: fn(&Answer) -> bool) -> &'static str {
    SAMPLE_ALERT_IDS
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter(|l| {
            l.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        })
        .find(|id| want(&tenant.answer(id)))
        .expect("the sample has such an ID")
}

fn is_uuid(s: &str) -> bool {
    let lens: Vec<usize> = s.split('-').map(str::len).collect();
    lens == [8, 4, 4, 4, 12] && s.chars().all(|c| c == '-' || c.is_ascii_hexdigit())
}

#[tokio::test]
async fn sample_tenant_answers_like_the_api() {
    let tenant = Arc::new(Tenant::sample());
    let sim = start(SimConfig::new(Arc::clone(&tenant)));
    let client = client();

    let id = sample_id(&tenant, |a| matches!(a, Answer::User(_)));
    let reply = get(&client, &sim, id).await.unwrap();
    assert_eq!(reply.status, 200);
    assert_eq!(reply.headers["content-type"], "application/json");
    let user = reply.json();
    assert_eq!(
        user["@odata.context"],
        "https://api.securitycenter.microsoft.com/api/$metadata#Users/$entity"
    );
    assert!(user["id"].as_str().unwrap().contains('\\'));

    let id = sample_id(&tenant, |a| *a == Answer::NoUser);
    let reply = get(&client, &sim, id).await.unwrap();
    assert_eq!((reply.status, reply.code()), (404, "NotFound".to_string()));
    assert_eq!(reply.json()["error"]["message"], "User not found");
    assert!(is_uuid(reply.json()["error"]["target"].as_str().unwrap()));

    let id = sample_id(&tenant, |a| *a == Answer::Empty);
    let reply = get(&client, &sim, id).await.unwrap();
    assert_eq!((reply.status, reply.body.as_str()), (200, ""));

    let id = sample_id(&tenant, |a| *a == Answer::NotFound);
    let reply = get(&client, &sim, id).await.unwrap();
    assert_eq!(
        (reply.status, reply.code()),
        (404, "ResourceNotFound".to_string())
    );
    assert_eq!(
        reply.json()["error"]["message"],
        format!("Alert {id} not found")
    );

    let other = client
        .get(format!("{}/api/alerts", sim.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 404);
    let stats = sim.stats();
    assert_eq!(
        (stats.requests, stats.distinct_ids, stats.faults),
        (4, 4, 0)
    );
    assert_eq!(sim.requests_for(id), 1);
}

#[tokio::test]
async fn ids_are_percent_decoded_and_looked_up_literally() {
    let tenant = Tenant::from_json(br#"{"alerts": {"a/b c%": {"id": "x\\y"}}}"#).unwrap();
    let sim = start(SimConfig::new(tenant));
    let reply = get(&client(), &sim, "a%2Fb%20c%25").await.unwrap();
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json()["id"], "x\\y");
    assert_eq!(sim.requests_for("a/b c%"), 1);
}

#[tokio::test]
async fn synthetic_tenant_answers_any_id_the_same_way_twice() {
    let sim = start(SimConfig::new(Tenant::synthetic(50_000, 50)));
    let client = client();
    let mut users = 0;
    for i in 0..40 {
        let id = format!("da6373083922889{i:05}_-880718168");
        let first = get(&client, &sim, &id).await.unwrap();
        let again = get(&client, &sim, &id).await.unwrap();
        assert_eq!(first.status, again.status);
        if first.status == 404 {
            assert_eq!(first.code(), "ResourceNotFound");
        } else {
            assert_eq!(
                first.body, again.body,
                "only error targets vary per request"
            );
            users += 1;
            assert!(
                first.json()["accountSid"]
                    .as_str()
                    .unwrap()
                    .starts_with("S-1-5-21-")
            );
        }
    }
    assert!(users >= 30, "{users}");
}

#[tokio::test]
async fn tokens_are_checked_and_forbidden_applies_after() {
    let config = SimConfig {
        token: Some("right".into()),
        ..SimConfig::new(Tenant::sample())
    };
    let sim = start(config);
    let client = client();
    let ask = |token: Option<&'static str>| {
        let request = client.get(url(&sim, "636688558380765161_2136280442"));
        let request = match token {
            Some(t) => request.bearer_auth(t),
            None => request,
        };
        async move { request.send().await.unwrap() }
    };
    let wrong = ask(Some("wrong")).await;
    assert_eq!(wrong.status(), 401);
    assert_eq!(wrong.headers()["www-authenticate"], "Bearer");
    let body: serde_json::Value = serde_json::from_str(&wrong.text().await.unwrap()).unwrap();
    assert_eq!(body["error"]["code"], "Unauthorized");
    assert_eq!(ask(None).await.status(), 401);
    assert_ne!(ask(Some("right")).await.status(), 401);
    assert_eq!(sim.stats().unauthorized, 2);

    let open = start(SimConfig {
        forbidden: true,
        ..SimConfig::default()
    });
    let reply = get(&client, &open, "x").await.unwrap();
    assert_eq!((reply.status, reply.code()), (403, "Forbidden".to_string()));
    let anonymous = client.get(url(&open, "x")).send().await.unwrap();
    assert_eq!(
        anonymous.status(),
        401,
        "authentication comes before permission"
    );
    assert_eq!((open.stats().forbidden, open.stats().unauthorized), (1, 1));
}

#[tokio::test]
async fn throttling_sends_retry_after_and_counts_early_requests() {
    let sim = start(SimConfig {
        rate_limit: Some(2.0),
        ..SimConfig::new(Tenant::sample())
    });
    let client = client();
    for _ in 0..2 {
        assert_ne!(get(&client, &sim, "a1").await.unwrap().status, 429);
    }
    let throttled = get(&client, &sim, "a1").await.unwrap();
    assert_eq!(
        (throttled.status, throttled.code()),
        (429, "TooManyRequests".to_string())
    );
    let retry_after: u64 = throttled.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry_after >= 1);
    // Sent right away: probably already in flight when the 429 came, so not blamed.
    assert_eq!(get(&client, &sim, "a2").await.unwrap().status, 429);
    assert_eq!(sim.stats().early_requests, 0);
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(get(&client, &sim, "a2").await.unwrap().status, 429);
    let stats = sim.stats();
    assert_eq!((stats.throttled, stats.early_requests), (3, 1));
    tokio::time::sleep(Duration::from_secs(retry_after)).await;
    assert_ne!(get(&client, &sim, "a3").await.unwrap().status, 429);
}

#[tokio::test]
async fn concurrent_slow_requests_are_all_in_flight_at_once() {
    let sim = start(SimConfig {
        latency_ms: 500,
        ..SimConfig::new(Tenant::sample())
    });
    let client = client();
    let requests = (0..8).map(|i| {
        let client = &client;
        let sim = &sim;
        async move { get(client, sim, &format!("id{i}")).await.unwrap().status }
    });
    let statuses = futures::future::join_all(requests).await;
    assert_eq!(statuses, [404; 8]);
    assert_eq!(sim.stats().max_in_flight, 8);
    eventually("nothing in flight", || sim.stats().in_flight == 0).await;
}
