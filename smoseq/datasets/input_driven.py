"""Simulated recordings whose state durations depend on a binary per-frame input (for input-driven fits)."""

from dataclasses import dataclass

import numpy as np


@dataclass
class InputDrivenExample:
    """Simulated syllables, inputs and the true hidden states.

    Attributes:
        syllables: recording name -> (T,) int syllables.
        inputs: recording name -> {"light": (T,) float 0/1}, the per-frame input.
        states: recording name -> (T,) int true hidden states.
        leave: (K,) probability of leaving each state per frame with the input off.
        rate_ratio: (K,) the factor on that probability with the input on (1: no effect).
    """

    syllables: dict
    inputs: dict
    states: dict
    leave: np.ndarray
    rate_ratio: np.ndarray


def simulate_input_driven(
    n_recordings: int = 4, n_frames: int = 3000, n_states: int = 3, n_syllables: int = 8, leave: float = 0.02,
    affected_state: int = 0, rate_ratio: float = 2.0, block: int = 250, seed: int = 0,
) -> InputDrivenExample:  # fmt: skip
    """Recordings where a binary input multiplies one state's leaving rate and does nothing else.

    The input switches on and off in blocks of `block` frames (random phase per
    recording). From state i the chain leaves with probability `leave` (times
    `rate_ratio` for `affected_state` while the input is on), to another state chosen
    uniformly. Each state emits syllables by its own first-order syllable chain (rows drawn
    from Dirichlet(0.1), no self-transitions).

    Args:
        n_recordings, n_frames: R recordings of T frames.
        n_states, n_syllables: K hidden states, S syllables.
        leave: baseline leaving probability per frame (expected duration 1/leave).
        affected_state: the state whose leaving rate the input multiplies.
        rate_ratio: the factor (1.0: null inputs).
        block: frames per on/off block of the input.
        seed: numpy seed.

    Returns:
        An `InputDrivenExample`.
    """
    rng = np.random.default_rng(seed)
    tables = rng.dirichlet(np.full(n_syllables - 1, 0.1), size=(n_states, n_syllables))
    off_diagonal = ~np.eye(n_syllables, dtype=bool)
    ratio = np.ones(n_states)
    ratio[affected_state] = rate_ratio
    example = InputDrivenExample({}, {}, {}, np.full(n_states, leave), ratio)
    for r in range(n_recordings):
        light = (((np.arange(n_frames) + rng.integers(block * 2)) // block) % 2).astype(float)
        states, syllables = np.zeros(n_frames, int), np.zeros(n_frames, int)
        states[0], syllables[0] = rng.integers(n_states), rng.integers(n_syllables)
        for t in range(1, n_frames):
            previous = states[t - 1]
            p = leave * (ratio[previous] if light[t] else 1.0)
            states[t] = rng.choice(np.delete(np.arange(n_states), previous)) if rng.random() < p else previous
            row = np.zeros(n_syllables)
            row[off_diagonal[syllables[t - 1]]] = tables[states[t], syllables[t - 1]]
            syllables[t] = rng.choice(n_syllables, p=row)
        name = f"rec{r}"
        example.syllables[name], example.inputs[name], example.states[name] = syllables, {"light": light}, states
    return example
