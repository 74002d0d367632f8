"""scripts/music_pool.py: its rules and pure helpers, offline (no network, no .deb files)."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import shutil
import subprocess
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
    wrapped = ("are licenced under the terms of the Creative Commons\n"
               "Attribution ShareAlike licence 3.0")
    assert mp.licence_for(wrapped, "a") == "CC-BY-SA-3.0"
    assert mp.licence_for("All rights reserved.", "a") == "unknown"


def test_free_text_licence_is_the_first_one_named(mp):
    bsd = ("License:\n    Redistribution and use in source and binary forms, with or without\n"
           "    modification, are permitted provided that the following conditions\n"
           "import/SDL*:\n    under the terms of the GNU Library General Public\n"
           "    License as published by the Free Software Foundation; either\n"
           "    version 2 of the License, or (at your option) any later version.\n")
    assert mp.detect_licence(bsd) == "BSD-2-Clause"
    assert mp.detect_licence(bsd.replace("conditions\n", "conditions\n3. Neither the name "
                                         "of the author\n")) == "BSD-3-Clause"
    mit_then_gpl = ("The songs are Copyright (c) 2006 C. V. Iborra\nPermission is hereby granted, "
                    "free of charge, to any person\nPackaging is licensed under the GPL.")
    assert mp.detect_licence(mit_then_gpl) == "Expat"
    packaging_first = ("The license of the packaging is:\n\nRedistribution and use in source "
                       "and binary forms, with or without\n" + "x" * 400 + "\nCopyright:\n This "
                       "package is free software; under the terms of the GNU General Public "
                       "License as published by\n the Free Software Foundation; version 2 dated "
                       "June, 1991.")
    assert mp.detect_licence(packaging_first) == "GPL-2"
    assert mp.detect_licence("Released under the GNU GPL.\nSee /usr/share/common-licenses/GPL") \
        == "GPL"


def test_hand_read_licences_override_the_parser(mp):
    text = "Copyright: 2008\nLicense:\n under the GNU General Public License version 2"
    assert mp.track_licence("plee-the-bear-data", text,
                            "usr/share/games/plee-the-bear/music/castle.ogg") == "CC-BY-SA-3.0"
    assert mp.track_licence("plee-the-bear-data", text, "usr/share/games/x.ogg") == "GPL-2"
    assert mp.track_licence("freedink-data", text,
                            "usr/share/games/dink/dink/Sound/denube.ogg") == "public-domain"


def test_licence_for_reads_the_draft_dep5_spelling(mp):
    draft = ("Format-Specification: http://wiki.debian.org/Proposals/CopyrightFormat\n"
             "Upstream-Source: https://github.com/ginkgo/pink-pony\n\n"
             "Files: *\nCopyright: 2009 T. Weber\nLicence: GPL-3+\n\n"
             "Files: music/*\nCopyright: 2007 Renich\nLicence: CC-by-sa-3.0\n\n"
             "Files: textures/grass.tga, sounds/heart.wav\nLicence: CC0-1.0\n")
    assert mp.licence_for(draft, "usr/share/games/pink-pony/music/a.mp3") == "CC-by-sa-3.0"
    assert mp.licence_for(draft, "usr/share/games/pink-pony/sounds/heart.wav") == "CC0-1.0"
    assert mp.licence_for(draft, "usr/share/games/pink-pony/x.png") == "GPL-3+"


def test_duplicates_found_across_gain_codec_and_rate_changes(mp):
    sr = mp.SR
    track = _music(60.0, sr, seed=1)[:, 0]
    quieter_padded = np.concatenate([np.zeros(sr // 2, np.float32), 0.5 * track])
    other = _music(60.0, sr, seed=2)[:, 0]
    middle = track[10 * sr:50 * sr]
    records = [{"duration_s": len(y) / sr, "envelope": mp.envelope(y).tolist()}
               for y in (track, other, quieter_padded, track[:40 * sr], middle)]
    assert mp.same_track(records[0], records[2])
    assert mp.same_track(records[0], records[3])  # a shorter render of the same piece
    assert not mp.same_track(records[0], records[1])
    assert not mp.same_track(records[0], records[4])  # an excerpt from the middle: not found
    assert mp.find_duplicates(records) == {2: 0, 3: 0}
    # The first copy in priority order is kept, whichever it is.
    assert mp.find_duplicates(records[::-1]) == {2: 1, 4: 1}
    # Identical decoded files are copies whatever their envelopes say.
    same_file = [{**records[0], "sha1": "ab"}, {**records[1], "sha1": "ab"}]
    assert mp.find_duplicates(same_file) == {1: 0}
    assert mp.find_duplicates([]) == {}


def test_silence_shared_by_two_tracks_does_not_make_them_copies(mp):
    sr = mp.SR
    pad = np.zeros(64 * sr, np.float32)
    a, b = (np.concatenate([_music(20.0, sr, seed=s)[:, 0], pad]) for s in (5, 6))
    ra, rb = ({"envelope": mp.envelope(y).tolist()} for y in (a, b))
    assert not mp.same_track(ra, rb)  # 76 % of both is silence: 40 sounding frames < 56
    assert mp.same_track(ra, {"envelope": mp.envelope(0.3 * a).tolist()}, min_frames=40)


def test_sound_span_and_silent_fraction(mp):
    sr = 1000
    y = np.zeros(10 * sr, np.float32)
    y[2000:7000] = 0.1  # -20 dBFS between 2 s and 7 s
    y[4000:5000] = 0.0
    assert mp.sound_span(y, sr) == (2000, 7000)
    assert mp.silent_fraction(y[2000:7000], sr) == pytest.approx(0.2)
    assert mp.sound_span(np.zeros(sr, np.float32), sr) == (0, 0)
    assert mp.silent_fraction(y, sr) == pytest.approx(0.6)


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
    fragment = np.concatenate([_music(20.0, sr, seed=5), np.zeros((40 * sr, 1), np.float32)])
    (music / "fragment.wav").write_bytes(_encoded(fragment, sr, "WAV"))  # 20 s, then silence
    gappy = np.concatenate([_music(16.0, sr, seed=6), np.zeros((40 * sr, 1), np.float32),
                            _music(16.0, sr, seed=7)])
    (music / "gappy.wav").write_bytes(_encoded(gappy, sr, "WAV"))  # 32 s of sound in 72 s
    left = _music(35.0, sr, seed=11)
    (music / "surround.wav").write_bytes(_encoded(np.hstack([left, -left]), sr, "WAV"))
    (music / "notes.txt").write_text("not audio")
    with zipfile.ZipFile(tree / "usr/share/games/g/pak0.pk3", "w") as archive:
        archive.writestr("music/zipped.ogg", _encoded(_music(35.0, 22050, seed=4), 22050, "OGG"))
        archive.writestr("scripts/a.cfg", "x")
    candidates, aside = mp.find_audio(tree, "g")
    assert [(c.source_path, c.fmt) for c in candidates] == [
        ("usr/share/games/g/music/fragment.wav", "wav"),
        ("usr/share/games/g/music/gappy.wav", "wav"),
        ("usr/share/games/g/music/jingle", "wav"),
        ("usr/share/games/g/music/silence.wav", "wav"),
        ("usr/share/games/g/music/surround.wav", "wav"),
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
    assert records["silence.wav"]["reason"].startswith("short: 0.0 s of sound")
    assert records["fragment.wav"]["reason"].startswith("short: 20.0 s of sound")
    assert records["fragment.wav"]["trim_s"] == [0.0, 40.0]
    assert records["gappy.wav"]["reason"].startswith("mostly silent: 56 %")
    assert records["surround.wav"]["reason"] == "channels cancel out in the mono mix (antiphase)"
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


def test_exclusions_name_packages_of_the_sets(mp):
    assert set(mp.EXCLUDE_PATHS) <= set(mp.POOL_PACKAGES) | set(mp.EVAL_PACKAGES)
    assert mp.is_excluded("megaglest-data",
                          "usr/share/games/megaglest/tilesets/winter/sounds/wind.ogg")
    assert not mp.is_excluded("megaglest-data",
                              "usr/share/games/megaglest/data/core/menu/music/menu_music.ogg")
    assert not mp.is_excluded("asc-music", "usr/share/games/asc/music/a.ogg")


def _decoded_package(mp, layout, which, package, tracks):
    """A decoded package on disk: FLACs, tracks.jsonl and done.json, as decode leaves them."""
    package_dir = layout.package_dir(which, package)
    lines = []
    for name, y in tracks:
        out = package_dir / "music" / f"{name}.flac"
        out.parent.mkdir(parents=True, exist_ok=True)
        sf.write(out, y, mp.SR, subtype="PCM_16")
        lines.append({"source_path": f"music/{name}.ogg", "status": "kept", "package": package,
                      "version": "1.0-1", "audio_path": str(out),
                      "duration_s": len(y) / mp.SR, "original_sr": 44100,
                      "original_format": "vorbis", "sha1": name,
                      "envelope": mp.envelope(y).tolist()})
    lines.append({"source_path": "sfx/boom.ogg", "status": "skipped", "reason": "short: 1.0 s"})
    (package_dir / "tracks.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    (package_dir / "copyright").write_text(DEP5.replace("data/music/*", "music/b.ogg"))
    mp.write_json(package_dir / "done.json", {"version": "1.0-1"})


def test_manifests_drop_pool_copies_of_eval_tracks_and_clips_follow_the_rule(mp, tmp_path,
                                                                            monkeypatch):
    sr = mp.SR
    shared, own, pool_only = (_music(d, sr, seed=s)[:, 0] for d, s in ((40.0, 8), (31.0, 9),
                                                                       (35.0, 10)))
    monkeypatch.setattr(mp, "SETS", {"eval": ("evalgame-data",), "pool": ("poolgame-data",)})
    layout = mp.Layout(tmp_path)
    _decoded_package(mp, layout, "eval", "evalgame-data", [("a", shared), ("b", own)])
    _decoded_package(mp, layout, "pool", "poolgame-data", [("copy", 0.7 * shared),
                                                           ("c", pool_only)])
    mp.build_manifests(layout)

    pool = mp.read_csv(tmp_path / "pool" / "manifest.csv")
    assert [r["source_path"] for r in pool] == ["music/c.ogg"]
    assert list(pool[0]) == mp.MANIFEST_COLUMNS and pool[0]["duration_s"] == "35.000"
    assert not (layout.package_dir("pool", "poolgame-data") / "music" / "copy.flac").exists()
    assert mp.read_csv(tmp_path / "duplicates.csv") == [
        {"set": "pool", "package": "poolgame-data", "source_path": "music/copy.ogg",
         "duration_s": "40.0", "kept_set": "eval", "kept_package": "evalgame-data",
         "kept_source_path": "music/a.ogg"}]
    evals = mp.read_csv(tmp_path / "eval" / "manifest.csv")
    assert [r["licence"] for r in evals] == ["GPL-3+", "CC-BY-SA-3.0"]  # per Files paragraph
    assert [(r["label"], r["group"]) for r in evals] == [
        ("evalgame-data", "evalgame-data/music/a"), ("evalgame-data", "evalgame-data/music/b")]
    assert mp.read_csv(tmp_path / "eval" / "skipped.csv") == [
        {"package": "evalgame-data", "source_path": "sfx/boom.ogg", "reason": "short: 1.0 s"}]

    stale = tmp_path / "eval" / "clips" / "evalgame-data" / "music" / "gone__clip0.flac"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"")
    clips = mp.write_clips(layout)
    assert not stale.exists()
    assert [(c["group"], c["start_s"]) for c in clips] == [
        ("evalgame-data/music/a", "5.000"), ("evalgame-data/music/a", "15.000"),
        ("evalgame-data/music/a", "25.000"), ("evalgame-data/music/b", "5.250"),
        ("evalgame-data/music/b", "15.750")]  # 31 s: two clips centred in 10.5 s halves
    assert mp.read_csv(tmp_path / "eval" / "clips.csv")[4]["path"] == clips[4]["path"]
    clip, clip_sr = sf.read(clips[1]["path"], dtype="float32")
    track, _ = sf.read(evals[0]["audio_path"], dtype="float32")
    assert clip_sr == sr and np.array_equal(clip, track[15 * sr:25 * sr])
    empty = layout.package_dir("pool", "emptygame-data")
    empty.mkdir(parents=True)
    (empty / "copyright").write_text("")
    mp.write_json(empty / "done.json", {"version": "1"})
    monkeypatch.setattr(mp, "SETS", {"eval": ("evalgame-data",),
                                     "pool": ("poolgame-data", "emptygame-data")})
    summary = mp.report(layout, "pool")
    assert summary["packages"]["emptygame-data"] == {
        "tracks": 0, "hours": 0.0, "licences": {}, "version": "1", "copyright_format": "missing"}
    assert summary["total"]["packages"] == 1
    assert summary["total"]["tracks"] == 1 and summary["duplicates_removed"] == 1
    assert summary["packages"]["poolgame-data"]["copyright_format"] == "DEP-5"
    assert json.loads((tmp_path / "pool" / "report.json").read_text())["skipped"] == {
        "poolgame-data": {"short": 1}}


def _protracker_module(orders: int) -> bytes:
    """A 4-channel ProTracker module: one looped square-wave note, ``orders`` x 7.68 s."""
    sample = np.tile(np.r_[np.full(16, 60), np.full(16, -60)], 32).astype(np.int8).tobytes()
    words = len(sample) // 2
    header = b"test".ljust(20, b"\0")
    header += b"square".ljust(22, b"\0") + words.to_bytes(2, "big") + bytes([0, 64]) \
        + (0).to_bytes(2, "big") + words.to_bytes(2, "big")
    header += bytes(30 * 30)  # samples 2-31 are empty
    header += bytes([orders, 127]) + bytes(128) + b"M.K."
    pattern = bytearray(64 * 4 * 4)
    pattern[0:4] = bytes([0x01, 0xAC, 0x10, 0x00])  # sample 1, period 428 (C-3), no effect
    return header + bytes(pattern) + sample


@pytest.mark.skipif(shutil.which("openmpt123") is None, reason="needs openmpt123")
def test_tracker_modules_are_rendered_in_mono(mp, tmp_path):
    path = tmp_path / "tune.mod"
    path.write_bytes(_protracker_module(orders=5))
    assert mp.sniff(path.read_bytes()[:2048], path.name) == "mod"
    record = mp.decode_track(mp.Candidate("music/tune.mod", "mod", path), "g", tmp_path / "out")
    assert record["status"] == "kept", record
    assert record["original_sr"] == 48000
    assert record["original_format"] == "mod (rendered in mono by openmpt123 at 48000 Hz)"
    assert record["duration_s"] == pytest.approx(5 * 7.68, abs=0.25)
    short = tmp_path / "short.mod"
    short.write_bytes(_protracker_module(orders=1))
    assert mp.decode_track(mp.Candidate("short.mod", "mod", short), "g", tmp_path)["reason"] \
        .startswith("short: 7.")


@pytest.mark.skipif(shutil.which("dpkg-deb") is None, reason="needs dpkg-deb")
def test_decode_package_from_a_deb_resumes_and_records_licences(mp, tmp_path, monkeypatch):
    # A small deb built here (no download): two tracks and a sound effect.
    root = tmp_path / "build"
    (root / "DEBIAN").mkdir(parents=True)
    (root / "DEBIAN" / "control").write_text(
        "Package: toygame-data\nVersion: 2.0-3\nArchitecture: all\nMaintainer: A <a@b.c>\n"
        "Description: test\n")
    doc = root / "usr/share/doc/toygame-data"
    doc.mkdir(parents=True)
    (doc / "copyright").write_text(DEP5)
    music = root / "usr/share/games/game/data/music"
    music.mkdir(parents=True)
    for name, seconds, seed in (("level1.ogg", 32.0, 12), ("menu.ogg", 31.0, 13),
                                ("boom.ogg", 2.0, 14)):
        (music / name).write_bytes(_encoded(_music(seconds, 22050, seed=seed), 22050, "OGG"))
    layout = mp.Layout(tmp_path / "data")
    layout.debs.mkdir(parents=True)
    deb = layout.debs / "toygame-data_2.0-3_all.deb"
    assert subprocess.run(["dpkg-deb", "-b", str(root), str(deb)], capture_output=True
                          ).returncode == 0
    assert mp.read_copyright(deb, "toygame-data") == (DEP5,
                                                      "usr/share/doc/toygame-data/copyright")

    # A run killed after its first track left one record (and a cut-off line).
    package_dir = layout.package_dir("pool", "toygame-data")
    package_dir.mkdir(parents=True)
    first = "usr/share/games/game/data/music/boom.ogg"
    (package_dir / "tracks.jsonl").write_text(
        json.dumps({"source_path": first, "status": "skipped", "reason": "short: 2.0 s"})
        + '\n{"source_path": "usr/sh')
    monkeypatch.setattr(mp, "SETS", {"eval": (), "pool": ("toygame-data",)})
    mp.decode_package(layout, "pool", "toygame-data")
    records = mp._read_records(package_dir / "tracks.jsonl")
    assert sorted(r["source_path"].rsplit("/", 1)[1] for r in records) == [
        "boom.ogg", "level1.ogg", "menu.ogg"]  # boom.ogg decoded once, not again
    assert {r.get("version") for r in records if r["status"] == "kept"} == {"2.0-3"}
    assert not (layout.extract / "toygame-data").exists()  # the extracted tree is removed
    mp.write_licences(layout, "pool")
    mp.build_manifests(layout)
    rows = mp.read_csv(layout.set_dir("pool") / "manifest.csv")
    assert [(Path(r["source_path"]).name, r["licence"]) for r in rows] == [
        ("level1.ogg", "CC-BY-SA-3.0"), ("menu.ogg", "CC0-1.0")]
    assert all(r["sha1"] == hashlib.sha1(Path(r["audio_path"]).read_bytes()).hexdigest()
               for r in rows)
    mtime = (package_dir / "done.json").stat().st_mtime_ns
    mp.decode_package(layout, "pool", "toygame-data")  # done: nothing happens
    assert (package_dir / "done.json").stat().st_mtime_ns == mtime
