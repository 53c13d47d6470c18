"""Benchmark how well `sm.fit` recovers hidden states on held-out recordings.

Protocol (the one the requirement is checked with): fit on training recordings with
`sm.fit(train, n_states=K, n_iters=100)` and every other argument at its default,
then `result.predict(heldout)` (default: most probable state per frame) on separate held-out recordings, and score with
`sm.compare_states` (Hungarian-matched accuracy against the true states).
Targets: ≥ 0.93 on semi-Markov synthetic data, ≥ 0.90 on real text whose state is its
language.

Two data sources, both built here (nothing is downloaded at run time):

- `semi-markov`: K states with gamma or log-normal dwell times (not geometric), each with
  its own syllable transition matrix over S syllables; optionally syllables that last
  several frames (as keypoint-MoSeq's do). Presets in `SYNTHETIC_PRESETS` vary K, S,
  dwell times, how the states differ (usage vs. transition structure) and by how much.
- `text`: real text in several languages from Debian's fortune-cookie packages, one
  character per frame (30 symbol classes), recordings made of paragraphs of a few hundred
  to a few thousand characters with the language switching between paragraphs;
  state = language. Install the text with
  `apt-get install fortunes fortunes-de fortunes-es fortunes-it fortunes-br`
  (English, German, Spanish, Italian, Portuguese).

Columns: `heldout`, accuracy of `result.predict(heldout)` (its default method, the most probable state per frame); `marg`,
of the per-frame argmax of `result.predict(heldout, method="marginals")`; `train`, of the
fit's own (last-sample) training states; `superv`, the held-out accuracy of a
full-rank frame-level HMM whose parameters are counted from the true training states
(how separable the states are for this model family); fit time; the start `fit` chose.

Run: `.venv/bin/python benchmarks/bench_accuracy.py [--source semi-markov text]
[--presets NAME ...] [--languages en de es] [--seeds 0 1] [--n-train 10] [--frames 30000]
[--fit-arg kappa=2000 ...]`. Fits run one after another; each prints one row as it ends.
`--fit-arg` passes extra keyword arguments to `sm.fit` to measure non-default settings;
`--fit-arg kappa_scale=0.1` sets κ to 0.1 × the default (real training frames / K);
`--fit-arg collapse_repeats=true` fits and predicts on syllable instances (repeated frames
removed) and scores every frame by its instance's state; `--fit-arg mask_repeats=true` fits
batched input whose mask is 0 on frames repeating the previous syllable (both diagnostics).
"""

from __future__ import annotations

import argparse
import json
import os
import time
import unicodedata
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

TARGETS = {"semi-markov": 0.93, "text": 0.90}

# --------------------------------------------------------------------------------------
# Semi-Markov synthetic recordings
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SemiMarkovSpec:
    """Knobs of the synthetic generator (one preset).

    Attributes:
        n_states: K.
        n_syllables: S.
        dwell_family: `gamma` or `lognormal` state-bout durations (frames).
        dwell_mean, dwell_cv: mean and coefficient of variation of a state bout.
        syllable_frames: mean frames one syllable lasts (gamma, CV 0.5); 1 = a new
            syllable every frame, drawn from the state's transition matrix.
        row_concentration: Dirichlet concentration of the shared transition rows
            (small = each syllable has few likely successors).
        usage_contrast: standard deviation of a per-state log-bias on each next syllable
            (states differ in which syllables they use; low-rank structure).
        row_contrast: standard deviation of a per-state, per-row log-perturbation
            (states differ in transition structure beyond usage; not low-rank).
    """

    n_states: int = 5
    n_syllables: int = 30
    dwell_family: str = "gamma"
    dwell_mean: float = 800.0
    dwell_cv: float = 0.5
    syllable_frames: float = 1.0
    row_concentration: float = 0.5
    usage_contrast: float = 0.7
    row_contrast: float = 0.0


