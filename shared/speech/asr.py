"""ASR backends behind one interface and a lookup table: faster-whisper (batched) and mlx-whisper.

Both decode the VAD stage's chunks (never a second VAD pass) and return segments with
absolute times, scores and the language. The faster-whisper backend feeds the chunks to
``BatchedInferencePipeline.transcribe`` as ``clip_timestamps`` over a compact buffer that
holds only the chunks of one group, so memory follows the group, not the file; chunks
whose decode fails the compression-ratio or log-probability thresholds are decoded again
with the fallback temperatures (the sequential decoder implements Whisper's fallback).
"""

from __future__ import annotations

import abc
import logging
import platform
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from shared.speech import audio as audio_io
from shared.speech.lazy import numpy as np
from shared.speech.stage import progress

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AsrOptions:
    """Decoding settings shared by the backends (a backend says which it cannot honour)."""

    language: str | None = None  # None: detect on the first speech chunk
    task: str = "transcribe"  # or translate (into English)
    beam_size: int = 5
    temperatures: tuple[float, ...] = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
    compression_ratio_threshold: float | None = 2.4
    log_prob_threshold: float | None = -1.0
    no_speech_threshold: float | None = 0.6
    initial_prompt: str | None = None
    hotwords: str | None = None
    batch_size: int = 4
    device: str = "cpu"
    compute_type: str = "int8"
    threads: int = 0
    word_timestamps: bool = False  # word times from the decoding pass itself (ALIGN=whisper: align needs no model)

    def __post_init__(self) -> None:
        if self.task not in ("transcribe", "translate"):
            raise ValueError(f"ASR task must be transcribe or translate, not {self.task!r}")
        if self.beam_size < 1:
            raise ValueError("ASR beam size must be at least 1")
        if not self.temperatures or any(not 0.0 <= t <= 1.0 for t in self.temperatures):
            raise ValueError(f"ASR temperatures must be values in [0, 1], not {self.temperatures}")
        if self.batch_size < 1:
            raise ValueError("BATCH_SIZE must be at least 1")


@dataclass
class AsrResult:
    segments: list[dict]
    language: str
    language_probability: float | None
    details: dict[str, Any] = field(default_factory=dict)


def wants_word_timestamps(align_setting: str | None) -> bool:
    """Whether the decoding pass should time words: for every ALIGN that may use Whisper's own
    timing (whisper, and auto, which falls back to it); wav2vec2 and off have no use for them."""
    return (align_setting or "auto").strip().lower() not in ("wav2vec2", "off")


def glossary_prompt(terms: list[str]) -> tuple[str | None, str | None]:
    """(initial prompt, hotwords) from glossary source terms; (None, None) without terms."""
    if not terms:
        return None, None
    joined = ", ".join(terms)
    return f"Glossary: {joined}.", joined


class AsrBackend(abc.ABC):
    """Decodes speech chunks of a 16 kHz mono file into timed segments."""

    name = ""
    model_backend = ""  # the registry's backend field this backend loads

    def __init__(self, model_path: Path, model_id: str, opts: AsrOptions):
        self.model_path = Path(model_path)
        self.model_id = model_id
        self.opts = opts

    def effective_settings(self) -> dict[str, Any]:
        """The settings this backend really uses (recorded in the manifest)."""
        return asdict(self.opts)

    @abc.abstractmethod
    def load(self, chunks: int = 1) -> None:
        """Load the model (a missing model fails here, before any audio is decoded), for
        decoding ``chunks`` chunks (a backend may size its workers by it)."""

    @abc.abstractmethod
    def transcribe(self, audio_path: Path, chunks: list[dict]) -> AsrResult:
        """Segments of the speech in ``chunks`` (the VAD stage's), with language and scores."""


