"""`smoseq label` (names for states) and `smoseq merge` (states that are one behaviour become one)."""

import shutil
from pathlib import Path

from .._errors import InputError
from .output import prepare_output, save_figure, say


def add_commands(subparsers, add_command) -> None:
    """Register `smoseq label` and `smoseq merge` on the `smoseq` parser."""
    label = add_command(
        subparsers, "label", "name states (stored in the fit folder; every figure, table, report and export shows them)",
        "smoseq label fit 0=rearing 3=grooming", label_command,
    )  # fmt: skip
    label.add_argument("fit", help="fit folder")
    label.add_argument("names", nargs="*", metavar="STATE=NAME", help="e.g. 0=rearing (none: show the names)")
    merge = add_command(
        subparsers, "merge", "merge states that are one behaviour into one state, writing a new fit folder",
        "smoseq merge fit --states 1,4 2,6 --out merged", merge_command,
    )  # fmt: skip
    merge.add_argument("fit", help="fit folder")
    merge.add_argument("--states", nargs="+", required=True, metavar="A,B[,...]", help="states to merge, one group per argument")
    merge.add_argument("--out", required=True, help="fit folder to write")
    merge.add_argument("--force", action="store_true", help="replace a fit in --out")


def parse_names(pairs) -> dict[int, str]:
    """`["0=rearing", "3=grooming"]` -> {0: "rearing", 3: "grooming"} (InputError on a malformed pair)."""
    names: dict[int, str] = {}
    for pair in pairs:
        state, separator, name = pair.partition("=")
        if not separator or not state.strip().isdigit():
            raise InputError(f"expected STATE=NAME such as 0=rearing, got {pair!r}")
        if int(state) in names:
            raise InputError(f"state {int(state)} is named twice")
        names[int(state)] = name
    return names


def parse_groups(arguments) -> list[list[int]]:
    """`["1,4", "2,6"]` -> [[1, 4], [2, 6]] (InputError on anything but comma-separated state numbers)."""
    groups = []
    for argument in arguments:
        parts = [part.strip() for part in argument.split(",")]
        if not all(part.isdigit() for part in parts):
            raise InputError(f"--states takes comma-separated state numbers such as 1,4; got {argument!r}")
        groups.append([int(part) for part in parts])
    return groups


def label_command(args) -> None:
    from ..fitting import load_fit, name_states

    names = parse_names(args.names)
    result = load_fit(args.fit)
    if names:
        result = name_states(result, names)
        say(f"wrote {len(result.state_names)} state names to {Path(args.fit) / 'state_names.json'}")
        for path in name_fit_tables(Path(args.fit), result):
            say(f"added the state names to {path}")
    for state, label in enumerate(result.state_labels()):
        say(f"{state}: {label}" if state in result.state_names else f"{state}: (no name)")


FIT_TABLES = ("group_dynamics.csv", "covariate_effects.csv")


def name_fit_tables(folder: Path, result) -> list[Path]:
    """Give the state tables the fit wrote (`FIT_TABLES`, before names existed) `state_name` columns."""
    import pandas as pd

    from ..io.files import atomic_write_text
    from ..metrics import with_state_names

    written = []
    for path in (folder / name for name in FIT_TABLES):
        if path.is_file():
            table = with_state_names(pd.read_csv(path), result.state_names, result.n_states)
            atomic_write_text(path, table.to_csv(index=False))
            written.append(path)
    return written


def merge_command(args) -> None:
    from ..fitting import load_fit, merge_states
    from ..io.fit_folders import is_complete_fit
    from ..viz import plot_state_dendrogram

    groups = parse_groups(args.states)
    result = load_fit(args.fit)
    merged = merge_states(result, groups)
    out = Path(args.out)
    if out.resolve() == Path(args.fit).resolve():
        raise InputError(f"{out}: --out must be another folder than the fit")
    if is_complete_fit(out) and not args.force:
        raise FileExistsError(f"{out}: already holds a fit; pass --force to replace it")
    out = prepare_output(out, True, "fit.json")
    merged.save(out, overwrite=True)
    if (Path(args.fit) / "syllables.npz").is_file():
        shutil.copy2(Path(args.fit) / "syllables.npz", out / "syllables.npz")
    figures = out / "figures"
    figures.mkdir(exist_ok=True)
    if hasattr(merged.model.emissions, "transition_tables") and merged.n_states > 1:
        save_figure(plot_state_dendrogram(merged), figures / "state_dendrogram.png")
    say(f"merged {', '.join('+'.join(map(str, g)) for g in groups)}: {result.n_states} -> {merged.n_states} states; "
        f"wrote {out}")  # fmt: skip
    for state, label in enumerate(merged.state_labels()):
        say(f"{state}: {label}")
