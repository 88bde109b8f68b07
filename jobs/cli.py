"""``tokcount`` command line: ``count`` runs the batch job; ``audit`` and ``report`` answer over its
output; ``explain`` shows one body's (or one output record's) pieces; ``serve`` answers the hosted
counting endpoints over HTTP.

Fatal problems (bad config, missing input, unwritable output) print one line and exit 2 before any
counting; so does an I/O failure mid-run (disk full, corrupt or vanished input), which keeps the
finished shards for a rerun. Bad records never stop the job, they become error rows. Ctrl-C prints
one line and exits 130; a job keeps its finished shards then too.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from datetime import date
from typing import TYPE_CHECKING, Any, NoReturn

from jobs.config import ConfigError, JobConfig, load_config
from jobs.readers.files import InputError

if TYPE_CHECKING:
    from jobs.server.app import ServeOptions

EXIT_FATAL = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as a shell reports a process Ctrl-C stopped


class UsageError(ConfigError):
    """A bad command line (unknown option, a value out of range): one line, exit 2, like other fatal errors."""


class Parser(argparse.ArgumentParser):
    """argparse whose errors reach ``main`` as one ``tokcount: error: argument --x: ...`` line rather than a
    usage block and ``SystemExit`` (the subcommands' parsers are of this class too)."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def _number(cast: Callable[[str], float], within: Callable[[float], bool], expected: str,
            must: str) -> Callable[[str], Any]:
    """An argparse type: ``cast`` the text, then refuse a value outside ``within`` (one message form)."""
    def parse(text: str) -> Any:
        try:
            value = cast(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
        if not within(value):
            raise argparse.ArgumentTypeError(f"must be {must}, got {text}")
        return value
    return parse


# A limit or a count of items, where 0 or less means nothing sensible.
positive_int = _number(int, lambda v: v >= 1, "a positive integer", "a positive integer")
# Seconds and the like: finite and above 0.
positive_float = _number(float, lambda v: 0 < v < float("inf"), "a number", "a finite number above 0")
port_number = _number(int, lambda v: 0 <= v <= 65535, "a port number", "0 to 65535 (0 picks a free port)")


def iso_day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a day as YYYY-MM-DD, got {text!r}") from None


def byte_size(text: str) -> int:
    """``200MB``, ``100MiB`` or plain bytes, at least 1."""
    from jobs.datasets.batch_files import parse_size

    try:
        value = parse_size(text)
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1 byte, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="tokcount", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    add_count_arguments(sub.add_parser("count", help="count tokens of JSONL/Parquet request logs"))
    explain = sub.add_parser("explain", help="show how one request body (or one output record) is counted")
    explain.add_argument("body", help="a JSON file with one request body ('-' for stdin), or OUTPUT with --record")
    explain.add_argument("--model", help="model to use if the body has none")
    explain.add_argument("--record", metavar="RECORD_ID", help="explain this record of the job output BODY "
                         "(its record_id, or SOURCE_FILE:ROW when ids repeat)")
    audit = sub.add_parser("audit", help="compare logged input usage with the counts, per group")
    audit.add_argument("output", metavar="OUTPUT", help="a job's output directory")
    audit.add_argument("--by", default="model", help="group columns, comma-separated (default: model)")
    audit.add_argument("--top", type=positive_int, default=20, help="unexplained records listed in audit_worst.csv")
    audit.add_argument("--out", help="report directory (default: OUTPUT/_reports/audit)")
    report = sub.add_parser("report", help="cost report at effective-dated prices")
    report.add_argument("output", metavar="OUTPUT", help="a job's output directory")
    report.add_argument("--pricing", required=True, help="price file (see configs/pricing.yaml)")
    report.add_argument("--by", default="model,day", help="group columns (default: model,day)")
    report.add_argument("--since", type=iso_day, help="first UTC day (YYYY-MM-DD)")
    report.add_argument("--until", type=iso_day, help="last UTC day (YYYY-MM-DD), inclusive")
    report.add_argument("--out", help="report directory (default: OUTPUT/_reports/cost)")
    finetune = sub.add_parser("finetune", help="check and count a fine-tuning dataset; epochs, billed tokens, cost")
    add_job_arguments(finetune)
    finetune.add_argument("--model", required=True, help="the model to fine-tune")
    finetune.add_argument("--epochs", type=positive_int, help="epochs (default: the cookbook's, from the dataset size)")
    finetune.add_argument("--max-example-tokens", type=positive_int, help="override the model's training-example limit")
    finetune.add_argument("--pricing", help="price file with training prices (see configs/pricing.yaml)")
    batch = sub.add_parser("batch", help="write Batch API input files split by requests, bytes and exact tokens")
    add_job_arguments(batch)
    batch.add_argument("--model", required=True, help="model for records without one")
    batch.add_argument("--endpoint", help="/v1/responses or /v1/chat/completions (default: each record's API)")
    batch.add_argument("--max-requests", type=positive_int, default=50_000, help="lines per file (default: 50000)")
    batch.add_argument("--max-bytes", type=byte_size, default="200MB", help="bytes per file (default: 200MB)")
    batch.add_argument("--max-enqueued-tokens", type=positive_int,
                       help="input tokens per file (your tier's batch queue limit)")
    batch.add_argument("--pricing", help="price file for batch input prices (see configs/pricing.yaml)")
    serve = sub.add_parser("serve", help="answer /v1/responses/input_tokens and /v1/count_tokens over HTTP")
    serve.add_argument("--workers", type=positive_int, default=1, help="server processes (default: 1)")
    serve.add_argument("--api-key", default=os.environ.get("TOKCOUNT_API_KEY"),
                       help="require 'Authorization: Bearer KEY' (default: TOKCOUNT_API_KEY; unset: no auth)")
    serve.add_argument("--timeout", type=positive_float, default=30.0,
                       help="seconds from a request's headers to its answer before a 504 (default: 30)")
    serve.add_argument("--header-timeout", type=positive_float, default=10.0,
                       help="seconds for a request's line and headers to arrive, else the connection closes "
                            "(default: 10)")
    serve.add_argument("--max-connections", type=positive_int, default=500,
                       help="open connections per worker; more get a 503 (default: 500)")
    serve.add_argument("--max-batch-items", type=positive_int, default=1000,
                       help="bodies per POST /v1/count_tokens/batch; more get a 413 (default: 1000)")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    serve.add_argument("--port", type=port_number, default=8080, help="port (default: 8080; 0 picks a free one)")
    serve.add_argument("--config", help="YAML job config: registry overrides, limits, backend")
    serve.add_argument("--model", help="model to use if a body has none")
    return parser


def add_job_arguments(p: argparse.ArgumentParser) -> None:
    """What every command running the job takes: inputs, output, config, engine, resume."""
    p.add_argument("paths", nargs="+", metavar="INPUT... OUTPUT",
                   help="input files, directories or globs (local or URI), then the output directory")
    p.add_argument("--config", help="YAML job config (see configs/)")
    p.add_argument("--address", help="Ray cluster address (default: RAY_ADDRESS, else a local Ray)")
    p.add_argument("--overwrite", action="store_true", help="discard earlier results in OUTPUT")
    p.add_argument("--replace-changed", action="store_true", default=None,
                   help="recount inputs whose bytes changed other than by growing, dropping their earlier rows")
    engine = p.add_mutually_exclusive_group()
    engine.add_argument("--force-ray", action="store_true", default=None, help="use Ray for small inputs too")
    engine.add_argument("--in-process", action="store_true", help="one process (= --engine in-process)")
    engine.add_argument("--engine", choices=("auto", "ray", "local", "in-process"),
                        help="force one: ray, local (a process per core) or in-process; default auto")
    p.add_argument("--quiet", action="store_true", help="no progress, only the summary")
    p.add_argument("--progress-every", type=positive_float, default=30.0, metavar="SECONDS",
                   help="without a terminal, a progress line at most this often (default: 30)")


def add_count_arguments(p: argparse.ArgumentParser) -> None:
    add_job_arguments(p)
    p.add_argument("--model", help="default model for records without one")
    p.add_argument("--format", help="input format preset (default: detect per record)")
    p.add_argument("--api", help="force chat, responses, bifrost or completions")
    p.add_argument("--since", type=iso_day, help="log stores: first UTC day of rows to read (YYYY-MM-DD)")
    p.add_argument("--until", type=iso_day, help="log stores: last UTC day of rows to read, inclusive")
    p.add_argument("--tenant-column", help="log stores: the column written as 'tenant' (default: virtual_key_name)")
    p.add_argument("--verify-inputs", action="store_true", default=None,
                   help="on resume, re-hash inputs rather than trust their size and mtime")
    p.add_argument("--usage-from", action="append", metavar="BATCH_OUTPUT",
                   help="OpenAI batch output file(s): join their usage to the input by custom_id")
    p.add_argument("--max-input-tokens", type=positive_int, help="split output into kept/ and rejected/")
    p.add_argument("--keep-record", action="store_true", default=None, help="add the input line as 'record'")
    p.add_argument("--tokens", action="store_true", default=None, help="add token ids as 'tokens'")
    p.add_argument("--context", action="store_true", default=None, help="add context_window and fits_context")
    p.add_argument("--rules", action="store_true", default=None, help="add the ids of the rules each count used")


def job_config_from_args(args: argparse.Namespace) -> JobConfig:
    """The config file with the engine flags every job command takes."""
    return load_config(args.config).with_updates(**{
        "execution.force_ray": args.force_ray, "execution.address": args.address,
        "execution.engine": "in-process" if args.in_process else args.engine,
        "execution.replace_changed": args.replace_changed,
    })


def config_from_args(args: argparse.Namespace) -> JobConfig:
    return job_config_from_args(args).with_updates(**{
        "model": args.model, "format": args.format, "api": args.api, "usage_from": args.usage_from,
        "output.max_input_tokens": args.max_input_tokens, "output.keep_record": args.keep_record,
        "output.tokens": args.tokens, "output.context": args.context, "output.rules": args.rules,
        "execution.verify_inputs": args.verify_inputs, "since": args.since, "until": args.until,
        "store.tenant": args.tenant_column,
    })


def serve_options(args: argparse.Namespace) -> ServeOptions:
    """The serve options, checked before anything binds (the numbers by their argument types): a
    server is never open by accident (an empty key)."""
    key = args.api_key
    if key is not None and (not key.strip() or key != key.strip()):
        # An empty TOKCOUNT_API_KEY is a secret that failed to load; only an unset one means no auth.
        raise ConfigError("--api-key (or TOKCOUNT_API_KEY) is empty or has surrounding whitespace; "
                          "unset it to serve without authentication")
    from jobs.server.app import ServeOptions

    config = load_config(args.config).with_updates(model=args.model)
    return ServeOptions(config, api_key=key, timeout=args.timeout, header_timeout=args.header_timeout,
                        max_connections=args.max_connections, max_batch_items=args.max_batch_items)


def summary_line(manifest: dict[str, Any]) -> str:
    totals, run = manifest["totals"], manifest["run"]
    errors = " ".join(f"{code}={n}" for code, n in totals["errors"].items()) or "none"
    line = (f"tokcount: {totals['records']:,} records in {len(manifest['inputs'])} shard(s) "
            f"({run['shards_skipped']} resumed) | errors: {errors} | estimated: {totals['estimated']:,} | "
            f"input tokens: {totals['input_tokens']:,} | {run['records_per_second'] or 0:,.0f} records/s, "
            f"{run['mb_per_second'] or 0:.2f} MB/s | {run['wall_seconds']:.1f} s ({run['engine']})")
    if totals.get("kept") is not None:
        line += f" | kept {totals['kept']:,}, rejected {totals['rejected']:,}"
    if manifest["config"].get("pricing"):
        line += f" | cost ${totals['cost_usd']:,.4f}"
    if manifest.get("orphans"):
        line += f" | WARNING: {len(manifest['orphans'])} result(s) in OUTPUT whose input is gone (see _manifest.json)"
    return line


def split_paths(args: argparse.Namespace) -> tuple[list[str], str]:
    if len(args.paths) < 2:
        raise ConfigError("need at least one INPUT and an OUTPUT")
    *inputs, output = args.paths
    return inputs, output


def job_output(args: argparse.Namespace) -> dict[str, Any]:
    """Where a job's messages go: nowhere with ``--quiet``; else a live bar on a terminal (a line every
    ``--progress-every`` seconds elsewhere), with warnings printed above it."""
    from jobs.job.progress import Progress

    if args.quiet:
        return {"log": lambda _msg: None, "progress": None}
    progress = Progress(interval=args.progress_every)
    return {"log": progress.log, "progress": progress}


def run_count(args: argparse.Namespace) -> int:
    from jobs.job.pipeline import run_job

    inputs, output = split_paths(args)
    config = config_from_args(args)
    result = run_job(inputs, output, config, overwrite=args.overwrite, **job_output(args))
    print(summary_line(result.manifest))
    return 0


def run_finetune(args: argparse.Namespace) -> int:
    from jobs.datasets.finetune import FinetuneOptions, print_summary, run_finetune

    inputs, output = split_paths(args)
    options = FinetuneOptions(args.model, args.epochs, args.max_example_tokens, args.pricing)
    summary = run_finetune(inputs, output, job_config_from_args(args), options, overwrite=args.overwrite,
                           **job_output(args))
    print_summary(summary, output)
    return 0


def run_batch(args: argparse.Namespace) -> int:
    from jobs.datasets.batch_files import BatchOptions, plan_table, run_batch

    inputs, output = split_paths(args)
    options = BatchOptions(args.model, args.endpoint, args.max_requests, args.max_bytes,
                           args.max_enqueued_tokens, args.pricing)
    plan = run_batch(inputs, output, job_config_from_args(args), options, overwrite=args.overwrite,
                     **job_output(args))
    print(plan_table(plan), end="")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        if args.command == "explain" and args.record is not None:
            from jobs.explain import run_explain_record

            return run_explain_record(args.body, args.record)
        if args.command == "explain":
            from jobs.explain import run_explain

            return run_explain(args.body, model=args.model)
        if args.command == "audit":
            from jobs.reports.audit import print_audit, run_audit
            from jobs.reports.dataset import reading

            with reading(args.output):
                print_audit(run_audit(args.output, by=args.by, top=args.top, out=args.out))
            return 0
        if args.command == "report":
            from jobs.reports.cost import print_report, run_report
            from jobs.reports.dataset import reading

            with reading(args.output):
                print_report(run_report(args.output, args.pricing, by=args.by, since=args.since, until=args.until,
                                        out=args.out))
            return 0
        if args.command == "finetune":
            return run_finetune(args)
        if args.command == "batch":
            return run_batch(args)
        if args.command == "serve":
            from jobs.server.app import run_serve

            return run_serve(args.host, args.port, serve_options(args), workers=args.workers)
        return run_count(args)
    # OSError: also a disk or input failing mid-run, or an input that kept killing its worker (retries.WorkerKilled)
    except (ConfigError, InputError, OSError) as exc:
        print(f"tokcount: error: {one_line(exc)}", file=sys.stderr)
        return EXIT_FATAL
    except KeyboardInterrupt:
        resumable = args.command in ("count", "finetune", "batch")
        print("tokcount: interrupted" + ("; finished shards are kept, a rerun resumes" if resumable else ""),
              file=sys.stderr)
        return EXIT_INTERRUPTED


def one_line(exc: BaseException) -> str:
    """The error's first line; on Ray, that of the original error (``RayTaskError.cause``), not the
    remote traceback its message holds."""
    cause = getattr(exc, "cause", None)
    exc = cause if isinstance(cause, BaseException) else exc
    return next(iter(str(exc).strip().splitlines()), type(exc).__name__)


if __name__ == "__main__":
    sys.exit(main())
