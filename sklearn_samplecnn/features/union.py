"""BlockScaler: one block of a FeatureUnion, standardised and given a set total variance.

A union of feature sets of very different widths (80 MFCC statistics next to
600 or 6,000 pooled SampleCNN activations) under one regularised classifier
is dominated by the wide block: after a global ``StandardScaler`` every column
has unit variance, so the wide block holds almost all of the variance and of
the penalty budget. Putting a :class:`BlockScaler` at the end of each branch of
a ``FeatureUnion`` gives every block the same total variance (``weight ** 2``),
whatever its width, so that the classifier weighs blocks rather than columns.
numpy only.
"""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from .._compat import Interval, fit_context

__all__ = ["BlockScaler"]


class BlockScaler(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """Standardise a block of features, then scale the block to a set total variance.

    Each column is centred and divided by its standard deviation (as
    ``StandardScaler``; constant columns become 0), then the whole block is
    multiplied by ``weight / sqrt(n_features)``: the variances of its columns
    add up to ``weight ** 2`` however many columns it has. End each branch
    of a ``FeatureUnion`` with one, so that each feature set counts as much
    as the others under one regularised classifier, not in proportion to
    its width.

    Parameters
    ----------
    weight : float, default=1.0
        Square root of the block's total variance after scaling; a tunable
        weight of the block against the others (``weight=2`` counts it as
        four blocks).

    Attributes
    ----------
    mean_ : ndarray of shape (n_features_in_,)
        Column means seen in ``fit``.
    scale_ : ndarray of shape (n_features_in_,)
        Column standard deviations seen in ``fit`` (1 for constant columns).
    block_scale_ : float
        ``weight / sqrt(n_features_in_)``, applied after standardising.
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Only when ``X`` had string column names.

    See Also
    --------
    sklearn.preprocessing.StandardScaler : the per-column step alone.
    sklearn.pipeline.FeatureUnion : where the blocks are put together.

    Notes
    -----
    Blocks of total variance 1 give the classifier little variance to work
    with: a logistic regression needs a larger ``C`` than after a global
    ``StandardScaler`` (scaling the inputs by ``s`` acts like multiplying
    ``C`` by ``s ** 2``). On the demo's data, ``C=100`` for two blocks did
    as well as or better than ``C=1`` on the plain concatenation (see
    docs/transfer.md).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_samplecnn import BlockScaler
    >>> rng = np.random.default_rng(0)
    >>> wide, narrow = rng.normal(size=(50, 400)), rng.normal(size=(50, 4))
    >>> [round(float(BlockScaler().fit_transform(b).var(axis=0).sum()), 6)
    ...  for b in (wide, narrow)]
    [1.0, 1.0]
    """

    _parameter_constraints: dict = {
        "weight": [Interval(numbers.Real, 0, None, closed="neither")],
    }

    def __init__(self, *, weight=1.0):
        self.weight = weight

    @fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Learn the column means and standard deviations of the block.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : ignored

        Returns
        -------
        self : object
        """
        X = validate_data(self, X, dtype=[np.float64, np.float32])
        self.mean_ = X.mean(axis=0, dtype=np.float64)
        scale = X.std(axis=0, dtype=np.float64)
        # a column that only varies by rounding is constant (as StandardScaler)
        constant = scale <= 10 * np.finfo(X.dtype).eps * np.maximum(np.abs(self.mean_), 1.0)
        self.scale_ = np.where(constant, 1.0, scale)
        self.block_scale_ = float(self.weight) / np.sqrt(X.shape[1])
        return self

    def transform(self, X):
        """Standardise each column and scale the block.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features_in_)

        Returns
        -------
        ndarray of shape (n_samples, n_features_in_)
            Same dtype as ``X`` (float32 or float64).
        """
        check_is_fitted(self, "block_scale_")
        X = validate_data(self, X, reset=False, dtype=[np.float64, np.float32])
        out = (X - self.mean_) * (self.block_scale_ / self.scale_)
        return out.astype(X.dtype, copy=False)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags
