"""The sweep's grid: the values of ``--alpha``, ``--lam``, ``--seeds`` and of any numeric model option given as a list
(``--n 16,24,32``), their product, and the options every point shares (validated by the model, normalised into the
key that identifies the sweep's rows)."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import InputError, checked_arguments

#: The grid's own options: every other option of the model is the same at every point.
GRID_OPTIONS = ("alpha", "lam", "seed")
#: Options of ``integrate`` that a sweep sets itself (per point) or does not take.
NOT_SWEEP_OPTIONS = ("alpha", "lam", "seed", "out", "plot", "force", "progress")
#: Kinds of model option that a sweep can vary (``--n 16,24,32``, ``--frac 0.2:0.8:4``).
GRID_KINDS = ("int", "float")
#: Most points one sweep command takes (grid values × seeds): a bigger grid is a typo, not a plan (and its
#: list of points alone would not fit in memory long before it could run).
MAX_POINTS = 100_000


@checked_arguments
def parse_grid(name: str, text: str) -> list[float]:
    """Values of a grid option: ``a:b:n`` (n log-spaced values from a to b) or a comma list ``x1,x2,…``.

    Log-spaced values are rounded to 12 significant digits so that ``1e2:1e8:7`` gives 100, 1000, … exactly.
    Only the syntax is checked here (finite numbers, a, b > 0, n ≥ 1, no repeats): a value that ``integrate``
    rejects (λ ≤ 0, say) becomes a failed point of the sweep, recorded with its error.
    """
    text = str(text).strip()
    if not text:
        raise InputError(f"--{name} is empty")
    if ":" in text:
        parts = text.split(":")
        if len(parts) != 3:
            raise InputError(f"--{name} {text!r}: a range is a:b:n (n log-spaced values from a to b)")
        try:
            a, b = float(parts[0]), float(parts[1])
            count = int(parts[2])
        except ValueError:
            raise InputError(f"--{name} {text!r}: a range is a:b:n with numbers a, b and an integer n") from None
        if not (math.isfinite(a) and math.isfinite(b) and a > 0 and b > 0):
            raise InputError(f"--{name} {text!r}: log-spaced ends must be positive finite numbers")
        if count < 1 or (count == 1 and a != b):
            raise InputError(f"--{name} {text!r}: n must be ≥ 2 (or 1 with a = b), got {count}")
        if count > MAX_POINTS:
            raise InputError(f"--{name} {text!r}: n = {count} values is more than the {MAX_POINTS} points a sweep "
                             "takes")
        exps = np.linspace(math.log10(a), math.log10(b), count)
        values = [float(f"{10.0 ** e:.12g}") for e in exps]
    else:
        values = []
        for item in text.split(","):
            try:
                v = float(item)
            except ValueError:
                raise InputError(f"--{name} {text!r}: {item.strip()!r} is not a number") from None
            if not math.isfinite(v):
                raise InputError(f"--{name} {text!r}: {item.strip()!r} is not a finite number")
            values.append(v)
    _no_repeats(name, text, values)
    return values


def parse_seeds(text: str) -> list[int]:
    """Seeds: a comma list of integers ≥ 0, or ``a:b`` for every integer from a to b inclusive."""
    text = str(text).strip()
    try:
        if ":" in text:
            lo, hi = (int(s) for s in text.split(":"))
        else:
            seeds = [int(s) for s in text.split(",")]
    except ValueError:
        raise InputError(f"--seeds {text!r}: give integers s1,s2,… or a range a:b") from None
    if ":" in text:
        if hi - lo + 1 > MAX_POINTS:
            raise InputError(f"--seeds {text!r}: {hi - lo + 1} seeds is more than the {MAX_POINTS} points a sweep "
                             "takes")
        seeds = list(range(lo, hi + 1))
    if not seeds or min(seeds) < 0:
        raise InputError(f"--seeds {text!r}: need at least one seed, all ≥ 0")
    _no_repeats("seeds", text, seeds)
    return seeds


def parse_int_grid(name: str, text: str) -> list[int]:
    """Values of an integer grid option: a comma list ``n1,n2,…`` or ``a:b:k`` (k log-spaced values from a to b,
    rounded to integers; a rounding that repeats a value is an error)."""
    text = str(text).strip()
    if not text:
        raise InputError(f"--{name} is empty")
    if ":" in text:
        values = [round(v) for v in parse_grid(name, text)]
    else:
        values = []
        for item in text.split(","):
            try:
                values.append(int(item))
            except ValueError:
                raise InputError(f"--{name} {text!r}: {item.strip()!r} is not an integer") from None
    _no_repeats(name, text, values)
    return values


def is_grid_text(value: object) -> bool:
    """Whether an option's command-line text is a list of values (``16,24`` or ``1e2:1e4:3``), not one value."""
    return isinstance(value, str) and ("," in value or ":" in value)


