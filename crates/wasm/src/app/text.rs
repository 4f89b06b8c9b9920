//! The mini-app's words in English and Chinese. Every string a contributor reads is here, so a
//! missing translation is a compile error, not an English sentence in a Chinese page.

use datahub_protocol::Kind;

/// A language of the mini-app.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub enum Lang {
    #[default]
    En,
    Zh,
}

impl Lang {
    /// The browser's first language we speak (`navigator.languages`), English otherwise.
    pub fn from_browser(languages: &[String]) -> Self {
        languages
            .iter()
            .find_map(|l| Self::parse(l))
            .unwrap_or(Self::En)
    }

    /// `en`, `en-GB`, `zh`, `zh-CN`, `zh-Hant-TW`…
    pub fn parse(tag: &str) -> Option<Self> {
        let primary = tag.split(['-', '_']).next()?.to_ascii_lowercase();
        match primary.as_str() {
            "en" => Some(Self::En),
            "zh" => Some(Self::Zh),
            _ => None,
        }
    }

    /// The BCP 47 tag for `<html lang>`.
    pub fn tag(self) -> &'static str {
        match self {
            Self::En => "en",
            Self::Zh => "zh-CN",
        }
    }

    /// The other language, for the switch.
    pub fn other(self) -> Self {
        match self {
            Self::En => Self::Zh,
            Self::Zh => Self::En,
        }
    }

    /// The language's own name, on the switch.
    pub fn name(self) -> &'static str {
        match self {
            Self::En => "English",
            Self::Zh => "中文",
        }
    }
}

/// Every sentence of the mini-app.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum T {
    Tagline,
    Loading,
    ConnectWallet,
    ConnectWalletHint,
    UseLocalKey,
    UseLocalKeyHint,
    SigningIn,
    SignedInAs,
    SignOut,
    Campaigns,
    NoCampaigns,
    TasksLeft,
    PerTask,
    Back,
    Balance,
    Claim,
    ClaimOn,
    Claiming,
    Voucher,
    VoucherHint,
    CopyVoucher,
    SendClaim,
    TxSending,
    TxPending,
    TxConfirmed,
    TxReverted,
    WalletBalance,
    Copied,
    NothingToClaim,
    Submit,
    Skip,
    Shortcuts,
    ShortcutLabels,
    ShortcutSubmit,
    ShortcutSkip,
    Credited,
    Pending,
    PendingCheck,
    NotPaid,
    Duplicate,
    NoTaskLeft,
    ChooseLabel,
    ChooseLabels,
    TrueLabel,
    FalseLabel,
    Unsure,
    ClaimText,
    TextLabel,
    MarkSpans,
    MarkSpansHint,
    MarkAs,
    RemoveSpan,
    ClearSelection,
    Flags,
    NoFlags,
    ChoosePhoto,
    TakePhoto,
    PhotoRules,
    Preview,
    Record,
    Stop,
    Rerecord,
    Recording,
    RecordRules,
    ReadAloud,
    Suggested,
    Sealing,
    Uploading,
    ResumeUpload,
    UploadFailed,
    Offline,
    BackOnline,
    RelayDown,
    Retry,
    LeaseExpired,
    TooFast,
    SessionExpired,
    Standing,
    Trust,
    TrustNeeded,
    AnswersAccepted,
    AnswersRejected,
    AnswersPending,
    Held,
    HeldUntil,
    HeldWhy,
    AnswersHeld,
    OnProbation,
    RejectedAnswers,
    AppealReason,
    Appeal,
    AppealSent,
    AppealNeedsReason,
    AppealOpen,
    AppealUpheld,
    AppealRefused,
    BudgetSpent,
    CampaignPaused,
    CampaignClosed,
    RewardCapReached,
    RateLimited,
    Restricted,
    SkipCooldown,
    DailyCap,
    Probation,
    NetworkLeaseCap,
    WalletRejected,
    NoWalletFound,
    MicDenied,
    WrongFileType,
    FileTooLarge,
    ImageTooSmall,
    NotAnImage,
    TooShort,
    TooLong,
    PickSomething,
    Error,
    Instructions,
    TermsTitle,
    TermsHint,
    Licence,
    NoLicence,
    AcceptTerms,
    Language,
    Seconds,
    Kind(Kind),
}

