//! The simulated tenant: which alerts exist and which user each has, read from a JSON file.
//!
//! File format (`sample-data/tenant.json` is an example):
//!
//! ```json
//! {
//!   "alerts": {
//!     "da637308392288907382_-880718168": { "id": "contoso\\jdoe", "accountName": "jdoe", ... },
//!     "636688558380765161_2136280442": null,
//!     "da09e47ccc-b74a-45bb-985f-8d6c077b70b6_1": "empty"
//!   },
//!   "synthetic": { "accounts": 50000, "not_found_permille": 50 }
//! }
//! ```
//!
//! - A user object is sent back as stored (any fields, even unknown ones), with
//!   `@odata.context` added in front.
//! - `null`: the alert exists but has no user: 404 `NotFound`.
//! - `"empty"`: 200 with an empty body, as the API has been seen to answer.
//! - An alert not listed: 404 `ResourceNotFound`, unless `synthetic` is given (optional): then
//!   every unlisted ID gets a user made up from a hash of the ID (see `synthetic.rs`), or a 404
//!   for `not_found_permille` ‰ of IDs (default 50).

use std::collections::HashMap;
use std::fmt;

use axum::body::Bytes;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::synthetic::Synthetic;

/// The `@odata.context` every user answer carries.
pub(crate) const ODATA_CONTEXT: &str =
    "https://api.securitycenter.microsoft.com/api/$metadata#Users/$entity";

/// What the tenant holds for one alert ID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// The alert's user: the complete 200 body, `@odata.context` included.
    User(Bytes),
    /// The alert exists but has no user (404 `NotFound`).
    NoUser,
    /// The alert answers 200 with an empty body.
    Empty,
    /// No such alert (404 `ResourceNotFound`).
    NotFound,
}

/// Alerts and their users, ready to answer: user bodies are serialised once, at load.
#[derive(Default)]
pub struct Tenant {
    alerts: HashMap<Box<str>, Answer>,
    pub(super) synthetic: Option<Synthetic>,
}

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "an object with \"alerts\" and optionally \"synthetic\""
)]
struct TenantFile {
    #[serde(default)]
    alerts: Map<String, Value>,
    synthetic: Option<SyntheticSpec>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SyntheticSpec {
    accounts: u32,
    #[serde(default = "default_not_found_permille")]
    not_found_permille: u32,
}

fn default_not_found_permille() -> u32 {
    50
}

impl Tenant {
    /// Parses a tenant file; the error says what is wrong and where.
    pub fn from_json(bytes: &[u8]) -> Result<Tenant, String> {
        let file: TenantFile =
            serde_json::from_slice(bytes).map_err(|e| format!("invalid tenant JSON: {e}"))?;
        let mut alerts = HashMap::with_capacity(file.alerts.len());
        for (id, value) in file.alerts {
            if id.is_empty() {
                return Err("invalid tenant: an alert ID is empty".to_string());
            }
            let answer = parse_answer(&value)
                .map_err(|what| format!("invalid tenant: alert {id:?}: {what}"))?;
            alerts.insert(id.into_boxed_str(), answer);
        }
        let synthetic = match file.synthetic {
            None => None,
            Some(spec) if spec.accounts == 0 => {
                return Err("invalid tenant: synthetic.accounts must be at least 1".to_string());
            }
            Some(spec) if spec.not_found_permille > 1000 => {
                return Err(format!(
                    "invalid tenant: synthetic.not_found_permille must be at most 1000, got {}",
                    spec.not_found_permille
                ));
            }
            Some(spec) => Some(Synthetic::new(spec.accounts, spec.not_found_permille)),
        };
        Ok(Tenant { alerts, synthetic })
    }

    /// The embedded `sample-data/tenant.json`, matching [`super::SAMPLE_ALERT_IDS`].
    pub fn sample() -> Tenant {
        Tenant::from_json(include_bytes!("../../sample-data/tenant.json"))
            .expect("the embedded sample tenant is valid (checked by a test)")
    }

    /// A tenant that answers any alert ID, deterministically, with one of `accounts` users
    /// (at least 1), or 404 for `not_found_permille` ‰ of IDs (at most 1000).
    pub fn synthetic(accounts: u32, not_found_permille: u32) -> Tenant {
        Tenant::default().with_synthetic(accounts, not_found_permille)
    }

