#!/usr/bin/env python3
"""Build the unlabelled real-music pool and the held-out labelled target from Debian packages.

Debian main carries game soundtracks under DFSG-free licences. This script
fetches them with the ordinary package client, extracts them, keeps the music,
decodes it to 16 kHz mono 16-bit FLAC and writes manifests. Two disjoint sets:

* ``pool``: unlabelled music for distillation (``<root>/pool``).
* ``eval``: a labelled target from packages kept out of the pool, label = the
  package ("which game's soundtrack"), group = the track (``<root>/eval``).

Every step skips work already done, so a rerun after a kill resumes::

    nice -n 10 .venv/bin/python scripts/music_pool.py --root /work/data all

Commands (each takes ``--set pool|eval|both``; ``fetch``, ``decode`` and
``inventory`` also take ``--packages``):

``inventory``
    List every audio file of the cached packages with its duration
    (``<root>/inventory.csv``), to choose packages; decodes nothing.
``fetch``
    ``apt-get download`` into ``<root>/debs`` (``apt-get update`` once if a
    package is unknown); refuses the never-use packages and debs over 700 MB.
``decode``
    ``dpkg-deb -x`` into ``<root>/extract/<package>``, find audio by content
    (Ogg Vorbis/Opus, FLAC, WAV, AIFF, MP3; tracker modules rendered by
    ``openmpt123`` when installed; files inside .zip/.pk3 archives), keep music
    (>= 30 s, not near-silent), downmix (mean of channels), resample (soxr HQ)
    and write ``<root>/<set>/audio/<package>/<path>.flac``. One record per file
    (kept or skipped, with the reason) goes to ``tracks.jsonl`` as it is done.
``licence``
    Copy each package's ``usr/share/doc/<package>/copyright`` (read from the
    deb) to ``<root>/<set>/audio/<package>/copyright``; the manifest takes
    each track's licence from it (DEP-5: the matching ``Files`` paragraph).
``manifest``
    Remove duplicate tracks across packages and sets (the eval copy wins, so the
    pool never holds an eval track), then write ``<root>/pool/manifest.csv``,
    ``<root>/eval/manifest.csv`` (plus ``label`` and ``group``),
    ``<root>/duplicates.csv`` and ``<root>/<set>/skipped.csv``.
``report``
    Hours and tracks per package and in total, printed and written to
    ``<root>/<set>/report.json``.
``clips``
    Fixed 10 s excerpts of the eval tracks as 16 kHz FLAC under
    ``<root>/eval/clips`` plus ``<root>/eval/clips.csv`` (path, label, group,
    start_s); see :func:`clip_starts` for the rule.
``all``
    fetch, decode (eval first, then pool), licence, manifest, report, clips.

The decoding helpers come from ``sklearn_samplecnn.audio`` (numpy only), so run
the script with the project's environment (``make install``). See
docs/music_pool.md for the packages, licences, hours and the exclusion rules.
"""

from __future__ import annotations

import argparse
import csv
import fnmatch
import hashlib
import io
import json
import logging
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np
import soundfile as sf

from sklearn_samplecnn._fileio import atomic_write
from sklearn_samplecnn.audio import resample

LOG = logging.getLogger("music_pool")

#: Output sample rate (Hz) of every decoded track and clip.
SR = 16000
#: Shorter sound (after trimming silence) is an effect, jingle or stinger, not
#: music: those run a few seconds in these packages, the music kept runs 30 s to
#: 29 min (median 2 min). A few short music loops go too; nothing else told
#: them apart from effects.
MIN_MUSIC_SECONDS = 30.0
#: A track whose overall RMS is below this (dBFS) is silence or a placeholder.
SILENT_DBFS = -50.0
#: Quieter stretches (dBFS, 50 ms blocks) are silence: trimmed at both ends of
#: a track before its length is measured, counted inside it.
SILENCE_DBFS = -60.0
#: A track with more silent 0.5 s frames than this is a fragment padded out.
MAX_SILENT_FRACTION = 0.5
#: Debs larger than this are not fetched (supertuxkart-data, ~628 MB, fits).
MAX_DEB_BYTES = 700_000_000
#: Tracker modules are rendered at this rate in mono (libopenmpt's own mono mix:
#: the mean of a stereo render cancels modules that play a voice in antiphase as
#: "surround", e.g. pingus' rough_journey.it), then decoded like a file.
RENDER_SR = 48000
#: A tracker render stops here even if the module loops forever.
RENDER_MAX_SECONDS = 1200

#: Kept apart for independent evaluation (issue 19): never fetched, never decoded.
#: A package is refused when its name is one of these or starts with one plus "-"
#: (``0ad-data``, ``wesnoth-1.16-music``; ``supertuxkart-data`` is another game).
NEVER_USE_GAMES = ("wesnoth", "0ad", "ufoai", "nexuiz", "naev", "warzone2100", "widelands",
                   "supertux", "hedgewars", "singularity")

#: The labelled target, one label per package ("which game's soundtrack"): the
#: eight packages outside the issue's list with the most music tracks (11 to 18
#: each, 44.1 kHz Vorbis except fillets-ng at 22.05 kHz; no tracker modules, so
#: no class is told apart by its synthesiser). None of them is in the pool.
EVAL_PACKAGES = (
    "colobot-common-sounds", "blobwars-data", "unknown-horizons", "warmux-data",
    "fillets-ng-data", "davegnukem-data", "flare-game", "starfighter-data",
)
#: The pool: the 15 packages named in issue 19, then every other Debian main
#: package found with at least one music track (docs/music_pool.md lists those
#: looked at and left out).
POOL_PACKAGES = (
    "asc-music", "boswars-data", "drascula-music", "extremetuxracer-data", "freedroidrpg-data",
    "frozen-bubble-data", "hyperrogue-music", "lincity-ng-data", "megaglest-data", "openclonk-data",
    "planetblupi-music-ogg", "pushover-data", "supertuxkart-data", "tomatoes-data",
    "xblast-tnt-musics",
    "a7xpg-data", "adonthell-data", "alienblaster-data", "amoebax-data", "ardentryst",
    "berusky2-data", "bomberclone-data", "brainparty-data", "btanks-data", "caveexpress-data",
    "cube2-data", "cuyo-data", "enigma-data", "fb-music-high", "freeciv-data", "freecol",
    "freedink-data", "freeorion-data", "fretsonfire-songs-muldjord", "fretsonfire-songs-sectoid",
    "funnyboat", "gigalomania-data", "glob2-data", "gunroar-data", "hex-a-hop-data",
    "holotz-castle-data", "lordsawar-data", "lugaru-data", "marsshooter-data", "mazeofgalious-data",
    "miceamaze", "mu-cade-data", "neverball-common", "noiz2sa-data", "open-invaders-data",
    "openarena-088-data", "parsec47-data", "pathological", "pax-britannica-data",
    "pekka-kana-2-data", "pinball-data", "pingus-data", "pink-pony-data", "plee-the-bear-data",
    "powermanga-data", "rafkill-data", "raincat-data", "ri-li-data", "rrootage-data",
    "scorched3d-data", "seahorse-adventures", "searchandrescue-data", "solarwolf", "spacezero",
    "tecnoballz-data", "titanion-data", "toppler", "torcs-data", "torus-trooper-data",
    "trackballs-data", "tumiki-fighters-data", "tuxfootball", "tuxmath-data", "tuxtype-data",
    "wizznic-data", "wordwarvi-sound", "xmoto-data", "zaz-data",
)
SETS = {"eval": EVAL_PACKAGES, "pool": POOL_PACKAGES}

