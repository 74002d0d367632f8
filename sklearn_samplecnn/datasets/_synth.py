"""The synthesiser behind :func:`~sklearn_samplecnn.datasets.make_music`.

Vectorised numpy: band-limited wavetable oscillators and timbres, envelopes,
a formant "vocal", drum samples, bass lines, chord parts, melodies and the
mix, written into a :class:`_Song` loop. :mod:`.music` arranges them into
styles and tags.
"""

from __future__ import annotations

import numpy as np

_INSTRUMENTS = ("piano", "guitar", "strings", "organ", "brass", "synth", "vocal")

_BITS = 11
_T = 2**_BITS  # wavetable length
_QUALITY = {
    "maj": (0, 4, 7), "min": (0, 3, 7), "7": (0, 4, 7, 10), "m7": (0, 3, 7, 10),
    "maj7": (0, 4, 7, 11), "5": (0, 7, 12),
}
_SCALES = {
    "major": (0, 2, 4, 5, 7, 9, 11), "minor": (0, 2, 3, 5, 7, 8, 10),
    "harmonic_minor": (0, 2, 3, 5, 7, 8, 11), "dorian": (0, 2, 3, 5, 7, 9, 10),
    "phrygian": (0, 1, 3, 5, 7, 8, 10), "blues": (0, 3, 5, 6, 7, 10),
    "major_penta": (0, 2, 4, 7, 9), "minor_penta": (0, 3, 5, 7, 10),
}
# attack (s), decay time constant (s), sustain level, release (s)
_ENV = {
    "pluck": (0.002, 0.18, 0.0, 0.01), "piano": (0.002, 0.45, 0.05, 0.03),
    "keys": (0.004, 0.8, 0.1, 0.05), "organ": (0.006, 1.0, 1.0, 0.01),
    "pad": (0.25, 1.0, 1.0, 0.2), "strings": (0.08, 0.6, 0.85, 0.08),
    "brass": (0.03, 0.15, 0.75, 0.04), "stab": (0.005, 0.08, 0.3, 0.02),
    "mute": (0.002, 0.05, 0.0, 0.005), "lead": (0.005, 0.6, 0.7, 0.02),
    "bass": (0.003, 0.3, 0.35, 0.02), "sub": (0.003, 0.7, 0.0, 0.03),
}
# formants (Hz) of the vowels a, e, i, o, u
_VOWELS = np.array([
    [800, 1150, 2900], [400, 1700, 2600], [270, 2300, 3000], [450, 800, 2830], [325, 700, 2530],
], dtype=float)

_EIGHTHS = tuple(range(0, 16, 2))


def _hz(midi) -> np.ndarray:
    return 440.0 * 2.0 ** ((np.asarray(midi, dtype=float) - 69.0) / 12.0)


