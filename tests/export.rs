//! The export job end to end: the real binary against the built-in simulator.

mod common;

use std::fs;

use alert_users::sim::SimConfig;
use common::*;
use predicates::prelude::*;
use serde_json::json;

/// Three accounts behind five alerts: casing, a tie on lastSeen, aliases, CSV-hostile values,
/// plus an alert without a user, an empty answer and an unknown alert.
fn small_tenant() -> SimConfig {
    SimConfig::new(tenant(json!({"alerts": {
        "a1": {"id": "CONTOSO\\Alice", "accountName": "Alice", "accountDomain": "CONTOSO",
               "accountSid": "S-1-5-21-1-1001", "firstSeen": "2024-01-05T10:00:00Z",
               "lastSeen": "2024-02-01T00:00:00Z", "mostPrevalentMachineId": "ab12",
               "logonTypes": "Interactive, Network", "logOnMachinesCount": 3,
               "isDomainAdmin": false, "isOnlyNetworkUser": null},
        "a2": {"id": "contoso\\alice", "accountName": "alice", "accountDomainName": "contoso",
               "firstSeen": "2023-12-24T08:30:00Z", "lastSeen": "2024-03-01T12:00:00Z",
               "logonMachinesCount": 5, "isDomainAdmin": true, "unknownField": [1, 2]},
        "a3": {"id": "fabrikam\\José", "accountName": "José \"JJ\" Núñez, Jr.", "accountDomain": "fabrikam",
               "firstSeen": "2024-01-01T00:00:00Z", "lastSeen": "2024-01-02T00:00:00.5Z",
               "logonTypes": "back\\slash", "isDomainAdmin": false, "isOnlyNetworkUser": true},
        "b1": {"id": "X\\tie", "accountName": "from-b1", "lastSeen": "2024-01-01T00:00:00Z"},
        "b2": {"id": "x\\TIE", "accountName": "from-b2", "lastSeen": "2024-01-01T00:00:00Z"},
        "nouser": null,
        "empty": "empty"
    }})))
}

const SMALL_IDS: &str =
    "# incident 4711\na1\na2\n\na3\nb1\nb2\nnouser\nempty\nunknown1\nbad id\na1\n";

const SMALL_USERS: &str = "\
id,accountName,accountDomain,accountSid,firstSeen,lastSeen,mostPrevalentMachineId,leastPrevalentMachineId,logonTypes,logOnMachinesCount,isDomainAdmin,isOnlyNetworkUser,alertCount
contoso\\alice,alice,contoso,,2023-12-24T08:30:00Z,2024-03-01T12:00:00Z,,,,5,true,,2
fabrikam\\José,\"José \"\"JJ\"\" Núñez, Jr.\",fabrikam,,2024-01-01T00:00:00Z,2024-01-02T00:00:00.500Z,,,back\\slash,,false,true,1
x\\TIE,from-b2,,,,2024-01-01T00:00:00Z,,,,,,,2
";

#[test]
fn csv_user_table_merges_casing_and_ties_and_quotes_values() {
    let sim = sim(small_tenant());
    let dir = tempdir();
    write(dir.path(), "ids.txt", SMALL_IDS);
    export(&sim, dir.path())
        .args(["-i", "ids.txt", "-o", "users.csv", "--links", "links.csv"])
        .assert()
        .code(3)
        .stderr(predicate::str::contains(
            "12 input lines, 8 distinct IDs, 1 duplicates skipped, 1 invalid; 3 users from 5 alerts, 3 not found, 1 failed",
        ));
    assert_eq!(read(dir.path(), "users.csv"), SMALL_USERS);
    assert_eq!(
        read(dir.path(), "links.csv"),
        "alert_id,user_id\na1,contoso\\alice\na2,contoso\\alice\na3,fabrikam\\José\nb1,x\\TIE\nb2,x\\TIE\n"
    );
    assert_eq!(
        read(dir.path(), "users.not-found.csv"),
        "alert_id,reason,error_code,message\nempty,empty_response,,\nnouser,not_found,NotFound,User not found\n\
         unknown1,alert_not_found,ResourceNotFound,Alert unknown1 not found\n"
    );
    let failures = rows(dir.path(), "users.failures.csv");
    assert_eq!(failures.len(), 1);
    assert_eq!(failures[0][..3], ["bad id", "invalid_id", ""]);
    assert!(
        failures[0][4].starts_with("line 11: invalid character ' '"),
        "{:?}",
        failures[0]
    );
    assert_eq!(failures[0][5], "0");
    // Duplicates and invalid lines are never sent.
    assert_eq!(sim.stats().requests, 8);
    assert_eq!(sim.requests_for("a1"), 1);
}

