"""The `smoseq` command line.

Every command turns bad input into one line on stderr naming the file and the
problem, and a non-zero exit code; nothing below this module prints or exits.
"""

import argparse
import os
import sys
import warnings
from pathlib import Path
import textwrap

EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130


class CommandError(Exception):
    """A problem the user can fix; its message is printed as one line."""


def _formatter(prog):
    return argparse.RawDescriptionHelpFormatter(prog, max_help_position=32)


def _add_command(subparsers, name, help_text, example, handler):
    parser = subparsers.add_parser(
        name,
        help=help_text,
        description=help_text,
        epilog="example:\n  " + example,
        formatter_class=_formatter,
    )
    parser.set_defaults(handler=handler)
    return parser


def build_parser() -> argparse.ArgumentParser:
    from . import commands, demo as demo_commands
    from . import scan_commands as scan_cli
    from .settings_options import add_fit_options

    parser = argparse.ArgumentParser(
        prog="smoseq",
        description="Find high-level behavioural states in syllable sequences.",
        formatter_class=_formatter,
        epilog=textwrap.dedent(
            """\
            examples:
              smoseq demo                      # the whole tutorial on a generated dataset
              smoseq fit DATA --out FIT        # DATA: folder of CSVs or keypoint-MoSeq results.h5
              smoseq apply FIT NEWDATA --out STATES"""
        ),
    )
    parser.add_argument("--version", action="version", version=_version())
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")

    demo = _add_command(
        subparsers, "demo", "build the example dataset and run the whole tutorial pipeline on it",
        "smoseq demo smoseq-demo", demo_commands.demo,
    )
    demo.add_argument("directory", nargs="?", default="smoseq-demo", help="output folder (default: smoseq-demo)")
    demo.add_argument("--force", action="store_true", help="replace an existing demo folder's results")
    demo.add_argument("--seed", type=int, default=0)

    example = _add_command(
        subparsers, "example-data", "write the synthetic example dataset (CSVs, videos, ground truth)",
        "smoseq example-data example_data --recordings 4 --minutes 4", demo_commands.example_data,
    )
    example.add_argument("directory")
    example.add_argument("--recordings", type=int, default=None, help="number of recordings")
    example.add_argument("--minutes", type=float, default=None, help="minutes per recording")
    example.add_argument("--fps", type=float, default=120.0)
    example.add_argument("--seed", type=int, default=0)
    example.add_argument("--no-video", action="store_true", help="skip writing videos")
    example.add_argument("--force", action="store_true")

    mi = _add_command(
        subparsers, "mi", "lagged mutual information of real data, Markov surrogates and shuffles",
        "smoseq mi example_data --fps 120 --out mi", commands.mutual_information,
    )
    mi.add_argument("data", help="folder of recording CSVs or a results.h5")
    mi.add_argument("--fps", type=float, default=120.0)
    mi.add_argument("--out", default="mi", help="output folder (default: mi)")
    mi.add_argument("--n-lags", type=int, default=40)
    mi.add_argument("--min-lag", type=float, default=1.0, help="shortest lag in seconds")
    mi.add_argument("--max-lag", type=float, default=300.0, help="longest lag in seconds")
    mi.add_argument("--seed", type=int, default=0)
    mi.add_argument(
        "--bias-correction", choices=["miller-madow"], default=None,
        help="correct the plug-in estimate's small-sample bias (default: none, as published)",
    )
    mi.add_argument("--force", action="store_true")

    fit = _add_command(
        subparsers, "fit", "fit an HHMM by Gibbs sampling and write the fit folder with its figures",
        "smoseq fit example_data --out fit --n-states 10 --iters 100 --checkpoint-every 10", commands.fit,
    )
    fit.add_argument("data", help="folder of recording CSVs or a results.h5")
    fit.add_argument("--out", required=True, help="fit folder to write")
    add_fit_options(fit, single=True,
                    transitions_help="prior of the hidden-state transitions (hdp: sticky HDP, n-states an upper bound; "
                                     "semi_markov: negative-binomial state durations, docs/semi-markov.md; "
                                     "input_driven: leaving each state depends on --covariates, covariate_effects.csv)")  # fmt: skip
    fit.add_argument("--groups", default=None,
                     help="name,group CSV (e.g. keypoint-MoSeq's index.csv): one transition matrix per group, "
                          "and group_dynamics.csv comparing them")  # fmt: skip
    fit.add_argument("--covariates", default=None,
                     help="CSV, one row per recording (a name column, then numeric or categorical columns): "
                          "data.covariates for the transitions; recorded in fit.json")  # fmt: skip
    fit.add_argument("--fps", type=float, default=120.0, help="frame rate, for figures")
    fit.add_argument("--resume", action="store_true", help="continue from the last checkpoint in --out")
    fit.add_argument("--force", action="store_true", help="replace an existing fit in --out")
    fit.add_argument("--no-figures", action="store_true")

    apply = _add_command(
        subparsers, "apply", "hidden states of new recordings under a saved model (most probable state per frame)",
        "smoseq apply fit new_data --out new_states", commands.apply,
    )
    apply.add_argument("fit", help="fit folder")
    apply.add_argument("data", help="folder of recording CSVs or a results.h5")
    apply.add_argument("--out", required=True)
    apply.add_argument("--marginals", action="store_true", help="also write posterior probabilities per frame")
    apply.add_argument("--groups", default=None, help="name,group CSV, for a fit with one transition matrix per group")
    apply.add_argument("--covariates", default=None, help="the covariate CSV, for a fit that used one")
    apply.add_argument(
        "--viterbi", action="store_true", help="write the single most probable path instead of the most probable state per frame"
    )
    apply.add_argument("--chunk-frames", type=int, default=None,
                       help="recordings are read and decoded in batches of at most this many frames (default 4000000)")
    apply.add_argument("--force", action="store_true")

    movies = _add_command(
        subparsers, "movies", "grid movies of every state from a fit and the recordings' videos",
        "smoseq movies fit --videos example_data", commands.movies,
    )
    movies.add_argument("fit")
    movies.add_argument("--videos", required=True, help="folder with the recordings' CSVs (centroids) and videos")
    movies.add_argument("--out", default=None, help="output folder (default: FIT/grid_movies)")
    movies.add_argument("--rows", type=int, default=3)
    movies.add_argument("--cols", type=int, default=4)
    movies.add_argument("--max-duration", type=int, default=1200, help="frames per movie")
    movies.add_argument("--window-size", type=int, default=256)
    movies.add_argument("--min-duration", type=int, default=1, help="shortest instance shown, frames")
    movies.add_argument("--labels", action="store_true", help="write recording and start time on each tile")
    movies.add_argument("--seed", type=int, default=0)

    plot = _add_command(
        subparsers, "plot", "draw the figures of a fit", "smoseq plot fit --fps 120", commands.plot,
    )
    plot.add_argument("fit")
    plot.add_argument("--out", default=None, help="output folder (default: FIT/figures)")
    plot.add_argument("--fps", type=float, default=None)

    export = _add_command(
        subparsers, "export", "write a fit's states: one CSV per recording, an NWB file, or tidy tables (Parquet/CSV)",
        "smoseq export fit --csv --out fit_csv\n  smoseq export fit --nwb states.nwb --table states.parquet", commands.export,
    )
    export.add_argument("fit")
    export.add_argument("--csv", action="store_true", help="one CSV per recording (frame, syllable, state) in --out")
    export.add_argument("--out", default=None, help="output folder of --csv (default: FIT/csv)")
    export.add_argument("--nwb", default=None, metavar="OUT.nwb", help="an NWB file: bouts (ndx-ethogram) and states per frame")
    export.add_argument("--table", default=None, metavar="OUT.parquet",
                        help="tidy tables OUT_frames and OUT_bouts (.parquet or .csv)")  # fmt: skip
    export.add_argument("--fps", type=float, default=None, help="frame rate (default: the fit's)")
    export.add_argument("--force", action="store_true", help="replace existing outputs")

    scan_cli.add_commands(subparsers, _add_command)

    from . import stats_commands as stats_cli  # `smoseq stats`: behaviour per state, groups

    stats_cli.add_commands(subparsers, _add_command)

    from . import state_commands  # `smoseq label`, `smoseq merge`: names for states, merging states

    state_commands.add_commands(subparsers, _add_command)
    return parser


