"""Word timing: wav2vec2 forced alignment (WhisperX), Whisper cross-attention, VAD refinement, interpolation.

Every word of every segment leaves here with a start, an end, a score and ``timed_by``:
the aligner's times where it placed the word, else times interpolated between its timed
neighbours (digits and symbols a CTC vocabulary lacks, or a segment the aligner gave up
on). Word edges are then refined against the VAD regions: a word does not start or end
in silence.
"""

from __future__ import annotations

import bisect
import logging
from pathlib import Path

from shared.speech import audio as audio_io
from shared.speech.lazy import numpy as np
from shared.speech.stage import progress

log = logging.getLogger(__name__)

METHODS = ("auto", "wav2vec2", "whisper", "off")
WINDOW_PAD = 0.5  # seconds of audio read around a segment for the aligner


def choose_method(setting: str, aligner_cached: bool) -> str:
    """ALIGN=auto: wav2vec2 where the language's aligner is cached, else whisper."""
    setting = (setting or "auto").strip().lower()
    if setting not in METHODS:
        raise ValueError(f"ALIGN must be one of {', '.join(METHODS)}; not {setting!r}")
    if setting == "auto":
        return "wav2vec2" if aligner_cached else "whisper"
    return setting


def split_words(text: str) -> list[str]:
    return [w for w in text.strip().split() if w]


EDGE_PUNCTUATION = ".,!?;:\"'()[]{}¿¡“”‘’«»…"


def is_symbolic(word: str) -> bool:
    """A word a character aligner may not spell: digits or symbols inside it once the
    punctuation around it is gone ("7:30", "$45", "2,000", "3.5%", "COVID-19", "U.N.")."""
    core = word.strip(EDGE_PUNCTUATION)
    return any(not (c.isalpha() or c in "'’") for c in core)


# ---- interpolation and refinement (pure) -------------------------------------------------
def interpolate(words: list[dict], seg_start: float, seg_end: float) -> list[dict]:
    """``words`` with every missing start/end filled in, by character share of each gap."""
    n = len(words)
    i = 0
    while i < n:
        if words[i].get("start") is not None and words[i].get("end") is not None:
            i += 1
            continue
        j = i
        while j < n and (words[j].get("start") is None or words[j].get("end") is None):
            j += 1
        left = words[i - 1]["end"] if i > 0 else seg_start
        right = words[j]["start"] if j < n else seg_end
        if right < left:
            right = left
        weights = [max(1, len(w["word"])) for w in words[i:j]]
        total = float(sum(weights))
        t = left
        for k, weight in zip(range(i, j), weights, strict=False):
            span = (right - left) * weight / total
            words[k].update(start=round(t, 3), end=round(t + span, 3), score=0.0, timed_by="interpolated")
            t += span
        i = j
    return words


def refine(words: list[dict], regions: list[tuple[float, float]], max_shift: float = 1.0) -> list[dict]:
    """Word edges moved out of silence: a start or end outside every VAD region snaps to
    the edge of the region the word overlaps most (or the nearest within ``max_shift``)."""
    if not regions:
        return words
    starts = [r[0] for r in regions]
    for w in words:
        # -1e-9: a word of zero length inside a region (cover 0) stays where it is; with 0.0 it
        # counted as outside every region and was thrown to the nearest region edge
        best, best_cover = None, -1e-9
        lo = max(0, bisect.bisect_left(starts, w["start"]) - 1)
        for a, b in regions[lo : lo + 3]:
            cover = min(w["end"], b) - max(w["start"], a)
            if cover > best_cover:
                best, best_cover = (a, b), cover
        if best is None:
            nearest = min(regions, key=lambda r: min(abs(r[0] - w["end"]), abs(r[1] - w["start"])))
            if min(abs(nearest[0] - w["end"]), abs(nearest[1] - w["start"])) > max_shift:
                continue
            length = min(w["end"] - w["start"], nearest[1] - nearest[0])
            if nearest[0] >= w["end"]:
                w["start"], w["end"] = nearest[0], nearest[0] + length
            else:
                w["start"], w["end"] = nearest[1] - length, nearest[1]
        else:
            a, b = best
            w["start"], w["end"] = max(w["start"], a), min(w["end"], b)
        w["start"], w["end"] = round(w["start"], 3), round(max(w["end"], w["start"]), 3)
    for prev, nxt in zip(words, words[1:], strict=False):  # keep words in order after snapping
        if nxt["start"] < prev["start"]:
            nxt["start"] = prev["start"]
        nxt["end"] = max(nxt["end"], nxt["start"])
    return words


