/* adapters: the agent loads adapter (LoRA) inference components into the
 * ready copies of their base on this instance, and unloads them.
 *
 * The model server contract's extension (docs/models.md, "Adapters"):
 * POST /adapters {"name", "src", "path"} and DELETE /adapters/NAME, or,
 * when the base's Environment has BERTH_ADAPTER_API=vllm, vLLM's
 * POST /v1/load_lora_adapter {"lora_name", "lora_path"} and
 * POST /v1/unload_lora_adapter {"lora_name"}. The adapter's ArtifactUrl
 * comes through this agent's artifact cache (artifact.h).
 *
 * DESIGN: level-triggered like the copies. The controller's sync answer
 * lists the adapters ("adapters": [{"name", "base", "artifact_url",
 * "caching"}]); each (copy, adapter) pair is one load: fetch, then POST.
 * A copy that stops being ready drops its loads and loads again when it
 * is ready again (its server restarted without them). The work runs from a
 * 0-ms timer (adapters_step), never inside a copy's own callback. */
#ifndef BERTHD_ADAPTERS_H
#define BERTHD_ADAPTERS_H

#include "ctl.h"

/* The sync answer's adapter list (borrowed; kept with a reference). */
void adapters_follow(ctl *c, json_t *wanted);
/* Something changed (a copy ready or gone): loads and unloads catch up
 * soon, from the loop. */
void adapters_step(ctl *c);
/* The sync report's "adapters": [{"copy", "adapter", "state" (loading,
 * loaded, failed, unloading), "message"}]. New reference. */
json_t *adapters_report(ctl *c);

#endif
