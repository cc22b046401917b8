"""A pytest plugin that runs a loader's own test suite with hublock's hooks on: the check that the
hooks act only where they must (issue 24, item 9). Not collected by hublock's suite.

    # kagglehub 1.0.3 (its sdist has tests/), tensorflow_hub 0.16.1 (tests from the v0.16.1 tag)
    WITH_HUBLOCK=allow HUBLOCK_UPSTREAM_LOCK=/path/to/hub.lock \\
        PYTHONPATH=tests/upstream python -m pytest -p hublock_activate <their tests>

``WITH_HUBLOCK`` is the unlocked policy (allow or warn); unset, the suite runs without hooks, for
the baseline to compare with. ``HUBLOCK_UPSTREAM_LOCK`` names any hub.lock (an empty one will do:
every handle the suites load is then unlocked, which is the point).
"""

import importlib
import importlib.util
import os

if os.environ.get("WITH_HUBLOCK"):
    import hublock

    loaders = [name for name in ("tensorflow_hub", "kagglehub") if importlib.util.find_spec(name)]
    for name in loaders:
        importlib.import_module(name)  # imported first, so that activate() hooks it
    hublock.activate(
        os.environ["HUBLOCK_UPSTREAM_LOCK"],
        unlocked=os.environ["WITH_HUBLOCK"],  # type: ignore[arg-type]
        loaders=loaders,
    )
