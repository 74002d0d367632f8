"""musicnn in PyTorch: Pons and Serra's log-mel music taggers, front end included.

torch and numpy only. musicnn (Pons & Serra, "musicnn: pre-trained convolutional
neural networks for music audio tagging", ISMIR 2019 LBD; the ``musicnn`` package,
ISC licence) ships TensorFlow 1 checkpoints trained on the Million Song Dataset
(``MSD_musicnn``, ``MSD_vgg``) and on MagnaTagATune (``MTT_musicnn``,
``MTT_vgg``). This module rebuilds both architectures so that the converted
weights (``scripts/convert_musicnn.py``; shipped in the package, see
:mod:`sklearn_samplecnn.pretrained`) give the original's outputs without
TensorFlow.

The front end is musicnn's own: 16 kHz audio, a 512-point STFT with a periodic
Hann window every 256 samples (librosa's ``center=True`` with zero padding), the
power spectrum through 96 Slaney mel filters, rounded to float16 as the original
stores it, then ``log10(10000 x + 1)``. A model sees patches of 187 frames (3 s);
consecutive patches do not overlap. In samples, a patch is one segment of
:data:`MUSICNN_INPUT_LENGTH` = 48,128 samples (186 hops plus one window) every
:data:`MUSICNN_HOP` = 47,872 samples (187 hops), once the clip has 256 zeros
before its first sample and after its last (the STFT's centring): the segment
loop does exactly that for modules that carry ``segment_hop`` and ``edge_pad``
attributes, so every patch is the original's, boundaries included.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .._checks import check_int
from ._layers import NamedLayers, check_head
from .mel import mel_filterbank

__all__ = [
    "MUSICNN_EDGE_PAD",
    "MUSICNN_HOP",
    "MUSICNN_INPUT_LENGTH",
    "MUSICNN_SR",
    "MSD_TAGS",
    "MTT_TAGS",
    "Musicnn",
    "MusicnnFrontEnd",
    "MusicnnVGG",
]

MUSICNN_SR = 16000
_N_FFT = 512
_HOP = 256
_N_MELS = 96
_PATCH_FRAMES = 187  # 3 s: librosa.time_to_frames(3, sr=16000, n_fft=512, hop_length=256) + 1
#: Samples of one 187-frame patch: 186 hops and one window.
MUSICNN_INPUT_LENGTH = (_PATCH_FRAMES - 1) * _HOP + _N_FFT
#: Samples between the starts of consecutive (non-overlapping) patches.
MUSICNN_HOP = _PATCH_FRAMES * _HOP
#: Zeros before a clip's first sample (and after its last): the STFT's centring.
MUSICNN_EDGE_PAD = _N_FFT // 2

#: The 50 Last.fm tags of the Million Song Dataset models, in output order.
MSD_TAGS = ("rock", "pop", "alternative", "indie", "electronic", "female vocalists", "dance",
            "00s", "alternative rock", "jazz", "beautiful", "metal", "chillout",
            "male vocalists", "classic rock", "soul", "indie rock", "Mellow", "electronica",
            "80s", "folk", "90s", "chill", "instrumental", "punk", "oldies", "blues",
            "hard rock", "ambient", "acoustic", "experimental", "female vocalist", "guitar",
            "Hip-Hop", "70s", "party", "country", "easy listening", "sexy", "catchy", "funk",
            "electro", "heavy metal", "Progressive rock", "60s", "rnb", "indie pop", "sad",
            "House", "happy")
#: The 50 MagnaTagATune tags of the MTT models, in output order.
MTT_TAGS = ("guitar", "classical", "slow", "techno", "strings", "drums", "electronic", "rock",
            "fast", "piano", "ambient", "beat", "violin", "vocal", "synth", "female", "indian",
            "opera", "male", "singing", "vocals", "no vocals", "harpsichord", "loud", "quiet",
            "flute", "woman", "male vocal", "no vocal", "pop", "soft", "sitar", "solo", "man",
            "classic", "choir", "voice", "new age", "dance", "male voice", "female vocal",
            "beats", "harp", "cello", "no voice", "weird", "country", "metal", "female voice",
            "choral")

_BN_EPS = 1e-3  # TensorFlow's batch_normalization default


class MusicnnFrontEnd(nn.Module):
    """musicnn's log-mel patches from waveform segments at 16 kHz.

    ``(batch, (n_frames - 1) * 256 + 512)`` samples in, ``(batch, n_frames, 96)``
    out: frame ``t`` is the 512-sample window starting at ``t * 256``
    (``center=False``; the caller pads the clip's edges). Computed as librosa
    computes it for the original: the windowed frames' FFT in float64 stored
    as complex64, ``|X|^2`` in float32, the Slaney mel filters (float32), the
    result rounded to float16 (as the original's ``astype(np.float16)``), then
    ``log10(10000 x + 1)`` in float32 (numpy 1.x promotes that expression to
    float32). Always float32, also under autocast.
    """

    def __init__(self) -> None:
        super().__init__()
        window = torch.hann_window(_N_FFT, periodic=True, dtype=torch.float64)
        self.register_buffer("window", window, persistent=False)
        basis = torch.from_numpy(mel_filterbank(sr=MUSICNN_SR, n_fft=_N_FFT, n_mels=_N_MELS))
        self.register_buffer("mel_basis", basis, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.autocast(x.device.type, enabled=False):
            spec = torch.stft(x.double(), n_fft=_N_FFT, hop_length=_HOP, window=self.window,
                              center=False, return_complex=True)
            power = spec.to(torch.complex64).abs() ** 2  # (batch, 257, frames), float32
            mel = torch.matmul(self.mel_basis, power).transpose(1, 2)
            mel = mel.half().float()  # the original keeps the mel spectrogram in float16
            return torch.log10(10000.0 * mel + 1.0)


def _bn2d(c: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(c, eps=_BN_EPS)


def _bn1d(c: int) -> nn.BatchNorm1d:
    return nn.BatchNorm1d(c, eps=_BN_EPS)


class _FrontBranch(nn.Module):
    """Conv2d over (time, mel) -> ReLU -> batch norm -> max over the mel axis.

    ``time_pad`` is the (before, after) zero padding of the time axis: (3, 3)
    around the 7-frame timbral filters, TensorFlow's 'same' padding for the
    temporal ones (one more zero after than before for even lengths).
    """

    def __init__(self, filters: int, kernel: tuple[int, int], time_pad: tuple[int, int]) -> None:
        super().__init__()
        self.time_pad = time_pad
        self.conv = nn.Conv2d(1, filters, kernel)
        self.bn = _bn2d(filters)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.pad(x, (0, 0, *self.time_pad))
        if self.training:
            return self.bn(F.relu(self.conv(h))).amax(dim=3)
        # In eval mode, pool first: ReLU and batch norm are monotonic per filter, so the
        # max over the mel axis of bn(relu(conv)) is bn(relu(max conv)) where the filter's
        # batch-norm scale is positive and bn(relu(min conv)) where it is negative; with
        # those filters' weights negated one max gives both, exactly, and ReLU and batch
        # norm run on (batch, filters, time) instead of the 59-times larger map.
        sign = torch.where(self.bn.weight < 0, -1.0, 1.0).to(h.dtype)
        out = F.conv2d(h, self.conv.weight * sign[:, None, None, None], self.conv.bias * sign)
        top = F.relu(out.amax(dim=3) * sign[None, :, None])
        return self.bn(top.unsqueeze(3)).squeeze(3)  # (batch, filters, time)


class _MidLayer(nn.Module):
    """The mid-end's 7-frame Conv1d over all channels -> ReLU -> batch norm."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv = nn.Conv1d(c_in, c_out, 7, padding=3)
        self.bn = _bn1d(c_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(F.relu(self.conv(x)))


class _MusicnnBase(NamedLayers, nn.Module):
    """What both musicnn architectures share: the patch geometry and the front end."""

    sample_rate = MUSICNN_SR
    edge_pad = MUSICNN_EDGE_PAD

    def _geometry(self, n_frames: int) -> None:
        self.n_frames = check_int("n_frames", n_frames)
        self.input_length = (self.n_frames - 1) * _HOP + _N_FFT
        self.segment_hop = self.n_frames * _HOP
        self.frontend = MusicnnFrontEnd()

    def activation_bytes(self) -> int:
        """Bytes of the widest activation of one patch in float32 (for batch sizes)."""
        raise NotImplementedError

    def forward(self, x: torch.Tensor, return_hidden=False):
        """Logits of waveform patches, and the named hidden layers asked for.

        Parameters
        ----------
        x : Tensor of shape (batch, input_length) or (batch, 1, input_length)
            16 kHz samples of one patch each (see the module docstring).
        return_hidden : bool or sequence of str, default=False

        Returns
        -------
        Tensor of shape (batch, n_outputs), or ``(logits, {name: (batch, channels, time)})``
        """
        x = self._as_input(x)[:, 0]
        return self.forward_mel(self.frontend(x.float()), return_hidden)

    def forward_mel(self, mel: torch.Tensor, return_hidden=False):
        """The network on log-mel patches of shape ``(batch, n_frames, 96)``."""
        raise NotImplementedError


class Musicnn(_MusicnnBase):
    """The musicnn tagger (Pons & Serra 2019): musically motivated front end, dense mid-end,
    temporal pooling back end.

    Front end: batch norm of the log-mel patch, then two timbral branches
    (7 frames x 38 and x 67 mel bands, 204 filters each) and three temporal
    branches (128, 64 and 32 frames x 1 band, 51 filters each), each max-pooled
    over the mel axis: 561 channels per frame. Mid-end: three 7-frame
    convolutions of ``midend_filters`` channels, the last two residual. Back end:
    the 753 channels (front end and mid-end, concatenated) max- and mean-pooled
    over time, batch norm, a dense layer of ``backend_units`` (ReLU, batch norm:
    the *penultimate* features), the output layer.

    Parameters
    ----------
    n_outputs : int, default=50
    midend_filters : int, default=64
    backend_units : int, default=200
    n_frames : int, default=187
        Frames per patch (3 s). The network pools over time, so other lengths
        work, as in the original's ``input_length``.
    dropout : float, default=0.5
        Before the dense and the output layers (training only).

    Attributes
    ----------
    hidden_layers : tuple of str
        ``timbral`` (408 channels per frame), ``temporal`` (153), ``cnn1``,
        ``cnn2``, ``cnn3`` (the mid-end, ``midend_filters`` each), ``max_pool``
        and ``mean_pool`` (753 each, pooled over the patch), ``penultimate``
        and ``taggram`` (the sigmoid of the logits); the pooled ones have a
        time axis of 1. The names are the original ``extractor()``'s keys.

    Examples
    --------
    >>> model = Musicnn().eval()
    >>> x = torch.zeros(2, model.input_length)
    >>> logits, hidden = model(x, return_hidden=["cnn3", "mean_pool"])
    >>> tuple(logits.shape), tuple(hidden["cnn3"].shape), tuple(hidden["mean_pool"].shape)
    ((2, 50), (2, 64, 187), (2, 753, 1))
    """

    hidden_layers = ("timbral", "temporal", "cnn1", "cnn2", "cnn3", "max_pool", "mean_pool",
                     "penultimate", "taggram")

    def __init__(self, n_outputs: int = 50, midend_filters: int = 64, backend_units: int = 200,
                 n_frames: int = _PATCH_FRAMES, dropout: float = 0.5) -> None:
        super().__init__()
        self.n_outputs, self.dropout_rate = check_head(n_outputs, dropout)
        self.midend_filters = check_int("midend_filters", midend_filters)
        self.backend_units = check_int("backend_units", backend_units)
        self._geometry(n_frames)
        timbral_filters, temporal_filters = int(1.6 * 128), int(1.6 * 32)
        self.input_bn = _bn2d(1)
        self.timbral = nn.ModuleList(
            _FrontBranch(timbral_filters, (7, int(share * _N_MELS)), (3, 3))
            for share in (0.4, 0.7)
        )
        self.temporal = nn.ModuleList(
            _FrontBranch(temporal_filters, (length, 1), ((length - 1) // 2, length // 2))
            for length in (128, 64, 32)
        )
        front = 2 * timbral_filters + 3 * temporal_filters
        m = self.midend_filters
        self.midend = nn.ModuleList([_MidLayer(front, m), _MidLayer(m, m), _MidLayer(m, m)])
        self.pooled_channels = front + 3 * m
        self.backend_bn = _bn1d(2 * self.pooled_channels)
        self.dense = nn.Linear(2 * self.pooled_channels, self.backend_units)
        self.dense_bn = _bn1d(self.backend_units)
        self.output = nn.Linear(self.backend_units, self.n_outputs)
        self.dropout = nn.Dropout(self.dropout_rate)

    @property
    def name(self) -> str:
        return "musicnn"

    def activation_bytes(self) -> int:
        # the 38-band timbral branch: 204 filters x frames x 59 mel positions
        return self.timbral[0].conv.out_channels * self.n_frames * (_N_MELS - 37) * 4

    def get_config(self) -> dict:
        """The constructor arguments that rebuild this architecture."""
        return {"n_outputs": self.n_outputs, "midend_filters": self.midend_filters,
                "backend_units": self.backend_units, "n_frames": self.n_frames,
                "dropout": self.dropout_rate}

    def forward_mel(self, mel: torch.Tensor, return_hidden=False):
        wanted = self._wanted_layers(return_hidden) if return_hidden else set()
        x = self.input_bn(mel.unsqueeze(1))  # (batch, 1, time, mel)
        timbral = [branch(x) for branch in self.timbral]
        temporal = [branch(x) for branch in self.temporal]
        front = torch.cat(timbral + temporal, dim=1)  # (batch, 561, time)
        cnn1 = self.midend[0](front)
        cnn2 = self.midend[1](cnn1) + cnn1
        cnn3 = self.midend[2](cnn2) + cnn2
        mid = torch.cat([front, cnn1, cnn2, cnn3], dim=1)  # (batch, 753, time)
        max_pool, mean_pool = mid.amax(dim=2), mid.mean(dim=2)
        # TensorFlow flattens (channels, [max, mean]): the two pools interleave
        flat = torch.stack([max_pool, mean_pool], dim=2).flatten(1)
        penultimate = self.dense_bn(F.relu(self.dense(self.dropout(self.backend_bn(flat)))))
        logits = self.output(self.dropout(penultimate))
        if not wanted:
            return logits
        every = {"timbral": lambda: torch.cat(timbral, dim=1),
                 "temporal": lambda: torch.cat(temporal, dim=1),
                 "cnn1": lambda: cnn1, "cnn2": lambda: cnn2, "cnn3": lambda: cnn3,
                 "max_pool": lambda: max_pool.unsqueeze(2),
                 "mean_pool": lambda: mean_pool.unsqueeze(2),
                 "penultimate": lambda: penultimate.unsqueeze(2),
                 "taggram": lambda: torch.sigmoid(logits).unsqueeze(2)}
        return logits, {name: every[name]() for name in wanted}


class MusicnnVGG(_MusicnnBase):
    """musicnn's VGG-like baseline: five 3x3 convolutions over the log-mel patch.

    Batch norm of the input, then five blocks of 3x3 convolution (``filters``
    channels, ReLU, batch norm) and max pooling ((4, 1) with stride 2, three
    times 2 x 2, then 4 x 4; time x mel, no padding), flattened into the
    output layer. Hidden layers ``pool1`` ... ``pool5`` are the pooled maps
    with the mel axis folded into the channels (channel ``f * filters + c``
    for mel bin ``f`` and filter ``c``, as the original's maps read
    row-major), and ``taggram``.

    Parameters
    ----------
    n_outputs : int, default=50
    filters : int, default=128
    n_frames : int, default=187
        The VGG models take 3 s patches only (the flattened map feeds the
        output layer).
    dropout : float, default=0.5

    Examples
    --------
    >>> model = MusicnnVGG().eval()
    >>> logits, hidden = model(torch.zeros(1, model.input_length), return_hidden=["pool5"])
    >>> tuple(logits.shape), tuple(hidden["pool5"].shape)
    ((1, 50), (1, 128, 2))
    """

    hidden_layers = ("pool1", "pool2", "pool3", "pool4", "pool5", "taggram")
    _POOLS = (((4, 1), (2, 2)), ((2, 2), (2, 2)), ((2, 2), (2, 2)), ((2, 2), (2, 2)),
              ((4, 4), (4, 4)))

    def __init__(self, n_outputs: int = 50, filters: int = 128, n_frames: int = _PATCH_FRAMES,
                 dropout: float = 0.5) -> None:
        super().__init__()
        self.n_outputs, self.dropout_rate = check_head(n_outputs, dropout)
        self.filters = check_int("filters", filters)
        self._geometry(n_frames)
        self.input_bn = _bn2d(1)
        self.convs = nn.ModuleList(
            nn.Conv2d(1 if i == 0 else self.filters, self.filters, 3, padding=1)
            for i in range(5)
        )
        self.bns = nn.ModuleList(_bn2d(self.filters) for _ in range(5))
        t, f = self.n_frames, _N_MELS
        for (kt, kf), (st, sf) in self._POOLS:
            t, f = (t - kt) // st + 1, (f - kf) // sf + 1
        if t < 1 or f < 1:
            raise ValueError(f"n_frames={n_frames} is too short for the VGG model's pools.")
        self.output = nn.Linear(t * f * self.filters, self.n_outputs)
        self.dropout = nn.Dropout(self.dropout_rate)

    @property
    def name(self) -> str:
        return "vgg"

    def activation_bytes(self) -> int:
        return self.filters * self.n_frames * _N_MELS * 4  # the first convolution

    def get_config(self) -> dict:
        """The constructor arguments that rebuild this architecture."""
        return {"n_outputs": self.n_outputs, "filters": self.filters,
                "n_frames": self.n_frames, "dropout": self.dropout_rate}

    def forward_mel(self, mel: torch.Tensor, return_hidden=False):
        wanted = self._wanted_layers(return_hidden) if return_hidden else set()
        h = self.input_bn(mel.unsqueeze(1))  # (batch, 1, time, mel)
        hidden = {}
        for k, (conv, bn, (kernel, stride)) in enumerate(zip(self.convs, self.bns, self._POOLS)):
            h = F.max_pool2d(bn(F.relu(conv(h))), kernel, stride)
            name = f"pool{k + 1}"
            if name in wanted:  # (batch, mel * filters, time), mel-major as the original
                b, c, t, f = h.shape
                hidden[name] = h.permute(0, 3, 1, 2).reshape(b, f * c, t)
        # the original flattens (time, mel, filters) row-major
        logits = self.output(self.dropout(h.permute(0, 2, 3, 1).flatten(1)))
        if not wanted:
            return logits
        if "taggram" in wanted:
            hidden["taggram"] = torch.sigmoid(logits).unsqueeze(2)
        return logits, hidden
