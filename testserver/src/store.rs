// The S3 service the server runs: s3s-fs, with its file I/O in 1 MiB pieces. s3s-fs streams a
// GetObject body in 4 KiB reads and writes a PutObject or UploadPart body as it arrives (16 KiB
// pieces), each piece a trip through tokio's blocking pool; for a gigabyte that cost the server
// more CPU than any client it served, and in the benchmark the server shares the machine's two
// cores with the client it measures. So GetObject's body is read again in large pieces, and
// request bodies are gathered into large pieces before s3s-fs writes them. Everything else
// (every header, range, checksum, ETag and error) is s3s-fs's own: each operation s3s-fs
// implements is passed to it, except that a multipart upload is completed without reading its
// parts back (complete.rs).

use std::path::{Path, PathBuf};

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use futures_core::Stream;
use path_absolutize::Absolutize;
use s3s::dto::*;
use s3s::{S3, S3Request, S3Response, S3Result, s3_error};
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use crate::complete::{self, PartDigests};

/// How much one read or write of an object's bytes takes.
const PIECE: usize = 1 << 20;

pub struct Store {
    fs: s3s_fs::FileSystem,
    /// The data directory, canonical (as s3s-fs resolves it).
    root: PathBuf,
    /// Each uploaded part's MD5, for completing its upload.
    digests: PartDigests,
}

impl Store {
    pub fn new(root: &Path) -> Result<Store, String> {
        let fs = s3s_fs::FileSystem::new(root)
            .map_err(|e| format!("opening data dir {}: {e:?}", root.display()))?;
        let root = std::env::current_dir()
            .and_then(|d| d.join(root).canonicalize())
            .map_err(|e| format!("opening data dir {}: {e}", root.display()))?;
        Ok(Store {
            fs,
            root,
            digests: PartDigests::default(),
        })
    }

    /// The object's file, resolved inside the root the way s3s-fs resolves it.
    fn object_path(&self, bucket: &str, key: &str) -> S3Result<PathBuf> {
        Path::new(bucket)
            .join(key)
            .absolutize_virtually(&self.root)
            .map(|p| p.into_owned())
            .map_err(|_| s3_error!(InvalidArgument, "invalid key"))
    }
}

/// Each operation s3s-fs implements, passed to it.
#[async_trait::async_trait]
impl S3 for Store {
    async fn create_bucket(
        &self, req: S3Request<CreateBucketInput>,
    ) -> S3Result<S3Response<CreateBucketOutput>> {
        self.fs.create_bucket(req).await
    }

    async fn copy_object(
        &self, req: S3Request<CopyObjectInput>,
    ) -> S3Result<S3Response<CopyObjectOutput>> {
        self.fs.copy_object(req).await
    }

    async fn delete_bucket(
        &self, req: S3Request<DeleteBucketInput>,
    ) -> S3Result<S3Response<DeleteBucketOutput>> {
        self.fs.delete_bucket(req).await
    }

    async fn delete_object(
        &self, req: S3Request<DeleteObjectInput>,
    ) -> S3Result<S3Response<DeleteObjectOutput>> {
        self.fs.delete_object(req).await
    }

    async fn delete_objects(
        &self, req: S3Request<DeleteObjectsInput>,
    ) -> S3Result<S3Response<DeleteObjectsOutput>> {
        self.fs.delete_objects(req).await
    }

    async fn get_bucket_location(
        &self, req: S3Request<GetBucketLocationInput>,
    ) -> S3Result<S3Response<GetBucketLocationOutput>> {
        self.fs.get_bucket_location(req).await
    }

    async fn head_bucket(
        &self, req: S3Request<HeadBucketInput>,
    ) -> S3Result<S3Response<HeadBucketOutput>> {
        self.fs.head_bucket(req).await
    }

    async fn head_object(
        &self, req: S3Request<HeadObjectInput>,
    ) -> S3Result<S3Response<HeadObjectOutput>> {
        self.fs.head_object(req).await
    }

    async fn list_buckets(
        &self, req: S3Request<ListBucketsInput>,
    ) -> S3Result<S3Response<ListBucketsOutput>> {
        self.fs.list_buckets(req).await
    }

    async fn list_objects(
        &self, req: S3Request<ListObjectsInput>,
    ) -> S3Result<S3Response<ListObjectsOutput>> {
        self.fs.list_objects(req).await
    }

