"""Everything on disk: recordings (`recordings`, `batching`), group sheets (`groups`), model
files (`model_files`), fit folders (`fit_folders`) and atomic writes (`files`)."""

from .batching import batch as batch
from .batching import unbatch as unbatch
from .groups import load_groups as load_groups
from .model_files import load_model as load_model
from .model_files import save_model as save_model
from .recordings import Recordings as Recordings
from .recordings import load_recordings as load_recordings
