//! The contributor's mini-app, rendered into any element of any page: `mount(element)`.
//!
//! The flow a wallet user lives: connect (one Sign-In with Ethereum signature, for a session key
//! made here) → pick a campaign → tasks one after another, each signed by the session key (no
//! more wallet pop-ups) and credited at once → claim a voucher on a chosen chain. A visitor with
//! no wallet does the same with a key kept in this browser.
//!
//! How it is built: the whole state is one `State`, and it changes in one place: `App::update`
//! (update.rs) carries out one typed [`Action`] (action.rs) — what the contributor pressed, or
//! what the relay, the wallet or the browser answered — then draws the screen from the state
//! once (cheap at this size, and the screen can never disagree with the state). What must be
//! asked of the outside (effects.rs) answers with another action. Events are handled by one
//! listener per kind on the root element, dispatched on the `data-action` of the element
//! pressed, so re-rendering creates no closures; media being shown or played (a preview, a
//! recording) are carried over into the new screen, so a render does not stop them. Uploads and
//! recordings are sealed here, to the campaign's requester (and its validators), before a byte
//! leaves the device.

mod action;
mod consent;
mod dom;
mod effects;
mod media;
mod render;
mod task;
mod text;
mod update;

use std::cell::RefCell;
use std::rc::{Rc, Weak};

use datahub_protocol::answer::Capture;
use datahub_protocol::{ErrorCode, Kind};
use js_sys::Reflect;
use serde_json::{Value as Json, json};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::{JsFuture, spawn_local};
use web_sys::{Element, Event, HtmlInputElement, HtmlSelectElement, KeyboardEvent};

use crate::relay::{RelayClient, Session};
use action::Action;
use dom::Dom;
use task::{Campaign, Draft, Task, Word};
use text::{Lang, T};

const STYLE: &str = include_str!("app.css");
const LANG_KEY: &str = "datahub.lang";
/// How long a sign-in lasts: a working day, so a contributor is not asked again mid-session.
const SESSION_SECONDS: u32 = 8 * 3600;

#[wasm_bindgen(typescript_custom_section)]
const TS_TYPES: &str = r#"
/** Options of `mount`. */
export interface MountOptions {
  /** The relay's base URL; default `location.origin`. */
  relay?: string;
  /** `en` or `zh`; default from the browser's languages (or the contributor's last choice). */
  lang?: string;
  /**
   * A sign-in the contributor asked for before the app was there (a host page's own first
   * screen): `"wallet"` or `"local"`. It goes on as soon as the relay answers.
   */
  start?: "wallet" | "local";
  /** `GET /v1/campaigns` as the host page already has it; else the app fetches it. */
  campaigns?: unknown;
}
"#;

/// Renders the contributor's mini-app into `root` (its content is replaced) and runs it.
/// Call it once per page.
#[wasm_bindgen]
pub fn mount(
    root: Element,
    #[wasm_bindgen(unchecked_optional_param_type = "MountOptions")] options: JsValue,
) -> Result<(), JsValue> {
    let window = web_sys::window().ok_or("mount needs a window")?;
    let doc = window.document().ok_or("mount needs a document")?;
    let option = |key: &str| {
        options
            .is_object()
            .then(|| Reflect::get(&options, &key.into()).ok())
            .flatten()
            .and_then(|v| v.as_string())
    };
    let base = match option("relay") {
        Some(relay) => relay,
        None => window.location().origin()?,
    };
    let lang = option("lang")
        .and_then(|l| Lang::parse(&l))
        .or_else(|| stored(LANG_KEY).and_then(|l| Lang::parse(&l)))
        .unwrap_or_else(|| {
            let languages: Vec<String> = window
                .navigator()
                .languages()
                .iter()
                .filter_map(|l| l.as_string())
                .collect();
            Lang::from_browser(&languages)
        });
    if doc.get_element_by_id("datahub-style").is_none() {
        let style = doc.create_element("style")?;
        style.set_id("datahub-style");
        style.set_text_content(Some(STYLE));
        if let Some(head) = doc.head() {
            head.append_child(&style)?;
        }
    }
    root.class_list().add_1("dh-app")?;
    let start = match option("start").as_deref() {
        None => None,
        Some("wallet") => Some(true),
        Some("local") => Some(false),
        Some(_) => return Err(JsError::new("start must be \"wallet\" or \"local\"").into()),
    };
    let campaigns = options
        .is_object()
        .then(|| Reflect::get(&options, &"campaigns".into()).ok())
        .flatten()
        .filter(JsValue::is_object)
        .map(|c| read_campaigns(&to_json(&c)));
    let app = Rc::new(App {
        dom: Dom { doc },
        root,
        base,
        state: update::Store::new(State {
            lang,
            offline: !window.navigator().on_line(),
            pending_sign_in: start,
            campaigns_known: campaigns.is_some(),
            campaigns: campaigns.unwrap_or_default(),
            ..State::default()
        }),
    });
    app.listen(&window)?;
    app.render();
    // The listeners hold the app weakly; the page holds it for good.
    MOUNTED.with(|apps| apps.borrow_mut().push(Rc::clone(&app)));
    spawn_local(Rc::clone(&app).connect_relay());
    Ok(())
}

