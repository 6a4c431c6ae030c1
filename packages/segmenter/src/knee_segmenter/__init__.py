"""nnU-Net v2 segmentation of 25 knee regions: dataset export, training, resumable prediction, Dice.

Label values are ``moaks_schema.REGIONS`` (label = index + 1, 0 background).
Importing this package is light; nnunetv2 and torch are imported by the
functions that need them.

>>> import knee_segmenter as ks
>>> ks.label_names()["HFP"]
25
"""

from knee_segmenter.devices import cpu_has_native_bf16, resolve_device
from knee_segmenter.dice import (
    DICE_COLUMNS,
    dice_barplot,
    dice_per_region,
    dice_summary,
    dice_table,
)
from knee_segmenter.errors import SegmenterError
from knee_segmenter.export import (
    CasePair,
    case_id_from_path,
    dataset_json,
    export_dataset,
    find_dataset_dir,
    label_names,
    left_right_axis,
    pairs_from_folder,
    pairs_from_manifest,
)
from knee_segmenter.folders import (
    NnunetFolders,
    configure_nnunet,
    nnunet_folders,
    trainer_search_path,
    use_folders,
)
from knee_segmenter.planning import EXPORT_RESAMPLINGS, PLANS_IDENTIFIER, plan_and_preprocess
from knee_segmenter.prediction import (
    SegmentationCase,
    check_aligned,
    is_valid_prediction,
    predict,
    segmentation_cases,
)
from knee_segmenter.pseudo_labels import pseudo_label_provider, pseudo_label_scans
from knee_segmenter.quality import PseudoLabelQuality, measure_pseudo_labels, pseudo_label_quality
from knee_segmenter.reproducibility import seeded, weights_digest
from knee_segmenter.training import (
    DEFAULT_DATASET_ID,
    TRAINING_RECORD,
    ModelDir,
    copy_model,
    latest_checkpoint,
    train,
    train_segmenter,
)
from knee_segmenter.training_options import (
    AUGMENTATIONS,
    LOSSES,
    MIRRORING_MODES,
    OPTIMIZERS,
    PRECISIONS,
    balanced_class_weights,
    mirror_axes_for,
)

__version__ = "0.1.0"
__all__: list[str] = [
    "AUGMENTATIONS",
    "DEFAULT_DATASET_ID",
    "DICE_COLUMNS",
    "EXPORT_RESAMPLINGS",
    "LOSSES",
    "MIRRORING_MODES",
    "OPTIMIZERS",
    "PLANS_IDENTIFIER",
    "PRECISIONS",
    "TRAINER_NAME",
    "TRAINING_RECORD",
    "CasePair",
    "ModelDir",
    "NnunetFolders",
    "PseudoLabelQuality",
    "SegmentationCase",
    "SegmenterError",
    "__version__",
    "balanced_class_weights",
    "case_id_from_path",
    "check_aligned",
    "configure_nnunet",
    "copy_model",
    "cpu_has_native_bf16",
    "dataset_json",
    "dice_barplot",
    "dice_per_region",
    "dice_summary",
    "dice_table",
    "export_dataset",
    "find_dataset_dir",
    "is_valid_prediction",
    "label_names",
    "latest_checkpoint",
    "left_right_axis",
    "measure_pseudo_labels",
    "mirror_axes_for",
    "nnunet_folders",
    "pairs_from_folder",
    "pairs_from_manifest",
    "plan_and_preprocess",
    "predict",
    "pseudo_label_provider",
    "pseudo_label_quality",
    "pseudo_label_scans",
    "resolve_device",
    "seeded",
    "segmentation_cases",
    "train",
    "train_segmenter",
    "trainer_search_path",
    "use_folders",
    "weights_digest",
]

#: Name of the package's nnU-Net trainer class (``knee_segmenter.trainer.KneeSegmenterTrainer``).
TRAINER_NAME = "KneeSegmenterTrainer"
