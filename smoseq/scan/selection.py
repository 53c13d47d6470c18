"""Choosing among a scan's models: the summary table, best seed, agreement across seeds, a κ suggestion.

Nothing here changes a fit or picks a κ for the user: `suggest_kappa` returns a
suggestion together with the evidence it rests on.
"""

import itertools
import math
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from .._errors import InputError, ModelFileError
from ..io.files import atomic_write_text
from ..io.fit_folders import is_complete_fit, load_states
from ..io.model_files import read_json
from ..metrics import compare_states, get_adjusted_rand, get_frequencies
from .layout import MODELS_DIR, ROW_FILE, SUMMARY_FILE, read_recordings, read_scan_file

SUMMARY_COLUMNS = (
    "kappa", "n_states", "seed", "final_log_prob", "median_duration_frames", "median_duration_s",
    "n_states_used", "heldout_loglik_per_frame", "seconds", "fit_folder", "fold", "n_iters", "error",
)  # fmt: skip


def load_summary(scan_dir, write: bool = True) -> pd.DataFrame:
    """Every model's row (complete fits, and failed ones with their `error`), sorted; rewrites summary.csv.

    Columns: `SUMMARY_COLUMNS`. `fold` is -1 for models fitted on every recording and
    `heldout_loglik_per_frame` NaN when held-out scoring was not requested.

    Args:
        scan_dir: a scan folder (holds scan.json and `models/`).
        write: also write the table to `scan_dir/summary.csv`.

    Returns:
        A DataFrame with one row per model (columns `SUMMARY_COLUMNS`), sorted by
        `n_states`, `kappa`, `seed`; failed models have a non-empty `error`.

    Raises:
        InputError: `scan_dir` has no scan.json.
    """
    scan_dir = Path(scan_dir)
    if read_scan_file(scan_dir) is None:
        raise InputError(f"{scan_dir}: not a scan folder (no scan.json)")
    rows = []
    for folder in sorted((scan_dir / MODELS_DIR).glob("*/")):
        row_path = folder / ROW_FILE
        if row_path.is_file() and (is_complete_fit(folder) or _failed(row_path)):
            rows.append(read_json(row_path))
    summary = pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))
    summary = summary.sort_values(["n_states", "kappa", "seed"], kind="stable").reset_index(drop=True)
    if write:
        atomic_write_text(scan_dir / SUMMARY_FILE, summary.to_csv(index=False))
    return summary


def _failed(row_path: Path) -> bool:
    try:
        return bool(read_json(row_path).get("error"))
    except ModelFileError:
        return False


def _rows_at(summary: pd.DataFrame, kappa: float, n_states: int | None) -> pd.DataFrame:
    rows = summary[np.isclose(summary["kappa"].to_numpy(float), float(kappa), rtol=1e-6, atol=0)]
    if n_states is not None:
        rows = rows[rows["n_states"] == n_states]
    if len(rows) == 0:
        available = ", ".join(f"{k:.4g}" for k in sorted(summary["kappa"].unique()))
        raise InputError(f"no models with kappa {kappa:.6g}" + (f" and {n_states} states" if n_states else "") + f"; kappas: {available}")
    if rows["n_states"].nunique() > 1:
        raise InputError(f"models with kappa {kappa:.6g} have several n_states {sorted(rows['n_states'].unique())}; pass n_states")
    ok = rows[rows["error"].fillna("") == ""] if "error" in rows else rows
    if len(ok) == 0:
        raise InputError(f"every model with kappa {kappa:.6g} failed: {rows['error'].iloc[0]}")
    return ok


