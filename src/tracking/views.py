"""Saved Aim views ("bookmarks"): a Params explorer state that opens with chosen axes, query
and colour grouping, e.g. the pooling comparison (``python -m src.aim_view``).

Aim 3.29 stores a bookmark as an explore state (``explore_states``: type ``params`` and the
state as JSON) plus a dashboard row naming it (``dashboards``), in the web database
``<repo>/.aim/aim_db``. The UI merges a bookmark's state over its default config, so a partial
state is enough; the select options are written in the form the Params select form produces
(``getSelectOptions`` in Aim's UI: a metric's ``key`` is the aim64-encoded name and context).
A view is saved either through a running UI's REST API (``http://host:port``) or straight into
the database of a repo folder, after the same schema migration ``aim up`` runs first.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from src.errors import TextlabError

APP_TYPE = "params"
#: the UI's first palette (``config/colors/colors.ts``): the colours of the select chips
PALETTE = ("#3E72E7", "#18AB6D", "#7A4CE0", "#E149A0", "#E43D3D", "#E8853D", "#0394B4", "#729B1B")
#: grouping fields the UI names ``run.<x>`` but reads from the run's props, not its params
RUN_PROPS = {
    "run.experiment": "run.props.experiment.name",
    "run.name": "run.props.name",
    "run.description": "run.props.description",
    "run.creation_time": "run.props.creation_time",
    "run.end_time": "run.props.end_time",
    "run.active": "run.props.active",
}
#: pixels of the pinned run-name column
RUN_NAME_WIDTH = 240
#: what JavaScript's encodeURI leaves as it is, besides letters, digits and ``_.-~``
ENCODE_URI_SAFE = ";,/?:@&=+$!*'()#"


@dataclass(frozen=True)
class SavedView:
    """Where a saved view opens: ``<ui>/params/<app_id>``, or Bookmarks -> ``name``."""

    name: str
    app_id: str
    dashboard_id: str

    @property
    def path(self) -> str:
        return f"/{APP_TYPE}/{self.app_id}"


# -- the state ------------------------------------------------------------------------------
def _format_value(value: Any) -> str:
    """Aim UI's ``formatValue`` for a context value (strings quoted, Python-style literals)."""
    if isinstance(value, bool):
        return "True" if value else "False"
    if value is None:
        return "None"
    if isinstance(value, int | float):
        return json.dumps(round(float(value), 8)).removesuffix(".0")
    return json.dumps(value, ensure_ascii=False)


def metric_label(name: str, context: Mapping[str, Any]) -> str:
    """``auc_macro checkpoint="best", subset="test"``: how the UI labels a metric option."""
    if not context:
        return name
    return name + " " + ", ".join(f"{k}={_format_value(v)}" for k, v in context.items())


def aim64encode(value: Mapping[str, Any]) -> str:
    """The UI's ``aim64encode``: ``O-`` + URL-safe base64 of ``encodeURI(JSON.stringify(v))``."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    encoded = base64.b64encode(urllib.parse.quote(text, safe=ENCODE_URI_SAFE).encode()).decode()
    return "O-" + encoded.rstrip("=").replace("+", "-").replace("/", "_")


def metric_key(name: str, context: Mapping[str, Any]) -> str:
    """The UI's ``getMetricHash``: the key of a metric option (system metrics: the name)."""
    if name.startswith("__system__"):
        return name
    context_name = metric_label("", context) if context else ""
    return aim64encode({"metricName": name, "contextName": context_name})


def _metric(spec: Mapping[str, Any] | Sequence[Any]) -> tuple[str, dict[str, Any]]:
    if isinstance(spec, Mapping):
        name, context = spec["name"], spec.get("context") or {}
    else:
        name, context = spec
    # Aim hands contexts back with their keys sorted; the UI compares them as objects
    return str(name), {str(k): context[k] for k in sorted(context)}


