"""How states are shown in figures and tables: by their name where one was given, else by their number."""

from collections.abc import Mapping

from .._errors import InputError


def state_labels(n_states: int, names: Mapping | None = None) -> list[str]:
    """The label of every state: its name where `names` gives one, else its number as a string.

    Args:
        n_states: K.
        names: state -> name (ints or digit strings as keys), e.g. a `FitResult`'s
            `state_names`; None or {} for none.

    Returns:
        list of K str.

    Examples:
        >>> state_labels(4, {0: "rearing", 3: "grooming"})
        ['rearing', '1', '2', 'grooming']
    """
    names = {int(state): str(name) for state, name in (names or {}).items()}
    return [names.get(state, str(state)) for state in range(int(n_states))]


def labels_of(source, n_states: int) -> list[str]:
    """`state_labels` of a fit (its `state_names`), a list of K labels (used as given), or None."""
    if source is None:
        return state_labels(n_states)
    if isinstance(source, Mapping):
        return state_labels(n_states, source)
    if hasattr(source, "state_names"):
        return state_labels(n_states, source.state_names)
    if isinstance(source, (str, bytes)) or not hasattr(source, "__len__") or len(source) != n_states:
        raise InputError(f"state labels must be {n_states} labels or a dict state -> name, got {source!r}")
    return [str(label) for label in source]


def with_state_names(table, names, n_states: int):
    """`table` with `state_name` (and `to_state_name` where it has `to_state`) columns at the end.

    Args:
        table: a `pandas.DataFrame` with an int `state` column (negative: no state).
        names: state -> name (e.g. a fit's `state_names`) or K labels.
        n_states: K.

    Returns:
        A copy of `table`; a state without a name is labelled by its number, a negative
        state by "". Existing `state_name`/`to_state_name` columns are replaced.
    """
    import numpy as np

    labels = np.array(labels_of(names, n_states) + [""], dtype=object)  # index -1 -> ""
    named = table.drop(columns=[c for c in ("state_name", "to_state_name") if c in table.columns])
    for column in ("state", "to_state"):
        if column in named.columns:
            states = named[column].to_numpy(dtype=int)
            named[f"{column}_name"] = labels[np.where(states >= 0, states, n_states)]
    return named