def best_seed(summary: pd.DataFrame, kappa: float, n_states: int | None = None, by: str | None = None) -> pd.Series:
    """The row of the best seed at κ: highest final log probability.

    When the seeds were fitted on different recordings (held-out folds) their log
    probabilities are not comparable, so `by` defaults to `heldout_loglik_per_frame`
    there. The returned row carries `ranked_by`.

    Args:
        summary: a scan summary (`load_summary`).
        kappa: the κ to choose at (matched with relative tolerance 1e-6).
        n_states: restrict to models with this K (required when the scan has several at κ).
        by: the summary column to maximise (default: see above).

    Returns:
        The summary row (a pandas Series) of the best fitted seed, plus `ranked_by`.

    Raises:
        InputError: no model at κ (the message lists the scan's κ values), several K
            without `n_states`, every model at κ failed, or no values in column `by`.
    """
    rows = _rows_at(summary, kappa, n_states)
    if by is None:
        several_folds = "fold" in rows and rows["fold"].nunique() > 1
        by = "heldout_loglik_per_frame" if several_folds else "final_log_prob"
    if by not in rows or rows[by].isna().all():
        raise InputError(f"the summary has no {by!r} values for kappa {kappa:.6g}")
    best = rows.loc[rows[by].idxmax()].copy()
    best["ranked_by"] = by
    return best


def seed_agreement(scan_dir, kappa: float, n_states: int | None = None, downsample: int = 10) -> pd.DataFrame:
    """Pairwise agreement of the seeds at κ: Hungarian-matched accuracy and adjusted Rand index.

    States are the fitted states of each model when all seeds saw the same recordings,
    else (held-out folds) each model's Viterbi states of every recording (`attrs["basis"]`).

    Args:
        scan_dir: a scan folder.
        kappa: the κ whose seeds to compare.
        n_states: restrict to models with this K (required when the scan has several at κ).
        downsample: use every `downsample`-th frame for the adjusted Rand index
            (see `smoseq.get_adjusted_rand`); accuracy uses every frame.

    Returns:
        A DataFrame with one row per pair of seeds: `seed_a`, `seed_b`, `accuracy`
        (Hungarian-matched, see `smoseq.compare_states`), `adjusted_rand`; its
        `attrs["basis"]` says which states were compared.

    Raises:
        InputError: fewer than two fitted seeds at κ, or no model at κ.
        ModelFileError: a model's fit folder is incomplete or unreadable.
    """
    return pairwise_agreement(seed_states(scan_dir, kappa, n_states), downsample)


def pairwise_agreement(states: "SeedStates", downsample: int = 10) -> pd.DataFrame:
    """`seed_agreement` from states already loaded with `seed_states`.

    Args:
        states: `seed_states(...)`.
        downsample: every `downsample`-th frame for the adjusted Rand index.

    Returns:
        The `seed_agreement` table.

    Raises:
        InputError: fewer than two seeds.
    """
    if len(states) < 2:
        raise InputError(f"kappa {states.attrs['kappa']:.6g} has only {len(states)} fitted seed; agreement needs two")
    k = states.attrs["n_states"]
    pairs = []
    for a, b in itertools.combinations(sorted(states), 2):
        accuracy = compare_states(states[a], states[b], k).accuracy
        pairs.append({"seed_a": a, "seed_b": b, "accuracy": accuracy,
                      "adjusted_rand": get_adjusted_rand(states[a], states[b], downsample)})  # fmt: skip
    table = pd.DataFrame(pairs, columns=["seed_a", "seed_b", "accuracy", "adjusted_rand"])
    table.attrs["basis"] = states.attrs["basis"]
    return table


class SeedStates(dict):
    """seed -> {recording: (T,) states}, with `attrs` {"n_states": K, "kappa": κ, "basis": ...}."""

    def __init__(self, states: dict, **attrs):
        super().__init__(states)
        self.attrs = attrs


