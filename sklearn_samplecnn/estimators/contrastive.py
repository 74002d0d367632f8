"""ContrastiveSampleCNN: self-supervised pretraining of a SampleCNN on unlabelled audio.

SimCLR on raw waveforms, as CLMR (Spijkervet and Burgoyne 2021) did with this
encoder: each clip gives two random crops, each crop goes through its own
random augmentation chain (on the device, batch-wise), the encoder and a
projection head map both views to vectors, and the NT-Xent loss pulls the
two views of a clip together and pushes the other clips of the batch away.
No labels are used. The trained encoder (``module_``, a plain
:class:`~sklearn_samplecnn.nn.SampleCNN`) is what downstream code uses.
"""

from __future__ import annotations

import numbers

import torch
from skorch.utils import to_tensor

from .._compat import Interval
from ..augment import resolve_augment
from ..nn import NTXentLoss, ProjectionHead, SampleCNN, check_segment_model
from ..pretrained import CONTRASTIVE
from ._base import _SampleCNNNet
from .data import CropPairDataset

__all__ = ["ContrastiveSampleCNN"]

# Parameters of the supervised estimators that cut clips into fixed segments
# and aggregate predictions: meaningless here, so not parameters of this one.
_SEGMENT_ONLY = ("segment_mode", "hop_length", "tail", "aggregate")


class _Unavailable:
    """A method this estimator does not have (``hasattr`` is False), with the reason."""

    def __init__(self, why: str) -> None:
        self.why = why

    def __set_name__(self, owner, name) -> None:
        self.name = name

    def __get__(self, obj, owner=None):
        raise AttributeError(f"{owner.__name__} has no {self.name}(): {self.why}")


