"""Generated music: labelled WAV clips for tests, demos and quick experiments.

:func:`make_music` writes clips that sound like (very simple) songs: drums,
a bass line, chords and a melody, looped every four bars, then put through a
random "recording" (gain, tilt, low/high cut, hiss). Everything is vectorised
numpy (wavetable oscillators, envelopes, drum samples added in place), so
generating is fast (docs/performance.md has the rate).

Genre task (``task="genre"``, :data:`GENRES`)
--------------------------------------------
Each style differs the ways genres do; none is told apart by one number.

``blues``       68-100 BPM shuffle (swung 8ths); dominant-7th chords (I7-IV7-V7)
                comped on the shuffle by organ or piano; boogie bass
                (1-3-5-6-b7); an overdriven guitar or harmonica lead on the
                blues scale.
``classical``   60-100 BPM, no drums; major or harmonic-minor cadences; a
                string pad with vibrato, a harp/piano arpeggio, a sustained
                cello bass and a legato violin or flute melody.
``country``     90-135 BPM train beat (brushes, 8th hats); root-fifth bass on
                beats 1 and 3; strummed bright acoustic guitar on 8ths; a fiddle
                (vibrato) or twangy pluck lead on the major pentatonic.
``disco``       110-128 BPM four-on-the-floor with open hats on the off-beats
                and 16th hats; octave bass; minor-7th chords as string pads and
                muted 16th guitar scratches; brass stabs.
``electronic``  120-135 BPM four-on-the-floor, clap on 2 and 4; off-beat or
                rolling saw bass; detuned saw pad and a 16th pluck arpeggio, all
                ducked by the kick (side-chain pumping).
``hiphop``      80-98 BPM boom-bap (syncopated kick, snare on 2 and 4, swung 16th
                hats); long 808 sub bass; soft electric-piano chords; sparse
                bells; vinyl crackle.
``jazz``        100-200 BPM swing ride pattern, hi-hat on 2 and 4, feathered kick;
                walking bass with chromatic approach notes; ii-V-I seventh
                chords comped by piano off the beat; a sax-like (brass, vibrato)
                bebop line on swung 8ths.
``metal``       140-200 BPM double-kick 16ths; heavily distorted palm-muted
                power chords on 16ths (phrygian/minor riffs); distorted bass;
                an occasional tremolo-picked lead.
``reggae``      66-84 BPM one-drop (kick and rim on beat 3, swung hats);
                organ or guitar skank on the off-beats; a deep, sparse,
                melodic bass; a melodica lead.
``rock``        100-145 BPM backbeat with crash; mildly distorted power chords
                on 8ths; root 8th-note picked bass; an optional distorted solo on
                the pentatonic scale.

Tags task (``task="tags"``, :data:`TAGS`)
-----------------------------------------
Each clip draws 2 or 3 instruments out of ``piano`` (chords on the beat),
``guitar`` (strummed or arpeggiated plucks), ``strings`` (vibrato pad),
``organ`` (held drawbar chords), ``brass`` (stabs), ``synth`` (bright saw
arpeggio on 16ths) and ``vocal`` (a sung melody from formant tables on five
vowels, with vibrato); ``drums`` and ``bass`` each with probability 0.6;
``distorted`` (p=0.25) drives the instruments through a tanh; ``noisy``
(p=0.25) adds hiss 14-22 dB below the music; ``fast`` (145-175 BPM) and
``slow`` (60-78 BPM) each with probability 1/3, else 92-124 BPM and neither
tag. The target is a 0/1 matrix with one column per tag in :data:`TAGS` order.

Every clip (both tasks) has a random key, tempo within its range, part levels
(+/-4 dB), overall gain (+/-12 dB around -26 dBFS RMS, clipped at full scale)
and recording colouring: a one-pole low-pass at 2-10 kHz (80% of clips), a
one-pole high-pass at 20-200 Hz, a high-shelf tilt and hiss 35-65 dB down.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import lfilter
from sklearn.utils import Bunch, check_random_state

from ._synth import (
    _EIGHTHS,
    _INSTRUMENTS,
    _QUALITY,
    _bass_notes,
    _chord_part,
    _drive,
    _drums,
    _hz,
    _kit,
    _lead,
    _melody,
    _mix,
    _onepole,
    _pump,
    _Song,
    _timbre,
    _vowel_table,
)

__all__ = ["GENRES", "TAGS", "make_music"]

#: The styles of ``make_music(task="genre")``, in ``target_names`` order.
GENRES = (
    "blues", "classical", "country", "disco", "electronic",
    "hiphop", "jazz", "metal", "reggae", "rock",
)
#: The tags of ``make_music(task="tags")``, in ``target_names`` (column) order.
TAGS = (
    "drums", "bass", "piano", "guitar", "strings", "organ", "brass",
    "synth", "vocal", "distorted", "noisy", "fast", "slow",
)

_STYLES = {
    "blues": dict(
        tempo=(68, 100), swing=(0.62, 0.7), scale="blues",
        progs=[[(0, "7"), (5, "7"), (0, "7"), (7, "7")], [(0, "7"), (0, "7"), (5, "7"), (0, "7")],
               [(7, "7"), (5, "7"), (0, "7"), (7, "7")]],
        drums=[dict(kick=(0, 8), snare=(4, 12), hat=_EIGHTHS)],
        bass=("boogie", "pluck", "bass"),
        chords=[("shuffle", ("organ", "piano"), 0.0)],
        lead=dict(p=0.8, timbre=("saw", "reed"), step=2, density=0.45, drive=(1.5, 3.0)),
    ),
    "classical": dict(
        tempo=(60, 100), scale=("major", "harmonic_minor"),
        progs=[[(0, "maj"), (5, "maj"), (7, "maj"), (0, "maj")],
               [(0, "maj"), (9, "min"), (5, "maj"), (7, "maj")],
               [(0, "min"), (5, "min"), (7, "maj"), (0, "min")]],
        drums=None, bass=("sustain", "strings", "strings"),
        chords=[("pad", ("strings",), 0.012), ("arp8", ("pluck", "piano"), 0.0)],
        lead=dict(p=0.9, timbre=("strings", "sine"), step=2, density=0.5, vibrato=0.01,
                  env="strings", legato=True),
    ),
    "country": dict(
        tempo=(90, 135), swing=(0.5, 0.56), scale="major_penta",
        progs=[[(0, "maj"), (5, "maj"), (7, "maj"), (0, "maj")],
               [(0, "maj"), (0, "maj"), (5, "maj"), (7, "maj")]],
        drums=[dict(kick=(0, 8), brush=(4, 12), hat=_EIGHTHS)],
        bass=("rootfifth", "pluck", "bass"),
        chords=[("strum8", ("pluck",), 0.0)],
        lead=dict(p=0.8, timbre=("strings", "pluck"), step=2, density=0.5, vibrato=0.008),
    ),
    "disco": dict(
        tempo=(110, 128), scale="dorian",
        progs=[[(0, "m7"), (5, "m7"), (0, "m7"), (5, "m7")],
               [(0, "m7"), (3, "maj7"), (5, "m7"), (7, "min")]],
        drums=[dict(kick=(0, 4, 8, 12), snare=(4, 12), ohat=(2, 6, 10, 14),
                    hat=tuple(range(16)))],
        bass=("octave", "saw", "bass"),
        chords=[("pad", ("strings",), 0.01), ("scratch16", ("pluck",), 0.0),
                ("stab", ("brass",), 0.0)],
        lead=None,
    ),
    "electronic": dict(
        tempo=(120, 135), scale="minor", pump=True,
        progs=[[(0, "min"), (8, "maj"), (3, "maj"), (10, "maj")],
               [(0, "min"), (0, "min"), (8, "maj"), (10, "maj")]],
        drums=[dict(kick=(0, 4, 8, 12), clap=(4, 12), ohat=(2, 6, 10, 14),
                    hat=tuple(range(16)))],
        bass=(("offbeat", "roll16"), "saw", "mute"),
        chords=[("pad", ("supersaw",), 0.0), ("arp16", ("saw",), 0.0)],
        lead=None,
    ),
    "hiphop": dict(
        tempo=(80, 98), swing16=(0.55, 0.64), scale="minor_penta", crackle=True,
        progs=[[(0, "m7"), (0, "m7"), (8, "maj7"), (7, "m7")],
               [(0, "m7"), (5, "m7"), (0, "m7"), (5, "m7")]],
        drums=[dict(kick=(0, 7, 10), snare=(4, 12), hat=_EIGHTHS),
               dict(kick=(0, 3, 10), snare=(4, 12), hat=tuple(range(16)))],
        bass=("808", "sine", "sub"),
        chords=[("keys", ("keys",), 0.004)],
        lead=dict(p=0.5, timbre=("sine",), step=2, density=0.15, octave=24),
    ),
    "jazz": dict(
        tempo=(100, 200), swing=(0.62, 0.7), scale="dorian",
        progs=[[(2, "m7"), (7, "7"), (0, "maj7"), (0, "maj7")],
               [(2, "m7"), (7, "7"), (0, "maj7"), (9, "7")]],
        drums=[dict(ride=(0, 4, 6, 8, 12, 14), hat=(4, 12), kick=(0, 4, 8, 12))],
        kick_gain=0.25,
        bass=("walking", "pluck", "bass"),
        chords=[("comp", ("piano",), 0.0)],
        lead=dict(p=0.9, timbre=("brass", "reed"), step=2, density=0.6, vibrato=0.01,
                  env="brass"),
    ),
    "metal": dict(
        tempo=(140, 200), scale="phrygian",
        progs=[[(0, "5"), (1, "5"), (0, "5"), (10, "5")], [(0, "5"), (0, "5"), (8, "5"), (7, "5")]],
        drums=[dict(kick=tuple(range(16)), snare=(4, 12), hat=_EIGHTHS, crash=(0,))],
        bass=("root16", "saw", "mute"), bass_drive=3.0,
        chords=[("chug16", ("saw",), 0.0)], chord_drive=(8.0, 15.0),
        lead=dict(p=0.4, timbre=("saw",), step=1, density=0.9, drive=(6.0, 10.0)),
    ),
    "reggae": dict(
        tempo=(66, 84), swing=(0.5, 0.6), scale="major",
        progs=[[(0, "maj"), (5, "maj"), (0, "maj"), (7, "maj")],
               [(0, "min"), (10, "maj"), (0, "min"), (10, "maj")]],
        drums=[dict(kick=(8,), rim=(8,), hat=_EIGHTHS)],
        bass=("onedrop", "sine", "bass"),
        chords=[("skank", ("organ", "pluck"), 0.0)],
        lead=dict(p=0.6, timbre=("reed",), step=2, density=0.25),
    ),
    "rock": dict(
        tempo=(100, 145), scale="minor_penta",
        progs=[[(0, "5"), (10, "5"), (5, "5"), (0, "5")], [(0, "5"), (5, "5"), (7, "5"), (5, "5")],
               [(9, "5"), (5, "5"), (0, "5"), (7, "5")]],
        drums=[dict(kick=(0, 8), snare=(4, 12), hat=_EIGHTHS, crash=(0,)),
               dict(kick=(0, 8, 10), snare=(4, 12), hat=_EIGHTHS, crash=(0,))],
        bass=("root8", "saw", "bass"),
        chords=[("chug8", ("saw",), 0.0)], chord_drive=(2.5, 5.0),
        lead=dict(p=0.5, timbre=("saw",), step=2, density=0.5, drive=(3.0, 6.0)),
    ),
}


def _genre_loop(style: str, rng, sr: int, n_samples: int) -> np.ndarray:
    p = _STYLES[style]
    song = _Song(rng, sr, n_samples, rng.uniform(*p["tempo"]),
                 swing=rng.uniform(*p.get("swing", (0.5, 0.5))),
                 swing16=rng.uniform(*p.get("swing16", (0.5, 0.5))))
    key = int(rng.integers(12))
    prog = p["progs"][rng.integers(len(p["progs"]))]
    chords = [((key + deg) % 12, _QUALITY[q]) for deg, q in prog][:song.n_bars]
    scale = p["scale"] if isinstance(p["scale"], str) else str(rng.choice(p["scale"]))
    if prog[0][1] == "min" and scale == "major":
        scale = "minor"
    drums, music = [], []
    if p["drums"]:
        pattern = p["drums"][rng.integers(len(p["drums"]))]
        drums.append((_drums(song, pattern, _kit(rng, sr, pattern), p.get("kick_gain", 1.0)), 0.0))
    bass_kind, bass_timbre, bass_env = p["bass"]
    kind = bass_kind if isinstance(bass_kind, str) else str(rng.choice(bass_kind))
    notes = _bass_notes(song, kind, chords, rng)
    bass = song.voice(notes, _timbre(bass_timbre, _hz(60), sr, rng), bass_env)
    if "bass_drive" in p:
        bass = _drive(bass, p["bass_drive"])
    music.append((bass, -3.0))
    for rhythm, timbres, vibrato in p["chords"]:
        y = _chord_part(song, rhythm, str(rng.choice(timbres)), vibrato, chords, rng, sr)
        if "chord_drive" in p:
            y = _drive(y, rng.uniform(*p["chord_drive"]))
        music.append((y, -4.0))
    if p["lead"] and rng.random() < p["lead"]["p"]:
        music.append((_lead(song, p["lead"], rng, key, scale, sr), -5.0))
    mix = _mix(music, rng)
    if p.get("pump"):
        mix = mix * _pump(song)
    if drums:
        mix = mix + _mix(drums, rng) * np.float32(np.sqrt(np.mean(mix * mix)))
    if p.get("crackle"):
        pops = rng.integers(song.n, size=int(3 * song.n / sr))
        np.add.at(mix, pops, rng.uniform(-1, 1, len(pops)).astype(np.float32) * 0.3)
    return mix


_TAG_PROGS = {
    False: [[(0, "maj"), (7, "maj"), (9, "min"), (5, "maj")],
            [(0, "maj"), (5, "maj"), (7, "maj"), (5, "maj")]],
    True: [[(0, "min"), (8, "maj"), (3, "maj"), (10, "maj")],
           [(0, "min"), (5, "min"), (0, "min"), (7, "maj")]],
}


def _tags_loop(rng, sr: int, n_samples: int) -> tuple[np.ndarray, set]:
    tags = set(rng.choice(_INSTRUMENTS, size=int(rng.integers(2, 4)), replace=False).tolist())
    tags |= {t for t, p in (("drums", 0.6), ("bass", 0.6), ("distorted", 0.25), ("noisy", 0.25))
             if rng.random() < p}
    speed = rng.integers(3)
    tempo = (rng.uniform(145, 175), rng.uniform(60, 78), rng.uniform(92, 124))[speed]
    tags |= {("fast", "slow", "")[speed]} - {""}
    song = _Song(rng, sr, n_samples, tempo)
    key = int(rng.integers(12))
    minor = bool(rng.random() < 0.5)
    prog = _TAG_PROGS[minor][rng.integers(2)]
    chords = [((key + deg) % 12, _QUALITY[q]) for deg, q in prog][:song.n_bars]
    scale = "minor" if minor else "major"
    parts = []
    if "piano" in tags:
        parts.append(_chord_part(song, str(rng.choice(["quarter", "half", "comp"])), "piano", 0.0,
                                 chords, rng, sr))
    if "guitar" in tags:
        parts.append(_chord_part(song, str(rng.choice(["strum8", "arp8"])), "pluck", 0.0,
                                 chords, rng, sr))
    if "strings" in tags:
        parts.append(_chord_part(song, "pad", "strings", 0.012, chords, rng, sr))
    if "organ" in tags:
        parts.append(_chord_part(song, "half", "organ", 0.0, chords, rng, sr))
    if "brass" in tags:
        parts.append(_chord_part(song, str(rng.choice(["stab", "offbeats"])), "brass", 0.0,
                                 chords, rng, sr))
    if "synth" in tags:
        parts.append(_chord_part(song, "arp16", "saw", 0.0, chords, rng, sr))
    if "vocal" in tags:
        picks = _melody(song, rng, key, scale, int(rng.choice([2, 4])), 0.6, True, lo=57, hi=74)
        vowels = rng.integers(5, size=len(picks))
        combos = sorted({(m, int(v)) for (*_, m), v in zip(picks, vowels)})
        tables = np.stack([_vowel_table(_hz(m), v, sr) for m, v in combos])
        notes = [song.note(b, s, n, m, rng.uniform(0.8, 1.0), combos.index((m, int(v))))
                 for (b, s, n, m), v in zip(picks, vowels)]
        parts.append(song.voice(notes, tables, "strings", vibrato=0.015))
    music = _mix([(y, -4.0) for y in parts], rng)
    if "distorted" in tags:
        music = _drive(music, rng.uniform(5.0, 10.0))
    rms = np.sqrt(np.mean(music * music))
    if "bass" in tags:
        kind = str(rng.choice(["root8", "octave", "sustain", "rootfifth"]))
        timbre = str(rng.choice(["pluck", "saw", "sine"]))
        bass = song.voice(_bass_notes(song, kind, chords, rng), _timbre(timbre, _hz(60), sr, rng),
                          "bass")
        music = music + bass * np.float32(rms * 10 ** (rng.uniform(-5, 0) / 20)
                                          / (np.sqrt(np.mean(bass * bass)) + 1e-9))
    if "drums" in tags:
        pattern = [dict(kick=(0, 8), snare=(4, 12), hat=_EIGHTHS),
                   dict(kick=(0, 4, 8, 12), clap=(4, 12), ohat=(2, 6, 10, 14)),
                   dict(kick=(0, 10), snare=(8,), hat=tuple(range(16)))][rng.integers(3)]
        drums = _drums(song, pattern, _kit(rng, sr, pattern))
        music = music + drums * np.float32(rms * 10 ** (rng.uniform(-3, 2) / 20)
                                           / (np.sqrt(np.mean(drums * drums)) + 1e-9))
    if "noisy" in tags:
        music = music + rng.standard_normal(song.n).astype(np.float32) * np.float32(
            np.sqrt(np.mean(music * music)) * 10 ** (-rng.uniform(14, 22) / 20))
    return music, tags


def _record(loop: np.ndarray, n_samples: int, rng, sr: int) -> np.ndarray:
    """The loop through a random recording chain, as 16-bit PCM (at most ``n_samples``)."""
    # one IIR filter: low-pass (or none) * high-pass (1 - low-pass) * high shelf
    # (1 + g * (1 - low-pass)), each one-pole
    if rng.random() < 0.8:
        b, a = _onepole(np.exp(rng.uniform(np.log(2000), np.log(10000))), sr)
    else:
        b, a = np.array([1.0]), np.array([1.0])
    b2, a2 = _onepole(np.exp(rng.uniform(np.log(20), np.log(200))), sr)
    b3, a3 = _onepole(rng.uniform(1500, 4000), sr)
    g = rng.uniform(-0.5, 0.8)
    b = np.convolve(np.convolve(b, a2 - b2), (1 + g) * a3 - g * b3)
    a = np.convolve(np.convolve(a, a2), a3)
    y = lfilter(b.astype(np.float32), a.astype(np.float32), np.asarray(loop, dtype=np.float32))
    rms = np.sqrt(np.mean(y * y)) + 1e-9
    y = y + rng.standard_normal(len(y)).astype(np.float32) * np.float32(
        rms * 10 ** (-rng.uniform(35, 65) / 20))
    y = y[:n_samples]
    gain = 0.05 * 10 ** (rng.uniform(-12, 12) / 20) / (np.sqrt(np.mean(y * y)) + 1e-9)
    y *= np.float32(gain * 32767)
    np.clip(y, -32767, 32767, out=y)
    return y.astype(np.int16)


def _write(path: Path, loop: np.ndarray, n_samples: int, sr: int) -> None:
    """Write ``loop`` repeated to ``n_samples`` as a mono 16-bit WAV file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with sf.SoundFile(path, "w", samplerate=sr, channels=1, subtype="PCM_16", format="WAV") as f:
        for start in range(0, n_samples, len(loop)):
            f.write(loop[:n_samples - start])


