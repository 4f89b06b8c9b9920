//! The screens, drawn from the state: the header and status line, then connect, campaigns (with
//! the balance and claims) or the current task. Every control carries a `data-action`, which
//! `App::act` carries out.

use datahub_protocol::Kind;
use web_sys::Element;

use super::action::Action;
use super::dom::{self, add, set};
use super::task::{self, Task};
use super::text::{Lang, T};
use super::{App, Screen, State, TxStatus, Work, at, fixed, is_positive, kind_tag, plain, short};

impl App {
    pub(super) fn render(&self) {
        let focused = self
            .dom
            .doc
            .active_element()
            .filter(|e| self.root.contains(Some(e)))
            .and_then(|e| e.get_attribute("data-action"));
        let state = self.state.borrow();
        let lang = state.lang;
        if let Some(html) = self.dom.doc.document_element() {
            set(&html, "lang", lang.tag());
        }
        let d = &self.dom;
        let page = d.el("div", "dh-page");
        add(&page, &self.header(&state));
        let status = d.el("div", "dh-status");
        set(&status, "role", "status");
        set(&status, "aria-live", "polite");
        if state.offline {
            add(&status, &d.text("p", "dh-error", T::Offline.get(lang)));
        }
        if let Some(notice) = &state.notice {
            let p = d.text(
                "p",
                if notice.error { "dh-error" } else { "dh-ok" },
                &notice.text,
            );
            if let Some((action, label)) = &notice.action {
                add(&p, &d.button(action, label.get(lang), "dh-inline"));
            }
            add(&status, &p);
        }
        if let Some(busy) = state.busy {
            add(&status, &d.text("p", "dh-busy", busy.get(lang)));
        }
        add(&page, &status);
        let main = d.el("main", "dh-main");
        match state.screen {
            Screen::Connect => self.connect_screen(&main, &state),
            Screen::Campaigns => self.campaigns_screen(&main, &state),
            Screen::Task => self.task_screen(&main, &state),
        }
        add(&page, &main);
        self.keep_media(&page);
        self.root.set_text_content(None);
        add(&self.root, &page);
        set(
            &self.root,
            "data-screen",
            match state.screen {
                Screen::Connect => "connect",
                Screen::Campaigns => "campaigns",
                Screen::Task => "task",
            },
        );
        set(
            &self.root,
            "data-busy",
            if state.busy.is_some() {
                "true"
            } else {
                "false"
            },
        );
        drop(state);
        if let Some(action) = focused {
            let selector = format!("[data-action=\"{}\"]", action.replace('"', ""));
            if let Ok(Some(el)) = self.root.query_selector(&selector) {
                dom::focus(&el);
            }
        }
    }

    /// Carries the media on screen (a picture, a preview, a recording's playback) over into
    /// the new screen `page` where it shows the same `src`: a new element would load it again,
    /// and a recording being played would stop. Moved within this task, an element playing
    /// stays playing (a media element pauses only if it is out of the document once the task
    /// ends). The new element's other attributes (its words, in the language now chosen) are
    /// copied onto the kept one.
    fn keep_media(&self, page: &Element) {
        for selector in ["#dh-playback", "#dh-preview", ".dh-image"] {
            let (Ok(Some(old)), Ok(Some(new))) = (
                self.root.query_selector(selector),
                page.query_selector(selector),
            ) else {
                continue;
            };
            if old.get_attribute("src").is_none()
                || old.get_attribute("src") != new.get_attribute("src")
            {
                continue;
            }
            for name in new
                .get_attribute_names()
                .iter()
                .filter_map(|n| n.as_string())
            {
                // Setting `src`, even to the same value, loads the media again.
                if let Some(value) = new.get_attribute(&name).filter(|_| name != "src") {
                    set(&old, &name, &value);
                }
            }
            let _ = new.replace_with_with_node_1(&old);
        }
    }