def _segment(start: float, end: float, text: str, avg_logprob: float, no_speech_prob: float,
             compression_ratio: float, language: str, units: list[tuple[str, float, float, float]] | None = None,
             limits: tuple[float, float] | None = None) -> dict:
    """A transcript segment; with ``units`` (the decoder's timed words, absolute seconds) also its words."""
    seg = {"start": round(start, 3), "end": round(end, 3), "text": text.strip(), "language": language,
           "avg_logprob": round(float(avg_logprob), 4), "no_speech_prob": round(float(no_speech_prob), 4),
           "compression_ratio": round(float(compression_ratio), 3)}
    if units is not None:
        words = words_from_units(seg["text"], units, limits or (start, end))
        if words is not None:
            seg["words"] = words
    return seg


def words_from_units(text: str, units: list[tuple[str, float, float, float]], limits: tuple[float, float]
                     ) -> list[dict] | None:
    """The words of ``text`` timed by the decoder's units (word, start, end, probability; absolute
    seconds), clipped to ``limits`` (the VAD chunk); None when the units spell other text."""
    from shared.speech.align import map_units_to_words, split_words

    wanted = split_words(text)
    if not wanted:
        return None
    timed = map_units_to_words(wanted, [u for u in units if u[0].strip()])
    if timed is None:
        return None
    lo, hi = limits
    words = []
    for word, (start, end, prob) in zip(wanted, timed, strict=True):
        start = min(max(start, lo), hi)
        end = min(max(end, start), hi)
        words.append({"word": word, "start": round(start, 3), "end": round(end, 3),
                      "score": round(min(1.0, max(0.0, float(prob))), 3), "timed_by": "whisper"})
    return words


SENTENCE_END = (".", "?", "!", "。", "？", "！", "…")
SPLIT_GAP = 1.0  # seconds between two words that end a segment even without punctuation


def split_sentences(seg: dict) -> list[dict]:
    """A decoded stretch (up to a 30 s chunk) with timed words, as one segment per sentence:
    split after a word that ends a sentence and at pauses of SPLIT_GAP or more; each part
    keeps the stretch's scores and takes its times from its words. Unchanged without words."""
    words = seg.get("words")
    if not words:
        return [seg]
    parts: list[list[dict]] = [[]]
    for k, word in enumerate(words):
        if parts[-1] and word["start"] - words[k - 1]["end"] >= SPLIT_GAP:
            parts.append([])
        parts[-1].append(word)
        if word["word"].rstrip("\"')]}”’»").endswith(SENTENCE_END) and k + 1 < len(words):
            parts.append([])
    out = []
    for part in parts:
        if part:
            out.append({**seg, "start": part[0]["start"], "end": max(w["end"] for w in part),
                        "text": " ".join(w["word"] for w in part), "words": part})
    return out


def keep_matching_words(segments: list[dict]) -> int:
    """Drop ``words`` from segments whose text no longer matches them (a guard rewrote the
    text); the aligner then times those segments itself. Returns how many were dropped."""
    from shared.speech.align import split_words

    dropped = 0
    for seg in segments:
        if "words" in seg and [w["word"] for w in seg["words"]] != split_words(seg["text"]):
            del seg["words"]
            dropped += 1
    return dropped


def _units(words, shift: float) -> list[tuple[str, float, float, float]] | None:
    """faster-whisper/mlx words (objects or dicts) as (word, start, end, probability), shifted."""
    if words is None:
        return None
    out = []
    for w in words:
        get = w.get if isinstance(w, dict) else lambda k, w=w: getattr(w, k)
        out.append((str(get("word")), float(get("start")) + shift, float(get("end")) + shift,
                    float(get("probability"))))
    return out


