//! Messages: the list (each with a player, and who set it and when: a message recorded by
//! phone names the operator whose PIN was used), a text spoken by espeak-ng that the
//! operator can listen to before saving it, and a recording uploaded in any format sox
//! reads, converted to the prompts' format, with sox's reason when it cannot be.
//!
//! What the operator hears is the very prompt a campaign call plays: the text is spoken into
//! the same cache under the same name (`prompts::tts`). Speaking and converting run on
//! blocking threads, two at a time, so they never slow the pages or the dialling node.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use serde::Deserialize;
use tracing::{info, warn};

use alertdb::console::MessageInfo;
use prompts::convert;

use super::{db_failure, failure, when, Chrome};
use crate::app::App;
use crate::i18n::Texts;
use crate::session::Signed;

/// The largest recording file taken.
pub const MAX_UPLOAD: usize = 32 * 1024 * 1024;
/// The longest text spoken.
const MAX_TEXT: usize = 2000;
/// The voices there are (espeak-ng's, in the image).
pub const LANGUAGES: [&str; 4] = ["it", "en", "de", "fr"];

/// A message's line in the list.
pub struct Line {
    pub info: MessageInfo,
    pub kind: String,
    /// Where its audio plays from (a text: its spoken prompt, once spoken).
    pub audio: Option<String>,
    pub set: String,
}

#[derive(Debug, Clone, Default)]
pub struct TextFields {
    pub name: String,
    pub language: String,
    pub text: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "messages.html")]
pub struct MessagesPage {
    pub t: Texts,
    pub chrome: Chrome,
    pub lines: Vec<Line>,
    pub f: TextFields,
    /// The spoken text to listen to, before saving.
    pub listen: Option<String>,
    /// (field, problem) for the text form; `upload` for the recording form.
    pub errors: Vec<(String, String)>,
    pub saved: Option<String>,
    pub languages: &'static [&'static str],
}

impl MessagesPage {
    pub fn error(&self, field: &str) -> Option<&str> {
        self.errors
            .iter()
            .find(|(f, _)| f == field)
            .map(|(_, e)| e.as_str())
    }
}

/// The audio URL of a prompt name (`tts/<hash>` or a recording's name).
fn audio_url(prompt: &str) -> String {
    format!("/audio/{prompt}")
}

async fn render(
    app: &App,
    signed: &Signed,
    f: TextFields,
    listen: Option<String>,
    errors: Vec<(String, String)>,
    saved: Option<String>,
) -> Response {
    let messages = match app.db.read(|s| s.message_rows()).await {
        Ok(m) => m,
        Err(e) => return db_failure(e),
    };
    let t = signed.texts;
    let dir = app.config.prompts_dir.clone();
    let lines = messages
        .into_iter()
        .map(|info| {
            let prompt = match info.kind.as_str() {
                "text" => prompts::tts::cached(&dir, &info.body, &info.language),
                _ => Some(info.body.trim_end_matches(".wav").to_owned())
                    .filter(|n| dir.join(format!("{n}.wav")).is_file()),
            };
            Line {
                kind: t.get(&format!("message.kind.{}", info.kind)).to_owned(),
                audio: prompt.as_deref().map(audio_url),
                set: match (&info.set_by, info.set_at) {
                    (Some(who), Some(at)) => format!("{who}, {}", when(at)),
                    _ => String::new(),
                },
                info,
            }
        })
        .collect();
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let page = MessagesPage {
        chrome: Chrome::new(app, &t, Some(signed), "messages"),
        lines,
        f,
        listen,
        errors,
        saved,
        languages: &LANGUAGES,
        t,
    };
    (status, page).into_response()
}

#[derive(Debug, Default, Deserialize)]
pub struct SavedQuery {
    #[serde(default)]
    pub saved: Option<String>,
}

pub async fn page(State(app): State<App>, signed: Signed, Query(q): Query<SavedQuery>) -> Response {
    let t = signed.texts;
    let saved = q
        .saved
        .filter(|n| n.chars().count() <= 64)
        .map(|n| t.fill("message.saved", &n));
    let f = TextFields {
        language: "it".into(),
        ..TextFields::default()
    };
    render(&app, &signed, f, None, vec![], saved).await
}

/// A message's name: what campaigns and the command line call it.
fn name_problem(t: &Texts, name: &str) -> Option<String> {
    let n = name.trim();
    (n.is_empty() || n.chars().count() > 64 || n.chars().any(char::is_control))
        .then(|| t.get("message.problem.name").to_owned())
}

#[derive(Debug, Deserialize)]
pub struct TextForm {
    #[serde(default)]
    pub _csrf: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub language: String,
    #[serde(default)]
    pub text: String,
    /// `listen` (speak it and play it here) or `save`.
    #[serde(default)]
    pub action: String,
}

