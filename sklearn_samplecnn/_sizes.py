"""SampleCNN architectures as numbers: module sizes from text, the paper's presets.

Standard library only, so the command line checks ``--sizes`` and ``--preset``
without importing torch; :mod:`sklearn_samplecnn.nn` re-exports every name.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["MULTISCALE_PRESETS", "SAMPLE_RATE_PRESETS", "parse_sizes", "preset_sizes"]

#: Table 3: per-module sizes for each sample rate (first = strided conv).
SAMPLE_RATE_PRESETS = {
    2000: (3, 3, 3, 3, 2, 2, 2, 2, 2, 2),
    4000: (3, 3, 3, 3, 2, 2, 2, 4, 2, 2),
    8000: (3, 3, 3, 3, 2, 2, 4, 4, 2, 2),
    12000: (3, 3, 3, 3, 3, 2, 4, 4, 2, 2),
    16000: (3, 3, 3, 3, 3, 3, 3, 5, 2, 2),
    20000: (3, 3, 3, 3, 3, 3, 3, 3, 4, 2),
    22050: (3,) * 10,
}

#: Table 4: the multi-scale models as (m, n): n modules of size m, input m^(n+1).
MULTISCALE_PRESETS = {
    "2^13": (2, 13),
    "2^14": (2, 14),
    "3^8": (3, 8),
    "3^9": (3, 9),
    "4^6": (4, 6),
    "4^7": (4, 7),
    "5^5": (5, 5),
    "5^6": (5, 6),
}


def parse_sizes(sizes: str | Sequence[int]) -> tuple[int, ...]:
    """Per-layer sizes from ``"3-3-2"``, ``"3^9"`` (m^n: n+1 layers of m) or a sequence."""
    if isinstance(sizes, str):
        text = sizes.strip()
        try:
            if "^" in text:
                m, n = (int(p) for p in text.split("^"))
                out = (m,) * (n + 1)
            else:
                out = tuple(int(p) for p in text.split("-"))
        except ValueError:
            raise ValueError(
                f"sizes must look like '3-3-3-2' or '3^9', got {sizes!r}."
            ) from None
    else:
        out = tuple(int(s) for s in sizes)
    if len(out) < 2 or any(s < 2 for s in out):
        raise ValueError(
            f"sizes needs a strided conv and at least one module, each of size >= 2; got {sizes!r}."
        )
    return out


def preset_sizes(preset: str | int) -> tuple[tuple[int, ...], int | None]:
    """The sizes of a paper model and its sample rate, without building it.

    Parameters
    ----------
    preset : str or int
        A Table 4 model (``"3^9"``, ``"5^6"``...) or a Table 3 sample rate
        (``8000`` or ``"8000"``).

    Returns
    -------
    (tuple of int, int or None)
        The per-module sizes, and the sample rate for a Table 3 preset
        (``None`` for Table 4's, which the paper ran at 22,050 Hz).

    Examples
    --------
    >>> preset_sizes("2^13")[0] == (2,) * 14, preset_sizes("8000")[1]
    (True, 8000)
    """
    text = str(preset).strip()
    if text in MULTISCALE_PRESETS:
        m, n = MULTISCALE_PRESETS[text]
        return (m,) * (n + 1), None
    if text.isdigit() and int(text) in SAMPLE_RATE_PRESETS:
        return SAMPLE_RATE_PRESETS[int(text)], int(text)
    raise ValueError(f"preset must be a Table 4 model ({', '.join(MULTISCALE_PRESETS)}) or a "
                     f"Table 3 rate ({', '.join(map(str, SAMPLE_RATE_PRESETS))}), got "
                     f"{preset!r}.")
