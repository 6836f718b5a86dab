"""Corpus files: the format's checker, the GAP reader, the shipped corpora and `cocodiff.text check`."""

from __future__ import annotations

import copy
import importlib
import json
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest

from cocodiff.cli import run_cli
from cocodiff.errors import DataError
from cocodiff.method.text.corpus import (CORPORA_DIR, FINE_PARTS, FORMAT, SHIPPED, corpus_from_dict,
                                         corpus_to_dict, load_corpus)
from cocodiff.text import main


def good_dict() -> dict[str, Any]:
    def entry(name: str) -> dict[str, Any]:
        return {"name": name,
                "coarse": {"description": f"A person does {name}.",
                           "paraphrases": [f"{name}, version {i}." for i in range(3)]},
                "fine": {part: f"The {part} take part in {name}." for part in FINE_PARTS}}

    return {"format": FORMAT, "dataset": "toy", "generator": {"model": "m", "prompt": "prompt_template.txt"},
            "classes": [entry("wave"), entry("sit down")]}


def write_json(tmp_path: Path, content: Any) -> Path:
    path = tmp_path / "text.json"
    path.write_text(json.dumps(content), encoding="utf-8")
    return path


def test_round_trip() -> None:
    corpus = corpus_from_dict(good_dict(), "toy.json")
    assert corpus_to_dict(corpus) == good_dict()
    assert corpus_from_dict(corpus_to_dict(corpus), "toy.json") == corpus
    assert corpus.classes[0].coarse == ("wave", "A person does wave.", "wave, version 0.", "wave, version 1.",
                                        "wave, version 2.")


def _set(path: str, value: Any) -> Callable[[dict], None]:
    def change(content: dict) -> None:
        *keys, last = path.split("/")
        target = content
        for key in keys:
            target = target[int(key)] if isinstance(target, list) else target[key]
        if value is _DELETE:
            del target[last]
        else:
            target[int(last) if isinstance(target, list) else last] = value
    return change


