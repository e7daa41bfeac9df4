//! The digest of the upload settings that define an object (`x-amz-meta-s3seal-settings`), so a
//! re-run of `put --recursive` skips only objects a previous run stored *the same way*: a re-run
//! with another envelope key, context, chunk size, storage class, tag or Object Lock option
//! uploads again instead of silently keeping the old object. It is a plain SHA-256 of those
//! settings (no file content), cut to 16 hex digits; everything in it is already visible in the
//! object's headers, tags or envelope header.

use std::collections::HashMap;

use sha2::{Digest, Sha256};

use crate::store::LockMode;
use crate::transfer::upload::UploadRequest;

/// `x-amz-meta-s3seal-settings`: [`digest`] of the upload settings.
pub const SETTINGS_META: &str = "s3seal-settings";

/// The digest of what defines an object uploaded with `request` (not its key, part size or
/// concurrency, which do not change what is stored).
pub fn digest(request: &UploadRequest) -> String {
    let s = &request.settings;
    let mut hasher = Sha256::new();
    let mut field = |name: &str, value: &str| {
        // Length-prefixed, so no two different settings give the same bytes.
        for part in [name, value] {
            hasher.update((part.len() as u64).to_be_bytes());
            hasher.update(part.as_bytes());
        }
    };
    field("kms", &request.kms_key_id);
    field("sse", request.sse_kms_key_id.as_deref().unwrap_or(""));
    for (k, v) in &request.context {
        field("context", k);
        field("context-value", v);
    }
    field("chunk", &request.chunk_size.log2().to_string());
    field("class", s.storage_class.as_deref().unwrap_or(""));
    for (k, v) in &s.tags {
        field("tag", k);
        field("tag-value", v);
    }
    if let Some(r) = &s.retention {
        let mode = match r.mode {
            LockMode::Governance => "GOVERNANCE",
            LockMode::Compliance => "COMPLIANCE",
        };
        field("lock", mode);
        field("lock-until", &r.retain_until);
    }
    field("hold", if s.legal_hold { "on" } else { "off" });
    hex::encode(&hasher.finalize()[..8])
}

/// The digest an object's user metadata carries, if any.
pub fn stored(metadata: &HashMap<String, String>) -> Option<&str> {
    metadata
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(SETTINGS_META))
        .map(|(_, v)| v.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::ChunkSize;
    use crate::location::ObjectLocation;
    use crate::store::ObjectSettings;

    fn request() -> UploadRequest {
        UploadRequest {
            dest: ObjectLocation {
                bucket: "b".into(),
                key: "k".into(),
            },
            kms_key_id: "alias/a".into(),
            sse_kms_key_id: None,
            context: vec![],
            chunk_size: ChunkSize::DEFAULT,
            part_size: 8 << 20,
            concurrency: 4,
            if_match: None,
            stream_put_max: 0,
            settings: ObjectSettings::default(),
        }
    }

    #[test]
    fn every_defining_setting_changes_the_digest() {
        let base = digest(&request());
        assert_eq!(base.len(), 16);
        let mut other = request();
        other.part_size = 16 << 20;
        other.concurrency = 9;
        other.dest.key = "elsewhere".into();
        assert_eq!(
            digest(&other),
            base,
            "key, part size and concurrency do not count"
        );
        let changes: [fn(&mut UploadRequest); 7] = [
            |r| r.kms_key_id = "alias/b".into(),
            |r| r.sse_kms_key_id = Some("alias/s".into()),
            |r| r.context = vec![("a".into(), "b".into())],
            |r| r.chunk_size = ChunkSize::from_log2(16).unwrap(),
            |r| r.settings.storage_class = Some("STANDARD_IA".into()),
            |r| r.settings.tags = vec![("t".into(), "1".into())],
            |r| r.settings.legal_hold = true,
        ];
        for change in changes {
            let mut r = request();
            change(&mut r);
            assert_ne!(digest(&r), base);
        }
    }
}