thread_local! {
    static MOUNTED: RefCell<Vec<Rc<App>>> = const { RefCell::new(Vec::new()) };
}

fn stored(key: &str) -> Option<String> {
    web_sys::window()?
        .local_storage()
        .ok()??
        .get_item(key)
        .ok()?
}

#[derive(Clone, Copy, PartialEq, Eq, Default, Debug)]
enum Screen {
    #[default]
    Connect,
    Campaigns,
    Task,
}

/// A message on the status line.
struct Notice {
    text: String,
    error: bool,
    /// A button shown with it (retry, resume…): what it does, and its label.
    action: Option<(Action, T)>,
}

/// A token's balance: (token, total, claimable per chain id).
type Balance = (String, String, Vec<(u64, String)>);

#[derive(Default)]
struct State {
    lang: Lang,
    screen: Screen,
    offline: bool,
    busy: Option<T>,
    notice: Option<Notice>,
    client: Option<Rc<RelayClient>>,
    /// The relay's info is being fetched: the connect buttons show, and a press waits for it.
    connecting: bool,
    /// A sign-in pressed while connecting (true: with the wallet), carried out once connected.
    pending_sign_in: Option<bool>,
    /// `campaigns` holds the relay's list (given to `mount`, or fetched), so the connect screen
    /// need not ask for it.
    campaigns_known: bool,
    wallet_found: bool,
    session: Option<Rc<Session>>,
    campaigns: Vec<Campaign>,
    /// (token, total, claimable per chain id)
    balances: Vec<Balance>,
    /// (token, amount) of rewards held until the contributor's record is known; in no balance.
    held: Vec<(String, String)>,
    chains: Vec<(u64, String)>,
    claim_chain: u64,
    voucher: Option<Json>,
    /// The connected wallet, which sends claims on chain (none with a local key).
    wallet: Option<crate::wallet::WalletSigner>,
    /// Decimals of each (chain, token address), from the relay's info.
    decimals: Vec<(u64, String, u32)>,
    /// The claim transaction of the shown voucher.
    claim_tx: Option<ClaimTx>,
    work: Option<Work>,
    /// `GET /v1/me/standing`, when the relay answered it.
    standing: Option<Json>,
    /// The rejected submissions: (id, campaign, why), newest first.
    rejected: Vec<(String, String, String)>,
}

/// Where a claim sent from the wallet is.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum TxStatus {
    /// Waiting for the wallet to send it.
    Sending,
    /// Sent, not yet in a block.
    Pending,
    /// In a block, paid.
    Confirmed,
    /// In a block, refused by the escrow.
    Reverted,
}

/// A claim sent from the wallet: its status, hash, and the token balance after it.
#[derive(Clone, Debug)]
struct ClaimTx {
    status: TxStatus,
    hash: String,
    balance: Option<String>,
}

/// The campaign being worked on and its current task.
struct Work {
    campaign: Campaign,
    task: Option<Task>,
    words: Vec<Word>,
    draft: Draft,
    done: bool,
    upload: Upload,
    /// The campaign's terms are shown and not yet accepted (no task is leased until they are).
    terms_pending: bool,
}

