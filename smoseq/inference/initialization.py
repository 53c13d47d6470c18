"""Data-driven initial hidden states for the Gibbs sampler.

Random per-frame initial states (the published tutorial's start) give every state
nearly the same emission table, and the sampler then tends to merge states. Here
each sequence is cut into windows, each window is described by its syllable usage,
and the windows are clustered with k-means (k-means++ seeding) into K groups; every
frame of a window starts in its window's cluster. `fit` tries several window lengths
and keeps the start whose short Gibbs run reaches the highest log probability.
"""

import numpy as np


def window_usage(syllables: np.ndarray, mask: np.ndarray, n_syllables: int, window: int):
    """Syllable usage per window.

    Args:
        syllables: (N, T) int syllables.
        mask: (N, T) 1 for real frames.
        n_syllables: S.
        window: frames per window.

    Returns:
        `(usage, valid)`: usage (N, W, S) counts of real frames per window, with
        W = ceil(T / window); valid (N, W) True where the window has a real frame.
    """
    n_sequences, n_frames = syllables.shape
    n_windows = -(-n_frames // window)
    pad = n_windows * window - n_frames
    padded = np.pad(syllables, ((0, 0), (0, pad)))
    weights = np.pad(np.asarray(mask, dtype=float), ((0, 0), (0, pad)))
    window_index = np.arange(n_windows * window) // window
    flat = (np.arange(n_sequences)[:, None] * n_windows + window_index[None]) * n_syllables + padded
    usage = np.bincount(flat.ravel(), weights.ravel(), minlength=n_sequences * n_windows * n_syllables)
    usage = usage.reshape(n_sequences, n_windows, n_syllables)
    return usage, usage.sum(-1) > 0


def kmeans_window_states(
    syllables: np.ndarray, mask: np.ndarray, n_states: int, n_syllables: int, window: int, seed: int
) -> np.ndarray:
    """Initial states (N, T) from k-means on the Hellinger-transformed usage of each window."""
    usage, valid = window_usage(syllables, mask, n_syllables, window)
    frequencies = usage / np.maximum(usage.sum(-1, keepdims=True), 1.0)
    features = np.sqrt(frequencies[valid])
    rng = np.random.default_rng(seed)
    best_labels, best_inertia = None, np.inf
    for _ in range(4):
        labels, inertia = kmeans(features, n_states, rng)
        if inertia < best_inertia:
            best_labels, best_inertia = labels, inertia
    window_states = np.zeros(valid.shape, dtype=np.int32)
    window_states[valid] = best_labels
    states = np.repeat(window_states, window, axis=1)[:, : syllables.shape[1]]
    return states.astype(np.int32)


def kmeans_plus_plus(features: np.ndarray, n_clusters: int, rng: np.random.Generator) -> np.ndarray:
    """k-means++ seeding; when every point already has a centre at distance 0, centres repeat points at random."""
    centres = [features[rng.integers(len(features))]]
    distances = ((features - centres[0]) ** 2).sum(1)
    for _ in range(1, n_clusters):
        total = distances.sum()
        index = rng.choice(len(features), p=distances / total) if total > 0 else rng.integers(len(features))
        centres.append(features[index])
        distances = np.minimum(distances, ((features - features[index]) ** 2).sum(1))
    return np.stack(centres)


def kmeans(features: np.ndarray, n_clusters: int, rng: np.random.Generator, n_iter: int = 30):
    """Lloyd's k-means from a k-means++ start: `(labels (M,), inertia)`."""
    centres = kmeans_plus_plus(features, n_clusters, rng)
    labels = np.zeros(len(features), dtype=np.int64)
    for _ in range(n_iter):
        new_labels = (-2.0 * features @ centres.T + (centres**2).sum(1)).argmin(1)
        if _ > 0 and np.array_equal(new_labels, labels):
            break
        labels = new_labels
        for k in range(n_clusters):
            members = features[labels == k]
            if len(members):
                centres[k] = members.mean(0)
    inertia = float(((features - centres[labels]) ** 2).sum())
    return labels.astype(np.int32), inertia


def candidate_windows(n_valid_frames: int, n_syllables: int, n_states: int) -> list[int]:
    """Window lengths to try: a few syllables-per-window scales, each leaving ≥ 2·K windows."""
    windows = []
    for per_syllable in (2, 8, 32):
        window = max(per_syllable * n_syllables, 10)
        if n_valid_frames // window >= 2 * n_states and window not in windows:
            windows.append(window)
    if not windows:
        windows.append(max(n_valid_frames // (4 * n_states), 1))
    return windows
