"""Claim (c): at a matched bound value (loss |I_NCE − t|), does the ConvNet encoder probe better than the MLP?

Tschannen et al. (2020), Fig. 4a,b: bilinear critic; the loss holds I_NCE at a target t instead of maximising
it, so both encoders reach the same bound; the probe then shows what the encoder itself contributes. The
ConvNet is the paper's (two 5×5 stride-2 convolutions, LayerNorm, global average pool, linear 100) with
narrower channels (32, 64) for the CPU. Writes results/matched_bound_<data>.json and .png.

    python benchmarks/mi/representation/bench_matched_bound.py --data fashion-mnist
    python benchmarks/mi/representation/bench_matched_bound.py --smoke
"""

from __future__ import annotations

from common import (
    Timer,
    final_summary,
    group,
    load,
    parse_run_args,
    print_bounds_and_probes,
    probe_sizes,
    run_parser,
    run_setup,
    train_all,
    write,
)

from infomix.mi.representation.train import InfoMaxConfig

ENCODERS = {"mlp": {}, "conv": {"channels": [32, 64]}}


def main() -> None:
    parser = run_parser(__doc__, data="fashion-mnist", steps=1000, lr=3e-4, eval_every=250)
    parser.add_argument("--targets", type=float, nargs="+", default=[2.0, 4.0])
    args = parse_run_args(parser)
    views = load(args.data, args.smoke)
    jobs = [
        ({"target": t, "encoder": e}, InfoMaxConfig(
            encoder=e, encoder_params=ENCODERS[e], critic="bilinear", objective="nce", target=t,
            steps=args.steps, lr=args.lr, eval_every=args.eval_every, seed=seed,
            **probe_sizes(args.data, args.smoke), progress=False))
        for t in args.targets for e in ENCODERS for seed in range(args.seeds)
    ]  # fmt: skip
    with Timer() as timer:
        records = train_all(jobs, views.train, views.test, args.data, workers=args.workers)
    summary = {key: final_summary(runs) for key, runs in group(records, ["target", "encoder"]).items()}
    outcome = {}
    for t in args.targets:
        conv, mlp = summary[f"{t}/conv"], summary[f"{t}/mlp"]
        outcome[str(t)] = {
            "bound_conv": conv["test_bound"]["mean"],
            "bound_mlp": mlp["test_bound"]["mean"],
            "accuracy_conv": conv["probe_accuracy"]["mean"],
            "accuracy_mlp": mlp["probe_accuracy"]["mean"],
            "conv_better": conv["probe_accuracy"]["mean"] > mlp["probe_accuracy"]["mean"],
            "conv_better_every_seed": min(r["history"].probe_accuracy[-1] for r in records
                                          if r["target"] == t and r["encoder"] == "conv")
            > max(r["history"].probe_accuracy[-1] for r in records if r["target"] == t and r["encoder"] == "mlp"),
        }  # fmt: skip
    result = {
        "benchmark": f"infomax_matched_bound_{args.data}",
        "claim": "(c) at a matched bound value, the ConvNet encoder probes better than the MLP",
        "command": f"python benchmarks/mi/representation/bench_matched_bound.py --data {args.data} --steps {args.steps}"
        f" --eval-every {args.eval_every} --lr {args.lr:g}" + (" --smoke" if args.smoke else ""),
        "setup": run_setup(args, timer.seconds, targets=args.targets, critic="bilinear", encoders=ENCODERS),
        "summary": summary,
        "outcome": outcome,
    }
    name = f"matched_bound_{args.data}" + ("_smoke" if args.smoke else "")
    write(name, result, records, ["target", "encoder"], f"(c) matched bound |I - t|, {args.data}")
    print_bounds_and_probes(summary, 10)
    print("outcome", outcome)


if __name__ == "__main__":
    main()
