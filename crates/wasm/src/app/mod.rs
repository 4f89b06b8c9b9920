//! The contributor's mini-app, rendered into any element of any page: `mount(element)`.
//!
//! The flow a wallet user lives: connect (one Sign-In with Ethereum signature, for a session key
//! made here) → pick a campaign → tasks one after another, each signed by the session key (no
//! more wallet pop-ups) and credited at once → claim a voucher on a chosen chain. A visitor with
//! no wallet does the same with a key kept in this browser.
//!
//! How it is built: the whole state is one `State`; every change re-renders the screen from it
//! (cheap at this size, and the screen can never disagree with the state). Events are handled
//! by one listener per kind on the root element, dispatched on the `data-action` of the element
//! pressed, so re-rendering creates no closures. Uploads and recordings are sealed here, to the
//! campaign's requester (and its validators), before a byte leaves the device.

mod consent;
mod dom;
mod media;
mod render;
mod task;
mod text;

use std::cell::RefCell;
use std::rc::{Rc, Weak};

use datahub_protocol::answer::Capture;
use datahub_protocol::{DEFAULT_MAX_SECONDS, ErrorCode, ImageType, Kind};
use js_sys::{Reflect, Uint8Array};
use serde_json::{Value as Json, json};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::{JsFuture, spawn_local};
use web_sys::{Element, Event, HtmlInputElement, HtmlSelectElement, KeyboardEvent};