def select_options(
    params: Iterable[str], metrics: Iterable[Mapping[str, Any] | Sequence[Any]]
) -> list[dict[str, Any]]:
    """The Params select form's options: each param (``hparams.config.model.pooling``) and
    each metric at one context, in the order given (the chart's axes, left to right)."""
    options: list[dict[str, Any]] = []
    for param in params:
        param = param.removeprefix("run.")
        options.append({"label": param, "key": param, "group": "Params", "type": "params"})
    for spec in metrics:
        name, context = _metric(spec)
        options.append(
            {
                "label": metric_label(name, context),
                "key": metric_key(name, context),
                "group": name,
                "type": "metrics",
                "value": {"option_name": name, "context": context},
            }
        )
    for index, option in enumerate(options):
        option["color"] = PALETTE[index % len(PALETTE)]
    return options


def grouping_field(field: str) -> str:
    """A grouping field as the UI stores it: ``run.hparams.config.model.pooling`` (as the
    Group-by menu shows it) or ``hparams.config.model.pooling`` ->
    ``run.params.hparams.config.model.pooling``; ``run.experiment`` -> its run prop."""
    if field == "run.hash" or field.startswith(("run.params.", "run.props.")):
        return field
    if field in RUN_PROPS:
        return RUN_PROPS[field]
    return "run.params." + field.removeprefix("run.")


def params_view_state(
    query: str,
    params: Iterable[str],
    metrics: Iterable[Mapping[str, Any] | Sequence[Any]],
    group_by: Iterable[str],
) -> dict[str, Any]:
    """The (partial) Params explorer state of a view: runs matching ``query`` (Aim QL, e.g.
    ``run.experiment == "pooling_jigsaw"``; empty: all), one axis and table column per param
    and metric (their table columns pinned left, after the run's name), runs coloured by the
    ``group_by`` fields."""
    options = select_options(params, metrics)
    return {
        "select": {
            "options": options,
            "query": query,
            "advancedMode": False,
            "advancedQuery": "",
        },
        "grouping": {"color": [grouping_field(field) for field in group_by]},
        # the UI merges arrays element by element: keep its own first pinned column, the name,
        # narrow enough for the scores to stay in sight beside a sweep's long run names
        "table": {
            "columnsOrder": {"left": ["run", *(option["key"] for option in options)]},
            "columnsWidths": {"run": RUN_NAME_WIDTH},
        },
    }