/// The file or recording of an upload task, from the choice to the submitted object.
#[derive(Default)]
struct Upload {
    /// The bytes, their type, a `blob:` URL to show them, and (recordings) their seconds.
    chosen: Option<(Vec<u8>, String, String, f64)>,
    recorder: Option<media::Recorder>,
    recording_seconds: f64,
    /// The sealed object, kept until submitted so an interrupted upload resumes.
    sealed: Option<JsValue>,
    /// Which input gave `chosen`: the camera or microphone, or a file.
    capture: Option<Capture>,
    progress: Option<(u32, u32)>,
}

impl Upload {
    fn clear(&mut self) {
        if let Some((_, _, url, _)) = self.chosen.take() {
            let _ = web_sys::Url::revoke_object_url(&url);
        }
        if let Some(recorder) = self.recorder.take() {
            let _ = recorder.stop();
        }
        *self = Self::default();
    }
}

struct App {
    dom: Dom,
    root: Element,
    base: String,
    /// Read anywhere; changed only by `update` (the store lends it mutably to update.rs alone).
    state: update::Store,
}

/// A relay error's code, `None` for the client's own (`network`) and a wallet's.
/// An upload's answer: the object, and which input its media came from.
fn upload_answer(object: &str, capture: Option<Capture>) -> Json {
    match capture {
        Some(c) => json!({ "object": object, "capture": c.as_str() }),
        None => json!({ "object": object }),
    }
}

/// A relay error's code, `None` for the client's own (`network`) and a wallet's.
fn relay_code(error: &JsValue) -> Option<ErrorCode> {
    ErrorCode::parse(&code(error))
}

/// A relay or wallet error's `code` (the relay's `error` field, or a wallet's number).
fn code(error: &JsValue) -> String {
    let code = Reflect::get(error, &"code".into()).unwrap_or(JsValue::UNDEFINED);
    code.as_string()
        // A wallet's codes are integers (4001); as i64, not f64, so that core's float
        // formatting stays out of the .wasm.
        .or_else(|| code.as_f64().map(|c| (c as i64).to_string()))
        .unwrap_or_default()
}

fn message(error: &JsValue) -> String {
    Reflect::get(error, &"message".into())
        .ok()
        .and_then(|m| m.as_string())
        .or_else(|| error.as_string())
        .unwrap_or_else(|| "unknown error".to_owned())
}

fn to_json(value: &JsValue) -> Json {
    js_sys::JSON::stringify(value)
        .ok()
        .and_then(|s| s.as_string())
        .and_then(|s| serde_json::from_str(&s).ok())
        .unwrap_or(Json::Null)
}

/// A field of a JSON object, `null` when absent.
fn at<'a>(json: &'a Json, key: &str) -> &'a Json {
    json.get(key).unwrap_or(&Json::Null)
}

fn to_js(json: &Json) -> JsValue {
    js_sys::JSON::parse(&json.to_string()).unwrap_or(JsValue::NULL)
}

async fn wait(promise: js_sys::Promise) -> Result<Json, JsValue> {
    Ok(to_json(&JsFuture::from(promise).await?))
}

async fn sleep(ms: f64) {
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        if let Some(window) = web_sys::window() {
            let _ =
                window.set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, ms as i32);
        }
    });
    let _ = JsFuture::from(promise).await;
}

fn now_ms() -> f64 {
    js_sys::Date::now()
}

