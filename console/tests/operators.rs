//! Operator administration through the console's pages, on loopback: only administrators
//! see the page; an added operator signs in; disabling one or giving a new password ends
//! their sessions at once (the next request is sent to sign in); the last enabled
//! administrator cannot be disabled, nor can an administrator disable themselves; every
//! change is in the audit log under the administrator's name.

mod common;
use common::{console, status};

#[tokio::test]
async fn administrators_add_disable_and_reset_operators_and_sessions_end() {
    let c = console("").await;
    let anna = c.sign_in("anna").await;
    let capo = c.sign_in("capo").await;

    let page = c.get("/operators", &anna).await;
    assert_eq!(
        status(&page),
        403,
        "an operator sees the administrators' page"
    );
    let page = c.get("/operators", &capo).await;
    assert_eq!(status(&page), 200, "{page}");
    assert!(page.contains("id=\"op-anna\"") && page.contains("id=\"op-capo\""));

    // A new operator: a short password and a mismatch first, each said next to the field.
    let short = c
        .submit(
            "/operators",
            &capo,
            "name=bruno&role=operator&password=corta&again=corta&pin=",
        )
        .await;
    assert_eq!(status(&short), 422, "{short}");
    assert!(short.contains("id=\"e-password\""), "{short}");
    let added = c
        .submit(
            "/operators",
            &capo,
            "name=bruno&role=operator&password=una+password+lunga&again=una+password+lunga&pin=2468",
        )
        .await;
    assert_eq!(status(&added), 303, "{added}");
    let bruno = c.sign_in("bruno").await;
    assert_eq!(status(&c.get("/campaigns", &bruno).await), 200);

    let ids = c.running.app.db.run(|s| s.operators()).await.unwrap();
    let id = |name: &str| ids.iter().find(|o| o.name == name).unwrap().id;
    assert!(ids.iter().find(|o| o.name == "bruno").unwrap().has_pin);

    // Disabled: bruno's open session ends at its next request.
    let disabled = c
        .submit(
            &format!("/operators/{}", id("bruno")),
            &capo,
            "action=disable",
        )
        .await;
    assert_eq!(status(&disabled), 303, "{disabled}");
    let after = c.get("/campaigns", &bruno).await;
    assert_eq!(status(&after), 303);
    assert!(after.contains("location: /login"), "{after}");

    // A new password for anna ends her session too.
    let reset = c
        .submit(
            &format!("/operators/{}", id("anna")),
            &capo,
            "action=password&password=nuova+password+lunga&again=nuova+password+lunga",
        )
        .await;
    assert_eq!(status(&reset), 303, "{reset}");
    assert_eq!(status(&c.get("/campaigns", &anna).await), 303);

    // The administrator cannot disable themselves, the last administrator stays.
    let me = c
        .submit(
            &format!("/operators/{}", id("capo")),
            &capo,
            "action=disable",
        )
        .await;
    assert_eq!(status(&me), 422, "{me}");
    assert_eq!(status(&c.get("/campaigns", &capo).await), 200);

    let audit: Vec<(String, String)> = c
        .running
        .app
        .db
        .run(|s| {
            let mut stmt = s
                .connection()
                .prepare("SELECT who, what FROM audit WHERE what LIKE 'operator%' ORDER BY id")?;
            let rows = stmt
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<Result<_, _>>()?;
            Ok(rows)
        })
        .await
        .unwrap();
    for what in ["operator add", "operator disable", "operator password"] {
        assert!(
            audit.iter().any(|(who, w)| who == "capo" && w == what),
            "no {what:?} by capo: {audit:?}"
        );
    }
}
