"""scripts/music_pool.py: its rules and pure helpers, offline (no network, no .deb files)."""

from __future__ import annotations

import csv
import io
import json
import sys
import zipfile
from importlib.util import module_from_spec, spec_from_file_location
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "music_pool.py"


@pytest.fixture(scope="module")
def mp():
    spec = spec_from_file_location("music_pool", SCRIPT)
    module = module_from_spec(spec)
    sys.modules["music_pool"] = module  # dataclasses look their module up by name
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop("music_pool", None)


def _music(seconds: float, sr: int, seed: int = 0, channels: int = 1) -> np.ndarray:
    """Noise under a random, slowly changing loudness: a track with a distinctive envelope."""
    rng = np.random.default_rng(seed)
    n = int(seconds * sr)
    steps = rng.uniform(0.05, 0.6, size=int(seconds) + 2)
    gain = np.interp(np.arange(n) / sr, np.arange(len(steps)), steps)
    y = (rng.standard_normal((n, channels)) * 0.3 * gain[:, None]).astype(np.float32)
    return np.clip(y, -1, 1)


def _encoded(y: np.ndarray, sr: int, fmt: str, subtype: str | None = None) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, y, sr, format=fmt, subtype=subtype)
    return buf.getvalue()


@pytest.mark.parametrize("package", ["wesnoth-1.16-music", "wesnoth-music", "0ad-data",
                                     "0ad-data-common", "ufoai-music", "nexuiz-music",
                                     "naev-data", "warzone2100-music", "widelands-data",
                                     "supertux-data", "hedgewars-data", "singularity-music",
                                     "hedgewars", "python3-music21"])
def test_never_use_packages_are_refused_by_name(mp, package):
    assert mp.never_use_reason(package) is not None
    with pytest.raises(ValueError, match=f"package '{package}' refused"):
        mp.check_package(package)


@pytest.mark.parametrize("package", ["supertuxkart-data", "asc-music", "frozen-bubble-data",
                                     "naevtris", "zeroad"])
def test_other_packages_pass_the_exclusion_check(mp, package):
    # A game name is a whole hyphen-separated prefix: supertuxkart is not supertux.
    assert mp.never_use_reason(package) is None
    mp.check_package(package)


def test_never_use_packages_are_in_neither_set(mp):
    for package in (*mp.POOL_PACKAGES, *mp.EVAL_PACKAGES):
        assert mp.never_use_reason(package) is None, package
    assert not set(mp.POOL_PACKAGES) & set(mp.EVAL_PACKAGES)


def test_sniff_finds_formats_by_content_not_name(mp):
    y = _music(1.0, 8000)
    assert mp.sniff(_encoded(y, 8000, "OGG", "VORBIS")[:2048], "a/01") == "vorbis"
    assert mp.sniff(_encoded(y, 8000, "OGG", "OPUS")[:2048], "a.ogg") == "opus"
    assert mp.sniff(_encoded(y, 8000, "FLAC")[:2048], "song.dat") == "flac"
    assert mp.sniff(_encoded(y, 8000, "WAV")[:2048], "x") == "wav"
    assert mp.sniff(b"Extended Module: tune" + bytes(100), "m") == "xm"
    assert mp.sniff(b"IMPM" + bytes(100), "m") == "it"
    assert mp.sniff(bytes(44) + b"SCRM" + bytes(100), "m") == "s3m"
    assert mp.sniff(bytes(1080) + b"M.K." + bytes(10), "tune.mod") == "mod"
    assert mp.sniff(b"MThd" + bytes(10), "t.mid") == "midi"
    assert mp.sniff(b"PK\x03\x04" + bytes(10), "pak0.pk3") == "zip"
    assert mp.sniff(b"PK\x03\x04" + bytes(10), "book.epub") is None
    assert mp.sniff(b"\xff\xfb\x90\x00" + bytes(10), "a.mp3") == "mp3"
    assert mp.sniff(b"\xff\xfb\x90\x00" + bytes(10), "a.bin") is None
    assert mp.sniff(b"\x89PNG\r\n" + bytes(100), "a.ogg") is None


def test_track_stem_drops_only_audio_extensions(mp):
    assert mp.track_stem("usr/share/x/music/a.ogg") == "usr/share/x/music/a"
    assert mp.track_stem("usr/share/x/music/01") == "usr/share/x/music/01"
    assert mp.track_stem("usr/share/x/song.v2") == "usr/share/x/song.v2"
    assert mp.track_stem("usr/pak0.pk3!music/b.mp3") == "usr/pak0.pk3/music/b"


