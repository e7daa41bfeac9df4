//! Promises the docs make that no other test held to: each test here fails when its promise
//! is broken. (Promises about the pipelines themselves, such as If-Match pinning and no KMS
//! call before the binding check, are unit tests in `src/store/tests.rs`.)

mod common;

use common::proxy::{Fault, Match, Proxy, Rule, S3Op};
use common::route::{MULTIPART_LEN, Route, cmd, put_args, write_src};
use common::store::Store;
use common::{data, env, s3_uri, unique_key};

/// README: transient failures are retried with the SDK's standard retry mode,
/// `AWS_MAX_ATTEMPTS` (default 3). One 503 on a part is retried by default and fails the
/// upload (cleanly) when the variable allows a single attempt.
#[test]
fn aws_max_attempts_sets_how_often_a_request_is_tried() {
    let plain = data(MULTIPART_LEN, 31);
    let dir = tempfile::tempdir().unwrap();
    let src = write_src(dir.path(), &plain);
    let store = Store::moto();
    for (attempts, succeeds) in [("1", false), ("2", true)] {
        let rules = vec![Rule::new(
            Match::s3(S3Op::UploadPart),
            Fault::s3(503, "SlowDown"),
            1,
        )];
        let proxy = Proxy::http(&env().moto, &env().ca, rules);
        let route = Route::s3(&proxy);
        let key = unique_key(&format!("max-attempts-{attempts}"));
        let mut put = cmd(&route);
        put.env("AWS_MAX_ATTEMPTS", attempts)
            .args(put_args(src.to_str().unwrap(), &s3_uri(&key)));
        if succeeds {
            put.assert().success();
            assert!(
                store.exists(&key),
                "AWS_MAX_ATTEMPTS={attempts}: nothing stored"
            );
        } else {
            put.assert()
                .code(1)
                .stderr(predicates::str::contains("SlowDown"));
            assert!(!store.exists(&key), "AWS_MAX_ATTEMPTS=1 stored an object");
        }
        assert_eq!(proxy.fired(), 1, "AWS_MAX_ATTEMPTS={attempts}");
        assert_eq!(store.open_uploads(&key), 0, "AWS_MAX_ATTEMPTS={attempts}");
        store.delete(&key);
    }
}