SYNTHETIC_PRESETS = {
    "usage-K5-S30": SemiMarkovSpec(),
    "mixed-K6-S40-lognormal": SemiMarkovSpec(
        n_states=6, n_syllables=40, dwell_family="lognormal", dwell_mean=1500.0, dwell_cv=0.8,
        usage_contrast=0.4, row_contrast=0.4),
    "sticky-syll-K5-S30": SemiMarkovSpec(syllable_frames=8.0, usage_contrast=0.8),
    "sticky-syll-K8-S50": SemiMarkovSpec(
        n_states=8, n_syllables=50, dwell_mean=1200.0, syllable_frames=6.0, usage_contrast=0.8,
        row_contrast=0.3),
    "rows-only-K4-S20": SemiMarkovSpec(
        n_states=4, n_syllables=20, dwell_mean=600.0, usage_contrast=0.0, row_contrast=0.8),
    "short-dwell-K6-S30": SemiMarkovSpec(
        n_states=6, dwell_mean=300.0, dwell_cv=0.4, usage_contrast=0.7, row_contrast=0.2),
    # keypoint-MoSeq-like: syllables of ~1/4 s at 30 fps, behaviours of tens of seconds
    "kpms-K4-S50": SemiMarkovSpec(
        n_states=4, n_syllables=50, dwell_mean=900.0, syllable_frames=10.0, usage_contrast=0.6,
        row_contrast=0.2),
    "kpms-K6-S50-lognormal": SemiMarkovSpec(
        n_states=6, n_syllables=50, dwell_family="lognormal", dwell_mean=1500.0, dwell_cv=0.7,
        syllable_frames=8.0, usage_contrast=0.5, row_contrast=0.3),
    "kpms-K8-S40": SemiMarkovSpec(
        n_states=8, n_syllables=40, dwell_mean=2000.0, syllable_frames=12.0, usage_contrast=0.6,
        row_contrast=0.2),
}


@dataclass(frozen=True)
class SemiMarkovProcess:
    """Sampled parameters of one synthetic process.

    Attributes:
        spec: the knobs it was drawn from.
        switch: (K, K) probability of the next state when a bout ends (zero diagonal).
        syllable_trans: (K, S, S) per-state syllable transition matrices.
    """

    spec: SemiMarkovSpec
    switch: np.ndarray
    syllable_trans: np.ndarray


def draw_process(spec: SemiMarkovSpec, rng: np.random.Generator) -> SemiMarkovProcess:
    """Draw the switching matrix and the K transition matrices (K, S, S) of a process."""
    K, S = spec.n_states, spec.n_syllables
    switch = rng.dirichlet(np.ones(K - 1), size=K)
    switch = np.stack([np.insert(row, k, 0.0) for k, row in enumerate(switch)])
    shared = rng.dirichlet(np.full(S, spec.row_concentration), size=S)
    log_rows = np.log(np.maximum(shared, 1e-12))[None]
    usage = spec.usage_contrast * rng.standard_normal((K, 1, S))
    rows = spec.row_contrast * rng.standard_normal((K, S, S))
    if spec.syllable_frames > 1:
        log_rows = np.where(np.eye(S, dtype=bool), -np.inf, log_rows)  # repeats come from durations
    logits = log_rows + usage + rows
    trans = np.exp(logits - logits.max(-1, keepdims=True))
    return SemiMarkovProcess(spec, switch, trans / trans.sum(-1, keepdims=True))


def draw_durations(rng, family: str, mean: float, cv: float, size: int) -> np.ndarray:
    """(size,) int durations ≥ 1 with the given mean and coefficient of variation."""
    if family == "gamma":
        shape = 1.0 / cv**2
        values = rng.gamma(shape, mean / shape, size)
    elif family == "lognormal":
        sigma2 = np.log1p(cv**2)
        values = rng.lognormal(np.log(mean) - sigma2 / 2, np.sqrt(sigma2), size)
    else:
        raise ValueError(f"unknown duration family {family!r}")
    return np.maximum(np.round(values), 1).astype(np.int64)


