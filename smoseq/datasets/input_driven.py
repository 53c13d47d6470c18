"""Simulated recordings whose state durations (and destinations) depend on a binary per-frame input."""

from dataclasses import dataclass

import numpy as np


@dataclass
class InputDrivenExample:
    """Simulated syllables, inputs and the true hidden states.

    Attributes:
        syllables: recording name -> (T,) int syllables.
        inputs: recording name -> {"light": (T,) float 0/1}, the per-frame input.
        states: recording name -> (T,) int true hidden states.
        leave: (K,) probability of leaving each state per frame with the input off (1 / mean duration).
        rate_ratio: (K,) the factor on that rate with the input on (1: no effect).
        destinations: (2, K, K) where each state goes once it leaves, input off and on.
    """

    syllables: dict
    inputs: dict
    states: dict
    leave: np.ndarray
    rate_ratio: np.ndarray
    destinations: np.ndarray


def simulate_input_driven(
    n_recordings: int = 4, n_frames: int = 3000, n_states: int = 3, n_syllables: int = 8, leave: float = 0.02,
    affected_state: int = 0, rate_ratio: float = 2.0, block: int = 250, seed: int = 0, duration_shape: float | None = None,
    syllable_frames: float = 1.0, destination_shift: float = 0.0, state_bias: float | None = None,
) -> InputDrivenExample:  # fmt: skip
    """Recordings where a binary input multiplies one state's leaving rate (and optionally shifts where it goes).

    The input switches on and off in blocks of `block` frames (random phase per
    recording). Durations: with `duration_shape=None`, state i is left with probability
    `leave` per frame (geometric durations), times `rate_ratio` for `affected_state` while
    the input is on. With a shape, bouts are semi-Markov: each bout draws a Gamma(shape,
    mean 1/leave) length in "clock" frames, and the affected state's clock runs
    `rate_ratio` times faster while the input is on (its exits per frame multiply by
    `rate_ratio`, its hazard at every bout age too). Once a state is left the next is
    drawn uniformly among the others; with `destination_shift` = s > 0 and K ≥ 3, the
    affected state instead goes to the next state (i + 1 mod K) with probability
    (1 + s)/(K − 1) while the input is on (the others share the rest). Each state emits
    syllables by its own first-order syllable chain (rows from Dirichlet(0.1), no
    self-transitions; with `state_bias` = s, one shared Dirichlet(0.5) chain whose log-rows
    every state shifts by its own N(0, s²) preference per syllable, the structure low-rank
    emissions express); every syllable lasts 1 + Poisson(`syllable_frames` − 1) frames.

    Args:
        n_recordings, n_frames: R recordings of T frames.
        n_states, n_syllables: K hidden states, S syllables.
        leave: baseline leaving rate per frame (mean duration 1/leave frames).
        affected_state: the state whose leaving rate the input multiplies.
        rate_ratio: the factor (1.0: no effect on durations).
        block: frames per on/off block of the input.
        seed: numpy seed.
        duration_shape: None (geometric durations) or the Gamma shape of semi-Markov bouts.
        syllable_frames: mean frames per syllable (1: a new syllable every frame).
        destination_shift: s ≥ 0, the input's effect on where the affected state goes.
        state_bias: None (independent tables per state) or the SD of the states' syllable preferences.

    Returns:
        An `InputDrivenExample`.
    """
    rng = np.random.default_rng(seed)
    tables = rng.dirichlet(np.full(n_syllables - 1, 0.1), size=(n_states, n_syllables))
    if state_bias is not None:
        shared = np.log(rng.dirichlet(np.full(n_syllables - 1, 0.5), size=n_syllables))
        preference = rng.normal(0.0, state_bias, (n_states, n_syllables))
        others = np.array([np.delete(np.arange(n_syllables), s) for s in range(n_syllables)])  # (S, S-1)
        logits = shared[None] + preference[:, others]
        tables = np.exp(logits - logits.max(-1, keepdims=True))
        tables /= tables.sum(-1, keepdims=True)
    off_diagonal = ~np.eye(n_syllables, dtype=bool)
    ratio = np.ones(n_states)
    ratio[affected_state] = rate_ratio
    destinations = np.repeat(((1 - np.eye(n_states)) / (n_states - 1))[None], 2, axis=0)
    if destination_shift and n_states > 2:
        target = (affected_state + 1) % n_states
        row = np.full(n_states, (1 - (1 + destination_shift) / (n_states - 1)) / (n_states - 2))
        row[affected_state], row[target] = 0.0, (1 + destination_shift) / (n_states - 1)
        destinations[1, affected_state] = row
    example = InputDrivenExample({}, {}, {}, np.full(n_states, leave), ratio, destinations)
    for r in range(n_recordings):
        light = (((np.arange(n_frames) + rng.integers(block * 2)) // block) % 2).astype(float)
        states, syllables = _simulate_recording(rng, light, tables, off_diagonal, leave, ratio, destinations,
                                                duration_shape, syllable_frames)  # fmt: skip
        name = f"rec{r}"
        example.syllables[name], example.inputs[name], example.states[name] = syllables, {"light": light}, states
    return example


def _simulate_recording(rng, light, tables, off_diagonal, leave, ratio, destinations, shape, syllable_frames):
    """(T,) states and syllables of one recording (see `simulate_input_driven`)."""
    n_frames, (n_states, n_syllables) = len(light), tables.shape[:2]
    states, syllables = np.zeros(n_frames, int), np.zeros(n_frames, int)
    states[0], syllables[0] = rng.integers(n_states), rng.integers(n_syllables)

    def bout_length():
        return np.inf if shape is None else rng.gamma(shape, 1 / (leave * shape))

    clock, length, remaining = 0.0, bout_length(), rng.poisson(syllable_frames - 1)
    for t in range(1, n_frames):
        previous, on = states[t - 1], int(light[t])
        speed = ratio[previous] if on else 1.0
        if shape is None:
            leaves = rng.random() < leave * speed
        else:
            clock += speed
            leaves = clock >= length
        states[t] = rng.choice(n_states, p=destinations[on, previous]) if leaves else previous
        if leaves:
            clock, length = 0.0, bout_length()
        if remaining > 0:
            syllables[t], remaining = syllables[t - 1], remaining - 1
            continue
        row = np.zeros(n_syllables)
        row[off_diagonal[syllables[t - 1]]] = tables[states[t], syllables[t - 1]]
        syllables[t], remaining = rng.choice(n_syllables, p=row), rng.poisson(syllable_frames - 1)
    return states, syllables
