//! Micro-benchmarks of the end of a run on 1,000,000 answers: the merge, and each sink.
//!
//! `cargo bench --bench sinks`. The answers are synthetic but shaped like the API's: 50,000
//! accounts, casing that varies between alerts, every column filled.

use std::hint::black_box;

use alert_users::dedup::{Link, MergedUser, Merger};
use alert_users::sink::{self, Format};
use alert_users::user::{Timestamp, UserRecord};
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};

const ANSWERS: usize = 1_000_000;
const ACCOUNTS: usize = 50_000;

fn answer(i: usize) -> (String, UserRecord) {
    let account = (i * 7919) % ACCOUNTS;
    let domain = if i.is_multiple_of(3) {
        "CONTOSO"
    } else {
        "contoso"
    };
    let record = UserRecord {
        id: format!("{domain}\\user{account:05}"),
        account_name: Some(format!("user{account:05}")),
        account_domain: Some(domain.to_owned()),
        account_sid: Some(format!(
            "S-1-5-21-1004336348-1177238915-682003330-{account}"
        )),
        first_seen: Some(Timestamp(
            1_700_000_000_000_000 + (i as i64 % 1000) * 1_000_000,
        )),
        last_seen: Some(Timestamp(
            1_710_000_000_000_000 + (i as i64 % 5000) * 1_000_000,
        )),
        most_prevalent_machine_id: Some(format!("{:040x}", account * 2654435761)),
        least_prevalent_machine_id: None,
        logon_types: Some("Interactive, Network".to_owned()),
        log_on_machines_count: Some((i % 60) as i64),
        is_domain_admin: Some(account.is_multiple_of(97)),
        is_only_network_user: Some(false),
    };
    (
        format!(
            "da{:018}_{}",
            637_000_000_000_000_000u64 + i as u64,
            i % 9973
        ),
        record,
    )
}

fn merged() -> (Vec<MergedUser>, Vec<Link>) {
    let mut m = Merger::new(true);
    for i in 0..ANSWERS {
        let (alert, record) = answer(i);
        m.add(&alert, record);
    }
    m.finish()
}

fn merge(c: &mut Criterion) {
    let answers: Vec<(String, UserRecord)> = (0..ANSWERS).map(answer).collect();
    let mut g = c.benchmark_group("merge");
    g.sample_size(10);
    g.bench_function("1M answers into 50k accounts, with links", |b| {
        b.iter_batched(
            || answers.clone(),
            |answers| {
                let mut m = Merger::new(true);
                for (alert, record) in answers {
                    m.add(&alert, record);
                }
                black_box(m.finish())
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

fn sinks(c: &mut Criterion) {
    let (users, links) = merged();
    let dir = tempfile::tempdir().unwrap();
    let mut g = c.benchmark_group("sinks");
    g.sample_size(10);
    for (name, format) in [("csv", Format::Csv), ("parquet", Format::Parquet)] {
        let path = dir.path().join(format!("users.{name}"));
        g.bench_function(format!("{name}: 50k users"), |b| {
            b.iter(|| {
                sink::write_users(format, &path, &users)
                    .unwrap()
                    .publish()
                    .unwrap()
            })
        });
        let path = dir.path().join(format!("links.{name}"));
        g.bench_function(format!("{name}: 1M links"), |b| {
            b.iter(|| {
                sink::write_links(format, &path, &links)
                    .unwrap()
                    .publish()
                    .unwrap()
            })
        });
    }
    g.finish();
}

criterion_group!(benches, merge, sinks);
criterion_main!(benches);