#: Headerless PCM: xblast-tnt's songs are unsigned 8-bit mono; its sound server
#: (xbsndsrv) opens /dev/dsp at 22,050 Hz, the one rate constant in the binary.
RAW_PCM = {"xblast-tnt-musics": {"samplerate": 22050, "channels": 1, "subtype": "PCM_U8"}}

#: Files of 30 s or more that are not music (ambience, engines, speech, sound
#: effects, single-instrument stems: Plee the Bear's sequencer parts, the guitar
#: stem of a Fret on Fire song whose band stem is kept):
#: globs on the path inside the package, chosen by listing every long file
#: (the inventory command) and reading its path.
EXCLUDE_PATHS: dict[str, tuple[str, ...]] = {
    "ardentryst": ("*/Sounds/AMB_*",),
    "btanks-data": ("*/sounds/ambient/*",),
    "caveexpress-data": ("*/sounds/cave2.ogg",),
    "flare-game": ("*/soundfx/*",),
    "fretsonfire-songs-muldjord": ("*/guitar.ogg",),
    "fretsonfire-songs-sectoid": ("*/guitar.ogg",),
    "hyperrogue-music": ("usr/share/hyperrogue/sounds/*",),
    "lugaru-data": ("*/DesertAmbient.ogg", "*/Wind.ogg"),
    "megaglest-data": ("*/tilesets/*/sounds/*",),
    "plee-the-bear-data": ("*/sound/weather/*", "*/music/sequencer/*"),
    "scorched3d-data": ("*/data/wav/misc/*",),
    "searchandrescue-data": ("*/searchandrescue/sounds/*",),
    "supertuxkart-data": ("*/data/sfx/*", "*/data/library/*", "*/steamLocomotive.ogg",
                          "*_speech.ogg"),
    "unknown-horizons": ("*/audio/sounds/*",),
}

#: Licences read by hand where the copyright file's text gives no per-file
#: answer the parser can find (globs on the path inside the package).
LICENCE_OVERRIDES: dict[str, dict[str, str]] = {
    # copyright: "Most media files (images, sounds, musics, ...) are distributed
    # under the terms of the Creative Commons paternity share alike licence in
    # version 3.0"; the code is GPL-2+.
    "plee-the-bear-data": {"*/music/*": "CC-BY-SA-3.0"},
    # README-REPLACEMENTS.txt lists each recording that replaced a MIDI file.
    "freedink-data": {"*/Sound/1.ogg": "CC-BY-SA-3.0", "*/Sound/5.ogg": "GPL-3+",
                      "*/Sound/106.ogg": "OAL-1.0", "*/Sound/denube.ogg": "public-domain",
                      "*/Sound/lovin.ogg": "CC-BY-3.0"},
}

AUDIO_EXTENSIONS = {".ogg", ".oga", ".opus", ".mp3", ".flac", ".wav", ".aif", ".aiff",
                    ".mod", ".xm", ".it", ".s3m", ".raw"}
TRACKER_FORMATS = ("mod", "xm", "it", "s3m")
#: Which copy of a track to keep when one package has it in several formats.
FORMAT_RANK = {"flac": 0, "wav": 1, "aiff": 1, "vorbis": 2, "opus": 2, "ogg": 2, "mp3": 3,
               "xm": 4, "it": 4, "s3m": 4, "mod": 4, "raw": 5}
_MOD_MAGIC = {b"M.K.", b"M!K!", b"M&K!", b"N.T.", b"FLT4", b"FLT8", b"4CHN", b"6CHN", b"8CHN",
              b"CD81", b"OKTA", b"OCTA", b"16CH", b"32CH"}

MANIFEST_COLUMNS = ["package", "version", "licence", "source_path", "audio_path", "duration_s",
                    "original_sr", "original_format", "sha1"]
EVAL_COLUMNS = [*MANIFEST_COLUMNS, "label", "group"]
CLIPS_COLUMNS = ["path", "label", "group", "start_s"]

#: Envelope fingerprint: log energy per 0.5 s, relative to the track's mean, floored.
ENVELOPE_HOP_SECONDS = 0.5
_ENVELOPE_FLOOR_DB = -60.0


# --------------------------------------------------------------------------- rules

def never_use_reason(package: str) -> str | None:
    """Why ``package`` must never be used, or None when it may be.

    >>> never_use_reason("0ad-data")
    'never-use package (game 0ad, kept for independent evaluation)'
    >>> never_use_reason("supertuxkart-data") is None
    True
    """
    if "music21" in package:
        return "never-use: the music21 corpus"
    for game in NEVER_USE_GAMES:
        if package == game or package.startswith(game + "-"):
            return f"never-use package (game {game}, kept for independent evaluation)"
    return None


def check_package(package: str) -> None:
    """Raise ValueError naming ``package`` when the never-use rules refuse it."""
    reason = never_use_reason(package)
    if reason is not None:
        raise ValueError(f"package {package!r} refused: {reason}.")


def sniff(head: bytes, name: str) -> str | None:
    """The audio format of a file from its first 2,048 bytes.

    The name counts only for MP3 without an ID3 tag (a frame sync alone is too
    common) and for archives (.zip, .pk3), which are searched for audio.

    Returns one of ``vorbis``, ``opus``, ``ogg``, ``flac``, ``wav``, ``aiff``,
    ``mp3``, ``xm``, ``it``, ``s3m``, ``mod``, ``midi``, ``zip`` or None.
    """
    suffix = PurePosixPath(name).suffix.lower()
    if head.startswith(b"OggS"):
        if b"OpusHead" in head[:64]:
            return "opus"
        return "vorbis" if b"\x01vorbis" in head[:64] else "ogg"
    if head.startswith(b"fLaC"):
        return "flac"
    if head[:4] in (b"RIFF", b"RF64") and head[8:12] == b"WAVE":
        return "wav"
    if head.startswith(b"FORM") and head[8:12] in (b"AIFF", b"AIFC"):
        return "aiff"
    if head.startswith(b"ID3") or (suffix in (".mp3", ".mp2") and len(head) > 1
                                   and head[0] == 0xFF and head[1] & 0xE0 == 0xE0):
        return "mp3"
    if head.startswith(b"Extended Module:"):
        return "xm"
    if head.startswith(b"IMPM"):
        return "it"
    if head[44:48] == b"SCRM":
        return "s3m"
    if head[1080:1084] in _MOD_MAGIC:
        return "mod"
    if head.startswith(b"MThd"):
        return "midi"
    if head.startswith(b"PK\x03\x04") and suffix in (".zip", ".pk3"):
        return "zip"
    return None