def seed_states(scan_dir, kappa: float, n_states: int | None = None) -> SeedStates:
    """The states of every fitted seed at κ (and K), to compare seeds as the published tutorial does.

    When every seed saw the same recordings these are the fitted states; with held-out
    folds they are each model's Viterbi states of every recording, so all seeds label the
    same frames (`attrs["basis"]` says which).

    Args:
        scan_dir: a scan folder.
        kappa: the κ whose seeds to load.
        n_states: restrict to models with this K (required when the scan has several at κ).

    Returns:
        `SeedStates`: seed -> {recording: (T,) int states}, in seed order, with
        `attrs` `n_states`, `kappa` and `basis`.

    Raises:
        InputError: no fitted model at κ (and K).
        ModelFileError: a model's fit folder is incomplete or unreadable.
    """
    scan_dir = Path(scan_dir)
    rows = _rows_at(load_summary(scan_dir, write=False), kappa, n_states).sort_values("seed")
    same_data = "fold" not in rows or rows["fold"].nunique() == 1
    states = {int(r.seed): _states_of(scan_dir / r.fit_folder, scan_dir, same_data) for r in rows.itertuples()}
    basis = "fitted states" if same_data else "Viterbi states of every recording"
    return SeedStates(states, n_states=int(rows["n_states"].iloc[0]), kappa=float(rows["kappa"].iloc[0]), basis=basis)


def seed_confusions(states: SeedStates, reference_seed: int) -> dict[int, np.ndarray]:
    """Confusion matrices of one seed against each other seed, rows reordered to put matches on the diagonal.

    As in the published parameter-scan tutorial: for every other seed,
    `confusion, permutation, _ = compare_states(reference, other)` and the matrix shown is
    `confusion[permutation]`, whose row j is the reference state matched to the other
    seed's state j (rows normalised over the reference's frames).

    Args:
        states: `seed_states(...)`.
        reference_seed: the seed every other seed is compared with (e.g. the best seed).

    Returns:
        dict other seed -> (K, K) float matrix, in seed order.

    Raises:
        InputError: `reference_seed` is not among the seeds.
    """
    if reference_seed not in states:
        raise InputError(f"seed {reference_seed} is not among the fitted seeds {sorted(states)}")
    k = states.attrs["n_states"]
    matrices = {}
    for seed, other in states.items():
        if seed != reference_seed:
            comparison = compare_states(states[reference_seed], other, k)
            matrices[seed] = comparison.confusion[comparison.permutation]
    return matrices


class NStatesSuggestion(NamedTuple):
    """What `suggest_n_states` found.

    Attributes:
        n_states: the suggested number of states: the most reproducible across seeds.
        effective_states: per seed of the suggested n_states, how many states hold at least
            `min_frequency` of the frames (a suggestion of 5 where every seed uses 4 means 4).
        table: one row per n_states: `n_states`, `kappa`, `n_seeds`,
            `median_adjusted_rand` (median over pairs of seeds), `median_effective_states`,
            `median_final_log_prob`.
        rule: one line saying how the suggestion was made.
        frequencies: n_states -> one array per seed of its states' fractions of frames,
            sorted from the most used (for the ranked-frequency figure).
        min_frequency: the fraction of frames from which a state counts as used.
    """

    n_states: int
    effective_states: list
    table: pd.DataFrame
    rule: str
    frequencies: dict
    min_frequency: float


