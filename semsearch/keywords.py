"""Keywords: candidate phrases and class-based TF-IDF.

Candidates are 1-3-word phrases that occur verbatim in the text (lower-cased) and
never cross a stop word or punctuation: stop words split the text into runs
*before* n-grams are formed, so no candidate is a phrase the text does not contain.
Language: English (the stop list below).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Mapping, Sequence

# English stop words for keyphrase candidates (a fuller list than the search module's
# query stop list, which only has to keep BM25 queries short).
STOP_WORDS = frozenset(
    """a about above across after afterwards again against all almost alone along already also although
    always am among amongst an and another any anyhow anyone anything anyway anywhere are around as at
    back be became because become becomes becoming been before beforehand behind being below beside
    besides between beyond both but by can cannot could did do does doing done down due during each eg
    either else elsewhere enough etc even ever every everyone everything everywhere except few for former
    formerly from further had has have having he hence her here hereafter hereby herein hereupon hers
    herself him himself his how however i ie if in indeed into is it its itself just last latter latterly
    least less many may me meanwhile might mine more moreover most mostly much must my myself namely
    neither never nevertheless next no nobody none noone nor not nothing now nowhere of off often on once
    one only onto or other others otherwise our ours ourselves out over own per perhaps please rather
    same seem seemed seeming seems several she should since so some somehow someone something sometime
    sometimes somewhere still such than that the their theirs them themselves then thence there
    thereafter thereby therefore therein thereupon these they this those though through throughout thru
    thus to together too toward towards under until up upon us used using very via was we well were what
    whatever when whence whenever where whereafter whereas whereby wherein whereupon wherever whether
    which while whither who whoever whole whom whose why will with within without would yet you your
    yours yourself yourselves also can could may might must shall should""".split()
)
MAX_WORDS = 3
# Words: letters/digits, allowing inner hyphens, apostrophes and dots ("x-ray", "o'brien", "u.s").
_TOKEN = re.compile(r"[^\W_]+(?:[-'.][^\W_]+)*|[^\w\s]", re.UNICODE)


def _runs(text: str) -> list[list[str]]:
    """Maximal runs of non-stop words, split at stop words and punctuation."""
    runs: list[list[str]] = []
    current: list[str] = []
    for match in _TOKEN.finditer(text.lower()):
        token = match.group(0)
        if not token[0].isalnum() or token in STOP_WORDS or token.isdigit() or len(token) < 2:
            if current:
                runs.append(current)
            current = []
        else:
            current.append(token)
    if current:
        runs.append(current)
    return runs


def candidates(text: str, max_words: int = MAX_WORDS) -> list[str]:
    """Every occurrence of every 1..``max_words``-word candidate phrase, in text order."""
    phrases = []
    for run in _runs(text):
        for start in range(len(run)):
            for n in range(1, max_words + 1):
                if start + n > len(run):
                    break
                phrases.append(" ".join(run[start : start + n]))
    return phrases


def class_tfidf(
    classes: Mapping[object, Sequence[str]], top_n: int = 10, max_words: int = 2
) -> dict[object, list[tuple[str, float]]]:
    """Top terms of each class by class-based TF-IDF (as BERTopic labels topics).

    ``classes`` maps a class label to the texts in it.  All texts of a class are
    treated as one document: ``tf(t, c)`` is the term's frequency in the class,
    L1-normalised; ``idf(t) = log(1 + A / f(t))`` with ``A`` the average number of
    terms per class and ``f(t)`` the term's frequency over all classes.  Terms are
    candidate phrases of up to ``max_words`` words.
    """
    counts: dict[object, Counter] = {label: Counter() for label in classes}
    for label, texts in classes.items():
        for text in texts:
            counts[label].update(candidates(text, max_words))
    totals: Counter = Counter()
    for counter in counts.values():
        totals.update(counter)
    sizes = [sum(c.values()) for c in counts.values()]
    average = (sum(sizes) / len(sizes)) if sizes else 0.0
    labels: dict[object, list[tuple[str, float]]] = {}
    for label, counter in counts.items():
        size = sum(counter.values()) or 1
        scored = [
            (term, (count / size) * math.log(1 + average / totals[term])) for term, count in counter.items()
        ]
        scored.sort(key=lambda item: (-item[1], item[0]))
        labels[label] = scored[:top_n]
    return labels
