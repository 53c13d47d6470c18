"""The generated example dataset: syllables, centroid tracks and videos with known behaviours."""

from .example import BEHAVIOURS as BEHAVIOURS
from .example import GROUND_TRUTH_FILE as GROUND_TRUTH_FILE
from .example import SMALL as SMALL
from .example import ExampleDataset as ExampleDataset
from .example import GroupEffect as GroupEffect
from .example import load_ground_truth as load_ground_truth
from .example import make_example as make_example
from .input_driven import InputDrivenExample as InputDrivenExample
from .input_driven import simulate_input_driven as simulate_input_driven
