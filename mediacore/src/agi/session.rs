//! Driver: one `AGI()` run on a call. Connects to the FastAGI server (or starts the local
//! script), sends the `agi_*` environment, then reads one command line at a time and
//! answers each once it is done on the call (`protocol` reads and writes the lines).
//!
//! The call's media are the dialplan's (`call::runner`): `STREAM FILE` plays a prompt,
//! `GET DATA` and `WAIT FOR DIGIT` collect digits, `RECORD FILE` records under the rule of
//! `Record()`, variables are the channel's, the database is AstDB. When the caller hangs
//! up, the script is sent `HANGUP` and the connection closed, as Asterisk does for FastAGI;
//! when the script closes, the dialplan goes on (at the position `SET CONTEXT`/`EXTENSION`/
//! `PRIORITY` gave, if any). `AGISTATUS` says how it ended: `SUCCESS`, `FAILURE` (could not
//! connect or start, or the script went silent for [`COMMAND_WAIT`]) or `HANGUP`.
//!
//! Deliberate differences: a non-escape digit stops `STREAM FILE` like an escape digit
//! does but is then ignored (result 0); `EXEC` runs the applications that are one
//! dialplan step (Playback, Background, Read, WaitExten, Record, Wait, SayDigits,
//! SayNumber, Playtones, StopPlaytones, SendDTMF, Verbose, Set, UserEvent, NoOp) and
//! answers -2 (application not found) for others; `SAY DIGITS`/`SAY NUMBER` play the
//! prompts `dialplan::say` names (Italian, shipped in the image).

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{
    AsyncBufReadExt, AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt, BufReader,
};
use tokio::sync::mpsc;
use tracing::{info, warn};

use super::protocol::{self, Command, Env, Target, MAX_LINE};
use crate::call::input::{read_digits_timed, record, wake_outcome};
use crate::call::shared::Shared;
use crate::call::steps;
use crate::dialplan::exec::{Action, Execution, Outcome};
use crate::dialplan::parse::Dialplan;
use crate::engine::{self, LegId};
use crate::media::{Source, Stream, Wake};
use crate::sip::call::CallEvent;

/// How long to wait for a FastAGI server to accept.
const CONNECT: Duration = Duration::from_secs(5);
/// How long a script may take to send its next command before it counts as gone.
pub const COMMAND_WAIT: Duration = Duration::from_secs(300);
/// GET DATA's wait per digit when the script gives none.
const GET_DATA_TIMEOUT: Duration = Duration::from_secs(5);

/// Where the dialplan goes on after the script, if it said (`SET CONTEXT`/`EXTENSION`/
/// `PRIORITY`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Jump {
    /// Context.
    pub context: String,
    /// Extension.
    pub exten: String,
    /// Priority.
    pub priority: u32,
}

/// The call an AGI script drives.
pub(crate) struct Call<'a> {
    pub shared: &'a Shared,
    pub leg: LegId,
    pub stream: &'a mut Stream,
    pub events: &'a mut mpsc::UnboundedReceiver<CallEvent>,
    pub exec: &'a mut Execution,
    /// Whether the call is answered; the SDP answer to answer it with.
    pub answered: &'a mut bool,
    pub answer_sdp: &'a [u8],
}

impl Call<'_> {
    fn answer(&mut self) {
        if !*self.answered {
            let _ = self
                .shared
                .commands
                .send(engine::Command::Answer(self.leg, self.answer_sdp.to_vec()));
            *self.answered = true;
        }
        self.stream.set_sending(true);
    }
}