def _wavetable(amps: np.ndarray) -> np.ndarray:
    spec = np.zeros(_T // 2 + 1, dtype=complex)
    spec[1:len(amps) + 1] = amps
    table = np.fft.irfft(spec, _T)
    return (table / np.abs(table).max()).astype(np.float32)


def _timbre(kind: str, fmax: float, sr: int, rng: np.random.Generator) -> np.ndarray:
    """One period of ``kind``, band-limited below Nyquist for notes up to ``fmax`` Hz."""
    n = int(np.clip(0.45 * sr / fmax, 1, 60))
    h = np.arange(1, n + 1, dtype=float)
    roll = np.exp(-(h - 1) / rng.uniform(6, 30))  # random brightness
    if kind == "sine":
        amps = h ** -6.0
    elif kind == "organ":
        amps = np.zeros(n)
        for harmonic, level in zip((1, 2, 3, 4, 6, 8), rng.uniform(0.2, 1.0, 6)):
            if harmonic <= n:
                amps[harmonic - 1] = level
        amps[0] = 1.0
    elif kind == "reed":
        amps = np.where(h % 2 == 1, 1.0, 0.12) / h * roll
    elif kind == "piano" or kind == "keys":
        amps = h ** (-1.8 if kind == "piano" else -2.6) * roll
    elif kind == "brass":
        amps = h ** -0.7 * roll
    elif kind == "pluck":  # a string plucked at a random point: comb-notched saw
        amps = h ** -1.0 * roll * (0.1 + np.abs(np.sin(np.pi * h * rng.uniform(0.12, 0.3))))
    else:  # strings, saw, supersaw: saw-like
        amps = h ** -1.0 * (roll if kind == "strings" else 1.0)
    return _wavetable(amps)


def _vowel_table(f0: float, vowel: int, sr: int) -> np.ndarray:
    n = int(np.clip(0.45 * sr / f0, 1, 80))
    fh = f0 * np.arange(1, n + 1)
    gains = (1.0, 0.5, 0.25)
    amps = sum(g / (1.0 + ((fh - f) / 90.0) ** 2) for g, f in zip(gains, _VOWELS[vowel]))
    return _wavetable(amps * fh ** -0.3 + 1e-3)


def _onepole(cutoff: float, sr: int) -> tuple[np.ndarray, np.ndarray]:
    """``(b, a)`` of a one-pole low-pass at ``cutoff`` Hz."""
    pole = np.exp(-2.0 * np.pi * cutoff / sr)
    return np.array([1.0 - pole, 0.0]), np.array([1.0, -pole])


def _drive(y: np.ndarray, amount: float) -> np.ndarray:
    rms = np.sqrt(np.mean(y * y)) + 1e-9
    return np.tanh(y * (amount * 0.5 / rms)).astype(np.float32)


class _Song:
    """A loop of ``n_bars`` bars of 16 steps, with the tools to fill it."""

    def __init__(self, rng, sr, n_samples, tempo, swing=0.5, swing16=0.5):
        self.rng, self.sr = rng, sr
        spb = int(round(60.0 * sr / tempo))
        self.bar = 4 * spb
        self.n_bars = int(min(4, max(1, -(-n_samples // self.bar))))
        self.n = self.n_bars * self.bar
        beat = np.array([0.0, swing * swing16, swing, swing + (1.0 - swing) * swing16])
        self.grid = np.round((np.repeat(np.arange(4), 4) + np.tile(beat, 4)) * spb).astype(int)
        self._env_cache: dict = {}
        self._lfo = None

    def at(self, bar: int, step: int) -> int:
        bar, step = bar + step // 16, step % 16
        return bar * self.bar + int(self.grid[step])

    def note(self, bar, step, n_steps, midi, vel=1.0, table=0):
        start = self.at(bar, step)
        return (start, max(1, self.at(bar, step + n_steps) - start), midi, vel, table)

    def _envelope(self, n: int, shape: str) -> np.ndarray:
        key = (n, shape)
        if key not in self._env_cache:
            attack, tau, sustain, release = _ENV[shape]
            t = np.arange(n, dtype=np.float32) / self.sr
            env = sustain + (1.0 - sustain) * np.exp(-t / tau)
            na, nr = (min(n, max(1, int(s * self.sr))) for s in (attack, release))
            env[:na] *= np.linspace(0.0, 1.0, na, dtype=np.float32)
            env[n - nr:] *= np.linspace(1.0, 0.0, nr, dtype=np.float32)
            self._env_cache[key] = env.astype(np.float32)
        return self._env_cache[key]

    def voice(self, notes, tables, shape, *, vibrato=0.0, detune=0.0) -> np.ndarray:
        """One monophonic voice: ``notes`` are ``(start, length, midi, velocity, table)``."""
        notes = sorted(notes)
        starts = np.array([nt[0] for nt in notes])
        durations = np.diff(np.append(starts, self.n))
        durations[0] += starts[0]
        # fixed-point phase in uint32: the top 11 bits index the 2048-long table,
        # and wrapping around 2**32 is wrapping around the period
        step = _hz([nt[2] + detune for nt in notes]) * (2.0**32 / self.sr)
        if vibrato:
            if self._lfo is None:
                t = np.arange(self.n) / self.sr
                self._lfo = np.sin(2 * np.pi * self.rng.uniform(4.5, 6.5) * t)
            phase = (np.repeat(step, durations) * (1.0 + vibrato * self._lfo)).astype(np.uint32)
        else:
            phase = np.repeat(step.astype(np.uint32), durations)
        np.cumsum(phase, dtype=np.uint32, out=phase)
        phase += np.uint32(self.rng.integers(2**32))
        phase >>= np.uint32(32 - _BITS)
        tables = np.atleast_2d(tables)
        if len(tables) > 1:
            phase += np.repeat(np.array([nt[4] for nt in notes], dtype=np.uint32) * _T, durations)
        out = np.take(tables.ravel(), phase)
        env = np.zeros(self.n, dtype=np.float32)
        for start, length, _, vel, _ in notes:
            seg = self._envelope(min(length, self.n), shape) * np.float32(vel)
            end = start + len(seg)
            env[start:min(end, self.n)] += seg[:self.n - start]
            if end > self.n:  # wrap the tail to the loop's start
                env[:end - self.n] += seg[self.n - start:]
        out *= env
        return out

    def hits(self, sample: np.ndarray, steps, vel: float = 1.0) -> np.ndarray:
        out = np.zeros(self.n + len(sample), dtype=np.float32)
        jitter = int(0.004 * self.sr)
        for bar in range(self.n_bars):
            for step in steps:
                start = max(0, self.at(bar, step) + int(self.rng.integers(-jitter, jitter + 1)))
                gain = np.float32(vel * self.rng.uniform(0.8, 1.0))
                out[start:start + len(sample)] += sample * gain
        out[:len(sample)] += out[self.n:]  # wrap tails
        return out[:self.n]


def _kit(rng: np.random.Generator, sr: int, names) -> dict[str, np.ndarray]:
    """Drum samples (peak 1) for the drums in ``names``, with random tuning and decay."""
    def t(seconds):
        return np.arange(int(seconds * sr)) / sr

    def noise(seconds, highpass=1):
        x = rng.standard_normal(int(seconds * sr))
        for _ in range(highpass):
            x = np.diff(x, prepend=0.0)
        return x

    def kick():
        tk = t(0.35)
        f0, f1 = rng.uniform(45, 65), rng.uniform(110, 180)
        sweep = np.cumsum(f0 + (f1 - f0) * np.exp(-tk / 0.03)) * 2 * np.pi / sr
        return np.sin(sweep) * np.exp(-tk / rng.uniform(0.08, 0.2))

    def snare():
        ts = t(0.25)
        return (0.7 * noise(0.25) * np.exp(-ts / rng.uniform(0.04, 0.09))
                + 0.5 * np.sin(2 * np.pi * rng.uniform(170, 230) * ts) * np.exp(-ts / 0.05))

    def rim():
        th = t(0.08)
        return (np.sin(2 * np.pi * rng.uniform(700, 900) * th) * np.exp(-th / 0.01)
                + 0.3 * noise(0.08) * np.exp(-th / 0.005))

    def ride():
        tc = t(0.8)
        freqs = rng.uniform(3000, 5200) * np.array([1.0, 1.34, 1.67, 2.13, 2.6])
        return (np.sin(2 * np.pi * freqs[:, None] * tc).sum(0) * np.exp(-tc / 0.4)
                + 0.8 * noise(0.8, 2) * np.exp(-tc / 0.3))

    recipes = {
        "kick": kick, "snare": snare, "rim": rim, "ride": ride,
        "brush": lambda: noise(0.4, 0) * np.exp(-t(0.4) / rng.uniform(0.08, 0.15)),
        "hat": lambda: noise(0.08, 2) * np.exp(-t(0.08) / rng.uniform(0.01, 0.025)),
        "ohat": lambda: noise(0.4, 2) * np.exp(-t(0.4) / rng.uniform(0.07, 0.15)),
        "clap": lambda: noise(0.2) * np.exp(-((t(0.2) % 0.011) + 0.3 * t(0.2)) / 0.02),
        "crash": lambda: noise(1.2, 2) * np.exp(-t(1.2) / 0.5),
    }
    kit = {name: recipes[name]() for name in names}
    return {k: (v / np.abs(v).max()).astype(np.float32) for k, v in kit.items()}


_DRUM_LEVELS = {"kick": 1.0, "snare": 0.8, "brush": 0.35, "rim": 0.45, "hat": 0.25,
                "ohat": 0.3, "clap": 0.7, "ride": 0.25, "crash": 0.5}


def _drums(song: _Song, pattern: dict, kit: dict, kick_gain: float = 1.0) -> np.ndarray:
    out = np.zeros(song.n, dtype=np.float32)
    for name, steps in pattern.items():
        gain = _DRUM_LEVELS[name] * (kick_gain if name == "kick" else 1.0)
        if name == "crash":
            hit = song.hits(kit[name], steps, gain)
            hit[song.bar:] = 0.0  # a crash on the loop's first bar only
            out += hit
        else:
            out += song.hits(kit[name], steps, gain)
    return out


def _bass_notes(song: _Song, kind: str, chords, rng) -> list:
    notes = []
    for b, (root, quality) in enumerate(chords):
        r = 36 + root
        nxt = 36 + chords[(b + 1) % len(chords)][0]
        third = r + quality[1] if quality[1] in (3, 4) else r + 7
        if kind == "root8":
            pat = [(s, 2, r) for s in _EIGHTHS]
        elif kind == "root16":
            pat = [(s, 1, r - 12 * (s % 8 == 6)) for s in range(16)]
        elif kind == "octave":
            pat = [(s, 2, r + 12 * (s // 2 % 2)) for s in _EIGHTHS]
        elif kind == "boogie":
            pat = [(s, 2, r + o) for s, o in zip(_EIGHTHS, (0, 4, 7, 9, 10, 9, 7, 4))]
        elif kind == "walking":
            pat = [(0, 4, r), (4, 4, r + int(rng.choice([2, third - r, 5]))),
                   (8, 4, r + int(rng.choice([7, third - r, 9]))),
                   (12, 4, nxt + int(rng.choice([-1, 1])))]
        elif kind == "rootfifth":
            pat = [(0, 4, r), (8, 4, r - 5)]
        elif kind == "onedrop":
            pat = [(2, 4, r), (6, 2, r + 7), (8, 2, third + 12), (10, 6, r)]
        elif kind == "sustain":
            pat = [(0, 16, r)]
        elif kind == "808":
            low = r - 12
            pat = [(0, 6, low), (7, 3, low), (10, 6, low + int(rng.choice([0, 7, -2])))]
        elif kind == "offbeat":
            pat = [(s, 1, r) for s in (2, 6, 10, 14)]
        else:  # roll16: every 16th but the kick's
            pat = [(s, 1, r + 12 * (s % 4 == 3)) for s in range(16) if s % 4]
        notes += [song.note(b, s, n, m, rng.uniform(0.8, 1.0)) for s, n, m in pat]
    return notes


_RHYTHMS = {
    "pad": [(0, 16, 1.0)],
    "half": [(0, 8, 1.0), (8, 8, 0.9)],
    "quarter": [(s, 4, 1.0) for s in (0, 4, 8, 12)],
    "shuffle": [(s, 2, 1.0 if s % 4 == 0 else 0.6) for s in _EIGHTHS],
    "strum8": [(s, 2, 1.0 if s in (4, 12) else 0.6) for s in _EIGHTHS],
    "chug8": [(s, 2, 1.0) for s in _EIGHTHS],
    "chug16": [(s, 1, 1.0 if s % 3 == 0 else 0.7) for s in range(16)],
    "scratch16": [(s, 1, 1.0 if s % 4 == 2 else 0.4) for s in range(16)],
    "skank": [(4, 2, 1.0), (12, 2, 1.0)],
    "offbeats": [(s, 1, 1.0) for s in (2, 6, 10, 14)],
    "stab": [(2, 1, 1.0), (10, 1, 0.8)],
    "keys": [(0, 10, 1.0), (10, 6, 0.8)],
}
_RHYTHM_ENV = {"chug8": "mute", "chug16": "mute", "scratch16": "mute", "stab": "stab"}
_TIMBRE_ENV = {"organ": "organ", "piano": "piano", "pluck": "pluck", "strings": "pad",
               "supersaw": "pad", "saw": "pluck", "brass": "brass", "keys": "keys",
               "reed": "lead", "sine": "pluck"}


def _chord_part(song, rhythm, timbre, vibrato, chords, rng, sr) -> np.ndarray:
    """Chords (one voice per chord tone) or, for ``arp*``, one arpeggiated voice."""
    voicings = []
    for root, quality in chords:
        base = 40 + root if quality == _QUALITY["5"] else 50 + (root + 2) % 12
        tones = quality if len(quality) == 3 else (quality[0], quality[1], quality[3])
        voicings.append([base + iv for iv in tones])  # 7th chords as shell voicings
    fmax = _hz(max(max(v) for v in voicings) + 12)
    table = _timbre(timbre, fmax, sr, rng)
    shape = _TIMBRE_ENV[timbre]
    if rhythm.startswith("arp"):
        step = 1 if rhythm == "arp16" else 2
        notes = [song.note(b, s, step, v[k % len(v)] + 12 * (k // len(v) % 2), 1.0)
                 for b, v in enumerate(voicings)
                 for k, s in enumerate(range(0, 16, step))]
        return song.voice(notes, table, "pluck" if shape in ("pad", "organ") else shape)
    if rhythm == "comp":
        pattern = sorted(
            (int(s), int(rng.choice([2, 3, 4])), rng.uniform(0.6, 1.0))
            for s in rng.choice([0, 2, 3, 6, 8, 10, 11, 14], size=3, replace=False)
        )
    else:
        pattern = _RHYTHMS[rhythm]
    shape = _RHYTHM_ENV.get(rhythm, shape)
    detunes = (-0.08, 0.08) if timbre == "supersaw" else (0.0,)
    # a strum: each string a little later than the one below
    stagger = int(rng.uniform(0.008, 0.02) * sr) if rhythm.startswith("strum") else 0
    out = np.zeros(song.n, dtype=np.float32)
    for k in range(max(len(v) for v in voicings)):
        notes = [song.note(b, s, n, v[min(k, len(v) - 1)], vel)
                 for b, v in enumerate(voicings) for s, n, vel in pattern]
        notes = [((st + k * stagger) % song.n, max(1, ln - k * stagger), *rest)
                 for st, ln, *rest in notes]
        for d in detunes:
            out += song.voice(notes, table, shape, vibrato=vibrato, detune=d)
    return out


_MOVES = np.array([-2, -1, -1, 0, 1, 1, 2, -3, 3])


def _melody(song, rng, key, scale, step, density, legato, octave=0, lo=64, hi=84) -> list:
    pool = [m for m in range(lo + octave, hi + octave) if (m - key) % 12 in _SCALES[scale]]
    idx = len(pool) // 2
    picks = []
    for b in range(song.n_bars):
        for s in range(0, 16, step):
            if rng.random() < density:
                idx = min(max(idx + int(rng.choice(_MOVES)), 0), len(pool) - 1)
                picks.append([b, s, step, pool[idx]])
    if not picks:
        picks = [[0, 0, step, pool[idx]]]
    if legato:
        for cur, nxt in zip(picks, picks[1:]):
            cur[2] = min(8, (nxt[0] - cur[0]) * 16 + nxt[1] - cur[1])
    return picks


def _lead(song, spec, rng, key, scale, sr) -> np.ndarray:
    timbre = str(rng.choice(spec["timbre"]))
    picks = _melody(song, rng, key, scale, spec["step"], spec["density"],
                    spec.get("legato", False), spec.get("octave", 0))
    notes = [song.note(b, s, n, m, rng.uniform(0.7, 1.0)) for b, s, n, m in picks]
    table = _timbre(timbre, _hz(max(m for *_, m in picks)), sr, rng)
    shape = spec.get("env", "lead" if timbre != "sine" else "pluck")
    y = song.voice(notes, table, shape, vibrato=spec.get("vibrato", 0.0))
    if "drive" in spec:
        y = _drive(y, rng.uniform(*spec["drive"]))
    return y


def _mix(parts, rng) -> np.ndarray:
    out = 0.0
    for y, level_db in parts:
        rms = np.sqrt(np.mean(y * y))
        if rms > 0:
            out = out + y * np.float32(10 ** ((level_db + rng.uniform(-4, 4)) / 20) / rms)
    return out


def _pump(song: _Song) -> np.ndarray:
    """Side-chain gain: a dip after every beat."""
    spb = song.bar // 4
    t = np.arange(spb) / song.sr
    return np.tile(1.0 - 0.6 * np.exp(-t / 0.08), 4 * song.n_bars).astype(np.float32)
