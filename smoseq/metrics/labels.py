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