    fn header(&self, state: &State) -> Element {
        let d = &self.dom;
        let lang = state.lang;
        let header = d.el("header", "dh-header");
        add(&header, &d.text("strong", "dh-brand", "DataHub"));
        if state.session.is_some() {
            let balance = d.el("span", "dh-balance");
            balance.set_id("dh-balance");
            let shown: Vec<String> = state
                .balances
                .iter()
                .map(|(token, amount, _)| format!("{amount} {token}"))
                .collect();
            let shown = if shown.is_empty() {
                "0".to_owned()
            } else {
                shown.join(" · ")
            };
            // The word hides on narrow phones; the amount always shows.
            add(
                &balance,
                &d.text(
                    "span",
                    "dh-balance-label",
                    &format!("{} ", T::Balance.get(lang)),
                ),
            );
            add(&balance, &d.text("span", "", &shown));
            add(&header, &balance);
            self.held_badge(&header, state);
        }
        let switch = d.button(&Action::ToggleLang, lang.other().name(), "dh-lang");
        set(
            &switch,
            "aria-label",
            &format!("{}: {}", T::Language.get(lang), lang.other().name()),
        );
        set(&switch, "lang", lang.other().tag());
        add(&header, &switch);
        header
    }

    /// Rewards held until the contributor's record is known, beside the balance and apart from
    /// it: earned, not yet paid, not claimable.
    fn held_badge(&self, header: &Element, state: &State) {
        if state.held.is_empty() {
            return;
        }
        let d = &self.dom;
        let lang = state.lang;
        let shown: Vec<String> = state
            .held
            .iter()
            .map(|(token, amount)| format!("{amount} {token}"))
            .collect();
        let held = d.text(
            "span",
            "dh-held",
            &format!("+{} {}", shown.join(" · "), T::Held.get(lang)),
        );
        held.set_id("dh-held");
        set(&held, "title", T::AnswersHeld.get(lang));
        add(header, &held);
    }

    fn connect_screen(&self, main: &Element, state: &State) {
        let d = &self.dom;
        let lang = state.lang;
        add(main, &d.text("h1", "", "DataHub"));
        add(main, &d.text("p", "dh-lead", T::Tagline.get(lang)));
        // The buttons show while the relay is being reached (a press then waits for it), not
        // once it is known to be down.
        if state.client.is_some() || state.connecting {
            self.connect_buttons(main, state);
        }
        self.browse(main, state);
    }

    fn connect_buttons(&self, main: &Element, state: &State) {
        let d = &self.dom;
        let lang = state.lang;
        let wallet = d.button(
            &Action::SignIn { wallet: true },
            T::ConnectWallet.get(lang),
            "dh-primary",
        );
        set(&wallet, "id", "dh-connect-wallet");
        add(main, &wallet);
        add(
            main,
            &d.text("p", "dh-hint", T::ConnectWalletHint.get(lang)),
        );
        let local = d.button(
            &Action::SignIn { wallet: false },
            T::UseLocalKey.get(lang),
            "dh-secondary",
        );
        set(&local, "id", "dh-connect-local");
        add(main, &local);
        add(main, &d.text("p", "dh-hint", T::UseLocalKeyHint.get(lang)));
        // Known only a moment after the buttons are drawn (wallets announce themselves): said
        // last, so that nothing moves under a finger already on its way to a button. Above
        // them, it pushed "Continue without a wallet" down and a tap there was lost.
        if state.client.is_some() && !state.wallet_found {
            let hint = d.text("p", "dh-hint", T::NoWalletFound.get(lang));
            set(&hint, "id", "dh-no-wallet");
            add(main, &hint);
        }
    }

    /// The open campaigns and their rewards, to read before signing in (nothing to press:
    /// a campaign is opened once signed in). www/main.js draws the same before the app loads.
    fn browse(&self, main: &Element, state: &State) {
        if state.campaigns.is_empty() {
            return;
        }
        let d = &self.dom;
        let lang = state.lang;
        let section = d.el("section", "dh-browse");
        set(&section, "aria-label", T::Campaigns.get(lang));
        add(&section, &d.text("h2", "", T::Campaigns.get(lang)));
        let list = d.el("ul", "dh-campaigns");
        for campaign in &state.campaigns {
            let item = d.el("li", "dh-offer");
            set(&item, "data-kind", kind_tag(campaign.kind));
            self.campaign_lines(&item, campaign, lang);
            add(&list, &item);
        }
        add(&section, &list);
        add(main, &section);
    }