def state_path(process: SemiMarkovProcess, n_frames: int, rng) -> np.ndarray:
    """(n_frames,) hidden states of one recording: semi-Markov bouts."""
    spec = process.spec
    states, total = [], 0
    state = int(rng.integers(spec.n_states))
    while total < n_frames:
        length = int(draw_durations(rng, spec.dwell_family, spec.dwell_mean, spec.dwell_cv, 1)[0])
        states.append(np.full(length, state, np.int32))
        total += length
        state = int(rng.choice(spec.n_states, p=process.switch[state]))
    return np.concatenate(states)[:n_frames]


def syllable_path(process: SemiMarkovProcess, states: np.ndarray, rng) -> np.ndarray:
    """(T,) syllables given states (T,): each syllable lasts `syllable_frames` on average."""
    spec, n_frames = process.spec, len(states)
    cumulative = np.cumsum(process.syllable_trans, axis=-1)
    syllables = np.empty(n_frames, np.int32)
    current, t = int(rng.integers(spec.n_syllables)), 0
    uniforms = rng.random(n_frames)
    durations = (draw_durations(rng, "gamma", spec.syllable_frames, 0.5, n_frames)
                 if spec.syllable_frames > 1 else np.ones(n_frames, np.int64))
    bout = 0
    while t < n_frames:
        length = int(durations[bout])
        syllables[t:t + length] = current
        t += length
        if t < n_frames:
            row = cumulative[states[t], current]
            current = min(int(np.searchsorted(row, uniforms[bout] * row[-1])), spec.n_syllables - 1)
        bout += 1
    return syllables


def synthetic_recordings(process, n_recordings: int, n_frames: int, rng, prefix: str):
    """`(syllables, states)`: two dicts name -> (n_frames,) int arrays."""
    syllables, states = {}, {}
    for index in range(n_recordings):
        name = f"{prefix}{index:02d}"
        states[name] = state_path(process, n_frames, rng)
        syllables[name] = syllable_path(process, states[name], rng)
    return syllables, states


# --------------------------------------------------------------------------------------
# Real text: the hidden state is the language
# --------------------------------------------------------------------------------------

FORTUNE_ROOT = Path("/usr/share/games/fortunes")
LANGUAGES = {  # language -> (Debian package, folder under FORTUNE_ROOT or file glob)
    "en": ("fortunes", "*"),
    "de": ("fortunes-de", "de/*"),
    "es": ("fortunes-es", "es/*.fortunes"),
    "it": ("fortunes-it", "it/*"),
    "pt": ("fortunes-br", "brasil"),
}
PUNCTUATION = set(".,;:!?")
N_TEXT_SYMBOLS = 30  # a-z, space, sentence punctuation, other letters (accented), other


def install_hint(languages) -> str:
    packages = " ".join(LANGUAGES[lang][0] for lang in languages)
    return f"apt-get update && apt-get install {packages}"


def fortune_files(language: str) -> list[Path]:
    """The fortune files of one language (data files only, sorted)."""
    _, pattern = LANGUAGES[language]
    files = sorted(p for p in FORTUNE_ROOT.glob(pattern) if p.is_file() and p.suffix not in (".dat", ".u8"))
    return [p for p in files if not p.is_symlink()]


def read_fortunes(language: str) -> list[str]:
    """All fortunes of one language, whitespace collapsed; fortunes are separated by `%` lines."""
    fortunes = []
    for path in fortune_files(language):
        text = path.read_bytes().decode("utf-8", errors="replace")
        for block in text.split("\n%"):
            block = " ".join(block.strip().lstrip("%").split())
            if len(block) >= 20:
                fortunes.append(block)
    return fortunes


def symbol_of(character: str) -> int:
    """Symbol class (0..29) of one character."""
    lower = character.lower()
    if "a" <= lower <= "z":
        return ord(lower) - ord("a")
    if character.isspace():
        return 26
    if character in PUNCTUATION:
        return 27
    if character.isalpha():
        return 28
    return 29