    /// This tenant, with unlisted IDs answered by synthetic users.
    pub fn with_synthetic(mut self, accounts: u32, not_found_permille: u32) -> Tenant {
        self.synthetic = Some(Synthetic::new(
            accounts.max(1),
            not_found_permille.min(1000),
        ));
        self
    }

    /// How many alerts are listed (synthetic ones not counted).
    pub fn alert_count(&self) -> usize {
        self.alerts.len()
    }

    /// What `GET /api/alerts/{id}/user` answers for `id` when nothing goes wrong.
    pub fn answer(&self, id: &str) -> Answer {
        if let Some(answer) = self.alerts.get(id) {
            return answer.clone();
        }
        match &self.synthetic {
            Some(synthetic) => synthetic.answer(id),
            None => Answer::NotFound,
        }
    }
}

impl fmt::Debug for Tenant {
    /// A summary: printing thousands of user bodies helps nobody.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tenant")
            .field("alerts", &self.alerts.len())
            .field("synthetic", &self.synthetic)
            .finish()
    }
}

fn parse_answer(value: &Value) -> Result<Answer, String> {
    match value {
        Value::Null => Ok(Answer::NoUser),
        Value::String(s) if s == "empty" => Ok(Answer::Empty),
        Value::Object(user) => Ok(Answer::User(user_body(user))),
        other => Err(format!(
            "expected a user object, null or \"empty\", found {}",
            describe(other)
        )),
    }
}

fn describe(value: &Value) -> String {
    match value {
        Value::String(s) => format!("the string {s:?}"),
        Value::Bool(_) => "a boolean".to_string(),
        Value::Number(_) => "a number".to_string(),
        Value::Array(_) => "an array".to_string(),
        Value::Null | Value::Object(_) => value.to_string(),
    }
}

/// The 200 body: `@odata.context` first, as the API sends it, then the stored fields.
fn user_body(user: &Map<String, Value>) -> Bytes {
    let mut body = Vec::with_capacity(512);
    body.extend_from_slice(b"{\"@odata.context\":\"");
    body.extend_from_slice(ODATA_CONTEXT.as_bytes());
    body.push(b'"');
    for (key, value) in user.iter().filter(|(k, _)| *k != "@odata.context") {
        body.push(b',');
        // Writing JSON into a Vec cannot fail: keys are strings and values are plain JSON.
        serde_json::to_writer(&mut body, key).expect("serialising a string");
        body.push(b':');
        serde_json::to_writer(&mut body, value).expect("serialising JSON");
    }
    body.push(b'}');
    Bytes::from(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_json_error_says_where() {
        let err = Tenant::from_json(b"{\"alerts\": {\"a\": }").unwrap_err();
        assert!(err.starts_with("invalid tenant JSON"), "{err}");
        assert!(err.contains("line 1 column"), "{err}");
    }

    #[test]
    fn wrong_shapes_are_named() {
        let err = Tenant::from_json(br#"{"alerts": {"a1": 3}}"#).unwrap_err();
        assert!(err.contains("\"a1\"") && err.contains("a number"), "{err}");
        let err = Tenant::from_json(br#"{"alerts": {"a1": "full"}}"#).unwrap_err();
        assert!(err.contains("the string \"full\""), "{err}");
        let err = Tenant::from_json(br#"{"alert": {}}"#).unwrap_err();
        assert!(err.contains("unknown field `alert`"), "{err}");
        let err = Tenant::from_json(br#""tenant""#).unwrap_err();
        assert!(err.contains("an object with \"alerts\""), "{err}");
        let err = Tenant::from_json(br#"{"synthetic": {"accounts": 0}}"#).unwrap_err();
        assert!(err.contains("synthetic.accounts"), "{err}");
    }

    #[test]
    fn answers_follow_the_file() {
        let tenant = Tenant::from_json(
            br#"{"alerts": {"u": {"id": "c\\j", "x": [1]}, "n": null, "e": "empty"}}"#,
        )
        .unwrap();
        let Answer::User(body) = tenant.answer("u") else {
            panic!("u has a user")
        };
        let expected = format!(r#"{{"@odata.context":"{ODATA_CONTEXT}","id":"c\\j","x":[1]}}"#);
        assert_eq!(std::str::from_utf8(&body).unwrap(), expected);
        assert_eq!(tenant.answer("n"), Answer::NoUser);
        assert_eq!(tenant.answer("e"), Answer::Empty);
        assert_eq!(tenant.answer("U"), Answer::NotFound);
        assert_eq!(tenant.alert_count(), 3);
    }
}
