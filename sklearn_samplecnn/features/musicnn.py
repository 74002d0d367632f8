"""MusicnnTransformer: musicnn's MSD- and MTT-trained taggers as clip-level features.

musicnn (:class:`~sklearn_samplecnn.nn.Musicnn`, converted from the ``musicnn``
package's TensorFlow checkpoints and shipped in the library) runs on the same
pipeline as the SampleCNN extractors: paths or waveforms, decoding workers, the
feature cache, ``on_error``, Dask, ``device`` / ``precision``. This transformer is
:class:`~sklearn_samplecnn.MultiScaleFeatureTransformer` with one musicnn model and
musicnn's defaults, plus musicnn's own habits: a taggram (tag probabilities per
3 s patch, with timestamps) and the top tags of each clip.
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np
from sklearn.utils.validation import check_is_fitted

from .._compat import fit_context
from ..audio import DEFAULT_RES_TYPE
from ..engine import FailureReport
from ..nn.musicnn import Musicnn, MusicnnVGG
from ..pretrained import PretrainedModel, load_pretrained
from .multiscale import MultiScaleFeatureTransformer

__all__ = ["MUSICNN_MODELS", "MusicnnTransformer"]

#: The musicnn models that ship with the library.
MUSICNN_MODELS = ("MSD_musicnn", "MTT_musicnn", "MSD_vgg", "MTT_vgg")


class MusicnnTransformer(MultiScaleFeatureTransformer):
    """Clip-level features from a pretrained musicnn tagger (Pons & Serra 2019).

    Each clip is read at 16 kHz and cut into musicnn's consecutive 3 s patches
    (187 log-mel frames, exactly as the original ``musicnn.extractor`` cuts
    them); the chosen layers of every patch are pooled over time, then over
    the clip's patches, as in :class:`MultiScaleFeatureTransformer`.

    Parameters
    ----------
    model : str or PretrainedModel, default="MSD_musicnn"
        ``"MSD_musicnn"`` (trained on the Million Song Dataset's Last.fm top-50
        tags; test ROC-AUC 0.880 as reported by its authors),
        ``"MTT_musicnn"`` (MagnaTagATune, 0.907), ``"MSD_vgg"``, ``"MTT_vgg"``
        (their VGG-like baselines), a ``.samplecnn`` file holding one of them,
        or a loaded one. Weights ship in the package; nothing is downloaded.
    layers : "all" or tuple of str, default=("max_pool", "mean_pool")
        musicnn's layers: ``"timbral"``, ``"temporal"`` (front end, per
        frame), ``"cnn1"``, ``"cnn2"``, ``"cnn3"`` (mid-end, per frame),
        ``"max_pool"`` and ``"mean_pool"`` (the back end's 753 channels pooled
        over each patch), ``"penultimate"`` (200 units) and ``"taggram"`` (the
        50 tag probabilities); the VGG models have ``"pool1"`` ... ``"pool5"``
        and ``"taggram"``. The default, the pooled mid-level features,
        transferred best in docs/transfer.md.
    pooling : str or (str, str), default="max+std"
        ``(pool over time within a patch, pool over the clip's patches)``, as
        in :class:`MultiScaleFeatureTransformer`; layers already pooled over
        the patch (``max_pool``, ``mean_pool``, ``penultimate``, ``taggram``)
        ignore the first. The default gives each layer's mean and standard
        deviation over the clip's patches.
    hop_length : int or None, default=None
        Samples (at 16 kHz) between patch starts; ``None``: musicnn's
        consecutive patches (47,872 samples).
    tail : {"drop", "pad", "repeat"}, default="drop"
        The part of a clip after its last whole patch; ``"drop"`` ignores it,
        as musicnn does.
    short : {"pad", "repeat"}, default="pad"
        A clip shorter than one patch (3 s): padded with zeros or repeated
        (the original fails on such clips).
    batch_size, device, precision, n_jobs, cache_dir, cache_key, res_type, \
on_error, threads, compile, verbose, dask_client, shard_size
        As in :class:`MultiScaleFeatureTransformer`.

    Attributes
    ----------
    tags_ : list of str
        The model's 50 tags, in output order.
    extractors_, n_features_out_, feature_names_out_, failed_files_, n_features_in_
        As in :class:`MultiScaleFeatureTransformer`; feature names read
        ``"musicnn__mean_pool__max-std__ch017"``.

    See Also
    --------
    MultiScaleFeatureTransformer : SampleCNN extractors, and musicnn among several models.
    sklearn_samplecnn.nn.Musicnn : the model.

    Notes
    -----
    The converted weights reproduce the original's taggram, penultimate and
    pooled features within 1e-4 of each layer's scale (``tests/test_musicnn.py``
    against outputs recorded from ``musicnn.extractor`` 0.1.0); docs/models.md
    has the figures, the provenance and the ISC licence of the weights.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_samplecnn.features import MusicnnTransformer
    >>> X = np.random.default_rng(0).uniform(-0.3, 0.3, size=(2, 16000 * 4)).astype(np.float32)
    >>> feats = MusicnnTransformer().fit(X)
    >>> feats.transform(X).shape  # (max_pool + mean_pool) x (mean, std)
    (2, 3012)
    >>> len(feats.top_tags(X, top_k=3)[0])
    3
    """

    _parameter_constraints: dict = {
        **{k: v for k, v in MultiScaleFeatureTransformer._parameter_constraints.items()
           if k not in ("extractors", "fit_extractors")},
        "model": [str, os.PathLike, PretrainedModel],
    }

    def __init__(self, model="MSD_musicnn", *, layers=("max_pool", "mean_pool"),
                 pooling="max+std", hop_length=None, tail="drop", short="pad",
                 batch_size="auto", device="cpu", precision="auto", n_jobs=None,
                 cache_dir=None, cache_key="stat", res_type=DEFAULT_RES_TYPE, on_error="raise",
                 threads=None, compile=False, verbose=0, dask_client="auto", shard_size=256):
        self.model = model
        self.layers = layers
        self.pooling = pooling
        self.hop_length = hop_length
        self.tail = tail
        self.short = short
        self.batch_size = batch_size
        self.device = device
        self.precision = precision
        self.n_jobs = n_jobs
        self.cache_dir = cache_dir
        self.cache_key = cache_key
        self.res_type = res_type
        self.on_error = on_error
        self.threads = threads
        self.compile = compile
        self.verbose = verbose
        self.dask_client = dask_client
        self.shard_size = shard_size

    @fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Load the musicnn model and record the output size (no training).

        Parameters
        ----------
        X : list of paths or ndarray of shape (n_clips, n_samples)
            Only used to validate input.
        y : None
            Ignored.

        Returns
        -------
        self : object
            The fitted transformer.
        """
        model = self.model
        if not isinstance(model, PretrainedModel):
            model = load_pretrained(model)
        if not isinstance(model.module, (Musicnn, MusicnnVGG)):
            raise ValueError(f"model must be a musicnn model ({', '.join(MUSICNN_MODELS)}), "
                             f"got a {type(model.module).__name__} ({model.name}).")
        self.tags_ = [str(t) for t in model.labels]
        self._as_clips(X, reset=True)
        return self._fit_extractors([(model.module, model.sample_rate, model.fingerprint)])

    def taggram(self, X):
        """Tag probabilities of every 3 s patch, with timestamps (musicnn's taggram).

        Parameters
        ----------
        X : list of paths, list of 1-D waveforms or ndarray of shape (n_clips, n_samples)

        Returns
        -------
        sklearn.utils.Bunch
            ``taggram`` (n_patches, n_tags), ``tags``, ``clip`` (clip index per
            row), ``path`` (its file, or ``X[i]``), ``start`` and ``end``
            (seconds into the clip: the samples the patch reads). Rows come clip
            by clip in time order; a clip that fails to decode raises or has no
            rows (``on_error``; listed in ``failed_files_``).
        """
        check_is_fitted(self, "extractors_")
        return self._taggram(self._as_clips(X, reset=False))

    def _taggram(self, clips):
        ext = dataclasses.replace(self.extractors_[0], layers=("taggram",),
                                  layer_tokens=("taggram",), channels=(len(self.tags_),))
        report = FailureReport(clips, self.on_error)
        out = self._segment_rows(ext, clips, report)
        self._report_no_rows(report)
        out.taggram = out.pop("features")
        out.tags = list(self.tags_)
        return out

    def tag_scores(self, X) -> np.ndarray:
        """Each clip's tag probabilities: its taggram averaged over the patches.

        Parameters
        ----------
        X : list of paths, list of 1-D waveforms or ndarray of shape (n_clips, n_samples)

        Returns
        -------
        ndarray of shape (n_clips, n_tags)
            NaN rows for clips that failed to decode (``on_error="skip"``).
        """
        check_is_fitted(self, "extractors_")
        clips = self._as_clips(X, reset=False)
        gram = self._taggram(clips)
        n, width = len(clips), len(self.tags_)
        counts = np.bincount(gram.clip, minlength=n)
        sums = np.zeros((n, width))
        np.add.at(sums, gram.clip, gram.taggram)
        scores = np.full((n, width), np.nan, dtype=np.float32)
        seen = counts > 0
        scores[seen] = sums[seen] / counts[seen, None]
        return scores

    def top_tags(self, X, top_k: int = 3) -> list:
        """The ``top_k`` most likely tags of each clip, most likely first (musicnn's
        ``top_tags``: ranked by the taggram's mean over the clip).

        Parameters
        ----------
        X : list of paths, list of 1-D waveforms or ndarray of shape (n_clips, n_samples)
        top_k : int, default=3

        Returns
        -------
        list of list of str
            ``None`` for a clip that failed to decode.
        """
        check_is_fitted(self, "extractors_")
        if isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer)) \
                or not 1 <= top_k <= len(self.tags_):
            raise ValueError(f"top_k must be in [1, {len(self.tags_)}], got {top_k!r}.")
        scores = self.tag_scores(X)
        out = []
        for row in scores:
            if np.isnan(row).any():
                out.append(None)
                continue
            best = np.argsort(-row, kind="stable")[:top_k]
            out.append([self.tags_[k] for k in best])
        return out

