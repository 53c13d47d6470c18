"""Does the state profile tell the groups apart? A cross-validated classifier on recordings.

Each recording is one observation, described by its state profile: how much it uses each
state (the centred log-ratio of the frame fractions, `fraction_clr`, so the K fractions'
closure is removed), how long its bouts last (`log` of the median bout in seconds) and,
given the states, where its bouts go (the bout-level transition probabilities
`P(next = j | leaving i)`, i ≠ j). A scikit-learn pipeline — median imputation of the
values a recording lacks (a state it never uses has no bout duration), standardisation,
then shrinkage LDA (Ledoit–Wolf) or L2 logistic regression — predicts each recording's
group from the others (stratified k-fold over recordings, or leave-one-out; frames are
never split across folds). The score is the balanced accuracy of the out-of-fold
predictions of all recordings (the mean recall of the groups; chance = 1 / number of
groups); its p-value comes from refitting on group labels permuted across recordings (the
permutations of scikit-learn's `permutation_test_score`): `p = (1 + #{permuted ≥ observed})
/ (1 + n_permutations)`, valid at any sample size. The LDA pipeline runs, for speed, on a
numpy port that gives scikit-learn's predictions (tested against it).
"""

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .._errors import InputError
from .group_statistics import checked_groups
from ._shrinkage_lda import balanced_accuracy, out_of_fold_predictions
from .state_statistics import get_bout_transition_matrix

CLASSIFIERS = ("lda", "logistic")
FEATURE_KINDS = ("fraction_clr", "log_median_bout_s", "transition")
MIN_RECORDINGS_PER_GROUP = 3
DEFAULT_PERMUTATIONS = 1000


@dataclass
class GroupDecoding:
    """What `decode_groups` found.

    Attributes:
        classifier: `"lda"` or `"logistic"`.
        cv: the cross-validation, in words (e.g. `"stratified 5-fold over recordings"`).
        accuracy: balanced accuracy of the out-of-fold predictions, in [0, 1].
        chance: 1 / number of groups.
        p_value: permutation p-value, `(1 + #{permuted ≥ accuracy}) / (1 + n_permutations)`.
        permutation_scores: (n_permutations,) balanced accuracies with permuted groups.
        confusion: groups × groups counts of out-of-fold predictions (rows: true group,
            columns: predicted group).
        predictions: one row per recording: `recording`, `group`, `predicted`.
        features: one row per feature, most important first: `feature`, `kind`,
            `state`, `to_state` (transitions; else -1), `weight` (standardised coefficient
            of the classifier fit on every recording; two groups: positive pushes towards
            the second group), `importance` (|weight|, the largest over classes for
            more groups), `higher_in` (the group whose median is higher).
        groups: the group labels, sorted.
        n_recordings: recordings used.
    """

    classifier: str
    cv: str
    accuracy: float
    chance: float
    p_value: float
    permutation_scores: np.ndarray
    confusion: pd.DataFrame
    predictions: pd.DataFrame
    features: pd.DataFrame
    groups: list
    n_recordings: int

    @property
    def n_permutations(self) -> int:
        return len(self.permutation_scores)

    def summary(self) -> pd.DataFrame:
        """One row: `classifier`, `cv`, `n_recordings`, `groups`, `balanced_accuracy`, `chance`,
        `p_value`, `n_permutations`, `top_features` (the five most important)."""
        return pd.DataFrame([{
            "classifier": self.classifier, "cv": self.cv, "n_recordings": self.n_recordings,
            "groups": ", ".join(self.groups), "balanced_accuracy": self.accuracy, "chance": self.chance,
            "p_value": self.p_value, "n_permutations": self.n_permutations,
            "top_features": "; ".join(self.features["feature"].head(5)),
        }])  # fmt: skip


def recording_features(table: pd.DataFrame, states: Mapping | None = None, n_states: int | None = None) -> pd.DataFrame:
    """The state profile of every recording: one row per recording, one column per feature.

    Columns `fraction_clr:k` and `log_median_bout_s:k` for every state k of the table
    (NaN where a recording has no bout of k) and, with `states`, `transition:i->j` for
    i ≠ j: the fraction of the recording's bouts of i that are followed by a bout of j
    (NaN where the recording never leaves i).

    Args:
        table: one row per recording × state with `fraction_clr` and `median_bout_s`
            (`behaviour_table`).
        states: optional dict recording -> (T,) int states (adds the transitions).
        n_states: K (default: largest state of the table + 1).

    Returns:
        A `pandas.DataFrame` indexed by recording (in the table's order).

    Raises:
        InputError: a missing column, or `states` lacking a recording of the table.
    """
    missing = [c for c in ("recording", "state", "fraction_clr", "median_bout_s") if c not in table.columns]
    if missing:
        raise InputError(f"the table needs columns recording, state, fraction_clr, median_bout_s (missing: {', '.join(missing)})")
    n_states = int(table["state"].max()) + 1 if n_states is None else int(n_states)
    recordings = list(dict.fromkeys(table["recording"]))
    parts = []
    for kind, values in (("fraction_clr", table["fraction_clr"]), ("log_median_bout_s", np.log(table["median_bout_s"]))):
        wide = table.assign(value=values).pivot(index="recording", columns="state", values="value")
        wide = wide.reindex(index=recordings, columns=range(n_states))
        parts.append(wide.set_axis([f"{kind}:{k}" for k in range(n_states)], axis=1))
    if states is not None:
        parts.append(_transition_features(states, recordings, n_states))
    return pd.concat(parts, axis=1)


