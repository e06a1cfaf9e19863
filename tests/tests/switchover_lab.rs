//! A planned switchover in the middle of a campaign, on the shipped pair: `allertactl
//! switchover --drain 30` on the master stops its new campaign calls at once, lets the calls
//! in progress end (the drain ends with them, long before its 30 s), hands the role to the
//! backup, which goes on with the campaign to the end: no call cut, nobody who pressed 1
//! called again. Needs root, sipp and tshark.
//!
//! Lab differences: the pair's own (`shipped_node`).

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use system_tests::appliance::{self, Appliance, Setup};
use system_tests::campaign::{self, Citizen};
use system_tests::lab::{wait_until_every, Node};

#[test]
fn a_switchover_mid_campaign_drains_the_master_and_the_backup_finishes_it() {
    let mut pair = Appliance::start(
        "swo",
        Setup {
            lines: 4,
            ..Setup::default()
        },
    );
    let confirmers = 12;
    pair.start_campaign(
        Node::A,
        "cambio",
        &[(Citizen::Confirms, confirmers), (Citizen::NoAnswer, 8)],
    );
    assert!(
        wait_until_every(Duration::from_secs(30), Duration::from_millis(100), || {
            pair.progress(Node::A, "cambio")
                .is_some_and(|p| p.finished() >= 2 && p.calling > 0)
        })
        .is_some(),
        "no calls in progress on the master"
    );

    let asked = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let t = Instant::now();
    let out = pair.allertactl(Node::A, &["switchover", "--drain", "30"]);
    let took = t.elapsed();
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "switchover: {said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        said.contains("mediacore drained"),
        "the media core's calls did not end within the drain: {said}"
    );
    // A ringing call lasts at most 5 s (the campaign's ring time), a confirmed one a few
    // seconds of message: the drain ends with them, not at its 30 s.
    assert!(
        took < Duration::from_secs(20),
        "the switchover took {took:?}: {said}"
    );
    assert!(
        wait_until_every(Duration::from_secs(10), Duration::from_millis(50), || pair
            .master()
            == Some(Node::B))
        .is_some(),
        "node-b never took over"
    );
    assert!(
        wait_until_every(Duration::from_secs(120), Duration::from_millis(250), || {
            pair.progress(Node::B, "cambio")
                .is_some_and(|p| p.state == "done")
        })
        .is_some(),
        "node-b never finished the campaign: {:?}",
        pair.progress(Node::B, "cambio")
    );
    pair.stop_carrier();

    // No campaign call left node-a once the drain began (an INVITE already on its way,
    // 200 ms, aside); node-b made the rest.
    let calls = campaign::calls_in(&pair.pcap());
    let a = Node::A.voice_ip().to_string();
    let late: Vec<_> = calls
        .iter()
        .filter(|c| c.from == a && c.start > asked + 0.2)
        .map(|c| (&c.number, c.start - asked))
        .collect();
    assert!(
        late.is_empty(),
        "node-a called after the drain began: {late:?}"
    );
    let b = Node::B.voice_ip().to_string();
    assert!(calls.iter().any(|c| c.from == b), "node-b made no call");

    // Nothing cut, nothing lost, nobody called twice.
    let progress = pair.progress(Node::B, "cambio").unwrap();
    assert_eq!(progress.confirmed, confirmers as u64, "{progress:?}");
    let db = pair.db(Node::B);
    assert_eq!(
        appliance::interrupted_attempts(&db),
        0,
        "calls cut by the switchover"
    );
    let mut confirmed = appliance::confirmations(&db);
    confirmed.extend(appliance::confirmations(&pair.db(Node::A)));
    let again = appliance::called_after_confirming(&calls, &confirmed);
    assert!(again.is_empty(), "called again after confirming: {again:?}");
}
