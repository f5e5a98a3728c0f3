//! Strict base64url (RFC 7515 s2): URL-safe alphabet, no padding, no whitespace, and
//! canonical trailing bits. A lenient decoder lets two different strings carry the same
//! bytes, so a signature over one "verifies" the other.

use base64::Engine as _;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

pub(crate) const STRICT: GeneralPurpose = GeneralPurpose::new(
    &alphabet::URL_SAFE,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(DecodePaddingMode::RequireNone)
        .with_decode_allow_trailing_bits(false),
);

pub(crate) fn decode(s: &str) -> Result<Vec<u8>, base64::DecodeError> {
    STRICT.decode(s)
}

pub(crate) fn encode(bytes: &[u8]) -> String {
    STRICT.encode(bytes)
}

/// True when every byte is in the base64url alphabet (cheap pre-check, no allocation).
pub(crate) fn is_alphabet(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_padding_std_alphabet_whitespace_and_noncanonical_bits() {
        assert_eq!(decode("YQ").unwrap(), b"a");
        assert!(decode("YQ==").is_err());
        assert!(decode("+/8").is_err());
        assert!(decode("Y Q").is_err());
        assert!(decode("YQ\n").is_err());
        // "YR" decodes to 'a' with non-zero trailing bits under a lenient decoder.
        assert!(decode("YR").is_err());
        // A single leftover character can never be canonical.
        assert!(decode("YWJjZ").is_err());
        assert_eq!(decode("").unwrap(), b"");
    }
}
