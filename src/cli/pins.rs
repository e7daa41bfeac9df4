//! `--expected-kms-key-id` (and `S3SEAL_EXPECTED_KMS_KEY_IDS`), shared by get, verify, rewrap
//! and migrate: the KMS keys a read trusts, resolved to full key ARNs before the first read.

use clap::Args;
use s3seal::Result;
use s3seal::kms::Keyring;
use s3seal::pins::KeyPins;

#[derive(Args, Debug, Clone)]
pub struct PinArgs {
    /// Trust only objects whose data key is wrapped under this KMS key (repeatable): key ARN,
    /// key id or alias/NAME (resolved once with kms:DescribeKey). Checked before any KMS
    /// Decrypt; a planted object under another key exits 3. Required by rewrap and migrate
    #[arg(
        long = "expected-kms-key-id",
        value_name = "ID",
        env = "S3SEAL_EXPECTED_KMS_KEY_IDS",
        value_delimiter = ','
    )]
    pub expected_kms_key_ids: Vec<String>,
}

impl PinArgs {
    /// The pins as full key ARNs.
    pub async fn resolve(&self, keyring: &impl Keyring) -> Result<KeyPins> {
        KeyPins::resolve(keyring, &self.expected_kms_key_ids).await
    }
}
