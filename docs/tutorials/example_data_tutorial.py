# The published State-MoSeq example-data tutorial, verbatim, with `state_moseq` renamed
# to `smoseq`. Run it in a folder that holds `example_data/` (make one with
# `smoseq example-data example_data`); the test suite runs exactly this file.
# The notebook's `%env XLA_PYTHON_CLIENT_PREALLOCATE=false` line is the next two lines.
import os
os.environ["XLA_PYTHON_CLIENT_PREALLOCATE"] = "false"

import os
import glob
import tqdm
import jax
import joblib
import numpy as np
import pandas as pd
import jax.numpy as jnp
import jax.random as jr
import smoseq as sm
import matplotlib.pyplot as plt

# 1. Load data
data_directory = "example_data"
fps = 120 # frame rate of the videos

df_paths = glob.glob(os.path.join(data_directory, "*.csv"))
pd.read_csv(df_paths[0]).head() # inspect an example dataframe

syllables_dict = {}
for path in tqdm.tqdm(df_paths):
    seq = pd.read_csv(path)["syllable"].to_numpy()
    syllables_dict[path] = seq

# 2. Examine timescales
num_lags = 40 # number of lags at which to compute MI
min_lag, max_lag = fps, fps * 300 # space lags between 1 and 300 seconds
lags = jnp.logspace(jnp.log10(min_lag), jnp.log10(max_lag), num_lags).astype(int)

# combine syllables into a single masked array
seqs, mask, metadata = sm.batch(syllables_dict)

# convert to jax arrays for GPU acceleration
seqs = jnp.array(seqs)
mask = jnp.array(mask)

# calculate lagged MIs (for real data, Markov chains, and shuffle baseline)
real_mis, markov_mis, shuff_mis = sm.lagged_mutual_information(seqs, mask, lags)

for mis, label, color in zip(
    [real_mis, markov_mis, shuff_mis], 
    ["real", "Markov", "shuffle"],
    ["red", "black", "gray"],
):
    mean = mis.mean(0)
    err = mis.std(0) / np.sqrt(len(mis)) * 2
    plt.plot(lags / fps, mean, c=color, label=label)
    plt.fill_between(lags / fps, mean - err, mean + err, facecolor=color, alpha=0.3)
    
plt.xscale("log")
plt.yscale("log")
plt.xlim([lags[0] / fps, lags[-1] / fps])
plt.xlabel("lag (seconds)")
plt.ylabel("mutual information")
plt.legend(loc="upper right")
plt.gcf().set_size_inches((4,3))

# 3. Fit sMoSeq
seg_length = max(map(len,syllables_dict.values()))
seqs, mask, metadata = sm.batch(syllables_dict, seg_length=seg_length)

if mask.mean() < 0.75:
    print("Batching is inefficient because your recordings span a wide variety of lengths. Try manually decreasing `seg_length` until `mask.mean()` is greater than 0.75")

n_syllables = np.max(np.hstack(list(syllables_dict.values()))) + 1

hypparams = {
    "n_states": 10,
    "emission_base_sigma": 1,
    "emission_biases_sigma": 1,
    "trans_beta": 1,
    "trans_kappa": 6e5,
    "n_syllables": n_syllables,
    "emission_gd_iters": 1000,
    "emission_gd_lr": 5e-3,
    "random_seed": 0,
}

from smoseq.hhmm_efficient import initialize_params, resample_states, resample_params, log_params_prob

data = {
    "syllables": jnp.array(seqs),
    "mask": jnp.array(mask)
}

seed = jr.PRNGKey(hypparams["random_seed"]) # change the random seed to explore other initializations
states = jr.randint(seed, data["syllables"].shape, 0, hypparams["n_states"])

parallel_fitting = False # set to False if using a CPU or if you run out of GPU memory
segment_to_save = 0 # one segment will be saved during each iteration for the purposes of visualization

log_probs = []
history = []

params = None
for _ in tqdm.trange(100, desc="Fitting model"):

    # Resample parameters and states
    seed, subseed = jr.split(seed)
    params,losses = resample_params(subseed, data, states, hypparams, params)
    states, marginal_loglik = resample_states(seed, data, params, parallel_fitting)

    # Save log probability and one segment of the current state sequence 
    log_probs.append(log_params_prob(params, hypparams).item() + marginal_loglik.item())
    history.append(np.array(states[segment_to_save][mask[segment_to_save]>0]))

    # Interrupt fitting if NaNs appear
    if np.isnan(log_probs[-1]):
        raise RuntimeError('NaNs during fitting. Try decreasing the learning rate (`hypparams["emission_gd_lr"]`)')

fig,axs = plt.subplots(1,2)
plot_from_iter = 500
axs[0].plot(np.arange(len(losses)), losses)
axs[0].set_title("All grad descent iters")
axs[1].plot(np.arange(plot_from_iter,len(losses)), losses[plot_from_iter:])
axs[1].set_title(f"Final {len(losses)-plot_from_iter} grad descent iters")
axs[0].set_ylabel("loss")
axs[0].set_xlabel("grad descent iter")
axs[1].set_xlabel("grad descent iter")
fig.set_size_inches((6,2.2)) 
plt.tight_layout()

fig,axs = plt.subplots(1,2)
plot_from_iter = 50
axs[0].plot(np.arange(len(log_probs)), log_probs)
axs[0].set_title("All Gibbs iters")
axs[1].plot(np.arange(plot_from_iter,len(log_probs)), log_probs[plot_from_iter:])
axs[1].set_title(f"Final {len(log_probs)-plot_from_iter} Gibbs iters")
axs[0].set_ylabel('log probability')
axs[0].set_xlabel('Gibbs iterations')
axs[1].set_xlabel('Gibbs iterations')
fig.set_size_inches((6,2)) 
plt.tight_layout()

start, end = 0, 600 * fps # defines the interval to be plotted

plt.imshow(
    np.array(history)[:,start : end], 
    cmap=plt.cm.jet, 
    aspect='auto', 
    interpolation='none', 
    extent=[start/fps, end/fps, len(history), 0]
)
plt.ylabel("Gibbs iterations")
plt.xlabel("seconds")
plt.gcf().set_size_inches((6,2.5))

states_dict = sm.unbatch(np.array(states), *metadata)

prefix = "example_data" # change as needed
joblib.dump(states_dict, f"{prefix}-state_sequences.p")

additional_info = {
    "params": jax.device_get(params), # convert to numpy arrays
    "hypparams": hypparams,
    "log_probs": log_probs,
}
joblib.dump(additional_info, f"{prefix}-additional_info.p")

durations = sm.get_durations(states_dict)

plt.hist(durations / fps, bins=40, range=(0, 180), density=True);
plt.title(f"Median duration = {round(np.median(durations / fps),2)} seconds", size=10)
plt.xlabel("state duration (seconds)")
plt.ylabel("frequency")
plt.gcf().set_size_inches((3,2))
plt.tight_layout()

state_counts = np.bincount(np.hstack(list(states_dict.values())))
state_proportions = state_counts / state_counts.sum()
plt.bar(np.arange(len(state_proportions)), state_proportions)
plt.xlabel("high-level states")
plt.ylabel("prop. of frames")
plt.gcf().set_size_inches((2.5,2))
plt.tight_layout()

# 4. Visualize high-level states
video_paths = {}
centroids = {}
for path in tqdm.tqdm(df_paths):
    centroids[path] = pd.read_csv(path)[["x","y"]].to_numpy()
    video_paths[path] = path.replace(".csv", ".mp4")

sm.generate_grid_movies(states_dict, video_paths, centroids);
