"""A check of what was made: a transformers image classifier over a few frames of every new clip.

`safety_model` names a local folder or Hub id of an image-classification model (for example
`Falconsai/nsfw_image_detection`); `safety_labels` the labels that flag a clip and
`safety_threshold` the score at which they do. The worst of `SAMPLES` evenly spaced frames
counts. The classifier loads once per process, on the CPU (it is small; the GPU stays the video
model's), and only when a clip is made — a cached build never imports transformers. The verdict
goes into the clip's record and its Content Credentials; a flagged clip is held for review.
`save_tiny_classifier` writes a random-weight ViT classifier offline, loaded through the same
`from_pretrained` path, so tests can make the verdict certain with a threshold of 0 or above 1.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mkdocs_wan.errors import ModelLoadError

SAMPLES = 4  # frames per clip: first, last and two between
TINY_LABELS = {0: "normal", 1: "nsfw"}

_resident: dict[tuple[str, str | None], tuple[Any, Any]] = {}
_lock = threading.Lock()


class SafetyCheck:
    """Scores a clip's sampled frames; `__call__(clip, frames)` -> the verdict recorded with it."""

    def __init__(
        self, location: str, name: str, labels: Sequence[str], threshold: float, revision: str | None = None
    ) -> None:
        self.location, self.name, self.revision = location, name, revision
        self.labels, self.threshold = tuple(labels), threshold

    def load(self) -> tuple[Any, Any]:
        """The resident (processor, model), loaded on first use; the labels checked against the model's."""
        with _lock:
            held = _resident.get((self.location, self.revision))
            if held is None:
                held = _resident[(self.location, self.revision)] = self._load()
        model_labels = set(held[1].config.id2label.values())
        unknown = [label for label in self.labels if label not in model_labels]
        if unknown:
            raise ModelLoadError(
                f"safety_labels names {', '.join(map(repr, unknown))}, which safety_model {self.name} does not have "
                f"(its labels: {', '.join(sorted(map(str, model_labels)))})"
            )
        return held

    def _load(self) -> tuple[Any, Any]:
        try:
            from transformers import AutoImageProcessor, AutoModelForImageClassification
            from transformers.utils import logging as transformers_logging
        except ImportError as err:
            raise ModelLoadError(f"cannot load safety_model {self.name}: {err}") from None
        import warnings

        transformers_logging.disable_progress_bar()
        level = transformers_logging.get_verbosity()
        transformers_logging.set_verbosity_error()  # e.g. "falling back to the PIL processor": not the user's concern
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                processor = AutoImageProcessor.from_pretrained(self.location, revision=self.revision)
                model = AutoModelForImageClassification.from_pretrained(self.location, revision=self.revision)
        except (OSError, ValueError, KeyError) as err:
            cause = " ".join(str(err).split())[:300] or type(err).__name__
            raise ModelLoadError(
                f"cannot load safety_model {self.name}: {cause}; give a local folder or Hub id of a transformers "
                "image-classification model (downloaded once, e.g. `hf download Falconsai/nsfw_image_detection`)"
            ) from None
        finally:
            transformers_logging.set_verbosity(level)
        return processor, model.eval()

    def __call__(self, clip: Path, frames: int) -> dict[str, Any]:
        """The verdict on the clip at `clip` (of `frames` frames): the model, each label's highest
        score over the sampled frames, the threshold, and the labels that flag it."""
        import torch

        processor, model = self.load()
        pictures = sample_frames(clip, frames)
        with torch.inference_mode():
            logits = model(**processor(images=pictures, return_tensors="pt")).logits.float()
        multi = getattr(model.config, "problem_type", None) == "multi_label_classification"
        scores = (logits.sigmoid() if multi else logits.softmax(-1)).max(dim=0).values
        by_label = {str(model.config.id2label[i]): round(float(score), 4) for i, score in enumerate(scores)}
        flagged = sorted(label for label in self.labels if by_label.get(label, 0.0) >= self.threshold)
        return {"model": self.name, "scores": by_label, "threshold": self.threshold, "flagged": flagged}


def sample_frames(clip: Path, frames: int, samples: int = SAMPLES) -> list[Any]:
    """`samples` evenly spaced frames of the clip (first and last included), decoded as a stream."""
    from mkdocs_wan.media.encode import read_frames

    wanted = {round(i * (frames - 1) / max(samples - 1, 1)) for i in range(samples)} if frames > 1 else {0}
    picked = [frame.copy() for index, frame in enumerate(read_frames(clip)) if index in wanted]
    if not picked:
        raise ModelLoadError(f"cannot check {clip.name}: it has no frames")
    return picked


def save_tiny_classifier(folder: Path) -> Path:
    """A tiny random-weight ViT image classifier (labels normal, nsfw), as `save_pretrained` writes it."""
    import torch
    import transformers
    from transformers import ViTConfig, ViTForImageClassification
    from transformers.utils import logging as transformers_logging

    # Without torchvision `ViTImageProcessor` is this class anyway, with a warning; the saved config is the same.
    processor = getattr(transformers, "ViTImageProcessorPil", None) or transformers.ViTImageProcessor

    transformers_logging.disable_progress_bar()

    config = ViTConfig(
        image_size=32,
        patch_size=16,
        num_channels=3,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        id2label=TINY_LABELS,
        label2id={label: index for index, label in TINY_LABELS.items()},
    )
    torch.manual_seed(0)
    ViTForImageClassification(config).save_pretrained(folder)
    processor(size={"height": 32, "width": 32}).save_pretrained(folder)
    return folder
