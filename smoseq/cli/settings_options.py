"""The fit settings on the command line: the options `smoseq fit` and `smoseq scan` share, and the one
function that turns them into a `sm.FitSettings`.

Options left out take the defaults `FitSettings` defines (argparse holds None), so each
default lives in one place; `--settings FILE` reads a settings file (`FitSettings.write`),
and an option given next to it must agree with it.
"""

import argparse

from .._errors import InputError

TRANSITIONS = ("sticky", "hdp", "semi_markov", "input_driven")

# argparse destination -> FitSettings field, for the options whose value is the setting itself
_FIELDS = {
    "n_states": "n_states", "kappa": "kappa", "iters": "n_iters", "seed": "seed", "emissions": "emissions",
    "transitions": "transitions", "repeats": "repeats", "exact_emissions": "exact_emissions",
    "checkpoint_every": "checkpoint_every", "devices": "devices", "memory_limit": "memory_limit",
}  # fmt: skip
_BATCHED_OPTIONS = ("iters", "emissions", "transitions", "repeats", "exact_emissions")  # a scan's grid sets K, κ, seeds


def _kappa(value: str):
    if value == "auto":
        return value
    try:
        return float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"kappa must be a number or 'auto', got {value!r}") from None


def add_fit_options(parser, *, single: bool, transitions=TRANSITIONS, transitions_help: str = "") -> None:
    """Add the fit-setting options to a command's parser.

    Args:
        parser: the command's `argparse` parser.
        single: True for `smoseq fit` (also `--n-states`, `--kappa`, `--seed`,
            `--checkpoint-every`, `--devices`, `--memory-limit`); False for a scan, whose grid
            sets K, κ and the seeds.
        transitions: the `--transitions` choices.
        transitions_help: its help text.
    """
    parser.set_defaults(setting_options=tuple(_FIELDS) if single else _BATCHED_OPTIONS)
    parser.add_argument("--settings", metavar="JSON", default=None,
                        help="fit settings from a JSON file (sm.FitSettings.write); options given here must agree with it")  # fmt: skip
    if single:
        parser.add_argument("--n-states", type=int, default=None, help="hidden states")
        parser.add_argument("--kappa", type=_kappa, default=None, help="stickiness (default: auto = frames / n_states)")
    parser.add_argument("--iters", type=int, default=None, help="Gibbs iterations")
    if single:
        parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--emissions", choices=["low_rank", "full_rank"], default=None)
    parser.add_argument("--transitions", choices=list(transitions), default=None,
                        help=transitions_help or "prior of the hidden-state transitions")  # fmt: skip
    parser.add_argument(
        "--repeats", choices=["ignore", "model"], default=None,
        help="frames repeating the previous syllable: no evidence (ignore) or scored as published (model)",
    )  # fmt: skip
    parser.add_argument("--parallel", action="store_true", help="use the parallel (associative scan) kernels, for GPUs")
    parser.add_argument("--learning-rate", type=float, default=None,
                        help="use the Laplace emission update, its mode found by optax.adam(LR)")  # fmt: skip
    update = parser.add_mutually_exclusive_group()
    update.add_argument("--exact-emissions", action=argparse.BooleanOptionalAction, default=None,
                        help="exact low-rank emission update, the blocked Metropolis-Hastings one (rows, then biases): "
                             "the default unless --learning-rate is given")  # fmt: skip
    update.add_argument("--laplace-emissions", dest="exact_emissions", action="store_const", const=False,
                        help="Laplace-approximate low-rank emission update (the published package's; "
                             "the same as --no-exact-emissions); recorded in fit.json")  # fmt: skip
    if single:
        parser.add_argument("--checkpoint-every", type=int, default=None, help="iterations between checkpoints (0: none)")
        parser.add_argument("--devices", type=int, default=None,
                            help="devices to shard the recordings over (default: all local devices; docs/scaling.md)")  # fmt: skip
        parser.add_argument("--memory-limit", default=None,
                            help="peak memory of the fit, e.g. 8GB: the step runs in chunks of recordings under it "
                                 "(default: none on a CPU, the device's free memory on a GPU)")  # fmt: skip


def settings_from_args(args):
    """The `sm.FitSettings` of a command line: the `--settings` file (or the defaults) and the options given.

    Raises:
        InputError: a bad settings file, a bad value, or an option that contradicts the
            settings file (one line naming the option).
    """
    from ..fitting import FitSettings

    options = getattr(args, "setting_options", tuple(_FIELDS))
    given = {_FIELDS[dest]: getattr(args, dest) for dest in options if getattr(args, dest, None) is not None}
    flags = {field: "--" + dest.replace("_", "-") for dest, field in _FIELDS.items()}
    if getattr(args, "parallel", False):
        given["method"], flags["method"] = "parallel", "--parallel"
    if getattr(args, "learning_rate", None) is not None:
        given["mode_search"], flags["mode_search"] = learning_rate_search(args.learning_rate), "--learning-rate"
    try:
        if getattr(args, "settings", None) is None:
            return FitSettings(**given)
        settings = FitSettings.read(args.settings)
        for field, value in given.items():
            stored = settings.to_json(only=[field])[field]
            if settings.replace(**{field: value}).to_json(only=[field])[field] != stored:
                raise InputError(f"{flags[field]} contradicts {args.settings} ({field}: {stored!r}); leave the option out or edit the file")
        return settings.replace(**given)
    except InputError as error:
        raise _named_by_option(error, given, flags) from None


def _named_by_option(error: InputError, given: dict, flags: dict) -> InputError:
    """The settings' message about a value the user typed, naming the option (`--iters`) instead of the setting (`n_iters`)."""
    message = str(error)
    for field in given:
        if message.startswith(field + " "):
            return InputError(flags[field] + message[len(field) :])
    return error


def learning_rate_search(learning_rate: float):
    """The emission update's optimizer of `--learning-rate LR`: `optax.adam(LR)`, at most 1000 steps."""
    from ..fitting.optimizers import optimizer
    from ..models import ModeSearch

    if not learning_rate > 0:
        raise InputError(f"--learning-rate must be > 0, got {learning_rate}")
    return ModeSearch(optimizer("adam", learning_rate=learning_rate), max_iters=1000, tol=1e-6, name=f"adam({learning_rate:g})")
