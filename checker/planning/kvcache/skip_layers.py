"""What --kv-cache-dtype-skip-layers costs, for --explain: the layers kept in the model dtype
(checker.planning.kvcache.kv_dtypes.skipped_layers) and the block size they raise."""

from __future__ import annotations

from checker.planning.engine.settings import Settings, evolve
from checker.planning.kvcache.kv import kv_layout
from checker.schemas.model_info import ModelInfo


def skip_layer_costs(model: ModelInfo, settings: Settings) -> dict[str, str]:
    skipped = settings.kv_skip_layers
    if not skipped:
        return {}
    unskipped_block = settings.block_before_skip or settings.block_size
    plain = evolve(settings, kv_skip_layers=frozenset(), block_size=unskipped_block)
    before = kv_layout(model, plain, 0).bytes_per_token
    after = kv_layout(model, settings, 0).bytes_per_token
    shown = ", ".join(str(i) for i in sorted(skipped)[:8]) + ("..." if len(skipped) > 8 else "")
    words = (
        f"{len(skipped)} of {len(model.kv_layers)} attention layers ({shown}) keep their KV in "
        f"{settings.dtype} beside {settings.kv_cache_dtype}: {before:,} -> {after:,} bytes per "
        "token on the first rank"
    )
    if settings.block_size != unskipped_block:
        words += (
            f"; block size {unskipped_block} -> {settings.block_size} so one block holds both "
            "(platforms/interface.py Platform._align_heterogeneous_kv_block_size)"
        )
    return {"--kv-cache-dtype-skip-layers": words}