    /// A campaign's type, title and reward, on its card or in the list to browse.
    fn campaign_lines(&self, card: &Element, campaign: &task::Campaign, lang: Lang) {
        let d = &self.dom;
        add(
            card,
            &d.text("span", "dh-kind", T::Kind(campaign.kind).get(lang)),
        );
        add(card, &d.text("strong", "dh-title", &campaign.title));
        add(
            card,
            &d.text(
                "span",
                "dh-reward",
                &format!(
                    "{} {} {} · {} {}",
                    campaign.reward,
                    campaign.token,
                    T::PerTask.get(lang),
                    campaign.open_tasks,
                    T::TasksLeft.get(lang)
                ),
            ),
        );
    }

    fn campaigns_screen(&self, main: &Element, state: &State) {
        let d = &self.dom;
        let lang = state.lang;
        if let Some(session) = &state.session {
            let who = d.el("p", "dh-who");
            who.set_text_content(Some(&format!(
                "{} {}",
                T::SignedInAs.get(lang),
                short(&session.wallet())
            )));
            set(&who, "title", &session.wallet());
            add(
                &who,
                &d.button(&Action::SignOut, T::SignOut.get(lang), "dh-inline"),
            );
            add(main, &who);
        }
        add(main, &d.text("h1", "", T::Campaigns.get(lang)));
        if state.campaigns.is_empty() {
            add(main, &d.text("p", "dh-hint", T::NoCampaigns.get(lang)));
        }
        let list = d.el("ul", "dh-campaigns");
        for campaign in &state.campaigns {
            let item = d.el("li", "");
            let card = d.el("button", "dh-card");
            set(&card, "type", "button");
            dom::set_action(&card, &Action::OpenCampaign(campaign.id.clone()));
            set(&card, "data-kind", kind_tag(campaign.kind));
            self.campaign_lines(&card, campaign, lang);
            add(&item, &card);
            add(&list, &item);
        }
        add(main, &list);
        self.wallet_panel(main, state);
        self.standing_panel(main, state);
    }