impl T {
    /// The sentence in `lang`.
    pub fn get(self, lang: Lang) -> &'static str {
        let (en, zh) = self.both();
        match lang {
            Lang::En => en,
            Lang::Zh => zh,
        }
    }

    fn both(self) -> (&'static str, &'static str) {
        match self {
            Self::Tagline => (
                "Earn by doing small data tasks. Your uploads are encrypted on this device.",
                "完成小型数据任务即可赚取奖励。您上传的内容会在本设备上加密。",
            ),
            Self::Loading => ("Loading…", "加载中…"),
            Self::ConnectWallet => ("Connect wallet", "连接钱包"),
            Self::ConnectWalletHint => (
                "One signature to sign in; no pop-up per task.",
                "只需签名一次即可登录，每个任务不再弹窗。",
            ),
            Self::UseLocalKey => ("Continue without a wallet", "不使用钱包继续"),
            Self::UseLocalKeyHint => (
                "A key is made and kept in this browser.",
                "将在此浏览器中生成并保存一个密钥。",
            ),
            Self::SigningIn => ("Signing in…", "正在登录…"),
            Self::SignedInAs => ("Signed in as", "已登录："),
            Self::SignOut => ("Sign out", "退出登录"),
            Self::Campaigns => ("Tasks for you", "可做的任务"),
            Self::NoCampaigns => (
                "No campaigns are open right now. Come back soon.",
                "目前没有开放的任务，请稍后再来。",
            ),
            Self::TasksLeft => ("paid tasks left", "个付费任务剩余"),
            Self::PerTask => ("per task", "每个任务"),
            Self::Back => ("Back", "返回"),
            Self::Balance => ("Balance", "余额"),
            Self::Claim => ("Claim", "领取"),
            Self::ClaimOn => ("Claim on", "领取到"),
            Self::Claiming => ("Asking for a voucher…", "正在申请凭证…"),
            Self::Voucher => ("Voucher", "凭证"),
            Self::VoucherHint => (
                "Redeem it with the claim contract on the chain you chose.",
                "请在所选链上的领取合约中兑换。",
            ),
            Self::CopyVoucher => ("Copy voucher", "复制凭证"),
            Self::SendClaim => ("Claim with wallet", "用钱包领取"),
            Self::TxSending => ("Confirm the claim in your wallet…", "请在钱包中确认领取…"),
            Self::TxPending => ("Pending: transaction", "处理中：交易"),
            Self::TxConfirmed => ("Confirmed: transaction", "已确认：交易"),
            Self::TxReverted => (
                "The chain refused the claim (already claimed, expired or paused): transaction",
                "链上拒绝了领取（已领取、已过期或已暂停）：交易",
            ),
            Self::WalletBalance => ("In your wallet now", "钱包当前余额"),
            Self::Copied => ("Copied", "已复制"),
            Self::NothingToClaim => (
                "Nothing to claim on this chain yet.",
                "该链上暂无可领取的奖励。",
            ),
            Self::Submit => ("Submit", "提交"),
            Self::Skip => ("Skip", "跳过"),
            Self::Shortcuts => ("Keys", "快捷键"),
            Self::ShortcutLabels => ("choose", "选择"),
            Self::ShortcutSubmit => ("submit", "提交"),
            Self::ShortcutSkip => ("skip", "跳过"),
            Self::Credited => ("Credited", "已到账"),
            Self::Pending => (
                "Thanks! Paid once other answers agree.",
                "谢谢！其他人的答案一致后即付款。",
            ),
            Self::PendingCheck => (
                "Thanks! Paid once the upload passes its checks.",
                "谢谢！上传内容通过检查后即付款。",
            ),
            Self::NotPaid => (
                "Not paid: the answer was not accepted.",
                "未付款：答案未被接受。",
            ),
            Self::Duplicate => ("Already counted.", "已计入。"),
            Self::NoTaskLeft => (
                "You have done every task of this campaign. Thank you!",
                "您已完成该活动的全部任务，谢谢！",
            ),
            Self::ChooseLabel => ("Choose one label", "选择一个标签"),
            Self::ChooseLabels => ("Choose every label that fits", "选择所有合适的标签"),
            Self::TrueLabel => ("True", "正确"),
            Self::FalseLabel => ("False", "错误"),
            Self::Unsure => ("Unsure", "不确定"),
            Self::ClaimText => ("Claim", "陈述"),
            Self::TextLabel => ("Label for the whole text", "整段文字的标签"),
            Self::MarkSpans => ("Mark words (optional)", "标记词语（可选）"),
            Self::MarkSpansHint => (
                "Tap the first and the last word, then a label.",
                "点按第一个和最后一个词，再选择标签。",
            ),
            Self::MarkAs => ("Mark as", "标记为"),
            Self::RemoveSpan => ("Remove", "删除"),
            Self::ClearSelection => ("Clear selection", "清除选择"),
            Self::Flags => ("Flag every problem you see", "标记您看到的所有问题"),
            Self::NoFlags => (
                "Nothing flagged: submit if it is fine.",
                "未标记：若无问题请直接提交。",
            ),
            Self::ChoosePhoto => ("Choose a photo", "选择照片"),
            Self::TakePhoto => ("Take a photo", "拍照"),
            Self::PhotoRules => ("Rules", "要求"),
            Self::Preview => ("Preview", "预览"),
            Self::Record => ("Record", "录音"),
            Self::Stop => ("Stop", "停止"),
            Self::Rerecord => ("Record again", "重新录音"),
            Self::Recording => ("Recording…", "录音中…"),
            Self::RecordRules => ("Length", "时长"),
            Self::ReadAloud => ("Read this aloud", "请朗读"),
            Self::Suggested => (
                "A model suggests (check it: your own answer is what counts)",
                "模型建议（请自行核对：以您自己的答案为准）",
            ),
            Self::Sealing => ("Encrypting on this device…", "正在本设备上加密…"),
            Self::Uploading => ("Uploading", "上传中"),
            Self::ResumeUpload => ("Resume upload", "继续上传"),
            Self::UploadFailed => (
                "The upload stopped. What was sent is kept: resume it.",
                "上传中断。已发送的部分已保存，可继续上传。",
            ),
            Self::Offline => (
                "You are offline. Your work is kept; it continues when you are back.",
                "您已离线。您的进度已保存，恢复网络后继续。",
            ),
            Self::BackOnline => ("Back online.", "已恢复联网。"),
            Self::RelayDown => (
                "The DataHub relay cannot be reached. Check your connection and retry.",
                "无法连接 DataHub 中继服务器。请检查网络后重试。",
            ),
            Self::Retry => ("Retry", "重试"),
            Self::LeaseExpired => (
                "This task's time ran out. Here is a new one.",
                "该任务已超时，已为您换一个新任务。",
            ),
            Self::TooFast => (
                "A little too fast: take a moment with the task, then submit again.",
                "提交过快：请认真查看任务后再提交。",
            ),
            Self::SessionExpired => (
                "Your session has ended. Sign in again.",
                "会话已结束，请重新登录。",
            ),
            Self::BudgetSpent => (
                "This campaign has no paid tasks left.",
                "该活动已没有付费任务。",
            ),
            Self::CampaignPaused => (
                "This campaign is paused. Try again later.",
                "该活动已暂停，请稍后再试。",
            ),
            Self::CampaignClosed => (
                "This campaign has closed. Pick another one.",
                "该活动已结束，请选择其他活动。",
            ),
            Self::RewardCapReached => (
                "This sign-in has earned all it may. Sign in again to go on.",
                "本次登录的收益已达上限，请重新登录后继续。",
            ),
            Self::RateLimited => (
                "Too many requests. Wait a moment, then try again.",
                "请求过于频繁，请稍候再试。",
            ),
            Self::Restricted => (
                "Your answers here are paused by quality checks.",
                "质量检查已暂停您在此活动中的作答。",
            ),
            Self::SkipCooldown => (
                "Many skips in a row: this campaign is paused for you for a few minutes.",
                "连续跳过太多：该活动暂时对您暂停几分钟。",
            ),
            Self::DailyCap => (
                "You have reached today's limit for this campaign. Come back tomorrow.",
                "您已达到该活动今天的上限，请明天再来。",
            ),
            Self::Probation => (
                "New here: more tasks open once your first answers are checked. Come back a little later.",
                "新参与者：您的首批答案核实后将开放更多任务，请稍后再来。",
            ),
            Self::NetworkLeaseCap => (
                "Many people on your network are working on this campaign. Try again in a few minutes.",
                "您所在网络中有许多人正在参与此活动，请几分钟后再试。",
            ),
            Self::WalletRejected => (
                "The wallet did not sign. Try again when ready.",
                "钱包未签名。准备好后请重试。",
            ),
            Self::NoWalletFound => (
                "No wallet found in this browser. Open the page in your wallet's browser, or continue without a wallet.",
                "此浏览器中未找到钱包。请在钱包内置浏览器中打开，或不使用钱包继续。",
            ),
            Self::MicDenied => (
                "The microphone is not available. Allow it in the browser's settings.",
                "无法使用麦克风。请在浏览器设置中允许。",
            ),
            Self::WrongFileType => ("This file type is not accepted.", "不接受此文件类型。"),
            Self::FileTooLarge => ("The file is too large.", "文件太大。"),
            Self::ImageTooSmall => ("The image is too small.", "图片尺寸太小。"),
            Self::NotAnImage => (
                "This file is not an image we can read.",
                "无法读取此图片文件。",
            ),
            Self::TooShort => ("The recording is too short.", "录音太短。"),
            Self::TooLong => ("The recording is too long.", "录音太长。"),
            Self::PickSomething => ("Choose an answer first.", "请先选择答案。"),
            Self::Error => ("Something went wrong", "出现错误"),
            Self::Instructions => ("Instructions", "说明"),
            Self::TermsTitle => ("Before you start: the terms", "开始之前：条款"),
            Self::TermsHint => (
                "Your answers are signed with these terms and licence. Read them, then accept to see the first task.",
                "您的答案将与这些条款和许可一起签名。请阅读后接受，即可看到第一个任务。",
            ),
            Self::Licence => ("Licence", "许可"),
            Self::NoLicence => ("none stated", "未注明"),
            Self::AcceptTerms => ("I accept", "我接受"),
            Self::Language => ("Language", "语言"),
            Self::Seconds => ("s", "秒"),
            Self::Standing => ("Your standing", "您的信誉"),
            Self::Trust => ("Trust", "信任度"),
            Self::TrustNeeded => ("needed", "最低要求"),
            Self::AnswersAccepted => ("accepted", "已接受"),
            Self::AnswersRejected => ("rejected", "未接受"),
            Self::AnswersPending => ("waiting", "待定"),
            Self::Held => ("held", "暂扣"),
            Self::HeldUntil => (
                "Accepted. Held until your record is known:",
                "答案已接受。奖励暂扣，待您的记录确认后发放：",
            ),
            Self::HeldWhy => (
                "paid, once, when enough of your answers have been checked and agree with other contributors'; not paid if your trust falls too low.",
                "当您有足够多的答案通过核验并与其他参与者一致时，一次性发放；若信任度过低则不予发放。",
            ),
            Self::AnswersHeld => ("held until your record is known", "暂扣，待记录确认后发放"),
            Self::OnProbation => (
                "New here: a few tasks until one of your answers is confirmed.",
                "新参与者：在您的答案得到确认前只能做少量任务。",
            ),
            Self::RejectedAnswers => ("Rejected answers", "未被接受的答案"),
            Self::AppealReason => ("Why was your answer right?", "为什么您的答案是正确的？"),
            Self::Appeal => ("Appeal", "申诉"),
            Self::AppealSent => (
                "Appeal sent. The campaign's requester will answer it.",
                "申诉已提交，活动发布者会给予答复。",
            ),
            Self::AppealNeedsReason => (
                "Say in a few words why your answer was right.",
                "请简要说明您的答案为什么正确。",
            ),
            Self::AppealOpen => ("Appeal waiting for an answer", "申诉等待答复中"),
            Self::AppealUpheld => ("Appeal upheld: paid", "申诉成立：已付款"),
            Self::AppealRefused => ("Appeal refused", "申诉被驳回"),
            Self::Kind(kind) => kind_words(kind),
        }
    }
}

/// A task type's name for people, in both languages.
fn kind_words(kind: Kind) -> (&'static str, &'static str) {
    match kind {
        Kind::ImageCategorization => ("Image categorization", "图片分类"),
        Kind::ContentVerification => ("Content verification", "内容核实"),
        Kind::TextLabeling => ("Text labeling", "文本标注"),
        Kind::ContentModeration => ("Content moderation", "内容审核"),
        Kind::ImageUpload => ("Photo upload", "上传照片"),
        Kind::VoiceRecording => ("Voice recording", "录制语音"),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    #[test]
    fn browser_languages_pick_the_first_known() {
        let langs = |l: &[&str]| l.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            Lang::from_browser(&langs(&["fr-FR", "zh-TW", "en"])),
            Lang::Zh
        );
        assert_eq!(Lang::from_browser(&langs(&["en-GB"])), Lang::En);
        assert_eq!(Lang::from_browser(&langs(&["de"])), Lang::En);
        assert_eq!(Lang::from_browser(&[]), Lang::En);
        assert_eq!(Lang::parse("ZH_hans"), Some(Lang::Zh));
    }
}
