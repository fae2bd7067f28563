"""Annotation backends by name: the settings say which one pushes (DATA_ENGINE_ANNOTATION_BACKEND, by default
Label Studio when DATA_ENGINE_LABEL_STUDIO_URL is set and bundles otherwise), and a run record names the one that
reads it back."""

from data_engine.annotation.base import AnnotationBackend, AnnotationError
from data_engine.annotation.bundle import BundleBackend
from data_engine.annotation.labelstudio import LabelStudioBackend
from data_engine.settings import Settings
from data_engine.store import Store

BACKENDS: dict[str, type[AnnotationBackend]] = {
    backend.name: backend for backend in (BundleBackend, LabelStudioBackend)
}


def backend_name(settings: Settings, requested: str | None = None) -> str:
    """The backend asked for, else the configured one, else Label Studio when its URL is set, else bundles."""
    name = (
        requested
        or settings.annotation_backend
        or (LabelStudioBackend.name if settings.label_studio_url else BundleBackend.name)
    )
    if name not in BACKENDS:
        raise AnnotationError(f"unknown annotation backend {name!r}; use one of {', '.join(sorted(BACKENDS))}")
    return name


def backend_for(settings: Settings, store: Store, name: str | None = None) -> AnnotationBackend:
    """The backend called `name` (default: `backend_name(settings)`), configured from the settings."""
    return BACKENDS[backend_name(settings, name)].from_settings(settings, store)


def answers_hint(settings: Settings) -> str:
    """How the answers to a push come back with the configured backend, for the commands' "next:" hints."""
    if backend_name(settings) == LabelStudioBackend.name:
        return "annotate the pushed tasks in Label Studio, then `data-engine pull` brings the answers back"
    return "annotate the pushed tasks (bundles come back with `data-engine import-annotations PATH`)"
