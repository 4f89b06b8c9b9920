// The host page's script. It draws the connect screen and the open campaigns at once, from a
// few lines of plain script and `GET /v1/campaigns` (browsing needs no sign-in), while the
// mini-app's WebAssembly (pkg/app, preloaded by index.html) downloads and compiles as it
// streams in. Then the mini-app mounts over the same markup; a button pressed before that is
// handed to it (`start`), so a tap is never lost to a slow network.
//
// The words and the markup are the mini-app's own (crates/wasm/src/app/text.rs and render.rs):
// tests/www/page.test.mjs holds the two to the same text in both languages.
const WORDS = {
  en: {
    tagline: "Earn by doing small data tasks. Your uploads are encrypted on this device.",
    wallet: "Connect wallet",
    walletHint: "One signature to sign in; no pop-up per task.",
    local: "Continue without a wallet",
    localHint: "A key is made and kept in this browser.",
    signingIn: "Signing in…",
    campaigns: "Tasks for you",
    perTask: "per task",
    tasksLeft: "paid tasks left",
    language: "Language",
    failed: "DataHub could not start",
    kinds: {
      image_categorization: "Image categorization", content_verification: "Content verification",
      text_labeling: "Text labeling", content_moderation: "Content moderation",
      image_upload: "Photo upload", voice_recording: "Voice recording",
    },
  },
  zh: {
    tagline: "完成小型数据任务即可赚取奖励。您上传的内容会在本设备上加密。",
    wallet: "连接钱包",
    walletHint: "只需签名一次即可登录，每个任务不再弹窗。",
    local: "不使用钱包继续",
    localHint: "将在此浏览器中生成并保存一个密钥。",
    signingIn: "正在登录…",
    campaigns: "可做的任务",
    perTask: "每个任务",
    tasksLeft: "个付费任务剩余",
    language: "语言",
    failed: "DataHub 无法启动",
    kinds: {
      image_categorization: "图片分类", content_verification: "内容核实", text_labeling: "文本标注",
      content_moderation: "内容审核", image_upload: "上传照片", voice_recording: "录制语音",
    },
  },
};
const NAMES = { en: "English", zh: "中文" };
const TAGS = { en: "en", zh: "zh-CN" };
const LANG_KEY = "datahub.lang";

/** `en` or `zh` from a tag such as `zh-Hant-TW`, else undefined (as the app's `Lang::parse`). */
const parse = (tag) => ({ en: "en", zh: "zh" })[String(tag ?? "").split(/[-_]/)[0].toLowerCase()];
const stored = () => { try { return localStorage.getItem(LANG_KEY); } catch { return null; } };

const root = document.getElementById("app");
const shell = {
  lang: parse(stored()) ?? navigator.languages?.map(parse).find(Boolean) ?? "en",
  /** GET /v1/campaigns as the relay answered it, once it has. */
  campaigns: null,
  /** The sign-in pressed before the mini-app was there: "wallet" or "local". */
  start: null,
};

function el(tag, className, text) {
  const e = document.createElement(tag);
  if (className) e.className = className;
  // Text only, never HTML: a campaign's title cannot inject markup.
  if (text !== undefined) e.textContent = text;
  return e;
}

function button(action, label, className, id) {
  const b = el("button", className, label);
  b.type = "button";
  b.dataset.action = action;
  if (id) b.id = id;
  return b;
}

/** The connect screen, as the mini-app draws it before its relay has answered. */
function draw() {
  const w = WORDS[shell.lang];
  const other = shell.lang === "en" ? "zh" : "en";
  document.documentElement.lang = TAGS[shell.lang];
  const page = el("div", "dh-page");
  const header = el("header", "dh-header");
  header.append(el("strong", "dh-brand", "DataHub"));
  const lang = button("lang", NAMES[other], "dh-lang");
  lang.setAttribute("aria-label", `${w.language}: ${NAMES[other]}`);
  lang.lang = TAGS[other];
  header.append(lang);
  const status = el("div", "dh-status");
  status.setAttribute("role", "status");
  status.setAttribute("aria-live", "polite");
  if (shell.start) status.append(el("p", "dh-busy", w.signingIn));
  const main = el("main", "dh-main");
  main.append(el("h1", "", "DataHub"), el("p", "dh-lead", w.tagline));
  main.append(button("wallet", w.wallet, "dh-primary", "dh-connect-wallet"), el("p", "dh-hint", w.walletHint));
  main.append(button("local", w.local, "dh-secondary", "dh-connect-local"), el("p", "dh-hint", w.localHint));
  const list = Array.isArray(shell.campaigns?.campaigns) ? shell.campaigns.campaigns : [];
  const known = list.filter((c) => c && typeof c === "object" && w.kinds[c.kind]);
  if (known.length) {
    const section = el("section", "dh-browse");
    section.setAttribute("aria-label", w.campaigns);
    section.append(el("h2", "", w.campaigns));
    const ul = el("ul", "dh-campaigns");
    for (const c of known) {
      const li = el("li", "dh-offer");
      li.dataset.kind = c.kind;
      li.append(
        el("span", "dh-kind", w.kinds[c.kind]),
        el("strong", "dh-title", String(c.title ?? "")),
        el("span", "dh-reward", `${c.reward} ${c.token} ${w.perTask} · ${c.open_tasks} ${w.tasksLeft}`),
      );
      ul.append(li);
    }
    section.append(ul);
    main.append(section);
  }
  page.append(header, status, main);
  root.classList.add("dh-app");
  root.replaceChildren(page);
  root.dataset.screen = "connect";
  root.dataset.busy = String(Boolean(shell.start));
}

function onClick(event) {
  const action = event.target.closest?.("[data-action]")?.dataset.action;
  if (action === "lang") {
    shell.lang = shell.lang === "en" ? "zh" : "en";
    try { localStorage.setItem(LANG_KEY, shell.lang); } catch {}
  } else if (action === "wallet" || action === "local") {
    shell.start ??= action;
  } else {
    return;
  }
  draw();
}

root.addEventListener("click", onClick);
draw();
fetch("/v1/campaigns", { headers: { accept: "application/json" } })
  .then((r) => (r.ok ? r.json() : null))
  .then((body) => {
    if (body && !document.body.dataset.ready) {
      shell.campaigns = body;
      draw();
    }
  })
  // The mini-app says what is wrong with the relay, and offers to retry.
  .catch(() => {});

try {
  const { default: init, mount, version } = await import("/pkg/app/datahub_wasm.js");
  await init();
  root.removeEventListener("click", onClick);
  mount(root, { start: shell.start ?? undefined, campaigns: shell.campaigns ?? undefined });
  document.body.dataset.version = version();
  document.body.dataset.ready = "true";
} catch (err) {
  root.removeEventListener("click", onClick);
  root.textContent = `${WORDS[shell.lang].failed}: ${err}`;
  document.body.dataset.ready = "error";
  throw err;
}
