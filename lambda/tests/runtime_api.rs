//! The real `bootstrap` binary against a stand-in for Lambda's Runtime API (the two HTTP
//! calls `lambda_runtime` makes: GET the next invocation, POST its response), so the glue is
//! checked as Lambda runs it: environment, event in, Batch Operations response out. S3 is an
//! endpoint where nothing listens, so the task must come back as a `TemporaryFailure` (Batch
//! retries it) rather than fail the invocation.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const EVENT: &str = r#"{
  "invocationSchemaVersion": "2.0",
  "invocationId": "YXNkbGZqYWRmaiBhc2RmdW9hZHNmZGpmaGFzbGtkaGZza2RmaAo",
  "job": {
    "id": "f3cc4f60-61f6-4a2b-8a21-d07600c373ce",
    "userArguments": {
      "operation": "verify",
      "expectedKmsKeyIds": "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    }
  },
  "tasks": [
    {
      "taskId": "dGFza2lkZ29lc2hlcmUK",
      "s3Key": "backups/db+2026.dump",
      "s3VersionId": null,
      "s3Bucket": "amzn-s3-demo-bucket"
    }
  ]
}"#;

/// One HTTP/1.1 request: its request line and body.
fn read_request(stream: &TcpStream) -> (String, Vec<u8>) {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    let mut len = 0;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).unwrap() == 0 || header == "\r\n" {
            break;
        }
        if let Some(v) = header.to_ascii_lowercase().strip_prefix("content-length:") {
            len = v.trim().parse().unwrap();
        }
    }
    let mut body = vec![0; len];
    reader.read_exact(&mut body).unwrap();
    (line.trim().to_string(), body)
}

/// Serves [`EVENT`] once, then sends every POST (path and body) to `posted`; the next GET
/// is never answered (the function then waits, as it would between invocations).
fn runtime_api(listener: TcpListener, posted: mpsc::Sender<(String, String)>) {
    let mut served = false;
    for stream in listener.incoming() {
        let mut stream = stream.unwrap();
        let (line, body) = read_request(&stream);
        if line.starts_with("GET") {
            if served {
                std::thread::sleep(Duration::from_secs(120));
                continue;
            }
            served = true;
            let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
            let deadline = now.as_millis() + 60_000;
            write!(
                stream,
                "HTTP/1.1 200 OK\r\nLambda-Runtime-Aws-Request-Id: req-1\r\n\
                 Lambda-Runtime-Deadline-Ms: {deadline}\r\n\
                 Lambda-Runtime-Invoked-Function-Arn: arn:aws:lambda:us-east-1:111122223333:function:s3seal-batch\r\n\
                 Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{EVENT}",
                EVENT.len()
            )
            .unwrap();
        } else {
            write!(
                stream,
                "HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            )
            .unwrap();
            let path = line.split(' ').nth(1).unwrap_or_default().to_string();
            let _ = posted.send((path, String::from_utf8_lossy(&body).into_owned()));
        }
    }
}

#[test]
fn an_invocation_is_answered_with_the_batch_response() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let api = listener.local_addr().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || runtime_api(listener, tx));
    // Nothing listens on port 1: every S3 request fails to connect.
    let mut function = Command::new(env!("CARGO_BIN_EXE_bootstrap"))
        .env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", api.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", "s3seal-batch")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "1769")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_ENDPOINT_URL", "https://127.0.0.1:1")
        .env("AWS_MAX_ATTEMPTS", "1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start bootstrap");
    let posted = rx.recv_timeout(Duration::from_secs(60));
    let _ = function.kill();
    let _ = function.wait();
    let (path, body) = posted.expect("the function posted no answer within 60 s");
    assert_eq!(
        path, "/2018-06-01/runtime/invocation/req-1/response",
        "{body}"
    );
    let response: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(response["invocationSchemaVersion"], "2.0");
    assert_eq!(response["treatMissingKeysAs"], "PermanentFailure");
    assert_eq!(
        response["invocationId"],
        "YXNkbGZqYWRmaiBhc2RmdW9hZHNmZGpmaGFzbGtkaGZza2RmaAo"
    );
    let result = &response["results"][0];
    assert_eq!(result["taskId"], "dGFza2lkZ29lc2hlcmUK");
    assert_eq!(result["resultCode"], "TemporaryFailure", "{body}");
    let text = result["resultString"].as_str().unwrap();
    assert!(text.starts_with("retryable: "), "{text}");
    // The key was decoded (form encoding: `+` is a space) before it was asked for.
    assert!(text.contains("backups/db 2026.dump"), "{text}");
}