    async fn list_objects_v2(
        &self, req: S3Request<ListObjectsV2Input>,
    ) -> S3Result<S3Response<ListObjectsV2Output>> {
        // s3s-fs answers `EncodingType=url` without encoding the keys; S3 form-encodes them
        // (a space as `+`, a `+` as %2B), and clients decode them that way.
        let mut response = self.fs.list_objects_v2(req).await?;
        let url =
            response.output.encoding_type.as_ref().map(|e| e.as_str()) == Some(EncodingType::URL);
        if url {
            for object in response.output.contents.iter_mut().flatten() {
                object.key = object.key.as_deref().map(url_encode_key);
            }
        }
        Ok(response)
    }

    async fn put_object(
        &self, mut req: S3Request<PutObjectInput>,
    ) -> S3Result<S3Response<PutObjectOutput>> {
        req.input.body = req.input.body.map(Coalesce::blob);
        self.fs.put_object(req).await
    }

    async fn create_multipart_upload(
        &self, req: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        self.fs.create_multipart_upload(req).await
    }

    async fn upload_part(
        &self, mut req: S3Request<UploadPartInput>,
    ) -> S3Result<S3Response<UploadPartOutput>> {
        req.input.body = req.input.body.map(Coalesce::blob);
        let (upload_id, part) = (req.input.upload_id.clone(), req.input.part_number);
        let answer = self.fs.upload_part(req).await?;
        self.digests
            .record(&upload_id, part, answer.output.e_tag.as_ref());
        Ok(answer)
    }

    async fn upload_part_copy(
        &self, req: S3Request<UploadPartCopyInput>,
    ) -> S3Result<S3Response<UploadPartCopyOutput>> {
        self.fs.upload_part_copy(req).await
    }

    async fn list_parts(
        &self, req: S3Request<ListPartsInput>,
    ) -> S3Result<S3Response<ListPartsOutput>> {
        self.fs.list_parts(req).await
    }

    async fn complete_multipart_upload(
        &self, req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        let upload_id = req.input.upload_id.clone();
        let answer = match complete::plan(&self.root, &self.digests, &req) {
            Some(plan) => {
                let (bucket, key) = (req.input.bucket.clone(), req.input.key.clone());
                let object = self.object_path(&bucket, &key)?;
                complete::complete(&self.root, object, bucket, key, plan).await
            }
            None => self.fs.complete_multipart_upload(req).await,
        };
        if answer.is_ok() {
            self.digests.forget(&upload_id);
        }
        answer
    }

    async fn abort_multipart_upload(
        &self, req: S3Request<AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
        let upload_id = req.input.upload_id.clone();
        let answer = self.fs.abort_multipart_upload(req).await?;
        self.digests.forget(&upload_id);
        Ok(answer)
    }

    /// s3s-fs answers (it checks the key, the range and the preconditions and gives every
    /// header); only its body is replaced by the same bytes read in larger pieces.
    async fn get_object(
        &self, req: S3Request<GetObjectInput>,
    ) -> S3Result<S3Response<GetObjectOutput>> {
        let path = self.object_path(&req.input.bucket, &req.input.key)?;
        let mut answer = self.fs.get_object(req).await?;
        let output = &mut answer.output;
        let len = u64::try_from(output.content_length.unwrap_or(0))
            .map_err(|_| s3_error!(InternalError, "negative length"))?;
        let start = match output.content_range.as_deref() {
            Some(range) => first_byte(range)
                .ok_or_else(|| s3_error!(InternalError, "unreadable Content-Range"))?,
            None => 0,
        };
        let mut file = tokio::fs::File::open(&path)
            .await
            .map_err(|_| s3_error!(NoSuchKey))?;
        file.seek(std::io::SeekFrom::Start(start))
            .await
            .map_err(|e| s3_error!(InternalError, "seek: {e}"))?;
        let body = tokio_util::io::ReaderStream::with_capacity(file.take(len), PIECE);
        output.body = Some(StreamingBlob::wrap(body));
        Ok(answer)
    }
}

/// A request body, handed on in pieces of at least [`PIECE`] bytes (the last may be shorter).
/// An error of the body is handed on as it comes, what was gathered before it dropped.
struct Coalesce<S> {
    body: S,
    gathered: BytesMut,
    ended: bool,
}

