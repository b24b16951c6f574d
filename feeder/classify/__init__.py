"""Categorising articles: the taxonomy file, the scorer, explanations and evaluation."""

from .explain import as_record, explain
from .scorer import Classifier
from .taxonomy import Taxonomy, load_taxonomy, parse_taxonomy, taxonomy_fingerprint

__all__ = [
    "Classifier",
    "Taxonomy",
    "as_record",
    "explain",
    "load_taxonomy",
    "parse_taxonomy",
    "taxonomy_fingerprint",
]
