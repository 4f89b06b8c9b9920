# Loads a DataHub dataset export with the tools AI teams use, and prints what they saw as JSON.
# argv: the export folder, its layout (hf or webdataset). Any failure raises (non-zero exit).
import glob, json, os, sys

root, layout = sys.argv[1], sys.argv[2]
report = {}


def verify_receipts(rows):
    """Checks every receipt of every row without DataHub's code: the EIP-712 digest rebuilt from
    the domain and message (eth-hash's keccak), the answer's keccak256 against answerHash, and
    the signature recovered (eth-keys) to the signer the receipt names. Raises on any mismatch;
    returns what it checked."""
    from eth_hash.auto import keccak
    from eth_keys import keys

    def word(n):
        return int(n).to_bytes(32, "big")

    def b32(text):
        raw = bytes.fromhex(text[2:] if text.startswith("0x") else text)
        assert len(raw) == 32, text
        return raw

    domain_type = keccak(b"EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)")
    receipt_type = keccak(b"SubmissionReceipt(string campaign,string task,bytes32 answerHash,bytes32 manifestId,"
                          b"uint256 nonce,uint256 deadline,string licence,bytes32 termsHash)")
    out = {"verified": 0, "unverifiable": 0, "rows": 0, "licences": [], "terms_hashes": [], "signers": []}
    for index, receipts in rows:
        out["rows"] += 1
        for entry in receipts:
            assert isinstance(entry["contributor_id"], str) and len(entry["contributor_id"]) == 32, entry
            r = entry["receipt"]
            if r is None:
                out["unverifiable"] += 1
                continue
            d, m = r["domain"], r["message"]
            separator = keccak(domain_type + keccak(d["name"].encode()) + keccak(d["version"].encode())
                               + word(d["chainId"]) + bytes(12) + bytes.fromhex(d["verifyingContract"][2:]))
            struct = keccak(receipt_type + keccak(m["campaign"].encode()) + keccak(m["task"].encode())
                            + b32(m["answerHash"]) + b32(m["manifestId"]) + word(m["nonce"]) + word(m["deadline"])
                            + keccak(m["licence"].encode()) + b32(m["termsHash"]))
            digest = keccak(b"\x19\x01" + separator + struct)
            assert keccak(r["answer"].encode()) == b32(m["answerHash"]), f"row {index}: the answer is not the one signed"
            sig = bytes.fromhex(r["signature"][2:])
            v = sig[64] - 27 if sig[64] >= 27 else sig[64]
            signature = keys.Signature(vrs=(v, int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:64], "big")))
            signer = signature.recover_public_key_from_msg_hash(digest).to_checksum_address()
            assert signer.lower() == r["signer"].lower(), f"row {index}: recovers to {signer}, not {r['signer']}"
            out["verified"] += 1
            for key, value in (("licences", m["licence"]), ("terms_hashes", m["termsHash"]), ("signers", signer)):
                if value not in out[key]:
                    out[key].append(value)
    return out

if layout == "hf":
    import pyarrow.parquet as pq
    files = sorted(glob.glob(os.path.join(root, "data", "train-*.parquet")))
    table = pq.read_table(files)
    columns = {}
    for name in table.column_names:
        # Every column read to Python values, not only the schema.
        columns[name] = table.column(name).to_pylist()
    report["pyarrow"] = {"rows": table.num_rows, "columns": table.column_names,
                         "types": {f.name: str(f.type) for f in table.schema}}
    report["rows"] = [
        {name: (values[i].hex() if isinstance(values[i], bytes) else values[i])
         for name, values in columns.items()}
        for i in range(table.num_rows)
    ]
    import datasets
    datasets.disable_progress_bars()
    ds = datasets.load_dataset("parquet", data_files=files, split="train",
                               cache_dir=os.path.join(os.environ.get("TMPDIR", "/tmp"), "datahub-hf-cache-" + str(os.getpid())))
    report["datasets"] = {"rows": ds.num_rows, "columns": ds.column_names,
                          "indexes": [r["index"] for r in ds]}
    import mlcroissant as mlc
    dataset = mlc.Dataset(jsonld=os.path.join(root, "croissant.json"))
    records = list(dataset.records(record_set="default"))
    report["croissant"] = {"name": dataset.metadata.name, "records": len(records),
                           "rai": bool(dataset.metadata.data_collection)}
    report["receipts"] = verify_receipts(
        (row["index"], json.loads(row["receipts"])) for row in report["rows"])
    card = open(os.path.join(root, "README.md"), encoding="utf-8").read()
    import yaml
    report["card"] = yaml.safe_load(card.split("---")[1])
else:
    import webdataset as wds
    files = sorted(glob.glob(os.path.join(root, "data", "train-*.tar")))
    samples = []
    for sample in wds.WebDataset(files, shardshuffle=False, empty_check=False):
        record = json.loads(sample["json"])
        media = [k for k in sample if k not in ("json", "__key__", "__url__", "__local_path__")]
        samples.append({"key": sample["__key__"], "index": record["index"], "media": media,
                        "bytes": {k: len(sample[k]) for k in media}, "record": record})
    report["webdataset"] = samples
    report["receipts"] = verify_receipts((s["index"], s["record"]["receipts"]) for s in samples)
print(json.dumps(report))
