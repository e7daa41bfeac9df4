//! Manifest formats, read as streams (a record at a time, never the whole file):
//! - **S3 Batch Operations CSV**: `BUCKET,KEY[,VERSION_ID]` per line, the key URL-encoded;
//! - **S3 Inventory CSV** data files (`.csv` or `.csv.gz`): quoted `Bucket,Key,...` rows with
//!   URL-encoded keys; with the Inventory's `manifest.json` the columns come from its
//!   `fileSchema`, so `VersionId`, `IsLatest` and `IsDeleteMarker` are found by name; a data
//!   file alone is read with `VersionId,IsLatest,IsDeleteMarker` in columns 3 to 5 when
//!   columns 4 and 5 hold `true`/`false` (an Inventory that includes versions). Rows of
//!   delete markers and of non-current versions are skipped: only current objects are
//!   processed;
//! - **a list of objects**: one per line, `s3://BUCKET/KEY` or a bare key (verbatim, not
//!   encoded) in the bucket given with the command.
//!
//! Which format a manifest is follows from its name: `*.json` an Inventory manifest,
//! `*.csv` / `*.csv.gz` / `*.gz` CSV, anything else a list of objects.

use std::io::{BufRead, Read};

use percent_encoding::percent_decode_str;
use serde::Deserialize;
use tokio::sync::mpsc;

use super::ObjectRef;
use crate::error::{Error, Result};
use crate::location::ObjectLocation;

/// What kind of manifest a name stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ManifestKind {
    /// An S3 Inventory `manifest.json`, naming its CSV data files.
    InventoryJson,
    /// Batch Operations or Inventory CSV (gzipped when `gzip`).
    Csv { gzip: bool },
    /// One object per line.
    Keys,
}

impl ManifestKind {
    pub fn of(name: &str) -> ManifestKind {
        let lower = name.to_ascii_lowercase();
        if lower.ends_with(".json") {
            ManifestKind::InventoryJson
        } else if lower.ends_with(".gz") {
            ManifestKind::Csv { gzip: true }
        } else if lower.ends_with(".csv") {
            ManifestKind::Csv { gzip: false }
        } else {
            ManifestKind::Keys
        }
    }
}

/// Where the columns of a CSV manifest are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Columns {
    pub bucket: usize,
    pub key: usize,
    pub version_id: Option<usize>,
    pub is_latest: Option<usize>,
    pub is_delete_marker: Option<usize>,
    /// No schema was given: find the version columns row by row (module comment).
    pub guess: bool,
}

impl Default for Columns {
    fn default() -> Self {
        Columns {
            bucket: 0,
            key: 1,
            version_id: None,
            is_latest: None,
            is_delete_marker: None,
            guess: true,
        }
    }
}

impl Columns {
    /// From an Inventory `fileSchema`, e.g. `Bucket, Key, VersionId, IsLatest, Size`.
    pub fn from_schema(schema: &str) -> Result<Columns> {
        let names: Vec<&str> = schema.split(',').map(str::trim).collect();
        let find = |name: &str| names.iter().position(|n| n.eq_ignore_ascii_case(name));
        let (Some(bucket), Some(key)) = (find("Bucket"), find("Key")) else {
            return Err(Error::usage(format!(
                "the Inventory fileSchema {schema:?} has no Bucket and Key columns"
            )));
        };
        Ok(Columns {
            bucket,
            key,
            version_id: find("VersionId"),
            is_latest: find("IsLatest"),
            is_delete_marker: find("IsDeleteMarker"),
            guess: false,
        })
    }
}

/// The parts of an S3 Inventory `manifest.json` that name the data files.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct InventoryManifestJson {
    destination_bucket: String,
    file_format: String,
    file_schema: String,
    files: Vec<InventoryFile>,
}

#[derive(Debug, Clone, Deserialize)]
struct InventoryFile {
    key: String,
}

/// An S3 Inventory manifest: its data files and their columns.
#[derive(Debug, Clone)]
pub struct InventoryManifest {
    pub files: Vec<ObjectLocation>,
    pub columns: Columns,
}

impl InventoryManifest {
    pub fn parse(bytes: &[u8], name: &str) -> Result<InventoryManifest> {
        let json: InventoryManifestJson = serde_json::from_slice(bytes).map_err(|e| {
            Error::usage_hint(
                format!("{name} is not an S3 Inventory manifest.json: {e}"),
                "name a list of objects *.txt, a CSV manifest *.csv or *.csv.gz",
            )
        })?;
        if !json.file_format.eq_ignore_ascii_case("CSV") {
            return Err(Error::usage_hint(
                format!(
                    "the Inventory {name} is in {} format; s3seal reads CSV inventories",
                    json.file_format
                ),
                "configure the inventory with the CSV output format",
            ));
        }
        let bucket = json
            .destination_bucket
            .rsplit(":::")
            .next()
            .unwrap_or(&json.destination_bucket)
            .to_string();
        Ok(InventoryManifest {
            files: json
                .files
                .into_iter()
                .map(|f| ObjectLocation {
                    bucket: bucket.clone(),
                    key: f.key,
                })
                .collect(),
            columns: Columns::from_schema(&json.file_schema)?,
        })
    }
}

