//! Arbitrary input to the web console's parsers of what a browser or the peer sends:
//! the session token from a cookie and the CSRF token from a form (`console::token`), a
//! campaign form's fields (`Fields::from_pairs`, `read_form`), the language headers
//! (`i18n::Lang::choose`), and a supervisor's `/status` JSON, the peer's included
//! (`console::pair`). The first byte picks the parser. Each gives a value or an error,
//! never a panic; a token verifies only with its key.
#![no_main]

use console::i18n::{Lang, Texts};
use console::pages::campaigns::{read_form, Fields};
use console::{pair, token};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    match which % 4 {
        0 => {
            let keys = vec![(1, b"first key".to_vec()), (2, b"second key".to_vec())];
            if let Ok(claims) = token::verify(text, &keys, 1_000) {
                // Only a token signed with one of the keys verifies.
                let (kid, key) = keys
                    .iter()
                    .find(|(id, _)| text.starts_with(&format!("v1.{id}.")))
                    .expect("a verified token names one of the keys");
                assert_eq!(token::sign(*kid, key, &claims), text);
            }
            let _ = token::csrf_ok(text, &keys, text);
            let _ = token::csrf(text, &keys);
        }
        1 => {
            let pairs = text
                .split('&')
                .map(|p| {
                    let (k, v) = p.split_once('=').unwrap_or((p, ""));
                    (k.to_owned(), v.to_owned())
                })
                .collect();
            let (fields, lists) = Fields::from_pairs(pairs);
            for lang in [Lang::It, Lang::En] {
                if let Ok(spec) = read_form(&Texts::new(lang), &fields, &lists) {
                    assert!(spec.check().is_ok(), "a form read as valid breaks a rule");
                }
            }
        }
        2 => {
            let mid = (0..=text.len() / 2)
                .rev()
                .find(|i| text.is_char_boundary(*i))
                .unwrap_or(0);
            let (a, b) = text.split_at(mid);
            let _ = Lang::choose(Some(a), Some(b));
        }
        _ => {
            let local: Result<serde_json::Value, _> = serde_json::from_str(text);
            let local = match &local {
                Ok(v) => Ok(v),
                Err(_) => Err(("10.77.0.11:9480", "not JSON")),
            };
            let view = pair::pair(local, Some(Err(("10.77.0.12:9480", "refused"))));
            assert_eq!(view.nodes.len(), 2);
        }
    }
});