#[test]
fn parquet_tables_have_the_documented_types() {
    use arrow_array::{Array, BooleanArray, Int64Array, StringArray, TimestampMicrosecondArray};
    use arrow_schema::{DataType, TimeUnit};
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

    let sim = sim(small_tenant());
    let dir = tempdir();
    write(dir.path(), "ids.txt", SMALL_IDS);
    export(&sim, dir.path())
        .args([
            "-i",
            "ids.txt",
            "-o",
            "users.parquet",
            "--links",
            "links.parquet",
        ])
        .assert()
        .code(3);
    let file = fs::File::open(dir.path().join("users.parquet")).unwrap();
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).unwrap();
    let meta = builder.metadata().clone();
    let schema = builder.schema().clone();
    let batches: Vec<_> = builder.build().unwrap().map(Result::unwrap).collect();
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    assert_eq!(names, alert_users::user::USER_COLUMNS);
    let ts = DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
    for f in schema.fields() {
        let (ty, nullable) = match f.name().as_str() {
            "id" => (DataType::Utf8, false),
            "alertCount" => (DataType::Int64, false),
            "logOnMachinesCount" => (DataType::Int64, true),
            "firstSeen" | "lastSeen" => (ts.clone(), true),
            "isDomainAdmin" | "isOnlyNetworkUser" => (DataType::Boolean, true),
            _ => (DataType::Utf8, true),
        };
        assert_eq!(
            (f.data_type(), f.is_nullable()),
            (&ty, nullable),
            "{}",
            f.name()
        );
    }
    let col = meta.row_group(0).column(0);
    assert!(
        matches!(col.compression(), parquet::basic::Compression::ZSTD(_)),
        "{:?}",
        col.compression()
    );
    let b = &batches[0];
    assert_eq!(b.num_rows(), 3);
    let id = b.column(0).as_any().downcast_ref::<StringArray>().unwrap();
    assert_eq!(id.value(1), "fabrikam\\José");
    let first = b
        .column(4)
        .as_any()
        .downcast_ref::<TimestampMicrosecondArray>()
        .unwrap();
    assert_eq!(first.value(0), 1_703_406_600_000_000); // 2023-12-24T08:30:00Z
    assert!(first.is_null(2));
    let count = b.column(9).as_any().downcast_ref::<Int64Array>().unwrap();
    assert_eq!((count.value(0), count.is_null(1)), (5, true));
    let admin = b
        .column(10)
        .as_any()
        .downcast_ref::<BooleanArray>()
        .unwrap();
    assert!(admin.value(0) && !admin.value(1) && admin.is_null(2));
    let alerts = b.column(12).as_any().downcast_ref::<Int64Array>().unwrap();
    assert_eq!(alerts.values().to_vec(), vec![2, 1, 2]);

    let links = fs::File::open(dir.path().join("links.parquet")).unwrap();
    let rows: usize = ParquetRecordBatchReaderBuilder::try_new(links)
        .unwrap()
        .build()
        .unwrap()
        .map(|b| b.unwrap().num_rows())
        .sum();
    assert_eq!(rows, 5);
    // The ledger files stay CSV whatever the table format.
    assert_eq!(rows_of(&dir, "users.not-found.csv"), 3);
}

fn rows_of(dir: &tempfile::TempDir, name: &str) -> usize {
    rows(dir.path(), name).len()
}

#[test]
fn every_kind_of_invalid_line_is_reported_with_its_line_and_the_rest_goes_on() {
    let sim = sim(small_tenant());
    let dir = tempdir();
    let long = "x".repeat(300);
    let text = format!("\u{feff}a1\r\nwith space\r\na/b\nq?x\n100%\na.b\ndaé\n{long}\na2\n");
    fs::write(
        dir.path().join("ids.txt"),
        [text.as_bytes(), b"\xff\xfe\n"].concat(),
    )
    .unwrap();
    export(&sim, dir.path())
        .args(["-i", "ids.txt", "-o", "u.csv"])
        .assert()
        .code(3);
    let mut got: Vec<(u64, String)> = rows(dir.path(), "u.failures.csv")
        .into_iter()
        .map(|r| {
            assert_eq!((r[1].as_str(), r[5].as_str()), ("invalid_id", "0"));
            let line = r[4]
                .strip_prefix("line ")
                .unwrap()
                .split(':')
                .next()
                .unwrap()
                .parse()
                .unwrap();
            (line, r[0].clone())
        })
        .collect();
    got.sort();
    let expected: Vec<(u64, String)> = [
        (2, "with space"),
        (3, "a/b"),
        (4, "q?x"),
        (5, "100%"),
        (6, "a.b"),
        (7, "daé"),
        (8, long.as_str()),
        (10, "\u{fffd}\u{fffd}"),
    ]
    .into_iter()
    .map(|(l, v)| (l, v.to_owned()))
    .collect();
    assert_eq!(got, expected);
    assert_eq!(
        rows(dir.path(), "u.csv").len(),
        1,
        "a1 and a2 are one account"
    );
    assert_eq!(sim.stats().requests, 2);
}

#[test]
fn concurrency_is_bounded_and_used() {
    let mut config = synthetic(50, 0);
    config.latency_ms = 40;
    let sim = sim(config);
    let dir = tempdir();
    write(dir.path(), "ids.txt", &ids(300));
    export(&sim, dir.path())
        .args(["-i", "ids.txt", "-o", "u.csv", "-c", "7"])
        .assert()
        .code(0);
    let stats = sim.stats();
    assert_eq!(stats.requests, 300);
    assert_eq!(stats.max_in_flight, 7, "never more than -c, and -c reached");
}