impl App {
    fn listen(self: &Rc<Self>, window: &web_sys::Window) -> Result<(), JsValue> {
        let weak = Rc::downgrade(self);
        let on = |target: &web_sys::EventTarget,
                  kind: &str,
                  handler: fn(&Rc<App>, Event)|
         -> Result<(), JsValue> {
            let weak: Weak<App> = weak.clone();
            let closure = Closure::<dyn FnMut(Event)>::new(move |event: Event| {
                if let Some(app) = weak.upgrade() {
                    handler(&app, event);
                }
            });
            target.add_event_listener_with_callback(kind, closure.as_ref().unchecked_ref())?;
            // Listeners live as long as the page: mount is once per page.
            closure.forget();
            Ok(())
        };
        on(&self.root, "click", |app, event| {
            if let Some(action) = action_of(&event) {
                app.update(action);
            }
        })?;
        on(&self.root, "change", |app, event| {
            let Some(target) = event.target() else { return };
            if let Some(input) = target.dyn_ref::<HtmlInputElement>() {
                if input.type_() == "file" {
                    // The camera input asks for a capture; a desktop browser may still offer
                    // files through it, so `app` means "the camera input", said as such.
                    let capture = if input.id() == "dh-camera" {
                        Capture::App
                    } else {
                        Capture::File
                    };
                    let file = input.files().and_then(|f| f.get(0));
                    input.set_value("");
                    if let Some(file) = file {
                        app.update(Action::PickFile(file, capture));
                    }
                }
            } else if let Some(chain) = target
                .dyn_ref::<HtmlSelectElement>()
                .and_then(|s| s.value().parse().ok())
            {
                app.update(Action::ChooseChain(chain));
            }
        })?;
        on(&self.dom.doc, "keydown", |app, event| {
            let Some(event) = event.dyn_ref::<KeyboardEvent>() else {
                return;
            };
            if let Some(action) = app.key_action(event) {
                event.prevent_default();
                app.update(action);
            }
        })?;
        on(window, "offline", |app, _| {
            app.update(Action::Online(false))
        })?;
        on(window, "online", |app, _| app.update(Action::Online(true)))?;
        Ok(())
    }
}

/// The campaigns of `GET /v1/campaigns` this client can show (kinds it knows).
fn read_campaigns(json: &Json) -> Vec<Campaign> {
    at(json, "campaigns")
        .as_array()
        .map(|c| c.iter().filter_map(Campaign::from_json).collect())
        .unwrap_or_default()
}

/// The rejected submissions in `GET /v1/me/history`: (id, campaign, why).
fn read_rejected(json: &Json) -> Vec<(String, String, String)> {
    at(json, "submissions")
        .as_array()
        .into_iter()
        .flatten()
        .filter(|s| at(s, "status").as_str() == Some("rejected"))
        .filter_map(|s| {
            Some((
                at(s, "submission").as_str()?.to_owned(),
                at(s, "campaign").as_str()?.to_owned(),
                at(s, "why").as_str().unwrap_or_default().to_owned(),
            ))
        })
        .collect()
}

