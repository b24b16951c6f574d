"""Rendering the operator's Jinja2 templates (newsletter, index page): the only module that
imports Jinja2. A missing or broken template is an OutputError naming the file and line."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import jinja2

from .config import DEFAULT_TEMPLATES
from .errors import OutputError


class Templates:
    """One folder of templates, loaded once and rendered many times. A template the folder
    lacks comes from the packaged defaults: a folder made by an older `feeder init` keeps
    working when a release adds a template (a page, a mail)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folders = [folder] if folder == DEFAULT_TEMPLATES else [folder, DEFAULT_TEMPLATES]
        self._env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(folders),
            # Only the HTML templates escape; the text ones are mailed as written.
            autoescape=jinja2.select_autoescape(["html.j2"], default_for_string=False),
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
        )

    def render(self, name: str, context: Mapping[str, object], *, what: str) -> str:
        """Template `name` filled in with `context`; `what` names it in errors ("newsletter")."""
        folder = self.folder
        try:
            return self._env.get_template(name).render(context)
        except jinja2.TemplateNotFound as exc:
            raise OutputError(
                f"{folder / str(exc.name or name)}: {what} template not found "
                "(set newsletter.templates to the folder that holds it)"
            ) from None
        except jinja2.TemplateSyntaxError as exc:
            where = f"{exc.filename or folder / name}, line {exc.lineno}"
            raise OutputError(f"{where}: {exc.message}") from None
        except jinja2.TemplateError as exc:
            # A runtime error (an undefined name, a bad filter): name the line that raised it.
            raise OutputError(f"{_template_line(exc) or folder / name}: {exc}") from None


def _template_line(exc: BaseException) -> str | None:
    tb, where = exc.__traceback__, None
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if filename.endswith(".j2"):
            where = f"{filename}, line {tb.tb_lineno}"
        tb = tb.tb_next
    return where
