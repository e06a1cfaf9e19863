//! Operators' passwords and phone PINs: argon2id, stored as PHC strings (salt and
//! parameters inside), never in clear.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;

/// The PHC string for `secret`.
pub fn hash(secret: &str) -> Result<String, String> {
    if secret.is_empty() {
        return Err("an empty password".into());
    }
    let salt =
        SaltString::encode_b64(&rand::random::<[u8; 16]>()).map_err(|e| format!("salt: {e}"))?;
    Argon2::default()
        .hash_password(secret.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| format!("hashing: {e}"))
}

/// The shortest password an operator may choose (the console's rule; sign-in also
/// locks a name out after a few failures).
pub const MIN_PASSWORD: usize = 10;

/// What is wrong with a new password, if anything.
pub fn password_problem(secret: &str) -> Option<String> {
    (secret.chars().count() < MIN_PASSWORD || secret.len() > 256)
        .then(|| format!("a password has {MIN_PASSWORD} to 256 characters"))
}

/// What is wrong with a phone PIN, if anything: 4 to 12 digits.
pub fn pin_problem(pin: &str) -> Option<String> {
    (!(4..=12).contains(&pin.len()) || !pin.bytes().all(|b| b.is_ascii_digit()))
        .then(|| "a PIN is 4 to 12 digits".to_owned())
}

/// Whether `secret` matches the PHC string `stored` (a damaged string matches nothing).
pub fn verify(secret: &str, stored: &str) -> bool {
    PasswordHash::new(stored).is_ok_and(|h| {
        Argon2::default()
            .verify_password(secret.as_bytes(), &h)
            .is_ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_verifies_its_secret_only() {
        let h = hash("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify("correct horse", &h));
        assert!(!verify("wrong horse", &h));
        assert!(!verify("correct horse", "not a hash"));
        assert!(hash("").is_err());
    }
}
