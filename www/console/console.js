// The requester's console: a page of its own, served by the relay at /console/, beside the
// contributors' mini-app. It loads the same WebAssembly client (pkg/) for what needs it — the
// wallet bridge and the one-signature sign-in with a session key — and draws everything else
// with plain DOM calls: what campaigns, relays and uploaded files say is put in the page as
// text, never as HTML. No library: the charts are SVG drawn here.
import init, { RelayClient, WalletSigner, LocalSigner } from "/pkg/web/datahub_wasm.js";
import { exportDataset, flatLabel, PSEUDONYM_MESSAGE } from "./export.js";

const $ = (id) => document.getElementById(id);
const SVG = "http://www.w3.org/2000/svg";
// Function selectors of the escrow and ERC-20 calls the wallet sends (keccak-256 of the
// signature, first four bytes): deposit(address requester, address token, uint256 amount) and
// approve(address spender, uint256 amount).
const DEPOSIT = "0x8340f549";
const APPROVE = "0x095ea7b3";
const KIND_NAMES = {
  content_verification: "Content verification",
  image_categorization: "Image categorization",
  text_labeling: "Text labeling",
  content_moderation: "Content moderation",
  image_upload: "Image upload",
  voice_recording: "Voice recording",
};
const ITEM_FIELDS = ["text", "image_url", "claim", "prompt", "object", "id"];

const state = { client: null, session: null, wallet: null, chain: null, campaign: null, items: [], previewAt: 0, timer: null };

// --- words for people -----------------------------------------------------------------------

/** Shows `text` in the status line; `error` makes it an error. */
function say(text, error = false) {
  const line = $("status");
  line.textContent = text;
  line.dataset.kind = error ? "error" : "info";
}

/** What went wrong, in plain words: the relay's message, a wallet's refusal, or the error's text. */
function plain(err) {
  if (err?.code === 4001 || err?.code === "UserRejected") return "the wallet request was declined";
  if (err?.relay) return err.message;
  if (err?.name === "RelayError" || err?.name === "WalletError") return err.message;
  return String(err?.message ?? err);
}

// --- the relay ------------------------------------------------------------------------------

/** A request as the signed-in wallet: the session's bearer token; rejects with the relay's message. */
async function api(method, path, body) {
  const headers = { authorization: `Bearer ${state.session.token}` };
  if (body !== undefined) headers["content-type"] = "application/json";
  const response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await response.text();
  let json = null;
  try {
    json = JSON.parse(text);
  } catch {
    // Not JSON: reported below as it is.
  }
  if (response.status === 401) {
    // Expired, signed out elsewhere, or never valid: only a new sign-in helps (and the
    // pseudonym signature, a secret, is not kept past the session).
    clearInterval(state.timer);
    state.pseudonymSeed = null;
    $("connect").hidden = false;
    $("connect").disabled = false;
    document.body.dataset.signedIn = "false";
  }
  if (!response.ok) {
    const error = new Error(response.status === 401
      ? `${json?.message ?? "not signed in"}: connect your wallet again`
      : json?.message ?? `the relay answered ${response.status}`);
    error.relay = json?.error ?? "http";
    error.status = response.status;
    throw error;
  }
  return json;
}

// --- amounts --------------------------------------------------------------------------------

/** A decimal text as integer base units of a token with `decimals`; throws in plain words. */
function toUnits(text, decimals) {
  const t = String(text).trim();
  if (!/^\d+(\.\d+)?$/.test(t)) throw new Error("write the amount as a number, like 10 or 2.5");
  const [whole, fraction = ""] = t.split(".");
  if (fraction.length > decimals) throw new Error(`the token has ${decimals} decimals at most`);
  const units = BigInt(whole) * 10n ** BigInt(decimals) + BigInt(fraction.padEnd(decimals, "0") || "0");
  if (units === 0n) throw new Error("the amount must be more than zero");
  return units;
}

const word = (hex) => hex.replace(/^0x/, "").toLowerCase().padStart(64, "0");

// --- sign-in --------------------------------------------------------------------------------

