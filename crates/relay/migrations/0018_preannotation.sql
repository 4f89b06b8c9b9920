-- Pre-annotation (docs/relay.md §4d, "Pre-annotation"): a labeling campaign whose items carry
-- an object may declare a compute job; each such item gets one job (submission NULL, idx the
-- item's), whose decided prediction is shown as a suggestion and counts as the model's vote.
-- Reading an item's job is by (campaign, idx).
CREATE INDEX compute_jobs_item ON compute_jobs (campaign, idx);