class FasterWhisperBackend(AsrBackend):
    """faster-whisper's batched pipeline over the VAD chunks (CTranslate2: CUDA or CPU)."""

    name = "whisperx"
    model_backend = "faster-whisper"
    GROUP_BATCHES = 4  # chunks held in memory at once: GROUP_BATCHES * batch_size
    CPU_WORKERS = 2  # batches decoded at once on a CPU (see split)
    workers = 1  # these two are set by load (see split)
    worker_batch = 1

    def effective_settings(self) -> dict[str, Any]:
        settings = asdict(self.opts)
        settings["device"] = "cpu" if self.opts.device not in ("cuda",) else "cuda"  # CTranslate2 has no MPS
        return settings

    def split(self, chunks: int) -> tuple[int, int, int]:
        """(workers, threads each, chunks in each worker's batch) for decoding ``chunks`` chunks.

        On a CPU, with THREADS and BATCH_SIZE of at least 2 and two chunks or more, CPU_WORKERS
        batches decode at once, THREADS and BATCH_SIZE shared between them (smaller batches
        when there are too few chunks to give each worker one): as many chunks in
        flight, and as much memory, as one batch of BATCH_SIZE (CTranslate2's workers share the
        model's weights). Whisper's decoder steps are too small to keep two threads busy: two
        one-thread batches of 2 decode 10 minutes of speech in about 0.7 of the time of one
        two-thread batch of 4 (docs/benchmarks.md, "The asr stage on a CPU"). Elsewhere (CUDA, one
        thread, one chunk: a short clip keeps both threads for its encoder pass) one batch of
        BATCH_SIZE on every thread.
        """
        threads, size = self.opts.threads, self.opts.batch_size
        if self.effective_settings()["device"] != "cpu" or min(threads, size, chunks) < 2:
            return 1, threads, size
        workers = min(self.CPU_WORKERS, threads, size)
        return workers, threads // workers, min(size // workers, -(-chunks // workers))  # every worker gets a batch

    def load(self, chunks: int = 1) -> None:
        from shared.speech.lazy import defer

        defer("av")  # faster_whisper's file decoding: we pass it samples
        from faster_whisper import WhisperModel

        device = self.effective_settings()["device"]
        self.workers, threads, self.worker_batch = self.split(chunks)
        self.model = WhisperModel(str(self.model_path), device=device, compute_type=self.opts.compute_type,
                                  cpu_threads=threads, num_workers=self.workers, local_files_only=True)

    def _language(self, first_audio: np.ndarray) -> tuple[str, float | None]:
        if self.opts.language:
            return self.opts.language, 1.0
        if not self.model.model.is_multilingual:
            return "en", 1.0  # an English-only model: nothing to detect
        language, probability, _ = self.model.detect_language(audio=first_audio)
        log.info("detected language %s (probability %.2f) on the first speech", language, probability)
        return language, float(probability)

    def _decode_options(self, language: str) -> dict[str, Any]:
        o = self.opts
        return dict(language=language, task=o.task, beam_size=o.beam_size,
                    compression_ratio_threshold=o.compression_ratio_threshold,
                    log_prob_threshold=o.log_prob_threshold, no_speech_threshold=o.no_speech_threshold,
                    initial_prompt=o.initial_prompt, hotwords=o.hotwords,
                    # with word times, segments come from the words (split_sentences): text-only
                    # decoding, as faster-whisper's batched default, never drops a chunk's tail
                    without_timestamps=o.word_timestamps, word_timestamps=o.word_timestamps)

    def _failed(self, segments: list[dict]) -> bool:
        """True when a chunk's decode fails Whisper's thresholds (and is not plain silence)."""
        o = self.opts
        if not segments:
            return False
        mean_logprob = float(np.mean([s["avg_logprob"] for s in segments]))
        silent = (o.no_speech_threshold is not None and o.log_prob_threshold is not None
                  and min(s["no_speech_prob"] for s in segments) > o.no_speech_threshold
                  and mean_logprob < o.log_prob_threshold)
        if silent:
            return False
        too_repetitive = (o.compression_ratio_threshold is not None
                          and max(s["compression_ratio"] for s in segments) > o.compression_ratio_threshold)
        too_unsure = o.log_prob_threshold is not None and mean_logprob < o.log_prob_threshold
        return too_repetitive or too_unsure

    def _fallback(self, samples: np.ndarray, chunk: dict, language: str) -> list[dict]:
        """The chunk decoded again with the fallback temperatures (sequential decoder)."""
        options = self._decode_options(language)
        segments, _ = self.model.transcribe(samples, temperature=list(self.opts.temperatures[1:]), vad_filter=False,
                                            condition_on_previous_text=False, **options)
        limits = (chunk["start"], chunk["end"])
        made = [_segment(chunk["start"] + s.start, min(chunk["end"], chunk["start"] + s.end), s.text, s.avg_logprob,
                         s.no_speech_prob, s.compression_ratio, language, _units(s.words, chunk["start"]), limits)
                for s in segments]
        return [part for seg in made for part in (split_sentences(seg) if self.opts.word_timestamps else [seg])]

    def _decode(self, pieces: list[np.ndarray], spans: list[tuple[float, float]], language: str) -> list[list[dict]]:
        """Segments (absolute times) of each piece of audio, which lies at ``spans`` in the file:
        the workers' batches (see split), which decode at once."""
        size = self.worker_batch
        batches = [list(range(i, min(i + size, len(pieces)))) for i in range(0, len(pieces), size)]
        shares = [[i for batch in batches[w :: self.workers] for i in batch] for w in range(self.workers)]
        shares = [share for share in shares if share]
        per_piece: list[list[dict]] = [[] for _ in pieces]

        def decode(share: list[int]) -> None:
            for i, found in zip(share, self._decode_share([pieces[i] for i in share], [spans[i] for i in share], language),
                                strict=True):
                per_piece[i] = found

        if len(shares) == 1:
            decode(shares[0])
        else:
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(len(shares)) as pool:
                for done in [pool.submit(decode, share) for share in shares]:
                    done.result()
        return per_piece

    def _decode_share(self, pieces: list[np.ndarray], spans: list[tuple[float, float]], language: str) -> list[list[dict]]:
        """``_decode`` of one worker's pieces: one batched call over a compact buffer of them
        (a pipeline of its own, so that no state passes between calls or workers)."""
        from faster_whisper import BatchedInferencePipeline

        offsets = np.cumsum([0] + [len(p) for p in pieces[:-1]]) / audio_io.SAMPLE_RATE
        compact = np.concatenate(pieces)
        clips = [{"start": float(o), "end": float(o) + len(p) / audio_io.SAMPLE_RATE} for o, p in zip(offsets, pieces, strict=False)]
        decoded, _ = BatchedInferencePipeline(self.model).transcribe(
            compact, clip_timestamps=clips, vad_filter=False, batch_size=self.worker_batch,
            temperature=self.opts.temperatures[0], log_progress=False, **self._decode_options(language))
        per_piece: list[list[dict]] = [[] for _ in pieces]
        for seg in decoded:
            index = int(np.argmin(np.abs(offsets - seg.seek / self.model.frames_per_second)))
            (lo, hi), shift = spans[index], spans[index][0] - offsets[index]
            start = max(lo, seg.start + shift)
            end = min(hi, seg.end + shift)
            made = _segment(start, max(start, end), seg.text, seg.avg_logprob, seg.no_speech_prob,
                            seg.compression_ratio, language, _units(seg.words, shift), (lo, hi))
            per_piece[index].extend(split_sentences(made) if self.opts.word_timestamps else [made])
        return per_piece

    TAIL_SPEECH = 1.0  # seconds of VAD speech left after a chunk's last segment that call for another decode
    TAIL_ROUNDS = 2

    @classmethod
    def untranscribed_tail(cls, chunk: dict, found: list[dict]) -> float | None:
        """Where a chunk's decode stopped early: the end of its last segment when at least
        TAIL_SPEECH seconds of the chunk's VAD speech lie after it, else None.

        The batched decoder makes one pass per chunk; text after the last timestamp pair
        (the model sometimes closes early) is dropped, where Whisper's sequential decoder
        would seek to that timestamp and decode the rest. This finds that rest.
        """
        if not found:
            return None  # the decoder heard no words at all: the same audio again would say the same
        covered = max(s["end"] for s in found)
        regions = chunk.get("regions") or [{"start": chunk["start"], "end": chunk["end"]}]
        left = sum(max(0.0, r["end"] - max(r["start"], covered)) for r in regions)
        return covered if left >= cls.TAIL_SPEECH and chunk["end"] - covered >= cls.TAIL_SPEECH else None

    def transcribe(self, audio_path: Path, chunks: list[dict]) -> AsrResult:
        if not chunks:
            return AsrResult([], self.opts.language or "und", None, {"chunks": 0, "fallbacks": 0, "tails": 0})
        group_size = max(1, self.opts.batch_size * self.GROUP_BATCHES)
        groups = [chunks[i : i + group_size] for i in range(0, len(chunks), group_size)]
        language: str | None = None
        probability: float | None = None
        segments: list[dict] = []
        fallbacks = tails = 0
        from shared.progress import Progress

        meter = Progress("asr", len(chunks), "chunks")  # counted per chunk, not per group of batch_size x 4
        for group in groups:
            pieces = [audio_io.read_window(audio_path, c["start"], c["end"]) for c in group]
            if language is None:
                language, probability = self._language(pieces[0])
            per_chunk = self._decode(pieces, [(c["start"], c["end"]) for c in group], language)
            for _ in range(self.TAIL_ROUNDS):  # decode again what a chunk's pass left out at its end
                todo = [(i, at) for i, c in enumerate(group)
                        if (at := self.untranscribed_tail(c, per_chunk[i])) is not None]
                if not todo:
                    break
                tail_pieces = [audio_io.read_window(audio_path, at, group[i]["end"]) for i, at in todo]
                decoded = self._decode(tail_pieces, [(at, group[i]["end"]) for i, at in todo], language)
                progressed = False
                for (i, at), found in zip(todo, decoded, strict=True):
                    found = [s for s in found if s["text"]]
                    if found:
                        log.debug("chunk %.1f-%.1f s: decoded again from %.1f s", group[i]["start"], group[i]["end"], at)
                        per_chunk[i].extend(found)
                        tails += 1
                        progressed = True
                if not progressed:
                    break
            for index, chunk in enumerate(group):
                found = per_chunk[index]
                if len(self.opts.temperatures) > 1 and self._failed(found):
                    retried = self._fallback(pieces[index], chunk, language)
                    if retried and np.mean([s["avg_logprob"] for s in retried]) > np.mean([s["avg_logprob"] for s in found]):
                        log.info("chunk %.1f-%.1f s re-decoded with temperature fallback", chunk["start"], chunk["end"])
                        found = retried
                        fallbacks += 1
                segments.extend(s for s in found if s["text"])
                meter.update(1)
        meter.close()
        return AsrResult(segments, language or "und", probability,
                         {"chunks": len(chunks), "fallbacks": fallbacks, "tails": tails,
                          "workers": self.workers, "worker_batch": self.worker_batch})


