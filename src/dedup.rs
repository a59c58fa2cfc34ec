//! The merge of many alerts' answers into one row per account, independent of arrival order.
//!
//! Accounts are keyed by their `id` lower-cased, since Windows account names are case-insensitive.
//! Every rule is a maximum or minimum over a total order, so the result does not depend on which
//! answer arrived first: the same answers give the same table at any concurrency.

use std::collections::HashMap;
use std::sync::Arc;

use crate::user::{Timestamp, UserRecord};

/// One row of the user table: the representative record plus what was merged into it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergedUser {
    /// The record of the answer with the latest `lastSeen` (ties: greatest alert ID),
    /// with `first_seen`/`last_seen` replaced by the earliest/latest over all answers.
    pub record: UserRecord,
    /// Number of distinct alerts that returned this account.
    pub alert_count: i64,
}

/// One row of the links table.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Link {
    pub alert_id: String,
    /// The merged row's `id` (its chosen spelling), shared by all the account's links.
    pub user_id: Arc<str>,
}

struct Entry {
    record: UserRecord,
    /// Alert ID of the answer `record` came from: the tie-breaker.
    alert_id: String,
    first_seen: Option<Timestamp>,
    last_seen: Option<Timestamp>,
    alert_count: i64,
}

/// Collects answers as they arrive; `finish` returns the sorted tables.
///
/// Memory is per account plus, only when the links table is wanted, one alert ID and one index
/// per alert: a million alerts cost about 50 MB of links, not a copy of every user record.
#[derive(Default)]
pub struct Merger {
    /// Lower-cased `id` → position in `accounts`.
    index: HashMap<String, u32>,
    accounts: Vec<Entry>,
    links: Vec<(Box<str>, u32)>,
    keep_links: bool,
    alerts: usize,
    /// Reused for lower-casing, so an answer for a known account allocates nothing here.
    key: String,
}

impl Merger {
    pub fn new(keep_links: bool) -> Self {
        Merger {
            keep_links,
            ..Self::default()
        }
    }

    /// Adds one alert's answer. Each alert ID must be added at most once (the input is deduplicated).
    pub fn add(&mut self, alert_id: &str, record: UserRecord) {
        self.key.clear();
        self.key
            .extend(record.id.chars().flat_map(char::to_lowercase));
        self.alerts += 1;
        let at = match self.index.get(self.key.as_str()) {
            Some(&at) => {
                merge(&mut self.accounts[at as usize], alert_id, record);
                at
            }
            None => {
                let at = u32::try_from(self.accounts.len()).expect("fewer than 4 billion accounts");
                self.index.insert(self.key.clone(), at);
                self.accounts.push(Entry {
                    first_seen: record.first_seen,
                    last_seen: record.last_seen,
                    record,
                    alert_id: alert_id.to_owned(),
                    alert_count: 1,
                });
                at
            }
        };
        if self.keep_links {
            self.links.push((alert_id.into(), at));
        }
    }

    /// Number of distinct accounts so far.
    pub fn accounts(&self) -> usize {
        self.accounts.len()
    }

    /// Number of alerts that returned a user so far.
    pub fn alerts(&self) -> usize {
        self.alerts
    }

    /// The user table sorted by lower-cased `id`, and the links table sorted by alert ID.
    pub fn finish(self) -> (Vec<MergedUser>, Vec<Link>) {
        let mut order: Vec<(String, u32)> = self.index.into_iter().collect();
        order.sort_unstable();
        let names: Vec<Arc<str>> = self
            .accounts
            .iter()
            .map(|e| Arc::from(e.record.id.as_str()))
            .collect();
        let mut links: Vec<Link> = self
            .links
            .into_iter()
            .map(|(alert_id, at)| Link {
                alert_id: alert_id.into_string(),
                user_id: names[at as usize].clone(),
            })
            .collect();
        links.sort_unstable();
        let mut slots: Vec<Option<Entry>> = self.accounts.into_iter().map(Some).collect();
        let users = order
            .into_iter()
            .map(|(_, at)| {
                let e = slots[at as usize].take().expect("each account once");
                let mut record = e.record;
                record.first_seen = e.first_seen;
                record.last_seen = e.last_seen;
                MergedUser {
                    record,
                    alert_count: e.alert_count,
                }
            })
            .collect();
        (users, links)
    }
}