def encode(text: str) -> np.ndarray:
    """(len(text),) int symbols; control characters (e.g. overstrike backspaces) dropped."""
    kept = [c for c in unicodedata.normalize("NFC", text) if unicodedata.category(c)[0] != "C"]
    return np.array([symbol_of(c) for c in kept], np.int32)


def split_pools(languages, heldout_fraction: float, rng) -> tuple[dict, dict]:
    """Per language, disjoint train / held-out lists of fortunes (shuffled)."""
    train, heldout = {}, {}
    for language in languages:
        fortunes = read_fortunes(language)
        if not fortunes:
            raise SystemExit(f"no {language} text under {FORTUNE_ROOT}; install it with: {install_hint(languages)}")
        order = rng.permutation(len(fortunes))
        n_held = max(1, round(heldout_fraction * len(fortunes)))
        heldout[language] = [fortunes[i] for i in order[:n_held]]
        train[language] = [fortunes[i] for i in order[n_held:]]
    return train, heldout


class FortuneStream:
    """Draws fortunes of one language in a shuffled order, reshuffling when exhausted."""

    def __init__(self, fortunes: list[str], rng):
        self.fortunes, self.rng, self.order, self.next = fortunes, rng, [], 0

    def paragraph(self, n_characters: int) -> str:
        """Consecutive fortunes, joined by spaces, at least `n_characters` long (then cut)."""
        pieces, length = [], 0
        while length < n_characters:
            if self.next >= len(self.order):
                self.order, self.next = self.rng.permutation(len(self.fortunes)), 0
            piece = self.fortunes[self.order[self.next]]
            self.next += 1
            pieces.append(piece)
            length += len(piece) + 1
        return " ".join(pieces)[:n_characters]


def text_recording(streams: dict, n_frames: int, paragraph_mean: float, rng):
    """`(syllables (T,), states (T,))` of one recording of language paragraphs."""
    languages = list(streams)
    chunks, labels, total = [], [], 0
    language = int(rng.integers(len(languages)))
    while total < n_frames:
        length = int(draw_durations(rng, "lognormal", paragraph_mean, 0.7, 1)[0])
        length = int(np.clip(length, 200, 5000))
        symbols = encode(streams[languages[language]].paragraph(length))
        chunks.append(symbols)
        labels.append(np.full(len(symbols), language, np.int32))
        total += len(symbols)
        others = [k for k in range(len(languages)) if k != language]
        language = int(rng.choice(others))
    return np.concatenate(chunks)[:n_frames], np.concatenate(labels)[:n_frames]


def text_recordings(pools: dict, n_recordings: int, n_frames: int, paragraph_mean: float, rng, prefix: str):
    """`(syllables, states)`: two dicts name -> (n_frames,) int arrays."""
    streams = {lang: FortuneStream(pool, rng) for lang, pool in pools.items()}
    syllables, states = {}, {}
    for index in range(n_recordings):
        name = f"{prefix}{index:02d}"
        syllables[name], states[name] = text_recording(streams, n_frames, paragraph_mean, rng)
    return syllables, states


# --------------------------------------------------------------------------------------
# Supervised reference: what a frame-level HMM reaches when it is told the true states
# --------------------------------------------------------------------------------------


def supervised_parameters(train, train_states, n_states: int, n_symbols: int):
    """`(log_emissions (K, S, S), log_trans (K, K))` counted from labelled training data (add-½)."""
    emissions = np.full((n_states, n_symbols, n_symbols), 0.5)
    switches = np.full((n_states, n_states), 0.5)
    for name, syllables in train.items():
        states = train_states[name]
        np.add.at(emissions, (states[1:], syllables[:-1], syllables[1:]), 1.0)
        np.add.at(switches, (states[:-1], states[1:]), 1.0)
    emissions /= emissions.sum(-1, keepdims=True)
    switches /= switches.sum(-1, keepdims=True)
    return np.log(emissions), np.log(switches)


