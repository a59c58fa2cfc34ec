//! End-to-end tests of the simulator over HTTP with reqwest, and checks of the sample data.

mod answers;
mod data;
mod faults;

use std::time::Duration;

use super::{SimConfig, SimHandle};

/// What one request got back.
struct Reply {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: String,
}

impl Reply {
    fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {:?}", self.body))
    }

    /// The error code of an API error body.
    fn code(&self) -> String {
        self.json()["error"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }
}

fn start(config: SimConfig) -> SimHandle {
    SimHandle::start("127.0.0.1:0", config).expect("simulator starts")
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client builds")
}

fn url(sim: &SimHandle, id: &str) -> String {
    format!("{}/api/alerts/{id}/user", sim.base_url())
}

/// GET the user of `id` (already percent-encoded) with `Bearer test-token`.
async fn get(client: &reqwest::Client, sim: &SimHandle, id: &str) -> reqwest::Result<Reply> {
    let response = client
        .get(url(sim, id))
        .bearer_auth("test-token")
        .send()
        .await?;
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.text().await?;
    Ok(Reply {
        status,
        headers,
        body,
    })
}

/// Polls `cond` for up to two seconds: server-side bookkeeping trails the client a little.
async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    for _ in 0..200 {
        if cond() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting for {what}");
}