def pull_onsets(words: list[dict], regions: list[tuple[float, float]], padding: float,
                max_pull: float = 0.5) -> int:
    """The first word of each stretch of VAD speech starts where the VAD heard speech start.

    Whisper's cross-attention tends to start the first word after a pause late (it has no
    acoustic onset detector); the VAD region's start plus the VAD's own padding is where the
    detector crossed its onset threshold. A word that opens a region (no earlier word ends
    inside it) and starts later than that, by at most ``max_pull`` seconds, is moved back
    to it; its end stays. Returns how many words moved. ``words`` is in time order.
    """
    moved = 0
    k = 0
    for a, b in regions:
        while k < len(words) and words[k]["start"] < a:
            k += 1
        if k >= len(words) or words[k]["start"] >= b:
            continue
        if k > 0 and words[k - 1]["end"] > a:
            continue  # speech of an earlier word runs into this region: not an onset
        onset = round(a + padding, 3)
        w = words[k]
        if onset < w["start"] <= onset + max_pull and onset < w["end"]:
            w["start"] = onset
            moved += 1
    return moved


# ---- the aligners ---------------------------------------------------------------------------
class Wav2Vec2Aligner:
    """WhisperX's CTC forced alignment with the language's model from the cache."""

    method = "wav2vec2"

    def __init__(self, language: str, model_path: Path, backend: str, device: str = "cpu"):
        self.language = language
        self.model_path = Path(model_path)
        self.backend = backend
        self.device = device

    def load(self) -> None:
        import whisperx.alignment as wxa

        _use_local_sentence_splitter(wxa)
        if self.backend == "torchaudio":
            name = wxa.DEFAULT_ALIGN_MODELS_TORCH.get(self.language)
            if name is None:
                raise ValueError(f"no torchaudio aligner pipeline for {self.language}")
            self.model, self.metadata = wxa.load_align_model(self.language, self.device, model_name=name,
                                                             model_dir=str(self.model_path.parent), model_cache_only=True)
        else:
            self.model, self.metadata = wxa.load_align_model(self.language, self.device, model_name=str(self.model_path),
                                                             model_cache_only=True)
        self.wxa = wxa

    def words(self, audio_path: Path, seg: dict) -> list[dict]:
        """Word dicts (word, start/end/score or None) for ``seg``, in the order of its text."""
        window_start = max(0.0, seg["start"] - WINDOW_PAD)
        samples = audio_io.read_window(audio_path, window_start, seg["end"] + WINDOW_PAD)
        local = {"start": seg["start"] - window_start, "end": seg["end"] - window_start, "text": " " + seg["text"].strip()}
        result = self.wxa.align([local], self.model, self.metadata, samples, self.device, return_char_alignments=False)
        found = [w for s in result["segments"] for w in s.get("words", [])]
        wanted = split_words(seg["text"])
        words = []
        for k, text in enumerate(wanted):
            w = found[k] if k < len(found) and found[k].get("word", "").strip() == text else {}
            start, end = w.get("start"), w.get("end")
            timed = start is not None and end is not None and not (np.isnan(start) or np.isnan(end))
            words.append({"word": text, "start": round(start + window_start, 3) if timed else None,
                          "end": round(end + window_start, 3) if timed else None,
                          "score": round(float(w.get("score", 0.0) or 0.0), 3) if timed else None,
                          "timed_by": "wav2vec2" if timed else None})
        return words


def _use_local_sentence_splitter(wxa) -> None:
    """Keep whisperx.alignment offline: without NLTK's punkt data it would download it.

    We align one ASR segment at a time, so a missing splitter is replaced by one that keeps
    the segment whole (whisperx only uses it to cut segments into sentences).
    """
    original = wxa.nltk_load

    class WholeText:
        @staticmethod
        def span_tokenize(text: str):
            yield (0, len(text))

    def load(resource: str, *args, **kwargs):
        try:
            return original(resource, *args, **kwargs)
        except LookupError:
            return WholeText()

    if not getattr(wxa.nltk_load, "offline_fallback", False):
        load.offline_fallback = True  # type: ignore[attr-defined]
        wxa.nltk_load = load


