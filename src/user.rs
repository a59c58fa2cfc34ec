//! The user record as the API sends it, parsed once from the response body into typed fields.

use chrono::{DateTime, NaiveDateTime, SecondsFormat, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Column names of the user table, in output order, spelled as the API spells them.
pub const USER_COLUMNS: [&str; 13] = [
    "id",
    "accountName",
    "accountDomain",
    "accountSid",
    "firstSeen",
    "lastSeen",
    "mostPrevalentMachineId",
    "leastPrevalentMachineId",
    "logonTypes",
    "logOnMachinesCount",
    "isDomainAdmin",
    "isOnlyNetworkUser",
    "alertCount",
];

/// A UTC instant in microseconds since the Unix epoch: Parquet's `Timestamp(Microsecond, "UTC")`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// `2019-12-08T06:33:39Z`, with fractional seconds only when the API sent them.
    pub fn to_rfc3339(self) -> String {
        DateTime::<Utc>::from_timestamp_micros(self.0)
            .map(|t| t.to_rfc3339_opts(SecondsFormat::AutoSi, true))
            .unwrap_or_default()
    }

    /// Parses ISO-8601 as the API sends it. Defender omits the offset on some fields and sends
    /// up to 7 fractional digits (.NET ticks); both are accepted, a missing offset meaning UTC.
    pub fn parse(s: &str) -> Option<Timestamp> {
        let s = s.trim();
        if let Ok(t) = DateTime::parse_from_rfc3339(s) {
            return Some(Timestamp(t.with_timezone(&Utc).timestamp_micros()));
        }
        NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f")
            .ok()
            .map(|t| Timestamp(t.and_utc().timestamp_micros()))
    }
}

/// One user entity from `GET /api/alerts/{id}/user`. Every field but `id` may be missing or null.
/// It serialises back to the API's field names, and parses again to the same record (the state
/// file keeps it so).
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UserRecord {
    /// Empty when the API sent none: that answer is "no user", not a record.
    #[serde(default, deserialize_with = "text_or_empty")]
    pub id: String,
    pub account_name: Option<String>,
    #[serde(alias = "accountDomainName")]
    pub account_domain: Option<String>,
    pub account_sid: Option<String>,
    #[serde(
        default,
        deserialize_with = "timestamp",
        serialize_with = "timestamp_text"
    )]
    pub first_seen: Option<Timestamp>,
    #[serde(
        default,
        deserialize_with = "timestamp",
        serialize_with = "timestamp_text"
    )]
    pub last_seen: Option<Timestamp>,
    pub most_prevalent_machine_id: Option<String>,
    pub least_prevalent_machine_id: Option<String>,
    pub logon_types: Option<String>,
    #[serde(rename = "logOnMachinesCount", alias = "logonMachinesCount")]
    pub log_on_machines_count: Option<i64>,
    pub is_domain_admin: Option<bool>,
    pub is_only_network_user: Option<bool>,
}

/// What a 200 body turned out to hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    User(Box<UserRecord>),
    /// Empty body, `null`, or an object without a (non-empty) `id`: the API's "no user" in disguise.
    Empty,
}

/// Parses a 200 body, once, straight into the record. `Err` is a malformed body (truncated
/// JSON, a field of the wrong type).
pub fn parse_body(bytes: &[u8]) -> Result<Body, String> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Body::Empty);
    }
    match serde_json::from_slice::<Option<UserRecord>>(bytes) {
        Ok(Some(u)) if !u.id.trim().is_empty() => Ok(Body::User(Box::new(u))),
        Ok(_) => Ok(Body::Empty),
        Err(e) => Err(e.to_string()),
    }
}

fn text_or_empty<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(Option::<String>::deserialize(d)?.unwrap_or_default())
}

fn timestamp<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Timestamp>, D::Error> {
    let raw: Option<std::borrow::Cow<'de, str>> = Option::deserialize(d)?;
    match raw {
        None => Ok(None),
        Some(s) if s.trim().is_empty() => Ok(None),
        Some(s) => Timestamp::parse(&s)
            .map(Some)
            .ok_or_else(|| serde::de::Error::custom(format!("invalid timestamp '{s}'"))),
    }
}

