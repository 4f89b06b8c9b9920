//! Consent before the first task: a campaign with terms shows them, with its licence, and
//! waits for "I accept". Acceptance is remembered in this browser per campaign and terms hash,
//! so changed terms are shown again. The hash is computed here from the text shown, and every
//! receipt signs it with the licence (the relay refuses receipts that sign other terms).

use web_sys::Element;

use super::action::Action;
use super::dom::{add, set};
use super::task::Campaign;
use super::text::{Lang, T};
use super::{App, stored};

/// The localStorage key that records acceptance of `campaign`'s terms.
fn accepted_key(campaign: &Campaign) -> String {
    format!("datahub.terms.{}", campaign.id)
}

/// The terms hash as stored and sent: `0x` and 64 hex digits.
pub(super) fn terms_hash_hex(campaign: &Campaign) -> String {
    crate::js::hex(&campaign.terms_hash)
}

/// Whether the contributor must still accept `campaign`'s terms in this browser.
pub(super) fn needs_acceptance(campaign: &Campaign) -> bool {
    campaign.terms.is_some()
        && stored(&accepted_key(campaign)).as_deref() != Some(terms_hash_hex(campaign).as_str())
}

/// `Session.submit`'s options: the upload's object (if any), and the consent the receipt signs.
pub(super) fn submit_options(campaign: &Campaign, manifest: Option<&str>) -> serde_json::Value {
    let mut options = serde_json::json!({
        "licence": campaign.licence,
        "termsHash": terms_hash_hex(campaign),
    });
    if let (Some(m), Some(o)) = (manifest, options.as_object_mut()) {
        o.insert("manifestId".into(), m.into());
    }
    options
}

/// Records in this browser that `campaign`'s terms, as shown, were accepted.
pub(super) fn remember_acceptance(campaign: &Campaign) {
    if let Some(storage) = web_sys::window().and_then(|w| w.local_storage().ok().flatten()) {
        let _ = storage.set_item(&accepted_key(campaign), &terms_hash_hex(campaign));
    }
}

impl App {
    /// The terms screen: the licence, the terms as written, accept or go back.
    pub(super) fn terms_view(&self, main: &Element, campaign: &Campaign, lang: Lang) {
        let d = &self.dom;
        let section = d.el("section", "dh-terms");
        set(&section, "aria-label", T::TermsTitle.get(lang));
        set(&section, "data-terms-hash", &terms_hash_hex(campaign));
        add(&section, &d.text("h2", "", T::TermsTitle.get(lang)));
        add(&section, &d.text("p", "dh-hint", T::TermsHint.get(lang)));
        let licence = match (campaign.licence.as_str(), campaign.licence_url.as_str()) {
            ("", _) => T::NoLicence.get(lang).to_owned(),
            (id, "") => id.to_owned(),
            (id, url) => format!("{id} ({url})"),
        };
        let line = d.text(
            "p",
            "dh-licence",
            &format!("{}: {licence}", T::Licence.get(lang)),
        );
        add(&section, &line);
        // Shown as written (textContent, pre-wrap): what is hashed is exactly what is read.
        let text = d.text(
            "div",
            "dh-terms-text",
            campaign.terms.as_deref().unwrap_or_default(),
        );
        set(&text, "tabindex", "0");
        add(&section, &text);
        let row = d.el("div", "dh-actions");
        add(
            &row,
            &d.button(&Action::AcceptTerms, T::AcceptTerms.get(lang), "dh-primary"),
        );
        add(
            &row,
            &d.button(&Action::Back, T::Back.get(lang), "dh-secondary"),
        );
        add(&section, &row);
        add(main, &section);
    }
}
