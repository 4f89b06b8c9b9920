//! `App::update`: the one place the state changes. Each [`Action`] is applied to the state,
//! starts what must be asked of the relay, the wallet or the browser (effects.rs, whose answers
//! come back as actions), and the screen is drawn once.

use std::cell::{Ref, RefCell, RefMut};
use std::rc::Rc;

use datahub_protocol::answer::Capture;
use datahub_protocol::{ErrorCode, Kind};
use js_sys::Reflect;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::spawn_local;
use web_sys::{HtmlInputElement, KeyboardEvent};

use super::action::Action;
use super::task::{self, Draft, Task};
use super::text::T;
use super::{
    App, ClaimTx, LANG_KEY, Notice, Screen, State, TxStatus, Upload, Work, at, code, consent, dom,
    is_positive, media, message, now_ms, read_balances, read_held, relay_code,
};

/// The app's state: anyone in the app may read it; only this module may change it, so every
/// change is an [`Action`] carried out by [`App::update`] (the compiler holds to that).
pub(super) struct Store(RefCell<State>);

impl Store {
    pub(super) fn new(state: State) -> Self {
        Self(RefCell::new(state))
    }

    pub(super) fn borrow(&self) -> Ref<'_, State> {
        self.0.borrow()
    }

    /// Private to update.rs.
    fn borrow_mut(&self) -> RefMut<'_, State> {
        self.0.borrow_mut()
    }
}

/// What an applied action leaves to draw.
#[derive(PartialEq, Eq)]
enum Redraw {
    /// Nothing changed on screen.
    Nothing,
    /// The whole screen.
    Screen,
    /// The whole screen, then focus on the new task's first choice.
    ScreenAndFocus,
    /// The upload's progress bar only (a whole screen per shard would be wasteful).
    Progress,
    /// The recording's clock only (it ticks about 12 times a second).
    Clock,
}

/// The longest an answer is held back to respect the campaign's least time per task.
const MAX_HOLD_MS: f64 = 10_000.0;

impl App {
    /// Carries out `action`, then draws the screen once.
    pub(super) fn update(self: &Rc<Self>, action: Action) {
        match self.apply(action) {
            Redraw::Nothing => {}
            Redraw::Screen => self.render(),
            Redraw::ScreenAndFocus => {
                self.render();
                self.focus_first_choice();
            }
            Redraw::Progress => self.show_progress(),
            Redraw::Clock => self.show_clock(),
        }
    }

    /// `action` carried out later, outside whatever is running now (an audio callback, say).
    fn later(self: &Rc<Self>, action: Action) {
        let app = Rc::clone(self);
        spawn_local(async move { app.update(action) });
    }

