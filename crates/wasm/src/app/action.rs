//! Every change of the app's state is one [`Action`], carried out by `App::update`: what the
//! contributor does (each control carries its action as `data-action`, written by
//! [`Action::attr`] and read back by [`Action::parse`], so a control cannot name an action the
//! app does not know), and what the relay, the wallet and the browser answer.

use datahub_protocol::answer::Capture;
use serde_json::Value as Json;
use wasm_bindgen::JsValue;

use super::task::{Campaign, Task};
use super::text::T;
use super::{ClaimTx, media};
use crate::relay::{RelayClient, Session};
use crate::wallet::WalletSigner;
use std::rc::Rc;

pub(super) enum Action {
    // What the contributor does: a control's `data-action`, a key, a field.
    /// The language switch.
    ToggleLang,
    /// Try to reach the relay again.
    RetryRelay,
    /// Sign in with the browser's wallet (true) or a key kept in this browser.
    SignIn {
        wallet: bool,
    },
    SignOut,
    OpenCampaign(String),
    /// Back to the campaigns.
    Back,
    /// A label, verdict or flag, by index.
    Choose(usize),
    /// Marks the selected words with a label.
    Mark(usize),
    /// A tap on a word of the text.
    Word(usize),
    /// Removes a marked span.
    Unspan(usize),
    ClearWords,
    Submit,
    /// Submit again after the relay could not be reached.
    RetrySubmit,
    /// Send the rest of an upload that broke off.
    ResumeUpload,
    Skip,
    /// Ask for the next task (also: again, after a failure).
    Next,
    AcceptTerms,
    Record,
    Stop,
    /// Appeal the rejected answer with this index.
    Appeal(usize),
    Claim,
    /// Send the shown voucher's claim through the wallet.
    SendClaim,
    CopyVoucher,
    /// The chain to claim on.
    ChooseChain(u64),
    /// A file from the camera or file input, to be checked against the campaign's rules.
    PickFile(web_sys::File, Capture),

    // What comes back.
    /// The browser went offline (false) or online.
    Online(bool),
    /// What is under way, or nothing.
    Busy(Option<T>),
    /// A message for the status line (an error when `error`).
    Say(T, bool),
    /// A request failed: words for the contributor, and the action that tries again.
    Failed {
        error: JsValue,
        retry: Option<Box<Action>>,
    },
    /// Reaching the relay: its info is being fetched.
    Connecting,
    /// The relay answered with its info.
    Connected {
        client: Rc<RelayClient>,
        chains: Vec<(u64, String)>,
        decimals: Vec<(u64, String, u32)>,
    },
    /// Whatever answered, it is no relay the contributor can work with.
    RelayDown,
    /// The open campaigns, to browse before signing in.
    Listed(Vec<Campaign>),
    /// Whether any wallet announced itself.
    WalletsFound(bool),
    /// Signed in, with the wallet (none with a local key).
    SignedIn {
        session: Rc<Session>,
        wallet: Option<WalletSigner>,
    },
    /// The campaigns and balances, after signing in or a change.
    Refreshed {
        campaigns: Vec<Campaign>,
        balances: Json,
    },
    /// The standing and the rejected answers (none when the relay has no such endpoints).
    Standing {
        standing: Option<Json>,
        rejected: Vec<(String, String, String)>,
    },
    /// `GET /v1/me/balances`.
    Balances(Json),
    /// The relay's answer to "the next task".
    Leased(Result<Option<Task>, JsValue>),
    /// The relay's answer to a skip (a lease already gone needs no skipping).
    Skipped(Result<(), JsValue>),
    /// The chosen bytes, sealed once, kept until submitted so an upload resumes.
    Sealed(JsValue),
    /// Shards sent of all.
    Progress(u32, u32),
    /// The upload broke off or was refused.
    UploadFailed(JsValue),
    /// The relay took the submission: its outcome, and whether it was an upload.
    Submitted {
        outcome: Json,
        reward: String,
        upload: bool,
    },
    /// The relay refused the submission, or could not be reached.
    SubmitFailed(JsValue),
    /// A file that passed the campaign's rules: its bytes, type and the input it came from.
    FileAccepted {
        bytes: Vec<u8>,
        mime: &'static str,
        capture: Capture,
    },
    /// A file that breaks the rules, and the words that say which.
    FileRefused(String),
    /// The microphone is recording (or could not).
    RecordingStarted(Result<media::Recorder, JsValue>),
    /// Seconds recorded so far.
    RecordingTick(f64),
    /// The appeal was sent.
    Appealed(Result<(), JsValue>),
    /// The relay's voucher for a claim.
    Voucher(Result<Json, JsValue>),
    /// Where the claim sent from the wallet is.
    Tx(Option<ClaimTx>),
}

