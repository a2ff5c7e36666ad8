"""The engine with a fake NMT, and the LLM backend/post-editor against a local stub server."""

from __future__ import annotations

import logging

import pytest

from shared.languages import resolve_language
from shared.translation.backends.base import Translator, run_batched
from shared.translation.backends.llm import (
    LineMismatch,
    LlmClient,
    LlmError,
    LlmSettings,
    LlmTranslator,
    parse_numbered,
)
from shared.translation.engine import translate_sentences
from shared.translation.glossary import Entry, Glossary
from shared.translation.sentences import SourceSentence
from tests.integration.llm_stub import StubServer

L = resolve_language
KEY = "sk-test-SECRET-1234567890"


class FakeNmt(Translator):
    """Reverses word order and tags the target: placeholders move, as with a real model."""

    engine = "fake"

    def __init__(self, name="nllb", drop_placeholders=False):
        self.name, self.model_id, self.calls, self.drop = name, f"fake-{name}", [], drop_placeholders

    def translate(self, texts, src, tgt):
        self.calls.append((list(texts), src.code, tgt.code))
        out = []
        for t in texts:
            words = t.split()[::-1]
            if self.drop:
                words = [w for w in words if not w.startswith("<ID")]
            out.append(f"[{tgt.code}] " + " ".join(words))
        return out


def _sentences(*texts):
    return [SourceSentence(i, t, float(i), float(i) + 0.9, [i], "hi") for i, t in enumerate(texts)]


def test_run_batched_sorts_by_length_and_restores_order():
    seen = []
    out = run_batched(["a", "ccc", "bb", "dddd"], 2, lambda b: seen.append(b) or [x.upper() for x in b])
    assert seen == [["dddd", "ccc"], ["bb", "a"]]
    assert out == ["A", "CCC", "BB", "DDDD"]


def test_hinglish_routing_kept_english_and_glossary():
    nmt = {}

    def get(backend, src, tgt):
        return nmt.setdefault((backend, src.code), FakeNmt(backend))

    glossary = Glossary([Entry("Raju", "राजू", None)], L("en"))
    result = translate_sentences(
        _sentences("राजू घर गया।", "I am going to the office now", "Raju kahan hai yaar"),
        L("hi"), L("en"), "auto", Glossary([Entry("Raju", "Raju", None), Entry("राजू", "Raju", None)], L("en")), get)
    assert glossary  # (a second glossary shape, unused)
    s = result.sentences
    assert [x["source_language"] for x in s] == ["hin_Deva", "eng_Latn", "hin_Latn"]
    assert [x["kept"] for x in s] == [False, True, False]
    assert s[1]["text"] == "I am going to the office now" and s[1]["method"] == "kept"
    assert s[0]["method"] == "indictrans2" and s[0]["text"].startswith("[eng_Latn]")
    assert "Raju" in s[0]["text"] and "Raju" in s[2]["text"]  # protected through the reversal
    # romanised Hindi went to the Hindi route, with the term as a placeholder
    (texts, src, tgt), = nmt[("indictrans2", "hin_Deva")].calls
    assert texts == ["<ID101> घर गया।", "<ID101> kahan hai yaar"] and (src, tgt) == ("hin_Deva", "eng_Latn")
    assert result.methods == {"indictrans2": 2, "kept": 1}
    assert (result.backend, result.model) == ("indictrans2", "fake-indictrans2")
    assert [x["words"] for x in s] == [[0], [1], [2]]


def test_lost_glossary_term_is_retranslated_inline(caplog):
    translator = FakeNmt("nllb", drop_placeholders=True)
    glossary = Glossary([Entry("Gabbar", "Gabbarji", None)], L("fr"))
    with caplog.at_level(logging.WARNING):
        result = translate_sentences(_sentences("Gabbar aaya hai"), L("hi"), L("fr"), "auto", glossary, lambda *a: translator)
    assert result.sentences[0]["text"] == "[fra_Latn] hai aaya Gabbarji"
    assert translator.calls[1][0] == ["Gabbarji aaya hai"]  # the second pass had the target term inline
    assert result.lost_terms == 0


# ---- LLM ---------------------------------------------------------------------------------------
def _settings(url, **kw):
    return LlmSettings(base_url=url, model="stub-model", api_key=KEY, **{"timeout": 2.0, "retries": 1, **kw})


def test_parse_numbered_is_strict():
    assert parse_numbered("```\n1. a\n2) b\n```", 2) == ["a", "b"]
    for bad in ("1. a", "1. a\n2. b\n3. c", "1. a\n1. b", "1. a\nb", "2. a\n3. b", "1. a\n2. "):
        with pytest.raises(LineMismatch):
            parse_numbered(bad, 2)


