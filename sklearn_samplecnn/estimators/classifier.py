"""SampleCNNClassifier: single-label classification (genre) on audio clips."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.base import ClassifierMixin
from sklearn.preprocessing import LabelEncoder
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import column_or_1d

from .._compat import StrOptions
from ..nn import SampleCNN
from ..pretrained import CLASSIFIER
from ._base import _check_labels, _encode_labels, _labels, _SampleCNNNet

__all__ = ["SampleCNNClassifier"]


class SampleCNNClassifier(ClassifierMixin, _SampleCNNNet):
    """SampleCNN for single-label classification (genre): softmax over classes.

    Parameters
    ----------
    module : type or nn.Module, default=SampleCNN
        The torch module; its arguments are routed as ``module__sizes``,
        ``module__channels``, ``module__dropout``... (``n_outputs`` is set
        from the number of classes).
    sr : int, default=22050
        Sample rate the model works at; files are resampled to it, arrays
        must already be at it.
    segment_mode : {"fixed", "random"}, default="fixed"
        Training segments: each clip's fixed non-overlapping segments (the
        paper) or the same number of random crops, redrawn every epoch.
    hop_length : int or None, default=None
        Samples between segment starts; ``None`` means non-overlapping.
    tail : {"overlap", "drop", "pad", "repeat"}, default="overlap"
        The samples after a clip's last whole segment (up to one segment):
        ``"overlap"`` adds one segment that ends with the clip (overlapping
        the one before), so training and prediction see the whole clip;
        ``"drop"`` ignores them, the paper's protocol (its non-overlapping
        segments); ``"pad"``/``"repeat"`` fill one more segment with zeros or
        the clip's start. See :func:`sklearn_samplecnn.segments.segment_starts`.
    short : {"pad", "repeat", "error"}, default="pad"
        What happens to a clip shorter than one segment ("error" applies to
        training; prediction pads).
    aggregate : {"mean", "max"}, default="mean"
        How segment probabilities make a clip probability.
    res_type : str, default="soxr_hq"
        Resampling filter for files (see :func:`sklearn_samplecnn.audio.resample`).
    audio_cache : {"memory"} or path or None, default=None
        Keep decoded, resampled clips in memory or as ``.npy`` files in a folder.
    on_error : {"raise", "skip"}, default="raise"
        Files that cannot be decoded, wherever it fails (header, body,
        resampling). ``"raise"``: an error naming them (every unreadable
        header at once). ``"skip"``: training leaves them out (a file whose
        body fails mid-training loses only its segments); prediction gives NaN
        probabilities and ``None`` labels for them and keeps every other row.
        Either way one warning lists them with their causes and
        ``failed_files_`` records them (:mod:`sklearn_samplecnn.engine.failures`).
    precision : {"auto", "fp32", "fp16", "bf16"}, default="auto"
        Arithmetic on CUDA: ``"auto"`` trains in bf16 autocast where the card
        supports it (fp16 with a gradient scaler otherwise) and predicts in
        fp16; CPU is always fp32. See :func:`sklearn_samplecnn.nn.resolve_precision`.
    schedule : {"paper"} or None, default="paper"
        Add :class:`PaperSchedule` (reload best weights and divide lr by 5 on a
        3-epoch validation-loss plateau; stop after 4 decreases) to the callbacks.
    augment : None, "default" or callable, default=None
        Augment training batches on the device (never validation or
        prediction batches): ``"default"`` is
        :class:`~sklearn_samplecnn.augment.AudioAugment` with its defaults
        (CLMR's chain), or pass an ``AudioAugment(...)`` or any callable
        ``f(batch, sr) -> batch`` of the same shape.
    checkpoint_dir : str, path or None, default=None
        Save a checkpoint there after every epoch (weights, optimiser, paper
        schedule, history, random generators; see
        :class:`~sklearn_samplecnn.estimators.ResumableCheckpoint`). ``fit``
        with the same data and settings resumes from it after a crash or a
        kill and ends with the weights an uninterrupted run would have.
    accelerator : accelerate.Accelerator or None, default=None
        Train data-parallel through Hugging Face accelerate (several GPUs or
        machines, started with ``accelerate launch`` or ``torchrun``): the
        accelerator places the module, applies its ``mixed_precision`` and
        ``gradient_accumulation_steps`` (``precision`` is then not used),
        shards the batches; epoch losses are averaged over processes, the
        checkpoint is written once, and ``module_`` is unwrapped after ``fit``.
    threads : int or None, default=None
        torch threads while fitting and predicting (``None``: torch's own
        setting). On a shared or small machine, 1 or 2 is often much faster.
    n_jobs : int or None, default=0
        Worker processes decoding audio while the model trains or predicts,
        as joblib counts them (``None``: 1 unless a
        ``joblib.parallel_config`` says otherwise, ``-1``: all cores); 0
        decodes in this process. The same name and meaning as on the feature
        transformers and ``--jobs`` on the command line; skorch's routed
        ``iterator_train__num_workers`` / ``iterator_valid__num_workers``
        still set one side alone.
    random_state : int, RandomState or None, default=None
        Seeds weight initialisation, shuffling, crops, dropout and the
        validation split (same seed, same weights on CPU).
    classes : array-like or None, default=None
        The labels, for a net used without ``fit`` (``initialize()`` then
        ``load_params(...)``), in the order of the saved net's outputs (its
        ``classes_``: sorted); ``fit`` takes them from ``y``. With neither
        ``classes`` nor ``y``, ``module__n_outputs=k`` makes the labels the
        class indexes ``0 ... k-1``.
    class_weight : dict, "balanced" or None, default=None
        Weights of the classes in the loss, multiplied into ``sample_weight``:
        ``"balanced"`` gives class ``c`` the weight ``n_clips / (n_classes *
        n_clips_of_c)`` as in scikit-learn. (``criterion__weight=tensor`` is
        torch's own per-class weighting, also available.)
    optimizer : default=torch.optim.SGD
        The paper's SGD with Nesterov momentum 0.9 (``optimizer__momentum``,
        ``optimizer__nesterov``; defaults for SGD only). Any torch optimiser
        works, e.g. ``torch.optim.AdamW`` with ``optimizer__weight_decay=1e-4``,
        or ``torch.optim.LBFGS`` (skorch hands it the step as its closure; not
        with fp16 loss scaling or an accelerator, which take no closure).
    lr : float, default=0.01
    max_epochs : int, default=100
    batch_size : int, default=23
        Segments per batch (the paper's MTAT setting).
    train_split : float, callable or None, default=0.1
        Fraction of clips held out for the validation loss (stratified by
        class), a skorch-style ``split(dataset, y)`` callable, or ``None``.
    callbacks, device, verbose, warm_start, **kwargs
        As in :class:`skorch.NeuralNet`. skorch callbacks work as usual,
        ``EpochScoring`` included (segment level; :func:`clip_scoring` scores
        clips).

    Attributes
    ----------
    classes_ : ndarray
        The labels, in the order of ``predict_proba``'s columns.
    module_ : torch.nn.Module
        The trained network (plain, also after training with an accelerator).
    history_ : skorch History
        Per epoch: losses, learning rate, duration, batch records.
    n_outputs_ : int
        Outputs of the network (the number of classes).
    failed_files_ : list of str
        Files the last ``fit`` left out, or the last prediction could not
        decode (``on_error="skip"``). ``skipped_files_`` is its deprecated
        name for the files ``fit`` left out.
    interrupted_ : bool
        Whether the last fit was stopped by Ctrl-C (a warning says so too,
        and the history's last epoch has ``interrupted=True``).
    n_features_in_ : int
        Only when fitted on a 2-D waveform array.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_samplecnn import SampleCNNClassifier
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(8, 81)).astype(np.float32)
    >>> y = np.array(["a", "b"] * 4)
    >>> clf = SampleCNNClassifier(module__sizes="3-3-3-3", module__channels=[4] * 5,
    ...                           max_epochs=2, train_split=None, verbose=0, random_state=0)
    >>> clf.fit(X, y).predict_proba(X).shape
    (8, 2)
    """

    _parameter_constraints = {
        **_SampleCNNNet._parameter_constraints,
        "class_weight": [dict, StrOptions({"balanced"}), None],
        "classes": ["array-like", None],
    }

    def __init__(self, module=SampleCNN, *, criterion=torch.nn.CrossEntropyLoss,
                 classes=None, class_weight=None, **kwargs):
        super().__init__(module, criterion=criterion, **kwargs)
        self.classes = classes
        self.class_weight = class_weight

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # a raw-waveform CNN trained for a few epochs on sklearn's tabular test
        # data is not expected to reach its accuracy bars
        tags.classifier_tags.poor_score = True
        return tags

    def _encode_y(self, y, *, n_clips, reset=True):
        y = column_or_1d(y, warn=True) if not isinstance(y, list) else y
        if np.ndim(y) != 1:
            raise ValueError(f"y must be 1-D (one label per clip), got shape {np.shape(y)}.")
        _check_labels(y)
        y = np.asarray(y)
        if len(y) != n_clips:
            raise ValueError(f"X has {n_clips} clips but y has {len(y)} labels.")
        check_classification_targets(y)
        if reset:
            self.classes_ = LabelEncoder().fit(y).classes_
            if len(self.classes_) < 2:
                raise ValueError(
                    f"SampleCNNClassifier needs at least 2 classes in y; got 1 class "
                    f"({self.classes_[0]!r})."
                )
            self.n_outputs_ = len(self.classes_)
        return _encode_labels(y, self.classes_)

    _pretrained_task = CLASSIFIER

    def _pretrained_outputs(self):
        return CLASSIFIER, list(self.classes_), None, {}

    def _restore_outputs(self, model) -> None:
        self.classes_ = np.asarray(model.labels, dtype=object if any(
            isinstance(v, str) for v in model.labels) else None)

    def _n_outputs_unfitted(self) -> int | None:
        if self.classes is not None:
            return len(self.classes)
        return super()._n_outputs_unfitted()

    def initialize(self):
        super().initialize()
        if not hasattr(self, "classes_"):  # initialize() without fit
            self.classes_ = np.asarray(self.classes) if self.classes is not None else \
                np.arange(self._n_outputs_unfitted())  # module__n_outputs: class indexes
            self.n_outputs_ = len(self.classes_)
        return self

    def _sample_weights(self, y_encoded, sample_weight):
        w = super()._sample_weights(y_encoded, sample_weight)
        if self.class_weight is None:
            return w
        classes = list(self.classes_)
        if isinstance(self.class_weight, dict):
            unknown = [k for k in self.class_weight if k not in classes]
            if unknown:
                raise ValueError(f"class_weight names labels that are not in y: {unknown[:10]}; "
                                 f"the classes are {classes[:20]}.")
        per_class = compute_class_weight(
            self.class_weight if self.class_weight == "balanced" else
            {classes.index(k): v for k, v in self.class_weight.items()},
            classes=np.arange(len(classes)), y=y_encoded)
        cw = per_class[y_encoded].astype(np.float32)
        return cw if w is None else w * cw

    def _nonlinearity(self, logits):
        return torch.softmax(logits.float(), dim=-1)

    def _output_names(self):
        return self.classes_

    def predict_proba(self, X) -> np.ndarray:
        proba = super().predict_proba(X)
        return proba / proba.sum(axis=1, keepdims=True)

    def predict(self, X) -> np.ndarray:
        """The most probable class of each clip.

        With ``on_error="skip"``, clips that could not be decoded get ``None``
        (the array is then of object dtype) and are listed in ``failed_files_``.
        On a torch dataset of segments (skorch's ``EpochScoring`` during
        training) it gives each segment's class index, as skorch's
        classifiers do, to compare with the dataset's encoded targets.
        """
        proba = self.predict_proba(X)
        if isinstance(X, torch.utils.data.Dataset):
            return np.argmax(proba, axis=1)
        return _labels(self.classes_, proba)
