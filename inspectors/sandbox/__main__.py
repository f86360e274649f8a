"""`python -m inspectors.sandbox --check [--hosted]`: can this machine run user programs safely?

Prints the isolation in force and the limits, starts one worker, runs a tiny
inspection and two attacks (a subprocess, reading /etc/passwd), and exits 0
only if the inspection worked and both attacks failed. With `--hosted` (or
JAXPR_EXPLORER_HOSTED=1) it also fails when bwrap cannot sandbox here; the
hosted start-up script runs it before starting any server.
"""

from __future__ import annotations

import argparse
import sys

from inspectors.results import Request
from inspectors.sandbox import IsolationUnavailable, Limits, Pool, inspect_in

ATTACKS = {
    "subprocess": "import subprocess\nsubprocess.run(['true'])\n",
    "read /etc/passwd": "open('/etc/passwd').read()\n",
}


def main(argv: list[str] | None = None) -> int:
    """Run the check; return the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m inspectors.sandbox", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--check", action="store_true", help="run the start-up check (the default)")
    parser.add_argument("--hosted", action="store_true", help="fail unless bwrap can sandbox here")
    ns = parser.parse_args(argv)
    try:
        limits = Limits.from_env(hosted=True if ns.hosted else None, workers=1)
        pool = Pool(limits)
    except (IsolationUnavailable, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"isolation: {pool.status}")
    print(f"limits: {limits.describe()}")
    with pool:
        result = inspect_in(pool, Request(source="def f(x):\n    return x * 2.0\n", args="f32[3]"))
        ok = result.ok
        print(f"inspection: {'ok' if ok else result.error.format()}")
        for name, source in ATTACKS.items():
            attack = inspect_in(pool, Request(source=source + "def f(x):\n    return x\n", args="f32[3]"))
            blocked = attack.error is not None and attack.error.stage == "load"
            ok = ok and blocked
            print(f"{name}: {'blocked (' + attack.error.kind + ')' if blocked else 'NOT BLOCKED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
