//! Pure: the session token in the operator's cookie, and the CSRF token bound to it.
//!
//! A session is `v1.<key id>.<operator id>.<epoch>.<issued>.<expires>.<mac>`: HMAC-SHA256
//! over the rest with a key from the replicated `console_keys` table. Nothing about a
//! session is kept in memory, so the backup, once it takes over, accepts the same cookie
//! (the key and the operator's row came with the database). The operator's role and
//! whether they are still allowed in are read from the database at each request; the
//! epoch lets an operator's sessions all end at once (sign-out, new password, disabled).
//!
//! The CSRF token is an HMAC of the session token under the same key ("signed double
//! submit"): the page carries it in every form, and a request that changes something
//! must bring it back. A page of another site cannot read it, and it needs no state either.

use ring::hmac;

/// What a valid session says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Claims {
    pub operator: i64,
    pub epoch: i64,
    /// Seconds since the epoch.
    pub issued: u64,
    pub expires: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("not a session token")]
    Malformed,
    #[error("signed with a key this node does not have")]
    UnknownKey,
    #[error("bad signature")]
    BadSignature,
    #[error("expired")]
    Expired,
}

/// The longest token we read (a cookie is capped by the request's header limit too).
pub const MAX_LEN: usize = 200;

fn mac(key: &[u8], text: &str) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, key);
    hex::encode(hmac::sign(&key, text.as_bytes()).as_ref())
}

fn mac_ok(key: &[u8], text: &str, given_hex: &str) -> bool {
    let Ok(given) = hex::decode(given_hex) else {
        return false;
    };
    let key = hmac::Key::new(hmac::HMAC_SHA256, key);
    hmac::verify(&key, text.as_bytes(), &given).is_ok() // constant time
}

/// A session token for `claims`, signed with key `key_id`.
pub fn sign(key_id: i64, key: &[u8], claims: &Claims) -> String {
    let body = format!(
        "v1.{key_id}.{}.{}.{}.{}",
        claims.operator, claims.epoch, claims.issued, claims.expires
    );
    let m = mac(key, &body);
    format!("{body}.{m}")
}

/// Checks `token` against `keys` (id, key) at `now` (seconds since the epoch).
pub fn verify(token: &str, keys: &[(i64, Vec<u8>)], now: u64) -> Result<Claims, TokenError> {
    if token.len() > MAX_LEN {
        return Err(TokenError::Malformed);
    }
    let (body, given) = token.rsplit_once('.').ok_or(TokenError::Malformed)?;
    let parts: Vec<&str> = body.split('.').collect();
    let [version, key_id, operator, epoch, issued, expires] = parts[..] else {
        return Err(TokenError::Malformed);
    };
    if version != "v1" {
        return Err(TokenError::Malformed);
    }
    let number = |s: &str| s.parse::<i64>().map_err(|_| TokenError::Malformed);
    let key_id = number(key_id)?;
    let (_, key) = keys
        .iter()
        .find(|(id, _)| *id == key_id)
        .ok_or(TokenError::UnknownKey)?;
    if !mac_ok(key, body, given) {
        return Err(TokenError::BadSignature);
    }
    let claims = Claims {
        operator: number(operator)?,
        epoch: number(epoch)?,
        issued: issued.parse().map_err(|_| TokenError::Malformed)?,
        expires: expires.parse().map_err(|_| TokenError::Malformed)?,
    };
    if now >= claims.expires {
        return Err(TokenError::Expired);
    }
    Ok(claims)
}

/// The CSRF token for a session (the key that signed the session signs it).
pub fn csrf(session: &str, keys: &[(i64, Vec<u8>)]) -> Option<String> {
    let key = session_key(session, keys)?;
    Some(mac(key, &format!("csrf {session}")))
}

/// Whether `given` is the CSRF token of `session`.
pub fn csrf_ok(session: &str, keys: &[(i64, Vec<u8>)], given: &str) -> bool {
    session_key(session, keys).is_some_and(|key| mac_ok(key, &format!("csrf {session}"), given))
}

fn session_key<'k>(session: &str, keys: &'k [(i64, Vec<u8>)]) -> Option<&'k [u8]> {
    let id: i64 = session.split('.').nth(1)?.parse().ok()?;
    keys.iter()
        .find(|(k, _)| *k == id)
        .map(|(_, key)| key.as_slice())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> Vec<(i64, Vec<u8>)> {
        vec![(2, b"newer key".to_vec()), (1, b"older key".to_vec())]
    }

    const CLAIMS: Claims = Claims {
        operator: 7,
        epoch: 3,
        issued: 1_000,
        expires: 2_000,
    };

    #[test]
    fn a_token_signed_with_any_replicated_key_verifies_until_it_expires() {
        for (id, key) in keys() {
            let t = sign(id, &key, &CLAIMS);
            assert_eq!(verify(&t, &keys(), 1_500), Ok(CLAIMS));
            assert_eq!(verify(&t, &keys(), 2_000), Err(TokenError::Expired));
        }
    }

    #[test]
    fn a_changed_or_foreign_token_is_refused() {
        let t = sign(1, b"older key", &CLAIMS);
        let changed = t.replacen(".7.", ".8.", 1);
        assert_eq!(
            verify(&changed, &keys(), 1_500),
            Err(TokenError::BadSignature)
        );
        let other = sign(1, b"another pair's key", &CLAIMS);
        assert_eq!(
            verify(&other, &keys(), 1_500),
            Err(TokenError::BadSignature)
        );
        let unknown = sign(9, b"older key", &CLAIMS);
        assert_eq!(
            verify(&unknown, &keys(), 1_500),
            Err(TokenError::UnknownKey)
        );
        for bad in [
            "",
            "v1",
            "v2.1.7.3.1000.2000.00",
            "v1.x.7.3.1000.2000.00",
            &"a".repeat(500),
        ] {
            assert_eq!(
                verify(bad, &keys(), 1_500),
                Err(TokenError::Malformed),
                "{bad}"
            );
        }
    }

    #[test]
    fn the_csrf_token_belongs_to_its_session() {
        let a = sign(2, b"newer key", &CLAIMS);
        let b = sign(
            2,
            b"newer key",
            &Claims {
                operator: 8,
                ..CLAIMS
            },
        );
        let token = csrf(&a, &keys()).unwrap();
        assert!(csrf_ok(&a, &keys(), &token));
        assert!(!csrf_ok(&b, &keys(), &token));
        assert!(!csrf_ok(&a, &keys(), ""));
        assert!(!csrf_ok(&a, &keys(), "zz"));
        assert_eq!(csrf("v1.9.7.3.1.2.00", &keys()), None);
    }
}
