"""The component kinds a plugin may register, each with the contract its factory must meet."""

from __future__ import annotations

KINDS: dict[str, str] = {
    "mi.estimator": (
        "A mutual-information estimator: factory(**params) returns an object with "
        "estimate(x, y) -> infomix.mi.Estimate (value, lower, upper, info) in nats."
    ),
    "mi.critic": (
        "A critic scoring every pair of a batch of two views: factory(dim_u, dim_v, **params) returns an "
        "nn.Module mapping u [K, dim_u], v [K, dim_v] to scores [K, K] with S[i, j] = f(u_i, v_j)."
    ),
    "mi.task": (
        "A distribution with known mutual information: factory(**params) returns an object with "
        "sample(n, seed) -> (x, y) and mutual_information (nats)."
    ),
    "mi.diffusion.sampler": (
        "A diffusion ODE sampler: factory(**params) returns an object whose sample(denoiser, x_T, nfe) integrates "
        "the probability-flow ODE of denoiser.schedule from x_T with exactly `nfe` denoiser calls and returns x_0; "
        "its model_calls attribute holds the count of the last run."
    ),
    "mixing.method": (
        "A data-mixture method: offline methods have propose(history, n) and recommend(history); "
        "online methods have observe(step, per_domain_loss, counts) -> mixture."
    ),
    "mixing.executor": "Runs proxy-training jobs for mixing methods (local processes, Ray, ...).",
    "moe.router": (
        "A mixture-of-experts router: an nn.Module mapping tokens [T, D] to routing weights, "
        "expert indices and auxiliary losses."
    ),
    "moe.layer": "A mixture-of-experts layer (an nn.Module) built from a router and experts.",
    "moe.upcycler": "Turns dense model pieces into mixture-of-experts pieces (sparse upcycling, BTX, BAM).",
    "compression.quantizer": (
        "A weight quantizer: factory(**params) returns an object whose quantize(weight) gives a "
        "quantized weight that dequantizes back to the weight's shape and dtype."
    ),
    "compression.sparsifier": "A training-free activation or weight sparsifier.",
    "compression.prompt": "A prompt compressor: compress(text, rate) -> compressed text.",
    "retrieval.retriever": "A retriever: index(docs) then search(queries, k) -> ranked doc ids and scores.",
    "retrieval.index": "A vector or inverted index behind a retriever (exact, faiss, ...).",
    "retrieval.metric": (
        "A ranking metric: factory(**params) returns a callable (run, qrels) -> per-query scores, "
        "where run maps query id -> {doc id: score} and qrels maps query id -> {doc id: grade}."
    ),
    "data.corpus": "A named text domain: fetched from a package registry, sha256-pinned, split by document.",
    "data.collection": "An IR collection with docs, queries and graded relevance judgements.",
    "data.images": (
        "A labelled image data set: factory(**params) returns an object with load(split) -> "
        "(images uint8 [N, H, W], labels int64 [N])."
    ),
    "pipeline.stage": "A stage of an `infomix run pipeline.toml` pipeline.",
    "ops.backend": "An implementation backend of the compiled ops (compiled kernels or the PyTorch reference).",
}


def check_kind(kind: str) -> None:
    """Raise ValueError naming the known kinds when `kind` is not one of them."""
    if kind not in KINDS:
        from infomix.core.errors import suggest

        raise ValueError(f"unknown component kind {kind!r}{suggest(kind, KINDS)}; known kinds: {', '.join(KINDS)}")