def _version() -> str:
    from .._version import __version__

    return f"smoseq {__version__}"


def _one_line_warnings(command: str) -> None:
    """Show warnings as `smoseq CMD: warning: ...` lines instead of source excerpts."""

    def show(message, category, filename, lineno, file=None, line=None):
        text = " ".join(str(message).split())
        print(f"smoseq {command}: warning: {text}", file=sys.stderr if file is None else file)

    warnings.showwarning = show


def enable_compilation_cache() -> None:
    """Keep compiled JAX programs on disk so each `smoseq` run after the first starts fast.

    The folder is `$SMOSEQ_CACHE_DIR`, else `~/.cache/smoseq/jax`; set SMOSEQ_CACHE_DIR to
    an empty string to turn the cache off. Every program is kept (the small ones add up
    to seconds). The setting is also exported as JAX's own environment variables, so the
    processes a scan starts (local workers, submitit and SLURM jobs) share the cache; a
    `JAX_COMPILATION_CACHE_DIR` set by the user wins.
    """
    folder = os.environ.get("SMOSEQ_CACHE_DIR", str(Path.home() / ".cache" / "smoseq" / "jax"))
    if not folder:
        return
    try:
        Path(folder).mkdir(parents=True, exist_ok=True)
    except OSError:
        return
    os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", folder)
    os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
    import jax

    jax.config.update("jax_compilation_cache_dir", os.environ["JAX_COMPILATION_CACHE_DIR"])
    jax.config.update("jax_persistent_cache_min_compile_time_secs", float(os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"]))


def main(argv=None) -> int:
    """Run the `smoseq` command; returns the exit code (set SMOSEQ_DEBUG=1 to see tracebacks).

    Expected errors (bad input, unreadable files, a failed fit) are printed as one line
    `smoseq COMMAND: error: ...` on stderr instead of a traceback.

    Args:
        argv: the arguments after the program name (list of str); None reads `sys.argv`.

    Returns:
        The exit code: 0 on success, 2 on bad input or a failed command (also when no
        command is given), 130 when interrupted.

    Raises:
        SystemExit: from `argparse` on a malformed command line (code 2) or `--help` (0).
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    enable_compilation_cache()
    if getattr(args, "handler", None) is None:
        parser.print_help()
        return EXIT_BAD_INPUT
    from .._errors import InputError, ModelFileError
    from ..fitting import FitError

    if os.environ.get("SMOSEQ_DEBUG"):
        args.handler(args)
        return 0
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("always", UserWarning)
            _one_line_warnings(args.command)
            args.handler(args)
    except (CommandError, InputError, ModelFileError, FitError, FileExistsError, ValueError, RuntimeError) as error:
        message = " ".join(str(error).split()) or type(error).__name__
        print(f"smoseq {args.command}: error: {message}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except PermissionError as error:
        print(f"smoseq {args.command}: error: {error.filename}: permission denied", file=sys.stderr)
        return EXIT_BAD_INPUT
    except OSError as error:
        where = error.filename or "output"
        print(f"smoseq {args.command}: error: {where}: {error.strerror or error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print(f"smoseq {args.command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    return 0


if __name__ == "__main__":
    sys.exit(main())
