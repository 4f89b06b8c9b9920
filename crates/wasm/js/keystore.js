// IndexedDB access for LocalSigner.load / loadOrCreate / save / forget (crates/wasm/src/keystore.rs).
// One database, one object store, records keyed by name. Each call opens the database, runs
// one transaction and closes it again, so no connection blocks a later upgrade.

const STORE = "keys";

function idb() {
  const factory = globalThis.indexedDB;
  if (!factory) {
    const error = new Error("IndexedDB is not available here: keep the key with exportSecret() instead");
    error.name = "KeystoreError";
    error.code = "Unavailable";
    throw error;
  }
  return factory;
}

function failed(request, what) {
  const error = new Error(`${what}: ${request.error?.message ?? "IndexedDB failed"}`);
  error.name = "KeystoreError";
  error.code = "StorageFailed";
  return error;
}

function open(database) {
  return new Promise((resolve, reject) => {
    const request = idb().open(database, 1);
    request.onupgradeneeded = () => request.result.createObjectStore(STORE);
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(failed(request, `could not open IndexedDB database ${database}`));
    request.onblocked = () => reject(failed(request, `IndexedDB database ${database} is blocked by another tab`));
  });
}

async function transact(database, mode, body) {
  const db = await open(database);
  try {
    return await new Promise((resolve, reject) => {
      const tx = db.transaction(STORE, mode);
      let result;
      body(tx.objectStore(STORE), (value) => { result = value; });
      tx.oncomplete = () => resolve(result);
      tx.onerror = () => reject(failed(tx, "IndexedDB transaction failed"));
      tx.onabort = () => reject(failed(tx, "IndexedDB transaction aborted"));
    });
  } finally {
    db.close();
  }
}

/** The record under `key`, or undefined. */
export function idbGet(database, key) {
  return transact(database, "readonly", (store, done) => {
    const request = store.get(key);
    request.onsuccess = () => done(request.result);
  });
}

/** The record under `key`; if there is none, stores `candidate` and returns it (one transaction). */
export function idbGetOrPut(database, key, candidate) {
  return transact(database, "readwrite", (store, done) => {
    const request = store.get(key);
    request.onsuccess = () => {
      if (request.result !== undefined) {
        done(request.result);
      } else {
        store.put(candidate, key);
        done(candidate);
      }
    };
  });
}

/** Stores `value` under `key`, replacing what was there. */
export function idbPut(database, key, value) {
  return transact(database, "readwrite", (store) => { store.put(value, key); });
}

/** Deletes the record under `key`. */
export function idbDelete(database, key) {
  return transact(database, "readwrite", (store) => { store.delete(key); });
}
