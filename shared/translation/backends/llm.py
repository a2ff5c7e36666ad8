"""Any OpenAI-compatible chat API (OpenAI, Ollama, vLLM, a llama.cpp server), stdlib only.

Lines go out numbered and must come back numbered, one per input line: a reply with a
missing, extra or renumbered line is rejected and asked again (``LLM_RETRIES``), and the
caller falls back to the NMT line. The API key is sent in the Authorization header only;
it is never logged, and any text that echoes it is scrubbed before it is logged.
"""

from __future__ import annotations

import json
import logging
import re
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass

from shared.languages import Language
from shared.translation.backends.base import Translator

log = logging.getLogger(__name__)

_NUMBERED = re.compile(r"^\s*(\d+)\s*[.):]\s?(.*)$")


class LlmError(RuntimeError):
    """The API could not be reached or answered badly (message scrubbed of the key)."""


class LineMismatch(LlmError):
    """A reply that is not exactly one numbered line per input line."""


@dataclass
class LlmSettings:
    base_url: str
    model: str
    api_key: str = ""
    timeout: float = 60.0  # seconds per request (LLM_TIMEOUT)
    retries: int = 2  # further attempts after a bad reply (LLM_RETRIES)
    chunk_lines: int = 20  # lines per request
    context_lines: int = 2  # neighbouring lines shown as context (LLM_CONTEXT_LINES)

    def __repr__(self) -> str:  # never show the key
        return f"LlmSettings(base_url={self.base_url!r}, model={self.model!r}, api_key={'***' if self.api_key else ''!r})"


class LlmClient:
    """POST {base_url}/chat/completions; returns the first choice's message content."""

    def __init__(self, settings: LlmSettings):
        if not settings.base_url or not settings.model:
            raise ValueError("the llm translator needs LLM_BASE_URL and LLM_MODEL (set them in .env)")
        self.settings = settings
        base = settings.base_url.rstrip("/")
        self.url = base if base.endswith("/chat/completions") else base + "/chat/completions"

    def scrub(self, text: str) -> str:
        key = self.settings.api_key
        return text.replace(key, "***") if key else text

    def chat(self, messages: list[dict]) -> str:
        body = json.dumps({"model": self.settings.model, "messages": messages, "temperature": 0}).encode("utf-8")
        headers = {"Content-Type": "application/json"}
        if self.settings.api_key:
            headers["Authorization"] = f"Bearer {self.settings.api_key}"
        request = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.settings.timeout) as response:
                data = json.loads(response.read().decode("utf-8"))
        except urllib.error.HTTPError as exc:
            detail = exc.read(500).decode("utf-8", "replace") if exc.fp else ""
            raise LlmError(self.scrub(f"{self.url} answered HTTP {exc.code}: {detail.strip()}")) from None
        except TimeoutError:  # socket.timeout is an alias of it
            raise LlmError(f"{self.url} did not answer within {self.settings.timeout:g} s (LLM_TIMEOUT)") from None
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, TimeoutError):
                raise LlmError(f"{self.url} did not answer within {self.settings.timeout:g} s (LLM_TIMEOUT)") from None
            raise LlmError(self.scrub(f"cannot reach {self.url}: {exc.reason}")) from None
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise LlmError(f"{self.url} answered with something that is not JSON: {exc}") from None
        try:
            return str(data["choices"][0]["message"]["content"])
        except (KeyError, IndexError, TypeError):
            raise LlmError(self.scrub(f"{self.url} answered without choices[0].message.content: {str(data)[:200]}")) from None


def numbered(lines: Sequence[str], start: int = 1) -> str:
    return "\n".join(f"{i}. {line}" for i, line in enumerate(lines, start))


def parse_numbered(reply: str, count: int) -> list[str]:
    """Exactly ``count`` lines numbered 1..count from a reply; LineMismatch otherwise."""
    text = reply.strip()
    text = re.sub(r"^```[a-zA-Z]*\n|\n```$", "", text).strip()
    lines = [line for line in text.splitlines() if line.strip()]
    found: dict[int, str] = {}
    for line in lines:
        match = _NUMBERED.match(line)
        if not match:
            raise LineMismatch(f"a reply line is not numbered: {line[:80]!r}")
        number = int(match.group(1))
        if number in found:
            raise LineMismatch(f"line {number} appears twice")
        found[number] = match.group(2).strip()
    if sorted(found) != list(range(1, count + 1)):
        raise LineMismatch(f"expected lines 1..{count}, got {len(found)} line(s) numbered {sorted(found)[:10]}")
    if any(not value for value in found.values()):
        raise LineMismatch("a reply line is empty")
    return [found[i] for i in range(1, count + 1)]


def ask_lines(client: LlmClient, messages: list[dict], count: int, what: str) -> list[str] | None:
    """The numbered reply lines, retrying bad replies; None (logged) when every attempt failed."""
    attempts = 1 + max(0, client.settings.retries)
    for attempt in range(1, attempts + 1):
        try:
            return parse_numbered(client.chat(messages), count)
        except LlmError as exc:
            log.warning("llm: %s: attempt %d/%d failed: %s", what, attempt, attempts, client.scrub(str(exc)))
    return None


SYSTEM_TRANSLATE = (
    "You translate film subtitles. Translate each numbered line from {src} to {tgt}. Reply with exactly "
    "{n} lines, numbered 1 to {n} like the input, one translation per line, nothing else. Keep tokens such "
    "as <ID101> unchanged. Never merge or split lines."
)


class LlmTranslator(Translator):
    """Translation by a chat model, chunk by chunk; failed chunks come back as None."""

    name = "llm"
    engine = "http"

    def __init__(self, settings: LlmSettings, glossary_lines: Sequence[str] = ()):
        self.client = LlmClient(settings)
        self.model_id = settings.model
        self.glossary_lines = list(glossary_lines)

    def translate(self, texts: Sequence[str], src: Language, tgt: Language) -> list[str]:
        results = self.translate_or_none(texts, src, tgt)
        if any(r is None for r in results):
            raise LlmError("the llm did not return one line per input line")
        return [r for r in results if r is not None]

    def translate_or_none(self, texts: Sequence[str], src: Language, tgt: Language) -> list[str | None]:
        results: list[str | None] = [None] * len(texts)
        step = max(1, self.client.settings.chunk_lines)
        for start in range(0, len(texts), step):
            chunk = list(texts[start:start + step])
            system = SYSTEM_TRANSLATE.format(src=src.name, tgt=tgt.name, n=len(chunk))
            if self.glossary_lines:
                system += " Use this glossary (source -> target):\n" + "\n".join(self.glossary_lines)
            messages = [{"role": "system", "content": system}, {"role": "user", "content": numbered(chunk)}]
            lines = ask_lines(self.client, messages, len(chunk), f"lines {start + 1}-{start + len(chunk)}")
            if lines is not None:
                results[start:start + len(chunk)] = lines
        return results
