"""Dataset views: top-k dataset examples with receptive-field crops and deconvnet projections,
occlusion maps, CNN-code maps."""
from deepscope.examples.collect import Collection, collect_top_examples
from deepscope.examples.dataset_examples import ExamplesReport, dataset_examples
from deepscope.examples.deconv import project_units, projection_image
from deepscope.examples.receptive_field import ReceptiveField, receptive_field
from deepscope.examples.topk import TopK

__all__ = [
           "Collection",
           "ExamplesReport",
           "ReceptiveField",
           "TopK",
           "collect_top_examples",
           "dataset_examples",
           "project_units",
           "projection_image",
           "receptive_field",
]