#[test]
fn outputs_do_not_depend_on_concurrency() {
    let mut config = synthetic(40, 100);
    config.jitter_ms = 5;
    config.latency_ms = 5;
    let sim = sim(config);
    let dir = tempdir();
    write(dir.path(), "ids.txt", &ids(800));
    for c in ["1", "64"] {
        export(&sim, dir.path())
            .args([
                "-i",
                "ids.txt",
                "-o",
                &format!("u{c}.csv"),
                "--links",
                &format!("l{c}.csv"),
                "-c",
                c,
            ])
            .assert()
            .code(0);
    }
    for (a, b) in [
        ("u1.csv", "u64.csv"),
        ("l1.csv", "l64.csv"),
        ("u1.not-found.csv", "u64.not-found.csv"),
    ] {
        assert_eq!(read(dir.path(), a), read(dir.path(), b), "{a} vs {b}");
    }
    assert!(rows(dir.path(), "u1.csv").len() > 30);
    assert!(rows(dir.path(), "u1.not-found.csv").len() > 30);
}

#[test]
fn reads_ids_from_stdin() {
    let sim = sim(small_tenant());
    let dir = tempdir();
    export(&sim, dir.path())
        .args(["-i", "-", "-o", "users.csv"])
        .write_stdin("a1\na2\na3\nb1\nb2\n")
        .assert()
        .code(0)
        .stdout(predicate::str::is_empty());
    assert_eq!(rows(dir.path(), "users.csv").len(), 3);
    assert_eq!(
        read(dir.path(), "users.failures.csv"),
        "alert_id,kind,http_status,error_code,message,attempts,target\n"
    );
}

#[test]
fn clear_text_base_url_is_refused_before_any_request() {
    let dir = tempdir();
    write(dir.path(), "ids.txt", "a1\n");
    bin()
        .current_dir(dir.path())
        .env("DEFENDER_TOKEN", TOKEN)
        .args([
            "export",
            "-i",
            "ids.txt",
            "-o",
            "u.csv",
            "--base-url",
            "http://api.example.com",
        ])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("https").and(predicate::str::contains(TOKEN).not()));
    assert_eq!(listing(dir.path()), ["ids.txt"]);
}

#[test]
fn missing_input_is_one_line_naming_the_path_and_sends_nothing() {
    let sim = sim(small_tenant());
    let dir = tempdir();
    let out = export(&sim, dir.path())
        .args(["-i", "no-such-ids.txt", "-o", "u.csv"])
        .assert()
        .code(1);
    let stderr = stderr_of(&out);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("cannot read input file 'no-such-ids.txt'"),
        "{stderr}"
    );
    assert_eq!(sim.stats().requests, 0);
    assert!(listing(dir.path()).is_empty());
}

#[test]
fn usage_errors_exit_2() {
    let dir = tempdir();
    write(dir.path(), "ids.txt", "a1\n");
    let run = |args: &[&str]| {
        bin()
            .current_dir(dir.path())
            .env("DEFENDER_TOKEN", "t")
            .arg("export")
            .args(args)
            .assert()
            .code(2)
    };
    run(&["-i", "ids.txt", "-o", "users.xlsx"]).stderr(predicate::str::contains("users.xlsx"));
    run(&["-i", "ids.txt", "-o", "u.csv", "-c", "0"]);
    run(&["-i", "ids.txt", "-o", "u.csv", "--rate", "lots"])
        .stderr(predicate::str::contains("lots"));
    run(&["-i", "ids.txt"]);
}

#[test]
fn a_clean_run_exits_0_with_owner_only_files_and_no_leftovers() {
    let sim = sim(small_tenant());
    let dir = tempdir();
    write(dir.path(), "ids.txt", "a1\na3\n");
    fs::write(dir.path().join("users.csv"), "stale").unwrap();
    export(&sim, dir.path())
        .args(["-i", "ids.txt", "-o", "users.csv"])
        .assert()
        .code(0);
    assert_eq!(
        listing(dir.path()),
        [
            "ids.txt",
            "users.csv",
            "users.failures.csv",
            "users.not-found.csv"
        ]
    );
    assert_eq!(
        read(dir.path(), "users.not-found.csv"),
        "alert_id,reason,error_code,message\n"
    );
    #[cfg(unix)]
    for f in ["users.csv", "users.failures.csv", "users.not-found.csv"] {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(dir.path().join(f))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{f}");
    }
}

#[test]
fn demo_runs_from_any_folder_without_a_token() {
    let dir = tempdir();
    let out = bin()
        .current_dir(dir.path())
        .args(["export", "--demo", "--progress", "never"])
        .assert()
        .code(3);
    let stderr = stderr_of(&out);
    assert!(stderr.contains("done:"), "{stderr}");
    let users = rows(dir.path(), "alert-users-demo.csv");
    assert!(users.len() >= 40, "{} users", users.len());
    assert_eq!(
        rows(dir.path(), "alert-users-demo.failures.csv").len(),
        7,
        "the sample's seven invalid lines"
    );
    assert!(rows(dir.path(), "alert-users-demo.not-found.csv").len() >= 15);
}
