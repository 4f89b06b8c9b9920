//! What the app asks of the relay, the wallet and the browser. Each effect reads the state it
//! needs, waits for the answer, and hands it back to `App::update` as an [`Action`]: none of
//! them changes the state itself.

use std::rc::Rc;

use datahub_protocol::answer::Capture;
use datahub_protocol::{ImageType, UploadRules};
use js_sys::{Reflect, Uint8Array};
use serde_json::{Value as Json, json};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

use super::action::Action;
use super::task::{Campaign, Task};
use super::text::T;
use super::{
    App, ClaimTx, SESSION_SECONDS, TxStatus, at, consent, format_units, media, read_campaigns,
    read_rejected, sleep, to_js, to_json, token_decimals, upload_answer, wait,
};
use crate::relay::{RelayClient, Session};
use crate::wallet::WalletSigner;

impl App {
    pub(super) async fn connect_relay(self: Rc<Self>) {
        self.update(Action::Connecting);
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
                self.update(Action::Connected {
                    client: Rc::new(client),
                    chains,
                    decimals: token_decimals(&info),
                });
            }
            // Whatever answered (nothing, a proxy's error page, something else), it is no
            // relay the contributor can work with.
            Err(_) => self.update(Action::RelayDown),
        }
    }

    /// The open campaigns, for the connect screen.
    pub(super) async fn list_campaigns(self: Rc<Self>, client: Rc<RelayClient>) {
        if let Ok(list) = wait(client.campaigns()).await {
            self.update(Action::Listed(read_campaigns(&list)));
        }
    }

    /// Wallets announce themselves within a moment (EIP-6963); the buttons do not wait for
    /// that, only the hint that none was found does.
    pub(super) async fn look_for_wallets(self: Rc<Self>) {
        let found = WalletSigner::discover(JsValue::UNDEFINED)
            .await
            .map(|w| js_sys::Array::from(&w).length() > 0)
            .unwrap_or(false);
        self.update(Action::WalletsFound(found));
    }

    pub(super) async fn sign_in(self: Rc<Self>, with_wallet: bool) {
        let (client, chain) = {
            let state = self.state.borrow();
            let Some(client) = state.client.clone() else {
                return;
            };
            (client, state.chains.first().map_or(0, |c| c.0))
        };
        let mut wallet = None;
        let signer: Result<JsValue, JsValue> = if with_wallet {
            WalletSigner::connect(JsValue::UNDEFINED)
                .await
                .map(|signer| {
                    wallet = Some(signer.clone());
                    JsValue::from(signer)
                })
        } else {
            crate::signer::LocalSigner::load_or_create(None)
                .await
                .map(JsValue::from)
        };
        let options = to_js(&json!({
            "chainId": chain,
            "ttlSeconds": SESSION_SECONDS,
            "statement": "Sign in to DataHub to do tasks and earn rewards.",
        }));
        let session = match signer.and_then(|s| client.start_sign_in(s, options)) {
            Ok(signing) => signing.await,
            Err(error) => Err(error),
        };
        self.update(match session {
            Ok(session) => Action::SignedIn {
                session: Rc::new(session),
                wallet,
            },
            Err(error) => Action::Failed { error, retry: None },
        });
    }

    /// Reloads the campaigns and balances, then the standing.
    pub(super) async fn refresh(self: Rc<Self>) {
        let Some(session) = self.state.borrow().session.clone() else {
            return;
        };
        let loaded = async {
            let campaigns = wait(session.campaigns()).await?;
            let balances = wait(session.balances()).await?;
            Ok::<_, JsValue>((campaigns, balances))
        }
        .await;
        self.update(match loaded {
            Ok((campaigns, balances)) => Action::Refreshed {
                campaigns: read_campaigns(&campaigns),
                balances,
            },
            Err(error) => Action::Failed { error, retry: None },
        });
        // Standing and history are extras: a relay without them leaves the panel out.
        let standing = wait(session.standing()).await.ok();
        let history = wait(session.history()).await.ok();
        self.update(Action::Standing {
            standing,
            rejected: history.as_ref().map(read_rejected).unwrap_or_default(),
        });
    }

    pub(super) async fn refresh_balances(self: Rc<Self>) {
        let Some(session) = self.state.borrow().session.clone() else {
            return;
        };
        if let Ok(balances) = wait(session.balances()).await {
            self.update(Action::Balances(balances));
        }
    }

    pub(super) async fn appeal(
        self: Rc<Self>,
        session: Rc<Session>,
        submission: String,
        reason: String,
    ) {
        let sent = wait(session.appeal(&submission, &reason)).await;
        self.update(Action::Appealed(sent.map(|_| ())));
    }

    pub(super) async fn next_task(self: Rc<Self>) {
        let (session, id) = {
            let state = self.state.borrow();
            let (Some(session), Some(work)) = (state.session.clone(), state.work.as_ref()) else {
                return;
            };
            (session, work.campaign.id.clone())
        };
        let answer = wait(session.next_task(&id)).await.map(|json| {
            Task::from_json(json, |t| {
                let ms = js_sys::Date::parse(t);
                ms.is_finite().then_some(ms)
            })
        });
        self.update(Action::Leased(answer));
    }

    pub(super) async fn skip(self: Rc<Self>, session: Rc<Session>, lease: String) {
        let skipped = match session.skip(&JsValue::from_str(&lease)) {
            Ok(p) => wait(p).await.map(|_| ()),
            Err(e) => Err(e),
        };
        self.update(Action::Skipped(skipped));
    }

    /// After an accepted submission: the next task, then the claimable amounts per chain (they
    /// come with the balances).
    pub(super) async fn after_submit(self: Rc<Self>) {
        Rc::clone(&self).next_task().await;
        self.refresh_balances().await;
    }

    /// Waits out the campaign's least time per task (`hold_ms`), uploads the file or recording
    /// if there is one, and sends the submission.
    pub(super) async fn send_submission(
        self: Rc<Self>,
        session: Rc<Session>,
        task: Task,
        answer: Option<Json>,
        campaign: Campaign,
        capture: Option<Capture>,
        hold_ms: f64,
    ) {
        if hold_ms > 0.0 {
            sleep(hold_ms + 50.0).await;
        }
        let (answer, manifest) = match answer {
            Some(answer) => (answer, None),
            None => match Rc::clone(&self).upload(&session, &campaign).await {
                Ok(object) => (upload_answer(&object, capture), Some(object)),
                Err(error) => {
                    self.update(Action::UploadFailed(error));
                    return;
                }
            },
        };
        if manifest.is_some() {
            self.update(Action::Busy(Some(T::Loading)));
        }
        let options = to_js(&consent::submit_options(&campaign, manifest.as_deref()));
        let outcome = match session.submit(&to_js(&task.json), &to_js(&answer), options) {
            Ok(p) => wait(p).await,
            Err(e) => Err(e),
        };
        self.update(match outcome {
            Ok(outcome) => Action::Submitted {
                outcome,
                reward: campaign.reward,
                upload: manifest.is_some(),
            },
            Err(error) => Action::SubmitFailed(error),
        });
    }

    /// Seals the chosen bytes (once) and sends the shards the relay still lacks.
    async fn upload(
        self: Rc<Self>,
        session: &Session,
        campaign: &Campaign,
    ) -> Result<String, JsValue> {
        let (sealed, chosen) = {
            let state = self.state.borrow();
            let upload = state.work.as_ref().map(|w| &w.upload);
            (
                upload.and_then(|u| u.sealed.clone()),
                upload.and_then(|u| u.chosen.as_ref().map(|c| c.0.clone())),
            )
        };
        let (sealed, resume) = match sealed {
            Some(sealed) => (sealed, true),
            None => {
                let bytes = chosen.ok_or("nothing chosen")?;
                self.update(Action::Busy(Some(T::Sealing)));
                let sealed = crate::seal::seal_bytes(
                    Uint8Array::from(bytes.as_slice()),
                    campaign.recipients.clone(),
                    JsValue::UNDEFINED,
                )
                .await?;
                (sealed, false)
            }
        };
        // Kept until submitted, so that an interrupted upload resumes.
        self.update(Action::Sealed(sealed.clone()));
        let weak = Rc::downgrade(&self);
        let on_progress = Closure::<dyn FnMut(JsValue)>::new(move |progress: JsValue| {
            let Some(app) = weak.upgrade() else { return };
            let number = |k: &str| {
                Reflect::get(&progress, &k.into())
                    .ok()
                    .and_then(|v| v.as_f64())
                    .unwrap_or(0.0) as u32
            };
            app.update(Action::Progress(number("sent"), number("total")));
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

    /// Reads a picked picture and checks it against the campaign's rules.
    pub(super) async fn check_file(
        self: Rc<Self>,
        file: web_sys::File,
        capture: Capture,
        rules: UploadRules,
    ) {
        let bytes = match JsFuture::from(file.array_buffer()).await {
            Ok(buffer) => Uint8Array::new(&buffer).to_vec(),
            Err(error) => {
                self.update(Action::Failed { error, retry: None });
                return;
            }
        };
        let t = |t: T| t.get(self.state.borrow().lang);
        let Some(mime) = media::sniff_image(&bytes) else {
            self.update(Action::Say(T::NotAnImage, true));
            return;
        };
        if !ImageType::from_mime(mime).is_some_and(|t| rules.allows(t)) {
            let text = format!(
                "{} ({})",
                t(T::WrongFileType),
                rules.type_names().join(", ")
            );
            self.update(Action::FileRefused(text));
            return;
        }
        let Some((width, height)) = media::image_size(&bytes, mime).await else {
            self.update(Action::Say(T::NotAnImage, true));
            return;
        };
        if width < rules.min_width || height < rules.min_height {
            let text = format!(
                "{} ({width}×{height} < {}×{})",
                t(T::ImageTooSmall),
                rules.min_width,
                rules.min_height
            );
            self.update(Action::FileRefused(text));
            return;
        }
        self.update(Action::FileAccepted {
            bytes,
            mime,
            capture,
        });
    }

    /// Asks for the microphone and records; the seconds recorded come back as they grow.
    pub(super) async fn record(self: Rc<Self>) {
        let weak = Rc::downgrade(&self);
        let started = media::Recorder::start(move |seconds| {
            if let Some(app) = weak.upgrade() {
                app.update(Action::RecordingTick(seconds));
            }
        })
        .await;
        self.update(Action::RecordingStarted(started));
    }

    pub(super) async fn claim(self: Rc<Self>, session: Rc<Session>, chain: u64, token: String) {
        let voucher = match session.claim(u32::try_from(chain).unwrap_or(0), &token, None) {
            Ok(p) => wait(p).await,
            Err(e) => Err(e),
        };
        self.update(Action::Voucher(voucher));
    }

    /// Sends the voucher's claim through the wallet and follows it to a block.
    pub(super) async fn follow_claim(self: Rc<Self>, wallet: WalletSigner, voucher: Json) {
        let sent = match wallet.send_claim(to_js(&voucher)) {
            Ok(p) => JsFuture::from(p).await,
            Err(e) => Err(e),
        };
        let hash = match sent.map(|h| h.as_string()) {
            Ok(Some(hash)) => hash,
            Ok(None) => {
                self.update(Action::Tx(None));
                return;
            }
            Err(error) => {
                self.update(Action::Tx(None));
                self.update(Action::Failed {
                    error,
                    retry: Some(Box::new(Action::SendClaim)),
                });
                return;
            }
        };
        self.update(Action::Tx(Some(ClaimTx {
            status: TxStatus::Pending,
            hash: hash.clone(),
            balance: None,
        })));
        let receipt = JsFuture::from(wallet.wait_for_transaction(hash.clone(), None)).await;
        let status = match receipt {
            Ok(r) if at(&to_json(&r), "status").as_str() == Some("confirmed") => {
                TxStatus::Confirmed
            }
            Ok(_) => TxStatus::Reverted,
            Err(error) => {
                self.update(Action::Failed { error, retry: None });
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
        self.update(Action::Tx(Some(ClaimTx {
            status,
            hash,
            balance,
        })));
    }
}