def suggest_n_states(scan_dir, kappa: float | None = None, downsample: int = 10, min_frequency: float = 0.02) -> NStatesSuggestion:
    """The number of states whose fits agree best across seeds (the published scan tutorial's rule).

    The log probability keeps rising with n_states, so it cannot choose; instead, for each
    n_states, the adjusted Rand index of every pair of seeds is computed and the n_states of
    highest median wins. Beside it, the states each seed actually uses (at least
    `min_frequency` of the frames) are reported: extra states that stay empty do not make a
    model reproducible, so read the suggestion together with them.

    Args:
        scan_dir: a scan folder with several n_states and at least two seeds each.
        kappa: the κ to compare at (needed when an n_states was scanned at several κ).
        downsample: every `downsample`-th frame for the adjusted Rand index.
        min_frequency: a state counts as used from this fraction of the frames.

    Returns:
        `NStatesSuggestion`.

    Raises:
        InputError: no n_states with two fitted seeds, or several κ and no `kappa`.
    """
    scan_dir = Path(scan_dir)
    summary = load_summary(scan_dir, write=False)
    summary = summary[summary["error"].fillna("") == ""]
    rows, used_by_n, ranked = [], {}, {}
    for n_states, models in summary.groupby("n_states"):
        chosen = _models_at_kappa(models, kappa, int(n_states))
        if len(chosen) < 2:
            continue
        same_data = "fold" not in chosen or chosen["fold"].nunique() == 1
        states = [_states_of(scan_dir / r.fit_folder, scan_dir, same_data) for r in chosen.itertuples()]
        agreement = [get_adjusted_rand(a, b, downsample) for a, b in itertools.combinations(states, 2)]
        frequencies = [np.sort(get_frequencies(s, int(n_states)))[::-1] for s in states]
        used = [int((f >= min_frequency).sum()) for f in frequencies]
        used_by_n[int(n_states)], ranked[int(n_states)] = used, frequencies
        rows.append({"n_states": int(n_states), "kappa": float(chosen["kappa"].iloc[0]), "n_seeds": len(chosen),
                     "median_adjusted_rand": float(np.median(agreement)), "median_effective_states": float(np.median(used)),
                     "median_final_log_prob": float(chosen["final_log_prob"].median())})  # fmt: skip
    if not rows:
        raise InputError(f"{scan_dir}: no n_states has two fitted seeds to compare")
    table = pd.DataFrame(rows)
    best = table.loc[table["median_adjusted_rand"].idxmax()]
    n_states = int(best["n_states"])
    rule = (
        f"n_states={n_states}: highest median pairwise adjusted Rand across seeds ({best['median_adjusted_rand']:.3f}); "
        f"its seeds use {used_by_n[n_states]} states with at least {min_frequency:.0%} of the frames"
    )
    if max(used_by_n[n_states]) < n_states:
        rule += f"; every seed leaves states nearly empty, so report the {int(np.median(used_by_n[n_states]))} it uses"
    return NStatesSuggestion(n_states, used_by_n[n_states], table, rule, ranked, min_frequency)


def _models_at_kappa(models: pd.DataFrame, kappa: float | None, n_states: int) -> pd.DataFrame:
    if kappa is not None:
        return models[np.isclose(models["kappa"].to_numpy(float), float(kappa), rtol=1e-6, atol=0)]
    if models["kappa"].nunique() > 1:
        raise InputError(f"n_states={n_states} was fitted at several kappas; pass kappa to compare at one")
    return models


def _states_of(folder: Path, scan_dir: Path, fitted: bool) -> dict:
    if not is_complete_fit(folder):
        raise ModelFileError(f"{folder}: not a complete fit")
    if fitted:
        return load_states(folder)
    from ..fitting import load_fit

    return load_fit(folder).predict(read_recordings(scan_dir))


class MITimescale(NamedTuple):
    """Where real and Markov lagged MI separate (see `mi_separation_lag`).

    Attributes:
        lag: the separation lag in frames (None when the curves never separate).
        evidence: DataFrame, one row per lag (sorted) — `lag`, `real_excess`,
            `markov_excess` (nats above the shuffle), `real_excess_se` (standard error of
            the real excess across sequences; 0 with one sequence), `ratio` (real / Markov
            excess; inf where the Markov excess is ≤ 0), `separated` (bool).
    """

    lag: float | None
    evidence: pd.DataFrame