def mlx_available() -> bool:
    try:
        import mlx_whisper  # noqa: F401
    except ImportError:
        return False
    return True


class MlxBackend(AsrBackend):
    """mlx-whisper on Apple Silicon: one call per VAD chunk, language fixed after the first."""

    name = "mlx"
    model_backend = "mlx-whisper"

    def effective_settings(self) -> dict[str, Any]:
        settings = asdict(self.opts)
        # mlx-whisper has no beam search (its decoder raises) and no hotwords: the glossary
        # goes into the initial prompt; compute type and device are MLX's own (fp16, GPU).
        settings["beam_size"] = None
        settings["hotwords"] = None
        settings["compute_type"] = "float16"
        settings["device"] = "mlx"
        settings["batch_size"] = 1
        return settings

    def load(self, chunks: int = 1) -> None:
        try:
            import mlx_whisper
        except ImportError as exc:
            raise RuntimeError("ASR_BACKEND=mlx needs mlx-whisper (macOS on Apple Silicon: ./bootstrap.sh --envs mlx)") from exc
        self.mlx_whisper = mlx_whisper

    def _call_options(self, language: str | None) -> dict[str, Any]:
        o = self.opts
        prompt = o.initial_prompt
        if o.hotwords and (not prompt or o.hotwords not in prompt):
            prompt = f"{prompt} {o.hotwords}".strip() if prompt else o.hotwords
        return dict(path_or_hf_repo=str(self.model_path), language=language, task=o.task,
                    temperature=tuple(o.temperatures), compression_ratio_threshold=o.compression_ratio_threshold,
                    logprob_threshold=o.log_prob_threshold, no_speech_threshold=o.no_speech_threshold,
                    condition_on_previous_text=False, initial_prompt=prompt, word_timestamps=o.word_timestamps,
                    verbose=None)

    def transcribe(self, audio_path: Path, chunks: list[dict]) -> AsrResult:
        language = self.opts.language
        probability: float | None = 1.0 if language else None
        segments: list[dict] = []
        for chunk in progress(chunks, total=len(chunks), desc="asr"):
            samples = audio_io.read_window(audio_path, chunk["start"], chunk["end"])
            result = self.mlx_whisper.transcribe(samples, **self._call_options(language))
            if language is None:
                language = str(result.get("language") or "und")
                log.info("detected language %s on the first speech (mlx-whisper gives no probability)", language)
            for s in result.get("segments", []):
                start = chunk["start"] + float(s["start"])
                end = min(chunk["end"], chunk["start"] + float(s["end"]))
                seg = _segment(start, max(start, end), s.get("text", ""), s.get("avg_logprob", 0.0),
                               s.get("no_speech_prob", 0.0), s.get("compression_ratio", 0.0), language,
                               _units(s.get("words") if self.opts.word_timestamps else None, chunk["start"]),
                               (chunk["start"], chunk["end"]))
                if seg["text"]:
                    segments.append(seg)
        return AsrResult(segments, language or "und", probability, {"chunks": len(chunks), "fallbacks": None})


ASR_BACKENDS: dict[str, type[AsrBackend]] = {"whisperx": FasterWhisperBackend, "mlx": MlxBackend}


def is_apple_silicon(system: str | None = None, machine: str | None = None) -> bool:
    system = (system or platform.system()).lower()
    machine = (machine or platform.machine()).lower()
    return system == "darwin" and machine in ("arm64", "aarch64")


def choose_backend(setting: str, apple_silicon: bool | None = None, have_mlx: bool | None = None) -> str:
    """The backend for ASR_BACKEND=``setting``: auto is mlx on Apple Silicon with mlx-whisper, else whisperx."""
    setting = (setting or "auto").strip().lower()
    apple_silicon = is_apple_silicon() if apple_silicon is None else apple_silicon
    if setting == "auto":
        have_mlx = mlx_available() if have_mlx is None else have_mlx
        return "mlx" if apple_silicon and have_mlx else "whisperx"
    if setting not in ASR_BACKENDS:
        raise ValueError(f"ASR_BACKEND must be auto, {', '.join(ASR_BACKENDS)}; not {setting!r}")
    if setting == "mlx" and not apple_silicon:
        raise ValueError("ASR_BACKEND=mlx runs only on macOS with Apple Silicon; use whisperx (or auto) here")
    return setting


