//! The settings page on loopback, changing a real `sla.toml` the way the product does
//! (`[availability] windows`, as first boot's node file leaves it, points the console at the
//! supervisor's file): only administrators see it; a window is checked field by field and a
//! wrong one changes nothing; a good one is added and the administrator's comments stay; a
//! form shown before the file changed is refused; a file that does not read is shown with
//! its line and never overwritten; every change is audited; no temporary file is left.
//! (That the change reaches the backup and is in force there is `console_lab`'s part.)

mod common;
use common::{console, status};

fn version(page: &str) -> String {
    page.split("name=\"version\" value=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("a version on the page")
        .to_owned()
}

const EXAMPLE: &str = include_str!("../../systemd/sla.toml.example");

#[tokio::test]
async fn administrators_change_the_sla_windows_and_nothing_is_half_done() {
    let dir = tempfile::tempdir().unwrap();
    let sla = dir.path().join("sla.toml");
    let c = console(&format!(
        "[availability]\nwindows = \"{}\"\n",
        sla.display()
    ))
    .await;
    let anna = c.sign_in("anna").await;
    let capo = c.sign_in("capo").await;

    assert_eq!(status(&c.get("/settings", &anna).await), 403);
    let empty = c.get("/settings", &capo).await;
    assert_eq!(status(&empty), 200, "{empty}");
    assert!(empty.contains(&sla.display().to_string()), "names the file");

    std::fs::write(&sla, EXAMPLE).unwrap();
    let page = c.get("/settings", &capo).await;
    assert!(page.contains("Debian point release") && page.contains("regional power cut"));
    let before = version(&page);

    // Wrong fields: each said next to its field, the file untouched.
    let wrong = c
        .submit(
            "/settings/windows",
            &capo,
            &format!("version={before}&kind=excluded&from=2026-12-03+25%3A00&to=2026-12-03+09%3A00&announced=&text="),
        )
        .await;
    assert_eq!(status(&wrong), 422, "{wrong}");
    for field in ["e-from", "e-text"] {
        assert!(
            wrong.contains(&format!("id=\"{field}\"")),
            "{field}: {wrong}"
        );
    }
    assert_eq!(std::fs::read_to_string(&sla).unwrap(), EXAMPLE);
    let backwards = c
        .submit(
            "/settings/windows",
            &capo,
            &format!("version={before}&kind=excluded&from=2026-12-03+10%3A00&to=2026-12-03+09%3A00&text=flood"),
        )
        .await;
    assert!(backwards.contains("id=\"e-to\""), "{backwards}");

    // A good one: added after the others, every comment kept.
    let added = c
        .submit(
            "/settings/windows",
            &capo,
            &format!("version={before}&kind=excluded&from=2026-12-03+10%3A00&to=2026-12-03+12%3A30&announced=&text=alluvione+Reno"),
        )
        .await;
    assert_eq!(status(&added), 303, "{added}");
    let text = std::fs::read_to_string(&sla).unwrap();
    assert!(text.starts_with(EXAMPLE), "{text}");
    let windows = sla_windows::parse(&text).unwrap();
    assert_eq!(windows.len(), 3);
    assert_eq!(
        windows[2].describe(),
        "excluded: alluvione Reno (2026-12-03 10:00:00 to 2026-12-03 12:30:00)"
    );

    // A page shown before that change cannot remove anything.
    let stale = c
        .submit(
            "/settings/windows/remove",
            &capo,
            &format!("version={before}&kind=announced&index=0"),
        )
        .await;
    assert_eq!(status(&stale), 409, "{stale}");
    assert!(stale.contains("id=\"refused\""), "{stale}");
    assert_eq!(std::fs::read_to_string(&sla).unwrap(), text);

    // With the page as it is now: the announced work goes, its own comment with it.
    let now = version(&stale);
    let removed = c
        .submit(
            "/settings/windows/remove",
            &capo,
            &format!("version={now}&kind=announced&index=0"),
        )
        .await;
    assert_eq!(status(&removed), 303, "{removed}");
    let text = std::fs::read_to_string(&sla).unwrap();
    assert!(!text.contains("Debian point release"), "{text}");
    assert!(text.starts_with("# /etc/allerta/shared/sla.toml"), "{text}");
    assert_eq!(sla_windows::parse(&text).unwrap().len(), 2);

    // Someone broke the file by hand: shown with its line, and never overwritten.
    let broken =
        "[[excluded]]\nfrom = \"2026-12-03 10:00\"\nto = \"2026-12-03 09:00\"\nreason = \"x\"\n";
    std::fs::write(&sla, broken).unwrap();
    let page = c.get("/settings", &capo).await;
    assert!(
        page.contains(&format!("{}:2: from must be before to", sla.display())),
        "{page}"
    );
    let refused = c
        .submit(
            "/settings/windows",
            &capo,
            &format!(
                "version={}&kind=excluded&from=2026-12-04+10%3A00&to=2026-12-04+11%3A00&text=x",
                sla_windows::edit::fingerprint(broken)
            ),
        )
        .await;
    assert_eq!(status(&refused), 409, "{refused}");
    assert_eq!(std::fs::read_to_string(&sla).unwrap(), broken);

    // Another site's form: refused before any work.
    let forged = c
        .http(&common::post(
            "/settings/windows/remove",
            "version=x&kind=excluded&index=0",
            false,
        ))
        .await;
    assert_eq!(status(&forged), 403, "{forged}");

    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["sla.toml"], "no temporary file left");

    let audit: Vec<(String, String, String)> = c
        .running
        .app
        .db
        .run(|s| {
            let mut stmt = s.connection().prepare(
                "SELECT who, what, detail FROM audit WHERE what LIKE 'sla window%' ORDER BY id",
            )?;
            let rows = stmt
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                .collect::<Result<_, _>>()?;
            Ok(rows)
        })
        .await
        .unwrap();
    assert_eq!(
        audit,
        [
            (
                "capo".to_owned(),
                "sla window excluded".to_owned(),
                "excluded: alluvione Reno (2026-12-03 10:00:00 to 2026-12-03 12:30:00)".to_owned()
            ),
            (
                "capo".to_owned(),
                "sla window removed".to_owned(),
                "announced 2026-11-20 09:00: Debian point release (2026-12-01 22:00:00 to 2026-12-01 23:30:00)".to_owned()
            ),
        ]
    );
}
