#!/usr/bin/env python3
"""Integration tests of `nexus serve` with the official openai SDK.

Starts `nexus serve` on 127.0.0.1 (a free port) with stories260K, runs the test modules
beside this file against it, then stops it with SIGTERM and checks that it exits 0.

    run_server_tests.py --nexus build/nexus [--shared ../shared] [-k PATTERN]

Exit codes: 0 pass, 1 fail, 77 skipped (the openai package or the model is missing). The
package is looked for on sys.path and in $NEXUS_PYDEPS (default ~/.cache/nexus/pydeps), where
tools/setup.sh installs it.
"""
import argparse
import os
import sys
import unittest

SKIP = 77
HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--nexus", required=True, help="the nexus executable")
    ap.add_argument("--shared", default=os.environ.get("NEXUS_SHARED", os.path.join(HERE, "..", "..", "..", "shared")))
    ap.add_argument("-k", dest="pattern", action="append", help="only tests whose name contains this")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args()

    pydeps = os.environ.get("NEXUS_PYDEPS", os.path.expanduser("~/.cache/nexus/pydeps"))
    if os.path.isdir(pydeps):
        sys.path.insert(0, pydeps)
    try:
        import openai  # noqa: F401
    except ImportError:
        print(f"SKIP: the openai Python package is not installed (run tools/setup.sh, which installs it into {pydeps})")
        return SKIP
    model = os.path.join(args.shared, "models", "stories260K.gguf")
    if not os.path.isfile(model):
        print(f"SKIP: {model} not found (set NEXUS_SHARED)")
        return SKIP

    sys.path.insert(0, HERE)
    import server_fixture

    server = server_fixture.start(args.nexus, model)
    server_fixture.SERVER = server
    ok = False
    try:
        loader = unittest.TestLoader()
        if args.pattern:
            loader.testNamePatterns = [f"*{p}*" for p in args.pattern]
        suite = unittest.TestSuite()
        for name in ("test_api", "test_errors", "test_load"):
            suite.addTests(loader.loadTestsFromName(name))
        result = unittest.TextTestRunner(verbosity=2 if args.verbose else 1).run(suite)
        ok = result.wasSuccessful()
    finally:
        rc = server.stop()
    if rc != 0:
        print(f"FAIL: nexus serve exited with {rc} after SIGTERM (expected 0)\n--- server log ---\n{server.log()}")
        return 1
    if not ok:
        print(f"--- server log (tail) ---\n{server.log()[-4000:]}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