def test_llm_translates_one_line_per_line_with_the_key_in_the_header_only():
    with StubServer() as stub:
        out = LlmTranslator(_settings(stub.url), ["Raju -> Raju"]).translate(["namaste", "kaise ho"], L("hi"), L("en"))
    assert out == ["namaste [stub-model]", "kaise ho [stub-model]"]
    request = stub.requests[0]
    assert request["path"] == "/v1/chat/completions"
    assert request["headers"]["Authorization"] == f"Bearer {KEY}"
    assert KEY not in str(request["body"])
    assert "Raju -> Raju" in request["body"]["messages"][0]["content"]
    assert KEY not in repr(_settings(stub.url))


@pytest.mark.parametrize("bad", ["drop", "extra", "prose"])
def test_llm_retries_a_bad_reply(bad, caplog):
    with StubServer([bad]) as stub, caplog.at_level(logging.WARNING):
        out = LlmTranslator(_settings(stub.url)).translate_or_none(["a", "b", "c"], L("hi"), L("en"))
    assert out == ["a [stub-model]", "b [stub-model]", "c [stub-model]"]
    assert len(stub.requests) == 2
    assert "attempt 1/2 failed" in caplog.text


def test_llm_falls_back_to_nmt_and_never_logs_the_key(caplog):
    nmt = FakeNmt("nllb")

    def get(backend, src, tgt):
        return LlmTranslator(_settings(stub.url)) if backend == "llm" else nmt

    with StubServer(["error", "drop"]) as stub, caplog.at_level(logging.DEBUG):
        result = translate_sentences(_sentences("ek", "do"), L("hi"), L("fr"), "llm", Glossary([], L("fr")), get)
    assert [s["method"] for s in result.sentences] == ["nllb", "nllb"]
    assert result.sentences[0]["text"] == "[fra_Latn] ek"
    assert "HTTP 500" in caplog.text and "***" in caplog.text
    assert KEY not in caplog.text
    assert KEY not in str(result.sentences)


def test_llm_timeout_is_an_error_then_a_fallback(caplog):
    with StubServer(["slow", "slow"], slow_seconds=1.5) as stub, caplog.at_level(logging.WARNING):
        client = LlmClient(_settings(stub.url, timeout=0.5))
        with pytest.raises(LlmError, match="did not answer within 0.5 s"):
            client.chat([{"role": "user", "content": "1. a"}])
        out = LlmTranslator(_settings(stub.url, timeout=0.5, retries=0)).translate_or_none(["a"], L("hi"), L("en"))
    assert out == [None]


def test_postedit_edits_keeps_nmt_on_failure_and_protects_glossary(caplog):
    nmt = FakeNmt("indictrans2")
    glossary = Glossary([Entry("Raju", "Raju", None)], L("en"))
    texts = [f"पंक्ति {i} Raju" if i == 3 else f"पंक्ति {i}" for i in range(6)]
    with StubServer(["ok", "drop", "drop"], glossary_terms=("Raju",)) as stub, caplog.at_level(logging.WARNING):
        client = LlmClient(_settings(stub.url, chunk_lines=3, context_lines=1))
        result = translate_sentences(_sentences(*texts), L("hi"), L("en"), "auto", glossary, lambda *a: nmt, client)
    methods = [s["method"] for s in result.sentences]
    assert methods == ["llm-postedit"] * 3 + ["indictrans2"] * 3  # chunk 2: both attempts dropped a line
    assert result.sentences[0]["text"].endswith("(edited)")
    assert result.postedit_fallbacks == 3
    assert "kept the machine translation of lines 4-6" in caplog.text
    first = stub.requests[0]["body"]["messages"][-1]["content"]
    assert "Context after" in first and "Raju -> Raju" in stub.requests[0]["body"]["messages"][0]["content"]
    second = stub.requests[1]["body"]["messages"][-1]["content"]
    assert "Context before" in second


def test_postedit_line_that_drops_a_glossary_term_keeps_nmt():
    nmt = FakeNmt("indictrans2")
    glossary = Glossary([Entry("Raju", "Raju", None)], L("en"))
    with StubServer(["drop-term"], glossary_terms=("Raju",)) as stub:
        client = LlmClient(_settings(stub.url))
        result = translate_sentences(_sentences("Raju aaya hai", "wo gaya hai"), L("hi"), L("en"), "auto", glossary,
                                     lambda *a: nmt, client)
    assert [s["method"] for s in result.sentences] == ["indictrans2", "llm-postedit"]
    assert "Raju" in result.sentences[0]["text"]
