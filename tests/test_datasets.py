"""Dataset loaders on fake GTZAN, MagnaTagATune and folder-per-class trees."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from sklearn_samplecnn.audio import write_audio
from sklearn_samplecnn.datasets import (
    MTAT_FOLDER_SPLIT,
    fetch_gtzan,
    fetch_magnatagatune,
    load_audio_folder,
)
from sklearn_samplecnn.exceptions import DatasetNotFoundError, SampleCNNError

SR = 8000
GENRES = ["rock", "blues", "jazz"]  # unsorted on purpose


def _clip(path, seed=0):
    rng = np.random.default_rng(seed)
    write_audio(path, (0.1 * rng.standard_normal(SR // 10)).astype(np.float32), SR)


def _gtzan(root, n_per_genre=4, ext="au"):
    """root/genres/<genre>/<genre>.000NN.<ext>, with a stray file per folder."""
    genres = root / "genres"
    for g in GENRES:
        for i in range(n_per_genre):
            _clip(genres / g / f"{g}.{i:05d}.{ext}", i)
        (genres / g / "notes.txt").write_text("not audio")
    (genres / "bextract_single.mf").write_text("not audio")
    return genres


def _split_lists(folder, train, valid, test):
    for name, lines in (("train", train), ("valid", valid), ("test", test)):
        (folder / f"{name}_filtered.txt").write_text("\n".join(lines) + "\n")


@pytest.fixture
def gtzan(tmp_path):
    genres = _gtzan(tmp_path)
    _split_lists(
        tmp_path,
        ["rock/rock.00000.wav", "blues/blues.00000.wav", "jazz/jazz.00000.wav",
         "jazz/jazz.00001.wav"],
        ["rock/rock.00001.wav", "", "blues/blues.00001.wav"],
        ["jazz/jazz.00003.wav"],
    )
    return tmp_path, genres


def test_gtzan_all_clips_sorted_by_genre(gtzan):
    home, genres = gtzan
    data = fetch_gtzan(data_home=home)
    assert data.target_names == ["blues", "jazz", "rock"]
    assert len(data.filenames) == 12
    assert data.target.tolist() == [0] * 4 + [1] * 4 + [2] * 4
    assert data.filenames[0] == str(genres / "blues" / "blues.00000.au")
    assert data.filenames[-1] == str(genres / "rock" / "rock.00003.au")
    assert set(data.split) == {"all"}
    assert data.root == str(genres)
    assert "GTZAN" in data.DESCR


@pytest.mark.parametrize("where", ["genres", "parent"])
def test_gtzan_data_home_may_be_genres_or_its_parent(gtzan, where):
    home, genres = gtzan
    data = fetch_gtzan(data_home=genres if where == "genres" else home)
    assert len(data.filenames) == 12


def test_gtzan_filtered_split(gtzan):
    home, _ = gtzan
    data = fetch_gtzan(data_home=home, split="filtered")
    assert len(data.filenames) == 7
    assert [(n.rsplit("/", 1)[-1], s) for n, s in zip(data.filenames, data.split)] == [
        ("blues.00000.au", "train"), ("blues.00001.au", "valid"),
        ("jazz.00000.au", "train"), ("jazz.00001.au", "train"), ("jazz.00003.au", "test"),
        ("rock.00000.au", "train"), ("rock.00001.au", "valid"),
    ]
    assert data.target.tolist() == [0, 0, 1, 1, 1, 2, 2]
    assert (data.split == "train").sum() == 4
    assert "train: 4, valid: 2, test: 1" in data.DESCR


def test_gtzan_split_lists_found_in_genres_folder_or_split_dir(tmp_path):
    genres = _gtzan(tmp_path / "a", ext="wav")
    _split_lists(genres, ["rock/rock.00000.wav"], ["rock/rock.00001.wav"], ["rock/rock.00002.wav"])
    assert fetch_gtzan(data_home=tmp_path / "a", split="filtered").split.tolist() == [
        "train", "valid", "test"]
    elsewhere = tmp_path / "lists"
    elsewhere.mkdir()
    _split_lists(elsewhere, ["jazz/jazz.00000.wav"], [], ["blues/blues.00003.wav"])
    data = fetch_gtzan(data_home=genres, split="filtered", split_dir=elsewhere)
    assert data.split.tolist() == ["test", "train"]
    assert data.filenames[0].endswith("blues/blues.00003.wav")


def test_gtzan_prefers_wav_when_both_exist(tmp_path):
    genres = _gtzan(tmp_path, n_per_genre=2)
    _clip(genres / "rock" / "rock.00000.wav")
    data = fetch_gtzan(data_home=tmp_path)
    assert len(data.filenames) == 6
    assert str(genres / "rock" / "rock.00000.wav") in data.filenames


def test_gtzan_errors_name_what_is_missing(tmp_path, gtzan):
    with pytest.raises(DatasetNotFoundError, match="genres/<genre>/<genre>.000NN.au") as err:
        fetch_gtzan(data_home=tmp_path / "nowhere")
    assert str(tmp_path / "nowhere") in str(err.value)
    assert isinstance(err.value, OSError) and isinstance(err.value, SampleCNNError)

    empty = tmp_path / "empty"
    (empty / "genres" / "rock").mkdir(parents=True)
    with pytest.raises(DatasetNotFoundError, match="no audio") as err:
        fetch_gtzan(data_home=empty)
    assert str(empty / "genres") in str(err.value)

    home, _ = gtzan
    (home / "valid_filtered.txt").unlink()
    with pytest.raises(DatasetNotFoundError, match="valid_filtered.txt") as err:
        fetch_gtzan(data_home=home, split="filtered")
    assert str(home) in str(err.value)

    _split_lists(home, ["rock/rock.00000.wav", "jazz/jazz.00042.wav"], [], [])
    with pytest.raises(DatasetNotFoundError, match="line 2") as err:
        fetch_gtzan(data_home=home, split="filtered")
    assert "jazz.00042" in str(err.value) and "train_filtered.txt" in str(err.value)

    _split_lists(home, ["rock/rock.00000.wav"], [], ["rock/rock.00000.wav"])
    with pytest.raises(DatasetNotFoundError, match="twice"):
        fetch_gtzan(data_home=home, split="filtered")

    with pytest.raises(ValueError, match="split must be None or 'filtered', got 'train'"):
        fetch_gtzan(data_home=home, split="train")


# -- MagnaTagATune ------------------------------------------------------------

TAG_NAMES = ["guitar", "classical", "slow", "rare", "techno"]
# clip_id, mp3 folder, tags (column order of TAG_NAMES)
CLIPS = [
    (2, "0", [1, 1, 0, 0, 0]),
    (6, "0", [0, 0, 0, 0, 0]),  # no tag at all
    (10, "3", [1, 0, 1, 0, 1]),
    (11, "b", [0, 1, 1, 0, 0]),
    (15, "c", [1, 0, 0, 1, 0]),
    (19, "c", [0, 0, 0, 1, 0]),  # only the rare tag
    (23, "d", [1, 0, 0, 0, 1]),
    (30, "f", [0, 1, 1, 0, 0]),
]
# counts: guitar 4, classical 3, slow 3, rare 2, techno 2 -> top-3: guitar, classical, slow


def _mtat(home, *, mp3_folder=True, quote=True, write_files=True):
    audio = home / "mp3" if mp3_folder else home
    q = '"' if quote else ""
    lines = ["\t".join(f"{q}{c}{q}" for c in ["clip_id", *TAG_NAMES, "mp3_path"])]
    for clip_id, folder, tags in CLIPS:
        path = f"{folder}/artist-album-{clip_id:02d}-track-0-29.mp3"
        lines.append("\t".join(f"{q}{v}{q}" for v in [clip_id, *tags, path]))
        if write_files:
            (audio / folder).mkdir(parents=True, exist_ok=True)
            (audio / path).write_bytes(b"ID3 fake mp3")
    home.mkdir(parents=True, exist_ok=True)
    (home / "annotations_final.csv").write_text("\n".join(lines) + "\n")
    return audio


@pytest.mark.parametrize("mp3_folder, quote", [(True, True), (False, False)])
def test_mtat_top_tags_indicator_and_folder_split(tmp_path, mp3_folder, quote):
    audio = _mtat(tmp_path, mp3_folder=mp3_folder, quote=quote)
    data = fetch_magnatagatune(data_home=tmp_path, n_tags=3)
    assert data.target_names == ["guitar", "classical", "slow"]
    assert data.tag_counts.tolist() == [4, 3, 3]
    assert data.clip_id.tolist() == [2, 10, 11, 15, 23, 30]
    assert data.target.tolist() == [
        [1, 1, 0], [1, 0, 1], [0, 1, 1], [1, 0, 0], [1, 0, 0], [0, 1, 1]]
    assert data.target.dtype.kind == "i"
    assert data.split.tolist() == ["train", "train", "train", "valid", "test", "test"]
    assert data.filenames[0] == str(audio / "0" / "artist-album-02-track-0-29.mp3")
    assert data.root == str(audio)


def test_mtat_ties_broken_by_column_order_and_split_none(tmp_path):
    _mtat(tmp_path)
    data = fetch_magnatagatune(data_home=tmp_path, n_tags=5, split=None)
    # classical and slow tie at 3, rare and techno tie at 2: CSV order wins
    assert data.target_names == ["guitar", "classical", "slow", "rare", "techno"]
    assert len(data.filenames) == 7  # all but the clip without tags
    assert set(data.split) == {"all"}
    assert MTAT_FOLDER_SPLIT["c"] == "valid" and MTAT_FOLDER_SPLIT["d"] == "test"


def test_mtat_empty_files_left_out_with_warning(tmp_path):
    audio = _mtat(tmp_path)
    empty = audio / "3" / "artist-album-10-track-0-29.mp3"
    empty.write_bytes(b"")
    with pytest.warns(UserWarning, match="1 empty"):
        data = fetch_magnatagatune(data_home=tmp_path, n_tags=3)
    assert data.skipped == [str(empty)]
    assert data.clip_id.tolist() == [2, 11, 15, 23, 30]
    assert len(data.split) == len(data.filenames) == len(data.target) == 5


def test_mtat_errors_name_what_is_missing(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="annotations_final.csv") as err:
        fetch_magnatagatune(data_home=tmp_path)
    assert str(tmp_path) in str(err.value)

    _mtat(tmp_path, write_files=False)
    with pytest.raises(DatasetNotFoundError, match="6 of 6 mp3 files") as err:
        fetch_magnatagatune(data_home=tmp_path, n_tags=3)
    assert "0/artist-album-02-track-0-29.mp3" in str(err.value)
    assert len(fetch_magnatagatune(data_home=tmp_path, n_tags=3, check_files=False).filenames) == 6

    csv_path = tmp_path / "annotations_final.csv"
    csv_path.write_text("clip_id\tguitar\tpath\n1\t1\t0/a.mp3\n")
    with pytest.raises(DatasetNotFoundError, match="no 'mp3_path' column") as err:
        fetch_magnatagatune(data_home=tmp_path, n_tags=1)
    assert str(csv_path) in str(err.value)

    csv_path.write_text("clip_id\tguitar\tmp3_path\n1\t1\t0/a.mp3\n2\tyes\t0/b.mp3\n")
    with pytest.raises(DatasetNotFoundError, match="line 3 is malformed: tag 'guitar' is 'yes'"):
        fetch_magnatagatune(data_home=tmp_path, n_tags=1)

    csv_path.write_text("clip_id\tguitar\trock\tmp3_path\n1\t10\t\t0/b.mp3\n")
    with pytest.raises(DatasetNotFoundError, match="line 2 is malformed: tag 'guitar' is '10'"):
        fetch_magnatagatune(data_home=tmp_path, n_tags=1)

    csv_path.write_text("clip_id\tguitar\tmp3_path\n1\t1\n")
    with pytest.raises(DatasetNotFoundError, match="line 2 is malformed: 2 fields"):
        fetch_magnatagatune(data_home=tmp_path, n_tags=1)

    csv_path.write_text("clip_id\tguitar\tmp3_path\n1\t1\tz/a.mp3\n")
    with pytest.raises(DatasetNotFoundError, match="'z/a.mp3'"):
        fetch_magnatagatune(data_home=tmp_path, n_tags=1)

    with pytest.raises(ValueError, match="n_tags must be at most .* \\(1\\), got 2"):
        fetch_magnatagatune(data_home=tmp_path, n_tags=2)
    with pytest.raises(ValueError, match="n_tags must be a positive integer, got 0"):
        fetch_magnatagatune(data_home=tmp_path, n_tags=0)
    with pytest.raises(ValueError, match="split must be 'folder' or None"):
        fetch_magnatagatune(data_home=tmp_path, split="random")


# -- folders ------------------------------------------------------------------

def test_load_audio_folder(tmp_path):
    for name in ["b/one.wav", "b/sub/two.FLAC", "a/x.au", "a/._x.au", "a/readme.txt"]:
        target = tmp_path / name
        if name.endswith((".txt",)) or "._" in name:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text("not audio")
        else:
            _clip(target)
    (tmp_path / "empty").mkdir()
    data = load_audio_folder(tmp_path)
    assert data.target_names == ["a", "b"]
    assert data.target.tolist() == [0, 1, 1]
    assert data.filenames == [str(tmp_path / "a/x.au"), str(tmp_path / "b/one.wav"),
                              str(tmp_path / "b/sub/two.FLAC")]
    only_wav = load_audio_folder(tmp_path, extensions=["wav"])
    assert only_wav.target_names == ["b"] and len(only_wav.filenames) == 1


def test_load_audio_folder_errors(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="not a folder") as err:
        load_audio_folder(tmp_path / "missing")
    assert str(tmp_path / "missing") in str(err.value)
    _clip(tmp_path / "loose.wav")
    (tmp_path / "classless").mkdir()
    with pytest.raises(DatasetNotFoundError, match="1 audio file\\(s\\) directly") as err:
        load_audio_folder(tmp_path)
    assert str(tmp_path) in str(err.value)


def test_datasets_import_leaves_torch_out():
    code = ("import sys, sklearn_samplecnn.datasets as d; d.make_music; "
            "print('torch' in sys.modules, 'skorch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_top_level_lazy_names():
    import sklearn_samplecnn

    for name in ["fetch_gtzan", "fetch_magnatagatune", "load_audio_folder", "make_music"]:
        assert getattr(sklearn_samplecnn, name) is getattr(
            __import__("sklearn_samplecnn.datasets", fromlist=[name]), name)


def test_load_audio_csv_labels_tags_and_errors(tmp_path):
    from sklearn_samplecnn import load_audio_csv  # also a top-level name

    (tmp_path / "sub").mkdir()
    labels = tmp_path / "sub" / "labels.csv"
    labels.write_text("\ufeffpath;label;rock;piano\n a.mp3 ;rock;1;0\n\n/abs/b.wav;jazz;0;1\n"
                      "c.flac; rock ;1;1\n", encoding="utf-8")
    data = load_audio_csv(labels)
    assert data.filenames == [str(tmp_path / "sub" / "a.mp3"), "/abs/b.wav",
                              str(tmp_path / "sub" / "c.flac")]
    assert data.target_names == ["jazz", "rock"] and data.target.tolist() == [1, 0, 1]
    assert data.columns == ["path", "label", "rock", "piano"] and "3 audio files" in data.DESCR
    tags = load_audio_csv(labels, target=["piano", "rock"])
    assert tags.target.tolist() == [[0, 1], [1, 0], [1, 1]]
    assert tags.target_names == ["piano", "rock"]
    assert load_audio_csv(labels, target=None).target is None
    bad = tmp_path / "bad.csv"
    for text, message in [
        ("file,label\na.wav,x\n", r"no 'path' column in the header \['file', 'label'\]"),
        ("path,label\na.wav,\n", r"bad.csv line 2: empty label"),
        ("path,label\n,x\n", r"bad.csv line 2: empty path"),
        ("path,label\na.wav,x,y\n", r"bad.csv line 2: 3 fields, the header has 2"),
        ("path,genre\na.wav,x\n", r"no 'label' label column in the header"),
        ("path\n", r"the CSV has a header but no rows"),
    ]:
        bad.write_text(text)
        with pytest.raises(ValueError, match=message):
            load_audio_csv(bad)
    bad.write_text("path,rock\na.wav,2\n")
    with pytest.raises(ValueError, match=r"line 2: tag 'rock' is '2', expected 0 or 1"):
        load_audio_csv(bad, target=["rock"])
    with pytest.raises(ValueError, match=r"tag columns \['piano'\] not in the header"):
        load_audio_csv(bad, target=["piano"])
    bad.write_bytes(b"path,label\n\xff\xfe,x\n")
    with pytest.raises(ValueError, match="cannot be read as a UTF-8 CSV"):
        load_audio_csv(bad)
    with pytest.raises(DatasetNotFoundError, match="missing.csv: no such CSV file"):
        load_audio_csv(tmp_path / "missing.csv")