class ContrastiveSampleCNN(_SampleCNNNet):
    """Self-supervised (contrastive) pretraining of a SampleCNN encoder, without labels.

    ``fit(X)`` trains the encoder SimCLR-style, as CLMR: every clip gives two
    independent random crops of the encoder's input length, each augmented
    on the device by its own random draw of ``augment``; the encoder's last
    hidden layer goes through a projection head, and NT-Xent makes each view
    find its partner among the ``2 * batch_size - 1`` other views. Then use
    the encoder like any pretrained model: ``save_pretrained(est, path)``
    writes it (task ``"contrastive"``), and
    ``MultiScaleFeatureTransformer(extractors=[est])`` takes the fitted
    estimator directly.

    Parameters
    ----------
    module : type or nn.Module, default=SampleCNN
        The encoder; its arguments are routed as ``module__sizes``,
        ``module__channels``... Its output layer is not trained (features come
        from its hidden layers).
    temperature : float, default=0.2
        NT-Xent temperature. 0.2 did better than CLMR's 0.5 in small CPU runs
        (batches of 32, a hundred epochs); CLMR used 0.5 with batches of 48.
    projection_dim : int, default=64
        Output size of the projection head (Linear -> ReLU -> Linear on the
        encoder's last hidden layer; CLMR: 64).
    augment : None, "default" or callable, default="default"
        The augmentation chain applied to both views, in training and in the
        validation loss: ``"default"`` is
        :class:`~sklearn_samplecnn.augment.AudioAugment` (CLMR's chain), or an
        ``AudioAugment(...)``, or any callable ``f(batch, sr) -> batch``;
        ``None`` leaves only the random crops.
    sr : int, default=22050
        Sample rate the encoder works at (files are resampled to it).
    short : {"pad", "repeat", "error"}, default="pad"
        A clip shorter than a crop: both views are the whole clip, padded with
        zeros or repeated, or raise.
    res_type, audio_cache, on_error, random_state
        As in :class:`SampleCNNClassifier`.
    schedule : {"paper"} or None, default=None
        No learning-rate schedule by default (the paper's is for supervised
        training); ``"paper"`` watches the validation NT-Xent.
    optimizer : default=torch.optim.Adam
        CLMR's optimiser; add ``optimizer__weight_decay=1e-6`` for theirs exactly.
    lr : float, default=2e-3
        Suits short runs of a few hundred steps (CLMR's 3e-4 barely moved
        the loss in 150 steps); use 3e-4 for long GPU runs, as CLMR.
    max_epochs : int, default=100
        Each epoch sees one pair of views per training clip.
    batch_size : int, default=32
        Clips per batch (``2 * batch_size`` views). Larger is better for
        contrastive learning: use 256 or more on a GPU.
    train_split : float, callable or None, default=0.1
        Fraction of clips held out for the validation NT-Xent (``valid_loss``),
        a skorch-style callable, or ``None``.
    callbacks, device, verbose, warm_start, **kwargs
        As in :class:`skorch.NeuralNet`.

    Attributes
    ----------
    module_ : torch.nn.Module
        The encoder (a SampleCNN): what ``save_pretrained`` writes and the
        feature transformer runs.
    projection_head_ : ProjectionHead
        Only used by the loss; not saved with the encoder.
    history_ : skorch History
        ``train_loss`` and ``valid_loss`` are NT-Xent values.
    failed_files_ : list of str
        Files ``fit`` left out (``on_error="skip"``).
    n_features_in_ : int
        Only when fitted on a 2-D waveform array.

    See Also
    --------
    sklearn_samplecnn.augment.AudioAugment : the augmentation chain.
    MultiScaleFeatureTransformer : features from the trained encoder.

    Notes
    -----
    The defaults suit small CPU runs (a few hundred clips, a hundred
    epochs). On a GPU, settings close to CLMR's: ``batch_size=256`` (or
    more), ``lr=3e-4``, ``temperature=0.5``, ``device="cuda"``,
    ``iterator_train__num_workers=8``, ``audio_cache="memory"`` (or a
    folder), and hundreds of epochs. The loss of indistinguishable views is
    ``log(2 * batch_size - 1)``. The validation loss uses augmented views
    too (the task the encoder learns), so it is noisy.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_samplecnn import ContrastiveSampleCNN
    >>> X = np.random.default_rng(0).normal(size=(16, 300)).astype(np.float32)
    >>> est = ContrastiveSampleCNN(module__sizes="3-3-3-3", module__channels=[4] * 5,
    ...                            sr=8000, batch_size=8, max_epochs=2, train_split=None,
    ...                            verbose=0, random_state=0).fit(X)
    >>> est.module_.input_length, len(est.history_)
    (81, 2)
    """

    _pretrained_task = CONTRASTIVE
    _segment_params = ()  # random crops, not fixed segments
    _per_segment_loss = False  # NT-Xent is one loss per batch

    _parameter_constraints = {
        **{k: v for k, v in _SampleCNNNet._parameter_constraints.items()
           if k not in _SEGMENT_ONLY},
        "temperature": [Interval(numbers.Real, 0, None, closed="neither")],
        "projection_dim": [Interval(numbers.Integral, 1, None, closed="left")],
    }

    predict = _Unavailable("a contrastive encoder makes features, not predictions; "
                           "use it in MultiScaleFeatureTransformer")
    predict_proba = _Unavailable("a contrastive encoder makes features, not predictions; "
                                 "use it in MultiScaleFeatureTransformer")

    def __init__(
        self,
        module=SampleCNN,
        *,
        criterion=NTXentLoss,
        temperature: float = 0.2,
        projection_dim: int = 64,
        augment="default",
        schedule: str | None = None,
        optimizer=torch.optim.Adam,
        lr: float = 2e-3,
        batch_size: int = 32,
        **kwargs,
    ) -> None:
        # the other parameters (sr, short, max_epochs, train_split, device...)
        # are the supervised estimators', with their defaults
        given = [k for k in _SEGMENT_ONLY if k in kwargs]
        if given:
            raise TypeError(f"{type(self).__name__} got an unexpected keyword argument "
                            f"{given[0]!r}: it trains on random crops, not fixed segments.")
        super().__init__(module, criterion=criterion, augment=augment, schedule=schedule,
                         optimizer=optimizer, lr=lr, batch_size=batch_size, **kwargs)
        self.temperature = temperature
        self.projection_dim = projection_dim

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = False
        return tags

    # -- skorch hooks --------------------------------------------------------------
    def initialize_module(self):
        kwargs = self.get_params_for("module")
        kwargs.setdefault("n_outputs", 1)  # the encoder's output layer is not trained
        self.module_ = self.initialized_instance(self.module, kwargs)
        check_segment_model(self.module_, f"module {self.module!r}:")
        if not isinstance(getattr(self.module_, "classifier", None), torch.nn.Linear):
            raise TypeError(f"module {self.module!r} must be a SampleCNN-like encoder "
                            "(a segment model with a Linear classifier).")
        if hasattr(self.module_, "fit_standardizer"):
            raise TypeError(f"module {self.module!r} learns input statistics; contrastive "
                            "training supports raw-waveform encoders (SampleCNN, FrameLevelCNN).")
        self.projection_head_ = ProjectionHead(self.module_.classifier.in_features,
                                               int(self.projection_dim))
        return self

    def initialize_criterion(self):
        kwargs = self.get_params_for("criterion")
        kwargs.setdefault("temperature", float(self.temperature))
        self.criterion_ = self.initialized_instance(self.criterion, kwargs)
        return self

    def get_dataset(self, X, y=None):
        if isinstance(X, torch.utils.data.Dataset):
            return X
        augment = resolve_augment(self.augment)
        length = self._raw_module.input_length
        if hasattr(augment, "input_length"):  # room for pitch shifts to read real audio
            length = augment.input_length(length)
        return CropPairDataset(X, length, short=self.short)

    def infer(self, x, **fit_params):
        """Projections of both views, ``(2 * batch, projection_dim)``: first views, then second."""
        x = to_tensor(x, device=self._device) if not isinstance(x, torch.Tensor) else \
            x.to(self._device, non_blocking=True)
        views = torch.cat([x[:, 0], x[:, 1]])
        length = self._raw_module.input_length
        augment = resolve_augment(self.augment)
        if augment is not None and views.shape[-1] != length:
            views = augment(views, self.sr, length)  # crops with room for pitch shifts
        elif augment is not None:
            views = augment(views, self.sr)
        return self.projection_head_(self.encode(views))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The encoder's last hidden layer, pooled over time: ``(batch, channels)``."""
        last = self._raw_module.hidden_layers[-1]
        _, hidden = self.module_(x, return_hidden=[last])
        h = hidden[last]
        pool = getattr(self._raw_module, "global_pool", None)
        return (pool(h) if pool is not None else h).flatten(1)

    def get_loss(self, y_pred, y_true=None, X=None, training=False):
        return self.criterion_(y_pred)

    # -- fit -------------------------------------------------------------------------
    def fit(self, X, y=None, **fit_params):
        """Train the encoder on unlabelled clips ``X``.

        Parameters
        ----------
        X : list of str/Path, ndarray of shape (n_clips, n_samples), or list of 1-D arrays
            Audio files, or waveforms already at ``sr``.
        y : ignored
            Accepted for pipelines; no labels are used.

        Returns
        -------
        self : object
        """
        return super().fit(X, y, **fit_params)

    def _prepare_fit(self, X, y, sample_weight=None, *, reset: bool):
        clips, keep = self._fit_clips(X, reset=reset)  # no labels, no weights
        return (clips.subset(keep) if len(keep) < len(clips) else clips), None, None
