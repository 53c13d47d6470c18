"""`sm.name_states`: give states names that every figure, table, report and export then shows."""

import dataclasses
from collections.abc import Mapping
from pathlib import Path

from .._errors import InputError
from ..io.fit_folders import data_fingerprint, is_complete_fit
from ..io.model_files import read_json
from ..io.state_names import checked_state_names, write_state_names
from .result import FitResult


def name_states(result: FitResult, names: Mapping, folder=None) -> FitResult:
    """A copy of `result` whose states carry `names`; saved in the fit folder when there is one.

    Names are added to those the result already has (a name given again replaces the old
    one; `None` removes a state's name). When the result was loaded from a fit folder
    (`sm.load_fit`), or `folder` is given, `state_names.json` is written there atomically.

    Args:
        result: a `FitResult`.
        names: state -> name, e.g. `{0: "rearing", 3: "grooming"}` (states as ints or digit
            strings; a name `None` removes that state's name).
        folder: a fit folder of this fit to write the names into (default: the folder the
            result was loaded from, if any).

    Returns:
        A new `FitResult` with `state_names` set (`result` is not changed).

    Raises:
        InputError: a state not in 0..K-1, an empty name, one name given to two states, or a
            `folder` that holds no complete fit or a fit of other data.

    Examples:
        >>> named = sm.name_states(result, {0: "rearing", 3: "grooming"})  # doctest: +SKIP
        >>> named.state_labels()[:4]  # doctest: +SKIP
        ['rearing', '1', '2', 'grooming']
    """
    if not isinstance(names, Mapping):
        raise InputError(f"names must be a dict state -> name, got {type(names).__name__}")
    removed = {str(state).strip() for state, name in names.items() if name is None}
    given = checked_state_names({s: n for s, n in names.items() if n is not None}, result.n_states)
    kept = {s: n for s, n in result.state_names.items() if str(s) not in removed and s not in given}
    combined = checked_state_names({**kept, **given}, result.n_states)
    target = Path(folder) if folder is not None else result.folder
    if target is not None:
        _check_same_fit(target, result)
        write_state_names(target, combined, result.n_states)
    return dataclasses.replace(result, state_names=combined, folder=target)


def _check_same_fit(folder: Path, result: FitResult) -> None:
    if not is_complete_fit(folder):
        raise InputError(f"{folder}: holds no complete fit to name the states of")
    saved = read_json(folder / "model.json").get("data_fingerprint")
    if saved is not None and saved != data_fingerprint(result.states):
        raise InputError(f"{folder}: holds a fit of other recordings than this result's")