/// Runs `AGI(target, args…)` on `call`; the outcome for the dialplan and where to go on.
pub(crate) async fn run(call: Call<'_>, target: &str, args: &[String]) -> (Outcome, Option<Jump>) {
    let parsed = match Target::parse(target) {
        Ok(t) => t,
        Err(error) => {
            warn!(%error, "agi");
            call.exec.set_var("AGISTATUS", "FAILURE");
            return (Outcome::Done, None);
        }
    };
    let env = Env {
        request: target.to_owned(),
        network_script: match &parsed {
            Target::Network { script, .. } => Some(script.clone()),
            Target::Local { .. } => None,
        },
        channel: call.exec.var("CHANNEL").unwrap_or_default().to_owned(),
        uniqueid: call.exec.var("UNIQUEID").unwrap_or_default().to_owned(),
        callerid: call
            .exec
            .var("CALLERID(num)")
            .unwrap_or_default()
            .to_owned(),
        calleridname: call
            .exec
            .var("CALLERID(name)")
            .unwrap_or_default()
            .to_owned(),
        dnid: call.exec.exten().to_owned(),
        context: call.exec.context().to_owned(),
        extension: call.exec.exten().to_owned(),
        priority: call.exec.priority(),
        args: args.to_vec(),
    };
    match parsed {
        Target::Network { host, port, .. } => {
            let connected = tokio::time::timeout(
                CONNECT,
                tokio::net::TcpStream::connect((host.as_str(), port)),
            )
            .await;
            match connected {
                Ok(Ok(socket)) => {
                    let (rd, wr) = socket.into_split();
                    converse(call, &env, BufReader::new(rd), wr).await
                }
                _ => {
                    warn!(%host, port, "agi: cannot connect to the FastAGI server");
                    call.exec.set_var("AGISTATUS", "FAILURE");
                    (Outcome::Done, None)
                }
            }
        }
        Target::Local { path } => {
            if !Path::new(&path).is_absolute() {
                warn!(%path, "agi: a local script needs an absolute path");
                call.exec.set_var("AGISTATUS", "FAILURE");
                return (Outcome::Done, None);
            }
            let child = tokio::process::Command::new(&path)
                .args(args)
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .kill_on_drop(true)
                .spawn();
            match child {
                Ok(mut child) => {
                    let (Some(stdout), Some(stdin)) = (child.stdout.take(), child.stdin.take())
                    else {
                        call.exec.set_var("AGISTATUS", "FAILURE");
                        return (Outcome::Done, None);
                    };
                    let result = converse(call, &env, BufReader::new(stdout), stdin).await;
                    let _ = child.start_kill();
                    let _ = child.wait().await;
                    result
                }
                Err(error) => {
                    warn!(%path, %error, "agi: cannot start the script");
                    call.exec.set_var("AGISTATUS", "FAILURE");
                    (Outcome::Done, None)
                }
            }
        }
    }
}

/// What waiting for the script's next line gave.
enum Next {
    Line(String),
    Closed,
    Silent,
    HungUp,
}

async fn next_line<R: AsyncRead + Unpin>(
    reader: &mut BufReader<R>,
    events: &mut mpsc::UnboundedReceiver<CallEvent>,
    stream: &mut Stream,
) -> Next {
    let mut buf = Vec::new();
    let read = async {
        let mut limited = (&mut *reader).take((MAX_LINE + 1) as u64);
        limited.read_until(b'\n', &mut buf).await
    };
    let deadline = tokio::time::sleep(COMMAND_WAIT);
    tokio::pin!(read, deadline);
    loop {
        tokio::select! {
            read = &mut read => {
                return match read {
                    Ok(0) | Err(_) => Next::Closed,
                    Ok(_) if buf.len() > MAX_LINE => Next::Closed,
                    Ok(_) => Next::Line(
                        String::from_utf8_lossy(&buf).trim_end_matches(['\r', '\n']).to_owned(),
                    ),
                };
            }
            () = &mut deadline => return Next::Silent,
            event = events.recv() => match event {
                None | Some(CallEvent::Ended(_)) => return Next::HungUp,
                // The ACK to ANSWER's 2xx, with the answer to a delayed offer.
                Some(CallEvent::Confirmed { sdp }) => if !stream.on_confirmed(&sdp) {
                    return Next::HungUp;
                },
                Some(_) => {}
            },
        }
    }
}