def _transition_features(states: Mapping, recordings: list, n_states: int) -> pd.DataFrame:
    absent = [r for r in recordings if r not in states]
    if absent:
        raise InputError(f"states lack recording(s) {', '.join(map(repr, absent[:5]))} of the table")
    off_diagonal = ~np.eye(n_states, dtype=bool)
    rows = []
    for name in recordings:
        counts = get_bout_transition_matrix({name: np.asarray(states[name])}, n_states, normalize=False).astype(float)
        totals = counts.sum(1, keepdims=True)
        probs = np.divide(counts, totals, out=np.full(counts.shape, np.nan), where=totals > 0)
        rows.append(probs[off_diagonal])
    columns = [f"transition:{i}->{j}" for i in range(n_states) for j in range(n_states) if i != j]
    return pd.DataFrame(rows, index=recordings, columns=columns)


def decode_groups(
    table: pd.DataFrame,
    groups: Mapping[str, str],
    states: Mapping | None = None,
    *,
    classifier: str = "lda",
    cv: str = "auto",
    n_permutations: int = DEFAULT_PERMUTATIONS,
    seed: int = 0,
    features: pd.DataFrame | None = None,
) -> GroupDecoding:
    """Predict each recording's group from its state profile, cross-validated, with a permutation p-value.

    See the module docstring for the features, the pipeline and the p-value.

    Args:
        table: one row per recording × state (`behaviour_table`).
        groups: dict recording -> group label (`load_groups`).
        states: optional dict recording -> (T,) int states: adds the bout-level transition
            probabilities to the features.
        classifier: `"lda"` (shrinkage LDA, `solver="lsqr", shrinkage="auto"`) or
            `"logistic"` (L2 logistic regression, C = 1).
        cv: `"auto"` (stratified k-fold with k = min(5, smallest group), shuffled with
            `seed`), `"leave-one-out"`, or an int k (stratified k-fold).
        n_permutations: label permutations for the p-value (≥ 1000 for a reportable one;
            fewer only for quick checks).
        seed: seeds the folds and the permutations.
        features: optional precomputed `recording_features` (replaces `table`/`states`
            as the source of the features; `table` still names the recordings).

    Returns:
        `GroupDecoding`.

    Raises:
        InputError: an unknown classifier or cv, fewer than two groups, a group of fewer
            than three recordings, a recording without a group (or a group for a
            recording not in the table), n_permutations < 1, no usable feature.
    """
    if classifier not in CLASSIFIERS:
        raise InputError(f"classifier must be one of {', '.join(CLASSIFIERS)}, got {classifier!r}")
    if int(n_permutations) < 1:
        raise InputError(f"n_permutations must be >= 1, got {n_permutations}")
    groups = checked_groups(table, groups, minimum=MIN_RECORDINGS_PER_GROUP, purpose="decoding groups")
    frame = recording_features(table, states) if features is None else features
    absent = [r for r in groups if r not in frame.index]
    if absent:
        raise InputError(f"the features lack recording(s) {', '.join(map(repr, absent[:5]))}")
    frame = frame.loc[list(groups)].dropna(axis=1, how="all")
    if frame.shape[1] == 0:
        raise InputError("no feature has a value in any recording")
    X, y = frame.to_numpy(float), np.array([groups[r] for r in frame.index])
    labels = sorted(set(y))
    splitter, cv_text = _splitter(cv, y, seed)
    score, permuted, p_value, predicted = _permutation_test(classifier, X, y, splitter, int(n_permutations), seed)
    confusion = pd.crosstab(pd.Categorical(y, labels), pd.Categorical(predicted, labels), dropna=False)
    confusion.index.name, confusion.columns.name = "group", "predicted"
    return GroupDecoding(
        classifier=classifier, cv=cv_text, accuracy=float(score), chance=1 / len(labels), p_value=float(p_value),
        permutation_scores=np.asarray(permuted, float), confusion=confusion,
        predictions=pd.DataFrame({"recording": frame.index, "group": y, "predicted": predicted}),
        features=_feature_weights(_pipeline(classifier).fit(X, y), frame, y, labels), groups=labels, n_recordings=len(y),
    )  # fmt: skip