async function connect() {
  $("connect").disabled = true;
  try {
    say("connecting to your wallet…");
    const wallet = await WalletSigner.connect();
    const chain = state.client.info.chains[0];
    say("sign the message in your wallet: it lets this page act for you for an hour");
    const session = await state.client.signIn(wallet, { chainId: chain.id, statement: "Manage my DataHub campaigns" });
    Object.assign(state, { wallet, session, chain });
    $("who").textContent = session.wallet;
    $("connect").hidden = true;
    $("main").hidden = false;
    for (const select of [$("deposit-token"), document.querySelector("[name=token]")]) {
      select.replaceChildren(...Object.keys(chain.tokens).map((t) => new Option(t, t)));
      if (chain.tokens.USDT) select.value = "USDT";
    }
    document.body.dataset.signedIn = "true";
    say(`signed in as ${session.wallet} on ${chain.name}`);
    await Promise.all([showFunds(), showCampaigns()]);
  } catch (err) {
    say(`could not sign in: ${plain(err)}`, true);
    $("connect").disabled = false;
  }
}

// --- funds and deposits ---------------------------------------------------------------------

async function showFunds() {
  const { funds } = await api("GET", "/v1/funds");
  const list = $("funds");
  list.replaceChildren();
  if (!funds.length) list.append(text("li", "no funds yet: deposit some below"));
  for (const f of funds) list.append(text("li", `${f.amount} ${f.token} on chain ${f.chain_id}`));
  return funds;
}

function fundsOf(funds, token) {
  const f = funds.find((x) => x.token === token && x.chain_id === state.chain.id);
  return f ? f.amount : "0";
}

