"""MFCCStatsTransformer: the classic baseline, frame statistics of MFCCs or log-mel energies.

Before learned features, music was classified from summaries of short-time
spectral descriptors: the mean and spread over a clip of its MFCCs, their
deltas, spectral contrast. Those rows, fed to an SVM or a logistic
regression, are the baseline every learned feature must beat; this
transformer makes them one line of a Pipeline, on the same inputs, with the
same error handling and cache as :class:`MultiScaleFeatureTransformer`.
"""

from __future__ import annotations

import numbers
import os
from collections import deque
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch

from .._compat import Interval, StrOptions, fit_context
from .._fileio import digest
from .._progress import progress as progress_bar
from ..audio import DEFAULT_RES_TYPE, DEFAULT_SR, FILE_KEYS, RES_TYPES
from ..engine import Clips, on_error_constraint, resolve_n_jobs
from ..exceptions import AudioLoadError
from ..nn.spectral import CONTRAST_FMIN, STATS, ClipStatistics, max_contrast_bands
from ._base import DASK_CONSTRAINTS, ClipFeatureTransformer, FeaturePass

__all__ = ["MFCCStatsTransformer"]

_CACHE_VERSION = "classic-1"  # bump when the computation changes
_LIBROSA_CONTRAST_BANDS = 6


