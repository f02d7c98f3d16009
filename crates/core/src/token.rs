//! API tokens: 256 random bits, shown once, stored only as a SHA-256 hash.
//!
//! A fast hash is enough: tokens are random, so there is nothing to
//! brute-force (unlike passwords, which would want argon2).

use sha2::{Digest, Sha256};

/// Every API token starts with this, so leaked tokens are easy to spot.
pub const TOKEN_PREFIX: &str = "slw_";

/// The hex SHA-256 under which a token is stored.
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_hash() {
        assert_eq!(
            hash_token("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
