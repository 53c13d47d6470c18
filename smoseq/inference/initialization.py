"""Data-driven initial hidden states for the Gibbs sampler.

Random per-frame initial states (the published tutorial's start) give every state
nearly the same emission table, and the sampler then tends to merge states. Here
each sequence is cut into windows, each window is described by its syllable usage,
and the windows are clustered with k-means (k-means++ seeding) into K groups; every
frame of a window starts in its window's cluster. `fit` tries several window lengths
and keeps the start whose short Gibbs run reaches the highest log probability.

Usage is computed a block of sequences at a time (about `BLOCK_FRAMES` frames), so the
temporaries do not grow with the dataset. Up to `MAX_KMEANS_WINDOWS` windows, k-means
runs on all of them; beyond, on that many windows drawn without replacement (a fixed
function of the seed and the window length), and every window then starts in the cluster
of its nearest centre.
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


BLOCK_FRAMES = 2_000_000
MAX_KMEANS_WINDOWS = 200_000


def _row_blocks(n_sequences: int, n_frames: int) -> list[slice]:
    size = max(1, BLOCK_FRAMES // max(n_frames, 1))
    return [slice(start, min(start + size, n_sequences)) for start in range(0, n_sequences, size)]


def _features(syllables, mask, n_syllables: int, window: int, rows: slice):
    """(M, S) Hellinger features of the valid windows of sequences `rows`, and their (n, W) validity."""
    usage, valid = window_usage(syllables[rows], mask[rows], n_syllables, window)
    frequencies = usage / np.maximum(usage.sum(-1, keepdims=True), 1.0)
    return np.sqrt(frequencies[valid]), valid


def _valid_windows(mask, window: int, rows: slice) -> int:
    """How many windows of sequences `rows` hold a real frame."""
    return int(_valid_mask(mask, window, rows).sum())


def kmeans_window_states(
    syllables: np.ndarray, mask: np.ndarray, n_states: int, n_syllables: int, window: int, seed: int,
    dtype=np.int32, max_windows: int = MAX_KMEANS_WINDOWS,
) -> np.ndarray:  # fmt: skip
    """Initial states (N, T) from k-means on the Hellinger-transformed usage of each window.

    Args:
        syllables, mask: (N, T) syllables and real-frame mask (any integer / numeric dtypes).
        n_states, n_syllables: K and S.
        window: frames per window.
        seed: seed of the k-means++ starts and of the subsample.
        dtype: the states' dtype (it must hold K − 1).
        max_windows: k-means runs on at most this many windows (module docstring).

    Returns:
        (N, T) states in `dtype`.
    """
    n_sequences, n_frames = syllables.shape
    blocks = _row_blocks(n_sequences, n_frames)
    n_valid = sum(_valid_windows(mask, window, rows) for rows in blocks)
    chosen = None
    if n_valid > max_windows:
        chosen = np.sort(np.random.default_rng([seed, window]).choice(n_valid, max_windows, replace=False))
    features, offset = [], 0
    for rows in blocks:
        block, _ = _features(syllables, mask, n_syllables, window, rows)
        if chosen is not None:
            picked = chosen[(chosen >= offset) & (chosen < offset + len(block))] - offset
            block = block[picked]
        offset += len(block) if chosen is None else int(_valid_windows(mask, window, rows))
        features.append(block)
    features = np.concatenate(features)
    rng = np.random.default_rng(seed)
    best, best_inertia = None, np.inf
    for _ in range(4):
        labels, inertia, centres = _kmeans(features, n_states, rng)
        if inertia < best_inertia:
            best, best_inertia = (labels, centres), inertia
    del features
    states, position = np.empty((n_sequences, n_frames), dtype), 0
    for rows in blocks:
        if chosen is None:
            block_valid = _valid_mask(mask, window, rows)
            labels = best[0][position : position + int(block_valid.sum())]
            position += len(labels)
        else:
            block, block_valid = _features(syllables, mask, n_syllables, window, rows)
            labels = (-2.0 * block @ best[1].T + (best[1] ** 2).sum(1)).argmin(1)
        window_states = np.zeros(block_valid.shape, dtype=dtype)
        window_states[block_valid] = labels
        states[rows] = np.repeat(window_states, window, axis=1)[:, :n_frames]
    return states


def _valid_mask(mask, window: int, rows: slice) -> np.ndarray:
    """(n, W) True where a window of sequences `rows` holds a real frame (`window_usage`'s `valid`)."""
    block = np.asarray(mask[rows]) > 0
    pad = -block.shape[1] % window
    return np.pad(block, ((0, 0), (0, pad))).reshape(block.shape[0], -1, window).any(-1)


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
    labels, inertia, _ = _kmeans(features, n_clusters, rng, n_iter)
    return labels, inertia


def _kmeans(features: np.ndarray, n_clusters: int, rng: np.random.Generator, n_iter: int = 30):
    """`kmeans`, also returning the (n_clusters, S) centres."""
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
    return labels.astype(np.int32), inertia, centres


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