def viterbi_path(log_likelihoods: np.ndarray, log_trans: np.ndarray) -> np.ndarray:
    """(T,) most probable states given (T, K) log-likelihoods and (K, K) log transitions (uniform start)."""
    n_frames, n_states = log_likelihoods.shape
    best = log_likelihoods[0].copy()
    pointers = np.zeros((n_frames, n_states), np.int32)
    for t in range(1, n_frames):
        scores = best[:, None] + log_trans
        pointers[t] = scores.argmax(0)
        best = scores.max(0) + log_likelihoods[t]
    path = np.zeros(n_frames, np.int32)
    path[-1] = best.argmax()
    for t in range(n_frames - 1, 0, -1):
        path[t - 1] = pointers[t, path[t]]
    return path


def supervised_accuracy(train, train_states, heldout, heldout_states, n_states: int) -> float:
    """Held-out accuracy of Viterbi under full-rank parameters counted from the true training states.

    A reference for how separable the states are for this family of models, not a
    bound: the sampler's low-rank model has fewer parameters, and neither sees durations.
    """
    import smoseq as sm

    n_symbols = 1 + max(int(v.max()) for v in [*train.values(), *heldout.values()])
    log_emissions, log_trans = supervised_parameters(train, train_states, n_states, n_symbols)
    predicted = {}
    for name, syllables in heldout.items():
        log_likelihoods = np.zeros((len(syllables), n_states))
        log_likelihoods[1:] = log_emissions[:, syllables[:-1], syllables[1:]].T
        predicted[name] = viterbi_path(log_likelihoods, log_trans)
    return float(sm.compare_states(heldout_states, predicted, n_states=n_states).accuracy)


# --------------------------------------------------------------------------------------
# Fitting and scoring
# --------------------------------------------------------------------------------------


@dataclass
class Outcome:
    """One row of the table."""

    source: str
    setting: str
    seed: int
    n_states: int
    train_frames: int
    heldout_accuracy: float
    marginal_accuracy: float
    train_accuracy: float
    fit_seconds: float
    init: str
    states_used: int
    supervised_accuracy: float


def collapse_repeats(recordings: dict) -> tuple[dict, dict]:
    """`(instances, starts)`: per recording, syllables with repeated frames removed (n_i,) and
    the frame (n_i,) where each instance starts."""
    instances, starts = {}, {}
    for name, syllables in recordings.items():
        first = np.r_[True, syllables[1:] != syllables[:-1]]
        starts[name] = np.flatnonzero(first)
        instances[name] = syllables[first]
    return instances, starts


def expand_states(states: dict, starts: dict, lengths: dict) -> dict:
    """Per-instance states (or (n_i, K) probabilities) back to one row per frame (T_i, ...)."""
    expanded = {}
    for name, values in states.items():
        durations = np.diff(np.r_[starts[name], lengths[name]])
        expanded[name] = np.repeat(values, durations, axis=0)
    return expanded


class CollapsedResult:
    """A `FitResult` fitted on repeat-free syllable instances, predicting per frame."""

    def __init__(self, result, train_starts, train_lengths):
        self.result, self.info = result, result.info
        self.states = expand_states(result.states, train_starts, train_lengths)

    def predict(self, recordings, method="viterbi"):
        instances, starts = collapse_repeats(recordings)
        lengths = {name: len(v) for name, v in recordings.items()}
        return expand_states(self.result.predict(instances, method=method), starts, lengths)


def mask_repeated_frames(recordings: dict):
    """`sm.batch` output whose mask is 0 on frames that repeat the previous syllable.

    Those frames then add nothing to the emission likelihood (as if a syllable's duration
    did not depend on the state) while the hidden chain still runs through them.
    """
    import smoseq as sm

    syllables, mask, metadata = sm.batch(recordings, seg_overlap=0)
    mask = mask.copy()
    mask[:, 1:] *= syllables[:, 1:] != syllables[:, :-1]
    return syllables, mask, metadata


