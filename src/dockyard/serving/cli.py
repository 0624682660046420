"""Serving commands for the ``dockyard`` CLI: ``serve emulate`` and ``gateway`` (in ``app``,
mounted unchanged by the top-level CLI), and the benchmarks ``bench_gateway`` and
``bench_gateway_overhead`` (registered in ``dockyard bench`` as ``gateway`` and
``gateway-overhead``; also in ``bench_app``).

Serving layer.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(no_args_is_help=True, add_completion=False)
serve_app = typer.Typer(help="Run model servers.", no_args_is_help=True)
bench_app = typer.Typer(help="Serving benchmarks that write JSON results.", no_args_is_help=True)
app.add_typer(serve_app, name="serve")


@serve_app.command("emulate")
def emulate(
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    model: Annotated[str, typer.Option(help="Served model name.")] = "emulated-llama-2-7b",
    kv_blocks: Annotated[int, typer.Option(help="KV cache blocks of 16 tokens.")] = 4096,
    max_num_seqs: Annotated[int, typer.Option(help="Most sequences in a batch.")] = 256,
    max_batched_tokens: Annotated[int, typer.Option(help="Token budget per step.")] = 2048,
    time_scale: Annotated[
        float, typer.Option(help="Run this many times faster than the GPU.")
    ] = 1.0,
    profile: Annotated[
        str, typer.Option(help="Step-time profile: h100-llama2-7b or zero.")
    ] = "h100-llama2-7b",
    role: Annotated[str, typer.Option(help="both, prefill or decode.")] = "both",
) -> None:
    """Run an emulated vLLM/SGLang engine (no GPU needed)."""
    from dockyard.serving.engine.__main__ import main

    code = main(
        [
            "--port",
            str(port),
            "--host",
            host,
            "--model",
            model,
            "--kv-blocks",
            str(kv_blocks),
            "--max-num-seqs",
            str(max_num_seqs),
            "--max-batched-tokens",
            str(max_batched_tokens),
            "--time-scale",
            str(time_scale),
            "--profile",
            profile,
            "--role",
            role,
        ]
    )
    raise typer.Exit(code)


@app.command(
    "gateway",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    add_help_option=False,
)
def gateway(ctx: typer.Context) -> None:
    """Run the inference gateway (``dockyard gateway --help`` lists its options)."""
    from dockyard.serving.gateway.__main__ import main

    raise typer.Exit(main(list(ctx.args)))


def _floats(text: str) -> tuple[float, ...]:
    return tuple(float(x) for x in text.split(",") if x.strip())


@bench_app.command("gateway")
def bench_gateway(
    traces: Annotated[
        str, typer.Option(help="Comma-separated: shared-prefix, multi-turn, no-sharing.")
    ] = "shared-prefix,multi-turn,no-sharing",
    routers: Annotated[
        str,
        typer.Option(
            help="Comma-separated router:policy list; default: all ours and the installed peers."
        ),
    ] = "",
    rates: Annotated[str, typer.Option(help="Requests/s per stage, ascending.")] = "20,40,60,80",
    duration: Annotated[float, typer.Option(help="Seconds (emulated) per rate stage.")] = 10.0,
    warmup: Annotated[
        float, typer.Option(help="Emulated seconds of unreported warm-up at the first rate.")
    ] = 5.0,
    seed: Annotated[int, typer.Option(help="Trace and arrival seed.")] = 0,
    time_scale: Annotated[
        float, typer.Option(help="Engine speed-up; latencies are reported in emulated time.")
    ] = 1.0,
    engines: Annotated[int, typer.Option(help="Emulated engines in the fleet.")] = 4,
    kv_blocks: Annotated[int, typer.Option(help="KV blocks (16 tokens) per engine.")] = 1000,
    groups: Annotated[int, typer.Option(help="Shared-prefix groups / conversations.")] = 24,
    prompts_per_group: Annotated[int, typer.Option(help="Questions per group.")] = 40,
    system_len: Annotated[int, typer.Option(help="System prompt tokens.")] = 2000,
    question_len: Annotated[int, typer.Option(help="Question / user turn tokens.")] = 200,
    output_len: Annotated[int, typer.Option(help="Output tokens per request.")] = 32,
    turns: Annotated[int, typer.Option(help="Turns per conversation (multi-turn).")] = 6,
    output: Annotated[str, typer.Option("-o", "--output", help="table or json")] = "table",
    out_dir: Annotated[Path, typer.Option(help="Where the JSON result file goes.")] = Path(
        "bench/results"
    ),
) -> None:
    """Replay seeded traces against emulated engines through each router, side by side."""
    from dockyard.serving.bench.processes import RouterSpec
    from dockyard.serving.bench.report import table
    from dockyard.serving.bench.runner import DEFAULT_ROUTERS, BenchConfig, run, write
    from dockyard.serving.bench.traces import TraceShape

    specs: tuple[RouterSpec, ...] = DEFAULT_ROUTERS
    if routers:
        specs = tuple(RouterSpec(*r.strip().split(":", 1)) for r in routers.split(","))
    cfg = BenchConfig(
        traces=tuple(t.strip() for t in traces.split(",")),
        routers=specs,
        rates=_floats(rates),
        duration=duration,
        warmup=warmup,
        engines=engines,
        kv_blocks=kv_blocks,
        time_scale=time_scale,
        seed=seed,
        shape=TraceShape(groups, prompts_per_group, system_len, question_len, output_len, turns),
        logs=out_dir / "logs",
    )
    quiet = output == "json"
    result = run(cfg, progress=(lambda _m: None) if quiet else typer.echo)
    path = write(result, out_dir)
    if quiet:
        typer.echo(json.dumps(result, indent=2))
    else:
        typer.echo(table(result["results"]))
        typer.echo(f"results: {path}")


@bench_app.command("gateway-overhead")
def bench_gateway_overhead(
    rate: Annotated[float, typer.Option(help="Requests per second.")] = 200.0,
    duration: Annotated[float, typer.Option(help="Seconds.")] = 10.0,
    output_len: Annotated[int, typer.Option(help="Streamed tokens per request.")] = 8,
    routers: Annotated[
        str, typer.Option(help="router:policy list to compare with direct.")
    ] = "dockyard:predictive,sglang-router:cache_aware",
    output: Annotated[str, typer.Option("-o", "--output", help="table or json")] = "table",
    out_dir: Annotated[Path, typer.Option(help="Where the JSON result file goes.")] = Path(
        "bench/results"
    ),
) -> None:
    """Added latency of each router in front of a zero-delay engine, streaming."""
    from dockyard.serving.bench.overhead import OverheadConfig, overhead_table, run_overhead
    from dockyard.serving.bench.processes import RouterSpec
    from dockyard.serving.bench.runner import write

    specs = tuple(RouterSpec(*r.strip().split(":", 1)) for r in routers.split(","))
    result = run_overhead(OverheadConfig(rate, duration, output_len, specs, out_dir / "logs"))
    path = write(result, out_dir, "gateway-overhead")
    typer.echo(json.dumps(result, indent=2) if output == "json" else overhead_table(result))
    if output != "json":
        typer.echo(f"results: {path}")
