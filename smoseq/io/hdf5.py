"""Dicts of PyTrees in HDF5 files, in the published package's layout (`save_hdf5` / `load_hdf5`).

Layout: every array, number or string is a dataset; every dict, list or tuple a group whose
`type` attribute names it, list and tuple items named `arr0`, `arr1`, …. Files written by
the published `state_moseq.save_hdf5` load here and the other way round. Unlike the
published loader, items of lists and tuples come back in their numeric order (the
published one reads `arr10` before `arr2`). Nothing is unpickled.
"""

from pathlib import Path

import jax
import numpy as np

from .._errors import ModelFileError

_CONTAINERS = {"dict": dict, "list": list, "tuple": tuple}


def save_hdf5(filepath, save_dict: dict, datapath: str | None = None, overwrite_results: bool = False) -> None:
    """Save a dict of PyTrees (leaves: arrays, numbers, strings) into an HDF5 file (appending).

    Args:
        filepath: the `.h5` file (created if missing; existing entries of the same name are replaced).
        save_dict: name -> PyTree of dicts, lists, tuples, arrays, numbers and strings.
        datapath: save the whole dict under this group path instead of at the root.
        overwrite_results: accepted for the published signature (entries are always replaced).

    Raises:
        TypeError: a leaf of another type (the message names its path).
    """
    import h5py

    with h5py.File(filepath, "a") as file:
        if datapath is not None:
            _save_tree(jax.device_get(save_dict), file, datapath)
        else:
            for name, tree in save_dict.items():
                _save_tree(jax.device_get(tree), file, name)


def _save_tree(tree, group, name: str) -> None:
    import h5py

    if name in group:
        del group[name]
    if isinstance(tree, np.ndarray) and tree.dtype.kind == "U":
        group.create_dataset(name, data=tree.astype(object), dtype=h5py.string_dtype())
    elif isinstance(tree, (np.ndarray, np.generic, bool, int, float, str)):
        group.create_dataset(name, data=tree)
    elif isinstance(tree, (dict, list, tuple)):
        subgroup = group.create_group(name)
        subgroup.attrs["type"] = type(tree).__name__
        items = tree.items() if isinstance(tree, dict) else ((f"arr{i}", item) for i, item in enumerate(tree))
        for key, subtree in items:
            _save_tree(subtree, subgroup, str(key))
    else:
        raise TypeError(f"cannot save {group.name}/{name}: a {type(tree).__name__} (use dicts, lists, tuples, arrays, numbers, strings)")


def load_hdf5(filepath, datapath: str | None = None) -> dict:
    """A dict of PyTrees from an HDF5 file written by `save_hdf5` (or the published one).

    Args:
        filepath: the `.h5` file.
        datapath: load only this group path (its PyTree is returned).

    Returns:
        name -> PyTree at the root, or the PyTree at `datapath`.

    Raises:
        ModelFileError: a missing file or path, or a group of an unknown type (the message names it).
    """
    import h5py

    if not Path(filepath).is_file():
        raise ModelFileError(f"{filepath}: missing")
    with h5py.File(filepath, "r") as file:
        if datapath is None:
            return {name: _load_tree(file[name], filepath) for name in file}
        if datapath not in file:
            raise ModelFileError(f"{filepath}: no {datapath!r} in the file")
        return _load_tree(file[datapath], filepath)


def _load_tree(node, filepath):
    import h5py

    if isinstance(node, h5py.Dataset):
        data = node[()]
        if isinstance(data, bytes):
            return data.decode("utf-8")
        if isinstance(data, np.ndarray) and h5py.check_string_dtype(node.dtype) is not None:
            return np.array([item.decode("utf-8") if isinstance(item, bytes) else item for item in data.ravel()]).reshape(data.shape)
        return data.item() if isinstance(data, np.generic) or np.ndim(data) == 0 else np.asarray(data)
    kind = node.attrs.get("type")
    kind = kind.decode() if isinstance(kind, bytes) else kind
    if kind not in _CONTAINERS:
        raise ModelFileError(f"{filepath}: {node.name} is a group of unknown type {kind!r}")
    if kind == "dict":
        return {key: _load_tree(child, filepath) for key, child in node.items()}
    items = sorted(node.items(), key=lambda item: int(item[0][3:]) if item[0][3:].isdigit() else -1)
    return _CONTAINERS[kind](_load_tree(child, filepath) for _, child in items)
