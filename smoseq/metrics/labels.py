"""How states are shown in figures and tables: by their name where one was given, else by their number."""

from collections.abc import Mapping


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
    if not isinstance(source, (str, bytes)) and hasattr(source, "__len__") and len(source) == n_states:
        return [str(label) for label in source]
    return state_labels(n_states, getattr(source, "state_names", None))
