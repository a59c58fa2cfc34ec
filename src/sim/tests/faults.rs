//! Injected faults: transient, reproducible, and seen by a real client the way they should be.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use super::{client, eventually, get, start, url};
use crate::sim::{SimConfig, Tenant};

const USER_ALERT: &str = "u1";

fn tenant() -> Tenant {
    Tenant::from_json(br#"{"alerts": {"u1": {"id": "contoso\\jdoe", "accountName": "jdoe"}}}"#)
        .unwrap()
}

/// `config` on the one-alert tenant, with the default two faulty attempts per alert.
fn faulty(config: SimConfig) -> SimConfig {
    SimConfig {
        tenant: tenant().into(),
        ..config
    }
}

#[tokio::test]
async fn failures_are_transient() {
    let sim = start(faulty(SimConfig {
        fail_rate: 1.0,
        ..SimConfig::default()
    }));
    let client = client();
    for _ in 0..2 {
        let reply = get(&client, &sim, USER_ALERT).await.unwrap();
        assert!(matches!(reply.status, 500 | 503), "{}", reply.status);
        let code = reply.code();
        assert!(
            code == "InternalServerError" || code == "ServiceUnavailable",
            "{code}"
        );
    }
    let reply = get(&client, &sim, USER_ALERT).await.unwrap();
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json()["id"], "contoso\\jdoe");
    assert_eq!((sim.stats().faults, sim.requests_for(USER_ALERT)), (2, 3));
}

/// Status and body of three attempts at each of 30 IDs.
async fn outcomes(seed: u64) -> Vec<(u16, String)> {
    let sim = start(SimConfig {
        seed,
        fail_rate: 0.3,
        malformed_rate: 0.3,
        ..SimConfig::new(Tenant::synthetic(100, 0))
    });
    let client = client();
    let mut seen = Vec::new();
    for i in 0..30 {
        for _ in 0..3 {
            let reply = get(&client, &sim, &format!("da{i}_1")).await.unwrap();
            // The correlation id is per request by design; compare the rest.
            seen.push((reply.status, reply.body.chars().take(60).collect()));
        }
    }
    seen
}

#[tokio::test]
async fn faults_are_reproducible_for_a_seed() {
    let first = outcomes(42).await;
    assert_eq!(first, outcomes(42).await);
    assert_ne!(first, outcomes(43).await);
    // Third attempts are past `faulty_attempts`: always the normal answer.
    assert!(
        first
            .iter()
            .skip(2)
            .step_by(3)
            .all(|(status, _)| *status == 200)
    );
    assert!(first.iter().any(|(status, _)| *status >= 500));
}

#[tokio::test]
async fn malformed_bodies_do_not_parse() {
    let sim = start(faulty(SimConfig {
        malformed_rate: 1.0,
        ..SimConfig::default()
    }));
    let reply = get(&client(), &sim, USER_ALERT).await.unwrap();
    assert_eq!(reply.status, 200);
    assert!(reply.body.starts_with("{\"@odata.context\""));
    assert!(serde_json::from_str::<serde_json::Value>(&reply.body).is_err());
}

#[tokio::test]
async fn resets_are_errors_for_the_client() {
    let sim = start(faulty(SimConfig {
        reset_rate: 1.0,
        ..SimConfig::default()
    }));
    let client = client();
    let err = get(&client, &sim, USER_ALERT)
        .await
        .err()
        .expect("a reset is an error");
    assert!(!err.is_timeout(), "{err}");

    // Underneath, the connection closes without a complete response.
    let mut tcp = std::net::TcpStream::connect(sim.addr()).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let request =
        "GET /api/alerts/u1/user HTTP/1.1\r\nHost: sim\r\nAuthorization: Bearer t\r\n\r\n";
    tcp.write_all(request.as_bytes()).unwrap();
    let mut received = Vec::new();
    tcp.read_to_end(&mut received)
        .expect("closed, not timed out");
    let received = String::from_utf8_lossy(&received);
    assert!(received.is_empty(), "nothing should be sent: {received:?}");

    assert_eq!(get(&client, &sim, USER_ALERT).await.unwrap().status, 200);
}

#[tokio::test]
async fn hangs_last_until_the_client_gives_up() {
    let sim = start(faulty(SimConfig {
        hang_rate: 1.0,
        ..SimConfig::default()
    }));
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let err = get(&impatient, &sim, USER_ALERT)
        .await
        .err()
        .expect("times out");
    assert!(err.is_timeout(), "{err}");
    // The dropped connection ends the handler, so it no longer counts as in flight.
    eventually("the hung request to end", || sim.stats().in_flight == 0).await;
    assert_eq!(sim.stats().max_in_flight, 1);

    // A request still hanging does not hold up shutdown.
    let pending = tokio::spawn(client().get(url(&sim, USER_ALERT)).bearer_auth("t").send());
    eventually("the second request to arrive", || {
        sim.stats().in_flight == 1
    })
    .await;
    let started = Instant::now();
    sim.shutdown();
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert!(pending.await.unwrap().is_err());
}
