// Load a GGUF with libllama and create a context the way a runner would; llama.cpp logs every buffer it
// allocates (model, repack, KV, output, compute) on stderr, and this prints the process's peak RSS (VmHWM).
// usage: probe MODEL N_CTX N_SEQ KV_UNIFIED(0|1) N_UBATCH FLASH_ATTN(-1|0|1) TYPE_K TYPE_V
// TYPE_* are ggml type numbers (1 = f16, 8 = q8_0). Part of bench/accuracy, built by build.sh.
#include <stdio.h>
#include <stdlib.h>

#include "llama.h"

// Resident memory now (VmRSS) or at its peak (VmHWM), in bytes, from /proc/self/status.
static long status_bytes(const char * key) {
    long kb = -1;
    char line[256];
    char format[64];
    snprintf(format, sizeof format, "%s: %%ld kB", key);
    FILE * status = fopen("/proc/self/status", "r");
    while (status != NULL && fgets(line, sizeof line, status) != NULL) {
        if (sscanf(line, format, &kb) == 1) {
            break;
        }
    }
    if (status != NULL) {
        fclose(status);
    }
    return kb * 1024L;
}

int main(int argc, char ** argv) {
    if (argc != 9) {
        fprintf(stderr, "usage: %s MODEL N_CTX N_SEQ KV_UNIFIED N_UBATCH FLASH_ATTN TYPE_K TYPE_V\n", argv[0]);
        return 2;
    }
    llama_backend_init();
    const long rss_start = status_bytes("VmRSS");
    struct llama_model_params mparams = llama_model_default_params();
    // PROBE_NO_EXTRA_BUFTS=1 keeps every weight in the mapped file (no AMX or CPU_REPACK copies).
    const char * no_extra = getenv("PROBE_NO_EXTRA_BUFTS");
    mparams.use_extra_bufts = no_extra == NULL || no_extra[0] != '1';
    struct llama_model * model = llama_model_load_from_file(argv[1], mparams);
    if (model == NULL) {
        fprintf(stderr, "probe: cannot load %s\n", argv[1]);
        return 1;
    }
    const long rss_loaded = status_bytes("VmRSS");
    struct llama_context_params cparams = llama_context_default_params();
    cparams.n_ctx = (uint32_t) atoi(argv[2]);
    cparams.n_seq_max = (uint32_t) atoi(argv[3]);
    // llama-server keeps one output row per slot (tools/server/server-context.cpp, server_output_limits)
    cparams.n_outputs_max = cparams.n_seq_max;
    cparams.n_outputs_max_per_seq = 1;
    cparams.kv_unified = atoi(argv[4]) != 0;
    cparams.n_ubatch = (uint32_t) atoi(argv[5]);
    cparams.n_batch = cparams.n_ubatch > 2048 ? cparams.n_ubatch : 2048;
    cparams.flash_attn_type = (enum llama_flash_attn_type) atoi(argv[6]);
    cparams.type_k = (enum ggml_type) atoi(argv[7]);
    cparams.type_v = (enum ggml_type) atoi(argv[8]);
    // libllama's default is a full-size SWA cache; llama-cli and llama-server (common/common.h) default to false.
    cparams.swa_full = false;
    struct llama_context * ctx = llama_init_from_model(model, cparams);
    if (ctx == NULL) {
        fprintf(stderr, "probe: cannot create the context\n");
        return 1;
    }
    // VmHWM, not getrusage's ru_maxrss: Linux carries ru_maxrss over fork and exec, so it would count the
    // memory of the process that started this one. The buffers llama.cpp allocates for compute and output are not
    // resident until a batch runs; the KV cache is (llama.cpp clears it), and so is the mapped file (MAP_POPULATE).
    printf("rss_start_bytes %ld\n", rss_start);
    printf("rss_loaded_bytes %ld\n", rss_loaded);
    printf("rss_context_bytes %ld\n", status_bytes("VmRSS"));
    printf("peak_rss_bytes %ld\n", status_bytes("VmHWM"));
    llama_free(ctx);
    llama_model_free(model);
    llama_backend_free();
    return 0;
}