def track_stem(source_path: str) -> str:
    """``source_path`` without an audio extension: the name its FLAC and its siblings share."""
    path = PurePosixPath(source_path.replace("!", "/"))
    if path.suffix.lower() in AUDIO_EXTENSIONS:
        path = path.with_suffix("")
    return str(path)


def is_excluded(package: str, source_path: str) -> bool:
    """Whether ``source_path`` matches one of the package's non-music globs."""
    return any(fnmatch.fnmatchcase(source_path, pattern)
               for pattern in EXCLUDE_PATHS.get(package, ()))


# --------------------------------------------------------------------------- licences

def parse_control(text: str) -> list[dict[str, str]]:
    """Paragraphs of a Debian control-style file: field name (lower case) -> value.

    Continuation lines are joined with newlines; a lone ``.`` stands for an empty line.
    """
    paragraphs: list[dict[str, str]] = []
    current: dict[str, str] = {}
    field = None
    for line in text.splitlines():
        if not line.strip():
            if current:
                paragraphs.append(current)
            current, field = {}, None
        elif line[0] in " \t" and field is not None:
            value = line.strip()
            current[field] += "\n" + ("" if value == "." else value)
        elif ":" in line and not line.startswith("#"):
            field, value = line.split(":", 1)
            field = field.strip().lower()
            current[field] = value.strip()
    if current:
        paragraphs.append(current)
    return paragraphs


def _dep5_matches(pattern: str, path: str) -> bool:
    # DEP-5 patterns are relative to the source tree; installed paths carry a prefix
    # (usr/share/games/<game>/...), so a pattern also matches at any folder boundary.
    return fnmatch.fnmatchcase(path, pattern) or fnmatch.fnmatchcase(path, "*/" + pattern)


_FREE_TEXT_LICENCES = [  # (pattern, name); at one position the earlier entry wins
    (r"GNU\s+(?:Lesser|Library)\s+General\s+Public\s+Licen[cs]e", "LGPL"),
    (r"GNU\s+General\s+Public\s+Licen[cs]e|GNU\s+GPL\b|\bGPL\b", "GPL"),
    (r"Creative\s+Commons\s+Attribution[\s-]+Share[\s-]?Alike|\bCC[\s-]BY[\s-]SA\b", "CC-BY-SA"),
    (r"Creative\s+Commons\s+Attribution|\bCC[\s-]BY\b", "CC-BY"),
    (r"\bCC0\b", "CC0-1.0"),
    (r"\bISC\s+licen[cs]e", "ISC"),
    (r"Artistic\s+Licen[cs]e", "Artistic"),
    (r"Permission\s+is\s+hereby\s+granted,\s+free\s+of\s+charge", "Expat"),
    (r"Redistribution\s+and\s+use\s+in\s+source\s+and\s+binary\s+forms", "BSD"),
    (r"public\s+domain", "public-domain"),
]
_VERSIONED = ("LGPL", "GPL", "CC-BY-SA", "CC-BY", "Artistic")


def detect_licence(text: str) -> str:
    """The licence a free-text copyright file names first, with its version when given.

    Free-text files mostly state the work's licence first; a licence named
    within 300 characters after the word "packaging" is the Debian
    packaging's and is passed over.
    """
    found = []
    for rank, (pattern, name) in enumerate(_FREE_TEXT_LICENCES):
        for match in re.finditer(pattern, text, flags=re.I):
            # The Debian packaging's own licence is not the work's.
            if not re.search(r"packaging", text[max(0, match.start() - 300):match.start()],
                             flags=re.I):
                found.append((match.start(), rank, match.end(), name))
                break
    if not found:
        return "unknown"
    _, _, end, name = min(found)
    tail = text[end:end + 400]
    if name == "BSD":
        return "BSD-3-Clause" if re.search(r"Neither\s+the\s+name", text[end:end + 2000],
                                           flags=re.I) else "BSD-2-Clause"
    if name in _VERSIONED:
        version = re.search(r"(?:version|v)\s*(\d(?:\.\d)?)", tail, flags=re.I)
        if name.startswith("CC"):
            version = version or re.search(r"\b(\d\.\d)\b", tail[:200])
        if version:
            name = f"{name}-{version.group(1)}"
            if re.search(r"any\s+later\s+version", tail, flags=re.I):
                name += "+"
    return name


def licence_for(copyright_text: str, path: str) -> str:
    """The licence of ``path`` (a path inside the package) from a copyright file.

    A machine-readable (DEP-5) file gives the ``License`` of the last ``Files``
    paragraph whose pattern matches the path, else the header's ``License``,
    else the first ``License`` in the file (the draft format's ``Licence`` and
    ``Format-Specification`` spellings are read too). A free-text file gives
    the first licence it names (:func:`detect_licence`).
    """
    paragraphs = [{("license" if k == "licence" else k): v for k, v in p.items()}
                  for p in parse_control(copyright_text)]
    header = paragraphs[0] if paragraphs else {}
    if "format" not in header and "format-specification" not in header:
        return detect_licence(copyright_text)
    chosen = None
    for paragraph in paragraphs:
        patterns = paragraph.get("files", "").replace(",", " ").split()
        if any(_dep5_matches(p, path) for p in patterns) and "license" in paragraph:
            chosen = paragraph
    for paragraph in [chosen, header, *paragraphs]:
        if paragraph and paragraph.get("license"):
            return paragraph["license"].splitlines()[0].strip()
    return "unknown"


def track_licence(package: str, copyright_text: str, source_path: str) -> str:
    """A track's licence: a hand-read override, else :func:`licence_for` on the copyright file."""
    path = source_path.replace("!", "/")
    for pattern, licence in LICENCE_OVERRIDES.get(package, {}).items():
        if fnmatch.fnmatchcase(path, pattern):
            return licence
    return licence_for(copyright_text, path)


# --------------------------------------------------------------------------- fingerprints

def envelope(y: np.ndarray, sr: int = SR, hop_seconds: float = ENVELOPE_HOP_SECONDS) -> np.ndarray:
    """Log energy (dB) per ``hop_seconds`` frame relative to the track's mean energy.

    Level, channel layout and codec barely move it, so two encodings of one
    track give nearly the same curve. Floored at -60 dB.
    """
    hop = max(1, int(round(hop_seconds * sr)))
    n = len(y) // hop
    if n == 0:
        return np.zeros(0, dtype=np.float32)
    energy = np.mean(np.square(y[:n * hop].reshape(n, hop), dtype=np.float64), axis=1)
    db = 10 * np.log10(energy / max(energy.mean(), 1e-20) + 1e-12)
    return np.maximum(db, _ENVELOPE_FLOOR_DB).astype(np.float32)


