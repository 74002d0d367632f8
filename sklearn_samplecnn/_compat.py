"""Every private scikit-learn name the library uses, imported in one place.

scikit-learn keeps its parameter-validation machinery and a few helpers in
private modules; they have been stable across 1.3-1.9, and if one moves, this
file is the only one to change (imbalanced-learn keeps the same kind of module).
"""

from __future__ import annotations

from sklearn.base import _fit_context as fit_context
from sklearn.utils._param_validation import (
    HasMethods,
    Interval,
    StrOptions,
    validate_parameter_constraints,
    validate_params,
)
from sklearn.utils.validation import _check_sample_weight as check_sample_weight

__all__ = ["HasMethods", "Interval", "StrOptions", "check_sample_weight", "fit_context",
           "validate_parameter_constraints", "validate_params"]