def parse_temperatures(text: str) -> tuple[float, ...]:
    """``"0,0.2,0.4"`` -> (0.0, 0.2, 0.4); ValueError for anything else."""
    try:
        values = tuple(float(t) for t in text.replace(" ", "").split(",") if t)
    except ValueError:
        raise ValueError(f"temperatures must be comma-separated numbers, not {text!r}") from None
    if not values:
        raise ValueError("at least one temperature is needed")
    return values


def select_model(requested: str, backend: str, hw_class: str, cache: Path, root: Path,
                 language: str | None = None) -> tuple[str, Path, str]:
    """(model id, cached path, why) for ASR_MODEL=``requested`` on ``backend`` and SRC ``language`` (None: auto).

    The choice is shared.selection.choose_asr_model, the same one preflight makes: an
    explicit id must be cached (else ModelNotCached names the fix); with ASR_MODEL empty the
    hardware class's default is used, and on a CPU, when it is not cached, a cached model of
    the same backend stands in only when it can do the language (AsrModelProblem otherwise).
    """
    from shared import models
    from shared.selection import choose_asr_model

    model_id, why = choose_asr_model(requested, ASR_BACKENDS[backend].model_backend, hw_class, cache, root,
                                     language, backend)
    if why.startswith("fallback"):
        log.warning("the default ASR model is not cached; using the cached %s (%s)", model_id, why)
    return model_id, Path(models.resolve(model_id, cache, root)), why