    fn t(&self, t: T) -> &'static str {
        t.get(self.state.borrow().lang)
    }

    fn set_notice(&self, text: String, error: bool, action: Option<(Action, T)>) {
        self.state.borrow_mut().notice = Some(Notice {
            text,
            error,
            action,
        });
    }

    fn say(&self, t: T, error: bool) {
        self.set_notice(self.t(t).to_owned(), error, None);
    }

    fn set_busy(&self, busy: Option<T>) {
        self.state.borrow_mut().busy = busy;
    }

    fn apply(self: &Rc<Self>, action: Action) -> Redraw {
        match action {
            Action::ToggleLang => {
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
            }
            Action::RetryRelay => spawn_local(Rc::clone(self).connect_relay()),
            Action::SignIn { wallet } => {
                let mut state = self.state.borrow_mut();
                if state.client.is_none() {
                    // Pressed while the relay is being reached: done once it answers.
                    if !state.connecting {
                        return Redraw::Nothing;
                    }
                    state.pending_sign_in = Some(wallet);
                } else {
                    spawn_local(Rc::clone(self).sign_in(wallet));
                }
                state.notice = None;
                state.busy = Some(T::SigningIn);
            }
            Action::SignOut => {
                let mut state = self.state.borrow_mut();
                // The relay revokes the token as well; the screen does not wait for it.
                if let Some(session) = state.session.take() {
                    spawn_local(async move {
                        let _ = super::wait(session.sign_out()).await;
                    });
                }
                state.screen = Screen::Connect;
                state.voucher = None;
                state.wallet = None;
                state.claim_tx = None;
            }
            Action::OpenCampaign(id) => {
                let mut state = self.state.borrow_mut();
                let Some(campaign) = state.campaigns.iter().find(|c| c.id == id).cloned() else {
                    return Redraw::Nothing;
                };
                let terms_pending = consent::needs_acceptance(&campaign);
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
                if !terms_pending {
                    state.busy = Some(T::Loading);
                    spawn_local(Rc::clone(self).next_task());
                }
            }
            Action::Back => {
                let mut state = self.state.borrow_mut();
                if let Some(mut work) = state.work.take() {
                    work.upload.clear();
                }
                state.screen = Screen::Campaigns;
                state.notice = None;
                spawn_local(Rc::clone(self).refresh());
            }
            Action::Choose(i) => {
                return self.edit(|work, several| {
                    (i < work.campaign.choices()).then(|| work.draft.choose(i, several))
                });
            }
            Action::Word(i) => {
                return self.edit(|work, _| (i < work.words.len()).then(|| work.draft.tap_word(i)));
            }
            Action::Mark(i) => {
                return self.edit(|work, _| {
                    (i < work.campaign.labels.len()).then(|| {
                        work.draft.mark(&work.words, i);
                    })
                });
            }
            Action::Unspan(i) => {
                return self.edit(|work, _| {
                    (i < work.draft.spans.len()).then(|| {
                        work.draft.spans.remove(i);
                    })
                });
            }
            Action::ClearWords => {
                return self.edit(|work, _| {
                    work.draft.selection = None;
                    Some(())
                });
            }
            Action::Submit | Action::RetrySubmit | Action::ResumeUpload => return self.submit(),
            Action::Skip => {
                let mut state = self.state.borrow_mut();
                let lease = state
                    .work
                    .as_ref()
                    .and_then(|w| w.task.as_ref())
                    .map(|t| t.lease.clone());
                let (Some(session), Some(lease)) = (state.session.clone(), lease) else {
                    return Redraw::Nothing;
                };
                state.notice = None;
                state.busy = Some(T::Loading);
                spawn_local(Rc::clone(self).skip(session, lease));
            }
            Action::Next => {
                let mut state = self.state.borrow_mut();
                if state.session.is_none() || state.work.is_none() {
                    return Redraw::Nothing;
                }
                state.busy = Some(T::Loading);
                spawn_local(Rc::clone(self).next_task());
            }
            Action::AcceptTerms => {
                let mut state = self.state.borrow_mut();
                let Some(work) = state.work.as_mut() else {
                    return Redraw::Nothing;
                };
                work.terms_pending = false;
                consent::remember_acceptance(&work.campaign);
                state.busy = Some(T::Loading);
                spawn_local(Rc::clone(self).next_task());
            }
            Action::Record => {
                let mut state = self.state.borrow_mut();
                let Some(work) = state.work.as_mut() else {
                    return Redraw::Nothing;
                };
                work.upload.clear();
                spawn_local(Rc::clone(self).record());
            }
            Action::Stop => self.stop_recording(),
            Action::Appeal(index) => {
                let state = self.state.borrow();
                let Some(session) = state.session.clone() else {
                    return Redraw::Nothing;
                };
                let Some((submission, _, _)) = state.rejected.get(index).cloned() else {
                    return Redraw::Nothing;
                };
                drop(state);
                // What was typed is read from its field, which only the contributor changes.
                let reason = self
                    .dom
                    .doc
                    .get_element_by_id(&format!("dh-appeal-{index}"))
                    .and_then(|e| e.dyn_into::<HtmlInputElement>().ok())
                    .map(|input| input.value().trim().to_owned())
                    .unwrap_or_default();
                if reason.is_empty() {
                    self.say(T::AppealNeedsReason, true);
                } else {
                    spawn_local(Rc::clone(self).appeal(session, submission, reason));
                    return Redraw::Nothing;
                }
            }
            Action::Claim => {
                let mut state = self.state.borrow_mut();
                let Some(session) = state.session.clone() else {
                    return Redraw::Nothing;
                };
                let chain = state.claim_chain;
                let token = state
                    .balances
                    .iter()
                    .find(|(_, _, per)| per.iter().any(|(c, a)| *c == chain && is_positive(a)))
                    .map(|(t, _, _)| t.clone());
                drop(state);
                let Some(token) = token else {
                    self.say(T::NothingToClaim, false);
                    return Redraw::Screen;
                };
                state = self.state.borrow_mut();
                state.busy = Some(T::Claiming);
                spawn_local(Rc::clone(self).claim(session, chain, token));
            }
            Action::SendClaim => return self.send_claim(),
            Action::CopyVoucher => {
                let voucher = self.state.borrow().voucher.clone();
                let (Some(voucher), Some(window)) = (voucher, web_sys::window()) else {
                    return Redraw::Nothing;
                };
                let _ = window
                    .navigator()
                    .clipboard()
                    .write_text(&voucher.to_string());
                self.say(T::Copied, false);
            }
            Action::ChooseChain(chain) => self.state.borrow_mut().claim_chain = chain,
            Action::PickFile(file, capture) => return self.pick_file(file, capture),
            Action::Online(online) => {
                self.state.borrow_mut().offline = !online;
                if online {
                    self.say(T::BackOnline, false);
                } else {
                    self.say(T::Offline, true);
                }
            }
            Action::Busy(busy) => self.set_busy(busy),
            Action::Say(t, error) => self.say(t, error),
            Action::Failed { error, retry } => {
                self.fail(&error, retry.map(|r| *r));
                self.set_busy(None);
            }
            Action::Connecting => {
                let mut state = self.state.borrow_mut();
                state.connecting = true;
                state.busy = Some(if state.pending_sign_in.is_some() {
                    T::SigningIn
                } else {
                    T::Loading
                });
            }
            Action::Connected {
                client,
                chains,
                decimals,
            } => {
                let mut state = self.state.borrow_mut();
                state.decimals = decimals;
                state.claim_chain = chains.first().map_or(0, |c| c.0);
                state.chains = chains;
                state.client = Some(Rc::clone(&client));
                state.wallet_found = true;
                state.notice = None;
                state.connecting = false;
                state.busy = None;
                match state.pending_sign_in.take() {
                    Some(wallet) => {
                        state.busy = Some(T::SigningIn);
                        spawn_local(Rc::clone(self).sign_in(wallet));
                    }
                    // Browsing needs no sign-in: the open campaigns show on the connect screen.
                    None if !state.campaigns_known => {
                        spawn_local(Rc::clone(self).list_campaigns(client));
                    }
                    None => {}
                }
                spawn_local(Rc::clone(self).look_for_wallets());
            }
            Action::RelayDown => {
                {
                    let mut state = self.state.borrow_mut();
                    state.pending_sign_in = None;
                    state.connecting = false;
                    state.busy = None;
                }
                self.set_notice(
                    self.t(T::RelayDown).to_owned(),
                    true,
                    Some((Action::RetryRelay, T::Retry)),
                );
            }
            Action::Listed(campaigns) => {
                let mut state = self.state.borrow_mut();
                if state.campaigns_known {
                    return Redraw::Nothing;
                }
                state.campaigns = campaigns;
                state.campaigns_known = true;
            }
            Action::WalletsFound(found) => {
                let mut state = self.state.borrow_mut();
                if state.wallet_found == found {
                    return Redraw::Nothing;
                }
                state.wallet_found = found;
            }
            Action::SignedIn { session, wallet } => {
                let mut state = self.state.borrow_mut();
                state.session = Some(session);
                state.wallet = wallet;
                state.screen = Screen::Campaigns;
                // Still signing in until the campaigns and balances are there (`Refreshed`).
                spawn_local(Rc::clone(self).refresh());
            }
            Action::Refreshed {
                campaigns,
                balances,
            } => {
                let mut state = self.state.borrow_mut();
                state.campaigns = campaigns;
                state.campaigns_known = true;
                state.balances = read_balances(&balances);
                state.held = read_held(&balances);
                if state.busy == Some(T::SigningIn) {
                    state.busy = None;
                }
            }
            Action::Standing { standing, rejected } => {
                let mut state = self.state.borrow_mut();
                state.standing = standing;
                state.rejected = rejected;
            }
            Action::Balances(balances) => {
                let mut state = self.state.borrow_mut();
                state.balances = read_balances(&balances);
                state.held = read_held(&balances);
            }
            Action::Leased(answer) => return self.leased(answer),
            Action::Skipped(result) => match result {
                // A lease that is gone (expired, answered) needs no skipping.
                Err(error)
                    if !matches!(
                        relay_code(&error),
                        Some(ErrorCode::LeaseNotActive | ErrorCode::NoLease)
                    ) =>
                {
                    self.fail(&error, Some(Action::Skip));
                    self.set_busy(None);
                }
                _ => {
                    spawn_local(Rc::clone(self).next_task());
                    return Redraw::Nothing;
                }
            },
            Action::Sealed(sealed) => {
                let mut state = self.state.borrow_mut();
                if let Some(work) = state.work.as_mut() {
                    work.upload.sealed = Some(sealed);
                }
                state.busy = Some(T::Uploading);
            }
            Action::Progress(sent, total) => {
                if let Some(work) = self.state.borrow_mut().work.as_mut() {
                    work.upload.progress = Some((sent, total));
                }
                return Redraw::Progress;
            }
            Action::UploadFailed(error) => {
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
                if resumable && (code(&error) == "network" || status >= 500.0 || status == 429.0) {
                    self.set_notice(
                        self.t(T::UploadFailed).to_owned(),
                        true,
                        Some((Action::ResumeUpload, T::ResumeUpload)),
                    );
                } else {
                    self.fail(&error, None);
                }
                self.set_busy(None);
            }
            Action::Submitted {
                outcome,
                reward,
                upload,
            } => {
                let status = at(&outcome, "status").as_str().unwrap_or_default();
                let credited = at(&outcome, "credited").as_str().unwrap_or("0");
                let token = at(&outcome, "token").as_str().unwrap_or_default();
                let text = match status {
                    _ if at(&outcome, "duplicate").as_bool() == Some(true) => {
                        self.t(T::Duplicate).to_owned()
                    }
                    "accepted" if at(&outcome, "held").as_bool() == Some(true) => format!(
                        "{} +{reward} {token} {} — {}",
                        self.t(T::HeldUntil),
                        self.t(T::Held),
                        self.t(T::HeldWhy)
                    ),
                    "accepted" => format!("{} +{credited} {token}", self.t(T::Credited)),
                    "pending" if upload => self.t(T::PendingCheck).to_owned(),
                    "pending" => self.t(T::Pending).to_owned(),
                    _ => self.t(T::NotPaid).to_owned(),
                };
                self.set_notice(text, status == "rejected", None);
                let mut state = self.state.borrow_mut();
                if let Some(balance) = at(&outcome, "balance").as_str() {
                    match state.balances.iter_mut().find(|b| b.0 == token) {
                        Some(entry) => balance.clone_into(&mut entry.1),
                        None => {
                            state
                                .balances
                                .push((token.to_owned(), balance.to_owned(), Vec::new()))
                        }
                    }
                }
                state.busy = Some(T::Loading);
                spawn_local(Rc::clone(self).after_submit());
            }
            Action::SubmitFailed(error) => match relay_code(&error) {
                Some(ErrorCode::LeaseExpired | ErrorCode::LeaseNotActive | ErrorCode::NoLease) => {
                    self.say(T::LeaseExpired, true);
                    self.set_busy(Some(T::Loading));
                    spawn_local(Rc::clone(self).next_task());
                }
                None if code(&error) == "network" => {
                    self.fail(&error, Some(Action::RetrySubmit));
                    self.set_busy(None);
                }
                _ => {
                    self.fail(&error, None);
                    self.set_busy(None);
                }
            },
            Action::FileAccepted {
                bytes,
                mime,
                capture,
            } => {
                let url = media::object_url(&bytes, mime).unwrap_or_default();
                let mut state = self.state.borrow_mut();
                if let Some(work) = state.work.as_mut() {
                    work.upload.clear();
                    work.upload.chosen = Some((bytes, mime.to_owned(), url, 0.0));
                    work.upload.capture = Some(capture);
                }
                state.notice = None;
            }
            Action::FileRefused(text) => self.set_notice(text, true, None),
            Action::RecordingStarted(started) => match started {
                Ok(recorder) => {
                    let mut state = self.state.borrow_mut();
                    match state.work.as_mut() {
                        Some(work) => work.upload.recorder = Some(recorder),
                        // Left the task meanwhile: the microphone is released at once.
                        None => drop(recorder.stop()),
                    }
                    state.notice = None;
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
            },
            Action::RecordingTick(seconds) => {
                let max = {
                    let mut state = self.state.borrow_mut();
                    let Some(work) = state.work.as_mut() else {
                        return Redraw::Nothing;
                    };
                    work.upload.recording_seconds = seconds;
                    work.campaign.upload.max_seconds
                };
                if seconds >= max {
                    // Stopping inside the audio callback would drop the callback while it runs.
                    self.later(Action::Stop);
                }
                return Redraw::Clock;
            }
            Action::Appealed(result) => match result {
                Ok(()) => {
                    self.say(T::AppealSent, false);
                    spawn_local(Rc::clone(self).refresh());
                }
                Err(error) => self.fail(&error, None),
            },
            Action::Voucher(result) => {
                self.set_busy(None);
                match result {
                    Ok(voucher) => {
                        {
                            let mut state = self.state.borrow_mut();
                            state.voucher = Some(voucher);
                            state.claim_tx = None;
                            state.notice = None;
                        }
                        spawn_local(Rc::clone(self).refresh_balances());
                        // With a wallet, the voucher goes on chain at once; without one it
                        // stays to be copied.
                        if self.state.borrow().wallet.is_some() {
                            self.send_claim();
                        }
                    }
                    Err(error) => self.fail(&error, Some(Action::Claim)),
                }
            }
            Action::Tx(tx) => self.state.borrow_mut().claim_tx = tx,
        }
        Redraw::Screen
    }

    /// Changes the draft answer of the current task with `change`, which gets the work and
    /// whether several choices may be made, and returns `None` when nothing changed.
    fn edit(&self, change: impl FnOnce(&mut Work, bool) -> Option<()>) -> Redraw {
        let mut state = self.state.borrow_mut();
        let Some(work) = state.work.as_mut().filter(|w| w.task.is_some()) else {
            return Redraw::Nothing;
        };
        let several = match work.campaign.kind {
            Kind::ImageCategorization => work.campaign.multi_label,
            Kind::ContentModeration => true,
            _ => false,
        };
        if change(work, several).is_none() {
            return Redraw::Nothing;
        }
        state.notice = None;
        Redraw::Screen
    }

    /// Submits the current task: the chosen answer, or the file or recording (sealed and
    /// uploaded first; an interrupted upload resumes from what the relay has).
    fn submit(self: &Rc<Self>) -> Redraw {
        let mut state = self.state.borrow_mut();
        let (Some(session), Some(work), None) =
            (state.session.clone(), state.work.as_ref(), state.busy)
        else {
            return Redraw::Nothing;
        };
        let Some(task) = work.task.clone() else {
            return Redraw::Nothing;
        };
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
        let campaign = work.campaign.clone();
        let capture = work.upload.capture;
        drop(state);
        let answer = match answer {
            Ok(answer) => answer,
            Err(missing) => {
                self.say(missing, true);
                return Redraw::Screen;
            }
        };
        // The campaign's least time per task: an answer chosen sooner is held until then
        // (a few seconds at most), rather than refused by the relay.
        let early = task.submit_after_ms - now_ms();
        if early > MAX_HOLD_MS {
            self.say(T::TooFast, true);
            return Redraw::Screen;
        }
        state = self.state.borrow_mut();
        state.notice = None;
        state.busy = Some(T::Loading);
        spawn_local(Rc::clone(self).send_submission(
            session,
            task,
            answer,
            campaign,
            capture,
            early.max(0.0),
        ));
        Redraw::Screen
    }

    fn leased(self: &Rc<Self>, answer: Result<Option<Task>, wasm_bindgen::JsValue>) -> Redraw {
        {
            let mut state = self.state.borrow_mut();
            state.busy = None;
            let Some(work) = state.work.as_mut() else {
                return Redraw::Screen;
            };
            work.upload.clear();
            work.draft = Draft::default();
            work.task = None;
            work.words.clear();
            match &answer {
                Ok(task) => {
                    work.words = task
                        .as_ref()
                        .and_then(|t| t.text.as_deref())
                        .map(task::words)
                        .unwrap_or_default();
                    work.task = task.clone();
                    work.done = false;
                }
                Err(error) if relay_code(error) == Some(ErrorCode::NoTask) => work.done = true,
                Err(_) => {}
            }
        }
        match answer {
            Ok(_) => {}
            Err(error) if relay_code(&error) == Some(ErrorCode::NoTask) => {
                self.say(T::NoTaskLeft, false);
            }
            Err(error) => self.fail(&error, Some(Action::Next)),
        }
        Redraw::ScreenAndFocus
    }

    fn stop_recording(&self) {
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
    }

    /// Checks a picked file's size at once, then its bytes (effects.rs).
    fn pick_file(self: &Rc<Self>, file: web_sys::File, capture: Capture) -> Redraw {
        let rules = {
            let state = self.state.borrow();
            let Some(work) = state.work.as_ref() else {
                return Redraw::Nothing;
            };
            work.campaign.upload.clone()
        };
        if file.size() > rules.max_bytes as f64 {
            self.say(T::FileTooLarge, true);
            return Redraw::Screen;
        }
        spawn_local(Rc::clone(self).check_file(file, capture, rules));
        Redraw::Nothing
    }

    /// Sends the shown voucher's claim through the connected wallet (effects.rs follows it).
    fn send_claim(self: &Rc<Self>) -> Redraw {
        let mut state = self.state.borrow_mut();
        if matches!(
            state.claim_tx.as_ref().map(|t| t.status),
            Some(TxStatus::Sending | TxStatus::Pending | TxStatus::Confirmed)
        ) {
            return Redraw::Nothing;
        }
        let (Some(wallet), Some(voucher)) = (state.wallet.clone(), state.voucher.clone()) else {
            return Redraw::Nothing;
        };
        state.claim_tx = Some(ClaimTx {
            status: TxStatus::Sending,
            hash: String::new(),
            balance: None,
        });
        spawn_local(Rc::clone(self).follow_claim(wallet, voucher));
        Redraw::Screen
    }

    /// Turns a failed request into words for the contributor; `retry` is offered where trying
    /// again can help. A session the relay no longer knows, or one that has earned its reward
    /// cap, goes back to Connect; a campaign that has closed (or is gone) back to the campaigns.
    fn fail(self: &Rc<Self>, error: &wasm_bindgen::JsValue, retry: Option<Action>) {
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
            Some(ErrorCode::RewardCapReached) => Some(T::RewardCapReached),
            Some(ErrorCode::CampaignClosed | ErrorCode::NoCampaign) => Some(T::CampaignClosed),
            Some(ErrorCode::RateLimited) => Some(T::RateLimited),
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
        let text = if self.state.borrow().offline && code == "network" {
            self.t(T::Offline).to_owned()
        } else {
            match known {
                Some(t) => self.t(t).to_owned(),
                None => format!("{}: {}", self.t(T::Error), message(error)),
            }
        };
        match known {
            Some(T::SessionExpired | T::RewardCapReached) => {
                self.set_notice(text, true, None);
                let mut state = self.state.borrow_mut();
                state.session = None;
                state.screen = Screen::Connect;
            }
            Some(T::CampaignClosed) => {
                self.set_notice(text, true, None);
                let mut state = self.state.borrow_mut();
                if let Some(mut work) = state.work.take() {
                    work.upload.clear();
                }
                if state.screen == Screen::Task {
                    state.screen = Screen::Campaigns;
                }
                // The list without the closed campaign.
                spawn_local(Rc::clone(self).refresh());
            }
            _ => self.set_notice(text, true, retry.map(|r| (r, T::Retry))),
        }
    }

    /// The action a key stands for on the task screen: 1–9 choose (or mark the selected words),
    /// Enter submits, S skips.
    pub(super) fn key_action(&self, event: &KeyboardEvent) -> Option<Action> {
        if event.ctrl_key() || event.meta_key() || event.alt_key() {
            return None;
        }
        let target = event
            .target()
            .and_then(|t| t.dyn_into::<web_sys::Element>().ok());
        let typing = target
            .as_ref()
            .is_some_and(|t| matches!(t.tag_name().as_str(), "INPUT" | "SELECT" | "TEXTAREA"));
        let state = self.state.borrow();
        if typing || state.screen != Screen::Task || state.busy.is_some() {
            return None;
        }
        match event.key().as_str() {
            "Enter" => {
                // Enter submits, as in a form, also from a focused choice (Space toggles it);
                // on any other button (skip, back, mark…) it presses that button.
                let other_button = target
                    .and_then(|t| t.closest("button").ok().flatten())
                    .is_some_and(|b| {
                        !b.get_attribute("data-action")
                            .and_then(|a| Action::parse(&a))
                            .is_some_and(|a| matches!(a, Action::Choose(_)))
                    });
                (!other_button).then_some(Action::Submit)
            }
            "s" | "S" => Some(Action::Skip),
            digit => {
                let index = digit
                    .parse::<usize>()
                    .ok()
                    .filter(|d| (1..=9).contains(d))?
                    - 1;
                let marking = state
                    .work
                    .as_ref()
                    .is_some_and(|w| w.draft.selection.is_some());
                Some(if marking {
                    Action::Mark(index)
                } else {
                    Action::Choose(index)
                })
            }
        }
    }

    fn focus_first_choice(&self) {
        // Only on a task: elsewhere (a closed campaign sent the contributor back to the list)
        // the first primary button is far down the page.
        if self.state.borrow().screen != Screen::Task {
            return;
        }
        if let Ok(Some(first)) = self.root.query_selector(".dh-choices button, .dh-primary") {
            dom::focus(&first);
        }
    }

    /// Updates the progress bar in place.
    fn show_progress(&self) {
        let state = self.state.borrow();
        let Some((sent, total)) = state.work.as_ref().and_then(|w| w.upload.progress) else {
            return;
        };
        if let Some(bar) = self.dom.doc.get_element_by_id("dh-progress") {
            dom::set(&bar, "max", &total.max(1).to_string());
            dom::set(&bar, "value", &sent.to_string());
        } else {
            // Not drawn yet: the first shard of this upload.
            drop(state);
            self.render();
            return;
        }
        if let Some(label) = self.dom.doc.get_element_by_id("dh-progress-text") {
            label.set_text_content(Some(&format!(
                "{} {sent} / {total}",
                T::Uploading.get(state.lang)
            )));
        }
    }

    /// Updates the recording's clock in place.
    fn show_clock(&self) {
        let state = self.state.borrow();
        let Some(seconds) = state.work.as_ref().map(|w| w.upload.recording_seconds) else {
            return;
        };
        if let Some(clock) = self.dom.doc.get_element_by_id("dh-rec-time") {
            clock.set_text_content(Some(&format!(
                "{} {}",
                super::fixed(seconds, 1),
                T::Seconds.get(state.lang)
            )));
        }
    }
}
