"""Who speaks and what kind of text it is: the rule that places a tag first.

Topic words say what an article is about; a ministry's measures for an industry are full of
company words. The heading says who issued the text and what it is (证监会 … 若干措施),
and that decides the newsletter section. Pure: a heading in, a hit or nothing out.
"""

from __future__ import annotations

from ahocorasick_rs import BytesAhoCorasick

from ..model import Hit
from .taxonomy import Voice, phrase_forms

VOICE = "voice: "  # how a voice's hit is named: "voice: 证监会 + 措施"
_ALNUM = frozenset(b"0123456789abcdefghijklmnopqrstuvwxyz")  # never inside a UTF-8 character


class VoiceRule:
    """One tag's voice, ready to listen to headings; build once, call `hear` many times."""

    def __init__(self, voice: Voice) -> None:
        self.voice = voice
        self._phrases: list[tuple[bytes, bool]] = []  # (form as UTF-8, is an issuer)
        seen: set[str] = set()
        for is_issuer, terms in ((True, voice.issuers), (False, voice.kinds)):
            for term in terms:
                for form in phrase_forms(term):
                    if form not in seen:
                        seen.add(form)
                        self._phrases.append((form.encode("utf-8", "surrogatepass"), is_issuer))
        # Bytes, as the scorer reads: a lone surrogate in a bad record must not stop it.
        self._automaton = BytesAhoCorasick([form for form, _ in self._phrases])

    def hear(self, title: str, body: str) -> Hit | None:
        """The voice's hit when the heading names an issuer and a kind of text, else None."""
        heading = f"{title}\n{body[: self.voice.lead_chars]}".lower()
        text = heading.encode("utf-8", "surrogatepass")
        issuer = kind = None
        for k, start, end in self._automaton.find_matches_as_indexes(text, overlapping=True):
            form, is_issuer = self._phrases[k]
            if not _whole_words(text, form, start, end):
                continue
            if is_issuer and issuer is None:
                issuer = form.decode("utf-8", "surrogatepass")
            elif not is_issuer and kind is None:
                kind = form.decode("utf-8", "surrogatepass")
            if issuer and kind:
                signal = f"{VOICE}{issuer} + {kind}"
                return Hit(self.voice.tag, signal, "title", 1, self.voice.weight)
        return None


def _whole_words(text: bytes, form: bytes, start: int, end: int) -> bool:
    """A form edged with a Latin letter or digit counts only where no letter or digit
    touches that edge in the text ("most" is not "almost")."""
    if form[0] in _ALNUM and start and text[start - 1] in _ALNUM:
        return False
    return not (form[-1] in _ALNUM and end < len(text) and text[end] in _ALNUM)


def rank(scores: dict[str, float], order: dict[str, int], voiced: frozenset[str]) -> list[str]:
    """Tags best first: a tag whose voice was heard before any other, then by score,
    ties in file order (pure)."""
    return sorted(scores, key=lambda tag: (tag not in voiced, -scores[tag], order[tag]))
