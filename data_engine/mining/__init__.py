"""Trigger mining: cheap per-frame features of a clip and plug-in triggers that flag frames worth a look.

Importing the package registers every built-in trigger: the image-level ones (`triggers`) and the model-level ones
(`model_triggers`, `hindsight_disagreement`)."""

from data_engine.mining import hindsight_disagreement, model_triggers, triggers

__all__ = ["hindsight_disagreement", "model_triggers", "triggers"]
