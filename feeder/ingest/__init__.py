"""Reading the corpus into the state: records, normalising, the poll plan, worker processes."""
