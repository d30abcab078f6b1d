/* A fake libnvidia-ml.so.1 for tests: two GPUs (an RTX 4090 and a unified-memory GB10) behind the real
   nvidia-ml-py ctypes binding. FAKE_NVML_INIT_RC=<code> fails nvmlInit; FAKE_NVML_NO_V2=1 plays an old
   driver without nvmlDeviceGetMemoryInfo_v2. Built by tests/test_probe.py; never shipped. */
#include <stdlib.h>
#include <string.h>

typedef struct { unsigned long long total, free, used; } mem_v1;
typedef struct { unsigned int version; unsigned long long total, reserved, free, used; } mem_v2;
typedef struct { int index; } device;

static device devices[2] = {{0}, {1}};
static const char *names[2] = {"Fake RTX 4090", "Fake GB10"};
static const unsigned long long GIB = 1024ULL * 1024ULL * 1024ULL;

int nvmlInitWithFlags(unsigned int flags) {
    const char *rc = getenv("FAKE_NVML_INIT_RC");
    return rc ? atoi(rc) : 0;
}
int nvmlInit_v2(void) { return nvmlInitWithFlags(0); }
int nvmlShutdown(void) { return 0; }
const char *nvmlErrorString(int result) { return result == 9 ? "Driver Not Loaded" : "Unknown Error"; }
int nvmlSystemGetDriverVersion(char *out, unsigned int size) { strncpy(out, "580.00.fake", size); return 0; }
int nvmlDeviceGetCount_v2(unsigned int *count) { *count = 2; return 0; }
int nvmlDeviceGetHandleByIndex_v2(unsigned int index, device **handle) {
    if (index > 1) return 2;
    *handle = &devices[index];
    return 0;
}
int nvmlDeviceGetName(device *h, char *out, unsigned int size) { strncpy(out, names[h->index], size); return 0; }
int nvmlDeviceGetUUID(device *h, char *out, unsigned int size) {
    strncpy(out, h->index ? "GPU-fake-gb10" : "GPU-fake-4090", size);
    return 0;
}
int nvmlDeviceGetMemoryInfo(device *h, mem_v1 *m) {
    if (h->index == 1) return 3; /* NOT_SUPPORTED: unified memory */
    m->total = 24 * GIB; m->free = 23 * GIB; m->used = GIB;
    return 0;
}
int nvmlDeviceGetMemoryInfo_v2(device *h, mem_v2 *m) {
    if (getenv("FAKE_NVML_NO_V2")) return 13; /* FUNCTION_NOT_FOUND on old drivers */
    if (m->version != ((unsigned int)sizeof(mem_v2) | (2U << 24))) return 25; /* ARGUMENT_VERSION_MISMATCH */
    if (h->index == 1) return 3;
    m->total = 24 * GIB; m->reserved = 512ULL * 1024 * 1024; m->free = 23 * GIB; m->used = GIB / 2;
    return 0;
}
int nvmlDeviceGetCudaComputeCapability(device *h, int *major, int *minor) {
    *major = h->index ? 12 : 8; *minor = h->index ? 1 : 9;
    return 0;
}
int nvmlDeviceGetMaxClockInfo(device *h, int type, unsigned int *clock) {
    if (h->index == 1) return 3;
    *clock = 10501;
    return 0;
}
int nvmlDeviceGetMemoryBusWidth(device *h, unsigned int *width) {
    if (h->index == 1) return 3;
    *width = 384;
    return 0;
}
int nvmlDeviceGetMigMode(device *h, unsigned int *current, unsigned int *pending) { return 3; }
