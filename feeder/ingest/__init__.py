"""Reading the corpus into the state: records, normalising, the poll plan, worker processes.

The names below are the package's public ones; import them from here. The modules, in the
order an article passes them: corpus (the entry points) reads a file through arrays or
lines, within limits, following what cannot be held with inspector; records are what
reading gives, with digests; normalise turns a record into an Article; plan decides what a
poll reads and what each record means; parts and workers read a large file in parallel.
"""

from .corpus import detect_format, read_articles, read_records, scan, to_article
from .digests import checksum, digest
from .limits import MAX_DEPTH, MAX_DIGITS, MAX_RECORD, MAX_STRING, MAX_VALUES
from .parts import split
from .plan import ReadPlan, corpus_unchanged, decide, plan_read, write_mode
from .records import Part, Record, Skipped, Tail
from .workers import FirstLookups, IngestResult, Job, ingest

__all__ = [
    "MAX_DEPTH",
    "MAX_DIGITS",
    "MAX_RECORD",
    "MAX_STRING",
    "MAX_VALUES",
    "FirstLookups",
    "IngestResult",
    "Job",
    "Part",
    "ReadPlan",
    "Record",
    "Skipped",
    "Tail",
    "checksum",
    "corpus_unchanged",
    "decide",
    "detect_format",
    "digest",
    "ingest",
    "plan_read",
    "read_articles",
    "read_records",
    "scan",
    "split",
    "to_article",
    "write_mode",
]
