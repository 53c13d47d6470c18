"""A model's statistics and the parameter draw given them: the two halves of `HHMM.resample`.

Split so that the statistics (sums over sequences) can be computed in chunks or on device
shards and summed, and the draw made once from the sums (`chunked`, `sharding`).
"""

import jax.random as jr
from jaxtyping import PRNGKeyArray

from ..models import HHMM, ModeSearch, ModelInfo, SyllableData

__all__ = ["model_statistics", "resample_from_statistics"]


def model_statistics(model: HHMM, states, data: SyllableData) -> tuple:
    """`(emissions, transitions, initial)` statistics of `states` on `data`: each component's own PyTree."""
    return (
        model.emissions.statistics(states, data),
        model.transitions.statistics(states, data),
        model.initial.statistics(states, data),
    )


def resample_from_statistics(model: HHMM, key: PRNGKeyArray, statistics: tuple, mode_search: ModeSearch | None):
    """`HHMM.resample` given the statistics (summed over chunks): the same keys, the same draws.

    Returns:
        `(model, updates)` (a `ModelInfo`), equal to `model.resample(key, states, data, mode_search)`
        when `statistics == model_statistics(model, states, data)`.
    """
    k_emit, k_trans, k_init = jr.split(key, 3)
    emissions, emission_info = model.emissions.resample(k_emit, statistics[0], mode_search)
    transitions, transition_info = model.transitions.resample(k_trans, statistics[1])
    initial, initial_info = model.initial.resample(k_init, statistics[2])
    return HHMM(emissions, transitions, initial), ModelInfo(initial_info, transition_info, emission_info)