/// A key as manifests write it: URL-encoded, `+` for a space.
pub fn decode_key(encoded: &str) -> Result<String> {
    let spaced = encoded.replace('+', " ");
    percent_decode_str(&spaced)
        .decode_utf8()
        .map(|k| k.into_owned())
        .map_err(|_| Error::usage(format!("{encoded:?} does not decode to a UTF-8 key")))
}

fn is_bool(s: &str) -> bool {
    s.eq_ignore_ascii_case("true") || s.eq_ignore_ascii_case("false")
}

/// The object a CSV record names; `None` for a row to skip (delete marker, old version).
pub fn csv_record(record: &csv::StringRecord, columns: &Columns) -> Result<Option<ObjectRef>> {
    let field = |i: Option<usize>| i.and_then(|i| record.get(i)).filter(|s| !s.is_empty());
    let line = record.position().map_or(0, |p| p.line());
    let (Some(bucket), Some(key)) = (field(Some(columns.bucket)), field(Some(columns.key))) else {
        return Err(Error::usage_hint(
            format!("manifest line {line}: no bucket and key"),
            "CSV manifests have BUCKET,KEY[,VERSION_ID] per line",
        ));
    };
    let mut columns = columns.clone();
    if columns.guess {
        if record.len() >= 5 && is_bool(&record[3]) && is_bool(&record[4]) {
            (
                columns.version_id,
                columns.is_latest,
                columns.is_delete_marker,
            ) = (Some(2), Some(3), Some(4));
        } else if record.len() == 3 {
            columns.version_id = Some(2);
        }
    }
    let flag = |i| field(i).is_some_and(|s| s.eq_ignore_ascii_case("true"));
    if flag(columns.is_delete_marker)
        || field(columns.is_latest).is_some_and(|s| s.eq_ignore_ascii_case("false"))
    {
        return Ok(None);
    }
    Ok(Some(ObjectRef {
        location: ObjectLocation {
            bucket: bucket.to_string(),
            key: decode_key(key).map_err(|e| with_line(e, line))?,
        },
        version_id: field(columns.version_id).map(str::to_string),
    }))
}

fn with_line(e: Error, line: u64) -> Error {
    Error::usage(format!("manifest line {line}: {e}"))
}

/// Receives what a manifest reader finds; `false` once nobody listens any more.
pub type Found = mpsc::Sender<Result<ObjectRef>>;

fn send(tx: &Found, item: Result<ObjectRef>) -> bool {
    tx.blocking_send(item).is_ok()
}

/// Reads CSV records from `reader` (blocking) into `tx`. Returns `false` when the receiver
/// went away or an error was sent.
pub fn read_csv(reader: impl Read, gzip: bool, columns: &Columns, tx: &Found) -> bool {
    let reader: Box<dyn Read> = if gzip {
        Box::new(flate2::read::MultiGzDecoder::new(reader))
    } else {
        Box::new(reader)
    };
    let mut csv = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(reader);
    for record in csv.records() {
        let item = match record {
            Ok(record) => match csv_record(&record, columns) {
                Ok(Some(object)) => Ok(object),
                Ok(None) => continue,
                Err(e) => Err(e),
            },
            Err(e) => Err(Error::usage(format!(
                "the CSV manifest cannot be read: {e}"
            ))),
        };
        let failed = item.is_err();
        if !send(tx, item) || failed {
            return false;
        }
    }
    true
}

/// Reads a list of objects (one `s3://BUCKET/KEY` or bare key per line) into `tx`.
pub fn read_keys(reader: impl Read, default_bucket: Option<&str>, what: &str, tx: &Found) -> bool {
    let reader = std::io::BufReader::new(reader);
    for (n, line) in reader.lines().enumerate() {
        let item = match line {
            Err(e) => Err(Error::io(what.to_string(), e)),
            Ok(line) => {
                let line = line.strip_suffix('\r').unwrap_or(&line);
                if line.is_empty() {
                    continue;
                }
                key_line(line, default_bucket).map_err(|e| with_line(e, n as u64 + 1))
            }
        };
        let failed = item.is_err();
        if !send(tx, item) || failed {
            return false;
        }
    }
    true
}

