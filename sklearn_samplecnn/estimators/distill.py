"""DistilledSampleCNN: a SampleCNN student trained to reproduce a teacher on unlabelled audio.

Knowledge distillation without labels: every clip is cut into windows of the
student's input length, a teacher (musicnn's MSD tagger by default, or any
fitted feature transformer) turns each window into a target vector once, and
the student learns to reproduce it: the teacher's tag probabilities as soft
targets of the student's own output layer (binary cross-entropy), and the
teacher's embedding (musicnn: the back end's max- and mean-pooled mid-level
features, 1,506 values) through a linear projection of the student's hidden
layers, each max-pooled over time (mean squared error on standardised
targets). So the features :class:`~sklearn_samplecnn.MultiScaleFeatureTransformer`
takes from the student (every hidden layer, max over time) are trained to hold
what the teacher hears.

The teacher's outputs are computed once per window and kept in a feature
store (``feature_store``: one entry per clip, in the format of
:class:`~sklearn_samplecnn.features.FeatureCache`), so training never runs the
teacher and a resumed or repeated fit reads them back.
"""

from __future__ import annotations

import numbers
import os
import warnings

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted
from torch import nn

from .._compat import HasMethods, Interval, StrOptions
from .._fileio import digest
from .._progress import progress as progress_bar
from ..augment import resolve_augment
from ..exceptions import AudioLoadError
from ..nn import SampleCNN, check_segment_model
from ..pretrained import TAGGER
from ..segments import segment_starts, take_segment
from ._base import _SampleCNNNet
from .contrastive import _Unavailable
from .data import SegmentDataset

__all__ = ["DistilledSampleCNN", "TeacherWindows"]

# windows handed to the teacher per transform call (its set-up is paid once per call)
_TEACHER_BATCH = 64
# teacher parameters that change how it runs, not what it outputs
_RUNTIME = {"n_jobs", "verbose", "device", "threads", "cache_dir", "cache_key", "dask_client",
            "shard_size", "batch_size", "compile", "on_error"}


def default_teacher(name: str):
    """The musicnn teacher by name: per window, its 50 tag probabilities then the back
    end's max- and mean-pooled mid-level features (753 + 753)."""
    from ..features.musicnn import MusicnnTransformer

    return MusicnnTransformer(name, layers=("taggram", "max_pool", "mean_pool"),
                              pooling=("max", "mean"), batch_size=16)


def teacher_identity(teacher) -> str:
    """What the teacher's outputs depend on: its class, its output-changing parameters and
    its models' weights (for the feature store's token)."""
    params = {k: v for k, v in teacher.get_params(deep=False).items() if k not in _RUNTIME}
    parts = [type(teacher).__qualname__, repr(sorted(params.items(), key=lambda kv: kv[0]))]
    parts += [getattr(ext, "fingerprint", "") for ext in getattr(teacher, "extractors_", [])]
    names = getattr(teacher, "feature_names_out_", None)
    if names is not None:
        parts.append("\n".join(map(str, names)))
    return digest(*parts)


class TeacherWindows(SegmentDataset):
    """Windows of clips with the teacher's output for each window as the target.

    Windows are :class:`SegmentDataset`'s fixed segments (``hop_length`` apart,
    the tail dropped); ``targets[i]`` holds one row per window of clip ``i``, in
    order (``None`` for a clip left out: it gets no windows). Item ``k`` is
    ``({"x": window, "w": 1.0, "failed": ..., "clip": i, "error": ""}, target row)``.
    """

    def __init__(self, clips, targets, segment_length: int, *, hop_length=None, short="pad",
                 on_error="raise") -> None:
        super().__init__(clips, None, segment_length, mode="fixed", hop_length=hop_length,
                         tail="drop", short=short, on_error=on_error)
        keep = np.array([targets[i] is not None for i in self.clip_index], dtype=bool)
        self.clip_index, self.starts = self.clip_index[keep], self.starts[keep]
        rows = [t for t in targets if t is not None]
        width = rows[0].shape[1] if rows else 0
        self.targets = np.concatenate(rows).astype(np.float32) if rows \
            else np.zeros((0, width), np.float32)
        if len(self.targets) != len(self.starts):
            raise ValueError(f"the teacher gave {len(self.targets)} target rows for "
                             f"{len(self.starts)} windows.")

    def __getitem__(self, k: int):
        item, _ = super().__getitem__(k)
        return item, torch.from_numpy(self.targets[k])

    def subset(self, clip_ids):
        clip_ids = np.asarray(clip_ids, dtype=np.int64)
        member = np.zeros(len(self.clips), dtype=bool)
        member[clip_ids] = True
        out = super().subset(clip_ids)
        out.targets = self.targets[member[self.clip_index]]
        return out


