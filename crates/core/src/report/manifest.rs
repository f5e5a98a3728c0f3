//! The signed manifest of an export, and its verification.
//!
//! `PATH.manifest.json` sits next to the report and holds `{"signed": {...}, "signature": "..."}`.
//! `signed` names the format, the incident, the generator, the public key and, for every file of
//! the export, its name (a plain file name in the same folder), size and SHA-256. The signature is
//! Ed25519 over `"gatehouse-report-manifest/1\n"` followed by the compact JSON of `signed` (fields
//! in a fixed order, so verification re-serializes the parsed struct and gets the same bytes;
//! unknown fields are refused).
//!
//! The signing key is one per analyst and machine, created on first use and kept only in the OS
//! keyring (`report/signing-key`). A signature proves integrity only against a key the reader
//! trusts: verification trusts this machine's key and any public key given to it
//! (`gatehouse report public-key` exports it as PEM), and says so when the key is another.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{Error, ReportData, ReportFormat};
use crate::secrets::{SecretName, SecretStore, Sensitive};

pub const FORMAT: &str = "gatehouse-report-manifest";
const VERSION: u32 = 1;
const DOMAIN: &[u8] = b"gatehouse-report-manifest/1\n";
const KEY_NAME: &str = "report/signing-key";
/// Manifests are small; anything bigger is not one of ours.
const MAX_MANIFEST: u64 = 4 * 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Signed {
    format: String,
    version: u32,
    incident: String,
    title: String,
    report_format: String,
    generated_at: String,
    generated_by: String,
    generator: String,
    key_id: String,
    /// Base64 of the 32-byte Ed25519 public key.
    public_key: String,
    files: Vec<FileEntry>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileEntry {
    name: String,
    bytes: u64,
    sha256: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Manifest {
    signed: Signed,
    signature: String,
}

pub fn key_id(key: &VerifyingKey) -> String {
    hex::encode(&Sha256::digest(key.as_bytes())[..8])
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn signed_bytes(s: &Signed) -> Result<Vec<u8>, serde_json::Error> {
    let mut out = DOMAIN.to_vec();
    out.extend(serde_json::to_vec(s)?);
    Ok(out)
}

/// The manifest for `files` (all in one folder), signed.
pub(super) fn build(
    data: &ReportData,
    format: ReportFormat,
    files: &[(PathBuf, Vec<u8>)],
    key: &SigningKey,
) -> Result<Vec<u8>, Error> {
    let public = key.verifying_key();
    let signed = Signed {
        format: FORMAT.into(),
        version: VERSION,
        incident: data.incident.id.clone(),
        title: super::clean(&data.incident.title, 200),
        report_format: format.as_str().into(),
        generated_at: data.generated_at.to_rfc3339(),
        generated_by: super::clean(&data.generated_by, 200),
        generator: data.generator.clone(),
        key_id: key_id(&public),
        public_key: base64::engine::general_purpose::STANDARD.encode(public.as_bytes()),
        files: files
            .iter()
            .map(|(p, b)| FileEntry {
                name: p
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                bytes: b.len() as u64,
                sha256: sha256_hex(b),
            })
            .collect(),
    };
    let msg = signed_bytes(&signed).map_err(|e| Error::Encode(format!("manifest: {e}")))?;
    let signature = base64::engine::general_purpose::STANDARD.encode(key.sign(&msg).to_bytes());
    let mut out = serde_json::to_vec_pretty(&Manifest { signed, signature })
        .map_err(|e| Error::Encode(format!("manifest: {e}")))?;
    out.push(b'\n');
    Ok(out)
}

/// This machine's report signing key, created (and stored in the keyring) on first use.
pub fn signing_key(secrets: &dyn SecretStore) -> Result<SigningKey, Error> {
    let name = SecretName::new(KEY_NAME)?;
    if let Some(k) = existing_key(secrets)? {
        return Ok(k);
    }
    let seed: [u8; 32] = rand::random();
    secrets.put(&name, &Sensitive::new(hex::encode(seed)))?;
    // Read back what the keyring holds: if another process created a key at the same moment,
    // both use the one that was stored last.
    existing_key(secrets)?.ok_or_else(|| Error::Key("the new key was not kept by the keyring".into()))
}

/// This machine's key if one was created (verification never creates one).
pub fn existing_key(secrets: &dyn SecretStore) -> Result<Option<SigningKey>, Error> {
    let name = SecretName::new(KEY_NAME)?;
    let Some(stored) = secrets.get(&name)? else {
        return Ok(None);
    };
    let mut seed = [0u8; 32];
    hex::decode_to_slice(stored.expose().trim(), &mut seed)
        .map_err(|_| Error::Key("it is not 64 hex digits".into()))?;
    let key = SigningKey::from_bytes(&seed);
    zeroize::Zeroize::zeroize(&mut seed);
    Ok(Some(key))
}

/// The public key as PEM (SubjectPublicKeyInfo), for readers of the reports.
pub fn public_key_pem(key: &VerifyingKey) -> Result<String, Error> {
    use ed25519_dalek::pkcs8::EncodePublicKey;
    key.to_public_key_pem(ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF)
        .map_err(|e| Error::Key(e.to_string()))
}

/// Reads a public key from PEM text (what `report public-key` prints).
pub fn public_key_from_pem(pem: &str) -> Result<VerifyingKey, VerifyError> {
    use ed25519_dalek::pkcs8::DecodePublicKey;
    VerifyingKey::from_public_key_pem(pem.trim())
        .map_err(|e| VerifyError::BadKey(format!("not an Ed25519 public key in PEM form: {e}")))
}

/// Why a path cannot be verified at all (as opposed to a verification that found changes).
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("{0} does not exist")]
    Missing(PathBuf),
    #[error("no manifest for {path}: expected {expected} next to it (was it exported by Gatehouse?)")]
    NoManifest { path: PathBuf, expected: PathBuf },
    #[error("cannot read {path}: {reason}")]
    Unreadable { path: PathBuf, reason: String },
    #[error("the manifest {path} is truncated: {detail}")]
    Truncated { path: PathBuf, detail: String },
    #[error("{path} is not a Gatehouse report manifest: {detail}")]
    Foreign { path: PathBuf, detail: String },
    #[error("{0}")]
    BadKey(String),
}

impl VerifyError {
    pub fn kind(&self) -> crate::ErrorKind {
        match self {
            VerifyError::Missing(_) | VerifyError::NoManifest { .. } => crate::ErrorKind::NotFound,
            VerifyError::Unreadable { .. } => crate::ErrorKind::Internal,
            _ => crate::ErrorKind::Validation,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, specta::Type)]
#[serde(rename_all = "camelCase", tag = "status")]
pub enum FileStatus {
    Ok,
    Missing,
    /// Shorter than when it was signed.
    Truncated {
        bytes: u64,
        expected_bytes: u64,
    },
    /// Same length or longer, other content.
    Changed {
        bytes: u64,
        expected_bytes: u64,
        sha256: String,
        expected_sha256: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct FileCheck {
    pub name: String,
    pub status: FileStatus,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct Verification {
    /// The signature is valid, the key is trusted and every file matches.
    pub ok: bool,
    pub manifest: String,
    pub incident: String,
    pub report_format: String,
    pub generated_at: String,
    pub key_id: String,
    pub signature_valid: bool,
    /// The signing key is this machine's report key or one given to verify.
    pub key_trusted: bool,
    pub files: Vec<FileCheck>,
    /// Every problem, in words.
    pub problems: Vec<String>,
}

/// Verifies an export given the report file (any file of the set) or its manifest. `trusted`
/// are the public keys whose signatures count.
pub fn verify(path: &Path, trusted: &[VerifyingKey]) -> Result<Verification, VerifyError> {
    if !path.exists() {
        return Err(VerifyError::Missing(path.to_path_buf()));
    }
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let (manifest_path, given) = if name.ends_with(".manifest.json") {
        (path.to_path_buf(), None)
    } else {
        let m = super::manifest_path(path);
        if !m.exists() {
            // The CSV sessions file belongs to the timeline CSV's manifest.
            let alt = name
                .strip_suffix(".sessions.csv")
                .map(|stem| path.with_file_name(format!("{stem}.csv.manifest.json")))
                .filter(|p| p.exists());
            match alt {
                Some(a) => (a, Some(name.clone())),
                None => {
                    return Err(VerifyError::NoManifest {
                        path: path.to_path_buf(),
                        expected: m,
                    });
                }
            }
        } else {
            (m, Some(name.clone()))
        }
    };
    let unreadable = |p: &Path, e: std::io::Error| VerifyError::Unreadable {
        path: p.to_path_buf(),
        reason: e.to_string(),
    };
    let meta = std::fs::metadata(&manifest_path).map_err(|e| unreadable(&manifest_path, e))?;
    let foreign = |detail: String| VerifyError::Foreign {
        path: manifest_path.clone(),
        detail,
    };
    if meta.len() > MAX_MANIFEST {
        return Err(foreign(format!(
            "{} bytes is far larger than any manifest",
            meta.len()
        )));
    }
    let bytes = std::fs::read(&manifest_path).map_err(|e| unreadable(&manifest_path, e))?;
    let manifest = parse(&manifest_path, &bytes)?;
    let s = &manifest.signed;

    let mut problems = Vec::new();
    let public = base64::engine::general_purpose::STANDARD
        .decode(&s.public_key)
        .ok()
        .and_then(|b| <[u8; 32]>::try_from(b.as_slice()).ok())
        .and_then(|b| VerifyingKey::from_bytes(&b).ok())
        .ok_or_else(|| foreign("its public key is not an Ed25519 key".into()))?;
    let signature = base64::engine::general_purpose::STANDARD
        .decode(&manifest.signature)
        .ok()
        .and_then(|b| Signature::from_slice(&b).ok())
        .ok_or_else(|| foreign("its signature is not 64 bytes of base64".into()))?;
    let msg = signed_bytes(s).map_err(|e| foreign(e.to_string()))?;
    let signature_valid = public.verify(&msg, &signature).is_ok() && key_id(&public) == s.key_id;
    if !signature_valid {
        problems.push(format!(
            "the manifest {} was changed after it was signed: its signature does not match its content",
            manifest_path.display()
        ));
    }
    let key_trusted = trusted.iter().any(|k| k == &public);
    if !key_trusted {
        problems.push(format!(
            "it was signed by key {}, which is not this machine's report key nor one you gave (--public-key)",
            key_id(&public)
        ));
    }

    let dir = manifest_path.parent().unwrap_or(Path::new("."));
    let mut files = Vec::new();
    for f in &s.files {
        if f.name.is_empty() || f.name.contains(['/', '\\']) || f.name == ".." || f.name == "." {
            return Err(foreign(format!(
                "it names a file outside its folder: {:?}",
                f.name
            )));
        }
        let p = dir.join(&f.name);
        let status = match std::fs::read(&p) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                problems.push(format!("{} is missing", p.display()));
                FileStatus::Missing
            }
            Err(e) => return Err(unreadable(&p, e)),
            Ok(content) => {
                let sha = sha256_hex(&content);
                let len = content.len() as u64;
                if sha == f.sha256 && len == f.bytes {
                    FileStatus::Ok
                } else if len < f.bytes {
                    problems.push(format!(
                        "{} is truncated: {len} bytes, the manifest says {}",
                        p.display(),
                        f.bytes
                    ));
                    FileStatus::Truncated {
                        bytes: len,
                        expected_bytes: f.bytes,
                    }
                } else {
                    problems.push(format!(
                        "{} was changed: its SHA-256 is {sha}, the manifest says {} ({len} bytes, signed with {})",
                        p.display(),
                        f.sha256,
                        f.bytes
                    ));
                    FileStatus::Changed {
                        bytes: len,
                        expected_bytes: f.bytes,
                        sha256: sha,
                        expected_sha256: f.sha256.clone(),
                    }
                }
            }
        };
        files.push(FileCheck {
            name: f.name.clone(),
            status,
        });
    }
    if let Some(g) = given
        && !s.files.iter().any(|f| f.name == g)
    {
        problems.push(format!(
            "{} is not part of this export: the manifest lists {}",
            path.display(),
            s.files
                .iter()
                .map(|f| f.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    Ok(Verification {
        ok: problems.is_empty(),
        manifest: manifest_path.display().to_string(),
        incident: s.incident.clone(),
        report_format: s.report_format.clone(),
        generated_at: s.generated_at.clone(),
        key_id: key_id(&public),
        signature_valid,
        key_trusted,
        files,
        problems,
    })
}

fn parse(path: &Path, bytes: &[u8]) -> Result<Manifest, VerifyError> {
    let truncated = |detail: String| VerifyError::Truncated {
        path: path.to_path_buf(),
        detail,
    };
    let foreign = |detail: String| VerifyError::Foreign {
        path: path.to_path_buf(),
        detail,
    };
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(truncated("it is empty".into()));
    }
    let value: serde_json::Value = match serde_json::from_slice(bytes) {
        Ok(v) => v,
        Err(e) if e.is_eof() => {
            return Err(truncated(format!(
                "the JSON ends after {} bytes, in the middle of a value",
                bytes.len()
            )));
        }
        Err(e) => return Err(foreign(format!("it is not JSON ({e})"))),
    };
    if value["signed"]["format"] != FORMAT {
        return Err(foreign(format!("it has no \"signed.format\": \"{FORMAT}\"")));
    }
    if value["signed"]["version"] != VERSION {
        return Err(foreign(format!(
            "manifest version {} is not supported (expected {VERSION})",
            value["signed"]["version"]
        )));
    }
    serde_json::from_value(value).map_err(|e| foreign(format!("unexpected content: {e}")))
}