class WhisperAligner:
    """The ASR model's own word timestamps: cross-attention alignment of the known text."""

    method = "whisper"

    def __init__(self, language: str, model_path: Path, device: str = "cpu", compute_type: str = "int8", threads: int = 0):
        self.language = language
        self.model_path = Path(model_path)
        self.device = "cuda" if device == "cuda" else "cpu"
        self.compute_type = compute_type
        self.threads = threads

    def load(self) -> None:
        from shared.speech.lazy import defer

        defer("av")  # faster_whisper's file decoding: we pass it samples
        from faster_whisper import WhisperModel
        from faster_whisper.tokenizer import Tokenizer

        self.model = WhisperModel(str(self.model_path), device=self.device, compute_type=self.compute_type,
                                  cpu_threads=self.threads, local_files_only=True)
        multilingual = self.model.model.is_multilingual
        self.tokenizer = Tokenizer(self.model.hf_tokenizer, multilingual, task="transcribe",
                                   language=self.language if multilingual else "en")

    def words(self, audio_path: Path, seg: dict) -> list[dict]:
        from faster_whisper.audio import pad_or_trim
        from faster_whisper.transcribe import merge_punctuations

        samples = audio_io.read_window(audio_path, seg["start"], seg["end"])
        wanted = split_words(seg["text"])
        empty = [{"word": w, "start": None, "end": None, "score": None, "timed_by": None} for w in wanted]
        if len(samples) < 400 or not wanted:
            return empty
        features = self.model.feature_extractor(samples)[..., :-1]
        num_frames = features.shape[-1]
        encoder_output = self.model.encode(pad_or_trim(features)[np.newaxis, ...])
        tokens = self.tokenizer.encode(" " + " ".join(wanted))
        alignment = self.model.find_alignment(self.tokenizer, [tokens], encoder_output, num_frames)[0]
        merge_punctuations(alignment, "\"'“¿([{-", "\"'.。,，!！?？:：”)]}、")
        aligned = [a for a in alignment if a["word"].strip()]
        timed = map_units_to_words(wanted, [(a["word"], float(a["start"]), float(a["end"]), float(a["probability"]))
                                            for a in aligned])
        if timed is None:
            log.debug("whisper alignment of %r does not spell the same text; interpolating it", seg["text"])
            return empty
        return [{"word": w, "start": round(seg["start"] + start, 3), "end": round(seg["start"] + end, 3),
                 "score": round(prob, 3), "timed_by": "whisper"} for w, (start, end, prob) in zip(wanted, timed, strict=True)]


class AsrWordTimes:
    """ALIGN=whisper without a second pass: the word times the ASR stage's decoding pass wrote
    into transcript.json (cross-attention alignment on the same encoder output). Segments
    without them (an older transcript, or a guard rewrote the text) go to ``fallback``, a
    WhisperAligner loaded only when the first such segment comes."""

    method = "whisper"

    def __init__(self, fallback: WhisperAligner | None = None):
        self.fallback = fallback
        self.fallback_loaded = False
        self.from_asr = 0  # segments timed by the ASR pass
        self.from_fallback = 0  # segments the fallback aligner timed

    def load(self) -> None:
        """Nothing to load: the times are in the transcript."""

    def words(self, audio_path: Path, seg: dict) -> list[dict]:
        wanted = split_words(seg["text"])
        given = seg.get("words") or []
        if timed_in_asr(seg):
            self.from_asr += 1
            return [{"word": w["word"], "start": w.get("start"), "end": w.get("end"), "score": w.get("score"),
                     "timed_by": "whisper" if w.get("start") is not None and w.get("end") is not None else None}
                    for w in given]
        if self.fallback is None:
            return [{"word": w, "start": None, "end": None, "score": None, "timed_by": None} for w in wanted]
        if not self.fallback_loaded:
            log.info("segment %.2f-%.2f s has no word times from ASR: loading the Whisper aligner",
                     seg["start"], seg["end"])
            self.fallback.load()
            self.fallback_loaded = True
        self.from_fallback += 1
        return self.fallback.words(audio_path, seg)


