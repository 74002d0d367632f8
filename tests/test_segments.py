"""Segmenting clips and aggregating segment outputs."""

from __future__ import annotations

import numpy as np
import pytest

from sklearn_samplecnn import ClipTooShortError
from sklearn_samplecnn.segments import (
    aggregate_segments,
    n_segments,
    segment_signal,
    segment_starts,
)


def test_non_overlapping_drop_tail():
    y = np.arange(10, dtype=np.float32)
    seg = segment_signal(y, 3, tail="drop")  # the paper's: the last sample is never seen
    assert seg.shape == (3, 3)
    np.testing.assert_array_equal(seg[2], [6, 7, 8])


def test_the_default_covers_the_whole_clip_with_real_audio():
    y = np.arange(10, dtype=np.float32)
    seg = segment_signal(y, 3)  # tail="overlap": one more segment ending with the clip
    np.testing.assert_array_equal(seg, [[0, 1, 2], [3, 4, 5], [6, 7, 8], [7, 8, 9]])
    assert segment_starts(10, 3).tolist() == [0, 3, 6, 7]
    assert segment_starts(9, 3).tolist() == [0, 3, 6]  # nothing left over: nothing added
    assert segment_starts(10, 4, hop_length=3).tolist() == [0, 3, 6]  # 6 + 4 reaches 10
    assert segment_starts(11, 4, hop_length=3).tolist() == [0, 3, 6, 7]
    assert n_segments(10, 3) == 4 and n_segments(10, 3, tail="drop") == 3
    covered = np.zeros(1000, dtype=bool)
    for s in segment_starts(1000, 81):
        covered[s:s + 81] = True
    assert covered.all()


def test_hop_and_tails():
    y = np.arange(10, dtype=np.float32)
    assert segment_starts(10, 4, hop_length=2).tolist() == [0, 2, 4, 6]
    padded = segment_signal(y, 4, tail="pad")
    np.testing.assert_array_equal(padded[-1], [8, 9, 0, 0])
    repeated = segment_signal(y, 4, tail="repeat")
    np.testing.assert_array_equal(repeated[-1], [8, 9, 0, 1])
    assert n_segments(10, 5) == 2 and n_segments(10, 5, tail="pad") == 2


def test_short_clips_never_vanish():
    y = np.array([1.0, 2.0], dtype=np.float32)
    np.testing.assert_array_equal(segment_signal(y, 5)[0], [1, 2, 0, 0, 0])
    np.testing.assert_array_equal(segment_signal(y, 5, short="repeat")[0], [1, 2, 1, 2, 1])
    assert segment_signal(y, 5, tail="drop").shape == (1, 5)
    with pytest.raises(ClipTooShortError, match="2 samples"):
        segment_signal(y, 5, short="error")
    with pytest.raises(ClipTooShortError, match="no samples"):
        segment_signal(np.zeros(0), 5)


def test_multichannel_and_bad_params():
    y = np.zeros((2, 9), dtype=np.float32)
    assert segment_signal(y, 3).shape == (3, 2, 3)
    assert segment_signal(np.zeros((2, 10)), 3)[-1].shape == (2, 3)
    with pytest.raises(ValueError, match="tail"):
        segment_signal(y, 3, tail="wrap")
    with pytest.raises(ValueError, match="segment_length"):
        segment_signal(y, 0)
    with pytest.raises(ValueError, match="hop_length"):
        segment_signal(y, 3, hop_length=-1)


def test_aggregate_mean_and_max():
    out = np.array([[0.2, 0.8], [0.6, 0.4], [1.0, 0.0]])
    idx = np.array([0, 0, 1])
    np.testing.assert_allclose(aggregate_segments(out, idx), [[0.4, 0.6], [1.0, 0.0]])
    np.testing.assert_allclose(aggregate_segments(out, idx, how="max"), [[0.6, 0.8], [1.0, 0.0]])
    with pytest.raises(ValueError, match="at least one segment"):
        aggregate_segments(out, idx, n_clips=3)
