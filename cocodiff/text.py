"""Class text for CoCoDiff: write it with a language model, check it, import it, embed it.

    python -m cocodiff.text generate --classes classes.txt --out my_text.json --model gpt-4o-mini
    python -m cocodiff.text check my_text.json cocodiff/method/text/corpora/ucla.json
    python -m cocodiff.text import-gap gap_parts.txt --out gap_parts.json
    python -m cocodiff.text embed my_text.json --encoder minilm

`generate` asks any OpenAI-compatible chat endpoint for one class at a time (set
COCODIFF_LLM_BASE_URL, COCODIFF_LLM_API_KEY and COCODIFF_LLM_MODEL, or the OPENAI_* ones; a local
server needs no key). The classes file holds one class name per line, spelled exactly as the
dataset spells it; blank lines and # comments are skipped. The corpus is saved after every class,
so rerunning the same command after an interruption carries on where it stopped. The prompt as
sent (with {name} standing for each class) is written beside the corpus as <out stem>.prompt.txt.

`check` validates corpus files (JSON, or GAP-style .txt: class;head;hand;arm;hip;leg;foot) and
prints their size. `import-gap` turns a GAP-style file into a JSON corpus holding fine text only.
`embed` encodes every sentence of the given corpora into the user's embedding cache
($COCODIFF_CACHE/text-embeddings, else ~/.cache/cocodiff/text-embeddings), so training needs no
encoder; `embed --shipped` rewrites the embedding file that ships with the package.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Sequence

from cocodiff.atomic import atomic_write_text
from cocodiff.cli import run_cli
from cocodiff.data.class_map import read_class_names
from cocodiff.errors import CocodiffError, DataError
from cocodiff.method.text.corpus import (CORPORA_DIR, SHIPPED, Corpus, corpus_from_dict, corpus_sentences,
                                         corpus_to_dict, load_corpus, repeated_sentences, sentence_count)
from cocodiff.method.text.generate import (PROMPT_FILE, Endpoint, check_request, describe, fill_prompt,
                                           generate_corpus, load_template, prompt_path_for,
                                           write_corpus)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m cocodiff.text", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    generate = commands.add_parser("generate", help="write class text with an LLM chat endpoint")
    generate.add_argument("--classes", type=Path, required=True, help="text file, one class name per line")
    generate.add_argument("--out", type=Path, required=True, help="corpus JSON to write (resumed if it exists)")
    generate.add_argument("--model", default=None, help="model name (default: $COCODIFF_LLM_MODEL)")
    generate.add_argument("--paraphrases", type=int, default=3, help="paraphrases per class (default 3)")
    generate.add_argument("--temperature", type=float, default=0.7, help="sampling temperature (default 0.7)")
    generate.add_argument("--retries", type=int, default=3, help="retries per class after a passing failure")
    generate.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for one answer")
    generate.add_argument("--dataset", default="", help="dataset name recorded in the corpus (optional)")

    check = commands.add_parser("check", help="validate corpus files and print their size")
    check.add_argument("files", nargs="+", type=Path, help="corpus .json or GAP-style .txt files")

    gap = commands.add_parser("import-gap", help="convert a GAP-style part-description file to JSON")
    gap.add_argument("gap_file", type=Path, help="lines of class;head;hand;arm;hip;leg;foot")
    gap.add_argument("--out", type=Path, required=True, help="corpus JSON to write")
    gap.add_argument("--dataset", default="", help="dataset name recorded in the corpus (optional)")

    embed = commands.add_parser("embed", help="encode corpus text once and cache the embeddings")
    embed.add_argument("files", nargs="*", type=Path, help="corpus files to embed")
    embed.add_argument("--encoder", default="minilm", help="'minilm' (default) or 'clip:/path/to/clip-folder'")
    embed.add_argument("--shipped", action="store_true",
                       help="maintainers: rewrite the package's shipped embedding file from these corpora "
                            "(default: all shipped corpora) instead of adding to the user's cache")
    return parser


def say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def run_generate(args: argparse.Namespace) -> int:
    names = read_class_names(args.classes)
    if args.retries < 0 or args.timeout <= 0:
        raise CocodiffError("--retries must be >= 0 and --timeout > 0")
    endpoint = Endpoint.from_env(timeout=args.timeout)
    model = args.model or os.environ.get("COCODIFF_LLM_MODEL", "").strip()
    check_request(model, endpoint, args.paraphrases)
    template = load_template(PROMPT_FILE)  # recorded before the first request goes out
    atomic_write_text(prompt_path_for(args.out), fill_prompt(template, "{name}", args.paraphrases))
    say(f"{len(names)} classes from {args.classes}; model {model} at {endpoint.public_url}")
    corpus = generate_corpus(names, model=model, endpoint=endpoint, out=args.out, dataset=args.dataset,
                             num_paraphrases=args.paraphrases, temperature=args.temperature,
                             retries=args.retries, progress=say)
    write_corpus(args.out, corpus)  # also when every class was already there, to refresh the record
    say(f"wrote {args.out}: {len(corpus.classes)} classes, {sentence_count(corpus)} sentences "
        f"({describe(corpus.generator)}); prompt in {prompt_path_for(args.out)}")
    _note_repeats(corpus)
    return 0


def _note_repeats(corpus: Corpus) -> None:
    repeats = repeated_sentences(corpus)
    if repeats:
        say(f"note: {len(repeats)} sentence(s) occur more than once, e.g. {repeats[0]!r}; classes that share a "
            "sentence share its embedding, so consider rewording them")


def run_check(args: argparse.Namespace) -> int:
    for path in args.files:
        corpus = load_corpus(path)
        print(f"{path}: {len(corpus.classes)} classes, {sentence_count(corpus)} sentences, OK")
        _note_repeats(corpus)
    return 0


def run_import_gap(args: argparse.Namespace) -> int:
    path: Path = args.gap_file
    if path.suffix.lower() == ".json":
        raise DataError(path, "is JSON; import-gap reads GAP-style text lines class;head;hand;arm;hip;leg;foot")
    gap = load_corpus(path)
    generator = {**gap.generator, "imported_from": path.name}
    corpus = Corpus(gap.classes, args.dataset, generator, str(args.out))
    content = corpus_to_dict(corpus)
    corpus_from_dict(content, str(args.out), strict=False)  # what is written must read back
    atomic_write_text(args.out, json.dumps(content, indent=2, ensure_ascii=False) + "\n")
    print(f"wrote {args.out}: {len(corpus.classes)} classes, fine text only (class names are the coarse text)")
    return 0


def run_embed(args: argparse.Namespace) -> int:
    try:  # imported here: only this command may need an encoder and its heavy packages
        from cocodiff.method.text import embeddings, encoders
    except ImportError as error:
        raise CocodiffError(f"text embeddings are not available in this install ({error})") from None
    paths = list(args.files) or ([CORPORA_DIR / name for name in sorted(set(SHIPPED.values()))]
                                 if args.shipped else [])
    if not paths:
        raise CocodiffError("give the corpus files to embed (or --shipped to rebuild the shipped embeddings)")
    texts = corpus_sentences(paths)  # one clear line about a bad file before any encoder loads
    name = encoders.encoder_name(args.encoder)
    if args.shipped:
        where = embeddings.build_shipped_embeddings(paths, args.encoder)
        print(f"embedded {len(texts)} texts from {len(paths)} corpus file(s) with {name}; shipped file: {where}")
        return 0
    cache = embeddings.EmbeddingCache()
    known = len(cache.lookup(name, texts))
    embeddings.embed_texts(texts, args.encoder, cache)
    print(f"embedded {len(texts)} texts from {len(paths)} corpus file(s) with {name} "
          f"({len(texts) - known} newly encoded); cache: {cache.user_file(name)}")
    return 0


COMMANDS = {"generate": run_generate, "check": run_check, "import-gap": run_import_gap, "embed": run_embed}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return COMMANDS[args.command](args)


if __name__ == "__main__":
    sys.exit(run_cli(main))