# -- where views are stored -----------------------------------------------------------------
class _RestStore:
    """A running Aim UI's REST API (``/api/apps/``, ``/api/dashboards/``)."""

    def __init__(self, url: str) -> None:
        self.api = url.rstrip("/") + "/api"

    def _call(self, method: str, path: str, body: Mapping[str, Any] | None = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.api + path, data=data, method=method, headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                text = response.read().decode()
        except (urllib.error.URLError, OSError) as err:
            raise TextlabError(
                f"the Aim UI at {self.api} did not answer {method} {path}: {err}"
            ) from err
        return json.loads(text) if text else None

    def dashboards(self) -> list[dict[str, Any]]:
        return self._call("GET", "/dashboards/")

    def create(self, name: str, description: str, state: Mapping[str, Any]) -> SavedView:
        app = self._call("POST", "/apps/", {"type": APP_TYPE, "state": state})
        board = self._call(
            "POST", "/dashboards/", {"name": name, "description": description, "app_id": app["id"]}
        )
        return SavedView(name, str(app["id"]), str(board["id"]))

    def update(self, board: Mapping[str, Any], description: str, state: Mapping[str, Any]) -> None:
        self._call("PUT", f"/apps/{board['app_id']}/", {"type": APP_TYPE, "state": state})
        self._call("PUT", f"/dashboards/{board['id']}/", {"description": description})

    def archive(self, board: Mapping[str, Any]) -> None:
        if board.get("app_id"):
            self._call("DELETE", f"/apps/{board['app_id']}/")
        self._call("DELETE", f"/dashboards/{board['id']}/")


class _DatabaseStore:
    """The web database of a repo folder (``<repo>/.aim/aim_db``), through Aim's own models."""

    def __init__(self, repo: Path) -> None:
        if not (repo / ".aim").is_dir():
            raise TextlabError(f"no Aim repo at {repo}/.aim; train something first (logger=aim)")
        self.migrate(repo)
        from sqlalchemy import create_engine
        from sqlalchemy.orm import Session

        engine = create_engine(f"sqlite:///{repo / '.aim' / 'aim_db'}")
        self.session = Session(bind=engine, autoflush=False)

    @staticmethod
    def migrate(repo: Path) -> None:
        """Create or upgrade the database's tables: the command ``aim up`` runs first."""
        from aim.cli.utils import build_db_upgrade_command
        from aim.web.configs import AIM_UI_MOUNTED_REPO_PATH

        env = {**os.environ, AIM_UI_MOUNTED_REPO_PATH: str(repo.resolve())}
        done = subprocess.run(
            build_db_upgrade_command(), env=env, capture_output=True, text=True, timeout=300
        )
        if done.returncode != 0:
            raise TextlabError(f"could not set up the Aim UI database of {repo}: {done.stderr}")

    @staticmethod
    def _models() -> tuple[Any, Any]:
        """Aim's Dashboard and ExploreState: Any, as their columns are typed as ``Column`` (not
        as values) under SQLAlchemy 2's stubs."""
        from aim.web.api.dashboard_apps.models import ExploreState
        from aim.web.api.dashboards.models import Dashboard

        return Dashboard, ExploreState

    def _row(self, model: Any, key: str) -> Any:
        row = self.session.get(model, key)
        if row is None:  # removed since `dashboards()` listed it (by the UI, say)
            raise TextlabError(f"Aim view row {key} is gone from the database; save the view again")
        return row

    def dashboards(self) -> list[dict[str, Any]]:
        dashboard, state = self._models()
        rows = []
        for board in self.session.query(dashboard).filter(dashboard.is_archived.is_(False)):
            app = (
                self.session.query(state)
                .filter(state.dashboard_id == board.uuid, state.is_archived.is_(False))
                .first()
            )
            rows.append(
                {
                    "id": board.uuid,
                    "name": board.name,
                    "app_id": app.uuid if app else None,
                    "app_type": app.type if app else None,
                }
            )
        return rows

    def create(self, name: str, description: str, state: Mapping[str, Any]) -> SavedView:
        dashboard, explore_state = self._models()
        board = dashboard(name, description)
        app = explore_state()
        app.type, app.state, app.dashboard_id = APP_TYPE, json.dumps(state), board.uuid
        self.session.add_all([board, app])
        self.session.commit()
        return SavedView(name, app.uuid, board.uuid)

    def update(self, board: Mapping[str, Any], description: str, state: Mapping[str, Any]) -> None:
        dashboard, explore_state = self._models()
        app = self._row(explore_state, board["app_id"])
        app.type, app.state = APP_TYPE, json.dumps(state)
        self._row(dashboard, board["id"]).description = description
        self.session.commit()

    def archive(self, board: Mapping[str, Any]) -> None:
        dashboard, explore_state = self._models()
        if board.get("app_id"):
            self._row(explore_state, board["app_id"]).is_archived = True
        self._row(dashboard, board["id"]).is_archived = True
        self.session.commit()

    def close(self) -> None:
        self.session.close()


def _store(repo_or_url: str | Path) -> _RestStore | _DatabaseStore:
    target = str(repo_or_url)
    if target.startswith(("http://", "https://")):
        return _RestStore(target)
    if "://" in target:
        raise TextlabError(
            f"{target}: give the repo folder or the Aim UI's http:// address "
            "(a tracking server aim:// has no saved views)"
        )
    return _DatabaseStore(Path(target))


def save_params_view(
    repo_or_url: str | Path,
    name: str,
    query: str,
    params: Iterable[str],
    metrics: Iterable[Mapping[str, Any] | Sequence[Any]],
    group_by: Iterable[str],
    description: str | None = None,
) -> SavedView:
    """Save a Params explorer view as the bookmark ``name``, replacing one of that name (it
    keeps its address; further ones of that name are removed).

    ``repo_or_url``: a folder holding ``.aim`` (written straight into its web database; a UI
    running on it sees the view at once) or a running UI's ``http://host:port``. ``params``:
    param paths (``hparams.config.model.pooling``); ``metrics``: ``{name, context}`` mappings
    or ``(name, context)`` pairs; ``group_by``: the fields that colour the runs.
    """
    state = params_view_state(query, params, metrics, group_by)
    if description is None:
        colour = ", ".join(str(field) for field in group_by)
        description = f"runs {query or '(all)'}, coloured by {colour}"
    store = _store(repo_or_url)
    try:
        same = [board for board in store.dashboards() if board["name"] == name]
        keep = next((b for b in same if b.get("app_id") and b.get("app_type") == APP_TYPE), None)
        for board in same:
            if board is not keep:
                store.archive(board)
        if keep is None:
            return store.create(name, description, state)
        store.update(keep, description, state)
        return SavedView(name, str(keep["app_id"]), str(keep["id"]))
    finally:
        if isinstance(store, _DatabaseStore):
            store.close()


# -- the view of one sweep ------------------------------------------------------------------
#: the scores of the best checkpoint, as the runs keep them
BEST = {"checkpoint": "best"}


@dataclass(frozen=True)
class SweepView:
    """What ``save_params_view`` needs to show one sweep: its runs (``run.sweep``), the swept
    values as axes, the primary metric first, coloured by the first swept value that is not
    the seed."""

    name: str
    query: str
    params: list[str]
    metrics: list[dict[str, Any]]
    group_by: list[str]
    description: str


def swept_keys(task_overrides: Iterable[str]) -> list[str]:
    """The keys a sweep varies: those given a comma-separated list of values."""
    keys = []
    for item in task_overrides:
        key, sep, value = str(item).partition("=")
        if sep and "," in value and not value.strip().startswith(("[", "{")):
            keys.append(key.lstrip("+~"))
    return keys


def score_param(name: str) -> str:
    """``test/auc_macro`` -> ``scores.best.test.auc_macro``, the param the runs keep the best
    checkpoint's score in (``src.tracking.logger.score_key``); ``test/tuned/f1_macro`` ->
    ``scores.best.test.tuned.f1_macro``."""
    from src.tracking.logger import score_key

    subset, _, rest = name.partition("/")
    context: dict[str, Any] = {"subset": subset, **BEST}
    if rest.startswith("tuned/"):
        rest, context["thresholds"] = rest[len("tuned/") :], "tuned"
    return ".".join(score_key(rest, context))


def sweep_view(folder: str | Path, extra_metrics: Iterable[str] = ()) -> SweepView:
    """The view of the sweep in ``folder`` (relative or absolute), from its ``multirun.yaml``."""
    from omegaconf import OmegaConf

    from src.tracking.logger import sweep_id

    path = Path(folder).expanduser()
    plan = path / "multirun.yaml"
    if not plan.is_file():
        raise TextlabError(
            f"{plan} not found: sweep= takes the multirun folder a sweep printed "
            "(logs/<task_name>/multiruns/<time>)"
        )
    try:
        cfg = OmegaConf.load(plan)
        overrides = [str(o) for o in OmegaConf.select(cfg, "hydra.overrides.task") or []]
        primary = OmegaConf.select(cfg, "data.primary_metric", throw_on_resolution_failure=False)
    except Exception as err:  # noqa: BLE001  (yaml and OmegaConf raise many types)
        raise TextlabError(f"cannot read {plan}: {str(err)[:200]}") from None
    sid = sweep_id(path)
    keys = swept_keys(overrides)
    names = [str(primary)] if primary else []
    names += [m for m in extra_metrics if m not in names]
    colour = next((k for k in keys if k != "seed"), keys[0] if keys else None)
    return SweepView(
        name=f"sweep {sid}",
        query=f'run.sweep == "{sid}"',
        params=[f"swept.{key}" for key in keys] + [score_param(name) for name in names],
        metrics=[],
        group_by=[f"run.swept.{colour}"] if colour else [],
        description=f"the runs of sweep {sid}: {', '.join(keys) or 'one job'}; primary "
        f"metric {names[0] if names else 'none'} first",
    )