/** Sends a transaction from the wallet and waits for it to be mined; throws if it reverted. */
async function send(provider, to, data) {
  const hash = await provider.request({ method: "eth_sendTransaction", params: [{ from: state.session.wallet, to, data }] });
  for (let i = 0; i < 240; i++) {
    const receipt = await provider.request({ method: "eth_getTransactionReceipt", params: [hash] });
    if (receipt) {
      if (receipt.status !== "0x1") throw new Error(`the transaction ${hash} failed on the chain`);
      return hash;
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`the transaction ${hash} was not mined in two minutes; check it in your wallet`);
}

async function deposit(event) {
  event.preventDefault();
  const button = $("deposit");
  button.disabled = true;
  say("preparing the deposit…");
  try {
    const token = $("deposit-token").value;
    const info = state.chain.tokens[token];
    const units = toUnits($("deposit-amount").value, info.decimals);
    const escrow = state.chain.escrow_contract;
    const provider = state.wallet.provider;
    const before = fundsOf(await showFunds(), token);
    try {
      await provider.request({ method: "wallet_switchEthereumChain", params: [{ chainId: `0x${state.chain.id.toString(16)}` }] });
    } catch (err) {
      if (err?.code === 4001) throw err;
      throw new Error(`switch your wallet to chain ${state.chain.id} (${state.chain.name}) and try again`);
    }
    const amount = units.toString(16);
    say(`1 of 2: allow the escrow to take ${$("deposit-amount").value} ${token} (confirm in your wallet)`);
    await send(provider, info.address, APPROVE + word(escrow) + word(amount));
    say("2 of 2: deposit into the escrow (confirm in your wallet)");
    const hash = await send(provider, escrow, DEPOSIT + word(state.session.wallet) + word(info.address) + word(amount));
    say(`deposit ${hash} mined; waiting for the relay to count it (${state.chain.confirmations} confirmation(s))…`);
    for (let i = 0; i < 240; i++) {
      const now = fundsOf(await showFunds(), token);
      if (now !== before) {
        say(`deposit credited: your funds are ${now} ${token}`);
        return;
      }
      await new Promise((r) => setTimeout(r, 500));
    }
    say("the deposit is on the chain but the relay has not counted it yet; reload in a minute", true);
  } catch (err) {
    say(`the deposit did not go through: ${plain(err)}`, true);
  } finally {
    button.disabled = false;
  }
}

// --- campaigns ------------------------------------------------------------------------------

async function showCampaigns() {
  const owner = encodeURIComponent(state.session.wallet);
  const { campaigns } = await api("GET", `/v1/campaigns?owner=${owner}&status=all`);
  const list = $("campaigns");
  list.replaceChildren();
  if (!campaigns.length) list.append(text("li", "no campaigns yet"));
  for (const c of campaigns) {
    const button = text("button", `${c.title} — ${c.id} (${c.status}, ${c.progress.items_decided} of ${c.items} decided)`);
    button.type = "button";
    button.dataset.campaign = c.id;
    button.addEventListener("click", () => openCampaign(c.id));
    const li = document.createElement("li");
    li.append(button);
    list.append(li);
  }
}

// --- items from a file ----------------------------------------------------------------------

/** RFC 4180 CSV: quoted fields with doubled quotes, CRLF or LF line ends. */
export function parseCsv(textIn) {
  const rows = [];
  let row = [];
  let field = "";
  let quoted = false;
  const t = textIn.replace(/^\uFEFF/, "");
  for (let i = 0; i < t.length; i++) {
    const c = t[i];
    if (quoted) {
      if (c === '"' && t[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"' && field === "") quoted = true;
    else if (c === ",") {
      row.push(field);
      field = "";
    } else if (c === "\n" || c === "\r") {
      if (c === "\r" && t[i + 1] === "\n") i++;
      row.push(field);
      rows.push(row);
      row = [];
      field = "";
    } else field += c;
  }
  if (quoted) throw new Error("the CSV file ends inside a quoted field");
  if (field !== "" || row.length) {
    row.push(field);
    rows.push(row);
  }
  return rows.filter((r) => r.some((f) => f.trim() !== ""));
}

/** Items from a CSV or JSONL file's text; throws in plain words, naming the line. */
function itemsFrom(name, textIn) {
  if (/\.jsonl?$/i.test(name) || /^\s*[{[]/.test(textIn)) {
    const trimmed = textIn.trim();
    if (trimmed.startsWith("[")) return checkItems(JSON.parse(trimmed), "item");
    return checkItems(trimmed.split(/\r?\n/).filter((l) => l.trim()).map((line, i) => {
      try {
        return JSON.parse(line);
      } catch {
        throw new Error(`line ${i + 1} of ${name} is not JSON`);
      }
    }), "line");
  }
  const [header, ...rows] = parseCsv(textIn);
  if (!header) throw new Error(`${name} is empty`);
  const columns = header.map((h) => h.trim().toLowerCase());
  const unknown = columns.filter((c) => !ITEM_FIELDS.includes(c) && c !== "golden");
  if (unknown.length) throw new Error(`${name}: unknown column ${unknown.join(", ")}; use ${ITEM_FIELDS.join(", ")} or golden`);
  return checkItems(rows.map((r, i) => {
    if (r.length !== columns.length) throw new Error(`${name}: line ${i + 2} has ${r.length} fields, the header ${columns.length}`);
    const fields = Object.fromEntries(columns.map((c, j) => [c, r[j]]).filter(([, v]) => v !== ""));
    const { golden, ...item } = fields;
    // A golden item's known answer, as a label (or a verdict): made into the kind's answer
    // when the campaign's type is known (formSpec).
    return golden === undefined ? item : { item, golden };
  }), "line");
}

/** A golden answer given as one label, in the answer format of `kind`. */
function goldenAnswer(kind, label) {
  const found = reviewChoices(kind, [label]).find(([l]) => l === label);
  if (!found) throw new Error(`the golden answer ${JSON.stringify(label)} is not one of the campaign's choices`);
  return found[1];
}

function checkItems(items, what) {
  if (!Array.isArray(items) || !items.length) throw new Error("no items in the file");
  items.forEach((entry, i) => {
    if (!entry || typeof entry !== "object" || Array.isArray(entry)) throw new Error(`${what} ${i + 1} is not an object`);
    const item = entry.item && typeof entry.item === "object" ? entry.item : entry;
    if (!ITEM_FIELDS.some((f) => typeof item[f] === "string" && item[f] !== "")) {
      throw new Error(`${what} ${i + 1} needs text, image_url, claim, prompt or object`);
    }
  });
  return items;
}

async function readItemsFile() {
  const file = $("items-file").files[0];
  try {
    state.items = file ? itemsFrom(file.name, await file.text()) : [];
    const golden = state.items.filter((e) => e.item).length;
    $("items-summary").textContent = file ? `${state.items.length - golden} items and ${golden} golden items from ${file.name}` : "";
  } catch (err) {
    state.items = [];
    say(`the items file cannot be used: ${plain(err)}`, true);
  }
}

function formSpec() {
  const form = $("create-form");
  const v = (name) => form.elements[name].value.trim();
  const lines = v("lines").split(/\r?\n/).map((l) => l.trim()).filter(Boolean).map((text) => ({ text }));
  const all = state.items.length ? state.items : lines;
  if (!all.length) throw new Error("add items: a CSV or JSONL file, or one text a line");
  const kind = v("kind");
  const labels = v("labels").split(",").map((l) => l.trim()).filter(Boolean);
  const items = all.filter((e) => !e.item);
  const golden = all.filter((e) => e.item).map((e) => ({
    item: e.item,
    answer: typeof e.golden === "string" ? goldenAnswer(kind, e.golden) : e.answer,
  }));
  if (!items.length) throw new Error("every item is golden: add items whose answer is not known");
  const share = v("golden_share");
  // Consent: left out when empty, so the relay's checks word any mistake.
  const consent = {};
  for (const name of ["licence", "licence_url"]) if (v(name)) consent[name] = v(name);
  if (form.elements.terms.value.trim()) consent.terms = form.elements.terms.value;
  return {
    ...(share ? { golden_share: Number(share) } : {}),
    ...consent,
    golden,
    id: v("id"),
    kind,
    title: v("title"),
    instructions: v("instructions"),
    labels,
    items,
    reward: v("reward"),
    token: v("token"),
    budget: v("budget"),
    overlap: Number(v("overlap")) || 1,
    encryption_key: state.encryptionKey,
    chains: [state.chain.id],
  };
}

// --- the preview: the mini-app's task screen, drawn with its classes -----------------------

/** One task as the mini-app shows it (title, instructions, the item, the choices), in `.dh-app`. */
function taskView(spec, item) {
  const app = el("div", "dh-app");
  const page = el("div", "dh-page");
  app.append(page);
  const top = el("div", "dh-task-top");
  top.append(text("span", KIND_NAMES[spec.kind] ?? spec.kind, "dh-kind"), text("span", `${spec.reward} ${spec.token}`, "dh-reward"));
  page.append(top, text("h1", spec.title || "(no title)"));
  if (spec.instructions) {
    const details = el("details", "dh-instructions");
    details.open = true;
    details.append(text("summary", "Instructions"), text("p", spec.instructions));
    page.append(details);
  }
  const form = el("section", "dh-task");
  form.dataset.kind = spec.kind;
  if (item.image_url) {
    const img = el("img", "dh-image");
    img.alt = "";
    img.src = item.image_url;
    form.append(img);
  }
  if (item.claim) form.append(text("blockquote", item.claim, "dh-claim-text"));
  if (item.prompt) form.append(text("p", item.prompt, "dh-prompt"));
  if (item.text && spec.kind === "text_labeling") {
    const words = el("p", "dh-words");
    for (const w of item.text.split(/\s+/).filter(Boolean)) words.append(text("button", w, "dh-word"), " ");
    form.append(words);
  } else if (item.text) form.append(text("p", item.text, "dh-text"));
  const choices = spec.kind === "content_verification" ? ["True", "False", "Unsure"] : spec.labels;
  form.append(text("p", spec.kind === "content_moderation" ? "Flags (any number)" : "Your answer", "dh-legend"));
  const group = el("div", "dh-choices");
  choices.forEach((c, i) => {
    const b = el("button", "dh-choice");
    b.type = "button";
    b.append(text("kbd", String(i + 1)), text("span", c));
    group.append(b);
  });
  form.append(group, text("button", "Submit", "dh-primary dh-submit"));
  page.append(form);
  return app;
}

function showPreview() {
  let spec;
  try {
    spec = formSpec();
  } catch (err) {
    say(`nothing to preview: ${plain(err)}`, true);
    return;
  }
  // Golden items look like any other to contributors: the preview shows them in turn.
  const all = [...spec.items, ...spec.golden.map((g) => g.item)];
  state.previewAt = Math.min(Math.max(state.previewAt, 0), all.length - 1);
  const item = all[state.previewAt];
  $("preview-desktop").replaceChildren(taskView(spec, item));
  $("preview-phone").replaceChildren(taskView(spec, item));
  $("preview-at").textContent = `item ${state.previewAt + 1} of ${all.length}`;
  $("preview-area").hidden = false;
}

async function create(event) {
  event.preventDefault();
  const button = $("create");
  button.disabled = true;
  try {
    const spec = formSpec();
    say(`creating ${spec.id} with ${spec.items.length} items…`);
    const created = await api("POST", "/v1/campaigns", spec);
    say(`campaign ${created.id} created: ${created.budget} ${created.token} moved from your funds to its budget`);
    $("create-panel").hidden = true;
    await Promise.all([showFunds(), showCampaigns()]);
    await openCampaign(created.id);
  } catch (err) {
    say(`the campaign was not created: ${plain(err)}`, true);
  } finally {
    button.disabled = false;
  }
}

// --- one campaign: money, charts, review, export --------------------------------------------

async function openCampaign(id) {
  state.campaign = id;
  $("campaign-panel").hidden = false;
  clearInterval(state.timer);
  await refresh();
  // The charts follow the campaign while it is open.
  state.timer = setInterval(() => refresh().catch((err) => say(plain(err), true)), 3000);
}

async function refresh() {
  const id = state.campaign;
  const [summary, stats, review, appeals] = await Promise.all([
    api("GET", `/v1/campaigns/${encodeURIComponent(id)}`),
    api("GET", `/v1/campaigns/${encodeURIComponent(id)}/stats`),
    api("GET", `/v1/campaigns/${encodeURIComponent(id)}/review`),
    api("GET", `/v1/campaigns/${encodeURIComponent(id)}/appeals?state=open&limit=100`),
  ]);
  if (id !== state.campaign) return;
  $("campaign-title").textContent = summary.title;
  $("campaign-line").textContent = `${summary.id} · ${KIND_NAMES[summary.kind] ?? summary.kind} · ${summary.status} · ${summary.items} items · ${summary.reward} ${summary.token} an answer`;
  $("campaign-panel").dataset.status = summary.status;
  const p = summary.progress;
  const money = $("money");
  money.replaceChildren();
  for (const [label, value] of [["budget", summary.budget], ["spent", p.spent], ["reserved", p.reserved], ["held", p.held ?? "0"], ["left", p.left], ["refunded", p.refunded]]) {
    const box = el("div");
    box.dataset.money = label;
    box.append(text("dt", label), text("dd", `${value} ${summary.token}`));
    money.append(box);
  }
  $("pause").disabled = summary.status !== "active";
  $("resume").disabled = summary.status !== "paused";
  $("close").disabled = summary.status === "closed";
  drawCharts(stats);
  drawReview(review);
  drawAppeals(appeals);
  // The list's progress counts follow too.
  await showCampaigns();
}

async function setStatus(status) {
  try {
    if (status === "closed" && !window.confirm("Close the campaign for good? Its unspent budget returns to your funds.")) return;
    await api("POST", `/v1/campaigns/${encodeURIComponent(state.campaign)}/status`, { status });
    say(`campaign ${state.campaign} is ${status}`);
    await Promise.all([refresh(), showFunds(), showCampaigns()]);
  } catch (err) {
    say(`the campaign was not changed: ${plain(err)}`, true);
  }
}

/** The choices a requester picks an answer from, and the answer each makes. */
function reviewChoices(kind, labels) {
  switch (kind) {
    case "content_verification":
      return ["true", "false", "unsure"].map((v) => [v, { verdict: v }]);
    case "image_categorization":
      return labels.map((l) => [l, { labels: [l] }]);
    case "text_labeling":
      return labels.map((l) => [l, { label: l }]);
    case "content_moderation":
      return [["no flag", { flags: [] }], ...labels.map((l) => [l, { flags: [l] }])];
    default:
      return [];
  }
}

function drawReview(review) {
  const list = $("review");
  list.replaceChildren();
  if (!review.items.length) list.append(text("li", "nothing to review"));
  for (const entry of review.items) {
    const li = el("li", "c-review");
    li.dataset.index = entry.index;
    const item = entry.item;
    li.append(text("strong", `item ${entry.index}: ${item.claim ?? item.text ?? item.prompt ?? item.image_url ?? ""}`));
    const tally = {};
    for (const a of entry.answers) {
      const key = flatLabel(a.answer) || "(none)";
      tally[key] = (tally[key] ?? 0) + 1;
    }
    const given = Object.entries(tally).map(([k, n]) => `${k} ×${n}`).join(", ");
    li.append(text("p", `decided “${flatLabel(entry.answer) || "(none)"}” at ${Math.round(entry.confidence * 100)}% confidence · answers given: ${given}`, "c-muted"));
    const row = el("div", "c-row");
    for (const [label, answer] of reviewChoices(review.kind, review.labels)) {
      const b = text("button", `Set “${label}”`);
      b.type = "button";
      b.dataset.answer = label;
      b.addEventListener("click", async () => {
        try {
          await api("POST", `/v1/campaigns/${encodeURIComponent(state.campaign)}/items/${entry.index}/answer`, { answer });
          say(`item ${entry.index} set to ${label}`);
          await refresh();
        } catch (err) {
          say(`the answer was not saved: ${plain(err)}`, true);
        }
      });
      row.append(b);
    }
    li.append(row);
    list.append(li);
  }
}

function drawAppeals(page) {
  const list = $("appeals");
  list.replaceChildren();
  if (!page.appeals.length) list.append(text("li", "no appeal waiting"));
  for (const appeal of page.appeals) {
    const li = el("li", "c-appeal");
    li.dataset.appeal = appeal.id;
    li.append(text("strong", `item ${appeal.index}: answered “${flatLabel(appeal.answer) || appeal.answer?.object || "(none)"}”`));
    const why = appeal.origin === "validator" ? "a lone validator rejected it" : `the contributor says: ${appeal.reason}`;
    li.append(text("p", `rejected: ${appeal.rejected_because ?? "outvoted"} · ${why} · ${appeal.created_at}`, "c-muted"));
    const note = el("input");
    note.type = "text";
    note.maxLength = 500;
    note.placeholder = "a word for the contributor (optional)";
    note.setAttribute("aria-label", "a word for the contributor");
    const row = el("div", "c-row");
    for (const [label, uphold] of [["Uphold and pay", true], ["Refuse", false]]) {
      const b = text("button", label);
      b.type = "button";
      b.dataset.uphold = String(uphold);
      b.addEventListener("click", async () => {
        try {
          const body = note.value.trim() ? { uphold, note: note.value.trim() } : { uphold };
          await api("POST", `/v1/appeals/${encodeURIComponent(appeal.id)}`, body);
          say(`appeal on item ${appeal.index} ${uphold ? "upheld: the answer is paid" : "refused"}`);
          await refresh();
        } catch (err) {
          say(`the appeal was not answered: ${plain(err)}`, true);
        }
      });
      row.append(b);
    }
    li.append(note, row);
    list.append(li);
  }
}

function csvField(t) {
  return /[",\r\n]/.test(t) ? `"${t.replaceAll('"', '""')}"` : t;
}

/** Every accepted record, page by page, in the CLI's export record shape. */
async function allRecords() {
  const out = [];
  let after = null;
  do {
    const query = after === null ? "limit=1000" : `after=${after}&limit=1000`;
    const page = await api("GET", `/v1/campaigns/${encodeURIComponent(state.campaign)}/results?${query}`);
    for (const r of page.records) {
      // The signed receipts go along, with addresses (the CLI's jsonl names contributors by
      // pseudonym there; here only the dataset layouts do, which ask the wallet to key them).
      out.push({ index: r.index, item: r.item, answer: r.answer, label: flatLabel(r.answer), confidence: r.confidence, method: r.method, contributors: r.contributors, object: r.object, file: null,
        receipts: r.receipts ?? [], ...(r.answer?.capture ? { capture: r.answer.capture } : {}),
        ...(r.predictions?.length ? { predictions: r.predictions } : {}) });
    }
    after = page.next;
  } while (after !== null);
  return out;
}

async function exportAs(format) {
  try {
    const records = await allRecords();
    let body;
    if (format === "jsonl") body = records.map((r) => `${JSON.stringify(r)}\n`).join("");
    else {
      const columns = ["index", "label", "confidence", "method", "contributors", "object", "file", "item", "answer", "verdict", "predictions"];
      const line = (fields) => `${fields.map((f) => csvField(String(f))).join(",")}\r\n`;
      body = line(columns) + records.map((r) => line([r.index, r.label, r.confidence ?? "", r.method, r.contributors.join(";"), r.object ?? "", "", JSON.stringify(r.item), JSON.stringify(r.answer), "", r.predictions ? JSON.stringify(r.predictions) : ""])).join("");
    }
    const type = format === "jsonl" ? "application/jsonl" : "text/csv";
    download(new Blob([body], { type }), `${state.campaign}-results.${format}`);
    say(`exported ${records.length} records as ${format.toUpperCase()}`);
  } catch (err) {
    say(`the export failed: ${plain(err)}`, true);
  }
}

function download(blob, name) {
  const url = URL.createObjectURL(blob);
  const a = document.createElement("a");
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  // Long enough for a large download to start; the blob is freed after.
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

/** The dataset layouts (`hf`, `webdataset`), as the CLI writes them, in one tar. The wallet
 * signs twice: the pseudonym message (once a session: the signature is the same each time)
 * and the manifest. */
async function exportLayout(layout) {
  const buttons = [$("export-hf"), $("export-wds")];
  const bar = $("export-progress");
  for (const b of buttons) b.disabled = true;
  try {
    const summary = await api("GET", `/v1/campaigns/${encodeURIComponent(state.campaign)}`);
    if (!state.pseudonymSeed) {
      say("sign the message in your wallet: it keys the contributors' pseudonymous ids (the same ids as the CLI's)");
      state.pseudonymSeed = await state.wallet.signMessage(PSEUDONYM_MESSAGE);
    }
    bar.hidden = false;
    bar.value = 0;
    say(`exporting ${state.campaign} as ${layout}…`);
    const out = await exportDataset({
      layout, campaign: state.campaign, summary, seed: state.pseudonymSeed, requester: state.session.wallet,
      relay: `${location.origin}/`,
      get: (path) => api("GET", path),
      signMessage: (bytes) => {
        say("sign the export's manifest in your wallet (datahub campaign verify checks it)");
        return state.wallet.signMessage(bytes);
      },
      progress: (done, total) => {
        bar.max = Math.max(total, 1);
        bar.value = done;
        $("export-count").textContent = `${done} of ${total} records`;
      },
    });
    download(out.blob, out.name);
    const missing = out.missingReceipts ? `, ${out.missingReceipts} answer(s) without a receipt (stored before receipts were kept)` : "";
    say(`exported ${out.rows} records as ${layout} in ${out.shards} shard(s)${missing}: ${out.name}, manifest signed`);
  } catch (err) {
    say(`the export failed: ${plain(err)}`, true);
  } finally {
    for (const b of buttons) b.disabled = false;
  }
}

// --- charts ---------------------------------------------------------------------------------

function svg(name, attrs = {}, content) {
  const node = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (content !== undefined) node.textContent = content;
  return node;
}

const W = 360;
const H = 180;
const PAD = { left: 40, right: 10, top: 10, bottom: 30 };

/** A chart's frame: a titled figure with an SVG and its y axis from 0 to `max`. */
function frame(title, max, yLabel = (v) => String(v)) {
  const figure = el("figure", "c-chart");
  figure.append(text("figcaption", title));
  const s = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": title });
  const bottom = H - PAD.bottom;
  for (const f of [0, 0.5, 1]) {
    const y = bottom - f * (bottom - PAD.top);
    s.append(svg("line", { x1: PAD.left, x2: W - PAD.right, y1: y, y2: y, class: "c-grid" }));
    s.append(svg("text", { x: PAD.left - 4, y: y + 4, "text-anchor": "end", class: "c-axis" }, yLabel(max * f)));
  }
  figure.append(s);
  return { figure, s, bottom };
}

function niceMax(values) {
  const m = Math.max(1, ...values);
  const p = 10 ** Math.floor(Math.log10(m));
  return [1, 2, 5, 10].map((k) => k * p).find((n) => n >= m);
}

/** Bars of `values` with `labels` under some of them. */
function bars(title, values, labels, cls = "c-bar") {
  const max = niceMax(values);
  const { figure, s, bottom } = frame(title, max, (v) => (Number.isInteger(v) ? String(v) : v.toFixed(1)));
  const width = (W - PAD.left - PAD.right) / Math.max(values.length, 1);
  const every = Math.ceil(values.length / 6);
  values.forEach((v, i) => {
    const h = (v / max) * (bottom - PAD.top);
    const x = PAD.left + i * width;
    // A few buckets make wide bars: keep them bar-like, centred in their slot.
    const w = Math.min(Math.max(width * 0.8, 1), 48);
    const bar = svg("rect", { x: x + (width - w) / 2, y: bottom - h, width: w, height: h, class: cls });
    bar.append(svg("title", {}, `${labels[i]}: ${v}`));
    s.append(bar);
    if (i % every === 0) s.append(svg("text", { x: x + width / 2, y: H - 12, "text-anchor": "middle", class: "c-axis" }, labels[i]));
  });
  return figure;
}

function clock(at) {
  const d = new Date(at);
  return `${String(d.getHours()).padStart(2, "0")}:${String(d.getMinutes()).padStart(2, "0")}`;
}

function drawCharts(stats) {
  const charts = [];
  const per = stats.bucket_seconds >= 3600 ? `${stats.bucket_seconds / 3600} h` : `${stats.bucket_seconds / 60} min`;
  const series = stats.answers_per_bucket.slice(-60);
  charts.push(["answers", bars(`Answers per ${per}`, series.map((b) => b.answers), series.map((b) => clock(b.at)))]);

  // Budget left over time: a line over the same buckets.
  const budget = stats.budget_over_time.slice(-60).map((b) => Number(b.left));
  const max = niceMax([...budget, Number(stats.budget)]);
  const line = frame(`Budget not yet paid out (${stats.token})`, max, (v) => (v >= 10 ? v.toFixed(0) : v.toFixed(2)));
  const step = (W - PAD.left - PAD.right) / Math.max(budget.length - 1, 1);
  const points = budget.map((v, i) => `${PAD.left + i * step},${line.bottom - (v / max) * (line.bottom - PAD.top)}`);
  if (points.length === 1) points.push(points[0].replace(/^[^,]+/, String(W - PAD.right)));
  line.s.append(svg("polyline", { points: points.join(" "), class: "c-line" }));
  const times = stats.budget_over_time.slice(-60);
  line.s.append(svg("text", { x: PAD.left, y: H - 12, class: "c-axis" }, clock(times[0].at)));
  line.s.append(svg("text", { x: W - PAD.right, y: H - 12, "text-anchor": "end", class: "c-axis" }, clock(times[times.length - 1].at)));
  charts.push(["budget", line.figure]);

  // Items: one stacked bar, decided / pending / open, with the counts in a legend.
  const items = stats.items;
  const figure = el("figure", "c-chart");
  figure.append(text("figcaption", `Items: ${items.decided} decided, ${items.pending} pending, ${items.open} open of ${items.total}`));
  const s = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": "items decided and pending" });
  let x = PAD.left;
  const span = W - PAD.left - PAD.right;
  [["decided", items.decided, "c-ok"], ["pending", items.pending, "c-warn"], ["open", items.open, "c-soft"]].forEach(([name, n, cls], i) => {
    const w = items.total ? (n / items.total) * span : 0;
    s.append(svg("rect", { x, y: 50, width: w, height: 50, class: cls }));
    s.append(svg("rect", { x: PAD.left + i * 110, y: 130, width: 14, height: 14, class: cls }));
    s.append(svg("text", { x: PAD.left + i * 110 + 20, y: 142, class: "c-axis" }, `${name} ${n}`));
    x += w;
  });
  figure.append(s);
  charts.push(["items", figure]);

  const tenths = [...Array(10).keys()].map((i) => `${i / 10}`);
  charts.push(["confidence", bars(`Confidence of decided items (below ${stats.confidence_threshold} is reviewed)`, stats.confidence_histogram, tenths)]);

  const g = stats.golden;
  const accuracy = g.accuracy === null ? "no golden answers yet" : `${Math.round(g.accuracy * 100)}% right`;
  charts.push(["golden", bars(`Golden items: ${accuracy}`, [g.right, g.wrong], ["right", "wrong"], "c-bar c-golden")]);
  charts.push(["trust", bars(`Trust of ${stats.contributors.total} contributors (${stats.contributors.restricted} restricted)`, stats.trust_histogram, tenths)]);

  const box = $("charts");
  box.replaceChildren(...charts.map(([name, node]) => {
    node.dataset.chart = name;
    return node;
  }));
  box.dataset.answers = String(Object.values(stats.answers).reduce((a, b) => a + b, 0));
}

// --- DOM helpers ----------------------------------------------------------------------------

function el(tag, cls) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  return node;
}

function text(tag, content, cls) {
  const node = el(tag, cls);
  node.textContent = content;
  return node;
}

// --- start ----------------------------------------------------------------------------------

async function start() {
  await init();
  state.client = await RelayClient.connect(location.origin);
  // Campaigns name a public key that uploads are sealed to; a wallet gives none, so the console
  // keeps a key of its own in this browser (IndexedDB) for that. Only upload campaigns need it
  // to open what was sent; those are made with the CLI.
  state.encryptionKey = (await LocalSigner.loadOrCreate("datahub-console")).publicKey;
  $("connect").addEventListener("click", connect);
  $("deposit-form").addEventListener("submit", deposit);
  $("new-campaign").addEventListener("click", () => {
    $("create-panel").hidden = false;
  });
  $("items-file").addEventListener("change", readItemsFile);
  $("preview").addEventListener("click", showPreview);
  $("preview-prev").addEventListener("click", () => {
    state.previewAt -= 1;
    showPreview();
  });
  $("preview-next").addEventListener("click", () => {
    state.previewAt += 1;
    showPreview();
  });
  $("create-form").addEventListener("submit", create);
  $("pause").addEventListener("click", () => setStatus("paused"));
  $("resume").addEventListener("click", () => setStatus("active"));
  $("close").addEventListener("click", () => setStatus("closed"));
  $("export-jsonl").addEventListener("click", () => exportAs("jsonl"));
  $("export-csv").addEventListener("click", () => exportAs("csv"));
  $("export-hf").addEventListener("click", () => exportLayout("hf"));
  $("export-wds").addEventListener("click", () => exportLayout("webdataset"));
  document.body.dataset.ready = "true";
}

start().catch((err) => {
  say(`the console could not start: ${plain(err)}`, true);
  document.body.dataset.ready = "error";
});
