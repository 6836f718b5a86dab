"""Write class text with a language model behind any OpenAI-compatible chat endpoint.

The endpoint comes from the environment, so the same code talks to OpenAI, to a hosted
compatible service or to a local server (vLLM, llama.cpp, Ollama):

    COCODIFF_LLM_BASE_URL  (else OPENAI_BASE_URL, else https://api.openai.com/v1)
    COCODIFF_LLM_API_KEY   (else OPENAI_API_KEY; may be empty for a local server)
    COCODIFF_LLM_MODEL     (or pass the model explicitly)

One request per class: the prompt template filled in with the class name, answered by one JSON
object that is checked as strictly as a corpus file is. Passing problems (no connection, time-outs,
HTTP 429 and 5xx, an answer that is not the object asked for) are retried with exponential
backoff; a refused key or a wrong URL (HTTP 4xx) stops at once. With `out`, the corpus is written
after every class, so a rerun with the same `out` carries on where an interrupted one stopped.
"""

from __future__ import annotations

import datetime
import http.client
import json
import os
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from cocodiff.atomic import atomic_write_text
from cocodiff.errors import CocodiffError, DataError
from cocodiff.method.text.corpus import (FINE_PARTS, FORMAT, MIN_PARAPHRASES, ClassText, Corpus,
                                         corpus_from_dict, corpus_to_dict, load_corpus)

DEFAULT_BASE_URL = "https://api.openai.com/v1"
PROMPT_FILE = Path(__file__).with_name("prompt_template.txt")
MAX_DELAY_S = 60.0
_FENCED = re.compile(r"```[A-Za-z0-9_-]*\s*\n?(.*?)```", re.DOTALL)


class _Passing(Exception):
    """A failure worth another try; `delay` is a wait the server asked for, if any."""

    def __init__(self, reason: str, delay: float = 0.0, *, bad_answer: bool = False):
        super().__init__(reason)
        self.delay = delay
        self.bad_answer = bad_answer  # the server answered, but not with the text asked for


@dataclass(frozen=True)
class Endpoint:
    base_url: str
    api_key: str = ""
    timeout: float = 60.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, *, timeout: float = 60.0) -> "Endpoint":
        env = os.environ if environ is None else environ
        base = env.get("COCODIFF_LLM_BASE_URL") or env.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL
        key = env.get("COCODIFF_LLM_API_KEY") or env.get("OPENAI_API_KEY") or ""
        return cls(base.strip(), key.strip(), timeout)

    @property
    def url(self) -> str:
        """Where requests go: the base URL's path + /chat/completions, its query kept."""
        parts = urllib.parse.urlsplit(self.base_url)
        return urllib.parse.urlunsplit(parts._replace(path=parts.path.rstrip("/") + "/chat/completions"))

    @property
    def public_url(self) -> str:
        """The base URL as it may be shown or written down: no user:password@, no query."""
        parts = urllib.parse.urlsplit(self.base_url)
        host = parts.hostname or ""
        host = f"[{host}]" if ":" in host else host
        netloc = host if parts.port is None else f"{host}:{parts.port}"
        return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))

    @property
    def shown_url(self) -> str:
        """The request URL for messages, which must never reveal a secret."""
        return self.public_url + "/chat/completions"


def load_template(path: str | os.PathLike = PROMPT_FILE) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise DataError(path, f"cannot read the prompt template ({error.strerror or error})") from None


def fill_prompt(template: str, name: str, num_paraphrases: int) -> str:
    return template.format(name=name, num_paraphrases=num_paraphrases)