DEP5 = """\
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: game
License: GPL-2+

Files: *
Copyright: 2010 Someone
License: GPL-3+
 This program is free software...
 .
 More text.

Files: data/music/*
 data/ending.ogg
Copyright: 2011 A Composer
License: CC-BY-SA-3.0

Files: data/music/menu.ogg
Copyright: 2012 Other
License: CC0-1.0
"""


@pytest.mark.parametrize("path,licence", [
    ("usr/share/games/game/data/music/level1.ogg", "CC-BY-SA-3.0"),
    ("usr/share/games/game/data/ending.ogg", "CC-BY-SA-3.0"),   # a continuation line
    ("usr/share/games/game/data/music/menu.ogg", "CC0-1.0"),    # the last match wins
    ("usr/share/games/game/data/sounds/boom.ogg", "GPL-3+"),    # only "Files: *"
])
def test_licence_for_takes_the_last_matching_files_paragraph(mp, path, licence):
    assert mp.licence_for(DEP5, path) == licence


def test_licence_for_falls_back_to_the_header_licence(mp):
    text = "Format: https://x/copyright-format/1.0/\nLicense: Artistic-2.0\n\n" \
           "Files: src/*\nLicense: MIT\n"
    assert mp.licence_for(text, "usr/share/game/music/a.ogg") == "Artistic-2.0"


def test_licence_for_reads_free_text_copyright_files(mp):
    gpl2 = ("Copyright 2004 Oliver Vogel\n\n   This package is free software; you can "
            "redistribute it and/or modify\n   it under the terms of the GNU General Public "
            "License as published by\n   the Free Software Foundation; version 2 dated June, "
            "1991.\n")
    assert mp.licence_for(gpl2, "usr/share/x.raw") == "GPL-2"
    later = gpl2.replace("version 2 dated June, 1991", "either version 2 of the License, or\n"
                         " (at your option) any later version")
    assert mp.licence_for(later, "a") == "GPL-2+"
    cc = "The music is licensed under the Creative Commons Attribution-ShareAlike 3.0 licence."
    assert mp.licence_for(cc, "a") == "CC-BY-SA-3.0"
    assert mp.licence_for("All rights reserved.", "a") == "unknown"