def mi_separation_lag(
    lags, real_mi, markov_mi, shuffle_mi, factor: float = 2.0, significance: float = 2.0
) -> MITimescale:
    """The shortest lag at which the real MI's excess over the shuffle is ≥ `factor` × the Markov excess.

    Excesses are means over sequences (rows) minus the shuffle: `R(l) = real − shuffle`,
    `M(l) = markov − shuffle`. The separation lag is the smallest l with
    `R(l) > significance · SE(l)` and `R(l) ≥ factor · max(M(l), 0)`, where `SE(l)` is the
    standard error across sequences of the per-sequence real excess: beyond it, more than
    half (for factor 2) of the long-range dependence in the real syllables is not explained
    by a first-order Markov chain, i.e. something slower — the hidden states — carries it.
    Requiring the real excess to stand out of its own noise keeps long lags, where few
    pairs are left and all three curves are mostly estimation bias, from separating by chance.

    Args:
        lags: (n_lags,) lags in frames.
        real_mi, markov_mi, shuffle_mi: (n_lags,) or (n_sequences, n_lags) float MI in nats.
        factor: how many times the Markov excess the real excess must reach (> 1).
        significance: how many standard errors above 0 the real excess must be (≥ 0; the
            standard error is 0 when there is a single sequence).

    Returns:
        `MITimescale(lag, evidence)`: the separation lag (float, or None) and the
        per-lag evidence table.

    Raises:
        InputError: curves whose lengths differ from `lags`, `factor` ≤ 1 or `significance` < 0.
    """
    lags = np.asarray(lags, dtype=float)
    rows = [np.atleast_2d(np.asarray(c, dtype=float)) for c in (real_mi, markov_mi, shuffle_mi)]
    if any(r.ndim != 2 or r.shape[1] != lags.size for r in rows) or lags.ndim != 1 or lags.size == 0:
        raise InputError(f"lags and MI curves must have matching lengths, got {lags.shape} and {[r.shape for r in rows]}")
    if len({r.shape[0] for r in rows} - {1}) > 1:
        raise InputError(f"MI curves must have the same number of sequences (rows), got {[r.shape[0] for r in rows]}")
    if not factor > 1:
        raise InputError(f"factor must be > 1, got {factor}")
    if not significance >= 0:
        raise InputError(f"significance must be >= 0, got {significance}")
    real, markov, shuffle = (r.mean(0) for r in rows)
    real_excess, markov_excess = real - shuffle, markov - shuffle
    standard_error = _standard_error(rows[0] - rows[2])
    separated = (real_excess > significance * standard_error) & (real_excess >= factor * np.maximum(markov_excess, 0))
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(markov_excess > 0, real_excess / markov_excess, np.inf)
    order = np.argsort(lags)
    evidence = pd.DataFrame({"lag": lags[order], "real_excess": real_excess[order], "markov_excess": markov_excess[order],
                             "real_excess_se": standard_error[order], "ratio": ratio[order],
                             "separated": separated[order]})  # fmt: skip
    hits = evidence.loc[evidence["separated"], "lag"]
    return MITimescale(float(hits.iloc[0]) if len(hits) else None, evidence)


def _standard_error(per_sequence: np.ndarray) -> np.ndarray:
    """(n_sequences, n_lags) -> (n_lags,) standard error of the mean over sequences (0 for one row)."""
    if per_sequence.shape[0] < 2:
        return np.zeros(per_sequence.shape[1])
    return per_sequence.std(axis=0, ddof=1) / np.sqrt(per_sequence.shape[0])


class KappaSuggestion(NamedTuple):
    """A suggested κ and the evidence for it; never applied by smoseq itself.

    Attributes:
        kappa: the suggestion (None when the MI curves never separate within the lags measured).
        timescale_frames: the MI separation lag in frames (None likewise).
        timescale_s: the MI separation lag in seconds (None likewise).
        median_duration_s: the median state duration (median over seeds) at the suggested κ.
        per_kappa: DataFrame, for every κ: `kappa`, `median_duration_frames`,
            `median_duration_s` (medians over seeds) and `log_distance` = |log(duration / timescale)|.
        mi: the `MITimescale` evidence table (DataFrame).
        message: a one-paragraph explanation to show the user.
        rule: which rule decided: `"log_prob_peak"`, `"mi_timescale"`, or `"none"`.
    """

    kappa: float | None
    timescale_frames: float | None
    timescale_s: float | None
    median_duration_s: float | None
    per_kappa: pd.DataFrame
    mi: pd.DataFrame
    message: str
    rule: str = "mi_timescale"


