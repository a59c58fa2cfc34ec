//! Parquet outputs: typed columns (UTC microsecond timestamps, Int64, Boolean), zstd, bounded batches.
//!
//! Follows arrow-rs's own example: build `RecordBatch`es of at most `BATCH_ROWS` rows, write
//! each, and always `close` (here `into_inner`), because the footer is written only then.

use std::path::Path;
use std::sync::Arc;

use arrow_array::{
    ArrayRef, BooleanArray, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;

use crate::dedup::{Link, MergedUser};
use crate::error::{Error, Result};
use crate::sink::atomic::{self, Pending, Staged};
use crate::user::{Timestamp, USER_COLUMNS};

/// Rows per batch (and so per row group at most): bounds memory whatever the table's size.
const BATCH_ROWS: usize = 64 * 1024;

/// The user table's schema: `id` and `alertCount` required, everything else nullable.
pub fn user_schema() -> SchemaRef {
    let ts = DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
    let types = [
        DataType::Utf8,
        DataType::Utf8,
        DataType::Utf8,
        DataType::Utf8,
        ts.clone(),
        ts,
        DataType::Utf8,
        DataType::Utf8,
        DataType::Utf8,
        DataType::Int64,
        DataType::Boolean,
        DataType::Boolean,
        DataType::Int64,
    ];
    let fields: Vec<Field> = USER_COLUMNS
        .iter()
        .zip(types)
        .map(|(name, ty)| Field::new(*name, ty, !matches!(*name, "id" | "alertCount")))
        .collect();
    Arc::new(Schema::new(fields))
}

pub fn link_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("alert_id", DataType::Utf8, false),
        Field::new("user_id", DataType::Utf8, false),
    ]))
}

fn user_batch(schema: &SchemaRef, rows: &[MergedUser]) -> std::result::Result<RecordBatch, String> {
    let text = |f: fn(&MergedUser) -> Option<&str>| -> ArrayRef {
        Arc::new(rows.iter().map(f).collect::<StringArray>())
    };
    let time = |f: fn(&MergedUser) -> Option<Timestamp>| -> ArrayRef {
        let a: TimestampMicrosecondArray = rows.iter().map(|r| f(r).map(|t| t.0)).collect();
        Arc::new(a.with_timezone("UTC"))
    };
    let flag = |f: fn(&MergedUser) -> Option<bool>| -> ArrayRef {
        Arc::new(rows.iter().map(f).collect::<BooleanArray>())
    };
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| r.record.id.as_str()),
        )),
        text(|r| r.record.account_name.as_deref()),
        text(|r| r.record.account_domain.as_deref()),
        text(|r| r.record.account_sid.as_deref()),
        time(|r| r.record.first_seen),
        time(|r| r.record.last_seen),
        text(|r| r.record.most_prevalent_machine_id.as_deref()),
        text(|r| r.record.least_prevalent_machine_id.as_deref()),
        text(|r| r.record.logon_types.as_deref()),
        Arc::new(
            rows.iter()
                .map(|r| r.record.log_on_machines_count)
                .collect::<Int64Array>(),
        ),
        flag(|r| r.record.is_domain_admin),
        flag(|r| r.record.is_only_network_user),
        Arc::new(Int64Array::from_iter_values(
            rows.iter().map(|r| r.alert_count),
        )),
    ];
    RecordBatch::try_new(schema.clone(), columns).map_err(|e| e.to_string())
}

fn link_batch(schema: &SchemaRef, rows: &[Link]) -> std::result::Result<RecordBatch, String> {
    let alert = StringArray::from_iter_values(rows.iter().map(|l| l.alert_id.as_str()));
    let user = StringArray::from_iter_values(rows.iter().map(|l| &*l.user_id));
    RecordBatch::try_new(schema.clone(), vec![Arc::new(alert), Arc::new(user)])
        .map_err(|e| e.to_string())
}

/// Writes `rows` in batches of `BATCH_ROWS` through `batch`, then closes the file.
fn write_table<T>(
    path: &Path,
    schema: SchemaRef,
    rows: &[T],
    batch: fn(&SchemaRef, &[T]) -> std::result::Result<RecordBatch, String>,
) -> Result<Staged> {
    let fail = |reason: String| Error::Parquet {
        path: path.to_owned(),
        reason,
    };
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .set_created_by(concat!("alert-users ", env!("CARGO_PKG_VERSION")).into())
        .build();
    let file = Pending::create(path)?;
    // The Parquet writer buffers by itself; it gets the bare temporary file.
    let temp = file.into_file();
    let mut writer =
        ArrowWriter::try_new(temp, schema.clone(), Some(props)).map_err(|e| fail(e.to_string()))?;
    for chunk in rows.chunks(BATCH_ROWS) {
        let b = batch(&schema, chunk).map_err(fail)?;
        writer.write(&b).map_err(|e| fail(e.to_string()))?;
    }
    let temp = writer.into_inner().map_err(|e| fail(e.to_string()))?;
    atomic::stage(temp, path.to_owned())
}

pub fn write_users(path: &Path, users: &[MergedUser]) -> Result<Staged> {
    write_table(path, user_schema(), users, user_batch)
}

pub fn write_links(path: &Path, links: &[Link]) -> Result<Staged> {
    write_table(path, link_schema(), links, link_batch)
}