async fn converse<R, W>(
    mut call: Call<'_>,
    env: &Env,
    mut reader: BufReader<R>,
    mut writer: W,
) -> (Outcome, Option<Jump>)
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut jump: Option<Jump> = None;
    if writer.write_all(env.to_lines().as_bytes()).await.is_err() {
        call.exec.set_var("AGISTATUS", "FAILURE");
        return (Outcome::Done, None);
    }
    loop {
        let line = match next_line(&mut reader, call.events, call.stream).await {
            Next::Line(line) => line,
            Next::Closed => {
                call.exec.set_var("AGISTATUS", "SUCCESS");
                return (Outcome::Done, jump);
            }
            Next::Silent => {
                warn!("agi: the script sent nothing for {COMMAND_WAIT:?}; going on without it");
                call.exec.set_var("AGISTATUS", "FAILURE");
                return (Outcome::Done, jump);
            }
            Next::HungUp => {
                let _ = writer.write_all(b"HANGUP\n").await;
                call.exec.set_var("AGISTATUS", "HANGUP");
                return (Outcome::HungUp, None);
            }
        };
        if line.trim().is_empty() {
            continue;
        }
        let (reply, hung_up) = match protocol::parse(&line) {
            Err(refusal) => (refusal.reply(), false),
            Ok(command) => perform(&mut call, command, &mut jump).await,
        };
        if writer.write_all(reply.as_bytes()).await.is_err() {
            call.exec.set_var("AGISTATUS", "SUCCESS");
            return (
                if hung_up {
                    Outcome::HungUp
                } else {
                    Outcome::Done
                },
                jump,
            );
        }
        if hung_up {
            call.exec.set_var("AGISTATUS", "HANGUP");
            return (Outcome::HungUp, None);
        }
    }
}

/// Performs one command; its reply, and whether the call is over.
async fn perform(call: &mut Call<'_>, command: Command, jump: &mut Option<Jump>) -> (String, bool) {
    let ok = |n: i64| (protocol::result(&n.to_string(), None, None), false);
    match command {
        Command::Answer => {
            call.answer();
            ok(0)
        }
        Command::Hangup => (protocol::result("1", None, None), true),
        Command::Noop | Command::SetAutohangup(_) => ok(0),
        Command::Verbose { message } => {
            info!(%message, "agi verbose");
            ok(1)
        }
        Command::ChannelStatus => ok(if *call.answered { 6 } else { 4 }),
        Command::SetVariable { name, value } => {
            call.exec.set_var(&name, &value);
            ok(1)
        }
        Command::GetVariable { name } => match call.exec.var(&name) {
            Some(value) => (protocol::result("1", Some(value), None), false),
            None => ok(0),
        },
        Command::GetFullVariable { expression } => match call.exec.expand_template(&expression) {
            Ok(value) => (protocol::result("1", Some(&value), None), false),
            Err(_) => ok(0),
        },
        Command::StreamFile { file, escape } => {
            call.answer();
            play(call, &[file], &escape).await
        }
        Command::SayDigits { digits, escape } => {
            call.answer();
            let files = crate::dialplan::say::digits(&digits);
            play(call, &files, &escape).await
        }
        Command::SayNumber { number, escape } => {
            call.answer();
            match crate::dialplan::say::number(number) {
                Ok(files) => play(call, &files, &escape).await,
                Err(error) => {
                    warn!(%error, "SAY NUMBER");
                    ok(-1)
                }
            }
        }
        Command::GetData {
            file,
            timeout_ms,
            max_digits,
        } => {
            call.answer();
            let prompts = call.shared.prompts(&[file]).unwrap_or_default();
            let timeout = timeout_ms.map_or(GET_DATA_TIMEOUT, Duration::from_millis);
            match read_digits_timed(call.stream, &prompts, max_digits, timeout, call.events).await {
                Ok((digits, timed_out)) => {
                    let mut reply = format!("200 result={digits}");
                    if timed_out {
                        reply.push_str(" (timeout)");
                    }
                    reply.push('\n');
                    (reply, false)
                }
                Err(Outcome::HungUp) => (protocol::result("-1", None, None), true),
                Err(_) => ok(-1),
            }
        }
        Command::WaitForDigit { timeout_ms } => {
            call.answer();
            let deadline = timeout_ms.map(|ms| Instant::now() + Duration::from_millis(ms));
            match call
                .stream
                .run(Source::Silence, false, true, deadline, call.events)
                .await
            {
                Wake::Digit(d) => ok(protocol::digit_code(d)),
                Wake::Timeout | Wake::Done => ok(0),
                _ => (protocol::result("-1", None, None), true),
            }
        }
        Command::RecordFile {
            file,
            format,
            timeout_ms,
            ..
        } => {
            call.answer();
            if !format.eq_ignore_ascii_case("wav") {
                return ok(-1);
            }
            let max = timeout_ms.map(Duration::from_millis);
            match record(call.stream, call.shared, &file, max, call.events).await {
                Outcome::HungUp => (protocol::result("-1", None, None), true),
                _ => (protocol::result("0", None, Some(0)), false),
            }
        }
        Command::Exec { app, data } => exec(call, &app, &data).await,
        Command::SetContext(context) => {
            jump_to(call, jump).context = context;
            ok(0)
        }
        Command::SetExtension(exten) => {
            jump_to(call, jump).exten = exten;
            ok(0)
        }
        Command::SetPriority(priority) => match priority.parse::<u32>() {
            Ok(p) if p > 0 => {
                jump_to(call, jump).priority = p;
                ok(0)
            }
            _ => ok(-1),
        },
        Command::DatabaseGet { family, key } => {
            match database(call, move |s| s.db_get(&family, &key)).await {
                Some(Some(value)) => (protocol::result("1", Some(&value), None), false),
                _ => ok(0),
            }
        }
        // AstDB is written on the master only (replication is one way), as AMI's DBPut
        // and the dialplan's Set(DB()): a backup answers 0, as for a failed write.
        Command::DatabasePut { .. } | Command::DatabaseDel { .. } if !call.shared.is_master() => {
            warn!("agi: AstDB is written on the master only; this node is not");
            ok(0)
        }
        Command::DatabasePut { family, key, value } => {
            match database(call, move |s| s.db_put(&family, &key, &value)).await {
                Some(()) => ok(1),
                None => ok(0),
            }
        }
        Command::DatabaseDel { family, key } => {
            match database(call, move |s| s.db_del(&family, &key)).await {
                Some(true) => ok(1),
                _ => ok(0),
            }
        }
    }
}