/// Folds another answer for a known account into its entry.
fn merge(e: &mut Entry, alert_id: &str, record: UserRecord) {
    e.alert_count += 1;
    e.first_seen = min_present(e.first_seen, record.first_seen);
    e.last_seen = e.last_seen.max(record.last_seen);
    // `None < Some(_)`: an answer without lastSeen only wins over others without it.
    if (record.last_seen, alert_id) > (e.record.last_seen, e.alert_id.as_str()) {
        e.record = record;
        e.alert_id = alert_id.to_owned();
    }
}

fn min_present(a: Option<Timestamp>, b: Option<Timestamp>) -> Option<Timestamp> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn user(id: &str, first: Option<i64>, last: Option<i64>, name: &str) -> UserRecord {
        UserRecord {
            id: id.into(),
            account_name: Some(name.into()),
            first_seen: first.map(Timestamp),
            last_seen: last.map(Timestamp),
            ..Default::default()
        }
    }

    #[test]
    fn merges_casing_and_takes_columns_from_the_latest_answer() {
        let mut m = Merger::new(true);
        m.add("a1", user("CONTOSO\\Alice", Some(5), Some(10), "old"));
        m.add("a2", user("contoso\\alice", Some(3), Some(20), "new"));
        m.add("a3", user("contoso\\ALICE", None, None, "none"));
        let (users, links) = m.finish();
        assert_eq!(users.len(), 1);
        let u = &users[0];
        assert_eq!(u.record.id, "contoso\\alice");
        assert_eq!(u.record.account_name.as_deref(), Some("new"));
        assert_eq!(
            (u.record.first_seen, u.record.last_seen),
            (Some(Timestamp(3)), Some(Timestamp(20)))
        );
        assert_eq!(u.alert_count, 3);
        assert!(links.iter().all(|l| &*l.user_id == "contoso\\alice"));
        assert_eq!(
            links
                .iter()
                .map(|l| l.alert_id.as_str())
                .collect::<Vec<_>>(),
            ["a1", "a2", "a3"]
        );
    }

    #[test]
    fn ties_on_last_seen_go_to_the_greatest_alert_id() {
        let mut m = Merger::new(true);
        m.add("b", user("X\\y", None, Some(7), "from-b"));
        m.add("c", user("x\\Y", None, Some(7), "from-c"));
        m.add("a", user("x\\y", None, Some(7), "from-a"));
        let (users, _) = m.finish();
        assert_eq!(users[0].record.account_name.as_deref(), Some("from-c"));
        assert_eq!(users[0].record.id, "x\\Y");
    }

    fn answers() -> impl Strategy<Value = Vec<(String, UserRecord)>> {
        let rec = (
            0..4usize,
            "[aA][bB]",
            prop::option::of(0..5i64),
            prop::option::of(0..5i64),
            "[a-z]{0,3}",
        );
        prop::collection::vec(rec, 0..40).prop_map(|v| {
            v.into_iter()
                .enumerate()
                .map(|(i, (acct, case, f, l, name))| {
                    (
                        format!("alert{i:03}"),
                        user(&format!("d\\{case}{acct}"), f, l, &name),
                    )
                })
                .collect()
        })
    }

    proptest! {
        #[test]
        fn order_does_not_matter(answers in answers(), seed in any::<u64>()) {
            let mut shuffled = answers.clone();
            let mut s = seed;
            for i in (1..shuffled.len()).rev() {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                shuffled.swap(i, (s >> 33) as usize % (i + 1));
            }
            let run = |v: Vec<(String, UserRecord)>| {
                let mut m = Merger::new(true);
                for (a, u) in v { m.add(&a, u); }
                m.finish()
            };
            prop_assert_eq!(run(answers), run(shuffled));
        }

        #[test]
        fn counts_and_bounds_hold(answers in answers()) {
            let mut m = Merger::new(true);
            for (a, u) in answers.clone() { m.add(&a, u); }
            let (users, links) = m.finish();
            prop_assert_eq!(links.len(), answers.len());
            prop_assert_eq!(users.iter().map(|u| u.alert_count).sum::<i64>(), answers.len() as i64);
            for u in &users {
                let key = u.record.id.to_lowercase();
                let group: Vec<_> = answers.iter().filter(|(_, r)| r.id.to_lowercase() == key).collect();
                prop_assert_eq!(u.record.first_seen, group.iter().filter_map(|(_, r)| r.first_seen).min());
                prop_assert_eq!(u.record.last_seen, group.iter().filter_map(|(_, r)| r.last_seen).max());
            }
            let keys: Vec<String> = users.iter().map(|u| u.record.id.to_lowercase()).collect();
            prop_assert!(keys.windows(2).all(|w| w[0] < w[1]));
        }
    }
}