/// One line of a list of objects.
pub fn key_line(line: &str, default_bucket: Option<&str>) -> Result<ObjectRef> {
    if line.starts_with("s3://") {
        let location = ObjectLocation::parse(line)?;
        return Ok(ObjectRef {
            location,
            version_id: None,
        });
    }
    let Some(bucket) = default_bucket else {
        return Err(Error::usage_hint(
            format!("{line:?} names no bucket"),
            "write s3://BUCKET/KEY per line, or give the bucket: s3seal CMD s3://BUCKET --manifest FILE",
        ));
    };
    Ok(ObjectRef::new(bucket, line))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(run: impl FnOnce(&Found) -> bool) -> Vec<Result<ObjectRef>> {
        let (tx, mut rx) = mpsc::channel(100);
        run(&tx);
        drop(tx);
        let mut out = Vec::new();
        while let Ok(item) = rx.try_recv() {
            out.push(item);
        }
        out
    }

    fn ok(items: Vec<Result<ObjectRef>>) -> Vec<ObjectRef> {
        items.into_iter().map(|r| r.unwrap()).collect()
    }

    fn versioned(bucket: &str, key: &str, version: &str) -> ObjectRef {
        ObjectRef {
            version_id: Some(version.into()),
            ..ObjectRef::new(bucket, key)
        }
    }

    #[test]
    fn kinds_follow_the_name() {
        assert_eq!(
            ManifestKind::of("m/manifest.json"),
            ManifestKind::InventoryJson
        );
        assert_eq!(ManifestKind::of("a.CSV"), ManifestKind::Csv { gzip: false });
        assert_eq!(
            ManifestKind::of("x.csv.gz"),
            ManifestKind::Csv { gzip: true }
        );
        assert_eq!(ManifestKind::of("keys.txt"), ManifestKind::Keys);
    }

    #[test]
    fn batch_operations_csv_with_encoded_keys_and_versions() {
        let text = "b1,dir/a%20b%2Bc.txt,v1\nb1,plain+space,\nb2,%C3%BC%2C.bin\n";
        let got = ok(collect(|tx| {
            read_csv(text.as_bytes(), false, &Columns::default(), tx)
        }));
        assert_eq!(
            got,
            vec![
                versioned("b1", "dir/a b+c.txt", "v1"),
                ObjectRef::new("b1", "plain space"),
                ObjectRef::new("b2", "ü,.bin"),
            ]
        );
    }

    #[test]
    fn inventory_csv_gzipped_skips_old_versions_and_delete_markers() {
        let text = "\"b\",\"k%2F1\",\"v3\",\"true\",\"false\",\"12\"\n\
                    \"b\",\"k%2F1\",\"v2\",\"false\",\"false\",\"10\"\n\
                    \"b\",\"gone\",\"v9\",\"true\",\"true\",\"\"\n\
                    \"b\",\"x,y\",\"v1\",\"true\",\"false\",\"1\"\n";
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, text.as_bytes()).unwrap();
        let gz = gz.finish().unwrap();
        let got = ok(collect(|tx| {
            read_csv(&gz[..], true, &Columns::default(), tx)
        }));
        assert_eq!(
            got,
            vec![versioned("b", "k/1", "v3"), versioned("b", "x,y", "v1")]
        );
    }

    #[test]
    fn inventory_manifest_json_names_files_and_columns() {
        let json = br#"{"sourceBucket":"src","destinationBucket":"arn:aws:s3:::inv",
            "version":"2016-11-30","fileFormat":"CSV",
            "fileSchema":"Bucket, Key, Size, VersionId, IsLatest, IsDeleteMarker",
            "files":[{"key":"src/cfg/data/1.csv.gz","size":10,"MD5checksum":"x"}]}"#;
        let m = InventoryManifest::parse(json, "manifest.json").unwrap();
        assert_eq!(
            m.files,
            vec![ObjectLocation::parse("s3://inv/src/cfg/data/1.csv.gz").unwrap()]
        );
        assert_eq!((m.columns.key, m.columns.version_id), (1, Some(3)));
        let text = "\"src\",\"a\",\"5\",\"v1\",\"true\",\"false\"\n\"src\",\"b\",\"5\",\"v0\",\"false\",\"false\"\n";
        let got = ok(collect(|tx| {
            read_csv(text.as_bytes(), false, &m.columns, tx)
        }));
        assert_eq!(got, vec![versioned("src", "a", "v1")]);
        let orc = br#"{"destinationBucket":"arn:aws:s3:::inv","fileFormat":"ORC","fileSchema":"x","files":[]}"#;
        assert!(InventoryManifest::parse(orc, "m.json").is_err());
    }

    #[test]
    fn lists_of_objects() {
        let text = "s3://b/one\r\n\nkey with spaces\n";
        let got = ok(collect(|tx| {
            read_keys(text.as_bytes(), Some("dflt"), "list", tx)
        }));
        assert_eq!(
            got,
            vec![
                ObjectRef::new("b", "one"),
                ObjectRef::new("dflt", "key with spaces")
            ]
        );
        let errs = collect(|tx| read_keys("bare\nmore\n".as_bytes(), None, "list", tx));
        assert_eq!(errs.len(), 1, "stops at the first bad line");
        assert!(errs[0].as_ref().unwrap_err().to_string().contains("line 1"));
    }

    #[test]
    fn bad_csv_lines_are_usage_errors_with_their_line() {
        let errs = collect(|tx| read_csv("b,k\nonly\n".as_bytes(), false, &Columns::default(), tx));
        assert_eq!(errs.len(), 2);
        let e = errs[1].as_ref().unwrap_err();
        assert!(e.to_string().contains("line 2"), "{e}");
    }
}