pub async fn text(State(app): State<App>, signed: Signed, Form(form): Form<TextForm>) -> Response {
    let t = signed.texts;
    let keys = match app.db.read(|s| s.console_keys()).await {
        Ok(k) => k,
        Err(e) => return db_failure(e),
    };
    if !signed.csrf_ok(&keys, &form._csrf) {
        return super::forged(&app, &signed.texts);
    }
    let f = TextFields {
        name: form.name.trim().to_owned(),
        language: form.language.clone(),
        text: form.text.trim().to_owned(),
    };
    let mut errors = Vec::new();
    if let Some(e) = name_problem(&t, &f.name) {
        errors.push(("name".to_owned(), e));
    }
    if f.text.is_empty() || f.text.chars().count() > MAX_TEXT {
        errors.push(("text".to_owned(), t.get("message.problem.text").to_owned()));
    }
    if !LANGUAGES.contains(&f.language.as_str()) {
        errors.push((
            "language".to_owned(),
            t.get("message.problem.language").to_owned(),
        ));
    }
    // Listening needs only the text; saving needs the name too.
    let listening = form.action == "listen";
    errors.retain(|(field, _)| !(listening && field == "name"));
    if !errors.is_empty() {
        app.count(|c| &c.invalid_forms);
        return render(&app, &signed, f, None, errors, None).await;
    }
    let spoken = {
        let Ok(_turn) = app.media_jobs.acquire().await else {
            return failure(StatusCode::SERVICE_UNAVAILABLE, "shutting down".into());
        };
        let (dir, text, language) = (
            app.config.prompts_dir.clone(),
            f.text.clone(),
            f.language.clone(),
        );
        tokio::task::spawn_blocking(move || prompts::tts::speak(&dir, &text, &language))
            .await
            .unwrap_or_else(|e| Err(e.to_string()))
    };
    let prompt = match spoken {
        Ok(p) => p,
        Err(e) => {
            warn!(error = %e, "speaking a message");
            let errors = vec![(
                "text".to_owned(),
                format!("{}: {e}", t.get("message.tts_failed")),
            )];
            return render(&app, &signed, f, None, errors, None).await;
        }
    };
    if listening {
        return render(&app, &signed, f, Some(audio_url(&prompt)), vec![], None).await;
    }
    let (who, name, body, language) = (
        signed.operator.name.clone(),
        f.name.clone(),
        f.text.clone(),
        f.language.clone(),
    );
    match app
        .db
        .run(move |s| s.add_message(&name, "text", &body, &language, &who))
        .await
    {
        Ok(()) => {
            info!(operator = %signed.operator.name, message = %f.name, "text message set");
            saved_redirect(&f.name)
        }
        Err(e) => db_failure(e),
    }
}

fn saved_redirect(name: &str) -> Response {
    Redirect::to(&format!("/messages?{}", super::query(&[("saved", name)]))).into_response()
}

