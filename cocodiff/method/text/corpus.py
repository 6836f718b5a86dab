"""Class text as data: a coarse and a fine description of every action class.

A corpus file is JSON (UTF-8):

    {"format": "cocodiff-text/1",
     "dataset": "ucla",
     "generator": {"model": "...", "prompt": "...", "date": "YYYY-MM-DD", ...},
     "classes": [
       {"name": "pick up with one hand",
        "coarse": {"description": "one sentence", "paraphrases": ["...", "...", "..."]},
        "fine": {"head": "...", "hands": "...", "arms": "...", "torso": "...", "legs": "...",
                 "feet": "..."}},
       ...]}

Coarse text of a class = [name, description, *paraphrases]; fine text = one sentence per entry of
`FINE_PARTS`. Classes are matched to a dataset by name (exactly as the dataset spells them), so one
NTU-120 file also serves NTU-60. `generator` records which model wrote the text and with which
prompt. GAP-style files (`class;head;hand;arm;hip;leg;foot` per line) are read too, as fine text
with the class name as the only coarse text.
"""

from __future__ import annotations

import json
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from cocodiff.errors import DataError

FORMAT = "cocodiff-text/1"
FINE_PARTS = ("head", "hands", "arms", "torso", "legs", "feet")
MIN_PARAPHRASES = 3
CORPORA_DIR = Path(__file__).parent / "corpora"
# The corpus shipped for each dataset name found in annotation meta (`meta["dataset"]`).
SHIPPED = {"ntu60": "ntu120.json", "ntu120": "ntu120.json", "nw_ucla": "ucla.json", "ucla": "ucla.json",
           "utd_mhad": "utd_mhad.json",
           "embedded": "embedded.json"}


@dataclass(frozen=True)
class ClassText:
    name: str
    description: str = ""
    paraphrases: tuple[str, ...] = ()
    fine: dict[str, str] = field(default_factory=dict)

    @property
    def coarse(self) -> tuple[str, ...]:
        """The class's coarse sentences: its name, then the description and paraphrases."""
        return tuple(t for t in (self.name, self.description, *self.paraphrases) if t)


@dataclass(frozen=True)
class Corpus:
    classes: tuple[ClassText, ...]
    dataset: str = ""
    generator: dict[str, Any] = field(default_factory=dict)
    source: str = ""

    def names(self) -> list[str]:
        return [c.name for c in self.classes]

    def _same_order(self, names: Sequence[str]) -> bool:
        """The corpus lists `names`' classes in their order under its own spelling: every shared
        name at its own position, at least half of them shared, and each differing pair sharing a
        word (its first four letters: 'brush teeth' / 'brushing teeth')."""
        ours = self.names()
        if len(ours) < len(names):
            return False
        position = {name: i for i, name in enumerate(ours)}
        shared = [i for i, name in enumerate(names) if name in position]
        if 2 * len(shared) < len(names) or any(position[names[i]] != i for i in shared):
            return False
        stems = lambda name: {word[:4] for word in re.findall(r"[a-z]+", name.lower())}  # noqa: E731
        return all(stems(name) & stems(ours[i]) for i, name in enumerate(names) if name != ours[i])

    def select(self, names: Sequence[str]) -> list[ClassText]:
        """The entries for `names`, in that order; a `DataError` lists any class without text.

        Where names differ but the corpus lists the same classes in the same order (GAP's NTU
        text spells 60 of the 120 names its own way: 'eat meal' for 'eat meal/snack'), the
        classes are matched by position, with a note: every name the two share must sit at the
        same place, and at least half of them must agree."""
        by_name = {c.name: c for c in self.classes}
        missing = [n for n in names if n not in by_name]
        if missing and self._same_order(names):
            first = next(i for i, name in enumerate(names) if name != self.classes[i].name)
            print(f"note: {self.source}: {len(missing)} class names differ from the data's but the corpus lists "
                  f"its classes in the data's order, so they are matched by position (class {first}: "
                  f"{names[first]!r} here, {self.classes[first].name!r} there)", file=sys.stderr)
            return list(self.classes[:len(names)])
        if missing:
            shown = ", ".join(repr(n) for n in missing[:5]) + (" ..." if len(missing) > 5 else "")
            raise DataError(self.source, f"has no text for {len(missing)} class(es): {shown}")
        return [by_name[n] for n in names]


