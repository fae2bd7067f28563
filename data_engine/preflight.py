"""Configuration checks that run before a command does any work, and write nothing when they fail.

Settings check each value on its own when they load; these checks look at the world the values point to: the
store and the inbox are folders (or URLs this install can open), the catalog's SQLite folder exists unless it is
the home's own, and Label Studio has its token. Each failure is one `SettingsError` line naming the variable.
`Runtime` runs them before it opens the catalog or the store, so a bad configuration stops a command before its
first write (a catalog.db created, a clip selected).
"""

import re
from pathlib import Path

from data_engine.settings import PREFIX, Settings, SettingsError


def check_settings(settings: Settings) -> None:
    """Raise a `SettingsError` naming the variable for the first setting that cannot work."""
    _check_folder_or_url(f"{PREFIX}STORE", settings.store, "the store")
    _check_folder_or_url(f"{PREFIX}INBOX", settings.inbox, "the inbox")
    _check_catalog_folder(settings)
    _check_label_studio(settings)


def _check_folder_or_url(variable: str, value: str, what: str) -> None:
    protocol, _, rest = value.partition("://")
    if rest and protocol not in ("file", "local"):
        import fsspec

        try:
            fsspec.get_filesystem_class(protocol)
        except ImportError as error:
            raise SettingsError(f"{variable}={value}: {what} needs a package this install lacks ({error})") from None
        except ValueError as error:
            raise SettingsError(f"{variable}={value}: {what} is not a folder nor a known URL ({error})") from None
        return
    path = Path(rest if rest else value).expanduser()
    existing = path
    while not existing.exists() and existing.parent != existing:
        existing = existing.parent
    if existing.exists() and not existing.is_dir():
        raise SettingsError(
            f"cannot use {what} {variable}={value}: {existing} is a file, not a folder; point it at a folder"
        )


_SQLITE = re.compile(r"sqlite(\+\w+)?:///(?P<database>[^?]*)")


def _check_catalog_folder(settings: Settings) -> None:
    """A SQLite catalog's folder must exist: the engine creates only the home (and folders under it)."""
    match = _SQLITE.fullmatch(settings.catalog_url.split("?", 1)[0])
    if match is None or match["database"] in ("", ":memory:"):
        return
    folder = Path(match["database"]).expanduser().absolute().parent
    if folder.is_dir():
        return
    home = settings.home.expanduser().absolute()
    if folder == home or home in folder.parents:
        return
    if folder.exists():
        raise SettingsError(f"{PREFIX}CATALOG_URL={settings.catalog_url}: {folder} is a file, not a folder")
    raise SettingsError(
        f"{PREFIX}CATALOG_URL={settings.catalog_url}: the folder {folder} does not exist; create it or point the "
        "URL at an existing folder"
    )


def _check_label_studio(settings: Settings) -> None:
    if settings.annotation_backend == "labelstudio" and not settings.label_studio_url:
        raise SettingsError(
            f"{PREFIX}ANNOTATION_BACKEND=labelstudio needs {PREFIX}LABEL_STUDIO_URL (and "
            f"{PREFIX}LABEL_STUDIO_TOKEN), the Label Studio server to push to"
        )
    if settings.annotation_backend == "bundle" or not settings.label_studio_url:
        return
    if not settings.label_studio_token:
        raise SettingsError(
            f"{PREFIX}LABEL_STUDIO_URL is set but {PREFIX}LABEL_STUDIO_TOKEN is not: set the API token (Label "
            f"Studio: Account & Settings > Access Token), or unset {PREFIX}LABEL_STUDIO_URL to push bundles"
        )
