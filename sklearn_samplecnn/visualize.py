"""What the filters learned and how clips cluster: section 7 of the paper.

* :func:`estimate_filters` -- gradient ascent from noise to each filter's
  preferred input (Figure 2);
* :func:`filter_spectra` / :func:`plot_filter_spectra` -- their magnitude
  spectra sorted by peak frequency, one image per layer (Figures 3 and 4);
* :func:`plot_embedding` -- t-SNE of clip-level features per layer, coloured
  by a label (Figure 5);
* :func:`plot_taggram` -- one clip's tag probabilities segment by segment, tags
  against time (musicnn's taggram).

matplotlib is optional (``pip install sklearn-samplecnn[plots]``) and imported
only by the plotting functions. Figures are built on matplotlib's Agg canvas,
without pyplot, so nothing is ever shown or left open; they are returned and,
given ``path``, written as PNG.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import numpy as np
import torch
from sklearn.manifold import TSNE
from sklearn.utils import check_random_state
from torch import nn

__all__ = ["estimate_filters", "filter_spectra", "plot_embedding", "plot_filter_spectra",
           "plot_taggram"]


def _figure(figsize: tuple[float, float]):
    """A matplotlib Figure on the Agg canvas (no pyplot, no display)."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "Plotting needs matplotlib; install it with `pip install sklearn-samplecnn[plots]`."
        ) from exc
    fig = Figure(figsize=figsize, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save(fig, path: str | os.PathLike | None) -> None:
    if path is not None:
        fig.savefig(os.fspath(path), format="png", dpi=100)


def _layer_output(model: nn.Module, x: torch.Tensor, name: str) -> torch.Tensor:
    """Activation ``(batch, channels, time)`` of hidden layer ``name`` for any input length.

    Uses the module's ``forward_features`` when it has one (the frame-level
    models), else runs ``model.features`` block by block (SampleCNN, whose
    blocks are named after its hidden layers).
    """
    if hasattr(model, "forward_features"):
        return model.forward_features(x, upto=name)
    h = x[:, None] if x.dim() == 2 else x
    for block_name, block in model.features.named_children():
        h = block(h)
        if block_name == name:
            return h
    raise ValueError(f"layer {name!r} is not a block of {type(model).__name__}.features.")


def _reachable_layers(model: nn.Module, n_samples: int, device) -> list[str]:
    """Hidden layers that still have a time step for an input of ``n_samples``."""
    out = []
    x = torch.zeros(1, n_samples, device=device)
    with torch.no_grad():
        for name in model.hidden_layers:
            try:
                h = _layer_output(model, x, name)
            except (RuntimeError, ValueError):
                break
            if h.shape[-1] < 1:
                break
            out.append(name)
    return out


def _check_int(name: str, value, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}.")
    return int(value)


def estimate_filters(
    model: nn.Module,
    layer: int | str,
    *,
    n_samples: int = 729,
    n_steps: int = 20,
    lr: float = 0.1,
    filters: Sequence[int] | None = None,
    noise_std: float = 0.1,
    random_state=0,
    device: str | torch.device = "cpu",
) -> np.ndarray:
    """Each filter's preferred input waveform, by gradient ascent from noise.

    Section 7.1 of the paper: start from random noise, back-propagate the mean
    activation of one filter to the input, add the normalised gradient and
    repeat. All filters are estimated at once: row ``i`` of the batch is
    optimised for filter ``filters[i]`` only (batch norm runs in eval mode, so
    rows do not interact).

    Parameters
    ----------
    model : SampleCNN, FrameLevelCNN or MelFrameLevelCNN
        A module with ``hidden_layers``, ``resolve_layer`` and either
        ``forward_features`` or a ``features`` sequence of blocks named after
        its hidden layers. It is put in eval mode and on ``device`` while the
        estimate runs, then returned to its mode and device.
    layer : int or str
        The hidden layer, by name or index (see ``model.resolve_layer``).
    n_samples : int, default=729
        Length of the estimates; the paper uses 729 samples (a typical frame).
        Only the blocks up to ``layer`` run, so this may be shorter than
        ``model.input_length`` as long as ``layer`` still has a time step.
    n_steps : int, default=20
        Gradient-ascent steps; 0 returns the starting noise.
    lr : float, default=0.1
        Step size: each step adds ``lr`` times the gradient divided by its
        root mean square (per filter), i.e. a step of RMS ``lr``.
    filters : sequence of int or None, default=None
        Channels of ``layer`` to estimate; ``None`` estimates all of them.
    noise_std : float, default=0.1
        Standard deviation of the Gaussian noise the ascent starts from, about
        the RMS of music scaled to [-1, 1]. Much quieter noise can leave
        filters whose ReLU is off everywhere at zero gradient; such filters
        keep their starting noise.
    random_state : int, RandomState instance or None, default=0
        Seed of the starting noise.
    device : str or torch.device, default="cpu"
        Where to run.

    Returns
    -------
    ndarray of shape (n_filters, n_samples), float32
        One estimate per requested filter, in the order of ``filters``.

    Examples
    --------
    >>> from sklearn_samplecnn.nn import SampleCNN
    >>> model = SampleCNN("3-3-3", channels=(4, 4, 4, 4), n_outputs=2)
    >>> estimate_filters(model, "module1", n_samples=81, n_steps=3).shape
    (4, 81)
    """
    name = model.resolve_layer(layer)
    n_samples = _check_int("n_samples", n_samples, 1)
    n_steps = _check_int("n_steps", n_steps, 0)
    if not lr > 0:
        raise ValueError(f"lr must be positive, got {lr!r}.")
    if not noise_std > 0:
        raise ValueError(f"noise_std must be positive, got {noise_std!r}.")
    first = next(model.parameters(), None)
    home = first.device if first is not None else torch.device("cpu")
    was_training = model.training
    model.to(device).eval()
    try:
        with torch.no_grad():
            try:
                probe = _layer_output(model, torch.zeros(1, n_samples, device=device), name)
            except RuntimeError as exc:
                raise ValueError(
                    f"n_samples={n_samples} is too short to reach layer {name!r} of "
                    f"{type(model).__name__} {getattr(model, 'name', '')}: {exc}"
                ) from exc
        n_channels = probe.shape[1]
        if filters is None:
            index = np.arange(n_channels)
        else:
            index = np.asarray(filters, dtype=np.int64).ravel()
            if index.size == 0 or index.min() < 0 or index.max() >= n_channels:
                raise ValueError(
                    f"filters must be channel indices of layer {name!r} in [0, {n_channels}), "
                    f"got {filters!r}."
                )
        noise = check_random_state(random_state).standard_normal((index.size, n_samples))
        x = torch.as_tensor(noise_std * noise, dtype=torch.float32, device=device)
        rows = torch.arange(index.size, device=device)
        channels = torch.as_tensor(index, device=device)
        for _ in range(n_steps):
            x.requires_grad_(True)
            act = _layer_output(model, x, name)
            objective = act[rows, channels].mean(dim=1).sum()
            (grad,) = torch.autograd.grad(objective, x)
            rms = grad.pow(2).mean(dim=1, keepdim=True).sqrt()
            x = (x + lr * grad / (rms + 1e-12)).detach()
    finally:
        model.to(home).train(was_training)
    return x.detach().cpu().numpy().astype(np.float32)


def filter_spectra(estimates, sr: float) -> tuple[np.ndarray, np.ndarray]:
    """Magnitude spectra of filter estimates, sorted by peak frequency.

    Parameters
    ----------
    estimates : array-like of shape (n_filters, n_samples)
        Waveforms, e.g. from :func:`estimate_filters`.
    sr : float
        Sample rate in Hz.

    Returns
    -------
    freqs : ndarray of shape (n_samples // 2 + 1,)
        Bin frequencies in Hz, 0 to at most ``sr / 2``.
    spectra : ndarray of shape (n_filters, n_samples // 2 + 1)
        ``|rfft(estimate)|`` of each filter, rows ordered by the frequency of
        their largest bin (ties keep the input order).

    Examples
    --------
    >>> t = np.arange(64) / 64
    >>> freqs, spectra = filter_spectra(np.stack([np.sin(2 * np.pi * 8 * t),
    ...                                           np.sin(2 * np.pi * 3 * t)]), sr=64)
    >>> freqs[spectra.argmax(axis=1)].tolist()
    [3.0, 8.0]
    """
    est = np.asarray(estimates, dtype=np.float64)
    if est.ndim != 2 or est.shape[1] < 2:
        raise ValueError(f"estimates must have shape (n_filters, n_samples >= 2), got {est.shape}.")
    if not float(sr) > 0:
        raise ValueError(f"sr must be positive, got {sr!r}.")
    freqs = np.fft.rfftfreq(est.shape[1], d=1.0 / float(sr))
    spectra = np.abs(np.fft.rfft(est, axis=1))
    order = np.argsort(spectra.argmax(axis=1), kind="stable")
    return freqs, spectra[order]


def plot_filter_spectra(
    model_or_estimates_by_layer: nn.Module | Mapping[str, np.ndarray],
    *,
    sr: float,
    layers: Sequence[int | str] | None = None,
    path: str | os.PathLike | None = None,
    n_samples: int = 729,
    n_steps: int = 20,
    lr: float = 0.1,
    noise_std: float = 0.1,
    random_state=0,
    device: str | torch.device = "cpu",
    db_range: float = 60.0,
):
    """Per layer, an image of every filter's spectrum sorted by peak frequency.

    Figures 3 and 4 of the paper: x is the filter index (sorted by the
    frequency of its peak), y the frequency from 0 to ``sr / 2`` Hz, colour
    the magnitude in dB relative to each filter's peak.

    Parameters
    ----------
    model_or_estimates_by_layer : module or mapping of str to ndarray
        A model, whose filters are estimated with :func:`estimate_filters`,
        or precomputed estimates ``{layer name: (n_filters, n_samples)}``.
    sr : float
        Sample rate of the model's input in Hz.
    layers : sequence of int or str or None, default=None
        Layers to plot. ``None``: for a model, every hidden layer that an input
        of ``n_samples`` reaches; for a mapping, all of its keys.
    path : str or path-like or None, default=None
        Where to write the figure as PNG.
    n_samples, n_steps, lr, noise_std, random_state, device
        Passed to :func:`estimate_filters` when given a model.
    db_range : float, default=60.0
        Dynamic range shown below each filter's peak.

    Returns
    -------
    matplotlib.figure.Figure
    """
    if isinstance(model_or_estimates_by_layer, Mapping):
        estimates = dict(model_or_estimates_by_layer)
        if layers is not None:
            missing = [name for name in layers if name not in estimates]
            if missing:
                raise ValueError(f"layers {missing} are not among the estimates {list(estimates)}.")
            estimates = {name: estimates[name] for name in layers}
    else:
        model = model_or_estimates_by_layer
        if layers is None:
            names = _reachable_layers(model, n_samples, device)
        else:
            names = [model.resolve_layer(layer) for layer in layers]
        estimates = {
            name: estimate_filters(
                model,
                name,
                n_samples=n_samples,
                n_steps=n_steps,
                lr=lr,
                noise_std=noise_std,
                random_state=random_state,
                device=device,
            )
            for name in names
        }
    if not estimates:
        raise ValueError("no layers to plot: layers and estimates are empty.")
    if not db_range > 0:
        raise ValueError(f"db_range must be positive, got {db_range!r}.")

    fig = _figure((3.0 * len(estimates) + 1.0, 3.5))
    axes = fig.subplots(1, len(estimates), squeeze=False)[0]
    for ax, (name, est) in zip(axes, estimates.items()):
        freqs, spectra = filter_spectra(est, sr)
        peak = spectra.max(axis=1, keepdims=True)
        db = 20 * np.log10(np.maximum(spectra, 1e-12) / np.maximum(peak, 1e-12))
        image = ax.imshow(
            np.clip(db, -db_range, 0.0).T,
            origin="lower",
            aspect="auto",
            extent=(0, spectra.shape[0], 0, freqs[-1]),
            vmin=-db_range,
            vmax=0.0,
            interpolation="nearest",
        )
        ax.set_title(str(name))
        ax.set_xlabel("filter (sorted by peak)")
    axes[0].set_ylabel("frequency (Hz)")
    fig.colorbar(image, ax=list(axes), label="dB re. peak")
    _save(fig, path)
    return fig


def plot_embedding(
    features,
    labels,
    *,
    layer_slices: Mapping[str, slice | Sequence[int]] | None = None,
    path: str | os.PathLike | None = None,
    perplexity: float = 30.0,
    random_state=0,
):
    """t-SNE of clip-level features, one panel per layer, coloured by label.

    Figure 5 of the paper.

    Parameters
    ----------
    features : array-like of shape (n_clips, n_features)
        Clip-level features, e.g. from ``MultiScaleFeatureTransformer``.
    labels : array-like of shape (n_clips,)
        One label per clip (a genre, or whether a tag is on); each distinct
        value gets a colour and a legend entry.
    layer_slices : mapping of str to slice or column indices, or None, default=None
        Which columns of ``features`` belong to each layer; one panel per
        entry, titled by its name. ``None`` embeds all columns in one panel.
    path : str or path-like or None, default=None
        Where to write the figure as PNG.
    perplexity : float, default=30.0
        t-SNE perplexity, clipped to ``n_clips - 1`` (t-SNE needs it below
        the number of points).
    random_state : int, RandomState instance or None, default=0
        Seed of t-SNE.

    Returns
    -------
    matplotlib.figure.Figure
    """
    X = np.asarray(features, dtype=np.float64)
    y = np.asarray(labels)
    if X.ndim != 2 or X.shape[0] < 2:
        raise ValueError(f"features must have shape (n_clips >= 2, n_features), got {X.shape}.")
    if y.shape != (X.shape[0],):
        raise ValueError(
            f"labels must have shape ({X.shape[0]},) to match features, got {y.shape}."
        )
    if not perplexity > 0:
        raise ValueError(f"perplexity must be positive, got {perplexity!r}.")
    slices = {"features": slice(None)} if layer_slices is None else dict(layer_slices)
    if not slices:
        raise ValueError("layer_slices must name at least one layer, got an empty mapping.")
    perplexity = min(float(perplexity), X.shape[0] - 1.0)
    classes = np.unique(y)

    fig = _figure((4.0 * len(slices) + 1.5, 4.0))
    axes = fig.subplots(1, len(slices), squeeze=False)[0]
    for ax, (name, columns) in zip(axes, slices.items()):
        part = X[:, columns]
        if part.ndim != 2 or part.shape[1] == 0:
            raise ValueError(f"layer_slices[{name!r}] selects no columns of features {X.shape}.")
        emb = TSNE(
            n_components=2, perplexity=perplexity, init="pca", random_state=random_state
        ).fit_transform(part)
        for cls in classes:
            mask = y == cls
            ax.scatter(emb[mask, 0], emb[mask, 1], s=12, label=str(cls))
        ax.set_title(str(name))
        ax.set_xticks([])
        ax.set_yticks([])
    fig.legend(*axes[0].get_legend_handles_labels(), loc="outside right upper", fontsize="small")
    _save(fig, path)
    return fig


def plot_taggram(
    segments,
    X=None,
    *,
    clip: int = 0,
    top_k: int | None = None,
    path: str | os.PathLike | None = None,
    title: str | None = None,
):
    """A taggram: one clip's tag (or class) probabilities segment by segment.

    Tags run down, time runs across, colour is the probability (0 to 1) of
    each tag in each segment, as musicnn draws it. A column spans from its
    segment's start to the next segment's start (to its end for the last one).

    Parameters
    ----------
    segments : Bunch or fitted estimator
        What ``predict_proba_segments`` returns (``proba``, ``clip``,
        ``start``, ``end``, ``columns``; ``path`` titles the plot), or a
        fitted :class:`~sklearn_samplecnn.SampleCNNTagger` /
        :class:`~sklearn_samplecnn.SampleCNNClassifier`, whose
        ``predict_proba_segments(X)`` is then run.
    X : path, 1-D waveform or sequence of clips, default=None
        The clips, when ``segments`` is an estimator (one path or one
        waveform is one clip).
    clip : int, default=0
        Which clip to plot: its index in ``X``.
    top_k : int or None, default=None
        Only the ``top_k`` tags with the highest mean probability over the
        clip, most probable first; ``None`` shows every tag in column order.
    path : str or path-like or None, default=None
        Where to write the figure as PNG.
    title : str or None, default=None
        Defaults to the clip's file (or ``X[i]``).

    Returns
    -------
    matplotlib.figure.Figure
    """
    if hasattr(segments, "predict_proba_segments"):
        if X is None:
            raise ValueError("X is required when segments is an estimator: pass the clips.")
        if isinstance(X, (str, os.PathLike)) or (isinstance(X, np.ndarray) and X.ndim == 1
                                                 and X.dtype.kind == "f"):
            X = [X]
        segments = segments.predict_proba_segments(X)
    elif X is not None:
        raise ValueError("X is only used with an estimator; segments is already a result.")
    missing = [k for k in ("proba", "clip", "start", "end", "columns") if k not in segments]
    if missing:
        raise ValueError(f"segments must be what predict_proba_segments returns; it lacks "
                         f"{missing}.")
    rows = np.flatnonzero(np.asarray(segments["clip"]) == clip)
    if len(rows) == 0:
        raise ValueError(f"clip {clip!r} has no segments (clip indexes present: "
                         f"{np.unique(segments['clip'])[:10].tolist()}).")
    proba = np.asarray(segments["proba"], dtype=np.float64)[rows]
    names = np.asarray([str(c) for c in segments["columns"]], dtype=object)
    order = np.arange(proba.shape[1])
    if top_k is not None:
        top_k = _check_int("top_k", top_k, 1)
        order = np.argsort(-proba.mean(axis=0), kind="stable")[:top_k]
    start = np.asarray(segments["start"], dtype=np.float64)[rows]
    edges = np.append(start, float(np.asarray(segments["end"])[rows][-1]))
    if title is None:
        title = str(segments["path"][rows[0]]) if "path" in segments else f"clip {clip}"

    fig = _figure((8.0, 1.2 + 0.28 * len(order)))
    ax = fig.add_subplot()
    mesh = ax.pcolormesh(edges, np.arange(len(order) + 1), proba[:, order].T, vmin=0.0,
                         vmax=1.0, shading="flat")
    ax.set_yticks(np.arange(len(order)) + 0.5, labels=list(names[order]))
    ax.invert_yaxis()  # the first (or most probable) tag on top
    ax.set_xlabel("time (s)")
    ax.set_title(title)
    fig.colorbar(mesh, ax=ax, label="probability")
    _save(fig, path)
    return fig
