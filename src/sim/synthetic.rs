//! Synthetic users: a deterministic answer for any alert ID, made from a stable hash of the ID.
//!
//! Benchmarks send a million requests, so an answer costs one hash and one `String` (the body):
//! everything else is constant tables or arithmetic on the account number.

use std::fmt::Write;

use axum::body::Bytes;

use super::faults::{hash_str, mix};
use super::tenant::{Answer, ODATA_CONTEXT};

/// Keeps the tenant's hash of an ID independent of the fault draws made from the same ID.
const SALT_TENANT: u64 = 0x7465_6e61_6e74_0005;
/// 2024-01-01T00:00:00Z: synthetic accounts are first seen in the year after it.
const BASE_EPOCH: i64 = 1_704_067_200;
const DAY: i64 = 86_400;

/// Domains by account number modulo 8: most accounts are in the main forest, as in real tenants.
const DOMAINS: [(&str, &str); 8] = [
    ("contoso", "S-1-5-21-1004336348-1177238915-682003330"),
    ("contoso", "S-1-5-21-1004336348-1177238915-682003330"),
    ("contoso", "S-1-5-21-1004336348-1177238915-682003330"),
    ("contoso", "S-1-5-21-1004336348-1177238915-682003330"),
    ("contoso", "S-1-5-21-1004336348-1177238915-682003330"),
    ("contoso", "S-1-5-21-1004336348-1177238915-682003330"),
    ("fabrikam", "S-1-5-21-3623811015-3361044348-30300820"),
    ("northwind", "S-1-5-21-2127521184-1604012920-1887927527"),
];

const LOGON_TYPES: [&str; 7] = [
    "Interactive",
    "Interactive",
    "Network",
    "Interactive, Network",
    "RemoteInteractive",
    "Batch, Network",
    "Service",
];

#[derive(Debug, Clone, Copy)]
pub(crate) struct Synthetic {
    accounts: u32,
    pub(super) not_found_permille: u32,
}

/// How one alert spells its user's ID: the sensor reports whatever casing it saw.
#[derive(Clone, Copy)]
enum Casing {
    Lower,
    Title,
    Upper,
}

impl Synthetic {
    pub(crate) fn new(accounts: u32, not_found_permille: u32) -> Self {
        Synthetic {
            accounts,
            not_found_permille,
        }
    }

    pub(crate) fn answer(&self, id: &str) -> Answer {
        let h = hash_str(SALT_TENANT, id);
        if h % 1000 < u64::from(self.not_found_permille) {
            return Answer::NotFound;
        }
        let per_alert = mix(h);
        let account = (per_alert % u64::from(self.accounts)) as u32;
        Answer::User(Bytes::from(user_body(account, mix(per_alert))))
    }
}

/// The 200 body for `account` as seen by one alert (`h` varies the casing and dates).
fn user_body(account: u32, h: u64) -> String {
    let n = u64::from(account);
    let traits = mix(n ^ SALT_TENANT);
    let (domain, sid_prefix) = DOMAINS[(n % 8) as usize];
    let (domain_case, name_case) = match h & 7 {
        5 => (Casing::Upper, Casing::Lower),
        6 => (Casing::Title, Casing::Title),
        7 => (Casing::Upper, Casing::Upper),
        _ => (Casing::Lower, Casing::Lower),
    };
    let first_seen =
        BASE_EPOCH + (traits % 200) as i64 * DAY + ((h >> 8) % (60 * DAY as u64)) as i64;
    let last_seen = first_seen + 3_600 + ((h >> 32) % (30 * DAY as u64)) as i64;
    let logon = LOGON_TYPES[((traits >> 8) % LOGON_TYPES.len() as u64) as usize];

    let mut b = String::with_capacity(640);
    // `write!` into a String cannot fail; the results are ignored for that reason.
    let _ = write!(b, r#"{{"@odata.context":"{ODATA_CONTEXT}","id":""#);
    push_cased(&mut b, domain, domain_case);
    b.push_str("\\\\");
    push_name(&mut b, account, name_case);
    b.push_str(r#"","accountName":""#);
    push_name(&mut b, account, name_case);
    b.push_str(r#"","accountDomain":""#);
    push_cased(&mut b, domain, domain_case);
    let _ = write!(
        b,
        r#"","accountSid":"{sid_prefix}-{}","firstSeen":""#,
        1_000 + n
    );
    push_timestamp(&mut b, first_seen);
    b.push_str(r#"","lastSeen":""#);
    push_timestamp(&mut b, last_seen);
    b.push_str(r#"","mostPrevalentMachineId":""#);
    push_machine_id(&mut b, traits);
    b.push_str(r#"","leastPrevalentMachineId":"#);
    if n.is_multiple_of(3) {
        b.push_str("null");
    } else {
        b.push('"');
        push_machine_id(&mut b, mix(traits));
        b.push('"');
    }
    let _ = write!(
        b,
        r#","logonTypes":"{logon}","logOnMachinesCount":{},"isDomainAdmin":{},"isOnlyNetworkUser":{}}}"#,
        1 + (traits >> 16) % 40,
        n.is_multiple_of(97),
        logon == "Network",
    );
    b
}

fn push_cased(b: &mut String, s: &str, casing: Casing) {
    for (i, c) in s.chars().enumerate() {
        let upper = match casing {
            Casing::Lower => false,
            Casing::Title => i == 0,
            Casing::Upper => true,
        };
        b.push(if upper { c.to_ascii_uppercase() } else { c });
    }
}

fn push_name(b: &mut String, account: u32, casing: Casing) {
    let prefix = match casing {
        Casing::Lower => "user",
        Casing::Title => "User",
        Casing::Upper => "USER",
    };
    let _ = write!(b, "{prefix}{account:05}");
}

/// 40 lowercase hex digits, like Defender's machine IDs (a SHA-1).
fn push_machine_id(b: &mut String, seed: u64) {
    let _ = write!(
        b,
        "{:016x}{:016x}{:08x}",
        mix(seed),
        mix(seed ^ 1),
        mix(seed ^ 2) >> 32
    );
}

/// `secs` since the Unix epoch as RFC 3339 UTC with a `Z`, e.g. `2024-03-01T12:00:00Z`.
fn push_timestamp(b: &mut String, secs: i64) {
    let (year, month, day) = civil_from_days(secs.div_euclid(DAY));
    let s = secs.rem_euclid(DAY);
    let _ = write!(
        b,
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        s / 3_600,
        s % 3_600 / 60,
        s % 60
    );
}

/// Howard Hinnant's `civil_from_days`: days since 1970-01-01 to (year, month, day).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_rfc3339() {
        let mut b = String::new();
        push_timestamp(&mut b, BASE_EPOCH + 59 * DAY + 3_723);
        assert_eq!(b, "2024-02-29T01:02:03Z");
        b.clear();
        push_timestamp(&mut b, 0);
        assert_eq!(b, "1970-01-01T00:00:00Z");
    }

    #[test]
    fn synthetic_answers_are_deterministic_valid_users() {
        let synthetic = Synthetic::new(1_000, 50);
        let mut not_found = 0;
        let mut casings = std::collections::HashSet::new();
        for i in 0..2_000 {
            let id = format!("da63730839228890{i}_-88071816");
            let answer = synthetic.answer(&id);
            assert_eq!(answer, synthetic.answer(&id));
            let Answer::User(body) = answer else {
                not_found += 1;
                continue;
            };
            let user: serde_json::Value = serde_json::from_slice(&body).unwrap();
            let uid = user["id"].as_str().unwrap();
            assert!(uid.to_lowercase().starts_with("contoso\\user") || uid.contains('\\'));
            assert_eq!(user["mostPrevalentMachineId"].as_str().unwrap().len(), 40);
            assert!(user["lastSeen"].as_str().unwrap() > user["firstSeen"].as_str().unwrap());
            casings.insert(uid.chars().filter(char::is_ascii_uppercase).count() > 0);
        }
        assert!((50..160).contains(&not_found), "{not_found}");
        assert_eq!(casings.len(), 2, "both lower and upper case IDs appear");
    }
}
