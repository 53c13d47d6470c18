"""Figures (matplotlib) and grid movies (PyAV) of fitted high-level states.

Every figure function takes plain arrays (NumPy or JAX) or dicts of them, returns a
`matplotlib.figure.Figure` built without pyplot (so it works under any backend, and is
never shown or kept alive by pyplot), and colours state `k` with `state_colors(K)[k]`.
Save with `figure.savefig("name.png")`. The one exception is `plot_sankey`, the published
interactive Sankey diagram, which returns a plotly figure.
"""

from ._behaviour import plot_bout_durations as plot_bout_durations
from ._behaviour import plot_occupancy as plot_occupancy
from ._behaviour import plot_state_speeds as plot_state_speeds
from ._colors import state_colormap as state_colormap
from ._colors import state_colors as state_colors
from ._comparison import plot_alluvial as plot_alluvial
from ._comparison import plot_confusion as plot_confusion
from ._decoding import plot_group_decoding as plot_group_decoding
from ._dendrogram import plot_state_dendrogram as plot_state_dendrogram
from ._covariate_effects import plot_covariate_effects as plot_covariate_effects
from ._group_dynamics import plot_group_dynamics as plot_group_dynamics
from ._groups import plot_group_metric as plot_group_metric
from ._groups import plot_group_transitions as plot_group_transitions
from ._model import plot_syllable_tables as plot_syllable_tables
from ._published_movies import crop_image as crop_image
from ._published_movies import grid_movie as grid_movie
from ._published_movies import write_video_clip as write_video_clip
from ._sankey import plot_sankey as plot_sankey
from ._scan import plot_scan as plot_scan
from ._timescales import plot_durations as plot_durations
from ._transition_graphs import graph_layout as graph_layout
from ._transition_graphs import plot_transition_graph as plot_transition_graph
from ._transition_graphs import plot_transition_graph_difference as plot_transition_graph_difference
from ._timescales import plot_lagged_mi as plot_lagged_mi
from ._training import plot_emission_losses as plot_emission_losses
from ._training import plot_log_probs as plot_log_probs
from ._training import plot_state_history as plot_state_history
from ._usage import plot_ethogram as plot_ethogram
from ._usage import plot_frequencies as plot_frequencies
from ._usage import plot_transition_matrix as plot_transition_matrix
from ._video import VideoIndex as VideoIndex
from ._video import VideoReader as VideoReader
from ._video import index_video as index_video
from .grid_movies import generate_grid_movies as generate_grid_movies
from .grid_movies import movie_file_name as movie_file_name