def make_music(
    output_dir: str | os.PathLike,
    *,
    n_clips: int = 100,
    task: str = "genre",
    duration: float = 30.0,
    sr: int = 22050,
    styles: Sequence[str] | None = None,
    random_state: int | np.random.RandomState | None = None,
) -> Bunch:
    """Write generated, labelled music clips as 16-bit WAV files.

    The clips sound like simple songs (drums, bass, chords, melody; see the
    module documentation for what each style and tag is made of), each with a
    random key, tempo, mix and recording colouring so that no single loudness
    or brightness number gives the label away. The same ``random_state`` writes
    byte-identical files.

    Parameters
    ----------
    output_dir : str or os.PathLike
        Folder to write to (created if needed; existing clips are overwritten).
        Genre clips go to ``output_dir/<style>/<style>.000NN.wav`` (the GTZAN
        layout, so :func:`load_audio_folder` reads them back); tag clips to
        ``output_dir/clip.000NN.wav``.
    n_clips : int, default=100
        Number of clips. For ``task="genre"`` the styles take turns (clip ``i``
        has style ``i % n_styles``), so each gets ``n_clips // n_styles`` clips
        and the first ``n_clips % n_styles`` styles one more.
    task : {"genre", "tags"}, default="genre"
        ``"genre"``: one style per clip from :data:`GENRES`. ``"tags"``: several
        tags per clip from :data:`TAGS` (2-3 instruments, plus drums, bass,
        distortion, hiss, tempo tags at random).
    duration : float, default=30.0
        Seconds per clip.
    sr : int, default=22050
        Sample rate in Hz, at least 8000.
    styles : sequence of str or None, default=None
        For ``task="genre"``, the styles to use (a subset of :data:`GENRES`);
        ``None`` uses all ten.
    random_state : int, RandomState instance or None, default=None
        Seed for reproducible clips.

    Returns
    -------
    Bunch
        ``filenames`` (list of str), ``target`` (int ndarray: the style index for
        ``"genre"``, a (n_clips, n_tags) 0/1 matrix for ``"tags"``),
        ``target_names`` (list of str), ``DESCR`` (str).

    Examples
    --------
    >>> import tempfile
    >>> data = make_music(tempfile.mkdtemp(), n_clips=4, duration=1.0, random_state=0)
    >>> data.target_names[:2], data.target.tolist()
    (['blues', 'classical'], [0, 1, 2, 3])
    """
    if isinstance(n_clips, bool) or not isinstance(n_clips, (int, np.integer)) or n_clips < 1:
        raise ValueError(f"n_clips must be a positive integer, got {n_clips!r}.")
    if task not in ("genre", "tags"):
        raise ValueError(f"task must be 'genre' or 'tags', got {task!r}.")
    if not isinstance(duration, (int, float, np.number)) or not np.isfinite(duration) \
            or duration <= 0:
        raise ValueError(f"duration must be a positive number of seconds, got {duration!r}.")
    if isinstance(sr, bool) or not isinstance(sr, (int, np.integer)) or sr < 8000:
        raise ValueError(f"sr must be an integer >= 8000 (Hz), got {sr!r}.")
    if styles is not None and task != "genre":
        raise ValueError(f"styles only applies to task='genre', got styles={styles!r} "
                         f"with task={task!r}.")
    if styles is None:
        names = list(GENRES)
    else:
        names = [styles] if isinstance(styles, str) else list(styles)
        unknown = [s for s in names if s not in GENRES]
        if not names or unknown or len(set(names)) != len(names):
            raise ValueError(f"styles must be distinct names from {GENRES}, got {styles!r}.")
        names = sorted(names, key=GENRES.index)
    seeds = check_random_state(random_state).randint(0, 2**31 - 1, size=n_clips)
    out_dir = Path(os.fspath(output_dir)).expanduser().absolute()
    n_samples = max(1, int(round(duration * sr)))
    filenames, target = [], []
    for i, seed in enumerate(seeds):
        rng = np.random.default_rng(int(seed))
        if task == "genre":
            label = i % len(names)
            loop = _genre_loop(names[label], rng, sr, n_samples)
            path = out_dir / names[label] / f"{names[label]}.{i // len(names):05d}.wav"
            target.append(label)
        else:
            loop, tags = _tags_loop(rng, sr, n_samples)
            path = out_dir / f"clip.{i:05d}.wav"
            target.append([int(t in tags) for t in TAGS])
        _write(path, _record(loop, n_samples, rng, sr), n_samples, sr)
        filenames.append(str(path))
    if task == "genre":
        counts = np.bincount(target, minlength=len(names))
        what = ", ".join(f"{s}: {c}" for s, c in zip(names, counts))
        target_names = names
    else:
        counts = np.sum(target, axis=0)
        what = ", ".join(f"{t}: {c}" for t, c in zip(TAGS, counts))
        target_names = list(TAGS)
    descr = (
        f"Generated music (sklearn_samplecnn.datasets.make_music), task={task!r}\n"
        f"{n_clips} clips of {duration} s at {sr} Hz in {out_dir}, "
        f"random_state={random_state!r}.\nClips per label: {what}.\n"
        "See the sklearn_samplecnn.datasets.music module documentation for what each "
        "style or tag is made of."
    )
    return Bunch(filenames=filenames, target=np.array(target, dtype=np.int64),
                 target_names=target_names, DESCR=descr)