def same_track(a: dict, b: dict, *, max_lag: int = 4, min_corr: float = 0.95,
               max_median_db: float = 2.0, min_frames: int = 56) -> bool:
    """Whether two decoded tracks are copies of one recording.

    ``a`` and ``b`` carry an ``envelope`` (see :func:`envelope`). They are
    copies when, shifted against each other by at most ``max_lag`` frames (2 s),
    their envelopes over the shorter one's length (at least ``min_frames``
    frames where either is sounding; silence in both is left out) correlate
    at ``min_corr`` or more with a median difference of at most
    ``max_median_db``. Level, codec and rate changes keep a copy a copy; so do
    a shorter render or a cut that starts where the other does (the same piece
    stopped earlier). An excerpt from the middle of a track is not found.
    """
    ea, eb = np.asarray(a["envelope"], dtype=np.float64), np.asarray(b["envelope"], np.float64)
    for lag in range(-max_lag, max_lag + 1):
        x, y = ea[max(0, lag):], eb[max(0, -lag):]
        n = min(len(x), len(y))
        if n < min_frames:
            continue
        x, y = x[:n], y[:n]
        active = np.maximum(x, y) > _ENVELOPE_FLOOR_DB + 10  # silence in both says nothing
        if active.sum() < min_frames:
            continue
        x, y = x[active], y[active]
        if np.median(np.abs(x - y)) > max_median_db:
            continue
        if x.std() == 0 or y.std() == 0:
            if np.array_equal(x, y):
                return True
            continue
        if np.corrcoef(x, y)[0, 1] >= min_corr:
            return True
    return False


def _head_similarity(records: list[dict], *, max_lag: int = 4, frames: int = 52) -> np.ndarray:
    """Best correlation, over shifts of up to ``max_lag`` frames, of every pair's first 30 s.

    One matrix product per shift: the cheap screen that :func:`find_duplicates`
    runs before :func:`same_track` on the few pairs that pass it.
    """
    need = frames + 2 * max_lag
    heads = np.full((len(records), need), np.nan)
    for i, r in enumerate(records):
        e = np.asarray(r["envelope"], dtype=np.float64)[:need]
        heads[i, :len(e)] = e

    def z(block: np.ndarray) -> np.ndarray:
        block = block - np.nanmean(block, axis=1, keepdims=True)
        block = block / np.maximum(np.nanstd(block, axis=1, keepdims=True), 1.0)
        return np.nan_to_num(block) / np.sqrt(frames)

    core = z(heads[:, max_lag:max_lag + frames])
    best = np.full((len(records), len(records)), -1.0)
    for lag in range(-max_lag, max_lag + 1):
        shifted = z(heads[:, max_lag + lag:max_lag + lag + frames])
        np.maximum(best, core @ shifted.T, out=best)
    return np.maximum(best, best.T)


def find_duplicates(records: list[dict], *, screen: float = 0.85) -> dict[int, int]:
    """Index of each duplicate record -> index of the earlier record it copies.

    Records are in priority order: the first copy of a track is kept. Two
    records are copies when their decoded FLACs are identical (``sha1``) or
    :func:`same_track` says so; only pairs whose first 30 s correlate at
    ``screen`` or more (:func:`_head_similarity`) are compared in full.
    """
    if not records:
        return {}
    similar = _head_similarity(records) >= screen
    first_with_sha1: dict[str, int] = {}
    kept: list[int] = []
    duplicates: dict[int, int] = {}
    for i, record in enumerate(records):
        sha1 = record.get("sha1")
        if sha1 in first_with_sha1:
            duplicates[i] = first_with_sha1[sha1]
            continue
        for j in kept:
            if similar[i, j] and same_track(records[j], record):
                duplicates[i] = j
                break
        else:
            kept.append(i)
            if sha1:
                first_with_sha1[sha1] = i
    return duplicates


# --------------------------------------------------------------------------- manifests, clips