/// RFC 3339 with every non-zero fractional digit, so parsing it gives back the same microsecond.
fn timestamp_text<S: Serializer>(t: &Option<Timestamp>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => s.serialize_str(&t.to_rfc3339()),
        None => s.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_example_with_aliases_and_unknown_fields() {
        let body = br#"{"@odata.context":"x","id":"contoso\\user1","accountName":"user1",
            "accountDomainName":"contoso","accountSid":null,"firstSeen":"2019-12-08T06:33:39Z",
            "lastSeen":"2020-01-05T06:58:34.1234567Z","mostPrevalentMachineId":null,
            "leastPrevalentMachineId":null,"logonTypes":"Interactive, Network",
            "logonMachinesCount":3,"isDomainAdmin":false,"isOnlyNetworkUser":null,"extra":[1]}"#;
        let Body::User(u) = parse_body(body).unwrap() else {
            panic!("not a user")
        };
        assert_eq!(u.id, "contoso\\user1");
        assert_eq!(u.account_domain.as_deref(), Some("contoso"));
        assert_eq!(u.log_on_machines_count, Some(3));
        assert_eq!(u.first_seen.unwrap().to_rfc3339(), "2019-12-08T06:33:39Z");
        assert_eq!(
            u.last_seen.unwrap().to_rfc3339(),
            "2020-01-05T06:58:34.123456Z"
        );
        assert_eq!(u.logon_types.as_deref(), Some("Interactive, Network"));
    }

    #[test]
    fn empty_bodies_and_missing_ids_are_empty_not_errors() {
        for body in [
            &b""[..],
            b"  \n",
            b"null",
            b"{}",
            br#"{"@odata.context":"x"}"#,
            br#"{"id":null}"#,
            br#"{"id":" "}"#,
        ] {
            assert_eq!(
                parse_body(body),
                Ok(Body::Empty),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn wrong_types_and_truncation_are_malformed() {
        assert!(parse_body(br#"{"id":"a","isDomainAdmin":"yes"}"#).is_err());
        assert!(parse_body(br#"{"id":"a","firstSeen":"yesterday"}"#).is_err());
        assert!(parse_body(br#"{"id":"a","accountNa"#).is_err());
        assert!(parse_body(br#"[1,2]"#).is_err());
    }

    #[test]
    fn timestamps_without_offset_are_utc() {
        assert_eq!(
            Timestamp::parse("2019-12-08T06:33:39").unwrap(),
            Timestamp::parse("2019-12-08T06:33:39Z").unwrap()
        );
        assert_eq!(
            Timestamp::parse("2019-12-08T08:33:39+02:00")
                .unwrap()
                .to_rfc3339(),
            "2019-12-08T06:33:39Z"
        );
    }

    proptest::proptest! {
        #[test]
        fn serialised_records_parse_back_identical(
            id in "[a-zA-Z\\\\ é\"]{1,12}",
            name in proptest::option::of("[a-z,\"\\\\ ]{0,8}"),
            // 0001-01-01 to 9999-12-31, any microsecond.
            first in proptest::option::of(-62_135_596_800_000_000i64..253_402_300_799_999_999),
            last in proptest::option::of(-62_135_596_800_000_000i64..253_402_300_799_999_999),
            count in proptest::option::of(proptest::num::i64::ANY),
            admin in proptest::option::of(proptest::bool::ANY),
        ) {
            let record = UserRecord {
                id,
                account_name: name,
                first_seen: first.map(Timestamp),
                last_seen: last.map(Timestamp),
                log_on_machines_count: count,
                is_domain_admin: admin,
                ..UserRecord::default()
            };
            let json = serde_json::to_vec(&record).unwrap();
            proptest::prop_assert_eq!(serde_json::from_slice::<UserRecord>(&json).unwrap(), record);
        }
    }
}
