-- An uploaded object counts once, ever (docs/relay.md §4): submissions are looked up by the object
-- they name.
CREATE INDEX submissions_manifest ON submissions (manifest);
