//! The JSON schema of a conformance vector (`tests/vectors/README.md`): what `gen_vectors`
//! writes and the Rust and Python decoders read.

use serde::Serialize;

#[derive(Serialize)]
pub struct Vector {
    pub name: String,
    pub description: String,
    pub data_key_hex: String,
    pub chunk_size_log2: u8,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub object_hex: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub object_parts: Option<Vec<PartJson>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kms: Option<KmsBinding>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub read_from: Option<Location>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub caller_context: Vec<[String; 2]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plaintext_len: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plaintext_sha256: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plaintext_hex: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_chunk: Option<u64>,
}

#[derive(Serialize)]
#[serde(untagged)]
pub enum PartJson {
    Hex { hex: String },
    File { file: String, start: u64, end: u64 },
}

/// What the stand-in for KMS Decrypt accepts: exactly this key id, wrapped key and context.
#[derive(Serialize, Clone)]
pub struct KmsBinding {
    pub key_id: String,
    pub wrapped_key_hex: String,
    pub context: Vec<[String; 2]>,
}

#[derive(Serialize, Clone)]
pub struct Location {
    pub bucket: String,
    pub key: String,
}