use crate::relay::{RelayClient, Session};
use dom::{Dom, set};
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
        state: RefCell::new(State {
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
#[derive(Clone)]
struct Notice {
    text: String,
    error: bool,
    /// The action of a button shown with it (retry, resume…).
    action: Option<(&'static str, T)>,
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
    state: RefCell<State>,
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
        .or_else(|| code.as_f64().map(|c| format!("{c}")))
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
    fn t(&self, t: T) -> &'static str {
        t.get(self.state.borrow().lang)
    }

    fn say(&self, t: T, error: bool) {
        self.notice(self.t(t).to_owned(), error, None);
    }

    /// What an accepted answer whose reward is held says: the amount held and what releases it.
    fn held_notice(&self, reward: &str, token: &str) -> String {
        format!(
            "{} +{reward} {token} {} — {}",
            self.t(T::HeldUntil),
            self.t(T::Held),
            self.t(T::HeldWhy)
        )
    }

    fn notice(&self, text: String, error: bool, action: Option<(&'static str, T)>) {
        self.state.borrow_mut().notice = Some(Notice {
            text,
            error,
            action,
        });
    }

    fn set_busy(&self, busy: Option<T>) {
        self.state.borrow_mut().busy = busy;
        self.render();
    }

    /// Turns a failed request into words for the contributor; `retry` is offered where trying
    /// again can help.
    fn fail(&self, error: &JsValue, retry: Option<&'static str>) {
        let code = code(error);
        // The relay's codes are the protocol's enum, so a code it never sends cannot be
        // waited for; the others are this client's own (relay.rs, js/wallet.js).
        let known = match ErrorCode::parse(&code) {
            Some(ErrorCode::LeaseExpired) => Some(T::LeaseExpired),
            Some(ErrorCode::TooFast) => Some(T::TooFast),
            Some(
                ErrorCode::NotSignedIn
                | ErrorCode::UnknownSession
                | ErrorCode::SignedOut
                | ErrorCode::Expired,
            ) => Some(T::SessionExpired),
            Some(ErrorCode::BudgetSpent) => Some(T::BudgetSpent),
            Some(ErrorCode::CampaignPaused) => Some(T::CampaignPaused),
            Some(ErrorCode::NoTask) => Some(T::NoTaskLeft),
            Some(ErrorCode::Restricted) => Some(T::Restricted),
            Some(ErrorCode::SkipCooldown) => Some(T::SkipCooldown),
            Some(ErrorCode::DailyCap) => Some(T::DailyCap),
            Some(ErrorCode::Probation) => Some(T::Probation),
            Some(ErrorCode::NetworkLeaseCap) => Some(T::NetworkLeaseCap),
            Some(_) => None,
            None => match code.as_str() {
                "network" => Some(T::RelayDown),
                "4001" => Some(T::WalletRejected),
                "NoWallet" => Some(T::NoWalletFound),
                _ => None,
            },
        };
        let text = match known {
            Some(t) => self.t(t).to_owned(),
            None => format!("{}: {}", self.t(T::Error), message(error)),
        };
        let offline = self.state.borrow().offline;
        let text = if offline && code == "network" {
            self.t(T::Offline).to_owned()
        } else {
            text
        };
        self.notice(text, true, retry.map(|r| (r, T::Retry)));
        if known == Some(T::SessionExpired) {
            let mut state = self.state.borrow_mut();
            state.session = None;
            state.screen = Screen::Connect;
        }
    }

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
                app.act(&action);
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
                    if let Some(file) = input.files().and_then(|f| f.get(0)) {
                        spawn_local(Rc::clone(app).choose_file(file, capture));
                    }
                    input.set_value("");
                }
            } else if let Some(chain) = target
                .dyn_ref::<HtmlSelectElement>()
                .and_then(|s| s.value().parse().ok())
            {
                app.state.borrow_mut().claim_chain = chain;
                app.render();
            }
        })?;
        on(&self.dom.doc, "keydown", |app, event| {
            if let Some(event) = event.dyn_ref::<KeyboardEvent>() {
                app.key(event);
            }
        })?;
        on(window, "offline", |app, _| {
            app.state.borrow_mut().offline = true;
            app.say(T::Offline, true);
            app.render();
        })?;
        on(window, "online", |app, _| {
            app.state.borrow_mut().offline = false;
            app.say(T::BackOnline, false);
            app.render();
        })?;
        Ok(())
    }

    /// Keyboard shortcuts on the task screen: 1–9 choose, Enter submits, S skips.
    fn key(self: &Rc<Self>, event: &KeyboardEvent) {
        if event.ctrl_key() || event.meta_key() || event.alt_key() {
            return;
        }
        let typing = event
            .target()
            .and_then(|t| t.dyn_into::<Element>().ok())
            .is_some_and(|t| matches!(t.tag_name().as_str(), "INPUT" | "SELECT" | "TEXTAREA"));
        let on_task = {
            let state = self.state.borrow();
            state.screen == Screen::Task && state.busy.is_none()
        };
        if typing || !on_task {
            return;
        }
        let key = event.key();
        let action = match key.as_str() {
            "Enter" => {
                // Enter submits, as in a form, also from a focused choice (Space toggles it);
                // on any other button (skip, back, mark…) it presses that button.
                let other_button = event
                    .target()
                    .and_then(|t| t.dyn_into::<Element>().ok())
                    .and_then(|t| t.closest("button").ok().flatten())
                    .is_some_and(|b| {
                        !b.get_attribute("data-action")
                            .is_some_and(|a| a.starts_with("choose:"))
                    });
                if other_button {
                    return;
                }
                "submit".to_owned()
            }
            "s" | "S" => "skip".to_owned(),
            digit
                if digit.len() == 1
                    && ('1'..='9').contains(&digit.chars().next().unwrap_or('0')) =>
            {
                let index = digit.parse::<usize>().unwrap_or(1) - 1;
                let marking = self
                    .state
                    .borrow()
                    .work
                    .as_ref()
                    .is_some_and(|w| w.draft.selection.is_some());
                if marking {
                    format!("mark:{index}")
                } else {
                    format!("choose:{index}")
                }
            }
            _ => return,
        };
        event.prevent_default();
        self.act(&action);
    }

    /// Does what a button's `data-action` says.
    fn act(self: &Rc<Self>, action: &str) {
        let (verb, arg) = action.split_once(':').unwrap_or((action, ""));
        let index = arg.parse::<usize>().ok();
        match verb {
            "lang" => {
                let lang = {
                    let mut state = self.state.borrow_mut();
                    state.lang = state.lang.other();
                    state.lang
                };
                if let Some(storage) =
                    web_sys::window().and_then(|w| w.local_storage().ok().flatten())
                {
                    let _ = storage.set_item(LANG_KEY, lang.tag());
                }
                self.render();
            }
            "retry-relay" => spawn_local(Rc::clone(self).connect_relay()),
            "wallet" | "local" => {
                let wallet = verb == "wallet";
                let waiting = {
                    let mut state = self.state.borrow_mut();
                    let waiting = state.client.is_none() && state.connecting;
                    if waiting {
                        state.pending_sign_in = Some(wallet);
                    }
                    waiting
                };
                if waiting {
                    self.set_busy(Some(T::SigningIn));
                } else {
                    spawn_local(Rc::clone(self).sign_in(wallet));
                }
            }
            "sign-out" => {
                let mut state = self.state.borrow_mut();
                // The relay revokes the token as well; the screen does not wait for it.
                if let Some(session) = state.session.take() {
                    spawn_local(async move {
                        let _ = wait(session.sign_out()).await;
                    });
                }
                state.screen = Screen::Connect;
                state.voucher = None;
                state.wallet = None;
                state.claim_tx = None;
                drop(state);
                self.render();
            }
            "campaign" => spawn_local(Rc::clone(self).open_campaign(arg.to_owned())),
            "back" => {
                let mut state = self.state.borrow_mut();
                if let Some(mut work) = state.work.take() {
                    work.upload.clear();
                }
                state.screen = Screen::Campaigns;
                state.notice = None;
                drop(state);
                spawn_local(Rc::clone(self).refresh());
            }
            "choose" | "mark" | "word" | "unspan" | "clear-words" => {
                if let Some(index) = index.or((verb == "clear-words").then_some(0)) {
                    self.edit(verb, index);
                }
            }
            "submit" | "retry-submit" => spawn_local(Rc::clone(self).submit()),
            "resume-upload" => spawn_local(Rc::clone(self).submit()),
            "skip" => spawn_local(Rc::clone(self).skip()),
            "next" => spawn_local(Rc::clone(self).next_task()),
            "accept-terms" => self.accept_terms(),
            "record" => spawn_local(Rc::clone(self).record()),
            "stop" => self.stop_recording(),
            "appeal" => {
                if let Some(index) = index {
                    spawn_local(Rc::clone(self).appeal(index));
                }
            }
            "claim" => spawn_local(Rc::clone(self).claim()),
            "send-claim" => spawn_local(Rc::clone(self).send_claim()),
            "copy-voucher" => {
                let voucher = self.state.borrow().voucher.clone();
                if let (Some(voucher), Some(window)) = (voucher, web_sys::window()) {
                    let _ = window
                        .navigator()
                        .clipboard()
                        .write_text(&voucher.to_string());
                    self.say(T::Copied, false);
                    self.render();
                }
            }
            _ => {}
        }
    }

    /// Changes the draft answer of the current task.
    fn edit(self: &Rc<Self>, verb: &str, index: usize) {
        {
            let mut state = self.state.borrow_mut();
            let Some(work) = state.work.as_mut() else {
                return;
            };
            if work.task.is_none() {
                return;
            }
            let several = match work.campaign.kind {
                Kind::ImageCategorization => work.campaign.multi_label,
                Kind::ContentModeration => true,
                _ => false,
            };
            match verb {
                "choose" if index < work.campaign.choices() => work.draft.choose(index, several),
                "word" if index < work.words.len() => work.draft.tap_word(index),
                "mark" if index < work.campaign.labels.len() => {
                    let words = work.words.clone();
                    work.draft.mark(&words, index);
                }
                "unspan" if index < work.draft.spans.len() => {
                    work.draft.spans.remove(index);
                }
                "clear-words" => work.draft.selection = None,
                _ => return,
            }
            state.notice = None;
        }
        self.render();
    }

    async fn connect_relay(self: Rc<Self>) {
        let busy = {
            let mut state = self.state.borrow_mut();
            state.connecting = true;
            if state.pending_sign_in.is_some() {
                T::SigningIn
            } else {
                T::Loading
            }
        };
        self.set_busy(Some(busy));
        match RelayClient::connect(self.base.clone()).await {
            Ok(client) => {
                let info = to_json(&client.info());
                let chains: Vec<(u64, String)> = at(&info, "chains")
                    .as_array()
                    .map(|c| {
                        c.iter()
                            .filter_map(|c| {
                                let name = at(c, "name").as_str().unwrap_or_default().to_owned();
                                Some((at(c, "id").as_u64()?, name))
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                let decimals = token_decimals(&info);
                let mut state = self.state.borrow_mut();
                state.decimals = decimals;
                state.claim_chain = chains.first().map_or(0, |c| c.0);
                state.chains = chains;
                state.client = Some(Rc::new(client));
                state.wallet_found = true;
                state.notice = None;
            }
            // Whatever answered (nothing, a proxy's error page, something else), it is no
            // relay the contributor can work with.
            Err(_) => {
                self.state.borrow_mut().pending_sign_in = None;
                self.notice(
                    self.t(T::RelayDown).to_owned(),
                    true,
                    Some(("retry-relay", T::Retry)),
                );
            }
        }
        self.state.borrow_mut().connecting = false;
        self.set_busy(None);
        let Some(client) = self.state.borrow().client.clone() else {
            return;
        };
        let pending = self.state.borrow_mut().pending_sign_in.take();
        let known = self.state.borrow().campaigns_known;
        match pending {
            Some(wallet) => spawn_local(Rc::clone(&self).sign_in(wallet)),
            // Browsing needs no sign-in: the open campaigns show on the connect screen.
            None if !known => {
                if let Ok(list) = wait(client.campaigns()).await {
                    let mut state = self.state.borrow_mut();
                    if !state.campaigns_known {
                        state.campaigns = read_campaigns(&list);
                        state.campaigns_known = true;
                    }
                    drop(state);
                    self.render();
                }
            }
            None => {}
        }
        // Wallets announce themselves within a moment (EIP-6963); the buttons do not wait for
        // that, only the hint that none was found does.
        let found = crate::wallet::WalletSigner::discover(JsValue::UNDEFINED)
            .await
            .map(|w| js_sys::Array::from(&w).length() > 0)
            .unwrap_or(false);
        if !found {
            self.state.borrow_mut().wallet_found = false;
            self.render();
        }
    }

    async fn sign_in(self: Rc<Self>, wallet: bool) {
        let Some(client) = self.state.borrow().client.clone() else {
            return;
        };
        self.state.borrow_mut().notice = None;
        self.set_busy(Some(T::SigningIn));
        let signer: Result<JsValue, JsValue> = if wallet {
            match crate::wallet::WalletSigner::connect(JsValue::UNDEFINED).await {
                Ok(signer) => {
                    self.state.borrow_mut().wallet = Some(signer.clone());
                    Ok(JsValue::from(signer))
                }
                Err(error) => Err(error),
            }
        } else {
            self.state.borrow_mut().wallet = None;
            crate::signer::LocalSigner::load_or_create(None)
                .await
                .map(JsValue::from)
        };
        let chain = self.state.borrow().chains.first().map_or(0, |c| c.0);
        let options = to_js(&json!({
            "chainId": chain,
            "ttlSeconds": SESSION_SECONDS,
            "statement": "Sign in to DataHub to do tasks and earn rewards.",
        }));
        let session = match signer.and_then(|s| client.start_sign_in(s, options)) {
            Ok(signing) => signing.await,
            Err(error) => Err(error),
        };
        match session {
            Ok(session) => {
                {
                    let mut state = self.state.borrow_mut();
                    state.session = Some(Rc::new(session));
                    state.screen = Screen::Campaigns;
                }
                Rc::clone(&self).refresh().await;
            }
            Err(error) => self.fail(&error, None),
        }
        self.set_busy(None);
    }

    /// Reloads the campaigns and balances.
    async fn refresh(self: Rc<Self>) {
        let Some(session) = self.state.borrow().session.clone() else {
            return;
        };
        let loaded = async {
            let campaigns = wait(session.campaigns()).await?;
            let balances = wait(session.balances()).await?;
            Ok::<_, JsValue>((campaigns, balances))
        }
        .await;
        match loaded {
            Ok((campaigns, balances)) => {
                let mut state = self.state.borrow_mut();
                state.campaigns = read_campaigns(&campaigns);
                state.campaigns_known = true;
                state.balances = read_balances(&balances);
                state.held = read_held(&balances);
            }
            Err(error) => self.fail(&error, None),
        }
        // Standing and history are extras: a relay without them leaves the panel out.
        let standing = wait(session.standing()).await.ok();
        let history = wait(session.history()).await.ok();
        {
            let mut state = self.state.borrow_mut();
            state.standing = standing;
            state.rejected = history.as_ref().map(read_rejected).unwrap_or_default();
        }
        self.render();
    }

    /// Sends the appeal of the `index`-th rejected answer, with the reason typed beside it.
    async fn appeal(self: Rc<Self>, index: usize) {
        let (session, submission) = {
            let state = self.state.borrow();
            let Some(session) = state.session.clone() else {
                return;
            };
            let Some((submission, _, _)) = state.rejected.get(index).cloned() else {
                return;
            };
            (session, submission)
        };
        let reason = self
            .dom
            .doc
            .get_element_by_id(&format!("dh-appeal-{index}"))
            .and_then(|e| e.dyn_into::<HtmlInputElement>().ok())
            .map(|input| input.value().trim().to_owned())
            .unwrap_or_default();
        if reason.is_empty() {
            self.say(T::AppealNeedsReason, true);
            self.render();
            return;
        }
        match wait(session.appeal(&submission, &reason)).await {
            Ok(_) => {
                self.say(T::AppealSent, false);
                Rc::clone(&self).refresh().await;
            }
            Err(error) => {
                self.fail(&error, None);
                self.render();
            }
        }
    }

    async fn open_campaign(self: Rc<Self>, id: String) {
        let campaign = {
            let state = self.state.borrow();
            state.campaigns.iter().find(|c| c.id == id).cloned()
        };
        let Some(campaign) = campaign else { return };
        let terms_pending = consent::needs_acceptance(&campaign);
        {
            let mut state = self.state.borrow_mut();
            state.work = Some(Work {
                campaign,
                task: None,
                words: Vec::new(),
                draft: Draft::default(),
                done: false,
                upload: Upload::default(),
                terms_pending,
            });
            state.screen = Screen::Task;
            state.notice = None;
        }
        if terms_pending {
            self.render();
            return;
        }
        self.next_task().await;
    }

    async fn next_task(self: Rc<Self>) {
        let (session, id) = {
            let state = self.state.borrow();
            let (Some(session), Some(work)) = (state.session.clone(), state.work.as_ref()) else {
                return;
            };
            (session, work.campaign.id.clone())
        };
        self.set_busy(Some(T::Loading));
        let answer = wait(session.next_task(&id)).await;
        {
            let mut state = self.state.borrow_mut();
            if let Some(work) = state.work.as_mut() {
                work.upload.clear();
                work.draft = Draft::default();
                work.task = None;
                work.words.clear();
            }
        }
        match answer {
            Ok(json) => {
                let task = Task::from_json(json, |t| {
                    let ms = js_sys::Date::parse(t);
                    ms.is_finite().then_some(ms)
                });
                let mut state = self.state.borrow_mut();
                if let Some(work) = state.work.as_mut() {
                    work.words = task
                        .as_ref()
                        .and_then(|t| t.text.as_deref())
                        .map(task::words)
                        .unwrap_or_default();
                    work.task = task;
                    work.done = false;
                }
            }
            Err(error) if relay_code(&error) == Some(ErrorCode::NoTask) => {
                if let Some(work) = self.state.borrow_mut().work.as_mut() {
                    work.done = true;
                }
                self.say(T::NoTaskLeft, false);
            }
            Err(error) => self.fail(&error, Some("next")),
        }
        self.set_busy(None);
        self.focus_first_choice();
    }

    async fn skip(self: Rc<Self>) {
        let (session, task) = {
            let state = self.state.borrow();
            let Some(task) = state.work.as_ref().and_then(|w| w.task.clone()) else {
                return;
            };
            let Some(session) = state.session.clone() else {
                return;
            };
            (session, task)
        };
        self.state.borrow_mut().notice = None;
        self.set_busy(Some(T::Loading));
        let skipped = match session.skip(&JsValue::from_str(&task.lease)) {
            Ok(p) => wait(p).await.map(|_| ()),
            Err(e) => Err(e),
        };
        match skipped {
            // A lease that is gone (expired, answered) needs no skipping.
            Err(error)
                if !matches!(
                    relay_code(&error),
                    Some(ErrorCode::LeaseNotActive | ErrorCode::NoLease)
                ) =>
            {
                self.fail(&error, Some("skip"));
                self.set_busy(None);
            }
            _ => self.next_task().await,
        }
    }

    /// Submits the current task: the chosen answer, or the file or recording (sealed and
    /// uploaded first; an interrupted upload resumes from what the relay has).
    async fn submit(self: Rc<Self>) {
        let ready = {
            let state = self.state.borrow();
            match (state.session.clone(), state.work.as_ref(), state.busy) {
                (Some(session), Some(work), None) => work.task.clone().map(|task| {
                    let answer = match work.campaign.kind {
                        Kind::ImageUpload | Kind::VoiceRecording => {
                            if work.upload.chosen.is_some() {
                                Ok(None)
                            } else {
                                Err(T::PickSomething)
                            }
                        }
                        _ => task::answer(&work.campaign, &work.draft).map(Some),
                    };
                    (session, task, answer, work.campaign.clone())
                }),
                _ => None,
            }
        };
        let Some((session, task, answer, campaign)) = ready else {
            return;
        };
        let answer = match answer {
            Ok(answer) => answer,
            Err(missing) => {
                self.say(missing, true);
                self.render();
                return;
            }
        };
        // The campaign's least time per task: an answer chosen sooner is held until then
        // (a few seconds at most), rather than refused by the relay.
        let early = task.submit_after_ms - now_ms();
        if early > 10_000.0 {
            self.say(T::TooFast, true);
            self.render();
            return;
        }
        if early > 0.0 {
            self.set_busy(Some(T::Loading));
            sleep(early + 50.0).await;
            self.set_busy(None);
        }
        self.state.borrow_mut().notice = None;
        let capture = {
            let state = self.state.borrow();
            state.work.as_ref().and_then(|w| w.upload.capture)
        };
        let (answer, manifest) = match answer {
            Some(answer) => (answer, None),
            None => match Rc::clone(&self).upload(&session, &campaign).await {
                Ok(object) => (upload_answer(&object, capture), Some(object)),
                Err(error) => {
                    let code = code(&error);
                    let resumable = self
                        .state
                        .borrow()
                        .work
                        .as_ref()
                        .is_some_and(|w| w.upload.sealed.is_some());
                    let status = Reflect::get(&error, &"status".into())
                        .ok()
                        .and_then(|s| s.as_f64())
                        .unwrap_or(0.0);
                    // What was sent stays on the relay: a lost connection, a busy relay or a
                    // storage hiccup is worth resuming; a refusal is not.
                    if resumable && (code == "network" || status >= 500.0 || status == 429.0) {
                        self.notice(
                            self.t(T::UploadFailed).to_owned(),
                            true,
                            Some(("resume-upload", T::ResumeUpload)),
                        );
                    } else {
                        self.fail(&error, None);
                    }
                    self.set_busy(None);
                    return;
                }
            },
        };
        self.set_busy(Some(T::Loading));
        let options = to_js(&consent::submit_options(&campaign, manifest.as_deref()));
        let outcome = match session.submit(&to_js(&task.json), &to_js(&answer), options) {
            Ok(p) => wait(p).await,
            Err(e) => Err(e),
        };
        match outcome {
            Ok(outcome) => {
                let status = at(&outcome, "status").as_str().unwrap_or_default();
                let credited = at(&outcome, "credited").as_str().unwrap_or("0").to_owned();
                let token = at(&outcome, "token")
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                let text = match status {
                    _ if at(&outcome, "duplicate").as_bool() == Some(true) => {
                        self.t(T::Duplicate).to_owned()
                    }
                    "accepted" if at(&outcome, "held").as_bool() == Some(true) => {
                        self.held_notice(&campaign.reward, &token)
                    }
                    "accepted" => format!("{} +{credited} {token}", self.t(T::Credited)),
                    "pending" if manifest.is_some() => self.t(T::PendingCheck).to_owned(),
                    "pending" => self.t(T::Pending).to_owned(),
                    _ => self.t(T::NotPaid).to_owned(),
                };
                self.notice(text, status == "rejected", None);
                if let Some(balance) = at(&outcome, "balance").as_str() {
                    let mut state = self.state.borrow_mut();
                    match state.balances.iter_mut().find(|b| b.0 == token) {
                        Some(entry) => entry.1 = balance.to_owned(),
                        None => {
                            state
                                .balances
                                .push((token.clone(), balance.to_owned(), Vec::new()))
                        }
                    }
                }
                Rc::clone(&self).next_task().await;
                // The claimable amounts per chain come with the balances.
                Rc::clone(&self).refresh_balances().await;
            }
            Err(error) => {
                match relay_code(&error) {
                    Some(
                        ErrorCode::LeaseExpired | ErrorCode::LeaseNotActive | ErrorCode::NoLease,
                    ) => {
                        self.set_busy(None);
                        Rc::clone(&self).next_task().await;
                        self.say(T::LeaseExpired, true);
                    }
                    None if code(&error) == "network" => self.fail(&error, Some("retry-submit")),
                    _ => self.fail(&error, None),
                }
                self.set_busy(None);
            }
        }
    }

    async fn refresh_balances(self: Rc<Self>) {
        let Some(session) = self.state.borrow().session.clone() else {
            return;
        };
        if let Ok(balances) = wait(session.balances()).await {
            let mut state = self.state.borrow_mut();
            state.balances = read_balances(&balances);
            state.held = read_held(&balances);
            drop(state);
            self.render();
        }
    }

    /// Seals the chosen bytes (once) and sends the shards the relay still lacks.
    async fn upload(
        self: Rc<Self>,
        session: &Session,
        campaign: &Campaign,
    ) -> Result<String, JsValue> {
        let sealed = self
            .state
            .borrow()
            .work
            .as_ref()
            .and_then(|w| w.upload.sealed.clone());
        let (sealed, resume) = match sealed {
            Some(sealed) => (sealed, true),
            None => {
                let bytes = self
                    .state
                    .borrow()
                    .work
                    .as_ref()
                    .and_then(|w| w.upload.chosen.as_ref().map(|c| c.0.clone()))
                    .ok_or("nothing chosen")?;
                self.set_busy(Some(T::Sealing));
                let sealed = crate::seal::seal_bytes(
                    Uint8Array::from(bytes.as_slice()),
                    campaign.recipients.clone(),
                    JsValue::UNDEFINED,
                )
                .await?;
                if let Some(work) = self.state.borrow_mut().work.as_mut() {
                    work.upload.sealed = Some(sealed.clone());
                }
                (sealed, false)
            }
        };
        self.set_busy(Some(T::Uploading));
        let weak = Rc::downgrade(&self);
        let on_progress = Closure::<dyn FnMut(JsValue)>::new(move |progress: JsValue| {
            let Some(app) = weak.upgrade() else { return };
            let number = |k: &str| {
                Reflect::get(&progress, &k.into())
                    .ok()
                    .and_then(|v| v.as_f64())
                    .unwrap_or(0.0) as u32
            };
            let (sent, total) = (number("sent"), number("total"));
            if let Some(work) = app.state.borrow_mut().work.as_mut() {
                work.upload.progress = Some((sent, total));
            }
            app.show_progress(sent, total);
        });
        let options = js_sys::Object::new();
        Reflect::set(&options, &"onProgress".into(), on_progress.as_ref())?;
        let sending = if resume {
            session.resume_upload(sealed, options.into())?
        } else {
            session.upload(sealed, options.into())?
        };
        let object = JsFuture::from(sending).await?;
        drop(on_progress);
        object.as_string().ok_or_else(|| "no object id".into())
    }

    /// Updates the progress bar in place (re-rendering on every shard would be wasteful).
    fn show_progress(&self, sent: u32, total: u32) {
        if let Some(bar) = self.dom.doc.get_element_by_id("dh-progress") {
            set(&bar, "max", &total.max(1).to_string());
            set(&bar, "value", &sent.to_string());
        }
        if let Some(label) = self.dom.doc.get_element_by_id("dh-progress-text") {
            label.set_text_content(Some(&format!("{} {sent} / {total}", self.t(T::Uploading))));
        }
    }

    async fn choose_file(self: Rc<Self>, file: web_sys::File, capture: Capture) {
        let rules = {
            let state = self.state.borrow();
            let Some(work) = state.work.as_ref() else {
                return;
            };
            work.campaign.upload.clone()
        };
        if file.size() > rules.max_bytes as f64 {
            self.say(T::FileTooLarge, true);
            self.render();
            return;
        }
        let bytes = match JsFuture::from(file.array_buffer()).await {
            Ok(buffer) => Uint8Array::new(&buffer).to_vec(),
            Err(error) => {
                self.fail(&error, None);
                self.render();
                return;
            }
        };
        let Some(mime) = media::sniff_image(&bytes) else {
            self.say(T::NotAnImage, true);
            self.render();
            return;
        };
        if !ImageType::from_mime(mime).is_some_and(|t| rules.allows(t)) {
            self.notice(
                format!(
                    "{} ({})",
                    self.t(T::WrongFileType),
                    rules.type_names().join(", ")
                ),
                true,
                None,
            );
            self.render();
            return;
        }
        let Some((width, height)) = media::image_size(&bytes, mime).await else {
            self.say(T::NotAnImage, true);
            self.render();
            return;
        };
        if width < rules.min_width || height < rules.min_height {
            self.notice(
                format!(
                    "{} ({width}×{height} < {}×{})",
                    self.t(T::ImageTooSmall),
                    rules.min_width,
                    rules.min_height
                ),
                true,
                None,
            );
            self.render();
            return;
        }
        let url = media::object_url(&bytes, mime).unwrap_or_default();
        if let Some(work) = self.state.borrow_mut().work.as_mut() {
            work.upload.clear();
            work.upload.chosen = Some((bytes, mime.to_owned(), url, 0.0));
            work.upload.capture = Some(capture);
        }
        self.state.borrow_mut().notice = None;
        self.render();
    }

    async fn record(self: Rc<Self>) {
        if let Some(work) = self.state.borrow_mut().work.as_mut() {
            work.upload.clear();
        }
        let max = self
            .state
            .borrow()
            .work
            .as_ref()
            .map_or(DEFAULT_MAX_SECONDS, |w| w.campaign.upload.max_seconds);
        let weak = Rc::downgrade(&self);
        let started = media::Recorder::start(move |seconds| {
            let Some(app) = weak.upgrade() else { return };
            if let Some(work) = app.state.borrow_mut().work.as_mut() {
                work.upload.recording_seconds = seconds;
            }
            if let Some(clock) = app.dom.doc.get_element_by_id("dh-rec-time") {
                clock.set_text_content(Some(&format!("{seconds:.1} {}", app.t(T::Seconds))));
            }
            if seconds >= max {
                // Stopping inside the audio callback would drop the callback while it runs.
                let app = Rc::clone(&app);
                spawn_local(async move { app.stop_recording() });
            }
        })
        .await;
        match started {
            Ok(recorder) => {
                if let Some(work) = self.state.borrow_mut().work.as_mut() {
                    work.upload.recorder = Some(recorder);
                }
                self.state.borrow_mut().notice = None;
            }
            Err(error) => {
                let name = Reflect::get(&error, &"name".into())
                    .ok()
                    .and_then(|n| n.as_string())
                    .unwrap_or_default();
                if matches!(
                    name.as_str(),
                    "NotAllowedError" | "NotFoundError" | "SecurityError"
                ) {
                    self.say(T::MicDenied, true);
                } else {
                    self.fail(&error, None);
                }
            }
        }
        self.render();
    }

    fn stop_recording(self: &Rc<Self>) {
        let stopped = {
            let mut state = self.state.borrow_mut();
            let Some(work) = state.work.as_mut() else {
                return;
            };
            let Some(recorder) = work.upload.recorder.take() else {
                return;
            };
            let (wav, seconds) = recorder.stop();
            let rules = &work.campaign.upload;
            // A little slack at the top: the recorder stops on the audio callback after the
            // limit, up to one buffer late.
            let verdict = if seconds < rules.min_seconds {
                Err(T::TooShort)
            } else if seconds > rules.max_seconds + 0.5 {
                Err(T::TooLong)
            } else {
                Ok(())
            };
            if verdict.is_ok() {
                let url = media::object_url(&wav, "audio/wav").unwrap_or_default();
                work.upload.chosen = Some((wav, "audio/wav".to_owned(), url, seconds));
                work.upload.capture = Some(Capture::App);
            }
            verdict
        };
        match stopped {
            Ok(()) => self.state.borrow_mut().notice = None,
            Err(t) => self.say(t, true),
        }
        self.render();
    }

    async fn claim(self: Rc<Self>) {
        let (session, chain, tokens) = {
            let state = self.state.borrow();
            let Some(session) = state.session.clone() else {
                return;
            };
            let chain = state.claim_chain;
            let tokens: Vec<String> = state
                .balances
                .iter()
                .filter(|(_, _, per)| per.iter().any(|(c, a)| *c == chain && is_positive(a)))
                .map(|(t, _, _)| t.clone())
                .collect();
            (session, chain, tokens)
        };
        let Some(token) = tokens.first() else {
            self.say(T::NothingToClaim, false);
            self.render();
            return;
        };
        self.set_busy(Some(T::Claiming));
        let voucher = match session.claim(u32::try_from(chain).unwrap_or(0), token, None) {
            Ok(p) => wait(p).await,
            Err(e) => Err(e),
        };
        match voucher {
            Ok(voucher) => {
                {
                    let mut state = self.state.borrow_mut();
                    state.voucher = Some(voucher);
                    state.claim_tx = None;
                    state.notice = None;
                }
                Rc::clone(&self).refresh_balances().await;
            }
            Err(error) => {
                self.fail(&error, Some("claim"));
                self.set_busy(None);
                return;
            }
        }
        self.set_busy(None);
        // With a wallet, the voucher goes on chain at once; without one it stays to be copied.
        if self.state.borrow().wallet.is_some() {
            self.send_claim().await;
        }
    }

    /// Sends the shown voucher's claim through the connected wallet and follows it to a block.
    async fn send_claim(self: Rc<Self>) {
        let (wallet, voucher) = {
            let state = self.state.borrow();
            if matches!(
                state.claim_tx.as_ref().map(|t| t.status),
                Some(TxStatus::Sending | TxStatus::Pending | TxStatus::Confirmed)
            ) {
                return;
            }
            match (state.wallet.clone(), state.voucher.clone()) {
                (Some(wallet), Some(voucher)) => (wallet, voucher),
                _ => return,
            }
        };
        let set_tx = |tx: Option<ClaimTx>| {
            self.state.borrow_mut().claim_tx = tx;
            self.render();
        };
        set_tx(Some(ClaimTx {
            status: TxStatus::Sending,
            hash: String::new(),
            balance: None,
        }));
        let sent = match wallet.send_claim(to_js(&voucher)) {
            Ok(p) => JsFuture::from(p).await,
            Err(e) => Err(e),
        };
        let hash = match sent.map(|h| h.as_string()) {
            Ok(Some(hash)) => hash,
            Ok(None) => {
                set_tx(None);
                return;
            }
            Err(error) => {
                set_tx(None);
                self.fail(&error, Some("send-claim"));
                return;
            }
        };
        set_tx(Some(ClaimTx {
            status: TxStatus::Pending,
            hash: hash.clone(),
            balance: None,
        }));
        let receipt = JsFuture::from(wallet.wait_for_transaction(hash.clone(), None)).await;
        let status = match receipt {
            Ok(r) if at(&to_json(&r), "status").as_str() == Some("confirmed") => {
                TxStatus::Confirmed
            }
            Ok(_) => TxStatus::Reverted,
            Err(error) => {
                self.fail(&error, None);
                return;
            }
        };
        let token = at(at(at(&voucher, "typed_data"), "message"), "token")
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let chain = at(&voucher, "chain_id").as_u64().unwrap_or(0);
        let balance = match wallet.token_balance(token.clone()) {
            Ok(p) => JsFuture::from(p).await.ok().and_then(|b| b.as_string()),
            Err(_) => None,
        }
        .map(|units| {
            let decimals = self
                .state
                .borrow()
                .decimals
                .iter()
                .find(|(c, a, _)| *c == chain && a.eq_ignore_ascii_case(&token))
                .map_or(18, |d| d.2);
            format!(
                "{} {}",
                format_units(&units, decimals),
                at(&voucher, "token").as_str().unwrap_or_default()
            )
        });
        set_tx(Some(ClaimTx {
            status,
            hash,
            balance,
        }));
    }

    fn focus_first_choice(&self) {
        if let Ok(Some(first)) = self.root.query_selector(".dh-choices button, .dh-primary") {
            dom::focus(&first);
        }
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

/// The `data-action` of the element an event happened on, or of its closest ancestor.
fn action_of(event: &Event) -> Option<String> {
    let target: Element = event.target()?.dyn_into().ok()?;
    let el = target.closest("[data-action]").ok()??;
    // A <select> acts on change, not on click.
    if el.tag_name() == "SELECT" {
        return None;
    }
    el.get_attribute("data-action")
}