pub async fn upload(State(app): State<App>, signed: Signed, mut form: Multipart) -> Response {
    let t = signed.texts;
    let (mut csrf, mut name, mut language) = (String::new(), String::new(), "it".to_owned());
    let mut file: Option<(String, std::path::PathBuf)> = None;
    let problem = |key: &str| vec![("upload".to_owned(), t.get(key).to_owned())];
    let defaults = TextFields {
        language: "it".into(),
        ..TextFields::default()
    };
    let tmp = std::env::temp_dir();
    loop {
        let field = match form.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(_) => {
                app.count(|c| &c.invalid_forms);
                if let Some((_, p)) = &file {
                    let _ = std::fs::remove_file(p);
                }
                return render(
                    &app,
                    &signed,
                    defaults,
                    None,
                    problem("message.upload_failed"),
                    None,
                )
                .await;
            }
        };
        match field.name().unwrap_or_default() {
            "_csrf" => csrf = field.text().await.unwrap_or_default(),
            "name" => name = field.text().await.unwrap_or_default().trim().to_owned(),
            "language" => language = field.text().await.unwrap_or_default(),
            "recording" => {
                let original = field.file_name().unwrap_or_default().to_owned();
                let Ok(bytes) = field.bytes().await else {
                    app.count(|c| &c.invalid_forms);
                    let errors = problem("message.upload_failed");
                    return render(&app, &signed, defaults, None, errors, None).await;
                };
                if bytes.is_empty() {
                    continue;
                }
                let path = tmp.join(format!(
                    "allerta-upload-{}-{:016x}",
                    std::process::id(),
                    rand_u64()
                ));
                if let Err(e) = std::fs::write(&path, &bytes) {
                    warn!(error = %e, "saving an upload");
                    return failure(StatusCode::SERVICE_UNAVAILABLE, e.to_string());
                }
                file = Some((original, path));
            }
            _ => {}
        }
    }
    let cleanup = |file: &Option<(String, std::path::PathBuf)>| {
        if let Some((_, p)) = file {
            let _ = std::fs::remove_file(p);
        }
    };
    let keys = match app.db.read(|s| s.console_keys()).await {
        Ok(k) => k,
        Err(e) => {
            cleanup(&file);
            return db_failure(e);
        }
    };
    if !signed.csrf_ok(&keys, &csrf) {
        cleanup(&file);
        return super::forged(&app, &signed.texts);
    }
    let mut errors = Vec::new();
    if !convert::valid_name(&name) {
        errors.push((
            "upload".to_owned(),
            t.get("message.problem.file_name").to_owned(),
        ));
    }
    if !LANGUAGES.contains(&language.as_str()) {
        errors.push((
            "upload".to_owned(),
            t.get("message.problem.language").to_owned(),
        ));
    }
    let Some((original, path)) = file.clone() else {
        errors.push(("upload".to_owned(), t.get("message.no_file").to_owned()));
        app.count(|c| &c.invalid_forms);
        return render(&app, &signed, defaults, None, errors, None).await;
    };
    if !errors.is_empty() {
        cleanup(&file);
        app.count(|c| &c.invalid_forms);
        return render(&app, &signed, defaults, None, errors, None).await;
    }
    let converted = {
        let Ok(_turn) = app.media_jobs.acquire().await else {
            cleanup(&file);
            return failure(StatusCode::SERVICE_UNAVAILABLE, "shutting down".into());
        };
        let (dir, name) = (app.config.prompts_dir.clone(), name.clone());
        let upload = path.clone();
        tokio::task::spawn_blocking(move || convert::recording(&dir, &name, &upload, &original))
            .await
            .unwrap_or_else(|e| Err(convert::ConvertError::Io(e.to_string())))
    };
    cleanup(&file);
    if let Err(e) = converted {
        app.count(|c| &c.invalid_forms);
        let errors = vec![("upload".to_owned(), conversion_problem(&t, &e))];
        return render(&app, &signed, defaults, None, errors, None).await;
    }
    let (who, message) = (signed.operator.name.clone(), name.clone());
    match app
        .db
        .run(move |s| s.add_message(&message, "recording", &message, &language, &who))
        .await
    {
        Ok(()) => {
            info!(operator = %signed.operator.name, message = %name, "recording uploaded");
            saved_redirect(&name)
        }
        Err(e) => db_failure(e),
    }
}

/// Why a recording cannot be used, in the operator's words (sox's own reason kept, without
/// the node's file names).
pub fn conversion_problem(t: &Texts, e: &convert::ConvertError) -> String {
    use convert::ConvertError as E;
    match e {
        E::Name(_) => t.get("message.problem.file_name").to_owned(),
        E::NotAudio(why) => {
            let reason = why.rsplit("': ").next().unwrap_or(why).trim();
            t.fill("message.not_audio", reason)
        }
        E::TooLong(secs) => t.fill("message.too_long", &format!("{secs:.0}")),
        E::NoSox(_) | E::Io(_) => format!("{}: {e}", t.get("message.convert_failed")),
    }
}

fn rand_u64() -> u64 {
    use ring::rand::SecureRandom;
    let mut b = [0u8; 8];
    let _ = ring::rand::SystemRandom::new().fill(&mut b);
    u64::from_le_bytes(b)
}

/// A prompt's audio, for the players: a spoken text (`tts/<hash>`) or a recording's name;
/// nothing outside the prompts directory.
pub async fn audio(
    State(app): State<App>,
    _signed: Signed,
    Path(prompt): Path<String>,
) -> Response {
    let ok = match prompt.split_once('/') {
        Some(("tts", hash)) => hash.len() == 20 && hash.bytes().all(|b| b.is_ascii_hexdigit()),
        Some(_) => false,
        None => convert::valid_name(&prompt),
    };
    if !ok {
        return failure(StatusCode::NOT_FOUND, "no such prompt".into());
    }
    let path = app.config.prompts_dir.join(format!("{prompt}.wav"));
    let read = tokio::task::spawn_blocking(move || std::fs::read(path)).await;
    match read {
        Ok(Ok(bytes)) => (
            [
                (header::CONTENT_TYPE, "audio/wav"),
                (header::CACHE_CONTROL, "private, max-age=60"),
            ],
            bytes,
        )
            .into_response(),
        _ => failure(StatusCode::NOT_FOUND, "no such prompt".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::i18n::Lang;

    #[test]
    fn a_refused_recording_is_explained_without_the_nodes_paths() {
        let t = Texts::new(Lang::It);
        let e = convert::ConvertError::NotAudio(
            "sox FAIL formats: can't open input file `/tmp/allerta-upload-1.mp3': Invalid argument"
                .into(),
        );
        let text = conversion_problem(&t, &e);
        assert!(
            text.contains("Invalid argument") && !text.contains("/tmp"),
            "{text}"
        );
        assert!(conversion_problem(&t, &convert::ConvertError::TooLong(700.2)).contains("700"));
    }
}
