"""``python -m fastconv info``: the configuration report."""
import argparse


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m fastconv", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("info", help="versions, available backends, OpenMP and threads")
    args = parser.parse_args(argv)
    if args.command == "info":
        from ._config import show_config

        show_config()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