def _permutation_test(classifier: str, X: np.ndarray, y: np.ndarray, splitter, n_permutations: int, seed: int):
    """`(score, permutation_scores, p_value, predicted)`: the out-of-fold balanced accuracy, the same
    with the groups permuted across recordings (`numpy.random.RandomState(seed).permutation`, as
    scikit-learn's `permutation_test_score`), the p-value, and the out-of-fold predictions (labels)."""
    from threadpoolctl import threadpool_limits

    labels, codes = np.unique(y, return_inverse=True)
    rng = np.random.RandomState(seed)

    def predictions(permuted_codes):
        splits = list(splitter.split(X, permuted_codes))
        if classifier == "lda":
            return out_of_fold_predictions(X, permuted_codes, len(labels), splits)
        from sklearn.model_selection import cross_val_predict

        return cross_val_predict(_pipeline(classifier), X, permuted_codes, cv=splits)

    with threadpool_limits(1, user_api="blas"):  # small matrices: BLAS threads only cost
        predicted = predictions(codes)
        permuted = []
        for _ in range(n_permutations):
            shuffled = codes[rng.permutation(len(codes))]
            permuted.append(balanced_accuracy(shuffled, predictions(shuffled)))
    observed = balanced_accuracy(codes, predicted)
    return observed, np.array(permuted), permutation_p_value(observed, permuted), labels[predicted]


def permutation_p_value(observed: float, permuted: np.ndarray) -> float:
    """`(1 + #{permuted ≥ observed}) / (1 + n_permutations)`: the permutation test's p-value.

    Examples:
        >>> permutation_p_value(0.9, np.array([0.5, 0.9, 0.95, 0.4]))
        0.6
    """
    permuted = np.asarray(permuted, float)
    return float((1 + np.sum(permuted >= observed)) / (1 + len(permuted)))


def _pipeline(classifier: str):
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = (
        LinearDiscriminantAnalysis(solver="lsqr", shrinkage="auto")
        if classifier == "lda"
        else LogisticRegression(C=1.0, max_iter=2000)
    )
    return make_pipeline(SimpleImputer(strategy="median", keep_empty_features=True), StandardScaler(), model)


def _splitter(cv, y: np.ndarray, seed: int):
    from sklearn.model_selection import LeaveOneOut, StratifiedKFold

    smallest = int(pd.Series(y).value_counts().min())
    if cv == "leave-one-out":
        return LeaveOneOut(), "leave-one-recording-out"
    if cv == "auto":
        folds = min(5, smallest)
    elif isinstance(cv, (int, np.integer)) and not isinstance(cv, bool):
        folds = int(cv)
        if not 2 <= folds <= smallest:
            raise InputError(f"cv = {folds} folds needs 2 <= k <= the smallest group ({smallest} recordings)")
    else:
        raise InputError(f"cv must be 'auto', 'leave-one-out' or a number of folds, got {cv!r}")
    return StratifiedKFold(folds, shuffle=True, random_state=seed), f"stratified {folds}-fold over recordings"


def _feature_weights(pipeline, frame: pd.DataFrame, y: np.ndarray, labels: list) -> pd.DataFrame:
    """Standardised coefficients of the fitted classifier, one row per feature, most important first."""
    coefficients = np.atleast_2d(pipeline[-1].coef_)
    weight = coefficients[0] if len(labels) == 2 else coefficients[np.abs(coefficients).argmax(0), np.arange(coefficients.shape[1])]
    medians = frame.groupby(y).median()
    higher = [medians[c].idxmax() if medians[c].notna().any() and medians[c].nunique() > 1 else "" for c in frame.columns]
    kinds, states, targets = zip(*(_parse_feature(c) for c in frame.columns))
    rows = pd.DataFrame({
        "feature": frame.columns, "kind": kinds, "state": states, "to_state": targets, "weight": weight,
        "importance": np.abs(coefficients).max(0), "higher_in": higher,
    })  # fmt: skip
    return rows.sort_values("importance", ascending=False, kind="stable").reset_index(drop=True)


def _parse_feature(name: str) -> tuple[str, int, int]:
    kind, _, where = str(name).partition(":")
    source, _, target = where.partition("->")
    try:
        return kind, int(source), int(target) if target else -1
    except ValueError:
        return kind, -1, -1