class _EmbeddingHead(nn.Module):
    """Standardise the student's pooled hidden layers (no learned scale) and map them
    linearly to the teacher's embedding."""

    def __init__(self, n_in: int, n_out: int) -> None:
        super().__init__()
        self.norm = nn.BatchNorm1d(n_in, affine=False)
        self.linear = nn.Linear(n_in, n_out)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.linear(self.norm(h))


class DistilledSampleCNN(_SampleCNNNet):
    """A SampleCNN student that learns to reproduce a teacher on unlabelled audio.

    ``fit(X)`` cuts every clip into windows of the student's input length
    (``hop_length`` apart), asks the teacher for each window's outputs once
    (kept in ``feature_store``), then trains the student on them: the
    teacher's tag probabilities are soft targets of the student's output layer,
    and the teacher's other outputs (its embedding) are predicted by a linear
    head on the student's hidden layers, each max-pooled over time. After
    ``fit`` the student is a plain :class:`~sklearn_samplecnn.nn.SampleCNN`
    (``module_``): ``save_pretrained`` writes it as a tagger with the
    teacher's tags (or a bare encoder when the teacher has none), and
    :class:`~sklearn_samplecnn.MultiScaleFeatureTransformer` takes it as an
    extractor.

    Parameters
    ----------
    teacher : str or transformer, default="MSD_musicnn"
        The name of a shipped musicnn model (its tag probabilities then its
        pooled mid-level features, per window), or any sklearn transformer,
        fitted or not, whose ``transform`` takes a list of 1-D waveforms at
        ``sr`` and gives one row per waveform (a fitted
        :class:`MultiScaleFeatureTransformer`, a :class:`MusicnnTransformer`
        with other layers, :class:`MFCCStatsTransformer`, a wrapper of your
        own model). A teacher with models (``extractors_``) must run at ``sr``.
    teacher_crop : "auto", int or None, default="auto"
        Samples at the centre of each window given to the teacher, so its
        view and the student's are aligned: ``"auto"`` is one input of a
        teacher with one model (musicnn: one 3 s patch, 47,616 samples, in the
        middle of the student's 59,049), else the whole window; ``None`` the
        whole window.
    soft_targets : "auto", int or None, default="auto"
        Which teacher columns are tag probabilities (soft targets of the
        student's outputs): ``"auto"`` takes those named ``*__taggram__*``
        (musicnn's tags), an int the first that many columns, ``None`` none
        (the student's output layer is then not trained).
    tag_weight, embedding_weight : float, default=1.0
        Weights of the two losses: binary cross-entropy against the teacher's
        probabilities (mean over tags) and mean squared error against the
        teacher's standardised embedding (mean over its columns).
    feature_store : str, os.PathLike or None, default=None
        Folder keeping the teacher's outputs per clip and window settings
        (computed once; later fits, resumed runs and grid points read them).
        ``None`` keeps them in memory for this fit only.
    module : type, default=SampleCNN
        The student; ``module__sizes`` / ``module__channels`` route its
        architecture (the paper's 3^9 at 16 kHz: ``module__sizes="3^9"``,
        ``sr=16000``).
    sr : int, default=16000
        The student's rate (musicnn's).
    hop_length : int or None, default=None
        Samples between window starts; ``None``: non-overlapping windows.
    short : {"pad", "repeat", "error"}, default="pad"
        A clip shorter than one window.
    optimizer : default=torch.optim.AdamW
    lr : float, default=1e-3
    optimizer__weight_decay : float
        Route it as usual (AdamW's default 1e-2 applies).
    schedule : {"paper"} or None, default=None
        No learning-rate schedule by default; ``"paper"`` watches the
        validation loss.
    max_epochs : int, default=20
        Each epoch sees every training window once.
    batch_size : int, default=16
        Windows per step.
    train_split : float, callable or None, default=0.1
        Fraction of clips held out for the validation loss.
    augment : None, "default" or callable, default=None
        Applied to the student's windows only (the teacher's targets are those
        of the clean windows), as in :class:`SampleCNNClassifier`.
    res_type, audio_cache, on_error, precision, checkpoint_dir, threads, \
accelerator, random_state, callbacks, device, verbose, warm_start, **kwargs
        As in :class:`SampleCNNClassifier`: resumable checkpoints, mixed
        precision, multi-process training, torch threads, files that fail
        to decode (``on_error="skip"`` leaves a clip out of training whether
        its header or its body fails, also while the teacher reads it).

    Attributes
    ----------
    module_ : SampleCNN
        The student.
    head_ : torch.nn.Module
        The embedding head (training only; not saved with the student).
    teacher_ : transformer
        The fitted teacher.
    tags_ : ndarray of str
        The teacher's tags (the student's outputs); ``"0"``... without names.
    multilabel_ : bool
        True: the student's outputs are independent tag probabilities.
    n_outputs_ : int
    soft_columns_, embedding_columns_ : ndarray of int
        The teacher's columns used as soft targets and as embedding targets
        (constant columns are left out of the embedding).
    target_mean_, target_scale_ : ndarray
        The embedding columns' mean and standard deviation over the training
        windows (the head predicts standardised values).
    n_windows_ : int
        Training windows (all clips, before the validation split).
    history_, failed_files_, interrupted_, n_features_in_
        As in :class:`SampleCNNClassifier`.

    See Also
    --------
    MusicnnTransformer : the default teacher.
    ContrastiveSampleCNN : pretraining without a teacher.

    Notes
    -----
    ``predict_proba(X)`` gives the student's clip-level tag probabilities
    (the mean of its windows' sigmoid outputs): compare them with the
    teacher's ``tag_scores(X)`` to measure agreement. docs/models.md has the
    recipe and the figures of the model distilled for the library.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_samplecnn import DistilledSampleCNN, MFCCStatsTransformer
    >>> X = np.random.default_rng(0).normal(size=(8, 400)).astype(np.float32) * 0.1
    >>> teacher = MFCCStatsTransformer(sr=8000, n_mfcc=4, n_mels=8, n_fft=64, hop_length=32)
    >>> est = DistilledSampleCNN(teacher, module__sizes="3-3-3-3", module__channels=[4] * 5,
    ...                          sr=8000, max_epochs=2, train_split=None, verbose=0,
    ...                          random_state=0).fit(X)
    >>> est.module_.input_length, len(est.history_), est.embedding_columns_.shape
    (81, 2, (12,))
    """

    _parameter_constraints = {
        **{k: v for k, v in _SampleCNNNet._parameter_constraints.items()
           if k not in ("segment_mode", "tail", "aggregate")},
        "teacher": [str, HasMethods(["fit", "transform"])],
        "teacher_crop": [StrOptions({"auto"}), Interval(numbers.Integral, 1, None,
                                                        closed="left"), None],
        "soft_targets": [StrOptions({"auto"}), Interval(numbers.Integral, 0, None,
                                                        closed="left"), None],
        "tag_weight": [Interval(numbers.Real, 0, None, closed="left")],
        "embedding_weight": [Interval(numbers.Real, 0, None, closed="left")],
        "feature_store": [str, os.PathLike, None],
    }

    predict = _Unavailable("the student predicts the teacher's tag probabilities: use "
                           "predict_proba, or save it and load it as a SampleCNNTagger")

    def __init__(
        self,
        teacher="MSD_musicnn",
        *,
        module=SampleCNN,
        criterion=nn.BCEWithLogitsLoss,
        teacher_crop="auto",
        soft_targets="auto",
        tag_weight: float = 1.0,
        embedding_weight: float = 1.0,
        feature_store=None,
        sr: int = 16000,
        schedule: str | None = None,
        optimizer=torch.optim.AdamW,
        lr: float = 1e-3,
        max_epochs: int = 20,
        batch_size: int = 16,
        **kwargs,
    ) -> None:
        given = [k for k in ("segment_mode", "tail", "aggregate") if k in kwargs]
        if given:
            raise TypeError(f"{type(self).__name__} got an unexpected keyword argument "
                            f"{given[0]!r}: it trains on fixed windows with the teacher's "
                            "outputs.")
        super().__init__(module, criterion=criterion, sr=sr, schedule=schedule,
                         optimizer=optimizer, lr=lr, max_epochs=max_epochs,
                         batch_size=batch_size, **kwargs)
        self.teacher = teacher
        self.teacher_crop = teacher_crop
        self.soft_targets = soft_targets
        self.tag_weight = tag_weight
        self.embedding_weight = embedding_weight
        self.feature_store = feature_store

    _segment_params = ("hop_length",)  # fixed windows; the tail dropped, outputs averaged
    # the segment settings the inherited prediction path reads
    tail = "drop"
    aggregate = "mean"
    segment_mode = "fixed"
    _pretrained_task = TAGGER

    def _pretrained_outputs(self):
        notes = {"distilled_from": repr(self.teacher_)}
        if len(self.soft_columns_) == 0:  # no tags learnt: an encoder for features
            return None, [], None, notes
        return TAGGER, list(self.tags_), True, notes

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = False
        return tags

    # -- the teacher ------------------------------------------------------------------
    def _window_length(self) -> int:
        """The student's input length, from its (routed) architecture."""
        kwargs = {**self.get_params_for("module"), "n_outputs": 1}
        return int(self.initialized_instance(self.module, kwargs).input_length)

    def _resolve_teacher(self, crop_example: np.ndarray):
        teacher = default_teacher(self.teacher) if isinstance(self.teacher, str) \
            else self.teacher
        if not (hasattr(teacher, "transform") and hasattr(teacher, "fit")):
            raise TypeError(f"teacher must be a shipped model's name or a transformer with "
                            f"fit and transform, got {type(teacher).__name__}.")
        try:
            check_is_fitted(teacher)
        except NotFittedError:
            # two lengths: a list of waveforms, so no fixed input width is recorded
            teacher = clone(teacher).fit([crop_example, crop_example[:-1]])
        for ext in getattr(teacher, "extractors_", []):
            if int(ext.sr) != int(self.sr):
                raise ValueError(f"the teacher's model {ext.name} runs at {ext.sr} Hz but the "
                                 f"student at sr={self.sr}; give the student sr={ext.sr}.")
        return teacher

    def _crop(self, teacher, length: int) -> tuple[int, int]:
        """(offset, length) of the teacher's view inside a student window."""
        crop = self.teacher_crop
        if crop == "auto":
            exts = getattr(teacher, "extractors_", [])
            crop = exts[0].input_length - 2 * exts[0].edge_pad if len(exts) == 1 else None
        crop = length if crop is None else min(int(crop), length)
        return (length - crop) // 2, crop

    def _teacher_targets(self, clips, length: int) -> tuple[list, object]:
        """The teacher's rows for every window of every clip (``None`` for a clip that
        failed with ``on_error="skip"``), read from or written to the feature store."""
        from ..features.cache import FeatureCache, clip_key

        starts = [segment_starts(int(n), length, hop_length=self.hop_length, tail="drop",
                                 short=self.short) for n in clips.lengths()]
        example = np.zeros(length, dtype=np.float32)
        teacher = self._resolve_teacher(example)
        offset, crop = self._crop(teacher, length)
        width = None
        store = FeatureCache(self.feature_store) if self.feature_store is not None else None
        token = digest(teacher_identity(teacher), str(self.sr), str(length),
                       str(self.hop_length), self.short, str(offset), str(crop),
                       self.res_type)[:24]
        progress = progress_bar(len(clips), "teacher") if self.verbose else None
        targets: list = [None] * len(clips)
        pending: list = []  # (clip, views) waiting for one teacher call over many windows

        def flush():
            nonlocal width
            if not pending:
                return
            rows = np.asarray(teacher.transform([v for _, views in pending for v in views]),
                              dtype=np.float32)
            width = rows.shape[1]
            at = 0
            for i, views in pending:
                targets[i] = rows[at:at + len(views)]
                at += len(views)
                if store is not None:
                    store.update(keys[i], {token: targets[i].ravel()})
                if progress is not None:
                    progress.update(1)
            pending.clear()

        keys = [clip_key(clips, i) if store is not None else None for i in range(len(clips))]
        try:
            for i in range(len(clips)):
                if store is not None:
                    flat = store.read(keys[i]).get(token)
                    if flat is not None and flat.size and flat.size % len(starts[i]) == 0 \
                            and (width is None or flat.size == width * len(starts[i])):
                        targets[i] = flat.reshape(len(starts[i]), -1).copy()
                        width = targets[i].shape[1]
                        if progress is not None:
                            progress.update(1)
                        continue
                try:
                    y = clips.load(i)
                except AudioLoadError as exc:
                    self._fit_failed(clips.name(i), exc)  # raises under on_error="raise"
                    continue
                fill = self.short if len(y) < length else "drop"
                pending.append((i, [take_segment(y, int(s), length, fill)[offset:offset + crop]
                                    for s in starts[i]]))
                if sum(len(views) for _, views in pending) >= _TEACHER_BATCH:
                    flush()
            flush()
        finally:
            if progress is not None:
                progress.close()
        if all(t is None for t in targets):
            raise AudioLoadError(clips.name(0), "no clip could be read for the teacher")
        return targets, teacher

    def _soft_columns(self, teacher, width: int) -> np.ndarray:
        soft = self.soft_targets
        if soft == "auto":
            names = getattr(teacher, "feature_names_out_", None)
            if names is None and hasattr(teacher, "get_feature_names_out"):
                try:
                    names = teacher.get_feature_names_out()
                except (AttributeError, ValueError, TypeError):
                    names = None
            if names is None:
                return np.zeros(0, dtype=np.int64)
            return np.array([k for k, n in enumerate(names) if "__taggram__" in str(n)],
                            dtype=np.int64)
        if soft is None:
            return np.zeros(0, dtype=np.int64)
        if int(soft) > width:
            raise ValueError(f"soft_targets={soft} but the teacher gives {width} columns.")
        return np.arange(int(soft), dtype=np.int64)

    # -- skorch hooks --------------------------------------------------------------------
    def _n_outputs_unfitted(self):
        return getattr(self, "n_outputs_", None)

    def initialize_module(self):
        super().initialize_module()
        module = self.module_
        check_segment_model(module, f"module {self.module!r}:")
        n_embed = len(getattr(self, "embedding_columns_", ()))
        with torch.no_grad():
            probe = torch.zeros(2, module.input_length)
            was = module.training
            module.eval()
            _, hidden = module(probe, return_hidden=True)
            module.train(was)
        n_in = sum(int(h.shape[1]) for h in hidden.values())
        self.head_ = _EmbeddingHead(n_in, max(n_embed, 1))
        return self

    def get_dataset(self, X, y=None):
        if isinstance(X, torch.utils.data.Dataset):
            return X
        kwargs = {"hop_length": self.hop_length, "short": self.short,
                  "on_error": self.on_error, **self.get_params_for("dataset")}
        return TeacherWindows(X, self._targets, self._raw_module.input_length, **kwargs)

    def infer(self, x, **fit_params):
        """The student's logits and its embedding head's prediction for a batch."""
        if isinstance(x, dict):
            x = x["x"]
        x = x.to(self._device, non_blocking=True)
        augment = resolve_augment(self.augment)
        if augment is not None and self.module_.training:
            x = augment(x, self.sr)  # the student's view only: the targets are the clean window's
        logits, hidden = self.module_(x, return_hidden=True, **fit_params)
        pooled = torch.cat([h.amax(dim=2).float() for h in hidden.values()], dim=1)
        return logits, self.head_(pooled)

    def get_loss(self, y_pred, y_true, X=None, training=False):
        logits, embedding = y_pred
        y_true = y_true.to(logits.device, non_blocking=True).float()
        per_window = 0.0 * logits.float().sum(dim=1)  # in the graph even with no target
        soft = torch.as_tensor(self.soft_columns_, device=logits.device)
        if len(soft):
            bce = F.binary_cross_entropy_with_logits(logits.float(), y_true[:, soft],
                                                     reduction="none")
            per_window = per_window + float(self.tag_weight) * bce.mean(dim=1)
        emb = torch.as_tensor(self.embedding_columns_, device=logits.device)
        if len(emb):
            mean = torch.as_tensor(self.target_mean_, device=logits.device)
            scale = torch.as_tensor(self.target_scale_, device=logits.device)
            target = (y_true[:, emb] - mean) / scale
            mse = (embedding.float() - target).pow(2).mean(dim=1)
            per_window = per_window + float(self.embedding_weight) * mse
        w = X.get("w") if isinstance(X, dict) else None
        if w is None:
            return per_window.mean()
        w = w.to(per_window.device, non_blocking=True)
        return (per_window * w).sum() / w.sum().clamp_min(torch.finfo(torch.float32).tiny)

    def _nonlinearity(self, logits):
        return torch.sigmoid(logits.float())

    def _output_names(self):
        return self.tags_

    def _restore_outputs(self, model) -> None:
        self.tags_ = np.array(model.labels, dtype=object)
        self.multilabel_ = True

    # -- fit -----------------------------------------------------------------------------
    def fit(self, X, y=None, **fit_params):
        """Distil the teacher into the student on unlabelled clips ``X``.

        Parameters
        ----------
        X : list of str/Path, ndarray of shape (n_clips, n_samples), or list of 1-D arrays
            Audio files, or waveforms already at ``sr``.
        y : ignored
            No labels are used.

        Returns
        -------
        self : object
        """
        try:
            return super().fit(X, y, **fit_params)
        finally:
            self.__dict__.pop("_targets", None)  # the teacher's rows: training data only

    def partial_fit(self, X, y=None, classes=None, sample_weight=None, **fit_params):
        """Train ``max_epochs`` more epochs without re-initialising the student.

        Returns
        -------
        self : object
        """
        try:
            return super().partial_fit(X, y, **fit_params)
        finally:
            self.__dict__.pop("_targets", None)

    def _prepare_fit(self, X, y, sample_weight=None, *, reset: bool):
        clips, keep = self._fit_clips(X, reset=reset)
        if len(keep) < len(clips):
            clips = clips.subset(keep)
        length = self._window_length()
        targets, teacher = self._teacher_targets(clips, length)
        width = next(t.shape[1] for t in targets if t is not None)
        soft = self._soft_columns(teacher, width)
        rest = np.setdiff1d(np.arange(width), soft)
        stacked = np.concatenate([t for t in targets if t is not None])
        mean, std = stacked[:, rest].mean(axis=0), stacked[:, rest].std(axis=0)
        varied = std > 1e-6 * max(1.0, float(np.abs(mean).max(initial=0.0)))
        if not len(soft) and not varied.any():
            warnings.warn(f"the teacher's {width} outputs do not vary over the "
                          f"{len(stacked)} windows: the student has nothing to learn.",
                          UserWarning, stacklevel=3)
        if reset or not hasattr(self, "soft_columns_"):
            self.teacher_ = teacher
            self.soft_columns_ = soft
            self.embedding_columns_ = rest[varied]
            self.target_mean_ = mean[varied].astype(np.float32)
            self.target_scale_ = std[varied].astype(np.float32)
            tags = getattr(teacher, "tags_", None)
            self.tags_ = np.array(tags if tags is not None and len(tags) == len(soft)
                                  else [str(k) for k in range(max(len(soft), 1))], dtype=object)
            self.multilabel_ = True
            self.n_outputs_ = max(len(soft), 1)
        self.n_windows_ = len(stacked)
        self._targets = targets
        return clips, None, None
