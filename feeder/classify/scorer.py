"""Scoring an article against a taxonomy: one Aho–Corasick pass over the text for every
phrase, the regexes one by one, then weighting, saturation and the choice of tags.
`Classifier.classify` is a pure function of the title and the body."""

from __future__ import annotations

import math
import re
from collections import Counter
from itertools import compress
from operator import attrgetter, itemgetter

from ahocorasick_rs import BytesAhoCorasick, Implementation

from ..model import Article, Classification, Hit
from .taxonomy import Taxonomy, phrase_forms
from .voice import VoiceRule, rank

# A phrase that starts or ends with one of these matches whole words only ("cell" ≠ "cellular").
_ALNUM = frozenset("0123456789abcdefghijklmnopqrstuvwxyz")
_ALNUM_BYTES = frozenset(map(ord, _ALNUM))  # never part of a multi-byte UTF-8 character
_KEY = itemgetter(0)  # of a match (key index, start, end)
_POINTS = attrgetter("points")

# -- Scoring ---------------------------------------------------------------------------


class Classifier:
    """Scores articles against one taxonomy; build once, call `classify` many times."""

    def __init__(self, taxonomy: Taxonomy) -> None:
        self.taxonomy = taxonomy
        self._scoring = scoring = taxonomy.scoring
        self._tag_ids = tuple(tag.id for tag in taxonomy.tags)
        self._order = {tag: n for n, tag in enumerate(self._tag_ids)}
        # Phrases are matched lower-cased; one key may vote for several tags, or none.
        votes: dict[str, list[int]] = {phrase.lower(): [] for phrase in taxonomy.neutral}
        self._patterns: list[tuple[re.Pattern[str], int]] = []
        for i, signal in enumerate(taxonomy.signals):
            if signal.regex is None:
                for form in phrase_forms(signal.name):  # "measure(s)": both forms, one signal
                    votes.setdefault(form, []).append(i)
            else:
                # Run one by one rather than as an alternation: each keeps re's fast scan
                # for its first character, which an alternation loses.
                self._patterns.append((re.compile(signal.regex, re.IGNORECASE), i))
        keys = list(votes)
        self._votes = [tuple(votes[key]) for key in keys]
        self._length = [len(key) for key in keys]
        # Every occurrence of every key, overlapping ones too: the nesting rule below needs
        # the inner ones, and phrases that merely overlap ("指导意见" and "意见》" in
        # "指导意见》") both count. A DFA scans Chinese text about 1.5x as fast as the
        # default NFA; for a few hundred phrases it takes milliseconds to build. It reads
        # UTF-8 bytes: for a str it would encode anyway and then also turn byte offsets
        # into character offsets; UTF-8 is self-synchronising, so every byte match is a
        # match of whole characters.
        self._automaton = BytesAhoCorasick(
            [key.encode("utf-8", "surrogatepass") for key in keys],
            implementation=Implementation.DFA,
        )
        # The automaton also finds "cell" inside "cellular": a key edged with a Latin letter
        # or digit counts only where no letter or digit touches that edge in the text.
        self._edges = [(key[0] in _ALNUM, key[-1] in _ALNUM) for key in keys]
        self._bounded = frozenset(k for k, key in enumerate(keys) if _latin_edged(key))
        # A match inside a longer listed phrase counts only for the longer one, so that
        # "science and technology" is not the journal Science.
        self._inner = {
            k: inner for k, key in enumerate(keys) if (inner := _inner_keys(k, key, keys))
        }
        self._containers = frozenset(self._inner)
        full = 1 / (1 - math.exp(-1 / scoring.saturation))
        self._saturated = [(1 - math.exp(-n / scoring.saturation)) * full for n in range(256)]
        self._full = full
        self._signals = [(signal.tag, signal.name, signal.weight) for signal in taxonomy.signals]
        self._voices = tuple(VoiceRule(voice) for voice in taxonomy.voices)

    def classify(self, title: str, content: str, *, explain: bool = True) -> Classification:
        """Tag one article from its title and plain-text body (pure, no I/O).

        `explain=False` leaves out the hits: a bulk ingest stores only tags and scores, and
        building the hits was 40% of the time.
        """
        scoring = self._scoring
        if scoring.body_chars:
            content = content[: scoring.body_chars]
        # Scaled by the length read, not the whole body's: the hits come from that part
        # only, so a long article's opening is judged like an article of that length.
        body_scale = max(1.0, len(content) / scoring.reference_length) ** -scoring.length_exponent
        scores = dict.fromkeys(self._tag_ids, 0.0)
        hits: list[Hit] = []
        signals, saturated, full = self._signals, self._saturated, self._full
        for where, text, scale in (
            ("title", title, scoring.title_weight),
            ("body", content, body_scale),
        ):
            if not text or scale == 0:
                continue
            for i, count in self._count(text).items():
                tag, name, weight = signals[i]
                points = weight * (saturated[count] if count < 256 else full) * scale
                scores[tag] += points
                if explain:
                    hits.append(Hit(tag, name, where, count, points))
        voiced = self._hear(title, content, scores, hits if explain else None)
        given = self._choose(rank(scores, self._order, voiced), scores)
        # Each tag's hits in file order, strongest first. A stable sort keyed in C, then
        # one filter per tag: cheaper than sorting on a (tag order, points) key.
        hits.sort(key=_POINTS, reverse=True)
        by_tag = tuple(hit for tag in self._tag_ids for hit in hits if hit.tag == tag)
        return Classification(tags=tuple(given), scores=scores, hits=by_tag)

    def _hear(
        self, title: str, content: str, scores: dict[str, float], hits: list[Hit] | None
    ) -> frozenset[str]:
        """Add each voice heard in the heading to its tag's score; the tags heard that then
        reach min_score (a weaker one would only keep the first place empty)."""
        voiced = []
        for rule in self._voices:
            hit = rule.hear(title, content)
            if hit is not None:
                scores[hit.tag] += hit.points
                voiced.append(hit.tag)
                if hits is not None:
                    hits.append(hit)
        return frozenset(t for t in voiced if scores[t] >= self._scoring.min_score)

    def _choose(self, ranked: list[str], scores: dict[str, float]) -> list[str]:
        """The tags given, from tags best first: each needs min_score, and a further tag
        secondary_ratio × the best score (the best score, since a voiced primary may
        have less than a topic tag after it)."""
        scoring = self._scoring
        best = max(scores.values(), default=0.0)
        given: list[str] = []
        for tag in ranked[: scoring.max_tags]:
            score = scores[tag]
            if score < scoring.min_score:
                break
            if given and score < scoring.secondary_ratio * best:
                break
            given.append(tag)
        return given

    def classify_article(self, article: Article) -> Classification:
        return self.classify(article.title, article.content)

    def _count(self, text: str) -> dict[int, int]:
        """How often each signal occurs in `text`: one automaton pass, then each pattern."""
        low = text.lower().encode("utf-8", "surrogatepass")
        matches = self._automaton.find_matches_as_indexes(low, overlapping=True)
        found = Counter(map(_KEY, matches))
        bounded = self._bounded
        if not bounded.isdisjoint(found):
            # compress() hands Python only the matches of Latin-edged keys, which are few
            # in Chinese text. Offsets count bytes of `low`; an ASCII byte is a character.
            edges, size = self._edges, len(low)
            for k, start, end in compress(matches, map(bounded.__contains__, map(_KEY, matches))):
                first, last = edges[k]
                if (first and start and low[start - 1] in _ALNUM_BYTES) or (
                    last and end < size and low[end] in _ALNUM_BYTES
                ):
                    found[k] -= 1
        containers = self._containers.intersection(found)
        if containers:
            length = self._length
            for k in sorted(containers, key=length.__getitem__, reverse=True):
                n = found[k]
                if n > 0:
                    for j, times in self._inner[k]:
                        if j in found:
                            found[j] -= n * times
        counts: dict[int, int] = {}
        votes = self._votes
        for k, n in found.items():
            if n > 0:
                for i in votes[k]:
                    counts[i] = counts.get(i, 0) + n
        for pattern, i in self._patterns:
            n = len(pattern.findall(text))
            if n:
                counts[i] = n
        return counts


def _latin_edged(key: str) -> bool:
    return key[0] in _ALNUM or key[-1] in _ALNUM


def _count_words(text: str, key: str) -> int:
    """How often `key` occurs in `text` with no Latin letter or digit glued to its Latin edges."""
    check_start, check_end = key[0] in _ALNUM, key[-1] in _ALNUM
    count, at, size = 0, text.find(key), len(key)
    while at >= 0:
        end = at + size
        if not (check_start and at and text[at - 1] in _ALNUM) and not (
            check_end and end < len(text) and text[end] in _ALNUM
        ):
            count += 1
        at = text.find(key, at + 1)
    return count


def _inner_keys(k: int, key: str, keys: list[str]) -> tuple[tuple[int, int], ...]:
    """The shorter keys inside `key`, each with how many times it occurs there as a word."""
    inner = []
    for j, other in enumerate(keys):
        if j == k or len(other) >= len(key) or other not in key:
            continue
        if times := _count_words(key, other) if _latin_edged(other) else key.count(other):
            inner.append((j, times))
    return tuple(inner)


# -- Presenting a verdict ----------------------------------------------------------------
