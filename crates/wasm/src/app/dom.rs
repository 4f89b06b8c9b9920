//! A few DOM helpers. Text always goes in through `textContent`, never as HTML, so nothing a
//! campaign or a relay says can inject markup into the page.

use wasm_bindgen::JsCast;
use web_sys::{Document, Element, HtmlElement};

use super::action::Action;

pub struct Dom {
    pub doc: Document,
}

impl Dom {
    /// `<tag class="…">`.
    /// (Tags here are literals: creating them cannot fail.)
    pub fn el(&self, tag: &str, class: &str) -> Element {
        #[expect(clippy::expect_used, reason = "the tags are literals of this module")]
        let el = self.doc.create_element(tag).expect("a valid tag name");
        if !class.is_empty() {
            el.set_class_name(class);
        }
        el
    }

    /// `<tag class="…">text</tag>`.
    pub fn text(&self, tag: &str, class: &str, text: &str) -> Element {
        let el = self.el(tag, class);
        el.set_text_content(Some(text));
        el
    }

    /// A button that does `action` when pressed (see `App::update`).
    pub fn button(&self, action: &Action, label: &str, class: &str) -> Element {
        let b = self.text("button", class, label);
        set(&b, "type", "button");
        set_action(&b, action);
        b
    }

    /// A button with its keyboard shortcut shown before its label.
    pub fn key_button(&self, action: &Action, key: &str, label: &str, class: &str) -> Element {
        let b = self.el("button", class);
        set(&b, "type", "button");
        set_action(&b, action);
        if !key.is_empty() {
            let k = self.text("kbd", "", key);
            set(&k, "aria-hidden", "true");
            add(&b, &k);
            set(&b, "aria-keyshortcuts", key);
        }
        add(&b, &self.text("span", "", label));
        b
    }
}

/// Makes pressing `el` do `action`.
pub fn set_action(el: &Element, action: &Action) {
    if let Some(attr) = action.attr() {
        set(el, "data-action", &attr);
    }
}

pub fn set(el: &Element, name: &str, value: &str) {
    let _ = el.set_attribute(name, value);
}

pub fn add(parent: &Element, child: &Element) {
    let _ = parent.append_child(child);
}

pub fn focus(el: &Element) {
    if let Some(el) = el.dyn_ref::<HtmlElement>() {
        let _ = el.focus();
    }
}