def test_duplicates_found_across_gain_codec_and_rate_changes(mp):
    sr = mp.SR
    track = _music(60.0, sr, seed=1)[:, 0]
    quieter_longer = np.concatenate([0.5 * track, np.zeros(sr // 4, np.float32)])
    other = _music(60.0, sr, seed=2)[:, 0]
    records = [{"duration_s": len(y) / sr, "envelope": mp.envelope(y).tolist()}
               for y in (track, other, quieter_longer, track[: 40 * sr])]
    assert mp.same_track(records[0], records[2])
    assert not mp.same_track(records[0], records[1])
    assert not mp.same_track(records[0], records[3])  # a 40 s cut is not the 60 s track
    assert mp.find_duplicates(records) == {2: 0}
    # The first copy in priority order is kept, whichever it is.
    assert mp.find_duplicates(records[::-1]) == {3: 1}


def test_write_csv_writes_columns_in_order_and_refuses_missing_ones(mp, tmp_path):
    rows = [{"package": "a", "duration_s": "31.500", "extra": 1},
            {"package": "b,c", "duration_s": "40.000", "extra": 2}]
    path = mp.write_csv(tmp_path / "sub" / "manifest.csv", rows, ["package", "duration_s"])
    assert path.read_text() == 'package,duration_s\na,31.500\n"b,c",40.000\n'
    assert mp.read_csv(path) == [{"package": "a", "duration_s": "31.500"},
                                 {"package": "b,c", "duration_s": "40.000"}]
    with pytest.raises(ValueError, match=r"row 1 lacks the columns \['licence'\]"):
        mp.write_csv(path, [{"licence": "x"}, {}], ["licence"])
    assert path.read_text().startswith("package,")  # untouched by the failed write
    assert sorted(p.name for p in path.parent.iterdir()) == ["manifest.csv"]


@pytest.mark.parametrize("duration,starts", [
    (60.0, [5.0, 15.0, 25.0, 35.0, 45.0]),
    (20.0, [5.0]),
    (19.99, []),
    (200.0, [5.0 + 190 / 6 * (k + 0.5) - 5 for k in range(6)]),
])
def test_clip_starts_rule(mp, duration, starts):
    got = mp.clip_starts(duration)
    assert got == pytest.approx(starts, abs=1e-3)
    assert all(b - a >= 10.0 for a, b in zip(got, got[1:]))
    assert all(s >= 5.0 and s + 10.0 <= duration - 5.0 + 1e-3 for s in got)


def test_summarise_counts_hours_per_package(mp):
    rows = [{"package": "a", "duration_s": "1800", "licence": "GPL-2+"},
            {"package": "a", "duration_s": "1800", "licence": "CC-BY-3.0"},
            {"package": "b", "duration_s": "360", "licence": "GPL-2+"}]
    summary = mp.summarise(rows)
    assert summary["total"] == {"packages": 2, "tracks": 3, "hours": 1.1}
    assert summary["packages"]["a"]["hours"] == 1.0
    assert summary["packages"]["a"]["licences"] == {"GPL-2+": 1, "CC-BY-3.0": 1}


def test_find_audio_and_decode_track_keep_music_only(mp, tmp_path):
    sr = 44100
    tree = tmp_path / "tree"
    music = tree / "usr/share/games/g/music"
    music.mkdir(parents=True)
    stereo = _music(31.0, sr, seed=3, channels=2)
    (music / "theme.ogg").write_bytes(_encoded(stereo, sr, "OGG", "VORBIS"))
    (music / "theme.flac").write_bytes(_encoded(stereo, sr, "FLAC"))     # same track, lossless
    (music / "jingle").write_bytes(_encoded(_music(5.0, sr), sr, "WAV"))  # no extension
    (music / "silence.wav").write_bytes(_encoded(np.zeros((40 * sr, 1), np.float32), sr, "WAV"))
    (music / "notes.txt").write_text("not audio")
    with zipfile.ZipFile(tree / "usr/share/games/g/pak0.pk3", "w") as archive:
        archive.writestr("music/zipped.ogg", _encoded(_music(35.0, 22050, seed=4), 22050, "OGG"))
        archive.writestr("scripts/a.cfg", "x")
    candidates, aside = mp.find_audio(tree, "g")
    assert [(c.source_path, c.fmt) for c in candidates] == [
        ("usr/share/games/g/music/jingle", "wav"),
        ("usr/share/games/g/music/silence.wav", "wav"),
        ("usr/share/games/g/music/theme.flac", "flac"),
        ("usr/share/games/g/music/theme.ogg", "vorbis"),
        ("usr/share/games/g/pak0.pk3!music/zipped.ogg", "vorbis")]
    assert aside == []
    kept, same = mp._best_per_stem(candidates)
    assert [c.source_path for c in kept if "theme" in c.source_path] == [
        "usr/share/games/g/music/theme.flac"]
    assert same == [("usr/share/games/g/music/theme.ogg",
                     "same track as usr/share/games/g/music/theme.flac (format preference)")]

    out = tmp_path / "audio" / "g"
    records = {c.source_path.rsplit("/", 1)[-1]: mp.decode_track(c, "g", out) for c in kept}
    assert records["jingle"]["status"] == "skipped"
    assert records["jingle"]["reason"].startswith("short: 5.0 s")
    assert records["silence.wav"]["reason"].startswith("near-silent")
    theme = records["theme.flac"]
    assert theme["status"] == "kept" and theme["original_sr"] == sr
    info = sf.info(theme["audio_path"])
    assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16")
    assert theme["audio_path"] == str(out / "usr/share/games/g/music/theme.flac")
    assert theme["duration_s"] == pytest.approx(31.0, abs=1e-3)
    y, _ = sf.read(theme["audio_path"], dtype="float32")
    expected = mp.resample(stereo.mean(axis=1), orig_sr=sr, target_sr=16000)
    assert np.max(np.abs(y - expected)) < 2e-4  # mean of channels, soxr HQ, 16-bit
    zipped = records["zipped.ogg"]
    assert zipped["status"] == "kept" and zipped["original_sr"] == 22050
    assert Path(zipped["audio_path"]).name == "zipped.flac"
    assert json.loads(json.dumps(theme))["envelope"][:3] == theme["envelope"][:3]


def test_eval_manifest_has_label_and_group_columns(mp):
    assert mp.EVAL_COLUMNS == [*mp.MANIFEST_COLUMNS, "label", "group"]
    assert mp.MANIFEST_COLUMNS == ["package", "version", "licence", "source_path", "audio_path",
                                   "duration_s", "original_sr", "original_format", "sha1"]
    with io.StringIO() as buf:
        csv.writer(buf).writerow(mp.CLIPS_COLUMNS)
        assert buf.getvalue().strip() == "path,label,group,start_s"
