//! The sample files: the tenant parses and the input file has every case it promises.

use std::collections::HashSet;

use crate::sim::{Answer, SAMPLE_ALERT_IDS, Tenant};

fn is_valid_id(id: &str) -> bool {
    id.len() <= 200
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// The input's ID lines, trimmed: no blanks, no comments.
fn id_lines() -> Vec<&'static str> {
    SAMPLE_ALERT_IDS
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect()
}

#[test]
fn sample_tenant_parses_with_all_kinds_of_answer() {
    let tenant = Tenant::sample();
    assert!(tenant.alert_count() > 250, "{}", tenant.alert_count());
    let answers: Vec<Answer> = id_lines().iter().map(|id| tenant.answer(id)).collect();
    let count = |want: &Answer| answers.iter().filter(|a| *a == want).count();
    assert_eq!(count(&Answer::Empty), 3);
    assert!(count(&Answer::NoUser) >= 15);
    let body = std::str::from_utf8(include_bytes!("../../../sample-data/tenant.json")).unwrap();
    for needle in [
        "accountDomainName",
        "logonMachinesCount",
        r#"José \"JJ\" Núñez, Jr."#,
    ] {
        assert!(body.contains(needle), "{needle}");
    }
}

#[test]
fn sample_ids_have_the_promised_mess() {
    assert!(SAMPLE_ALERT_IDS.starts_with('#'));
    assert!(SAMPLE_ALERT_IDS.contains("\r\n"));
    let lines = id_lines();
    let invalid: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|id| !is_valid_id(id))
        .collect();
    assert_eq!(invalid.len(), 7, "{invalid:?}");
    let has = |pred: &dyn Fn(&str) -> bool| invalid.iter().filter(|id| pred(id)).count();
    assert_eq!(has(&|id| id.contains(' ')), 1);
    for ch in ['/', '?', '%', '.'] {
        assert_eq!(has(&|id| id.contains(ch)), 1, "{ch}");
    }
    assert_eq!(has(&|id| !id.is_ascii()), 1);
    assert_eq!(has(&|id| id.len() == 300), 1);
    // In the middle of the file, not at the end.
    let last_invalid = lines.iter().rposition(|id| !is_valid_id(id)).unwrap();
    assert!(last_invalid < lines.len() * 3 / 4);

    let unique: HashSet<&str> = lines.iter().copied().collect();
    let duplicates = lines.len() - unique.len();
    assert!((15..=25).contains(&duplicates), "{duplicates}");
    let tenant = Tenant::sample();
    let unknown = unique
        .iter()
        .filter(|id| is_valid_id(id) && tenant.answer(id) == Answer::NotFound)
        .count();
    assert!((10..=20).contains(&unknown), "{unknown}");
    let padded = SAMPLE_ALERT_IDS
        .lines()
        .filter(|l| l.starts_with(' '))
        .count();
    assert!(padded >= 2);
}
