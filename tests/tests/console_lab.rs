//! The web console in a real browser (headless Chromium from the client namespace), on the
//! shipped pair (first boot's node files, `allerta-web` started by each supervisor), through
//! the VIP: sign in, see both nodes, write a message and hear it, upload a recording (and a
//! file that is not one), import contacts (a bad file first), create and start a campaign,
//! watch it live, kill the master's media core mid-campaign and see the same page carry on
//! from the new master to 100 % without signing in again. Then an administrator, on the new
//! master, adds an excluded period on the settings page (a wrong field first), and the
//! changed `sla.toml` reaches the backup, whose `allertactl sla` reads it. Needs root,
//! sipp, tshark, sox, chromium and chromedriver.
//!
//! Lab differences (beyond the pair's own, `shipped_node`): the first operator is made with
//! `allertactl` (as on a new appliance), and the browser accepts the pair's self-signed
//! certificate.

use std::time::{Duration, Instant};

use system_tests::appliance::{Appliance, Setup};
use system_tests::browser::Browser;
use system_tests::campaign::{self, Citizen};
use system_tests::failover::MEDIACORE;
use system_tests::lab::{Node, VIP};

const PASSWORD: &str = "una password lunga e sicura";

fn wait_until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + timeout;
    while Instant::now() < end {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

/// The progress panel's figures as the page shows them now.
fn shown(b: &Browser) -> (u64, u64, String) {
    let v = b.execute(
        "const p = document.querySelector('.progress-panel');
         return p ? [p.dataset.finished, p.dataset.total, p.dataset.state] : ['0','0',''];",
    );
    let num = |i: usize| v[i].as_str().and_then(|s| s.parse().ok()).unwrap_or(0);
    (num(0), num(1), v[2].as_str().unwrap_or_default().to_owned())
}

#[test]
fn an_operator_follows_a_campaign_in_the_browser_through_a_failover() {
    let name = "console";
    let pair = Appliance::start(
        name,
        Setup {
            lines: 4,
            ..Setup::default()
        },
    );
    // An operator and a message, as an administrator sets them up; the contacts' files.
    pair.operator_with_input(Node::A, &["operator", "add", "anna"], PASSWORD);
    pair.operator_with_input(
        Node::A,
        &["operator", "add", "capo", "--role", "admin"],
        PASSWORD,
    );
    let csv = pair.lab.write_file(
        "citizens.csv",
        &campaign::contacts_csv(&[(Citizen::Confirms, 24)]),
    );
    let bad = pair.lab.write_file(
        "bad.csv",
        "id,name,numbers\nC1,Rossi,0743111111\nC2,,0743222222\nC3,Bianchi,telefono\n",
    );
    // A recording in another format than the prompts' (sox makes a FLAC), and a file
    // that is not audio.
    let flac = pair.lab.dir().join("sirena.flac");
    let made = std::process::Command::new("sox")
        .args(["-n", "-r", "44100", "-c", "2"])
        .arg(&flac)
        .args(["synth", "2", "sine", "600"])
        .status()
        .expect("sox");
    assert!(made.success());
    let junk = pair.lab.write_file("appunti.mp3", "non è audio");

    let b = Browser::start(&pair.lab, "client", name);
    let base = format!("https://{VIP}");

    // Sign-in: a wrong password first, then the right one.
    b.goto(&format!("{base}/"));
    b.wait("#sign-in", Duration::from_secs(20));
    assert!(
        b.url().ends_with("/login"),
        "not sent to sign in: {}",
        b.url()
    );
    b.fill("#name", "anna");
    b.fill("#password", "sbagliata");
    b.click("#sign-in");
    b.wait("#login-error", Duration::from_secs(10));
    b.fill("#password", PASSWORD);
    b.click("#sign-in");
    b.wait("#master-line", Duration::from_secs(10));

    // Both nodes at a glance, node-a the master.
    assert!(
        wait_until(Duration::from_secs(10), || {
            b.goto(&format!("{base}/"));
            b.exists(".card.node.health-green")
                && b.text("#master-line").contains("node-a")
                && b.exists("table.sla")
        }),
        "status page: {}",
        b.text("main")
    );
    let cards = b.execute("return document.querySelectorAll('.card.node').length;");
    assert_eq!(cards, 2, "both nodes on the status page");
    b.screenshot("status");

    // A text message, heard in the browser before it is saved.
    b.goto(&format!("{base}/messages"));
    b.wait("#listen", Duration::from_secs(10));
    b.fill("#m-name", "piena");
    b.fill("#m-text", "Allerta: piena del fiume. Premere 1.");
    b.click("#listen");
    b.wait("#listen-audio", Duration::from_secs(20));
    let duration = "const a = document.getElementById('listen-audio');
                    return a && a.readyState >= 1 ? a.duration : -1;";
    assert!(
        wait_until(Duration::from_secs(10), || b.execute(duration).as_f64()
            > Some(1.0)),
        "the spoken message does not play in the browser: {}",
        b.execute(duration)
    );
    b.click("#save-text");
    assert!(
        wait_until(Duration::from_secs(20), || b.url().ends_with("saved=piena")
            && b.exists("#saved")),
        "no saved page for the text: {}",
        b.url()
    );
    // A recording: a FLAC becomes a prompt; a file that is not audio is refused, saying so.
    b.fill("#u-name", "sirena");
    b.fill("#u-file", &flac.to_string_lossy());
    b.click("#upload");
    // The page still shows the text message's "saved" notice until the upload's answer
    // replaces it: wait for the page that names the recording.
    assert!(
        wait_until(Duration::from_secs(20), || b
            .url()
            .ends_with("saved=sirena")
            && b.exists("#saved")),
        "no saved page for the recording: {}",
        b.url()
    );
    assert!(std::fs::metadata(pair.shared(Node::A).join("prompts/sirena.wav")).is_ok());
    b.fill("#u-name", "appunti");
    b.fill("#u-file", &junk.to_string_lossy());
    b.click("#upload");
    b.wait("#upload-error", Duration::from_secs(20));
    b.screenshot("messages");

    // Contacts from a file: a bad one first (every bad line shown, nothing imported).
    b.goto(&format!("{base}/contacts"));
    b.wait("#preview", Duration::from_secs(10));
    b.fill("#i-list", "Centro");
    b.fill("#i-file", &bad.to_string_lossy());
    b.click("#preview");
    b.wait("#problems", Duration::from_secs(10));
    let problems = b.text("#problems");
    assert!(
        problems.contains("riga 3: manca il nome")
            && problems.contains("riga 4: «telefono» non è un numero di telefono"),
        "{problems}"
    );
    let count = |db: &std::path::Path| -> i64 {
        rusqlite::Connection::open(db)
            .unwrap()
            .query_row("SELECT count(*) FROM contacts", [], |r| r.get(0))
            .unwrap()
    };
    assert_eq!(count(&pair.db(Node::A)), 0, "a bad file imported something");
    b.goto(&format!("{base}/contacts"));
    b.wait("#preview", Duration::from_secs(10));
    b.fill("#i-list", "Centro");
    b.fill("#i-file", &csv.to_string_lossy());
    b.click("#preview");
    b.wait("#ready", Duration::from_secs(10));
    assert!(b.text("#ready").contains("24"), "{}", b.text("#ready"));
    assert_eq!(
        count(&pair.db(Node::A)),
        0,
        "imported before the confirmation"
    );
    b.click("#import");
    b.wait("#imported", Duration::from_secs(10));
    assert_eq!(count(&pair.db(Node::A)), 24);
    b.screenshot("contacts");

    // A campaign, from the form; a wrong field first.
    b.goto(&format!("{base}/campaigns/new"));
    b.wait("#create", Duration::from_secs(10));
    b.fill("#f-name", "Piena del Tevere");
    b.select("#f-message", "piena");
    b.click("input[name=list][value=Centro]");
    b.fill("#f-lines", "molte");
    b.click("#create");
    b.wait("#e-lines", Duration::from_secs(10));
    assert!(
        b.text("#e-lines").contains("numero"),
        "{}",
        b.text("#e-lines")
    );
    // What was typed stays; only the wrong field is fixed.
    assert_eq!(
        b.attr("#f-name", "value").as_deref(),
        Some("Piena del Tevere")
    );
    b.fill("#f-lines", "4");
    b.fill("#f-cps", "4");
    b.fill("#f-ring", "5");
    b.fill("#f-retry", "2");
    b.click("#create");
    b.wait("#act-start", Duration::from_secs(10));
    let page = b.url();

    // Start, behind the confirmation page.
    b.click("#act-start");
    b.wait("#confirm", Duration::from_secs(10));
    assert!(
        b.text("main").contains("24"),
        "the confirmation names the count"
    );
    b.click("#confirm");
    b.wait(".progress-panel", Duration::from_secs(10));
    assert_eq!(b.url(), page);
    // The page marks itself: a reload or a sign-in page would lose the mark.
    b.execute("window.allertaMark = 'same page'; return true;");

    // Progress arrives live; then the master's media core dies mid-campaign.
    assert!(
        wait_until(Duration::from_secs(90), || shown(&b).0 >= 6),
        "no live progress: {:?} (live {:?})",
        shown(&b),
        b.attr("#live-state", "data-state")
    );
    let (before, total, _) = shown(&b);
    assert_eq!(total, 24);
    assert!(before < total, "the campaign ended before the failover");
    let updates_before = b.execute("return Number(document.body.dataset.updates || 0);");
    pair.kill_component(Node::A, MEDIACORE);
    assert!(
        wait_until(Duration::from_secs(20), || pair.master() == Some(Node::B)),
        "node-b never took the VIP"
    );

    // The same page carries on from the new master's ledger to 100 %.
    assert!(
        wait_until(Duration::from_secs(150), || {
            let (finished, total, state) = shown(&b);
            finished == total && state == "done"
        }),
        "the page stopped at {:?} after the failover (live {:?}; was {before} before)",
        shown(&b),
        b.attr("#live-state", "data-state")
    );
    assert_eq!(
        b.execute("return window.allertaMark || null;"),
        "same page",
        "the page was reloaded or replaced"
    );
    let updates_after = b.execute("return Number(document.body.dataset.updates || 0);");
    assert!(
        updates_after.as_u64() > updates_before.as_u64(),
        "no update after the failover ({updates_before} then {updates_after})"
    );
    assert_eq!(b.text("#percent"), "100");
    // The header names the node the panel now comes from; a finished campaign offers
    // no action.
    assert_eq!(b.text("#node-name"), "node-b");
    assert!(!b.exists("#act-pause") && !b.exists("#act-stop"));
    b.screenshot("campaign-done");

    // Still signed in on the new master: no sign-in page.
    b.goto(&format!("{base}/campaigns"));
    b.wait("#new-campaign", Duration::from_secs(10));
    assert!(!b.url().ends_with("/login"));

    // Settings, as an administrator on the master: an excluded period, a wrong field
    // first. The replicated file reaches the backup, where the supervisor's reader counts it.
    b.click(".signout button");
    b.wait("#sign-in", Duration::from_secs(10));
    b.fill("#name", "capo");
    b.fill("#password", PASSWORD);
    b.click("#sign-in");
    b.wait("#master-line", Duration::from_secs(10));
    b.goto(&format!("{base}/settings"));
    b.wait("#add-window", Duration::from_secs(10));
    b.fill("#w-from", "2026-12-24 08:00");
    b.fill("#w-to", "2026-12-24 07:00");
    b.fill("#w-text", "prova di evacuazione (ordinanza del sindaco)");
    b.click("#add-window-button");
    b.wait("#e-to", Duration::from_secs(10));
    assert_eq!(b.attr("#w-to", "aria-invalid").as_deref(), Some("true"));
    b.fill("#w-to", "2026-12-24 12:00");
    b.click("#add-window-button");
    b.wait("#done", Duration::from_secs(10));
    assert!(b.text("#excluded").contains("prova di evacuazione"));
    b.screenshot("settings");
    // The lab's preemption (2 s) may have given node-a the VIP back by now: the file went
    // to whichever node is master, and must reach the other one.
    let master = pair.master().expect("one master");
    assert_eq!(
        b.text("#node-name"),
        master.role(),
        "the page came from the master"
    );
    let backup = master.other();
    let replicated = pair.shared(backup).join("sla.toml");
    let in_force = wait_until(Duration::from_secs(20), || {
        std::fs::read_to_string(&replicated).is_ok_and(|t| t.contains("prova di evacuazione"))
            && String::from_utf8_lossy(&pair.allertactl(backup, &["sla"]).stdout)
                .contains("1 window(s)")
    });
    assert!(
        in_force,
        "{}: {:?}\n{}",
        backup.role(),
        std::fs::read_to_string(&replicated),
        String::from_utf8_lossy(&pair.allertactl(backup, &["sla"]).stdout)
    );

    // The audit names the operator for each action, on the master that now holds the data.
    let db = rusqlite::Connection::open(pair.db(Node::B)).expect("node-b's database");
    let audited: Vec<String> = db
        .prepare("SELECT what FROM audit WHERE who = 'anna' ORDER BY id")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    for what in [
        "console sign-in",
        "message set",
        "contacts import",
        "campaign create",
        "campaign start",
    ] {
        assert!(
            audited.iter().any(|w| w == what),
            "no {what:?} by anna in the audit: {audited:?}"
        );
    }
    let on_master = rusqlite::Connection::open(pair.db(master)).expect("the master's database");
    let settings: Vec<String> = on_master
        .prepare("SELECT detail FROM audit WHERE who = 'capo' AND what = 'sla window excluded'")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        settings,
        ["excluded: prova di evacuazione (ordinanza del sindaco) (2026-12-24 08:00:00 to 2026-12-24 12:00:00)"]
    );
}
