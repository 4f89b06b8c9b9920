# Loads a DataHub dataset export with the tools AI teams use, and prints what they saw as JSON.
# argv: the export folder, its layout (hf or webdataset). Any failure raises (non-zero exit).
import glob, json, os, sys

root, layout = sys.argv[1], sys.argv[2]
report = {}
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
print(json.dumps(report))