class MFCCStatsTransformer(ClipFeatureTransformer):
    """Clip statistics of MFCCs (or log-mel energies), their deltas and spectral contrast.

    Each clip is resampled to ``sr``, cut into centred STFT frames, and each
    frame described by ``n_mfcc`` MFCCs (``kind="mfcc"``, librosa's
    definition) or ``n_mels`` dB mel energies (``kind="logmel"``), optionally
    with their deltas and octave-band spectral contrast; ``stats`` summarise
    every coefficient over the clip's frames. The default gives 20 MFCCs and
    their deltas, mean and standard deviation: 80 numbers per clip. The
    computation is :class:`sklearn_samplecnn.nn.ClipStatistics` (torch, on
    ``device``); see it for the exact definitions.

    Parameters
    ----------
    sr : int, default=22050
        Rate the files are resampled to; waveform arrays are taken to be at it.
    kind : {"mfcc", "logmel"}, default="mfcc"
        Frame coefficients: MFCCs, or the dB mel energies they are computed from.
    n_mfcc : int, default=20
        MFCCs per frame (``kind="mfcc"``); at most ``n_mels``.
    n_mels : int, default=128
        Mel bands (Slaney scale and area normalisation, as librosa).
    n_fft : int, default=2048
        FFT size and Hann window length, in samples at ``sr``.
    hop_length : int, default=512
        Samples between frames.
    fmin : float, default=0.0
    fmax : float or None, default=None
        Mel band edges in Hz; ``None`` is ``sr / 2``.
    top_db : float or None, default=80.0
        The dB mel spectrogram is floored this far below the clip's loudest
        bin (librosa's ``power_to_db(S, ref=1.0, top_db=80)``, what
        ``librosa.feature.mfcc`` uses); ``None``: only the 1e-10 power floor.
    deltas : {0, 1, 2}, default=1
        Orders of deltas added: 1 for deltas, 2 for deltas and delta-deltas
        (9-frame Savitzky-Golay derivatives, ``librosa.feature.delta``).
    stats : tuple of str, default=("mean", "std")
        Statistics over frames, from ``("mean", "std", "min", "max")``.
    spectral_contrast : bool or int, default=False
        Add octave-band spectral contrast (Jiang et al. 2002, as
        ``librosa.feature.spectral_contrast``). ``True`` takes librosa's 6
        bands above 200 Hz, fewer when ``sr / 2`` is lower (5 at 8 kHz); an
        int sets the number of bands. Gives ``bands + 1`` values per statistic.
    device : str, default="cpu"
        Where the spectra are computed (``"cuda"``: on the GPU).
    n_jobs : int or None, default=None
        Threads decoding, resampling and describing clips, as joblib counts
        them (``None``: 1 unless a ``joblib.parallel_config`` says otherwise,
        ``-1``: all cores); decoding and the torch operations release the GIL.
    cache_dir : str, path or None, default=None
        Store rows per (clip, settings), one block per part of the row
        (coefficients, deltas, delta-deltas, contrast) in the clip's entry
        (:class:`~sklearn_samplecnn.features.FeatureCache`), so later transforms, every fold and
        a grid over ``deltas`` or ``spectral_contrast`` reuse them. ``None``
        writes nothing to disk.
    cache_key : {"stat", "content"}, default="stat"
        How files are recognised in the cache, as in
        :class:`MultiScaleFeatureTransformer`.
    res_type : str, default="soxr_hq"
        Resampling filter, see :func:`sklearn_samplecnn.audio.resample`.
    on_error : {"raise", "skip"}, default="raise"
        A clip that fails to decode: raise an error naming it, or skip it:
        its row is NaN, one warning lists the failed files with their causes
        and ``failed_files_`` records them. The other rows are always kept
        (:mod:`sklearn_samplecnn.engine.failures`). The former ``"nan"``
        (now ``"skip"``) and ``"zeros"`` are deprecated.
    dask_client : "auto", None, str or distributed.Client, default="auto"
        Where ``transform`` runs. ``"auto"``: on the active Dask client (the
        last ``distributed.Client`` created, or the one of a ``with Client():``
        block) if there is one, else in this process; never from inside a
        Dask task. ``None``: always in this process. An address
        (``"tcp://scheduler:8786"``) or a ``Client``: on that cluster. The
        clips are split into shards of ``shard_size``, one task each; every
        worker process loads the fitted transformer (its models on the
        worker's device) once and keeps it; rows come back in input order and
        ``on_error`` applies as in one process. See docs/cluster.md.
    shard_size : int, default=256
        Clips per Dask task, and per file of a feature store
        (:func:`sklearn_samplecnn.distributed.write_feature_store`).
    verbose : int, default=0
        Progress over clips when > 0, on standard error: a tqdm bar on a
        terminal (or in Jupyter), else one plain line per tenth of the clips
        (no carriage returns or escape sequences in a log).

    Attributes
    ----------
    n_features_out_ : int
    feature_names_out_ : ndarray of str
        ``"<block>__<stat>__<coefficient>"``: ``"mfcc__mean__c00"``,
        ``"mfcc_delta__std__c19"``, ``"logmel__max__m127"``, ``"contrast__mean__b6"``.
    blocks_ : list of (str, int)
        The output's blocks in order, with their widths (``("mfcc", 20)``,
        ``("mfcc_delta", 20)``, ...): each is cached on its own.
    failed_files_ : list of str
        Files the last ``transform`` could not decode (``on_error="skip"``).
    n_features_in_ : int
        Only when fitted on a 2-D waveform array.

    See Also
    --------
    MultiScaleFeatureTransformer : learned features; combine both in a
        ``sklearn.pipeline.FeatureUnion``.

    Notes
    -----
    Any clip length works: frames are centred with ``n_fft // 2`` zeros at both
    ends (librosa >= 0.10's default; older librosa reflected the signal, which
    changes only the first and last frames), so a clip shorter than one FFT
    frame is one zero-padded frame, never an error. Deltas need 3 frames; with
    fewer than 9 the regression window shrinks, with fewer than 3 they are 0.
    Rows are float32; arrays are computed in float32 on ``device``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_samplecnn import MFCCStatsTransformer
    >>> X = np.random.default_rng(0).normal(size=(3, 8000)).astype(np.float32)
    >>> mfcc = MFCCStatsTransformer(sr=8000, n_mfcc=13, n_mels=40, deltas=2)
    >>> mfcc.fit_transform(X).shape
    (3, 78)
    >>> mfcc.get_feature_names_out()[[0, 13, 26, -1]].tolist()
    ['mfcc__mean__c00', 'mfcc__std__c00', 'mfcc_delta__mean__c00', 'mfcc_delta2__std__c12']
    """

    _parameter_constraints: dict = {
        "sr": [Interval(numbers.Integral, 1, None, closed="left")],
        "kind": [StrOptions({"mfcc", "logmel"})],
        "n_mfcc": [Interval(numbers.Integral, 1, None, closed="left")],
        "n_mels": [Interval(numbers.Integral, 1, None, closed="left")],
        "n_fft": [Interval(numbers.Integral, 1, None, closed="left")],
        "hop_length": [Interval(numbers.Integral, 1, None, closed="left")],
        "fmin": [Interval(numbers.Real, 0, None, closed="left")],
        "fmax": [Interval(numbers.Real, 0, None, closed="neither"), None],
        "top_db": [Interval(numbers.Real, 0, None, closed="neither"), None],
        "deltas": [Interval(numbers.Integral, 0, 2, closed="both")],
        "stats": [tuple, list, StrOptions(set(STATS))],
        "spectral_contrast": ["boolean", Interval(numbers.Integral, 1, None, closed="left")],
        "device": [str],
        "n_jobs": [numbers.Integral, None],
        "cache_dir": [str, os.PathLike, None],
        "cache_key": [StrOptions(set(FILE_KEYS))],
        "res_type": [StrOptions(set(RES_TYPES))],
        "on_error": [on_error_constraint(deprecated=True)],
        "verbose": ["verbose"],
        **DASK_CONSTRAINTS,
    }

    def __init__(self, *, sr=DEFAULT_SR, kind="mfcc", n_mfcc=20, n_mels=128, n_fft=2048,
                 hop_length=512, fmin=0.0, fmax=None, top_db=80.0, deltas=1,
                 stats=("mean", "std"), spectral_contrast=False, device="cpu", n_jobs=None,
                 cache_dir=None, cache_key="stat", res_type=DEFAULT_RES_TYPE, on_error="raise",
                 verbose=0, dask_client="auto", shard_size=256):
        self.sr = sr
        self.kind = kind
        self.n_mfcc = n_mfcc
        self.n_mels = n_mels
        self.n_fft = n_fft
        self.hop_length = hop_length
        self.fmin = fmin
        self.fmax = fmax
        self.top_db = top_db
        self.deltas = deltas
        self.stats = stats
        self.spectral_contrast = spectral_contrast
        self.device = device
        self.n_jobs = n_jobs
        self.cache_dir = cache_dir
        self.cache_key = cache_key
        self.res_type = res_type
        self.on_error = on_error
        self.verbose = verbose
        self.dask_client = dask_client
        self.shard_size = shard_size

    def _clips_sr(self) -> int:
        return self.sr

    # -- fitting -----------------------------------------------------------------
    def _contrast_bands(self) -> int:
        if self.spectral_contrast is True:
            bands = min(_LIBROSA_CONTRAST_BANDS, max_contrast_bands(self.sr))
            if bands == 0:
                raise ValueError(f"spectral_contrast needs sr above {2 * CONTRAST_FMIN:g} Hz, "
                                 f"got sr={self.sr}.")
            return bands
        if self.spectral_contrast is False:
            return 0
        most = max_contrast_bands(self.sr)
        if self.spectral_contrast > most:
            raise ValueError(f"spectral_contrast={self.spectral_contrast} octave bands above "
                             f"{CONTRAST_FMIN:g} Hz reach past sr/2 ({self.sr / 2:g} Hz); "
                             f"at most {most} fit at sr={self.sr}.")
        return int(self.spectral_contrast)

    def _module(self) -> ClipStatistics:
        """The per-clip computation for the current parameters (validates them all)."""
        return ClipStatistics(sr=self.sr, kind=self.kind, n_mfcc=self.n_mfcc, n_mels=self.n_mels,
                              n_fft=self.n_fft, hop_length=self.hop_length, fmin=self.fmin,
                              fmax=self.fmax, top_db=self.top_db, deltas=self.deltas,
                              stats=self.stats, contrast_bands=self._contrast_bands())

    @fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Check the parameters and ``X`` and record the output columns (no learning).

        Parameters
        ----------
        X : list of paths, list of 1-D waveforms or ndarray of shape (n_clips, n_samples)
            Only used to validate input.
        y : None
            Ignored.

        Returns
        -------
        self : object
            The fitted transformer.
        """
        module = self._module()
        self._as_clips(X, reset=True)
        self.blocks_ = list(module.blocks)
        self.feature_names_out_ = np.array(module.feature_names, dtype=object)
        self.n_features_out_ = module.n_features
        return self

    # -- transforming -------------------------------------------------------------
    def _block_tokens(self) -> list[str]:
        """One cache token per output block, from every setting that changes it."""
        frames = (self.sr, self.res_type, self.n_fft, self.hop_length, tuple(
            (self.stats,) if isinstance(self.stats, str) else self.stats))
        coefficients = (self.kind, self.n_mfcc if self.kind == "mfcc" else None, self.n_mels,
                        *(None if v is None else float(v)
                          for v in (self.fmin, self.fmax, self.top_db)))
        tokens = []
        for name, _ in self.blocks_:
            settings = (frames, self._contrast_bands()) if name == "contrast" else (
                frames, coefficients)
            tokens.append(digest(_CACHE_VERSION, name, str(settings),
                                 torch.device(self.device).type)[:24])
        return tokens

    def _passes(self) -> list[FeaturePass]:
        return [FeaturePass(self._block_tokens(), [w for _, w in self.blocks_], self._compute)]

    def _compute(self, clips: Clips, todo: list[int]):
        """Yield ``(clip index, feature row, error)`` for the clips in ``todo``, in order.

        Each of ``n_jobs`` threads decodes a clip and describes it
        (:meth:`_describe`); a bounded window of clips is in flight, so memory
        does not grow with the number of files.
        """
        if not todo:
            return
        module = self._module().to(torch.device(self.device))
        n_jobs = max(1, resolve_n_jobs(self.n_jobs))
        progress = None
        if self.verbose:
            progress = progress_bar(len(todo), "classic features")

        def work(i):
            try:
                y = clips.load(i)
            except AudioLoadError as exc:
                return None, exc
            return _describe(module, y), None

        with ThreadPoolExecutor(max_workers=n_jobs) as pool:
            it = iter(todo)
            window = deque((i, pool.submit(work, i)) for _, i in zip(range(2 * n_jobs), it))
            while window:
                i, future = window.popleft()
                nxt = next(it, None)
                if nxt is not None:
                    window.append((nxt, pool.submit(work, nxt)))
                row, err = future.result()
                if progress is not None:
                    progress.update(1)
                yield i, row, err
        if progress is not None:
            progress.close()


def _describe(module: ClipStatistics, y: np.ndarray) -> np.ndarray:
    """One clip's waveform (1-D float32 at the module's rate) -> its float32 feature row."""
    device = module.window.device
    with torch.inference_mode():
        row = module(torch.from_numpy(np.ascontiguousarray(y, dtype=np.float32)).to(device))
    return row.cpu().numpy()