/// The position the dialplan goes on at, starting from where it is now (the priority
/// after `AGI()`).
fn jump_to<'j>(call: &Call<'_>, jump: &'j mut Option<Jump>) -> &'j mut Jump {
    jump.get_or_insert_with(|| Jump {
        context: call.exec.context().to_owned(),
        exten: call.exec.exten().to_owned(),
        priority: call.exec.priority().saturating_add(1),
    })
}

/// Plays `files`, stopping on a digit when `escape` lists any: the STREAM FILE reply.
async fn play(call: &mut Call<'_>, files: &[String], escape: &str) -> (String, bool) {
    let prompts = match call.shared.prompts(files) {
        Ok(p) => p,
        Err(error) => {
            warn!(%error, "agi: prompt missing");
            return (protocol::result("-1", None, Some(0)), false);
        }
    };
    let samples: u64 = prompts.iter().map(|p| p.samples().len() as u64).sum();
    let wake = call
        .stream
        .run(
            Source::Prompts(&prompts),
            true,
            !escape.is_empty(),
            None,
            call.events,
        )
        .await;
    match wake {
        Wake::Digit(d) if escape.contains(d) => (
            protocol::result(&protocol::digit_code(d).to_string(), None, Some(0)),
            false,
        ),
        Wake::Digit(_) | Wake::Done | Wake::Timeout | Wake::Interrupted => {
            (protocol::result("0", None, Some(samples)), false)
        }
        other => match wake_outcome(other) {
            Outcome::HungUp => (protocol::result("-1", None, None), true),
            _ => (protocol::result("-1", None, None), false),
        },
    }
}

/// The applications `EXEC` runs: those that are one step of the dialplan.
const EXEC_APPS: [&str; 15] = [
    "playback",
    "background",
    "read",
    "waitexten",
    "record",
    "wait",
    "saydigits",
    "saynumber",
    "playtones",
    "stopplaytones",
    "senddtmf",
    "verbose",
    "set",
    "userevent",
    "noop",
];