def timed_in_asr(seg: dict) -> bool:
    """True when ``seg`` carries the ASR pass's word times for exactly the words of its text."""
    given = seg.get("words") or []
    return bool(given) and [w.get("word") for w in given] == split_words(seg["text"])


def loads_model(method: str, segments: list[dict]) -> bool:
    """Whether aligning ``segments`` by ``method`` loads a model: wav2vec2 does; whisper only
    for a segment without the ASR pass's word times (:class:`AsrWordTimes`); off never."""
    if not segments or method == "off":
        return False
    return method != "whisper" or not all(timed_in_asr(seg) for seg in segments)


def map_units_to_words(wanted: list[str], units: list[tuple[str, float, float, float]]
                       ) -> list[tuple[float, float, float]] | None:
    """(start, end, probability) for each wanted word, from aligned units that spell the same text.

    The aligner's units need not split where the words do ("well-timed." may come back as
    "well" + "-timed."): both are laid on the same run of non-space characters, and a word
    takes the span from its first overlapping unit's start to its last one's end (its
    probability is the lowest among them). None when the two spell different text.
    """
    def squeeze(text: str) -> str:
        return "".join(text.split())

    if squeeze("".join(u[0] for u in units)) != squeeze("".join(wanted)):
        return None
    unit_spans, pos = [], 0
    for text, *_ in units:
        size = len(squeeze(text))
        unit_spans.append((pos, pos + size))
        pos += size
    result, pos = [], 0
    for word in wanted:
        lo, hi = pos, pos + len(squeeze(word))
        pos = hi
        hits = [u for u, (a, b) in zip(units, unit_spans, strict=True) if a < hi and b > lo]
        if not hits:
            return None
        result.append((hits[0][1], hits[-1][2], min(h[3] for h in hits)))
    return result


def align_segments(segments: list[dict], aligner, audio_path: Path, regions: list[tuple[float, float]],
                   method: str, vad_padding: float | None = None) -> tuple[list[dict], dict]:
    """Aligned copies of ``segments`` (words, align_method) and counts for the manifest.

    With ``vad_padding`` (speech.json's padding) and Whisper's timing, words that open a
    VAD region start at its onset (:func:`pull_onsets`)."""
    counts = {"words": 0, "interpolated": 0, "segments_failed": 0, "symbol_words": 0,
              "symbol_words_interpolated": 0}
    out: list[dict] = []
    for seg in progress(segments, total=len(segments), desc="align"):
        if aligner is None:
            words = [{"word": w, "start": None, "end": None, "score": None, "timed_by": None} for w in split_words(seg["text"])]
        else:
            try:
                words = aligner.words(audio_path, seg)
            except Exception as exc:  # one unalignable segment must not sink the job
                log.warning("segment %.2f-%.2f s could not be aligned (%s); its words are interpolated",
                            seg["start"], seg["end"], exc)
                counts["segments_failed"] += 1
                words = [{"word": w, "start": None, "end": None, "score": None, "timed_by": None}
                         for w in split_words(seg["text"])]
        interpolate(words, seg["start"], seg["end"])
        refine(words, regions)
        counts["words"] += len(words)
        counts["interpolated"] += sum(1 for w in words if w["timed_by"] == "interpolated")
        symbolic = [w for w in words if is_symbolic(w["word"])]
        counts["symbol_words"] += len(symbolic)
        counts["symbol_words_interpolated"] += sum(1 for w in symbolic if w["timed_by"] == "interpolated")
        new = {k: v for k, v in seg.items() if k != "words"}
        new["words"] = words
        new["align_method"] = method
        if words:
            new["start"], new["end"] = words[0]["start"], max(w["end"] for w in words)
        out.append(new)
    if method == "whisper" and vad_padding is not None and regions:
        counts["onsets_moved_to_vad"] = pull_onsets([w for seg in out for w in seg["words"]], regions, vad_padding)
        for seg in out:
            if seg["words"]:
                seg["start"] = seg["words"][0]["start"]
    if isinstance(aligner, AsrWordTimes):
        counts["segments_timed_in_asr"] = aligner.from_asr
        counts["segments_timed_by_second_pass"] = aligner.from_fallback
    return out, counts
