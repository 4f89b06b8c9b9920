// Finding EIP-1193 providers for WalletSigner (crates/wasm/src/wallet.rs): EIP-6963
// announcements, Binance Wallet's window.binancew3w.ethereum, and window.ethereum.

/**
 * Every wallet the page can see, in DataHub's order of preference: EIP-6963 announcements (in
 * the order they arrived), then `window.binancew3w.ethereum`, then `window.ethereum` (each
 * provider listed once).
 */
export async function discoverWallets(timeoutMs) {
  const found = [];
  const seen = new Set();
  const add = (source, provider, info) => {
    if (!provider || typeof provider.request !== "function" || seen.has(provider)) return;
    seen.add(provider);
    found.push({ source, provider, info: info ?? null });
  };
  const scope = globalThis;
  if (typeof scope.addEventListener === "function" && typeof scope.dispatchEvent === "function") {
    const announced = [];
    const listener = (event) => {
      const detail = event?.detail;
      if (detail?.provider) announced.push(detail);
    };
    scope.addEventListener("eip6963:announceProvider", listener);
    try {
      scope.dispatchEvent(new Event("eip6963:requestProvider"));
      // Wallets answer synchronously as a rule; give late ones a moment.
      await new Promise((resolve) => setTimeout(resolve, timeoutMs));
    } finally {
      scope.removeEventListener("eip6963:announceProvider", listener);
    }
    for (const detail of announced) {
      const info = detail.info ?? {};
      add("eip6963", detail.provider, {
        uuid: String(info.uuid ?? ""), name: String(info.name ?? ""),
        icon: String(info.icon ?? ""), rdns: String(info.rdns ?? ""),
      });
    }
  }
  add("binancew3w", scope.binancew3w?.ethereum);
  add("ethereum", scope.ethereum);
  return found;
}

/** `provider.request({method, params})`, its failure turned into a plain {code, message}. */
export async function request(provider, method, params) {
  try {
    return { ok: true, value: await provider.request({ method, params }) };
  } catch (error) {
    const code = typeof error?.code === "number" ? error.code : Number(error?.code ?? NaN);
    return { ok: false, code: Number.isFinite(code) ? code : null, message: String(error?.message ?? error) };
  }
}