impl Action {
    /// The `data-action` of a control that does this; `None` for what only comes back.
    pub(super) fn attr(&self) -> Option<String> {
        let fixed = match self {
            Self::ToggleLang => "lang",
            Self::RetryRelay => "retry-relay",
            Self::SignIn { wallet: true } => "wallet",
            Self::SignIn { wallet: false } => "local",
            Self::SignOut => "sign-out",
            Self::OpenCampaign(id) => return Some(format!("campaign:{id}")),
            Self::Back => "back",
            Self::Choose(i) => return Some(format!("choose:{i}")),
            Self::Mark(i) => return Some(format!("mark:{i}")),
            Self::Word(i) => return Some(format!("word:{i}")),
            Self::Unspan(i) => return Some(format!("unspan:{i}")),
            Self::ClearWords => "clear-words",
            Self::Submit => "submit",
            Self::RetrySubmit => "retry-submit",
            Self::ResumeUpload => "resume-upload",
            Self::Skip => "skip",
            Self::Next => "next",
            Self::AcceptTerms => "accept-terms",
            Self::Record => "record",
            Self::Stop => "stop",
            Self::Appeal(i) => return Some(format!("appeal:{i}")),
            Self::Claim => "claim",
            Self::SendClaim => "send-claim",
            Self::CopyVoucher => "copy-voucher",
            _ => return None,
        };
        Some(fixed.to_owned())
    }

    /// The action a control's `data-action` names; `None` for anything else.
    pub(super) fn parse(attr: &str) -> Option<Self> {
        let (verb, arg) = attr.split_once(':').unwrap_or((attr, ""));
        let index = || arg.parse::<usize>().ok();
        let plain = |action: Self| arg.is_empty().then_some(action);
        match verb {
            "lang" => plain(Self::ToggleLang),
            "retry-relay" => plain(Self::RetryRelay),
            "wallet" => plain(Self::SignIn { wallet: true }),
            "local" => plain(Self::SignIn { wallet: false }),
            "sign-out" => plain(Self::SignOut),
            "campaign" if !arg.is_empty() => Some(Self::OpenCampaign(arg.to_owned())),
            "back" => plain(Self::Back),
            "choose" => index().map(Self::Choose),
            "mark" => index().map(Self::Mark),
            "word" => index().map(Self::Word),
            "unspan" => index().map(Self::Unspan),
            "clear-words" => plain(Self::ClearWords),
            "submit" => plain(Self::Submit),
            "retry-submit" => plain(Self::RetrySubmit),
            "resume-upload" => plain(Self::ResumeUpload),
            "skip" => plain(Self::Skip),
            "next" => plain(Self::Next),
            "accept-terms" => plain(Self::AcceptTerms),
            "record" => plain(Self::Record),
            "stop" => plain(Self::Stop),
            "appeal" => index().map(Self::Appeal),
            "claim" => plain(Self::Claim),
            "send-claim" => plain(Self::SendClaim),
            "copy-voucher" => plain(Self::CopyVoucher),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn every_control_action_reads_back_as_itself() {
        let all = [
            Action::ToggleLang,
            Action::RetryRelay,
            Action::SignIn { wallet: true },
            Action::SignIn { wallet: false },
            Action::SignOut,
            Action::OpenCampaign("demo:a b".into()),
            Action::Back,
            Action::Choose(3),
            Action::Mark(0),
            Action::Word(12),
            Action::Unspan(1),
            Action::ClearWords,
            Action::Submit,
            Action::RetrySubmit,
            Action::ResumeUpload,
            Action::Skip,
            Action::Next,
            Action::AcceptTerms,
            Action::Record,
            Action::Stop,
            Action::Appeal(2),
            Action::Claim,
            Action::SendClaim,
            Action::CopyVoucher,
        ];
        for action in all {
            let attr = action.attr().unwrap();
            let back = Action::parse(&attr).unwrap();
            assert_eq!(back.attr().unwrap(), attr);
        }
    }

    #[test]
    fn what_is_no_control_action_is_refused() {
        for attr in [
            "",
            "nope",
            "choose",
            "choose:x",
            "choose:-1",
            "back:1",
            "campaign:",
            "lang:zh",
        ] {
            assert!(Action::parse(attr).is_none(), "{attr}");
        }
        // What only comes back from the relay or the browser has no control.
        assert!(Action::Busy(None).attr().is_none());
        assert!(Action::Online(true).attr().is_none());
    }
}
