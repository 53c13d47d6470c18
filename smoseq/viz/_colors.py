"""One colour per state, the same in every figure of a model."""

import matplotlib
import numpy as np
from matplotlib.colors import BoundaryNorm, ListedColormap

_TAB20_DARK_FIRST = [*range(0, 20, 2), *range(1, 20, 2)]


def state_colors(n_states: int) -> np.ndarray:
    """RGBA colours for states `0..n_states-1`, shape (n_states, 4), floats in [0, 1].

    Up to 10 states get `tab10`; up to 20 add `tab20`'s light shades (11..20); beyond that the
    colours are spread evenly over `turbo`. State `k` has the same colour for every
    `n_states` in the same range, so figures of one model agree.

    Args:
        n_states: K, the number of colours (≥ 0).

    Returns:
        (n_states, 4) float RGBA array.

    Raises:
        ValueError: `n_states` < 0.
    """
    if n_states < 0:
        raise ValueError(f"n_states must be >= 0, got {n_states}")
    if n_states <= 10:
        return matplotlib.colormaps["tab10"](np.arange(n_states))
    if n_states <= 20:
        return matplotlib.colormaps["tab20"](np.array(_TAB20_DARK_FIRST[:n_states]))
    return matplotlib.colormaps["turbo"](np.linspace(0.05, 0.95, n_states))


def state_colormap(n_states: int) -> tuple[ListedColormap, BoundaryNorm]:
    """A discrete colormap and norm that map the integer `k` to `state_colors(n_states)[k]`.

    Args:
        n_states: K (values below 1 are treated as 1).

    Returns:
        `(cmap, norm)`: a `ListedColormap` of K colours and a `BoundaryNorm` with bins
        centred on 0..K-1, to pass as `imshow(..., cmap=cmap, norm=norm)`.
    """
    n_states = max(n_states, 1)
    cmap = ListedColormap(state_colors(n_states), name=f"states{n_states}")
    return cmap, BoundaryNorm(np.arange(n_states + 1) - 0.5, n_states)