fn read_balances(json: &Json) -> Vec<Balance> {
    at(json, "balances")
        .as_array()
        .map(|list| {
            list.iter()
                .map(|b| {
                    let per_chain = at(b, "claimable_on")
                        .as_object()
                        .map(|m| {
                            m.iter()
                                .filter_map(|(c, a)| {
                                    Some((c.parse().ok()?, a.as_str()?.to_owned()))
                                })
                                .collect()
                        })
                        .unwrap_or_default();
                    (
                        at(b, "token").as_str().unwrap_or_default().to_owned(),
                        at(b, "amount").as_str().unwrap_or("0").to_owned(),
                        per_chain,
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The held rewards of `GET /v1/me/balances`, per token, leaving out tokens with none held.
fn read_held(json: &Json) -> Vec<(String, String)> {
    at(json, "balances")
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|b| {
            let held = at(b, "held").as_str().filter(|h| is_positive(h))?;
            Some((at(b, "token").as_str()?.to_owned(), held.to_owned()))
        })
        .collect()
}

/// (chain, token address, decimals) of every token in the relay's info.
fn token_decimals(info: &Json) -> Vec<(u64, String, u32)> {
    let mut out = Vec::new();
    for chain in at(info, "chains").as_array().into_iter().flatten() {
        let Some(id) = at(chain, "id").as_u64() else {
            continue;
        };
        for token in at(chain, "tokens")
            .as_object()
            .into_iter()
            .flat_map(|t| t.values())
        {
            let address = at(token, "address").as_str().unwrap_or_default();
            let decimals = at(token, "decimals")
                .as_u64()
                .and_then(|d| u32::try_from(d).ok());
            if let Some(decimals) = decimals {
                out.push((id, address.to_owned(), decimals));
            }
        }
    }
    out
}

/// A token amount in its smallest unit (decimal digits) written with `decimals` places, without
/// trailing zeros: `1500000000000000000`, 18 → `1.5`.
fn format_units(units: &str, decimals: u32) -> String {
    if units.is_empty() || !units.bytes().all(|b| b.is_ascii_digit()) {
        return units.to_owned();
    }
    let places = usize::try_from(decimals).unwrap_or(0);
    let padded = format!("{units:0>width$}", width = places + 1);
    let (whole, fraction) = padded.split_at(padded.len() - places);
    let whole = whole.trim_start_matches('0');
    let whole = if whole.is_empty() { "0" } else { whole };
    let fraction = fraction.trim_end_matches('0');
    if fraction.is_empty() {
        whole.to_owned()
    } else {
        format!("{whole}.{fraction}")
    }
}

/// `value` rounded to `places` decimals (at most 6), written with exactly that many: `fixed(1.25,
/// 1)` is `1.3`. Written out here because core's float formatting (`{:.1}`) weighs about 14 KB
/// of the .wasm, and the app shows only seconds, MiB and trust this way.
fn fixed(value: f64, places: u32) -> String {
    let places = places.min(6);
    let scale = 10_u64.pow(places);
    // Saturating: a NaN is 0, an infinity the largest u64.
    let n = (value.abs() * scale as f64).round() as u64;
    let sign = if value < 0.0 && n > 0 { "-" } else { "" };
    let (whole, fraction) = (n / scale, n % scale);
    if places == 0 {
        format!("{sign}{whole}")
    } else {
        format!("{sign}{whole}.{fraction:0width$}", width = places as usize)
    }
}

/// `value` as `{}` writes it for the app's rule figures (seconds): no decimals when whole, else
/// up to three, without trailing zeros.
fn plain(value: f64) -> String {
    let text = fixed(value, 3);
    match text.split_once('.') {
        Some((whole, fraction)) => {
            let fraction = fraction.trim_end_matches('0');
            if fraction.is_empty() {
                whole.to_owned()
            } else {
                format!("{whole}.{fraction}")
            }
        }
        None => text,
    }
}

fn is_positive(amount: &str) -> bool {
    amount.chars().any(|c| c.is_ascii_digit() && c != '0')
}

fn short(address: &str) -> String {
    match (
        address.get(..6),
        address.get(address.len().saturating_sub(4)..),
    ) {
        (Some(head), Some(tail)) if address.len() > 12 => format!("{head}…{tail}"),
        _ => address.to_owned(),
    }
}

fn kind_tag(kind: Kind) -> &'static str {
    match kind {
        Kind::ImageCategorization => "image_categorization",
        Kind::ContentVerification => "content_verification",
        Kind::TextLabeling => "text_labeling",
        Kind::ContentModeration => "content_moderation",
        Kind::ImageUpload => "image_upload",
        Kind::VoiceRecording => "voice_recording",
    }
}

/// The action of the element an event happened on, or of its closest ancestor.
fn action_of(event: &Event) -> Option<Action> {
    let target: Element = event.target()?.dyn_into().ok()?;
    let el = target.closest("[data-action]").ok()??;
    // A <select> acts on change, not on click.
    if el.tag_name() == "SELECT" {
        return None;
    }
    Action::parse(&el.get_attribute("data-action")?)
}

#[cfg(test)]
mod tests {
    use super::{fixed, plain};

    #[test]
    fn figures_are_written_as_format_would() {
        for (value, places) in [
            (0.0, 1),
            (1.25, 2),
            (12.345, 1),
            (0.049, 1),
            (3.0, 0),
            (-2.5, 1),
            (1_048_576.0 / 1_048_576.0, 1),
            (0.7333, 2),
        ] {
            assert_eq!(
                fixed(value, places),
                format!("{value:.prec$}", prec = places as usize),
                "{value}"
            );
        }
        assert_eq!(fixed(-0.01, 1), "0.0");
        assert_eq!(fixed(f64::NAN, 1), "0.0");
        for value in [0.0, 1.0, 2.5, 30.0, 0.125] {
            assert_eq!(plain(value), format!("{value}"));
        }
    }
}