def option_grids(given: dict) -> tuple[dict, dict[str, list]]:
    """(the options every point shares, model option → its grid values) of the options a sweep command was given.

    An option of kind :data:`GRID_KINDS` of the chosen model, given as a list (:func:`is_grid_text`), is a grid
    axis: ``--n 16,24,32`` (integers: a comma list, or ``a:b:k`` rounded), ``--frac 0.2,0.5`` or ``0.1:0.8:4`` (as
    ``--alpha``). Any other value stays one value for every point, and the model checks it (an option the model
    does not take is an error there).
    """
    from ..models import get_model

    fixed = dict(given)
    name = fixed.get("model", "diagonal")
    try:
        kinds = {o.name: o.kind for o in get_model(name).options}
    except InputError:
        return fixed, {}  # an unknown model: check_options names it
    grids: dict[str, list] = {}
    for option, value in given.items():
        if option in NOT_SWEEP_OPTIONS or not is_grid_text(value) or kinds.get(option) not in GRID_KINDS:
            continue
        flag = option.replace("_", "-")
        grids[option] = parse_int_grid(flag, value) if kinds[option] == "int" else parse_grid(flag, value)
        del fixed[option]
    return fixed, grids


def _no_repeats(name: str, text: str, values: list) -> None:
    seen = set()
    for v in values:
        if v in seen:
            raise InputError(f"--{name} {text!r} lists {v!r} twice")
        seen.add(v)


@dataclass(frozen=True)
class Point:
    """One grid point; its identity in the sweep file is (alpha, lam, seed, options). ``seed`` is None when the
    model takes none (a run on a ``--data`` file); ``varied`` holds the point's own values of the model options
    the grid varies, as sorted (name, value) pairs (``(("n", 16),)``), empty when it varies none."""

    alpha: float
    lam: float
    seed: int | None
    varied: tuple[tuple[str, Any], ...] = ()


@checked_arguments
def grid_points(alphas: list[float], lams: list[float], seeds: list[int | None],
                options: dict | None = None) -> list[Point]:
    """The product grid, ordered by the varied model options, then λ, then α, then seed (at most
    :data:`MAX_POINTS` points).

    ``options`` maps a model option to its values, e.g. ``{"n": [16, 24, 32]}`` (:func:`option_grids`); each
    point carries its own combination in :attr:`Point.varied`, and the model checks the values when the sweep
    starts.
    """
    import itertools

    options = dict(options or {})
    for name, values in options.items():
        if name in NOT_SWEEP_OPTIONS or not isinstance(name, str):
            raise InputError(f"options: {name!r} is not a model option a grid can vary (α, λ and the seed are "
                             "alphas, lams and seeds)")
        if isinstance(values, (str, bytes)) or not hasattr(values, "__len__") or len(values) == 0:
            raise InputError(f"options[{name!r}] must be a non-empty list of values, got {values!r:.80}")
        _no_repeats(name, repr(list(values)), list(values))
    names = sorted(options)
    count = len(alphas) * len(lams) * len(seeds) * math.prod(len(options[n]) for n in names)
    if count > MAX_POINTS:
        sizes = " × ".join([f"{len(alphas)} α", f"{len(lams)} λ", f"{len(seeds)} seeds",
                            *(f"{len(options[n])} {n}" for n in names)])
        raise InputError(f"the grid has {sizes} = {count} points, more than the {MAX_POINTS} points a sweep takes")
    combos = list(itertools.product(*(options[n] for n in names)))
    return [Point(float(a), float(lam), None if s is None else int(s), tuple(zip(names, combo, strict=True)))
            for combo in combos for lam in lams for a in alphas for s in seeds]