class MaskedResult:
    """A `FitResult` fitted with repeated frames masked; predicts the same way."""

    def __init__(self, result):
        self.result, self.info, self.states = result, result.info, result.states

    def predict(self, recordings, method="viterbi"):
        return self.result.predict(mask_repeated_frames(recordings), method=method)


def fit_recordings(train, n_states, seed, fit_args, collapse: bool, mask_repeats: bool = False):
    """`sm.fit(train, n_states=K, n_iters=100, seed=seed, **fit_args)`, or the same on repeat-free instances."""
    import smoseq as sm

    if mask_repeats:
        masked = mask_repeated_frames(train)
        return MaskedResult(sm.fit(masked, n_states=n_states, n_iters=100, seed=seed, progress=False, **fit_args))
    if not collapse:
        return sm.fit(train, n_states=n_states, n_iters=100, seed=seed, progress=False, **fit_args)
    instances, starts = collapse_repeats(train)
    result = sm.fit(instances, n_states=n_states, n_iters=100, seed=seed, progress=False, **fit_args)
    return CollapsedResult(result, starts, {name: len(v) for name, v in train.items()})


def fit_and_score(source, setting, seed, train, train_states, heldout, heldout_states, n_states, fit_args):
    """Fit with `sm.fit(train, n_states=K, n_iters=100, seed=seed, **fit_args)` and score both sets."""
    import smoseq as sm

    fit_args = dict(fit_args)
    collapse = bool(fit_args.pop("collapse_repeats", False))
    mask_repeats = bool(fit_args.pop("mask_repeats", False))
    if "kappa_scale" in fit_args:  # κ as a multiple of the default (real frames / K)
        frames = sum(len(v) for v in train.values())
        fit_args["kappa"] = fit_args.pop("kappa_scale") * frames / n_states
    started = time.perf_counter()
    result = fit_recordings(train, n_states, seed, fit_args, collapse, mask_repeats)
    seconds = time.perf_counter() - started
    predicted = result.predict(heldout)
    heldout_accuracy = sm.compare_states(heldout_states, predicted, n_states=n_states).accuracy
    marginals = result.predict(heldout, method="marginals")
    most_probable = {name: probs.argmax(-1) for name, probs in marginals.items()}
    marginal_accuracy = sm.compare_states(heldout_states, most_probable, n_states=n_states).accuracy
    train_accuracy = sm.compare_states(train_states, result.states, n_states=n_states).accuracy
    used = len(np.unique(np.concatenate(list(predicted.values()))))
    frames = sum(len(v) for v in train.values())
    reference = supervised_accuracy(train, train_states, heldout, heldout_states, n_states)
    return Outcome(source, setting, seed, n_states, frames, float(heldout_accuracy), float(marginal_accuracy),
                   float(train_accuracy),
                   seconds, str(result.info.get("init", "?")), used, reference)


def run_semi_markov(preset: str, seed: int, args, fit_args) -> Outcome:
    spec = SYNTHETIC_PRESETS[preset]
    rng = np.random.default_rng(1000 + seed)
    process = draw_process(spec, rng)
    train, train_states = synthetic_recordings(process, args.n_train, args.frames, rng, "train")
    heldout, heldout_states = synthetic_recordings(process, args.n_heldout, args.frames, rng, "heldout")
    return fit_and_score("semi-markov", preset, seed, train, train_states, heldout, heldout_states,
                         spec.n_states, fit_args)


def run_text(languages: list[str], seed: int, args, fit_args) -> Outcome:
    rng = np.random.default_rng(2000 + seed)
    train_pools, heldout_pools = split_pools(languages, 0.25, rng)
    train, train_states = text_recordings(train_pools, args.n_train, args.frames, args.paragraph, rng, "train")
    heldout, heldout_states = text_recordings(heldout_pools, args.n_heldout, args.frames, args.paragraph, rng, "heldout")
    return fit_and_score("text", "+".join(languages), seed, train, train_states, heldout, heldout_states,
                         len(languages), fit_args)