def suggest_kappa(summary, lags, real_mi, markov_mi, shuffle_mi, fps: float, n_states: int | None = None,
                  factor: float = 2.0, significance: float = 2.0) -> KappaSuggestion:  # fmt: skip
    """κ by the published scan tutorial's rule: the log-probability peak, else the MI timescale.

    First, if the median (over seeds) final log probability peaks at a κ strictly inside the
    scanned range, that κ is suggested. Otherwise the timescale
    `mi_separation_lag(lags, real_mi, markov_mi, shuffle_mi, factor, significance)` (lags in
    frames) decides: for every κ the median over seeds of `median_duration_frames` is
    compared with it, and the κ minimising |log(duration / timescale)| is suggested. The
    result's `rule` and `message` say which rule decided; the MI evidence is computed
    either way.

    Args:
        summary: a scan summary (`load_summary`).
        lags: (n_lags,) lags in frames, as written by `smoseq mi` (mi.npz).
        real_mi, markov_mi, shuffle_mi: (n_lags,) or (n_sequences, n_lags) float, as in mi.npz.
        fps: frames per second, to report seconds.
        n_states: restrict to models with this K (required when the scan has several).
        factor, significance: see `mi_separation_lag`.

    Returns:
        A `KappaSuggestion`; its `kappa` is None (with an explaining `message`) when the
        MI curves never separate at the lags measured.

    Raises:
        InputError: `fps` ≤ 0, no fitted models, several K without `n_states`, no
            model with a positive median duration, or bad MI curves.
    """
    if not fps > 0:
        raise InputError(f"fps must be > 0, got {fps}")
    rows = summary[summary["error"].fillna("") == ""] if "error" in summary else summary
    if n_states is not None:
        rows = rows[rows["n_states"] == n_states]
    if rows["n_states"].nunique() > 1:
        raise InputError(f"the scan has several n_states {sorted(int(k) for k in rows['n_states'].unique())}; pass n_states")
    if len(rows) == 0:
        raise InputError("no fitted models" + (f" with {n_states} states" if n_states else "") + " in the summary")
    timescale = mi_separation_lag(lags, real_mi, markov_mi, shuffle_mi, factor, significance)
    columns = ["median_duration_frames", "median_duration_s", "final_log_prob"]
    per_kappa = rows.groupby("kappa", sort=True)[columns].median().reset_index()
    per_kappa = per_kappa.rename(columns={"final_log_prob": "median_final_log_prob"})
    peak = _interior_peak(per_kappa)
    if peak is not None:
        return _peak_suggestion(per_kappa, peak, timescale, fps)
    if timescale.lag is None:
        longest = float(np.max(lags)) / fps
        message = (f"real and Markov MI never separate (real excess ≥ {factor:g}× Markov excess and {significance:g} "
                   f"standard errors above 0) at the lags measured "
                   f"(up to {longest:.3g} s): no κ suggested; measure longer lags or choose κ from the scan figure")  # fmt: skip
        per_kappa["log_distance"] = math.nan
        return KappaSuggestion(None, None, None, None, per_kappa, timescale.evidence, _no_peak() + message, "none")
    with np.errstate(divide="ignore"):
        distance = np.abs(np.log(per_kappa["median_duration_frames"].to_numpy(float) / timescale.lag))
    per_kappa["log_distance"] = distance
    if not np.isfinite(distance).any():
        raise InputError("no model has a positive median state duration")
    best = per_kappa.iloc[int(np.nanargmin(np.where(np.isfinite(distance), distance, np.nan)))]
    seconds = timescale.lag / fps
    message = _no_peak() + (
        f"suggested kappa {best['kappa']:.4g}: its median state duration {best['median_duration_s']:.3g} s is the "
        f"closest to {seconds:.3g} s, the shortest lag at which the real syllables' MI above the shuffle is at least "
        f"{factor:g}x the Markov surrogates' and {significance:g} standard errors above 0 (a suggestion only: check "
        "the scan figure and seed agreement)"
    ) + _range_advice(per_kappa, best, timescale.lag)
    return KappaSuggestion(float(best["kappa"]), timescale.lag, seconds, float(best["median_duration_s"]),
                           per_kappa, timescale.evidence, message, "mi_timescale")  # fmt: skip