impl Coalesce<StreamingBlob> {
    fn blob(body: StreamingBlob) -> StreamingBlob {
        StreamingBlob::wrap(Coalesce::new(body))
    }
}

impl<S> Coalesce<S> {
    fn new(body: S) -> Coalesce<S> {
        Coalesce {
            body,
            gathered: BytesMut::new(),
            ended: false,
        }
    }
}

impl<S, E> Stream for Coalesce<S>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Item = Result<Bytes, std::io::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        while !this.ended && this.gathered.len() < PIECE {
            match Pin::new(&mut this.body).poll_next(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(None) => this.ended = true,
                Poll::Ready(Some(Err(e))) => {
                    this.ended = true;
                    this.gathered.clear();
                    return Poll::Ready(Some(Err(std::io::Error::other(e))));
                }
                Poll::Ready(Some(Ok(piece))) => {
                    if this.gathered.is_empty() && piece.len() >= PIECE {
                        return Poll::Ready(Some(Ok(piece)));
                    }
                    if this.gathered.capacity() == 0 {
                        this.gathered.reserve(PIECE);
                    }
                    this.gathered.extend_from_slice(&piece);
                }
            }
        }
        if this.gathered.is_empty() {
            return Poll::Ready(None);
        }
        Poll::Ready(Some(Ok(this.gathered.split().freeze())))
    }
}

/// `bytes FIRST-LAST/TOTAL` -> FIRST.
/// A key as S3 sends it in a listing with `EncodingType=url`: unreserved characters and `/`
/// as they are, a space as `+`, every other byte as %XX.
fn url_encode_key(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for b in key.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fn first_byte(content_range: &str) -> Option<u64> {
    content_range
        .strip_prefix("bytes ")?
        .split_once('-')?
        .0
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A body that arrives in the given pieces, then maybe fails.
    struct Pieces(Vec<Result<Bytes, std::io::Error>>);

    impl Stream for Pieces {
        type Item = Result<Bytes, std::io::Error>;
        fn poll_next(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Self::Item>> {
            Poll::Ready((!self.0.is_empty()).then(|| self.0.remove(0)))
        }
    }

    fn drain(body: Pieces) -> Vec<Result<Bytes, std::io::Error>> {
        let mut s = Coalesce::new(body);
        let waker = std::task::Waker::noop();
        let mut cx = Context::from_waker(waker);
        let mut out = Vec::new();
        while let Poll::Ready(Some(item)) = Pin::new(&mut s).poll_next(&mut cx) {
            out.push(item);
        }
        out
    }

    #[test]
    fn a_body_is_handed_on_whole_in_large_pieces() {
        let bytes: Vec<u8> = (0..(5 * PIECE / 2 + 7)).map(|i| (i % 251) as u8).collect();
        let pieces = bytes
            .chunks(16 * 1024 + 3)
            .map(|c| Ok(Bytes::copy_from_slice(c)));
        let out = drain(Pieces(pieces.collect()));
        let out: Vec<Bytes> = out.into_iter().map(Result::unwrap).collect();
        assert!(out[..out.len() - 1].iter().all(|p| p.len() >= PIECE));
        assert_eq!(out.concat(), bytes);
        assert!(drain(Pieces(vec![])).is_empty());
    }

    #[test]
    fn an_error_of_the_body_is_handed_on() {
        let body = Pieces(vec![
            Ok(Bytes::from_static(b"abc")),
            Err(std::io::Error::other("reset")),
        ]);
        let out = drain(body);
        assert_eq!(out.len(), 1);
        assert!(out[0].is_err());
    }

    #[test]
    fn listed_keys_are_encoded_as_s3_encodes_them() {
        assert_eq!(
            url_encode_key("dir/a+b c\u{1}ü.txt"),
            "dir/a%2Bb+c%01%C3%BC.txt"
        );
    }

    #[test]
    fn the_first_byte_comes_from_content_range() {
        assert_eq!(first_byte("bytes 0-99/100"), Some(0));
        assert_eq!(
            first_byte("bytes 4194304-8388607/1073741824"),
            Some(4_194_304)
        );
        assert_eq!(first_byte("items 0-1/2"), None);
        assert_eq!(first_byte("bytes x-1/2"), None);
    }
}