def point_options(**options) -> dict:
    """The options every point shares, validated by the model and normalised: the sweep's resume key.

    The model checks them as ``grokode integrate`` would (unknown options, choices, ranges, options the model
    or its task/method does not take), so a typo fails the command at once instead of every point.
    Normalising makes the key independent of spelling and defaults (``d=1e4``, ``d=10000`` and no ``d`` are
    one sweep): the key holds the model's resolved options except the grid's α, λ and seed.
    """
    return check_options(options)[0]


def check_options(options: dict):
    """(:func:`point_options`' key, the validated model instance): the memory a point needs is checked too (by the
    model's ``check``)."""
    from ..models import get_model
    from ..result import jsonable

    options = shared_options(options)
    name = options.pop("model", "diagonal")
    instance = get_model(name)(**options)
    resolved = {k: v for k, v in instance.config.items() if k not in GRID_OPTIONS}
    return {"model": name, **jsonable(resolved)}, instance


def point_keys(given: dict, points: list[Point]) -> tuple[dict[tuple, str], list]:
    """(:attr:`Point.varied` → the options key of its points, the validated model instances): each combination of
    the varied model options is checked by the model with the shared options ``given``, as one ``integrate`` call
    would be, before anything runs."""
    keys: dict[tuple, str] = {}
    instances = []
    for point in points:
        if point.varied in keys:
            continue
        varied = dict(point.varied)
        both = sorted(set(varied) & set(given))
        if both:
            raise InputError(f"--{both[0].replace('_', '-')} is given both as one value and as a grid")
        try:
            normalised, instance = check_options({**given, **varied})
        except InputError as exc:
            if not varied:
                raise
            where = ", ".join(f"--{k.replace('_', '-')} {v}" for k, v in point.varied)
            raise InputError(f"{where}: {exc}") from None
        keys[point.varied] = options_key(normalised)
        instances.append(instance)
    return keys, instances


def shared_options(options: dict) -> dict:
    """The options the user gave (None and False are "not given"); grid options here are an error."""
    options = {k: v for k, v in options.items() if v is not None and v is not False}
    bad = sorted(set(options) & set(NOT_SWEEP_OPTIONS))
    if bad:
        raise InputError(f"{', '.join('--' + b.replace('_', '-') for b in bad)} cannot be fixed in a sweep "
                         "(the grid sets α, λ and the seed: --alpha, --lam, --seeds; each point's file: --keep-runs)")
    return options


def options_key(options: dict) -> str:
    """Canonical JSON of the options: the ``options`` column of the sweep file."""
    return json.dumps(options, sort_keys=True, separators=(",", ":"))



def check_seeds(given: dict, points: list[Point]) -> None:
    """Seeds are refused up front when the model takes none here (e.g. a run on a --data file)."""
    from ..models import get_model

    seeds = sorted({p.seed for p in points if p.seed is not None})
    if not seeds:
        return
    options = dict(given)
    name = options.pop("model", "diagonal")
    try:
        get_model(name)(**options, seed=seeds[0])
    except InputError as exc:
        raise InputError(f"--seeds {','.join(map(str, seeds[:5]))}: {exc}") from None
