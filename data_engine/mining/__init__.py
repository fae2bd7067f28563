"""Trigger mining: cheap per-frame features of a clip and plug-in triggers that flag frames worth a look."""