    /// The contributor's standing per campaign, and their rejected answers with a way to appeal
    /// each once.
    fn standing_panel(&self, main: &Element, state: &State) {
        let d = &self.dom;
        let lang = state.lang;
        let Some(standing) = &state.standing else {
            return;
        };
        let panel = d.el("section", "dh-wallet");
        panel.set_id("dh-standing");
        set(&panel, "aria-label", T::Standing.get(lang));
        add(&panel, &d.text("h2", "", T::Standing.get(lang)));
        for c in at(standing, "campaigns").as_array().into_iter().flatten() {
            let line = d.el("div", "dh-standing-campaign");
            set(
                &line,
                "data-campaign",
                at(c, "campaign").as_str().unwrap_or_default(),
            );
            add(
                &line,
                &d.text("strong", "", at(c, "title").as_str().unwrap_or_default()),
            );
            let count = |key: &str| at(c, key).as_i64().unwrap_or(0);
            add(
                &line,
                &d.text(
                    "p",
                    "dh-hint",
                    &format!(
                        "{} {} ({} {}) · {} {} · {} {} · {} {}",
                        T::Trust.get(lang),
                        fixed(at(c, "trust").as_f64().unwrap_or(0.0), 2),
                        T::TrustNeeded.get(lang),
                        fixed(at(c, "min_trust").as_f64().unwrap_or(0.0), 2),
                        count("accepted"),
                        T::AnswersAccepted.get(lang),
                        count("rejected"),
                        T::AnswersRejected.get(lang),
                        count("pending"),
                        T::AnswersPending.get(lang),
                    ),
                ),
            );
            self.held_line(&line, c, lang);
            if let Some(why) = at(c, "why").as_str() {
                let restricted = d.text(
                    "p",
                    "dh-error",
                    &format!("{}: {why}", T::Restricted.get(lang)),
                );
                set(&restricted, "data-restricted", "true");
                add(&line, &restricted);
            } else if at(c, "probation").as_bool() == Some(true) {
                add(&line, &d.text("p", "dh-hint", T::OnProbation.get(lang)));
            }
            add(&panel, &line);
        }
        let appeals: Vec<(&str, &str)> = at(standing, "appeals")
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|a| Some((at(a, "submission").as_str()?, at(a, "state").as_str()?)))
            .collect();
        if !state.rejected.is_empty() {
            add(&panel, &d.text("h3", "", T::RejectedAnswers.get(lang)));
            let list = d.el("ul", "dh-rejected");
            for (i, (submission, campaign, why)) in state.rejected.iter().enumerate() {
                let item = d.el("li", "");
                set(&item, "data-submission", submission);
                add(&item, &d.text("p", "", &format!("{campaign}: {why}")));
                match appeals.iter().find(|(s, _)| s == submission) {
                    Some((_, appeal)) => {
                        let said = match *appeal {
                            "upheld" => T::AppealUpheld,
                            "refused" => T::AppealRefused,
                            _ => T::AppealOpen,
                        };
                        let line = d.text("p", "dh-hint", said.get(lang));
                        set(&line, "data-appeal", appeal);
                        add(&item, &line);
                    }
                    None => {
                        let input = d.el("input", "");
                        input.set_id(&format!("dh-appeal-{i}"));
                        set(&input, "type", "text");
                        set(&input, "maxlength", "500");
                        set(&input, "placeholder", T::AppealReason.get(lang));
                        set(&input, "aria-label", T::AppealReason.get(lang));
                        add(&item, &input);
                        add(
                            &item,
                            &d.button(&Action::Appeal(i), T::Appeal.get(lang), "dh-secondary"),
                        );
                    }
                }
                add(&list, &item);
            }
            add(&panel, &list);
        }
        add(main, &panel);
    }

    /// A campaign's rewards held until the contributor's record is known, and what releases
    /// them; nothing when none is held.
    fn held_line(&self, line: &Element, campaign: &serde_json::Value, lang: Lang) {
        let count = at(campaign, "held").as_i64().unwrap_or(0);
        if count <= 0 {
            return;
        }
        let d = &self.dom;
        let held = d.text(
            "p",
            "dh-hint",
            &format!(
                "{count} {} ({} {}) — {}",
                T::AnswersHeld.get(lang),
                at(campaign, "held_amount").as_str().unwrap_or("0"),
                at(campaign, "token").as_str().unwrap_or_default(),
                T::HeldWhy.get(lang),
            ),
        );
        set(&held, "data-held", &count.to_string());
        add(line, &held);
    }

    fn wallet_panel(&self, main: &Element, state: &State) {
        let d = &self.dom;
        let lang = state.lang;
        let panel = d.el("section", "dh-wallet");
        set(&panel, "aria-label", T::Balance.get(lang));
        add(&panel, &d.text("h2", "", T::Balance.get(lang)));
        for (token, amount, per_chain) in &state.balances {
            let line = d.text("p", "dh-amount", &format!("{amount} {token}"));
            set(&line, "data-token", token);
            add(&panel, &line);
            for (chain, claimable) in per_chain.iter().filter(|(_, a)| is_positive(a)) {
                let name = state
                    .chains
                    .iter()
                    .find(|c| c.0 == *chain)
                    .map_or("", |c| c.1.as_str());
                add(
                    &panel,
                    &d.text(
                        "p",
                        "dh-hint",
                        &format!(
                            "{} {name} ({chain}): {claimable} {token}",
                            T::ClaimOn.get(lang)
                        ),
                    ),
                );
            }
        }
        let row = d.el("div", "dh-claim");
        let label = d.text("label", "", T::ClaimOn.get(lang));
        set(&label, "for", "dh-chain");
        add(&row, &label);
        let select = d.el("select", "");
        select.set_id("dh-chain");
        for (id, name) in &state.chains {
            let option = d.text("option", "", &format!("{name} ({id})"));
            set(&option, "value", &id.to_string());
            if *id == state.claim_chain {
                set(&option, "selected", "");
            }
            add(&select, &option);
        }
        add(&row, &select);
        let claim = d.button(&Action::Claim, T::Claim.get(lang), "dh-primary");
        claim.set_id("dh-claim");
        add(&row, &claim);
        add(&panel, &row);
        if let Some(voucher) = &state.voucher {
            let shown = d.el("div", "dh-voucher");
            add(&shown, &d.text("h3", "", T::Voucher.get(lang)));
            add(
                &shown,
                &d.text(
                    "p",
                    "dh-amount",
                    &format!(
                        "{} {} · chain {}",
                        at(voucher, "amount_tokens").as_str().unwrap_or_default(),
                        at(voucher, "token").as_str().unwrap_or_default(),
                        at(voucher, "chain_id"),
                    ),
                ),
            );
            add(&shown, &d.text("p", "dh-hint", T::VoucherHint.get(lang)));
            match &state.claim_tx {
                Some(tx) => {
                    let text = match tx.status {
                        TxStatus::Sending => T::TxSending.get(lang).to_owned(),
                        TxStatus::Pending => format!("{} {}", T::TxPending.get(lang), tx.hash),
                        TxStatus::Confirmed => format!("{} {}", T::TxConfirmed.get(lang), tx.hash),
                        TxStatus::Reverted => format!("{} {}", T::TxReverted.get(lang), tx.hash),
                    };
                    let line = d.text("p", "dh-tx", &text);
                    line.set_id("dh-claim-tx");
                    set(
                        &line,
                        "data-status",
                        &format!("{:?}", tx.status).to_lowercase(),
                    );
                    set(&line, "aria-live", "polite");
                    add(&shown, &line);
                    if let Some(balance) = &tx.balance {
                        let line = d.text(
                            "p",
                            "dh-amount",
                            &format!("{}: {balance}", T::WalletBalance.get(lang)),
                        );
                        line.set_id("dh-token-balance");
                        add(&shown, &line);
                    }
                    if tx.status == TxStatus::Reverted {
                        add(
                            &shown,
                            &d.button(&Action::SendClaim, T::SendClaim.get(lang), "dh-secondary"),
                        );
                    }
                }
                None if state.wallet.is_some() => {
                    add(
                        &shown,
                        &d.button(&Action::SendClaim, T::SendClaim.get(lang), "dh-primary"),
                    );
                }
                None => {}
            }
            add(
                &shown,
                &d.button(
                    &Action::CopyVoucher,
                    T::CopyVoucher.get(lang),
                    "dh-secondary",
                ),
            );
            let details = d.el("details", "");
            add(&details, &d.text("summary", "", "JSON"));
            let pre = d.text(
                "pre",
                "",
                &serde_json::to_string_pretty(voucher).unwrap_or_default(),
            );
            pre.set_id("dh-voucher-json");
            add(&details, &pre);
            add(&shown, &details);
            add(&panel, &shown);
        }
        add(main, &panel);
    }

    fn task_screen(&self, main: &Element, state: &State) {
        let d = &self.dom;
        let lang = state.lang;
        let Some(work) = state.work.as_ref() else {
            return;
        };
        let campaign = &work.campaign;
        let top = d.el("div", "dh-task-top");
        add(
            &top,
            &d.button(&Action::Back, T::Back.get(lang), "dh-inline"),
        );
        add(
            &top,
            &d.text("span", "dh-kind", T::Kind(campaign.kind).get(lang)),
        );
        add(main, &top);
        add(main, &d.text("h1", "", &campaign.title));
        if !campaign.instructions.is_empty() {
            let details = d.el("details", "dh-instructions");
            set(&details, "open", "");
            add(&details, &d.text("summary", "", T::Instructions.get(lang)));
            add(&details, &d.text("p", "", &campaign.instructions));
            add(main, &details);
        }
        if work.terms_pending {
            self.terms_view(main, campaign, lang);
            return;
        }
        if work.done {
            add(
                main,
                &d.button(&Action::Back, T::Back.get(lang), "dh-primary"),
            );
            return;
        }
        let Some(task) = &work.task else { return };
        let form = d.el("section", "dh-task");
        set(&form, "data-kind", kind_tag(campaign.kind));
        set(&form, "data-lease", &task.lease);
        set(&form, "aria-label", &campaign.title);
        add(
            &form,
            &d.text(
                "p",
                "dh-reward",
                &format!(
                    "{} {} {}",
                    campaign.reward,
                    campaign.token,
                    T::PerTask.get(lang)
                ),
            ),
        );
        self.item(&form, task, work, lang);
        match campaign.kind {
            Kind::ImageCategorization => {
                let prompt = if campaign.multi_label {
                    T::ChooseLabels
                } else {
                    T::ChooseLabel
                };
                self.choices(
                    &form,
                    prompt.get(lang),
                    &campaign.labels,
                    &work.draft.chosen,
                    campaign.multi_label,
                );
            }
            Kind::ContentVerification => {
                let verdicts =
                    [T::TrueLabel, T::FalseLabel, T::Unsure].map(|t| t.get(lang).to_owned());
                self.choices(
                    &form,
                    T::ClaimText.get(lang),
                    &verdicts,
                    &work.draft.chosen,
                    false,
                );
            }
            Kind::TextLabeling => {
                self.spans(&form, work, lang);
                self.choices(
                    &form,
                    T::TextLabel.get(lang),
                    &campaign.labels,
                    &work.draft.chosen,
                    false,
                );
            }
            Kind::ContentModeration => {
                self.choices(
                    &form,
                    T::Flags.get(lang),
                    &campaign.labels,
                    &work.draft.chosen,
                    true,
                );
                if work.draft.chosen.is_empty() {
                    add(&form, &d.text("p", "dh-hint", T::NoFlags.get(lang)));
                }
            }
            Kind::ImageUpload => self.photo(&form, work, lang),
            Kind::VoiceRecording => self.voice(&form, work, lang),
        }
        if let Some((sent, total)) = work.upload.progress {
            let bar = d.el("progress", "");
            bar.set_id("dh-progress");
            set(&bar, "max", &total.max(1).to_string());
            set(&bar, "value", &sent.to_string());
            set(&bar, "aria-label", T::Uploading.get(lang));
            add(&form, &bar);
            let text = d.text(
                "p",
                "dh-hint",
                &format!("{} {sent} / {total}", T::Uploading.get(lang)),
            );
            text.set_id("dh-progress-text");
            add(&form, &text);
        }
        add(main, &form);
        let bar = d.el("div", "dh-actions");
        add(
            &bar,
            &d.key_button(&Action::Skip, "S", T::Skip.get(lang), "dh-secondary"),
        );
        let submit = d.key_button(&Action::Submit, "Enter", T::Submit.get(lang), "dh-primary");
        submit.set_id("dh-submit");
        add(&bar, &submit);
        add(main, &bar);
        let keys = d.text(
            "p",
            "dh-keys",
            &format!(
                "{}: 1–9 {} · Enter {} · S {}",
                T::Shortcuts.get(lang),
                T::ShortcutLabels.get(lang),
                T::ShortcutSubmit.get(lang),
                T::ShortcutSkip.get(lang)
            ),
        );
        add(main, &keys);
    }

    /// The item itself: its image, claim, text or prompt.
    fn item(&self, form: &Element, task: &Task, work: &Work, lang: Lang) {
        let d = &self.dom;
        if let Some(url) = task
            .image_url
            .as_deref()
            .and_then(|u| task::resolve_url(&self.base, u))
        {
            let img = d.el("img", "dh-image");
            set(&img, "src", &url);
            set(&img, "referrerpolicy", "no-referrer");
            let alt = task
                .claim
                .as_deref()
                .or(task.text.as_deref())
                .unwrap_or(T::Kind(work.campaign.kind).get(lang));
            set(&img, "alt", alt);
            add(form, &img);
        }
        if let Some(claim) = &task.claim {
            let q = d.text("blockquote", "dh-claim-text", claim);
            add(form, &q);
        }
        if let Some(prompt) = &task.prompt {
            let label = if work.campaign.kind == Kind::VoiceRecording {
                T::ReadAloud.get(lang)
            } else {
                ""
            };
            if !label.is_empty() {
                add(form, &d.text("p", "dh-hint", label));
            }
            add(form, &d.text("p", "dh-prompt", prompt));
        }
        // Text labeling shows its text as tappable words instead.
        if let Some(text) = task
            .text
            .as_ref()
            .filter(|_| work.campaign.kind != Kind::TextLabeling)
        {
            add(form, &d.text("p", "dh-text", text));
        }
        self.suggestion(form, task, lang);
    }

    /// A pre-annotating model's suggestion, with the model's kind, under the item.
    fn suggestion(&self, form: &Element, task: &Task, lang: Lang) {
        if let Some(s) = &task.suggestion {
            let line = format!("{}: {} ({})", T::Suggested.get(lang), s.label, s.kind);
            add(form, &self.dom.text("p", "dh-hint dh-suggestion", &line));
        }
    }

    fn choices(
        &self,
        form: &Element,
        legend: &str,
        labels: &[String],
        chosen: &[usize],
        several: bool,
    ) {
        let d = &self.dom;
        let group = d.el("div", "dh-choices");
        set(&group, "role", "group");
        set(&group, "aria-label", legend);
        add(form, &d.text("p", "dh-legend", legend));
        for (i, label) in labels.iter().enumerate() {
            let key = if i < 9 {
                (i + 1).to_string()
            } else {
                String::new()
            };
            let on = chosen.contains(&i);
            let b = d.key_button(
                &Action::Choose(i),
                &key,
                label,
                if on { "dh-choice dh-on" } else { "dh-choice" },
            );
            set(
                &b,
                if several {
                    "aria-pressed"
                } else {
                    "aria-checked"
                },
                if on { "true" } else { "false" },
            );
            if !several {
                set(&b, "role", "radio");
            }
            add(&group, &b);
        }
        if !several {
            set(&group, "role", "radiogroup");
        }
        add(form, &group);
    }

    /// The text as words to tap, the spans marked so far, and the labels to mark with.
    fn spans(&self, form: &Element, work: &Work, lang: Lang) {
        let d = &self.dom;
        add(form, &d.text("p", "dh-legend", T::MarkSpans.get(lang)));
        add(form, &d.text("p", "dh-hint", T::MarkSpansHint.get(lang)));
        let text = d.el("p", "dh-words");
        let selected = work.draft.selected_words();
        for (i, word) in work.words.iter().enumerate() {
            let in_span = work
                .draft
                .spans
                .iter()
                .find(|s| s.start <= word.start && word.end <= s.end);
            let mut class = String::from("dh-word");
            if selected.is_some_and(|(a, b)| (a..=b).contains(&i)) {
                class.push_str(" dh-selected");
            }
            if in_span.is_some() {
                class.push_str(" dh-marked");
            }
            let b = d.button(&Action::Word(i), &word.text, &class);
            if let Some(span) = in_span {
                set(
                    &b,
                    "data-label",
                    work.campaign
                        .labels
                        .get(span.label)
                        .map_or("", String::as_str),
                );
            }
            add(&text, &b);
        }
        add(form, &text);
        if selected.is_some() {
            let marks = d.el("div", "dh-marks");
            for (i, label) in work.campaign.labels.iter().enumerate() {
                add(
                    &marks,
                    &d.button(
                        &Action::Mark(i),
                        &format!("{} {label}", T::MarkAs.get(lang)),
                        "dh-choice",
                    ),
                );
            }
            add(
                &marks,
                &d.button(
                    &Action::ClearWords,
                    T::ClearSelection.get(lang),
                    "dh-inline",
                ),
            );
            add(form, &marks);
        }
        if !work.draft.spans.is_empty() {
            let list = d.el("ul", "dh-spans");
            let chars: Vec<char> = work
                .task
                .as_ref()
                .and_then(|t| t.text.as_deref())
                .unwrap_or_default()
                .chars()
                .collect();
            for (i, span) in work.draft.spans.iter().enumerate() {
                let words: String = chars
                    .get(span.start..span.end)
                    .map(|c| c.iter().collect())
                    .unwrap_or_default();
                let label = work
                    .campaign
                    .labels
                    .get(span.label)
                    .map_or("", String::as_str);
                let li = d.text("li", "", &format!("{words} → {label} "));
                add(
                    &li,
                    &d.button(&Action::Unspan(i), T::RemoveSpan.get(lang), "dh-inline"),
                );
                add(&list, &li);
            }
            add(form, &list);
        }
    }

    fn photo(&self, form: &Element, work: &Work, lang: Lang) {
        let d = &self.dom;
        let rules = &work.campaign.upload;
        add(
            form,
            &d.text(
                "p",
                "dh-hint",
                &format!(
                    "{}: {} · ≥ {}×{} px · ≤ {} MiB",
                    T::PhotoRules.get(lang),
                    rules.type_names().join(", "),
                    rules.min_width,
                    rules.min_height,
                    fixed(rules.max_bytes as f64 / 1_048_576.0, 1)
                ),
            ),
        );
        let row = d.el("div", "dh-pick");
        for (id, capture, label) in [
            ("dh-camera", true, T::TakePhoto),
            ("dh-file", false, T::ChoosePhoto),
        ] {
            let pick = d.el("label", "dh-secondary dh-file");
            let input = d.el("input", "");
            input.set_id(id);
            set(&input, "type", "file");
            set(&input, "accept", &rules.type_names().join(","));
            if capture {
                set(&input, "capture", "environment");
            }
            add(&pick, &input);
            add(&pick, &d.text("span", "", label.get(lang)));
            add(&row, &pick);
        }
        add(form, &row);
        if let Some((bytes, mime, url, _)) = &work.upload.chosen {
            let img = d.el("img", "dh-preview");
            set(&img, "src", url);
            set(&img, "alt", T::Preview.get(lang));
            img.set_id("dh-preview");
            add(form, &img);
            add(
                form,
                &d.text(
                    "p",
                    "dh-hint",
                    &format!("{mime} · {} KiB", bytes.len().div_ceil(1024)),
                ),
            );
        }
    }

    fn voice(&self, form: &Element, work: &Work, lang: Lang) {
        let d = &self.dom;
        let rules = &work.campaign.upload;
        add(
            form,
            &d.text(
                "p",
                "dh-hint",
                &format!(
                    "{}: {}–{} {}",
                    T::RecordRules.get(lang),
                    plain(rules.min_seconds),
                    plain(rules.max_seconds),
                    T::Seconds.get(lang)
                ),
            ),
        );
        let row = d.el("div", "dh-pick");
        if work.upload.recorder.is_some() {
            add(
                &row,
                &d.text("span", "dh-recording", T::Recording.get(lang)),
            );
            let clock = d.text(
                "span",
                "dh-clock",
                &format!(
                    "{} {}",
                    fixed(work.upload.recording_seconds, 1),
                    T::Seconds.get(lang)
                ),
            );
            clock.set_id("dh-rec-time");
            add(&row, &clock);
            add(
                &row,
                &d.button(&Action::Stop, T::Stop.get(lang), "dh-primary"),
            );
        } else {
            let label = if work.upload.chosen.is_some() {
                T::Rerecord
            } else {
                T::Record
            };
            add(
                &row,
                &d.button(&Action::Record, label.get(lang), "dh-secondary"),
            );
        }
        add(form, &row);
        if let Some((_, _, url, seconds)) = &work.upload.chosen {
            let audio = d.el("audio", "dh-playback");
            audio.set_id("dh-playback");
            set(&audio, "controls", "");
            set(&audio, "src", url);
            set(&audio, "aria-label", T::Preview.get(lang));
            add(form, &audio);
            add(
                form,
                &d.text(
                    "p",
                    "dh-hint",
                    &format!("{} {}", fixed(*seconds, 1), T::Seconds.get(lang)),
                ),
            );
        }
    }
}