def parse_fit_args(items) -> dict:
    """`["kappa=2000", "sigma_bias=3"]` -> `{"kappa": 2000.0, "sigma_bias": 3.0}` (JSON values, else strings)."""
    parsed = {}
    for item in items or []:
        key, _, value = item.partition("=")
        try:
            parsed[key] = json.loads(value)
        except json.JSONDecodeError:
            parsed[key] = value
    return parsed


HEADER = f"{'source':<12} {'setting':<24} {'seed':>4} {'K':>2} {'frames':>9} {'heldout':>8} {'marg':>6} {'train':>6} {'superv':>6} {'fit s':>6}  init"


def format_row(o: Outcome) -> str:
    target = TARGETS[o.source]
    flag = "" if o.heldout_accuracy >= target else " <"
    return (f"{o.source:<12} {o.setting:<24} {o.seed:>4} {o.n_states:>2} {o.train_frames:>9,} "
            f"{o.heldout_accuracy:>8.3f} {o.marginal_accuracy:>6.3f} {o.train_accuracy:>6.3f} {o.supervised_accuracy:>6.3f} {o.fit_seconds:>6.1f}  {o.init}"
            f" (used {o.states_used}){flag}")


def summarise(outcomes: list[Outcome]) -> None:
    """Per source: mean / min held-out accuracy and how many runs reach the target."""
    print()
    for source, target in TARGETS.items():
        rows = [o for o in outcomes if o.source == source]
        if rows:
            acc = np.array([o.heldout_accuracy for o in rows])
            marg = np.array([o.marginal_accuracy for o in rows])
            print(f"{source}: default predict mean {acc.mean():.3f}, min {acc.min():.3f}, "
                  f"{(acc >= target).sum()}/{len(acc)} runs ≥ {target}; "
                  f"marginal argmax mean {marg.mean():.3f}, min {marg.min():.3f}, "
                  f"{(marg >= target).sum()}/{len(marg)} runs ≥ {target}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", nargs="+", choices=list(TARGETS), default=list(TARGETS))
    parser.add_argument("--presets", nargs="+", choices=list(SYNTHETIC_PRESETS), default=list(SYNTHETIC_PRESETS))
    parser.add_argument("--languages", nargs="+", action="append", choices=list(LANGUAGES),
                        help="one text setting per use (default: en de es; en de es it; en de es it pt)")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--n-train", type=int, default=12, help="training recordings per fit")
    parser.add_argument("--n-heldout", type=int, default=3, help="held-out recordings per fit")
    parser.add_argument("--frames", type=int, default=30000, help="frames per recording")
    parser.add_argument("--paragraph", type=float, default=1200.0, help="mean characters per language segment")
    parser.add_argument("--fit-arg", action="append", help="extra sm.fit keyword, e.g. kappa=2000")
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args()
    fit_args = parse_fit_args(args.fit_arg)
    language_sets = args.languages or [["en", "de", "es"], ["en", "de", "es", "it"], ["en", "de", "es", "it", "pt"]]

    jobs = []
    if "semi-markov" in args.source:
        jobs += [(run_semi_markov, preset, seed) for preset in args.presets for seed in args.seeds]
    if "text" in args.source:
        jobs += [(run_text, langs, seed) for langs in language_sets for seed in args.seeds]
    print(f"sm.fit(train, n_states=K, n_iters=100{''.join(f', {k}={v!r}' for k, v in fit_args.items())}); "
          f"{args.n_train} train x {args.frames} frames, {args.n_heldout} held-out; load {os.getloadavg()[0]:.2f}")
    print(HEADER, flush=True)
    outcomes = []
    for runner, setting, seed in jobs:
        outcome = runner(setting, seed, args, fit_args)
        outcomes.append(outcome)
        print(format_row(outcome), flush=True)
    summarise(outcomes)
    if args.json:
        args.json.write_text(json.dumps([asdict(o) for o in outcomes], indent=1))


if __name__ == "__main__":
    main()