def _interior_peak(per_kappa: pd.DataFrame) -> int | None:
    """Row of the κ whose median final log probability is highest, when it lies strictly inside the range."""
    log_probs = per_kappa["median_final_log_prob"].to_numpy(float)
    if len(log_probs) < 3 or not np.isfinite(log_probs).any():
        return None
    best = int(np.nanargmax(log_probs))
    return best if 0 < best < len(log_probs) - 1 else None


def _no_peak() -> str:
    return "the log probability does not peak inside the scanned κ range, so the MI timescale decides: "


def _peak_suggestion(per_kappa: pd.DataFrame, peak: int, timescale, fps: float) -> KappaSuggestion:
    """The log-probability peak decides; the MI timescale is reported beside it."""
    best = per_kappa.iloc[peak]
    lag = timescale.lag
    with np.errstate(divide="ignore"):
        per_kappa["log_distance"] = (
            math.nan if lag is None else np.abs(np.log(per_kappa["median_duration_frames"].to_numpy(float) / lag))
        )
    beside = "the MI curves never separate at the lags measured" if lag is None else (
        f"the MI separation timescale is {lag / fps:.3g} s"
    )
    message = (
        f"suggested kappa {best['kappa']:.4g}: the median final log probability peaks there, inside the scanned "
        f"range ({per_kappa['kappa'].min():.4g} to {per_kappa['kappa'].max():.4g}); its median state duration is "
        f"{best['median_duration_s']:.3g} s ({beside}). A suggestion only: check the scan figure and seed agreement"
    )
    return KappaSuggestion(float(best["kappa"]), lag, None if lag is None else lag / fps, float(best["median_duration_s"]),
                           per_kappa, timescale.evidence, message, "log_prob_peak")  # fmt: skip


def _range_advice(per_kappa: pd.DataFrame, best, timescale_frames: float) -> str:
    """A hint when even the closest κ misses the timescale by more than 2x at the edge of the scanned range."""
    ratio = float(best["median_duration_frames"]) / timescale_frames
    if 0.5 <= ratio <= 2.0:
        return ""
    durations = per_kappa["median_duration_frames"]
    if ratio > 2.0 and best["kappa"] == per_kappa["kappa"].min() and (durations > 2.0 * timescale_frames).all():
        return f"; every κ scanned gives states {ratio:.3g}x longer than that: extend the scan to smaller κ"
    if ratio < 0.5 and best["kappa"] == per_kappa["kappa"].max() and (durations < 0.5 * timescale_frames).all():
        return f"; every κ scanned gives states {1 / ratio:.3g}x shorter than that: extend the scan to larger κ"
    return f"; even this κ misses the timescale by {max(ratio, 1 / ratio):.3g}x"


def agreement_by_kappa(scan_dir, summary: pd.DataFrame | None = None, downsample: int = 10) -> pd.DataFrame:
    """Mean pairwise agreement across seeds for every (n_states, κ) with at least two fitted seeds.

    Columns: `n_states`, `kappa`, `n_seeds`, `accuracy`, `adjusted_rand` (means over pairs).

    Args:
        scan_dir: a scan folder.
        summary: its summary (default: `load_summary(scan_dir, write=False)`).
        downsample: as in `seed_agreement`.

    Returns:
        A DataFrame with one row per (n_states, κ) that has at least two fitted seeds.
    """
    summary = load_summary(scan_dir, write=False) if summary is None else summary
    fitted = summary[summary["error"].fillna("") == ""]
    rows = []
    for (n_states, kappa), group in fitted.groupby(["n_states", "kappa"], sort=True):
        if len(group) < 2:
            continue
        pairs = seed_agreement(scan_dir, kappa, n_states, downsample)
        rows.append({"n_states": n_states, "kappa": kappa, "n_seeds": len(group),
                     "accuracy": pairs["accuracy"].mean(), "adjusted_rand": pairs["adjusted_rand"].mean()})  # fmt: skip
    return pd.DataFrame(rows, columns=["n_states", "kappa", "n_seeds", "accuracy", "adjusted_rand"])