/// EXEC: runs one application on the call as the dialplan would (the same parser and the
/// same media steps), so its arguments, its errors and the variables it sets (`READSTATUS`,
/// `Read`'s variable, `PLAYBACKSTATUS`…) are the dialplan's; the variables are the
/// channel's afterwards. The result is 0, or -1 when the application failed or the caller
/// hung up; an application that is not one step (Dial, Goto, Gosub, AGI, Hangup…) or not
/// ours answers -2, Asterisk's "no such application". Deliberate difference: `${…}` in the
/// data are expanded (Asterisk does that only with `AGIEXECFULL=yes`).
async fn exec(call: &mut Call<'_>, app: &str, data: &str) -> (String, bool) {
    let failed = || (protocol::result("-1", None, None), false);
    if !EXEC_APPS.contains(&app.to_ascii_lowercase().as_str()) || data.contains('\n') {
        warn!(%app, "agi: EXEC of an application we do not run from AGI");
        return (protocol::result("-2", None, None), false);
    }
    // Asterisk 1.4's `|` between arguments is still sent by older scripts.
    let text = format!(
        "[agi-exec]\nexten => s,1,{app}({})\n",
        data.replace('|', ",")
    );
    let plan = match Dialplan::parse_str(&text, "AGI EXEC") {
        Ok(plan) => Arc::new(plan),
        Err(error) => {
            warn!(%error, "agi: EXEC arguments refused");
            return failed();
        }
    };
    let vars = call.exec.vars().clone();
    let mut once = Execution::new(plan.clone(), "agi-exec", "s", vars)
        .with_environment(call.shared.environment());
    let action = once.step(Outcome::Start);
    let outcome = match &action {
        Action::Hangup { .. } => {
            // Set and NoOp run inside the step; anything else here is a runtime error.
            if let Some(reason) = once.hangup_reason() {
                warn!(%reason, "agi: EXEC failed");
                return failed();
            }
            None
        }
        Action::Verbose { message, .. } => {
            info!(%message, "agi exec verbose");
            Some(Outcome::Done)
        }
        Action::UserEvent { name, fields } => {
            let channel = call.exec.var("CHANNEL").map(str::to_owned);
            let uniqueid = call.exec.var("UNIQUEID").map(str::to_owned);
            call.shared.user_event(
                name,
                fields.clone(),
                channel.as_deref(),
                uniqueid.as_deref(),
            );
            Some(Outcome::Done)
        }
        step if steps::is_stream_step(step) => {
            if !matches!(
                step,
                Action::Wait(_) | Action::Playtones(_) | Action::StopPlaytones
            ) {
                call.answer();
            }
            steps::run(
                call.shared,
                call.stream,
                call.events,
                step,
                &plan,
                "agi-exec",
            )
            .await
        }
        _ => return (protocol::result("-2", None, None), false),
    };
    if let Some(outcome) = outcome.clone() {
        once.step(outcome);
    }
    for (name, value) in once.vars() {
        if call.exec.var(name) != Some(value.as_str()) {
            call.exec.set_var(name, value);
        }
    }
    match outcome {
        Some(Outcome::HungUp) => (protocol::result("-1", None, None), true),
        Some(Outcome::PlaybackFailed) => failed(),
        _ => (protocol::result("0", None, None), false),
    }
}

/// A database operation off the async runtime; `None` when there is no database or it
/// failed (logged).
async fn database<T: Send + 'static>(
    call: &Call<'_>,
    f: impl FnOnce(&mut crate::campaign::store::Store) -> Result<T, crate::campaign::store::StoreError>
        + Send
        + 'static,
) -> Option<T> {
    let store: Arc<std::sync::Mutex<crate::campaign::store::Store>> = call.shared.store.clone()?;
    match crate::campaign::dialer::blocking(&store, f).await {
        Ok(v) => Some(v),
        Err(error) => {
            warn!(%error, "agi: database");
            None
        }
    }
}
