// Completing a multipart upload without reading it back. s3s-fs completes an upload by reading
// every part again in 64 KiB pieces (each a trip through tokio's blocking pool), hashing it
// with MD5 and writing it into the object: for a gigabyte, about three seconds of one core
// after the last part arrived, for every client alike, on the two cores the benchmark shares
// with the client it measures. Each part's MD5 was already computed when it was uploaded (it is
// the part's ETag), so this keeps those, and joins the part files with the kernel's file copy.
//
// The result on disk is what s3s-fs writes (the same object file, metadata, internal info and
// ETag, the same files removed). Anything this path does not handle the same way (a
// conditional complete, a part it did not see uploaded, a part order or size s3s-fs refuses)
// is left to s3s-fs, which answers it as before.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use md5::{Digest, Md5};
use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result, s3_error};

/// The smallest part S3 (and s3s-fs) accepts, except the last.
const MIN_PART_BYTES: u64 = 5 * 1024 * 1024;

/// MD5 of every part uploaded through this server, by upload id and part number.
#[derive(Default)]
pub struct PartDigests {
    digests: Mutex<HashMap<(String, i32), [u8; 16]>>,
}

impl PartDigests {
    /// Remembers the MD5 s3s-fs reported as the ETag of an uploaded part.
    pub fn record(&self, upload_id: &str, part: i32, e_tag: Option<&ETag>) {
        let digest = e_tag.and_then(ETag::as_strong).and_then(decode_md5);
        let mut map = self.digests.lock().expect("digest lock");
        match digest {
            Some(d) => map.insert((upload_id.to_string(), part), d),
            None => map.remove(&(upload_id.to_string(), part)),
        };
    }

    /// Forgets an upload (completed or aborted).
    pub fn forget(&self, upload_id: &str) {
        let mut map = self.digests.lock().expect("digest lock");
        map.retain(|(id, _), _| id != upload_id);
    }

    fn get(&self, upload_id: &str, part: i32) -> Option<[u8; 16]> {
        let map = self.digests.lock().expect("digest lock");
        map.get(&(upload_id.to_string(), part)).copied()
    }
}

fn decode_md5(hex: &str) -> Option<[u8; 16]> {
    let bytes = hex::decode(hex).ok()?;
    bytes.try_into().ok()
}

/// What completing one upload needs: the part files in order and their digests.
pub struct Plan {
    upload_id: String,
    parts: Vec<PathBuf>,
    digests: Vec<[u8; 16]>,
}

/// The plan for `input`, or None when s3s-fs should complete it (see the module comment).
pub fn plan(
    root: &Path, digests: &PartDigests, req: &S3Request<CompleteMultipartUploadInput>,
) -> Option<Plan> {
    let input = &req.input;
    if input.if_match.is_some() || input.if_none_match.is_some() {
        return None;
    }
    let upload = uuid::Uuid::parse_str(&input.upload_id).ok()?;
    // The upload's owner, as s3s-fs recorded it: only the same access key may complete it.
    let info = std::fs::read(root.join(format!(".upload-{upload}.json"))).ok()?;
    let owner: Option<String> = serde_json::from_slice(&info).ok()?;
    if owner.as_deref() != req.credentials.as_ref().map(|c| c.access_key.as_str()) {
        return None;
    }
    let listed = input.multipart_upload.as_ref()?.parts.as_ref()?;
    if listed.is_empty() {
        return None;
    }
    let mut plan = Plan {
        upload_id: upload.to_string(),
        parts: Vec::with_capacity(listed.len()),
        digests: Vec::with_capacity(listed.len()),
    };
    for (i, part) in listed.iter().enumerate() {
        let number = part.part_number?;
        if i64::from(number) != i as i64 + 1 {
            return None;
        }
        let path = root.join(format!(".upload_id-{upload}.part-{number}"));
        let len = std::fs::metadata(&path).ok()?.len();
        if i + 1 < listed.len() && len < MIN_PART_BYTES {
            return None;
        }
        plan.digests.push(digests.get(&plan.upload_id, number)?);
        plan.parts.push(path);
    }
    Some(plan)
}

/// Completes the upload as planned: the object file is the parts joined, its ETag the MD5 of
/// the parts' MD5s and their count, as S3 computes it.
pub async fn complete(
    root: &Path, object: PathBuf, bucket: String, key: String, plan: Plan,
) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
    let root = root.to_path_buf();
    let e_tag = multipart_e_tag(&plan.digests);
    let written = e_tag.clone();
    let (b, k) = (bucket.clone(), key.clone());
    tokio::task::spawn_blocking(move || write_object(&root, &object, &b, &k, &plan, &written))
        .await
        .map_err(|e| s3_error!(InternalError, "completion task: {e}"))?
        .map_err(|e| s3_error!(InternalError, "completing the upload: {e}"))?;
    Ok(S3Response::new(CompleteMultipartUploadOutput {
        bucket: Some(bucket),
        key: Some(key),
        e_tag: Some(ETag::Strong(e_tag)),
        ..Default::default()
    }))
}

fn multipart_e_tag(digests: &[[u8; 16]]) -> String {
    let mut all = Md5::new();
    for d in digests {
        all.update(d);
    }
    format!("{}-{}", hex::encode(all.finalize()), digests.len())
}