_DELETE = object()
BAD = {
    "missing part": (_set("classes/0/fine/feet", _DELETE), "lacks feet"),
    "unknown part": (_set("classes/0/fine/tail", "It wags."), "unknown part(s) tail"),
    "empty string": (_set("classes/1/fine/head", "   "), "fine.head must be a non-empty string"),
    "duplicated class": (_set("classes/1/name", "wave"), "'wave' appears twice"),
    "too few paraphrases": (_set("classes/0/coarse/paraphrases", ["one.", "two."]), "2 paraphrase(s)"),
    "repeated coarse sentence": (_set("classes/0/coarse/paraphrases/1", "A PERSON DOES WAVE."), "repeats a coarse"),
    "missing generator meta": (_set("generator", _DELETE), '"model" and the "prompt"'),
    "generator without prompt": (_set("generator/prompt", _DELETE), '"model" and the "prompt"'),
    "wrong format tag": (_set("format", "cocodiff-text/0"), "not a cocodiff text corpus"),
    "no classes": (_set("classes", []), "non-empty list"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_corpus_is_one_data_error_naming_the_file(tmp_path: Path, case: str) -> None:
    change, expected = BAD[case]
    content = copy.deepcopy(good_dict())
    change(content)
    path = write_json(tmp_path, content)
    with pytest.raises(DataError) as caught:
        load_corpus(path)
    assert str(path) in str(caught.value) and expected in str(caught.value)


def test_missing_description_is_a_data_error(tmp_path: Path) -> None:
    content = good_dict()
    del content["classes"][0]["coarse"]["description"]
    with pytest.raises(DataError):
        load_corpus(write_json(tmp_path, content))


def test_not_json_and_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "text.json"
    path.write_text('{"format": ', encoding="utf-8")
    with pytest.raises(DataError, match="is not valid JSON") as caught:
        load_corpus(path)
    assert str(path) in str(caught.value)
    with pytest.raises(DataError, match="no such text file"):
        load_corpus(tmp_path / "absent.json")


GAP = """# class;head;hand;arm;hip;leg;foot
drink water;head tilts back;hand holds near mouth;arm bends up;hip still;legs stand;feet flat

jump up; head rises ; hands swing ;arms swing up;hips bend then extend;legs push off;feet leave the ground
"""


def test_gap_file_reads_as_fine_text(tmp_path: Path) -> None:
    path = tmp_path / "gap.txt"
    path.write_text(GAP, encoding="utf-8")
    corpus = load_corpus(path)
    assert corpus.names() == ["drink water", "jump up"]
    assert corpus.classes[1].fine == dict(zip(FINE_PARTS, ("head rises", "hands swing", "arms swing up",
                                                           "hips bend then extend", "legs push off",
                                                           "feet leave the ground")))
    assert corpus.classes[1].coarse == ("jump up",)


def test_gap_wrong_field_count_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "gap.txt"
    path.write_text(GAP + "kick;head;hand;arm;hip;leg\n", encoding="utf-8")
    with pytest.raises(DataError, match="line 5: expected 7") as caught:
        load_corpus(path)
    assert str(path) in str(caught.value)


def test_select_reports_missing_classes() -> None:
    corpus = corpus_from_dict(good_dict(), "toy.json")
    assert [c.name for c in corpus.select(["sit down", "wave"])] == ["sit down", "wave"]
    with pytest.raises(DataError, match=r"toy.json: has no text for 1 class\(es\): 'jump'"):
        corpus.select(["wave", "jump"])


def test_differently_spelt_names_in_the_same_order_match_by_position(capsys) -> None:
    """GAP's NTU text spells half the names its own way; in the data's order they still match."""
    content = good_dict()
    content["classes"] = [dict(good_dict()["classes"][0], name=name) for name in
                          ("drink water", "eat meal", "brush teeth", "brush hair")]
    corpus = corpus_from_dict(content, "gap.json")
    data = ["drink water", "eat meal/snack", "brushing teeth", "brush hair"]
    assert [c.name for c in corpus.select(data)] == ["drink water", "eat meal", "brush teeth", "brush hair"]
    assert "2 class names differ" in capsys.readouterr().err
    with pytest.raises(DataError, match="has no text for 1 class"):  # moved: order no longer says it
        corpus.select(["eat meal/snack", "brush teeth", "drink water", "brush hair"])
    with pytest.raises(DataError, match="has no text for 1 class"):  # no word in common: not the same class
        corpus.select(["drink water", "kick something", "brush teeth", "brush hair"])


EXPECTED = {"ucla.json": ("cocodiff.data.readers.ucla", "CLASSES"),
            "embedded.json": ("cocodiff.data.embedded", "CLASSES"),
            "ntu120.json": ("cocodiff.data.readers.ntu_classes", "NTU120_CLASSES"),
            "utd_mhad.json": ("cocodiff.data.readers.utd", "CLASSES")}


def test_every_shipped_corpus_is_covered() -> None:
    assert set(SHIPPED.values()) <= set(EXPECTED)


@pytest.mark.parametrize("file_name", sorted(EXPECTED))
def test_shipped_corpus(file_name: str) -> None:
    path = CORPORA_DIR / file_name
    if not path.exists():
        pytest.skip(f"{path} is not written yet")
    module, attribute = EXPECTED[file_name]
    corpus = load_corpus(path)  # strict: descriptions, enough paraphrases, every part, generator meta
    assert tuple(corpus.names()) == tuple(getattr(importlib.import_module(module), attribute))
    assert all(set(c.fine) == set(FINE_PARTS) for c in corpus.classes)
    assert corpus.generator.get("model") and corpus.generator.get("prompt")
    seen: dict[str, str] = {}
    for entry in corpus.classes:
        for sentence in (*entry.coarse, *entry.fine.values()):
            key = sentence.lower()
            assert key not in seen, f"{sentence!r} appears for {seen[key]!r} and for {entry.name!r}"
            seen[key] = entry.name


def test_check_command(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    good = write_json(tmp_path, good_dict())
    gap = tmp_path / "gap.txt"
    gap.write_text(GAP, encoding="utf-8")
    assert run_cli(main, ["check", str(good), str(gap)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == [f"{good}: 2 classes, 22 sentences, OK", f"{gap}: 2 classes, 14 sentences, OK"]
    bad = tmp_path / "bad.json"
    bad.write_text("[]", encoding="utf-8")
    assert run_cli(main, ["check", str(good), str(bad)]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [f"error: {bad}: not a cocodiff text corpus "
                                                            f"(expected \"format\": \"{FORMAT}\")"]


def test_import_gap_writes_fine_only_json(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    gap = tmp_path / "gap.txt"
    gap.write_text(GAP, encoding="utf-8")
    out = tmp_path / "gap.json"
    assert run_cli(main, ["import-gap", str(gap), "--out", str(out), "--dataset", "toy"]) == 0
    content = json.loads(out.read_text(encoding="utf-8"))
    assert content["format"] == FORMAT and content["dataset"] == "toy"
    assert corpus_from_dict(content, str(out), strict=False).classes == load_corpus(gap).classes
    assert run_cli(main, ["check", str(out)]) == 0
    assert f"{out}: 2 classes, 14 sentences, OK" in capsys.readouterr().out


@pytest.fixture
def fake_encoder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """`embed` without a real encoder: count what gets encoded, keep every cache under tmp_path."""
    embeddings = pytest.importorskip("cocodiff.method.text.embeddings")
    calls: list[list[str]] = []

    def encode(spec: str, name: str, texts: list[str]) -> np.ndarray:
        calls.append(list(texts))
        vectors = np.random.default_rng(len(calls)).normal(size=(len(texts), 8)).astype(np.float32)
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)

    monkeypatch.setattr(embeddings, "_encode", encode)
    monkeypatch.setattr(embeddings, "SHIPPED_DIR", tmp_path / "shipped")
    monkeypatch.setenv("COCODIFF_CACHE", str(tmp_path / "cache"))
    return calls


def test_embed_fills_the_user_cache_once(tmp_path: Path, fake_encoder: list[list[str]],
                                         capsys: pytest.CaptureFixture) -> None:
    path = write_json(tmp_path, good_dict())
    assert run_cli(main, ["embed", str(path)]) == 0
    assert run_cli(main, ["embed", str(path)]) == 0
    first, second = capsys.readouterr().out.splitlines()
    assert "embedded 22 texts" in first and "(22 newly encoded)" in first and str(tmp_path / "cache") in first
    assert "(0 newly encoded)" in second
    assert [len(texts) for texts in fake_encoder] == [22]


def test_embed_shipped_rewrites_the_package_file(tmp_path: Path, fake_encoder: list[list[str]],
                                                 capsys: pytest.CaptureFixture) -> None:
    path = write_json(tmp_path, good_dict())
    assert run_cli(main, ["embed", "--shipped", str(path)]) == 0
    line = capsys.readouterr().out.strip()
    assert "embedded 22 texts from 1 corpus file(s)" in line and str(tmp_path / "shipped") in line
    assert run_cli(main, ["embed"]) == 2
    assert "--shipped" in capsys.readouterr().err