def _text(value: Any, where: str, source: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise DataError(source, f"{where} must be a non-empty string")
    return " ".join(value.split())


def corpus_from_dict(content: Any, source: str, *, strict: bool = True) -> Corpus:
    """Check and build a corpus; `strict` also demands a description and enough paraphrases."""
    if not isinstance(content, dict) or content.get("format") != FORMAT:
        raise DataError(source, f"not a cocodiff text corpus (expected \"format\": \"{FORMAT}\")")
    raw_classes = content.get("classes")
    if not isinstance(raw_classes, list) or not raw_classes:
        raise DataError(source, "\"classes\" must be a non-empty list")
    classes, seen_names = [], set()
    for index, raw in enumerate(raw_classes):
        where = f"classes[{index}]"
        if not isinstance(raw, dict):
            raise DataError(source, f"{where} must be an object")
        name = _text(raw.get("name"), f"{where}.name", source)
        if name in seen_names:
            raise DataError(source, f"class {name!r} appears twice")
        seen_names.add(name)
        coarse = raw.get("coarse") or {}
        if not isinstance(coarse, dict):
            raise DataError(source, f"{where}.coarse must be an object")
        description = _text(coarse.get("description"), f"{name!r} coarse.description", source) \
            if strict or coarse.get("description") else ""
        paraphrases = coarse.get("paraphrases", [])
        if not isinstance(paraphrases, list):
            raise DataError(source, f"{name!r} coarse.paraphrases must be a list")
        paraphrases = tuple(_text(p, f"{name!r} paraphrase {i + 1}", source) for i, p in enumerate(paraphrases))
        if strict and len(paraphrases) < MIN_PARAPHRASES:
            raise DataError(source, f"{name!r} has {len(paraphrases)} paraphrase(s), at least {MIN_PARAPHRASES} needed")
        fine = raw.get("fine")
        if not isinstance(fine, dict):
            raise DataError(source, f"{name!r} fine must be an object with keys {', '.join(FINE_PARTS)}")
        missing = [part for part in FINE_PARTS if part not in fine]
        extra = sorted(set(fine) - set(FINE_PARTS))
        if missing or extra:
            problem = f"lacks {', '.join(missing)}" if missing else f"has unknown part(s) {', '.join(extra)}"
            raise DataError(source, f"{name!r} fine text {problem} (parts: {', '.join(FINE_PARTS)})")
        fine = {part: _text(fine[part], f"{name!r} fine.{part}", source) for part in FINE_PARTS}
        entry = ClassText(name, description, paraphrases, fine)
        lowered = [t.lower() for t in entry.coarse]
        if len(set(lowered)) != len(lowered):
            raise DataError(source, f"{name!r} repeats a coarse sentence")
        classes.append(entry)
    generator = content.get("generator") or {}
    if strict and not (isinstance(generator, dict) and generator.get("model") and generator.get("prompt")):
        raise DataError(source, "\"generator\" must record the \"model\" and the \"prompt\" that wrote the text")
    return Corpus(tuple(classes), str(content.get("dataset", "")), dict(generator), source)


def corpus_to_dict(corpus: Corpus) -> dict[str, Any]:
    return {"format": FORMAT, "dataset": corpus.dataset, "generator": dict(corpus.generator),
            "classes": [{"name": c.name,
                         "coarse": {"description": c.description, "paraphrases": list(c.paraphrases)},
                         "fine": {part: c.fine[part] for part in FINE_PARTS}} for c in corpus.classes]}


def load_corpus(path: str | os.PathLike, *, strict: bool | None = None) -> Corpus:
    """A corpus from a JSON file or a GAP-style `.txt` file; any problem is one `DataError`.

    `strict` (demand descriptions, paraphrases and generator meta) defaults to True for files
    that say they were generated, and to False for fine-only files (GAP, or converted from it).
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "no such text file" if not path.exists() else "is not a file")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise DataError(path, "is not UTF-8 text") from None
    if path.suffix.lower() != ".json":
        return read_gap(text, str(path))
    try:
        content = json.loads(text)
    except json.JSONDecodeError as error:
        raise DataError(path, f"is not valid JSON ({error.msg} at line {error.lineno})") from None
    if strict is None:
        strict = not (isinstance(content, dict) and (content.get("generator") or {}).get("fine_only"))
    return corpus_from_dict(content, str(path), strict=strict)


def read_gap(text: str, source: str) -> Corpus:
    """GAP's part descriptions: `class;head;hand;arm;hip;leg;foot`, one class per line."""
    classes, seen = [], set()
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        fields = [f.strip() for f in line.split(";")]
        if len(fields) != 1 + len(FINE_PARTS):
            raise DataError(source, f"line {number}: expected 7 fields 'class;head;hand;arm;hip;leg;foot', "
                                    f"got {len(fields)}")
        if not all(fields):
            raise DataError(source, f"line {number}: field {fields.index('') + 1} is empty")
        name = " ".join(fields[0].split())
        if name in seen:
            raise DataError(source, f"line {number}: class {name!r} appears twice")
        seen.add(name)
        classes.append(ClassText(name, fine={part: " ".join(f.split()) for part, f in zip(FINE_PARTS, fields[1:])}))
    if not classes:
        raise DataError(source, "holds no class lines")
    return Corpus(tuple(classes), "", {"model": "unknown (GAP-style file)", "prompt": "", "fine_only": True}, source)


def shipped_corpus(dataset: str) -> Corpus:
    """The corpus that ships for a dataset name (`ntu60`, `ntu120`, `nw_ucla`, `embedded`)."""
    if dataset not in SHIPPED:
        raise DataError(dataset, f"no shipped class text for this dataset (have: {', '.join(sorted(SHIPPED))}); "
                                 "set method.text_file to a corpus file, or method.enabled=false to train "
                                 "the backbone alone")
    return load_corpus(CORPORA_DIR / SHIPPED[dataset])


def sentence_count(corpus: Corpus) -> int:
    """Coarse and fine sentences of every class."""
    return sum(len(c.coarse) + len(c.fine) for c in corpus.classes)


def repeated_sentences(corpus: Corpus) -> list[str]:
    """Sentences that occur more than once in the file (they give classes identical text)."""
    seen: set[str] = set()
    repeats: list[str] = []
    for entry in corpus.classes:
        for sentence in (*entry.coarse, *entry.fine.values()):
            key = sentence.lower()
            if key in seen and sentence not in repeats:
                repeats.append(sentence)
            seen.add(key)
    return repeats


def corpus_sentences(paths: Sequence[Path]) -> list[str]:
    """Every distinct sentence of the corpora (coarse, then fine, class by class), as encoders see them."""
    texts: list[str] = []
    for path in paths:
        for entry in load_corpus(path).classes:
            texts += [*entry.coarse, *entry.fine.values()]
    return list(dict.fromkeys(texts))