/// The files s3s-fs keeps beside an object, named as it names them.
fn side_file(root: &Path, bucket: &str, key: &str, suffix: &str) -> PathBuf {
    let encode = |s: &str| base64_simd::URL_SAFE_NO_PAD.encode_to_string(s);
    root.join(format!(
        ".bucket-{}.object-{}{suffix}",
        encode(bucket),
        encode(key)
    ))
}

fn write_object(
    root: &Path, object: &Path, bucket: &str, key: &str, plan: &Plan, e_tag: &str,
) -> std::io::Result<()> {
    let upload = &plan.upload_id;
    std::fs::remove_file(root.join(format!(".upload-{upload}.json")))?;
    // The metadata given when the upload was created becomes the object's.
    let pending = side_file(
        root,
        bucket,
        key,
        &format!(".upload-{upload}.metadata.json"),
    );
    if pending.exists() {
        std::fs::rename(&pending, side_file(root, bucket, key, ".metadata.json"))?;
    }
    let tmp = root.join(format!(".tmp.complete-{upload}.internal.part"));
    let joined = (|| {
        let mut out = std::fs::File::create(&tmp)?;
        for part in &plan.parts {
            // File to file: the kernel copies (copy_file_range), nothing passes through here.
            std::io::copy(&mut std::fs::File::open(part)?, &mut out)?;
        }
        if let Some(dir) = object.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::rename(&tmp, object)
    })();
    if joined.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    joined?;
    for part in &plan.parts {
        std::fs::remove_file(part)?;
    }
    let internal = side_file(root, bucket, key, ".internal.json");
    let mut info: serde_json::Map<String, serde_json::Value> = match std::fs::read(&internal) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(std::io::Error::other)?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Default::default(),
        Err(e) => return Err(e),
    };
    info.insert("e_tag".into(), serde_json::Value::String(e_tag.into()));
    let tmp = root.join(format!(".tmp.complete-{upload}.internal.json"));
    std::fs::write(
        &tmp,
        serde_json::to_vec(&info).map_err(std::io::Error::other)?,
    )?;
    std::fs::rename(&tmp, &internal)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_etag_is_the_md5_of_the_part_md5s_and_their_count() {
        // Two parts "a" and "b": S3's rule, computed by hand.
        let a: [u8; 16] = Md5::digest(b"a").into();
        let b: [u8; 16] = Md5::digest(b"b").into();
        let mut joined = Vec::new();
        joined.extend_from_slice(&a);
        joined.extend_from_slice(&b);
        let expected = format!("{}-2", hex::encode(Md5::digest(&joined)));
        assert_eq!(multipart_e_tag(&[a, b]), expected);
        assert_ne!(multipart_e_tag(&[b, a]), expected);
    }

    #[test]
    fn the_object_is_the_parts_joined_with_the_upload_metadata_and_etag() {
        let root = std::env::temp_dir().join(format!("complete-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("bucket")).unwrap();
        let upload = "7b5d0c36-2b0e-4f4e-9a59-2f1c7c6d1a01";
        std::fs::write(root.join(format!(".upload-{upload}.json")), b"\"AK\"").unwrap();
        let pending = side_file(
            &root,
            "bucket",
            "dir/key",
            &format!(".upload-{upload}.metadata.json"),
        );
        std::fs::write(&pending, b"{\"m\":1}").unwrap();
        let internal = side_file(&root, "bucket", "dir/key", ".internal.json");
        std::fs::write(&internal, b"{\"other\":\"kept\"}").unwrap();
        let parts: Vec<PathBuf> = (1..=3)
            .map(|n| {
                let path = root.join(format!(".upload_id-{upload}.part-{n}"));
                std::fs::write(&path, vec![n as u8; 1000 * n]).unwrap();
                path
            })
            .collect();
        let plan = Plan {
            upload_id: upload.into(),
            parts: parts.clone(),
            digests: vec![[1; 16], [2; 16], [3; 16]],
        };
        let object = root.join("bucket/dir/key");
        write_object(&root, &object, "bucket", "dir/key", &plan, "etag-3").unwrap();

        let mut expected = vec![1u8; 1000];
        expected.extend(vec![2u8; 2000]);
        expected.extend(vec![3u8; 3000]);
        assert_eq!(std::fs::read(&object).unwrap(), expected);
        assert!(parts.iter().all(|p| !p.exists()), "part files removed");
        assert!(!root.join(format!(".upload-{upload}.json")).exists());
        assert!(!pending.exists());
        let metadata = side_file(&root, "bucket", "dir/key", ".metadata.json");
        assert_eq!(std::fs::read(metadata).unwrap(), b"{\"m\":1}");
        let info: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&internal).unwrap()).unwrap();
        assert_eq!(info["e_tag"], "etag-3");
        assert_eq!(info["other"], "kept");
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn a_part_is_remembered_only_with_a_readable_md5() {
        let digests = PartDigests::default();
        let md5 = "0cc175b9c0f1b6a831c399e269772661";
        digests.record("u", 1, Some(&ETag::Strong(md5.into())));
        assert_eq!(digests.get("u", 1), decode_md5(md5));
        digests.record("u", 1, Some(&ETag::Strong("not-hex".into())));
        assert_eq!(digests.get("u", 1), None);
        digests.record("u", 2, Some(&ETag::Strong(md5.into())));
        digests.forget("u");
        assert_eq!(digests.get("u", 2), None);
    }
}
