"""Names of a fit's states: `state_names.json` in the fit folder, validated on the way in and out.

    state_names.json   {"format": 1, "names": {"0": "rearing", "3": "grooming"}}

Keys are state numbers (as JSON strings), values non-empty names, no name used twice.
A state without a name is shown by its number.
"""

from collections.abc import Mapping
from pathlib import Path

from .._errors import InputError, ModelFileError
from .files import atomic_write_json
from .model_files import read_json

STATE_NAMES_FILE = "state_names.json"
STATE_NAMES_FORMAT = 1


def checked_state_names(names: Mapping, n_states: int) -> dict[int, str]:
    """`names` as state number -> name, or InputError naming the first problem.

    Args:
        names: state -> name; states as ints or digit strings ("3"), names as str
            (surrounding white space is removed).
        n_states: K; every state must be in 0..K-1.

    Returns:
        dict int -> str, sorted by state.

    Raises:
        InputError: a state that is not an integer in 0..K-1, an empty name, or one name
            given to two states.
    """
    if not isinstance(names, Mapping):
        raise InputError(f"state names must be a dict state -> name, got {type(names).__name__}")
    checked: dict[int, str] = {}
    for state, name in names.items():
        number = _state_number(state, n_states)
        if not isinstance(name, str) or not name.strip():
            raise InputError(f"state {number}: the name is empty")
        checked[number] = name.strip()
    seen: dict[str, int] = {}
    for number, name in sorted(checked.items()):
        if name in seen:
            raise InputError(f"the name {name!r} is given to states {seen[name]} and {number}")
        seen[name] = number
    return dict(sorted(checked.items()))


def _state_number(state, n_states: int) -> int:
    text = str(state).strip()
    if isinstance(state, bool) or not (isinstance(state, int) or text.isdigit()):
        raise InputError(f"unknown state {state!r}: states are numbers 0..{n_states - 1}")
    number = int(text)
    if not 0 <= number < n_states:
        raise InputError(f"unknown state {number}: the fit has states 0..{n_states - 1}")
    return number


def write_state_names(folder, names: Mapping, n_states: int) -> Path:
    """Write (atomically) `state_names.json` in `folder`; with no names, remove it.

    Args:
        folder: a fit folder.
        names: state -> name (validated by `checked_state_names`).
        n_states: K.

    Returns:
        The path of `state_names.json`.
    """
    path = Path(folder) / STATE_NAMES_FILE
    checked = checked_state_names(names, n_states)
    if not checked:
        path.unlink(missing_ok=True)
        return path
    atomic_write_json(path, {"format": STATE_NAMES_FORMAT, "names": {str(k): v for k, v in checked.items()}})
    return path


def read_state_names(folder, n_states: int) -> dict[int, str]:
    """The names in `folder/state_names.json` ({} when there is no such file).

    Raises:
        ModelFileError: the file is not JSON, not format 1, or names an unknown state,
            an empty or a repeated name (the message names the file).
    """
    path = Path(folder) / STATE_NAMES_FILE
    if not path.exists():
        return {}
    content = read_json(path)
    if not isinstance(content, dict) or content.get("format") != STATE_NAMES_FORMAT or not isinstance(content.get("names"), dict):
        raise ModelFileError(f"{path}: not a state names file (expected {{\"format\": 1, \"names\": {{...}}}})")
    try:
        return checked_state_names(content["names"], n_states)
    except InputError as error:
        raise ModelFileError(f"{path}: {error}") from None