def write_csv(path: str | Path, rows: list[dict], columns: list[str]) -> Path:
    """Write ``rows`` (dicts with at least ``columns``) as CSV, atomically.

    Raises ValueError naming the row and the missing columns when one lacks a column.
    """
    for i, row in enumerate(rows):
        missing = [c for c in columns if c not in row]
        if missing:
            raise ValueError(f"{path}: row {i} lacks the columns {missing}.")

    def write(f) -> None:
        text = io.TextIOWrapper(f, encoding="utf-8", newline="")
        writer = csv.DictWriter(text, fieldnames=columns, extrasaction="ignore",
                                lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        text.flush()
        text.detach()

    return atomic_write(path, write)


def write_json(path: str | Path, obj: object) -> Path:
    """Write ``obj`` as indented JSON, atomically."""
    data = json.dumps(obj, indent=2, sort_keys=False).encode() + b"\n"
    return atomic_write(path, lambda f: f.write(data))


def clip_starts(duration: float, *, clip_seconds: float = 10.0, max_clips: int = 6,
                margin_seconds: float = 5.0) -> list[float]:
    """Start times (s) of the fixed excerpts of a track: the clips rule.

    The first and last ``margin_seconds`` are skipped (fades, silence). The
    rest holds ``n = min(max_clips, floor(rest / clip_seconds))`` clips, each
    centred in one of ``n`` equal parts of the rest, so they never overlap and
    spread over the whole track. Times are rounded to the millisecond.

    >>> clip_starts(60.0)
    [5.0, 15.0, 25.0, 35.0, 45.0]
    >>> clip_starts(19.0)
    []
    """
    usable = duration - 2 * margin_seconds
    n = min(max_clips, int(usable // clip_seconds)) if usable > 0 else 0
    part = usable / n if n else 0.0
    return [round(margin_seconds + part * (k + 0.5) - clip_seconds / 2, 3) for k in range(n)]


def summarise(rows: list[dict]) -> dict:
    """Tracks, hours and licences per package and in total, from manifest rows."""
    packages: dict[str, dict] = {}
    for row in rows:
        entry = packages.setdefault(row["package"], {"tracks": 0, "seconds": 0.0,
                                                     "licences": Counter()})
        entry["tracks"] += 1
        entry["seconds"] += float(row["duration_s"])
        entry["licences"][row["licence"]] += 1
    out = {name: {"tracks": e["tracks"], "hours": round(e["seconds"] / 3600, 3),
                  "licences": dict(e["licences"].most_common())}
           for name, e in sorted(packages.items())}
    total_seconds = sum(float(r["duration_s"]) for r in rows)
    return {"packages": out,
            "total": {"packages": len(out), "tracks": len(rows),
                      "hours": round(total_seconds / 3600, 3)}}


# --------------------------------------------------------------------------- the data layout

@dataclass(frozen=True)
class Layout:
    """Where everything lives under the data root."""

    root: Path

    @property
    def debs(self) -> Path:
        return self.root / "debs"

    @property
    def extract(self) -> Path:
        return self.root / "extract"

    def set_dir(self, which: str) -> Path:
        return self.root / which

    def package_dir(self, which: str, package: str) -> Path:
        return self.root / which / "audio" / package

    def deb(self, package: str) -> Path | None:
        found = sorted(self.debs.glob(f"{package}_*.deb"))
        return found[-1] if found else None


# --------------------------------------------------------------------------- fetch

def _run(cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, **kwargs)


def deb_size(package: str) -> int | None:
    """The candidate's download size from ``apt-cache show``, or None when unknown."""
    proc = _run(["apt-cache", "show", "--no-all-versions", package])
    match = re.search(r"^Size:\s*(\d+)", proc.stdout, flags=re.M)
    return int(match.group(1)) if proc.returncode == 0 and match else None


def fetch(layout: Layout, packages: list[str]) -> None:
    """Download the packages' debs into the cache, skipping those already there."""
    layout.debs.mkdir(parents=True, exist_ok=True)
    updated = False
    for package in packages:
        check_package(package)
        if layout.deb(package):
            LOG.debug("%s: in the cache", package)
            continue
        size = deb_size(package)
        if size is None and not updated:
            _run(["apt-get", "update"])
            updated = True
            size = deb_size(package)
        if size is None:
            LOG.warning("%s: not known to apt; skipped", package)
            continue
        if size > MAX_DEB_BYTES:
            LOG.warning("%s: %.0f MB is over the %.0f MB limit; skipped", package, size / 1e6,
                        MAX_DEB_BYTES / 1e6)
            continue
        proc = _run(["apt-get", "download", package], cwd=layout.debs)
        if proc.returncode != 0 or not layout.deb(package):
            LOG.warning("%s: apt-get download failed: %s", package, proc.stderr.strip()[-300:])
        else:
            LOG.info("%s: fetched %.1f MB", package, size / 1e6)


# --------------------------------------------------------------------------- extract, find

@dataclass(frozen=True)
class Candidate:
    """One audio file of a package: a file, or a member of an archive file."""

    source_path: str  # inside the package; "archive!member" for archive members
    fmt: str
    file: Path
    member: str | None = None

    def read_bytes(self) -> bytes:
        if self.member is None:
            return self.file.read_bytes()
        with zipfile.ZipFile(self.file) as archive:
            return archive.read(self.member)


def extract(layout: Layout, package: str) -> tuple[Path, str]:
    """Unpack the package's deb into a fresh folder; return it and the package version."""
    deb = layout.deb(package)
    if deb is None:
        raise FileNotFoundError(f"{layout.debs}: no {package}_*.deb; run the fetch command first.")
    tree = layout.extract / package
    shutil.rmtree(tree, ignore_errors=True)
    tree.mkdir(parents=True)
    proc = _run(["dpkg-deb", "-x", str(deb), str(tree)])
    if proc.returncode != 0:
        raise OSError(f"{deb}: dpkg-deb -x failed: {proc.stderr.strip()}")
    version = _run(["dpkg-deb", "-f", str(deb), "Version"]).stdout.strip()
    return tree, version


def find_audio(tree: Path, package: str) -> tuple[list[Candidate], list[tuple[str, str]]]:
    """The package's audio candidates (by content, not extension) and the files set aside."""
    found: list[Candidate] = []
    aside: list[tuple[str, str]] = []
    for path in sorted(p for p in tree.rglob("*") if p.is_file() and not p.is_symlink()):
        rel = path.relative_to(tree).as_posix()
        if rel.startswith("usr/share/doc/"):
            continue
        with open(path, "rb") as f:
            head = f.read(2048)
        fmt = sniff(head, rel)
        if fmt is None and package in RAW_PCM and path.suffix.lower() == ".raw":
            fmt = "raw"
        if fmt == "zip":
            try:
                with zipfile.ZipFile(path) as archive:
                    for info in archive.infolist():
                        if info.is_dir():
                            continue
                        with archive.open(info) as member:
                            member_fmt = sniff(member.read(2048), info.filename)
                        if member_fmt in FORMAT_RANK:
                            found.append(Candidate(f"{rel}!{info.filename}", member_fmt, path,
                                                   info.filename))
            except zipfile.BadZipFile as exc:
                aside.append((rel, f"unreadable archive: {exc}"))
        elif fmt == "midi":
            aside.append((rel, "MIDI: no renderer used (a General MIDI synth is not the music)"))
        elif fmt in FORMAT_RANK:
            found.append(Candidate(rel, fmt, path))
    return found, aside


# --------------------------------------------------------------------------- decode

def _render_tracker(data: bytes, fmt: str) -> tuple[np.ndarray, int]:
    openmpt = shutil.which("openmpt123")
    if openmpt is None:
        raise RuntimeError("tracker module: openmpt123 is not installed "
                           "(apt-get install openmpt123)")
    with tempfile.TemporaryDirectory() as tmp:
        src, out = Path(tmp) / f"module.{fmt}", Path(tmp) / "render.wav"
        src.write_bytes(data)
        proc = _run([openmpt, "--batch", "--quiet", "--samplerate", str(RENDER_SR),
                     "--channels", "1", "--end-time", str(RENDER_MAX_SECONDS), "--force",
                     "-o", str(out), "--", str(src)])
        if proc.returncode != 0 or not out.exists():
            raise RuntimeError(f"openmpt123 failed: {proc.stderr.strip()[-200:]}")
        data_, sr = sf.read(out, dtype="float32", always_2d=True)
    return data_, sr


def decode(candidate: Candidate, package: str) -> tuple[np.ndarray, int, str]:
    """Samples ``(frames, channels)`` float32, the original rate, and a format label."""
    if candidate.fmt in TRACKER_FORMATS:
        data, sr = _render_tracker(candidate.read_bytes(), candidate.fmt)
        return data, sr, f"{candidate.fmt} (rendered in mono by openmpt123 at {RENDER_SR} Hz)"
    if candidate.fmt == "raw":
        spec = RAW_PCM[package]
        data, sr = sf.read(candidate.file, format="RAW", dtype="float32", always_2d=True, **spec)
        return data, sr, f"raw {spec['subtype']} {spec['channels']} ch"
    source = candidate.file if candidate.member is None else io.BytesIO(candidate.read_bytes())
    data, sr = sf.read(source, dtype="float32", always_2d=True)
    return data, sr, candidate.fmt


def _block_dbfs(y: np.ndarray, block: int) -> np.ndarray:
    n = len(y) // block
    power = np.mean(np.square(y[:n * block].reshape(n, block), dtype=np.float64), axis=1)
    return 10 * np.log10(power + 1e-20)


def sound_span(y: np.ndarray, sr: int, *, block_seconds: float = 0.05) -> tuple[int, int]:
    """First and last sample (exclusive) of ``y`` outside its leading and trailing silence.

    Silence is a ``block_seconds`` block below ``SILENCE_DBFS``. All silence: ``(0, 0)``.
    """
    block = max(1, int(round(block_seconds * sr)))
    loud = np.flatnonzero(_block_dbfs(y, block) >= SILENCE_DBFS)
    if len(loud) == 0:
        return 0, 0
    return int(loud[0] * block), int(min(len(y), (loud[-1] + 1) * block))


def silent_fraction(y: np.ndarray, sr: int, *, frame_seconds: float = 0.5) -> float:
    """Share of ``frame_seconds`` frames below ``SILENCE_DBFS``."""
    levels = _block_dbfs(y, max(1, int(round(frame_seconds * sr))))
    return float(np.mean(levels < SILENCE_DBFS)) if len(levels) else 1.0


def _flac_name(package_dir: Path, source_path: str) -> Path:
    return package_dir / (track_stem(source_path) + ".flac")


def decode_track(candidate: Candidate, package: str, package_dir: Path) -> dict:
    """Decode one candidate; write its FLAC if it is music. Returns its record."""
    record: dict = {"source_path": candidate.source_path, "format": candidate.fmt}
    try:
        data, sr, label = decode(candidate, package)
    except Exception as exc:  # a bad file is logged and skipped; the package goes on
        return {**record, "status": "skipped", "reason": f"decode failed: {exc}"}
    duration = len(data) / sr if sr else 0.0
    record.update(original_sr=int(sr), original_format=label,
                  original_duration_s=round(duration, 3))
    if duration < MIN_MUSIC_SECONDS:
        return {**record, "status": "skipped",
                "reason": f"short: {duration:.1f} s < {MIN_MUSIC_SECONDS:.0f} s"}
    if not np.all(np.isfinite(data)):
        return {**record, "status": "skipped", "reason": "non-finite samples"}
    mono = data.mean(axis=1, dtype=np.float32)
    first, last = sound_span(mono, sr)
    if last == 0 and any(sound_span(channel, sr)[1] for channel in data.T):
        return {**record, "status": "skipped",
                "reason": "channels cancel out in the mono mix (antiphase)"}
    del data
    record["trim_s"] = [round(first / sr, 3), round((len(mono) - last) / sr, 3)]
    mono = mono[first:last]
    if len(mono) < MIN_MUSIC_SECONDS * sr:
        return {**record, "status": "skipped", "reason": f"short: {len(mono) / sr:.1f} s of "
                f"sound between silences < {MIN_MUSIC_SECONDS:.0f} s"}
    rms = float(np.sqrt(np.mean(np.square(mono, dtype=np.float64))))
    if 20 * np.log10(max(rms, 1e-12)) < SILENT_DBFS:
        return {**record, "status": "skipped",
                "reason": f"near-silent: RMS below {SILENT_DBFS:.0f} dBFS"}
    quiet = silent_fraction(mono, sr)
    if quiet > MAX_SILENT_FRACTION:
        return {**record, "status": "skipped",
                "reason": f"mostly silent: {100 * quiet:.0f} % of 0.5 s frames below "
                f"{SILENCE_DBFS:.0f} dBFS"}
    y = resample(mono, orig_sr=sr, target_sr=SR, res_type="soxr_hq")
    y = np.clip(y, -1.0, 1.0)
    out = _flac_name(package_dir, candidate.source_path)
    atomic_write(out, lambda f: sf.write(f, y, SR, format="FLAC", subtype="PCM_16"))
    return {**record, "status": "kept", "audio_path": str(out),
            "duration_s": round(len(y) / SR, 3), "sha1": hashlib.sha1(out.read_bytes()).hexdigest(),
            "envelope": [round(float(v), 1) for v in envelope(y)]}


def _read_records(path: Path) -> list[dict]:
    records = []
    if path.exists():
        for line in path.read_text().splitlines():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:  # a line cut short by a kill: decoded again
                LOG.debug("%s: ignoring a partial line", path)
    return records


def _best_per_stem(candidates: list[Candidate]) -> tuple[list[Candidate], list[tuple[str, str]]]:
    groups: dict[str, list[Candidate]] = defaultdict(list)
    for c in candidates:
        groups[track_stem(c.source_path).lower()].append(c)
    keep, aside = [], []
    for group in groups.values():
        group.sort(key=lambda c: (FORMAT_RANK[c.fmt], c.source_path))
        keep.append(group[0])
        aside += [(c.source_path, f"same track as {group[0].source_path} (format preference)")
                  for c in group[1:]]
    return sorted(keep, key=lambda c: c.source_path), aside


def read_copyright(deb: Path, package: str) -> tuple[str, str]:
    """The package's copyright file (text, path inside the package) read from its deb.

    ``usr/share/doc/<package>/copyright``, else the first other copyright file
    in the deb (a doc folder that is a symbolic link to another package's);
    ``("", "")`` when there is none.
    """
    wanted = f"usr/share/doc/{package}/copyright"
    proc = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(deb)], stdout=subprocess.PIPE)
    found: dict[str, str] = {}
    try:
        with tarfile.open(fileobj=proc.stdout, mode="r|") as tar:
            for member in tar:
                name = member.name.lstrip("./")
                if member.isfile() and fnmatch.fnmatchcase(name, "usr/share/doc/*/copyright"):
                    found[name] = tar.extractfile(member).read().decode("utf-8", "replace")
    finally:
        proc.stdout.close()
        proc.wait()
    for name in [wanted, *sorted(found)]:
        if name in found:
            return found[name], name
    return "", ""


def copyright_format(text: str) -> str:
    """``DEP-5`` (machine-readable), ``free text`` or ``missing``."""
    header = (parse_control(text)[:1] or [{}])[0]
    if "format" in header or "format-specification" in header:
        return "DEP-5"
    return "free text" if text.strip() else "missing"


def decode_package(layout: Layout, which: str, package: str, *, keep_extract: bool = False) -> None:
    """Extract, find and decode one package; resumes from its ``tracks.jsonl``."""
    check_package(package)
    package_dir = layout.package_dir(which, package)
    done = package_dir / "done.json"
    if done.exists():
        LOG.debug("%s: done", package)
        return
    if layout.deb(package) is None:
        LOG.warning("%s: no deb in %s; fetch it first", package, layout.debs)
        return
    package_dir.mkdir(parents=True, exist_ok=True)
    log_path = package_dir / "tracks.jsonl"
    records = _read_records(log_path)
    if log_path.exists() and not log_path.read_bytes().endswith(b"\n"):
        # A kill cut the last line short: keep the whole records, append after them.
        data = "".join(json.dumps(r) + "\n" for r in records).encode()
        atomic_write(log_path, lambda f: f.write(data))
    seen = {r["source_path"] for r in records}
    tree, version = extract(layout, package)
    try:
        candidates, aside = find_audio(tree, package)
        candidates, same_stem = _best_per_stem(candidates)
        aside = [(p, r) for p, r in aside + same_stem if p not in seen]
        aside += [(c.source_path, "excluded: not music (EXCLUDE_PATHS)") for c in candidates
                  if c.source_path not in seen and is_excluded(package, c.source_path)]
        todo = [c for c in candidates
                if c.source_path not in seen and not is_excluded(package, c.source_path)]
        LOG.info("%s %s: %d audio files to decode (%d done before)", package, version,
                 len(todo), len(seen))
        with open(log_path, "a") as log:
            for source_path, reason in aside:
                log.write(json.dumps({"source_path": source_path, "status": "skipped",
                                      "reason": reason}) + "\n")
            for candidate in todo:
                record = decode_track(candidate, package, package_dir)
                record.update(package=package, version=version)
                if record["status"] == "skipped":  # effects and jingles at debug level
                    level = logging.DEBUG if record["reason"].startswith("short") else logging.INFO
                    LOG.log(level, "%s: skip %s: %s", package, candidate.source_path,
                            record["reason"])
                log.write(json.dumps(record) + "\n")
                log.flush()
        records = _read_records(log_path)
        kept = [r for r in records if r.get("status") == "kept"]
        write_json(done, {"package": package, "version": version, "deb": layout.deb(package).name,
                          "kept": len(kept), "skipped": len(records) - len(kept),
                          "hours": round(sum(r["duration_s"] for r in kept) / 3600, 3)})
        LOG.info("%s: %d tracks kept, %.2f h", package, len(kept),
                 sum(r["duration_s"] for r in kept) / 3600)
    finally:
        if not keep_extract:
            shutil.rmtree(tree, ignore_errors=True)


def write_licences(layout: Layout, which: str) -> None:
    """Keep each decoded package's copyright file next to its audio (``copyright``).

    The manifest reads every track's licence from it (:func:`licence_for`); it
    also holds the attributions that CC-BY music asks for.
    """
    for package in SETS[which]:
        package_dir = layout.package_dir(which, package)
        target = package_dir / "copyright"
        if target.exists() or not (package_dir / "done.json").exists():
            continue
        text, path = read_copyright(layout.deb(package), package)
        if not text:
            LOG.warning("%s: no copyright file in the deb; licences will read 'unknown'", package)
        atomic_write(target, lambda f, t=text: f.write(t.encode()))
        LOG.info("%s: licence from %s (%s)", package, path or "nothing", copyright_format(text))


def _package_copyright(layout: Layout, which: str, package: str) -> str:
    path = layout.package_dir(which, package) / "copyright"
    if not path.exists():
        raise FileNotFoundError(f"{path}: not found; run the licence command first.")
    return path.read_text()


# --------------------------------------------------------------------------- inventory

def _tracker_duration(path: Path) -> float:
    proc = _run(["openmpt123", "--info", "--", str(path)])
    match = re.search(r"Duration\.*:\s*(?:(\d+):)?(\d+):(\d+(?:\.\d+)?)", proc.stdout)
    if not match:
        return float("nan")
    h, m, s = match.groups()
    return int(h or 0) * 3600 + int(m) * 60 + float(s)


def inventory(layout: Layout, packages: list[str]) -> list[dict]:
    """Every audio file of the packages with its duration; decodes headers only."""
    rows = []
    for package in packages:
        if never_use_reason(package) or layout.deb(package) is None:
            continue
        tree, version = extract(layout, package)
        try:
            candidates, aside = find_audio(tree, package)
            for c in candidates:
                row = {"package": package, "version": version, "source_path": c.source_path,
                       "format": c.fmt, "duration_s": float("nan"), "sr": 0}
                try:
                    if c.fmt in TRACKER_FORMATS:
                        if c.member is None and shutil.which("openmpt123"):
                            row["duration_s"] = _tracker_duration(c.file)
                    elif c.fmt == "raw":
                        spec = RAW_PCM[package]
                        row.update(sr=spec["samplerate"], duration_s=c.file.stat().st_size
                                   / spec["samplerate"] / spec["channels"])
                    else:
                        src = c.file if c.member is None else io.BytesIO(c.read_bytes())
                        info = sf.info(src)
                        row.update(sr=info.samplerate, duration_s=info.duration)
                except Exception as exc:  # listed with its error; inventory goes on
                    row["format"] += f" (unreadable: {exc})"
                rows.append(row)
            rows += [{"package": package, "version": version, "source_path": p,
                      "format": reason, "duration_s": float("nan"), "sr": 0} for p, reason in aside]
        finally:
            shutil.rmtree(tree, ignore_errors=True)
        music = [r for r in rows
                 if r["package"] == package and r["duration_s"] >= MIN_MUSIC_SECONDS]
        LOG.info("%s: %d files >= %.0f s, %.2f h", package, len(music), MIN_MUSIC_SECONDS,
                 sum(r["duration_s"] for r in music) / 3600)
    return rows


# --------------------------------------------------------------------------- manifests

def _kept_records(layout: Layout, which: str) -> list[dict]:
    records = []
    for package in SETS[which]:
        package_dir = layout.package_dir(which, package)
        if not (package_dir / "done.json").exists():
            LOG.warning("%s set: %s is not decoded yet; left out", which, package)
            continue
        text = _package_copyright(layout, which, package)
        rows = [r for r in _read_records(package_dir / "tracks.jsonl") if r["status"] == "kept"]
        records += [{**r, "set": which,
                     "licence": track_licence(package, text, r["source_path"])}
                    for r in sorted(rows, key=lambda r: r["source_path"])]
    return records


def build_manifests(layout: Layout) -> None:
    """Deduplicate across packages and sets, then write the manifests and side tables."""
    records = _kept_records(layout, "eval") + _kept_records(layout, "pool")
    duplicates = find_duplicates(records)
    dup_rows = []
    for i, j in sorted(duplicates.items()):
        a, b = records[i], records[j]
        dup_rows.append({"set": a["set"], "package": a["package"], "source_path": a["source_path"],
                         "duration_s": a["duration_s"], "kept_set": b["set"],
                         "kept_package": b["package"], "kept_source_path": b["source_path"]})
        Path(a["audio_path"]).unlink(missing_ok=True)
    write_csv(layout.root / "duplicates.csv", dup_rows,
              ["set", "package", "source_path", "duration_s", "kept_set", "kept_package",
               "kept_source_path"])
    for which in ("eval", "pool"):
        rows = []
        for i, r in enumerate(records):
            if r["set"] != which or i in duplicates:
                continue
            if not Path(r["audio_path"]).exists():
                raise FileNotFoundError(
                    f"{r['audio_path']}: missing; delete {Path(r['audio_path']).parent} "
                    "files of that package (tracks.jsonl, done.json) and run decode again.")
            row = {c: r[c] for c in MANIFEST_COLUMNS}
            row["duration_s"] = f"{r['duration_s']:.3f}"
            if which == "eval":
                set_root = layout.package_dir(which, r["package"]).parent
                row.update(label=r["package"],
                           group=track_stem(str(Path(r["audio_path"]).relative_to(set_root))))
            rows.append(row)
        columns = EVAL_COLUMNS if which == "eval" else MANIFEST_COLUMNS
        if rows or SETS[which]:
            write_csv(layout.set_dir(which) / "manifest.csv", rows, columns)
            LOG.info("%s: %d tracks in %s", which, len(rows),
                     layout.set_dir(which) / "manifest.csv")
        skipped = []
        for package in SETS[which]:
            for r in _read_records(layout.package_dir(which, package) / "tracks.jsonl"):
                if r["status"] == "skipped":
                    skipped.append({"package": package, "source_path": r["source_path"],
                                    "reason": r["reason"]})
        write_csv(layout.set_dir(which) / "skipped.csv", skipped,
                  ["package", "source_path", "reason"])


def read_csv(path: Path) -> list[dict]:
    """The rows of a CSV file as dicts; a clear error when it is not there."""
    if not path.exists():
        raise FileNotFoundError(f"{path}: not found; run the manifest command first.")
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _skip_reasons(path: Path) -> dict:
    counts: dict[str, Counter] = defaultdict(Counter)
    if path.exists():
        for row in read_csv(path):
            counts[row["package"]][re.sub(r":.*", "", row["reason"])] += 1
    return {p: dict(c) for p, c in sorted(counts.items())}


def report(layout: Layout, which: str) -> dict:
    """Hours and tracks per package and in total; printed and written as report.json."""
    rows = read_csv(layout.set_dir(which) / "manifest.csv")
    summary = summarise(rows)
    for package in SETS[which]:  # decoded packages without a track are listed too
        if (layout.package_dir(which, package) / "done.json").exists():
            summary["packages"].setdefault(package, {"tracks": 0, "hours": 0.0, "licences": {}})
    summary["packages"] = dict(sorted(summary["packages"].items()))
    summary["total"]["packages"] = sum(e["tracks"] > 0 for e in summary["packages"].values())
    summary["skipped"] = _skip_reasons(layout.set_dir(which) / "skipped.csv")
    dups = [r for r in read_csv(layout.root / "duplicates.csv") if r["set"] == which]
    summary["duplicates_removed"] = len(dups)
    summary["disk_bytes"] = sum(p.stat().st_size for p in (layout.set_dir(which) / "audio")
                                .rglob("*.flac"))
    for package, entry in summary["packages"].items():
        done = json.loads((layout.package_dir(which, package) / "done.json").read_text())
        entry.update(version=done["version"], copyright_format=copyright_format(
            _package_copyright(layout, which, package)))
    write_json(layout.set_dir(which) / "report.json", summary)
    print(f"\n{which}: {summary['total']['tracks']} tracks, {summary['total']['hours']:.2f} h, "
          f"{summary['total']['packages']} packages, {summary['disk_bytes'] / 1e9:.2f} GB")
    print(f"{'package':28s} {'tracks':>6s} {'hours':>7s}  licences")
    for package, entry in summary["packages"].items():
        print(f"{package:28s} {entry['tracks']:6d} {entry['hours']:7.2f}  "
              + ", ".join(entry["licences"]))
    return summary


def write_clips(layout: Layout, *, clip_seconds: float = 10.0, max_clips: int = 6,
                margin_seconds: float = 5.0) -> list[dict]:
    """Cut the eval tracks' fixed excerpts (:func:`clip_starts`) and write clips.csv."""
    rows = []
    clips_dir = layout.set_dir("eval") / "clips"
    for track in read_csv(layout.set_dir("eval") / "manifest.csv"):
        starts = clip_starts(float(track["duration_s"]), clip_seconds=clip_seconds,
                             max_clips=max_clips, margin_seconds=margin_seconds)
        y = None
        for k, start in enumerate(starts):
            out = clips_dir / f"{track['group']}__clip{k}.flac"
            if not out.exists():
                if y is None:
                    y, sr = sf.read(track["audio_path"], dtype="float32")
                    assert sr == SR, track["audio_path"]
                first = int(round(start * SR))
                piece = y[first:first + int(round(clip_seconds * SR))]
                atomic_write(out, lambda f, p=piece: sf.write(f, p, SR, format="FLAC",
                                                              subtype="PCM_16"))
            rows.append({"path": str(out), "label": track["label"], "group": track["group"],
                         "start_s": f"{start:.3f}"})
    listed = {r["path"] for r in rows}
    for stale in clips_dir.rglob("*.flac"):  # clips of tracks no longer in the target
        if str(stale) not in listed:
            stale.unlink()
    write_csv(layout.set_dir("eval") / "clips.csv", rows, CLIPS_COLUMNS)
    LOG.info("eval: %d clips from %d tracks in %s", len(rows),
             len({r["group"] for r in rows}), clips_dir)
    return rows


# --------------------------------------------------------------------------- command line

def _sets(choice: str) -> list[str]:
    return ["eval", "pool"] if choice == "both" else [choice]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["inventory", "fetch", "decode", "licence", "manifest",
                                            "report", "clips", "all"])
    parser.add_argument("--root", type=Path, default=Path("/work/data"),
                        help="data root (debs, extract, pool, eval); default /work/data")
    parser.add_argument("--set", dest="which", choices=["pool", "eval", "both"], default="both")
    parser.add_argument("--packages", nargs="+", help="only these packages (fetch, decode, "
                        "inventory); decode needs --set pool or eval with it")
    parser.add_argument("--keep-extract", action="store_true",
                        help="keep the extracted package trees under <root>/extract")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    args.root.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(message)s",
                        handlers=[logging.StreamHandler(),
                                  logging.FileHandler(args.root / "music_pool.log")])
    layout = Layout(args.root)
    if args.packages:
        for package in args.packages:
            check_package(package)
        if args.command == "decode" and args.which == "both":
            parser.error("--packages with decode needs --set pool or --set eval")
    if not shutil.which("openmpt123"):
        LOG.warning("openmpt123 not found: tracker modules (.mod/.xm/.it/.s3m) will be skipped")
    chosen = {which: list(args.packages or SETS[which]) for which in _sets(args.which)}
    if args.command == "inventory":
        packages = args.packages or sorted({p.name.split("_")[0]
                                            for p in layout.debs.glob("*.deb")})
        path = layout.root / "inventory.csv"
        rows = [r for r in (read_csv(path) if path.exists() else []) if r["package"] not in
                packages]  # a partial inventory updates the listed packages only
        rows = sorted(rows + inventory(layout, packages), key=lambda r: r["package"])
        write_csv(path, rows, ["package", "version", "source_path", "format", "duration_s", "sr"])
    if args.command in ("fetch", "all"):
        fetch(layout, [p for which in chosen for p in chosen[which]])
    if args.command in ("decode", "all"):
        for which, packages in chosen.items():
            for package in packages:
                decode_package(layout, which, package, keep_extract=args.keep_extract)
    if args.command in ("licence", "all"):
        for which in chosen:
            write_licences(layout, which)
    if args.command in ("manifest", "all"):
        build_manifests(layout)
    if args.command in ("report", "all"):
        for which in _sets(args.which):
            report(layout, which)
    if args.command in ("clips", "all"):
        write_clips(layout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