def chat(endpoint: Endpoint, model: str, prompt: str, temperature: float) -> str:
    """One chat-completions request; the answer's text, `_Passing` or a `CocodiffError`."""
    body = json.dumps({"model": model, "messages": [{"role": "user", "content": prompt}],
                       "temperature": temperature}).encode("utf-8")
    headers = {"Content-Type": "application/json", "Accept": "application/json", "User-Agent": "cocodiff"}
    if endpoint.api_key:
        headers["Authorization"] = f"Bearer {endpoint.api_key}"
    request = urllib.request.Request(endpoint.url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=endpoint.timeout) as response:
            raw = response.read()
    except urllib.error.HTTPError as error:
        raise _http_failure(endpoint, error) from None
    except urllib.error.URLError as error:
        raise _Passing(str(getattr(error.reason, "strerror", None) or error.reason)) from None
    except (OSError, http.client.HTTPException) as error:  # time-outs, resets, broken answers
        raise _Passing(str(error) or type(error).__name__) from None
    try:
        content = json.loads(raw)["choices"][0]["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError):
        raise _Passing("the reply is not a chat-completions JSON answer", bad_answer=True) from None
    if not isinstance(content, str):
        raise _Passing("the reply's message content is not text", bad_answer=True)
    return content


def _http_failure(endpoint: Endpoint, error: urllib.error.HTTPError) -> Exception:
    status, said = error.code, _server_message(error)
    reason = f"HTTP {status} {error.reason}" + (f": {said}" if said else "")
    if status in (408, 409, 429) or status >= 500:
        return _Passing(reason, _retry_after(error))
    hint = {401: "check COCODIFF_LLM_API_KEY (or OPENAI_API_KEY)", 403: "check the key's access to this model",
            404: "check COCODIFF_LLM_BASE_URL (it ends before /chat/completions) and the model name"}
    return CocodiffError(f"POST {endpoint.shown_url} failed with {reason}"
                         + (f"; {hint[status]}" if status in hint else ""))


def _server_message(error: urllib.error.HTTPError) -> str:
    try:
        text = error.read().decode("utf-8", "replace")
    except OSError:
        return ""
    try:
        message = json.loads(text)["error"]
        text = message.get("message", "") if isinstance(message, dict) else str(message)
    except (ValueError, KeyError, TypeError):
        pass
    text = " ".join(str(text).split())
    return text[:200] + ("..." if len(text) > 200 else "")


def _retry_after(error: urllib.error.HTTPError) -> float:
    try:
        return min(float(error.headers.get("Retry-After", 0)), MAX_DELAY_S)
    except (TypeError, ValueError):
        return 0.0


def parse_answer(content: str, name: str, num_paraphrases: int) -> ClassText:
    """The class text in a model's answer, which may be fenced in ``` or wrapped in chatter."""
    fenced = _FENCED.search(content)
    text = fenced.group(1) if fenced else content
    start, end = text.find("{"), text.rfind("}")
    try:
        answer = json.loads(text[start:end + 1]) if 0 <= start < end else None
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        raise _Passing("the answer is not a JSON object", bad_answer=True)
    description, paraphrases, fine = answer.get("description"), answer.get("paraphrases"), answer.get("fine")
    if not isinstance(description, str) or not description.strip():
        raise _Passing('"description" is not a sentence', bad_answer=True)
    if not isinstance(paraphrases, list) or len(paraphrases) < num_paraphrases:
        raise _Passing(f'"paraphrases" is not a list of {num_paraphrases} strings', bad_answer=True)
    if not isinstance(fine, dict) or set(fine) != set(FINE_PARTS):
        raise _Passing(f'"fine" does not have exactly the parts {", ".join(FINE_PARTS)}', bad_answer=True)
    entry = {"name": name, "coarse": {"description": description, "paraphrases": paraphrases[:num_paraphrases]},
             "fine": fine}
    try:  # the corpus checker decides what counts as usable text
        return corpus_from_dict({"format": FORMAT, "classes": [entry]}, "answer", strict=False).classes[0]
    except DataError as error:
        raise _Passing(error.problem, bad_answer=True) from None


def _pause(seconds: float) -> None:
    time.sleep(seconds)


def ask_class(name: str, *, endpoint: Endpoint, model: str, prompt: str, num_paraphrases: int,
              temperature: float = 0.7, retries: int = 3, backoff: float = 1.0,
              sleep: Callable[[float], None] | None = None,
              progress: Callable[[str], None] = lambda line: None) -> ClassText:
    """The text of one class, trying up to `retries` more times after a passing failure."""
    for attempt in range(retries + 1):
        try:
            return parse_answer(chat(endpoint, model, prompt, temperature), name, num_paraphrases)
        except _Passing as failure:
            if attempt == retries:
                if failure.bad_answer:
                    raise CocodiffError(f"{model} at {endpoint.shown_url} gave no usable text for class {name!r} "
                                        f"in {retries + 1} attempt(s): {failure}") from None
                raise CocodiffError(f"cannot get an answer from {endpoint.shown_url} ({failure}) after "
                                    f"{retries + 1} attempt(s); check COCODIFF_LLM_BASE_URL and that "
                                    "the server is running") from None
            delay = min(max(backoff * 2 ** attempt, failure.delay), MAX_DELAY_S)
            progress(f"  {name}: {failure}; retrying in {delay:g} s")
            (sleep or _pause)(delay)
    raise AssertionError("unreachable")


def generate_corpus(class_names: Sequence[str], *, model: str, endpoint: Endpoint,
                    out: str | os.PathLike | None = None, num_paraphrases: int = MIN_PARAPHRASES,
                    temperature: float = 0.7, retries: int = 3,
                    backoff: float = 1.0, dataset: str = "", template_path: str | os.PathLike = PROMPT_FILE,
                    sleep: Callable[[float], None] | None = None,
                    progress: Callable[[str], None] = lambda line: None) -> Corpus:
    """Text for every class; with `out`, saved after each class and resumed from on a rerun."""
    check_request(model, endpoint, num_paraphrases)
    template = load_template(template_path)
    generator = {"model": model, "prompt": Path(template_path).name, "endpoint": endpoint.public_url,
                 "date": datetime.date.today().isoformat(), "temperature": temperature}
    done = _resume(out, model) if out is not None else {}
    if done:
        progress(f"resuming {out}: {sum(n in done for n in class_names)} of {len(class_names)} classes already there")
    wanted = set(class_names)
    extra = [text for name, text in done.items() if name not in wanted]  # kept: work is never dropped

    def current() -> Corpus:
        ordered = [done[n] for n in class_names if n in done] + extra
        return Corpus(tuple(ordered), dataset, dict(generator), str(out or ""))

    todo = [n for n in class_names if n not in done]
    for number, name in enumerate(todo, start=1):
        progress(f"[{number}/{len(todo)}] {name}")
        try:
            done[name] = ask_class(name, endpoint=endpoint, model=model, num_paraphrases=num_paraphrases,
                                   prompt=fill_prompt(template, name, num_paraphrases), temperature=temperature,
                                   retries=retries, backoff=backoff, sleep=sleep, progress=progress)
        except CocodiffError as error:
            if out is None or not done:
                raise
            saved = sum(n in done for n in class_names)
            raise CocodiffError(f"{error} ({saved} of {len(class_names)} classes are saved in {out}; "
                                "rerun the same command to carry on)") from None
        if out is not None:
            write_corpus(out, current())
    return current()


def check_request(model: str, endpoint: Endpoint, num_paraphrases: int) -> None:
    """Refuse, before any request, what could only fail or write an unusable corpus."""
    if not model:
        raise CocodiffError("no model given: pass --model or set COCODIFF_LLM_MODEL")
    if num_paraphrases < MIN_PARAPHRASES:
        raise CocodiffError(f"ask for at least {MIN_PARAPHRASES} paraphrases (corpus files need them)")
    if urllib.parse.urlsplit(endpoint.base_url).scheme not in ("http", "https"):
        raise CocodiffError(f"endpoint {endpoint.public_url!r} is not an http(s) URL (see COCODIFF_LLM_BASE_URL)")


def _resume(out: str | os.PathLike, model: str) -> dict[str, ClassText]:
    """The classes an earlier run already wrote to `out` (none if it does not exist yet)."""
    if not Path(out).exists():
        return {}
    earlier = load_corpus(out)
    if earlier.generator.get("model") != model:
        raise CocodiffError(f"{out} was written by model {earlier.generator.get('model')!r}, not {model!r}: "
                            "use the same --model to carry on, or another --out")
    return {c.name: c for c in earlier.classes}


def write_corpus(path: str | os.PathLike, corpus: Corpus) -> None:
    atomic_write_text(path, json.dumps(corpus_to_dict(corpus), indent=2, ensure_ascii=False) + "\n")


def prompt_path_for(out: str | os.PathLike) -> Path:
    """Where the prompt as sent is recorded: `<out stem>.prompt.txt` beside the corpus."""
    out = Path(out)
    return out.with_name(f"{out.stem}.prompt.txt")


def describe(meta: Mapping[str, Any]) -> str:
    """A short account of a generator record, for summaries."""
    return ", ".join(f"{key} {meta[key]}" for key in ("model", "endpoint", "date") if meta.get(key))
